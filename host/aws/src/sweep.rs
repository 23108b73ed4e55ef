//! Leftovers: resources tagged for a blueprint environment that its state
//! does not know (a lost state file, a bug), found through the Resource
//! Groups Tagging API and deleted by `down` where their ARN says enough.

use aws_sdk_resourcegroupstagging::types::TagFilter;
use serde_json::Value as Json;

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
    if arn.contains(":key/") && arn.contains(":kms:") {
        // A key scheduled for deletion keeps its tags for 7 to 30 days.
        return match c.kms.describe_key().key_id(arn).send().await {
            Ok(out) => Ok(out
                .key_metadata()
                .and_then(|m| m.key_state())
                .is_some_and(|s| matches!(s.as_str(), "PendingDeletion" | "PendingReplicaDeletion"))),
            Err(e) => {
                let e = aws_err("kms:DescribeKey", e);
                if e.is_not_found() { Ok(true) } else { Err(e) }
            }
        };
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
/// resource an ARN names, when the ARN says enough (each type recognises its
/// own ARNs: [`super::registry::ResourceType::from_arn`]).
pub fn from_arn(arn: &str) -> Option<(&'static str, Json)> {
    super::registry::registry().from_arn(arn)
}
