//! The `service` plugin: an ECS Fargate service behind an internet-facing or
//! internal ALB with blue and green target groups, a production and a test
//! listener, and the rollout steps of its deployment strategy; or, with
//! `load_balancer = "none"` (a worker, a load tester), a service deployed by
//! ECS's rolling deployments and reached through Cloud Map; or, with
//! `shared_load_balancer`, behind another service's ALB through listener
//! rules on its listeners (path or host routing). Either way:
//! autoscaling, logs, an ECR repository, secrets and parameters.

#![recursion_limit = "256"]

use std::collections::BTreeMap;

use platform_plugin_sdk::{Context, Error, Info, Phase, Plan, Plugin, Value, concat, export_plugin, obj, reference};
use serde::Deserialize;
use serde_json::json;

struct Service;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    image: String,
    #[serde(default = "d_port")]
    port: u32,
    #[serde(default = "d_cpu")]
    cpu: u32,
    #[serde(default = "d_memory")]
    memory: u32,
    #[serde(default = "d_desired")]
    desired_count: u32,
    #[serde(default)]
    health_check_path: Option<String>,
    #[serde(default)]
    health_check: HealthCheck,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    /// Name -> ARN string or `{ generate = true, ... }` (read by `sources`,
    /// which names the variable in its errors).
    #[serde(default)]
    secrets: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
    #[serde(default)]
    parameters_path: Option<String>,
    #[serde(default)]
    ecr: Ecr,
    #[serde(default = "d_all")]
    regions: String,
    #[serde(default = "d_network")]
    network: String,
    #[serde(default)]
    database: Option<String>,
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    certificate_arn: Option<String>,
    #[serde(default = "d_retention")]
    log_retention_days: u32,
    #[serde(default)]
    autoscaling: Autoscaling,
    #[serde(default)]
    deployment: Option<Deployment>,
    #[serde(default)]
    probe: Option<bool>,
    #[serde(default)]
    load_balancer: Option<String>,
    #[serde(default)]
    shared_load_balancer: Option<SharedLoadBalancer>,
    #[serde(default)]
    allow_from_services: bool,
    #[serde(default)]
    links: Vec<String>,
    #[serde(default)]
    health_check_command: Option<Vec<String>>,
    #[serde(default)]
    otel_collector: bool,
    #[serde(default = "d_otel_image")]
    otel_image: String,
}

fn d_otel_image() -> String {
    "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.1".into()
}

/// A variable the tasks read from Secrets Manager or SSM: the ARN of an
/// existing secret or parameter, or a secret this service generates.
enum SecretSource {
    Arn(String),
    Generated(Generate),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Generate {
    generate: bool,
    #[serde(default)]
    name: Option<String>,
    #[serde(default = "d_secret_length")]
    length: u32,
}

fn d_secret_length() -> u32 {
    32
}

/// The target groups' health check (and the container's default one).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct HealthCheck {
    path: Option<String>,
    interval_seconds: u32,
    timeout_seconds: Option<u32>,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
}

impl Default for HealthCheck {
    fn default() -> HealthCheck {
        HealthCheck {
            path: None,
            interval_seconds: 15,
            timeout_seconds: None,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        }
    }
}

/// The image repository's rules.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Ecr {
    tag_mutability: String,
    untagged_expire_days: u32,
    scan_on_push: bool,
    replicate: bool,
}

