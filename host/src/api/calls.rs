//! Registry extensions about calls: the attempt log of a webhook, resending a delivered call,
//! and a synchronous test call.
//!
//! - `GET  /public/v1/notifications/webhooks/{id}/calls?offset&limit`
//! - `POST /public/v1/notifications/webhooks/{id}/calls/{callId}/resend` (202)
//! - `POST /public/v1/notifications/webhooks/{id}/test` (one call now, with a sample payload)
//!
//! Tenants see only the calls made on their behalf; providers see every call of their
//! webhooks.

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use crate::exec::Trigger;
use crate::sandbox::Event;
use crate::store::{CallRecord, Scope, StoreError, new_id};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/public/v1/notifications/webhooks/{id}/calls", get(list))
        .route("/public/v1/notifications/webhooks/{id}/calls/{call}/resend", post(resend))
        .route("/public/v1/notifications/webhooks/{id}/test", post(test))
}

fn tenant_filter(scope: &Scope) -> Option<&str> {
    match scope {
        Scope::Tenant(id) => Some(id),
        Scope::Provider(_) => None,
    }
}

async fn visible(state: &AppState, scope: &Scope, id: &str) -> Result<crate::store::Webhook, Problem> {
    match state.store.webhook(scope, id).await {
        Ok(webhook) => Ok(webhook),
        Err(StoreError::NotFound) => Err(Problem::not_found(format!("webhook {id}"))),
        Err(error) => Err(error.into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    offset: Option<i64>,
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(page) = page.map_err(|e| Problem::bad_request(e.body_text()))?;
    let (offset, limit) = (page.offset.unwrap_or(0), page.limit.unwrap_or(10));
    if offset < 0 {
        return Err(Problem::invalid("offset", "must be 0 or more"));
    }
    if !(0..=1000).contains(&limit) {
        return Err(Problem::invalid("limit", "must be between 0 and 1000"));
    }
    visible(&state, &scope, &id).await?;
    let (calls, total) = state.store.list_calls(&id, tenant_filter(&scope), offset, limit).await?;
    Ok(Json(json!({
        "$meta": {"pagination": {"offset": offset, "limit": limit, "total": total}},
        "data": calls,
    })))
}

async fn resend(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path((id, call)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    visible(&state, &scope, &id).await?;
    let delivery = match state.store.call_delivery(&id, &call, tenant_filter(&scope)).await {
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
    state.store.resend_delivery(&delivery).await?;
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

async fn test(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, Problem> {
    let webhook = visible(&state, &scope, &id).await?;
    // The body is optional: no body means a sample call.
    let request: TestRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TestRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| Problem::bad_request(format!("invalid body: {e}")))?
    };
    let tenant_id = match (&scope, request.tenant_id) {
        (Scope::Tenant(own), None) => own.clone(),
        (Scope::Tenant(own), Some(other)) if *own == other => other,
        (Scope::Tenant(_), Some(_)) => return Err(Problem::forbidden("tenants test webhooks as themselves")),
        (Scope::Provider(_), Some(tenant)) => {
            let activated = state.store.activation(&tenant, &webhook.service_id).await?.is_some();
            if !activated {
                return Err(Problem::invalid("tenantId", "this tenant has not activated the webhook's service"));
            }
            tenant
        }
        (Scope::Provider(_), None) => return Err(Problem::invalid("tenantId", "is required for a provider's test call")),
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
        source: "test".into(),
        module,
        record_id,
        event: Event::Test,
        payload: payload.to_string(),
        parameters: Vec::new(),
        delivery_id: new_id("TST"),
        attempt: 1,
    };
    let attempt = state.executor.run(&webhook, &tenant_id, &trigger).await;
    state
        .recorder
        .record(CallRecord {
            webhook_id: webhook.id.clone(),
            tenant_id,
            delivery_id: None,
            attempt: 1,
            trigger: "test".into(),
            call: attempt.call.clone(),
        })
        .await;
    let failure = attempt.result.as_ref().err().map(|f| json!({"kind": f.kind, "message": f.message}));
    Ok(Json(json!({"call": attempt.call, "failure": failure})))
}
