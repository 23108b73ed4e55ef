//! Bad blueprints: every error names file:line:column and the culprit.

use expect_test::{Expect, expect};

use crate::support::{plan_error, scratch};

fn check(text: &str, env: Option<&str>, expect: Expect) {
    expect.assert_eq(&plan_error(text, env));
}

const HEAD: &str = "[blueprint]\nname = \"t\"\nregions = [\"us-east-1\"]\n";

#[test]
fn malformed_toml() {
    check(
        "[blueprint]\nname = \"t\nregions = []\n",
        None,
        expect![[r#"test.toml:2:10: malformed TOML: invalid basic string, expected `"`"#]],
    );
    check(
        "[blueprint]\nname = \"t\"\nname = \"u\"\n",
        None,
        expect![[r#"test.toml:3:1: malformed TOML: duplicate key"#]],
    );
}

#[test]
fn unknown_keys_are_errors_with_suggestions() {
    check(
        &format!("{HEAD}region = \"x\"\n\n[plugins.network]\nplugn = \"network\"\n\n[sandbx]\n"),
        None,
        expect![[r#"
            test.toml:9:2: unknown key `sandbx` in the blueprint; did you mean `sandbox`? expected one of: blueprint, sandbox, plugins, env
            test.toml:4:1: unknown key `region` in [blueprint]; did you mean `regions`? expected one of: name, description, regions, default_env, tags, backend
            test.toml:7:1: unknown key `plugn` in [plugins.network]; did you mean `plugin`? expected one of: plugin, path, sha256, grants, enabled, sandbox, config"#]],
    );
}

#[test]
fn wrong_types_are_errors() {
    check(
        "[blueprint]\nname = 7\nregions = \"us-east-1\"\n\n[plugins.network]\nenabled = \"yes\"\nsandbox = { memory_mib = 0 }\n",
        None,
        expect![[r#"
            test.toml:2:8: name must be a string, not an integer
            test.toml:3:11: regions must be an array of strings, not a string
            test.toml:6:11: enabled must be a boolean, not a string
            test.toml:7:26: memory_mib must be between 1 and 4096, not 0"#]],
    );
}

#[test]
fn missing_blueprint_table_and_bad_names() {
    check(
        "[plugins.network]\n",
        None,
        expect![[r#"test.toml:1:1: missing [blueprint] table with at least `name`"#]],
    );
    check(
        "[blueprint]\nname = \"My App\"\n",
        None,
        expect![[
            r#"test.toml:2:8: blueprint name `My App` must be lowercase letters, digits and `-`, starting with a letter or digit"#
        ]],
    );
}

#[test]
fn schema_errors_point_at_the_offending_value_even_from_an_environment() {
    let text = format!(
        "{HEAD}\n[plugins.network.config]\naz_count = 3\nnat_gateways = \"per-az\"\n\n[env.dev.plugins.network.config]\naz_count = 9\nnat_gateway = \"single\"\ncidr = 10\n"
    );
    check(
        &text,
        Some("dev"),
        expect![[r#"
            test.toml:10:12: plugins.network.config.az_count: 9 is greater than the maximum 6
            test.toml:11:15: plugins.network.config.nat_gateway: unknown key `nat_gateway`; expected one of: cidr, az_count, nat_gateways, regions, flow_logs, flow_log_retention_days, service_port, database_port, peering, service_discovery, namespace, public_subnet_cidrs, private_subnet_cidrs, test_listener_cidrs
            test.toml:12:8: plugins.network.config.cidr: expected a string, found an integer"#]],
    );
}

#[test]
fn missing_required_config_points_at_the_table() {
    check(
        &format!(
            "{HEAD}\n[plugins.network]\n\n[plugins.api]\nplugin = \"service\"\n\n[plugins.api.config]\ncpu = 512\n"
        ),
        None,
        expect!["test.toml:10:1: plugins.api.config: missing required key `image`"],
    );
}

#[test]
fn plugin_level_config_checks_point_at_the_value() {
    check(
        &format!(
            "{HEAD}\n[plugins.network]\n\n[plugins.api]\nplugin = \"service\"\nconfig = {{ image = \"x\", cpu = 256, memory = 4096 }}\n"
        ),
        None,
        expect![
            "test.toml:9:45: plugins.api.config.memory: 4096 MiB is not a valid Fargate memory size for 256 CPU units"
        ],
    );
}

#[test]
fn unknown_environment_and_ambiguous_choice() {
    let text = format!("{HEAD}\n[plugins.network]\n\n[env.dev]\n\n[env.prod]\n");
    check(
        &text,
        Some("staging"),
        expect![[r#"test.toml:1:1: blueprint `t` has no environment `staging`; it has: dev, prod"#]],
    );
    check(
        &text,
        None,
        expect![[r#"test.toml:1:1: choose an environment with --env: dev, prod"#]],
    );
}

#[test]
fn unknown_builtin_plugin() {
    check(
        &format!("{HEAD}\n[plugins.cache]\nplugin = \"redis\"\n"),
        None,
        expect![
            "test.toml:6:10: plugin instance `cache`: no built-in plugin named `redis`; the built-ins are: network, service, database, aurora, dns-failover, observability, github-deploy-role, pipeline"
        ],
    );
    check(
        &format!("{HEAD}\n[plugins.redis]\n"),
        None,
        expect![
            "test.toml:5:1: plugin instance `redis`: no built-in plugin named `redis`; the built-ins are: network, service, database, aurora, dns-failover, observability, github-deploy-role, pipeline"
        ],
    );
}

#[test]
fn plugin_file_missing_or_not_a_component() {
    let dir = scratch("not-a-component");
    let garbage = dir.join("garbage.wasm");
    std::fs::write(&garbage, b"this is not wasm").unwrap();
    // A minimal core module: magic + version 1.
    let core = dir.join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let missing = dir.join("missing.wasm");
    for (path, expected) in [
        (&missing, "cannot read plugin file"),
        (
            &garbage,
            "is not a WebAssembly component: it does not start with the wasm magic bytes",
        ),
        (
            &core,
            "is not a WebAssembly component: it is a core wasm module; build plugins with `--target wasm32-wasip2`",
        ),
    ] {
        let err = plan_error(
            &format!("{HEAD}\n[plugins.x]\npath = {:?}\n", path.display().to_string()),
            None,
        );
        assert!(err.starts_with("test.toml:6:8: plugin instance `x`: "), "{err}");
        assert!(err.contains(expected), "{err}");
        assert!(err.contains(&path.display().to_string()), "names the file: {err}");
    }
}

#[test]
fn environment_without_regions() {
    check(
        "[blueprint]\nname = \"t\"\n\n[plugins.network]\n\n[env.dev]\n",
        Some("dev"),
        expect![[r#"test.toml:6:1: environment `dev` has no regions; set `regions` in [blueprint] or [env.dev]"#]],
    );
}
