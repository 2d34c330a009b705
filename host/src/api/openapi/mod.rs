//! The OpenAPI 3.1 document of every endpoint the host serves (`GET /openapi.json`) and the
//! browsable reference built on it (`/docs`, Swagger UI embedded in the binary).
//!
//! The document is generated from the code, so it cannot drift: every handler carries a
//! `#[utoipa::path]` naming its path, parameters, body and every answer (the error bodies of
//! its dialect included: problem documents, the smartml envelope, the Ivanti error bodies);
//! the wire types derive `ToSchema`; each API module lists its handlers in a `Doc`, and
//! [`document`] merges those and adds the security schemes. A copy is committed as
//! `host/openapi.json` for readers and client generators; `tests/all/openapi.rs` checks that
//! the served document equals it and that it names every route of the router. Regenerate it
//! with `cargo run -- openapi > host/openapi.json`.
//!
//! Swagger UI's files come from the `utoipa-swagger-ui-vendored` crate (a zip it carries,
//! unpacked and embedded at build time, nothing downloaded) and are served with a
//! Content-Security-Policy that allows this origin only.
//!
//! # Layout
//! - [`document`], [`json`]: the document, assembled once.
//! - [`router`]: `/openapi.json` and `/docs`.
//! - [`schemas`]: schemas of shapes the API modules do not spell as types of their own.

pub mod responses;
pub mod schemas;

use super::AppState;
use super::problem::Problem;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use std::sync::{Arc, LazyLock};
use utoipa::OpenApi as _;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/openapi.json";

/// Where Swagger UI is served.
pub const DOCS_PATH: &str = "/docs";

/// The security scheme of provider tokens (registry, calls, components).
pub const PROVIDER: &str = "provider_token";
/// The security scheme of tenants' REST API keys (registry, calls, components, validation,
/// processes, Ivanti execute).
pub const TENANT: &str = "tenant_api_key";
/// The security scheme of the operator's admin token (`/admin/v1`).
pub const ADMIN: &str = "admin_token";

/// Only this origin: scripts, styles and the document come from the binary. Images may also
/// be `data:` URIs, which Swagger UI's stylesheet uses for its icons (inline, nothing
/// fetched), and the one inline style Swagger UI's bundle applies is allowed by its hash.
const CSP: &str = "default-src 'self'; img-src 'self' data:; \
                   style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
                   object-src 'none'; base-uri 'self'; form-action 'self'; \
                   frame-ancestors 'none'";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "hookhost",
        description = "A WebAssembly plugin host for marketplace webhooks. Three wire dialects \
(onOffice smartml `api.php`, Ivanti `Webhooks/Execute`, the MPT webhook registry) and the host's \
own REST APIs (components, calls, validation, the process manager, the admin API, operations).\n\n\
Credentials go in the `Authorization` header: a provider's token as `Bearer <token>`, a tenant's \
REST API key as `rest_api_key=<key>` (or `Bearer <key>`, or the bare key), the operator's admin \
token as `Bearer <admin_token>`. smartml requests carry their token and HMACs in the body.\n\n\
Errors come in each route's dialect: a problem document (`application/problem+json`) on the REST \
APIs, unknown routes, wrong methods and oversized bodies included; the smartml envelope on \
`api.php`; the Ivanti error bodies on `Webhooks/Execute`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(super::healthz, super::readyz, super::metrics, openapi_json),
    modifiers(&SecuritySchemes),
    tags(
        (name = "registry", description = "The MPT webhook registry, with the host's extensions."),
        (name = "calls", description = "A webhook's call log, resends, test calls, secret rotation, notifications."),
        (name = "components", description = "Uploaded WebAssembly components."),
        (name = "event types", description = "The catalogue of event types the host delivers, with the JSON Schema of each payload (also under `webhooks` and `components.schemas[\"event.<name>\"]`)."),
        (name = "validation", description = "MPT `validate*` webhooks, called synchronously."),
        (name = "processes", description = "The process manager: templates, processes, records' activity logs."),
        (name = "ivanti", description = "Ivanti Neurons for ITSM `Webhooks/Execute`, wire-exact."),
        (name = "smartml", description = "onOffice smartml action API, wire-exact."),
        (name = "portal", description = "Links into the web portal, for embedding."),
        (name = "admin", description = "The operator's API: providers, tenants, services, activations, credentials."),
        (name = "operations", description = "Health, readiness, metrics and this document."),
    )
)]
struct ApiDoc;

