//! A JSON Schema validator for plugin configuration: the subset plugins use.
//!
//! Supported keywords: `type` (a name or a list), `enum`, `const`,
//! `properties`, `required`, `additionalProperties` (boolean or schema),
//! `items`, `minimum`, `maximum`, `minLength`, `maxLength`, `minItems`,
//! `maxItems`. Annotations (`description`, `default`, `title`, ...) are
//! ignored, and so are keywords outside this subset.
//!
//! Errors carry a JSON pointer so the caller can report the blueprint line
//! the value came from.

use serde_json::Value;

/// A value that does not satisfy the schema, at a JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub pointer: String,
    pub message: String,
}

/// Check `value` against `schema`; every error found, in document order.
pub fn validate(schema: &Value, value: &Value) -> Vec<SchemaError> {
    let mut errors = Vec::new();
    check(schema, value, "", &mut errors);
    errors
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn article(t: &str) -> String {
    match t {
        "integer" | "array" | "object" => format!("an {t}"),
        "null" => "null".into(),
        _ => format!("a {t}"),
    }
}

fn matches_type(expected: &str, v: &Value) -> bool {
    let actual = type_of(v);
    actual == expected || (expected == "number" && actual == "integer") || (expected == "table" && actual == "object")
}

/// Name JSON types the way a TOML user knows them.
fn toml_name(t: &str) -> String {
    match t {
        "object" => "a table".into(),
        "number" => "a number".into(),
        other => article(other),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

fn check(schema: &Value, value: &Value, at: &str, errors: &mut Vec<SchemaError>) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    let mut err = |message: String| {
        errors.push(SchemaError {
            pointer: at.to_string(),
            message,
        })
    };

    if let Some(t) = schema.get("type") {
        let expected: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !expected.is_empty() && !expected.iter().any(|e| matches_type(e, value)) {
            let names: Vec<String> = expected.iter().map(|e| toml_name(e)).collect();
            err(format!(
                "expected {}, found {}",
                names.join(" or "),
                toml_name(type_of(value))
            ));
            return;
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.contains(value)
    {
        let shown: Vec<String> = options.iter().map(show).collect();
        err(format!("{} is not one of: {}", show(value), shown.join(", ")));
        return;
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        err(format!("must be {}", show(c)));
        return;
    }
    match value {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && x < min
            {
                err(format!("{n} is less than the minimum {}", fmt_num(min)));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && x > max
            {
                err(format!("{n} is greater than the maximum {}", fmt_num(max)));
            }
        }
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                err(format!("must be at least {min} characters long"));
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                err(format!("must be at most {max} characters long"));
            }
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && len < min
            {
                err(format!("must have at least {min} items"));
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && len > max
            {
                err(format!("must have at most {max} items"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{at}/{i}"), errors);
                }
            }
        }
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(Value::Array(required)) = schema.get("required") {
                for key in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(key) {
                        err(format!("missing required key `{key}`"));
                    }
                }
            }
            for (key, v) in map {
                let child = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                if let Some(s) = properties.and_then(|p| p.get(key)) {
                    check(s, v, &child, errors);
                    continue;
                }
                match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        let known: Vec<&str> = properties
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        errors.push(SchemaError {
                            pointer: child,
                            message: if known.is_empty() {
                                format!("unknown key `{key}`; this table takes no keys")
                            } else {
                                format!("unknown key `{key}`; expected one of: {}", known.join(", "))
                            },
                        });
                    }
                    Some(s @ Value::Object(_)) => check(s, v, &child, errors),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

/// A plugin's configuration schema this validator cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadSchema {
    #[error("the configuration schema is not a JSON object")]
    NotAnObject,
    #[error("the configuration schema's type is {0}, but configuration is always a table")]
    NotATable(String),
}

/// Check that a plugin's schema is one this validator understands well
/// enough: an object schema.
pub fn check_schema(schema: &Value) -> Result<(), BadSchema> {
    let Some(obj) = schema.as_object() else {
        return Err(BadSchema::NotAnObject);
    };
    match obj.get("type") {
        Some(Value::String(t)) if t == "object" => Ok(()),
        None => Ok(()),
        Some(other) => Err(BadSchema::NotATable(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(schema: Value, value: Value, expect: expect_test::Expect) {
        let errors = validate(&schema, &value);
        let text: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.pointer, e.message)).collect();
        expect.assert_eq(&text.join("\n"));
    }

    fn service_schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["image"],
            "properties": {
                "image": { "type": "string", "minLength": 1 },
                "cpu": { "enum": [256, 512] },
                "port": { "type": "integer", "minimum": 1, "maximum": 65535 },
                "ratio": { "type": "number" },
                "tags": { "type": "array", "items": { "type": "string" }, "maxItems": 2 },
                "env": { "type": "object", "additionalProperties": { "type": "string" } }
            }
        })
    }

    #[test]
    fn valid_config_has_no_errors() {
        check(
            service_schema(),
            json!({ "image": "x", "cpu": 512, "port": 80, "ratio": 1, "tags": ["a"], "env": { "A": "b" } }),
            expect_test::expect![""],
        );
    }

    #[test]
    fn each_kind_of_error_is_reported_with_its_pointer() {
        check(
            service_schema(),
            json!({ "cpu": 300, "port": 0, "ratio": "high", "tags": ["a", 2, "c"], "env": { "A": 1 }, "imagee": "x" }),
            expect_test::expect![[r#"
                : missing required key `image`
                /cpu: 300 is not one of: 256, 512
                /port: 0 is less than the minimum 1
                /ratio: expected a number, found a string
                /tags: must have at most 2 items
                /tags/1: expected a string, found an integer
                /env/A: expected a string, found an integer
                /imagee: unknown key `imagee`; expected one of: image, cpu, port, ratio, tags, env"#]],
        );
    }

    #[test]
    fn type_mismatch_stops_deeper_checks() {
        check(
            service_schema(),
            json!({ "image": "", "env": "nope" }),
            expect_test::expect![[r#"
            /image: must be at least 1 characters long
            /env: expected a table, found a string"#]],
        );
    }

    #[test]
    fn schema_shape_is_checked() {
        assert!(check_schema(&json!({ "type": "object" })).is_ok());
        assert!(check_schema(&json!({ "type": "string" })).is_err());
        assert!(check_schema(&json!([1])).is_err());
    }
}
