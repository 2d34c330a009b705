//! No answer reveals another provider's or tenant's objects.
//!
//! Every endpoint that takes an id (or reaches objects by name: extensions, validation
//! types, services in a body) is walked with a second provider and a second tenant. What
//! they get for the others' objects must be, byte for byte, what they get for an id that
//! does not exist (status and body, apart from the id echoed from the request); what they
//! may trigger never runs the others' webhooks.

use crate::support::{Db, TestHost, World};
use hookhost::store::{Handler, Scope, WebhookSpec};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

both_backends!(
    registry_answers_for_others_objects_read_like_unknown_ids,
    components_of_others_read_like_unknown_ids,
    services_of_others_read_like_unknown_services,
    extension_conflicts_name_nothing_of_others,
    tenants_see_only_their_own_calls_and_statistics,
    process_manager_answers_read_like_unknown_ids,
    execute_paths_never_reach_others_webhooks,
);

const WEBHOOKS: &str = "/public/v1/notifications/webhooks";
const UNKNOWN_WEBHOOK: &str = "WBH-0000-0000";
const UNKNOWN_COMPONENT: &str = "CMP-0000-0000";
const UNKNOWN_SERVICE: &str = "SVC-0000-0000";

/// One answer, read completely.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    content_type: String,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }

    /// Status, content type and body with `id` replaced by a placeholder.
    fn normalized(&self, id: &str) -> (StatusCode, String, String) {
        let text = if id.is_empty() {
            self.text.clone()
        } else {
            self.text.replace(id, "{id}")
        };
        (self.status, self.content_type.clone(), text)
    }
}

/// Sends requests with one credential.
#[derive(Clone)]
struct As<'a> {
    host: &'a TestHost,
    token: String,
}

