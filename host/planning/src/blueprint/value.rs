//! TOML values that remember where they were written.

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

/// A TOML value with its byte span in the blueprint.
#[derive(Debug, Clone, PartialEq)]
pub struct SValue {
    pub span: Range<usize>,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<SValue>),
    /// Keys with their spans, in source order.
    Table(Vec<(String, Range<usize>, SValue)>),
}

impl SValue {
    pub fn from_toml(value: &Spanned<DeValue<'_>>) -> Result<SValue, (Range<usize>, String)> {
        let span = value.span();
        let kind = match value.get_ref() {
            DeValue::String(s) => Kind::Str(s.to_string()),
            DeValue::Integer(i) => match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
                Ok(n) => Kind::Int(n),
                Err(_) => {
                    return Err((span, format!("integer {} does not fit in 64 bits", i.as_str())));
                }
            },
            DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>() {
                Ok(n) => Kind::Float(n),
                Err(_) => return Err((span, format!("`{}` is not a finite number", f.as_str()))),
            },
            DeValue::Boolean(b) => Kind::Bool(*b),
            DeValue::Datetime(d) => Kind::Str(d.to_string()),
            DeValue::Array(items) => Kind::Array(items.iter().map(SValue::from_toml).collect::<Result<_, _>>()?),
            DeValue::Table(table) => Kind::Table(
                table
                    .iter()
                    .map(|(k, v)| Ok((k.get_ref().to_string(), k.span(), SValue::from_toml(v)?)))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(SValue { span, kind })
    }

    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Str(_) => "a string",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }

    pub fn as_table(&self) -> Option<&[(String, Range<usize>, SValue)]> {
        match &self.kind {
            Kind::Table(t) => Some(t),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&SValue> {
        self.as_table()?.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v)
    }

    /// Deep-merge `over` into `self`: tables merge key by key, anything else
    /// is replaced. Merged values keep the span of where they were written.
    pub fn merge(&mut self, over: &SValue) {
        match (&mut self.kind, &over.kind) {
            (Kind::Table(base), Kind::Table(top)) => {
                for (key, key_span, value) in top {
                    match base.iter_mut().find(|(k, _, _)| k == key) {
                        Some((_, _, existing)) => existing.merge(value),
                        None => base.push((key.clone(), key_span.clone(), value.clone())),
                    }
                }
            }
            _ => *self = over.clone(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match &self.kind {
            Kind::Bool(b) => (*b).into(),
            Kind::Int(i) => (*i).into(),
            Kind::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
            Kind::Str(s) => s.clone().into(),
            Kind::Array(items) => items.iter().map(SValue::to_json).collect(),
            Kind::Table(t) => t
                .iter()
                .map(|(k, _, v)| (k.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    /// The span of the value at a JSON pointer (`/autoscaling/max`), or of the
    /// deepest value on the way when the path does not exist (a missing key
    /// is reported at the table that lacks it).
    pub fn span_at(&self, pointer: &str) -> Range<usize> {
        let mut here = self;
        for token in pointer.split('/').skip(1) {
            let token = token.replace("~1", "/").replace("~0", "~");
            let next = match &here.kind {
                Kind::Table(t) => t.iter().find(|(k, _, _)| *k == token).map(|(_, _, v)| v),
                Kind::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(v) => here = v,
                None => break,
            }
        }
        here.span.clone()
    }
}
