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

use super::AppState;
use super::auth::Caller;
use super::format_time;
use super::problem::{ApiJson, Problem};
use crate::sandbox::Limits;
use crate::store::{
    Call, ComponentRecord, Handler, RetryPolicy, Scope, Statistics, StoreError, Webhook,
    WebhookSpec,
};
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Where the registry lives.
const BASE: &str = "/public/v1/notifications/webhooks";

/// Largest request body: a webhook is a few kilobytes; anything near this is a mistake or abuse.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// What `secret` reads as after the create response (MPT shows exactly 19 asterisks).
pub const MASKED_SECRET: &str = "*******************";

/// The MPT webhook types, as the seed spells them (input is matched ignoring case).
pub(crate) const TYPES: &[&str] = &[
    "validatePurchaseOrderDraft",
    "validatePurchaseOrderQuerying",
    "validateChangeOrderDraft",
    "validateTerminateOrder",
    "validateRequest",
    "validateAccount",
    "selectOrderLines",
];

/// The MPT object types, as the seed spells them.
const OBJECT_TYPES: &[&str] = &["Order", "Request", "Account"];

/// smartml modules a webhook may listen to.
const MODULES: &[&str] = &["estate", "address", "task", "calendar"];

/// Largest `description`, in characters.
const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Longest `url`, in bytes.
const MAX_URL_BYTES: usize = 2048;
/// Most `criteria` entries.
const MAX_CRITERIA: usize = 50;
/// Longest criteria key (a dotted path) and value, in characters.
const MAX_CRITERIA_KEY_CHARS: usize = 200;
const MAX_CRITERIA_VALUE_CHARS: usize = 1000;
/// Most `allowedHosts` entries.
const MAX_ALLOWED_HOSTS: usize = 50;
/// Retry schedule bounds: Standard Webhooks retries for days, not weeks.
const MAX_RETRIES: usize = 20;
const MAX_RETRY_DELAY_SECONDS: u64 = 86_400 * 7;
/// The smallest memory a component can run in: one wasm page.
const MIN_MEMORY_BYTES: u64 = 64 << 10;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(BASE, get(list).post(create))
        .route(
            &format!("{BASE}/{{id}}"),
            get(one).put(replace).delete(remove),
        )
        .route(&format!("{BASE}/{{id}}/enable"), post(enable))
        .route(&format!("{BASE}/{{id}}/disable"), post(disable))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Even a wrong method is answered with a problem document, like every other error here.
async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this resource",
    )
}

// ---------------------------------------------------------------------------------------------
// Output

/// `{"at": "…"}`, the shape of every audit entry.
#[derive(Debug, Serialize)]
struct At {
    at: String,
}

impl At {
    fn from_ms(ms: i64) -> Self {
        At {
            at: format_time(ms),
        }
    }
}

#[derive(Debug, Serialize)]
struct Audit {
    created: At,
    updated: At,
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<At>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled: Option<At>,
}

#[derive(Debug, Serialize)]
struct ServiceOut {
    id: String,
}

/// A component handler as shown: the id always, the rest when the component is still there.
#[derive(Debug, Serialize)]
struct ComponentOut {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum HandlerOut {
    Url(String),
    Component(ComponentOut),
}

/// The part of [`Limits`] a webhook chooses; the payload/output/log caps are the operator's.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LimitsOut {
    timeout_ms: u64,
    memory_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    fuel: Option<u64>,
}

/// The webhook object, fields in the seed's order, then our extensions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookOut {
    id: String,
    href: String,
    description: String,
    status: &'static str,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    criteria: BTreeMap<String, String>,
    statistics: Statistics,
    last_success: Option<Call>,
    last_failure: Option<Call>,
    last_call: Option<Call>,
    secret: String,
    audit: Audit,
    service: ServiceOut,
    handler: HandlerOut,
    modules: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extension: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limits: Option<LimitsOut>,
    allowed_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_policy: Option<RetryPolicy>,
}

#[derive(Debug, Serialize)]
struct Pagination {
    offset: i64,
    limit: i64,
    total: i64,
}

