//! MPT `validate*` webhooks called synchronously: `POST /public/v1/validate/{type}` with the
//! bundled order-validator as a component and a loopback receiver as a URL handler.

use crate::support::{Db, Receiver, Reply, World};
use hookhost::store::{Handler, WebhookSpec};
use hookhost_plugins::ORDER_VALIDATOR;
use reqwest::StatusCode;
use serde_json::{Value, json};

both_backends!(
    orders_are_validated_by_the_matching_webhook,
    validation_errors_are_clear_and_change_nothing,
);

/// The shared world; the tenant's activation sets the order-validator's `max_quantity` and
/// a `region` that URL validators get on the URL.
async fn world(db: Db) -> World {
    World::build(db)
        .activation(&[("max_quantity", "10"), ("region", "emea")])
        .start()
        .await
}

/// Registers a `validatePurchaseOrderDraft` webhook of the world's service handled by
/// `handler`, changed by `configure`; returns its id.
async fn validator(
    w: &World,
    handler: Handler,
    configure: impl FnOnce(WebhookSpec) -> WebhookSpec,
) -> String {
    let spec = w
        .spec(handler)
        .kind("validatePurchaseOrderDraft")
        .object_type("Order");
    w.register(configure(spec)).await.0.id
}

/// The bundled order-validator as such a webhook.
async fn order_validator(w: &World, configure: impl FnOnce(WebhookSpec) -> WebhookSpec) -> String {
    let component = w.upload(ORDER_VALIDATOR).await;
    validator(w, Handler::Component(component), configure).await
}

/// `POST /public/v1/validate/{kind}` with `auth`: the status, the webhook that answered
/// (`x-hookhost-webhook`) and the body.
async fn validate(
    w: &World,
    kind: &str,
    auth: &str,
    body: &str,
) -> (StatusCode, Option<String>, Value) {
    let response = w
        .host
        .client
        .post(w.host.url(&format!("/public/v1/validate/{kind}")))
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

/// The tenant's `authorization` header.
fn tenant(w: &World) -> String {
    format!("rest_api_key={}", w.rest_key)
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
    let receiver = Receiver::scripted(|hit, _| {
        let mut order = hit.json();
        order["checked"] =
            json!({"by": "url", "region": hit.query.get("region"), "query": hit.raw_query});
        Reply::status(200).json(&order)
    })
    .await;
    let component = order_validator(&w, |s| s.criteria([("product.id", "PRD-1")])).await;
    let url = validator(&w, Handler::Url(receiver.url("/check")), |s| {
        s.criteria([("product.id", "PRD-2")])
    })
    .await;
    // Disabled, and older than both: never answers.
    let disabled = order_validator(&w, |s| s.disabled()).await;

    // An invalid order: the component answers with an order-level error (still a 200).
    let (status, by, answer) = validate(
        &w,
        "validatePurchaseOrderDraft",
        &tenant(&w),
        &order("PRD-1", 50).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(by.as_deref(), Some(component.as_str()));
    assert_eq!(answer["error"]["id"], "VAL-004", "{answer}");
    assert_eq!(answer["id"], "ORD-1234-5678");

    // A valid order comes back as it was; the type is matched ignoring case.
    let valid = order("PRD-1", 3).to_string();
    let (status, by, answer) =
        validate(&w, "ValidatePurchaseOrderDraft", &tenant(&w), &valid).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(by.as_deref(), Some(component.as_str()));
    assert_eq!(answer, serde_json::from_str::<Value>(&valid).unwrap());

    // Another product: the URL webhook's criteria match; it gets the activation's parameters.
    let (status, by, answer) = validate(
        &w,
        "validatePurchaseOrderDraft",
        &tenant(&w),
        &order("PRD-2", 50).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(by.as_deref(), Some(url.as_str()));
    assert_eq!(answer["checked"]["by"], "url");
    assert_eq!(answer["checked"]["region"], "emea", "{answer}");
    assert!(answer.get("error").is_none());
    let hit = &receiver.hits()[0];
    assert_eq!((hit.method.as_str(), hit.path.as_str()), ("POST", "/check"));

    // No webhook's criteria match: 404 saying so.
    let (status, by, answer) = validate(
        &w,
        "validatePurchaseOrderDraft",
        &tenant(&w),
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
    let counted = w.webhook_after_calls(&component, 2).await;
    assert_eq!(counted.statistics.total, 2);
    assert_eq!(counted.statistics.successes, 2);
    assert!(counted.last_success.is_some());
    assert_eq!(w.webhook_after_calls(&url, 1).await.statistics.successes, 1);
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
    let component = order_validator(&w, |s| s).await;
    let body = order("PRD-1", 1).to_string();

    // Who may call: tenants only.
    let provider = format!("Bearer {}", w.provider_token);
    let (status, _, answer) = validate(&w, "validatePurchaseOrderDraft", &provider, &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, _, _) =
        validate(&w, "validatePurchaseOrderDraft", "rest_api_key=nope", &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // What may be sent.
    let (status, _, answer) = validate(&w, "selectOrderLines", &tenant(&w), &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("validateAccount"),
        "{answer}"
    );
    for bad in ["[1, 2]", "not json", "\"an order\""] {
        let (status, _, answer) =
            validate(&w, "validatePurchaseOrderDraft", &tenant(&w), bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains("JSON object"),
            "{answer}"
        );
    }
    let huge = format!(r#"{{"id": "ORD-1", "note": "{}"}}"#, "x".repeat(1 << 20));
    let (status, _, answer) = validate(&w, "validatePurchaseOrderDraft", &tenant(&w), &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("larger than"),
        "{answer}"
    );
    // No webhook of that type at all.
    let (status, _, answer) = validate(&w, "validateAccount", &tenant(&w), "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("no enabled validateAccount"),
        "{answer}"
    );

    // The handler refuses what is not an order: 400 naming the kind and the reason.
    let (status, by, answer) = validate(
        &w,
        "validatePurchaseOrderDraft",
        &tenant(&w),
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
    let counted = w.webhook_after_calls(&component, 1).await;
    assert_eq!(counted.statistics.total, 1);
    assert_eq!(counted.statistics.failures, 1);
}
