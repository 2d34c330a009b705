//! Calls to remote URL handlers: https only, SSRF-guarded at connect time, no redirects,
//! signed twice (Standard Webhooks headers and an MPT-style HS256 bearer JWT).
//!
//! During a secret rotation's grace period `webhook-signature` carries one `v1,` signature per
//! valid secret (the new one first); the JWT is keyed with the new secret. Every answer fills
//! the Call object (status, reason phrase, headers, a body excerpt); only 2xx is a success.
//!
//! The guard checks every address a name resolves to, and IP-literal URLs before anything is
//! sent: loopback, private, link-local, CGNAT, multicast, documentation, IPv4-mapped/compatible
//! IPv6, 6to4, NAT64, Teredo and unique-local addresses are refused. The URL parser normalises
//! decimal and hex IPv4 spellings (`http://2130706433/`, `0x7f.1`) to addresses first, so
//! those are refused too. The operator setting `outbound.allow_insecure` (development and
//! tests only) allows `http://` and non-global targets.

use crate::api::format_time;
use crate::exec::{Attempt, Failure, Output, Trigger};
use crate::store::{Call, Store, Webhook, now_ms};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// `[outbound]` timeouts and policy as the client uses them.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// Allow `http://` and non-global targets.
    pub allow_insecure: bool,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// `iss` claim of the bearer JWT.
    pub issuer: String,
}

/// Whether `ip` is a public unicast address a webhook may be delivered to.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, cloud metadata included
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18/15
        || a >= 240) // reserved
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_global_v4(v4);
    }
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site local fec0::/10
        || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0) // ::/96 compatible
        || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64 64:ff9b::/96 and 64:ff9b:1::/48
        || s[0] == 0x2002 // 6to4
        || (s[0] == 0x2001 && s[1] == 0) // Teredo 2001::/32
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0)) // discard 100::/64
}

/// Why a URL may not be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    /// Not `https://` (and insecure targets are not allowed).
    #[error("only https:// URLs may be called (got {0})")]
    Scheme(String),
    /// The URL does not parse or has no host.
    #[error("invalid URL: {0}")]
    Invalid(String),
    /// It points at a non-global address.
    #[error("the target address {0} is not a public address")]
    Address(IpAddr),
}

/// Checks a URL's scheme and, for IP literals, its address.
pub fn check_url(url: &str, allow_insecure: bool) -> Result<url::Url, UrlRefusal> {
    let parsed = url::Url::parse(url).map_err(|e| UrlRefusal::Invalid(e.to_string()))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        other => return Err(UrlRefusal::Scheme(format!("{other}://"))),
    }
    let ip = match parsed.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(UrlRefusal::Invalid("no host".into())),
    };
    if let Some(ip) = ip
        && !allow_insecure
        && !is_global(ip)
    {
        return Err(UrlRefusal::Address(ip));
    }
    Ok(parsed)
}

/// A resolver that keeps only global addresses: the check happens on what will actually be
/// connected to, so DNS tricks (a name resolving to 127.0.0.1) do not get through.
#[derive(Debug, Clone)]
struct GuardedResolver;

