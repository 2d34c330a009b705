//! The registry's routes: who may see and change which webhook, `If-Match` preconditions,
//! and the answers (the object with its `ETag`, pages, problem documents).

use super::input::{self, Rules};
use super::wire::{Meta, PageOut, Pagination, WebhookIn, render};
use super::{BASE, MASKED_SECRET};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::listing::{self, ListQuery};
use crate::api::problem::{ApiJson, Problem};
use crate::store::{ComponentRecord, Handler, Scope, StoreError, Webhook, WebhookSpec, lists};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// Even a wrong method is answered with a problem document, like every other error here.
pub(super) async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this resource",
    )
}

/// Looks up the component records behind component handlers and transforms, once per id and
/// request.
///
/// Looked up in the webhook owner's scope: a tenant reading a provider's webhook still sees
/// which component handles it.
#[derive(Default)]
struct Components(HashMap<String, Option<ComponentRecord>>);

impl Components {
    async fn of(
        &mut self,
        state: &AppState,
        webhook: &Webhook,
    ) -> Result<Option<ComponentRecord>, Problem> {
        let id = match (&webhook.handler, &webhook.transform) {
            (Handler::Component(id), _) | (Handler::Url(_), Some(id)) => id,
            (Handler::Url(_), None) => return Ok(None),
        };
        if let Some(known) = self.0.get(id) {
            return Ok(known.clone());
        }
        let record = match state.store.component(&webhook.owner, id).await {
            Ok(record) => Some(record),
            // Deleting a component in use is refused; should it be gone anyway, show the id.
            Err(StoreError::NotFound) => None,
            Err(error) => return Err(error.into()),
        };
        self.0.insert(id.clone(), record.clone());
        Ok(record)
    }
}

/// `webhook` as `viewer` may see it: a tenant reading a provider's webhook gets the
/// statistics of its own calls, not those of every tenant of the service.
async fn seen_by(
    state: &AppState,
    viewer: &Scope,
    mut webhook: Webhook,
) -> Result<Webhook, Problem> {
    if let Scope::Tenant(tenant) = viewer
        && webhook.owner != *viewer
    {
        webhook.statistics = state.store.tenant_statistics(&webhook.id, tenant).await?;
    }
    Ok(webhook)
}

/// `webhook` rendered with its `ETag`.
async fn respond(
    state: &AppState,
    viewer: &Scope,
    status: StatusCode,
    webhook: Webhook,
    secret: Option<String>,
) -> Result<Response, Problem> {
    let webhook = seen_by(state, viewer, webhook).await?;
    let component = Components::default().of(state, &webhook).await?;
    let etag = etag(webhook.revision);
    let location = format!("{BASE}/{}", webhook.id);
    let body = render(webhook, viewer, component.as_ref(), secret);
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::ETAG, etag);
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&location)
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

fn etag(revision: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{revision}\"")).expect("digits and quotes are valid")
}

/// The revisions an `If-Match` header accepts; `None` when there is none or it is `*`.
///
/// Entity tags are ours (`"<revision>"`); a weak or foreign tag never matches (RFC 9110 uses
/// the strong comparison for If-Match), which ends in 412 like a stale one.
fn if_match(headers: &HeaderMap) -> Result<Option<Vec<i64>>, Problem> {
    let mut accepted = Vec::new();
    let mut any = false;
    let mut seen = false;
    for value in headers.get_all(header::IF_MATCH) {
        seen = true;
        let text = value
            .to_str()
            .map_err(|_| Problem::bad_request("If-Match: not a list of entity tags"))?;
        for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if tag == "*" {
                any = true;
            } else if let Some(revision) = tag
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .and_then(|t| t.parse::<i64>().ok())
            {
                accepted.push(revision);
            }
        }
    }
    Ok((seen && !any).then_some(accepted))
}

