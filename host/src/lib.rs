//! hookhost: a WebAssembly plugin host for marketplace webhooks.
//!
//! # Layout
//! - [`sandbox`]: the component runtime (engine, limits, WIT bindings, host services).
//! - [`config`]: layered configuration (compiled-in defaults, TOML file, `HOOKHOST_*`).
//! - [`cli`]: the `hookhost` command line (thin `main.rs` calls it).
//! - [`runner`]: the local runner behind `plugin run` and `plugin check`.
//! - [`server`]: the HTTP server (`serve`, `demo`).
//! - [`plugins`]: the example plugins built by `build.rs` (paths and bundled bytes).

pub mod cli;
pub mod config;
pub mod runner;
pub mod server;
pub mod sandbox;

/// The plugins in `plugins/`, compiled for wasm32-wasip2 by `build.rs`.
pub mod plugins {
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
}
