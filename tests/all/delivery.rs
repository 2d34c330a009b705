//! Remote URL delivery end to end: real hosts, real loopback receivers (axum on 127.0.0.1:0)
//! that check what arrives with independent crates (`standardwebhooks`, `jsonwebtoken`),
//! smartml triggers, retries, disabling and notifications, the SSRF guard, the call log API,
//! secret rotation, per-webhook concurrency, retention, and a SIGKILL of the real binary.

use crate::process::{HostProcess, free_port};
use crate::support::{
    Db, Hit, Receiver, Reply, TcpProbe, World, WorldBuilder, eventually, smartml_action,
    smartml_execute, smartml_request, smartml_timestamp,
};
use hookhost::sandbox::Event;
use hookhost::store::{
    DeliveryState, Handler, LoggedCall, NewDelivery, Scope, Webhook, WebhookSpec,
};
use hookhost::vocab::{DeliveryStatus, TriggerSource};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

both_backends!(
    url_calls_are_signed_twice_and_carry_the_trigger,
    retries_honour_retry_after_and_keep_the_webhook_id,
    gone_disables_the_webhook_and_notifies_the_owner,
    a_run_of_failures_disables_the_webhook_once,
    component_rejections_are_final_and_temporary_failures_retry,
    call_objects_describe_answers_redirects_and_timeouts,
    the_ssrf_guard_refuses_private_targets_in_every_spelling,
    call_log_pages_resends_and_test_calls_per_tenant,
    rotated_secrets_sign_side_by_side_during_the_grace_period,
    a_slow_webhook_does_not_hold_up_the_others,
    deliveries_are_claimed_ahead_but_calls_stay_within_the_concurrency,
    a_delivery_whose_turn_comes_too_late_for_its_lease_goes_back_uncalled,
    retention_prunes_old_records_in_the_background,
);

// ---------------------------------------------------------------------------------------------
// The world of these tests, and ways to inspect the outbox and the call log

/// The shared world; the activation's `region` reaches URL handlers on the URL.
fn world(db: Db) -> WorldBuilder<'static> {
    World::build(db).activation(&[("region", "aachen")])
}

/// A URL webhook of the provider listening to estate, changed by `configure`; returns it and
/// its secret.
async fn url_webhook(
    w: &World,
    url: &str,
    configure: impl FnOnce(WebhookSpec) -> WebhookSpec,
) -> (Webhook, String) {
    let spec = w.spec(Handler::Url(url.to_owned())).modules(["estate"]);
    w.register(configure(spec)).await
}

/// The delivery once it has finished (succeeded or failed).
async fn finished(w: &World, id: &str) -> DeliveryState {
    eventually(&format!("delivery {id} to finish"), async || {
        let state = w.host.store().delivery_state(id).await.unwrap();
        state.status.is_final().then_some(state)
    })
    .await
}

/// Plans `n` deliveries of `webhook` (payloads `{"n": 0}`, …) and wakes the workers; returns
/// their ids.
async fn plan_now(w: &World, webhook: &Webhook, n: usize) -> Vec<String> {
    let payloads = (0..n).map(|n| json!({"n": n}));
    let ids = w
        .host
        .store()
        .plan_deliveries(&planned(w, webhook, payloads))
        .await
        .unwrap();
    w.host.state.wake.notify_waiters();
    ids
}

/// Asserts that `hits` called each of the deliveries `ids` exactly once.
fn assert_each_called_once(hits: &[Hit], ids: &[String]) {
    let mut delivered: Vec<&str> = hits.iter().map(Hit::webhook_id).collect();
    delivered.sort_unstable();
    let mut planned_ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    planned_ids.sort_unstable();
    assert_eq!(delivered, planned_ids, "each delivery called once");
}

/// Waits until no delivery is pending or in flight.
async fn all_finished(w: &World) -> BTreeMap<String, i64> {
    eventually("every delivery to finish", async || {
        let counts = w.host.store().delivery_counts().await.unwrap();
        let open = counts.get("pending").copied().unwrap_or(0)
            + counts.get("in_flight").copied().unwrap_or(0);
        (open == 0).then_some(counts)
    })
    .await
}

/// The call log of `webhook` (newest first) once it holds `n` calls.
async fn call_log(w: &World, webhook: &str, n: usize) -> Vec<LoggedCall> {
    eventually(&format!("{n} calls of {webhook}"), async || {
        w.host.state.recorder.flush().await;
        let (calls, _) = w
            .host
            .store()
            .list_calls(webhook, None, 0, 1000)
            .await
            .unwrap();
        (calls.len() >= n).then_some(calls)
    })
    .await
}

