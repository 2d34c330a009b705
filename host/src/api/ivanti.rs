//! Ivanti Neurons for ITSM: `POST /api/rest/Webhooks/Execute?extension=…`, wire-exact.
//!
//! The webhook's handler runs synchronously with the body as `WebhookBody`; its output is the
//! answer. This module is the one place Ivanti error bodies are produced (note the trailing
//! spaces some of them carry: clients compare them verbatim).

use super::AppState;
use crate::events::EventType;
use crate::exec::Trigger;
use crate::sandbox::Event;
use crate::store::new_id;
use crate::vocab::TriggerSource;
use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt;
use serde::Serialize;
use utoipa::ToSchema;

/// Longest body, in characters.
pub const MAX_BODY_CHARS: usize = 100_000;

/// This module's part of the OpenAPI document ([`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(execute))]
pub(crate) struct Doc;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/rest/Webhooks/Execute", post(execute))
}

/// Ivanti's error body: `{"ErrorCode", "Message"}` (e.g. `UnhandledSystemException-`, and
/// `WebhookExecutionFailed-<kind>` for a failing handler).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct IvantiError {
    /// `UnhandledSystemException-` or `WebhookExecutionFailed-<failure kind>`.
    pub error_code: String,
    /// What happened, as Ivanti words it (some messages end in a space).
    pub message: String,
}

/// Ivanti's answer to a wrong or missing key (401, `ISM_4001`).
#[derive(Debug, Serialize, ToSchema)]
pub struct IvantiAuthError {
    /// `ISM_4001`
    pub code: String,
    /// `Invalid Session key or Authentication token`
    pub description: String,
    /// Empty.
    pub message: String,
    /// Empty.
    pub help: String,
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = IvantiError {
        error_code: code.to_owned(),
        message: message.to_owned(),
    };
    (status, axum::Json(body)).into_response()
}

fn bad_request(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "UnhandledSystemException-",
        &format!("Unhandled system exception: {message}"),
    )
}

fn unauthorized() -> Response {
    let body = IvantiAuthError {
        code: "ISM_4001".to_owned(),
        description: "Invalid Session key or Authentication token".to_owned(),
        message: String::new(),
        help: String::new(),
    };
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

/// What the Content-Type says the body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Declared {
    Json,
    Xml,
    Other,
}

fn declared(headers: &HeaderMap) -> Declared {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Declared::Json
    } else if essence == "application/xml" || essence == "text/xml" || essence.ends_with("+xml") {
        Declared::Xml
    } else {
        Declared::Other
    }
}

/// Reads the body, refusing more than [`MAX_BODY_CHARS`] characters without reading (much)
/// more than that many characters' worth of bytes.
async fn read_body(body: Body) -> Result<String, Response> {
    let too_long = || bad_request("Request Body must be less than or equal to 100,000 characters");
    let limited = http_body_util::Limited::new(body, MAX_BODY_CHARS * 4);
    let bytes = match limited.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(too_long()),
    };
    // A body of no more bytes than the limit has no more characters either: only a longer
    // one is counted.
    let text = String::from_utf8(Vec::from(bytes))
        .map_err(|_| bad_request("Request Body must be UTF-8 text. "))?;
    if text.len() > MAX_BODY_CHARS && text.chars().count() > MAX_BODY_CHARS {
        return Err(too_long());
    }
    Ok(text)
}

