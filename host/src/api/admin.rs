//! The operator's API, `/admin/v1/…`: providers, tenants, services, activations, smartml API
//! users and REST API keys.
//!
//! Every route needs `Authorization: Bearer <admin_token>`; without an `admin_token` in the
//! configuration the whole API answers 401, so a host started without one exposes nothing.
//!
//! The operations are plain functions over the [`Store`] ([`create_provider`], [`activate`],
//! …). The HTTP handlers below and `hookhost admin …` (`cli.rs`) both call them, so the two
//! validate the same way, refuse the same things and show the same objects: they cannot drift.
//! Credentials (provider tokens, smartml token + secret, REST API keys) appear only in the
//! answer that creates them; no list or later read contains them, because the store keeps
//! only their hashes (and the smartml secret encrypted, for HMAC checks).
//!
//! | method | path | success |
//! |---|---|---|
//! | GET, POST | `/admin/v1/providers` | 200 list, 201 `{id,name,createdAt,token}` |
//! | GET, POST | `/admin/v1/tenants` | 200 list, 201 `{id,name,createdAt}` |
//! | GET, POST | `/admin/v1/services` | 200 list, 201 the service (`secretParameters`: values sealed and masked) |
//! | POST | `/admin/v1/activations` | 201 new, 200 re-parameterized; undeclared parameters 400 |
//! | POST | `/admin/v1/tenants/{id}/api-users` | 201 `{id,tenantId,marketplace,token,secret}` |
//! | POST | `/admin/v1/tenants/{id}/api-keys` | 201 `{id,tenantId,key}` |
//! | POST | `/admin/v1/tenants/{id}/api-keys/{keyId}/deactivate` | 204 |

use super::AppState;
use super::auth::Admin;
use super::problem::{ApiJson, Problem};
use crate::crypto::MasterKey;
use crate::store::{Scope, Store, StoreError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/providers",
            get(get_providers).post(post_provider),
        )
        .route("/admin/v1/tenants", get(get_tenants).post(post_tenant))
        .route("/admin/v1/services", get(get_services).post(post_service))
        .route("/admin/v1/activations", post(post_activation))
        .route("/admin/v1/tenants/{id}/api-users", post(post_api_user))
        .route("/admin/v1/tenants/{id}/api-keys", post(post_api_key))
        .route(
            "/admin/v1/tenants/{id}/api-keys/{key_id}/deactivate",
            post(post_deactivate_api_key),
        )
}

/// Why an admin operation was refused. The CLI prints it; the API maps it to a [`Problem`].
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// An input value is invalid; `field` is its name in the API's JSON body.
    #[error("{field}: {message}")]
    Invalid {
        /// The JSON name of the field (`name`, `acceptedParameters[1]`, `parameters.x`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A referenced object does not exist; the text names it (`tenant TEN-…`).
    #[error("{0} not found")]
    NotFound(String),
    /// The store refused the change (e.g. another tenant's private service).
    #[error("{0}")]
    Forbidden(String),
    /// The change conflicts with existing data.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Forbidden(message) => AdminError::Forbidden(message),
            StoreError::Conflict(message) => AdminError::Conflict(message),
            error => AdminError::Store(error),
        }
    }
}

impl From<AdminError> for Problem {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::Invalid { field, message } => Problem::invalid(&field, message),
            AdminError::NotFound(what) => Problem::not_found(what),
            AdminError::Forbidden(message) => Problem::forbidden(message),
            AdminError::Conflict(message) => Problem::new(StatusCode::CONFLICT, message),
            AdminError::Store(error) => error.into(),
        }
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> AdminError {
    AdminError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Maps the store's bare `NotFound` to one naming `what`.
fn naming(what: impl FnOnce() -> String) -> impl FnOnce(StoreError) -> AdminError {
    move |error| match error {
        StoreError::NotFound => AdminError::NotFound(what()),
        error => error.into(),
    }
}

/// Longest display name: long enough for any company name, short enough for a log line.
const MAX_NAME_CHARS: usize = 200;
/// Longest parameter name.
const MAX_PARAMETER_NAME_CHARS: usize = 128;
/// Longest activation parameter value (URLs, API keys, comma-separated lists).
const MAX_PARAMETER_VALUE_CHARS: usize = 8192;

/// A display name, trimmed: non-empty, at most [`MAX_NAME_CHARS`], no control characters.
fn valid_name(field: &str, name: &str) -> Result<String, AdminError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(name.to_owned())
}

