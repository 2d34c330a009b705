//! Running one webhook once, whatever its handler: the one path shared by the synchronous
//! execute endpoints, the delivery workers and test calls.
//!
//! - [`component`]: a component handler, in the sandbox; a URL webhook's transform, too.
//! - [`remote`]: a URL handler: egress guard, signing, timeouts.
//! - [`criteria`]: which of the webhooks a trigger reaches apply to its payload.
//!
//! Architecture Invariants: the [`Executor`] is the one way a webhook runs; nothing else
//! calls a component or a handler's URL. Handlers know nothing of HTTP envelopes: the
//! executor hands a component an `Invocation` and gets an `Outcome` or a failure; the
//! dialect modules in `api/` turn that into their own answers.

pub mod component;
pub mod criteria;
pub mod remote;

pub use criteria::criteria_match;
pub use remote::{RemoteClient, RemoteConfig};

use crate::metrics::Metrics;
use crate::sandbox::{CapturedLog, LogLine, LogSource};
use crate::sandbox::{Event, Runtime};
use crate::store::{Call, CallDetail, Handler, Store, Webhook};
use crate::time::{format_ms, now_ms};
use crate::vocab::{FailureKind, TriggerSource};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument as _;

/// Longest response excerpt kept in a Call object, and longest request excerpt kept beside it.
pub const RESPONSE_EXCERPT_BYTES: usize = 4096;

/// Most bytes of a plugin's log lines kept in the call log (the sandbox captures up to
/// `max_log_bytes` per call; `plugin run` shows all of it).
pub const LOG_EXCERPT_BYTES: usize = 4096;

/// What caused a call.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// Where the call comes from.
    pub source: TriggerSource,
    /// Module or object type.
    pub module: String,
    /// Record id.
    pub record_id: String,
    /// The event.
    pub event: Event,
    /// The payload (JSON text, or raw text for Ivanti XML bodies).
    pub payload: String,
    /// Parameters (process steps, activation query parameters).
    pub parameters: Vec<(String, String)>,
    /// Stable across retries.
    pub delivery_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Machine-readable kind (`rejected`, `timeout`, `http-500`, …).
    pub kind: FailureKind,
    /// Human-readable reason.
    pub message: String,
    /// Whether a retry may succeed.
    pub retryable: bool,
    /// A delay the handler asked for (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// The webhook should be disabled (HTTP 410 Gone).
    pub gone: bool,
}

impl Failure {
    /// A failure of `kind` without a delay or a verdict on the webhook.
    pub fn new(kind: FailureKind, message: impl Into<String>, retryable: bool) -> Self {
        Failure {
            kind,
            message: message.into(),
            retryable,
            retry_after: None,
            gone: false,
        }
    }

    /// The host failed while `context` (database, loading) and so could not do `what`:
    /// retryable, and logged here with its cause, which the call log does not show.
    pub(crate) fn host(
        webhook: &Webhook,
        context: &str,
        what: &str,
        error: &dyn std::fmt::Display,
    ) -> Self {
        tracing::error!(webhook = %webhook.id, error = %error, "{context}");
        Failure::new(
            FailureKind::HostService,
            format!("{context}: the host could not {what}"),
            true,
        )
    }
}

/// What a successful attempt returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The body.
    pub body: String,
    /// Its content type (`application/json` for component outcomes that are JSON).
    pub content_type: String,
    /// Record field updates (component handlers).
    pub updates: Vec<(String, String)>,
    /// Why nothing was sent, when the webhook's transform dropped the request (the body is
    /// then empty).
    pub skipped: Option<String>,
}

impl Output {
    /// A call the webhook's transform dropped, saying why.
    fn skipped(reason: String) -> Self {
        Output {
            body: String::new(),
            content_type: "text/plain; charset=utf-8".into(),
            updates: Vec::new(),
            skipped: Some(reason),
        }
    }
}

