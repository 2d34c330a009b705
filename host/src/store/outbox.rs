//! The delivery outbox: planning deliveries, claiming them under a lease, writing how each
//! attempt ended, resends.

use super::{CallRecord, Params, ROWS_PER_STATEMENT, Result, Store, or_fail, read_word, unique_id};
use crate::sandbox::Event;
use crate::time::now_ms;
use crate::vocab::{DeliveryStatus, TriggerSource, event_name, parse_event};

use sqlx::{AssertSqlSafe, Row};

/// A call to plan: one webhook, one trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The webhook to call.
    pub webhook_id: String,
    /// The tenant on whose behalf it runs.
    pub tenant_id: String,
    /// `smartml`, `ivanti`, `mpt`, `process`, `test`.
    pub trigger: TriggerSource,
    /// Module or object type.
    pub module: String,
    /// Record id.
    pub record_id: String,
    /// Event name (WIT spelling: `create`, `update`, …).
    pub event: Event,
    /// The body to send (JSON text).
    pub payload: String,
    /// Parameters (name, value) for the handler (query parameters of URL handlers).
    pub parameters: Vec<(String, String)>,
    /// Its webhook receives a record's deliveries in order (`ordering: fifo`).
    pub ordered: bool,
    /// The W3C `traceparent` of the span that planned it (when traces are on): its attempts
    /// join that trace, on whichever instance runs them.
    pub traceparent: Option<String>,
}

impl NewDelivery {
    /// Whether `other` comes from the same trigger: everything but the webhook and its
    /// parameters is the same.
    fn same_trigger(&self, other: &NewDelivery) -> bool {
        self.tenant_id == other.tenant_id
            && self.trigger == other.trigger
            && self.module == other.module
            && self.record_id == other.record_id
            && self.event == other.event
            && self.payload == other.payload
            && self.traceparent == other.traceparent
    }
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
    /// The attempts it had made when it was last queued again (resend, recover, bulk
    /// retry): its retry schedule counts from there.
    pub retry_base: i64,
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
    /// Not attempted (its webhook was at its concurrency limit): due again at this time,
    /// without counting an attempt.
    Postponed(i64),
}

/// What a delivery cycle claims (see [`Store::finish_and_claim`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// Most deliveries to claim (0: none).
    pub limit: i64,
    /// Lease of each claimed row, in ms.
    pub lease_ms: i64,
    /// Also take over rows whose lease expired (their worker died).
    pub expired: bool,
}

/// Where a delivery stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    /// `DLV-…`
    pub id: String,
    /// The webhook it calls.
    pub webhook_id: String,
    /// On whose behalf.
    pub tenant_id: String,
    /// `pending`, `in_flight`, `succeeded` or `failed`.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i64,
    /// When it is due (pending), or when it finished (succeeded, failed), Unix ms.
    pub next_attempt_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Planned at, Unix ms.
    pub created_at: i64,
    /// Last changed, Unix ms.
    pub updated_at: i64,
}

/// Rows per statement of [`Store::plan_deliveries`], which binds four parameters a row.
const PLAN_ROWS: usize = 96;

