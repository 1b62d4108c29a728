//! Closing: each way, simultaneously, TIME-WAIT, resets.

use core::time::Duration;

use super::harness::{LinkConfig, MTU, Pair, config};
use crate::tcp::{Config, State, TcpError};
use crate::wire::TcpFlags;

fn short_msl() -> Config {
    Config {
        msl: Duration::from_secs(1),
        ..config()
    }
}

#[test]
fn graceful_close_from_the_active_opener() {
    let mut pair = Pair::established(short_msl(), short_msl(), LinkConfig::clean(), 10);
    pair.a.send(b"last words");
    pair.a.shutdown_write();
    assert_eq!(pair.a.state(), State::FinWait1);
    pair.run_for(Duration::from_millis(100));
    assert_eq!(pair.a.state(), State::FinWait2);
    assert_eq!(pair.b().state(), State::CloseWait);
    assert!(pair.b().recv_closed());
    let mut buf = [0; 32];
    assert_eq!(pair.b().recv(&mut buf), 10);
    pair.b().shutdown_write();
    assert_eq!(pair.b().state(), State::LastAck);
    pair.run_for(Duration::from_millis(100));
    assert_eq!(pair.b().state(), State::Closed);
    assert_eq!(pair.b().error(), None);
    assert_eq!(pair.a.state(), State::TimeWait);
    assert!(pair.a.recv_closed());
    // TIME-WAIT lasts 2·MSL.
    let entered = pair.now;
    assert!(pair.run_until(Duration::from_secs(10), |p| p.a.state() == State::Closed));
    let lasted = pair.now - entered;
    assert!(
        lasted >= Duration::from_millis(1900) && lasted <= Duration::from_secs(2),
        "{lasted:?}"
    );
}

#[test]
fn graceful_close_from_the_passive_opener() {
    let mut pair = Pair::established(short_msl(), short_msl(), LinkConfig::clean(), 11);
    pair.b().shutdown_write();
    pair.run_for(Duration::from_millis(100));
    assert_eq!(pair.a.state(), State::CloseWait);
    assert_eq!(pair.b().state(), State::FinWait2);
    // A may still send after the peer's FIN.
    pair.a.send(b"more");
    pair.a.shutdown_write();
    pair.run_for(Duration::from_millis(100));
    let mut buf = [0; 8];
    assert_eq!(pair.b().recv(&mut buf), 4);
    assert_eq!(pair.a.state(), State::Closed);
    assert_eq!(pair.b().state(), State::TimeWait);
    pair.run_for(Duration::from_secs(3));
    assert_eq!(pair.b().state(), State::Closed);
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut pair = Pair::established(short_msl(), short_msl(), LinkConfig::clean(), 12);
    pair.a.shutdown_write();
    pair.b().shutdown_write();
    // Both FINs cross; each end sees the other's FIN before the ACK of its own.
    let mut saw_closing = false;
    pair.run_until(Duration::from_millis(100), |p| {
        saw_closing |= p.a.state() == State::Closing;
        false
    });
    assert!(saw_closing, "CLOSING on the way");
    assert_eq!(pair.a.state(), State::TimeWait);
    assert_eq!(pair.b().state(), State::TimeWait);
    pair.run_for(Duration::from_secs(3));
    assert_eq!(pair.a.state(), State::Closed);
    assert_eq!(pair.b().state(), State::Closed);
}

#[test]
fn lost_final_ack_is_repeated_from_time_wait() {
    let mut pair = Pair::established(short_msl(), short_msl(), LinkConfig::clean(), 13);
    pair.a.shutdown_write();
    pair.run_for(Duration::from_millis(50));
    pair.b().shutdown_write();
    // Drop A's ACK of B's FIN once.
    let mut dropped = false;
    pair.filter = Some(alloc::boxed::Box::new(move |s| {
        if s.to_b && !dropped && s.seg.payload_len == 0 && s.seg.flags.is_empty() {
            dropped = true;
            return true;
        }
        false
    }));
    pair.run_for(Duration::from_millis(50));
    assert_eq!(pair.a.state(), State::TimeWait);
    assert_eq!(pair.b().state(), State::LastAck);
    assert!(
        pair.run_until(Duration::from_secs(2), |p| p.b.as_ref().unwrap().state()
            == State::Closed)
    );
}

#[test]
fn reset_by_peer() {
    let mut pair = Pair::established(config(), config(), LinkConfig::clean(), 14);
    pair.a.send(b"x");
    pair.run_for(Duration::from_millis(100));
    pair.b().abort();
    assert_eq!(pair.b().state(), State::Closed);
    pair.run_for(Duration::from_millis(100));
    assert_eq!(pair.a.state(), State::Closed);
    assert_eq!(pair.a.error(), Some(TcpError::Reset));
    assert!(pair.a.is_readable());
    assert!(!pair.a.is_writable());
    assert_eq!(pair.a.poll_transmit(pair.now, MTU), None);
    let rsts = pair
        .log
        .iter()
        .filter(|s| s.seg.flags.contains(TcpFlags::RST))
        .count();
    assert_eq!(rsts, 1);
}
