//! An MPT client that knows only the seed's Webhook object (`url`, `type`, `description`,
//! `criteria`; no `service`): its webhook belongs to the provider as a whole and reaches
//! every tenant that activated any of the provider's services, and no one else.

use crate::support::{Db, Receiver, Reply, World, smartml_execute};
use hookhost::store::Scope;
use hookhost_plugins::ECHO;
use reqwest::StatusCode;
use serde_json::{Value, json};

both_backends!(
    the_seeds_webhook_object_is_enough_to_register_and_validate,
    a_provider_wide_webhook_reaches_the_tenants_of_any_of_its_services_only,
    a_put_without_service_keeps_the_service,
    extensions_stay_unique_across_provider_wide_webhooks,
    a_provider_wide_component_answers_ivanti_for_the_providers_tenants_only,
);

const WEBHOOKS: &str = "/public/v1/notifications/webhooks";
const VALIDATE: &str = "/public/v1/validate/validatePurchaseOrderDraft";

/// A receiver that validates like an MPT vendor: it returns the order it got, marked.
async fn validator() -> Receiver {
    Receiver::scripted(|hit, _| {
        let mut order = hit.json();
        order["checkedBy"] = json!("vendor");
        Reply::ok().json(&order)
    })
    .await
}

/// A second tenant with a REST API key; returns (tenant id, key).
async fn another_tenant(w: &World) -> (String, String) {
    let store = w.host.store();
    let tenant = store.create_tenant("Zweite GmbH").await.unwrap().id;
    let (_, key) = store.create_api_key(&tenant).await.unwrap();
    (tenant, key)
}

async fn the_seeds_webhook_object_is_enough_to_register_and_validate(db: Db) {
    let w = World::start(db).await;
    let receiver = validator().await;
    let seed = json!({
        "url": receiver.url("/validate"),
        "type": "validatePurchaseOrderDraft",
        "description": "Checks purchase order drafts",
        "criteria": {"product.id": "PRD-1111-2222"},
    });
    let (status, created) = w.as_provider().post(WEBHOOKS, &seed).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["service"], Value::Null, "{created}");
    assert_eq!(created["type"], "validatePurchaseOrderDraft");
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["criteria"], json!({"product.id": "PRD-1111-2222"}));
    assert!(created["secret"].as_str().is_some_and(|s| !s.is_empty()));
    let id = created["id"].as_str().unwrap().to_owned();

    // Every read answers the seed's fields with the seed's names and types.
    let (status, read) = w.as_provider().get(&format!("{WEBHOOKS}/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    for (field, kind) in [
        ("id", "string"),
        ("href", "string"),
        ("description", "string"),
        ("status", "string"),
        ("type", "string"),
        ("objectType", "string"),
        ("url", "string"),
        ("criteria", "object"),
        ("statistics", "object"),
        ("secret", "string"),
    ] {
        let value = &read[field];
        let found = match value {
            Value::String(_) => "string",
            Value::Object(_) => "object",
            other => panic!("{field} is {other}"),
        };
        assert_eq!(found, kind, "{field}: {read}");
    }
    let (status, page) = w.as_provider().get(WEBHOOKS).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["id"] == id)
    );

    // The provider's tenant validates through it, criteria and all.
    let order = json!({"id": "ORD-1", "product": {"id": "PRD-1111-2222"}, "lines": []});
    let (status, validated) = w.as_tenant().post(VALIDATE, &order).await;
    assert_eq!(status, StatusCode::OK, "{validated}");
    assert_eq!(validated["checkedBy"], "vendor");
    assert_eq!(receiver.count_on("/validate"), 1);
    let other_product = json!({"id": "ORD-2", "product": {"id": "PRD-9"}});
    let (status, _) = w.as_tenant().post(VALIDATE, &other_product).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The call counts in its statistics like any other.
    let webhook = w.webhook_after_calls(&id, 1).await;
    assert_eq!(webhook.service_id, None);
    assert_eq!(webhook.statistics.successes, 1);
}

