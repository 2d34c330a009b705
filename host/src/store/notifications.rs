//! What the host tells a webhook's owner: e.g. that it disabled the webhook by itself.

use super::{Result, Scope, Store, new_id};
use crate::time::now_ms;
use sqlx::{AssertSqlSafe, Row};

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

impl Store {
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
