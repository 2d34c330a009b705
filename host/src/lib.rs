//! hookhost: a WebAssembly plugin host for marketplace webhooks.
//!
//! # Layout
//! The modules form layers: each uses only those listed before it (checked by the
//! `architecture` test), from the sandbox at the bottom to the command line at the top.
//!
//! - [`sandbox`]: the component runtime (engine, limits, WIT bindings, host services, the
//!   egress guard): the `hookhost-sandbox` crate, which depends on nothing of the host.
//! - [`time`]: the clock and the one spelling of times in answers.
//! - [`telemetry`]: OpenTelemetry traces (off unless configured): spans, trace context.
//! - [`mail`]: e-mail over SMTP (`[smtp]`), for whoever has something to tell someone.
//! - [`crypto`]: credential hashing, secret generation, encryption at rest.
//! - [`vocab`]: the closed sets of words the parts share (failure kinds, trigger sources,
//!   statuses, modules, MPT types, events), one enum and one parser each.
//! - [`events`]: the catalogue of event types the dialects deliver, with payload schemas.
//! - [`rql`]: RQL, the query language of the list endpoints: syntax tree, parser, printer.
//! - [`store`]: the database (SQLite or PostgreSQL), one file per kind of data.
//! - [`cache`]: the one short-lived cache of store reads on the hot paths.
//! - [`metrics`]: Prometheus metrics at `/metrics`.
//! - [`recorder`]: statistics and the call log, written off the hot path.
//! - [`exec`]: runs one webhook once (component or URL): the one way a webhook runs.
//! - [`delivery`]: outbox workers: claim, run, record, retry.
//! - [`process`]: the process manager: templates, processes, the durable step schedule.
//! - [`admin`]: the operator's operations (providers, tenants, services, activations, keys).
//! - [`config`]: layered configuration (compiled-in defaults, TOML file, `HOOKHOST_*`).
//! - [`runner`]: the local runner behind `plugin run` and `plugin check`.
//! - [`portal`]: the web portal's sessions and pages (HTML from the REST API's answers; no
//!   HTTP: its routes are `api::portal`).
//! - [`api`]: the HTTP APIs, one module per dialect or resource; the only HTTP layer.
//! - [`server`]: starting the HTTP server and the background workers (`serve`).
//! - [`scaffold`]: `hookhost plugin new` for Rust, Python and JavaScript.
//! - [`demo`]: `hookhost demo`: a seeded server on an embedded SQLite.
//! - [`cli`]: the `hookhost` command line (thin `main.rs` calls it).

/// The allocator of every binary that links the host (the server, tests, benchmarks): the
/// request paths allocate and free many small objects across threads, which mimalloc serves
/// from thread-local pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod admin;
pub mod api;
pub mod cache;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod delivery;
pub mod demo;
pub mod events;
pub mod exec;
pub mod mail;
pub mod metrics;
pub mod portal;
pub mod process;
pub mod recorder;
pub mod rql;
pub mod runner;
pub mod scaffold;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod vocab;

/// The component runtime, a crate of its own (`sandbox/`) that depends on nothing of the host;
/// re-exported so that `crate::sandbox::…` reads as before.
pub use hookhost_sandbox as sandbox;
