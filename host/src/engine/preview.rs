//! What `up` would do, computed from the plan and the state without calling AWS.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value as Json;

use crate::engine::decide::{Decision, Order, decide, order};
use crate::engine::resolve;
use crate::plan::{Plan, PlannedResource};
use crate::properties::printable;
use crate::providers::Aws;
use crate::state::{RolloutStatus, State, Status, is_deposed};
use crate::value::Ref;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    /// An earlier run was interrupted during this resource's call.
    Resume,
    Update,
    /// Its properties depend on values only known once other changes are made.
    MaybeUpdate,
    /// The new resource is created first; the old one is deleted at the end.
    Replace,
    /// The old resource is deleted first (AWS allows one at a time).
    ReplaceDeleteFirst,
    Delete,
}

impl Action {
    pub fn sign(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Resume => "!",
            Action::Update | Action::MaybeUpdate => "~",
            Action::Replace => "+/-",
            Action::ReplaceDeleteFirst => "-/+",
            Action::Delete => "-",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Resume => "resume interrupted change",
            Action::Update => "update in place",
            Action::MaybeUpdate => "update if its inputs change",
            Action::Replace => "replace: create the new one, then delete the old",
            Action::ReplaceDeleteFirst => "replace: delete the old one first",
            Action::Delete => "delete",
        }
    }
}

#[derive(Debug, Default)]
pub struct Preview {
    pub changes: Vec<(String, String, Action)>,
    pub unchanged: usize,
    /// Why a replacement deletes first, by resource id.
    pub notes: BTreeMap<String, String>,
    /// Replacements `up` refuses to make, each with its reason: deleting
    /// the old resource first would pull it from under resources that stay.
    pub refused: Vec<String>,
}

impl Preview {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|(_, _, a)| *a == action).count()
    }

    /// The changes, a line each (with a replacement's reason for deleting first).
    pub fn lines(&self) -> Vec<String> {
        self.changes
            .iter()
            .map(|(id, kind, action)| {
                let mut line = format!("{:>3} {id}  {kind}  ({})", action.sign(), action.word());
                if let Some(note) = self.notes.get(id) {
                    line.push_str(&format!(": {note}"));
                }
                line
            })
            .collect()
    }

    /// Replacements, in either order.
    pub fn replacements(&self) -> usize {
        self.count(Action::Replace) + self.count(Action::ReplaceDeleteFirst)
    }

    /// The resources this change creates (new, or replacing another): what
    /// preflight asks AWS about.
    pub fn creating(&self) -> std::collections::BTreeSet<String> {
        self.changes
            .iter()
            .filter(|(_, _, a)| matches!(a, Action::Create | Action::Replace | Action::ReplaceDeleteFirst))
            .map(|(id, _, _)| id.clone())
            .collect()
    }
}

/// What `up` would do, with the providers' in-place rules and unique properties.
pub fn preview(plan: &Plan, state: &State) -> Preview {
    preview_with(plan, state, Aws::updates_in_place, Aws::unique)
}

/// What a reference to a resource that this change creates or replaces
/// stands for in the preview: a value no state holds.
const UNKNOWN: &str = "(known after apply)";

