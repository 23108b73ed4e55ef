//! What AWS does and moto does not: each defect these tests cover was found
//! by reading the AWS API references and public issue trackers against the
//! plugins and providers (docs/aws-behaviours.md). Plan-level tests check
//! what the plugins ask AWS for; the end-to-end tests run `up` and `down`
//! through the AWS-behaviour layer of the test proxy (host/src/testing.rs),
//! which makes moto behave as AWS does.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::emulator::Moto;
use crate::support::{cache_dir, plan_error, plan_text, root, rt, scratch};
use platform::plan::Plan;
use platform::testing::{Behaviours, FaultProxy, Faults};

fn blueprint(name: &str) -> String {
    std::fs::read_to_string(root().join("blueprints").join(name)).unwrap()
}

fn plan(name: &str, env: &str) -> Plan {
    plan_text(&blueprint(name), Some(env)).unwrap_or_else(|e| panic!("{name} {env} plans: {e}"))
}

/// A resource's properties as JSON (references as `{"$ref": ...}`).
fn props(plan: &Plan, id: &str) -> Json {
    plan.resource(id)
        .unwrap_or_else(|| panic!("the plan has no {id}"))
        .properties
        .to_json()
}

fn reference(resource: &str, attribute: &str) -> Json {
    json!({ "$ref": { "resource": resource, "attribute": attribute } })
}

#[test]
fn databases_default_to_a_major_version_with_minor_upgrades() {
    // RDS retires minor versions (16.4, 8.0.39) and then refuses them.
    let prod = plan("ml-api.toml", "prod");
    let db = props(&prod, "db.instance");
    assert_eq!(db["engine_version"], "16");
    assert_eq!(db["auto_minor_version_upgrade"], true);
    let mysql = blueprint("ml-api.toml").replace("engine = \"postgres\"", "engine = \"mysql\"");
    let plan = plan_text(&mysql, Some("prod")).unwrap();
    assert_eq!(props(&plan, "db.instance")["engine_version"], "8.0");
    // A pinned version stays possible.
    let pinned = blueprint("ml-api.toml").replace(
        "engine = \"postgres\"",
        "engine = \"postgres\"\nengine_version = \"16.6\"",
    );
    let plan = plan_text(&pinned, Some("prod")).unwrap();
    assert_eq!(props(&plan, "db.instance")["engine_version"], "16.6");
}

#[test]
fn a_cross_region_replica_names_a_key_of_its_region() {
    let prod = plan("ml-api.toml", "prod");
    let replica = prod.resource("db.replica").unwrap();
    assert_eq!(replica.region, "us-east-2");
    assert_eq!(replica.properties.to_json()["kms_key_id"], "alias/aws/rds");
    // A key of the team's own.
    let text = blueprint("ml-api.toml").replace(
        "replica_region = \"us-east-2\"",
        "replica_region = \"us-east-2\"\nreplica_kms_key_id = \"alias/ml-api-replica\"",
    );
    let plan = plan_text(&text, Some("prod")).unwrap();
    assert_eq!(props(&plan, "db.replica")["kms_key_id"], "alias/ml-api-replica");
    // In the source's region RDS refuses a key: none is sent.
    let same = blueprint("ml-api.toml").replace("replica_region = \"us-east-2\"", "replica_region = \"us-east-1\"");
    let plan = plan_text(&same, Some("prod")).unwrap();
    assert_eq!(props(&plan, "db.replica").get("kms_key_id"), None);
}

#[test]
fn failover_records_rely_on_their_health_checks_not_on_target_health() {
    // The idle colour's empty target group makes an ALB's target health
    // unhealthy: evaluating it would keep both records unhealthy forever.
    let prod = plan("ml-api.toml", "prod");
    for role in ["primary", "secondary"] {
        let record = props(&prod, &format!("dns.record-{role}"));
        assert_eq!(record["alias_target"]["evaluate_target_health"], false, "{role}");
        assert_eq!(
            record["health_check_id"],
            reference(&format!("dns.health-{role}"), "id")
        );
    }
}

