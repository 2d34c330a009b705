//! What the execute endpoints and delivery workers need: webhook resolution, the outbox,
//! the call log and smartml replay protection.

use super::{Call, Result, Scope, Store, Webhook, new_id, now_ms};
use crate::crypto::MasterKey;
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Row};
use std::collections::{BTreeMap, HashSet};

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

impl CallRecord {
    /// The record of a synchronous call (Ivanti execute, validation, a test call): no
    /// delivery, one attempt.
    pub fn synchronous(webhook_id: &str, tenant_id: &str, trigger: &str, call: Call) -> Self {
        CallRecord {
            webhook_id: webhook_id.to_owned(),
            tenant_id: tenant_id.to_owned(),
            delivery_id: None,
            attempt: 1,
            trigger: trigger.to_owned(),
            call,
        }
    }
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
    pub status: String,
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

/// What one retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Expired smartml replay entries.
    pub replay: u64,
    /// Call-log entries.
    pub calls: u64,
    /// Finished deliveries.
    pub deliveries: u64,
    /// Notifications.
    pub notifications: u64,
    /// Rotated-out secrets past their grace period.
    pub secrets: u64,
}

/// A freshly rotated signing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedSecret {
    /// The new `whsec_…` secret (shown once).
    pub secret: String,
    /// Until when the previous secret keeps signing, Unix ms.
    pub previous_expires_at: i64,
}

/// Something the host tells a webhook's owner, e.g. that it disabled the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// `NTF-…`
    pub id: String,
    /// The webhook it is about.
    pub webhook_id: String,
    /// `gone` (the endpoint answered 410) or `failing` (a run of failures).
    pub kind: String,
    /// For humans.
    pub message: String,
    /// When, Unix ms.
    pub created_at: i64,
}

/// Rows per multi-row statement (deliveries, call-log entries). Fewer statements save
/// round trips, but SQLite looks parameters up by name in a list, so a statement's binding cost
/// grows with the square of its parameters: a few hundred parameters is the sweet spot.
pub(crate) const PLAN_CHUNK: usize = 48;

/// Rows per statement of [`Store::plan_deliveries`], which binds three parameters a row.
const PLAN_ROWS: usize = 96;

/// Webhooks per statistics statement, and the parameters each binds.
const STATISTICS_CHUNK: usize = 32;
const STATISTICS_COLUMNS: usize = 9;

/// One webhook's calls in a batch of call records, summed for a single statistics update.
#[derive(Debug, Default, PartialEq, Eq)]
struct BatchStatistics<'a> {
    total: i64,
    successes: i64,
    /// Failures after the batch's last success (all of them when none succeeded).
    failures_since: i64,
    last_success: Option<&'a str>,
    last_failure: Option<&'a str>,
    last_call: &'a str,
}

