//! Custom plugins: grants, pinned hashes, the lock file, and a scaffolded
//! plugin from `plugin new` to `up` and `down` against the emulator.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::emulator::Moto;
use crate::support::{cache_dir, plan_error, plan_text, scratch, test_plugin};

fn platform(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_platform"))
        .args(args)
        .current_dir(dir)
        .env("PLATFORM_CACHE_DIR", cache_dir())
        .output()
        .expect("run platform")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sha256_of(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn budget_blueprint(extra: &str) -> String {
    format!(
        r#"[blueprint]
name = "shop"
regions = ["us-east-1"]

[plugins.budget]
path = {path:?}
{extra}

[plugins.budget.config]
monthly_usd = 100
"#,
        path = test_plugin("plugin-budget-alarm").display().to_string()
    )
}

#[test]
fn a_plugin_from_a_file_returns_only_what_the_blueprint_grants() {
    let err = plan_error(&budget_blueprint(""), None);
    assert!(
        err.contains("plugin instance `budget`")
            && err.contains("has type `aws.sns.topic`, which the blueprint does not grant this plugin")
            && err.contains("[plugins.budget.grants] resources"),
        "{err}"
    );
    let partly = budget_blueprint("grants = { resources = [\"aws.sns.*\"] }");
    let err = plan_error(&partly, None);
    assert!(
        err.contains("`aws.cloudwatch.metric-alarm`, which the blueprint does not grant"),
        "{err}"
    );
    assert!(!err.contains("`aws.sns.topic`"), "aws.sns.* grants the topic: {err}");
    let granted = budget_blueprint("grants = { resources = [\"aws.sns.*\", \"aws.cloudwatch.metric-alarm\"] }");
    let plan = plan_text(&granted, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.resources.len(), 3);

    // A built-in may be narrowed too.
    let narrowed = r#"[blueprint]
name = "net"
regions = ["us-east-1"]

[plugins.network.grants]
resources = ["aws.ec2.vpc"]
"#;
    let err = plan_error(narrowed, None);
    assert!(err.contains("plugin instance `network`"), "{err}");
    assert!(
        err.contains("`aws.ec2.subnet`, which the blueprint does not grant"),
        "{err}"
    );
}

#[test]
fn a_pinned_hash_must_match_and_the_error_shows_both() {
    let actual = sha256_of(&test_plugin("plugin-budget-alarm"));
    let wrong = "0".repeat(64);
    let grants = "grants = { resources = [\"aws.sns.*\", \"aws.cloudwatch.*\"] }";
    let err = plan_error(&budget_blueprint(&format!("sha256 = \"{wrong}\"\n{grants}")), None);
    assert!(
        err.contains(&format!("has sha256 {actual}, but the blueprint pins {wrong}")),
        "{err}"
    );
    assert!(err.contains("test.toml:7:"), "the error points at the pin: {err}");
    plan_text(&budget_blueprint(&format!("sha256 = \"{actual}\"\n{grants}")), None).unwrap_or_else(|e| panic!("{e}"));
    let err = plan_error(&budget_blueprint("sha256 = \"abc\""), None);
    assert!(err.contains("sha256 must be 64 hexadecimal digits"), "{err}");
}

#[test]
fn the_lock_file_pins_every_plugin_file_of_every_environment() {
    let dir = scratch("lockfile");
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::copy(test_plugin("plugin-budget-alarm"), dir.join("plugins/budget.wasm")).unwrap();
    std::fs::copy(test_plugin("plugin-budget-alarm"), dir.join("plugins/budget-eu.wasm")).unwrap();
    std::fs::write(
        dir.join("shop.toml"),
        r#"[blueprint]
name = "shop"
regions = ["us-east-1"]

[plugins.budget]
path = "plugins/budget.wasm"
grants = { resources = ["aws.sns.*", "aws.cloudwatch.metric-alarm"] }
config = { monthly_usd = 100 }

[env.us]

[env.eu.plugins.budget]
path = "plugins/budget-eu.wasm"
"#,
    )
    .unwrap();
    let out = platform(&dir, &["plugin", "lock", "shop.toml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lock = std::fs::read_to_string(dir.join("shop.lock")).unwrap();
    let hash = sha256_of(&dir.join("plugins/budget.wasm"));
    assert!(
        lock.contains(&format!("\"plugins/budget.wasm\" = \"{hash}\"")),
        "{lock}"
    );
    assert!(
        lock.contains("\"plugins/budget-eu.wasm\""),
        "every environment's plugins: {lock}"
    );
    let ok = platform(&dir, &["validate", "shop.toml"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));

    // Another component under the same name is refused, naming both hashes.
    std::fs::copy(test_plugin("hostile"), dir.join("plugins/budget.wasm")).unwrap();
    let bad = platform(&dir, &["plan", "shop.toml", "--env", "us"]);
    let err = text(&bad.stderr);
    assert_eq!(bad.status.code(), Some(3), "{err}");
    let now = sha256_of(&dir.join("plugins/budget.wasm"));
    assert!(err.contains(&format!("has sha256 {now}, but")), "{err}");
    assert!(err.contains(&format!("locks it to {hash}")), "{err}");
    assert!(err.contains("platform plugin lock shop.toml"), "{err}");

    // A plugin file the lock does not know is refused too.
    std::fs::write(dir.join("shop.lock"), "version = 1\n[plugins]\n").unwrap();
    let bad = platform(&dir, &["plan", "shop.toml", "--env", "eu"]);
    let err = text(&bad.stderr);
    assert!(err.contains("`plugins/budget-eu.wasm` is not in"), "{err}");
}

/// `plugin new` -> cargo build -> `plugin lock` -> plan -> up -> down.
#[test]
fn a_scaffolded_plugin_builds_locks_plans_deploys_and_goes_away() {
    let dir = scratch("scaffold");
    let made = platform(&dir, &["plugin", "new", "notify", "--dir", "notify"]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let crate_dir = dir.join("notify");
    let again = platform(&dir, &["plugin", "new", "notify", "--dir", "notify"]);
    assert!(!again.status.success(), "an existing plugin is never overwritten");

    let started = Instant::now();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
        .current_dir(&crate_dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_") && key != "CARGO_HOME" || key.contains("RUSTFLAGS") || key == "RUSTC_WRAPPER" {
            build.env_remove(key);
        }
    }
    let built = build.output().expect("run cargo");
    assert!(built.status.success(), "cargo build failed:\n{}", text(&built.stderr));
    // Its own tests run natively, checked as `plan` checks.
    let mut test = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    test.args(["test", "--quiet"]).current_dir(&crate_dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_") && key != "CARGO_HOME" || key.contains("RUSTFLAGS") || key == "RUSTC_WRAPPER" {
            test.env_remove(key);
        }
    }
    let tested = test.output().expect("run cargo test");
    assert!(
        tested.status.success(),
        "the scaffolded plugin's tests failed:\n{}{}",
        text(&tested.stdout),
        text(&tested.stderr)
    );
    assert!(text(&tested.stdout).contains("2 passed"), "{}", text(&tested.stdout));
    let wasm = crate_dir.join("target/wasm32-wasip2/release/plugin_notify.wasm");
    let size = std::fs::metadata(&wasm).unwrap().len();
    eprintln!(
        "scaffolded plugin: release build {:.1?}, component {size} bytes",
        started.elapsed()
    );
    assert!(size < 1 << 20, "component is {size} bytes");

    // Deploy with a subscriber.
    let bp = crate_dir.join("blueprint.toml");
    let text_bp = std::fs::read_to_string(&bp)
        .unwrap()
        .replace("emails = []", "emails = [\"ops@example.com\"]");
    std::fs::write(&bp, text_bp).unwrap();
    let lock = platform(&crate_dir, &["plugin", "lock", "blueprint.toml"]);
    assert!(lock.status.success(), "{}", text(&lock.stderr));
    assert!(crate_dir.join("blueprint.lock").exists());
    let plan = platform(&crate_dir, &["plan", "blueprint.toml"]);
    let shown = text(&plan.stdout);
    assert!(plan.status.success(), "{}", text(&plan.stderr));
    assert!(
        shown.contains("notify.topic") && shown.contains("notify.subscription-0"),
        "{shown}"
    );

    let moto = Moto::start(1);
    let run = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_platform"));
        cmd.args(args)
            .current_dir(&crate_dir)
            .env("PLATFORM_CACHE_DIR", cache_dir());
        moto.configure(&mut cmd);
        cmd.output().unwrap()
    };
    let topics = || {
        crate::support::rt().block_on(async {
            let sns = aws_sdk_sns::Client::new(&moto.sdk("us-east-1").await);
            let out = sns.list_topics().send().await.unwrap();
            out.topics()
                .iter()
                .filter_map(|t| t.topic_arn().map(str::to_string))
                .collect::<Vec<_>>()
        })
    };
    let up = run(&["up", "blueprint.toml", "--yes"]);
    assert!(up.status.success(), "{}", text(&up.stderr));
    assert!(
        text(&up.stdout).contains("notify.topic_arn = arn:aws:sns:us-east-1:"),
        "{}",
        text(&up.stdout)
    );
    assert_eq!(topics().len(), 1);
    let down = run(&["down", "blueprint.toml", "--yes"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert!(topics().is_empty());
}

/// `up` refuses, before touching anything, a plan with a resource type or
/// action this host cannot carry out.
#[test]
fn up_refuses_types_the_host_cannot_create_before_changing_anything() {
    let dir = scratch("unsupported");
    std::fs::write(dir.join("t.toml"), crate::support::hostile_blueprint(&[("odd", "ok")])).unwrap();
    let out = platform(&dir, &["up", "t.toml", "--yes", "--state-dir", "state"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(
        err.contains("has type `test.thing`, which this host has no provider for"),
        "{err}"
    );
    assert!(!dir.join("state").exists(), "no state was written");
}
