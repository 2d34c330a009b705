//! The catalogue of event types: every kind of call the dialects make to webhooks, named
//! `<module>.update`, `<module>.process-step`, `ivanti.execute` or `mpt.<type>`, each with a
//! JSON Schema (2020-12) of the payload a webhook receives.
//!
//! A webhook may subscribe to a subset (`eventTypes`); without one it receives every event
//! its modules, type or extension bring it. Operational events about a webhook
//! (`webhook.circuit-opened`, `webhook.circuit-closed`, `webhook.disabled`) go only to the
//! owner's URL webhooks that name them. The API serves the catalogue
//! (`/public/v1/event-types`) and the OpenAPI document carries each payload schema.

use crate::sandbox::Event;
use crate::vocab::{Module, MptType, ObjectType, OpsEvent, RecordModule, TriggerSource, Unknown};
use serde_json::{Value, json};
use std::fmt;

/// One event type of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// smartml `executeMarketplaceWebhooks` for a record of the module.
    RecordUpdate(Module),
    /// A process step for a record of the module.
    ProcessStep(RecordModule),
    /// Ivanti `Webhooks/Execute` (synchronous).
    IvantiExecute,
    /// An MPT validation of the type (synchronous).
    Validation(MptType),
    /// What the host tells a webhook's owner (through the outbox, to webhooks that name it).
    Operational(OpsEvent),
}

impl EventType {
    /// Every event type, in the catalogue's order.
    pub fn all() -> Vec<EventType> {
        let records = Module::ALL.iter().map(|m| EventType::RecordUpdate(*m));
        let steps = RecordModule::ALL.iter().map(|m| EventType::ProcessStep(*m));
        let validations = MptType::ALL
            .iter()
            .filter(|t| t.is_validation())
            .map(|t| EventType::Validation(*t));
        let operational = OpsEvent::ALL.iter().map(|e| EventType::Operational(*e));
        records
            .chain(steps)
            .chain([EventType::IvantiExecute])
            .chain(validations)
            .chain(operational)
            .collect()
    }

    /// Its name: `estate.update`, `address.process-step`, `ivanti.execute`,
    /// `mpt.validatePurchaseOrderDraft`.
    pub fn name(self) -> String {
        self.to_string()
    }

    /// Reads a name, ignoring ASCII case (as the registry reads its words).
    pub fn parse(text: &str) -> Result<EventType, Unknown> {
        EventType::all()
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| Unknown {
                found: text.to_owned(),
                known: EventType::all()
                    .iter()
                    .map(|t| t.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Which execute path produces it.
    pub fn source(self) -> TriggerSource {
        match self {
            EventType::RecordUpdate(_) => TriggerSource::Smartml,
            EventType::ProcessStep(_) => TriggerSource::Process,
            EventType::IvantiExecute => TriggerSource::Ivanti,
            EventType::Validation(_) => TriggerSource::Mpt,
            EventType::Operational(_) => TriggerSource::Operations,
        }
    }

    /// The event of the WIT contract a component receives.
    pub fn event(self) -> Event {
        match self {
            EventType::RecordUpdate(_) => Event::Update,
            EventType::ProcessStep(_) => Event::ProcessStep,
            EventType::IvantiExecute => Event::Execute,
            EventType::Validation(_) => Event::Validate,
            EventType::Operational(_) => Event::Update,
        }
    }

    /// The module or object type of its calls (`module` of an invocation).
    pub fn module(self) -> String {
        match self {
            EventType::RecordUpdate(m) => m.to_string(),
            EventType::ProcessStep(m) => m.to_string(),
            EventType::IvantiExecute => "webhook-body".to_owned(),
            EventType::Validation(t) => t.object_type().to_string(),
            EventType::Operational(_) => "webhook".to_owned(),
        }
    }

    /// The MPT type, for validations.
    pub fn mpt_type(self) -> Option<MptType> {
        match self {
            EventType::Validation(t) => Some(t),
            _ => None,
        }
    }

    /// For humans.
    pub fn description(self) -> String {
        match self {
            EventType::RecordUpdate(m) => format!(
                "A tenant's software saved a {m} record and called smartml executeMarketplaceWebhooks (delivered through the outbox)."
            ),
            EventType::ProcessStep(m) => format!(
                "A step of a tenant's process became due for a linked {m} record (delivered through the outbox)."
            ),
            EventType::IvantiExecute => {
                "An Ivanti client called Webhooks/Execute with the webhook's extension (synchronous).".to_owned()
            }
            EventType::Validation(t) => format!(
                "A tenant asked for the verdict on an {} being edited ({t}, synchronous).",
                t.object_type()
            ),
            EventType::Operational(OpsEvent::CircuitOpened) => "A run of failures opened one of the owner's webhooks' circuit: its deliveries wait, and one probe call at growing intervals decides when they resume.".to_owned(),
            EventType::Operational(OpsEvent::CircuitClosed) => "A probe call to one of the owner's webhooks succeeded: its circuit closed and its deliveries run again.".to_owned(),
            EventType::Operational(OpsEvent::Disabled) => "The host disabled one of the owner's webhooks (410 Gone, a run of failures, or a circuit open for too long).".to_owned(),
        }
    }

    /// The JSON Schema of the payload webhooks receive.
    pub fn schema(self) -> Value {
        let mut schema = match self {
            EventType::RecordUpdate(m) => record_update(m.as_str()),
            EventType::ProcessStep(m) => process_step(m.as_str()),
            EventType::IvantiExecute => json!({
                "description": "The WebhookBody as the Ivanti client sent it: a JSON object when its Content-Type is JSON, XML or other text otherwise.",
                "anyOf": [{"type": "object"}, {"type": "string"}],
            }),
            EventType::Validation(t) => validated_object(t.object_type()),
            EventType::Operational(e) => operational(e),
        };
        let object = schema.as_object_mut().expect("schemas are objects");
        object.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        object.insert("title".into(), json!(self.name()));
        schema
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventType::RecordUpdate(m) => write!(f, "{m}.update"),
            EventType::ProcessStep(m) => write!(f, "{m}.process-step"),
            EventType::IvantiExecute => f.write_str("ivanti.execute"),
            EventType::Validation(t) => write!(f, "mpt.{t}"),
            EventType::Operational(e) => write!(f, "webhook.{e}"),
        }
    }
}

impl serde::Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for EventType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        EventType::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A record's fields as the caller passed them (smartml's record shape).
fn elements() -> Value {
    json!({
        "type": "object",
        "description": "The record's fields as the caller passed them (`parameters.elements` of the smartml action, or the process's linked record), when it did.",
        "additionalProperties": true,
    })
}

fn record_update(module: &str) -> Value {
    json!({
        "type": "object",
        "required": ["tenant", "module", "recordId", "event"],
        "properties": {
            "tenant": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
            },
            "module": {"const": module},
            "recordId": {"type": "string"},
            "event": {"const": "update"},
            "elements": elements(),
        },
        "additionalProperties": false,
    })
}

