//! The TCP machine's tests: two [`Tcb`]s over an in-memory link on a virtual clock
//! ([`harness`]), one behaviour per file.

mod close;
mod congestion;
mod data;
mod fuzz;
mod handshake;
mod harness;
mod recovery;
mod sack;
mod security;
mod timers;
mod units;
