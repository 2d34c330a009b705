//! End-to-end tests: one binary, see `tests/README.md`.

mod admin;
mod cache;
mod cli;
mod cluster;
mod components;
mod containment;
mod delivery;
mod execute;
mod languages;
mod plugins;
mod process;
mod processes;
mod registry;
mod store;
mod support;
