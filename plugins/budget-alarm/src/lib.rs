//! `budget-alarm`: an example of a custom plugin (not built in). Alarms when
//! the month's estimated AWS charges pass shares of a monthly budget, and
//! emails the people who should know.
//!
//! AWS publishes billing metrics (`AWS/Billing` `EstimatedCharges`, month to
//! date) in us-east-1 only, so the alarms live there whatever the
//! environment's primary region; the environment must include us-east-1.

use platform_plugin_sdk::{Context, Error, Info, Plan, Plugin, Value, export_plugin, obj, reference};
use serde::Deserialize;
use serde_json::json;

struct BudgetAlarm;

const BILLING_REGION: &str = "us-east-1";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    monthly_usd: f64,
    #[serde(default = "default_thresholds")]
    thresholds_percent: Vec<u32>,
    #[serde(default)]
    emails: Vec<String>,
}

fn default_thresholds() -> Vec<u32> {
    vec![80, 100]
}

impl Plugin for BudgetAlarm {
    fn info() -> Info {
        Info::new(
            "budget-alarm",
            env!("CARGO_PKG_VERSION"),
            "Alarms when the month's estimated AWS charges pass shares of a budget",
        )
        .kinds(&["aws.sns.topic", "aws.sns.subscription", "aws.cloudwatch.metric-alarm"])
        .schema(json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["monthly_usd"],
            "properties": {
                "monthly_usd": { "type": "number", "minimum": 1, "description": "The monthly budget in US dollars" },
                "thresholds_percent": {
                    "type": "array",
                    "items": { "type": "integer", "minimum": 1, "maximum": 1000 },
                    "minItems": 1,
                    "default": [80, 100],
                    "description": "An alarm at each share of the budget"
                },
                "emails": {
                    "type": "array",
                    "items": { "type": "string", "minLength": 3 },
                    "description": "Addresses notified when an alarm fires"
                }
            }
        }))
        .export("topic_arn", "The topic budget alarms notify")
    }

    fn plan(ctx: &Context) -> Result<Plan, Error> {
        let cfg: Config = ctx.config()?;
        if !ctx.env.regions.iter().any(|r| r == BILLING_REGION) {
            return Err(Error::failed(format!(
                "billing metrics exist only in {BILLING_REGION}, which environment `{}` does not include ({})",
                ctx.env.name,
                ctx.env.regions.join(", ")
            )));
        }
        let mut seen = Vec::new();
        for (i, pct) in cfg.thresholds_percent.iter().enumerate() {
            if seen.contains(pct) {
                return Err(Error::config(
                    &format!("/thresholds_percent/{i}"),
                    format!("{pct}% is listed twice"),
                ));
            }
            seen.push(*pct);
        }
        for (i, email) in cfg.emails.iter().enumerate() {
            if !email.contains('@') {
                return Err(Error::config(
                    &format!("/emails/{i}"),
                    format!("`{email}` is not an email address"),
                ));
            }
        }

        let mut plan = Plan::new();
        plan.resource(
            "topic",
            "aws.sns.topic",
            obj! { "name": ctx.physical_name("budget", 256) },
        )
        .in_region(BILLING_REGION);
        for (i, email) in cfg.emails.iter().enumerate() {
            plan.resource(
                &format!("subscription-{i}"),
                "aws.sns.subscription",
                obj! {
                    "topic_arn": reference("topic", "arn"),
                    "protocol": "email",
                    "endpoint": email.as_str(),
                },
            )
            .in_region(BILLING_REGION);
        }
        for pct in &cfg.thresholds_percent {
            let threshold = cfg.monthly_usd * f64::from(*pct) / 100.0;
            plan.resource(
                &format!("alarm-{pct}"),
                "aws.cloudwatch.metric-alarm",
                obj! {
                    "name": ctx.physical_name(&format!("budget-{pct}"), 255),
                    "namespace": "AWS/Billing",
                    "metric_name": "EstimatedCharges",
                    "dimensions": vec![obj! { "name": "Currency", "value": "USD" }],
                    "statistic": "Maximum",
                    // Billing data arrives a few times a day.
                    "period": 21600,
                    "evaluation_periods": 1,
                    "threshold": Value::from(threshold),
                    "comparison_operator": "GreaterThanOrEqualToThreshold",
                    "treat_missing_data": "notBreaching",
                    "alarm_actions": vec![reference("topic", "arn")],
                },
            )
            .in_region(BILLING_REGION);
        }
        plan.export("topic_arn", reference("topic", "arn"), "The topic budget alarms notify");
        Ok(plan)
    }
}

export_plugin!(BudgetAlarm);

/// Native tests: `cargo test` plans the plugin without a wasm runtime and
/// checks its output as `platform plan` would (see the SDK's `testing`).
#[cfg(test)]
mod tests {
    use platform_plugin_sdk::testing::{Case, Failure, plan};
    use serde_json::json;

    use super::BudgetAlarm;

    #[test]
    fn an_alarm_per_threshold_with_properties_the_host_accepts() {
        let p = plan::<BudgetAlarm>(&Case::new(json!({ "monthly_usd": 200, "emails": ["ops@example.com"] }))).unwrap();
        let alarms: Vec<_> = p
            .resources
            .iter()
            .filter(|r| r.kind == "aws.cloudwatch.metric-alarm")
            .collect();
        assert_eq!(alarms.len(), 2);
        assert_eq!(alarms[0].properties.get("threshold"), Some(&160.0.into()));
        assert_eq!(
            p.resources.iter().filter(|r| r.kind == "aws.sns.subscription").count(),
            1
        );
    }

    #[test]
    fn a_configuration_outside_the_schema_is_refused() {
        assert!(matches!(
            plan::<BudgetAlarm>(&Case::new(json!({ "monthly": 200 }))),
            Err(Failure::Schema(_))
        ));
    }
}
