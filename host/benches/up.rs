//! `up` speed against the AWS emulator: the wall time of a first `up` of
//! ml-api prod, with no added latency and with 50 and 200 ms added to every
//! AWS call, compared with its critical path (the longest chain of dependent
//! resources and steps, each taking the time it took in this run); the
//! time of a second `up` with nothing to change, as a whole process; a
//! refresh (every resource read back, as `plan` does) after each; and a
//! first `up` with every AWS-behaviour rule of the test proxy on for 10 s
//! (a role unusable, a peering initiating, ids not found yet, ...),
//! compared with the first `up` without them. Then a first `up` of an estate
//! of 100 services (`scripts/estate 100`, about 2,000 resources) at
//! parallelism 10 against its critical path, with the bench's peak memory.
//!
//! Needs the emulator: `scripts/setup-emulator` first. Run with
//! `cargo bench -p platform --bench up` (or `scripts/bench`);
//! `cargo bench -p platform --bench up -- ml-api` or `-- estate` runs one part.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use platform::blueprint::Blueprint;
use platform::engine::{Run, Silent};
use platform::plan::Plan;
use platform::providers::Aws;
use platform::runtime::{Phase, Runtime, RuntimeOptions};
use platform::state::{State, StateStore};
use platform::testing::{Behaviours, FaultProxy, Faults};

fn critical_path(plan: &Plan, durations: &std::collections::BTreeMap<String, Duration>) -> Duration {
    let mut deps: HashMap<&str, &[String]> = HashMap::new();
    for r in &plan.resources {
        deps.insert(&r.id, &r.depends_on);
    }
    for s in plan.steps.iter().filter(|s| s.phase == Phase::Apply) {
        deps.insert(&s.id, &s.depends_on);
    }
    let mut finish: HashMap<&str, Duration> = HashMap::new();
    for id in plan.waves.iter().flatten() {
        let start = deps[id.as_str()]
            .iter()
            .filter_map(|d| finish.get(d.as_str()))
            .max()
            .copied()
            .unwrap_or_default();
        finish.insert(id, start + durations.get(id).copied().unwrap_or_default());
    }
    finish.values().max().copied().unwrap_or_default()
}

/// The emulator on a free loopback port.
fn emulator(root: &Path) -> (std::process::Child, u16) {
    let python = root.join(".venv/bin/python");
    assert!(python.exists(), "run scripts/setup-emulator first");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let moto = Command::new(&python)
        .arg(root.join("scripts/emulator.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_ECS_SERVICE_RUNNING", "2")
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(100));
    }
    (moto, port)
}

/// Empty the emulator for the next round.
fn reset(port: u16) {
    let _ = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
        use std::io::Write;
        s.write_all(
            b"POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
    });
    std::thread::sleep(Duration::from_millis(500));
}

/// A first `up` of `plan` through a fault proxy with `faults`, into a
/// fresh state under `dir`.
struct FirstUp {
    run: Arc<Run>,
    report: platform::engine::Report,
    wall: Duration,
    proxy: FaultProxy,
}

/// What a first `up` deploys: the plan, its blueprint and environment
/// names and tags.
struct Deploy<'a> {
    plan: &'a Arc<Plan>,
    name: &'a str,
    env: &'a str,
    tags: &'a [(String, String)],
}

fn first_up(
    rt: &tokio::runtime::Runtime,
    port: u16,
    Deploy { plan, name, env, tags }: Deploy<'_>,
    faults: Faults,
    dir: &Path,
    parallelism: usize,
) -> FirstUp {
    let proxy = rt
        .block_on(FaultProxy::start(format!("127.0.0.1:{port}"), faults))
        .unwrap();
    let endpoint = proxy.endpoint.clone();
    let mut aws = rt
        .block_on(Aws::load_with(|loader| {
            loader
                .endpoint_url(endpoint)
                .credentials_provider(aws_credential_types::Credentials::new(
                    "bench", "bench", None, None, "bench",
                ))
        }))
        .unwrap();
    aws.poll = Duration::from_millis(100);
    std::fs::create_dir_all(dir).unwrap();
    let store = StateStore::new(Some(dir.to_path_buf()), name, env);
    let run = Arc::new(Run::new(
        Arc::new(aws),
        store,
        State::new(name, env),
        tags.to_vec(),
        Arc::new(Silent),
    ));
    let started = Instant::now();
    let report = rt.block_on(run.up(plan.clone(), parallelism, false));
    let wall = started.elapsed();
    assert!(
        report.failed.is_empty(),
        "up failed: {:?}",
        report.failed.iter().map(|f| f.to_string()).collect::<Vec<_>>()
    );
    FirstUp {
        run,
        report,
        wall,
        proxy,
    }
}

