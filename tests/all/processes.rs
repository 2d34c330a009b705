//! The process manager end to end: templates refused with the step and field named, processes
//! whose steps call URL and component webhooks through the delivery path, delayed steps run
//! on a shortened day across a restart of the host and across instances on PostgreSQL, the
//! overdue e-mail received by a real SMTP server (a small one written here), the activity log,
//! cancelling, and the `hookhost process` CLI.

use crate::support::{Caller, Db, Receiver, Reply, World, smtp_server};
use axum::http::StatusCode;
use hookhost::config::Config;
use hookhost::process::SmtpSecurity;
use hookhost::store::{Handler, WebhookSpec};
use hookhost_plugins::ECHO;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

both_backends!(
    templates_are_validated_and_every_error_names_its_step_and_field,
    three_steps_with_a_delay_run_to_completion_across_a_restart,
    an_overdue_step_emails_the_controller_once,
    a_failed_call_fails_the_step_and_stops_the_process,
    a_step_calls_the_webhooks_its_record_and_payload_select,
    cancelling_stops_a_process_and_lists_filter,
);

/// The settings of these tests: days of one second, quick polls.
fn short_days(config: &mut Config) {
    config.delivery.poll_ms = 50;
    config.process.day_seconds = 1;
    config.process.poll_ms = 50;
}

// ---------------------------------------------------------------------------------------
// A tenant with activated services: one handled by a URL, one by the echo component.

/// The shared world on short days; its service is handled by a loopback receiver and
/// accepts `campaign` and `region`.
async fn world(db: Db, configure: impl FnOnce(&mut Config)) -> World {
    World::build(db)
        .config(|config| {
            short_days(config);
            configure(config);
        })
        .service_parameters(&["campaign", "region"])
        .start()
        .await
}

/// What these tests add to the world: its service's webhook and more services.
struct Services {
    /// The world's service's webhook, calling the receiver.
    url_webhook: String,
    /// Handled by echo; accepts `tag`.
    echo_service: String,
    echo_webhook: String,
    /// Activated, but without any webhook.
    bare_service: String,
    /// Has a webhook, but the tenant did not activate it.
    inactive_service: String,
}

/// Registers the services' webhooks, each retried after `retries` (seconds).
async fn services(w: &World, url: &str, retries: &[u64]) -> Services {
    let (store, key) = (w.host.store(), &w.host.state.key);
    let service = async |name: &str, accepted: &[&str], activated: bool| {
        let accepted: Vec<String> = accepted.iter().map(|p| (*p).to_owned()).collect();
        let id = store
            .create_service(&w.provider, name, &accepted)
            .await
            .unwrap()
            .id;
        if activated {
            store
                .activate(key, &w.tenant, &id, &BTreeMap::new())
                .await
                .unwrap();
        }
        id
    };
    let echo_service = service("Echo", &["tag"], true).await;
    let bare_service = service("No webhook", &[], true).await;
    let inactive_service = service("Not activated", &[], false).await;
    let register = async |service: &str, handler: Handler| {
        let spec = WebhookSpec::new(service, handler)
            .modules(["estate", "address"])
            .retry_schedule(retries);
        w.register(spec).await.0.id
    };
    let url_webhook = register(&w.service, Handler::Url(url.to_owned())).await;
    let echo = w.upload(ECHO).await;
    let echo_webhook = register(&echo_service, Handler::Component(echo)).await;
    register(&inactive_service, Handler::Url(url.to_owned())).await;
    Services {
        url_webhook,
        echo_service,
        echo_webhook,
        bare_service,
        inactive_service,
    }
}

