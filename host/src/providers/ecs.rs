//! ECS: clusters, Fargate task definitions and services.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ClusterSetting, ClusterSettingName, Compatibility, ContainerDefinition,
    DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentController, DeploymentControllerType, HealthCheck,
    KeyValuePair, LaunchType, LoadBalancer, LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode,
    PortMapping, PropagateTags, Secret, Tag, TransportProtocol,
};

use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, retry_while, role_not_ready, wait_within};
use crate::outputs;

fn tags(r: &Request<'_>) -> Vec<Tag> {
    r.tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub async fn create_cluster(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let name = r.props.str("name")?;
    let insights = if r.props.bool("container_insights") == Some(true) {
        "enabled"
    } else {
        "disabled"
    };
    let out = c
        .ecs
        .create_cluster()
        .cluster_name(name)
        .settings(
            ClusterSetting::builder()
                .name(ClusterSettingName::ContainerInsights)
                .value(insights)
                .build(),
        )
        .set_tags(Some(tags(r)))
        .send()
        .await
        .map_err(|e| aws_err("ecs:CreateCluster", e))?;
    Ok(outputs! { "name" => name, "arn" => out.cluster().and_then(|c| c.cluster_arn()).unwrap_or_default() })
}

pub async fn find_cluster(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    let name = r.props.str("name")?;
    let out = c
        .ecs
        .describe_clusters()
        .clusters(name)
        .send()
        .await
        .map_err(|e| aws_err("ecs:DescribeClusters", e))?;
    Ok(out
        .clusters()
        .iter()
        .find(|c| c.status() == Some("ACTIVE"))
        .map(|cl| outputs! { "name" => name, "arn" => cl.cluster_arn().unwrap_or_default() }))
}

/// A cluster cannot go while a service of it drains or its tasks stop
/// (`ClusterContainsServicesException`, `ClusterContainsTasksException`):
/// retried for the dependency limit.
pub async fn delete_cluster(aws: &Aws, c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    let name = o.str("name")?;
    let busy = |e: &ProviderError| e.code.as_deref().is_some_and(|c| c.starts_with("ClusterContains"));
    retry_while(aws, aws.dependency_timeout, busy, || async {
        c.ecs
            .delete_cluster()
            .cluster(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_err("ecs:DeleteCluster", e))
    })
    .await
}

fn container(p: &Props<'_>) -> Result<ContainerDefinition, ProviderError> {
    let mut def = ContainerDefinition::builder()
        .name(p.str("name")?)
        .image(p.str("image")?)
        .essential(p.bool("essential").unwrap_or(true))
        .set_command(p.get("command").and_then(|_| p.strs("command").ok()));
    for m in p.objs("port_mappings") {
        def = def.port_mappings(
            PortMapping::builder()
                .container_port(m.i32("container_port")?)
                .protocol(TransportProtocol::from(m.opt_str("protocol").unwrap_or("tcp")))
                .build(),
        );
    }
    for e in p.objs("environment") {
        def = def.environment(
            KeyValuePair::builder()
                .name(e.str("name")?)
                .value(e.str("value")?)
                .build(),
        );
    }
    for s in p.objs("secrets") {
        let secret = Secret::builder()
            .name(s.str("name")?)
            .value_from(s.str("value_from")?)
            .build()
            .map_err(|e| ProviderError::property("ecs:RegisterTaskDefinition", e.to_string()))?;
        def = def.secrets(secret);
    }
    if let Some(h) = p.obj("health_check") {
        let check = HealthCheck::builder()
            .set_command(Some(h.strs("command")?))
            .set_interval(h.opt_i32("interval"))
            .set_timeout(h.opt_i32("timeout"))
            .set_retries(h.opt_i32("retries"))
            .set_start_period(h.opt_i32("start_period"))
            .build()
            .map_err(|e| ProviderError::property("ecs:RegisterTaskDefinition", e.to_string()))?;
        def = def.health_check(check);
    }
    if let Some(l) = p.obj("log_configuration") {
        let mut log = LogConfiguration::builder().log_driver(LogDriver::from(l.str("log_driver")?));
        if let Some(options) = l.get("options").and_then(|o| o.as_object()) {
            for (k, v) in options {
                log = log.options(k, v.as_str().unwrap_or_default());
            }
        }
        def = def.log_configuration(
            log.build()
                .map_err(|e| ProviderError::property("ecs:RegisterTaskDefinition", e.to_string()))?,
        );
    }
    Ok(def.build())
}

/// The task and execution roles are usually created moments before: ECS
/// refuses a role IAM has not propagated yet, so that is retried.
pub async fn register_task_definition(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let containers = p
        .objs("containers")
        .iter()
        .map(container)
        .collect::<Result<Vec<_>, _>>()?;
    let (family, cpu, memory) = (p.str("family")?, p.str("cpu")?, p.str("memory")?);
    let compatibilities: Vec<Compatibility> = p
        .strs("requires_compatibilities")?
        .iter()
        .map(|c| Compatibility::from(c.as_str()))
        .collect();
    let out = retry_while(aws, aws.consistency_timeout, role_not_ready, || async {
        c.ecs
            .register_task_definition()
            .family(family)
            .cpu(cpu)
            .memory(memory)
            .network_mode(NetworkMode::from(p.opt_str("network_mode").unwrap_or("awsvpc")))
            .set_requires_compatibilities(Some(compatibilities.clone()))
            .set_execution_role_arn(p.opt_str("execution_role_arn").map(str::to_string))
            .set_task_role_arn(p.opt_str("task_role_arn").map(str::to_string))
            .set_container_definitions(Some(containers.clone()))
            .set_tags(Some(tags(r)))
            .send()
            .await
            .map_err(|e| aws_err("ecs:RegisterTaskDefinition", e))
    })
    .await?;
    let td = out.task_definition();
    Ok(outputs! {
        "arn" => td.and_then(|t| t.task_definition_arn()).unwrap_or_default(),
        "family" => p.str("family")?,
        "revision" => td.map(|t| t.revision()).unwrap_or_default(),
    })
}

/// Deregister the revision in the outputs and every other active revision
/// of its family (earlier rollouts may have left some).
pub async fn delete_task_definition(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    let mut arns = vec![o.str("arn")?.to_string()];
    if let Some(family) = o.opt_str("family") {
        let out = c
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .send()
            .await
            .map_err(|e| aws_err("ecs:ListTaskDefinitions", e))?;
        // The prefix also matches longer family names: keep exact ones.
        let exact = format!(":task-definition/{family}:");
        arns.extend(
            out.task_definition_arns()
                .iter()
                .filter(|a| a.contains(&exact) && !arns.contains(a))
                .cloned()
                .collect::<Vec<_>>(),
        );
    }
    for arn in arns {
        let o = serde_json::json!({ "arn": arn });
        deregister_task_definition(c, &Props::new(&o, "aws.ecs.task-definition")).await?;
    }
    Ok(())
}

pub(super) async fn deregister_task_definition(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    match c
        .ecs
        .deregister_task_definition()
        .task_definition(o.str("arn")?)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = aws_err("ecs:DeregisterTaskDefinition", e);
            // Deregistered already: ECS answers ClientException.
            if e.code.as_deref() == Some("ClientException") {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

pub async fn create_service(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let external = p.opt_str("deployment_controller") == Some("EXTERNAL");
    let mut req = c
        .ecs
        .create_service()
        .cluster(p.str("cluster")?)
        .service_name(p.str("name")?)
        .set_task_definition(p.opt_str("task_definition").map(str::to_string))
        .desired_count(p.i32("desired_count")?)
        .set_health_check_grace_period_seconds(p.opt_i32("health_check_grace_period_seconds"))
        .propagate_tags(PropagateTags::Service)
        .client_token(&r.token)
        .set_tags(Some(tags(r)));
    if external {
        // Task sets carry the task definition, network and load balancer.
        req = req.deployment_controller(
            DeploymentController::builder()
                .r#type(DeploymentControllerType::External)
                .build()
                .map_err(|e| ProviderError::property("ecs:CreateService", e.to_string()))?,
        );
    } else {
        let network = AwsVpcConfiguration::builder()
            .set_subnets(Some(p.strs("subnets")?))
            .set_security_groups(Some(p.strs("security_groups")?))
            .assign_public_ip(if p.bool("assign_public_ip") == Some(true) {
                AssignPublicIp::Enabled
            } else {
                AssignPublicIp::Disabled
            })
            .build()
            .map_err(|e| ProviderError::property("ecs:CreateService", e.to_string()))?;
        req = req
            .launch_type(LaunchType::from(p.opt_str("launch_type").unwrap_or("FARGATE")))
            .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(network).build());
    }
    for lb in p.objs("load_balancers") {
        req = req.load_balancers(
            LoadBalancer::builder()
                .target_group_arn(lb.str("target_group_arn")?)
                .container_name(lb.str("container_name")?)
                .container_port(lb.i32("container_port")?)
                .build(),
        );
    }
    if let Some(cb) = p.obj("deployment_circuit_breaker") {
        let breaker = DeploymentCircuitBreaker::builder()
            .enable(cb.bool("enable").unwrap_or(true))
            .rollback(cb.bool("rollback").unwrap_or(true))
            .build();
        req = req.deployment_configuration(
            DeploymentConfiguration::builder()
                .deployment_circuit_breaker(breaker)
                .build(),
        );
    }
    // The same client token on every attempt: a retry cannot make a second service.
    let out = retry_while(aws, aws.consistency_timeout, super::ecs_not_ready, || {
        let req = req.clone();
        async move { req.send().await.map_err(|e| aws_err("ecs:CreateService", e)) }
    })
    .await?;
    Ok(outputs! {
        "name" => p.str("name")?,
        "arn" => out.service().and_then(|s| s.service_arn()).unwrap_or_default(),
        "cluster" => p.str("cluster")?,
    })
}

pub async fn find_service(c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
    let p = &r.props;
    let out = c
        .ecs
        .describe_services()
        .cluster(p.str("cluster")?)
        .services(p.str("name")?)
        .send()
        .await
        .map_err(|e| aws_err("ecs:DescribeServices", e))?;
    Ok(out.services().iter().find(|s| s.status() == Some("ACTIVE")).map(|s| {
        outputs! { "name" => s.service_name().unwrap_or_default(), "arn" => s.service_arn().unwrap_or_default(), "cluster" => p.opt_str("cluster").unwrap_or_default() }
    }))
}

/// Whether Application Auto Scaling manages the service's desired count:
/// then the live count is autoscaling's business, never drift to set back.
pub async fn autoscaled(c: &Clients, cluster: &str, service: &str) -> Result<bool, ProviderError> {
    let out = c
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_ids(format!("service/{cluster}/{service}"))
        .send()
        .await
        .map_err(|e| aws_err("application-autoscaling:DescribeScalableTargets", e))?;
    Ok(!out.scalable_targets().is_empty())
}

pub async fn update_service(c: &Clients, r: &Request<'_>, outputs: &Outputs) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let (cluster, name) = (p.str("cluster")?, p.str("name")?);
    // Sending the planned count would cut a service autoscaling scaled out.
    let desired = if autoscaled(c, cluster, name).await? {
        None
    } else {
        Some(p.i32("desired_count")?)
    };
    c.ecs
        .update_service()
        .cluster(cluster)
        .service(name)
        .set_task_definition(p.opt_str("task_definition").map(str::to_string))
        .set_desired_count(desired)
        .set_health_check_grace_period_seconds(p.opt_i32("health_check_grace_period_seconds"))
        .send()
        .await
        .map_err(|e| aws_err("ecs:UpdateService", e))?;
    Ok(outputs.clone())
}

/// Deleted with `force`, a service drains (DRAINING) until its tasks have
/// stopped; its cluster, Cloud Map service and network cannot go before.
/// Wait until it is INACTIVE.
pub async fn delete_service(aws: &Aws, c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    // A service of the EXTERNAL controller may still have task sets.
    if let Ok(out) = c
        .ecs
        .describe_task_sets()
        .cluster(o.str("cluster")?)
        .service(o.str("name")?)
        .send()
        .await
    {
        for set in out.task_sets() {
            c.ecs
                .delete_task_set()
                .cluster(o.str("cluster")?)
                .service(o.str("name")?)
                .task_set(set.task_set_arn().unwrap_or_default())
                .force(true)
                .send()
                .await
                .map_err(|e| aws_err("ecs:DeleteTaskSet", e))?;
        }
    }
    let (cluster, name) = (o.str("cluster")?, o.str("name")?);
    c.ecs
        .delete_service()
        .cluster(cluster)
        .service(name)
        .force(true)
        .send()
        .await
        .map_err(|e| aws_err("ecs:DeleteService", e))?;
    let what = format!("ECS service {name} draining (becoming INACTIVE)");
    wait_within(aws, aws.dependency_timeout, &what, "ecs:DescribeServices", || async {
        let out = c
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(name)
            .send()
            .await
            .map_err(|e| aws_err("ecs:DescribeServices", e))?;
        Ok(out
            .services()
            .iter()
            .all(|s| s.status() == Some("INACTIVE"))
            .then_some(()))
    })
    .await
}
