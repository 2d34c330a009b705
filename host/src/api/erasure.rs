//! Erasure on request (privacy): a tenant's delivery payloads and call-log bodies for a
//! record or a time range, statistics kept ([`crate::store::Erasure`]).
//!
//! - `DELETE /public/v1/data?recordId=&module=&since=&until=` (the tenant, REST API key)
//! - `DELETE /admin/v1/tenants/{id}/data?…` (the operator, for any tenant)
//!
//! At least one of `recordId` and `since`/`until` must be given: erasing everything is a
//! deliberate range, not a forgotten parameter.

use super::AppState;
use super::auth::{Admin, Caller};
use super::problem::Problem;
use crate::store::{Erased, Erasure, Scope, StoreError};
use crate::time::parse_ms;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::delete;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

/// This module's part of the OpenAPI document ([`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(erase_own, erase_tenant))]
pub(crate) struct Doc;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/public/v1/data", delete(erase_own))
        .route("/admin/v1/tenants/{id}/data", delete(erase_tenant))
}

/// What to erase.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ErasureQuery {
    /// The record whose deliveries and calls go.
    pub record_id: Option<String>,
    /// Its module or object type (`estate`, `address`, …); any when absent.
    pub module: Option<String>,
    /// What was made at or after this time (RFC 3339).
    pub since: Option<String>,
    /// What was made before this time (RFC 3339).
    pub until: Option<String>,
}

/// What was erased.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasedOut {
    /// Deliveries whose payload was erased.
    pub deliveries: u64,
    /// Of those, pending ones cancelled.
    pub cancelled: u64,
    /// Call-log entries whose response, headers and error were erased.
    pub calls: u64,
    /// Deliveries in flight, left alone: erase again once they finished.
    pub in_flight: u64,
}

impl From<Erased> for ErasedOut {
    fn from(e: Erased) -> Self {
        ErasedOut {
            deliveries: e.deliveries,
            cancelled: e.cancelled,
            calls: e.calls,
            in_flight: e.in_flight,
        }
    }
}

/// The erasure `query` names for `tenant_id`, checked field by field.
pub fn erasure_from(tenant_id: &str, query: ErasureQuery) -> Result<Erasure, Problem> {
    let time = |field: &str, text: Option<String>| {
        text.map(|t| {
            parse_ms(&t)
                .ok_or_else(|| Problem::invalid(field, format!("{t:?} is not an RFC 3339 time")))
        })
        .transpose()
    };
    let since = time("since", query.since)?;
    let until = time("until", query.until)?;
    if let (Some(since), Some(until)) = (since, until)
        && until <= since
    {
        return Err(Problem::invalid("until", "must be later than since"));
    }
    let empty = |field: &str, value: &Option<String>| match value {
        Some(v) if v.is_empty() => Err(Problem::invalid(field, "must not be empty")),
        _ => Ok(()),
    };
    empty("recordId", &query.record_id)?;
    empty("module", &query.module)?;
    if query.module.is_some() && query.record_id.is_none() {
        return Err(Problem::invalid("module", "is given with recordId only"));
    }
    if query.record_id.is_none() && since.is_none() && until.is_none() {
        return Err(Problem::bad_request(
            "name what to erase: recordId (with module, optionally), or a range with since and until",
        ));
    }
    Ok(Erasure {
        tenant_id: tenant_id.to_owned(),
        record_id: query.record_id,
        module: query.module,
        since,
        until,
    })
}

fn query(query: Result<Query<ErasureQuery>, QueryRejection>) -> Result<ErasureQuery, Problem> {
    query
        .map(|Query(q)| q)
        .map_err(|e| Problem::bad_request(e.body_text()))
}

#[utoipa::path(
    delete,
    operation_id = "eraseOwnData",
    path = "/public/v1/data",
    tag = "calls",
    summary = "Erase a record's or a period's data",
    description = "Erases the caller's delivery payloads and call-log bodies (response, headers, error text) for a record or a time range; pending deliveries among them are cancelled. The rows stay, so statistics do not change. Tenants only.",
    params(ErasureQuery),
    responses(
        (status = 200, description = "What was erased.", body = ErasedOut),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "A provider token or the admin token: erasure is the tenant's (or the operator's, through /admin/v1).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("tenant_api_key" = [])),
)]
async fn erase_own(
    State(state): State<AppState>,
    Caller(scope): Caller,
    q: Result<Query<ErasureQuery>, QueryRejection>,
) -> Result<Json<ErasedOut>, Problem> {
    let Scope::Tenant(tenant) = scope else {
        return Err(Problem::forbidden(
            "erasure is about a tenant's data: the tenant asks (or the operator, through /admin/v1)",
        ));
    };
    let erasure = erasure_from(&tenant, query(q)?)?;
    Ok(Json(state.store.erase(&erasure).await?.into()))
}

#[utoipa::path(
    delete,
    operation_id = "adminEraseTenantData",
    path = "/admin/v1/tenants/{id}/data",
    tag = "admin",
    summary = "Erase a tenant's data for a record or a period",
    description = "What `DELETE /public/v1/data` does, on behalf of tenant `id`.",
    params(("id" = String, Path, description = "The tenant, `TEN-…`."), ErasureQuery),
    responses(
        (status = 200, description = "What was erased.", body = ErasedOut),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::AdminUnauthorized)),
        (status = 404, description = "No such tenant.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("admin_token" = [])),
)]
async fn erase_tenant(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    q: Result<Query<ErasureQuery>, QueryRejection>,
) -> Result<Json<ErasedOut>, Problem> {
    let erasure = erasure_from(&id, query(q)?)?;
    match state.store.tenant(&id).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(Problem::not_found(format!("tenant {id}"))),
        Err(error) => return Err(error.into()),
    }
    Ok(Json(state.store.erase(&erasure).await?.into()))
}
