//! Benchmarks for Morgana; see `benches/`.
