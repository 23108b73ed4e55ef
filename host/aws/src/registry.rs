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
use platform_planning::properties::{self, PropertyError};
use platform_planning::value::Value;

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
    /// The properties whose values AWS requires unique among live resources
    /// of this type (in the account and region, or within the VPC, cluster
    /// or zone another of them names), and for a type whose create is an
    /// upsert (a put that overwrites), the properties that identify it. A
    /// replacement whose new properties keep every one of them must delete
    /// the old resource first; otherwise it creates the new one first and
    /// deletes the old at the end of the run. Empty: AWS gives each an id of
    /// its own, so two can always exist at once.
    const UNIQUE: &'static [&'static str];

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
    /// See [`ResourceType::UNIQUE`].
    fn unique(&self) -> &'static [&'static str];
    /// The JSON Schema of the properties.
    fn schema(&self) -> Json;
    /// Check planned properties (references stand for any value).
    fn check(&self, props: &Value) -> Result<(), PropertyError>;
    /// Check resolved properties before a call. The engine does it once per
    /// resource (`Provider::check`), before any intent is recorded;
    /// `create` and `update` do not check again.
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

    fn unique(&self) -> &'static [&'static str] {
        T::UNIQUE
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
        Box::pin(async move { T::create(aws, &aws.region(r.region), r).await })
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
        Box::pin(async move { T::update(aws, &aws.region(r.region), r, old, outputs).await })
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

impl platform_planning::compose::Kinds for Registry {
    fn check(&self, kind: &str, props: &Value) -> Option<Result<(), PropertyError>> {
        self.get(kind).map(|k| k.check(props))
    }
}

/// The one list of resource types.
pub fn registry() -> &'static Registry {
    use super::*;
    static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
        Registry::new()
            .with::<ec2::Vpc>()
            .with::<ec2::Subnet>()
            .with::<ec2::InternetGateway>()
            .with::<ec2::Eip>()
            .with::<ec2::NatGateway>()
            .with::<ec2::RouteTable>()
            .with::<ec2::RouteTableAssociation>()
            .with::<ec2::SecurityGroup>()
            .with::<ec2::FlowLog>()
            .with::<ec2::VpcPeeringConnection>()
            .with::<iam::Role>()
            .with::<iam::OidcProvider>()
            .with::<iam::ManagedPolicy>()
            .with::<kms::Key>()
            .with::<logs::LogGroup>()
            .with::<ecr::Repository>()
            .with::<ecr::ReplicationRule>()
            .with::<ecs::Cluster>()
            .with::<ecs::TaskDefinition>()
            .with::<ecs::Service>()
            .with::<elbv2::LoadBalancer>()
            .with::<elbv2::TargetGroup>()
            .with::<elbv2::Listener>()
            .with::<elbv2::ListenerRule>()
            .with::<secrets::Secret>()
            .with::<rds::DbSubnetGroup>()
            .with::<rds::DbInstance>()
            .with::<rds_cluster::DbCluster>()
            .with::<rds_cluster::ClusterInstance>()
            .with::<sns::Topic>()
            .with::<sns::Subscription>()
            .with::<cloudwatch::Dashboard>()
            .with::<cloudwatch::MetricAlarm>()
            .with::<autoscaling::ScalableTarget>()
            .with::<autoscaling::ScalingPolicy>()
            .with::<route53::HostedZone>()
            .with::<route53::HealthCheck>()
            .with::<route53::RecordSet>()
            .with::<servicediscovery::PrivateDnsNamespace>()
            .with::<servicediscovery::DiscoveryService>()
            .with::<ssm::Parameter>()
            .with::<s3::Bucket>()
            .with::<codecommit::Repository>()
            .with::<codebuild::BuildProject>()
            .with::<codepipeline::Pipeline>()
    });
    &REGISTRY
}

