//! The tenant's secret activation parameters (`marketplace:webhook/host.secret`, since 0.2).
//!
//! Parameters the service declares secret (API keys, passwords) are sealed at rest and masked
//! in every API. A plugin reads them here; [`crate::config`] does not return them.

use crate::Failure;

/// The value of the secret parameter `name`, if the tenant set it (`None` too for a parameter
/// that is not declared secret: read that one with [`crate::config::get`]).
pub fn get(name: &str) -> Option<String> {
    crate::sys::secret(name)
}

/// The value of `name`, or a [`Failure::Rejected`] that names the missing parameter (the
/// value itself never appears in a message). Blank values count as missing.
pub fn require(name: &str) -> Result<String, Failure> {
    match get(name) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(Failure::Rejected(format!(
            "missing secret `{name}`: set it in the service's activation"
        ))),
    }
}
