//! Delivery benchmark: how fast the outbox drains to URL handlers, against a plain HTTP client
//! posting the same bodies to the same receiver with the same concurrency, and against `wrk`
//! doing the same from outside (the ceilings of this machine: the reqwest loop is a slower
//! sender, so the softer one).
//!
//! Run with `cargo run --release -p hookhost-cli --example delivery_bench [webhooks] [triggers]
//! [rounds] [concurrency]` (defaults: 1,000 URL webhooks × 10 smartml `executeMarketplaceWebhooks`
//! triggers = 10,000 deliveries, 3 rounds, each the host and then the ceiling; the median round
//! is the figure; `delivery.concurrency` as configured by default, and the ceilings at the same
//! concurrency). The host runs in process on SQLite with its default `[delivery]` settings;
//! the receiver is a bare axum handler on loopback. The host's figure runs from the first
//! trigger until the receiver has seen every delivery, so it includes planning (smartml
//! authentication, webhook resolution, the outbox transaction), claiming, signing (Standard
//! Webhooks and JWT), the call, the call log and the outbox update. Each round also says where
//! the host's time went: CPU and bytes written per delivery by SQLite's connection threads,
//! and CPU of the runtime's workers (read from `/proc/self/task`). With `PERF_DATA=<file>` it
//! records a `perf` profile with call stacks of the first round's host phase.

#[path = "common/load.rs"]
mod load;

use hookhost::api::smartml::hmac_v2;
use hookhost::store::{Handler, Scope, WebhookSpec};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Counts requests and says when `target` were seen.
#[derive(Default)]
struct Counter {
    seen: AtomicUsize,
    target: AtomicUsize,
    done: Notify,
}

impl Counter {
    async fn wait(&self, target: usize) {
        loop {
            let done = self.done.notified();
            if self.seen.load(Ordering::SeqCst) >= target {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), done).await;
        }
    }
}

/// What the threads named `prefix…` did between `before` and `after`: CPU ns, bytes written.
fn spent(
    before: &std::collections::BTreeMap<String, (u64, u64)>,
    after: &std::collections::BTreeMap<String, (u64, u64)>,
    prefix: &str,
) -> (u64, u64) {
    let total = |sums: &std::collections::BTreeMap<String, (u64, u64)>| {
        sums.iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .fold((0, 0), |(c, w), (_, (cpu, written))| (c + cpu, w + written))
    };
    let (b, a) = (total(before), total(after));
    (a.0.saturating_sub(b.0), a.1.saturating_sub(b.1))
}

/// The current second, or the one after `last` (which it updates). An HMAC is good for one
/// request and signs only the timestamp, token, resourcetype and actionid, so triggers sent
/// faster than one a second need timestamps of their own (the host's ±10-minute window
/// leaves room for a few hundred).
fn next_timestamp(last: &mut i64) -> i64 {
    *last = (hookhost::time::now_ms() / 1000).max(*last + 1);
    *last
}