/// No schedule with `parallelism` slots beats the critical path, nor the
/// nodes' total time shared by the slots: the larger of the two, and both.
fn bounds(plan: &Plan, report: &platform::engine::Report, parallelism: u32) -> (Duration, Duration, Duration) {
    let critical = critical_path(plan, &report.durations);
    let busy: Duration = report.durations.values().sum::<Duration>() / parallelism;
    (critical.max(busy), critical, busy)
}

/// "resources and steps 5.36s, rollouts 218ms, ...": where the wall time went.
fn phases(report: &platform::engine::Report) -> String {
    let parts: Vec<String> = report
        .phases
        .iter()
        .map(|(name, d)| format!("{name} {d:.2?}"))
        .collect();
    format!("phases: {}", parts.join(", "))
}

/// The process's peak resident memory since the last [`reset_peak`], in MiB.
fn peak_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let (mut moto, port) = emulator(&root);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let scratch = std::env::temp_dir().join(format!("platform-bench-up-{}", std::process::id()));
    let wasm = Runtime::new(RuntimeOptions::default()).unwrap();
    if only.as_deref().is_none_or(|o| o == "ml-api") {
        ml_api(&root, &rt, &wasm, port, &scratch);
    }
    if only.as_deref().is_none_or(|o| o == "estate") {
        estate(&root, &rt, &wasm, port, &scratch);
    }
    let _ = moto.kill();
    let _ = std::fs::remove_dir_all(&scratch);
}

fn estate(root: &Path, rt: &tokio::runtime::Runtime, wasm: &Runtime, port: u16, scratch: &Path) {
    let services = 100;
    let text = Command::new("python3")
        .arg(root.join("scripts/estate"))
        .arg(services.to_string())
        .output()
        .unwrap();
    assert!(text.status.success());
    std::fs::create_dir_all(scratch).unwrap();
    let file = scratch.join("estate.toml");
    std::fs::write(&file, &text.stdout).unwrap();
    let resolved = Blueprint::load(&file).unwrap().resolve("default").unwrap();
    reset_peak();
    let plan =
        Arc::new(platform::compose::compose(wasm, &resolved, platform::providers::registry::registry()).unwrap());
    let up = first_up(
        rt,
        port,
        Deploy {
            plan: &plan,
            name: &format!("estate{services}"),
            env: "default",
            tags: &resolved.tags,
        },
        Faults::default(),
        &scratch.join("estate"),
        10,
    );
    let (bound, critical, busy) = bounds(&plan, &up.report, 10);
    let calls = up.proxy.counters.requests.load(std::sync::atomic::Ordering::SeqCst);
    println!(
        "estate of {services} services, {} resources, parallelism 10: wall {:>8.2?}, critical path {:>8.2?} (ratio {:.2}), busy/10 {:>8.2?}, ratio to the larger {:.2}, {calls} AWS calls, peak memory {} MiB",
        plan.resources.len(),
        up.wall,
        critical,
        up.wall.as_secs_f64() / critical.as_secs_f64(),
        busy,
        up.wall.as_secs_f64() / bound.as_secs_f64(),
        peak_mib(),
    );
    println!("  {}", phases(&up.report));
    drop(up);
    reset(port);
}