/// What a URL webhook sends, once its transform (if any) had its say.
enum Outgoing<'t> {
    /// This request: the trigger's payload as the body, its parameters on the URL, and these
    /// extra headers.
    Send(Cow<'t, Trigger>, Vec<(String, String)>),
    /// Nothing, for this reason.
    Skip(String),
}

/// One attempt: the result and the MPT Call object describing it.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// What came back.
    pub result: Result<Output, Failure>,
    /// The Call object for statistics and the call log.
    pub call: Call,
    /// What the call log keeps beside it: the request sent, the plugin's log lines.
    pub detail: CallDetail,
}

/// Runs webhooks. Cheap to clone.
#[derive(Clone)]
pub struct Executor {
    store: Store,
    lookups: crate::cache::Lookups,
    runtime: Runtime,
    remote: RemoteClient,
    /// The digest of each component id met (ids are immutable: a new upload is a new id);
    /// the runtime keeps the loaded components, bounded.
    digests: Arc<Mutex<HashMap<String, String>>>,
    metrics: Arc<Metrics>,
}

/// `url` as a span shows it: without credentials, query or fragment (a URL handler's
/// parameters may be secret).
fn traced_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => String::new(),
    }
}

/// The first [`RESPONSE_EXCERPT_BYTES`] of `text`, cut at a character boundary.
pub fn excerpt(text: &str) -> String {
    if text.len() <= RESPONSE_EXCERPT_BYTES {
        return text.to_owned();
    }
    let mut end = RESPONSE_EXCERPT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Appends the lines of `log` to `kept`, up to [`LOG_EXCERPT_BYTES`] in all; what does not fit
/// is counted in a last line of the host's.
fn keep_log(kept: &mut Vec<LogLine>, log: CapturedLog) {
    let mut used: usize = kept.iter().map(|l| l.message.len() + 1).sum();
    let mut dropped = log.dropped_bytes;
    for line in log.lines {
        if used + line.message.len() < LOG_EXCERPT_BYTES {
            used += line.message.len() + 1;
            kept.push(line);
        } else {
            dropped += line.message.len() as u64 + 1;
        }
    }
    if dropped > 0 {
        kept.push(LogLine {
            source: LogSource::Host,
            message: format!("({dropped} more bytes of log not kept)"),
        });
    }
}

impl Executor {
    /// An executor over `store` and `runtime`; `key` opens the activations' secret parameters.
    pub fn new(
        store: Store,
        runtime: Runtime,
        remote: RemoteClient,
        key: crate::crypto::MasterKey,
    ) -> Self {
        let lookups = crate::cache::Lookups::new(store.clone(), key);
        Executor {
            store,
            lookups,
            runtime,
            remote,
            digests: Arc::default(),
            metrics: Arc::default(),
        }
    }

    /// The process's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The runtime the executor runs components in.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The client of URL handlers.
    pub fn remote(&self) -> &RemoteClient {
        &self.remote
    }

    /// The cached registry lookups shared by the execute paths.
    pub fn lookups(&self) -> &crate::cache::Lookups {
        &self.lookups
    }

    /// Runs `webhook` once for `tenant_id` with `trigger`.
    pub async fn run(&self, webhook: &Webhook, tenant_id: &str, trigger: &Trigger) -> Attempt {
        let clock = std::time::Instant::now();
        let attempt = self.attempt(webhook, tenant_id, trigger).await;
        let outcome = match &attempt.result {
            Ok(_) => Cow::Borrowed("ok"),
            Err(failure) => Cow::Owned(failure.kind.to_string()),
        };
        self.metrics.observe_call(
            trigger.source.as_str(),
            outcome,
            clock.elapsed().as_secs_f64(),
        );
        attempt
    }

    async fn attempt(&self, webhook: &Webhook, tenant_id: &str, trigger: &Trigger) -> Attempt {
        let started = now_ms();
        let mut detail = CallDetail::default();
        let result = match &webhook.handler {
            Handler::Component(id) => {
                detail.request = excerpt(&trigger.payload);
                self.run_component(webhook, id, tenant_id, trigger, &mut detail.log)
                    .await
            }
            Handler::Url(url) => {
                let outgoing = match self.url_trigger(webhook, tenant_id, trigger).await {
                    Ok(trigger) => {
                        self.transformed(webhook, tenant_id, trigger, &mut detail.log)
                            .await
                    }
                    Err(failure) => Err(failure),
                };
                match outgoing {
                    // Signed in `remote`, over what the transform returned.
                    Ok(Outgoing::Send(trigger, headers)) => {
                        let span = crate::telemetry::span!(
                            "url call",
                            otel.kind = "client",
                            webhook.id = %webhook.id,
                            url.full = %traced_url(url),
                            http.response.status_code = tracing::field::Empty,
                        );
                        let mut attempt = self
                            .remote
                            .call(&self.store, webhook, url, &trigger, &headers)
                            .instrument(span.clone())
                            .await;
                        span.record("http.response.status_code", attempt.call.http_status_code);
                        detail.request = excerpt(&trigger.payload);
                        attempt.detail = detail;
                        return attempt;
                    }
                    Ok(Outgoing::Skip(reason)) => Ok(Output::skipped(reason)),
                    Err(failure) => Err(failure),
                }
            }
        };
        let finished = now_ms();
        let call = match &result {
            Ok(Output {
                skipped: Some(reason),
                ..
            }) => Call {
                success: true,
                call_time: format_ms(started),
                response_time: Some(format_ms(finished)),
                headers: String::new(),
                error: String::new(),
                response: String::new(),
                reason_phrase: "Skipped".into(),
                http_status_code: 0,
                skipped: Some(reason.clone()),
            },
            Ok(output) => Call {
                success: true,
                call_time: format_ms(started),
                response_time: Some(format_ms(finished)),
                headers: format!("content-type: {}", output.content_type),
                error: String::new(),
                response: excerpt(&output.body),
                reason_phrase: "OK".into(),
                http_status_code: 200,
                skipped: None,
            },
            Err(failure) => Call {
                success: false,
                call_time: format_ms(started),
                response_time: Some(format_ms(finished)),
                headers: String::new(),
                error: failure.message.clone(),
                response: String::new(),
                reason_phrase: failure.kind.to_string(),
                http_status_code: 0,
                skipped: None,
            },
        };
        Attempt {
            result,
            call,
            detail,
        }
    }

    /// The trigger a URL handler is called with. Record triggers (smartml) and validations
    /// (MPT) carry the activation's parameters on the URL, read now rather than when the
    /// call was planned: secret ones stay sealed in the activation instead of lying in the
    /// outbox in clear. Parameters the trigger brings itself win over the activation's.
    async fn url_trigger<'t>(
        &self,
        webhook: &Webhook,
        tenant_id: &str,
        trigger: &'t Trigger,
    ) -> Result<Cow<'t, Trigger>, Failure> {
        let Some(service_id) = &webhook.service_id else {
            // A webhook of no service has no activation to take parameters from.
            return Ok(Cow::Borrowed(trigger));
        };
        if !trigger.source.carries_activation() {
            return Ok(Cow::Borrowed(trigger));
        }
        let activation = self
            .lookups
            .activation(tenant_id, service_id)
            .await
            .map_err(|e| {
                Failure::host(webhook, "reading the activation", "call the webhook", &e)
            })?;
        let mut parameters: Vec<(String, String)> = activation
            .all()
            .into_iter()
            .filter(|(name, _)| !trigger.parameters.iter().any(|(n, _)| n == name))
            .collect();
        parameters.extend(trigger.parameters.iter().cloned());
        Ok(Cow::Owned(Trigger {
            parameters,
            ..trigger.clone()
        }))
    }
}