impl Default for Ecr {
    fn default() -> Ecr {
        Ecr {
            tag_mutability: "IMMUTABLE".into(),
            untagged_expire_days: 14,
            scan_on_push: true,
            replicate: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Autoscaling {
    enabled: bool,
    min: u32,
    max: u32,
    cpu_target: u32,
    requests_per_target: u32,
}

impl Default for Autoscaling {
    fn default() -> Autoscaling {
        Autoscaling {
            enabled: true,
            min: 1,
            max: 5,
            cpu_target: 55,
            requests_per_target: 1000,
        }
    }
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
struct Deployment {
    strategy: String,
    canary_percent: u32,
    bake_seconds: u32,
    step_percent: u32,
    interval_seconds: u32,
    timeout_seconds: u32,
    drain_seconds: u32,
    alarm_gate: bool,
    probe_path: Option<String>,
}

impl Default for Deployment {
    fn default() -> Deployment {
        Deployment {
            strategy: "canary".into(),
            canary_percent: 10,
            bake_seconds: 300,
            step_percent: 25,
            interval_seconds: 60,
            timeout_seconds: 900,
            drain_seconds: 30,
            alarm_gate: true,
            probe_path: None,
        }
    }
}

/// Another service's load balancer, joined through listener rules.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SharedLoadBalancer {
    service: String,
    priority: u32,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    hosts: Vec<String>,
}

impl SharedLoadBalancer {
    /// Where this service answers on the shared load balancer: its first
    /// host name without wildcards, else the owner's DNS name and the
    /// literal start of its first path pattern.
    fn url(&self, dns_name: Value) -> Value {
        if let Some(host) = self.hosts.iter().find(|h| !h.contains(['*', '?'])) {
            return Value::from(format!("http://{host}"));
        }
        let prefix = self
            .paths
            .first()
            .map(|p| {
                p.split(['*', '?'])
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches('/')
                    .to_string()
            })
            .unwrap_or_default();
        concat(vec![Value::from("http://"), dns_name, Value::from(prefix)])
    }
}
fn d_port() -> u32 {
    8000
}
fn d_cpu() -> u32 {
    512
}
fn d_memory() -> u32 {
    1024
}
fn d_desired() -> u32 {
    2
}
fn d_all() -> String {
    "all".into()
}
fn d_network() -> String {
    "network".into()
}
fn d_retention() -> u32 {
    30
}

fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["image"],
        "properties": {
            "image": { "type": "string", "minLength": 1, "description": "Container image" },
            "port": { "type": "integer", "minimum": 1, "maximum": 65535, "default": 8000 },
            "cpu": { "enum": [256, 512, 1024, 2048, 4096], "default": 512, "description": "Fargate CPU units" },
            "memory": { "type": "integer", "minimum": 512, "maximum": 30720, "default": 1024, "description": "Fargate memory (MiB)" },
            "desired_count": { "type": "integer", "minimum": 0, "maximum": 1000, "default": 2 },
            "health_check_path": { "type": "string", "pattern": "^/", "description": "The health check's path (default /healthz); the same as `health_check.path`" },
            "health_check": {
                "type": "object",
                "additionalProperties": false,
                "description": "The load balancer's health check of the tasks (changed in place)",
                "properties": {
                    "path": { "type": "string", "pattern": "^/", "description": "Path that answers 200 when a task is healthy (default /healthz)" },
                    "interval_seconds": { "type": "integer", "minimum": 5, "maximum": 300, "default": 15 },
                    "timeout_seconds": { "type": "integer", "minimum": 2, "maximum": 120, "description": "Default: AWS's (6 s for HTTP); must be less than the interval" },
                    "healthy_threshold": { "type": "integer", "minimum": 2, "maximum": 10, "default": 2 },
                    "unhealthy_threshold": { "type": "integer", "minimum": 2, "maximum": 10, "default": 3 }
                }
            },
            "environment": { "type": "object", "additionalProperties": { "type": "string" }, "description": "Plain environment variables" },
            "secrets": {
                "type": "object",
                "propertyNames": { "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" },
                "additionalProperties": {
                    "oneOf": [
                        { "type": "string", "pattern": "^arn:", "description": "ARN of an existing Secrets Manager secret or SSM parameter" },
                        {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["generate"],
                            "properties": {
                                "generate": { "const": true, "description": "A random value generated by Secrets Manager, stored in a secret of this service (replicated to its other regions); platform never sees it" },
                                "name": { "type": "string", "pattern": "^[A-Za-z0-9_.-]+$", "description": "The secret's name under /<service>/ (default: the variable's name in kebab case)" },
                                "length": { "type": "integer", "minimum": 16, "maximum": 4096, "default": 32 }
                            }
                        }
                    ]
                },
                "description": "Variables the tasks receive from Secrets Manager or SSM, injected at start"
            },
            "parameters": {
                "type": "object",
                "propertyNames": { "pattern": "^[A-Za-z0-9_.-]+$" },
                "additionalProperties": { "type": "string" },
                "description": "Configuration in SSM Parameter Store, as <parameters_path><name> in every region of the service; the task role may read exactly these (PARAMETERS_PATH in the environment names the path)"
            },
            "parameters_path": { "type": "string", "description": "Where `parameters` live: `/pipeline/staging/api-service/` (default: /<blueprint>-<env>-<instance>/)" },
            "ecr": {
                "type": "object",
                "additionalProperties": false,
                "description": "The image repository's rules (changed in place; the repository and its images are kept)",
                "properties": {
                    "tag_mutability": { "enum": ["IMMUTABLE", "MUTABLE"], "default": "IMMUTABLE" },
                    "untagged_expire_days": { "type": "integer", "minimum": 0, "maximum": 3650, "default": 14, "description": "Untagged images expire after this many days; 0 keeps them" },
                    "scan_on_push": { "type": "boolean", "default": true },
                    "replicate": { "type": "boolean", "default": false, "description": "Copy pushed images to the service's other regions (an ECR replication rule in the registry of the primary region; ECR creates the repositories there)" }
                }
            },
            "regions": { "enum": ["all", "primary"], "default": "all" },
            "network": { "type": "string", "default": "network", "description": "Instance of the network plugin to run in" },
            "database": { "type": "string", "description": "Instance of the database plugin whose endpoint and secret the tasks receive" },
            "cluster": { "type": "string", "description": "Another service instance whose ECS cluster to share" },
            "certificate_arn": { "type": "string", "description": "ACM certificate for an HTTPS listener on 443" },
            "log_retention_days": { "enum": [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365], "default": 30 },
            "health_check_command": { "type": "array", "items": { "type": "string" }, "minItems": 2, "description": "Container health check (default: curl the health check path)" },
            "otel_collector": { "type": "boolean", "default": false, "description": "Run an OpenTelemetry collector sidecar (traces to X-Ray, metrics to CloudWatch); the app gets OTEL_EXPORTER_OTLP_ENDPOINT" },
            "otel_image": { "type": "string", "default": "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.1", "description": "The collector's image" },
            "probe": { "type": "boolean", "description": "After a change, GET the health check path through the load balancer (verify phase); default: on with an internet-facing load balancer, and only possible there (`up` runs outside the VPC)" },
            "load_balancer": { "enum": ["internet-facing", "internal", "none"], "default": "internet-facing", "description": "internet-facing: an ALB in the public subnets; internal: an ALB in the private subnets, reachable from the VPC only; none: no ALB (a worker), deployed by ECS rolling deployments and reached by name through Cloud Map. Changing it replaces the load balancer and the ECS service" },
            "shared_load_balancer": {
                "type": "object",
                "additionalProperties": false,
                "required": ["service", "priority"],
                "description": "Join another service's load balancer instead of having one: its listeners send the requests matching `paths` or `hosts` to this service by listener rules (the other service keeps every other request). Its scheme is that service's; rollouts shift the rules' traffic",
                "properties": {
                    "service": { "type": "string", "description": "The service instance whose load balancer to join (one with a load balancer of its own)" },
                    "priority": { "type": "integer", "minimum": 1, "maximum": 50000, "description": "The rules' place on the shared listeners, lowest first: unique among the services sharing it" },
                    "paths": { "type": "array", "items": { "type": "string" }, "description": "Path patterns (`/auth/*`; case sensitive)" },
                    "hosts": { "type": "array", "items": { "type": "string" }, "description": "Host names (`auth.example.com`, `*.example.com`); with paths, both must match" }
                }
            },
            "links": { "type": "array", "items": { "type": "string" }, "description": "Other service instances this one calls: each gives the environment variable <INSTANCE>_URL (its `url` export)" },
            "allow_from_services": { "type": "boolean", "default": false, "description": "Admit the network's other services on this service's port (calls by name through Cloud Map), besides the load balancer" },
            "autoscaling": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "enabled": { "type": "boolean", "default": true, "description": "false: desired_count holds, no scaling policies" },
                    "min": { "type": "integer", "minimum": 0, "default": 1 },
                    "max": { "type": "integer", "minimum": 1, "default": 5 },
                    "cpu_target": { "type": "integer", "minimum": 1, "maximum": 100, "default": 55 },
                    "requests_per_target": { "type": "integer", "minimum": 1, "default": 1000 }
                }
            },
            "deployment": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "strategy": { "enum": ["all-at-once", "canary", "linear", "blue-green"], "default": "canary", "description": "How production traffic moves to a new version" },
                    "canary_percent": { "type": "integer", "minimum": 1, "maximum": 99, "default": 10, "description": "canary: share of traffic on the new version during the bake" },
                    "bake_seconds": { "type": "integer", "minimum": 0, "default": 300, "description": "canary: how long the gates watch the canary" },
                    "step_percent": { "type": "integer", "minimum": 1, "maximum": 99, "default": 25, "description": "linear: traffic added per step" },
                    "interval_seconds": { "type": "integer", "minimum": 0, "default": 60, "description": "linear: bake between steps" },
                    "timeout_seconds": { "type": "integer", "minimum": 1, "default": 900, "description": "Longest wait for the new version's tasks to run and pass health checks" },
                    "drain_seconds": { "type": "integer", "minimum": 0, "maximum": 3600, "default": 30, "description": "Deregistration delay: how long old tasks finish their requests before they stop" },
                    "alarm_gate": { "type": "boolean", "default": true, "description": "A CloudWatch alarm of this service (name prefix) in ALARM during a bake fails the rollout" },
                    "probe_path": { "type": "string", "description": "During bakes, GET this path through the test listener (9001); anything but 200 fails the rollout" }
                }
            }
        }
    })
}

/// Fargate's valid memory sizes for a CPU size.
fn memory_fits(cpu: u32, memory: u32) -> bool {
    match cpu {
        256 => [512, 1024, 2048].contains(&memory),
        512 => (1024..=4096).contains(&memory) && memory % 1024 == 0,
        1024 => (2048..=8192).contains(&memory) && memory % 1024 == 0,
        2048 => (4096..=16384).contains(&memory) && memory % 1024 == 0,
        4096 => (8192..=30720).contains(&memory) && memory % 1024 == 0,
        _ => false,
    }
}

impl Plugin for Service {
    fn info() -> Info {
        Info::new("service", env!("CARGO_PKG_VERSION"), "ECS Fargate service behind an ALB with blue/green target groups")
            .kinds(&[
                "aws.ecs.cluster",
                "aws.ecs.task-definition",
                "aws.ecs.service",
                "aws.ecr.repository",
                "aws.ecr.replication-rule",
                "aws.iam.role",
                "aws.logs.log-group",
                "aws.elbv2.load-balancer",
                "aws.elbv2.target-group",
                "aws.elbv2.listener",
                "aws.elbv2.listener-rule",
                "aws.applicationautoscaling.scalable-target",
                "aws.applicationautoscaling.scaling-policy",
                "aws.servicediscovery.service",
                "aws.ec2.security-group",
                "aws.secretsmanager.secret",
                "aws.ssm.parameter",
            ])
            .actions(&[
                "http.probe",
                "rollout.begin",
                "traffic.shift",
                "rollout.bake",
                "rollout.approval",
                "rollout.finish",
            ])
            .schema(schema())
            .export("url", "The service URL in the primary region (internal: resolvable in the VPC; without a load balancer: its Cloud Map name and port, or null)")
            .export("regions", "Per region: load_balancer (the mode), cluster_name, service_name, log_group, discovery_name (`<instance>.<namespace>`, with service discovery), port; behind a load balancer alb_dns_name, alb_zone_id, alb_arn_suffix, target_group_arn_suffixes, and with a load balancer of its own lb_security_group_id and listener_http_arn, listener_https_arn, listener_test_arn (for services that join it); security_group_id when the tasks have a group of their own")
            .export("cluster", "Per region: the ECS cluster name, for services that share it")
            .export("alarm_prefix", "Name prefix of alarms that gate this service's rollouts")
            .export("repository", "The ECR repository its images go to: name, uri, arn (for a pipeline that builds them)")
    }

