//! In-memory stand-ins for the host, for unit tests on the developer's machine.
//!
//! Only compiled for native targets. There, every host service the SDK offers ([`log`],
//! [`config`], [`secret`], [`kv`], [`http`], [`time`]) is served from per-thread state that tests set up
//! and inspect with the functions below, so a test can call a plugin's `handle` directly:
//!
//! ```
//! use hookhost_sdk::{testing, Outcome};
//!
//! testing::reset();
//! testing::set_config("greeting", "Moin");
//! let inv = testing::invocation("address", "42", r#"{"name":"Ada"}"#);
//! assert_eq!(inv.record_id, "42");
//! assert_eq!(hookhost_sdk::config::get("greeting").as_deref(), Some("Moin"));
//! ```
//!
//! The state is thread-local: Rust's test harness runs each test on its own thread, so tests
//! do not see each other's data. Call [`reset`] first anyway (with `--test-threads=1` the
//! harness reuses one thread).
//!
//! Without a handler set by [`on_http`], every outbound request is denied, as the real host
//! does for hosts missing from the allowlist.
//!
//! [`log`]: crate::log
//! [`config`]: crate::config
//! [`secret`]: crate::secret
//! [`kv`]: crate::kv
//! [`http`]: crate::http
//! [`time`]: crate::time

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::http::{Error, Request, Response};
use crate::{Event, Invocation, Level, Param, Tenant};

type HttpHandler = Box<dyn FnMut(&Request) -> Result<Response, Error>>;

#[derive(Default)]
struct State {
    config: BTreeMap<String, String>,
    secrets: BTreeMap<String, String>,
    kv: BTreeMap<String, Vec<u8>>,
    logs: Vec<(Level, String)>,
    http: Option<HttpHandler>,
    requests: Vec<Request>,
    now: Option<i64>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Forgets all configuration, stored keys, log lines, HTTP handler and recorded requests.
pub fn reset() {
    STATE.with(|s| *s.borrow_mut() = State::default());
}

/// Sets the activation parameter `key` that [`config::get`](crate::config::get) returns.
pub fn set_config(key: &str, value: &str) {
    STATE.with(|s| {
        s.borrow_mut()
            .config
            .insert(key.to_owned(), value.to_owned())
    });
}

/// Sets the secret activation parameter `name` that [`secret::get`](crate::secret::get)
/// returns.
pub fn set_secret(name: &str, value: &str) {
    STATE.with(|s| {
        s.borrow_mut()
            .secrets
            .insert(name.to_owned(), value.to_owned())
    });
}

/// Removes the activation parameter `key`.
pub fn remove_config(key: &str) {
    STATE.with(|s| s.borrow_mut().config.remove(key));
}

/// Stores `value` under `key`, as if an earlier call had done so.
pub fn kv_put(key: &str, value: &[u8]) {
    STATE.with(|s| s.borrow_mut().kv.insert(key.to_owned(), value.to_vec()));
}

/// Everything in the fake key-value store.
pub fn kv_snapshot() -> BTreeMap<String, Vec<u8>> {
    STATE.with(|s| s.borrow().kv.clone())
}

/// The log lines written so far, oldest first.
pub fn logs() -> Vec<(Level, String)> {
    STATE.with(|s| s.borrow().logs.clone())
}

/// Answers outbound requests with `handler` (instead of denying them).
pub fn on_http(handler: impl FnMut(&Request) -> Result<Response, Error> + 'static) {
    STATE.with(|s| s.borrow_mut().http = Some(Box::new(handler)));
}

/// The outbound requests sent so far (denied ones included), oldest first.
pub fn http_requests() -> Vec<Request> {
    STATE.with(|s| s.borrow().requests.clone())
}

/// Fixes the wall clock at `unix_seconds` (the real clock is used until this is called).
pub fn set_now(unix_seconds: i64) {
    STATE.with(|s| s.borrow_mut().now = Some(unix_seconds));
}

/// The request a URL webhook would send for a test call, as a transform gets it: event
/// `test`, tenant `tenant-test`, webhook `WBH-0000-0000`, delivery `delivery-test`, attempt
/// 1, no parameters or headers.
pub fn outgoing_request(module: &str, record_id: &str, body: &str) -> crate::OutgoingRequest {
    crate::OutgoingRequest {
        webhook_id: "WBH-0000-0000".to_owned(),
        tenant: Tenant {
            id: "tenant-test".to_owned(),
            name: "Test tenant".to_owned(),
        },
        event: Event::Test,
        module: module.to_owned(),
        record_id: record_id.to_owned(),
        delivery_id: "delivery-test".to_owned(),
        attempt: 1,
        body: body.to_owned(),
        parameters: Vec::new(),
        headers: Vec::new(),
    }
}

/// An invocation as the host would build it for a test call: event `test`, tenant
/// `tenant-test` ("Test tenant"), webhook `WBH-0000-0000`, delivery `delivery-test`,
/// attempt 1, no parameters. Change the public fields for other cases.
pub fn invocation(module: &str, record_id: &str, payload: &str) -> Invocation {
    Invocation {
        webhook_id: "WBH-0000-0000".to_owned(),
        tenant: Tenant {
            id: "tenant-test".to_owned(),
            name: "Test tenant".to_owned(),
        },
        module: module.to_owned(),
        record_id: record_id.to_owned(),
        event: Event::Test,
        payload: payload.to_owned(),
        parameters: Vec::<Param>::new(),
        delivery_id: "delivery-test".to_owned(),
        attempt: 1,
    }
}

/// The fake host, called through `crate::sys` on native targets.
pub(crate) mod fake {
    use super::*;