/// A name that resolves only to addresses the guard refuses. Travels inside reqwest's error
/// (as its source) so the call can be reported as refused rather than as a network failure.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, which is not a public address")]
struct NonPublicName {
    host: String,
    ip: IpAddr,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| is_global(a.ip()))
                .collect();
            if allowed.is_empty() {
                if let Some(first) = addrs.first() {
                    return Err(Box::new(NonPublicName {
                        host,
                        ip: first.ip(),
                    }) as _);
                }
                return Err(format!("{host} resolves to no address").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client of URL handlers. Cheap to clone.
#[derive(Clone)]
pub struct RemoteClient {
    client: reqwest::Client,
    config: Arc<RemoteConfig>,
    key: crate::crypto::MasterKey,
    /// Decrypted signing secrets per webhook, briefly (see [`crate::delivery::WebhookCache`];
    /// a rotation through this process is seen at once).
    secrets: Arc<crate::delivery::WebhookCache<Arc<Vec<String>>>>,
}

type HmacSha256 = Hmac<Sha256>;

/// The Standard Webhooks signature of `body`: `v1,<base64 hmac>` keyed with the decoded
/// `whsec_` secret.
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key = B64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .unwrap_or_else(|_| secret.as_bytes().to_vec());
    let mut mac = HmacSha256::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// Claims of the bearer JWT (MPT style).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    /// Who sends the call.
    pub iss: String,
    /// The host of the target URL.
    pub aud: String,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expires (iat + 300).
    pub exp: i64,
    /// The webhook.
    pub webhook_id: String,
}

/// The HS256 JWT for a call of `webhook_id` to `audience`, keyed with the secret text.
pub fn bearer_jwt(
    secret: &str,
    issuer: &str,
    audience: &str,
    webhook_id: &str,
    now: i64,
) -> String {
    let claims = Claims {
        iss: issuer.to_owned(),
        aud: audience.to_owned(),
        iat: now,
        nbf: now,
        exp: now + 300,
        webhook_id: webhook_id.to_owned(),
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 encoding cannot fail")
}

fn failure(kind: &str, message: String, retryable: bool) -> Failure {
    Failure {
        kind: kind.to_owned(),
        message,
        retryable,
        retry_after: None,
        gone: false,
    }
}

/// Longest `Retry-After` honoured: a receiver cannot park a delivery for longer.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// `Retry-After` as seconds or an HTTP date, capped at [`MAX_RETRY_AFTER`].
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let delay = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at =
                time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822)
                    .ok()?;
            let ms = (at.unix_timestamp() * 1000 - now_ms()).max(0);
            Duration::from_millis(ms as u64)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// The messages of `error` and of every error beneath it, without repetitions.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Finds an error of type `T` in `error`'s source chain.
fn find_source<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// What happens after a non-2xx answer: every one is a failure; 410 disables the webhook and
/// is final; all others are retried on the schedule (a receiver that is being redeployed may
/// answer 404 or 401 for a while), and 429/502/503/504 may ask for a longer pause with
/// `Retry-After`. Redirects are never followed: a 3xx is a failure like any other.
fn status_failure(status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap) -> Failure {
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("");
    let mut message = format!("the endpoint answered {code} {reason}")
        .trim_end()
        .to_owned();
    if status.is_redirection() {
        let location = headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        message.push_str(&format!(
            " (redirects are not followed; Location: {location})"
        ));
    }
    let mut f = failure(&format!("http-{code}"), message, code != 410);
    f.gone = code == 410;
    if matches!(code, 429 | 502 | 503 | 504) {
        f.retry_after = retry_after(headers);
    }
    f
}

impl RemoteClient {
    /// A client with the guard (unless insecure targets are allowed) and no redirects.
    pub fn new(config: RemoteConfig, key: crate::crypto::MasterKey) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(concat!("hookhost/", env!("CARGO_PKG_VERSION")));
        if !config.allow_insecure {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        Ok(RemoteClient {
            client: builder.build()?,
            config: Arc::new(config),
            key,
            secrets: Arc::new(crate::delivery::WebhookCache::new()),
        })
    }

    /// Loads the signing secrets of those of `webhook_ids` that are not cached, in one query
    /// per chunk. A failure
    /// only costs speed: each call then loads its webhook's secrets itself.
    pub async fn prefetch_secrets(&self, store: &Store, webhook_ids: &[&str]) {
        let (generation, stale) = self.secrets.stale(store, webhook_ids);
        if stale.is_empty() {
            return;
        }
        match store.signing_secrets_many(&self.key, &stale).await {
            Ok(found) => {
                for (id, secrets) in found {
                    self.secrets.put(generation, &id, Arc::new(secrets));
                }
            }
            Err(error) => tracing::debug!(error = %error, "prefetching signing secrets failed"),
        }
    }

    /// Calls `url` for `webhook` with the trigger's payload; parameters go on the URL.
    pub async fn call(
        &self,
        store: &Store,
        webhook: &Webhook,
        url: &str,
        trigger: &Trigger,
    ) -> Attempt {
        let started = now_ms();
        let result = self.send(store, webhook, url, trigger).await;
        let finished = now_ms();
        match result {
            Ok((status, reason, headers, body, outcome)) => Attempt {
                call: Call {
                    success: outcome.is_ok(),
                    call_time: format_time(started),
                    response_time: Some(format_time(finished)),
                    headers,
                    error: outcome
                        .as_ref()
                        .err()
                        .map(|f| f.message.clone())
                        .unwrap_or_default(),
                    response: crate::exec::excerpt(&body),
                    reason_phrase: reason,
                    http_status_code: status,
                },
                result: outcome,
            },
            Err(f) => Attempt {
                call: Call {
                    success: false,
                    call_time: format_time(started),
                    response_time: None,
                    headers: String::new(),
                    error: f.message.clone(),
                    response: String::new(),
                    reason_phrase: f.kind.clone(),
                    http_status_code: 0,
                },
                result: Err(f),
            },
        }
    }

    #[allow(clippy::type_complexity)]
    async fn send(
        &self,
        store: &Store,
        webhook: &Webhook,
        url: &str,
        trigger: &Trigger,
    ) -> Result<(u16, String, String, String, Result<Output, Failure>), Failure> {
        let mut target = check_url(url, self.config.allow_insecure)
            .map_err(|e| failure("refused-url", e.to_string(), false))?;
        if !trigger.parameters.is_empty() {
            let mut pairs = target.query_pairs_mut();
            for (name, value) in &trigger.parameters {
                pairs.append_pair(name, value);
            }
        }
        // The current secret and, during a rotation's grace period, the previous ones: the
        // receiver accepts a call when any signature verifies.
        let secrets = self
            .secrets
            .get_or_load(store, &webhook.id, || async {
                store
                    .signing_secrets(&self.key, &webhook.id)
                    .await
                    .map(Arc::new)
            })
            .await
            .map_err(|e| {
                failure(
                    "host-service",
                    format!("reading the signing secret: {e}"),
                    true,
                )
            })?;
        let now = now_ms() / 1000;
        let signatures: Vec<String> = secrets
            .iter()
            .map(|s| standard_signature(s, &trigger.delivery_id, now, &trigger.payload))
            .collect();
        let audience = target.host_str().unwrap_or_default().to_owned();
        let jwt = bearer_jwt(
            &secrets[0],
            &self.config.issuer,
            &audience,
            &webhook.id,
            now,
        );
        let content_type =
            if serde_json::from_str::<serde::de::IgnoredAny>(&trigger.payload).is_ok() {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
        let response = self
            .client
            .post(target)
            .header("webhook-id", &trigger.delivery_id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signatures.join(" "))
            .header(reqwest::header::AUTHORIZATION, format!("Bearer {jwt}"))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(trigger.payload.clone())
            .send()
            .await
            .map_err(|e| self.transport_failure(&e))?;
        let status = response.status();
        let reason = status.canonical_reason().unwrap_or("").to_owned();
        let headers_text: String = response
            .headers()
            .iter()
            .map(|(k, v)| format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())))
            .collect();
        let headers = response.headers().clone();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let (body, read) = read_limited(response, MAX_BODY_BYTES).await;
        let outcome = match read {
            _ if !status.is_success() => Err(status_failure(status, &headers)),
            Err(e) => Err(self.transport_failure(&e)),
            Ok(()) => Ok(Output {
                body: body.clone(),
                content_type,
                updates: Vec::new(),
            }),
        };
        Ok((status.as_u16(), reason, headers_text, body, outcome))
    }

    /// A failed exchange (no complete answer), with a reason a webhook owner can act on.
    fn transport_failure(&self, e: &reqwest::Error) -> Failure {
        if let Some(refused) = find_source::<NonPublicName>(e) {
            return failure("refused-address", refused.to_string(), false);
        }
        if e.is_timeout() {
            return if e.is_connect() {
                let ms = self.config.connect_timeout.as_millis();
                failure(
                    "connect-timeout",
                    format!("connecting to the endpoint timed out after {ms} ms"),
                    true,
                )
            } else {
                let ms = self.config.timeout.as_millis();
                failure(
                    "timeout",
                    format!("the endpoint did not answer within {ms} ms"),
                    true,
                )
            };
        }
        let detail =
            error_chain(e).replace("error sending request for url", "sending the request to");
        if e.is_connect() {
            failure("connect", format!("could not connect: {detail}"), true)
        } else {
            failure("transport", detail, true)
        }
    }
}

