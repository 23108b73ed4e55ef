//! The `observability` plugin: a CloudWatch dashboard per service and region,
//! alarms on 5XX, healthy hosts (of whichever colour serves), running
//! tasks, CPU and database CPU in every region a service runs in (each
//! alarm's threshold, period and evaluation periods settable, for all
//! services or per service), Route 53 health-check alarms with DNS
//! failover, and an SNS topic per region with optional email subscriptions.

use std::collections::BTreeMap;

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
    alarm_settings: BTreeMap<String, AlarmSetting>,
    service_alarm_settings: BTreeMap<String, BTreeMap<String, AlarmSetting>>,
    dns: Option<String>,
}

/// How one alarm is evaluated; unset fields keep the default.
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields, default)]
struct AlarmSetting {
    enabled: Option<bool>,
    threshold: Option<u32>,
    period_seconds: Option<u32>,
    evaluation_periods: Option<u32>,
}

/// The alarms of a service (and of the database and DNS), by setting name.
const SERVICE_ALARMS: [&str; 4] = ["5xx", "healthy-hosts", "running-tasks", "cpu"];
const OTHER_ALARMS: [&str; 2] = ["database-cpu", "dns-health"];

/// An alarm's evaluation after the settings: threshold, period, periods.
#[derive(Clone, Copy)]
struct Evaluation {
    enabled: bool,
    threshold: u32,
    period: u32,
    periods: u32,
}

impl Evaluation {
    /// What CloudWatch evaluates: periods of under an hour over at most a
    /// day, longer periods over at most a week (PutMetricAlarm). Checked on
    /// the settings in effect, wherever each came from.
    fn checked(self, name: &str) -> Result<Evaluation, Error> {
        let limit = if self.period >= 3600 { 604_800 } else { 86_400 };
        if self.periods * self.period > limit {
            return Err(Error::config(
                "/alarm_settings",
                format!(
                    "alarm `{name}`: {} periods of {} s exceed the {} CloudWatch evaluates",
                    self.periods,
                    self.period,
                    if limit == 86_400 { "day" } else { "week" }
                ),
            ));
        }
        Ok(self)
    }

    fn with(self, s: Option<&AlarmSetting>) -> Evaluation {
        let Some(s) = s else { return self };
        Evaluation {
            enabled: s.enabled.unwrap_or(self.enabled),
            threshold: s.threshold.unwrap_or(self.threshold),
            period: s.period_seconds.unwrap_or(self.period),
            periods: s.evaluation_periods.unwrap_or(self.periods),
        }
    }
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
            alarm_settings: BTreeMap::new(),
            service_alarm_settings: BTreeMap::new(),
            dns: None,
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
            "database_cpu_threshold": { "type": "integer", "minimum": 1, "maximum": 100, "default": 80 },
            "alarm_settings": {
                "type": "object",
                "description": "Per alarm (5xx, healthy-hosts, running-tasks, cpu, database-cpu, dns-health): enabled, threshold, period_seconds (a multiple of 60), evaluation_periods",
                "additionalProperties": alarm_setting_schema()
            },
            "service_alarm_settings": {
                "type": "object",
                "description": "Per service instance, per alarm: the same settings, over alarm_settings",
                "additionalProperties": { "type": "object", "additionalProperties": alarm_setting_schema() }
            },
            "dns": { "type": "string", "description": "Instance of the dns-failover plugin: an alarm per Route 53 health check (in us-east-1, where Route 53 publishes their metrics)" }
        }
    })
}

fn alarm_setting_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "enabled": { "type": "boolean" },
            "threshold": { "type": "integer", "minimum": 0 },
            "period_seconds": { "type": "integer", "minimum": 60, "maximum": 86400 },
            "evaluation_periods": { "type": "integer", "minimum": 1, "maximum": 100 }
        }
    })
}