#[derive(Debug, Serialize)]
struct Meta {
    pagination: Pagination,
}

#[derive(Debug, Serialize)]
struct PageOut {
    #[serde(rename = "$meta")]
    meta: Meta,
    data: Vec<WebhookOut>,
}

/// Renders `webhook` for `viewer`; `secret` is the plaintext on create only.
fn render(
    webhook: Webhook,
    viewer: &Scope,
    component: Option<&ComponentRecord>,
    secret: Option<String>,
) -> WebhookOut {
    // Calls of a provider's webhook are made for every tenant that activated the service: a
    // tenant must not read another tenant's call through them.
    let owner = webhook.owner == *viewer;
    let (url, handler) = match webhook.handler {
        Handler::Url(url) => (Some(url.clone()), HandlerOut::Url(url)),
        Handler::Component(id) => (
            None,
            HandlerOut::Component(ComponentOut {
                id,
                name: component.map(|c| c.name.clone()),
                version: component.map(|c| c.version.clone()),
                digest: component.map(|c| format!("sha256:{}", c.digest)),
            }),
        ),
    };
    WebhookOut {
        href: format!("/notifications/webhooks/{}", webhook.id),
        id: webhook.id,
        description: webhook.description,
        status: if webhook.enabled {
            "enabled"
        } else {
            "disabled"
        },
        kind: webhook.kind,
        object_type: webhook.object_type,
        url,
        criteria: webhook.criteria,
        statistics: webhook.statistics,
        last_success: webhook.last_success.filter(|_| owner),
        last_failure: webhook.last_failure.filter(|_| owner),
        last_call: webhook.last_call.filter(|_| owner),
        secret: secret.unwrap_or_else(|| MASKED_SECRET.to_owned()),
        audit: Audit {
            created: At::from_ms(webhook.created_at),
            updated: At::from_ms(webhook.updated_at),
            enabled: webhook.enabled_at.map(At::from_ms),
            disabled: webhook.disabled_at.map(At::from_ms),
        },
        service: ServiceOut {
            id: webhook.service_id,
        },
        handler,
        modules: webhook.modules,
        extension: webhook.extension,
        limits: webhook.limits.map(|l| LimitsOut {
            timeout_ms: l.timeout_ms,
            memory_bytes: l.memory_bytes,
            fuel: l.fuel,
        }),
        allowed_hosts: webhook.allowed_hosts,
        retry_policy: webhook.retry_policy,
    }
}

/// Looks up the component records behind component handlers, once per id and request.
///
/// Looked up in the webhook owner's scope: a tenant reading a provider's webhook still sees
/// which component handles it.
#[derive(Default)]
struct Components(HashMap<String, Option<ComponentRecord>>);

impl Components {
    async fn of(
        &mut self,
        state: &AppState,
        webhook: &Webhook,
    ) -> Result<Option<ComponentRecord>, Problem> {
        let Handler::Component(id) = &webhook.handler else {
            return Ok(None);
        };
        if let Some(known) = self.0.get(id) {
            return Ok(known.clone());
        }
        let record = match state.store.component(&webhook.owner, id).await {
            Ok(record) => Some(record),
            // Deleting a component in use is refused; should it be gone anyway, show the id.
            Err(StoreError::NotFound) => None,
            Err(error) => return Err(error.into()),
        };
        self.0.insert(id.clone(), record.clone());
        Ok(record)
    }
}

/// `webhook` as `viewer` may see it: a tenant reading a provider's webhook gets the
/// statistics of its own calls, not those of every tenant of the service.
async fn seen_by(
    state: &AppState,
    viewer: &Scope,
    mut webhook: Webhook,
) -> Result<Webhook, Problem> {
    if let Scope::Tenant(tenant) = viewer
        && webhook.owner != *viewer
    {
        webhook.statistics = state.store.tenant_statistics(&webhook.id, tenant).await?;
    }
    Ok(webhook)
}

