//! Composition rules with real (test) plugins: import order, qualification,
//! dependencies inferred from references, import cycles, missing instances.

use expect_test::expect;

use crate::support::{plan_error, plan_text, test_plugin};

fn peers(pairs: &[(&str, Option<&str>)]) -> String {
    let path = test_plugin("hostile");
    let mut text = String::from("[blueprint]\nname = \"t\"\nregions = [\"us-east-1\"]\n");
    for (name, peer) in pairs {
        let peer = peer.map(|p| format!(", peer = {p:?}")).unwrap_or_default();
        text.push_str(&format!(
            "\n[plugins.{name}]\npath = {:?}\ngrants = {{ resources = [\"*\"] }}\nconfig = {{ mode = \"ok\"{peer} }}\n",
            path.display().to_string()
        ));
    }
    text
}

#[test]
fn instances_are_planned_in_import_order_and_references_become_dependencies() {
    // `first` imports `second`, declared after it.
    let plan = plan_text(&peers(&[("first", Some("second")), ("second", None)]), None).expect("plans");
    let linked = plan.resource("first.linked").expect("linked");
    assert_eq!(linked.depends_on, vec!["second.thing".to_string()]);
    let rendered: Vec<String> = plan.waves.iter().map(|w| w.join(" ")).collect();
    expect![[r#"["first.thing second.thing", "first.linked"]"#]].assert_eq(&format!("{rendered:?}"));
    // The imported reference was qualified by its owner, not the importer.
    let mut s = String::new();
    linked.properties.render(&mut s, 0);
    expect![[r#"
        {
          peer = ${second.thing.id}
        }"#]]
    .assert_eq(&s);
}

#[test]
fn import_cycles_are_reported() {
    let err = plan_error(&peers(&[("a", Some("b")), ("b", Some("a"))]), None);
    expect![[r#"test.toml:5:1: plugin instances need each other's exports: a -> b -> a"#]].assert_eq(&err);
}

#[test]
fn importing_a_missing_instance_names_it() {
    let err = plan_error(&peers(&[("a", Some("ghost"))]), None);
    expect![[r#"test.toml:5:1: plugin instance `a` (hostile 0.0.1): it needs the exports of instance `ghost`, which environment `default` does not have (enabled instances: a)"#]].assert_eq(&err);
}

#[test]
fn disabling_an_instance_in_an_environment_breaks_its_importers_clearly() {
    let text = format!(
        "{}\n[env.dev.plugins.b]\nenabled = false\n\n[env.prod]\n",
        peers(&[("a", Some("b")), ("b", None)])
    );
    assert!(plan_text(&text, Some("prod")).is_ok());
    let err = plan_error(&text, Some("dev"));
    assert!(
        err.contains("needs the exports of instance `b`, which environment `dev` does not have"),
        "{err}"
    );
}

#[test]
fn builtin_service_without_network_names_the_missing_instance() {
    let text = "[blueprint]\nname = \"t\"\nregions = [\"us-east-1\"]\n\n[plugins.api]\nplugin = \"service\"\nconfig = { image = \"x\" }\n";
    expect!["test.toml:5:1: plugin instance `api` (service 0.1.0): it needs the exports of instance `network`, which environment `default` does not have (enabled instances: api)"]
        .assert_eq(&plan_error(text, None));
}
