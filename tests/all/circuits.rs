//! Circuit breaking: after a run of failures a webhook's deliveries pause and one probe call
//! at growing intervals decides when they resume (on PostgreSQL with two instances sharing
//! the circuit); the state is in the API and `/metrics`; the owner is told through
//! notifications, operational events its URL webhooks subscribe to and, with `[smtp]`, e-mail
//! to its contact address (a real SMTP server); a circuit open for too long disables the
//! webhook.

use crate::support::{Db, Receiver, Reply, World, eventually, schema_violations, smtp_server};
use axum::http::StatusCode;
use hookhost::events::EventType;
use hookhost::store::{Handler, Webhook};
use hookhost::vocab::{DeliveryStatus, OpsEvent};
use serde_json::Value;

both_backends!(
    a_failing_webhook_pauses_and_one_probe_at_a_time_decides_when_it_resumes,
    a_circuit_open_for_too_long_disables_the_webhook_and_tells_the_owner,
    the_owner_is_emailed_when_a_circuit_opens_and_when_the_host_disables_the_webhook,
);

/// A URL webhook of the provider's service listening to estate, retried after 1 s.
async fn flaky(w: &World, receiver: &Receiver) -> Webhook {
    let spec = w
        .spec(Handler::Url(receiver.url("/flaky")))
        .modules(["estate"])
        .retry_schedule(vec![1; 20]);
    w.register(spec).await.0
}

/// A URL webhook of the same provider that subscribes to operational events only.
async fn ops_listener(w: &World, receiver: &Receiver, events: &[OpsEvent]) -> Webhook {
    let spec = w
        .spec(Handler::Url(receiver.url("/ops")))
        .event_types(events.iter().map(|e| EventType::Operational(*e)));
    w.register(spec).await.0
}

/// The deliveries of `webhook` by status, with their attempts.
async fn deliveries(w: &World, webhook: &str) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT status, attempts FROM deliveries WHERE webhook_id = $1")
        .bind(webhook)
        .fetch_all(w.host.store().pool())
        .await
        .unwrap()
}

