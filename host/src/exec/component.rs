//! A component handler: the webhook's component, loaded once per process, called in the
//! sandbox with the tenant's activation as its configuration and a key-value store scoped
//! to (tenant, service). A URL webhook's transform runs the same way, before its request is
//! signed and sent.

use super::{Executor, Failure, Outgoing, Output, Trigger};
use crate::sandbox::Problem;
use crate::sandbox::{
    CallContext, CallError, Invocation, LogLine, OutboundPolicy, OutgoingRequest, Param, Plugin,
    Tenant, Transformed,
};
use crate::store::{DbKv, Webhook};
use crate::vocab::FailureKind;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::Instrument as _;

impl Executor {
    /// The component `id`, loaded: from the runtime's bounded set of loaded components, or
    /// from the store's bytes through the compiled-artifact cache (compiled only when no
    /// artifact exists).
    pub async fn plugin(&self, component_id: &str) -> anyhow::Result<Arc<Plugin>> {
        let digest = self
            .digests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(component_id)
            .cloned();
        if let Some(plugin) = digest.and_then(|digest| self.runtime.loaded(&digest)) {
            return Ok(plugin);
        }
        let wasm: Arc<[u8]> = self.store.component_wasm(component_id).await?.into();
        let digest = crate::sandbox::digest(&wasm);
        let plugin = self.runtime.load_blocking(wasm).await?;
        self.digests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(component_id.to_owned(), digest);
        Ok(plugin)
    }

    /// What a component of `webhook` runs with for `tenant_id`: the tenant's name and the
    /// call context (the activation's parameters, the key-value scope, the outbound policy).
    async fn scope(
        &self,
        webhook: &Webhook,
        tenant_id: &str,
        what: &str,
    ) -> Result<(String, CallContext), Failure> {
        let internal = |context: &str, error: &dyn std::fmt::Display| {
            Failure::host(webhook, context, what, error)
        };
        let tenant_name = match self.lookups.tenant_name(tenant_id).await {
            Ok(name) => name,
            Err(e) => return Err(internal("reading the tenant", &e)),
        };
        // A webhook of no service has no activation of its own to read its configuration
        // from: it runs with none.
        let activation = match &webhook.service_id {
            None => Arc::default(),
            Some(service_id) => match self.lookups.activation(tenant_id, service_id).await {
                Ok(parameters) => parameters,
                Err(e) => return Err(internal("reading the activation", &e)),
            },
        };
        let ctx = CallContext {
            limits: self.runtime.limits_for(webhook.limits.as_ref()),
            config: activation.plain.clone(),
            secrets: activation.secret.clone(),
            kv: Arc::new(DbKv::new(self.store.clone(), tenant_id, webhook.kv_scope())),
            outbound: OutboundPolicy::new(self.remote.egress().clone(), &webhook.allowed_hosts),
        };
        Ok((tenant_name, ctx))
    }

    pub(super) async fn run_component(
        &self,
        webhook: &Webhook,
        component_id: &str,
        tenant_id: &str,
        trigger: &Trigger,
        log: &mut Vec<LogLine>,
    ) -> Result<Output, Failure> {
        let span = crate::telemetry::span!(
            "component call",
            webhook.id = %webhook.id,
            component.id = %component_id,
        );
        self.call_component(webhook, component_id, tenant_id, trigger, &span, log)
            .instrument(span.clone())
            .await
    }

