//! Calls to remote URL handlers: https only, SSRF-guarded at connect time, no redirects,
//! signed twice (Standard Webhooks headers and an MPT-style HS256 bearer JWT).
//!
//! During a secret rotation's grace period `webhook-signature` carries one `v1,` signature per
//! valid secret (the new one first); the JWT is keyed with the new secret. Every answer fills
//! the Call object (status, reason phrase, headers, a body excerpt); only 2xx is a success.
//!
//! Every call goes through the host's one egress guard ([`crate::sandbox::egress`]), which
//! components' outbound requests use too: https only, every address connected to checked, no
//! redirects, no environment proxies.

use super::{Attempt, Failure, Output, Trigger};
use crate::cache::Cache;
use crate::sandbox::Egress;
use crate::sandbox::egress::Refusal;
use crate::store::{Call, Store, Webhook};
use crate::time::format_ms;
use crate::time::now_ms;
use crate::vocab::FailureKind;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// `[outbound]` timeouts and policy as the client uses them.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// The egress guard.
    pub egress: Egress,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// `iss` claim of the bearer JWT.
    pub issuer: String,
}

/// The HTTP client of URL handlers. Cheap to clone.
#[derive(Clone)]
pub struct RemoteClient {
    client: reqwest::Client,
    config: Arc<RemoteConfig>,
    key: crate::crypto::MasterKey,
    /// Decrypted signing secrets per webhook, briefly (see [`Cache`]; a rotation through
    /// this process is seen at once).
    secrets: Arc<Cache<String, Arc<Vec<String>>>>,
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

fn failure(kind: FailureKind, message: String, retryable: bool) -> Failure {
    Failure::new(kind, message, retryable)
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
    let mut f = failure(FailureKind::Http(code), message, code != 410);
    f.gone = code == 410;
    if matches!(code, 429 | 502 | 503 | 504) {
        f.retry_after = retry_after(headers);
    }
    f
}

impl RemoteClient {
    /// A client of the egress guard.
    pub fn new(config: RemoteConfig, key: crate::crypto::MasterKey) -> anyhow::Result<Self> {
        Ok(RemoteClient {
            client: config.egress.client(config.connect_timeout),
            config: Arc::new(config),
            key,
            secrets: Arc::default(),
        })
    }

    /// The egress guard the client goes through (components' requests use it too).
    pub fn egress(&self) -> &Egress {
        &self.config.egress
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
                    self.secrets.put(generation, id, Arc::new(secrets));
                }
            }
            Err(error) => tracing::debug!(error = %error, "prefetching signing secrets failed"),
        }
    }

    /// Calls `url` for `webhook` with the trigger's payload; parameters go on the URL, and
    /// `headers` (a transform's, checked) beside the host's own.
    pub async fn call(
        &self,
        store: &Store,
        webhook: &Webhook,
        url: &str,
        trigger: &Trigger,
        headers: &[(String, String)],
    ) -> Attempt {
        let started = now_ms();
        let result = self.send(store, webhook, url, trigger, headers).await;
        let finished = now_ms();
        match result {
            Ok((status, reason, headers, body, outcome)) => Attempt {
                call: Call {
                    success: outcome.is_ok(),
                    call_time: format_ms(started),
                    response_time: Some(format_ms(finished)),
                    headers,
                    error: outcome
                        .as_ref()
                        .err()
                        .map(|f| f.message.clone())
                        .unwrap_or_default(),
                    response: super::excerpt(&body),
                    reason_phrase: reason,
                    http_status_code: status,
                    skipped: None,
                },
                result: outcome,
                detail: Default::default(),
            },
            Err(f) => Attempt {
                call: Call {
                    success: false,
                    call_time: format_ms(started),
                    response_time: None,
                    headers: String::new(),
                    error: f.message.clone(),
                    response: String::new(),
                    reason_phrase: f.kind.to_string(),
                    http_status_code: 0,
                    skipped: None,
                },
                result: Err(f),
                detail: Default::default(),
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
        extra_headers: &[(String, String)],
    ) -> Result<(u16, String, String, String, Result<Output, Failure>), Failure> {
        let mut target = self.config.egress.vet(url).await.map_err(|e| match e {
            Refusal::Name { .. } => failure(FailureKind::RefusedAddress, e.to_string(), false),
            // Only through a proxy is a name resolved before connecting: like a failed
            // connection, it may work later.
            Refusal::Unresolved(_) => failure(
                FailureKind::Connect,
                format!("could not connect: {e}"),
                true,
            ),
            Refusal::Scheme(_) | Refusal::Invalid(_) | Refusal::Address(_) => {
                failure(FailureKind::RefusedUrl, e.to_string(), false)
            }
        })?;
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
            .get_or_load(store, webhook.id.as_str(), || async {
                store
                    .signing_secrets(&self.key, &webhook.id)
                    .await
                    .map(Arc::new)
            })
            .await
            .map_err(|e| {
                failure(
                    FailureKind::HostService,
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
        let mut request = self.client.post(target);
        for (name, value) in extra_headers {
            request = request.header(name, value);
        }
        // The receiver's work joins the trace (the caller made this call's span current).
        if let Some(traceparent) = crate::telemetry::current_traceparent() {
            request = request.header("traceparent", traceparent);
        }
        let response = request
            .header("webhook-id", &trigger.delivery_id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signatures.join(" "))
            .header(reqwest::header::AUTHORIZATION, format!("Bearer {jwt}"))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(trigger.payload.clone())
            .timeout(self.config.timeout)
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
                skipped: None,
            }),
        };
        Ok((status.as_u16(), reason, headers_text, body, outcome))
    }

    /// A failed exchange (no complete answer), with a reason a webhook owner can act on.
    fn transport_failure(&self, e: &reqwest::Error) -> Failure {
        if let Some(refused) = Egress::refusal(e) {
            return failure(FailureKind::RefusedAddress, refused.to_string(), false);
        }
        if e.is_timeout() {
            return if e.is_connect() {
                let ms = self.config.connect_timeout.as_millis();
                failure(
                    FailureKind::ConnectTimeout,
                    format!("connecting to the endpoint timed out after {ms} ms"),
                    true,
                )
            } else {
                let ms = self.config.timeout.as_millis();
                failure(
                    FailureKind::Timeout,
                    format!("the endpoint did not answer within {ms} ms"),
                    true,
                )
            };
        }
        let detail =
            error_chain(e).replace("error sending request for url", "sending the request to");
        if e.is_connect() {
            failure(
                FailureKind::Connect,
                format!("could not connect: {detail}"),
                true,
            )
        } else {
            failure(FailureKind::Transport, detail, true)
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
        assert_eq!(moved.kind, FailureKind::Http(302));
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
