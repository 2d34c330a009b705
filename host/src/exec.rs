//! Running one webhook once, whatever its handler: the one path shared by the synchronous
//! execute endpoints and the delivery workers.
//!
//! Architecture Invariant: handlers know nothing of HTTP envelopes. The executor hands a
//! component an `Invocation` and gets an `Outcome` or a failure; the dialect modules in
//! `api/` turn that into their own answers.

use crate::api::format_time;
use crate::sandbox::{
    CallContext, CallError, Event, Invocation, OutboundPolicy, Param, Plugin, Runtime, Tenant,
};
use crate::store::{Call, DbKv, Handler, Store, Webhook, now_ms};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest response excerpt kept in a Call object.
pub const RESPONSE_EXCERPT_BYTES: usize = 4096;

/// What caused a call.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// `smartml`, `ivanti`, `mpt`, `process`, `test`.
    pub source: String,
    /// Module or object type.
    pub module: String,
    /// Record id.
    pub record_id: String,
    /// The event.
    pub event: Event,
    /// The payload (JSON text, or raw text for Ivanti XML bodies).
    pub payload: String,
    /// Parameters (process steps, activation query parameters).
    pub parameters: Vec<(String, String)>,
    /// Stable across retries.
    pub delivery_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Machine-readable kind (`rejected`, `timeout`, `http-500`, …).
    pub kind: String,
    /// Human-readable reason.
    pub message: String,
    /// Whether a retry may succeed.
    pub retryable: bool,
    /// A delay the handler asked for (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// The webhook should be disabled (HTTP 410 Gone).
    pub gone: bool,
}

/// What a successful attempt returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The body.
    pub body: String,
    /// Its content type (`application/json` for component outcomes that are JSON).
    pub content_type: String,
    /// Record field updates (component handlers).
    pub updates: Vec<(String, String)>,
}

/// One attempt: the result and the MPT Call object describing it.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// What came back.
    pub result: Result<Output, Failure>,
    /// The Call object for statistics and the call log.
    pub call: Call,
}

/// Runs webhooks. Cheap to clone.
#[derive(Clone)]
pub struct Executor {
    store: Store,
    lookups: crate::cache::Lookups,
    runtime: Runtime,
    remote: crate::remote::RemoteClient,
    /// Loaded components by component id (ids are immutable: a new upload is a new id).
    plugins: Arc<Mutex<HashMap<String, Arc<Plugin>>>>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// The first [`RESPONSE_EXCERPT_BYTES`] of `text`, cut at a character boundary.
pub fn excerpt(text: &str) -> String {
    if text.len() <= RESPONSE_EXCERPT_BYTES {
        return text.to_owned();
    }
    let mut end = RESPONSE_EXCERPT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The event name as stored in the outbox (the WIT spelling).
pub fn event_label(event: Event) -> &'static str {
    match event {
        Event::Create => "create",
        Event::Update => "update",
        Event::Execute => "execute",
        Event::Validate => "validate",
        Event::ProcessStep => "process-step",
        Event::Test => "test",
    }
}

/// Parses an event name (the WIT spelling).
pub fn parse_event(name: &str) -> Event {
    match name {
        "create" => Event::Create,
        "execute" => Event::Execute,
        "validate" => Event::Validate,
        "process-step" => Event::ProcessStep,
        "test" => Event::Test,
        _ => Event::Update,
    }
}

impl Executor {
    /// An executor over `store` and `runtime`; `key` opens the activations' secret parameters.
    pub fn new(
        store: Store,
        runtime: Runtime,
        remote: crate::remote::RemoteClient,
        key: crate::crypto::MasterKey,
    ) -> Self {
        let lookups = crate::cache::Lookups::new(store.clone(), key);
        Executor {
            store,
            lookups,
            runtime,
            remote,
            plugins: Arc::default(),
            metrics: Arc::default(),
        }
    }

    /// The process's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// The runtime the executor runs components in.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The client of URL handlers.
    pub fn remote(&self) -> &crate::remote::RemoteClient {
        &self.remote
    }

    /// The cached registry lookups shared by the execute paths.
    pub fn lookups(&self) -> &crate::cache::Lookups {
        &self.lookups
    }

    /// The component `id`, loaded (from memory, the compiled-artifact cache, or compiled).
    pub async fn plugin(&self, component_id: &str) -> anyhow::Result<Arc<Plugin>> {
        if let Some(plugin) = self
            .plugins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(component_id)
        {
            return Ok(plugin.clone());
        }
        let wasm: Arc<[u8]> = self.store.component_wasm(component_id).await?.into();
        let plugin = self.runtime.load_blocking(wasm).await?;
        self.plugins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(component_id.to_owned(), plugin.clone());
        Ok(plugin)
    }

    /// Runs `webhook` once for `tenant_id` with `trigger`.
    pub async fn run(&self, webhook: &Webhook, tenant_id: &str, trigger: &Trigger) -> Attempt {
        let clock = std::time::Instant::now();
        let attempt = self.attempt(webhook, tenant_id, trigger).await;
        let outcome = match &attempt.result {
            Ok(_) => "ok",
            Err(failure) => failure.kind.as_str(),
        };
        self.metrics
            .observe_call(&trigger.source, outcome, clock.elapsed().as_secs_f64());
        attempt
    }

