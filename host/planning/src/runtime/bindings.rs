//! The one place that runs `bindgen!` on `wit/`; everything else uses these types.

wasmtime::component::bindgen!({
    world: "platform-plugin",
    path: "../../wit",
});

pub use self::platform::plugin::types::*;

/// The contract version this host implements (the package version in `wit/`).
pub const CONTRACT_VERSION: (u64, u64, u64) = (0, 1, 0);

/// The name of the interface a plugin must export, without its version.
pub const INTERFACE: &str = "platform:plugin/plugin";

#[cfg(test)]
mod tests {
    /// The contract version in `wit/`, the host and the plugin SDK agree.
    #[test]
    fn the_contract_version_is_the_same_in_wit_host_and_sdk() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let (a, b, c) = super::CONTRACT_VERSION;
        let host = format!("{a}.{b}.{c}");
        let wit = std::fs::read_to_string(root.join("wit/plugin.wit")).unwrap();
        assert!(
            wit.contains(&format!("package platform:plugin@{host};")),
            "wit/plugin.wit does not declare contract {host}"
        );
        let sdk = std::fs::read_to_string(root.join("plugins/sdk/src/lib.rs")).unwrap();
        assert!(
            sdk.contains(&format!("pub const CONTRACT_VERSION: &str = \"{host}\";")),
            "plugins/sdk/src/lib.rs does not declare contract {host}"
        );
    }
}
