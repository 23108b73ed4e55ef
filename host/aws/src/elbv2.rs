//! Elastic Load Balancing v2: application load balancers, target groups and
//! listeners with weighted forwarding.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, ForwardActionConfig, HostHeaderConditionConfig, LoadBalancerSchemeEnum,
    LoadBalancerStateEnum, LoadBalancerTypeEnum, PathPatternConditionConfig, ProtocolEnum, RuleCondition, Tag,
    TargetGroupAttribute, TargetGroupTuple, TargetTypeEnum,
};

use serde_json::Value as Json;

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, not_in_place, only};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, changed_keys, wait_for};
use crate::outputs;

fn tags(r: &Request<'_>) -> Vec<Tag> {
    crate::sdk_tags!(r, Tag)
}

/// `app/name/id` from `arn:...:loadbalancer/app/name/id` (the CloudWatch dimension).
fn suffix(arn: &str, marker: &str) -> String {
    arn.split_once(marker).map(|(_, s)| s.to_string()).unwrap_or_default()
}

fn lb_outputs(lb: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer) -> Outputs {
    let arn = lb.load_balancer_arn().unwrap_or_default();
    outputs! {
        "arn" => arn,
        "arn_suffix" => suffix(arn, ":loadbalancer/"),
        "name" => lb.load_balancer_name().unwrap_or_default(),
        "dns_name" => lb.dns_name().unwrap_or_default(),
        "canonical_hosted_zone_id" => lb.canonical_hosted_zone_id().unwrap_or_default(),
    }
}

pub async fn create_lb(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let out = c
        .elbv2
        .create_load_balancer()
        .name(p.str("name")?)
        .set_subnets(Some(p.strs("subnets")?))
        .set_security_groups(Some(p.strs("security_groups")?))
        .scheme(LoadBalancerSchemeEnum::from(
            p.opt_str("scheme").unwrap_or("internet-facing"),
        ))
        .r#type(LoadBalancerTypeEnum::from(p.opt_str("type").unwrap_or("application")))
        .set_tags(Some(tags(r)))
        .send()
        .await
        .map_err(|e| aws_err("elasticloadbalancing:CreateLoadBalancer", e))?;
    let lb = out.load_balancers().first().ok_or_else(|| {
        ProviderError::new(
            "elasticloadbalancing:CreateLoadBalancer",
            "no load balancer in the response",
        )
    })?;
    let outputs = lb_outputs(lb);
    let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
    wait_for(
        aws,
        &format!("load balancer {arn} becoming active"),
        "elasticloadbalancing:DescribeLoadBalancers",
        || async {
            let out = c
                .elbv2
                .describe_load_balancers()
                .load_balancer_arns(&arn)
                .send()
                .await
                .map_err(|e| aws_err("elasticloadbalancing:DescribeLoadBalancers", e))?;
            let state = out
                .load_balancers()
                .first()
                .and_then(|l| l.state())
                .and_then(|s| s.code())
                .cloned();
            Ok(match state {
                Some(LoadBalancerStateEnum::Active) | None => Some(()),
                Some(LoadBalancerStateEnum::Failed) => {
                    return Err(ProviderError::new(
                        "elasticloadbalancing:CreateLoadBalancer",
                        format!("load balancer {arn} failed"),
                    ));
                }
                _ => None,
            })
        },
    )
    .await?;
    Ok(outputs)
}

