//! Reading live resources back, for drift: does it still exist, and what are
//! the values of the properties that people change outside a deployment
//! (desired counts, retention, database settings, alarm thresholds).

use serde_json::{Map, Value as Json};

use super::{Aws, ProviderError};

/// What AWS says about a resource the state records.
#[derive(Debug, Clone, PartialEq)]
pub enum Live {
    /// It no longer exists.
    Gone,
    /// It exists; these properties were read back (a subset).
    Exists(Map<String, Json>),
    /// This type is not read back; nothing is known.
    Unknown,
}

pub(crate) fn observed(pairs: Vec<(&str, Json)>) -> Live {
    Live::Exists(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Read a resource back through its type (see [`super::registry::ResourceType::read`]);
/// a type that does not read drift, or an unknown type: [`Live::Unknown`].
pub async fn read(aws: &Aws, kind: &str, region: &str, outputs: &Json) -> Result<Live, ProviderError> {
    match super::registry::registry().get(kind) {
        Some(k) => k.read(aws, region, outputs).await,
        None => Ok(Live::Unknown),
    }
}

/// Properties whose live value differs from the recorded one: (key, recorded, live).
pub fn differences(recorded: &Json, live: &Map<String, Json>) -> Vec<(String, Json, Json)> {
    let same = |a: &Json, b: &Json| match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    };
    // A property the plan does not set is AWS's to choose (a replica takes
    // its backup retention from its source): never drift.
    live.iter()
        .filter_map(|(k, v)| {
            let r = recorded.get(k)?.clone();
            (!same(&r, v)).then(|| (k.clone(), r, v.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_the_plan_leaves_to_aws_are_not_drift() {
        let recorded = serde_json::json!({ "identifier": "r", "instance_class": "db.t4g.micro" });
        let live: Map<String, Json> =
            serde_json::json!({ "instance_class": "db.t4g.micro", "backup_retention_period": 7 })
                .as_object()
                .unwrap()
                .clone();
        assert_eq!(differences(&recorded, &live), Vec::new());
    }

    #[test]
    fn numbers_compare_by_value() {
        let recorded = serde_json::json!({ "threshold": 10, "desired_count": 2, "cidr_block": "10.0.0.0/16" });
        let live: Map<String, Json> = serde_json::json!({ "threshold": 10.0, "desired_count": 5 })
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            differences(&recorded, &live),
            vec![("desired_count".to_string(), Json::from(2), Json::from(5))]
        );
    }
}
