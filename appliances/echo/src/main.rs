//! Echo (RFC 862) on port 7 over UDP: each datagram goes back to its sender. Boot it with
//! `ip=ADDR/PREFIX gw=ADDR` on the command line. For tests: `echo_count=N` makes it exit after
//! N datagrams, `stop=WORD` after echoing a datagram that says WORD.
#![no_std]
#![no_main]

use morgana::net::{self, UdpSocket};
use morgana::prelude::*;

#[morgana::main]
async fn main(env: Env) -> Result<(), String> {
    let stack = net::start(&env).map_err(|e| e.to_string())?;
    let socket = UdpSocket::bind(&stack, 7).map_err(|e| e.to_string())?;
    println!("echo: UDP port 7 on {}", stack.address());
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
    // Let the stack's task put the last reply on the wire before the appliance ends.
    sleep(Duration::from_millis(100)).await;
    println!("echo: {echoed} datagrams echoed");
    Ok(())
}
