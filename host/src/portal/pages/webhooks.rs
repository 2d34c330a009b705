//! Webhooks: the list with sparklines, a webhook's page (statistics over time, the call log,
//! actions), and the fragments htmx swaps in.

use super::{Frame, Section, duration, number, parse_time, problem, text, time};
use crate::portal::chart::{Bar, sparkline};
use crate::portal::i18n::Text;
use maud::{Markup, html};
use serde_json::Value;

/// The bars of a statistics answer (`GET …/webhooks/{id}/statistics`), oldest first.
pub fn bars(statistics: &Value) -> Vec<Bar> {
    buckets(statistics)
        .iter()
        .map(|b| Bar {
            successes: number(b, "successes"),
            failures: number(b, "failures"),
        })
        .collect()
}

fn buckets(statistics: &Value) -> &[Value] {
    statistics
        .get("buckets")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// What handles a webhook: its URL, or `name@version` of its component.
pub fn handler(webhook: &Value) -> String {
    let handler = &webhook["handler"];
    if let Some(url) = handler.get("url").and_then(Value::as_str) {
        return url.to_owned();
    }
    let component = &handler["component"];
    match (component.get("name"), component.get("version")) {
        (Some(name), Some(version)) => format!(
            "{}@{}",
            name.as_str().unwrap_or_default(),
            version.as_str().unwrap_or_default()
        ),
        _ => text(component, "id").to_owned(),
    }
}

fn status(frame: &Frame<'_>, webhook: &Value) -> Markup {
    let enabled = text(webhook, "status") == "enabled";
    html! {
        span.badge.(if enabled { "on" } else { "off" }) {
            (frame.t(if enabled { Text::Enabled } else { Text::Disabled }))
        }
    }
}

fn name(webhook: &Value) -> &str {
    match text(webhook, "description") {
        "" => text(webhook, "id"),
        description => description,
    }
}

/// The list: each webhook with its status, handler, success rate and the last 24 hours.
/// `statistics` holds each webhook's statistics answer, in the order of `page`'s items.
pub fn list(frame: &Frame<'_>, page: &Value, statistics: &[Value]) -> Markup {
    let items = page["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let content = html! {
        h1 { (frame.t(Text::Webhooks)) }
        @if items.is_empty() {
            p { (frame.t(Text::NoWebhooks)) }
        } @else {
            table.list #webhooks {
                thead { tr {
                    th scope="col" { (frame.t(Text::Webhook)) }
                    th scope="col" { (frame.t(Text::Status)) }
                    th scope="col" { (frame.t(Text::Handler)) }
                    th scope="col" .num { (frame.t(Text::SuccessRate)) }
                    th scope="col" { (frame.t(Text::Last24h)) }
                    th scope="col" .num { (frame.t(Text::Calls)) }
                } }
                tbody {
                    @for (webhook, stats) in items.iter().zip(statistics) {
                        @let id = text(webhook, "id");
                        @let statistics = &webhook["statistics"];
                        tr data-webhook=(id) {
                            td {
                                a href=(frame.href(&format!("/webhooks/{id}"))) { (name(webhook)) }
                                br; code.id { (id) }
                            }
                            td { (status(frame, webhook)) }
                            td { code { (handler(webhook)) } }
                            td.num { (frame.locale.percent(number(statistics, "successes"), number(statistics, "total"))) }
                            td { (sparkline(&bars(stats), 120, 24, frame.locale)) }
                            td.num { (frame.locale.number(number(statistics, "total"))) }
                        }
                    }
                }
            }
        }
    };
    frame.page(Section::Webhooks, frame.t(Text::Webhooks), content)
}

/// The call log's filters, as the page's query string carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    /// `ok` or `failed`; all when empty.
    pub result: String,
    /// A trigger source; all when empty.
    pub trigger: String,
}

impl CallFilter {
    /// Whether the log is unfiltered (new calls stream in then).
    pub fn is_empty(&self) -> bool {
        self.result.is_empty() && self.trigger.is_empty()
    }

    /// The query string of these filters (`&result=…&trigger=…`).
    pub fn query(&self) -> String {
        let mut out = String::new();
        for (key, value) in [("result", &self.result), ("trigger", &self.trigger)] {
            if !value.is_empty() {
                out.push_str(&format!("&{key}={}", url_word(value)));
            }
        }
        out
    }
}

/// A word of our own vocabulary for a query string (letters, digits, `-`, `_` only).
fn url_word(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect()
}

