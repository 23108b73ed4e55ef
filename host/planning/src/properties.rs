//! Checking a resource's properties against its type's property struct,
//! before anything exists.
//!
//! At plan time a property may be a reference to an attribute AWS has not
//! produced yet, or a string built from one. The deserializer here reads a
//! [`Value`] into any serde type and lets such an unknown stand for whatever
//! the type asks for there (a string, a number, a list, a whole struct), so
//! what is checked is everything that is known: names, presence, types and
//! enumerated values. The same struct and the same rules check the resolved
//! properties again before a call is sent.
//!
//! This module knows no resource type: the registry of the providers gives
//! it the struct.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use crate::value::Value;

/// A property that does not fit its type's property struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyError {
    /// `ingress[0].from_port`; empty when the problem is the whole object.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for PropertyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "property `{}`: {}", self.path, self.message)
        }
    }
}

/// Read `value` into `T`, references standing for any value; the first
/// property that does not fit, with its path.
pub fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, PropertyError> {
    // Without tracking the path first: planning checks every resource of an
    // estate, and almost all are valid.
    if let Ok(t) = T::deserialize(In::of(value)) {
        return Ok(t);
    }
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(In::of(value), &mut track);
    T::deserialize(de).map_err(|e: Error| {
        let path = track.path().to_string();
        PropertyError {
            path: if path == "." { String::new() } else { path },
            message: e.0,
        }
    })
}

/// Read resolved JSON properties into `T` (the same leniency as at plan
/// time: a number may arrive as a string of digits).
pub fn decode_json<T: DeserializeOwned>(json: &serde_json::Value) -> Result<T, PropertyError> {
    decode(&Value::from_json(json))
}

/// Text from a plugin, safe to print: control characters (which could clear
/// the screen or forge lines of output) are shown escaped.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[derive(Debug)]
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Error {
        Error(msg.to_string())
    }
}

/// What is being read: a known value, or one known only at apply time.
#[derive(Clone, Copy)]
enum In<'a> {
    Value(&'a Value),
    /// A reference: any type.
    Unknown,
    /// A concatenation: a string of unknown content.
    UnknownText,
}

impl<'a> In<'a> {
    fn of(value: &'a Value) -> In<'a> {
        match value {
            Value::Ref(_) => In::Unknown,
            Value::Concat(_) => In::UnknownText,
            v => In::Value(v),
        }
    }

    fn unexpected(&self) -> de::Unexpected<'a> {
        match self {
            In::Value(Value::Null) => de::Unexpected::Unit,
            In::Value(Value::Bool(b)) => de::Unexpected::Bool(*b),
            In::Value(Value::Int(i)) => de::Unexpected::Signed(*i),
            In::Value(Value::Num(n)) => de::Unexpected::Float(*n),
            In::Value(Value::Str(s)) => de::Unexpected::Str(s),
            In::Value(Value::Array(_)) => de::Unexpected::Seq,
            In::Value(Value::Object(_)) => de::Unexpected::Map,
            In::UnknownText | In::Value(Value::Concat(_)) => de::Unexpected::Other("a string built from a reference"),
            In::Unknown | In::Value(Value::Ref(_)) => de::Unexpected::Other("a reference"),
        }
    }
}

macro_rules! integer {
    ($($method:ident => $visit:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self {
                // A string built from a reference may well be digits.
                In::Unknown | In::UnknownText => visitor.$visit(Default::default()),
                // Numbers sent as text ("5432") are read as numbers, as the
                // providers read them.
                In::Value(Value::Str(s)) => match s.trim().parse::<i64>() {
                    Ok(n) => visitor.visit_i64(n),
                    Err(_) => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
                },
                other => other.deserialize_any(visitor),
            }
        }
    )*};
}

impl<'de, 'a> de::Deserializer<'de> for In<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            In::Unknown | In::UnknownText => visitor.visit_str("${unknown}"),
            In::Value(v) => match v {
                Value::Null => visitor.visit_unit(),
                Value::Bool(b) => visitor.visit_bool(*b),
                Value::Int(i) => visitor.visit_i64(*i),
                Value::Num(n) => visitor.visit_f64(*n),
                Value::Str(s) => visitor.visit_str(s),
                Value::Array(items) => visitor.visit_seq(Seq(items.iter())),
                Value::Object(entries) => visitor.visit_map(Map {
                    entries: entries.iter(),
                    value: None,
                }),
                Value::Ref(_) => In::Unknown.deserialize_any(visitor),
                Value::Concat(_) => In::UnknownText.deserialize_any(visitor),
            },
        }
    }

    integer!(
        deserialize_i8 => visit_i8, deserialize_i16 => visit_i16, deserialize_i32 => visit_i32,
        deserialize_i64 => visit_i64, deserialize_u8 => visit_u8, deserialize_u16 => visit_u16,
        deserialize_u32 => visit_u32, deserialize_u64 => visit_u64
    );

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            In::Unknown | In::UnknownText => visitor.visit_f64(0.0),
            In::Value(Value::Str(s)) => match s.trim().parse::<f64>() {
                Ok(n) => visitor.visit_f64(n),
                Err(_) => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
            },
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            In::Unknown => visitor.visit_bool(false),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            In::Value(Value::Null) => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            // null is an absent list, as the providers read it.
            In::Unknown | In::Value(Value::Null) => visitor.visit_seq(Seq([].iter())),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            In::Unknown | In::Value(Value::Null) => visitor.visit_map(Map {
                entries: [].iter(),
                value: None,
            }),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            // A whole object known only later: every field of it unknown.
            In::Unknown => visitor.visit_map(UnknownFields(fields.iter())),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            In::Value(Value::Str(s)) => visitor.visit_enum(s.as_str().into_deserializer()),
            // Unknown: any variant; the first stands for it.
            In::Unknown | In::UnknownText => match variants.first() {
                Some(v) => visitor.visit_enum((*v).into_deserializer()),
                None => Err(de::Error::custom("no variants")),
            },
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char bytes byte_buf unit_struct newtype_struct identifier
    }
}

