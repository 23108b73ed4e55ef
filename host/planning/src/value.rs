//! Property values with references, as the host holds them.
//!
//! Plugins send values as flat trees (see `node` in `wit/plugin.wit`); the
//! host decodes them here, checking that the tree is well formed: every
//! child index points forward and every node is used once, so a hostile
//! plugin can neither loop the decoder nor blow up a shared subtree.

use serde_json::json;

use platform_value_tree::{Build, TreeError, View};

use crate::runtime::Node;

/// A reference to an attribute of a resource, known only once it exists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ref {
    /// Qualified resource id, `<instance>.<id>`, once qualified.
    pub resource: String,
    pub attribute: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
    Ref(Ref),
    Concat(Vec<Value>),
}

/// The `--json` form of a value, written as it is serialized (no
/// intermediate `serde_json::Value`): references and concatenations as
/// `{"$ref": {...}}` and `{"$concat": [...]}`, as [`Value::to_json`].
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Num(n) if n.is_finite() => s.serialize_f64(*n),
            Value::Num(_) => s.serialize_unit(),
            Value::Str(v) => s.serialize_str(v),
            Value::Array(items) => s.collect_seq(items),
            Value::Object(entries) => s.collect_map(entries.iter().map(|(k, v)| (k, v))),
            Value::Ref(r) => {
                let mut m = s.serialize_map(Some(1))?;
                #[derive(serde::Serialize)]
                struct Target<'a> {
                    resource: &'a str,
                    attribute: &'a str,
                }
                m.serialize_entry(
                    "$ref",
                    &Target {
                        resource: &r.resource,
                        attribute: &r.attribute,
                    },
                )?;
                m.end()
            }
            Value::Concat(parts) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("$concat", parts)?;
                m.end()
            }
        }
    }
}

impl Value {
    /// Decode a plugin's tree (an empty tree is `Null`), with the checks of
    /// `platform-value-tree`, which the plugin SDK shares.
    pub fn decode(nodes: &[Node]) -> Result<Value, TreeError> {
        platform_value_tree::decode(nodes)
    }

    /// Every reference in the value, in order.
    pub fn refs(&self) -> Vec<&Ref> {
        let mut out = Vec::new();
        self.walk_refs(&mut |r| out.push(r));
        out
    }

    fn walk_refs<'a>(&'a self, f: &mut impl FnMut(&'a Ref)) {
        match self {
            Value::Ref(r) => f(r),
            Value::Array(items) | Value::Concat(items) => items.iter().for_each(|v| v.walk_refs(f)),
            Value::Object(entries) => entries.iter().for_each(|(_, v)| v.walk_refs(f)),
            _ => {}
        }
    }

    /// Rewrite every reference's resource id.
    pub fn map_refs(&mut self, f: &mut impl FnMut(&mut Ref)) {
        match self {
            Value::Ref(r) => f(r),
            Value::Array(items) | Value::Concat(items) => items.iter_mut().for_each(|v| v.map_refs(f)),
            Value::Object(entries) => entries.iter_mut().for_each(|(_, v)| v.map_refs(f)),
            _ => {}
        }
    }

    /// Encode back into a tree, to hand to another plugin.
    pub fn encode(&self) -> Vec<Node> {
        let mut nodes = Vec::new();
        self.encode_into(&mut nodes);
        nodes
    }

    fn encode_into(&self, nodes: &mut Vec<Node>) -> u32 {
        let index = nodes.len();
        nodes.push(Node::Null);
        let node = match self {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Boolean(*b),
            Value::Int(i) => Node::Integer(*i),
            Value::Num(n) => Node::Number(*n),
            Value::Str(s) => Node::Text(s.clone()),
            Value::Array(items) => Node::Array(items.iter().map(|v| v.encode_into(nodes)).collect()),
            Value::Object(entries) => {
                Node::Object(entries.iter().map(|(k, v)| (k.clone(), v.encode_into(nodes))).collect())
            }
            Value::Ref(r) => Node::Ref(crate::runtime::Reference {
                resource: r.resource.clone(),
                attribute: r.attribute.clone(),
            }),
            Value::Concat(parts) => Node::Concat(parts.iter().map(|v| v.encode_into(nodes)).collect()),
        };
        nodes[index] = node;
        index as u32
    }

