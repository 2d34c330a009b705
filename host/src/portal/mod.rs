//! The web portal for providers, tenants and operators: pages rendered on the server from
//! the REST API's answers, a little JavaScript, everything embedded in the binary.
//!
//! This module knows no HTTP: it seals and opens sessions and renders pages. The routes are
//! `api::portal`, which answers every page by calling the REST API's own routes
//! in-process as the session's provider, tenant or operator, so the portal sees exactly what
//! a REST client with that credential sees and changes only what it may change.
//!
//! Architecture Invariant: the portal reads and writes nothing but through the REST API; it
//! is no second way around isolation.
//!
//! # Layout
//! - [`session`]: who a page is for, sealed into the URL's token.
//! - [`i18n`]: English and German.
//! - [`pages`]: the pages and the fragments htmx swaps in.
//! - [`chart`]: sparklines as inline SVG.
//! - [`assets`]: the stylesheet, the script, htmx.

pub mod assets;
pub mod chart;
pub mod i18n;
pub mod pages;
pub mod session;
