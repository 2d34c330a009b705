//! Registry extensions about calls: the attempt log of a webhook, resending a delivered call,
//! a synchronous test call, secret rotation and the host's notifications.
//!
//! - `GET  /public/v1/notifications/webhooks/{id}/calls?<RQL>&order&select&offset&limit`
//! - `POST /public/v1/notifications/webhooks/{id}/calls/{callId}/resend` (202)
//! - `POST /public/v1/notifications/webhooks/{id}/test` (one call now, with a sample payload)
//! - `POST /public/v1/notifications/webhooks/{id}/rotate-secret` (owner; the new secret, once)
//! - `GET  /public/v1/notifications/webhooks/{id}/notifications?<RQL>&…` (owner)
//!
//! Tenants see only the calls made on their behalf; providers see every call of their
//! webhooks. Rotation and notifications belong to the webhook's owner: a tenant reading a
//! provider's webhook gets 403.

use super::AppState;
use super::auth::Caller;
use super::listing::{self, ListQuery};
use super::problem::{Problem, body_rejection};
use crate::exec::Trigger;
use crate::sandbox::Event;
use crate::store::{Scope, StoreError, lists, new_id};
use crate::time::format_ms;
use crate::vocab::TriggerSource;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// Largest body of a test call (its sample payload; the webhook's payload cap applies too).
pub const MAX_TEST_BODY_BYTES: usize = 2 << 20;

/// This module's part of the OpenAPI document ([`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, resend, test, rotate_secret, notifications))]
pub(crate) struct Doc;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/public/v1/notifications/webhooks/{id}/calls", get(list))
        .route(
            "/public/v1/notifications/webhooks/{id}/calls/{call}/resend",
            post(resend),
        )
        .route(
            "/public/v1/notifications/webhooks/{id}/test",
            post(test).layer(DefaultBodyLimit::max(MAX_TEST_BODY_BYTES)),
        )
        .route(
            "/public/v1/notifications/webhooks/{id}/rotate-secret",
            post(rotate_secret),
        )
        .route(
            "/public/v1/notifications/webhooks/{id}/notifications",
            get(notifications),
        )
}

fn tenant_filter(scope: &Scope) -> Option<&str> {
    match scope {
        Scope::Tenant(id) => Some(id),
        Scope::Provider(_) => None,
    }
}

async fn visible(
    state: &AppState,
    scope: &Scope,
    id: &str,
) -> Result<crate::store::Webhook, Problem> {
    match state.store.webhook(scope, id).await {
        Ok(webhook) => Ok(webhook),
        Err(StoreError::NotFound) => Err(Problem::not_found(format!("webhook {id}"))),
        Err(error) => Err(error.into()),
    }
}

/// 403 unless `scope` owns `webhook` (a tenant may read a provider's webhook, not manage it).
fn must_own(scope: &Scope, webhook: &crate::store::Webhook, what: &str) -> Result<(), Problem> {
    if webhook.owner == *scope {
        Ok(())
    } else {
        Err(Problem::forbidden(format!(
            "webhook {} belongs to the service's provider: only its owner can {what}",
            webhook.id
        )))
    }
}

/// The properties of a listed call, for `select=`.
const CALL_PROPERTIES: &[&str] = &[
    "id",
    "deliveryId",
    "attempt",
    "trigger",
    "success",
    "callTime",
    "responseTime",
    "headers",
    "error",
    "response",
    "reasonPhrase",
    "httpStatusCode",
    "request",
    "log",
];

/// The properties of a listed notification, for `select=`.
const NOTIFICATION_PROPERTIES: &[&str] = &["id", "webhookId", "kind", "message", "created"];

