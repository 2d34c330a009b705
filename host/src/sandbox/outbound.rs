//! Outbound HTTP for components: `wasi:http/outgoing-handler`, deny by default.
//!
//! A request leaves the sandbox only when its host (or `host:port`) is on the webhook's
//! allowlist; everything else is answered with the wasi-http error `HTTP-request-denied`
//! without a connection being made.

use std::sync::Arc;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The allowlist of one call.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed_hosts: Arc<[String]>,
}

impl OutboundPolicy {
    /// A policy allowing exactly `hosts`: `name` allows any port, `name:port` one port.
    pub fn new(hosts: &[String]) -> Self {
        OutboundPolicy {
            allowed_hosts: hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
        }
    }

    /// Whether a request to `uri` may leave the sandbox.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let Some(authority) = uri.authority() else {
            return false;
        };
        let host = authority.host().to_ascii_lowercase();
        let port = authority.port_u16().unwrap_or(match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        let with_port = format!("{host}:{port}");
        self.allowed_hosts
            .iter()
            .any(|allowed| *allowed == host || *allowed == with_port)
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

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        drop(fut);
        if !self.allows(request.uri()) {
            tracing::debug!(uri = %request.uri(), "outbound request denied by allowlist");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_matches_host_or_host_and_port() {
        let policy = OutboundPolicy::new(&["api.example.com".into(), "127.0.0.1:8080".into()]);
        let allows = |u: &str| policy.allows(&u.parse().unwrap());
        assert!(allows("https://api.example.com/x"));
        assert!(allows("https://API.example.com:8443/x"));
        assert!(allows("http://127.0.0.1:8080/"));
        assert!(!allows("http://127.0.0.1:8081/"));
        assert!(!allows("http://127.0.0.1/"));
        assert!(!allows("https://example.com/"));
        assert!(!allows("https://api.example.com.evil.test/"));
        assert!(!OutboundPolicy::default().allows(&"https://api.example.com/".parse().unwrap()));
    }
}
