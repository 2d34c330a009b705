//! onOffice smartml: `POST /api/stable/api.php` (and `/api/latest/api.php`), the action
//! `do` / `executeMarketplaceWebhooks`, wire-exact.
//!
//! The raw body is parsed as JSON whatever the Content-Type, into at most
//! `smartml.max_actions` actions. Each action is authenticated on its own (token, HMAC v2,
//! timestamp window) and answered with its own result, in order; a failing action does not
//! stop the others. An HMAC is good for one request: the request records its distinct HMACs
//! once, and a later request carrying one of them is refused (see `authenticate`). This
//! module is the one place smartml error codes and envelopes are produced.

use super::AppState;
use crate::crypto::{constant_time_eq, hash_credential};
use crate::events::EventType;
use crate::sandbox::Event;
use crate::store::NewDelivery;
use crate::time::now_ms;
use crate::vocab::{Module, TriggerSource};
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
use std::collections::BTreeMap;

/// The action id prefix; the action name follows it.
const ACTION_PREFIX: &str = "urn:onoffice-de-ns:smart:2.5:smartml:action:";
/// The actions smartml knows.
const ACTIONS: &[&str] = &["read", "create", "modify", "get", "do", "delete"];

/// Largest request body: a request carries a few actions and, as our extension, a record's
/// fields; anything near this is a mistake or abuse.
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// This module's part of the OpenAPI document ([`super::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(handle, handle_latest))]
pub(crate) struct Doc;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/stable/api.php", post(handle))
        .route("/api/latest/api.php", post(handle_latest))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Every errorcode this module answers with and its message (`%s`: the value at fault), for
/// the OpenAPI document; `the_documented_codes_are_the_answered_ones` holds it to
/// [`SmartError::new`].
pub const ERROR_CODES: &[(u32, &str)] = &[
    (0, "OK"),
    (
        1,
        "Unknown error occurred (also: a body over the size limit, with its own message)",
    ),
    (4, "Invalid or malformed JSON"),
    (9, "Empty request"),
    (13, "Missing or invalid element: token"),
    (14, "Missing or invalid element: request"),
    (
        15,
        "Missing or invalid element: actions (also: more actions than `smartml.max_actions`)",
    ),
    (16, "Missing or invalid attribute: actionid"),
    (18, "Missing or invalid attribute: resourceid"),
    (19, "Missing or invalid attribute: resourcetype"),
    (20, "Missing or invalid element: parameters"),
    (22, "Not authenticated"),
    (23, "Missing configuration for actionId \"%s\""),
    (25, "Missing configuration for resourceType \"%s\""),
    (97, "Error in action"),
    (
        136,
        "Your timestamp is too old or your server time is wrong.",
    ),
    (137, "The HMAC is invalid."),
    (167, "Missing parameter \"%s\""),
    (240, "Call for Marketplace Api-Users not allowed"),
    (
        243,
        "The HMAC is invalid. \"hmac\" should be passed as string",
    ),
];

/// An errorcode of [`ERROR_CODES`].
#[derive(serde::Serialize)]
#[serde(transparent)]
pub struct ErrorCode(pub u32);

impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let table: Vec<String> = ERROR_CODES
            .iter()
            .map(|(code, message)| format!("- {code}: {message}"))
            .collect();
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .enum_values(Some(ERROR_CODES.iter().map(|(code, _)| *code)))
            .description(Some(format!("smartml's errorcode:\n{}", table.join("\n"))))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

/// A text that clients send as a string or a number (`"2"` or `2`).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum TextOrNumber {
    /// As text.
    Text(String),
    /// As a number.
    Number(i64),
}

/// A smartml request: the token, and actions each signed with HMAC v2.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SmartmlRequest {
    /// The API user's token (32 characters).
    pub token: String,
    /// The actions.
    pub request: SmartmlActions,
}

/// `request` of a smartml request.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SmartmlActions {
    /// At most `smartml.max_actions` (100) actions; each is answered in its own result.
    pub actions: Vec<SmartmlAction>,
}

