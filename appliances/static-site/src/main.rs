//! Morgana's default appliance: a web site baked into the image (see `build.rs`), served over
//! HTTP/1.1. `cargo xtask run-qemu` boots it and prints the URL.
//!
//! Command line: `ip=ADDR/PREFIX gw=ADDR` (else the platform's default), `port=N` (80),
//! `access_log=off` to silence the one line per request (method, path, status, bytes, µs).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::rc::Rc;

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
    let access_log = if env.arg("access_log") == Some("off") {
        AccessLog::Off
    } else {
        AccessLog::Callback(Rc::new(|r| println!("{r}")))
    };
    let config = Config {
        max_connections: MAX_CONNECTIONS,
        access_log,
        ..Config::default()
    };
    let router = Router::new().fallback(|req: Request| async move { SITE.respond(&req) });
    let bytes: usize = FILES.iter().map(|f| f.body.len()).sum();
    println!(
        "static-site: {} files ({bytes} bytes) at http://{}:{port}/",
        FILES.len(),
        stack.address()
    );
    serve(listener, router, config).await;
    Ok(())
}