/// [`preview`] with given rules (the engine's tests use a fake's).
///
/// Resources are decided in dependency order, so a reference to one that
/// is created or replaced counts as a new value (a subnet whose VPC is
/// replaced is replaced too, not shown unchanged), and one to a resource
/// changed in place as a value that may change.
pub fn preview_with(
    plan: &Plan,
    state: &State,
    in_place: impl Fn(&str, &Json, &Json) -> bool,
    unique: impl Fn(&str) -> &'static [&'static str],
) -> Preview {
    let by_id: HashMap<&str, &PlannedResource> = plan.resources.iter().map(|r| (r.id.as_str(), r)).collect();
    // Resources whose outputs will be new (created, replaced) or may change.
    let mut new: HashSet<&str> = HashSet::new();
    let mut maybe: HashSet<&str> = HashSet::new();
    let mut actions: HashMap<&str, Option<Action>> = HashMap::new();
    let mut p = Preview::default();
    let ordered = plan
        .waves
        .iter()
        .flatten()
        .filter_map(|id| by_id.get(id.as_str()).copied());
    for r in ordered {
        let refs = r.properties.refs();
        let touches = |set: &HashSet<&str>| refs.iter().any(|x| set.contains(x.resource.as_str()));
        let action = match state.resources.get(&r.id) {
            None => Some(Action::Create),
            // A change of type replaces, whatever the properties.
            Some(e) if e.status == Status::Created && e.kind != r.kind => Some(Action::Replace),
            Some(e) => {
                let lookup = |x: &Ref| {
                    if new.contains(x.resource.as_str()) {
                        Ok(Json::String(UNKNOWN.into()))
                    } else {
                        resolve::output(x, state)
                    }
                };
                let mut replace = |props: &Json| match order(unique(&r.kind), r, props, e) {
                    Order::CreateFirst => Action::Replace,
                    Order::DeleteFirst { kept } => {
                        let changed = crate::providers::changed_keys(&e.properties, props);
                        p.notes.insert(r.id.clone(), delete_first_note(&kept, &changed, props));
                        Action::ReplaceDeleteFirst
                    }
                };
                match resolve::resolve_with(&r.properties, &lookup) {
                    // A move to another region replaces, whatever the
                    // properties; unknown yet, they count as kept.
                    Err(_) if e.status == Status::Created && e.region != r.region => Some(replace(&e.properties)),
                    Err(_) if e.status == Status::Created => Some(Action::MaybeUpdate),
                    Err(_) => Some(Action::Resume),
                    Ok(props) => match decide(r, &props, Some(e), &in_place) {
                        Decision::Unchanged if touches(&maybe) => Some(Action::MaybeUpdate),
                        Decision::Unchanged => None,
                        _ if e.status != Status::Created => Some(Action::Resume),
                        Decision::Create => Some(Action::Create),
                        Decision::Update => Some(Action::Update),
                        Decision::Resume => Some(Action::Resume),
                        Decision::Replace => Some(replace(&props)),
                    },
                }
            }
        };
        match action {
            Some(Action::Create | Action::Replace | Action::ReplaceDeleteFirst) => {
                new.insert(&r.id);
            }
            Some(Action::Update | Action::MaybeUpdate | Action::Resume) => {
                maybe.insert(&r.id);
            }
            _ => {}
        }
        actions.insert(&r.id, action);
    }
    for r in &plan.resources {
        match actions.get(r.id.as_str()).copied().flatten() {
            Some(a) => p.changes.push((r.id.clone(), r.kind.clone(), a)),
            None => p.unchanged += 1,
        }
    }
    // A replacement that deletes first while resources that stay use the
    // old one: AWS refuses the delete (a target group behind a listener) or
    // the dependents break until they move. Refused before anything changes.
    for (id, _, action) in &p.changes {
        if *action != Action::ReplaceDeleteFirst {
            continue;
        }
        let users: Vec<&str> = plan
            .resources
            .iter()
            .filter(|d| d.depends_on.contains(id))
            .filter(|d| state.resources.get(&d.id).is_some_and(|e| e.status == Status::Created))
            .map(|d| d.id.as_str())
            .collect();
        if !users.is_empty() {
            p.refused.push(format!(
                "{id}: {}, yet {} still use{} it. Give it a name that changes with what forces the replacement, or remove what uses it first",
                p.notes[id],
                users.join(", "),
                if users.len() == 1 { "s" } else { "" }
            ));
        }
    }
    let planned: HashSet<&str> = plan.resources.iter().map(|r| r.id.as_str()).collect();
    // A rollout waiting for approval that the plan still has pauses again
    // in this `up`, which then keeps the old resources of replacements (its
    // blue side may use them). Its record is keyed by its first step.
    let paused = state.rollouts.iter().any(|(first, r)| {
        r.status == RolloutStatus::AwaitingApproval && !r.approved && plan.steps.iter().any(|s| &s.id == first)
    });
    for (id, e) in &state.resources {
        if paused && is_deposed(id) {
            continue;
        }
        if !planned.contains(id.as_str()) {
            p.changes.push((id.clone(), e.kind.clone(), Action::Delete));
        }
    }
    p
}

/// Why a replacement deletes first: the unique properties the new resource keeps.
fn delete_first_note(kept: &[&str], changed: &[String], props: &Json) -> String {
    let kept: Vec<String> = kept
        .iter()
        .map(|k| match props.get(*k) {
            Some(Json::String(v)) => format!("`{k}` \"{}\"", printable(v)),
            Some(v) => format!("`{k}` {}", printable(&v.to_string())),
            None => format!("`{k}` (unset)"),
        })
        .collect();
    format!(
        "AWS allows one at a time with {} and the new one keeps {}, so the old one is deleted first (changed: {})",
        kept.join(", "),
        if kept.len() == 1 { "it" } else { "them" },
        changed.join(", ")
    )
}
