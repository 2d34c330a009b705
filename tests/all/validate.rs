//! MPT `validate*` webhooks called synchronously: `POST /public/v1/validate/{type}` with the
//! bundled order-validator as a component and a loopback receiver as a URL handler.

use crate::support::{Db, TestHost, serve};
use axum::extract::{Query, RawQuery};
use hookhost::store::{Handler, Scope, WebhookSpec};
use hookhost_plugins::ORDER_VALIDATOR;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

both_backends!(
    orders_are_validated_by_the_matching_webhook,
    validation_errors_are_clear_and_change_nothing,
);

/// A provider service with validation webhooks, activated by a tenant with a REST key.
struct World {
    host: TestHost,
    provider: Scope,
    provider_token: String,
    service: String,
    rest_key: String,
}

async fn world(db: Db) -> World {
    let host = TestHost::start(db).await;
    let store = host.store();
    let (provider, provider_token) = store.create_provider("Order checks").await.unwrap();
    let provider = Scope::Provider(provider.id);
    let service = store
        .create_service(&provider, "Checks", &[])
        .await
        .unwrap()
        .id;
    let tenant = store.create_tenant("Reseller GmbH").await.unwrap().id;
    let params = BTreeMap::from([
        ("max_quantity".to_owned(), "10".to_owned()),
        ("region".to_owned(), "emea".to_owned()),
    ]);
    store
        .activate(&host.state.key, &tenant, &service, &params)
        .await
        .unwrap();
    let (_, rest_key) = store.create_api_key(&tenant).await.unwrap();
    World {
        host,
        provider,
        provider_token,
        service,
        rest_key,
    }
}

impl World {
    async fn webhook(&self, handler: Handler, configure: impl FnOnce(&mut WebhookSpec)) -> String {
        let mut spec = WebhookSpec {
            service_id: self.service.clone(),
            description: String::new(),
            enabled: true,
            kind: Some("validatePurchaseOrderDraft".into()),
            object_type: Some("Order".into()),
            handler,
            modules: Vec::new(),
            extension: None,
            criteria: BTreeMap::new(),
            limits: None,
            allowed_hosts: Vec::new(),
            retry_policy: None,
        };
        configure(&mut spec);
        let store = self.host.store();
        store
            .create_webhook(&self.host.state.key, &self.provider, &spec)
            .await
            .unwrap()
            .0
            .id
    }

    async fn order_validator(&self, configure: impl FnOnce(&mut WebhookSpec)) -> String {
        let wasm = std::fs::read(ORDER_VALIDATOR).unwrap();
        let plugin = self.host.state.runtime.load(&wasm).unwrap();
        let name = hookhost::crypto::random_alphanumeric(8).to_lowercase();
        let component = self
            .host
            .store()
            .insert_component(&self.provider, &name, "1.0.0", &plugin.info, &wasm)
            .await
            .unwrap();
        self.webhook(Handler::Component(component.id), configure)
            .await
    }

