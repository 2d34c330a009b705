//! `marketplace:webhook@0.2.0` on both backends: a URL webhook's `transform` (registry field
//! and its checks, requests reshaped, signed over what is sent, skips recorded as skipped,
//! failures retried by their kind), activation checks (refusals with the plugin's messages,
//! nothing written) and secret parameters read with `secret`.

use crate::support::{
    ADMIN_TOKEN, Db, Receiver, World, eventually, smartml_action, smartml_request,
    smartml_timestamp,
};
use hookhost::store::{Handler, LoggedCall};
use hookhost_plugins::{ECHO, MISBEHAVE, NEWSLETTER_TRANSFORM};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;

both_backends!(
    a_transform_reshapes_skips_and_the_signature_covers_what_is_sent,
    activation_checks_refuse_with_the_plugins_messages_and_write_nothing,
    transform_failures_are_recorded_and_retried_by_their_kind,
    the_registry_checks_the_transform_field,
);

const API_KEY: &str = "nl-s3cr3t-0123456789";

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

/// Waits until no delivery is pending or in flight; the finished ones by status.
async fn all_finished(w: &World) -> BTreeMap<String, i64> {
    eventually("every delivery to finish", async || {
        let counts = w.host.store().delivery_counts().await.unwrap();
        let open = counts.get("pending").copied().unwrap_or(0)
            + counts.get("in_flight").copied().unwrap_or(0);
        (open == 0).then_some(counts)
    })
    .await
}