/// What a webhook's page shows.
pub struct Detail<'a> {
    /// The webhook, as the registry answers it.
    pub webhook: &'a Value,
    /// `GET …/statistics`: the last 24 hours.
    pub statistics: &'a Value,
    /// The first page of the call log.
    pub calls: &'a Value,
    /// The call log's filters.
    pub filter: &'a CallFilter,
    /// Whether the viewer owns the webhook (may change it, rotate its secret).
    pub owner: bool,
    /// Triggers the call log may be filtered by.
    pub triggers: &'a [&'a str],
    /// For a provider: the activations of the webhook's service (whom a test call can run
    /// for), `GET /public/v1/activations`.
    pub activations: Option<&'a Value>,
}

/// A webhook's page.
pub fn detail(frame: &Frame<'_>, d: &Detail<'_>) -> Markup {
    let webhook = d.webhook;
    let id = text(webhook, "id");
    let base = frame.href(&format!("/webhooks/{id}"));
    let statistics = &webhook["statistics"];
    let provider = matches!(frame.role, crate::portal::session::Role::Provider(_));
    let content = html! {
        p { a href=(frame.href("/webhooks")) { "← " (frame.t(Text::Webhooks)) } }
        h1 { (name(webhook)) }
        dl.facts {
            dt { (frame.t(Text::Id)) } dd { code #webhook-id { (id) } }
            dt { (frame.t(Text::Status)) } dd #status { (status(frame, webhook)) }
            dt { (frame.t(Text::Handler)) } dd { code { (handler(webhook)) } }
            dt { (frame.t(Text::Calls)) } dd { (frame.locale.number(number(statistics, "total"))) }
            dt { (frame.t(Text::SuccessRate)) } dd { (frame.locale.percent(number(statistics, "successes"), number(statistics, "total"))) }
            dt { (frame.t(Text::LastSuccess)) } dd { (last(frame, &webhook["lastSuccess"])) }
            dt { (frame.t(Text::LastFailure)) } dd { (last(frame, &webhook["lastFailure"])) }
        }
        @if d.owner {
            section.actions aria-label=(frame.t(Text::Details)) {
                @let enabled = text(webhook, "status") == "enabled";
                @let (action, label) = if enabled { ("disable", Text::Disable) } else { ("enable", Text::Enable) };
                form method="post" action=(format!("{base}/{action}")) {
                    button #toggle type="submit" { (frame.t(label)) }
                }
                form method="post" action=(format!("{base}/rotate-secret"))
                    hx-post=(format!("{base}/rotate-secret")) hx-target="#secret" hx-swap="innerHTML" {
                    button #rotate type="submit" { (frame.t(Text::RotateSecret)) }
                }
                div #secret aria-live="polite" {}
            }
        } @else {
            p.note { (frame.t(Text::ReadOnly)) }
        }
        section aria-labelledby="test-heading" {
            h2 #test-heading { (frame.t(Text::TestCall)) }
            form.test method="post" action=(format!("{base}/test"))
                hx-post=(format!("{base}/test")) hx-target="#test-result" hx-swap="innerHTML" {
                label for="payload" { (frame.t(Text::Payload)) }
                textarea #payload name="payload" rows="4" spellcheck="false" {
                    (sample_payload(webhook))
                }
                @if provider {
                    @let tenants = d.activations.and_then(|a| a["data"].as_array()).filter(|a| !a.is_empty());
                    label for="tenant" { (frame.t(Text::TenantId)) }
                    @if let Some(tenants) = tenants {
                        select #tenant name="tenantId" required {
                            @for activation in tenants {
                                option value=(text(activation, "tenantId")) {
                                    (text(activation, "tenantName")) " (" (text(activation, "tenantId")) ")"
                                }
                            }
                        }
                    } @else {
                        input #tenant name="tenantId" required pattern="TEN-.*" autocomplete="off";
                    }
                }
                button #run-test type="submit" { (frame.t(Text::RunTest)) }
            }
            div #test-result aria-live="polite" {}
        }
        section aria-labelledby="stats-heading" {
            h2 #stats-heading { (frame.t(Text::StatisticsOverTime)) }
            (sparkline(&bars(d.statistics), 480, 60, frame.locale))
            (statistics_table(frame, d.statistics))
        }
        section aria-labelledby="log-heading" {
            h2 #log-heading { (frame.t(Text::CallLog)) }
            form.filters method="get" action=(base) {
                label for="result" { (frame.t(Text::Result)) }
                select #result name="result" {
                    option value="" selected[d.filter.result.is_empty()] { (frame.t(Text::All)) }
                    option value="ok" selected[d.filter.result == "ok"] { (frame.t(Text::Ok)) }
                    option value="failed" selected[d.filter.result == "failed"] { (frame.t(Text::Failed)) }
                }
                label for="trigger" { (frame.t(Text::Trigger)) }
                select #trigger name="trigger" {
                    option value="" selected[d.filter.trigger.is_empty()] { (frame.t(Text::All)) }
                    @for trigger in d.triggers {
                        option value=(trigger) selected[d.filter.trigger == *trigger] { (trigger) }
                    }
                }
                button type="submit" { (frame.t(Text::Filter)) }
            }
            @if d.filter.is_empty() {
                p.live #live-note { (frame.t(Text::Live)) }
            }
            table.list #calls {
                thead { tr {
                    th scope="col" { (frame.t(Text::Time)) }
                    th scope="col" { (frame.t(Text::Trigger)) }
                    th scope="col" { (frame.t(Text::Result)) }
                    th scope="col" .num { (frame.t(Text::Duration)) }
                    th scope="col" .num { (frame.t(Text::Attempt)) }
                    th scope="col" { (frame.t(Text::Details)) }
                } }
                @let data = d.calls["data"].as_array().map(Vec::as_slice).unwrap_or_default();
                @let newest = data.first().map(|c| text(c, "id")).unwrap_or_default();
                tbody #call-rows
                    data-live=[d.filter.is_empty().then(|| format!("{base}/live?after={newest}"))] {
                    @if data.is_empty() {
                        tr.empty { td colspan="6" { (frame.t(Text::NoCalls)) } }
                    }
                    (call_rows(frame, id, d.calls, d.filter))
                }
            }
        }
    };
    frame.page(Section::Webhooks, name(webhook), content)
}

