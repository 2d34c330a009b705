//! The sandbox: runs WASI components built against `wit/` under per-call limits.
//!
//! hookhost's component runtime, a crate of its own because it depends on nothing of the host:
//! the host reaches it as `hookhost::sandbox` and gives it what a call may use through
//! [`CallContext`] (activation config, a [`KvStore`], an [`OutboundPolicy`]). Every outgoing
//! request of the host, a URL handler's call too, goes through its [`Egress`] guard.
//!
//! One [`Runtime`] per process holds the engine (pooling allocator, epoch interruption,
//! copy-on-write memory images), the linker, the on-disk artifact cache and one pre-instantiated
//! [`Plugin`] per component digest. Every call gets a fresh `Store`, so nothing a call leaves
//! behind is seen by the next one.
//!
//! Architecture Invariant: guest code runs only inside [`Runtime::call`], which always sets an
//! epoch deadline (guest code yields to the executor every tick and traps at the deadline) and
//! a timer for time spent waiting on the host.
//!
//! # Layout
//! - this file: [`Runtime`]: load (compile or cache), call (limits, classification).
//! - [`bindings`]: `bindgen!` for each served version of the WIT package (0.2.0, and the
//!   frozen 0.1.0), and the conversions of the old types to the current ones.
//! - `state`: per-call store state; the host side of `host` and `kv`; the memory limiter.
//! - `validate`: import, export and version checks at load ([`ComponentInfo`], [`Refusal`]).
//! - `engine`: engine configuration, pooling fallback, epoch ticker.
//! - `artifacts`: the on-disk compiled-artifact cache ([`ArtifactCache`]).
//! - `calllog`: bounded capture of log lines, stdout and stderr.
//! - [`egress`]: the egress guard of every outgoing request (URL handlers too).
//! - `outbound`: wasi:http for components: allowlist, request budget, body caps.
//! - `share`: sharing the workers: yields, permits of long calls.
//! - `kv`: the key-value store trait (scoped per tenant and service).
//! - `limits`: what one call may use ([`Limits`]).

mod artifacts;
pub mod bindings;
mod calllog;
pub mod egress;
mod engine;
mod kv;
mod limits;
mod outbound;
mod share;
mod state;
mod validate;

pub use artifacts::ArtifactCache;
pub use bindings::{
    Event, FieldUpdate, Header, Invocation, Outcome, OutgoingRequest, Param, Problem, Tenant,
    Transformed,
};
pub use calllog::{CapturedLog, LogLine, LogSource};
pub use egress::{Egress, EgressConfig};
pub use engine::Allocator;
pub use kv::{KvRefused, KvStore, MAX_KEY_BYTES, MAX_VALUE_BYTES, MemoryKv};
pub use limits::Limits;
use outbound::OutboundCall;
pub use outbound::OutboundPolicy;
pub use validate::{ComponentInfo, Refusal, Roles};

use bindings::{Failure, PACKAGE, v0_1, v0_2};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use state::{CallState, HostServiceError, MemoryLimiter};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::WasiHttpCtx;

