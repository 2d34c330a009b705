//! # newsletter-connector: push opted-in contacts to a newsletter service
//!
//! For the `address` module: when an address record is saved, this plugin maps it to a
//! newsletter subscriber and POSTs it to the tenant's newsletter service, like the "Newsletter
//! Connector" marketplace service. Contacts without an e-mail address or without newsletter
//! opt-in are not sent (a `rejected` outcome that says why).
//!
//! ## Payload
//! The address record as a JSON object, flat or wrapped as `{"elements": {…}}`:
//! - e-mail: the first non-empty of `Email`, `email`, `EmailPrivat`, `EmailBusiness`,
//!   `E-Mail` (a string or a list of strings);
//! - opt-in: the first present of `newsletter_aktiv`, `Newsletter_aktiv`, `newsletter`,
//!   `opt_in`, `optIn` — true for `true`, a non-zero number, or `"1"`, `"ja"`, `"yes"`,
//!   `"true"`, `"y"`, `"j"`, `"x"`, `"aktiv"`, `"angemeldet"` (case-insensitive);
//! - `Vorname` / `firstName`, `Name` / `Nachname` / `lastName`, `Anrede` / `salutation`.
//!
//! ## Configuration
//! - `newsletter_url` (required): where subscribers are POSTed (must be on the webhook's
//!   allowlist of outbound hosts);
//! - `api_key` (optional): sent as `Authorization: Bearer <api_key>`; read with `secret` when
//!   the service declares it secret (as it should), else with `config`;
//! - `tags` (optional): comma-separated tags for every subscriber; a call parameter `tag`
//!   (e.g. from a process step) adds one more.
//!
//! ## Request
//! `POST <newsletter_url>` with `Content-Type: application/json`, `Idempotency-Key:
//! <delivery id>` (stable across retries, so the service can drop duplicates) and the body
//! `{"email","firstName","lastName","salutation","tags","source":"onoffice","tenantId",
//! "recordId"}`.
//!
//! ## Outcome
//! 2xx: body `{"subscribed":true,"email":…,"status":<http status>}`, no updates.
//! No e-mail, no opt-in, missing `newsletter_url`: `rejected`. Malformed e-mail:
//! `invalid-input`. 5xx, 408, 425, 429, timeouts and connection errors: `temporary` (retried).
//! Other statuses: `rejected` with the status and the start of the response body. Host not on
//! the allowlist: `rejected` naming the host.

use hookhost_sdk::http::{self, Request};
use hookhost_sdk::{Failure, Handler, Invocation, Outcome, config, secret};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The plugin.
pub struct NewsletterConnector;

impl Handler for NewsletterConnector {
    fn handle(inv: Invocation) -> Result<Outcome, Failure> {
        run(&inv)
    }
}

hookhost_sdk::export!(NewsletterConnector);

/// Bounds one POST to the newsletter service; the host's deadline bounds the whole call.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the newsletter service receives.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscriber {
    /// The e-mail address, trimmed, domain in lower case.
    pub email: String,
    /// First name (may be empty).
    pub first_name: String,
    /// Last name (may be empty).
    pub last_name: String,
    /// Salutation as written in the record (`Herr`, `Frau`, …; may be empty).
    pub salutation: String,
    /// Tags from the configuration and the call.
    pub tags: Vec<String>,
    /// Always `onoffice`: lets the service tell where the contact came from.
    pub source: &'static str,
    /// The tenant the contact belongs to.
    pub tenant_id: String,
    /// The address record's id.
    pub record_id: String,
}

