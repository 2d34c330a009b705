//! What the host tells a webhook's owner: e.g. that it disabled the webhook by itself, or that
//! its circuit opened. Each is a notification (listed by the API) and an operational event
//! (`webhook.<kind>`) planned into the outbox, in the same transaction, for the owner's
//! enabled URL webhooks that subscribe to it.

use super::{NewDelivery, Result, Scope, Store, new_id};
use crate::events::EventType;
use crate::sandbox::Event;
use crate::time::now_ms;
use crate::vocab::{OpsEvent, TriggerSource};
use sqlx::{AssertSqlSafe, Row};

/// Writes a notification about webhook `about` for its owner and plans operational event
/// `event` (with `payload`) for the owner's other enabled URL webhooks that name it in their
/// `eventTypes`, inside `tx`.
async fn tell_owner(
    tx: &mut sqlx::AnyConnection,
    about: &str,
    event: OpsEvent,
    kind: &str,
    message: &str,
    payload: &str,
    now: i64,
) -> Result<String> {
    let notification_id = new_id("NTF");
    sqlx::query(
        "INSERT INTO notifications (id, webhook_id, owner_kind, owner_id, kind, message, created_at) \
         SELECT $1, id, owner_kind, owner_id, $2, $3, $4 FROM webhooks WHERE id = $5",
    )
    .bind(&notification_id)
    .bind(kind)
    .bind(message)
    .bind(now)
    .bind(about)
    .execute(&mut *tx)
    .await?;
    let event_type = EventType::Operational(event);
    // The subscription is named explicitly, so a LIKE narrows the candidates before each is
    // read properly.
    let rows = sqlx::query(
        "SELECT s.id, s.event_types FROM webhooks s JOIN webhooks w ON w.id = $1 \
         AND s.owner_kind = w.owner_kind AND s.owner_id = w.owner_id \
         WHERE s.id <> w.id AND s.status = 'enabled' AND s.url IS NOT NULL \
         AND s.event_types LIKE $2",
    )
    .bind(about)
    .bind(format!("%\"{event_type}\"%"))
    .fetch_all(&mut *tx)
    .await?;
    let mut planned = Vec::new();
    for row in &rows {
        let types: Vec<EventType> = serde_json::from_str(&row.try_get::<String, _>("event_types")?)
            .map_err(|e| super::StoreError::Corrupt(e.to_string()))?;
        if types.contains(&event_type) {
            planned.push(NewDelivery {
                webhook_id: row.try_get("id")?,
                tenant_id: String::new(),
                trigger: TriggerSource::Operations,
                module: event_type.module(),
                record_id: about.to_owned(),
                event: Event::Update,
                payload: payload.to_owned(),
                parameters: Vec::new(),
                ordered: false,
                traceparent: crate::telemetry::current_traceparent(),
            });
        }
    }
    super::outbox::insert_deliveries(tx, &planned).await?;
    Ok(notification_id)
}

/// Something the host tells a webhook's owner, e.g. that it disabled the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// `NTF-…`
    pub id: String,
    /// The webhook it is about.
    pub webhook_id: String,
    /// `gone` (the endpoint answered 410), `failing` (a run of failures, or a circuit open for
    /// too long), `circuit-opened`, `circuit-closed`.
    pub kind: String,
    /// For humans.
    pub message: String,
    /// When, Unix ms.
    pub created_at: i64,
}

impl Store {
    /// Disables webhook `id` on the host's own initiative and writes a notification for its
    /// owner, in one transaction. With `min_failures`, only when the webhook has failed at
    /// least that many times in a row. Returns the notification when this call disabled it
    /// (false when it already was disabled, or the failures do not reach the threshold), so
    /// concurrent workers on any instance notify once.
    ///
    /// The owner's webhooks that subscribe to `webhook.disabled` get `payload`.
    pub async fn disable_webhook_automatically(
        &self,
        id: &str,
        kind: &str,
        message: &str,
        min_failures: Option<i64>,
        payload: &str,
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
        let notification_id =
            tell_owner(&mut tx, id, OpsEvent::Disabled, kind, message, payload, now).await?;
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

    /// Tells webhook `id`'s owner about `event` (a notification of that kind, and the
    /// operational event with `payload` for the owner's webhooks that subscribe to it).
    pub async fn notify_owner(
        &self,
        id: &str,
        event: OpsEvent,
        message: &str,
        payload: &str,
    ) -> Result<Notification> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let kind = event.as_str();
        let notification_id = tell_owner(&mut tx, id, event, kind, message, payload, now).await?;
        tx.commit().await?;
        Ok(Notification {
            id: notification_id,
            webhook_id: id.to_owned(),
            kind: kind.to_owned(),
            message: message.to_owned(),
            created_at: now,
        })
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
        let everything = super::Listing::all(&super::lists::NOTIFICATIONS);
        self.list_notifications_matching(scope, webhook_id, &everything, offset, limit)
            .await
    }

    /// A page of the notifications about webhook `id` that `listing` keeps, in its order
    /// (newest first unless asked otherwise), and their total; only the webhook's owner
    /// `scope` sees them.
    pub async fn list_notifications_matching(
        &self,
        scope: &Scope,
        webhook_id: &str,
        listing: &super::Listing<super::lists::Notifications>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Notification>, i64)> {
        let list = listing.sql(self.backend(), 4);
        let matching = format!(
            "owner_kind = $1 AND owner_id = $2 AND webhook_id = $3 AND {}",
            list.condition
        );
        let count = format!("SELECT COUNT(*) AS n FROM notifications WHERE {matching}");
        let total: i64 = list
            .bind(
                sqlx::query(AssertSqlSafe(count))
                    .bind(scope.kind())
                    .bind(scope.id())
                    .bind(webhook_id),
            )
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        let sql = format!(
            "SELECT id, webhook_id, kind, message, created_at FROM notifications WHERE {matching} \
             ORDER BY {} LIMIT ${} OFFSET ${}",
            list.order,
            list.next,
            list.next + 1
        );
        let rows = list
            .bind(
                sqlx::query(AssertSqlSafe(sql))
                    .bind(scope.kind())
                    .bind(scope.id())
                    .bind(webhook_id),
            )
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
