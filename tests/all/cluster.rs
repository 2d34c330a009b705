//! Several host processes on one PostgreSQL database: consistent views, no lost deliveries
//! when one is killed, exact statistics, safe concurrent registry edits.

use crate::process::{HostProcess, free_port};
use crate::support::{
    ADMIN_TOKEN, PgDatabase, Receiver, Reply, smartml_action, smartml_request, smartml_timestamp,
};
use axum::http::StatusCode;
use hookhost::crypto::MasterKey;
use hookhost::store::{Handler, Scope, Store, WebhookSpec};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A cluster's shared settings and its instances' files.
struct Cluster {
    db: PgDatabase,
    dir: tempfile::TempDir,
    key: String,
}

impl Cluster {
    async fn new() -> Cluster {
        Cluster {
            db: PgDatabase::create().await,
            dir: tempfile::tempdir().unwrap(),
            key: MasterKey::generate_base64(),
        }
    }

    /// Writes instance `n`'s configuration; returns (config path, base URL, log path).
    fn instance_files(&self, n: usize) -> (PathBuf, String, PathBuf) {
        let port = free_port();
        let data = self.dir.path().join(format!("instance-{n}"));
        std::fs::create_dir_all(&data).unwrap();
        let config = format!(
            "data_dir = {data:?}\nlisten = \"127.0.0.1:{port}\"\ndatabase_url = {url:?}\n\
             master_key = {key:?}\nadmin_token = {ADMIN_TOKEN:?}\nlog = \"warn\"\n\
             [outbound]\nallow_insecure = true\ntimeout_ms = 2000\n\
             [sandbox.ceilings]\ntimeout_ms = 2000\n\
             [delivery]\nlease_ms = 4000\npoll_ms = 50\nconcurrency = 32\n",
            data = data.display().to_string(),
            url = self.db.url,
            key = self.key,
        );
        let path = data.join("hookhost.toml");
        std::fs::write(&path, config).unwrap();
        (
            path,
            format!("http://127.0.0.1:{port}"),
            data.join("hookhost.log"),
        )
    }

    async fn start(&self, n: usize) -> HostProcess {
        let (config, base, log) = self.instance_files(n);
        HostProcess::start(&config, &base, &log).await
    }

    async fn store(&self) -> Store {
        Store::open(&self.db.url).await.unwrap()
    }
}

/// A provider, a service, a tenant with a smartml user activated for it.
struct Seed {
    provider: Scope,
    provider_token: String,
    service: String,
    token: String,
    secret: String,
}

async fn seed(store: &Store, key: &str) -> Seed {
    let key = MasterKey::from_base64(key).unwrap();
    let (provider, provider_token) = store.create_provider("Cluster provider").await.unwrap();
    let provider = Scope::Provider(provider.id);
    let service = store
        .create_service(&provider, "Fan-out", &[])
        .await
        .unwrap()
        .id;
    let tenant = store.create_tenant("Cluster tenant").await.unwrap().id;
    store
        .activate(&key, &tenant, &service, &Default::default())
        .await
        .unwrap();
    let user = store.create_api_user(&key, &tenant, false).await.unwrap();
    Seed {
        provider,
        provider_token,
        service,
        token: user.token,
        secret: user.secret,
    }
}

/// A signed smartml request triggering estate webhooks for each record; its actions share
/// an HMAC of their own.
fn smartml(seed: &Seed, records: impl Iterator<Item = usize>) -> Value {
    let ts = smartml_timestamp();
    let actions: Vec<Value> = records
        .map(|r| {
            let estate = json!({"module": "estate"});
            smartml_action(
                &seed.token,
                &seed.secret,
                ts,
                "executeMarketplaceWebhooks",
                &r.to_string(),
                estate,
            )
        })
        .collect();
    smartml_request(&seed.token, &actions)
}