/// `[sandbox]` settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Limits of a call whose webhook asks for nothing else.
    pub defaults: Limits,
    /// The most any webhook may ask for.
    pub ceilings: Limits,
    /// Meter fuel (deterministic instruction counting). Costs some speed on every call, and
    /// is required for `fuel` limits.
    pub fuel: bool,
    /// Use the pooling instance allocator (falls back to on-demand when it cannot reserve
    /// its virtual memory).
    pub pooling: bool,
    /// Instances that may run at once (pooling slots).
    pub max_instances: u32,
    /// Epoch tick: the deadline's granularity and how long guest code runs between yields.
    pub epoch_tick_ms: u64,
    /// Long calls (guest code run longer than `busy_after_ms`) that may run guest code at
    /// once; 0: one fewer than the machine's cores, at least 1. Short calls never wait.
    pub busy_slots: usize,
    /// Guest time after which a call counts as long.
    pub busy_after_ms: u64,
    /// Components kept loaded (compiled and pre-instantiated) in memory, the least recently
    /// used dropped first; a dropped one loads again from the on-disk artifact cache without
    /// recompiling. Bounds the memory of a host serving thousands of components.
    pub loaded_components: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            defaults: Limits::default(),
            ceilings: Limits {
                timeout_ms: 30_000,
                memory_bytes: 256 << 20,
                fuel: None,
                max_payload_bytes: 8 << 20,
                max_output_bytes: 8 << 20,
                max_log_bytes: 1 << 20,
                max_outbound_requests: 64,
                max_outbound_body_bytes: 8 << 20,
                outbound_connect_timeout_ms: 10_000,
                outbound_timeout_ms: 30_000,
            },
            fuel: false,
            pooling: true,
            max_instances: 256,
            epoch_tick_ms: 2,
            busy_slots: 0,
            busy_after_ms: 10,
            loaded_components: 1024,
        }
    }
}

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a WebAssembly component wasmtime can compile.
    #[error(
        "not a valid WebAssembly component ({0}); build plugins for wasm32-wasip2 or with \
         `cargo component build`"
    )]
    Invalid(String),
    /// It is a component, but not one this host serves.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// It passed the checks but could not be linked (should not happen: reported as a bug).
    #[error("component could not be linked: {0}")]
    Link(String),
}

/// Why a call did not produce an outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The plugin said no (final).
    #[error("rejected: {0}")]
    Rejected(String),
    /// The plugin could not use its input (final).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The plugin asked to be retried later.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// The call ran past its deadline.
    #[error("deadline exceeded: the call ran longer than {timeout_ms} ms")]
    DeadlineExceeded {
        /// The deadline.
        timeout_ms: u64,
    },
    /// The call used up its fuel budget.
    #[error("fuel exhausted: the call used more than {fuel} units of fuel")]
    FuelExhausted {
        /// The budget.
        fuel: u64,
    },
    /// The guest tried to grow its memory past the cap.
    #[error(
        "memory limit exceeded: the instance asked for {requested_bytes} bytes, the limit is \
         {limit_bytes} bytes"
    )]
    MemoryLimit {
        /// The cap.
        limit_bytes: u64,
        /// What it asked for.
        requested_bytes: u64,
    },
    /// The guest overflowed its stack (usually unbounded recursion).
    #[error("stack overflow (unbounded recursion?)")]
    StackOverflow,
    /// The guest trapped; a panic's message is included when the guest printed one.
    #[error("trapped: {0}")]
    Trap(String),
    /// The payload is larger than the limit.
    #[error("payload too large: {size} bytes, the limit is {limit} bytes")]
    PayloadTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The outcome body is larger than the limit.
    #[error("output too large: {size} bytes, the limit is {limit} bytes")]
    OutputTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A host service (the key-value store) failed.
    #[error("{0}")]
    HostService(String),
}

impl CallError {
    /// A short machine-readable name of the kind of failure.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Rejected(_) => "rejected",
            CallError::InvalidInput(_) => "invalid-input",
            CallError::Temporary(_) => "temporary",
            CallError::DeadlineExceeded { .. } => "timeout",
            CallError::FuelExhausted { .. } => "fuel-exhausted",
            CallError::MemoryLimit { .. } => "memory-limit",
            CallError::StackOverflow => "stack-overflow",
            CallError::Trap(_) => "trap",
            CallError::PayloadTooLarge { .. } => "payload-too-large",
            CallError::OutputTooLarge { .. } => "output-too-large",
            CallError::HostService(_) => "host-service",
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CallError::Temporary(_)
                | CallError::DeadlineExceeded { .. }
                | CallError::HostService(_)
        )
    }
}

