//! The registry of resource types: one [`ResourceType`] impl per type, in
//! the module of its AWS service, and one list ([`registry`]) that registers
//! them all. Everything else that needs to know the types (the plan-time
//! property check, `platform plugin kinds`, the docs list, `unsupported_in`,
//! the engine's calls, drift, the leftover sweep) asks the registry.
//!
//! Every method of [`ResourceType`] is required: a type that cannot read
//! drift or be swept says so in [`ResourceType::DRIFT`] or
//! [`ResourceType::SWEEP`] with the reason, and the plan shows it. A type
//! registered twice stops the host at start (a test registers the list).

use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::LazyLock;

use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use super::read::Live;
use super::{Aws, Clients, Outputs, Props, ProviderError, Request};
use crate::properties::{self, PropertyError};
use crate::value::Value;

/// Whether a type supports something, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Yes,
    No(&'static str),
}

/// How a resource that an interrupted run may have created is found again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adopt {
    /// By its name or its `platform:id` tag ([`ResourceType::find`]).
    Lookup,
    /// Creating it again is the lookup (a put, a registration, a
    /// subscription that AWS deduplicates): `find` returns `None`.
    CreateAgain,
}

/// One resource type. Implement it on a unit struct in the module of the
/// type's AWS service and add one line to [`registry`].
pub trait ResourceType: Send + Sync + 'static {
    /// `aws.ec2.vpc`
    const NAME: &'static str;
    /// One line for `platform plugin kinds`.
    const ABOUT: &'static str;
    /// The properties a plugin sets; unknown fields refused
    /// (`#[serde(deny_unknown_fields)]`). Its JSON Schema is the type's schema.
    type Props: DeserializeOwned + schemars::JsonSchema;
    const ADOPT: Adopt;
    /// Whether `read` reads the live resource back for drift.
    const DRIFT: Support;
    /// Whether `from_arn` recognises it among tagged leftovers.
    const SWEEP: Support;

    /// Whether the change from `old` to `new` properties (`changed`: the
    /// top-level keys that differ) is made in place; otherwise the resource
    /// is replaced.
    fn in_place(changed: &[String], old: &Json, new: &Json) -> bool;

    fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> impl Future<Output = Result<Outputs, ProviderError>> + Send;

    /// Find a resource an interrupted run may have created. `None`: it was
    /// never created (always `None` for [`Adopt::CreateAgain`]).
    fn find(
        aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
    ) -> impl Future<Output = Result<Option<Outputs>, ProviderError>> + Send;

    /// Make an in-place change ([`ResourceType::in_place`] said yes).
    fn update(
        aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        old: &Json,
        outputs: &Outputs,
    ) -> impl Future<Output = Result<Outputs, ProviderError>> + Send;

    /// Delete it; not found counts as deleted (the registry sees to that).
    fn delete(
        aws: &Aws,
        c: &Clients,
        outputs: &Props<'_>,
        props: &Props<'_>,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// Read it back: gone, or the live values of the properties people
    /// change outside a deployment. `key`: its id, ARN or name from the
    /// outputs. Not called when [`ResourceType::DRIFT`] is `No`.
    fn read(
        aws: &Aws,
        c: &Clients,
        key: &str,
        outputs: &Props<'_>,
    ) -> impl Future<Output = Result<Live, ProviderError>> + Send;

    /// The outputs `delete` needs, when `arn` names a resource of this type.
    fn from_arn(arn: &Arn<'_>) -> Option<Json>;
}

/// An ARN split into its parts: `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, Copy)]
pub struct Arn<'a> {
    pub full: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    pub fn parse(full: &'a str) -> Option<Arn<'a>> {
        let parts: Vec<&str> = full.splitn(6, ':').collect();
        (parts.len() == 6 && parts[0] == "arn").then(|| Arn {
            full,
            service: parts[2],
            region: parts[3],
            resource: parts[5],
        })
    }

    /// The resource part after `prefix` (`"vpc/"`), when it starts with it.
    pub fn after(&self, prefix: &str) -> Option<&'a str> {
        self.resource.strip_prefix(prefix)
    }
}

/// `update` of a type that never updates in place.
pub fn not_in_place(kind: &str) -> ProviderError {
    ProviderError::new("platform", format!("a {kind} is never updated in place"))
}

/// `in_place` helper: every changed key is one of `allowed`.
pub fn only(changed: &[String], allowed: &[&str]) -> bool {
    changed.iter().all(|k| allowed.contains(&k.as_str()))
}

pub type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T, ProviderError>> + Send + 'a>>;

/// A registered type, as the rest of the host sees it.
pub trait Kind: Send + Sync {
    fn name(&self) -> &'static str;
    fn about(&self) -> &'static str;
    fn adopt(&self) -> Adopt;
    fn drift(&self) -> Support;
    fn sweep(&self) -> Support;
    /// The JSON Schema of the properties.
    fn schema(&self) -> Json;
    /// Check planned properties (references stand for any value).
    fn check(&self, props: &Value) -> Result<(), PropertyError>;
    /// Check resolved properties before a call.
    fn check_json(&self, props: &Json) -> Result<(), PropertyError>;
    fn in_place(&self, old: &Json, new: &Json) -> bool;
    fn create<'a>(&'a self, aws: &'a Aws, r: &'a Request<'a>) -> Fut<'a, Outputs>;
    fn find<'a>(&'a self, aws: &'a Aws, r: &'a Request<'a>) -> Fut<'a, Option<Outputs>>;
    fn update<'a>(&'a self, aws: &'a Aws, r: &'a Request<'a>, old: &'a Json, outputs: &'a Outputs) -> Fut<'a, Outputs>;
    fn delete<'a>(&'a self, aws: &'a Aws, region: &'a str, outputs: &'a Json, props: &'a Json) -> Fut<'a, ()>;
    fn read<'a>(&'a self, aws: &'a Aws, region: &'a str, outputs: &'a Json) -> Fut<'a, Live>;
    fn from_arn(&self, arn: &Arn<'_>) -> Option<Json>;
}

