//! Outbound HTTP through `wasi:http/outgoing-handler`.
//!
//! The host forwards a request only when the target host is on the webhook's allowlist of
//! outbound hosts (deny by default) and answers any other with the wasi-http error
//! `HTTP-request-denied`, which arrives here as [`Error::Denied`] naming the host, so the
//! plugin (and the call log) can say exactly which host to add. Redirects are not followed.
//!
//! ```no_run
//! use hookhost_sdk::http::{self, Request};
//!
//! # fn demo() -> Result<(), hookhost_sdk::Failure> {
//! let response = http::send(
//!     Request::post("https://api.example.com/v1/contacts")
//!         .header("Idempotency-Key", "dlv-123")
//!         .json(&serde_json::json!({"email": "a@example.com"}))?,
//! )?;
//! if !response.is_success() {
//!     return Err(hookhost_sdk::Failure::rejected(format!("status {}", response.status())));
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The call blocks until the whole response body is read: plugin calls are short and the
//! host's per-call deadline bounds every wait.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Failure;

/// The largest response body [`send`] reads unless [`Request::max_response_bytes`] says
/// otherwise; bigger bodies are an [`Error::TooLarge`] instead of exhausting the plugin's memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
}

impl Method {
    /// The method as it appears on the wire (`GET`, `POST`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }
}

/// An outgoing request, built with chained calls and sent with [`send`] or [`Request::send`].
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
    max_response_bytes: usize,
}

impl Request {
    /// A request with `method` to `url` (`http://` or `https://`), no headers and no body.
    pub fn new(method: Method, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// A `GET` request to `url`.
    pub fn get(url: impl Into<String>) -> Request {
        Request::new(Method::Get, url)
    }

    /// A `POST` request to `url`.
    pub fn post(url: impl Into<String>) -> Request {
        Request::new(Method::Post, url)
    }

    /// A `PUT` request to `url`.
    pub fn put(url: impl Into<String>) -> Request {
        Request::new(Method::Put, url)
    }

    /// A `PATCH` request to `url`.
    pub fn patch(url: impl Into<String>) -> Request {
        Request::new(Method::Patch, url)
    }

    /// A `DELETE` request to `url`.
    pub fn delete(url: impl Into<String>) -> Request {
        Request::new(Method::Delete, url)
    }

    /// Adds a header (several headers of the same name are all sent).
    ///
    /// Headers the HTTP layer manages itself (`Host`, `Connection`, …) are refused when the
    /// request is sent, as [`Error::InvalidRequest`].
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer_auth(self, token: &str) -> Request {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// Sets the body bytes (sent as they are; set `Content-Type` yourself).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` serialized as JSON and adds `Content-Type: application/json`.
    ///
    /// Fails only when `value` cannot be represented as JSON (a bug, hence `temporary`).
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Request, Failure> {
        let body = serde_json::to_vec(value)
            .map_err(|e| Failure::temporary(format!("cannot serialize request body: {e}")))?;
        Ok(self.header("Content-Type", "application/json").body(body))
    }

    /// Bounds the time to connect, to the first response byte and between body bytes.
    ///
    /// Without it only the host's per-call deadline applies, which ends the whole call rather
    /// than just this request.
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = Some(timeout);
        self
    }

    /// The largest response body to accept (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub fn max_response_bytes(mut self, limit: usize) -> Request {
        self.max_response_bytes = limit;
        self
    }

    /// Sends the request: shorthand for [`send`]`(self)`.
    pub fn send(self) -> Result<Response, Error> {
        send(self)
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// All headers, in the order they were added.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of header `name` (case-insensitive), if any.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body bytes.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// The timeout set with [`Request::timeout`], if any.
    pub fn timeout_value(&self) -> Option<Duration> {
        self.timeout
    }

    /// The response body limit.
    pub fn max_response_bytes_value(&self) -> usize {
        self.max_response_bytes
    }
}

/// A received response: status, headers and the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    // Crate-visible so that `sys` can hand over what the host received.
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// A response with `status`, no headers and an empty body.
    ///
    /// Plugins receive responses from [`send`]; constructing one is for tests (see the
    /// `testing` module).
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header (builder style, for tests).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body (builder style, for tests).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether the status is 4xx: the remote refused this request and will refuse it again.
    pub fn is_client_error(&self) -> bool {
        (400..500).contains(&self.status)
    }

    /// Whether the status is 5xx: the remote failed, typically a reason to retry later.
    pub fn is_server_error(&self) -> bool {
        (500..600).contains(&self.status)
    }

    /// All headers as received (values decoded lossily as UTF-8).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of header `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body bytes, by value.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The body as text (invalid UTF-8 replaced by U+FFFD), e.g. for an error message.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Decode(format!("response body is not the expected JSON: {e}")))
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Why a request did not produce a response.
///
/// A response with any status (404, 500, …) is not an error here: look at
/// [`Response::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The host refused to send the request: `host` is not on this webhook's allowlist of
    /// outbound hosts (wasi-http `HTTP-request-denied`).
    Denied {
        /// The host name the request was for.
        host: String,
    },
    /// The request itself is malformed (bad URL, forbidden header, …).
    InvalidRequest(String),
    /// Connecting, or waiting for the response, took longer than allowed.
    Timeout(String),
    /// The remote could not be reached (DNS, refused connection, TLS, …).
    Connect(String),
    /// The exchange broke off or violated HTTP.
    Transport(String),
    /// The response body is larger than [`Request::max_response_bytes`].
    TooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// [`Response::json`] could not parse the body.
    Decode(String),
}

