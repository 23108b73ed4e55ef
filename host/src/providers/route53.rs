//! Route 53: hosted zones, health checks and failover alias records.

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, HostedZoneConfig,
    ResourceRecordSet, ResourceRecordSetFailover, RrType, Tag, TagResourceType,
};

use super::{Clients, Outputs, Props, ProviderError, Request, aws_err};
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
