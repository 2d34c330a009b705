//! The MPT webhook registry: `/public/v1/notifications/webhooks…` (wire-formats.md, section C).
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/public/v1/notifications/webhooks` | 200 `{"$meta":{"pagination":…},"data":[…]}` |
//! | POST | `/public/v1/notifications/webhooks` | 201, the object with its `secret`, this once |
//! | GET | `…/{id}` | 200, `secret` masked |
//! | PUT | `…/{id}` | 200, full replacement of the writable fields |
//! | DELETE | `…/{id}` | 204 |
//! | POST | `…/{id}/enable`, `…/{id}/disable` | 204 |
//!
//! The object is MPT's, field for field and in the seed's order, followed by our extensions
//! (`service`, `handler`, `modules`, `extension`, `limits`, `allowedHosts`, `retryPolicy`).
//!
//! Input is checked completely here (every field, component references resolved) before the
//! store is called, so a refused request writes nothing. The store then enforces what needs the
//! database: who owns the service, extension uniqueness, optimistic concurrency.
//!
//! Decisions beyond the MPT documentation:
//! - `criteria` is writable (MPT shows it read-only): our webhooks are registered here, and
//!   nothing else could set it. Values must be JSON strings: criteria match by exact string
//!   equality, so stringifying `1.0` or `true` for the caller would only hide a mismatch.
//! - Read-only fields (`id`, `href`, `statistics`, `last*`, `audit`, a masked `secret`) may be
//!   sent back unchanged, because clients PUT what they GET; they are ignored. A `secret` that
//!   is neither the mask nor the webhook's own secret is refused: secrets are generated here.
//! - `limits` and `allowedHosts` only mean something for component handlers, so a URL handler
//!   with them is refused instead of silently ignoring them.
//! - `ETag: "<revision>"` on every object answer; `If-Match` on PUT, DELETE, enable and
//!   disable answers 412 when the webhook changed in between.
//! - A tenant reading a provider's webhook (of a service it activated) sees `lastSuccess`,
//!   `lastFailure` and `lastCall` as `null`, and `statistics` of its own calls only (counted
//!   from the call log): the webhook's calls are made for every tenant of the service.
//! - `limit=0` is allowed and returns only the total, as MPT clients use it to count.
//!
//! # Layout
//! - [`wire`]: the JSON shapes, in and out; nothing but serde.
//! - [`input`]: a body checked field by field into the store's `WebhookSpec` (pure, apart
//!   from resolving a component reference through the caller's lookup).
//! - [`handlers`]: the routes: who may do what, preconditions, answers.

mod handlers;
mod input;
mod wire;

use super::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

/// Where the registry lives.
const BASE: &str = "/public/v1/notifications/webhooks";

/// Largest request body: a webhook is a few kilobytes; anything near this is a mistake or abuse.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// What `secret` reads as after the create response (MPT shows exactly 19 asterisks).
pub const MASKED_SECRET: &str = "*******************";

/// The registry's part of the OpenAPI document (`crate::api::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    handlers::list,
    handlers::create,
    handlers::one,
    handlers::replace,
    handlers::remove,
    handlers::enable,
    handlers::disable,
))]
pub(crate) struct Doc;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(BASE, get(handlers::list).post(handlers::create))
        .route(
            &format!("{BASE}/{{id}}"),
            get(handlers::one)
                .put(handlers::replace)
                .delete(handlers::remove),
        )
        .route(&format!("{BASE}/{{id}}/enable"), post(handlers::enable))
        .route(&format!("{BASE}/{{id}}/disable"), post(handlers::disable))
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}