/// A parameter name: what plugins pass to `config(key)` and process steps put on URLs, so no
/// whitespace or control characters and a bounded length.
fn check_parameter_name(field: &str, name: &str) -> Result<(), AdminError> {
    if name.is_empty() {
        return Err(invalid(field, "a parameter name must not be empty"));
    }
    if name.chars().count() > MAX_PARAMETER_NAME_CHARS {
        return Err(invalid(
            field,
            format!("a parameter name must be at most {MAX_PARAMETER_NAME_CHARS} characters"),
        ));
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '=')
    {
        return Err(invalid(
            field,
            format!(
                "{name:?}: a parameter name must not contain whitespace, control characters or '='"
            ),
        ));
    }
    Ok(())
}

/// A provider as the admin API shows it (never with its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    /// `PRV-…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A provider just created, with the API token it will never be shown again.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewProvider {
    /// The provider.
    #[serde(flatten)]
    pub provider: ProviderView,
    /// Bearer token of the registry and components APIs; only its hash is stored.
    pub token: String,
}

/// A tenant as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    /// `TEN-…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A service as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceView {
    /// `SVC-…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// The provider offering it, for a marketplace service.
    pub provider_id: Option<String>,
    /// The tenant owning it, for a private service.
    pub tenant_id: Option<String>,
    /// Parameter names the service accepts (activations, process steps); `prefix.*` names a
    /// family.
    pub accepted_parameters: Vec<String>,
    /// Accepted parameters whose values are secrets: sealed at rest, masked when shown.
    pub secret_parameters: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// An activation as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationView {
    /// The tenant.
    pub tenant_id: String,
    /// The service.
    pub service_id: String,
    /// Values the service's plugins read through `config`; secret ones masked.
    pub parameters: BTreeMap<String, String>,
    /// When the tenant first activated the service (RFC 3339).
    pub created_at: String,
}

/// A smartml API user just created, with its token and secret (shown once).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewApiUser {
    /// `USR-…`
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// Marketplace API users get errorcode 240 on `executeMarketplaceWebhooks`.
    pub marketplace: bool,
    /// 32 characters; only its hash is stored.
    pub token: String,
    /// 64 characters; stored encrypted with the master key (HMACs are checked with it).
    pub secret: String,
}

/// A REST API key just created (shown once).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewApiKey {
    /// `KEY-…`: what `deactivate` takes.
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// The key (`rest_api_key=<key>` or `Bearer <key>`); only its hash is stored.
    pub key: String,
}

fn provider_view(p: crate::store::Provider) -> ProviderView {
    ProviderView {
        id: p.id,
        name: p.name,
        created_at: super::format_time(p.created_at),
    }
}

fn tenant_view(t: crate::store::Tenant) -> TenantView {
    TenantView {
        id: t.id,
        name: t.name,
        created_at: super::format_time(t.created_at),
    }
}

fn service_view(s: crate::store::Service) -> ServiceView {
    ServiceView {
        id: s.id,
        name: s.name,
        provider_id: s.provider_id,
        tenant_id: s.tenant_id,
        accepted_parameters: s.accepted_parameters,
        secret_parameters: s.secret_parameters,
        created_at: super::format_time(s.created_at),
    }
}

/// Creates a provider; the answer carries its API token, this once.
pub async fn create_provider(store: &Store, name: &str) -> Result<NewProvider, AdminError> {
    let name = valid_name("name", name)?;
    let (provider, token) = store.create_provider(&name).await?;
    Ok(NewProvider {
        provider: provider_view(provider),
        token,
    })
}

