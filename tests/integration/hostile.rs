//! Hostile and broken plugins are contained and named.

use expect_test::{Expect, expect};

use crate::support::{hostile_blueprint, plan_error};

fn check(mode: &str, extra: &str, expect: Expect) {
    let text = format!("{}{extra}", hostile_blueprint(&[("bad", mode)]));
    expect.assert_eq(&plan_error(&text, None));
}

#[test]
fn infinite_loop_is_stopped_at_its_deadline() {
    let started = std::time::Instant::now();
    check(
        "loop",
        "sandbox = { timeout_ms = 200 }\n",
        expect![[
            r#"test.toml:5:1: plugin instance `bad` (hostile 0.0.1): plan failed: it ran past its CPU deadline of 200ms and was stopped"#
        ]],
    );
    // Generous bound: the point is that it stops, not how fast.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn memory_hog_hits_its_cap() {
    check(
        "memory",
        "sandbox = { memory_mib = 16 }\n",
        expect![
            "test.toml:5:1: plugin instance `bad` (hostile 0.0.1): plan failed: it tried to grow its memory to 17 MiB, past its limit of 16 MiB"
        ],
    );
}

#[test]
fn panic_message_is_shown() {
    check(
        "panic",
        "",
        expect![
            "test.toml:5:1: plugin instance `bad` (hostile 0.0.1): plan failed: it panicked: hostile plugin gave up: the answer is 42 (at tests/plugins/hostile/src/lib.rs:43:24)"
        ],
    );
}

#[test]
fn stack_overflow_is_contained() {
    check(
        "stack",
        "",
        expect![[
            r#"test.toml:5:1: plugin instance `bad` (hostile 0.0.1): plan failed: it overflowed its stack (limit 512 KiB)"#
        ]],
    );
}

#[test]
fn shadow_stack_overflow_is_contained() {
    check(
        "shadow-stack",
        "",
        expect![
            "test.toml:5:1: plugin instance `bad` (hostile 0.0.1): plan failed: it trapped: wasm trap: out of bounds memory access (in a Rust plugin, usually deep recursion overflowing the stack it keeps in linear memory)"
        ],
    );
}

#[test]
fn undeclared_resource_type_is_refused() {
    check(
        "undeclared-kind",
        "",
        expect![[
            r#"test.toml:5:1: plugin instance `bad` (hostile 0.0.1): resource `bucket` has type `aws.s3.bucket`, which the plugin did not declare (it declared: test.thing, aws.logs.log-group)"#
        ]],
    );
}

#[test]
fn a_misspelt_property_fails_the_plan_naming_instance_resource_and_property() {
    check(
        "misspelt-property",
        "",
        expect![
            "test.toml:5:1: plugin instance `bad`: resource `bad.logs` (aws.logs.log-group): property `retention_days`: unknown field `retention_days`, expected `name` or `retention_in_days` (`platform plugin kinds aws.logs.log-group` lists its properties)"
        ],
    );
}

#[test]
fn a_property_of_the_wrong_type_fails_the_plan_and_plugin_text_is_escaped() {
    check(
        "wrong-property-type",
        "",
        expect![[
            r#"test.toml:5:1: plugin instance `bad`: resource `bad.logs` (aws.logs.log-group): property `retention_in_days`: invalid type: string "a week\u{1b}[2J", expected i32 (`platform plugin kinds aws.logs.log-group` lists its properties)"#
        ]],
    );
}

#[test]
fn undeclared_step_action_is_refused() {
    check(
        "undeclared-action",
        "",
        expect![[
            r#"test.toml:5:1: plugin instance `bad` (hostile 0.0.1): step `wait` uses action `shell.exec`, which the plugin did not declare (it declared: test.wait)"#
        ]],
    );
}

