//! Typed access to resolved resource properties, with errors that name the
//! resource type and property.

use serde_json::Value as Json;

use super::ProviderError;

#[derive(Clone, Copy)]
pub struct Props<'a> {
    value: &'a Json,
    kind: &'a str,
}

impl<'a> Props<'a> {
    pub fn new(value: &'a Json, kind: &'a str) -> Props<'a> {
        Props { value, kind }
    }

    fn err(&self, key: &str, expected: &str) -> ProviderError {
        ProviderError::property(
            self.kind,
            format!("property `{key}` of a {} must be {expected}", self.kind),
        )
    }

    pub fn get(&self, key: &str) -> Option<&'a Json> {
        self.value.get(key).filter(|v| !v.is_null())
    }

    pub fn raw(&self) -> &'a Json {
        self.value
    }

    /// The properties as the type's property struct. The engine checked
    /// them against it before the call, so an error here is a bug.
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Result<T, ProviderError> {
        platform_planning::properties::decode_json(self.value)
            .map_err(|e| ProviderError::property(self.kind, format!("a {}: {e}", self.kind)))
    }

    pub fn str(&self, key: &str) -> Result<&'a str, ProviderError> {
        self.get(key)
            .and_then(Json::as_str)
            .ok_or_else(|| self.err(key, "a string"))
    }

    pub fn opt_str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(Json::as_str)
    }

    pub fn i64(&self, key: &str) -> Result<i64, ProviderError> {
        self.opt_i64(key).ok_or_else(|| self.err(key, "an integer"))
    }

    pub fn opt_i64(&self, key: &str) -> Option<i64> {
        let v = self.get(key)?;
        v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    }

    pub fn i32(&self, key: &str) -> Result<i32, ProviderError> {
        i32::try_from(self.i64(key)?).map_err(|_| self.err(key, "a 32-bit integer"))
    }

    pub fn opt_i32(&self, key: &str) -> Option<i32> {
        self.opt_i64(key).and_then(|v| i32::try_from(v).ok())
    }

    pub fn f64(&self, key: &str) -> Result<f64, ProviderError> {
        // Numbers may come as text, as the plan-time check accepts them.
        self.get(key)
            .and_then(|v| v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())))
            .ok_or_else(|| self.err(key, "a number"))
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Json::as_bool)
    }

    /// A list of strings (absent: empty).
    pub fn strs(&self, key: &str) -> Result<Vec<String>, ProviderError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Json::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.err(key, "a list of strings"))
                })
                .collect(),
            Some(_) => Err(self.err(key, "a list of strings")),
        }
    }

    /// A nested object.
    pub fn obj(&self, key: &str) -> Option<Props<'a>> {
        self.get(key).filter(|v| v.is_object()).map(|v| Props {
            value: v,
            kind: self.kind,
        })
    }

    /// A list of objects (absent: empty).
    pub fn objs(&self, key: &str) -> Vec<Props<'a>> {
        self.get(key)
            .and_then(Json::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|v| Props {
                        value: v,
                        kind: self.kind,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The request's tags (blueprint, environment and `platform:*`) as an AWS
/// SDK's tag type, the one way every provider converts them:
/// `sdk_tags!(r, aws_sdk_ecs::types::Tag)` for SDKs whose tag builder cannot
/// fail; `sdk_tags!(r, aws_sdk_iam::types::Tag, "iam:CreateRole")` for those
/// whose builder checks required fields, a failure failing the call (a tag
/// is never dropped silently: `down` and the tagging API rely on them).
#[macro_export]
macro_rules! sdk_tags {
    ($r:expr, $tag:ty) => {
        $r.tags
            .iter()
            .map(|(k, v)| <$tag>::builder().key(k).value(v).build())
            .collect::<Vec<$tag>>()
    };
    ($r:expr, $tag:ty, $op:expr) => {
        $r.tags
            .iter()
            .map(|(k, v)| {
                <$tag>::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| $crate::ProviderError::new($op, format!("tag `{k}`: {e}")))
            })
            .collect::<Result<Vec<$tag>, $crate::ProviderError>>()
    };
}

/// Build an outputs map: `outputs!{"id" => vpc_id, "arn" => arn}`.
#[macro_export]
macro_rules! outputs {
    ($($key:literal => $value:expr),* $(,)?) => {{
        let mut map = serde_json::Map::new();
        $( map.insert($key.to_string(), serde_json::Value::from($value)); )*
        map
    }};
}
