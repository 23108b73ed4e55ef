//! Blueprints: the TOML file a team writes, parsed with every value's place
//! kept, and resolved for one environment.
//!
//! Architecture invariant: this module knows nothing of wasm, plugins'
//! schemas or AWS. It turns text into instances with configuration; every
//! error it reports names file:line:column.

mod source;
mod value;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use source::{Diagnostic, Diagnostics, Location, Source};
pub use value::{Kind, SValue};

use crate::plugin_source::{Limits, PluginSource, resolve_plugin_path};

/// A parsed blueprint, before an environment is chosen.
#[derive(Debug)]
pub struct Blueprint {
    pub source: Arc<Source>,
    pub name: String,
    pub description: Option<String>,
    pub regions: Vec<String>,
    pub default_env: Option<String>,
    pub tags: Vec<(String, String)>,
    /// Where the state lives (`s3://bucket/prefix`); default: local files.
    pub backend: Option<String>,
    pub sandbox: SandboxDecl,
    pub plugins: Vec<PluginDecl>,
    pub envs: Vec<EnvDecl>,
}

/// Sandbox settings; unset fields inherit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SandboxDecl {
    pub memory_mib: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub stack_kib: Option<u64>,
}

/// A plugin instance as declared at the top level or in an environment.
#[derive(Debug, Clone)]
pub struct PluginDecl {
    pub instance: String,
    pub span: Range<usize>,
    /// `plugin = "name"` (built-in) or `path = "x.wasm"`.
    pub source: Option<(SourceDecl, Range<usize>)>,
    pub enabled: Option<bool>,
    pub sandbox: SandboxDecl,
    pub config: Option<SValue>,
    /// `sha256 = "..."`: the component file must have this hash.
    pub sha256: Option<(String, Range<usize>)>,
    pub grants: Option<Grants>,
}

/// What a blueprint allows a plugin instance to return: resource types and
/// step actions, each exact or ending in `*` (a prefix).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grants {
    pub resources: Vec<String>,
    pub actions: Vec<String>,
    pub span: Range<usize>,
}

impl Grants {
    fn allows(patterns: &[String], name: &str) -> bool {
        patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => p == name,
        })
    }

    pub fn allows_resource(&self, kind: &str) -> bool {
        Grants::allows(&self.resources, kind)
    }

    pub fn allows_action(&self, action: &str) -> bool {
        Grants::allows(&self.actions, action)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SourceDecl {
    Builtin(String),
    Path(String),
}

#[derive(Debug, Clone)]
pub struct EnvDecl {
    pub name: String,
    pub span: Range<usize>,
    pub regions: Option<Vec<String>>,
    pub tags: Vec<(String, String)>,
    pub plugins: Vec<PluginDecl>,
    /// Remove what a failed `up` created (default false).
    pub rollback: Option<bool>,
    pub backend: Option<String>,
}

/// A blueprint resolved for one environment: what the composer runs.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub source: Arc<Source>,
    pub blueprint: String,
    pub env: String,
    pub regions: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub stack_bytes: usize,
    pub instances: Vec<Instance>,
    /// The environment's default for `up --rollback`.
    pub rollback: bool,
    /// Where its state lives (`s3://bucket/prefix`); `None`: local files.
    pub backend: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub name: String,
    /// Where the instance is declared (for errors that concern it as a whole).
    pub span: Range<usize>,
    pub source: PluginSource,
    /// Where the plugin source is named.
    pub source_span: Range<usize>,
    /// The hash the blueprint pins the component file to.
    pub sha256: Option<(String, Range<usize>)>,
    /// What the blueprint grants it; `None`: the default (a built-in may
    /// return what it declares, a plugin from a file nothing).
    pub grants: Option<Grants>,
    /// Merged configuration (base, then environment), an empty table if none.
    pub config: SValue,
    pub limits: Limits,
}

const TOP_KEYS: &[&str] = &["blueprint", "sandbox", "plugins", "env"];
const BLUEPRINT_KEYS: &[&str] = &["name", "description", "regions", "default_env", "tags", "backend"];
const SANDBOX_KEYS: &[&str] = &["memory_mib", "timeout_ms", "stack_kib"];
const PLUGIN_KEYS: &[&str] = &["plugin", "path", "sha256", "grants", "enabled", "sandbox", "config"];
const GRANT_KEYS: &[&str] = &["resources", "actions"];
const ENV_KEYS: &[&str] = &["regions", "tags", "plugins", "rollback", "backend"];

