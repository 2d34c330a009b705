//! The operator's API, `/admin/v1/…`: providers, tenants, services, activations, smartml API
//! users and REST API keys.
//!
//! Every route needs `Authorization: Bearer <admin_token>`; without an `admin_token` in the
//! configuration the whole API answers 401, so a host started without one exposes nothing.
//!
//! The operations are the domain's ([`crate::admin`]); the HTTP handlers below and
//! `hookhost admin …` both call them, so the two validate the same way, refuse the same
//! things and show the same objects: they cannot drift.
//! Credentials (provider tokens, smartml token + secret, REST API keys) appear only in the
//! answer that creates them; no list or later read contains them, because the store keeps
//! only their hashes (and the smartml secret encrypted, for HMAC checks).
//!
//! | method | path | success |
//! |---|---|---|
//! | GET, POST | `/admin/v1/providers` | 200 list (RQL filters, order, select), 201 `{id,name,contactEmail,createdAt,token}` |
//! | PATCH | `/admin/v1/providers/{id}` | 200 the provider, `contactEmail` set or cleared |
//! | GET, POST | `/admin/v1/tenants` | 200 list, 201 `{id,name,contactEmail,createdAt}` |
//! | PATCH | `/admin/v1/tenants/{id}` | 200 the tenant, `contactEmail` set or cleared |
//! | GET, POST | `/admin/v1/services` | 200 list, 201 the service (`secretParameters`: values sealed and masked) |
//! | GET, POST | `/admin/v1/activations` | 200 list, 201 new, 200 re-parameterized; undeclared parameters 400 |
//! | POST | `/admin/v1/tenants/{id}/api-users` | 201 `{id,tenantId,marketplace,token,secret}` |
//! | POST | `/admin/v1/tenants/{id}/api-keys` | 201 `{id,tenantId,key}` |
//! | POST | `/admin/v1/tenants/{id}/api-keys/{keyId}/deactivate` | 204 |

use super::AppState;
use super::auth::Admin;
use super::listing::{self, ListQuery};
use super::problem::{ApiJson, Problem};
use crate::admin::{self, AdminError};
use crate::store::{Scope, lists};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// This module's part of the OpenAPI document ([`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    get_providers,
    post_provider,
    patch_provider,
    get_tenants,
    post_tenant,
    patch_tenant,
    get_services,
    post_service,
    get_activations,
    post_activation,
    post_api_user,
    post_api_key,
    post_deactivate_api_key,
))]
pub(crate) struct Doc;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/providers",
            get(get_providers).post(post_provider),
        )
        .route("/admin/v1/providers/{id}", patch(patch_provider))
        .route("/admin/v1/tenants", get(get_tenants).post(post_tenant))
        .route("/admin/v1/tenants/{id}", patch(patch_tenant))
        .route("/admin/v1/services", get(get_services).post(post_service))
        .route(
            "/admin/v1/activations",
            get(get_activations).post(post_activation),
        )
        .route("/admin/v1/tenants/{id}/api-users", post(post_api_user))
        .route("/admin/v1/tenants/{id}/api-keys", post(post_api_key))
        .route(
            "/admin/v1/tenants/{id}/api-keys/{key_id}/deactivate",
            post(post_deactivate_api_key),
        )
}

impl From<AdminError> for Problem {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::Invalid { field, message } => Problem::invalid(&field, message),
            AdminError::NotFound(what) => Problem::not_found(what),
            AdminError::Forbidden(message) => Problem::forbidden(message),
            AdminError::Conflict(message) => Problem::new(StatusCode::CONFLICT, message),
            refused @ AdminError::Refused(_) => {
                let detail = refused.to_string();
                let AdminError::Refused(errors) = refused else {
                    unreachable!()
                };
                Problem::refused(detail, errors)
            }
            AdminError::CheckFailed(message) => Problem::new(StatusCode::BAD_GATEWAY, message),
            AdminError::Store(error) => error.into(),
        }
    }
}

// HTTP handlers: parse, call the operation, render. Nothing else happens here.

/// `POST /providers` and `POST /tenants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NameBody {
    name: String,
    /// Where the host's e-mails about the owner's webhooks go (circuit opened, disabled by
    /// the host), when `[smtp]` is configured.
    #[serde(default)]
    contact_email: Option<String>,
}

