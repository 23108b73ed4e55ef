//! Application Auto Scaling: scalable targets and target-tracking policies.

use aws_sdk_applicationautoscaling::types::{
    CustomizedMetricSpecification, MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension,
    ServiceNamespace, TargetTrackingMetric, TargetTrackingMetricDataQuery, TargetTrackingMetricDimension,
    TargetTrackingMetricStat, TargetTrackingScalingPolicyConfiguration,
};

use super::{Clients, Outputs, Props, ProviderError, Request, aws_err};
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
