//! Outbound HTTP for components: `wasi:http/outgoing-handler`, deny by default.
//!
//! A request leaves the sandbox only when its host (or `host:port`) is on the webhook's
//! allowlist, and then only through the [`Egress`] guard that URL handlers use too (https only,
//! public addresses only, no redirects, no environment proxies). Each call may send at most
//! `max_outbound_requests` requests; each request's body and its response's body are capped at
//! `max_outbound_body_bytes`; connecting and the whole exchange have timeouts that never reach
//! past the call's deadline. Every refusal is a wasi-http error for the guest and a `host` line
//! in the call's log saying why.

use super::calllog::{CallLog, LogSource};
use super::egress::{Egress, Refusal};
use super::limits::Limits;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// One `allowedHosts` entry, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    /// Lowercase name, dotted IPv4, or bracketed canonical IPv6.
    host: String,
    /// `None`: any port.
    port: Option<u16>,
}

impl Allowed {
    fn parse(entry: &str) -> Option<Allowed> {
        let entry = entry.to_ascii_lowercase();
        let (host, port) = match entry.strip_prefix('[') {
            Some(rest) => {
                let (v6, after) = rest.split_once(']')?;
                let v6: std::net::Ipv6Addr = v6.parse().ok()?;
                let port = match after {
                    "" => None,
                    _ => Some(after.strip_prefix(':')?.parse().ok()?),
                };
                (format!("[{v6}]"), port)
            }
            None => match entry.split_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port.parse().ok()?)),
                None => (entry.clone(), None),
            },
        };
        let host = match host.parse::<std::net::Ipv4Addr>() {
            Ok(v4) => v4.to_string(),
            Err(_) => host,
        };
        Some(Allowed { host, port })
    }
}

/// The host of `url` as [`Allowed`] entries spell it.
fn normal_host(url: &url::Url) -> Option<String> {
    Some(match url.host()? {
        url::Host::Domain(name) => name.to_ascii_lowercase(),
        url::Host::Ipv4(v4) => v4.to_string(),
        url::Host::Ipv6(v6) => format!("[{v6}]"),
    })
}

/// The allowlist of one webhook and the guard its requests go through.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed: Arc<[Allowed]>,
    egress: Egress,
}

impl OutboundPolicy {
    /// A policy allowing exactly `hosts` (`name` allows any port, `name:port` one port),
    /// through `egress`. Entries that do not parse allow nothing.
    pub fn new(egress: Egress, hosts: &[String]) -> Self {
        OutboundPolicy {
            allowed: hosts.iter().filter_map(|h| Allowed::parse(h)).collect(),
            egress,
        }
    }

    /// Whether the allowlist admits `url` (the guard decides separately).
    pub fn allows(&self, url: &url::Url) -> bool {
        let (Some(host), Some(port)) = (normal_host(url), url.port_or_known_default()) else {
            return false;
        };
        self.allowed
            .iter()
            .any(|a| a.host == host && a.port.is_none_or(|p| p == port))
    }
}

/// The outbound budget of one call: what [`OutboundPolicy`] allows, within the call's limits.
pub(super) struct OutboundCall {
    policy: OutboundPolicy,
    max_requests: u32,
    max_body_bytes: u64,
    connect_timeout: Duration,
    timeout: Duration,
    deadline: Instant,
    sent: u32,
    log: CallLog,
}

impl OutboundCall {
    pub(super) fn new(
        policy: OutboundPolicy,
        limits: &Limits,
        deadline: Instant,
        log: CallLog,
    ) -> Self {
        OutboundCall {
            policy,
            max_requests: limits.max_outbound_requests,
            max_body_bytes: limits.max_outbound_body_bytes,
            connect_timeout: Duration::from_millis(limits.outbound_connect_timeout_ms),
            timeout: Duration::from_millis(limits.outbound_timeout_ms),
            deadline,
            sent: 0,
            log,
        }
    }