/// What a call may use besides its invocation.
#[derive(Clone)]
pub struct CallContext {
    /// The limits of this call (already clamped to the ceilings by [`Runtime::limits_for`]).
    pub limits: Limits,
    /// The activation's parameter values that are not secret (`host.config`).
    pub config: Arc<BTreeMap<String, String>>,
    /// The activation's secret parameter values (`host.secret`; 0.1.0's `host.config`).
    pub secrets: Arc<BTreeMap<String, String>>,
    /// The (tenant, service) scope of the key-value store.
    pub kv: Arc<dyn KvStore>,
    /// Hosts outbound HTTP may reach.
    pub outbound: OutboundPolicy,
}

/// The result of one call and what it cost: `T` is an [`Outcome`] for `handle`, a
/// [`Transformed`] request for `transform`.
#[derive(Debug, Clone)]
pub struct CallReport<T = Outcome> {
    /// The outcome, or why there is none.
    pub result: Result<T, CallError>,
    /// Wall-clock time from store creation to result.
    pub duration: Duration,
    /// Fuel used, when the engine meters fuel.
    pub fuel_used: Option<u64>,
    /// Highest linear memory of the instance, in bytes.
    pub peak_memory_bytes: u64,
    /// The call's log.
    pub log: CapturedLog,
}

impl<T> CallReport<T> {
    /// The same report with its answer turned into another.
    fn map<U>(self, f: impl FnOnce(T) -> Result<U, CallError>) -> CallReport<U> {
        CallReport {
            result: self.result.and_then(f),
            duration: self.duration,
            fuel_used: self.fuel_used,
            peak_memory_bytes: self.peak_memory_bytes,
            log: self.log,
        }
    }
}

/// A loaded component, ready to be instantiated for calls.
pub struct Plugin {
    pre: InstancePre<CallState>,
    exports: Exports,
    /// What it is.
    pub info: ComponentInfo,
}

/// Where a component's exports are, by the version it is built against.
enum Exports {
    V0_1(v0_1::exports::marketplace::webhook::plugin::GuestIndices),
    V0_2 {
        plugin: Option<v0_2::exports::marketplace::webhook::plugin::GuestIndices>,
        transform: Option<v0_2::exports::marketplace::webhook::transform::GuestIndices>,
        activation: Option<v0_2::exports::marketplace::webhook::activation::GuestIndices>,
    },
}

impl Exports {
    fn of(pre: &InstancePre<CallState>, info: &ComponentInfo) -> wasmtime::Result<Self> {
        use v0_2::exports::marketplace::webhook as current;
        Ok(match validate::served_version(info) {
            "0.1.0" => {
                Exports::V0_1(v0_1::exports::marketplace::webhook::plugin::GuestIndices::new(pre)?)
            }
            _ => Exports::V0_2 {
                plugin: (info.roles.handler)
                    .then(|| current::plugin::GuestIndices::new(pre))
                    .transpose()?,
                transform: (info.roles.transform)
                    .then(|| current::transform::GuestIndices::new(pre))
                    .transpose()?,
                activation: (info.roles.activation)
                    .then(|| current::activation::GuestIndices::new(pre))
                    .transpose()?,
            },
        })
    }
}