    fn plan(ctx: &Context) -> Result<Plan, Error> {
        let cfg: Config = ctx.config()?;
        if !memory_fits(cfg.cpu, cfg.memory) {
            return Err(Error::config(
                "/memory",
                format!(
                    "{} MiB is not a valid Fargate memory size for {} CPU units",
                    cfg.memory, cfg.cpu
                ),
            ));
        }
        if cfg.autoscaling.enabled && cfg.autoscaling.min > cfg.autoscaling.max {
            return Err(Error::config("/autoscaling/min", "min is greater than max"));
        }
        let health_path = match (&cfg.health_check_path, &cfg.health_check.path) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    "/health_check_path",
                    "set the path once: `health_check_path` or `health_check.path`",
                ));
            }
            (Some(p), None) | (None, Some(p)) => p.clone(),
            (None, None) => "/healthz".to_string(),
        };
        if let Some(timeout) = cfg.health_check.timeout_seconds
            && timeout >= cfg.health_check.interval_seconds
        {
            return Err(Error::config(
                "/health_check/timeout_seconds",
                format!(
                    "the timeout ({timeout} s) must be less than the interval ({} s): AWS refuses it otherwise",
                    cfg.health_check.interval_seconds
                ),
            ));
        }
        let sources = sources(&cfg)?;
        let shared = match &cfg.shared_load_balancer {
            Some(s) => Some((s, shared_owner(ctx, &cfg, s)?)),
            None => None,
        };
        let mode: String = match &shared {
            Some((_, owner)) => owner_mode(owner).unwrap_or_default(),
            None => cfg.load_balancer.clone().unwrap_or_else(|| "internet-facing".into()),
        };
        let mode = mode.as_str();
        let behind_lb = mode != "none";
        let probe = match (cfg.probe, mode) {
            (Some(true), "internal" | "none") => {
                return Err(Error::config(
                    "/probe",
                    format!(
                        "the probe GETs the load balancer from where `platform up` runs, outside the VPC, and a service with `load_balancer = \"{mode}\"` cannot be reached from there"
                    ),
                ));
            }
            (Some(p), _) => p,
            // On a shared load balancer the health check path may not be
            // one of this service's paths.
            (None, m) => m == "internet-facing" && shared.is_none(),
        };
        if !behind_lb {
            if cfg.deployment.is_some() {
                return Err(Error::config(
                    "/deployment",
                    "a service without a load balancer is deployed by ECS's rolling deployments (with the circuit breaker rolling back a failing one); the deployment strategies shift load balancer traffic",
                ));
            }
            if cfg.certificate_arn.is_some() {
                return Err(Error::config(
                    "/certificate_arn",
                    "a service without a load balancer has no HTTPS listener",
                ));
            }
        }
        let deployment = cfg.deployment.clone().unwrap_or_default();
        if mode == "internal" && deployment.probe_path.is_some() {
            return Err(Error::config(
                "/deployment/probe_path",
                "the bake probe GETs the test listener from where `platform up` runs, and an internal load balancer cannot be reached from there",
            ));
        }
        let family = ctx.physical_name("", 255);
        let parameters_path = parameters_path(&cfg, &family)?;
        let mut ids = std::collections::BTreeSet::new();
        for key in cfg.parameters.keys() {
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
                return Err(Error::config(
                    &format!("/parameters/{key}"),
                    "a parameter's name has letters, digits and `_.-` only",
                ));
            }
            if !ids.insert(kebab(key)) {
                return Err(Error::config(
                    &format!("/parameters/{key}"),
                    format!("`{key}` differs from another parameter's name only in case or in `_.-`"),
                ));
            }
        }
        let network = ctx.import(&cfg.network, "regions")?;
        let shared_cluster = match &cfg.cluster {
            Some(other) => Some(ctx.import(other, "cluster")?),
            None => None,
        };
        // The database as each region sees it: the endpoint and secret of
        // that region when the database plugin has them (a replica's region:
        // the replica and the secret's replica), else the primary's.
        let database = match &cfg.database {
            Some(db) => Some(Database {
                endpoint: ctx.import(db, "endpoint")?,
                secret: ctx.import(db, "secret_arn")?,
                regions: ctx.import(db, "regions").ok(),
            }),
            None => None,
        };
        // Services this one calls, by URL.
        let mut links = Vec::new();
        for other in &cfg.links {
            let url = ctx.import(other, "url")?;
            if matches!(url, Value::Null) {
                return Err(Error::config(
                    "/links",
                    format!(
                        "service instance `{other}` has no URL: it has no load balancer and its network no service discovery"
                    ),
                ));
            }
            let var = format!("{}_URL", other.to_ascii_uppercase().replace('-', "_"));
            links.push((var, url));
        }
        let regions: Vec<&String> = match cfg.regions.as_str() {
            "primary" => ctx.env.regions.iter().take(1).collect(),
            _ => ctx.env.regions.iter().collect(),
        };

        let mut plan = Plan::new();
        let alarm_prefix = format!("{family}-");

        // Secrets this service generates: one secret in the primary region,
        // replicated to the others, so tasks everywhere read their region's copy.
        let primary_region = regions[0].as_str();
        let others: Vec<&str> = regions.iter().skip(1).map(|r| r.as_str()).collect();
        let mut generated: Vec<(String, String)> = Vec::new(); // (variable, resource id)
        for (key, source) in &sources {
            if let SecretSource::Generated(g) = source {
                let id = format!("secret-{}", kebab(key));
                let name = g.name.clone().unwrap_or_else(|| key.clone());
                plan.resource(
                    &id,
                    "aws.secretsmanager.secret",
                    obj! {
                        "name": format!("/{family}/{name}"),
                        "description": format!("{key} of {}", ctx.instance),
                        "generate": obj! { "format": "plain", "password_length": g.length },
                        "replica_regions": others.clone(),
                    },
                )
                .in_region(primary_region);
                generated.push((key.clone(), id));
            }
        }
        let secret_arn_in = |id: &str, region: &str| {
            if region == primary_region {
                reference(id, "arn")
            } else {
                reference(id, &format!("replica_arn_{}", region.replace('-', "_")))
            }
        };
        let mut readable: Vec<Value> = Vec::new(); // ARNs the task role may read
        for (_, id) in &generated {
            for region in &regions {
                readable.push(secret_arn_in(id, region));
            }
        }
        let mut parameter_arns: Vec<Value> = Vec::new();
        // The service's path in each region, for GetParametersByPath (IAM
        // authorizes it on the path, not on the parameters it returns).
        let mut path_arns: Vec<(String, Value)> = Vec::new();
        for (key, value) in &cfg.parameters {
            for region in &regions {
                let id = format!("parameter-{}-{region}", kebab(key));
                plan.resource(
                    &id,
                    "aws.ssm.parameter",
                    obj! {
                        "name": format!("{parameters_path}{key}"),
                        "value": value.as_str(),
                        "description": format!("{key} of {}", ctx.instance),
                    },
                )
                .in_region(region);
                parameter_arns.push(reference(&id, "arn"));
                if !path_arns.iter().any(|(r, _)| r == region.as_str()) {
                    path_arns.push((region.to_string(), reference(&id, "path_arn")));
                }
            }
        }

        plan.resource(
            "execution-role",
            "aws.iam.role",
            obj! {
                "name": ctx.physical_name("exec", 64),
                "assume_role_service": "ecs-tasks.amazonaws.com",
                "managed_policy_arns": vec!["arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"],
                "inline_policy": secrets_policy(&sources, database.as_ref().map(Database::secrets).unwrap_or_default(), readable.clone()),
            },
        );
        let mut task_role = obj! {
            "name": ctx.physical_name("task", 64),
            "assume_role_service": "ecs-tasks.amazonaws.com",
        };
        let mut statements: Vec<Value> = Vec::new();
        if cfg.otel_collector {
            // What the collector's default ECS configuration sends.
            statements.push(Value::from(json!({
                "Effect": "Allow",
                "Action": [
                    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                    "xray:GetSamplingTargets", "cloudwatch:PutMetricData", "logs:PutLogEvents",
                    "logs:CreateLogStream", "logs:DescribeLogStreams"
                ],
                "Resource": "*"
            })));
        }
        // The application reads its own configuration and secrets at run
        // time, and nothing else.
        if !parameter_arns.is_empty() {
            statements.push(obj! {
                "Effect": "Allow",
                "Action": vec!["ssm:GetParameter", "ssm:GetParameters"],
                "Resource": parameter_arns.clone(),
            });
            statements.push(obj! {
                "Effect": "Allow",
                "Action": vec!["ssm:GetParametersByPath"],
                "Resource": path_arns.iter().map(|(_, arn)| arn.clone()).collect::<Vec<Value>>(),
            });
        }
        if !readable.is_empty() {
            statements.push(obj! {
                "Effect": "Allow",
                "Action": vec!["secretsmanager:GetSecretValue"],
                "Resource": readable.clone(),
            });
        }
        if !statements.is_empty() {
            task_role.insert(
                "inline_policy",
                obj! { "Version": "2012-10-17", "Statement": statements },
            );
        }
        plan.resource("task-role", "aws.iam.role", task_role);
        let mut repository = obj! {
            "name": family.as_str(),
            "scan_on_push": cfg.ecr.scan_on_push,
            "image_tag_mutability": cfg.ecr.tag_mutability.as_str(),
        };
        if cfg.ecr.untagged_expire_days > 0 {
            repository.insert("untagged_expire_days", cfg.ecr.untagged_expire_days);
        }
        plan.resource("repository", "aws.ecr.repository", repository);
        if cfg.ecr.replicate {
            let others: Vec<Value> = regions.iter().skip(1).map(|r| Value::from(r.as_str())).collect();
            if others.is_empty() {
                return Err(Error::config(
                    "/ecr/replicate",
                    "the service runs in one region: there is nowhere to replicate its images to",
                ));
            }
            plan.resource(
                "replication",
                "aws.ecr.replication-rule",
                obj! { "repository_prefix": family.as_str(), "regions": others },
            )
            .depends_on("repository");
        }

        let mut exported_regions = Vec::new();
        let mut exported_clusters = Vec::new();
        let mut urls: Vec<Value> = Vec::new();
        for region in &regions {
            let region = region.as_str();
            let id = |what: &str| format!("{what}-{region}");
            let Some(net) = network.get(region) else {
                return Err(Error::failed(format!(
                    "network instance `{}` has no VPC in region {region}; set its `regions` to \"all\"",
                    cfg.network
                )));
            };
            let field = |key: &str| net.get(key).cloned().unwrap_or(Value::Null);
            // A mark of the VPC's address range, in the names of what lives
            // in the VPC and AWS wants uniquely named (the load balancer,
            // the target groups): a new range replaces them, and with new
            // names the new ones are made before the old ones go.
            let vpc_mark = match net.get("cidr") {
                Some(Value::Str(cidr)) => format!("-{}", short_hash(cidr)),
                _ => String::new(),
            };
            // The load balancer this service joins, as its owner exports it
            // for this region.
            let joined = match &shared {
                Some((s, owner)) => Some((
                    *s,
                    owner.get(region).ok_or_else(|| {
                        Error::failed(format!(
                            "`{}`, whose load balancer this service joins, does not run in region {region}; give both the same `regions`",
                            s.service
                        ))
                    })?,
                )),
                None => None,
            };
            let owner_fact = |key: &str| joined.and_then(|(_, f)| f.get(key)).cloned().unwrap_or(Value::Null);
            // The bake probe runs where `up` runs, outside the VPC: the test
            // listener must be open to it, or the probe fails every rollout.
            if deployment.probe_path.is_some()
                && net
                    .get("test_listener_cidrs")
                    .and_then(Value::as_array)
                    .is_none_or(|c| c.is_empty())
            {
                return Err(Error::config(
                    "/deployment/probe_path",
                    format!(
                        "the bake probe GETs the test listener (port 9001) from where `platform up` runs, and network instance `{}` opens it only inside the VPC, so the probe could never pass; add the address range `up` runs from to the network's `test_listener_cidrs`",
                        cfg.network
                    ),
                ));
            }
            // An application load balancer needs subnets in two zones.
            let lb_subnets = if mode == "internal" {
                "private_subnet_ids"
            } else {
                "public_subnet_ids"
            };
            let zones = net.get(lb_subnets).and_then(Value::as_array).map_or(0, |a| a.len());
            if behind_lb && zones < 2 {
                return Err(Error::failed(format!(
                    "a load balancer needs subnets in two availability zones, and network instance `{}` has {zones} in {region}; set its `az_count` to 2 or more",
                    cfg.network
                )));
            }

            let cluster = match &shared_cluster {
                Some(clusters) => clusters
                    .get(region)
                    .cloned()
                    .ok_or_else(|| Error::failed(format!("shared cluster has no cluster in region {region}")))?,
                None => {
                    plan.resource(
                        &id("cluster"),
                        "aws.ecs.cluster",
                        obj! {
                            "name": family.as_str(),
                            "container_insights": true,
                        },
                    )
                    .in_region(region);
                    reference(&id("cluster"), "name")
                }
            };
            exported_clusters.push((region.to_string(), cluster.clone()));

            let log_group = format!("/platform/{}/{}/{}", ctx.blueprint, ctx.env.name, ctx.instance);
            plan.resource(
                &id("logs"),
                "aws.logs.log-group",
                obj! {
                    "name": log_group.as_str(),
                    "retention_in_days": cfg.log_retention_days,
                },
            )
            .in_region(region);

            // Registered in the network's Cloud Map namespace, when it has one.
            let namespace = net.get("namespace_id").cloned().filter(|v| !matches!(v, Value::Null));
            let discovery_name = net
                .get("namespace_name")
                .and_then(|v| v.as_str().map(|n| format!("{}.{n}", ctx.instance)));
            if let Some(namespace_id) = &namespace {
                plan.resource(
                    &id("discovery"),
                    "aws.servicediscovery.service",
                    obj! { "name": ctx.instance.as_str(), "namespace_id": namespace_id, "dns_ttl": 10 },
                )
                .in_region(region);
            }
            let mut environment: Vec<Value> = cfg
                .environment
                .iter()
                .map(|(k, v)| obj! { "name": k, "value": v })
                .collect();
            environment.push(obj! { "name": "PORT", "value": cfg.port.to_string() });
            environment.push(obj! { "name": "SERVICE_NAME", "value": ctx.instance.as_str() });
            for (var, url) in &links {
                environment.push(obj! { "name": var.as_str(), "value": url.clone() });
            }
            let mut secrets: Vec<Value> = Vec::new();
            for (key, source) in &sources {
                let from = match source {
                    SecretSource::Arn(arn) => Value::from(arn.as_str()),
                    SecretSource::Generated(_) => {
                        let id = &generated.iter().find(|(k, _)| k == key).expect("generated above").1;
                        secret_arn_in(id, region)
                    }
                };
                secrets.push(obj! { "name": key, "value_from": from });
            }
            if !cfg.parameters.is_empty() {
                environment.push(obj! { "name": "PARAMETERS_PATH", "value": parameters_path.as_str() });
            }
            if let Some(db) = &database {
                let (reader, writer, secret) = db.in_region(region);
                environment.push(obj! { "name": "DATABASE_HOST", "value": &writer });
                // In a replica's region, reads stay in the region (and keep
                // working while the primary region is down); writes go to
                // the primary over the peering.
                if reader != writer {
                    environment.push(obj! { "name": "DATABASE_READER_HOST", "value": reader });
                }
                secrets.push(obj! { "name": "DATABASE_SECRET", "value_from": secret });
            }
            let logging = |prefix: &str| {
                obj! {
                    "log_driver": "awslogs",
                    "options": obj! {
                        "awslogs-group": reference(&id("logs"), "name"),
                        "awslogs-region": region,
                        "awslogs-stream-prefix": prefix,
                    },
                }
            };
            let mut sidecars = Vec::new();
            if cfg.otel_collector {
                environment.push(obj! { "name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://localhost:4317" });
                environment.push(obj! { "name": "OTEL_SERVICE_NAME", "value": ctx.instance.as_str() });
                environment.push(obj! {
                    "name": "OTEL_RESOURCE_ATTRIBUTES",
                    "value": format!("deployment.environment={}", ctx.env.name),
                });
                sidecars.push(obj! {
                    "name": "otel-collector",
                    "image": cfg.otel_image.as_str(),
                    "essential": false,
                    "command": vec!["--config=/etc/ecs/ecs-cloudwatch-xray.yaml"],
                    "log_configuration": logging("otel"),
                });
            }
            plan.resource(
                &id("task"),
                "aws.ecs.task-definition",
                obj! {
                    "family": family.as_str(),
                    "cpu": cfg.cpu.to_string(),
                    "memory": cfg.memory.to_string(),
                    "network_mode": "awsvpc",
                    "requires_compatibilities": vec!["FARGATE"],
                    "execution_role_arn": reference("execution-role", "arn"),
                    "task_role_arn": reference("task-role", "arn"),
                    "containers": vec![obj! {
                        "name": "app",
                        "image": cfg.image.as_str(),
                        "essential": true,
                        "port_mappings": vec![obj! { "container_port": cfg.port, "protocol": "tcp" }],
                        "environment": environment,
                        "secrets": secrets,
                        "health_check": obj! {
                            "command": cfg.health_check_command.clone().unwrap_or_else(|| vec![
                                "CMD-SHELL".to_string(),
                                format!("curl -fs http://localhost:{}{health_path} || exit 1", cfg.port),
                            ]),
                            "interval": 30, "timeout": 5, "retries": 3, "start_period": 30,
                        },
                        "log_configuration": logging(ctx.instance.as_str()),
                    }].into_iter().chain(sidecars).collect::<Vec<Value>>(),
                },
            )
            .in_region(region);

            // Security groups. An internal load balancer admits the VPC only.
            // The tasks keep the network's service group (the database
            // trusts it); a service whose load balancer, port or callers
            // differ from what that group admits gets a group of its own.
            let lb_sg = match mode {
                _ if joined.is_some() => owner_fact("lb_security_group_id"),
                "internal" => {
                    let mut ingress = vec![
                        obj! { "protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_ipv4": field("cidr") },
                        obj! { "protocol": "tcp", "from_port": 9001, "to_port": 9001, "cidr_ipv4": field("cidr") },
                    ];
                    if cfg.certificate_arn.is_some() {
                        ingress.push(
                            obj! { "protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_ipv4": field("cidr") },
                        );
                    }
                    plan.resource(
                        &id("lb-sg"),
                        "aws.ec2.security-group",
                        obj! {
                            "vpc_id": field("vpc_id"),
                            "group_name": ctx.physical_name(&format!("lb-{region}"), 255),
                            "description": "Internal load balancer: HTTP, HTTPS and the test listener from the VPC",
                            "ingress": ingress,
                        },
                    )
                    .in_region(region);
                    reference(&id("lb-sg"), "id")
                }
                "none" => Value::Null,
                _ => field("lb_security_group_id"),
            };
            let network_port = match net.get("service_port") {
                Some(Value::Int(p)) => Some(*p),
                _ => None,
            };
            let own_group =
                mode != "internet-facing" || network_port != Some(i64::from(cfg.port)) || cfg.allow_from_services;
            let mut task_groups = vec![field("service_security_group_id")];
            if own_group {
                let mut ingress = Vec::new();
                if behind_lb {
                    ingress.push(obj! { "protocol": "tcp", "from_port": cfg.port, "to_port": cfg.port, "source_security_group_id": lb_sg.clone() });
                }
                if cfg.allow_from_services {
                    ingress.push(obj! {
                        "protocol": "tcp", "from_port": cfg.port, "to_port": cfg.port,
                        "source_security_group_id": field("service_security_group_id"),
                    });
                }
                plan.resource(
                    &id("tasks-sg"),
                    "aws.ec2.security-group",
                    obj! {
                        "vpc_id": field("vpc_id"),
                        "group_name": ctx.physical_name(&format!("tasks-{region}"), 255),
                        "description": "Service tasks: their port from their load balancer (and the network's services, if allowed)",
                        "ingress": ingress,
                    },
                )
                .in_region(region);
                task_groups.push(reference(&id("tasks-sg"), "id"));
            }

            if behind_lb && joined.is_none() {
                plan.resource(
                    &id("alb"),
                    "aws.elbv2.load-balancer",
                    obj! {
                        "name": ctx.physical_name(&format!("{}{vpc_mark}", region_code(region)), 32),
                        "scheme": mode,
                        "type": "application",
                        "subnets": field(lb_subnets),
                        "security_groups": vec![lb_sg.clone()],
                    },
                )
                .in_region(region);
            }
            if behind_lb {
                for color in ["blue", "green"] {
                    let mut group = obj! {
                        // The port in the name too: a new port replaces
                        // the group (see `vpc_mark`).
                        "name": ctx.physical_name(
                            &format!("{}{}-{}{vpc_mark}", &color[..1], cfg.port, region_code(region)),
                            32,
                        ),
                        "protocol": "HTTP",
                        "port": cfg.port,
                        "vpc_id": field("vpc_id"),
                        "target_type": "ip",
                        "health_check_path": health_path.as_str(),
                        "health_check_interval_seconds": cfg.health_check.interval_seconds,
                        "healthy_threshold_count": cfg.health_check.healthy_threshold,
                        "unhealthy_threshold_count": cfg.health_check.unhealthy_threshold,
                        "deregistration_delay_seconds": deployment.drain_seconds,
                    };
                    // AWS's default timeout for HTTP is 6 s, which a shorter
                    // interval would not leave room for.
                    let timeout = cfg
                        .health_check
                        .timeout_seconds
                        .or((cfg.health_check.interval_seconds <= 6).then(|| cfg.health_check.interval_seconds - 1));
                    if let Some(timeout) = timeout {
                        group.insert("health_check_timeout_seconds", timeout);
                    }
                    plan.resource(&id(&format!("tg-{color}")), "aws.elbv2.target-group", group)
                        .in_region(region);
                }
                let forward = |weight_blue: u32| {
                    obj! {
                        "type": "forward",
                        "target_groups": vec![
                            obj! { "arn": reference(&id("tg-blue"), "arn"), "weight": weight_blue },
                            obj! { "arn": reference(&id("tg-green"), "arn"), "weight": 100 - weight_blue },
                        ],
                    }
                };
                if let Some((s, _)) = joined {
                    // Rules on the owner's listeners, with the same
                    // priority on each.
                    for (name, listener, blue) in [
                        ("rule-http", owner_fact("listener_http_arn"), 100),
                        ("rule-https", owner_fact("listener_https_arn"), 100),
                        ("rule-test", owner_fact("listener_test_arn"), 0),
                    ] {
                        if matches!(listener, Value::Null) {
                            continue;
                        }
                        plan.resource(
                            &id(name),
                            "aws.elbv2.listener-rule",
                            obj! {
                                "listener_arn": listener,
                                "priority": s.priority,
                                "paths": s.paths.iter().map(|p| Value::from(p.as_str())).collect::<Vec<Value>>(),
                                "hosts": s.hosts.iter().map(|h| Value::from(h.as_str())).collect::<Vec<Value>>(),
                                "action": forward(blue),
                            },
                        )
                        .in_region(region);
                    }
                } else {
                    plan.resource(
                        &id("listener-http"),
                        "aws.elbv2.listener",
                        obj! {
                            "load_balancer_arn": reference(&id("alb"), "arn"),
                            "protocol": "HTTP",
                            "port": 80,
                            "default_action": forward(100),
                        },
                    )
                    .in_region(region);
                    if let Some(cert) = &cfg.certificate_arn {
                        plan.resource(
                            &id("listener-https"),
                            "aws.elbv2.listener",
                            obj! {
                                "load_balancer_arn": reference(&id("alb"), "arn"),
                                "protocol": "HTTPS",
                                "port": 443,
                                "certificate_arn": cert.as_str(),
                                "ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                                "default_action": forward(100),
                            },
                        )
                        .in_region(region);
                    }
                    plan.resource(
                        &id("listener-test"),
                        "aws.elbv2.listener",
                        obj! {
                            "load_balancer_arn": reference(&id("alb"), "arn"),
                            "protocol": "HTTP",
                            "port": 9001,
                            "default_action": forward(0),
                        },
                    )
                    .in_region(region);
                }
            }
            // Where the load balancer answers: this service's, or the one it joins.
            let alb_fact = |attribute: &str, exported: &str| {
                if joined.is_some() {
                    owner_fact(exported)
                } else {
                    reference(&id("alb"), attribute)
                }
            };

            // Behind a load balancer, the EXTERNAL controller: rollouts start
            // task sets behind the blue and green target groups and shift
            // traffic between them. Without one, ECS's rolling deployments
            // (the circuit breaker rolls a failing one back).
            let service_props = if behind_lb {
                obj! {
                    "name": ctx.instance.as_str(),
                    "cluster": &cluster,
                    "desired_count": cfg.desired_count,
                    "deployment_controller": "EXTERNAL",
                    "health_check_grace_period_seconds": 60,
                }
            } else {
                obj! {
                    "name": ctx.instance.as_str(),
                    "cluster": &cluster,
                    "desired_count": cfg.desired_count,
                    "task_definition": reference(&id("task"), "arn"),
                    "launch_type": "FARGATE",
                    "subnets": field("private_subnet_ids"),
                    "security_groups": task_groups.clone(),
                    "assign_public_ip": false,
                    "service_registries": if namespace.is_some() {
                        vec![reference(&id("discovery"), "arn")]
                    } else {
                        Vec::new()
                    },
                    "deployment_circuit_breaker": obj! { "enable": true, "rollback": true },
                }
            };
            let service = plan
                .resource(&id("service"), "aws.ecs.service", service_props)
                .in_region(region);
            // ECS refuses a target group no listener (or rule) forwards to.
            if behind_lb {
                service.depends_on(&id(if joined.is_some() { "rule-http" } else { "listener-http" }));
            }
            // Its tasks register in the Cloud Map service, which cannot be
            // deleted while they are there: on `down` the ECS service (and its
            // tasks) must go first.
            if namespace.is_some() {
                service.depends_on(&id("discovery"));
            }

            if cfg.autoscaling.enabled {
                let resource_id = concat(vec![
                    Value::from("service/"),
                    cluster.clone(),
                    Value::from("/"),
                    reference(&id("service"), "name"),
                ]);
                plan.resource(
                    &id("scaling-target"),
                    "aws.applicationautoscaling.scalable-target",
                    obj! {
                        "service_namespace": "ecs",
                        "scalable_dimension": "ecs:service:DesiredCount",
                        "resource_id": &resource_id,
                        "min_capacity": cfg.autoscaling.min,
                        "max_capacity": cfg.autoscaling.max,
                    },
                )
                .in_region(region);
                plan.resource(
                    &id("scaling-cpu"),
                    "aws.applicationautoscaling.scaling-policy",
                    obj! {
                        "name": ctx.physical_name("cpu", 255),
                        "service_namespace": "ecs",
                        "scalable_dimension": "ecs:service:DesiredCount",
                        "resource_id": &resource_id,
                        "target_value": cfg.autoscaling.cpu_target,
                        "predefined_metric": "ECSServiceAverageCPUUtilization",
                        "scale_in_cooldown": 300,
                        "scale_out_cooldown": 60,
                    },
                )
                .in_region(region)
                .depends_on(&id("scaling-target"));
                if behind_lb {
                    plan.resource(
                        &id("scaling-requests"),
                        "aws.applicationautoscaling.scaling-policy",
                        obj! {
                            "name": ctx.physical_name("requests", 255),
                            "service_namespace": "ecs",
                            "scalable_dimension": "ecs:service:DesiredCount",
                            "resource_id": &resource_id,
                            "target_value": cfg.autoscaling.requests_per_target,
                            // Requests per healthy target over both colours: after a
                            // rollout swaps them, a policy on one target group would
                            // count the idle one, and during a canary both serve.
                            "metrics": {
                                let alb = alb_fact("arn_suffix", "alb_arn_suffix");
                                let tg = |color: &str| reference(&id(&format!("tg-{color}")), "arn_suffix");
                                vec![
                                    alb_metric("rb", "RequestCount", "Sum", tg("blue"), alb.clone()),
                                    alb_metric("rg", "RequestCount", "Sum", tg("green"), alb.clone()),
                                    alb_metric("hb", "HealthyHostCount", "Average", tg("blue"), alb.clone()),
                                    alb_metric("hg", "HealthyHostCount", "Average", tg("green"), alb),
                                    obj! {
                                        "id": "serving",
                                        "expression": "(FILL(rb,0)+FILL(rg,0))/(FILL(hb,0)+FILL(hg,0))",
                                        "label": "Requests per healthy target, both colours",
                                        "return_data": true,
                                    },
                                ]
                            },
                            "scale_in_cooldown": 300,
                            "scale_out_cooldown": 60,
                        },
                    )
                    .in_region(region)
                    .depends_on(&id("scaling-target"));
                }
            }

            if probe {
                plan.step(&id("probe"), Phase::Verify, "http.probe", obj! {
                "url": concat(vec![Value::from("http://"), alb_fact("dns_name", "alb_dns_name"), Value::from(health_path.as_str())]),
                "expect_status": 200,
            })
            .timeout(120);
            }

            if behind_lb {
                let rollout = Rollout {
                    region,
                    cluster: &cluster,
                    port: cfg.port,
                    production: match joined {
                        Some(_) => ["rule-http", "rule-https"]
                            .into_iter()
                            .filter(|name| {
                                *name == "rule-http" || !matches!(owner_fact("listener_https_arn"), Value::Null)
                            })
                            .map(|name| reference(&id(name), "arn"))
                            .collect(),
                        None => std::iter::once("listener-http")
                            .chain(cfg.certificate_arn.as_ref().map(|_| "listener-https"))
                            .map(|name| reference(&id(name), "arn"))
                            .collect(),
                    },
                    test: reference(&id(if joined.is_some() { "rule-test" } else { "listener-test" }), "arn"),
                    dns_name: alb_fact("dns_name", "alb_dns_name"),
                    subnets: field("private_subnet_ids"),
                    security_groups: task_groups.clone(),
                    alarm_prefix: &alarm_prefix,
                    discovery: namespace.is_some(),
                };
                rollout.steps(&mut plan, &deployment);
            }

            let mut facts = obj! {
                "load_balancer": mode,
                "cluster_name": &cluster,
                "service_name": reference(&id("service"), "name"),
                "log_group": reference(&id("logs"), "name"),
                "discovery_name": discovery_name.as_deref().map_or(Value::Null, Value::from),
                "port": cfg.port,
            };
            if behind_lb {
                facts.insert("alb_dns_name", alb_fact("dns_name", "alb_dns_name"));
                facts.insert("alb_zone_id", alb_fact("canonical_hosted_zone_id", "alb_zone_id"));
                facts.insert("alb_arn_suffix", alb_fact("arn_suffix", "alb_arn_suffix"));
                // What a service joining this one's load balancer needs.
                if joined.is_none() {
                    facts.insert("lb_security_group_id", lb_sg.clone());
                    facts.insert("listener_http_arn", reference(&id("listener-http"), "arn"));
                    if cfg.certificate_arn.is_some() {
                        facts.insert("listener_https_arn", reference(&id("listener-https"), "arn"));
                    }
                    facts.insert("listener_test_arn", reference(&id("listener-test"), "arn"));
                }
                facts.insert(
                    "target_group_arn_suffixes",
                    vec![
                        reference(&id("tg-blue"), "arn_suffix"),
                        reference(&id("tg-green"), "arn_suffix"),
                    ],
                );
            }
            if own_group {
                facts.insert("security_group_id", reference(&id("tasks-sg"), "id"));
            }
            exported_regions.push((region.to_string(), facts));
            urls.push(if let Some((s, _)) = joined {
                s.url(owner_fact("alb_dns_name"))
            } else if behind_lb {
                concat(vec![Value::from("http://"), reference(&id("alb"), "dns_name")])
            } else {
                discovery_name
                    .as_deref()
                    .map_or(Value::Null, |n| Value::from(format!("http://{n}:{}", cfg.port)))
            });
        }

        plan.export("url", urls.swap_remove(0), "Service URL");
        plan.export("regions", Value::Object(exported_regions), "Per-region service facts");
        plan.export(
            "cluster",
            Value::Object(exported_clusters),
            "Per-region ECS cluster name",
        );
        plan.export(
            "alarm_prefix",
            alarm_prefix.as_str(),
            "Alarm name prefix that gates rollouts",
        );
        plan.export(
            "repository",
            obj! {
                "name": reference("repository", "name"),
                "uri": reference("repository", "uri"),
                "arn": reference("repository", "arn"),
            },
            "The image repository",
        );
        Ok(plan)
    }
}

