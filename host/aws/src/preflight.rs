//! Preflight: what AWS can tell before anything changes. `up` (and `plan`,
//! when it can reach AWS) asks, in parallel and within seconds, whether the
//! resources it is about to create can be created: the database engine
//! version is offered, the availability zones exist, the VPC, Elastic IP
//! and NAT gateway quotas leave room, the KMS keys exist, a hosted zone to
//! reuse exists. Every problem is reported at once, before the first call
//! that changes anything; a check AWS cannot answer is skipped and said so.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use tokio::task::JoinSet;

use super::{Aws, ProviderError, aws_err};
use platform_planning::plan::{Plan, PlannedResource};

/// One reason a resource of the plan cannot be created.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Qualified resource id (`db.instance`).
    pub resource: String,
    /// The plugin instance it comes from.
    pub instance: String,
    /// The property at fault, if one is (`engine_version`).
    pub property: Option<String>,
    pub message: String,
}

/// What the checks found; `skipped` names the checks AWS could not answer.
#[derive(Debug, Default)]
pub struct Outcome {
    pub problems: Vec<Problem>,
    pub skipped: Vec<String>,
}

/// The documented default quotas, used when Service Quotas cannot say.
const DEFAULT_VPCS_PER_REGION: u64 = 5;
const DEFAULT_NATS_PER_ZONE: u64 = 5;
const DEFAULT_EIPS_PER_REGION: u64 = 5;

/// How long the checks together may take.
const LIMIT: Duration = Duration::from_secs(30);

/// A planned resource reduced to what the checks read.
#[derive(Debug, Clone)]
struct Item {
    id: String,
    instance: String,
    kind: String,
    region: String,
    props: Json,
}

impl Item {
    fn of(r: &PlannedResource) -> Item {
        Item {
            id: r.id.clone(),
            instance: r.instance.clone(),
            kind: r.kind.clone(),
            region: r.region.clone(),
            props: r.properties.to_json(),
        }
    }

    /// A property that is a plain string in the plan (not a reference).
    fn literal(&self, key: &str) -> Option<&str> {
        self.props.get(key).and_then(Json::as_str)
    }

    fn problem(&self, property: Option<&str>, message: String) -> Problem {
        Problem {
            resource: self.id.clone(),
            instance: self.instance.clone(),
            property: property.map(str::to_string),
            message,
        }
    }
}

type Check = Result<Vec<Problem>, String>;

/// Check the resources of `plan` whose ids are in `creating`.
pub async fn check(aws: Arc<Aws>, plan: &Plan, creating: &BTreeSet<String>) -> Outcome {
    let items: Vec<Item> = plan
        .resources
        .iter()
        .filter(|r| creating.contains(&r.id))
        .map(Item::of)
        .collect();
    // Planned subnets by id, for the zone a NAT gateway's subnet is in.
    let subnets: BTreeMap<String, Item> = plan
        .resources
        .iter()
        .filter(|r| r.kind == "aws.ec2.subnet")
        .map(|r| (r.id.clone(), Item::of(r)))
        .collect();
    let of_kind = |kind: &str| -> Vec<Item> { items.iter().filter(|i| i.kind == kind).cloned().collect() };
    let regions: BTreeSet<String> = items.iter().map(|i| i.region.clone()).collect();

    let mut tasks: JoinSet<(&'static str, Check)> = JoinSet::new();
    let dbs = of_kind("aws.rds.db-instance");
    if !dbs.is_empty() {
        let (a1, a2, dbs2) = (aws.clone(), aws.clone(), dbs.clone());
        tasks.spawn(async move { ("database engine versions", engine_versions(&a1, &dbs2).await) });
        tasks.spawn(async move { ("KMS keys", kms_keys(&a2, &dbs).await) });
    }
    for region in regions {
        let in_region =
            |kind: &str| -> Vec<Item> { of_kind(kind).into_iter().filter(|i| i.region == region).collect() };
        let (new_subnets, vpcs, eips, nats) = (
            in_region("aws.ec2.subnet"),
            in_region("aws.ec2.vpc"),
            in_region("aws.ec2.eip"),
            in_region("aws.ec2.nat-gateway"),
        );
        if !new_subnets.is_empty() || !nats.is_empty() {
            let (aws, region, subnets) = (aws.clone(), region.clone(), subnets.clone());
            tasks.spawn(async move {
                (
                    "availability zones",
                    zones(&aws, &region, &new_subnets, &nats, &subnets).await,
                )
            });
        }
        if !vpcs.is_empty() {
            let (aws, region) = (aws.clone(), region.clone());
            tasks.spawn(async move { ("VPC quota", vpc_quota(&aws, &region, &vpcs).await) });
        }
        if !eips.is_empty() {
            let (aws, region) = (aws.clone(), region.clone());
            tasks.spawn(async move { ("Elastic IP quota", eip_quota(&aws, &region, &eips).await) });
        }
    }
    let records: Vec<Item> = of_kind("aws.route53.record-set")
        .into_iter()
        .filter(|r| r.literal("zone_id").is_some())
        .collect();
    if !records.is_empty() {
        let aws = aws.clone();
        tasks.spawn(async move { ("hosted zones", hosted_zones(&aws, &records).await) });
    }

    let mut outcome = Outcome::default();
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(Ok((_, Ok(problems))))) => outcome.problems.extend(problems),
            Ok(Some(Ok((what, Err(why))))) => outcome.skipped.push(format!("{what} not checked: {why}")),
            Ok(Some(Err(e))) => outcome.skipped.push(format!("a check failed: {e}")),
            Ok(None) => break,
            Err(_) => {
                outcome.skipped.push(format!(
                    "{} checks did not answer within {}s",
                    tasks.len(),
                    LIMIT.as_secs()
                ));
                tasks.abort_all();
                break;
            }
        }
    }
    outcome
        .problems
        .sort_by(|a, b| a.resource.cmp(&b.resource).then(a.message.cmp(&b.message)));
    outcome.problems.dedup();
    outcome.skipped.sort();
    outcome
}

