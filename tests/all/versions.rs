//! Versions side by side: `marketplace:webhook@0.1.0` components keep running unchanged on a
//! host whose contract is 0.2.0. The 0.1.0 `echo` is built from a frozen copy of its source and
//! of the 0.1 SDK against the frozen `wit/since_v0.1.0/` (`plugins/fixtures/echo-v0.1`), and
//! runs through every path a component takes: the sandbox, Ivanti execute, a smartml delivery,
//! an MPT validation, a process step and `hookhost plugin run`. (The Python and JavaScript
//! plugins, also built against 0.1.0, run in `languages`.)

use crate::support::{Db, World, call, eventually, invocation, load, ok_body, runtime};
use hookhost::store::{Handler, WebhookSpec};
use hookhost_plugins::{ECHO, ECHO_V0_1};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Command;

both_backends!(a_0_1_component_runs_on_every_path);

#[tokio::test]
async fn the_0_1_echo_is_recognised_and_answers_like_the_current_one() {
    let (rt, _dir) = runtime();
    let old = load(&rt, ECHO_V0_1);
    let new = load(&rt, ECHO);
    assert_eq!(old.info.wit_version, "0.1.0");
    assert_eq!(new.info.wit_version, "0.2.0");
    assert!(
        old.info
            .imports
            .iter()
            .chain(&old.info.exports)
            .filter(|name| name.starts_with("marketplace:webhook/"))
            .all(|name| name.ends_with("@0.1.0")),
        "{:?} {:?}",
        old.info.imports,
        old.info.exports
    );
    let (old_roles, new_roles) = (old.info.roles, new.info.roles);
    assert!(old_roles.handler && !old_roles.transform && !old_roles.activation);
    assert_eq!(old_roles, new_roles);

    let mut inv = invocation("estate", "15005", r#"{"kaufpreis": 350000}"#);
    inv.parameters = vec![hookhost::sandbox::Param {
        name: "tag".into(),
        value: "new".into(),
    }];
    let ctx = || crate::support::Ctx::new(&rt);
    let old_body = ok_body(&call(&rt, &old, &inv, ctx()).await);
    let new_body = ok_body(&call(&rt, &new, &inv, ctx()).await);
    assert_eq!(old_body, new_body);
    assert_eq!(old_body["parameters"], json!({"tag": "new"}));
    assert_eq!(old_body["event"], "update");
}

/// Ivanti execute, smartml delivery, validation and a process step, each reaching a webhook
/// handled by the 0.1.0 echo.
async fn a_0_1_component_runs_on_every_path(db: Db) {
    let w = World::start(db).await;
    let echo = w.upload(ECHO_V0_1).await;
    let register = async |configure: fn(WebhookSpec) -> WebhookSpec| {
        let spec = configure(w.spec(Handler::Component(echo.clone())));
        w.register(spec).await.0.id
    };
    let ivanti = register(|s| s.extension("EchoV01")).await;
    let records = register(|s| s.modules(["estate"])).await;
    let validation = register(|s| s.kind("validatePurchaseOrderDraft").object_type("Order")).await;

    // Ivanti: synchronous, the body is the echo of the invocation.
    let response = w
        .host
        .client
        .post(w.host.url("/api/rest/Webhooks/Execute?extension=EchoV01"))
        .header("authorization", format!("rest_api_key={}", w.rest_key))
        .header("content-type", "application/json")
        .body(r#"{"Subject":"Printer on fire"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (&body["event"], &body["module"], &body["payload"]),
        (
            &json!("execute"),
            &json!("webhook-body"),
            &json!({"Subject": "Printer on fire"})
        ),
        "{body}"
    );

    // MPT validation: synchronous, the echo is the answer.
    let (status, body) = w
        .as_tenant()
        .post(
            "/public/v1/validate/validatePurchaseOrderDraft",
            &json!({"id": "ORD-1", "lines": []}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["event"], "validate", "{body}");
    assert_eq!(body["payload"]["id"], "ORD-1", "{body}");

    // smartml: a delivery through the outbox.
    w.trigger("estate", &["15005"]).await;
    let delivered = w.webhook_after_calls(&records, 1).await;
    let call = delivered.last_call.expect("a call");
    assert!(call.success, "{call:?}");
    let echoed: Value = serde_json::from_str(&call.response).unwrap();
    assert_eq!(
        (&echoed["event"], &echoed["recordId"]),
        (&json!("update"), &json!("15005"))
    );

    // A process step: the webhook of the world's service that listens to estate.
    let (status, template) = w
        .as_tenant()
        .post(
            "/api/v1/process-templates",
            &json!({"name": "Echo", "steps": [{"type": "webhook", "serviceId": w.service,
                    "parameters": {}}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    let (status, process) = w
        .as_tenant()
        .post(
            "/api/v1/processes",
            &json!({"templateId": template["id"], "module": "estate", "recordId": "15006"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{process}");
    let path = format!("/api/v1/processes/{}", process["id"].as_str().unwrap());
    eventually("the process to complete", async || {
        let (_, process) = w.as_tenant().get(&path).await;
        (process["status"] == "completed").then_some(())
    })
    .await;
    let stepped = w.webhook_after_calls(&records, 2).await;
    let echoed: Value = serde_json::from_str(&stepped.last_call.unwrap().response).unwrap();
    assert_eq!(echoed["event"], "process-step", "{echoed}");
    assert_eq!(echoed["payload"]["record"]["id"], "15006", "{echoed}");

    for id in [&ivanti, &validation] {
        assert_eq!(w.webhook(id).await.statistics.successes, 1, "{id}");
    }
}

#[test]
fn plugin_check_and_run_serve_the_0_1_echo() {
    let dir = tempfile::tempdir().unwrap();
    let hookhost = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hookhost"))
            .args(args)
            .env("HOOKHOST_DATA_DIR", dir.path())
            .env_remove("HOOKHOST_CONFIG")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let checked = hookhost(&["plugin", "check", ECHO_V0_1]);
    assert!(
        checked.contains("wit: marketplace:webhook@0.1.0"),
        "{checked}"
    );
    let payload = dir.path().join("address.json");
    std::fs::write(&payload, r#"{"Vorname": "Erika"}"#).unwrap();
    let ran = hookhost(&[
        "plugin",
        "run",
        ECHO_V0_1,
        "--module",
        "address",
        "--record",
        "4711",
        "--payload",
        payload.to_str().unwrap(),
        "--json",
    ]);
    let report: Value = serde_json::from_str(&ran).unwrap();
    let body = &report["outcome"]["body"];
    assert_eq!(
        (&body["recordId"], &body["payload"]),
        (&json!("4711"), &json!({"Vorname": "Erika"})),
        "{ran}"
    );
}