/// One action: `do` / `executeMarketplaceWebhooks` is the one this host performs.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SmartmlAction {
    /// `urn:onoffice-de-ns:smart:2.5:smartml:action:do`
    pub actionid: String,
    /// The record id.
    pub resourceid: TextOrNumber,
    /// `executeMarketplaceWebhooks`
    pub resourcetype: String,
    /// May be empty.
    #[schema(required = false)]
    pub identifier: String,
    /// Unix seconds, within `smartml.timestamp_window_secs` of the host's clock.
    pub timestamp: TextOrNumber,
    /// `base64(HMAC-SHA256(secret, timestamp ‖ token ‖ resourcetype ‖ actionid))`; good for
    /// one request.
    pub hmac: String,
    /// `"2"` or `2`.
    pub hmac_version: TextOrNumber,
    /// `module` (estate, address, task, calendar) and, as this host's extension, `elements`:
    /// the saved record's fields, passed on to the webhooks.
    pub parameters: serde_json::Map<String, serde_json::Value>,
}

/// The smartml answer: the request's status and one result per action, in order. The HTTP
/// status is `status.code`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmartmlResponse {
    /// How the request went: errorcode 97 when an action failed (its own status says why).
    pub status: SmartmlStatus,
    /// The results.
    pub response: SmartmlResults,
}

/// `status` of a smartml answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmartmlStatus {
    /// The HTTP status: 200, 400 (the request is malformed or not authenticated) or 413.
    pub code: u16,
    /// 0 when every action succeeded.
    pub errorcode: ErrorCode,
    /// The errorcode's message.
    pub message: String,
}

/// `response` of a smartml answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmartmlResults {
    /// One per action, in order; none when the request as a whole was refused.
    pub results: Vec<SmartmlResult>,
}

/// The result of one action.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmartmlResult {
    /// As sent.
    pub actionid: String,
    /// As sent.
    pub resourceid: String,
    /// As sent.
    pub resourcetype: String,
    /// True for read and get actions.
    pub cacheable: bool,
    /// As sent.
    pub identifier: String,
    /// The records; none when the action failed.
    pub data: SmartmlData,
    /// The action's own status.
    pub status: SmartmlActionStatus,
}

/// `data` of a result.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmartmlData {
    /// `{"cntabsolute": null}`
    pub meta: SmartmlMeta,
    /// `[{"id": 0, "type": "", "elements": {"result": "success"}}]` for a trigger.
    pub records: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// `data.meta` of a result.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmartmlMeta {
    /// Always `null` here.
    pub cntabsolute: Option<i64>,
}

/// The status of one action.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmartmlActionStatus {
    /// 0 when it succeeded.
    pub errorcode: ErrorCode,
    /// The errorcode's message.
    pub message: String,
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// A request as parsed: its token and its actions. Faults of the request as a whole are a
/// [`SmartError`] of [`parse_request`]; an action's own fault is kept in [`Parsed::action`],
/// because it is answered in that action's result while the others still run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    token: String,
    actions: Vec<Parsed>,
}

/// One action of a request: what its result echoes, and what it asks (or why it cannot run).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parsed {
    echo: Echo,
    action: Result<Action, SmartError>,
}

/// A well-formed action with HMAC v2 credentials, not yet authenticated. Only its fields
/// count: how the client encoded them (key order, extra keys, `"2"` or `2`) does not.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Action {
    actionid: String,
    resourceid: String,
    resourcetype: String,
    parameters: Map<String, Value>,
    /// The timestamp as signed: its text.
    timestamp: String,
    /// The timestamp in seconds.
    seconds: i64,
    hmac: String,
}

/// Parses a request body; an `Err` answers the whole request (in the envelope, status 400).
///
/// A request has at most `max_actions` actions (errorcode 15 beyond it, and nothing runs):
/// the actions of one request may share an HMAC, which signs neither the record nor the
/// parameters, so without a bound one signed request could plan any number of deliveries.
fn parse_request(body: &[u8], max_actions: usize) -> Result<Request, SmartError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(SmartError::new(9));
    }
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(body) else {
        return Err(SmartError::new(4));
    };
    let token = match request.get("token").and_then(Value::as_str) {
        Some(token) if !token.is_empty() => token,
        _ => return Err(SmartError::new(13)),
    };
    let Some(inner) = request.get("request").and_then(Value::as_object) else {
        return Err(SmartError::new(14));
    };
    let actions = match inner.get("actions").and_then(Value::as_array) {
        Some(actions) if !actions.is_empty() && actions.len() <= max_actions => actions,
        _ => return Err(SmartError::new(15)),
    };
    let empty = Map::new();
    let actions = actions
        .iter()
        .map(|action| {
            let action = action.as_object().unwrap_or(&empty);
            Parsed {
                echo: Echo {
                    actionid: text(action.get("actionid")).unwrap_or_default(),
                    resourceid: text(action.get("resourceid")).unwrap_or_default(),
                    resourcetype: text(action.get("resourcetype")).unwrap_or_default(),
                    identifier: text(action.get("identifier")).unwrap_or_default(),
                },
                action: parse_action(action),
            }
        })
        .collect();
    Ok(Request {
        token: token.to_owned(),
        actions,
    })
}