/// A load balancer metric of one target group, for metric math.
fn alb_metric(id: &str, name: &str, stat: &str, target_group: Value, load_balancer: Value) -> Value {
    obj! {
        "id": id,
        "namespace": "AWS/ApplicationELB",
        "metric_name": name,
        "dimensions": vec![
            obj! { "name": "TargetGroup", "value": target_group },
            obj! { "name": "LoadBalancer", "value": load_balancer },
        ],
        "stat": stat,
        "return_data": false,
    }
}

/// The database instance a service connects to, as the database plugin
/// exports it.
struct Database {
    endpoint: Value,
    secret: Value,
    /// Per region: endpoint, writer_endpoint, secret_arn (absent from
    /// database plugins that predate it).
    regions: Option<Value>,
}

impl Database {
    /// (nearest readable endpoint, writer endpoint, secret ARN) for tasks in
    /// `region`.
    fn in_region(&self, region: &str) -> (Value, Value, Value) {
        let here = self.regions.as_ref().and_then(|r| r.get(region));
        let pick = |key: &str, default: &Value| {
            here.and_then(|h| h.get(key))
                .cloned()
                .unwrap_or_else(|| default.clone())
        };
        (
            pick("endpoint", &self.endpoint),
            pick("writer_endpoint", &self.endpoint),
            pick("secret_arn", &self.secret),
        )
    }

