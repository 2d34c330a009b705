//! Many components: a `hookhost serve` process taking thousands of uploads and then serving
//! each once, with its start-up time and resident memory watched throughout.
//!
//! Run with `cargo run --release -p hookhost-cli --example components_bench [components]
//! [loaded]` (defaults: 5,000 components, `sandbox.loaded_components` = 256). It builds the
//! `hookhost` binary in release, generates the components (the `echo` component with a custom
//! section of its own each, so each is a distinct component that compiles on its own), and:
//!
//! 1. starts the host on a fresh SQLite data directory: start-up time, idle RSS;
//! 2. uploads every component through `POST /public/v1/components` (two uploads at a time):
//!    uploads per second, RSS at the end and the highest RSS seen (sampled every 100 ms);
//! 3. registers an Ivanti webhook per component, restarts the host (nothing recompiles: the
//!    compiled artifacts are on disk): start-up time, idle RSS;
//! 4. calls every webhook once, each component cold (loaded from the on-disk artifact cache):
//!    first-call latency p50/p99/max, RSS after and the highest seen;
//! 5. reads the host's counters: components compiled and loaded from disk since the restart.

#[path = "common/load.rs"]
mod load;

use anyhow::{Context, bail};
use hookhost::crypto::MasterKey;
use hookhost::store::{Handler, Quotas, Scope, Store, WebhookSpec};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BODY: &str = r#"{"Subject":"Printer on fire","Priority":2}"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arg = |n: usize, default: usize| -> anyhow::Result<usize> {
        std::env::args()
            .nth(n)
            .map_or(Ok(default), |s| s.parse().context("arguments are numbers"))
    };
    let count = arg(1, 5000)?;
    let loaded = arg(2, 256)?;
    let binary = load::hookhost()?;
    let echo = std::fs::read(hookhost_plugins::ECHO)?;

    let dir = tempfile::tempdir()?;
    let data = dir.path();
    let key_text = MasterKey::generate_base64();
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let config = data.join("hookhost.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:{port}\"\nmaster_key = {key_text:?}\nlog = \"warn\"\n\
             [sandbox]\nloaded_components = {loaded}\n\
             [quotas]\ncomponents = {q}\nwebhooks = {q}\ncomponent_bytes = {bytes}\n",
            data.display().to_string(),
            q = count + 1,
            bytes = (count + 1) * (echo.len() + 64),
        ),
    )?;
    let url = hookhost::store::default_sqlite_url(data);
    let key = MasterKey::from_base64(&key_text)?;
    let quotas = Quotas {
        components: count as u64 + 1,
        webhooks: count as u64 + 1,
        component_bytes: ((count + 1) * (echo.len() + 64)) as u64,
        ..Default::default()
    };
    let store = Store::open(&url).await?.with_quotas(quotas);
    let (provider, token) = store.create_provider("Bench").await?;
    let scope = Scope::Provider(provider.id.clone());
    let service = store.create_service(&scope, "Echoes", &[]).await?.id;
    let tenant = store.create_tenant("Bench").await?.id;
    store
        .activate(&key, &tenant, &service, &Default::default())
        .await?;
    let (_, api_key) = store.create_api_key(&tenant).await?;

    println!(
        "{count} components ({} bytes of echo each, plus a custom section), \
         sandbox.loaded_components = {loaded}",
        echo.len()
    );
    let mut host = Host::start(&binary, &config, &base).await?;
    println!(
        "fresh host: start-up {:.2} s, idle RSS {}",
        host.startup.as_secs_f64(),
        host.rss_mib()
    );

    // Uploads, two at a time.
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let watch = host.watch();
    let mut uploaders = Vec::new();
    for _ in 0..2 {
        let (client, next, echo, base, token) = (
            client.clone(),
            next.clone(),
            echo.clone(),
            base.clone(),
            token.clone(),
        );
        uploaders.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                if n >= count {
                    return anyhow::Ok(ids);
                }
                let response = client
                    .post(format!(
                        "{base}/public/v1/components?name=echo-{n}&version=1.0.0"
                    ))
                    .bearer_auth(&token)
                    .header("content-type", "application/wasm")
                    .body(variant(&echo, n))
                    .send()
                    .await?;
                if !response.status().is_success() {
                    bail!(
                        "upload {n}: {} {}",
                        response.status(),
                        response.text().await?
                    );
                }
                let body: serde_json::Value = response.json().await?;
                let id = body["id"].as_str().context("no id")?.to_owned();
                ids.push((n, id));
            }
        }));
    }
    let mut components = Vec::new();
    for uploader in uploaders {
        components.extend(uploader.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let peak = watch.stop().await;
    println!(
        "uploads: {count} in {elapsed:.1} s ({:.1}/s), RSS after {}, highest {} MiB",
        count as f64 / elapsed,
        host.rss_mib(),
        peak
    );

    for (n, id) in &components {
        let spec = WebhookSpec {
            service_id: Some(service.clone()),
            description: String::new(),
            enabled: true,
            kind: None,
            object_type: None,
            handler: Handler::Component(id.clone()),
            modules: Vec::new(),
            extension: Some(format!("Echo{n}")),
            criteria: Default::default(),
            limits: None,
            allowed_hosts: Vec::new(),
            retry_policy: None,
            transform: None,
            event_types: None,
            rate_limit: None,
            fifo: false,
        };
        store.create_webhook(&key, &scope, &spec).await?;
    }
    host.stop().await?;
    let mut host = Host::start(&binary, &config, &base).await?;
    println!(
        "restarted host with {count} components registered: start-up {:.2} s, idle RSS {}",
        host.startup.as_secs_f64(),
        host.rss_mib()
    );

    // Every component once, cold.
    let watch = host.watch();
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for n in 0..count {
        let t = Instant::now();
        let response = client
            .post(format!(
                "{base}/api/rest/Webhooks/Execute?extension=Echo{n}"
            ))
            .header("authorization", format!("rest_api_key={api_key}"))
            .header("content-type", "application/json")
            .body(BODY)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("calling Echo{n}: {status} {text}");
        }
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let peak = watch.stop().await;
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    println!(
        "first calls: {count} cold components in {elapsed:.1} s; latency p50 {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "after touching all {count}: RSS {}, highest {} MiB",
        host.rss_mib(),
        peak
    );
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    for line in metrics.lines().filter(|l| {
        l.starts_with("hookhost_components_compiled") || l.starts_with("hookhost_components_loaded")
    }) {
        println!("  {line}");
    }
    host.stop().await?;
    Ok(())
}

/// `echo` with a custom section naming `n`: a distinct component with the same behaviour.
fn variant(echo: &[u8], n: usize) -> Vec<u8> {
    let name = b"hookhost-bench";
    let payload = n.to_string();
    let mut content = Vec::new();
    leb128(&mut content, name.len());
    content.extend_from_slice(name);
    content.extend_from_slice(payload.as_bytes());
    let mut wasm = echo.to_vec();
    wasm.push(0); // custom section
    leb128(&mut wasm, content.len());
    wasm.extend_from_slice(&content);
    wasm
}

fn leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A running `hookhost serve`.
struct Host {
    child: tokio::process::Child,
    pid: u32,
    startup: Duration,
}

/// Samples a process's RSS until stopped; answers the highest seen.
struct Watch {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl Watch {
    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or(0)
    }
}

/// A field of `/proc/<pid>/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS")
}

impl Host {
    async fn start(binary: &Path, config: &Path, base: &str) -> anyhow::Result<Host> {
        let started = Instant::now();
        let child = tokio::process::Command::new(binary)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().context("the host exited")?;
        let client = reqwest::Client::new();
        loop {
            if let Ok(response) = client.get(format!("{base}/readyz")).send().await
                && response.status().is_success()
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the host was not ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(Host {
            child,
            pid,
            startup: started.elapsed(),
        })
    }

    /// Resident memory: the total, and its parts (anonymous: the heap, compiled code and
    /// instances; file-backed: the database's memory map and loaded artifacts, pages the
    /// kernel can drop and read again).
    fn rss_mib(&self) -> String {
        let [total, anon, file] =
            ["VmRSS", "RssAnon", "RssFile"].map(|f| status_kib(self.pid, f) / 1024);
        format!("{total} MiB (anon {anon}, file {file})")
    }

    fn watch(&self) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let pid = self.pid;
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak.max(rss_kib(pid)) / 1024
        });
        Watch { stop, task }
    }

    async fn stop(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}
