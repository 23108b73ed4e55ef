//! The guest side of the `platform` plugin contract (`wit/plugin.wit`).
//!
//! A plugin implements [`Plugin`] and registers it with [`export_plugin!`]:
//!
//! ```ignore
//! use platform_plugin_sdk::{export_plugin, obj, Context, Error, Info, Plan, Plugin};
//!
//! struct Budget;
//! impl Plugin for Budget {
//!     fn info() -> Info {
//!         Info::new("budget", env!("CARGO_PKG_VERSION"), "A monthly budget alarm")
//!             .kinds(&["aws.budgets.budget"])
//!     }
//!     fn plan(ctx: &Context) -> Result<Plan, Error> {
//!         let mut plan = Plan::new();
//!         plan.resource("budget", "aws.budgets.budget", obj! { "limit_usd": 100 });
//!         Ok(plan)
//!     }
//! }
//! export_plugin!(Budget);
//! ```
//!
//! The SDK hides the flat tree encoding of values: build [`Value`]s with
//! [`obj!`], `Vec`s, scalars and [`reference`], and read the configuration with
//! [`Context::config`].

#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod value;

pub use value::{Value, concat, reference};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "platform-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_platform_plugin",
        default_bindings_module: "platform_plugin_sdk::bindings",
    });
}

use bindings::platform::plugin::types as wit;

/// The contract version this SDK implements; reported to the host.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// A plugin: a description of itself and a pure plan function.
pub trait Plugin {
    fn info() -> Info;
    fn plan(ctx: &Context) -> Result<Plan, Error>;
}

/// What a plugin says about itself.
#[derive(Debug, Clone)]
pub struct Info {
    name: String,
    version: String,
    description: String,
    kinds: Vec<String>,
    actions: Vec<String>,
    schema: serde_json::Value,
    exports: Vec<(String, String)>,
}

impl Info {
    pub fn new(name: &str, version: &str, description: &str) -> Info {
        Info {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            kinds: Vec::new(),
            actions: Vec::new(),
            schema: serde_json::json!({ "type": "object", "additionalProperties": false }),
            exports: Vec::new(),
        }
    }
    /// The resource types the plugin may return.
    pub fn kinds(mut self, kinds: &[&str]) -> Info {
        self.kinds.extend(kinds.iter().map(|k| k.to_string()));
        self
    }
    /// The step actions the plugin may return.
    pub fn actions(mut self, actions: &[&str]) -> Info {
        self.actions.extend(actions.iter().map(|a| a.to_string()));
        self
    }
    /// The JSON Schema of the configuration object.
    pub fn schema(mut self, schema: serde_json::Value) -> Info {
        self.schema = schema;
        self
    }
    /// Document an export other plugins may use.
    pub fn export(mut self, name: &str, description: &str) -> Info {
        self.exports.push((name.into(), description.into()));
        self
    }
}

/// A plugin's error; each case tells the host something different.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Configuration values that are wrong: (JSON pointer, message).
    InvalidConfig(Vec<(String, String)>),
    /// The plan needs these instances' exports first; the host retries.
    MissingImports(Vec<String>),
    Failed(String),
}

impl Error {
    /// One wrong configuration value at `path` (a JSON pointer like `/cpu`).
    pub fn config(path: &str, message: impl Into<String>) -> Error {
        Error::InvalidConfig(vec![(path.into(), message.into())])
    }
    pub fn failed(message: impl Into<String>) -> Error {
        Error::Failed(message.into())
    }
}

/// The environment a plan is made for.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    /// Never empty; the first is the primary region.
    pub regions: Vec<String>,
}

impl Environment {
    pub fn primary_region(&self) -> &str {
        &self.regions[0]
    }
}

/// Everything a plan may depend on.
#[derive(Debug, Clone)]
pub struct Context {
    pub blueprint: String,
    pub instance: String,
    pub env: Environment,
    config: String,
    /// By instance: its plugin and its exports. A map, not a list: an
    /// instance watching a thousand others looks each up.
    imports: std::collections::BTreeMap<String, (String, Vec<(String, Value)>)>,
}

