//! The MPT webhook registry API (`/public/v1/notifications/webhooks…`) through a real host and a
//! real HTTP client, on SQLite and on PostgreSQL.
//!
//! Fixtures (providers, tenants, services, activations, keys, components) are made with the
//! store directly; everything under test goes through HTTP.

use crate::support::{ADMIN_TOKEN, Db, TestHost};
use hookhost::store::{Call, ComponentRecord, Scope};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;

both_backends!(
    create_returns_the_object_and_its_secret_once,
    list_is_paginated,
    put_replaces_the_writable_fields,
    enable_and_disable_change_status_and_audit,
    delete_removes_the_webhook,
    enum_values_in_any_casing_come_out_as_the_seed_spells_them,
    plain_http_urls_need_the_operators_permission,
    component_handlers_have_no_url,
    extensions_are_unique_and_case_sensitive,
    limits_above_the_ceilings_are_refused,
    bad_input_is_a_problem_and_writes_nothing,
    credentials_are_required,
    providers_cannot_reach_each_others_webhooks,
    tenants_see_their_own_and_activated_webhooks_only,
    tenants_cannot_change_provider_webhooks,
    stale_if_match_is_a_failed_precondition,
);

const WEBHOOKS: &str = "/public/v1/notifications/webhooks";
const MASK: &str = "*******************";

fn one(id: &str) -> String {
    format!("{WEBHOOKS}/{id}")
}

/// One answer, read completely.
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        if self.text.is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn etag(&self) -> &str {
        self.header("etag").expect("an ETag header")
    }

    /// Asserts a problem answer with `status`; when `field` is given, that the problem names
    /// it (in `errors` or in `detail`).
    #[track_caller]
    fn assert_problem(&self, status: StatusCode, field: Option<&str>) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        let problem = self.json();
        assert_eq!(problem["status"], status.as_u16(), "{}", self.text);
        if let Some(field) = field {
            let named = problem["errors"].get(field).is_some()
                || problem["detail"].as_str().unwrap_or("").contains(field);
            assert!(named, "the problem should name {field}: {}", self.text);
        }
    }
}

/// A caller of the API with one credential.
struct Api<'a> {
    host: &'a TestHost,
    token: Option<String>,
}

impl<'a> Api<'a> {
    fn new(host: &'a TestHost, token: &str) -> Self {
        Api {
            host,
            token: Some(token.to_owned()),
        }
    }

