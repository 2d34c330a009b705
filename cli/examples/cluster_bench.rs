//! Cluster benchmark: deliveries per second with 1, 2 and 3 `hookhost serve` processes on one
//! PostgreSQL, all delivering to the same loopback receiver.
//!
//! Run with `cargo build --release -p hookhost-cli && cargo run --release -p hookhost-cli
//! --example cluster_bench [webhooks] [triggers]` (defaults 1,000 × 10 = 10,000 deliveries per run). It
//! needs the local PostgreSQL (`HOOKHOST_BENCH_PG`, default
//! `postgres://postgres@127.0.0.1:5432/test`) and starts the `hookhost` binary that sits next
//! to this example's directory (`target/release/hookhost`). Each run gets a fresh database.

use axum::routing::post;
use hookhost::api::smartml::hmac_v2;
use hookhost::crypto::MasterKey;
use hookhost::store::{Handler, Scope, Store, WebhookSpec};
use serde_json::json;
use sqlx::Connection;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The current second, or the one after `last` (which it updates). An HMAC is good for one
/// request and signs only the timestamp, token, resourcetype and actionid, so triggers sent
/// faster than one a second need timestamps of their own (the host's ±10-minute window
/// leaves room for a few hundred).
fn next_timestamp(last: &mut i64) -> i64 {
    *last = (hookhost::time::now_ms() / 1000).max(*last + 1);
    *last
}

async fn fresh_database(admin: &str) -> anyhow::Result<String> {
    let name = format!(
        "hookhost_bench_{}",
        hookhost::crypto::random_alphanumeric(10).to_lowercase()
    );
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    Ok(format!("{base}/{name}"))
}

async fn run(
    instances: usize,
    webhooks: usize,
    triggers: usize,
    receiver: &str,
    seen: &AtomicUsize,
) -> anyhow::Result<f64> {
    let admin = std::env::var("HOOKHOST_BENCH_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let url = fresh_database(&admin).await?;
    let key_text = MasterKey::generate_base64();
    let key = MasterKey::from_base64(&key_text)?;
    // Seeded directly: as many webhooks as the run needs, whatever the default quota.
    let quotas = hookhost::store::Quotas {
        webhooks: (webhooks as u64).max(1),
        ..Default::default()
    };
    let store = Store::open(&url).await?.with_quotas(quotas);
    let (provider, _) = store.create_provider("Bench").await?;
    let provider = Scope::Provider(provider.id);
    let service = store.create_service(&provider, "Fan-out", &[]).await?.id;
    let tenant = store.create_tenant("Bench").await?.id;
    store
        .activate(&key, &tenant, &service, &Default::default())
        .await?;
    let user = store.create_api_user(&key, &tenant, false).await?;
    for _ in 0..webhooks {
        let spec = WebhookSpec {
            service_id: Some(service.clone()),
            description: String::new(),
            enabled: true,
            kind: None,
            object_type: None,
            handler: Handler::Url(receiver.to_owned()),
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
        store.create_webhook(&key, &provider, &spec).await?;
    }

    let binary = std::env::current_exe()?
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("hookhost"))
        .ok_or_else(|| anyhow::anyhow!("cannot locate the hookhost binary"))?;
    let dir = tempfile::tempdir()?;
    let mut children = Vec::new();
    let mut bases = Vec::new();
    for n in 0..instances {
        let port = free_port();
        let data = dir.path().join(format!("i{n}"));
        std::fs::create_dir_all(&data)?;
        let config = data.join("hookhost.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {:?}\nlisten = \"127.0.0.1:{port}\"\ndatabase_url = {url:?}\nmaster_key = {key_text:?}\n\
             log = \"warn\"\n[outbound]\nallow_insecure = true\n",
                data.display().to_string()
            ),
        )?;
        children.push(
            tokio::process::Command::new(&binary)
                .arg("--config")
                .arg(&config)
                .arg("serve")
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()?,
        );
        bases.push(format!("http://127.0.0.1:{port}"));
    }
    let client = reqwest::Client::new();
    for base in &bases {
        while client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    let before = seen.load(Ordering::SeqCst);
    let started = Instant::now();
    let actionid = "urn:onoffice-de-ns:smart:2.5:smartml:action:do";
    let mut timestamp = 0;
    for t in 0..triggers {
        let ts = next_timestamp(&mut timestamp);
        let hmac = hmac_v2(
            &user.secret,
            &ts.to_string(),
            &user.token,
            "executeMarketplaceWebhooks",
            actionid,
        );
        let body = json!({"token": user.token, "request": {"actions": [{
            "actionid": actionid, "resourceid": (t + 1).to_string(), "identifier": "",
            "resourcetype": "executeMarketplaceWebhooks", "timestamp": ts, "hmac": hmac,
            "hmac_version": "2", "parameters": {"module": "estate"}}]}});
        let base = &bases[t % bases.len()];
        client
            .post(format!("{base}/api/stable/api.php"))
            .body(body.to_string())
            .send()
            .await?;
    }
    let total = webhooks * triggers;
    while seen.load(Ordering::SeqCst) - before < total {
        tokio::time::sleep(Duration::from_millis(20)).await;
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "deliveries did not finish"
        );
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    drop(children);
    store.pool().close().await;
    let name = url.rsplit('/').next().unwrap_or_default();
    let mut conn = sqlx::PgConnection::connect(&admin).await?;
    let drop_sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    sqlx::query(sqlx::AssertSqlSafe(drop_sql))
        .execute(&mut conn)
        .await?;
    Ok(rate)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let webhooks: usize = std::env::args().nth(1).map_or(Ok(1000), |s| s.parse())?;
    let triggers: usize = std::env::args().nth(2).map_or(Ok(10), |s| s.parse())?;
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { "ok" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let receiver = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    println!(
        "{webhooks} URL webhooks × {triggers} smartml triggers = {} deliveries per run, PostgreSQL",
        webhooks * triggers
    );
    for instances in 1..=3 {
        let rate = run(instances, webhooks, triggers, &receiver, &seen).await?;
        println!("{instances} instance(s): {rate:>8.0} deliveries/s");
    }
    Ok(())
}
