//! EC2: VPCs, subnets, gateways, addresses, routes, security groups, flow
//! logs and peering. Every resource is tagged at creation (tag
//! specifications), so an interrupted create is found again by its
//! `platform:id` tag.

use aws_sdk_ec2::types::{
    AttributeBooleanValue, DomainType, Filter, FlowLogsResourceType, IpPermission, IpRange, LogDestinationType,
    ResourceType, Tag, TagSpecification, TrafficType, UserIdGroupPair,
};

use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, wait_for};
use crate::outputs;

fn tag_spec(r: &Request<'_>, resource_type: ResourceType) -> TagSpecification {
    let mut tags: Vec<Tag> = r
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let name = r
        .props
        .opt_str("name")
        .map(str::to_string)
        .unwrap_or_else(|| r.id.to_string());
    tags.push(Tag::builder().key("Name").value(name).build());
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(tags))
        .build()
}

fn missing(op: &str, what: &str) -> ProviderError {
    ProviderError::new(op, format!("the response has no {what}"))
}

fn by_tag(r: &Request<'_>) -> Filter {
    Filter::builder().name("tag:platform:id").values(r.id).build()
}

pub async fn create_vpc(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let out = c
        .ec2
        .create_vpc()
        .cidr_block(p.str("cidr_block")?)
        .tag_specifications(tag_spec(r, ResourceType::Vpc))
        .send()
        .await
        .map_err(|e| aws_err("ec2:CreateVpc", e))?;
    let id = out
        .vpc()
        .and_then(|v| v.vpc_id())
        .ok_or_else(|| missing("ec2:CreateVpc", "vpc id"))?
        .to_string();
    set_vpc_attributes(c, &id, p).await?;
    Ok(outputs! { "id" => id, "cidr_block" => p.str("cidr_block")? })
}

async fn set_vpc_attributes(c: &Clients, id: &str, p: &Props<'_>) -> Result<(), ProviderError> {
    let yes = |b: bool| AttributeBooleanValue::builder().value(b).build();
    if let Some(b) = p.bool("enable_dns_support") {
        c.ec2
            .modify_vpc_attribute()
            .vpc_id(id)
            .enable_dns_support(yes(b))
            .send()
            .await
            .map_err(|e| aws_err("ec2:ModifyVpcAttribute", e))?;
    }
    if let Some(b) = p.bool("enable_dns_hostnames") {
        c.ec2
            .modify_vpc_attribute()
            .vpc_id(id)
            .enable_dns_hostnames(yes(b))
            .send()
            .await
            .map_err(|e| aws_err("ec2:ModifyVpcAttribute", e))?;
    }
    Ok(())
}