/// A webhook's call log, newest first unless the query string orders it otherwise; 10 calls
/// by default, at most 1000 (0: just the total).
#[utoipa::path(
    get,
    operation_id = "listCalls",
    path = "/public/v1/notifications/webhooks/{id}/calls",
    tag = "calls",
    summary = "A webhook's call log",
    description = "Every attempt, newest first: providers see all calls of their webhooks, tenants only those made on their behalf.",
    params(("id" = String, Path, description = "The webhook, `WBH-…`."), crate::api::openapi::schemas::CountingPageQuery),
    responses(
        (status = 200, description = "A page of calls.", body = crate::api::openapi::schemas::Page<crate::store::LoggedCall>),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token (it manages the registry through /admin/v1).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook among those the caller may see (others' webhooks included).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
async fn list(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    query: ListQuery,
) -> Result<Json<Value>, Problem> {
    let (offset, limit) = query.page(10, 0)?;
    let listing = query.listing(&lists::CALLS)?;
    let select = query.select(CALL_PROPERTIES)?;
    visible(&state, &scope, &id).await?;
    let (calls, total) = state
        .store
        .list_calls_matching(&id, tenant_filter(&scope), &listing, offset, limit)
        .await?;
    listing::page(offset, limit, total, calls, &select)
}

#[utoipa::path(
    post,
    operation_id = "resendCall",
    path = "/public/v1/notifications/webhooks/{id}/calls/{call}/resend",
    tag = "calls",
    summary = "Resend a call",
    description = "Plans the delivery of an asynchronous call again, under its idempotency id.",
    params(("id" = String, Path, description = "The webhook, `WBH-…`."), ("call" = String, Path, description = "The call, as its call-log entry names it.")),
    responses(
        (status = 202, description = "Planned again.", body = crate::api::openapi::schemas::Resent),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token (it manages the registry through /admin/v1).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook or call among those the caller may see.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The call was synchronous (an execute or test call): nothing to resend.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 410, description = "The call's delivery was removed after the retention period, or its payload was erased.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
async fn resend(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path((id, call)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    visible(&state, &scope, &id).await?;
    let delivery = match state
        .store
        .call_delivery(&id, &call, tenant_filter(&scope))
        .await
    {
        Ok(Some(delivery)) => delivery,
        Ok(None) => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "this call was synchronous (an execute or test call): there is nothing to resend",
            ));
        }
        Err(StoreError::NotFound) => return Err(Problem::not_found(format!("call {call}"))),
        Err(error) => return Err(error.into()),
    };
    match state.store.resend_delivery(&delivery).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            return Err(Problem::new(
                StatusCode::GONE,
                format!(
                    "delivery {delivery} of this call no longer exists (removed after the retention period, or its payload was erased)"
                ),
            ));
        }
        Err(error) => return Err(error.into()),
    }
    state.wake.notify_waiters();
    Ok((StatusCode::ACCEPTED, Json(json!({"deliveryId": delivery}))))
}

/// The body of a test call; everything is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TestRequest {
    /// The payload (any JSON); a sample derived from the webhook when absent.
    payload: Option<Value>,
    /// Module or object type; the webhook's first module or its object type by default.
    module: Option<String>,
    /// Record id.
    record_id: Option<String>,
    /// Tenant on whose behalf to run (tenants: always themselves; providers: a tenant that
    /// activated the service, required when there is any doubt).
    tenant_id: Option<String>,
}

