//! Providers, tenants, services, activations, credentials and components.

use super::{QuotaExceeded, Result, Scope, Store, StoreError, conflict_on_unique, new_id};
use crate::crypto::{MasterKey, hash_credential, random_alphanumeric};
use crate::time::now_ms;
use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A tenant's activation parameter values, opened: the plain ones and those the service
/// declares secret, apart, because plugins read them through different functions (`config`,
/// `secret`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivationValues {
    /// Parameters that are not secret.
    pub plain: Arc<BTreeMap<String, String>>,
    /// Secret parameters (sealed at rest), opened.
    pub secret: Arc<BTreeMap<String, String>>,
}

impl ActivationValues {
    /// Every parameter, plain and secret (a secret one wins should a name be in both).
    pub fn all(&self) -> BTreeMap<String, String> {
        let mut all = (*self.plain).clone();
        all.extend(self.secret.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }
}

/// A marketplace provider.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    /// `PRV-…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Where the host's e-mails about its webhooks go (circuit opened, disabled).
    pub contact_email: Option<String>,
    /// Creation time, Unix ms.
    pub created_at: i64,
}

/// A tenant (a customer of the marketplace).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// `TEN-…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Where the host's e-mails about its webhooks go (circuit opened, disabled).
    pub contact_email: Option<String>,
    /// Creation time, Unix ms.
    pub created_at: i64,
}

/// A service: a provider's marketplace service, or a tenant's private one.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// `SVC-…`
    pub id: String,
    /// The provider offering it (marketplace service).
    pub provider_id: Option<String>,
    /// The tenant owning it (private service).
    pub tenant_id: Option<String>,
    /// Display name.
    pub name: String,
    /// Parameter names the service accepts (process steps, activations); `prefix.*` accepts
    /// a family of names (`price_per_sqm.*`: `price_per_sqm.52062`, …).
    pub accepted_parameters: Vec<String>,
    /// Accepted parameters whose activation values are secrets (API keys, passwords): sealed
    /// with the master key at rest and masked whenever they are shown.
    pub secret_parameters: Vec<String>,
    /// Creation time, Unix ms.
    pub created_at: i64,
}

/// What a parameter value reads as when it is a secret (like a webhook's secret after the
/// create answer).
pub const MASKED_PARAMETER: &str = "*******************";

/// Whether `declared` (names and `prefix.*` families) names `name`.
pub fn parameter_declared(declared: &[String], name: &str) -> bool {
    declared.iter().any(|entry| match entry.strip_suffix('*') {
        Some(prefix) if prefix.ends_with('.') => {
            name.len() > prefix.len() && name.starts_with(prefix)
        }
        _ => entry == name,
    })
}

impl Service {
    /// Whether the service accepts the parameter `name` (secret ones included).
    pub fn accepts(&self, name: &str) -> bool {
        parameter_declared(&self.accepted_parameters, name)
            || parameter_declared(&self.secret_parameters, name)
    }

    /// Whether the value of the parameter `name` is a secret.
    pub fn is_secret(&self, name: &str) -> bool {
        parameter_declared(&self.secret_parameters, name)
    }
}

/// A tenant's activation of a service, with its parameter values.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activation {
    /// The tenant.
    pub tenant_id: String,
    /// The service.
    pub service_id: String,
    /// Parameter values plugins read through `config`, secret ones masked
    /// ([`MASKED_PARAMETER`]); [`Store::activation_parameters`] has them all.
    pub parameters: BTreeMap<String, String>,
    /// Creation time, Unix ms.
    pub created_at: i64,
}

/// An activation as listed: with the names of its tenant and service.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedActivation {
    /// The activation (secret parameter values masked).
    #[serde(flatten)]
    pub activation: Activation,
    /// The tenant's name.
    pub tenant_name: String,
    /// The service's name.
    pub service_name: String,
}

/// A smartml API user (token + secret).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiUser {
    /// `USR-…`
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// Marketplace API users may not call `executeMarketplaceWebhooks` (errorcode 240).
    pub marketplace: bool,
    /// Deactivated users cannot authenticate.
    pub active: bool,
}

