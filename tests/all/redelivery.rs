//! Delivering again: `recover` of what failed for good in a window, and bulk retries by
//! status, event type, record and time, through the API and the `hookhost admin` binary.
//! A delivery queued again keeps its `webhook-id`, the call log adds its attempts to the same
//! delivery, and both are idempotent (an `Idempotency-Key` makes the request count once).

use crate::support::{Db, Receiver, Reply, World, eventually};
use axum::http::StatusCode;
use hookhost::store::{DeliveryState, Handler, LoggedCall, Webhook};
use hookhost::time::{format_ms, now_ms};
use hookhost::vocab::DeliveryStatus;
use serde_json::{Value, json};
use std::collections::BTreeMap;

both_backends!(
    recover_queues_what_failed_for_good_in_the_window_under_the_same_webhook_id,
    bulk_retries_select_by_status_event_type_record_and_time,
);

fn path(webhook: &str, rest: &str) -> String {
    format!("/public/v1/notifications/webhooks/{webhook}/{rest}")
}

/// Waits until no delivery is pending or in flight; returns every delivery of `webhook`
/// by its record id.
async fn settled(w: &World, webhook: &str) -> BTreeMap<String, DeliveryState> {
    eventually("every delivery to finish", async || {
        let counts = w.host.store().delivery_counts().await.unwrap();
        (!counts.contains_key("pending") && !counts.contains_key("in_flight")).then_some(())
    })
    .await;
    w.host.state.recorder.flush().await;
    let (calls, _) = w
        .host
        .store()
        .list_calls(webhook, None, 0, 1000)
        .await
        .unwrap();
    let mut by_record = BTreeMap::new();
    for call in calls {
        let id = call.delivery_id.unwrap();
        let state = w.host.store().delivery_state(&id).await.unwrap();
        by_record.insert(record_of(w, &id).await, state);
    }
    by_record
}

/// The record a delivery is about (read back through the outbox's own answer).
async fn record_of(w: &World, delivery: &str) -> String {
    let row: (String,) = sqlx::query_as("SELECT record_id FROM deliveries WHERE id = $1")
        .bind(delivery)
        .fetch_one(w.host.store().pool())
        .await
        .unwrap();
    row.0
}

/// The call log entries of `delivery`, oldest first.
async fn attempts_of(w: &World, webhook: &str, delivery: &str) -> Vec<LoggedCall> {
    w.host.state.recorder.flush().await;
    let (calls, _) = w
        .host
        .store()
        .list_calls(webhook, None, 0, 1000)
        .await
        .unwrap();
    let mut mine: Vec<LoggedCall> = calls
        .into_iter()
        .filter(|c| c.delivery_id.as_deref() == Some(delivery))
        .collect();
    mine.sort_by_key(|c| c.attempt);
    mine
}

async fn url_webhook(w: &World, receiver: &Receiver, modules: &[&str]) -> Webhook {
    let spec = w
        .spec(Handler::Url(receiver.url("/hook")))
        .modules(modules.iter().copied())
        // No retries: the first failure is final.
        .retry_schedule(Vec::new());
    w.register(spec).await.0
}

