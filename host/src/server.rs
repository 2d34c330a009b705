//! The HTTP server. For now it serves the bundled example plugins (the `demo` playground) and
//! the operational endpoints.

use crate::config::Config;
use crate::runner;
use crate::sandbox::{
    CallContext, Event, Invocation, KvStore, MemoryKv, OutboundPolicy, Plugin, Runtime, Tenant,
};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    runtime: Runtime,
    /// The bundled plugins, by name.
    plugins: Arc<BTreeMap<String, Arc<Plugin>>>,
    /// One key-value scope per plugin (the playground has one tenant).
    kv: Arc<BTreeMap<String, Arc<MemoryKv>>>,
    /// Base URL of this server, for the playground's own newsletter sink.
    base_url: String,
    /// What the playground's newsletter sink received.
    subscribers: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl AppState {
    /// Loads the bundled plugins into `runtime`.
    pub fn new(runtime: Runtime, base_url: String) -> anyhow::Result<Self> {
        let mut plugins = BTreeMap::new();
        let mut kv = BTreeMap::new();
        for (name, wasm) in crate::plugins::BUNDLED {
            plugins.insert(name.to_string(), runtime.load(wasm)?);
            kv.insert(name.to_string(), Arc::new(MemoryKv::default()));
        }
        Ok(AppState {
            runtime,
            plugins: Arc::new(plugins),
            kv: Arc::new(kv),
            base_url,
            subscribers: Arc::default(),
        })
    }
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .route("/v0/plugins", get(list_plugins))
        .route("/v0/plugins/{name}/invoke", post(invoke))
        .route("/v0/newsletter-sink", post(sink).get(sink_contents))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// `serve` and `demo`.
pub async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&config.listen).await?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    let runtime = Runtime::new(config.sandbox.clone(), Some(&config.compiled_dir()))?;
    let state = {
        let runtime = runtime.clone();
        let base_url = base_url.clone();
        tokio::task::spawn_blocking(move || AppState::new(runtime, base_url)).await??
    };
    if demo {
        print_demo(&config, &base_url)?;
    }
    tracing::info!(%addr, allocator = ?runtime.allocator(), "listening");
    run(listener, state, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = ctrl_c => {},
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn list_plugins(State(state): State<AppState>) -> Json<serde_json::Value> {
    let list: Vec<_> = state
        .plugins
        .iter()
        .map(|(name, p)| json!({"name": name, "component": p.info}))
        .collect();
    Json(json!({ "data": list }))
}

#[derive(Debug, Deserialize)]
struct InvokeQuery {
    module: String,
    #[serde(default)]
    record: String,
    #[serde(default)]
    event: Option<String>,
}

async fn invoke(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<InvokeQuery>,
    payload: String,
) -> Response {
    let Some(plugin) = state.plugins.get(&name) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no plugin `{name}`")})),
        )
            .into_response();
    };
    let event = match query.event.as_deref().map(runner::parse_event).transpose() {
        Ok(event) => event.unwrap_or(Event::Update),
        Err(message) => {
            return (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response();
        }
    };
    let invocation = Invocation {
        webhook_id: format!("WBH-DEMO-{}", name.len()),
        tenant: Tenant {
            id: "demo".into(),
            name: "Demo tenant".into(),
        },
        module: query.module,
        record_id: query.record,
        event,
        payload,
        parameters: Vec::new(),
        delivery_id: format!("demo-{}", std::process::id()),
        attempt: 1,
    };
    // The playground's activation: the newsletter connector posts to this server's sink.
    let host = state.base_url.trim_start_matches("http://").to_owned();
    let config = BTreeMap::from([(
        "newsletter_url".to_owned(),
        format!("{}/v0/newsletter-sink", state.base_url),
    )]);
    let kv: Arc<dyn KvStore> = state.kv[&name].clone();
    let ctx = CallContext {
        limits: state.runtime.limits_for(None),
        config: Arc::new(config),
        kv,
        outbound: OutboundPolicy::new(&[host]),
    };
    let report = state.runtime.call(plugin, &invocation, ctx).await;
    let status = if report.result.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let body = match &report.result {
        Ok(outcome) => json!({
            "outcome": {
                "body": serde_json::from_str::<serde_json::Value>(&outcome.body).unwrap_or_else(|_| json!(outcome.body)),
                "updates": outcome.updates.iter().map(|u| json!({"field": u.field, "value": u.value})).collect::<Vec<_>>(),
            },
            "durationMs": report.duration.as_secs_f64() * 1000.0,
            "log": report.log,
        }),
        Err(error) => json!({
            "failure": runner::failure_json(error),
            "durationMs": report.duration.as_secs_f64() * 1000.0,
            "log": report.log,
        }),
    };
    (status, Json(body)).into_response()
}