#[test]
fn alarms_and_scaling_follow_whichever_colour_serves() {
    let prod = plan("ml-api.toml", "prod");
    let both = |region: &str| {
        vec![
            reference(&format!("api.tg-blue-{region}"), "arn_suffix"),
            reference(&format!("api.tg-green-{region}"), "arn_suffix"),
        ]
    };
    let target_groups = |metrics: &Json| -> Vec<Json> {
        metrics
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["dimensions"].as_array())
            .flat_map(|d| {
                d.iter()
                    .filter(|d| d["name"] == "TargetGroup")
                    .map(|d| d["value"].clone())
            })
            .collect()
    };
    for (region, suffix) in [("us-east-1", ""), ("us-east-2", "-us-east-2")] {
        let alarm = props(&prod, &format!("observability.alarm-api-healthy-hosts{suffix}"));
        assert_eq!(target_groups(&alarm["metrics"]), both(region), "{region}");
        assert!(alarm.get("metric_name").is_none());
        let policy = props(&prod, &format!("api.scaling-requests-{region}"));
        // Requests and healthy hosts, each of both colours.
        let mut doubled = both(region);
        doubled.extend(both(region));
        assert_eq!(target_groups(&policy["metrics"]), doubled, "{region}");
        assert!(policy.get("resource_label").is_none());
        let serving: Vec<&Json> = policy["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["return_data"] == true)
            .collect();
        assert_eq!(serving.len(), 1);
        assert_eq!(
            serving[0]["expression"],
            "(FILL(rb,0)+FILL(rg,0))/(FILL(hb,0)+FILL(hg,0))"
        );
    }
}

#[test]
fn every_region_a_service_runs_in_has_its_alarms_and_topic() {
    // A rollout's alarm gate in us-east-2 reads the alarms of us-east-2.
    let prod = plan("ml-api.toml", "prod");
    for name in ["5xx", "healthy-hosts", "running-tasks", "cpu"] {
        let id = format!("observability.alarm-api-{name}-us-east-2");
        let alarm = prod.resource(&id).unwrap_or_else(|| panic!("no {id}"));
        assert_eq!(alarm.region, "us-east-2");
        assert_eq!(
            alarm.properties.to_json()["alarm_actions"],
            json!([reference("observability.alarms-topic-us-east-2", "arn")])
        );
        assert_eq!(
            prod.resource(&format!("observability.alarm-api-{name}"))
                .unwrap()
                .region,
            "us-east-1"
        );
    }
    assert_eq!(
        prod.resource("observability.email-0-us-east-2").unwrap().region,
        "us-east-2"
    );
}

