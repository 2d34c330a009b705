//! Languages benchmark: the Python (`python-dedupe`) and JavaScript (`js-reminder`) plugins
//! against the Rust `echo`, on the same payload: component size, cold compile, load from the
//! on-disk artifact cache, and time per call (fresh store, instantiate, call, result).
//!
//! Run with `cargo run --release -p hookhost-cli --example languages_bench [calls]` (default
//! 2,000 calls per plugin; the toolchains must have been present when `plugins/bundle/build.rs`
//! ran, see `.ci/run`).

use hookhost::sandbox::{
    CallContext, Event, Invocation, KvStore, MemoryKv, OutboundPolicy, Runtime, SandboxConfig,
    Tenant,
};
use hookhost_plugins::{
    ECHO, JS_REMINDER, JS_REMINDER_MISSING, PYTHON_DEDUPE, PYTHON_DEDUPE_MISSING,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One record every plugin can handle: an address (for the dedupe) with a due date (for the
/// reminder); `echo` copies it.
const PAYLOAD: &str = r#"{"Vorname":"Erika","Name":"Mustermann","Email":"erika.mustermann@example.com","Telefon1":"0241 123456","Strasse":"Theaterstraße","Hausnummer":"12a","Plz":"52062","Ort":"Aachen","Betreff":"Rückruf Erika Mustermann","Frist":"2026-12-01 14:30:00"}"#;

fn invocation(module: &str) -> Invocation {
    Invocation {
        webhook_id: "WBH-1234-5678".into(),
        tenant: Tenant {
            id: "TEN-1".into(),
            name: "Bench".into(),
        },
        module: module.into(),
        record_id: "4711".into(),
        event: Event::Update,
        payload: PAYLOAD.into(),
        parameters: Vec::new(),
        delivery_id: "DLV-1".into(),
        attempt: 1,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Figures {
    name: &'static str,
    size: usize,
    cold: Duration,
    cached: Duration,
    mean: Duration,
    p50: Duration,
    p99: Duration,
}

async fn measure(
    name: &'static str,
    path: &str,
    module: &str,
    calls: usize,
) -> anyhow::Result<Figures> {
    let wasm = std::fs::read(path)?;
    let cache = tempfile::tempdir()?;

    let runtime = Runtime::new(SandboxConfig::default(), Some(cache.path()))?;
    let started = Instant::now();
    runtime.load(&wasm)?;
    let cold = started.elapsed();

    let runtime = Runtime::new(SandboxConfig::default(), Some(cache.path()))?;
    let started = Instant::now();
    let plugin = runtime.load(&wasm)?;
    let cached = started.elapsed();
    assert_eq!(runtime.stats().loaded_from_disk, 1);

    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::default());
    let config = BTreeMap::from([("utc_offset".to_owned(), "+01:00".to_owned())]);
    let ctx = CallContext {
        limits: runtime.limits_for(None),
        config: Arc::new(config),
        secrets: Arc::default(),
        kv,
        outbound: OutboundPolicy::default(),
    };
    let inv = invocation(module);
    for _ in 0..(calls / 10).max(10) {
        let report = runtime.call(&plugin, &inv, ctx.clone()).await;
        report
            .result
            .map_err(|e| anyhow::anyhow!("{name}: {e} ({:?})", report.log.lines))?;
    }
    let mut samples = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        let report = runtime.call(&plugin, &inv, ctx.clone()).await;
        samples.push(t.elapsed());
        report.result?;
    }
    let total = started.elapsed();
    samples.sort();
    Ok(Figures {
        name,
        size: wasm.len(),
        cold,
        cached,
        mean: total / calls as u32,
        p50: percentile(&samples, 0.50),
        p99: percentile(&samples, 0.99),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let calls: usize = std::env::args().nth(1).map_or(Ok(2_000), |n| n.parse())?;
    let mut all = vec![measure("rust echo", ECHO, "address", calls).await?];
    match PYTHON_DEDUPE {
        Some(path) => all.push(measure("python-dedupe", path, "address", calls).await?),
        None => println!("python-dedupe not built: {PYTHON_DEDUPE_MISSING}"),
    }
    match JS_REMINDER {
        Some(path) => all.push(measure("js-reminder", path, "task", calls).await?),
        None => println!("js-reminder not built: {JS_REMINDER_MISSING}"),
    }

    let runtime = Runtime::new(SandboxConfig::default(), None)?;
    println!(
        "{calls} calls per plugin after warm-up, one task, allocator: {:?}, payload {} bytes",
        runtime.allocator(),
        PAYLOAD.len()
    );
    println!(
        "{:<14} {:>10} {:>12} {:>11} {:>10} {:>10} {:>10}",
        "plugin", "size MB", "compile ms", "cached ms", "mean ms", "p50 ms", "p99 ms"
    );
    for f in &all {
        println!(
            "{:<14} {:>10.2} {:>12.0} {:>11.1} {:>10.3} {:>10.3} {:>10.3}",
            f.name,
            f.size as f64 / 1e6,
            ms(f.cold),
            ms(f.cached),
            ms(f.mean),
            ms(f.p50),
            ms(f.p99)
        );
    }
    Ok(())
}
