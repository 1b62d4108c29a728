//! HTTP/1.1 server and client for Morgana appliances, on the netstack's `TcpListener`.
//!
//! Filled by the HTTP issue; it is empty until then.
#![no_std]
#![forbid(unsafe_code)]