/// Largest response body read (sync callers get the body; the call log keeps an excerpt).
const MAX_BODY_BYTES: usize = 1 << 20;

/// Reads at most `limit` bytes of a response body as text; the error, if reading failed
/// (e.g. the whole-call timeout struck while the body was arriving).
async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> (String, Result<(), reqwest::Error>) {
    let mut bytes = Vec::new();
    let read = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit.saturating_sub(bytes.len());
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if bytes.len() >= limit {
                    break Ok(());
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    (String::from_utf8_lossy(&bytes).into_owned(), read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_global_addresses_are_refused_in_every_spelling() {
        for url in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://0177.0.0.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:7f00:1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/",
            "https://100.64.0.1/",
            "https://192.168.1.1/",
            "https://[fe80::1]/",
            "https://[fd00:ec2::254]/",
            "https://[2002:7f00:1::]/",
            "https://[64:ff9b::7f00:1]/",
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "https://0.0.0.0/",
        ] {
            assert!(
                matches!(check_url(url, false), Err(UrlRefusal::Address(_))),
                "{url}"
            );
        }
        assert!(check_url("https://93.184.215.14/", false).is_ok());
        assert!(check_url("https://[2606:4700::1111]/", false).is_ok());
        assert!(check_url("https://example.com/hook", false).is_ok());
        assert!(matches!(
            check_url("http://example.com/", false),
            Err(UrlRefusal::Scheme(_))
        ));
        assert!(matches!(
            check_url("ftp://example.com/", true),
            Err(UrlRefusal::Scheme(_))
        ));
        assert!(check_url("http://127.0.0.1:8080/", true).is_ok());
    }

    #[test]
    fn statuses_map_to_failures_and_retry_after_is_read_in_both_forms() {
        use reqwest::StatusCode;
        use reqwest::header::{HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        headers.insert(
            LOCATION,
            HeaderValue::from_static("https://elsewhere.example/"),
        );
        let gone = status_failure(StatusCode::GONE, &headers);
        assert!(gone.gone && !gone.retryable);
        let busy = status_failure(StatusCode::SERVICE_UNAVAILABLE, &headers);
        assert!(busy.retryable && !busy.gone);
        assert_eq!(busy.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(
            status_failure(StatusCode::INTERNAL_SERVER_ERROR, &headers).retry_after,
            None
        );
        let moved = status_failure(StatusCode::FOUND, &headers);
        assert_eq!(moved.kind, "http-302");
        assert!(
            moved.message.contains("302 Found")
                && moved.message.contains("https://elsewhere.example/"),
            "{}",
            moved.message
        );
        assert!(status_failure(StatusCode::NOT_FOUND, &headers).retryable);

        let in_a_minute = time::OffsetDateTime::now_utc() + time::Duration::seconds(60);
        let date = in_a_minute
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&date.replace("+0000", "GMT")).unwrap(),
        );
        let after = retry_after(&headers).unwrap();
        assert!(
            (Duration::from_secs(55)..=Duration::from_secs(60)).contains(&after),
            "{after:?}"
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("99999999"));
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let signature = standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