    fn anonymous(host: &'a TestHost) -> Self {
        Api { host, token: None }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.host.client.request(method, self.host.url(path));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    async fn send(builder: RequestBuilder) -> Reply {
        let response = builder.send().await.unwrap();
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        Self::send(self.request(Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: &Value) -> Reply {
        Self::send(self.request(Method::POST, path).json(body)).await
    }

    async fn post_empty(&self, path: &str) -> Reply {
        Self::send(self.request(Method::POST, path)).await
    }

    async fn put(&self, path: &str, body: &Value) -> Reply {
        Self::send(self.request(Method::PUT, path).json(body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        Self::send(self.request(Method::DELETE, path)).await
    }

    /// Creates a webhook; panics unless 201. Returns the created object.
    async fn create(&self, body: &Value) -> Value {
        let reply = self.post(WEBHOOKS, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json()
    }

    /// `$meta.pagination.total` of the list.
    async fn total(&self) -> i64 {
        let reply = self.get(WEBHOOKS).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json()["$meta"]["pagination"]["total"]
            .as_i64()
            .unwrap()
    }
}

/// A provider with one service: (scope, API token, service id).
async fn provider(host: &TestHost, name: &str) -> (Scope, String, String) {
    let (provider, token) = host.store().create_provider(name).await.unwrap();
    let scope = Scope::Provider(provider.id);
    let service = host
        .store()
        .create_service(&scope, &format!("{name} service"), &[])
        .await
        .unwrap();
    (scope, token, service.id)
}

/// A URL webhook on `service`.
fn url_webhook(service: &str) -> Value {
    json!({
        "description": "Property valuation",
        "service": {"id": service},
        "url": "https://hooks.example.com/valuation",
        "modules": ["estate"],
    })
}

/// Uploads the echo component for `owner`, as the components API would.
async fn upload_echo(host: &TestHost, owner: &Scope) -> ComponentRecord {
    let wasm = std::fs::read(hookhost_plugins::ECHO).unwrap();
    let plugin = host.state.runtime.load(&wasm).unwrap();
    host.store()
        .insert_component(owner, "echo", "1.0.0", &plugin.info, &wasm)
        .await
        .unwrap()
}

fn assert_time(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"));
    assert_eq!(text.len(), 24, "{text}");
    assert!(text.ends_with('Z'), "{text}");
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"));
}

fn is_webhook_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    id.len() == 13
        && id.starts_with("WBH-")
        && bytes[8] == b'-'
        && bytes[4..8]
            .iter()
            .chain(&bytes[9..])
            .all(u8::is_ascii_digit)
}

async fn create_returns_the_object_and_its_secret_once(db: Db) {
    let host = TestHost::start(db).await;
    let (_, token, service) = provider(&host, "Valuation GmbH").await;
    let api = Api::new(&host, &token);

    let reply = api.post(WEBHOOKS, &url_webhook(&service)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.etag(), "\"1\"");
    let created = reply.json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(is_webhook_id(&id), "{id}");
    assert_eq!(reply.header("location"), Some(one(&id).as_str()));
    assert_eq!(created["href"], format!("/notifications/webhooks/{id}"));
    assert_eq!(created["description"], "Property valuation");
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["url"], "https://hooks.example.com/valuation");
    assert_eq!(created["criteria"], json!({}));
    assert_eq!(
        created["statistics"],
        json!({"total": 0, "successes": 0, "failures": 0, "failuresSinceLastSuccess": 0})
    );
    for call in ["lastSuccess", "lastFailure", "lastCall"] {
        assert_eq!(created.get(call), Some(&Value::Null), "{call}");
    }
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(
        host.store()
            .webhook_secret(&host.state.key, &id)
            .await
            .unwrap(),
        secret,
        "the secret shown is the one calls are signed with"
    );
    assert_time(&created["audit"]["created"]["at"]);
    assert_time(&created["audit"]["updated"]["at"]);
    assert_time(&created["audit"]["enabled"]["at"]);
    assert!(created["audit"].get("disabled").is_none());
    assert_eq!(created["service"], json!({"id": service}));
    assert_eq!(
        created["handler"],
        json!({"url": "https://hooks.example.com/valuation"})
    );
    assert_eq!(created["modules"], json!(["estate"]));
    assert_eq!(created["allowedHosts"], json!([]));
    for absent in ["type", "objectType", "extension", "limits", "retryPolicy"] {
        assert!(created.get(absent).is_none(), "{absent}: {created}");
    }
    // The seed's field order, then ours.
    let order = [
        "id",
        "href",
        "description",
        "status",
        "url",
        "criteria",
        "statistics",
        "lastSuccess",
        "lastFailure",
        "lastCall",
        "secret",
        "audit",
        "service",
        "handler",
        "modules",
        "allowedHosts",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|key| reply.text.find(&format!("\"{key}\":")).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "fields out of order: {}",
        reply.text
    );

    // Afterwards the secret is masked.
    let got = api.get(&one(&id)).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(got.etag(), "\"1\"");
    let got = got.json();
    assert_eq!(got["secret"], MASK);
    assert_eq!(MASK.len(), 19);
    let mut without_secret = created.clone();
    without_secret["secret"] = json!(MASK);
    assert_eq!(got, without_secret);
    let listed = api.get(WEBHOOKS).await.json();
    assert_eq!(listed["data"][0]["secret"], MASK);
}

async fn list_is_paginated(db: Db) {
    let host = TestHost::start(db).await;
    let (_, token, service) = provider(&host, "Valuation GmbH").await;
    let api = Api::new(&host, &token);
    let mut ids = Vec::new();
    for i in 0..12 {
        let mut body = url_webhook(&service);
        body["description"] = json!(format!("webhook {i}"));
        ids.push(api.create(&body).await["id"].as_str().unwrap().to_owned());
    }

    let page = api.get(WEBHOOKS).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(
        page.text.starts_with("{\"$meta\":"),
        "$meta comes first: {}",
        page.text
    );
    let page = page.json();
    assert_eq!(
        page["$meta"]["pagination"],
        json!({"offset": 0, "limit": 10, "total": 12})
    );
    assert_eq!(page["data"].as_array().unwrap().len(), 10);

    let page = api
        .get(&format!("{WEBHOOKS}?limit=5&offset=10"))
        .await
        .json();
    assert_eq!(
        page["$meta"]["pagination"],
        json!({"offset": 10, "limit": 5, "total": 12})
    );
    let all = api.get(&format!("{WEBHOOKS}?limit=1000")).await.json();
    let all = all["data"].as_array().unwrap();
    assert_eq!(all.len(), 12);
    let mut listed: Vec<&str> = all.iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(
        page["data"].as_array().unwrap(),
        &all[10..],
        "pages are slices of one order"
    );
    listed.sort_unstable();
    ids.sort_unstable();
    assert_eq!(listed, ids);

    let counted = api.get(&format!("{WEBHOOKS}?limit=0")).await.json();
    assert_eq!(counted["$meta"]["pagination"]["total"], 12);
    assert_eq!(counted["data"], json!([]));

    for (query, field) in [
        ("limit=abc", "limit"),
        ("limit=1001", "limit"),
        ("limit=-1", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("colour=red", "colour"),
    ] {
        api.get(&format!("{WEBHOOKS}?{query}"))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, Some(field));
    }
}

async fn put_replaces_the_writable_fields(db: Db) {
    let host = TestHost::start(db).await;
    let (_, token, service) = provider(&host, "Valuation GmbH").await;
    let api = Api::new(&host, &token);
    let created = api.create(&url_webhook(&service)).await;
    let id = created["id"].as_str().unwrap();

    // Clients PUT what they GET, read-only fields and all.
    let mut body = api.get(&one(id)).await.json();
    body["description"] = json!("Order validation");
    body["type"] = json!("validatePurchaseOrderDraft");
    body["objectType"] = json!("Order");
    body["criteria"] = json!({"product.id": "PRD-1234-5678"});
    body["url"] = json!("https://hooks.example.com/orders");
    body["handler"] = json!({"url": "https://hooks.example.com/orders"});
    body["retryPolicy"] = json!({"scheduleSeconds": [5, 300, 1800]});
    let reply = api.put(&one(id), &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.etag(), "\"2\"");
    let updated = reply.json();
    assert_eq!(updated["description"], "Order validation");
    assert_eq!(updated["type"], "validatePurchaseOrderDraft");
    assert_eq!(updated["objectType"], "Order");
    assert_eq!(updated["criteria"], json!({"product.id": "PRD-1234-5678"}));
    assert_eq!(updated["url"], "https://hooks.example.com/orders");
    assert_eq!(
        updated["retryPolicy"],
        json!({"scheduleSeconds": [5, 300, 1800]})
    );
    assert_eq!(updated["secret"], MASK);
    assert_eq!(updated["audit"]["created"], created["audit"]["created"]);
    assert_eq!(api.get(&one(id)).await.json(), updated);

    // A full replacement: what is left out goes back to its default.
    let reply = api
        .put(
            &one(id),
            &json!({"service": {"id": service}, "url": "https://hooks.example.com/orders"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let replaced = reply.json();
    assert_eq!(replaced["description"], "");
    assert_eq!(replaced["criteria"], json!({}));
    assert_eq!(replaced["modules"], json!([]));
    for absent in ["type", "objectType", "retryPolicy"] {
        assert!(replaced.get(absent).is_none(), "{absent}: {replaced}");
    }

    // The create answer carries the real secret: PUTting it back is fine, another one is not.
    let reply = api.put(&one(id), &created).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let mut forged = created.clone();
    forged["secret"] = json!("whsec_bm90IHRoZSBzZWNyZXQ=");
    api.put(&one(id), &forged)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, Some("secret"));

    // `url` and `handler.url` are one handler: they must agree.
    let mut split = created.clone();
    split["url"] = json!("https://elsewhere.example.com/");
    api.put(&one(id), &split)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, Some("url"));

    // Unknown ids are 404, body or not.
    api.put(&one("WBH-0000-0000"), &url_webhook(&service))
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
}

async fn enable_and_disable_change_status_and_audit(db: Db) {
    let host = TestHost::start(db).await;
    let (_, token, service) = provider(&host, "Valuation GmbH").await;
    let api = Api::new(&host, &token);
    let mut body = url_webhook(&service);
    body["status"] = json!("disabled");
    let created = api.create(&body).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["status"], "disabled");
    assert_time(&created["audit"]["disabled"]["at"]);
    assert!(created["audit"].get("enabled").is_none());

    let reply = api.post_empty(&format!("{}/enable", one(id))).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert!(reply.text.is_empty());
    let enabled = api.get(&one(id)).await;
    assert_eq!(enabled.etag(), "\"2\"");
    let enabled = enabled.json();
    assert_eq!(enabled["status"], "enabled");
    assert_time(&enabled["audit"]["enabled"]["at"]);
    assert_eq!(enabled["audit"]["disabled"], created["audit"]["disabled"]);

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let reply = api.post(&format!("{}/disable", one(id)), &json!({})).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    let disabled = api.get(&one(id)).await.json();
    assert_eq!(disabled["status"], "disabled");
    assert_ne!(disabled["audit"]["disabled"], created["audit"]["disabled"]);
    assert_eq!(disabled["audit"]["enabled"], enabled["audit"]["enabled"]);

    // Disabling a disabled webhook is no change, and no error.
    let reply = api.post_empty(&format!("{}/disable", one(id))).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert_eq!(api.get(&one(id)).await.json(), disabled);

    for action in ["enable", "disable"] {
        api.post_empty(&format!("{}/{action}", one("WBH-0000-0000")))
            .await
            .assert_problem(StatusCode::NOT_FOUND, None);
    }
}

async fn delete_removes_the_webhook(db: Db) {
    let host = TestHost::start(db).await;
    let (_, token, service) = provider(&host, "Valuation GmbH").await;
    let api = Api::new(&host, &token);
    let created = api.create(&url_webhook(&service)).await;
    let id = created["id"].as_str().unwrap();

    let reply = api.delete(&one(id)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    api.get(&one(id))
        .await
        .assert_problem(StatusCode::NOT_FOUND, Some(id));
    api.delete(&one(id))
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    assert_eq!(api.total().await, 0);
    // A wrong method is a problem document too.
    Api::send(api.request(Method::PATCH, &one(id)))
        .await
        .assert_problem(StatusCode::METHOD_NOT_ALLOWED, None);
}

async fn enum_values_in_any_casing_come_out_as_the_seed_spells_them(db: Db) {
    let host = TestHost::start(db).await;
    let (_, token, service) = provider(&host, "Valuation GmbH").await;
    let api = Api::new(&host, &token);
    for (status, kind, object_type, out) in [
        (
            "Enabled",
            "ValidatePurchaseOrderDraft",
            "order",
            ("enabled", "validatePurchaseOrderDraft", "Order"),
        ),
        (
            "ENABLED",
            "validatePurchaseOrderQuerying",
            "ORDER",
            ("enabled", "validatePurchaseOrderQuerying", "Order"),
        ),
        (
            "Disabled",
            "SELECTORDERLINES",
            "account",
            ("disabled", "selectOrderLines", "Account"),
        ),
        (
            "disabled",
            "validateRequest",
            "Request",
            ("disabled", "validateRequest", "Request"),
        ),
    ] {
        let mut body = url_webhook(&service);
        body["status"] = json!(status);
        body["type"] = json!(kind);
        body["objectType"] = json!(object_type);
        let created = api.create(&body).await;
        assert_eq!(created["status"], out.0);
        assert_eq!(created["type"], out.1);
        assert_eq!(created["objectType"], out.2);
    }
    for (field, value) in [
        ("status", "paused"),
        ("type", "validateEverything"),
        ("objectType", "Orders"),
    ] {
        let mut body = url_webhook(&service);
        body[field] = json!(value);
        api.post(WEBHOOKS, &body)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, Some(field));
    }
    assert_eq!(api.total().await, 4);
}

async fn plain_http_urls_need_the_operators_permission(db: Db) {
    let strict = TestHost::start_with(db, |c| c.outbound.allow_insecure = false).await;
    let (_, token, service) = provider(&strict, "Valuation GmbH").await;
    let api = Api::new(&strict, &token);
    for url in [
        "http://hooks.example.com/valuation",
        "ftp://hooks.example.com/valuation",
        "hooks.example.com/valuation",
        "/valuation",
        "https://",
        "https://user:password@hooks.example.com/",
        "not a url",
    ] {
        let mut body = url_webhook(&service);
        body["url"] = json!(url);
        api.post(WEBHOOKS, &body)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, Some("url"));
        let body = json!({"service": {"id": service}, "handler": {"url": url}});
        api.post(WEBHOOKS, &body)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, Some("url"));
    }
    assert_eq!(api.total().await, 0);
    api.create(&url_webhook(&service)).await;

    // The test harness allows insecure targets, as a development setup would.
    let relaxed = TestHost::start(db).await;
    let (_, token, service) = provider(&relaxed, "Valuation GmbH").await;
    let api = Api::new(&relaxed, &token);
    let mut body = url_webhook(&service);
    body["url"] = json!("http://127.0.0.1:9/valuation");
    let created = api.create(&body).await;
    assert_eq!(created["url"], "http://127.0.0.1:9/valuation");
    body["url"] = json!("ftp://hooks.example.com/valuation");
    api.post(WEBHOOKS, &body)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, Some("url"));
}

async fn component_handlers_have_no_url(db: Db) {
    let host = TestHost::start(db).await;
    let (scope, token, service) = provider(&host, "Valuation GmbH").await;
    let api = Api::new(&host, &token);
    let echo = upload_echo(&host, &scope).await;
    let expected_handler = json!({"component": {
        "id": echo.id,
        "name": "echo",
        "version": "1.0.0",
        "digest": format!("sha256:{}", echo.digest),
    }});

    for reference in [
        "echo@1.0.0".to_owned(),
        format!("sha256:{}", echo.digest),
        echo.id.clone(),
    ] {
        let body = json!({
            "service": {"id": service},
            "handler": {"component": reference},
            "modules": ["estate"],
            "allowedHosts": ["api.example.com", "api.example.com:8443", "api.example.com"],
            "limits": {"timeoutMs": 2000},
        });
        let created = api.create(&body).await;
        assert!(created.get("url").is_none(), "{created}");
        assert_eq!(created["handler"], expected_handler, "{reference}");
        assert_eq!(
            created["allowedHosts"],
            json!(["api.example.com", "api.example.com:8443"])
        );
        assert_eq!(
            created["limits"],
            json!({"timeoutMs": 2000, "memoryBytes": 64 << 20}),
            "missing limits come from the operator's defaults"
        );

        // What a GET returns can be PUT back.
        let id = created["id"].as_str().unwrap();
        let got = api.get(&one(id)).await.json();
        let reply = api.put(&one(id), &got).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.json()["handler"], expected_handler);
    }