/// The mandatory attributes, then the credentials' shape (errorcodes 16–20, then 243 / 22).
fn parse_action(action: &Map<String, Value>) -> Result<Action, SmartError> {
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
    let hmac = match action.get("hmac") {
        Some(Value::String(h)) => h.clone(),
        Some(_) => {
            return Err(SmartError::with(
                243,
                "The HMAC is invalid. \"hmac\" should be passed as string".into(),
            ));
        }
        None => return Err(SmartError::new(22)),
    };
    if text(action.get("hmac_version")).as_deref() != Some("2") {
        return Err(SmartError::new(22));
    }
    let timestamp = text(action.get("timestamp")).ok_or_else(|| SmartError::new(22))?;
    let seconds = timestamp.parse().map_err(|_| SmartError::new(22))?;
    Ok(Action {
        actionid: actionid.to_owned(),
        resourceid,
        resourcetype: resourcetype.to_owned(),
        parameters,
        timestamp,
        seconds,
        hmac,
    })
}

#[utoipa::path(
    post,
    operation_id = "smartmlStable",
    path = "/api/stable/api.php",
    tag = "smartml",
    summary = "Execute smartml actions",
    description = "The raw body is read as JSON whatever its Content-Type. Each action is authenticated on its own (token, HMAC v2, timestamp window, no replay) and answered in its own result; `do` / `executeMarketplaceWebhooks` plans one delivery per enabled, matching webhook of the tenant for `parameters.module` and answers at once. Errors are smartml envelopes whose `status.code` is the HTTP status.",
    request_body(content = SmartmlRequest, content_type = "application/json", description = "At most 2 MiB."),
    responses(
        (status = 200, description = "Every action's result; errorcode 97 when one of them failed.", body = SmartmlResponse),
        (status = 400, description = "A malformed request (errorcodes 4, 9, 13, 14, 15, no results) or an action that was not authenticated (errorcode 22).", body = SmartmlResponse),
        (status = 413, description = "The body is over 2 MiB (errorcode 1).", body = SmartmlResponse),
    ),
)]
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
    let request = match parse_request(&body, state.config.smartml.max_actions) {
        Ok(request) => request,
        Err(error) => return envelope(400, Some(&error), Vec::new()),
    };
    let users = authenticate(&state, &request).await;

    let mut results = Vec::with_capacity(request.actions.len());
    let mut not_authenticated = false;
    let mut failed = false;
    for (parsed, user) in request.actions.iter().zip(users) {
        let outcome = match (&parsed.action, user) {
            (Ok(action), Ok(user)) => dispatch(&state, &user, action).await,
            (_, Err(error)) => Err(error),
            (Err(error), Ok(_)) => Err(error.clone()),
        };
        if let Err(error) = &outcome {
            failed = true;
            not_authenticated |= error.code == 22;
        }
        results.push(result(&parsed.echo, &outcome));
    }
    if not_authenticated {
        envelope(400, Some(&SmartError::new(22)), results)
    } else if failed {
        envelope(200, Some(&SmartError::new(97)), results)
    } else {
        envelope(200, None, results)
    }
}

#[utoipa::path(
    post,
    operation_id = "smartmlLatest",
    path = "/api/latest/api.php",
    tag = "smartml",
    summary = "Execute smartml actions (the `latest` URL)",
    description = "The raw body is read as JSON whatever its Content-Type. Each action is authenticated on its own (token, HMAC v2, timestamp window, no replay) and answered in its own result; `do` / `executeMarketplaceWebhooks` plans one delivery per enabled, matching webhook of the tenant for `parameters.module` and answers at once. Errors are smartml envelopes whose `status.code` is the HTTP status.",
    request_body(content = SmartmlRequest, content_type = "application/json", description = "At most 2 MiB."),
    responses(
        (status = 200, description = "Every action's result; errorcode 97 when one of them failed.", body = SmartmlResponse),
        (status = 400, description = "A malformed request (errorcodes 4, 9, 13, 14, 15, no results) or an action that was not authenticated (errorcode 22).", body = SmartmlResponse),
        (status = 413, description = "The body is over 2 MiB (errorcode 1).", body = SmartmlResponse),
    ),
)]
/// `/api/latest/api.php`: the same as `/api/stable/api.php`.
async fn handle_latest(state: State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    handle(state, body).await
}

