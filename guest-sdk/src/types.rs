//! Helper methods on the WIT types: typed payloads in, typed bodies and updates out.
//!
//! The types themselves are generated from the WIT file; these inherent impls are what turns
//! "JSON text in strings" into the Rust types a plugin actually works with.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{
    Event, Failure, FieldUpdate, Header, Invocation, Level, Outcome, OutgoingRequest, Problem,
    Transformed,
};

impl Invocation {
    /// Parses the payload as JSON into `T`.
    ///
    /// A payload that does not parse is the caller's mistake, not a transient problem, so the
    /// error is a [`Failure::InvalidInput`] whose message says what was wrong and where (for
    /// example ``invalid payload: missing field `kaufpreis` at line 1 column 42``). Use `?` to
    /// return it as is.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_str(&self.payload)
            .map_err(|e| Failure::InvalidInput(format!("invalid payload: {e}")))
    }

    /// Parses the payload as an arbitrary JSON value.
    ///
    /// For plugins that pass most of the payload through untouched (validators, forwarders)
    /// and would lose fields by deserializing into a struct.
    pub fn payload_json(&self) -> Result<serde_json::Value, Failure> {
        self.payload()
    }

    /// The value of the call parameter `name` (process-step or activation parameters), if any.
    ///
    /// When a name occurs more than once, the last value wins, as with query strings.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .rev()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }

    /// Whether this is a retry of an earlier attempt of the same delivery.
    ///
    /// Handlers with side effects outside the host (an e-mail, a POST) can use it together with
    /// [`Invocation::delivery_id`] to avoid doing the same thing twice.
    pub fn is_retry(&self) -> bool {
        self.attempt > 1
    }
}

impl OutgoingRequest {
    /// Parses the body as JSON into `T` (an [`Failure::InvalidInput`] when it does not
    /// parse, as for [`Invocation::payload`]).
    pub fn body_json<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_str(&self.body)
            .map_err(|e| Failure::InvalidInput(format!("invalid body: {e}")))
    }

    /// The request with `body` serialized as JSON as its body.
    pub fn with_body_json<T: Serialize + ?Sized>(
        mut self,
        body: &T,
    ) -> Result<OutgoingRequest, Failure> {
        self.body = serde_json::to_string(body)
            .map_err(|e| Failure::Temporary(format!("cannot serialize the body: {e}")))?;
        Ok(self)
    }

    /// The request with the header `name: value` added (the host's own headers cannot be
    /// set: `content-type`, `authorization`, `webhook-*`, …).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(Header {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    /// Send the request as it is now.
    pub fn send(self) -> Result<Transformed, Failure> {
        Ok(Transformed::Send(self))
    }
}

impl Transformed {
    /// Send nothing; the call is recorded as skipped with `reason`.
    pub fn skip(reason: impl Into<String>) -> Transformed {
        Transformed::Skip(reason.into())
    }
}

impl Problem {
    /// A problem with the activation parameter `parameter`.
    pub fn new(parameter: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            parameter: parameter.into(),
            message: message.into(),
        }
    }
}

impl Outcome {
    /// An outcome whose body is `body` serialized as JSON, with no field updates.
    ///
    /// Fails (as [`Failure::Temporary`], since it is a bug rather than bad input) only when
    /// `body` cannot be represented as JSON, e.g. a map with non-string keys.
    pub fn json<T: Serialize + ?Sized>(body: &T) -> Result<Outcome, Failure> {
        let body = serde_json::to_string(body)
            .map_err(|e| Failure::Temporary(format!("cannot serialize outcome body: {e}")))?;
        Ok(Outcome {
            body,
            updates: Vec::new(),
        })
    }

    /// An outcome with the body `{}` and no updates: "done, nothing to report".
    pub fn empty() -> Outcome {
        Outcome {
            body: "{}".to_owned(),
            updates: Vec::new(),
        }
    }

    /// An outcome whose body is `body`, taken as already-serialized JSON text.
    ///
    /// For pass-through plugins that want to return bytes they received unchanged. The host
    /// rejects a body that is not valid JSON, so only use it with text you know is JSON.
    pub fn raw_json(body: impl Into<String>) -> Outcome {
        Outcome {
            body: body.into(),
            updates: Vec::new(),
        }
    }

    /// Adds a field update: the host writes `value` (serialized as JSON) into `field` of the
    /// record the call is about.
    ///
    /// Returns the outcome so calls chain: `Outcome::json(&body)?.with_update("a", &1)?`.
    pub fn with_update<T: Serialize + ?Sized>(
        mut self,
        field: impl Into<String>,
        value: &T,
    ) -> Result<Outcome, Failure> {
        let field = field.into();
        let value = serde_json::to_string(value).map_err(|e| {
            Failure::Temporary(format!("cannot serialize update of field `{field}`: {e}"))
        })?;
        self.updates.push(FieldUpdate { field, value });
        Ok(self)
    }
}