#[test]
fn the_secondary_region_reaches_the_database_without_the_primary() {
    let prod = plan("ml-api.toml", "prod");
    // Security groups cannot be referenced across an inter-region peering:
    // each database group admits the other VPC's CIDR on the database port.
    for (region, peer_cidr) in [("us-east-1", "10.1.0.0/16"), ("us-east-2", "10.0.0.0/16")] {
        let sg = props(&prod, &format!("network.sg-db-{region}"));
        let ingress = sg["ingress"].as_array().unwrap();
        assert!(
            ingress
                .iter()
                .any(|r| r["cidr_ipv4"] == peer_cidr && r["from_port"] == 5432),
            "{region}: {ingress:?}"
        );
    }
    // The secret is replicated to the replica's region and the tasks there
    // read it there, and read from the replica there (writes go to the
    // primary, as before).
    assert_eq!(props(&prod, "db.credentials")["replica_regions"], json!(["us-east-2"]));
    let task = props(&prod, "api.task-us-east-2");
    let app = &task["containers"][0];
    let env_var = |name: &str| {
        app["environment"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
    };
    assert_eq!(env_var("DATABASE_HOST"), Some(reference("db.instance", "address")));
    assert_eq!(
        env_var("DATABASE_READER_HOST"),
        Some(reference("db.replica", "address"))
    );
    let secret = app["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "DATABASE_SECRET")
        .unwrap();
    assert_eq!(secret["value_from"], reference("db.credentials", "replica_arn"));
    // The primary region is as it was: the writer, the primary secret.
    let primary = props(&prod, "api.task-us-east-1");
    let primary_env = primary["containers"][0]["environment"].as_array().unwrap().clone();
    assert!(primary_env.iter().all(|e| e["name"] != "DATABASE_READER_HOST"));
    // The execution role may read both (besides the service's own secret).
    let policy = props(&prod, "api.execution-role")["inline_policy"].clone();
    let readable = policy["Statement"][0]["Resource"].as_array().unwrap().clone();
    for r in [
        reference("db.credentials", "arn"),
        reference("db.credentials", "replica_arn"),
    ] {
        assert!(readable.contains(&r), "{r} in {readable:?}");
    }
}

#[test]
fn teardown_order_follows_what_aws_keeps_busy() {
    let prod = plan("ml-api.toml", "prod");
    for region in ["us-east-1", "us-east-2"] {
        // Tasks registered in Cloud Map: the ECS service goes first.
        let service = prod.resource(&format!("api.service-{region}")).unwrap();
        assert!(
            service.depends_on.contains(&format!("api.discovery-{region}")),
            "{:?}",
            service.depends_on
        );
        // Public subnets come after the internet gateway (an internet-facing
        // ALB needs it attached), so the gateway is detached after them.
        let subnet = prod.resource(&format!("network.public-a-{region}")).unwrap();
        assert!(
            subnet.depends_on.contains(&format!("network.igw-{region}")),
            "{:?}",
            subnet.depends_on
        );
    }
}

#[test]
fn subnets_name_the_regions_nth_zone_not_a_letter() {
    // Zone letters differ by account: the host resolves the index.
    let prod = plan("ml-api.toml", "prod");
    let subnet = props(&prod, "network.private-c-us-east-2");
    assert_eq!(subnet["availability_zone_index"], 2);
    assert!(subnet.get("availability_zone").is_none());
}

#[test]
fn one_availability_zone_is_refused_where_aws_needs_two() {
    let text = blueprint("ml-api.toml").replace("az_count = 3", "az_count = 1");
    let err = plan_error(&text, Some("prod"));
    assert!(err.contains("needs subnets in two availability zones"), "{err}");
    assert!(err.contains("az_count"), "{err}");
}

#[test]
fn a_bake_probe_that_could_never_reach_the_test_listener_is_refused() {
    // The probe runs where `up` runs; the test listener is open to the VPC.
    let text = blueprint("ml-api.toml").replace("bake_seconds = 300", "bake_seconds = 300\nprobe_path = \"/healthz\"");
    let err = plan_error(&text, Some("prod"));
    assert!(
        err.contains("deployment.probe_path: the bake probe") && err.contains("test_listener_cidrs"),
        "{err}"
    );
    let open = text.replace(
        "nat_gateways = \"per-az\"",
        "nat_gateways = \"per-az\"\ntest_listener_cidrs = [\"203.0.113.0/24\"]",
    );
    let plan = plan_text(&open, Some("prod")).unwrap();
    let ingress = props(&plan, "network.sg-lb-us-east-1")["ingress"].clone();
    assert!(
        ingress
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["cidr_ipv4"] == "203.0.113.0/24" && r["from_port"] == 9001),
        "{ingress}"
    );
}

// ---------------------------------------------------------------------
// End to end, through the AWS-behaviour layer.

/// Every resource tagged `platform:blueprint = blueprint` and still live
/// (tombstones of NAT gateways, peerings and ECS resources left out).
fn live_tagged(moto: &Moto, blueprint: &str, regions: &[&str]) -> Vec<String> {
    rt().block_on(async {
        let mut live = Vec::new();
        for region in regions {
            let sdk = moto.sdk(region).await;
            let out = aws_sdk_resourcegroupstagging::Client::new(&sdk)
                .get_resources()
                .tag_filters(
                    aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                        .key("platform:blueprint")
                        .values(blueprint)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            for arn in out.resource_tag_mapping_list().iter().filter_map(|m| m.resource_arn()) {
                if !crate::deploy::gone(moto, arn).await {
                    live.push(arn.to_string());
                }
            }
        }
        live
    })
}

/// `up` then `down` of one blueprint environment through a proxy with
/// `behaviours` on; returns how long `up` took and the rules that acted.
fn up_and_down(
    name: &str,
    blueprint: &str,
    env: &str,
    regions: &[&str],
    behaviours: Behaviours,
) -> (Duration, Vec<(String, u64)>) {
    let bench = Bench::start(name, behaviours);
    let path = format!("blueprints/{blueprint}");
    let started = Instant::now();
    let up = bench.run(&["up", &path, "--env", env, "--yes"], &[]);
    let took = started.elapsed();
    assert!(
        up.status.success(),
        "up {blueprint} {env} failed:\n{}",
        text_of(&up.stderr)
    );
    let down = bench.run(&["down", &path, "--env", env, "--yes"], &[]);
    assert!(
        down.status.success(),
        "down {blueprint} {env} failed:\n{}",
        text_of(&down.stderr)
    );
    let project = blueprint.trim_end_matches(".toml");
    assert_eq!(
        live_tagged(&bench.moto, project, regions),
        Vec::<String>::new(),
        "left behind"
    );
    let fired = platform::testing::RULES
        .iter()
        .map(|(rule, _)| (rule.to_string(), bench.proxy.counters.fired(rule)))
        .collect();
    (took, fired)
}

#[test]
fn ml_api_prod_converges_with_every_aws_behaviour_on() {
    let window = Duration::from_secs(10);
    let (took, fired) = up_and_down(
        "behaviours-ml-api",
        "ml-api.toml",
        "prod",
        &["us-east-1", "us-east-2"],
        Behaviours::all(window),
    );
    eprintln!("ml-api prod up through every behaviour: {took:?}; rules: {fired:?}");
    let acted = |rule: &str| fired.iter().find(|(r, _)| r == rule).map_or(0, |(_, n)| *n);
    // What a correct run meets on AWS: each rule must have acted, or this
    // test proves nothing about it.
    for rule in [
        "iam-propagation",
        "lingering-enis",
        "peering-initiating",
        "pending-unsubscribe",
        "ecs-draining",
        "eventual-consistency",
        "ssm-read-after-write",
        "secret-replication",
    ] {
        assert!(acted(rule) > 0, "rule {rule} never acted: {fired:?}");
    }
    // Preflight asked which engine versions RDS offers (the rule answers
    // that), and the replica named a key: nothing was refused (`up` passed).
    assert!(acted("retired-engine-versions") > 0, "{fired:?}");
    assert_eq!(acted("replica-needs-kms"), 0, "{fired:?}");
}

#[test]
fn microservices_production_converges_with_every_aws_behaviour_on() {
    let (took, fired) = up_and_down(
        "behaviours-microservices",
        "microservices.toml",
        "production",
        &["us-east-1"],
        Behaviours::all(Duration::from_secs(10)),
    );
    eprintln!("microservices production up through every behaviour: {took:?}; rules: {fired:?}");
    let acted = |rule: &str| fired.iter().find(|(r, _)| r == rule).map_or(0, |(_, n)| *n);
    for rule in [
        "iam-propagation",
        "lingering-enis",
        "pending-unsubscribe",
        "ecs-draining",
        "eventual-consistency",
    ] {
        assert!(acted(rule) > 0, "rule {rule} never acted: {fired:?}");
    }
}

/// An emulator with the behaviour proxy in front, and a scratch state.
struct Bench {
    moto: Moto,
    proxy: FaultProxy,
    state: std::path::PathBuf,
    _runtime: tokio::runtime::Runtime,
}

impl Bench {
    fn start(name: &str, behaviours: Behaviours) -> Bench {
        let moto = Moto::start(2);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let backend = moto.endpoint.trim_start_matches("http://").to_string();
        let proxy = runtime
            .block_on(FaultProxy::start(
                backend,
                Faults {
                    behaviours,
                    ..Faults::default()
                },
            ))
            .unwrap();
        Bench {
            moto,
            proxy,
            state: scratch(name),
            _runtime: runtime,
        }
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_platform"));
        cmd.args(args)
            .arg("--state-dir")
            .arg(&self.state)
            .current_dir(root())
            .env("PLATFORM_CACHE_DIR", cache_dir());
        self.moto.configure(&mut cmd);
        cmd.env("AWS_ENDPOINT_URL", &self.proxy.endpoint);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run platform")
    }
}

#[test]
fn a_retired_engine_version_is_refused_before_anything_changes() {
    let bench = Bench::start(
        "behaviours-retired",
        Behaviours {
            retired_engine_versions: true,
            ..Behaviours::default()
        },
    );
    // The old default, pinned.
    let text = blueprint("ml-api.toml").replace(
        "[env.local.plugins.db.config]\n",
        "[env.local.plugins.db.config]\nengine_version = \"16.4\"\n",
    );
    let path = bench.state.join("ml-api.toml");
    std::fs::write(&path, &text).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("engine_version = \"16.4\""))
        .unwrap()
        + 1;
    let up = bench.run(&["up", path.to_str().unwrap(), "--env", "local", "--yes"], &[]);
    let err = text_of(&up.stderr);
    assert_eq!(up.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("ml-api.toml:{line}:1: preflight: db.instance (plugin instance `db`): RDS in us-east-1 offers no postgres version 16.4")),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(live_tagged(&bench.moto, "ml-api", &["us-east-1"]), Vec::<String>::new());
    // The default (a major version) passes the same check.
    let up = bench.run(
        &[
            "plan",
            "blueprints/ml-api.toml",
            "--env",
            "local",
            "--preflight",
            "--compact",
        ],
        &[],
    );
    assert!(up.status.success(), "{}", text_of(&up.stderr));
    assert!(bench.proxy.counters.fired("retired-engine-versions") >= 2);
}

fn text_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_secret_name_freed_moments_ago_is_taken_again_once_free() {
    let bench = Bench::start(
        "behaviours-secret",
        Behaviours {
            secret_name_reuse: Some(Duration::from_secs(3)),
            ..Behaviours::default()
        },
    );
    let args = |cmd: &'static str| [cmd, "blueprints/ml-api.toml", "--env", "local", "--yes"];
    for cmd in ["up", "down", "up", "down"] {
        let out = bench.run(&args(cmd), &[]);
        assert!(out.status.success(), "{cmd}: {}", text_of(&out.stderr));
    }
    assert!(bench.proxy.counters.fired("secret-name-reuse") > 0);
}

#[test]
fn lingering_network_interfaces_are_waited_for_and_named_when_time_runs_out() {
    let bench = Bench::start(
        "behaviours-enis",
        Behaviours {
            lingering_enis: Some(Duration::from_secs(20)),
            ..Behaviours::default()
        },
    );
    let up = bench.run(&["up", "blueprints/ml-api.toml", "--env", "local", "--yes"], &[]);
    assert!(up.status.success(), "{}", text_of(&up.stderr));
    // A dependency limit shorter than AWS takes: down fails, naming why.
    let down = bench.run(
        &["down", "blueprints/ml-api.toml", "--env", "local", "--yes"],
        &[("PLATFORM_DEPENDENCY_TIMEOUT_SECS", "1")],
    );
    let err = text_of(&down.stderr);
    assert_eq!(down.status.code(), Some(1), "{err}");
    assert!(err.contains("DependencyViolation"), "{err}");
    assert!(err.contains("(still failing after retrying for "), "{err}");
    // The interfaces in the way are named (the emulator keeps a deleted NAT
    // gateway's), or it says there are none left.
    assert!(
        err.contains("network interfaces still there: eni-") || err.contains("no network interface is listed any more"),
        "{err}"
    );
    // With the default limit, the next down waits them out.
    let down = bench.run(&["down", "blueprints/ml-api.toml", "--env", "local", "--yes"], &[]);
    assert!(down.status.success(), "{}", text_of(&down.stderr));
    assert_eq!(live_tagged(&bench.moto, "ml-api", &["us-east-1"]), Vec::<String>::new());
    assert!(bench.proxy.counters.fired("lingering-enis") > 0);
}

#[test]
fn a_peering_left_pending_by_an_interrupted_run_is_accepted_when_adopted() {
    // The peering takes longer to reach the peer region than this run
    // waits: it is left requested, not accepted, and `up` fails naming it.
    let bench = Bench::start(
        "behaviours-peering",
        Behaviours {
            peering_initiating: Some(Duration::from_secs(6)),
            ..Behaviours::default()
        },
    );
    let args = ["up", "blueprints/ml-api.toml", "--env", "prod", "--yes"];
    let up = bench.run(&args, &[("PLATFORM_CONSISTENCY_TIMEOUT_SECS", "1")]);
    let err = text_of(&up.stderr);
    assert_eq!(up.status.code(), Some(1), "{err}");
    assert!(err.contains("network.peering-us-east-2"), "{err}");
    assert!(err.contains("did not happen within 1s"), "{err}");
    // The next run finds it (by its tag), accepts it and carries on.
    let up = bench.run(&args, &[]);
    let err = text_of(&up.stderr);
    assert!(up.status.success(), "{err}");
    assert!(err.contains("network.peering-us-east-2 adopted"), "{err}");
    let active = rt().block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&bench.moto.sdk("us-east-2").await);
        let out = ec2.describe_vpc_peering_connections().send().await.unwrap();
        out.vpc_peering_connections()
            .iter()
            .filter(|p| p.status().and_then(|s| s.code()).map(|c| c.as_str()) == Some("active"))
            .count()
    });
    assert_eq!(active, 1);
    let down = bench.run(&["down", "blueprints/ml-api.toml", "--env", "prod", "--yes"], &[]);
    assert!(down.status.success(), "{}", text_of(&down.stderr));
}

