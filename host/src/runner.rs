//! The local runner: what a provider runs before uploading (`plugin run`, `plugin check`).
//!
//! It uses the production sandbox and limits; it only adds fuel metering so the report can
//! say how much fuel a call used.

use crate::config::Config;
use crate::sandbox::Egress;
use crate::sandbox::{
    CallContext, CallError, CallReport, ComponentInfo, Event, Invocation, KvStore, Limits,
    MemoryKv, OutboundPolicy, Param, Runtime, Tenant, Transformed,
};
use anyhow::Context as _;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One local invocation.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Module or object type (`estate`, `address`, `Order`, …).
    pub module: String,
    /// Record id.
    pub record_id: String,
    /// The event to simulate.
    pub event: Event,
    /// Payload text (JSON, or raw text).
    pub payload: String,
    /// Invocation parameters.
    pub params: Vec<(String, String)>,
    /// Activation parameter values served by `host.config`.
    pub config: BTreeMap<String, String>,
    /// Secret activation parameter values served by `host.secret` (and by 0.1.0's
    /// `host.config`).
    pub secrets: BTreeMap<String, String>,
    /// Hosts outbound HTTP may reach (checked like a webhook's `allowedHosts`).
    pub allow_hosts: Vec<String>,
    /// The guard outbound HTTP goes through (production's, unless the provider allowed
    /// insecure targets to test against a local server).
    pub egress: Egress,
    /// Limits; `None` uses the configured defaults.
    pub limits: Option<Limits>,
}

/// What `plugin run` prints.
pub struct RunResult {
    /// The component.
    pub info: ComponentInfo,
    /// Time to load it (compile or cache).
    pub load_time: Duration,
    /// Whether it came from the on-disk cache.
    pub from_cache: bool,
    /// The limits the call ran under.
    pub limits: Limits,
    /// The call.
    pub report: CallReport,
}

/// A runtime like production's, with fuel metering on for the report.
pub fn runtime(config: &Config) -> anyhow::Result<Runtime> {
    let mut sandbox = config.sandbox.clone();
    sandbox.fuel = true;
    Runtime::new(sandbox, Some(&config.compiled_dir()))
}

fn read_component(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading component {}", path.display()))
}

/// `plugin check`: loads and validates a component.
pub fn check(runtime: &Runtime, path: &Path) -> anyhow::Result<ComponentInfo> {
    let wasm = read_component(path)?;
    let plugin = runtime.load(&wasm)?;
    Ok(plugin.info.clone())
}

/// `plugin run`: loads a component and runs one invocation of it.
pub async fn run(runtime: &Runtime, path: &Path, request: RunRequest) -> anyhow::Result<RunResult> {
    for host in &request.allow_hosts {
        crate::sandbox::egress::check_allowed_host(host, request.egress.allow_insecure())
            .map_err(|e| anyhow::anyhow!("--allow-host {e}"))?;
    }
    let wasm: Arc<[u8]> = read_component(path)?.into();
    let before = runtime.stats();
    let started = Instant::now();
    let plugin = runtime.load_blocking(wasm).await?;
    let load_time = started.elapsed();
    let from_cache = runtime.stats().loaded_from_disk > before.loaded_from_disk;

    let invocation = Invocation {
        webhook_id: "WBH-0000-0000".into(),
        tenant: Tenant {
            id: "local".into(),
            name: "Local runner".into(),
        },
        module: request.module,
        record_id: request.record_id,
        event: request.event,
        payload: request.payload,
        parameters: request
            .params
            .into_iter()
            .map(|(name, value)| Param { name, value })
            .collect(),
        delivery_id: "local-run".into(),
        attempt: 1,
    };
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::default());
    let limits = runtime.limits_for(request.limits.as_ref());
    let ctx = CallContext {
        limits,
        config: Arc::new(request.config),
        secrets: Arc::new(request.secrets),
        kv,
        outbound: OutboundPolicy::new(request.egress, &request.allow_hosts),
    };
    // A component that only transforms runs its transform, the payload as the request's body.
    let report = if !plugin.info.roles.handler && plugin.info.roles.transform {
        transform(runtime, &plugin, invocation, ctx).await
    } else {
        runtime.call(&plugin, &invocation, ctx).await
    };
    Ok(RunResult {
        info: plugin.info.clone(),
        load_time,
        from_cache,
        limits,
        report,
    })
}

/// Runs `plugin`'s transform on the request a URL webhook would send for `invocation`; the
/// outcome's body says what it decided: `{"send": {"body", "parameters", "headers"}}` (the
/// body as JSON when it is JSON) or `{"skip": "reason"}`.
async fn transform(
    runtime: &Runtime,
    plugin: &crate::sandbox::Plugin,
    invocation: Invocation,
    ctx: CallContext,
) -> CallReport {
    let request = crate::sandbox::OutgoingRequest {
        webhook_id: invocation.webhook_id,
        tenant: invocation.tenant,
        event: invocation.event,
        module: invocation.module,
        record_id: invocation.record_id,
        delivery_id: invocation.delivery_id,
        attempt: invocation.attempt,
        body: invocation.payload,
        parameters: invocation.parameters,
        headers: Vec::new(),
    };
    let report = runtime.transform(plugin, &request, ctx).await;
    let decided = report.result.map(|transformed| {
        let body = match transformed {
            Transformed::Send(sent) => {
                let body = serde_json::from_str::<serde_json::Value>(&sent.body)
                    .unwrap_or(serde_json::Value::String(sent.body));
                let pairs = |pairs: Vec<(String, String)>| {
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k, serde_json::Value::String(v)))
                        .collect::<serde_json::Map<_, _>>()
                };
                json!({"send": {
                    "body": body,
                    "parameters": pairs(sent.parameters.into_iter().map(|p| (p.name, p.value)).collect()),
                    "headers": pairs(sent.headers.into_iter().map(|h| (h.name, h.value)).collect()),
                }})
            }
            Transformed::Skip(reason) => json!({ "skip": reason }),
        };
        crate::sandbox::Outcome {
            body: body.to_string(),
            updates: Vec::new(),
        }
    });
    CallReport {
        result: decided,
        duration: report.duration,
        fuel_used: report.fuel_used,
        peak_memory_bytes: report.peak_memory_bytes,
        log: report.log,
    }
}

