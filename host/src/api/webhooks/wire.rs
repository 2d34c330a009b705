//! The registry's JSON shapes: the MPT Webhook object with our extensions as answered, and
//! the bodies of create and PUT. Nothing but serde here: checks live in [`super::input`].

use super::MASKED_SECRET;
use crate::events::EventType;
use crate::store::{
    Call, ComponentRecord, Handler, RateLimit, RetryPolicy, Scope, Statistics, Webhook,
};
use crate::time::format_ms;
use crate::vocab::{CircuitState, WebhookStatus};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

// ---------------------------------------------------------------------------------------------
// Output

/// `{"at": "…"}`, the shape of every audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct At {
    pub(super) at: String,
}

impl At {
    fn from_ms(ms: i64) -> Self {
        At { at: format_ms(ms) }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Audit {
    pub(super) created: At,
    pub(super) updated: At,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) enabled: Option<At>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) disabled: Option<At>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ServiceOut {
    pub(super) id: String,
}

/// A component handler as shown: the id always, the rest when the component is still there.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ComponentOut {
    pub(super) id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) digest: Option<String>,
}

/// `{"component": {…}}`: a URL webhook's transform.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TransformOut {
    pub(super) component: ComponentOut,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) enum HandlerOut {
    Url(String),
    Component(ComponentOut),
}

/// The part of [`Limits`] a webhook chooses; the payload/output/log caps are the operator's.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct LimitsOut {
    pub(super) timeout_ms: u64,
    pub(super) memory_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) fuel: Option<u64>,
}

/// A webhook's circuit breaker: `closed` (deliveries run), `open` (a run of failures paused
/// them until the next probe call), `probing` (the probe call is being made).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CircuitOut {
    pub(super) state: CircuitState,
    /// When it opened (the start of the failing period).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) opened_at: Option<String>,
    /// When the next probe call may run (open), or until when the probe in flight holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) next_probe_at: Option<String>,
}

/// The webhook object, fields in the seed's order, then our extensions.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Webhook)]
#[serde(rename_all = "camelCase")]
pub(super) struct WebhookOut {
    pub(super) id: String,
    pub(super) href: String,
    pub(super) description: String,
    pub(super) status: WebhookStatus,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(super) kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) object_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) url: Option<String>,
    pub(super) criteria: BTreeMap<String, String>,
    pub(super) statistics: Statistics,
    pub(super) last_success: Option<Call>,
    pub(super) last_failure: Option<Call>,
    pub(super) last_call: Option<Call>,
    pub(super) secret: String,
    pub(super) audit: Audit,
    /// `null` when the webhook belongs to its owner as a whole.
    pub(super) service: Option<ServiceOut>,
    pub(super) handler: HandlerOut,
    /// The component that transforms a URL webhook's requests before they are signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) transform: Option<TransformOut>,
    pub(super) modules: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) extension: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) limits: Option<LimitsOut>,
    pub(super) allowed_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) retry_policy: Option<RetryPolicy>,
    /// The event types it receives (`GET /public/v1/event-types`); absent: every event its
    /// modules, type or extension bring it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub(super) event_types: Option<Vec<EventType>>,
    pub(super) circuit: CircuitOut,
    /// `{"perSecond": n}` or `{"perMinute": n}`: at most this many calls, across every
    /// instance; above it deliveries wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RateLimitIn>)]
    pub(super) rate_limit: Option<RateLimit>,
    /// Until when the receiver's 429 lowered the rate (divided by `rateDivisor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) rate_lowered_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) rate_divisor: Option<i64>,
    /// `fifo`: one record's deliveries arrive in the order they were planned; a failing one
    /// holds back only that record's later ones. Absent: no order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ordering: Option<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Pagination {
    pub(super) offset: i64,
    pub(super) limit: i64,
    pub(super) total: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Meta {
    pub(super) pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookPage)]
pub(super) struct PageOut {
    #[serde(rename = "$meta")]
    pub(super) meta: Meta,
    pub(super) data: Vec<WebhookOut>,
}

/// A component reference as shown: the id always, the rest when the component is still there.
fn component_out(id: String, component: Option<&ComponentRecord>) -> ComponentOut {
    ComponentOut {
        id,
        name: component.map(|c| c.name.clone()),
        version: component.map(|c| c.version.clone()),
        digest: component.map(|c| format!("sha256:{}", c.digest)),
    }
}