/// Credentials shown once, when they are created.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiUserCredentials {
    /// The user.
    #[serde(flatten)]
    pub user: ApiUser,
    /// 32 characters.
    pub token: String,
    /// 64 characters.
    pub secret: String,
}

/// A REST API key of a tenant (Ivanti-style `rest_api_key=…`, and the registry API).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// `KEY-…`
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// Deactivated keys are refused.
    pub active: bool,
}

/// An uploaded component.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentRecord {
    /// `CMP-…`
    pub id: String,
    /// Name given at upload.
    pub name: String,
    /// Version given at upload.
    pub version: String,
    /// sha256 of the bytes, hex.
    pub digest: String,
    /// The WIT version it was built against.
    pub wit_version: String,
    /// What it imports.
    pub imports: Vec<String>,
    /// Size in bytes.
    pub size: i64,
    /// Upload time, Unix ms.
    pub created_at: i64,
}

fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializable")
}

fn from_json_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn service_from_row(row: &sqlx::any::AnyRow) -> Result<Service> {
    Ok(Service {
        id: row.try_get("id")?,
        provider_id: row.try_get("provider_id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        accepted_parameters: from_json_text(&row.try_get::<String, _>("accepted_parameters")?)?,
        secret_parameters: from_json_text(&row.try_get::<String, _>("secret_parameters")?)?,
        created_at: row.try_get("created_at")?,
    })
}

/// Refuses one more component of `size` bytes for `owner` when that would exceed
/// `quotas.components` or `quotas.component_bytes`.
async fn component_room(
    conn: &mut sqlx::AnyConnection,
    quotas: &super::Quotas,
    owner: &Scope,
    size: usize,
) -> Result<()> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM components \
         WHERE owner_kind = $1 AND owner_id = $2",
    )
    .bind(owner.kind())
    .bind(owner.id())
    .fetch_one(&mut *conn)
    .await?;
    let (count, bytes): (i64, i64) = (row.try_get("n")?, row.try_get("bytes")?);
    let kind = owner.kind();
    if count as u64 >= quotas.components {
        return Err(QuotaExceeded::new(
            "quotas.components",
            quotas.components,
            format!("this {kind} has {count} components; delete one it no longer uses first"),
        )
        .into());
    }
    let total = bytes as u64 + size as u64;
    if total > quotas.component_bytes {
        return Err(QuotaExceeded::new(
            "quotas.component_bytes",
            quotas.component_bytes,
            format!(
                "this {kind}'s components take {bytes} bytes; with this one ({size} bytes) they would take {total}"
            ),
        )
        .into());
    }
    Ok(())
}

/// `parameters` with the service's secret values masked, and those values apart.
fn split_secrets(
    service: &Service,
    parameters: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut masked = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    for (name, value) in parameters {
        if service.is_secret(name) {
            masked.insert(name.clone(), MASKED_PARAMETER.to_owned());
            secrets.insert(name.clone(), value.clone());
        } else {
            masked.insert(name.clone(), value.clone());
        }
    }
    (masked, secrets)
}

fn component_from_row(row: &sqlx::any::AnyRow) -> Result<ComponentRecord> {
    Ok(ComponentRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        digest: row.try_get("digest")?,
        wit_version: row.try_get("wit_version")?,
        imports: from_json_text(&row.try_get::<String, _>("imports")?)?,
        size: row.try_get("size")?,
        created_at: row.try_get("created_at")?,
    })
}

const COMPONENT_COLUMNS: &str = "id, name, version, digest, wit_version, imports, size, created_at";

impl Store {
    /// Creates a provider; returns it and its API token (shown once).
    pub async fn create_provider(&self, name: &str) -> Result<(Provider, String)> {
        self.create_provider_with(name, None).await
    }