/// `webhook` rendered with its `ETag`.
async fn respond(
    state: &AppState,
    viewer: &Scope,
    status: StatusCode,
    webhook: Webhook,
    secret: Option<String>,
) -> Result<Response, Problem> {
    let webhook = seen_by(state, viewer, webhook).await?;
    let component = Components::default().of(state, &webhook).await?;
    let etag = etag(webhook.revision);
    let location = format!("{BASE}/{}", webhook.id);
    let body = render(webhook, viewer, component.as_ref(), secret);
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::ETAG, etag);
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&location)
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

fn etag(revision: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{revision}\"")).expect("digits and quotes are valid")
}

// ---------------------------------------------------------------------------------------------
// Input

/// `{"id": "SVC-…"}`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceIn {
    id: String,
}

/// `{"url": …}` or `{"component": …}`; the component is a reference string or the object a
/// GET returned (parsed by hand for errors that name the field).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HandlerIn {
    url: Option<String>,
    component: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LimitsIn {
    timeout_ms: Option<u64>,
    memory_bytes: Option<u64>,
    fuel: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RetryPolicyIn {
    schedule_seconds: Vec<u64>,
}

/// The body of create and PUT. Enum-like fields are strings here so that their errors name
/// the field and list the allowed values (and so that any casing is accepted).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WebhookIn {
    description: Option<String>,
    status: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    object_type: Option<String>,
    url: Option<String>,
    criteria: Option<BTreeMap<String, Value>>,
    service: Option<ServiceIn>,
    service_id: Option<String>,
    handler: Option<HandlerIn>,
    modules: Option<Vec<String>>,
    extension: Option<String>,
    limits: Option<LimitsIn>,
    allowed_hosts: Option<Vec<String>>,
    retry_policy: Option<RetryPolicyIn>,
    /// Checked against the mask (or the webhook's own secret), never stored.
    secret: Option<String>,
    // Read-only: accepted so that a GET answer can be PUT back, and ignored.
    #[serde(rename = "id")]
    _id: Option<IgnoredAny>,
    #[serde(rename = "href")]
    _href: Option<IgnoredAny>,
    #[serde(rename = "statistics")]
    _statistics: Option<IgnoredAny>,
    #[serde(rename = "lastSuccess")]
    _last_success: Option<IgnoredAny>,
    #[serde(rename = "lastFailure")]
    _last_failure: Option<IgnoredAny>,
    #[serde(rename = "lastCall")]
    _last_call: Option<IgnoredAny>,
    #[serde(rename = "audit")]
    _audit: Option<IgnoredAny>,
}

/// The canonical spelling of `value` among `allowed`, ignoring case.
fn canonical(
    field: &str,
    value: &str,
    allowed: &'static [&'static str],
) -> Result<&'static str, Problem> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(value))
        .copied()
        .ok_or_else(|| {
            Problem::invalid(
                field,
                format!("{value:?} is not one of {}", allowed.join(", ")),
            )
        })
}

/// `url` must be absolute `https://` with a host (or `http://` when the operator allows it),
/// without credentials: the secret authenticates calls, not the URL.
fn check_url(field: &str, url: &str, allow_insecure: bool) -> Result<String, Problem> {
    let expected = if allow_insecure {
        "an absolute http:// or https:// URL with a host"
    } else {
        "an absolute https:// URL with a host (http:// is not allowed)"
    };
    if url.len() > MAX_URL_BYTES {
        return Err(Problem::invalid(
            field,
            format!("must be at most {MAX_URL_BYTES} bytes long"),
        ));
    }
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|_| Problem::invalid(field, format!("{url:?} is not {expected}")))?;
    let scheme_ok = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => true,
        Some(s) if s.eq_ignore_ascii_case("http") => allow_insecure,
        _ => false,
    };
    let Some(authority) = uri.authority().filter(|_| scheme_ok) else {
        return Err(Problem::invalid(
            field,
            format!("{url:?} is not {expected}"),
        ));
    };
    if authority.host().is_empty() {
        return Err(Problem::invalid(field, format!("{url:?} has no host")));
    }
    if authority.as_str().contains('@') {
        return Err(Problem::invalid(
            field,
            "must not contain credentials (user:password@); calls are authorized with the webhook's secret",
        ));
    }
    Ok(url.to_owned())
}

