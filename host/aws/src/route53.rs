//! Route 53: hosted zones, health checks and failover alias records.

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, HostedZoneConfig,
    ResourceRecordSet, ResourceRecordSetFailover, RrType, Tag, TagResourceType,
};
use serde_json::Value as Json;

use super::read::Live;
use super::registry::{Adopt, Arn, ResourceType, Support, not_in_place};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err};
use crate::outputs;

fn bad(op: &str, e: impl std::fmt::Display) -> ProviderError {
    ProviderError::property(op, e.to_string())
}

fn zone_id(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
}

pub async fn create_zone(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let out = c
        .route53
        .create_hosted_zone()
        .name(p.str("name")?)
        .caller_reference(&r.token)
        .hosted_zone_config(
            HostedZoneConfig::builder()
                .set_comment(p.opt_str("comment").map(str::to_string))
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws_err("route53:CreateHostedZone", e))?;
    let id = out
        .hosted_zone()
        .map(|z| zone_id(z.id()).to_string())
        .unwrap_or_default();
    Ok(outputs! { "id" => id, "name" => p.str("name")? })
}

pub async fn find_zone(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    let name = r.props.str("name")?;
    let out = c
        .route53
        .list_hosted_zones_by_name()
        .dns_name(name)
        .send()
        .await
        .map_err(|e| aws_err("route53:ListHostedZonesByName", e))?;
    let wanted = format!("{}.", name.trim_end_matches('.'));
    Ok(out
        .hosted_zones()
        .iter()
        .find(|z| z.name() == wanted && z.caller_reference() == r.token)
        .map(|z| outputs! { "id" => zone_id(z.id()), "name" => name }))
}

pub async fn delete_zone(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    c.route53
        .delete_hosted_zone()
        .id(o.str("id")?)
        .send()
        .await
        .map_err(|e| aws_err("route53:DeleteHostedZone", e))?;
    Ok(())
}

pub async fn create_health_check(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let config = HealthCheckConfig::builder()
        .r#type(HealthCheckType::from(p.opt_str("type").unwrap_or("HTTP")))
        .set_fully_qualified_domain_name(p.opt_str("fully_qualified_domain_name").map(str::to_string))
        .set_port(p.opt_i32("port"))
        .set_resource_path(p.opt_str("resource_path").map(str::to_string))
        .set_request_interval(p.opt_i32("request_interval"))
        .set_failure_threshold(p.opt_i32("failure_threshold"))
        .build()
        .map_err(|e| bad("route53:CreateHealthCheck", e))?;
    // Same caller reference and configuration: Route 53 returns the existing
    // check, so a retried create never duplicates it.
    let out = c
        .route53
        .create_health_check()
        .caller_reference(&r.token)
        .health_check_config(config)
        .send()
        .await
        .map_err(|e| aws_err("route53:CreateHealthCheck", e))?;
    let id = out.health_check().map(|h| h.id()).unwrap_or_default();
    // Health checks take no tags at creation: tag them right after, like
    // every other resource (cost allocation, the tagging API, `down`).
    // At most 10 tags per health check: the platform's own (which `down`
    // relies on) and the name first, then the blueprint's.
    let mut pairs: Vec<(&str, &str)> = r.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if let Some(name) = p.opt_str("name") {
        pairs.push(("Name", name));
    }
    pairs.sort_by_key(|(k, _)| (!k.starts_with("platform:"), *k != "Name"));
    let tags: Vec<Tag> = pairs
        .iter()
        .take(10)
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect();
    c.route53
        .change_tags_for_resource()
        .resource_type(TagResourceType::Healthcheck)
        .resource_id(id)
        .set_add_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws_err("route53:ChangeTagsForResource", e))?;
    Ok(outputs! { "id" => id })
}

pub async fn find_health_check(_c: &Clients, _r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    // CreateHealthCheck with the same caller reference is idempotent.
    Ok(None)
}

pub async fn delete_health_check(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    c.route53
        .delete_health_check()
        .health_check_id(o.str("id")?)
        .send()
        .await
        .map_err(|e| aws_err("route53:DeleteHealthCheck", e))?;
    Ok(())
}

