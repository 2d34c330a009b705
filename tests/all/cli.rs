//! The `hookhost` binary as a provider runs it.

use hookhost_plugins::{ECHO, FOREIGN_IMPORT, MISBEHAVE, VALUATION};
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
        stdout.contains("wit: marketplace:webhook@0.2.0"),
        "{stdout}"
    );
    assert!(stdout.contains("roles: handler (plugin)\n"), "{stdout}");
    assert!(stdout.contains("digest: sha256:"), "{stdout}");
    assert!(
        stdout.contains("marketplace:webhook/types@0.2.0"),
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

/// Runs `hookhost` with a data directory and a master key, as an operator's script would.
fn operator(data_dir: &Path, master_key: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookhost"))
        .args(args)
        .env("HOOKHOST_DATA_DIR", data_dir)
        .env("HOOKHOST_MASTER_KEY", master_key)
        .env_remove("HOOKHOST_CONFIG")
        .env_remove("HOOKHOST_DATABASE_URL")
        .output()
        .unwrap()
}

/// Runs `hookhost … --json`, asserts success and returns the parsed output.
fn operator_json(data_dir: &Path, master_key: &str, args: &[&str]) -> Value {
    let out = operator(data_dir, master_key, args);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?}: {stdout}{}",
        text(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?} ({e}): {stdout}"))
}

