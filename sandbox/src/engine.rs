//! The one `wasmtime::Engine` of a process, and its epoch ticker.

use super::SandboxConfig;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Which instance allocator the engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Allocator {
    /// Pre-reserved slots: instantiation in microseconds.
    Pooling,
    /// Memory mapped per instance: slower, but works where virtual memory is short.
    OnDemand,
}

fn base_config(cfg: &SandboxConfig) -> Config {
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .consume_fuel(cfg.fuel)
        .memory_init_cow(true)
        .parallel_compilation(true)
        .wasm_backtrace_max_frames(std::num::NonZeroUsize::new(32));
    config
}

fn pooling(cfg: &SandboxConfig) -> PoolingAllocationConfig {
    let slots = cfg.max_instances;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        // Guests built by componentize-py/-js carry many core instances, memories and tables.
        .total_core_instances(slots * 4)
        .total_memories(slots * 2)
        .total_tables(slots * 4)
        .total_stacks(slots)
        .max_core_instances_per_component(64)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(4 << 20)
        .table_elements(100_000)
        .max_memory_size(cfg.ceilings.memory_bytes as usize)
        .max_unused_warm_slots(slots.min(64))
        // Reset what a call touched with memset (finding the touched pages with PAGEMAP_SCAN
        // where the kernel has it) instead of madvise: no page-table changes, so no TLB
        // shootdowns across cores on every call.
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10)
        .pagemap_scan(wasmtime::Enabled::Auto);
    pool
}

/// Builds the engine: pooling when configured and possible, on-demand otherwise.
pub fn build(cfg: &SandboxConfig) -> anyhow::Result<(Engine, Allocator)> {
    if cfg.pooling {
        let mut config = base_config(cfg);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(cfg)));
        match Engine::new(&config) {
            Ok(engine) => return Ok((engine, Allocator::Pooling)),
            Err(error) => tracing::warn!(
                error = %error,
                "pooling allocator unavailable (short of virtual memory?); using on-demand allocation"
            ),
        }
    }
    let mut config = base_config(cfg);
    config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
    let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
    Ok((engine, Allocator::OnDemand))
}

/// Advances the engine's epoch every `tick` until the engine is dropped.
pub fn start_ticker(engine: &Engine, tick: Duration) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("hookhost-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .expect("spawning the epoch ticker thread");
}
