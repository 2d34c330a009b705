//! The web portal's routes (`/portal…`) and `POST /public/v1/portal-sessions`.
//!
//! Every page is answered by calling the REST API's own router in-process ([`Api`]) as the
//! session's principal ([`super::auth::Delegated`]) and rendering its JSON answers
//! ([`crate::portal::pages`]): the same routes, the same authorization, the same store
//! queries. A page shows what the API answered, a 404 included; nothing here reads the store.
//!
//! Sessions travel in the path (`/portal/s/<token>/…`, [`crate::portal::session`]). Every
//! answer carries a Content-Security-Policy that allows this origin's scripts, styles and
//! connections only, and the frame ancestors the operator configured.
//!
//! # Layout
//! - this file: the router, the visitor of a page, the in-process API client, headers.
//! - [`sessions`]: sign-in, portal links, the language switch.
//! - [`pages`]: the pages and the actions on them.

mod pages;
mod sessions;

use super::AppState;
use super::auth::{Delegated, Principal};
use crate::portal::i18n::{Locale, Text};
use crate::portal::pages::{Frame, message};
use crate::portal::session::{Role, Session, SessionError};
use crate::time::now_ms;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tower::ServiceExt as _;

pub use sessions::PortalLink;

/// Where the portal lives.
pub const PORTAL: &str = "/portal";

/// Largest answer of the API the portal reads (a page of 1000 webhooks fits).
const MAX_ANSWER_BYTES: usize = 16 << 20;

/// Largest component the portal passes on (the components API has its own limit, lower).
const MAX_UPLOAD_BYTES: usize = 64 << 20;

/// What the portal's handlers use: the host's state and the REST router they call.
#[derive(Clone)]
pub struct PortalState {
    app: AppState,
    api: Router,
}

/// `POST /public/v1/portal-sessions`, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(sessions::create))]
pub(crate) struct Doc;

/// `POST /public/v1/portal-sessions`: a REST route (authenticated like every other).
pub fn sessions_router() -> Router<AppState> {
    Router::new().route(
        "/public/v1/portal-sessions",
        post(sessions::create).layer(axum::extract::DefaultBodyLimit::max(
            sessions::MAX_REQUEST_BYTES,
        )),
    )
}

/// The portal's routes, answered through `api` (the REST router).
pub fn router(app: AppState, api: Router) -> Router {
    let state = PortalState { app, api };
    let frame_ancestors = state.app.config.portal.frame_ancestors.join(" ");
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self' {frame_ancestors}"
    );
    let csp = HeaderValue::from_str(csp.trim_end()).expect("origins are checked at start-up");
    Router::new()
        .route(PORTAL, get(sessions::sign_in_page))
        .route("/portal/", get(sessions::sign_in_page))
        .route("/portal/sign-in", post(sessions::sign_in))
        .route("/portal/assets/{file}", get(asset))
        .route("/portal/s/{token}/", get(pages::home))
        .route("/portal/s/{token}/lang/{lang}", get(sessions::language))
        .route("/portal/s/{token}/webhooks", get(pages::webhooks))
        .route("/portal/s/{token}/webhooks/{id}", get(pages::webhook))
        .route("/portal/s/{token}/webhooks/{id}/calls", get(pages::calls))
        .route("/portal/s/{token}/webhooks/{id}/live", get(pages::live))
        .route("/portal/s/{token}/webhooks/{id}/test", post(pages::test))
        .route(
            "/portal/s/{token}/webhooks/{id}/enable",
            post(pages::enable),
        )
        .route(
            "/portal/s/{token}/webhooks/{id}/disable",
            post(pages::disable),
        )
        .route(
            "/portal/s/{token}/webhooks/{id}/rotate-secret",
            post(pages::rotate),
        )
        .route(
            "/portal/s/{token}/webhooks/{id}/calls/{call}/resend",
            post(pages::resend),
        )
        .route(
            "/portal/s/{token}/components",
            get(pages::components)
                .post(pages::upload)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route(
            "/portal/s/{token}/components/table",
            get(pages::components_table),
        )
        .route("/portal/s/{token}/processes", get(pages::processes))
        .route("/portal/s/{token}/processes/{id}", get(pages::process))
        .route(
            "/portal/s/{token}/records/{module}/{id}",
            get(pages::activities),
        )
        .route("/portal/s/{token}/operator", get(pages::operator))
        .layer(axum::middleware::map_response(
            move |mut response: Response| {
                let csp = csp.clone();
                async move {
                    let headers = response.headers_mut();
                    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
                    headers.insert(
                        header::X_CONTENT_TYPE_OPTIONS,
                        HeaderValue::from_static("nosniff"),
                    );
                    headers.insert(
                        header::REFERRER_POLICY,
                        HeaderValue::from_static("no-referrer"),
                    );
                    headers
                        .entry(header::CACHE_CONTROL)
                        .or_insert(HeaderValue::from_static("no-store"));
                    response
                }
            },
        ))
        .with_state(state)
}