impl Registry {
    /// The table of types in docs/writing-plugins.md (a test keeps the two equal).
    pub fn markdown(&self) -> String {
        let cell = |s: Support| match s {
            Support::Yes => "yes".to_string(),
            Support::No(why) => format!("no: {why}"),
        };
        let mut out = String::from(
            "| type | what it is | found again after an interruption | drift read | leftovers swept |\n|---|---|---|---|---|\n",
        );
        for k in self.iter() {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                k.name(),
                k.about(),
                match k.adopt() {
                    Adopt::Lookup => "by its name (or alias) or its tag",
                    Adopt::CreateAgain => "by creating it again",
                },
                cell(k.drift()),
                cell(k.sweep()),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_type_is_registered_once_with_a_schema_that_refuses_unknown_properties() {
        let reg = registry();
        assert!(reg.iter().count() >= 33);
        for k in reg.iter() {
            assert!(k.name().starts_with("aws."), "{}", k.name());
            let schema = k.schema();
            assert_eq!(schema["type"], "object", "{}", k.name());
            assert_eq!(
                schema["additionalProperties"],
                false,
                "{}: unknown properties must be refused",
                k.name()
            );
            assert_eq!(schema["title"], k.name());
            let e = k
                .check(&Value::Object(vec![("no_such_property".into(), Value::Int(1))]))
                .unwrap_err();
            assert!(
                e.to_string().contains("no_such_property") || e.to_string().contains("missing field"),
                "{}: {e}",
                k.name()
            );
        }
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_type_registered_twice_is_refused() {
        let _ = Registry::new()
            .with::<super::super::logs::LogGroup>()
            .with::<super::super::logs::LogGroup>();
    }

    #[test]
    fn arns_map_to_their_types() {
        let reg = registry();
        let check =
            |arn: &str, kind: &str, outputs: Json| assert_eq!(reg.from_arn(arn), Some((kind, outputs)), "{arn}");
        check(
            "arn:aws:ec2:us-east-1:1:vpc/vpc-1",
            "aws.ec2.vpc",
            json!({ "id": "vpc-1" }),
        );
        check(
            "arn:aws:ec2:us-east-1:1:elastic-ip/eipalloc-1",
            "aws.ec2.eip",
            json!({ "allocation_id": "eipalloc-1" }),
        );
        check(
            "arn:aws:sns:us-east-1:1:alarms",
            "aws.sns.topic",
            json!({ "arn": "arn:aws:sns:us-east-1:1:alarms" }),
        );
        check(
            "arn:aws:rds:us-east-1:1:db:ml-api-db",
            "aws.rds.db-instance",
            json!({ "identifier": "ml-api-db" }),
        );
        check(
            "arn:aws:rds:us-east-1:1:subgrp:ml-api-db",
            "aws.rds.db-subnet-group",
            json!({ "name": "ml-api-db" }),
        );
        check(
            "arn:aws:ecs:us-east-1:1:service/c/api",
            "aws.ecs.service",
            json!({ "cluster": "c", "name": "api" }),
        );
        check(
            "arn:aws:ecs:us-east-1:1:cluster/c",
            "aws.ecs.cluster",
            json!({ "name": "c" }),
        );
        check(
            "arn:aws:logs:us-east-1:1:log-group:/p/a:*",
            "aws.logs.log-group",
            json!({ "name": "/p/a" }),
        );
        check(
            "arn:aws:route53:::healthcheck/abc-1",
            "aws.route53.health-check",
            json!({ "id": "abc-1" }),
        );
        check(
            "arn:aws:cloudwatch:us-east-1:1:alarm:high-cpu",
            "aws.cloudwatch.metric-alarm",
            json!({ "name": "high-cpu" }),
        );
        check("arn:aws:s3:::bucket", "aws.s3.bucket", json!({ "name": "bucket" }));
        assert_eq!(reg.from_arn("arn:aws:s3:::bucket/some/key"), None);
        assert_eq!(reg.from_arn("arn:aws:sns:us-east-1:1:alarms:0b4c-sub"), None);
        assert_eq!(reg.from_arn("not an arn"), None);
    }

    /// Planning, the engine, state and the CLI name no resource type: only
    /// this crate (and test code and examples in comments) does.
    #[test]
    fn aws_type_names_appear_only_in_the_providers() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
        let planning = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../planning/src");
        let mut files = Vec::new();
        walk(&src, &mut files);
        walk(&planning, &mut files);
        let names: Vec<String> = registry().names().map(|n| format!("\"{n}\"")).collect();
        let mut found = Vec::new();
        for f in files {
            let rel = f
                .strip_prefix(&src)
                .or_else(|_| f.strip_prefix(&planning))
                .unwrap()
                .to_string_lossy()
                .to_string();
            if rel == "testing.rs" || rel.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            // Code before the file's test module; comments excluded.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (i, line) in code.lines().enumerate() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                if names.iter().any(|n| line.contains(n.as_str())) {
                    found.push(format!("{rel}:{}: {line}", i + 1));
                }
            }
        }
        assert!(
            found.is_empty(),
            "resource type names outside the providers:\n{}",
            found.join("\n")
        );
    }

    /// The plugin SDK's copy of the type schemas (for its native test
    /// harness, which must not depend on the host) equals the registry.
    #[test]
    fn the_sdk_has_every_type_schema() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/sdk/kinds.json");
        let kinds: Vec<Json> = registry()
            .iter()
            .map(|k| serde_json::json!({ "type": k.name(), "schema": k.schema() }))
            .collect();
        let text = serde_json::to_string_pretty(&kinds).unwrap() + "\n";
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&path, text).unwrap();
        } else {
            assert!(
                std::fs::read_to_string(&path).unwrap_or_default() == text,
                "plugins/sdk/kinds.json differs from the registry: UPDATE_EXPECT=1 cargo nextest run registry"
            );
        }
    }

    #[test]
    fn the_docs_list_every_registered_type() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/writing-plugins.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (begin, end) = (
            "<!-- kinds:begin (generated: UPDATE_EXPECT=1 cargo test registry) -->\n",
            "<!-- kinds:end -->",
        );
        let start = doc.find(begin).expect("the kinds table's begin marker") + begin.len();
        let stop = doc.find(end).expect("the kinds table's end marker");
        let table = registry().markdown();
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&path, format!("{}{table}{}", &doc[..start], &doc[stop..])).unwrap();
        } else {
            assert_eq!(
                &doc[start..stop],
                table,
                "docs/writing-plugins.md lists other types than the registry: UPDATE_EXPECT=1 cargo nextest run registry"
            );
        }
    }
}
