//! Shared helpers: a runtime with a cache shared by all test processes, and
//! blueprints written from strings.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use platform::blueprint::{Blueprint, Diagnostics};
use platform::plan::Plan;
use platform::runtime::{Runtime, RuntimeOptions};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Compiled components are cached under the target dir, so each test process
/// (nextest runs one per test) compiles each plugin at most once overall.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("platform-cache")
}

pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(RuntimeOptions {
            cache_dir: Some(cache_dir()),
            ..RuntimeOptions::default()
        })
        .expect("runtime")
    })
}

/// Path of a test plugin built by build.rs (`hostile`, `future-contract`).
pub fn test_plugin(name: &str) -> PathBuf {
    Path::new(platform::TEST_PLUGIN_DIR).join(format!("{}.wasm", name.replace('-', "_")))
}

/// A scratch directory unique to this test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("scratch")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Plan `text` (a blueprint written as `test.toml`) for `env`.
pub fn plan_text(text: &str, env: Option<&str>) -> Result<Plan, Diagnostics> {
    let blueprint = Blueprint::parse("test.toml", text.to_string())?;
    let env = blueprint.choose_env(env)?;
    let resolved = blueprint.resolve(&env)?;
    platform::compose::compose(runtime(), &resolved, platform::providers::registry::registry())
}

/// The error text of planning `text`; panics if it plans.
pub fn plan_error(text: &str, env: Option<&str>) -> String {
    match plan_text(text, env) {
        Ok(plan) => panic!("expected an error, got a plan of {} resources", plan.resources.len()),
        Err(d) => d.to_string(),
    }
}

/// A blueprint with one hostile instance per (name, mode).
pub fn hostile_blueprint(instances: &[(&str, &str)]) -> String {
    let path = test_plugin("hostile");
    let mut text = String::from("[blueprint]\nname = \"t\"\nregions = [\"us-east-1\"]\n");
    for (name, mode) in instances {
        text.push_str(&format!(
            "\n[plugins.{name}]\npath = {:?}\ngrants = {{ resources = [\"*\"], actions = [\"*\"] }}\nconfig = {{ mode = {mode:?} }}\n",
            path.display().to_string()
        ));
    }
    text
}

/// A small tokio runtime for the tests' own AWS SDK checks.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
