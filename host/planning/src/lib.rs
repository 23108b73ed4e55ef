//! Planning for `platform`: a blueprint is parsed and resolved per
//! environment, its plugins are loaded and run sandboxed, and their
//! contributions are composed into one ordered plan.
//!
//! Architecture invariant, kept by the compiler: this crate has no AWS SDK
//! dependency (a test checks its manifest), so planning never needs
//! credentials or the network. The resource types it checks properties
//! against come in through [`compose::Kinds`], implemented by the
//! providers' registry in the `platform` crate.

pub mod blueprint;
pub mod compose;
pub mod graph;
pub mod lockfile;
pub mod plan;
pub mod plugin_source;
pub mod properties;
pub mod runtime;
pub mod schema;
pub mod value;

/// The built-in plugins, embedded by `build.rs`.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}

/// Directory of the test plugins built by `build.rs` (tests only).
#[doc(hidden)]
pub const TEST_PLUGIN_DIR: &str = env!("PLATFORM_TEST_PLUGIN_DIR");

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// No AWS SDK crate among the dependencies of `manifest`, nor among
    /// those of the workspace crates it depends on by path.
    fn no_aws(manifest: &Path, seen: &mut Vec<String>) {
        let text = std::fs::read_to_string(manifest).unwrap();
        let deps = text.split("[dependencies]").nth(1).unwrap_or_default();
        for line in deps.lines().take_while(|l| !l.starts_with('[')) {
            let name = line.split(['=', '.']).next().unwrap_or_default().trim();
            assert!(!name.starts_with("aws-"), "{} depends on {name}", manifest.display());
            if let Some(path) = line.split("path = \"").nth(1).and_then(|p| p.split('"').next()) {
                let dep = manifest.parent().unwrap().join(path).join("Cargo.toml");
                if !seen.contains(&name.to_string()) {
                    seen.push(name.to_string());
                    no_aws(&dep, seen);
                }
            }
        }
    }

    #[test]
    fn planning_has_no_aws_dependency() {
        let mut seen = Vec::new();
        no_aws(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")), &mut seen);
        assert!(seen.contains(&"platform-value-tree".to_string()), "{seen:?}");
    }
}