impl Failure {
    /// A business "no": final, never retried (e.g. "the contact did not opt in").
    pub fn rejected(reason: impl Into<String>) -> Failure {
        Failure::Rejected(reason.into())
    }

    /// The invocation cannot be handled as given: final, never retried (e.g. a payload that
    /// lacks a required field).
    pub fn invalid_input(reason: impl Into<String>) -> Failure {
        Failure::InvalidInput(reason.into())
    }

    /// Something transient went wrong; the host retries the delivery later (e.g. the remote
    /// service answered 503).
    pub fn temporary(reason: impl Into<String>) -> Failure {
        Failure::Temporary(reason.into())
    }

    /// The human-readable reason, whatever the kind.
    pub fn reason(&self) -> &str {
        match self {
            Failure::Rejected(r) | Failure::InvalidInput(r) | Failure::Temporary(r) => r,
        }
    }

    /// The kind as the WIT spells it: `rejected`, `invalid-input` or `temporary`.
    ///
    /// Handy in log lines and test assertions.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Rejected(_) => "rejected",
            Failure::InvalidInput(_) => "invalid-input",
            Failure::Temporary(_) => "temporary",
        }
    }

    /// Whether the host will retry the delivery after this failure.
    pub fn is_retried(&self) -> bool {
        matches!(self, Failure::Temporary(_))
    }
}

impl Event {
    /// The event's name as the WIT spells it (`create`, `process-step`, …).
    ///
    /// Use it when echoing or logging the event, so the text matches the contract.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Create => "create",
            Event::Update => "update",
            Event::Execute => "execute",
            Event::Validate => "validate",
            Event::ProcessStep => "process-step",
            Event::Test => "test",
        }
    }
}

impl Level {
    /// The level's name as the WIT spells it (`trace` … `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Param, Tenant};

    fn invocation(payload: &str) -> Invocation {
        Invocation {
            webhook_id: "WBH-1".into(),
            tenant: Tenant {
                id: "t".into(),
                name: "T".into(),
            },
            module: "estate".into(),
            record_id: "1".into(),
            event: Event::Update,
            payload: payload.into(),
            parameters: vec![
                Param {
                    name: "a".into(),
                    value: "1".into(),
                },
                Param {
                    name: "a".into(),
                    value: "2".into(),
                },
            ],
            delivery_id: "d".into(),
            attempt: 1,
        }
    }

    #[derive(serde::Deserialize, Debug)]
    struct P {
        price: f64,
    }

    #[test]
    fn payload_parses_into_the_requested_type() {
        let p: P = invocation(r#"{"price": 3.5}"#).payload().unwrap();
        assert_eq!(p.price, 3.5);
    }

    #[test]
    fn payload_errors_are_invalid_input_with_the_reason() {
        let err = invocation(r#"{"prize": 3}"#).payload::<P>().unwrap_err();
        assert_eq!(err.kind(), "invalid-input");
        assert!(err.reason().contains("missing field `price`"), "{err:?}");
        let err = invocation("<xml/>").payload::<P>().unwrap_err();
        assert!(err.reason().starts_with("invalid payload: "), "{err:?}");
    }

    #[test]
    fn last_parameter_wins() {
        let inv = invocation("{}");
        assert_eq!(inv.param("a"), Some("2"));
        assert_eq!(inv.param("b"), None);
    }

    #[test]
    fn outcome_builders_serialize_json() {
        let o = Outcome::json(&serde_json::json!({"x": 1}))
            .unwrap()
            .with_update("marktwert", &450000)
            .unwrap()
            .with_update("note", "a \"quoted\" text")
            .unwrap();
        assert_eq!(o.body, r#"{"x":1}"#);
        assert_eq!(o.updates[0].field, "marktwert");
        assert_eq!(o.updates[0].value, "450000");
        assert_eq!(o.updates[1].value, r#""a \"quoted\" text""#);
    }

    #[test]
    fn failure_helpers() {
        assert_eq!(Failure::rejected("no").kind(), "rejected");
        assert_eq!(Failure::invalid_input("bad").reason(), "bad");
        assert!(Failure::temporary("later").is_retried());
        assert!(!Failure::rejected("no").is_retried());
        assert_eq!(Event::ProcessStep.as_str(), "process-step");
    }
}
