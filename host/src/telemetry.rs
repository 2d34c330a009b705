//! Traces: OpenTelemetry over OTLP/HTTP (protobuf), off unless `[tracing] endpoint` is set.
//!
//! The host's `tracing` spans are the trace's spans, bridged by `tracing-opentelemetry`; only
//! the spans made with [`span!`](crate::telemetry::span) and the host's own log events inside
//! them are exported. A trace follows a call from the request that caused it (an incoming W3C
//! `traceparent` is its parent) through the outbox (the planning span's `traceparent` is
//! stored on the delivery row, so the worker's attempt joins the trace on any instance, after
//! any restart) to the component call (the plugin's log lines are span events) or the URL
//! call (which sends a `traceparent` of its own to the receiver).
//!
//! Off, nothing is built: no exporter, no layer, and [`span!`](crate::telemetry::span) is
//! `Span::none()` after one relaxed atomic load, so the paths pay no allocation for traces.

use crate::sandbox::{LogLine, LogSource};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// `[tracing]` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingConfig {
    /// The OTLP/HTTP collector (`http://collector:4318`; a URL without a path gets
    /// `/v1/traces`); empty: no traces.
    pub endpoint: String,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Share of new traces kept, 0 to 1; a call with an incoming `traceparent` follows the
    /// caller's decision.
    pub sample_ratio: f64,
    /// Spans are sent in batches at least this often, in ms.
    pub export_delay_ms: u64,
    /// Bounds one export request, in ms.
    pub export_timeout_ms: u64,
}

impl TracingConfig {
    /// Whether traces are exported.
    pub fn enabled(&self) -> bool {
        !self.endpoint.is_empty()
    }

    /// Checks the values; the collector's address only when traces are on.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.sample_ratio),
            "tracing.sample_ratio must be from 0 to 1"
        );
        anyhow::ensure!(
            self.export_delay_ms > 0 && self.export_timeout_ms > 0,
            "tracing.export_delay_ms and tracing.export_timeout_ms must be positive"
        );
        if self.enabled() {
            anyhow::ensure!(
                !self.service_name.trim().is_empty(),
                "tracing.service_name must not be empty"
            );
            self.traces_url()?;
        }
        Ok(())
    }

    /// The URL spans are posted to.
    fn traces_url(&self) -> anyhow::Result<String> {
        let mut url = url::Url::parse(&self.endpoint)
            .map_err(|e| anyhow::anyhow!("tracing.endpoint {:?}: {e}", self.endpoint))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https") && url.host_str().is_some(),
            "tracing.endpoint {:?} must be an http:// or https:// URL",
            self.endpoint
        );
        if url.path() == "/" {
            url.set_path("/v1/traces");
        }
        Ok(url.to_string())
    }
}

/// Whether a trace layer is installed: the one check the hot paths make.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported by this process.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A span at info level that is exported when traces are on, and `Span::none()` (free) when
/// they are off. Takes what `tracing::info_span!` takes.
macro_rules! span {
    ($($arg:tt)*) => {
        if $crate::telemetry::enabled() {
            ::tracing::info_span!($($arg)*)
        } else {
            ::tracing::Span::none()
        }
    };
}
pub(crate) use span;

/// The exporter of a process that exports traces: flushes what is left and stops when
/// dropped (at the end of `main`).
pub struct Exporter {
    provider: SdkTracerProvider,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("stopping the trace exporter: {error}");
        }
    }
}

/// The layer that turns the host's spans into OpenTelemetry spans (only those of the host's
/// own modules, at info level and above), and the exporter behind it; `None` when traces
/// are off. Call [`installed`] once the layer is part of the global subscriber.
#[allow(clippy::type_complexity)]
pub fn layer<S>(
    config: &TracingConfig,
) -> anyhow::Result<
    Option<(
        tracing_subscriber::filter::Filtered<
            tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>,
            tracing_subscriber::filter::Targets,
            S,
        >,
        Exporter,
    )>,
>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    use tracing_subscriber::Layer as _;
    if !config.enabled() {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(config.traces_url()?)
        .with_timeout(Duration::from_millis(config.export_timeout_ms))
        .build()
        .map_err(|e| anyhow::anyhow!("building the trace exporter: {e}"))?;
    let batches = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(Duration::from_millis(config.export_delay_ms))
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(batches)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sample_ratio,
        ))))
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(config.service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("hookhost");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("hookhost", tracing::Level::INFO),
        );
    Ok(Some((layer, Exporter { provider })))
}

/// Says that the layer of [`layer`] is installed: spans are made from now on.
pub fn installed() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// The W3C `traceparent` of the current span, when traces are on and it is in a trace: what
/// the outbox keeps and what an outgoing request carries.
pub fn current_traceparent() -> Option<String> {
    if !enabled() {
        return None;
    }
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = OneHeader::default();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.traceparent
}

/// Makes the trace of `traceparent` (a W3C header value) the parent of `span`; an invalid
/// value is ignored (the span starts a trace of its own).
pub fn set_parent(span: &tracing::Span, traceparent: &str) {
    if span.is_disabled() {
        return;
    }
    let carrier = OneHeader {
        traceparent: Some(traceparent.to_owned()),
    };
    let context = TraceContextPropagator::new().extract(&carrier);
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}

/// Adds the log lines of a component call to `span` as its events.
pub fn add_log_events(span: &tracing::Span, lines: &[LogLine]) {
    if span.is_disabled() {
        return;
    }
    for line in lines {
        let source = match line.source {
            LogSource::Trace => "trace",
            LogSource::Debug => "debug",
            LogSource::Info => "info",
            LogSource::Warn => "warn",
            LogSource::Error => "error",
            LogSource::Stdout => "stdout",
            LogSource::Stderr => "stderr",
            LogSource::Host => "host",
        };
        span.add_event(
            line.message.clone(),
            vec![opentelemetry::KeyValue::new("log.source", source)],
        );
    }
}

/// A carrier of the one header the host propagates.
#[derive(Default)]
struct OneHeader {
    traceparent: Option<String>,
}

impl Injector for OneHeader {
    fn set(&mut self, key: &str, value: String) {
        if key == "traceparent" {
            self.traceparent = Some(value);
        }
    }
}

impl Extractor for OneHeader {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent")
            .then_some(self.traceparent.as_deref())
            .flatten()
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}
