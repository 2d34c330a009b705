//! Webhooks: the MPT object with our extensions, its statistics and last calls.

use super::RateLimit;
use super::{Result, Scope, Store, StoreError, new_id};
use crate::crypto::{MasterKey, new_webhook_secret};
use crate::events::EventType;
use crate::sandbox::Limits;
use crate::time::now_ms;
use crate::vocab::{CircuitState, WebhookStatus};
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

/// What handles a webhook's calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Handler {
    /// A remote HTTPS endpoint.
    Url(String),
    /// An uploaded component, by id.
    Component(String),
}

/// Retry schedule of a webhook (delays in seconds between attempts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Delay before each retry, in seconds; the number of entries is the number of retries.
    pub schedule_seconds: Vec<u64>,
}

/// The MPT Call object: one call of a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// Whether it succeeded.
    pub success: bool,
    /// When it started (RFC 3339).
    pub call_time: String,
    /// When the answer arrived (RFC 3339), if one did.
    pub response_time: Option<String>,
    /// Response headers, as text.
    pub headers: String,
    /// Why it failed (empty on success).
    pub error: String,
    /// The response body, truncated.
    pub response: String,
    /// The HTTP reason phrase (or the failure kind of a component call).
    pub reason_phrase: String,
    /// The HTTP status code (components: 200 on success, 0 when they failed; 0 when
    /// skipped).
    pub http_status_code: u16,
    /// Why nothing was sent: the webhook's transform dropped the request (a skipped call
    /// counts as a success, not a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Statistics of a webhook's calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statistics {
    /// Calls made.
    pub total: i64,
    /// Calls that succeeded.
    pub successes: i64,
    /// Calls that failed.
    pub failures: i64,
    /// Failures since the last success.
    pub failures_since_last_success: i64,
}

/// A webhook's circuit breaker (see `delivery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Circuit {
    /// Closed (deliveries run), open (paused until the next probe) or probing.
    pub state: CircuitState,
    /// When it opened: the start of the failing period, Unix ms.
    pub opened_at: Option<i64>,
    /// Open: when the next probe may run; probing: until when the probe in flight holds it.
    pub probe_at: Option<i64>,
    /// The interval between probes now, in ms.
    pub interval_ms: Option<i64>,
}

impl Circuit {
    /// A closed circuit.
    pub const CLOSED: Circuit = Circuit {
        state: CircuitState::Closed,
        opened_at: None,
        probe_at: None,
        interval_ms: None,
    };
}

/// A stored webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// `WBH-…`
    pub id: String,
    /// Who owns it.
    pub owner: Scope,
    /// The service it belongs to; `None`: to its owner as a whole (a provider's webhook is
    /// then reached by every tenant that activated any of the provider's services).
    pub service_id: Option<String>,
    /// Free text.
    pub description: String,
    /// Enabled webhooks are called.
    pub enabled: bool,
    /// MPT type (`validatePurchaseOrderDraft`, …), if it is an MPT webhook.
    pub kind: Option<String>,
    /// MPT object type (`Order`, `Request`, `Account`).
    pub object_type: Option<String>,
    /// What handles calls.
    pub handler: Handler,
    /// The component (`CMP-…`) that transforms a URL handler's requests before they are
    /// signed and sent (since `marketplace:webhook@0.2.0`).
    pub transform: Option<String>,
    /// smartml modules it listens to.
    pub modules: Vec<String>,
    /// Ivanti endpoint extension (case-sensitive).
    pub extension: Option<String>,
    /// Key/value pairs (dotted paths) the payload must contain.
    pub criteria: BTreeMap<String, String>,
    /// Limits for component handlers (clamped to the operator's ceilings at call time).
    pub limits: Option<Limits>,
    /// Hosts a component handler may reach.
    pub allowed_hosts: Vec<String>,
    /// Retry schedule, when not the default.
    pub retry_policy: Option<RetryPolicy>,
    /// The event types it subscribes to; `None`: every event its modules, type or extension
    /// bring it.
    pub event_types: Option<Vec<EventType>>,
    /// Its circuit breaker, shared by every instance.
    pub circuit: Circuit,
    /// How many calls it may receive (`None`: the operator's default, if any).
    pub rate_limit: Option<RateLimit>,
    /// While its receiver asked to slow down (429): the rate is divided by `.0` until `.1`.
    pub rate_lowered: Option<(i64, i64)>,
    /// It receives the deliveries of one record in the order they were planned.
    pub fifo: bool,
    /// Optimistic-concurrency revision: bumped by every change.
    pub revision: i64,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
    /// Last enabled, Unix ms.
    pub enabled_at: Option<i64>,
    /// Last disabled, Unix ms.
    pub disabled_at: Option<i64>,
    /// Call statistics.
    pub statistics: Statistics,
    /// Last successful call.
    pub last_success: Option<Call>,
    /// Last failed call.
    pub last_failure: Option<Call>,
    /// Last call.
    pub last_call: Option<Call>,
}

