//! End-to-end tests: one binary, see `tests/README.md`.

/// Runs each `async fn name(db: Db)` of the calling module twice: in a `sqlite` module on a
/// fresh SQLite file and in a `postgres` module on a fresh PostgreSQL database.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::support::Db::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::support::Db::Postgres).await })*
        }
    };
}

mod admin;
mod architecture;
mod at_rest;
mod cache;
mod circuits;
mod cli;
mod cluster;
mod components;
mod containment;
mod delivery;
mod erasure;
mod errors;
mod event_types;
mod execute;
mod hostile;
mod isolation;
mod languages;
mod lists;
mod mpt_clients;
mod openapi;
mod ordering;
mod plugins;
mod portal;
mod process;
mod processes;
mod quotas;
mod rates;
mod redelivery;
mod registry;
mod store;
mod support;
mod tracing;
mod transforms;
mod validate;
mod versions;
