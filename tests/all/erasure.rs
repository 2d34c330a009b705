//! Erasure on request: a tenant's delivery payloads and call-log bodies for a record or a time
//! range go (through the tenant's API, the admin API and the binary), pending deliveries of
//! the record are cancelled, and the statistics stay as they were.

use crate::support::{ADMIN_TOKEN, Db, Receiver, Reply, World, eventually};
use axum::http::StatusCode;
use hookhost::store::{Handler, LoggedCall};
use hookhost::time::{format_ms, now_ms};
use hookhost::vocab::DeliveryStatus;
use serde_json::json;

both_backends!(erasure_removes_payloads_and_call_bodies_and_keeps_statistics);

/// Payload and state of every delivery of `record`.
async fn deliveries_of(w: &World, record: &str) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT id, payload, status FROM deliveries WHERE record_id = $1 ORDER BY created_at",
    )
    .bind(record)
    .fetch_all(w.host.store().pool())
    .await
    .unwrap()
}

async fn calls(w: &World, webhook: &str) -> Vec<LoggedCall> {
    w.host.state.recorder.flush().await;
    w.host
        .store()
        .list_calls(webhook, None, 0, 1000)
        .await
        .unwrap()
        .0
}

async fn erasure_removes_payloads_and_call_bodies_and_keeps_statistics(db: Db) {
    let w = World::start(db).await;
    let receiver = Receiver::scripted(|hit, _| {
        let record = hit.json()["recordId"].as_str().unwrap().to_owned();
        Reply::text(&format!("thanks for Erika Mustermann's record {record}"))
    })
    .await;
    let spec = w
        .spec(Handler::Url(receiver.url("/hook")))
        .modules(["estate"]);
    let (webhook, _) = w.register(spec).await;
    w.trigger("estate", &["10", "11"]).await;
    receiver.wait_for(2).await;
    let logged = eventually("both calls logged", async || {
        let logged = calls(&w, &webhook.id).await;
        (logged.len() == 2).then_some(logged)
    })
    .await;
    assert!(logged.iter().all(|c| c.call.response.contains("Erika")));
    assert!(
        logged.iter().all(|c| c.detail.request.contains("recordId")),
        "the request sent is logged: {logged:?}"
    );
    let statistics = w.webhook(&webhook.id).await.statistics;

    // Refusals: nothing named, a bad time, module without record, a provider asking.
    for (query, field) in [
        ("", None),
        ("?since=soon", Some("since")),
        ("?module=estate", Some("module")),
        ("?recordId=", Some("recordId")),
    ] {
        let (status, problem) = w
            .as_tenant()
            .delete(&format!("/public/v1/data{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        if let Some(field) = field {
            assert!(problem["errors"][field].is_array(), "{query}: {problem}");
        }
    }
    let (status, _) = w.as_provider().delete("/public/v1/data?recordId=10").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The tenant erases record 10: its payload and its call's body go, record 11 stays.
    let (status, erased) = w
        .as_tenant()
        .delete("/public/v1/data?recordId=10&module=estate")
        .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(
        erased,
        json!({"deliveries": 1, "cancelled": 0, "calls": 1, "inFlight": 0})
    );
    let ten = deliveries_of(&w, "10").await;
    assert_eq!(ten[0].1, "", "the payload is gone");
    assert!(deliveries_of(&w, "11").await[0].1.contains("\"11\""));
    let logged = calls(&w, &webhook.id).await;
    let (gone, kept): (Vec<_>, Vec<_>) = logged
        .iter()
        .partition(|c| c.delivery_id.as_deref() == Some(ten[0].0.as_str()));
    assert_eq!(
        (
            gone[0].call.response.as_str(),
            gone[0].call.headers.as_str()
        ),
        ("", "")
    );
    assert_eq!(
        gone[0].detail,
        Default::default(),
        "the request sent is gone too"
    );
    assert!(gone[0].call.success && gone[0].call.http_status_code == 200);
    assert!(kept[0].call.response.contains("record 11"));
    assert!(kept[0].detail.request.contains("\"11\""));
    // Statistics are unchanged, the provider's and the tenant's counted ones alike.
    assert_eq!(w.webhook(&webhook.id).await.statistics, statistics);
    assert_eq!(
        w.host
            .store()
            .tenant_statistics(&webhook.id, &w.tenant)
            .await
            .unwrap()
            .total,
        2
    );
    // An erased delivery is never delivered again.
    let resend = format!(
        "/public/v1/notifications/webhooks/{}/calls/{}/resend",
        webhook.id, gone[0].id
    );
    let (status, _) = w.as_provider().post(&resend, None).await;
    assert_eq!(status, StatusCode::GONE);

    // A pending delivery of a record is cancelled: the receiver is down, retries wait.
    receiver.answer(|_, _| Reply::status(503).header("retry-after", "3600"));
    w.trigger("estate", &["12"]).await;
    let pending = eventually("record 12 to wait for its retry", async || {
        let rows = deliveries_of(&w, "12").await;
        let calls = calls(&w, &webhook.id).await;
        (rows.len() == 1 && rows[0].2 == "pending" && calls.len() == 3).then_some(rows)
    })
    .await;
    let (status, erased) = w
        .host
        .as_bearer(ADMIN_TOKEN)
        .delete(&format!("/admin/v1/tenants/{}/data?recordId=12", w.tenant))
        .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(
        erased,
        json!({"deliveries": 1, "cancelled": 1, "calls": 1, "inFlight": 0})
    );
    let state = w.host.store().delivery_state(&pending[0].0).await.unwrap();
    assert_eq!(state.status, DeliveryStatus::Failed);
    assert_eq!(state.last_error.as_deref(), Some("erased on request"));
    let (status, _) = w
        .host
        .as_bearer(ADMIN_TOKEN)
        .delete("/admin/v1/tenants/TEN-0000-0000/data?recordId=12")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A time range through the binary: everything of the tenant since the start.
    let (ok, out) = w
        .host
        .cli(&[
            "admin",
            "erase",
            "--json",
            "--tenant",
            &w.tenant,
            "--since",
            &format_ms(now_ms() - 3_600_000),
        ])
        .await;
    assert!(ok, "{out}");
    let erased: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        erased["calls"], 1,
        "record 11's call; the others were erased"
    );
    assert!(
        calls(&w, &webhook.id)
            .await
            .iter()
            .all(|c| c.call.response.is_empty())
    );
    assert_eq!(w.webhook(&webhook.id).await.statistics.total, 3);
}
