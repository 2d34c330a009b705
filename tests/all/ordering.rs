//! Ordered delivery (`ordering: fifo`): one record's deliveries arrive in the order they were
//! planned, and a failing one holds back only that record's later ones, on both backends
//! and with two instances working one PostgreSQL outbox.

use crate::support::{
    Db, Receiver, Reply, World, smartml_action, smartml_request, smartml_timestamp,
};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(a_failing_delivery_holds_back_only_its_records_later_ones);

const WEBHOOKS: &str = "/public/v1/notifications/webhooks";

/// Sends one smartml request whose actions trigger `(record, seq)` in this order, each with
/// its sequence number in `elements`.
async fn trigger_in_order(w: &World, triggers: &[(&str, u32)]) {
    let actions: Vec<Value> = triggers
        .iter()
        .map(|(record, seq)| {
            smartml_action(
                &w.token,
                &w.secret,
                smartml_timestamp(),
                "executeMarketplaceWebhooks",
                record,
                json!({"module": "estate", "elements": {"seq": seq}}),
            )
        })
        .collect();
    let answer: Value = w
        .host
        .client
        .post(w.host.url("/api/stable/api.php"))
        .body(smartml_request(&w.token, &actions).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"]["errorcode"], 0, "{answer}");
}

async fn a_failing_delivery_holds_back_only_its_records_later_ones(db: Db) {
    let w = World::start(db).await;
    let _second = match db {
        Db::Postgres => Some(w.host.another_instance().await),
        Db::Sqlite => None,
    };
    // A's first delivery fails once; everything else succeeds.
    let receiver = Receiver::start().await;
    let failed_once = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = failed_once.clone();
    receiver.answer(move |hit, _| {
        let body = hit.json();
        let first_of_a = body["recordId"] == "A" && body["elements"]["seq"] == 1;
        if first_of_a && !flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
            Reply::status(500)
        } else {
            Reply::ok()
        }
    });

    let (status, refused) = w
        .as_provider()
        .post(
            WEBHOOKS,
            &json!({"service": {"id": w.service}, "url": receiver.url("/x"),
                    "modules": ["estate"], "ordering": "lifo"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["errors"]["ordering"].is_array(), "{refused}");
    let (status, webhook) = w
        .as_provider()
        .post(
            WEBHOOKS,
            &json!({"service": {"id": w.service}, "url": receiver.url("/ordered"),
                    "modules": ["estate"], "ordering": "FIFO",
                    "retryPolicy": {"scheduleSeconds": [1, 1, 1]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    assert_eq!(webhook["ordering"], "fifo");

    let triggers: Vec<(&str, u32)> = (1..=4).flat_map(|n| [("A", n), ("B", n)]).collect();
    trigger_in_order(&w, &triggers).await;
    let hits = receiver.wait_for(9).await;
    let arrivals: Vec<(String, u64)> = hits
        .iter()
        .map(|hit| {
            let body = hit.json();
            (
                body["recordId"].as_str().unwrap().to_owned(),
                body["elements"]["seq"].as_u64().unwrap(),
            )
        })
        .collect();
    let of = |record: &str| -> Vec<u64> {
        arrivals
            .iter()
            .filter(|(r, _)| r == record)
            .map(|(_, seq)| *seq)
            .collect()
    };
    // A's first failed and was retried before any later one of A was sent.
    assert_eq!(of("A"), [1, 1, 2, 3, 4], "{arrivals:?}");
    assert_eq!(of("B"), [1, 2, 3, 4], "{arrivals:?}");
    // B was not held back by A: all of B arrived before A's retry.
    let retry_of_a = arrivals
        .iter()
        .enumerate()
        .filter(|(_, (r, seq))| r == "A" && *seq == 1)
        .map(|(i, _)| i)
        .nth(1)
        .unwrap();
    let last_of_b = arrivals.iter().rposition(|(r, _)| r == "B").unwrap();
    assert!(last_of_b < retry_of_a, "{arrivals:?}");
    assert_eq!(receiver.count(), 9);
}
