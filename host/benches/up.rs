//! `up` speed against the AWS emulator: the wall time of a first `up` of
//! ml-api prod, with no added latency and with 50 and 200 ms added to every
//! AWS call, compared with its critical path (the longest chain of dependent
//! resources and steps, each taking the time it took in this run); the
//! time of a second `up` with nothing to change, as a whole process; a
//! refresh (every resource read back, as `plan` does) after each; and a
//! first `up` with every AWS-behaviour rule of the test proxy on for 10 s
//! (a role unusable, a peering initiating, ids not found yet, ...),
//! compared with the first `up` without them.
//!
//! Needs the emulator: `scripts/setup-emulator` first. Run with
//! `cargo bench -p platform --bench up` (or `scripts/bench`).

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

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    assert!(python.exists(), "run scripts/setup-emulator first");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut moto = Command::new(&python)
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

    let blueprint = Blueprint::load(&root.join("blueprints/ml-api.toml")).unwrap();
    let resolved = blueprint.resolve("prod").unwrap();
    let wasm = Runtime::new(RuntimeOptions::default()).unwrap();
    let plan =
        Arc::new(platform::compose::compose(&wasm, &resolved, platform::providers::registry::registry()).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let scratch = std::env::temp_dir().join(format!("platform-bench-up-{}", std::process::id()));

    println!(
        "ml-api prod: {} resources, {} waves, parallelism 10",
        plan.resources.len(),
        plan.waves.len()
    );
    let rounds = [
        (Duration::ZERO, Behaviours::default()),
        (Duration::from_millis(50), Behaviours::default()),
        (Duration::from_millis(200), Behaviours::default()),
        (Duration::ZERO, Behaviours::all(Duration::from_secs(10))),
    ];
    let mut baseline = Duration::ZERO;
    for (i, (latency, behaviours)) in rounds.into_iter().enumerate() {
        let proxy = rt
            .block_on(FaultProxy::start(
                format!("127.0.0.1:{port}"),
                Faults {
                    latency,
                    behaviours,
                    ..Faults::default()
                },
            ))
            .unwrap();
        let endpoint = proxy.endpoint.clone();
        let aws = rt
            .block_on(Aws::load_with(|loader| {
                loader
                    .endpoint_url(endpoint)
                    .credentials_provider(aws_credential_types::Credentials::new(
                        "bench", "bench", None, None, "bench",
                    ))
            }))
            .unwrap();
        let mut aws = aws;
        aws.poll = Duration::from_millis(100);
        let dir = scratch.join(format!("run-{i}"));
        let store = StateStore::new(Some(dir.clone()), "ml-api", "prod");
        std::fs::create_dir_all(&dir).unwrap();
        let run = Arc::new(Run::new(
            Arc::new(aws),
            store,
            State::new("ml-api", "prod"),
            resolved.tags.clone(),
            Arc::new(Silent),
        ));
        let started = Instant::now();
        let report = rt.block_on(run.up(plan.clone(), 10, false));
        let wall = started.elapsed();
        assert!(
            report.failed.is_empty(),
            "up failed: {:?}",
            report.failed.iter().map(|f| f.to_string()).collect::<Vec<_>>()
        );
        let critical = critical_path(&plan, &report.durations);
        // No schedule with 10 slots beats the critical path, nor the nodes'
        // total time shared by the 10 slots.
        let busy: Duration = report.durations.values().sum();
        let bound = critical.max(busy / 10);
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
                "first up, {:>3} ms per AWS call: wall {:>8.2?}, critical path {:>8.2?} (ratio {:.2}), busy/10 {:>8.2?}, ratio to the larger {:.2}, {calls} AWS calls; refresh of {} resources {:>8.2?}",
                latency.as_millis(),
                wall,
                critical,
                wall.as_secs_f64() / critical.as_secs_f64(),
                busy / 10,
                wall.as_secs_f64() / bound.as_secs_f64(),
                state.resources.len(),
                refresh
            );
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
                    .current_dir(&root)
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
        // Empty the emulator for the next round.
        let _ = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            use std::io::Write;
            s.write_all(
                b"POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
        });
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = moto.kill();
    let _ = std::fs::remove_dir_all(&scratch);
}