impl Webhook {
    /// What a component handler's key-value store is scoped to beside the tenant: the
    /// webhook's service, or its owner when it belongs to none (ids of both kinds are
    /// prefixed, so they never meet).
    pub fn kv_scope(&self) -> &str {
        self.service_id.as_deref().unwrap_or(self.owner.id())
    }

    /// Whether it receives events of `event_type` (its `eventTypes`, when it has any).
    pub fn subscribes_to(&self, event_type: EventType) -> bool {
        self.event_types
            .as_ref()
            .is_none_or(|types| types.contains(&event_type))
    }
}

/// The writable part of a webhook (create and update).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSpec {
    /// The service it belongs to; `None`: to its owner as a whole.
    pub service_id: Option<String>,
    /// Free text.
    pub description: String,
    /// Enabled or not.
    pub enabled: bool,
    /// MPT type.
    pub kind: Option<String>,
    /// MPT object type.
    pub object_type: Option<String>,
    /// What handles calls.
    pub handler: Handler,
    /// The component that transforms a URL handler's requests.
    pub transform: Option<String>,
    /// smartml modules.
    pub modules: Vec<String>,
    /// Ivanti extension.
    pub extension: Option<String>,
    /// Criteria.
    pub criteria: BTreeMap<String, String>,
    /// Limits.
    pub limits: Option<Limits>,
    /// Outbound allowlist of component handlers.
    pub allowed_hosts: Vec<String>,
    /// Retry schedule.
    pub retry_policy: Option<RetryPolicy>,
    /// The event types it subscribes to (`None`: all).
    pub event_types: Option<Vec<EventType>>,
    /// How many calls it may receive (`None`: the operator's default, if any).
    pub rate_limit: Option<RateLimit>,
    /// Receiving one record's deliveries in the order they were planned.
    pub fifo: bool,
}

/// Building a spec in code (seeds, tests): start from [`WebhookSpec::new`] and name only what
/// differs from the defaults, e.g.
/// `WebhookSpec::new(service, handler).modules(["estate"]).retry_schedule([1, 1])`.
impl WebhookSpec {
    /// An enabled webhook of `service_id` handled by `handler`, with everything else unset:
    /// no description, MPT type or object type, smartml modules, Ivanti extension, criteria,
    /// own limits, outbound hosts or retry schedule of its own. Without modules or an
    /// extension nothing triggers it but a test call or a process step.
    pub fn new(service_id: impl Into<String>, handler: Handler) -> Self {
        Self::of_owner(handler).service(service_id)
    }

    /// An enabled webhook of its owner as a whole (no service) handled by `handler`, with
    /// everything else unset.
    pub fn of_owner(handler: Handler) -> Self {
        WebhookSpec {
            service_id: None,
            description: String::new(),
            enabled: true,
            kind: None,
            object_type: None,
            handler,
            transform: None,
            modules: Vec::new(),
            extension: None,
            criteria: BTreeMap::new(),
            limits: None,
            allowed_hosts: Vec::new(),
            retry_policy: None,
            event_types: None,
            rate_limit: None,
            fifo: false,
        }
    }

    /// Of this service.
    pub fn service(mut self, service_id: impl Into<String>) -> Self {
        self.service_id = Some(service_id.into());
        self
    }

    /// With this free-text description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Registered disabled: it is kept (and can be test-called) but never triggered.
    pub fn disabled(mut self) -> Self {
        self.enabled = false;
        self
    }

    /// With this MPT type (`validatePurchaseOrderDraft`, …).
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// With this MPT object type (`Order`, `Request`, `Account`).
    pub fn object_type(mut self, object_type: impl Into<String>) -> Self {
        self.object_type = Some(object_type.into());
        self
    }

    /// A URL handler's requests go through this transform component (`CMP-…`) first.
    pub fn transform(mut self, component_id: impl Into<String>) -> Self {
        self.transform = Some(component_id.into());
        self
    }

