//! Webhook signing secrets: reading them (opened with the master key) and rotating them with
//! a grace period for the previous one.

use super::{ROWS_PER_STATEMENT, Result, Scope, Store, new_id};
use crate::crypto::MasterKey;
use crate::time::now_ms;

use sqlx::{AssertSqlSafe, Row};

/// A freshly rotated signing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedSecret {
    /// The new `whsec_…` secret (shown once).
    pub secret: String,
    /// Until when the previous secret keeps signing, Unix ms.
    pub previous_expires_at: i64,
}

impl Store {
    /// The secrets that sign calls of webhook `id`: the current one first, then the ones
    /// rotated out whose grace period has not ended, newest first.
    pub async fn signing_secrets(&self, key: &MasterKey, id: &str) -> Result<Vec<String>> {
        self.signing_secrets_many(key, &[id])
            .await?
            .remove(id)
            .ok_or(super::StoreError::NotFound)
    }

    /// [`Store::signing_secrets`] of several webhooks in one query per [`ROWS_PER_STATEMENT`]; ids
    /// that do not exist are left out.
    pub async fn signing_secrets_many(
        &self,
        key: &MasterKey,
        ids: &[&str],
    ) -> Result<std::collections::HashMap<String, Vec<String>>> {
        let mut secrets = std::collections::HashMap::new();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            // $1 is the time; the ids follow.
            let list: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let list = list.join(", ");
            let sql = format!(
                "SELECT id AS webhook_id, secret_enc, CAST(0 AS BIGINT) AS rank, \
                 CAST(0 AS BIGINT) AS created FROM webhooks WHERE id IN ({list}) UNION ALL \
                 SELECT webhook_id, secret_enc, CAST(1 AS BIGINT), created_at FROM webhook_secrets \
                 WHERE webhook_id IN ({list}) AND expires_at > $1 ORDER BY 1, 3, 4 DESC"
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now_ms());
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(self.pool()).await? {
                let id: String = row.try_get("webhook_id")?;
                let secret = key
                    .open_string(&row.try_get::<Vec<u8>, _>("secret_enc")?)
                    .map_err(|e| super::StoreError::Corrupt(e.to_string()))?;
                // Each webhook's rows come current secret first (rank 0), then the previous
                // ones, newest first; previous secrets of a webhook that is gone sign nothing.
                match (row.try_get::<i64, _>("rank")?, secrets.get_mut(&id)) {
                    (0, _) => {
                        secrets.insert(id, vec![secret]);
                    }
                    (_, Some(list)) => list.push(secret),
                    (_, None) => {}
                }
            }
        }
        Ok(secrets)
    }

    /// Gives webhook `id` owned by `scope` a new signing secret and returns it (shown once).
    /// The old secret keeps signing, next to the new one, for `grace_ms`.
    pub async fn rotate_webhook_secret(
        &self,
        key: &MasterKey,
        scope: &Scope,
        id: &str,
        grace_ms: i64,
    ) -> Result<RotatedSecret> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        // Take the row's write lock first (PostgreSQL: a row lock; SQLite: the writer lock),
        // so two rotations at once cannot both move the same old secret.
        let owned = sqlx::query("UPDATE webhooks SET secret_enc = secret_enc WHERE owner_kind = $1 AND owner_id = $2 AND id = $3")
            .bind(scope.kind())
            .bind(scope.id())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if owned == 0 {
            drop(tx);
            return match self.webhook(scope, id).await {
                Ok(_) => Err(super::StoreError::Forbidden(format!(
                    "webhook {id} belongs to the service's provider: only its owner can rotate the secret"
                ))),
                Err(e) => Err(e),
            };
        }
        let old: Vec<u8> = sqlx::query("SELECT secret_enc FROM webhooks WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("secret_enc")?;
        let expires_at = now + grace_ms.max(0);
        sqlx::query("DELETE FROM webhook_secrets WHERE webhook_id = $1 AND expires_at <= $2")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if grace_ms > 0 {
            sqlx::query(
                "INSERT INTO webhook_secrets (id, webhook_id, secret_enc, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(new_id("WHS"))
            .bind(id)
            .bind(old)
            .bind(expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let secret = crate::crypto::new_webhook_secret();
        sqlx::query("UPDATE webhooks SET secret_enc = $1 WHERE id = $2")
            .bind(key.seal(secret.as_bytes()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // Signing-secret caches of this process drop what they hold.
        self.changed();
        Ok(RotatedSecret {
            secret,
            previous_expires_at: expires_at,
        })
    }
}
