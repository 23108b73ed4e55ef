//! What `up` would do, computed from the plan and the state without calling AWS.

use std::collections::HashSet;

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

pub fn preview(plan: &Plan, state: &State) -> Preview {
    let mut p = Preview::default();
    for r in &plan.resources {
        let action = match state.resources.get(&r.id) {
            None => Some(Action::Create),
            Some(e) if e.status != Status::Created => Some(Action::Resume),
            Some(e) if e.kind != r.kind || e.region != r.region => Some(Action::Replace),
            Some(e) if !resolve::resolvable(&r.properties, state) => {
                let _ = e;
                Some(Action::MaybeUpdate)
            }
            Some(e) => match resolve::resolve(&r.properties, state) {
                Ok(props) if props == e.properties => None,
                Ok(props) if Aws::updates_in_place(&r.kind, &e.properties, &props) => Some(Action::Update),
                Ok(_) => Some(Action::Replace),
                Err(_) => Some(Action::MaybeUpdate),
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
