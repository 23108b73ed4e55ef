//! Snapshot of the plan of every environment of every blueprint in
//! `blueprints/`. Update with `UPDATE_EXPECT=1 scripts/test`.

use platform::blueprint::Blueprint;

use crate::support::{root, runtime};

#[test]
fn every_environment_of_every_blueprint_matches_its_snapshot() {
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(root().join("blueprints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        let blueprint = Blueprint::load(&path).unwrap_or_else(|e| panic!("{e}"));
        for env in blueprint.env_names() {
            let resolved = blueprint.resolve(env).unwrap_or_else(|e| panic!("{e}"));
            let plan = platform::compose::compose(runtime(), &resolved, platform::providers::registry::registry())
                .unwrap_or_else(|e| panic!("{}: {env}: {e}", path.display()));
            let snapshot = format!("../snapshots/{}.{env}.plan", blueprint.name);
            expect_test::expect_file![snapshot].assert_eq(&plan.render(true));
            // Plans are pure: the same input gives the same plan.
            let again =
                platform::compose::compose(runtime(), &resolved, platform::providers::registry::registry()).unwrap();
            assert_eq!(again.render(true), plan.render(true), "{env} plan is not deterministic");
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "expected at least ml-api's local, dev and prod; checked {checked}"
    );
}

/// The properties the seeds and the issue require of ml-api prod.
#[test]
fn ml_api_prod_has_the_seed_shape() {
    let blueprint = Blueprint::load(&root().join("blueprints/ml-api.toml")).unwrap();
    let plan = platform::compose::compose(
        runtime(),
        &blueprint.resolve("prod").unwrap(),
        platform::providers::registry::registry(),
    )
    .unwrap();
    assert_eq!(plan.regions, ["us-east-1", "us-east-2"]);
    let prop = |id: &str, key: &str| {
        let r = plan.resource(id).unwrap_or_else(|| panic!("no {id}"));
        let v = r
            .properties
            .entries()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.to_json());
        v.unwrap_or_else(|| panic!("{id} has no {key}"))
    };
    let step = |id: &str| {
        plan.steps
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no step {id}"))
            .params
            .to_json()
    };
    // Three AZs per region, NAT per AZ.
    for region in ["us-east-1", "us-east-2"] {
        for az in ["a", "b", "c"] {
            assert!(
                plan.resource(&format!("network.nat-{az}-{region}")).is_some(),
                "nat {az} {region}"
            );
            assert_eq!(
                prop(&format!("network.private-{az}-{region}"), "map_public_ip_on_launch"),
                false
            );
        }
        assert_eq!(prop(&format!("api.task-{region}"), "cpu"), "512");
        assert_eq!(prop(&format!("api.task-{region}"), "memory"), "1024");
        assert_eq!(prop(&format!("api.service-{region}"), "desired_count"), 2);
        assert_eq!(
            prop(&format!("api.service-{region}"), "deployment_controller"),
            "EXTERNAL"
        );
        // Tasks start in task sets, in private subnets without public IPs.
        let begin = step(&format!("api.rollout-begin-{region}"));
        assert_eq!(begin["assign_public_ip"], false);
        assert_eq!(begin["container_port"], 8000);
        let steps: Vec<&str> = plan
            .steps
            .iter()
            .filter(|s| s.id.starts_with("api.rollout-") && s.id.ends_with(region))
            .map(|s| s.action.as_str())
            .collect();
        assert_eq!(
            steps,
            [
                "rollout.begin",
                "traffic.shift",
                "rollout.bake",
                "traffic.shift",
                "rollout.finish"
            ],
            "the canary's chain in {region}"
        );
        assert_eq!(prop(&format!("api.scaling-target-{region}"), "max_capacity"), 5);
        assert_eq!(prop(&format!("api.scaling-cpu-{region}"), "target_value"), 55);
        assert_eq!(prop(&format!("api.scaling-requests-{region}"), "target_value"), 1000);
        assert_eq!(prop(&format!("api.logs-{region}"), "retention_in_days"), 30);
    }
    assert_eq!(prop("db.instance", "multi_az"), true);
    assert_eq!(prop("db.instance", "storage_encrypted"), true);
    assert_eq!(prop("db.instance", "publicly_accessible"), false);
    assert_eq!(prop("db.instance", "backup_retention_period"), 7);
    assert_eq!(plan.resource("db.replica").unwrap().region, "us-east-2");
    assert_eq!(prop("dns.record-primary", "failover"), "PRIMARY");
    assert_eq!(prop("dns.record-secondary", "failover"), "SECONDARY");
    // The canary: 10% then bake 300 s, gated by the service's alarms.
    assert_eq!(step("api.rollout-shift-1-us-east-1")["green_percent"], 10);
    let bake = step("api.rollout-bake-1-us-east-1");
    assert_eq!(bake["seconds"], 300);
    assert_eq!(bake["alarm_prefix"], "ml-api-prod-api-");
    assert_eq!(step("api.rollout-shift-2-us-east-1")["green_percent"], 100);
    // No secret value anywhere in the plan: the password is generated by the host.
    let json = plan.to_json().to_string();
    assert!(
        !json.to_lowercase().contains("\"password\""),
        "a password property leaked into the plan"
    );
}

/// Security defaults: nothing reaches the service or database from anywhere.
#[test]
fn security_groups_open_only_the_load_balancer_to_the_internet() {
    let blueprint = Blueprint::load(&root().join("blueprints/ml-api.toml")).unwrap();
    for env in blueprint.env_names() {
        let plan = platform::compose::compose(
            runtime(),
            &blueprint.resolve(env).unwrap(),
            platform::providers::registry::registry(),
        )
        .unwrap();
        for r in plan.resources.iter().filter(|r| r.kind == "aws.ec2.security-group") {
            let json = r.properties.to_json();
            let open = json["ingress"]
                .as_array()
                .unwrap()
                .iter()
                .any(|rule| rule["cidr_ipv4"] == "0.0.0.0/0");
            assert_eq!(
                open,
                r.id.starts_with("network.sg-lb-"),
                "{env}: {} ingress {}",
                r.id,
                json["ingress"]
            );
        }
    }
}

/// The service settings the seeds need: generated secrets, Parameter Store
/// configuration with exact grants, the health check, the repository's
/// rules and optional autoscaling.
#[test]
fn service_settings_from_the_seeds() {
    use crate::support::{plan_error, plan_text};
    let base = std::fs::read_to_string(root().join("blueprints/ml-api.toml")).unwrap();
    let plan = plan_text(&base, Some("prod")).unwrap();
    let props = |id: &str| {
        plan.resource(id)
            .unwrap_or_else(|| panic!("no {id}"))
            .properties
            .to_json()
    };
    // One generated secret in the primary region, replicated to the other.
    let secret = props("api.secret-app-secret");
    assert_eq!(secret["name"], "/ml-api-prod-api/app");
    assert_eq!(secret["generate"]["format"], "plain");
    assert_eq!(secret["replica_regions"], serde_json::json!(["us-east-2"]));
    assert!(plan.resource("api.secret-app-secret").unwrap().region == "us-east-1");
    // A parameter per region, under the service's path.
    for region in ["us-east-1", "us-east-2"] {
        let p = props(&format!("api.parameter-example-config-{region}"));
        assert_eq!(p["name"], "/ml-api-prod-api/example-config");
        assert_eq!(p["value"], "{\"log_level\": \"info\"}");
    }
    // Each region's tasks read their region's copy of the secret.
    let secrets_of = |region: &str| {
        let task = props(&format!("api.task-{region}"));
        task["containers"][0]["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "APP_SECRET")
            .unwrap()["value_from"]
            .clone()
    };
    assert_eq!(
        secrets_of("us-east-1"),
        serde_json::json!({ "$ref": { "resource": "api.secret-app-secret", "attribute": "arn" } })
    );
    assert_eq!(
        secrets_of("us-east-2"),
        serde_json::json!({ "$ref": { "resource": "api.secret-app-secret", "attribute": "replica_arn_us_east_2" } })
    );
    let env = props("api.task-us-east-2")["containers"][0]["environment"].clone();
    assert!(
        env.as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "PARAMETERS_PATH" && e["value"] == "/ml-api-prod-api/"),
        "{env}"
    );
    // The task role reads exactly its parameters and secret, nothing else.
    let policy = props("api.task-role")["inline_policy"].clone();
    let statements = policy["Statement"].as_array().unwrap();
    let ssm = statements
        .iter()
        .find(|s| s["Action"][0] == "ssm:GetParameter")
        .unwrap();
    assert_eq!(ssm["Resource"].as_array().unwrap().len(), 2, "{ssm}");
    assert!(
        ssm["Resource"]
            .to_string()
            .contains("api.parameter-example-config-us-east-2")
    );
    let sm = statements
        .iter()
        .find(|s| s["Action"][0] == "secretsmanager:GetSecretValue")
        .unwrap();
    assert_eq!(sm["Resource"].as_array().unwrap().len(), 2, "{sm}");
    assert!(!policy.to_string().contains("\"*\""), "no wildcard resource: {policy}");
    let by_path = statements
        .iter()
        .find(|s| s["Action"][0] == "ssm:GetParametersByPath")
        .unwrap();
    assert_eq!(
        by_path["Resource"].as_array().unwrap().len(),
        2,
        "the path in each region: {by_path}"
    );
    assert!(by_path["Resource"].to_string().contains("path_arn"));
    let exec = props("api.execution-role")["inline_policy"].to_string();
    assert!(
        exec.contains("replica_arn_us_east_2") && exec.contains("db.credentials"),
        "{exec}"
    );

    // Health check, repository rules, autoscaling off.
    let custom = base.replace(
        "health_check_path = \"/healthz\"",
        "health_check = { path = \"/health\", interval_seconds = 30, timeout_seconds = 10, unhealthy_threshold = 5 }\necr = { tag_mutability = \"MUTABLE\", untagged_expire_days = 7 }",
    )
    .replace("[plugins.api.config.autoscaling]\n", "[plugins.api.config.autoscaling]\nenabled = false\n");
    let plan = plan_text(&custom, Some("prod")).unwrap();
    let tg = plan.resource("api.tg-blue-us-east-1").unwrap().properties.to_json();
    assert_eq!(
        (
            &tg["health_check_path"],
            &tg["health_check_interval_seconds"],
            &tg["health_check_timeout_seconds"],
            &tg["unhealthy_threshold_count"],
            &tg["healthy_threshold_count"]
        ),
        (
            &serde_json::json!("/health"),
            &serde_json::json!(30),
            &serde_json::json!(10),
            &serde_json::json!(5),
            &serde_json::json!(2)
        )
    );
    let repo = plan.resource("api.repository").unwrap().properties.to_json();
    assert_eq!(
        (&repo["image_tag_mutability"], &repo["untagged_expire_days"]),
        (&serde_json::json!("MUTABLE"), &serde_json::json!(7))
    );
    assert!(
        plan.resources.iter().all(|r| !r.id.starts_with("api.scaling-")),
        "autoscaling is off"
    );
    let probe = plan.steps.iter().find(|s| s.id == "api.probe-us-east-1").unwrap();
    assert!(
        probe.params.to_json().to_string().contains("/health\""),
        "the probe follows the path"
    );

    // Mistakes are named at their setting.
    let both = base.replace(
        "health_check_path = \"/healthz\"",
        "health_check_path = \"/healthz\"\nhealth_check = { path = \"/health\" }",
    );
    assert!(plan_error(&both, Some("prod")).contains("set the path once"));
    let slow = base.replace(
        "health_check_path = \"/healthz\"",
        "health_check = { interval_seconds = 10, timeout_seconds = 10 }",
    );
    assert!(plan_error(&slow, Some("prod")).contains("must be less than the interval"));
    // A short interval leaves room under AWS's default timeout (6 s).
    let fast = base.replace(
        "health_check_path = \"/healthz\"",
        "health_check = { interval_seconds = 5 }",
    );
    let plan = plan_text(&fast, Some("prod")).unwrap();
    let tg = plan.resource("api.tg-green-us-east-2").unwrap().properties.to_json();
    assert_eq!(tg["health_check_timeout_seconds"], 4);
    let not_arn = base.replace(
        "APP_SECRET = { generate = true, name = \"app\" }",
        "APP_SECRET = \"hunter2\"",
    );
    let e = plan_error(&not_arn, Some("prod"));
    assert!(e.contains("is not an ARN") && e.contains("secrets.APP_SECRET"), "{e}");
    let off = base.replace("generate = true, name = \"app\"", "generate = false");
    assert!(plan_error(&off, Some("prod")).contains("has no meaning"));
}

/// Seed 002: an internal load balancer, a service without one, per-service
/// ports and security groups, links between services.
#[test]
fn load_balancer_modes_of_seed_002() {
    use crate::support::{plan_error, plan_text};
    let text = std::fs::read_to_string(root().join("blueprints/config-driven-services.toml")).unwrap();
    let plan = plan_text(&text, None).unwrap();
    let r = "ap-southeast-1";
    let props = |id: &str| {
        plan.resource(id)
            .unwrap_or_else(|| panic!("no {id}"))
            .properties
            .to_json()
    };
    let reference = |resource: &str, attribute: &str| serde_json::json!({ "$ref": { "resource": resource, "attribute": attribute } });
    // The backend's load balancer is internal, in the private subnets,
    // behind a group that admits the VPC only.
    let alb = props(&format!("backend.alb-{r}"));
    assert_eq!(alb["scheme"], "internal");
    assert!(alb["subnets"].to_string().contains("private"), "{alb}");
    assert_eq!(
        alb["security_groups"],
        serde_json::json!([reference(&format!("backend.lb-sg-{r}"), "id")])
    );
    let lb_sg = props(&format!("backend.lb-sg-{r}"));
    for rule in lb_sg["ingress"].as_array().unwrap() {
        assert_eq!(rule["cidr_ipv4"], "10.0.0.0/16", "the VPC only: {rule}");
    }
    // Its tasks: the network's group (the database trusts it) and their
    // own, admitting port 80 from their load balancer and the services.
    let tasks_sg = props(&format!("backend.tasks-sg-{r}"));
    let sources: Vec<_> = tasks_sg["ingress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["from_port"].clone(), i["source_security_group_id"].clone()))
        .collect();
    assert_eq!(
        sources,
        [
            (serde_json::json!(80), reference(&format!("backend.lb-sg-{r}"), "id")),
            (
                serde_json::json!(80),
                reference(&format!("network.sg-service-{r}"), "id")
            )
        ]
    );
    let begin = plan
        .steps
        .iter()
        .find(|s| s.id == format!("backend.rollout-begin-{r}"))
        .unwrap();
    assert_eq!(
        begin.params.to_json()["security_groups"],
        serde_json::json!([
            reference(&format!("network.sg-service-{r}"), "id"),
            reference(&format!("backend.tasks-sg-{r}"), "id")
        ])
    );
    assert!(
        plan.steps.iter().all(|s| !s.id.starts_with("backend.probe")),
        "no probe into the VPC"
    );
    // The frontend is internet-facing on the network's port: nothing of its own.
    assert_eq!(props(&format!("frontend.alb-{r}"))["scheme"], "internet-facing");
    assert!(plan.resource(&format!("frontend.tasks-sg-{r}")).is_none());
    // The load tester has no load balancer, target groups, listeners or
    // rollout: a rolling ECS service registered in Cloud Map.
    for what in ["alb", "tg-blue", "listener-http", "scaling-requests", "tasks-sg"] {
        let id = format!("loadtester.{what}-{r}");
        assert_eq!(plan.resource(&id).is_some(), what == "tasks-sg", "{id}");
    }
    assert!(plan.steps.iter().all(|s| s.instance != "loadtester"));
    let svc = props(&format!("loadtester.service-{r}"));
    assert!(svc.get("deployment_controller").is_none(), "{svc}");
    assert_eq!(
        svc["task_definition"],
        reference(&format!("loadtester.task-{r}"), "arn")
    );
    assert_eq!(
        svc["service_registries"],
        serde_json::json!([reference(&format!("loadtester.discovery-{r}"), "arn")])
    );
    assert_eq!(svc["deployment_circuit_breaker"]["rollback"], true);
    // Links: the backend's URL reaches both callers.
    let env = props(&format!("loadtester.task-{r}"))["containers"][0]["environment"].clone();
    let url = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "BACKEND_URL")
        .unwrap();
    assert!(url["value"].to_string().contains("backend.alb-ap-southeast-1"), "{url}");
    // Observability of a worker: its tasks only, no load balancer metrics.
    let alarms: Vec<&str> = plan
        .resources
        .iter()
        .filter(|r| r.instance == "loadtester-monitoring" && r.kind == "aws.cloudwatch.metric-alarm")
        .map(|r| r.id.as_str())
        .collect();
    assert!(
        !alarms.is_empty() && alarms.iter().all(|a| !a.contains("5xx") && !a.contains("healthy")),
        "{alarms:?}"
    );
    // Autoscaling is off everywhere.
    assert!(plan.resources.iter().all(|r| !r.id.contains(".scaling-")));

    // What cannot work is refused at its setting.
    let probe = text.replace(
        "load_balancer = \"internal\"",
        "load_balancer = \"internal\"\nprobe = true",
    );
    assert!(plan_error(&probe, None).contains("cannot be reached from there"));
    let rollout = text.replace(
        "load_balancer = \"none\"",
        "load_balancer = \"none\"\ndeployment = { strategy = \"canary\" }",
    );
    assert!(plan_error(&rollout, None).contains("rolling deployments"));
    let failover = text.replace(
        "regions = [\"ap-southeast-1\"]",
        "regions = [\"ap-southeast-1\", \"ap-northeast-1\"]",
    ) + "\n[plugins.dns]\nplugin = \"dns-failover\"\n\n[plugins.dns.config]\ndomain = \"example.com\"\nservice = \"backend\"\n";
    let e = plan_error(&failover, None);
    assert!(e.contains("needs an internet-facing load balancer"), "{e}");
}

/// Seed 001 as its own tests describe it: per region 1 VPC, 4 subnets and 1
/// NAT gateway; multi-AZ MySQL with a replica in us-east-2; 256/512 tasks;
/// `/health` checked by the load balancer and Route 53.
#[test]
fn flask_mysql_has_the_seed_001_shape() {
    let blueprint = Blueprint::load(&root().join("blueprints/flask-mysql.toml")).unwrap();
    let plan = platform::compose::compose(
        runtime(),
        &blueprint.resolve("prod").unwrap(),
        platform::providers::registry::registry(),
    )
    .unwrap();
    for region in ["us-east-1", "us-east-2"] {
        let count = |kind: &str| {
            plan.resources
                .iter()
                .filter(|r| r.kind == kind && r.region == region)
                .count()
        };
        assert_eq!(
            (
                count("aws.ec2.vpc"),
                count("aws.ec2.subnet"),
                count("aws.ec2.nat-gateway")
            ),
            (1, 4, 1),
            "{region}"
        );
    }
    let props = |id: &str| {
        plan.resource(id)
            .unwrap_or_else(|| panic!("no {id}"))
            .properties
            .to_json()
    };
    let db = props("db.instance");
    assert_eq!(
        (&db["engine"], &db["multi_az"]),
        (&serde_json::json!("mysql"), &serde_json::json!(true))
    );
    assert_eq!(plan.resource("db.replica").unwrap().region, "us-east-2");
    let task = props("app.task-us-east-2");
    assert_eq!(
        (&task["cpu"], &task["memory"]),
        (&serde_json::json!("256"), &serde_json::json!("512"))
    );
    assert_eq!(props("app.tg-blue-us-east-1")["health_check_path"], "/health");
    assert_eq!(props("dns.health-primary")["resource_path"], "/health");
    assert_eq!(plan.regions, ["us-east-1", "us-east-2"]);
}

/// Alarm settings per alarm and per service (seed 003's periods), the
/// database's memory and storage on the dashboard, and an alarm per Route 53
/// health check in us-east-1.
#[test]
fn alarms_follow_their_settings() {
    use crate::support::{plan_error, plan_text};
    let text = std::fs::read_to_string(root().join("blueprints/microservices.toml")).unwrap();
    let plan = plan_text(&text, Some("production")).unwrap();
    let props = |plan: &platform::plan::Plan, id: &str| {
        plan.resource(id)
            .unwrap_or_else(|| panic!("no {id}"))
            .properties
            .to_json()
    };
    let errors = props(&plan, "observability.alarm-api-5xx");
    assert_eq!(
        (&errors["threshold"], &errors["period"], &errors["evaluation_periods"]),
        (&serde_json::json!(10), &serde_json::json!(300), &serde_json::json!(2))
    );
    let tasks = props(&plan, "observability.alarm-auth-running-tasks");
    assert_eq!(
        (&tasks["period"], &tasks["evaluation_periods"]),
        (&serde_json::json!(60), &serde_json::json!(2))
    );
    let hosts = props(&plan, "observability.alarm-notification-healthy-hosts");
    assert_eq!(hosts["evaluation_periods"], 2);

    // Per service over the common setting; an alarm can be switched off.
    // Observability's list of services (the first; the pipeline's follows).
    let custom = text.replacen(
        "services = [\"api\", \"auth\", \"notification\"]",
        "services = [\"api\", \"auth\", \"notification\"]\nservice_alarm_settings = { auth = { 5xx = { threshold = 50 }, cpu = { enabled = false } } }",
        1,
    );
    let plan = plan_text(&custom, Some("production")).unwrap();
    assert_eq!(props(&plan, "observability.alarm-auth-5xx")["threshold"], 50);
    assert_eq!(
        props(&plan, "observability.alarm-auth-5xx")["period"],
        300,
        "the common period stays"
    );
    assert_eq!(props(&plan, "observability.alarm-api-5xx")["threshold"], 10);
    assert!(plan.resource("observability.alarm-auth-cpu").is_none());
    assert!(plan.resource("observability.alarm-api-cpu").is_some());

    // Mistakes are named at their setting.
    let typo = text.replace("5xx = {", "5XX = {");
    assert!(plan_error(&typo, Some("production")).contains("no alarm is called `5XX`"));
    let odd = text.replace("period_seconds = 300", "period_seconds = 90");
    assert!(plan_error(&odd, Some("production")).contains("multiple of 60"));
    // What CloudWatch evaluates is checked on the settings in effect: a
    // day of periods under an hour, a week of longer ones.
    let long = text.replacen(
        "services = [\"api\", \"auth\", \"notification\"]",
        "services = [\"api\", \"auth\", \"notification\"]\nservice_alarm_settings = { auth = { cpu = { period_seconds = 900, evaluation_periods = 100 } } }",
        1,
    );
    assert!(plan_error(&long, Some("production")).contains("exceed the day"));
    let hourly = long.replace("period_seconds = 900", "period_seconds = 3600");
    assert!(
        plan_text(&hourly, Some("production")).is_ok(),
        "100 hours is within a week"
    );
    let stranger = custom.replace("{ auth = {", "{ billing = {");
    assert!(plan_error(&stranger, Some("production")).contains("not among the watched"));

    // ml-api prod: the database's memory and storage on the dashboard, and
    // an alarm per health check of the failover, in us-east-1.
    let ml = std::fs::read_to_string(root().join("blueprints/ml-api.toml")).unwrap();
    let plan = plan_text(&ml, Some("prod")).unwrap();
    let dashboard = props(&plan, "observability.dashboard-api").to_string();
    assert!(dashboard.contains("FreeableMemory") && dashboard.contains("FreeStorageSpace"));
    for role in ["primary", "secondary"] {
        let alarm = plan.resource(&format!("observability.alarm-dns-{role}")).unwrap();
        assert_eq!(alarm.region, "us-east-1");
        let p = alarm.properties.to_json();
        assert_eq!(p["namespace"], "AWS/Route53");
        assert_eq!(
            p["dimensions"][0]["value"],
            serde_json::json!({ "$ref": { "resource": format!("dns.health-{role}"), "attribute": "id" } })
        );
    }
}

/// Seed 000's deploy role: trusted by one repository's tokens only, capped
/// by a boundary that keeps it off users, keys and boundaries.
#[test]
fn the_github_deploy_role_trusts_one_repository_and_has_a_boundary() {
    use crate::support::{plan_error, plan_text};
    let text = std::fs::read_to_string(root().join("blueprints/ml-api.toml")).unwrap();
    let plan = plan_text(&text, Some("prod")).unwrap();
    let props = |plan: &platform::plan::Plan, id: &str| {
        plan.resource(id)
            .unwrap_or_else(|| panic!("no {id}"))
            .properties
            .to_json()
    };
    let role = props(&plan, "deploy-role.role");
    let statement = &role["assume_role_policy"]["Statement"][0];
    assert_eq!(statement["Action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(
        statement["Principal"]["Federated"],
        serde_json::json!({ "$ref": { "resource": "deploy-role.oidc-provider", "attribute": "arn" } })
    );
    assert_eq!(
        statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"],
        "sts.amazonaws.com"
    );
    assert_eq!(
        statement["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"],
        serde_json::json!([
            "repo:example/ml-api:ref:refs/heads/main",
            "repo:example/ml-api:environment:prod"
        ])
    );
    assert_eq!(
        role["permissions_boundary"],
        serde_json::json!({ "$ref": { "resource": "deploy-role.boundary", "attribute": "arn" } })
    );
    let boundary = props(&plan, "deploy-role.boundary")["document"].to_string();
    for denied in [
        "iam:CreateUser",
        "iam:CreateAccessKey",
        "iam:DeleteRolePermissionsBoundary",
    ] {
        assert!(boundary.contains(denied), "{denied} denied: {boundary}");
    }
    assert!(
        boundary.contains("arn:aws:iam::*:role/ml-api-prod-*"),
        "IAM on the environment's roles only"
    );
    assert!(
        boundary.contains("iam:PassedToService"),
        "roles passed to ECS tasks and flow logs only"
    );
    assert!(
        boundary.contains("DeployRoleStaysAsIs") && boundary.contains("role/ml-api-prod-deploy-role-deploy"),
        "the role cannot widen itself: {boundary}"
    );
    assert!(
        plan.resource("deploy-role.plan-role").is_none(),
        "no pull-request role unless asked"
    );
    // Only prod has it: an account has one GitHub OIDC provider.
    let dev = plan_text(&text, Some("dev")).unwrap();
    assert!(dev.resources.iter().all(|r| r.instance != "deploy-role"));

    // An existing provider is used, not made.
    let existing = text.replace(
        "environments = [\"prod\"]",
        "environments = [\"prod\"]\nprovider_arn = \"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com\"",
    );
    let plan = plan_text(&existing, Some("prod")).unwrap();
    assert!(plan.resource("deploy-role.oidc-provider").is_none());
    assert_eq!(
        props(&plan, "deploy-role.role")["assume_role_policy"]["Statement"][0]["Principal"]["Federated"],
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    );
    // Pull requests get a read-only role of their own, never the deploy role.
    let prs = text.replace(
        "environments = [\"prod\"]",
        "environments = [\"prod\"]\npull_requests = true",
    );
    let plan = plan_text(&prs, Some("prod")).unwrap();
    let reader = props(&plan, "deploy-role.plan-role");
    assert_eq!(
        reader["assume_role_policy"]["Statement"][0]["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"],
        serde_json::json!(["repo:example/ml-api:pull_request"])
    );
    assert_eq!(
        reader["managed_policy_arns"],
        serde_json::json!(["arn:aws:iam::aws:policy/ReadOnlyAccess"])
    );
    assert!(!props(&plan, "deploy-role.role").to_string().contains("pull_request"));
    // A wildcard repository would let any repository in.
    let wide = text.replace("repository = \"example/ml-api\"", "repository = \"example/*\"");
    let e = plan_error(&wide, Some("prod"));
    assert!(e.contains("wildcard") && e.contains("repository"), "{e}");
}

/// Seed 003's one load balancer: auth and notification join api's through
/// listener rules on its listeners, rollouts shift the rules, and what AWS
/// or the owner would refuse is named at its setting before any call. The
/// seed's subnets are explicit, and checked as EC2 checks them.
#[test]
fn services_share_a_load_balancer_by_rules_and_subnets_follow_the_seed() {
    use crate::support::{plan_error, plan_text};
    let text = std::fs::read_to_string(root().join("blueprints/microservices.toml")).unwrap();
    let plan = plan_text(&text, Some("production")).unwrap();
    let props = |id: &str| {
        plan.resource(id)
            .unwrap_or_else(|| panic!("no {id}"))
            .properties
            .to_json()
    };
    let albs: Vec<&str> = plan
        .resources
        .iter()
        .filter(|r| r.kind == "aws.elbv2.load-balancer")
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(albs, ["api.alb-us-east-1"], "one load balancer");
    let rule = props("auth.rule-http-us-east-1");
    assert_eq!(rule["priority"], 10);
    assert_eq!(rule["paths"], serde_json::json!(["/auth", "/auth/*"]));
    let listener = rule["listener_arn"].to_string();
    assert!(listener.contains("api.listener-http-us-east-1"), "{listener}");
    assert!(
        props("auth.rule-test-us-east-1")["listener_arn"]
            .to_string()
            .contains("api.listener-test-us-east-1")
    );
    assert!(
        plan.resource("auth.rule-https-us-east-1").is_none(),
        "api has no HTTPS listener"
    );
    let begin = plan
        .steps
        .iter()
        .find(|s| s.id == "auth.rollout-begin-us-east-1")
        .unwrap();
    let begin = begin.params.to_json();
    assert!(
        begin["production_listeners"]
            .to_string()
            .contains("auth.rule-http-us-east-1"),
        "{begin}"
    );
    assert!(
        begin["test_listener"].to_string().contains("auth.rule-test-us-east-1"),
        "{begin}"
    );
    let service = plan.resource("auth.service-us-east-1").unwrap();
    assert!(
        service.depends_on.iter().any(|d| d == "auth.rule-http-us-east-1"),
        "{:?}",
        service.depends_on
    );
    // Its 5XX alarm counts its own target groups, not the shared balancer's.
    let alarm = props("observability.alarm-auth-5xx").to_string();
    assert!(
        alarm.contains("auth.tg-blue-us-east-1") && alarm.contains("auth.tg-green-us-east-1"),
        "{alarm}"
    );
    let subnets: Vec<String> = plan
        .resources
        .iter()
        .filter(|r| r.kind == "aws.ec2.subnet")
        .map(|r| r.properties.to_json()["cidr_block"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        subnets,
        [
            "10.0.0.0/24",
            "10.0.10.0/24",
            "10.0.1.0/24",
            "10.0.11.0/24",
            "10.0.2.0/24",
            "10.0.12.0/24"
        ]
    );

    // Mistakes, named at their setting.
    let auth = "shared_load_balancer = { service = \"api\", priority = 10, paths = [\"/auth\", \"/auth/*\"] }";
    assert!(text.contains(auth));
    for (change, says) in [
        (
            "shared_load_balancer = { service = \"api\", priority = 10 }",
            "plugins.auth.config.shared_load_balancer: give `paths` or `hosts`",
        ),
        (
            "shared_load_balancer = { service = \"notification\", priority = 10, paths = [\"/a/*\"] }",
            "`notification` is on another service's load balancer itself",
        ),
        (
            "shared_load_balancer = { service = \"api\", priority = 10, paths = [\"/a\", \"/b\", \"/c\", \"/d\"] }",
            "at most 3 paths (AWS's limit of values per listener rule condition), not 4",
        ),
        (
            "shared_load_balancer = { service = \"api\", priority = 10, paths = [\"/a\", \"/b\", \"/c\"], hosts = [\"a.example.com\", \"b.example.com\", \"c.example.com\"] }",
            "at most 5 paths and hosts in all",
        ),
        (
            "shared_load_balancer = { service = \"api\", priority = 10, paths = [\"auth/*\"] }",
            "a path pattern starts with `/`",
        ),
        (
            "shared_load_balancer = { service = \"api\", priority = 10, paths = [\"/a\"] }\nload_balancer = \"internal\"",
            "a service on a shared load balancer has the scheme of `api`'s",
        ),
    ] {
        let e = plan_error(&text.replace(auth, change), Some("production"));
        assert!(e.contains(says), "{change}: {e}");
    }
    let public = "public_subnet_cidrs = [\"10.0.0.0/24\", \"10.0.1.0/24\", \"10.0.2.0/24\"]";
    assert!(text.contains(public));
    for (change, says) in [
        (
            "public_subnet_cidrs = [\"10.0.0.0/24\", \"10.0.1.0/24\"]",
            "2 subnets for 3 availability zones",
        ),
        (
            "public_subnet_cidrs = [\"10.0.0.0/24\", \"10.0.1.0/24\", \"10.1.2.0/24\"]",
            "`10.1.2.0/24` is outside the VPC (10.0.0.0/16",
        ),
        (
            "public_subnet_cidrs = [\"10.0.0.0/24\", \"10.0.1.0/24\", \"10.0.10.0/23\"]",
            "`10.0.10.0/24` overlaps `10.0.10.0/23`",
        ),
        (
            "public_subnet_cidrs = [\"10.0.0.0/24\", \"10.0.1.128/24\", \"10.0.2.0/24\"]",
            "`10.0.1.128/24` does not start on a /24 boundary",
        ),
        (
            "public_subnet_cidrs = [\"10.0.0.0/24\", \"10.0.1.0/29\", \"10.0.2.0/24\"]",
            "EC2 takes subnets from /16 to /28",
        ),
    ] {
        let e = plan_error(&text.replace(public, change), Some("production"));
        assert!(e.contains(says), "{change}: {e}");
    }
}

/// The swap a team makes: ml-api's `db` is `database` (RDS, multi-AZ) in
/// prod and `aurora` (Serverless v2) in dev, with `api` unchanged. The
/// swapped-in plugin gets only the environment's configuration, and a
/// consumer that imports an export the plugin lacks fails the plan naming
/// both plugins.
#[test]
fn an_environment_swaps_the_database_plugin_and_its_consumers_do_not_change() {
    use crate::support::{plan_error, plan_text};
    let text = std::fs::read_to_string(root().join("blueprints/ml-api.toml")).unwrap();
    let dev = plan_text(&text, Some("dev")).unwrap();
    let prod = plan_text(&text, Some("prod")).unwrap();
    let kinds = |plan: &platform::plan::Plan| -> Vec<String> {
        let mut k: Vec<String> = plan
            .resources
            .iter()
            .filter(|r| r.id.starts_with("db."))
            .map(|r| format!("{} {}", r.id, r.kind))
            .collect();
        k.sort();
        k
    };
    assert_eq!(
        kinds(&dev),
        [
            "db.cluster aws.rds.db-cluster",
            "db.credentials aws.secretsmanager.secret",
            "db.instance-writer aws.rds.cluster-instance",
            "db.subnets aws.rds.db-subnet-group",
        ]
    );
    assert!(kinds(&prod).contains(&"db.instance aws.rds.db-instance".to_string()));
    let cluster = dev.resource("db.cluster").unwrap().properties.to_json();
    assert_eq!(cluster["engine"], "aurora-postgresql");
    assert_eq!(
        cluster["serverless_v2"],
        serde_json::json!({ "min_capacity": 0.5, "max_capacity": 2.0 })
    );
    assert_eq!(cluster["storage_encrypted"], true);
    // The same service configuration reads the cluster's endpoint and the
    // same kind of secret.
    let task = dev
        .resource("api.task-us-east-1")
        .unwrap()
        .properties
        .to_json()
        .to_string();
    assert!(task.contains("db.cluster") && task.contains("\"endpoint\""), "{task}");
    assert!(task.contains("db.credentials"), "{task}");

    // A consumer of an export the swapped-in plugin lacks.
    let broken = text.replace(
        "[env.dev.plugins.db]\nplugin = \"aurora\"\n\n[env.dev.plugins.db.config]\nmin_capacity = 0.5\nmax_capacity = 2\n",
        "[env.dev.plugins.db]\nplugin = \"network\"\n",
    );
    assert_ne!(broken, text);
    let e = plan_error(&broken, Some("dev"));
    assert!(
        e.contains("plugin instance `api` (service 0.1.0): instance `db` (plugin `network`) has no export `endpoint`"),
        "{e}"
    );
}

/// Seed 003's pipeline: a build per service pushing to exactly that
/// service's repository, tests, approval in production, and with `deploy`
/// a stage running `platform deploy` with the images of the commit.
#[test]
fn the_pipeline_builds_each_service_and_deploys_with_platform() {
    use crate::support::{plan_error, plan_text};
    let text = std::fs::read_to_string(root().join("blueprints/microservices.toml")).unwrap();
    let with_deploy = text.replace(
        "artifact_expire_days = 30\n",
        "artifact_expire_days = 30\ndeploy = { blueprint = \"blueprints/microservices.toml\", environment = \"production\", install = \"pip install platform-cli\", policy_arns = [\"arn:aws:iam::123456789012:policy/microservices-deploy\"] }\n",
    );
    assert_ne!(with_deploy, text);
    let plan = plan_text(&with_deploy, Some("production")).unwrap();
    let props = |id: &str| {
        plan.resource(id)
            .unwrap_or_else(|| panic!("no {id}"))
            .properties
            .to_json()
    };
    let pipeline = props("pipeline.pipeline");
    let stages: Vec<&str> = pipeline["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["Source", "Build", "Test", "Approval", "Deploy"]);
    let builds: Vec<&str> = pipeline["stages"][1]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        builds,
        ["api", "auth", "notification"],
        "one build per service, in parallel"
    );
    let auth = props("pipeline.build-auth");
    assert_eq!(auth["environment"]["privileged_mode"], true);
    assert_eq!(auth["environment"]["variables"]["CONTEXT"], "services/auth");
    assert!(
        auth["environment"]["variables"]["REPOSITORY_URI"]
            .to_string()
            .contains("auth.repository")
    );
    let push = props("pipeline.build-role")["inline_policy"]["Statement"][3].clone();
    let pushed = push["Resource"].to_string();
    for service in ["api", "auth", "notification"] {
        assert!(pushed.contains(&format!("{service}.repository")), "{pushed}");
    }
    assert!(
        !push.to_string().contains("\"*\""),
        "pushes only to the services' repositories: {push}"
    );
    let deploy = props("pipeline.deploy");
    let spec = deploy["source"]["buildspec"].as_str().unwrap();
    assert!(
        spec.contains("platform deploy \"$BLUEPRINT\" --env \"$ENVIRONMENT\" --yes --image api=\"$API_REPOSITORY_URI:$TAG\" --image auth=\"$AUTH_REPOSITORY_URI:$TAG\" --image notification=\"$NOTIFICATION_REPOSITORY_URI:$TAG\""),
        "{spec}"
    );
    assert!(spec.contains("- \"pip install platform-cli\""), "{spec}");
    assert_eq!(deploy["environment"]["variables"]["ENVIRONMENT"], "production");
    assert_eq!(
        props("pipeline.deploy-role")["managed_policy_arns"],
        serde_json::json!(["arn:aws:iam::123456789012:policy/microservices-deploy"])
    );
    let starts = props("pipeline.pipeline-role")["inline_policy"]["Statement"][3]["Resource"].clone();
    assert_eq!(
        starts.as_array().unwrap().len(),
        5,
        "three builds, the tests and the deploy: {starts}"
    );
    let staging = plan_text(&text, Some("staging")).unwrap();
    let stages = staging.resource("pipeline.pipeline").unwrap().properties.to_json()["stages"].clone();
    assert_eq!(
        stages.as_array().unwrap().len(),
        3,
        "no approval and no deploy in staging: {stages}"
    );

    let services = "services = [\"api\", \"auth\", \"notification\"]";
    for (old, change, says) in [
        (
            services,
            "services = [\"api\", \"auth\", \"api\"]",
            "plugins.pipeline.config.services.2: `api` is listed twice",
        ),
        (
            "context = \"services/{service}\"",
            "context = \"services/app\"",
            "the build context must contain {service}",
        ),
        (
            services,
            "services = [\"api\", \"auth\", \"network\"]",
            "instance `network` (plugin `network`) has no export `repository`",
        ),
    ] {
        // The pipeline's settings (observability lists the services too).
        let (old, change) = if old == services {
            (format!("{old}\ncontext"), format!("{change}\ncontext"))
        } else {
            (old.to_string(), change.to_string())
        };
        let changed = text.replacen(&old, &change, 1);
        assert_ne!(changed, text, "{change}");
        let e = plan_error(&changed, Some("production"));
        assert!(e.contains(says), "{change}: {e}");
    }
}

/// The security defaults the seeds rely on, in every environment of every
/// shipped blueprint: only load balancers are open to the internet, and only
/// on 80 and 443; databases are private and encrypted; buckets are private;
/// logs expire; no role may do everything; a role reads only the secrets and
/// parameters of its own instance (or of the database it was given), never
/// `*`.
#[test]
fn security_defaults_hold_in_every_environment_of_every_blueprint() {
    let (mut checked, mut open_rules, mut secret_reads) = (0, 0, 0);
    let mut files: Vec<_> = std::fs::read_dir(root().join("blueprints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let blueprint = Blueprint::load(&file).unwrap();
        for env in blueprint.env_names() {
            let plan = platform::compose::compose(
                runtime(),
                &blueprint.resolve(env).unwrap(),
                platform::providers::registry::registry(),
            )
            .unwrap();
            let at = format!("{} {env}", file.file_name().unwrap().to_string_lossy());
            let databases: Vec<&str> = plan
                .plugins
                .iter()
                .filter(|p| p.plugin == "database" || p.plugin == "aurora")
                .map(|p| p.instance.as_str())
                .collect();
            for r in &plan.resources {
                let p = r.properties.to_json();
                match r.kind.as_str() {
                    "aws.ec2.security-group" => {
                        for rule in p["ingress"].as_array().into_iter().flatten() {
                            if rule["cidr_ipv4"] == "0.0.0.0/0" || rule["cidr_ipv6"] == "::/0" {
                                open_rules += 1;
                                assert!(
                                    r.id.starts_with("network.sg-lb-"),
                                    "{at}: {} is open to the internet",
                                    r.id
                                );
                                assert!(
                                    [80, 443].contains(&rule["from_port"].as_i64().unwrap_or(0))
                                        && rule["from_port"] == rule["to_port"],
                                    "{at}: {} opens {rule} to the internet",
                                    r.id
                                );
                            }
                        }
                    }
                    "aws.rds.db-instance" => {
                        assert_eq!(p["publicly_accessible"], false, "{at}: {}", r.id);
                        assert_eq!(p["storage_encrypted"], true, "{at}: {}", r.id);
                    }
                    "aws.rds.db-cluster" => assert_eq!(p["storage_encrypted"], true, "{at}: {}", r.id),
                    "aws.s3.bucket" => {
                        assert_ne!(p["block_public_access"], false, "{at}: {}", r.id);
                        assert_ne!(p["versioning"], false, "{at}: {}", r.id);
                    }
                    "aws.logs.log-group" => {
                        assert!(p["retention_in_days"].is_i64(), "{at}: {} keeps logs forever", r.id)
                    }
                    "aws.iam.role" => {
                        let statements = p["inline_policy"]["Statement"].as_array().cloned().unwrap_or_default();
                        for s in &statements {
                            let actions: Vec<String> = match &s["Action"] {
                                serde_json::Value::String(a) => vec![a.clone()],
                                serde_json::Value::Array(a) => {
                                    a.iter().filter_map(|a| a.as_str().map(str::to_string)).collect()
                                }
                                _ => Vec::new(),
                            };
                            let resources: Vec<serde_json::Value> = match &s["Resource"] {
                                serde_json::Value::Array(a) => a.clone(),
                                other => vec![other.clone()],
                            };
                            let everywhere = resources.iter().any(|v| v == "*");
                            assert!(
                                !(everywhere && actions.iter().any(|a| a == "*" || a.ends_with(":*"))),
                                "{at}: {} may do {actions:?} on everything",
                                r.id
                            );
                            let reads_secrets = actions
                                .iter()
                                .any(|a| a == "secretsmanager:GetSecretValue" || a.starts_with("ssm:GetParameter"));
                            if !reads_secrets {
                                continue;
                            }
                            secret_reads += 1;
                            assert!(!everywhere, "{at}: {} reads every secret or parameter", r.id);
                            for v in &resources {
                                let text = v.to_string();
                                let owners: Vec<&str> = text
                                    .split("\"resource\":\"")
                                    .skip(1)
                                    .filter_map(|rest| rest.split('.').next())
                                    .collect();
                                if owners.is_empty() {
                                    assert!(
                                        v.as_str().is_some_and(|a| a.starts_with("arn:")),
                                        "{at}: {} reads {v}",
                                        r.id
                                    );
                                }
                                for owner in owners {
                                    assert!(
                                        owner == r.instance || databases.contains(&owner),
                                        "{at}: {} reads a secret or parameter of `{owner}`: {v}",
                                        r.id
                                    );
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 9, "{checked} environments");
    // The checks saw what they check.
    assert!(
        open_rules > 0 && secret_reads > 0,
        "{open_rules} open rules, {secret_reads} secret reads"
    );
}