/// Sums `records` (in the order they happened; `texts` are their Call objects as JSON) per
/// webhook, in order of first appearance.
fn batch_statistics<'a>(
    records: &'a [CallRecord],
    texts: &'a [String],
) -> Vec<(&'a str, BatchStatistics<'a>)> {
    let mut out: Vec<(&str, BatchStatistics<'_>)> = Vec::new();
    for (record, text) in records.iter().zip(texts) {
        let index = match out.iter().position(|(id, _)| *id == record.webhook_id) {
            Some(index) => index,
            None => {
                out.push((&record.webhook_id, BatchStatistics::default()));
                out.len() - 1
            }
        };
        let stats = &mut out[index].1;
        stats.total += 1;
        stats.last_call = text;
        if record.call.success {
            stats.successes += 1;
            stats.failures_since = 0;
            stats.last_success = Some(text);
        } else {
            stats.failures_since += 1;
            stats.last_failure = Some(text);
        }
    }
    out
}

/// An id for rows that pile up by the million (deliveries, call-log entries): `DLV-`, the
/// time in milliseconds as 9 base-36 digits, and 16 random alphanumerics (≈95 bits). The
/// time comes first so that new rows land at the end of the primary-key index rather than on
/// a random page of it (a random key costs a page read and write per insert once the index
/// outgrows the cache). The short `XXX-1234-5678` form of registry objects (10⁸ values) would
/// collide within a few thousand rows, and a collision fails the whole transaction that
/// plans a trigger's deliveries.
pub fn unique_id(prefix: &str) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut ms = now_ms().max(0) as u64;
    let mut time = [b'0'; 9];
    for digit in time.iter_mut().rev() {
        *digit = DIGITS[(ms % 36) as usize];
        ms /= 36;
    }
    let time = std::str::from_utf8(&time).expect("ASCII digits");
    format!("{prefix}-{time}{}", crate::crypto::random_alphanumeric(16))
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

    /// Enabled webhooks of MPT type `kind` (`validatePurchaseOrderDraft`, …) the tenant
    /// reaches, oldest first.
    pub async fn webhooks_for_type(&self, tenant_id: &str, kind: &str) -> Result<Vec<Webhook>> {
        let sql = format!(
            "SELECT {} FROM webhooks w WHERE {REACHABLE} AND w.status = 'enabled' \
             AND w.type = $2 ORDER BY w.created_at, w.id",
            super::webhooks::COLUMNS_W
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(kind)
            .fetch_all(self.pool())
            .await?;
        webhooks_from(&rows)
    }

    /// Webhooks the tenant reaches whose extension equals `extension` ignoring case; the
    /// caller decides between an exact match and a case mismatch.
    pub async fn webhooks_for_extension(
        &self,
        tenant_id: &str,
        extension: &str,
    ) -> Result<Vec<Webhook>> {
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
    ///
    /// A trigger's deliveries differ only in their webhook (and its parameters): runs of
    /// deliveries that share the rest go in as multi-row INSERTs of [`PLAN_ROWS`] rows that
    /// bind the shared columns once and three per row, so a trigger that reaches a thousand
    /// webhooks costs a handful of statements, not a thousand.
    pub async fn plan_deliveries(&self, deliveries: &[NewDelivery]) -> Result<Vec<String>> {
        const SHARED: usize = 7; // $1 the time, then tenant … payload
        const PER_ROW: usize = 3;
        let now = now_ms();
        let ids: Vec<String> = deliveries.iter().map(|_| unique_id("DLV")).collect();
        let mut tx = self.begin_write().await?;
        let mut planned = 0;
        for run in deliveries.chunk_by(NewDelivery::same_trigger) {
            for chunk in run.chunks(PLAN_ROWS) {
                let chunk_ids = &ids[planned..planned + chunk.len()];
                planned += chunk.len();
                let rows: Vec<String> = (0..chunk.len())
                    .map(|r| {
                        let p = |c: usize| SHARED + 1 + r * PER_ROW + c;
                        format!("(${}, ${}, ${})", p(0), p(1), p(2))
                    })
                    .collect();
                let sql = format!(
                    "WITH v (id, webhook_id, parameters) AS (VALUES {}) \
                     INSERT INTO deliveries (id, webhook_id, tenant_id, trigger, module, record_id, \
                     event, payload, parameters, status, attempts, next_attempt_at, created_at, \
                     updated_at) SELECT v.id, v.webhook_id, $2, $3, $4, $5, $6, $7, v.parameters, \
                     'pending', 0, $1, $1, $1 FROM v",
                    rows.join(", ")
                );
                let first = &chunk[0];
                let mut query = sqlx::query(AssertSqlSafe(sql))
                    .bind(now)
                    .bind(&first.tenant_id)
                    .bind(&first.trigger)
                    .bind(&first.module)
                    .bind(&first.record_id)
                    .bind(&first.event)
                    .bind(&first.payload);
                for (d, id) in chunk.iter().zip(chunk_ids) {
                    query = query
                        .bind(id)
                        .bind(&d.webhook_id)
                        .bind(serde_json::to_string(&d.parameters).expect("serializable"));
                }
                query.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// One cycle of a process's delivery workers, in one write transaction: records how the
    /// attempts in `ends` ended (with their call records, so a finished delivery is counted
    /// exactly once and one its worker could not finish not at all), then claims up to
    /// `limit` due deliveries for `worker` until `now + lease_ms`.
    ///
    /// Ends of deliveries no longer leased by `worker` are ignored (another worker owns them
    /// now). Successes (the common case) share one statement per [`PLAN_CHUNK`].
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
        write_calls(&mut tx, records).await?;
        let mut rows = Vec::new();
        if claim.limit > 0 {
            let lock = match self.backend() {
                super::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
                super::Backend::Sqlite => "",
            };
            let statement = |condition: &str, order: &str| {
                format!(
                    "UPDATE deliveries SET status = 'in_flight', lease_until = $1, leased_by = $2, \
                     updated_at = $3 WHERE id IN (SELECT id FROM deliveries WHERE {condition} {order} \
                     LIMIT $4 {lock}) RETURNING id, webhook_id, tenant_id, trigger, module, record_id, \
                     event, payload, parameters, attempts"
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

    /// Appends calls to the log and updates each webhook's statistics and last calls, in one
    /// transaction; increments are atomic in SQL, so concurrent writers lose nothing.
    ///
    /// The log rows go in as multi-row INSERTs; each webhook's statistics are summed over the
    /// batch (a busy webhook's calls arrive in bursts) and updated with one statement per
    /// chunk of webhooks.
    pub async fn record_calls(&self, records: &[CallRecord]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        write_calls(&mut tx, records).await?;
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
        let total: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM calls WHERE webhook_id = $1 AND ($2 = '' OR tenant_id = $2)",
        )
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

    /// The statistics of `tenant_id`'s own calls of webhook `webhook_id`, counted from the call
    /// log (so within its retention): what a tenant sees of a provider's webhook, whose
    /// stored statistics count every tenant's calls.
    pub async fn tenant_statistics(
        &self,
        webhook_id: &str,
        tenant_id: &str,
    ) -> Result<super::Statistics> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS total, COUNT(CASE WHEN success <> 0 THEN 1 END) AS successes, \
             COUNT(CASE WHEN success = 0 AND created_at > COALESCE((SELECT MAX(l.created_at) \
             FROM calls l WHERE l.webhook_id = $1 AND l.tenant_id = $2 AND l.success <> 0), -1) \
             THEN 1 END) AS since FROM calls WHERE webhook_id = $1 AND tenant_id = $2",
        )
        .bind(webhook_id)
        .bind(tenant_id)
        .fetch_one(self.pool())
        .await?;
        let (total, successes): (i64, i64) = (row.try_get("total")?, row.try_get("successes")?);
        Ok(super::Statistics {
            total,
            successes,
            failures: total - successes,
            failures_since_last_success: row.try_get("since")?,
        })
    }

    /// The delivery behind logged call `call_id` of webhook `webhook_id` (visible to
    /// `tenant_id` when given); `None` for synchronous calls.
    pub async fn call_delivery(
        &self,
        webhook_id: &str,
        call_id: &str,
        tenant_id: Option<&str>,
    ) -> Result<Option<String>> {
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
            // Either it is in flight, or retention removed it.
            return match self.delivery_state(id).await {
                Ok(_) => Err(super::StoreError::Conflict(format!(
                    "delivery {id} is being delivered right now"
                ))),
                Err(e) => Err(e),
            };
        }
        Ok(())
    }

    /// Remembers the smartml HMACs (each with its expiry, Unix ms) of one request of the token
    /// with hash `token_hash`; returns those that were new. The others were seen before: the
    /// request replays them.
    ///
    /// An HMAC is good for one request. The unique key (token_hash, hmac) is the arbiter:
    /// each row goes in with `ON CONFLICT DO NOTHING`, so of two requests carrying one HMAC at
    /// the same time, on any instance, exactly one gets it back. The map makes the HMACs
    /// distinct (actions of one request may share one) and sorted, so PostgreSQL takes the
    /// rows' locks in one order and two overlapping requests cannot deadlock.
    pub async fn first_uses_of_hmacs(
        &self,
        token_hash: &str,
        hmacs: &BTreeMap<String, i64>,
    ) -> Result<HashSet<String>> {
        let rows: Vec<(&String, &i64)> = hmacs.iter().collect();
        let mut new = HashSet::with_capacity(rows.len());
        let _turn = self.write_turn().await;
        for chunk in rows.chunks(PLAN_CHUNK) {
            let values: Vec<String> = (0..chunk.len())
                .map(|r| format!("($1, ${}, ${})", 2 + 2 * r, 3 + 2 * r))
                .collect();
            let sql = format!(
                "INSERT INTO smartml_replay (token_hash, hmac, expires_at) VALUES {} \
                 ON CONFLICT (token_hash, hmac) DO NOTHING RETURNING hmac",
                values.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(token_hash);
            for (hmac, expires_at) in chunk {
                query = query.bind(*hmac).bind(**expires_at);
            }
            for row in query.fetch_all(self.pool()).await? {
                new.insert(row.try_get::<String, _>("hmac")?);
            }
        }
        Ok(new)
    }

    /// Deletes what retention no longer keeps: call-log entries, finished (`succeeded` or
    /// `failed`) deliveries and notifications older than `before` (Unix ms), and expired
    /// smartml replay entries and rotated-out secrets. Deletes in batches, so a large backlog
    /// never holds SQLite's single writer for long.
    pub async fn prune(&self, before: i64) -> Result<PruneReport> {
        let now = now_ms();
        let replay = self
            .delete_batched(
                "DELETE FROM smartml_replay WHERE (token_hash, hmac) IN \
                 (SELECT token_hash, hmac FROM smartml_replay WHERE expires_at < $1 LIMIT $2)",
                now,
            )
            .await?;
        let calls = self
            .delete_batched("DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE created_at < $1 LIMIT $2)", before)
            .await?;
        // A finished delivery's next_attempt_at is when it finished (see `write_ends`), and
        // (status, next_attempt_at) is indexed.
        let deliveries = self
            .delete_batched(
                "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE status IN \
                 ('succeeded', 'failed') AND next_attempt_at < $1 LIMIT $2)",
                before,
            )
            .await?;
        let notifications = self
            .delete_batched(
                "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE created_at < $1 LIMIT $2)",
                before,
            )
            .await?;
        let secrets = self
            .delete_batched(
                "DELETE FROM webhook_secrets WHERE id IN (SELECT id FROM webhook_secrets WHERE expires_at < $1 LIMIT $2)",
                now,
            )
            .await?;
        Ok(PruneReport {
            replay,
            calls,
            deliveries,
            notifications,
            secrets,
        })
    }

    /// Runs a `DELETE … LIMIT $2` statement bound to `$1` until it deletes less than a batch.
    async fn delete_batched(&self, sql: &'static str, bound: i64) -> Result<u64> {
        const BATCH: i64 = 5_000;
        let mut total = 0;
        loop {
            let _turn = self.write_turn().await;
            let n = sqlx::query(sql)
                .bind(bound)
                .bind(BATCH)
                .execute(self.pool())
                .await?
                .rows_affected();
            total += n;
            if n < BATCH as u64 {
                return Ok(total);
            }
        }
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
            status: row.try_get("status")?,
            attempts: row.try_get("attempts")?,
            next_attempt_at: row.try_get("next_attempt_at")?,
            last_error: row.try_get("last_error")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    /// The secrets that sign calls of webhook `id`: the current one first, then the ones
    /// rotated out whose grace period has not ended, newest first.
    pub async fn signing_secrets(&self, key: &MasterKey, id: &str) -> Result<Vec<String>> {
        self.signing_secrets_many(key, &[id])
            .await?
            .remove(id)
            .ok_or(super::StoreError::NotFound)
    }

    /// [`Store::signing_secrets`] of several webhooks in one query per [`PLAN_CHUNK`]; ids
    /// that do not exist are left out.
    pub async fn signing_secrets_many(
        &self,
        key: &MasterKey,
        ids: &[&str],
    ) -> Result<std::collections::HashMap<String, Vec<String>>> {
        let mut secrets = std::collections::HashMap::new();
        for chunk in ids.chunks(PLAN_CHUNK) {
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

    /// Disables webhook `id` on the host's own initiative and writes a notification for its
    /// owner, in one transaction. With `min_failures`, only when the webhook has failed at
    /// least that many times in a row. Returns the notification when this call disabled it
    /// (false when it already was disabled, or the failures do not reach the threshold), so
    /// concurrent workers on any instance notify once.
    pub async fn disable_webhook_automatically(
        &self,
        id: &str,
        kind: &str,
        message: &str,
        min_failures: Option<i64>,
    ) -> Result<Option<Notification>> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhooks SET status = 'disabled', disabled_at = $1, updated_at = $1, revision = revision + 1 \
             WHERE id = $2 AND status = 'enabled' AND stat_failures_since >= $3",
        )
        .bind(now)
        .bind(id)
        .bind(min_failures.unwrap_or(0))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let notification_id = new_id("NTF");
        sqlx::query(
            "INSERT INTO notifications (id, webhook_id, owner_kind, owner_id, kind, message, created_at) \
             SELECT $1, id, owner_kind, owner_id, $2, $3, $4 FROM webhooks WHERE id = $5",
        )
        .bind(&notification_id)
        .bind(kind)
        .bind(message)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.changed();
        Ok(Some(Notification {
            id: notification_id,
            webhook_id: id.to_owned(),
            kind: kind.to_owned(),
            message: message.to_owned(),
            created_at: now,
        }))
    }

    /// A page of the notifications about webhook `id`, newest first, and their total; only
    /// the webhook's owner `scope` sees them.
    pub async fn list_notifications(
        &self,
        scope: &Scope,
        webhook_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Notification>, i64)> {
        let total: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM notifications WHERE owner_kind = $1 AND owner_id = $2 AND webhook_id = $3",
        )
        .bind(scope.kind())
        .bind(scope.id())
        .bind(webhook_id)
        .fetch_one(self.pool())
        .await?
        .try_get("n")?;
        let rows = sqlx::query(
            "SELECT id, webhook_id, kind, message, created_at FROM notifications WHERE owner_kind = $1 \
             AND owner_id = $2 AND webhook_id = $3 ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5",
        )
        .bind(scope.kind())
        .bind(scope.id())
        .bind(webhook_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let notifications = rows
            .iter()
            .map(|r| {
                Ok(Notification {
                    id: r.try_get("id")?,
                    webhook_id: r.try_get("webhook_id")?,
                    kind: r.try_get("kind")?,
                    message: r.try_get("message")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((notifications, total))
    }
}

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
    for chunk in succeeded.chunks(PLAN_CHUNK) {
        let ids: Vec<String> = (0..chunk.len()).map(|i| format!("${}", 3 + i)).collect();
        let sql = format!(
            "UPDATE deliveries SET status = 'succeeded', next_attempt_at = $1, last_error = NULL, \
             attempts = attempts + 1, lease_until = NULL, leased_by = NULL, updated_at = $1 \
             WHERE leased_by = $2 AND status = 'in_flight' AND id IN ({})",
            ids.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now).bind(worker);
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
            AttemptEnd::Failed(e) => ("failed", now, Some(e.as_str()), 1),
            AttemptEnd::RetryAt(at, e) => ("pending", *at, Some(e.as_str()), 1),
            AttemptEnd::Postponed(at) => ("pending", *at, None, 0),
        };
        sqlx::query(
            "UPDATE deliveries SET status = $1, next_attempt_at = $2, \
             last_error = COALESCE($3, last_error), attempts = attempts + $4, lease_until = NULL, \
             leased_by = NULL, updated_at = $5 WHERE id = $6 AND leased_by = $7 AND status = 'in_flight'",
        )
        .bind(status)
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

/// The log rows and statistics of `records`, inside `tx` (see [`Store::record_calls`]).
async fn write_calls(tx: &mut sqlx::AnyConnection, records: &[CallRecord]) -> Result<()> {
    const COLUMNS: usize = 8;
    if records.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let texts: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(&r.call).expect("serializable"))
        .collect();
    for (chunk, chunk_texts) in records.chunks(PLAN_CHUNK).zip(texts.chunks(PLAN_CHUNK)) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|r| {
                let p: Vec<String> = (0..COLUMNS)
                    .map(|c| format!("${}", 2 + r * COLUMNS + c))
                    .collect();
                format!("({}, $1)", p.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO calls (id, webhook_id, tenant_id, delivery_id, attempt, trigger, success, call, \
             created_at) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now);
        for (r, text) in chunk.iter().zip(chunk_texts) {
            query = query
                .bind(unique_id("CAL"))
                .bind(&r.webhook_id)
                .bind(&r.tenant_id)
                .bind(&r.delivery_id)
                .bind(r.attempt)
                .bind(&r.trigger)
                .bind(i64::from(r.call.success))
                .bind(text);
        }
        query.execute(&mut *tx).await?;
    }
    // Statistics: one UPDATE … FROM (VALUES …) per chunk of webhooks, however many webhooks
    // the batch touches (a fan-out finishes one call for each of a thousand webhooks).
    let statistics = batch_statistics(records, &texts);
    for chunk in statistics.chunks(STATISTICS_CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|r| {
                let p = |c: usize| 1 + r * STATISTICS_COLUMNS + c;
                format!(
                    "(${}, CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), \
                     CAST(${} AS BIGINT), CAST(${} AS BIGINT), ${}, ${}, ${})",
                    p(0),
                    p(1),
                    p(2),
                    p(3),
                    p(4),
                    p(5),
                    p(6),
                    p(7),
                    p(8)
                )
            })
            .collect();
        let sql = format!(
            "WITH v (id, total, successes, failures, succeeded, failures_since, last_success, \
             last_failure, last_call) AS (VALUES {}) \
             UPDATE webhooks SET stat_total = stat_total + v.total, \
             stat_successes = stat_successes + v.successes, \
             stat_failures = stat_failures + v.failures, \
             stat_failures_since = CASE WHEN v.succeeded = 1 THEN v.failures_since \
             ELSE stat_failures_since + v.failures_since END, \
             last_success = COALESCE(v.last_success, webhooks.last_success), \
             last_failure = COALESCE(v.last_failure, webhooks.last_failure), \
             last_call = v.last_call FROM v WHERE webhooks.id = v.id",
            rows.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (webhook_id, stats) in chunk {
            query = query
                .bind(*webhook_id)
                .bind(stats.total)
                .bind(stats.successes)
                .bind(stats.total - stats.successes)
                .bind(i64::from(stats.last_success.is_some()))
                .bind(stats.failures_since)
                .bind(stats.last_success)
                .bind(stats.last_failure)
                .bind(stats.last_call);
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(webhook: &str, success: bool) -> CallRecord {
        CallRecord {
            webhook_id: webhook.into(),
            tenant_id: "TEN-1".into(),
            delivery_id: None,
            attempt: 1,
            trigger: "test".into(),
            call: Call {
                success,
                call_time: String::new(),
                response_time: None,
                headers: String::new(),
                error: String::new(),
                response: String::new(),
                reason_phrase: String::new(),
                http_status_code: if success { 200 } else { 500 },
            },
        }
    }

    #[test]
    fn unique_ids_sort_by_time() {
        let first = unique_id("CAL");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = unique_id("CAL");
        assert_eq!(first.len(), "CAL-".len() + 9 + 16);
        assert!(first < second, "{first} !< {second}");
        assert_ne!(unique_id("CAL"), unique_id("CAL"));
    }

    #[test]
    fn a_batch_sums_per_webhook_and_keeps_the_run_of_failures_after_the_last_success() {
        let records = [
            record("A", false),
            record("B", true),
            record("A", true),
            record("A", false),
            record("A", false),
        ];
        let texts: Vec<String> = (0..records.len()).map(|i| format!("call {i}")).collect();
        let stats = batch_statistics(&records, &texts);
        assert_eq!(stats.len(), 2);
        let (id, a) = &stats[0];
        assert_eq!(*id, "A");
        assert_eq!((a.total, a.successes, a.failures_since), (4, 1, 2));
        assert_eq!(
            (a.last_success, a.last_failure, a.last_call),
            (Some("call 2"), Some("call 4"), "call 4")
        );
        let (id, b) = &stats[1];
        assert_eq!(*id, "B");
        assert_eq!(
            (b.total, b.successes, b.failures_since, b.last_failure),
            (1, 1, 0, None)
        );
        let failing = batch_statistics(&records[..1], &texts[..1]);
        assert_eq!(
            (failing[0].1.failures_since, failing[0].1.last_success),
            (1, None)
        );
    }
}
