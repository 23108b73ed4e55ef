//! The plugin host: loads plugin components and runs them sandboxed.
//!
//! One [`Engine`] and one [`Linker`] per process; per plugin a cached
//! pre-instantiated component; per call a fresh [`Store`] with an empty WASI
//! context (no files, env, args, network; fixed clocks and randomness), a
//! memory cap, a CPU deadline (epoch interruption) and a stack cap.
//!
//! Architecture invariant: this module knows the contract (`wit/`) but no
//! particular plugin, resource type or AWS service.

mod bindings;
mod cache;

pub use crate::plugin_source::{Limits, PluginSource, resolve_plugin_path};

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use bindings::{
    CONTRACT_VERSION, ConfigError, Contribution, Environment, Export, InstanceExports, Node, Phase, PlanError,
    PlanInput, PluginInfo, Reference, Resource, Step,
};
pub use cache::Cache;

/// How often the epoch ticker advances; CPU deadlines are multiples of it.
const TICK: Duration = Duration::from_millis(2);
/// Bytes of a plugin's stdout/stderr kept for error messages.
const OUTPUT_CAP: usize = 64 * 1024;

/// Plugin calls that can run at once in one process (each holds one
/// component instance from the pool while it runs).
const POOLED_CALLS: u32 = 32;

/// The instance pool: room for [`POOLED_CALLS`] plugin instances of up to
/// the largest sandbox memory a blueprint may grant (`memory_mib`); the
/// per-call limits are still the [`Limiter`]'s.
fn pool() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(POOLED_CALLS)
        .total_core_instances(POOLED_CALLS * 16)
        .total_memories(POOLED_CALLS * 4)
        .total_tables(POOLED_CALLS * 8)
        .max_memory_size(crate::blueprint::MAX_MEMORY_MIB as usize * (1 << 20))
        // Reset what a call used with memset, not madvise: the next call
        // finds its pages mapped (8 MiB: measured against 0 and 1 MiB).
        .linear_memory_keep_resident(8 << 20)
        .table_keep_resident(64 << 10);
    pool
}

/// Engine-wide options.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Maximum wasm stack, in bytes.
    pub max_stack_bytes: usize,
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeOptions {
    fn default() -> RuntimeOptions {
        RuntimeOptions {
            max_stack_bytes: 512 << 10,
            cache_dir: Cache::default_dir(),
        }
    }
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no built-in plugin named `{name}`; the built-ins are: {available}")]
    UnknownBuiltin { name: String, available: String },
    #[error("cannot read plugin file {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{plugin} is not a WebAssembly component: {reason}")]
    NotAComponent { plugin: PluginSource, reason: String },
    #[error(
        "{plugin} was built for plugin contract {found}, which this host (contract {host}) cannot load; rebuild it against platform:plugin@{host}"
    )]
    IncompatibleContract {
        plugin: PluginSource,
        found: String,
        host: String,
    },
    #[error("{plugin} is not a platform plugin: it exports no `{INTERFACE}` interface (it exports: {exports})", INTERFACE = bindings::INTERFACE)]
    NotAPlugin { plugin: PluginSource, exports: String },
    #[error("{plugin} cannot be instantiated: {reason}")]
    Link { plugin: PluginSource, reason: String },
    #[error("{plugin} failed while describing itself: {fault}")]
    Describe { plugin: PluginSource, fault: Fault },
}

/// How a plugin call went wrong inside the sandbox.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Fault {
    #[error("it ran past its CPU deadline of {0:?} and was stopped")]
    Timeout(Duration),
    #[error("it tried to grow its memory to {wanted} MiB, past its limit of {limit} MiB")]
    Memory { wanted: usize, limit: usize },
    #[error("it panicked: {0}")]
    Panic(String),
    #[error("it overflowed its stack (limit {0} KiB)")]
    StackOverflow(usize),
    #[error("it trapped: {0}")]
    Trap(String),
}

