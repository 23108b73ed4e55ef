//! EC2: VPCs, subnets, gateways, addresses, routes, security groups, flow
//! logs and peering. Every resource is tagged at creation (tag
//! specifications), so an interrupted create is found again by its
//! `platform:id` tag.

use aws_sdk_ec2::types::{
    AttributeBooleanValue, DomainType, Filter, FlowLogsResourceType, IpPermission, IpRange, LogDestinationType,
    ResourceType as Ec2ResourceType, Tag, TagSpecification, TrafficType, UserIdGroupPair,
};
use serde_json::Value as Json;

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, not_in_place, only};
use super::{
    Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, retry_while, role_not_ready, wait_for, wait_within,
};
use crate::outputs;

fn tag_spec(r: &Request<'_>, resource_type: Ec2ResourceType) -> TagSpecification {
    let mut tags = crate::sdk_tags!(r, Tag);
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

/// EC2 is eventually consistent: an id it has just returned (a VPC, subnet,
/// gateway, group, table, address) may be unknown to the next call for a
/// moment, which then fails with `Invalid...ID.NotFound`. Calls that take
/// such ids retry that for the consistency limit.
async fn settled<T, F, Fut>(aws: &Aws, call: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    retry_while(aws, aws.consistency_timeout, ProviderError::is_not_found, call).await
}

/// Deleting a subnet, group or VPC, or detaching a gateway, fails with
/// `DependencyViolation` while network interfaces of a deleted load
/// balancer or of stopped tasks linger (minutes on AWS). Retry for the
/// dependency limit, then name the interfaces still there.
async fn once_free<F, Fut>(aws: &Aws, c: &Clients, blocker: Filter, call: F) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), ProviderError>>,
{
    match retry_while(aws, aws.dependency_timeout, |e| e.is_code("DependencyViolation"), call).await {
        Err(e) if e.is_code("DependencyViolation") => {
            let enis = match c.ec2.describe_network_interfaces().filters(blocker).send().await {
                Ok(out) => out
                    .network_interfaces()
                    .iter()
                    .map(|n| {
                        format!(
                            "{} ({})",
                            n.network_interface_id().unwrap_or("?"),
                            n.description().filter(|d| !d.is_empty()).unwrap_or("no description")
                        )
                    })
                    .collect::<Vec<_>>(),
                Err(_) => Vec::new(),
            };
            let blocking = if enis.is_empty() {
                "no network interface is listed any more; run down again".to_string()
            } else {
                format!("network interfaces still there: {}", enis.join(", "))
            };
            Err(ProviderError {
                message: format!("{}; {blocking}", e.message),
                ..e
            })
        }
        other => other,
    }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn by_tag(r: &Request<'_>) -> Filter {
    Filter::builder().name("tag:platform:id").values(r.id).build()
}

pub async fn create_vpc(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let out = c
        .ec2
        .create_vpc()
        .cidr_block(p.str("cidr_block")?)
        .tag_specifications(tag_spec(r, Ec2ResourceType::Vpc))
        .send()
        .await
        .map_err(|e| aws_err("ec2:CreateVpc", e))?;
    let id = out
        .vpc()
        .and_then(|v| v.vpc_id())
        .ok_or_else(|| missing("ec2:CreateVpc", "vpc id"))?
        .to_string();
    set_vpc_attributes(aws, c, &id, p).await?;
    Ok(outputs! { "id" => id, "cidr_block" => p.str("cidr_block")? })
}

async fn set_vpc_attributes(aws: &Aws, c: &Clients, id: &str, p: &Props<'_>) -> Result<(), ProviderError> {
    let yes = |b: bool| AttributeBooleanValue::builder().value(b).build();
    if let Some(b) = p.bool("enable_dns_support") {
        settled(aws, || async {
            c.ec2
                .modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_support(yes(b))
                .send()
                .await
                .map_err(|e| aws_err("ec2:ModifyVpcAttribute", e))
        })
        .await?;
    }
    if let Some(b) = p.bool("enable_dns_hostnames") {
        settled(aws, || async {
            c.ec2
                .modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_hostnames(yes(b))
                .send()
                .await
                .map_err(|e| aws_err("ec2:ModifyVpcAttribute", e))
        })
        .await?;
    }
    Ok(())
}

pub async fn create_subnet(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let (vpc, cidr) = (p.str("vpc_id")?, p.str("cidr_block")?);
    let zone = match (p.opt_str("availability_zone"), p.opt_i64("availability_zone_index")) {
        (Some(name), _) => Some(name.to_string()),
        (None, Some(index)) => {
            let zones = aws.zones(r.region).await?;
            Some(zones.get(index as usize).cloned().ok_or_else(|| {
                ProviderError::property(
                    "ec2:CreateSubnet",
                    format!(
                        "{} has {} availability zones available to this account ({}), so it has no zone number {}; lower az_count",
                        r.region,
                        zones.len(),
                        zones.join(", "),
                        index + 1
                    ),
                )
            })?)
        }
        (None, None) => None,
    };
    let out = settled(aws, || async {
        c.ec2
            .create_subnet()
            .vpc_id(vpc)
            .cidr_block(cidr)
            .set_availability_zone(zone.clone())
            .tag_specifications(tag_spec(r, Ec2ResourceType::Subnet))
            .send()
            .await
            .map_err(|e| aws_err("ec2:CreateSubnet", e))
    })
    .await?;
    let id = out
        .subnet()
        .and_then(|s| s.subnet_id())
        .ok_or_else(|| missing("ec2:CreateSubnet", "subnet id"))?
        .to_string();
    let zone = out
        .subnet()
        .and_then(|s| s.availability_zone())
        .unwrap_or_default()
        .to_string();
    if p.bool("map_public_ip_on_launch") == Some(true) {
        settled(aws, || async {
            c.ec2
                .modify_subnet_attribute()
                .subnet_id(&id)
                .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
                .send()
                .await
                .map_err(|e| aws_err("ec2:ModifySubnetAttribute", e))
        })
        .await?;
    }
    Ok(outputs! { "id" => id, "availability_zone" => zone })
}

pub async fn create_igw(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let out = c
        .ec2
        .create_internet_gateway()
        .tag_specifications(tag_spec(r, Ec2ResourceType::InternetGateway))
        .send()
        .await
        .map_err(|e| aws_err("ec2:CreateInternetGateway", e))?;
    let id = out
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .ok_or_else(|| missing("ec2:CreateInternetGateway", "gateway id"))?
        .to_string();
    attach_igw(aws, c, &id, r.props.str("vpc_id")?).await?;
    Ok(outputs! { "id" => id })
}

async fn attach_igw(aws: &Aws, c: &Clients, id: &str, vpc: &str) -> Result<(), ProviderError> {
    let attached = settled(aws, || async {
        c.ec2
            .attach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc)
            .send()
            .await
            .map_err(|e| aws_err("ec2:AttachInternetGateway", e))
    })
    .await;
    match attached {
        Ok(_) => Ok(()),
        // Attached already (a resumed run): fine.
        Err(e) if e.is_code("Resource.AlreadyAssociated") => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn create_eip(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let out = c
        .ec2
        .allocate_address()
        .domain(DomainType::Vpc)
        .tag_specifications(tag_spec(r, Ec2ResourceType::ElasticIp))
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
    let (subnet, allocation) = (p.str("subnet_id")?, p.str("allocation_id")?);
    let out = settled(aws, || async {
        c.ec2
            .create_nat_gateway()
            .subnet_id(subnet)
            .allocation_id(allocation)
            .client_token(&r.token)
            .tag_specifications(tag_spec(r, Ec2ResourceType::Natgateway))
            .send()
            .await
            .map_err(|e| aws_err("ec2:CreateNatGateway", e))
    })
    .await?;
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

pub async fn create_route_table(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let vpc = p.str("vpc_id")?;
    let out = settled(aws, || async {
        c.ec2
            .create_route_table()
            .vpc_id(vpc)
            .tag_specifications(tag_spec(r, Ec2ResourceType::RouteTable))
            .send()
            .await
            .map_err(|e| aws_err("ec2:CreateRouteTable", e))
    })
    .await?;
    let id = out
        .route_table()
        .and_then(|t| t.route_table_id())
        .ok_or_else(|| missing("ec2:CreateRouteTable", "route table id"))?
        .to_string();
    for route in p.objs("routes") {
        create_route(aws, c, &id, &route).await?;
    }
    Ok(outputs! { "id" => id })
}

async fn create_route(aws: &Aws, c: &Clients, table: &str, route: &Props<'_>) -> Result<(), ProviderError> {
    let destination = route.str("destination_cidr_block")?;
    settled(aws, || async {
        c.ec2
            .create_route()
            .route_table_id(table)
            .destination_cidr_block(destination)
            .set_gateway_id(route.opt_str("gateway_id").map(str::to_string))
            .set_nat_gateway_id(route.opt_str("nat_gateway_id").map(str::to_string))
            .set_vpc_peering_connection_id(route.opt_str("vpc_peering_connection_id").map(str::to_string))
            .send()
            .await
            .map_err(|e| aws_err("ec2:CreateRoute", e))
    })
    .await?;
    Ok(())
}

/// Change a route table's routes in place: remove the routes no longer
/// planned (or planned differently), add the new ones.
pub async fn update_route_table(
    aws: &Aws,
    c: &Clients,
    r: &Request<'_>,
    old: &Json,
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
        create_route(aws, c, table, route).await?;
    }
    Ok(outputs.clone())
}

pub async fn create_rta(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let (table, subnet) = (r.props.str("route_table_id")?, r.props.str("subnet_id")?);
    let out = settled(aws, || async {
        c.ec2
            .associate_route_table()
            .route_table_id(table)
            .subnet_id(subnet)
            .send()
            .await
            .map_err(|e| aws_err("ec2:AssociateRouteTable", e))
    })
    .await?;
    Ok(outputs! { "id" => out.association_id().ok_or_else(|| missing("ec2:AssociateRouteTable", "association id"))? })
}

pub async fn create_sg(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let (name, description, vpc) = (p.str("group_name")?, p.str("description")?, p.str("vpc_id")?);
    let out = settled(aws, || async {
        c.ec2
            .create_security_group()
            .group_name(name)
            .description(description)
            .vpc_id(vpc)
            .tag_specifications(tag_spec(r, Ec2ResourceType::SecurityGroup))
            .send()
            .await
            .map_err(|e| aws_err("ec2:CreateSecurityGroup", e))
    })
    .await?;
    let id = out
        .group_id()
        .ok_or_else(|| missing("ec2:CreateSecurityGroup", "group id"))?
        .to_string();
    let permissions = p
        .objs("ingress")
        .iter()
        .map(permission)
        .collect::<Result<Vec<_>, _>>()?;
    if !permissions.is_empty() {
        settled(aws, || async {
            c.ec2
                .authorize_security_group_ingress()
                .group_id(&id)
                .set_ip_permissions(Some(permissions.clone()))
                .send()
                .await
                .map_err(|e| aws_err("ec2:AuthorizeSecurityGroupIngress", e))
        })
        .await?;
    }
    Ok(outputs! { "id" => id })
}

fn permission(rule: &Props<'_>) -> Result<IpPermission, ProviderError> {
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
    Ok(perm.build())
}

/// Change a security group's ingress in place: authorize the new rules
/// first, then revoke the ones no longer planned, so traffic that stays
/// allowed is never cut (replacing a group in use by a database or a load
/// balancer is not possible anyway).
pub async fn update_sg(
    aws: &Aws,
    c: &Clients,
    r: &Request<'_>,
    old: &Json,
    outputs: &Outputs,
) -> Result<Outputs, ProviderError> {
    let group = outputs.get("id").and_then(|v| v.as_str()).unwrap_or_default();
    let old = Props::new(old, r.kind);
    let (before, after) = (old.objs("ingress"), r.props.objs("ingress"));
    let added = after
        .iter()
        .filter(|n| !before.iter().any(|o| o.raw() == n.raw()))
        .map(permission)
        .collect::<Result<Vec<_>, _>>()?;
    let removed = before
        .iter()
        .filter(|o| !after.iter().any(|n| o.raw() == n.raw()))
        .map(permission)
        .collect::<Result<Vec<_>, _>>()?;
    // One rule per call: AWS refuses a whole request when one of its rules
    // exists already (a resumed update), which would drop the others.
    for rule in added {
        let result = settled(aws, || async {
            c.ec2
                .authorize_security_group_ingress()
                .group_id(group)
                .ip_permissions(rule.clone())
                .send()
                .await
                .map_err(|e| aws_err("ec2:AuthorizeSecurityGroupIngress", e))
        })
        .await;
        match result {
            Err(e) if e.is_code("InvalidPermission.Duplicate") => {}
            other => {
                other?;
            }
        }
    }
    if !removed.is_empty() {
        let result = c
            .ec2
            .revoke_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(removed))
            .send()
            .await
            .map_err(|e| aws_err("ec2:RevokeSecurityGroupIngress", e));
        match result {
            Err(e) if e.is_code("InvalidPermission.NotFound") => {}
            other => {
                other?;
            }
        }
    }
    Ok(outputs.clone())
}

/// CreateFlowLogs fails outright (`InvalidParameter`) or answers 200 with a
/// failure per resource in `Unsuccessful`; a role created moments ago is
/// the usual cause ("Unable to assume given IAM role"), retried like the
/// other IAM propagation errors. A failed attempt made nothing, so the next
/// one takes a new client token (EC2 would otherwise answer the cached
/// failure); a lost answer to a successful one is found by `find` (tag).
pub async fn create_flow_log(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let (resource, group, role) = (
        p.str("resource_id")?,
        p.str("log_group_name")?,
        p.str("deliver_logs_permission_arn")?,
    );
    let transient = |e: &ProviderError| role_not_ready(e) || e.is_not_found();
    let attempt = std::sync::atomic::AtomicU32::new(0);
    retry_while(aws, aws.consistency_timeout, transient, || async {
        let token = match attempt.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => r.token.clone(),
            n => format!("{}-{n}", r.token),
        };
        let out = c
            .ec2
            .create_flow_logs()
            .resource_ids(resource)
            .resource_type(FlowLogsResourceType::Vpc)
            .traffic_type(TrafficType::from(p.opt_str("traffic_type").unwrap_or("ALL")))
            .log_destination_type(LogDestinationType::CloudWatchLogs)
            .log_group_name(group)
            .deliver_logs_permission_arn(role)
            .client_token(token)
            .tag_specifications(tag_spec(r, Ec2ResourceType::VpcFlowLog))
            .send()
            .await
            .map_err(|e| aws_err("ec2:CreateFlowLogs", e))?;
        if let Some(id) = out.flow_log_ids().first() {
            return Ok(outputs! { "id" => id.as_str() });
        }
        let failure = out.unsuccessful().first().and_then(|u| u.error());
        Err(ProviderError {
            code: failure.and_then(|f| f.code()).map(str::to_string),
            ..ProviderError::new(
                "ec2:CreateFlowLogs",
                failure.and_then(|f| f.message()).map_or_else(
                    || "the response has no flow log id and no error".to_string(),
                    str::to_string,
                ),
            )
        })
    })
    .await
}

