//! The execute endpoints with real clients: a smartml client written from the documented
//! algorithm, an Ivanti-style client, and the bundled plugins as handlers.

use crate::support::{Db, TestHost, World, smartml_action, smartml_request, smartml_timestamp};
use hookhost::api::smartml::hmac_v2;
use hookhost::sandbox::Limits;
use hookhost::store::{Handler, Webhook, WebhookSpec};
use hookhost_plugins::{ECHO, MISBEHAVE};
use reqwest::StatusCode;
use serde_json::{Value, json};

both_backends!(
    smartml_seed_example_answers_the_seed_envelope_and_runs_the_webhooks,
    smartml_error_codes,
    smartml_a_captured_hmac_is_good_for_one_request,
    smartml_actions_of_one_request_may_share_an_hmac,
    smartml_a_request_has_at_most_100_actions,
    smartml_an_hmac_accepted_by_one_instance_is_refused_by_another,
    ivanti_runs_the_handler_synchronously,
    ivanti_error_bodies_are_exact,
);

/// Uploads the component at `path` and registers it as a webhook of the world's service,
/// as `configure` says.
async fn component_webhook(
    w: &World,
    path: &str,
    configure: impl FnOnce(WebhookSpec) -> WebhookSpec,
) -> Webhook {
    let component = w.upload(path).await;
    w.register(configure(w.spec(Handler::Component(component))))
        .await
        .0
}

/// A smartml action of the tenant's API user with a timestamp (so an HMAC) of its own.
fn signed(w: &World, resourcetype: &str, resourceid: &str, parameters: Value) -> Value {
    signed_at(w, smartml_timestamp(), resourcetype, resourceid, parameters)
}

/// A smartml action of the tenant's API user signed for `timestamp`.
fn signed_at(
    w: &World,
    timestamp: i64,
    resourcetype: &str,
    resourceid: &str,
    parameters: Value,
) -> Value {
    smartml_action(
        &w.token,
        &w.secret,
        timestamp,
        resourcetype,
        resourceid,
        parameters,
    )
}

async fn smartml(w: &World, body: &Value) -> (StatusCode, Value) {
    smartml_on(&w.host, body.to_string()).await
}

/// Deliveries planned so far, whatever their status.
async fn planned(w: &World) -> i64 {
    let counts = w.host.store().delivery_counts().await.unwrap();
    counts.values().sum()
}

