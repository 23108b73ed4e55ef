//! The `dns-failover` plugin: Route 53 health checks on each region's load
//! balancer and PRIMARY/SECONDARY failover alias records across two regions.

use platform_plugin_sdk::{Context, Error, Info, Plan, Plugin, Value, concat, export_plugin, obj, reference};
use serde::Deserialize;
use serde_json::json;

struct DnsFailover;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    domain: String,
    #[serde(default = "d_record")]
    record: String,
    zone_id: Option<String>,
    #[serde(default = "d_service")]
    service: String,
    #[serde(default = "d_path")]
    health_check_path: String,
    #[serde(default = "d_interval")]
    interval_seconds: u32,
    #[serde(default = "d_threshold")]
    failure_threshold: u32,
}

fn d_record() -> String {
    "api".into()
}
fn d_service() -> String {
    "api".into()
}
fn d_path() -> String {
    "/healthz".into()
}
fn d_interval() -> u32 {
    30
}
fn d_threshold() -> u32 {
    3
}

fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["domain"],
        "properties": {
            "domain": { "type": "string", "minLength": 3, "description": "The hosted zone's domain (example.com)" },
            "record": { "type": "string", "default": "api", "description": "Record name inside the domain" },
            "zone_id": { "type": "string", "description": "Use this existing hosted zone instead of creating one" },
            "service": { "type": "string", "default": "api", "description": "Instance of the service plugin to route to" },
            "health_check_path": { "type": "string", "default": "/healthz" },
            "interval_seconds": { "enum": [10, 30], "default": 30 },
            "failure_threshold": { "type": "integer", "minimum": 1, "maximum": 10, "default": 3 }
        }
    })
}

impl Plugin for DnsFailover {
    fn info() -> Info {
        Info::new(
            "dns-failover",
            env!("CARGO_PKG_VERSION"),
            "Route 53 health checks and failover records across two regions",
        )
        .kinds(&[
            "aws.route53.hosted-zone",
            "aws.route53.health-check",
            "aws.route53.record-set",
        ])
        .schema(schema())
        .export("fqdn", "The failover name clients use")
        .export("zone_id", "The hosted zone id")
        .export(
            "health_checks",
            "The Route 53 health check ids: primary, secondary (for alarms)",
        )
    }

    fn plan(ctx: &Context) -> Result<Plan, Error> {
        let cfg: Config = ctx.config()?;
        if ctx.env.regions.len() < 2 {
            return Err(Error::failed(format!(
                "failover needs two regions and environment `{}` has one ({}); disable this plugin there with `enabled = false`",
                ctx.env.name, ctx.env.regions[0]
            )));
        }
        let regions = ctx.import(&cfg.service, "regions")?;
        let mut plan = Plan::new();
        let zone = match &cfg.zone_id {
            Some(id) => Value::from(id.as_str()),
            None => {
                plan.resource(
                    "zone",
                    "aws.route53.hosted-zone",
                    obj! {
                        "name": cfg.domain.as_str(),
                        "comment": format!("{} {}", ctx.blueprint, ctx.env.name),
                    },
                );
                reference("zone", "id")
            }
        };
        let fqdn = format!("{}.{}", cfg.record, cfg.domain);
        for (role, region) in [("PRIMARY", &ctx.env.regions[0]), ("SECONDARY", &ctx.env.regions[1])] {
            let Some(svc) = regions.get(region) else {
                return Err(Error::failed(format!(
                    "service instance `{}` does not run in region {region}",
                    cfg.service
                )));
            };
            // Route 53 health checks and public records need a load balancer
            // the internet reaches.
            if let Some(mode) = svc.get("load_balancer").and_then(Value::as_str)
                && mode != "internet-facing"
            {
                return Err(Error::failed(format!(
                    "service instance `{}` has `load_balancer = \"{mode}\"`: DNS failover needs an internet-facing load balancer, which Route 53 health checks can reach",
                    cfg.service
                )));
            }
            let dns = svc.get("alb_dns_name").cloned().unwrap_or(Value::Null);
            let hc = format!("health-{}", role.to_lowercase());
            plan.resource(
                &hc,
                "aws.route53.health-check",
                obj! {
                    "type": "HTTP",
                    "fully_qualified_domain_name": &dns,
                    "port": 80,
                    "resource_path": cfg.health_check_path.as_str(),
                    "request_interval": cfg.interval_seconds,
                    "failure_threshold": cfg.failure_threshold,
                    "name": ctx.physical_name(&format!("{}-{region}", role.to_lowercase()), 255),
                },
            );
            plan.resource(
                &format!("record-{}", role.to_lowercase()),
                "aws.route53.record-set",
                obj! {
                    "zone_id": &zone,
                    "name": fqdn.as_str(),
                    "type": "A",
                    "set_identifier": format!("{}-{region}", role.to_lowercase()),
                    "failover": role,
                    "health_check_id": reference(&hc, "id"),
                    // Target health of the load balancer would count the idle
                    // colour's empty target group as unhealthy, so both
                    // records would always be unhealthy: the health check
                    // above decides instead.
                    "alias_target": obj! {
                        "dns_name": concat(vec![Value::from("dualstack."), dns.clone()]),
                        "hosted_zone_id": svc.get("alb_zone_id").cloned(),
                        "evaluate_target_health": false,
                    },
                },
            );
        }
        plan.export("fqdn", fqdn.as_str(), "Failover name");
        plan.export("zone_id", zone, "Hosted zone id");
        plan.export(
            "health_checks",
            obj! {
                "primary": reference("health-primary", "id"),
                "secondary": reference("health-secondary", "id"),
            },
            "Route 53 health check ids",
        );
        Ok(plan)
    }
}

export_plugin!(DnsFailover);