/// A component reference: `name@version`, `sha256:<digest>`, a `CMP-…` id, or the component
/// object of a GET answer (its id wins, then its digest, then name and version).
fn component_reference(value: &Value) -> Result<String, Problem> {
    const FIELD: &str = "handler.component";
    let reference = match value {
        Value::String(reference) => reference.clone(),
        Value::Object(object) => {
            if let Some(unknown) = object
                .keys()
                .find(|k| !["id", "name", "version", "digest"].contains(&k.as_str()))
            {
                return Err(Problem::invalid(
                    FIELD,
                    format!("unknown field `{unknown}`, expected id, name, version or digest"),
                ));
            }
            let text = |key: &str| -> Result<Option<&str>, Problem> {
                match object.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.as_str())),
                    Some(_) => Err(Problem::invalid(
                        &format!("{FIELD}.{key}"),
                        "must be a string",
                    )),
                }
            };
            match (
                text("id")?,
                text("digest")?,
                text("name")?,
                text("version")?,
            ) {
                (Some(id), ..) => id.to_owned(),
                (None, Some(digest), ..) if digest.starts_with("sha256:") => digest.to_owned(),
                (None, Some(digest), ..) => format!("sha256:{digest}"),
                (None, None, Some(name), Some(version)) => format!("{name}@{version}"),
                _ => {
                    return Err(Problem::invalid(
                        FIELD,
                        "give id, digest, or name and version",
                    ));
                }
            }
        }
        _ => {
            return Err(Problem::invalid(
                FIELD,
                "must be a reference (name@version, sha256:<digest> or CMP-… id) or an object",
            ));
        }
    };
    if reference.is_empty() || reference.len() > 200 {
        return Err(Problem::invalid(FIELD, "must be 1-200 characters"));
    }
    Ok(reference)
}

/// A dotted path such as `product.id`: non-empty segments, no whitespace.
fn criteria_key_ok(key: &str) -> bool {
    (1..=MAX_CRITERIA_KEY_CHARS).contains(&key.chars().count())
        && key
            .split('.')
            .all(|segment| !segment.is_empty() && !segment.chars().any(char::is_whitespace))
        && !key.chars().any(char::is_control)
}

