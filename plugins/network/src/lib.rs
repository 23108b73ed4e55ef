//! The `network` plugin: one VPC per region of the environment with public and
//! private subnets across availability zones, internet and NAT gateways,
//! routes, tiered security groups, flow logs and inter-region peering.

use platform_plugin_sdk::{Context, Error, Info, Plan, Plugin, Value, export_plugin, obj, reference};
use serde::Deserialize;
use serde_json::json;

struct Network;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    cidr: String,
    az_count: u32,
    nat_gateways: String,
    regions: String,
    flow_logs: bool,
    flow_log_retention_days: u32,
    service_port: u32,
    database_port: u32,
    peering: bool,
    namespace: Option<String>,
    service_discovery: bool,
    test_listener_cidrs: Vec<String>,
    public_subnet_cidrs: Vec<String>,
    private_subnet_cidrs: Vec<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            cidr: "10.0.0.0/16".into(),
            az_count: 3,
            nat_gateways: "per-az".into(),
            regions: "all".into(),
            flow_logs: true,
            flow_log_retention_days: 30,
            service_port: 8000,
            database_port: 5432,
            peering: true,
            namespace: None,
            service_discovery: true,
            test_listener_cidrs: Vec::new(),
            public_subnet_cidrs: Vec::new(),
            private_subnet_cidrs: Vec::new(),
        }
    }
}

fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "cidr": { "type": "string", "description": "CIDR of the primary region's VPC, a /16; region N uses the next /16s", "default": "10.0.0.0/16" },
            "az_count": { "type": "integer", "minimum": 1, "maximum": 6, "default": 3, "description": "Availability zones per region" },
            "nat_gateways": { "enum": ["none", "single", "per-az"], "default": "per-az", "description": "NAT gateways for the private subnets" },
            "regions": { "enum": ["all", "primary"], "default": "all", "description": "Build a VPC in every region of the environment or only the primary" },
            "flow_logs": { "type": "boolean", "default": true, "description": "VPC flow logs to CloudWatch Logs" },
            "flow_log_retention_days": { "type": "integer", "enum": [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365], "default": 30 },
            "service_port": { "type": "integer", "minimum": 1, "maximum": 65535, "default": 8000, "description": "Port the load balancer reaches the services on" },
            "database_port": { "type": "integer", "minimum": 1, "maximum": 65535, "default": 5432, "description": "Port the services reach the database on" },
            "peering": { "type": "boolean", "default": true, "description": "Peer the VPCs of a multi-region environment" },
            "service_discovery": { "type": "boolean", "default": true, "description": "A Cloud Map private DNS namespace per VPC, where services register by name" },
            "namespace": { "type": "string", "minLength": 1, "description": "The namespace's DNS name (default: <env>.<blueprint>.internal)" },
            "public_subnet_cidrs": { "type": "array", "items": { "type": "string" }, "description": "The public subnets of the primary region's VPC, one per availability zone (10.0.0.0/24, ...); region N's are at the same places in its /16. Default: a /20 per zone from x.y.0.0" },
            "private_subnet_cidrs": { "type": "array", "items": { "type": "string" }, "description": "The private subnets, likewise (10.0.10.0/24, ...). Default: a /20 per zone from x.y.128.0" },
            "test_listener_cidrs": { "type": "array", "items": { "type": "string", "minLength": 9 }, "description": "Besides the VPC, who may reach the load balancers' test listener (port 9001): where `platform up` runs, for rollouts that probe green through it (`deployment.probe_path`)" }
        }
    })
}

/// A subnet's place in its VPC: the last two octets and the prefix length.
#[derive(Clone, Copy, PartialEq, Debug)]
struct Place {
    c: u8,
    d: u8,
    len: u8,
}

impl Place {
    /// The addresses it covers within the /16, as a range of offsets.
    fn span(self) -> std::ops::Range<u32> {
        let start = (u32::from(self.c) << 8) | u32::from(self.d);
        start..start + (1 << (32 - u32::from(self.len)))
    }
}

