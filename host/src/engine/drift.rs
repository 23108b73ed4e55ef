//! Drift: what changed in AWS behind the state's back, and folding it into
//! the state so that `up` repairs it.

use std::sync::Arc;

use serde_json::Value as Json;
use tokio::task::JoinSet;

use super::provider::Provider;
use crate::providers::read::{Live, differences};
use crate::state::{State, Status};

#[derive(Debug, Clone, PartialEq)]
pub enum Drift {
    /// Deleted outside the platform.
    Gone,
    /// Properties changed outside the platform: (key, recorded, live).
    Changed(Vec<(String, Json, Json)>),
    /// It could not be read.
    Unreadable(String),
}

/// Read every created resource of the state back from AWS, `parallelism` at
/// a time; returns the drifted ones, sorted by id.
pub async fn detect(provider: Arc<dyn Provider>, state: &State, parallelism: usize) -> Vec<(String, Drift)> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(parallelism.max(1)));
    let mut tasks = JoinSet::new();
    for (id, entry) in state.resources.iter().filter(|(_, e)| e.status == Status::Created) {
        let (provider, semaphore) = (provider.clone(), semaphore.clone());
        let (id, entry) = (id.clone(), entry.clone());
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await.expect("semaphore open");
            let outputs = Json::Object(entry.outputs.clone());
            let drift = match provider.read(&entry.kind, &entry.region, &outputs).await {
                Ok(Live::Gone) => Some(Drift::Gone),
                Ok(Live::Exists(live)) => {
                    let diff = differences(&entry.properties, &live);
                    (!diff.is_empty()).then_some(Drift::Changed(diff))
                }
                Ok(Live::Unknown) => None,
                Err(e) => Some(Drift::Unreadable(e.to_string())),
            };
            drift.map(|d| (id, d))
        });
    }
    let mut found = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(Some(d)) = joined {
            found.push(d);
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Fold drift into the state: a resource gone is forgotten (so `up`
/// recreates it), a changed property takes its live value (so `up` sets it
/// back).
pub fn apply(state: &mut State, drift: &[(String, Drift)]) {
    for (id, d) in drift {
        match d {
            Drift::Gone => {
                state.resources.remove(id);
            }
            Drift::Changed(diff) => {
                if let Some(entry) = state.resources.get_mut(id)
                    && let Some(props) = entry.properties.as_object_mut()
                {
                    for (key, _, live) in diff {
                        props.insert(key.clone(), live.clone());
                    }
                }
            }
            Drift::Unreadable(_) => {}
        }
    }
}

/// One line per drifted resource, for people.
pub fn describe(id: &str, d: &Drift) -> String {
    match d {
        // The old copy a create-first replacement keeps until the end of a
        // run: `up` was going to delete it, not make it again.
        Drift::Gone if crate::state::is_deposed(id) => {
            format!("{id}: the old resource of a replacement is already gone; up forgets it")
        }
        Drift::Gone => format!("{id}: deleted outside platform; up will create it again"),
        Drift::Changed(diff) => {
            let parts: Vec<String> = diff
                .iter()
                .map(|(k, r, l)| format!("{k} is {l} in AWS, {r} in the state"))
                .collect();
            format!("{id}: {}; up will set it back", parts.join(", "))
        }
        Drift::Unreadable(e) => format!("{id}: could not be read: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gone_old_copy_is_forgotten_not_created_again() {
        assert_eq!(
            describe("net.vpc", &Drift::Gone),
            "net.vpc: deleted outside platform; up will create it again"
        );
        assert_eq!(
            describe("net.vpc~old", &Drift::Gone),
            "net.vpc~old: the old resource of a replacement is already gone; up forgets it"
        );
    }
}