fn run(inv: &Invocation) -> Result<Outcome, Failure> {
    let record = inv.payload_json()?;
    let mut tags = config::list("tags");
    if let Some(tag) = inv.param("tag").map(str::trim).filter(|t| !t.is_empty())
        && !tags.iter().any(|t| t == tag)
    {
        tags.push(tag.to_owned());
    }
    let subscriber = map_subscriber(&record, &inv.tenant.id, &inv.record_id, tags)?;
    let url = config::require("newsletter_url")?;

    let mut request = Request::post(&url)
        .header("Accept", "application/json")
        .header("Idempotency-Key", &inv.delivery_id)
        .timeout(REQUEST_TIMEOUT)
        .json(&subscriber)?;
    let key = secret::get("api_key").or_else(|| config::get("api_key"));
    if let Some(key) = key.filter(|k| !k.trim().is_empty()) {
        request = request.bearer_auth(key.trim());
    }
    let response = http::send(request).map_err(|e| match e {
        http::Error::InvalidRequest(m) => {
            Failure::rejected(format!("invalid configuration `newsletter_url`: {m}"))
        }
        other => other.into(),
    })?;
    check_status(response.status(), &response.text())?;
    hookhost_sdk::info!(
        "subscribed record {} ({}) with status {}",
        inv.record_id,
        subscriber.email,
        response.status()
    );
    Outcome::json(&json!({
        "subscribed": true,
        "email": subscriber.email,
        "status": response.status(),
    }))
}

/// Maps an address record to a subscriber, or says why it must not be subscribed.
pub fn map_subscriber(
    record: &Value,
    tenant_id: &str,
    record_id: &str,
    tags: Vec<String>,
) -> Result<Subscriber, Failure> {
    let fields: &Map<String, Value> = match record {
        Value::Object(o) => match o.get("elements") {
            Some(Value::Object(inner)) => inner,
            _ => o,
        },
        _ => {
            return Err(Failure::invalid_input(
                "payload must be an address record (a JSON object)",
            ));
        }
    };
    let raw_email = ["Email", "email", "EmailPrivat", "EmailBusiness", "E-Mail"]
        .iter()
        .find_map(|k| first_text(fields.get(*k)))
        .ok_or_else(|| Failure::rejected("address has no e-mail address"))?;
    let email = normalize_email(&raw_email).ok_or_else(|| {
        Failure::invalid_input(format!("{raw_email:?} is not a valid e-mail address"))
    })?;
    let opt_in = [
        "newsletter_aktiv",
        "Newsletter_aktiv",
        "newsletter",
        "opt_in",
        "optIn",
    ]
    .iter()
    .find_map(|k| fields.get(*k).filter(|v| !v.is_null()));
    if !opt_in.is_some_and(is_yes) {
        return Err(Failure::rejected(format!(
            "{email} has not opted in to the newsletter (newsletter_aktiv is not set)"
        )));
    }
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| first_text(fields.get(*k)))
            .unwrap_or_default()
    };
    Ok(Subscriber {
        email,
        first_name: text(&["Vorname", "firstName"]),
        last_name: text(&["Name", "Nachname", "lastName"]),
        salutation: text(&["Anrede", "salutation"]),
        tags,
        source: "onoffice",
        tenant_id: tenant_id.to_owned(),
        record_id: record_id.to_owned(),
    })
}

/// The trimmed text of a string value, or of the first non-empty string in a list.
fn first_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Array(items) => items.iter().find_map(|i| first_text(Some(i))),
        _ => None,
    }
}

/// Whether an opt-in field's value means "yes".
pub fn is_yes(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => matches!(
            s.trim().to_lowercase().as_str(),
            "1" | "ja" | "j" | "yes" | "y" | "true" | "x" | "aktiv" | "angemeldet"
        ),
        _ => false,
    }
}

