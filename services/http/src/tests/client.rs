//! The client against the server over an in-memory pipe and over two netstacks on a
//! simulated link, and against literal responses.

use alloc::rc::Rc;
use alloc::vec::Vec;

use embedded_io_async::Write;
use futures::stream;
use morgana_executor::sim::SimPlatform;
use morgana_executor::{Duration, Executor, Instant, spawn, timeout};
use morgana_netstack::iface::{Ipv4Config, Stack, TcpListener, TcpStream};
use morgana_netstack::phy::{SimLink, SimLinkConfig};
use morgana_netstack::wire::Ipv4Address;

use super::duplex::duplex;
use crate::client::{Client, ClientError};
use crate::parse::{Limits, Method};
use crate::server::Connection;
use crate::{Body, Config, Request, Response, Router, StatusCode, serve, serve_connection};

fn run<F: core::future::Future>(f: F) -> F::Output {
    Executor::new(Rc::new(SimPlatform::new(3))).block_on(f)
}

fn router() -> Router {
    Router::new()
        .get("/", |_: Request| async { Response::ok("index") })
        .get("/big", |_: Request| async {
            let pieces = (0..64u8).map(|i| alloc::vec![i; 1000]);
            Response::ok(Body::stream(stream::iter(pieces)))
        })
        .post("/echo", |mut req: Request| async move {
            Response::ok(req.body_bytes().await.unwrap_or_default())
        })
}

#[test]
fn get_post_head_and_chunked_on_one_connection() {
    run(async {
        let (client_end, mut server) = duplex(4096);
        let router = router();
        let config = Config::default();
        let task = spawn(async move { serve_connection(&mut server, &router, &config).await });
        let mut c = Client::new(client_end);
        let r = c.get("h", "/").await.unwrap();
        assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"index"[..]));
        let r = c.post("h", "/echo", "text/plain", b"ping").await.unwrap();
        assert_eq!(r.body, b"ping");
        let r = c.get("h", "/big").await.unwrap();
        assert_eq!(r.headers.get("transfer-encoding"), Some(&b"chunked"[..]));
        assert_eq!(r.body.len(), 64_000);
        assert!(
            r.body
                .chunks(1000)
                .enumerate()
                .all(|(i, c)| c.iter().all(|&b| b == i as u8))
        );
        let r = c.request(Method::Head, "h", "/", &[], None).await.unwrap();
        assert_eq!(r.headers.get("content-length"), Some(&b"5"[..]));
        assert!(r.body.is_empty());
        let r = c.get("h", "/missing").await.unwrap();
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = c
            .request(Method::Get, "h", "/", &[("Connection", "close")], None)
            .await
            .unwrap();
        assert_eq!(r.body, b"index");
        assert_eq!(c.get("h", "/").await, Err(ClientError::Closed));
        drop(c);
        task.await;
    });
}

/// A server that answers every request with `response`, once.
async fn canned(response: &'static [u8]) -> Result<crate::ClientResponse, ClientError> {
    let (client_end, mut server) = duplex(4096);
    spawn(async move {
        let _ = server.read_until(b"\r\n\r\n").await;
        let _ = server.write_all(response).await;
        server.close_write();
        let _ = server.read_to_end().await;
    })
    .detach();
    let limits = Limits {
        max_body: 16,
        ..Limits::default()
    };
    Client::with_limits(client_end, limits, Duration::from_secs(5))
        .get("h", "/")
        .await
}

#[test]
fn response_framings_and_limits() {
    run(async {
        let r = canned(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
            .await
            .unwrap();
        assert_eq!(r.body, b"until the end");
        let r = canned(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
        )
        .await
        .unwrap();
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert!(r.body.is_empty());
        let r =
            canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
                .await
                .unwrap();
        assert_eq!(r.body, b"ok");
        assert_eq!(
            canned(b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n").await,
            Err(ClientError::TooLarge)
        );
        assert_eq!(
            canned(b"HTTP/1.1 200 OK\r\n\r\n01234567890123456789").await,
            Err(ClientError::TooLarge)
        );
        assert_eq!(
            canned(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").await,
            Err(ClientError::Io)
        );
        assert!(matches!(
            canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").await,
            Err(ClientError::Body(_))
        ));
        assert!(matches!(
            canned(b"HTTP/1.1 2OO OK\r\n\r\n").await,
            Err(ClientError::Malformed(_))
        ));
    });
}

#[test]
fn a_client_fetches_from_the_server_over_two_netstacks() {
    const SERVER: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
    let config = |address| Ipv4Config {
        address,
        prefix_len: 24,
        gateway: None,
    };
    let bodies = run(async {
        let (a, b) = SimLink::pair(SimLinkConfig::default());
        let now = Instant::now();
        let mut sa = Stack::with_isn_secret(a, config(Ipv4Address::new(10, 0, 0, 1)), [1; 16], now);
        let mut sb = Stack::with_isn_secret(b, config(SERVER), [2; 16], now);
        let (ha, hb) = (sa.handle(), sb.handle());
        spawn(async move { sa.run().await }).detach();
        spawn(async move { sb.run().await }).detach();
        let listener = TcpListener::bind(&hb, 80).unwrap();
        spawn(serve(listener, router(), Config::default())).detach();

        let stream = TcpStream::connect(&ha, (SERVER, 80)).await.unwrap();
        let mut c = Client::new(stream);
        let mut bodies = Vec::new();
        for _ in 0..2 {
            let r = timeout(Duration::from_secs(10), c.get("10.0.0.2", "/"))
                .await
                .expect("in time")
                .unwrap();
            bodies.push(r.body);
        }
        let r = c.get("10.0.0.2", "/big").await.unwrap();
        bodies.push(Vec::from(&r.body[..3]));
        let posted = alloc::vec![b'x'; 5000];
        let r = c
            .post("10.0.0.2", "/echo", "application/octet-stream", &posted)
            .await
            .unwrap();
        assert_eq!(r.body, posted);
        bodies
    });
    assert_eq!(bodies, [&b"index"[..], b"index", &[0, 0, 0]]);
}
