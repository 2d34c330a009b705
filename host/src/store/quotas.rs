//! Quotas: how much one provider or tenant may keep, so that no one fills the database for
//! everyone (`[quotas]` in the configuration).
//!
//! Checks and the writes they guard happen in one write transaction. SQLite has one writer at
//! a time, so that is enough; on PostgreSQL the transaction first takes an advisory lock on
//! the owner, so two concurrent uploads cannot both fit into the last free slot.

use super::{Backend, Scope, Store, WriteTx};
use serde::{Deserialize, Serialize};

/// `[quotas]`: the most one owner may keep. Components and webhooks count per owner (a
/// provider, or a tenant for its private ones); key-value bytes per (tenant, service) scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    /// Components one owner may have uploaded (every version counts).
    pub components: u64,
    /// Total bytes of one owner's components.
    pub component_bytes: u64,
    /// Webhooks one owner may have registered.
    pub webhooks: u64,
    /// Bytes (keys and values) a plugin may keep for one tenant and service.
    pub kv_bytes: u64,
}

impl Default for Quotas {
    /// The documented defaults of `config/default.toml`.
    fn default() -> Self {
        Quotas {
            components: 100,
            component_bytes: 200 << 20,
            webhooks: 1000,
            kv_bytes: 10 << 20,
        }
    }
}

/// A write refused because it would exceed a quota; names the quota and its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QuotaExceeded {
    /// The configuration key, e.g. `quotas.components`.
    pub quota: &'static str,
    /// Its value.
    pub limit: u64,
    /// What was refused, for humans; names the quota and its value.
    pub message: String,
}

impl QuotaExceeded {
    /// A refusal of `quota` = `limit`; `what` says what the request would have done.
    pub fn new(quota: &'static str, limit: u64, what: impl std::fmt::Display) -> Self {
        QuotaExceeded {
            quota,
            limit,
            message: format!("quota {quota} = {limit} exceeded: {what}"),
        }
    }
}

impl Store {
    /// The quotas this store enforces.
    pub fn quotas(&self) -> Quotas {
        *self.quotas
    }

    /// This store with other quotas (the configuration's).
    pub fn with_quotas(mut self, quotas: Quotas) -> Store {
        self.quotas = std::sync::Arc::new(quotas);
        self
    }

    /// PostgreSQL: holds an advisory lock on `what` (an owner, a kv scope) until `tx` ends,
    /// so quota checks of the same owner run one at a time. SQLite: nothing (one writer).
    pub(super) async fn lock_for_quota(&self, tx: &mut WriteTx, what: &str) -> sqlx::Result<()> {
        if self.backend() == Backend::Postgres {
            // The function returns `void`, which the `Any` driver cannot decode: read it as text.
            sqlx::query(
                "SELECT CAST(pg_advisory_xact_lock(hashtext('hookhost-quota'), hashtext($1)) AS TEXT) AS locked",
            )
            .bind(what)
            .fetch_one(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

/// The lock name of an owner's quotas.
pub(super) fn owner_lock(owner: &Scope) -> String {
    format!("{}:{}", owner.kind(), owner.id())
}
