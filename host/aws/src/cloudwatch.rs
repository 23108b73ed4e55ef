//! CloudWatch dashboards and metric alarms ("put" APIs: create is update).

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat, Statistic, Tag};
use serde_json::Value as Json;

use super::read::{Live, observed};
use super::registry::{Adopt, Arn, ResourceType, Support, only};
use super::{Aws, Clients, Outputs, Props, ProviderError, Request, aws_err};
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
    let tags = crate::sdk_tags!(r, Tag);
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

// ---------------------------------------------------------------------------
// Registered resource types (see registry.rs)
// ---------------------------------------------------------------------------

/// `aws.cloudwatch.dashboard`
pub struct Dashboard;

/// A CloudWatch dashboard, written whole by `PutDashboard`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct DashboardProps {
    /// The dashboard's name (`DashboardName`), unique in the account and
    /// region; up to 255 letters, digits, `-` and `_`.
    pub name: String,
    /// The dashboard body (`DashboardBody`): a JSON object with `widgets`,
    /// as CloudWatch documents it ("Dashboard Body Structure and Syntax").
    /// Absent: an empty dashboard.
    pub body: Option<Json>,
}

impl ResourceType for Dashboard {
    const NAME: &'static str = "aws.cloudwatch.dashboard";
    const ABOUT: &'static str = "CloudWatch dashboard of metric widgets";
    type Props = DashboardProps;
    const ADOPT: Adopt = Adopt::CreateAgain;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::No("CloudWatch dashboards take no tags, so the tagging API never lists one");
    // PutDashboard overwrites the dashboard of that name.
    const UNIQUE: &'static [&'static str] = &["name"];

    /// `PutDashboard` replaces the body of the dashboard of that name.
    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(changed, &["body"])
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        put_dashboard(c, r).await
    }

    async fn find(_aws: &Aws, _c: &Clients, _r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        // PutDashboard again is the lookup.
        Ok(None)
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        put_dashboard(c, r).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_dashboard(c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        c.cloudwatch
            .get_dashboard()
            .dashboard_name(key)
            .send()
            .await
            .map_err(|e| aws_err("cloudwatch:GetDashboard", e))?;
        Ok(observed(vec![]))
    }

    fn from_arn(_arn: &Arn<'_>) -> Option<Json> {
        None
    }
}

/// `aws.cloudwatch.metric-alarm`
pub struct MetricAlarm;

/// A CloudWatch metric alarm, written whole by `PutMetricAlarm`: either on
/// one metric (`namespace`, `metric_name`, `dimensions`, `statistic`,
/// `period`) or on metric math (`metrics`).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct MetricAlarmProps {
    /// The alarm's name (`AlarmName`), unique in the account and region.
    pub name: String,
    /// The metric's namespace (`AWS/ApplicationELB`, `AWS/ECS`, `AWS/RDS`);
    /// required unless `metrics` is set.
    pub namespace: Option<String>,
    /// The metric's name (`CPUUtilization`); required unless `metrics` is set.
    pub metric_name: Option<String>,
    /// The metric's dimensions (`ClusterName`, `ServiceName`, ...); not
    /// read when `metrics` is set.
    #[serde(default)]
    pub dimensions: Vec<DimensionProps>,
    /// The statistic applied to the metric: `SampleCount`, `Average`, `Sum`,
    /// `Minimum` or `Maximum`; required unless `metrics` is set.
    pub statistic: Option<String>,
    /// Seconds over which the statistic is applied (10, 30 or a multiple of
    /// 60); required unless `metrics` is set, where each query has its own.
    pub period: Option<i32>,
    /// How many periods are compared with the threshold (`EvaluationPeriods`).
    pub evaluation_periods: i32,
    /// The value the statistic is compared with.
    pub threshold: f64,
    /// How the statistic is compared with the threshold:
    /// `GreaterThanOrEqualToThreshold`, `GreaterThanThreshold`,
    /// `LessThanThreshold` or `LessThanOrEqualToThreshold`.
    pub comparison_operator: String,
    /// How missing data points count (`TreatMissingData`): `breaching`,
    /// `notBreaching`, `ignore` or `missing` (the default).
    pub treat_missing_data: Option<String>,
    /// ARNs notified when the alarm goes to ALARM (SNS topics).
    #[serde(default)]
    pub alarm_actions: Vec<String>,
    /// ARNs notified when the alarm goes back to OK (SNS topics).
    #[serde(default)]
    pub ok_actions: Vec<String>,
    /// Metric math (`Metrics`): metrics by `id` and expressions over them;
    /// the one entry with `return_data` is what the alarm watches. When set,
    /// the single-metric properties are not used.
    #[serde(default)]
    pub metrics: Vec<MetricQueryProps>,
}

