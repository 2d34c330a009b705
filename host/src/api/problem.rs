//! The error body of the REST APIs (registry, components, admin): one place maps every error
//! to a status and a JSON problem document.
//!
//! Shape: `{"status": 400, "title": "Bad Request", "detail": "…", "errors": {"field": ["…"]}}`;
//! a refusal by a quota is a 409 that also carries `"quota": {"name": "quotas.…", "limit": n}`.
//! Bad input is answered, not logged as an error; internal failures are logged with context
//! and answered opaquely.

use crate::store::{QuotaExceeded, StoreError};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// An error answer of the REST APIs.
#[derive(Debug, Clone)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, for humans.
    pub detail: String,
    /// Per-field messages, when the input was invalid.
    pub errors: BTreeMap<String, Vec<String>>,
    /// The quota that refused the request, if one did.
    pub quota: Option<QuotaExceeded>,
}

impl Problem {
    /// A problem with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            status,
            detail: detail.into(),
            errors: BTreeMap::new(),
            quota: None,
        }
    }

    /// 400 with a detail.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 400 naming the invalid `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut problem = Self::bad_request(format!("{field}: {message}"));
        problem.errors.insert(field.to_owned(), vec![message]);
        problem
    }

    /// 422 with a message per field: well-formed input that a plugin refused (its own
    /// messages, e.g. an activation's parameters).
    pub fn refused(detail: impl Into<String>, errors: Vec<(String, String)>) -> Self {
        let mut problem = Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail);
        for (field, message) in errors {
            problem.errors.entry(field).or_default().push(message);
        }
        problem
    }

    /// 401: missing or wrong credentials.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "missing or invalid credentials")
    }

    /// 403 with a reason.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404 for `what`.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    /// 409 naming the quota that refused the request and its value. A quota is a conflict
    /// with what the owner already keeps: deleting something makes room, and the same request
    /// then succeeds (not 413, which is about the request alone, nor 429, which is about time).
    pub fn quota(exceeded: QuotaExceeded) -> Self {
        let mut problem = Self::new(StatusCode::CONFLICT, exceeded.message.clone());
        problem.quota = Some(exceeded);
        problem
    }

    /// 413 for a request body over the route's limit.
    pub fn too_large(limit: Option<usize>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            match limit {
                Some(limit) => format!("the request body is larger than {limit} bytes"),
                None => "the request body is too large".to_owned(),
            },
        )
    }

    /// 500, logging `error` with context; the answer reveals nothing.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "{context}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

/// The problem document as sent (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDocument {
    /// The HTTP status.
    pub status: u16,
    /// The status's reason phrase.
    pub title: String,
    /// What went wrong, for humans.
    pub detail: String,
    /// Per-field messages, when the input was invalid (`"steps[1].serviceId": ["…"]`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(required = false)]
    pub errors: BTreeMap<String, Vec<String>>,
    /// The quota that refused the request (409).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaDocument>,
}

/// The quota that refused a request, and its value.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaDocument {
    /// `quotas.webhooks`, `quotas.components`, `quotas.component_bytes`.
    pub name: String,
    /// Its value.
    pub limit: u64,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemDocument {
            status: self.status.as_u16(),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            detail: self.detail,
            errors: self.errors,
            quota: self.quota.map(|quota| QuotaDocument {
                name: quota.quota.to_string(),
                limit: quota.limit,
            }),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Problem::new(StatusCode::NOT_FOUND, "not found"),
            StoreError::Conflict(message) => Problem::new(StatusCode::CONFLICT, message),
            StoreError::Forbidden(message) => Problem::forbidden(message),
            StoreError::Quota(exceeded) => Problem::quota(exceeded),
            error @ (StoreError::Database(_) | StoreError::Corrupt(_)) => {
                Problem::internal("store failed", error)
            }
        }
    }
}

/// A JSON request body whose rejections are [`Problem`]s: malformed JSON and wrong types are
/// 400 naming the problem, a body that is not a JSON object 400, a wrong content type 415, an
/// oversized body 413.
///
/// Every body of the REST APIs is an object. serde also reads a struct from an array, field
/// by field in order (`["name"]` for `{"name": …}`), so that is refused here, after the body
/// parsed, where nothing else would.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(json_rejection(JsonRejection::MissingJsonContentType(
                Default::default(),
            )));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| json_rejection(rejection.into()))?;
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes).map_err(json_rejection)?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(Problem::bad_request("invalid body: expected a JSON object"));
        }
        Ok(ApiJson(value))
    }
}

/// Whether the request says its body is JSON: `application/json` or `application/*+json`
/// (what `axum::Json` accepts).
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| {
            mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|name| name == "json"))
        })
}

fn json_rejection(rejection: JsonRejection) -> Problem {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected a body with Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(e) => {
            Problem::bad_request(format!("malformed JSON: {}", e.body_text()))
        }
        JsonRejection::JsonDataError(e) => {
            Problem::bad_request(format!("invalid body: {}", e.body_text()))
        }
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::too_large(None)
        }
        other => Problem::new(other.status(), other.body_text()),
    }
}

/// A raw body that could not be read: 413 when it is over the route's `limit`, else the
/// rejection's own status, as problem documents.
pub fn body_rejection(rejection: BytesRejection, limit: Option<usize>) -> Problem {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::too_large(limit)
    } else {
        Problem::new(rejection.status(), rejection.body_text())
    }
}

/// Answers a route that does not exist.
pub async fn no_route() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no such resource")
}

/// Answers a method the route does not support.
pub async fn wrong_method() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this resource",
    )
}

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}