/// The largest sandbox memory (`memory_mib`) a blueprint may give a plugin.
pub const MAX_MEMORY_MIB: u64 = 4096;
const MAX_TIMEOUT_MS: u64 = 600_000;
const MAX_STACK_KIB: u64 = 4096;

impl Blueprint {
    pub fn load(path: &Path) -> Result<Blueprint, Diagnostics> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Diagnostic::bare(format!("cannot read blueprint {}: {e}", path.display())))?;
        Blueprint::parse(path, text)
    }

    pub fn parse(path: impl Into<PathBuf>, text: String) -> Result<Blueprint, Diagnostics> {
        let source = Source::new(path, text);
        let root = match toml::de::DeTable::parse(&source.text) {
            Ok(table) => {
                let span = table.span();
                let value = toml::Spanned::new(span, toml::de::DeValue::Table(table.into_inner()));
                SValue::from_toml(&value).map_err(|(span, msg)| Diagnostic::at(&source, &span, msg))?
            }
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let message = e.message().trim_end_matches('.').to_string();
                return Err(Diagnostic::at(&source, &span, format!("malformed TOML: {message}")).into());
            }
        };
        let mut p = Parser {
            source: &source,
            diags: Vec::new(),
        };
        let blueprint = p.blueprint(&root);
        if p.diags.is_empty() {
            Ok(blueprint.expect("no diagnostics means a blueprint"))
        } else {
            Err(Diagnostics(p.diags))
        }
    }

    pub fn env_names(&self) -> Vec<&str> {
        self.envs.iter().map(|e| e.name.as_str()).collect()
    }

    /// Pick the environment: the one asked for, else `default_env`, else the
    /// only one.
    pub fn choose_env(&self, asked: Option<&str>) -> Result<String, Diagnostics> {
        let names = self.env_names();
        if let Some(name) = asked {
            if names.contains(&name) || (names.is_empty() && name == "default") {
                return Ok(name.to_string());
            }
            return Err(Diagnostic::in_file(
                &self.source.path,
                format!(
                    "blueprint `{}` has no environment `{name}`; it has: {}",
                    self.name,
                    if names.is_empty() {
                        "none (use `default`)".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            )
            .into());
        }
        if let Some(d) = &self.default_env {
            return Ok(d.clone());
        }
        match names.as_slice() {
            [] => Ok("default".into()),
            [only] => Ok(only.to_string()),
            _ => Err(Diagnostic::in_file(
                &self.source.path,
                format!("choose an environment with --env: {}", names.join(", ")),
            )
            .into()),
        }
    }

    /// Resolve for environment `env`: apply its overrides, swaps and
    /// disables, and the sandbox defaults.
    pub fn resolve(&self, env: &str) -> Result<Resolved, Diagnostics> {
        let decl = self.envs.iter().find(|e| e.name == env);
        if decl.is_none() && !(self.envs.is_empty() && env == "default") {
            return Err(self.choose_env(Some(env)).expect_err("unknown environment"));
        }
        let mut diags = Vec::new();
        let regions = decl
            .and_then(|d| d.regions.clone())
            .unwrap_or_else(|| self.regions.clone());
        if regions.is_empty() {
            let span = decl.map_or(0..0, |d| d.span.clone());
            diags.push(Diagnostic::at(
                &self.source,
                &span,
                format!("environment `{env}` has no regions; set `regions` in [blueprint] or [env.{env}]"),
            ));
        }
        let mut tags: BTreeMap<String, String> = self.tags.iter().cloned().collect();
        if let Some(d) = decl {
            tags.extend(d.tags.iter().cloned());
        }

        // Base declarations in order, then environment-only instances.
        let mut merged: Vec<PluginDecl> = self.plugins.clone();
        for over in decl.map(|d| d.plugins.as_slice()).unwrap_or_default() {
            match merged.iter_mut().find(|p| p.instance == over.instance) {
                Some(base) => {
                    // Another plugin in this environment (another built-in,
                    // or a file instead of a built-in or the other way
                    // round): the base configuration was written for the one
                    // it replaces, so only the environment's applies. Another
                    // file is taken for another build of the same plugin.
                    let swapped = over.source.as_ref().is_some_and(|(to, _)| {
                        let from = base
                            .source
                            .as_ref()
                            .map_or_else(|| SourceDecl::Builtin(base.instance.clone()), |(s, _)| s.clone());
                        !matches!((&from, to), (SourceDecl::Path(_), SourceDecl::Path(_))) && *to != from
                    });
                    if swapped {
                        base.config = None;
                    }
                    if over.source.is_some() {
                        base.source = over.source.clone();
                        base.sha256 = over.sha256.clone();
                    }
                    if over.grants.is_some() {
                        base.grants = over.grants.clone();
                    }
                    if over.enabled.is_some() {
                        base.enabled = over.enabled;
                    }
                    base.sandbox = SandboxDecl {
                        memory_mib: over.sandbox.memory_mib.or(base.sandbox.memory_mib),
                        timeout_ms: over.sandbox.timeout_ms.or(base.sandbox.timeout_ms),
                        stack_kib: None,
                    };
                    match (&mut base.config, &over.config) {
                        (Some(b), Some(o)) => b.merge(o),
                        (None, Some(o)) => base.config = Some(o.clone()),
                        _ => {}
                    }
                }
                None => merged.push(over.clone()),
            }
        }

        let mut instances = Vec::new();
        for p in merged {
            if p.enabled == Some(false) {
                continue;
            }
            let (source, source_span) = match &p.source {
                Some((SourceDecl::Builtin(name), span)) => (PluginSource::Builtin(name.clone()), span.clone()),
                Some((SourceDecl::Path(path), span)) => (
                    PluginSource::Path(resolve_plugin_path(&self.source.path, path)),
                    span.clone(),
                ),
                None => (PluginSource::Builtin(p.instance.clone()), p.span.clone()),
            };
            let memory_mib = p.sandbox.memory_mib.or(self.sandbox.memory_mib).unwrap_or(64);
            let timeout_ms = p.sandbox.timeout_ms.or(self.sandbox.timeout_ms).unwrap_or(2000);
            let config = p.config.clone().unwrap_or(SValue {
                span: p.span.clone(),
                kind: Kind::Table(Vec::new()),
            });
            instances.push(Instance {
                name: p.instance.clone(),
                span: p.span.clone(),
                source,
                source_span,
                sha256: p.sha256.clone(),
                grants: p.grants.clone(),
                config,
                limits: Limits {
                    memory_bytes: (memory_mib as usize) << 20,
                    timeout: Duration::from_millis(timeout_ms),
                },
            });
        }
        if instances.is_empty() && diags.is_empty() {
            diags.push(Diagnostic::in_file(
                &self.source.path,
                format!("environment `{env}` enables no plugins"),
            ));
        }
        if !diags.is_empty() {
            return Err(Diagnostics(diags));
        }
        Ok(Resolved {
            source: self.source.clone(),
            blueprint: self.name.clone(),
            env: env.to_string(),
            regions,
            tags: tags.into_iter().collect(),
            stack_bytes: (self.sandbox.stack_kib.unwrap_or(512) as usize) << 10,
            instances,
            rollback: decl.and_then(|d| d.rollback).unwrap_or(false),
            backend: self.backend_for(env),
        })
    }

    /// Where environment `env` keeps its state: its `backend`, else the
    /// blueprint's, else `None` (local files).
    pub fn backend_for(&self, env: &str) -> Option<String> {
        self.envs
            .iter()
            .find(|e| e.name == env)
            .and_then(|e| e.backend.clone())
            .or_else(|| self.backend.clone())
    }
}

/// Walks the TOML tree, collecting every problem instead of stopping at the first.
struct Parser<'a> {
    source: &'a Arc<Source>,
    diags: Vec<Diagnostic>,
}