impl<'a> As<'a> {
    fn new(host: &'a TestHost, token: &str) -> Self {
        As {
            host,
            token: token.to_owned(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Reply {
        let mut request = self
            .host
            .client
            .request(method, self.host.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        let response = request.send().await.unwrap();
        Reply {
            status: response.status(),
            content_type: response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            text: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(body), None).await
    }
}

/// Asserts that `request(foreign)` answers exactly like `request(unknown)`, ids aside.
#[track_caller]
fn same(label: &str, foreign: (&Reply, &str), unknown: (&Reply, &str)) {
    assert_eq!(
        foreign.0.normalized(foreign.1),
        unknown.0.normalized(unknown.1),
        "{label}: the answer for another's object differs from the one for an unknown id"
    );
}

/// Sends the same request for `foreign` and for `unknown` (each substituted for `{id}` in
/// `path` and `body`) and asserts that both answers are the same.
async fn walk(
    caller: &As<'_>,
    method: Method,
    path: &str,
    body: Option<&Value>,
    if_match: Option<&str>,
    foreign: &str,
    unknown: &str,
) -> Reply {
    let fill = |id: &str| {
        (
            path.replace("{id}", id),
            body.map(|b| {
                serde_json::from_str::<Value>(&b.to_string().replace("{id}", id)).unwrap()
            }),
        )
    };
    let (foreign_path, foreign_body) = fill(foreign);
    let (unknown_path, unknown_body) = fill(unknown);
    let a = caller
        .send(
            method.clone(),
            &foreign_path,
            foreign_body.as_ref(),
            if_match,
        )
        .await;
    let b = caller
        .send(
            method.clone(),
            &unknown_path,
            unknown_body.as_ref(),
            if_match,
        )
        .await;
    same(&format!("{method} {path}"), (&a, foreign), (&b, unknown));
    a
}

/// The shared world (provider A, its service, tenant T1 that activated it) and everyone else
/// these tests need: A's component and webhooks; T1's private service, component and
/// webhook; provider B; tenant T2 (activated nothing of A's) and tenant T3 (activated A's
/// service too).
struct Parties {
    host: TestHost,
    a_token: String,
    a_service: String,
    a_component: String,
    a_webhook: String,
    b_token: String,
    b_service: String,
    t1: String,
    t1_key: String,
    t1_service: String,
    t1_component: String,
    t1_webhook: String,
    t2: String,
    t2_key: String,
    t2_smartml: (String, String),
    t3_key: String,
}

async fn parties(db: Db) -> Parties {
    let world = World::start(db).await;
    let (a, a_service, t1) = (&world.provider, &world.service, &world.tenant);
    let store = world.host.store();
    let key = &world.host.state.key;
    let (b, b_token) = store.create_provider("B GmbH").await.unwrap();
    let b = Scope::Provider(b.id);
    let b_service = store
        .create_service(&b, "B's service", &[])
        .await
        .unwrap()
        .id;
    let t2 = store.create_tenant("T2").await.unwrap().id;
    let t3 = store.create_tenant("T3").await.unwrap().id;
    store
        .activate(key, &t3, a_service, &BTreeMap::new())
        .await
        .unwrap();
    let t1_scope = Scope::Tenant(t1.clone());
    let t1_service = store
        .create_service(&t1_scope, "T1's automation", &[])
        .await
        .unwrap()
        .id;
    store
        .activate(key, t1, &t1_service, &BTreeMap::new())
        .await
        .unwrap();

    let wasm = std::fs::read(hookhost_plugins::ECHO).unwrap();
    let plugin = world.host.state.runtime.load(&wasm).unwrap();
    let a_component = store
        .insert_component(a, "echo", "1.0.0", &plugin.info, &wasm)
        .await
        .unwrap()
        .id;
    let t1_component = store
        .insert_component(&t1_scope, "echo", "1.0.0", &plugin.info, &wasm)
        .await
        .unwrap()
        .id;
    let theirs = |service: &str, component: &str| {
        WebhookSpec::new(service, Handler::Component(component.to_owned()))
            .description("Their webhook")
    };
    let create = async |owner: &Scope, spec: WebhookSpec| {
        store.create_webhook(key, owner, &spec).await.unwrap().0.id
    };
    let listening = |spec: WebhookSpec| spec.modules(["estate", "address"]);
    let a_webhook = create(
        a,
        listening(theirs(a_service, &a_component)).extension("ExtA"),
    )
    .await;
    create(
        a,
        theirs(a_service, &a_component)
            .kind("validatePurchaseOrderDraft")
            .object_type("Order"),
    )
    .await;
    let t1_webhook = create(
        &t1_scope,
        listening(theirs(&t1_service, &t1_component)).extension("ExtT1"),
    )
    .await;
    create(
        &t1_scope,
        theirs(&t1_service, &t1_component)
            .kind("validateAccount")
            .object_type("Account"),
    )
    .await;

    let (_, t2_key) = store.create_api_key(&t2).await.unwrap();
    let (_, t3_key) = store.create_api_key(&t3).await.unwrap();
    let user = store.create_api_user(key, &t2, false).await.unwrap();
    Parties {
        a_token: world.provider_token.clone(),
        a_service: a_service.clone(),
        a_component,
        a_webhook,
        b_token,
        b_service,
        t1: t1.clone(),
        t1_key: world.rest_key.clone(),
        t1_service,
        t1_component,
        t1_webhook,
        t2,
        t2_key,
        t2_smartml: (user.token, user.secret),
        t3_key,
        host: world.host,
    }
}

impl Parties {
    fn a(&self) -> As<'_> {
        As::new(&self.host, &self.a_token)
    }
    fn b(&self) -> As<'_> {
        As::new(&self.host, &self.b_token)
    }
    fn t1(&self) -> As<'_> {
        As::new(&self.host, &self.t1_key)
    }
    fn t2(&self) -> As<'_> {
        As::new(&self.host, &self.t2_key)
    }
    fn t3(&self) -> As<'_> {
        As::new(&self.host, &self.t3_key)
    }

    /// A test call of `webhook` by `caller`; returns the call's id from the call log.
    async fn test_call(&self, caller: &As<'_>, webhook: &str) -> String {
        let reply = caller
            .post(&format!("{WEBHOOKS}/{webhook}/test"), &json!({}))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        for _ in 0..200 {
            let calls = caller
                .get(&format!("{WEBHOOKS}/{webhook}/calls"))
                .await
                .json();
            if let Some(id) = calls["data"][0]["id"].as_str() {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the test call of {webhook} was not logged");
    }
}

/// The per-webhook endpoints of the registry, as `caller`, for `foreign` and an unknown id.
async fn walk_webhook(label: &str, caller: &As<'_>, foreign: &str, own_service: &str) {
    let put_body = json!({
        "description": "mine now", "service": {"id": own_service},
        "url": "https://hooks.example.com/x", "modules": ["estate"],
    });
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("{WEBHOOKS}/{{id}}"), None),
        (Method::PUT, format!("{WEBHOOKS}/{{id}}"), Some(put_body)),
        (Method::POST, format!("{WEBHOOKS}/{{id}}/enable"), None),
        (Method::POST, format!("{WEBHOOKS}/{{id}}/disable"), None),
        (Method::GET, format!("{WEBHOOKS}/{{id}}/calls"), None),
        (
            Method::POST,
            format!("{WEBHOOKS}/{{id}}/calls/CAL-0000-0000/resend"),
            None,
        ),
        (
            Method::POST,
            format!("{WEBHOOKS}/{{id}}/test"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("{WEBHOOKS}/{{id}}/rotate-secret"),
            None,
        ),
        (
            Method::GET,
            format!("{WEBHOOKS}/{{id}}/notifications"),
            None,
        ),
        (
            Method::POST,
            format!("{WEBHOOKS}/{{id}}/recover"),
            Some(json!({"since": "2026-01-01T00:00:00Z"})),
        ),
        (
            Method::POST,
            format!("{WEBHOOKS}/{{id}}/deliveries/retry"),
            Some(json!({})),
        ),
        (Method::DELETE, format!("{WEBHOOKS}/{{id}}"), None),
    ];
    for (method, path, body) in &routes {
        for if_match in [None, Some("\"1\"")] {
            let reply = walk(
                caller,
                method.clone(),
                path,
                body.as_ref(),
                if_match,
                foreign,
                UNKNOWN_WEBHOOK,
            )
            .await;
            assert_eq!(
                reply.status,
                StatusCode::NOT_FOUND,
                "{label}: {method} {path}: {}",
                reply.text
            );
        }
    }
}

