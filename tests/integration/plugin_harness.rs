//! Plugins tested through `platform::harness`, with no AWS: the example
//! custom plugin, and each built-in's schema errors and security defaults.

use platform::harness::{Case, Harness, HarnessError, reference};
use platform::runtime::Phase;
use serde_json::{Value as Json, json};

use crate::support::test_plugin;

fn budget() -> Harness {
    Harness::file(test_plugin("plugin-budget-alarm")).unwrap()
}

/// What a network instance exports for one region, as references.
fn network_regions(regions: &[&str]) -> Json {
    let mut out = serde_json::Map::new();
    for r in regions {
        out.insert(
            r.to_string(),
            json!({
                "vpc_id": reference(&format!("network.vpc-{r}"), "id"),
                "cidr": "10.0.0.0/16",
                "public_subnet_ids": [
                    reference(&format!("network.public-a-{r}"), "id"),
                    reference(&format!("network.public-b-{r}"), "id"),
                ],
                "private_subnet_ids": [
                    reference(&format!("network.private-a-{r}"), "id"),
                    reference(&format!("network.private-b-{r}"), "id"),
                ],
                "lb_security_group_id": reference(&format!("network.sg-lb-{r}"), "id"),
                "service_security_group_id": reference(&format!("network.sg-service-{r}"), "id"),
                "db_security_group_id": reference(&format!("network.sg-db-{r}"), "id"),
            }),
        );
    }
    Json::Object(out)
}

#[test]
fn budget_alarm_alarms_at_each_threshold_in_us_east_1() {
    let plan = budget()
        .plan(
            &Case::new(json!({ "monthly_usd": 500, "emails": ["finance@example.com"] }))
                .blueprint("shop")
                .instance("budget")
                .env("prod", &["eu-west-1", "us-east-1"]),
        )
        .unwrap();
    let alarms = plan.resources_of_type("aws.cloudwatch.metric-alarm");
    assert_eq!(alarms.len(), 2, "{alarms:?}");
    assert!(plan.has_resource(
        "aws.cloudwatch.metric-alarm",
        &json!({ "name": "shop-prod-budget-budget-80", "threshold": 400, "namespace": "AWS/Billing",
                 "metric_name": "EstimatedCharges", "alarm_actions": [reference("topic", "arn")] })
    ));
    assert!(plan.has_resource("aws.cloudwatch.metric-alarm", &json!({ "threshold": 500 })));
    assert!(
        plan.resources.iter().all(|r| r.region == "us-east-1"),
        "billing metrics live in us-east-1 even when it is not primary"
    );
    assert!(plan.has_resource(
        "aws.sns.subscription",
        &json!({ "protocol": "email", "endpoint": "finance@example.com" })
    ));
    assert_eq!(plan.export("topic_arn"), &reference("topic", "arn"));
    assert!(plan.steps.is_empty());
}

