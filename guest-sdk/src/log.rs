//! The call's log (`marketplace:webhook/host.log`).
//!
//! Lines written here are stored with the call (in the webhook's call log and in the local
//! runner's output), so they are the way to explain what a plugin did. The host bounds the log
//! per call: excess lines are dropped and counted, so log decisions, not loop iterations.
//! Anything printed to stdout/stderr also lands in the same log, but without a level.
//!
//! For `format!`-style logging use the crate-level macros [`info!`](crate::info),
//! [`warn!`](crate::warn), [`error!`](crate::error), [`debug!`](crate::debug) and
//! [`trace!`](crate::trace).

pub use crate::Level;

/// Appends `message` to the call's log at `level`.
pub fn log(level: Level, message: &str) {
    crate::sys::log(level, message);
}

/// Logs at level `trace`: detail only useful while developing a plugin.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs at level `debug`: detail that helps to understand a single call.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at level `info`: what the plugin decided and did.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at level `warn`: something odd that did not stop the call (e.g. an unknown field
/// value that was ignored).
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at level `error`: why the call failed, in more detail than the failure reason.
pub fn error(message: &str) {
    log(Level::Error, message);
}
