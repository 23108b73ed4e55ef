//! Application Auto Scaling: scalable targets and target-tracking policies.

use aws_sdk_applicationautoscaling::types::{
    CustomizedMetricSpecification, MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension,
    ServiceNamespace, TargetTrackingMetric, TargetTrackingMetricDataQuery, TargetTrackingMetricDimension,
    TargetTrackingMetricStat, TargetTrackingScalingPolicyConfiguration,
};
use serde_json::Value as Json;

use super::cloudwatch::DimensionProps;
use super::read::Live;
use super::registry::{Adopt, Arn, ResourceType, Support, only};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err};
use crate::outputs;

fn target(p: &Props<'_>) -> Result<(ServiceNamespace, String, ScalableDimension), ProviderError> {
    Ok((
        ServiceNamespace::from(p.str("service_namespace")?),
        p.str("resource_id")?.to_string(),
        ScalableDimension::from(p.str("scalable_dimension")?),
    ))
}

pub async fn register_target(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let (ns, id, dim) = target(p)?;
    c.autoscaling
        .register_scalable_target()
        .service_namespace(ns)
        .resource_id(&id)
        .scalable_dimension(dim)
        .min_capacity(p.i32("min_capacity")?)
        .max_capacity(p.i32("max_capacity")?)
        .send()
        .await
        .map_err(|e| aws_err("application-autoscaling:RegisterScalableTarget", e))?;
    Ok(outputs! { "resource_id" => id })
}

pub async fn deregister_target(c: &Clients, _o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
    let (ns, id, dim) = target(p)?;
    c.autoscaling
        .deregister_scalable_target()
        .service_namespace(ns)
        .resource_id(id)
        .scalable_dimension(dim)
        .send()
        .await
        .map_err(|e| aws_err("application-autoscaling:DeregisterScalableTarget", e))?;
    Ok(())
}

const PUT: &str = "application-autoscaling:PutScalingPolicy";

fn bad(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::property(PUT, e.to_string())
}

