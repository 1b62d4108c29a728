//! Tests over in-memory connections on the simulator, and over two netstacks.

mod client;
mod duplex;
mod fuzz;
mod server;
mod site;