    async fn validate(
        &self,
        kind: &str,
        auth: &str,
        body: &str,
    ) -> (StatusCode, Option<String>, Value) {
        let response = self
            .host
            .client
            .post(self.host.url(&format!("/public/v1/validate/{kind}")))
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let webhook = response
            .headers()
            .get("x-hookhost-webhook")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, webhook, response.json().await.unwrap())
    }

    fn tenant(&self) -> String {
        format!("rest_api_key={}", self.rest_key)
    }

    async fn statistics(&self, id: &str, total: i64) -> hookhost::store::Webhook {
        for _ in 0..200 {
            self.host.state.recorder.flush().await;
            let webhook = self.host.store().webhook(&self.provider, id).await.unwrap();
            if webhook.statistics.total >= total {
                return webhook;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("webhook {id} never reached {total} calls");
    }
}

fn order(product: &str, quantity: i64) -> Value {
    json!({
        "id": "ORD-1234-5678",
        "product": {"id": product},
        "agreement": {"id": "AGR-0001"},
        "lines": [{"id": "ALI-1", "item": {"id": "ITM-1", "name": "Seats"}, "quantity": quantity}],
    })
}

async fn orders_are_validated_by_the_matching_webhook(db: Db) {
    let w = world(db).await;
    // A receiver for a URL validator: marks the order as checked, with the activation's
    // region it got on the URL.
    let receiver =
        serve(axum::Router::new().route(
            "/check",
            axum::routing::post(
                |RawQuery(query): RawQuery,
                 Query(q): Query<HashMap<String, String>>,
                 body: String| async move {
                    let mut order: Value = serde_json::from_str(&body).unwrap();
                    order["checked"] =
                        json!({"by": "url", "region": q.get("region"), "query": query});
                    axum::Json(order)
                },
            ),
        ))
        .await;
    let component = w
        .order_validator(|s| {
            s.criteria = BTreeMap::from([("product.id".into(), "PRD-1".into())]);
        })
        .await;
    let url = w
        .webhook(Handler::Url(format!("http://{receiver}/check")), |s| {
            s.criteria = BTreeMap::from([("product.id".into(), "PRD-2".into())]);
        })
        .await;
    // Disabled, and older than both: never answers.
    let disabled = w.order_validator(|s| s.enabled = false).await;

    // An invalid order: the component answers with an order-level error (still a 200).
    let (status, by, answer) = w
        .validate(
            "validatePurchaseOrderDraft",
            &w.tenant(),
            &order("PRD-1", 50).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(by.as_deref(), Some(component.as_str()));
    assert_eq!(answer["error"]["id"], "VAL-004", "{answer}");
    assert_eq!(answer["id"], "ORD-1234-5678");

    // A valid order comes back as it was; the type is matched ignoring case.
    let valid = order("PRD-1", 3).to_string();
    let (status, by, answer) = w
        .validate("ValidatePurchaseOrderDraft", &w.tenant(), &valid)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(by.as_deref(), Some(component.as_str()));
    assert_eq!(answer, serde_json::from_str::<Value>(&valid).unwrap());

    // Another product: the URL webhook's criteria match; it gets the activation's parameters.
    let (status, by, answer) = w
        .validate(
            "validatePurchaseOrderDraft",
            &w.tenant(),
            &order("PRD-2", 50).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(by.as_deref(), Some(url.as_str()));
    assert_eq!(answer["checked"]["by"], "url");
    assert_eq!(answer["checked"]["region"], "emea", "{answer}");
    assert!(answer.get("error").is_none());

    // No webhook's criteria match: 404 saying so.
    let (status, by, answer) = w
        .validate(
            "validatePurchaseOrderDraft",
            &w.tenant(),
            &order("PRD-9", 1).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert!(by.is_none());
    assert!(
        answer["detail"].as_str().unwrap().contains("criteria"),
        "{answer}"
    );

    // Every call counts in its webhook's statistics and last calls.
    let counted = w.statistics(&component, 2).await;
    assert_eq!(counted.statistics.total, 2);
    assert_eq!(counted.statistics.successes, 2);
    assert!(counted.last_success.is_some());
    assert_eq!(w.statistics(&url, 1).await.statistics.successes, 1);
    let untouched = w
        .host
        .store()
        .webhook(&w.provider, &disabled)
        .await
        .unwrap();
    assert_eq!(untouched.statistics.total, 0);
}

async fn validation_errors_are_clear_and_change_nothing(db: Db) {
    let w = world(db).await;
    let component = w.order_validator(|_| {}).await;
    let body = order("PRD-1", 1).to_string();

    // Who may call: tenants only.
    let provider = format!("Bearer {}", w.provider_token);
    let (status, _, answer) = w
        .validate("validatePurchaseOrderDraft", &provider, &body)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, _, _) = w
        .validate("validatePurchaseOrderDraft", "rest_api_key=nope", &body)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // What may be sent.
    let (status, _, answer) = w.validate("selectOrderLines", &w.tenant(), &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("validateAccount"),
        "{answer}"
    );
    for bad in ["[1, 2]", "not json", "\"an order\""] {
        let (status, _, answer) = w
            .validate("validatePurchaseOrderDraft", &w.tenant(), bad)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains("JSON object"),
            "{answer}"
        );
    }
    let huge = format!(r#"{{"id": "ORD-1", "note": "{}"}}"#, "x".repeat(1 << 20));
    let (status, _, answer) = w
        .validate("validatePurchaseOrderDraft", &w.tenant(), &huge)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("larger than"),
        "{answer}"
    );
    // No webhook of that type at all.
    let (status, _, answer) = w.validate("validateAccount", &w.tenant(), "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("no enabled validateAccount"),
        "{answer}"
    );

    // The handler refuses what is not an order: 400 naming the kind and the reason.
    let (status, by, answer) = w
        .validate(
            "validatePurchaseOrderDraft",
            &w.tenant(),
            r#"{"colour": "blue"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(by.is_none());
    let detail = answer["detail"].as_str().unwrap();
    assert!(
        detail.contains("invalid-input") && detail.contains(&component),
        "{detail}"
    );

    // Only the handler's call counted (as a failure); the refused requests left no trace.
    let counted = w.statistics(&component, 1).await;
    assert_eq!(counted.statistics.total, 1);
    assert_eq!(counted.statistics.failures, 1);
}