#[test]
fn budget_alarm_refuses_bad_configuration_and_regions() {
    let b = budget();
    match b.plan(&Case::new(json!({ "emails": [] }))) {
        Err(HarnessError::Schema(errors)) => assert!(errors.iter().any(|e| e.contains("monthly_usd")), "{errors:?}"),
        other => panic!("expected a schema error, got {other:?}"),
    }
    match b.plan(&Case::new(json!({ "monthly_usd": 10, "thresholds_percent": [50, 50] }))) {
        Err(HarnessError::InvalidConfig(errors)) => {
            assert_eq!(errors, vec!["/thresholds_percent/1: 50% is listed twice".to_string()])
        }
        other => panic!("expected the plugin to refuse it, got {other:?}"),
    }
    match b.plan(&Case::new(json!({ "monthly_usd": 10 })).env("eu", &["eu-west-1"])) {
        Err(HarnessError::Failed(message)) => assert!(message.contains("only in us-east-1"), "{message}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Each built-in refuses a bad configuration through its schema, naming the setting.
#[test]
fn every_builtin_has_schema_errors_for_bad_configuration() {
    let cases = [
        ("network", json!({ "az_count": 9 }), "/az_count"),
        ("network", json!({ "nat_gateways": "lots" }), "/nat_gateways"),
        ("service", json!({ "image": "x", "cpu": 300 }), "/cpu"),
        ("service", json!({ "port": 8000 }), "image"),
        (
            "service",
            json!({ "image": "x", "deployment": { "strategy": "yolo" } }),
            "/deployment/strategy",
        ),
        ("database", json!({ "engine": "oracle" }), "/engine"),
        ("dns-failover", json!({ "record": "api" }), "domain"),
        (
            "dns-failover",
            json!({ "domain": "example.com", "record": 7 }),
            "/record",
        ),
        ("observability", json!({ "services": "api" }), "/services"),
    ];
    for (name, config, pointer) in cases {
        match Harness::builtin(name).unwrap().plan(&Case::new(config.clone())) {
            Err(HarnessError::Schema(errors)) => assert!(
                errors.iter().any(|e| e.contains(pointer)),
                "{name} {config}: {errors:?} should name {pointer}"
            ),
            other => panic!("{name} {config}: expected a schema error, got {other:?}"),
        }
    }
}

#[test]
fn service_keeps_tasks_private_and_rolls_out_as_its_strategy_says() {
    let service = Harness::builtin("service").unwrap();
    let case = |deployment: Json| {
        Case::new(json!({ "image": "ghcr.io/example/api:1", "deployment": deployment }))
            .instance("api")
            .env("prod", &["us-east-1", "us-east-2"])
            .import(
                "network",
                "network",
                "regions",
                network_regions(&["us-east-1", "us-east-2"]),
            )
    };
    let plan = service
        .plan(&case(json!({ "strategy": "linear", "step_percent": 40 })))
        .unwrap();
    let begin = plan.step("rollout-begin-us-east-2");
    assert_eq!(begin.params["assign_public_ip"], false);
    assert_eq!(
        begin.params["subnets"],
        json!([
            reference("network.private-a-us-east-2", "id"),
            reference("network.private-b-us-east-2", "id")
        ]),
        "tasks run in the private subnets"
    );
    assert!(plan.has_resource(
        "aws.elbv2.load-balancer",
        &json!({ "scheme": "internet-facing", "subnets": [
            reference("network.public-a-us-east-1", "id"),
            reference("network.public-b-us-east-1", "id")
        ] })
    ));
    let chain: Vec<(&str, Json)> = plan
        .steps
        .iter()
        .filter(|s| s.id.ends_with("us-east-1") && s.phase == "rollout")
        .map(|s| {
            (
                s.action.as_str(),
                s.params.get("green_percent").cloned().unwrap_or(Json::Null),
            )
        })
        .collect();
    assert_eq!(
        chain,
        vec![
            ("rollout.begin", Json::Null),
            ("traffic.shift", json!(40)),
            ("rollout.bake", Json::Null),
            ("traffic.shift", json!(80)),
            ("rollout.bake", Json::Null),
            ("traffic.shift", json!(100)),
            ("rollout.finish", Json::Null),
        ]
    );
    let bg = service.plan(&case(json!({ "strategy": "blue-green" }))).unwrap();
    assert_eq!(
        bg.actions(Phase::Rollout)[..4],
        ["rollout.begin", "rollout.approval", "traffic.shift", "rollout.finish"]
    );
    match service.plan(&Case::new(json!({ "image": "x" }))) {
        Err(HarnessError::MissingImports(names)) => assert_eq!(names, vec!["network".to_string()]),
        other => panic!("expected missing imports, got {other:?}"),
    }
}

#[test]
fn database_is_private_encrypted_and_keeps_its_password_out_of_the_plan() {
    let plan = Harness::builtin("database")
        .unwrap()
        .plan(&Case::new(json!({})).instance("db").import(
            "network",
            "network",
            "regions",
            network_regions(&["us-east-1"]),
        ))
        .unwrap();
    assert!(plan.has_resource(
        "aws.rds.db-instance",
        &json!({ "publicly_accessible": false, "storage_encrypted": true, "engine": "postgres" })
    ));
    assert!(
        plan.resources
            .iter()
            .all(|r| !r.properties.to_string().contains("\"password\"")),
        "a password property in the plan"
    );
}

#[test]
fn service_can_run_an_opentelemetry_collector_beside_the_app() {
    let plan = Harness::builtin("service")
        .unwrap()
        .plan(
            &Case::new(json!({ "image": "ghcr.io/example/api:1", "otel_collector": true }))
                .instance("api")
                .env("prod", &["us-east-1"])
                .import("network", "network", "regions", network_regions(&["us-east-1"])),
        )
        .unwrap();
    let containers = plan.resource("task-us-east-1").properties["containers"]
        .as_array()
        .unwrap()
        .clone();
    let names: Vec<&str> = containers.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["app", "otel-collector"]);
    assert_eq!(
        containers[1]["essential"], false,
        "the app keeps running if the collector stops"
    );
    assert!(
        containers[0]["environment"]
            .as_array()
            .unwrap()
            .contains(&json!({ "name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://localhost:4317" }))
    );
    let policy = &plan.resource("task-role").properties["inline_policy"];
    assert!(policy.to_string().contains("xray:PutTraceSegments"), "{policy}");
    // Off by default: one container and no task-role policy.
    let plain = Harness::builtin("service")
        .unwrap()
        .plan(&Case::new(json!({ "image": "x" })).import(
            "network",
            "network",
            "regions",
            network_regions(&["us-east-1"]),
        ))
        .unwrap();
    assert_eq!(
        plain.resource("task-us-east-1").properties["containers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(plain.resource("task-role").properties.get("inline_policy").is_none());
}

#[test]
fn peered_regions_route_private_traffic_over_the_peering() {
    let plan = Harness::builtin("network")
        .unwrap()
        .plan(&Case::new(json!({ "az_count": 2 })).env("prod", &["us-east-1", "us-east-2"]))
        .unwrap();
    let peering = reference("peering-us-east-2", "id");
    let route_to = |table: &str, cidr: &str| {
        plan.resource(table).properties["routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["destination_cidr_block"] == cidr && r["vpc_peering_connection_id"] == peering)
    };
    for az in ["a", "b"] {
        assert!(
            route_to(&format!("private-{az}-us-east-1-rt"), "10.1.0.0/16"),
            "primary -> peer ({az})"
        );
        assert!(
            route_to(&format!("private-{az}-us-east-2-rt"), "10.0.0.0/16"),
            "peer -> primary ({az})"
        );
    }
    let single = Harness::builtin("network")
        .unwrap()
        .plan(&Case::new(json!({ "az_count": 2, "peering": false })).env("prod", &["us-east-1", "us-east-2"]))
        .unwrap();
    assert!(single.resources_of_type("aws.ec2.vpc-peering-connection").is_empty());
    assert!(
        !single
            .resources
            .iter()
            .any(|r| r.properties.to_string().contains("vpc_peering_connection_id"))
    );
}

#[test]
fn the_harness_refuses_a_property_plan_would_refuse() {
    let hostile = Harness::file(test_plugin("hostile")).unwrap();
    match hostile.plan(&Case::new(json!({ "mode": "misspelt-property" }))) {
        Err(HarnessError::Output(message)) => assert_eq!(
            message,
            "resource `logs` (aws.logs.log-group): property `retention_days`: unknown field `retention_days`, expected `name` or `retention_in_days`"
        ),
        other => panic!("expected a property error, got {other:?}"),
    }
    // The same plugin's well-formed output passes.
    assert!(hostile.plan(&Case::new(json!({ "mode": "ok" }))).is_ok());
}
