//! Retention: what old rows the host deletes, in bounded batches.

use super::{Result, Store};
use crate::time::now_ms;

/// What one retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Expired smartml replay entries.
    pub replay: u64,
    /// Call-log entries.
    pub calls: u64,
    /// Hours of the call log's sums ([`super::CallBucket`]) that ended before the cut.
    pub call_buckets: u64,
    /// Finished deliveries.
    pub deliveries: u64,
    /// Notifications.
    pub notifications: u64,
    /// Rotated-out secrets past their grace period.
    pub secrets: u64,
    /// Idempotency keys of redelivery requests.
    pub redelivery_keys: u64,
    /// Rate-limit windows that ended.
    pub rate_windows: u64,
}

impl Store {
    /// Deletes what retention no longer keeps: call-log entries and their hourly sums, finished (`succeeded` or
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
        self.fold_calls().await?;
        let calls = self
            .delete_batched("DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE created_at < $1 LIMIT $2)", before)
            .await?;
        let call_buckets = self
            .delete_batched(
                "DELETE FROM call_buckets WHERE (webhook_id, bucket, tenant_id) IN (SELECT \
                 webhook_id, bucket, tenant_id FROM call_buckets WHERE bucket < $1 LIMIT $2)",
                before - super::BUCKET_MS,
            )
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
        let redelivery_keys = self
            .delete_batched(
                "DELETE FROM redelivery_keys WHERE (caller, key) IN (SELECT caller, key FROM \
                 redelivery_keys WHERE created_at < $1 LIMIT $2)",
                before,
            )
            .await?;
        // A minute's window is over a minute after it started.
        let rate_windows = self
            .delete_batched(
                "DELETE FROM rate_windows WHERE (webhook_id, window_start) IN (SELECT webhook_id, \
                 window_start FROM rate_windows WHERE window_start < $1 LIMIT $2)",
                now - 120_000,
            )
            .await?;
        Ok(PruneReport {
            rate_windows,
            redelivery_keys,
            replay,
            calls,
            call_buckets,
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
}