    async fn attempt(&self, webhook: &Webhook, tenant_id: &str, trigger: &Trigger) -> Attempt {
        let started = now_ms();
        let result = match &webhook.handler {
            Handler::Component(id) => self.run_component(webhook, id, tenant_id, trigger).await,
            Handler::Url(url) => match self.url_trigger(webhook, tenant_id, trigger).await {
                Ok(trigger) => {
                    return self.remote.call(&self.store, webhook, url, &trigger).await;
                }
                Err(failure) => Err(failure),
            },
        };
        let finished = now_ms();
        let call = match &result {
            Ok(output) => Call {
                success: true,
                call_time: format_time(started),
                response_time: Some(format_time(finished)),
                headers: format!("content-type: {}", output.content_type),
                error: String::new(),
                response: excerpt(&output.body),
                reason_phrase: "OK".into(),
                http_status_code: 200,
            },
            Err(failure) => Call {
                success: false,
                call_time: format_time(started),
                response_time: Some(format_time(finished)),
                headers: String::new(),
                error: failure.message.clone(),
                response: String::new(),
                reason_phrase: failure.kind.clone(),
                http_status_code: 0,
            },
        };
        Attempt { result, call }
    }

    /// The trigger a URL handler is called with. Record triggers (smartml) and validations
    /// (MPT) carry the activation's parameters on the URL, read now rather than when the
    /// call was planned: secret ones stay sealed in the activation instead of lying in the
    /// outbox in clear. Parameters the trigger brings itself win over the activation's.
    async fn url_trigger<'t>(
        &self,
        webhook: &Webhook,
        tenant_id: &str,
        trigger: &'t Trigger,
    ) -> Result<std::borrow::Cow<'t, Trigger>, Failure> {
        if !matches!(trigger.source.as_str(), "smartml" | "mpt") {
            return Ok(std::borrow::Cow::Borrowed(trigger));
        }
        let activation = self
            .lookups
            .activation(tenant_id, &webhook.service_id)
            .await
            .map_err(|error| {
                tracing::error!(webhook = %webhook.id, error = %error, "reading the activation");
                Failure {
                    kind: "host-service".into(),
                    message: "reading the activation: the host could not call the webhook".into(),
                    retryable: true,
                    retry_after: None,
                    gone: false,
                }
            })?;
        let mut parameters: Vec<(String, String)> = activation
            .iter()
            .filter(|(name, _)| !trigger.parameters.iter().any(|(n, _)| n == *name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        parameters.extend(trigger.parameters.iter().cloned());
        Ok(std::borrow::Cow::Owned(Trigger {
            parameters,
            ..trigger.clone()
        }))
    }

    async fn run_component(
        &self,
        webhook: &Webhook,
        component_id: &str,
        tenant_id: &str,
        trigger: &Trigger,
    ) -> Result<Output, Failure> {
        let internal = |context: &str, error: &dyn std::fmt::Display| {
            tracing::error!(webhook = %webhook.id, error = %error, "{context}");
            Failure {
                kind: "host-service".into(),
                message: format!("{context}: the host could not run the component"),
                retryable: true,
                retry_after: None,
                gone: false,
            }
        };
        let plugin = self
            .plugin(component_id)
            .await
            .map_err(|e| internal("loading the component", &e))?;
        let tenant_name = match self.lookups.tenant_name(tenant_id).await {
            Ok(name) => name,
            Err(e) => return Err(internal("reading the tenant", &e)),
        };
        let config = match self
            .lookups
            .activation(tenant_id, &webhook.service_id)
            .await
        {
            Ok(parameters) => parameters,
            Err(e) => return Err(internal("reading the activation", &e)),
        };
        let invocation = Invocation {
            webhook_id: webhook.id.clone(),
            tenant: Tenant {
                id: tenant_id.to_owned(),
                name: tenant_name,
            },
            module: trigger.module.clone(),
            record_id: trigger.record_id.clone(),
            event: trigger.event,
            payload: trigger.payload.clone(),
            parameters: trigger
                .parameters
                .iter()
                .map(|(name, value)| Param {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            delivery_id: trigger.delivery_id.clone(),
            attempt: trigger.attempt,
        };
        let ctx = CallContext {
            limits: self.runtime.limits_for(webhook.limits.as_ref()),
            config,
            kv: Arc::new(DbKv::new(
                self.store.clone(),
                tenant_id,
                &webhook.service_id,
            )),
            outbound: OutboundPolicy::new(self.remote.egress().clone(), &webhook.allowed_hosts),
        };
        let report = self.runtime.call(&plugin, &invocation, ctx).await;
        match report.result {
            Ok(outcome) => {
                let is_json = serde_json::from_str::<serde::de::IgnoredAny>(&outcome.body).is_ok();
                Ok(Output {
                    content_type: if is_json {
                        "application/json"
                    } else {
                        "text/plain; charset=utf-8"
                    }
                    .into(),
                    body: outcome.body,
                    updates: outcome
                        .updates
                        .into_iter()
                        .map(|u| (u.field, u.value))
                        .collect(),
                })
            }
            Err(error) => Err(component_failure(&error)),
        }
    }
}

fn component_failure(error: &CallError) -> Failure {
    Failure {
        kind: error.kind().to_owned(),
        message: error.to_string(),
        retryable: error.is_retryable(),
        retry_after: None,
        gone: false,
    }
}