/// What a component offers, as `plugin check` prints it: `handler, transform, activation`.
pub fn roles(roles: &crate::sandbox::Roles) -> String {
    let named = [
        (roles.handler, "handler (plugin)"),
        (roles.transform, "transform"),
        (roles.activation, "activation check"),
    ];
    let names: Vec<&str> = named
        .iter()
        .filter(|(has, _)| *has)
        .map(|(_, name)| *name)
        .collect();
    names.join(", ")
}

/// Parses an event name as the CLI takes it (the WIT spelling, as everywhere).
pub fn parse_event(name: &str) -> Result<Event, String> {
    crate::vocab::parse_event(name)
        .map_err(|unknown| format!("unknown event `{name}` ({})", unknown.known))
}

/// The body as pretty JSON when it is JSON, else as it is.
fn pretty(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_owned())
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The human-readable report.
pub fn render(result: &RunResult) -> String {
    let r = &result.report;
    let mut out = String::new();
    match &r.result {
        Ok(outcome) => {
            writeln!(out, "outcome: ok").unwrap();
            writeln!(out, "body:\n{}", pretty(&outcome.body)).unwrap();
            if !outcome.updates.is_empty() {
                writeln!(out, "field updates:").unwrap();
                for u in &outcome.updates {
                    writeln!(out, "  {} = {}", u.field, u.value).unwrap();
                }
            }
        }
        Err(error) => writeln!(out, "outcome: failed ({})\nreason: {error}", error.kind()).unwrap(),
    }
    writeln!(
        out,
        "duration: {:.3} ms | fuel used: {} | peak memory: {} | load: {:.1} ms ({})",
        r.duration.as_secs_f64() * 1000.0,
        r.fuel_used
            .map_or("not measured (the call did not return)".into(), |f| f
                .to_string()),
        mib(r.peak_memory_bytes),
        result.load_time.as_secs_f64() * 1000.0,
        if result.from_cache {
            "compiled artifact from cache"
        } else {
            "compiled"
        },
    )
    .unwrap();
    let l = &result.limits;
    writeln!(
        out,
        "limits: deadline {} ms | memory {} | fuel {} | payload {} | output {} | log {}\n\
         outbound: at most {} request(s) per call | bodies up to {} | connect {} ms | {} ms per \
         request (never past the deadline)",
        l.timeout_ms,
        mib(l.memory_bytes),
        l.fuel.map_or("unlimited".into(), |f| f.to_string()),
        mib(l.max_payload_bytes),
        mib(l.max_output_bytes),
        mib(l.max_log_bytes),
        l.max_outbound_requests,
        mib(l.max_outbound_body_bytes),
        l.outbound_connect_timeout_ms,
        l.outbound_timeout_ms,
    )
    .unwrap();
    writeln!(
        out,
        "log: {} line(s), {} byte(s) dropped",
        r.log.lines.len(),
        r.log.dropped_bytes
    )
    .unwrap();
    for line in &r.log.lines {
        let source = serde_json::to_value(line.source).unwrap_or_default();
        writeln!(
            out,
            "  [{}] {}",
            source.as_str().unwrap_or("?"),
            line.message
        )
        .unwrap();
    }
    out
}

/// The machine-readable report.
pub fn render_json(result: &RunResult) -> serde_json::Value {
    let r = &result.report;
    let (outcome, failure) = match &r.result {
        Ok(o) => (
            Some(json!({
                "body": serde_json::from_str::<serde_json::Value>(&o.body)
                    .unwrap_or_else(|_| json!(o.body)),
                "updates": o.updates.iter().map(|u| json!({"field": u.field, "value": u.value})).collect::<Vec<_>>(),
            })),
            None,
        ),
        Err(e) => (None, Some(failure_json(e))),
    };
    json!({
        "component": result.info,
        "outcome": outcome,
        "failure": failure,
        "durationMs": r.duration.as_secs_f64() * 1000.0,
        "fuelUsed": r.fuel_used,
        "peakMemoryBytes": r.peak_memory_bytes,
        "loadMs": result.load_time.as_secs_f64() * 1000.0,
        "fromCache": result.from_cache,
        "limits": result.limits,
        "log": r.log,
    })
}

/// A failure as JSON: its kind and message.
pub fn failure_json(error: &CallError) -> serde_json::Value {
    json!({"kind": error.kind(), "message": error.to_string(), "retryable": error.is_retryable()})
}
