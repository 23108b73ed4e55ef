//! `platform plugin list|inspect|new|lock`.

use anyhow::Context as _;
use std::path::PathBuf;

use super::{Context, Failure};
use crate::runtime::{LoadedPlugin, PluginSource, Runtime};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the built-in plugins.
    List {
        /// JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Show what a plugin declares: resource types, actions, exports and its
    /// configuration schema.
    Inspect {
        /// A built-in plugin's name, or the path of a .wasm component.
        plugin: String,
        /// JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List every resource type this host can create, with its properties
    /// (the JSON Schema a plugin's resources are checked against at `plan`),
    /// what updates in place, and whether drift is read and leftovers swept.
    Kinds {
        /// Only this type (`aws.ec2.vpc`).
        kind: Option<String>,
        /// JSON on stdout: `[{ "type", "about", "adopt", "drift", "sweep", "schema" }]`.
        #[arg(long)]
        json: bool,
    },
    /// Create a plugin crate that builds with
    /// `cargo build --release --target wasm32-wasip2`, with a blueprint using it.
    New {
        /// The plugin's name: lowercase letters, digits and `-`.
        name: String,
        /// Where to create it (default: ./<name>).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The plugin SDK crate (default: this platform's plugins/sdk).
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
    /// Write the sha256 of every plugin file a blueprint uses (all
    /// environments) to the lock file beside it (`x.toml` -> `x.lock`).
    Lock {
        /// The blueprint file.
        blueprint: PathBuf,
    },
}

impl Command {
    pub fn execute(self, ctx: &Context) -> Result<(), Failure> {
        let runtime = ctx.runtime(512 << 10)?;
        match self {
            Command::Kinds { kind, json } => return kinds(kind.as_deref(), json),
            Command::List { json } => {
                let mut plugins = Vec::new();
                for name in Runtime::builtin_names() {
                    plugins.push(
                        runtime
                            .load(&PluginSource::Builtin(name.into()))
                            .map_err(anyhow::Error::from)?,
                    );
                }
                if json {
                    let list: Vec<_> = plugins.iter().map(describe_json).collect();
                    println!("{}", serde_json::to_string_pretty(&list).map_err(anyhow::Error::from)?);
                } else {
                    for p in &plugins {
                        println!("{:<14} {:<7} {}", p.info.name, p.info.version, p.info.description);
                    }
                }
            }
            Command::Inspect { plugin, json } => {
                let source = if plugin.ends_with(".wasm") || plugin.contains('/') {
                    PluginSource::Path(PathBuf::from(&plugin))
                } else {
                    PluginSource::Builtin(plugin)
                };
                let p = runtime.load(&source).map_err(anyhow::Error::from)?;
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&describe_json(&p)).map_err(anyhow::Error::from)?
                    );
                } else {
                    print!("{}", describe_text(&p));
                }
            }
            Command::New { name, dir, sdk } => new_plugin(ctx, &name, dir, sdk)?,
            Command::Lock { blueprint } => lock(ctx, &runtime, &blueprint)?,
        }
        Ok(())
    }
}

/// `platform plugin new`.
fn new_plugin(ctx: &Context, name: &str, dir: Option<PathBuf>, sdk: Option<PathBuf>) -> Result<(), Failure> {
    if !crate::blueprint::valid_name(name) || name.len() > 40 {
        return Err(anyhow::anyhow!(
            "`{name}` is not a valid plugin name: use lowercase letters, digits and `-` (at most 40), starting with a letter"
        )
        .into());
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(anyhow::anyhow!("{} exists and is not empty; nothing was written", dir.display()).into());
    }
    let sdk = sdk.unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/sdk")));
    let sdk = std::fs::canonicalize(&sdk).map_err(|e| {
        anyhow::anyhow!(
            "the plugin SDK is not at {} ({e}); pass --sdk with the path of plugins/sdk of a platform checkout",
            sdk.display()
        )
    })?;
    let krate = format!("plugin-{name}");
    let type_name: String = name
        .split('-')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let fill = |t: &str| {
        t.replace("{{crate}}", &krate)
            .replace("{{name}}", name)
            .replace("{{type}}", &type_name)
            .replace("{{file}}", &krate.replace('-', "_"))
            .replace("{{sdk}}", &sdk.display().to_string().replace('\\', "/"))
    };
    let files = [
        ("Cargo.toml", fill(include_str!("scaffold/Cargo.toml.tmpl"))),
        ("src/lib.rs", fill(include_str!("scaffold/lib.rs.tmpl"))),
        ("blueprint.toml", fill(include_str!("scaffold/blueprint.toml.tmpl"))),
        ("README.md", fill(include_str!("scaffold/README.md.tmpl"))),
        (".gitignore", "/target\n".to_string()),
    ];
    for (rel, text) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    ctx.status(format!(
        "Created plugin `{name}` in {}. Next:\n  cd {}\n  cargo build --release --target wasm32-wasip2\n  platform plugin lock blueprint.toml\n  platform plan blueprint.toml",
        dir.display(),
        dir.display()
    ));
    Ok(())
}