impl Parser<'_> {
    fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        self.diags.push(Diagnostic::at(self.source, span, message));
    }

    /// The entries of a table, reporting unknown keys.
    fn table<'v>(&mut self, v: &'v SValue, what: &str, allowed: &[&str]) -> &'v [(String, Range<usize>, SValue)] {
        let Some(t) = v.as_table() else {
            self.error(&v.span, format!("{what} must be a table, not {}", v.type_name()));
            return &[];
        };
        for (key, span, _) in t {
            if !allowed.contains(&key.as_str()) {
                let hint = closest(key, allowed)
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                self.error(
                    span,
                    format!(
                        "unknown key `{key}` in {what}; {hint}expected one of: {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
        t
    }

    fn string(&mut self, v: &SValue, what: &str) -> Option<String> {
        match &v.kind {
            Kind::Str(s) => Some(s.clone()),
            _ => {
                self.error(&v.span, format!("{what} must be a string, not {}", v.type_name()));
                None
            }
        }
    }

    fn name(&mut self, v: &SValue, span: &Range<usize>, name: &str, what: &str) -> Option<String> {
        let _ = v;
        if valid_name(name) {
            Some(name.to_string())
        } else {
            self.error(
                span,
                format!("{what} `{name}` must be lowercase letters, digits and `-`, starting with a letter or digit"),
            );
            None
        }
    }

    fn strings(&mut self, v: &SValue, what: &str) -> Vec<String> {
        match &v.kind {
            Kind::Array(items) => items
                .iter()
                .filter_map(|i| self.string(i, &format!("each of {what}")))
                .collect(),
            _ => {
                self.error(
                    &v.span,
                    format!("{what} must be an array of strings, not {}", v.type_name()),
                );
                Vec::new()
            }
        }
    }

    fn tags(&mut self, v: &SValue, what: &str) -> Vec<(String, String)> {
        let Some(t) = v.as_table() else {
            self.error(
                &v.span,
                format!("{what} must be a table of strings, not {}", v.type_name()),
            );
            return Vec::new();
        };
        t.iter()
            .filter_map(|(k, _, v)| Some((k.clone(), self.string(v, &format!("tag `{k}`"))?)))
            .collect()
    }

    fn bounded(&mut self, v: &SValue, what: &str, max: u64) -> Option<u64> {
        match v.kind {
            Kind::Int(i) if i >= 1 && i as u64 <= max => Some(i as u64),
            Kind::Int(i) => {
                self.error(&v.span, format!("{what} must be between 1 and {max}, not {i}"));
                None
            }
            _ => {
                self.error(&v.span, format!("{what} must be an integer, not {}", v.type_name()));
                None
            }
        }
    }

    fn sandbox(&mut self, v: &SValue, what: &str, allow_stack: bool) -> SandboxDecl {
        let allowed: &[&str] = if allow_stack { SANDBOX_KEYS } else { &SANDBOX_KEYS[..2] };
        let mut s = SandboxDecl::default();
        for (key, _, value) in self.table(v, what, allowed) {
            match key.as_str() {
                "memory_mib" => s.memory_mib = self.bounded(value, "memory_mib", MAX_MEMORY_MIB),
                "timeout_ms" => s.timeout_ms = self.bounded(value, "timeout_ms", MAX_TIMEOUT_MS),
                "stack_kib" => {
                    s.stack_kib = self.bounded(value, "stack_kib", MAX_STACK_KIB);
                    if s.stack_kib.is_some_and(|k| k < 64) {
                        self.error(&value.span, "stack_kib must be at least 64");
                    }
                }
                _ => {}
            }
        }
        s
    }

    fn plugin(&mut self, instance: &str, key_span: &Range<usize>, v: &SValue, what: &str) -> Option<PluginDecl> {
        let instance = self.name(v, key_span, instance, "plugin instance name")?;
        let mut decl = PluginDecl {
            instance,
            span: v.span.clone(),
            source: None,
            enabled: None,
            sandbox: SandboxDecl::default(),
            config: None,
            sha256: None,
            grants: None,
        };
        let entries = self.table(v, what, PLUGIN_KEYS);
        for (key, key_span, value) in entries {
            match key.as_str() {
                "plugin" | "path" => {
                    if decl.source.is_some() {
                        self.error(key_span, format!("{what} sets both `plugin` and `path`; use one"));
                        continue;
                    }
                    if let Some(s) = self.string(value, key) {
                        let src = if key == "plugin" {
                            SourceDecl::Builtin(s)
                        } else {
                            SourceDecl::Path(s)
                        };
                        decl.source = Some((src, value.span.clone()));
                    }
                }
                "enabled" => match value.kind {
                    Kind::Bool(b) => decl.enabled = Some(b),
                    _ => self.error(
                        &value.span,
                        format!("enabled must be a boolean, not {}", value.type_name()),
                    ),
                },
                "sha256" => {
                    if let Some(h) = self.string(value, key) {
                        if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
                            decl.sha256 = Some((h.to_ascii_lowercase(), value.span.clone()));
                        } else {
                            self.error(&value.span, "sha256 must be 64 hexadecimal digits");
                        }
                    }
                }
                "grants" => {
                    let mut grants = Grants {
                        span: value.span.clone(),
                        ..Grants::default()
                    };
                    for (k, _, v) in self.table(value, &format!("{what}.grants"), GRANT_KEYS) {
                        let list = self.strings(v, &format!("grants.{k}"));
                        match k.as_str() {
                            "resources" => grants.resources = list,
                            "actions" => grants.actions = list,
                            _ => {}
                        }
                    }
                    decl.grants = Some(grants);
                }
                "sandbox" => decl.sandbox = self.sandbox(value, &format!("{what}.sandbox"), false),
                "config" => {
                    if value.as_table().is_none() {
                        self.error(
                            &value.span,
                            format!("{what}.config must be a table, not {}", value.type_name()),
                        );
                    } else {
                        decl.config = Some(value.clone());
                    }
                }
                _ => {}
            }
        }
        Some(decl)
    }

    fn plugins(&mut self, v: &SValue, prefix: &str) -> Vec<PluginDecl> {
        let Some(t) = v.as_table() else {
            self.error(
                &v.span,
                format!("[{prefix}] must be a table of plugin instances, not {}", v.type_name()),
            );
            return Vec::new();
        };
        t.iter()
            .filter_map(|(name, span, value)| self.plugin(name, span, value, &format!("[{prefix}.{name}]")))
            .collect()
    }

    fn blueprint(&mut self, root: &SValue) -> Option<Blueprint> {
        let mut name = None;
        let mut bp = Blueprint {
            source: self.source.clone(),
            name: String::new(),
            description: None,
            regions: Vec::new(),
            default_env: None,
            tags: Vec::new(),
            backend: None,
            sandbox: SandboxDecl::default(),
            plugins: Vec::new(),
            envs: Vec::new(),
        };
        let top = self.table(root, "the blueprint", TOP_KEYS);
        let Some(meta) = root.get("blueprint") else {
            self.error(&(0..0), "missing [blueprint] table with at least `name`");
            return None;
        };
        for (key, _, value) in self.table(meta, "[blueprint]", BLUEPRINT_KEYS) {
            match key.as_str() {
                "name" => {
                    if let Some(s) = self.string(value, "name") {
                        name = self.name(value, &value.span, &s, "blueprint name");
                    }
                }
                "description" => bp.description = self.string(value, "description"),
                "regions" => bp.regions = self.strings(value, "regions"),
                "default_env" => bp.default_env = self.string(value, "default_env"),
                "backend" => bp.backend = self.string(value, "backend"),
                "tags" => bp.tags = self.tags(value, "tags"),
                _ => {}
            }
        }
        if meta.get("name").is_none() {
            self.error(&meta.span, "[blueprint] needs a `name`");
        }
        for (key, _, value) in top {
            match key.as_str() {
                "sandbox" => bp.sandbox = self.sandbox(value, "[sandbox]", true),
                "plugins" => bp.plugins = self.plugins(value, "plugins"),
                "env" => {
                    let Some(envs) = value.as_table() else {
                        self.error(&value.span, "[env] must be a table of environments");
                        continue;
                    };
                    for (env_name, span, env) in envs {
                        let Some(env_name) = self.name(env, span, env_name, "environment name") else {
                            continue;
                        };
                        let mut decl = EnvDecl {
                            name: env_name.clone(),
                            span: env.span.clone(),
                            regions: None,
                            tags: Vec::new(),
                            plugins: Vec::new(),
                            rollback: None,
                            backend: None,
                        };
                        for (k, _, v) in self.table(env, &format!("[env.{env_name}]"), ENV_KEYS) {
                            match k.as_str() {
                                "regions" => decl.regions = Some(self.strings(v, "regions")),
                                "tags" => decl.tags = self.tags(v, "tags"),
                                "plugins" => decl.plugins = self.plugins(v, &format!("env.{env_name}.plugins")),
                                "backend" => decl.backend = self.string(v, "backend"),
                                "rollback" => match v.kind {
                                    Kind::Bool(b) => decl.rollback = Some(b),
                                    _ => self
                                        .error(&v.span, format!("rollback must be a boolean, not {}", v.type_name())),
                                },
                                _ => {}
                            }
                        }
                        bp.envs.push(decl);
                    }
                }
                _ => {}
            }
        }
        if let Some(d) = &bp.default_env
            && !bp.envs.iter().any(|e| &e.name == d)
        {
            let span = meta.get("default_env").map_or(meta.span.clone(), |v| v.span.clone());
            self.error(
                &span,
                format!("default_env `{d}` is not an environment of this blueprint"),
            );
        }
        bp.name = name?;
        Some(bp)
    }
}

/// Instance, environment and blueprint names: `[a-z0-9][a-z0-9-]*`, at most 64.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}

/// The allowed word closest to a misspelt one, if any is close.
fn closest<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(word, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