/// `metrics`: target tracking on metric math (the same shape as an
/// alarm's `metrics`: metrics by `id`, one `expression` with `return_data`).
fn customized(p: &Props<'_>) -> Result<CustomizedMetricSpecification, ProviderError> {
    let mut spec = CustomizedMetricSpecification::builder();
    for q in p.objs("metrics") {
        let mut query = TargetTrackingMetricDataQuery::builder()
            .id(q.str("id")?)
            .set_label(q.opt_str("label").map(str::to_string))
            .return_data(q.bool("return_data").unwrap_or(false));
        if let Some(expression) = q.opt_str("expression") {
            query = query.expression(expression);
        } else {
            let dimensions = q
                .objs("dimensions")
                .iter()
                .map(|d| {
                    TargetTrackingMetricDimension::builder()
                        .name(d.str("name")?)
                        .value(d.str("value")?)
                        .build()
                        .map_err(bad)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let metric = TargetTrackingMetric::builder()
                .namespace(q.str("namespace")?)
                .metric_name(q.str("metric_name")?)
                .set_dimensions(Some(dimensions))
                .build();
            query = query.metric_stat(
                TargetTrackingMetricStat::builder()
                    .metric(metric)
                    .stat(q.str("stat")?)
                    .build()
                    .map_err(bad)?,
            );
        }
        spec = spec.metrics(query.build().map_err(bad)?);
    }
    Ok(spec.build())
}

pub async fn put_policy(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let (ns, id, dim) = target(p)?;
    let mut config = TargetTrackingScalingPolicyConfiguration::builder().target_value(p.f64("target_value")?);
    config = if p.get("metrics").is_some() {
        config.customized_metric_specification(customized(p)?)
    } else {
        config.predefined_metric_specification(
            PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::from(p.str("predefined_metric")?))
                .set_resource_label(p.opt_str("resource_label").map(str::to_string))
                .build()
                .map_err(bad)?,
        )
    };
    let config = config
        .set_scale_in_cooldown(p.opt_i32("scale_in_cooldown"))
        .set_scale_out_cooldown(p.opt_i32("scale_out_cooldown"))
        .build()
        .map_err(|e| ProviderError::property("application-autoscaling:PutScalingPolicy", e.to_string()))?;
    let out = c
        .autoscaling
        .put_scaling_policy()
        .policy_name(p.str("name")?)
        .service_namespace(ns)
        .resource_id(id)
        .scalable_dimension(dim)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(config)
        .send()
        .await
        .map_err(|e| aws_err("application-autoscaling:PutScalingPolicy", e))?;
    Ok(outputs! { "arn" => out.policy_arn(), "name" => p.str("name")? })
}

pub async fn delete_policy(c: &Clients, _o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
    let (ns, id, dim) = target(p)?;
    c.autoscaling
        .delete_scaling_policy()
        .policy_name(p.str("name")?)
        .service_namespace(ns)
        .resource_id(id)
        .scalable_dimension(dim)
        .send()
        .await
        .map_err(|e| aws_err("application-autoscaling:DeleteScalingPolicy", e))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Registered resource types (see registry.rs)
// ---------------------------------------------------------------------------

/// `aws.applicationautoscaling.scalable-target`
pub struct ScalableTarget;

/// A scalable target: a resource's dimension that Application Auto Scaling
/// may scale, and between which limits (`RegisterScalableTarget`).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ScalableTargetProps {
    /// The AWS service of the scaled resource (`ServiceNamespace`): `ecs`,
    /// `dynamodb`, `rds`, ...
    pub service_namespace: String,
    /// The scaled resource (`ResourceId`); for an ECS service
    /// `service/<cluster name>/<service name>`.
    pub resource_id: String,
    /// What is scaled (`ScalableDimension`); for an ECS service's task count
    /// `ecs:service:DesiredCount`.
    pub scalable_dimension: String,
    /// The least capacity scaling may set (`MinCapacity`).
    pub min_capacity: i32,
    /// The most capacity scaling may set (`MaxCapacity`).
    pub max_capacity: i32,
}

impl ResourceType for ScalableTarget {
    const NAME: &'static str = "aws.applicationautoscaling.scalable-target";
    const ABOUT: &'static str =
        "Application Auto Scaling target: the capacity range of a scalable resource (an ECS service's task count)";
    type Props = ScalableTargetProps;
    const ADOPT: Adopt = Adopt::CreateAgain;
    const DRIFT: Support = Support::No("its capacity range is not read back yet");
    const SWEEP: Support = Support::No("registered without tags, so the tagging API never lists one");
    // RegisterScalableTarget overwrites the target of that namespace, resource and dimension.
    const UNIQUE: &'static [&'static str] = &["service_namespace", "resource_id", "scalable_dimension"];

    /// Registering the same namespace, resource and dimension again updates
    /// the capacity range; those three identify the target.
    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(changed, &["min_capacity", "max_capacity"])
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        register_target(c, r).await
    }

    async fn find(_aws: &Aws, _c: &Clients, _r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        // RegisterScalableTarget again is the lookup.
        Ok(None)
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        register_target(c, r).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        deregister_target(c, o, p).await
    }

    async fn read(_aws: &Aws, _c: &Clients, _key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        Ok(Live::Unknown)
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}

/// `aws.applicationautoscaling.scaling-policy`
pub struct ScalingPolicy;

