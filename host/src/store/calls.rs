//! The call log and the statistics it feeds: every attempt of every webhook, written in
//! batches with the statistics update of the same transaction.

use super::{Call, Params, ROWS_PER_STATEMENT, Result, Store, or_fail, read_word, unique_id};
use crate::sandbox::LogLine;
use crate::time::now_ms;
use crate::vocab::TriggerSource;
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Row};

/// What the call log keeps of a call beside its Call object: the start of the request as
/// it was sent, and the lines the plugin logged. Both are cut short by the executor; an
/// erasure empties them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallDetail {
    /// The request body: the payload a component was given, or the body a URL webhook was
    /// sent (after its transform).
    #[serde(default)]
    pub request: String,
    /// The lines the component (or the transform) logged: `host.log`, stdout, stderr.
    #[serde(default)]
    pub log: Vec<LogLine>,
}

impl CallDetail {
    /// Whether there is nothing to keep.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.log.is_empty()
    }
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
    pub trigger: TriggerSource,
    /// The Call object.
    pub call: Call,
    /// The request's excerpt and the plugin's log lines.
    pub detail: CallDetail,
}

impl CallRecord {
    /// The record of a synchronous call (Ivanti execute, validation, a test call): no
    /// delivery, one attempt.
    pub fn synchronous(
        webhook_id: &str,
        tenant_id: &str,
        trigger: TriggerSource,
        call: Call,
        detail: CallDetail,
    ) -> Self {
        CallRecord {
            webhook_id: webhook_id.to_owned(),
            tenant_id: tenant_id.to_owned(),
            delivery_id: None,
            attempt: 1,
            trigger,
            call,
            detail,
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
    pub trigger: TriggerSource,
    /// The Call object.
    #[serde(flatten)]
    pub call: Call,
    /// The request's excerpt and the plugin's log lines.
    #[serde(flatten)]
    pub detail: CallDetail,
}

/// Webhooks per statistics statement.
const STATISTICS_CHUNK: usize = 32;

/// One webhook's calls in a batch of call records, summed for a single statistics update.
#[derive(Debug, Default, PartialEq, Eq)]
struct BatchStatistics {
    total: i64,
    successes: i64,
    /// Failures after the batch's last success (all of them when none succeeded).
    failures_since: i64,
    /// Indices in the batch of its last success, last failure and last call.
    last_success: Option<usize>,
    last_failure: Option<usize>,
    last_call: usize,
}

/// Sums `records` (in the order they happened) per webhook, in order of first appearance.
fn batch_statistics(records: &[CallRecord]) -> Vec<(&str, BatchStatistics)> {
    let mut out: Vec<(&str, BatchStatistics)> = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let position = match out.iter().position(|(id, _)| *id == record.webhook_id) {
            Some(position) => position,
            None => {
                out.push((&record.webhook_id, BatchStatistics::default()));
                out.len() - 1
            }
        };
        let stats = &mut out[position].1;
        stats.total += 1;
        stats.last_call = index;
        if record.call.success {
            stats.successes += 1;
            stats.failures_since = 0;
            stats.last_success = Some(index);
        } else {
            stats.failures_since += 1;
            stats.last_failure = Some(index);
        }
    }
    out
}

/// How the log rows of [`write_calls`] go in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Entry {
    /// Into `calls` at once: a batch of one webhook's calls (the recorder's), whose index
    /// entries share pages.
    Direct,
    /// On SQLite, into `calls_staged` first, moved into `calls` [`FOLD_ROWS`] at a time
    /// sorted by webhook (see [`fold_staged`]): the delivery pump's, whose cycle's calls are
    /// each another webhook's in a fan-out, and would each write a leaf page of the
    /// per-webhook index. PostgreSQL writes them directly.
    Staged,
}

/// Staged call-log entries folded into `calls` at once.
const FOLD_ROWS: i64 = 4096;

