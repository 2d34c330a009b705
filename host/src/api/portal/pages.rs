//! The portal's pages and actions: each asks the REST API (as the visitor) and renders the
//! answer; an answer that is not a success is shown as the API's problem, with its status.

use super::{Api, Visitor, from_htmx, html, is_provider};
use crate::portal::i18n::Text;
use crate::portal::pages::webhooks::{self, CallFilter, Detail};
use crate::portal::pages::{self, Frame, components, operator, problem, processes};
use crate::portal::session::Role;
use crate::time::now_ms;
use crate::vocab::TriggerSource;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::time::Duration;

/// Calls per page of the call log.
const CALLS_PER_PAGE: usize = 50;

/// How often the live call log asks for new calls.
const LIVE_EVERY: Duration = Duration::from_secs(1);

type Page = Result<Response, Response>;

#[derive(Deserialize)]
pub(super) struct IdPath {
    id: String,
}

#[derive(Deserialize)]
pub(super) struct CallPath {
    id: String,
    call: String,
}

#[derive(Deserialize)]
pub(super) struct RecordPath {
    module: String,
    id: String,
}

/// The page of an API answer that is not a success: a 404 reads like any unknown page (the
/// API answers others' objects so too), everything else shows the API's problem.
fn failed(frame: &Frame<'_>, status: StatusCode, body: &Value) -> Response {
    let markup = if status == StatusCode::NOT_FOUND {
        pages::message(frame.locale, Text::NotFound)
    } else {
        let section = match frame.role {
            Role::Operator => pages::Section::Operator,
            _ => pages::Section::Webhooks,
        };
        frame.page(
            section,
            frame.t(Text::Error),
            problem(frame, status.as_u16(), body),
        )
    };
    html(status, markup)
}

/// The answer of a GET, or the page saying why there is none.
async fn read(api: &Api, frame: &Frame<'_>, uri: &str) -> Result<Value, Response> {
    let (status, body) = api.get(uri).await;
    if status.is_success() {
        Ok(body)
    } else {
        Err(failed(frame, status, &body))
    }
}