pub async fn create_peering(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let peer_region = p.str("peer_region")?;
    let (vpc, peer_vpc) = (p.str("vpc_id")?, p.str("peer_vpc_id")?);
    let out = settled(aws, || async {
        c.ec2
            .create_vpc_peering_connection()
            .vpc_id(vpc)
            .peer_vpc_id(peer_vpc)
            .peer_region(peer_region)
            .tag_specifications(tag_spec(r, Ec2ResourceType::VpcPeeringConnection))
            .send()
            .await
            .map_err(|e| aws_err("ec2:CreateVpcPeeringConnection", e))
    })
    .await?;
    let id = out
        .vpc_peering_connection()
        .and_then(|v| v.vpc_peering_connection_id())
        .ok_or_else(|| missing("ec2:CreateVpcPeeringConnection", "peering id"))?
        .to_string();
    if p.bool("auto_accept") == Some(true) {
        accept_peering(aws, c, peer_region, &id).await?;
    }
    Ok(outputs! { "id" => id })
}

/// The status code of a peering as `client`'s region sees it; `None` while
/// that region does not know it yet.
async fn peering_status(client: &aws_sdk_ec2::Client, id: &str) -> Result<Option<String>, ProviderError> {
    match client
        .describe_vpc_peering_connections()
        .vpc_peering_connection_ids(id)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .vpc_peering_connections()
            .first()
            .and_then(|v| v.status())
            .and_then(|s| s.code())
            .map(|c| c.as_str().to_string())),
        Err(e) => {
            let e = aws_err("ec2:DescribeVpcPeeringConnections", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

/// Accept a peering in its peer region and wait until it is active. A
/// cross-region request starts as `initiating-request` and reaches the peer
/// region only when it becomes `pending-acceptance`; accepting before then
/// fails, and routes naming a peering that is never accepted carry nothing.
async fn accept_peering(aws: &Aws, c: &Clients, peer_region: &str, id: &str) -> Result<(), ProviderError> {
    let peer = aws.region(peer_region);
    let what = format!("VPC peering {id} becoming active");
    wait_within(
        aws,
        aws.consistency_timeout,
        &what,
        "ec2:AcceptVpcPeeringConnection",
        || async {
            match peering_status(&peer.ec2, id).await?.as_deref() {
                Some("active") => Ok(Some(())),
                Some("pending-acceptance") => {
                    match peer
                        .ec2
                        .accept_vpc_peering_connection()
                        .vpc_peering_connection_id(id)
                        .send()
                        .await
                    {
                        Ok(_) => {}
                        // Not yet visible to the accepter after all: wait.
                        Err(e) => {
                            let e = aws_err("ec2:AcceptVpcPeeringConnection", e);
                            if !e.is_not_found() && !e.is_code("InvalidStateTransition") {
                                return Err(e);
                            }
                        }
                    }
                    // The requester's side says active once the accept landed.
                    Ok((peering_status(&c.ec2, id).await?.as_deref() == Some("active")).then_some(()))
                }
                Some(s @ ("failed" | "rejected" | "expired" | "deleted" | "deleting")) => Err(ProviderError {
                    code: Some(format!("PeeringConnection.{s}")),
                    ..ProviderError::new("ec2:AcceptVpcPeeringConnection", format!("VPC peering {id} is {s}"))
                }),
                // initiating-request, provisioning, or not visible yet.
                _ => Ok(None),
            }
        },
    )
    .await
}

/// Look for a resource an interrupted run created, by its `platform:id` tag.
pub async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
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
            match out
                .vpcs()
                .iter()
                .filter_map(|v| v.vpc_id())
                .find(|v| !r.excluded(Some(v)))
            {
                Some(vpc) => {
                    // The attributes may not have been set before the interruption.
                    set_vpc_attributes(aws, c, vpc, &r.props).await?;
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
            id(out
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_id())
                .find(|s| !r.excluded(Some(s))))
        }
        "aws.ec2.internet-gateway" => {
            let out = c
                .ec2
                .describe_internet_gateways()
                .filters(by_tag(r))
                .send()
                .await
                .map_err(|e| aws_err("ec2:DescribeInternetGateways", e))?;
            match out
                .internet_gateways()
                .iter()
                .filter_map(|g| g.internet_gateway_id())
                .find(|g| !r.excluded(Some(g)))
            {
                Some(igw) => {
                    attach_igw(aws, c, igw, r.props.str("vpc_id")?).await?;
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
            out.addresses().iter().find(|a| !r.excluded(a.allocation_id())).and_then(|a| {
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
                !r.excluded(n.nat_gateway_id())
                    && !matches!(
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
            match out.route_tables().iter().find(|t| !r.excluded(t.route_table_id())) {
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
            match out.security_groups().iter().find(|g| !r.excluded(g.group_id())) {
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
            id(out
                .flow_logs()
                .iter()
                .filter_map(|f| f.flow_log_id())
                .find(|f| !r.excluded(Some(f))))
        }
        "aws.ec2.vpc-peering-connection" => {
            let out = c
                .ec2
                .describe_vpc_peering_connections()
                .filters(by_tag(r))
                .send()
                .await
                .map_err(|e| aws_err("ec2:DescribeVpcPeeringConnections", e))?;
            // Peerings that are gone stay visible for a while: skip them.
            let live = out.vpc_peering_connections().iter().find(|v| {
                !r.excluded(v.vpc_peering_connection_id())
                    && !matches!(
                        v.status().and_then(|s| s.code()).map(|c| c.as_str()),
                        Some("deleted" | "deleting" | "failed" | "rejected" | "expired")
                    )
            });
            match live.and_then(|v| v.vpc_peering_connection_id()) {
                Some(pcx) => {
                    // Interrupted between request and acceptance: finish it,
                    // never leave it pending with routes pointing at it.
                    if r.props.bool("auto_accept") == Some(true) {
                        accept_peering(aws, c, r.props.str("peer_region")?, pcx).await?;
                    }
                    id(Some(pcx))
                }
                None => None,
            }
        }
        other => return Err(ProviderError::new("platform", format!("no EC2 provider for `{other}`"))),
    })
}

pub async fn delete(aws: &Aws, c: &Clients, kind: &str, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
    match kind {
        "aws.ec2.vpc" => {
            let vpc = o.str("id")?;
            once_free(aws, c, filter("vpc-id", vpc), || async {
                c.ec2
                    .delete_vpc()
                    .vpc_id(vpc)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_err("ec2:DeleteVpc", e))
            })
            .await?;
        }
        "aws.ec2.subnet" => {
            let subnet = o.str("id")?;
            once_free(aws, c, filter("subnet-id", subnet), || async {
                c.ec2
                    .delete_subnet()
                    .subnet_id(subnet)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_err("ec2:DeleteSubnet", e))
            })
            .await?;
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
                // "Mapped public addresses" (a load balancer's or NAT's
                // interfaces still there) is a DependencyViolation too.
                let detached = once_free(aws, c, filter("vpc-id", vpc), || async {
                    c.ec2
                        .detach_internet_gateway()
                        .internet_gateway_id(igw)
                        .vpc_id(vpc)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| aws_err("ec2:DetachInternetGateway", e))
                })
                .await;
                if let Err(e) = detached
                    && !e.is_not_found()
                    && !e.is_code("Gateway.NotAttached")
                {
                    return Err(e);
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
            let group = o.str("id")?;
            once_free(aws, c, filter("group-id", group), || async {
                c.ec2
                    .delete_security_group()
                    .group_id(group)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_err("ec2:DeleteSecurityGroup", e))
            })
            .await?;
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

// ---------------------------------------------------------------------------
// Registered resource types: one unit struct, one property struct and one
// `ResourceType` impl per EC2 type, delegating to the functions above.
// ---------------------------------------------------------------------------

/// The id in an EC2 ARN (`arn:aws:ec2:us-east-1:1:vpc/vpc-1`) whose resource
/// part starts with `prefix` (`"vpc/"`).
fn ec2_id<'a>(arn: &Arn<'a>, prefix: &str) -> Option<&'a str> {
    arn.after(prefix).filter(|_| arn.service == "ec2")
}

/// `aws.ec2.vpc`
pub struct Vpc;

/// A VPC: an isolated virtual network with one IPv4 address range.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct VpcProps {
    /// The VPC's IPv4 address range in CIDR notation (`10.0.0.0/16`);
    /// between /16 and /28.
    pub cidr_block: String,
    /// Whether the Amazon-provided DNS server resolves names in the VPC;
    /// absent: AWS's default (on).
    pub enable_dns_support: Option<bool>,
    /// Whether instances with a public IP address get public DNS host
    /// names; absent: AWS's default (off).
    pub enable_dns_hostnames: Option<bool>,
    /// The value of the VPC's `Name` tag; absent: the resource's logical id.
    pub name: Option<String>,
}

impl ResourceType for Vpc {
    const NAME: &'static str = "aws.ec2.vpc";
    const ABOUT: &'static str = "VPC: an isolated virtual network with an IPv4 CIDR block";
    type Props = VpcProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    const UNIQUE: &'static [&'static str] = &[];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_vpc(aws, c, r).await
    }

    async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find(aws, c, r).await
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

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        delete(aws, c, Self::NAME, o, p).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .ec2
            .describe_vpcs()
            .vpc_ids(key)
            .send()
            .await
            .map_err(|e| aws_err("ec2:DescribeVpcs", e))?;
        Ok(match out.vpcs().first() {
            Some(v) => observed(vec![("cidr_block", v.cidr_block().unwrap_or_default().into())]),
            None => Live::Gone,
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        ec2_id(arn, "vpc/").map(|id| serde_json::json!({ "id": id }))
    }
}

/// `aws.ec2.subnet`
pub struct Subnet;

/// A subnet: a range of a VPC's addresses in one availability zone.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SubnetProps {
    /// The id of the VPC the subnet is in (`vpc-...`).
    pub vpc_id: String,
    /// The subnet's IPv4 address range in CIDR notation, within the VPC's
    /// (`10.0.0.0/20`).
    pub cidr_block: String,
    /// The availability zone by name (`us-east-1a`). Zone letters differ by
    /// account: prefer `availability_zone_index`. Absent (and no index): AWS
    /// picks a zone.
    pub availability_zone: Option<String>,
    /// The availability zone as "the region's Nth zone" (0: the first), in
    /// name order of the zones this account can use; the host resolves it
    /// to a zone name when it creates the subnet.
    pub availability_zone_index: Option<i64>,
    /// Whether instances launched in the subnet get a public IPv4 address
    /// (a public subnet); absent: no.
    pub map_public_ip_on_launch: Option<bool>,
    /// A label for the subnet's role (`public`, `private`); recorded in the
    /// plan only, not sent to AWS.
    pub tier: Option<String>,
    /// The value of the subnet's `Name` tag; absent: the resource's logical
    /// id.
    pub name: Option<String>,
}

impl ResourceType for Subnet {
    const NAME: &'static str = "aws.ec2.subnet";
    const ABOUT: &'static str = "VPC subnet in one availability zone";
    type Props = SubnetProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // Subnet ranges of a VPC cannot overlap.
    const UNIQUE: &'static [&'static str] = &["vpc_id", "cidr_block"];

    /// Only the move from a zone name to "the region's Nth zone": the
    /// subnet stays where it is; any other change replaces it.
    fn in_place(changed: &[String], old: &Json, new: &Json) -> bool {
        only(changed, &["availability_zone", "availability_zone_index"])
            && old.get("availability_zone").is_some()
            && new.get("availability_zone").is_none()
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_subnet(aws, c, r).await
    }

    async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find(aws, c, r).await
    }

    /// The zone name and the zone number name the same zone: nothing to do.
    async fn update(
        _aws: &Aws,
        _c: &Clients,
        _r: &Request<'_>,
        _old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        Ok(outputs.clone())
    }

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        delete(aws, c, Self::NAME, o, p).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .ec2
            .describe_subnets()
            .subnet_ids(key)
            .send()
            .await
            .map_err(|e| aws_err("ec2:DescribeSubnets", e))?;
        Ok(match out.subnets().first() {
            Some(s) => observed(vec![("cidr_block", s.cidr_block().unwrap_or_default().into())]),
            None => Live::Gone,
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        ec2_id(arn, "subnet/").map(|id| serde_json::json!({ "id": id }))
    }
}