/// The places of explicit subnet CIDRs (`key` is the setting), checked as
/// EC2 checks them: inside the VPC's /16, a /16 to /28 prefix, on the
/// prefix's boundary, one per availability zone, none overlapping another
/// (`taken`).
fn places(
    key: &str,
    cidrs: &[String],
    (a, b): (u8, u8),
    az_count: u32,
    taken: &mut Vec<(String, Place)>,
) -> Result<Vec<Place>, Error> {
    if cidrs.len() != az_count as usize {
        return Err(Error::config(
            &format!("/{key}"),
            format!(
                "{} subnets for {az_count} availability zones (`az_count`): give one per zone",
                cidrs.len()
            ),
        ));
    }
    let mut out = Vec::new();
    for (i, cidr) in cidrs.iter().enumerate() {
        let path = format!("/{key}/{i}");
        let parsed = cidr.split_once('/').and_then(|(addr, len)| {
            let o: Vec<u8> = addr.split('.').map(|o| o.parse().ok()).collect::<Option<_>>()?;
            Some((o, len.parse::<u8>().ok()?))
        });
        let Some((o, len)) = parsed.filter(|(o, _)| o.len() == 4) else {
            return Err(Error::config(
                &path,
                format!("`{cidr}` is not an IPv4 CIDR such as 10.0.1.0/24"),
            ));
        };
        if (o[0], o[1]) != (a, b) {
            return Err(Error::config(
                &path,
                format!("`{cidr}` is outside the VPC ({a}.{b}.0.0/16, `cidr`)"),
            ));
        }
        if !(16..=28).contains(&len) {
            return Err(Error::config(
                &path,
                format!("`{cidr}`: EC2 takes subnets from /16 to /28"),
            ));
        }
        let place = Place { c: o[2], d: o[3], len };
        if place.span().start % (1 << (32 - u32::from(len))) != 0 {
            return Err(Error::config(
                &path,
                format!("`{cidr}` does not start on a /{len} boundary: EC2 refuses it"),
            ));
        }
        if let Some((other, _)) = taken.iter().find(|(_, p)| {
            let (x, y) = (p.span(), place.span());
            x.start < y.end && y.start < x.end
        }) {
            return Err(Error::config(&path, format!("`{cidr}` overlaps `{other}`")));
        }
        taken.push((cidr.clone(), place));
        out.push(place);
    }
    Ok(out)
}

/// Parse `a.b.0.0/16` into its first two octets.
fn parse_cidr16(cidr: &str) -> Option<(u8, u8)> {
    let (addr, len) = cidr.split_once('/')?;
    if len != "16" {
        return None;
    }
    let octets: Vec<u8> = addr.split('.').map(|o| o.parse().ok()).collect::<Option<_>>()?;
    match octets[..] {
        [a, b, 0, 0] => Some((a, b)),
        _ => None,
    }
}

impl Plugin for Network {
    fn info() -> Info {
        Info::new("network", env!("CARGO_PKG_VERSION"), "VPC, subnets, NAT, routes, security groups, flow logs and peering")
            .kinds(&[
                "aws.ec2.vpc",
                "aws.ec2.subnet",
                "aws.ec2.internet-gateway",
                "aws.ec2.eip",
                "aws.ec2.nat-gateway",
                "aws.ec2.route-table",
                "aws.ec2.route-table-association",
                "aws.ec2.security-group",
                "aws.ec2.flow-log",
                "aws.ec2.vpc-peering-connection",
                "aws.servicediscovery.private-dns-namespace",
                "aws.logs.log-group",
                "aws.iam.role",
            ])
            .schema(schema())
            .export("regions", "Per region: vpc_id, cidr, public_subnet_ids, private_subnet_ids, lb_security_group_id, service_security_group_id, service_port (what that group admits), db_security_group_id, test_listener_cidrs, namespace_id and namespace_name (with service discovery)")
            .export("primary_region", "The region of the primary VPC")
    }

