//! The plugins' key-value store, scoped to (tenant, service) by whoever builds the call.

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Longest key a plugin may use, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value a plugin may store, in bytes.
pub const MAX_VALUE_BYTES: usize = 256 * 1024;

/// A `set` the store refuses on purpose (a quota): the guest's `kv.set` returns the message
/// as its error and the call goes on. Any other error of a [`KvStore`] fails the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KvRefused(pub String);

/// One (tenant, service) scope of the key-value store.
///
/// The host hands each call the scope of its webhook's tenant and service, so a plugin can
/// never name another tenant's keys.
#[async_trait]
pub trait KvStore: Send + Sync {
    /// The value under `key`.
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Stores `value` under `key`; a [`KvRefused`] error is the guest's to handle.
    async fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()>;
    /// Removes `key`.
    async fn delete(&self, key: &str) -> anyhow::Result<()>;
    /// Keys starting with `prefix`, ascending.
    async fn list_keys(&self, prefix: &str) -> anyhow::Result<Vec<String>>;
}

/// An in-memory scope: the local runner's store, and a building block for tests.
#[derive(Debug, Default)]
pub struct MemoryKv(Mutex<BTreeMap<String, Vec<u8>>>);

impl MemoryKv {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.map().get(key).cloned())
    }

    async fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        self.map().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.map().remove(key);
        Ok(())
    }

    async fn list_keys(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .map()
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }
}