/// `aws.ec2.internet-gateway`
pub struct InternetGateway;

/// An internet gateway, attached to one VPC.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct InternetGatewayProps {
    /// The id of the VPC the gateway is attached to (`vpc-...`).
    pub vpc_id: String,
    /// The value of the gateway's `Name` tag; absent: the resource's
    /// logical id.
    pub name: Option<String>,
}

impl ResourceType for InternetGateway {
    const NAME: &'static str = "aws.ec2.internet-gateway";
    const ABOUT: &'static str = "Internet gateway attached to a VPC";
    type Props = InternetGatewayProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // A VPC takes one internet gateway.
    const UNIQUE: &'static [&'static str] = &["vpc_id"];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_igw(aws, c, r).await
    }

    async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find(aws, c, r).await
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

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        delete(aws, c, Self::NAME, o, p).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .ec2
            .describe_internet_gateways()
            .internet_gateway_ids(key)
            .send()
            .await
            .map_err(|e| aws_err("ec2:DescribeInternetGateways", e))?;
        Ok(if out.internet_gateways().is_empty() {
            Live::Gone
        } else {
            observed(vec![])
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        ec2_id(arn, "internet-gateway/").map(|id| serde_json::json!({ "id": id }))
    }
}

/// `aws.ec2.eip`
pub struct Eip;