    /// Creates a provider with a contact e-mail; returns it and its API token (shown once).
    pub async fn create_provider_with(
        &self,
        name: &str,
        contact_email: Option<&str>,
    ) -> Result<(Provider, String)> {
        let provider = Provider {
            id: new_id("PRV"),
            name: name.to_owned(),
            contact_email: contact_email.map(str::to_owned),
            created_at: now_ms(),
        };
        let token = format!("hhp_{}", random_alphanumeric(40));
        sqlx::query(
            "INSERT INTO providers (id, name, contact_email, token_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&provider.id)
        .bind(&provider.name)
        .bind(&provider.contact_email)
        .bind(hash_credential(&token))
        .bind(provider.created_at)
        .execute(self.pool())
        .await?;
        Ok((provider, token))
    }

    /// The provider holding `token`.
    pub async fn provider_by_token(&self, token: &str) -> Result<Option<Provider>> {
        Ok(sqlx::query_as(
            "SELECT id, name, contact_email, created_at FROM providers WHERE token_hash = $1",
        )
        .bind(hash_credential(token))
        .fetch_optional(self.pool())
        .await?)
    }

    /// All providers.
    pub async fn list_providers(&self) -> Result<Vec<Provider>> {
        Ok(sqlx::query_as(
            "SELECT id, name, contact_email, created_at FROM providers ORDER BY created_at, id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// A page of the providers that `listing` keeps, in its order (oldest first unless asked
    /// otherwise), and how many there are in all.
    pub async fn list_providers_matching(
        &self,
        listing: &super::Listing<super::lists::Providers>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Provider>, i64)> {
        let (rows, total) = self
            .list_matching(
                "id, name, contact_email, created_at",
                "providers",
                listing,
                offset,
                limit,
            )
            .await?;
        let providers = rows
            .iter()
            .map(|row| {
                Ok(Provider {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    contact_email: row.try_get("contact_email")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((providers, total))
    }

    /// The provider `id`.
    pub async fn provider(&self, id: &str) -> Result<Provider> {
        sqlx::query_as("SELECT id, name, contact_email, created_at FROM providers WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Sets (or, with `None`, clears) the contact e-mail of `owner`, a provider or tenant.
    pub async fn set_contact_email(&self, owner: &Scope, email: Option<&str>) -> Result<()> {
        let table = match owner {
            Scope::Provider(_) => "providers",
            Scope::Tenant(_) => "tenants",
        };
        let done = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET contact_email = $1 WHERE id = $2"
        )))
        .bind(email)
        .bind(owner.id())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed();
        Ok(())
    }

    /// The contact e-mail of the owner of webhook `id` (its provider or tenant), if it has one.
    pub async fn owner_contact_email(&self, webhook_id: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT COALESCE(p.contact_email, t.contact_email) AS contact_email FROM webhooks w \
             LEFT JOIN providers p ON w.owner_kind = 'provider' AND p.id = w.owner_id \
             LEFT JOIN tenants t ON w.owner_kind = 'tenant' AND t.id = w.owner_id \
             WHERE w.id = $1",
        )
        .bind(webhook_id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => Ok(row.try_get("contact_email")?),
            None => Ok(None),
        }
    }

    /// Creates a tenant.
    pub async fn create_tenant(&self, name: &str) -> Result<Tenant> {
        self.create_tenant_with(name, None).await
    }

    /// Creates a tenant with a contact e-mail.
    pub async fn create_tenant_with(
        &self,
        name: &str,
        contact_email: Option<&str>,
    ) -> Result<Tenant> {
        let tenant = Tenant {
            id: new_id("TEN"),
            name: name.to_owned(),
            contact_email: contact_email.map(str::to_owned),
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO tenants (id, name, contact_email, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&tenant.id)
        .bind(&tenant.name)
        .bind(&tenant.contact_email)
        .bind(tenant.created_at)
        .execute(self.pool())
        .await?;
        Ok(tenant)
    }

    /// The tenant `id`.
    pub async fn tenant(&self, id: &str) -> Result<Tenant> {
        sqlx::query_as("SELECT id, name, contact_email, created_at FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// All tenants.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        Ok(sqlx::query_as(
            "SELECT id, name, contact_email, created_at FROM tenants ORDER BY created_at, id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// A page of the tenants that `listing` keeps, in its order (oldest first unless asked
    /// otherwise), and how many there are in all.
    pub async fn list_tenants_matching(
        &self,
        listing: &super::Listing<super::lists::Tenants>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Tenant>, i64)> {
        let (rows, total) = self
            .list_matching(
                "id, name, contact_email, created_at",
                "tenants",
                listing,
                offset,
                limit,
            )
            .await?;
        let tenants = rows
            .iter()
            .map(|row| {
                Ok(Tenant {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    contact_email: row.try_get("contact_email")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((tenants, total))
    }

    /// Creates a service owned by `owner` (a provider's marketplace service or a tenant's
    /// private service) without secret parameters.
    pub async fn create_service(
        &self,
        owner: &Scope,
        name: &str,
        accepted_parameters: &[String],
    ) -> Result<Service> {
        self.create_service_with_secrets(owner, name, accepted_parameters, &[])
            .await
    }

    /// Creates a service owned by `owner` whose `secret_parameters` (accepted too) are
    /// secrets.
    pub async fn create_service_with_secrets(
        &self,
        owner: &Scope,
        name: &str,
        accepted_parameters: &[String],
        secret_parameters: &[String],
    ) -> Result<Service> {
        let (provider_id, tenant_id) = match owner {
            Scope::Provider(id) => (Some(id.clone()), None),
            Scope::Tenant(id) => (None, Some(id.clone())),
        };
        let service = Service {
            id: new_id("SVC"),
            provider_id,
            tenant_id,
            name: name.to_owned(),
            accepted_parameters: accepted_parameters.to_vec(),
            secret_parameters: secret_parameters.to_vec(),
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO services (id, provider_id, tenant_id, name, accepted_parameters, \
             secret_parameters, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&service.id)
        .bind(&service.provider_id)
        .bind(&service.tenant_id)
        .bind(&service.name)
        .bind(json_text(&service.accepted_parameters))
        .bind(json_text(&service.secret_parameters))
        .bind(service.created_at)
        .execute(self.pool())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::Conflict(format!("no {} {}", owner.kind(), owner.id()))
            }
            _ => StoreError::Database(e),
        })?;
        Ok(service)
    }

    /// The service `id` (no scope: operators and internal lookups).
    pub async fn service(&self, id: &str) -> Result<Service> {
        let row = sqlx::query(
            "SELECT id, provider_id, tenant_id, name, accepted_parameters, secret_parameters, \
             created_at FROM services WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        service_from_row(&row)
    }

    /// All services.
    pub async fn list_services(&self) -> Result<Vec<Service>> {
        sqlx::query(
            "SELECT id, provider_id, tenant_id, name, accepted_parameters, secret_parameters, \
             created_at FROM services ORDER BY created_at, id",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(service_from_row)
        .collect()
    }

    /// A page of the services that `listing` keeps, in its order (oldest first unless asked
    /// otherwise), and how many there are in all.
    pub async fn list_services_matching(
        &self,
        listing: &super::Listing<super::lists::Services>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Service>, i64)> {
        let columns = "id, provider_id, tenant_id, name, accepted_parameters, secret_parameters, \
                       created_at";
        let (rows, total) = self
            .list_matching(columns, "services", listing, offset, limit)
            .await?;
        let services = rows.iter().map(service_from_row).collect::<Result<_>>()?;
        Ok((services, total))
    }

    /// A page of the rows of operator-wide `table` (no scope: only the operator lists them)
    /// that `listing` keeps, and how many there are in all.
    async fn list_matching<L>(
        &self,
        columns: &str,
        table: &str,
        listing: &super::Listing<L>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<sqlx::any::AnyRow>, i64)> {
        let list = listing.sql(self.backend(), 1);
        let count = format!("SELECT COUNT(*) AS n FROM {table} WHERE {}", list.condition);
        let total: i64 = list
            .bind(sqlx::query(AssertSqlSafe(count)))
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE {} ORDER BY {} LIMIT ${} OFFSET ${}",
            list.condition,
            list.order,
            list.next,
            list.next + 1
        );
        let rows = list
            .bind(sqlx::query(AssertSqlSafe(sql)))
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        Ok((rows, total))
    }

    /// A page of the activations `scope` may see (`None`: every one, for the operator) that
    /// `listing` keeps, and how many there are: a provider sees the activations of its
    /// services, a tenant its own.
    pub async fn list_activations_matching(
        &self,
        scope: Option<&Scope>,
        listing: &super::Listing<super::lists::Activations>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ListedActivation>, i64)> {
        let list = listing.sql(self.backend(), 2);
        let (visible, id) = match scope {
            None => ("$1 = ''", ""),
            Some(Scope::Provider(id)) => ("s.provider_id = $1", id.as_str()),
            Some(Scope::Tenant(id)) => ("a.tenant_id = $1", id.as_str()),
        };
        let from = "activations a JOIN tenants t ON t.id = a.tenant_id \
                    JOIN services s ON s.id = a.service_id";
        let matching = format!("{visible} AND {}", list.condition);
        let count = format!("SELECT COUNT(*) AS n FROM {from} WHERE {matching}");
        let total: i64 = list
            .bind(sqlx::query(AssertSqlSafe(count)).bind(id))
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        let sql = format!(
            "SELECT a.tenant_id, t.name AS tenant_name, a.service_id, s.name AS service_name, \
             a.parameters, a.created_at FROM {from} WHERE {matching} \
             ORDER BY {} LIMIT ${} OFFSET ${}",
            list.order,
            list.next,
            list.next + 1
        );
        let rows = list
            .bind(sqlx::query(AssertSqlSafe(sql)).bind(id))
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        let activations = rows
            .iter()
            .map(|row| {
                Ok(ListedActivation {
                    activation: Activation {
                        tenant_id: row.try_get("tenant_id")?,
                        service_id: row.try_get("service_id")?,
                        parameters: from_json_text(&row.try_get::<String, _>("parameters")?)?,
                        created_at: row.try_get("created_at")?,
                    },
                    tenant_name: row.try_get("tenant_name")?,
                    service_name: row.try_get("service_name")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((activations, total))
    }

    /// Activates (or re-parameterizes) `service` for `tenant`. The values of parameters the
    /// service declares secret are sealed with `key`; the activation returned shows them
    /// masked.
    pub async fn activate(
        &self,
        key: &MasterKey,
        tenant_id: &str,
        service_id: &str,
        parameters: &BTreeMap<String, String>,
    ) -> Result<Activation> {
        let service = self.service(service_id).await?;
        if let Some(owner) = &service.tenant_id
            && owner != tenant_id
        {
            return Err(StoreError::Forbidden(format!(
                "service {service_id} is private to another tenant"
            )));
        }
        self.tenant(tenant_id).await?;
        // Activating must not bring two webhooks with the same Ivanti extension within the
        // tenant's reach.
        let clash = sqlx::query(
            "SELECT n.extension FROM webhooks n WHERE n.service_id = $1 AND n.extension IS NOT NULL \
             AND n.extension IN (SELECT w.extension FROM webhooks w WHERE w.service_id <> $1 \
             AND w.extension IS NOT NULL AND w.service_id IN ( \
                 SELECT service_id FROM activations WHERE tenant_id = $2 \
                 UNION SELECT id FROM services WHERE tenant_id = $2))",
        )
        .bind(service_id)
        .bind(tenant_id)
        .fetch_optional(self.pool())
        .await?;
        if let Some(row) = clash {
            let extension: String = row.try_get("extension")?;
            return Err(StoreError::Conflict(format!(
                "activating {service_id} would give tenant {tenant_id} two webhooks with the extension {extension:?}"
            )));
        }
        let (masked, secrets) = split_secrets(&service, parameters);
        let sealed = (!secrets.is_empty()).then(|| key.seal(json_text(&secrets).as_bytes()));
        let activation = Activation {
            tenant_id: tenant_id.to_owned(),
            service_id: service_id.to_owned(),
            parameters: masked,
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO activations (tenant_id, service_id, parameters, secret_parameters, created_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, service_id) DO UPDATE SET parameters = excluded.parameters, \
             secret_parameters = excluded.secret_parameters",
        )
        .bind(&activation.tenant_id)
        .bind(&activation.service_id)
        .bind(json_text(&activation.parameters))
        .bind(sealed)
        .bind(activation.created_at)
        .execute(self.pool())
        .await?;
        self.changed();
        Ok(activation)
    }

    /// The tenant's activation of a service, secret values masked.
    pub async fn activation(
        &self,
        tenant_id: &str,
        service_id: &str,
    ) -> Result<Option<Activation>> {
        let row = sqlx::query(
            "SELECT tenant_id, service_id, parameters, created_at FROM activations \
             WHERE tenant_id = $1 AND service_id = $2",
        )
        .bind(tenant_id)
        .bind(service_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(Activation {
                tenant_id: row.try_get("tenant_id")?,
                service_id: row.try_get("service_id")?,
                parameters: from_json_text(&row.try_get::<String, _>("parameters")?)?,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
    }

    /// The parameter values of the tenant's activation of a service, secret ones opened with
    /// `key`: what plugins read through `config` and `secret` and URL handlers get on the
    /// URL. Empty when the service is not activated.
    pub async fn activation_parameters(
        &self,
        key: &MasterKey,
        tenant_id: &str,
        service_id: &str,
    ) -> Result<ActivationValues> {
        let row = sqlx::query(
            "SELECT parameters, secret_parameters FROM activations \
             WHERE tenant_id = $1 AND service_id = $2",
        )
        .bind(tenant_id)
        .bind(service_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(ActivationValues::default());
        };
        let plain: BTreeMap<String, String> =
            from_json_text(&row.try_get::<String, _>("parameters")?)?;
        let mut secret = BTreeMap::new();
        if let Some(sealed) = row.try_get::<Option<Vec<u8>>, _>("secret_parameters")? {
            let text = key
                .open_string(&sealed)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            secret = from_json_text(&text)?;
        }
        // The plain column shows secret ones masked (as every API does): they are not plain.
        let mut plain = plain;
        plain.retain(|name, _| !secret.contains_key(name));
        Ok(ActivationValues {
            plain: Arc::new(plain),
            secret: Arc::new(secret),
        })
    }

    /// Creates a smartml API user for a tenant; the token and secret are shown once.
    pub async fn create_api_user(
        &self,
        key: &MasterKey,
        tenant_id: &str,
        marketplace: bool,
    ) -> Result<ApiUserCredentials> {
        self.tenant(tenant_id).await?;
        let user = ApiUser {
            id: new_id("USR"),
            tenant_id: tenant_id.to_owned(),
            marketplace,
            active: true,
        };
        let token = random_alphanumeric(32);
        let secret = random_alphanumeric(64);
        sqlx::query(
            "INSERT INTO api_users (id, tenant_id, token_hash, secret_enc, marketplace, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6)",
        )
        .bind(&user.id)
        .bind(&user.tenant_id)
        .bind(hash_credential(&token))
        .bind(key.seal(secret.as_bytes()))
        .bind(i64::from(marketplace))
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(ApiUserCredentials {
            user,
            token,
            secret,
        })
    }

    /// The active API user holding `token`, with its secret (to verify HMACs).
    pub async fn api_user_by_token(
        &self,
        key: &MasterKey,
        token: &str,
    ) -> Result<Option<(ApiUser, String)>> {
        let row = sqlx::query(
            "SELECT id, tenant_id, secret_enc, marketplace, active FROM api_users \
             WHERE token_hash = $1 AND active = 1",
        )
        .bind(hash_credential(token))
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let secret = key
            .open_string(&row.try_get::<Vec<u8>, _>("secret_enc")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let user = ApiUser {
            id: row.try_get("id")?,
            tenant_id: row.try_get("tenant_id")?,
            marketplace: row.try_get::<i64, _>("marketplace")? != 0,
            active: row.try_get::<i64, _>("active")? != 0,
        };
        Ok(Some((user, secret)))
    }

    /// Creates a REST API key for a tenant; the key is shown once.
    pub async fn create_api_key(&self, tenant_id: &str) -> Result<(ApiKey, String)> {
        self.tenant(tenant_id).await?;
        let api_key = ApiKey {
            id: new_id("KEY"),
            tenant_id: tenant_id.to_owned(),
            active: true,
        };
        let key = format!("hhk_{}", random_alphanumeric(40));
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, key_hash, active, created_at) VALUES ($1, $2, $3, 1, $4)",
        )
        .bind(&api_key.id)
        .bind(&api_key.tenant_id)
        .bind(hash_credential(&key))
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok((api_key, key))
    }

    /// The active key `key`.
    pub async fn api_key(&self, key: &str) -> Result<Option<ApiKey>> {
        let row =
            sqlx::query("SELECT id, tenant_id FROM api_keys WHERE key_hash = $1 AND active = 1")
                .bind(hash_credential(key))
                .fetch_optional(self.pool())
                .await?;
        row.map(|row| {
            Ok(ApiKey {
                id: row.try_get("id")?,
                tenant_id: row.try_get("tenant_id")?,
                active: true,
            })
        })
        .transpose()
    }

    /// Deactivates an API key of a tenant.
    pub async fn deactivate_api_key(&self, tenant_id: &str, key_id: &str) -> Result<()> {
        let done = sqlx::query("UPDATE api_keys SET active = 0 WHERE id = $1 AND tenant_id = $2")
            .bind(key_id)
            .bind(tenant_id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed();
        Ok(())
    }

    /// Stores an uploaded, already validated component for `owner`, within the owner's
    /// quotas (`quotas.components`, `quotas.component_bytes`).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_component(
        &self,
        owner: &Scope,
        name: &str,
        version: &str,
        info: &crate::sandbox::ComponentInfo,
        wasm: &[u8],
    ) -> Result<ComponentRecord> {
        let record = ComponentRecord {
            id: new_id("CMP"),
            name: name.to_owned(),
            version: version.to_owned(),
            digest: info.digest.clone(),
            wit_version: info.wit_version.clone(),
            imports: info.imports.clone(),
            size: wasm.len() as i64,
            created_at: now_ms(),
        };
        let quotas = self.quotas();
        let mut tx = self.begin_write().await?;
        self.lock_for_quota(&mut tx, &super::quotas::owner_lock(owner))
            .await?;
        component_room(&mut tx, &quotas, owner, wasm.len()).await?;
        sqlx::query(
            "INSERT INTO components (id, owner_kind, owner_id, name, version, digest, wit_version, \
             imports, size, wasm, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&record.id)
        .bind(owner.kind())
        .bind(owner.id())
        .bind(&record.name)
        .bind(&record.version)
        .bind(&record.digest)
        .bind(&record.wit_version)
        .bind(json_text(&record.imports))
        .bind(record.size)
        .bind(wasm)
        .bind(record.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, format!("component {name}@{version} already exists")))?;
        tx.commit().await?;
        Ok(record)
    }

    /// Whether `owner` has room for one more component of `size` bytes under its quotas: a
    /// cheap check before an upload is compiled (the insert checks again, atomically).
    pub async fn check_component_room(&self, owner: &Scope, size: usize) -> Result<()> {
        let mut conn = self.pool().acquire().await?;
        component_room(&mut conn, &self.quotas(), owner, size).await
    }

    /// A page of the owner's components that `listing` keeps, in its order (newest first
    /// unless asked otherwise), and how many there are in all.
    pub async fn list_components(
        &self,
        owner: &Scope,
        listing: &super::Listing<super::lists::Components>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ComponentRecord>, i64)> {
        let list = listing.sql(self.backend(), 3);
        let matching = format!("owner_kind = $1 AND owner_id = $2 AND {}", list.condition);
        let count = format!("SELECT COUNT(*) AS n FROM components WHERE {matching}");
        let total: i64 = list
            .bind(
                sqlx::query(AssertSqlSafe(count))
                    .bind(owner.kind())
                    .bind(owner.id()),
            )
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        let sql = format!(
            "SELECT {COMPONENT_COLUMNS} FROM components WHERE {matching} ORDER BY {} \
             LIMIT ${} OFFSET ${}",
            list.order,
            list.next,
            list.next + 1
        );
        let components = list
            .bind(
                sqlx::query(AssertSqlSafe(sql))
                    .bind(owner.kind())
                    .bind(owner.id()),
            )
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(component_from_row)
            .collect::<Result<_>>()?;
        Ok((components, total))
    }

    /// The owner's component `id`.
    pub async fn component(&self, owner: &Scope, id: &str) -> Result<ComponentRecord> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COMPONENT_COLUMNS} FROM components WHERE id = $1 AND owner_kind = $2 AND owner_id = $3"
        )))
        .bind(id)
        .bind(owner.kind())
        .bind(owner.id())
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        component_from_row(&row)
    }

    /// Resolves a handler reference of `owner`: `name@version`, `sha256:<digest>`, or an id.
    pub async fn resolve_component(
        &self,
        owner: &Scope,
        reference: &str,
    ) -> Result<ComponentRecord> {
        let (clause, a, b) = if let Some(digest) = reference.strip_prefix("sha256:") {
            ("digest = $3", digest, "")
        } else if let Some((name, version)) = reference.split_once('@') {
            ("name = $3 AND version = $4", name, version)
        } else {
            ("id = $3", reference, "")
        };
        let sql = format!(
            "SELECT {COMPONENT_COLUMNS} FROM components WHERE owner_kind = $1 AND owner_id = $2 \
             AND {clause} ORDER BY created_at DESC LIMIT 1"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(owner.kind())
            .bind(owner.id())
            .bind(a);
        if clause.contains("$4") {
            query = query.bind(b);
        }
        let row = query
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        component_from_row(&row)
    }

    /// The bytes of component `id` (any owner: the executor loads what webhooks point at).
    pub async fn component_wasm(&self, id: &str) -> Result<Vec<u8>> {
        let row = sqlx::query("SELECT wasm FROM components WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(row.try_get("wasm")?)
    }

    /// Deletes the owner's component `id`, unless a webhook uses it.
    ///
    /// Another owner's component is not found, like one that does not exist: its users are
    /// looked up only once the component is known to be the caller's (and a component is
    /// only ever used by its owner's webhooks).
    pub async fn delete_component(&self, owner: &Scope, id: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let owned = sqlx::query(
            "SELECT id FROM components WHERE id = $1 AND owner_kind = $2 AND owner_id = $3",
        )
        .bind(id)
        .bind(owner.kind())
        .bind(owner.id())
        .fetch_optional(&mut *tx)
        .await?;
        if owned.is_none() {
            return Err(StoreError::NotFound);
        }
        // Every user blocks the deletion; only the owner's own webhooks are named.
        let users = sqlx::query(
            "SELECT id, owner_kind, owner_id FROM webhooks \
             WHERE component_id = $1 OR transform_component_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        if !users.is_empty() {
            let mut own = Vec::new();
            for user in &users {
                if user.try_get::<String, _>("owner_kind")? == owner.kind()
                    && user.try_get::<String, _>("owner_id")? == owner.id()
                {
                    own.push(user.try_get::<String, _>("id")?);
                }
            }
            return Err(StoreError::Conflict(if own.is_empty() {
                format!("component {id} is in use by webhooks")
            } else {
                format!("component {id} is used by webhook(s) {}", own.join(", "))
            }));
        }
        sqlx::query("DELETE FROM components WHERE id = $1 AND owner_kind = $2 AND owner_id = $3")
            .bind(id)
            .bind(owner.kind())
            .bind(owner.id())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }
}