/// All providers, oldest first.
pub async fn list_providers(store: &Store) -> Result<Vec<ProviderView>, AdminError> {
    Ok(store
        .list_providers()
        .await?
        .into_iter()
        .map(provider_view)
        .collect())
}

/// Creates a tenant.
pub async fn create_tenant(store: &Store, name: &str) -> Result<TenantView, AdminError> {
    let name = valid_name("name", name)?;
    Ok(tenant_view(store.create_tenant(&name).await?))
}

/// All tenants, oldest first.
pub async fn list_tenants(store: &Store) -> Result<Vec<TenantView>, AdminError> {
    Ok(store
        .list_tenants()
        .await?
        .into_iter()
        .map(tenant_view)
        .collect())
}

/// Creates a service owned by `owner`: a provider's marketplace service or a tenant's private
/// one. The owner must exist (404 naming it otherwise); parameter names must be distinct.
/// `secret_parameters` are accepted too, and their activation values are secrets.
pub async fn create_service(
    store: &Store,
    owner: &Scope,
    name: &str,
    accepted_parameters: &[String],
    secret_parameters: &[String],
) -> Result<ServiceView, AdminError> {
    let name = valid_name("name", name)?;
    for (list, parameters) in [
        ("acceptedParameters", accepted_parameters),
        ("secretParameters", secret_parameters),
    ] {
        let mut seen = BTreeSet::new();
        for (index, parameter) in parameters.iter().enumerate() {
            let field = format!("{list}[{index}]");
            check_parameter_name(&field, parameter)?;
            check_family(&field, parameter)?;
            if !seen.insert(parameter.as_str()) {
                return Err(invalid(field, format!("{parameter:?} is listed twice")));
            }
        }
    }
    // A secret parameter is accepted: it need not be listed twice, and is stored once.
    let mut accepted = accepted_parameters.to_vec();
    for secret in secret_parameters {
        if !accepted.contains(secret) {
            accepted.push(secret.clone());
        }
    }
    match owner {
        // The store has no lookup of one provider; the list is small (operators' data).
        Scope::Provider(id) => {
            if !store.list_providers().await?.iter().any(|p| &p.id == id) {
                return Err(AdminError::NotFound(format!("provider {id}")));
            }
        }
        Scope::Tenant(id) => {
            store
                .tenant(id)
                .await
                .map_err(naming(|| format!("tenant {id}")))?;
        }
    }
    let service = store
        .create_service_with_secrets(owner, &name, &accepted, secret_parameters)
        .await?;
    Ok(service_view(service))
}

/// A `*` only ends a family: `prefix.*` declares every `prefix.<something>`.
fn check_family(field: &str, name: &str) -> Result<(), AdminError> {
    match name.find('*') {
        None => Ok(()),
        Some(at) if at == name.len() - 1 && at >= 2 && name[..at].ends_with('.') => Ok(()),
        Some(_) => Err(invalid(
            field,
            format!("{name:?}: '*' may only end a family, as in \"price_per_sqm.*\""),
        )),
    }
}

/// All services (marketplace and private), oldest first.
pub async fn list_services(store: &Store) -> Result<Vec<ServiceView>, AdminError> {
    Ok(store
        .list_services()
        .await?
        .into_iter()
        .map(service_view)
        .collect())
}