/// Where an Elastic IP address is allocated.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
pub enum EipDomain {
    /// For use in a VPC (the only domain there is today).
    #[serde(rename = "vpc")]
    Vpc,
}

/// An Elastic IP address: a static public IPv4 address (for a NAT gateway).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct EipProps {
    /// The address's domain: `vpc`, the only one (the address is always
    /// allocated for use in a VPC).
    pub domain: Option<EipDomain>,
    /// The value of the address's `Name` tag; absent: the resource's
    /// logical id.
    pub name: Option<String>,
}

impl ResourceType for Eip {
    const NAME: &'static str = "aws.ec2.eip";
    const ABOUT: &'static str = "Elastic IP address allocated for use in a VPC";
    type Props = EipProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    const UNIQUE: &'static [&'static str] = &[];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_eip(c, r).await
    }

    async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find(aws, c, r).await
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

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        delete(aws, c, Self::NAME, o, p).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .ec2
            .describe_addresses()
            .allocation_ids(key)
            .send()
            .await
            .map_err(|e| aws_err("ec2:DescribeAddresses", e))?;
        Ok(if out.addresses().is_empty() {
            Live::Gone
        } else {
            observed(vec![])
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        ec2_id(arn, "elastic-ip/").map(|id| serde_json::json!({ "allocation_id": id }))
    }
}

