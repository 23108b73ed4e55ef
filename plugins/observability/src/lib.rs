//! The `observability` plugin: a CloudWatch dashboard per service, alarms on
//! 5XX, healthy hosts, running tasks, CPU and database CPU, an SNS topic with
//! optional email subscriptions.

use platform_plugin_sdk::{Context, Error, Info, Plan, Plugin, Value, export_plugin, obj, reference};
use serde::Deserialize;
use serde_json::json;

struct Observability;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    services: Vec<String>,
    database: Option<String>,
    emails: Vec<String>,
    dashboard: bool,
    alarms: bool,
    error_5xx_threshold: u32,
    cpu_threshold: u32,
    database_cpu_threshold: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            services: vec!["api".into()],
            database: None,
            emails: Vec::new(),
            dashboard: true,
            alarms: true,
            error_5xx_threshold: 10,
            cpu_threshold: 85,
            database_cpu_threshold: 80,
        }
    }
}

fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "services": { "type": "array", "items": { "type": "string" }, "default": ["api"], "description": "Service instances to watch" },
            "database": { "type": "string", "description": "Database instance to watch" },
            "emails": { "type": "array", "items": { "type": "string", "minLength": 3 }, "description": "Addresses subscribed to the alarm topic" },
            "dashboard": { "type": "boolean", "default": true },
            "alarms": { "type": "boolean", "default": true },
            "error_5xx_threshold": { "type": "integer", "minimum": 1, "default": 10, "description": "Target 5XX responses per minute" },
            "cpu_threshold": { "type": "integer", "minimum": 1, "maximum": 100, "default": 85 },
            "database_cpu_threshold": { "type": "integer", "minimum": 1, "maximum": 100, "default": 80 }
        }
    })
}

struct Metric<'a> {
    namespace: &'a str,
    name: &'a str,
    dims: Vec<(&'a str, Value)>,
}

impl Metric<'_> {
    fn dimensions(&self) -> Value {
        Value::Array(self.dims.iter().map(|(n, v)| obj! { "name": *n, "value": v }).collect())
    }
    /// The dashboard widget form: [namespace, name, dim, value, ...].
    fn widget_row(&self) -> Value {
        let mut row = vec![Value::from(self.namespace), Value::from(self.name)];
        for (n, v) in &self.dims {
            row.push(Value::from(*n));
            row.push(v.clone());
        }
        Value::Array(row)
    }
}

impl Plugin for Observability {
    fn info() -> Info {
        Info::new(
            "observability",
            env!("CARGO_PKG_VERSION"),
            "CloudWatch dashboards, alarms and SNS notifications",
        )
        .kinds(&[
            "aws.sns.topic",
            "aws.sns.subscription",
            "aws.cloudwatch.dashboard",
            "aws.cloudwatch.metric-alarm",
        ])
        .schema(schema())
        .export("topic_arn", "The alarm notification topic")
    }