fn record(p: &Props<'_>) -> Result<ResourceRecordSet, ProviderError> {
    let op = "route53:ChangeResourceRecordSets";
    let mut set = ResourceRecordSet::builder()
        .name(p.str("name")?)
        .r#type(RrType::from(p.opt_str("type").unwrap_or("A")))
        .set_set_identifier(p.opt_str("set_identifier").map(str::to_string))
        .set_failover(p.opt_str("failover").map(ResourceRecordSetFailover::from))
        .set_health_check_id(p.opt_str("health_check_id").map(str::to_string));
    if let Some(a) = p.obj("alias_target") {
        set = set.alias_target(
            AliasTarget::builder()
                .dns_name(a.str("dns_name")?)
                .hosted_zone_id(a.str("hosted_zone_id")?)
                .evaluate_target_health(a.bool("evaluate_target_health").unwrap_or(true))
                .build()
                .map_err(|e| bad(op, e))?,
        );
    }
    set.build().map_err(|e| bad(op, e))
}

async fn change(c: &Clients, p: &Props<'_>, action: ChangeAction) -> Result<(), ProviderError> {
    let op = "route53:ChangeResourceRecordSets";
    let change = Change::builder()
        .action(action)
        .resource_record_set(record(p)?)
        .build()
        .map_err(|e| bad(op, e))?;
    c.route53
        .change_resource_record_sets()
        .hosted_zone_id(zone_id(p.str("zone_id")?))
        .change_batch(ChangeBatch::builder().changes(change).build().map_err(|e| bad(op, e))?)
        .send()
        .await
        .map_err(|e| aws_err(op, e))?;
    Ok(())
}

pub async fn upsert_record(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    change(c, &r.props, ChangeAction::Upsert).await?;
    Ok(outputs! { "name" => r.props.str("name")? })
}

pub async fn delete_record(c: &Clients, p: &Props<'_>) -> Result<(), ProviderError> {
    match change(c, p, ChangeAction::Delete).await {
        // Deleting a record that is not there: InvalidChangeBatch.
        Err(e) if e.code.as_deref() == Some("InvalidChangeBatch") => Ok(()),
        other => other,
    }
}

// ---------------------------------------------------------------------------
// Registered resource types (see registry.rs)
// ---------------------------------------------------------------------------

/// `aws.route53.hosted-zone`
pub struct HostedZone;

/// A public hosted zone: the DNS records of a domain (`CreateHostedZone`).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct HostedZoneProps {
    /// The domain the zone serves (`example.com`).
    pub name: String,
    /// A comment stored with the zone (`HostedZoneConfig.Comment`).
    pub comment: Option<String>,
}

impl ResourceType for HostedZone {
    const NAME: &'static str = "aws.route53.hosted-zone";
    const ABOUT: &'static str = "Route 53 public hosted zone of a domain";
    type Props = HostedZoneProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::No("hosted zones are not read back yet");
    const SWEEP: Support = Support::No("created without tags, so the tagging API never lists one");
    // Each create has its own caller reference: zones of one name can coexist.
    const UNIQUE: &'static [&'static str] = &[];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_zone(c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find_zone(c, r).await
    }

    async fn update(
        _aws: &Aws,
        _c: &Clients,
        _r: &Request<'_>,
        _old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        Err(not_in_place(Self::NAME))
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_zone(c, o).await
    }

    async fn read(_aws: &Aws, _c: &Clients, _key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        Ok(Live::Unknown)
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}

/// `aws.route53.health-check`
pub struct HealthCheck;

/// A health check of an endpoint (`CreateHealthCheck`), for failover
/// records; tagged after creation.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct HealthCheckProps {
    /// The kind of check (`Type`): `HTTP` (the default), `HTTPS`,
    /// `HTTP_STR_MATCH`, `HTTPS_STR_MATCH` or `TCP`.
    #[serde(rename = "type")]
    pub check_type: Option<String>,
    /// The host name checked (`FullyQualifiedDomainName`): a load
    /// balancer's DNS name.
    pub fully_qualified_domain_name: Option<String>,
    /// The port checked (`Port`); absent: 80 for HTTP, 443 for HTTPS.
    pub port: Option<i32>,
    /// The path requested (`ResourcePath`, `/healthz`).
    pub resource_path: Option<String>,
    /// Seconds between checks (`RequestInterval`): 10 or 30 (the default).
    pub request_interval: Option<i32>,
    /// Consecutive results that change the status (`FailureThreshold`),
    /// 1 to 10; absent: 3.
    pub failure_threshold: Option<i32>,
    /// The check's `Name` tag, shown in the Route 53 console.
    pub name: Option<String>,
}

