//! Misbehaving guests are contained: the call fails with a clear reason, the host goes on.

use crate::support::{
    Ctx, Receiver, Reply, call, invocation, load, ok_body, runtime, runtime_with,
};
use hookhost::sandbox::{Allocator, CallError, LoadError, Refusal, SandboxConfig};
use hookhost_plugins::{ECHO, FOREIGN_IMPORT, FUTURE_MAJOR, FUTURE_MINOR, MISBEHAVE};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn action(action: serde_json::Value) -> hookhost::sandbox::Invocation {
    invocation("estate", "1", &action.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_ends_at_the_deadline_while_other_calls_complete() {
    let (rt, _dir) = runtime();
    let bad = load(&rt, MISBEHAVE);
    let echo = load(&rt, ECHO);
    let finished_before_loop = Arc::new(AtomicUsize::new(0));
    let loop_done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let looping = {
        let (rt, loop_done) = (rt.clone(), loop_done.clone());
        tokio::spawn(async move {
            let ctx = Ctx::new(&rt).limits(|l| l.timeout_ms = 400);
            let report = call(&rt, &bad, &action(json!({"action": "loop"})), ctx).await;
            loop_done.store(true, Ordering::SeqCst);
            report
        })
    };
    let mut others = Vec::new();
    for i in 0..20 {
        let (rt, echo) = (rt.clone(), echo.clone());
        let (count, loop_done) = (finished_before_loop.clone(), loop_done.clone());
        others.push(tokio::spawn(async move {
            let inv = invocation("estate", &i.to_string(), r#"{"n":1}"#);
            let report = call(&rt, &echo, &inv, Ctx::new(&rt)).await;
            if !loop_done.load(Ordering::SeqCst) {
                count.fetch_add(1, Ordering::SeqCst);
            }
            report
        }));
    }
    for other in others {
        let body = ok_body(&other.await.unwrap());
        assert_eq!(body["module"], "estate");
    }
    let report = looping.await.unwrap();
    assert_eq!(
        report.result.unwrap_err(),
        CallError::DeadlineExceeded { timeout_ms: 400 }
    );
    assert_eq!(
        finished_before_loop.load(Ordering::SeqCst),
        20,
        "every concurrent call finished while the loop was still running"
    );
}

#[tokio::test]
async fn memory_hog_fails_at_the_cap() {
    let (rt, _dir) = runtime();
    let bad = load(&rt, MISBEHAVE);
    let ctx = Ctx::new(&rt).limits(|l| l.memory_bytes = 16 << 20);
    let report = call(&rt, &bad, &action(json!({"action": "hog"})), ctx).await;
    match report.result {
        Err(CallError::MemoryLimit {
            limit_bytes,
            requested_bytes,
        }) => {
            assert_eq!(limit_bytes, 16 << 20);
            assert!(requested_bytes > 16 << 20);
        }
        other => panic!("expected the memory limit, got {other:?}"),
    }
    assert!(report.peak_memory_bytes <= 16 << 20);
    assert!(
        report.peak_memory_bytes > 8 << 20,
        "it grew before it was stopped"
    );
}

#[tokio::test]
async fn deep_recursion_traps_as_stack_overflow() {
    let (rt, _dir) = runtime();
    let bad = load(&rt, MISBEHAVE);
    let report = call(
        &rt,
        &bad,
        &action(json!({"action": "recurse"})),
        Ctx::new(&rt),
    )
    .await;
    assert_eq!(report.result.unwrap_err(), CallError::StackOverflow);
}

#[tokio::test]
async fn a_panic_becomes_a_failure_carrying_its_message() {
    let (rt, _dir) = runtime();
    let bad = load(&rt, MISBEHAVE);
    let report = call(
        &rt,
        &bad,
        &action(json!({"action": "panic"})),
        Ctx::new(&rt),
    )
    .await;
    let error = report.result.unwrap_err();
    assert_eq!(error.kind(), "trap");
    assert!(
        error.to_string().contains("misbehave: deliberate panic"),
        "{error}"
    );
}

#[tokio::test]
async fn oversized_output_is_refused() {
    let (rt, _dir) = runtime();
    let bad = load(&rt, MISBEHAVE);
    let ctx = Ctx::new(&rt).limits(|l| l.max_output_bytes = 1 << 20);
    let inv = action(json!({"action": "big-output", "size": 2 << 20}));
    let report = call(&rt, &bad, &inv, ctx).await;
    match report.result {
        Err(CallError::OutputTooLarge { size, limit }) => {
            assert!(size >= 2 << 20);
            assert_eq!(limit, 1 << 20);
        }
        other => panic!("expected output too large, got {other:?}"),
    }
}

#[tokio::test]
async fn oversized_payload_is_refused_before_the_guest_runs() {
    let (rt, _dir) = runtime();
    let echo = load(&rt, ECHO);
    let ctx = Ctx::new(&rt).limits(|l| l.max_payload_bytes = 1000);
    let inv = invocation("estate", "1", &format!("\"{}\"", "x".repeat(2000)));
    let report = call(&rt, &echo, &inv, ctx).await;
    assert_eq!(
        report.result.unwrap_err(),
        CallError::PayloadTooLarge {
            size: 2002,
            limit: 1000
        }
    );
}

#[test]
fn a_foreign_import_is_refused_at_load_with_the_import_named() {
    let (rt, _dir) = runtime();
    let wasm = std::fs::read(FOREIGN_IMPORT).unwrap();
    let error = rt.load(&wasm).err().expect("refused");
    match &error {
        LoadError::Refused(Refusal::ForeignImport { import }) => {
            assert!(import.starts_with("evil:spy/exfil"), "{import}")
        }
        other => panic!("expected a foreign import refusal, got {other}"),
    }
    assert!(error.to_string().contains("evil:spy/exfil"), "{error}");
    assert_eq!(rt.stats().compiled, 1);
}

#[test]
fn a_wit_version_the_host_does_not_serve_is_refused_naming_both_versions() {
    let (rt, _dir) = runtime();
    for (path, found) in [(FUTURE_MAJOR, "1.0.0"), (FUTURE_MINOR, "0.3.0")] {
        let wasm = std::fs::read(path).unwrap();
        let error = rt.load(&wasm).err().expect("refused");
        assert!(
            matches!(
                error,
                LoadError::Refused(Refusal::UnsupportedVersion { .. })
            ),
            "{error}"
        );
        let text = error.to_string();
        assert!(
            text.contains(&format!("marketplace:webhook@{found}")),
            "{text}"
        );
        assert!(
            text.contains("marketplace:webhook@0.1.x and marketplace:webhook@0.2.x"),
            "{text}"
        );
        assert!(text.contains("marketplace:webhook@0.2.0"), "{text}");
    }
}

#[test]
fn bytes_that_are_not_a_component_are_refused() {
    let (rt, _dir) = runtime();
    let error = rt.load(b"\0asm\x01\0\0\0").err().expect("refused");
    assert!(matches!(error, LoadError::Invalid(_)), "{error}");
    assert!(error.to_string().contains("wasm32-wasip2"), "{error}");
}

#[tokio::test]
async fn files_environment_and_sockets_grant_nothing() {
    let (rt, _dir) = runtime();
    let bad = load(&rt, MISBEHAVE);

    let files = ok_body(
        &call(
            &rt,
            &bad,
            &action(json!({"action": "read-file"})),
            Ctx::new(&rt),
        )
        .await,
    );
    let text = files.to_string();
    assert!(!text.contains("root:"), "no host file was read: {text}");
    for probe in ["etcPasswd", "rootDir", "currentDir"] {
        assert!(files[probe].get("error").is_some(), "{probe}: {text}");
    }

    let env = ok_body(&call(&rt, &bad, &action(json!({"action": "env"})), Ctx::new(&rt)).await);
    assert_eq!(env["vars"], json!({}), "{env}");
    assert!(env["args"].as_array().unwrap().len() <= 1, "{env}");

    let socket = ok_body(
        &call(
            &rt,
            &bad,
            &action(json!({"action": "socket"})),
            Ctx::new(&rt),
        )
        .await,
    );
    assert!(
        socket.get("error").is_some(),
        "the socket was refused: {socket}"
    );
}

#[tokio::test]
async fn outbound_http_reaches_only_allowed_hosts() {
    let (rt, _dir) = runtime();
    let bad = load(&rt, MISBEHAVE);
    let allowed = Receiver::scripted(|_, _| Reply::text("hi from loopback")).await;
    let denied = Receiver::scripted(|_, _| Reply::text("secret")).await;

    let allowed_only = || Ctx::new(&rt).allow(allowed.addr()).insecure();
    let inv = action(json!({"action": "http", "url": allowed.url("/hello")}));
    let body = ok_body(&call(&rt, &bad, &inv, allowed_only()).await);
    assert_eq!(body["status"], 200, "{body}");
    assert_eq!(body["body"], "hi from loopback");
    let hit = &allowed.hits()[0];
    assert_eq!((hit.method.as_str(), hit.path.as_str()), ("GET", "/hello"));

    let inv = action(json!({"action": "http", "url": denied.url("/secret")}));
    let body = ok_body(&call(&rt, &bad, &inv, allowed_only()).await);
    let error = body["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(error.contains("denied"), "{body}");
    assert_eq!(denied.count(), 0, "no connection reached the denied host");
}

#[tokio::test]
async fn stdout_and_stderr_go_to_the_bounded_call_log() {
    let (rt, _dir) = runtime();
    let bad = load(&rt, MISBEHAVE);
    let ctx = Ctx::new(&rt).limits(|l| l.max_log_bytes = 4096);
    let inv = action(json!({"action": "stdout", "lines": 1000}));
    let report = call(&rt, &bad, &inv, ctx).await;
    ok_body(&report);
    assert!(!report.log.lines.is_empty());
    let kept: usize = report.log.lines.iter().map(|l| l.message.len() + 1).sum();
    assert!(kept <= 4096, "kept {kept} bytes");
    assert!(report.log.dropped_bytes > 0);
}

#[tokio::test]
async fn fuel_budget_stops_a_busy_guest() {
    let config = SandboxConfig {
        fuel: true,
        ..SandboxConfig::default()
    };
    let (rt, _dir) = runtime_with(config);
    let bad = load(&rt, MISBEHAVE);
    let ctx = Ctx::new(&rt).limits(|l| l.fuel = Some(5_000_000));
    let report = call(&rt, &bad, &action(json!({"action": "loop"})), ctx).await;
    assert_eq!(
        report.result.unwrap_err(),
        CallError::FuelExhausted { fuel: 5_000_000 }
    );

    let echo = load(&rt, ECHO);
    let report = call(&rt, &echo, &invocation("estate", "1", "{}"), Ctx::new(&rt)).await;
    ok_body(&report);
    assert!(report.fuel_used.unwrap() > 0);
}

#[tokio::test]
async fn plugin_failures_keep_their_kind() {
    let (rt, _dir) = runtime();
    let bad = load(&rt, MISBEHAVE);
    let report = call(
        &rt,
        &bad,
        &action(json!({"action": "reject"})),
        Ctx::new(&rt),
    )
    .await;
    assert_eq!(report.result.as_ref().unwrap_err().kind(), "rejected");
    assert!(!report.result.unwrap_err().is_retryable());
    let report = call(
        &rt,
        &bad,
        &action(json!({"action": "temporary"})),
        Ctx::new(&rt),
    )
    .await;
    assert_eq!(report.result.as_ref().unwrap_err().kind(), "temporary");
    assert!(report.result.unwrap_err().is_retryable());
}

#[tokio::test]
async fn pooling_falls_back_to_on_demand_when_it_cannot_reserve_memory() {
    // Far more slots than any address space holds: the pool cannot be reserved.
    let config = SandboxConfig {
        max_instances: 50_000_000,
        ..SandboxConfig::default()
    };
    let (rt, _dir) = runtime_with(config);
    assert_eq!(rt.allocator(), Allocator::OnDemand);
    let echo = load(&rt, ECHO);
    ok_body(&call(&rt, &echo, &invocation("estate", "1", "{}"), Ctx::new(&rt)).await);

    let (pooled, _dir) = runtime();
    assert_eq!(pooled.allocator(), Allocator::Pooling);
}