/// Deliveries of `webhook` to the tenant, one per payload (for estate records 0, 1, …),
/// planned as a smartml trigger plans them.
fn planned(
    w: &World,
    webhook: &Webhook,
    payloads: impl IntoIterator<Item = Value>,
) -> Vec<NewDelivery> {
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, payload)| NewDelivery {
            webhook_id: webhook.id.clone(),
            tenant_id: w.tenant.clone(),
            trigger: TriggerSource::Smartml,
            module: "estate".into(),
            record_id: i.to_string(),
            event: Event::Update,
            payload: payload.to_string(),
            parameters: Vec::new(),
            ordered: false,
            traceparent: None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tests

async fn url_calls_are_signed_twice_and_carry_the_trigger(db: Db) {
    let w = world(db).start().await;
    let receiver = Receiver::start().await;
    let (webhook, secret) = url_webhook(&w, &receiver.url("/hook?source=registry"), |s| s).await;
    w.trigger("estate", &["15005"]).await;
    let hit = receiver.wait_for(1).await.remove(0);

    // Standard Webhooks, checked by the `standardwebhooks` crate; another secret fails.
    hit.verify_signature(&secret)
        .expect("the webhook-signature verifies");
    assert!(
        hit.verify_signature(&hookhost::crypto::new_webhook_secret())
            .is_err()
    );
    assert_eq!(hit.header("webhook-signature").split(' ').count(), 1);
    // The MPT bearer JWT, checked by the `jsonwebtoken` crate.
    let claims = hit.verify_jwt(&secret).expect("the bearer JWT verifies");
    assert_eq!(claims["webhook_id"], webhook.id);
    assert_eq!(claims["aud"], "127.0.0.1");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(hit.verify_jwt("not the secret").is_err());

    // The smartml trigger's body; the activation's parameters on the URL, next to its own.
    assert_eq!(hit.path, "/hook");
    assert_eq!(
        hit.json(),
        json!({"tenant": {"id": w.tenant, "name": "Immobilien Muster GmbH"}, "module": "estate",
               "recordId": "15005", "event": "update"})
    );
    assert_eq!(
        hit.query,
        BTreeMap::from([
            ("region".into(), "aachen".into()),
            ("source".into(), "registry".into())
        ])
    );
    assert_eq!(hit.header("content-type"), "application/json");

    // webhook-id is the delivery id; the Call object is filled from the answer.
    let delivery = finished(&w, hit.webhook_id()).await;
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("succeeded", 1)
    );
    let calls = call_log(&w, &webhook.id, 1).await;
    let logged = &calls[0];
    assert_eq!(logged.delivery_id.as_deref(), Some(hit.webhook_id()));
    assert_eq!((logged.attempt, logged.trigger.as_str()), (1, "smartml"));
    let call = &logged.call;
    assert!(call.success);
    assert_eq!(
        (call.http_status_code, call.reason_phrase.as_str()),
        (200, "OK")
    );
    assert!(call.headers.contains("x-receiver: yes"), "{}", call.headers);
    assert_eq!(call.response, r#"{"received":true}"#);
    assert_eq!(call.error, "");
    assert!(call.response_time.is_some());
    let stats = w.webhook(&webhook.id).await.statistics;
    assert_eq!((stats.total, stats.successes), (1, 1));
}

async fn retries_honour_retry_after_and_keep_the_webhook_id(db: Db) {
    let w = world(db).start().await;
    let receiver = Receiver::scripted(|_, earlier| match earlier {
        0 => Reply::status(503).header("retry-after", "1").body("busy"),
        _ => Reply::ok(),
    })
    .await;
    let (webhook, secret) =
        url_webhook(&w, &receiver.url("/hook"), |s| s.retry_schedule([1, 1])).await;
    w.trigger("estate", &["1"]).await;
    let hits = receiver.wait_for(2).await;
    let delivery = finished(&w, hits[0].webhook_id()).await;
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("succeeded", 2)
    );
    assert_eq!(receiver.hits().len(), 2, "delivered once it succeeded");

    assert_eq!(
        hits[0].webhook_id(),
        hits[1].webhook_id(),
        "the idempotency key is stable"
    );
    assert_eq!(hits[0].body, hits[1].body);
    for hit in &hits {
        hit.verify_signature(&secret).unwrap();
        hit.verify_jwt(&secret).unwrap();
    }
    assert!(
        hits[1].at - hits[0].at >= Duration::from_millis(950),
        "Retry-After: 1 was honoured"
    );

    let calls = call_log(&w, &webhook.id, 2).await;
    let (retry, first) = (&calls[0], &calls[1]);
    assert_eq!((first.attempt, retry.attempt), (1, 2));
    assert!(!first.call.success && retry.call.success);
    assert_eq!(first.call.http_status_code, 503);
    assert_eq!(first.call.reason_phrase, "Service Unavailable");
    assert!(
        first.call.headers.contains("retry-after: 1"),
        "{}",
        first.call.headers
    );
    assert_eq!(first.call.response, "busy");
    assert!(first.call.error.contains("503"), "{}", first.call.error);
    let stats = w.webhook(&webhook.id).await.statistics;
    assert_eq!(
        (
            stats.total,
            stats.successes,
            stats.failures,
            stats.failures_since_last_success
        ),
        (2, 1, 1, 0)
    );
}

