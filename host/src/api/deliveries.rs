//! Delivering again what was delivered (or failed) before, under the same `webhook-id`:
//!
//! - `POST /public/v1/notifications/webhooks/{id}/recover` `{"since", "until"}`: every
//!   delivery that failed for good in the window (Svix's "recover").
//! - `POST /public/v1/notifications/webhooks/{id}/deliveries/retry` `{"status", "eventType",
//!   "recordId", "since", "until"}`: a bulk retry of the finished deliveries the filter selects.
//!
//! Both answer 202 `{"requeued": n, "replayed": false}`. Providers act on every delivery of
//! their webhooks, tenants on those made on their behalf. A delivery is queued again as it is
//! (its row, its id, its payload), so doing it twice never duplicates a delivery, and an
//! `Idempotency-Key` header makes the request itself count once: a repeat gets the first
//! answer with `"replayed": true`.

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiJson, Problem};
use crate::events::EventType;
use crate::store::{IdempotencyKey, Redelivery, Scope, StoreError};
use crate::time::{now_ms, parse_ms};
use crate::vocab::DeliveryStatus;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

/// This module's part of the OpenAPI document ([`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(recover, retry))]
pub(crate) struct Doc;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/public/v1/notifications/webhooks/{id}/recover",
            post(recover),
        )
        .route(
            "/public/v1/notifications/webhooks/{id}/deliveries/retry",
            post(retry),
        )
}

/// Longest idempotency key.
const MAX_KEY_CHARS: usize = 200;

/// `POST …/recover`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// Deliveries that failed at or after this time (RFC 3339).
    pub since: String,
    /// … and before this time (RFC 3339); now when absent.
    pub until: Option<String>,
}

/// `POST …/deliveries/retry`: every field narrows the selection.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RetryRequest {
    /// The final statuses to deliver again: `failed` (the default), `succeeded`, or both.
    #[schema(value_type = Option<Vec<String>>)]
    pub status: Option<Vec<String>>,
    /// Only deliveries of this event type (one delivered through the outbox:
    /// `<module>.update`, `<module>.process-step`, `webhook.*`).
    pub event_type: Option<String>,
    /// Only deliveries about this record.
    pub record_id: Option<String>,
    /// Only deliveries that finished at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only deliveries that finished before this time (RFC 3339).
    pub until: Option<String>,
}

/// The answer of both.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequeuedOut {
    /// Deliveries queued again.
    pub requeued: u64,
    /// `true` when this is the answer of an earlier request with the same `Idempotency-Key`.
    pub replayed: bool,
}

fn time(field: &str, text: Option<&str>) -> Result<Option<i64>, Problem> {
    text.map(|t| {
        parse_ms(t).ok_or_else(|| {
            Problem::invalid(
                field,
                format!("{t:?} is not an RFC 3339 time (2026-12-01T00:00:00Z)"),
            )
        })
    })
    .transpose()
}

/// The caller's `Idempotency-Key`, if it sent one.
fn idempotency_key(scope: &Scope, headers: &HeaderMap) -> Result<Option<IdempotencyKey>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.chars().count() <= MAX_KEY_CHARS)
        .ok_or_else(|| {
            Problem::invalid(
                "Idempotency-Key",
                format!("must be 1 to {MAX_KEY_CHARS} visible ASCII characters"),
            )
        })?;
    Ok(Some(IdempotencyKey {
        caller: format!("{}:{}", scope.kind(), scope.id()),
        key: key.to_owned(),
    }))
}

/// Queues what `filter` selects of webhook `id` again, as `scope` may.
async fn requeue(
    state: &AppState,
    scope: &Scope,
    id: &str,
    mut filter: Redelivery,
    key: Option<IdempotencyKey>,
) -> Result<(StatusCode, Json<RequeuedOut>), Problem> {
    let webhook = match state.store.webhook(scope, id).await {
        Ok(webhook) => webhook,
        Err(StoreError::NotFound) => return Err(Problem::not_found(format!("webhook {id}"))),
        Err(error) => return Err(error.into()),
    };
    if !webhook.enabled {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            format!("webhook {id} is disabled: enable it first, or its deliveries fail at once"),
        ));
    }
    if let Scope::Tenant(tenant) = scope {
        filter.tenant_id = Some(tenant.clone());
    }
    let done = state
        .store
        .requeue_deliveries(&filter, key.as_ref())
        .await?;
    if done.requeued > 0 {
        state.wake.notify_waiters();
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(RequeuedOut {
            requeued: done.requeued,
            replayed: done.replayed,
        }),
    ))
}

