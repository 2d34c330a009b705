//! # echo: a hookhost plugin that returns its invocation
//!
//! The body is the invocation as a JSON object:
//!
//! ```json
//! {"webhookId":"WBH-…","tenant":{"id":"…","name":"…"},"module":"estate","recordId":"15",
//!  "event":"update","payload":{…},"parameters":{"name":"value"},
//!  "deliveryId":"…","attempt":1}
//! ```
//!
//! `payload` is the parsed JSON when the payload is JSON, else the payload text as a string.
//! `parameters` is an object (the last value wins for a repeated name). No field updates.
//!
//! The host's tests and benchmarks use it to see exactly what a component receives, so it does
//! as little as possible: no logging, no host calls, and a JSON payload is copied, not parsed
//! into a tree.

use std::collections::BTreeMap;

use hookhost_sdk::{Failure, Handler, Invocation, Outcome};
use serde::Serialize;
use serde_json::value::RawValue;

/// The plugin.
pub struct Echo;

impl Handler for Echo {
    fn handle(inv: Invocation) -> Result<Outcome, Failure> {
        Ok(Outcome::raw_json(echo_body(&inv)?))
    }
}

hookhost_sdk::export!(Echo);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    webhook_id: &'a str,
    tenant: Tenant<'a>,
    module: &'a str,
    record_id: &'a str,
    event: &'static str,
    payload: Payload<'a>,
    parameters: BTreeMap<&'a str, &'a str>,
    delivery_id: &'a str,
    attempt: u32,
}

#[derive(Serialize)]
struct Tenant<'a> {
    id: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Payload<'a> {
    Json(&'a RawValue),
    Text(&'a str),
}

/// The echo body for `inv` (see the crate docs).
pub fn echo_body(inv: &Invocation) -> Result<String, Failure> {
    let payload = match serde_json::from_str::<&RawValue>(&inv.payload) {
        Ok(raw) => Payload::Json(raw),
        Err(_) => Payload::Text(&inv.payload),
    };
    let body = Body {
        webhook_id: &inv.webhook_id,
        tenant: Tenant {
            id: &inv.tenant.id,
            name: &inv.tenant.name,
        },
        module: &inv.module,
        record_id: &inv.record_id,
        event: inv.event.as_str(),
        payload,
        parameters: inv
            .parameters
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect(),
        delivery_id: &inv.delivery_id,
        attempt: inv.attempt,
    };
    serde_json::to_string(&body)
        .map_err(|e| Failure::temporary(format!("cannot serialize echo body: {e}")))
}

// The host services are faked by `hookhost_sdk::testing`, which exists on native targets only.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use hookhost_sdk::{Param, testing};
    use serde_json::{Value, json};

    #[test]
    fn json_payload_is_embedded_as_json() {
        let mut inv = testing::invocation("estate", "15", r#" {"kaufpreis": 1, "x": [1,2]} "#);
        inv.parameters = vec![
            Param {
                name: "a".into(),
                value: "1".into(),
            },
            Param {
                name: "a".into(),
                value: "2".into(),
            },
        ];
        let out = Echo::handle(inv).unwrap();
        let v: Value = serde_json::from_str(&out.body).unwrap();
        assert_eq!(
            v,
            json!({"webhookId":"WBH-0000-0000","tenant":{"id":"tenant-test","name":"Test tenant"},
                   "module":"estate","recordId":"15","event":"test",
                   "payload":{"kaufpreis":1,"x":[1,2]},"parameters":{"a":"2"},
                   "deliveryId":"delivery-test","attempt":1})
        );
        assert!(out.updates.is_empty());
    }

    #[test]
    fn other_payloads_are_strings() {
        for text in ["<xml a=\"1\"/>", "", "{broken"] {
            let out = Echo::handle(testing::invocation("webhook-body", "", text)).unwrap();
            let v: Value = serde_json::from_str(&out.body).unwrap();
            assert_eq!(v["payload"], Value::String(text.into()));
        }
    }
}
