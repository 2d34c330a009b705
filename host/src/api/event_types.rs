//! The event-type catalogue ([`crate::events`]): what each dialect delivers, with the JSON
//! Schema of each payload.
//!
//! - `GET /public/v1/event-types` (the list envelope; `?source=smartml` narrows it)
//! - `GET /public/v1/event-types/{name}`
//!
//! The catalogue says nothing about anyone's data, so it is public like the OpenAPI document,
//! which carries the same schemas (`components.schemas["event.<name>"]`, and one entry per
//! event type under `webhooks`).

use super::AppState;
use super::problem::Problem;
use crate::events::EventType;
use crate::vocab::TriggerSource;
use axum::extract::{Path, Query};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

/// This module's part of the OpenAPI document ([`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, one))]
pub(crate) struct Doc;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/public/v1/event-types", get(list))
        .route("/public/v1/event-types/{name}", get(one))
}

/// One entry of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    /// `estate.update`, `address.process-step`, `ivanti.execute`, `mpt.validateAccount`, …
    pub name: String,
    /// For humans.
    pub description: String,
    /// The execute path that produces it.
    pub source: TriggerSource,
    /// The event of the WIT contract a component receives.
    pub event: String,
    /// The invocation's module (a smartml module, `webhook-body`, or an MPT object type).
    pub module: String,
    /// The MPT type of a validation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The JSON Schema (2020-12) of the payload a webhook receives.
    #[schema(value_type = Object)]
    pub schema: Value,
}

impl From<EventType> for EventTypeOut {
    fn from(event_type: EventType) -> Self {
        EventTypeOut {
            name: event_type.name(),
            description: event_type.description(),
            source: event_type.source(),
            event: crate::vocab::event_name(event_type.event()).to_owned(),
            module: event_type.module(),
            kind: event_type.mpt_type().map(|t| t.to_string()),
            schema: event_type.schema(),
        }
    }
}

/// `?source=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only the event types of this execute path.
    #[param(value_type = Option<TriggerSource>)]
    source: Option<String>,
}

/// The catalogue of event types, in its order.
#[utoipa::path(
    get,
    operation_id = "listEventTypes",
    path = "/public/v1/event-types",
    tag = "event types",
    summary = "The event-type catalogue",
    description = "Every event type the host delivers to webhooks, with the JSON Schema of its payload. A webhook's `eventTypes` names a subset.",
    params(ListQuery),
    responses(
        (status = 200, description = "Every event type (all of them: `$meta.pagination.total` counts them).", body = crate::api::openapi::schemas::Page<EventTypeOut>),
        (status = 400, response = inline(crate::api::openapi::responses::BadInput)),
    ),
)]
async fn list(
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let source = query
        .source
        .map(|s| TriggerSource::parse(&s).map_err(|e| Problem::invalid("source", e.to_string())))
        .transpose()?;
    let data: Vec<EventTypeOut> = EventType::all()
        .into_iter()
        .filter(|t| source.is_none_or(|s| t.source() == s))
        .map(EventTypeOut::from)
        .collect();
    let total = data.len();
    Ok(Json(json!({
        "$meta": {"pagination": {"offset": 0, "limit": total, "total": total}},
        "data": data,
    })))
}

/// One event type.
#[utoipa::path(
    get,
    operation_id = "getEventType",
    path = "/public/v1/event-types/{name}",
    tag = "event types",
    summary = "An event type",
    params(("name" = String, Path, description = "Its name, e.g. `estate.update` (any case).")),
    responses(
        (status = 200, description = "The event type and the JSON Schema of its payload.", body = EventTypeOut),
        (status = 404, description = "No such event type.", body = crate::api::problem::ProblemDocument, content_type = "application/problem+json"),
    ),
)]
async fn one(Path(name): Path<String>) -> Result<Json<EventTypeOut>, Problem> {
    let event_type = EventType::parse(&name)
        .map_err(|unknown| Problem::not_found(format!("event type {:?}", unknown.found)))?;
    Ok(Json(event_type.into()))
}

/// Adds each event type's payload schema to `document` (a serialized OpenAPI document) as
/// `components.schemas["event.<name>"]`, and an OpenAPI 3.1 `webhooks` entry per event type:
/// the request the host makes to a webhook's URL.
pub(crate) fn add_payload_schemas(document: &mut Value) {
    let mut webhooks = serde_json::Map::new();
    for event_type in EventType::all() {
        let name = event_type.name();
        let key = format!("event.{name}");
        let mut schema = event_type.schema();
        if let Some(object) = schema.as_object_mut() {
            // The document's own dialect is 2020-12 already.
            object.remove("$schema");
        }
        document["components"]["schemas"][&key] = schema;
        webhooks.insert(
            name.clone(),
            json!({"post": {
                "summary": name,
                "description": event_type.description(),
                "operationId": format!("deliver.{name}"),
                "tags": ["event types"],
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": format!("#/components/schemas/{key}")}}}},
                "responses": {"2XX": {"description": "Delivered: any 2xx answer. 410 disables the webhook; anything else is retried (429 and 503 honour `Retry-After`)."}},
            }}),
        );
    }
    document["webhooks"] = Value::Object(webhooks);
}
