//! onOffice smartml: `POST /api/stable/api.php` (and `/api/latest/api.php`), the action
//! `do` / `executeMarketplaceWebhooks`, wire-exact.
//!
//! The raw body is parsed as JSON whatever the Content-Type. Each action is authenticated on
//! its own (token, HMAC v2, timestamp window, replay) and answered with its own result, in
//! order; a failing action does not stop the others. This module is the one place smartml
//! error codes and envelopes are produced.

use super::AppState;
use crate::crypto::{constant_time_eq, hash_credential};
use crate::store::{NewDelivery, now_ms};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

/// The action id prefix; the action name follows it.
const ACTION_PREFIX: &str = "urn:onoffice-de-ns:smart:2.5:smartml:action:";
/// The actions smartml knows.
const ACTIONS: &[&str] = &["read", "create", "modify", "get", "do", "delete"];
/// Modules whose webhooks `executeMarketplaceWebhooks` triggers.
pub const MODULES: &[&str] = &["estate", "address", "task", "calendar"];

/// Largest request body: a request carries a few actions and, as our extension, a record's
/// fields; anything near this is a mistake or abuse.
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/stable/api.php", post(handle))
        .route("/api/latest/api.php", post(handle))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// A smartml error: code and message as clients expect them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmartError {
    /// The errorcode.
    pub code: u32,
    /// The message.
    pub message: String,
}

impl SmartError {
    fn new(code: u32) -> Self {
        let message = match code {
            1 => "Unknown error occurred",
            4 => "Invalid or malformed JSON",
            9 => "Empty request",
            13 => "Missing or invalid element: token",
            14 => "Missing or invalid element: request",
            15 => "Missing or invalid element: actions",
            16 => "Missing or invalid attribute: actionid",
            18 => "Missing or invalid attribute: resourceid",
            19 => "Missing or invalid attribute: resourcetype",
            20 => "Missing or invalid element: parameters",
            22 => "Not authenticated",
            97 => "Error in action",
            136 => "Your timestamp is too old or your server time is wrong.",
            137 => "The HMAC is invalid.",
            240 => "Call for Marketplace Api-Users not allowed",
            _ => "Unknown error occurred",
        };
        SmartError {
            code,
            message: message.to_owned(),
        }
    }

    fn with(code: u32, message: String) -> Self {
        SmartError { code, message }
    }
}

/// `base64(HMAC-SHA256(secret, timestamp ‖ token ‖ resourcetype ‖ actionid))`.
pub fn hmac_v2(
    secret: &str,
    timestamp: &str,
    token: &str,
    resourcetype: &str,
    actionid: &str,
) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    mac.update(resourcetype.as_bytes());
    mac.update(actionid.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn envelope(code: u16, error: Option<&SmartError>, results: Vec<Value>) -> Response {
    let (errorcode, message) = match error {
        Some(e) => (e.code, e.message.as_str()),
        None => (0, "OK"),
    };
    let body = json!({
        "status": {"code": code, "errorcode": errorcode, "message": message},
        "response": {"results": results},
    });
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    (status, axum::Json(body)).into_response()
}

/// The fields of an action echoed in its result.
struct Echo {
    actionid: String,
    resourceid: String,
    resourcetype: String,
    identifier: String,
}

fn result(echo: &Echo, outcome: &Result<Vec<Value>, SmartError>) -> Value {
    let cacheable = matches!(
        echo.actionid.strip_prefix(ACTION_PREFIX),
        Some("read" | "get")
    );
    let (records, status) = match outcome {
        Ok(records) => (records.clone(), json!({"errorcode": 0, "message": "OK"})),
        Err(e) => (
            Vec::new(),
            json!({"errorcode": e.code, "message": e.message}),
        ),
    };
    json!({
        "actionid": echo.actionid,
        "resourceid": echo.resourceid,
        "resourcetype": echo.resourcetype,
        "cacheable": cacheable,
        "identifier": echo.identifier,
        "data": {"meta": {"cntabsolute": null}, "records": records},
        "status": status,
    })
}

/// Text of a string-or-number attribute.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

async fn handle(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(body) => body,
        // No errorcode means "too large": 1 with a message saying what happened, and the
        // HTTP status in status.code as for every other answer.
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let error = SmartError::with(
                1,
                format!("Request body too large: at most {MAX_BODY_BYTES} bytes"),
            );
            return envelope(413, Some(&error), Vec::new());
        }
        Err(_) => return envelope(400, Some(&SmartError::new(4)), Vec::new()),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return envelope(400, Some(&SmartError::new(9)), Vec::new());
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return envelope(400, Some(&SmartError::new(4)), Vec::new());
    };
    let Some(request) = request.as_object() else {
        return envelope(400, Some(&SmartError::new(4)), Vec::new());
    };
    let token = match request.get("token").and_then(Value::as_str) {
        Some(token) if !token.is_empty() => token,
        _ => return envelope(400, Some(&SmartError::new(13)), Vec::new()),
    };
    let Some(inner) = request.get("request").and_then(Value::as_object) else {
        return envelope(400, Some(&SmartError::new(14)), Vec::new());
    };
    let actions = match inner.get("actions").and_then(Value::as_array) {
        Some(actions) if !actions.is_empty() => actions,
        _ => return envelope(400, Some(&SmartError::new(15)), Vec::new()),
    };

    let mut results = Vec::with_capacity(actions.len());
    let mut not_authenticated = false;
    let mut failed = false;
    for action in actions {
        let empty = Map::new();
        let action = action.as_object().unwrap_or(&empty);
        let echo = Echo {
            actionid: text(action.get("actionid")).unwrap_or_default(),
            resourceid: text(action.get("resourceid")).unwrap_or_default(),
            resourcetype: text(action.get("resourcetype")).unwrap_or_default(),
            identifier: text(action.get("identifier")).unwrap_or_default(),
        };
        let outcome = run_action(&state, token, action).await;
        if let Err(error) = &outcome {
            failed = true;
            not_authenticated |= error.code == 22;
        }
        results.push(result(&echo, &outcome));
    }
    if not_authenticated {
        envelope(400, Some(&SmartError::new(22)), results)
    } else if failed {
        envelope(200, Some(&SmartError::new(97)), results)
    } else {
        envelope(200, None, results)
    }
}