/// `aws.ec2.nat-gateway`
pub struct NatGateway;

/// A public NAT gateway: outbound internet access for private subnets.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct NatGatewayProps {
    /// The id of the public subnet the gateway is in (`subnet-...`).
    pub subnet_id: String,
    /// The allocation id of the Elastic IP address the gateway uses
    /// (`eipalloc-...`).
    pub allocation_id: String,
    /// The value of the gateway's `Name` tag; absent: the resource's
    /// logical id.
    pub name: Option<String>,
}

impl ResourceType for NatGateway {
    const NAME: &'static str = "aws.ec2.nat-gateway";
    const ABOUT: &'static str = "Public NAT gateway with an Elastic IP address";
    type Props = NatGatewayProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // An Elastic IP address serves one NAT gateway.
    const UNIQUE: &'static [&'static str] = &["allocation_id"];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_nat(aws, c, r).await
    }

    async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find(aws, c, r).await
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

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        delete(aws, c, Self::NAME, o, p).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .ec2
            .describe_nat_gateways()
            .nat_gateway_ids(key)
            .send()
            .await
            .map_err(|e| aws_err("ec2:DescribeNatGateways", e))?;
        // Deleted gateways stay visible for a while.
        let state = out.nat_gateways().first().and_then(|n| n.state()).map(|s| s.as_str());
        Ok(match state {
            None | Some("deleted" | "deleting" | "failed") => Live::Gone,
            Some(_) => observed(vec![]),
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        ec2_id(arn, "natgateway/").map(|id| serde_json::json!({ "id": id }))
    }
}