struct Seq<'a>(std::slice::Iter<'a, Value>);

impl<'de, 'a> SeqAccess<'de> for Seq<'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        match self.0.next() {
            Some(v) => seed.deserialize(In::of(v)).map(Some),
            None => Ok(None),
        }
    }
}

struct Map<'a> {
    entries: std::slice::Iter<'a, (String, Value)>,
    value: Option<&'a Value>,
}

impl<'de, 'a> MapAccess<'de> for Map<'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Error> {
        let v = self.value.take().expect("a value follows its key");
        seed.deserialize(In::of(v))
    }
}

struct UnknownFields(std::slice::Iter<'static, &'static str>);

impl<'de> MapAccess<'de> for UnknownFields {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.0.next() {
            Some(k) => seed.deserialize((*k).into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(In::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::value::Ref;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Rule {
        protocol: Protocol,
        from_port: u16,
        cidr: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Protocol {
        Tcp,
        Udp,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Group {
        name: String,
        vpc_id: String,
        #[serde(default)]
        ingress: Vec<Rule>,
        #[serde(default)]
        tags: std::collections::BTreeMap<String, String>,
        weight: Option<f64>,
        public: Option<bool>,
    }

    fn reference() -> Value {
        Value::Ref(Ref {
            resource: "n.vpc".into(),
            attribute: "id".into(),
        })
    }

    fn group(extra: Vec<(&str, Value)>) -> Value {
        let mut entries = vec![
            ("name".to_string(), Value::Str("db".into())),
            ("vpc_id".to_string(), reference()),
        ];
        entries.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
        Value::Object(entries)
    }

    #[test]
    fn references_stand_for_any_value_of_the_right_place() {
        let rule = Value::Object(vec![
            ("protocol".into(), Value::Str("tcp".into())),
            ("from_port".into(), reference()),
            (
                "cidr".into(),
                Value::Concat(vec![reference(), Value::Str("/16".into())]),
            ),
        ]);
        let g: Group = decode(&group(vec![
            ("ingress", Value::Array(vec![rule])),
            ("weight", reference()),
            ("public", reference()),
        ]))
        .unwrap();
        assert_eq!(g.name, "db");
        assert_eq!(g.ingress[0].protocol, Protocol::Tcp);
        // A whole list, or a whole struct, known only later.
        assert!(decode::<Group>(&group(vec![("ingress", reference())])).is_ok());
        assert!(decode::<Rule>(&reference()).is_ok());
    }

    #[test]
    fn a_misspelt_property_is_named_with_the_valid_ones() {
        let e = decode::<Group>(&group(vec![("ingres", Value::Array(vec![]))])).unwrap_err();
        assert_eq!(e.path, "ingres");
        assert!(
            e.message.starts_with("unknown field `ingres`, expected one of"),
            "{}",
            e.message
        );
        assert!(e.message.contains("`ingress`"), "{}", e.message);
    }

    #[test]
    fn wrong_types_and_values_name_their_path() {
        let bad_port = Value::Object(vec![
            ("protocol".into(), Value::Str("tcp".into())),
            ("from_port".into(), Value::Str("http".into())),
        ]);
        let e = decode::<Group>(&group(vec![("ingress", Value::Array(vec![bad_port]))])).unwrap_err();
        assert_eq!(e.path, "ingress[0].from_port");
        assert!(e.message.contains("invalid type: string \"http\""), "{}", e.message);

        let bad_protocol = Value::Object(vec![
            ("protocol".into(), Value::Str("icmpv7".into())),
            ("from_port".into(), Value::Int(80)),
        ]);
        let e = decode::<Group>(&group(vec![("ingress", Value::Array(vec![bad_protocol]))])).unwrap_err();
        assert_eq!(e.path, "ingress[0].protocol");
        assert!(e.message.contains("unknown variant `icmpv7`"), "{}", e.message);

        let e = decode::<Group>(&group(vec![("public", Value::Str("yes".into()))])).unwrap_err();
        assert_eq!(e.path, "public");

        let e = decode::<Group>(&group(vec![("tags", Value::Object(vec![("a".into(), Value::Int(1))]))])).unwrap_err();
        assert_eq!(e.path, "tags.a");
    }

    #[test]
    fn a_missing_property_is_named() {
        let e = decode::<Group>(&Value::Object(vec![("name".into(), Value::Str("x".into()))])).unwrap_err();
        assert_eq!(e.to_string(), "missing field `vpc_id`");
        let e = decode::<Group>(&Value::Str("x".into())).unwrap_err();
        assert!(e.message.contains("invalid type: string \"x\""), "{}", e.message);
    }

    #[test]
    fn control_characters_from_plugins_are_escaped() {
        assert_eq!(printable("plain `text`"), "plain `text`");
        assert_eq!(printable("a\u{1b}[2Jb\nc"), "a\\u{1b}[2Jb\\nc");
    }

    #[test]
    fn numbers_sent_as_text_are_numbers_and_resolved_json_reads_the_same() {
        let rule: Rule = decode_json(&json!({ "protocol": "udp", "from_port": "53" })).unwrap();
        assert_eq!(rule.from_port, 53);
        assert!(decode_json::<Rule>(&json!({ "protocol": "udp", "from_port": 70000 })).is_err());
    }
}
