//! The call log summed per webhook, tenant and hour (`call_buckets`), written in the same
//! transaction as the log rows: statistics over time (calls, successes and failures, duration
//! percentiles) read a handful of rows however many calls a webhook made.
//!
//! Durations are counted in fixed bins ([`DURATION_BOUNDS_MS`]); a percentile is the upper
//! bound of the bin it falls in, so "p99 ≤ 20 ms" is exact about what it says.

use super::{CallRecord, Result, Store};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

/// The length of a bucket.
pub const BUCKET_MS: i64 = 3_600_000;

/// Upper bounds of the duration bins, in ms; the last bin counts everything longer.
pub const DURATION_BOUNDS_MS: [i64; 13] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000,
];

/// Number of duration bins (the bounds, and one for everything longer).
const BINS: usize = DURATION_BOUNDS_MS.len() + 1;

/// Bucket rows per statement (each binds 6 + [`BINS`] values).
const ROWS_PER_STATEMENT: usize = 24;

/// One hour of one webhook's calls (all tenants' together, or one tenant's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallBucket {
    /// Start of the hour, Unix ms.
    pub start_ms: i64,
    /// Calls that started in it.
    pub calls: i64,
    /// Of which succeeded.
    pub successes: i64,
    /// Their durations, summed (ms).
    pub duration_ms: i64,
    /// Calls per duration bin ([`DURATION_BOUNDS_MS`], then longer).
    pub durations: [i64; BINS],
}

impl CallBucket {
    /// Calls that failed.
    pub fn failures(&self) -> i64 {
        self.calls - self.successes
    }

    /// The upper bound (ms) of the duration bin holding the `q` quantile (0 < q ≤ 1); `None`
    /// without calls, and for calls longer than the last bound.
    pub fn quantile_ms(&self, q: f64) -> Option<i64> {
        let counted: i64 = self.durations.iter().sum();
        if counted == 0 {
            return None;
        }
        let rank = ((counted as f64) * q).ceil().max(1.0) as i64;
        let mut seen = 0;
        for (bin, n) in self.durations.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return DURATION_BOUNDS_MS.get(bin).copied();
            }
        }
        None
    }

    /// `other` added to this bucket.
    pub fn add(&mut self, other: &CallBucket) {
        self.calls += other.calls;
        self.successes += other.successes;
        self.duration_ms += other.duration_ms;
        for (mine, theirs) in self.durations.iter_mut().zip(other.durations) {
            *mine += theirs;
        }
    }
}

/// The duration bin of a call of `ms`.
fn bin_of(ms: i64) -> usize {
    DURATION_BOUNDS_MS
        .iter()
        .position(|bound| ms <= *bound)
        .unwrap_or(BINS - 1)
}

