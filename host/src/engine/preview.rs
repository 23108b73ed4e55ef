//! What `up` would do, computed from the plan and the state without calling AWS.

use std::collections::HashSet;

use crate::engine::decide::{Decision, decide};
use crate::engine::resolve;
use crate::plan::Plan;
use crate::providers::Aws;
use crate::state::{State, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    /// An earlier run was interrupted during this resource's call.
    Resume,
    Update,
    /// Its properties depend on values only known once other changes are made.
    MaybeUpdate,
    Replace,
    Delete,
}

impl Action {
    pub fn sign(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Resume => "!",
            Action::Update | Action::MaybeUpdate => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Resume => "resume interrupted change",
            Action::Update => "update in place",
            Action::MaybeUpdate => "update if its inputs change",
            Action::Replace => "replace",
            Action::Delete => "delete",
        }
    }
}

#[derive(Debug, Default)]
pub struct Preview {
    pub changes: Vec<(String, String, Action)>,
    pub unchanged: usize,
}

impl Preview {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|(_, _, a)| *a == action).count()
    }

    /// The resources this change creates (new, or replacing another): what
    /// preflight asks AWS about.
    pub fn creating(&self) -> std::collections::BTreeSet<String> {
        self.changes
            .iter()
            .filter(|(_, _, a)| matches!(a, Action::Create | Action::Replace))
            .map(|(id, _, _)| id.clone())
            .collect()
    }
}

/// What `up` would do, with the providers' in-place rules.
pub fn preview(plan: &Plan, state: &State) -> Preview {
    preview_with(plan, state, Aws::updates_in_place)
}

/// [`preview`] with a given in-place rule (the engine's tests use a fake's).
pub fn preview_with(
    plan: &Plan,
    state: &State,
    in_place: impl Fn(&str, &serde_json::Value, &serde_json::Value) -> bool,
) -> Preview {
    let mut p = Preview::default();
    for r in &plan.resources {
        let action = match state.resources.get(&r.id) {
            None => Some(Action::Create),
            // A move to another region or type replaces, whatever the properties.
            Some(e) if e.status == Status::Created && (e.kind != r.kind || e.region != r.region) => {
                Some(Action::Replace)
            }
            Some(e) if !resolve::resolvable(&r.properties, state) => (e.status == Status::Created)
                .then_some(Action::MaybeUpdate)
                .or(Some(Action::Resume)),
            Some(e) => match resolve::resolve(&r.properties, state) {
                Err(_) => Some(Action::MaybeUpdate),
                Ok(props) => match decide(r, &props, Some(e), &in_place) {
                    Decision::Unchanged => None,
                    _ if e.status != Status::Created => Some(Action::Resume),
                    Decision::Create => Some(Action::Create),
                    Decision::Update => Some(Action::Update),
                    Decision::Resume => Some(Action::Resume),
                    Decision::Replace => Some(Action::Replace),
                },
            },
        };
        match action {
            Some(a) => p.changes.push((r.id.clone(), r.kind.clone(), a)),
            None => p.unchanged += 1,
        }
    }
    let planned: HashSet<&str> = plan.resources.iter().map(|r| r.id.as_str()).collect();
    for (id, e) in &state.resources {
        if !planned.contains(id.as_str()) {
            p.changes.push((id.clone(), e.kind.clone(), Action::Delete));
        }
    }
    p
}