/// A target-tracking scaling policy of a scalable target
/// (`PutScalingPolicy`, `TargetTrackingScaling`): on a predefined metric
/// (`predefined_metric`) or on metric math (`metrics`).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ScalingPolicyProps {
    /// The policy's name (`PolicyName`), unique for its scalable target.
    pub name: String,
    /// The scalable target's service (`ServiceNamespace`): `ecs`, ...
    pub service_namespace: String,
    /// The scalable target's resource (`ResourceId`); for an ECS service
    /// `service/<cluster name>/<service name>`.
    pub resource_id: String,
    /// The scalable target's dimension (`ScalableDimension`):
    /// `ecs:service:DesiredCount`, ...
    pub scalable_dimension: String,
    /// The value of the metric scaling keeps the resource at (`TargetValue`).
    pub target_value: f64,
    /// The predefined metric tracked (`PredefinedMetricType`):
    /// `ECSServiceAverageCPUUtilization`, `ALBRequestCountPerTarget`, ...;
    /// required unless `metrics` is set.
    pub predefined_metric: Option<String>,
    /// The predefined metric's resource (`ResourceLabel`); for
    /// `ALBRequestCountPerTarget`
    /// `app/<load balancer>/<id>/targetgroup/<target group>/<id>`.
    pub resource_label: Option<String>,
    /// Metric math tracked (`CustomizedMetricSpecification`): metrics by
    /// `id` and one `expression` with `return_data`. When set,
    /// `predefined_metric` and `resource_label` are not used.
    #[serde(default)]
    pub metrics: Vec<PolicyQueryProps>,
    /// Seconds after a scale-in before another (`ScaleInCooldown`).
    pub scale_in_cooldown: Option<i32>,
    /// Seconds after a scale-out before another (`ScaleOutCooldown`).
    pub scale_out_cooldown: Option<i32>,
}

/// One query of a policy's metric math (`TargetTrackingMetricDataQuery`):
/// a metric, or an `expression` over the ids of the others. Target tracking
/// evaluates one-minute data points: a query has no period.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PolicyQueryProps {
    /// The query's id, used by expressions (lower-case letter first).
    pub id: String,
    /// A metric math expression over other queries' ids; absent: this query
    /// is a metric.
    pub expression: Option<String>,
    /// A label for the query's result.
    pub label: Option<String>,
    /// Whether this query is the tracked metric (exactly one is); absent:
    /// false.
    pub return_data: Option<bool>,
    /// The metric's namespace (`AWS/ApplicationELB`); required for a metric.
    pub namespace: Option<String>,
    /// The metric's name (`RequestCount`); required for a metric.
    pub metric_name: Option<String>,
    /// The metric's dimensions.
    #[serde(default)]
    pub dimensions: Vec<DimensionProps>,
    /// The statistic (`Sum`, `Average`, ...); required for a metric.
    pub stat: Option<String>,
}

impl ResourceType for ScalingPolicy {
    const NAME: &'static str = "aws.applicationautoscaling.scaling-policy";
    const ABOUT: &'static str = "Application Auto Scaling target-tracking policy on a predefined metric or metric math";
    type Props = ScalingPolicyProps;
    const ADOPT: Adopt = Adopt::CreateAgain;
    const DRIFT: Support = Support::No("its target and metric are not read back yet");
    const SWEEP: Support =
        Support::No("scaling policies take no tags; deregistering their scalable target deletes them");
    // PutScalingPolicy overwrites the policy of that name on that target.
    const UNIQUE: &'static [&'static str] = &["name", "service_namespace", "resource_id", "scalable_dimension"];

    /// `PutScalingPolicy` overwrites the policy of that name on that target;
    /// the name and the target identify it.
    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(
            changed,
            &[
                "target_value",
                "predefined_metric",
                "resource_label",
                "metrics",
                "scale_in_cooldown",
                "scale_out_cooldown",
            ],
        )
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        put_policy(c, r).await
    }

    async fn find(_aws: &Aws, _c: &Clients, _r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        // PutScalingPolicy again is the lookup.
        Ok(None)
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        put_policy(c, r).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, p: &Props<'_>) -> Result<(), ProviderError> {
        delete_policy(c, o, p).await
    }

    async fn read(_aws: &Aws, _c: &Clients, _key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        Ok(Live::Unknown)
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}
