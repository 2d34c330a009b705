//! Contention benchmark: how much busy plugins slow everyone else down, and how well their
//! deadlines hold.
//!
//! Run with `cargo run --release -p hookhost-cli --example contention_bench [seconds] [spinners]`
//! (defaults: 5 s, 8 spinning callers). The host runs on two worker threads, as on a
//! two-core machine; the load generator runs on a thread of its own with its own runtime.
//! Phase 1 measures `echo` through the Ivanti execute endpoint on an idle host, one request at
//! a time; phase 2 measures the same while `spinners` callers keep calling a component that
//! spins until its 1 s deadline, and reports how long those calls took past their deadline.
//! The aim: echo's p99 under load within 10x its idle p99, deadlines within one epoch tick
//! (5 ms) plus the answer's way back.

use hookhost::store::{Handler, Scope, WebhookSpec};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const ECHO_BODY: &str = r#"{"Subject":"Printer on fire","Priority":2}"#;
const SPIN_BODY: &str = r#"{"action":"loop"}"#;
const SPIN_DEADLINE_MS: u64 = 1000;

struct Latencies(Vec<Duration>);

impl Latencies {
    fn pct(&self, p: f64) -> f64 {
        let mut all = self.0.clone();
        all.sort();
        all[((all.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3
    }

    fn line(&self) -> String {
        format!(
            "p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  ({} calls)",
            self.pct(0.5),
            self.pct(0.99),
            self.pct(1.0),
            self.0.len()
        )
    }
}

async fn post(client: &reqwest::Client, url: &str, key: &str, body: &'static str) -> u16 {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", format!("rest_api_key={key}"))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    response.bytes().await.unwrap();
    status
}

/// Echo latencies, one request at a time for `seconds`, with `spinners` callers spinning.
async fn measure(base: &str, key: &str, seconds: u64, spinners: usize) -> (Latencies, Latencies) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..spinners {
        let (url, key, stop) = (
            format!("{base}?extension=SpinBench"),
            key.to_owned(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut took = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let status = post(&client, &url, &key, SPIN_BODY).await;
                assert!(status >= 500, "the spinning call should fail: {status}");
                took.push(t.elapsed());
            }
            took
        }));
    }
    if spinners > 0 {
        // Let the spinners fill the host first.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let client = reqwest::Client::new();
    let url = format!("{base}?extension=EchoBench");
    let mut echo = Vec::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        let t = Instant::now();
        let status = post(&client, &url, key, ECHO_BODY).await;
        assert_eq!(status, 200);
        echo.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut spins = Vec::new();
    for task in tasks {
        spins.extend(task.await.unwrap());
    }
    (Latencies(echo), Latencies(spins))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args().nth(1).map_or(Ok(5), |s| s.parse())?;
    let spinners: usize = std::env::args().nth(2).map_or(Ok(8), |s| s.parse())?;

    let data = tempfile::tempdir()?;
    let mut config = hookhost::config::Config::defaults();
    config.data_dir = data.path().to_owned();
    config.master_key = Some(hookhost::crypto::MasterKey::generate_base64());
    config.log = "warn".into();
    config.delivery.enabled = false;
    config.process.enabled = false;
    let tick = config.sandbox.epoch_tick_ms;
    let state = hookhost::server::build_state(config).await?;
    let store = state.store.clone();
    let (provider, _) = store.create_provider("Bench").await?;
    let provider = Scope::Provider(provider.id);
    let service = store.create_service(&provider, "Bench", &[]).await?;
    let tenant = store.create_tenant("Bench tenant").await?;
    store
        .activate(&state.key, &tenant.id, &service.id, &Default::default())
        .await?;
    let (_, key) = store.create_api_key(&tenant.id).await?;
    for (path, name, extension) in [
        (hookhost_plugins::ECHO, "echo", "EchoBench"),
        (hookhost_plugins::MISBEHAVE, "misbehave", "SpinBench"),
    ] {
        let wasm = std::fs::read(path)?;
        let plugin = state.runtime.load(&wasm)?;
        let component = store
            .insert_component(&provider, name, "1.0.0", &plugin.info, &wasm)
            .await?;
        let spec = WebhookSpec {
            service_id: Some(service.id.clone()),
            description: name.into(),
            enabled: true,
            kind: None,
            object_type: None,
            handler: Handler::Component(component.id),
            transform: None,
            modules: Vec::new(),
            extension: Some(extension.into()),
            criteria: Default::default(),
            limits: None,
            allowed_hosts: Vec::new(),
            retry_policy: None,
            event_types: None,
            rate_limit: None,
            fifo: false,
        };
        store.create_webhook(&state.key, &provider, &spec).await?;
    }
    let runtime = state.runtime.clone();
    let spin_plugin = runtime.load(&std::fs::read(hookhost_plugins::MISBEHAVE)?)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!(
        "http://{}/api/rest/Webhooks/Execute",
        listener.local_addr()?
    );
    tokio::spawn(hookhost::server::run(
        listener,
        state,
        std::future::pending(),
    ));

    // The load generator: a thread and a runtime of its own.
    let report = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            measure(&base, &key, 1, 0).await; // warm-up
            let (idle, _) = measure(&base, &key, seconds, 0).await;
            let (loaded, spins) = measure(&base, &key, seconds, spinners).await;
            (idle, loaded, spins)
        })
    })
    .join()
    .expect("the load generator panicked");
    let (idle, loaded, spins) = report;
    println!(
        "host: 2 worker threads, epoch tick {tick} ms; echo one request at a time, {seconds} s per phase"
    );
    println!("  echo, idle host:           {}", idle.line());
    println!("  echo, {spinners} callers spinning: {}", loaded.line());
    println!(
        "  p99 under load / p99 idle: {:.1}x (aim: at most 10x)",
        loaded.pct(0.99) / idle.pct(0.99)
    );
    let overrun = Latencies(
        spins
            .0
            .iter()
            .map(|d| d.saturating_sub(Duration::from_millis(SPIN_DEADLINE_MS)))
            .collect(),
    );
    println!(
        "  spinning calls past their {SPIN_DEADLINE_MS} ms deadline (as the caller sees them): {}",
        overrun.line()
    );

    // The sandbox's own view of the deadline: the same spinning calls, run on the host's
    // workers directly, three rounds.
    let mut inside = Vec::new();
    for _ in 0..3 {
        let calls: Vec<_> = (0..spinners)
            .map(|_| {
                let (runtime, plugin) = (runtime.clone(), spin_plugin.clone());
                tokio::spawn(async move {
                    let invocation = hookhost::sandbox::Invocation {
                        webhook_id: "WBH-0000-0000".into(),
                        tenant: hookhost::sandbox::Tenant {
                            id: "bench".into(),
                            name: "Bench".into(),
                        },
                        module: "estate".into(),
                        record_id: "1".into(),
                        event: hookhost::sandbox::Event::Update,
                        payload: SPIN_BODY.into(),
                        parameters: Vec::new(),
                        delivery_id: "bench".into(),
                        attempt: 1,
                    };
                    let ctx = hookhost::sandbox::CallContext {
                        limits: runtime.limits_for(None),
                        config: Arc::default(),
                        secrets: Arc::default(),
                        kv: Arc::new(hookhost::sandbox::MemoryKv::default()),
                        outbound: Default::default(),
                    };
                    runtime.call(&plugin, &invocation, ctx).await.duration
                })
            })
            .collect();
        for call in calls {
            let took = call.await?;
            inside.push(took.saturating_sub(Duration::from_millis(SPIN_DEADLINE_MS)));
        }
    }
    println!(
        "  the same, measured inside the sandbox ({spinners} at once, 3 rounds):            {}",
        Latencies(inside).line()
    );
    Ok(())
}
