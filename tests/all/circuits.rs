//! Circuit breaking: after a run of failures a webhook's deliveries pause and one probe call
//! at growing intervals decides when they resume (on PostgreSQL with two instances sharing
//! the circuit); the state is in the API and `/metrics`; the owner is told through
//! notifications and operational events its URL webhooks subscribe to; a circuit open for too
//! long disables the webhook.

use crate::support::{Db, Receiver, Reply, World, eventually, schema_violations};
use axum::http::StatusCode;
use hookhost::events::EventType;
use hookhost::store::{Handler, Webhook};
use hookhost::vocab::{DeliveryStatus, OpsEvent};
use serde_json::Value;

both_backends!(
    a_failing_webhook_pauses_and_one_probe_at_a_time_decides_when_it_resumes,
    a_circuit_open_for_too_long_disables_the_webhook_and_tells_the_owner,
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