/// A loaded plugin: compiled, linked and described, ready to instantiate.
pub struct LoadedPlugin {
    pub source: PluginSource,
    /// sha256 of the component bytes, hex.
    pub sha256: String,
    pub info: PluginInfo,
    pre: bindings::PlatformPluginPre<HostState>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("source", &self.source)
            .field("name", &self.info.name)
            .finish()
    }
}

struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps memory and records a refused growth, so the resulting trap (Rust
/// aborts on allocation failure) can be reported as what it is.
struct Limiter {
    memory_max: usize,
    refused: Option<usize>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_max {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// A wall clock stuck at the Unix epoch: plugins must not depend on time.
struct FrozenWallClock;
impl wasmtime_wasi::HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}
struct FrozenMonotonicClock;
impl wasmtime_wasi::HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The wasm engine, linker, compiled-component cache and epoch ticker.
pub struct Runtime {
    engine: Engine,
    /// Pooled instances free for calls: a call waits for one rather than
    /// fail when more threads call at once than the pool holds.
    free_instances: (std::sync::Mutex<u32>, std::sync::Condvar),
    linker: Linker<HostState>,
    cache: Option<Cache>,
    max_stack_bytes: usize,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.max_wasm_stack(options.max_stack_bytes);
        config.wasm_component_model(true);
        // Instances from a pool of preallocated slots: each plugin call
        // instantiates afresh, and mapping and unmapping its memory per
        // call cost more than the call (page faults, TLB shootdowns).
        // Where the address space cannot hold the pool (a `ulimit -v`),
        // each call maps its own memory as before.
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool()));
        let engine = Engine::new(&config).or_else(|e| {
            tracing::debug!("no instance pool ({e:#}); instances allocated on demand");
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&config)
        })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (weak_engine, stop) = (engine.weak(), ticker_stop.clone());
        std::thread::Builder::new().name("epoch-ticker".into()).spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                match weak_engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })?;

        let cache = options.cache_dir.and_then(|dir| Cache::new(dir, &engine));
        Ok(Runtime {
            engine,
            free_instances: (std::sync::Mutex::new(POOLED_CALLS), std::sync::Condvar::new()),
            linker,
            cache,
            max_stack_bytes: options.max_stack_bytes,
            ticker_stop,
        })
    }

    /// The names of the built-in plugins.
    pub fn builtin_names() -> Vec<&'static str> {
        crate::builtin::BUILTINS.iter().map(|(name, _, _)| *name).collect()
    }

    /// Load, check and describe a plugin.
    pub fn load(&self, source: &PluginSource) -> Result<LoadedPlugin, LoadError> {
        let (bytes, sha256): (std::borrow::Cow<'static, [u8]>, String) = match source {
            PluginSource::Builtin(name) => {
                let Some((_, bytes, hash)) = crate::builtin::BUILTINS.iter().find(|(n, _, _)| n == name) else {
                    let names = Runtime::builtin_names();
                    return Err(LoadError::UnknownBuiltin {
                        name: name.clone(),
                        available: if names.is_empty() {
                            "none (this binary was built with PLATFORM_SKIP_GUEST_BUILD)".into()
                        } else {
                            names.join(", ")
                        },
                    });
                };
                ((*bytes).into(), (*hash).to_string())
            }
            PluginSource::Path(path) => {
                let bytes = std::fs::read(path).map_err(|e| LoadError::Read {
                    path: path.clone(),
                    error: e,
                })?;
                let hash = hex(&Sha256::digest(&bytes));
                (bytes.into(), hash)
            }
        };
        let component = self.compile(source, &bytes, &sha256)?;
        self.check_contract(source, &component)?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| LoadError::Link {
            plugin: source.clone(),
            reason: format!("{e:#}"),
        })?;
        let pre = bindings::PlatformPluginPre::new(instance_pre).map_err(|e| LoadError::Link {
            plugin: source.clone(),
            reason: format!("{e:#}"),
        })?;
        let mut plugin = LoadedPlugin {
            source: source.clone(),
            sha256,
            info: PluginInfo {
                name: String::new(),
                version: String::new(),
                description: String::new(),
                contract: String::new(),
                resource_kinds: Vec::new(),
                actions: Vec::new(),
                config_schema: String::new(),
                exports: Vec::new(),
            },
            pre,
        };
        plugin.info = self
            .call(&plugin, Limits::default(), |bindings, store| {
                bindings.platform_plugin_plugin().call_describe(store)
            })
            .map_err(|fault| LoadError::Describe {
                plugin: source.clone(),
                fault,
            })?;
        Ok(plugin)
    }

    fn compile(&self, source: &PluginSource, bytes: &[u8], sha256: &str) -> Result<Component, LoadError> {
        if let Some(cache) = &self.cache
            && let Some(component) = cache.get(&self.engine, sha256)
        {
            return Ok(component);
        }
        if !bytes.starts_with(b"\0asm") {
            return Err(LoadError::NotAComponent {
                plugin: source.clone(),
                reason: "it does not start with the wasm magic bytes".into(),
            });
        }
        if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
            return Err(LoadError::NotAComponent {
                plugin: source.clone(),
                reason:
                    "it is a core wasm module; build plugins with `--target wasm32-wasip2`, which produces a component"
                        .into(),
            });
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| LoadError::NotAComponent {
            plugin: source.clone(),
            reason: format!("{e:#}"),
        })?;
        if let Some(cache) = &self.cache {
            cache.put(&component, sha256);
        }
        Ok(component)
    }

    /// Refuse a plugin built for an incompatible contract, naming both versions.
    fn check_contract(&self, source: &PluginSource, component: &Component) -> Result<(), LoadError> {
        let ty = component.component_type();
        let mut names = Vec::new();
        for (name, _) in ty.exports(&self.engine) {
            names.push(name.to_string());
            let Some(version) = name.strip_prefix(bindings::INTERFACE).and_then(|v| v.strip_prefix('@')) else {
                if name == bindings::INTERFACE {
                    return Err(LoadError::IncompatibleContract {
                        plugin: source.clone(),
                        found: "an unversioned contract".into(),
                        host: host_contract(),
                    });
                }
                continue;
            };
            return match parse_version(version) {
                Some(v) if contract_compatible(v, CONTRACT_VERSION) => Ok(()),
                _ => Err(LoadError::IncompatibleContract {
                    plugin: source.clone(),
                    found: version.into(),
                    host: host_contract(),
                }),
            };
        }
        Err(LoadError::NotAPlugin {
            plugin: source.clone(),
            exports: if names.is_empty() {
                "nothing".into()
            } else {
                names.join(", ")
            },
        })
    }

    /// Call `plan` on a fresh instance of `plugin`.
    pub fn plan(
        &self,
        plugin: &LoadedPlugin,
        input: &PlanInput,
        limits: Limits,
    ) -> Result<Result<Contribution, PlanError>, Fault> {
        self.call(plugin, limits, |bindings, store| {
            bindings.platform_plugin_plugin().call_plan(store, input)
        })
    }

    fn call<R>(
        &self,
        plugin: &LoadedPlugin,
        limits: Limits,
        f: impl FnOnce(&bindings::PlatformPlugin, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, Fault> {
        let _instance = self.take_instance();
        let stderr = MemoryOutputPipe::new(OUTPUT_CAP);
        let wasi = WasiCtxBuilder::new()
            .stdout(MemoryOutputPipe::new(OUTPUT_CAP))
            .stderr(stderr.clone())
            .wall_clock(FrozenWallClock)
            .monotonic_clock(FrozenMonotonicClock)
            .secure_random(wasmtime_wasi::Deterministic::new(vec![42, 7, 19, 3]))
            .insecure_random(wasmtime_wasi::Deterministic::new(vec![42, 7, 19, 3]))
            .insecure_random_seed(42)
            .build();
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_max: limits.memory_bytes,
                refused: None,
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        let ticks = (limits.timeout.as_millis() / TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();

        let result = plugin
            .pre
            .instantiate(&mut store)
            .and_then(|bindings| f(&bindings, &mut store));
        result.map_err(|error| self.classify(error, &store, &stderr, limits))
    }

    /// Wait for a free pooled instance; it is free again when the guard
    /// drops (after the call's store).
    fn take_instance(&self) -> impl Drop + '_ {
        struct Taken<'a>(&'a (std::sync::Mutex<u32>, std::sync::Condvar));
        impl Drop for Taken<'_> {
            fn drop(&mut self) {
                *self.0.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                self.0.1.notify_one();
            }
        }
        let (free, freed) = &self.free_instances;
        let mut n = free.lock().unwrap_or_else(|e| e.into_inner());
        while *n == 0 {
            n = freed.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n -= 1;
        Taken(&self.free_instances)
    }

    fn classify(
        &self,
        error: wasmtime::Error,
        store: &Store<HostState>,
        stderr: &MemoryOutputPipe,
        limits: Limits,
    ) -> Fault {
        let mib = |b: usize| b.div_ceil(1 << 20);
        if let Some(wanted) = store.data().limiter.refused {
            return Fault::Memory {
                wanted: mib(wanted),
                limit: mib(limits.memory_bytes),
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Fault::Timeout(limits.timeout),
            Some(Trap::StackOverflow) => Fault::StackOverflow(self.max_stack_bytes >> 10),
            Some(Trap::UnreachableCodeReached) => {
                let text = String::from_utf8_lossy(&stderr.contents()).into_owned();
                match panic_message(&text) {
                    Some(message) => Fault::Panic(message),
                    None => Fault::Trap(format!("unreachable code reached{}", stderr_suffix(&text))),
                }
            }
            Some(Trap::MemoryOutOfBounds) => Fault::Trap(format!(
                "{} (in a Rust plugin, usually deep recursion overflowing the stack it keeps in linear memory){}",
                Trap::MemoryOutOfBounds,
                stderr_suffix(&String::from_utf8_lossy(&stderr.contents()))
            )),
            Some(trap) => Fault::Trap(format!(
                "{trap}{}",
                stderr_suffix(&String::from_utf8_lossy(&stderr.contents()))
            )),
            None => Fault::Trap(format!("{error:#}")),
        }
    }
}

/// Extract the message of a Rust panic from a guest's stderr.
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.find("panicked at ")?;
    let rest = &stderr[start + "panicked at ".len()..];
    // "panicked at src/lib.rs:10:5:\nmessage\nnote: ..."
    let (location, message) = rest.split_once(":\n")?;
    let message = message.split("\nnote:").next().unwrap_or(message).trim();
    Some(format!("{message} (at {location})"))
}

