//! Resolving references in planned values from the outputs in the state.

use serde_json::Value as Json;

use crate::state::{State, Status};
use crate::value::{Ref, Value};

/// A reference that has no value yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("`{resource}` is not created yet, so `${{{resource}.{attribute}}}` has no value")]
    NotCreated { resource: String, attribute: String },
    #[error("`{resource}` ({kind}) has no output `{attribute}`; it has: {}", known.join(", "))]
    NoOutput {
        resource: String,
        kind: String,
        attribute: String,
        known: Vec<String>,
    },
}

/// `value` with every reference replaced by the referenced output.
pub fn resolve(value: &Value, state: &State) -> Result<Json, ResolveError> {
    resolve_with(value, &|r| output(r, state))
}

/// The output a reference names, from the state.
pub fn output(r: &Ref, state: &State) -> Result<Json, ResolveError> {
    let Some(entry) = state.resources.get(&r.resource).filter(|e| e.status == Status::Created) else {
        return Err(ResolveError::NotCreated {
            resource: r.resource.clone(),
            attribute: r.attribute.clone(),
        });
    };
    match entry.outputs.get(&r.attribute) {
        Some(v) => Ok(v.clone()),
        None => Err(ResolveError::NoOutput {
            resource: r.resource.clone(),
            kind: entry.kind.clone(),
            attribute: r.attribute.clone(),
            known: entry.outputs.keys().cloned().collect(),
        }),
    }
}

/// `value` with every reference replaced by what `lookup` gives for it.
pub fn resolve_with(value: &Value, lookup: &dyn Fn(&Ref) -> Result<Json, ResolveError>) -> Result<Json, ResolveError> {
    Ok(match value {
        Value::Ref(r) => lookup(r)?,
        Value::Concat(parts) => {
            let mut s = String::new();
            for p in parts {
                match resolve_with(p, lookup)? {
                    Json::String(t) => s.push_str(&t),
                    Json::Null => {}
                    other => s.push_str(&other.to_string()),
                }
            }
            Json::String(s)
        }
        Value::Array(items) => Json::Array(
            items
                .iter()
                .map(|v| resolve_with(v, lookup))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| Ok((k.clone(), resolve_with(v, lookup)?)))
                .collect::<Result<_, ResolveError>>()?,
        ),
        other => other.to_json(),
    })
}

/// Whether every reference in `value` can be resolved from `state` now.
pub fn resolvable(value: &Value, state: &State) -> bool {
    value.refs().iter().all(|r| {
        state
            .resources
            .get(&r.resource)
            .is_some_and(|e| e.status == Status::Created && e.outputs.contains_key(&r.attribute))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ResourceState;

    #[test]
    fn references_and_concatenations_resolve() {
        let mut state = State::new("b", "e");
        state.resources.insert(
            "n.alb".into(),
            ResourceState {
                kind: "aws.elbv2.load-balancer".into(),
                region: "us-east-1".into(),
                status: Status::Created,
                properties: Json::Null,
                outputs: serde_json::json!({ "dns_name": "x.elb", "port": 80 })
                    .as_object()
                    .unwrap()
                    .clone(),
                depends_on: vec![],
                created_by: String::new(),
                token: String::new(),
            },
        );
        let r = |a: &str| {
            Value::Ref(Ref {
                resource: "n.alb".into(),
                attribute: a.into(),
            })
        };
        let v = Value::Object(vec![
            (
                "url".into(),
                Value::Concat(vec![
                    Value::Str("http://".into()),
                    r("dns_name"),
                    Value::Str(":".into()),
                    r("port"),
                ]),
            ),
            ("list".into(), Value::Array(vec![r("port")])),
        ]);
        assert_eq!(
            resolve(&v, &state).unwrap(),
            serde_json::json!({ "url": "http://x.elb:80", "list": [80] })
        );
        assert!(resolvable(&v, &state));
        let err = resolve(&r("arn"), &state).unwrap_err().to_string();
        assert_eq!(
            err,
            "`n.alb` (aws.elbv2.load-balancer) has no output `arn`; it has: dns_name, port"
        );
        let missing = Value::Ref(Ref {
            resource: "n.vpc".into(),
            attribute: "id".into(),
        });
        assert!(!resolvable(&missing, &state));
    }
}