    let component =
        |reference: Value| json!({"service": {"id": service}, "handler": {"component": reference}});
    for reference in [
        json!("echo@9.9.9"),
        json!("sha256:0000"),
        json!("CMP-0000-0000"),
        json!({"name": "echo", "version": "2.0.0"}),
        json!(""),
        json!(42),
    ] {
        api.post(WEBHOOKS, &component(reference))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, Some("handler.component"));
    }

    // Both a url and a component: which one would run?
    let mut both = component(json!("echo@1.0.0"));
    both["url"] = json!("https://hooks.example.com/valuation");
    api.post(WEBHOOKS, &both)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, Some("handler"));
    let both = json!({"service": {"id": service}, "handler": {
        "url": "https://hooks.example.com/valuation", "component": "echo@1.0.0"}});
    api.post(WEBHOOKS, &both)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, Some("handler"));
    // Neither.
    api.post(WEBHOOKS, &json!({"service": {"id": service}}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, Some("url"));

    // Allowlists and limits only mean something for components.
    let mut body = url_webhook(&service);
    body["allowedHosts"] = json!(["api.example.com"]);
    api.post(WEBHOOKS, &body)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, Some("allowedHosts"));
    let mut body = url_webhook(&service);
    body["limits"] = json!({"timeoutMs": 2000});
    api.post(WEBHOOKS, &body)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, Some("limits"));
    for bad in [
        "API.example.com",
        "https://api.example.com",
        "api.example.com/path",
        "api.example.com:0",
        "",
    ] {
        let mut body = component(json!("echo@1.0.0"));
        body["allowedHosts"] = json!([bad]);
        api.post(WEBHOOKS, &body)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, Some("allowedHosts[0]"));
    }

    // Another provider's component is not there for you.
    let (_, other_token, other_service) = provider(&host, "Other GmbH").await;
    let other = Api::new(&host, &other_token);
    let body = json!({"service": {"id": other_service}, "handler": {"component": echo.id}});
    other
        .post(WEBHOOKS, &body)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, Some("handler.component"));
    assert_eq!(other.total().await, 0);
    assert_eq!(api.total().await, 3);
}

