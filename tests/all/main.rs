//! End-to-end tests: one binary, see `tests/README.md`.

mod cache;
mod cli;
mod containment;
mod plugins;
mod support;
