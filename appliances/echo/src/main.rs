//! Echo (RFC 862) on port 7, over UDP and TCP: what comes in goes back. For goodput benches,
//! over TCP, discard (RFC 863) on port 9, which reads and drops everything, and a
//! chargen-like source (RFC 864's pattern) on port 19, which sends until the peer closes.
//! Boot it with `ip=ADDR/PREFIX gw=ADDR` on the command line. For tests: `echo_count=N` makes
//! it exit after N UDP datagrams, `stop=WORD` after echoing a UDP datagram that says WORD.
#![no_std]
#![no_main]

use morgana::net::{self, TcpListener, TcpStream, UdpSocket};
use morgana::prelude::*;

#[morgana::main]
async fn main(env: Env) -> Result<(), String> {
    let stack = net::start(&env).await.map_err(|e| e.to_string())?;
    let socket = UdpSocket::bind(&stack, 7).map_err(|e| e.to_string())?;
    let tcp = [7, 9, 19].map(|port| TcpListener::bind(&stack, port));
    match tcp {
        [Ok(echo), Ok(sink), Ok(source)] => {
            serve(echo, echo_stream);
            serve(sink, discard);
            serve(source, chargen);
            println!(
                "echo: UDP and TCP port 7 (TCP discard 9, chargen 19) on {}",
                stack.address()
            );
        }
        [Err(e), ..] | [_, Err(e), _] | [.., Err(e)] => {
            println!("echo: UDP port 7 on {} (no TCP: {e})", stack.address());
        }
    }
    let limit: Option<u64> = env.arg("echo_count").and_then(|n| n.parse().ok());
    let stop = env.arg("stop").map(str::as_bytes);
    let mut buf = vec![0u8; 2048];
    let mut echoed = 0u64;
    while limit != Some(echoed) {
        let (len, from) = socket.recv_from(&mut buf).await;
        socket
            .send_to(&buf[..len], from)
            .await
            .map_err(|e| e.to_string())?;
        echoed += 1;
        if stop.is_some_and(|word| word == &buf[..len]) {
            break;
        }
    }
    // Let the stack's task put the last replies on the wire before the appliance ends.
    sleep(Duration::from_millis(100)).await;
    println!("echo: {echoed} datagrams echoed");
    Ok(())
}

/// Accepts connections on `listener`, each served by a task running `serve`.
fn serve<F: Future<Output = ()> + 'static>(listener: TcpListener, serve: fn(TcpStream) -> F) {
    spawn(async move {
        loop {
            let (stream, _) = listener.accept().await;
            spawn(serve(stream)).detach();
        }
    })
    .detach();
}

/// Echoes one TCP connection until the peer closes its side.
async fn echo_stream(mut stream: TcpStream) {
    let mut buf = vec![0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = stream.shutdown().await;
}

/// Reads and drops everything until the peer closes its side, then closes ours.
async fn discard(mut stream: TcpStream) {
    let mut buf = vec![0u8; 4096];
    while let Ok(1..) = stream.read(&mut buf).await {}
    let _ = stream.shutdown().await;
}

/// Sends RFC 864's pattern (lines of 72 printable characters, each starting one character
/// further on) until the peer goes away.
async fn chargen(mut stream: TcpStream) {
    const PRINTABLE: core::ops::RangeInclusive<u8> = b' '..=b'~';
    let chars: Vec<u8> = PRINTABLE.collect();
    // One full period: a line starting at each of the 95 characters.
    let mut pattern = Vec::with_capacity(chars.len() * 74);
    for first in 0..chars.len() {
        pattern.extend((0..72).map(|i| chars[(first + i) % chars.len()]));
        pattern.extend_from_slice(b"\r\n");
    }
    while stream.write_all(&pattern).await.is_ok() {}
}