/// `PATCH /providers/{id}` and `PATCH /tenants/{id}`: the contact e-mail (null: none).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ContactBody {
    /// An e-mail address, or null to send none.
    contact_email: Option<String>,
}

/// `POST /services`: exactly one of `providerId` and `tenantId`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ActivationBody {
    tenant_id: String,
    service_id: String,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
}

/// `POST /tenants/{id}/api-users`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ApiUserBody {
    #[serde(default)]
    marketplace: bool,
}

/// The properties of listed providers and tenants, for `select=`.
const NAMED_PROPERTIES: &[&str] = &["id", "name", "contactEmail", "createdAt"];

/// The properties of a listed activation, for `select=`.
pub(super) const ACTIVATION_PROPERTIES: &[&str] = &[
    "tenantId",
    "tenantName",
    "serviceId",
    "serviceName",
    "parameters",
    "createdAt",
];

/// The properties of a listed service, for `select=`.
const SERVICE_PROPERTIES: &[&str] = &[
    "id",
    "name",
    "providerId",
    "tenantId",
    "acceptedParameters",
    "secretParameters",
    "createdAt",
];

fn created<T: Serialize>(value: T) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

/// The providers, oldest first unless the query string orders them otherwise (RQL, as every
/// list: [`super::listing`]); 100 by default.
#[utoipa::path(
    get,
    operation_id = "listProviders",
    path = "/admin/v1/providers",
    tag = "admin",
    summary = "List providers",
    description = "Oldest first.",
    params(crate::api::openapi::schemas::PageQuery),
    responses(
        (status = 200, description = "A page of providers.", body = crate::api::openapi::schemas::Page<crate::admin::ProviderView>),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::AdminUnauthorized)),
    ),
    security(("admin_token" = [])),
)]
async fn get_providers(
    State(state): State<AppState>,
    _: Admin,
    query: ListQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    let (offset, limit) = query.page(100, 1)?;
    let listing = query.listing(&lists::PROVIDERS)?;
    let select = query.select(NAMED_PROPERTIES)?;
    let (providers, total) =
        admin::list_providers_matching(&state.store, &listing, offset, limit).await?;
    listing::page(offset, limit, total, providers, &select)
}

#[utoipa::path(
    post,
    operation_id = "createProvider",
    path = "/admin/v1/providers",
    tag = "admin",
    summary = "Create a provider",
    request_body(content = NameBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The provider, with its API token (shown this once).", body = crate::admin::NewProvider),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::AdminUnauthorized)),
        (status = 413, description = "The body is over 2 MiB.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, response = inline(crate::api::openapi::responses::NotJson)),
    ),
    security(("admin_token" = [])),
)]
async fn post_provider(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<NameBody>,
) -> Result<Response, Problem> {
    Ok(created(
        admin::create_provider(&state.store, &body.name, body.contact_email.as_deref()).await?,
    ))
}

/// The tenants, oldest first unless the query string orders them otherwise.
#[utoipa::path(
    get,
    operation_id = "listTenants",
    path = "/admin/v1/tenants",
    tag = "admin",
    summary = "List tenants",
    description = "Oldest first.",
    params(crate::api::openapi::schemas::PageQuery),
    responses(
        (status = 200, description = "A page of tenants.", body = crate::api::openapi::schemas::Page<crate::admin::TenantView>),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::AdminUnauthorized)),
    ),
    security(("admin_token" = [])),
)]
async fn get_tenants(
    State(state): State<AppState>,
    _: Admin,
    query: ListQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    let (offset, limit) = query.page(100, 1)?;
    let listing = query.listing(&lists::TENANTS)?;
    let select = query.select(NAMED_PROPERTIES)?;
    let (tenants, total) =
        admin::list_tenants_matching(&state.store, &listing, offset, limit).await?;
    listing::page(offset, limit, total, tenants, &select)
}

#[utoipa::path(
    post,
    operation_id = "createTenant",
    path = "/admin/v1/tenants",
    tag = "admin",
    summary = "Create a tenant",
    request_body(content = NameBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The tenant.", body = crate::admin::TenantView),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::AdminUnauthorized)),
        (status = 413, description = "The body is over 2 MiB.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, response = inline(crate::api::openapi::responses::NotJson)),
    ),
    security(("admin_token" = [])),
)]
async fn post_tenant(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<NameBody>,
) -> Result<Response, Problem> {
    Ok(created(
        admin::create_tenant(&state.store, &body.name, body.contact_email.as_deref()).await?,
    ))
}

