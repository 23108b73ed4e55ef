//! Test a plugin's plan from Rust, with no AWS: load the component, give it
//! a configuration, an environment and the exports of the instances it
//! imports, and assert on the resources, exports and steps it returns, the
//! way CDK's assertions test a synthesized template.
//!
//! ```no_run
//! use platform::harness::{Case, Harness};
//! use serde_json::json;
//!
//! let plugin = Harness::file("target/wasm32-wasip2/release/plugin_budget.wasm").unwrap();
//! let plan = plugin
//!     .plan(&Case::new(json!({ "monthly_usd": 100 })).env("prod", &["us-east-1"]))
//!     .unwrap();
//! assert!(plan.has_resource("aws.cloudwatch.metric-alarm", &json!({ "threshold": 100 })));
//! assert_eq!(plan.resources_of_type("aws.sns.topic").len(), 1);
//! ```
//!
//! The configuration is checked against the plugin's schema first, as a
//! blueprint's would be, and every resource's properties against its type's
//! schema, as `plan` checks them; [`HarnessError`] tells schema errors, the
//! plugin's own configuration errors, missing imports, bad output and faults
//! apart.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value as Json, json};

use crate::runtime::{
    self, Environment, Export, InstanceExports, Limits, LoadedPlugin, Phase, PlanError, PlanInput, PluginSource,
    Runtime, RuntimeOptions,
};
use crate::value::Value;

/// A loaded plugin, ready to plan test cases.
pub struct Harness {
    runtime: Runtime,
    plugin: LoadedPlugin,
}

/// One call of `plan`: configuration, environment, imports.
#[derive(Debug, Clone)]
pub struct Case {
    pub blueprint: String,
    pub instance: String,
    pub env: String,
    pub regions: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub config: Json,
    /// instance -> (plugin, export name -> value)
    pub imports: BTreeMap<String, (String, BTreeMap<String, Json>)>,
}

impl Case {
    /// A case for instance `test` of blueprint `test`, environment `test`
    /// in us-east-1.
    pub fn new(config: Json) -> Case {
        Case {
            blueprint: "test".into(),
            instance: "test".into(),
            env: "test".into(),
            regions: vec!["us-east-1".into()],
            tags: Vec::new(),
            config,
            imports: BTreeMap::new(),
        }
    }

    pub fn instance(mut self, name: &str) -> Case {
        self.instance = name.into();
        self
    }

    pub fn blueprint(mut self, name: &str) -> Case {
        self.blueprint = name.into();
        self
    }

    pub fn env(mut self, name: &str, regions: &[&str]) -> Case {
        self.env = name.into();
        self.regions = regions.iter().map(|r| r.to_string()).collect();
        self
    }

    /// An export of another instance, in the JSON form of `plan --json`
    /// (`{"$ref": {"resource", "attribute"}}` for references).
    pub fn import(mut self, instance: &str, plugin: &str, name: &str, value: Json) -> Case {
        self.imports
            .entry(instance.into())
            .or_insert_with(|| (plugin.into(), BTreeMap::new()))
            .1
            .insert(name.into(), value);
        self
    }
}