    /// Every secret ARN the tasks of any region may read.
    fn secrets(&self) -> Vec<Value> {
        let mut all = vec![self.secret.clone()];
        if let Some(Value::Object(regions)) = &self.regions {
            for (_, facts) in regions {
                if let Some(s) = facts.get("secret_arn")
                    && !all.contains(s)
                {
                    all.push(s.clone());
                }
            }
        }
        all
    }
}

/// The `secrets` setting, each variable read as an ARN or a secret to
/// generate, with errors that name the variable.
fn sources(cfg: &Config) -> Result<Vec<(String, SecretSource)>, Error> {
    let mut out = Vec::new();
    for (key, value) in &cfg.secrets {
        let at = format!("/secrets/{key}");
        if key.is_empty()
            || key.starts_with(|c: char| c.is_ascii_digit())
            || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Error::config(
                &at,
                "a variable's name has letters, digits and `_`, and does not start with a digit",
            ));
        }
        let source = match value {
            serde_json::Value::String(arn) if arn.starts_with("arn:") => SecretSource::Arn(arn.clone()),
            serde_json::Value::String(other) => {
                return Err(Error::config(
                    &at,
                    format!(
                        "`{other}` is not an ARN: give the ARN of a Secrets Manager secret or SSM parameter, or `{{ generate = true }}`"
                    ),
                ));
            }
            serde_json::Value::Object(_) => {
                let g: Generate =
                    serde_json::from_value(value.clone()).map_err(|e| Error::config(&at, e.to_string()))?;
                if !g.generate {
                    return Err(Error::config(
                        &format!("{at}/generate"),
                        "`generate = false` has no meaning: give the ARN of an existing secret instead",
                    ));
                }
                if let Some(name) = &g.name {
                    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
                        return Err(Error::config(
                            &format!("{at}/name"),
                            "a secret's name has letters, digits and `_.-` only",
                        ));
                    }
                    // Secrets Manager ends ARNs with `-` and six random
                    // characters: a name ending the same way is ambiguous.
                    let tail: Vec<char> = name.chars().rev().take(7).collect();
                    if tail.len() == 7 && tail[6] == '-' && tail[..6].iter().all(char::is_ascii_alphanumeric) {
                        return Err(Error::config(
                            &format!("{at}/name"),
                            "a secret's name must not end with `-` and six letters or digits (Secrets Manager's ARN suffix)",
                        ));
                    }
                }
                if !(16..=4096).contains(&g.length) {
                    return Err(Error::config(&format!("{at}/length"), "between 16 and 4096 characters"));
                }
                SecretSource::Generated(g)
            }
            _ => return Err(Error::config(&at, "an ARN, or `{ generate = true }`")),
        };
        out.push((key.clone(), source));
    }
    // Two generated secrets with one name would be one secret.
    let mut names = std::collections::BTreeSet::new();
    for (key, source) in &out {
        if let SecretSource::Generated(g) = source
            && !names.insert(g.name.clone().unwrap_or_else(|| key.clone()))
        {
            return Err(Error::config(
                &format!("/secrets/{key}/name"),
                "another generated secret has this name",
            ));
        }
    }
    Ok(out)
}

