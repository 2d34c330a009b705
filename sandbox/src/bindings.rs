//! Host bindings for `marketplace:webhook@0.1.x`, generated from `wit/`.
//!
//! Kept apart from the host implementations (`state.rs`) so a future major version can get a
//! frozen `wit/since_v0.1.0/` and a second `bindgen!` beside this one.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "handler",
    imports: {
        // The key-value store is backed by the database: its calls are async and may fail
        // for reasons the guest cannot handle (the call then fails and is retried).
        "marketplace:webhook/kv": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    additional_derives: [PartialEq, Eq],
});

pub use exports::marketplace::webhook::plugin::{Failure, Invocation, Outcome};
pub use marketplace::webhook::types::{Event, FieldUpdate, Level, Param, Tenant};

/// The package this host serves, and its version.
pub const PACKAGE: &str = "marketplace:webhook";
/// The WIT version the host was built against.
pub const VERSION: &str = "0.1.0";