/// A plausible e-mail address with its domain in lower case, or `None`.
///
/// Deliberately simple (one `@`, a dotted domain of letters, digits and hyphens, a TLD of at
/// least two letters, no whitespace): the newsletter service does the real check when it sends
/// its confirmation mail; this only catches typos before a request is made.
pub fn normalize_email(raw: &str) -> Option<String> {
    let s = raw.trim();
    let (local, domain) = s.split_once('@')?;
    if local.is_empty()
        || local.len() > 64
        || s.len() > 254
        || domain.contains('@')
        || s.chars().any(|c| c.is_whitespace() || c.is_control())
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || local.chars().any(|c| "()<>[]:;\\,\"".contains(c))
    {
        return None;
    }
    let domain = domain.to_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return None;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if !labels.iter().all(label_ok) {
        return None;
    }
    let tld = labels[labels.len() - 1];
    if tld.chars().count() < 2 || !tld.chars().all(char::is_alphabetic) {
        return None;
    }
    Some(format!("{local}@{domain}"))
}

/// Sorts the service's answer: `Ok` for 2xx, a retried failure for answers that may change,
/// a final one for the rest.
pub fn check_status(status: u16, body: &str) -> Result<(), Failure> {
    let excerpt: String = body.trim().chars().take(200).collect();
    match status {
        200..=299 => Ok(()),
        408 | 425 | 429 | 500..=599 => Err(Failure::temporary(format!(
            "newsletter service answered {status}: {excerpt}"
        ))),
        _ => Err(Failure::rejected(format!(
            "newsletter service refused the subscriber with status {status}: {excerpt}"
        ))),
    }
}