/// `aws.ec2.route-table`
pub struct RouteTable;

/// One route of a route table: a destination and exactly one target.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Route {
    /// The destination IPv4 range in CIDR notation (`0.0.0.0/0`).
    pub destination_cidr_block: String,
    /// Target: an internet gateway (`igw-...`).
    pub gateway_id: Option<String>,
    /// Target: a NAT gateway (`nat-...`).
    pub nat_gateway_id: Option<String>,
    /// Target: a VPC peering connection (`pcx-...`).
    pub vpc_peering_connection_id: Option<String>,
}

/// A VPC route table and its routes (besides the VPC's local route).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RouteTableProps {
    /// The id of the VPC the table belongs to (`vpc-...`).
    pub vpc_id: String,
    /// The routes; absent: none (only the local route). Changed in place.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// The value of the table's `Name` tag; absent: the resource's logical
    /// id.
    pub name: Option<String>,
}

impl ResourceType for RouteTable {
    const NAME: &'static str = "aws.ec2.route-table";
    const ABOUT: &'static str = "VPC route table with its routes";
    type Props = RouteTableProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    const UNIQUE: &'static [&'static str] = &[];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(changed, &["routes"])
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_route_table(aws, c, r).await
    }

    async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find(aws, c, r).await
    }

    async fn update(
        aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        update_route_table(aws, c, r, old, outputs).await
    }

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        delete(aws, c, Self::NAME, o, p).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .ec2
            .describe_route_tables()
            .route_table_ids(key)
            .send()
            .await
            .map_err(|e| aws_err("ec2:DescribeRouteTables", e))?;
        Ok(if out.route_tables().is_empty() {
            Live::Gone
        } else {
            observed(vec![])
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        ec2_id(arn, "route-table/").map(|id| serde_json::json!({ "id": id }))
    }
}