/// Posts a smartml request to `host`; the status and the envelope.
async fn smartml_on(host: &TestHost, body: String) -> (StatusCode, Value) {
    let response = host
        .client
        .post(host.url("/api/stable/api.php"))
        // The official PHP SDK sends no Content-Type, so curl labels it a form.
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn smartml_seed_example_answers_the_seed_envelope_and_runs_the_webhooks(db: Db) {
    let w = World::start(db).await;
    let address = component_webhook(&w, ECHO, |s| s.modules(["address"])).await;
    let estate_only = component_webhook(&w, ECHO, |s| s.modules(["estate"])).await;
    let disabled = component_webhook(&w, ECHO, |s| s.modules(["address"]).disabled()).await;
    let other_record = component_webhook(&w, ECHO, |s| {
        s.modules(["address"]).criteria([("recordId", "99")])
    })
    .await;

    // The seed's action, verbatim, plus the authentication every action carries.
    let seed: Value = serde_json::from_str(
        r#"{
        "actionid": "urn:onoffice-de-ns:smart:2.5:smartml:action:do",
        "resourceid": "15005",
        "identifier": "",
        "resourcetype": "executeMarketplaceWebhooks",
        "parameters": {
            "module": "address"
        }
    }"#,
    )
    .unwrap();
    let mut action = signed(
        &w,
        "executeMarketplaceWebhooks",
        "15005",
        json!({"module": "address"}),
    );
    for (k, v) in seed.as_object().unwrap() {
        action[k] = v.clone();
    }
    let (status, body) = smartml(
        &w,
        &json!({"token": w.token, "request": {"actions": [action]}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let expected: Value = serde_json::from_str(
        r#"{
        "status": {"code": 200, "errorcode": 0, "message": "OK"},
        "response": {"results": [{
            "actionid": "urn:onoffice-de-ns:smart:2.5:smartml:action:do",
            "resourceid": "15005",
            "resourcetype": "executeMarketplaceWebhooks",
            "cacheable": false,
            "identifier": "",
            "data": {"meta": {"cntabsolute": null},
                     "records": [{"id": 0, "type": "", "elements": {"result": "success"}}]},
            "status": {"errorcode": 0, "message": "OK"}
        }]}
    }"#,
    )
    .unwrap();
    assert_eq!(body, expected);

    // The delivery worker runs the matching webhook; the others are not called.
    let called = w.webhook_after_calls(&address.id, 1).await;
    assert_eq!(called.statistics.successes, 1);
    let last = called.last_success.unwrap();
    let echoed: Value = serde_json::from_str(&last.response).unwrap();
    assert_eq!(echoed["recordId"], "15005");
    assert_eq!(echoed["module"], "address");
    assert_eq!(echoed["tenant"]["name"], "Immobilien Muster GmbH");
    assert!(echoed["deliveryId"].as_str().unwrap().starts_with("DLV-"));
    for id in [&estate_only.id, &disabled.id, &other_record.id] {
        let untouched = w.host.store().webhook(&w.provider, id).await.unwrap();
        assert_eq!(untouched.statistics.total, 0, "{id} was not triggered");
    }
    let (calls, total) = w
        .host
        .store()
        .list_calls(&address.id, None, 0, 10)
        .await
        .unwrap();
    assert_eq!((total, calls[0].trigger.as_str()), (1, "smartml"));

    // Several actions: each its own result, in order; the failing one yields 97 on top.
    let good = signed(
        &w,
        "executeMarketplaceWebhooks",
        "15006",
        json!({"module": "address"}),
    );
    let bad = signed(
        &w,
        "executeMarketplaceWebhooks",
        "15007",
        json!({"module": "garage"}),
    );
    let (status, body) = smartml(
        &w,
        &json!({"token": w.token, "request": {"actions": [good, bad]}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["status"],
        json!({"code": 200, "errorcode": 97, "message": "Error in action"})
    );
    let results = body["response"]["results"].as_array().unwrap();
    assert_eq!(results[0]["status"]["errorcode"], 0);
    assert_eq!(results[0]["resourceid"], "15006");
    assert_eq!(results[1]["resourceid"], "15007");
    assert_eq!(results[1]["status"]["errorcode"], 20);
    assert_eq!(results[1]["data"]["records"], json!([]));
    w.webhook_after_calls(&address.id, 2).await;
}

async fn smartml_error_codes(db: Db) {
    let w = World::start(db).await;
    let ok_params = json!({"module": "estate"});
    let code = |body: &Value| body["status"]["errorcode"].as_u64().unwrap();
    let action_code = |body: &Value| {
        body["response"]["results"][0]["status"]["errorcode"]
            .as_u64()
            .unwrap()
    };

    assert_eq!(code(&smartml_on(&w.host, String::new()).await.1), 9);
    assert_eq!(code(&smartml_on(&w.host, "{not json".into()).await.1), 4);
    assert_eq!(
        code(&smartml(&w, &json!({"request": {"actions": []}})).await.1),
        13
    );
    assert_eq!(code(&smartml(&w, &json!({"token": w.token})).await.1), 14);
    assert_eq!(
        code(
            &smartml(&w, &json!({"token": w.token, "request": {}}))
                .await
                .1
        ),
        15
    );

    let act = signed(&w, "executeMarketplaceWebhooks", "1", ok_params.clone());
    for (field, expected) in [
        ("actionid", 16),
        ("resourceid", 18),
        ("resourcetype", 19),
        ("parameters", 20),
    ] {
        let mut broken = act.clone();
        broken.as_object_mut().unwrap().remove(field);
        let (_, body) = smartml(
            &w,
            &json!({"token": w.token, "request": {"actions": [broken]}}),
        )
        .await;
        assert_eq!(action_code(&body), expected, "without {field}: {body}");
        assert_eq!(code(&body), 97);
    }

    // Not authenticated: a wrong token, top-level code 400.
    let (status, body) = smartml(
        &w,
        &json!({"token": "x".repeat(32), "request": {"actions": [act.clone()]}}),
    )
    .await;
    assert_eq!(
        body["status"],
        json!({"code": 400, "errorcode": 22, "message": "Not authenticated"})
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let mut wrong_mac = signed(&w, "executeMarketplaceWebhooks", "1", ok_params.clone());
    wrong_mac["hmac"] = json!("AAAA");
    let (_, body) = smartml(
        &w,
        &json!({"token": w.token, "request": {"actions": [wrong_mac]}}),
    )
    .await;
    assert_eq!(action_code(&body), 137);

    let mut numeric_mac = signed(&w, "executeMarketplaceWebhooks", "1", ok_params.clone());
    numeric_mac["hmac"] = json!(12345);
    let (_, body) = smartml(
        &w,
        &json!({"token": w.token, "request": {"actions": [numeric_mac]}}),
    )
    .await;
    assert_eq!(action_code(&body), 243);

    // An old timestamp (signed correctly) is refused.
    let old = hookhost::time::now_ms() / 1000 - 3600;
    let actionid = "urn:onoffice-de-ns:smart:2.5:smartml:action:do";
    let mut stale = signed(&w, "executeMarketplaceWebhooks", "1", ok_params.clone());
    stale["timestamp"] = json!(old);
    stale["hmac"] = json!(hmac_v2(
        &w.secret,
        &old.to_string(),
        &w.token,
        "executeMarketplaceWebhooks",
        actionid
    ));
    let (_, body) = smartml(
        &w,
        &json!({"token": w.token, "request": {"actions": [stale]}}),
    )
    .await;
    assert_eq!(action_code(&body), 136);
    assert_eq!(
        body["response"]["results"][0]["status"]["message"],
        "Your timestamp is too old or your server time is wrong."
    );

    // hmac_version as an integer is accepted; the same signed action again is a replay.
    let mut integer_version = signed(&w, "executeMarketplaceWebhooks", "1", ok_params.clone());
    integer_version["hmac_version"] = json!(2);
    let request = json!({"token": w.token, "request": {"actions": [integer_version]}});
    assert_eq!(code(&smartml(&w, &request).await.1), 0);
    assert_eq!(
        action_code(&smartml(&w, &request).await.1),
        137,
        "a replay is refused"
    );

    let unknown = signed(&w, "estate", "1", json!({}));
    let (_, body) = smartml(
        &w,
        &json!({"token": w.token, "request": {"actions": [unknown]}}),
    )
    .await;
    assert_eq!(action_code(&body), 25);
    assert_eq!(
        body["response"]["results"][0]["status"]["message"],
        "Missing configuration for resourceType \"estate\""
    );

    let no_module = signed(&w, "executeMarketplaceWebhooks", "1", json!({}));
    let (_, body) = smartml(
        &w,
        &json!({"token": w.token, "request": {"actions": [no_module]}}),
    )
    .await;
    assert_eq!(action_code(&body), 167);
    assert_eq!(
        body["response"]["results"][0]["status"]["message"],
        "Missing parameter \"module\""
    );

    // A marketplace API user may not call it.
    let marketplace = w
        .host
        .store()
        .create_api_user(&w.host.state.key, &w.tenant, true)
        .await
        .unwrap();
    let actionid = "urn:onoffice-de-ns:smart:2.5:smartml:action:do";
    let ts = hookhost::time::now_ms() / 1000;
    let hmac = hmac_v2(
        &marketplace.secret,
        &ts.to_string(),
        &marketplace.token,
        "executeMarketplaceWebhooks",
        actionid,
    );
    let action = json!({"actionid": actionid, "resourceid": "1", "resourcetype": "executeMarketplaceWebhooks",
        "timestamp": ts, "hmac": hmac, "hmac_version": "2", "parameters": ok_params});
    let (_, body) = smartml(
        &w,
        &json!({"token": marketplace.token, "request": {"actions": [action]}}),
    )
    .await;
    assert_eq!(action_code(&body), 240);
    assert_eq!(
        body["response"]["results"][0]["status"]["message"],
        "Call for Marketplace Api-Users not allowed"
    );
}

/// The default of `smartml.max_actions`.
const MAX_ACTIONS: usize = 100;

/// The errorcode of each action's result.
fn action_codes(body: &Value) -> Vec<u64> {
    body["response"]["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {body}"))
        .iter()
        .map(|r| r["status"]["errorcode"].as_u64().unwrap())
        .collect()
}

/// Asserts that `body` refused its single action as a replay.
fn assert_replay(body: &Value, what: &str) {
    assert_eq!(
        body["response"]["results"][0]["status"],
        json!({"errorcode": 137, "message": "The HMAC is invalid."}),
        "{what}: {body}"
    );
    assert_eq!(
        body["status"],
        json!({"code": 200, "errorcode": 97, "message": "Error in action"}),
        "{what}"
    );
}

/// HMAC v2 signs neither `resourceid` nor `parameters`, so a captured action can be changed
/// or re-encoded and still carry a valid HMAC: the HMAC itself is what is used up.
async fn smartml_a_captured_hmac_is_good_for_one_request(db: Db) {
    let w = World::start(db).await;
    component_webhook(&w, ECHO, |s| s.modules(["estate", "address"])).await;
    let captured = signed(
        &w,
        "executeMarketplaceWebhooks",
        "15005",
        json!({"module": "estate"}),
    );
    let (status, body) = smartml(
        &w,
        &smartml_request(&w.token, std::slice::from_ref(&captured)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"]["errorcode"], 0, "{body}");
    assert_eq!(planned(&w).await, 1);

    let reordered: serde_json::Map<String, Value> = captured
        .as_object()
        .unwrap()
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let reordered = Value::Object(reordered);
    assert_ne!(reordered.to_string(), captured.to_string());
    let mut junk = captured.clone();
    junk["junk"] = json!(1);
    let mut numeric_version = captured.clone();
    numeric_version["hmac_version"] = json!(2);
    let mut other_record = captured.clone();
    other_record["resourceid"] = json!("15006");
    let mut other_module = captured.clone();
    other_module["parameters"]["module"] = json!("address");
    for (what, variant) in [
        ("the same action", captured),
        ("keys reordered", reordered),
        ("an extra key", junk),
        ("hmac_version as a number", numeric_version),
        ("another resourceid", other_record),
        ("another parameters.module", other_module),
    ] {
        let (status, body) = smartml(&w, &smartml_request(&w.token, &[variant])).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        assert_replay(&body, what);
    }
    assert_eq!(planned(&w).await, 1, "no replay planned a delivery");
}

async fn smartml_actions_of_one_request_may_share_an_hmac(db: Db) {
    let w = World::start(db).await;
    component_webhook(&w, ECHO, |s| s.modules(["estate"])).await;
    // A client batching within one second: equal timestamps, so one HMAC for all, and the
    // same record twice.
    let ts = smartml_timestamp();
    let estate = json!({"module": "estate"});
    let batch: Vec<Value> = ["1", "2", "2"]
        .iter()
        .map(|record| signed_at(&w, ts, "executeMarketplaceWebhooks", record, estate.clone()))
        .collect();
    assert_eq!(batch[1], batch[2]);
    let (status, body) = smartml(&w, &smartml_request(&w.token, &batch)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"]["errorcode"], 0, "{body}");
    assert_eq!(action_codes(&body), [0, 0, 0]);
    assert_eq!(planned(&w).await, 3);

    // A later request with that HMAC is refused whole, the same actions or new records.
    let (_, body) = smartml(&w, &smartml_request(&w.token, &batch)).await;
    assert_eq!(action_codes(&body), [137, 137, 137]);
    let more: Vec<Value> = ["3", "4"]
        .iter()
        .map(|record| signed_at(&w, ts, "executeMarketplaceWebhooks", record, estate.clone()))
        .collect();
    let (_, body) = smartml(&w, &smartml_request(&w.token, &more)).await;
    assert_eq!(action_codes(&body), [137, 137]);

    // Next to a fresh HMAC, only the used one is refused.
    let fresh = signed(&w, "executeMarketplaceWebhooks", "5", estate.clone());
    let (_, body) = smartml(&w, &smartml_request(&w.token, &[more[0].clone(), fresh])).await;
    assert_eq!(action_codes(&body), [137, 0]);
    assert_eq!(planned(&w).await, 4);
}

async fn smartml_a_request_has_at_most_100_actions(db: Db) {
    let w = World::start(db).await;
    component_webhook(&w, ECHO, |s| s.modules(["estate"])).await;
    let ts = smartml_timestamp();
    let actions: Vec<Value> = (0..=MAX_ACTIONS)
        .map(|r| {
            signed_at(
                &w,
                ts,
                "executeMarketplaceWebhooks",
                &r.to_string(),
                json!({"module": "estate"}),
            )
        })
        .collect();
    let (status, body) = smartml(&w, &smartml_request(&w.token, &actions)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"status": {"code": 400, "errorcode": 15, "message": "Missing or invalid element: actions"},
               "response": {"results": []}})
    );
    assert_eq!(planned(&w).await, 0, "nothing planned");

    // The refused request used up nothing: its HMAC still carries the largest request.
    let (status, body) = smartml(&w, &smartml_request(&w.token, &actions[..MAX_ACTIONS])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"]["errorcode"], 0, "{body}");
    assert_eq!(planned(&w).await, MAX_ACTIONS as i64);
}

async fn smartml_an_hmac_accepted_by_one_instance_is_refused_by_another(db: Db) {
    let w = World::start(db).await;
    component_webhook(&w, ECHO, |s| s.modules(["estate"])).await;
    let two = w.host.another_instance().await;
    let estate = json!({"module": "estate"});
    let captured = signed(&w, "executeMarketplaceWebhooks", "1", estate.clone());
    let (_, body) = smartml(
        &w,
        &smartml_request(&w.token, std::slice::from_ref(&captured)),
    )
    .await;
    assert_eq!(body["status"]["errorcode"], 0, "{body}");
    let mut other_record = captured.clone();
    other_record["resourceid"] = json!("2");
    for (what, variant) in [("another record", other_record), ("the same", captured)] {
        let (_, body) = smartml_on(&two, smartml_request(&w.token, &[variant]).to_string()).await;
        assert_replay(&body, what);
    }

    // The same HMAC at both instances at once, with different records: exactly one wins.
    for round in 0..5 {
        let ts = smartml_timestamp();
        let signed = |record: &str| {
            let action = signed_at(&w, ts, "executeMarketplaceWebhooks", record, estate.clone());
            smartml_request(&w.token, &[action]).to_string()
        };
        let (one, other) = tokio::join!(
            smartml_on(&w.host, signed("10")),
            smartml_on(&two, signed("11"))
        );
        let mut codes = [action_codes(&one.1)[0], action_codes(&other.1)[0]];
        codes.sort();
        assert_eq!(codes, [0, 137], "round {round}: {one:?} {other:?}");
    }
    assert_eq!(planned(&w).await, 1 + 5);
    drop(two);
}

async fn ivanti(
    w: &World,
    extension: Option<&str>,
    auth: &str,
    content_type: &str,
    body: String,
) -> (StatusCode, String) {
    let url = match extension {
        Some(e) => w
            .host
            .url(&format!("/api/rest/Webhooks/Execute?extension={e}")),
        None => w.host.url("/api/rest/Webhooks/Execute"),
    };
    let response = w
        .host
        .client
        .post(url)
        .header("authorization", auth)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn ivanti_runs_the_handler_synchronously(db: Db) {
    let w = World::start(db).await;
    let echo = component_webhook(&w, ECHO, |s| s.extension("MyTestWebhook")).await;
    let auth = format!("rest_api_key={}", w.rest_key);

    let (status, text) = ivanti(
        &w,
        Some("MyTestWebhook"),
        &auth,
        "application/json",
        r#"{"Subject":"Printer on fire"}"#.into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["payload"], json!({"Subject": "Printer on fire"}));
    assert_eq!(body["event"], "execute");
    assert_eq!(body["module"], "webhook-body");

    // The bare key works too; XML passes through as text.
    let xml = "<Incident><Subject>Printer on fire</Subject></Incident>";
    let (status, text) = ivanti(
        &w,
        Some("MyTestWebhook"),
        &w.rest_key,
        "application/xml",
        xml.into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["payload"],
        xml
    );

    // 100,000 characters of two-byte text are accepted.
    let long = "ä".repeat(100_000);
    let (status, text) = ivanti(&w, Some("MyTestWebhook"), &auth, "text/plain", long.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["payload"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        100_000
    );

    let called = w.webhook_after_calls(&echo.id, 3).await;
    assert_eq!(called.statistics.successes, 3);
    assert_eq!(called.last_call.unwrap().http_status_code, 200);

    // Handler failures are clear non-200 answers naming the reason.
    let fast = Limits {
        timeout_ms: 300,
        ..Limits::default()
    };
    let bad = component_webhook(&w, MISBEHAVE, |s| s.extension("Misbehave").limits(fast)).await;
    for (action, status, kind) in [
        ("loop", StatusCode::GATEWAY_TIMEOUT, "timeout"),
        ("reject", StatusCode::UNPROCESSABLE_ENTITY, "rejected"),
        ("panic", StatusCode::BAD_GATEWAY, "trap"),
    ] {
        let (got, text) = ivanti(
            &w,
            Some("Misbehave"),
            &auth,
            "application/json",
            json!({"action": action}).to_string(),
        )
        .await;
        assert_eq!(got, status, "{action}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert!(
            body["Message"].as_str().unwrap().contains(kind),
            "{action}: {text}"
        );
    }
    let failed = w.webhook_after_calls(&bad.id, 3).await;
    assert_eq!(failed.statistics.failures, 3);
    assert!(
        failed
            .last_failure
            .unwrap()
            .error
            .contains("deliberate panic")
    );

    // The call log keeps the request as it came and the plugin's log lines, cut short.
    for lines in [2, 1000] {
        let body = json!({"action": "log", "lines": lines}).to_string();
        let (got, text) = ivanti(
            &w,
            Some("Misbehave"),
            &auth,
            "application/json",
            body.clone(),
        )
        .await;
        assert_eq!(got, StatusCode::OK, "{text}");
        w.host.state.recorder.flush().await;
        let (status, page) = w
            .as_provider()
            .get(&format!(
                "/public/v1/notifications/webhooks/{}/calls?order=-id&limit=1",
                bad.id
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let call = &page["data"][0];
        assert_eq!(call["request"], body.as_str(), "{call}");
        let log = call["log"].as_array().unwrap();
        assert_eq!(
            log[0],
            json!({"source": "info", "message": "misbehave log line 0"})
        );
        if lines == 2 {
            assert_eq!(log.len(), 2, "{call}");
        } else {
            let kept: usize = log
                .iter()
                .map(|l| l["message"].as_str().unwrap().len() + 1)
                .sum();
            assert!(kept <= hookhost::exec::LOG_EXCERPT_BYTES + 64, "{kept}");
            let last = log.last().unwrap();
            assert_eq!(last["source"], "host");
            assert!(
                last["message"]
                    .as_str()
                    .unwrap()
                    .contains("more bytes of log not kept"),
                "{last}"
            );
        }
    }
}

async fn ivanti_error_bodies_are_exact(db: Db) {
    let w = World::start(db).await;
    component_webhook(&w, ECHO, |s| s.extension("MyTestWebhook")).await;
    let auth = format!("rest_api_key={}", w.rest_key);
    let json = "application/json";

    let unauthorized = r#"{"code":"ISM_4001","description":"Invalid Session key or Authentication token","message":"","help":""}"#;
    let (status, text) = ivanti(
        &w,
        Some("MyTestWebhook"),
        "rest_api_key=wrong",
        json,
        "{}".into(),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::UNAUTHORIZED, unauthorized)
    );
    let (key, key_text) = w.host.store().create_api_key(&w.tenant).await.unwrap();
    let with_key = format!("rest_api_key={key_text}");
    assert_eq!(
        ivanti(&w, Some("MyTestWebhook"), &with_key, json, "{}".into())
            .await
            .0,
        StatusCode::OK
    );
    w.host
        .store()
        .deactivate_api_key(&w.tenant, &key.id)
        .await
        .unwrap();
    let (status, text) = ivanti(&w, Some("MyTestWebhook"), &with_key, json, "{}".into()).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::UNAUTHORIZED, unauthorized),
        "a deactivated key"
    );

    let missing = r#"{"ErrorCode":"UnhandledSystemException-","Message":"Unhandled system exception: Webhook validation failed for Execute operation. Errors: You must enter an endpoint extension to your base URL. "}"#;
    assert_eq!(
        ivanti(&w, None, &auth, json, "{}".into()).await,
        (StatusCode::BAD_REQUEST, missing.into())
    );
    assert_eq!(
        ivanti(&w, Some(""), &auth, json, "{}".into()).await,
        (StatusCode::BAD_REQUEST, missing.into())
    );

    let unknown = r#"{"ErrorCode":"UnhandledSystemException-","Message":"Unhandled system exception: Invalid Webhook Extension Provided. "}"#;
    assert_eq!(
        ivanti(&w, Some("NonExistentWebhook"), &auth, json, "{}".into()).await,
        (StatusCode::BAD_REQUEST, unknown.into())
    );

    let mistyped = r#"{"ErrorCode":"UnhandledSystemException-","Message":"Unhandled system exception: This webhook extension doesn't exist."}"#;
    assert_eq!(
        ivanti(&w, Some("mytestwebhook"), &auth, json, "{}".into()).await,
        (StatusCode::BAD_REQUEST, mistyped.into())
    );

    let too_long = r#"{"ErrorCode":"UnhandledSystemException-","Message":"Unhandled system exception: Request Body must be less than or equal to 100,000 characters"}"#;
    let body = "ä".repeat(100_001);
    assert_eq!(
        ivanti(&w, Some("MyTestWebhook"), &auth, "text/plain", body).await,
        (StatusCode::BAD_REQUEST, too_long.into())
    );

    let (status, text) = ivanti(&w, Some("MyTestWebhook"), &auth, json, "[1, 2]".into()).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a JSON body must be an object: {text}"
    );
    let (status, _) = ivanti(&w, Some("MyTestWebhook"), &auth, json, "<xml/>".into()).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the Content-Type must agree with the body"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smartml_record_elements_reach_the_valuation_plugin() {
    let w = World::start(Db::Sqlite).await;
    let valuation =
        component_webhook(&w, hookhost_plugins::VALUATION, |s| s.modules(["estate"])).await;
    let elements = json!({"kaufpreis": 350000, "wohnflaeche": 92, "plz": "52062", "ort": "Aachen"});
    let action = signed(
        &w,
        "executeMarketplaceWebhooks",
        "15005",
        json!({"module": "estate", "elements": elements}),
    );
    let (_, body) = smartml(
        &w,
        &json!({"token": w.token, "request": {"actions": [action]}}),
    )
    .await;
    assert_eq!(body["status"]["errorcode"], 0, "{body}");
    let called = w.webhook_after_calls(&valuation.id, 1).await;
    let outcome: Value =
        serde_json::from_str(&called.last_success.expect("valued").response).unwrap();
    assert_eq!(outcome["recordId"], "15005");
    assert!(
        outcome["marketValue"].as_f64().unwrap() > 100_000.0,
        "{outcome}"
    );

    let bad = signed(
        &w,
        "executeMarketplaceWebhooks",
        "15006",
        json!({"module": "estate", "elements": [1]}),
    );
    let (_, body) = smartml(
        &w,
        &json!({"token": w.token, "request": {"actions": [bad]}}),
    )
    .await;
    assert_eq!(body["response"]["results"][0]["status"]["errorcode"], 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_and_show_the_outbox() {
    let w = World::start(Db::Sqlite).await;
    component_webhook(&w, ECHO, |s| s.extension("Metered")).await;
    let auth = format!("rest_api_key={}", w.rest_key);
    for _ in 0..3 {
        let (status, _) = ivanti(&w, Some("Metered"), &auth, "application/json", "{}".into()).await;
        assert_eq!(status, StatusCode::OK);
    }
    let text = w
        .host
        .client
        .get(w.host.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"hookhost_calls_total{source="ivanti",outcome="ok"} 3"#),
        "{text}"
    );
    assert!(
        text.contains("hookhost_call_duration_seconds_count{source=\"ivanti\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("hookhost_outbox_deliveries{status=\"pending\"} 0"),
        "{text}"
    );
    assert!(text.contains("hookhost_components_compiled"), "{text}");
}
