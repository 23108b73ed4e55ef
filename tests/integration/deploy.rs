//! `up`, `down` and `status` end to end against the AWS emulator.

use std::path::Path;
use std::process::{Command, Output};

use crate::emulator::Moto;
use crate::support::{cache_dir, root, rt, scratch};

fn platform(moto: &Moto, state: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_platform"));
    cmd.args(args)
        .arg("--state-dir")
        .arg(state)
        .current_dir(root())
        .env("PLATFORM_CACHE_DIR", cache_dir());
    moto.configure(&mut cmd);
    cmd.output().expect("run platform")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn journal_lines(state: &Path, env: &str) -> usize {
    std::fs::read_to_string(state.join(format!("ml-api.{env}.journal.jsonl"))).map_or(0, |t| t.lines().count())
}

/// Every resource in the emulator tagged for ml-api, by region.
fn tagged(moto: &Moto, regions: &[&str]) -> Vec<String> {
    tagged_as(moto, "ml-api", regions)
}

/// Every resource in the emulator tagged for `blueprint`, by region.
fn tagged_as(moto: &Moto, blueprint: &str, regions: &[&str]) -> Vec<String> {
    rt().block_on(async {
        let mut arns = Vec::new();
        for region in regions {
            let client = aws_sdk_resourcegroupstagging::Client::new(&moto.sdk(region).await);
            let out = client
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
            arns.extend(
                out.resource_tag_mapping_list()
                    .iter()
                    .filter_map(|m| m.resource_arn().map(str::to_string)),
            );
        }
        let mut live = Vec::new();
        for arn in arns {
            if !gone(moto, &arn).await {
                live.push(arn);
            }
        }
        live
    })
}

/// Whether a resource the tagging API still lists is in a terminal state
/// (AWS, and the emulator, keep deleted NAT gateways and inactive ECS
/// clusters, services and task definitions visible for a while).
pub(crate) async fn gone(moto: &Moto, arn: &str) -> bool {
    let region = arn.split(':').nth(3).unwrap_or("us-east-1");
    let sdk = moto.sdk(region).await;
    let last = arn.rsplit('/').next().unwrap_or_default();
    if arn.contains(":natgateway/") {
        let out = aws_sdk_ec2::Client::new(&sdk)
            .describe_nat_gateways()
            .nat_gateway_ids(last)
            .send()
            .await
            .unwrap();
        return out
            .nat_gateways()
            .iter()
            .all(|n| n.state().map(|s| s.as_str()) == Some("deleted"));
    }
    if arn.contains(":vpc-peering-connection/") {
        let out = aws_sdk_ec2::Client::new(&sdk)
            .describe_vpc_peering_connections()
            .vpc_peering_connection_ids(last)
            .send()
            .await
            .unwrap();
        return out
            .vpc_peering_connections()
            .iter()
            .all(|p| p.status().and_then(|s| s.code()).map(|c| c.as_str()) == Some("deleted"));
    }
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    if arn.contains(":cluster/") {
        let out = ecs.describe_clusters().clusters(arn).send().await.unwrap();
        return out.clusters().iter().all(|c| c.status() == Some("INACTIVE"));
    }
    if arn.contains(":service/") {
        let cluster = arn.split('/').nth(1).unwrap_or_default();
        let out = ecs
            .describe_services()
            .cluster(cluster)
            .services(arn)
            .send()
            .await
            .unwrap();
        return out.services().iter().all(|s| s.status() == Some("INACTIVE"));
    }
    if arn.contains(":task-definition/") {
        let out = ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .unwrap();
        return out.task_definition().and_then(|t| t.status()).map(|s| s.as_str()) == Some("INACTIVE");
    }
    false
}

#[test]
fn up_local_is_idempotent_and_down_leaves_nothing() {
    let moto = Moto::start(1);
    let state = scratch("deploy-local");
    let up = platform(
        &moto,
        &state,
        &["up", "blueprints/ml-api.toml", "--env", "local", "--yes"],
    );
    assert!(up.status.success(), "up failed:\n{}", text(&up.stderr));
    let out = text(&up.stdout);
    assert!(out.contains("Outputs:\n"), "{out}");
    assert!(out.contains("  api.url = http://ml-api-local-api-use1"), "{out}");
    assert!(out.contains("  db.endpoint = "), "{out}");

    // Independent checks with the SDK: the resources exist as planned.
    rt().block_on(async {
        let sdk = moto.sdk("us-east-1").await;
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
        let tag = |id: &str| {
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:platform:id")
                .values(id)
                .build()
        };
        let vpcs = ec2
            .describe_vpcs()
            .filters(tag("network.vpc-us-east-1"))
            .send()
            .await
            .unwrap();
        assert_eq!(vpcs.vpcs().len(), 1);
        assert_eq!(vpcs.vpcs()[0].cidr_block(), Some("10.0.0.0/16"));
        let subnets = ec2
            .describe_subnets()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("vpc-id")
                    .values(vpcs.vpcs()[0].vpc_id().unwrap())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(subnets.subnets().len(), 4, "local: 2 AZs, public and private");
        let rds = aws_sdk_rds::Client::new(&sdk);
        let db = rds
            .describe_db_instances()
            .db_instance_identifier("ml-api-local-db")
            .send()
            .await
            .unwrap();
        let db = &db.db_instances()[0];
        assert_eq!(db.multi_az(), Some(false));
        assert_eq!(db.storage_encrypted(), Some(true));
        assert_eq!(db.publicly_accessible(), Some(false));
        let ecs = aws_sdk_ecs::Client::new(&sdk);
        let svc = ecs
            .describe_services()
            .cluster("ml-api-local-api")
            .services("api")
            .send()
            .await
            .unwrap();
        assert_eq!(svc.services()[0].desired_count(), 1);
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
        // Its name carries a mark of the VPC's range (see the service plugin).
        let lbs = elb.describe_load_balancers().send().await.unwrap();
        let ours: Vec<_> = lbs
            .load_balancers()
            .iter()
            .filter(|l| {
                l.load_balancer_name()
                    .is_some_and(|n| n.starts_with("ml-api-local-api-use1-"))
            })
            .collect();
        assert_eq!(ours.len(), 1, "{lbs:?}");
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(ours[0].load_balancer_arn().unwrap())
            .send()
            .await
            .unwrap();
        let mut ports: Vec<i32> = listeners.listeners().iter().filter_map(|l| l.port()).collect();
        ports.sort();
        assert_eq!(ports, [80, 9001]);
    });

    // A second up changes nothing: no journal entry means no mutating call.
    let before = journal_lines(&state, "local");
    let again = platform(
        &moto,
        &state,
        &["up", "blueprints/ml-api.toml", "--env", "local", "--yes"],
    );
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("No changes."), "{}", text(&again.stderr));
    assert_eq!(journal_lines(&state, "local"), before);

    let status = platform(
        &moto,
        &state,
        &["status", "blueprints/ml-api.toml", "--env", "local", "--json"],
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let resources = status["resources"].as_array().unwrap();
    assert!(resources.iter().all(|r| r["status"] == "created"), "{status}");
    assert!(status["outputs"]["api.url"].as_str().unwrap().starts_with("http://"));
    // No secret value in the state.
    let state_text = std::fs::read_to_string(state.join("ml-api.local.state.json")).unwrap();
    assert!(!state_text.contains("\"password\""), "the state holds a password");

    assert!(!tagged(&moto, &["us-east-1"]).is_empty());
    let down = platform(
        &moto,
        &state,
        &["down", "blueprints/ml-api.toml", "--env", "local", "--yes"],
    );
    assert!(down.status.success(), "down failed:\n{}", text(&down.stderr));
    assert_eq!(
        tagged(&moto, &["us-east-1"]),
        Vec::<String>::new(),
        "tagged resources left after down"
    );
    let roles = rt().block_on(async {
        aws_sdk_iam::Client::new(&moto.sdk("us-east-1").await)
            .list_roles()
            .send()
            .await
            .unwrap()
    });
    assert!(
        roles.roles().iter().all(|r| !r.role_name().starts_with("ml-api-")),
        "roles left after down"
    );
}

#[test]
fn a_second_run_waits_for_no_one_and_names_the_lock_holder() {
    let moto = Moto::start(1);
    let state = scratch("deploy-lock");
    std::fs::create_dir_all(&state).unwrap();
    let store = platform::state::StateStore::new(Some(state.clone()), "ml-api", "local");
    let _held = store.lock("up").unwrap();
    let out = platform(
        &moto,
        &state,
        &["up", "blueprints/ml-api.toml", "--env", "local", "--yes"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "error: the state is locked by `up` (pid {}",
            std::process::id()
        )),
        "{err}"
    );
    assert!(!state.join("ml-api.local.state.json").exists(), "nothing was written");
}