/// What one call into a component asks for.
enum Request<'a> {
    Handle(&'a Invocation),
    Transform(&'a OutgoingRequest),
    CheckActivation(&'a [Param]),
}

/// What it returned, converted to the current types.
enum Response {
    Outcome(Outcome),
    Transformed(Transformed),
    Checked(Result<(), Vec<Problem>>),
}

impl Response {
    /// The bytes it hands back, checked against `max_output_bytes`.
    fn size(&self) -> u64 {
        let pairs = |pairs: &mut dyn Iterator<Item = (&String, &String)>| {
            pairs.map(|(a, b)| (a.len() + b.len()) as u64).sum::<u64>()
        };
        match self {
            Response::Outcome(o) => {
                o.body.len() as u64 + pairs(&mut o.updates.iter().map(|u| (&u.field, &u.value)))
            }
            Response::Transformed(Transformed::Send(r)) => {
                r.body.len() as u64
                    + pairs(&mut r.parameters.iter().map(|p| (&p.name, &p.value)))
                    + pairs(&mut r.headers.iter().map(|h| (&h.name, &h.value)))
            }
            Response::Transformed(Transformed::Skip(reason)) => reason.len() as u64,
            Response::Checked(Ok(())) => 0,
            Response::Checked(Err(problems)) => {
                pairs(&mut problems.iter().map(|p| (&p.parameter, &p.message)))
            }
        }
    }
}

/// Why a component cannot answer a request: it does not export what the request needs.
fn not_exported(plugin: &Plugin, what: &str) -> wasmtime::Error {
    wasmtime::format_err!(
        "the component ({PACKAGE}@{}) does not export {PACKAGE}/{what}",
        plugin.info.wit_version
    )
}

/// Counters that make the compile cache observable.
#[derive(Debug, Default)]
struct Counters {
    compiled: AtomicU64,
    loaded_from_disk: AtomicU64,
}

/// A snapshot of the runtime's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeStats {
    /// Components compiled by this runtime.
    pub compiled: u64,
    /// Components loaded from the on-disk artifact cache instead.
    pub loaded_from_disk: u64,
    /// Components loaded in memory now (at most `loaded_components`).
    pub loaded: u64,
}

struct Inner {
    engine: Engine,
    linker: Linker<CallState>,
    allocator: Allocator,
    config: SandboxConfig,
    artifacts: Option<ArtifactCache>,
    plugins: Mutex<Loaded>,
    counters: Counters,
    share: share::CpuShare,
}

/// The loaded components by digest, each with the tick of its last use: at most a capacity
/// of them, the least recently used dropped first. (Finding that one is a scan, paid only
/// when a load fills the cache, beside a load's milliseconds.)
#[derive(Default)]
struct Loaded {
    plugins: HashMap<String, (Arc<Plugin>, u64)>,
    tick: u64,
}

impl Loaded {
    fn get(&mut self, digest: &str) -> Option<Arc<Plugin>> {
        self.tick += 1;
        let (plugin, used) = self.plugins.get_mut(digest)?;
        *used = self.tick;
        Some(plugin.clone())
    }

    fn insert(&mut self, digest: String, plugin: Arc<Plugin>, capacity: usize) {
        self.tick += 1;
        while self.plugins.len() >= capacity && !self.plugins.contains_key(&digest) {
            let oldest = self
                .plugins
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(digest, _)| digest.clone());
            match oldest {
                Some(oldest) => self.plugins.remove(&oldest),
                None => break,
            };
        }
        self.plugins.insert(digest, (plugin, self.tick));
    }

    fn remove(&mut self, digest: &str) {
        self.plugins.remove(digest);
    }

    fn len(&self) -> usize {
        self.plugins.len()
    }
}

/// The component runtime of a process. Cheap to clone.
#[derive(Clone)]
pub struct Runtime(Arc<Inner>);

/// sha256 of `bytes`, lowercase hex: a component's identity.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Grace beyond the deadline for a call parked in a host future (HTTP, key-value store),
/// where epochs cannot interrupt it.
const HOST_WAIT_GRACE: Duration = Duration::from_millis(50);

/// Most bytes one `wasi:random` call may ask for (wasmtime's default is 64 MiB).
const MAX_RANDOM_BYTES: u64 = 1 << 20;
/// Most bytes of headers one `wasi:http` fields resource may hold.
const MAX_HTTP_FIELDS_BYTES: usize = 64 << 10;
/// Most live resources (streams, pollables, HTTP handles, …) of one call, in wasi's resource
/// table and the component model's handle tables each (wasmtime's default: 1 << 20 and
/// 100,000).
const MAX_RESOURCES: usize = 10_000;