/// Unix ms of an RFC 3339 time as the call log spells it.
fn parse_ms(text: &str) -> Option<i64> {
    let at = ::time::OffsetDateTime::parse(text, &::time::format_description::well_known::Rfc3339)
        .ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `records` summed per (webhook, hour, tenant), in key order (so that concurrent writers
/// take the rows' locks in one order). A call is counted in the hour it started; one without
/// an answer time has no duration and is counted in the longest bin only when it has one.
fn sum(records: &[CallRecord], now: i64) -> BTreeMap<(&str, i64, &str), CallBucket> {
    let mut buckets: BTreeMap<(&str, i64, &str), CallBucket> = BTreeMap::new();
    for record in records {
        let started = parse_ms(&record.call.call_time).unwrap_or(now);
        let start = started.div_euclid(BUCKET_MS) * BUCKET_MS;
        let bucket = buckets
            .entry((&record.webhook_id, start, &record.tenant_id))
            .or_insert_with(|| CallBucket {
                start_ms: start,
                ..CallBucket::default()
            });
        bucket.calls += 1;
        bucket.successes += i64::from(record.call.success);
        if let Some(ended) = record.call.response_time.as_deref().and_then(parse_ms) {
            let ms = (ended - started).max(0);
            bucket.duration_ms += ms;
            bucket.durations[bin_of(ms)] += 1;
        }
    }
    buckets
}

/// Adds `records` to their buckets, inside the call log's transaction.
pub(super) async fn write_buckets(
    tx: &mut sqlx::AnyConnection,
    records: &[CallRecord],
) -> Result<()> {
    let columns = 6 + BINS;
    let bins: Vec<String> = (0..BINS).map(|b| format!("d{b:02}")).collect();
    let summed: Vec<_> = sum(records, crate::time::now_ms()).into_iter().collect();
    for chunk in summed.chunks(ROWS_PER_STATEMENT) {
        let mut params = super::Params::of(tx);
        let rows: Vec<String> = (0..chunk.len())
            .map(|_| {
                let p: Vec<String> = (0..columns).map(|_| params.next()).collect();
                format!("({})", p.join(", "))
            })
            .collect();
        let updates: Vec<String> = ["calls", "successes", "duration_ms"]
            .iter()
            .map(|c| c.to_string())
            .chain(bins.iter().cloned())
            .map(|c| format!("{c} = call_buckets.{c} + excluded.{c}"))
            .collect();
        let sql = format!(
            "INSERT {}INTO call_buckets (webhook_id, bucket, tenant_id, calls, successes, \
             duration_ms, {}) VALUES {} ON CONFLICT (webhook_id, bucket, tenant_id) DO UPDATE \
             SET {}",
            super::or_fail(tx),
            bins.join(", "),
            rows.join(", "),
            updates.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for ((webhook, start, tenant), bucket) in chunk {
            query = query
                .bind(*webhook)
                .bind(*start)
                .bind(*tenant)
                .bind(bucket.calls)
                .bind(bucket.successes)
                .bind(bucket.duration_ms);
            for n in bucket.durations {
                query = query.bind(n);
            }
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

impl Store {
    /// Webhook `webhook_id`'s hours from `from_ms` on (the hour holding it included), oldest
    /// first, every hour up to `to_ms` present (empty ones zero); with `tenant_id`, that
    /// tenant's calls only.
    ///
    /// Takes no scope: callers pass a webhook the caller's scope showed them (as for
    /// [`Store::list_calls_matching`]), and a tenant's own id.
    pub async fn call_buckets(
        &self,
        webhook_id: &str,
        tenant_id: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<CallBucket>> {
        let first = from_ms.div_euclid(BUCKET_MS) * BUCKET_MS;
        // SUM of BIGINT is NUMERIC on PostgreSQL: cast back.
        let sum = |column: &str| format!("CAST(SUM({column}) AS BIGINT) AS {column}");
        let columns: Vec<String> = ["calls", "successes", "duration_ms"]
            .iter()
            .map(|c| c.to_string())
            .chain((0..BINS).map(|b| format!("d{b:02}")))
            .map(|c| sum(&c))
            .collect();
        let sql = format!(
            "SELECT bucket, {} FROM call_buckets \
             WHERE webhook_id = $1 AND ($2 = '' OR tenant_id = $2) AND bucket >= $3 \
             AND bucket <= $4 GROUP BY bucket ORDER BY bucket",
            columns.join(", ")
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(webhook_id)
            .bind(tenant_id.unwrap_or(""))
            .bind(first)
            .bind(to_ms)
            .fetch_all(self.pool())
            .await?;
        let mut stored = BTreeMap::new();
        for row in &rows {
            let mut bucket = CallBucket {
                start_ms: row.try_get("bucket")?,
                calls: row.try_get("calls")?,
                successes: row.try_get("successes")?,
                duration_ms: row.try_get("duration_ms")?,
                durations: [0; BINS],
            };
            for (b, n) in bucket.durations.iter_mut().enumerate() {
                *n = row.try_get(format!("d{b:02}").as_str())?;
            }
            stored.insert(bucket.start_ms, bucket);
        }
        let mut out = Vec::new();
        let mut start = first;
        while start <= to_ms {
            out.push(stored.remove(&start).unwrap_or(CallBucket {
                start_ms: start,
                ..CallBucket::default()
            }));
            start += BUCKET_MS;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Call;
    use crate::vocab::TriggerSource;

    fn record(webhook: &str, tenant: &str, at: &str, ended: Option<&str>, ok: bool) -> CallRecord {
        CallRecord {
            webhook_id: webhook.into(),
            tenant_id: tenant.into(),
            delivery_id: None,
            attempt: 1,
            trigger: TriggerSource::Test,
            call: Call {
                success: ok,
                call_time: at.into(),
                response_time: ended.map(str::to_owned),
                headers: String::new(),
                error: String::new(),
                response: String::new(),
                reason_phrase: String::new(),
                http_status_code: 200,
                skipped: None,
            },
            detail: Default::default(),
        }
    }

    #[test]
    fn calls_are_summed_per_webhook_hour_and_tenant_with_their_durations_binned() {
        let records = [
            record(
                "A",
                "T1",
                "2026-12-02T07:12:03.000Z",
                Some("2026-12-02T07:12:03.004Z"),
                true,
            ),
            record(
                "A",
                "T1",
                "2026-12-02T07:59:59.999Z",
                Some("2026-12-02T07:12:04.000Z"),
                false,
            ),
            record(
                "A",
                "T1",
                "2026-12-02T08:00:00.000Z",
                Some("2026-12-02T08:00:00.030Z"),
                true,
            ),
            record("A", "T2", "2026-12-02T07:30:00.000Z", None, false),
        ];
        let summed = sum(&records, 0);
        let keys: Vec<_> = summed
            .keys()
            .map(|(w, s, t)| (*w, *s % 86_400_000 / BUCKET_MS, *t))
            .collect();
        assert_eq!(keys, [("A", 7, "T1"), ("A", 7, "T2"), ("A", 8, "T1")]);
        let first = &summed.values().next().unwrap();
        assert_eq!((first.calls, first.successes, first.failures()), (2, 1, 1));
        // 4 ms, and an answer before the start counted as 0 ms.
        assert_eq!(first.durations[bin_of(4)], 1);
        assert_eq!(first.durations[0], 1);
        let unanswered = summed.values().nth(1).unwrap();
        assert_eq!(
            (unanswered.calls, unanswered.durations.iter().sum::<i64>()),
            (1, 0)
        );
    }

    #[test]
    fn percentiles_are_the_upper_bound_of_their_bin() {
        let mut bucket = CallBucket::default();
        assert_eq!(bucket.quantile_ms(0.5), None);
        bucket.durations[bin_of(3)] = 98; // ≤ 5 ms
        bucket.durations[bin_of(150)] = 2; // ≤ 200 ms
        assert_eq!(bucket.quantile_ms(0.5), Some(5));
        assert_eq!(bucket.quantile_ms(0.98), Some(5));
        assert_eq!(bucket.quantile_ms(0.99), Some(200));
        bucket.durations[BINS - 1] = 1000;
        assert_eq!(bucket.quantile_ms(0.99), None);
        assert_eq!(bin_of(0), 0);
        assert_eq!(bin_of(10_001), BINS - 1);
    }
}
