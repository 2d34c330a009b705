//! The `hookhost` binary as a provider runs it.

use hookhost::plugins::{ECHO, FOREIGN_IMPORT, MISBEHAVE, VALUATION};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn hookhost(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookhost"))
        .args(args)
        .env("HOOKHOST_DATA_DIR", data_dir)
        .env_remove("HOOKHOST_CONFIG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn plugin_check_describes_a_valid_component_and_refuses_a_foreign_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = hookhost(dir.path(), &["plugin", "check", ECHO]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("wit: marketplace:webhook@0.1.0"),
        "{stdout}"
    );
    assert!(stdout.contains("digest: sha256:"), "{stdout}");
    assert!(
        stdout.contains("marketplace:webhook/types@0.1.0"),
        "{stdout}"
    );

    let out = hookhost(dir.path(), &["plugin", "check", FOREIGN_IMPORT]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("evil:spy/exfil"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn plugin_run_prints_outcome_duration_fuel_memory_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("estate.json");
    std::fs::write(
        &payload,
        r#"{"kaufpreis":350000,"wohnflaeche":92,"plz":"52062","ort":"Aachen"}"#,
    )
    .unwrap();
    let payload = payload.to_str().unwrap();
    let args = [
        "plugin",
        "run",
        VALUATION,
        "--module",
        "estate",
        "--record",
        "15005",
        "--payload",
        payload,
    ];
    let out = hookhost(dir.path(), &args);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("outcome: ok"), "{stdout}");
    assert!(stdout.contains("marktwert = "), "{stdout}");
    assert!(stdout.contains("fuel used: "), "{stdout}");
    assert!(!stdout.contains("fuel used: n/a"), "{stdout}");
    assert!(stdout.contains("peak memory: "), "{stdout}");
    assert!(stdout.contains("(compiled)"), "{stdout}");

    // Second run: the compiled artifact comes from the data directory's cache.
    let out = hookhost(dir.path(), &args);
    assert!(
        text(&out.stdout).contains("compiled artifact from cache"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn plugin_run_reports_a_failure_with_its_kind_and_a_failing_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("loop.json");
    std::fs::write(&payload, r#"{"action":"loop"}"#).unwrap();
    let out = hookhost(
        dir.path(),
        &[
            "plugin",
            "run",
            MISBEHAVE,
            "--module",
            "estate",
            "--payload",
            payload.to_str().unwrap(),
            "--timeout-ms",
            "200",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failure"]["kind"], "timeout", "{report}");
    assert!(
        report["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("200 ms")
    );
}

#[test]
fn unknown_configuration_keys_stop_the_binary_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookhost.toml");
    std::fs::write(&config, "[sandbox]\ndeadline = 5\n").unwrap();
    let out = hookhost(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "plugin",
            "check",
            ECHO,
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("deadline"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn demo_serves_the_bundled_plugins_and_writes_its_commands() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookhost"))
        .args(["demo", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .env_remove("HOOKHOST_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let demo_json = dir.path().join("demo.json");
    let mut waited = 0;
    while !demo_json.exists() {
        assert!(waited < 600, "demo did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let demo: Value = serde_json::from_str(&std::fs::read_to_string(&demo_json).unwrap()).unwrap();
    let base = demo["base_url"].as_str().unwrap();
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );

    let sample = std::fs::read_to_string(dir.path().join("samples/valuation.json")).unwrap();
    let response = client
        .post(format!(
            "{base}/v0/plugins/valuation/invoke?module=estate&record=15005"
        ))
        .body(sample)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["outcome"]["body"]["marketValue"].as_f64().unwrap() > 0.0,
        "{body}"
    );

    let sample =
        std::fs::read_to_string(dir.path().join("samples/newsletter-connector.json")).unwrap();
    let response = client
        .post(format!(
            "{base}/v0/plugins/newsletter-connector/invoke?module=address&record=4711"
        ))
        .body(sample)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let sink: Value = client
        .get(format!("{base}/v0/newsletter-sink"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        sink["data"][0]["email"], "erika.mustermann@example.com",
        "{sink}"
    );

    for wasm in [
        "echo",
        "valuation",
        "newsletter-connector",
        "order-validator",
    ] {
        assert!(dir.path().join(format!("plugins/{wasm}.wasm")).exists());
    }
    child.kill().await.unwrap();
}
