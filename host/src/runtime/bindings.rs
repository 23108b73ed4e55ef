//! The one place that runs `bindgen!` on `wit/`; everything else uses these types.

wasmtime::component::bindgen!({
    world: "platform-plugin",
    path: "../wit",
});

pub use platform::plugin::types::*;

/// The contract version this host implements (the package version in `wit/`).
pub const CONTRACT_VERSION: (u64, u64, u64) = (0, 1, 0);

/// The name of the interface a plugin must export, without its version.
pub const INTERFACE: &str = "platform:plugin/plugin";