async fn gone_disables_the_webhook_and_notifies_the_owner(db: Db) {
    let w = world(db).start().await;
    let receiver = Receiver::scripted(|_, _| Reply::status(410)).await;
    let (webhook, _) = url_webhook(&w, &receiver.url("/gone"), |s| s.retry_schedule([1, 1])).await;
    w.trigger("estate", &["1"]).await;
    let hit = receiver.wait_for(1).await.remove(0);
    let delivery = finished(&w, hit.webhook_id()).await;
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("failed", 1),
        "410 is final"
    );
    assert!(
        !w.webhook(&webhook.id).await.enabled,
        "410 disables the webhook"
    );

    let path = format!(
        "/public/v1/notifications/webhooks/{}/notifications",
        webhook.id
    );
    let (status, page) = w.as_provider().get(&path).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["$meta"]["pagination"]["total"], 1);
    let notification = &page["data"][0];
    assert_eq!(notification["kind"], "gone");
    assert_eq!(notification["webhookId"], webhook.id.as_str());
    assert!(
        notification["message"].as_str().unwrap().contains("410"),
        "{notification}"
    );
    assert!(notification["created"].as_str().unwrap().ends_with('Z'));
    // Notifications are the owner's: a tenant that can read the webhook may not read them.
    let (status, _) = w.host.as_bearer(&w.rest_key).get(&path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A disabled webhook is not triggered any more.
    w.trigger("estate", &["2"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.hits().len(), 1);
}

async fn a_run_of_failures_disables_the_webhook_once(db: Db) {
    let w = world(db)
        .config(|c| c.delivery.auto_disable_after = 3)
        .start()
        .await;
    let receiver = Receiver::scripted(|_, _| Reply::status(500).body("boom")).await;
    let (webhook, _) = url_webhook(&w, &receiver.url("/failing"), |s| {
        s.retry_schedule([1, 1, 1, 1, 1])
    })
    .await;
    w.trigger("estate", &["1"]).await;
    let hit = receiver.wait_for(1).await.remove(0);
    let delivery = finished(&w, hit.webhook_id()).await;
    assert_eq!((delivery.status.as_str(), delivery.attempts), ("failed", 3));
    assert!(
        delivery
            .last_error
            .as_deref()
            .unwrap()
            .contains("disabled after 3 failures"),
        "{delivery:?}"
    );
    assert_eq!(
        receiver.hits().len(),
        3,
        "no attempt after the webhook was disabled"
    );
    let disabled = w.webhook(&webhook.id).await;
    assert!(!disabled.enabled);
    assert_eq!(disabled.statistics.failures_since_last_success, 3);

    let (notifications, total) = w
        .host
        .store()
        .list_notifications(&w.provider, &webhook.id, 0, 10)
        .await
        .unwrap();
    assert_eq!(total, 1, "notified once");
    assert_eq!(notifications[0].kind, "failing");
    assert!(
        notifications[0].message.contains("3 failed calls in a row"),
        "{}",
        notifications[0].message
    );
    assert!(
        notifications[0].message.contains("500"),
        "{}",
        notifications[0].message
    );
    // Only the owner's scope sees them.
    let other = Scope::Provider("PRV-0000-0000".into());
    assert_eq!(
        w.host
            .store()
            .list_notifications(&other, &webhook.id, 0, 10)
            .await
            .unwrap()
            .1,
        0
    );
}

async fn component_rejections_are_final_and_temporary_failures_retry(db: Db) {
    let w = world(db).start().await;
    let component = w.upload(hookhost_plugins::MISBEHAVE).await;
    let spec = w.spec(Handler::Component(component)).retry_schedule([1, 1]);
    let (webhook, _) = w.register(spec).await;
    let actions = ["reject", "temporary", "ok"].map(|action| json!({"action": action}));
    let ids = w
        .host
        .store()
        .plan_deliveries(&planned(&w, &webhook, actions))
        .await
        .unwrap();
    w.host.state.wake.notify_waiters();
    let rejected = finished(&w, &ids[0]).await;
    assert_eq!(
        (rejected.status.as_str(), rejected.attempts),
        ("failed", 1),
        "a rejection is final"
    );
    let ok = finished(&w, &ids[2]).await;
    assert_eq!((ok.status.as_str(), ok.attempts), ("succeeded", 1));
    let temporary = finished(&w, &ids[1]).await;
    assert_eq!(
        (temporary.status.as_str(), temporary.attempts),
        ("failed", 3),
        "retried on the schedule"
    );
    assert!(
        temporary
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("retries exhausted"),
        "{temporary:?}"
    );

    let calls = call_log(&w, &webhook.id, 5).await;
    let kinds = |id: &str| -> Vec<String> {
        calls
            .iter()
            .filter(|c| c.delivery_id.as_deref() == Some(id))
            .map(|c| c.call.reason_phrase.clone())
            .collect()
    };
    assert_eq!(kinds(&ids[0]), ["rejected"]);
    assert_eq!(kinds(&ids[1]), ["temporary", "temporary", "temporary"]);

    // The same verdict synchronously, through the test endpoint.
    let path = format!("/public/v1/notifications/webhooks/{}/test", webhook.id);
    let body = json!({"tenantId": w.tenant, "payload": {"action": "reject"}});
    let (status, answer) = w.as_provider().post(&path, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["failure"]["kind"], "rejected");
    assert_eq!(answer["call"]["success"], false);
}

async fn call_objects_describe_answers_redirects_and_timeouts(db: Db) {
    let w = world(db)
        .config(|c| {
            c.outbound.timeout_ms = 700;
            c.outbound.connect_timeout_ms = 500;
        })
        .start()
        .await;
    let receiver = Receiver::scripted(|hit, _| match hit.path.as_str() {
        "/redirect" => Reply::status(302).header("location", "/target"),
        "/error" => Reply::status(500)
            .header("x-trace", "abc")
            .body(r#"{"error":"database down"}"#),
        "/big" => Reply::ok().body(&"x".repeat(10_000)),
        "/slow" => Reply::ok().after(Duration::from_secs(3)),
        _ => Reply::ok(),
    })
    .await;
    let closed = format!("http://127.0.0.1:{}/", free_port());
    let test_call = async |url: &str| -> Value {
        let (webhook, _) = url_webhook(&w, url, |s| WebhookSpec {
            modules: Vec::new(),
            ..s
        })
        .await;
        let path = format!("/public/v1/notifications/webhooks/{}/test", webhook.id);
        let body = json!({"tenantId": w.tenant});
        let (status, answer) = w.as_provider().post(&path, &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["call"].clone()
    };

    let redirect = test_call(&receiver.url("/redirect")).await;
    assert_eq!(redirect["success"], false);
    assert_eq!(
        (
            redirect["httpStatusCode"].as_u64(),
            redirect["reasonPhrase"].as_str()
        ),
        (Some(302), Some("Found"))
    );
    assert!(
        redirect["error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{redirect}"
    );
    assert!(
        redirect["headers"]
            .as_str()
            .unwrap()
            .contains("location: /target"),
        "{redirect}"
    );

    let error = test_call(&receiver.url("/error")).await;
    assert_eq!(error["success"], false);
    assert_eq!(
        (
            error["httpStatusCode"].as_u64(),
            error["reasonPhrase"].as_str()
        ),
        (Some(500), Some("Internal Server Error"))
    );
    assert!(
        error["headers"].as_str().unwrap().contains("x-trace: abc"),
        "{error}"
    );
    assert_eq!(error["response"], r#"{"error":"database down"}"#);
    assert_eq!(
        error["error"],
        "the endpoint answered 500 Internal Server Error"
    );

    let big = test_call(&receiver.url("/big")).await;
    assert_eq!(big["success"], true);
    assert_eq!(
        big["response"].as_str().unwrap().len(),
        4096,
        "the excerpt is bounded"
    );

    let started = Instant::now();
    let slow = test_call(&receiver.url("/slow")).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the whole-call timeout struck"
    );
    assert_eq!(slow["success"], false);
    assert_eq!(slow["reasonPhrase"], "timeout");
    assert_eq!(slow["error"], "the endpoint did not answer within 700 ms");
    assert_eq!(slow["httpStatusCode"], 0);

    let refused = test_call(&closed).await;
    assert_eq!(refused["success"], false);
    assert_eq!(refused["reasonPhrase"], "connect");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .starts_with("could not connect"),
        "{refused}"
    );

    // Asynchronously too: a 302 is a failed delivery, and the target is never requested.
    let (webhook, _) = url_webhook(&w, &receiver.url("/redirect"), |s| s.retry_schedule([])).await;
    w.trigger("estate", &["1"]).await;
    let calls = call_log(&w, &webhook.id, 1).await;
    let delivery = finished(&w, calls[0].delivery_id.as_deref().unwrap()).await;
    assert_eq!(delivery.status, DeliveryStatus::Failed);
    assert_eq!(receiver.count_on("/redirect"), 2);
    assert_eq!(
        receiver.count_on("/target"),
        0,
        "redirects are never followed"
    );
}

async fn the_ssrf_guard_refuses_private_targets_in_every_spelling(db: Db) {
    let w = world(db)
        .config(|c| c.outbound.allow_insecure = false)
        .start()
        .await;
    // A bare TCP listener: it counts connections, so even a refused TLS handshake would show.
    let listener = TcpProbe::start().await;
    let port = listener.addr.rsplit_once(':').unwrap().1;
    let urls = [
        format!("https://localhost:{port}/hook"),
        format!("https://2130706433:{port}/hook"),
        format!("https://0x7f.0.0.1:{port}/hook"),
        format!("https://[::ffff:127.0.0.1]:{port}/hook"),
    ];
    let mut webhooks = Vec::new();
    for url in &urls {
        // The registry API refuses such URLs up front; the store takes them, so the guard at
        // call time is what is tested here.
        webhooks.push(url_webhook(&w, url, |s| s.retry_schedule([])).await.0);
    }
    w.trigger("estate", &["1"]).await;
    let counts = all_finished(&w).await;
    assert_eq!(counts.get("failed"), Some(&4), "{counts:?}");
    for (webhook, url) in webhooks.iter().zip(&urls) {
        let calls = call_log(&w, &webhook.id, 1).await;
        let call = &calls[0].call;
        assert!(!call.success);
        assert!(
            call.error.contains("not a public address"),
            "{url}: {}",
            call.error
        );
        assert_eq!(call.http_status_code, 0);
    }
    assert_eq!(
        listener.connections(),
        0,
        "nothing reached the loopback listener"
    );
}

async fn call_log_pages_resends_and_test_calls_per_tenant(db: Db) {
    let w = world(db).start().await;
    let store = w.host.store();
    let other = store.create_tenant("Andere Makler AG").await.unwrap().id;
    store
        .activate(&w.host.state.key, &other, &w.service, &BTreeMap::new())
        .await
        .unwrap();
    let other_user = store
        .create_api_user(&w.host.state.key, &other, false)
        .await
        .unwrap();
    let (_, other_key) = store.create_api_key(&other).await.unwrap();
    let receiver = Receiver::start().await;
    let (webhook, secret) = url_webhook(&w, &receiver.url("/hook"), |s| s).await;

    w.trigger("estate", &["1", "2", "3"]).await;
    smartml_execute(
        &w.host,
        &other_user.token,
        &other_user.secret,
        "estate",
        &["9"],
    )
    .await;
    receiver.wait_for(4).await;
    call_log(&w, &webhook.id, 4).await;

    let calls_path = format!("/public/v1/notifications/webhooks/{}/calls", webhook.id);
    let get = async |query: &str, credential: &str| {
        let (status, page) = w
            .host
            .as_bearer(credential)
            .get(&format!("{calls_path}{query}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page
    };
    // Paging, newest first, as the provider (every tenant's calls).
    let first = get("?limit=2", &w.provider_token).await;
    assert_eq!(
        first["$meta"]["pagination"],
        json!({"offset": 0, "limit": 2, "total": 4})
    );
    let second = get("?offset=2&limit=2", &w.provider_token).await;
    let ids: Vec<&str> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["data"].as_array().unwrap())
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(
        ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
        4,
        "pages do not overlap"
    );
    assert_eq!(get("?offset=4", &w.provider_token).await["data"], json!([]));
    let (status, _) = w
        .as_provider()
        .get(&format!("{calls_path}?limit=5000"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Tenants see their own calls only.
    let mine = get("?limit=100", &w.rest_key).await;
    assert_eq!(mine["$meta"]["pagination"]["total"], 3);
    let theirs = get("?limit=100", &other_key).await;
    assert_eq!(theirs["$meta"]["pagination"]["total"], 1);
    let their_call = theirs["data"][0]["id"].as_str().unwrap().to_owned();

    // Resend: the same webhook-id arrives again.
    let my_call = &mine["data"][0];
    let delivery = my_call["deliveryId"].as_str().unwrap().to_owned();
    let resend = format!("{calls_path}/{}/resend", my_call["id"].as_str().unwrap());
    let (status, answer) = w.host.as_bearer(&w.rest_key).post(&resend, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["deliveryId"], delivery.as_str());
    let hits = receiver.wait_for(5).await;
    assert_eq!(hits[4].webhook_id(), delivery);
    assert_eq!(
        hits.iter().filter(|h| h.webhook_id() == delivery).count(),
        2
    );
    hits[4].verify_signature(&secret).unwrap();
    // Another tenant's call is not there for this tenant.
    let (status, _) = w
        .host
        .as_bearer(&w.rest_key)
        .post(&format!("{calls_path}/{their_call}/resend"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A test call: synchronous, signed, recorded.
    let test = format!("/public/v1/notifications/webhooks/{}/test", webhook.id);
    let (status, _) = w.as_provider().post(&test, None).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a provider names the tenant"
    );
    let (status, answer) = w
        .as_provider()
        .post(&test, &json!({"tenantId": w.tenant}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["call"]["success"], true);
    assert_eq!(answer["call"]["httpStatusCode"], 200);
    let hits = receiver.wait_for(6).await;
    let test_hit = &hits[5];
    assert!(
        test_hit.webhook_id().starts_with("TST-"),
        "{}",
        test_hit.webhook_id()
    );
    assert_eq!(test_hit.json()["test"], true);
    test_hit.verify_signature(&secret).unwrap();
    test_hit.verify_jwt(&secret).unwrap();
    assert_eq!(call_log(&w, &webhook.id, 6).await.len(), 6);
    let mine = get("?limit=100", &w.rest_key).await;
    assert_eq!(
        mine["$meta"]["pagination"]["total"], 5,
        "the resend and the test call are this tenant's"
    );
}

async fn rotated_secrets_sign_side_by_side_during_the_grace_period(db: Db) {
    let w = world(db).start().await;
    let receiver = Receiver::start().await;
    let (webhook, old) = url_webhook(&w, &receiver.url("/hook"), |s| s).await;
    let rotate = format!(
        "/public/v1/notifications/webhooks/{}/rotate-secret",
        webhook.id
    );

    let (status, _) = w.host.as_bearer(&w.rest_key).post(&rotate, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only the owner rotates");
    let (status, answer) = w.as_provider().post(&rotate, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let new = answer["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(
        answer["previousSecretValidUntil"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    // During the grace period: two signatures, either secret verifies; the JWT uses the new one.
    w.trigger("estate", &["1"]).await;
    let hit = receiver.wait_for(1).await.remove(0);
    assert_eq!(
        hit.header("webhook-signature").split(' ').count(),
        2,
        "{}",
        hit.header("webhook-signature")
    );
    hit.verify_signature(&old)
        .expect("the old secret still verifies");
    hit.verify_signature(&new).expect("the new secret verifies");
    hit.verify_jwt(&new)
        .expect("the JWT is keyed with the new secret");
    assert!(hit.verify_jwt(&old).is_err());

    // After the grace period only the new secret signs.
    sqlx::query("UPDATE webhook_secrets SET expires_at = $1")
        .bind(hookhost::time::now_ms() - 1)
        .execute(w.host.store().pool())
        .await
        .unwrap();
    w.host.store().changed(); // what a change through the store does: cached secrets go
    w.trigger("estate", &["2"]).await;
    let hit = receiver.wait_for(2).await.remove(1);
    assert_eq!(hit.header("webhook-signature").split(' ').count(), 1);
    hit.verify_signature(&new).unwrap();
    assert!(
        hit.verify_signature(&old).is_err(),
        "the old secret expired"
    );
    // The secret is stored encrypted, like the first one.
    let stored: Vec<u8> = sqlx::Row::get(
        &sqlx::query("SELECT secret_enc FROM webhooks WHERE id = $1")
            .bind(&webhook.id)
            .fetch_one(w.host.store().pool())
            .await
            .unwrap(),
        "secret_enc",
    );
    assert!(!String::from_utf8_lossy(&stored).contains(new.trim_start_matches("whsec_")));
}

async fn a_slow_webhook_does_not_hold_up_the_others(db: Db) {
    let w = world(db)
        .config(|c| {
            c.delivery.concurrency = 4;
            c.delivery.per_webhook_concurrency = 2;
        })
        .start()
        .await;
    let slow = Receiver::scripted(|_, _| Reply::ok().after(Duration::from_millis(300))).await;
    let fast = Receiver::start().await;
    let (slow_hook, _) = url_webhook(&w, &slow.url("/slow"), |s| s).await;
    let (fast_hook, _) = url_webhook(&w, &fast.url("/fast"), |s| s).await;
    let payloads = |n: usize| (0..n).map(|i| json!({"n": i}));
    // The slow webhook's deliveries are due first.
    w.host
        .store()
        .plan_deliveries(&planned(&w, &slow_hook, payloads(8)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    w.host
        .store()
        .plan_deliveries(&planned(&w, &fast_hook, payloads(6)))
        .await
        .unwrap();
    w.host.state.wake.notify_waiters();

    fast.wait_for(6).await;
    let slow_done = slow.hits().len();
    assert!(
        slow_done < 8,
        "the fast webhook's deliveries did not wait for the slow ones ({slow_done} of 8 done)"
    );
    slow.wait_for(8).await;
    assert!(slow.max_in_flight() <= 2, "per-webhook concurrency holds");
    all_finished(&w).await;
}

async fn deliveries_are_claimed_ahead_but_calls_stay_within_the_concurrency(db: Db) {
    let w = world(db)
        .config(|c| c.delivery.concurrency = 2)
        .start()
        .await;
    let slow = Receiver::scripted(|_, _| Reply::ok().after(Duration::from_millis(300))).await;
    let (webhook, _) = url_webhook(&w, &slow.url("/slow"), |s| s).await;
    let ids = plan_now(&w, &webhook, 8).await;

    // While two call, two more are claimed ahead: four leased, never more.
    let leased = eventually("deliveries claimed ahead", async || {
        let counts = w.host.store().delivery_counts().await.unwrap();
        let in_flight = counts.get("in_flight").copied().unwrap_or(0);
        (in_flight >= 4).then_some(in_flight)
    })
    .await;
    assert_eq!(leased, 4, "twice delivery.concurrency leased");
    let hits = slow.wait_for(8).await;
    assert_eq!(
        slow.max_in_flight(),
        2,
        "calls at once stay within delivery.concurrency"
    );
    assert_each_called_once(&hits, &ids);
    let counts = all_finished(&w).await;
    assert_eq!(counts.get("succeeded"), Some(&8), "{counts:?}");
    for id in &ids {
        assert_eq!(
            finished(&w, id).await.attempts,
            1,
            "claimed ahead, attempted once"
        );
    }
}

async fn a_delivery_whose_turn_comes_too_late_for_its_lease_goes_back_uncalled(db: Db) {
    // Leases of 2 s, calls of at most 1.8 s: a delivery claimed ahead must start its call
    // within 0.2 s of its claim, or its lease could run out during the call.
    let w = world(db)
        .config(|c| {
            c.delivery.concurrency = 1;
            c.delivery.lease_ms = 2_000;
            c.delivery.poll_ms = 50;
            c.outbound.timeout_ms = 1_800;
            c.sandbox.ceilings.timeout_ms = 1_800;
        })
        .start()
        .await;
    // A second worker pool on the database, as another instance runs one: it takes over
    // the deliveries whose lease ran out.
    let state = &w.host.state;
    let other = hookhost::delivery::Deliverer {
        store: state.store.clone(),
        executor: state.executor.clone(),
        recorder: state.recorder.clone(),
        wake: state.wake.clone(),
        config: state.config.delivery.clone(),
        worker_id: "the-other-instance".into(),
        busy: Default::default(),
        tokens: Default::default(),
        mailer: hookhost::mail::Mailer::off(),
    }
    .start(Duration::from_millis(1_800));
    // Each call takes 1.2 s: a delivery claimed ahead gets its turn 1.2 s after its claim (had
    // it called then, it would still be calling when its lease ran out, at 2 s); one that
    // starts in time has ended 0.6 s before.
    let slow = Receiver::scripted(|_, _| Reply::ok().after(Duration::from_millis(1_200))).await;
    let (webhook, _) = url_webhook(&w, &slow.url("/slow"), |s| s).await;
    let ids = plan_now(&w, &webhook, 4).await;

    slow.wait_for(4).await;
    all_finished(&w).await;
    // Had those claimed ahead called when their turn came, they would still have been
    // calling when their lease ran out, and the other pool would have called them again.
    assert_each_called_once(&slow.hits(), &ids);
    for id in &ids {
        let state = finished(&w, id).await;
        assert_eq!(state.status, DeliveryStatus::Succeeded);
        assert_eq!(state.attempts, 1, "going back is not an attempt");
    }
    other.shutdown(Duration::from_secs(2)).await;
}

async fn retention_prunes_old_records_in_the_background(db: Db) {
    let w = world(db)
        .config(|c| {
            c.delivery.retention_days = 1;
            c.delivery.prune_interval_ms = 200;
        })
        .start()
        .await;
    let store = w.host.store();
    let receiver = Receiver::start().await;
    let (webhook, _) = url_webhook(&w, &receiver.url("/hook"), |s| s).await;
    w.trigger("estate", &["1", "2"]).await;
    let calls = call_log(&w, &webhook.id, 2).await;
    all_finished(&w).await;

    // Age one call and its delivery past the retention; add an old notification, a pending
    // delivery planned long ago (not finished: kept) and a rotated-out secret that expired.
    let now = hookhost::time::now_ms();
    let old = now - 2 * 86_400_000;
    let (aged_call, aged_delivery) = (&calls[0].id, calls[0].delivery_id.clone().unwrap());
    let (kept_call, kept_delivery) = (&calls[1].id, calls[1].delivery_id.clone().unwrap());
    let pool = store.pool();
    sqlx::query("UPDATE calls SET created_at = $1 WHERE id = $2")
        .bind(old)
        .bind(aged_call)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE deliveries SET next_attempt_at = $1, updated_at = $1, created_at = $1 WHERE id = $2")
        .bind(old)
        .bind(&aged_delivery)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO deliveries (id, webhook_id, tenant_id, trigger, module, record_id, event, payload, parameters, \
         status, attempts, next_attempt_at, created_at, updated_at) VALUES ('DLV-waiting', $1, $2, 'smartml', \
         'estate', '3', 'update', '{}', '[]', 'pending', 4, $3, $4, $4)",
    )
    .bind(&webhook.id)
    .bind(&w.tenant)
    .bind(now + 86_400_000)
    .bind(old)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO notifications (id, webhook_id, owner_kind, owner_id, kind, message, created_at) \
         VALUES ('NTF-old', $1, 'provider', $2, 'failing', 'long ago', $3)",
    )
    .bind(&webhook.id)
    .bind(w.provider.id())
    .bind(old)
    .execute(pool)
    .await
    .unwrap();
    store
        .rotate_webhook_secret(&w.host.state.key, &w.provider, &webhook.id, 1)
        .await
        .unwrap();

    let count = async |sql: &'static str| -> i64 {
        sqlx::Row::get(&sqlx::query(sql).fetch_one(pool).await.unwrap(), "n")
    };
    eventually("the retention task to prune", async || {
        let calls = count("SELECT COUNT(*) AS n FROM calls").await;
        let notifications = count("SELECT COUNT(*) AS n FROM notifications").await;
        let secrets = count("SELECT COUNT(*) AS n FROM webhook_secrets").await;
        (calls == 1 && notifications == 0 && secrets == 0).then_some(())
    })
    .await;
    let (left, total) = store.list_calls(&webhook.id, None, 0, 10).await.unwrap();
    assert_eq!(
        (total, left[0].id.as_str()),
        (1, kept_call.as_str()),
        "recent calls are kept"
    );
    assert!(
        store.delivery_state(&aged_delivery).await.is_err(),
        "the old finished delivery is gone"
    );
    assert_eq!(
        store.delivery_state(&kept_delivery).await.unwrap().status,
        DeliveryStatus::Succeeded
    );
    assert_eq!(
        store.delivery_state("DLV-waiting").await.unwrap().status,
        DeliveryStatus::Pending,
        "unfinished work is kept"
    );

    // Resending a pruned call's delivery says so.
    sqlx::query("UPDATE calls SET delivery_id = $1 WHERE id = $2")
        .bind(&aged_delivery)
        .bind(kept_call)
        .execute(pool)
        .await
        .unwrap();
    let resend = format!(
        "/public/v1/notifications/webhooks/{}/calls/{kept_call}/resend",
        webhook.id
    );
    let (status, answer) = w.as_provider().post(&resend, None).await;
    assert_eq!(status, StatusCode::GONE, "{answer}");

    // The pass itself, called directly: nothing older than a day is left.
    let report = store.prune(now - 86_400_000).await.unwrap();
    assert_eq!(
        (report.calls, report.deliveries, report.notifications),
        (0, 0, 0)
    );
}

// ---------------------------------------------------------------------------------------------
// Crash: SIGKILL the real binary in the middle of thousands of deliveries

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_delivery_loses_nothing_and_duplicates_little() {
    const WEBHOOKS: usize = 500;
    const REQUESTS: usize = 4;
    const ACTIONS: usize = 3;
    const CONCURRENCY: usize = 16;
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let url = hookhost::store::default_sqlite_url(dir.path());
    let master_key = hookhost::crypto::MasterKey::generate_base64();
    let key = hookhost::crypto::MasterKey::from_base64(&master_key).unwrap();

    // The receiver: a few ms per call.
    let receiver =
        Receiver::scripted(|_, _| Reply::text("ok").after(Duration::from_millis(3))).await;

    // Seed before the first start: a provider, a tenant with an API user, 500 URL webhooks.
    let store = hookhost::store::Store::open(&url).await.unwrap();
    let (provider, _) = store.create_provider("Crash Provider").await.unwrap();
    let provider = Scope::Provider(provider.id);
    let service = store
        .create_service(&provider, "Crash Service", &[])
        .await
        .unwrap()
        .id;
    let tenant = store.create_tenant("Crash Tenant").await.unwrap().id;
    store
        .activate(&key, &tenant, &service, &BTreeMap::new())
        .await
        .unwrap();
    let user = store.create_api_user(&key, &tenant, false).await.unwrap();
    for i in 0..WEBHOOKS {
        let spec = WebhookSpec::new(&service, Handler::Url(receiver.url(&format!("/hook/{i}"))))
            .modules(["estate"]);
        store.create_webhook(&key, &provider, &spec).await.unwrap();
    }

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("hookhost.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = "{data}"
listen = "127.0.0.1:{port}"
log = "warn"
database_url = "{url}"
master_key = "{master_key}"
admin_token = "crash-test-admin-token"

[outbound]
allow_insecure = true
timeout_ms = 2000
connect_timeout_ms = 1000

[delivery]
concurrency = {CONCURRENCY}
lease_ms = 3000
poll_ms = 50

[sandbox.ceilings]
timeout_ms = 2000
"#,
            data = dir.path().display(),
        ),
    )
    .unwrap();
    let log = dir.path().join("hookhost.log");
    let mut host = HostProcess::start(&config, &base, &log).await;

    // The triggers, from a client that sends a request the crash interrupted again.
    let (token, secret) = (user.token.clone(), user.secret.clone());
    let client_base = base.clone();
    let triggers = tokio::spawn(async move {
        let client = reqwest::Client::new();
        for request in 0..REQUESTS {
            loop {
                let records: Vec<String> = (0..ACTIONS)
                    .map(|a| format!("{}", 1000 + request * ACTIONS + a))
                    .collect();
                let actions: Vec<Value> = records
                    .iter()
                    .map(|record| {
                        let estate = json!({"module": "estate"});
                        let ts = smartml_timestamp();
                        smartml_action(
                            &token,
                            &secret,
                            ts,
                            "executeMarketplaceWebhooks",
                            record,
                            estate,
                        )
                    })
                    .collect();
                let body = smartml_request(&token, &actions).to_string();
                let answer = client
                    .post(format!("{client_base}/api/stable/api.php"))
                    .body(body)
                    .send()
                    .await;
                match answer {
                    Ok(response) if response.status().is_success() => {
                        let answer: Value = response.json().await.unwrap();
                        assert_eq!(answer["status"]["errorcode"], 0, "{answer}");
                        break;
                    }
                    other => {
                        // It may have been planned before the crash: sent again, its
                        // deliveries are planned twice (new delivery ids), which is right for
                        // a client that cannot know. Re-signing needs a new timestamp: the
                        // same action in the same second is a replay.
                        eprintln!(
                            "crash test: trigger request {request} interrupted ({other:?}); sending it again"
                        );
                        tokio::time::sleep(Duration::from_millis(1100)).await;
                    }
                }
            }
        }
    });

    // Kill once a few hundred calls arrived.
    eventually("a few hundred deliveries before the crash", async || {
        (receiver.count() >= 300).then_some(())
    })
    .await;
    host.kill().await;
    let at_kill = receiver.count();
    let counts_at_kill = store.delivery_counts().await.unwrap();
    let mut host = HostProcess::start(&config, &base, &log).await;
    triggers.await.unwrap();

    let planned = REQUESTS * ACTIONS * WEBHOOKS;
    let finished = eventually("every delivery to succeed after the restart", async || {
        let counts = store.delivery_counts().await.unwrap();
        let succeeded = counts.get("succeeded").copied().unwrap_or(0) as usize;
        (succeeded >= planned && counts.len() == 1).then_some(counts)
    })
    .await;
    host.kill().await;

    let ids: Vec<String> = sqlx::query("SELECT id FROM deliveries")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|row| sqlx::Row::get(row, "id"))
        .collect();
    // Per webhook-id: how often it arrived, and the body it first came with.
    let hits = receiver.hits();
    let mut seen: HashMap<&str, (usize, &[u8])> = HashMap::new();
    let mut differing_duplicates = 0;
    for hit in &hits {
        let (n, first_body) = seen.entry(hit.webhook_id()).or_insert((0, &hit.body[..]));
        *n += 1;
        if *first_body != &hit.body[..] {
            differing_duplicates += 1;
        }
    }
    let missing = ids
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .count();
    let planned_ids: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    let strangers = seen.keys().filter(|id| !planned_ids.contains(*id)).count();
    let duplicates: usize = seen.values().map(|(n, _)| n - 1).sum();
    eprintln!(
        "crash test: {} deliveries planned (≥ {planned}), {at_kill} received before the SIGKILL \
         ({counts_at_kill:?}), {} received in all, {duplicates} duplicates, {:.1} s",
        ids.len(),
        hits.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        at_kill < planned,
        "the crash happened mid-way ({at_kill} of {planned} received)"
    );
    assert!(ids.len() >= planned, "{finished:?}");
    assert_eq!(missing, 0, "every delivery arrived at least once");
    assert_eq!(
        strangers, 0,
        "every webhook-id received is a planned delivery"
    );
    // Only what the killed process held leased can arrive twice: at most twice its
    // concurrency (calls in flight, and as many claimed ahead or waiting to be written).
    let in_flight = counts_at_kill.get("in_flight").copied().unwrap_or(0) as usize;
    assert!(in_flight <= 2 * CONCURRENCY, "{counts_at_kill:?}");
    assert!(
        duplicates <= in_flight,
        "at most the calls in flight are repeated ({duplicates} > {in_flight})"
    );
    assert_eq!(
        differing_duplicates, 0,
        "a repeated webhook-id carries the same body"
    );
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?}",
        started.elapsed()
    );
}
