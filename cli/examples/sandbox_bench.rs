//! Sandbox benchmark: per-call overhead of the `echo` plugin (fresh store, instantiate, call,
//! result), its cold compile time and its load time from the on-disk artifact cache.
//!
//! Run with `cargo run --release -p hookhost-cli --example sandbox_bench [calls]`.

use hookhost::sandbox::{
    CallContext, Event, Invocation, KvStore, MemoryKv, OutboundPolicy, Runtime, SandboxConfig,
    Tenant,
};
use hookhost_plugins::ECHO;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn invocation() -> Invocation {
    Invocation {
        webhook_id: "WBH-1234-5678".into(),
        tenant: Tenant {
            id: "TEN-1".into(),
            name: "Bench".into(),
        },
        module: "estate".into(),
        record_id: "15005".into(),
        event: Event::Update,
        payload: r#"{"kaufpreis":350000,"wohnflaeche":92,"plz":"52062","ort":"Aachen"}"#.into(),
        parameters: Vec::new(),
        delivery_id: "DLV-1".into(),
        attempt: 1,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let calls: usize = std::env::args().nth(1).map_or(Ok(20_000), |n| n.parse())?;
    let wasm = std::fs::read(ECHO)?;
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
    let ctx = CallContext {
        limits: runtime.limits_for(None),
        config: Arc::default(),
        secrets: Arc::default(),
        kv,
        outbound: OutboundPolicy::default(),
    };
    let inv = invocation();
    for _ in 0..1000 {
        runtime.call(&plugin, &inv, ctx.clone()).await.result?;
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

    // Two tasks at once: throughput on both cores.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (runtime, plugin, ctx, inv) =
            (runtime.clone(), plugin.clone(), ctx.clone(), inv.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..calls / 2 {
                runtime
                    .call(&plugin, &inv, ctx.clone())
                    .await
                    .result
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let parallel = started.elapsed();

    println!(
        "component: echo ({} bytes), allocator: {:?}",
        wasm.len(),
        runtime.allocator()
    );
    println!(
        "cold compile:            {:>9.1} ms",
        cold.as_secs_f64() * 1e3
    );
    println!(
        "load from disk cache:    {:>9.1} ms",
        cached.as_secs_f64() * 1e3
    );
    println!("calls (one task):        {calls}");
    println!(
        "per call, mean:          {:>9.1} µs",
        total.as_secs_f64() * 1e6 / calls as f64
    );
    println!(
        "per call, p50:           {:>9.1} µs",
        percentile(&samples, 0.50)
    );
    println!(
        "per call, p99:           {:>9.1} µs",
        percentile(&samples, 0.99)
    );
    println!(
        "two tasks, throughput:   {:>9.0} calls/s",
        calls as f64 / parallel.as_secs_f64()
    );
    Ok(())
}