/// Adds the three ways of saying who calls.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            PROVIDER,
            bearer("A provider's API token: `Authorization: Bearer <token>`."),
        );
        components.add_security_scheme(
            TENANT,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "A tenant's REST API key: `Authorization: rest_api_key=<key>` (Ivanti's form), \
                 `Authorization: Bearer <key>` or the bare key.",
            ))),
        );
        components.add_security_scheme(
            ADMIN,
            bearer(
                "The operator's `admin_token` from the configuration: `Authorization: Bearer \
                 <admin_token>`. Without one configured the admin API answers 401.",
            ),
        );
    }
}

/// The document: the operations endpoints here, every API module's `Doc`, the security
/// schemes.
pub fn document() -> OpenApi {
    let mut document = ApiDoc::openapi();
    for part in [
        super::webhooks::Doc::openapi(),
        super::calls::Doc::openapi(),
        super::deliveries::Doc::openapi(),
        super::erasure::Doc::openapi(),
        super::activations::Doc::openapi(),
        super::statistics::Doc::openapi(),
        super::components::Doc::openapi(),
        super::event_types::Doc::openapi(),
        super::validate::Doc::openapi(),
        super::processes::Doc::openapi(),
        super::ivanti::Doc::openapi(),
        super::smartml::Doc::openapi(),
        super::admin::Doc::openapi(),
        super::portal::Doc::openapi(),
    ] {
        document.merge(part);
    }
    document
}

/// The document as served and committed: pretty JSON with a final newline.
pub fn json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        let mut document =
            serde_json::to_value(document()).expect("an OpenAPI document serializes");
        super::event_types::add_payload_schemas(&mut document);
        let mut text =
            serde_json::to_string_pretty(&document).expect("an OpenAPI document serializes");
        text.push('\n');
        text
    });
    &JSON
}

/// `/openapi.json` and Swagger UI under `/docs`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(DOCUMENT_PATH, get(openapi_json))
        .route(
            DOCS_PATH,
            get(|| async { Redirect::permanent(&format!("{DOCS_PATH}/")) }),
        )
        .route(&format!("{DOCS_PATH}/"), get(docs_index))
        .route(&format!("{DOCS_PATH}/{{*file}}"), get(docs_file))
}

/// This document.
#[utoipa::path(
    get,
    operation_id = "openapiDocument",
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of every endpoint.",
        content_type = "application/json", body = Object)),
)]
async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json()).into_response()
}

/// Swagger UI's configuration: this host's document, no online validator (it would be
/// fetched from elsewhere), no persisted credentials.
fn swagger_config() -> Arc<utoipa_swagger_ui::Config<'static>> {
    static CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> = LazyLock::new(|| {
        Arc::new(
            utoipa_swagger_ui::Config::new([DOCUMENT_PATH])
                .validator_url("none")
                .try_it_out_enabled(false)
                .persist_authorization(false),
        )
    });
    CONFIG.clone()
}

async fn docs_index() -> Response {
    docs_file(Path(String::new())).await
}

/// One of Swagger UI's files, with the policy that keeps the page to this origin.
async fn docs_file(Path(file): Path<String>) -> Response {
    match utoipa_swagger_ui::serve(&file, swagger_config()) {
        Ok(Some(found)) => {
            let mut response = (
                [(header::CONTENT_TYPE, found.content_type)],
                found.bytes.into_owned(),
            )
                .into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            response
        }
        Ok(None) => Problem::new(StatusCode::NOT_FOUND, "no such resource").into_response(),
        Err(error) => Problem::internal("serving Swagger UI", error).into_response(),
    }
}
