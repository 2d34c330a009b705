//! MPT `validate*` webhooks, called synchronously: `POST /public/v1/validate/{type}`.
//!
//! A tenant (REST API key) sends the object being edited (an Order, a Request, an Account)
//! and gets back the validated object from the first enabled webhook of that type it reaches
//! (its own, or one of a service it activated; oldest first) whose `criteria` match the
//! object: the object as the webhook returned it, possibly changed, with an order-level
//! `"error": {"id", "message"}` when it is invalid. The answer names the webhook in
//! `X-Hookhost-Webhook`. Errors are problem documents; a failing handler answers with a status
//! naming the reason (as on the Ivanti path). The call counts in the webhook's statistics and
//! call log like any other.

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use crate::events::EventType;
use crate::exec::Trigger;
use crate::sandbox::Event;
use crate::store::{Scope, new_id};
use crate::vocab::{MptType, TriggerSource};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

/// The header naming the webhook that answered.
pub const WEBHOOK_HEADER: HeaderName = HeaderName::from_static("x-hookhost-webhook");

/// This module's part of the OpenAPI document ([`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(validate))]
pub(crate) struct Doc;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/public/v1/validate/{type}", post(validate))
        .layer(DefaultBodyLimit::max(super::webhooks::MAX_BODY_BYTES))
}

#[utoipa::path(
    post,
    operation_id = "validateObject",
    path = "/public/v1/validate/{type}",
    tag = "validation",
    summary = "Validate an object",
    description = "Runs the first enabled webhook of this type the tenant reaches whose criteria match the object (oldest first), synchronously, and answers with the object as the webhook returned it: possibly changed, with an order-level `error: {id, message}` when it is invalid. Tenants only.",
    params(("type" = String, Path, description = "`validatePurchaseOrderDraft`, `validatePurchaseOrderQuerying`, `validateChangeOrderDraft`, `validateTerminateOrder`, `validateRequest` or `validateAccount` (any case).")),
    request_body(content = Object, content_type = "application/json", description = "The Order, Request or Account being edited (at most 1 MiB)."),
    responses(
        (status = 200, description = "The validated object.", content_type = "application/json", body = Object,
            headers(("X-Hookhost-Webhook" = String, description = "The webhook that answered."))),
        (status = 400, description = "An unknown type, a body that is not a JSON object, or a handler that refused the input as invalid.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "A provider token or the admin token: validation calls are made for a tenant.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No enabled webhook of this type the tenant reaches, or none whose criteria match.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 1 MiB.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "The handler rejected the object (its verdict).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 500, description = "The host failed to run the handler.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 502, description = "The handler failed: a trap, its memory or fuel, an endpoint that failed or answered no JSON object.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "The handler asked to be tried again later.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 504, description = "The handler ran past its deadline.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("tenant_api_key" = [])),
)]
async fn validate(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(kind): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let Scope::Tenant(tenant_id) = scope else {
        return Err(Problem::forbidden(
            "validation calls are made for a tenant: use a tenant REST API key",
        ));
    };
    let validations = || MptType::ALL.iter().filter(|t| t.is_validation());
    let Some(kind) = validations()
        .find(|t| t.as_str().eq_ignore_ascii_case(&kind))
        .copied()
    else {
        let known: Vec<&str> = validations().map(|t| t.as_str()).collect();
        return Err(Problem::invalid(
            "type",
            format!("{kind:?} is not one of {}", known.join(", ")),
        ));
    };
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is larger than {} bytes",
                super::webhooks::MAX_BODY_BYTES
            ),
        ),
        status => Problem::new(status, rejection.body_text()),
    })?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| Problem::bad_request("the body must be UTF-8 JSON text"))?;
    let object: Value = serde_json::from_str(text)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            Problem::bad_request(format!(
                "the body must be a JSON object: the {} to validate",
                kind.object_type()
            ))
        })?;

    let mut webhooks = state
        .store
        .webhooks_for_type(&tenant_id, kind.as_str())
        .await?;
    webhooks.retain(|w| w.subscribes_to(EventType::Validation(kind)));
    let Some(webhook) = webhooks
        .iter()
        .find(|w| crate::exec::criteria_match(&w.criteria, &object))
    else {
        let why = if webhooks.is_empty() {
            format!("this tenant reaches no enabled {kind} webhook")
        } else {
            format!(
                "none of the {} enabled {kind} webhooks this tenant reaches has criteria that match this object",
                webhooks.len()
            )
        };
        return Err(Problem::new(StatusCode::NOT_FOUND, why));
    };

    let record_id = match object.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(id @ Value::Number(_)) => id.to_string(),
        _ => String::new(),
    };
    let trigger = Trigger {
        source: TriggerSource::Mpt,
        module: webhook
            .object_type
            .clone()
            .unwrap_or_else(|| kind.object_type().to_string()),
        record_id,
        event: Event::Validate,
        payload: text.to_owned(),
        // A URL handler gets the activation's parameters on the URL (added by `exec`).
        parameters: Vec::new(),
        delivery_id: new_id("VAL"),
        attempt: 1,
    };
    let output = state
        .run_synchronously(webhook, &tenant_id, &trigger)
        .await
        .map_err(|failure| {
            Problem::new(
                super::failure_status(failure.kind),
                format!(
                    "the {kind} webhook {} failed ({}): {}",
                    webhook.id, failure.kind, failure.message
                ),
            )
        })?;
    // A URL webhook's transform that skipped the call has nothing to say about the object:
    // it comes back as it was sent.
    let body = match output.skipped {
        Some(_) => text.to_owned(),
        None => output.body,
    };
    if !serde_json::from_str::<Value>(&body).is_ok_and(|v| v.is_object()) {
        return Err(Problem::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "the {kind} webhook {} answered something that is not a JSON object",
                webhook.id
            ),
        ));
    }
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (WEBHOOK_HEADER, webhook.id.clone()),
        ],
        body,
    )
        .into_response())
}