/// Moves the staged call-log entries into `calls` in webhook order, inside `tx` (SQLite; a
/// no-op on PostgreSQL, which stages nothing): each leaf page of the per-webhook index is
/// then written once per fold instead of once per entry. Readers of the call log fold first
/// (see [`Store::fold_calls`]), so staging is never seen.
pub(super) async fn fold_staged(tx: &mut sqlx::AnyConnection) -> Result<()> {
    if tx.backend_name() != "SQLite" {
        return Ok(());
    }
    const COLUMNS: &str = "id, webhook_id, tenant_id, delivery_id, attempt, trigger, success, call, detail, created_at";
    sqlx::query(AssertSqlSafe(format!(
        "INSERT OR FAIL INTO calls ({COLUMNS}) SELECT {COLUMNS} FROM calls_staged \
         ORDER BY webhook_id, id"
    )))
    .execute(&mut *tx)
    .await?;
    // No WHERE: SQLite empties the table without visiting its rows.
    sqlx::query("DELETE FROM calls_staged")
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The log rows and statistics of `records`, inside `tx` (see [`Store::record_calls`]).
pub(super) async fn write_calls(
    tx: &mut sqlx::AnyConnection,
    records: &[CallRecord],
    entry: Entry,
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let staged = entry == Entry::Staged && tx.backend_name() == "SQLite";
    let table = if staged { "calls_staged" } else { "calls" };
    let now = now_ms();
    let statistics = batch_statistics(records);
    // The Call objects the statistics keep beside the log: each webhook's last call, last
    // success and last failure of the batch.
    let mut kept: Vec<Option<String>> = vec![None; records.len()];
    let mut wanted = vec![false; records.len()];
    for (_, stats) in &statistics {
        for index in [
            Some(stats.last_call),
            stats.last_success,
            stats.last_failure,
        ]
        .into_iter()
        .flatten()
        {
            wanted[index] = true;
        }
    }
    for (number, chunk) in records.chunks(ROWS_PER_STATEMENT).enumerate() {
        // Serialized a statement's rows at a time, the statement awaited in between: a batch
        // of hundreds of calls does not hold a runtime worker for milliseconds.
        let first = number * ROWS_PER_STATEMENT;
        let mut params = Params::of(tx);
        let rows: Vec<String> = chunk
            .iter()
            .map(|_| {
                format!(
                    "({})",
                    (0..10)
                        .map(|_| params.next())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        let sql = format!(
            "INSERT {}INTO {table} (id, webhook_id, tenant_id, delivery_id, attempt, trigger, \
             success, call, detail, created_at) VALUES {}",
            or_fail(tx),
            rows.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (index, r) in (first..).zip(chunk) {
            let text = serde_json::to_string(&r.call).expect("serializable");
            if wanted[index] {
                kept[index] = Some(text.clone());
            }
            let detail = (!r.detail.is_empty())
                .then(|| serde_json::to_string(&r.detail).expect("serializable"));
            query = query
                .bind(unique_id("CAL"))
                .bind(&r.webhook_id)
                .bind(&r.tenant_id)
                .bind(&r.delivery_id)
                .bind(r.attempt)
                .bind(r.trigger.as_str())
                .bind(i64::from(r.call.success))
                .bind(text)
                .bind(detail)
                .bind(now);
        }
        query.execute(&mut *tx).await?;
    }
    // Statistics: one UPDATE … FROM (VALUES …) per chunk of webhooks, however many webhooks
    // the batch touches (a fan-out finishes one call for each of a thousand webhooks).
    let text = |index: Option<usize>| index.and_then(|i| kept[i].clone());
    for chunk in statistics.chunks(STATISTICS_CHUNK) {
        let mut params = Params::of(tx);
        let rows: Vec<String> = chunk
            .iter()
            .map(|_| {
                let mut p = || params.next();
                format!(
                    "({}, CAST({} AS BIGINT), CAST({} AS BIGINT), CAST({} AS BIGINT), \
                     CAST({} AS BIGINT), CAST({} AS BIGINT), {}, {}, {})",
                    p(),
                    p(),
                    p(),
                    p(),
                    p(),
                    p(),
                    p(),
                    p(),
                    p()
                )
            })
            .collect();
        let sql = format!(
            "WITH v (id, total, successes, failures, succeeded, failures_since, last_success, \
             last_failure, last_call) AS (VALUES {}) \
             UPDATE {}webhooks SET stat_total = stat_total + v.total, \
             stat_successes = stat_successes + v.successes, \
             stat_failures = stat_failures + v.failures, \
             stat_failures_since = CASE WHEN v.succeeded = 1 THEN v.failures_since \
             ELSE stat_failures_since + v.failures_since END, \
             last_success = COALESCE(v.last_success, webhooks.last_success), \
             last_failure = COALESCE(v.last_failure, webhooks.last_failure), \
             last_call = v.last_call FROM v WHERE webhooks.id = v.id",
            rows.join(", "),
            or_fail(tx)
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
                .bind(text(stats.last_success))
                .bind(text(stats.last_failure))
                .bind(text(Some(stats.last_call)));
        }
        query.execute(&mut *tx).await?;
    }
    super::buckets::write_buckets(tx, records).await?;
    if staged {
        // Emptied by every fold, so its largest rowid counts what was staged since.
        let staged: i64 = sqlx::query("SELECT COALESCE(MAX(rowid), 0) AS n FROM calls_staged")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if staged >= FOLD_ROWS {
            fold_staged(tx).await?;
        }
    }
    Ok(())
}

impl Store {
    /// Appends calls to the log and updates each webhook's statistics and last calls, in one
    /// transaction; increments are atomic in SQL, so concurrent writers lose nothing.
    ///
    /// The log rows go in as multi-row INSERTs; each webhook's statistics are summed over the
    /// batch (a busy webhook's calls arrive in bursts) and updated with one statement per
    /// chunk of webhooks.
    pub async fn record_calls(&self, records: &[CallRecord]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        write_calls(&mut tx, records, Entry::Direct).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Folds the staged call-log entries into the log (see [`fold_staged`]) when there are
    /// any: what reads the log calls this first.
    pub async fn fold_calls(&self) -> Result<()> {
        if self.backend() != super::Backend::Sqlite {
            return Ok(());
        }
        let any: i64 =
            sqlx::query("SELECT CAST(EXISTS (SELECT 1 FROM calls_staged) AS BIGINT) AS any")
                .fetch_one(self.pool())
                .await?
                .try_get("any")?;
        if any == 0 {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        fold_staged(&mut tx).await?;
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
        let everything = super::Listing::all(&super::lists::CALLS);
        self.list_calls_matching(webhook_id, tenant_id, &everything, offset, limit)
            .await
    }

    /// A page of webhook `id`'s call log that `listing` keeps, in its order (newest first
    /// unless asked otherwise), and the total; with `tenant_id`, only that tenant's calls.
    pub async fn list_calls_matching(
        &self,
        webhook_id: &str,
        tenant_id: Option<&str>,
        listing: &super::Listing<super::lists::Calls>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<LoggedCall>, i64)> {
        self.fold_calls().await?;
        let list = listing.sql(self.backend(), 3);
        let matching = format!(
            "webhook_id = $1 AND ($2 = '' OR tenant_id = $2) AND {}",
            list.condition
        );
        let count = format!("SELECT COUNT(*) AS n FROM calls WHERE {matching}");
        let total: i64 = list
            .bind(
                sqlx::query(AssertSqlSafe(count))
                    .bind(webhook_id)
                    .bind(tenant_id.unwrap_or("")),
            )
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        let sql = format!(
            "SELECT id, delivery_id, attempt, trigger, call, detail FROM calls WHERE {matching} \
             ORDER BY {} LIMIT ${} OFFSET ${}",
            list.order,
            list.next,
            list.next + 1
        );
        let rows = list
            .bind(
                sqlx::query(AssertSqlSafe(sql))
                    .bind(webhook_id)
                    .bind(tenant_id.unwrap_or("")),
            )
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
                    trigger: read_word(r, "trigger", TriggerSource::parse)?,
                    call: serde_json::from_str(&r.try_get::<String, _>("call")?)
                        .map_err(|e| super::StoreError::Corrupt(e.to_string()))?,
                    detail: match r.try_get::<Option<String>, _>("detail")? {
                        None => CallDetail::default(),
                        Some(text) => serde_json::from_str(&text)
                            .map_err(|e| super::StoreError::Corrupt(e.to_string()))?,
                    },
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
        self.fold_calls().await?;
        // Ids are time-ordered (compared by code point): the failures since the last success
        // are those after its id, all read from the `calls_webhook_id` index.
        let id = match self.backend() {
            super::Backend::Sqlite => "id",
            super::Backend::Postgres => "id COLLATE \"C\"",
        };
        let sql = format!(
            "SELECT COUNT(*) AS total, COUNT(CASE WHEN success <> 0 THEN 1 END) AS successes, \
             COUNT(CASE WHEN success = 0 AND {id} > COALESCE((SELECT MAX(l.{id}) \
             FROM calls l WHERE l.webhook_id = $1 AND l.tenant_id = $2 AND l.success <> 0), '') \
             THEN 1 END) AS since FROM calls WHERE webhook_id = $1 AND tenant_id = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
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
        self.fold_calls().await?;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::TriggerSource;

    fn record(webhook: &str, success: bool) -> CallRecord {
        CallRecord {
            webhook_id: webhook.into(),
            tenant_id: "TEN-1".into(),
            delivery_id: None,
            attempt: 1,
            trigger: TriggerSource::Test,
            call: Call {
                success,
                call_time: String::new(),
                response_time: None,
                headers: String::new(),
                error: String::new(),
                response: String::new(),
                reason_phrase: String::new(),
                http_status_code: if success { 200 } else { 500 },
                skipped: None,
            },
            detail: CallDetail::default(),
        }
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
        let stats = batch_statistics(&records);
        assert_eq!(stats.len(), 2);
        let (id, a) = &stats[0];
        assert_eq!(*id, "A");
        assert_eq!((a.total, a.successes, a.failures_since), (4, 1, 2));
        assert_eq!(
            (a.last_success, a.last_failure, a.last_call),
            (Some(2), Some(4), 4)
        );
        let (id, b) = &stats[1];
        assert_eq!(*id, "B");
        assert_eq!(
            (b.total, b.successes, b.failures_since, b.last_failure),
            (1, 1, 0, None)
        );
        let failing = batch_statistics(&records[..1]);
        assert_eq!(
            (failing[0].1.failures_since, failing[0].1.last_success),
            (1, None)
        );
    }
}