fn last(frame: &Frame<'_>, call: &Value) -> Markup {
    match call.get("callTime").and_then(Value::as_str) {
        Some(at) => time(frame.locale, at),
        None => html! { (frame.t(Text::Never)) },
    }
}

/// What a test call sends unless edited: what the API would send without a payload.
fn sample_payload(webhook: &Value) -> String {
    let module = webhook["modules"]
        .as_array()
        .and_then(|m| m.first())
        .and_then(Value::as_str)
        .or_else(|| webhook.get("objectType").and_then(Value::as_str))
        .unwrap_or("webhook-body");
    serde_json::json!({"test": true, "module": module, "recordId": "0"}).to_string()
}

/// The hours with calls, newest first.
fn statistics_table(frame: &Frame<'_>, statistics: &Value) -> Markup {
    let hours: Vec<&Value> = buckets(statistics)
        .iter()
        .rev()
        .filter(|b| number(b, "calls") > 0)
        .collect();
    let ms = |b: &Value, key: &str| match b.get(key).and_then(Value::as_i64) {
        Some(ms) => format!("≤ {}", duration(ms)),
        None => "–".into(),
    };
    html! {
        @if hours.is_empty() {
            p { (frame.t(Text::NoCalls)) }
        } @else {
            table.list #statistics {
                thead { tr {
                    th scope="col" { (frame.t(Text::Hour)) }
                    th scope="col" .num { (frame.t(Text::Calls)) }
                    th scope="col" .num { (frame.t(Text::Successes)) }
                    th scope="col" .num { (frame.t(Text::Failures)) }
                    th scope="col" .num { (frame.t(Text::P50)) }
                    th scope="col" .num { (frame.t(Text::P99)) }
                } }
                tbody {
                    @for b in hours {
                        tr {
                            td { (time(frame.locale, text(b, "start"))) }
                            td.num { (frame.locale.number(number(b, "calls"))) }
                            td.num { (frame.locale.number(number(b, "successes"))) }
                            td.num { (frame.locale.number(number(b, "failures"))) }
                            td.num { (ms(b, "p50Ms")) }
                            td.num { (ms(b, "p99Ms")) }
                        }
                    }
                }
            }
        }
    }
}

