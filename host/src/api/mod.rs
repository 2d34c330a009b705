//! The HTTP APIs, one module per dialect or resource; only these modules know HTTP.
//!
//! - [`webhooks`]: the MPT webhook registry, `/public/v1/notifications/webhooks…`.
//! - [`calls`]: a webhook's call log, resend, test calls.
//! - [`event_types`]: the event-type catalogue with payload schemas, `/public/v1/event-types`.
//! - [`deliveries`]: delivering again: recover, bulk retry.
//! - [`erasure`]: erasing a tenant's payloads and call-log bodies on request.
//! - [`statistics`]: a webhook's statistics over time (hourly).
//! - [`components`]: component upload and management, `/public/v1/components…`.
//! - [`admin`]: the operator's API, `/admin/v1/…`.
//! - [`smartml`]: onOffice smartml `executeMarketplaceWebhooks`.
//! - [`ivanti`]: Ivanti `Webhooks/Execute`.
//! - [`processes`]: process templates and processes, `/api/v1/…`.
//! - [`validate`]: MPT `validate*` webhooks, called synchronously.
//! - [`portal`]: the web portal (`/portal`), answered through the routes above.
//! - [`openapi`]: the OpenAPI document of all of them (`/openapi.json`) and Swagger UI
//!   (`/docs`).
//! - [`problem`]: the one place REST errors become responses.
//! - [`listing`]: the query string of every list endpoint (RQL filters, order, select, page).
//! - [`auth`]: who is calling.
//! - [`traces`]: the span of a request, when traces are on.

pub mod activations;
pub mod admin;
pub mod auth;
pub mod calls;
pub mod components;
pub mod deliveries;
pub mod erasure;
pub mod event_types;
pub mod ivanti;
pub mod listing;
pub mod openapi;
pub mod portal;
pub mod problem;
pub mod processes;
pub mod smartml;
pub mod statistics;
pub mod traces;
pub mod validate;
pub mod webhooks;

use crate::config::Config;
use crate::crypto::MasterKey;
use crate::sandbox::Runtime;
use crate::store::Store;
use crate::vocab::FailureKind;
use axum::Router;
use axum::routing::get;
use std::sync::Arc;

/// What every handler may use: one reference count to clone (axum clones the state for
/// every request), the parts reached through it.
#[derive(Clone)]
pub struct AppState(Arc<Parts>);

impl AppState {
    /// The state of a server made of `parts`.
    pub fn new(parts: Parts) -> Self {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// The parts of an [`AppState`].
pub struct Parts {
    /// The database.
    pub store: Store,
    /// The component runtime.
    pub runtime: Runtime,
    /// Encrypts and decrypts stored secrets.
    pub key: MasterKey,
    /// The configuration the server started with.
    pub config: Arc<Config>,
    /// Runs webhooks (components and URLs).
    pub executor: crate::exec::Executor,
    /// Writes statistics and the call log off the hot path.
    pub recorder: crate::recorder::Recorder,
    /// Wakes this process's delivery workers when deliveries were planned.
    pub wake: Arc<tokio::sync::Notify>,
}

/// All routes: the REST APIs, and the portal, which answers through them.
pub fn router(state: AppState) -> Router {
    let rest = rest_router(state.clone());
    rest.clone().merge(portal::router(state, rest))
}

/// The REST APIs (every dialect).
fn rest_router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(webhooks::router())
        .merge(calls::router())
        .merge(deliveries::router())
        .merge(erasure::router())
        .merge(statistics::router())
        .merge(portal::sessions_router())
        .merge(components::router())
        .merge(event_types::router())
        .merge(activations::router())
        .merge(admin::router())
        .merge(smartml::router())
        .merge(ivanti::router())
        .merge(validate::router())
        .merge(processes::router())
        .merge(openapi::router());
    // Off, not even a pass-through layer.
    let routes = if crate::telemetry::enabled() {
        routes.route_layer(axum::middleware::from_fn(traces::span_request))
    } else {
        routes
    };
    routes
        // Even a wrong path or method is answered with a problem document.
        .method_not_allowed_fallback(problem::wrong_method)
        .fallback(problem::no_route)
        .with_state(state)
}

/// The process is up.
#[utoipa::path(
    get,
    operation_id = "healthz",
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "`ok`", content_type = "text/plain", body = String)),
)]
async fn healthz() -> &'static str {
    "ok"
}

/// Prometheus text exposition.
#[utoipa::path(
    get,
    operation_id = "metrics",
    path = "/metrics",
    tag = "operations",
    description = "`hookhost_calls_total{source,outcome}`, `hookhost_call_duration_seconds{source}`, `hookhost_outbox_deliveries{status}`, `hookhost_webhook_circuits{state}` and `hookhost_webhook_circuit_open{webhook,state}` (read from the database at scrape time), `hookhost_components_compiled`, `hookhost_components_loaded_from_disk`.",
    responses((status = 200, description = "OpenMetrics text.",
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String)),
)]
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let outbox = state.store.delivery_counts().await.unwrap_or_default();
    let circuits = state.store.circuits().await.unwrap_or_default();
    let text = state
        .executor
        .metrics()
        .render(&outbox, &circuits, state.runtime.stats());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Ready when the database answers.
