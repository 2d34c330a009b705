//! The bundled example plugins, through the SDK, on realistic payloads.

use crate::support::{Ctx, Receiver, Reply, call, invocation, load, ok_body, runtime};
use hookhost::sandbox::{KvStore, MemoryKv, Param};
use hookhost_plugins::{
    ECHO, NEWSLETTER_CONNECTOR, NEWSLETTER_TRANSFORM, ORDER_VALIDATOR, VALUATION,
};
use serde_json::{Value, json};
use std::sync::Arc;

#[tokio::test]
async fn echo_returns_its_invocation() {
    let (rt, _dir) = runtime();
    let echo = load(&rt, ECHO);
    let mut inv = invocation("address", "4711", r#"{"Vorname":"Erika"}"#);
    inv.parameters = vec![Param {
        name: "newsletter".into(),
        value: "spring".into(),
    }];
    inv.attempt = 3;
    let body = ok_body(&call(&rt, &echo, &inv, Ctx::new(&rt)).await);
    assert_eq!(body["webhookId"], "WBH-1234-5678");
    assert_eq!(
        body["tenant"],
        json!({"id": "TEN-1", "name": "Immobilien Muster GmbH"})
    );
    assert_eq!(body["module"], "address");
    assert_eq!(body["recordId"], "4711");
    assert_eq!(body["event"], "update");
    assert_eq!(body["payload"], json!({"Vorname": "Erika"}));
    assert_eq!(body["parameters"], json!({"newsletter": "spring"}));
    assert_eq!(body["deliveryId"], "DLV-1");
    assert_eq!(body["attempt"], 3);

    let text = invocation("webhook-body", "", "<note>not json</note>");
    let body = ok_body(&call(&rt, &echo, &text, Ctx::new(&rt)).await);
    assert_eq!(body["payload"], "<note>not json</note>");
}

fn estate(price: u64, area: u64) -> String {
    json!({
        "kaufpreis": price, "wohnflaeche": area, "plz": "52062", "ort": "Aachen",
        "baujahr": 1998, "zustand": "gepflegt"
    })
    .to_string()
}

#[tokio::test]
async fn valuation_writes_a_market_value_only_when_inputs_change() {
    let (rt, _dir) = runtime();
    let valuation = load(&rt, VALUATION);
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::default());

    let inv = invocation("estate", "15005", &estate(350_000, 92));
    let report = call(&rt, &valuation, &inv, Ctx::new(&rt).kv(kv.clone())).await;
    let body = ok_body(&report);
    assert_eq!(body["changed"], true, "{body}");
    let value = body["marketValue"].as_f64().unwrap();
    assert!(
        value > 100_000.0 && value < 1_000_000.0,
        "plausible market value: {value}"
    );
    let updates = &report.result.as_ref().unwrap().updates;
    let marktwert = updates
        .iter()
        .find(|u| u.field == "marktwert")
        .expect("marktwert update");
    assert_eq!(marktwert.value.parse::<f64>().unwrap(), value);
    assert!(updates.iter().any(|u| u.field == "marktwert_datum"));

    // A retry of the same delivery repeats its updates (the write-back may have been lost).
    let retry = call(&rt, &valuation, &inv, Ctx::new(&rt).kv(kv.clone())).await;
    assert_eq!(retry.result.as_ref().unwrap().updates, *updates);

    // Another save with the same inputs: nothing to write.
    let mut again = inv.clone();
    again.delivery_id = "DLV-2".into();
    let report = call(&rt, &valuation, &again, Ctx::new(&rt).kv(kv.clone())).await;
    assert!(report.result.as_ref().unwrap().updates.is_empty());
    assert_eq!(ok_body(&report)["changed"], false);

    // A larger living area: a new, higher value.
    let mut bigger = invocation("estate", "15005", &estate(350_000, 140));
    bigger.delivery_id = "DLV-3".into();
    let report = call(&rt, &valuation, &bigger, Ctx::new(&rt).kv(kv.clone())).await;
    let body = ok_body(&report);
    assert_eq!(body["changed"], true);
    assert!(body["marketValue"].as_f64().unwrap() > value);

    // The configured price per m² for the postcode is used.
    let ctx = Ctx::new(&rt).set("price_per_sqm.52062", "10000");
    let other = invocation("estate", "15006", &estate(350_000, 92));
    let body = ok_body(&call(&rt, &valuation, &other, ctx).await);
    assert!(body["marketValue"].as_f64().unwrap() > value, "{body}");

    // Without a living area there is nothing to value.
    let broken = invocation("estate", "15007", r#"{"kaufpreis": 350000}"#);
    let report = call(&rt, &valuation, &broken, Ctx::new(&rt)).await;
    assert_eq!(report.result.unwrap_err().kind(), "invalid-input");
}

/// The newsletter service: `POST /subscribers` with a JSON body is answered with `status`
/// and the new subscriber's id; anything else is not found.
async fn newsletter_service(status: u16) -> Receiver {
    Receiver::scripted(move |hit, _| {
        let subscribing = hit.method == "POST"
            && hit.path == "/subscribers"
            && hit.header("content-type") == "application/json";
        if subscribing {
            Reply::status(status).json(&json!({"id": "SUB-1"}))
        } else {
            Reply::status(404)
        }
    })
    .await
}

fn address() -> String {
    json!({
        "Email": "erika.mustermann@example.com", "Vorname": "Erika", "Name": "Mustermann",
        "Anrede": "Frau", "newsletter_aktiv": true
    })
    .to_string()
}

#[tokio::test]
async fn newsletter_connector_posts_the_subscriber_to_the_configured_url() {
    let (rt, _dir) = runtime();
    let plugin = load(&rt, NEWSLETTER_CONNECTOR);
    let newsletter = newsletter_service(201).await;
    let host = newsletter.addr();
    let ctx = Ctx::new(&rt)
        .set("newsletter_url", &format!("http://{host}/subscribers"))
        .secret("api_key", "nl-secret")
        .allow(host)
        .insecure();
    let report = call(
        &rt,
        &plugin,
        &invocation("address", "4711", &address()),
        ctx,
    )
    .await;
    let body = ok_body(&report);
    assert_eq!(body["subscribed"], true, "{body}");
    assert_eq!(body["email"], "erika.mustermann@example.com");

    let received = newsletter.hits();
    assert_eq!(received.len(), 1);
    let (headers, subscriber) = (&received[0].headers, received[0].json());
    assert_eq!(subscriber["email"], "erika.mustermann@example.com");
    assert_eq!(subscriber["firstName"], "Erika");
    assert_eq!(subscriber["lastName"], "Mustermann");
    assert_eq!(subscriber["recordId"], "4711");
    assert_eq!(headers["authorization"], "Bearer nl-secret");
    assert_eq!(headers["idempotency-key"], "DLV-1");
}

#[tokio::test]
async fn newsletter_connector_failures_say_what_to_do() {
    let (rt, _dir) = runtime();
    let plugin = load(&rt, NEWSLETTER_CONNECTOR);
    let inv = invocation("address", "4711", &address());

    // The newsletter service is down: try again later.
    let newsletter = newsletter_service(503).await;
    let host = newsletter.addr();
    let ctx = Ctx::new(&rt)
        .set("newsletter_url", &format!("http://{host}/subscribers"))
        .allow(host)
        .insecure();
    let report = call(&rt, &plugin, &inv, ctx).await;
    assert_eq!(report.result.unwrap_err().kind(), "temporary");

    // The service refuses the subscriber: final.
    let newsletter = newsletter_service(422).await;
    let host = newsletter.addr();
    let ctx = Ctx::new(&rt)
        .set("newsletter_url", &format!("http://{host}/subscribers"))
        .allow(host)
        .insecure();
    let report = call(&rt, &plugin, &inv, ctx).await;
    assert_eq!(report.result.unwrap_err().kind(), "rejected");

    // No opt-in: nothing is sent.
    let no_opt_in = invocation(
        "address",
        "4712",
        r#"{"Email":"a@example.com","newsletter_aktiv":false}"#,
    );
    let report = call(&rt, &plugin, &no_opt_in, Ctx::new(&rt)).await;
    assert_eq!(report.result.unwrap_err().kind(), "rejected");

    // Not configured: the missing key is named.
    let report = call(&rt, &plugin, &inv, Ctx::new(&rt)).await;
    let error = report.result.unwrap_err();
    assert!(error.to_string().contains("newsletter_url"), "{error}");
}

fn order(lines: Value) -> String {
    json!({
        "id": "ORD-1234-5678",
        "product": {"id": "PRD-1111-2222"},
        "agreement": {"id": "AGR-1"},
        "lines": lines,
        "parameters": {"ordering": [{"externalId": "companySize", "value": "50"}]}
    })
    .to_string()
}

#[tokio::test]
async fn order_validator_marks_invalid_orders_and_passes_valid_ones() {
    let (rt, _dir) = runtime();
    let plugin = load(&rt, ORDER_VALIDATOR);
    let valid =
        order(json!([{"id": "ALI-1", "item": {"id": "ITM-1", "name": "Seat"}, "quantity": 5}]));
    let body = ok_body(
        &call(
            &rt,
            &plugin,
            &invocation("Order", "ORD-1234-5678", &valid),
            Ctx::new(&rt),
        )
        .await,
    );
    assert_eq!(body["id"], "ORD-1234-5678");
    assert!(body.get("error").is_none(), "{body}");
    assert_eq!(body["lines"][0]["quantity"], 5);

    let zero =
        order(json!([{"id": "ALI-1", "item": {"id": "ITM-1", "name": "Seat"}, "quantity": 0}]));
    let body = ok_body(
        &call(
            &rt,
            &plugin,
            &invocation("Order", "ORD-1234-5678", &zero),
            Ctx::new(&rt),
        )
        .await,
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("quantity"),
        "{body}"
    );
    assert!(
        body["error"]["id"].as_str().unwrap().starts_with("VAL-"),
        "{body}"
    );

    let ctx = Ctx::new(&rt).set("required_parameters", "companySize,taxId");
    let body = ok_body(
        &call(
            &rt,
            &plugin,
            &invocation("Order", "ORD-1234-5678", &valid),
            ctx,
        )
        .await,
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("taxId"),
        "{body}"
    );

    let report = call(
        &rt,
        &plugin,
        &invocation("Order", "x", "[1,2,3]"),
        Ctx::new(&rt),
    )
    .await;
    assert_eq!(report.result.unwrap_err().kind(), "invalid-input");
}

#[tokio::test]
async fn newsletter_transform_reshapes_skips_and_checks_activations() {
    use hookhost::sandbox::{OutgoingRequest, Problem, Transformed};
    let (rt, _dir) = runtime();
    let plugin = load(&rt, NEWSLETTER_TRANSFORM);
    let roles = plugin.info.roles;
    assert!(
        !roles.handler && roles.transform && roles.activation,
        "{roles:?}"
    );
    let param = |name: &str, value: &str| Param {
        name: name.into(),
        value: value.into(),
    };
    let request = |record: &str, elements: serde_json::Value| {
        let inv = invocation("address", record, "");
        OutgoingRequest {
            webhook_id: inv.webhook_id,
            tenant: inv.tenant,
            event: inv.event,
            module: inv.module,
            record_id: inv.record_id,
            delivery_id: inv.delivery_id,
            attempt: 1,
            body: json!({"module": "address", "recordId": record, "elements": elements})
                .to_string(),
            parameters: vec![param("list_id", "news-1"), param("api_key", "k")],
            headers: Vec::new(),
        }
    };
    let ctx = || {
        Ctx::new(&rt)
            .set("list_id", "news-1")
            .secret("api_key", "nl-secret")
            .build()
    };

    let sent = rt
        .transform(
            &plugin,
            &request(
                "4711",
                json!({"Email": "erika@example.com", "newsletter_aktiv": true}),
            ),
            ctx(),
        )
        .await;
    let Ok(Transformed::Send(sent)) = sent.result else {
        panic!("not sent: {:?}", sent.result)
    };
    let member: serde_json::Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(member["email_address"], "erika@example.com");
    assert_eq!(member["external_id"], "TEN-1/4711");
    assert!(sent.parameters.is_empty(), "{:?}", sent.parameters);
    let headers: Vec<(&str, &str)> = sent
        .headers
        .iter()
        .map(|h| (h.name.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(
        headers,
        [("X-List-Id", "news-1"), ("X-Api-Key", "nl-secret")]
    );

    let skipped = rt
        .transform(&plugin, &request("4712", json!({"Vorname": "Max"})), ctx())
        .await;
    assert_eq!(
        skipped.result,
        Ok(Transformed::Skip(
            "address 4712 has no e-mail address".into()
        ))
    );

    let checked = rt
        .check_activation(&plugin, &[param("list_id", "news 1")], ctx())
        .await;
    assert_eq!(
        checked.result,
        Ok(Err(vec![
            Problem {
                parameter: "list_id".into(),
                message: "a list id is 1 to 64 letters, digits, `-` or `_`".into()
            },
            Problem {
                parameter: "api_key".into(),
                message: "the newsletter service's API key is required".into()
            },
        ]))
    );
    // It handles no calls: a call is refused as such.
    let report = rt
        .call(&plugin, &invocation("address", "1", "{}"), ctx())
        .await;
    let error = report.result.unwrap_err().to_string();
    assert!(
        error.contains("does not export marketplace:webhook/plugin"),
        "{error}"
    );
}