async fn registry_answers_for_others_objects_read_like_unknown_ids(db: Db) {
    let w = parties(db).await;
    let before = w.a().get(&format!("{WEBHOOKS}/{}", w.a_webhook)).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.text);
    let t1_before = w.t1().get(&format!("{WEBHOOKS}/{}", w.t1_webhook)).await;

    // Provider B and A's webhook; tenant T2 and A's webhook (a service it did not activate)
    // and T1's private webhook; provider B and T1's private webhook.
    walk_webhook("B → A", &w.b(), &w.a_webhook, &w.b_service).await;
    walk_webhook("T2 → A", &w.t2(), &w.a_webhook, &w.t1_service).await;
    walk_webhook("T2 → T1", &w.t2(), &w.t1_webhook, &w.t1_service).await;
    walk_webhook("B → T1", &w.b(), &w.t1_webhook, &w.b_service).await;
    walk_webhook("T3 → T1", &w.t3(), &w.t1_webhook, &w.t1_service).await;

    // Lists show only what the caller reaches.
    let listed = w.b().get(WEBHOOKS).await.json();
    assert_eq!(listed["$meta"]["pagination"]["total"], 0, "{listed}");
    let listed = w.t2().get(WEBHOOKS).await.json();
    assert_eq!(listed["$meta"]["pagination"]["total"], 0, "{listed}");

    // Nothing changed.
    let after = w.a().get(&format!("{WEBHOOKS}/{}", w.a_webhook)).await;
    assert_eq!(after.text, before.text);
    let t1_after = w.t1().get(&format!("{WEBHOOKS}/{}", w.t1_webhook)).await;
    assert_eq!(t1_after.text, t1_before.text);

    // The admin API answers a provider's or tenant's credential like a wrong one.
    let wrong = As::new(&w.host, "not-a-credential");
    for path in [
        "/admin/v1/providers",
        "/admin/v1/tenants",
        "/admin/v1/services",
    ] {
        let expected = wrong.get(path).await;
        assert_eq!(
            expected.status,
            StatusCode::UNAUTHORIZED,
            "{}",
            expected.text
        );
        for caller in [w.a(), w.t1()] {
            let reply = caller.get(path).await;
            assert_eq!(reply.normalized(""), expected.normalized(""), "{path}");
        }
    }

    // A provider's test call on behalf of a tenant that did not activate the service reads
    // like one for a tenant that does not exist.
    let a = w.a();
    walk(
        &a,
        Method::POST,
        &format!("{WEBHOOKS}/{}/test", w.a_webhook),
        Some(&json!({"tenantId": "{id}"})),
        None,
        &w.t2,
        "TEN-0000-0000",
    )
    .await;
}

