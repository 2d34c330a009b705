//! hookhost: a WebAssembly plugin host for marketplace webhooks.
//!
//! # Layout
//! - [`api`]: the HTTP APIs (registry, components, admin), one module per dialect.
//! - [`sandbox`]: the component runtime (engine, limits, WIT bindings, host services), the
//!   `hookhost-sandbox` crate.
//! - [`config`]: layered configuration (compiled-in defaults, TOML file, `HOOKHOST_*`).
//! - [`store`]: the database (SQLite or PostgreSQL): registry, webhooks, key-value store.
//! - [`crypto`]: credential hashing, secret generation, encryption at rest.
//! - [`cache`]: short-lived caches of registry lookups for the execute path.
//! - [`metrics`]: Prometheus metrics at `/metrics`.
//! - [`exec`]: runs one webhook once (component or URL), for every caller.
//! - [`remote`]: calls to URL handlers: SSRF guard, signing, timeouts.
//! - [`delivery`]: outbox workers: claim, run, record, retry.
//! - [`recorder`]: statistics and the call log, written off the hot path.
//! - [`cli`]: the `hookhost` command line (thin `main.rs` calls it).
//! - [`process`]: the process manager: templates, processes, the durable step schedule.
//! - [`scaffold`]: `hookhost plugin new` for Rust, Python and JavaScript.
//! - [`runner`]: the local runner behind `plugin run` and `plugin check`.
//! - [`server`]: starting the HTTP server (`serve`).
//! - [`demo`]: `hookhost demo`: a seeded server on an embedded SQLite.

/// The allocator of every binary that links the host (the server, tests, benchmarks): the
/// request paths allocate and free many small objects across threads, which mimalloc serves
/// from thread-local pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod api;
pub mod cache;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod delivery;
pub mod demo;
pub mod exec;
pub mod metrics;
pub mod process;
pub mod recorder;
pub mod remote;
pub mod runner;
pub mod scaffold;
pub mod server;
pub mod store;

/// The component runtime, a crate of its own (`sandbox/`) that depends on nothing of the host;
/// re-exported so that `crate::sandbox::…` reads as before.
pub use hookhost_sandbox as sandbox;