/// Validates, authenticates and dispatches one action; `Ok` holds its records.
async fn run_action(
    state: &AppState,
    token: &str,
    action: &Map<String, Value>,
) -> Result<Vec<Value>, SmartError> {
    let actionid = match action.get("actionid").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id,
        _ => return Err(SmartError::new(16)),
    };
    let resourceid = text(action.get("resourceid")).ok_or_else(|| SmartError::new(18))?;
    let resourcetype = action
        .get("resourcetype")
        .and_then(Value::as_str)
        .ok_or_else(|| SmartError::new(19))?;
    let parameters = match action.get("parameters") {
        Some(Value::Object(p)) => p.clone(),
        // PHP encodes an empty array as `[]`.
        Some(Value::Array(a)) if a.is_empty() => Map::new(),
        _ => return Err(SmartError::new(20)),
    };

    let user = authenticate(state, token, resourcetype, actionid, action).await?;

    let verb = actionid
        .strip_prefix(ACTION_PREFIX)
        .filter(|verb| ACTIONS.contains(verb))
        .ok_or_else(|| {
            SmartError::with(
                23,
                format!("Missing configuration for actionId \"{actionid}\""),
            )
        })?;
    match (verb, resourcetype) {
        ("do", "executeMarketplaceWebhooks") => {
            if user.marketplace {
                return Err(SmartError::new(240));
            }
            execute_marketplace_webhooks(state, &user.tenant_id, &resourceid, &parameters).await
        }
        _ => Err(SmartError::with(
            25,
            format!("Missing configuration for resourceType \"{resourcetype}\""),
        )),
    }
}