#[test]
fn a_role_that_never_becomes_usable_fails_naming_what_aws_said() {
    // CreateFlowLogs reports the role per resource (`Unsuccessful`), not as
    // an error: that message is what the failure must say.
    let bench = Bench::start(
        "behaviours-role",
        Behaviours {
            iam_propagation: Some(Duration::from_secs(60)),
            ..Behaviours::default()
        },
    );
    let up = bench.run(
        &["up", "blueprints/ml-api.toml", "--env", "dev", "--yes"],
        &[("PLATFORM_CONSISTENCY_TIMEOUT_SECS", "1")],
    );
    let err = text_of(&up.stderr);
    assert_eq!(up.status.code(), Some(1), "{err}");
    assert!(
        err.contains("network.flow-log-us-east-1 (plugin instance `network`): ec2:CreateFlowLogs failed with InvalidParameter: Unable to assume given IAM role. (still failing after retrying for "),
        "{err}"
    );
    assert!(
        err.contains("ecs:RegisterTaskDefinition failed with ClientException"),
        "{err}"
    );
    // prod's deploy role trusts the GitHub OIDC provider made in the same
    // run: IAM refuses the trust until the provider has propagated.
    let up = bench.run(
        &["up", "blueprints/ml-api.toml", "--env", "prod", "--yes"],
        &[("PLATFORM_CONSISTENCY_TIMEOUT_SECS", "1")],
    );
    let err = text_of(&up.stderr);
    assert_eq!(up.status.code(), Some(1), "{err}");
    assert!(
        err.contains("iam:CreateRole failed with MalformedPolicyDocument: Invalid principal in policy")
            && err.contains("(still failing after retrying for "),
        "{err}"
    );
}

