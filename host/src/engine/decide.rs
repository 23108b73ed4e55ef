//! The one decision per planned resource, made the same way for `plan`'s
//! preview and for `up`: what to do given what the state records.

use serde_json::Value as Json;

use crate::plan::PlannedResource;
use crate::state::{ResourceState, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not in the state: create it.
    Create,
    /// Created with these very properties: nothing to do.
    Unchanged,
    /// Change it in place (or finish an interrupted in-place change).
    Update,
    /// A create was interrupted: look for what it left, adopt or create.
    Resume,
    /// Replace it: the new one first where AWS allows both at once (see
    /// [`order`]), else delete (or finish an interrupted delete), then create.
    Replace,
}

/// Decide for `r` with resolved properties `props`, given its state entry;
/// `in_place(kind, old, new)` is the provider's rule.
pub fn decide(
    r: &PlannedResource,
    props: &Json,
    entry: Option<&ResourceState>,
    in_place: impl Fn(&str, &Json, &Json) -> bool,
) -> Decision {
    let Some(e) = entry else { return Decision::Create };
    let same_place = e.kind == r.kind && e.region == r.region;
    match e.status {
        Status::Created if same_place && e.properties == *props => Decision::Unchanged,
        Status::Created | Status::Updating if same_place && in_place(&r.kind, &e.properties, props) => Decision::Update,
        Status::Creating if same_place => Decision::Resume,
        _ => Decision::Replace,
    }
}

/// How a replacement goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// Create the new resource, let dependents move to it, and delete the
    /// old one at the end of the run: no moment without one.
    CreateFirst,
    /// Delete the old resource, then create the new one. `kept`: the
    /// properties AWS requires unique that the new one keeps (so both cannot
    /// exist at once); empty when the old one was caught half made or half
    /// deleted by an earlier run, which this one finishes first.
    DeleteFirst { kept: Vec<&'static str> },
}

/// The order of a replacement of `entry` by `r` with properties `new`;
/// `unique`: the type's properties AWS requires unique (see
/// `ResourceType::UNIQUE`).
pub fn order(unique: &'static [&'static str], r: &PlannedResource, new: &Json, entry: &ResourceState) -> Order {
    if !matches!(entry.status, Status::Created | Status::Updating) {
        return Order::DeleteFirst { kept: Vec::new() };
    }
    // Another region does not free a name: some are global (buckets, IAM),
    // so a move keeps to the same rule.
    if entry.kind != r.kind || unique.is_empty() {
        return Order::CreateFirst;
    }
    let same = |k: &str| entry.properties.get(k).unwrap_or(&Json::Null) == new.get(k).unwrap_or(&Json::Null);
    if unique.iter().all(|k| same(k)) {
        Order::DeleteFirst { kept: unique.to_vec() }
    } else {
        Order::CreateFirst
    }
}
