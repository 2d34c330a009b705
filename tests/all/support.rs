//! Shared test helpers.

use axum::Router;
use hookhost::sandbox::{
    CallContext, CallReport, Event, Invocation, KvStore, Limits, MemoryKv, OutboundPolicy, Plugin,
    Runtime, SandboxConfig, Tenant,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A runtime with production defaults and its own temporary artifact cache.
pub fn runtime() -> (Runtime, tempfile::TempDir) {
    runtime_with(SandboxConfig::default())
}

/// A runtime with `config` and its own temporary artifact cache.
pub fn runtime_with(config: SandboxConfig) -> (Runtime, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(config, Some(dir.path())).unwrap();
    (runtime, dir)
}

/// Loads a component built by `host/build.rs`.
pub fn load(runtime: &Runtime, path: &str) -> Arc<Plugin> {
    let wasm = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    runtime
        .load(&wasm)
        .unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

/// An invocation of `module`/`record` with `payload`.
pub fn invocation(module: &str, record: &str, payload: &str) -> Invocation {
    Invocation {
        webhook_id: "WBH-1234-5678".into(),
        tenant: Tenant {
            id: "TEN-1".into(),
            name: "Immobilien Muster GmbH".into(),
        },
        module: module.into(),
        record_id: record.into(),
        event: Event::Update,
        payload: payload.into(),
        parameters: Vec::new(),
        delivery_id: "DLV-1".into(),
        attempt: 1,
    }
}

/// What a call may use; defaults unless changed with the builder methods.
pub struct Ctx {
    pub limits: Limits,
    pub config: BTreeMap<String, String>,
    pub kv: Arc<dyn KvStore>,
    pub hosts: Vec<String>,
}

impl Ctx {
    pub fn new(runtime: &Runtime) -> Self {
        Ctx {
            limits: runtime.limits_for(None),
            config: BTreeMap::new(),
            kv: Arc::new(MemoryKv::default()),
            hosts: Vec::new(),
        }
    }

    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    pub fn allow(mut self, host: &str) -> Self {
        self.hosts.push(host.into());
        self
    }

    pub fn kv(mut self, kv: Arc<dyn KvStore>) -> Self {
        self.kv = kv;
        self
    }

    pub fn limits(mut self, f: impl FnOnce(&mut Limits)) -> Self {
        f(&mut self.limits);
        self
    }

    pub fn build(self) -> CallContext {
        CallContext {
            limits: self.limits,
            config: Arc::new(self.config),
            kv: self.kv,
            outbound: OutboundPolicy::new(&self.hosts),
        }
    }
}

/// Calls `plugin` once.
pub async fn call(runtime: &Runtime, plugin: &Plugin, inv: &Invocation, ctx: Ctx) -> CallReport {
    runtime.call(plugin, inv, ctx.build()).await
}

/// The outcome body of a successful call as JSON; panics with the failure otherwise.
pub fn ok_body(report: &CallReport) -> serde_json::Value {
    match &report.result {
        Ok(outcome) => serde_json::from_str(&outcome.body)
            .unwrap_or_else(|e| panic!("outcome body is not JSON ({e}): {}", outcome.body)),
        Err(error) => panic!("call failed: {error} (log: {:?})", report.log.lines),
    }
}

/// Starts `router` on 127.0.0.1, port 0; returns its `host:port`.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr.to_string()
}
