//! Traces: the real `hookhost serve` binary exporting to a real OTLP/HTTP receiver. A smartml
//! trigger carrying the caller's `traceparent` is one trace from the request through the
//! outbox (the delivery row keeps the context) to the worker's attempt and the URL call, whose
//! receiver gets a `traceparent` of that trace; an Ivanti execute of a component is a trace of
//! its own whose component span carries the plugin's log lines as events.

use crate::support::{Db, ExportedSpan, OtlpReceiver, Receiver, World, smartml_trigger};
use axum::http::StatusCode;
use hookhost::store::Handler;
use hookhost_plugins::MISBEHAVE;
use serde_json::{Value, json};

/// The caller's trace and span, as its `traceparent` names them.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// The span of `trace` named `name`.
fn span<'s>(spans: &'s [ExportedSpan], trace: &str, name: &str) -> Option<&'s ExportedSpan> {
    spans.iter().find(|s| s.trace_id == trace && s.name == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_traced_from_the_request_through_the_outbox_to_the_handler() {
    let collector = OtlpReceiver::start().await;
    let receiver = Receiver::start().await;
    let mut w = World::start(Db::Sqlite).await;
    let (hook, _) = w
        .register(
            w.spec(Handler::Url(receiver.url("/traced")))
                .modules(["estate"]),
        )
        .await;
    let component = w.upload(MISBEHAVE).await;
    w.register(w.spec(Handler::Component(component)).extension("Traced"))
        .await;
    // The collector's address without a path: the host posts to /v1/traces.
    let host = w
        .host
        .serve_binary(&[
            ("HOOKHOST_TRACING__ENDPOINT", &collector.base),
            ("HOOKHOST_TRACING__SERVICE_NAME", "hookhost-test"),
            ("HOOKHOST_TRACING__EXPORT_DELAY_MS", "100"),
        ])
        .await;
    let client = reqwest::Client::new();

    // smartml, inside the caller's trace.
    let answer: Value = client
        .post(host.url("/api/stable/api.php"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .body(smartml_trigger(&w.token, &w.secret, "estate", "42").to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"]["errorcode"], 0, "{answer}");
    let hit = receiver.wait_for(1).await.remove(0);
    let sent: Vec<&str> = hit.header("traceparent").split('-').collect();
    assert_eq!(sent.len(), 4, "{:?}", hit.header("traceparent"));
    assert_eq!((sent[0], sent[1], sent[3]), ("00", CALLER_TRACE, "01"));

    let spans = collector
        .wait_for("the smartml trigger's spans", |spans| {
            ["POST /api/stable/api.php", "delivery attempt", "url call"]
                .iter()
                .all(|name| span(spans, CALLER_TRACE, name).is_some())
        })
        .await;
    let request = span(&spans, CALLER_TRACE, "POST /api/stable/api.php").unwrap();
    let attempt = span(&spans, CALLER_TRACE, "delivery attempt").unwrap();
    let call = span(&spans, CALLER_TRACE, "url call").unwrap();
    // The caller's span → the request → (the outbox) → the attempt → the call → the receiver.
    assert_eq!(request.parent_span_id, CALLER_SPAN);
    assert_eq!(request.attributes["http.response.status_code"], "200");
    assert_eq!(attempt.parent_span_id, request.span_id);
    assert_eq!(attempt.attributes["delivery.id"], hit.webhook_id());
    assert_eq!(attempt.attributes["webhook.id"], hook.id);
    assert_eq!(attempt.attributes["outcome"], "ok");
    assert_eq!(call.parent_span_id, attempt.span_id);
    assert_eq!(call.attributes["url.full"], receiver.url("/traced"));
    assert_eq!(call.attributes["http.response.status_code"], "200");
    assert_eq!(sent[2], call.span_id);
    assert!(spans.iter().all(|s| s.service == "hookhost-test"));
    // The outbox row kept the planning span's context.
    let stored: Option<String> =
        sqlx::query_scalar("SELECT traceparent FROM deliveries WHERE webhook_id = $1")
            .bind(&hook.id)
            .fetch_one(w.host.store().pool())
            .await
            .unwrap();
    assert_eq!(
        stored.as_deref(),
        Some(format!("00-{CALLER_TRACE}-{}-01", request.span_id).as_str())
    );

    // Ivanti, without a traceparent: a trace of its own, the plugin's log in its component span.
    let response = client
        .post(host.url("/api/rest/Webhooks/Execute?extension=Traced"))
        .header("authorization", format!("rest_api_key={}", w.rest_key))
        .header("content-type", "application/json")
        .body(json!({"action": "log", "lines": 3}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let spans = collector
        .wait_for("the Ivanti execute's spans", |spans| {
            spans.iter().any(|s| s.name == "component call")
                && spans
                    .iter()
                    .any(|s| s.name == "POST /api/rest/Webhooks/Execute")
        })
        .await;
    let component = spans.iter().find(|s| s.name == "component call").unwrap();
    let request = spans
        .iter()
        .find(|s| s.name == "POST /api/rest/Webhooks/Execute")
        .unwrap();
    assert_ne!(request.trace_id, CALLER_TRACE);
    assert_eq!(request.parent_span_id, "", "a root span");
    assert_eq!(component.trace_id, request.trace_id);
    assert_eq!(component.parent_span_id, request.span_id);
    assert_eq!(
        component.events,
        [
            "misbehave log line 0",
            "misbehave log line 1",
            "misbehave log line 2"
        ]
    );
}