#[utoipa::path(
    patch,
    operation_id = "updateProvider",
    path = "/admin/v1/providers/{id}",
    tag = "admin",
    summary = "Set a provider's contact e-mail",
    description = "The address the host's e-mails about the provider's webhooks go to (circuit opened, disabled by the host), when `[smtp]` is configured; null: none.",
    params(("id" = String, Path, description = "`PRV-…`")),
    request_body(content = ContactBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The provider.", body = crate::admin::ProviderView),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::AdminUnauthorized)),
        (status = 404, description = "No such provider.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, response = inline(crate::api::openapi::responses::NotJson)),
    ),
    security(("admin_token" = [])),
)]
async fn patch_provider(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ContactBody>,
) -> Result<Json<crate::admin::ProviderView>, Problem> {
    Ok(Json(
        admin::set_provider_contact(&state.store, &id, body.contact_email.as_deref()).await?,
    ))
}

#[utoipa::path(
    patch,
    operation_id = "updateTenant",
    path = "/admin/v1/tenants/{id}",
    tag = "admin",
    summary = "Set a tenant's contact e-mail",
    description = "The address the host's e-mails about the tenant's private webhooks go to (circuit opened, disabled by the host), when `[smtp]` is configured; null: none.",
    params(("id" = String, Path, description = "`TEN-…`")),
    request_body(content = ContactBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The tenant.", body = crate::admin::TenantView),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::AdminUnauthorized)),
        (status = 404, description = "No such tenant.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, response = inline(crate::api::openapi::responses::NotJson)),
    ),
    security(("admin_token" = [])),
)]
async fn patch_tenant(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ContactBody>,
) -> Result<Json<crate::admin::TenantView>, Problem> {
    Ok(Json(
        admin::set_tenant_contact(&state.store, &id, body.contact_email.as_deref()).await?,
    ))
}

/// The services, oldest first unless the query string orders them otherwise.
#[utoipa::path(
    get,
    operation_id = "listServices",
    path = "/admin/v1/services",
    tag = "admin",
    summary = "List services",
    description = "Oldest first.",
    params(crate::api::openapi::schemas::PageQuery),
    responses(
        (status = 200, description = "A page of services.", body = crate::api::openapi::schemas::Page<crate::admin::ServiceView>),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::AdminUnauthorized)),
    ),
    security(("admin_token" = [])),
)]
async fn get_services(
    State(state): State<AppState>,
    _: Admin,
    query: ListQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    let (offset, limit) = query.page(100, 1)?;
    let listing = query.listing(&lists::SERVICES)?;
    let select = query.select(SERVICE_PROPERTIES)?;
    let (services, total) =
        admin::list_services_matching(&state.store, &listing, offset, limit).await?;
    listing::page(offset, limit, total, services, &select)
}

#[utoipa::path(
    post,
    operation_id = "createService",
    path = "/admin/v1/services",
    tag = "admin",
    summary = "Create a service",
    description = "A provider's marketplace service (`providerId`) or a tenant's private one (`tenantId`).",
    request_body(content = ServiceBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The service.", body = crate::admin::ServiceView),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::AdminUnauthorized)),
        (status = 404, description = "No such provider or tenant.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 2 MiB.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, response = inline(crate::api::openapi::responses::NotJson)),
    ),
    security(("admin_token" = [])),
)]
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
    let service = admin::create_service(
        &state.store,
        &owner,
        &body.name,
        &body.accepted_parameters,
        &body.secret_parameters,
    )
    .await?;
    Ok(created(service))
}

/// Every activation, oldest first unless the query string orders them otherwise.
#[utoipa::path(
    get,
    operation_id = "listActivations",
    path = "/admin/v1/activations",
    tag = "admin",
    summary = "List activations",
    description = "Every tenant's activations of every service, oldest first; secret parameter values masked.",
    params(crate::api::openapi::schemas::PageQuery),
    responses(
        (status = 200, description = "A page of activations.", body = crate::api::openapi::schemas::Page<crate::admin::ListedActivationView>),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::AdminUnauthorized)),
    ),
    security(("admin_token" = [])),
)]
async fn get_activations(
    State(state): State<AppState>,
    _: Admin,
    query: ListQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    let (offset, limit) = query.page(100, 1)?;
    let listing = query.listing(&lists::ACTIVATIONS)?;
    let select = query.select(ACTIVATION_PROPERTIES)?;
    let (activations, total) =
        admin::list_activations_matching(&state.store, None, &listing, offset, limit).await?;
    listing::page(offset, limit, total, activations, &select)
}