#[test]
fn an_estate_made_by_the_previous_plugins_upgrades_in_place() {
    // Production made before these fixes: subnets named by zone letter, the
    // database on 16.4, the replica without a key, the secret unreplicated,
    // the database group without the peer CIDR, ECS services not ordered
    // after Cloud Map. The next `up` must change them in place: replacing a
    // database, a subnet or a group in use would lose data or fail.
    let bench = Bench::start(
        "behaviours-upgrade",
        Behaviours {
            ecs_draining: Some(Duration::from_secs(3)),
            lingering_enis: Some(Duration::from_secs(3)),
            ..Behaviours::default()
        },
    );
    let bp = "blueprints/ml-api.toml";
    let up = bench.run(&["up", bp, "--env", "prod", "--yes"], &[]);
    assert!(up.status.success(), "{}", text_of(&up.stderr));

    let path = bench.state.join("ml-api.prod.state.json");
    let mut doc: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (id, r) in doc["resources"].as_object_mut().unwrap() {
        let region = r["region"].as_str().unwrap().to_string();
        let kind = r["type"].as_str().unwrap().to_string();
        if kind == "aws.ecs.service" {
            let deps = r["depends_on"].as_array_mut().unwrap();
            deps.retain(|d| !d.as_str().unwrap().starts_with("api.discovery-"));
            continue;
        }
        let props = r["properties"].as_object_mut().unwrap();
        match kind.as_str() {
            "aws.ec2.subnet" => {
                let index = props.remove("availability_zone_index").unwrap().as_u64().unwrap();
                let letter = (b'a' + index as u8) as char;
                props.insert("availability_zone".into(), json!(format!("{region}{letter}")));
            }
            "aws.rds.db-instance" => {
                props.remove("auto_minor_version_upgrade");
                props.remove("kms_key_id");
                if props.contains_key("engine_version") {
                    props.insert("engine_version".into(), json!("16.4"));
                }
            }
            "aws.secretsmanager.secret" => {
                props.remove("replica_regions");
            }
            "aws.ec2.security-group" if id.starts_with("network.sg-db-") => {
                let first = props["ingress"][0].clone();
                props.insert("ingress".into(), json!([first]));
            }
            _ => {}
        }
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();

    let plan = bench.run(&["plan", bp, "--env", "prod", "--compact"], &[]);
    let out = text_of(&plan.stdout);
    assert!(plan.status.success(), "{}", text_of(&plan.stderr));
    assert!(!out.contains("(replace)"), "{out}");
    for line in [
        "~ network.public-a-us-east-1  aws.ec2.subnet  (update in place)",
        "~ db.instance  aws.rds.db-instance  (update in place)",
        "~ db.replica  aws.rds.db-instance  (update in place)",
        "~ db.credentials  aws.secretsmanager.secret  (update in place)",
        "~ network.sg-db-us-east-2  aws.ec2.security-group  (update in place)",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    let up = bench.run(&["up", bp, "--env", "prod", "--yes"], &[]);
    let err = text_of(&up.stderr);
    assert!(up.status.success(), "{err}");
    assert!(err.contains(" 0 replaced, 0 deleted"), "{err}");
    let again = bench.run(&["up", bp, "--env", "prod", "--yes"], &[]);
    assert!(
        text_of(&again.stderr).contains("No changes."),
        "{}",
        text_of(&again.stderr)
    );

    let down = bench.run(&["down", bp, "--env", "prod", "--yes"], &[]);
    assert!(down.status.success(), "{}", text_of(&down.stderr));
    assert_eq!(
        live_tagged(&bench.moto, "ml-api", &["us-east-1", "us-east-2"]),
        Vec::<String>::new()
    );
}