async fn a_provider_wide_webhook_reaches_the_tenants_of_any_of_its_services_only(db: Db) {
    let w = World::start(db).await;
    let receiver = Receiver::start().await;
    let store = w.host.store();
    let key = &w.host.state.key;
    let seed = json!({
        "url": receiver.url("/records"),
        "description": "Every estate change",
        "modules": ["estate"],
    });
    let (status, created) = w.as_provider().post(WEBHOOKS, &seed).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    // A tenant of another provider sees nothing of it, and its records reach no one.
    let (stranger, stranger_key) = another_tenant(&w).await;
    let (other_provider, _) = store.create_provider("Other Provider").await.unwrap();
    let other_service = store
        .create_service(&Scope::Provider(other_provider.id), "Elsewhere", &[])
        .await
        .unwrap();
    store
        .activate(key, &stranger, &other_service.id, &Default::default())
        .await
        .unwrap();
    let (status, _) = w
        .host
        .as_rest_key(&stranger_key)
        .get(&format!("{WEBHOOKS}/{id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let user = store.create_api_user(key, &stranger, false).await.unwrap();
    smartml_execute(&w.host, &user.token, &user.secret, "estate", &["7"]).await;

    // The provider's own tenant reaches it; so does one that activated another of the
    // provider's services.
    w.trigger("estate", &["1"]).await;
    let second = store
        .create_service(&w.provider, "Second service", &[])
        .await
        .unwrap();
    let (customer, customer_key) = another_tenant(&w).await;
    store
        .activate(key, &customer, &second.id, &Default::default())
        .await
        .unwrap();
    let (status, seen) = w
        .host
        .as_rest_key(&customer_key)
        .get(&format!("{WEBHOOKS}/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    let user = store.create_api_user(key, &customer, false).await.unwrap();
    smartml_execute(&w.host, &user.token, &user.secret, "estate", &["2"]).await;

    let hits = receiver.wait_for(2).await;
    let mut tenants: Vec<String> = hits
        .iter()
        .map(|hit| hit.json()["tenant"]["id"].as_str().unwrap().to_owned())
        .collect();
    tenants.sort();
    let mut expected = vec![w.tenant.clone(), customer.clone()];
    expected.sort();
    assert_eq!(tenants, expected, "the stranger's record reached no one");
    assert_eq!(receiver.count(), 2);
}

async fn a_put_without_service_keeps_the_service(db: Db) {
    let w = World::start(db).await;
    let body = json!({
        "service": {"id": w.service},
        "url": "https://hooks.example.com/a",
        "description": "Belongs to the service",
    });
    let (status, created) = w.as_provider().post(WEBHOOKS, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = format!("{WEBHOOKS}/{}", created["id"].as_str().unwrap());
    let seed_only = json!({"url": "https://hooks.example.com/b", "description": "Renamed"});
    let (status, replaced) = w.as_provider().put(&path, &seed_only).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["service"]["id"], w.service.as_str(), "{replaced}");
    assert_eq!(replaced["url"], "https://hooks.example.com/b");

    let blank = json!({"serviceId": "", "url": "https://hooks.example.com/c"});
    let (status, problem) = w.as_provider().post(WEBHOOKS, &blank).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(problem["errors"]["service.id"].is_array(), "{problem}");
}

async fn extensions_stay_unique_across_provider_wide_webhooks(db: Db) {
    let w = World::start(db).await;
    let wide = json!({"url": "https://hooks.example.com/wide", "extension": "Orders"});
    let (status, created) = w.as_provider().post(WEBHOOKS, &wide).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // The tenant reaches both: the same extension on the service's webhook is a clash.
    let clash = json!({
        "service": {"id": w.service},
        "url": "https://hooks.example.com/service",
        "extension": "Orders",
    });
    let (status, problem) = w.as_provider().post(WEBHOOKS, &clash).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, problem) = w.as_provider().post(WEBHOOKS, &wide).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let other = json!({"url": "https://hooks.example.com/other", "extension": "orders"});
    let (status, created) = w.as_provider().post(WEBHOOKS, &other).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "case-sensitive, as before: {created}"
    );
}

async fn a_provider_wide_component_answers_ivanti_for_the_providers_tenants_only(db: Db) {
    let w = World::start(db).await;
    let echo = w.upload(ECHO).await;
    let body = json!({"handler": {"component": echo}, "extension": "WideEcho"});
    let (status, created) = w.as_provider().post(WEBHOOKS, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["service"], Value::Null);

    let execute = async |key: &str, extension: &str| {
        let answer = w
            .host
            .client
            .post(
                w.host
                    .url(&format!("/api/rest/Webhooks/Execute?extension={extension}")),
            )
            .header("authorization", format!("rest_api_key={key}"))
            .header("content-type", "application/json")
            .body(r#"{"Subject":"Printer on fire"}"#)
            .send()
            .await
            .unwrap();
        (answer.status(), answer.text().await.unwrap())
    };
    let (status, text) = execute(&w.rest_key, "WideEcho").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let echoed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(echoed["tenant"]["id"], w.tenant.as_str());
    assert_eq!(echoed["payload"], json!({"Subject": "Printer on fire"}));

    // A tenant of no service of this provider does not reach it: its answer is exactly the
    // one of an extension that does not exist.
    let (_, stranger_key) = another_tenant(&w).await;
    let refused = execute(&stranger_key, "WideEcho").await;
    assert!(refused.0.is_client_error(), "{}", refused.1);
    assert_eq!(refused, execute(&stranger_key, "NoSuchExtension").await);
}
