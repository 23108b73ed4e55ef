//! CloudWatch dashboards and metric alarms ("put" APIs: create is update).

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat, Statistic, Tag};

use super::{Clients, Outputs, Props, ProviderError, Request, aws_err};
use crate::outputs;

pub async fn put_dashboard(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let name = r.props.str("name")?;
    let body = r
        .props
        .get("body")
        .map(|b| b.to_string())
        .unwrap_or_else(|| "{}".into());
    c.cloudwatch
        .put_dashboard()
        .dashboard_name(name)
        .dashboard_body(body)
        .send()
        .await
        .map_err(|e| aws_err("cloudwatch:PutDashboard", e))?;
    Ok(outputs! { "name" => name })
}

pub async fn delete_dashboard(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    c.cloudwatch
        .delete_dashboards()
        .dashboard_names(o.str("name")?)
        .send()
        .await
        .map_err(|e| aws_err("cloudwatch:DeleteDashboards", e))?;
    Ok(())
}

fn dimensions(p: &Props<'_>) -> Result<Vec<Dimension>, ProviderError> {
    p.objs("dimensions")
        .iter()
        .map(|d| Ok(Dimension::builder().name(d.str("name")?).value(d.str("value")?).build()))
        .collect()
}

/// `metrics`: metric math. Each entry is a metric (`id`, `namespace`,
/// `metric_name`, `dimensions`, `stat`, `period`) or an `expression` over
/// the ids; the one with `return_data` is what the alarm watches.
fn queries(p: &Props<'_>) -> Result<Vec<MetricDataQuery>, ProviderError> {
    p.objs("metrics")
        .iter()
        .map(|q| {
            let mut query = MetricDataQuery::builder()
                .id(q.str("id")?)
                .set_label(q.opt_str("label").map(str::to_string))
                .return_data(q.bool("return_data").unwrap_or(false));
            if let Some(expression) = q.opt_str("expression") {
                query = query.expression(expression).set_period(q.opt_i32("period"));
            } else {
                let metric = Metric::builder()
                    .namespace(q.str("namespace")?)
                    .metric_name(q.str("metric_name")?)
                    .set_dimensions(Some(dimensions(q)?))
                    .build();
                query = query.metric_stat(
                    MetricStat::builder()
                        .metric(metric)
                        .period(q.i32("period")?)
                        .stat(q.str("stat")?)
                        .build(),
                );
            }
            Ok(query.build())
        })
        .collect()
}

pub async fn put_alarm(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let name = p.str("name")?;
    let tags: Vec<Tag> = r
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let mut alarm = c.cloudwatch.put_metric_alarm().alarm_name(name);
    alarm = if p.get("metrics").is_some() {
        alarm.set_metrics(Some(queries(p)?))
    } else {
        alarm
            .namespace(p.str("namespace")?)
            .metric_name(p.str("metric_name")?)
            .set_dimensions(Some(dimensions(p)?))
            .statistic(Statistic::from(p.str("statistic")?))
            .period(p.i32("period")?)
    };
    alarm
        .evaluation_periods(p.i32("evaluation_periods")?)
        .threshold(p.f64("threshold")?)
        .comparison_operator(ComparisonOperator::from(p.str("comparison_operator")?))
        .set_treat_missing_data(p.opt_str("treat_missing_data").map(str::to_string))
        .set_alarm_actions(Some(p.strs("alarm_actions")?))
        .set_ok_actions(Some(p.strs("ok_actions")?))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws_err("cloudwatch:PutMetricAlarm", e))?;
    Ok(outputs! { "name" => name })
}

pub async fn delete_alarm(c: &Clients, o: &Props<'_>) -> Result<(), ProviderError> {
    c.cloudwatch
        .delete_alarms()
        .alarm_names(o.str("name")?)
        .send()
        .await
        .map_err(|e| aws_err("cloudwatch:DeleteAlarms", e))?;
    Ok(())
}