/// `aws.ec2.route-table-association`
pub struct RouteTableAssociation;

/// The association of a route table with a subnet: the subnet's traffic
/// follows the table's routes.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RouteTableAssociationProps {
    /// The id of the route table (`rtb-...`).
    pub route_table_id: String,
    /// The id of the subnet whose traffic the table routes (`subnet-...`).
    pub subnet_id: String,
}

impl ResourceType for RouteTableAssociation {
    const NAME: &'static str = "aws.ec2.route-table-association";
    const ABOUT: &'static str = "Association of a route table with a subnet";
    type Props = RouteTableAssociationProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::No("not read back yet (its route table and subnet are)");
    const SWEEP: Support = Support::No("associations take no tags, so the tagging API never lists one");
    // A subnet is associated with one route table.
    const UNIQUE: &'static [&'static str] = &["subnet_id"];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_rta(aws, c, r).await
    }

    async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find(aws, c, r).await
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

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        delete(aws, c, Self::NAME, o, p).await
    }

    async fn read(_aws: &Aws, _c: &Clients, _key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        Ok(Live::Unknown)
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}

/// `aws.ec2.security-group`
pub struct SecurityGroup;

/// One inbound rule of a security group: a protocol, a port range and one
/// source (an IPv4 range or another security group).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct IngressRule {
    /// The IP protocol: `tcp`, `udp`, `icmp`, a protocol number, or `-1`
    /// for all.
    pub protocol: String,
    /// The first port of the range (for ICMP: the type; `-1`: all).
    pub from_port: i32,
    /// The last port of the range (for ICMP: the code; `-1`: all).
    pub to_port: i32,
    /// Source: an IPv4 range in CIDR notation (`0.0.0.0/0`).
    pub cidr_ipv4: Option<String>,
    /// Source: the id of another security group in the same VPC (or a
    /// peered VPC in the same region) (`sg-...`).
    pub source_security_group_id: Option<String>,
}

/// A VPC security group and its inbound rules (all outbound traffic is
/// allowed, as AWS sets it up).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SecurityGroupProps {
    /// The group's name, unique in its VPC; it cannot start with `sg-`.
    pub group_name: String,
    /// What the group is for (up to 255 characters); it cannot be changed
    /// without replacing the group.
    pub description: String,
    /// The id of the VPC the group belongs to (`vpc-...`).
    pub vpc_id: String,
    /// The inbound rules; absent: none (nothing may connect). Changed in
    /// place: new rules are allowed before old ones are revoked.
    #[serde(default)]
    pub ingress: Vec<IngressRule>,
    /// The value of the group's `Name` tag; absent: the resource's logical
    /// id.
    pub name: Option<String>,
}

