//! A create or PUT body checked field by field into the store's [`WebhookSpec`]: every
//! error names its field, nothing is written before the whole body passed. Pure apart from
//! the component reference, which the caller resolves in its own scope.

use super::wire::{LimitsIn, TransformIn, WebhookIn};
use crate::api::problem::Problem;
use crate::events::EventType;
use crate::sandbox::{Egress, Limits, SandboxConfig};
use crate::store::{Handler, RateLimit, RetryPolicy, WebhookSpec};
use crate::vocab::{Module, MptType, ObjectType, WebhookStatus};
use serde_json::Value;
use std::collections::BTreeMap;

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
/// The largest `rateLimit` (calls per second or per minute).
const MAX_RATE: u64 = 1_000_000;
/// The smallest memory a component can run in: one wasm page.
const MIN_MEMORY_BYTES: u64 = 64 << 10;

/// What the checks apply of the operator's settings.
pub(super) struct Rules<'a> {
    /// `outbound.allow_insecure`: `http://` URLs are accepted.
    pub(super) allow_insecure: bool,
    /// The sandbox's defaults and ceilings, for `limits`.
    pub(super) sandbox: &'a SandboxConfig,
    /// The egress guard, for `allowedHosts`.
    pub(super) egress: &'a Egress,
}

/// The word `value` spells, ignoring case (`parse` is a vocabulary parser); refused naming
/// `field` and the words it may be.
fn word<T>(
    field: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, crate::vocab::Unknown>,
) -> Result<T, Problem> {
    parse(value).map_err(|unknown| Problem::invalid(field, unknown.to_string()))
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
fn component_reference(value: &Value, field: &str) -> Result<String, Problem> {
    let reference = match value {
        Value::String(reference) => reference.clone(),
        Value::Object(object) => {
            if let Some(unknown) = object
                .keys()
                .find(|k| !["id", "name", "version", "digest"].contains(&k.as_str()))
            {
                return Err(Problem::invalid(
                    field,
                    format!("unknown field `{unknown}`, expected id, name, version or digest"),
                ));
            }
            let text = |key: &str| -> Result<Option<&str>, Problem> {
                match object.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.as_str())),
                    Some(_) => Err(Problem::invalid(
                        &format!("{field}.{key}"),
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
                        field,
                        "give id, digest, or name and version",
                    ));
                }
            }
        }
        _ => {
            return Err(Problem::invalid(
                field,
                "must be a reference (name@version, sha256:<digest> or CMP-… id) or an object",
            ));
        }
    };
    if reference.is_empty() || reference.len() > 200 {
        return Err(Problem::invalid(field, "must be 1-200 characters"));
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

/// Turns a request body into the store's [`WebhookSpec`], checking every field under
/// `rules`. `resolve` finds a component reference among the caller's components: its id, or
/// `None` when there is none. Reads only: nothing is written before this succeeds.
pub(super) async fn spec_from<F>(
    input: WebhookIn,
    rules: &Rules<'_>,
    resolve: impl Fn(String) -> F,
) -> Result<WebhookSpec, Problem>
where
    F: Future<Output = Result<Option<String>, Problem>>,
{
    let description = input.description.unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Problem::invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }

    let enabled = match input.status.as_deref() {
        None => true,
        Some(status) => word("status", status, WebhookStatus::parse_ignoring_case)?.is_enabled(),
    };
    let kind = input
        .kind
        .as_deref()
        .map(|k| word("type", k, MptType::parse_ignoring_case))
        .transpose()?;
    // A typed webhook always names its object type (the seed's `objectType` is an enum):
    // the type's own when the body gives none.
    let object_type = input
        .object_type
        .as_deref()
        .map(|o| word("objectType", o, ObjectType::parse_ignoring_case))
        .transpose()?
        .or(kind.map(MptType::object_type))
        .map(|o| o.to_string());
    let kind = kind.map(|k| k.to_string());

    let service_id = match (input.service.map(|s| s.id), input.service_id) {
        (Some(a), Some(b)) if a != b => {
            return Err(Problem::invalid(
                "service.id",
                format!("service.id {a:?} and serviceId {b:?} differ; give one"),
            ));
        }
        (a, b) => a.or(b),
    };
    // Without a service the webhook belongs to its owner as a whole (an MPT vendor's
    // webhook): the seed's object has no service field.
    if service_id.as_ref().is_some_and(|id| id.trim().is_empty()) {
        return Err(Problem::invalid(
            "service.id",
            "must not be empty: give the service the webhook belongs to, or leave it out",
        ));
    }

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
        (Some(url), None) => Handler::Url(check_url("url", &url, rules.allow_insecure)?),
        (None, Some(component)) => {
            let reference = component_reference(&component, "handler.component")?;
            match resolve(reference.clone()).await? {
                Some(id) => Handler::Component(id),
                None => {
                    return Err(Problem::invalid(
                        "handler.component",
                        format!(
                            "no component {reference:?} among yours (give name@version, sha256:<digest> or a CMP-… id)"
                        ),
                    ));
                }
            }
        }
    };
    let is_component = matches!(handler, Handler::Component(_));

    let transform = match input.transform {
        None => None,
        Some(_) if is_component => {
            return Err(Problem::invalid(
                "transform",
                "only a URL webhook's requests are transformed; a component handler shapes \
                 its own answers",
            ));
        }
        Some(TransformIn { component }) => {
            let reference = component_reference(&component, "transform.component")?;
            match resolve(reference.clone()).await? {
                Some(id) => Some(id),
                None => {
                    return Err(Problem::invalid(
                        "transform.component",
                        format!(
                            "no component {reference:?} among yours (give name@version, sha256:<digest> or a CMP-… id)"
                        ),
                    ));
                }
            }
        }
    };

    let mut modules: Vec<String> = Vec::new();
    for module in input.modules.unwrap_or_default() {
        let module = word("modules", &module, Module::parse_ignoring_case)?.to_string();
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
        Some(requested) => Some(limits_from(rules.sandbox, requested)?),
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
        let host = rules
            .egress
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

    let event_types = match input.event_types {
        None => None,
        Some(names) if names.is_empty() => {
            return Err(Problem::invalid(
                "eventTypes",
                "must name at least one event type (leave it out to receive every event)",
            ));
        }
        Some(names) => {
            let mut types = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let field = format!("eventTypes[{i}]");
                let event_type = word(&field, name, EventType::parse)?;
                if matches!(event_type, EventType::Operational(_))
                    && !matches!(handler, Handler::Url(_))
                {
                    return Err(Problem::invalid(
                        &field,
                        format!("{event_type}: operational events go to URL handlers only"),
                    ));
                }
                if !types.contains(&event_type) {
                    types.push(event_type);
                }
            }
            Some(types)
        }
    };

    let rate_limit = match input.rate_limit {
        None => None,
        Some(limit) => {
            let (limit, field) = match (limit.per_second, limit.per_minute) {
                (Some(n), None) => (RateLimit::PerSecond(n), "rateLimit.perSecond"),
                (None, Some(n)) => (RateLimit::PerMinute(n), "rateLimit.perMinute"),
                _ => {
                    return Err(Problem::invalid(
                        "rateLimit",
                        "must name exactly one of perSecond and perMinute",
                    ));
                }
            };
            if !(1..=MAX_RATE).contains(&limit.calls()) {
                return Err(Problem::invalid(field, format!("must be 1 to {MAX_RATE}")));
            }
            Some(limit)
        }
    };

    let fifo = match input.ordering.as_deref() {
        None => false,
        Some(order) if order.eq_ignore_ascii_case("fifo") => true,
        Some(order) => {
            return Err(Problem::invalid(
                "ordering",
                format!("{order:?} is not fifo (leave it out for no order)"),
            ));
        }
    };

    Ok(WebhookSpec {
        service_id,
        description,
        enabled,
        kind,
        object_type,
        handler,
        transform,
        modules,
        extension,
        criteria,
        limits,
        allowed_hosts,
        retry_policy,
        event_types,
        rate_limit,
        fifo,
    })
}