#[test]
fn off_a_terminal_up_refuses_without_yes() {
    let moto = Moto::start(1);
    let state = scratch("deploy-no-yes");
    let out = platform(&moto, &state, &["up", "blueprints/ml-api.toml", "--env", "local"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not on a terminal, so nothing was changed: pass --yes"),
        "{}",
        text(&out.stderr)
    );
    assert!(tagged(&moto, &["us-east-1"]).is_empty());
}

#[test]
fn killed_runs_resume_without_duplicates_or_orphans() {
    let moto = Moto::start(1);
    let state = scratch("deploy-crash");
    // Abort right after the Nth journal event (between an intent and its
    // call, or after a result), several times, then finish.
    for crash_after in [1, 6, 15, 40] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_platform"));
        cmd.args([
            "up",
            "blueprints/ml-api.toml",
            "--env",
            "local",
            "--yes",
            "--parallelism",
            "4",
            "--state-dir",
        ])
        .arg(&state)
        .current_dir(root())
        .env("PLATFORM_CACHE_DIR", cache_dir())
        .env("PLATFORM_CRASH_AFTER_JOURNAL", crash_after.to_string());
        moto.configure(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(
            !out.status.success(),
            "run with crash after {crash_after} events should have died"
        );
    }
    let up = platform(
        &moto,
        &state,
        &["up", "blueprints/ml-api.toml", "--env", "local", "--yes"],
    );
    assert!(up.status.success(), "final up failed:\n{}", text(&up.stderr));
    let status = platform(
        &moto,
        &state,
        &["status", "blueprints/ml-api.toml", "--env", "local", "--json"],
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let in_state = status["resources"].as_array().unwrap().len();
    // Every tagged resource in AWS is one the state knows: no orphans, no duplicates.
    let arns = tagged(&moto, &["us-east-1"]);
    let mut sorted = arns.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), arns.len());
    let counts = ec2_counts(&moto);
    assert_eq!(
        (counts.vpcs, counts.security_groups),
        (1, 3),
        "exactly one VPC and three security groups"
    );
    assert!(in_state >= 30, "{in_state} resources in state");
    let down = platform(
        &moto,
        &state,
        &["down", "blueprints/ml-api.toml", "--env", "local", "--yes"],
    );
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert!(tagged(&moto, &["us-east-1"]).is_empty());
}