#[utoipa::path(
    get,
    operation_id = "readyz",
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "`ok`: the database answers.", content_type = "text/plain", body = String),
        (status = 503, description = "The database does not answer.", content_type = "text/plain", body = String),
    ),
)]
async fn readyz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match sqlx::query("SELECT 1").execute(state.store.pool()).await {
        Ok(_) => "ok".into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable",
            )
                .into_response()
        }
    }
}

impl AppState {
    /// Runs `webhook` once for a synchronous caller (Ivanti execute, validation, a test call)
    /// and queues the call for the statistics and the call log, under the trigger's source.
    /// The Call object goes to the log as it is; a caller that shows it takes
    /// [`AppState::run_synchronously_showing_call`].
    pub(crate) async fn run_synchronously(
        &self,
        webhook: &crate::store::Webhook,
        tenant_id: &str,
        trigger: &crate::exec::Trigger,
    ) -> Result<crate::exec::Output, crate::exec::Failure> {
        let attempt = self.executor.run(webhook, tenant_id, trigger).await;
        self.record(webhook, tenant_id, trigger, attempt.call, attempt.detail)
            .await;
        attempt.result
    }

    /// [`AppState::run_synchronously`], answering with the Call object too.
    pub(crate) async fn run_synchronously_showing_call(
        &self,
        webhook: &crate::store::Webhook,
        tenant_id: &str,
        trigger: &crate::exec::Trigger,
    ) -> (
        Result<crate::exec::Output, crate::exec::Failure>,
        crate::store::Call,
    ) {
        let attempt = self.executor.run(webhook, tenant_id, trigger).await;
        let call = attempt.call.clone();
        self.record(webhook, tenant_id, trigger, attempt.call, attempt.detail)
            .await;
        (attempt.result, call)
    }

    async fn record(
        &self,
        webhook: &crate::store::Webhook,
        tenant_id: &str,
        trigger: &crate::exec::Trigger,
        call: crate::store::Call,
        detail: crate::store::CallDetail,
    ) {
        self.recorder
            .record(crate::store::CallRecord::synchronous(
                &webhook.id,
                tenant_id,
                trigger.source,
                call,
                detail,
            ))
            .await;
    }
}

/// The HTTP status of a synchronous call that failed with `kind` (Ivanti execute, MPT
/// validation): the plugin's verdicts are the caller's problem, the rest the handler's.
pub(crate) fn failure_status(kind: FailureKind) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    match kind {
        FailureKind::Rejected => StatusCode::UNPROCESSABLE_ENTITY,
        FailureKind::InvalidInput => StatusCode::BAD_REQUEST,
        FailureKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        FailureKind::Temporary => StatusCode::SERVICE_UNAVAILABLE,
        FailureKind::HostService => StatusCode::INTERNAL_SERVER_ERROR,
        FailureKind::FuelExhausted
        | FailureKind::MemoryLimit
        | FailureKind::StackOverflow
        | FailureKind::Trap
        | FailureKind::PayloadTooLarge
        | FailureKind::OutputTooLarge
        | FailureKind::RefusedAddress
        | FailureKind::RefusedUrl
        | FailureKind::Connect
        | FailureKind::ConnectTimeout
        | FailureKind::Transport
        | FailureKind::Http(_) => StatusCode::BAD_GATEWAY,
    }
}

/// `(offset, limit)` of a list endpoint (read by [`listing::ListQuery::page`]):
/// `default_limit` items unless asked otherwise, at least `min_limit` and at most 1000.
pub fn check_page(
    offset: Option<i64>,
    limit: Option<i64>,
    default_limit: i64,
    min_limit: i64,
) -> Result<(i64, i64), problem::Problem> {
    let (offset, limit) = (offset.unwrap_or(0), limit.unwrap_or(default_limit));
    if offset < 0 {
        return Err(problem::Problem::invalid("offset", "must be 0 or more"));
    }
    if !(min_limit..=1000).contains(&limit) {
        return Err(problem::Problem::invalid(
            "limit",
            format!("must be between {min_limit} and 1000"),
        ));
    }
    Ok((offset, limit))
}

/// The list envelope of every API: `{"$meta": {"pagination": {…}}, "data": […]}`.
pub fn paged<T: serde::Serialize>(
    offset: i64,
    limit: i64,
    total: i64,
    data: Vec<T>,
) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "$meta": {"pagination": {"offset": offset, "limit": limit, "total": total}},
        "data": data,
    }))
}
