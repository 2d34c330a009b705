//! The plugins in `plugins/`, compiled for wasm32-wasip2 by this crate's `build.rs`: the path
//! of every component (for tests and benchmarks) and [`BUNDLED`], the example plugins' bytes
//! that the `hookhost` binary carries for `hookhost demo`.
//!
//! A crate of its own so that the host library does not depend on the plugins: an edit to a
//! plugin or to `guest-sdk/` rebuilds the components, this crate and what uses it (the
//! binary, the end-to-end tests, the benchmarks), not the library. The binary hands
//! [`BUNDLED`] to `hookhost::cli::main`.

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
