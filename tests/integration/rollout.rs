//! Progressive delivery end to end against the emulator: listener weights
//! observed while a rollout runs, gates that roll back, manual blue/green,
//! and a rollout killed mid-bake.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::emulator::Moto;
use crate::support::{cache_dir, root, rt, scratch};

const REGION: &str = "us-east-1";

struct Env {
    moto: Moto,
    dir: PathBuf,
    blueprint: PathBuf,
}

/// The ml-api blueprint's `local` environment with `deployment` as the
/// service's rollout settings.
fn setup(name: &str, deployment: &str) -> Env {
    let moto = Moto::start(1);
    let dir = scratch(name);
    let original = std::fs::read_to_string(root().join("blueprints/ml-api.toml")).unwrap();
    let section = "[env.local.plugins.api.config.deployment]\nbake_seconds = 5\n";
    assert!(original.contains(section), "the local rollout settings moved");
    let text = original.replace(
        section,
        &format!("[env.local.plugins.api.config.deployment]\n{deployment}\n"),
    );
    let blueprint = dir.join("ml-api.toml");
    std::fs::write(&blueprint, text).unwrap();
    Env { moto, dir, blueprint }
}

impl Env {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_platform"));
        cmd.args(args)
            .arg(&self.blueprint)
            .args(["--env", "local", "--state-dir"])
            .arg(&self.dir)
            .current_dir(root())
            .env("PLATFORM_CACHE_DIR", cache_dir());
        self.moto.configure(&mut cmd);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run platform")
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn platform")
    }

    fn state(&self) -> Json {
        let text = std::fs::read_to_string(self.dir.join("ml-api.local.state.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn output(&self, id: &str, key: &str) -> String {
        self.state()["resources"][id]["outputs"][key]
            .as_str()
            .unwrap_or_else(|| panic!("{id}.{key} is not in the state"))
            .to_string()
    }

    fn target_groups(&self) -> (String, String) {
        (
            self.output("api.tg-blue-us-east-1", "arn"),
            self.output("api.tg-green-us-east-1", "arn"),
        )
    }

    /// Weight per target group ARN of a listener's forward action.
    fn weights(&self, listener: &str) -> Vec<(String, i32)> {
        let rt = rt();
        rt.block_on(async {
            let c = aws_sdk_elasticloadbalancingv2::Client::new(&self.moto.sdk(REGION).await);
            let out = c.describe_listeners().listener_arns(listener).send().await.unwrap();
            let mut found = Vec::new();
            for l in out.listeners() {
                for a in l.default_actions() {
                    for t in a.forward_config().map(|f| f.target_groups()).unwrap_or_default() {
                        found.push((t.target_group_arn().unwrap().to_string(), t.weight().unwrap_or(1)));
                    }
                }
            }
            found
        })
    }

    /// Percent of production traffic on `tg`.
    fn percent_on(&self, tg: &str) -> i32 {
        let weights = self.weights(&self.output("api.listener-http-us-east-1", "arn"));
        let total: i32 = weights.iter().map(|(_, w)| w).sum();
        let on: i32 = weights.iter().filter(|(t, _)| t == tg).map(|(_, w)| w).sum();
        if total == 0 { 0 } else { on * 100 / total }
    }

    /// The service's task sets: (status, task definition, target group).
    fn task_sets(&self) -> Vec<(String, String, String)> {
        let cluster = self.output("api.service-us-east-1", "cluster");
        let service = self.output("api.service-us-east-1", "name");
        rt().block_on(async {
            let c = aws_sdk_ecs::Client::new(&self.moto.sdk(REGION).await);
            let out = c
                .describe_task_sets()
                .cluster(cluster)
                .service(service)
                .send()
                .await
                .unwrap();
            out.task_sets()
                .iter()
                .map(|s| {
                    (
                        s.status().unwrap_or_default().to_string(),
                        s.task_definition().unwrap_or_default().to_string(),
                        s.load_balancers()
                            .first()
                            .and_then(|l| l.target_group_arn())
                            .unwrap_or_default()
                            .to_string(),
                    )
                })
                .collect()
        })
    }

    fn image_of(&self, task_definition: &str) -> String {
        rt().block_on(async {
            let c = aws_sdk_ecs::Client::new(&self.moto.sdk(REGION).await);
            let out = c
                .describe_task_definition()
                .task_definition(task_definition)
                .send()
                .await
                .unwrap();
            let td = out.task_definition().unwrap();
            td.container_definitions()[0].image().unwrap_or_default().to_string()
        })
    }

    /// Run `child` to its end, sampling the percent of production traffic
    /// on `tg` every 50 ms; `on_sample` may act on a sample (and return
    /// true once it has). Returns the distinct percents in order and the output.
    fn watch(
        &self,
        mut child: Child,
        tg: &str,
        mut on_sample: impl FnMut(i32, &mut Child) -> bool,
    ) -> (Vec<i32>, Output) {
        let mut seen: Vec<i32> = Vec::new();
        let started = Instant::now();
        let mut acted = false;
        loop {
            let p = self.percent_on(tg);
            if seen.last() != Some(&p) {
                seen.push(p);
            }
            if !acted {
                acted = on_sample(p, &mut child);
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "the rollout took over 3 minutes"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let p = self.percent_on(tg);
        if seen.last() != Some(&p) {
            seen.push(p);
        }
        (seen, child.wait_with_output().unwrap())
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> String {
    let err = text(&out.stderr);
    assert!(out.status.success(), "failed:\n{err}\n{}", text(&out.stdout));
    err
}

fn first_up(env: &Env) {
    ok(&env.run(&["up", "--yes"]));
    let (blue, _) = env.target_groups();
    let sets = env.task_sets();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(sets[0].0, "PRIMARY");
    assert_eq!(sets[0].2, blue, "the first version goes to blue");
    assert_eq!(env.percent_on(&blue), 100);
}

#[test]
fn canary_then_linear_shift_in_stages_and_swap_the_roles() {
    let env = setup(
        "rollout-canary",
        "strategy = \"canary\"\ncanary_percent = 10\nbake_seconds = 2\ndrain_seconds = 0",
    );
    first_up(&env);
    let (blue, green) = env.target_groups();
    let first_td = env.task_sets()[0].1.clone();

    let child = env.spawn(&["deploy", "--image", "ghcr.io/example/ml-api:1.1.0", "--yes"]);
    let (seen, out) = env.watch(child, &green, |_, _| true);
    let err = ok(&out);
    assert_eq!(seen, vec![0, 10, 100], "green's share over the canary\n{err}");
    let sets = env.task_sets();
    assert_eq!(sets.len(), 1, "the old task set is gone: {sets:?}");
    assert_eq!((sets[0].0.as_str(), sets[0].2.as_str()), ("PRIMARY", green.as_str()));
    assert_eq!(env.image_of(&sets[0].1), "ghcr.io/example/ml-api:1.1.0");
    assert_ne!(sets[0].1, first_td);
    assert!(env.state()["rollouts"].is_null(), "finished rollouts leave no record");

    // The roles swapped: the next rollout starts on the old blue, in steps of 50.
    let text = std::fs::read_to_string(&env.blueprint)
        .unwrap()
        .replace(
            "strategy = \"canary\"",
            "strategy = \"linear\"\nstep_percent = 50\ninterval_seconds = 1",
        )
        .replace("ml-api:1.0.0", "ml-api:1.2.0");
    std::fs::write(&env.blueprint, text).unwrap();
    let child = env.spawn(&["up", "--yes"]);
    let (seen, out) = env.watch(child, &blue, |_, _| true);
    let err = ok(&out);
    assert_eq!(seen, vec![0, 50, 100], "blue's share over the linear rollout\n{err}");
    let sets = env.task_sets();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(sets[0].2, blue);
    assert_eq!(env.image_of(&sets[0].1), "ghcr.io/example/ml-api:1.2.0");

    // Nothing changed: nothing rolls out.
    let again = ok(&env.run(&["up", "--yes"]));
    assert!(again.contains("No changes."), "{again}");
}

#[test]
fn an_alarm_during_the_bake_rolls_back_to_blue() {
    let env = setup(
        "rollout-alarm",
        "strategy = \"canary\"\ncanary_percent = 10\nbake_seconds = 60\ndrain_seconds = 0",
    );
    first_up(&env);
    let (blue, green) = env.target_groups();
    let first_td = env.task_sets()[0].1.clone();
    let prefix = env.state()["outputs"]["api.alarm_prefix"].as_str().unwrap().to_string();
    let alarm = format!("{prefix}5xx");

    let child = env.spawn(&["deploy", "--image", "ghcr.io/example/ml-api:2.0.0-bad", "--yes"]);
    let (seen, out) = env.watch(child, &green, |p, _| {
        if p != 10 {
            return false;
        }
        rt().block_on(async {
            let c = aws_sdk_cloudwatch::Client::new(&env.moto.sdk(REGION).await);
            c.set_alarm_state()
                .alarm_name(&alarm)
                .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
                .state_reason("5xx above threshold (set by the test)")
                .send()
                .await
                .unwrap();
        });
        true
    });
    let err = text(&out.stderr);
    assert!(!out.status.success(), "the rollout should fail:\n{err}");
    assert_eq!(seen, vec![0, 10, 0], "green's share: canary, then rolled back\n{err}");
    assert!(err.contains("gate `alarms`"), "{err}");
    assert!(err.contains(&alarm), "{err}");
    assert!(
        !err.contains(&format!("{prefix}cpu")),
        "only the alarm in ALARM is named: {err}"
    );
    assert!(err.contains("rolled back: production 100% on blue"), "{err}");
    assert_eq!(env.percent_on(&blue), 100);
    let sets = env.task_sets();
    assert_eq!(sets.len(), 1, "green's tasks are stopped: {sets:?}");
    assert_eq!(sets[0], ("PRIMARY".to_string(), first_td, blue));

    let status = env.run(&["status"]);
    let shown = text(&status.stdout);
    assert!(shown.contains("rolled back"), "{shown}");
    assert!(shown.contains("blue 100 / green 0"), "{shown}");
}

#[test]
fn blue_green_waits_for_promote_or_rollback_and_both_are_idempotent() {
    let env = setup("rollout-bluegreen", "strategy = \"blue-green\"\ndrain_seconds = 0");
    first_up(&env);
    let (blue, green) = env.target_groups();

    let out = env.run(&["deploy", "--image", "ghcr.io/example/ml-api:1.1.0", "--yes"]);
    let err = ok(&out);
    assert!(err.contains("platform promote"), "{err}");
    assert_eq!(env.percent_on(&blue), 100, "production stays on blue until promoted");
    let test_listener = env.output("api.listener-test-us-east-1", "arn");
    assert_eq!(
        env.weights(&test_listener),
        vec![(green.clone(), 100)],
        "the test listener serves green"
    );
    assert_eq!(env.task_sets().len(), 2);
    let shown = text(&env.run(&["status"]).stdout);
    assert!(shown.contains("awaiting approval"), "{shown}");

    ok(&env.run(&["promote"]));
    assert_eq!(env.percent_on(&green), 100);
    let sets = env.task_sets();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(sets[0].2, green);
    assert_eq!(env.image_of(&sets[0].1), "ghcr.io/example/ml-api:1.1.0");
    let again = ok(&env.run(&["promote"]));
    assert!(again.contains("Nothing to promote"), "{again}");
    assert_eq!(env.percent_on(&green), 100);

    // The next version waits too; rolling it back keeps 1.1.0 on green.
    let promoted_td = sets[0].1.clone();
    ok(&env.run(&["deploy", "--image", "ghcr.io/example/ml-api:1.2.0", "--yes"]));
    assert_eq!(env.task_sets().len(), 2);
    let rolled = ok(&env.run(&["rollback"]));
    assert!(rolled.contains("production 100% on blue"), "{rolled}");
    assert_eq!(env.percent_on(&green), 100);
    assert_eq!(env.weights(&test_listener), vec![(green.clone(), 100)]);
    let sets = env.task_sets();
    assert_eq!(sets, vec![("PRIMARY".to_string(), promoted_td, green.clone())]);
    let again = ok(&env.run(&["rollback"]));
    assert!(again.contains("Nothing to roll back"), "{again}");
    assert_eq!(env.task_sets().len(), 1);
}

#[test]
fn a_rollout_killed_during_the_bake_resumes_and_finishes() {
    let env = setup(
        "rollout-kill",
        "strategy = \"canary\"\ncanary_percent = 10\nbake_seconds = 6\ndrain_seconds = 0",
    );
    first_up(&env);
    let (_, green) = env.target_groups();

    let child = env.spawn(&["deploy", "--image", "ghcr.io/example/ml-api:1.1.0", "--yes"]);
    let (seen, out) = env.watch(child, &green, |p, child| {
        if p == 10 {
            child.kill().unwrap();
            true
        } else {
            false
        }
    });
    assert!(!out.status.success());
    assert_eq!(seen, vec![0, 10], "killed mid-bake at 10% on green");
    let record = &env.state()["rollouts"]["api.rollout-begin-us-east-1"];
    assert_eq!(record["status"], "in-progress", "{record}");
    // The kill lands once the listener shows 10%: the shift's checkpoint may
    // or may not have reached the state by then (a loaded machine). Either
    // way the resumed run must finish from there: redoing the shift to 10%
    // is harmless.
    assert!(
        ["api.rollout-bake-1-us-east-1", "api.rollout-shift-1-us-east-1"]
            .contains(&record["next_step"].as_str().unwrap_or_default()),
        "{record}"
    );

    // The record says what it checkpointed: 10% once the shift was
    // recorded, 0% if the kill came first.
    let shown = text(&env.run(&["status"]).stdout);
    let expected = if record["next_step"] == "api.rollout-bake-1-us-east-1" {
        "blue 90 / green 10"
    } else {
        "blue 100 / green 0"
    };
    assert!(shown.contains(expected), "{shown}");

    let child = env.spawn(&["deploy", "--image", "ghcr.io/example/ml-api:1.1.0", "--yes"]);
    let (seen, out) = env.watch(child, &green, |_, _| true);
    let err = ok(&out);
    assert!(err.contains("resumed"), "{err}");
    assert_eq!(seen, vec![10, 100], "resumed at 10%, then all of it\n{err}");
    let sets = env.task_sets();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(env.image_of(&sets[0].1), "ghcr.io/example/ml-api:1.1.0");
    assert!(env.state()["rollouts"].is_null());
}
