//! Leftovers: resources tagged for a blueprint environment that its state
//! does not know (a lost state file, a bug), found through the Resource
//! Groups Tagging API and deleted by `down` where their ARN says enough.

use aws_sdk_resourcegroupstagging::types::TagFilter;
use serde_json::{Value as Json, json};

use super::{Aws, ProviderError, aws_err};

/// Live resources tagged `platform:blueprint` = `blueprint` and
/// `platform:environment` = `env` in `region`, by ARN.
pub async fn tagged(aws: &Aws, region: &str, blueprint: &str, env: &str) -> Result<Vec<String>, ProviderError> {
    let c = aws.region(region);
    let mut arns = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = c
            .tagging
            .get_resources()
            .tag_filters(TagFilter::builder().key("platform:blueprint").values(blueprint).build())
            .tag_filters(TagFilter::builder().key("platform:environment").values(env).build())
            .set_pagination_token(token.clone())
            .send()
            .await
            .map_err(|e| aws_err("tag:GetResources", e))?;
        arns.extend(
            out.resource_tag_mapping_list()
                .iter()
                .filter_map(|m| m.resource_arn().map(str::to_string)),
        );
        match out.pagination_token().filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    let mut live = Vec::new();
    for arn in arns {
        if !terminal(aws, &arn).await? {
            live.push(arn);
        }
    }
    Ok(live)
}

/// Whether a listed resource is only a tombstone (AWS keeps deleted NAT
/// gateways, peering connections and inactive ECS resources visible).
async fn terminal(aws: &Aws, arn: &str) -> Result<bool, ProviderError> {
    let region = arn.split(':').nth(3).unwrap_or("us-east-1");
    let c = aws.region(region);
    let last = arn.rsplit('/').next().unwrap_or_default();
    if arn.contains(":natgateway/") {
        let out = c
            .ec2
            .describe_nat_gateways()
            .nat_gateway_ids(last)
            .send()
            .await
            .map_err(|e| aws_err("ec2:DescribeNatGateways", e))?;
        return Ok(out
            .nat_gateways()
            .iter()
            .all(|n| matches!(n.state().map(|s| s.as_str()), Some("deleted" | "deleting"))));
    }
    if arn.contains(":vpc-peering-connection/") {
        let out = c
            .ec2
            .describe_vpc_peering_connections()
            .vpc_peering_connection_ids(last)
            .send()
            .await
            .map_err(|e| aws_err("ec2:DescribeVpcPeeringConnections", e))?;
        return Ok(out.vpc_peering_connections().iter().all(|p| {
            matches!(
                p.status().and_then(|s| s.code()).map(|c| c.as_str()),
                Some("deleted" | "deleting")
            )
        }));
    }
    if arn.contains(":cluster/") && arn.contains(":ecs:") {
        let out = c
            .ecs
            .describe_clusters()
            .clusters(arn)
            .send()
            .await
            .map_err(|e| aws_err("ecs:DescribeClusters", e))?;
        return Ok(out.clusters().iter().all(|c| c.status() != Some("ACTIVE")));
    }
    if arn.contains(":service/") && arn.contains(":ecs:") {
        let cluster = arn.split('/').nth(1).unwrap_or_default();
        let out = c
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(arn)
            .send()
            .await
            .map_err(|e| aws_err("ecs:DescribeServices", e))?;
        return Ok(out.services().iter().all(|s| s.status() != Some("ACTIVE")));
    }
    if arn.contains(":task-definition/") {
        let out = c
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| aws_err("ecs:DescribeTaskDefinition", e))?;
        return Ok(out.task_definition().and_then(|t| t.status()).map(|s| s.as_str()) != Some("ACTIVE"));
    }
    Ok(false)
}

/// The resource type and the outputs a provider needs to delete the
/// resource an ARN names, when the ARN says enough.
pub fn from_arn(arn: &str) -> Option<(&'static str, Json)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let (service, resource) = (*parts.get(2)?, *parts.get(5)?);
    let after = |prefix: &str| resource.strip_prefix(prefix).map(str::to_string);
    Some(match service {
        "ec2" => {
            let (ty, id) = resource.split_once('/')?;
            let kind = match ty {
                "vpc" => "aws.ec2.vpc",
                "subnet" => "aws.ec2.subnet",
                "internet-gateway" => "aws.ec2.internet-gateway",
                "security-group" => "aws.ec2.security-group",
                "route-table" => "aws.ec2.route-table",
                "natgateway" => "aws.ec2.nat-gateway",
                "vpc-flow-log" => "aws.ec2.flow-log",
                "vpc-peering-connection" => "aws.ec2.vpc-peering-connection",
                "elastic-ip" => return Some(("aws.ec2.eip", json!({ "allocation_id": id }))),
                _ => return None,
            };
            (kind, json!({ "id": id }))
        }
        "elasticloadbalancing" if resource.starts_with("loadbalancer/") => {
            ("aws.elbv2.load-balancer", json!({ "arn": arn }))
        }
        "elasticloadbalancing" if resource.starts_with("targetgroup/") => {
            ("aws.elbv2.target-group", json!({ "arn": arn }))
        }
        "elasticloadbalancing" if resource.starts_with("listener/") => ("aws.elbv2.listener", json!({ "arn": arn })),
        "rds" => match after("db:") {
            Some(id) => ("aws.rds.db-instance", json!({ "identifier": id })),
            None => ("aws.rds.db-subnet-group", json!({ "name": after("subgrp:")? })),
        },
        "secretsmanager" => ("aws.secretsmanager.secret", json!({ "arn": arn })),
        "sns" if !resource.contains(':') => ("aws.sns.topic", json!({ "arn": arn })),
        "cloudwatch" => ("aws.cloudwatch.metric-alarm", json!({ "name": after("alarm:")? })),
        "logs" => (
            "aws.logs.log-group",
            json!({ "name": after("log-group:")?.trim_end_matches(":*").to_string() }),
        ),
        "ecs" if resource.starts_with("cluster/") => ("aws.ecs.cluster", json!({ "name": after("cluster/")? })),
        "ecs" if resource.starts_with("service/") => {
            let (cluster, name) = after("service/")?
                .split_once('/')
                .map(|(c, n)| (c.to_string(), n.to_string()))?;
            ("aws.ecs.service", json!({ "cluster": cluster, "name": name }))
        }
        "ecr" => ("aws.ecr.repository", json!({ "name": after("repository/")? })),
        "route53" if resource.starts_with("healthcheck/") => {
            ("aws.route53.health-check", json!({ "id": after("healthcheck/")? }))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_map_to_types_and_ids() {
        let check = |arn: &str, kind: &str, outputs: Json| assert_eq!(from_arn(arn), Some((kind, outputs)), "{arn}");
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
            "arn:aws:ecs:us-east-1:1:service/c/api",
            "aws.ecs.service",
            json!({ "cluster": "c", "name": "api" }),
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
        assert_eq!(from_arn("arn:aws:s3:::bucket"), None);
    }
}