impl Runtime {
    /// Builds the engine and linker; compiled components are cached in `cache_dir` if given.
    pub fn new(config: SandboxConfig, cache_dir: Option<&Path>) -> anyhow::Result<Self> {
        let (engine, allocator) = engine::build(&config)?;
        engine::start_ticker(&engine, Duration::from_millis(config.epoch_tick_ms.max(1)));
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)?;
        // Every served version's imports: a component links against the ones it names.
        v0_2::Full::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(anyhow::Error::from)?;
        v0_1::Handler::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(anyhow::Error::from)?;
        let artifacts = cache_dir
            .map(|dir| ArtifactCache::open(dir, &engine))
            .transpose()?;
        let share = share::CpuShare::new(
            config.busy_slots,
            Duration::from_millis(config.busy_after_ms),
        );
        Ok(Runtime(Arc::new(Inner {
            engine,
            linker,
            allocator,
            config,
            artifacts,
            plugins: Mutex::new(Loaded::default()),
            counters: Counters::default(),
            share,
        })))
    }

    /// The allocator the engine uses.
    pub fn allocator(&self) -> Allocator {
        self.0.allocator
    }

    /// The sandbox settings.
    pub fn config(&self) -> &SandboxConfig {
        &self.0.config
    }

    /// Compile-cache counters.
    pub fn stats(&self) -> RuntimeStats {
        RuntimeStats {
            compiled: self.0.counters.compiled.load(Ordering::Relaxed),
            loaded_from_disk: self.0.counters.loaded_from_disk.load(Ordering::Relaxed),
            loaded: self.plugins().len() as u64,
        }
    }

    /// The defaults, with `requested` values where given, clamped to the ceilings.
    pub fn limits_for(&self, requested: Option<&Limits>) -> Limits {
        let cfg = &self.0.config;
        requested
            .copied()
            .unwrap_or(cfg.defaults)
            .clamped_to(&cfg.ceilings)
    }

    /// Loads (compiling or reading the on-disk cache) and checks a component.
    ///
    /// CPU-heavy on a cache miss (seconds for large guests): call it off the async workers,
    /// e.g. through [`Runtime::load_blocking`].
    pub fn load(&self, wasm: &[u8]) -> Result<Arc<Plugin>, LoadError> {
        let digest = digest(wasm);
        if let Some(plugin) = self.plugins().get(&digest) {
            return Ok(plugin);
        }
        let inner = &self.0;
        let cached = inner
            .artifacts
            .as_ref()
            .and_then(|a| a.load(&inner.engine, &digest));
        let component = match cached {
            Some(component) => {
                inner
                    .counters
                    .loaded_from_disk
                    .fetch_add(1, Ordering::Relaxed);
                component
            }
            None => {
                let component = Component::new(&inner.engine, wasm)
                    .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
                inner.counters.compiled.fetch_add(1, Ordering::Relaxed);
                // Checked before caching, so a refused component is never stored.
                validate::check(&inner.engine, &component, wasm)?;
                match &inner.artifacts {
                    // Kept as the stored artifact, mapped from its file, as after a restart:
                    // the compiler's copy would stay in anonymous memory for as long as it is
                    // loaded, while the artifact's pages are the page cache's, read in as
                    // they are used.
                    Some(artifacts) => match artifacts.store(&digest, &component) {
                        Ok(()) => artifacts.load(&inner.engine, &digest).unwrap_or(component),
                        Err(error) => {
                            tracing::warn!(error = %error, "could not cache a compiled component");
                            component
                        }
                    },
                    None => component,
                }
            }
        };
        let info = validate::check(&inner.engine, &component, wasm)?;
        let pre = inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let exports = Exports::of(&pre, &info).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let plugin = Arc::new(Plugin { pre, exports, info });
        let capacity = inner.config.loaded_components.max(1);
        self.plugins().insert(digest, plugin.clone(), capacity);
        Ok(plugin)
    }

    /// [`Runtime::load`] on a blocking thread.
    pub async fn load_blocking(&self, wasm: Arc<[u8]>) -> Result<Arc<Plugin>, LoadError> {
        let runtime = self.clone();
        tokio::task::spawn_blocking(move || runtime.load(&wasm))
            .await
            .unwrap_or_else(|e| Err(LoadError::Link(format!("loader panicked: {e}"))))
    }

    /// The loaded plugin with this digest, if any.
    pub fn loaded(&self, digest: &str) -> Option<Arc<Plugin>> {
        self.plugins().get(digest)
    }

    /// Forgets a loaded plugin (its on-disk artifact stays).
    pub fn unload(&self, digest: &str) {
        self.plugins().remove(digest);
    }

    fn plugins(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.0.plugins.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one invocation in a fresh instance of `plugin` (its `handle`).
    pub async fn call(
        &self,
        plugin: &Plugin,
        invocation: &Invocation,
        ctx: CallContext,
    ) -> CallReport {
        let size = invocation.payload.len() as u64;
        self.run(plugin, Request::Handle(invocation), size, ctx)
            .await
            .map(|response| match response {
                Response::Outcome(outcome) => Ok(outcome),
                _ => unreachable!("handle answers with an outcome"),
            })
    }

    /// Runs `plugin`'s `transform` on the request a URL webhook is about to send, in a fresh
    /// instance under the same limits as a call (the request's body counts as the payload).
    pub async fn transform(
        &self,
        plugin: &Plugin,
        request: &OutgoingRequest,
        ctx: CallContext,
    ) -> CallReport<Transformed> {
        let size = request.body.len() as u64;
        self.run(plugin, Request::Transform(request), size, ctx)
            .await
            .map(|response| match response {
                Response::Transformed(transformed) => Ok(transformed),
                _ => unreachable!("transform answers with a request or a skip"),
            })
    }

    /// Runs `plugin`'s `check-activation` on a tenant's activation parameters.
    pub async fn check_activation(
        &self,
        plugin: &Plugin,
        parameters: &[Param],
        ctx: CallContext,
    ) -> CallReport<Result<(), Vec<Problem>>> {
        let size = parameters
            .iter()
            .map(|p| (p.name.len() + p.value.len()) as u64)
            .sum();
        self.run(plugin, Request::CheckActivation(parameters), size, ctx)
            .await
            .map(|response| match response {
                Response::Checked(checked) => Ok(checked),
                _ => unreachable!("check-activation answers with problems or none"),
            })
    }

    /// The exported function `request` needs, called through the bindings of the version
    /// `plugin` is built against, its answer converted to the current types.
    async fn dispatch(
        plugin: &Plugin,
        store: &mut Store<CallState>,
        request: Request<'_>,
    ) -> wasmtime::Result<Result<Response, Failure>> {
        let instance = plugin.pre.instantiate_async(&mut *store).await?;
        match (&plugin.exports, request) {
            (Exports::V0_1(indices), Request::Handle(invocation)) => {
                let guest = indices.load(&mut *store, &instance)?;
                let invocation = bindings::invocation_for_v0_1(invocation);
                Ok(guest
                    .call_handle(&mut *store, &invocation)
                    .await?
                    .map(|o| Response::Outcome(bindings::outcome_from_v0_1(o)))
                    .map_err(bindings::failure_from_v0_1))
            }
            (
                Exports::V0_2 {
                    plugin: Some(indices),
                    ..
                },
                Request::Handle(invocation),
            ) => {
                let guest = indices.load(&mut *store, &instance)?;
                Ok(guest
                    .call_handle(&mut *store, invocation)
                    .await?
                    .map(Response::Outcome))
            }
            (
                Exports::V0_2 {
                    transform: Some(indices),
                    ..
                },
                Request::Transform(request),
            ) => {
                let guest = indices.load(&mut *store, &instance)?;
                Ok(guest
                    .call_transform(&mut *store, request)
                    .await?
                    .map(Response::Transformed))
            }
            (
                Exports::V0_2 {
                    activation: Some(indices),
                    ..
                },
                Request::CheckActivation(parameters),
            ) => {
                let guest = indices.load(&mut *store, &instance)?;
                let checked = guest.call_check_activation(&mut *store, parameters).await?;
                Ok(Ok(Response::Checked(checked)))
            }
            (_, Request::Handle(_)) => Err(not_exported(plugin, "plugin")),
            (_, Request::Transform(_)) => Err(not_exported(plugin, "transform")),
            (_, Request::CheckActivation(_)) => Err(not_exported(plugin, "activation")),
        }
    }

    /// Runs `request` in a fresh instance of `plugin` under the context's limits.
    async fn run(
        &self,
        plugin: &Plugin,
        request: Request<'_>,
        payload_size: u64,
        ctx: CallContext,
    ) -> CallReport<Response> {
        let started = Instant::now();
        let limits = ctx.limits;
        let log = calllog::CallLog::new(limits.max_log_bytes);
        if payload_size > limits.max_payload_bytes {
            return CallReport {
                result: Err(CallError::PayloadTooLarge {
                    size: payload_size,
                    limit: limits.max_payload_bytes,
                }),
                duration: started.elapsed(),
                fuel_used: None,
                peak_memory_bytes: 0,
                log: log.finish(),
            };
        }

        let deadline = started + limits.timeout();
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(log.stdout())
            .stderr(log.stderr())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(MAX_RANDOM_BYTES);
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_HTTP_FIELDS_BYTES);
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let state = CallState {
            wasi: wasi.build(),
            http,
            table,
            outbound: OutboundCall::new(ctx.outbound, &limits, deadline, log.clone()),
            limiter: MemoryLimiter::new(limits.memory_bytes as usize),
            log: log.clone(),
            config: ctx.config,
            secrets: ctx.secrets,
            kv: ctx.kv,
            clock: self.0.share.clock(deadline),
        };
        let mut store = Store::new(&self.0.engine, state);
        store.limiter(|s| &mut s.limiter);
        // What a guest may make the host allocate in one call into the host: the largest
        // value it may legitimately hand over (a key-value entry, an outgoing body, its
        // output), with room to spare; wasmtime's default is 128 MiB.
        let largest = limits
            .max_output_bytes
            .max(limits.max_outbound_body_bytes)
            .max(MAX_VALUE_BYTES as u64);
        store.set_hostcall_fuel(usize::try_from(largest * 2 + (1 << 20)).unwrap_or(usize::MAX));
        store.set_max_component_handles(MAX_RESOURCES);
        let fuel_budget = limits.fuel.unwrap_or(u64::MAX);
        if self.0.config.fuel {
            // Cannot fail: the engine meters fuel.
            let _ = store.set_fuel(fuel_budget);
        }
        store.call_hook(|mut ctx, hook| {
            ctx.data_mut().clock.hook(hook);
            Ok(())
        });
        store.epoch_deadline_callback(|mut ctx| Ok(ctx.data_mut().clock.tick()));
        store.set_epoch_deadline(1);

        let run = Self::dispatch(plugin, &mut store, request);
        // A panic in a host function (a bug of the host, or of a crate it uses) fails this
        // call with a reason; it never takes down the connection or the worker.
        let run = catch_unwind(run);
        let outcome = tokio::time::timeout(limits.timeout() + HOST_WAIT_GRACE, run).await;
        let duration = started.elapsed();

        let limiter = &store.data().limiter;
        let (peak, refused) = (limiter.peak as u64, limiter.refused);
        let captured = log.finish();

        let result = match outcome {
            Err(_elapsed) => Err(CallError::DeadlineExceeded {
                timeout_ms: limits.timeout_ms,
            }),
            Ok(Err(panic)) => Err(CallError::HostService(format!(
                "the host failed while serving the call ({}); the call was stopped",
                panic_message(&*panic)
            ))),
            Ok(Ok(Ok(Ok(response)))) => {
                let size = response.size();
                if size > limits.max_output_bytes {
                    Err(CallError::OutputTooLarge {
                        size,
                        limit: limits.max_output_bytes,
                    })
                } else {
                    Ok(response)
                }
            }
            Ok(Ok(Ok(Err(failure)))) => Err(match failure {
                Failure::Rejected(reason) => CallError::Rejected(reason),
                Failure::InvalidInput(reason) => CallError::InvalidInput(reason),
                Failure::Temporary(reason) => CallError::Temporary(reason),
            }),
            Ok(Ok(Err(error))) => Err(classify(error, &limits, refused, &captured)),
        };
        // Fuel is exact only when the guest returned: a trap loses what the compiled code
        // had not yet written back, so an interrupted call reports none rather than a wrong
        // figure.
        let fuel_used = match &result {
            _ if !self.0.config.fuel => None,
            Err(CallError::FuelExhausted { fuel }) => Some(*fuel),
            Ok(_)
            | Err(CallError::Rejected(_))
            | Err(CallError::InvalidInput(_))
            | Err(CallError::Temporary(_))
            | Err(CallError::OutputTooLarge { .. }) => {
                store.get_fuel().ok().map(|left| fuel_budget - left)
            }
            Err(_) => None,
        };
        CallReport {
            result,
            duration,
            fuel_used,
            peak_memory_bytes: peak,
            log: captured,
        }
    }
}