impl Error {
    /// Whether trying again later may succeed (timeouts, connection and transport errors).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Timeout(_) | Error::Connect(_) | Error::Transport(_)
        )
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Denied { host } => write!(
                f,
                "outbound request to `{host}` denied by the host: add `{host}` to the webhook's \
                 allowed outbound hosts"
            ),
            Error::InvalidRequest(m) => write!(f, "invalid request: {m}"),
            Error::Timeout(m) => write!(f, "request timed out: {m}"),
            Error::Connect(m) => write!(f, "cannot connect: {m}"),
            Error::Transport(m) => write!(f, "HTTP exchange failed: {m}"),
            Error::TooLarge { limit } => write!(f, "response body exceeds {limit} bytes"),
            Error::Decode(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Lets `?` turn a request error into a failure of the call.
///
/// Transient errors (and an undecodable body, which a fixed remote may cure) become
/// [`Failure::Temporary`] so the host retries the delivery; a denied host, a malformed request
/// and an oversized body do not change on retry and become [`Failure::Rejected`].
impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        if e.is_transient() || matches!(e, Error::Decode(_)) {
            Failure::Temporary(e.to_string())
        } else {
            Failure::Rejected(e.to_string())
        }
    }
}

/// Sends `request` and reads the whole response.
pub fn send(request: Request) -> Result<Response, Error> {
    crate::sys::http_send(&request)
}

/// The parts of a URL that wasi-http wants separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `true` for `https`.
    pub(crate) https: bool,
    /// `host[:port]` as written.
    pub(crate) authority: String,
    /// The host name alone (brackets kept for IPv6), for messages.
    pub(crate) host: String,
    /// Path and query, at least `/`.
    pub(crate) path_with_query: String,
}

/// Splits an absolute `http(s)://` URL; the fragment is dropped (it is never sent).
pub(crate) fn parse_url(url: &str) -> Result<Target, Error> {
    let invalid = |why: &str| Error::InvalidRequest(format!("URL {url:?} {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("is not absolute (expected http:// or https://)"))?;
    let https = if scheme.eq_ignore_ascii_case("https") {
        true
    } else if scheme.eq_ignore_ascii_case("http") {
        false
    } else {
        return Err(invalid(
            "has an unsupported scheme (expected http or https)",
        ));
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() {
        return Err(invalid("has no host"));
    }
    if authority.contains('@') {
        return Err(invalid(
            "contains credentials: send them in a header instead",
        ));
    }
    if authority
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid("has whitespace in the host"));
    }
    let host = if authority.starts_with('[') {
        match authority.find(']') {
            Some(i) => &authority[..=i],
            None => return Err(invalid("has an unterminated IPv6 address")),
        }
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err(invalid("has no host"));
    }
    let path_with_query = if tail.is_empty() {
        "/".to_owned()
    } else if tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_owned()
    };
    if path_with_query
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid("has unencoded whitespace in the path"));
    }
    Ok(Target {
        https,
        authority: authority.to_owned(),
        host: host.to_owned(),
        path_with_query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_wasi_parts() {
        let t = parse_url("https://api.example.com:8443/v1/x?y=1#frag").unwrap();
        assert!(t.https);
        assert_eq!(t.authority, "api.example.com:8443");
        assert_eq!(t.host, "api.example.com");
        assert_eq!(t.path_with_query, "/v1/x?y=1");

        let t = parse_url("HTTP://example.com").unwrap();
        assert!(!t.https);
        assert_eq!(t.path_with_query, "/");
        assert_eq!(parse_url("http://h?q=1").unwrap().path_with_query, "/?q=1");
        assert_eq!(parse_url("http://[::1]:8080/").unwrap().host, "[::1]");
    }

    #[test]
    fn bad_urls_are_invalid_requests() {
        for url in [
            "example.com/x",
            "ftp://example.com/",
            "https:///path",
            "https://user:pw@example.com/",
            "https://exa mple.com/",
            "https://example.com/a b",
        ] {
            assert!(
                matches!(parse_url(url), Err(Error::InvalidRequest(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn errors_map_to_failures_by_retryability() {
        let denied: Failure = Error::Denied {
            host: "evil.example".into(),
        }
        .into();
        assert_eq!(denied.kind(), "rejected");
        assert!(denied.reason().contains("evil.example"));
        assert!(denied.reason().contains("allowed outbound hosts"));
        let timeout: Failure = Error::Timeout("x".into()).into();
        assert_eq!(timeout.kind(), "temporary");
    }

    #[test]
    fn request_and_response_builders() {
        let r = Request::post("https://x.example/")
            .bearer_auth("k")
            .json(&serde_json::json!({"a": 1}))
            .unwrap();
        assert_eq!(r.method(), Method::Post);
        assert_eq!(r.header_value("authorization"), Some("Bearer k"));
        assert_eq!(r.header_value("content-type"), Some("application/json"));
        assert_eq!(r.body_bytes(), br#"{"a":1}"#);

        let resp = Response::new(201)
            .with_header("Content-Type", "application/json")
            .with_body(r#"{"id":7}"#);
        assert!(resp.is_success());
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let v: serde_json::Value = resp.json().unwrap();
        assert_eq!(v["id"], 7);
        assert!(matches!(
            Response::new(200)
                .with_body("nope")
                .json::<serde_json::Value>(),
            Err(Error::Decode(_))
        ));
    }
}
