//! The plugin lock file: the sha256 of every plugin file a blueprint uses,
//! written by `platform plugin lock` next to the blueprint
//! (`ml-api.toml` -> `ml-api.lock`) and checked whenever the blueprint's
//! plugins are loaded. Built-in plugins are pinned by the platform binary
//! itself and are not listed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const LOCK_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct LockFile {
    pub path: PathBuf,
    /// Plugin path as the blueprint writes it (relative to the blueprint's
    /// directory, `/`-separated) -> sha256.
    pub plugins: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    version: u32,
    #[serde(default)]
    plugins: BTreeMap<String, String>,
}

/// Where the lock file of `blueprint` lives.
pub fn path_for(blueprint: &Path) -> PathBuf {
    let stem = blueprint
        .file_stem()
        .map_or_else(|| "blueprint".into(), |s| s.to_string_lossy().into_owned());
    blueprint.with_file_name(format!("{stem}.lock"))
}

/// The key of a plugin file in the lock: its path relative to the
/// blueprint's directory when it is under it, else as given.
pub fn key(blueprint: &Path, plugin: &Path) -> String {
    let dir = blueprint.parent().unwrap_or(Path::new(""));
    let rel = plugin.strip_prefix(dir).unwrap_or(plugin);
    rel.to_string_lossy().replace('\\', "/")
}

/// Read the lock file of `blueprint`, if there is one.
pub fn read(blueprint: &Path) -> Result<Option<LockFile>, String> {
    let path = path_for(blueprint);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let raw: Raw = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if raw.version != LOCK_VERSION {
        return Err(format!(
            "{} has version {}, this platform reads version {LOCK_VERSION}",
            path.display(),
            raw.version
        ));
    }
    for (k, v) in &raw.plugins {
        if v.len() != 64 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "{}: the sha256 of `{k}` is not 64 hexadecimal digits",
                path.display()
            ));
        }
    }
    Ok(Some(LockFile {
        path,
        plugins: raw.plugins,
    }))
}

/// Write the lock file (atomically: a temporary file, then a rename).
pub fn write(blueprint: &Path, plugins: &BTreeMap<String, String>) -> std::io::Result<PathBuf> {
    let path = path_for(blueprint);
    let mut text = String::from(
        "# The sha256 of every plugin file this blueprint uses, checked on every load.\n\
         # Written by `platform plugin lock`; commit it with the blueprint.\n",
    );
    text.push_str(&format!("version = {LOCK_VERSION}\n\n[plugins]\n"));
    for (k, v) in plugins {
        // A JSON string is a valid TOML basic string.
        text.push_str(&format!("{} = \"{v}\"\n", serde_json::Value::from(k.as_str())));
    }
    let tmp = path.with_extension("lock.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_relative_to_the_blueprint_and_the_file_round_trips() {
        let dir = std::env::temp_dir().join(format!("platform-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bp = dir.join("app.toml");
        assert_eq!(path_for(&bp), dir.join("app.lock"));
        assert_eq!(key(&bp, &dir.join("plugins/waf.wasm")), "plugins/waf.wasm");
        assert_eq!(key(&bp, Path::new("/elsewhere/x.wasm")), "/elsewhere/x.wasm");
        assert_eq!(read(&bp).unwrap(), None);
        let mut plugins = BTreeMap::new();
        plugins.insert("plugins/w \"a\".wasm".to_string(), "ab".repeat(32));
        write(&bp, &plugins).unwrap();
        let back = read(&bp).unwrap().unwrap();
        assert_eq!(back.plugins, plugins);
        std::fs::write(path_for(&bp), "version = 1\n[plugins]\n\"x.wasm\" = \"nothex\"\n").unwrap();
        assert!(read(&bp).unwrap_err().contains("64 hexadecimal digits"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