async fn metrics(w: &World) -> String {
    w.host
        .client
        .get(w.host.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The operational events that arrived, as JSON, checked against their catalogue schema.
async fn ops_events(w: &World, receiver: &Receiver, n: usize) -> Vec<Value> {
    let hits = receiver.wait_for(n).await;
    let mut events = Vec::new();
    for hit in hits.iter().filter(|h| h.path == "/ops") {
        let event = hit.json();
        let (_, entry) = w
            .as_tenant()
            .get(&format!(
                "/public/v1/event-types/{}",
                event["type"].as_str().unwrap()
            ))
            .await;
        let errors = schema_violations(&entry["schema"], &event);
        assert!(errors.is_empty(), "{errors:?} in {event}");
        events.push(event);
    }
    events
}

async fn a_failing_webhook_pauses_and_one_probe_at_a_time_decides_when_it_resumes(db: Db) {
    let w = World::build(db)
        .config(|c| {
            c.delivery.circuit_failures = 3;
            c.delivery.circuit_probe_ms = 300;
            c.delivery.circuit_probe_max_ms = 600;
            // One call at a time, so that the run of failures is exact.
            c.delivery.per_webhook_concurrency = 1;
        })
        .start()
        .await;
    // On PostgreSQL a second instance works the same outbox: the circuit is shared.
    let _second = match db {
        Db::Postgres => Some(w.host.another_instance().await),
        Db::Sqlite => None,
    };
    let receiver = Receiver::scripted(|hit, _| match hit.path.as_str() {
        "/flaky" => Reply::status(500),
        _ => Reply::ok(),
    })
    .await;
    let webhook = flaky(&w, &receiver).await;
    ops_listener(
        &w,
        &receiver,
        &[OpsEvent::CircuitOpened, OpsEvent::CircuitClosed],
    )
    .await;
    let records: Vec<String> = (0..12).map(|i| i.to_string()).collect();
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    w.trigger("estate", &records).await;

    // The circuit opens; the API, /metrics and a notification say so.
    let path = format!("/public/v1/notifications/webhooks/{}", webhook.id);
    let opened = eventually("the circuit to open", async || {
        let (_, body) = w.as_provider().get(&path).await;
        (body["circuit"]["state"] != "closed").then_some(body)
    })
    .await;
    assert!(opened["circuit"]["openedAt"].is_string(), "{opened}");
    assert!(opened["circuit"]["nextProbeAt"].is_string(), "{opened}");
    let (status, listed) = w
        .as_provider()
        .get("/public/v1/notifications/webhooks?circuit.state=ne=closed&select=+id")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["data"][0]["id"], webhook.id.as_str(), "{listed}");
    let text = metrics(&w).await;
    assert!(
        text.contains(&format!(
            "hookhost_webhook_circuit_open{{webhook=\"{}\"",
            webhook.id
        )),
        "{text}"
    );
    let (_, notes) = w.as_provider().get(&format!("{path}/notifications")).await;
    assert_eq!(notes["data"][0]["kind"], "circuit-opened", "{notes}");

    // While it is open, one probe at a time: two probes later, most deliveries were never
    // attempted (without a breaker every one would have failed in turn by now).
    let failures_when_opened = receiver.count_on("/flaky");
    eventually("two probe calls", async || {
        (receiver.count_on("/flaky") >= failures_when_opened + 2).then_some(())
    })
    .await;
    let rows = deliveries(&w, &webhook.id).await;
    let untried = rows.iter().filter(|(_, attempts)| *attempts == 0).count();
    assert!(untried >= 6, "{rows:?}");

    // The receiver recovers: the next probe closes the circuit and everything is delivered.
    receiver.answer(|_, _| Reply::ok());
    eventually("every delivery to succeed", async || {
        let rows = deliveries(&w, &webhook.id).await;
        rows.iter()
            .all(|(status, _)| status == DeliveryStatus::Succeeded.as_str())
            .then_some(())
    })
    .await;
    let (_, closed) = w.as_provider().get(&path).await;
    assert_eq!(closed["circuit"], serde_json::json!({"state": "closed"}));
    assert!(!metrics(&w).await.contains("hookhost_webhook_circuit_open{"));
    let events = eventually("both operational events", async || {
        let events = ops_events(&w, &receiver, 1).await;
        (events.len() >= 2).then_some(events)
    })
    .await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["webhook.circuit-opened", "webhook.circuit-closed"]);
    assert_eq!(events[0]["webhook"]["id"], webhook.id.as_str());
    assert_eq!(events[0]["circuit"]["state"], "open");
}

