//! Webhooks' circuit breakers, in the database so every instance shares them: opened by a run
//! of failures, probed by one call at a time at growing intervals, closed by a probe that
//! succeeds. Each change is a compare-and-set, so of several instances exactly one opens a
//! circuit, takes a probe or closes it.

use super::{Circuit, Result, Store};
use crate::time::now_ms;
use crate::vocab::CircuitState;
use sqlx::Row;
use std::collections::BTreeMap;

impl Store {
    /// Opens webhook `id`'s circuit when it is closed and the webhook has failed `failures`
    /// times in a row; the first probe may run `interval_ms` from now. True when this call
    /// opened it.
    ///
    /// The webhook's pending deliveries are paused in the same transaction (due at the probe
    /// time at the earliest), so no instance claims them meanwhile, whatever it has cached.
    pub async fn open_circuit(&self, id: &str, failures: i64, interval_ms: i64) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhooks SET circuit_state = 'open', circuit_opened_at = $1, \
             circuit_probe_at = $2, circuit_interval_ms = $3 WHERE id = $4 \
             AND circuit_state = 'closed' AND status = 'enabled' AND stat_failures_since >= $5",
        )
        .bind(now)
        .bind(now + interval_ms)
        .bind(interval_ms)
        .bind(id)
        .bind(failures)
        .execute(&mut *tx)
        .await?;
        let opened = done.rows_affected() == 1;
        if opened {
            pause_deliveries(&mut tx, id, now + interval_ms).await?;
        }
        tx.commit().await?;
        if opened {
            self.changed();
        }
        Ok(opened)
    }

    /// Takes the probe of webhook `id`'s open circuit when it is due (or when the probe in
    /// flight outlived its hold: its instance died), holding it for `hold_ms` (longer than
    /// any call); true when this caller makes the probe call.
    pub async fn take_probe(&self, id: &str, hold_ms: i64) -> Result<bool> {
        let now = now_ms();
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "UPDATE webhooks SET circuit_state = 'probing', circuit_probe_at = $1 WHERE id = $2 \
             AND circuit_state IN ('open', 'probing') AND circuit_probe_at <= $3",
        )
        .bind(now + hold_ms)
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The probe failed: the circuit is open again and the next probe waits twice as long
    /// (at most `max_interval_ms`). Returns the circuit as it is now.
    pub async fn probe_failed(&self, id: &str, max_interval_ms: i64) -> Result<Circuit> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let reopened = sqlx::query(
            "UPDATE webhooks SET circuit_state = 'open', \
             circuit_interval_ms = CASE WHEN circuit_interval_ms * 2 > $1 THEN $1 \
             ELSE circuit_interval_ms * 2 END, \
             circuit_probe_at = $2 + CASE WHEN circuit_interval_ms * 2 > $1 THEN $1 \
             ELSE circuit_interval_ms * 2 END \
             WHERE id = $3 AND circuit_state = 'probing'",
        )
        .bind(max_interval_ms)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let circuit = circuit_in(&mut tx, id).await?;
        if reopened && let Some(probe_at) = circuit.probe_at {
            pause_deliveries(&mut tx, id, probe_at).await?;
        }
        tx.commit().await?;
        self.changed();
        Ok(circuit)
    }

    /// The probe succeeded: the circuit closes and the webhook's paused deliveries are due
    /// now. True when this call closed it.
    pub async fn close_circuit(&self, id: &str) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhooks SET circuit_state = 'closed', circuit_opened_at = NULL, \
             circuit_probe_at = NULL, circuit_interval_ms = NULL WHERE id = $1 \
             AND circuit_state <> 'closed'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let closed = done.rows_affected() == 1;
        if closed {
            // Paused deliveries wait for the next probe time; they run now.
            sqlx::query(
                "UPDATE deliveries SET next_attempt_at = $1 WHERE webhook_id = $2 \
                 AND status = 'pending' AND next_attempt_at > $1",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if closed {
            self.changed();
        }
        Ok(closed)
    }

    /// Webhook `id`'s circuit.
    pub async fn circuit(&self, id: &str) -> Result<Circuit> {
        let mut connection = self.pool().acquire().await?;
        circuit_in(&mut connection, id).await
    }

    /// Webhooks by circuit state, and the ids of those not closed (metrics).
    pub async fn circuits(
        &self,
    ) -> Result<(BTreeMap<CircuitState, i64>, Vec<(String, CircuitState)>)> {
        let rows =
            sqlx::query("SELECT circuit_state, COUNT(*) AS n FROM webhooks GROUP BY circuit_state")
                .fetch_all(self.pool())
                .await?;
        let mut counts = BTreeMap::new();
        for row in &rows {
            counts.insert(
                super::read_word(row, "circuit_state", CircuitState::parse)?,
                row.try_get("n")?,
            );
        }
        let rows = sqlx::query(
            "SELECT id, circuit_state FROM webhooks WHERE circuit_state <> 'closed' ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        let open = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("id")?,
                    super::read_word(row, "circuit_state", CircuitState::parse)?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok((counts, open))
    }
}

/// Webhook `id`'s circuit, read on `connection`.
async fn circuit_in(connection: &mut sqlx::AnyConnection, id: &str) -> Result<Circuit> {
    let row = sqlx::query(
        "SELECT circuit_state, circuit_opened_at, circuit_probe_at, circuit_interval_ms \
         FROM webhooks WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *connection)
    .await?
    .ok_or(super::StoreError::NotFound)?;
    Ok(Circuit {
        state: super::read_word(&row, "circuit_state", CircuitState::parse)?,
        opened_at: row.try_get("circuit_opened_at")?,
        probe_at: row.try_get("circuit_probe_at")?,
        interval_ms: row.try_get("circuit_interval_ms")?,
    })
}

/// Makes webhook `id`'s pending deliveries due at `until` at the earliest: paused until the
/// next probe. (Those due later keep their time.)
pub(super) async fn pause_deliveries(
    tx: &mut sqlx::AnyConnection,
    id: &str,
    until: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE deliveries SET next_attempt_at = $1 WHERE webhook_id = $2 \
         AND status = 'pending' AND next_attempt_at < $1",
    )
    .bind(until)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