impl ResourceType for SecurityGroup {
    const NAME: &'static str = "aws.ec2.security-group";
    const ABOUT: &'static str = "VPC security group with its inbound rules";
    type Props = SecurityGroupProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    const UNIQUE: &'static [&'static str] = &["vpc_id", "group_name"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(changed, &["ingress"])
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_sg(aws, c, r).await
    }

    async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find(aws, c, r).await
    }

    async fn update(
        aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        update_sg(aws, c, r, old, outputs).await
    }

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        delete(aws, c, Self::NAME, o, p).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .ec2
            .describe_security_groups()
            .group_ids(key)
            .send()
            .await
            .map_err(|e| aws_err("ec2:DescribeSecurityGroups", e))?;
        Ok(if out.security_groups().is_empty() {
            Live::Gone
        } else {
            observed(vec![])
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        ec2_id(arn, "security-group/").map(|id| serde_json::json!({ "id": id }))
    }
}

/// `aws.ec2.flow-log`
pub struct FlowLog;

/// What a flow log records traffic of.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
pub enum FlowLogResource {
    /// A whole VPC (the only kind supported).
    #[serde(rename = "VPC")]
    Vpc,
}

/// Which traffic a flow log records.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
pub enum FlowLogTraffic {
    /// Accepted and rejected traffic.
    #[serde(rename = "ALL")]
    All,
    /// Only traffic the security groups and network ACLs accepted.
    #[serde(rename = "ACCEPT")]
    Accept,
    /// Only traffic they rejected.
    #[serde(rename = "REJECT")]
    Reject,
}

/// Where a flow log delivers its records.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
pub enum FlowLogDestination {
    /// A CloudWatch Logs log group (the only destination supported).
    #[serde(rename = "cloud-watch-logs")]
    CloudWatchLogs,
}

/// A VPC flow log: records of the VPC's IP traffic, delivered to a
/// CloudWatch Logs log group.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct FlowLogProps {
    /// The id of the VPC whose traffic is recorded (`vpc-...`).
    pub resource_id: String,
    /// The kind of resource `resource_id` names: `VPC`, the only one.
    pub resource_type: Option<FlowLogResource>,
    /// Which traffic is recorded: `ALL` (absent: all), `ACCEPT` or `REJECT`.
    pub traffic_type: Option<FlowLogTraffic>,
    /// Where records go: `cloud-watch-logs`, the only destination.
    pub log_destination_type: Option<FlowLogDestination>,
    /// The name of the CloudWatch Logs log group the records go to.
    pub log_group_name: String,
    /// The ARN of the IAM role the flow logs service assumes to write to
    /// the log group (trusting `vpc-flow-logs.amazonaws.com`).
    pub deliver_logs_permission_arn: String,
    /// The value of the flow log's `Name` tag; absent: the resource's
    /// logical id.
    pub name: Option<String>,
}

impl ResourceType for FlowLog {
    const NAME: &'static str = "aws.ec2.flow-log";
    const ABOUT: &'static str = "VPC flow log delivered to a CloudWatch Logs log group";
    type Props = FlowLogProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::No("not read back yet (its log group is)");
    const SWEEP: Support = Support::Yes;
    // EC2 refuses a second flow log of a VPC to the same log group (FlowLogAlreadyExists).
    const UNIQUE: &'static [&'static str] = &["resource_id", "log_group_name"];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_flow_log(aws, c, r).await
    }

    async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find(aws, c, r).await
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

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        delete(aws, c, Self::NAME, o, p).await
    }

    async fn read(_aws: &Aws, _c: &Clients, _key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        Ok(Live::Unknown)
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        ec2_id(arn, "vpc-flow-log/").map(|id| serde_json::json!({ "id": id }))
    }
}

/// `aws.ec2.vpc-peering-connection`
pub struct VpcPeeringConnection;

/// A VPC peering connection: private routing between two VPCs, here in two
/// regions of the same account.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct VpcPeeringConnectionProps {
    /// The id of the requester VPC, in the resource's region (`vpc-...`).
    pub vpc_id: String,
    /// The id of the accepter VPC (`vpc-...`), in `peer_region`.
    pub peer_vpc_id: String,
    /// The region of the accepter VPC (`us-east-2`).
    pub peer_region: String,
    /// Whether the host accepts the request in the peer region and waits
    /// until the peering is active; absent: no (it stays pending
    /// acceptance).
    pub auto_accept: Option<bool>,
    /// The value of the peering's `Name` tag; absent: the resource's
    /// logical id.
    pub name: Option<String>,
}

impl ResourceType for VpcPeeringConnection {
    const NAME: &'static str = "aws.ec2.vpc-peering-connection";
    const ABOUT: &'static str = "VPC peering connection to a VPC in another region, accepted by the host";
    type Props = VpcPeeringConnectionProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::No("not read back yet (its VPCs and the route tables using it are)");
    const SWEEP: Support = Support::Yes;
    // Two VPCs have at most one peering connection between them.
    const UNIQUE: &'static [&'static str] = &["vpc_id", "peer_vpc_id"];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_peering(aws, c, r).await
    }

    async fn find(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find(aws, c, r).await
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

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        delete(aws, c, Self::NAME, o, p).await
    }

    async fn read(_aws: &Aws, _c: &Clients, _key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        Ok(Live::Unknown)
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        ec2_id(arn, "vpc-peering-connection/").map(|id| serde_json::json!({ "id": id }))
    }
}
