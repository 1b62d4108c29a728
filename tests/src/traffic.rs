//! Clients that talk to the echo appliance (RFC 862 echo on 7, discard on 9, chargen on 19) with
//! `std::net`, for the tests and `bench net`; run them inside a namespace with
//! [`Netns::run`](crate::netns::Netns::run). Every call is bounded: a socket that makes no
//! progress for [`STALL`] fails the call.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddrV4, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::sha256::{Sha256, hex};

/// How long a transfer may go without progress before it fails.
pub const STALL: Duration = Duration::from_secs(30);

/// A pseudo-random byte stream with no period a transfer could hide a reordering in
/// (xorshift64*), the same for the same seed.
#[derive(Debug, Clone)]
pub struct Pattern(u64);

impl Pattern {
    pub fn new(seed: u64) -> Self {
        Pattern(seed | 1)
    }

    /// Fills `buf` with the stream's next bytes (`buf.len()` a multiple of 8).
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let word = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// What a TCP transfer measured.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// Payload bytes moved (each way, for an echo).
    pub bytes: u64,
    /// From connecting to the end (the last echoed byte, or the peer's close).
    pub elapsed: Duration,
}

impl Transfer {
    /// Goodput in Mbit/s (one way).
    pub fn mbit_per_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.elapsed.as_secs_f64() / 1e6
    }
}

fn connect(addr: SocketAddrV4) -> Result<TcpStream, String> {
    let stream = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(10))
        .map_err(|err| format!("connect {addr}: {err}"))?;
    stream
        .set_read_timeout(Some(STALL))
        .and_then(|()| stream.set_write_timeout(Some(STALL)))
        .map_err(|err| format!("socket options: {err}"))?;
    Ok(stream)
}

/// Sends `bytes` pseudo-random bytes to the TCP echo at `addr` while reading the echo back;
/// fails unless exactly as many come back with the same SHA-256.
pub fn tcp_echo(addr: SocketAddrV4, bytes: u64) -> Result<Transfer, String> {
    let start = Instant::now();
    let stream = connect(addr)?;
    let mut reader = stream.try_clone().map_err(|err| format!("clone: {err}"))?;
    let receive = std::thread::spawn(move || {
        let mut sha = Sha256::new();
        let mut got = 0u64;
        let mut buf = vec![0u8; 256 << 10];
        while got < bytes {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    sha.update(&buf[..n]);
                    got += n as u64;
                }
                Err(err) => return Err(format!("after {got} bytes back: {err}")),
            }
        }
        Ok((got, sha.finish(), Instant::now()))
    });
    let mut writer = stream;
    let mut pattern = Pattern::new(bytes);
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut sent = 0u64;
    let mut send_error = None;
    while sent < bytes {
        let len = (bytes - sent).min(buf.len() as u64) as usize;
        pattern.fill(&mut buf[..len]);
        if let Err(err) = writer.write_all(&buf[..len]) {
            send_error = Some(format!("after {sent} bytes sent: {err}"));
            break;
        }
        sha.update(&buf[..len]);
        sent += len as u64;
    }
    let received = receive
        .join()
        .map_err(|_| "the receiving thread panicked".to_owned())?;
    let (got, digest, end) = match (received, send_error) {
        (Err(err), send) => return Err(format!("{err}; {}", send.unwrap_or_default())),
        (Ok(_), Some(err)) => return Err(err),
        (Ok(received), None) => received,
    };
    let _ = writer.shutdown(Shutdown::Both);
    let sent_digest = sha.finish();
    if got != bytes || digest != sent_digest {
        return Err(format!(
            "sent {bytes} bytes with SHA-256 {}, got {got} back with SHA-256 {}",
            hex(&sent_digest),
            hex(&digest)
        ));
    }
    Ok(Transfer {
        bytes,
        elapsed: end - start,
    })
}

