//! Which webhooks a tenant reaches: its own, those of the services it activated and those of
//! their providers that belong to no service, by smartml module, MPT type or Ivanti
//! extension (the execute paths' lookups).

use super::{Result, Store, Webhook};
use sqlx::AssertSqlSafe;

/// The webhooks (`w`) tenant `$1` reaches: its own, those of the services it activated, and
/// those that belong to no service of the providers whose services it activated.
const REACHABLE: &str = "((w.owner_kind = 'tenant' AND w.owner_id = $1) OR (w.owner_kind = 'provider' \
    AND w.service_id IN (SELECT service_id FROM activations WHERE tenant_id = $1)) \
    OR (w.owner_kind = 'provider' AND w.service_id IS NULL AND w.owner_id IN \
    (SELECT s.provider_id FROM services s JOIN activations a ON a.service_id = s.id \
    WHERE a.tenant_id = $1)))";

fn webhooks_from(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Webhook>> {
    rows.iter().map(super::webhooks::webhook_from_row).collect()
}

impl Store {
    /// Whether tenant `tenant_id` reaches webhook `webhook_id`.
    pub async fn tenant_reaches(&self, tenant_id: &str, webhook_id: &str) -> Result<bool> {
        let sql = format!("SELECT w.id FROM webhooks w WHERE {REACHABLE} AND w.id = $2");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(webhook_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

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
}