/// Turns a request body into the store's [`WebhookSpec`], checking every field and resolving
/// the component reference in `scope`. Reads only: nothing is written before this succeeds.
async fn spec_from(
    state: &AppState,
    scope: &Scope,
    input: WebhookIn,
) -> Result<WebhookSpec, Problem> {
    let description = input.description.unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Problem::invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }

    let enabled = match input.status.as_deref() {
        None => true,
        Some(status) => canonical("status", status, &["enabled", "disabled"])? == "enabled",
    };
    let kind = input
        .kind
        .as_deref()
        .map(|k| canonical("type", k, TYPES))
        .transpose()?
        .map(str::to_owned);
    let object_type = input
        .object_type
        .as_deref()
        .map(|o| canonical("objectType", o, OBJECT_TYPES))
        .transpose()?
        .map(str::to_owned);

    let service_id = match (input.service.map(|s| s.id), input.service_id) {
        (Some(a), Some(b)) if a != b => {
            return Err(Problem::invalid(
                "service.id",
                format!("service.id {a:?} and serviceId {b:?} differ; give one"),
            ));
        }
        (a, b) => a.or(b),
    };
    let service_id = match service_id {
        Some(id) if !id.trim().is_empty() => id,
        _ => {
            return Err(Problem::invalid(
                "service.id",
                "is required: the service the webhook belongs to (service.id or serviceId)",
            ));
        }
    };

    let handler_in = input.handler.unwrap_or_default();
    let url = match (input.url, handler_in.url) {
        (Some(a), Some(b)) if a != b => {
            return Err(Problem::invalid(
                "url",
                "url and handler.url differ; give one",
            ));
        }
        (a, b) => a.or(b),
    };
    let component = handler_in.component.filter(|c| !c.is_null());
    let handler = match (url, component) {
        (Some(_), Some(_)) => {
            return Err(Problem::invalid(
                "handler",
                "give either url or handler.component, not both: a component handler has no url",
            ));
        }
        (None, None) => {
            return Err(Problem::invalid(
                "url",
                "is required: give url (or handler.url) or handler.component",
            ));
        }
        (Some(url), None) => Handler::Url(check_url(
            "url",
            &url,
            state.config.outbound.allow_insecure,
        )?),
        (None, Some(component)) => {
            let reference = component_reference(&component)?;
            match state.store.resolve_component(scope, &reference).await {
                Ok(record) => Handler::Component(record.id),
                Err(StoreError::NotFound) => {
                    return Err(Problem::invalid(
                        "handler.component",
                        format!(
                            "no component {reference:?} among yours (give name@version, sha256:<digest> or a CMP-… id)"
                        ),
                    ));
                }
                Err(error) => return Err(error.into()),
            }
        }
    };
    let is_component = matches!(handler, Handler::Component(_));

    let mut modules: Vec<String> = Vec::new();
    for module in input.modules.unwrap_or_default() {
        let module = canonical("modules", &module, MODULES)?.to_owned();
        if !modules.contains(&module) {
            modules.push(module);
        }
    }

    let extension = input.extension;
    if let Some(extension) = &extension
        && !((1..=100).contains(&extension.len())
            && extension
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    {
        return Err(Problem::invalid(
            "extension",
            "must be 1-100 characters of A-Z, a-z, 0-9, '_' and '-'",
        ));
    }

    let mut criteria = BTreeMap::new();
    let given = input.criteria.unwrap_or_default();
    if given.len() > MAX_CRITERIA {
        return Err(Problem::invalid(
            "criteria",
            format!("at most {MAX_CRITERIA} entries"),
        ));
    }
    for (key, value) in given {
        if !criteria_key_ok(&key) {
            return Err(Problem::invalid(
                "criteria",
                format!("{key:?} is not a dotted path such as product.id"),
            ));
        }
        let field = format!("criteria.{key}");
        let Value::String(value) = value else {
            return Err(Problem::invalid(
                &field,
                "must be a string: criteria match the payload by exact string equality",
            ));
        };
        if value.chars().count() > MAX_CRITERIA_VALUE_CHARS {
            return Err(Problem::invalid(
                &field,
                format!("must be at most {MAX_CRITERIA_VALUE_CHARS} characters"),
            ));
        }
        criteria.insert(key, value);
    }

    let limits = match input.limits {
        None => None,
        Some(_) if !is_component => {
            return Err(Problem::invalid(
                "limits",
                "only component handlers run in the sandbox; a url handler has no limits",
            ));
        }
        Some(requested) => Some(limits_from(state, requested)?),
    };

    let mut allowed_hosts: Vec<String> = Vec::new();
    let hosts = input.allowed_hosts.unwrap_or_default();
    if !hosts.is_empty() && !is_component {
        return Err(Problem::invalid(
            "allowedHosts",
            "only component handlers make outbound calls; a url handler has no allowlist",
        ));
    }
    if hosts.len() > MAX_ALLOWED_HOSTS {
        return Err(Problem::invalid(
            "allowedHosts",
            format!("at most {MAX_ALLOWED_HOSTS} entries"),
        ));
    }
    for (i, host) in hosts.into_iter().enumerate() {
        let host = state
            .executor
            .remote()
            .egress()
            .check_allowed_host(&host)
            .map_err(|m| Problem::invalid(&format!("allowedHosts[{i}]"), m))?;
        if !allowed_hosts.contains(&host) {
            allowed_hosts.push(host);
        }
    }

    let retry_policy = match input.retry_policy {
        None => None,
        Some(policy) => {
            let field = "retryPolicy.scheduleSeconds";
            let n = policy.schedule_seconds.len();
            if !(1..=MAX_RETRIES).contains(&n) {
                return Err(Problem::invalid(
                    field,
                    format!("must have 1 to {MAX_RETRIES} entries, got {n}"),
                ));
            }
            if let Some(bad) = policy
                .schedule_seconds
                .iter()
                .find(|s| !(1..=MAX_RETRY_DELAY_SECONDS).contains(*s))
            {
                return Err(Problem::invalid(
                    field,
                    format!("{bad} is outside 1..={MAX_RETRY_DELAY_SECONDS} seconds"),
                ));
            }
            Some(RetryPolicy {
                schedule_seconds: policy.schedule_seconds,
            })
        }
    };

    Ok(WebhookSpec {
        service_id,
        description,
        enabled,
        kind,
        object_type,
        handler,
        modules,
        extension,
        criteria,
        limits,
        allowed_hosts,
        retry_policy,
    })
}