#[test]
fn a_failed_create_stops_dependents_and_rollback_removes_what_the_run_made() {
    let moto = Moto::start(1);
    let state = scratch("deploy-fail");
    // Someone else already owns the task role's name.
    rt().block_on(async {
        let iam = aws_sdk_iam::Client::new(&moto.sdk("us-east-1").await);
        iam.create_role()
            .role_name("ml-api-local-api-task")
            .assume_role_policy_document("{}")
            .send()
            .await
            .unwrap();
    });
    let out = platform(
        &moto,
        &state,
        &["up", "blueprints/ml-api.toml", "--env", "local", "--yes", "--rollback"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("api.task-role (plugin instance `api`): iam:CreateRole failed with EntityAlreadyExists"),
        "{err}"
    );
    assert!(err.contains("not started: "), "{err}");
    assert!(
        err.contains("api.task-us-east-1"),
        "the task definition depends on the role: {err}"
    );
    assert!(err.contains("rolled back: "), "{err}");
    // Rollback removed everything this run created; the foreign role stays.
    assert!(
        tagged(&moto, &["us-east-1"]).is_empty(),
        "{:?}",
        tagged(&moto, &["us-east-1"])
    );
    let roles = rt().block_on(async {
        aws_sdk_iam::Client::new(&moto.sdk("us-east-1").await)
            .list_roles()
            .send()
            .await
            .unwrap()
    });
    let names: Vec<&str> = roles.roles().iter().map(|r| r.role_name()).collect();
    assert_eq!(names, ["ml-api-local-api-task"]);
}

#[test]
fn dev_and_prod_deploy_across_their_regions_and_go_away() {
    let moto = Moto::start(2);
    let state = scratch("deploy-dev-prod");
    for env in ["dev", "prod"] {
        let up = platform(&moto, &state, &["up", "blueprints/ml-api.toml", "--env", env, "--yes"]);
        assert!(up.status.success(), "up {env} failed:\n{}", text(&up.stderr));
    }
    rt().block_on(async {
        // prod's replica lives in the second region, encrypted, not public.
        let rds = aws_sdk_rds::Client::new(&moto.sdk("us-east-2").await);
        let replica = rds
            .describe_db_instances()
            .db_instance_identifier("ml-api-prod-db-replica")
            .send()
            .await
            .unwrap();
        assert_eq!(replica.db_instances()[0].publicly_accessible(), Some(false));
        // dev's database is the aurora plugin swapped in: an encrypted
        // Serverless v2 cluster from half a capacity unit to two, served by
        // one db.serverless instance, and the service's tasks get its
        // endpoint as prod's get the RDS instance's.
        let east = aws_sdk_rds::Client::new(&moto.sdk("us-east-1").await);
        let clusters = east.describe_db_clusters().send().await.unwrap();
        assert_eq!(clusters.db_clusters().len(), 1, "{clusters:?}");
        let cluster = &clusters.db_clusters()[0];
        assert_eq!(
            (
                cluster.db_cluster_identifier(),
                cluster.engine(),
                cluster.storage_encrypted()
            ),
            (Some("ml-api-dev-db"), Some("aurora-postgresql"), Some(true))
        );
        let range = cluster
            .serverless_v2_scaling_configuration()
            .expect("a Serverless v2 range");
        assert_eq!((range.min_capacity(), range.max_capacity()), (Some(0.5), Some(2.0)));
        let members: Vec<&str> = cluster
            .db_cluster_members()
            .iter()
            .filter_map(|m| m.db_instance_identifier())
            .collect();
        assert_eq!(members, ["ml-api-dev-db-writer"]);
        let writer = east
            .describe_db_instances()
            .db_instance_identifier("ml-api-dev-db-writer")
            .send()
            .await
            .unwrap();
        assert_eq!(writer.db_instances()[0].db_instance_class(), Some("db.serverless"));
        let ecs = aws_sdk_ecs::Client::new(&moto.sdk("us-east-1").await);
        let task = ecs
            .describe_task_definition()
            .task_definition("ml-api-dev-api")
            .send()
            .await
            .unwrap();
        let host = task.task_definition().unwrap().container_definitions()[0]
            .environment()
            .iter()
            .find(|v| v.name() == Some("DATABASE_HOST"))
            .and_then(|v| v.value())
            .map(str::to_string);
        assert_eq!(host.as_deref(), cluster.endpoint(), "the tasks reach the cluster");
        let r53 = aws_sdk_route53::Client::new(&moto.sdk("us-east-1").await);
        let zones = r53
            .list_hosted_zones_by_name()
            .dns_name("ml-api.example.com")
            .send()
            .await
            .unwrap();
        let zone = zones.hosted_zones()[0].id().to_string();
        let records = r53
            .list_resource_record_sets()
            .hosted_zone_id(&zone)
            .send()
            .await
            .unwrap();
        let mut failover: Vec<String> = records
            .resource_record_sets()
            .iter()
            .filter_map(|r| r.failover().map(|f| f.as_str().to_string()))
            .collect();
        failover.sort();
        assert_eq!(failover, ["PRIMARY", "SECONDARY"]);
        // Health checks take no tags at creation; they are tagged after.
        let checks = r53.list_health_checks().send().await.unwrap();
        let ids: Vec<String> = checks.health_checks().iter().map(|h| h.id().to_string()).collect();
        assert_eq!(ids.len(), 2);
        let tags = r53
            .list_tags_for_resources()
            .resource_type(aws_sdk_route53::types::TagResourceType::Healthcheck)
            .set_resource_ids(Some(ids))
            .send()
            .await
            .unwrap();
        for set in tags.resource_tag_sets() {
            assert!(
                set.tags()
                    .iter()
                    .any(|t| t.key() == Some("platform:blueprint") && t.value() == Some("ml-api")),
                "{set:?}"
            );
        }
        // Private subnets reach the other region over the peering.
        let ec2 = aws_sdk_ec2::Client::new(&moto.sdk("us-east-2").await);
        let tables = ec2.describe_route_tables().send().await.unwrap();
        let peered = tables
            .route_tables()
            .iter()
            .filter(|t| {
                t.routes().iter().any(|r| {
                    r.destination_cidr_block() == Some("10.0.0.0/16") && r.vpc_peering_connection_id().is_some()
                })
            })
            .count();
        assert_eq!(peered, 3, "each private route table of us-east-2 routes to us-east-1");
    });
    // Turning peering off changes the route tables in place and removes it.
    let blueprint = state.join("ml-api.toml");
    let text_bp = std::fs::read_to_string(root().join("blueprints/ml-api.toml"))
        .unwrap()
        .replace(
            "[env.prod.plugins.db.config]",
            "[env.prod.plugins.network.config]\npeering = false\n\n[env.prod.plugins.db.config]",
        );
    std::fs::write(&blueprint, text_bp).unwrap();
    let up = platform(
        &moto,
        &state,
        &["up", blueprint.to_str().unwrap(), "--env", "prod", "--yes"],
    );
    let err = text(&up.stderr);
    assert!(up.status.success(), "{err}");
    assert!(
        err.contains("~ network.private-a-us-east-2-rt  aws.ec2.route-table  (update in place)"),
        "{err}"
    );
    assert!(
        err.contains("- network.peering-us-east-2  aws.ec2.vpc-peering-connection  (delete)"),
        "{err}"
    );
    assert!(
        tagged(&moto, &["us-east-1", "us-east-2"])
            .iter()
            .all(|a| !a.contains("vpc-peering-connection"))
    );
    assert!(!tagged(&moto, &["us-east-1", "us-east-2"]).is_empty());
    for env in ["dev", "prod"] {
        let down = platform(
            &moto,
            &state,
            &["down", "blueprints/ml-api.toml", "--env", env, "--yes"],
        );
        assert!(down.status.success(), "down {env} failed:\n{}", text(&down.stderr));
    }
    assert_eq!(tagged(&moto, &["us-east-1", "us-east-2"]), Vec::<String>::new());
}

#[test]
fn a_changed_setting_is_updated_in_place() {
    let moto = Moto::start(1);
    let state = scratch("deploy-update");
    let blueprint = state.join("ml-api.toml");
    let original = std::fs::read_to_string(root().join("blueprints/ml-api.toml")).unwrap();
    std::fs::write(&blueprint, &original).unwrap();
    let bp = blueprint.to_str().unwrap();
    let up = platform(&moto, &state, &["up", bp, "--env", "local", "--yes"]);
    assert!(up.status.success(), "{}", text(&up.stderr));

    // Three tasks instead of one, and 14 days of logs instead of 30.
    let changed = original.replace(
        "[env.local.plugins.api.config]\ndesired_count = 1",
        "[env.local.plugins.api.config]\ndesired_count = 3\nlog_retention_days = 14",
    );
    assert_ne!(changed, original);
    std::fs::write(&blueprint, changed).unwrap();
    let up = platform(&moto, &state, &["up", bp, "--env", "local", "--yes"]);
    let err = text(&up.stderr);
    assert!(up.status.success(), "{err}");
    assert!(
        err.contains("~ api.service-us-east-1  aws.ecs.service  (update in place)"),
        "{err}"
    );
    assert!(
        err.contains("~ api.logs-us-east-1  aws.logs.log-group  (update in place)"),
        "{err}"
    );
    assert!(
        err.contains("0 created, 0 adopted, 2 updated, 0 replaced, 0 deleted"),
        "{err}"
    );
    // Autoscaling owns the live count of a scaled service: the planned
    // count is its first count, and an update never sends it.
    assert_eq!(service_and_log_retention(&moto), (1, vec![Some(14)]));
}

#[test]
fn throttling_and_unavailable_errors_are_retried_without_duplicates() {
    use platform::testing::{FaultProxy, Faults};
    use std::sync::atomic::Ordering;
    let moto = Moto::start(1);
    let state = scratch("deploy-faults");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let backend = moto.endpoint.trim_start_matches("http://").to_string();
    // About a quarter of all calls fail: well above what AWS does, and
    // below what drains the SDK's retry quota (500 tokens, 5 a retry, 1 back
    // a success) over the few hundred calls of an `up`.
    let faults = Faults {
        throttle_every: 7,
        unavailable_every: 11,
        ..Faults::default()
    };
    let proxy = runtime.block_on(FaultProxy::start(backend, faults)).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_platform"));
        cmd.args(args)
            .arg("--state-dir")
            .arg(&state)
            .current_dir(root())
            .env("PLATFORM_CACHE_DIR", cache_dir());
        moto.configure(&mut cmd);
        cmd.env("AWS_ENDPOINT_URL", &proxy.endpoint);
        cmd.output().unwrap()
    };
    let up = run(&["up", "blueprints/ml-api.toml", "--env", "local", "--yes"]);
    assert!(up.status.success(), "up through faults failed:\n{}", text(&up.stderr));
    let (throttled, unavailable) = (
        proxy.counters.throttled.load(Ordering::SeqCst),
        proxy.counters.unavailable.load(Ordering::SeqCst),
    );
    assert!(
        throttled >= 10 && unavailable >= 5,
        "faults injected: {throttled} throttled, {unavailable} unavailable"
    );
    let again = run(&["up", "blueprints/ml-api.toml", "--env", "local", "--yes"]);
    assert!(text(&again.stderr).contains("No changes."), "{}", text(&again.stderr));
    // Straight to the emulator: everything exactly once.
    let counts = ec2_counts(&moto);
    assert_eq!(
        (counts.vpcs, counts.subnets, counts.security_groups, counts.addresses),
        (1, 4, 3, 1)
    );
    let status = platform(
        &moto,
        &state,
        &["status", "blueprints/ml-api.toml", "--env", "local", "--json"],
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["resources"].as_array().unwrap().len(), 47);
}