/// The operator's defaults with the requested values, refused above the ceilings (clamping
/// silently would run the webhook with less than its author asked for).
fn limits_from(sandbox: &SandboxConfig, requested: LimitsIn) -> Result<Limits, Problem> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::EgressConfig;
    use axum::http::StatusCode;
    use serde_json::json;

    /// Checks `body` under the default settings; `echo@1.0.0` is the caller's one component.
    fn check(body: Value) -> Result<WebhookSpec, Problem> {
        let sandbox = SandboxConfig::default();
        let egress = Egress::new(EgressConfig::default()).unwrap();
        let rules = Rules {
            allow_insecure: false,
            sandbox: &sandbox,
            egress: &egress,
        };
        let input: WebhookIn = serde_json::from_value(body).expect("a well-formed body");
        let resolve = |reference: String| async move {
            Ok((reference == "echo@1.0.0").then(|| "CMP-1".into()))
        };
        block_on(spec_from(input, &rules, resolve))
    }

    /// Runs a future that never waits (the checks only await `resolve`, which is ready).
    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    /// The one field a refusal names, and its message.
    fn refusal(body: Value) -> (String, String) {
        let problem = check(body).expect_err("refused");
        assert_eq!(problem.status, StatusCode::BAD_REQUEST);
        assert_eq!(problem.errors.len(), 1, "{:?}", problem.errors);
        let (field, messages) = problem.errors.into_iter().next().unwrap();
        (field, messages.join("; "))
    }

    #[test]
    fn a_url_webhook_reads_with_defaults_and_canonical_spellings() {
        let spec = check(json!({
            "service": {"id": "SVC-1"},
            "url": "https://hooks.example.com/in",
            "type": "VALIDATEREQUEST",
            "objectType": "request",
            "modules": ["Estate", "estate", "address"],
            "criteria": {"product.id": "PRD-1"},
        }))
        .unwrap();
        assert_eq!(spec.service_id.as_deref(), Some("SVC-1"));
        assert!(spec.enabled);
        assert_eq!(spec.kind.as_deref(), Some("validateRequest"));
        assert_eq!(spec.object_type.as_deref(), Some("Request"));
        assert_eq!(spec.modules, ["estate", "address"]);
        assert_eq!(
            spec.handler,
            Handler::Url("https://hooks.example.com/in".into())
        );
        assert_eq!(spec.criteria["product.id"], "PRD-1");
        assert_eq!((spec.limits, spec.retry_policy), (None, None));
    }

    #[test]
    fn the_seeds_webhook_object_alone_is_enough() {
        let spec = check(json!({
            "url": "https://hooks.example.com/in",
            "type": "validatePurchaseOrderDraft",
            "description": "Checks drafts",
            "criteria": {"product.id": "PRD-1"},
        }))
        .unwrap();
        assert_eq!(spec.service_id, None, "it belongs to its owner as a whole");
        assert_eq!(spec.kind.as_deref(), Some("validatePurchaseOrderDraft"));
    }

    #[test]
    fn a_component_webhook_resolves_its_reference_and_takes_limits_and_hosts() {
        let spec = check(json!({
            "serviceId": "SVC-1",
            "status": "Disabled",
            "handler": {"component": "echo@1.0.0"},
            "limits": {"timeoutMs": 500},
            "allowedHosts": ["api.example.com", "api.example.com"],
            "retryPolicy": {"scheduleSeconds": [1, 60]},
        }))
        .unwrap();
        assert!(!spec.enabled);
        assert_eq!(spec.handler, Handler::Component("CMP-1".into()));
        let limits = spec.limits.unwrap();
        assert_eq!(limits.timeout_ms, 500);
        assert_eq!(
            limits.memory_bytes,
            SandboxConfig::default().defaults.memory_bytes
        );
        assert_eq!(spec.allowed_hosts.len(), 1, "{:?}", spec.allowed_hosts);
        assert_eq!(spec.retry_policy.unwrap().schedule_seconds, [1, 60]);
    }

    #[test]
    fn every_refusal_names_its_field() {
        let url = "https://hooks.example.com/in";
        let cases = [
            (
                json!({"serviceId": " ", "url": url}),
                "service.id",
                "must not be empty",
            ),
            (
                json!({"service": {"id": "SVC-1"}, "serviceId": "SVC-2", "url": url}),
                "service.id",
                "differ",
            ),
            (json!({"serviceId": "SVC-1"}), "url", "is required"),
            (
                json!({"serviceId": "SVC-1", "url": url, "handler": {"component": "echo@1.0.0"}}),
                "handler",
                "not both",
            ),
            (
                json!({"serviceId": "SVC-1", "handler": {"component": "other@1.0.0"}}),
                "handler.component",
                "no component \"other@1.0.0\" among yours",
            ),
            (
                json!({"serviceId": "SVC-1", "url": "http://hooks.example.com/"}),
                "url",
                "https://",
            ),
            (
                json!({"serviceId": "SVC-1", "url": url, "type": "validateOrder"}),
                "type",
                "is not one of validatePurchaseOrderDraft",
            ),
            (
                json!({"serviceId": "SVC-1", "url": url, "status": "paused"}),
                "status",
                "\"paused\" is not one of enabled, disabled",
            ),
            (
                json!({"serviceId": "SVC-1", "url": url, "modules": ["contacts"]}),
                "modules",
                "is not one of estate, address, task, calendar",
            ),
            (
                json!({"serviceId": "SVC-1", "url": url, "extension": "a b"}),
                "extension",
                "must be 1-100 characters",
            ),
            (
                json!({"serviceId": "SVC-1", "url": url, "criteria": {"product id": "x"}}),
                "criteria",
                "not a dotted path",
            ),
            (
                json!({"serviceId": "SVC-1", "url": url, "criteria": {"product.id": 1}}),
                "criteria.product.id",
                "must be a string",
            ),
            (
                json!({"serviceId": "SVC-1", "url": url, "limits": {"timeoutMs": 5}}),
                "limits",
                "a url handler has no limits",
            ),
            (
                json!({"serviceId": "SVC-1", "url": url, "allowedHosts": ["api.example.com"]}),
                "allowedHosts",
                "a url handler has no allowlist",
            ),
            (
                json!({"serviceId": "SVC-1", "handler": {"component": "echo@1.0.0"},
                       "allowedHosts": ["127.0.0.1"]}),
                "allowedHosts[0]",
                "",
            ),
            (
                json!({"serviceId": "SVC-1", "handler": {"component": "echo@1.0.0"},
                       "allowedHosts": ["API.example.com"]}),
                "allowedHosts[0]",
                "must be lowercase",
            ),
            (
                json!({"serviceId": "SVC-1", "handler": {"component": "echo@1.0.0"},
                       "limits": {"timeoutMs": 0}}),
                "limits.timeoutMs",
                "at least 1",
            ),
            (
                json!({"serviceId": "SVC-1", "handler": {"component": "echo@1.0.0"},
                       "limits": {"memoryBytes": 1024}}),
                "limits.memoryBytes",
                "one wasm page",
            ),
            (
                json!({"serviceId": "SVC-1", "handler": {"component": "echo@1.0.0"},
                       "limits": {"timeoutMs": 10_000_000}}),
                "limits.timeoutMs",
                "above the operator's ceiling",
            ),
            (
                json!({"serviceId": "SVC-1", "url": url, "retryPolicy": {"scheduleSeconds": []}}),
                "retryPolicy.scheduleSeconds",
                "1 to 20 entries",
            ),
            (
                json!({"serviceId": "SVC-1", "url": url,
                       "retryPolicy": {"scheduleSeconds": [0]}}),
                "retryPolicy.scheduleSeconds",
                "outside 1..=604800",
            ),
        ];
        for (body, field, message) in cases {
            let (got_field, got_message) = refusal(body.clone());
            assert_eq!(got_field, field, "{body}: {got_message}");
            assert!(got_message.contains(message), "{body}: {got_message}");
        }
    }

    #[test]
    fn long_texts_and_many_entries_are_refused() {
        let url = "https://hooks.example.com/in";
        let (field, _) = refusal(json!({
            "serviceId": "SVC-1", "url": url, "description": "x".repeat(MAX_DESCRIPTION_CHARS + 1),
        }));
        assert_eq!(field, "description");
        let criteria: serde_json::Map<String, Value> = (0..=MAX_CRITERIA)
            .map(|i| (format!("k{i}"), json!("v")))
            .collect();
        let (field, _) = refusal(json!({"serviceId": "SVC-1", "url": url, "criteria": criteria}));
        assert_eq!(field, "criteria");
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_BYTES));
        let (field, _) = refusal(json!({"serviceId": "SVC-1", "url": long}));
        assert_eq!(field, "url");
    }

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
    fn enum_values_are_matched_ignoring_case_and_emitted_canonically() {
        assert_eq!(
            word(
                "type",
                "ValidatePurchaseOrderDraft",
                MptType::parse_ignoring_case
            )
            .unwrap(),
            MptType::ValidatePurchaseOrderDraft
        );
        assert_eq!(
            word("objectType", "order", ObjectType::parse_ignoring_case).unwrap(),
            ObjectType::Order
        );
        let refused = word("objectType", "Orders", ObjectType::parse_ignoring_case).unwrap_err();
        assert_eq!(
            refused.errors["objectType"],
            vec![r#""Orders" is not one of Order, Request, Account"#.to_owned()]
        );
    }
}
