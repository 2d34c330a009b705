//! The plugins' key-value store, persisted per (tenant, service).

use super::Store;
use crate::sandbox::{KvRefused, KvStore};
use crate::time::now_ms;
use async_trait::async_trait;
use sqlx::Row;

/// One (tenant, service) scope of the persisted key-value store.
#[derive(Debug, Clone)]
pub struct DbKv {
    store: Store,
    tenant_id: String,
    service_id: String,
}

impl DbKv {
    /// The scope of `tenant_id` × `service_id`.
    pub fn new(store: Store, tenant_id: &str, service_id: &str) -> Self {
        DbKv {
            store,
            tenant_id: tenant_id.to_owned(),
            service_id: service_id.to_owned(),
        }
    }
}

#[async_trait]
impl KvStore for DbKv {
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let row = sqlx::query(
            "SELECT value FROM kv WHERE tenant_id = $1 AND service_id = $2 AND key = $3",
        )
        .bind(&self.tenant_id)
        .bind(&self.service_id)
        .bind(key)
        .fetch_optional(self.store.pool())
        .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    /// Refused with [`KvRefused`] when the scope would hold more than `quotas.kv_bytes`
    /// (keys and values). Writes are immediate: what a call stored stays even when the call
    /// fails afterwards.
    async fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        let limit = self.store.quotas().kv_bytes;
        let size = (key.len() + value.len()) as i64;
        let mut tx = self.store.begin_write().await?;
        self.store
            .lock_for_quota(
                &mut tx,
                &format!("kv:{}:{}", self.tenant_id, self.service_id),
            )
            .await?;
        let others: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM kv WHERE tenant_id = $1 \
             AND service_id = $2 AND key <> $3",
        )
        .bind(&self.tenant_id)
        .bind(&self.service_id)
        .bind(key)
        .fetch_one(&mut *tx)
        .await?
        .try_get("bytes")?;
        let total = others + size;
        if total as u64 > limit {
            return Err(KvRefused(format!(
                "quota quotas.kv_bytes = {limit} exceeded: this tenant's store for the service \
                 holds {others} bytes besides this key; with it ({size} bytes) it would hold {total}"
            ))
            .into());
        }
        sqlx::query(
            "INSERT INTO kv (tenant_id, service_id, key, value, size, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, service_id, key) DO UPDATE SET value = excluded.value, \
             size = excluded.size, updated_at = excluded.updated_at",
        )
        .bind(&self.tenant_id)
        .bind(&self.service_id)
        .bind(key)
        .bind(value)
        .bind(size)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM kv WHERE tenant_id = $1 AND service_id = $2 AND key = $3")
            .bind(&self.tenant_id)
            .bind(&self.service_id)
            .bind(key)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    async fn list_keys(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        // Range scan instead of LIKE: no escaping of `%` and `_` in user keys.
        let rows = sqlx::query(
            "SELECT key FROM kv WHERE tenant_id = $1 AND service_id = $2 AND key >= $3 ORDER BY key LIMIT 10000",
        )
        .bind(&self.tenant_id)
        .bind(&self.service_id)
        .bind(prefix)
        .fetch_all(self.store.pool())
        .await?;
        let mut keys = Vec::new();
        for row in rows {
            let key: String = row.try_get("key")?;
            if !key.starts_with(prefix) {
                break;
            }
            keys.push(key);
        }
        Ok(keys)
    }
}
