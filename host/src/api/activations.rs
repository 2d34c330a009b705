//! Who uses what, as the callers of the REST APIs see it:
//! `GET /public/v1/activations?<RQL>&order&select&offset&limit`.
//!
//! A provider sees the activations of its services (which tenants use them: whom a test call
//! can run for), a tenant its own; secret parameter values are masked for both, as they are
//! in the operator's list (`GET /admin/v1/activations`).

use super::AppState;
use super::admin::ACTIVATION_PROPERTIES;
use super::auth::Caller;
use super::listing::{self, ListQuery};
use super::problem::Problem;
use crate::admin;
use crate::store::lists;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

/// This module's part of the OpenAPI document ([`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list))]
pub(crate) struct Doc;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/public/v1/activations", get(list))
}

/// The activations the caller may see, oldest first unless the query string orders them
/// otherwise.
#[utoipa::path(
    get,
    operation_id = "listOwnActivations",
    path = "/public/v1/activations",
    tag = "registry",
    summary = "List activations",
    description = "A provider: the tenants' activations of its services. A tenant: its own. Oldest first; secret parameter values masked.",
    params(crate::api::openapi::schemas::PageQuery),
    responses(
        (status = 200, description = "A page of activations.", body = crate::api::openapi::schemas::Page<crate::admin::ListedActivationView>),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token (it lists every activation at /admin/v1/activations).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
async fn list(
    State(state): State<AppState>,
    Caller(scope): Caller,
    query: ListQuery,
) -> Result<Json<serde_json::Value>, Problem> {
    let (offset, limit) = query.page(100, 1)?;
    let listing = query.listing(&lists::ACTIVATIONS)?;
    let select = query.select(ACTIVATION_PROPERTIES)?;
    let (activations, total) =
        admin::list_activations_matching(&state.store, Some(&scope), &listing, offset, limit)
            .await?;
    listing::page(offset, limit, total, activations, &select)
}
