//! Quotas (`[quotas]`): components (count, bytes) and webhooks per owner, key-value bytes per
//! (tenant, service). Refusals are 409 problem documents naming the quota and its value; a
//! plugin over its key-value quota gets `kv.set`'s error and its call goes on.

use crate::support::{Db, TestHost};
use hookhost::store::{Handler, Scope, WebhookSpec};
use hookhost_plugins::{ECHO, MISBEHAVE};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;

both_backends!(
    component_count_and_bytes_are_limited_per_owner,
    webhooks_are_limited_per_owner,
    kv_bytes_are_limited_per_tenant_and_service,
);

async fn upload(host: &TestHost, token: &str, version: &str) -> (StatusCode, Value) {
    let response = host
        .client
        .post(host.url(&format!(
            "/public/v1/components?name=echo&version={version}"
        )))
        .bearer_auth(token)
        .header("content-type", "application/wasm")
        .body(std::fs::read(ECHO).unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[track_caller]
fn assert_quota(status: StatusCode, body: &Value, quota: &str, limit: u64) {
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["status"], 409, "{body}");
    assert_eq!(
        body["quota"],
        json!({"name": quota, "limit": limit}),
        "{body}"
    );
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(quota), "{detail}");
    assert!(detail.contains(&limit.to_string()), "{detail}");
}

async fn component_count_and_bytes_are_limited_per_owner(db: Db) {
    let size = std::fs::metadata(ECHO).unwrap().len();
    let host = TestHost::start_with(db, |config| {
        config.quotas.components = 2;
        config.quotas.component_bytes = 3 * size + size / 2;
    })
    .await;
    let (_, a) = host.store().create_provider("A").await.unwrap();
    let (_, b) = host.store().create_provider("B").await.unwrap();

    let (status, first) = upload(&host, &a, "1").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, body) = upload(&host, &a, "2").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = upload(&host, &a, "3").await;
    assert_quota(status, &body, "quotas.components", 2);
    // Another owner has quotas of its own.
    let (status, body) = upload(&host, &b, "1").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Deleting one makes room again.
    let deleted = host
        .client
        .delete(host.url(&format!(
            "/public/v1/components/{}",
            first["id"].as_str().unwrap()
        )))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (status, body) = upload(&host, &a, "3").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let listed: Value = host
        .client
        .get(host.url("/public/v1/components"))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["$meta"]["pagination"]["total"], 2, "{listed}");

    // Bytes: an owner may keep three echoes' worth and a half.
    let bytes_host = TestHost::start_with(db, |config| {
        config.quotas.component_bytes = 3 * size + size / 2;
    })
    .await;
    let (_, c) = bytes_host.store().create_provider("C").await.unwrap();
    for version in ["1", "2", "3"] {
        let (status, body) = upload(&bytes_host, &c, version).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = upload(&bytes_host, &c, "4").await;
    assert_quota(status, &body, "quotas.component_bytes", 3 * size + size / 2);
}

async fn webhooks_are_limited_per_owner(db: Db) {
    let host = TestHost::start_with(db, |config| config.quotas.webhooks = 2).await;
    let store = host.store();
    let (provider, token) = store.create_provider("P").await.unwrap();
    let service = store
        .create_service(&Scope::Provider(provider.id), "S", &[])
        .await
        .unwrap()
        .id;
    let tenant = store.create_tenant("T").await.unwrap().id;
    let private = store
        .create_service(&Scope::Tenant(tenant.clone()), "Own", &[])
        .await
        .unwrap()
        .id;
    let (_, key) = store.create_api_key(&tenant).await.unwrap();
    let create = |token: String, service: String| {
        let host = &host;
        async move {
            let response = host
                .client
                .post(host.url("/public/v1/notifications/webhooks"))
                .bearer_auth(token)
                .json(&json!({"service": {"id": service}, "url": "https://hooks.example.com/x"}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    for _ in 0..2 {
        let (status, body) = create(token.clone(), service.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = create(token.clone(), service.clone()).await;
    assert_quota(status, &body, "quotas.webhooks", 2);
    // The tenant's private webhooks count for the tenant.
    for _ in 0..2 {
        let (status, body) = create(key.clone(), private.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = create(key.clone(), private.clone()).await;
    assert_quota(status, &body, "quotas.webhooks", 2);
    let listed: Value = host
        .client
        .get(host.url("/public/v1/notifications/webhooks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["$meta"]["pagination"]["total"], 2, "{listed}");
}

async fn kv_bytes_are_limited_per_tenant_and_service(db: Db) {
    let host = TestHost::start_with(db, |config| config.quotas.kv_bytes = 100).await;
    let store = host.store();
    let key = &host.state.key;
    let (provider, _) = store.create_provider("P").await.unwrap();
    let provider = Scope::Provider(provider.id);
    let mut services = Vec::new();
    for name in ["One", "Two"] {
        let service = store.create_service(&provider, name, &[]).await.unwrap().id;
        let wasm = std::fs::read(MISBEHAVE).unwrap();
        let plugin = host.state.runtime.load(&wasm).unwrap();
        let component = store
            .insert_component(&provider, name, "1", &plugin.info, &wasm)
            .await
            .unwrap();
        let spec = WebhookSpec::new(&service, Handler::Component(component.id))
            .extension(format!("Kv{name}"));
        store.create_webhook(key, &provider, &spec).await.unwrap();
        services.push(service);
    }
    let mut keys = Vec::new();
    for name in ["T1", "T2"] {
        let tenant = store.create_tenant(name).await.unwrap().id;
        for service in &services {
            store
                .activate(key, &tenant, service, &BTreeMap::new())
                .await
                .unwrap();
        }
        keys.push(store.create_api_key(&tenant).await.unwrap().1);
    }
    // The plugin sets `key` to `value` and answers `{"key", "value"}` or `{"key", "error"}`.
    let set = |api_key: String, extension: &'static str, k: &'static str, value: String| {
        let host = &host;
        async move {
            let response = host
                .client
                .post(host.url(&format!("/api/rest/Webhooks/Execute?extension={extension}")))
                .header("authorization", format!("rest_api_key={api_key}"))
                .header("content-type", "application/json")
                .body(json!({"action": "kv", "key": k, "value": value}).to_string())
                .send()
                .await
                .unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            assert_eq!(status, StatusCode::OK, "the call itself goes on: {text}");
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    let t1 = keys[0].clone();
    // "a" + 60 bytes = 61 of 100.
    let answer = set(t1.clone(), "KvOne", "a", "x".repeat(60)).await;
    assert_eq!(answer["value"], "x".repeat(60), "{answer}");
    // "b" + 40 bytes would make 102.
    let answer = set(t1.clone(), "KvOne", "b", "y".repeat(40)).await;
    let error = answer["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(error.contains("quotas.kv_bytes"), "{error}");
    assert!(error.contains("100"), "{error}");
    // Replacing a value counts the new size only: "a" + 98 = 99 fits.
    let answer = set(t1.clone(), "KvOne", "a", "z".repeat(98)).await;
    assert_eq!(answer["value"], "z".repeat(98), "{answer}");
    // The same tenant with another service, and another tenant, have scopes of their own.
    let answer = set(t1.clone(), "KvTwo", "b", "y".repeat(90)).await;
    assert_eq!(answer["value"], "y".repeat(90), "{answer}");
    let answer = set(keys[1].clone(), "KvOne", "b", "y".repeat(90)).await;
    assert_eq!(answer["value"], "y".repeat(90), "{answer}");
}