    /// [`Executor::run_component`] inside its `span`, which gets the call's log lines.
    async fn call_component(
        &self,
        webhook: &Webhook,
        component_id: &str,
        tenant_id: &str,
        trigger: &Trigger,
        span: &tracing::Span,
        log: &mut Vec<LogLine>,
    ) -> Result<Output, Failure> {
        let plugin = self.plugin(component_id).await.map_err(|e| {
            Failure::host(webhook, "loading the component", "run the component", &e)
        })?;
        let (tenant_name, ctx) = self.scope(webhook, tenant_id, "run the component").await?;
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
            parameters: params(&trigger.parameters),
            delivery_id: trigger.delivery_id.clone(),
            attempt: trigger.attempt,
        };
        let report = self.runtime.call(&plugin, &invocation, ctx).await;
        crate::telemetry::add_log_events(span, &report.log.lines);
        super::keep_log(log, report.log);
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
                    skipped: None,
                })
            }
            Err(error) => Err(component_failure(&error)),
        }
    }

    /// The request a URL webhook sends for `trigger`: as it is, or as the webhook's transform
    /// returns it (run in the sandbox like a handler, with the webhook's activation, under
    /// the default limits), or nothing when the transform skips it. A transform's failure is
    /// the attempt's, retried by its kind.
    pub(super) async fn transformed<'t>(
        &self,
        webhook: &Webhook,
        tenant_id: &str,
        trigger: Cow<'t, Trigger>,
        log: &mut Vec<LogLine>,
    ) -> Result<Outgoing<'t>, Failure> {
        let Some(component_id) = &webhook.transform else {
            return Ok(Outgoing::Send(trigger, Vec::new()));
        };
        let plugin = self.plugin(component_id).await.map_err(|e| {
            Failure::host(
                webhook,
                "loading the transform",
                "transform the request",
                &e,
            )
        })?;
        let (tenant_name, ctx) = self
            .scope(webhook, tenant_id, "transform the request")
            .await?;
        let request = OutgoingRequest {
            webhook_id: webhook.id.clone(),
            tenant: Tenant {
                id: tenant_id.to_owned(),
                name: tenant_name,
            },
            event: trigger.event,
            module: trigger.module.clone(),
            record_id: trigger.record_id.clone(),
            delivery_id: trigger.delivery_id.clone(),
            attempt: trigger.attempt,
            body: trigger.payload.clone(),
            parameters: params(&trigger.parameters),
            headers: Vec::new(),
        };
        let span = crate::telemetry::span!(
            "component transform",
            webhook.id = %webhook.id,
            component.id = %component_id,
        );
        let report = self
            .runtime
            .transform(&plugin, &request, ctx)
            .instrument(span.clone())
            .await;
        crate::telemetry::add_log_events(&span, &report.log.lines);
        super::keep_log(log, report.log);
        let changed = match report.result {
            Ok(Transformed::Send(changed)) => changed,
            Ok(Transformed::Skip(reason)) => return Ok(Outgoing::Skip(reason)),
            Err(error) => {
                let mut failure = component_failure(&error);
                failure.message = format!("transform: {}", failure.message);
                return Err(failure);
            }
        };
        let headers = changed
            .headers
            .into_iter()
            .map(|h| checked_header(h.name, h.value))
            .collect::<Result<Vec<_>, _>>()?;
        let trigger = Trigger {
            payload: changed.body,
            parameters: changed
                .parameters
                .into_iter()
                .map(|p| (p.name, p.value))
                .collect(),
            ..trigger.into_owned()
        };
        Ok(Outgoing::Send(Cow::Owned(trigger), headers))
    }
}

impl Executor {
    /// Asks the components of `service_id`'s webhooks that export `activation` whether
    /// `parameters` (every one, secret ones too) make a good activation for `tenant_id`:
    /// the problems they report, all of them; an error when a check could not run.
    pub async fn check_activation(
        &self,
        tenant_id: &str,
        service_id: &str,
        parameters: &BTreeMap<String, String>,
    ) -> Result<Vec<Problem>, String> {
        let components = self
            .store
            .service_components(service_id)
            .await
            .map_err(|e| format!("reading the service's components: {e}"))?;
        let given: Vec<Param> = parameters
            .iter()
            .map(|(name, value)| Param {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        let mut problems = Vec::new();
        for id in components {
            let plugin = self
                .plugin(&id)
                .await
                .map_err(|e| format!("loading component {id}: {e:#}"))?;
            if !plugin.info.roles.activation {
                continue;
            }
            // The check sees the parameters it is given, nothing stored: no configuration,
            // no outbound requests; its key-value scope is the activation's.
            let ctx = CallContext {
                limits: self.runtime.limits_for(None),
                config: Arc::default(),
                secrets: Arc::default(),
                kv: Arc::new(DbKv::new(self.store.clone(), tenant_id, service_id)),
                outbound: OutboundPolicy::new(self.remote.egress().clone(), &[]),
            };
            let report = self.runtime.check_activation(&plugin, &given, ctx).await;
            match report.result {
                Ok(Ok(())) => {}
                Ok(Err(found)) => problems.extend(found),
                Err(error) => {
                    return Err(format!(
                        "the activation check of component {id} failed: {error}"
                    ));
                }
            }
        }
        Ok(problems)
    }
}

/// The invocation's parameters from the trigger's pairs.
fn params(pairs: &[(String, String)]) -> Vec<Param> {
    pairs
        .iter()
        .map(|(name, value)| Param {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// Headers the host sets itself (signatures, the bearer token, the body's framing) or that
/// belong to the connection: a transform cannot set them.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "content-type",
    "host",
    "keep-alive",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A transform's header, if it is a valid one the transform may set; an `invalid-input`
/// failure (final: the transform would set it again) otherwise.
fn checked_header(name: String, value: String) -> Result<(String, String), Failure> {
    let refuse = |why: String| Err(Failure::new(FailureKind::InvalidInput, why, false));
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("webhook-") {
        return refuse(format!(
            "transform: the header `{name}` is the host's own; a transform cannot set it"
        ));
    }
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
        || reqwest::header::HeaderValue::from_str(&value).is_err()
    {
        return refuse(format!("transform: `{name}` is not a valid HTTP header"));
    }
    Ok((name, value))
}

/// A sandbox error as the executor reports it: its kind, its message, whether a retry may
/// help.
fn component_failure(error: &CallError) -> Failure {
    Failure::new(
        FailureKind::from(error),
        error.to_string(),
        error.is_retryable(),
    )
}