#[test]
fn drift_is_shown_by_plan_and_repaired_by_up() {
    let moto = Moto::start(1);
    let state = scratch("deploy-drift");
    let up = platform(
        &moto,
        &state,
        &["up", "blueprints/ml-api.toml", "--env", "local", "--yes"],
    );
    assert!(up.status.success(), "{}", text(&up.stderr));
    // Someone deletes the log group; autoscaling (or someone) scales the
    // service out. The service has a scalable target, so its count is
    // autoscaling's: not drift, and never set back (that would cut capacity
    // under load).
    rt().block_on(async {
        let sdk = moto.sdk("us-east-1").await;
        aws_sdk_cloudwatchlogs::Client::new(&sdk)
            .delete_log_group()
            .log_group_name("/platform/ml-api/local/api")
            .send()
            .await
            .unwrap();
        aws_sdk_ecs::Client::new(&sdk)
            .update_service()
            .cluster("ml-api-local-api")
            .service("api")
            .desired_count(4)
            .send()
            .await
            .unwrap();
    });
    let plan = platform(
        &moto,
        &state,
        &["plan", "blueprints/ml-api.toml", "--env", "local", "--compact"],
    );
    let out = text(&plan.stdout);
    assert!(plan.status.success(), "{}", text(&plan.stderr));
    assert!(
        out.contains("  drift: api.logs-us-east-1: deleted outside platform; up will create it again\n"),
        "{out}"
    );
    assert!(!out.contains("drift: api.service-us-east-1"), "{out}");
    // The task definition names the log group, so it may change too (it will not: same name).
    assert!(
        out.contains("  up would: 1 create, 1 update, 0 replace, 0 delete;"),
        "{out}"
    );

    let repair = platform(
        &moto,
        &state,
        &["up", "blueprints/ml-api.toml", "--env", "local", "--yes"],
    );
    assert!(repair.status.success(), "{}", text(&repair.stderr));
    let (desired, groups) = service_and_log_retention(&moto);
    assert_eq!((desired, groups.len()), (4, 1));
    let again = platform(
        &moto,
        &state,
        &["up", "blueprints/ml-api.toml", "--env", "local", "--yes"],
    );
    assert!(text(&again.stderr).contains("No changes."), "{}", text(&again.stderr));
}

#[test]
fn down_finds_tagged_leftovers_the_state_lost() {
    let moto = Moto::start(1);
    let state = scratch("deploy-sweep");
    let up = platform(
        &moto,
        &state,
        &["up", "blueprints/ml-api.toml", "--env", "local", "--yes"],
    );
    assert!(up.status.success(), "{}", text(&up.stderr));
    // The state forgets the alarm topic and a security group (a lost write, a bad edit).
    let path = state.join("ml-api.local.state.json");
    let mut doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let resources = doc["resources"].as_object_mut().unwrap();
    assert!(resources.remove("observability.alarms-topic").is_some());
    assert!(resources.remove("network.sg-db-us-east-1").is_some());
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();

    let down = platform(
        &moto,
        &state,
        &["down", "blueprints/ml-api.toml", "--env", "local", "--yes"],
    );
    let err = text(&down.stderr);
    assert!(down.status.success(), "{err}");
    assert!(err.contains(":sns:us-east-1:123456789012:ml-api-local-observability-alarms deleted (tagged for ml-api local, not in the state)"), "{err}");
    assert!(err.contains(":security-group/sg-"), "{err}");
    assert_eq!(tagged(&moto, &["us-east-1"]), Vec::<String>::new());
}

/// The live desired count of the local `api` service and the retention of
/// each of its log groups.
fn service_and_log_retention(moto: &Moto) -> (i32, Vec<Option<i32>>) {
    rt().block_on(async {
        let sdk = moto.sdk("us-east-1").await;
        let svc = aws_sdk_ecs::Client::new(&sdk)
            .describe_services()
            .cluster("ml-api-local-api")
            .services("api")
            .send()
            .await
            .unwrap();
        let groups = aws_sdk_cloudwatchlogs::Client::new(&sdk)
            .describe_log_groups()
            .log_group_name_prefix("/platform/ml-api/local/api")
            .send()
            .await
            .unwrap();
        (
            svc.services()[0].desired_count(),
            groups.log_groups().iter().map(|g| g.retention_in_days()).collect(),
        )
    })
}

/// How many EC2 resources of each kind are tagged for ml-api in us-east-1.
struct Ec2Counts {
    vpcs: usize,
    subnets: usize,
    security_groups: usize,
    addresses: usize,
}

fn ec2_counts(moto: &Moto) -> Ec2Counts {
    rt().block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&moto.sdk("us-east-1").await);
        let ours = || {
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:platform:blueprint")
                .values("ml-api")
                .build()
        };
        Ec2Counts {
            vpcs: ec2.describe_vpcs().filters(ours()).send().await.unwrap().vpcs().len(),
            subnets: ec2
                .describe_subnets()
                .filters(ours())
                .send()
                .await
                .unwrap()
                .subnets()
                .len(),
            security_groups: ec2
                .describe_security_groups()
                .filters(ours())
                .send()
                .await
                .unwrap()
                .security_groups()
                .len(),
            addresses: ec2
                .describe_addresses()
                .filters(ours())
                .send()
                .await
                .unwrap()
                .addresses()
                .len(),
        }
    })
}

#[test]
fn three_services_share_a_network_and_a_cluster() {
    let moto = Moto::start(2);
    let state = scratch("deploy-microservices");
    for env in ["staging", "production"] {
        let up = platform(
            &moto,
            &state,
            &["up", "blueprints/microservices.toml", "--env", env, "--yes"],
        );
        assert!(up.status.success(), "up {env} failed:\n{}", text(&up.stderr));
    }
    rt().block_on(async {
        let ecs = aws_sdk_ecs::Client::new(&moto.sdk("us-east-1").await);
        let services = ecs
            .list_services()
            .cluster("microservices-production-api")
            .send()
            .await
            .unwrap();
        assert_eq!(services.service_arns().len(), 3, "{:?}", services.service_arns());
        // Each registers its tasks in the environment's Cloud Map namespace,
        // so the services reach each other as <name>.production.microservices.internal.
        let sd = aws_sdk_servicediscovery::Client::new(&moto.sdk("us-east-1").await);
        let namespaces = sd.list_namespaces().send().await.unwrap();
        let ns = namespaces
            .namespaces()
            .iter()
            .find(|n| n.name() == Some("production.microservices.internal"))
            .expect("the production namespace");
        let registered = sd.list_services().send().await.unwrap();
        let mut names = Vec::new();
        for s in registered.services() {
            let full = sd.get_service().id(s.id().unwrap()).send().await.unwrap();
            if full.service().unwrap().namespace_id() == ns.id() {
                names.push(s.name().unwrap().to_string());
            }
        }
        names.sort();
        assert_eq!(names, ["api", "auth", "notification"]);
        let sets = ecs
            .describe_task_sets()
            .cluster("microservices-production-api")
            .service("auth")
            .send()
            .await
            .unwrap();
        assert_eq!(sets.task_sets()[0].service_registries().len(), 1, "{sets:?}");
        seed_003_values_read_back(&moto).await;
    });
    for env in ["staging", "production"] {
        let down = platform(
            &moto,
            &state,
            &["down", "blueprints/microservices.toml", "--env", env, "--yes"],
        );
        assert!(down.status.success(), "down {env} failed:\n{}", text(&down.stderr));
    }
    let left = rt().block_on(async {
        let sd = aws_sdk_servicediscovery::Client::new(&moto.sdk("us-east-1").await);
        let n = sd.list_namespaces().send().await.unwrap().namespaces().len();
        n + sd.list_services().send().await.unwrap().services().len()
    });
    assert_eq!(left, 0, "down removes the namespaces and their services");
}