#[utoipa::path(
    post,
    operation_id = "recoverWebhook",
    path = "/public/v1/notifications/webhooks/{id}/recover",
    tag = "calls",
    summary = "Recover failed deliveries",
    description = "Queues again every delivery of the webhook that failed for good in `[since, until)`, under its own `webhook-id`; the call log adds its new attempts to the same delivery, and its retry schedule starts over. Idempotent: a delivery is queued again, never copied; with an `Idempotency-Key` header a repeated request gets the first answer.",
    params(
        ("id" = String, Path, description = "The webhook, `WBH-…`."),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes the request count once for this caller."),
    ),
    request_body(content = RecoverRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Queued again.", body = RequeuedOut),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token (it manages the registry through /admin/v1).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook among those the caller may see.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The webhook is disabled.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, response = inline(crate::api::openapi::responses::NotJson)),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
async fn recover(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RecoverRequest>,
) -> Result<(StatusCode, Json<RequeuedOut>), Problem> {
    let since = time("since", Some(&body.since))?.expect("given");
    let until = time("until", body.until.as_deref())?;
    if until.unwrap_or_else(now_ms) <= since {
        return Err(Problem::invalid("until", "must be later than since"));
    }
    let key = idempotency_key(&scope, &headers)?;
    requeue(
        &state,
        &scope,
        &id,
        Redelivery::recover(&id, since, until),
        key,
    )
    .await
}

#[utoipa::path(
    post,
    operation_id = "retryDeliveries",
    path = "/public/v1/notifications/webhooks/{id}/deliveries/retry",
    tag = "calls",
    summary = "Retry deliveries in bulk",
    description = "Queues again the finished deliveries of the webhook that the filter selects (by default every failed one), each under its own `webhook-id`. Idempotent like recover.",
    params(
        ("id" = String, Path, description = "The webhook, `WBH-…`."),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes the request count once for this caller."),
    ),
    request_body(content = RetryRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Queued again.", body = RequeuedOut),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token (it manages the registry through /admin/v1).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook among those the caller may see.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The webhook is disabled.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 415, response = inline(crate::api::openapi::responses::NotJson)),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
async fn retry(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RetryRequest>,
) -> Result<(StatusCode, Json<RequeuedOut>), Problem> {
    let filter = retry_filter(&id, body)?;
    let key = idempotency_key(&scope, &headers)?;
    requeue(&state, &scope, &id, filter, key).await
}

/// The selection a bulk retry's body names, checked field by field.
pub fn retry_filter(webhook_id: &str, body: RetryRequest) -> Result<Redelivery, Problem> {
    let statuses = match body.status {
        None => vec![DeliveryStatus::Failed],
        Some(names) if names.is_empty() => {
            return Err(Problem::invalid(
                "status",
                "must name failed, succeeded or both",
            ));
        }
        Some(names) => {
            let mut statuses = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let field = format!("status[{i}]");
                match DeliveryStatus::parse_ignoring_case(name) {
                    Ok(status) if status.is_final() => statuses.push(status),
                    Ok(status) => {
                        return Err(Problem::invalid(
                            &field,
                            format!(
                                "{status} deliveries are queued already: only failed and succeeded ones are delivered again"
                            ),
                        ));
                    }
                    Err(unknown) => return Err(Problem::invalid(&field, unknown.to_string())),
                }
            }
            statuses
        }
    };
    let event_type = match body.event_type.as_deref() {
        None => None,
        Some(name) => {
            let event_type = EventType::parse(name)
                .map_err(|unknown| Problem::invalid("eventType", unknown.to_string()))?;
            if !matches!(
                event_type,
                EventType::RecordUpdate(_) | EventType::ProcessStep(_) | EventType::Operational(_)
            ) {
                return Err(Problem::invalid(
                    "eventType",
                    format!(
                        "{event_type} calls are synchronous: they are never delivered through the outbox"
                    ),
                ));
            }
            Some(event_type)
        }
    };
    let since = time("since", body.since.as_deref())?;
    let until = time("until", body.until.as_deref())?;
    if let (Some(since), Some(until)) = (since, until)
        && until <= since
    {
        return Err(Problem::invalid("until", "must be later than since"));
    }
    Ok(Redelivery {
        webhook_id: webhook_id.to_owned(),
        tenant_id: None,
        statuses,
        event_type,
        record_id: body.record_id,
        since,
        until,
    })
}