/// Applies attempt ends of `worker`'s deliveries (see [`Store::finish_and_claim`]).
async fn write_ends(
    tx: &mut sqlx::AnyConnection,
    worker: &str,
    ends: &[(String, AttemptEnd)],
    now: i64,
) -> Result<()> {
    let succeeded: Vec<&str> = ends
        .iter()
        .filter(|(_, end)| *end == AttemptEnd::Succeeded)
        .map(|(id, _)| id.as_str())
        .collect();
    for chunk in succeeded.chunks(ROWS_PER_STATEMENT) {
        let mut p = Params::of(tx);
        let (finished, changed, leased_by) = (p.next(), p.next(), p.next());
        let ids: Vec<String> = chunk.iter().map(|_| p.next()).collect();
        let sql = format!(
            "UPDATE {}deliveries SET status = 'succeeded', next_attempt_at = {finished}, \
             last_error = NULL, attempts = attempts + 1, lease_until = NULL, leased_by = NULL, \
             updated_at = {changed} WHERE leased_by = {leased_by} AND status = 'in_flight' \
             AND id IN ({})",
            or_fail(tx),
            ids.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(now)
            .bind(now)
            .bind(worker);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *tx).await?;
    }
    for (id, end) in ends {
        // A finished delivery's next_attempt_at is when it finished (retention relies on it);
        // a postponed one keeps its attempt count.
        let (status, next, error, counted) = match end {
            AttemptEnd::Succeeded => continue, // above
            AttemptEnd::Failed(e) => (DeliveryStatus::Failed, now, Some(e.as_str()), 1),
            AttemptEnd::RetryAt(at, e) => (DeliveryStatus::Pending, *at, Some(e.as_str()), 1),
            AttemptEnd::Postponed(at) => (DeliveryStatus::Pending, *at, None, 0),
        };
        sqlx::query(
            "UPDATE deliveries SET status = $1, next_attempt_at = $2, \
             last_error = COALESCE($3, last_error), attempts = attempts + $4, lease_until = NULL, \
             leased_by = NULL, updated_at = $5 WHERE id = $6 AND leased_by = $7 AND status = 'in_flight'",
        )
        .bind(status.as_str())
        .bind(next)
        .bind(error)
        .bind(counted)
        .bind(now)
        .bind(id)
        .bind(worker)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Inserts `deliveries` inside `tx` (see [`Store::plan_deliveries`]); returns their ids.
pub(super) async fn insert_deliveries(
    tx: &mut sqlx::AnyConnection,
    deliveries: &[NewDelivery],
) -> Result<Vec<String>> {
    let now = now_ms();
    let ids: Vec<String> = deliveries.iter().map(|_| unique_id("DLV")).collect();
    let mut planned = 0;
    for run in deliveries.chunk_by(NewDelivery::same_trigger) {
        for chunk in run.chunks(PLAN_ROWS) {
            let chunk_ids = &ids[planned..planned + chunk.len()];
            planned += chunk.len();
            // Parameters in order of appearance: the rows' four each, then the shared ones.
            let mut p = Params::of(tx);
            let rows: Vec<String> = chunk
                .iter()
                .map(|_| {
                    let (id, webhook, parameters, ordered) =
                        (p.next(), p.next(), p.next(), p.next());
                    format!("({id}, {webhook}, {parameters}, CAST({ordered} AS BIGINT))")
                })
                .collect();
            let shared: Vec<String> = (0..10).map(|_| p.next()).collect();
            let sql = format!(
                "WITH v (id, webhook_id, parameters, ordered) AS (VALUES {}) \
                 INSERT {}INTO deliveries (id, webhook_id, tenant_id, trigger, module, record_id, \
                 event, payload, traceparent, parameters, ordered, status, attempts, \
                 next_attempt_at, created_at, updated_at) SELECT v.id, v.webhook_id, {}, \
                 v.parameters, v.ordered, 'pending', 0, {} FROM v",
                rows.join(", "),
                or_fail(tx),
                shared[..7].join(", "),
                shared[7..].join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (d, id) in chunk.iter().zip(chunk_ids) {
                query = query
                    .bind(id)
                    .bind(&d.webhook_id)
                    .bind(serde_json::to_string(&d.parameters).expect("serializable"))
                    .bind(i64::from(d.ordered));
            }
            let first = &chunk[0];
            query = query
                .bind(&first.tenant_id)
                .bind(first.trigger.as_str())
                .bind(&first.module)
                .bind(&first.record_id)
                .bind(event_name(first.event))
                .bind(&first.payload)
                .bind(first.traceparent.as_deref())
                .bind(now)
                .bind(now)
                .bind(now);
            query.execute(&mut *tx).await?;
        }
    }
    Ok(ids)
}

impl Store {
    /// Writes the deliveries in one transaction: all of them or none. Returns their ids.
    ///
    /// A trigger's deliveries differ only in their webhook (and its parameters): runs of
    /// deliveries that share the rest go in as multi-row INSERTs of [`PLAN_ROWS`] rows that
    /// bind the shared columns once and four per row, so a trigger that reaches a thousand
    /// webhooks costs a handful of statements, not a thousand.
    pub async fn plan_deliveries(&self, deliveries: &[NewDelivery]) -> Result<Vec<String>> {
        let mut tx = self.begin_write().await?;
        let ids = insert_deliveries(&mut tx, deliveries).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// One cycle of a process's delivery workers, in one write transaction: records how the
    /// attempts in `ends` ended (with their call records, so a finished delivery is counted
    /// exactly once and one its worker could not finish not at all), then claims up to
    /// `limit` due deliveries for `worker` until `now + lease_ms`.
    ///
    /// Ends of deliveries no longer leased by `worker` are ignored (another worker owns them
    /// now). Successes (the common case) share one statement per [`ROWS_PER_STATEMENT`].
    ///
    /// Claims take pending rows in `deliveries_due` index order; with `expired`, rows whose
    /// lease ran out (their worker died) first, in a statement of their own: one statement
    /// with an `OR` would collect and sort the whole backlog on every claim. On PostgreSQL
    /// rows are claimed with `FOR UPDATE SKIP LOCKED`, so instances never claim the same row;
    /// SQLite has a single writer, so the claiming update is atomic by itself.
    pub async fn finish_and_claim(
        &self,
        worker: &str,
        ends: &[(String, AttemptEnd)],
        records: &[CallRecord],
        claim: Claim,
    ) -> Result<Vec<Delivery>> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        write_ends(&mut tx, worker, ends, now).await?;
        super::calls::write_calls(&mut tx, records, super::calls::Entry::Staged).await?;
        let mut rows = Vec::new();
        if claim.limit > 0 {
            let lock = match self.backend() {
                super::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
                super::Backend::Sqlite => "",
            };
            let fail = or_fail(&tx);
            let statement = |condition: &str, order: &str| {
                format!(
                    "UPDATE {fail}deliveries SET status = 'in_flight', lease_until = $1, leased_by = $2, \
                     updated_at = $3 WHERE id IN (SELECT id FROM deliveries WHERE {condition} {order} \
                     LIMIT $4 {lock}) RETURNING id, webhook_id, tenant_id, trigger, module, record_id, \
                     event, payload, parameters, ordered, attempts, retry_base, traceparent"
                )
            };
            let mut run = async |condition: &str, order: &str, limit: i64| {
                sqlx::query(AssertSqlSafe(statement(condition, order)))
                    .bind(now + claim.lease_ms)
                    .bind(worker)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await
            };
            if claim.expired {
                rows = run("status = 'in_flight' AND lease_until < $3", "", claim.limit).await?;
            }
            let left = claim.limit - rows.len() as i64;
            if left > 0 {
                rows.extend(
                    run(
                        "status = 'pending' AND next_attempt_at <= $3",
                        "ORDER BY next_attempt_at",
                        left,
                    )
                    .await?,
                );
            }
        }
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                Ok(Delivery {
                    id: row.try_get("id")?,
                    attempts: row.try_get("attempts")?,
                    retry_base: row.try_get("retry_base")?,
                    spec: NewDelivery {
                        webhook_id: row.try_get("webhook_id")?,
                        tenant_id: row.try_get("tenant_id")?,
                        trigger: read_word(row, "trigger", TriggerSource::parse)?,
                        module: row.try_get("module")?,
                        record_id: row.try_get("record_id")?,
                        event: read_word(row, "event", parse_event)?,
                        payload: row.try_get("payload")?,
                        parameters: serde_json::from_str(&row.try_get::<String, _>("parameters")?)
                            .map_err(|e| super::StoreError::Corrupt(e.to_string()))?,
                        ordered: row.try_get::<i64, _>("ordered")? != 0,
                        traceparent: row.try_get("traceparent")?,
                    },
                })
            })
            .collect()
    }

    /// Ends delivery `id` as failed with `reason` if it is waiting for a retry (its webhook was
    /// disabled meanwhile); attempts already made stay counted.
    pub async fn fail_pending_delivery(&self, id: &str, reason: &str) -> Result<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "UPDATE deliveries SET status = 'failed', last_error = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'pending'",
        )
        .bind(reason)
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
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

    /// Makes delivery `id` due again now (a resend: same delivery id, so the receiver can
    /// recognise it), with its whole retry schedule.
    pub async fn resend_delivery(&self, id: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, lease_until = NULL, \
             leased_by = NULL, retry_base = attempts, updated_at = $1 WHERE id = $2 \
             AND status <> 'in_flight' AND erased_at IS NULL",
        )
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            // It is in flight, its payload was erased, or retention removed it.
            return match self.delivery_state(id).await {
                Ok(state) if state.status == DeliveryStatus::InFlight => {
                    Err(super::StoreError::Conflict(format!(
                        "delivery {id} is being delivered right now"
                    )))
                }
                Ok(_) => Err(super::StoreError::NotFound),
                Err(e) => Err(e),
            };
        }
        Ok(())
    }

    /// Where delivery `id` stands (operations, tests, resend).
    pub async fn delivery_state(&self, id: &str) -> Result<DeliveryState> {
        let row = sqlx::query(
            "SELECT id, webhook_id, tenant_id, status, attempts, next_attempt_at, last_error, created_at, \
             updated_at FROM deliveries WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(super::StoreError::NotFound)?;
        Ok(DeliveryState {
            id: row.try_get("id")?,
            webhook_id: row.try_get("webhook_id")?,
            tenant_id: row.try_get("tenant_id")?,
            status: read_word(&row, "status", DeliveryStatus::parse)?,
            attempts: row.try_get("attempts")?,
            next_attempt_at: row.try_get("next_attempt_at")?,
            last_error: row.try_get("last_error")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}