async fn a_circuit_open_for_too_long_disables_the_webhook_and_tells_the_owner(db: Db) {
    let w = World::build(db)
        .config(|c| {
            c.delivery.circuit_failures = 1;
            c.delivery.circuit_probe_ms = 200;
            c.delivery.circuit_probe_max_ms = 400;
            // 1.8 seconds.
            c.delivery.circuit_disable_after_hours = 0.0005;
        })
        .start()
        .await;
    let receiver = Receiver::scripted(|hit, _| match hit.path.as_str() {
        "/flaky" => Reply::status(503),
        _ => Reply::ok(),
    })
    .await;
    let webhook = flaky(&w, &receiver).await;
    ops_listener(&w, &receiver, &[OpsEvent::Disabled]).await;
    w.trigger("estate", &["1"]).await;

    let disabled = eventually("the webhook to be disabled", async || {
        let webhook = w.webhook(&webhook.id).await;
        (!webhook.enabled).then_some(webhook)
    })
    .await;
    assert!(disabled.disabled_at.is_some());
    let (_, notes) = w
        .as_provider()
        .get(&format!(
            "/public/v1/notifications/webhooks/{}/notifications",
            webhook.id
        ))
        .await;
    let kinds: Vec<&str> = notes["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["failing", "circuit-opened"], "{notes}");
    let message = notes["data"][0]["message"].as_str().unwrap();
    assert!(message.contains("circuit open since"), "{message}");
    let events = eventually("the operational event", async || {
        let events = ops_events(&w, &receiver, 1).await;
        (!events.is_empty()).then_some(events)
    })
    .await;
    assert_eq!(events[0]["type"], "webhook.disabled");
    assert_eq!(events[0]["message"], message);

    // Enabled again, the webhook starts with a closed circuit.
    let (status, _) = w
        .as_provider()
        .post(
            &format!("/public/v1/notifications/webhooks/{}/enable", webhook.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = w
        .as_provider()
        .get(&format!("/public/v1/notifications/webhooks/{}", webhook.id))
        .await;
    assert_eq!(body["circuit"]["state"], "closed");
}

async fn the_owner_is_emailed_when_a_circuit_opens_and_when_the_host_disables_the_webhook(db: Db) {
    let (port, outbox) = smtp_server().await;
    let w = World::build(db)
        .config(move |c| {
            c.delivery.circuit_failures = 1;
            c.delivery.circuit_probe_ms = 200;
            c.delivery.circuit_probe_max_ms = 400;
            // 1.8 seconds.
            c.delivery.circuit_disable_after_hours = 0.0005;
            c.smtp.host = "127.0.0.1".into();
            c.smtp.port = port;
            c.smtp.security = hookhost::process::SmtpSecurity::None;
            c.smtp.from = "Webhooks <webhooks@hookhost.test>".into();
        })
        .start()
        .await;
    let admin = w.host.as_bearer(crate::support::ADMIN_TOKEN);
    let provider = format!("/admin/v1/providers/{}", w.provider.id());

    // The contact e-mail is checked: a bad one is refused and changes nothing.
    for bad in ["not an address", "two@@example.com", ""] {
        let (status, problem) = admin
            .send(
                axum::http::Method::PATCH,
                &provider,
                Some(&serde_json::json!({"contactEmail": bad})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("contactEmail"),
            "{problem}"
        );
    }
    let (status, _) = admin
        .send(
            axum::http::Method::PATCH,
            "/admin/v1/providers/PRV-nobody",
            Some(&serde_json::json!({"contactEmail": "a@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = admin.get("/admin/v1/providers").await;
    assert_eq!(listed["data"][0]["contactEmail"], Value::Null, "{listed}");
    let (status, updated) = admin
        .send(
            axum::http::Method::PATCH,
            &provider,
            Some(&serde_json::json!({"contactEmail": "alerts@provider.example"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["contactEmail"], "alerts@provider.example");
    // The CLI sets a tenant's, with the same check.
    let (ok, text) = w
        .host
        .cli(&[
            "admin",
            "set-contact",
            "--tenant",
            &w.tenant,
            "--email",
            "nope",
        ])
        .await;
    assert!(!ok && text.contains("contactEmail"), "{text}");
    let (ok, text) = w
        .host
        .cli(&[
            "admin",
            "set-contact",
            "--tenant",
            &w.tenant,
            "--email",
            "it@tenant.example",
        ])
        .await;
    assert!(ok, "{text}");
    let (_, tenants) = admin.get("/admin/v1/tenants").await;
    assert_eq!(tenants["data"][0]["contactEmail"], "it@tenant.example");

    // The provider's webhook fails: its circuit opens, then the host disables it. One e-mail
    // to the provider each time.
    let receiver = Receiver::scripted(|_, _| Reply::status(503)).await;
    let webhook = flaky(&w, &receiver).await;
    w.trigger("estate", &["1"]).await;
    eventually("the webhook to be disabled", async || {
        (!w.webhook(&webhook.id).await.enabled).then_some(())
    })
    .await;
    let mails = eventually("two e-mails", async || {
        let mails = outbox.mails();
        (mails.len() >= 2).then_some(mails)
    })
    .await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    let texts: Vec<String> = mails.iter().map(|m| m.text()).collect();
    for (mail, text) in mails.iter().zip(&texts) {
        assert_eq!(mail.from, "webhooks@hookhost.test");
        assert_eq!(mail.to, ["alerts@provider.example"]);
        assert!(text.contains(&webhook.id), "{text}");
        assert!(text.contains(&receiver.url("/flaky")), "{text}");
    }
    assert!(
        texts[0].contains("deliveries paused") && texts[0].contains("probe call"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].contains(": disabled") && texts[1].contains("circuit open since"),
        "{}",
        texts[1]
    );
}
