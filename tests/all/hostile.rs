//! What a hostile provider tries, and what the host must refuse: components reaching loopback
//! and private networks, environment proxies, panics in the host, misreported failures.
//!
//! Every request that leaves the host goes through one egress guard; these tests drive it
//! through a real host (registration, test calls), the sandbox (components' `wasi:http`) and
//! the local runner (`plugin run`).

use crate::support::{
    Ctx, Db, Receiver, Reply, TcpProbe, TestHost, call, load, ok_body, runtime, runtime_with,
};
use hookhost::sandbox::{CallError, Invocation, KvStore, LogSource, SandboxConfig};
use hookhost::store::Scope;
use hookhost_plugins::{MISBEHAVE, NEWSLETTER_CONNECTOR};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

both_backends!(
    registration_refuses_private_allowed_hosts,
    test_calls_go_through_the_guard,
);

/// Sends `request` and reads the answer as JSON.
async fn send_json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

fn action(payload: Value) -> Invocation {
    crate::support::invocation("estate", "1", &payload.to_string())
}

async fn provider_with_component(host: &TestHost) -> (String, String) {
    let (provider, token) = host.store().create_provider("Hostile GmbH").await.unwrap();
    let scope = Scope::Provider(provider.id);
    let service = host
        .store()
        .create_service(&scope, "Hostile service", &[])
        .await
        .unwrap();
    let wasm = std::fs::read(MISBEHAVE).unwrap();
    let plugin = host.state.runtime.load(&wasm).unwrap();
    host.store()
        .insert_component(&scope, "misbehave", "1.0.0", &plugin.info, &wasm)
        .await
        .unwrap();
    (token, service.id)
}