fn stderr_suffix(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("; its stderr: {trimmed}")
    }
}

fn host_contract() -> String {
    let (a, b, c) = CONTRACT_VERSION;
    format!("{a}.{b}.{c}")
}

fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// Semver compatibility as the component model applies it: same major
/// version (for 0.x, same minor), and not newer than the host.
pub fn contract_compatible(plugin: (u64, u64, u64), host: (u64, u64, u64)) -> bool {
    let same_line = if host.0 == 0 {
        plugin.0 == 0 && plugin.1 == host.1
    } else {
        plugin.0 == host.0
    };
    same_line && plugin <= host
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_compatibility() {
        let host = (0, 1, 3);
        assert!(contract_compatible((0, 1, 0), host));
        assert!(contract_compatible((0, 1, 3), host));
        assert!(!contract_compatible((0, 1, 4), host), "newer patch than the host");
        assert!(!contract_compatible((0, 2, 0), host));
        assert!(!contract_compatible((1, 1, 0), host));
        assert!(contract_compatible((1, 0, 0), (1, 4, 0)));
        assert!(!contract_compatible((2, 0, 0), (1, 4, 0)));
    }

    #[test]
    fn panic_messages_are_extracted() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:45:24:\nboom 42\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(panic_message(stderr).as_deref(), Some("boom 42 (at src/lib.rs:45:24)"));
        assert_eq!(panic_message("nothing here"), None);
    }
}