impl Context {
    /// The configuration, deserialized. A value that does not fit `T` is an
    /// `InvalidConfig` error at its path.
    pub fn config<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        let mut de = serde_json::Deserializer::from_str(&self.config);
        T::deserialize(&mut de).map_err(|e| Error::config("", e.to_string()))
    }

    /// The raw configuration object.
    pub fn config_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.config).unwrap_or(serde_json::Value::Null)
    }

    /// The export `name` of plugin instance `instance`. If that instance has
    /// not been planned yet the error asks the host to plan it first.
    pub fn import(&self, instance: &str, name: &str) -> Result<Value, Error> {
        let Some((plugin, exports)) = self.imports.get(instance) else {
            return Err(Error::MissingImports(vec![instance.into()]));
        };
        match exports.iter().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => {
                let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
                Err(Error::Failed(format!(
                    "instance `{instance}` (plugin `{plugin}`) has no export `{name}`; it exports: {}",
                    if names.is_empty() {
                        "nothing".to_string()
                    } else {
                        names.join(", ")
                    }
                )))
            }
        }
    }

    /// The plugin behind an instance, if that instance has been planned.
    pub fn plugin_of(&self, instance: &str) -> Option<&str> {
        self.imports.get(instance).map(|(p, _)| p.as_str())
    }

    /// A name for an AWS resource, unique per blueprint, environment and
    /// instance: `<blueprint>-<env>-<instance>[-suffix]`. When that is longer
    /// than `max` bytes, the blueprint and then the environment are left out
    /// and a short hash of the whole name is appended, so long names stay
    /// readable and distinct: `notification-b-use1-3fa9c2`.
    pub fn physical_name(&self, suffix: &str, max: usize) -> String {
        let tail = if suffix.is_empty() {
            self.instance.clone()
        } else {
            format!("{}-{suffix}", self.instance)
        };
        let full = format!("{}-{}-{tail}", self.blueprint, self.env.name);
        if full.len() <= max {
            return full;
        }
        // FNV-1a: stable across builds and platforms.
        let hash = full.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let tag = format!("-{:06x}", hash & 0xff_ffff);
        for candidate in [format!("{}-{tail}", self.env.name), tail.clone()] {
            if candidate.len() + tag.len() <= max {
                return candidate + &tag;
            }
        }
        let keep = max.saturating_sub(tag.len()).min(tail.len());
        tail[..keep].trim_end_matches('-').to_string() + &tag
    }
}

/// When a step runs; see `phase` in the WIT contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Apply,
    Verify,
    Rollout,
    Teardown,
}

/// A resource being declared.
#[derive(Debug, Clone)]
pub struct Resource {
    pub id: String,
    pub kind: String,
    pub region: Option<String>,
    pub properties: Value,
    pub depends_on: Vec<String>,
}

impl Resource {
    pub fn in_region(&mut self, region: &str) -> &mut Resource {
        self.region = Some(region.into());
        self
    }
    pub fn depends_on(&mut self, id: &str) -> &mut Resource {
        self.depends_on.push(id.into());
        self
    }
}

/// A lifecycle step being declared.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub phase: Phase,
    pub action: String,
    pub params: Value,
    pub after: Vec<String>,
    pub timeout_seconds: u32,
}

impl Step {
    pub fn after(&mut self, id: &str) -> &mut Step {
        self.after.push(id.into());
        self
    }
    pub fn timeout(&mut self, seconds: u32) -> &mut Step {
        self.timeout_seconds = seconds;
        self
    }
}

/// What a plugin contributes: resources, exports and steps.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub resources: Vec<Resource>,
    pub exports: Vec<(String, Value, String)>,
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn new() -> Plan {
        Plan::default()
    }

    /// Declare a resource; `properties` should be an object ([`obj!`]).
    pub fn resource(&mut self, id: &str, kind: &str, properties: Value) -> &mut Resource {
        self.resources.push(Resource {
            id: id.into(),
            kind: kind.into(),
            region: None,
            properties,
            depends_on: Vec::new(),
        });
        self.resources.last_mut().expect("just pushed")
    }

    /// Export a value for other plugins.
    pub fn export(&mut self, name: &str, value: impl Into<Value>, description: &str) {
        self.exports.push((name.into(), value.into(), description.into()));
    }

    /// Declare a step; the default timeout is 10 minutes.
    pub fn step(&mut self, id: &str, phase: Phase, action: &str, params: Value) -> &mut Step {
        self.steps.push(Step {
            id: id.into(),
            phase,
            action: action.into(),
            params,
            after: Vec::new(),
            timeout_seconds: 600,
        });
        self.steps.last_mut().expect("just pushed")
    }
}