async fn sink(State(state): State<AppState>, Json(body): Json<serde_json::Value>) -> StatusCode {
    state
        .subscribers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(body);
    StatusCode::CREATED
}

async fn sink_contents(State(state): State<AppState>) -> Json<serde_json::Value> {
    let received = state
        .subscribers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Json(json!({ "data": received }))
}

/// Sample payloads for the playground, one per bundled plugin: (plugin, module, record, payload).
const SAMPLES: &[(&str, &str, &str, &str)] = &[
    (
        "echo",
        "estate",
        "15005",
        r#"{"kaufpreis": 350000, "wohnflaeche": 92}"#,
    ),
    (
        "valuation",
        "estate",
        "15005",
        r#"{"kaufpreis": 350000, "wohnflaeche": 92, "plz": "52062", "ort": "Aachen", "baujahr": 1998, "zustand": "gepflegt"}"#,
    ),
    (
        "newsletter-connector",
        "address",
        "4711",
        r#"{"Email": "erika.mustermann@example.com", "Vorname": "Erika", "Name": "Mustermann", "Anrede": "Frau", "newsletter_aktiv": true}"#,
    ),
    (
        "order-validator",
        "Order",
        "ORD-1234-5678",
        r#"{"id": "ORD-1234-5678", "product": {"id": "PRD-1111-2222"}, "lines": [{"id": "ALI-1", "item": {"id": "ITM-1", "name": "Seat"}, "quantity": 0}]}"#,
    ),
];

fn print_demo(config: &Config, base_url: &str) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir.join("plugins"))?;
    std::fs::create_dir_all(dir.join("samples"))?;
    let exe = std::env::current_exe()?;
    let exe = exe.display();
    println!("hookhost demo: the bundled plugins are served at {base_url}\n");
    let mut plugins = Vec::new();
    for (name, wasm) in crate::plugins::BUNDLED {
        let wasm_path = dir.join("plugins").join(format!("{name}.wasm"));
        std::fs::write(&wasm_path, wasm)?;
        plugins.push(json!({"name": name, "component": wasm_path}));
    }
    for (name, module, record, payload) in SAMPLES {
        let sample = dir.join("samples").join(format!("{name}.json"));
        std::fs::write(&sample, payload)?;
        let wasm_path = dir.join("plugins").join(format!("{name}.wasm"));
        println!("# {name}: invoke it through the server, then locally with the runner");
        println!(
            "curl -s -X POST '{base_url}/v0/plugins/{name}/invoke?module={module}&record={record}' --data-binary @{}",
            sample.display()
        );
        println!(
            "{exe} plugin run {} --module {module} --record {record} --payload {}{}\n",
            wasm_path.display(),
            sample.display(),
            if *name == "newsletter-connector" {
                let host = base_url.trim_start_matches("http://");
                format!(" --set newsletter_url={base_url}/v0/newsletter-sink --allow-host {host}")
            } else {
                String::new()
            }
        );
    }
    println!("# what the newsletter sink received\ncurl -s {base_url}/v0/newsletter-sink\n");
    let demo = json!({"base_url": base_url, "plugins": plugins});
    std::fs::write(dir.join("demo.json"), serde_json::to_string_pretty(&demo)?)?;
    Ok(())
}