#[utoipa::path(
    post,
    operation_id = "testWebhook",
    path = "/public/v1/notifications/webhooks/{id}/test",
    tag = "calls",
    summary = "Test a webhook",
    description = "Runs the webhook once, now, with a sample payload (also when it is disabled), through the same sandbox, limits and egress guard as every call. A failing handler is a 200 whose `failure` says why.",
    params(("id" = String, Path, description = "The webhook, `WBH-…`.")),
    request_body(content = Option<crate::api::openapi::schemas::TestCallRequest>, content_type = "application/json",
        description = "Optional: without a body the call gets a sample payload."),
    responses(
        (status = 200, description = "The call, and its failure when it failed.", body = crate::api::openapi::schemas::TestCallResult),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token, or a tenant naming another tenant.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook among those the caller may see (others' webhooks included).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 2 MiB.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
async fn test(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<Json<Value>, Problem> {
    let body = body.map_err(|e| body_rejection(e, Some(MAX_TEST_BODY_BYTES)))?;
    let webhook = visible(&state, &scope, &id).await?;
    // The body is optional: no body means a sample call.
    let request: TestRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TestRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Problem::bad_request(format!("invalid body: {e}")))?
    };
    let tenant_id = match (&scope, request.tenant_id) {
        (Scope::Tenant(own), None) => own.clone(),
        (Scope::Tenant(own), Some(other)) if *own == other => other,
        (Scope::Tenant(_), Some(_)) => {
            return Err(Problem::forbidden("tenants test webhooks as themselves"));
        }
        (Scope::Provider(_), Some(tenant)) => {
            if !state.store.tenant_reaches(&tenant, &webhook.id).await? {
                let why = match webhook.service_id {
                    Some(_) => "this tenant has not activated the webhook's service",
                    None => "this tenant has activated none of this provider's services",
                };
                return Err(Problem::invalid("tenantId", why));
            }
            tenant
        }
        (Scope::Provider(_), None) => {
            return Err(Problem::invalid(
                "tenantId",
                "is required for a provider's test call",
            ));
        }
    };
    let module = request
        .module
        .or_else(|| webhook.modules.first().cloned())
        .or_else(|| webhook.object_type.clone())
        .unwrap_or_else(|| "webhook-body".into());
    let record_id = request.record_id.unwrap_or_else(|| "0".into());
    let payload = request
        .payload
        .unwrap_or_else(|| json!({"test": true, "module": module, "recordId": record_id}));
    let trigger = Trigger {
        source: TriggerSource::Test,
        module,
        record_id,
        event: Event::Test,
        payload: payload.to_string(),
        parameters: Vec::new(),
        delivery_id: new_id("TST"),
        attempt: 1,
    };
    let (result, call) = state
        .run_synchronously_showing_call(&webhook, &tenant_id, &trigger)
        .await;
    let failure = result
        .as_ref()
        .err()
        .map(|f| json!({"kind": f.kind, "message": f.message}));
    Ok(Json(json!({"call": call, "failure": failure})))
}

/// Issues a new signing secret. The previous one keeps signing next to it for
/// `outbound.secret_grace_hours`, so the receiver can switch without losing a call.
#[utoipa::path(
    post,
    operation_id = "rotateWebhookSecret",
    path = "/public/v1/notifications/webhooks/{id}/rotate-secret",
    tag = "calls",
    summary = "Rotate a webhook's signing secret",
    description = "Issues a new secret; the previous one keeps signing next to it for `outbound.secret_grace_hours`. The webhook's owner only.",
    params(("id" = String, Path, description = "The webhook, `WBH-…`.")),
    responses(
        (status = 200, description = "The new secret, shown this once.", body = crate::api::openapi::schemas::RotatedSecret),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token, or a tenant and a provider's webhook.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook among those the caller may see (others' webhooks included).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
async fn rotate_secret(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let webhook = visible(&state, &scope, &id).await?;
    must_own(&scope, &webhook, "rotate its secret")?;
    let grace_ms = (state.config.outbound.secret_grace_hours * 3_600_000) as i64;
    let rotated = match state
        .store
        .rotate_webhook_secret(&state.key, &scope, &id, grace_ms)
        .await
    {
        Ok(rotated) => rotated,
        Err(StoreError::NotFound) => return Err(Problem::not_found(format!("webhook {id}"))),
        Err(error) => return Err(error.into()),
    };
    let previous_valid_until = (grace_ms > 0).then(|| format_ms(rotated.previous_expires_at));
    Ok(Json(json!({
        "id": id,
        "secret": rotated.secret,
        "previousSecretValidUntil": previous_valid_until,
    })))
}

/// What the host told the owner about the webhook (automatic disabling), newest first unless
/// the query string orders it otherwise.
#[utoipa::path(
    get,
    operation_id = "listWebhookNotifications",
    path = "/public/v1/notifications/webhooks/{id}/notifications",
    tag = "calls",
    summary = "A webhook's notifications",
    description = "What the host told the webhook's owner (automatic disabling), newest first. The owner only.",
    params(("id" = String, Path, description = "The webhook, `WBH-…`."), crate::api::openapi::schemas::CountingPageQuery),
    responses(
        (status = 200, description = "A page of notifications.", body = crate::api::openapi::schemas::Page<crate::api::openapi::schemas::Notification>),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token, or a tenant and a provider's webhook.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook among those the caller may see (others' webhooks included).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
async fn notifications(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    query: ListQuery,
) -> Result<Json<Value>, Problem> {
    let (offset, limit) = query.page(10, 0)?;
    let listing = query.listing(&lists::NOTIFICATIONS)?;
    let select = query.select(NOTIFICATION_PROPERTIES)?;
    let webhook = visible(&state, &scope, &id).await?;
    must_own(&scope, &webhook, "read its notifications")?;
    let (items, total) = state
        .store
        .list_notifications_matching(&scope, &id, &listing, offset, limit)
        .await?;
    let data = items.into_iter().map(|n| {
        json!({
            "id": n.id,
            "webhookId": n.webhook_id,
            "kind": n.kind,
            "message": n.message,
            "created": format_ms(n.created_at),
        })
    });
    listing::page(offset, limit, total, data, &select)
}
