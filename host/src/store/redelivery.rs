//! Delivering finished deliveries again: recovering what failed for good in a window, and bulk
//! retries of the deliveries a filter selects. The rows are queued again as they are, so a
//! receiver sees the same `webhook-id` and the call log adds attempts to the same delivery.
//!
//! Both are idempotent: queuing a delivery again only changes its row (nothing is copied),
//! and a request with an idempotency key gets the answer of the first request with that key.

use super::{Result, Store, StoreError};
use crate::events::EventType;
use crate::time::now_ms;
use crate::vocab::{DeliveryStatus, event_name};
use sqlx::{AssertSqlSafe, Row};

/// Which finished deliveries of one webhook to queue again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redelivery {
    /// The webhook.
    pub webhook_id: String,
    /// Only this tenant's deliveries (a tenant asking).
    pub tenant_id: Option<String>,
    /// Final statuses to take (`failed`, `succeeded`); others are never queued again.
    pub statuses: Vec<DeliveryStatus>,
    /// Only deliveries of this event type (one delivered through the outbox).
    pub event_type: Option<EventType>,
    /// Only deliveries about this record.
    pub record_id: Option<String>,
    /// Only deliveries that finished at or after this time (Unix ms).
    pub since: Option<i64>,
    /// Only deliveries that finished before this time (Unix ms).
    pub until: Option<i64>,
}

impl Redelivery {
    /// Svix's "recover": every delivery of `webhook_id` that failed for good in
    /// `[since, until)`.
    pub fn recover(webhook_id: &str, since: i64, until: Option<i64>) -> Self {
        Redelivery {
            webhook_id: webhook_id.to_owned(),
            tenant_id: None,
            statuses: vec![DeliveryStatus::Failed],
            event_type: None,
            record_id: None,
            since: Some(since),
            until,
        }
    }
}

/// Who asked, with which idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The caller (`provider:PRV-…`, `tenant:TEN-…`, `operator`): keys are the caller's own.
    pub caller: String,
    /// The key the caller chose.
    pub key: String,
}

/// What a redelivery queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Requeued {
    /// Deliveries queued again.
    pub requeued: u64,
    /// Whether this answer is the one given to an earlier request with the same key.
    #[serde(default)]
    pub replayed: bool,
}

impl Store {
    /// Queues the deliveries `filter` selects again, due now, in one transaction; with `key`,
    /// only once per key (a repeated key gets the first answer, `replayed`).
    pub async fn requeue_deliveries(
        &self,
        filter: &Redelivery,
        key: Option<&IdempotencyKey>,
    ) -> Result<Requeued> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        if let Some(key) = key {
            // On PostgreSQL a concurrent request with the same key waits here until the
            // first one commits, then inserts nothing and reads its answer.
            let inserted = sqlx::query(
                "INSERT INTO redelivery_keys (caller, key, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (caller, key) DO NOTHING",
            )
            .bind(&key.caller)
            .bind(&key.key)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                let answer: Option<String> = sqlx::query(
                    "SELECT answer FROM redelivery_keys WHERE caller = $1 AND key = $2",
                )
                .bind(&key.caller)
                .bind(&key.key)
                .fetch_one(&mut *tx)
                .await?
                .try_get("answer")?;
                let mut first: Requeued = answer
                    .as_deref()
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?
                    .ok_or_else(|| StoreError::Corrupt("idempotency key without answer".into()))?;
                first.replayed = true;
                return Ok(first);
            }
        }

        let mut conditions = vec![
            "webhook_id = $2".to_owned(),
            // An erased payload is gone for good.
            "erased_at IS NULL".to_owned(),
        ];
        let mut texts: Vec<String> = vec![filter.webhook_id.clone()];
        let mut times: Vec<i64> = Vec::new();
        let mut next = 3;
        let mut text = |conditions: &mut Vec<String>, column: &str, value: String| {
            conditions.push(format!("{column} = ${next}"));
            texts.push(value);
            next += 1;
        };
        if let Some(tenant) = &filter.tenant_id {
            text(&mut conditions, "tenant_id", tenant.clone());
        }
        if let Some(record) = &filter.record_id {
            text(&mut conditions, "record_id", record.clone());
        }
        if let Some(event_type) = filter.event_type {
            text(&mut conditions, "trigger", event_type.source().to_string());
            text(&mut conditions, "module", event_type.module());
            text(
                &mut conditions,
                "event",
                event_name(event_type.event()).to_owned(),
            );
        }
        let statuses: Vec<&str> = filter
            .statuses
            .iter()
            .filter(|s| s.is_final())
            .map(|s| s.as_str())
            .collect();
        if statuses.is_empty() {
            return Ok(Requeued {
                requeued: 0,
                replayed: false,
            });
        }
        let mut status_params = Vec::new();
        for status in &statuses {
            status_params.push(format!("${next}"));
            texts.push((*status).to_owned());
            next += 1;
        }
        conditions.push(format!("status IN ({})", status_params.join(", ")));
        // A finished delivery's next_attempt_at is when it finished.
        for (bound, op) in [(filter.since, ">="), (filter.until, "<")] {
            if let Some(at) = bound {
                conditions.push(format!("next_attempt_at {op} ${next}"));
                times.push(at);
                next += 1;
            }
        }
        let sql = format!(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, lease_until = NULL, \
             leased_by = NULL, retry_base = attempts, updated_at = $1 WHERE {}",
            conditions.join(" AND ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now);
        for value in &texts {
            query = query.bind(value);
        }
        for at in &times {
            query = query.bind(*at);
        }
        let requeued = query.execute(&mut *tx).await?.rows_affected();
        let answer = Requeued {
            requeued,
            replayed: false,
        };
        if let Some(key) = key {
            sqlx::query("UPDATE redelivery_keys SET answer = $1 WHERE caller = $2 AND key = $3")
                .bind(serde_json::to_string(&answer).expect("serializable"))
                .bind(&key.caller)
                .bind(&key.key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(answer)
    }
}