/// 412 unless `current` is at one of the `accepted` revisions; the revision to update from.
fn precondition(current: &Webhook, accepted: Option<&[i64]>) -> Result<Option<i64>, Problem> {
    match accepted {
        None => Ok(None),
        Some(revisions) if revisions.contains(&current.revision) => Ok(Some(current.revision)),
        Some(_) => Err(stale(&current.id, current.revision)),
    }
}

fn stale(id: &str, revision: i64) -> Problem {
    Problem::new(
        StatusCode::PRECONDITION_FAILED,
        format!(
            "webhook {id} has changed since you read it (its ETag is now \"{revision}\"); GET it again"
        ),
    )
}

/// The webhook `id` as `scope` sees it, or 404 (also for webhooks of others: never reveal
/// that they exist).
async fn visible(state: &AppState, scope: &Scope, id: &str) -> Result<Webhook, Problem> {
    match state.store.webhook(scope, id).await {
        Ok(webhook) => Ok(webhook),
        Err(StoreError::NotFound) => Err(Problem::not_found(format!("webhook {id}"))),
        Err(error) => Err(error.into()),
    }
}

/// A store error of a per-id request, with a 404 that names the webhook.
fn store_problem(id: &str, error: StoreError) -> Problem {
    match error {
        StoreError::NotFound => Problem::not_found(format!("webhook {id}")),
        error => error.into(),
    }
}

