//! Tests over in-memory connections on the simulator, and over two netstacks.

mod duplex;
mod server;