    fn plan(ctx: &Context) -> Result<Plan, Error> {
        let cfg: Config = ctx.config()?;
        let region = ctx.env.primary_region().to_string();
        let mut plan = Plan::new();
        plan.resource(
            "alarms-topic",
            "aws.sns.topic",
            obj! { "name": ctx.physical_name("alarms", 256) },
        );
        for (i, email) in cfg.emails.iter().enumerate() {
            if !email.contains('@') {
                return Err(Error::config(
                    &format!("/emails/{i}"),
                    format!("`{email}` is not an email address"),
                ));
            }
            plan.resource(
                &format!("email-{i}"),
                "aws.sns.subscription",
                obj! {
                    "topic_arn": reference("alarms-topic", "arn"),
                    "protocol": "email",
                    "endpoint": email.as_str(),
                },
            );
        }
        let topic = reference("alarms-topic", "arn");
        let db_id = match &cfg.database {
            Some(db) => Some(ctx.import(db, "identifier")?),
            None => None,
        };

        for service in &cfg.services {
            let regions = ctx.import(service, "regions")?;
            let prefix = ctx.import(service, "alarm_prefix")?;
            let prefix = prefix.as_str().unwrap_or_default().to_string();
            let Some(facts) = regions.get(&region) else {
                return Err(Error::failed(format!(
                    "service `{service}` does not run in the primary region {region}"
                )));
            };
            let f = |k: &str| facts.get(k).cloned().unwrap_or(Value::Null);
            let tg_blue = f("target_group_arn_suffixes")
                .as_array()
                .and_then(|a| a.first().cloned())
                .unwrap_or(Value::Null);
            let alb = || ("LoadBalancer", f("alb_arn_suffix"));
            let ecs = || vec![("ClusterName", f("cluster_name")), ("ServiceName", f("service_name"))];
            let m = |namespace, name, dims| Metric { namespace, name, dims };
            let requests = m("AWS/ApplicationELB", "RequestCount", vec![alb()]);
            let latency = m("AWS/ApplicationELB", "TargetResponseTime", vec![alb()]);
            let errors = m("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", vec![alb()]);
            let healthy = m(
                "AWS/ApplicationELB",
                "HealthyHostCount",
                vec![("TargetGroup", tg_blue.clone()), alb()],
            );
            let cpu = m("AWS/ECS", "CPUUtilization", ecs());
            let memory = m("AWS/ECS", "MemoryUtilization", ecs());
            let running = m("ECS/ContainerInsights", "RunningTaskCount", ecs());

            if cfg.dashboard {
                let mut widgets = vec![
                    widget("Requests", vec![requests.widget_row()], "Sum", &region, 0),
                    widget("Latency (p99)", vec![latency.widget_row()], "p99", &region, 1),
                    widget("Target 5XX", vec![errors.widget_row()], "Sum", &region, 2),
                    widget("Healthy hosts", vec![healthy.widget_row()], "Minimum", &region, 3),
                    widget(
                        "CPU and memory",
                        vec![cpu.widget_row(), memory.widget_row()],
                        "Average",
                        &region,
                        4,
                    ),
                    widget("Running tasks", vec![running.widget_row()], "Average", &region, 5),
                ];
                if let Some(db) = &db_id {
                    let dbcpu = m("AWS/RDS", "CPUUtilization", vec![("DBInstanceIdentifier", db.clone())]);
                    let conns = m(
                        "AWS/RDS",
                        "DatabaseConnections",
                        vec![("DBInstanceIdentifier", db.clone())],
                    );
                    widgets.push(widget("Database CPU", vec![dbcpu.widget_row()], "Average", &region, 6));
                    widgets.push(widget(
                        "Database connections",
                        vec![conns.widget_row()],
                        "Average",
                        &region,
                        7,
                    ));
                }
                plan.resource(
                    &format!("dashboard-{service}"),
                    "aws.cloudwatch.dashboard",
                    obj! {
                        "name": ctx.physical_name(service, 255),
                        "body": obj! { "widgets": widgets },
                    },
                )
                .in_region(&region);
            }
            if cfg.alarms {
                let mut alarm = |name: &str, metric: &Metric, stat: &str, cmp: &str, threshold: u32| {
                    plan.resource(
                        &format!("alarm-{service}-{name}"),
                        "aws.cloudwatch.metric-alarm",
                        obj! {
                            "name": format!("{prefix}{name}"),
                            "namespace": metric.namespace,
                            "metric_name": metric.name,
                            "dimensions": metric.dimensions(),
                            "statistic": stat,
                            "period": 60,
                            "evaluation_periods": 3,
                            "threshold": threshold,
                            "comparison_operator": cmp,
                            "treat_missing_data": "notBreaching",
                            "alarm_actions": vec![topic.clone()],
                            "ok_actions": vec![topic.clone()],
                        },
                    )
                    .in_region(&region);
                };
                alarm("5xx", &errors, "Sum", "GreaterThanThreshold", cfg.error_5xx_threshold);
                alarm("healthy-hosts", &healthy, "Minimum", "LessThanThreshold", 1);
                alarm("running-tasks", &running, "Minimum", "LessThanThreshold", 1);
                alarm("cpu", &cpu, "Average", "GreaterThanThreshold", cfg.cpu_threshold);
            }
        }
        if cfg.alarms
            && let Some(db) = &db_id
        {
            plan.resource(
                "alarm-database-cpu",
                "aws.cloudwatch.metric-alarm",
                obj! {
                    "name": ctx.physical_name("database-cpu", 255),
                    "namespace": "AWS/RDS",
                    "metric_name": "CPUUtilization",
                    "dimensions": vec![obj! { "name": "DBInstanceIdentifier", "value": db }],
                    "statistic": "Average",
                    "period": 300,
                    "evaluation_periods": 2,
                    "threshold": cfg.database_cpu_threshold,
                    "comparison_operator": "GreaterThanThreshold",
                    "treat_missing_data": "notBreaching",
                    "alarm_actions": vec![topic.clone()],
                },
            )
            .in_region(&region);
        }
        plan.export("topic_arn", topic, "Alarm topic");
        Ok(plan)
    }
}

fn widget(title: &str, metrics: Vec<Value>, stat: &str, region: &str, n: u32) -> Value {
    obj! {
        "type": "metric",
        "x": (n % 2) * 12,
        "y": (n / 2) * 6,
        "width": 12,
        "height": 6,
        "properties": obj! {
            "title": title,
            "metrics": metrics,
            "stat": stat,
            "region": region,
            "period": 60,
        },
    }
}

export_plugin!(Observability);