// ---- glue between the trait and the generated bindings ----

#[doc(hidden)]
pub fn __describe<P: Plugin>() -> wit::PluginInfo {
    let info = P::info();
    wit::PluginInfo {
        name: info.name,
        version: info.version,
        description: info.description,
        contract: CONTRACT_VERSION.into(),
        resource_kinds: info.kinds,
        actions: info.actions,
        config_schema: info.schema.to_string(),
        exports: info
            .exports
            .into_iter()
            .map(|(name, description)| wit::ExportInfo { name, description })
            .collect(),
    }
}

#[doc(hidden)]
pub fn __plan<P: Plugin>(input: wit::PlanInput) -> Result<wit::Contribution, wit::PlanError> {
    let mut imports = std::collections::BTreeMap::new();
    for inst in input.imports {
        let mut exports = Vec::with_capacity(inst.exports.len());
        for e in inst.exports {
            let value = Value::decode(&e.value).map_err(wit::PlanError::Failed)?;
            exports.push((e.name, value));
        }
        imports.insert(inst.instance, (inst.plugin, exports));
    }
    let ctx = Context {
        blueprint: input.blueprint,
        instance: input.instance,
        env: Environment {
            name: input.environment.name,
            regions: input.environment.regions,
        },
        config: input.config,
        imports,
    };
    if ctx.env.regions.is_empty() {
        return Err(wit::PlanError::Failed("the environment has no region".into()));
    }
    match P::plan(&ctx) {
        Ok(plan) => Ok(plan.into_wit()),
        Err(Error::InvalidConfig(errs)) => Err(wit::PlanError::InvalidConfig(
            errs.into_iter()
                .map(|(path, message)| wit::ConfigError { path, message })
                .collect(),
        )),
        Err(Error::MissingImports(names)) => Err(wit::PlanError::MissingImports(names)),
        Err(Error::Failed(msg)) => Err(wit::PlanError::Failed(msg)),
    }
}

impl Plan {
    fn into_wit(self) -> wit::Contribution {
        wit::Contribution {
            resources: self
                .resources
                .into_iter()
                .map(|r| wit::Resource {
                    id: r.id,
                    kind: r.kind,
                    region: r.region,
                    properties: r.properties.encode(),
                    depends_on: r.depends_on,
                })
                .collect(),
            exports: self
                .exports
                .into_iter()
                .map(|(name, value, description)| wit::Export {
                    name,
                    value: value.encode(),
                    description,
                })
                .collect(),
            steps: self
                .steps
                .into_iter()
                .map(|s| wit::Step {
                    id: s.id,
                    phase: match s.phase {
                        Phase::Apply => wit::Phase::Apply,
                        Phase::Verify => wit::Phase::Verify,
                        Phase::Rollout => wit::Phase::Rollout,
                        Phase::Teardown => wit::Phase::Teardown,
                    },
                    action: s.action,
                    params: s.params.encode(),
                    after: s.after,
                    timeout_seconds: s.timeout_seconds,
                })
                .collect(),
        }
    }
}

/// Register a [`Plugin`] implementation as the component's export.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        struct __PlatformPluginExport;
        impl $crate::bindings::exports::platform::plugin::plugin::Guest for __PlatformPluginExport {
            fn describe() -> $crate::bindings::platform::plugin::types::PluginInfo {
                $crate::__describe::<$plugin>()
            }
            fn plan(
                input: $crate::bindings::platform::plugin::types::PlanInput,
            ) -> ::core::result::Result<
                $crate::bindings::platform::plugin::types::Contribution,
                $crate::bindings::platform::plugin::types::PlanError,
            > {
                $crate::__plan::<$plugin>(input)
            }
        }
        $crate::bindings::__export_platform_plugin!(__PlatformPluginExport with_types_in $crate::bindings);
    };
}
