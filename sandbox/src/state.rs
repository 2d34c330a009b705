//! The per-call store state and the host side of the `host` and `kv` interfaces, for every
//! served version of the contract (0.1.0 delegates to the current one).

use super::bindings::v0_1::marketplace::webhook as v0_1;
use super::bindings::v0_2::marketplace::webhook::{host, kv, types};
use super::calllog::{CallLog, LogSource};
use super::kv::{KvRefused, KvStore, MAX_KEY_BYTES, MAX_VALUE_BYTES};
use super::outbound::OutboundCall;
use super::share::GuestClock;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Everything one call's `Store` holds. A fresh one per call: nothing leaks between calls.
pub struct CallState {
    pub(super) wasi: WasiCtx,
    pub(super) http: WasiHttpCtx,
    pub(super) table: ResourceTable,
    pub(super) outbound: OutboundCall,
    pub(super) limiter: MemoryLimiter,
    pub(super) log: CallLog,
    /// The activation's parameter values that are not secret, read through `host.config`.
    pub(super) config: Arc<BTreeMap<String, String>>,
    /// The activation's secret parameter values, read through `host.secret` (and, for 0.1.0
    /// guests, through `host.config` as before).
    pub(super) secrets: Arc<BTreeMap<String, String>>,
    pub(super) kv: Arc<dyn KvStore>,
    /// Guest time used, and the permit of a long call.
    pub(super) clock: GuestClock,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// Caps the linear memory of the whole instance (all its memories together, not each one)
/// and remembers the peak, which the local runner reports.
#[derive(Debug)]
pub struct MemoryLimiter {
    pub(super) cap: usize,
    pub(super) current: usize,
    pub(super) peak: usize,
    /// Set when a growth was refused: a trap that follows is reported as the memory limit.
    pub(super) refused: Option<usize>,
}

impl MemoryLimiter {
    pub(super) fn new(cap: usize) -> Self {
        MemoryLimiter {
            cap,
            current: 0,
            peak: 0,
            refused: None,
        }
    }
}

/// Most table elements one instance may have (function tables of large guests included).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.current - current.min(self.current) + desired;
        if total > self.cap {
            self.refused = Some(total);
            return Ok(false);
        }
        self.current = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl types::Host for CallState {}

impl host::Host for CallState {
    fn log(&mut self, level: types::Level, message: String) -> wasmtime::Result<()> {
        let source = match level {
            types::Level::Trace => LogSource::Trace,
            types::Level::Debug => LogSource::Debug,
            types::Level::Info => LogSource::Info,
            types::Level::Warn => LogSource::Warn,
            types::Level::Error => LogSource::Error,
        };
        self.log.line(source, message);
        Ok(())
    }

    fn config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&key).cloned())
    }

    fn secret(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.secrets.get(&name).cloned())
    }
}

impl v0_1::types::Host for CallState {}

impl v0_1::host::Host for CallState {
    fn log(&mut self, level: v0_1::types::Level, message: String) -> wasmtime::Result<()> {
        host::Host::log(self, super::bindings::level_from_v0_1(level), message)
    }

    /// 0.1.0 had no `secret`: its `config` returns secret parameters too, as it always did.
    fn config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self
            .config
            .get(&key)
            .or_else(|| self.secrets.get(&key))
            .cloned())
    }
}

/// 0.1.0's key-value store is the current one.
impl v0_1::kv::Host for CallState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        kv::Host::get(self, key).await
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        kv::Host::set(self, key, value).await
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        kv::Host::delete(self, key).await
    }

    async fn list_keys(&mut self, prefix: String) -> wasmtime::Result<Vec<String>> {
        kv::Host::list_keys(self, prefix).await
    }
}

/// A failure of the host's store: the call fails (and is retried), the guest sees a trap.
fn store_failure(error: anyhow::Error) -> wasmtime::Error {
    wasmtime::Error::from(HostServiceError(format!("{error:#}")))
}

/// A host service (the key-value store) failed during the call.
#[derive(Debug, thiserror::Error)]
#[error("host service failed: {0}")]
pub struct HostServiceError(pub String);

impl kv::Host for CallState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        if key.len() > MAX_KEY_BYTES {
            return Ok(None);
        }
        self.kv.get(&key).await.map_err(store_failure)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Ok(Err(format!(
                "key must be 1 to {MAX_KEY_BYTES} bytes, got {}",
                key.len()
            )));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Ok(Err(format!(
                "value must be at most {MAX_VALUE_BYTES} bytes, got {}",
                value.len()
            )));
        }
        match self.kv.set(&key, &value).await {
            Ok(()) => Ok(Ok(())),
            Err(error) => match error.downcast::<KvRefused>() {
                Ok(refused) => Ok(Err(refused.0)),
                Err(error) => Err(store_failure(error)),
            },
        }
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        self.kv.delete(&key).await.map_err(store_failure)
    }

    async fn list_keys(&mut self, prefix: String) -> wasmtime::Result<Vec<String>> {
        self.kv.list_keys(&prefix).await.map_err(store_failure)
    }
}
