//! Elastic Load Balancing v2: application load balancers, target groups and
//! listeners with weighted forwarding.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, ForwardActionConfig, LoadBalancerSchemeEnum, LoadBalancerStateEnum,
    LoadBalancerTypeEnum, ProtocolEnum, Tag, TargetGroupAttribute, TargetGroupTuple, TargetTypeEnum,
};

use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, wait_for};
use crate::outputs;

fn tags(r: &Request<'_>) -> Vec<Tag> {
    r.tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
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