/// Why a case did not plan.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HarnessError {
    #[error("cannot load the plugin: {0}")]
    Load(String),
    /// The configuration fails the plugin's schema: `pointer: message` each.
    #[error("the configuration fails the schema: {}", .0.join("; "))]
    Schema(Vec<String>),
    /// The plugin refused the configuration: `pointer: message` each.
    #[error("the plugin refused the configuration: {}", .0.join("; "))]
    InvalidConfig(Vec<String>),
    #[error("the plugin needs the exports of: {}", .0.join(", "))]
    MissingImports(Vec<String>),
    #[error("the plugin failed: {0}")]
    Failed(String),
    /// A trap, timeout, memory or stack fault.
    #[error("the plugin crashed: {0}")]
    Fault(String),
    /// The plugin returned something the host refuses.
    #[error("the plugin returned bad output: {0}")]
    Output(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedResource {
    pub id: String,
    pub kind: String,
    /// The region, or the primary region when the plugin gave none.
    pub region: String,
    pub properties: Json,
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedStep {
    pub id: String,
    pub phase: &'static str,
    pub action: String,
    pub params: Json,
    pub after: Vec<String>,
    pub timeout_seconds: u32,
}

/// What a plugin returned for a case, values in the JSON form of `plan --json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub resources: Vec<PlannedResource>,
    pub exports: BTreeMap<String, Json>,
    pub steps: Vec<PlannedStep>,
}

impl Harness {
    fn with(source: PluginSource) -> Result<Harness, HarnessError> {
        let runtime = Runtime::new(RuntimeOptions {
            max_stack_bytes: 512 << 10,
            cache_dir: None,
        })
        .map_err(|e| HarnessError::Load(format!("{e:#}")))?;
        let plugin = runtime.load(&source).map_err(|e| HarnessError::Load(e.to_string()))?;
        Ok(Harness { runtime, plugin })
    }

    /// A built-in plugin by name (`service`).
    pub fn builtin(name: &str) -> Result<Harness, HarnessError> {
        Harness::with(PluginSource::Builtin(name.into()))
    }

    /// A plugin component file.
    pub fn file(path: impl AsRef<Path>) -> Result<Harness, HarnessError> {
        Harness::with(PluginSource::Path(path.as_ref().to_path_buf()))
    }

    pub fn info(&self) -> &runtime::PluginInfo {
        &self.plugin.info
    }

    /// Plan one case.
    pub fn plan(&self, case: &Case) -> Result<Planned, HarnessError> {
        let schema: Json = serde_json::from_str(&self.plugin.info.config_schema)
            .map_err(|e| HarnessError::Output(format!("its schema is not JSON: {e}")))?;
        let errors: Vec<String> = crate::schema::validate(&schema, &case.config)
            .into_iter()
            .map(|e| format!("{}: {}", e.pointer, e.message))
            .collect();
        if !errors.is_empty() {
            return Err(HarnessError::Schema(errors));
        }
        let input = PlanInput {
            blueprint: case.blueprint.clone(),
            instance: case.instance.clone(),
            environment: Environment {
                name: case.env.clone(),
                regions: case.regions.clone(),
                tags: case.tags.clone(),
            },
            config: case.config.to_string(),
            imports: case
                .imports
                .iter()
                .map(|(instance, (plugin, exports))| InstanceExports {
                    instance: instance.clone(),
                    plugin: plugin.clone(),
                    exports: exports
                        .iter()
                        .map(|(name, v)| Export {
                            name: name.clone(),
                            value: Value::from_json(v).encode(),
                            description: String::new(),
                        })
                        .collect(),
                })
                .collect(),
        };
        let contribution = match self.runtime.plan(&self.plugin, &input, Limits::default()) {
            Err(fault) => return Err(HarnessError::Fault(fault.to_string())),
            Ok(Err(PlanError::InvalidConfig(errors))) => {
                return Err(HarnessError::InvalidConfig(
                    errors.iter().map(|e| format!("{}: {}", e.path, e.message)).collect(),
                ));
            }
            Ok(Err(PlanError::MissingImports(names))) => return Err(HarnessError::MissingImports(names)),
            Ok(Err(PlanError::Failed(message))) => return Err(HarnessError::Failed(message)),
            Ok(Ok(c)) => c,
        };
        let info = &self.plugin.info;
        let decode = |what: &str, nodes: &[runtime::Node]| {
            Value::decode(nodes)
                .map(|v| v.to_json())
                .map_err(|e| HarnessError::Output(format!("{what}: {e}")))
        };
        let mut resources = Vec::new();
        for r in contribution.resources {
            if !info.resource_kinds.contains(&r.kind) {
                return Err(HarnessError::Output(format!(
                    "resource `{}` has type `{}`, which the plugin did not declare",
                    r.id, r.kind
                )));
            }
            // The same check `plan` makes: a plugin whose harness tests pass
            // cannot fail `plan` on a property.
            let properties =
                Value::decode(&r.properties).map_err(|e| HarnessError::Output(format!("{}: {e}", r.id)))?;
            if let Some(Err(e)) = crate::providers::registry::registry()
                .get(&r.kind)
                .map(|k| k.check(&properties))
            {
                return Err(HarnessError::Output(format!(
                    "resource `{}` ({}): {}",
                    crate::properties::printable(&r.id),
                    crate::properties::printable(&r.kind),
                    crate::properties::printable(&e.to_string())
                )));
            }
            resources.push(PlannedResource {
                properties: properties.to_json(),
                region: r.region.unwrap_or_else(|| case.regions[0].clone()),
                id: r.id,
                kind: r.kind,
                depends_on: r.depends_on,
            });
        }
        let mut steps = Vec::new();
        for s in contribution.steps {
            if !info.actions.contains(&s.action) {
                return Err(HarnessError::Output(format!(
                    "step `{}` uses action `{}`, which the plugin did not declare",
                    s.id, s.action
                )));
            }
            steps.push(PlannedStep {
                params: decode(&s.id, &s.params)?,
                phase: crate::plan::phase_name(s.phase),
                id: s.id,
                action: s.action,
                after: s.after,
                timeout_seconds: s.timeout_seconds,
            });
        }
        let mut exports = BTreeMap::new();
        for e in contribution.exports {
            exports.insert(e.name.clone(), decode(&e.name, &e.value)?);
        }
        Ok(Planned {
            resources,
            exports,
            steps,
        })
    }
}

impl Planned {
    /// The resource with local id `id`; panics listing the ids if missing.
    pub fn resource(&self, id: &str) -> &PlannedResource {
        self.resources.iter().find(|r| r.id == id).unwrap_or_else(|| {
            panic!(
                "no resource `{id}`; the plan has: {}",
                self.resources
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    pub fn resources_of_type(&self, kind: &str) -> Vec<&PlannedResource> {
        self.resources.iter().filter(|r| r.kind == kind).collect()
    }

    /// Whether some resource of `kind` has properties matching `expected`
    /// (see [`matches`]).
    pub fn has_resource(&self, kind: &str, expected: &Json) -> bool {
        self.resources
            .iter()
            .any(|r| r.kind == kind && matches(&r.properties, expected))
    }

    /// The step with local id `id`; panics listing the ids if missing.
    pub fn step(&self, id: &str) -> &PlannedStep {
        self.steps.iter().find(|s| s.id == id).unwrap_or_else(|| {
            panic!(
                "no step `{id}`; the plan has: {}",
                self.steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// The actions of the steps of `phase`, in order.
    pub fn actions(&self, phase: Phase) -> Vec<&str> {
        let name = crate::plan::phase_name(phase);
        self.steps
            .iter()
            .filter(|s| s.phase == name)
            .map(|s| s.action.as_str())
            .collect()
    }

    pub fn export(&self, name: &str) -> &Json {
        self.exports
            .get(name)
            .unwrap_or_else(|| panic!("no export `{name}`; the plan has: {:?}", self.exports.keys()))
    }
}

/// `expected` is a pattern for `actual`: objects match when each expected
/// key matches (other keys are ignored), arrays when they have the same
/// length and match item by item, anything else when equal. A reference
/// is written `reference("id", "attribute")`.
pub fn matches(actual: &Json, expected: &Json) -> bool {
    match (actual, expected) {
        (Json::Object(a), Json::Object(e)) => e.iter().all(|(k, v)| a.get(k).is_some_and(|av| matches(av, v))),
        (Json::Array(a), Json::Array(e)) => a.len() == e.len() && a.iter().zip(e).all(|(x, y)| matches(x, y)),
        (Json::Number(a), Json::Number(e)) => a.as_f64() == e.as_f64(),
        _ => actual == expected,
    }
}

/// The JSON form of a reference, for [`matches`] patterns.
pub fn reference(resource: &str, attribute: &str) -> Json {
    json!({ "$ref": { "resource": resource, "attribute": attribute } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_subsets_of_objects_and_whole_arrays() {
        let actual = json!({ "name": "a", "port": 80, "tags": [{ "k": 1, "v": 2 }], "r": reference("vpc", "id") });
        assert!(matches(&actual, &json!({ "port": 80.0 })));
        assert!(matches(&actual, &json!({ "tags": [{ "k": 1 }] })));
        assert!(matches(&actual, &json!({ "r": reference("vpc", "id") })));
        assert!(!matches(&actual, &json!({ "tags": [] })));
        assert!(!matches(&actual, &json!({ "missing": null })));
        assert!(!matches(&actual, &json!({ "name": "b" })));
    }
}