/// Activates `service_id` for `tenant_id` with `parameters`, or replaces the parameters of an
/// existing activation. Returns the activation (secret values masked) and whether it is new.
///
/// Every parameter must be one the service declares (`acceptedParameters`, `secretParameters`,
/// families such as `price_per_sqm.*` included): anything else would be a typo that no plugin
/// ever reads. Secret values are sealed with `key`.
pub async fn activate(
    store: &Store,
    key: &MasterKey,
    tenant_id: &str,
    service_id: &str,
    parameters: &BTreeMap<String, String>,
) -> Result<(ActivationView, bool), AdminError> {
    for (name, value) in parameters {
        let field = format!("parameters.{name}");
        check_parameter_name(&field, name)?;
        if value.chars().count() > MAX_PARAMETER_VALUE_CHARS {
            return Err(invalid(
                field,
                format!("a value must be at most {MAX_PARAMETER_VALUE_CHARS} characters"),
            ));
        }
    }
    // Checked here, in this order, so a 404 names what is missing (the store's does not).
    store
        .tenant(tenant_id)
        .await
        .map_err(naming(|| format!("tenant {tenant_id}")))?;
    let service = store
        .service(service_id)
        .await
        .map_err(naming(|| format!("service {service_id}")))?;
    if let Some(name) = parameters.keys().find(|name| !service.accepts(name)) {
        let accepted = if service.accepted_parameters.is_empty() {
            "it declares none".to_owned()
        } else {
            format!("it declares {}", service.accepted_parameters.join(", "))
        };
        return Err(invalid(
            format!("parameters.{name}"),
            format!("service {service_id} does not declare the parameter {name:?}: {accepted}"),
        ));
    }
    let previous = store.activation(tenant_id, service_id).await?;
    let activation = store
        .activate(key, tenant_id, service_id, parameters)
        .await
        .map_err(naming(|| format!("service {service_id}")))?;
    // The store keeps the first activation time on an update; show that one.
    let created_at = previous
        .as_ref()
        .map_or(activation.created_at, |p| p.created_at);
    let view = ActivationView {
        tenant_id: activation.tenant_id,
        service_id: activation.service_id,
        parameters: activation.parameters,
        created_at: super::format_time(created_at),
    };
    Ok((view, previous.is_none()))
}

/// Creates a smartml API user (token + secret, shown once) for a tenant.
pub async fn create_api_user(
    store: &Store,
    key: &MasterKey,
    tenant_id: &str,
    marketplace: bool,
) -> Result<NewApiUser, AdminError> {
    let created = store
        .create_api_user(key, tenant_id, marketplace)
        .await
        .map_err(naming(|| format!("tenant {tenant_id}")))?;
    Ok(NewApiUser {
        id: created.user.id,
        tenant_id: created.user.tenant_id,
        marketplace: created.user.marketplace,
        token: created.token,
        secret: created.secret,
    })
}

/// Creates a REST API key (shown once) for a tenant.
pub async fn create_api_key(store: &Store, tenant_id: &str) -> Result<NewApiKey, AdminError> {
    let (api_key, key) = store
        .create_api_key(tenant_id)
        .await
        .map_err(naming(|| format!("tenant {tenant_id}")))?;
    Ok(NewApiKey {
        id: api_key.id,
        tenant_id: api_key.tenant_id,
        key,
    })
}

/// Deactivates a tenant's REST API key; it is refused from then on. Deactivating a key twice
/// is not an error.
pub async fn deactivate_api_key(
    store: &Store,
    tenant_id: &str,
    key_id: &str,
) -> Result<(), AdminError> {
    store
        .tenant(tenant_id)
        .await
        .map_err(naming(|| format!("tenant {tenant_id}")))?;
    store
        .deactivate_api_key(tenant_id, key_id)
        .await
        .map_err(naming(|| format!("API key {key_id} of tenant {tenant_id}")))
}

// HTTP handlers: parse, call the operation, render. Nothing else happens here.

/// `POST /providers` and `POST /tenants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NameBody {
    name: String,
}

/// `POST /services`: exactly one of `providerId` and `tenantId`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceBody {
    name: String,
    provider_id: Option<String>,
    tenant_id: Option<String>,
    #[serde(default)]
    accepted_parameters: Vec<String>,
    #[serde(default)]
    secret_parameters: Vec<String>,
}

/// `POST /activations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ActivationBody {
    tenant_id: String,
    service_id: String,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
}