/// `/portal/assets/{file}`: the stylesheet and scripts, from the binary.
async fn asset(Path(file): Path<String>) -> Response {
    match crate::portal::assets::named(&file) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// An HTML answer.
fn html(status: StatusCode, markup: maud::Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// The signed-in visitor of a `/portal/s/<token>/…` page.
pub struct Visitor {
    /// The session the token opened.
    session: Session,
    /// `/portal/s/<token>`.
    base: String,
    /// Calls the REST API as the session's principal.
    api: Api,
}

impl Visitor {
    fn frame(&self) -> Frame<'_> {
        Frame {
            base: &self.base,
            locale: self.session.locale,
            role: &self.session.role,
        }
    }
}

impl FromRequestParts<PortalState> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &PortalState,
    ) -> Result<Self, Self::Rejection> {
        let locale = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(Locale::from_accept_language)
            .unwrap_or_default();
        let token = parts
            .uri
            .path()
            .strip_prefix("/portal/s/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        let session = Session::open(&state.app.key, token, now_ms()).map_err(|error| {
            let text = match error {
                SessionError::Expired => Text::Expired,
                SessionError::Invalid => Text::InvalidLink,
            };
            html(StatusCode::UNAUTHORIZED, message(locale, text))
        })?;
        let principal = match session.role.scope() {
            Some(scope) => Principal::Scoped(scope),
            None => Principal::Admin,
        };
        Ok(Visitor {
            base: format!("/portal/s/{token}"),
            api: Api {
                router: state.api.clone(),
                principal,
            },
            session,
        })
    }
}

/// The REST API, called in-process as one principal.
#[derive(Clone)]
pub struct Api {
    router: Router,
    principal: Principal,
}

impl Api {
    /// Sends one request to the REST router; the status and the body (JSON, or the text as a
    /// JSON string when it is not JSON; `null` when empty).
    async fn send(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request
            .extension(Delegated(self.principal.clone()))
            .body(body.into())
            .expect("a valid request");
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .unwrap_or_default();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.send(Method::GET, uri, None, Body::empty()).await
    }

    async fn post_json(&self, uri: &str, body: &Value) -> (StatusCode, Value) {
        self.send(
            Method::POST,
            uri,
            Some("application/json"),
            body.to_string(),
        )
        .await
    }

    async fn post(&self, uri: &str) -> (StatusCode, Value) {
        self.send(Method::POST, uri, None, Body::empty()).await
    }
}

/// Whether `role` is a provider's.
fn is_provider(role: &Role) -> bool {
    matches!(role, Role::Provider(_))
}

/// The host's state, for the handlers of [`sessions`].
fn app(state: &PortalState) -> &AppState {
    &state.app
}

/// Whether a request came from htmx (it wants a fragment, not a page).
fn from_htmx(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// `State` of the portal's handlers.
type PState = State<PortalState>;
