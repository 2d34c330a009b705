//! `sqlx::migrate!` embeds the migrations at compile time but does not tell cargo: without
//! this script a new migration file alone would not rebuild the crate.
//!
//! (The plugins are built by `plugins/bundle`, the `hookhost-plugins` crate, not here: the
//! library does not depend on them.)

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=migrations");
}
