//! `platform`: deploy applications to AWS from a TOML blueprint, composed from
//! sandboxed WebAssembly plugins. See ARCHITECTURE.md for the code map.

pub mod blueprint;
pub mod cli;
pub mod compose;
pub mod engine;
pub mod graph;
pub mod harness;
pub mod lockfile;
pub mod plan;
pub mod properties;
pub mod providers;
pub mod runtime;
pub mod schema;
pub mod state;
#[doc(hidden)]
pub mod testing;
pub mod value;

/// The built-in plugins, embedded by `build.rs`.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}

/// Directory of the test plugins built by `build.rs` (tests only).
#[doc(hidden)]
pub const TEST_PLUGIN_DIR: &str = env!("PLATFORM_TEST_PLUGIN_DIR");
