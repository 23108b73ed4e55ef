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
    /// Delete what exists (or finish an interrupted delete), then create.
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