/// 403 when `scope` may read but not change `webhook` (a tenant and a provider's webhook).
fn must_own(scope: &Scope, webhook: &Webhook) -> Result<(), Problem> {
    if webhook.owner == *scope {
        Ok(())
    } else {
        Err(Problem::forbidden(format!(
            "webhook {} belongs to the service's provider and is read-only for tenants",
            webhook.id
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// The properties of a listed webhook, for `select=`.
const PROPERTIES: &[&str] = &[
    "id",
    "href",
    "description",
    "status",
    "type",
    "objectType",
    "url",
    "criteria",
    "statistics",
    "lastSuccess",
    "lastFailure",
    "lastCall",
    "secret",
    "audit",
    "service",
    "handler",
    "modules",
    "extension",
    "limits",
    "allowedHosts",
    "retryPolicy",
    "eventTypes",
    "circuit",
    "rateLimit",
    "rateLoweredUntil",
    "rateDivisor",
    "ordering",
];

fn page_number(field: &str, text: Option<&str>, default: i64, max: i64) -> Result<i64, Problem> {
    match text {
        None => Ok(default),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(n) if (0..=max).contains(&n) => Ok(n),
            _ => Err(Problem::invalid(
                field,
                format!("must be a whole number from 0 to {max}, got {text:?}"),
            )),
        },
    }
}

/// `GET`: the webhooks the caller sees, filtered, ordered and shaped by the query string
/// (RQL: see [`crate::api::listing`]); an unknown parameter, field or operator is a 400
/// rather than ignored, so a client never mistakes an unfiltered page for a filtered one.
#[utoipa::path(
    get,
    operation_id = "listWebhooks",
    path = "/public/v1/notifications/webhooks",
    tag = "registry",
    summary = "List webhooks",
    description = "The caller's webhooks; for a tenant also (read-only) those of the services it activated, with the statistics of its own calls only. `limit=0` answers the total alone.",
    params(
        ("offset" = Option<i64>, Query, minimum = 0, maximum = 2147483647, description = "Items to skip."),
        ("limit" = Option<i64>, Query, minimum = 0, maximum = 1000, description = "Items to return, 10 by default."),
        ("order" = Option<String>, Query, description = "RQL order: fields, `-` for descending (`-audit.created.at,description`). Filters are RQL expressions as bare query keys (`eq(status,enabled)`, `in(type,(validateRequest,validateAccount))`, `ilike(description,*order*)`, `and(…)`, `or(…)`, `not(…)`)."),
        ("select" = Option<String>, Query, description = "RQL select: `-statistics` drops a property, `id,url` keeps only those named."),
    ),
    responses(
        (status = 200, description = "A page of webhooks (secrets masked).", body = super::wire::PageOut),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token (it manages the registry through /admin/v1).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    Caller(scope): Caller,
    query: ListQuery,
) -> Result<Response, Problem> {
    let offset = page_number("offset", query.offset(), 0, i64::from(i32::MAX))?;
    let limit = page_number("limit", query.limit(), 10, 1000)?;
    let fields = match scope {
        Scope::Provider(_) => &lists::WEBHOOKS,
        Scope::Tenant(_) => &lists::WEBHOOKS_SEEN_BY_TENANTS,
    };
    let listing = query.listing(fields)?;
    let select = query.select(PROPERTIES)?;
    let (webhooks, total) = state
        .store
        .list_webhooks(&scope, &listing, offset, limit)
        .await?;
    let mut components = Components::default();
    let mut data = Vec::with_capacity(webhooks.len());
    for webhook in webhooks {
        let webhook = seen_by(&state, &scope, webhook).await?;
        let component = components.of(&state, &webhook).await?;
        data.push(render(webhook, &scope, component.as_ref(), None));
    }
    if !select.keeps_everything() {
        return Ok(listing::page(offset, limit, total, data, &select)?.into_response());
    }
    let page = PageOut {
        meta: Meta {
            pagination: Pagination {
                offset,
                limit,
                total,
            },
        },
        data,
    };
    Ok(axum::Json(page).into_response())
}

#[utoipa::path(
    post,
    operation_id = "createWebhook",
    path = "/public/v1/notifications/webhooks",
    tag = "registry",
    summary = "Register a webhook",
    description = "Registers a webhook of one of the caller's services (a tenant: of its private ones). The answer carries the signing secret, this once.",
    request_body(content = super::wire::WebhookIn, content_type = "application/json"),
    responses(
        (status = 201, description = "The webhook, with its `whsec_` secret.", body = super::wire::WebhookOut,
            headers(("ETag" = String, description = "`\"<revision>\"`."), ("Location" = String, description = "The webhook's URL."))),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token, or a tenant changing a provider's webhook (read-only for tenants).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "The service is not the caller's.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "An extension already in use in a tenant's reach, a quota reached, or a write that raced another one.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 1 MiB.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, response = inline(crate::api::openapi::responses::NotJson)),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    Caller(scope): Caller,
    ApiJson(input): ApiJson<WebhookIn>,
) -> Result<Response, Problem> {
    if let Some(secret) = &input.secret
        && secret != MASKED_SECRET
    {
        return Err(Problem::invalid(
            "secret",
            "is generated by the host and returned once in this response; leave it out",
        ));
    }
    let spec = spec_of(&state, &scope, input).await?;
    let (webhook, secret) = state
        .store
        .create_webhook(&state.key, &scope, &spec)
        .await?;
    respond(&state, &scope, StatusCode::CREATED, webhook, Some(secret)).await
}

#[utoipa::path(
    get,
    operation_id = "getWebhook",
    path = "/public/v1/notifications/webhooks/{id}",
    tag = "registry",
    summary = "Read a webhook",
    params(("id" = String, Path, description = "The webhook, `WBH-…`.")),
    responses(
        (status = 200, description = "The webhook, secret masked.", body = super::wire::WebhookOut, headers(("ETag" = String, description = "`\"<revision>\"`, for If-Match."))),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token (it manages the registry through /admin/v1).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook among those the caller may see (others' webhooks included).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
pub(super) async fn one(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let webhook = visible(&state, &scope, &id).await?;
    respond(&state, &scope, StatusCode::OK, webhook, None).await
}

#[utoipa::path(
    put,
    operation_id = "replaceWebhook",
    path = "/public/v1/notifications/webhooks/{id}",
    tag = "registry",
    summary = "Replace a webhook",
    description = "Replaces every writable field (what a GET answered may be sent back: read-only fields are ignored, the secret must be masked or the webhook's own).",
    params(("id" = String, Path, description = "The webhook, `WBH-…`."), ("If-Match" = Option<String>, Header, description = "`\"<revision>\"` (the ETag of a GET) or `*`: refuse with 412 when the webhook changed since.")),
    request_body(content = super::wire::WebhookIn, content_type = "application/json"),
    responses(
        (status = 200, description = "The webhook as stored now.", body = super::wire::WebhookOut, headers(("ETag" = String, description = "`\"<revision>\"`, for If-Match."))),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token, or a tenant changing a provider's webhook (read-only for tenants).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook among those the caller may see (others' webhooks included).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "An extension already in use in a tenant's reach, a quota reached, or a write that raced another one.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names a revision the webhook no longer has.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 1 MiB.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, response = inline(crate::api::openapi::responses::NotJson)),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
pub(super) async fn replace(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<WebhookIn>,
) -> Result<Response, Problem> {
    let current = visible(&state, &scope, &id).await?;
    must_own(&scope, &current)?;
    let expected = precondition(&current, if_match(&headers)?.as_deref())?;
    if let Some(secret) = &input.secret
        && secret != MASKED_SECRET
    {
        // The create response carries the real secret; PUTting that object back is fine.
        let stored = state
            .store
            .webhook_secret(&state.key, &id)
            .await
            .map_err(|e| store_problem(&id, e))?;
        if !crate::crypto::constant_time_eq(secret.as_bytes(), stored.as_bytes()) {
            return Err(Problem::invalid(
                "secret",
                "is read-only: it cannot be changed with PUT; send it masked or leave it out",
            ));
        }
    }
    let mut spec = spec_of(&state, &scope, input).await?;
    // A client that knows only the seed's object PUTs back what it read without `service`:
    // the webhook keeps its service rather than reaching every tenant of its owner.
    if spec.service_id.is_none() {
        spec.service_id = current.service_id.clone();
    }
    let updated = match state
        .store
        .update_webhook(&scope, &id, &spec, expected)
        .await
    {
        Ok(updated) => updated,
        Err(StoreError::Conflict(message)) => {
            // With If-Match, a change that slipped in after our check is still a failed
            // precondition; an extension clash stays a 409.
            if let Some(expected) = expected {
                let now = visible(&state, &scope, &id).await?;
                if now.revision != expected {
                    return Err(stale(&id, now.revision));
                }
            }
            return Err(Problem::new(StatusCode::CONFLICT, message));
        }
        Err(error) => return Err(store_problem(&id, error)),
    };
    respond(&state, &scope, StatusCode::OK, updated, None).await
}

/// Checks `If-Match` for the bodiless changes (delete, enable, disable), when one is sent.
async fn check_if_match(
    state: &AppState,
    scope: &Scope,
    id: &str,
    headers: &HeaderMap,
) -> Result<(), Problem> {
    if let Some(accepted) = if_match(headers)? {
        let current = visible(state, scope, id).await?;
        must_own(scope, &current)?;
        precondition(&current, Some(&accepted))?;
    }
    Ok(())
}

#[utoipa::path(
    delete,
    operation_id = "deleteWebhook",
    path = "/public/v1/notifications/webhooks/{id}",
    tag = "registry",
    summary = "Delete a webhook",
    params(("id" = String, Path, description = "The webhook, `WBH-…`."), ("If-Match" = Option<String>, Header, description = "`\"<revision>\"` (the ETag of a GET) or `*`: refuse with 412 when the webhook changed since.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token, or a tenant changing a provider's webhook (read-only for tenants).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook among those the caller may see (others' webhooks included).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names a revision the webhook no longer has.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
pub(super) async fn remove(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    check_if_match(&state, &scope, &id, &headers).await?;
    state
        .store
        .delete_webhook(&scope, &id)
        .await
        .map_err(|e| store_problem(&id, e))?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    operation_id = "enableWebhook",
    path = "/public/v1/notifications/webhooks/{id}/enable",
    tag = "registry",
    summary = "Enable a webhook",
    params(("id" = String, Path, description = "The webhook, `WBH-…`."), ("If-Match" = Option<String>, Header, description = "`\"<revision>\"` (the ETag of a GET) or `*`: refuse with 412 when the webhook changed since.")),
    responses(
        (status = 204, description = "Enabled."),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token, or a tenant changing a provider's webhook (read-only for tenants).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook among those the caller may see (others' webhooks included).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names a revision the webhook no longer has.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
pub(super) async fn enable(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    set_enabled(state, scope, id, headers, true).await
}

#[utoipa::path(
    post,
    operation_id = "disableWebhook",
    path = "/public/v1/notifications/webhooks/{id}/disable",
    tag = "registry",
    summary = "Disable a webhook",
    params(("id" = String, Path, description = "The webhook, `WBH-…`."), ("If-Match" = Option<String>, Header, description = "`\"<revision>\"` (the ETag of a GET) or `*`: refuse with 412 when the webhook changed since.")),
    responses(
        (status = 204, description = "Disabled."),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token, or a tenant changing a provider's webhook (read-only for tenants).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook among those the caller may see (others' webhooks included).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names a revision the webhook no longer has.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
pub(super) async fn disable(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    set_enabled(state, scope, id, headers, false).await
}

async fn set_enabled(
    state: AppState,
    scope: Scope,
    id: String,
    headers: HeaderMap,
    enabled: bool,
) -> Result<StatusCode, Problem> {
    check_if_match(&state, &scope, &id, &headers).await?;
    state
        .store
        .set_webhook_enabled(&scope, &id, enabled)
        .await
        .map_err(|e| store_problem(&id, e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// The store's spec of `input`, checked under the host's rules, its component reference
/// resolved among the caller's components.
async fn spec_of(
    state: &AppState,
    scope: &Scope,
    input: WebhookIn,
) -> Result<WebhookSpec, Problem> {
    let rules = Rules {
        allow_insecure: state.config.outbound.allow_insecure,
        sandbox: &state.config.sandbox,
        egress: state.executor.remote().egress(),
    };
    let spec = input::spec_from(input, &rules, |reference: String| async move {
        match state.store.resolve_component(scope, &reference).await {
            Ok(record) => Ok(Some(record.id)),
            Err(StoreError::NotFound) => Ok(None),
            Err(error) => Err(error.into()),
        }
    })
    .await?;
    // A component takes the role it is named for only when it exports that role's interface
    // (a 0.2.0 component may export `transform` alone; 0.1.0 ones only `plugin`).
    if let Handler::Component(id) = &spec.handler {
        check_role(state, id, "handler.component", |r| r.handler, "plugin").await?;
    }
    if let Some(id) = &spec.transform {
        check_role(
            state,
            id,
            "transform.component",
            |r| r.transform,
            "transform",
        )
        .await?;
    }
    Ok(spec)
}

/// Refuses component `id` for `field` unless it exports `interface` (`has` reads its roles).
async fn check_role(
    state: &AppState,
    id: &str,
    field: &str,
    has: impl Fn(&crate::sandbox::Roles) -> bool,
    interface: &str,
) -> Result<(), Problem> {
    let plugin = state
        .executor
        .plugin(id)
        .await
        .map_err(|error| Problem::internal("loading a component", format!("{error:#}")))?;
    if has(&plugin.info.roles) {
        return Ok(());
    }
    Err(Problem::invalid(
        field,
        format!(
            "component {id} (marketplace:webhook@{}) does not export \
             marketplace:webhook/{interface}",
            plugin.info.wit_version
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_our_tags_and_star() {
        let mut headers = HeaderMap::new();
        assert_eq!(if_match(&headers).unwrap(), None);
        headers.insert(
            header::IF_MATCH,
            HeaderValue::from_static("\"3\", W/\"4\", \"x\""),
        );
        assert_eq!(if_match(&headers).unwrap(), Some(vec![3]));
        headers.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(if_match(&headers).unwrap(), None);
    }
}
