//! The event-type catalogue: served with a JSON Schema per payload (checked against real
//! deliveries), in the OpenAPI document, and webhooks that subscribe to a subset
//! (`eventTypes`) receive only that.

use crate::support::{Db, Receiver, World, eventually, schema_violations};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(webhooks_receive_only_the_event_types_they_subscribe_to);

const WEBHOOKS: &str = "/public/v1/notifications/webhooks";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_names_every_event_type_with_the_schema_of_its_payload() {
    let w = World::start(Db::Sqlite).await;
    // Public, like the OpenAPI document that carries the same schemas.
    let client = &w.host.client;
    let all: Value = client
        .get(w.host.url("/public/v1/event-types"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "estate.update",
            "address.update",
            "task.update",
            "calendar.update",
            "estate.process-step",
            "address.process-step",
            "ivanti.execute",
            "mpt.validatePurchaseOrderDraft",
            "mpt.validatePurchaseOrderQuerying",
            "mpt.validateChangeOrderDraft",
            "mpt.validateTerminateOrder",
            "mpt.validateRequest",
            "mpt.validateAccount",
            "webhook.circuit-opened",
            "webhook.circuit-closed",
            "webhook.disabled",
        ]
    );
    assert_eq!(all["$meta"]["pagination"]["total"], 16);
    for entry in all["data"].as_array().unwrap() {
        let schema = &entry["schema"];
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{entry}"
        );
        assert_eq!(schema["title"], entry["name"]);
    }

    let (status, one) = w
        .as_tenant()
        .get("/public/v1/event-types/Estate.Update")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&one["name"], &one["source"], &one["event"], &one["module"]),
        (
            &json!("estate.update"),
            &json!("smartml"),
            &json!("update"),
            &json!("estate")
        )
    );
    let (status, validation) = w
        .as_tenant()
        .get("/public/v1/event-types/mpt.validateAccount")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&validation["type"], &validation["module"]),
        (&json!("validateAccount"), &json!("Account"))
    );
    let (status, missing) = w
        .as_tenant()
        .get("/public/v1/event-types/estate.delete")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["status"], 404);

    let (status, steps) = w
        .as_tenant()
        .get("/public/v1/event-types?source=process")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(steps["data"].as_array().unwrap().len(), 2);
    let (status, bad) = w.as_tenant().get("/public/v1/event-types?source=fax").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad["errors"]["source"].is_array(), "{bad}");

    // The OpenAPI document carries each payload schema and a `webhooks` entry per type.
    let document: Value = client
        .get(w.host.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for name in &names {
        let schema = &document["components"]["schemas"][format!("event.{name}")];
        assert!(schema.is_object(), "no schema for {name}");
        assert_eq!(
            document["webhooks"][name]["post"]["requestBody"]["content"]["application/json"]["schema"]
                ["$ref"],
            format!("#/components/schemas/event.{name}")
        );
    }
}

async fn webhooks_receive_only_the_event_types_they_subscribe_to(db: Db) {
    let w = World::start(db).await;
    let receiver = Receiver::start().await;

    // Registration: names in any case are read canonically; unknown ones and an empty list
    // are refused naming the field.
    let body = |path: &str, types: Value| {
        let mut body = json!({
            "service": {"id": w.service},
            "url": receiver.url(path),
            "modules": ["estate", "address"],
        });
        if !types.is_null() {
            body["eventTypes"] = types;
        }
        body
    };
    let (status, refused) = w
        .as_provider()
        .post(
            WEBHOOKS,
            &body("/x", json!(["estate.update", "estate.delete"])),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let message = refused["errors"]["eventTypes[1]"][0].as_str().unwrap();
    assert!(message.contains("estate.delete"), "{message}");
    let (status, refused) = w.as_provider().post(WEBHOOKS, &body("/x", json!([]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["errors"]["eventTypes"].is_array(), "{refused}");

    let (status, estate_only) = w
        .as_provider()
        .post(WEBHOOKS, &body("/estate-only", json!(["Estate.Update"])))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{estate_only}");
    assert_eq!(estate_only["eventTypes"], json!(["estate.update"]));
    let (status, everything) = w
        .as_provider()
        .post(WEBHOOKS, &body("/everything", Value::Null))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(everything.get("eventTypes").is_none(), "{everything}");

    w.trigger("address", &["7"]).await;
    w.trigger("estate", &["8"]).await;
    let hits = receiver.wait_for(3).await;
    // Nothing else arrives once every delivery has finished.
    eventually("every delivery to finish", async || {
        let counts = w.host.store().delivery_counts().await.unwrap();
        (!counts.contains_key("pending") && !counts.contains_key("in_flight")).then_some(())
    })
    .await;
    assert_eq!(receiver.count(), 3);
    assert_eq!(receiver.count_on("/estate-only"), 1);
    assert_eq!(receiver.count_on("/everything"), 2);
    let estate_only_hit = hits.iter().find(|h| h.path == "/estate-only").unwrap();
    assert_eq!(estate_only_hit.json()["module"], "estate");

    // Every payload is what its event type's schema says.
    for hit in &hits {
        let payload = hit.json();
        let name = format!("{}.update", payload["module"].as_str().unwrap());
        let (_, event_type) = w
            .as_tenant()
            .get(&format!("/public/v1/event-types/{name}"))
            .await;
        let errors = schema_violations(&event_type["schema"], &payload);
        assert!(errors.is_empty(), "{name}: {errors:?} in {payload}");
    }

    // A PUT without `eventTypes` subscribes to everything again.
    let id = estate_only["id"].as_str().unwrap();
    let (status, updated) = w
        .as_provider()
        .put(
            &format!("{WEBHOOKS}/{id}"),
            &body("/estate-only", Value::Null),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(updated.get("eventTypes").is_none());
}