    /// Listening to these smartml modules (replacing any set before).
    pub fn modules<M: Into<String>>(mut self, modules: impl IntoIterator<Item = M>) -> Self {
        self.modules = modules.into_iter().map(Into::into).collect();
        self
    }

    /// Reachable at this Ivanti endpoint extension.
    pub fn extension(mut self, extension: impl Into<String>) -> Self {
        self.extension = Some(extension.into());
        self
    }

    /// Called only for payloads holding these (dotted path, value) pairs (added to any set
    /// before).
    pub fn criteria<K: Into<String>, V: Into<String>>(
        mut self,
        criteria: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.criteria
            .extend(criteria.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// A component handler runs under these limits (clamped to the operator's ceilings).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// A component handler may reach these hosts (replacing any set before).
    pub fn allowed_hosts<H: Into<String>>(mut self, hosts: impl IntoIterator<Item = H>) -> Self {
        self.allowed_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Receiving one record's deliveries in the order they were planned.
    pub fn fifo(mut self) -> Self {
        self.fifo = true;
        self
    }

    /// Receiving at most this many calls.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// Receiving only events of these types.
    pub fn event_types(mut self, types: impl IntoIterator<Item = EventType>) -> Self {
        self.event_types = Some(types.into_iter().collect());
        self
    }

    /// Retried after these delays, in seconds, instead of the default schedule; `[]` never
    /// retries.
    pub fn retry_schedule(mut self, schedule_seconds: impl Into<Vec<u64>>) -> Self {
        self.retry_policy = Some(RetryPolicy {
            schedule_seconds: schedule_seconds.into(),
        });
        self
    }
}

const COLUMNS: &str = "id, owner_kind, owner_id, service_id, description, status, type, object_type, \
    url, component_id, transform_component_id, modules, extension, criteria, limits, allowed_hosts, \
    retry_policy, event_types, circuit_state, circuit_opened_at, circuit_probe_at, circuit_interval_ms, \
    rate_limit, rate_divisor, rate_lowered_until, ordering, revision, created_at, updated_at, enabled_at, \
    disabled_at, stat_total, stat_successes, stat_failures, stat_failures_since, last_success, \
    last_failure, last_call";

/// [`COLUMNS`] qualified with the alias `w`, for queries that join.
pub(super) const COLUMNS_W: &str = "w.id, w.owner_kind, w.owner_id, w.service_id, w.description, \
    w.status, w.type, w.object_type, w.url, w.component_id, w.transform_component_id, w.modules, \
    w.extension, w.criteria, w.limits, w.allowed_hosts, w.retry_policy, w.event_types, \
    w.circuit_state, w.circuit_opened_at, w.circuit_probe_at, w.circuit_interval_ms, w.rate_limit, \
    w.rate_divisor, w.rate_lowered_until, w.ordering, w.revision, w.created_at, w.updated_at, \
    w.enabled_at, w.disabled_at, w.stat_total, w.stat_successes, w.stat_failures, \
    w.stat_failures_since, w.last_success, w.last_failure, w.last_call";

/// The statement that counts one call of webhook `$1` with Call object `$2`: increments are
/// done by the database, so concurrent writers (on any instance) lose nothing.
pub(super) fn record_call_sql(success: bool) -> &'static str {
    if success {
        "UPDATE webhooks SET stat_total = stat_total + 1, stat_successes = stat_successes + 1, \
         stat_failures_since = 0, last_success = $2, last_call = $2 WHERE id = $1"
    } else {
        "UPDATE webhooks SET stat_total = stat_total + 1, stat_failures = stat_failures + 1, \
         stat_failures_since = stat_failures_since + 1, last_failure = $2, last_call = $2 \
         WHERE id = $1"
    }
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializable")
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn parse_opt<T: serde::de::DeserializeOwned>(text: Option<String>) -> Result<Option<T>> {
    text.map(|t| parse(&t)).transpose()
}

pub(super) fn webhook_from_row(row: &sqlx::any::AnyRow) -> Result<Webhook> {
    let owner_id: String = row.try_get("owner_id")?;
    let owner = match row.try_get::<String, _>("owner_kind")?.as_str() {
        "provider" => Scope::Provider(owner_id),
        _ => Scope::Tenant(owner_id),
    };
    let handler = match (
        row.try_get::<Option<String>, _>("url")?,
        row.try_get::<Option<String>, _>("component_id")?,
    ) {
        (_, Some(component)) => Handler::Component(component),
        (Some(url), None) => Handler::Url(url),
        (None, None) => return Err(StoreError::Corrupt("webhook without handler".into())),
    };
    Ok(Webhook {
        id: row.try_get("id")?,
        owner,
        service_id: row.try_get("service_id")?,
        description: row.try_get("description")?,
        enabled: super::read_word(row, "status", WebhookStatus::parse)?.is_enabled(),
        kind: row.try_get("type")?,
        object_type: row.try_get("object_type")?,
        handler,
        transform: row.try_get("transform_component_id")?,
        modules: parse(&row.try_get::<String, _>("modules")?)?,
        extension: row.try_get("extension")?,
        criteria: parse(&row.try_get::<String, _>("criteria")?)?,
        limits: parse_opt(row.try_get("limits")?)?,
        allowed_hosts: parse(&row.try_get::<String, _>("allowed_hosts")?)?,
        retry_policy: parse_opt(row.try_get("retry_policy")?)?,
        event_types: parse_opt(row.try_get("event_types")?)?,
        circuit: Circuit {
            state: super::read_word(row, "circuit_state", CircuitState::parse)?,
            opened_at: row.try_get("circuit_opened_at")?,
            probe_at: row.try_get("circuit_probe_at")?,
            interval_ms: row.try_get("circuit_interval_ms")?,
        },
        rate_limit: parse_opt(row.try_get("rate_limit")?)?,
        rate_lowered: row
            .try_get::<Option<i64>, _>("rate_lowered_until")?
            .map(|until| Ok::<_, StoreError>((row.try_get("rate_divisor")?, until)))
            .transpose()?,
        fifo: row.try_get::<Option<String>, _>("ordering")?.as_deref() == Some("fifo"),
        revision: row.try_get("revision")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        enabled_at: row.try_get("enabled_at")?,
        disabled_at: row.try_get("disabled_at")?,
        statistics: Statistics {
            total: row.try_get("stat_total")?,
            successes: row.try_get("stat_successes")?,
            failures: row.try_get("stat_failures")?,
            failures_since_last_success: row.try_get("stat_failures_since")?,
        },
        last_success: parse_opt(row.try_get("last_success")?)?,
        last_failure: parse_opt(row.try_get("last_failure")?)?,
        last_call: parse_opt(row.try_get("last_call")?)?,
    })
}

/// SQL condition (on `webhooks`) for what `scope` may read; binds `$1`.
fn visible(scope: &Scope) -> &'static str {
    match scope {
        Scope::Provider(_) => "(owner_kind = 'provider' AND owner_id = $1)",
        Scope::Tenant(_) => {
            "((owner_kind = 'tenant' AND owner_id = $1) OR (owner_kind = 'provider' AND service_id IN \
             (SELECT service_id FROM activations WHERE tenant_id = $1)) OR (owner_kind = 'provider' \
             AND service_id IS NULL AND owner_id IN (SELECT s.provider_id FROM services s \
             JOIN activations a ON a.service_id = s.id WHERE a.tenant_id = $1)))"
        }
    }
}

/// SQL condition for what `scope` may change; binds `$1`.
fn owned(scope: &Scope) -> &'static str {
    match scope {
        Scope::Provider(_) => "(owner_kind = 'provider' AND owner_id = $1)",
        Scope::Tenant(_) => "(owner_kind = 'tenant' AND owner_id = $1)",
    }
}

fn url_and_component(handler: &Handler) -> (Option<&str>, Option<&str>) {
    match handler {
        Handler::Url(url) => (Some(url), None),
        Handler::Component(id) => (None, Some(id)),
    }
}

impl Store {
    /// The components a service's webhooks use, as handlers or transforms, each once, in id
    /// order: those that may check the service's activations.
    pub async fn service_components(&self, service_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT component_id AS id FROM webhooks \
             WHERE service_id = $1 AND component_id IS NOT NULL \
             UNION SELECT transform_component_id AS id FROM webhooks \
             WHERE service_id = $1 AND transform_component_id IS NOT NULL ORDER BY id",
        )
        .bind(service_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<String, _>("id")?))
            .collect()
    }

    /// Checks that `spec` refers to things `owner` may use; returns a conflict/forbidden error
    /// naming what is wrong.
    async fn check_spec(
        &self,
        owner: &Scope,
        spec: &WebhookSpec,
        except: Option<&str>,
    ) -> Result<()> {
        if let Some(service_id) = &spec.service_id {
            // Another owner's service reads exactly like one that does not exist.
            let not_yours = || {
                StoreError::Forbidden(format!(
                    "service {service_id} is not one of this {}'s services",
                    owner.kind()
                ))
            };
            let service = self.service(service_id).await.map_err(|e| match e {
                StoreError::NotFound => not_yours(),
                e => e,
            })?;
            let owns = match owner {
                Scope::Provider(id) => service.provider_id.as_deref() == Some(id),
                Scope::Tenant(id) => service.tenant_id.as_deref() == Some(id),
            };
            if !owns {
                return Err(not_yours());
            }
        }
        if let Handler::Component(id) = &spec.handler {
            self.component(owner, id).await.map_err(|e| match e {
                StoreError::NotFound => StoreError::Forbidden(format!("no component {id}")),
                e => e,
            })?;
        }
        if let Some(id) = &spec.transform {
            if !matches!(spec.handler, Handler::Url(_)) {
                return Err(StoreError::Forbidden(
                    "only a URL webhook has requests to transform".into(),
                ));
            }
            self.component(owner, id).await.map_err(|e| match e {
                StoreError::NotFound => StoreError::Forbidden(format!("no component {id}")),
                e => e,
            })?;
        }
        if let Some(extension) = &spec.extension {
            self.check_extension_unique(owner, spec.service_id.as_deref(), extension, except)
                .await?;
        }
        Ok(())
    }

    /// An Ivanti extension must be unique within every tenant's reach: among the webhooks
    /// any one tenant can reach together. The refusal names the webhook that holds the
    /// extension only when it is `owner`'s own.
    async fn check_extension_unique(
        &self,
        owner: &Scope,
        service_id: Option<&str>,
        extension: &str,
        except: Option<&str>,
    ) -> Result<()> {
        // The tenants that reach the webhook (`t`, from `$3`), and of the webhooks any of
        // them reaches, none may carry the same extension; nor may the webhooks of the same
        // service or, without one, the owner's other webhooks without one.
        let (tenants, same, scope) = match (service_id, owner) {
            (Some(service), _) => (
                "SELECT tenant_id FROM activations WHERE service_id = $3 \
                 UNION SELECT tenant_id FROM services WHERE id = $3 AND tenant_id IS NOT NULL",
                "w.service_id = $3",
                service,
            ),
            (None, Scope::Provider(provider)) => (
                "SELECT a.tenant_id FROM activations a JOIN services s ON s.id = a.service_id \
                 WHERE s.provider_id = $3",
                "(w.owner_kind = 'provider' AND w.owner_id = $3 AND w.service_id IS NULL)",
                provider.as_str(),
            ),
            (None, Scope::Tenant(tenant)) => ("SELECT CAST($3 AS TEXT)", "1 = 0", tenant.as_str()),
        };
        let sql = format!(
            "WITH t (tenant_id) AS ({tenants}) \
             SELECT w.id, w.owner_kind, w.owner_id FROM webhooks w \
             WHERE w.extension = $1 AND w.id <> $2 AND ( \
               (w.owner_kind = 'tenant' AND w.owner_id IN (SELECT tenant_id FROM t)) \
               OR w.service_id IN (SELECT a.service_id FROM activations a \
                   WHERE a.tenant_id IN (SELECT tenant_id FROM t)) \
               OR (w.owner_kind = 'provider' AND w.service_id IS NULL AND w.owner_id IN \
                   (SELECT s.provider_id FROM services s JOIN activations a ON a.service_id = s.id \
                    WHERE a.tenant_id IN (SELECT tenant_id FROM t))) \
               OR {same})"
        );
        let clash = sqlx::query(AssertSqlSafe(sql))
            .bind(extension)
            .bind(except.unwrap_or(""))
            .bind(scope)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = clash else {
            return Ok(());
        };
        let own = row.try_get::<String, _>("owner_kind")? == owner.kind()
            && row.try_get::<String, _>("owner_id")? == owner.id();
        Err(StoreError::Conflict(if own {
            format!(
                "extension {extension:?} is already used by your webhook {}, reachable by the same tenant",
                row.try_get::<String, _>("id")?
            )
        } else {
            format!(
                "extension {extension:?} is already used by another webhook reachable by a tenant of this service; choose another"
            )
        }))
    }

    /// Creates a webhook for `owner`; returns it and its signing secret (shown once).
    pub async fn create_webhook(
        &self,
        key: &MasterKey,
        owner: &Scope,
        spec: &WebhookSpec,
    ) -> Result<(Webhook, String)> {
        self.check_spec(owner, spec, None).await?;
        let secret = new_webhook_secret();
        let now = now_ms();
        let (url, component) = url_and_component(&spec.handler);
        let sealed = key.seal(secret.as_bytes());
        let limit = self.quotas().webhooks;
        let mut tx = self.begin_write().await?;
        self.lock_for_quota(&mut tx, &super::quotas::owner_lock(owner))
            .await?;
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM webhooks WHERE owner_kind = $1 AND owner_id = $2",
        )
        .bind(owner.kind())
        .bind(owner.id())
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if count as u64 >= limit {
            return Err(super::QuotaExceeded::new(
                "quotas.webhooks",
                limit,
                format!(
                    "this {} has {count} webhooks; delete one it no longer uses first",
                    owner.kind()
                ),
            )
            .into());
        }
        // `WBH-dddd-dddd` ids (the MPT shape) have 10^8 values: on the rare collision, draw
        // again. (Looked up first: a failed INSERT would end a PostgreSQL transaction.)
        let mut id = new_id("WBH");
        for _ in 0..5 {
            let taken = sqlx::query("SELECT id FROM webhooks WHERE id = $1")
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !taken {
                break;
            }
            id = new_id("WBH");
        }
        sqlx::query(
            "INSERT INTO webhooks (id, owner_kind, owner_id, service_id, description, status, type, \
             object_type, url, component_id, modules, extension, criteria, limits, allowed_hosts, \
             retry_policy, secret_enc, revision, created_at, updated_at, enabled_at, disabled_at, \
             transform_component_id, event_types, rate_limit, ordering) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 1, \
             $18, $18, $19, $20, $21, $22, $23, $24)",
        )
        .bind(&id)
        .bind(owner.kind())
        .bind(owner.id())
        .bind(&spec.service_id)
        .bind(&spec.description)
        .bind(WebhookStatus::of(spec.enabled).as_str())
        .bind(&spec.kind)
        .bind(&spec.object_type)
        .bind(url)
        .bind(component)
        .bind(json(&spec.modules))
        .bind(&spec.extension)
        .bind(json(&spec.criteria))
        .bind(spec.limits.as_ref().map(json))
        .bind(json(&spec.allowed_hosts))
        .bind(spec.retry_policy.as_ref().map(json))
        .bind(&sealed)
        .bind(now)
        .bind(spec.enabled.then_some(now))
        .bind((!spec.enabled).then_some(now))
        .bind(&spec.transform)
        .bind(spec.event_types.as_ref().map(json))
        .bind(spec.rate_limit.as_ref().map(json))
        .bind(spec.fifo.then_some("fifo"))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.changed();
        Ok((self.webhook_unscoped(&id).await?, secret))
    }

    /// The webhook `id` as `scope` sees it.
    pub async fn webhook(&self, scope: &Scope, id: &str) -> Result<Webhook> {
        let sql = format!(
            "SELECT {COLUMNS} FROM webhooks WHERE {} AND id = $2",
            visible(scope)
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(scope.id())
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        webhook_from_row(&row)
    }

    /// The webhook `id` whoever owns it (executor and delivery paths).
    pub async fn webhook_unscoped(&self, id: &str) -> Result<Webhook> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhooks WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        webhook_from_row(&row)
    }

    /// The webhooks with these ids whoever owns them (the delivery path loads a claimed
    /// batch's webhooks at once); ids that do not exist are left out.
    pub async fn webhooks_unscoped_many(&self, ids: &[&str]) -> Result<Vec<Webhook>> {
        let mut webhooks = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(super::ROWS_PER_STATEMENT) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {COLUMNS} FROM webhooks WHERE id IN ({})",
                list.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(self.pool()).await? {
                webhooks.push(webhook_from_row(&row)?);
            }
        }
        Ok(webhooks)
    }

    /// A page of the webhooks `scope` sees that `listing` keeps, in its order (oldest first
    /// unless asked otherwise), and how many there are in all.
    pub async fn list_webhooks(
        &self,
        scope: &Scope,
        listing: &super::Listing<super::lists::Webhooks>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Webhook>, i64)> {
        // The filter is ANDed with what the scope may read: it only ever narrows that.
        let list = listing.sql(self.backend(), 2);
        let matching = format!("{} AND {}", visible(scope), list.condition);
        let count = format!("SELECT COUNT(*) AS n FROM webhooks WHERE {matching}");
        let total: i64 = list
            .bind(sqlx::query(AssertSqlSafe(count)).bind(scope.id()))
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        let sql = format!(
            "SELECT {COLUMNS} FROM webhooks WHERE {matching} ORDER BY {} LIMIT ${} OFFSET ${}",
            list.order,
            list.next,
            list.next + 1
        );
        let rows = list
            .bind(sqlx::query(AssertSqlSafe(sql)).bind(scope.id()))
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        let webhooks = rows.iter().map(webhook_from_row).collect::<Result<_>>()?;
        Ok((webhooks, total))
    }

    /// Whether `scope` can see webhook `id` but not change it.
    async fn read_only_for(&self, scope: &Scope, id: &str) -> Result<bool> {
        Ok(self.webhook(scope, id).await.is_ok())
    }

    /// Replaces the writable fields of webhook `id` owned by `scope`.
    ///
    /// With `expected_revision`, the update applies only if nobody changed the webhook since
    /// that revision (optimistic concurrency); otherwise it is a conflict.
    pub async fn update_webhook(
        &self,
        scope: &Scope,
        id: &str,
        spec: &WebhookSpec,
        expected_revision: Option<i64>,
    ) -> Result<Webhook> {
        let current = self.owned_webhook(scope, id).await?;
        self.check_spec(scope, spec, Some(id)).await?;
        let revision = expected_revision.unwrap_or(current.revision);
        let now = now_ms();
        let (url, component) = url_and_component(&spec.handler);
        let (enabled_at, disabled_at) = match (current.enabled, spec.enabled) {
            (false, true) => (Some(now), current.disabled_at),
            (true, false) => (current.enabled_at, Some(now)),
            _ => (current.enabled_at, current.disabled_at),
        };
        let sql = format!(
            "UPDATE webhooks SET service_id = $2, description = $3, status = $4, type = $5, \
             object_type = $6, url = $7, component_id = $8, modules = $9, extension = $10, \
             criteria = $11, limits = $12, allowed_hosts = $13, retry_policy = $14, \
             updated_at = $15, enabled_at = $16, disabled_at = $17, revision = revision + 1, \
             transform_component_id = $20, event_types = $21, rate_limit = $22, ordering = $23 \
             WHERE {} AND id = $18 AND revision = $19",
            owned(scope)
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(scope.id())
            .bind(&spec.service_id)
            .bind(&spec.description)
            .bind(WebhookStatus::of(spec.enabled).as_str())
            .bind(&spec.kind)
            .bind(&spec.object_type)
            .bind(url)
            .bind(component)
            .bind(json(&spec.modules))
            .bind(&spec.extension)
            .bind(json(&spec.criteria))
            .bind(spec.limits.as_ref().map(json))
            .bind(json(&spec.allowed_hosts))
            .bind(spec.retry_policy.as_ref().map(json))
            .bind(now)
            .bind(enabled_at)
            .bind(disabled_at)
            .bind(id)
            .bind(revision)
            .bind(&spec.transform)
            .bind(spec.event_types.as_ref().map(json))
            .bind(spec.rate_limit.as_ref().map(json))
            .bind(spec.fifo.then_some("fifo"))
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "webhook {id} was changed concurrently (revision {revision} is no longer current)"
            )));
        }
        self.changed();
        self.webhook(scope, id).await
    }

    async fn owned_webhook(&self, scope: &Scope, id: &str) -> Result<Webhook> {
        let sql = format!(
            "SELECT {COLUMNS} FROM webhooks WHERE {} AND id = $2",
            owned(scope)
        );
        match sqlx::query(AssertSqlSafe(sql))
            .bind(scope.id())
            .bind(id)
            .fetch_optional(self.pool())
            .await?
        {
            Some(row) => webhook_from_row(&row),
            None if self.read_only_for(scope, id).await? => Err(StoreError::Forbidden(format!(
                "webhook {id} belongs to the service's provider and is read-only for tenants"
            ))),
            None => Err(StoreError::NotFound),
        }
    }

    /// Enables or disables webhook `id` owned by `scope`.
    pub async fn set_webhook_enabled(&self, scope: &Scope, id: &str, enabled: bool) -> Result<()> {
        let current = self.owned_webhook(scope, id).await?;
        if current.enabled == enabled {
            return Ok(());
        }
        // Enabled again, it starts afresh: a closed circuit (its deliveries run at once).
        let (column, circuit) = if enabled {
            (
                "enabled_at",
                ", circuit_state = 'closed', circuit_opened_at = NULL, circuit_probe_at = NULL, \
                 circuit_interval_ms = NULL",
            )
        } else {
            ("disabled_at", "")
        };
        let sql = format!(
            "UPDATE webhooks SET status = $2, {column} = $3, updated_at = $3, \
             revision = revision + 1{circuit} WHERE {} AND id = $4",
            owned(scope)
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(scope.id())
            .bind(WebhookStatus::of(enabled).as_str())
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        self.changed();
        Ok(())
    }

    /// Deletes webhook `id` owned by `scope`.
    pub async fn delete_webhook(&self, scope: &Scope, id: &str) -> Result<()> {
        self.owned_webhook(scope, id).await?;
        // Its planned deliveries and its call log go with it.
        let mut tx = self.begin_write().await?;
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM webhooks WHERE {} AND id = $2",
            owned(scope)
        )))
        .bind(scope.id())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM deliveries WHERE webhook_id = $1 AND status <> 'in_flight'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        super::calls::fold_staged(&mut tx).await?;
        sqlx::query("DELETE FROM calls WHERE webhook_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }

    /// The signing secret of webhook `id`.
    pub async fn webhook_secret(&self, key: &MasterKey, id: &str) -> Result<String> {
        let row = sqlx::query("SELECT secret_enc FROM webhooks WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        key.open_string(&row.try_get::<Vec<u8>, _>("secret_enc")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Records one call of webhook `id`: statistics and last calls, in one atomic update (no
    /// lost increments when several calls finish at once, on any number of instances).
    pub async fn record_call(&self, id: &str, call: &Call) -> Result<()> {
        sqlx::query(record_call_sql(call.success))
            .bind(id)
            .bind(json(call))
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_spec_is_enabled_and_sets_nothing_else() {
        let spec = WebhookSpec::new("SVC-1", Handler::Url("https://example.com/hook".into()));
        assert_eq!(
            spec,
            WebhookSpec {
                service_id: Some("SVC-1".into()),
                description: String::new(),
                enabled: true,
                kind: None,
                object_type: None,
                handler: Handler::Url("https://example.com/hook".into()),
                transform: None,
                modules: Vec::new(),
                extension: None,
                criteria: BTreeMap::new(),
                limits: None,
                allowed_hosts: Vec::new(),
                retry_policy: None,
                event_types: None,
                rate_limit: None,
                fifo: false,
            }
        );
    }

    #[test]
    fn every_builder_method_sets_its_field() {
        let limits = Limits {
            timeout_ms: 200,
            ..Limits::default()
        };
        let spec = WebhookSpec::new("SVC-1", Handler::Component("CMP-1".into()))
            .description("Checks orders")
            .disabled()
            .kind("validatePurchaseOrderDraft")
            .object_type("Order")
            .modules(["estate", "address"])
            .extension("OrderCheck")
            .criteria([("product.id", "PRD-1")])
            .criteria([("agreement.id".to_owned(), "AGR-1".to_owned())])
            .limits(limits)
            .allowed_hosts(["api.example.com"])
            .retry_schedule([1, 5]);
        assert_eq!(
            spec,
            WebhookSpec {
                service_id: Some("SVC-1".into()),
                description: "Checks orders".into(),
                enabled: false,
                kind: Some("validatePurchaseOrderDraft".into()),
                object_type: Some("Order".into()),
                handler: Handler::Component("CMP-1".into()),
                transform: None,
                modules: vec!["estate".into(), "address".into()],
                extension: Some("OrderCheck".into()),
                criteria: BTreeMap::from([
                    ("agreement.id".into(), "AGR-1".into()),
                    ("product.id".into(), "PRD-1".into()),
                ]),
                limits: Some(limits),
                allowed_hosts: vec!["api.example.com".into()],
                retry_policy: Some(RetryPolicy {
                    schedule_seconds: vec![1, 5],
                }),
                event_types: None,
                rate_limit: None,
                fifo: false,
            }
        );
    }

    #[test]
    fn lists_are_replaced_and_an_empty_schedule_means_no_retries() {
        let spec = WebhookSpec::new("SVC-1", Handler::Component("CMP-1".into()))
            .modules(["estate"])
            .modules(Vec::<String>::new())
            .allowed_hosts(["a.example.com"])
            .allowed_hosts(["b.example.com"])
            .retry_schedule([1])
            .retry_schedule(Vec::new());
        assert!(spec.modules.is_empty());
        assert_eq!(spec.allowed_hosts, ["b.example.com"]);
        assert_eq!(
            spec.retry_policy,
            Some(RetryPolicy {
                schedule_seconds: Vec::new()
            })
        );
    }
}