#[utoipa::path(
    post,
    operation_id = "activateService",
    path = "/admin/v1/activations",
    tag = "admin",
    summary = "Activate a service for a tenant",
    description = "Again for an activated service: replaces its parameters. Only parameters the service declares are accepted; secret ones are sealed at rest and masked. The components of the service's webhooks that export `activation` (marketplace:webhook@0.2.0) check the parameters first: a refusal is a 422 with their messages by parameter, and nothing is written.",
    request_body(content = ActivationBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Activated.", body = crate::admin::ActivationView),
        (status = 200, description = "Its parameters replaced.", body = crate::admin::ActivationView),
        (status = 400, description = "Bad input, e.g. a parameter the service does not declare (`parameters.colour`).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = inline(crate::api::openapi::responses::AdminUnauthorized)),
        (status = 403, description = "Another tenant's private service.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or service.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 2 MiB.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, response = inline(crate::api::openapi::responses::NotJson)),
        (status = 422, description = "A plugin of the service refused the parameters: its messages in `errors`, by `parameters.<name>`.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 502, description = "A plugin's activation check could not run (it trapped or timed out).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = [])),
)]
async fn post_activation(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<ActivationBody>,
) -> Result<Response, Problem> {
    let (activation, new) = admin::activate(
        &state.store,
        &state.executor,
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

#[utoipa::path(
    post,
    operation_id = "createApiUser",
    path = "/admin/v1/tenants/{id}/api-users",
    tag = "admin",
    summary = "Create a smartml API user",
    params(("id" = String, Path, description = "The tenant, `TEN-…`.")),
    request_body(content = ApiUserBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The user with its token and secret (shown this once).", body = crate::admin::NewApiUser),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::AdminUnauthorized)),
        (status = 404, description = "No such tenant.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 2 MiB.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, response = inline(crate::api::openapi::responses::NotJson)),
    ),
    security(("admin_token" = [])),
)]
async fn post_api_user(
    State(state): State<AppState>,
    _: Admin,
    Path(tenant_id): Path<String>,
    ApiJson(body): ApiJson<ApiUserBody>,
) -> Result<Response, Problem> {
    let user =
        admin::create_api_user(&state.store, &state.key, &tenant_id, body.marketplace).await?;
    Ok(created(user))
}

#[utoipa::path(
    post,
    operation_id = "createApiKey",
    path = "/admin/v1/tenants/{id}/api-keys",
    tag = "admin",
    summary = "Create a REST API key",
    params(("id" = String, Path, description = "The tenant, `TEN-…`.")),
    responses(
        (status = 201, description = "The key (shown this once).", body = crate::admin::NewApiKey),
        (status = 401, response = inline(crate::api::openapi::responses::AdminUnauthorized)),
        (status = 404, description = "No such tenant.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = [])),
)]
async fn post_api_key(
    State(state): State<AppState>,
    _: Admin,
    Path(tenant_id): Path<String>,
) -> Result<Response, Problem> {
    Ok(created(
        admin::create_api_key(&state.store, &tenant_id).await?,
    ))
}

#[utoipa::path(
    post,
    operation_id = "deactivateApiKey",
    path = "/admin/v1/tenants/{id}/api-keys/{key_id}/deactivate",
    tag = "admin",
    summary = "Deactivate a REST API key",
    params(("id" = String, Path, description = "The tenant, `TEN-…`."), ("key_id" = String, Path, description = "The key's id, `KEY-…` (not the key).")),
    responses(
        (status = 204, description = "Deactivated: the key is refused from now on."),
        (status = 401, response = inline(crate::api::openapi::responses::AdminUnauthorized)),
        (status = 404, description = "No such tenant, or no such key of it.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = [])),
)]
async fn post_deactivate_api_key(
    State(state): State<AppState>,
    _: Admin,
    Path((tenant_id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    admin::deactivate_api_key(&state.store, &tenant_id, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