pub async fn create_subnet(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let out = c
        .ec2
        .create_subnet()
        .vpc_id(p.str("vpc_id")?)
        .cidr_block(p.str("cidr_block")?)
        .set_availability_zone(p.opt_str("availability_zone").map(str::to_string))
        .tag_specifications(tag_spec(r, ResourceType::Subnet))
        .send()
        .await
        .map_err(|e| aws_err("ec2:CreateSubnet", e))?;
    let id = out
        .subnet()
        .and_then(|s| s.subnet_id())
        .ok_or_else(|| missing("ec2:CreateSubnet", "subnet id"))?
        .to_string();
    if p.bool("map_public_ip_on_launch") == Some(true) {
        c.ec2
            .modify_subnet_attribute()
            .subnet_id(&id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .map_err(|e| aws_err("ec2:ModifySubnetAttribute", e))?;
    }
    Ok(outputs! { "id" => id })
}

pub async fn create_igw(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let out = c
        .ec2
        .create_internet_gateway()
        .tag_specifications(tag_spec(r, ResourceType::InternetGateway))
        .send()
        .await
        .map_err(|e| aws_err("ec2:CreateInternetGateway", e))?;
    let id = out
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .ok_or_else(|| missing("ec2:CreateInternetGateway", "gateway id"))?
        .to_string();
    attach_igw(c, &id, r.props.str("vpc_id")?).await?;
    Ok(outputs! { "id" => id })
}

async fn attach_igw(c: &Clients, id: &str, vpc: &str) -> Result<(), ProviderError> {
    match c
        .ec2
        .attach_internet_gateway()
        .internet_gateway_id(id)
        .vpc_id(vpc)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = aws_err("ec2:AttachInternetGateway", e);
            // Attached already (a resumed run): fine.
            if e.code.as_deref() == Some("Resource.AlreadyAssociated") {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

pub async fn create_eip(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let out = c
        .ec2
        .allocate_address()
        .domain(DomainType::Vpc)
        .tag_specifications(tag_spec(r, ResourceType::ElasticIp))
        .send()
        .await
        .map_err(|e| aws_err("ec2:AllocateAddress", e))?;
    Ok(outputs! {
        "allocation_id" => out.allocation_id().ok_or_else(|| missing("ec2:AllocateAddress", "allocation id"))?,
        "public_ip" => out.public_ip().unwrap_or_default(),
    })
}

pub async fn create_nat(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let out = c
        .ec2
        .create_nat_gateway()
        .subnet_id(p.str("subnet_id")?)
        .allocation_id(p.str("allocation_id")?)
        .client_token(&r.token)
        .tag_specifications(tag_spec(r, ResourceType::Natgateway))
        .send()
        .await
        .map_err(|e| aws_err("ec2:CreateNatGateway", e))?;
    let id = out
        .nat_gateway()
        .and_then(|n| n.nat_gateway_id())
        .ok_or_else(|| missing("ec2:CreateNatGateway", "gateway id"))?
        .to_string();
    wait_nat(aws, c, &id, "available").await?;
    Ok(outputs! { "id" => id })
}

async fn wait_nat(aws: &Aws, c: &Clients, id: &str, state: &str) -> Result<(), ProviderError> {
    wait_for(
        aws,
        &format!("NAT gateway {id} becoming {state}"),
        "ec2:DescribeNatGateways",
        || async {
            let out = c
                .ec2
                .describe_nat_gateways()
                .nat_gateway_ids(id)
                .send()
                .await
                .map_err(|e| aws_err("ec2:DescribeNatGateways", e))?;
            let current = out
                .nat_gateways()
                .first()
                .and_then(|n| n.state())
                .map(|s| s.as_str().to_string());
            match current.as_deref() {
                Some(s) if s == state => Ok(Some(())),
                Some("failed") if state == "available" => Err(ProviderError::new(
                    "ec2:CreateNatGateway",
                    format!("NAT gateway {id} failed"),
                )),
                None if state == "deleted" => Ok(Some(())),
                _ => Ok(None),
            }
        },
    )
    .await
}

pub async fn create_route_table(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let out = c
        .ec2
        .create_route_table()
        .vpc_id(p.str("vpc_id")?)
        .tag_specifications(tag_spec(r, ResourceType::RouteTable))
        .send()
        .await
        .map_err(|e| aws_err("ec2:CreateRouteTable", e))?;
    let id = out
        .route_table()
        .and_then(|t| t.route_table_id())
        .ok_or_else(|| missing("ec2:CreateRouteTable", "route table id"))?
        .to_string();
    for route in p.objs("routes") {
        create_route(c, &id, &route).await?;
    }
    Ok(outputs! { "id" => id })
}

async fn create_route(c: &Clients, table: &str, route: &Props<'_>) -> Result<(), ProviderError> {
    c.ec2
        .create_route()
        .route_table_id(table)
        .destination_cidr_block(route.str("destination_cidr_block")?)
        .set_gateway_id(route.opt_str("gateway_id").map(str::to_string))
        .set_nat_gateway_id(route.opt_str("nat_gateway_id").map(str::to_string))
        .set_vpc_peering_connection_id(route.opt_str("vpc_peering_connection_id").map(str::to_string))
        .send()
        .await
        .map_err(|e| aws_err("ec2:CreateRoute", e))?;
    Ok(())
}

/// Change a route table's routes in place: remove the routes no longer
/// planned (or planned differently), add the new ones.
pub async fn update_route_table(
    c: &Clients,
    r: &Request<'_>,
    old: &serde_json::Value,
    outputs: &Outputs,
) -> Result<Outputs, ProviderError> {
    let table = outputs.get("id").and_then(|v| v.as_str()).unwrap_or_default();
    let old = Props::new(old, r.kind);
    let before = old.objs("routes");
    let after = r.props.objs("routes");
    let same = |a: &Props<'_>, b: &Props<'_>| a.raw() == b.raw();
    for route in before.iter().filter(|o| !after.iter().any(|n| same(o, n))) {
        let result = c
            .ec2
            .delete_route()
            .route_table_id(table)
            .destination_cidr_block(route.str("destination_cidr_block")?)
            .send()
            .await;
        if let Err(e) = result {
            let e = aws_err("ec2:DeleteRoute", e);
            if !e.is_not_found() {
                return Err(e);
            }
        }
    }
    for route in after.iter().filter(|n| !before.iter().any(|o| same(o, n))) {
        create_route(c, table, route).await?;
    }
    Ok(outputs.clone())
}

pub async fn create_rta(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let out = c
        .ec2
        .associate_route_table()
        .route_table_id(r.props.str("route_table_id")?)
        .subnet_id(r.props.str("subnet_id")?)
        .send()
        .await
        .map_err(|e| aws_err("ec2:AssociateRouteTable", e))?;
    Ok(outputs! { "id" => out.association_id().ok_or_else(|| missing("ec2:AssociateRouteTable", "association id"))? })
}

pub async fn create_sg(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let out = c
        .ec2
        .create_security_group()
        .group_name(p.str("group_name")?)
        .description(p.str("description")?)
        .vpc_id(p.str("vpc_id")?)
        .tag_specifications(tag_spec(r, ResourceType::SecurityGroup))
        .send()
        .await
        .map_err(|e| aws_err("ec2:CreateSecurityGroup", e))?;
    let id = out
        .group_id()
        .ok_or_else(|| missing("ec2:CreateSecurityGroup", "group id"))?
        .to_string();
    let mut permissions = Vec::new();
    for rule in p.objs("ingress") {
        let mut perm = IpPermission::builder()
            .ip_protocol(rule.str("protocol")?)
            .from_port(rule.i32("from_port")?)
            .to_port(rule.i32("to_port")?);
        if let Some(cidr) = rule.opt_str("cidr_ipv4") {
            perm = perm.ip_ranges(IpRange::builder().cidr_ip(cidr).build());
        }
        if let Some(source) = rule.opt_str("source_security_group_id") {
            perm = perm.user_id_group_pairs(UserIdGroupPair::builder().group_id(source).build());
        }
        permissions.push(perm.build());
    }
    if !permissions.is_empty() {
        c.ec2
            .authorize_security_group_ingress()
            .group_id(&id)
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .map_err(|e| aws_err("ec2:AuthorizeSecurityGroupIngress", e))?;
    }
    Ok(outputs! { "id" => id })
}

pub async fn create_flow_log(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let out = c
        .ec2
        .create_flow_logs()
        .resource_ids(p.str("resource_id")?)
        .resource_type(FlowLogsResourceType::Vpc)
        .traffic_type(TrafficType::from(p.opt_str("traffic_type").unwrap_or("ALL")))
        .log_destination_type(LogDestinationType::CloudWatchLogs)
        .log_group_name(p.str("log_group_name")?)
        .deliver_logs_permission_arn(p.str("deliver_logs_permission_arn")?)
        .client_token(&r.token)
        .tag_specifications(tag_spec(r, ResourceType::VpcFlowLog))
        .send()
        .await
        .map_err(|e| aws_err("ec2:CreateFlowLogs", e))?;
    let id = out
        .flow_log_ids()
        .first()
        .ok_or_else(|| missing("ec2:CreateFlowLogs", "flow log id"))?;
    Ok(outputs! { "id" => id.as_str() })
}

pub async fn create_peering(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let peer_region = p.str("peer_region")?;
    let out = c
        .ec2
        .create_vpc_peering_connection()
        .vpc_id(p.str("vpc_id")?)
        .peer_vpc_id(p.str("peer_vpc_id")?)
        .peer_region(peer_region)
        .tag_specifications(tag_spec(r, ResourceType::VpcPeeringConnection))
        .send()
        .await
        .map_err(|e| aws_err("ec2:CreateVpcPeeringConnection", e))?;
    let id = out
        .vpc_peering_connection()
        .and_then(|v| v.vpc_peering_connection_id())
        .ok_or_else(|| missing("ec2:CreateVpcPeeringConnection", "peering id"))?
        .to_string();
    if p.bool("auto_accept") == Some(true) {
        aws.region(peer_region)
            .ec2
            .accept_vpc_peering_connection()
            .vpc_peering_connection_id(&id)
            .send()
            .await
            .map_err(|e| aws_err("ec2:AcceptVpcPeeringConnection", e))?;
    }
    Ok(outputs! { "id" => id })
}

/// Look for a resource an interrupted run created, by its `platform:id` tag.
pub async fn find(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    let id = |s: Option<&str>| s.map(|s| outputs! { "id" => s });
    Ok(match r.kind {
        "aws.ec2.vpc" => {
            let out = c
                .ec2
                .describe_vpcs()
                .filters(by_tag(r))
                .send()
                .await
                .map_err(|e| aws_err("ec2:DescribeVpcs", e))?;
            match out.vpcs().first().and_then(|v| v.vpc_id()) {
                Some(vpc) => {
                    // The attributes may not have been set before the interruption.
                    set_vpc_attributes(c, vpc, &r.props).await?;
                    Some(outputs! { "id" => vpc, "cidr_block" => r.props.str("cidr_block")? })
                }
                None => None,
            }
        }
        "aws.ec2.subnet" => {
            let out = c
                .ec2
                .describe_subnets()
                .filters(by_tag(r))
                .send()
                .await
                .map_err(|e| aws_err("ec2:DescribeSubnets", e))?;
            id(out.subnets().first().and_then(|s| s.subnet_id()))
        }
        "aws.ec2.internet-gateway" => {
            let out = c
                .ec2
                .describe_internet_gateways()
                .filters(by_tag(r))
                .send()
                .await
                .map_err(|e| aws_err("ec2:DescribeInternetGateways", e))?;
            match out.internet_gateways().first().and_then(|g| g.internet_gateway_id()) {
                Some(igw) => {
                    attach_igw(c, igw, r.props.str("vpc_id")?).await?;
                    id(Some(igw))
                }
                None => None,
            }
        }
        "aws.ec2.eip" => {
            let out = c
                .ec2
                .describe_addresses()
                .filters(by_tag(r))
                .send()
                .await
                .map_err(|e| aws_err("ec2:DescribeAddresses", e))?;
            out.addresses().first().and_then(|a| {
                Some(outputs! { "allocation_id" => a.allocation_id()?, "public_ip" => a.public_ip().unwrap_or_default() })
            })
        }
        "aws.ec2.nat-gateway" => {
            let out = c
                .ec2
                .describe_nat_gateways()
                .filter(by_tag(r))
                .send()
                .await
                .map_err(|e| aws_err("ec2:DescribeNatGateways", e))?;
            let live = out.nat_gateways().iter().find(|n| {
                !matches!(
                    n.state().map(|s| s.as_str()),
                    Some("deleted") | Some("deleting") | Some("failed")
                )
            });
            id(live.and_then(|n| n.nat_gateway_id()))
        }
        "aws.ec2.route-table" => {
            let out = c
                .ec2
                .describe_route_tables()
                .filters(by_tag(r))
                .send()
                .await
                .map_err(|e| aws_err("ec2:DescribeRouteTables", e))?;
            match out.route_tables().first() {
                // Routes may be missing after an interruption: replace it.
                Some(t) if t.routes().len() < 1 + r.props.objs("routes").len() => {
                    if let Some(rt) = t.route_table_id() {
                        let _ = c.ec2.delete_route_table().route_table_id(rt).send().await;
                    }
                    None
                }
                Some(t) => id(t.route_table_id()),
                None => None,
            }
        }
        "aws.ec2.route-table-association" => {
            let out = c
                .ec2
                .describe_route_tables()
                .route_table_ids(r.props.str("route_table_id")?)
                .send()
                .await
                .map_err(|e| aws_err("ec2:DescribeRouteTables", e))?;
            let subnet = r.props.str("subnet_id")?;
            let assoc = out
                .route_tables()
                .iter()
                .flat_map(|t| t.associations())
                .find(|a| a.subnet_id() == Some(subnet));
            id(assoc.and_then(|a| a.route_table_association_id()))
        }
        "aws.ec2.security-group" => {
            let out = c
                .ec2
                .describe_security_groups()
                .filters(by_tag(r))
                .send()
                .await
                .map_err(|e| aws_err("ec2:DescribeSecurityGroups", e))?;
            match out.security_groups().first() {
                // Its rules may be missing after an interruption: replace it.
                Some(g) if g.ip_permissions().is_empty() && !r.props.objs("ingress").is_empty() => {
                    if let Some(gid) = g.group_id() {
                        let _ = c.ec2.delete_security_group().group_id(gid).send().await;
                    }
                    None
                }
                Some(g) => id(g.group_id()),
                None => None,
            }
        }
        "aws.ec2.flow-log" => {
            let out = c
                .ec2
                .describe_flow_logs()
                .filter(by_tag(r))
                .send()
                .await
                .map_err(|e| aws_err("ec2:DescribeFlowLogs", e))?;
            id(out.flow_logs().first().and_then(|f| f.flow_log_id()))
        }
        "aws.ec2.vpc-peering-connection" => {
            let out = c
                .ec2
                .describe_vpc_peering_connections()
                .filters(by_tag(r))
                .send()
                .await
                .map_err(|e| aws_err("ec2:DescribeVpcPeeringConnections", e))?;
            id(out
                .vpc_peering_connections()
                .first()
                .and_then(|v| v.vpc_peering_connection_id()))
        }
        other => return Err(ProviderError::new("platform", format!("no EC2 provider for `{other}`"))),
    })
}

pub async fn delete(aws: &Aws, c: &Clients, kind: &str, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
    match kind {
        "aws.ec2.vpc" => {
            c.ec2
                .delete_vpc()
                .vpc_id(o.str("id")?)
                .send()
                .await
                .map_err(|e| aws_err("ec2:DeleteVpc", e))?;
        }
        "aws.ec2.subnet" => {
            c.ec2
                .delete_subnet()
                .subnet_id(o.str("id")?)
                .send()
                .await
                .map_err(|e| aws_err("ec2:DeleteSubnet", e))?;
        }
        "aws.ec2.internet-gateway" => {
            let igw = o.str("id")?;
            let mut vpcs: Vec<String> = p.opt_str("vpc_id").map(str::to_string).into_iter().collect();
            if vpcs.is_empty() {
                // Found by a sweep, without properties: ask what it is attached to.
                let out = c
                    .ec2
                    .describe_internet_gateways()
                    .internet_gateway_ids(igw)
                    .send()
                    .await
                    .map_err(|e| aws_err("ec2:DescribeInternetGateways", e))?;
                vpcs = out
                    .internet_gateways()
                    .iter()
                    .flat_map(|g| g.attachments())
                    .filter_map(|a| a.vpc_id().map(str::to_string))
                    .collect();
            }
            for vpc in &vpcs {
                let detached = c
                    .ec2
                    .detach_internet_gateway()
                    .internet_gateway_id(igw)
                    .vpc_id(vpc)
                    .send()
                    .await;
                if let Err(e) = detached {
                    let e = aws_err("ec2:DetachInternetGateway", e);
                    if !e.is_not_found() && e.code.as_deref() != Some("Gateway.NotAttached") {
                        return Err(e);
                    }
                }
            }
            c.ec2
                .delete_internet_gateway()
                .internet_gateway_id(igw)
                .send()
                .await
                .map_err(|e| aws_err("ec2:DeleteInternetGateway", e))?;
        }
        "aws.ec2.eip" => {
            c.ec2
                .release_address()
                .allocation_id(o.str("allocation_id")?)
                .send()
                .await
                .map_err(|e| aws_err("ec2:ReleaseAddress", e))?;
        }
        "aws.ec2.nat-gateway" => {
            let id = o.str("id")?;
            c.ec2
                .delete_nat_gateway()
                .nat_gateway_id(id)
                .send()
                .await
                .map_err(|e| aws_err("ec2:DeleteNatGateway", e))?;
            wait_nat(aws, c, id, "deleted").await?;
        }
        "aws.ec2.route-table" => {
            c.ec2
                .delete_route_table()
                .route_table_id(o.str("id")?)
                .send()
                .await
                .map_err(|e| aws_err("ec2:DeleteRouteTable", e))?;
        }
        "aws.ec2.route-table-association" => {
            c.ec2
                .disassociate_route_table()
                .association_id(o.str("id")?)
                .send()
                .await
                .map_err(|e| aws_err("ec2:DisassociateRouteTable", e))?;
        }
        "aws.ec2.security-group" => {
            c.ec2
                .delete_security_group()
                .group_id(o.str("id")?)
                .send()
                .await
                .map_err(|e| aws_err("ec2:DeleteSecurityGroup", e))?;
        }
        "aws.ec2.flow-log" => {
            c.ec2
                .delete_flow_logs()
                .flow_log_ids(o.str("id")?)
                .send()
                .await
                .map_err(|e| aws_err("ec2:DeleteFlowLogs", e))?;
        }
        "aws.ec2.vpc-peering-connection" => {
            c.ec2
                .delete_vpc_peering_connection()
                .vpc_peering_connection_id(o.str("id")?)
                .send()
                .await
                .map_err(|e| aws_err("ec2:DeleteVpcPeeringConnection", e))?;
        }
        other => return Err(ProviderError::new("platform", format!("no EC2 provider for `{other}`"))),
    }
    Ok(())
}
