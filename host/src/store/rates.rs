//! Rate limits per webhook, held across every instance: calls are counted per fixed window (a
//! second or a minute) in the database, and an instance takes the right to make some of them
//! in small batches, so a window never sees more calls than the limit allows, whichever
//! instances make them. A receiver that answers 429 (or asks for a pause with `Retry-After`)
//! lowers its webhook's rate for a while.

use super::{Result, Store};
use crate::time::now_ms;
use serde::{Deserialize, Serialize};

/// How many calls a webhook may receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RateLimit {
    /// Calls per second.
    PerSecond(u64),
    /// Calls per minute.
    PerMinute(u64),
}

impl RateLimit {
    /// The window the calls are counted in, in ms.
    pub fn window_ms(self) -> i64 {
        match self {
            RateLimit::PerSecond(_) => 1_000,
            RateLimit::PerMinute(_) => 60_000,
        }
    }

    /// Calls allowed per window.
    pub fn calls(self) -> u64 {
        match self {
            RateLimit::PerSecond(n) | RateLimit::PerMinute(n) => n,
        }
    }
}

impl Store {
    /// Takes `want` calls of webhook `id`'s window starting at `window_start`, when at most
    /// `limit` are then used; true when they were granted.
    pub async fn take_rate_tokens(
        &self,
        id: &str,
        window_start: i64,
        want: i64,
        limit: i64,
    ) -> Result<bool> {
        let _turn = self.write_turn().await;
        let granted = sqlx::query(
            "INSERT INTO rate_windows (webhook_id, window_start, used) \
             SELECT $1, $2, $3 WHERE $3 <= $4 \
             ON CONFLICT (webhook_id, window_start) DO UPDATE SET used = rate_windows.used + $3 \
             WHERE rate_windows.used + $3 <= $4",
        )
        .bind(id)
        .bind(window_start)
        .bind(want)
        .bind(limit)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(granted == 1)
    }

    /// The receiver of webhook `id` asked to slow down: its rate is divided by twice what it
    /// was (at most 16) until `until`.
    pub async fn lower_rate(&self, id: &str, until: i64) -> Result<()> {
        let now = now_ms();
        let _turn = self.write_turn().await;
        sqlx::query(
            "UPDATE webhooks SET rate_divisor = CASE WHEN rate_lowered_until IS NULL \
             OR rate_lowered_until < $1 THEN 2 WHEN rate_divisor >= 8 THEN 16 \
             ELSE rate_divisor * 2 END, \
             rate_lowered_until = CASE WHEN rate_lowered_until > $2 THEN rate_lowered_until \
             ELSE $2 END WHERE id = $3",
        )
        .bind(now)
        .bind(until)
        .bind(id)
        .execute(self.pool())
        .await?;
        self.changed();
        Ok(())
    }

    /// Makes webhook `id`'s pending deliveries due at `until` at the earliest (a receiver's
    /// `Retry-After`).
    pub async fn pause_webhook(&self, id: &str, until: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        super::circuits::pause_deliveries(&mut tx, id, until).await?;
        tx.commit().await?;
        Ok(())
    }
}