    fn plan(ctx: &Context) -> Result<Plan, Error> {
        let cfg: Config = ctx.config()?;
        let Some((a, b)) = parse_cidr16(&cfg.cidr) else {
            return Err(Error::config(
                "/cidr",
                format!("`{}` is not an IPv4 /16 such as 10.0.0.0/16", cfg.cidr),
            ));
        };
        // Where each zone's subnets go in every region's /16.
        let mut taken = Vec::new();
        let defaults = |first: u8| -> Vec<String> {
            (0..cfg.az_count as u8)
                .map(|az| format!("{a}.{b}.{}.0/20", (az + first) * 16))
                .collect()
        };
        let (public, private) = (
            if cfg.public_subnet_cidrs.is_empty() {
                defaults(0)
            } else {
                cfg.public_subnet_cidrs.clone()
            },
            if cfg.private_subnet_cidrs.is_empty() {
                defaults(8)
            } else {
                cfg.private_subnet_cidrs.clone()
            },
        );
        let public_places = places("public_subnet_cidrs", &public, (a, b), cfg.az_count, &mut taken)?;
        let private_places = places("private_subnet_cidrs", &private, (a, b), cfg.az_count, &mut taken)?;
        let regions: Vec<&String> = match cfg.regions.as_str() {
            "primary" => ctx.env.regions.iter().take(1).collect(),
            _ => ctx.env.regions.iter().collect(),
        };
        if b as usize + regions.len() > 256 {
            return Err(Error::config(
                "/cidr",
                "not enough /16 blocks after this CIDR for every region",
            ));
        }
        let mut plan = Plan::new();
        let mut exported = Vec::new();
        let name = |suffix: &str| ctx.physical_name(suffix, 255);

        if cfg.flow_logs {
            plan.resource(
                "flow-log-role",
                "aws.iam.role",
                obj! {
                    "name": ctx.physical_name("flow-logs", 64),
                    "assume_role_service": "vpc-flow-logs.amazonaws.com",
                    "inline_policy": json!({
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"],
                            "Resource": "*"
                        }]
                    }),
                },
            );
        }

        let peered = cfg.peering && regions.len() > 1;
        // The regions (by index) a region's VPC is peered with: the primary
        // with every other, the others with the primary.
        let peers = |ri: usize| -> Vec<usize> {
            if !peered {
                return Vec::new();
            }
            (0..regions.len())
                .filter(|&pi| if ri == 0 { pi != 0 } else { pi == 0 })
                .collect()
        };
        for (ri, region) in regions.iter().enumerate() {
            let region = region.as_str();
            let octet = b + ri as u8;
            let id = |what: &str| format!("{what}-{region}");
            let cidr = format!("{a}.{octet}.0.0/16");
            plan.resource(
                &id("vpc"),
                "aws.ec2.vpc",
                obj! {
                    "cidr_block": cidr.as_str(),
                    "enable_dns_support": true,
                    "enable_dns_hostnames": true,
                    "name": name(region),
                },
            )
            .in_region(region);
            let vpc = reference(&id("vpc"), "id");

            plan.resource(&id("igw"), "aws.ec2.internet-gateway", obj! { "vpc_id": &vpc })
                .in_region(region);

            let public_rt = id("rt-public");
            plan.resource(&public_rt, "aws.ec2.route-table", obj! {
                "vpc_id": &vpc,
                "routes": vec![obj! { "destination_cidr_block": "0.0.0.0/0", "gateway_id": reference(&id("igw"), "id") }],
            })
            .in_region(region);

            let mut public_subnets = Vec::new();
            let mut private_subnets = Vec::new();
            for az in 0..cfg.az_count {
                // The letter names the subnet, not the zone: zone letters
                // differ by account, so the host picks the region's Nth
                // available zone when it creates the subnet.
                let letter = (b'a' + az as u8) as char;
                let public = id(&format!("public-{letter}"));
                // After the gateway: an internet-facing load balancer in a
                // VPC without an attached gateway is refused, and on `down`
                // the gateway is detached only once what uses the public
                // subnets (load balancers, NAT) is gone.
                plan.resource(
                    &public,
                    "aws.ec2.subnet",
                    obj! {
                        "vpc_id": &vpc,
                        "cidr_block": {
                            let p = public_places[az as usize];
                            format!("{a}.{octet}.{}.{}/{}", p.c, p.d, p.len)
                        },
                        "availability_zone_index": az,
                        "map_public_ip_on_launch": true,
                        "tier": "public",
                    },
                )
                .in_region(region)
                .depends_on(&id("igw"));
                plan.resource(
                    &format!("{public}-rta"),
                    "aws.ec2.route-table-association",
                    obj! {
                        "route_table_id": reference(&public_rt, "id"),
                        "subnet_id": reference(&public, "id"),
                    },
                )
                .in_region(region);
                let private = id(&format!("private-{letter}"));
                plan.resource(
                    &private,
                    "aws.ec2.subnet",
                    obj! {
                        "vpc_id": &vpc,
                        "cidr_block": {
                            let p = private_places[az as usize];
                            format!("{a}.{octet}.{}.{}/{}", p.c, p.d, p.len)
                        },
                        "availability_zone_index": az,
                        "map_public_ip_on_launch": false,
                        "tier": "private",
                    },
                )
                .in_region(region);
                public_subnets.push(reference(&public, "id"));
                private_subnets.push((letter, private));
            }

            // NAT: one per AZ, one shared, or none (private subnets then have no egress).
            let nat_count = match cfg.nat_gateways.as_str() {
                "none" => 0,
                "single" => 1,
                _ => cfg.az_count,
            };
            for n in 0..nat_count {
                let letter = (b'a' + n as u8) as char;
                plan.resource(
                    &id(&format!("nat-eip-{letter}")),
                    "aws.ec2.eip",
                    obj! { "domain": "vpc" },
                )
                .in_region(region);
                plan.resource(
                    &id(&format!("nat-{letter}")),
                    "aws.ec2.nat-gateway",
                    obj! {
                        "subnet_id": reference(&id(&format!("public-{letter}")), "id"),
                        "allocation_id": reference(&id(&format!("nat-eip-{letter}")), "allocation_id"),
                    },
                )
                .in_region(region)
                .depends_on(&id("igw"));
            }
            for (i, (letter, private)) in private_subnets.iter().enumerate() {
                let rt = format!("{private}-rt");
                let mut routes = Vec::new();
                if nat_count > 0 {
                    let nat_letter = (b'a' + (i as u32 % nat_count) as u8) as char;
                    routes.push(obj! {
                        "destination_cidr_block": "0.0.0.0/0",
                        "nat_gateway_id": reference(&id(&format!("nat-{nat_letter}")), "id"),
                    });
                }
                // Private traffic between peered regions goes over the peering
                // (the primary peers with each other region).
                for pi in peers(ri) {
                    let peering = if ri == 0 { regions[pi].as_str() } else { region };
                    routes.push(obj! {
                        "destination_cidr_block": format!("{a}.{}.0.0/16", b + pi as u8),
                        "vpc_peering_connection_id": reference(&format!("peering-{peering}"), "id"),
                    });
                }
                plan.resource(&rt, "aws.ec2.route-table", obj! { "vpc_id": &vpc, "routes": routes })
                    .in_region(region);
                plan.resource(
                    &format!("{private}-rta"),
                    "aws.ec2.route-table-association",
                    obj! {
                        "route_table_id": reference(&rt, "id"),
                        "subnet_id": reference(private, "id"),
                    },
                )
                .in_region(region);
                let _ = letter;
            }

            // Tiered security groups: the internet reaches only the load balancer,
            // the load balancer only the service port, the services only the database.
            plan.resource(
                &id("sg-lb"),
                "aws.ec2.security-group",
                obj! {
                    "vpc_id": &vpc,
                    "group_name": name(&format!("lb-{region}")),
                    "description": "Load balancer: HTTP and HTTPS from anywhere",
                    "ingress": vec![
                        obj! { "protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_ipv4": "0.0.0.0/0" },
                        obj! { "protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_ipv4": "0.0.0.0/0" },
                        obj! { "protocol": "tcp", "from_port": 9001, "to_port": 9001, "cidr_ipv4": cidr.as_str() },
                    ]
                    .into_iter()
                    .chain(cfg.test_listener_cidrs.iter().map(|c| {
                        obj! { "protocol": "tcp", "from_port": 9001, "to_port": 9001, "cidr_ipv4": c.as_str() }
                    }))
                    .collect::<Vec<Value>>(),
                },
            )
            .in_region(region);
            plan.resource(
                &id("sg-service"),
                "aws.ec2.security-group",
                obj! {
                    "vpc_id": &vpc,
                    "group_name": name(&format!("service-{region}")),
                    "description": "Services: the service port from the load balancer only",
                    "ingress": vec![obj! {
                        "protocol": "tcp", "from_port": cfg.service_port, "to_port": cfg.service_port,
                        "source_security_group_id": reference(&id("sg-lb"), "id"),
                    }],
                },
            )
            .in_region(region);
            // Security groups cannot be referenced across an inter-region
            // peering: services of a peered region reach the database by
            // their VPC's CIDR.
            let mut db_ingress = vec![obj! {
                "protocol": "tcp", "from_port": cfg.database_port, "to_port": cfg.database_port,
                "source_security_group_id": reference(&id("sg-service"), "id"),
            }];
            for pi in peers(ri) {
                db_ingress.push(obj! {
                    "protocol": "tcp", "from_port": cfg.database_port, "to_port": cfg.database_port,
                    "cidr_ipv4": format!("{a}.{}.0.0/16", b + pi as u8),
                });
            }
            plan.resource(
                &id("sg-db"),
                "aws.ec2.security-group",
                obj! {
                    "vpc_id": &vpc,
                    "group_name": name(&format!("db-{region}")),
                    "description": "Database: the database port from the services only",
                    "ingress": db_ingress,
                },
            )
            .in_region(region);

            let namespace_name = cfg
                .namespace
                .clone()
                .unwrap_or_else(|| format!("{}.{}.internal", ctx.env.name, ctx.blueprint));
            if cfg.service_discovery {
                plan.resource(
                    &id("namespace"),
                    "aws.servicediscovery.private-dns-namespace",
                    obj! { "name": namespace_name.as_str(), "vpc_id": &vpc },
                )
                .in_region(region);
            }
            if cfg.flow_logs {
                plan.resource(&id("flow-log-group"), "aws.logs.log-group", obj! {
                    "name": format!("/platform/{}/{}/{}/flow-logs/{region}", ctx.blueprint, ctx.env.name, ctx.instance),
                    "retention_in_days": cfg.flow_log_retention_days,
                })
                .in_region(region);
                plan.resource(
                    &id("flow-log"),
                    "aws.ec2.flow-log",
                    obj! {
                        "resource_id": &vpc,
                        "resource_type": "VPC",
                        "traffic_type": "ALL",
                        "log_destination_type": "cloud-watch-logs",
                        "log_group_name": reference(&id("flow-log-group"), "name"),
                        "deliver_logs_permission_arn": reference("flow-log-role", "arn"),
                    },
                )
                .in_region(region);
            }

            let private_ids: Vec<Value> = private_subnets.iter().map(|(_, p)| reference(p, "id")).collect();
            let mut facts = obj! {
                "vpc_id": &vpc,
                "cidr": cidr.as_str(),
                "public_subnet_ids": public_subnets,
                "private_subnet_ids": private_ids,
                "lb_security_group_id": reference(&id("sg-lb"), "id"),
                "service_security_group_id": reference(&id("sg-service"), "id"),
                "service_port": cfg.service_port,
                "db_security_group_id": reference(&id("sg-db"), "id"),
                "test_listener_cidrs": cfg.test_listener_cidrs.iter().map(|c| Value::from(c.as_str())).collect::<Vec<Value>>(),
            };
            if cfg.service_discovery {
                facts.insert("namespace_id", reference(&id("namespace"), "id"));
                facts.insert("namespace_name", namespace_name.as_str());
            }
            exported.push((region.to_string(), facts));
        }

        if peered {
            let primary = regions[0].as_str();
            for peer in &regions[1..] {
                plan.resource(
                    &format!("peering-{peer}"),
                    "aws.ec2.vpc-peering-connection",
                    obj! {
                        "vpc_id": reference(&format!("vpc-{primary}"), "id"),
                        "peer_vpc_id": reference(&format!("vpc-{peer}"), "id"),
                        "peer_region": peer.as_str(),
                        "auto_accept": true,
                    },
                )
                .in_region(primary);
            }
        }

        plan.export("regions", Value::Object(exported), "Per-region network ids");
        plan.export("primary_region", regions[0].as_str(), "The primary region");
        Ok(plan)
    }
}

export_plugin!(Network);