fn why(e: ProviderError) -> String {
    e.to_string()
}

/// Does `offered` hold `wanted`, exactly or as its major version (`16`
/// matches `16.6`; `8.0` matches `8.0.40`)?
pub fn version_offered(wanted: &str, offered: &[String]) -> bool {
    let prefix = format!("{wanted}.");
    offered.iter().any(|v| v == wanted || v.starts_with(&prefix))
}

async fn engine_versions(aws: &Aws, dbs: &[Item]) -> Check {
    let mut offered: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for db in dbs {
        // Replicas take the source's engine and version.
        if db.props.get("source_db_instance_arn").is_some() {
            continue;
        }
        let (Some(engine), Some(version)) = (db.literal("engine"), db.literal("engine_version")) else {
            continue;
        };
        let key = (db.region.clone(), engine.to_string());
        if !offered.contains_key(&key) {
            let c = aws.region(&db.region);
            let mut versions = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                // Two attempts, not six: a preflight that cannot get an
                // answer is skipped, not waited for.
                let out = c
                    .rds
                    .describe_db_engine_versions()
                    .engine(engine)
                    .set_marker(marker.clone())
                    .customize()
                    .config_override(
                        aws_sdk_rds::config::Builder::default()
                            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2)),
                    )
                    .send()
                    .await
                    .map_err(|e| why(aws_err("rds:DescribeDBEngineVersions", e)))?;
                versions.extend(
                    out.db_engine_versions()
                        .iter()
                        .filter_map(|v| v.engine_version().map(str::to_string)),
                );
                match out.marker().filter(|m| !m.is_empty()) {
                    Some(m) => marker = Some(m.to_string()),
                    None => break,
                }
            }
            offered.insert(key.clone(), versions);
        }
        let versions = &offered[&key];
        if !version_offered(version, versions) {
            let recent: Vec<&str> = versions.iter().rev().take(6).map(String::as_str).collect();
            problems.push(db.problem(
                Some("engine_version"),
                format!(
                    "RDS in {} offers no {engine} version {version} (retired, or never offered){}; name a major version (such as `16`) to get a current minor one",
                    db.region,
                    if recent.is_empty() {
                        String::new()
                    } else {
                        format!("; it offers {}", recent.join(", "))
                    }
                ),
            ));
        }
    }
    Ok(problems)
}

