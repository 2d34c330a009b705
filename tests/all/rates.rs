//! Rate limits per webhook: never more calls per window than `rateLimit` allows, across
//! instances (two on PostgreSQL), deliveries over it wait and are never dropped, and a
//! receiver's 429 lowers the rate for a while.

use crate::support::{Db, Receiver, Reply, World, eventually};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    deliveries_over_the_rate_wait_for_the_next_window,
    a_429_lowers_the_rate_for_a_while,
);

const WEBHOOKS: &str = "/public/v1/notifications/webhooks";

/// Registers a URL webhook for estate records with `rate_limit`; returns the answer.
async fn limited(w: &World, receiver: &Receiver, rate_limit: Value) -> (StatusCode, Value) {
    w.as_provider()
        .post(
            WEBHOOKS,
            &json!({
                "service": {"id": w.service},
                "url": receiver.url("/limited"),
                "modules": ["estate"],
                "rateLimit": rate_limit,
            }),
        )
        .await
}

/// Attempts of every delivery of `webhook`, once all finished.
async fn attempts(w: &World, webhook: &str) -> Vec<i64> {
    eventually("every delivery to finish", async || {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, attempts FROM deliveries WHERE webhook_id = $1")
                .bind(webhook)
                .fetch_all(w.host.store().pool())
                .await
                .unwrap();
        rows.iter()
            .all(|(status, _)| status == "succeeded")
            .then(|| rows.iter().map(|(_, n)| *n).collect())
    })
    .await
}

async fn deliveries_over_the_rate_wait_for_the_next_window(db: Db) {
    let w = World::start(db).await;
    let _second = match db {
        Db::Postgres => Some(w.host.another_instance().await),
        Db::Sqlite => None,
    };
    let receiver = Receiver::start().await;
    for (body, field) in [
        (json!({"perSecond": 5, "perMinute": 100}), "rateLimit"),
        (json!({}), "rateLimit"),
        (json!({"perSecond": 0}), "rateLimit.perSecond"),
        (json!({"perMinute": 2_000_000}), "rateLimit.perMinute"),
    ] {
        let (status, problem) = limited(&w, &receiver, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(problem["errors"][field].is_array(), "{body}: {problem}");
    }
    let (status, webhook) = limited(&w, &receiver, json!({"perSecond": 5})).await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    assert_eq!(webhook["rateLimit"], json!({"perSecond": 5}));

    let records: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    w.trigger("estate", &records).await;
    let hits = receiver.wait_for(20).await;
    // Windows are whole seconds with at most five calls each, so call i + 10 is at least two
    // windows after call i.
    for i in 0..10 {
        let apart = hits[i + 10].at - hits[i].at;
        assert!(
            apart >= Duration::from_millis(900),
            "calls {i} and {}: {apart:?}",
            i + 10
        );
    }
    // Waiting is no attempt: every delivery succeeded at its first.
    let id = webhook["id"].as_str().unwrap();
    assert_eq!(attempts(&w, id).await, vec![1; 20]);
    assert_eq!(receiver.count(), 20);
}

async fn a_429_lowers_the_rate_for_a_while(db: Db) {
    let w = World::start(db).await;
    let receiver = Receiver::scripted(|_, earlier| match earlier {
        0 => Reply::status(429).header("retry-after", "1"),
        _ => Reply::ok(),
    })
    .await;
    let (status, webhook) = limited(&w, &receiver, json!({"perMinute": 600})).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = webhook["id"].as_str().unwrap();
    w.trigger("estate", &["1"]).await;
    let hits = receiver.wait_for(2).await;
    assert!(hits[1].at - hits[0].at >= Duration::from_millis(950));
    assert_eq!(attempts(&w, id).await, [2]);
    let (_, seen) = w.as_provider().get(&format!("{WEBHOOKS}/{id}")).await;
    assert_eq!(seen["rateDivisor"], 2, "{seen}");
    assert!(seen["rateLoweredUntil"].is_string(), "{seen}");
    assert_eq!(seen["rateLimit"], json!({"perMinute": 600}));
}