/// `platform plugin lock`: hash every plugin file of every environment.
fn lock(ctx: &Context, runtime: &Runtime, path: &std::path::Path) -> Result<(), Failure> {
    let blueprint = crate::blueprint::Blueprint::load(path)?;
    let mut envs: Vec<String> = blueprint.env_names().into_iter().map(str::to_string).collect();
    if envs.is_empty() {
        envs.push("default".into());
    }
    let mut entries = std::collections::BTreeMap::new();
    for env in &envs {
        let resolved = blueprint.resolve(env)?;
        for inst in &resolved.instances {
            let PluginSource::Path(file) = &inst.source else {
                continue;
            };
            // Loading checks it is a plugin this host accepts.
            let loaded = runtime
                .load(&inst.source)
                .map_err(|e| anyhow::anyhow!("plugin instance `{}` ({}): {e}", inst.name, file.display()))?;
            entries.insert(crate::lockfile::key(&resolved.source.path, file), loaded.sha256.clone());
        }
    }
    let written = crate::lockfile::write(path, &entries)
        .with_context(|| format!("cannot write the lock file of {}", path.display()))?;
    ctx.status(format!(
        "Locked {} plugin files in {}:",
        entries.len(),
        written.display()
    ));
    for (k, v) in &entries {
        ctx.status(format!("  {k}  {v}"));
    }
    Ok(())
}

fn describe_json(p: &LoadedPlugin) -> serde_json::Value {
    let i = &p.info;
    serde_json::json!({
        "name": i.name,
        "version": i.version,
        "description": i.description,
        "contract": i.contract,
        "source": p.source.to_string(),
        "sha256": p.sha256,
        "resource_types": i.resource_kinds,
        "actions": i.actions,
        "exports": i.exports.iter().map(|e| serde_json::json!({ "name": e.name, "description": e.description })).collect::<Vec<_>>(),
        "config_schema": serde_json::from_str::<serde_json::Value>(&i.config_schema).unwrap_or(serde_json::Value::Null),
    })
}

fn describe_text(p: &LoadedPlugin) -> String {
    let i = &p.info;
    let mut out = format!("{} {}: {}\n", i.name, i.version, i.description);
    out.push_str(&format!(
        "  contract:  platform:plugin@{}\n  source:    {}\n  sha256:    {}\n",
        i.contract, p.source, p.sha256
    ));
    out.push_str(&format!("  resource types: {}\n", i.resource_kinds.join(", ")));
    out.push_str(&format!(
        "  actions: {}\n",
        if i.actions.is_empty() {
            "none".into()
        } else {
            i.actions.join(", ")
        }
    ));
    out.push_str("  exports:\n");
    for e in &i.exports {
        out.push_str(&format!("    {:<18} {}\n", e.name, e.description));
    }
    out.push_str("  configuration:\n");
    if let Ok(schema) = serde_json::from_str::<serde_json::Value>(&i.config_schema) {
        settings(&mut out, &schema, "");
    }
    out
}

/// One line per setting; the settings of a nested object follow it as
/// `parent.key`.
fn settings(out: &mut String, schema: &serde_json::Value, prefix: &str) {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let Some(props) = schema["properties"].as_object() else {
        return;
    };
    for (key, s) in props {
        let ty = s
            .get("type")
            .map(|t| t.to_string().trim_matches('"').to_string())
            .or_else(|| s.get("enum").map(|e| format!("one of {e}")))
            .unwrap_or_else(|| "any".into());
        let default = s.get("default").map(|d| format!(" (default {d})")).unwrap_or_default();
        let req = if required.contains(&key.as_str()) {
            " (required)"
        } else {
            ""
        };
        let desc = s.get("description").and_then(|d| d.as_str()).unwrap_or("");
        let name = format!("{prefix}{key}");
        let line = format!("    {name:<30} {ty}{req}{default}  {desc}");
        out.push_str(line.trim_end());
        out.push('\n');
        if s.get("properties").is_some() {
            settings(out, s, &format!("{name}."));
        }
    }
}

/// `platform plugin kinds`.
fn kinds(only: Option<&str>, json: bool) -> Result<(), Failure> {
    use crate::providers::registry::{Adopt, Support, registry};
    let reg = registry();
    let kinds: Vec<_> = match only {
        Some(name) => match reg.get(name) {
            Some(k) => vec![k],
            None => {
                return Err(Failure::Invalid(
                    crate::blueprint::Diagnostic::bare(format!(
                        "no resource type `{}`; `platform plugin kinds` lists them",
                        crate::properties::printable(name)
                    ))
                    .into(),
                ));
            }
        },
        None => reg.iter().collect(),
    };
    let support = |s: Support| match s {
        Support::Yes => serde_json::json!(true),
        Support::No(why) => serde_json::json!({ "supported": false, "reason": why }),
    };
    if json {
        let list: Vec<_> = kinds
            .iter()
            .map(|k| {
                serde_json::json!({
                    "type": k.name(),
                    "about": k.about(),
                    "adopt": match k.adopt() { Adopt::Lookup => "lookup", Adopt::CreateAgain => "create-again" },
                    "drift": support(k.drift()),
                    "sweep": support(k.sweep()),
                    "schema": k.schema(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list).map_err(anyhow::Error::from)?);
        return Ok(());
    }
    for k in kinds {
        println!("{}  {}", k.name(), k.about());
        let schema = k.schema();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        if let Some(props) = schema["properties"].as_object() {
            for (name, p) in props {
                let mark = if required.contains(&name.as_str()) { "*" } else { " " };
                let about = p["description"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default();
                println!("    {mark} {name:<34} {about}");
            }
        }
        for (what, s) in [("drift", k.drift()), ("leftover sweep", k.sweep())] {
            if let Support::No(why) = s {
                println!("    no {what}: {why}");
            }
        }
        println!();
    }
    println!("* required. `platform plugin kinds <type> --json` shows the full schema.");
    Ok(())
}