/// Authenticates every action of the request: token, timestamp window, HMAC v2 (constant
/// time), replay. Returns, in order, each action's API user or why it was refused (a
/// malformed action keeps its parse error).
///
/// An HMAC is good for one request. It signs only the timestamp, token, resourcetype and
/// actionid, so a captured action re-sent with another record, other parameters or merely
/// re-encoded carries the same HMAC: nothing but the HMAC tells a replay apart. The actions
/// of one request may share it (a client batching within one second signs them alike), so
/// the request records each distinct HMAC once; a later request carrying it inside the
/// window is refused (137), on any instance, whatever else it changed.
async fn authenticate(
    state: &AppState,
    request: &Request,
) -> Vec<Result<crate::store::ApiUser, SmartError>> {
    let window = state.config.smartml.timestamp_window_secs;
    let now = now_ms() / 1000;
    // Every action carries the request's token: look it up once, when an action needs it.
    let mut found = None;
    let mut users = Vec::with_capacity(request.actions.len());
    for parsed in &request.actions {
        let action = match &parsed.action {
            Ok(action) => action,
            Err(error) => {
                users.push(Err(error.clone()));
                continue;
            }
        };
        if found.is_none() {
            found = Some(
                match state
                    .store
                    .api_user_by_token(&state.key, &request.token)
                    .await
                {
                    Ok(found) => Ok(found),
                    Err(error) => {
                        tracing::error!(error = %error, "smartml token lookup failed");
                        Err(SmartError::new(1))
                    }
                },
            );
        }
        let verdict = match found.as_ref().expect("looked up above") {
            Ok(Some((user, secret))) => {
                verify(action, secret, &request.token, now, window).map(|()| user.clone())
            }
            Ok(None) => Err(SmartError::new(22)),
            Err(error) => Err(error.clone()),
        };
        users.push(verdict);
    }

    // The HMACs of the authenticated actions, each once, kept until their timestamp leaves
    // the window (afterwards it is refused with 136 anyway).
    let mut hmacs = BTreeMap::new();
    for (parsed, user) in request.actions.iter().zip(&users) {
        if let (Ok(action), Ok(_)) = (&parsed.action, user) {
            let expires_at =
                (action.seconds.saturating_add(window).saturating_add(1)).saturating_mul(1000);
            let entry = hmacs.entry(action.hmac.clone()).or_insert(expires_at);
            *entry = (*entry).max(expires_at);
        }
    }
    if hmacs.is_empty() {
        return users;
    }
    let first_uses = state
        .store
        .first_uses_of_hmacs(&hash_credential(&request.token), &hmacs)
        .await;
    for (parsed, user) in request.actions.iter().zip(users.iter_mut()) {
        let (Ok(action), Ok(api_user)) = (&parsed.action, &*user) else {
            continue;
        };
        match &first_uses {
            Ok(new) if new.contains(&action.hmac) => {}
            Ok(_) => {
                tracing::info!(user = %api_user.id, "smartml HMAC replayed; refused");
                *user = Err(SmartError::new(137));
            }
            Err(error) => {
                tracing::error!(error = %error, "smartml replay check failed");
                *user = Err(SmartError::new(1));
            }
        }
    }
    users
}

/// The timestamp window (136), then the HMAC v2 in constant time (137).
fn verify(
    action: &Action,
    secret: &str,
    token: &str,
    now: i64,
    window: i64,
) -> Result<(), SmartError> {
    // In i128: a timestamp near i64::MIN must not overflow the difference.
    if (i128::from(now) - i128::from(action.seconds)).abs() > i128::from(window) {
        return Err(SmartError::new(136));
    }
    let expected = hmac_v2(
        secret,
        &action.timestamp,
        token,
        &action.resourcetype,
        &action.actionid,
    );
    if !constant_time_eq(expected.as_bytes(), action.hmac.as_bytes()) {
        return Err(SmartError::new(137));
    }
    Ok(())
}