impl ResourceType for HealthCheck {
    const NAME: &'static str = "aws.route53.health-check";
    const ABOUT: &'static str = "Route 53 health check of an HTTP, HTTPS or TCP endpoint";
    type Props = HealthCheckProps;
    const ADOPT: Adopt = Adopt::CreateAgain;
    const DRIFT: Support = Support::No("its endpoint and thresholds are not read back yet");
    const SWEEP: Support = Support::Yes;
    // Each create has its own caller reference: two checks can coexist.
    const UNIQUE: &'static [&'static str] = &[];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_health_check(c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find_health_check(c, r).await
    }

    async fn update(
        _aws: &Aws,
        _c: &Clients,
        _r: &Request<'_>,
        _old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        Err(not_in_place(Self::NAME))
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_health_check(c, o).await
    }

    async fn read(_aws: &Aws, _c: &Clients, _key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        Ok(Live::Unknown)
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let id = arn.after("healthcheck/")?;
        (arn.service == "route53").then(|| serde_json::json!({ "id": id }))
    }
}

/// `aws.route53.record-set`
pub struct RecordSet;

/// An alias record in a hosted zone, written with `ChangeResourceRecordSets`
/// (`UPSERT`); with `set_identifier` and `failover`, one of a failover pair.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RecordSetProps {
    /// The hosted zone of the record (`HostedZoneId`, `Z0123...` or
    /// `/hostedzone/Z0123...`).
    pub zone_id: String,
    /// The record's name (`api.example.com`).
    pub name: String,
    /// The record type (`Type`): `A` (the default), `AAAA`, `CNAME`, ...
    #[serde(rename = "type")]
    pub record_type: Option<String>,
    /// Tells apart records of the same name and type (`SetIdentifier`);
    /// required with `failover`.
    pub set_identifier: Option<String>,
    /// The record's role in failover routing (`Failover`): `PRIMARY` or
    /// `SECONDARY`.
    pub failover: Option<String>,
    /// The health check that decides whether Route 53 answers with this
    /// record (`HealthCheckId`).
    pub health_check_id: Option<String>,
    /// What the alias record points to (`AliasTarget`): a load balancer, ...
    pub alias_target: Option<AliasTargetProps>,
}

/// The target of an alias record (`AliasTarget`).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AliasTargetProps {
    /// The target's DNS name (`DNSName`): a load balancer's DNS name, with
    /// `dualstack.` in front for IPv6 too.
    pub dns_name: String,
    /// The hosted zone of the target (`HostedZoneId`): for a load balancer,
    /// its canonical hosted zone id, not the zone of the record.
    pub hosted_zone_id: String,
    /// Whether the record follows the target's own health
    /// (`EvaluateTargetHealth`); absent: true.
    pub evaluate_target_health: Option<bool>,
}

impl ResourceType for RecordSet {
    const NAME: &'static str = "aws.route53.record-set";
    const ABOUT: &'static str = "Route 53 alias record, optionally a failover record with a health check";
    type Props = RecordSetProps;
    const ADOPT: Adopt = Adopt::CreateAgain;
    const DRIFT: Support = Support::No("records are not read back yet");
    const SWEEP: Support = Support::No("Route 53 records take no tags, so the tagging API never lists one");
    // UPSERT: names match whatever their case or final dot, so any replacement in one zone deletes first.
    const UNIQUE: &'static [&'static str] = &["zone_id"];

    /// `UPSERT` overwrites the record of that zone, name, type and set
    /// identifier; those identify it. An absent type is `A`, so stating
    /// `A` is no change.
    fn in_place(changed: &[String], old: &Json, new: &Json) -> bool {
        let record_type = |p: &Json| p.get("type").and_then(Json::as_str).unwrap_or("A").to_string();
        changed.iter().all(|k| match k.as_str() {
            "alias_target" | "health_check_id" | "failover" => true,
            "type" => record_type(old) == record_type(new),
            _ => false,
        })
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        upsert_record(c, r).await
    }

    async fn find(_aws: &Aws, _c: &Clients, _r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        // UPSERT again is the lookup.
        Ok(None)
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        upsert_record(c, r).await
    }

    async fn delete(_aws: &Aws, c: &Clients, _o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        delete_record(c, p).await
    }

    async fn read(_aws: &Aws, _c: &Clients, _key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        Ok(Live::Unknown)
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}