/// What seed 003 states, read back from the emulator after `up` of both
/// environments: the subnets, one load balancer per environment whose
/// listeners route /auth and /notification to those services' target
/// groups by rules (api keeps the rest), health checks on /health every
/// 30 s, mutable image tags with untagged images expiring after 7 days,
/// 14 days of logs, 256/512 in staging and 512/1024 in production, and the
/// configuration at /pipeline/<stage>/<service>/config.
async fn seed_003_values_read_back(moto: &Moto) {
    let sdk = moto.sdk("us-east-1").await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let ssm = aws_sdk_ssm::Client::new(&sdk);

    // Both environments' VPCs are 10.0.0.0/16 with the seed's subnets.
    let subnets = ec2.describe_subnets().send().await.unwrap();
    let mut cidrs: Vec<&str> = subnets.subnets().iter().filter_map(|s| s.cidr_block()).collect();
    cidrs.sort();
    let mut wanted = Vec::new();
    for _ in ["staging", "production"] {
        wanted.extend([
            "10.0.0.0/24",
            "10.0.1.0/24",
            "10.0.10.0/24",
            "10.0.11.0/24",
            "10.0.12.0/24",
            "10.0.2.0/24",
        ]);
    }
    wanted.sort();
    let vpcs = ec2.describe_vpcs().send().await.unwrap();
    let ours: Vec<&str> = vpcs
        .vpcs()
        .iter()
        .filter(|v| v.is_default() != Some(true))
        .filter_map(|v| v.cidr_block())
        .collect();
    assert_eq!(ours, ["10.0.0.0/16", "10.0.0.0/16"]);
    // moto's default VPC has subnets of its own (172.31.x.x).
    cidrs.retain(|c| c.starts_with("10."));
    assert_eq!(cidrs, wanted);

    // One load balancer per environment.
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    assert_eq!(lbs.load_balancers().len(), 2, "{lbs:?}");
    let lb_tags = elb
        .describe_tags()
        .set_resource_arns(Some(
            lbs.load_balancers()
                .iter()
                .filter_map(|l| l.load_balancer_arn())
                .map(str::to_string)
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    for env in ["staging", "production"] {
        let arn = lb_tags
            .tag_descriptions()
            .iter()
            .find(|d| {
                d.tags()
                    .iter()
                    .any(|t| t.key() == Some("platform:environment") && t.value() == Some(env))
            })
            .and_then(|d| d.resource_arn())
            .unwrap_or_else(|| panic!("{env}'s load balancer"));
        let lb = lbs
            .load_balancers()
            .iter()
            .find(|l| l.load_balancer_arn() == Some(arn))
            .unwrap();
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(lb.load_balancer_arn().unwrap())
            .send()
            .await
            .unwrap();
        let http = listeners
            .listeners()
            .iter()
            .find(|l| l.port() == Some(80))
            .expect("port 80");
        let rules = elb
            .describe_rules()
            .listener_arn(http.listener_arn().unwrap())
            .send()
            .await
            .unwrap();
        let groups = elb.describe_target_groups().send().await.unwrap();
        // Each target group by the resource it is (its `platform:id` tag).
        let mut ids = std::collections::BTreeMap::new();
        for chunk in groups.target_groups().chunks(20) {
            let tags = elb
                .describe_tags()
                .set_resource_arns(Some(
                    chunk
                        .iter()
                        .filter_map(|g| g.target_group_arn())
                        .map(str::to_string)
                        .collect(),
                ))
                .send()
                .await
                .unwrap();
            for d in tags.tag_descriptions() {
                let id = d
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some("platform:id"))
                    .and_then(|t| t.value());
                ids.insert(
                    d.resource_arn().unwrap_or_default().to_string(),
                    id.unwrap_or_default().to_string(),
                );
            }
        }
        let group_name = |arn: &str| ids.get(arn).cloned().unwrap_or_default();
        let mut routes: Vec<(String, Vec<String>, Vec<String>)> = rules
            .rules()
            .iter()
            .map(|r| {
                let paths = r
                    .conditions()
                    .iter()
                    .filter_map(|c| c.path_pattern_config())
                    .flat_map(|p| p.values().to_vec())
                    .collect();
                let to = r
                    .actions()
                    .iter()
                    .filter_map(|a| a.forward_config())
                    .flat_map(|f| f.target_groups())
                    .filter(|t| t.weight() != Some(0))
                    .map(|t| group_name(t.target_group_arn().unwrap_or_default()))
                    .collect();
                (r.priority().unwrap_or_default().to_string(), paths, to)
            })
            .collect();
        routes.sort();
        let prefix = format!("microservices-{env}");
        assert_eq!(
            routes,
            vec![
                (
                    "10".to_string(),
                    vec!["/auth".to_string(), "/auth/*".to_string()],
                    vec!["auth.tg-blue-us-east-1".to_string()]
                ),
                (
                    "20".to_string(),
                    vec!["/notification".to_string(), "/notification/*".to_string()],
                    vec!["notification.tg-blue-us-east-1".to_string()]
                ),
                ("default".to_string(), vec![], vec!["api.tg-blue-us-east-1".to_string()]),
            ],
            "{env}'s routes"
        );
        for service in ["api", "auth", "notification"] {
            let tg = groups
                .target_groups()
                .iter()
                .find(|g| {
                    g.load_balancer_arns()
                        .contains(&lb.load_balancer_arn().unwrap_or_default().to_string())
                        && group_name(g.target_group_arn().unwrap_or_default())
                            == format!("{service}.tg-blue-us-east-1")
                })
                .unwrap_or_else(|| panic!("{env} {service}'s blue target group"));
            assert_eq!(
                (tg.port(), tg.health_check_path(), tg.health_check_interval_seconds()),
                (Some(80), Some("/health"), Some(30)),
                "{env} {service}"
            );
            let repo = ecr
                .describe_repositories()
                .repository_names(format!("{prefix}-{service}"))
                .send()
                .await
                .unwrap();
            assert_eq!(
                repo.repositories()[0].image_tag_mutability().map(|m| m.as_str()),
                Some("MUTABLE"),
                "{env} {service}"
            );
            let policy = ecr
                .get_lifecycle_policy()
                .repository_name(format!("{prefix}-{service}"))
                .send()
                .await
                .unwrap();
            let policy: serde_json::Value = serde_json::from_str(policy.lifecycle_policy_text().unwrap()).unwrap();
            assert_eq!(
                policy["rules"][0]["selection"]["countNumber"], 7,
                "{env} {service}: {policy}"
            );
            let group = format!("/platform/microservices/{env}/{service}");
            let found = logs
                .describe_log_groups()
                .log_group_name_prefix(&group)
                .send()
                .await
                .unwrap();
            assert_eq!(found.log_groups()[0].retention_in_days(), Some(14), "{env} {service}");
            let family = ecs
                .describe_task_definition()
                .task_definition(format!("{prefix}-{service}"))
                .send()
                .await
                .unwrap();
            let td = family.task_definition().unwrap();
            let size = if env == "staging" {
                ("256", "512")
            } else {
                ("512", "1024")
            };
            assert_eq!((td.cpu(), td.memory()), (Some(size.0), Some(size.1)), "{env} {service}");
            let config = ssm
                .get_parameter()
                .name(format!("/pipeline/{env}/{service}-service/config"))
                .send()
                .await
                .unwrap();
            let config: serde_json::Value = serde_json::from_str(config.parameter().unwrap().value().unwrap()).unwrap();
            assert_eq!(
                (
                    config["environment"].as_str(),
                    config["service"].as_str(),
                    config["log_level"].as_str()
                ),
                (
                    Some(env),
                    Some(format!("{service}-service").as_str()),
                    Some(if env == "staging" { "DEBUG" } else { "INFO" })
                )
            );
        }
        // The pipeline: the environment's repository, a privileged build
        // per service pushing to that service's repository, the tests, and
        // an approval in production only; artifacts kept 30 days.
        let pipeline = aws_sdk_codepipeline::Client::new(&sdk)
            .get_pipeline()
            .name(format!("microservices-{env}-pipeline"))
            .send()
            .await
            .unwrap();
        let stages: Vec<&str> = pipeline.pipeline().unwrap().stages().iter().map(|s| s.name()).collect();
        let wanted: &[&str] = if env == "production" {
            &["Source", "Build", "Test", "Approval"]
        } else {
            &["Source", "Build", "Test"]
        };
        assert_eq!(stages, wanted, "{env}");
        let source = &pipeline.pipeline().unwrap().stages()[0].actions()[0];
        assert_eq!(
            source
                .configuration()
                .and_then(|c| c.get("RepositoryName"))
                .map(String::as_str),
            Some(format!("microservices-monorepo-{env}").as_str())
        );
        aws_sdk_codecommit::Client::new(&sdk)
            .get_repository()
            .repository_name(format!("microservices-monorepo-{env}"))
            .send()
            .await
            .unwrap();
        let builds = aws_sdk_codebuild::Client::new(&sdk)
            .batch_get_projects()
            .names(format!("{prefix}-pipeline-build-auth"))
            .send()
            .await
            .unwrap();
        let project = builds
            .projects()
            .first()
            .unwrap_or_else(|| panic!("{env}'s auth build: {builds:?}"));
        let environment = project.environment().unwrap();
        assert_eq!(environment.privileged_mode(), Some(true));
        let uri = environment
            .environment_variables()
            .iter()
            .find(|v| v.name() == "REPOSITORY_URI")
            .map(|v| v.value().to_string());
        let auth_repo = ecr
            .describe_repositories()
            .repository_names(format!("{prefix}-auth"))
            .send()
            .await
            .unwrap();
        assert_eq!(uri.as_deref(), auth_repo.repositories()[0].repository_uri());
        let bucket = pipeline
            .pipeline()
            .unwrap()
            .artifact_store()
            .unwrap()
            .location()
            .to_string();
        let s3 = moto.s3("us-east-1").await;
        let rules = s3
            .get_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        assert_eq!(rules.rules()[0].expiration().and_then(|e| e.days()), Some(30), "{env}");
        let versioning = s3.get_bucket_versioning().bucket(&bucket).send().await.unwrap();
        assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    }
}

/// Seed 002 against the emulator: an internal load balancer, a worker
/// without one (a rolling ECS service registered in Cloud Map), services on
/// port 80 with their own task groups, and everything gone after `down`.
#[test]
fn internal_and_worker_services_deploy_and_go_away() {
    let moto = Moto::start(2);
    let state = scratch("deploy-config-driven");
    let bp = "blueprints/config-driven-services.toml";
    let up = platform(&moto, &state, &["up", bp, "--yes"]);
    assert!(up.status.success(), "up failed:\n{}", text(&up.stderr));
    let again = platform(&moto, &state, &["up", bp, "--yes"]);
    assert!(text(&again.stderr).contains("No changes."), "{}", text(&again.stderr));
    let region = "ap-southeast-1";
    rt().block_on(async {
        // A delivery per service, each stopping for a review.
        let pipelines = aws_sdk_codepipeline::Client::new(&moto.sdk(region).await);
        for service in ["backend", "frontend"] {
            let p = pipelines
                .get_pipeline()
                .name(format!("config-driven-services-demo-{service}-pipeline"))
                .send()
                .await
                .unwrap();
            let stages: Vec<&str> = p.pipeline().unwrap().stages().iter().map(|s| s.name()).collect();
            assert_eq!(stages, ["Source", "Build", "Approval"], "{service}");
        }
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&moto.sdk(region).await);
        let lbs = elb.describe_load_balancers().send().await.unwrap();
        let mut schemes: Vec<String> = lbs
            .load_balancers()
            .iter()
            .map(|l| l.scheme().map(|s| s.as_str().to_string()).unwrap_or_default())
            .collect();
        schemes.sort();
        assert_eq!(
            schemes,
            ["internal", "internet-facing"],
            "two ALBs, none for the load tester"
        );

        let ecs = aws_sdk_ecs::Client::new(&moto.sdk(region).await);
        let cluster = "config-driven-services-demo-backend";
        let tester = ecs
            .describe_services()
            .cluster(cluster)
            .services("loadtester")
            .send()
            .await
            .unwrap();
        let svc = &tester.services()[0];
        assert!(
            svc.deployment_controller()
                .map(|d| d.r#type())
                .is_none_or(|t| t.as_str() == "ECS"),
            "{svc:?}"
        );
        assert_eq!(svc.service_registries().len(), 1, "registered in Cloud Map: {svc:?}");
        assert!(svc.load_balancers().is_empty());
        let groups = svc
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration())
            .map(|a| a.security_groups().len());
        assert_eq!(groups, Some(2), "the network's service group and its own");
    });
    let down = platform(&moto, &state, &["down", bp, "--yes"]);
    assert!(down.status.success(), "down failed:\n{}", text(&down.stderr));
    let left = rt().block_on(async {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&moto.sdk(region).await);
        let lbs = elb
            .describe_load_balancers()
            .send()
            .await
            .unwrap()
            .load_balancers()
            .len();
        let sd = aws_sdk_servicediscovery::Client::new(&moto.sdk(region).await);
        lbs + sd.list_services().send().await.unwrap().services().len()
    });
    assert_eq!(left, 0, "down removes the load balancers and Cloud Map services");
}