async fn kms_keys(aws: &Aws, dbs: &[Item]) -> Check {
    let mut problems = Vec::new();
    for db in dbs {
        let Some(key) = db.literal("kms_key_id") else {
            continue;
        };
        let c = aws.region(&db.region);
        match c.kms.describe_key().key_id(key).send().await {
            Ok(out) => {
                let state = out
                    .key_metadata()
                    .and_then(|m| m.key_state())
                    .map(|s| s.as_str().to_string());
                if let Some(s) = state.filter(|s| s != "Enabled") {
                    problems.push(db.problem(
                        Some("kms_key_id"),
                        format!("KMS key {key} in {} is {s}, not Enabled", db.region),
                    ));
                }
            }
            Err(e) => {
                let e = aws_err("kms:DescribeKey", e);
                if e.is_not_found() {
                    problems.push(db.problem(
                        Some("kms_key_id"),
                        format!(
                            "KMS key {key} does not exist in {} (a key of the replica's region is needed)",
                            db.region
                        ),
                    ));
                } else {
                    return Err(why(e));
                }
            }
        }
    }
    Ok(problems)
}

/// The zone a planned subnet will be in (by its index), if the plan says.
fn zone_index(subnet: &Item) -> Option<usize> {
    subnet
        .props
        .get("availability_zone_index")
        .and_then(Json::as_u64)
        .map(|i| i as usize)
}

async fn zones(
    aws: &Aws,
    region: &str,
    new_subnets: &[Item],
    nats: &[Item],
    subnets: &BTreeMap<String, Item>,
) -> Check {
    let names = aws.zones(region).await.map_err(why)?;
    let mut problems = Vec::new();
    for subnet in new_subnets {
        if let Some(i) = zone_index(subnet)
            && i >= names.len()
        {
            problems.push(subnet.problem(
                Some("availability_zone_index"),
                format!(
                    "{region} has {} availability zones for this account ({}), so there is no zone number {}; lower az_count",
                    names.len(),
                    names.join(", "),
                    i + 1
                ),
            ));
        }
        if let Some(zone) = subnet.literal("availability_zone")
            && !names.iter().any(|n| n == zone)
        {
            problems.push(subnet.problem(
                Some("availability_zone"),
                format!(
                    "{region} has no availability zone {zone} for this account; it has {}",
                    names.join(", ")
                ),
            ));
        }
    }
    if nats.is_empty() {
        return Ok(problems);
    }
    // NAT gateways per zone: the ones there plus the planned ones.
    let c = aws.region(region);
    let existing = c
        .ec2
        .describe_nat_gateways()
        .filter(
            aws_sdk_ec2::types::Filter::builder()
                .name("state")
                .values("pending")
                .values("available")
                .build(),
        )
        .send()
        .await
        .map_err(|e| why(aws_err("ec2:DescribeNatGateways", e)))?;
    let subnet_ids: Vec<String> = existing
        .nat_gateways()
        .iter()
        .filter_map(|n| n.subnet_id().map(str::to_string))
        .collect();
    let mut per_zone: BTreeMap<String, u64> = BTreeMap::new();
    if !subnet_ids.is_empty() {
        let out = c
            .ec2
            .describe_subnets()
            .set_subnet_ids(Some(subnet_ids.clone()))
            .send()
            .await
            .map_err(|e| why(aws_err("ec2:DescribeSubnets", e)))?;
        let zone_of: BTreeMap<&str, &str> = out
            .subnets()
            .iter()
            .filter_map(|s| Some((s.subnet_id()?, s.availability_zone()?)))
            .collect();
        for id in &subnet_ids {
            if let Some(z) = zone_of.get(id.as_str()) {
                *per_zone.entry(z.to_string()).or_default() += 1;
            }
        }
    }
    let quota = quota(aws, region, "L-FE5A380F", DEFAULT_NATS_PER_ZONE).await;
    let mut planned: BTreeMap<String, Vec<&Item>> = BTreeMap::new();
    for nat in nats {
        let subnet = nat
            .props
            .get("subnet_id")
            .and_then(|s| s.get("$ref"))
            .and_then(|r| r.get("resource"))
            .and_then(Json::as_str)
            .and_then(|id| subnets.get(id));
        if let Some(zone) = subnet.and_then(zone_index).and_then(|i| names.get(i)) {
            planned.entry(zone.clone()).or_default().push(nat);
        }
    }
    for (zone, items) in planned {
        let there = per_zone.get(&zone).copied().unwrap_or(0);
        if there + items.len() as u64 > quota.0 {
            problems.push(items[0].problem(
                None,
                format!(
                    "{zone} has {there} NAT gateways and this plan adds {}, above the quota of {} per zone{}",
                    items.len(),
                    quota.0,
                    quota.1
                ),
            ));
        }
    }
    Ok(problems)
}