async fn components_of_others_read_like_unknown_ids(db: Db) {
    let w = parties(db).await;
    for (label, caller, foreign) in [
        ("B → A", w.b(), &w.a_component),
        ("T2 → A", w.t2(), &w.a_component),
        ("T2 → T1", w.t2(), &w.t1_component),
        ("A → T1", w.a(), &w.t1_component),
    ] {
        for method in [Method::GET, Method::DELETE] {
            let reply = walk(
                &caller,
                method.clone(),
                "/public/v1/components/{id}",
                None,
                None,
                foreign,
                UNKNOWN_COMPONENT,
            )
            .await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{label}: {method}");
            assert!(
                !reply.text.contains(&w.a_webhook),
                "{label}: {}",
                reply.text
            );
            assert!(
                !reply.text.contains(&w.t1_webhook),
                "{label}: {}",
                reply.text
            );
        }
        // Nor can a webhook be hung on another's component, by id, digest or name.
        let own_service = if label.starts_with('B') {
            w.b_service.clone()
        } else if label.starts_with('A') {
            w.a_service.clone()
        } else {
            w.t1_service.clone()
        };
        let body = json!({"service": {"id": own_service}, "handler": {"component": "{id}"}});
        walk(
            &caller,
            Method::POST,
            WEBHOOKS,
            Some(&body),
            None,
            foreign,
            UNKNOWN_COMPONENT,
        )
        .await;
    }
    let listed = w.b().get("/public/v1/components").await.json();
    assert_eq!(listed["$meta"]["pagination"]["total"], 0, "{listed}");
    // Names are per owner: B's upload of the name and version A uses is not a conflict.
    let uploaded = w
        .host
        .client
        .post(w.host.url("/public/v1/components?name=echo&version=1.0.0"))
        .bearer_auth(&w.b_token)
        .header("content-type", "application/wasm")
        .body(std::fs::read(hookhost_plugins::ECHO).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    // They are all still there.
    for (caller, id) in [(w.a(), &w.a_component), (w.t1(), &w.t1_component)] {
        let reply = caller.get(&format!("/public/v1/components/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
}

async fn services_of_others_read_like_unknown_services(db: Db) {
    let w = parties(db).await;
    let body = json!({"service": {"id": "{id}"}, "url": "https://hooks.example.com/x"});
    // B and A's service; T2 and T1's private service; T2 and A's service (not activated, and
    // not T2's to hang webhooks on anyway).
    for (label, caller, foreign) in [
        ("B → A", w.b(), &w.a_service),
        ("B → T1", w.b(), &w.t1_service),
        ("T2 → T1", w.t2(), &w.t1_service),
        ("T2 → A", w.t2(), &w.a_service),
    ] {
        let reply = walk(
            &caller,
            Method::POST,
            WEBHOOKS,
            Some(&body),
            None,
            foreign,
            UNKNOWN_SERVICE,
        )
        .await;
        assert!(reply.status.is_client_error(), "{label}: {}", reply.text);
    }
    // Moving one's own webhook onto another's service reads the same way.
    let own = w
        .b()
        .post(
            WEBHOOKS,
            &json!({"service": {"id": w.b_service}, "url": "https://hooks.example.com/b"}),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text);
    let own_id = own.json()["id"].as_str().unwrap().to_owned();
    let b = w.b();
    walk(
        &b,
        Method::PUT,
        &format!("{WEBHOOKS}/{own_id}"),
        Some(&body),
        None,
        &w.a_service,
        UNKNOWN_SERVICE,
    )
    .await;
}

async fn extension_conflicts_name_nothing_of_others(db: Db) {
    let w = parties(db).await;
    // T1 reaches B's service too: B may not reuse the extension of A's webhook, but the
    // refusal must not say which webhook, service or provider holds it.
    w.host
        .store()
        .activate(&w.host.state.key, &w.t1, &w.b_service, &BTreeMap::new())
        .await
        .unwrap();
    for extension in ["ExtA", "ExtT1"] {
        let reply = w
            .b()
            .post(
                WEBHOOKS,
                &json!({"service": {"id": w.b_service}, "url": "https://hooks.example.com/b",
                        "extension": extension}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
        assert_eq!(reply.content_type, "application/problem+json");
        for secret in [
            w.a_webhook.as_str(),
            &w.t1_webhook,
            &w.a_service,
            &w.t1_service,
            &w.t1,
            "WBH-",
        ] {
            assert!(
                !reply.text.contains(secret),
                "the conflict names {secret}: {}",
                reply.text
            );
        }
    }
}

async fn tenants_see_only_their_own_calls_and_statistics(db: Db) {
    let w = parties(db).await;
    let path = format!("{WEBHOOKS}/{}", w.a_webhook);
    let t3_before = w.t3().get(&path).await;
    assert_eq!(t3_before.status, StatusCode::OK, "{}", t3_before.text);
    assert_eq!(t3_before.json()["statistics"]["total"], 0);

    // T1 calls A's webhook; the provider sees the call, T3 (who reaches the same webhook)
    // neither sees it nor can resend it.
    let call = w.test_call(&w.t1(), &w.a_webhook).await;
    let mut seen = Value::Null;
    for _ in 0..100 {
        seen = w.a().get(&path).await.json();
        if seen["statistics"]["total"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen["statistics"]["total"], 1, "{seen}");
    let t1_view = w.t1().get(&path).await.json();
    assert_eq!(t1_view["statistics"]["total"], 1, "{t1_view}");

    let t3_after = w.t3().get(&path).await;
    assert_eq!(
        t3_after.json()["statistics"],
        t3_before.json()["statistics"],
        "T3 sees T1's calls in the statistics"
    );
    let calls = w.t3().get(&format!("{path}/calls")).await.json();
    assert_eq!(calls["$meta"]["pagination"]["total"], 0, "{calls}");
    let t3 = w.t3();
    walk(
        &t3,
        Method::POST,
        &format!("{path}/calls/{{id}}/resend"),
        None,
        None,
        &call,
        "CAL-0000-0000",
    )
    .await;
    // The list page reads the same statistics.
    let listed = w.t3().get(WEBHOOKS).await.json();
    assert_eq!(listed["data"][0]["statistics"]["total"], 0, "{listed}");
}

/// A template of one step on `service`.
fn template(service: &str) -> Value {
    json!({"name": "New listing", "steps": [{"type": "webhook", "serviceId": service}]})
}

async fn process_manager_answers_read_like_unknown_ids(db: Db) {
    let w = parties(db).await;
    let t1 = w.t1();
    let created = t1
        .post("/api/v1/process-templates", &template(&w.a_service))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let template_id = created.json()["id"].as_str().unwrap().to_owned();
    let started = t1
        .post(
            "/api/v1/processes",
            &json!({"templateId": template_id, "module": "estate", "recordId": "15005"}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let process_id = started.json()["id"].as_str().unwrap().to_owned();
    // Wait for T1's record to have an activity entry (the step ran).
    let activities = "/api/v1/records/estate/15005/activities";
    let mut entries = Value::Null;
    for _ in 0..300 {
        entries = t1.get(activities).await.json();
        if entries["$meta"]["pagination"]["total"] != 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(entries["$meta"]["pagination"]["total"], 0, "{entries}");

    let t2 = w.t2();
    let unknown_template = "PTM-0000-0000";
    for (method, path, body) in [
        (Method::GET, "/api/v1/process-templates/{id}", None),
        (
            Method::PUT,
            "/api/v1/process-templates/{id}",
            Some(template(&w.t1_service)),
        ),
        (Method::DELETE, "/api/v1/process-templates/{id}", None),
        (
            Method::POST,
            "/api/v1/processes",
            Some(json!({"templateId": "{id}", "module": "estate", "recordId": "15005"})),
        ),
        (Method::GET, "/api/v1/processes?templateId={id}", None),
    ] {
        walk(
            &t2,
            method,
            path,
            body.as_ref(),
            None,
            &template_id,
            unknown_template,
        )
        .await;
    }
    for (method, path) in [
        (Method::GET, "/api/v1/processes/{id}"),
        (Method::POST, "/api/v1/processes/{id}/cancel"),
    ] {
        walk(
            &t2,
            method,
            path,
            None,
            None,
            &process_id,
            "PRC-0000-0000-0000",
        )
        .await;
    }
    walk(
        &t2,
        Method::GET,
        "/api/v1/records/estate/{id}/activities",
        None,
        None,
        "15005",
        "99999",
    )
    .await;
    let listed = t2.get("/api/v1/processes").await.json();
    assert_eq!(listed["$meta"]["pagination"]["total"], 0, "{listed}");
    let listed = t2.get("/api/v1/process-templates").await.json();
    assert_eq!(listed["$meta"]["pagination"]["total"], 0, "{listed}");

    // A step naming a service T2 cannot use reads the same whoever owns it: T1's private
    // service, A's marketplace service T2 has not activated, or none at all.
    for foreign in [&w.t1_service, &w.a_service, &w.b_service] {
        walk(
            &t2,
            Method::POST,
            "/api/v1/process-templates",
            Some(&template("{id}")),
            None,
            foreign,
            UNKNOWN_SERVICE,
        )
        .await;
    }

    // T1's template and process are untouched.
    let still = t1
        .get(&format!("/api/v1/process-templates/{template_id}"))
        .await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.text);
    let process = t1
        .get(&format!("/api/v1/processes/{process_id}"))
        .await
        .json();
    assert_ne!(process["status"], "cancelled", "{process}");
}

async fn execute_paths_never_reach_others_webhooks(db: Db) {
    let w = parties(db).await;
    let client = &w.host.client;

    // Ivanti: another's extension is an unknown extension.
    let ivanti = |extension: &str| {
        client
            .post(
                w.host
                    .url(&format!("/api/rest/Webhooks/Execute?extension={extension}")),
            )
            .header("authorization", format!("rest_api_key={}", w.t2_key))
            .header("content-type", "application/json")
            .body("{\"Subject\": \"x\"}")
            .send()
    };
    let unknown = ivanti("NoSuchExtension").await.unwrap();
    let (status, text) = (unknown.status(), unknown.text().await.unwrap());
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    for extension in ["ExtA", "ExtT1", "exta"] {
        let reply = ivanti(extension).await.unwrap();
        assert_eq!(reply.status(), status, "{extension}");
        assert_eq!(reply.text().await.unwrap(), text, "{extension}");
    }

    // MPT validation: another's validate webhook is none at all.
    let t2 = w.t2();
    let order = json!({"id": "ORD-1", "product": {"id": "PRD-1"}});
    let none = t2
        .post("/public/v1/validate/validateRequest", &order)
        .await
        .normalized("validateRequest");
    for kind in ["validatePurchaseOrderDraft", "validateAccount"] {
        let reply = t2
            .post(&format!("/public/v1/validate/{kind}"), &order)
            .await;
        assert_eq!(reply.normalized(kind), none, "{kind}");
    }

    // smartml: T2's trigger plans nothing for A's or T1's webhooks.
    let (token, secret) = &w.t2_smartml;
    for module in ["estate", "address"] {
        let body = crate::support::smartml_trigger(token, secret, module, "15005");
        let reply = client
            .post(w.host.url("/api/stable/api.php"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let answer: Value = reply.json().await.unwrap();
        assert_eq!(answer["status"]["errorcode"], 0, "{answer}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    use sqlx::Row;
    let planned: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM deliveries WHERE tenant_id = $1 OR webhook_id IN ($2, $3)",
    )
    .bind(&w.t2)
    .bind(&w.a_webhook)
    .bind(&w.t1_webhook)
    .fetch_one(w.host.store().pool())
    .await
    .unwrap()
    .try_get("n")
    .unwrap();
    assert_eq!(
        planned, 0,
        "T2's triggers planned calls of others' webhooks"
    );
    // Nor was anything called on T2's behalf (staged call-log entries counted too).
    w.host.store().fold_calls().await.unwrap();
    let called: i64 = sqlx::query("SELECT COUNT(*) AS n FROM calls WHERE tenant_id = $1")
        .bind(&w.t2)
        .fetch_one(w.host.store().pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(called, 0);
}