/// Uploads the component at `path` through the components API as `name@1.0.0`.
async fn upload(w: &World, path: &str, name: &str) -> Value {
    let response = w
        .host
        .client
        .post(
            w.host
                .url(&format!("/public/v1/components?name={name}&version=1.0.0")),
        )
        .bearer_auth(&w.provider_token)
        .header("content-type", "application/wasm")
        .body(std::fs::read(path).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// A service of the world's provider for the newsletter: `list_id` and `tags` plain,
/// `api_key` secret. Returns its id.
async fn newsletter_service(w: &World) -> String {
    let (status, service) = w
        .host
        .as_bearer(ADMIN_TOKEN)
        .post(
            "/admin/v1/services",
            &json!({"name": "Newsletter", "providerId": w.provider.id(),
                    "acceptedParameters": ["list_id", "tags"], "secretParameters": ["api_key"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{service}");
    service["id"].as_str().unwrap().to_owned()
}

/// The world's tenant activates `service` with `parameters` through the admin API.
async fn activate(w: &World, service: &str, parameters: Value) -> (StatusCode, Value) {
    w.host
        .as_bearer(ADMIN_TOKEN)
        .post(
            "/admin/v1/activations",
            &json!({"tenantId": w.tenant, "serviceId": service, "parameters": parameters}),
        )
        .await
}

/// Registers, through the registry API, a URL webhook of `service` for address records that
/// `receiver`'s `/members` handles and `transform` transforms; returns it (with its secret).
async fn transformed_webhook(w: &World, service: &str, url: &str, transform: Value) -> Value {
    let (status, webhook) = w
        .as_provider()
        .post(
            "/public/v1/notifications/webhooks",
            &json!({"service": {"id": service}, "url": url, "modules": ["address"],
                    "transform": transform}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    webhook
}

/// Saves address `record` with `elements` through smartml.
async fn save_address(w: &World, record: &str, elements: Value) {
    let action = smartml_action(
        &w.token,
        &w.secret,
        smartml_timestamp(),
        "executeMarketplaceWebhooks",
        record,
        json!({"module": "address", "elements": elements}),
    );
    let response = w
        .host
        .client
        .post(w.host.url("/api/stable/api.php"))
        .body(smartml_request(&w.token, &[action]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"]["errorcode"], 0, "{answer}");
}

async fn a_transform_reshapes_skips_and_the_signature_covers_what_is_sent(db: Db) {
    let w = World::start(db).await;
    let receiver = Receiver::start().await;
    let service = newsletter_service(&w).await;
    upload(&w, NEWSLETTER_TRANSFORM, "newsletter-transform").await;
    let webhook = transformed_webhook(
        &w,
        &service,
        &receiver.url("/members?source=registry"),
        json!({"component": "newsletter-transform@1.0.0"}),
    )
    .await;
    assert_eq!(
        webhook["transform"]["component"]["name"], "newsletter-transform",
        "{webhook}"
    );
    let (id, secret) = (
        webhook["id"].as_str().unwrap(),
        webhook["secret"].as_str().unwrap(),
    );
    // The transform survives a read and a PUT of what was read.
    let (_, read) = w
        .as_provider()
        .get(&format!("/public/v1/notifications/webhooks/{id}"))
        .await;
    assert_eq!(read["transform"], webhook["transform"]);
    let (status, put) = w
        .as_provider()
        .put(&format!("/public/v1/notifications/webhooks/{id}"), &read)
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["transform"], webhook["transform"]);

    let (status, activation) = activate(
        &w,
        &service,
        json!({"list_id": "news-1", "tags": "lead", "api_key": API_KEY}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{activation}");

    save_address(
        &w,
        "4711",
        json!({"Email": "erika@example.com", "Vorname": "Erika", "Name": "Muster",
               "newsletter_aktiv": "1"}),
    )
    .await;
    let hit = receiver.wait_for(1).await.remove(0);
    // The service's format, the secret in a header, nothing of the activation on the URL.
    assert_eq!(
        hit.json(),
        json!({"email_address": "erika@example.com", "status": "subscribed",
               "merge_fields": {"FNAME": "Erika", "LNAME": "Muster"}, "tags": ["lead"],
               "external_id": format!("{}/4711", w.tenant)})
    );
    assert_eq!(hit.header("x-list-id"), "news-1");
    assert_eq!(hit.header("x-api-key"), API_KEY);
    assert_eq!(
        hit.query,
        BTreeMap::from([("source".into(), "registry".into())])
    );
    // Signed after the transform: the signature and the JWT verify over what arrived.
    hit.verify_signature(secret)
        .expect("the signature covers the transformed body");
    hit.verify_jwt(secret).expect("the bearer JWT verifies");

    // No opt-in: skipped, recorded as such, nothing sent.
    save_address(&w, "4712", json!({"Email": "max@example.com"})).await;
    let calls = call_log(&w, id, 2).await;
    let skipped = &calls[0].call;
    assert!(skipped.success, "a skip is no failure: {skipped:?}");
    assert_eq!(
        skipped.skipped.as_deref(),
        Some("address 4712 has not opted in to the newsletter")
    );
    assert_eq!(
        (skipped.reason_phrase.as_str(), skipped.http_status_code),
        ("Skipped", 0)
    );
    let counts = all_finished(&w).await;
    assert_eq!(counts.get("succeeded"), Some(&2), "{counts:?}");
    assert_eq!(receiver.hits().len(), 1);
    let stats = w.webhook(id).await.statistics;
    assert_eq!((stats.total, stats.successes, stats.failures), (2, 2, 0));
    let (_, listed) = w
        .as_provider()
        .get(&format!("/public/v1/notifications/webhooks/{id}/calls"))
        .await;
    assert_eq!(
        listed["data"][0]["skipped"], "address 4712 has not opted in to the newsletter",
        "{listed}"
    );
    assert!(listed["data"][1].get("skipped").is_none(), "{listed}");
}

async fn activation_checks_refuse_with_the_plugins_messages_and_write_nothing(db: Db) {
    let w = World::start(db).await;
    let service = newsletter_service(&w).await;
    upload(&w, NEWSLETTER_TRANSFORM, "newsletter-transform").await;
    transformed_webhook(
        &w,
        &service,
        "https://news.example.com/members",
        json!({"component": "newsletter-transform@1.0.0"}),
    )
    .await;

    let (status, problem) = activate(&w, &service, json!({"list_id": "no spaces"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["errors"],
        json!({"parameters.list_id": ["a list id is 1 to 64 letters, digits, `-` or `_`"],
               "parameters.api_key": ["the newsletter service's API key is required"]}),
        "{problem}"
    );
    let store = w.host.store();
    assert!(
        store
            .activation(&w.tenant, &service)
            .await
            .unwrap()
            .is_none(),
        "nothing written"
    );

    let (status, _) = activate(
        &w,
        &service,
        json!({"list_id": "news-1", "api_key": API_KEY}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // A change of parameters is checked again; refused, the stored ones stay.
    let (status, problem) = activate(&w, &service, json!({"list_id": "news-1"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let kept = store
        .activation_parameters(&w.host.state.key, &w.tenant, &service)
        .await
        .unwrap();
    assert_eq!(
        kept.secret.get("api_key").map(String::as_str),
        Some(API_KEY)
    );
    assert_eq!(
        kept.plain.get("list_id").map(String::as_str),
        Some("news-1")
    );
}

async fn transform_failures_are_recorded_and_retried_by_their_kind(db: Db) {
    let w = World::start(db).await;
    let receiver = Receiver::start().await;
    let misbehave = w.upload(MISBEHAVE).await;
    let spec = w
        .spec(Handler::Url(receiver.url("/hook")))
        .modules(["estate"])
        .transform(misbehave)
        .retry_schedule([1, 1]);
    let (webhook, secret) = w.register(spec).await;

    w.trigger("estate", &["temporary", "reject", "own-header", "15005"])
        .await;
    let counts = all_finished(&w).await;
    assert_eq!(
        (counts.get("failed"), counts.get("succeeded")),
        (Some(&3), Some(&1)),
        "{counts:?}"
    );
    let calls = call_log(&w, &webhook.id, 6).await;
    let attempts = |reason: &str| {
        calls
            .iter()
            .filter(|c| !c.call.success && c.call.error.contains(reason))
            .map(|c| (c.attempt, c.call.reason_phrase.clone()))
            .collect::<Vec<_>>()
    };
    // temporary: retried on the schedule; rejected and invalid input: final.
    let mut temporary = attempts("deliberate temporary failure");
    temporary.sort();
    assert_eq!(
        temporary,
        [
            (1, "temporary".into()),
            (2, "temporary".into()),
            (3, "temporary".into())
        ]
    );
    assert_eq!(attempts("deliberate rejection"), [(1, "rejected".into())]);
    assert_eq!(
        attempts("`Authorization` is the host's own"),
        [(1, "invalid-input".into())]
    );
    assert!(
        calls
            .iter()
            .all(|c| c.call.error.is_empty() || c.call.error.starts_with("transform: "))
    );

    // Only the request the transform let through was sent, as it returned it.
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.json()["transformed"]["recordId"], "15005");
    assert_eq!(hit.json()["secret"], Value::Null);
    assert_eq!(hit.header("x-transformed"), "yes");
    assert_eq!(hit.query.get("transformed").map(String::as_str), Some("1"));
    hit.verify_signature(&secret).unwrap();

    // A synchronous validation whose transform skips answers with the object as sent.
    let misbehave = w.upload(MISBEHAVE).await;
    let spec = w
        .spec(Handler::Url(receiver.url("/validate")))
        .kind("validatePurchaseOrderDraft")
        .object_type("Order")
        .transform(misbehave);
    w.register(spec).await;
    let order = json!({"id": "skip", "lines": []});
    let (status, answer) = w
        .as_tenant()
        .post("/public/v1/validate/validatePurchaseOrderDraft", &order)
        .await;
    assert_eq!((status, &answer), (StatusCode::OK, &order));
    assert_eq!(receiver.hits().len(), 1, "nothing sent");
}

async fn the_registry_checks_the_transform_field(db: Db) {
    let w = World::start(db).await;
    upload(&w, NEWSLETTER_TRANSFORM, "newsletter-transform").await;
    upload(&w, ECHO, "echo").await;
    let w = &w;
    let create = |body: Value| async move {
        w.as_provider()
            .post("/public/v1/notifications/webhooks", &body)
            .await
    };
    let url = "https://news.example.com/members";
    for (body, field, says) in [
        (
            json!({"url": url, "transform": {"component": "echo@1.0.0"}}),
            "transform.component",
            "does not export marketplace:webhook/transform",
        ),
        (
            json!({"url": url, "transform": {"component": "nothing@1.0.0"}}),
            "transform.component",
            "no component \"nothing@1.0.0\" among yours",
        ),
        (
            json!({"handler": {"component": "echo@1.0.0"},
                   "transform": {"component": "newsletter-transform@1.0.0"}}),
            "transform",
            "only a URL webhook's requests are transformed",
        ),
        (
            json!({"handler": {"component": "newsletter-transform@1.0.0"}}),
            "handler.component",
            "does not export marketplace:webhook/plugin",
        ),
        (
            json!({"url": url, "transform": {"component": "newsletter-transform@1.0.0",
                                             "extra": 1}}),
            "",
            "",
        ),
    ] {
        let (status, problem) = create(body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        if !field.is_empty() {
            let message = problem["errors"][field][0].as_str().unwrap_or_default();
            assert!(message.contains(says), "{body}: {problem}");
        }
    }
    let (_, listed) = w
        .as_provider()
        .get("/public/v1/notifications/webhooks?limit=0")
        .await;
    assert_eq!(listed["$meta"]["pagination"]["total"], 0, "nothing written");

    // Another provider's transform reads like one that does not exist.
    let (status, other) = w
        .host
        .as_bearer(ADMIN_TOKEN)
        .post("/admin/v1/providers", &json!({"name": "Other"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem) = w
        .host
        .as_bearer(other["token"].as_str().unwrap())
        .post(
            "/public/v1/notifications/webhooks",
            &json!({"url": url, "transform": {"component": "newsletter-transform@1.0.0"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(
        problem["errors"]["transform.component"][0]
            .as_str()
            .unwrap()
            .contains("among yours"),
        "{problem}"
    );

    // A component in use as a transform cannot be deleted.
    let created = create(json!({"url": url,
                                "transform": {"component": "newsletter-transform@1.0.0"}}))
    .await;
    assert_eq!(created.0, StatusCode::CREATED, "{}", created.1);
    let component = created.1["transform"]["component"]["id"].as_str().unwrap();
    let (status, problem) = w
        .as_provider()
        .delete(&format!("/public/v1/components/{component}"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
}