/// A VPC quota's value from Service Quotas: the account's applied value,
/// else AWS's default for it, else the documented default (said so).
async fn quota(aws: &Aws, region: &str, code: &str, default: u64) -> (u64, &'static str) {
    let c = aws.region(region);
    if let Ok(out) = c
        .quotas
        .get_service_quota()
        .service_code("vpc")
        .quota_code(code)
        .send()
        .await
        && let Some(v) = out.quota().and_then(|q| q.value())
    {
        return (v as u64, "");
    }
    // No applied value (never raised): AWS's default for the account.
    match c
        .quotas
        .get_aws_default_service_quota()
        .service_code("vpc")
        .quota_code(code)
        .send()
        .await
    {
        Ok(out) => match out.quota().and_then(|q| q.value()) {
            Some(v) => (v as u64, ""),
            None => (default, " (the documented default; Service Quotas did not say)"),
        },
        Err(_) => (default, " (the documented default; Service Quotas could not be asked)"),
    }
}

async fn vpc_quota(aws: &Aws, region: &str, vpcs: &[Item]) -> Check {
    let c = aws.region(region);
    let out = c
        .ec2
        .describe_vpcs()
        .send()
        .await
        .map_err(|e| why(aws_err("ec2:DescribeVpcs", e)))?;
    let there = out.vpcs().len() as u64;
    let (limit, note) = quota(aws, region, "L-F678F1CE", DEFAULT_VPCS_PER_REGION).await;
    if there + vpcs.len() as u64 > limit {
        return Ok(vec![vpcs[0].problem(
            None,
            format!(
                "{region} has {there} VPCs and this plan adds {}, above the quota of {limit}{note}; ask AWS to raise it (Service Quotas, L-F678F1CE) or remove unused VPCs",
                vpcs.len()
            ),
        )]);
    }
    Ok(Vec::new())
}

async fn eip_quota(aws: &Aws, region: &str, eips: &[Item]) -> Check {
    let c = aws.region(region);
    let out = c
        .ec2
        .describe_addresses()
        .send()
        .await
        .map_err(|e| why(aws_err("ec2:DescribeAddresses", e)))?;
    let there = out.addresses().len() as u64;
    // The account attribute is the quota as EC2 applies it.
    let attributes = c
        .ec2
        .describe_account_attributes()
        .attribute_names(aws_sdk_ec2::types::AccountAttributeName::from("vpc-max-elastic-ips"))
        .send()
        .await;
    let limit = attributes
        .ok()
        .and_then(|a| {
            a.account_attributes()
                .iter()
                .find(|x| x.attribute_name() == Some("vpc-max-elastic-ips"))
                .and_then(|x| x.attribute_values().first())
                .and_then(|v| v.attribute_value())
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(DEFAULT_EIPS_PER_REGION);
    if there + eips.len() as u64 > limit {
        return Ok(vec![eips[0].problem(
            None,
            format!(
                "{region} has {there} Elastic IP addresses and this plan adds {}, above the quota of {limit}; ask AWS to raise it (Service Quotas, L-0263D0A3), release unused ones, or use fewer NAT gateways (nat_gateways = \"single\")",
                eips.len()
            ),
        )]);
    }
    Ok(Vec::new())
}

async fn hosted_zones(aws: &Aws, records: &[Item]) -> Check {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for record in records {
        let Some(zone) = record.literal("zone_id") else {
            continue;
        };
        if !seen.insert(zone.to_string()) {
            continue;
        }
        let c = aws.region(&record.region);
        if let Err(e) = c.route53.get_hosted_zone().id(zone).send().await {
            let e = aws_err("route53:GetHostedZone", e);
            if e.is_not_found() {
                problems.push(record.problem(
                    Some("zone_id"),
                    format!("the hosted zone {zone} does not exist in this account"),
                ));
            } else {
                return Err(why(e));
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_major_version_matches_its_minor_versions_only() {
        let offered: Vec<String> = ["15.8", "16.6", "16.8", "8.0.40"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(version_offered("16", &offered));
        assert!(version_offered("16.6", &offered));
        assert!(version_offered("8.0", &offered));
        assert!(!version_offered("16.4", &offered));
        assert!(!version_offered("1", &offered));
        assert!(!version_offered("17", &offered));
    }
}