    /// The JSON form used by `plan --json`: references are
    /// `{"$ref": {"resource": ..., "attribute": ...}}`, concatenations
    /// `{"$concat": [...]}`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Num(n) => serde_json::Number::from_f64(*n).map_or(serde_json::Value::Null, Into::into),
            Value::Str(s) => s.clone().into(),
            Value::Array(items) => items.iter().map(Value::to_json).collect(),
            Value::Object(entries) => entries
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Value::Ref(r) => {
                json!({ "$ref": { "resource": r.resource, "attribute": r.attribute } })
            }
            Value::Concat(parts) => {
                json!({ "$concat": parts.iter().map(Value::to_json).collect::<Vec<_>>() })
            }
        }
    }

    /// The inverse of [`Value::to_json`]: `{"$ref": ...}` and `{"$concat": [...]}`
    /// become references and concatenations.
    pub fn from_json(json: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match json {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => n
                .as_i64()
                .map_or_else(|| Value::Num(n.as_f64().unwrap_or(0.0)), Value::Int),
            J::String(s) => Value::Str(s.clone()),
            J::Array(items) => Value::Array(items.iter().map(Value::from_json).collect()),
            J::Object(map) => {
                if map.len() == 1 {
                    if let Some(r) = map.get("$ref") {
                        return Value::Ref(Ref {
                            resource: r["resource"].as_str().unwrap_or_default().to_string(),
                            attribute: r["attribute"].as_str().unwrap_or_default().to_string(),
                        });
                    }
                    if let Some(J::Array(parts)) = map.get("$concat") {
                        return Value::Concat(parts.iter().map(Value::from_json).collect());
                    }
                }
                Value::Object(map.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect())
            }
        }
    }

    /// The human form used by `plan`: JSON-like, references as `${id.attribute}`.
    pub fn render(&self, out: &mut String, indent: usize) {
        let pad = |n: usize| "  ".repeat(n);
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(&b.to_string()),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Num(n) => out.push_str(&n.to_string()),
            Value::Str(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
            Value::Ref(r) => out.push_str(&format!("${{{}.{}}}", r.resource, r.attribute)),
            Value::Concat(parts) => {
                out.push('"');
                for p in parts {
                    match p {
                        Value::Str(s) => out.push_str(
                            &serde_json::to_string(s)
                                .unwrap_or_default()
                                .trim_matches('"')
                                .to_string(),
                        ),
                        other => {
                            let mut inner = String::new();
                            other.render(&mut inner, indent);
                            out.push_str(inner.trim_matches('"'));
                        }
                    }
                }
                out.push('"');
            }
            Value::Array(items) if items.iter().all(Value::is_scalar) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.render(out, indent);
                }
                out.push(']');
            }
            Value::Array(items) => {
                out.push_str("[\n");
                for v in items {
                    out.push_str(&pad(indent + 1));
                    v.render(out, indent + 1);
                    out.push_str(",\n");
                }
                out.push_str(&pad(indent));
                out.push(']');
            }
            Value::Object(entries) if entries.is_empty() => out.push_str("{}"),
            Value::Object(entries) => {
                out.push_str("{\n");
                for (k, v) in entries {
                    out.push_str(&format!("{}{k} = ", pad(indent + 1)));
                    v.render(out, indent + 1);
                    out.push('\n');
                }
                out.push_str(&pad(indent));
                out.push('}');
            }
        }
    }

    fn is_scalar(&self) -> bool {
        !matches!(self, Value::Array(_) | Value::Object(_))
    }

    /// The entries of an object value.
    pub fn entries(&self) -> &[(String, Value)] {
        match self {
            Value::Object(entries) => entries,
            _ => &[],
        }
    }
}

impl platform_value_tree::Node for Node {
    fn view(&self) -> View<'_> {
        match self {
            Node::Null => View::Null,
            Node::Boolean(b) => View::Bool(*b),
            Node::Integer(i) => View::Int(*i),
            Node::Number(n) => View::Num(*n),
            Node::Text(s) => View::Text(s),
            Node::Array(items) => View::Array(items),
            Node::Object(entries) => View::Object(entries),
            Node::Ref(r) => View::Ref {
                resource: &r.resource,
                attribute: &r.attribute,
            },
            Node::Concat(parts) => View::Concat(parts),
        }
    }
}

impl Build for Value {
    fn null() -> Value {
        Value::Null
    }
    fn bool(b: bool) -> Value {
        Value::Bool(b)
    }
    fn int(i: i64) -> Value {
        Value::Int(i)
    }
    fn num(n: f64) -> Value {
        Value::Num(n)
    }
    fn text(s: &str) -> Value {
        Value::Str(s.to_string())
    }
    fn array(items: Vec<Value>) -> Value {
        Value::Array(items)
    }
    fn object(entries: Vec<(String, Value)>) -> Value {
        Value::Object(entries)
    }
    fn reference(resource: &str, attribute: &str) -> Value {
        Value::Ref(Ref {
            resource: resource.to_string(),
            attribute: attribute.to_string(),
        })
    }
    fn concat(parts: Vec<Value>) -> Value {
        Value::Concat(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(resource: &str) -> Node {
        Node::Ref(crate::runtime::Reference {
            resource: resource.into(),
            attribute: "id".into(),
        })
    }

    #[test]
    fn round_trip() {
        let v = Value::Object(vec![
            (
                "a".into(),
                Value::Array(vec![
                    Value::Int(1),
                    Value::Ref(Ref {
                        resource: "x.y".into(),
                        attribute: "id".into(),
                    }),
                ]),
            ),
            (
                "b".into(),
                Value::Concat(vec![Value::Str("http://".into()), Value::Null]),
            ),
        ]);
        assert_eq!(Value::decode(&v.encode()).unwrap(), v);
    }

    #[test]
    fn malformed_trees_are_refused() {
        let check = |nodes: Vec<Node>, expect: &str| {
            let err = Value::decode(&nodes).unwrap_err().to_string();
            assert!(err.contains(expect), "{err}");
        };
        check(vec![Node::Array(vec![0])], "node 0 points at node 0");
        check(vec![Node::Array(vec![5])], "points at node 5");
        check(vec![Node::Array(vec![1, 1]), Node::Null], "node 1 is used twice");
        check(vec![Node::Null, r("x")], "node 1 is not reachable");
        check(
            vec![
                Node::Object(vec![("k".into(), 1), ("k".into(), 2)]),
                Node::Null,
                Node::Null,
            ],
            "key `k` appears twice",
        );
        check(vec![Node::Number(f64::NAN)], "non-finite");
        let deep: Vec<Node> = (0..100)
            .map(|i| if i < 99 { Node::Array(vec![i + 1]) } else { Node::Null })
            .collect();
        check(deep, "nested deeper");
    }

    #[test]
    fn refs_are_found_and_rendered() {
        let v = Value::decode(&[Node::Object(vec![("vpc".into(), 1)]), r("vpc")]).unwrap();
        assert_eq!(v.refs().len(), 1);
        let mut s = String::new();
        v.render(&mut s, 0);
        assert_eq!(s, "{\n  vpc = ${vpc.id}\n}");
    }
}