#[test]
fn migrate_says_what_it_applied() {
    let dir = tempfile::tempdir().unwrap();
    let key = hookhost::crypto::MasterKey::generate_base64();
    let out = operator(dir.path(), &key, &["migrate"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("migrated sqlite://"), "{stdout}");
    assert!(stdout.contains("applied 0001 registry"), "{stdout}");
    assert!(dir.path().join("hookhost.db").exists());

    let out = operator(dir.path(), &key, &["migrate"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("is up to date"), "{stdout}");
    assert!(!stdout.contains("applied 0001"), "{stdout}");
}

#[test]
fn admin_commands_create_what_they_say_and_print_credentials_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = hookhost::crypto::MasterKey::generate_base64();
    let (dir, key) = (dir.path(), key.as_str());

    let provider = operator_json(
        dir,
        key,
        &[
            "admin",
            "create-provider",
            "--name",
            "Valuation AG",
            "--json",
        ],
    );
    assert!(
        provider["id"].as_str().unwrap().starts_with("PRV-"),
        "{provider}"
    );
    assert!(provider["token"].as_str().unwrap().starts_with("hhp_"));
    let tenant = operator_json(
        dir,
        key,
        &[
            "admin",
            "create-tenant",
            "--name",
            "Immobilien Muster GmbH",
            "--json",
        ],
    );
    let tenant_id = tenant["id"].as_str().unwrap();
    let api_key = operator_json(
        dir,
        key,
        &["admin", "create-api-key", "--tenant", tenant_id, "--json"],
    );
    assert_eq!(api_key["tenantId"], tenant_id);
    assert!(api_key["key"].as_str().unwrap().starts_with("hhk_"));
    let user = operator_json(
        dir,
        key,
        &[
            "admin",
            "--json",
            "create-api-user",
            "--tenant",
            tenant_id,
            "--marketplace",
        ],
    );
    assert_eq!(user["marketplace"], true);
    assert_eq!(user["token"].as_str().unwrap().len(), 32);
    assert_eq!(user["secret"].as_str().unwrap().len(), 64);

    let service = operator_json(
        dir,
        key,
        &[
            "admin",
            "create-service",
            "--name",
            "Property valuation",
            "--provider",
            provider["id"].as_str().unwrap(),
            "--param",
            "price_per_sqm.default",
            "--json",
        ],
    );
    let service_id = service["id"].as_str().unwrap();
    assert_eq!(
        service["acceptedParameters"],
        serde_json::json!(["price_per_sqm.default"])
    );
    let activation = operator_json(
        dir,
        key,
        &[
            "admin",
            "activate",
            "--tenant",
            tenant_id,
            "--service",
            service_id,
            "--set",
            "price_per_sqm.default=3400",
            "--json",
        ],
    );
    assert_eq!(activation["parameters"]["price_per_sqm.default"], "3400");

    // Human text names the objects and shows the credential, once.
    let out = operator(
        dir,
        key,
        &["admin", "create-api-key", "--tenant", tenant_id],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("for tenant {tenant_id}")),
        "{stdout}"
    );
    assert!(stdout.contains("key: hhk_"), "{stdout}");
    assert!(stdout.contains("shown once"), "{stdout}");

    // Lists show the objects and no credential.
    let out = operator(dir, key, &["admin", "list", "providers"]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Valuation AG"), "{stdout}");
    assert!(
        !stdout.contains(provider["token"].as_str().unwrap()),
        "{stdout}"
    );
    let services = operator_json(dir, key, &["admin", "list", "services", "--json"]);
    assert_eq!(services[0]["id"], service_id);
    let activations = operator_json(dir, key, &["admin", "list", "activations", "--json"]);
    assert_eq!(activations[0]["serviceId"], service_id, "{activations}");
    assert!(activations[0]["tenantName"].is_string(), "{activations}");

    // Deactivation: the key's id, not the key.
    let key_id = api_key["id"].as_str().unwrap();
    let out = operator(
        dir,
        key,
        &[
            "admin",
            "deactivate-api-key",
            "--tenant",
            tenant_id,
            "--key",
            key_id,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Failures exit non-zero with the reason on stderr.
    let out = operator(
        dir,
        key,
        &["admin", "create-api-key", "--tenant", "TEN-0000-0000"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("tenant TEN-0000-0000 not found"),
        "{}",
        text(&out.stderr)
    );
    let out = operator(dir, key, &["admin", "create-tenant", "--name", " "]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("name: must not be empty"),
        "{}",
        text(&out.stderr)
    );
    let out = operator(dir, key, &["admin", "create-service", "--name", "S"]);
    assert!(!out.status.success(), "an owner is required");
    assert!(
        text(&out.stderr).contains("--provider"),
        "{}",
        text(&out.stderr)
    );
}

/// Waits for `path` to appear (the demo writes it once it is ready), at most a minute.
async fn wait_for(path: &Path, child: &mut tokio::process::Child) {
    for _ in 0..600 {
        if path.exists() {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("demo exited early with {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("demo did not write {} within a minute", path.display());
}

/// The binary hands `hookhost_plugins::BUNDLED` to the demo: it must carry every plugin the
/// demo seeds, and nothing the demo would leave unused.
#[test]
fn every_bundled_plugin_is_in_the_demo_and_no_other() {
    let mut bundled: Vec<&str> = hookhost_plugins::BUNDLED.iter().map(|(n, _)| *n).collect();
    let mut demo = hookhost::demo::plugin_names();
    bundled.sort();
    demo.sort();
    assert_eq!(bundled, demo);
}

#[tokio::test]
async fn demo_serves_a_seeded_registry_and_writes_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    // A leftover of an earlier demo must not survive the next start.
    std::fs::write(dir.path().join("demo.db"), b"not a database").unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookhost"))
        .args(["demo", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .env_remove("HOOKHOST_CONFIG")
        .env_remove("HOOKHOST_ADMIN_TOKEN")
        .env_remove("HOOKHOST_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // What it prints: the fresh database, credentials and commands to paste.
    let stdout = read_banner(&mut child).await;
    assert!(
        stdout.contains("previous demo database was deleted"),
        "{stdout}"
    );
    assert!(stdout.contains("curl -s "), "{stdout}");
    assert!(stdout.contains("/public/v1/components"), "{stdout}");
    assert!(stdout.contains("plugin run "), "{stdout}");
    let sink_url = stdout
        .split_whitespace()
        .find(|word| word.ends_with("/demo/newsletter-sink"))
        .unwrap_or_else(|| panic!("no sink URL in {stdout}"))
        .to_owned();
    let demo_json = dir.path().join("demo.json");
    wait_for(&demo_json, &mut child).await;
    let demo: Value = serde_json::from_str(&std::fs::read_to_string(&demo_json).unwrap()).unwrap();

    // The documented shape, key for key.
    let keys = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(
        keys(&demo),
        [
            "admin_token",
            "base_url",
            "marketplace_api_user",
            "portal",
            "provider_token",
            "tenant",
            "webhooks"
        ]
    );
    assert_eq!(
        keys(&demo["portal"]),
        ["operator", "provider", "sign_in", "tenant"]
    );
    let base = demo["base_url"].as_str().unwrap();
    for role in ["operator", "provider", "tenant"] {
        let link = demo["portal"][role].as_str().unwrap();
        assert!(link.starts_with(&format!("{base}/portal/s/")), "{link}");
        let page = reqwest::get(link).await.unwrap();
        assert_eq!(page.status(), reqwest::StatusCode::OK, "{role}: {link}");
    }
    assert_eq!(
        keys(&demo["tenant"]),
        ["id", "rest_api_key", "smartml_secret", "smartml_token"]
    );
    assert_eq!(
        keys(&demo["marketplace_api_user"]),
        ["smartml_secret", "smartml_token"]
    );
    assert_eq!(demo["tenant"]["smartml_token"].as_str().unwrap().len(), 32);
    assert_eq!(demo["tenant"]["smartml_secret"].as_str().unwrap().len(), 64);
    assert_ne!(
        demo["tenant"]["smartml_token"],
        demo["marketplace_api_user"]["smartml_token"]
    );
    let webhooks = demo["webhooks"].as_array().unwrap();
    assert!(webhooks.len() >= 4, "{demo}");
    for webhook in webhooks {
        // A component webhook, or a URL webhook with a transform.
        if webhook["handler"].get("url").is_some() {
            assert_eq!(
                keys(webhook),
                ["extension", "handler", "id", "modules", "transform"]
            );
            assert_eq!(keys(&webhook["handler"]), ["url"]);
            assert_eq!(keys(&webhook["transform"]), ["component"]);
        } else {
            assert_eq!(keys(webhook), ["extension", "handler", "id", "modules"]);
            assert_eq!(keys(&webhook["handler"]), ["component"]);
        }
        assert!(webhook["extension"].is_null() || webhook["extension"].is_string());
    }
    assert!(
        webhooks.iter().any(|w| w["extension"] == "EchoWebhook"),
        "at least one webhook has an Ivanti extension: {demo}"
    );
    for module in ["estate", "address", "task", "calendar"] {
        assert!(
            webhooks
                .iter()
                .any(|w| w["modules"].as_array().unwrap().iter().any(|m| m == module)),
            "no webhook for {module}: {demo}"
        );
    }
    // The component of each: its handler's, or its transform's.
    let component_of = |w: &Value| {
        let handler = &w["handler"]["component"];
        let named = if handler.is_null() {
            &w["transform"]["component"]
        } else {
            handler
        };
        named.as_str().unwrap().to_owned()
    };
    let handlers: Vec<String> = webhooks.iter().map(component_of).collect();
    for plugin in [
        "echo",
        "valuation",
        "newsletter-connector",
        "newsletter-transform",
        "order-validator",
    ] {
        assert!(
            handlers
                .iter()
                .any(|h| h.starts_with(&format!("{plugin}@"))),
            "{plugin} missing from {handlers:?}"
        );
        assert!(dir.path().join(format!("plugins/{plugin}.wasm")).exists());
        let sample =
            std::fs::read_to_string(dir.path().join(format!("samples/{plugin}.json"))).unwrap();
        serde_json::from_str::<Value>(&sample).unwrap();
    }

    let base = demo["base_url"].as_str().unwrap();
    let client = reqwest::Client::new();
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");

    // The registry shows the provider the same webhooks, with their components.
    let response = client
        .get(format!("{base}/public/v1/notifications/webhooks?limit=100"))
        .bearer_auth(demo["provider_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let list: Value = response.json().await.unwrap();
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), webhooks.len(), "{list}");
    for webhook in webhooks {
        let listed = data
            .iter()
            .find(|w| w["id"] == webhook["id"])
            .unwrap_or_else(|| panic!("{} not listed: {list}", webhook["id"]));
        let component = if webhook["handler"].get("url").is_some() {
            assert_eq!(listed["handler"]["url"], webhook["handler"]["url"]);
            &listed["transform"]["component"]
        } else {
            &listed["handler"]["component"]
        };
        assert_eq!(
            format!(
                "{}@{}",
                component["name"].as_str().unwrap(),
                component["version"].as_str().unwrap()
            ),
            component_of(webhook),
            "{listed}"
        );
        assert_eq!(listed["modules"], webhook["modules"]);
    }

    // The tenant reaches them through its activations, with its REST API key.
    let response = client
        .get(format!("{base}/public/v1/notifications/webhooks?limit=100"))
        .header(
            "authorization",
            format!(
                "rest_api_key={}",
                demo["tenant"]["rest_api_key"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let list: Value = response.json().await.unwrap();
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        webhooks.len(),
        "{list}"
    );

    // The Ivanti extension reaches the echo component, synchronously.
    let response = client
        .post(format!(
            "{base}/api/rest/Webhooks/Execute?extension=EchoWebhook"
        ))
        .header(
            "authorization",
            format!(
                "rest_api_key={}",
                demo["tenant"]["rest_api_key"].as_str().unwrap()
            ),
        )
        .header("content-type", "application/json")
        .body(r#"{"Subject":"Drucker klemmt"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["payload"]["Subject"], "Drucker klemmt", "{echoed}");
    assert_eq!(echoed["tenant"]["id"], demo["tenant"]["id"]);

    // The admin token opens the admin API; the demo's own sink answers.
    let response = client
        .get(format!("{base}/admin/v1/tenants"))
        .bearer_auth(demo["admin_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tenants: Value = response.json().await.unwrap();
    assert_eq!(tenants["data"][0]["id"], demo["tenant"]["id"]);
    assert!(stdout.contains(demo["provider_token"].as_str().unwrap()));
    let sink: Value = client
        .get(&sink_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(sink["data"].is_array(), "{sink}");

    // The printed `plugin run` command of the newsletter connector delivers to that sink.
    let command = stdout
        .lines()
        .find(|line| line.contains("newsletter-connector.wasm"))
        .unwrap();
    let words: Vec<&str> = command.split_whitespace().collect();
    assert!(
        words.iter().all(|w| !w.starts_with('\'')),
        "no quoting expected in temp paths: {command}"
    );
    let out = Command::new(words[0])
        .args(&words[1..])
        .env("HOOKHOST_DATA_DIR", dir.path())
        .env_remove("HOOKHOST_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{command}: {}", text(&out.stdout));
    let sink: Value = client
        .get(&sink_url)
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
    child.kill().await.unwrap();
}

/// The demo's printed banner, up to its last line.
async fn read_banner(child: &mut tokio::process::Child) -> String {
    use tokio::io::AsyncBufReadExt as _;
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut banner = String::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            banner.push_str(&line);
            banner.push('\n');
            if line.contains("Ctrl-C stops the demo") {
                return;
            }
        }
        panic!("the demo's output ended early: {banner}");
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the demo printed its banner within a minute");
    banner
}

/// `hookhost … | head`: a reader that goes away early. Lists and the demo's banner end their
/// printing quietly; the demo goes on serving.
#[tokio::test]
async fn a_closed_stdout_ends_the_printing_quietly() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["Erste GmbH", "Zweite GmbH", "Dritte GmbH"] {
        let out = hookhost(dir.path(), &["admin", "create-tenant", "--name", name]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let mut list = Command::new(env!("CARGO_BIN_EXE_hookhost"))
        .args(["admin", "list", "tenants"])
        .env("HOOKHOST_DATA_DIR", dir.path())
        .env_remove("HOOKHOST_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(list.stdout.take());
    let out = list.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let port = crate::process::free_port();
    let mut demo = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookhost"))
        .args(["demo", "--port", &port.to_string(), "--data-dir"])
        .arg(dir.path().join("demo"))
        .env_remove("HOOKHOST_CONFIG")
        .env_remove("HOOKHOST_ADMIN_TOKEN")
        .env_remove("HOOKHOST_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    drop(demo.stdout.take());
    // Seeded and serving although nobody reads what it printed.
    let client = reqwest::Client::new();
    let healthy = crate::support::eventually("the demo serves", async || {
        let answer = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .ok()?;
        answer.status().is_success().then_some(())
    });
    healthy.await;
    assert!(
        dir.path().join("demo").join("demo.json").exists(),
        "the banner was printed (into a closed pipe) and the credentials written"
    );
    assert!(demo.try_wait().unwrap().is_none(), "the demo still runs");
    demo.start_kill().unwrap();
    let out = demo.wait_with_output().await.unwrap();
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `hookhost admin activate` runs the activation checks of the service's plugins in its own
/// sandbox, as the admin API does: a refusal prints the plugin's messages, exits 1 and writes
/// nothing.
#[test]
fn admin_activate_runs_the_plugins_activation_checks() {
    use hookhost::store::{Handler, Scope, Store, WebhookSpec};
    let dir = tempfile::tempdir().unwrap();
    let key = hookhost::crypto::MasterKey::generate_base64();
    let (dir, key) = (dir.path(), key.as_str());
    let provider = operator_json(
        dir,
        key,
        &[
            "admin",
            "create-provider",
            "--name",
            "Newsletter AG",
            "--json",
        ],
    );
    let provider_id = provider["id"].as_str().unwrap().to_owned();
    let tenant = operator_json(
        dir,
        key,
        &[
            "admin",
            "create-tenant",
            "--name",
            "Immobilien Muster GmbH",
            "--json",
        ],
    );
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();
    let service = operator_json(
        dir,
        key,
        &[
            "admin",
            "create-service",
            "--name",
            "Newsletter members",
            "--provider",
            &provider_id,
            "--param",
            "list_id",
            "--secret-param",
            "api_key",
            "--json",
        ],
    );
    let service_id = service["id"].as_str().unwrap().to_owned();

    // The provider's URL webhook with the newsletter transform, written to the same database.
    let url = format!("sqlite://{}?mode=rwc", dir.join("hookhost.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(Store::open(&url)).unwrap();
    let wasm = std::fs::read(hookhost_plugins::NEWSLETTER_TRANSFORM).unwrap();
    let (runtime, _cache) = crate::support::runtime();
    let info = runtime.load(&wasm).unwrap().info.clone();
    let owner = Scope::Provider(provider_id);
    let master = hookhost::crypto::MasterKey::from_base64(key).unwrap();
    rt.block_on(async {
        let component = store
            .insert_component(&owner, "newsletter-transform", "1.0.0", &info, &wasm)
            .await
            .unwrap();
        let spec = WebhookSpec::new(
            &service_id,
            Handler::Url("https://news.example.com/members".into()),
        )
        .transform(component.id);
        store.create_webhook(&master, &owner, &spec).await.unwrap();
    });

    let activate = |settings: &[&str]| {
        let mut args = vec![
            "admin",
            "activate",
            "--tenant",
            &tenant_id,
            "--service",
            &service_id,
        ];
        for setting in settings {
            args.extend(["--set", setting]);
        }
        operator(dir, key, &args)
    };
    let out = activate(&["list_id=no spaces"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("parameters.list_id: a list id is 1 to 64 letters")
            && stderr.contains("parameters.api_key: the newsletter service's API key is required"),
        "{stderr}"
    );
    let written = rt.block_on(store.activation(&tenant_id, &service_id));
    assert!(written.unwrap().is_none(), "nothing written");

    let out = activate(&["list_id=news-1", "api_key=s3cr3t"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("activated service"),
        "{}",
        text(&out.stdout)
    );
}

/// `log_format = "json"`: every line `serve` logs is one JSON object with its level, target
/// and fields, for log collectors.
#[tokio::test]
async fn json_logs_are_one_object_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::process::free_port();
    let config = dir.path().join("hookhost.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\nlisten = \"127.0.0.1:{port}\"\nlog = \"info\"\nlog_format = \"json\"\n",
            data = dir.path().display().to_string()
        ),
    )
    .unwrap();
    let log = dir.path().join("hookhost.log");
    let mut host =
        crate::process::HostProcess::start(&config, &format!("http://127.0.0.1:{port}"), &log)
            .await;
    host.kill().await;
    let text = host.log_text();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let listening = lines
        .iter()
        .find(|line| line["fields"]["message"] == "listening")
        .unwrap_or_else(|| panic!("no listening line in {text}"));
    assert_eq!(listening["level"], "INFO");
    assert!(
        listening["fields"]["addr"]
            .as_str()
            .unwrap()
            .ends_with(&port.to_string())
    );
    assert!(listening["timestamp"].is_string() && listening["target"].is_string());
}
