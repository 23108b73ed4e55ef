//! `platform`: deploy applications to AWS from a TOML blueprint, composed from
//! sandboxed WebAssembly plugins. See ARCHITECTURE.md for the code map.
//!
//! Planning (blueprint, plugin runtime, composition, plan) is the
//! `platform-planning` crate, re-exported here under the same module names;
//! the AWS providers are the `platform-aws` crate, re-exported as
//! `providers`; this crate adds the engine, the state and the CLI.

pub use platform_planning::{
    TEST_PLUGIN_DIR, blueprint, builtin, compose, graph, lockfile, plan, plugin_source, properties, runtime, schema,
    value,
};

pub mod cli;
pub mod engine;
pub mod harness;
pub use platform_aws as providers;
pub mod state;
/// The fault proxy and AWS-behaviour layer of the tests and benchmarks:
/// compiled only with the `test-hooks` feature, never into a release build.
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub mod testing;
