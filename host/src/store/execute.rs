//! What the execute endpoints and delivery workers need: webhook resolution, the outbox,
//! the call log and smartml replay protection.

use super::{Call, Result, Store, Webhook, new_id, now_ms};
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Row};

/// Columns of `webhooks`, prefixed for joins.
const REACHABLE: &str = "((w.owner_kind = 'tenant' AND w.owner_id = $1) OR (w.owner_kind = 'provider' \
    AND w.service_id IN (SELECT service_id FROM activations WHERE tenant_id = $1)))";

/// A call to plan: one webhook, one trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDelivery {
    /// The webhook to call.
    pub webhook_id: String,
    /// The tenant on whose behalf it runs.
    pub tenant_id: String,
    /// `smartml`, `ivanti`, `mpt`, `process`, `test`.
    pub trigger: String,
    /// Module or object type.
    pub module: String,
    /// Record id.
    pub record_id: String,
    /// Event name (WIT spelling: `create`, `update`, …).
    pub event: String,
    /// The body to send (JSON text).
    pub payload: String,
    /// Parameters (name, value) for the handler (query parameters of URL handlers).
    pub parameters: Vec<(String, String)>,
}

/// A planned call, as a worker claims it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `DLV-…`: stable across retries (the receiver's idempotency key).
    pub id: String,
    /// What to deliver.
    pub spec: NewDelivery,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// How an attempt ended, for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEnd {
    /// Delivered.
    Succeeded,
    /// Failed for good (final failure or retries exhausted).
    Failed(String),
    /// Failed; try again at this time (Unix ms).
    RetryAt(i64, String),
}

/// One entry of the call log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// The webhook called.
    pub webhook_id: String,
    /// The tenant on whose behalf it was called (tenants see only their own calls).
    pub tenant_id: String,
    /// The delivery it belonged to (async calls).
    pub delivery_id: Option<String>,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// `smartml`, `ivanti`, `mpt`, `process`, `test`.
    pub trigger: String,
    /// The Call object.
    pub call: Call,
}

/// A logged call, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedCall {
    /// `CAL-…`
    pub id: String,
    /// The delivery, for async calls.
    pub delivery_id: Option<String>,
    /// Attempt number.
    pub attempt: i64,
    /// Where it came from.
    pub trigger: String,
    /// The Call object.
    #[serde(flatten)]
    pub call: Call,
}

