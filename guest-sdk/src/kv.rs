//! A small persistent key-value store (`marketplace:webhook/kv`).
//!
//! The store is scoped to (tenant, service): every webhook of the service sees the same keys
//! for one tenant, and no other tenant or service sees them. It is the only state that outlives
//! a call, because the host runs each call in a fresh instance. Typical uses: the inputs of the
//! last computation (to skip unchanged records), a remote id per record, a cursor.
//!
//! Values are bytes; [`get_json`] and [`set_json`] store typed values as JSON.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Failure;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KvError {
    /// The host refused to store the value (key or value over the host's limits).
    Refused(String),
    /// The stored value is not the JSON [`get_json`] expected.
    Decode {
        /// The key whose value did not decode.
        key: String,
        /// What the JSON parser said.
        message: String,
    },
    /// The value could not be serialized as JSON.
    Encode(String),
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvError::Refused(m) => write!(f, "key-value store refused the write: {m}"),
            KvError::Decode { key, message } => {
                write!(
                    f,
                    "stored value of `{key}` is not the expected JSON: {message}"
                )
            }
            KvError::Encode(m) => write!(f, "cannot serialize value for the key-value store: {m}"),
        }
    }
}

impl std::error::Error for KvError {}

/// Lets `?` turn a store error into a failure of the call.
///
/// A refused write or an undecodable value does not fix itself by retrying, so all of them
/// become [`Failure::Rejected`]; match on [`KvError`] yourself when you know better.
impl From<KvError> for Failure {
    fn from(e: KvError) -> Failure {
        Failure::Rejected(e.to_string())
    }
}

/// The bytes stored under `key`, if any.
pub fn get(key: &str) -> Option<Vec<u8>> {
    crate::sys::kv_get(key)
}

/// Stores `value` under `key`, replacing what was there.
pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
    crate::sys::kv_set(key, value).map_err(KvError::Refused)
}

/// Removes `key`; removing a key that does not exist is not an error.
pub fn delete(key: &str) {
    crate::sys::kv_delete(key);
}

/// The keys that start with `prefix`, in ascending order (`""` lists every key).
pub fn list_keys(prefix: &str) -> Vec<String> {
    crate::sys::kv_list_keys(prefix)
}

/// The value under `key` decoded from JSON as `T`; `Ok(None)` when the key is not set.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, KvError> {
    match get(key) {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| KvError::Decode {
                key: key.to_owned(),
                message: e.to_string(),
            }),
    }
}

/// Stores `value` under `key` as JSON.
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), KvError> {
    let bytes = serde_json::to_vec(value).map_err(|e| KvError::Encode(e.to_string()))?;
    set(key, &bytes)
}
