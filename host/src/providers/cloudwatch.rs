//! CloudWatch dashboards and metric alarms ("put" APIs: create is update).

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic, Tag};

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

pub async fn put_alarm(c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
    let p = &r.props;
    let name = p.str("name")?;
    let dimensions: Vec<Dimension> = p
        .objs("dimensions")
        .iter()
        .map(|d| Ok(Dimension::builder().name(d.str("name")?).value(d.str("value")?).build()))
        .collect::<Result<_, ProviderError>>()?;
    let tags: Vec<Tag> = r
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    c.cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .namespace(p.str("namespace")?)
        .metric_name(p.str("metric_name")?)
        .set_dimensions(Some(dimensions))
        .statistic(Statistic::from(p.str("statistic")?))
        .period(p.i32("period")?)
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