/// A path segment as the visitor typed it, safe to put in an API path (ids are letters,
/// digits and dashes; anything else can name nothing and reads as not found).
fn segment(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

/// The query string's parameters.
fn params(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// `/portal/s/<token>/`: the operator's overview, or the webhooks.
pub(super) async fn home(visitor: Visitor) -> Response {
    let to = match visitor.session.role {
        Role::Operator => "/operator",
        _ => "/webhooks",
    };
    Redirect::to(&visitor.frame().href(to)).into_response()
}

/// The webhooks the visitor sees, each with its last 24 hours.
pub(super) async fn webhooks(visitor: Visitor) -> Page {
    let frame = visitor.frame();
    let api = &visitor.api;
    let page = read(api, &frame, "/public/v1/notifications/webhooks?limit=100").await?;
    let mut statistics = Vec::new();
    for webhook in page["data"].as_array().into_iter().flatten() {
        let id = pages::text(webhook, "id");
        let (_, stats) = api
            .get(&format!(
                "/public/v1/notifications/webhooks/{id}/statistics"
            ))
            .await;
        statistics.push(stats);
    }
    Ok(html(
        StatusCode::OK,
        webhooks::list(&frame, &page, &statistics),
    ))
}

/// The call log's filters and position from the query string.
fn call_filter(params: &[(String, String)]) -> CallFilter {
    let result = match param(params, "result") {
        word @ ("ok" | "failed") => word.to_owned(),
        _ => String::new(),
    };
    let trigger = TriggerSource::parse(param(params, "trigger"))
        .map(|t| t.as_str().to_owned())
        .unwrap_or_default();
    CallFilter { result, trigger }
}

/// The REST query of a page of the call log: newest first by id (ids are time-ordered),
/// older than `before` when given (keyset pagination), newer than `after` when given.
fn calls_uri(id: &str, filter: &CallFilter, before: &str, after: &str) -> String {
    let mut uri =
        format!("/public/v1/notifications/webhooks/{id}/calls?order=-id&limit={CALLS_PER_PAGE}");
    match filter.result.as_str() {
        "ok" => uri.push_str("&eq(success,true)"),
        "failed" => uri.push_str("&eq(success,false)"),
        _ => {}
    }
    if !filter.trigger.is_empty() {
        uri.push_str(&format!("&eq(trigger,{})", filter.trigger));
    }
    let before = segment(before);
    if !before.is_empty() {
        uri.push_str(&format!("&lt(id,{before})"));
    }
    let after = segment(after);
    if !after.is_empty() {
        uri.push_str(&format!("&gt(id,{after})"));
    }
    uri
}

/// A webhook: facts, actions, statistics over time, the call log.
pub(super) async fn webhook(
    visitor: Visitor,
    Path(path): Path<IdPath>,
    RawQuery(query): RawQuery,
) -> Page {
    let frame = visitor.frame();
    let api = &visitor.api;
    let id = segment(&path.id);
    let params = params(query.as_deref());
    let filter = call_filter(&params);
    let webhook = read(
        api,
        &frame,
        &format!("/public/v1/notifications/webhooks/{id}"),
    )
    .await?;
    let statistics = read(
        api,
        &frame,
        &format!("/public/v1/notifications/webhooks/{id}/statistics"),
    )
    .await?;
    let calls = read(
        api,
        &frame,
        &calls_uri(&id, &filter, param(&params, "before"), ""),
    )
    .await?;
    // The owner may change the webhook: a provider sees only its own; a tenant owns those
    // whose notifications the API lets it read.
    let owner = match &visitor.session.role {
        Role::Tenant(_) => {
            let uri = format!("/public/v1/notifications/webhooks/{id}/notifications?limit=0");
            api.get(&uri).await.0.is_success()
        }
        _ => true,
    };
    // A provider's test call runs for one of the tenants using the webhook's service (or any
    // of the provider's services, for a webhook of none).
    let activations = match &visitor.session.role {
        Role::Provider(_) => {
            let narrowed = match webhook["service"]["id"].as_str() {
                Some(service) => format!("eq(serviceId,{})&", segment(service)),
                None => String::new(),
            };
            let uri = format!("/public/v1/activations?{narrowed}limit=100");
            Some(read(api, &frame, &uri).await?)
        }
        _ => None,
    };
    let detail = Detail {
        webhook: &webhook,
        statistics: &statistics,
        calls: &calls,
        filter: &filter,
        owner,
        triggers: TriggerSource::NAMES,
        activations: activations.as_ref(),
    };
    Ok(html(StatusCode::OK, webhooks::detail(&frame, &detail)))
}

/// Rows of the call log older than `before` (htmx's "older calls").
pub(super) async fn calls(
    visitor: Visitor,
    Path(path): Path<IdPath>,
    RawQuery(query): RawQuery,
) -> Page {
    let frame = visitor.frame();
    let id = segment(&path.id);
    let params = params(query.as_deref());
    let filter = call_filter(&params);
    let uri = calls_uri(&id, &filter, param(&params, "before"), "");
    let calls = read(&visitor.api, &frame, &uri).await?;
    Ok(html(
        StatusCode::OK,
        webhooks::call_rows(&frame, &id, &calls, &filter),
    ))
}

/// New calls as they are logged: server-sent events of rendered rows, asked from the API
/// every second (so calls logged by any instance show), until the session expires.
pub(super) async fn live(
    visitor: Visitor,
    Path(path): Path<IdPath>,
    RawQuery(query): RawQuery,
) -> Response {
    let id = segment(&path.id);
    let after = segment(param(&params(query.as_deref()), "after"));
    let expires_at = visitor.session.expires_at;
    let stream = futures_util::stream::unfold(
        (visitor, id, after),
        move |(visitor, id, mut after)| async move {
            loop {
                tokio::time::sleep(LIVE_EVERY).await;
                if now_ms() >= expires_at {
                    return None;
                }
                let uri = calls_uri(&id, &CallFilter::default(), "", &after);
                let (status, calls) = visitor.api.get(&uri).await;
                if !status.is_success() {
                    return None;
                }
                let Some(newest) = calls["data"][0]["id"].as_str() else {
                    continue;
                };
                after = newest.to_owned();
                let frame = visitor.frame();
                let rows: String = calls["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|call| webhooks::call_row(&frame, &id, call).into_string())
                    .collect();
                let event = Event::default().event("calls").data(rows);
                return Some((Ok::<_, Infallible>(event), (visitor, id, after)));
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The answer to an action: the fragment for htmx, a page of it otherwise.
fn acted(frame: &Frame<'_>, headers: &HeaderMap, id: &str, fragment: maud::Markup) -> Response {
    if from_htmx(headers) {
        html(StatusCode::OK, fragment)
    } else {
        html(StatusCode::OK, webhooks::action_page(frame, id, fragment))
    }
}

/// A test call with the form's payload (and, for providers, tenant).
pub(super) async fn test(
    visitor: Visitor,
    Path(path): Path<IdPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let frame = visitor.frame();
    let id = segment(&path.id);
    let mut request = json!({});
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "payload" if !value.trim().is_empty() => match serde_json::from_str::<Value>(&value) {
                Ok(payload) => request["payload"] = payload,
                Err(error) => {
                    let refused = json!({"detail": format!("payload: not JSON: {error}")});
                    return acted(&frame, &headers, &id, problem(&frame, 400, &refused));
                }
            },
            "tenantId" if is_provider(&visitor.session.role) => {
                request["tenantId"] = Value::String(value.trim().to_owned());
            }
            _ => {}
        }
    }
    let (status, answer) = visitor
        .api
        .post_json(
            &format!("/public/v1/notifications/webhooks/{id}/test"),
            &request,
        )
        .await;
    let fragment = webhooks::test_result(&frame, status.as_u16(), &answer);
    acted(&frame, &headers, &id, fragment)
}

/// Resends an asynchronous call.
pub(super) async fn resend(
    visitor: Visitor,
    Path(path): Path<CallPath>,
    headers: HeaderMap,
) -> Response {
    let frame = visitor.frame();
    let (id, call) = (segment(&path.id), segment(&path.call));
    let (status, answer) = visitor
        .api
        .post(&format!(
            "/public/v1/notifications/webhooks/{id}/calls/{call}/resend"
        ))
        .await;
    acted(
        &frame,
        &headers,
        &id,
        webhooks::resent(&frame, status.as_u16(), &answer),
    )
}

/// A new signing secret, shown once.
pub(super) async fn rotate(
    visitor: Visitor,
    Path(path): Path<IdPath>,
    headers: HeaderMap,
) -> Response {
    let frame = visitor.frame();
    let id = segment(&path.id);
    let (status, answer) = visitor
        .api
        .post(&format!(
            "/public/v1/notifications/webhooks/{id}/rotate-secret"
        ))
        .await;
    acted(
        &frame,
        &headers,
        &id,
        webhooks::rotated(&frame, status.as_u16(), &answer),
    )
}

async fn set_enabled(visitor: Visitor, id: &str, action: &str) -> Page {
    let frame = visitor.frame();
    let id = segment(id);
    let (status, answer) = visitor
        .api
        .post(&format!("/public/v1/notifications/webhooks/{id}/{action}"))
        .await;
    if !status.is_success() {
        return Err(failed(&frame, status, &answer));
    }
    Ok(Redirect::to(&frame.href(&format!("/webhooks/{id}"))).into_response())
}

/// Enables a webhook, then shows it again.
pub(super) async fn enable(visitor: Visitor, Path(path): Path<IdPath>) -> Page {
    set_enabled(visitor, &path.id, "enable").await
}

/// Disables a webhook, then shows it again.
pub(super) async fn disable(visitor: Visitor, Path(path): Path<IdPath>) -> Page {
    set_enabled(visitor, &path.id, "disable").await
}

/// The components and the webhooks that use each.
async fn component_lists(visitor: &Visitor) -> Result<(Value, Value), Response> {
    let frame = visitor.frame();
    let list = read(&visitor.api, &frame, "/public/v1/components?limit=1000").await?;
    let users = read(
        &visitor.api,
        &frame,
        "/public/v1/notifications/webhooks?limit=1000&select=+id,+description,+handler",
    )
    .await?;
    Ok((list, users))
}

/// The components page.
pub(super) async fn components(visitor: Visitor) -> Page {
    let (list, users) = component_lists(&visitor).await?;
    let usage = components::usage(&users);
    Ok(html(
        StatusCode::OK,
        components::page(&visitor.frame(), &list, &usage),
    ))
}

/// The components table alone (after an upload).
pub(super) async fn components_table(visitor: Visitor) -> Page {
    let (list, users) = component_lists(&visitor).await?;
    let usage = components::usage(&users);
    Ok(html(
        StatusCode::OK,
        components::table(&visitor.frame(), &list, &usage),
    ))
}

/// Uploads a component (the raw `.wasm`) through the components API and shows what its
/// check found.
pub(super) async fn upload(visitor: Visitor, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let frame = visitor.frame();
    let params = params(query.as_deref());
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("name", param(&params, "name"))
        .append_pair("version", param(&params, "version"))
        .finish();
    let (status, answer) = visitor
        .api
        .send(
            Method::POST,
            &format!("/public/v1/components?{query}"),
            Some("application/wasm"),
            body,
        )
        .await;
    let code = if status.is_success() {
        StatusCode::OK
    } else {
        status
    };
    html(code, components::uploaded(&frame, status.as_u16(), &answer))
}

/// Templates, running and finished processes (tenants).
pub(super) async fn processes(visitor: Visitor) -> Page {
    let frame = visitor.frame();
    if is_provider(&visitor.session.role) {
        return Ok(html(StatusCode::OK, processes::tenants_only(&frame)));
    }
    let api = &visitor.api;
    let templates = read(api, &frame, "/api/v1/process-templates?limit=100").await?;
    let running = read(
        api,
        &frame,
        "/api/v1/processes?eq(status,running)&order=-createdAt&limit=50",
    )
    .await?;
    let finished = read(
        api,
        &frame,
        "/api/v1/processes?ne(status,running)&order=-createdAt&limit=50",
    )
    .await?;
    Ok(html(
        StatusCode::OK,
        processes::page(&frame, &templates, &running, &finished),
    ))
}

/// A process and its steps.
pub(super) async fn process(visitor: Visitor, Path(path): Path<IdPath>) -> Page {
    let frame = visitor.frame();
    let id = segment(&path.id);
    let process = read(&visitor.api, &frame, &format!("/api/v1/processes/{id}")).await?;
    Ok(html(StatusCode::OK, processes::process(&frame, &process)))
}

/// A record's activity log.
pub(super) async fn activities(visitor: Visitor, Path(path): Path<RecordPath>) -> Page {
    let frame = visitor.frame();
    let (module, id) = (segment(&path.module), segment(&path.id));
    let page = read(
        &visitor.api,
        &frame,
        &format!("/api/v1/records/{module}/{id}/activities?limit=200"),
    )
    .await?;
    Ok(html(
        StatusCode::OK,
        processes::activities(&frame, &module, &id, &page),
    ))
}

/// The operator's overview.
pub(super) async fn operator(visitor: Visitor) -> Page {
    let frame = visitor.frame();
    let api = &visitor.api;
    let providers = read(api, &frame, "/admin/v1/providers?limit=100").await?;
    let tenants = read(api, &frame, "/admin/v1/tenants?limit=100").await?;
    let services = read(api, &frame, "/admin/v1/services?limit=100").await?;
    let activations = read(api, &frame, "/admin/v1/activations?limit=100").await?;
    let (_, metrics) = api.get("/metrics").await;
    let text = metrics.as_str().unwrap_or_default();
    let outbox = operator::samples(text, &["hookhost_outbox_deliveries"]);
    let metrics = operator::samples(
        text,
        &[
            "hookhost_calls_total",
            "hookhost_components_compiled_total",
            "hookhost_components_loaded_from_disk_total",
        ],
    );
    let overview = operator::Overview {
        providers: &providers,
        tenants: &tenants,
        services: &services,
        activations: &activations,
        outbox: &outbox,
        metrics: &metrics,
    };
    Ok(html(StatusCode::OK, operator::page(&frame, &overview)))
}
