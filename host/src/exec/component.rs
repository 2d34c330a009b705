//! A component handler: the webhook's component, loaded once per process, called in the
//! sandbox with the tenant's activation as its configuration and a key-value store scoped
//! to (tenant, service).

use super::{Executor, Failure, Output, Trigger};
use crate::sandbox::{CallContext, CallError, Invocation, OutboundPolicy, Param, Plugin, Tenant};
use crate::store::{DbKv, Webhook};
use crate::vocab::FailureKind;
use std::sync::Arc;

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

    pub(super) async fn run_component(
        &self,
        webhook: &Webhook,
        component_id: &str,
        tenant_id: &str,
        trigger: &Trigger,
    ) -> Result<Output, Failure> {
        let internal = |context: &str, error: &dyn std::fmt::Display| {
            Failure::host(webhook, context, "run the component", error)
        };
        let plugin = self
            .plugin(component_id)
            .await
            .map_err(|e| internal("loading the component", &e))?;
        let tenant_name = match self.lookups.tenant_name(tenant_id).await {
            Ok(name) => name,
            Err(e) => return Err(internal("reading the tenant", &e)),
        };
        // A webhook of no service has no activation of its own to read its configuration
        // from: it runs with none.
        let config = match &webhook.service_id {
            None => Arc::default(),
            Some(service_id) => match self.lookups.activation(tenant_id, service_id).await {
                Ok(parameters) => parameters,
                Err(e) => return Err(internal("reading the activation", &e)),
            },
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
            kv: Arc::new(DbKv::new(self.store.clone(), tenant_id, webhook.kv_scope())),
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

/// A sandbox error as the executor reports it: its kind, its message, whether a retry may
/// help.
fn component_failure(error: &CallError) -> Failure {
    Failure::new(
        FailureKind::from(error),
        error.to_string(),
        error.is_retryable(),
    )
}