async fn extensions_are_unique_and_case_sensitive(db: Db) {
    let host = TestHost::start(db).await;
    let (_, token, service) = provider(&host, "Valuation GmbH").await;
    let api = Api::new(&host, &token);
    let mut body = url_webhook(&service);
    body["extension"] = json!("valuation");
    let first = api.create(&body).await;
    assert_eq!(first["extension"], "valuation");
    let first_id = first["id"].as_str().unwrap();

    api.post(WEBHOOKS, &body)
        .await
        .assert_problem(StatusCode::CONFLICT, Some("valuation"));
    // Updating a webhook keeps its own extension.
    let reply = api.put(&one(first_id), &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    body["extension"] = json!("Valuation");
    let second = api.create(&body).await;
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(second["extension"], "Valuation");
    body["extension"] = json!("valuation");
    api.put(&one(second_id), &body)
        .await
        .assert_problem(StatusCode::CONFLICT, None);
    assert_eq!(
        api.get(&one(second_id)).await.json()["extension"],
        "Valuation"
    );

    for bad in [
        json!(""),
        json!("val uation"),
        json!("a".repeat(101)),
        json!("wert/1"),
    ] {
        body["extension"] = bad;
        api.post(WEBHOOKS, &body)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, Some("extension"));
    }
    body["extension"] = json!("A-z_0-9");
    api.create(&body).await;
    assert_eq!(api.total().await, 3);
}