fn action(token: &str, secret: &str, record: &str, timestamp: i64) -> Value {
    let actionid = "urn:onoffice-de-ns:smart:2.5:smartml:action:do";
    let resourcetype = "executeMarketplaceWebhooks";
    let hmac = hmac_v2(
        secret,
        &timestamp.to_string(),
        token,
        resourcetype,
        actionid,
    );
    json!({"actionid": actionid, "resourceid": record, "identifier": "", "resourcetype": resourcetype,
           "timestamp": timestamp, "hmac": hmac, "hmac_version": "2", "parameters": {"module": "estate"}})
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let webhooks: usize = std::env::args().nth(1).map_or(Ok(1000), |s| s.parse())?;
    let triggers: usize = std::env::args().nth(2).map_or(Ok(10), |s| s.parse())?;
    let rounds: usize = std::env::args().nth(3).map_or(Ok(3), |s| s.parse())?;
    let concurrency: Option<usize> = std::env::args().nth(4).map(|s| s.parse()).transpose()?;
    let total = webhooks * triggers;
    let wrk = load::wrk()?;

    // The receiver: counts, answers 200.
    let counter = Arc::new(Counter::default());
    let state = counter.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = state.clone();
        async move {
            let n = counter.seen.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= counter.target.load(Ordering::SeqCst) {
                counter.done.notify_waiters();
            }
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let receiver = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // The host, on SQLite, with `webhooks` URL webhooks for module estate.
    let data = tempfile::tempdir()?;
    let mut config = hookhost::config::Config::defaults();
    config.data_dir = data.path().to_owned();
    config.master_key = Some(hookhost::crypto::MasterKey::generate_base64());
    config.outbound.allow_insecure = true;
    config.log = "warn".into();
    config.quotas.webhooks = config.quotas.webhooks.max(webhooks as u64);
    if let Some(concurrency) = concurrency {
        config.delivery.concurrency = concurrency;
    }
    let concurrency = config.delivery.concurrency;
    let state = hookhost::server::build_state(config).await?;
    let store = state.store.clone();
    let (provider, _) = store.create_provider("Bench").await?;
    let provider = Scope::Provider(provider.id);
    let service = store
        .create_service(&provider, "Bench service", &[])
        .await?;
    let tenant = store.create_tenant("Bench tenant").await?;
    store
        .activate(&state.key, &tenant.id, &service.id, &Default::default())
        .await?;
    let user = store.create_api_user(&state.key, &tenant.id, false).await?;
    for i in 0..webhooks {
        let spec = WebhookSpec {
            service_id: Some(service.id.clone()),
            description: format!("bench {i}"),
            enabled: true,
            kind: None,
            object_type: None,
            handler: Handler::Url(format!("http://{receiver}/hook/{i}")),
            transform: None,
            modules: vec!["estate".into()],
            extension: None,
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let host = format!("http://{}/api/stable/api.php", listener.local_addr()?);
    tokio::spawn(hookhost::server::run(
        listener,
        state,
        std::future::pending(),
    ));

    println!(
        "{webhooks} URL webhooks × {triggers} smartml triggers = {total} deliveries; SQLite; delivery.concurrency = {concurrency}; 2 worker threads"
    );
    let client = reqwest::Client::new();
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    let mut ratios = Vec::new();
    let mut outside_ratios = Vec::new();
    let mut timestamp = 0;
    for round in 0..rounds {
        // The host: triggers in, deliveries out.
        counter.seen.store(0, Ordering::SeqCst);
        counter.target.store(total, Ordering::SeqCst);
        let records: Vec<String> = (0..triggers)
            .map(|t| format!("{}", 10_000 + round * triggers + t))
            .collect();
        let profile = (round == 0)
            .then(|| std::env::var_os("PERF_DATA"))
            .flatten()
            .map(|file| load::Profile::start(std::process::id(), std::path::Path::new(&file)))
            .transpose()?;
        let threads_before = load::threads("self");
        let started = Instant::now();
        for record in &records {
            let body = json!({"token": user.token, "request": {"actions": [action(&user.token, &user.secret, record, next_timestamp(&mut timestamp))]}});
            let answer: Value = client
                .post(&host)
                .body(body.to_string())
                .send()
                .await?
                .json()
                .await?;
            anyhow::ensure!(
                answer["status"]["errorcode"] == 0,
                "trigger refused: {answer}"
            );
        }
        let planned = started.elapsed();
        counter.wait(total).await;
        let host_time = started.elapsed();
        let threads_after = load::threads("self");
        if let Some(profile) = profile {
            profile.stop()?;
        }
        // Let the last outbox updates land (not measured), so the counts below are final.
        let mut counts = store.delivery_counts().await?;
        for _ in 0..100 {
            if counts.get("succeeded").copied().unwrap_or(0) as usize >= total * (round + 1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            counts = store.delivery_counts().await?;
        }

        // The ceiling: a plain reqwest loop, same bodies, same receiver, same concurrency.
        let bodies: Arc<Vec<String>> = Arc::new(
            records
                .iter()
                .map(|record| {
                    json!({"tenant": {"id": tenant.id, "name": tenant.name}, "module": "estate",
                           "recordId": record, "event": "update"})
                    .to_string()
                })
                .collect(),
        );
        counter.seen.store(0, Ordering::SeqCst);
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (client, next, bodies) = (client.clone(), next.clone(), bodies.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let url = format!("http://{receiver}/hook/{}", i % webhooks);
                    let response = client
                        .post(url)
                        .header("content-type", "application/json")
                        .body(bodies[i / webhooks].clone())
                        .send()
                        .await
                        .unwrap();
                    assert!(response.status().is_success());
                    response.bytes().await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await?;
        }
        let ceiling_time = started.elapsed();

        // The ceiling a real load generator sees: wrk posting the same body size to the same
        // receiver at the same concurrency.
        let outside = load::wrk_run(
            &wrk,
            &data.path().join("post.lua"),
            &load::Target {
                name: "the receiver",
                url: format!("http://{receiver}/hook/0"),
                authorization: None,
                body: bodies[0].clone(),
            },
            3,
            concurrency as u64,
        )
        .await?;

        let ratio = rate(host_time) / rate(ceiling_time) * 100.0;
        let outside_ratio = rate(host_time) / outside.rps * 100.0;
        println!("round {}", round + 1);
        println!(
            "  hookhost delivery       {:>9.0} deliveries/s  ({:.2} s; triggers answered after {:.2} s; outbox {counts:?})",
            rate(host_time),
            host_time.as_secs_f64(),
            planned.as_secs_f64()
        );
        println!(
            "  plain reqwest (ceiling) {:>9.0} requests/s    ({:.2} s)",
            rate(ceiling_time),
            ceiling_time.as_secs_f64()
        );
        println!(
            "  wrk -t1 -c{concurrency} (ceiling) {:>9.0} requests/s",
            outside.rps
        );
        println!("  ratio: {ratio:.1}% of the reqwest ceiling, {outside_ratio:.1}% of wrk's");
        // Where the host's time went: SQLite's connection threads (the pump's and the
        // planners' statements, WAL writes and checkpoints) and the runtime's workers (the
        // calls, and the receiver's side of them), per delivery and as a share of the phase.
        let per = |ns: u64| ns as f64 / 1e3 / total as f64;
        let share = |ns: u64| ns as f64 / host_time.as_nanos() as f64 * 100.0;
        let (sqlite_ns, sqlite_written) = spent(&threads_before, &threads_after, "sqlx-sqlite");
        let (workers_ns, _) = spent(&threads_before, &threads_after, "tokio-rt-worker");
        println!(
            "  per delivery: SQLite threads {:.0} µs CPU ({:.0}% of a core), {:.1} KB written; \
             runtime workers (host and receiver) {:.0} µs CPU ({:.0}% of a core)",
            per(sqlite_ns),
            share(sqlite_ns),
            sqlite_written as f64 / 1e3 / total as f64,
            per(workers_ns),
            share(workers_ns)
        );
        ratios.push(ratio);
        outside_ratios.push(outside_ratio);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "median ratio over {rounds} rounds: {:.1}% of the ceiling (lowest {:.1}%, highest {:.1}%)",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
    println!(
        "median ratio to wrk's ceiling: {:.1}%",
        load::median(&mut outside_ratios)
    );
    Ok(())
}
