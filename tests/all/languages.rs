//! Plugins in Python and JavaScript, and `hookhost plugin new` for every language.
//!
//! `python-dedupe` (componentize-py) and `js-reminder` (ComponentizeJS) go through the sandbox
//! exactly like the Rust plugins, and through the Ivanti endpoint as component webhooks. They
//! are built by `plugins/bundle/build.rs` only when their toolchains are present; without one,
//! these tests check that the build said why and pass, unless
//! `HOOKHOST_TEST_REQUIRE_LANGUAGES=1` (set by `.ci/run`) makes the missing toolchain a failure.

use crate::support::{Ctx, Db, World, call, invocation, load, ok_body, runtime};
use hookhost::sandbox::{CallReport, KvStore, MemoryKv};
use hookhost::store::{Handler, WebhookSpec};
use hookhost_plugins::{
    COMPONENTIZE_PY, JS_REMINDER, JS_REMINDER_MISSING, NODE, PYTHON_DEDUPE, PYTHON_DEDUPE_MISSING,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

/// `built` when the toolchain was there; otherwise checks that the build said why, and fails
/// when `HOOKHOST_TEST_REQUIRE_LANGUAGES=1`.
fn required<T>(what: &str, built: Option<T>, missing: &str) -> Option<T> {
    if built.is_some() {
        return built;
    }
    assert!(
        !missing.is_empty(),
        "{what} is not available and plugins/bundle/build.rs did not say why"
    );
    let require = std::env::var("HOOKHOST_TEST_REQUIRE_LANGUAGES").is_ok_and(|v| v == "1");
    assert!(
        !require,
        "{what} is not available: {missing}. HOOKHOST_TEST_REQUIRE_LANGUAGES=1 requires it: \
         install the toolchain (see .ci/run) and rebuild"
    );
    eprintln!("NOT TESTED: {what} is not available: {missing}");
    None
}

fn python() -> Option<&'static str> {
    required("python-dedupe", PYTHON_DEDUPE, PYTHON_DEDUPE_MISSING)
}

fn js() -> Option<&'static str> {
    required("js-reminder", JS_REMINDER, JS_REMINDER_MISSING)
}

fn failure(report: &CallReport) -> (&'static str, String) {
    match &report.result {
        Ok(outcome) => panic!("expected a failure, got {}", outcome.body),
        Err(error) => (error.kind(), error.to_string()),
    }
}