/// The SSM path of the service's parameters, ending in `/`: the setting,
/// checked as SSM checks names, or `/<family>/`.
fn parameters_path(cfg: &Config, family: &str) -> Result<String, Error> {
    let Some(path) = &cfg.parameters_path else {
        return Ok(format!("/{family}/"));
    };
    let path = if path.ends_with('/') {
        path.clone()
    } else {
        format!("{path}/")
    };
    let fail = |why: &str| Err(Error::config("/parameters_path", format!("`{path}`: {why}")));
    if !path.starts_with('/') || path.contains("//") {
        return fail("a path starts with `/` and has no empty level (`/pipeline/staging/api/`)");
    }
    if !path.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c)) {
        return fail("SSM names have letters, digits and `_.-/` only");
    }
    let first = path[1..].split('/').next().unwrap_or_default().to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return fail("SSM reserves names that begin with `aws` or `ssm`");
    }
    // SSM: at most 15 levels, the parameter's name included.
    if path.matches('/').count() > 15 {
        return fail("SSM allows at most 15 levels, the parameter's own name included");
    }
    Ok(path)
}

/// The `regions` export of the service whose load balancer `s` joins,
/// after checking what AWS's listener rules and that service allow.
fn shared_owner(ctx: &Context, cfg: &Config, s: &SharedLoadBalancer) -> Result<Value, Error> {
    if cfg.load_balancer.is_some() {
        return Err(Error::config(
            "/load_balancer",
            format!(
                "a service on a shared load balancer has the scheme of `{}`'s; remove `load_balancer`",
                s.service
            ),
        ));
    }
    if cfg.certificate_arn.is_some() {
        return Err(Error::config(
            "/certificate_arn",
            format!(
                "a service on a shared load balancer is served by the HTTPS listener of `{}`: set `certificate_arn` there",
                s.service
            ),
        ));
    }
    if s.service == ctx.instance {
        return Err(Error::config(
            "/shared_load_balancer/service",
            "a service cannot join its own load balancer",
        ));
    }
    if s.paths.is_empty() && s.hosts.is_empty() {
        return Err(Error::config(
            "/shared_load_balancer",
            format!(
                "give `paths` or `hosts`: the requests `{}`'s listeners send to this service (it keeps all others)",
                s.service
            ),
        ));
    }
    for (what, values) in [("paths", &s.paths), ("hosts", &s.hosts)] {
        if values.len() > 3 {
            return Err(Error::config(
                &format!("/shared_load_balancer/{what}"),
                format!(
                    "at most 3 {what} (AWS's limit of values per listener rule condition), not {}",
                    values.len()
                ),
            ));
        }
    }
    if s.paths.len() + s.hosts.len() > 5 {
        return Err(Error::config(
            "/shared_load_balancer",
            format!(
                "at most 5 paths and hosts in all (AWS's limit of condition values per listener rule), not {}",
                s.paths.len() + s.hosts.len()
            ),
        ));
    }
    for (i, path) in s.paths.iter().enumerate() {
        if !path.starts_with('/') || path.len() > 128 {
            return Err(Error::config(
                &format!("/shared_load_balancer/paths/{i}"),
                "a path pattern starts with `/` and has at most 128 characters",
            ));
        }
    }
    for (i, host) in s.hosts.iter().enumerate() {
        if !host.contains('.') || host.len() > 128 {
            return Err(Error::config(
                &format!("/shared_load_balancer/hosts/{i}"),
                "a host name has a `.` and at most 128 characters",
            ));
        }
    }
    let owner = ctx.import(&s.service, "regions")?;
    if !matches!(owner_mode(&owner).as_deref(), Some("internet-facing" | "internal")) {
        return Err(Error::config(
            "/shared_load_balancer/service",
            format!(
                "`{}` has no load balancer to share (`load_balancer = \"none\"`)",
                s.service
            ),
        ));
    }
    let owns = match &owner {
        Value::Object(regions) => regions.iter().all(|(_, f)| f.get("listener_http_arn").is_some()),
        _ => false,
    };
    if !owns {
        return Err(Error::config(
            "/shared_load_balancer/service",
            format!(
                "`{}` is on another service's load balancer itself: name the service that owns it",
                s.service
            ),
        ));
    }
    Ok(owner)
}