/// Sends `bytes` bytes to a discard server at `addr`, closes our side and waits for the
/// server to close its own, which it does once it has read everything.
pub fn tcp_sink(addr: SocketAddrV4, bytes: u64) -> Result<Transfer, String> {
    let start = Instant::now();
    let mut stream = connect(addr)?;
    let buf = vec![0x5au8; 64 << 10];
    let mut sent = 0u64;
    while sent < bytes {
        let len = (bytes - sent).min(buf.len() as u64) as usize;
        stream
            .write_all(&buf[..len])
            .map_err(|err| format!("after {sent} bytes sent: {err}"))?;
        sent += len as u64;
    }
    stream
        .shutdown(Shutdown::Write)
        .map_err(|err| format!("shutdown: {err}"))?;
    let mut rest = [0u8; 64];
    match stream.read(&mut rest) {
        Ok(0) => Ok(Transfer {
            bytes,
            elapsed: start.elapsed(),
        }),
        Ok(_) => Err("the discard server sent data".into()),
        Err(err) => Err(format!("waiting for the server's close: {err}")),
    }
}

/// Reads `bytes` bytes from a chargen-like source at `addr`, then closes.
pub fn tcp_source(addr: SocketAddrV4, bytes: u64) -> Result<Transfer, String> {
    let start = Instant::now();
    let mut stream = connect(addr)?;
    let mut buf = vec![0u8; 256 << 10];
    let mut got = 0u64;
    while got < bytes {
        match stream.read(&mut buf) {
            Ok(0) => return Err(format!("the source closed after {got} bytes")),
            Ok(n) => got += n as u64,
            Err(err) => return Err(format!("after {got} bytes: {err}")),
        }
    }
    let elapsed = start.elapsed();
    let _ = stream.shutdown(Shutdown::Both);
    Ok(Transfer {
        bytes: got,
        elapsed,
    })
}

/// Sends each of `messages` to the UDP echo at `addr`, retrying each (up to 20 times, 500 ms
/// apart) until it comes back.
pub fn udp_echo(addr: SocketAddrV4, messages: &[&[u8]]) -> Result<(), String> {
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|err| format!("bind: {err}"))?;
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|err| format!("socket options: {err}"))?;
    for message in messages {
        let mut echoed = false;
        for _ in 0..20 {
            socket
                .send_to(message, addr)
                .map_err(|err| format!("send to {addr}: {err}"))?;
            let mut buf = [0u8; 2048];
            // Skip late echoes of earlier messages.
            while let Ok((n, _)) = socket.recv_from(&mut buf) {
                if &buf[..n] == *message {
                    echoed = true;
                    break;
                }
            }
            if echoed {
                break;
            }
        }
        if !echoed {
            return Err(format!(
                "no echo of {:?} from {addr}",
                String::from_utf8_lossy(message)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener};

    #[test]
    fn the_pattern_does_not_repeat_and_is_reproducible() {
        let (mut a, mut b) = (Pattern::new(7), Pattern::new(7));
        let (mut x, mut y) = (vec![0u8; 4096], vec![0u8; 4096]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
        a.fill(&mut y);
        assert_ne!(x, y);
    }

    /// Against a loopback echo server: the transfer passes; against one that corrupts a byte,
    /// it fails.
    fn echo_server(corrupt: bool) -> SocketAddrV4 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let std::net::SocketAddr::V4(addr) = listener.local_addr().unwrap() else {
            unreachable!()
        };
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 8192];
            let mut first = true;
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if corrupt && first {
                            buf[0] ^= 1;
                            first = false;
                        }
                        if stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        addr
    }

    #[test]
    fn tcp_echo_checks_what_comes_back() {
        let transfer = tcp_echo(echo_server(false), 3 << 20).unwrap();
        assert_eq!(transfer.bytes, 3 << 20);
        let err = tcp_echo(echo_server(true), 1 << 20).unwrap_err();
        assert!(err.contains("SHA-256"), "{err}");
    }
}
