//! # newsletter-transform: a URL webhook that speaks the newsletter service's format
//!
//! A transform (`marketplace:webhook@0.2.0`, interface `transform`): a provider registers a
//! URL webhook pointing straight at a newsletter service's member endpoint and names this
//! component as its `transform`. For every address event the host is about to send
//! (`{"tenant", "module", "recordId", "event", "elements"}`), the transform
//!
//! - **skips** records without an e-mail address or without newsletter opt-in (recorded as
//!   skipped, not failed: nothing is sent);
//! - reshapes the rest into the service's member format:
//!   `{"email_address", "status": "subscribed", "merge_fields": {"FNAME", "LNAME"}, "tags",
//!   "external_id": "<tenant>/<record>"}`;
//! - moves the activation's parameters off the URL: `list_id` (plain) becomes the header
//!   `X-List-Id`, `api_key` (declared secret, read with `secret`) the header `X-Api-Key`, so
//!   the key is never in a URL.
//!
//! The host then signs the reshaped body (Standard Webhooks headers, bearer JWT).
//!
//! It also checks activations (interface `activation`): `list_id` must be 1 to 64 letters,
//! digits, `-` or `_`, and `api_key` must be set.

use hookhost_sdk::{
    ActivationCheck, Failure, OutgoingRequest, Param, Problem, Transform, Transformed, config,
    secret,
};
use serde_json::{Map, Value, json};

/// The plugin.
pub struct NewsletterTransform;

impl Transform for NewsletterTransform {
    fn transform(request: OutgoingRequest) -> Result<Transformed, Failure> {
        reshape(request)
    }
}

impl ActivationCheck for NewsletterTransform {
    fn check_activation(parameters: Vec<Param>) -> Result<(), Vec<Problem>> {
        check(&parameters)
    }
}

hookhost_sdk::export!(NewsletterTransform: transform, activation);

/// The transform (see the crate docs).
pub fn reshape(mut request: OutgoingRequest) -> Result<Transformed, Failure> {
    if request.module != "address" {
        return Ok(Transformed::skip(format!(
            "only address records are newsletter members, not {}",
            request.module
        )));
    }
    let event: Value = request.body_json()?;
    let empty = Map::new();
    let fields = event
        .get("elements")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let Some(email) = first_text(fields, &["Email", "email", "EmailPrivat", "E-Mail"]) else {
        return Ok(Transformed::skip(format!(
            "address {} has no e-mail address",
            request.record_id
        )));
    };
    if !opted_in(fields) {
        return Ok(Transformed::skip(format!(
            "address {} has not opted in to the newsletter",
            request.record_id
        )));
    }
    let member = json!({
        "email_address": email,
        "status": "subscribed",
        "merge_fields": {
            "FNAME": first_text(fields, &["Vorname", "firstName"]).unwrap_or_default(),
            "LNAME": first_text(fields, &["Name", "Nachname", "lastName"]).unwrap_or_default(),
        },
        "tags": config::list("tags"),
        "external_id": format!("{}/{}", request.tenant.id, request.record_id),
    });
    // The activation's parameters travel as headers, not on the URL.
    request.parameters.clear();
    let list = config::require("list_id")?;
    let key = secret::require("api_key")?;
    request
        .with_body_json(&member)?
        .with_header("X-List-Id", list)
        .with_header("X-Api-Key", key)
        .send()
}

/// The activation check (see the crate docs).
pub fn check(parameters: &[Param]) -> Result<(), Vec<Problem>> {
    let value = |name: &str| {
        parameters
            .iter()
            .rev()
            .find(|p| p.name == name)
            .map(|p| p.value.trim())
            .filter(|v| !v.is_empty())
    };
    let mut problems = Vec::new();
    match value("list_id") {
        None => problems.push(Problem::new(
            "list_id",
            "the newsletter list id is required",
        )),
        Some(list)
            if list.len() > 64
                || !list
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            problems.push(Problem::new(
                "list_id",
                "a list id is 1 to 64 letters, digits, `-` or `_`",
            ));
        }
        Some(_) => {}
    }
    if value("api_key").is_none() {
        problems.push(Problem::new(
            "api_key",
            "the newsletter service's API key is required",
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The first non-empty text among `names` (a list's first item counts).
fn first_text(fields: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        let value = match fields.get(*name)? {
            Value::Array(items) => items.first()?,
            value => value,
        };
        value
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    })
}

/// Whether the record carries a newsletter opt-in (`true`, a non-zero number, `"1"`,
/// `"ja"`, `"yes"`, `"true"`).
fn opted_in(fields: &Map<String, Value>) -> bool {
    [
        "newsletter_aktiv",
        "Newsletter_aktiv",
        "newsletter",
        "optIn",
    ]
    .iter()
    .find_map(|name| fields.get(*name))
    .is_some_and(|value| match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => matches!(
            s.trim().to_lowercase().as_str(),
            "1" | "ja" | "yes" | "true" | "j" | "y"
        ),
        _ => false,
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use hookhost_sdk::testing;

    fn event(elements: Value) -> OutgoingRequest {
        let body = json!({"tenant": {"id": "TNT-1", "name": "T"}, "module": "address",
                          "recordId": "4711", "event": "update", "elements": elements});
        let mut request = testing::outgoing_request("address", "4711", &body.to_string());
        request.tenant.id = "TNT-1".into();
        request.parameters = vec![Param {
            name: "api_key".into(),
            value: "k".into(),
        }];
        request
    }

    #[test]
    fn an_opted_in_address_becomes_a_member_with_the_key_in_a_header() {
        testing::reset();
        testing::set_config("list_id", "news-1");
        testing::set_config("tags", "onoffice, lead");
        testing::set_secret("api_key", "s3cr3t");
        let sent = reshape(event(
            json!({"Email": ["ada@example.com"], "Vorname": "Ada",
                                        "Name": "Lovelace", "newsletter_aktiv": "1"}),
        ))
        .unwrap();
        let Transformed::Send(request) = sent else {
            panic!("skipped: {sent:?}")
        };
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"email_address": "ada@example.com", "status": "subscribed",
                   "merge_fields": {"FNAME": "Ada", "LNAME": "Lovelace"},
                   "tags": ["onoffice", "lead"], "external_id": "TNT-1/4711"})
        );
        assert!(request.parameters.is_empty());
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_str()))
            .collect();
        assert_eq!(headers, [("X-List-Id", "news-1"), ("X-Api-Key", "s3cr3t")]);
    }

    #[test]
    fn no_e_mail_or_no_opt_in_is_skipped() {
        testing::reset();
        for elements in [
            json!({"Vorname": "Ada", "newsletter_aktiv": 1}),
            json!({"Email": "ada@example.com", "newsletter_aktiv": "nein"}),
        ] {
            let result = reshape(event(elements)).unwrap();
            assert!(matches!(result, Transformed::Skip(_)), "{result:?}");
        }
    }

    #[test]
    fn activations_need_a_list_id_and_a_key() {
        let param = |name: &str, value: &str| Param {
            name: name.into(),
            value: value.into(),
        };
        assert_eq!(
            check(&[param("list_id", "news-1"), param("api_key", "k")]),
            Ok(())
        );
        let problems = check(&[param("list_id", "no spaces")]).unwrap_err();
        let names: Vec<&str> = problems.iter().map(|p| p.parameter.as_str()).collect();
        assert_eq!(names, ["list_id", "api_key"]);
    }
}
