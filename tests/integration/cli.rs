//! The `platform` binary end to end: output streams, formats and exit codes.

use std::process::{Command, Output};

use crate::support::{cache_dir, root, scratch, test_plugin};

fn platform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_platform"))
        .args(args)
        .current_dir(root())
        .env("PLATFORM_CACHE_DIR", cache_dir())
        // No state: plans show only the deployment.
        .env("PLATFORM_STATE_DIR", scratch("cli-no-state"))
        // Plans are offline: no AWS configuration must be needed.
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("run platform")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn plan_json_is_the_documented_schema() {
    let out = platform(&["plan", "blueprints/ml-api.toml", "--env", "prod", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(plan["format_version"], 1);
    assert_eq!(plan["environment"], "prod");
    let resources = plan["resources"].as_array().unwrap();
    assert_eq!(plan["summary"]["create"], resources.len());
    // Every resource and apply step is in exactly one wave, after its dependencies.
    let mut wave_of = std::collections::HashMap::new();
    for (i, wave) in plan["waves"].as_array().unwrap().iter().enumerate() {
        for id in wave.as_array().unwrap() {
            assert!(
                wave_of.insert(id.as_str().unwrap().to_string(), i).is_none(),
                "{id} twice"
            );
        }
    }
    for r in resources {
        let id = r["id"].as_str().unwrap();
        let w = wave_of[id];
        for d in r["depends_on"].as_array().unwrap() {
            assert!(wave_of[d.as_str().unwrap()] < w, "{id} runs before its dependency {d}");
        }
        for key in ["id", "instance", "type", "region", "action", "depends_on", "properties"] {
            assert!(!r[key].is_null(), "{id} lacks {key}");
        }
    }
    // References have one JSON shape.
    let vpc_ref = &plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "network.igw-us-east-1")
        .unwrap()["properties"]["vpc_id"];
    assert_eq!(
        vpc_ref,
        &serde_json::json!({ "$ref": { "resource": "network.vpc-us-east-1", "attribute": "id" } })
    );
    assert!(stderr(&out).is_empty(), "nothing but JSON: {}", stderr(&out));
}

#[test]
fn human_plan_summarises_like_terraform() {
    let out = platform(&["plan", "blueprints/ml-api.toml", "--env", "dev", "--compact"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("Blueprint ml-api, environment dev (us-east-1)\n"),
        "{text}"
    );
    assert!(
        text.contains("  + network.vpc-us-east-1  aws.ec2.vpc  [us-east-1]\n"),
        "{text}"
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("Plan: 50 to create, 0 to change, 0 to destroy;"),
        "{text}"
    );
}

#[test]
fn default_environment_comes_from_the_blueprint() {
    let out = platform(&["plan", "blueprints/ml-api.toml", "--compact"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("environment dev"));
}

#[test]
fn graph_formats() {
    let dot = platform(&["graph", "blueprints/ml-api.toml", "--env", "dev"]);
    assert!(dot.status.success(), "{}", stderr(&dot));
    let dot = stdout(&dot);
    assert!(dot.starts_with("digraph \"ml-api-dev\" {"), "{dot}");
    assert!(
        dot.contains("\"network.vpc-us-east-1\" -> \"network.igw-us-east-1\";"),
        "{dot}"
    );
    let mermaid = platform(&["graph", "blueprints/ml-api.toml", "--env", "dev", "--format", "mermaid"]);
    let mermaid = stdout(&mermaid);
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert!(
        mermaid.contains("  network_vpc_us_east_1 --> network_igw_us_east_1\n"),
        "{mermaid}"
    );
}

#[test]
fn validate_checks_every_environment() {
    let out = platform(&["validate", "blueprints/ml-api.toml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for env in ["local", "dev", "prod"] {
        assert!(err.contains(&format!("ok: ml-api environment {env}:")), "{err}");
    }
    let quiet = platform(&["validate", "blueprints/ml-api.toml", "--quiet"]);
    assert!(quiet.status.success() && quiet.stderr.is_empty() && quiet.stdout.is_empty());
}

#[test]
fn invalid_input_exits_3_with_located_errors() {
    let dir = scratch("cli-invalid");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[blueprint]\nname = \"x\"\nregions = [\"us-east-1\"]\n\n[plugins.network.config]\naz_count = \"three\"\n",
    )
    .unwrap();
    let out = platform(&["plan", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        stderr(&out),
        format!(
            "error: {}:6:12: plugins.network.config.az_count: expected an integer, found a string\n",
            path.display()
        )
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_blueprint_and_bad_usage() {
    let out = platform(&["plan", "nope.toml"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).starts_with("error: cannot read blueprint nope.toml: "),
        "{}",
        stderr(&out)
    );
    let out = platform(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn plugin_list_and_inspect() {
    let out = platform(&["plugin", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "network",
            "service",
            "database",
            "aurora",
            "dns-failover",
            "observability",
            "github-deploy-role",
            "pipeline"
        ]
    );

    let out = platform(&["plugin", "inspect", "service"]);
    let text = stdout(&out);
    assert!(text.starts_with("service 0.1.0: "), "{text}");
    assert!(text.contains("  contract:  platform:plugin@0.1.0\n"), "{text}");
    assert!(text.contains("    image "), "{text}");
    assert!(text.contains("(required)"), "{text}");

    let hostile = test_plugin("hostile");
    let out = platform(&["plugin", "inspect", hostile.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["name"], "hostile");
    assert_eq!(
        info["resource_types"],
        serde_json::json!(["test.thing", "aws.logs.log-group"])
    );
    assert_eq!(info["sha256"].as_str().unwrap().len(), 64);

    let out = platform(&["plugin", "inspect", test_plugin("future-contract").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("was built for plugin contract 9.0.0, which this host (contract 0.1.0) cannot load"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn warm_cache_is_used_and_a_corrupt_entry_is_recompiled() {
    let cache = scratch("cli-cache");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_platform"))
            .args([
                "plan",
                "blueprints/ml-api.toml",
                "--env",
                "dev",
                "--compact",
                "--cache-dir",
            ])
            .arg(&cache)
            .current_dir(root())
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{}", stderr(&first));
    let entries: Vec<_> = walk(&cache)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(
        entries.len(),
        4,
        "one compiled component per plugin used in dev: {entries:?}"
    );
    // Corrupt every entry: the next run must recompile, not crash or misbehave.
    for e in &entries {
        std::fs::write(e, b"garbage").unwrap();
    }
    let second = run();
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout(&first), stdout(&second));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

/// Each built-in plugin's README shows what `plugin inspect` prints.
#[test]
fn plugin_readmes_match_inspect() {
    for name in [
        "network",
        "service",
        "database",
        "aurora",
        "dns-failover",
        "observability",
        "github-deploy-role",
        "pipeline",
    ] {
        let out = platform(&["plugin", "inspect", name]);
        let inspect = stdout(&out);
        let readme = std::fs::read_to_string(root().join("plugins").join(name).join("README.md")).unwrap();
        for line in inspect.lines().filter(|l| !l.trim_start().starts_with("sha256:")) {
            assert!(
                readme.lines().any(|r| r == line),
                "plugins/{name}/README.md lacks `{line}`: regenerate it from `platform plugin inspect {name}`"
            );
        }
    }
}

#[test]
fn plugin_kinds_lists_every_type_with_its_schema() {
    let out = platform(&["plugin", "kinds", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let kinds: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let kinds = kinds.as_array().unwrap();
    assert!(kinds.len() >= 33, "{}", kinds.len());
    let vpc = kinds.iter().find(|k| k["type"] == "aws.ec2.vpc").unwrap();
    assert_eq!(vpc["schema"]["additionalProperties"], false);
    assert!(vpc["schema"]["properties"]["cidr_block"].is_object());
    assert_eq!(vpc["drift"], true);
    let association = kinds
        .iter()
        .find(|k| k["type"] == "aws.ec2.route-table-association")
        .unwrap();
    assert_eq!(association["sweep"]["supported"], false);

    let out = platform(&["plugin", "kinds", "aws.logs.log-group"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("retention_in_days"), "{}", stdout(&out));

    let out = platform(&["plugin", "kinds", "aws.s3.nope"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("no resource type `aws.s3.nope`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_plan_says_what_this_host_does_not_cover() {
    let out = platform(&["plan", "blueprints/ml-api.toml", "--env", "dev", "--compact"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("  aws.ec2.route-table-association drift not read: "),
        "{}",
        stdout(&out)
    );
    let out = platform(&["plan", "blueprints/ml-api.toml", "--env", "dev", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let gaps = doc["not_covered"].as_array().unwrap();
    assert!(
        gaps.iter()
            .any(|g| g["type"] == "aws.ec2.route-table-association" && g["what"] == "drift not read")
    );
}
