//! Morgana's default appliance: a web site baked into the image (see `build.rs`), served over
//! HTTP/1.1. `cargo xtask run-qemu` boots it and prints the URL.
//!
//! Command line: `ip=ADDR/PREFIX gw=ADDR` (else DHCP), `port=N` (80), `access_log=off` to
//! silence the one line per request (method, path, status, bytes, µs), `exit_after=N` to exit
//! 0 once N responses went out (for tests and boot-to-first-response benchmarks).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::rc::Rc;
use core::cell::Cell;

use morgana::executor::combinators::pick;
use morgana::executor::sync::Notify;

use morgana::http::{AccessLog, Config, Request, Router, Site, serve};
use morgana::net::{self, TcpListener};
use morgana::prelude::*;

include!(concat!(env!("OUT_DIR"), "/site.rs"));

/// The baked site.
const SITE: Site = Site::new(FILES);

/// Connections accepted but not yet served, and served at once.
const BACKLOG: usize = 128;
const MAX_CONNECTIONS: usize = 256;

#[morgana::main]
async fn main(env: Env) -> Result<(), String> {
    let stack = net::start(&env).await.map_err(|e| e.to_string())?;
    let port: u16 = match env.arg("port") {
        Some(p) => p.parse().map_err(|_| format!("port={p} is not a port"))?,
        None => 80,
    };
    let listener = TcpListener::bind_with_backlog(&stack, port, BACKLOG)
        .map_err(|e| format!("port {port}: {e}"))?;
    let exit_after: Option<u64> = match env.arg("exit_after") {
        Some(n) => Some(
            n.parse()
                .map_err(|_| format!("exit_after={n} is not a count"))?,
        ),
        None => None,
    };
    let print = env.arg("access_log") != Some("off");
    // Every response ends with an access record: count them there.
    let served = Rc::new(Cell::new(0u64));
    let done = Rc::new(Notify::new());
    let access_log = if print || exit_after.is_some() {
        let (served, done) = (served.clone(), done.clone());
        AccessLog::Callback(Rc::new(move |r| {
            if print {
                println!("{r}");
            }
            served.set(served.get() + 1);
            if exit_after == Some(served.get()) {
                done.notify_one();
            }
        }))
    } else {
        AccessLog::Off
    };
    let config = Config {
        max_connections: MAX_CONNECTIONS,
        access_log,
        ..Config::default()
    };
    let router = Router::new().fallback(|req: Request| async move { SITE.respond(&req) });
    let bytes: usize = FILES.iter().map(|f| f.body.len()).sum();
    // `bench http` reads the baked size from this line to tell the code's size apart.
    println!(
        "static-site: {} files ({bytes} bytes; {} baked) at http://{}:{port}/",
        FILES.len(),
        SITE.baked_bytes(),
        stack.address()
    );
    pick(
        async { match serve(listener, router, config).await {} },
        async {
            done.notified().await;
            // The last response is queued: give the stack a moment to send it and see it acked.
            morgana::sleep(morgana::Duration::from_millis(200)).await;
            println!("static-site: {} responses served", served.get());
        },
    )
    .await;
    Ok(())
}