async fn limits_above_the_ceilings_are_refused(db: Db) {
    let host = TestHost::start(db).await;
    let (scope, token, service) = provider(&host, "Valuation GmbH").await;
    let api = Api::new(&host, &token);
    upload_echo(&host, &scope).await;
    let ceilings = host.state.config.sandbox.ceilings;
    let with_limits = |limits: Value| json!({"service": {"id": service}, "handler": {"component": "echo@1.0.0"}, "limits": limits});

    for (limits, field, mentions) in [
        (
            json!({"timeoutMs": ceilings.timeout_ms + 1}),
            "limits.timeoutMs",
            ceilings.timeout_ms.to_string(),
        ),
        (
            json!({"memoryBytes": ceilings.memory_bytes + 1}),
            "limits.memoryBytes",
            ceilings.memory_bytes.to_string(),
        ),
        (json!({"timeoutMs": 0}), "limits.timeoutMs", "1".to_owned()),
        (
            json!({"memoryBytes": 1024}),
            "limits.memoryBytes",
            "65536".to_owned(),
        ),
        // Fuel is off on this host: asking for it would silently do nothing.
        (json!({"fuel": 1000}), "limits.fuel", "fuel".to_owned()),
    ] {
        let reply = api.post(WEBHOOKS, &with_limits(limits)).await;
        reply.assert_problem(StatusCode::BAD_REQUEST, Some(field));
        assert!(reply.text.contains(&mentions), "{}", reply.text);
    }
    for (limits, field) in [
        (json!({"timeoutMs": -1}), "timeoutMs"),
        (json!({"timeoutMs": "fast"}), "timeoutMs"),
        (json!({"maxLogBytes": 10}), "maxLogBytes"),
    ] {
        api.post(WEBHOOKS, &with_limits(limits))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, Some(field));
    }
    assert_eq!(api.total().await, 0);

    let created = api
        .create(&with_limits(json!({
            "timeoutMs": ceilings.timeout_ms,
            "memoryBytes": ceilings.memory_bytes,
        })))
        .await;
    assert_eq!(
        created["limits"],
        json!({"timeoutMs": ceilings.timeout_ms, "memoryBytes": ceilings.memory_bytes})
    );
}