fn process_step(module: &str) -> Value {
    let nullable_string = json!({"type": ["string", "null"]});
    json!({
        "type": "object",
        "required": ["process", "step", "record"],
        "properties": {
            "process": {
                "type": "object",
                "required": ["id", "templateId", "templateName", "module", "recordId"],
                "properties": {
                    "id": {"type": "string"},
                    "templateId": {"type": "string"},
                    "templateName": {"type": "string"},
                    "owner": nullable_string,
                    "module": {"enum": RecordModule::NAMES},
                    "recordId": {"type": "string"},
                },
            },
            "step": {
                "type": "object",
                "required": ["position", "of", "serviceId"],
                "properties": {
                    "position": {"type": "integer", "minimum": 1},
                    "of": {"type": "integer", "minimum": 1},
                    "name": nullable_string,
                    "serviceId": {"type": "string"},
                    "responsible": nullable_string,
                    "deadline": {"type": ["string", "null"], "format": "date-time"},
                },
            },
            "record": {
                "type": "object",
                "required": ["module", "id"],
                "properties": {"module": {"const": module}, "id": {"type": "string"}},
            },
            "elements": elements(),
        },
        "additionalProperties": false,
    })
}

fn validated_object(object_type: ObjectType) -> Value {
    json!({
        "type": "object",
        "description": format!("The {object_type} being edited, as the tenant sent it; the answer is the same object, possibly changed, with an order-level `error` ({{\"id\", \"message\"}}) when it is invalid."),
        "properties": {
            "id": {"type": ["string", "number"]},
            "error": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "additionalProperties": true,
    })
}

fn operational(event: OpsEvent) -> Value {
    json!({
        "type": "object",
        "required": ["type", "webhook", "message", "at"],
        "properties": {
            "type": {"const": format!("webhook.{event}")},
            "webhook": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string"},
                    "description": {"type": "string"},
                    "url": {"type": "string"},
                },
            },
            "circuit": {
                "type": "object",
                "properties": {
                    "state": {"enum": crate::vocab::CircuitState::NAMES},
                    "openedAt": {"type": ["string", "null"], "format": "date-time"},
                    "nextProbeAt": {"type": ["string", "null"], "format": "date-time"},
                },
            },
            "message": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
        },
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_are_unique() {
        let all = EventType::all();
        for event_type in &all {
            assert_eq!(EventType::parse(&event_type.name()), Ok(*event_type));
            assert_eq!(
                EventType::parse(&event_type.name().to_uppercase()),
                Ok(*event_type)
            );
            let schema = event_type.schema();
            assert_eq!(schema["title"], event_type.name());
        }
        let mut names: Vec<String> = all.iter().map(|t| t.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert_eq!(all.len(), 4 + 2 + 1 + 6 + 3);
        assert!(names.contains(&"estate.update".to_owned()));
        assert!(names.contains(&"mpt.validatePurchaseOrderDraft".to_owned()));
        let unknown = EventType::parse("estate.delete").unwrap_err();
        assert!(unknown.known.starts_with("estate.update, address.update"));
    }
}
