//! HTTP/1.1 server and client for Morgana appliances, on the netstack's `TcpListener`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod chunked;
pub mod client;
pub mod date;
pub mod fuzz;
pub mod headers;
pub mod parse;
pub mod status;

pub use client::{Client, ClientError, ClientResponse};
pub use date::HttpDate;
pub use headers::Headers;
pub use parse::{Framing, Limits, Method, ParseError, Version};
pub use status::StatusCode;
pub mod conditional;
pub mod message;
pub mod router;
pub mod server;

pub use message::{Body, BodyError, Request, RequestBody, Response};
pub use router::Router;
pub use server::{
    AccessLog, AccessRecord, Config, Connection, Listener, serve, serve_connection, serve_on,
};

#[cfg(test)]
mod tests;
