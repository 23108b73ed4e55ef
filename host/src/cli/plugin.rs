//! `platform plugin list|inspect`.

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
}

impl Command {
    pub fn execute(self, ctx: &Context) -> Result<(), Failure> {
        let runtime = ctx.runtime(512 << 10)?;
        match self {
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
        }
        Ok(())
    }
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
