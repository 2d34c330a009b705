//! Getting into the portal: the sign-in form (a credential resolved exactly as the REST APIs
//! resolve the `Authorization` header), portal links for embedding, the language switch.

use super::{PState, Visitor, app, html};
use crate::api::AppState;
use crate::api::auth::{Caller, Principal};
use crate::api::problem::{Problem, body_rejection};
use crate::portal::i18n::{Locale, Text};
use crate::portal::pages::sign_in as sign_in_markup;
use crate::portal::session::{Role, Session};
use crate::time::{format_ms, now_ms};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

/// Largest body of `POST /public/v1/portal-sessions`.
pub(super) const MAX_REQUEST_BYTES: usize = 64 * 1024;

fn accepted_locale(headers: &HeaderMap) -> Locale {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Locale::from_accept_language)
        .unwrap_or_default()
}

/// `GET /portal`: the sign-in form, in the browser's language.
pub(super) async fn sign_in_page(headers: HeaderMap) -> Response {
    html(
        StatusCode::OK,
        sign_in_markup(accepted_locale(&headers), None),
    )
}

/// `POST /portal/sign-in` (a form: `credential`, `lang`): a session for whoever the
/// credential names, or the form again saying it is not known.
pub(super) async fn sign_in(State(state): PState, headers: HeaderMap, body: Bytes) -> Response {
    let mut credential = String::new();
    let mut locale = accepted_locale(&headers);
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "credential" => credential = value.trim().to_owned(),
            "lang" => locale = Locale::parse(&value).unwrap_or(locale),
            _ => {}
        }
    }
    let app = app(&state);
    let role = match Principal::resolve(app, &credential).await {
        Ok(Principal::Admin) => Role::Operator,
        Ok(Principal::Scoped(scope)) => Role::of(&scope),
        Err(_) => {
            return html(
                StatusCode::UNAUTHORIZED,
                sign_in_markup(locale, Some(Text::WrongCredential)),
            );
        }
    };
    let session = Session {
        role,
        locale,
        expires_at: now_ms() + minutes(app.config.portal.session_minutes),
    };
    Redirect::to(&format!("/portal/s/{}/", session.seal(&app.key))).into_response()
}

fn minutes(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX / 120_000) * 60_000
}

/// `GET /portal/s/<token>/lang/{lang}`: the same session in another language.
pub(super) async fn language(
    State(state): PState,
    visitor: Visitor,
    Path(params): Path<LangPath>,
) -> Response {
    let mut session = visitor.session;
    session.locale = Locale::parse(&params.lang).unwrap_or(session.locale);
    Redirect::to(&format!("/portal/s/{}/", session.seal(&app(&state).key))).into_response()
}

#[derive(Deserialize)]
pub(super) struct LangPath {
    lang: String,
}

/// The body of `POST /public/v1/portal-sessions`; everything is optional.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PortalSessionRequest {
    /// `de` or `en`; the `Accept-Language` of the request otherwise.
    locale: Option<String>,
    /// How long the link works, in minutes: at most `portal.link_minutes` (60 by default),
    /// which is also the default.
    expires_in_minutes: Option<u64>,
}

/// The body as a JSON object (serde would also take a struct's fields from an array).
fn parse_request(body: &[u8]) -> Result<PortalSessionRequest, Problem> {
    let invalid = |e: serde_json::Error| Problem::bad_request(format!("invalid body: {e}"));
    match serde_json::from_slice(body).map_err(invalid)? {
        serde_json::Value::Null => Ok(PortalSessionRequest::default()),
        object @ serde_json::Value::Object(_) => serde_json::from_value(object).map_err(invalid),
        _ => Err(Problem::bad_request("invalid body: expected a JSON object")),
    }
}

/// A portal link.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalLink {
    /// The portal's start page for the caller, with the session in it: open it, or show it in
    /// an iframe of an origin listed in `portal.frame_ancestors`.
    pub url: String,
    /// When the link stops working (RFC 3339).
    pub expires_at: String,
}

/// A link into the portal as the calling provider or tenant, for a marketplace to embed.
#[utoipa::path(
    post,
    operation_id = "createPortalSession",
    path = "/public/v1/portal-sessions",
    tag = "portal",
    summary = "Create a portal link",
    description = "A short-lived URL of the web portal, signed in as the caller (a provider or a tenant) and scoped to what the caller may see through the REST APIs. A marketplace embeds it in an iframe of its own product (allowed with `portal.frame_ancestors`).",
    request_body(content = Option<PortalSessionRequest>, content_type = "application/json",
        description = "Optional."),
    responses(
        (status = 201, description = "The link.", body = PortalLink),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
        (status = 401, response = inline(crate::api::openapi::responses::Unauthorized)),
        (status = 403, description = "The admin token (the operator signs in at /portal).", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 64 KiB.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("provider_token" = []), ("tenant_api_key" = [])),
)]
pub(super) async fn create(
    State(app): State<AppState>,
    Caller(scope): Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|e| body_rejection(e, Some(MAX_REQUEST_BYTES)))?;
    let request: PortalSessionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        PortalSessionRequest::default()
    } else {
        parse_request(&body)?
    };
    let app = &app;
    let locale = match request.locale.as_deref() {
        None => accepted_locale(&headers),
        Some(text) => {
            Locale::parse(text).ok_or_else(|| Problem::invalid("locale", "must be de or en"))?
        }
    };
    let most = app.config.portal.link_minutes;
    let lifetime = match request.expires_in_minutes {
        None => most,
        Some(n) if (1..=most).contains(&n) => n,
        Some(_) => {
            return Err(Problem::invalid(
                "expiresInMinutes",
                format!("must be from 1 to {most} (portal.link_minutes)"),
            ));
        }
    };
    let session = Session {
        role: Role::of(&scope),
        locale,
        expires_at: now_ms() + minutes(lifetime),
    };
    let origin = match app.config.portal.public_url.trim_end_matches('/') {
        "" => format!(
            "http://{}",
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost")
        ),
        configured => configured.to_owned(),
    };
    let link = PortalLink {
        url: format!("{origin}/portal/s/{}/", session.seal(&app.key)),
        expires_at: format_ms(session.expires_at),
    };
    Ok((StatusCode::CREATED, axum::Json(link)).into_response())
}
