//! Values with references, and their flat tree encoding (see `node` in the WIT).

use platform_value_tree::{Build, View};

use crate::bindings::platform::plugin::types::{Node, Reference};

/// A JSON-like value that may hold references resolved by the host at apply time.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    Array(Vec<Value>),
    /// Keys in order; later duplicates of a key replace earlier ones.
    Object(Vec<(String, Value)>),
    /// `attribute` of resource `resource` (local or qualified id).
    Ref {
        resource: String,
        attribute: String,
    },
    /// Text concatenation of the parts, resolved at apply time.
    Concat(Vec<Value>),
}

/// A reference to `attribute` of resource `resource` (`reference("vpc", "id")`).
pub fn reference(resource: &str, attribute: &str) -> Value {
    Value::Ref {
        resource: resource.into(),
        attribute: attribute.into(),
    }
}

/// Text built from parts at apply time (`concat(["http://", reference("alb", "dns_name")])`).
pub fn concat<I: IntoIterator<Item = V>, V: Into<Value>>(parts: I) -> Value {
    Value::Concat(parts.into_iter().map(Into::into).collect())
}

/// Build an object value: `obj! { "cidr_block": "10.0.0.0/16", "vpc_id": reference("vpc", "id") }`.
#[macro_export]
macro_rules! obj {
    () => { $crate::Value::Object(::std::vec::Vec::new()) };
    ($($key:literal : $value:expr),+ $(,)?) => {
        $crate::Value::Object(::std::vec![$((::std::string::String::from($key), $crate::Value::from($value))),+])
    };
}

impl Value {
    /// The value at `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Set `key` in an object (a no-op on other values).
    pub fn insert(&mut self, key: &str, value: impl Into<Value>) {
        if let Value::Object(entries) = self {
            let value = value.into();
            match entries.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => entries.push((key.into(), value)),
            }
        }
    }

    pub(crate) fn encode(&self) -> Vec<Node> {
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
            Value::Ref { resource, attribute } => Node::Ref(Reference {
                resource: resource.clone(),
                attribute: attribute.clone(),
            }),
            Value::Concat(parts) => Node::Concat(parts.iter().map(|v| v.encode_into(nodes)).collect()),
        };
        nodes[index] = node;
        index as u32
    }

    /// Decode a tree from the host with the checks the host applies to
    /// plugins' trees (`platform-value-tree`).
    pub(crate) fn decode(nodes: &[Node]) -> Result<Value, String> {
        platform_value_tree::decode(nodes).map_err(|e| e.to_string())
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
        reference(resource, attribute)
    }
    fn concat(parts: Vec<Value>) -> Value {
        Value::Concat(parts)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.into())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::Str(s.clone())
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(i: $t) -> Value { Value::Int(i as i64) }
        }
    )*};
}
from_int!(i32, i64, u8, u16, u32);
impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::Num(n)
    }
}
impl From<&Value> for Value {
    fn from(v: &Value) -> Value {
        v.clone()
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Value {
        Value::Array(items.into_iter().map(Into::into).collect())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}
impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Num(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Value::Str(s),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
        }
    }
}