fn webhooks_from(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Webhook>> {
    rows.iter().map(super::webhooks::webhook_from_row).collect()
}

impl Store {
    /// Enabled webhooks the tenant reaches that listen to `module` (one of the smartml
    /// modules, so it is safe inside the pattern).
    pub async fn webhooks_for_module(&self, tenant_id: &str, module: &str) -> Result<Vec<Webhook>> {
        let sql = format!(
            "SELECT {} FROM webhooks w WHERE {REACHABLE} AND w.status = 'enabled' \
             AND w.modules LIKE $2 ORDER BY w.created_at, w.id",
            super::webhooks::COLUMNS_W
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(format!("%\"{module}\"%"))
            .fetch_all(self.pool())
            .await?;
        webhooks_from(&rows)
    }

    /// Webhooks the tenant reaches whose extension equals `extension` ignoring case; the
    /// caller decides between an exact match and a case mismatch.
    pub async fn webhooks_for_extension(&self, tenant_id: &str, extension: &str) -> Result<Vec<Webhook>> {
        let sql = format!(
            "SELECT {} FROM webhooks w WHERE {REACHABLE} AND LOWER(w.extension) = LOWER($2) \
             ORDER BY w.created_at, w.id",
            super::webhooks::COLUMNS_W
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(extension)
            .fetch_all(self.pool())
            .await?;
        webhooks_from(&rows)
    }

    /// Writes the deliveries in one transaction: all of them or none. Returns their ids.
    pub async fn plan_deliveries(&self, deliveries: &[NewDelivery]) -> Result<Vec<String>> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let mut ids = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            let id = new_id("DLV");
            sqlx::query(
                "INSERT INTO deliveries (id, webhook_id, tenant_id, trigger, module, record_id, event, \
                 payload, parameters, status, attempts, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10, $10)",
            )
            .bind(&id)
            .bind(&d.webhook_id)
            .bind(&d.tenant_id)
            .bind(&d.trigger)
            .bind(&d.module)
            .bind(&d.record_id)
            .bind(&d.event)
            .bind(&d.payload)
            .bind(serde_json::to_string(&d.parameters).expect("serializable"))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Claims up to `limit` due deliveries for `worker` until `now + lease_ms`.
    ///
    /// A delivery whose lease expired (its worker died) is due again. On PostgreSQL rows are
    /// claimed with `FOR UPDATE SKIP LOCKED`, so instances never claim the same row; SQLite
    /// has a single writer, so the claiming update is atomic by itself.
    pub async fn claim_deliveries(&self, worker: &str, lease_ms: i64, limit: i64) -> Result<Vec<Delivery>> {
        let now = now_ms();
        let lock = match self.backend() {
            super::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            super::Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE deliveries SET status = 'in_flight', lease_until = $1, leased_by = $2, \
             updated_at = $3 WHERE id IN (SELECT id FROM deliveries WHERE \
             (status = 'pending' AND next_attempt_at <= $3) OR (status = 'in_flight' AND lease_until < $3) \
             ORDER BY next_attempt_at LIMIT $4 {lock}) \
             RETURNING id, webhook_id, tenant_id, trigger, module, record_id, event, payload, parameters, attempts"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(now + lease_ms)
            .bind(worker)
            .bind(now)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Delivery {
                    id: row.try_get("id")?,
                    attempts: row.try_get("attempts")?,
                    spec: NewDelivery {
                        webhook_id: row.try_get("webhook_id")?,
                        tenant_id: row.try_get("tenant_id")?,
                        trigger: row.try_get("trigger")?,
                        module: row.try_get("module")?,
                        record_id: row.try_get("record_id")?,
                        event: row.try_get("event")?,
                        payload: row.try_get("payload")?,
                        parameters: serde_json::from_str(&row.try_get::<String, _>("parameters")?)
                            .map_err(|e| super::StoreError::Corrupt(e.to_string()))?,
                    },
                })
            })
            .collect()
    }

    /// Records how an attempt of delivery `id` by `worker` ended. Ignored when the lease was
    /// lost meanwhile (another worker owns the delivery now).
    pub async fn finish_attempt(&self, id: &str, worker: &str, end: &AttemptEnd) -> Result<bool> {
        let now = now_ms();
        let (status, next, error) = match end {
            AttemptEnd::Succeeded => ("succeeded", now, None),
            AttemptEnd::Failed(e) => ("failed", now, Some(e.as_str())),
            AttemptEnd::RetryAt(at, e) => ("pending", *at, Some(e.as_str())),
        };
        let done = sqlx::query(
            "UPDATE deliveries SET status = $1, next_attempt_at = $2, last_error = $3, \
             attempts = attempts + 1, lease_until = NULL, leased_by = NULL, updated_at = $4 \
             WHERE id = $5 AND leased_by = $6 AND status = 'in_flight'",
        )
        .bind(status)
        .bind(next)
        .bind(error)
        .bind(now)
        .bind(id)
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives back the leases of `worker` (graceful shutdown): its deliveries are due again.
    pub async fn release_leases(&self, worker: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL, leased_by = NULL \
             WHERE leased_by = $1 AND status = 'in_flight'",
        )
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Counts deliveries by status (operations and tests).
    pub async fn delivery_counts(&self) -> Result<std::collections::BTreeMap<String, i64>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    /// Appends calls to the log and updates each webhook's statistics and last calls, in one
    /// transaction; increments are atomic in SQL, so concurrent writers lose nothing.
    pub async fn record_calls(&self, records: &[CallRecord]) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        for r in records {
            let text = serde_json::to_string(&r.call).expect("serializable");
            sqlx::query(
                "INSERT INTO calls (id, webhook_id, tenant_id, delivery_id, attempt, trigger, success, call, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(new_id("CAL"))
            .bind(&r.webhook_id)
            .bind(&r.tenant_id)
            .bind(&r.delivery_id)
            .bind(r.attempt)
            .bind(&r.trigger)
            .bind(i64::from(r.call.success))
            .bind(&text)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(AssertSqlSafe(super::webhooks::record_call_sql(r.call.success)))
                .bind(&r.webhook_id)
                .bind(&text)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A page of webhook `id`'s call log, newest first, and the total; with `tenant_id`,
    /// only that tenant's calls.
    pub async fn list_calls(
        &self,
        webhook_id: &str,
        tenant_id: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<LoggedCall>, i64)> {
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM calls WHERE webhook_id = $1 AND ($2 = '' OR tenant_id = $2)")
            .bind(webhook_id)
            .bind(tenant_id.unwrap_or(""))
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        let rows = sqlx::query(
            "SELECT id, delivery_id, attempt, trigger, call FROM calls WHERE webhook_id = $1 \
             AND ($2 = '' OR tenant_id = $2) ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
        )
        .bind(webhook_id)
        .bind(tenant_id.unwrap_or(""))
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let calls = rows
            .iter()
            .map(|r| {
                Ok(LoggedCall {
                    id: r.try_get("id")?,
                    delivery_id: r.try_get("delivery_id")?,
                    attempt: r.try_get("attempt")?,
                    trigger: r.try_get("trigger")?,
                    call: serde_json::from_str(&r.try_get::<String, _>("call")?)
                        .map_err(|e| super::StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((calls, total))
    }

    /// The delivery behind logged call `call_id` of webhook `webhook_id` (visible to
    /// `tenant_id` when given); `None` for synchronous calls.
    pub async fn call_delivery(&self, webhook_id: &str, call_id: &str, tenant_id: Option<&str>) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT delivery_id FROM calls WHERE id = $1 AND webhook_id = $2 AND ($3 = '' OR tenant_id = $3)",
        )
        .bind(call_id)
        .bind(webhook_id)
        .bind(tenant_id.unwrap_or(""))
        .fetch_optional(self.pool())
        .await?
        .ok_or(super::StoreError::NotFound)?;
        Ok(row.try_get("delivery_id")?)
    }

    /// Makes delivery `id` due again now (a resend: same delivery id, so the receiver can
    /// recognise it).
    pub async fn resend_delivery(&self, id: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, lease_until = NULL, \
             leased_by = NULL, updated_at = $1 WHERE id = $2 AND status <> 'in_flight'",
        )
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(super::StoreError::Conflict(format!("delivery {id} is being delivered right now")));
        }
        Ok(())
    }

    /// Puts a claimed delivery back without counting an attempt (its webhook is busy).
    pub async fn postpone_delivery(&self, id: &str, worker: &str, at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, lease_until = NULL, \
             leased_by = NULL WHERE id = $2 AND leased_by = $3 AND status = 'in_flight'",
        )
        .bind(at)
        .bind(id)
        .bind(worker)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Remembers a smartml (token, timestamp, hmac) until `expires_at`; false when it was
    /// already seen (a replay).
    pub async fn first_use_of_hmac(&self, token_hash: &str, timestamp: i64, hmac: &str, expires_at: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO smartml_replay (token_hash, timestamp, hmac, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (token_hash, timestamp, hmac) DO NOTHING",
        )
        .bind(token_hash)
        .bind(timestamp)
        .bind(hmac)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes expired replay entries and call-log entries older than `calls_before` (Unix ms).
    pub async fn prune(&self, calls_before: i64) -> Result<(u64, u64)> {
        let replay = sqlx::query("DELETE FROM smartml_replay WHERE expires_at < $1")
            .bind(now_ms())
            .execute(self.pool())
            .await?
            .rows_affected();
        let calls = sqlx::query("DELETE FROM calls WHERE created_at < $1")
            .bind(calls_before)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok((replay, calls))
    }
}