pub async fn find_lb(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    match c
        .elbv2
        .describe_load_balancers()
        .names(r.props.str("name")?)
        .send()
        .await
    {
        Ok(out) => Ok(out.load_balancers().first().map(lb_outputs)),
        Err(e) => {
            let e = aws_err("elasticloadbalancing:DescribeLoadBalancers", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

pub async fn delete_lb(aws: &Aws, c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    let arn = o.str("arn")?;
    c.elbv2
        .delete_load_balancer()
        .load_balancer_arn(arn)
        .send()
        .await
        .map_err(|e| aws_err("elasticloadbalancing:DeleteLoadBalancer", e))?;
    wait_for(
        aws,
        &format!("load balancer {arn} being deleted"),
        "elasticloadbalancing:DescribeLoadBalancers",
        || async {
            match c.elbv2.describe_load_balancers().load_balancer_arns(arn).send().await {
                Ok(out) if !out.load_balancers().is_empty() => Ok(None),
                Ok(_) => Ok(Some(())),
                Err(e) => {
                    let e = aws_err("elasticloadbalancing:DescribeLoadBalancers", e);
                    if e.is_not_found() { Ok(Some(())) } else { Err(e) }
                }
            }
        },
    )
    .await
}

fn tg_outputs(tg: &aws_sdk_elasticloadbalancingv2::types::TargetGroup) -> Outputs {
    let arn = tg.target_group_arn().unwrap_or_default();
    outputs! { "arn" => arn, "arn_suffix" => format!("targetgroup/{}", suffix(arn, ":targetgroup/")), "name" => tg.target_group_name().unwrap_or_default() }
}

/// The health-check properties: ModifyTargetGroup changes them in place.
const HEALTH_CHECK: &[&str] = &[
    "health_check_path",
    "health_check_interval_seconds",
    "health_check_timeout_seconds",
    "healthy_threshold_count",
    "unhealthy_threshold_count",
];

/// The attribute properties: ModifyTargetGroupAttributes changes them in place.
const DEREGISTRATION_DELAY: &str = "deregistration_delay_seconds";

/// AWS's health-check defaults for a target group's protocol and target
/// type, from the CreateTargetGroup API reference. `None`: not documented
/// (or not applicable) there.
struct HealthCheckDefaults {
    path: Option<&'static str>,
    interval: i32,
    timeout: Option<i32>,
    healthy: i32,
    unhealthy: i32,
}

fn health_check_defaults(p: &Props<'_>) -> HealthCheckDefaults {
    let protocol = p.opt_str("protocol").unwrap_or("HTTP");
    if p.opt_str("target_type") == Some("lambda") {
        return HealthCheckDefaults {
            path: None,
            interval: 35,
            timeout: Some(30),
            healthy: 5,
            unhealthy: 5,
        };
    }
    HealthCheckDefaults {
        path: matches!(protocol, "HTTP" | "HTTPS").then_some("/"),
        interval: if protocol == "GENEVE" { 10 } else { 30 },
        timeout: match protocol {
            "HTTP" => Some(6),
            "HTTPS" | "TCP" | "TLS" => Some(10),
            "GENEVE" => Some(5),
            _ => None,
        },
        healthy: 5,
        unhealthy: 2,
    }
}

/// The ranges AWS documents, and a timeout below the interval (AWS:
/// "Health check interval must be greater than the timeout"), checked
/// before any call: a create never stops between CreateTargetGroup and
/// ModifyTargetGroupAttributes.
fn valid_tg(p: &Props<'_>) -> Result<(), ProviderError> {
    let kind = TargetGroup::NAME;
    let within = |key: &str, lo: i64, hi: i64| match p.opt_i64(key) {
        Some(v) if !(lo..=hi).contains(&v) => Err(ProviderError::property(
            kind,
            format!("property `{key}` of a {kind} must be {lo} to {hi}, not {v}"),
        )),
        v => Ok(v),
    };
    let interval = within("health_check_interval_seconds", 5, 300)?;
    let timeout = within("health_check_timeout_seconds", 2, 120)?;
    within("healthy_threshold_count", 2, 10)?;
    within("unhealthy_threshold_count", 2, 10)?;
    within(DEREGISTRATION_DELAY, 0, 3600)?;
    // AWS's default timeout counts too: an interval of 5 s with HTTP's
    // default 6 s timeout is refused ("interval must be greater than the
    // timeout").
    let defaults = health_check_defaults(p);
    if let Some(timeout) = timeout.or(defaults.timeout.map(i64::from)) {
        let interval = interval.unwrap_or(defaults.interval.into());
        if timeout >= interval {
            return Err(ProviderError::property(
                kind,
                format!(
                    "property `health_check_timeout_seconds` of a {kind} ({timeout} s{}) must be less than the interval between health checks ({interval} s)",
                    if p.opt_i64("health_check_timeout_seconds").is_none() {
                        ", AWS's default"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    Ok(())
}

async fn set_deregistration_delay(c: &Clients, arn: &str, seconds: i64) -> Result<(), ProviderError> {
    c.elbv2
        .modify_target_group_attributes()
        .target_group_arn(arn)
        .attributes(
            TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value(seconds.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws_err("elasticloadbalancing:ModifyTargetGroupAttributes", e))?;
    Ok(())
}

pub async fn create_tg(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    valid_tg(p)?;
    let out = c
        .elbv2
        .create_target_group()
        .name(p.str("name")?)
        .protocol(ProtocolEnum::from(p.opt_str("protocol").unwrap_or("HTTP")))
        .port(p.i32("port")?)
        .vpc_id(p.str("vpc_id")?)
        .target_type(TargetTypeEnum::from(p.opt_str("target_type").unwrap_or("ip")))
        .set_health_check_path(p.opt_str("health_check_path").map(str::to_string))
        .set_health_check_interval_seconds(p.opt_i32("health_check_interval_seconds"))
        .set_health_check_timeout_seconds(p.opt_i32("health_check_timeout_seconds"))
        .set_healthy_threshold_count(p.opt_i32("healthy_threshold_count"))
        .set_unhealthy_threshold_count(p.opt_i32("unhealthy_threshold_count"))
        .set_tags(Some(tags(r)))
        .send()
        .await
        .map_err(|e| aws_err("elasticloadbalancing:CreateTargetGroup", e))?;
    let tg = out.target_groups().first().ok_or_else(|| {
        ProviderError::new(
            "elasticloadbalancing:CreateTargetGroup",
            "no target group in the response",
        )
    })?;
    if let Some(delay) = p.opt_i64(DEREGISTRATION_DELAY) {
        set_deregistration_delay(c, tg.target_group_arn().unwrap_or_default(), delay).await?;
    }
    Ok(tg_outputs(tg))
}

/// The health check and the deregistration delay, each call only when one
/// of its properties changed (`old`: the recorded properties, with drift
/// folded in). Both calls leave what they are not sent as it is, so a
/// property removed from the plan is sent as AWS's default.
pub async fn update_tg(c: &Clients, r: &Request<'_>, old: &Json, outputs: &Outputs) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    valid_tg(p)?;
    let arn = outputs.get("arn").and_then(Json::as_str).ok_or_else(|| {
        ProviderError::new(
            "elasticloadbalancing:ModifyTargetGroup",
            "the target group's outputs have no ARN",
        )
    })?;
    let changed = changed_keys(old, p.raw());
    let changed = |key: &str| changed.iter().any(|k| k == key);
    if HEALTH_CHECK.iter().any(|k| changed(k)) {
        let d = health_check_defaults(p);
        // Sent: the planned value; for a property just removed, the default;
        // else nothing (AWS keeps its own).
        let or_default = |key: &str, default: Option<i32>| p.opt_i32(key).or(default.filter(|_| changed(key)));
        c.elbv2
            .modify_target_group()
            .target_group_arn(arn)
            .set_health_check_path(
                p.opt_str("health_check_path")
                    .or(d.path.filter(|_| changed("health_check_path")))
                    .map(str::to_string),
            )
            .set_health_check_interval_seconds(or_default("health_check_interval_seconds", Some(d.interval)))
            .set_health_check_timeout_seconds(or_default("health_check_timeout_seconds", d.timeout))
            .set_healthy_threshold_count(or_default("healthy_threshold_count", Some(d.healthy)))
            .set_unhealthy_threshold_count(or_default("unhealthy_threshold_count", Some(d.unhealthy)))
            .send()
            .await
            .map_err(|e| aws_err("elasticloadbalancing:ModifyTargetGroup", e))?;
    }
    if changed(DEREGISTRATION_DELAY) {
        // AWS's default: 300 seconds.
        set_deregistration_delay(c, arn, p.opt_i64(DEREGISTRATION_DELAY).unwrap_or(300)).await?;
    }
    Ok(outputs.clone())
}

pub async fn find_tg(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    match c
        .elbv2
        .describe_target_groups()
        .names(r.props.str("name")?)
        .send()
        .await
    {
        Ok(out) => Ok(out.target_groups().first().map(tg_outputs)),
        Err(e) => {
            let e = aws_err("elasticloadbalancing:DescribeTargetGroups", e);
            if e.is_not_found() { Ok(None) } else { Err(e) }
        }
    }
}

pub async fn delete_tg(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    c.elbv2
        .delete_target_group()
        .target_group_arn(o.str("arn")?)
        .send()
        .await
        .map_err(|e| aws_err("elasticloadbalancing:DeleteTargetGroup", e))?;
    Ok(())
}

fn forward(p: &Props<'_>) -> Result<Action, ProviderError> {
    let action = p
        .obj("default_action")
        .ok_or_else(|| ProviderError::property("aws.elbv2.listener", "default_action is missing"))?;
    forward_to(&action)
}

/// A forward action to the weighted target groups of an action property.
fn forward_to(action: &Props<'_>) -> Result<Action, ProviderError> {
    let mut config = ForwardActionConfig::builder();
    for tg in action.objs("target_groups") {
        config = config.target_groups(
            TargetGroupTuple::builder()
                .target_group_arn(tg.str("arn")?)
                .weight(tg.i32("weight")?)
                .build(),
        );
    }
    Ok(Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(config.build())
        .build())
}

/// `planned`, unless it forwards to the same target groups as the live
/// listener or rule `arn` does: then the live weights, which belong to
/// rollouts (after a rollout, "blue" in the plan may be idle); or to new
/// groups while live ones serve (see below).
async fn keep_rollout_weights(
    c: &Clients,
    arn: &str,
    action: &Option<Props<'_>>,
    planned: Action,
) -> Result<Action, ProviderError> {
    let groups: std::collections::BTreeSet<String> = action
        .map(|a| a.objs("target_groups"))
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t.opt_str("arn").map(str::to_string))
        .collect();
    if groups.len() <= 1 {
        return Ok(planned);
    }
    let live = super::rollout::weights(c, arn).await?;
    let live_set: std::collections::BTreeSet<String> = live.iter().map(|(tg, _)| tg.clone()).collect();
    if groups == live_set {
        return Ok(super::rollout::forward_action(&live));
    }
    // A new pair (its groups replaced): traffic stays on the live groups
    // that serve it, the new ones join at weight 0, and the rollout moves
    // it once tasks run behind them. Switching at once would send every
    // request to groups with no targets yet.
    let mut weights: Vec<(String, u32)> = live
        .into_iter()
        .filter(|(tg, w)| *w > 0 && !groups.contains(tg))
        .collect();
    if weights.is_empty() {
        return Ok(planned);
    }
    weights.extend(groups.into_iter().map(|g| (g, 0)));
    Ok(super::rollout::forward_action(&weights))
}

pub async fn create_listener(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let out = c
        .elbv2
        .create_listener()
        .load_balancer_arn(p.str("load_balancer_arn")?)
        .protocol(ProtocolEnum::from(p.opt_str("protocol").unwrap_or("HTTP")))
        .port(p.i32("port")?)
        .default_actions(forward(p)?)
        .set_certificates(
            p.opt_str("certificate_arn")
                .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()]),
        )
        .set_ssl_policy(p.opt_str("ssl_policy").map(str::to_string))
        .set_tags(Some(tags(r)))
        .send()
        .await
        .map_err(|e| aws_err("elasticloadbalancing:CreateListener", e))?;
    let arn = out
        .listeners()
        .first()
        .and_then(|l| l.listener_arn())
        .unwrap_or_default();
    Ok(outputs! { "arn" => arn })
}

pub async fn find_listener(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    let port = r.props.i32("port")?;
    let out = c
        .elbv2
        .describe_listeners()
        .load_balancer_arn(r.props.str("load_balancer_arn")?)
        .send()
        .await
        .map_err(|e| aws_err("elasticloadbalancing:DescribeListeners", e))?;
    Ok(out
        .listeners()
        .iter()
        .find(|l| l.port() == Some(port))
        .map(|l| outputs! { "arn" => l.listener_arn().unwrap_or_default() }))
}

pub async fn update_listener(c: &Clients, r: &Request<'_>, outputs: &Outputs) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let arn = outputs.get("arn").and_then(|a| a.as_str()).unwrap_or_default();
    let action = keep_rollout_weights(c, arn, &p.obj("default_action"), forward(p)?).await?;
    c.elbv2
        .modify_listener()
        .listener_arn(arn)
        .default_actions(action)
        .set_certificates(
            p.opt_str("certificate_arn")
                .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()]),
        )
        .set_ssl_policy(p.opt_str("ssl_policy").map(str::to_string))
        .send()
        .await
        .map_err(|e| aws_err("elasticloadbalancing:ModifyListener", e))?;
    Ok(outputs.clone())
}

pub async fn delete_listener(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    c.elbv2
        .delete_listener()
        .listener_arn(o.str("arn")?)
        .send()
        .await
        .map_err(|e| aws_err("elasticloadbalancing:DeleteListener", e))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Registered resource types: aws.elbv2.load-balancer, aws.elbv2.target-group,
// aws.elbv2.listener, aws.elbv2.listener-rule.
// ---------------------------------------------------------------------------

/// `aws.elbv2.load-balancer`
pub struct LoadBalancer;

/// An Elastic Load Balancing v2 load balancer (an application load balancer
/// unless `type` says otherwise).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct LoadBalancerProps {
    /// The load balancer's name: unique per account and region, at most 32
    /// characters (letters, digits and hyphens).
    pub name: String,
    /// The subnets it is placed in (subnet ids), at least two availability
    /// zones for an application load balancer.
    #[serde(default)]
    pub subnets: Vec<String>,
    /// The security groups of its network interfaces (security group ids).
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// `internet-facing` (the default: reachable from the internet) or
    /// `internal` (private addresses only).
    pub scheme: Option<String>,
    /// The load balancer type: `application` (the default), `network` or
    /// `gateway`.
    #[serde(rename = "type")]
    pub lb_type: Option<String>,
}

impl ResourceType for LoadBalancer {
    const NAME: &'static str = "aws.elbv2.load-balancer";
    const ABOUT: &'static str = "Elastic Load Balancing v2 load balancer (application load balancer by default)";
    type Props = LoadBalancerProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // CreateLoadBalancer of an existing name with the same settings returns it.
    const UNIQUE: &'static [&'static str] = &["name"];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_lb(aws, c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find_lb(c, r).await
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

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_lb(aws, c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .elbv2
            .describe_load_balancers()
            .load_balancer_arns(key)
            .send()
            .await
            .map_err(|e| aws_err("elasticloadbalancing:DescribeLoadBalancers", e))?;
        Ok(if out.load_balancers().is_empty() {
            Live::Gone
        } else {
            observed(vec![])
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        (arn.service == "elasticloadbalancing" && arn.after("loadbalancer/").is_some())
            .then(|| serde_json::json!({ "arn": arn.full }))
    }
}

/// `aws.elbv2.target-group`
pub struct TargetGroup;

/// A target group: the targets (task IPs by default) a load balancer
/// forwards to, with their health check.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct TargetGroupProps {
    /// The target group's name: unique per account and region, at most 32
    /// characters (letters, digits and hyphens). Name, protocol, port, VPC
    /// and target type are fixed: changing one replaces the target group.
    pub name: String,
    /// The protocol to the targets: `HTTP` (the default), `HTTPS`, `TCP`,
    /// `TLS`, `UDP`, `TCP_UDP` or `GENEVE`.
    pub protocol: Option<String>,
    /// The port the targets receive traffic on.
    pub port: i32,
    /// The VPC of the targets (VPC id).
    pub vpc_id: String,
    /// How targets are registered: `ip` (the default, as ECS tasks in
    /// `awsvpc` mode need), `instance`, `lambda` or `alb`.
    pub target_type: Option<String>,
    /// The path of the HTTP health check (`/healthz`); absent: AWS's default `/`.
    /// The health-check properties change in place (ModifyTargetGroup); one
    /// removed from the plan goes back to AWS's default.
    pub health_check_path: Option<String>,
    /// Seconds between health checks of a target (5 to 300); absent: AWS's
    /// default, 30 (35 for `lambda`, 10 for `GENEVE`).
    pub health_check_interval_seconds: Option<i32>,
    /// Seconds without a response after which a health check fails (2 to
    /// 120), less than the interval; absent: AWS's default for the protocol
    /// (6 for `HTTP`; 10 for `HTTPS`, `TCP` and `TLS`; 30 for `lambda`).
    pub health_check_timeout_seconds: Option<i32>,
    /// Consecutive passed health checks before a target counts as healthy (2 to 10).
    pub healthy_threshold_count: Option<i32>,
    /// Consecutive failed health checks before a target counts as unhealthy (2 to 10).
    pub unhealthy_threshold_count: Option<i32>,
    /// Seconds a deregistering target keeps its open connections
    /// (`deregistration_delay.timeout_seconds`, 0 to 3600; AWS's default
    /// 300). Changes in place (ModifyTargetGroupAttributes).
    pub deregistration_delay_seconds: Option<i64>,
}

impl ResourceType for TargetGroup {
    const NAME: &'static str = "aws.elbv2.target-group";
    const ABOUT: &'static str = "Elastic Load Balancing v2 target group with its health check";
    type Props = TargetGroupProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // CreateTargetGroup of an existing name with the same settings returns it.
    const UNIQUE: &'static [&'static str] = &["name"];

    /// The health check and the attributes change in place; name, protocol,
    /// port, VPC and target type are fixed at creation.
    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        changed
            .iter()
            .all(|k| HEALTH_CHECK.contains(&k.as_str()) || k == DEREGISTRATION_DELAY)
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_tg(c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find_tg(c, r).await
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        update_tg(c, r, old, outputs).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_tg(c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .elbv2
            .describe_target_groups()
            .target_group_arns(key)
            .send()
            .await
            .map_err(|e| aws_err("elasticloadbalancing:DescribeTargetGroups", e))?;
        let Some(tg) = out.target_groups().first() else {
            return Ok(Live::Gone);
        };
        let attributes = c
            .elbv2
            .describe_target_group_attributes()
            .target_group_arn(key)
            .send()
            .await
            .map_err(|e| aws_err("elasticloadbalancing:DescribeTargetGroupAttributes", e))?;
        let delay = attributes
            .attributes()
            .iter()
            .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
            .and_then(|a| a.value()?.parse::<i64>().ok());
        let number = |v: Option<i32>| v.map_or(Json::Null, Json::from);
        Ok(observed(vec![
            (
                "health_check_path",
                tg.health_check_path().map_or(Json::Null, Json::from),
            ),
            (
                "health_check_interval_seconds",
                number(tg.health_check_interval_seconds()),
            ),
            (
                "health_check_timeout_seconds",
                number(tg.health_check_timeout_seconds()),
            ),
            ("healthy_threshold_count", number(tg.healthy_threshold_count())),
            ("unhealthy_threshold_count", number(tg.unhealthy_threshold_count())),
            (DEREGISTRATION_DELAY, delay.map_or(Json::Null, Json::from)),
        ]))
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        (arn.service == "elasticloadbalancing" && arn.after("targetgroup/").is_some())
            .then(|| serde_json::json!({ "arn": arn.full }))
    }
}

/// `aws.elbv2.listener`
pub struct Listener;

/// A listener: a port of a load balancer and where its requests go (target
/// groups, by weight).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ListenerProps {
    /// The load balancer it listens on (load balancer ARN).
    pub load_balancer_arn: String,
    /// The protocol clients connect with: `HTTP` (the default) or `HTTPS`
    /// (`TCP`, `TLS`, `UDP`, `TCP_UDP` on a network load balancer).
    pub protocol: Option<String>,
    /// The port it listens on (1 to 65535).
    pub port: i32,
    /// Where requests go: forwarded to target groups by weight. In an
    /// update, weights between the same target groups are left as a rollout
    /// set them.
    pub default_action: ListenerAction,
    /// The ACM certificate of an `HTTPS` or `TLS` listener (certificate ARN).
    pub certificate_arn: Option<String>,
    /// The security policy of an `HTTPS` or `TLS` listener
    /// (`ELBSecurityPolicy-TLS13-1-2-2021-06`); absent: AWS's default.
    pub ssl_policy: Option<String>,
}

/// A listener's default action: forward to one or more target groups.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ListenerAction {
    /// The action type; only `forward` is supported.
    #[serde(rename = "type")]
    pub action_type: Option<ListenerActionType>,
    /// The target groups requests are forwarded to, with their weights.
    #[serde(default)]
    pub target_groups: Vec<WeightedTargetGroup>,
}

/// The type of a listener action.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ListenerActionType {
    /// Forward requests to target groups.
    Forward,
}

/// A target group a listener forwards to, and its share of the requests.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct WeightedTargetGroup {
    /// The target group (target group ARN).
    pub arn: String,
    /// Its weight (0 to 999): its share of requests is its weight divided
    /// by the sum of the weights.
    pub weight: i32,
}

impl ResourceType for Listener {
    const NAME: &'static str = "aws.elbv2.listener";
    const ABOUT: &'static str = "Elastic Load Balancing v2 listener forwarding to weighted target groups";
    type Props = ListenerProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // One listener per port of a load balancer.
    const UNIQUE: &'static [&'static str] = &["load_balancer_arn", "port"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(changed, &["default_action", "certificate_arn", "ssl_policy"])
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_listener(c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find_listener(c, r).await
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        update_listener(c, r, outputs).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_listener(c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .elbv2
            .describe_listeners()
            .listener_arns(key)
            .send()
            .await
            .map_err(|e| aws_err("elasticloadbalancing:DescribeListeners", e))?;
        Ok(if out.listeners().is_empty() {
            Live::Gone
        } else {
            observed(vec![])
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        (arn.service == "elasticloadbalancing" && arn.after("listener/").is_some())
            .then(|| serde_json::json!({ "arn": arn.full }))
    }
}

/// `aws.elbv2.listener-rule`
pub struct ListenerRule;

/// A rule of an application load balancer's listener: requests whose path
/// or host matches go to its target groups instead of the listener's
/// default action (several services behind one load balancer).
///
/// AWS's rules (Application Load Balancers Guide, "Listener rules" and
/// quotas): priorities run from 1 to 50,000, lowest first, and are unique
/// per listener (`PriorityInUse`); a rule has at most one condition of each
/// kind, at most three values per condition and five in all; a path pattern is case
/// sensitive, a host name is not; a changed priority is set with
/// SetRulePriorities, changed conditions or actions with ModifyRule, which
/// replaces them whole.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ListenerRuleProps {
    /// The listener the rule belongs to (listener ARN). Another listener is
    /// another rule.
    pub listener_arn: String,
    /// Its place among the listener's rules: 1 to 50,000, lowest first,
    /// unique per listener.
    pub priority: i32,
    /// Path patterns (`/auth/*`; `*` any characters, `?` one; case
    /// sensitive): the rule matches a request whose path matches any.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Host names (`auth.example.com`, `*.example.com`): the rule matches a
    /// request whose `Host` matches any. With `paths`, both must match.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Where matching requests go: forwarded to target groups by weight. In
    /// an update, weights between the same target groups are left as a
    /// rollout set them.
    pub action: ListenerAction,
}

/// The conditions of a rule, checked as AWS checks them, before any call.
fn rule_conditions(p: &Props<'_>) -> Result<Vec<RuleCondition>, ProviderError> {
    let kind = ListenerRule::NAME;
    let (paths, hosts) = (p.strs("paths")?, p.strs("hosts")?);
    let priority = p.i32("priority")?;
    if !(1..=50_000).contains(&priority) {
        return Err(ProviderError::property(
            kind,
            format!("priority must be 1 to 50000, not {priority}"),
        ));
    }
    if paths.is_empty() && hosts.is_empty() {
        return Err(ProviderError::property(
            kind,
            "a listener rule needs `paths` or `hosts`: without a condition it would take every request from the listener's default action",
        ));
    }
    for (what, values) in [("paths", &paths), ("hosts", &hosts)] {
        if values.len() > 3 {
            return Err(ProviderError::property(
                kind,
                format!(
                    "a listener rule's condition takes at most 3 values, and `{what}` has {}",
                    values.len()
                ),
            ));
        }
    }
    if paths.len() + hosts.len() > 5 {
        return Err(ProviderError::property(
            kind,
            format!(
                "a listener rule takes at most 5 condition values in all, not {} ({} paths, {} hosts)",
                paths.len() + hosts.len(),
                paths.len(),
                hosts.len()
            ),
        ));
    }
    for path in &paths {
        if !path.starts_with('/') && !path.starts_with('*') || path.len() > 128 {
            return Err(ProviderError::property(
                kind,
                format!("path pattern {path:?} must start with `/` (or `*`) and be at most 128 characters"),
            ));
        }
    }
    for host in &hosts {
        if host.len() > 128 || !host.contains('.') {
            return Err(ProviderError::property(
                kind,
                format!("host name {host:?} must contain a `.` and be at most 128 characters"),
            ));
        }
    }
    let mut conditions = Vec::new();
    if !paths.is_empty() {
        conditions.push(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(PathPatternConditionConfig::builder().set_values(Some(paths)).build())
                .build(),
        );
    }
    if !hosts.is_empty() {
        conditions.push(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(HostHeaderConditionConfig::builder().set_values(Some(hosts)).build())
                .build(),
        );
    }
    Ok(conditions)
}

/// The rule's forward action from its `action` property.
fn rule_action(p: &Props<'_>) -> Result<Action, ProviderError> {
    let action = p
        .obj("action")
        .ok_or_else(|| ProviderError::property(ListenerRule::NAME, "action is missing"))?;
    forward_to(&action)
}

/// The rule of `listener` at `priority`, if any, with whether its
/// `platform:id` tag is `id`.
async fn rule_at(
    c: &Clients,
    listener: &str,
    priority: i32,
    id: &str,
) -> Result<Option<(String, bool)>, ProviderError> {
    let wanted = priority.to_string();
    let mut marker = None;
    loop {
        let out = c
            .elbv2
            .describe_rules()
            .listener_arn(listener)
            .set_marker(marker)
            .page_size(400)
            .send()
            .await
            .map_err(|e| aws_err("elasticloadbalancing:DescribeRules", e))?;
        if let Some(rule) = out.rules().iter().find(|r| r.priority() == Some(wanted.as_str())) {
            let arn = rule.rule_arn().unwrap_or_default().to_string();
            let tags = c
                .elbv2
                .describe_tags()
                .resource_arns(&arn)
                .send()
                .await
                .map_err(|e| aws_err("elasticloadbalancing:DescribeTags", e))?;
            let ours = tags
                .tag_descriptions()
                .iter()
                .flat_map(|d| d.tags())
                .any(|t| t.key() == Some("platform:id") && t.value() == Some(id));
            return Ok(Some((arn, ours)));
        }
        match out.next_marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => return Ok(None),
        }
    }
}

impl ResourceType for ListenerRule {
    const NAME: &'static str = "aws.elbv2.listener-rule";
    const ABOUT: &'static str =
        "Elastic Load Balancing v2 listener rule routing by path or host to weighted target groups";
    type Props = ListenerRuleProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // Priorities are unique per listener.
    const UNIQUE: &'static [&'static str] = &["listener_arn", "priority"];

    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(changed, &["priority", "paths", "hosts", "action"])
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        let p = &r.props;
        let conditions = rule_conditions(p)?;
        let listener = p.str("listener_arn")?;
        let priority = p.i32("priority")?;
        let out = c
            .elbv2
            .create_rule()
            .listener_arn(listener)
            .priority(priority)
            .set_conditions(Some(conditions))
            .actions(rule_action(p)?)
            .set_tags(Some(tags(r)))
            .send()
            .await;
        match out {
            Ok(out) => {
                let arn = out.rules().first().and_then(|r| r.rule_arn()).unwrap_or_default();
                Ok(outputs! { "arn" => arn })
            }
            Err(e) => {
                let e = aws_err("elasticloadbalancing:CreateRule", e);
                if !e.is_code("PriorityInUse") {
                    return Err(e);
                }
                // Say whose rule holds the priority.
                let holder = rule_at(c, listener, priority, r.id).await?.map(|(arn, _)| arn);
                Err(ProviderError {
                    message: format!(
                        "priority {priority} is taken on listener {listener} by rule {}: give this rule another priority (each rule of a listener has its own)",
                        holder.as_deref().unwrap_or("(gone since)")
                    ),
                    ..e
                })
            }
        }
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        let p = &r.props;
        Ok(rule_at(c, p.str("listener_arn")?, p.i32("priority")?, r.id)
            .await?
            .filter(|(_, ours)| *ours)
            .map(|(arn, _)| outputs! { "arn" => arn }))
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        let p = &r.props;
        let conditions = rule_conditions(p)?;
        let arn = outputs.get("arn").and_then(|a| a.as_str()).unwrap_or_default();
        let action = keep_rollout_weights(c, arn, &p.obj("action"), rule_action(p)?).await?;
        let priority = p.i32("priority")?;
        if Props::new(old, Self::NAME).opt_i32("priority") != Some(priority) {
            c.elbv2
                .set_rule_priorities()
                .rule_priorities(
                    aws_sdk_elasticloadbalancingv2::types::RulePriorityPair::builder()
                        .rule_arn(arn)
                        .priority(priority)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| aws_err("elasticloadbalancing:SetRulePriorities", e))?;
        }
        c.elbv2
            .modify_rule()
            .rule_arn(arn)
            .set_conditions(Some(conditions))
            .actions(action)
            .send()
            .await
            .map_err(|e| aws_err("elasticloadbalancing:ModifyRule", e))?;
        Ok(outputs.clone())
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        c.elbv2
            .delete_rule()
            .rule_arn(o.str("arn")?)
            .send()
            .await
            .map_err(|e| aws_err("elasticloadbalancing:DeleteRule", e))?;
        Ok(())
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .elbv2
            .describe_rules()
            .rule_arns(key)
            .send()
            .await
            .map_err(|e| aws_err("elasticloadbalancing:DescribeRules", e))?;
        Ok(if out.rules().is_empty() {
            Live::Gone
        } else {
            observed(vec![])
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        (arn.service == "elasticloadbalancing" && arn.after("listener-rule/").is_some())
            .then(|| serde_json::json!({ "arn": arn.full }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A target group's properties: a base one with `extra` set over it.
    fn tg(extra: Json) -> Json {
        let mut props = json!({ "name": "api-blue", "port": 8080, "vpc_id": "vpc-1", "health_check_path": "/healthz" });
        props
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        props
    }

    /// Whether going from `old` to `new` (each over the base) keeps the
    /// target group, and so the traffic it serves.
    fn check(old: Json, new: Json, kept: bool) {
        let (old, new) = (tg(old), tg(new));
        let changed = changed_keys(&old, &new);
        assert_eq!(TargetGroup::in_place(&changed, &old, &new), kept, "{old} -> {new}");
    }

    #[test]
    fn the_health_check_and_the_deregistration_delay_change_in_place() {
        check(json!({}), json!({ "health_check_path": "/ready" }), true);
        check(
            json!({}),
            json!({ "health_check_interval_seconds": 10, "health_check_timeout_seconds": 5 }),
            true,
        );
        check(
            json!({ "healthy_threshold_count": 5 }),
            json!({ "healthy_threshold_count": 2, "unhealthy_threshold_count": 3 }),
            true,
        );
        check(json!({ "health_check_timeout_seconds": 5 }), json!({}), true);
        check(
            json!({ "deregistration_delay_seconds": 300 }),
            json!({ "deregistration_delay_seconds": 30 }),
            true,
        );
        check(json!({ "deregistration_delay_seconds": 30 }), json!({}), true);
    }

    #[test]
    fn what_aws_cannot_change_replaces_the_target_group() {
        for fixed in [
            json!({ "name": "api-green" }),
            json!({ "port": 8081 }),
            json!({ "protocol": "HTTPS" }),
            json!({ "vpc_id": "vpc-2" }),
            json!({ "target_type": "instance" }),
        ] {
            check(json!({}), fixed.clone(), false);
            let mut with_health_check = fixed;
            with_health_check["health_check_path"] = json!("/ready");
            check(json!({}), with_health_check, false);
        }
    }

    #[test]
    fn health_check_settings_aws_refuses_are_refused_before_any_call() {
        let refused = |extra: Json| {
            let props = tg(extra);
            valid_tg(&Props::new(&props, TargetGroup::NAME))
                .err()
                .map(|e| e.message)
        };
        for fine in [
            json!({ "health_check_interval_seconds": 10, "health_check_timeout_seconds": 5 }),
            // Below AWS's default interval (30 s).
            json!({ "health_check_timeout_seconds": 29 }),
            // A Lambda target's default interval is 35 s.
            json!({ "target_type": "lambda", "health_check_timeout_seconds": 34 }),
            json!({ "deregistration_delay_seconds": 0 }),
        ] {
            assert_eq!(refused(fine.clone()), None, "{fine}");
        }
        for (extra, says) in [
            (
                json!({ "health_check_interval_seconds": 10, "health_check_timeout_seconds": 10 }),
                "(10 s) must be less than the interval between health checks (10 s)",
            ),
            (
                json!({ "health_check_timeout_seconds": 30 }),
                "(30 s) must be less than the interval between health checks (30 s)",
            ),
            // AWS's default timeout (6 s for HTTP) counts when none is given.
            (
                json!({ "health_check_interval_seconds": 5 }),
                "(6 s, AWS's default) must be less than",
            ),
            (
                json!({ "target_type": "lambda", "health_check_timeout_seconds": 35 }),
                "(35 s) must be less than the interval between health checks (35 s)",
            ),
            (json!({ "health_check_timeout_seconds": 1 }), "must be 2 to 120, not 1"),
            (
                json!({ "health_check_interval_seconds": 300, "health_check_timeout_seconds": 121 }),
                "must be 2 to 120, not 121",
            ),
            (json!({ "health_check_interval_seconds": 4 }), "must be 5 to 300, not 4"),
            (json!({ "unhealthy_threshold_count": 11 }), "must be 2 to 10, not 11"),
            (
                json!({ "deregistration_delay_seconds": 3601 }),
                "must be 0 to 3600, not 3601",
            ),
        ] {
            let message = refused(extra.clone()).unwrap_or_else(|| panic!("{extra} was accepted"));
            assert!(message.contains(says), "{extra}: {message}");
        }
    }

    #[test]
    fn a_removed_health_check_setting_goes_back_to_the_default_of_the_protocol() {
        let check = |extra: Json, path: Option<&str>, interval: i32, timeout: Option<i32>| {
            let props = tg(extra);
            let d = health_check_defaults(&Props::new(&props, TargetGroup::NAME));
            assert_eq!((d.path, d.interval, d.timeout), (path, interval, timeout), "{props}");
        };
        check(json!({}), Some("/"), 30, Some(6));
        check(json!({ "protocol": "HTTPS" }), Some("/"), 30, Some(10));
        check(json!({ "protocol": "TCP" }), None, 30, Some(10));
        check(json!({ "protocol": "UDP" }), None, 30, None);
        check(json!({ "protocol": "GENEVE" }), None, 10, Some(5));
        check(json!({ "target_type": "lambda" }), None, 35, Some(30));
    }
}