async fn url_webhooks(
    store: &Store,
    seed: &Seed,
    key: &str,
    url: &str,
    count: usize,
) -> Vec<String> {
    let key = MasterKey::from_base64(key).unwrap();
    let spec = WebhookSpec::new(&seed.service, Handler::Url(url.to_owned())).modules(["estate"]);
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.push(
            store
                .create_webhook(&key, &seed.provider, &spec)
                .await
                .unwrap()
                .0
                .id,
        );
    }
    ids
}

async fn wait_until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool, log: &Path) {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < limit,
            "{what} did not happen within {limit:?}; last log:\n{}",
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_one_view_of_the_registry_and_statistics() {
    let cluster = Cluster::new().await;
    let store = cluster.store().await;
    let seed = seed(&store, &cluster.key).await;
    let tenant_key = {
        let tenant = store.list_tenants().await.unwrap()[0].id.clone();
        store.create_api_key(&tenant).await.unwrap().1
    };
    let (one, two, three) = (
        cluster.start(1).await,
        cluster.start(2).await,
        cluster.start(3).await,
    );
    let client = reqwest::Client::new();

    // Create through instance 1.
    let components = std::fs::read(hookhost_plugins::ECHO).unwrap();
    let uploaded: Value = client
        .post(format!(
            "{}/public/v1/components?name=echo&version=1.0.0",
            one.base
        ))
        .bearer_auth(&seed.provider_token)
        .header("content-type", "application/wasm")
        .body(components)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created: Value = client
        .post(format!("{}/public/v1/notifications/webhooks", one.base))
        .bearer_auth(&seed.provider_token)
        .json(
            &json!({"description": "cluster echo", "service": {"id": seed.service},
                      "handler": {"component": uploaded["id"]}, "extension": "ClusterEcho",
                      "modules": ["estate"]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("created").to_owned();

    // Execute through instance 2: synchronously (Ivanti) and through the outbox (smartml).
    for i in 0..5 {
        let response = client
            .post(format!(
                "{}/api/rest/Webhooks/Execute?extension=ClusterEcho",
                two.base
            ))
            .header("authorization", format!("rest_api_key={tenant_key}"))
            .header("content-type", "application/json")
            .body(json!({"n": i}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            response.text().await.unwrap()
        );
    }
    let response = client
        .post(format!("{}/api/stable/api.php", two.base))
        .body(smartml(&seed, 1..=3).to_string())
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"]["errorcode"], 0, "{body}");

    // Read through instance 3: every call counted once, whoever ran it.
    let webhook_url = format!("{}/public/v1/notifications/webhooks/{id}", three.base);
    wait_until(
        "all 8 calls counted",
        Duration::from_secs(30),
        async || {
            let got: Value = client
                .get(&webhook_url)
                .bearer_auth(&seed.provider_token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            got["statistics"]["total"] == 8
        },
        &three.log,
    )
    .await;
    let got: Value = client
        .get(&webhook_url)
        .bearer_auth(&seed.provider_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        got["statistics"],
        json!({"total": 8, "successes": 8, "failures": 0, "failuresSinceLastSuccess": 0})
    );
    assert_eq!(got["extension"], "ClusterEcho");
    let calls: Value = client
        .get(format!("{webhook_url}/calls?limit=100"))
        .bearer_auth(&seed.provider_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["$meta"]["pagination"]["total"], 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_loses_no_delivery_of_a_ten_thousand_fan_out() {
    let cluster = Cluster::new().await;
    let store = cluster.store().await;
    let seed = seed(&store, &cluster.key).await;
    // A little work per call, so a fan-out takes a while.
    let receiver =
        Receiver::scripted(|_, _| Reply::status(200).after(Duration::from_millis(2))).await;
    url_webhooks(&store, &seed, &cluster.key, &receiver.url("/hook"), 500).await;
    let mut instances = vec![
        cluster.start(1).await,
        cluster.start(2).await,
        cluster.start(3).await,
    ];
    let client = reqwest::Client::new();

    // 500 webhooks × 20 records = 10,000 deliveries, triggered through all three instances.
    for (i, chunk) in (1..=20).collect::<Vec<_>>().chunks(5).enumerate() {
        let target = &instances[i % 3].base;
        let response = client
            .post(format!("{target}/api/stable/api.php"))
            .body(smartml(&seed, chunk.iter().copied()).to_string())
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"]["errorcode"], 0, "{body}");
    }
    let planned = store.delivery_counts().await.unwrap().values().sum::<i64>();
    assert_eq!(planned, 10_000);

    // Kill instance 2 (SIGKILL: no shutdown, leases stay taken) halfway through.
    let log = instances[1].log.clone();
    wait_until(
        "half of the deliveries",
        Duration::from_secs(60),
        async || receiver.count() >= 5_000,
        &log,
    )
    .await;
    instances[1].kill().await;

    let done_log = instances[0].log.clone();
    wait_until(
        "every delivery succeeded",
        Duration::from_secs(120),
        async || {
            store
                .delivery_counts()
                .await
                .unwrap()
                .get("succeeded")
                .copied()
                == Some(10_000)
        },
        &done_log,
    )
    .await;

    // How often each webhook-id (delivery) arrived.
    let mut seen: HashMap<String, u32> = HashMap::new();
    for hit in receiver.hits() {
        *seen.entry(hit.webhook_id().to_owned()).or_default() += 1;
    }
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM deliveries")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let missing = ids.iter().filter(|id| !seen.contains_key(*id)).count();
    assert_eq!(missing, 0, "every delivery arrived");
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    // Only what the killed instance held leased can arrive twice (twice its concurrency of
    // 32), and a duplicate carries the same webhook-id (it is the same key in `seen`).
    assert!(duplicates <= 64, "{duplicates} duplicates");
    assert_eq!(seen.len(), 10_000);

    // Statistics equal what the receiver saw: a delivery's success is recorded in the same
    // transaction that finishes it, so an attempt the killed instance could not finish is
    // neither counted nor lost (another instance repeats and counts it).
    let successes: i64 =
        sqlx::query_scalar("SELECT CAST(SUM(stat_successes) AS BIGINT) FROM webhooks")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(successes as usize, seen.len());
    for instance in &mut instances {
        instance.kill().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_from_two_instances_never_corrupt_a_webhook() {
    let cluster = Cluster::new().await;
    let store = cluster.store().await;
    let seed = seed(&store, &cluster.key).await;
    let (one, two) = (cluster.start(1).await, cluster.start(2).await);
    let client = reqwest::Client::new();
    let created = client.post(format!("{}/public/v1/notifications/webhooks", one.base))
        .bearer_auth(&seed.provider_token)
        .json(&json!({"description": "v0", "service": {"id": seed.service}, "url": "https://example.com/a", "modules": ["estate"]}))
        .send().await.unwrap();
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    // Each round both instances update from the same revision: exactly one wins, the other
    // is refused with 412, and the webhook is always one write or the other, never a mix.
    let webhook_url = |base: &str| format!("{base}/public/v1/notifications/webhooks/{id}");
    let put = |base: String, etag: String, name: &'static str| {
        let (client, token, service, url) = (
            client.clone(),
            seed.provider_token.clone(),
            seed.service.clone(),
            webhook_url(&base),
        );
        async move {
            client.put(url).bearer_auth(token).header("if-match", etag)
                .json(&json!({"description": format!("from {name}"), "service": {"id": service},
                              "url": format!("https://{name}.example.com/"), "modules": ["estate"]}))
                .send().await.unwrap().status()
        }
    };
    let mut etag = etag;
    for _ in 0..10 {
        let (a, b) = tokio::join!(
            put(one.base.clone(), etag.clone(), "one"),
            put(two.base.clone(), etag.clone(), "two")
        );
        let mut statuses = [a, b];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
        let current = client
            .get(webhook_url(&two.base))
            .bearer_auth(&seed.provider_token)
            .send()
            .await
            .unwrap();
        etag = current.headers()["etag"].to_str().unwrap().to_owned();
        let got: Value = current.json().await.unwrap();
        let name = got["description"]
            .as_str()
            .unwrap()
            .trim_start_matches("from ")
            .to_owned();
        assert_eq!(got["url"], format!("https://{name}.example.com/"), "{got}");
    }
}