/// The operator's defaults with the requested values, refused above the ceilings (clamping
/// silently would run the webhook with less than its author asked for).
fn limits_from(state: &AppState, requested: LimitsIn) -> Result<Limits, Problem> {
    let sandbox = &state.config.sandbox;
    let (defaults, ceilings) = (sandbox.defaults, sandbox.ceilings);
    let timeout_ms = requested.timeout_ms.unwrap_or(defaults.timeout_ms);
    if timeout_ms == 0 {
        return Err(Problem::invalid("limits.timeoutMs", "must be at least 1"));
    }
    if timeout_ms > ceilings.timeout_ms {
        return Err(Problem::invalid(
            "limits.timeoutMs",
            format!(
                "{timeout_ms} is above the operator's ceiling of {}",
                ceilings.timeout_ms
            ),
        ));
    }
    let memory_bytes = requested.memory_bytes.unwrap_or(defaults.memory_bytes);
    if memory_bytes < MIN_MEMORY_BYTES {
        return Err(Problem::invalid(
            "limits.memoryBytes",
            format!("must be at least {MIN_MEMORY_BYTES} (one wasm page)"),
        ));
    }
    if memory_bytes > ceilings.memory_bytes {
        return Err(Problem::invalid(
            "limits.memoryBytes",
            format!(
                "{memory_bytes} is above the operator's ceiling of {}",
                ceilings.memory_bytes
            ),
        ));
    }
    let fuel = match requested.fuel {
        None => defaults.fuel,
        Some(_) if !sandbox.fuel => {
            return Err(Problem::invalid(
                "limits.fuel",
                "fuel metering is off on this host (the operator's sandbox.fuel is false)",
            ));
        }
        Some(0) => return Err(Problem::invalid("limits.fuel", "must be at least 1")),
        Some(fuel) => match ceilings.fuel {
            Some(ceiling) if fuel > ceiling => {
                return Err(Problem::invalid(
                    "limits.fuel",
                    format!("{fuel} is above the operator's ceiling of {ceiling}"),
                ));
            }
            _ => Some(fuel),
        },
    };
    Ok(Limits {
        timeout_ms,
        memory_bytes,
        fuel,
        ..defaults
    })
}

/// The revisions an `If-Match` header accepts; `None` when there is none or it is `*`.
///
/// Entity tags are ours (`"<revision>"`); a weak or foreign tag never matches (RFC 9110 uses
/// the strong comparison for If-Match), which ends in 412 like a stale one.
fn if_match(headers: &HeaderMap) -> Result<Option<Vec<i64>>, Problem> {
    let mut accepted = Vec::new();
    let mut any = false;
    let mut seen = false;
    for value in headers.get_all(header::IF_MATCH) {
        seen = true;
        let text = value
            .to_str()
            .map_err(|_| Problem::bad_request("If-Match: not a list of entity tags"))?;
        for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if tag == "*" {
                any = true;
            } else if let Some(revision) = tag
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .and_then(|t| t.parse::<i64>().ok())
            {
                accepted.push(revision);
            }
        }
    }
    Ok((seen && !any).then_some(accepted))
}