    pub(crate) fn log(level: Level, message: &str) {
        eprintln!("[{}] {message}", level.as_str());
        STATE.with(|s| s.borrow_mut().logs.push((level, message.to_owned())));
    }

    pub(crate) fn config(key: &str) -> Option<String> {
        STATE.with(|s| s.borrow().config.get(key).cloned())
    }

    pub(crate) fn secret(name: &str) -> Option<String> {
        STATE.with(|s| s.borrow().secrets.get(name).cloned())
    }

    pub(crate) fn kv_get(key: &str) -> Option<Vec<u8>> {
        STATE.with(|s| s.borrow().kv.get(key).cloned())
    }

    pub(crate) fn kv_set(key: &str, value: &[u8]) -> Result<(), String> {
        kv_put(key, value);
        Ok(())
    }

    pub(crate) fn kv_delete(key: &str) {
        STATE.with(|s| s.borrow_mut().kv.remove(key));
    }

    pub(crate) fn kv_list_keys(prefix: &str) -> Vec<String> {
        STATE.with(|s| {
            s.borrow()
                .kv
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect()
        })
    }

    pub(crate) fn http_send(request: &Request) -> Result<Response, Error> {
        let target = crate::http::parse_url(request.url())?;
        // Take the handler out while it runs, so it may itself use the fakes.
        let handler = STATE.with(|s| {
            let mut s = s.borrow_mut();
            s.requests.push(request.clone());
            s.http.take()
        });
        let Some(mut handler) = handler else {
            return Err(Error::Denied { host: target.host });
        };
        let result = handler(request);
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            if s.http.is_none() {
                s.http = Some(handler);
            }
        });
        let response = result?;
        if response.body().len() > request.max_response_bytes_value() {
            return Err(Error::TooLarge {
                limit: request.max_response_bytes_value(),
            });
        }
        Ok(response)
    }

    pub(crate) fn now_unix_seconds() -> i64 {
        STATE.with(|s| s.borrow().now).unwrap_or_else(|| {
            match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                Err(_) => 0,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config, http, kv};

    #[test]
    fn fakes_serve_config_kv_and_logs() {
        reset();
        set_config("a", "1");
        assert_eq!(config::get("a").as_deref(), Some("1"));
        assert_eq!(config::parse::<u32>("a").unwrap(), Some(1));
        assert_eq!(config::require("b").unwrap_err().kind(), "rejected");
        assert!(config::require("b").unwrap_err().reason().contains("`b`"));
        set_config("bad", "x");
        assert!(
            config::parse::<u32>("bad")
                .unwrap_err()
                .reason()
                .contains("`bad`")
        );
        set_config("tags", " a, ,b ");
        assert_eq!(config::list("tags"), vec!["a", "b"]);

        kv::set_json("inputs/1", &serde_json::json!({"x": 1})).unwrap();
        kv::set("other", b"x").unwrap();
        assert_eq!(kv::list_keys("inputs/"), vec!["inputs/1"]);
        let v: serde_json::Value = kv::get_json("inputs/1").unwrap().unwrap();
        assert_eq!(v["x"], 1);
        assert!(matches!(
            kv::get_json::<serde_json::Value>("other"),
            Err(kv::KvError::Decode { .. })
        ));
        kv::delete("inputs/1");
        kv::delete("inputs/1");
        assert_eq!(kv::get("inputs/1"), None);

        crate::info!("n = {}", 3);
        crate::log::warn("careful");
        assert_eq!(
            logs(),
            vec![
                (Level::Info, "n = 3".to_owned()),
                (Level::Warn, "careful".to_owned())
            ]
        );
    }

    #[test]
    fn http_is_denied_until_a_handler_is_set() {
        reset();
        let err = http::send(http::Request::get("https://api.example.com/x")).unwrap_err();
        assert_eq!(
            err,
            http::Error::Denied {
                host: "api.example.com".into()
            }
        );
        on_http(|req| Ok(http::Response::new(200).with_body(req.url().to_owned())));
        let resp = http::Request::get("https://api.example.com/y")
            .send()
            .unwrap();
        assert_eq!(resp.text(), "https://api.example.com/y");
        assert_eq!(http_requests().len(), 2);
    }

    #[test]
    fn clock_can_be_fixed() {
        reset();
        set_now(1_700_000_000);
        assert_eq!(crate::time::today(), "2023-11-14");
    }
}