/// Dispatches an authenticated action by (actionid, resourcetype); `Ok` holds its records.
async fn dispatch(
    state: &AppState,
    user: &crate::store::ApiUser,
    action: &Action,
) -> Result<Vec<Value>, SmartError> {
    let (actionid, resourcetype) = (action.actionid.as_str(), action.resourcetype.as_str());
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
            execute_marketplace_webhooks(
                state,
                &user.tenant_id,
                &action.resourceid,
                &action.parameters,
            )
            .await
        }
        _ => Err(SmartError::with(
            25,
            format!("Missing configuration for resourceType \"{resourcetype}\""),
        )),
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
        // The modules whose webhooks it triggers are the registry's.
        Some(Value::String(m)) => Module::parse(m).map_err(|_| SmartError::new(20))?,
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
        .module_webhooks(tenant_id, module.as_str())
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
    let traceparent = crate::telemetry::current_traceparent();
    let mut planned = Vec::new();
    for webhook in webhooks
        .iter()
        .filter(|w| w.subscribes_to(EventType::RecordUpdate(module)))
        .filter(|w| crate::exec::criteria_match(&w.criteria, &trigger))
    {
        planned.push(NewDelivery {
            webhook_id: webhook.id.clone(),
            tenant_id: tenant_id.to_owned(),
            trigger: TriggerSource::Smartml,
            module: module.as_str().to_owned(),
            record_id: record_id.to_owned(),
            event: Event::Update,
            payload: payload.clone(),
            // The activation's parameters are read when the call is made (`exec`): secret
            // ones never lie in the outbox in clear.
            parameters: Vec::new(),
            ordered: webhook.fifo,
            traceparent: traceparent.clone(),
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
    use proptest::prelude::*;

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

    /// Codes a request as a whole may be refused with.
    const REQUEST_CODES: &[u32] = &[4, 9, 13, 14, 15];
    /// Codes the parser may give one action.
    const ACTION_CODES: &[u32] = &[16, 18, 19, 20, 22, 243];
    const MAX: usize = 100;

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
            // Values the parser looks for, so the generator reaches past the first checks.
            Just(json!("2")),
            Just(json!(ACTION_PREFIX.to_owned() + "do")),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop_oneof![
                            Just("token".to_owned()),
                            Just("request".to_owned()),
                            Just("actions".to_owned()),
                            Just("actionid".to_owned()),
                            Just("resourceid".to_owned()),
                            Just("resourcetype".to_owned()),
                            Just("parameters".to_owned()),
                            Just("hmac".to_owned()),
                            Just("hmac_version".to_owned()),
                            Just("timestamp".to_owned()),
                            "[a-z]{0,6}",
                        ],
                        inner
                    ),
                    0..6
                )
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    /// The fields of a well-formed action.
    fn arb_action() -> impl Strategy<Value = Action> {
        (
            ".{1,20}",
            ".{0,10}",
            ".{0,20}",
            prop::collection::btree_map("[a-z]{1,8}", ".{0,8}", 0..4),
            any::<i64>(),
            ".{0,44}",
        )
            .prop_map(
                |(actionid, resourceid, resourcetype, parameters, seconds, hmac)| Action {
                    actionid,
                    resourceid,
                    resourcetype,
                    parameters: parameters
                        .into_iter()
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect(),
                    timestamp: seconds.to_string(),
                    seconds,
                    hmac,
                },
            )
    }

    /// `action` as a client sends it: key order, spelling of `hmac_version`, extra keys.
    fn encode(action: &Action, order: &[usize], numeric_version: bool, junk: bool) -> Value {
        let mut fields = vec![
            ("actionid", json!(action.actionid)),
            ("resourceid", json!(action.resourceid)),
            ("identifier", json!("")),
            ("resourcetype", json!(action.resourcetype)),
            ("timestamp", json!(action.seconds)),
            ("hmac", json!(action.hmac)),
            (
                "hmac_version",
                if numeric_version {
                    json!(2)
                } else {
                    json!("2")
                },
            ),
            ("parameters", Value::Object(action.parameters.clone())),
        ];
        if junk {
            fields.push(("junk", json!(1)));
        }
        let mut object = Map::new();
        for &i in order.iter().filter(|&&i| i < fields.len()) {
            let (key, value) = &fields[i];
            object.insert((*key).to_owned(), value.clone());
        }
        for (key, value) in fields {
            object.entry(key).or_insert(value);
        }
        Value::Object(object)
    }

    fn body(token: &str, actions: Vec<Value>) -> Vec<u8> {
        json!({"token": token, "request": {"actions": actions}})
            .to_string()
            .into_bytes()
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_parser(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Err(error) = parse_request(&bytes, MAX) {
                prop_assert!(REQUEST_CODES.contains(&error.code), "{error:?}");
            }
        }

        #[test]
        fn arbitrary_json_is_a_request_or_a_smartml_error(value in arb_json()) {
            match parse_request(value.to_string().as_bytes(), MAX) {
                Ok(request) => {
                    prop_assert!(!request.token.is_empty());
                    prop_assert!((1..=MAX).contains(&request.actions.len()));
                }
                Err(error) => prop_assert!(REQUEST_CODES.contains(&error.code), "{error:?}"),
            }
        }

        #[test]
        fn an_arbitrary_action_parses_or_is_refused_on_its_own(
            actions in prop::collection::vec(arb_json(), 1..4),
        ) {
            let request = parse_request(&body("t", actions.clone()), MAX).unwrap();
            prop_assert_eq!(request.actions.len(), actions.len());
            for parsed in request.actions {
                if let Err(error) = parsed.action {
                    prop_assert!(ACTION_CODES.contains(&error.code), "{error:?}");
                }
            }
        }

        /// What the parser sees does not depend on the encoding: a replay cannot hide behind
        /// another key order, an extra key or `2` for `"2"`.
        #[test]
        fn a_well_formed_request_round_trips_whatever_its_encoding(
            token in "[A-Za-z0-9]{1,32}",
            actions in prop::collection::vec(arb_action(), 1..4),
            order in Just((0..9).collect::<Vec<usize>>()).prop_shuffle(),
            numeric_version in any::<bool>(),
            junk in any::<bool>(),
        ) {
            let encoded: Vec<Value> = actions
                .iter()
                .map(|a| encode(a, &order, numeric_version, junk))
                .collect();
            let request = parse_request(&body(&token, encoded), MAX).unwrap();
            prop_assert_eq!(&request.token, &token);
            prop_assert_eq!(request.actions.len(), actions.len());
            for (parsed, action) in request.actions.iter().zip(&actions) {
                prop_assert_eq!(parsed.action.as_ref(), Ok(action));
                prop_assert_eq!(&parsed.echo.resourceid, &action.resourceid);
                prop_assert_eq!(&parsed.echo.actionid, &action.actionid);
            }
        }

        #[test]
        fn more_actions_than_the_limit_refuse_the_request(max in 1usize..8, n in 1usize..16) {
            let actions = vec![json!({}); n];
            match parse_request(&body("t", actions), max) {
                Ok(request) => prop_assert!(n <= max && request.actions.len() == n),
                Err(error) => prop_assert!(n > max && error.code == 15, "{error:?}"),
            }
        }
    }

    #[test]
    fn the_documented_codes_are_the_answered_ones() {
        for (code, message) in ERROR_CODES {
            if [0, 23, 25, 167, 243].contains(code) {
                continue;
            }
            let answered = SmartError::new(*code).message;
            assert!(
                message.starts_with(&answered),
                "{code}: {answered:?} vs {message:?}"
            );
        }
        // An answer's keys are the documented ones.
        let echo = Echo::default();
        let answered = result(&echo, &Err(SmartError::new(22)));
        let keys: Vec<&str> = answered
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let schema =
            serde_json::to_value(<SmartmlResult as utoipa::PartialSchema>::schema()).unwrap();
        let documented: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, documented);
    }

    #[test]
    fn request_faults_keep_their_codes() {
        let code = |body: &str| parse_request(body.as_bytes(), MAX).unwrap_err().code;
        assert_eq!(code(" \n"), 9);
        assert_eq!(code("{not json"), 4);
        assert_eq!(code("[1]"), 4);
        assert_eq!(code(r#"{"token": ""}"#), 13);
        assert_eq!(code(r#"{"token": "t"}"#), 14);
        assert_eq!(code(r#"{"token": "t", "request": {"actions": []}}"#), 15);
        let many = String::from_utf8(body("t", vec![json!({}); MAX + 1])).unwrap();
        assert_eq!(code(&many), 15);
        assert!(parse_request(&body("t", vec![json!({}); MAX]), MAX).is_ok());
    }

    #[test]
    fn a_timestamp_far_from_now_is_outside_the_window_without_overflow() {
        let action = Action {
            actionid: ACTION_PREFIX.to_owned() + "do",
            resourceid: "1".into(),
            resourcetype: "executeMarketplaceWebhooks".into(),
            parameters: Map::new(),
            timestamp: i64::MIN.to_string(),
            seconds: i64::MIN,
            hmac: String::new(),
        };
        assert_eq!(
            verify(&action, "s", "t", i64::MAX, 600).unwrap_err().code,
            136
        );
    }
}
