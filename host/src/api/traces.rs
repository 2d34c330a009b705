//! The server span of a request that may cause calls (every method but `GET` and `HEAD`), as
//! the parent of what it runs and plans; an incoming W3C `traceparent` is its own parent.
//! Installed only when traces are on (see [`crate::telemetry`]).

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

/// Runs the request inside its span.
pub async fn span_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        return next.run(request).await;
    }
    // The path, not the route: axum's `MatchedPath` would cost every request an extension,
    // traces on or off.
    let path = request.uri().path();
    let span = crate::telemetry::span!(
        "request",
        otel.name = %format_args!("{method} {path}"),
        otel.kind = "server",
        http.request.method = %method,
        url.path = %path,
        http.response.status_code = tracing::field::Empty,
    );
    if let Some(parent) = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        crate::telemetry::set_parent(&span, parent);
    }
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}
