//! The tenant's activation parameters (`marketplace:webhook/host.config`).
//!
//! When a tenant activates a service, it fills in the parameters the provider declared (an API
//! key, a target URL, a price table…). A plugin reads them here, per call, instead of baking
//! them into the component, so one component serves every tenant.

use std::str::FromStr;

use crate::Failure;

/// The value of the activation parameter `key`, if the tenant set it.
pub fn get(key: &str) -> Option<String> {
    crate::sys::config(key)
}

/// The value of `key`, or `default` when it is not set.
pub fn get_or(key: &str, default: &str) -> String {
    get(key).unwrap_or_else(|| default.to_owned())
}

/// The value of `key`, or a [`Failure::Rejected`] that names the missing key.
///
/// A missing setting is the tenant's configuration problem: retrying will not help, and the
/// message tells the tenant exactly what to fill in. Blank values count as missing.
pub fn require(key: &str) -> Result<String, Failure> {
    match get(key) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(Failure::Rejected(format!(
            "missing configuration `{key}`: set it in the service's activation"
        ))),
    }
}

/// The value of `key` parsed as `T` (numbers, booleans, …), `None` when it is not set.
///
/// A value that does not parse is a [`Failure::Rejected`] naming the key and the value, for the
/// same reason as in [`require`]. Surrounding whitespace is ignored.
pub fn parse<T: FromStr>(key: &str) -> Result<Option<T>, Failure>
where
    T::Err: std::fmt::Display,
{
    match get(key) {
        None => Ok(None),
        Some(raw) if raw.trim().is_empty() => Ok(None),
        Some(raw) => raw.trim().parse().map(Some).map_err(|e| {
            Failure::Rejected(format!("invalid configuration `{key}` = {raw:?}: {e}"))
        }),
    }
}

/// The value of `key` split at commas, trimmed, without empty items (an empty list when unset).
///
/// The usual shape of list-valued settings such as tags or required field names.
pub fn list(key: &str) -> Vec<String> {
    get(key)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
