//! End-to-end tests for Morgana (see `tests/`), and the helpers they share with xtask's
//! `run-qemu --net tap` and `bench net`: network namespaces with a TAP device or a veth pair
//! ([`netns`]), loss injected with nftables, TCP and UDP clients that run inside a namespace
//! ([`traffic`]), and SHA-256 to compare what went out with what came back ([`sha256`]).

pub mod http;
pub mod netns;
pub mod runner;
pub mod sha256;
pub mod traffic;