async fn bad_input_is_a_problem_and_writes_nothing(db: Db) {
    let host = TestHost::start(db).await;
    let (_, token, service) = provider(&host, "Valuation GmbH").await;
    let api = Api::new(&host, &token);
    let kept = api.create(&url_webhook(&service)).await;
    let kept_id = kept["id"].as_str().unwrap();
    let kept_now = || async { api.get(&one(kept_id)).await };
    let before = kept_now().await;

    let raw = |method: Method, path: &str, content_type: Option<&str>, body: Vec<u8>| {
        let mut builder = api.request(method, path).body(body);
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        Api::send(builder)
    };
    let valid = serde_json::to_vec(&url_webhook(&service)).unwrap();
    for path in [WEBHOOKS.to_owned(), one(kept_id)] {
        let method = if path == WEBHOOKS {
            Method::POST
        } else {
            Method::PUT
        };
        raw(
            method.clone(),
            &path,
            Some("application/json"),
            b"{\"description\": ".to_vec(),
        )
        .await
        .assert_problem(StatusCode::BAD_REQUEST, Some("malformed JSON"));
        raw(
            method.clone(),
            &path,
            Some("application/json"),
            b"[]".to_vec(),
        )
        .await
        .assert_problem(StatusCode::BAD_REQUEST, None);
        raw(method.clone(), &path, Some("text/plain"), valid.clone())
            .await
            .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
        raw(method.clone(), &path, None, valid.clone())
            .await
            .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
        let mut huge = url_webhook(&service);
        huge["description"] = json!("x".repeat((1 << 20) + 1024));
        raw(
            method.clone(),
            &path,
            Some("application/json"),
            serde_json::to_vec(&huge).unwrap(),
        )
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, None);

        let mut cases: Vec<(Value, &str)> = Vec::new();
        let mut with = |field: &str, value: Value, named: &'static str| {
            let mut body = url_webhook(&service);
            body[field] = value;
            cases.push((body, named));
        };
        with("colour", json!("red"), "colour");
        with("description", json!(5), "description");
        with("description", json!("x".repeat(1001)), "description");
        with("modules", json!(["estate", "garden"]), "modules");
        with("modules", json!("estate"), "modules");
        with("criteria", json!({"product.id": 5}), "criteria.product.id");
        with(
            "criteria",
            json!({"product.id": true}),
            "criteria.product.id",
        );
        with("criteria", json!({"product..id": "x"}), "criteria");
        with("criteria", json!(["product.id"]), "criteria");
        with(
            "retryPolicy",
            json!({"scheduleSeconds": []}),
            "retryPolicy.scheduleSeconds",
        );
        with(
            "retryPolicy",
            json!({"scheduleSeconds": [0]}),
            "retryPolicy.scheduleSeconds",
        );
        with(
            "retryPolicy",
            json!({"scheduleSeconds": [86_400 * 7 + 1]}),
            "retryPolicy.scheduleSeconds",
        );
        with(
            "retryPolicy",
            json!({"scheduleSeconds": vec![60; 21]}),
            "retryPolicy.scheduleSeconds",
        );
        with("retryPolicy", json!({"schedule": [60]}), "schedule");
        with("secret", json!("whsec_bm90IHRoZSBzZWNyZXQ="), "secret");
        with("service", json!({"id": ""}), "service.id");
        with("serviceId", json!("SVC-0000-0000"), "serviceId");
        // (Without `service` a webhook belongs to the provider as a whole: see
        // `mpt_clients.rs`.)
        for (body, named) in cases {
            let reply = if path == WEBHOOKS {
                api.post(&path, &body).await
            } else {
                api.put(&path, &body).await
            };
            reply.assert_problem(StatusCode::BAD_REQUEST, Some(named));
        }
    }

    // Refusals from the store (not your service, an extension in use) write nothing either.
    let mut foreign = url_webhook(&service);
    foreign["service"] = json!({"id": "SVC-0000-0000"});
    api.post(WEBHOOKS, &foreign)
        .await
        .assert_problem(StatusCode::FORBIDDEN, None);

    assert_eq!(api.total().await, 1, "no failed request created anything");
    let after = kept_now().await;
    assert_eq!(
        after.etag(),
        before.etag(),
        "no failed PUT changed anything"
    );
    assert_eq!(after.json(), before.json());

    // What is valid is accepted as documented: modules deduplicated, criteria kept.
    let mut body = url_webhook(&service);
    body["modules"] = json!(["estate", "ADDRESS", "estate", "task", "calendar"]);
    body["criteria"] = json!({"product.id": "PRD-1", "parameters.ordering.region": "EU"});
    body["serviceId"] = json!(service);
    body["secret"] = json!(MASK);
    let created = api.create(&body).await;
    assert_eq!(
        created["modules"],
        json!(["estate", "address", "task", "calendar"])
    );
    assert_eq!(created["criteria"], body["criteria"]);
}

async fn credentials_are_required(db: Db) {
    let host = TestHost::start(db).await;
    let (_, token, service) = provider(&host, "Valuation GmbH").await;
    let created = Api::new(&host, &token).create(&url_webhook(&service)).await;
    let id = created["id"].as_str().unwrap();

    for (api, status) in [
        (Api::anonymous(&host), StatusCode::UNAUTHORIZED),
        (Api::new(&host, "hhp_wrong"), StatusCode::UNAUTHORIZED),
        (Api::new(&host, ADMIN_TOKEN), StatusCode::FORBIDDEN),
    ] {
        api.get(WEBHOOKS).await.assert_problem(status, None);
        api.get(&one(id)).await.assert_problem(status, None);
        api.post(WEBHOOKS, &url_webhook(&service))
            .await
            .assert_problem(status, None);
        api.put(&one(id), &url_webhook(&service))
            .await
            .assert_problem(status, None);
        api.post_empty(&format!("{}/disable", one(id)))
            .await
            .assert_problem(status, None);
        api.delete(&one(id)).await.assert_problem(status, None);
    }
    // Credentials are checked before the body is looked at.
    Api::send(
        Api::anonymous(&host)
            .request(Method::POST, WEBHOOKS)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, None);

    let api = Api::new(&host, &token);
    assert_eq!(api.total().await, 1);
    assert_eq!(api.get(&one(id)).await.json()["status"], "enabled");
}