/// The load balancer scheme in a service's `regions` export.
fn owner_mode(owner: &Value) -> Option<String> {
    match owner {
        Value::Object(regions) => regions
            .iter()
            .find_map(|(_, f)| f.get("load_balancer").and_then(Value::as_str).map(str::to_string)),
        _ => None,
    }
}

/// `APP_SECRET` -> `app-secret`: a variable's name as part of a resource name.
fn kebab(key: &str) -> String {
    key.to_ascii_lowercase().replace(['_', '.'], "-")
}

/// Four hex digits of FNV-1a over `text`: stable across builds and platforms.
fn short_hash(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{:04x}", hash & 0xffff)
}

/// A short region code for names with tight length limits (`use1`).
fn region_code(region: &str) -> String {
    let mut parts = region.split('-');
    let geo = parts.next().unwrap_or("");
    let dir: String = parts.next().unwrap_or("").chars().take(1).collect();
    let num = parts.next().unwrap_or("");
    format!("{geo}{dir}{num}")
}

/// The execution role's grant: exactly the secrets and parameters it
/// injects into the tasks.
fn secrets_policy(sources: &[(String, SecretSource)], db_secrets: Vec<Value>, generated: Vec<Value>) -> Value {
    let mut resources: Vec<Value> = sources
        .iter()
        .filter_map(|(_, s)| match s {
            SecretSource::Arn(arn) => Some(Value::from(arn.as_str())),
            SecretSource::Generated(_) => None,
        })
        .collect();
    resources.extend(generated);
    resources.extend(db_secrets);
    if resources.is_empty() {
        return Value::Null;
    }
    obj! {
        "Version": "2012-10-17",
        "Statement": vec![obj! {
            "Effect": "Allow",
            "Action": vec!["secretsmanager:GetSecretValue", "ssm:GetParameters"],
            "Resource": resources,
        }],
    }
}

