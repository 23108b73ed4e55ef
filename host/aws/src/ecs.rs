//! ECS: clusters, Fargate task definitions and services.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ClusterSetting, ClusterSettingName, Compatibility, ContainerDefinition,
    DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentController, DeploymentControllerType, HealthCheck,
    KeyValuePair, LaunchType, LoadBalancer, LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode,
    PortMapping, PropagateTags, Secret, ServiceRegistry, Tag, TransportProtocol,
};
use serde_json::Value as Json;

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, not_in_place, only};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err, retry_while, role_not_ready, wait_within};
use crate::outputs;

fn tags(r: &Request<'_>) -> Vec<Tag> {
    crate::sdk_tags!(r, Tag)
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
        req = req
            .launch_type(LaunchType::from(p.opt_str("launch_type").unwrap_or("FARGATE")))
            .network_configuration(network(p, "ecs:CreateService")?)
            .set_service_registries(registries(p)?);
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

/// The tasks' network of a rolling service.
fn network(p: &Props<'_>, op: &str) -> Result<NetworkConfiguration, ProviderError> {
    let network = AwsVpcConfiguration::builder()
        .set_subnets(Some(p.strs("subnets")?))
        .set_security_groups(Some(p.strs("security_groups")?))
        .assign_public_ip(if p.bool("assign_public_ip") == Some(true) {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        })
        .build()
        .map_err(|e| ProviderError::property(op, e.to_string()))?;
    Ok(NetworkConfiguration::builder().awsvpc_configuration(network).build())
}

/// The Cloud Map services a rolling service's tasks register in (`None`:
/// none, which UpdateService reads as "leave them").
fn registries(p: &Props<'_>) -> Result<Option<Vec<ServiceRegistry>>, ProviderError> {
    let arns = p.strs("service_registries")?;
    Ok((!arns.is_empty()).then(|| {
        arns.into_iter()
            .map(|arn| ServiceRegistry::builder().registry_arn(arn).build())
            .collect()
    }))
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

pub async fn update_service(
    c: &Clients,
    r: &Request<'_>,
    old: &Json,
    outputs: &Outputs,
) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let (cluster, name) = (p.str("cluster")?, p.str("name")?);
    // Sending the planned count would cut a service autoscaling scaled out.
    let desired = if autoscaled(c, cluster, name).await? {
        None
    } else {
        Some(p.i32("desired_count")?)
    };
    let mut call = c
        .ecs
        .update_service()
        .cluster(cluster)
        .service(name)
        .set_task_definition(p.opt_str("task_definition").map(str::to_string))
        .set_desired_count(desired)
        .set_health_check_grace_period_seconds(p.opt_i32("health_check_grace_period_seconds"));
    // Only what changed: either starts a new deployment of the tasks.
    let changed = super::changed_keys(old, p.raw());
    let changed = |keys: &[&str]| changed.iter().any(|k| keys.contains(&k.as_str()));
    if p.opt_str("deployment_controller") != Some("EXTERNAL") {
        if changed(&["subnets", "security_groups", "assign_public_ip"]) {
            call = call.network_configuration(network(p, "ecs:UpdateService")?);
        }
        if changed(&["service_registries"]) {
            // An empty list removes them (absent would leave them).
            call = call.set_service_registries(Some(registries(p)?.unwrap_or_default()));
        }
    }
    call.send().await.map_err(|e| aws_err("ecs:UpdateService", e))?;
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

// ---------------------------------------------------------------------------
// Resource types: `aws.ecs.cluster`, `aws.ecs.task-definition`, `aws.ecs.service`
// ---------------------------------------------------------------------------

/// `aws.ecs.cluster`
pub struct Cluster;

/// An ECS cluster.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ClusterProps {
    /// The cluster's name, unique in the account and region.
    pub name: String,
    /// Whether CloudWatch Container Insights collects the cluster's metrics;
    /// absent: off.
    pub container_insights: Option<bool>,
}

impl ResourceType for Cluster {
    const NAME: &'static str = "aws.ecs.cluster";
    const ABOUT: &'static str = "ECS cluster, with or without CloudWatch Container Insights";
    type Props = ClusterProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // CreateCluster of an existing name returns that cluster.
    const UNIQUE: &'static [&'static str] = &["name"];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        false
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_cluster(c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find_cluster(c, r).await
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
        delete_cluster(aws, c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .ecs
            .describe_clusters()
            .clusters(key)
            .send()
            .await
            .map_err(|e| aws_err("ecs:DescribeClusters", e))?;
        Ok(if out.clusters().iter().any(|cl| cl.status() == Some("ACTIVE")) {
            observed(vec![])
        } else {
            Live::Gone
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let name = arn.after("cluster/")?;
        (arn.service == "ecs").then(|| serde_json::json!({ "name": name }))
    }
}

/// `aws.ecs.task-definition`
pub struct TaskDefinition;

/// A task definition: the containers of a task, its size and its roles.
/// Each change registers a new revision of the family.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct TaskDefinitionProps {
    /// The family the revisions are registered under (`ml-api-prod-api`).
    pub family: String,
    /// CPU units of the task, as a string: `"256"`, `"512"`, `"1024"`,
    /// `"2048"` or `"4096"` on Fargate.
    pub cpu: String,
    /// Memory of the task in MiB, as a string (`"1024"`); on Fargate one of
    /// the sizes the CPU allows.
    pub memory: String,
    /// The Docker networking mode; absent: `awsvpc` (the only one Fargate
    /// supports).
    pub network_mode: Option<String>,
    /// Launch types the task must be valid for (`["FARGATE"]`).
    #[serde(default)]
    pub requires_compatibilities: Vec<String>,
    /// ARN of the role ECS uses to pull the image, write logs and read the
    /// secrets of the containers.
    pub execution_role_arn: Option<String>,
    /// ARN of the role the containers' code runs as.
    pub task_role_arn: Option<String>,
    /// The containers of the task.
    #[serde(default)]
    pub containers: Vec<ContainerProps>,
}

/// One container of a task definition.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ContainerProps {
    /// The container's name, unique in the task (`app`).
    pub name: String,
    /// The image to run (`ghcr.io/example/app:1.0.0`, an ECR URI).
    pub image: String,
    /// Whether the task stops when this container stops; absent: true.
    pub essential: Option<bool>,
    /// The command, replacing the image's `CMD`; absent: the image's.
    pub command: Option<Vec<String>>,
    /// Ports the container listens on.
    #[serde(default)]
    pub port_mappings: Vec<PortMappingProps>,
    /// Environment variables, by name.
    #[serde(default)]
    pub environment: Vec<EnvironmentProps>,
    /// Environment variables whose value ECS reads from Secrets Manager or
    /// the SSM Parameter Store when the task starts.
    #[serde(default)]
    pub secrets: Vec<SecretProps>,
    /// The container's health check, run by ECS inside the container.
    pub health_check: Option<HealthCheckProps>,
    /// Where the container's output goes (the `awslogs` driver: CloudWatch Logs).
    pub log_configuration: Option<LogConfigurationProps>,
}

/// A port a container listens on.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PortMappingProps {
    /// The port number in the container (with `awsvpc`, also the task's port).
    pub container_port: i32,
    /// `tcp` or `udp`; absent: `tcp`.
    pub protocol: Option<String>,
}