async fn providers_cannot_reach_each_others_webhooks(db: Db) {
    let host = TestHost::start(db).await;
    let (_, token_a, service_a) = provider(&host, "A GmbH").await;
    let (_, token_b, service_b) = provider(&host, "B GmbH").await;
    let (a, b) = (Api::new(&host, &token_a), Api::new(&host, &token_b));
    let mine = a.create(&url_webhook(&service_a)).await;
    let theirs = b.create(&url_webhook(&service_b)).await;
    let theirs_id = theirs["id"].as_str().unwrap();
    let before = b.get(&one(theirs_id)).await.json();

    a.get(&one(theirs_id))
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    a.put(&one(theirs_id), &url_webhook(&service_a))
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    a.put(&one(theirs_id), &before)
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    a.delete(&one(theirs_id))
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    for action in ["enable", "disable"] {
        a.post_empty(&format!("{}/{action}", one(theirs_id)))
            .await
            .assert_problem(StatusCode::NOT_FOUND, None);
    }
    // A 404 for someone else's webhook reads like one for a webhook that never existed.
    let missing = a.get(&one("WBH-0000-0000")).await.json();
    let foreign = a.get(&one(theirs_id)).await.json();
    assert_eq!(
        foreign["detail"].as_str().unwrap().replace(theirs_id, "X"),
        missing["detail"]
            .as_str()
            .unwrap()
            .replace("WBH-0000-0000", "X")
    );

    let listed = a.get(WEBHOOKS).await.json();
    assert_eq!(listed["$meta"]["pagination"]["total"], 1);
    assert_eq!(listed["data"][0]["id"], mine["id"]);

    // Nor can A hang a webhook on B's service.
    a.post(WEBHOOKS, &url_webhook(&service_b))
        .await
        .assert_problem(StatusCode::FORBIDDEN, None);
    let mut moved = a.get(&one(mine["id"].as_str().unwrap())).await.json();
    moved["service"] = json!({"id": service_b});
    a.put(&one(mine["id"].as_str().unwrap()), &moved)
        .await
        .assert_problem(StatusCode::FORBIDDEN, None);

    assert_eq!(b.get(&one(theirs_id)).await.json(), before);
    assert_eq!(b.total().await, 1);
}

fn sample_call(success: bool) -> Call {
    Call {
        success,
        call_time: "2026-11-24T06:41:43.123Z".into(),
        response_time: Some("2026-11-24T06:41:43.456Z".into()),
        headers: "content-type: application/json".into(),
        error: if success { "" } else { "HTTP 500" }.into(),
        response: "{\"tenant\":\"someone else\"}".into(),
        reason_phrase: if success {
            "OK"
        } else {
            "Internal Server Error"
        }
        .into(),
        http_status_code: if success { 200 } else { 500 },
        skipped: None,
    }
}

async fn tenants_see_their_own_and_activated_webhooks_only(db: Db) {
    let host = TestHost::start(db).await;
    let store = host.store();
    let (provider_scope, provider_token, activated) = provider(&host, "Valuation GmbH").await;
    let not_activated = store
        .create_service(&provider_scope, "Other service", &[])
        .await
        .unwrap()
        .id;
    let vendor = Api::new(&host, &provider_token);
    let on_activated = vendor.create(&url_webhook(&activated)).await;
    let on_other = vendor.create(&url_webhook(&not_activated)).await;

    let tenant = store.create_tenant("Immobilien Muster GmbH").await.unwrap();
    store
        .activate(&host.state.key, &tenant.id, &activated, &BTreeMap::new())
        .await
        .unwrap();
    let private = store
        .create_service(&Scope::Tenant(tenant.id.clone()), "Own automation", &[])
        .await
        .unwrap()
        .id;
    let (_, key) = store.create_api_key(&tenant.id).await.unwrap();
    let me = Api::new(&host, &key);
    let own = me.create(&url_webhook(&private)).await;

    let neighbour = store.create_tenant("Nachbar GmbH").await.unwrap();
    let neighbour_service = store
        .create_service(&Scope::Tenant(neighbour.id.clone()), "Theirs", &[])
        .await
        .unwrap()
        .id;
    let (_, neighbour_key) = store.create_api_key(&neighbour.id).await.unwrap();
    let neighbour_api = Api::new(&host, &neighbour_key);
    let neighbours = neighbour_api.create(&url_webhook(&neighbour_service)).await;

    let id = |w: &Value| w["id"].as_str().unwrap().to_owned();
    let listed = me.get(WEBHOOKS).await.json();
    let mut seen: Vec<String> = listed["data"].as_array().unwrap().iter().map(id).collect();
    seen.sort();
    let mut expected = vec![id(&on_activated), id(&own)];
    expected.sort();
    assert_eq!(seen, expected);
    assert_eq!(listed["$meta"]["pagination"]["total"], 2);

    assert_eq!(me.get(&one(&id(&own))).await.status, StatusCode::OK);
    assert_eq!(
        me.get(&one(&id(&on_activated))).await.status,
        StatusCode::OK
    );
    for hidden in [&on_other, &neighbours] {
        me.get(&one(&id(hidden)))
            .await
            .assert_problem(StatusCode::NOT_FOUND, None);
    }
    // Providers do not see tenants' private webhooks, nor tenants each other's.
    vendor
        .get(&one(&id(&own)))
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    neighbour_api
        .get(&one(&id(&own)))
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
    assert_eq!(vendor.total().await, 2);
    assert_eq!(neighbour_api.total().await, 1);

    // Calls of a provider's webhook are made for every tenant: a tenant sees neither the
    // calls made for others (which may carry their data) nor their counts, only its own.
    store
        .record_call(&id(&on_activated), &sample_call(true))
        .await
        .unwrap();
    let as_vendor = vendor.get(&one(&id(&on_activated))).await.json();
    assert_eq!(
        as_vendor["lastCall"]["response"],
        "{\"tenant\":\"someone else\"}"
    );
    assert_eq!(as_vendor["lastSuccess"]["httpStatusCode"], 200);
    let as_tenant = me.get(&one(&id(&on_activated))).await.json();
    assert_eq!(as_vendor["statistics"]["total"], 1);
    assert_eq!(as_tenant["statistics"]["total"], 0);
    assert_eq!(as_tenant["lastCall"], Value::Null);
    assert_eq!(as_tenant["lastSuccess"], Value::Null);
    assert_eq!(as_tenant["secret"], MASK);
    // Its own webhook's calls are the tenant's to read.
    store
        .record_call(&id(&own), &sample_call(false))
        .await
        .unwrap();
    let own_now = me.get(&one(&id(&own))).await.json();
    assert_eq!(own_now["lastFailure"]["httpStatusCode"], 500);
    assert_eq!(own_now["statistics"]["failuresSinceLastSuccess"], 1);
}