/// A metric dimension: a name and its value.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct DimensionProps {
    /// The dimension's name (`LoadBalancer`, `TargetGroup`, `ClusterName`).
    pub name: String,
    /// The dimension's value (`app/my-alb/0123456789abcdef`).
    pub value: String,
}

/// One query of an alarm's metric math (`MetricDataQuery`): a metric, or an
/// `expression` over the ids of the others.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct MetricQueryProps {
    /// The query's id, used by expressions (lower-case letter first).
    pub id: String,
    /// A metric math expression over other queries' ids
    /// (`FILL(blue,0)+FILL(green,0)`); absent: this query is a metric.
    pub expression: Option<String>,
    /// A label for the query's result.
    pub label: Option<String>,
    /// Whether this query is what the alarm watches (exactly one is);
    /// absent: false.
    pub return_data: Option<bool>,
    /// The metric's namespace; required for a metric.
    pub namespace: Option<String>,
    /// The metric's name; required for a metric.
    pub metric_name: Option<String>,
    /// The metric's dimensions.
    #[serde(default)]
    pub dimensions: Vec<DimensionProps>,
    /// The statistic (`Sum`, `Average`, `Minimum`, `p99`, ...); required for
    /// a metric.
    pub stat: Option<String>,
    /// Seconds per data point; required for a metric, optional for an
    /// expression.
    pub period: Option<i32>,
}

impl ResourceType for MetricAlarm {
    const NAME: &'static str = "aws.cloudwatch.metric-alarm";
    const ABOUT: &'static str = "CloudWatch alarm on a metric or on metric math, notifying SNS topics";
    type Props = MetricAlarmProps;
    const ADOPT: Adopt = Adopt::CreateAgain;
    const DRIFT: Support = Support::Yes;
    const SWEEP: Support = Support::Yes;
    // PutMetricAlarm overwrites the alarm of that name.
    const UNIQUE: &'static [&'static str] = &["name"];

    /// `PutMetricAlarm` overwrites the whole configuration of the alarm of
    /// that name: everything but the name changes in place.
    fn in_place(changed: &[String], _old: &Json, _new: &Json) -> bool {
        only(
            changed,
            &[
                "namespace",
                "metric_name",
                "dimensions",
                "statistic",
                "period",
                "evaluation_periods",
                "threshold",
                "comparison_operator",
                "treat_missing_data",
                "alarm_actions",
                "ok_actions",
                "metrics",
            ],
        )
    }

    async fn create(_aws: &Aws, c: &Clients, r: &Request<'_>) -> Result<Outputs, ProviderError> {
        put_alarm(c, r).await
    }

    async fn find(_aws: &Aws, _c: &Clients, _r: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        // PutMetricAlarm again is the lookup.
        Ok(None)
    }

    async fn update(
        _aws: &Aws,
        c: &Clients,
        r: &Request<'_>,
        _old: &Json,
        _outputs: &Outputs,
    ) -> Result<Outputs, ProviderError> {
        put_alarm(c, r).await
    }

    async fn delete(_aws: &Aws, c: &Clients, o: &Props<'_>, _p: &Props<'_>) -> Result<(), ProviderError> {
        delete_alarm(c, o).await
    }

    async fn read(_aws: &Aws, c: &Clients, key: &str, _o: &Props<'_>) -> Result<Live, ProviderError> {
        let out = c
            .cloudwatch
            .describe_alarms()
            .alarm_names(key)
            .send()
            .await
            .map_err(|e| aws_err("cloudwatch:DescribeAlarms", e))?;
        Ok(match out.metric_alarms().first() {
            Some(a) => observed(vec![("threshold", a.threshold().map_or(Json::Null, Json::from))]),
            None => Live::Gone,
        })
    }

    fn from_arn(arn: &Arn<'_>) -> Option<Json> {
        let name = arn.after("alarm:")?;
        (arn.service == "cloudwatch").then(|| serde_json::json!({ "name": name }))
    }
}
