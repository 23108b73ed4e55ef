//! Rollout primitives: the AWS side of progressive delivery.
//!
//! A service deployed for rollouts uses ECS's `EXTERNAL` deployment
//! controller: its tasks live in task sets, each behind one of two target
//! groups. The target group the production listeners send (most) traffic to
//! is *blue*; the other is *green*. The primitives know nothing of a
//! strategy: `begin` starts the new version on green, `shift` sets the
//! production weights, `bake` watches the gates for a while, `finish` makes
//! green the new blue and drains the old tasks, and `rollback` puts
//! everything back on blue. Plugins order them into a strategy as steps.
//!
//! Every primitive is idempotent and reads what it needs from AWS or from the
//! [`Slots`] recorded in the state, so a run killed at any point can be
//! resumed or rolled back by the next one.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, LaunchType, LoadBalancer, NetworkConfiguration, Scale, ScaleUnit,
    ServiceRegistry, StabilityStatus, TaskSet,
};
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple};
use serde::{Deserialize, Serialize};

use super::{Aws, Clients, Props, ProviderError, aws_err};

/// What a rollout in progress is working on; saved in the state after every
/// step so another process can resume it or roll it back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Slots {
    pub cluster: String,
    pub service: String,
    /// The task definition being rolled out.
    pub task_definition: String,
    /// The task definition blue runs (restored by a rollback).
    pub previous_task_definition: String,
    pub blue_target_group: String,
    pub green_target_group: String,
    pub production_listeners: Vec<String>,
    #[serde(default)]
    pub test_listener: Option<String>,
    pub blue_task_set: String,
    #[serde(default)]
    pub green_task_set: String,
    /// Production traffic on green, percent.
    #[serde(default)]
    pub green_percent: u32,
    /// When the bake under way started (seconds since the epoch), so a
    /// resumed run bakes only what is left.
    #[serde(default)]
    pub bake_started: Option<u64>,
    /// The planned pair of target groups; blue is not one of them when the
    /// pair was replaced (a new port or VPC), and then the idle one after
    /// `finish` is the planned group green is not.
    #[serde(default)]
    pub target_groups: Vec<String>,
}

impl Slots {
    /// The group left idle (weight 0) beside green once it serves.
    fn idle_group(&self) -> &str {
        if self.target_groups.is_empty() || self.target_groups.contains(&self.blue_target_group) {
            return &self.blue_target_group;
        }
        self.target_groups
            .iter()
            .find(|g| **g != self.green_target_group)
            .unwrap_or(&self.blue_target_group)
    }
}