/// An environment variable of a container.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct EnvironmentProps {
    /// The variable's name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// An environment variable read from a secret when the task starts.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SecretProps {
    /// The variable's name.
    pub name: String,
    /// ARN of the Secrets Manager secret (optionally with `:json-key::`) or
    /// of the SSM parameter that holds the value.
    pub value_from: String,
}

/// A container health check.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct HealthCheckProps {
    /// The check, as ECS runs it:
    /// `["CMD-SHELL", "curl -fs http://localhost:8000/health || exit 1"]` or `["CMD", ...]`.
    #[serde(default)]
    pub command: Vec<String>,
    /// Seconds between checks (5 to 300; ECS default 30).
    pub interval: Option<i32>,
    /// Seconds a check may take before it counts as failed (2 to 60; ECS default 5).
    pub timeout: Option<i32>,
    /// Failed checks in a row before the container is unhealthy (1 to 10; ECS default 3).
    pub retries: Option<i32>,
    /// Seconds after start during which failed checks do not count (0 to 300).
    pub start_period: Option<i32>,
}

/// Where a container's output goes.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct LogConfigurationProps {
    /// The log driver (`awslogs`: CloudWatch Logs).
    pub log_driver: String,
    /// The driver's options (for `awslogs`: `awslogs-group`,
    /// `awslogs-region`, `awslogs-stream-prefix`).
    pub options: Option<BTreeMap<String, String>>,
}

impl ResourceType for TaskDefinition {
    const NAME: &'static str = "aws.ecs.task-definition";
    const ABOUT: &'static str = "ECS task definition: containers, size and roles; a change registers a new revision";
    type Props = TaskDefinitionProps;
    const ADOPT: Adopt = Adopt::CreateAgain;
    const DRIFT: Support =
        Support::No("a revision cannot be changed, only followed by the next one a deployment registers");
    const SWEEP: Support = Support::No("leftover revisions are not deregistered by ARN; deregister them by hand");
    // Deleting deregisters every active revision of the family, a new one's too.
    const UNIQUE: &'static [&'static str] = &["family"];

    fn in_place(_changed: &[String], _old: &Json, _new: &Json) -> bool {
        // Task definitions are immutable: the update registers a new
        // revision (the previous one stays until a rollout replaces it).
        true
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        register_task_definition(aws, c, r).await
    }

    async fn find(_aws: &Aws, _c: &Clients, _r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        Ok(None)
    }

    async fn update(
        aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        register_task_definition(aws, c, r).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_task_definition(c, o).await
    }

    async fn read(_aws: &Aws, _c: &Clients, _key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        Ok(Live::Unknown)
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}

