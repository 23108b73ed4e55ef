//! Elastic Load Balancing v2: application load balancers, target groups and
//! listeners with weighted forwarding.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, ForwardActionConfig, LoadBalancerSchemeEnum, LoadBalancerStateEnum,
    LoadBalancerTypeEnum, ProtocolEnum, Tag, TargetGroupAttribute, TargetGroupTuple, TargetTypeEnum,
};

use serde_json::Value as Json;

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, not_in_place, only};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, wait_for};
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

pub async fn create_tg(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
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
    if let Some(delay) = p.opt_i64("deregistration_delay_seconds") {
        c.elbv2
            .modify_target_group_attributes()
            .target_group_arn(tg.target_group_arn().unwrap_or_default())
            .attributes(
                TargetGroupAttribute::builder()
                    .key("deregistration_delay.timeout_seconds")
                    .value(delay.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_err("elasticloadbalancing:ModifyTargetGroupAttributes", e))?;
    }
    Ok(tg_outputs(tg))
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
    // Weights between the same target groups belong to rollouts: keep the
    // live ones (after a rollout, "blue" in the plan may be idle).
    let mut action = forward(p)?;
    let planned: std::collections::BTreeSet<String> = p
        .obj("default_action")
        .map(|a| a.objs("target_groups"))
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t.opt_str("arn").map(str::to_string))
        .collect();
    let live = super::rollout::weights(c, arn).await?;
    let live_set: std::collections::BTreeSet<String> = live.iter().map(|(tg, _)| tg.clone()).collect();
    if planned.len() > 1 && planned == live_set {
        let mut config = ForwardActionConfig::builder();
        for (tg, w) in &live {
            config = config.target_groups(
                TargetGroupTuple::builder()
                    .target_group_arn(tg)
                    .weight(*w as i32)
                    .build(),
            );
        }
        action = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .forward_config(config.build())
            .build();
    }
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
// aws.elbv2.listener.
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
    /// characters (letters, digits and hyphens).
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
    pub health_check_path: Option<String>,
    /// Seconds between health checks of a target (5 to 300).
    pub health_check_interval_seconds: Option<i32>,
    /// Consecutive passed health checks before a target counts as healthy (2 to 10).
    pub healthy_threshold_count: Option<i32>,
    /// Consecutive failed health checks before a target counts as unhealthy (2 to 10).
    pub unhealthy_threshold_count: Option<i32>,
    /// Seconds a deregistering target keeps its open connections
    /// (`deregistration_delay.timeout_seconds`, 0 to 3600; AWS's default 300).
    pub deregistration_delay_seconds: Option<i64>,
}

impl ResourceType for TargetGroup {
    const NAME: &'static str = "aws.elbv2.target-group";
    const ABOUT: &'static str = "Elastic Load Balancing v2 target group with its health check";
    type Props = TargetGroupProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_tg(c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find_tg(c, r).await
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
        Ok(if out.target_groups().is_empty() {
            Live::Gone
        } else {
            observed(vec![])
        })
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