async fn recover_queues_what_failed_for_good_in_the_window_under_the_same_webhook_id(db: Db) {
    let w = World::start(db).await;
    let receiver = Receiver::scripted(|_, _| Reply::status(500)).await;
    let webhook = url_webhook(&w, &receiver, &["estate"]).await;

    w.trigger("estate", &["1"]).await;
    settled(&w, &webhook.id).await;
    let window_start = now_ms() + 1;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    w.trigger("estate", &["2", "3"]).await;
    let before = settled(&w, &webhook.id).await;
    assert_eq!(before.len(), 3);
    assert!(
        before
            .values()
            .all(|d| d.status == DeliveryStatus::Failed && d.attempts == 1)
    );
    let first_ids: Vec<String> = receiver
        .hits()
        .iter()
        .map(|h| h.webhook_id().to_owned())
        .collect();

    // Bad input is refused naming the field; a disabled webhook is a conflict.
    let recover = path(&webhook.id, "recover");
    let (status, problem) = w
        .as_provider()
        .post(&recover, &json!({"since": "yesterday"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(problem["errors"]["since"].is_array(), "{problem}");
    let (status, _) = w.as_provider().post(&recover, &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let since = format_ms(window_start);
    let (status, problem) = w
        .as_provider()
        .post(
            &recover,
            &json!({"since": since, "until": format_ms(window_start - 1000)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(problem["errors"]["until"].is_array(), "{problem}");
    let (status, _) = w
        .as_provider()
        .post(&path("WBH-0000-0000", "recover"), &json!({"since": since}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The receiver is back: recover the window (records 2 and 3), with a key.
    receiver.answer(|_, _| Reply::ok());
    let keyed = |key: &'static str| {
        let client = w.host.client.clone();
        let url = w.host.url(&recover);
        let token = w.provider_token.clone();
        let since = since.clone();
        async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", key)
                .json(&json!({"since": since}))
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, answer) = keyed("recover-1").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer, json!({"requeued": 2, "replayed": false}));
    let hits = receiver.wait_for(5).await;
    let after = settled(&w, &webhook.id).await;
    assert_eq!(
        after["1"].status,
        DeliveryStatus::Failed,
        "outside the window"
    );
    for record in ["2", "3"] {
        let delivery = &after[record];
        assert_eq!(
            (delivery.status, delivery.attempts),
            (DeliveryStatus::Succeeded, 2)
        );
        // The receiver saw the same webhook-id twice; the call log shows both attempts.
        let seen: Vec<&str> = hits
            .iter()
            .map(|h| h.webhook_id())
            .filter(|id| *id == delivery.id)
            .collect();
        assert_eq!(seen.len(), 2, "{record}");
        assert!(first_ids.contains(&delivery.id));
        let attempts = attempts_of(&w, &webhook.id, &delivery.id).await;
        let summary: Vec<(i64, bool)> = attempts
            .iter()
            .map(|c| (c.attempt, c.call.success))
            .collect();
        assert_eq!(summary, [(1, false), (2, true)]);
    }

    // The same key again: the first answer, nothing queued. Without a key: nothing left.
    let (status, answer) = keyed("recover-1").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer, json!({"requeued": 2, "replayed": true}));
    let (status, answer) = w
        .as_provider()
        .post(&recover, &json!({"since": since}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer["requeued"], 0);
    settled(&w, &webhook.id).await;
    assert_eq!(receiver.count(), 5, "nothing was delivered twice more");

    // A tenant recovers its own deliveries; the operator with the binary, any tenant's.
    receiver.answer(|_, _| Reply::status(500));
    w.trigger("estate", &["4"]).await;
    settled(&w, &webhook.id).await;
    receiver.answer(|_, _| Reply::ok());
    let (status, answer) = w.as_tenant().post(&recover, &json!({"since": since})).await;
    assert_eq!(
        (status, &answer["requeued"]),
        (StatusCode::ACCEPTED, &json!(1))
    );
    let done = settled(&w, &webhook.id).await;
    assert_eq!(done["4"].status, DeliveryStatus::Succeeded);
    let (ok, out) = w
        .host
        .cli(&[
            "admin",
            "recover",
            "--json",
            "--webhook",
            &webhook.id,
            "--since",
            &format_ms(0),
        ])
        .await;
    assert!(ok, "{out}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["requeued"], 1, "record 1, the one failure left");
    let done = settled(&w, &webhook.id).await;
    assert!(done.values().all(|d| d.status == DeliveryStatus::Succeeded));

    // A disabled webhook's deliveries would fail at once: refused.
    w.host
        .store()
        .set_webhook_enabled(&w.provider, &webhook.id, false)
        .await
        .unwrap();
    let (status, _) = w
        .as_provider()
        .post(&recover, &json!({"since": since}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn bulk_retries_select_by_status_event_type_record_and_time(db: Db) {
    let w = World::start(db).await;
    let receiver = Receiver::start().await;
    let webhook = url_webhook(&w, &receiver, &["estate", "address"]).await;
    let retry = path(&webhook.id, "deliveries/retry");

    w.trigger("estate", &["1"]).await;
    w.trigger("address", &["2"]).await;
    settled(&w, &webhook.id).await;
    receiver.answer(|_, _| Reply::status(503));
    w.trigger("estate", &["3"]).await;
    let before = settled(&w, &webhook.id).await;
    assert_eq!(before["3"].status, DeliveryStatus::Failed);
    receiver.answer(|_, _| Reply::ok());

    // Refusals name their field.
    for (body, field) in [
        (json!({"status": ["pending"]}), "status[0]"),
        (json!({"status": ["lost"]}), "status[0]"),
        (json!({"status": []}), "status"),
        (json!({"eventType": "ivanti.execute"}), "eventType"),
        (json!({"eventType": "estate.delete"}), "eventType"),
        (json!({"since": "2026-13-01T00:00:00Z"}), "since"),
    ] {
        let (status, problem) = w.as_provider().post(&retry, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(problem["errors"][field].is_array(), "{body}: {problem}");
    }
    let (status, _) = w
        .as_provider()
        .post(&retry, &json!({"colour": "red"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Succeeded address deliveries: record 2 only.
    let (status, answer) = w
        .as_provider()
        .post(
            &retry,
            &json!({"status": ["succeeded"], "eventType": "address.update"}),
        )
        .await;
    assert_eq!(
        (status, &answer["requeued"]),
        (StatusCode::ACCEPTED, &json!(1))
    );
    let hits = receiver.wait_for(4).await;
    assert_eq!(hits[3].webhook_id(), before["2"].id);
    assert_eq!(hits[3].json()["recordId"], "2");

    // By default the failed ones; by record.
    let (status, answer) = w
        .as_provider()
        .post(&retry, &json!({"recordId": "1"}))
        .await;
    assert_eq!(
        (status, &answer["requeued"]),
        (StatusCode::ACCEPTED, &json!(0))
    );
    let (status, answer) = w
        .as_provider()
        .post(&retry, &json!({"recordId": "3"}))
        .await;
    assert_eq!(
        (status, &answer["requeued"]),
        (StatusCode::ACCEPTED, &json!(1))
    );
    receiver.wait_for(5).await;
    let after = settled(&w, &webhook.id).await;
    assert_eq!(
        (after["3"].status, after["3"].attempts),
        (DeliveryStatus::Succeeded, 2)
    );

    // A time window that ends before anything finished selects nothing; the operator's
    // binary takes the same filter.
    let (status, answer) = w
        .as_provider()
        .post(
            &retry,
            &json!({"status": ["succeeded", "failed"], "until": format_ms(1_000)}),
        )
        .await;
    assert_eq!(
        (status, &answer["requeued"]),
        (StatusCode::ACCEPTED, &json!(0))
    );
    let (ok, out) = w
        .host
        .cli(&[
            "admin",
            "retry",
            "--json",
            "--webhook",
            &webhook.id,
            "--status",
            "succeeded",
            "--event-type",
            "estate.update",
            "--idempotency-key",
            "nightly",
        ])
        .await;
    assert!(ok, "{out}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["requeued"], 2);
    receiver.wait_for(7).await;
    let (ok, out) = w
        .host
        .cli(&[
            "admin",
            "retry",
            "--webhook",
            &webhook.id,
            "--status",
            "succeeded",
            "--idempotency-key",
            "nightly",
        ])
        .await;
    assert!(ok, "{out}");
    assert!(out.contains("earlier request with this key"), "{out}");
    let (ok, out) = w
        .host
        .cli(&[
            "admin",
            "retry",
            "--webhook",
            &webhook.id,
            "--event-type",
            "fax",
        ])
        .await;
    assert!(!ok && out.contains("eventType"), "{out}");
    settled(&w, &webhook.id).await;
    assert_eq!(receiver.count(), 7);
}