/// `aws.ecs.service`
pub struct Service;

/// An ECS service: keeps a number of tasks running, on Fargate in the given
/// subnets, or (the `EXTERNAL` controller) through task sets that rollouts
/// start behind blue and green target groups.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ServiceProps {
    /// The service's name, unique in its cluster.
    pub name: String,
    /// The name or ARN of the cluster the service runs in.
    pub cluster: String,
    /// The `family:revision` or ARN of the task definition to run; with the
    /// `EXTERNAL` controller the task sets carry it instead.
    pub task_definition: Option<String>,
    /// How many tasks to keep running (left to Application Auto Scaling
    /// once it manages the service).
    pub desired_count: i32,
    /// Seconds ECS ignores failing load balancer health checks of a new
    /// task.
    pub health_check_grace_period_seconds: Option<i32>,
    /// `EXTERNAL`: task sets carry the task definition, network and load
    /// balancers (blue/green rollouts); absent: ECS rolling deployments.
    pub deployment_controller: Option<String>,
    /// Subnet ids of the tasks' network interfaces (not with `EXTERNAL`).
    #[serde(default)]
    pub subnets: Vec<String>,
    /// Security group ids of the tasks' network interfaces (not with `EXTERNAL`).
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Whether tasks get a public IP address (not with `EXTERNAL`); absent: no.
    pub assign_public_ip: Option<bool>,
    /// The launch type (not with `EXTERNAL`); absent: `FARGATE`.
    pub launch_type: Option<String>,
    /// Target groups the tasks register in.
    #[serde(default)]
    pub load_balancers: Vec<LoadBalancerProps>,
    /// ARNs of Cloud Map services the tasks register in, so other services
    /// reach them by name (not with `EXTERNAL`, whose task sets carry them).
    #[serde(default)]
    pub service_registries: Vec<String>,
    /// Stop (and roll back) a deployment whose tasks keep failing to start.
    pub deployment_circuit_breaker: Option<CircuitBreakerProps>,
}

/// A target group an ECS service registers its tasks in.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct LoadBalancerProps {
    /// ARN of the target group.
    pub target_group_arn: String,
    /// The container that receives the traffic.
    pub container_name: String,
    /// The container's port that receives it.
    pub container_port: i32,
}

/// The deployment circuit breaker of an ECS service.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CircuitBreakerProps {
    /// Whether a failing deployment is stopped; absent: true.
    pub enable: Option<bool>,
    /// Whether a stopped deployment rolls back to the last completed one;
    /// absent: true.
    pub rollback: Option<bool>,
}

impl ResourceType for Service {
    const NAME: &'static str = "aws.ecs.service";
    const ABOUT: &'static str = "ECS service on Fargate, or with the EXTERNAL controller for blue/green task sets";
    type Props = ServiceProps;
    const ADOPT: Adopt = Adopt::Lookup;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    const UNIQUE: &'static [&'static str] = &["cluster", "name"];

    fn in_place(changed: &[String], old: &Json, new: &Json) -> bool {
        let external = |p: &Json| p.get("deployment_controller").and_then(Json::as_str) == Some("EXTERNAL");
        if external(old) != external(new) {
            return false;
        }
        if external(new) {
            return only(
                changed,
                &["desired_count", "task_definition", "health_check_grace_period_seconds"],
            );
        }
        // A rolling service takes a new network configuration and service
        // registries in UpdateService (a new deployment rolls them out).
        only(
            changed,
            &[
                "desired_count",
                "task_definition",
                "health_check_grace_period_seconds",
                "subnets",
                "security_groups",
                "assign_public_ip",
                "service_registries",
            ],
        )
    }

    async fn create(aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        create_service(aws, c, r).await
    }

    async fn find(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        find_service(c, r).await
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        old: &Json,
        outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        update_service(c, r, old, outputs).await
    }

    async fn delete(aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_service(aws, c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, o: &Props<'_>) -> Result<Live, ProviderError> {
        let cluster = o.opt_str("cluster").unwrap_or_default();
        let out = c
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(key)
            .send()
            .await
            .map_err(|e| aws_err("ecs:DescribeServices", e))?;
        Ok(match out.services().iter().find(|s| s.status() == Some("ACTIVE")) {
            // Autoscaling owns the count of a scaled service: what it set is
            // not drift, and setting it back would cut capacity under load.
            Some(s) if autoscaled(c, cluster, s.service_name().unwrap_or(key)).await? => observed(vec![]),
            Some(s) => observed(vec![("desired_count", s.desired_count().into())]),
            None => Live::Gone,
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let (cluster, name) = arn.after("service/")?.split_once('/')?;
        (arn.service == "ecs").then(|| serde_json::json!({ "cluster": cluster, "name": name }))
    }
}