/// Rows of a page of the call log, and a row that loads the next (older) page when the page
/// was full: keyset pagination by call id.
pub fn call_rows(
    frame: &Frame<'_>,
    webhook_id: &str,
    calls: &Value,
    filter: &CallFilter,
) -> Markup {
    let data = calls["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let limit = calls["$meta"]["pagination"]["limit"].as_u64().unwrap_or(0) as usize;
    let base = frame.href(&format!("/webhooks/{webhook_id}"));
    html! {
        @for call in data {
            (call_row(frame, webhook_id, call))
        }
        @if let Some(oldest) = data.last().map(|c| text(c, "id")).filter(|_| limit > 0 && data.len() == limit) {
            tr.more {
                td colspan="6" {
                    a href=(format!("{base}?before={oldest}{}", filter.query()))
                        hx-get=(format!("{base}/calls?before={oldest}{}", filter.query()))
                        hx-target="closest tr" hx-swap="outerHTML" {
                        (frame.t(Text::LoadMore))
                    }
                }
            }
        }
    }
}

/// One call of the log, its details folded away.
pub fn call_row(frame: &Frame<'_>, webhook_id: &str, call: &Value) -> Markup {
    let id = text(call, "id");
    let ok = call["success"].as_bool().unwrap_or(false);
    let took = match (
        parse_time(text(call, "callTime")),
        parse_time(text(call, "responseTime")),
    ) {
        (Some(start), Some(end)) => duration((end - start).max(0)),
        _ => "–".into(),
    };
    let status = number(call, "httpStatusCode");
    let reason = text(call, "reasonPhrase");
    let delivery = call.get("deliveryId").and_then(Value::as_str);
    let resend = frame.href(&format!("/webhooks/{webhook_id}/calls/{id}/resend"));
    html! {
        tr.call.(if ok { "ok" } else { "failed" }) #(format!("call-{id}")) {
            td { (time(frame.locale, text(call, "callTime"))) }
            td { (text(call, "trigger")) }
            td {
                span.badge.(if ok { "on" } else { "off" }) {
                    (frame.t(if ok { Text::Ok } else { Text::Failed }))
                }
                " "
                @if status > 0 { (status) " " }
                (reason)
            }
            td.num { (took) }
            td.num { (number(call, "attempt")) }
            td {
                details {
                    summary { code { (id) } }
                    dl.call-detail {
                        @if let Some(delivery) = delivery {
                            dt { "Delivery" } dd { code { (delivery) } }
                        }
                        @if !ok {
                            dt { (frame.t(Text::FailureKind)) } dd { code { (reason) } }
                            dt { (frame.t(Text::Error)) } dd { pre { (text(call, "error")) } }
                        }
                        @if !text(call, "request").is_empty() {
                            dt { (frame.t(Text::Request)) } dd { pre.request { (text(call, "request")) } }
                        }
                        dt { (frame.t(Text::Headers)) } dd { pre { (text(call, "headers")) } }
                        dt { (frame.t(Text::Response)) } dd { pre { (text(call, "response")) } }
                        @if let Some(lines) = call["log"].as_array().filter(|l| !l.is_empty()) {
                            dt { (frame.t(Text::PluginLog)) }
                            dd { pre.log {
                                @for line in lines {
                                    span.(text(line, "source")) { (text(line, "source")) ": " (text(line, "message")) }
                                    "\n"
                                }
                            } }
                        }
                    }
                    @if delivery.is_some() {
                        form method="post" action=(resend) hx-post=(resend) hx-swap="outerHTML" {
                            button.resend type="submit" { (frame.t(Text::Resend)) }
                        }
                    }
                }
            }
        }
    }
}

/// The answer of a test call (`{"call", "failure"}`), or the API's problem.
pub fn test_result(frame: &Frame<'_>, status: u16, body: &Value) -> Markup {
    if status != 200 {
        return problem(frame, status, body);
    }
    let call = &body["call"];
    let ok = call["success"].as_bool().unwrap_or(false);
    html! {
        div.result.(if ok { "ok" } else { "failed" }) role="status" {
            strong { (frame.t(if ok { Text::Ok } else { Text::Failed })) }
            @if let Some(failure) = body.get("failure").filter(|f| !f.is_null()) {
                " " code { (text(failure, "kind")) } ": " (text(failure, "message"))
            }
            pre { (text(call, "response")) }
        }
    }
}

/// The answer of a resend (`{"deliveryId"}`), or the API's problem.
pub fn resent(frame: &Frame<'_>, status: u16, body: &Value) -> Markup {
    if status != 202 {
        return problem(frame, status, body);
    }
    html! { p.result.ok role="status" { (frame.t(Text::Resent)) " " code { (text(body, "deliveryId")) } } }
}

/// The answer of a rotation: the secret, this once.
pub fn rotated(frame: &Frame<'_>, status: u16, body: &Value) -> Markup {
    if status != 200 {
        return problem(frame, status, body);
    }
    html! {
        div.result.ok role="status" {
            p { (frame.t(Text::SecretOnce)) }
            pre.secret #new-secret { (text(body, "secret")) }
            @if let Some(until) = body["previousSecretValidUntil"].as_str() {
                p { (frame.t(Text::PreviousSecretUntil)) " " (time(frame.locale, until)) }
            }
        }
    }
}

/// A page with only the result of an action, for browsers without scripts.
pub fn action_page(frame: &Frame<'_>, webhook_id: &str, result: Markup) -> Markup {
    let content = html! {
        (result)
        p { a href=(frame.href(&format!("/webhooks/{webhook_id}"))) { "← " (frame.t(Text::Back)) } }
    };
    frame.page(Section::Webhooks, frame.t(Text::Webhook), content)
}
