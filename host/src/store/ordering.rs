//! Ordered delivery: a webhook with `ordering: fifo` receives the deliveries of one record in
//! the order they were planned. A delivery's id is time-ordered (`unique_id`), so "planned
//! before" is "smaller id"; only deliveries planned for such webhooks are `ordered` and in the
//! partial index these queries use, so other deliveries cost nothing.

use super::{Result, Store, read_word};
use crate::time::now_ms;
use crate::vocab::DeliveryStatus;
use sqlx::Row;

/// What holds an ordered delivery back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldBack {
    /// The earlier delivery's status: pending (waiting for its attempt) or in flight.
    pub status: DeliveryStatus,
    /// When the earlier one is due (pending).
    pub due_at: i64,
}

impl Store {
    /// The earliest unfinished delivery of the same webhook and record planned before
    /// ordered delivery `id`, if any.
    pub async fn held_back_by(
        &self,
        webhook_id: &str,
        record_id: &str,
        id: &str,
    ) -> Result<Option<HeldBack>> {
        let row = sqlx::query(
            "SELECT status, next_attempt_at FROM deliveries WHERE ordered = 1 \
             AND webhook_id = $1 AND record_id = $2 AND id < $3 \
             AND status IN ('pending', 'in_flight') ORDER BY id LIMIT 1",
        )
        .bind(webhook_id)
        .bind(record_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(HeldBack {
                status: read_word(&row, "status", DeliveryStatus::parse)?,
                due_at: row.try_get("next_attempt_at")?,
            })
        })
        .transpose()
    }

    /// An ordered delivery of the webhook and record finished: the ones held back behind it
    /// are due now (each checks the order again).
    pub async fn release_held(&self, webhook_id: &str, record_id: &str) -> Result<()> {
        let now = now_ms();
        let _turn = self.write_turn().await;
        sqlx::query(
            "UPDATE deliveries SET next_attempt_at = $1 WHERE ordered = 1 AND webhook_id = $2 \
             AND record_id = $3 AND status = 'pending' AND next_attempt_at > $1 AND attempts = 0",
        )
        .bind(now)
        .bind(webhook_id)
        .bind(record_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
