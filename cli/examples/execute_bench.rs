//! Execute benchmark, measured from outside as a user's load generator sees it: `hookhost
//! demo` (Ivanti `POST /api/rest/Webhooks/Execute?extension=EchoWebhook`, the `echo`
//! component: authentication, lookup, the sandboxed call, statistics and the call log) against
//! a bare axum handler that reads the body and answers a small JSON (the ceiling of this
//! machine), both driven by `wrk` with the same 978-byte JSON body.
//!
//! Run with `cargo run --release -p hookhost-cli --example execute_bench [seconds]
//! [connections] [rounds]` (defaults: 8 s, 32 connections, 3 rounds). It builds the
//! `hookhost` binary in release, starts the demo on a fresh data directory and the ceiling in
//! this process, then:
//!
//! 1. closed loop: `wrk -t1 -c<connections> -d<seconds>s --latency`, the ceiling and the host
//!    alternating round by round (the machine's speed drifts; each round compares like with
//!    like), and prints the median ratio;
//! 2. open loop: `oha` at a fixed rate of half the host's median maximum, on the host and on
//!    the ceiling, with latency correction (latencies from when each request was due, not
//!    when it was sent), as many rounds, alternating; prints p50/p99/p99.9 of each run and
//!    the median p99 of each target.
//!
//! Each closed-loop round of the host also prints the CPU time its threads spent per request
//! (from `/proc/<pid>/task/*/schedstat`): a steadier figure than the rate on a noisy machine,
//! and the one a change to the host's own work moves.
//!
//! `wrk` comes from Debian's packages (`apt-get install wrk`), `oha` from crates.io: when they
//! are missing the benchmark installs them (`oha` with `cargo install` under
//! `target/bench-tools`). With `PERF_DATA=<file>` it records a `perf` profile (with call
//! stacks) of the host during its first closed-loop round (`perf report -i <file>` reads it); with
//! `SKIP_OPEN_LOOP=1` it stops after the closed loop.

#[path = "common/load.rs"]
mod load;

