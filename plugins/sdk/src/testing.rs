//! Test a plugin natively with `cargo test`: no wasm runtime, no AWS SDK.
//! Enable with the `testing` feature in the plugin's dev-dependencies:
//!
//! ```toml
//! [dev-dependencies]
//! platform-plugin-sdk = { version = "...", features = ["testing"] }
//! ```
//!
//! [`plan`] calls the plugin's `plan` directly and checks what it returns
//! the way `platform plan` does: its configuration against its schema, the
//! types and actions it declared, and every resource's properties against
//! the host's schema for that type (`kinds.json`, which a host test keeps
//! equal to `platform plugin kinds --json`). A reference stands for any
//! value, as at plan time. So a plugin whose tests pass cannot fail `plan`
//! on a property. The full host harness (`platform::harness`) runs the
//! built component itself.

use serde_json::Value as Json;

use crate::{Context, Environment, Error, Plan, Plugin, Value};

/// The host's resource types: `[{ "type", "schema", ... }]`.
const KINDS: &str = include_str!("../kinds.json");

/// One call of `plan`: configuration, environment, imports.
#[derive(Debug, Clone)]
pub struct Case {
    pub blueprint: String,
    pub instance: String,
    pub env: String,
    pub regions: Vec<String>,
    pub config: Json,
    /// (instance, plugin, exports)
    pub imports: Vec<(String, String, Vec<(String, Value)>)>,
}

impl Case {
    /// Instance `test` of blueprint `test`, environment `test`, in us-east-1.
    pub fn new(config: Json) -> Case {
        Case {
            blueprint: "test".into(),
            instance: "test".into(),
            env: "test".into(),
            regions: vec!["us-east-1".into()],
            config,
            imports: Vec::new(),
        }
    }

    pub fn env(mut self, name: &str, regions: &[&str]) -> Case {
        self.env = name.into();
        self.regions = regions.iter().map(|r| r.to_string()).collect();
        self
    }

    pub fn instance(mut self, name: &str) -> Case {
        self.instance = name.into();
        self
    }

    /// The exports of another instance, as the host would hand them over.
    pub fn import(mut self, instance: &str, plugin: &str, exports: Vec<(&str, Value)>) -> Case {
        self.imports.push((
            instance.into(),
            plugin.into(),
            exports.into_iter().map(|(n, v)| (n.into(), v)).collect(),
        ));
        self
    }
}

/// Why a case did not produce a plan `platform plan` would accept.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The configuration does not fit the plugin's schema.
    Schema(Vec<String>),
    /// The plugin returned an error.
    Plugin(Error),
    /// The plugin returned something the host refuses (an undeclared type
    /// or action, a property that does not fit its type).
    Output(Vec<String>),
}

/// Plan `case` with plugin `P`, checked as the host checks it.
pub fn plan<P: Plugin>(case: &Case) -> Result<Plan, Failure> {
    let info = P::info();
    let config = Value::from(case.config.clone());
    let problems = check(&config, &info.schema, &info.schema, "");
    if !problems.is_empty() {
        return Err(Failure::Schema(problems));
    }
    let ctx = Context {
        blueprint: case.blueprint.clone(),
        instance: case.instance.clone(),
        env: Environment {
            name: case.env.clone(),
            regions: case.regions.clone(),
        },
        config: case.config.to_string(),
        imports: case
            .imports
            .iter()
            .map(|(instance, plugin, exports)| (instance.clone(), (plugin.clone(), exports.clone())))
            .collect(),
    };
    let plan = P::plan(&ctx).map_err(Failure::Plugin)?;
    let kinds: Json = serde_json::from_str(KINDS).expect("kinds.json is JSON");
    let mut problems = Vec::new();
    for r in &plan.resources {
        if !info.kinds.contains(&r.kind) {
            problems.push(format!(
                "resource `{}` has type `{}`, which the plugin did not declare",
                r.id, r.kind
            ));
            continue;
        }
        let schema = kinds
            .as_array()
            .and_then(|k| k.iter().find(|k| k["type"] == r.kind.as_str()))
            .map(|k| &k["schema"]);
        if let Some(schema) = schema {
            for p in check(&r.properties, schema, schema, "") {
                problems.push(format!("resource `{}` ({}): {p}", r.id, r.kind));
            }
        }
    }
    for s in &plan.steps {
        if !info.actions.contains(&s.action) {
            problems.push(format!(
                "step `{}` uses action `{}`, which the plugin did not declare",
                s.id, s.action
            ));
        }
    }
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(Failure::Output(problems))
    }
}