/// Seed 001 end to end, prod then dev: Flask on 256/512 tasks in us-east-1
/// and us-east-2 (three in prod), MySQL multi-AZ with an encrypted replica in us-east-2,
/// two zones and one NAT gateway per region, `/health` checked by the
/// target groups, a generated application secret replicated to the second
/// region; `down` leaves nothing.
#[test]
fn flask_and_mysql_deploy_across_two_regions_and_go_away() {
    let moto = Moto::start(2);
    let state = scratch("deploy-flask-mysql");
    let up = platform(
        &moto,
        &state,
        &["up", "blueprints/flask-mysql.toml", "--env", "prod", "--yes"],
    );
    assert!(up.status.success(), "up failed:\n{}", text(&up.stderr));
    rt().block_on(async {
        for region in ["us-east-1", "us-east-2"] {
            let sdk = moto.sdk(region).await;
            let ec2 = aws_sdk_ec2::Client::new(&sdk);
            let nat = ec2.describe_nat_gateways().send().await.unwrap();
            let live = nat
                .nat_gateways()
                .iter()
                .filter(|n| n.state().map(|s| s.as_str()) == Some("available"))
                .count();
            assert_eq!(live, 1, "one NAT gateway in {region}");
            let zones: std::collections::BTreeSet<String> = ec2
                .describe_subnets()
                .send()
                .await
                .unwrap()
                .subnets()
                .iter()
                .filter(|s| s.cidr_block().is_some_and(|c| c.starts_with("10.")))
                .filter_map(|s| s.availability_zone().map(str::to_string))
                .collect();
            assert_eq!(zones.len(), 2, "two zones in {region}: {zones:?}");
            let ecs = aws_sdk_ecs::Client::new(&sdk);
            let td = ecs
                .describe_task_definition()
                .task_definition("flask-mysql-prod-app")
                .send()
                .await
                .unwrap();
            let td = td.task_definition().unwrap();
            assert_eq!((td.cpu(), td.memory()), (Some("256"), Some("512")), "{region}");
            let app = &td.container_definitions()[0];
            assert_eq!(app.port_mappings()[0].container_port(), Some(5000));
            let secret = app
                .secrets()
                .iter()
                .find(|s| s.name() == "APP_SECRET")
                .expect("APP_SECRET");
            assert!(
                secret.value_from().contains(region),
                "each region reads its own replica: {}",
                secret.value_from()
            );
            let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
            let groups = elb.describe_target_groups().send().await.unwrap();
            assert!(!groups.target_groups().is_empty());
            for g in groups.target_groups() {
                assert_eq!(
                    (g.health_check_path(), g.port()),
                    (Some("/health"), Some(5000)),
                    "{region}"
                );
            }
        }
        let rds = aws_sdk_rds::Client::new(&moto.sdk("us-east-1").await);
        let db = rds
            .describe_db_instances()
            .db_instance_identifier("flask-mysql-prod-db")
            .send()
            .await
            .unwrap();
        let db = &db.db_instances()[0];
        assert_eq!(
            (
                db.engine(),
                db.multi_az(),
                db.storage_encrypted(),
                db.publicly_accessible(),
                db.db_name()
            ),
            (Some("mysql"), Some(true), Some(true), Some(false), Some("appdb"))
        );
        let east2 = aws_sdk_rds::Client::new(&moto.sdk("us-east-2").await);
        let replica = east2
            .describe_db_instances()
            .db_instance_identifier("flask-mysql-prod-db-replica")
            .send()
            .await
            .unwrap();
        let replica = &replica.db_instances()[0];
        assert_eq!(
            (replica.storage_encrypted(), replica.publicly_accessible()),
            (Some(true), Some(false))
        );
        assert!(
            replica
                .read_replica_source_db_instance_identifier()
                .is_some_and(|s| s.contains("flask-mysql-prod-db"))
        );
        // The image repository replicates to the second region.
        let ecr = aws_sdk_ecr::Client::new(&moto.sdk("us-east-1").await);
        let registry = ecr.describe_registry().send().await.unwrap();
        let rules = registry
            .replication_configuration()
            .map(|c| c.rules().to_vec())
            .unwrap_or_default();
        let copies: Vec<(String, Vec<String>)> = rules
            .iter()
            .map(|r| {
                (
                    r.repository_filters()
                        .first()
                        .map(|f| f.filter().to_string())
                        .unwrap_or_default(),
                    r.destinations().iter().map(|d| d.region().to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(
            copies,
            [("flask-mysql-prod-app".to_string(), vec!["us-east-2".to_string()])]
        );
    });
    let down = platform(
        &moto,
        &state,
        &["down", "blueprints/flask-mysql.toml", "--env", "prod", "--yes"],
    );
    assert!(down.status.success(), "down failed:\n{}", text(&down.stderr));
    assert_eq!(
        tagged_as(&moto, "flask-mysql", &["us-east-1", "us-east-2"]),
        Vec::<String>::new()
    );
    let rules = rt().block_on(async {
        let ecr = aws_sdk_ecr::Client::new(&moto.sdk("us-east-1").await);
        let registry = ecr.describe_registry().send().await.unwrap();
        registry.replication_configuration().map_or(0, |c| c.rules().len())
    });
    assert_eq!(rules, 0, "down removes the replication rule");

    // dev: the same two regions with a single-AZ database (and its replica).
    let up = platform(
        &moto,
        &state,
        &["up", "blueprints/flask-mysql.toml", "--env", "dev", "--yes"],
    );
    assert!(up.status.success(), "up dev failed:\n{}", text(&up.stderr));
    rt().block_on(async {
        let rds = aws_sdk_rds::Client::new(&moto.sdk("us-east-1").await);
        let db = rds
            .describe_db_instances()
            .db_instance_identifier("flask-mysql-dev-db")
            .send()
            .await
            .unwrap();
        let db = &db.db_instances()[0];
        assert_eq!(
            (db.engine(), db.multi_az(), db.storage_encrypted()),
            (Some("mysql"), Some(false), Some(true))
        );
        let east2 = aws_sdk_rds::Client::new(&moto.sdk("us-east-2").await);
        east2
            .describe_db_instances()
            .db_instance_identifier("flask-mysql-dev-db-replica")
            .send()
            .await
            .expect("dev's replica in us-east-2");
        let ecs = aws_sdk_ecs::Client::new(&moto.sdk("us-east-2").await);
        let td = ecs
            .describe_task_definition()
            .task_definition("flask-mysql-dev-app")
            .send()
            .await
            .unwrap();
        let td = td.task_definition().unwrap();
        assert_eq!((td.cpu(), td.memory()), (Some("256"), Some("512")));
    });
    let down = platform(
        &moto,
        &state,
        &["down", "blueprints/flask-mysql.toml", "--env", "dev", "--yes"],
    );
    assert!(down.status.success(), "down dev failed:\n{}", text(&down.stderr));
    assert_eq!(
        tagged_as(&moto, "flask-mysql", &["us-east-1", "us-east-2"]),
        Vec::<String>::new()
    );
}

/// Seed 004 end to end: the state in S3 (the blueprint's `backend`), a
/// service on Fargate, and a pipeline from GitHub through a connection whose
/// Deploy stage runs `platform deploy` under the GitHub deploy role's policy
/// and boundary; `down` leaves nothing but the state bucket.
#[test]
fn a_container_app_deploys_with_its_pipeline_and_remote_state() {
    let moto = Moto::start(2);
    let state = scratch("deploy-container-app");
    const BUCKET: &str = "container-app-state-123456789012";
    rt().block_on(async {
        let s3 = moto.s3("us-east-1").await;
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    });
    let up = platform(&moto, &state, &["up", "blueprints/container-app.toml", "--yes"]);
    assert!(up.status.success(), "up failed:\n{}", text(&up.stderr));
    rt().block_on(async {
        let sdk = moto.sdk("us-east-1").await;
        let s3 = moto.s3("us-east-1").await;
        s3.head_object()
            .bucket(BUCKET)
            .key("container-app/container-app.prod.state.json")
            .send()
            .await
            .expect("the state is in the bucket");
        let pipeline = aws_sdk_codepipeline::Client::new(&sdk)
            .get_pipeline()
            .name("container-app-prod-pipeline")
            .send()
            .await
            .unwrap();
        let stages: Vec<&str> = pipeline.pipeline().unwrap().stages().iter().map(|s| s.name()).collect();
        assert_eq!(stages, ["Source", "Build", "Deploy"]);
        let source = &pipeline.pipeline().unwrap().stages()[0].actions()[0];
        assert_eq!(
            source.action_type_id().map(|t| t.provider()),
            Some("CodeStarSourceConnection")
        );
        assert_eq!(
            source
                .configuration()
                .and_then(|c| c.get("FullRepositoryId"))
                .map(String::as_str),
            Some("example/container-app")
        );
        // The deploy runs under the GitHub deploy role's policy and boundary.
        let iam = aws_sdk_iam::Client::new(&sdk);
        let role = iam
            .get_role()
            .role_name("container-app-prod-pipeline-deploy")
            .send()
            .await
            .unwrap();
        let boundary = role
            .role()
            .unwrap()
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn())
            .unwrap_or_default()
            .to_string();
        assert!(
            boundary.ends_with(":policy/container-app-prod-deploy-role-boundary"),
            "{boundary}"
        );
        let attached = iam
            .list_attached_role_policies()
            .role_name("container-app-prod-pipeline-deploy")
            .send()
            .await
            .unwrap();
        let names: Vec<&str> = attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_name())
            .collect();
        assert_eq!(names, ["container-app-prod-deploy-role-deploy"]);
        let ecs = aws_sdk_ecs::Client::new(&sdk);
        let services = ecs
            .list_services()
            .cluster("container-app-prod-app")
            .send()
            .await
            .unwrap();
        assert_eq!(services.service_arns().len(), 1);
    });
    let down = platform(&moto, &state, &["down", "blueprints/container-app.toml", "--yes"]);
    assert!(down.status.success(), "down failed:\n{}", text(&down.stderr));
    assert_eq!(tagged_as(&moto, "container-app", &["us-east-1"]), Vec::<String>::new());
}

/// A service behind a load balancer in a network without NAT gateways
/// (and one with a NAT gateway, to see a replacement refused).
const MOVES: &str = r#"
[blueprint]
name = "moves"
regions = ["us-east-1"]

[plugins.network]
plugin = "network"

[plugins.network.config]
cidr = "10.0.0.0/16"
az_count = 2
nat_gateways = "single"
flow_logs = false
# A namespace keeps its name in a new VPC: like the NAT gateway's address,
# it would have to go first (checked by the preview's unit test).
service_discovery = false

[plugins.api]
plugin = "service"

[plugins.api.config]
image = "ghcr.io/example/ml-api:1.0.0"
port = 8000
desired_count = 1
probe = false

[plugins.api.config.deployment]
strategy = "all-at-once"
"#;

/// The target groups' (name, port) and the VPCs' CIDRs of `moves` in the emulator.
fn groups_and_vpcs(moto: &Moto) -> (Vec<(String, i32)>, Vec<String>) {
    rt().block_on(async {
        let config = moto.sdk("us-east-1").await;
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
        let mut groups: Vec<(String, i32)> = elb
            .describe_target_groups()
            .send()
            .await
            .unwrap()
            .target_groups()
            .iter()
            .map(|g| {
                (
                    g.target_group_name().unwrap_or_default().to_string(),
                    g.port().unwrap_or_default(),
                )
            })
            .collect();
        groups.sort();
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let tagged = aws_sdk_ec2::types::Filter::builder()
            .name("tag:platform:blueprint")
            .values("moves")
            .build();
        let mut vpcs: Vec<String> = ec2
            .describe_vpcs()
            .filters(tagged)
            .send()
            .await
            .unwrap()
            .vpcs()
            .iter()
            .filter_map(|v| v.cidr_block().map(str::to_string))
            .collect();
        vpcs.sort();
        (groups, vpcs)
    })
}

/// Events of the journal as "<event> <id>", in order.
fn journal_events(state: &Path, blueprint: &str, env: &str) -> Vec<String> {
    std::fs::read_to_string(state.join(format!("{blueprint}.{env}.journal.jsonl")))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let e: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {}",
                e["event"].as_str().unwrap_or_default(),
                e["id"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn replacements_make_the_new_resource_before_deleting_the_old_one() {
    let moto = Moto::start(1);
    let state = scratch("deploy-replace");
    let blueprint = state.join("moves.toml");
    std::fs::write(&blueprint, MOVES).unwrap();
    let bp = blueprint.to_str().unwrap();
    let up = platform(&moto, &state, &["up", bp, "--yes"]);
    assert!(up.status.success(), "{}", text(&up.stderr));
    let (groups, vpcs) = groups_and_vpcs(&moto);
    assert!(groups.iter().all(|(_, port)| *port == 8000), "{groups:?}");
    assert_eq!(vpcs, ["10.0.0.0/16"]);

    // A new port replaces the target groups, which the listener uses: the
    // new ones are made, the listener moves to them, then the old ones go.
    let changed = MOVES.replace("port = 8000", "port = 8080");
    std::fs::write(&blueprint, &changed).unwrap();
    let before = journal_events(&state, "moves", "default").len();
    let up = platform(&moto, &state, &["up", bp, "--yes"]);
    let err = text(&up.stderr);
    assert!(up.status.success(), "{err}");
    assert!(
        err.contains(
            "+/- api.tg-blue-us-east-1  aws.elbv2.target-group  (replace: create the new one, then delete the old)"
        ),
        "{err}"
    );
    assert!(
        err.contains("~ api.listener-http-us-east-1  aws.elbv2.listener  (update in place)"),
        "{err}"
    );
    let events = journal_events(&state, "moves", "default")[before..].to_vec();
    let at = |event: &str| {
        events
            .iter()
            .position(|e| e == event)
            .unwrap_or_else(|| panic!("no `{event}` in {events:#?}"))
    };
    assert!(at("created api.tg-blue-us-east-1") < at("updated api.listener-http-us-east-1"));
    assert!(at("updated api.listener-http-us-east-1") < at("deleted api.tg-blue-us-east-1~old"));
    let (groups, _) = groups_and_vpcs(&moto);
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert!(groups.iter().all(|(_, port)| *port == 8080), "{groups:?}");

    // A new range replaces the VPC and everything in it, but the NAT
    // gateway keeps its Elastic IP, which AWS lets one gateway hold: it
    // would go first, from under the route table that uses it. Refused
    // before anything changes.
    let serial = std::fs::read_to_string(state.join("moves.default.state.json")).unwrap();
    let moved = changed.replace("cidr = \"10.0.0.0/16\"", "cidr = \"10.1.0.0/16\"");
    std::fs::write(&blueprint, &moved).unwrap();
    let plan = platform(&moto, &state, &["plan", bp]);
    let out = text(&plan.stdout);
    assert!(
        out.contains("up would refuse: network.nat-a-us-east-1: AWS allows one at a time with `allocation_id`"),
        "{out}"
    );
    let up = platform(&moto, &state, &["up", bp, "--yes"]);
    let err = text(&up.stderr);
    assert!(!up.status.success(), "{err}");
    assert!(
        err.contains("nothing was changed: 1 replacement would delete a resource that others still use"),
        "{err}"
    );
    assert!(err.contains("network.private-a-us-east-1-rt"), "{err}");
    assert_eq!(
        std::fs::read_to_string(state.join("moves.default.state.json")).unwrap(),
        serial
    );

    // Without the NAT gateway, the whole network moves: new VPC, subnets,
    // groups, load balancer and target groups first, the old ones after.
    let moved = moved.replace("nat_gateways = \"single\"", "nat_gateways = \"none\"");
    std::fs::write(&blueprint, &moved).unwrap();
    let up = platform(&moto, &state, &["up", bp, "--yes"]);
    let err = text(&up.stderr);
    assert!(up.status.success(), "{err}");
    assert!(
        err.contains("+/- network.vpc-us-east-1  aws.ec2.vpc  (replace: create the new one, then delete the old)"),
        "{err}"
    );
    assert!(err.contains("+/- api.alb-us-east-1  aws.elbv2.load-balancer"), "{err}");
    assert!(!err.contains("-/+"), "nothing deletes first:\n{err}");
    let (groups, vpcs) = groups_and_vpcs(&moto);
    assert_eq!(vpcs, ["10.1.0.0/16"]);
    assert_eq!(groups.len(), 2, "{groups:?}");
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("moves.default.state.json")).unwrap()).unwrap();
    let keys: Vec<&String> = status["resources"].as_object().unwrap().keys().collect();
    assert!(
        keys.iter().all(|k| !k.contains('~')),
        "old resources left in the state: {keys:?}"
    );

    let down = platform(&moto, &state, &["down", bp, "--yes"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(tagged_as(&moto, "moves", &["us-east-1"]), Vec::<String>::new());
}