struct Registered<T>(PhantomData<fn() -> T>);

impl<T: ResourceType> Kind for Registered<T> {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn about(&self) -> &'static str {
        T::ABOUT
    }

    fn adopt(&self) -> Adopt {
        T::ADOPT
    }

    fn drift(&self) -> Support {
        T::DRIFT
    }

    fn sweep(&self) -> Support {
        T::SWEEP
    }

    fn schema(&self) -> Json {
        let mut schema = schemars::schema_for!(T::Props).to_value();
        if let Json::Object(map) = &mut schema {
            map.insert("title".into(), T::NAME.into());
            map.insert("description".into(), T::ABOUT.into());
        }
        schema
    }

    fn check(&self, props: &Value) -> Result<(), PropertyError> {
        properties::decode::<T::Props>(props).map(drop)
    }

    fn check_json(&self, props: &Json) -> Result<(), PropertyError> {
        properties::decode_json::<T::Props>(props).map(drop)
    }

    fn in_place(&self, old: &Json, new: &Json) -> bool {
        T::in_place(&super::changed_keys(old, new), old, new)
    }

    fn create<'a>(&'a self, aws: &'a Aws, r: &'a Request<'a>) -> Fut<'a, Outputs> {
        Box::pin(async move {
            checked::<T>(r)?;
            T::create(aws, &aws.region(r.region), r).await
        })
    }

    fn find<'a>(&'a self, aws: &'a Aws, r: &'a Request<'a>) -> Fut<'a, Option<Outputs>> {
        Box::pin(async move {
            match T::ADOPT {
                Adopt::CreateAgain => Ok(None),
                Adopt::Lookup => T::find(aws, &aws.region(r.region), r).await,
            }
        })
    }

    fn update<'a>(&'a self, aws: &'a Aws, r: &'a Request<'a>, old: &'a Json, outputs: &'a Outputs) -> Fut<'a, Outputs> {
        Box::pin(async move {
            checked::<T>(r)?;
            T::update(aws, &aws.region(r.region), r, old, outputs).await
        })
    }

    fn delete<'a>(&'a self, aws: &'a Aws, region: &'a str, outputs: &'a Json, props: &'a Json) -> Fut<'a, ()> {
        Box::pin(async move {
            let (o, p) = (Props::new(outputs, T::NAME), Props::new(props, T::NAME));
            match T::delete(aws, &aws.region(region), &o, &p).await {
                Err(e) if e.is_not_found() => Ok(()),
                other => other,
            }
        })
    }

    fn read<'a>(&'a self, aws: &'a Aws, region: &'a str, outputs: &'a Json) -> Fut<'a, Live> {
        Box::pin(async move {
            let o = Props::new(outputs, T::NAME);
            let key = ["id", "arn", "name", "identifier", "allocation_id"]
                .iter()
                .find_map(|k| o.opt_str(k));
            match (T::DRIFT, key) {
                (Support::Yes, Some(key)) => match T::read(aws, &aws.region(region), key, &o).await {
                    Err(e) if e.is_not_found() => Ok(Live::Gone),
                    other => other,
                },
                _ => Ok(Live::Unknown),
            }
        })
    }

    fn from_arn(&self, arn: &Arn<'_>) -> Option<Json> {
        match T::SWEEP {
            Support::Yes => T::from_arn(arn),
            Support::No(_) => None,
        }
    }
}

/// The resolved properties fit the type (a reference that resolved to the
/// wrong kind of value is caught here, before the call).
fn checked<T: ResourceType>(r: &Request<'_>) -> Result<(), ProviderError> {
    properties::decode_json::<T::Props>(r.props.raw())
        .map(drop)
        .map_err(|e| ProviderError::property(T::NAME, format!("{} of {}: {e}", T::NAME, r.id)))
}

/// Every resource type, by name.
pub struct Registry {
    kinds: BTreeMap<&'static str, Box<dyn Kind>>,
}

impl Registry {
    fn new() -> Registry {
        Registry { kinds: BTreeMap::new() }
    }

    /// Register `T`; a name registered twice is a bug, caught when the
    /// registry is built (and so by every test).
    fn with<T: ResourceType>(mut self) -> Registry {
        let previous = self.kinds.insert(T::NAME, Box::new(Registered::<T>(PhantomData)));
        assert!(previous.is_none(), "resource type `{}` is registered twice", T::NAME);
        self
    }

    pub fn get(&self, name: &str) -> Option<&dyn Kind> {
        self.kinds.get(name).map(|k| &**k)
    }

    /// Every type, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Kind> {
        self.kinds.values().map(|k| &**k)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }

    /// The type and the outputs for deleting what an ARN names, when some
    /// type recognises it.
    pub fn from_arn(&self, arn: &str) -> Option<(&'static str, Json)> {
        let parsed = Arn::parse(arn)?;
        self.iter().find_map(|k| k.from_arn(&parsed).map(|o| (k.name(), o)))
    }
}

/// The one list of resource types.
pub fn registry() -> &'static Registry {
    use super::*;
    static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
        Registry::new()
            .with::<logs::LogGroup>()
    });
    &REGISTRY
}
