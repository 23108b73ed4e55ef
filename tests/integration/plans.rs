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