async fn tenants_cannot_change_provider_webhooks(db: Db) {
    let host = TestHost::start(db).await;
    let store = host.store();
    let (provider_scope, provider_token, activated) = provider(&host, "Valuation GmbH").await;
    let not_activated = store
        .create_service(&provider_scope, "Other service", &[])
        .await
        .unwrap()
        .id;
    let vendor = Api::new(&host, &provider_token);
    let theirs = vendor.create(&url_webhook(&activated)).await;
    let theirs_id = theirs["id"].as_str().unwrap();

    let tenant = store.create_tenant("Immobilien Muster GmbH").await.unwrap();
    store
        .activate(&host.state.key, &tenant.id, &activated, &BTreeMap::new())
        .await
        .unwrap();
    let private = store
        .create_service(&Scope::Tenant(tenant.id.clone()), "Own automation", &[])
        .await
        .unwrap()
        .id;
    let neighbour = store.create_tenant("Nachbar GmbH").await.unwrap();
    let neighbour_service = store
        .create_service(&Scope::Tenant(neighbour.id.clone()), "Theirs", &[])
        .await
        .unwrap()
        .id;
    let (_, key) = store.create_api_key(&tenant.id).await.unwrap();
    let me = Api::new(&host, &key);

    // Read: yes. Change: no.
    let got = me.get(&one(theirs_id)).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    let mut changed = got.json();
    changed["description"] = json!("mine now");
    me.put(&one(theirs_id), &changed)
        .await
        .assert_problem(StatusCode::FORBIDDEN, None);
    me.put(&one(theirs_id), &url_webhook(&private))
        .await
        .assert_problem(StatusCode::FORBIDDEN, None);
    me.delete(&one(theirs_id))
        .await
        .assert_problem(StatusCode::FORBIDDEN, None);
    for action in ["enable", "disable"] {
        me.post_empty(&format!("{}/{action}", one(theirs_id)))
            .await
            .assert_problem(StatusCode::FORBIDDEN, None);
    }
    assert_eq!(
        vendor.get(&one(theirs_id)).await.json()["status"],
        "enabled"
    );
    assert_eq!(
        vendor.get(&one(theirs_id)).await.json()["description"],
        "Property valuation"
    );

    // Nor may it hang webhooks on services it does not own, activated or not.
    for service in [&activated, &not_activated, &neighbour_service] {
        me.post(WEBHOOKS, &url_webhook(service))
            .await
            .assert_problem(StatusCode::FORBIDDEN, None);
    }
    assert_eq!(me.total().await, 1);

    // Its own webhooks are its own to change.
    let own = me.create(&url_webhook(&private)).await;
    let own_id = own["id"].as_str().unwrap();
    let mut body = url_webhook(&private);
    body["description"] = json!("changed");
    let reply = me.put(&one(own_id), &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reply = me.post_empty(&format!("{}/disable", one(own_id))).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    let reply = me.delete(&one(own_id)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert_eq!(me.total().await, 1);
}

async fn stale_if_match_is_a_failed_precondition(db: Db) {
    let host = TestHost::start(db).await;
    let (_, token, service) = provider(&host, "Valuation GmbH").await;
    let api = Api::new(&host, &token);
    let created = api.create(&url_webhook(&service)).await;
    let id = created["id"].as_str().unwrap();
    let put_if = |if_match: &'static str, description: &'static str| {
        let mut body = url_webhook(&service);
        body["description"] = json!(description);
        Api::send(
            api.request(Method::PUT, &one(id))
                .header("if-match", if_match)
                .json(&body),
        )
    };

    let reply = put_if("\"1\"", "first").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.etag(), "\"2\"");
    // Someone who read revision 1 is too late now.
    let reply = put_if("\"1\"", "lost update").await;
    reply.assert_problem(StatusCode::PRECONDITION_FAILED, Some("\"2\""));
    // Weak tags never match (strong comparison), nor does garbage.
    put_if("W/\"2\"", "weak")
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED, None);
    put_if("\"two\"", "garbage")
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED, None);
    let now = api.get(&one(id)).await;
    assert_eq!(now.etag(), "\"2\"");
    assert_eq!(now.json()["description"], "first");

    let reply = put_if("\"1\", \"2\"", "listed").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reply = put_if("*", "any").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.etag(), "\"4\"");

    // The bodiless changes honour it too.
    let stale = |method: Method, path: String| {
        Api::send(api.request(method, &path).header("if-match", "\"1\""))
    };
    stale(Method::POST, format!("{}/disable", one(id)))
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED, None);
    stale(Method::DELETE, one(id))
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED, None);
    let still = api.get(&one(id)).await;
    assert_eq!(still.json()["status"], "enabled");
    let reply = Api::send(
        api.request(Method::DELETE, &one(id))
            .header("if-match", still.etag()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    // A precondition on a webhook that is gone is a 404, not a 412.
    stale(Method::DELETE, one(id))
        .await
        .assert_problem(StatusCode::NOT_FOUND, None);
}
