//! Ivanti execute benchmark: throughput and latency of `POST /api/rest/Webhooks/Execute`
//! with the `echo` plugin, against a bare axum handler returning a constant (the ceiling of
//! this machine), under the same concurrent load on loopback.
//!
//! Run with `cargo run --release -p hookhost-cli --example ivanti_bench [seconds] [connections]
//! [rounds]` (defaults: 5 s, 32 connections, 3 rounds). The load generator runs in the same
//! process (as wrk would on the same machine): both servers are measured under the same
//! conditions, so the ratio is what matters. Each round measures the ceiling and then the
//! host, back to back, so a change in the machine's speed (other tenants of a shared host)
//! affects both; the median round is the figure.

use axum::routing::post;
use hookhost::store::{Handler, Scope, WebhookSpec};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const BODY: &str = r#"{"Subject":"Printer on fire","Priority":2,"Category":"Hardware","Description":"The printer on the 3rd floor is on fire again.","Requester":"erika.mustermann@example.com"}"#;

struct Figures {
    requests: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn load(url: String, auth: Option<String>, seconds: u64, connections: usize) -> Figures {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..connections {
        let (url, auth, stop) = (url.clone(), auth.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let mut request = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(BODY);
                if let Some(auth) = &auth {
                    request = request.header("authorization", auth);
                }
                let response = request.send().await.unwrap();
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    Figures {
        requests: all.len() as u64,
        rps: all.len() as f64 / elapsed,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args().nth(1).map_or(Ok(5), |s| s.parse())?;
    let connections: usize = std::env::args().nth(2).map_or(Ok(32), |s| s.parse())?;
    let rounds: usize = std::env::args().nth(3).map_or(Ok(3), |s| s.parse())?;

    // The bare ceiling: axum returning a constant.
    let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_url = format!("http://{}/execute", bare.local_addr()?);
    let app = axum::Router::new().route("/execute", post(|| async { "{\"ok\":true}" }));
    tokio::spawn(async move { axum::serve(bare, app).await.unwrap() });

    // The host, on SQLite, with echo behind an Ivanti extension.
    let data = tempfile::tempdir()?;
    let mut config = hookhost::config::Config::defaults();
    config.data_dir = data.path().to_owned();
    config.master_key = Some(hookhost::crypto::MasterKey::generate_base64());
    config.log = "warn".into();
    let state = hookhost::server::build_state(config).await?;
    let store = state.store.clone();
    let (provider, _) = store.create_provider("Bench").await?;
    let provider = Scope::Provider(provider.id);
    let service = store.create_service(&provider, "Echo", &[]).await?;
    let tenant = store.create_tenant("Bench tenant").await?;
    store
        .activate(&state.key, &tenant.id, &service.id, &Default::default())
        .await?;
    let (_, key) = store.create_api_key(&tenant.id).await?;
    let wasm = std::fs::read(hookhost_plugins::ECHO)?;
    let plugin = state.runtime.load(&wasm)?;
    let component = store
        .insert_component(&provider, "echo", "1.0.0", &plugin.info, &wasm)
        .await?;
    let spec = WebhookSpec {
        service_id: Some(service.id.clone()),
        description: "bench".into(),
        enabled: true,
        kind: None,
        object_type: None,
        handler: Handler::Component(component.id),
        modules: Vec::new(),
        extension: Some("EchoBench".into()),
        criteria: Default::default(),
        limits: None,
        allowed_hosts: Vec::new(),
        retry_policy: None,
        event_types: None,
        rate_limit: None,
        fifo: false,
    };
    store.create_webhook(&state.key, &provider, &spec).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let host_url = format!(
        "http://{}/api/rest/Webhooks/Execute?extension=EchoBench",
        listener.local_addr()?
    );
    tokio::spawn(hookhost::server::run(
        listener,
        state,
        std::future::pending(),
    ));

    let auth = Some(format!("rest_api_key={key}"));
    load(host_url.clone(), auth.clone(), 1, connections).await; // warm-up
    println!(
        "load: {connections} connections, {seconds} s each, 2 worker threads, {} byte body",
        BODY.len()
    );
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let ceiling = load(bare_url.clone(), None, seconds, connections).await;
        let host = load(host_url.clone(), auth.clone(), seconds, connections).await;
        println!("round {round}");
        for (name, f) in [
            ("bare axum (ceiling)", &ceiling),
            ("ivanti execute + echo", &host),
        ] {
            println!(
                "  {name:<24} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests)",
                f.rps, f.p50_ms, f.p99_ms, f.requests
            );
        }
        let ratio = host.rps / ceiling.rps * 100.0;
        println!("  ratio: {ratio:.1}% of the ceiling");
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "median ratio over {rounds} rounds: {:.1}% of the ceiling (lowest {:.1}%, highest {:.1}%)",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
    Ok(())
}