use anyhow::{Context, bail};
use load::{Target, median};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// An Ivanti incident, 978 bytes of JSON.
const BODY: &str = r#"{"Subject":"Printer on fire on the 3rd floor","Priority":2,"Urgency":"High","Impact":"Department","Category":"Hardware","Subcategory":"Printer","Status":"Logged","Source":"Email","Service":"Printing","OwnerTeam":"Service Desk","ProfileLink":"https://itsm.example.com/HEAT/Profile/Employee/4F0C2A1B7E9D4C3A8B6E5D2F1A0B9C8D","Requester":"erika.mustermann@example.com","CustomerLocation":"Berlin, Building B, Floor 3","Phone":"+49 30 1234567","Description":"The printer on the 3rd floor is on fire again. Smoke was first noticed at 09:12 near the paper tray; the floor warden switched off the power and opened the windows. Nobody was hurt. Please send someone to inspect the device and replace it if needed; the team needs printing for the quarterly reports due on Friday.","Tags":["printer","safety","floor-3"],"Asset":{"Name":"PRN-3F-01","Model":"LaserJet 4250","Serial":"CNB7Q12345"},"RecId":"9D8C7B6A5F4E3D2C1B0A9F8E7D6C5B4A","CreatedBy":"svc-mailbox-connector-01@example.com"}"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arg = |n: usize, default: u64| -> anyhow::Result<u64> {
        std::env::args()
            .nth(n)
            .map_or(Ok(default), |s| s.parse().context("arguments are numbers"))
    };
    let seconds = arg(1, 8)?;
    let connections = arg(2, 32)?;
    let rounds = arg(3, 3)? as usize;

    let wrk = load::wrk()?;
    let binary = load::hookhost()?;

    let ceiling = start_ceiling().await?;
    let data = tempfile::tempdir()?;
    let (mut host, demo) = start_demo(&binary, data.path()).await?;
    let host_pid = host.id().context("the demo exited")?;
    let targets = [
        Target {
            name: "bare axum (ceiling)",
            url: format!("{ceiling}/execute"),
            authorization: None,
            body: BODY.into(),
        },
        Target {
            name: "hookhost execute + echo",
            url: format!(
                "{}/api/rest/Webhooks/Execute?extension=EchoWebhook",
                demo.base_url
            ),
            authorization: Some(format!("rest_api_key={}", demo.tenant.rest_api_key)),
            body: BODY.into(),
        },
    ];
    let script = data.path().join("post.lua");

    println!(
        "closed loop: wrk -t1 -c{connections} -d{seconds}s --latency, {} byte JSON body, \
         {rounds} rounds alternating",
        BODY.len()
    );
    for target in &targets {
        // Warm-up: connections, the component's instance pool, the caches.
        load::wrk_run(&wrk, &script, target, 2, connections).await?;
    }
    let mut ratios = Vec::new();
    let mut host_rates = Vec::new();
    let mut host_cpu = Vec::new();
    for round in 1..=rounds {
        println!("round {round}");
        let mut rates = [0.0; 2];
        for (i, target) in targets.iter().enumerate() {
            let perf = (round == 1 && i == 1)
                .then(|| std::env::var_os("PERF_DATA"))
                .flatten()
                .map(|file| load::Profile::start(host_pid, Path::new(&file)))
                .transpose()?;
            let cpu_before = cpu_ns(host_pid);
            let run = load::wrk_run(&wrk, &script, target, seconds, connections).await?;
            let cpu = cpu_ns(host_pid).saturating_sub(cpu_before);
            if let Some(perf) = perf {
                perf.stop()?;
            }
            print!(
                "  {:<26} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
                target.name, run.rps, run.p50_ms, run.p99_ms
            );
            if i == 1 {
                let per_request = cpu as f64 / 1e3 / (run.rps * seconds as f64);
                print!("  host CPU {per_request:.1} µs/request");
                host_cpu.push(per_request);
            }
            println!();
            rates[i] = run.rps;
        }
        let ratio = rates[1] / rates[0] * 100.0;
        println!("  ratio {ratio:.1}% of the ceiling");
        ratios.push(ratio);
        host_rates.push(rates[1]);
    }
    println!(
        "median ratio over {rounds} rounds: {:.1}% of the ceiling (lowest {:.1}%, highest {:.1}%)",
        median(&mut ratios),
        ratios[0],
        ratios[ratios.len() - 1]
    );
    println!(
        "host CPU per request: median {:.1} µs (lowest {:.1}, highest {:.1})",
        median(&mut host_cpu),
        host_cpu[0],
        host_cpu[host_cpu.len() - 1]
    );

    if std::env::var_os("SKIP_OPEN_LOOP").is_none() {
        let oha = load::oha()?;
        let rate = (median(&mut host_rates) / 2.0).round() as u64;
        println!(
            "open loop: oha -q {rate} (half of the host's median maximum) -c{connections} \
             -z{seconds}s --latency-correction"
        );
        // One run's p99 on a shared 2-core machine swings by several times: rounds
        // alternate, and the medians are what the aim is read against.
        let mut p99s = [Vec::new(), Vec::new()];
        for round in 1..=rounds {
            println!("round {round}");
            for (i, target) in targets.iter().enumerate().rev() {
                let run = load::oha_run(&oha, target, rate, seconds, connections).await?;
                println!(
                    "  {:<26} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  p99.9 {:>6.2} ms  ({} failed)",
                    target.name, run.rps, run.p50_ms, run.p99_ms, run.p999_ms, run.failed
                );
                p99s[i].push(run.p99_ms);
            }
        }
        for (i, target) in targets.iter().enumerate().rev() {
            let p99 = &mut p99s[i];
            println!(
                "open loop, {}: median p99 {:.2} ms (lowest {:.2}, highest {:.2})",
                target.name,
                median(p99),
                p99[0],
                p99[p99.len() - 1]
            );
        }
    }

    host.start_kill()?;
    host.wait().await?;
    Ok(())
}

/// The ceiling: axum reading the body and answering a small JSON, on this process's runtime.
async fn start_ceiling() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/execute",
        axum::routing::post(|body: axum::body::Bytes| async move {
            axum::Json(serde_json::json!({"ok": true, "length": body.len()}))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// Starts `hookhost demo` on a free port and waits for its `demo.json`.
async fn start_demo(
    binary: &Path,
    data: &Path,
) -> anyhow::Result<(tokio::process::Child, hookhost::demo::DemoFile)> {
    let child = tokio::process::Command::new(binary)
        .args(["demo", "--port", "0", "--data-dir"])
        .arg(data)
        .env("HOOKHOST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let file = data.join("demo.json");
    for _ in 0..600 {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Ok(demo) = serde_json::from_str(&text)
        {
            return Ok((child, demo));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the demo did not write {} within 30 s", file.display())
}

/// CPU time (ns) spent so far by the threads of process `pid` (0 where `/proc` is not).
fn cpu_ns(pid: u32) -> u64 {
    load::threads(&pid.to_string())
        .values()
        .map(|(cpu_ns, _)| cpu_ns)
        .sum()
}