/// What `begin` found and did.
#[derive(Debug)]
pub enum Begun {
    /// Nothing to roll out: the service already runs the task definition,
    /// or (`first`) it had no tasks and the first version went straight to blue.
    Done { detail: String, first: bool },
    /// Green runs the new version behind the test listener.
    Started(Box<Slots>, String),
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A gate failed or a wait ran out: the rollout must roll back.
pub fn gate_failed(gate: &str, message: impl Into<String>) -> ProviderError {
    ProviderError {
        code: Some("GateFailed".into()),
        ..ProviderError::new(gate, message)
    }
}

async fn task_sets(c: &Clients, cluster: &str, service: &str) -> Result<Vec<TaskSet>, ProviderError> {
    let out = c
        .ecs
        .describe_task_sets()
        .cluster(cluster)
        .service(service)
        .send()
        .await
        .map_err(|e| aws_err("ecs:DescribeTaskSets", e))?;
    Ok(out.task_sets().to_vec())
}

fn set_target_group(set: &TaskSet) -> Option<&str> {
    set.load_balancers().first().and_then(|lb| lb.target_group_arn())
}

async fn delete_task_set(c: &Clients, cluster: &str, service: &str, set: &str) -> Result<(), ProviderError> {
    match c
        .ecs
        .delete_task_set()
        .cluster(cluster)
        .service(service)
        .task_set(set)
        .force(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = aws_err("ecs:DeleteTaskSet", e);
            if e.code.as_deref().is_some_and(|c| c.contains("NotFound")) {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

async fn scale(c: &Clients, cluster: &str, service: &str, set: &str, percent: f64) -> Result<(), ProviderError> {
    c.ecs
        .update_task_set()
        .cluster(cluster)
        .service(service)
        .task_set(set)
        .scale(Scale::builder().unit(ScaleUnit::Percent).value(percent).build())
        .send()
        .await
        .map_err(|e| aws_err("ecs:UpdateTaskSet", e))?;
    Ok(())
}

/// Point every listener at `(target group, weight)` pairs.
/// A forward action to target groups by weight.
pub fn forward_action<S: AsRef<str>>(weights: &[(S, u32)]) -> Action {
    let mut config = ForwardActionConfig::builder();
    for (tg, w) in weights {
        config = config.target_groups(
            TargetGroupTuple::builder()
                .target_group_arn(tg.as_ref())
                .weight(*w as i32)
                .build(),
        );
    }
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(config.build())
        .build()
}

async fn set_weights(c: &Clients, listeners: &[String], weights: &[(&str, u32)]) -> Result<(), ProviderError> {
    let action = forward_action(weights);
    for listener in listeners {
        if is_rule(listener) {
            c.elbv2
                .modify_rule()
                .rule_arn(listener)
                .actions(action.clone())
                .send()
                .await
                .map_err(|e| aws_err("elasticloadbalancing:ModifyRule", e))?;
        } else {
            c.elbv2
                .modify_listener()
                .listener_arn(listener)
                .default_actions(action.clone())
                .send()
                .await
                .map_err(|e| aws_err("elasticloadbalancing:ModifyListener", e))?;
        }
    }
    Ok(())
}

/// Whether a "production listener" is a listener rule (a service sharing
/// another's load balancer gets its traffic through rules): its weights
/// are its actions, not a listener's default actions.
fn is_rule(arn: &str) -> bool {
    arn.contains(":listener-rule/")
}

/// The weight of each target group a listener (or a listener rule)
/// forwards to.
pub async fn weights(c: &Clients, listener: &str) -> Result<Vec<(String, u32)>, ProviderError> {
    let actions: Vec<Action> = if is_rule(listener) {
        let out = c
            .elbv2
            .describe_rules()
            .rule_arns(listener)
            .send()
            .await
            .map_err(|e| aws_err("elasticloadbalancing:DescribeRules", e))?;
        out.rules().iter().flat_map(|r| r.actions().iter().cloned()).collect()
    } else {
        let out = c
            .elbv2
            .describe_listeners()
            .listener_arns(listener)
            .send()
            .await
            .map_err(|e| aws_err("elasticloadbalancing:DescribeListeners", e))?;
        out.listeners()
            .iter()
            .flat_map(|l| l.default_actions().iter().cloned())
            .collect()
    };
    let mut found = Vec::new();
    for a in &actions {
        if let Some(f) = a.forward_config() {
            for t in f.target_groups() {
                found.push((
                    t.target_group_arn().unwrap_or_default().to_string(),
                    t.weight().unwrap_or(1).max(0) as u32,
                ));
            }
        } else if let Some(tg) = a.target_group_arn() {
            found.push((tg.to_string(), 100));
        }
    }
    Ok(found)
}

/// Targets of a group that are unhealthy, with the reason AWS gives.
async fn unhealthy_targets(c: &Clients, target_group: &str) -> Result<(usize, Vec<String>), ProviderError> {
    let out = c
        .elbv2
        .describe_target_health()
        .target_group_arn(target_group)
        .send()
        .await
        .map_err(|e| aws_err("elasticloadbalancing:DescribeTargetHealth", e))?;
    let mut healthy = 0;
    let mut bad = Vec::new();
    for d in out.target_health_descriptions() {
        let id = d.target().and_then(|t| t.id()).unwrap_or("?");
        match d.target_health().and_then(|h| h.state()).map(|s| s.as_str()) {
            Some("healthy") => healthy += 1,
            Some("unhealthy") => bad.push(format!(
                "{id}: {}",
                d.target_health().and_then(|h| h.description()).unwrap_or("unhealthy")
            )),
            _ => {}
        }
    }
    Ok((healthy, bad))
}

/// Wait until a task set runs all its tasks and its target group reports
/// none unhealthy.
async fn wait_steady(
    aws: &Aws,
    c: &Clients,
    slots: &Slots,
    set: &str,
    target_group: &str,
) -> Result<String, ProviderError> {
    loop {
        let sets = task_sets(c, &slots.cluster, &slots.service).await?;
        let Some(s) = sets
            .iter()
            .find(|s| s.task_set_arn() == Some(set) || s.id() == Some(set))
        else {
            return Err(gate_failed(
                "ecs:DescribeTaskSets",
                format!("task set {set} disappeared"),
            ));
        };
        let steady = s.stability_status() == Some(&StabilityStatus::SteadyState)
            && s.running_count() >= s.computed_desired_count();
        let (healthy, bad) = unhealthy_targets(c, target_group).await?;
        if steady && bad.is_empty() {
            return Ok(format!(
                "{} of {} tasks running, {healthy} healthy targets",
                s.running_count(),
                s.computed_desired_count()
            ));
        }
        crate::slot::pause(aws.poll).await;
    }
}

/// Start the task definition in `p` on green, or tell that nothing needs to
/// roll out. `resume` is the rollout the state has in progress, if any.
pub async fn begin(aws: &Aws, region: &str, p: &Props<'_>, resume: Option<Slots>) -> Result<Begun, ProviderError> {
    let c = aws.region(region);
    let cluster = p.str("cluster")?.to_string();
    let service = p.str("service")?.to_string();
    let wanted = p.str("task_definition")?.to_string();
    let groups = p.strs("target_groups")?;
    if groups.len() != 2 {
        return Err(ProviderError::property(
            "rollout.begin",
            format!("`target_groups` must name two target groups, not {}", groups.len()),
        ));
    }
    let production = p.strs("production_listeners")?;
    let test = p.opt_str("test_listener").map(str::to_string);

    if let Some(slots) = resume {
        if slots.task_definition == wanted && !slots.green_task_set.is_empty() {
            let sets = task_sets(&c, &cluster, &service).await?;
            if sets
                .iter()
                .any(|s| s.task_set_arn() == Some(slots.green_task_set.as_str()))
            {
                let detail = wait_steady(aws, &c, &slots, &slots.green_task_set, &slots.green_target_group).await?;
                return Ok(Begun::Started(Box::new(slots), format!("resumed: {detail}")));
            }
        }
        // The blueprint moved on, or green is gone: undo and start over.
        rollback(aws, region, &slots).await?;
    }

    let sets = task_sets(&c, &cluster, &service).await?;
    let primary = sets.iter().find(|s| s.status() == Some("PRIMARY"));
    let others: Vec<&TaskSet> = sets.iter().filter(|s| s.status() != Some("PRIMARY")).collect();
    let make = |target_group: &str| {
        let network = AwsVpcConfiguration::builder()
            .set_subnets(p.strs("subnets").ok())
            .set_security_groups(p.strs("security_groups").ok())
            .assign_public_ip(if p.bool("assign_public_ip") == Some(true) {
                AssignPublicIp::Enabled
            } else {
                AssignPublicIp::Disabled
            })
            .build()
            .map_err(|e| ProviderError::property("ecs:CreateTaskSet", e.to_string()))?;
        Ok::<_, ProviderError>(
            c.ecs
                .create_task_set()
                .cluster(&cluster)
                .service(&service)
                .task_definition(&wanted)
                .external_id(format!("platform-{}", now_secs()))
                .launch_type(LaunchType::from(p.opt_str("launch_type").unwrap_or("FARGATE")))
                .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(network).build())
                .load_balancers(
                    LoadBalancer::builder()
                        .target_group_arn(target_group)
                        .container_name(p.str("container_name")?)
                        .container_port(p.i32("container_port")?)
                        .build(),
                )
                .set_service_registries(Some(
                    p.strs("service_registries")
                        .unwrap_or_default()
                        .into_iter()
                        .map(|arn| ServiceRegistry::builder().registry_arn(arn).build())
                        .collect(),
                )),
        )
    };
    // The scale is set apart from the create call: the emulator cannot start
    // awsvpc tasks, and AWS takes the same scale either way.
    let (c2, cluster2, service2) = (&c, &cluster, &service);
    let create = |target_group: String| {
        let req = make(&target_group);
        async move {
            let req = req?;
            // A new task or execution role may not be usable yet (IAM
            // propagation): ECS refuses it until it is.
            let out = super::retry_while(aws, aws.consistency_timeout, super::ecs_not_ready, || {
                let req = req.clone();
                async move { req.send().await.map_err(|e| aws_err("ecs:CreateTaskSet", e)) }
            })
            .await?;
            let arn = out
                .task_set()
                .and_then(|s| s.task_set_arn())
                .unwrap_or_default()
                .to_string();
            scale(c2, cluster2, service2, &arn, 100.0).await?;
            Ok::<_, ProviderError>(arn)
        }
    };

    let Some(primary) = primary else {
        // First version: it goes to whichever group production points at.
        let weights = match production.first() {
            Some(l) => weights(&c, l).await?,
            None => Vec::new(),
        };
        let live = weights
            .iter()
            .filter(|(tg, _)| groups.contains(tg))
            .max_by_key(|(_, w)| *w)
            .map_or(groups[0].clone(), |(tg, _)| tg.clone());
        // A set an interrupted first run started is adopted, not duplicated.
        let set = match others.iter().find(|s| s.task_definition() == Some(wanted.as_str())) {
            Some(s) => s.task_set_arn().unwrap_or_default().to_string(),
            None => create(live.clone()).await?,
        };
        c.ecs
            .update_service_primary_task_set()
            .cluster(&cluster)
            .service(&service)
            .primary_task_set(&set)
            .send()
            .await
            .map_err(|e| aws_err("ecs:UpdateServicePrimaryTaskSet", e))?;
        let slots = Slots {
            cluster: cluster.clone(),
            service: service.clone(),
            ..Slots::default()
        };
        let detail = wait_steady(aws, &c, &slots, &set, &live).await?;
        return Ok(Begun::Done {
            detail: format!("first version on {}: {detail}", short(&live)),
            first: true,
        });
    };

    let primary_td = primary.task_definition().unwrap_or_default().to_string();
    let blue_tg = set_target_group(primary).unwrap_or(&groups[0]).to_string();
    let green_tg = groups
        .iter()
        .find(|g| **g != blue_tg)
        .cloned()
        .unwrap_or_else(|| groups[1].clone());
    // The primary on a target group no longer planned (the pair was
    // replaced): roll out onto the new pair even with the same version.
    if primary_td == wanted && groups.contains(&blue_tg) {
        // Leftovers of a rollout that was cut short lose to the primary.
        for s in &others {
            delete_task_set(&c, &cluster, &service, s.task_set_arn().unwrap_or_default()).await?;
        }
        if !others.is_empty() {
            restore_weights(&c, &production, &blue_tg, &green_tg).await?;
        }
        return Ok(Begun::Done {
            first: false,
            detail: if others.is_empty() {
                format!("already on {}", short(&wanted))
            } else {
                format!(
                    "already on {}; removed {} leftover task sets",
                    short(&wanted),
                    others.len()
                )
            },
        });
    }
    let mut green_set = String::new();
    for s in &others {
        let arn = s.task_set_arn().unwrap_or_default();
        if s.task_definition() == Some(wanted.as_str()) && set_target_group(s) == Some(green_tg.as_str()) {
            green_set = arn.to_string();
        } else {
            delete_task_set(&c, &cluster, &service, arn).await?;
        }
    }
    if green_set.is_empty() {
        green_set = create(green_tg.clone()).await?;
    }
    let slots = Slots {
        cluster,
        service,
        task_definition: wanted,
        previous_task_definition: primary_td,
        blue_target_group: blue_tg,
        green_target_group: green_tg.clone(),
        production_listeners: production,
        test_listener: test.clone(),
        blue_task_set: primary.task_set_arn().unwrap_or_default().to_string(),
        green_task_set: green_set.clone(),
        green_percent: 0,
        bake_started: None,
        target_groups: groups.clone(),
    };
    if let Some(t) = &test {
        set_weights(&c, std::slice::from_ref(t), &[(&green_tg, 100)]).await?;
    }
    match wait_steady(aws, &c, &slots, &green_set, &green_tg).await {
        Ok(detail) => {
            let detail = format!("green {}: {detail}", short(&slots.green_target_group));
            Ok(Begun::Started(Box::new(slots), detail))
        }
        Err(e) => {
            rollback(aws, region, &slots).await?;
            Err(e)
        }
    }
}

/// Production listeners back to all blue (weights kept for both groups).
async fn restore_weights(c: &Clients, production: &[String], blue: &str, green: &str) -> Result<(), ProviderError> {
    set_weights(c, production, &[(blue, 100), (green, 0)]).await
}

/// Send `green_percent` of production traffic to green.
pub async fn shift(aws: &Aws, region: &str, slots: &Slots, green_percent: u32) -> Result<String, ProviderError> {
    let c = aws.region(region);
    let green = green_percent.min(100);
    set_weights(
        &c,
        &slots.production_listeners,
        &[
            (&slots.blue_target_group, 100 - green),
            (&slots.green_target_group, green),
        ],
    )
    .await?;
    Ok(format!("blue {} / green {green}", 100 - green))
}

/// Watch the gates for `seconds` (at least one check): CloudWatch alarms by
/// name prefix or name in ALARM, unhealthy targets in green, and an optional
/// HTTP probe. `stop` ends the bake early as a failure (another rollout of
/// the same run failed).
pub async fn bake(
    aws: &Aws,
    region: &str,
    slots: &Slots,
    p: &Props<'_>,
    seconds: u64,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<String, ProviderError> {
    let c = aws.region(region);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let prefix = p.opt_str("alarm_prefix").filter(|s| !s.is_empty());
    let names = p.strs("alarm_names").unwrap_or_default();
    let probe = p.opt_str("probe_url");
    let mut checks = 0u32;
    loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(gate_failed(
                "rollout.bake",
                "stopped: another rollout of this run failed",
            ));
        }
        let at = |what: String| {
            format!(
                "{what} ({:.1}s into a {seconds}s bake)",
                started.elapsed().as_secs_f64()
            )
        };
        if prefix.is_some() || !names.is_empty() {
            let mut req = c
                .cloudwatch
                .describe_alarms()
                .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm);
            if let Some(prefix) = prefix {
                req = req.alarm_name_prefix(prefix);
            }
            let out = req.send().await.map_err(|e| aws_err("cloudwatch:DescribeAlarms", e))?;
            let firing: Vec<String> = out
                .metric_alarms()
                .iter()
                .filter(|a| {
                    let name = a.alarm_name().unwrap_or_default();
                    // Checked here too: not every endpoint filters by state with a prefix.
                    a.state_value() == Some(&aws_sdk_cloudwatch::types::StateValue::Alarm)
                        && (prefix.is_some_and(|p| name.starts_with(p)) || names.iter().any(|n| n == name))
                })
                .map(|a| {
                    format!(
                        "{} ({})",
                        a.alarm_name().unwrap_or_default(),
                        a.state_reason().unwrap_or("no reason given")
                    )
                })
                .collect();
            if !firing.is_empty() {
                return Err(gate_failed(
                    "gate `alarms`",
                    at(format!("in ALARM: {}", firing.join(", "))),
                ));
            }
        }
        let (_, bad) = unhealthy_targets(&c, &slots.green_target_group).await?;
        if !bad.is_empty() {
            return Err(gate_failed(
                "gate `target-health`",
                at(format!("unhealthy targets in green: {}", bad.join("; "))),
            ));
        }
        if let Some(url) = probe {
            let params = serde_json::json!({ "url": url, "expect_status": p.opt_i64("expect_status").unwrap_or(200) });
            if let Err(e) = super::actions::probe(aws, &Props::new(&params, "http.probe")).await {
                return Err(gate_failed("gate `http-probe`", at(e.message)));
            }
        }
        checks += 1;
        let now = Instant::now();
        if now >= deadline {
            return Ok(format!("{checks} gate checks passed over {seconds}s"));
        }
        crate::slot::pause(aws.poll.min(deadline - now)).await;
    }
}

/// How much of a bake is left, given when it started.
pub fn bake_left(slots: &Slots, seconds: u64) -> u64 {
    match slots.bake_started {
        Some(start) => seconds.saturating_sub(now_secs().saturating_sub(start)),
        None => seconds,
    }
}

/// Mark the start of a bake (kept if one is under way already).
pub fn bake_start(slots: &mut Slots) {
    if slots.bake_started.is_none() {
        slots.bake_started = Some(now_secs());
    }
}

/// Green becomes blue: all production traffic to it, its task set primary,
/// the test listener on it, the old tasks drained and removed, and the old
/// task definition deregistered.
pub async fn finish(
    aws: &Aws,
    region: &str,
    slots: &Slots,
    drain: Duration,
    deregister: bool,
) -> Result<String, ProviderError> {
    let c = aws.region(region);
    set_weights(
        &c,
        &slots.production_listeners,
        &[(&slots.green_target_group, 100), (slots.idle_group(), 0)],
    )
    .await?;
    c.ecs
        .update_service_primary_task_set()
        .cluster(&slots.cluster)
        .service(&slots.service)
        .primary_task_set(&slots.green_task_set)
        .send()
        .await
        .map_err(|e| aws_err("ecs:UpdateServicePrimaryTaskSet", e))?;
    if let Some(t) = &slots.test_listener {
        set_weights(&c, std::slice::from_ref(t), &[(&slots.green_target_group, 100)]).await?;
    }
    let old = task_sets(&c, &slots.cluster, &slots.service)
        .await?
        .into_iter()
        .any(|s| s.task_set_arn() == Some(slots.blue_task_set.as_str()));
    if old {
        scale(&c, &slots.cluster, &slots.service, &slots.blue_task_set, 0.0).await?;
        // Connections to the old tasks finish within the deregistration delay.
        crate::slot::pause(drain).await;
        delete_task_set(&c, &slots.cluster, &slots.service, &slots.blue_task_set).await?;
    }
    if deregister
        && slots.previous_task_definition != slots.task_definition
        && !slots.previous_task_definition.is_empty()
    {
        let o = serde_json::json!({ "arn": slots.previous_task_definition });
        super::ecs::deregister_task_definition(&c, &Props::new(&o, "aws.ecs.task-definition")).await?;
    }
    Ok(format!(
        "{} now serves production; old tasks drained for {drain:?}",
        short(&slots.green_target_group)
    ))
}

/// Put everything back on blue: production and test traffic, the primary
/// task set (and so the previous task definition); stop green's tasks.
pub async fn rollback(aws: &Aws, region: &str, slots: &Slots) -> Result<String, ProviderError> {
    let c = aws.region(region);
    restore_weights(
        &c,
        &slots.production_listeners,
        &slots.blue_target_group,
        &slots.green_target_group,
    )
    .await?;
    if let Some(t) = &slots.test_listener {
        set_weights(&c, std::slice::from_ref(t), &[(&slots.blue_target_group, 100)]).await?;
    }
    let sets = task_sets(&c, &slots.cluster, &slots.service).await?;
    if sets
        .iter()
        .any(|s| s.task_set_arn() == Some(slots.blue_task_set.as_str()) && s.status() != Some("PRIMARY"))
    {
        c.ecs
            .update_service_primary_task_set()
            .cluster(&slots.cluster)
            .service(&slots.service)
            .primary_task_set(&slots.blue_task_set)
            .send()
            .await
            .map_err(|e| aws_err("ecs:UpdateServicePrimaryTaskSet", e))?;
    }
    if !slots.green_task_set.is_empty() {
        delete_task_set(&c, &slots.cluster, &slots.service, &slots.green_task_set).await?;
    }
    Ok(format!(
        "production 100% on blue ({}), service on {}, green tasks stopped",
        short(&slots.blue_target_group),
        short(&slots.previous_task_definition)
    ))
}

/// The readable tail of an ARN (`targetgroup/api-b-use1/0123...` -> `api-b-use1`).
pub fn short(arn: &str) -> String {
    let parts: Vec<&str> = arn.split('/').collect();
    match parts.as_slice() {
        [_, name, _] if arn.contains(":targetgroup/") => (*name).to_string(),
        [.., last] if arn.contains(":task-definition/") => (*last).to_string(),
        _ => arn.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::short;

    #[test]
    fn short_names_of_target_groups_and_task_definitions() {
        assert_eq!(
            short("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api-b-use1/0123456789abcdef"),
            "api-b-use1"
        );
        assert_eq!(
            short("arn:aws:ecs:us-east-1:123456789012:task-definition/ml-api-local-api:2"),
            "ml-api-local-api:2"
        );
        assert_eq!(short("sg-123"), "sg-123");
    }
}
