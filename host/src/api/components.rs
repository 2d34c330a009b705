//! Components: upload raw wasm, list, get, delete, under `/public/v1/components`.
//!
//! An upload is compiled and checked against the WIT world before anything is stored, so a
//! component that imports something outside the world (or targets another major WIT version)
//! is refused with the runtime's message and leaves nothing behind.

use super::AppState;
use super::auth::Caller;
use super::listing::{self, ListQuery};
use super::problem::{Problem, body_rejection};
use crate::sandbox::LoadError;
use crate::store::{ComponentRecord, StoreError, lists};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// Largest component accepted (Python and JavaScript guests carry their runtimes: ~20 MB).
pub const MAX_COMPONENT_BYTES: usize = 64 << 20;

/// This module's part of the OpenAPI document ([`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(upload, list, one, remove))]
pub(crate) struct Doc;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/public/v1/components", get(list).post(upload))
        .route("/public/v1/components/{id}", get(one).delete(remove))
        .layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES))
}

fn render(record: &ComponentRecord) -> Value {
    json!({
        "id": record.id,
        "href": format!("/components/{}", record.id),
        "name": record.name,
        "version": record.version,
        "digest": format!("sha256:{}", record.digest),
        "witVersion": record.wit_version,
        "imports": record.imports,
        "size": record.size,
        "created": crate::time::format_ms(record.created_at),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    name: Option<String>,
    version: Option<String>,
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn valid_version(version: &str) -> bool {
    (1..=32).contains(&version.len())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
}

#[utoipa::path(
    post,
    operation_id = "uploadComponent",
    path = "/public/v1/components",
    tag = "components",
    summary = "Upload a component",
    description = "The raw WebAssembly component. It is compiled and checked against the WIT world before anything is stored: a component that imports something outside the world, or targets another major WIT version, is refused with the runtime's message.",
    params(
        ("name" = String, Query, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$", description = "Its name: letters, digits, '-', '_', '.'."),
        ("version" = String, Query, min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9._+-]+$", description = "Its version: letters, digits, '-', '_', '.', '+'."),
    ),
    request_body(description = "The component's bytes (at most 64 MiB).",
        content((String = "application/wasm"), (String = "application/octet-stream"))),
    responses(
        (status = 201, description = "Stored.", body = crate::api::openapi::schemas::Component),
        (status = 400, description = "A missing or invalid name or version, an empty body, or a component the runtime refused.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token (it manages the registry through /admin/v1).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "A quota reached (components, component bytes), or this name and version exist.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 64 MiB.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, description = "The body is not Content-Type: application/wasm.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
async fn upload(
    State(state): State<AppState>,
    Caller(scope): Caller,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|e| body_rejection(e, Some(MAX_COMPONENT_BYTES)))?;
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence != "application/wasm" && essence != "application/octet-stream" {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "upload the component's raw bytes with Content-Type: application/wasm",
        ));
    }
    let name = query
        .name
        .ok_or_else(|| Problem::invalid("name", "is required (query parameter)"))?;
    if !valid_name(&name) {
        return Err(Problem::invalid(
            "name",
            "1-64 characters: letters, digits, '-', '_', '.'",
        ));
    }
    let version = query
        .version
        .ok_or_else(|| Problem::invalid("version", "is required (query parameter)"))?;
    if !valid_version(&version) {
        return Err(Problem::invalid(
            "version",
            "1-32 characters: letters, digits, '-', '_', '.', '+'",
        ));
    }
    if body.is_empty() {
        return Err(Problem::invalid("component", "the body is empty"));
    }
    // Before the (costly) compile; the insert checks again.
    state.store.check_component_room(&scope, body.len()).await?;
    let wasm: std::sync::Arc<[u8]> = body.to_vec().into();
    let plugin = match state.runtime.load_blocking(wasm.clone()).await {
        Ok(plugin) => plugin,
        Err(error @ (LoadError::Invalid(_) | LoadError::Refused(_))) => {
            return Err(Problem::invalid("component", error.to_string()));
        }
        Err(error) => return Err(Problem::internal("loading an uploaded component", error)),
    };
    let record = state
        .store
        .insert_component(&scope, &name, &version, &plugin.info, &wasm)
        .await?;
    Ok((StatusCode::CREATED, Json(render(&record))).into_response())
}

/// The properties of a listed component, for `select=`.
const PROPERTIES: &[&str] = &[
    "id",
    "href",
    "name",
    "version",
    "digest",
    "witVersion",
    "imports",
    "size",
    "created",
];

/// The caller's components, newest first unless the query string orders them otherwise.
#[utoipa::path(
    get,
    operation_id = "listComponents",
    path = "/public/v1/components",
    tag = "components",
    summary = "List components",
    description = "The caller's components, oldest first.",
    params(crate::api::openapi::schemas::PageQuery),
    responses(
        (status = 200, description = "A page of components.", body = crate::api::openapi::schemas::Page<crate::api::openapi::schemas::Component>),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token (it manages the registry through /admin/v1).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
async fn list(
    State(state): State<AppState>,
    Caller(scope): Caller,
    query: ListQuery,
) -> Result<Json<Value>, Problem> {
    let (offset, limit) = query.page(10, 1)?;
    let listing = query.listing(&lists::COMPONENTS)?;
    let select = query.select(PROPERTIES)?;
    let (components, total) = state
        .store
        .list_components(&scope, &listing, offset, limit)
        .await?;
    listing::page(offset, limit, total, components.iter().map(render), &select)
}

#[utoipa::path(
    get,
    operation_id = "getComponent",
    path = "/public/v1/components/{id}",
    tag = "components",
    summary = "Read a component",
    params(("id" = String, Path, description = "The component, `CMP-…`.")),
    responses(
        (status = 200, description = "The component.", body = crate::api::openapi::schemas::Component),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token (it manages the registry through /admin/v1).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such component among the caller's (others' included).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
async fn one(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    match state.store.component(&scope, &id).await {
        Ok(record) => Ok(Json(render(&record))),
        Err(StoreError::NotFound) => Err(Problem::not_found(format!("component {id}"))),
        Err(error) => Err(error.into()),
    }
}

#[utoipa::path(
    delete,
    operation_id = "deleteComponent",
    path = "/public/v1/components/{id}",
    tag = "components",
    summary = "Delete a component",
    params(("id" = String, Path, description = "The component, `CMP-…`.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token (it manages the registry through /admin/v1).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such component among the caller's (others' included).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "One of the caller's webhooks uses it.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
async fn remove(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    match state.store.delete_component(&scope, &id).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::NotFound) => Err(Problem::not_found(format!("component {id}"))),
        Err(error) => Err(error.into()),
    }
}