fn ml_api(root: &Path, rt: &tokio::runtime::Runtime, wasm: &Runtime, port: u16, scratch: &Path) {
    let blueprint = Blueprint::load(&root.join("blueprints/ml-api.toml")).unwrap();
    let resolved = blueprint.resolve("prod").unwrap();
    let plan =
        Arc::new(platform::compose::compose(wasm, &resolved, platform::providers::registry::registry()).unwrap());
    println!(
        "ml-api prod: {} resources, {} waves, parallelism 10",
        plan.resources.len(),
        plan.waves.len()
    );
    // The last latency round again with 20 slots: where 10 slots bound the
    // run (busy/10 above the critical path), how close more slots come.
    let rounds = [
        (Duration::ZERO, Behaviours::default(), 10),
        (Duration::from_millis(50), Behaviours::default(), 10),
        (Duration::from_millis(200), Behaviours::default(), 10),
        (Duration::from_millis(200), Behaviours::default(), 20),
        (Duration::ZERO, Behaviours::all(Duration::from_secs(10)), 10),
    ];
    let mut baseline = Duration::ZERO;
    for (i, (latency, behaviours, parallelism)) in rounds.into_iter().enumerate() {
        let dir = scratch.join(format!("run-{i}"));
        let faults = Faults {
            latency,
            behaviours,
            ..Faults::default()
        };
        let FirstUp {
            run,
            report,
            wall,
            proxy,
        } = first_up(
            rt,
            port,
            Deploy {
                plan: &plan,
                name: "ml-api",
                env: "prod",
                tags: &resolved.tags,
            },
            faults,
            &dir,
            parallelism,
        );
        let (bound, critical, busy) = bounds(&plan, &report, parallelism as u32);
        // Refresh: read every resource of the state back, as `plan` does
        // (parallelism 10), through the same added latency.
        let state = run.store.load().unwrap();
        let read = Instant::now();
        let drift = rt.block_on(platform::engine::drift::detect(run.provider.clone(), &state, 10));
        let refresh = read.elapsed();
        assert!(
            drift.is_empty() || behaviours != Behaviours::default(),
            "a fresh deployment drifted: {drift:?}"
        );
        let calls = proxy.counters.requests.load(std::sync::atomic::Ordering::SeqCst);
        if behaviours != Behaviours::default() {
            println!(
                "first up, every AWS behaviour for 10 s: wall {:>8.2?}, {:.2}x the first up without them, {calls} AWS calls",
                wall,
                wall.as_secs_f64() / baseline.as_secs_f64()
            );
        } else {
            if i == 0 {
                baseline = wall;
            }
            println!(
                "first up, {:>3} ms per AWS call, parallelism {parallelism}: wall {:>8.2?}, critical path {:>8.2?} (ratio {:.2}), busy/{parallelism} {:>8.2?}, ratio to the larger {:.2}, {calls} AWS calls; refresh of {} resources {:>8.2?}",
                latency.as_millis(),
                wall,
                critical,
                wall.as_secs_f64() / critical.as_secs_f64(),
                busy,
                wall.as_secs_f64() / bound.as_secs_f64(),
                state.resources.len(),
                refresh
            );
            println!("  {}", phases(&report));
        }

        if i == 0 {
            // A second up with no change, as a whole process.
            let mut times = Vec::new();
            for _ in 0..5 {
                let t = Instant::now();
                let out = Command::new(env!("CARGO_BIN_EXE_platform"))
                    .args([
                        "up",
                        "blueprints/ml-api.toml",
                        "--env",
                        "prod",
                        "--yes",
                        "--quiet",
                        "--state-dir",
                    ])
                    .arg(&dir)
                    .current_dir(root)
                    .env("AWS_ENDPOINT_URL", &proxy.endpoint)
                    .env("AWS_ACCESS_KEY_ID", "bench")
                    .env("AWS_SECRET_ACCESS_KEY", "bench")
                    .output()
                    .unwrap();
                times.push(t.elapsed());
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            }
            times.sort();
            println!(
                "second up with no change (whole process, 5 runs): median {:.2?}",
                times[2]
            );
        }
        drop(proxy);
        reset(port);
    }
}
