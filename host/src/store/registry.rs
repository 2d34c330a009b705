//! Providers, tenants, services, activations, credentials and components.

use super::{Result, Scope, Store, StoreError, conflict_on_unique, new_id, now_ms};
use crate::crypto::{MasterKey, hash_credential, random_alphanumeric};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

/// A marketplace provider.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    /// `PRV-…`
    pub id: String,
    /// Display name.
    pub name: String,
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
    /// Parameter names the service accepts (process steps, activations).
    pub accepted_parameters: Vec<String>,
    /// Creation time, Unix ms.
    pub created_at: i64,
}

/// A tenant's activation of a service, with its parameter values.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activation {
    /// The tenant.
    pub tenant_id: String,
    /// The service.
    pub service_id: String,
    /// Parameter values plugins read through `config`.
    pub parameters: BTreeMap<String, String>,
    /// Creation time, Unix ms.
    pub created_at: i64,
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
        created_at: row.try_get("created_at")?,
    })
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
        let provider = Provider {
            id: new_id("PRV"),
            name: name.to_owned(),
            created_at: now_ms(),
        };
        let token = format!("hhp_{}", random_alphanumeric(40));
        sqlx::query(
            "INSERT INTO providers (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&provider.id)
        .bind(&provider.name)
        .bind(hash_credential(&token))
        .bind(provider.created_at)
        .execute(self.pool())
        .await?;
        Ok((provider, token))
    }

    /// The provider holding `token`.
    pub async fn provider_by_token(&self, token: &str) -> Result<Option<Provider>> {
        Ok(
            sqlx::query_as("SELECT id, name, created_at FROM providers WHERE token_hash = $1")
                .bind(hash_credential(token))
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// All providers.
    pub async fn list_providers(&self) -> Result<Vec<Provider>> {
        Ok(
            sqlx::query_as("SELECT id, name, created_at FROM providers ORDER BY created_at, id")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Creates a tenant.
    pub async fn create_tenant(&self, name: &str) -> Result<Tenant> {
        let tenant = Tenant {
            id: new_id("TEN"),
            name: name.to_owned(),
            created_at: now_ms(),
        };
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&tenant.id)
            .bind(&tenant.name)
            .bind(tenant.created_at)
            .execute(self.pool())
            .await?;
        Ok(tenant)
    }

    /// The tenant `id`.
    pub async fn tenant(&self, id: &str) -> Result<Tenant> {
        sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// All tenants.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        Ok(
            sqlx::query_as("SELECT id, name, created_at FROM tenants ORDER BY created_at, id")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Creates a service owned by `owner` (a provider's marketplace service or a tenant's
    /// private service).
    pub async fn create_service(
        &self,
        owner: &Scope,
        name: &str,
        accepted_parameters: &[String],
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
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO services (id, provider_id, tenant_id, name, accepted_parameters, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&service.id)
        .bind(&service.provider_id)
        .bind(&service.tenant_id)
        .bind(&service.name)
        .bind(json_text(&service.accepted_parameters))
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
            "SELECT id, provider_id, tenant_id, name, accepted_parameters, created_at \
             FROM services WHERE id = $1",
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
            "SELECT id, provider_id, tenant_id, name, accepted_parameters, created_at \
             FROM services ORDER BY created_at, id",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(service_from_row)
        .collect()
    }

    /// Activates (or re-parameterizes) `service` for `tenant`.
    pub async fn activate(
        &self,
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
        let activation = Activation {
            tenant_id: tenant_id.to_owned(),
            service_id: service_id.to_owned(),
            parameters: parameters.clone(),
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO activations (tenant_id, service_id, parameters, created_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, service_id) DO UPDATE SET parameters = excluded.parameters",
        )
        .bind(&activation.tenant_id)
        .bind(&activation.service_id)
        .bind(json_text(&activation.parameters))
        .bind(activation.created_at)
        .execute(self.pool())
        .await?;
        self.changed();
        Ok(activation)
    }

    /// The tenant's activation of a service.
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

    /// Stores an uploaded, already validated component for `owner`.
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
        .execute(self.pool())
        .await
        .map_err(|e| conflict_on_unique(e, format!("component {name}@{version} already exists")))?;
        Ok(record)
    }

    /// The owner's components, newest first.
    pub async fn list_components(&self, owner: &Scope) -> Result<Vec<ComponentRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COMPONENT_COLUMNS} FROM components WHERE owner_kind = $1 AND owner_id = $2 \
             ORDER BY created_at DESC, id"
        )))
        .bind(owner.kind())
        .bind(owner.id())
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(component_from_row)
        .collect()
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
    pub async fn delete_component(&self, owner: &Scope, id: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let users: Vec<String> =
            sqlx::query("SELECT id FROM webhooks WHERE component_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<std::result::Result<_, _>>()?;
        if !users.is_empty() {
            return Err(StoreError::Conflict(format!(
                "component {id} is used by webhook(s) {}",
                users.join(", ")
            )));
        }
        let done = sqlx::query(
            "DELETE FROM components WHERE id = $1 AND owner_kind = $2 AND owner_id = $3",
        )
        .bind(id)
        .bind(owner.kind())
        .bind(owner.id())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        self.changed();
        Ok(())
    }
}