/// Renders `webhook` for `viewer`; `component` is the record of its handler's or its
/// transform's component (a webhook has one or the other); `secret` is the plaintext on
/// create only.
pub(super) fn render(
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
        Handler::Component(id) => (None, HandlerOut::Component(component_out(id, component))),
    };
    let transform = webhook.transform.map(|id| TransformOut {
        component: component_out(id, component),
    });
    WebhookOut {
        href: format!("/notifications/webhooks/{}", webhook.id),
        id: webhook.id,
        description: webhook.description,
        status: WebhookStatus::of(webhook.enabled),
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
        service: webhook.service_id.map(|id| ServiceOut { id }),
        handler,
        transform,
        modules: webhook.modules,
        extension: webhook.extension,
        limits: webhook.limits.map(|l| LimitsOut {
            timeout_ms: l.timeout_ms,
            memory_bytes: l.memory_bytes,
            fuel: l.fuel,
        }),
        allowed_hosts: webhook.allowed_hosts,
        retry_policy: webhook.retry_policy,
        event_types: webhook.event_types,
        circuit: CircuitOut {
            state: webhook.circuit.state,
            opened_at: webhook.circuit.opened_at.map(format_ms),
            next_probe_at: webhook.circuit.probe_at.map(format_ms),
        },
        rate_limit: webhook.rate_limit,
        rate_lowered_until: webhook.rate_lowered.map(|(_, until)| format_ms(until)),
        rate_divisor: webhook.rate_lowered.map(|(divisor, _)| divisor),
        ordering: webhook.fifo.then_some("fifo"),
    }
}

// ---------------------------------------------------------------------------------------------
// Input

/// `{"id": "SVC-…"}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ServiceIn {
    pub(super) id: String,
}

/// `{"url": …}` or `{"component": …}`; the component is a reference string or the object a
/// GET returned (parsed by hand for errors that name the field).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct HandlerIn {
    pub(super) url: Option<String>,
    #[schema(value_type = Option<serde_json::Value>)]
    pub(super) component: Option<Value>,
}

/// `{"component": …}`: a URL webhook's transform.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TransformIn {
    #[schema(value_type = serde_json::Value)]
    pub(super) component: Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct LimitsIn {
    pub(super) timeout_ms: Option<u64>,
    pub(super) memory_bytes: Option<u64>,
    pub(super) fuel: Option<u64>,
}

/// Exactly one of the two.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RateLimitIn {
    pub(super) per_second: Option<u64>,
    pub(super) per_minute: Option<u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RetryPolicyIn {
    pub(super) schedule_seconds: Vec<u64>,
}

/// The body of create and PUT. Enum-like fields are strings here so that their errors name
/// the field and list the allowed values (and so that any casing is accepted).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = WebhookInput)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct WebhookIn {
    pub(super) description: Option<String>,
    pub(super) status: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    pub(super) object_type: Option<String>,
    pub(super) url: Option<String>,
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub(super) criteria: Option<BTreeMap<String, Value>>,
    pub(super) service: Option<ServiceIn>,
    pub(super) service_id: Option<String>,
    pub(super) handler: Option<HandlerIn>,
    /// `{"component": "name@version"}` (or a `sha256:…` digest, a `CMP-…` id, the object a
    /// GET returned); `null` or absent: none.
    pub(super) transform: Option<TransformIn>,
    pub(super) modules: Option<Vec<String>>,
    pub(super) extension: Option<String>,
    pub(super) limits: Option<LimitsIn>,
    pub(super) allowed_hosts: Option<Vec<String>>,
    pub(super) retry_policy: Option<RetryPolicyIn>,
    /// Names from the event-type catalogue (`GET /public/v1/event-types`), any case; at least
    /// one. Leave it out to receive every event.
    pub(super) event_types: Option<Vec<String>>,
    pub(super) rate_limit: Option<RateLimitIn>,
    /// `fifo` (any case), or absent.
    pub(super) ordering: Option<String>,
    /// Checked against the mask (or the webhook's own secret), never stored.
    pub(super) secret: Option<String>,
    // Read-only: accepted so that a GET answer can be PUT back, and ignored.
    #[serde(rename = "id")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub(super) _id: Option<IgnoredAny>,
    #[serde(rename = "href")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub(super) _href: Option<IgnoredAny>,
    #[serde(rename = "statistics")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub(super) _statistics: Option<IgnoredAny>,
    #[serde(rename = "lastSuccess")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub(super) _last_success: Option<IgnoredAny>,
    #[serde(rename = "lastFailure")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub(super) _last_failure: Option<IgnoredAny>,
    #[serde(rename = "lastCall")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub(super) _last_call: Option<IgnoredAny>,
    #[serde(rename = "audit")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub(super) _audit: Option<IgnoredAny>,
    #[serde(rename = "circuit")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub(super) _circuit: Option<IgnoredAny>,
    #[serde(rename = "rateLoweredUntil")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub(super) _rate_lowered_until: Option<IgnoredAny>,
    #[serde(rename = "rateDivisor")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub(super) _rate_divisor: Option<IgnoredAny>,
}