/// What the rollout steps of one region refer to.
struct Rollout<'a> {
    region: &'a str,
    cluster: &'a Value,
    port: u32,
    /// The production listeners (or, on a shared load balancer, rules).
    production: Vec<Value>,
    /// The test listener (or rule).
    test: Value,
    /// The load balancer's DNS name.
    dns_name: Value,
    subnets: Value,
    security_groups: Vec<Value>,
    alarm_prefix: &'a str,
    /// Register the tasks in the Cloud Map service `discovery-<region>`.
    discovery: bool,
}

impl Rollout<'_> {
    fn id(&self, what: &str) -> String {
        format!("{what}-{}", self.region)
    }

    /// The strategy as a chain of host primitives: begin (green up behind
    /// the test listener), shifts of production traffic, bakes that watch
    /// the gates, an approval for blue/green, and finish (green becomes blue).
    fn steps(&self, plan: &mut Plan, d: &Deployment) {
        let production = self.production.clone();
        let mut chain: Vec<String> = Vec::new();
        let mut add = |plan: &mut Plan, name: String, action: &str, params: Value, timeout: u32| {
            let step = plan
                .step(&self.id(&name), Phase::Rollout, action, params)
                .timeout(timeout);
            if let Some(prev) = chain.last() {
                step.after(prev);
            } else {
                step.after(&self.id("service"));
            }
            chain.push(self.id(&name));
        };
        add(
            plan,
            "rollout-begin".into(),
            "rollout.begin",
            obj! {
                "cluster": self.cluster,
                "service": reference(&self.id("service"), "name"),
                "task_definition": reference(&self.id("task"), "arn"),
                "target_groups": vec![reference(&self.id("tg-blue"), "arn"), reference(&self.id("tg-green"), "arn")],
                "production_listeners": production,
                "test_listener": self.test.clone(),
                "container_name": "app",
                "container_port": self.port,
                "launch_type": "FARGATE",
                "subnets": &self.subnets,
                "security_groups": self.security_groups.clone(),
                "assign_public_ip": false,
                "service_registries": if self.discovery {
                    vec![reference(&self.id("discovery"), "arn")]
                } else {
                    Vec::new()
                },
            },
            d.timeout_seconds,
        );
        let shift = |green: u32| obj! { "green_percent": green };
        let bake = |seconds: u32| {
            let mut params = obj! { "seconds": seconds };
            if d.alarm_gate {
                params.insert("alarm_prefix", self.alarm_prefix);
            }
            if let Some(path) = &d.probe_path {
                params.insert(
                    "probe_url",
                    concat(vec![
                        Value::from("http://"),
                        self.dns_name.clone(),
                        Value::from(format!(":9001{path}")),
                    ]),
                );
            }
            params
        };
        match d.strategy.as_str() {
            "all-at-once" => add(plan, "rollout-shift-1".into(), "traffic.shift", shift(100), 120),
            "canary" => {
                add(
                    plan,
                    "rollout-shift-1".into(),
                    "traffic.shift",
                    shift(d.canary_percent),
                    120,
                );
                add(
                    plan,
                    "rollout-bake-1".into(),
                    "rollout.bake",
                    bake(d.bake_seconds),
                    d.bake_seconds + 120,
                );
                add(plan, "rollout-shift-2".into(), "traffic.shift", shift(100), 120);
            }
            "linear" => {
                let (mut green, mut n) = (0, 0);
                while green < 100 {
                    n += 1;
                    green = (green + d.step_percent).min(100);
                    add(plan, format!("rollout-shift-{n}"), "traffic.shift", shift(green), 120);
                    if green < 100 {
                        add(
                            plan,
                            format!("rollout-bake-{n}"),
                            "rollout.bake",
                            bake(d.interval_seconds),
                            d.interval_seconds + 120,
                        );
                    }
                }
            }
            _ => {
                add(
                    plan,
                    "rollout-approval".into(),
                    "rollout.approval",
                    obj! {
                        "message": "green serves the test listener (port 9001); run `platform promote` to shift production to it, or `platform rollback`",
                    },
                    d.timeout_seconds,
                );
                add(plan, "rollout-shift-1".into(), "traffic.shift", shift(100), 120);
            }
        }
        add(
            plan,
            "rollout-finish".into(),
            "rollout.finish",
            obj! { "drain_seconds": d.drain_seconds, "deregister_previous": true },
            d.drain_seconds + 300,
        );
    }
}

export_plugin!(Service);
