//! Reading live resources back, for drift: does it still exist, and what are
//! the values of the properties that people change outside a deployment
//! (desired counts, retention, database settings, alarm thresholds).

use serde_json::{Map, Value as Json};

use super::{Aws, Props, ProviderError, aws_err};

/// What AWS says about a resource the state records.
#[derive(Debug, Clone, PartialEq)]
pub enum Live {
    /// It no longer exists.
    Gone,
    /// It exists; these properties were read back (a subset).
    Exists(Map<String, Json>),
    /// This type is not read back; nothing is known.
    Unknown,
}

pub(crate) fn observed(pairs: Vec<(&str, Json)>) -> Live {
    Live::Exists(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// `Ok(Live::Gone)` when the lookup says not found.
fn gone_if_not_found(e: ProviderError) -> Result<Live, ProviderError> {
    if e.is_not_found() { Ok(Live::Gone) } else { Err(e) }
}

pub async fn read(aws: &Aws, kind: &str, region: &str, outputs: &Json) -> Result<Live, ProviderError> {
    let c = aws.region(region);
    let o = Props::new(outputs, kind);
    let Some(key) = ["id", "arn", "name", "identifier", "allocation_id"]
        .iter()
        .find_map(|k| o.opt_str(k))
    else {
        return Ok(Live::Unknown);
    };
    macro_rules! call {
        ($op:literal, $fut:expr) => {
            match $fut.await {
                Ok(out) => out,
                Err(e) => return gone_if_not_found(aws_err($op, e)),
            }
        };
    }
    Ok(match kind {
        "aws.ec2.vpc" => {
            let out = call!("ec2:DescribeVpcs", c.ec2.describe_vpcs().vpc_ids(key).send());
            match out.vpcs().first() {
                Some(v) => observed(vec![("cidr_block", v.cidr_block().unwrap_or_default().into())]),
                None => Live::Gone,
            }
        }
        "aws.ec2.subnet" => {
            let out = call!("ec2:DescribeSubnets", c.ec2.describe_subnets().subnet_ids(key).send());
            match out.subnets().first() {
                Some(s) => observed(vec![("cidr_block", s.cidr_block().unwrap_or_default().into())]),
                None => Live::Gone,
            }
        }
        "aws.ec2.internet-gateway" => {
            let out = call!(
                "ec2:DescribeInternetGateways",
                c.ec2.describe_internet_gateways().internet_gateway_ids(key).send()
            );
            if out.internet_gateways().is_empty() {
                Live::Gone
            } else {
                observed(vec![])
            }
        }
        "aws.ec2.eip" => {
            let out = call!(
                "ec2:DescribeAddresses",
                c.ec2.describe_addresses().allocation_ids(key).send()
            );
            if out.addresses().is_empty() {
                Live::Gone
            } else {
                observed(vec![])
            }
        }
        "aws.ec2.nat-gateway" => {
            let out = call!(
                "ec2:DescribeNatGateways",
                c.ec2.describe_nat_gateways().nat_gateway_ids(key).send()
            );
            match out.nat_gateways().first().and_then(|n| n.state()).map(|s| s.as_str()) {
                None | Some("deleted" | "deleting" | "failed") => Live::Gone,
                Some(_) => observed(vec![]),
            }
        }
        "aws.ec2.route-table" => {
            let out = call!(
                "ec2:DescribeRouteTables",
                c.ec2.describe_route_tables().route_table_ids(key).send()
            );
            if out.route_tables().is_empty() {
                Live::Gone
            } else {
                observed(vec![])
            }
        }
        "aws.ec2.security-group" => {
            let out = call!(
                "ec2:DescribeSecurityGroups",
                c.ec2.describe_security_groups().group_ids(key).send()
            );
            if out.security_groups().is_empty() {
                Live::Gone
            } else {
                observed(vec![])
            }
        }
        "aws.logs.log-group" => {
            let out = call!(
                "logs:DescribeLogGroups",
                c.logs.describe_log_groups().log_group_name_prefix(key).send()
            );
            match out.log_groups().iter().find(|g| g.log_group_name() == Some(key)) {
                Some(g) => observed(vec![(
                    "retention_in_days",
                    g.retention_in_days().map_or(Json::Null, Json::from),
                )]),
                None => Live::Gone,
            }
        }
        "aws.ecs.cluster" => {
            let out = call!("ecs:DescribeClusters", c.ecs.describe_clusters().clusters(key).send());
            if out.clusters().iter().any(|c| c.status() == Some("ACTIVE")) {
                observed(vec![])
            } else {
                Live::Gone
            }
        }
        "aws.ecs.service" => {
            let cluster = o.opt_str("cluster").unwrap_or_default();
            let out = call!(
                "ecs:DescribeServices",
                c.ecs.describe_services().cluster(cluster).services(key).send()
            );
            match out.services().iter().find(|s| s.status() == Some("ACTIVE")) {
                // Autoscaling owns the count of a scaled service: what it
                // set is not drift, and setting it back would cut capacity
                // under load.
                Some(s) if super::ecs::autoscaled(&c, cluster, s.service_name().unwrap_or(key)).await? => {
                    observed(vec![])
                }
                Some(s) => observed(vec![("desired_count", s.desired_count().into())]),
                None => Live::Gone,
            }
        }
        "aws.elbv2.load-balancer" => {
            let out = call!(
                "elasticloadbalancing:DescribeLoadBalancers",
                c.elbv2.describe_load_balancers().load_balancer_arns(key).send()
            );
            if out.load_balancers().is_empty() {
                Live::Gone
            } else {
                observed(vec![])
            }
        }
        "aws.elbv2.target-group" => {
            let out = call!(
                "elasticloadbalancing:DescribeTargetGroups",
                c.elbv2.describe_target_groups().target_group_arns(key).send()
            );
            if out.target_groups().is_empty() {
                Live::Gone
            } else {
                observed(vec![])
            }
        }
        "aws.elbv2.listener" => {
            let out = call!(
                "elasticloadbalancing:DescribeListeners",
                c.elbv2.describe_listeners().listener_arns(key).send()
            );
            if out.listeners().is_empty() {
                Live::Gone
            } else {
                observed(vec![])
            }
        }
        "aws.rds.db-instance" => {
            let id = o.opt_str("identifier").unwrap_or(key);
            let out = call!(
                "rds:DescribeDBInstances",
                c.rds.describe_db_instances().db_instance_identifier(id).send()
            );
            match out.db_instances().first() {
                Some(d) if d.db_instance_status() != Some("deleting") => observed(vec![
                    ("instance_class", d.db_instance_class().unwrap_or_default().into()),
                    (
                        "backup_retention_period",
                        d.backup_retention_period().map_or(Json::Null, Json::from),
                    ),
                ]),
                _ => Live::Gone,
            }
        }
        "aws.rds.db-subnet-group" => {
            let name = o.opt_str("name").unwrap_or(key);
            let out = call!(
                "rds:DescribeDBSubnetGroups",
                c.rds.describe_db_subnet_groups().db_subnet_group_name(name).send()
            );
            if out.db_subnet_groups().is_empty() {
                Live::Gone
            } else {
                observed(vec![])
            }
        }
        "aws.iam.role" => {
            let name = o.opt_str("name").unwrap_or(key);
            let _ = call!("iam:GetRole", c.iam.get_role().role_name(name).send());
            observed(vec![])
        }
        "aws.secretsmanager.secret" => {
            let out = call!(
                "secretsmanager:DescribeSecret",
                c.secrets.describe_secret().secret_id(key).send()
            );
            if out.deleted_date().is_some() {
                Live::Gone
            } else {
                observed(vec![])
            }
        }
        "aws.sns.topic" => {
            let _ = call!(
                "sns:GetTopicAttributes",
                c.sns.get_topic_attributes().topic_arn(key).send()
            );
            observed(vec![])
        }
        "aws.ecr.repository" => {
            let name = o.opt_str("name").unwrap_or(key);
            let _ = call!(
                "ecr:DescribeRepositories",
                c.ecr.describe_repositories().repository_names(name).send()
            );
            observed(vec![])
        }
        "aws.cloudwatch.metric-alarm" => {
            let out = call!(
                "cloudwatch:DescribeAlarms",
                c.cloudwatch.describe_alarms().alarm_names(key).send()
            );
            match out.metric_alarms().first() {
                Some(a) => observed(vec![("threshold", a.threshold().map_or(Json::Null, Json::from))]),
                None => Live::Gone,
            }
        }
        "aws.cloudwatch.dashboard" => {
            let _ = call!(
                "cloudwatch:GetDashboard",
                c.cloudwatch.get_dashboard().dashboard_name(key).send()
            );
            observed(vec![])
        }
        _ => Live::Unknown,
    })
}

/// Properties whose live value differs from the recorded one: (key, recorded, live).
pub fn differences(recorded: &Json, live: &Map<String, Json>) -> Vec<(String, Json, Json)> {
    let same = |a: &Json, b: &Json| match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    };
    // A property the plan does not set is AWS's to choose (a replica takes
    // its backup retention from its source): never drift.
    live.iter()
        .filter_map(|(k, v)| {
            let r = recorded.get(k)?.clone();
            (!same(&r, v)).then(|| (k.clone(), r, v.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_the_plan_leaves_to_aws_are_not_drift() {
        let recorded = serde_json::json!({ "identifier": "r", "instance_class": "db.t4g.micro" });
        let live: Map<String, Json> =
            serde_json::json!({ "instance_class": "db.t4g.micro", "backup_retention_period": 7 })
                .as_object()
                .unwrap()
                .clone();
        assert_eq!(differences(&recorded, &live), Vec::new());
    }

    #[test]
    fn numbers_compare_by_value() {
        let recorded = serde_json::json!({ "threshold": 10, "desired_count": 2, "cidr_block": "10.0.0.0/16" });
        let live: Map<String, Json> = serde_json::json!({ "threshold": 10.0, "desired_count": 5 })
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            differences(&recorded, &live),
            vec![("desired_count".to_string(), Json::from(2), Json::from(5))]
        );
    }
}