// The host services are faked by `hookhost_sdk::testing`, which exists on native targets only.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use hookhost_sdk::http::{Error, Response};
    use hookhost_sdk::testing;

    fn address() -> Value {
        json!({"Email": " Ada.Lovelace@Example.COM ", "Vorname": "Ada", "Name": "Lovelace",
               "Anrede": "Frau", "newsletter_aktiv": "1"})
    }

    fn call(payload: &Value) -> Result<Outcome, Failure> {
        let mut inv = testing::invocation("address", "4711", &payload.to_string());
        inv.delivery_id = "dlv-1".into();
        NewsletterConnector::handle(inv)
    }

    fn configure() {
        testing::reset();
        testing::set_config("newsletter_url", "https://news.example.com/api/subscribers");
    }

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email(" a.b+c@Sub.Example.de "),
            Some("a.b+c@sub.example.de".into())
        );
        assert_eq!(
            normalize_email("jörg@müller.de"),
            Some("jörg@müller.de".into())
        );
        for bad in [
            "",
            "a",
            "a@",
            "@b.de",
            "a@b",
            "a@@b.de",
            "a b@c.de",
            "a@b..de",
            "a@-b.de",
            "a@b.d",
            "a@b.12",
            ".a@b.de",
            "a..b@c.de",
            "a@b_c.de",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }

    #[test]
    fn opt_in_values() {
        for yes in [
            json!(true),
            json!(1),
            json!("Ja"),
            json!(" yes "),
            json!("1"),
        ] {
            assert!(is_yes(&yes), "{yes}");
        }
        for no in [
            json!(false),
            json!(0),
            json!("Nein"),
            json!(""),
            json!(null),
        ] {
            assert!(!is_yes(&no), "{no}");
        }
    }

    #[test]
    fn maps_the_record() {
        let s = map_subscriber(
            &json!({"elements": {"email": ["", "x@y.de"], "Vorname": " Max ", "optIn": true}}),
            "t1",
            "9",
            vec!["kunde".into()],
        )
        .unwrap();
        assert_eq!(s.email, "x@y.de");
        assert_eq!(s.first_name, "Max");
        assert_eq!(s.last_name, "");
        assert_eq!(s.tags, vec!["kunde"]);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"email":"x@y.de","firstName":"Max","lastName":"","salutation":"",
                   "tags":["kunde"],"source":"onoffice","tenantId":"t1","recordId":"9"})
        );
    }

    #[test]
    fn posts_the_subscriber() {
        configure();
        testing::set_config("api_key", "secret-key");
        testing::set_config("tags", "newsletter, onoffice");
        testing::on_http(|_| Ok(Response::new(201).with_body(r#"{"id":"sub_1"}"#)));
        let mut inv = testing::invocation("address", "4711", &address().to_string());
        inv.delivery_id = "dlv-1".into();
        inv.parameters = vec![hookhost_sdk::Param {
            name: "tag".into(),
            value: "process".into(),
        }];
        let out = NewsletterConnector::handle(inv).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&out.body).unwrap(),
            json!({"subscribed":true,"email":"Ada.Lovelace@example.com","status":201})
        );

        let sent = testing::http_requests();
        assert_eq!(sent.len(), 1);
        let req = &sent[0];
        assert_eq!(req.method(), http::Method::Post);
        assert_eq!(req.url(), "https://news.example.com/api/subscribers");
        assert_eq!(req.header_value("authorization"), Some("Bearer secret-key"));
        assert_eq!(req.header_value("idempotency-key"), Some("dlv-1"));
        assert_eq!(req.header_value("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(req.body_bytes()).unwrap();
        assert_eq!(
            body,
            json!({"email":"Ada.Lovelace@example.com","firstName":"Ada","lastName":"Lovelace",
                   "salutation":"Frau","tags":["newsletter","onoffice","process"],
                   "source":"onoffice","tenantId":"tenant-test","recordId":"4711"})
        );
    }

    #[test]
    fn refuses_contacts_it_must_not_send() {
        configure();
        let mut no_mail = address();
        no_mail.as_object_mut().unwrap().remove("Email");
        let err = call(&no_mail).unwrap_err();
        assert_eq!(err.kind(), "rejected");
        assert!(err.reason().contains("no e-mail"));

        let mut no_opt_in = address();
        no_opt_in["newsletter_aktiv"] = json!("0");
        let err = call(&no_opt_in).unwrap_err();
        assert_eq!(err.kind(), "rejected");
        assert!(err.reason().contains("opted in"));
        no_opt_in
            .as_object_mut()
            .unwrap()
            .remove("newsletter_aktiv");
        assert_eq!(call(&no_opt_in).unwrap_err().kind(), "rejected");

        let mut bad_mail = address();
        bad_mail["Email"] = json!("ada(at)example.com");
        assert_eq!(call(&bad_mail).unwrap_err().kind(), "invalid-input");

        assert_eq!(call(&json!("text")).unwrap_err().kind(), "invalid-input");
        assert!(testing::http_requests().is_empty());
    }

    #[test]
    fn missing_configuration_names_the_key() {
        testing::reset();
        let err = call(&address()).unwrap_err();
        assert_eq!(err.kind(), "rejected");
        assert!(err.reason().contains("`newsletter_url`"), "{err:?}");

        testing::set_config("newsletter_url", "news.example.com");
        let err = call(&address()).unwrap_err();
        assert_eq!(err.kind(), "rejected");
        assert!(err.reason().contains("`newsletter_url`"), "{err:?}");
    }

    #[test]
    fn statuses_and_transport_errors() {
        configure();
        testing::on_http(|_| Ok(Response::new(503).with_body("maintenance")));
        let err = call(&address()).unwrap_err();
        assert_eq!(err.kind(), "temporary");
        assert!(err.reason().contains("503"));

        testing::on_http(|_| Ok(Response::new(422).with_body(r#"{"error":"blocked"}"#)));
        let err = call(&address()).unwrap_err();
        assert_eq!(err.kind(), "rejected");
        assert!(err.reason().contains("422") && err.reason().contains("blocked"));

        testing::on_http(|_| Ok(Response::new(429)));
        assert_eq!(call(&address()).unwrap_err().kind(), "temporary");

        testing::on_http(|_| Err(Error::Connect("ConnectionRefused".into())));
        assert_eq!(call(&address()).unwrap_err().kind(), "temporary");

        // Without a handler the fake host denies, as the real one does off the allowlist.
        configure();
        let err = call(&address()).unwrap_err();
        assert_eq!(err.kind(), "rejected");
        assert!(err.reason().contains("news.example.com"), "{err:?}");
    }
}