#[utoipa::path(
    post,
    operation_id = "executeIvantiWebhook",
    path = "/api/rest/Webhooks/Execute",
    tag = "ivanti",
    summary = "Execute a webhook (Ivanti)",
    description = "Runs the enabled webhook with this endpoint extension among those the key's tenant reaches, synchronously, with the body as `WebhookBody`; its output is the answer. Error bodies are Ivanti's, byte for byte (some messages end in a space).",
    params(("extension" = String, Query, description = "The webhook's endpoint extension (case-sensitive).")),
    request_body(description = "`WebhookBody`: at most 100,000 characters. A JSON Content-Type needs a JSON object; an XML one needs XML; anything else is passed on as text.",
        content(
            (serde_json::Value = "application/json"),
            (String = "application/xml"),
            (String = "text/xml"),
            (String = "text/plain"),
        )),
    responses(
        (status = 200, description = "The handler's output, with its content type (a URL handler's answer passes through as it came).",
            content((serde_json::Value = "application/json"), (String = "text/plain"), (String = "*/*"))),
        (status = 400, description = "No extension, an unknown or disabled one, one that matches only ignoring case, a body over 100,000 characters or not what its Content-Type says, a body that does not match the webhook's criteria, or a handler that refused the input as invalid.", body = IvantiError),
        (status = 401, description = "A missing, wrong or deactivated API key.", body = IvantiAuthError),
        (status = 422, description = "The handler rejected the input (its verdict).", body = IvantiError),
        (status = 500, description = "The host failed.", body = IvantiError),
        (status = 502, description = "The handler failed: a trap, its memory or fuel, an endpoint that failed.", body = IvantiError),
        (status = 503, description = "The handler asked to be tried again later.", body = IvantiError),
        (status = 504, description = "The handler ran past its deadline.", body = IvantiError),
    ),
    security(("tenant_api_key" = [])),
)]
async fn execute(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let v = v.trim();
            v.strip_prefix("rest_api_key=")
                .or_else(|| v.strip_prefix("Bearer "))
                .unwrap_or(v)
                .trim()
        })
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return unauthorized();
    };
    let lookups = state.executor.lookups();
    let tenant_id = match lookups.api_key_tenant(key).await {
        Ok(Some(tenant_id)) => tenant_id,
        Ok(None) => return unauthorized(),
        Err(e) => {
            tracing::error!(error = %e, "api key lookup failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UnhandledSystemException-",
                "Unhandled system exception. ",
            );
        }
    };
    // The last `extension` of the query string, decoded.
    let extension = query.as_deref().and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .filter(|(name, _)| name == "extension")
            .last()
            .map(|(_, value)| value.into_owned())
    });
    let extension = match extension {
        Some(extension) if !extension.is_empty() => extension,
        _ => {
            return bad_request(
                "Webhook validation failed for Execute operation. Errors: You must enter an endpoint extension to your base URL. ",
            );
        }
    };
    let text = match read_body(body).await {
        Ok(text) => text,
        Err(response) => return response,
    };
    let candidates = match lookups.extension(&tenant_id, &extension).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "extension lookup failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UnhandledSystemException-",
                "Unhandled system exception. ",
            );
        }
    };
    let Some(webhook) = candidates
        .iter()
        .find(|w| w.extension.as_deref() == Some(extension.as_str()))
    else {
        return if candidates.is_empty() {
            bad_request("Invalid Webhook Extension Provided. ")
        } else {
            bad_request("This webhook extension doesn't exist.")
        };
    };
    if !webhook.enabled || !webhook.subscribes_to(EventType::IvantiExecute) {
        return bad_request("Invalid Webhook Extension Provided. ");
    }

    // The Content-Type must agree with the body (checked without building the document).
    match declared(&headers) {
        Declared::Json
            if !(text.trim_start().starts_with('{')
                && serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok()) =>
        {
            return bad_request("The request body is not a valid JSON object. ");
        }
        Declared::Xml if !text.trim_start().starts_with('<') => {
            return bad_request("The request body is not XML, as its Content-Type says. ");
        }
        _ => {}
    }
    if !webhook.criteria.is_empty()
        && !serde_json::from_str::<serde_json::Value>(&text)
            .is_ok_and(|body| crate::exec::criteria_match(&webhook.criteria, &body))
    {
        return bad_request("The request body does not match the webhook's criteria. ");
    }

    let trigger = Trigger {
        source: TriggerSource::Ivanti,
        module: "webhook-body".into(),
        record_id: String::new(),
        event: Event::Execute,
        payload: text,
        parameters: Vec::new(),
        delivery_id: new_id("EXE"),
        attempt: 1,
    };
    match state.run_synchronously(webhook, &tenant_id, &trigger).await {
        Ok(output) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, output.content_type)],
            output.body,
        )
            .into_response(),
        Err(failure) => error(
            super::failure_status(failure.kind),
            &format!("WebhookExecutionFailed-{}", failure.kind),
            &format!(
                "The webhook's handler failed ({}): {}",
                failure.kind, failure.message
            ),
        ),
    }
}