/// Refuse unknown alarm names and periods AWS would refuse, at their setting.
fn check_settings(cfg: &Config) -> Result<(), Error> {
    let check = |at: String, settings: &BTreeMap<String, AlarmSetting>, known: &[&str]| {
        for (name, s) in settings {
            if !known.contains(&name.as_str()) {
                return Err(Error::config(
                    &format!("{at}/{name}"),
                    format!("no alarm is called `{name}`; the alarms are {}", known.join(", ")),
                ));
            }
            if let Some(p) = s.period_seconds
                && p % 60 != 0
            {
                return Err(Error::config(
                    &format!("{at}/{name}/period_seconds"),
                    "a period is a multiple of 60 seconds",
                ));
            }
        }
        Ok(())
    };
    let all: Vec<&str> = SERVICE_ALARMS.iter().chain(OTHER_ALARMS.iter()).copied().collect();
    check("/alarm_settings".into(), &cfg.alarm_settings, &all)?;
    for (service, settings) in &cfg.service_alarm_settings {
        if !cfg.services.contains(service) {
            return Err(Error::config(
                &format!("/service_alarm_settings/{service}"),
                format!("`{service}` is not among the watched `services`"),
            ));
        }
        check(format!("/service_alarm_settings/{service}"), settings, &SERVICE_ALARMS)?;
    }
    Ok(())
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
    /// The properties of an alarm on this one metric.
    fn alarm(&self, stat: &str) -> Value {
        obj! {
            "namespace": self.namespace,
            "metric_name": self.name,
            "dimensions": self.dimensions(),
            "statistic": stat,
        }
    }
    /// This metric as a metric-math query `id` of an alarm.
    fn query(&self, id: &str, stat: &str, period: u32) -> Value {
        obj! {
            "id": id,
            "namespace": self.namespace,
            "metric_name": self.name,
            "dimensions": self.dimensions(),
            "stat": stat,
            "period": period,
            "return_data": false,
        }
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
        check_settings(&cfg)?;
        let evaluation = |service: Option<&str>, name: &str, threshold: u32| {
            Evaluation {
                enabled: true,
                threshold,
                period: 60,
                periods: 3,
            }
            .with(cfg.alarm_settings.get(name))
            .with(
                service
                    .and_then(|s| cfg.service_alarm_settings.get(s))
                    .and_then(|m| m.get(name)),
            )
            .checked(name)
        };
        let primary = ctx.env.primary_region().to_string();
        // Resources of the primary region keep their short ids; the others
        // carry their region (alarms and topics are regional).
        let rid = |base: &str, region: &str| {
            if region == primary {
                base.to_string()
            } else {
                format!("{base}-{region}")
            }
        };
        for (i, email) in cfg.emails.iter().enumerate() {
            if !email.contains('@') {
                return Err(Error::config(
                    &format!("/emails/{i}"),
                    format!("`{email}` is not an email address"),
                ));
            }
        }
        let db_id = match &cfg.database {
            Some(db) => Some(ctx.import(db, "identifier")?),
            None => None,
        };

        // Every region a watched service runs in, primary first: a
        // rollout's alarm gate in a region reads the alarms of that region.
        let mut watched = Vec::new();
        for service in &cfg.services {
            let regions = ctx.import(service, "regions")?;
            let prefix = ctx.import(service, "alarm_prefix")?;
            let prefix = prefix.as_str().unwrap_or_default().to_string();
            if regions.get(&primary).is_none() {
                return Err(Error::failed(format!(
                    "service `{service}` does not run in the primary region {primary}"
                )));
            }
            for region in &ctx.env.regions {
                if let Some(facts) = regions.get(region) {
                    watched.push((service.clone(), region.clone(), prefix.clone(), facts.clone()));
                }
            }
        }
        // Route 53 publishes health-check metrics in us-east-1 only: their
        // alarms, and a topic for them, live there.
        const ROUTE53_METRICS: &str = "us-east-1";
        let health_checks = match &cfg.dns {
            Some(dns) => Some(ctx.import(dns, "health_checks")?),
            None => None,
        };
        let mut regions: Vec<String> = vec![primary.clone()];
        if health_checks.is_some() && cfg.alarms && primary != ROUTE53_METRICS {
            regions.push(ROUTE53_METRICS.to_string());
        }
        for (_, region, _, _) in &watched {
            if !regions.contains(region) {
                regions.push(region.clone());
            }
        }

        let mut plan = Plan::new();
        // An alarm notifies a topic of its own region: one topic per region,
        // each with the subscriptions.
        for region in &regions {
            let topic = rid("alarms-topic", region);
            plan.resource(
                &topic,
                "aws.sns.topic",
                obj! { "name": ctx.physical_name("alarms", 256) },
            )
            .in_region(region);
            for (i, email) in cfg.emails.iter().enumerate() {
                plan.resource(
                    &rid(&format!("email-{i}"), region),
                    "aws.sns.subscription",
                    obj! {
                        "topic_arn": reference(&topic, "arn"),
                        "protocol": "email",
                        "endpoint": email.as_str(),
                    },
                )
                .in_region(region);
            }
        }
        let topic = |region: &str| reference(&rid("alarms-topic", region), "arn");

        for (service, region, prefix, facts) in &watched {
            let f = |k: &str| facts.get(k).cloned().unwrap_or(Value::Null);
            let groups = f("target_group_arn_suffixes");
            let group = |i: usize| groups.as_array().and_then(|a| a.get(i).cloned()).unwrap_or(Value::Null);
            let alb = || ("LoadBalancer", f("alb_arn_suffix"));
            // A service without a load balancer (a worker) has only its
            // tasks to watch.
            let behind_lb = !matches!(f("alb_arn_suffix"), Value::Null);
            let ecs = || vec![("ClusterName", f("cluster_name")), ("ServiceName", f("service_name"))];
            let m = |namespace, name, dims| Metric { namespace, name, dims };
            // The service's own traffic: its target groups' (both colours),
            // not the load balancer's, which other services may share.
            let per_group =
                |name| [0, 1].map(|i| m("AWS/ApplicationELB", name, vec![("TargetGroup", group(i)), alb()]));
            let requests = per_group("RequestCount");
            let latency = per_group("TargetResponseTime");
            let errors = per_group("HTTPCode_Target_5XX_Count");
            let rows = |metrics: &[Metric]| metrics.iter().map(Metric::widget_row).collect::<Vec<Value>>();
            // Healthy hosts of both colours: rollouts swap which target group
            // serves, and the idle one has no targets.
            let healthy_blue = m(
                "AWS/ApplicationELB",
                "HealthyHostCount",
                vec![("TargetGroup", group(0)), alb()],
            );
            let healthy_green = m(
                "AWS/ApplicationELB",
                "HealthyHostCount",
                vec![("TargetGroup", group(1)), alb()],
            );
            let cpu = m("AWS/ECS", "CPUUtilization", ecs());
            let memory = m("AWS/ECS", "MemoryUtilization", ecs());
            let running = m("ECS/ContainerInsights", "RunningTaskCount", ecs());

            if cfg.dashboard {
                let mut widgets = Vec::new();
                if behind_lb {
                    widgets.extend([
                        widget("Requests (blue, green)", rows(&requests), "Sum", region, 0),
                        widget("Latency (p99; blue, green)", rows(&latency), "p99", region, 1),
                        widget("Target 5XX (blue, green)", rows(&errors), "Sum", region, 2),
                        widget(
                            "Healthy hosts (blue, green)",
                            vec![healthy_blue.widget_row(), healthy_green.widget_row()],
                            "Minimum",
                            region,
                            3,
                        ),
                    ]);
                }
                widgets.extend([
                    widget(
                        "CPU and memory",
                        vec![cpu.widget_row(), memory.widget_row()],
                        "Average",
                        region,
                        4,
                    ),
                    widget("Running tasks", vec![running.widget_row()], "Average", region, 5),
                ]);
                if let Some(db) = db_id.as_ref().filter(|_| *region == primary) {
                    let dbcpu = m("AWS/RDS", "CPUUtilization", vec![("DBInstanceIdentifier", db.clone())]);
                    let conns = m(
                        "AWS/RDS",
                        "DatabaseConnections",
                        vec![("DBInstanceIdentifier", db.clone())],
                    );
                    widgets.push(widget("Database CPU", vec![dbcpu.widget_row()], "Average", region, 6));
                    widgets.push(widget(
                        "Database connections",
                        vec![conns.widget_row()],
                        "Average",
                        region,
                        7,
                    ));
                    let dim = || vec![("DBInstanceIdentifier", db.clone())];
                    let memory = m("AWS/RDS", "FreeableMemory", dim());
                    let storage = m("AWS/RDS", "FreeStorageSpace", dim());
                    widgets.push(widget(
                        "Database free memory (bytes)",
                        vec![memory.widget_row()],
                        "Minimum",
                        region,
                        8,
                    ));
                    widgets.push(widget(
                        "Database free storage (bytes)",
                        vec![storage.widget_row()],
                        "Minimum",
                        region,
                        9,
                    ));
                }
                let name = if *region == primary {
                    ctx.physical_name(service, 255)
                } else {
                    ctx.physical_name(&format!("{service}-{region}"), 255)
                };
                plan.resource(
                    &rid(&format!("dashboard-{service}"), region),
                    "aws.cloudwatch.dashboard",
                    obj! { "name": name, "body": obj! { "widgets": widgets } },
                )
                .in_region(region);
            }
            if cfg.alarms {
                let actions = || vec![topic(region)];
                let mut alarm = |name: &str, watch: Value, cmp: &str, e: Evaluation| {
                    if !e.enabled {
                        return;
                    }
                    let mut props = obj! { "name": format!("{prefix}{name}") };
                    if let Value::Object(entries) = watch {
                        for (k, v) in entries {
                            props.insert(&k, v);
                        }
                    }
                    for (k, v) in [
                        ("period", Value::from(e.period)),
                        ("evaluation_periods", Value::from(e.periods)),
                        ("threshold", Value::from(e.threshold)),
                        ("comparison_operator", Value::from(cmp)),
                        ("treat_missing_data", Value::from("notBreaching")),
                        ("alarm_actions", Value::from(actions())),
                        ("ok_actions", Value::from(actions())),
                    ] {
                        props.insert(k, v);
                    }
                    plan.resource(
                        &rid(&format!("alarm-{service}-{name}"), region),
                        "aws.cloudwatch.metric-alarm",
                        props,
                    )
                    .in_region(region);
                };
                let svc = Some(service.as_str());
                if behind_lb {
                    let five = evaluation(svc, "5xx", cfg.error_5xx_threshold)?;
                    alarm(
                        "5xx",
                        obj! {
                            "metrics": vec![
                                errors[0].query("blue", "Sum", five.period),
                                errors[1].query("green", "Sum", five.period),
                                obj! {
                                    "id": "errors",
                                    "expression": "FILL(blue,0)+FILL(green,0)",
                                    "label": "Target 5XX of both colours",
                                    "return_data": true,
                                },
                            ],
                        },
                        "GreaterThanThreshold",
                        five,
                    );
                    let hosts = evaluation(svc, "healthy-hosts", 1)?;
                    alarm(
                        "healthy-hosts",
                        obj! {
                            "metrics": vec![
                                healthy_blue.query("blue", "Minimum", hosts.period),
                                healthy_green.query("green", "Minimum", hosts.period),
                                obj! {
                                    "id": "serving",
                                    "expression": "FILL(blue,0)+FILL(green,0)",
                                    "label": "Healthy hosts of both colours",
                                    "return_data": true,
                                },
                            ],
                        },
                        "LessThanThreshold",
                        hosts,
                    );
                }
                alarm(
                    "running-tasks",
                    running.alarm("Minimum"),
                    "LessThanThreshold",
                    evaluation(svc, "running-tasks", 1)?,
                );
                alarm(
                    "cpu",
                    cpu.alarm("Average"),
                    "GreaterThanThreshold",
                    evaluation(svc, "cpu", cfg.cpu_threshold)?,
                );
            }
        }
        let db_cpu = Evaluation {
            enabled: true,
            threshold: cfg.database_cpu_threshold,
            period: 300,
            periods: 2,
        }
        .with(cfg.alarm_settings.get("database-cpu"))
        .checked("database-cpu")?;
        if cfg.alarms
            && db_cpu.enabled
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
                    "period": db_cpu.period,
                    "evaluation_periods": db_cpu.periods,
                    "threshold": db_cpu.threshold,
                    "comparison_operator": "GreaterThanThreshold",
                    "treat_missing_data": "notBreaching",
                    "alarm_actions": vec![topic(&primary)],
                },
            )
            .in_region(&primary);
        }
        let dns_health = Evaluation {
            enabled: true,
            threshold: 1,
            period: 60,
            periods: 2,
        }
        .with(cfg.alarm_settings.get("dns-health"))
        .checked("dns-health")?;
        if cfg.alarms
            && dns_health.enabled
            && let Some(Value::Object(checks)) = &health_checks
        {
            for (role, id) in checks {
                plan.resource(
                    &rid(&format!("alarm-dns-{role}"), ROUTE53_METRICS),
                    "aws.cloudwatch.metric-alarm",
                    obj! {
                        "name": ctx.physical_name(&format!("dns-{role}"), 255),
                        "namespace": "AWS/Route53",
                        "metric_name": "HealthCheckStatus",
                        "dimensions": vec![obj! { "name": "HealthCheckId", "value": id }],
                        "statistic": "Minimum",
                        "period": dns_health.period,
                        "evaluation_periods": dns_health.periods,
                        "threshold": dns_health.threshold,
                        "comparison_operator": "LessThanThreshold",
                        // A failing endpoint reports 0; no data is a check
                        // that has not reported yet (a first deploy).
                        "treat_missing_data": "notBreaching",
                        "alarm_actions": vec![topic(ROUTE53_METRICS)],
                        "ok_actions": vec![topic(ROUTE53_METRICS)],
                    },
                )
                .in_region(ROUTE53_METRICS);
            }
        }
        plan.export("topic_arn", topic(&primary), "Alarm topic");
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
