//! Fakes shared by the netfront tests.

pub mod netback;
