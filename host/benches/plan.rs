//! Plan-time speed: runtime start, warm plugin loads, one instantiate + plan
//! call per plugin, and the whole composition of ml-api prod.
//!
//! Run with `cargo bench -p platform --bench plan` (or `scripts/bench`, which
//! also times whole `platform plan` processes).

use std::path::Path;
use std::time::{Duration, Instant};

use platform::blueprint::Blueprint;
use platform::runtime::{Export, InstanceExports, PlanInput, Runtime, RuntimeOptions};

fn median(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() * 9 / 10])
}

fn time<R>(n: usize, mut f: impl FnMut() -> R) -> (Duration, Duration) {
    let samples = (0..n)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    median(samples)
}

fn main() {
    let cache = std::env::temp_dir().join(format!("platform-bench-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let options = || RuntimeOptions {
        cache_dir: Some(cache.clone()),
        ..RuntimeOptions::default()
    };
    let blueprint = Blueprint::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../blueprints/ml-api.toml")).unwrap();
    let resolved = blueprint.resolve("prod").unwrap();

    let t = Instant::now();
    let cold_runtime = Runtime::new(options()).unwrap();
    let cold_plan =
        platform::compose::compose(&cold_runtime, &resolved, platform::providers::registry::registry()).unwrap();
    println!(
        "cold compose of ml-api prod (compiles 5 plugins): {:>9.2?}",
        t.elapsed()
    );
    drop(cold_runtime);

    let (m, p90) = time(20, || Runtime::new(options()).unwrap());
    println!("Runtime::new (engine, linker, ticker):          median {m:>9.2?}  p90 {p90:>9.2?}");
    let runtime = Runtime::new(options()).unwrap();
    let (m, p90) = time(20, || platform::compose::load_plugins(&runtime, &resolved).unwrap());
    println!("load 5 plugins from the warm cache + describe:  median {m:>9.2?}  p90 {p90:>9.2?}");
    let (m, p90) = time(50, || {
        platform::compose::compose(&runtime, &resolved, platform::providers::registry::registry()).unwrap()
    });
    println!("warm compose of ml-api prod (5 plan calls):     median {m:>9.2?}  p90 {p90:>9.2?}");

    // One instantiate + plan call per plugin, with the imports it really gets.
    let loaded = platform::compose::load_plugins(&runtime, &resolved).unwrap();
    let imports: Vec<InstanceExports> = cold_plan
        .exports
        .iter()
        .map(|(instance, exports)| InstanceExports {
            instance: instance.clone(),
            plugin: cold_plan
                .plugins
                .iter()
                .find(|p| &p.instance == instance)
                .unwrap()
                .plugin
                .clone(),
            exports: exports
                .iter()
                .map(|(name, v)| Export {
                    name: name.clone(),
                    value: v.encode(),
                    description: String::new(),
                })
                .collect(),
        })
        .collect();
    for inst in &resolved.instances {
        let plugin = &loaded[&inst.source];
        let input = PlanInput {
            blueprint: resolved.blueprint.clone(),
            instance: inst.name.clone(),
            environment: platform::runtime::Environment {
                name: resolved.env.clone(),
                regions: resolved.regions.clone(),
                tags: resolved.tags.clone(),
            },
            config: inst.config.to_json().to_string(),
            imports: imports.iter().filter(|i| i.instance != inst.name).cloned().collect(),
        };
        let (m, p90) = time(200, || runtime.plan(plugin, &input, inst.limits).unwrap().unwrap());
        println!(
            "instantiate + plan call, {:<14}          median {m:>9.2?}  p90 {p90:>9.2?}",
            inst.name
        );
    }
    let _ = std::fs::remove_dir_all(&cache);
}
