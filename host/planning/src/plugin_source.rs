//! What a blueprint says about a plugin before anything is loaded: where it
//! comes from and the limits of its calls. Kept apart from the runtime so
//! the blueprint parser never imports the wasm engine.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Resource limits of one plugin call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory cap, in bytes.
    pub memory_bytes: usize,
    /// CPU time a call may take before it is interrupted.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(2),
        }
    }
}

/// Where a plugin comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PluginSource {
    Builtin(String),
    Path(PathBuf),
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginSource::Builtin(name) => write!(f, "builtin:{name}"),
            PluginSource::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Read a plugin's path as given in a blueprint, relative to the blueprint.
pub fn resolve_plugin_path(blueprint: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        blueprint.parent().unwrap_or(Path::new(".")).join(p)
    }
}
