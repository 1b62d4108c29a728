//! Echo (RFC 862) on port 7, over UDP and TCP: what comes in goes back. Boot it with
//! `ip=ADDR/PREFIX gw=ADDR` on the command line. For tests: `echo_count=N` makes it exit after
//! N UDP datagrams, `stop=WORD` after echoing a UDP datagram that says WORD.
#![no_std]
#![no_main]

use morgana::net::{self, TcpListener, TcpStream, UdpSocket};
use morgana::prelude::*;

#[morgana::main]
async fn main(env: Env) -> Result<(), String> {
    let stack = net::start(&env).await.map_err(|e| e.to_string())?;
    let socket = UdpSocket::bind(&stack, 7).map_err(|e| e.to_string())?;
    match TcpListener::bind(&stack, 7) {
        Ok(listener) => {
            spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await;
                    spawn(echo_stream(stream)).detach();
                }
            })
            .detach();
            println!("echo: UDP and TCP port 7 on {}", stack.address());
        }
        Err(e) => println!("echo: UDP port 7 on {} (no TCP: {e})", stack.address()),
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
