//! Erasure on request (privacy): a tenant's delivery payloads and call-log bodies for one
//! record or a time range, deleted while the statistics stay.
//!
//! What goes: the payload and parameters of the tenant's deliveries (which are then never
//! delivered again: pending ones are cancelled), and the response body, headers and error text
//! of the call-log entries of those deliveries (by record) or of the tenant's calls in the
//! range. What stays: the rows themselves, with their ids, times, attempt numbers, success and
//! status codes, so the webhooks' statistics and a tenant's counted statistics do not change.
//! Deliveries in flight are left alone and counted: erase again once they finished.

use super::{Result, Store};
use crate::time::now_ms;
use sqlx::{AssertSqlSafe, Row};

/// What to erase of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// The tenant whose data goes.
    pub tenant_id: String,
    /// Only deliveries (and their calls) about this record.
    pub record_id: Option<String>,
    /// … of this module or object type.
    pub module: Option<String>,
    /// Only what was made at or after this time (Unix ms).
    pub since: Option<i64>,
    /// Only what was made before this time (Unix ms).
    pub until: Option<i64>,
}

/// What an erasure did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Erased {
    /// Deliveries whose payload was erased.
    pub deliveries: u64,
    /// Of those, pending ones cancelled (they will not be delivered).
    pub cancelled: u64,
    /// Call-log entries whose bodies were erased.
    pub calls: u64,
    /// Deliveries in flight, left alone: erase again once they finished.
    pub in_flight: u64,
}

/// What replaces an erased error text.
const ERASED: &str = "erased on request";

/// Call-log entries rewritten per statement round.
const CALL_BATCH: i64 = 500;

impl Store {
    /// Erases what `erasure` selects, in one transaction.
    pub async fn erase(&self, erasure: &Erasure) -> Result<Erased> {
        let now = now_ms();
        // The deliveries it selects: `$1` the tenant, then the optional conditions.
        let mut conditions = vec!["tenant_id = $1".to_owned()];
        let mut texts = vec![erasure.tenant_id.clone()];
        let mut times = Vec::new();
        for (column, value) in [
            ("record_id", &erasure.record_id),
            ("module", &erasure.module),
        ] {
            if let Some(value) = value {
                texts.push(value.clone());
                conditions.push(format!("{column} = ${}", texts.len()));
            }
        }
        for (bound, op) in [(erasure.since, ">="), (erasure.until, "<")] {
            if let Some(at) = bound {
                times.push(at);
                conditions.push(format!("created_at {op} ${}", texts.len() + times.len()));
            }
        }
        let selected = conditions.join(" AND ");
        let next = texts.len() + times.len() + 1;
        let bind = |sql: String| {
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for text in &texts {
                query = query.bind(text.clone());
            }
            for at in &times {
                query = query.bind(*at);
            }
            query
        };

        let mut tx = self.begin_write().await?;
        super::calls::fold_staged(&mut tx).await?;
        let in_flight = bind(format!(
            "SELECT COUNT(*) AS n FROM deliveries WHERE {selected} AND status = 'in_flight'"
        ))
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>("n")? as u64;
        let cancelled = bind(format!(
            "UPDATE deliveries SET status = 'failed', next_attempt_at = ${next}, \
             updated_at = ${next}, last_error = '{ERASED}', payload = '', parameters = '[]', \
             erased_at = ${next} WHERE {selected} AND status = 'pending'"
        ))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let finished = bind(format!(
            "UPDATE deliveries SET payload = '', parameters = '[]', erased_at = ${next}, \
             last_error = CASE WHEN last_error IS NULL THEN NULL ELSE '{ERASED}' END \
             WHERE {selected} AND status IN ('succeeded', 'failed') AND erased_at IS NULL"
        ))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let mut erased = Erased {
            deliveries: finished + cancelled,
            cancelled,
            calls: 0,
            in_flight,
        };

        // The call log: by record, the calls of the selected deliveries; by time alone,
        // every call of the tenant in the range (synchronous ones included).
        let calls = if erasure.record_id.is_some() || erasure.module.is_some() {
            format!(
                "tenant_id = $1 AND delivery_id IN (SELECT id FROM deliveries WHERE {selected})"
            )
        } else {
            selected.clone()
        };
        // Rewritten in rounds, oldest first; a rewritten entry has an empty `response`,
        // `headers`, an erased `error` and no detail (the request's excerpt, the plugin's log
        // lines), so it is not counted again.
        let mut after = String::new();
        loop {
            let rows = bind(format!(
                "SELECT id, call, CAST(CASE WHEN detail IS NULL THEN 1 ELSE 0 END AS BIGINT) AS bare FROM calls WHERE {calls} AND id > ${next} \
                 ORDER BY id LIMIT {CALL_BATCH}"
            ))
            .bind(&after)
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("id")?;
            for row in &rows {
                let text: String = row.try_get("call")?;
                let mut call: super::Call = serde_json::from_str(&text)
                    .map_err(|e| super::StoreError::Corrupt(e.to_string()))?;
                let bare = row.try_get::<i64, _>("bare")? == 1;
                if bare
                    && call.response.is_empty()
                    && call.headers.is_empty()
                    && (call.error.is_empty() || call.error == ERASED)
                {
                    continue;
                }
                call.response.clear();
                call.headers.clear();
                if !call.error.is_empty() {
                    call.error = ERASED.to_owned();
                }
                sqlx::query("UPDATE calls SET call = $1, detail = NULL WHERE id = $2")
                    .bind(serde_json::to_string(&call).expect("serializable"))
                    .bind(row.try_get::<String, _>("id")?)
                    .execute(&mut *tx)
                    .await?;
                erased.calls += 1;
            }
            if (rows.len() as i64) < CALL_BATCH {
                break;
            }
        }
        tx.commit().await?;
        Ok(erased)
    }
}
