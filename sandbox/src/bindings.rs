//! Host bindings, one `bindgen!` module per served version of `marketplace:webhook`:
//! [`v0_2`] from `wit/` (the current contract) and [`v0_1`] from the frozen
//! `wit/since_v0.1.0/`. The host implements both versions' imports (`state.rs`); a component is
//! recognised by the version it exports (`validate.rs`), and what it returns is converted to the
//! current types here, at the boundary, so the rest of the host knows one shape.

/// `marketplace:webhook@0.2.0`, the current contract (world `full`: every import and export;
/// a component exports `plugin` or `transform` or both, and may export `activation`).
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "full",
        imports: {
            // The key-value store is backed by the database: its calls are async and may fail
            // for reasons the guest cannot handle (the call then fails and is retried).
            "marketplace:webhook/kv": async | trappable,
            default: trappable,
        },
        exports: { default: async },
        additional_derives: [PartialEq, Eq],
    });
}

/// `marketplace:webhook@0.1.0`, frozen as released (world `handler`).
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.0",
        world: "handler",
        imports: {
            "marketplace:webhook/kv": async | trappable,
            default: trappable,
        },
        exports: { default: async },
        additional_derives: [PartialEq, Eq],
    });
}

pub use v0_2::marketplace::webhook::types::{
    Event, Failure, FieldUpdate, Header, Invocation, Level, Outcome, OutgoingRequest, Param,
    Problem, Tenant, Transformed,
};

/// The package this host serves.
pub const PACKAGE: &str = "marketplace:webhook";
/// The current WIT version (`wit/`).
pub const VERSION: &str = "0.2.0";
/// Every version the host serves, oldest first: the current one and the frozen ones.
pub const SERVED: &[&str] = &["0.1.0", VERSION];

/// Conversions between 0.1.0 and the current types. 0.1.0's types are a subset of 0.2.0's:
/// everything a 0.1 guest gets or returns has a current twin with the same fields.
mod from_v0_1 {
    use super::v0_1::marketplace::webhook::types as old;
    use super::v0_2::marketplace::webhook::types as new;

    pub fn event(event: new::Event) -> old::Event {
        match event {
            new::Event::Create => old::Event::Create,
            new::Event::Update => old::Event::Update,
            new::Event::Execute => old::Event::Execute,
            new::Event::Validate => old::Event::Validate,
            new::Event::ProcessStep => old::Event::ProcessStep,
            new::Event::Test => old::Event::Test,
        }
    }

    pub fn level(level: old::Level) -> new::Level {
        match level {
            old::Level::Trace => new::Level::Trace,
            old::Level::Debug => new::Level::Debug,
            old::Level::Info => new::Level::Info,
            old::Level::Warn => new::Level::Warn,
            old::Level::Error => new::Level::Error,
        }
    }

    pub fn invocation(inv: &new::Invocation) -> old::Invocation {
        old::Invocation {
            webhook_id: inv.webhook_id.clone(),
            tenant: old::Tenant {
                id: inv.tenant.id.clone(),
                name: inv.tenant.name.clone(),
            },
            module: inv.module.clone(),
            record_id: inv.record_id.clone(),
            event: event(inv.event),
            payload: inv.payload.clone(),
            parameters: inv
                .parameters
                .iter()
                .map(|p| old::Param {
                    name: p.name.clone(),
                    value: p.value.clone(),
                })
                .collect(),
            delivery_id: inv.delivery_id.clone(),
            attempt: inv.attempt,
        }
    }

    pub fn outcome(outcome: old::Outcome) -> new::Outcome {
        new::Outcome {
            body: outcome.body,
            updates: outcome
                .updates
                .into_iter()
                .map(|u| new::FieldUpdate {
                    field: u.field,
                    value: u.value,
                })
                .collect(),
        }
    }

    pub fn failure(failure: old::Failure) -> new::Failure {
        match failure {
            old::Failure::Rejected(r) => new::Failure::Rejected(r),
            old::Failure::InvalidInput(r) => new::Failure::InvalidInput(r),
            old::Failure::Temporary(r) => new::Failure::Temporary(r),
        }
    }
}

pub(crate) use from_v0_1::{failure as failure_from_v0_1, invocation as invocation_for_v0_1};
pub(crate) use from_v0_1::{level as level_from_v0_1, outcome as outcome_from_v0_1};
