//! {{name}}: a hookhost plugin.
//!
//! The host calls `handle` once per webhook call; see the hookhost-sdk docs for the
//! invocation, the outcome, the failures and the host services (log, config, secret, kv,
//! http). `export!(Plugin: handler, activation)` would also export an activation check
//! (`impl hookhost_sdk::ActivationCheck`), `export!(T: transform)` a transform.

use hookhost_sdk::{Failure, Handler, Invocation, Outcome, config, kv, log, secret};
use serde_json::{Value, json};

struct Plugin;

impl Handler for Plugin {
    fn handle(inv: Invocation) -> Result<Outcome, Failure> {
        // A payload that is not JSON becomes `invalid-input` (final, not retried).
        let payload: Value = inv.payload_json()?;
        let fields = payload.as_object().map_or(0, |o| o.len());
        if fields == 0 {
            // A business "no": final, not retried.
            return Err(Failure::rejected("the record has no fields"));
        }
        // Activation parameters of the tenant (`hookhost plugin run --set greeting=…`).
        let greeting = config::get_or("greeting", "Hallo");
        // Secret parameters (sealed at rest, masked in every API) are read apart
        // (`hookhost plugin run --secret api_key=…`); `config` does not return them.
        let api_key_set = secret::get("api_key").is_some();
        // The key-value store is scoped to the tenant and the service.
        let calls = kv::get("calls")
            .and_then(|v| String::from_utf8(v).ok()?.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        if let Err(error) = kv::set("calls", calls.to_string().as_bytes()) {
            log::warn(&format!("could not count the call: {error}"));
        }
        log::info(&format!(
            "{} {} for tenant {}",
            inv.module, inv.record_id, inv.tenant.id
        ));
        Outcome::json(&json!({
            "greeting": greeting,
            "module": inv.module,
            "recordId": inv.record_id,
            "fields": fields,
            "calls": calls,
            "apiKeySet": api_key_set,
        }))
    }
}

hookhost_sdk::export!(Plugin);
