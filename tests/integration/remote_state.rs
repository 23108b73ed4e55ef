//! Teams and CI against the emulator: state in S3 with a leased lock,
//! history and restore, moving state between backends, saved plans and
//! `plan --detailed-exitcode`, and `up --json`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::emulator::Moto;
use crate::support::{cache_dir, root, rt, scratch, test_plugin};

const BUCKET: &str = "platform-state";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Env {
    moto: Moto,
    dir: PathBuf,
}

impl Env {
    /// The emulator with a versioned state bucket, and a scratch directory.
    fn new(name: &str) -> Env {
        let moto = Moto::start(1);
        rt().block_on(async {
            let s3 = moto.s3("us-east-1").await;
            s3.create_bucket().bucket(BUCKET).send().await.unwrap();
            s3.put_bucket_versioning()
                .bucket(BUCKET)
                .versioning_configuration(
                    aws_sdk_s3::types::VersioningConfiguration::builder()
                        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        });
        Env {
            moto,
            dir: scratch(name),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_platform"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env("PLATFORM_CACHE_DIR", cache_dir())
            .env_remove("PLATFORM_BACKEND");
        self.moto.configure(&mut cmd);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn spawn(&self, args: &[&str], envs: &[(&str, &str)]) -> Child {
        let mut cmd = self.command(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    /// A blueprint of the example budget plugin (three resources, quick).
    fn budget(&self, monthly: u32, backend: Option<&str>) -> PathBuf {
        let backend = backend.map(|b| format!("backend = \"{b}\"\n")).unwrap_or_default();
        let text = format!(
            r#"[blueprint]
name = "shop"
regions = ["us-east-1"]
{backend}
[plugins.budget]
path = {path:?}
grants = {{ resources = ["aws.sns.*", "aws.cloudwatch.metric-alarm"] }}
config = {{ monthly_usd = {monthly} }}
"#,
            path = test_plugin("plugin-budget-alarm").display().to_string()
        );
        let path = self.dir.join("shop.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn object(&self, key: &str) -> Option<Vec<u8>> {
        rt().block_on(async {
            let s3 = self.moto.s3("us-east-1").await;
            match s3.get_object().bucket(BUCKET).key(key).send().await {
                Ok(out) => Some(out.body.collect().await.unwrap().into_bytes().to_vec()),
                Err(_) => None,
            }
        })
    }

    fn keys(&self, prefix: &str) -> Vec<String> {
        rt().block_on(async {
            let s3 = self.moto.s3("us-east-1").await;
            let out = s3.list_objects_v2().bucket(BUCKET).prefix(prefix).send().await.unwrap();
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect()
        })
    }
}

fn ok(out: &Output) -> String {
    let err = text(&out.stderr);
    assert!(out.status.success(), "failed:\n{err}\n{}", text(&out.stdout));
    err
}

fn bp(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn two_runs_racing_for_the_remote_lock_exactly_one_wins() {
    let env = Env::new("remote-race");
    let blueprint = env.budget(100, Some("s3://platform-state/teams/shop"));
    let hold = [("PLATFORM_LOCK_HOLD_MS", "1500")];
    let a = env.spawn(&["up", bp(&blueprint), "--yes"], &hold);
    let b = env.spawn(&["up", bp(&blueprint), "--yes"], &hold);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let outcomes = [a.status.success(), b.status.success()];
    assert_eq!(
        outcomes.iter().filter(|s| **s).count(),
        1,
        "exactly one wins:\n--- a\n{}\n--- b\n{}",
        text(&a.stderr),
        text(&b.stderr)
    );
    let loser = if a.status.success() { &b } else { &a };
    let err = text(&loser.stderr);
    assert!(
        err.contains("s3://platform-state/teams/shop/shop.default.lock is locked by `up` (lock id"),
        "{err}"
    );
    assert!(
        err.contains("lease runs") && err.contains("ago"),
        "holder and age: {err}"
    );
    // The winner released the lock; its state is there.
    assert!(env.object("teams/shop/shop.default.lock").is_none());
    let state: Json = serde_json::from_slice(&env.object("teams/shop/shop.default.state.json").unwrap()).unwrap();
    assert_eq!(state["resources"].as_object().unwrap().len(), 3);
}

#[test]
fn a_killed_holder_loses_its_lease_and_the_next_run_resumes_its_work() {
    let env = Env::new("remote-kill");
    let blueprint = root().join("blueprints/ml-api.toml");
    let backend = "s3://platform-state/ml";
    let lease = [("PLATFORM_LOCK_LEASE_SECS", "4")];
    let args = ["up", bp(&blueprint), "--env", "local", "--yes", "--backend", backend];
    let mut child = env.spawn(&args, &lease);
    let started = Instant::now();
    loop {
        let count = env
            .object("ml/ml-api.local.state.json")
            .and_then(|b| serde_json::from_slice::<Json>(&b).ok())
            .map_or(0, |s| s["resources"].as_object().map_or(0, |r| r.len()));
        if count >= 8 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no progress in the remote state"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let lock: Json = serde_json::from_slice(&env.object("ml/ml-api.local.lock").expect("the dead run's lock")).unwrap();
    let id = lock["id"].as_str().unwrap().to_string();

    // While the lease runs, others are refused and unlock refuses too.
    let refused = env.command(&args).envs(lease).output().unwrap();
    let err = text(&refused.stderr);
    assert!(!refused.status.success(), "{err}");
    assert!(err.contains(&format!("lock id {id}")), "{err}");
    let unlock = env.run(&[
        "state",
        "unlock",
        bp(&blueprint),
        "--env",
        "local",
        "--backend",
        backend,
        &id,
    ]);
    assert!(!unlock.status.success());
    assert!(text(&unlock.stderr).contains("is live for"), "{}", text(&unlock.stderr));

    // Once it has expired, the next run takes the lock over and finishes the work.
    std::thread::sleep(Duration::from_secs(5));
    let done = env.command(&args).envs(lease).output().unwrap();
    let err = ok(&done);
    assert!(err.contains(&format!("took over lock {id}")), "{err}");
    let vpcs = rt().block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&env.moto.sdk("us-east-1").await);
        ec2.describe_vpcs()
            .send()
            .await
            .unwrap()
            .vpcs()
            .iter()
            .filter(|v| v.is_default() != Some(true))
            .count()
    });
    assert_eq!(vpcs, 1, "nothing duplicated");
    // Each run appends its journal in parts, `<run>.<part>.jsonl`.
    let journals = env.keys("ml/ml-api.local.journal/");
    let runs: std::collections::BTreeSet<&str> = journals
        .iter()
        .map(|k| {
            k.trim_start_matches("ml/ml-api.local.journal/")
                .split('.')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(runs.len(), 2, "one journal per run: {journals:?}");
    assert!(journals.len() > 2, "appended in parts, not rewritten: {journals:?}");
    assert!(env.object("ml/ml-api.local.lock").is_none(), "released at the end");
    let again = ok(&env.run(&["up", bp(&blueprint), "--env", "local", "--yes", "--backend", backend]));
    assert!(again.contains("No changes."), "{again}");
}

#[test]
fn history_restore_push_and_pull_keep_the_state_and_its_journal() {
    let env = Env::new("remote-history");
    let backend = "s3://platform-state/shop";
    // Local first, then pushed to S3.
    let blueprint = env.budget(100, None);
    ok(&env.run(&["up", bp(&blueprint), "--yes", "--state-dir", "local"]));
    let pushed = ok(&env.run(&["state", "push", bp(&blueprint), "--state-dir", "local", "--to", backend]));
    assert!(pushed.contains("Pushed"), "{pushed}");
    assert!(
        !env.keys("shop/shop.default.journal/").is_empty(),
        "the journal went along"
    );
    let again = env.run(&["state", "push", bp(&blueprint), "--state-dir", "local", "--to", backend]);
    assert!(
        text(&again.stderr).contains("already has a state"),
        "{}",
        text(&again.stderr)
    );

    // From now on the blueprint says where its state is.
    let blueprint = env.budget(200, Some(backend));
    ok(&env.run(&["up", bp(&blueprint), "--yes"]));
    let history = env.run(&["state", "history", bp(&blueprint)]);
    let listing = text(&history.stdout);
    assert!(history.status.success(), "{}", text(&history.stderr));
    let versions: Vec<&str> = listing
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(versions.len() >= 2, "{listing}");
    assert!(listing.lines().nth(1).unwrap().ends_with("(current)"), "{listing}");
    let oldest = *versions.last().unwrap();

    let thresholds = |env: &Env| -> Vec<f64> {
        let status = env.run(&["status", bp(&blueprint), "--json"]);
        let doc: Json = serde_json::from_slice(&status.stdout).unwrap();
        let state: Json = serde_json::from_slice(&env.object("shop/shop.default.state.json").unwrap()).unwrap();
        assert_eq!(doc["serial"], state["serial"]);
        let mut t: Vec<f64> = state["resources"]
            .as_object()
            .unwrap()
            .values()
            .filter(|r| r["type"] == "aws.cloudwatch.metric-alarm")
            .map(|r| r["properties"]["threshold"].as_f64().unwrap())
            .collect();
        t.sort_by(f64::total_cmp);
        t
    };
    assert_eq!(thresholds(&env), vec![160.0, 200.0]);
    let restored = ok(&env.run(&["state", "restore", bp(&blueprint), oldest, "--yes"]));
    assert!(restored.contains(&format!("Restored version {oldest}")), "{restored}");
    assert_eq!(thresholds(&env), vec![80.0, 100.0], "the first state is back");
    // The blueprint still says 200: the plan shows the difference.
    let plan = env.run(&["plan", bp(&blueprint), "--detailed-exitcode", "--no-refresh"]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan.stderr));

    let pulled = ok(&env.run(&[
        "state",
        "pull",
        bp(&blueprint),
        "--state-dir",
        "pulled",
        "--from",
        backend,
    ]));
    assert!(pulled.contains("Pulled"), "{pulled}");
    let local: Json =
        serde_json::from_str(&std::fs::read_to_string(env.dir.join("pulled/shop.default.state.json")).unwrap())
            .unwrap();
    let remote: Json = serde_json::from_slice(&env.object("shop/shop.default.state.json").unwrap()).unwrap();
    assert_eq!(local, remote);
    let journal = std::fs::read_to_string(env.dir.join("pulled/shop.default.journal.jsonl")).unwrap();
    assert!(journal.lines().count() >= 6, "{journal}");
    assert!(journal.contains("\"restored\""), "{journal}");
}

#[test]
fn ci_gets_exit_codes_saved_plans_that_go_stale_and_json_events() {
    let env = Env::new("ci");
    let blueprint = env.budget(100, None);
    let state = ["--state-dir", "st"];
    let code = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(state);
        env.run(&all).status.code()
    };
    assert_eq!(
        code(&["plan", bp(&blueprint), "--detailed-exitcode"]),
        Some(2),
        "no state: changes"
    );

    let saved = env.run(&["plan", bp(&blueprint), "--out", "p1.json", "--state-dir", "st"]);
    ok(&saved);
    // A saved plan is the approval: no --yes, and JSON events on stdout.
    let up = env.run(&["up", bp(&blueprint), "--plan", "p1.json", "--json", "--state-dir", "st"]);
    ok(&up);
    let events: Vec<Json> = text(&up.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "resource" && e["change"] == "created")
    );
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["changes"]["created"], 3);
    assert!(
        summary["outputs"]["budget.topic_arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sns:")
    );

    assert_eq!(
        code(&["plan", bp(&blueprint), "--detailed-exitcode"]),
        Some(0),
        "no changes"
    );
    ok(&env.run(&["plan", bp(&blueprint), "--out", "p2.json", "--state-dir", "st"]));
    // Someone else applies a change and changes it back: p2 is stale (state serial).
    env.budget(300, None);
    assert_eq!(
        code(&["plan", bp(&blueprint), "--detailed-exitcode"]),
        Some(2),
        "changes"
    );
    ok(&env.run(&["up", bp(&blueprint), "--yes", "--state-dir", "st"]));
    env.budget(100, None);
    ok(&env.run(&["up", bp(&blueprint), "--yes", "--state-dir", "st"]));
    let stale = env.run(&["up", bp(&blueprint), "--plan", "p2.json", "--state-dir", "st"]);
    let err = text(&stale.stderr);
    assert!(!stale.status.success());
    assert!(
        err.contains("the saved plan p2.json is stale") && err.contains("serial"),
        "{err}"
    );
    // A plan made before the blueprint changed is stale too.
    ok(&env.run(&["plan", bp(&blueprint), "--out", "p3.json", "--state-dir", "st"]));
    env.budget(400, None);
    let stale = env.run(&["up", bp(&blueprint), "--plan", "p3.json", "--state-dir", "st"]);
    assert!(
        text(&stale.stderr).contains("the blueprint, its plugins or their configuration changed"),
        "{}",
        text(&stale.stderr)
    );

    std::fs::write(&blueprint, "[blueprint]\nname = 7\n").unwrap();
    assert_eq!(
        code(&["plan", bp(&blueprint), "--detailed-exitcode"]),
        Some(1),
        "errors are 1"
    );
}