/// 412 unless `current` is at one of the `accepted` revisions; the revision to update from.
fn precondition(current: &Webhook, accepted: Option<&[i64]>) -> Result<Option<i64>, Problem> {
    match accepted {
        None => Ok(None),
        Some(revisions) if revisions.contains(&current.revision) => Ok(Some(current.revision)),
        Some(_) => Err(stale(&current.id, current.revision)),
    }
}

fn stale(id: &str, revision: i64) -> Problem {
    Problem::new(
        StatusCode::PRECONDITION_FAILED,
        format!(
            "webhook {id} has changed since you read it (its ETag is now \"{revision}\"); GET it again"
        ),
    )
}

/// The webhook `id` as `scope` sees it, or 404 (also for webhooks of others: never reveal
/// that they exist).
async fn visible(state: &AppState, scope: &Scope, id: &str) -> Result<Webhook, Problem> {
    match state.store.webhook(scope, id).await {
        Ok(webhook) => Ok(webhook),
        Err(StoreError::NotFound) => Err(Problem::not_found(format!("webhook {id}"))),
        Err(error) => Err(error.into()),
    }
}

/// A store error of a per-id request, with a 404 that names the webhook.
fn store_problem(id: &str, error: StoreError) -> Problem {
    match error {
        StoreError::NotFound => Problem::not_found(format!("webhook {id}")),
        error => error.into(),
    }
}

