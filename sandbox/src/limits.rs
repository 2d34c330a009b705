//! Per-call limits: what a single call may use before it is stopped.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Limits applied to one call of one component.
///
/// The operator sets defaults and ceilings in `[sandbox]`; a webhook may ask for less (or, up to
/// the ceilings, more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock budget of the call, enforced with epoch interruption while guest code runs
    /// and with a timer while it waits on the host (HTTP, key-value store).
    #[serde(alias = "timeoutMs")]
    pub timeout_ms: u64,
    /// Linear memory one instance may grow to, in bytes.
    #[serde(alias = "memoryBytes")]
    pub memory_bytes: u64,
    /// Optional deterministic instruction budget; needs `sandbox.fuel` enabled on the engine.
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Largest payload handed to the guest, in bytes.
    #[serde(alias = "maxPayloadBytes")]
    pub max_payload_bytes: u64,
    /// Largest outcome body accepted from the guest, in bytes.
    #[serde(alias = "maxOutputBytes")]
    pub max_output_bytes: u64,
    /// How many bytes of log lines (host `log`, stdout, stderr) a call keeps.
    #[serde(alias = "maxLogBytes")]
    pub max_log_bytes: u64,
    /// Most outgoing HTTP requests one call may send (each also needs `allowedHosts`).
    #[serde(
        alias = "maxOutboundRequests",
        default = "defaults::max_outbound_requests"
    )]
    pub max_outbound_requests: u32,
    /// Largest body of one outgoing request and of its response, in bytes.
    #[serde(
        alias = "maxOutboundBodyBytes",
        default = "defaults::max_outbound_body_bytes"
    )]
    pub max_outbound_body_bytes: u64,
    /// Connect timeout of one outgoing request, in ms (never past the call's deadline).
    #[serde(
        alias = "outboundConnectTimeoutMs",
        default = "defaults::outbound_connect_timeout_ms"
    )]
    pub outbound_connect_timeout_ms: u64,
    /// Whole-exchange timeout of one outgoing request, in ms (never past the call's deadline).
    #[serde(alias = "outboundTimeoutMs", default = "defaults::outbound_timeout_ms")]
    pub outbound_timeout_ms: u64,
}

/// Defaults of the fields added after limits were first stored with webhooks: a stored
/// webhook without them reads as if it had asked for nothing else.
mod defaults {
    pub fn max_outbound_requests() -> u32 {
        super::Limits::default().max_outbound_requests
    }
    pub fn max_outbound_body_bytes() -> u64 {
        super::Limits::default().max_outbound_body_bytes
    }
    pub fn outbound_connect_timeout_ms() -> u64 {
        super::Limits::default().outbound_connect_timeout_ms
    }
    pub fn outbound_timeout_ms() -> u64 {
        super::Limits::default().outbound_timeout_ms
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout_ms: 1_000,
            memory_bytes: 64 << 20,
            fuel: None,
            max_payload_bytes: 1 << 20,
            max_output_bytes: 1 << 20,
            max_log_bytes: 64 << 10,
            max_outbound_requests: 16,
            max_outbound_body_bytes: 1 << 20,
            outbound_connect_timeout_ms: 2_000,
            outbound_timeout_ms: 10_000,
        }
    }
}

impl Limits {
    /// The call's deadline as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// These limits, each clamped to `ceiling`'s value.
    pub fn clamped_to(self, ceiling: &Limits) -> Limits {
        Limits {
            timeout_ms: self.timeout_ms.min(ceiling.timeout_ms),
            memory_bytes: self.memory_bytes.min(ceiling.memory_bytes),
            fuel: match (self.fuel, ceiling.fuel) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            max_payload_bytes: self.max_payload_bytes.min(ceiling.max_payload_bytes),
            max_output_bytes: self.max_output_bytes.min(ceiling.max_output_bytes),
            max_log_bytes: self.max_log_bytes.min(ceiling.max_log_bytes),
            max_outbound_requests: self
                .max_outbound_requests
                .min(ceiling.max_outbound_requests),
            max_outbound_body_bytes: self
                .max_outbound_body_bytes
                .min(ceiling.max_outbound_body_bytes),
            outbound_connect_timeout_ms: self
                .outbound_connect_timeout_ms
                .min(ceiling.outbound_connect_timeout_ms),
            outbound_timeout_ms: self.outbound_timeout_ms.min(ceiling.outbound_timeout_ms),
        }
    }
}
