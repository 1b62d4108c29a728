//! End-to-end tests for Morgana; see `tests/`.