#[test]
fn duplicate_ids_are_refused() {
    check(
        "duplicate-id",
        "",
        expect![[r#"test.toml:5:1: plugin instance `bad` (hostile 0.0.1): returned the id `twin` twice"#]],
    );
}

#[test]
fn dangling_reference_is_refused() {
    check(
        "dangling-ref",
        "",
        expect![[
            r#"test.toml:5:1: plugin instance `bad`: resource `bad.orphan` refers to `bad.ghost.id`, but there is no resource `bad.ghost`"#
        ]],
    );
}

#[test]
fn dependency_cycle_is_printed() {
    check(
        "cycle",
        "",
        expect![[
            r#"test.toml:5:1: dependency cycle between resources of plugin instance `bad`: bad.a -> bad.b -> bad.c -> bad.a"#
        ]],
    );
}

#[test]
fn asking_for_own_exports_is_refused() {
    check(
        "needs-self",
        "",
        expect![[r#"test.toml:5:1: plugin instance `bad` (hostile 0.0.1): it asks for its own exports"#]],
    );
}

#[test]
fn asking_for_no_instance_is_refused_not_asked_again_forever() {
    check(
        "needs-nothing",
        "",
        expect![[
            r#"test.toml:5:1: plugin instance `bad` (hostile 0.0.1): it answered missing-imports without naming an instance"#
        ]],
    );
}

#[test]
fn resource_outside_the_environment_regions_is_refused() {
    check(
        "bad-region",
        "",
        expect![[
            r#"test.toml:5:1: plugin instance `bad` (hostile 0.0.1): resource `far` is in region mars-north-1, which is not a region of environment `default` (us-east-1)"#
        ]],
    );
}

#[test]
fn invalid_ids_are_refused() {
    check(
        "bad-id",
        "",
        expect![[
            r#"test.toml:5:1: plugin instance `bad` (hostile 0.0.1): resource id `Not Valid!` is not valid: use lowercase letters, digits and `-`"#
        ]],
    );
}

#[test]
fn plugin_config_errors_point_at_the_value() {
    check(
        "invalid-config",
        "",
        expect!["test.toml:8:19: plugins.bad.config.mode: this mode is deliberately rejected"],
    );
}

#[test]
fn incompatible_contract_names_both_versions() {
    let path = crate::support::test_plugin("future-contract");
    let text = format!(
        "[blueprint]\nname = \"t\"\nregions = [\"us-east-1\"]\n\n[plugins.future]\npath = {:?}\n",
        path.display().to_string()
    );
    let err = plan_error(&text, None);
    let expected = format!(
        "test.toml:6:8: plugin instance `future`: {} was built for plugin contract 9.0.0, which this host (contract 0.1.0) cannot load; rebuild it against platform:plugin@0.1.0",
        path.display()
    );
    assert_eq!(err, expected);
}

#[test]
fn a_plugin_survives_its_neighbours_faults() {
    // One runtime, a trap in one store, then a clean plan from the same plugin.
    let _ = plan_error(&hostile_blueprint(&[("bad", "panic")]), None);
    let plan = crate::support::plan_text(&hostile_blueprint(&[("good", "ok")]), None).expect("plans");
    assert_eq!(plan.resources.len(), 1);
    assert_eq!(plan.resources[0].id, "good.thing");
}

#[test]
fn more_calls_at_once_than_pooled_instances_wait_for_one_not_fail() {
    // 40 threads share one runtime (its pool holds 32 instances), each
    // running a plugin that spins until its deadline, so all overlap.
    let text = format!(
        "{}sandbox = {{ timeout_ms = 100 }}\n",
        hostile_blueprint(&[("bad", "loop")])
    );
    let errors: Vec<String> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..40).map(|_| scope.spawn(|| plan_error(&text, None))).collect();
        threads.into_iter().map(|t| t.join().expect("no panic")).collect()
    });
    for e in &errors {
        assert!(
            e.ends_with("it ran past its CPU deadline of 100ms and was stopped"),
            "{e}"
        );
    }
}