/// Check `value` against a JSON Schema (the subset `schemars` and plugin
/// schemas use: `$ref` into `$defs`, `anyOf`/`oneOf`, `type`, `enum`,
/// `const`, `properties`, `required`, `additionalProperties`, `items`);
/// references stand for any value, concatenations for any string.
pub fn check(value: &Value, schema: &Json, root: &Json, path: &str) -> Vec<String> {
    let at = |p: &str| {
        if p.is_empty() {
            "the value".to_string()
        } else {
            format!("property `{p}`")
        }
    };
    if let Some(r) = schema.get("$ref").and_then(Json::as_str) {
        let target = r
            .strip_prefix("#/$defs/")
            .and_then(|name| root.get("$defs").and_then(|d| d.get(name)));
        return match target {
            Some(t) => check(value, t, root, path),
            None => Vec::new(),
        };
    }
    if matches!(value, Value::Ref { .. }) {
        return Vec::new();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Json::as_array) {
            let results: Vec<Vec<String>> = branches.iter().map(|b| check(value, b, root, path)).collect();
            if results.iter().any(Vec::is_empty) {
                return Vec::new();
            }
            // The branch that got furthest says why.
            return results.into_iter().min_by_key(Vec::len).unwrap_or_default();
        }
    }
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Json::String(t) => vec![t.as_str()],
            Json::Array(ts) => ts.iter().filter_map(Json::as_str).collect(),
            _ => Vec::new(),
        };
        let fits = |t: &str| match (t, value) {
            ("null", Value::Null) | ("boolean", Value::Bool(_)) | ("array", Value::Array(_)) => true,
            ("object", Value::Object(_)) | ("string", Value::Str(_) | Value::Concat(_)) => true,
            ("integer", Value::Int(_)) | ("number", Value::Int(_) | Value::Num(_)) => true,
            // Numbers as digits, as the host reads them.
            ("integer", Value::Str(s)) => s.trim().parse::<i64>().is_ok(),
            ("number", Value::Str(s)) => s.trim().parse::<f64>().is_ok(),
            ("integer" | "number", Value::Concat(_)) => true,
            _ => false,
        };
        if !allowed.is_empty() && !allowed.iter().any(|t| fits(t)) {
            return vec![format!("{} must be {}", at(path), allowed.join(" or "))];
        }
    }
    if let Some(options) = schema.get("enum").and_then(Json::as_array) {
        if let Some(v) = scalar(value)
            && !options.contains(&v)
        {
            return vec![format!(
                "{} is {v}, not one of {}",
                at(path),
                Json::Array(options.clone())
            )];
        }
    }
    if let Some(c) = schema.get("const")
        && let Some(v) = scalar(value)
        && &v != c
    {
        return vec![format!("{} must be {c}", at(path))];
    }
    let mut problems = Vec::new();
    match value {
        Value::Object(entries) => {
            let props = schema.get("properties").and_then(Json::as_object);
            for (k, v) in entries {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match props.and_then(|p| p.get(k)) {
                    Some(s) => problems.extend(check(v, s, root, &sub)),
                    None => match schema.get("additionalProperties") {
                        Some(Json::Bool(false)) => {
                            let known: Vec<&str> = props
                                .map(|p| p.keys().map(String::as_str).collect())
                                .unwrap_or_default();
                            problems.push(format!("unknown property `{sub}`; the type has: {}", known.join(", ")));
                        }
                        Some(s @ Json::Object(_)) => problems.extend(check(v, s, root, &sub)),
                        _ => {}
                    },
                }
            }
            for r in schema.get("required").and_then(Json::as_array).into_iter().flatten() {
                if let Some(name) = r.as_str()
                    && !entries.iter().any(|(k, v)| k == name && !matches!(v, Value::Null))
                {
                    let sub = if path.is_empty() {
                        name.to_string()
                    } else {
                        format!("{path}.{name}")
                    };
                    problems.push(format!("missing required property `{sub}`"));
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    problems.extend(check(v, item, root, &format!("{path}[{i}]")));
                }
            }
        }
        _ => {}
    }
    problems
}

fn scalar(value: &Value) -> Option<Json> {
    Some(match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Num(n) => Json::from(*n),
        Value::Str(s) => Json::String(s.clone()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Info, obj, reference};

    struct Logs;

    impl Plugin for Logs {
        fn info() -> Info {
            Info::new("logs", "0.0.1", "test")
                .kinds(&["aws.logs.log-group"])
                .schema(json!({
                    "type": "object",
                    "additionalProperties": false,
                    "properties": { "days": { "type": "integer" }, "typo": { "type": "boolean" } }
                }))
        }

        fn plan(ctx: &Context) -> Result<Plan, Error> {
            let cfg = ctx.config_value();
            let mut plan = Plan::new();
            let days = cfg["days"].as_i64().unwrap_or(30);
            let retention = if cfg["typo"] == true {
                "retention_days"
            } else {
                "retention_in_days"
            };
            let mut props = obj! { "name": concat_name(ctx) };
            props.insert(retention, days);
            plan.resource("logs", "aws.logs.log-group", props);
            Ok(plan)
        }
    }

    fn concat_name(ctx: &Context) -> Value {
        crate::concat([
            Value::from("/"),
            Value::from(ctx.instance.as_str()),
            reference("x.y", "id"),
        ])
    }

    #[test]
    fn a_plugin_is_planned_and_checked_natively() {
        let plan = plan::<Logs>(&Case::new(json!({ "days": 7 }))).unwrap();
        assert_eq!(
            plan.resources[0].properties.get("retention_in_days"),
            Some(&Value::Int(7))
        );
    }

    #[test]
    fn a_misspelt_property_fails_as_plan_would_fail() {
        match plan::<Logs>(&Case::new(json!({ "typo": true }))) {
            Err(Failure::Output(problems)) => {
                assert_eq!(problems.len(), 1, "{problems:?}");
                assert!(
                    problems[0].starts_with("resource `logs` (aws.logs.log-group): unknown property `retention_days`"),
                    "{problems:?}"
                );
            }
            other => panic!("expected a property problem, got {other:?}"),
        }
    }

    #[test]
    fn the_configuration_is_checked_against_the_plugin_schema() {
        match plan::<Logs>(&Case::new(json!({ "days": "a week" }))) {
            Err(Failure::Schema(problems)) => assert_eq!(problems, ["property `days` must be integer"]),
            other => panic!("expected a schema problem, got {other:?}"),
        }
    }

    #[test]
    fn the_kinds_list_has_every_host_type_with_a_schema() {
        let kinds: Json = serde_json::from_str(KINDS).unwrap();
        let kinds = kinds.as_array().unwrap();
        assert!(kinds.len() >= 33);
        for k in kinds {
            assert!(
                k["schema"]["properties"].is_object() || k["schema"]["type"] == "object",
                "{}",
                k["type"]
            );
        }
    }
}
