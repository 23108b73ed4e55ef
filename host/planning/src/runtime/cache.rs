//! On-disk cache of compiled components, keyed by the engine's compatibility
//! hash and the component's sha256, so a warm start skips compilation.
//!
//! The cache is an optimisation only: any failure to read or write it is
//! logged and the component is compiled instead.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::PathBuf;

use wasmtime::Engine;
use wasmtime::component::Component;

pub struct Cache {
    /// `<root>/<engine hash>/`: artifacts of other engines never collide.
    dir: PathBuf,
}

impl Cache {
    /// `$PLATFORM_CACHE_DIR`, else `$XDG_CACHE_HOME/platform`, else `~/.cache/platform`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("PLATFORM_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return Some(PathBuf::from(dir).join("platform"));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/platform"))
    }

    pub fn new(root: PathBuf, engine: &Engine) -> Option<Cache> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = root.join(format!("components-{:016x}", hasher.finish()));
        match std::fs::create_dir_all(&dir) {
            Ok(()) => Some(Cache { dir }),
            Err(e) => {
                tracing::debug!("component cache disabled: cannot create {}: {e}", dir.display());
                None
            }
        }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.cwasm"))
    }

    pub fn get(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        if !path.exists() {
            return None;
        }
        // SAFETY: files in this directory are written only by `put` below, from
        // `Component::serialize` of this same engine configuration (the
        // directory name carries the engine's compatibility hash), and are
        // renamed into place only once complete. wasmtime checks the header
        // and version of what it maps.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        match loaded {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::debug!("ignoring unusable cache entry {}: {e:#}", path.display());
                None
            }
        }
    }

    pub fn put(&self, component: &Component, sha256: &str) {
        let path = self.path(sha256);
        let result = (|| -> std::io::Result<()> {
            let bytes = component.serialize().map_err(std::io::Error::other)?;
            let tmp = self.dir.join(format!(".{sha256}.{}.tmp", std::process::id()));
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            tracing::debug!("cannot write cache entry {}: {e}", path.display());
        }
    }
}