async fn registration_refuses_private_allowed_hosts(db: Db) {
    let host = TestHost::start_with(db, |c| c.outbound.allow_insecure = false).await;
    let (token, service) = provider_with_component(&host).await;
    let create = |hosts: Value| {
        host.client
            .post(host.url("/public/v1/notifications/webhooks"))
            .bearer_auth(&token)
            .json(&json!({
                "service": {"id": service},
                "handler": {"component": "misbehave@1.0.0"},
                "status": "disabled",
                "allowedHosts": hosts,
            }))
            .send()
    };
    for entry in [
        "127.0.0.1:47999",
        "169.254.169.254",
        "10.0.0.1:80",
        "localhost",
        "[::1]:8443",
        "[::ffff:127.0.0.1]",
        "[fd00::1]",
    ] {
        let reply = create(json!(["api.example.com", entry])).await.unwrap();
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST, "{entry}");
        let problem: Value = reply.json().await.unwrap();
        let message = problem["errors"]["allowedHosts[1]"].to_string();
        assert!(
            message.contains(entry.trim_start_matches('[').split(']').next().unwrap()),
            "{entry}: {problem}"
        );
    }
    let reply = create(json!(["api.example.com:8443", "[2606:4700::1111]:443"]))
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::CREATED);
    let total = send_json(
        host.client
            .get(host.url("/public/v1/notifications/webhooks"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        total["$meta"]["pagination"]["total"], 1,
        "nothing was written by the refused requests"
    );
}

async fn test_calls_go_through_the_guard(db: Db) {
    let secret = Receiver::scripted(|_, _| Reply::text("the admin secret")).await;
    let sink = Receiver::scripted(|_, _| Reply::text("sink")).await;
    let (secret_addr, sink_addr) = (secret.addr(), sink.addr());
    let host = TestHost::start_with(db, |c| {
        c.outbound.allow_insecure = false;
        c.outbound.trusted = vec![sink_addr.to_owned()];
    })
    .await;
    let (token, service) = provider_with_component(&host).await;
    let tenant = host.store().create_tenant("Victim AG").await.unwrap();
    host.store()
        .activate(&host.state.key, &tenant.id, &service, &Default::default())
        .await
        .unwrap();
    // The operator trusts the sink's address: a component may name it, nothing else private.
    let created = send_json(
        host.client
            .post(host.url("/public/v1/notifications/webhooks"))
            .bearer_auth(&token)
            .json(&json!({
                "service": {"id": service},
                "handler": {"component": "misbehave@1.0.0"},
                "status": "disabled",
                "allowedHosts": [sink_addr],
            })),
    )
    .await;
    let id = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"));
    let test_call = |payload: Value| {
        host.client
            .post(host.url(&format!("/public/v1/notifications/webhooks/{id}/test")))
            .bearer_auth(&token)
            .json(&json!({"tenantId": tenant.id, "payload": payload}))
            .send()
    };
    // A disabled webhook can be tested (its provider checks it before enabling it), and the
    // trusted sink is reachable.
    let reply: Value = test_call(json!({"action": "http", "url": format!("http://{sink_addr}/x")}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(reply["call"]["response"].as_str().unwrap()).unwrap();
    assert_eq!(body["body"], "sink", "{reply}");
    assert_eq!(sink.count(), 1);

    // Every other private target is refused, in every spelling, without a connection.
    let port = secret_addr.rsplit_once(':').unwrap().1;
    for url in [
        format!("http://{secret_addr}/admin/secret"),
        format!("https://{secret_addr}/admin/secret"),
        format!("http://2130706433:{port}/admin/secret"),
        format!("http://[::ffff:127.0.0.1]:{port}/admin/secret"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let reply: Value = test_call(json!({"action": "http", "url": url}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let body: Value =
            serde_json::from_str(reply["call"]["response"].as_str().unwrap()).unwrap();
        assert!(body.get("error").is_some(), "{url}: {reply}");
    }
    assert_eq!(secret.count(), 0, "nothing reached it");

    // A URL handler naming a loopback name is refused when it is called.
    let created = send_json(
        host.client
            .post(host.url("/public/v1/notifications/webhooks"))
            .bearer_auth(&token)
            .json(&json!({"service": {"id": service}, "url": "https://localhost:9/x"})),
    )
    .await;
    let id = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"));
    let reply = send_json(
        host.client
            .post(host.url(&format!("/public/v1/notifications/webhooks/{id}/test")))
            .bearer_auth(&token)
            .json(&json!({"tenantId": tenant.id})),
    )
    .await;
    assert_eq!(reply["failure"]["kind"], "refused-address", "{reply}");
}

#[tokio::test]
async fn components_reach_only_public_https_targets_by_default() {
    let (rt, _dir) = runtime();
    let bad = load(&rt, MISBEHAVE);
    let internal = Receiver::scripted(|_, _| Reply::text("secret")).await;
    let addr = internal.addr();
    let port = addr.rsplit_once(':').unwrap().1;
    // Even when a (bypassed) allowlist names them, the guard refuses private targets.
    let allowlisted = || {
        Ctx::new(&rt)
            .allow(addr)
            .allow(&format!("localhost:{port}"))
            .allow(&format!("[::1]:{port}"))
    };
    for url in [
        format!("http://{addr}/x"),
        format!("https://{addr}/x"),
        format!("https://localhost:{port}/x"),
        format!("https://2130706433:{port}/x"),
        format!("https://[::1]:{port}/x"),
    ] {
        let report = call(
            &rt,
            &bad,
            &action(json!({"action": "http", "url": url})),
            allowlisted(),
        )
        .await;
        let body = ok_body(&report);
        assert!(body.get("error").is_some(), "{url}: {body}");
        let host_lines: Vec<&str> = report
            .log
            .lines
            .iter()
            .filter(|l| l.source == LogSource::Host)
            .map(|l| l.message.as_str())
            .collect();
        assert!(
            host_lines.iter().any(|l| l.contains("refused")),
            "{url}: the call's log says why: {host_lines:?}"
        );
    }
    assert_eq!(internal.count(), 0);

    // The newsletter connector pointed at an internal address: refused, nothing reached.
    let connector = load(&rt, NEWSLETTER_CONNECTOR);
    let ctx = allowlisted().set("newsletter_url", &format!("http://{addr}/internal-admin"));
    let payload = json!({"Email": "a@example.com", "Vorname": "A", "Name": "B"}).to_string();
    call(
        &rt,
        &connector,
        &crate::support::invocation("address", "1", &payload),
        ctx,
    )
    .await;
    assert_eq!(internal.count(), 0);
}

#[tokio::test]
async fn https_requests_fail_cleanly_and_ipv6_entries_match() {
    let (rt, _dir) = runtime();
    let bad = load(&rt, MISBEHAVE);
    // A plain HTTP server spoken to in TLS: the handshake fails; the call does not crash.
    let plain = Receiver::scripted(|_, _| Reply::text("not tls")).await;
    let addr = plain.addr();
    let ctx = Ctx::new(&rt).allow(addr).insecure();
    let report = call(
        &rt,
        &bad,
        &action(json!({"action": "http", "url": format!("https://{addr}/x")})),
        ctx,
    )
    .await;
    let body = ok_body(&report);
    assert!(body.get("error").is_some(), "{body}");

    // `[::1]:port` entries are understood.
    if let Some(v6) = Receiver::scripted_on_ipv6(|_, _| Reply::text("v6")).await {
        let ctx = Ctx::new(&rt).allow(v6.addr()).insecure();
        let url = v6.url("/");
        let body = ok_body(
            &call(
                &rt,
                &bad,
                &action(json!({"action": "http", "url": url})),
                ctx,
            )
            .await,
        );
        assert_eq!(body["body"], "v6", "{body}");
    }
}

#[tokio::test]
async fn outbound_requests_are_counted_and_bodies_capped() {
    let (rt, _dir) = runtime();
    let bad = load(&rt, MISBEHAVE);
    let small = Receiver::scripted(|_, _| Reply::text("small")).await;
    let addr = small.addr();
    let ctx = Ctx::new(&rt)
        .allow(addr)
        .insecure()
        .limits(|l| l.max_outbound_requests = 3);
    let payload = json!({"action": "http-repeat", "url": format!("http://{addr}/"), "count": 10});
    let body = ok_body(&call(&rt, &bad, &action(payload), ctx).await);
    assert_eq!(body["ok"], 3, "{body}");
    assert_eq!(body["errors"].as_array().unwrap().len(), 7, "{body}");
    assert_eq!(small.count(), 3);

    let big = Receiver::scripted(|_, _| Reply::text(&"x".repeat(64 << 10))).await;
    let addr = big.addr();
    let ctx = Ctx::new(&rt)
        .allow(addr)
        .insecure()
        .limits(|l| l.max_outbound_body_bytes = 16 << 10);
    let payload = json!({"action": "http", "url": format!("http://{addr}/")});
    let body = ok_body(&call(&rt, &bad, &action(payload), ctx).await);
    assert!(
        body.get("error").is_some(),
        "a 64 KiB body over a 16 KiB cap: {body}"
    );
}

#[tokio::test]
async fn an_explicit_proxy_is_used_only_after_the_target_is_vetted() {
    let proxy = TcpProbe::start().await;
    let egress = hookhost::sandbox::Egress::new(hookhost::sandbox::EgressConfig {
        proxy: Some(format!("http://{}", proxy.addr)),
        ..Default::default()
    })
    .unwrap();
    for url in [
        "https://127.0.0.1/x",
        "https://localhost:9999/x",
        "https://[::1]/x",
        "http://93.184.215.14/x",
    ] {
        assert!(egress.vet(url).await.is_err(), "{url}");
    }
    // A public target is handed to the proxy as a CONNECT.
    let url = egress.vet("https://93.184.215.14/x").await.unwrap();
    let client = egress.client(std::time::Duration::from_secs(2));
    let _ = client.get(url).send().await;
    assert_eq!(
        proxy.first_lines(),
        vec!["CONNECT 93.184.215.14:443 HTTP/1.1".to_owned()]
    );
}

#[test]
fn environment_proxies_are_ignored() {
    // The probe runs in a child process (this test binary again), so the proxy variables do
    // not leak into other tests.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let probe = rt.block_on(TcpProbe::start());
    let proxy = &probe.addr;
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["hostile::proxy_probe", "--exact", "--nocapture"])
        .env("HOOKHOST_TEST_PROXY_PROBE", "1")
        .env("HTTPS_PROXY", format!("http://{proxy}"))
        .env("HTTP_PROXY", format!("http://{proxy}"))
        .env("ALL_PROXY", format!("http://{proxy}"))
        .env("https_proxy", format!("http://{proxy}"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "the probe ran: {stdout}");
    drop(rt);
    assert_eq!(
        probe.first_lines(),
        Vec::<String>::new(),
        "the proxy of the environment was not used"
    );
}

/// Run by [`environment_proxies_are_ignored`] with proxy variables set; does nothing
/// otherwise.
#[tokio::test]
async fn proxy_probe() {
    if std::env::var_os("HOOKHOST_TEST_PROXY_PROBE").is_none() {
        return;
    }
    let egress = hookhost::sandbox::Egress::default();
    let client = egress.client(std::time::Duration::from_secs(2));
    for url in [
        "https://localhost:9999/x",
        "https://metadata.google.internal/x",
    ] {
        // The name is resolved here, by the guarded resolver: refused or unresolvable, and
        // never handed to a proxy.
        let error = client.get(url).send().await.unwrap_err();
        println!("{url}: {error}");
    }
}

#[test]
fn plugin_run_refuses_private_hosts_unless_insecure_is_asked_for() {
    let data = tempfile::tempdir().unwrap();
    let payload = data.path().join("payload.json");
    std::fs::write(&payload, json!({"action": "ok"}).to_string()).unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hookhost"))
            .env("HOOKHOST_DATA_DIR", data.path())
            .args([
                "plugin",
                "run",
                MISBEHAVE,
                "--module",
                "estate",
                "--payload",
            ])
            .arg(&payload)
            .args(["--allow-host", "127.0.0.1:8080"])
            .args(extra)
            .output()
            .unwrap()
    };
    let refused = run(&[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("127.0.0.1") && stderr.contains("--allow-host"),
        "{stderr}"
    );
    let allowed = run(&["--allow-insecure"]);
    let stdout = String::from_utf8_lossy(&allowed.stdout);
    assert!(allowed.status.success(), "{stdout}");
    assert!(
        stdout.contains("outbound: at most 16 request(s)"),
        "{stdout}"
    );
}

/// A key-value store whose every operation panics: a bug in the host.
struct PanickingKv;

#[async_trait::async_trait]
impl KvStore for PanickingKv {
    async fn get(&self, _key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        panic!("kv backend bug")
    }
    async fn set(&self, _key: &str, _value: &[u8]) -> anyhow::Result<()> {
        panic!("kv backend bug")
    }
    async fn delete(&self, _key: &str) -> anyhow::Result<()> {
        panic!("kv backend bug")
    }
    async fn list_keys(&self, _prefix: &str) -> anyhow::Result<Vec<String>> {
        panic!("kv backend bug")
    }
}

#[tokio::test]
async fn a_panic_in_a_host_function_fails_only_that_call() {
    let (rt, _dir) = runtime();
    let bad = load(&rt, MISBEHAVE);
    let ctx = Ctx::new(&rt).kv(Arc::new(PanickingKv));
    let report = call(&rt, &bad, &action(json!({"action": "kv"})), ctx).await;
    match report.result {
        Err(CallError::HostService(message)) => {
            assert!(message.contains("kv backend bug"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // The runtime keeps serving.
    ok_body(&call(&rt, &bad, &action(json!({"action": "ok"})), Ctx::new(&rt)).await);
}

#[tokio::test]
async fn failures_are_reported_as_what_they_are() {
    let config = SandboxConfig {
        fuel: true,
        ..SandboxConfig::default()
    };
    let (rt, _dir) = runtime_with(config);
    let bad = load(&rt, MISBEHAVE);
    // A refused memory growth, handled, then a spin to the deadline: a timeout.
    let ctx = Ctx::new(&rt).limits(|l| l.timeout_ms = 200);
    let report = call(&rt, &bad, &action(json!({"action": "hog-then-spin"})), ctx).await;
    assert_eq!(
        report.result.unwrap_err(),
        CallError::DeadlineExceeded { timeout_ms: 200 }
    );
    assert_eq!(
        report.fuel_used, None,
        "an interrupted call's fuel is not known"
    );

    let report = call(
        &rt,
        &bad,
        &action(json!({"action": "exit", "status": 1})),
        Ctx::new(&rt),
    )
    .await;
    let message = report.result.unwrap_err().to_string();
    assert!(message.contains("exited with status 1"), "{message}");
    assert!(!message.contains("wasm backtrace"), "{message}");

    let report = call(
        &rt,
        &bad,
        &action(json!({"action": "sleep-ms", "ms": 20})),
        Ctx::new(&rt),
    )
    .await;
    ok_body(&report);
    // A returned call reports its fuel; how much a 20 ms busy-wait burns depends on how many
    // clock reads fit in it on a loaded machine, so only its presence is certain.
    assert!(
        report.fuel_used.is_some_and(|fuel| fuel > 0),
        "{:?}",
        report.fuel_used
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_hold_while_many_guests_spin() {
    let (rt, _dir) = runtime();
    let bad = load(&rt, MISBEHAVE);
    let mut spinners = Vec::new();
    for _ in 0..8 {
        let (rt, bad) = (rt.clone(), bad.clone());
        spinners.push(tokio::spawn(async move {
            let ctx = Ctx::new(&rt).limits(|l| l.timeout_ms = 300);
            call(&rt, &bad, &action(json!({"action": "loop"})), ctx).await
        }));
    }
    for spinner in spinners {
        let report = spinner.await.unwrap();
        assert_eq!(
            report.result.unwrap_err(),
            CallError::DeadlineExceeded { timeout_ms: 300 }
        );
    }
    // How close to the deadline they stop is a figure `contention_bench` measures.
}