/// Token lookup, HMAC v2 (constant-time), timestamp window, replay refusal.
async fn authenticate(
    state: &AppState,
    token: &str,
    resourcetype: &str,
    actionid: &str,
    action: &Map<String, Value>,
) -> Result<crate::store::ApiUser, SmartError> {
    let hmac = match action.get("hmac") {
        Some(Value::String(h)) => h.as_str(),
        Some(_) => {
            return Err(SmartError::with(
                243,
                "The HMAC is invalid. \"hmac\" should be passed as string".into(),
            ));
        }
        None => return Err(SmartError::new(22)),
    };
    let version = text(action.get("hmac_version"));
    if version.as_deref() != Some("2") {
        return Err(SmartError::new(22));
    }
    let timestamp = text(action.get("timestamp")).ok_or_else(|| SmartError::new(22))?;
    let seconds: i64 = timestamp.parse().map_err(|_| SmartError::new(22))?;
    let (user, secret) = match state.store.api_user_by_token(&state.key, token).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(SmartError::new(22)),
        Err(error) => {
            tracing::error!(error = %error, "smartml token lookup failed");
            return Err(SmartError::new(1));
        }
    };
    let window = state.config.smartml.timestamp_window_secs;
    if (now_ms() / 1000 - seconds).abs() > window {
        return Err(SmartError::new(136));
    }
    let expected = hmac_v2(&secret, &timestamp, token, resourcetype, actionid);
    if !constant_time_eq(expected.as_bytes(), hmac.as_bytes()) {
        return Err(SmartError::new(137));
    }
    // A replay is the same signed action sent again. The HMAC does not cover the record or
    // the parameters, so different actions signed in the same second share it: the action's
    // own digest tells them apart.
    let action_digest = hash_credential(&Value::Object(action.clone()).to_string());
    let replay_key = format!("{hmac}:{action_digest}");
    let expires = (seconds + window + 1) * 1000;
    match state
        .store
        .first_use_of_hmac(&hash_credential(token), seconds, &replay_key, expires)
        .await
    {
        Ok(true) => Ok(user),
        Ok(false) => {
            tracing::info!(user = %user.id, "smartml action replayed; refused");
            Err(SmartError::new(137))
        }
        Err(error) => {
            tracing::error!(error = %error, "smartml replay check failed");
            Err(SmartError::new(1))
        }
    }
}

/// Plans one delivery per enabled, matching webhook of the tenant for the module, in one
/// transaction, and answers at once; the delivery workers run them.
async fn execute_marketplace_webhooks(
    state: &AppState,
    tenant_id: &str,
    record_id: &str,
    parameters: &Map<String, Value>,
) -> Result<Vec<Value>, SmartError> {
    let module = match parameters.get("module") {
        None => return Err(SmartError::with(167, "Missing parameter \"module\"".into())),
        Some(Value::String(m)) if MODULES.contains(&m.as_str()) => m.as_str(),
        Some(_) => return Err(SmartError::new(20)),
    };
    if record_id.is_empty() {
        return Err(SmartError::new(18));
    }
    let internal = |context: &str, error: &dyn std::fmt::Display| {
        tracing::error!(error = %error, "{context}");
        SmartError::new(1)
    };
    let lookups = state.executor.lookups();
    let tenant_name = lookups
        .tenant_name(tenant_id)
        .await
        .map_err(|e| internal("reading the tenant", &e))?;
    let webhooks = lookups
        .module_webhooks(tenant_id, module)
        .await
        .map_err(|e| internal("resolving webhooks", &e))?;
    let mut trigger = json!({
        "tenant": {"id": tenant_id, "name": tenant_name},
        "module": module,
        "recordId": record_id,
        "event": "update",
    });
    // Our extension: the caller may pass the saved record's fields as `parameters.elements`
    // (the shape smartml uses for records), so handlers need not fetch the record back.
    match parameters.get("elements") {
        None => {}
        Some(elements @ Value::Object(_)) => trigger["elements"] = elements.clone(),
        Some(_) => return Err(SmartError::new(20)),
    }
    let payload = trigger.to_string();
    let mut planned = Vec::new();
    for webhook in webhooks
        .iter()
        .filter(|w| super::criteria_match(&w.criteria, &trigger))
    {
        planned.push(NewDelivery {
            webhook_id: webhook.id.clone(),
            tenant_id: tenant_id.to_owned(),
            trigger: "smartml".into(),
            module: module.to_owned(),
            record_id: record_id.to_owned(),
            event: "update".into(),
            payload: payload.clone(),
            // The activation's parameters are read when the call is made (`exec`): secret
            // ones never lie in the outbox in clear.
            parameters: Vec::new(),
        });
    }
    if !planned.is_empty() {
        state
            .store
            .plan_deliveries(&planned)
            .await
            .map_err(|e| internal("planning deliveries", &e))?;
        state.wake.notify_waiters();
    }
    Ok(vec![
        json!({"id": 0, "type": "", "elements": {"result": "success"}}),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_test_vector_verifies() {
        let hmac = hmac_v2(
            "yOJobbhGLXdp90XxvxedFhH7073L9U",
            "123456789",
            "mgjIQkNRnaqggVzy9cZW",
            "estateCategories",
            "urn:onoffice-de-ns:smart:2.5:smartml:action:get",
        );
        assert_eq!(hmac, "dsvg3r4AFcQXges0MZ+3auzQVfnEB39pLkKSgmm9Wvg=");
    }
}
