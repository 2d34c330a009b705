//! Prometheus metrics, served at `/metrics`.
//!
//! Calls are counted by where they came from and how they ended, with their durations;
//! the outbox and the compile cache are read at scrape time, so the figures are the
//! database's and the runtime's own, not a copy that could drift.

use crate::vocab::{CircuitState, DeliveryStatus};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::borrow::Cow;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    /// `smartml`, `ivanti`, `test`, `process`, …
    source: &'static str,
    /// `ok` or the failure kind.
    outcome: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CircuitLabels {
    webhook: String,
    state: String,
}

/// Webhooks' circuits as the database has them at scrape time: how many in each state, and
/// the webhooks whose circuit is not closed.
pub type Circuits = (
    std::collections::BTreeMap<CircuitState, i64>,
    Vec<(String, CircuitState)>,
);

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    durations: Family<SourceLabel, Histogram>,
    deliveries: Family<StatusLabel, Gauge>,
    circuits: Family<StateLabel, Gauge>,
    open_circuits: Family<CircuitLabels, Gauge>,
    compiled: Gauge,
    loaded_from_disk: Gauge,
    loaded: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hookhost");
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "calls",
            "Webhook calls by source and outcome",
            calls.clone(),
        );
        let durations = Family::<SourceLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0,
            ])
        });
        registry.register(
            "call_duration_seconds",
            "Duration of webhook calls",
            durations.clone(),
        );
        let deliveries = Family::<StatusLabel, Gauge>::default();
        registry.register(
            "outbox_deliveries",
            "Outbox rows by status (read at scrape)",
            deliveries.clone(),
        );
        let circuits = Family::<StateLabel, Gauge>::default();
        registry.register(
            "webhook_circuits",
            "Webhooks by circuit state (read at scrape)",
            circuits.clone(),
        );
        let open_circuits = Family::<CircuitLabels, Gauge>::default();
        registry.register(
            "webhook_circuit_open",
            "1 for each webhook whose circuit is open or probing (read at scrape)",
            open_circuits.clone(),
        );
        let compiled = Gauge::default();
        registry.register(
            "components_compiled",
            "Components compiled by this process",
            compiled.clone(),
        );
        let loaded_from_disk = Gauge::default();
        registry.register(
            "components_loaded_from_disk",
            "Components loaded from the on-disk artifact cache by this process",
            loaded_from_disk.clone(),
        );
        let loaded = Gauge::default();
        registry.register(
            "components_loaded",
            "Components loaded in memory now (bounded by sandbox.loaded_components)",
            loaded.clone(),
        );
        Metrics {
            registry,
            calls,
            durations,
            deliveries,
            circuits,
            open_circuits,
            compiled,
            loaded_from_disk,
            loaded,
        }
    }

    /// Counts one call.
    pub fn observe_call(&self, source: &'static str, outcome: Cow<'static, str>, seconds: f64) {
        // Labels borrowed where they can be: every call counts, without allocating.
        self.calls
            .get_or_create(&CallLabels { source, outcome })
            .inc();
        self.durations
            .get_or_create(&SourceLabel { source })
            .observe(seconds);
    }

    /// The text exposition, with the scrape-time figures set first.
    pub fn render(
        &self,
        outbox: &std::collections::BTreeMap<String, i64>,
        circuits: &Circuits,
        runtime: crate::sandbox::RuntimeStats,
    ) -> String {
        let (by_state, not_closed) = circuits;
        for state in CircuitState::ALL {
            self.circuits
                .get_or_create(&StateLabel {
                    state: state.to_string(),
                })
                .set(by_state.get(state).copied().unwrap_or(0));
        }
        // Only the circuits open now: the family is refilled at every scrape.
        self.open_circuits.clear();
        for (webhook, state) in not_closed {
            self.open_circuits
                .get_or_create(&CircuitLabels {
                    webhook: webhook.clone(),
                    state: state.to_string(),
                })
                .set(1);
        }
        for status in DeliveryStatus::ALL.iter().map(|s| s.as_str()) {
            let n = outbox.get(status).copied().unwrap_or(0);
            self.deliveries
                .get_or_create(&StatusLabel {
                    status: status.to_owned(),
                })
                .set(n);
        }
        self.compiled.set(runtime.compiled as i64);
        self.loaded_from_disk.set(runtime.loaded_from_disk as i64);
        self.loaded.set(runtime.loaded as i64);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}