/// 403 when `scope` may read but not change `webhook` (a tenant and a provider's webhook).
fn must_own(scope: &Scope, webhook: &Webhook) -> Result<(), Problem> {
    if webhook.owner == *scope {
        Ok(())
    } else {
        Err(Problem::forbidden(format!(
            "webhook {} belongs to the service's provider and is read-only for tenants",
            webhook.id
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// `?offset=&limit=`; anything else (e.g. RQL filters) is refused rather than ignored, so a
/// client never mistakes an unfiltered page for a filtered one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    offset: Option<String>,
    limit: Option<String>,
}

fn page_number(field: &str, text: Option<&str>, default: i64, max: i64) -> Result<i64, Problem> {
    match text {
        None => Ok(default),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(n) if (0..=max).contains(&n) => Ok(n),
            _ => Err(Problem::invalid(
                field,
                format!("must be a whole number from 0 to {max}, got {text:?}"),
            )),
        },
    }
}

async fn list(
    State(state): State<AppState>,
    Caller(scope): Caller,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let offset = page_number("offset", query.offset.as_deref(), 0, i64::from(i32::MAX))?;
    let limit = page_number("limit", query.limit.as_deref(), 10, 1000)?;
    let (webhooks, total) = state.store.list_webhooks(&scope, offset, limit).await?;
    let mut components = Components::default();
    let mut data = Vec::with_capacity(webhooks.len());
    for webhook in webhooks {
        let webhook = seen_by(&state, &scope, webhook).await?;
        let component = components.of(&state, &webhook).await?;
        data.push(render(webhook, &scope, component.as_ref(), None));
    }
    let page = PageOut {
        meta: Meta {
            pagination: Pagination {
                offset,
                limit,
                total,
            },
        },
        data,
    };
    Ok(axum::Json(page).into_response())
}

async fn create(
    State(state): State<AppState>,
    Caller(scope): Caller,
    ApiJson(input): ApiJson<WebhookIn>,
) -> Result<Response, Problem> {
    if let Some(secret) = &input.secret
        && secret != MASKED_SECRET
    {
        return Err(Problem::invalid(
            "secret",
            "is generated by the host and returned once in this response; leave it out",
        ));
    }
    let spec = spec_from(&state, &scope, input).await?;
    let (webhook, secret) = state
        .store
        .create_webhook(&state.key, &scope, &spec)
        .await?;
    respond(&state, &scope, StatusCode::CREATED, webhook, Some(secret)).await
}

async fn one(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let webhook = visible(&state, &scope, &id).await?;
    respond(&state, &scope, StatusCode::OK, webhook, None).await
}

async fn replace(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<WebhookIn>,
) -> Result<Response, Problem> {
    let current = visible(&state, &scope, &id).await?;
    must_own(&scope, &current)?;
    let expected = precondition(&current, if_match(&headers)?.as_deref())?;
    if let Some(secret) = &input.secret
        && secret != MASKED_SECRET
    {
        // The create response carries the real secret; PUTting that object back is fine.
        let stored = state
            .store
            .webhook_secret(&state.key, &id)
            .await
            .map_err(|e| store_problem(&id, e))?;
        if !crate::crypto::constant_time_eq(secret.as_bytes(), stored.as_bytes()) {
            return Err(Problem::invalid(
                "secret",
                "is read-only: it cannot be changed with PUT; send it masked or leave it out",
            ));
        }
    }
    let spec = spec_from(&state, &scope, input).await?;
    let updated = match state
        .store
        .update_webhook(&scope, &id, &spec, expected)
        .await
    {
        Ok(updated) => updated,
        Err(StoreError::Conflict(message)) => {
            // With If-Match, a change that slipped in after our check is still a failed
            // precondition; an extension clash stays a 409.
            if let Some(expected) = expected {
                let now = visible(&state, &scope, &id).await?;
                if now.revision != expected {
                    return Err(stale(&id, now.revision));
                }
            }
            return Err(Problem::new(StatusCode::CONFLICT, message));
        }
        Err(error) => return Err(store_problem(&id, error)),
    };
    respond(&state, &scope, StatusCode::OK, updated, None).await
}

/// Checks `If-Match` for the bodiless changes (delete, enable, disable), when one is sent.
async fn check_if_match(
    state: &AppState,
    scope: &Scope,
    id: &str,
    headers: &HeaderMap,
) -> Result<(), Problem> {
    if let Some(accepted) = if_match(headers)? {
        let current = visible(state, scope, id).await?;
        must_own(scope, &current)?;
        precondition(&current, Some(&accepted))?;
    }
    Ok(())
}

async fn remove(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    check_if_match(&state, &scope, &id, &headers).await?;
    state
        .store
        .delete_webhook(&scope, &id)
        .await
        .map_err(|e| store_problem(&id, e))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn enable(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    set_enabled(state, scope, id, headers, true).await
}

async fn disable(
    State(state): State<AppState>,
    Caller(scope): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    set_enabled(state, scope, id, headers, false).await
}

async fn set_enabled(
    state: AppState,
    scope: Scope,
    id: String,
    headers: HeaderMap,
    enabled: bool,
) -> Result<StatusCode, Problem> {
    check_if_match(&state, &scope, &id, &headers).await?;
    state
        .store
        .set_webhook_enabled(&scope, &id, enabled)
        .await
        .map_err(|e| store_problem(&id, e))?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_https_and_a_host() {
        assert!(check_url("url", "https://hooks.example.com/x?y=1", false).is_ok());
        assert!(check_url("url", "http://hooks.example.com/x", true).is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "ftp://hooks.example.com",
            "hooks.example.com/x",
            "/relative",
            "https://",
            "https://user:pw@hooks.example.com/",
            "",
        ] {
            let problem = check_url("url", bad, false).unwrap_err();
            assert_eq!(problem.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(problem.errors.contains_key("url"), "{bad}");
        }
    }

    #[test]
    fn if_match_accepts_our_tags_and_star() {
        let mut headers = HeaderMap::new();
        assert_eq!(if_match(&headers).unwrap(), None);
        headers.insert(
            header::IF_MATCH,
            HeaderValue::from_static("\"3\", W/\"4\", \"x\""),
        );
        assert_eq!(if_match(&headers).unwrap(), Some(vec![3]));
        headers.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(if_match(&headers).unwrap(), None);
    }

    #[test]
    fn enum_values_are_matched_ignoring_case_and_emitted_canonically() {
        assert_eq!(
            canonical("type", "ValidatePurchaseOrderDraft", TYPES).unwrap(),
            "validatePurchaseOrderDraft"
        );
        assert_eq!(
            canonical("objectType", "order", OBJECT_TYPES).unwrap(),
            "Order"
        );
        assert!(canonical("objectType", "Orders", OBJECT_TYPES).is_err());
    }
}