fn log_text(report: &CallReport) -> String {
    report
        .log
        .lines
        .iter()
        .map(|l| l.message.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn erika() -> Value {
    json!({
        "Anrede": "Frau", "Vorname": "Erika", "Name": "Mustermann",
        "Email": "Erika.Mustermann+news@example.com", "Telefon1": "0241 / 123 456-0",
        "Strasse": "Theaterstraße", "Hausnummer": "12a", "Plz": "52062", "Ort": "Aachen"
    })
}

/// The same person, typed in again by someone else.
fn erika_again() -> Value {
    json!({
        "Vorname": " erika", "Name": "MUSTERMANN", "Email": "erika.mustermann@EXAMPLE.com",
        "Telefon1": "+49 241 1234560", "Strasse": "Theaterstr.", "Hausnummer": "12 A",
        "Plz": "52062", "Ort": "Aachen"
    })
}

#[tokio::test]
async fn python_dedupe_finds_duplicates_across_calls() {
    let Some(path) = python() else { return };
    let (rt, _dir) = runtime();
    let plugin = load(&rt, path);
    assert_eq!(plugin.info.wit_version, "0.1.0");
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::default());

    let first = invocation("address", "4711", &erika().to_string());
    let report = call(&rt, &plugin, &first, Ctx::new(&rt).kv(kv.clone())).await;
    let body = ok_body(&report);
    assert_eq!(body["duplicate"], false, "{body}");
    assert_eq!(body["duplicateOf"], Value::Null);
    let fingerprint = body["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(fingerprint.len(), 32);
    assert_eq!(
        body["matchedOn"],
        json!(["name", "email", "phone", "street"])
    );
    assert!(log_text(&report).contains("4711 is new"), "{report:?}");

    // Another record, the same person spelled differently: a duplicate of the first.
    let second = invocation("address", "4712", &erika_again().to_string());
    let report = call(&rt, &plugin, &second, Ctx::new(&rt).kv(kv.clone())).await;
    let body = ok_body(&report);
    assert_eq!(body["duplicate"], true, "{body}");
    assert_eq!(body["duplicateOf"], "4711");
    assert_eq!(body["fingerprint"], fingerprint.as_str());
    assert!(log_text(&report).contains("4712 duplicates 4711"));

    // The first record saved again (or a retry of its delivery) is not its own duplicate.
    let body = ok_body(&call(&rt, &plugin, &first, Ctx::new(&rt).kv(kv.clone())).await);
    assert_eq!(body["duplicate"], false, "{body}");

    // Another tenant's store knows nothing of the first tenant's addresses.
    let body = ok_body(&call(&rt, &plugin, &second, Ctx::new(&rt)).await);
    assert_eq!(body["duplicate"], false, "{body}");

    // Configured match fields: the e-mail alone decides.
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::default());
    let by_email = || Ctx::new(&rt).kv(kv.clone()).set("match_fields", "email");
    ok_body(&call(&rt, &plugin, &first, by_email()).await);
    let married =
        json!({"Vorname": "Erika", "Name": "Gabler", "Email": "erika.mustermann@example.com"});
    let body = ok_body(
        &call(
            &rt,
            &plugin,
            &invocation("address", "4713", &married.to_string()),
            by_email(),
        )
        .await,
    );
    assert_eq!(
        (&body["duplicateOf"], &body["matchedOn"]),
        (&json!("4711"), &json!(["email"]))
    );
}

#[tokio::test]
async fn python_dedupe_failures_rejected_invalid_and_an_exception() {
    let Some(path) = python() else { return };
    let (rt, _dir) = runtime();
    let plugin = load(&rt, path);

    let anonymous = invocation("address", "9", r#"{"Anrede": "Herr", "Ort": "Aachen"}"#);
    let report = call(&rt, &plugin, &anonymous, Ctx::new(&rt)).await;
    let (kind, reason) = failure(&report);
    assert_eq!(kind, "rejected", "{reason}");
    assert!(reason.contains("identifying fields"), "{reason}");

    let list = invocation("address", "9", "[1, 2]");
    let (kind, reason) = failure(&call(&rt, &plugin, &list, Ctx::new(&rt)).await);
    assert_eq!(kind, "invalid-input", "{reason}");

    let ctx = Ctx::new(&rt).set("match_fields", "name,shoe_size");
    let (kind, reason) = failure(
        &call(
            &rt,
            &plugin,
            &invocation("address", "9", &erika().to_string()),
            ctx,
        )
        .await,
    );
    assert_eq!(kind, "invalid-input", "{reason}");
    assert!(reason.contains("shoe_size"), "{reason}");

    // Not JSON: the plugin's exception traps the call; the traceback is in the call log.
    let broken = invocation("address", "9", "Vorname=Erika&Name=Mustermann");
    let report = call(&rt, &plugin, &broken, Ctx::new(&rt)).await;
    let (kind, reason) = failure(&report);
    assert_eq!(kind, "trap", "{reason}");
    let stderr = report.log.stderr_text();
    assert!(stderr.contains("JSONDecodeError"), "{stderr}");
    assert!(stderr.contains("Traceback"), "{stderr}");
    // The failure itself names the exception, not only the trap.
    assert!(reason.contains("JSONDecodeError"), "{reason}");

    // The instance that trapped is gone: the next call works.
    ok_body(
        &call(
            &rt,
            &plugin,
            &invocation("address", "9", &erika().to_string()),
            Ctx::new(&rt),
        )
        .await,
    );
}

fn task() -> Value {
    json!({
        "Betreff": "Exposé für Theaterstraße 12 freigeben",
        "Frist": "2026-12-01 14:30:00",
        "Verantwortung": "Erika Mustermann",
        "Prio": "hoch"
    })
}

#[tokio::test]
async fn js_reminder_formats_localised_reminders() {
    let Some(path) = js() else { return };
    let (rt, _dir) = runtime();
    let plugin = load(&rt, path);
    assert_eq!(plugin.info.wit_version, "0.1.0");
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::default());
    let berlin = || Ctx::new(&rt).kv(kv.clone()).set("utc_offset", "+01:00");

    // Default locale de-DE; the due time is a wall time at the configured offset.
    let inv = invocation("task", "TSK-17", &task().to_string());
    let report = call(&rt, &plugin, &inv, berlin()).await;
    let body = ok_body(&report);
    assert_eq!(
        body["subject"],
        "Erinnerung: Exposé für Theaterstraße 12 freigeben"
    );
    assert_eq!(
        body["text"],
        "Die Aufgabe „Exposé für Theaterstraße 12 freigeben“ ist fällig am Dienstag, \
         1. Dezember 2026, 14:30 Uhr. Verantwortlich: Erika Mustermann. Priorität: hoch."
    );
    assert_eq!(body["remindAt"], "2026-12-01T13:30:00+01:00");
    assert_eq!(body["changed"], true);
    assert!(log_text(&report).contains("TSK-17: remind at 2026-12-01T13:30:00+01:00"));

    // The same reminder again: the key-value store remembers it.
    let body = ok_body(&call(&rt, &plugin, &inv, berlin()).await);
    assert_eq!(body["changed"], false, "{body}");

    // Another locale and lead time.
    let ctx = berlin().set("locale", "en-US").set("lead_minutes", "1440");
    let body = ok_body(&call(&rt, &plugin, &inv, ctx).await);
    assert_eq!(
        body["subject"],
        "Reminder: Exposé für Theaterstraße 12 freigeben"
    );
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("is due on Tuesday, December 1, 2026 at 2:30 PM."),
        "{body}"
    );
    assert_eq!(body["remindAt"], "2026-11-30T14:30:00+01:00");

    // An appointment given in UTC, shown at +01:00, in French.
    let appointment = json!({
        "betreff": "Besichtigung", "von": "2026-12-03T09:00:00Z", "ort": "Aachen, Theaterstraße 12"
    });
    let inv = invocation("calendar", "CAL-3", &appointment.to_string());
    let body = ok_body(&call(&rt, &plugin, &inv, berlin().set("locale", "fr-FR")).await);
    assert_eq!(
        body["text"],
        "Le rendez-vous « Besichtigung » commence le jeudi 3 décembre 2026 à 10:00. \
         Lieu : Aachen, Theaterstraße 12."
    );
    assert_eq!(body["remindAt"], "2026-12-03T09:45:00+01:00");

    // A due date without a time: reminded in the morning; defaults only.
    let inv = invocation(
        "task",
        "TSK-18",
        r#"{"subject": "Heizung ablesen", "dueDate": "24.12.2026"}"#,
    );
    let body = ok_body(&call(&rt, &plugin, &inv, Ctx::new(&rt)).await);
    assert_eq!(
        body["text"],
        "Die Aufgabe „Heizung ablesen“ ist fällig am Donnerstag, 24. Dezember 2026."
    );
    assert_eq!(body["remindAt"], "2026-12-24T08:00:00+00:00");
}