    fn refuse(&self, uri: &http::Uri, why: &str, error: Error) -> SendFuture {
        tracing::debug!(uri = %uri, why, "outbound request refused");
        self.log.line(
            LogSource::Host,
            format!("outbound request to {uri} refused: {why}"),
        );
        Box::new(async move { Err(error) })
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

fn refusal_error(refusal: &Refusal) -> Error {
    match refusal {
        Refusal::Scheme(_) => Error::HttpRequestDenied,
        Refusal::Invalid(_) => Error::HttpRequestUriInvalid,
        Refusal::Address(_) | Refusal::Name { .. } => Error::DestinationIpProhibited,
        Refusal::Unresolved(_) => Error::DestinationNotFound,
    }
}

impl WasiHttpHooks for OutboundCall {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        drop(fut);
        let uri = request.uri().clone();
        let url = match url::Url::parse(&uri.to_string()) {
            Ok(url) => url,
            Err(e) => return self.refuse(&uri, &e.to_string(), Error::HttpRequestUriInvalid),
        };
        if !self.policy.allows(&url) {
            return self.refuse(
                &uri,
                "the host is not on the webhook's allowedHosts",
                Error::HttpRequestDenied,
            );
        }
        if self.sent >= self.max_requests {
            let why = format!(
                "the call already sent {} requests, its limit",
                self.max_requests
            );
            return self.refuse(&uri, &why, Error::ConnectionLimitReached);
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return self.refuse(
                &uri,
                "the call's deadline has passed",
                Error::ConnectionTimeout,
            );
        }
        self.sent += 1;
        let requested = |pick: fn(&RequestOptions) -> Option<Duration>| {
            options.as_ref().and_then(pick).unwrap_or(Duration::MAX)
        };
        let connect_timeout = self
            .connect_timeout
            .min(requested(|o| o.connect_timeout))
            .min(left);
        let timeout = self.timeout.min(left);
        let client = self.policy.egress.client(connect_timeout);
        let egress = self.policy.egress.clone();
        let cap = self.max_body_bytes;
        let log = self.log.clone();
        Box::new(async move {
            let result = send(&egress, client, request, url, timeout, cap).await;
            if let Err((why, error)) = &result {
                let verb = match error {
                    Error::HttpRequestDenied
                    | Error::HttpRequestUriInvalid
                    | Error::DestinationIpProhibited
                    | Error::HttpRequestBodySize(_) => "refused",
                    _ => "failed",
                };
                log.line(
                    LogSource::Host,
                    format!("outbound request to {uri} {verb}: {why}"),
                );
            }
            result.map_err(|(_, error)| error)
        })
    }
}

/// Sends one vetted request and hands back the response with its body capped.
async fn send(
    egress: &Egress,
    client: reqwest::Client,
    request: http::Request<WasiBody>,
    url: url::Url,
    timeout: Duration,
    cap: u64,
) -> Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), Error>> + Send>,
    ),
    (String, Error),
> {
    let url = egress
        .vet(url.as_str())
        .await
        .map_err(|refusal| (refusal.to_string(), refusal_error(&refusal)))?;
    let (parts, body) = request.into_parts();
    let cap_usize = usize::try_from(cap).unwrap_or(usize::MAX);
    let body: Bytes = match Limited::new(body, cap_usize).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err((
                format!("the request body is larger than {cap} bytes, the limit"),
                Error::HttpRequestBodySize(Some(cap)),
            ));
        }
    };
    let mut headers = parts.headers;
    // reqwest sets Host from the URL it was given.
    headers.remove(http::header::HOST);
    let response = client
        .request(parts.method, url)
        .headers(headers)
        .body(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| transport_error(&e, timeout))?;
    let response: http::Response<reqwest::Body> = response.into();
    let (parts, body) = response.into_parts();
    let body = CappedBody {
        inner: body,
        left: cap,
        cap,
    }
    .boxed_unsync();
    Ok((
        http::Response::from_parts(parts, body),
        Box::new(async { Ok(()) }) as Box<dyn Future<Output = Result<(), Error>> + Send>,
    ))
}

fn transport_error(e: &reqwest::Error, timeout: Duration) -> (String, Error) {
    if let Some(refusal) = Egress::refusal(e) {
        return (refusal.to_string(), refusal_error(&refusal));
    }
    let error = if e.is_timeout() {
        if e.is_connect() {
            Error::ConnectionTimeout
        } else {
            Error::HttpResponseTimeout
        }
    } else if e.is_connect() {
        Error::ConnectionRefused
    } else {
        Error::HttpProtocolError
    };
    let detail = if e.is_timeout() {
        format!("timed out (limit {} ms)", timeout.as_millis())
    } else {
        let mut parts = Vec::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = next {
            parts.push(err.to_string());
            next = err.source();
        }
        parts.join(": ")
    };
    (detail, error)
}

/// A response body that fails once more than `cap` bytes arrived.
struct CappedBody {
    inner: reqwest::Body,
    left: u64,
    cap: u64,
}

impl http_body::Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let size = data.len() as u64;
                    if size > this.left {
                        this.left = 0;
                        return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(this.cap)))));
                    }
                    this.left -= size;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(if e.is_timeout() {
                Error::HttpResponseTimeout
            } else {
                Error::HttpResponseIncomplete
            }))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_matches_host_or_host_and_port() {
        let policy = OutboundPolicy::new(
            Egress::default(),
            &[
                "api.example.com".into(),
                "127.0.0.1:8080".into(),
                "[2606:4700:0::1111]:8443".into(),
            ],
        );
        let allows = |u: &str| policy.allows(&url::Url::parse(u).unwrap());
        assert!(allows("https://api.example.com/x"));
        assert!(allows("https://API.example.com:8443/x"));
        assert!(allows("http://127.0.0.1:8080/"));
        assert!(allows("http://2130706433:8080/"), "another spelling");
        assert!(allows("https://[2606:4700::1111]:8443/"));
        assert!(!allows("https://[2606:4700::1111]/"));
        assert!(!allows("http://127.0.0.1:8081/"));
        assert!(!allows("http://127.0.0.1/"));
        assert!(!allows("https://example.com/"));
        assert!(!allows("https://api.example.com.evil.test/"));
        let none = OutboundPolicy::default();
        assert!(!none.allows(&url::Url::parse("https://api.example.com/").unwrap()));
    }
}