/// Polls `future`, catching a panic in any poll.
async fn catch_unwind<F: Future>(future: F) -> Result<F::Output, Box<dyn std::any::Any + Send>> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(output)) => std::task::Poll::Ready(Ok(output)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    })
    .await
}

/// The text of a panic's payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => (*text).to_owned(),
        (_, Some(text)) => text.clone(),
        _ => "a panic".to_owned(),
    }
}

/// Turns a trap or host error into a [`CallError`] that says what happened.
fn classify(
    error: wasmtime::Error,
    limits: &Limits,
    refused: Option<usize>,
    log: &CapturedLog,
) -> CallError {
    if let Some(service) = error.downcast_ref::<HostServiceError>() {
        return CallError::HostService(service.to_string());
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return CallError::Trap(format!(
            "the plugin exited with status {} instead of returning an outcome",
            exit.0
        ));
    }
    // The deadline and the fuel budget first: a guest that handled a refused memory growth
    // and then spun to its deadline timed out.
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            return CallError::DeadlineExceeded {
                timeout_ms: limits.timeout_ms,
            };
        }
        Some(Trap::OutOfFuel) => {
            return CallError::FuelExhausted {
                fuel: limits.fuel.unwrap_or(u64::MAX),
            };
        }
        _ => {}
    }
    if let Some(refused) = refused {
        return CallError::MemoryLimit {
            limit_bytes: limits.memory_bytes,
            requested_bytes: refused as u64,
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => CallError::StackOverflow,
        trap => {
            let stderr = log.stderr_text();
            match stderr.find("panicked at") {
                Some(at) => {
                    let panic: String = stderr[at..].chars().take(1000).collect();
                    // A guest runtime written in Rust (componentize-py's) prints the
                    // language's own error first and then panics: keep the error's last line.
                    match stderr[..at]
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty() && !l.starts_with("thread "))
                    {
                        Some(cause) => {
                            let cause: String = cause.trim().chars().take(500).collect();
                            CallError::Trap(format!("plugin {panic} (after: {cause})"))
                        }
                        None => CallError::Trap(format!("plugin {panic}")),
                    }
                }
                None => {
                    let reason = match trap {
                        Some(trap) => trap.to_string(),
                        None => format!("{error:#}"),
                    };
                    // Guests in other languages report an uncaught exception on stderr (a
                    // Python traceback, a JavaScript error) before they trap: its last lines
                    // say more than the trap does.
                    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
                    if tail.is_empty() {
                        CallError::Trap(reason)
                    } else {
                        let tail: String = tail.into_iter().rev().collect::<Vec<_>>().join(" | ");
                        let tail: String = tail.chars().take(600).collect();
                        CallError::Trap(format!("{reason}; stderr: {tail}"))
                    }
                }
            }
        }
    }
}