/// Polls process `id` as `caller` until `done` holds for it.
async fn wait_for(
    caller: &Caller<'_>,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let (status, process) = caller.get(&format!("/api/v1/processes/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{process}");
        if done(&process) {
            return process;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "{what} did not happen: {process:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn status_of(process: &Value, position: usize) -> &str {
    process["steps"][position - 1]["status"].as_str().unwrap()
}

async fn create_template(w: &World, body: Value) -> String {
    let (status, created) = w.as_tenant().post("/api/v1/process-templates", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created:#}");
    created["id"].as_str().unwrap().to_owned()
}

async fn start(w: &World, body: Value) -> Value {
    let (status, process) = w.as_tenant().post("/api/v1/processes", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{process:#}");
    process
}

// ---------------------------------------------------------------------------------------
// The tests.

async fn templates_are_validated_and_every_error_names_its_step_and_field(db: Db) {
    let receiver = Receiver::start().await;
    let mut w = world(db, |_| {}).await;
    let s = services(&w, &receiver.url("/hook"), &[]).await;

    // Everything the database has to say, at once, each error naming its step and field.
    let body = json!({
        "name": "New listing",
        "controllerEmail": "not an address",
        "steps": [
            {"type": "webhook", "serviceId": s.inactive_service, "deadlineDays": 0},
            {"type": "webhook", "serviceId": s.bare_service},
            {"type": "webhook", "serviceId": w.service, "parameters": {"campaign": "spring", "colour": "red"}},
            {"type": "webhook", "serviceId": s.echo_service, "responsible": {"user": "  "}},
            {"type": "webhook", "serviceId": "SVC-0000-0000", "start": {"daysAfterPrevious": 4000}}
        ]
    });
    let (status, problem) = w.as_tenant().post("/api/v1/process-templates", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem:#}");
    let expected = [
        ("controllerEmail", "is not an e-mail address"),
        (
            "steps[0].serviceId",
            "is not one of this tenant's activated services",
        ),
        ("steps[0].deadlineDays", "at least 1 day"),
        ("steps[1].serviceId", "has no webhook"),
        (
            "steps[2].parameters.colour",
            "does not accept the parameter \"colour\": it accepts campaign, region",
        ),
        ("steps[3].responsible.user", "must not be empty"),
        (
            "steps[4].serviceId",
            "service SVC-0000-0000 is not one of this tenant's activated services",
        ),
        ("steps[4].start.daysAfterPrevious", "at most 3650 days"),
    ];
    let errors = problem["errors"].as_object().unwrap();
    assert_eq!(errors.len(), expected.len(), "{problem:#}");
    let detail = problem["detail"].as_str().unwrap();
    for (field, message) in expected {
        let said = errors[field][0]
            .as_str()
            .unwrap_or_else(|| panic!("no error for {field}: {problem:#}"));
        assert!(said.contains(message), "{field}: {said}");
        assert!(detail.contains(&format!("{field}: ")), "{detail}");
    }

    // Malformed steps: the JSON path names the step and the field.
    let step = |extra: Value| {
        let mut step = json!({"type": "webhook", "serviceId": w.service});
        for (k, v) in extra.as_object().unwrap() {
            step[k] = v.clone();
        }
        json!({"name": "x", "steps": [{"type": "webhook", "serviceId": s.echo_service}, step]})
    };
    let cases = [
        (
            step(json!({"deadlineDays": "three"})),
            "steps[1].deadlineDays",
            "expected u32",
        ),
        (
            step(json!({"start": {"weeksAfterPrevious": 1}})),
            "steps[1].start",
            "unknown variant `weeksAfterPrevious`",
        ),
        (
            step(json!({"type": "email"})),
            "steps[1].type",
            "unknown variant `email`",
        ),
        (
            step(json!({"record": "task"})),
            "steps[1].record",
            "unknown variant `task`",
        ),
        (
            step(json!({"parameters": {"campaign": 5}})),
            "steps[1].parameters.campaign",
            "expected a string",
        ),
        (
            step(json!({"responsible": "boss"})),
            "steps[1].responsible",
            "unknown variant `boss`",
        ),
        (
            step(json!({"colour": "red"})),
            "steps[1].colour",
            "unknown field `colour`",
        ),
        (
            json!({"name": "x", "steps": [{"type": "webhook"}]}),
            "steps[0]",
            "missing field `serviceId`",
        ),
        (
            json!({"name": " ", "steps": [{"type": "webhook", "serviceId": s.echo_service}]}),
            "name",
            "must not be empty",
        ),
        (
            json!({"name": "x", "steps": []}),
            "steps",
            "at least one step",
        ),
    ];
    for (body, field, message) in cases {
        let (status, problem) = w.as_tenant().post("/api/v1/process-templates", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem:#}");
        let said = problem["errors"][field][0]
            .as_str()
            .unwrap_or_else(|| panic!("no error for {field}: {problem:#}"));
        assert!(said.contains(message), "{field}: {said}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{field}: ")),
            "{problem:#}"
        );
    }

    // A valid template: created, read, replaced, deleted.
    let valid = json!({
        "name": "  New listing  ",
        "controllerEmail": "controller@example.com",
        "steps": [
            {"type": "webhook", "name": "Re-value", "serviceId": w.service,
             "parameters": {"campaign": "spring"}, "deadlineDays": 2, "record": "estate"},
            {"type": "webhook", "serviceId": s.echo_service, "start": {"daysAfterPrevious": 3},
             "responsible": {"user": "erika"}, "record": "address"}
        ]
    });
    let (status, created) = w
        .as_tenant()
        .post("/api/v1/process-templates", &valid)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created:#}");
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("PTM-"));
    assert_eq!(created["name"], "New listing");
    assert_eq!(created["revision"], 1);
    assert_eq!(
        created["steps"][1],
        json!({"type": "webhook", "name": "", "serviceId": s.echo_service, "parameters": {},
               "start": {"daysAfterPrevious": 3}, "deadlineDays": null,
               "responsible": {"user": "erika"}, "record": "address"})
    );
    assert_eq!(created["steps"][0]["start"], "afterPrevious");
    assert_eq!(created["steps"][0]["responsible"], "processOwner");
    let (status, read) = w
        .as_tenant()
        .get(&format!("/api/v1/process-templates/{id}"))
        .await;
    assert_eq!((status, &read), (StatusCode::OK, &created));
    let (status, page) = w.as_tenant().get("/api/v1/process-templates").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["$meta"]["pagination"]["total"], 1);

    // Starting needs the address record step 2 refers to.
    let (status, problem) = w
        .as_tenant()
        .post(
            "/api/v1/processes",
            &json!({"templateId": id, "module": "estate", "recordId": "15005"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem:#}");
    let said = problem["errors"]["links.address"][0].as_str().unwrap();
    assert!(
        said.contains("step 2") && said.contains("address"),
        "{said}"
    );
    let (status, problem) = w
        .as_tenant()
        .post(
            "/api/v1/processes",
            &json!({"templateId": "PTM-0000-0000", "module": "garage", "recordId": "1"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["errors"]["module"][0]
            .as_str()
            .unwrap()
            .contains("unknown variant `garage`"),
        "{problem:#}"
    );

    let mut replaced = valid.clone();
    replaced["steps"][1]["parameters"] = json!({"tag": "new-listing"});
    let (status, updated) = w
        .as_tenant()
        .put(&format!("/api/v1/process-templates/{id}"), &replaced)
        .await;
    assert_eq!(status, StatusCode::OK, "{updated:#}");
    assert_eq!(updated["revision"], 2);
    assert_eq!(
        updated["steps"][1]["parameters"],
        json!({"tag": "new-listing"})
    );
    replaced["steps"][1]["parameters"] = json!({"nope": "x"});
    let (status, problem) = w
        .as_tenant()
        .put(&format!("/api/v1/process-templates/{id}"), &replaced)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["errors"]["steps[1].parameters.nope"].is_array(),
        "{problem:#}"
    );

    // Other tenants and providers see nothing.
    let store = &w.host.state.store;
    let other = store.create_tenant("Other").await.unwrap().id;
    let (_, other_key) = store.create_api_key(&other).await.unwrap();
    let (status, _) = w
        .host
        .as_rest_key(&other_key)
        .get(&format!("/api/v1/process-templates/{id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, page) = w
        .host
        .as_rest_key(&other_key)
        .get("/api/v1/process-templates")
        .await;
    assert_eq!((status, page["data"].clone()), (StatusCode::OK, json!([])));
    let (status, problem) = w
        .host
        .as_rest_key(&other_key)
        .post(
            "/api/v1/process-templates",
            &json!({"name": "x", "steps": [{"type": "webhook", "serviceId": w.service}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["errors"]["steps[0].serviceId"][0]
            .as_str()
            .unwrap()
            .contains("is not one of this tenant's activated services")
    );
    let (_, provider_token) = store.create_provider("Another provider").await.unwrap();
    let (status, _) = w
        .host
        .as_rest_key(&provider_token)
        .get("/api/v1/process-templates")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let response = w
        .host
        .client
        .get(w.host.url("/api/v1/processes"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let (status, _) = w
        .as_tenant()
        .delete(&format!("/api/v1/process-templates/{id}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = w
        .as_tenant()
        .get(&format!("/api/v1/process-templates/{id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    w.host.stop().await;
}

async fn three_steps_with_a_delay_run_to_completion_across_a_restart(db: Db) {
    let receiver = Receiver::start().await;
    let mut w = world(db, |_| {}).await;
    let s = services(&w, &receiver.url("/hook"), &[1, 1]).await;
    let template = create_template(
        &w,
        json!({
            "name": "New listing",
            "steps": [
                {"type": "webhook", "name": "Re-value", "serviceId": w.service,
                 "parameters": {"campaign": "spring sale", "region": "aachen"}, "record": "estate"},
                {"type": "webhook", "name": "Newsletter", "serviceId": s.echo_service,
                 "parameters": {"tag": "new-listing"}, "start": {"daysAfterPrevious": 3},
                 "responsible": "recordMaintainer", "record": "address"},
                {"type": "webhook", "name": "Re-value again", "serviceId": w.service,
                 "responsible": {"user": "anna"}}
            ]
        }),
    )
    .await;
    let started = start(
        &w,
        json!({
            "templateId": template, "module": "estate", "recordId": "15005",
            "elements": {"kaufpreis": 350000, "wohnflaeche": 92},
            "links": {"address": {"recordId": "4711", "maintainer": "max", "elements": {"Email": "erika@example.com"}}},
            "owner": "erika"
        }),
    )
    .await;
    let id = started["id"].as_str().unwrap().to_owned();
    assert_eq!(started["status"], "running");
    assert_eq!(started["stepCount"], 3);
    assert_eq!(status_of(&started, 1), "scheduled");
    assert_eq!(status_of(&started, 2), "waiting");
    assert_eq!(
        started["steps"][1]["record"],
        json!({"module": "address", "recordId": "4711"})
    );
    assert_eq!(started["steps"][1]["responsibleUser"], "max");

    // Step 1 runs at once; step 2 waits three (one-second) days.
    let waiting = wait_for(&w.as_tenant(), &id, "step 1 finished", |p| {
        status_of(p, 1) == "succeeded" && status_of(p, 2) == "scheduled"
    })
    .await;
    assert_eq!(waiting["currentStep"], 2);
    let calls = receiver.hits();
    assert_eq!(calls.len(), 1);
    // The step's parameters arrive as query parameters of the URL handler.
    assert_eq!(calls[0].query["campaign"], "spring sale");
    assert_eq!(calls[0].query["region"], "aachen");
    assert_eq!(calls[0].json()["process"]["id"], id.as_str());
    assert_eq!(calls[0].json()["step"]["position"], 1);
    assert_eq!(
        calls[0].json()["record"],
        json!({"module": "estate", "id": "15005"})
    );
    assert_eq!(calls[0].json()["elements"]["kaufpreis"], 350000);

    // A restart in the middle: the schedule is in the database, not in the host.
    w.host.restart().await;
    let done = wait_for(&w.as_tenant(), &id, "the process completed", |p| {
        p["status"] == "completed"
    })
    .await;
    let at = |step: usize, field: &str| {
        let text = done["steps"][step - 1][field].as_str().unwrap();
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    };
    assert!(
        at(2, "startedAt") - at(1, "finishedAt") >= time::Duration::seconds(3),
        "{done:#}"
    );
    assert!(at(3, "startedAt") >= at(2, "finishedAt"), "{done:#}");
    assert!(done["finishedAt"].is_string());
    assert_eq!(done["currentStep"], Value::Null);
    for step in done["steps"].as_array().unwrap() {
        assert_eq!(step["status"], "succeeded", "{done:#}");
        assert_eq!(step["deliveries"].as_array().unwrap().len(), 1);
    }

    // Each URL step called once, step 3 without parameters.
    let calls = receiver.hits();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[1].query.is_empty());
    assert_eq!(calls[1].json()["step"]["position"], 3);

    // The component got the parameters in its invocation, as a process step.
    w.host.state.recorder.flush().await;
    let (logged, total) = w
        .host
        .state
        .store
        .list_calls(&s.echo_webhook, None, 0, 10)
        .await
        .unwrap();
    assert_eq!(total, 1);
    assert_eq!(logged[0].trigger.as_str(), "process");
    let echoed: Value = serde_json::from_str(&logged[0].call.response).unwrap();
    assert_eq!(echoed["event"], "process-step");
    assert_eq!(echoed["parameters"], json!({"tag": "new-listing"}));
    assert_eq!(echoed["module"], "address");
    assert_eq!(echoed["recordId"], "4711");
    assert_eq!(
        echoed["payload"]["elements"],
        json!({"Email": "erika@example.com"})
    );
    assert_eq!(echoed["payload"]["step"]["responsible"], "max");
    assert_eq!(echoed["deliveryId"], done["steps"][1]["deliveries"][0]);
    w.host.state.recorder.flush().await;
    let webhook = w
        .host
        .state
        .store
        .webhook_unscoped(&s.url_webhook)
        .await
        .unwrap();
    assert_eq!(webhook.statistics.successes, 2);

    // Every step wrote to its record's activity log: who, what, when, result.
    let (status, estate) = w
        .as_tenant()
        .get("/api/v1/records/estate/15005/activities")
        .await;
    assert_eq!(status, StatusCode::OK);
    let entries = estate["data"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{estate:#}");
    // Newest first.
    assert_eq!(entries[0]["step"], 3);
    assert_eq!(entries[0]["who"], "anna");
    assert_eq!(entries[0]["responsible"], "user");
    assert_eq!(entries[1]["step"], 1);
    assert_eq!(entries[1]["who"], "erika");
    assert_eq!(entries[1]["responsible"], "processOwner");
    for entry in entries {
        assert_eq!(entry["result"], "succeeded");
        assert_eq!(entry["processId"], id.as_str());
        assert!(
            entry["what"].as_str().unwrap().contains("New listing"),
            "{entry}"
        );
        assert!(
            entry["detail"].as_str().unwrap().contains(&s.url_webhook),
            "{entry}"
        );
        assert!(entry["at"].as_str().unwrap().ends_with('Z'));
    }
    let (_, address) = w
        .as_tenant()
        .get("/api/v1/records/address/4711/activities")
        .await;
    assert_eq!(address["$meta"]["pagination"]["total"], 1);
    assert_eq!(address["data"][0]["who"], "max");
    assert_eq!(address["data"][0]["responsible"], "recordMaintainer");
    assert!(
        address["data"][0]["what"]
            .as_str()
            .unwrap()
            .contains("step 2 of 3: Newsletter")
    );
    let (status, _) = w.as_tenant().get("/api/v1/records/task/1/activities").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    w.host.stop().await;
}

async fn an_overdue_step_emails_the_controller_once(db: Db) {
    let receiver = Receiver::start().await;
    // The endpoint fails until told otherwise; retries every second.
    receiver.answer(|_, _| Reply::status(503));
    let (port, outbox) = smtp_server().await;
    let mut w = world(db, |config| {
        config.smtp.host = "127.0.0.1".into();
        config.smtp.port = port;
        config.smtp.security = SmtpSecurity::None;
        config.smtp.from = "Process manager <processes@hookhost.test>".into();
    })
    .await;
    let s = services(&w, &receiver.url("/hook"), &[1; 30]).await;
    let template = create_template(
        &w,
        json!({
            "name": "Slow valuation",
            "controllerEmail": "template-controller@example.com",
            "steps": [
                {"type": "webhook", "name": "Re-value", "serviceId": w.service, "deadlineDays": 2},
                {"type": "webhook", "name": "Tell the newsletter", "serviceId": s.echo_service, "deadlineDays": 30}
            ]
        }),
    )
    .await;
    let process = start(
        &w,
        json!({"templateId": template, "module": "estate", "recordId": "77", "owner": "erika",
               "controllerEmail": "controller@example.com"}),
    )
    .await;
    let id = process["id"].as_str().unwrap().to_owned();
    assert_eq!(process["controllerEmail"], "controller@example.com");

    // Two (one-second) days later the step is overdue: one e-mail to the process's controller.
    let overdue = wait_for(&w.as_tenant(), &id, "the overdue e-mail", |p| {
        p["steps"][0]["notifiedAt"].is_string()
    })
    .await;
    assert_eq!(overdue["overdue"], true);
    assert_eq!(overdue["status"], "running");
    assert_eq!(overdue["steps"][0]["overdue"], true);
    assert_eq!(
        overdue["steps"][0]["notice"],
        "e-mailed controller@example.com"
    );
    let mails = outbox.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].from, "processes@hookhost.test");
    assert_eq!(mails[0].to, vec!["controller@example.com".to_owned()]);
    assert!(
        mails[0]
            .data
            .contains("Subject: Overdue: step 1 of \"Slow valuation\" for estate 77"),
        "{}",
        mails[0].data
    );
    assert!(mails[0].data.contains(&id), "{}", mails[0].data);
    assert!(
        mails[0].data.contains("Responsible: erika"),
        "{}",
        mails[0].data
    );

    // The endpoint recovers: the process goes on and completes; still one e-mail.
    receiver.answer(|_, _| Reply::ok());
    let done = wait_for(&w.as_tenant(), &id, "the process completed", |p| {
        p["status"] == "completed"
    })
    .await;
    assert_eq!(done["overdue"], true);
    assert_eq!(done["steps"][1]["overdue"], false);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(outbox.mails().len(), 1, "{:?}", outbox.mails());
    assert!(receiver.count() >= 2);

    let (_, log) = w
        .as_tenant()
        .get("/api/v1/records/estate/77/activities")
        .await;
    let results: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    // Newest first: step 2, step 1, step 1 overdue.
    assert_eq!(results, ["succeeded", "succeeded", "overdue"], "{log:#}");
    assert!(
        log["data"][2]["detail"]
            .as_str()
            .unwrap()
            .contains("deadline")
    );

    // Without an SMTP server the step is still marked overdue, and the step says why no
    // e-mail went out.
    w.host.stop().await;
    receiver.answer(|_, _| Reply::status(503));
    w.host
        .restart_with(|c| c.smtp = Config::defaults().smtp)
        .await;
    let process = start(
        &w,
        json!({"templateId": template, "module": "estate", "recordId": "78"}),
    )
    .await;
    let id = process["id"].as_str().unwrap();
    let overdue = wait_for(&w.as_tenant(), id, "overdue without e-mail", |p| {
        p["steps"][0]["notice"].is_string()
    })
    .await;
    assert_eq!(overdue["overdue"], true);
    assert_eq!(
        overdue["steps"][0]["notice"],
        "no e-mail: no SMTP server is configured ([smtp] host)"
    );
    assert_eq!(overdue["steps"][0]["notifiedAt"], Value::Null);
    assert_eq!(outbox.mails().len(), 1);
    let (status, cancelled) = w
        .as_tenant()
        .post(&format!("/api/v1/processes/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled:#}");
    w.host.stop().await;
}

async fn a_step_calls_the_webhooks_its_record_and_payload_select(db: Db) {
    let receiver = Receiver::start().await;
    let w = world(db, |_| {}).await;
    services(&w, &receiver.url("/hook"), &[1]).await;
    // Beside the service's webhook (both modules, no criteria): one for contacts only, one
    // for another estate, one for this estate.
    let url = |path: &str| Handler::Url(receiver.url(path));
    let register = async |spec: WebhookSpec| w.register(spec).await.0.id;
    register(w.spec(url("/contacts")).modules(["address"])).await;
    register(
        w.spec(url("/other-estate"))
            .modules(["estate"])
            .criteria([("record.id", "99999")]),
    )
    .await;
    register(
        w.spec(url("/this-estate"))
            .modules(["estate"])
            .criteria([("record.id", "15005")]),
    )
    .await;
    let template = create_template(
        &w,
        json!({"name": "Announce", "steps": [{"type": "webhook", "serviceId": w.service}]}),
    )
    .await;
    let process = start(
        &w,
        json!({"templateId": template, "module": "estate", "recordId": "15005"}),
    )
    .await;
    let id = process["id"].as_str().unwrap();
    let done = wait_for(&w.as_tenant(), id, "the process completed", |p| {
        p["status"] == "completed"
    })
    .await;
    assert_eq!(
        done["steps"][0]["deliveries"].as_array().unwrap().len(),
        2,
        "{done:#}"
    );
    assert_eq!(receiver.count_on("/hook"), 1);
    assert_eq!(receiver.count_on("/this-estate"), 1);
    assert_eq!(receiver.count_on("/contacts"), 0);
    assert_eq!(receiver.count_on("/other-estate"), 0);
}

async fn a_failed_call_fails_the_step_and_stops_the_process(db: Db) {
    let receiver = Receiver::start().await;
    receiver.answer(|_, _| Reply::status(500));
    // No retries: the first failure is final.
    let mut w = world(db, |_| {}).await;
    let s = services(&w, &receiver.url("/hook"), &[]).await;
    let template = create_template(
        &w,
        json!({"name": "Doomed", "steps": [
            {"type": "webhook", "serviceId": s.echo_service},
            {"type": "webhook", "serviceId": w.service, "responsible": {"user": "anna"}},
            {"type": "webhook", "serviceId": s.echo_service}
        ]}),
    )
    .await;
    let process = start(
        &w,
        json!({"templateId": template, "module": "address", "recordId": "4711"}),
    )
    .await;
    let id = process["id"].as_str().unwrap();
    let failed = wait_for(&w.as_tenant(), id, "the process failed", |p| {
        p["status"] == "failed"
    })
    .await;
    assert_eq!(status_of(&failed, 1), "succeeded");
    assert_eq!(status_of(&failed, 2), "failed");
    assert_eq!(status_of(&failed, 3), "skipped");
    let error = failed["steps"][1]["error"].as_str().unwrap();
    assert!(
        error.contains(&s.url_webhook) && error.contains("500"),
        "{error}"
    );
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .starts_with("step 2 failed: "),
        "{failed:#}"
    );
    assert!(failed["finishedAt"].is_string());
    assert_eq!(receiver.count(), 1);

    let (_, log) = w
        .as_tenant()
        .get("/api/v1/records/address/4711/activities")
        .await;
    assert_eq!(log["$meta"]["pagination"]["total"], 2, "{log:#}");
    assert_eq!(log["data"][0]["result"], "failed");
    assert_eq!(log["data"][0]["who"], "anna");
    assert!(log["data"][0]["detail"].as_str().unwrap().contains("500"));

    // A step whose service lost its webhook fails the process too, visibly.
    let template = create_template(
        &w,
        json!({"name": "Gone", "steps": [
            {"type": "webhook", "serviceId": w.service, "start": {"daysAfterPrevious": 1}}
        ]}),
    )
    .await;
    let process = start(
        &w,
        json!({"templateId": template, "module": "estate", "recordId": "9"}),
    )
    .await;
    let owner = w
        .host
        .state
        .store
        .webhook_unscoped(&s.url_webhook)
        .await
        .unwrap()
        .owner;
    w.host
        .state
        .store
        .set_webhook_enabled(&owner, &s.url_webhook, false)
        .await
        .unwrap();
    let id = process["id"].as_str().unwrap();
    let failed = wait_for(&w.as_tenant(), id, "the process failed", |p| {
        p["status"] == "failed"
    })
    .await;
    assert!(
        failed["steps"][0]["error"]
            .as_str()
            .unwrap()
            .contains("no enabled webhook"),
        "{failed:#}"
    );
    w.host.stop().await;
}

async fn cancelling_stops_a_process_and_lists_filter(db: Db) {
    let receiver = Receiver::start().await;
    let mut w = world(db, |_| {}).await;
    services(&w, &receiver.url("/hook"), &[]).await;
    let template = create_template(
        &w,
        json!({"name": "Later", "steps": [
            {"type": "webhook", "serviceId": w.service, "start": {"daysAfterPrevious": 600}}
        ]}),
    )
    .await;
    let a = start(
        &w,
        json!({"templateId": template, "module": "estate", "recordId": "1"}),
    )
    .await;
    let b = start(
        &w,
        json!({"templateId": template, "module": "estate", "recordId": "2"}),
    )
    .await;
    let a = a["id"].as_str().unwrap();
    let (status, cancelled) = w
        .as_tenant()
        .post(&format!("/api/v1/processes/{a}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled:#}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(status_of(&cancelled, 1), "cancelled");
    let (status, problem) = w
        .as_tenant()
        .post(&format!("/api/v1/processes/{a}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        problem["detail"].as_str().unwrap().contains("cancelled"),
        "{problem:#}"
    );

    let (status, running) = w.as_tenant().get("/api/v1/processes?status=running").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(running["$meta"]["pagination"]["total"], 1);
    assert_eq!(running["data"][0]["id"], b["id"]);
    assert!(running["data"][0].get("steps").is_none());
    let (_, by_record) = w
        .as_tenant()
        .get("/api/v1/processes?module=estate&recordId=1")
        .await;
    assert_eq!(by_record["data"][0]["id"], a);
    let (_, all) = w.as_tenant().get("/api/v1/processes?limit=1").await;
    assert_eq!(
        all["$meta"]["pagination"],
        json!({"offset": 0, "limit": 1, "total": 2})
    );
    let (status, problem) = w.as_tenant().get("/api/v1/processes?status=paused").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(problem["errors"]["status"].is_array());
    let (status, _) = w.as_tenant().get("/api/v1/processes/PRC-nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A template changed after the start does not change the process; a deleted one neither.
    let (status, _) = w
        .as_tenant()
        .delete(&format!("/api/v1/process-templates/{template}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, still) = w
        .as_tenant()
        .get(&format!("/api/v1/processes/{}", b["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        still["steps"][0]["start"],
        json!({"daysAfterPrevious": 600})
    );
    assert!(receiver.count() == 0);
    w.host.stop().await;
}

/// Two instances on one PostgreSQL database share the steps of many processes (each step
/// runs once); the first stops in the middle and the second finishes what it started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_finishes_what_the_first_started_on_postgres() {
    let receiver = Receiver::start().await;
    let mut w = world(Db::Postgres, |_| {}).await;
    let mut second = w.host.another_instance().await;
    let s = services(&w, &receiver.url("/hook"), &[1, 1]).await;
    let template = create_template(
        &w,
        json!({"name": "Shared", "steps": [
            {"type": "webhook", "serviceId": w.service, "parameters": {"campaign": "one"}},
            {"type": "webhook", "serviceId": w.service, "parameters": {"campaign": "two"},
             "start": {"daysAfterPrevious": 2}},
            {"type": "webhook", "serviceId": s.echo_service}
        ]}),
    )
    .await;
    let mut ids = Vec::new();
    for record in 0..8 {
        let process = start(
            &w,
            json!({"templateId": template, "module": "estate", "recordId": record.to_string()}),
        )
        .await;
        ids.push(process["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        wait_for(&w.as_tenant(), id, "step 1 finished", |p| {
            status_of(p, 1) == "succeeded"
        })
        .await;
    }
    w.host.stop().await;
    for id in &ids {
        wait_for(
            &second.as_rest_key(&w.rest_key),
            id,
            "the process completed",
            |p| p["status"] == "completed",
        )
        .await;
    }
    // Each URL step of each process called exactly once, whichever instance ran it.
    let mut seen: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for call in receiver.hits() {
        let key = (
            call.json()["process"]["id"].as_str().unwrap().to_owned(),
            call.json()["step"]["position"].as_i64().unwrap(),
        );
        *seen.entry(key).or_default() += 1;
    }
    assert_eq!(seen.len(), ids.len() * 2, "{seen:?}");
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    second.state.recorder.flush().await;
    let (logged, total) = second
        .state
        .store
        .list_calls(&s.echo_webhook, None, 0, 100)
        .await
        .unwrap();
    assert_eq!(total as usize, ids.len(), "{logged:?}");
    second.stop().await;
}

/// `hookhost process …` on the database, then a host runs what it started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_manages_templates_and_processes() {
    let receiver = Receiver::start().await;
    // A running host picks up what the CLI starts.
    let mut w = world(Db::Sqlite, |_| {}).await;
    let s = services(&w, &receiver.url("/hook"), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let database_url = w.host.state.config.database_url.clone();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookhost"))
            .args(args)
            .env("HOOKHOST_DATABASE_URL", &database_url)
            .env("HOOKHOST_DATA_DIR", dir.join("cli"))
            .env("HOOKHOST_LOG", "warn")
            .env_remove("HOOKHOST_CONFIG")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let file = |name: &str, body: Value| -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, body.to_string()).unwrap();
        path
    };

    let bad = file(
        "bad.json",
        json!({"name": "Bad", "steps": [
            {"type": "webhook", "serviceId": s.bare_service, "parameters": {"x": "1"}}
        ]}),
    );
    let (code, _, stderr) = cli(&[
        "process",
        "template",
        "create",
        "--tenant",
        &w.tenant,
        "--file",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("steps[0].serviceId: service") && stderr.contains("has no webhook"),
        "{stderr}"
    );
    assert!(stderr.contains("steps[0].parameters.x: "), "{stderr}");

    let good = file(
        "good.json",
        json!({"name": "From the CLI", "steps": [
            {"type": "webhook", "serviceId": w.service, "parameters": {"region": "aachen"}},
            {"type": "webhook", "serviceId": s.echo_service, "parameters": {"tag": "cli"}, "start": {"daysAfterPrevious": 1}}
        ]}),
    );
    let (code, stdout, stderr) = cli(&[
        "process",
        "template",
        "create",
        "--tenant",
        &w.tenant,
        "--file",
        good.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let template: Value = serde_json::from_str(&stdout).unwrap();
    let template_id = template["id"].as_str().unwrap();
    let (code, stdout, _) = cli(&["process", "template", "list", "--tenant", &w.tenant]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains(template_id) && stdout.contains("From the CLI"),
        "{stdout}"
    );

    let (code, stdout, stderr) = cli(&[
        "process",
        "start",
        "--tenant",
        &w.tenant,
        "--template",
        template_id,
        "--module",
        "estate",
        "--record",
        "15005",
        "--owner",
        "erika",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let process: Value = serde_json::from_str(&stdout).unwrap();
    let id = process["id"].as_str().unwrap().to_owned();
    assert_eq!(process["status"], "running");
    let (code, _, stderr) = cli(&[
        "process",
        "start",
        "--tenant",
        &w.tenant,
        "--template",
        template_id,
        "--module",
        "garage",
        "--record",
        "1",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("module: unknown variant `garage`"),
        "{stderr}"
    );

    wait_for(&w.as_tenant(), &id, "the process completed", |p| {
        p["status"] == "completed"
    })
    .await;
    w.host.stop().await;
    assert_eq!(receiver.hits()[0].query["region"], "aachen");

    let (code, stdout, _) = cli(&["process", "show", "--tenant", &w.tenant, &id]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("completed") && stdout.contains("1. succeeded"),
        "{stdout}"
    );
    let (code, stdout, _) = cli(&[
        "process",
        "list",
        "--tenant",
        &w.tenant,
        "--status",
        "completed",
    ]);
    assert_eq!(code, 0);
    assert!(stdout.contains(&id), "{stdout}");
    let (code, stdout, _) = cli(&[
        "process",
        "activities",
        "--tenant",
        &w.tenant,
        "--module",
        "estate",
        "--record",
        "15005",
        "--json",
    ]);
    assert_eq!(code, 0);
    let entries: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 2, "{entries:#}");
    assert_eq!(entries[0]["who"], "erika");
    let (code, _, stderr) = cli(&["process", "cancel", "--tenant", &w.tenant, &id]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("only a running process can be cancelled"),
        "{stderr}"
    );
    let (code, stdout, _) = cli(&[
        "process",
        "template",
        "delete",
        "--tenant",
        &w.tenant,
        template_id,
    ]);
    assert_eq!(code, 0, "{stdout}");
    let (code, _, stderr) = cli(&[
        "process",
        "template",
        "show",
        "--tenant",
        &w.tenant,
        template_id,
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("not found"), "{stderr}");
}