/// 0.1.0 had no `secret`: a 0.1.0 component's `config` still returns the parameters the
/// service declares secret, as it always did.
#[tokio::test]
async fn a_0_1_component_reads_secret_parameters_through_config() {
    let Some(path) = js() else { return };
    let (rt, _dir) = runtime();
    let plugin = load(&rt, path);
    assert_eq!(plugin.info.wit_version, "0.1.0");
    let inv = invocation("task", "TSK-17", &task().to_string());
    let ctx = Ctx::new(&rt).secret("utc_offset", "+01:00");
    let body = ok_body(&call(&rt, &plugin, &inv, ctx).await);
    assert_eq!(body["remindAt"], "2026-12-01T13:30:00+01:00", "{body}");
}

#[tokio::test]
async fn js_reminder_failures_rejected_invalid_and_an_exception() {
    let Some(path) = js() else { return };
    let (rt, _dir) = runtime();
    let plugin = load(&rt, path);

    let no_due = invocation("task", "TSK-1", r#"{"Betreff": "Irgendwann"}"#);
    let (kind, reason) = failure(&call(&rt, &plugin, &no_due, Ctx::new(&rt)).await);
    assert_eq!(kind, "rejected", "{reason}");
    assert!(reason.contains("has no due date"), "{reason}");

    let no_start = invocation("calendar", "CAL-1", r#"{"betreff": "Termin"}"#);
    let (kind, reason) = failure(&call(&rt, &plugin, &no_start, Ctx::new(&rt)).await);
    assert_eq!(kind, "invalid-input", "{reason}");

    let bad_date = invocation("task", "TSK-2", r#"{"Frist": "31.02.2026"}"#);
    let (kind, reason) = failure(&call(&rt, &plugin, &bad_date, Ctx::new(&rt)).await);
    assert_eq!(
        (kind, reason.contains("31.02.2026")),
        ("invalid-input", true),
        "{reason}"
    );

    let ctx = Ctx::new(&rt).set("utc_offset", "Europe/Berlin");
    let (kind, reason) = failure(
        &call(
            &rt,
            &plugin,
            &invocation("task", "TSK-3", &task().to_string()),
            ctx,
        )
        .await,
    );
    assert_eq!(kind, "invalid-input", "{reason}");

    // Not JSON: JSON.parse throws, the call traps, the exception is in the call log.
    let broken = invocation("task", "TSK-4", "<task><due>tomorrow</due></task>");
    let report = call(&rt, &plugin, &broken, Ctx::new(&rt)).await;
    let (kind, reason) = failure(&report);
    assert_eq!(kind, "trap", "{reason}");
    let stderr = report.log.stderr_text();
    assert!(stderr.contains("SyntaxError: JSON.parse"), "{stderr}");
    assert!(reason.contains("SyntaxError"), "{reason}");

    ok_body(
        &call(
            &rt,
            &plugin,
            &invocation("task", "TSK-5", &task().to_string()),
            Ctx::new(&rt),
        )
        .await,
    );
}

/// Uploads the plugin at `path`, registers it as the webhook of a new service of the world's
/// provider with Ivanti `extension`, and activates the service for the tenant with `params`;
/// returns the webhook id.
async fn plugin_webhook(w: &World, path: &str, extension: &str, params: &[(&str, &str)]) -> String {
    let store = w.host.store();
    let names: Vec<String> = params.iter().map(|(k, _)| (*k).to_owned()).collect();
    let service = store
        .create_service(&w.provider, extension, &names)
        .await
        .unwrap()
        .id;
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    store
        .activate(&w.host.state.key, &w.tenant, &service, &params)
        .await
        .unwrap();
    let component = w.upload(path).await;
    let spec = WebhookSpec::new(service, Handler::Component(component))
        .description(format!("{extension} in another language"))
        .extension(extension);
    w.register(spec).await.0.id
}

/// `POST /api/rest/Webhooks/Execute?extension=…` as the tenant; the status and the body.
async fn execute(
    w: &World,
    extension: &str,
    content_type: &str,
    body: String,
) -> (StatusCode, String) {
    let url = w
        .host
        .url(&format!("/api/rest/Webhooks/Execute?extension={extension}"));
    let response = w
        .host
        .client
        .post(url)
        .header("authorization", format!("rest_api_key={}", w.rest_key))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn execute_json(w: &World, extension: &str, body: &Value) -> (StatusCode, Value) {
    let (status, text) = execute(w, extension, "application/json", body.to_string()).await;
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, value)
}

/// (total, failures) of the webhook, once the recorder has written `total` calls.
async fn statistics(w: &World, id: &str, total: i64) -> (i64, i64) {
    let statistics = w.webhook_after_calls(id, total).await.statistics;
    (statistics.total, statistics.failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_js_plugins_as_ivanti_webhooks() {
    let (python, js) = (python(), js());
    if python.is_none() && js.is_none() {
        return;
    }
    let w = World::start(Db::Sqlite).await;

    if let Some(path) = python {
        let id = plugin_webhook(&w, path, "AddressDedupe", &[("match_fields", "name,email")]).await;
        // The key-value store (in the database) carries the first call's fingerprint to the
        // second: an Ivanti body has no record id, so the plugin reads `Id`.
        let mut first = erika();
        first["Id"] = json!("A-1");
        let (status, body) = execute_json(&w, "AddressDedupe", &first).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["duplicate"], false, "{body}");
        assert_eq!(body["matchedOn"], json!(["name", "email"]));
        let mut second = erika_again();
        second["Id"] = json!("A-2");
        second["Telefon1"] = json!("0171 999999");
        let (status, body) = execute_json(&w, "AddressDedupe", &second).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (&body["duplicate"], &body["duplicateOf"]),
            (&json!(true), &json!("A-1")),
            "{body}"
        );

        let (status, body) =
            execute_json(&w, "AddressDedupe", &json!({"Id": "A-3", "Ort": "Aachen"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["Message"].as_str().unwrap().contains("rejected"),
            "{body}"
        );

        let (status, text) = execute(
            &w,
            "AddressDedupe",
            "text/plain",
            "Erika Mustermann, Aachen".into(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{text}");
        assert!(text.contains("trap"), "{text}");

        assert_eq!(statistics(&w, &id, 4).await, (4, 2));
    }

    if let Some(path) = js {
        let id = plugin_webhook(
            &w,
            path,
            "TaskReminder",
            &[("locale", "en-GB"), ("utc_offset", "+01:00")],
        )
        .await;
        let incident = json!({"RecId": "T-9", "Subject": "Printer on fire", "DueDate": "2026-12-01T14:30:00Z", "Owner": "Helpdesk"});
        let (status, body) = execute_json(&w, "TaskReminder", &incident).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body,
            json!({
                "subject": "Reminder: Printer on fire",
                "text": "The task “Printer on fire” is due on Tuesday 1 December 2026 at 15:30. Responsible: Helpdesk.",
                "remindAt": "2026-12-01T14:30:00+01:00",
                "changed": true
            })
        );
        let (_, body) = execute_json(&w, "TaskReminder", &incident).await;
        assert_eq!(
            body["changed"], false,
            "the store remembers the reminder: {body}"
        );

        let (status, body) = execute_json(&w, "TaskReminder", &json!({"Subject": "Someday"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["Message"]
                .as_str()
                .unwrap()
                .contains("has no due date"),
            "{body}"
        );

        let xml = "<Task><Subject>Printer on fire</Subject></Task>";
        let (status, text) = execute(&w, "TaskReminder", "application/xml", xml.into()).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{text}");
        assert!(text.contains("trap"), "{text}");

        assert_eq!(statistics(&w, &id, 4).await, (4, 2));
    }
}

// `hookhost plugin new`: each language's project builds with its toolchain, passes
// `plugin check` and runs.

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn hookhost(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookhost"))
        .args(args)
        .env("HOOKHOST_DATA_DIR", data_dir)
        .env_remove("HOOKHOST_CONFIG")
        .output()
        .unwrap()
}

fn succeeded(what: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Scaffolds `name` in `lang` into a temporary folder; returns (folder, project dir).
fn scaffold(name: &str, lang: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let out = hookhost(
        dir.path(),
        &["plugin", "new", name, "--lang", lang, "--dir", dir_arg],
    );
    let stdout = succeeded("plugin new", &out);
    assert!(stdout.contains("hookhost plugin check"), "{stdout}");
    let project = dir.path().join(name);
    assert_eq!(
        std::fs::read_to_string(project.join("wit/handler.wit")).unwrap(),
        std::fs::read_to_string(workspace().join("wit/handler.wit")).unwrap()
    );
    (dir, project)
}

/// `plugin check` and `plugin run` (a success and a rejection) on a scaffolded component: a
/// `marketplace:webhook@0.2.0` project that reads a secret apart from its configuration.
fn check_and_run(data_dir: &Path, project: &Path, wasm: &Path) {
    let wasm = wasm.to_str().unwrap();
    let stdout = succeeded(
        "plugin check",
        &hookhost(data_dir, &["plugin", "check", wasm]),
    );
    assert!(
        stdout.contains("wit: marketplace:webhook@0.2.0"),
        "{stdout}"
    );
    assert!(stdout.contains("roles: handler (plugin)\n"), "{stdout}");

    let payload = project.join("payload.json");
    let args = [
        "plugin",
        "run",
        wasm,
        "--module",
        "address",
        "--record",
        "4711",
        "--payload",
        payload.to_str().unwrap(),
        "--set",
        "greeting=Moin",
        "--secret",
        "api_key=s3cr3t",
        "--json",
    ];
    let stdout = succeeded("plugin run", &hookhost(data_dir, &args));
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let body = &report["outcome"]["body"];
    assert_eq!(
        (
            &body["greeting"],
            &body["recordId"],
            &body["fields"],
            &body["calls"],
            &body["apiKeySet"]
        ),
        (
            &json!("Moin"),
            &json!("4711"),
            &json!(5),
            &json!(1),
            &json!(true)
        ),
        "{stdout}"
    );
    assert!(
        report["log"]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["message"] == "address 4711 for tenant local"),
        "{stdout}"
    );

    let empty = project.join("empty.json");
    std::fs::write(&empty, "{}").unwrap();
    let mut args = args;
    args[8] = empty.to_str().unwrap();
    let out = hookhost(data_dir, &args);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failure"]["kind"], "rejected", "{report}");
}

fn run(what: &str, cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    succeeded(what, &out);
}

#[test]
fn plugin_new_rust_builds_checks_and_runs() {
    let (dir, project) = scaffold("hello-rust", "rust");
    let cargo_toml = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(cargo_toml.contains("[workspace]"), "{cargo_toml}");
    assert!(
        cargo_toml.contains("hookhost-sdk = { path = "),
        "{cargo_toml}"
    );
    // The workspace's lock file: the same dependency versions, nothing new to download.
    std::fs::copy(workspace().join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
    // A target folder of its own (kept between runs), apart from the one build.rs locks.
    let target_dir = workspace().join("target").join("scaffold-test");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&project)
        .args([
            "build",
            "--target",
            "wasm32-wasip2",
            "--release",
            "--target-dir",
        ])
        .arg(&target_dir);
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cargo.env_remove(var);
    }
    run("cargo build of the scaffolded crate", &mut cargo);
    let wasm = target_dir.join("wasm32-wasip2/release/hello_rust.wasm");
    check_and_run(dir.path(), &project, &wasm);
}

#[test]
fn plugin_new_python_builds_checks_and_runs() {
    let requirements =
        std::fs::read_to_string(workspace().join("plugins/python-dedupe/requirements.txt"))
            .unwrap();
    let pin = format!(
        "componentize-py=={}",
        hookhost::scaffold::COMPONENTIZE_PY_VERSION
    );
    assert!(
        requirements.contains(&pin),
        "scaffold and plugin pin the same: {requirements}"
    );
    let Some(tool) = required(
        "the Python toolchain",
        COMPONENTIZE_PY,
        PYTHON_DEDUPE_MISSING,
    ) else {
        return;
    };
    let (dir, project) = scaffold("hello-python", "python");
    assert!(
        std::fs::read_to_string(project.join("requirements.txt"))
            .unwrap()
            .contains(&pin)
    );
    run(
        "build.sh of the scaffolded project",
        Command::new("sh")
            .arg("build.sh")
            .current_dir(&project)
            .env("COMPONENTIZE_PY", tool),
    );
    assert!(
        project.join("wit_world").is_dir(),
        "bindings for the editor"
    );
    check_and_run(dir.path(), &project, &project.join("hello_python.wasm"));
}

#[test]
fn plugin_new_js_builds_checks_and_runs() {
    let package: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("plugins/js-reminder/package.json")).unwrap(),
    )
    .unwrap();
    let version = hookhost::scaffold::COMPONENTIZE_JS_VERSION;
    assert_eq!(
        package["devDependencies"]["@bytecodealliance/componentize-js"], version,
        "scaffold and plugin pin the same ComponentizeJS"
    );
    let Some(node) = required("the JavaScript toolchain", NODE, JS_REMINDER_MISSING) else {
        return;
    };
    let (dir, project) = scaffold("hello-js", "js");
    let scaffolded: Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("package.json")).unwrap())
            .unwrap();
    assert_eq!(
        scaffolded["devDependencies"]["@bytecodealliance/componentize-js"],
        version
    );
    // `npm install` would fetch the same pinned packages `npm ci` installed for js-reminder;
    // the test links those instead of downloading 380 MB again.
    std::os::unix::fs::symlink(
        workspace().join("plugins/js-reminder/node_modules"),
        project.join("node_modules"),
    )
    .unwrap();
    run(
        "build.mjs of the scaffolded project",
        Command::new(node).arg("build.mjs").current_dir(&project),
    );
    check_and_run(dir.path(), &project, &project.join("hello_js.wasm"));
}