/// `POST /tenants/{id}/api-users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiUserBody {
    #[serde(default)]
    marketplace: bool,
}

/// The registry's list envelope, so admin lists page the same way.
fn page<T: Serialize>(
    query: super::PageQuery,
    all: Vec<T>,
) -> Result<Json<serde_json::Value>, Problem> {
    let (offset, limit) = super::page_of(query, 100, 1)?;
    let total = all.len() as i64;
    let data: Vec<T> = all
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    Ok(super::paged(offset, limit, total, data))
}

fn created<T: Serialize>(value: T) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

async fn get_providers(
    State(state): State<AppState>,
    _: Admin,
    query: super::PageQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    page(query, list_providers(&state.store).await?)
}

async fn post_provider(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<NameBody>,
) -> Result<Response, Problem> {
    Ok(created(create_provider(&state.store, &body.name).await?))
}

async fn get_tenants(
    State(state): State<AppState>,
    _: Admin,
    query: super::PageQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    page(query, list_tenants(&state.store).await?)
}

async fn post_tenant(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<NameBody>,
) -> Result<Response, Problem> {
    Ok(created(create_tenant(&state.store, &body.name).await?))
}

async fn get_services(
    State(state): State<AppState>,
    _: Admin,
    query: super::PageQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    page(query, list_services(&state.store).await?)
}

async fn post_service(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<ServiceBody>,
) -> Result<Response, Problem> {
    let owner = match (body.provider_id, body.tenant_id) {
        (Some(provider), None) => Scope::Provider(provider),
        (None, Some(tenant)) => Scope::Tenant(tenant),
        (Some(_), Some(_)) => {
            return Err(Problem::invalid(
                "tenantId",
                "give providerId (a marketplace service) or tenantId (a private service), not both",
            ));
        }
        (None, None) => {
            return Err(Problem::invalid(
                "providerId",
                "is required (or tenantId, for a tenant's private service)",
            ));
        }
    };
    let service = create_service(
        &state.store,
        &owner,
        &body.name,
        &body.accepted_parameters,
        &body.secret_parameters,
    )
    .await?;
    Ok(created(service))
}

async fn post_activation(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<ActivationBody>,
) -> Result<Response, Problem> {
    let (activation, new) = activate(
        &state.store,
        &state.key,
        &body.tenant_id,
        &body.service_id,
        &body.parameters,
    )
    .await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(activation)).into_response())
}

async fn post_api_user(
    State(state): State<AppState>,
    _: Admin,
    Path(tenant_id): Path<String>,
    ApiJson(body): ApiJson<ApiUserBody>,
) -> Result<Response, Problem> {
    let user = create_api_user(&state.store, &state.key, &tenant_id, body.marketplace).await?;
    Ok(created(user))
}

async fn post_api_key(
    State(state): State<AppState>,
    _: Admin,
    Path(tenant_id): Path<String>,
) -> Result<Response, Problem> {
    Ok(created(create_api_key(&state.store, &tenant_id).await?))
}

async fn post_deactivate_api_key(
    State(state): State<AppState>,
    _: Admin,
    Path((tenant_id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    deactivate_api_key(&state.store, &tenant_id, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("name", "  Muster GmbH ").unwrap(), "Muster GmbH");
        for bad in ["", "   ", "a\nb", &"x".repeat(MAX_NAME_CHARS + 1)] {
            let error = valid_name("name", bad).unwrap_err();
            assert!(error.to_string().starts_with("name: "), "{error}");
        }
    }

    #[test]
    fn parameter_names_refuse_what_cannot_round_trip() {
        check_parameter_name("p", "price_per_sqm.default").unwrap();
        for bad in [
            "",
            "a b",
            "k=v",
            "tab\t",
            &"k".repeat(MAX_PARAMETER_NAME_CHARS + 1),
        ] {
            assert!(check_parameter_name("p", bad).is_err(), "{bad:?}");
        }
    }
}
