//! The resource state machine, table-style, against a scripted fake
//! provider: (prior state, plan, script) -> (calls made, journal, final
//! state). No emulator; each case runs in milliseconds.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde_json::{Value as Json, json};

use super::provider::{Fut, Provider};
use super::{Change, Run, Silent};
use crate::plan::{Action, Plan, PlannedResource};
use crate::providers::read::Live;
use crate::providers::rollout::{Begun, Slots};
use crate::providers::{Outputs, Props, ProviderError, Request};
use crate::state::{ResourceState, State, StateStore, Status};
use crate::value::{Ref, Value};

/// A call the engine made, as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Create(String),
    Find(String),
    Update(String),
    Delete(String),
}

/// What the fake answers, per call and resource; unscripted calls succeed
/// (create: outputs `{ "id": "<id>-<n>" }`, find: nothing there).
#[derive(Debug, Clone)]
enum Answer {
    Fail(&'static str),
    Found,
    /// Finds the resource with this id.
    FoundAs(&'static str),
}

#[derive(Default)]
struct Fake {
    calls: std::sync::Mutex<Vec<Call>>,
    script: std::sync::Mutex<HashMap<(&'static str, String), VecDeque<Answer>>>,
    serial: std::sync::atomic::AtomicU32,
    /// When set, every create first reads this state file and notes a
    /// resource whose intent is not in it, and takes a few milliseconds.
    durable: Option<(std::path::PathBuf, std::sync::Mutex<Vec<String>>)>,
}

impl Fake {
    fn answer(self, op: &'static str, id: &str, answer: Answer) -> Fake {
        self.script
            .lock()
            .unwrap()
            .entry((op, id.to_string()))
            .or_default()
            .push_back(answer);
        self
    }

    fn next(&self, op: &'static str, id: &str) -> Option<Answer> {
        self.script
            .lock()
            .unwrap()
            .get_mut(&(op, id.to_string()))
            .and_then(VecDeque::pop_front)
    }

    fn outputs(&self, id: &str) -> Outputs {
        let n = self.serial.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        json!({ "id": format!("{id}-{n}"), "platform_id": id })
            .as_object()
            .unwrap()
            .clone()
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

fn failure(op: &str, message: &str) -> ProviderError {
    ProviderError {
        code: Some("Scripted".into()),
        ..ProviderError::new(op, message)
    }
}

impl Provider for Fake {
    /// `size` and `uses` change in place; anything else replaces.
    fn in_place(&self, _kind: &str, old: &Json, new: &Json) -> bool {
        crate::providers::changed_keys(old, new)
            .iter()
            .all(|k| k == "size" || k == "uses")
    }

    /// A `t.thing` has a unique `key` (unset on both sides counts as kept,
    /// so its replacements delete first); a `t.free` has none.
    fn unique(&self, kind: &str) -> &'static [&'static str] {
        match kind {
            "t.thing" => &["key"],
            _ => &[],
        }
    }

    /// A property `bad` fails the check.
    fn check(&self, _kind: &str, id: &str, props: &Json) -> Result<(), ProviderError> {
        match props.get("bad") {
            Some(_) => Err(ProviderError::property(
                "t.thing",
                format!("t.thing of {id}: property `bad`"),
            )),
            None => Ok(()),
        }
    }

    fn create<'a>(&'a self, r: &'a Request<'a>) -> Fut<'a, Outputs> {
        self.calls.lock().unwrap().push(Call::Create(r.id.into()));
        let answer = self.next("create", r.id);
        Box::pin(async move {
            if let Some((path, missing)) = &self.durable {
                let saved: State = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
                if saved.resources.get(r.id).map(|e| e.status) != Some(Status::Creating) {
                    missing.lock().unwrap().push(r.id.to_string());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            match answer {
                Some(Answer::Fail(m)) => Err(failure("fake:Create", m)),
                _ => Ok(self.outputs(r.id)),
            }
        })
    }

    fn find<'a>(&'a self, r: &'a Request<'a>) -> Fut<'a, Option<Outputs>> {
        self.calls.lock().unwrap().push(Call::Find(r.id.into()));
        let answer = self.next("find", r.id);
        Box::pin(async move {
            match answer {
                Some(Answer::Found) => Ok(Some(
                    json!({ "id": "found", "platform_id": r.id })
                        .as_object()
                        .unwrap()
                        .clone(),
                )),
                Some(Answer::FoundAs(found)) => Ok(Some(
                    json!({ "id": found, "platform_id": r.id }).as_object().unwrap().clone(),
                )),
                Some(Answer::Fail(m)) => Err(failure("fake:Find", m)),
                None => Ok(None),
            }
        })
    }

    fn update<'a>(&'a self, r: &'a Request<'a>, _old: &'a Json, outputs: &'a Outputs) -> Fut<'a, Outputs> {
        self.calls.lock().unwrap().push(Call::Update(r.id.into()));
        let answer = self.next("update", r.id);
        Box::pin(async move {
            match answer {
                Some(Answer::Fail(m)) => Err(failure("fake:Update", m)),
                _ => Ok(outputs.clone()),
            }
        })
    }

    fn delete<'a>(&'a self, _kind: &'a str, _region: &'a str, outputs: &'a Json, _props: &'a Json) -> Fut<'a, ()> {
        let id = outputs["platform_id"].as_str().unwrap_or_default().to_string();
        self.calls.lock().unwrap().push(Call::Delete(id.clone()));
        let answer = self.next("delete", &id);
        Box::pin(async move {
            match answer {
                Some(Answer::Fail(m)) => Err(failure("fake:Delete", m)),
                _ => Ok(()),
            }
        })
    }

    fn read<'a>(&'a self, _kind: &'a str, _region: &'a str, _outputs: &'a Json) -> Fut<'a, Live> {
        Box::pin(async { Ok(Live::Unknown) })
    }

    fn step<'a>(&'a self, action: &'a str, _region: &'a str, _params: &'a Json, _timeout: Duration) -> Fut<'a, String> {
        Box::pin(async move { Ok(format!("ran {action}")) })
    }

    fn rollout_begin<'a>(&'a self, _: &'a str, _: &'a Props<'a>, _: Option<Slots>) -> Fut<'a, Begun> {
        Box::pin(async { Err(ProviderError::new("fake", "no rollouts here")) })
    }

    fn rollout_shift<'a>(&'a self, _: &'a str, _: &'a Slots, _: u32) -> Fut<'a, String> {
        Box::pin(async { Err(ProviderError::new("fake", "no rollouts here")) })
    }

    fn rollout_bake<'a>(
        &'a self,
        _: &'a str,
        _: &'a Slots,
        _: &'a Props<'a>,
        _: u64,
        _: &'a AtomicBool,
    ) -> Fut<'a, String> {
        Box::pin(async { Err(ProviderError::new("fake", "no rollouts here")) })
    }

    fn rollout_finish<'a>(&'a self, _: &'a str, _: &'a Slots, _: Duration, _: bool) -> Fut<'a, String> {
        Box::pin(async { Err(ProviderError::new("fake", "no rollouts here")) })
    }

    fn rollout_rollback<'a>(&'a self, _: &'a str, _: &'a Slots) -> Fut<'a, String> {
        Box::pin(async { Err(ProviderError::new("fake", "no rollouts here")) })
    }
}

/// A planned resource `x.<name>` of type `t.thing` with `props`, after `deps`.
fn planned(name: &str, props: Json, deps: &[&str]) -> PlannedResource {
    let mut properties = Value::from_json(&props);
    if let Value::Object(entries) = &mut properties {
        for d in deps {
            entries.push((
                format!("after_{d}"),
                Value::Ref(Ref {
                    resource: format!("x.{d}"),
                    attribute: "id".into(),
                }),
            ));
        }
    }
    PlannedResource {
        id: format!("x.{name}"),
        instance: "x".into(),
        kind: "t.thing".into(),
        region: "us-east-1".into(),
        action: Action::Create,
        properties,
        depends_on: deps.iter().map(|d| format!("x.{d}")).collect(),
    }
}

fn plan(resources: Vec<PlannedResource>) -> Plan {
    // One wave per resource, in the given order (the scheduler follows the
    // dependencies anyway).
    Plan {
        blueprint: "bp".into(),
        env: "test".into(),
        regions: vec!["us-east-1".into()],
        tags: Vec::new(),
        plugins: Vec::new(),
        waves: resources.iter().map(|r| vec![r.id.clone()]).collect(),
        critical_path: Vec::new(),
        exports: Vec::new(),
        steps: Vec::new(),
        resources,
    }
}

/// A state entry for `x.<name>` (its outputs carry its id, for the fake's delete).
fn entry(name: &str, status: Status, props: Json) -> (String, ResourceState) {
    let id = format!("x.{name}");
    (
        id.clone(),
        ResourceState {
            kind: "t.thing".into(),
            region: "us-east-1".into(),
            status,
            properties: props,
            outputs: json!({ "id": format!("{id}-old"), "platform_id": id })
                .as_object()
                .unwrap()
                .clone(),
            depends_on: Vec::new(),
            created_by: "run-before".into(),
            token: "token-before".into(),
        },
    )
}

struct Outcome {
    calls: Vec<Call>,
    journal: Vec<String>,
    state: State,
    report: super::Report,
}

fn run(prior: Vec<(String, ResourceState)>, plan: Plan, fake: Fake, rollback: bool) -> Outcome {
    run_with(prior, plan, fake, rollback, false)
}

/// `broken_store`: after the prior state is saved, every later state write
/// fails (its path becomes a directory).
fn run_with(
    prior: Vec<(String, ResourceState)>,
    plan: Plan,
    fake: Fake,
    rollback: bool,
    broken_store: bool,
) -> Outcome {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "platform-engine-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = StateStore::new(Some(dir.clone()), "bp", "test");
    let mut state = State::new("bp", "test");
    state.resources = prior.into_iter().collect::<BTreeMap<_, _>>();
    store.save(&mut state).unwrap();
    let saved = state.clone();
    if broken_store {
        std::fs::remove_file(store.state_path()).unwrap();
        std::fs::create_dir(store.state_path()).unwrap();
    }
    let fake = Arc::new(fake);
    let provider: Arc<dyn Provider> = fake.clone();
    let run = Arc::new(Run::new(provider, store, state, Vec::new(), Arc::new(Silent)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(run.up(Arc::new(plan), 4, rollback));
    let journal = std::fs::read_to_string(run.store.journal_path())
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let e: Json = serde_json::from_str(l).unwrap();
            format!(
                "{} {}",
                e["event"].as_str().unwrap(),
                e["id"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let state = if broken_store { saved } else { run.store.load().unwrap() };
    let _ = std::fs::remove_dir_all(&dir);
    Outcome {
        calls: fake.calls(),
        journal,
        state,
        report,
    }
}

fn create(id: &str) -> Call {
    Call::Create(format!("x.{id}"))
}
fn find(id: &str) -> Call {
    Call::Find(format!("x.{id}"))
}
fn update(id: &str) -> Call {
    Call::Update(format!("x.{id}"))
}
fn delete(id: &str) -> Call {
    Call::Delete(format!("x.{id}"))
}

fn status(o: &Outcome, id: &str) -> Option<Status> {
    o.state.resources.get(&format!("x.{id}")).map(|e| e.status)
}

fn change(o: &Outcome, id: &str) -> Option<Change> {
    o.report.changes.get(&format!("x.{id}")).copied()
}

#[test]
fn new_resources_are_created_with_the_intent_journaled_first() {
    let o = run(
        vec![],
        plan(vec![
            planned("a", json!({ "size": 1 }), &[]),
            planned("b", json!({}), &["a"]),
        ]),
        Fake::default(),
        false,
    );
    assert_eq!(o.calls, vec![create("a"), create("b")]);
    assert_eq!(
        o.journal,
        ["create-intent x.a", "created x.a", "create-intent x.b", "created x.b"]
    );
    assert_eq!(status(&o, "a"), Some(Status::Created));
    // b was created with a's id resolved into its properties.
    assert_eq!(o.state.resources["x.b"].properties["after_a"], "x.a-0");
    assert_eq!(change(&o, "b"), Some(Change::Created));
    assert!(o.report.failed.is_empty());
}

#[test]
fn unchanged_resources_make_no_call() {
    let o = run(
        vec![entry("a", Status::Created, json!({ "size": 1 }))],
        plan(vec![planned("a", json!({ "size": 1 }), &[])]),
        Fake::default(),
        false,
    );
    assert_eq!(o.calls, vec![]);
    assert!(o.journal.is_empty());
    assert_eq!(change(&o, "a"), Some(Change::Unchanged));
}

#[test]
fn the_table_of_decisions() {
    use Status::*;
    struct Case {
        name: &'static str,
        prior: Status,
        props: Json,
        fake: Fake,
        calls: Vec<Call>,
        journal: Vec<&'static str>,
        after: Option<Status>,
        change: Option<Change>,
        fails: bool,
    }
    let cases = vec![
        Case {
            name: "an in-place change updates",
            prior: Created,
            props: json!({ "size": 2 }),
            fake: Fake::default(),
            calls: vec![update("a")],
            journal: vec!["update-intent x.a", "updated x.a"],
            after: Some(Created),
            change: Some(Change::Updated),
            fails: false,
        },
        Case {
            name: "any other change replaces: delete, then create",
            prior: Created,
            props: json!({ "size": 1, "name": "other" }),
            fake: Fake::default(),
            calls: vec![delete("a"), create("a")],
            journal: vec!["delete-intent x.a", "deleted x.a", "create-intent x.a", "created x.a"],
            after: Some(Created),
            change: Some(Change::Replaced),
            fails: false,
        },
        Case {
            name: "an interrupted create that did happen is adopted",
            prior: Creating,
            props: json!({ "size": 1 }),
            fake: Fake::default().answer("find", "x.a", Answer::Found),
            calls: vec![find("a")],
            journal: vec!["adopted x.a"],
            after: Some(Created),
            change: Some(Change::Adopted),
            fails: false,
        },
        Case {
            name: "an interrupted create that did not happen is created",
            prior: Creating,
            props: json!({ "size": 1 }),
            fake: Fake::default(),
            calls: vec![find("a"), create("a")],
            journal: vec!["create-intent x.a", "created x.a"],
            after: Some(Created),
            change: Some(Change::Created),
            fails: false,
        },
        Case {
            name: "an adopted resource with other properties is then updated",
            prior: Creating,
            props: json!({ "size": 2 }),
            fake: Fake::default().answer("find", "x.a", Answer::Found),
            calls: vec![find("a"), update("a")],
            journal: vec!["adopted x.a", "update-intent x.a", "updated x.a"],
            after: Some(Created),
            change: Some(Change::Updated),
            fails: false,
        },
        Case {
            name: "an interrupted update is made again",
            prior: Updating,
            props: json!({ "size": 1 }),
            fake: Fake::default(),
            calls: vec![update("a")],
            journal: vec!["update-intent x.a", "updated x.a"],
            after: Some(Created),
            change: Some(Change::Updated),
            fails: false,
        },
        Case {
            name: "an interrupted delete is finished, then the resource created anew",
            prior: Deleting,
            props: json!({ "size": 1 }),
            fake: Fake::default(),
            calls: vec![delete("a"), create("a")],
            journal: vec!["delete-intent x.a", "deleted x.a", "create-intent x.a", "created x.a"],
            after: Some(Created),
            change: Some(Change::Replaced),
            fails: false,
        },
        Case {
            name: "a failed update leaves the update intent for the next run",
            prior: Created,
            props: json!({ "size": 2 }),
            fake: Fake::default().answer("update", "x.a", Answer::Fail("throttled")),
            calls: vec![update("a")],
            journal: vec!["update-intent x.a"],
            after: Some(Updating),
            change: None,
            fails: true,
        },
        Case {
            name: "a replacement whose delete fails creates nothing",
            prior: Created,
            props: json!({ "name": "other" }),
            fake: Fake::default().answer("delete", "x.a", Answer::Fail("in use")),
            calls: vec![delete("a")],
            journal: vec!["delete-intent x.a"],
            after: Some(Deleting),
            change: None,
            fails: true,
        },
        Case {
            name: "a replacement whose create fails leaves nothing behind when nothing was made",
            prior: Created,
            props: json!({ "name": "other" }),
            fake: Fake::default().answer("create", "x.a", Answer::Fail("quota")),
            calls: vec![delete("a"), create("a"), find("a")],
            journal: vec![
                "delete-intent x.a",
                "deleted x.a",
                "create-intent x.a",
                "create-failed x.a",
            ],
            after: None,
            change: None,
            fails: true,
        },
        Case {
            name: "a failed create that left something keeps the intent, to adopt or roll back",
            prior: Created,
            props: json!({ "name": "other" }),
            fake: Fake::default()
                .answer("create", "x.a", Answer::Fail("timed out"))
                .answer("find", "x.a", Answer::Found),
            calls: vec![delete("a"), create("a"), find("a")],
            journal: vec!["delete-intent x.a", "deleted x.a", "create-intent x.a"],
            after: Some(Creating),
            change: None,
            fails: true,
        },
        Case {
            name: "properties that do not fit fail before the replacement deletes anything",
            prior: Created,
            props: json!({ "name": "other", "bad": 1 }),
            fake: Fake::default(),
            calls: vec![],
            journal: vec![],
            after: Some(Created),
            change: None,
            fails: true,
        },
        Case {
            name: "an interrupted create whose lookup fails is not created blindly",
            prior: Creating,
            props: json!({ "size": 1 }),
            fake: Fake::default().answer("find", "x.a", Answer::Fail("access denied")),
            calls: vec![find("a")],
            journal: vec![],
            after: Some(Creating),
            change: None,
            fails: true,
        },
    ];
    for c in cases {
        let o = run(
            vec![entry("a", c.prior, json!({ "size": 1 }))],
            plan(vec![planned("a", c.props, &[])]),
            c.fake,
            false,
        );
        assert_eq!(o.calls, c.calls, "{}: calls", c.name);
        assert_eq!(o.journal, c.journal, "{}: journal", c.name);
        assert_eq!(status(&o, "a"), c.after, "{}: final status", c.name);
        assert_eq!(change(&o, "a"), c.change, "{}: change", c.name);
        assert_eq!(
            !o.report.failed.is_empty(),
            c.fails,
            "{}: failed {:?}",
            c.name,
            o.report.failed
        );
    }
}

#[test]
fn a_resumed_create_reuses_its_idempotency_token() {
    let fake = Fake::default();
    let o = run(
        vec![entry("a", Status::Creating, json!({ "size": 1 }))],
        plan(vec![planned("a", json!({ "size": 1 }), &[])]),
        fake,
        false,
    );
    assert_eq!(o.calls, vec![find("a"), create("a")]);
    assert_eq!(o.state.resources["x.a"].token, "token-before");
}

#[test]
fn resources_no_longer_planned_are_deleted_after_the_rest_succeeds() {
    let o = run(
        vec![
            entry("a", Status::Created, json!({ "size": 1 })),
            entry("gone", Status::Created, json!({})),
        ],
        plan(vec![planned("a", json!({ "size": 1 }), &[])]),
        Fake::default(),
        false,
    );
    assert_eq!(o.calls, vec![delete("gone")]);
    assert_eq!(o.journal, ["delete-intent x.gone", "deleted x.gone"]);
    assert_eq!(status(&o, "gone"), None);
    assert_eq!(change(&o, "gone"), Some(Change::Deleted));

    // When something failed, nothing is deleted.
    let o = run(
        vec![entry("gone", Status::Created, json!({}))],
        plan(vec![planned("a", json!({}), &[])]),
        Fake::default().answer("create", "x.a", Answer::Fail("quota")),
        false,
    );
    assert_eq!(o.calls, vec![create("a"), find("a")]);
    assert_eq!(status(&o, "gone"), Some(Status::Created));
}

#[test]
fn a_failure_skips_what_depends_on_it_and_rollback_removes_what_this_run_made() {
    let resources = || {
        plan(vec![
            planned("a", json!({}), &[]),
            planned("b", json!({}), &["a"]),
            planned("c", json!({}), &["b"]),
        ])
    };
    let o = run(
        vec![],
        resources(),
        Fake::default().answer("create", "x.b", Answer::Fail("quota")),
        false,
    );
    assert_eq!(o.calls, vec![create("a"), create("b"), find("b")]);
    assert_eq!(o.report.skipped, vec!["x.c".to_string()]);
    assert_eq!(o.report.failed.len(), 1);
    assert_eq!(o.report.failed[0].id, "x.b");
    assert_eq!(o.report.failed[0].instance, "x");
    assert_eq!(status(&o, "a"), Some(Status::Created));

    // With --rollback, a is deleted again; what existed before the run stays.
    let fake = Fake::default().answer("create", "x.b", Answer::Fail("quota"));
    let o = run(vec![entry("old", Status::Created, json!({}))], resources(), fake, true);
    assert!(o.calls.ends_with(&[delete("a")]), "{:?}", o.calls);
    assert_eq!(o.report.rolled_back, vec!["x.a".to_string()]);
    assert_eq!(status(&o, "a"), None);
    assert_eq!(status(&o, "old"), Some(Status::Created));
    assert_eq!(o.journal.last().map(String::as_str), Some("deleted x.a"));
}

#[test]
fn a_change_of_type_or_region_replaces() {
    let mut moved = planned("a", json!({ "size": 1 }), &[]);
    moved.region = "eu-west-1".into();
    let o = run(
        vec![entry("a", Status::Created, json!({ "size": 1 }))],
        plan(vec![moved]),
        Fake::default(),
        false,
    );
    // A name may be global: the unique `key` kept, the old one goes first.
    assert_eq!(o.calls, vec![delete("a"), create("a")]);
    assert_eq!(o.state.resources["x.a"].region, "eu-west-1");
    // A type without unique properties moves new one first.
    let mut moved = free(planned("a", json!({ "size": 1 }), &[]));
    moved.region = "eu-west-1".into();
    let o = run(
        vec![free_entry(entry("a", Status::Created, json!({ "size": 1 })))],
        plan(vec![moved]),
        Fake::default(),
        false,
    );
    assert_eq!(o.calls, vec![create("a"), delete("a")]);
    assert_eq!(o.state.resources["x.a"].region, "eu-west-1");
    assert_eq!(o.state.resources.len(), 1);
}

#[test]
fn no_call_is_sent_when_its_intent_cannot_be_saved() {
    let o = run_with(
        vec![entry("a", Status::Created, json!({ "size": 1 }))],
        plan(vec![
            planned("a", json!({ "size": 2 }), &[]),
            planned("b", json!({}), &[]),
        ]),
        Fake::default(),
        false,
        true,
    );
    assert_eq!(
        o.calls,
        vec![],
        "the update and the create need their intents saved first"
    );
    assert_eq!(o.report.failed.len(), 2);
    assert!(
        o.report
            .failed
            .iter()
            .all(|f| matches!(f.error, super::NodeError::State(_))),
        "{:?}",
        o.report.failed
    );
    assert!(o.journal.is_empty());
    // The report line names the file and gives the cause once.
    let line = o.report.failed[0].error.to_string();
    assert!(line.starts_with("cannot "), "{line}");
    assert_eq!(line.matches("os error").count(), 1, "{line}");
}

#[test]
fn the_preview_shows_the_decision_up_makes() {
    use super::preview::{Action as Shown, preview_with};
    let mut state = State::new("bp", "test");
    state.resources.extend([
        entry("same", Status::Created, json!({ "size": 1 })),
        entry("grows", Status::Created, json!({ "size": 1 })),
        entry("renamed", Status::Created, json!({ "size": 1 })),
        entry("moved", Status::Created, json!({ "size": 1 })),
        entry("half", Status::Creating, json!({ "size": 1 })),
        entry("old", Status::Created, json!({})),
    ]);
    let mut moved = planned("moved", json!({ "size": 1 }), &["new"]);
    moved.region = "eu-west-1".into();
    let fake = Fake::default();
    let mut shown_plan = plan(vec![
        planned("same", json!({ "size": 1 }), &[]),
        planned("grows", json!({ "size": 2 }), &[]),
        planned("renamed", json!({ "size": 1, "name": "n" }), &[]),
        // Moved to another region, with a property known only later.
        moved,
        planned("half", json!({ "size": 1 }), &[]),
        planned("new", json!({}), &[]),
    ]);
    // The waves in dependency order: `new` before what refers to it.
    shown_plan.waves.sort_by_key(|w| w[0] != "x.new");
    let p = preview_with(
        &shown_plan,
        &state,
        |k, o, n| fake.in_place(k, o, n),
        |k| fake.unique(k),
    );
    let shown: Vec<(&str, Shown)> = p.changes.iter().map(|(id, _, a)| (id.as_str(), *a)).collect();
    assert_eq!(
        shown,
        vec![
            ("x.grows", Shown::Update),
            ("x.renamed", Shown::ReplaceDeleteFirst),
            ("x.moved", Shown::ReplaceDeleteFirst),
            ("x.half", Shown::Resume),
            ("x.new", Shown::Create),
            ("x.old", Shown::Delete),
        ]
    );
    assert_eq!(p.unchanged, 1);
}

#[test]
fn parallel_changes_share_state_writes_and_each_intent_is_durable_before_its_call() {
    // The state's path is known only once run_with makes its directory:
    // the fake reads whichever state file of this test's store exists.
    let resources: Vec<PlannedResource> = (0..24).map(|i| planned(&format!("r{i}"), json!({}), &[])).collect();
    let dir = std::env::temp_dir().join(format!("platform-engine-group-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = StateStore::new(Some(dir.clone()), "bp", "test");
    let fake = Arc::new(Fake {
        durable: Some((store.state_path(), std::sync::Mutex::new(Vec::new()))),
        ..Fake::default()
    });
    let provider: Arc<dyn Provider> = fake.clone();
    let run = Arc::new(Run::new(
        provider,
        store,
        State::new("bp", "test"),
        Vec::new(),
        Arc::new(Silent),
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(run.up(Arc::new(plan(resources)), 8, false));
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let missing = fake.durable.as_ref().unwrap().1.lock().unwrap().clone();
    assert!(missing.is_empty(), "created before its intent was saved: {missing:?}");

    let journal: Vec<Json> = std::fs::read_to_string(run.store.journal_path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events = |name: &str| journal.iter().filter(|e| e["event"] == name).count();
    assert_eq!((events("create-intent"), events("created")), (24, 24));
    // Eight creates at a time: intents and results made while a write ran
    // share the next one, so there are far fewer writes than events.
    let saved = run.store.load().unwrap();
    let writes = journal
        .iter()
        .map(|e| e["serial"].as_u64().unwrap())
        .collect::<std::collections::BTreeSet<_>>();
    assert!(writes.len() < 24, "{} writes for 48 events", writes.len());
    // Each event names the write that made it durable, in order.
    let serials: Vec<u64> = journal.iter().map(|e| e["serial"].as_u64().unwrap()).collect();
    assert!(serials.windows(2).all(|w| w[0] <= w[1]), "{serials:?}");
    assert!(saved.serial >= *serials.last().unwrap());
    assert_eq!(saved.resources.len(), 24);
    assert!(saved.resources.values().all(|e| e.status == Status::Created));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `r` as a `t.free`: a type with no unique property, replaced create-first.
fn free(mut r: PlannedResource) -> PlannedResource {
    r.kind = "t.free".into();
    r
}

fn free_entry((id, mut e): (String, ResourceState)) -> (String, ResourceState) {
    e.kind = "t.free".into();
    (id, e)
}

/// `r` with a property `prop` that references `x.<on>`'s id (and a
/// dependency on it).
fn referring(mut r: PlannedResource, prop: &str, on: &str) -> PlannedResource {
    if let Value::Object(entries) = &mut r.properties {
        entries.push((
            prop.into(),
            Value::Ref(Ref {
                resource: format!("x.{on}"),
                attribute: "id".into(),
            }),
        ));
    }
    r.depends_on.push(format!("x.{on}"));
    r
}

/// A state entry for `x.<name>` that uses `x.<on>` through `prop` (its old id).
fn entry_referring(name: &str, props: Json, prop: &str, on: &str) -> (String, ResourceState) {
    let (id, mut e) = entry(name, Status::Created, props);
    e.properties[prop] = json!(format!("x.{on}-old"));
    e.depends_on.push(format!("x.{on}"));
    (id, e)
}

#[test]
fn a_replacement_creates_the_new_one_moves_its_users_then_deletes_the_old() {
    let o = run(
        vec![
            free_entry(entry("a", Status::Created, json!({ "size": 1 }))),
            entry_referring("b", json!({}), "uses", "a"),
        ],
        plan(vec![
            free(planned("a", json!({ "size": 1, "name": "other" }), &[])),
            referring(planned("b", json!({}), &[]), "uses", "a"),
        ]),
        Fake::default(),
        false,
    );
    assert!(o.report.failed.is_empty(), "{:?}", o.report.failed);
    // b moves to the new a in place before the old a is deleted.
    assert_eq!(o.calls, vec![create("a"), update("b"), delete("a")]);
    assert_eq!(
        o.journal,
        [
            "deposed x.a",
            "create-intent x.a",
            "created x.a",
            "update-intent x.b",
            "updated x.b",
            "delete-intent x.a~old",
            "deleted x.a~old",
        ]
    );
    assert_eq!(o.state.resources.keys().collect::<Vec<_>>(), ["x.a", "x.b"]);
    assert_eq!(o.state.resources["x.a"].properties["name"], "other");
    assert_eq!(
        o.state.resources["x.b"].properties["uses"],
        o.state.resources["x.a"].outputs["id"]
    );
    assert_eq!(change(&o, "a"), Some(Change::Replaced));
    assert_eq!(o.report.count(Change::Deleted), 0, "the old a counts as replaced");
}

#[test]
fn old_resources_of_a_chain_of_replacements_go_in_reverse_dependency_order() {
    let o = run(
        vec![
            free_entry(entry("a", Status::Created, json!({}))),
            free_entry(entry_referring("b", json!({}), "parent", "a")),
        ],
        plan(vec![
            free(planned("a", json!({ "name": "other" }), &[])),
            // Its parent cannot change in place: replaced as well.
            free(referring(planned("b", json!({}), &[]), "parent", "a")),
        ]),
        Fake::default(),
        false,
    );
    assert!(o.report.failed.is_empty(), "{:?}", o.report.failed);
    assert_eq!(o.calls, vec![create("a"), create("b"), delete("b"), delete("a")]);
    assert_eq!(o.state.resources.len(), 2);
    assert_eq!(change(&o, "b"), Some(Change::Replaced));
}

#[test]
fn a_create_first_replacement_whose_create_fails_keeps_the_old_one_as_the_resource() {
    for (name, fake) in [
        (
            "nothing made",
            Fake::default().answer("create", "x.a", Answer::Fail("quota")),
        ),
        (
            // A lookup by tag that finds the old one has found nothing new.
            "the lookup finds the old one",
            Fake::default().answer("create", "x.a", Answer::Fail("quota")).answer(
                "find",
                "x.a",
                Answer::FoundAs("x.a-old"),
            ),
        ),
    ] {
        let o = run(
            vec![free_entry(entry("a", Status::Created, json!({ "size": 1 })))],
            plan(vec![free(planned("a", json!({ "name": "other" }), &[]))]),
            fake,
            false,
        );
        assert_eq!(o.calls, vec![create("a"), find("a")], "{name}");
        assert_eq!(
            o.journal,
            ["deposed x.a", "create-intent x.a", "create-failed x.a", "restored x.a"],
            "{name}"
        );
        assert_eq!(o.state.resources.len(), 1, "{name}");
        assert_eq!(o.state.resources["x.a"].outputs["id"], "x.a-old", "{name}");
        assert_eq!(o.state.resources["x.a"].status, Status::Created, "{name}");
    }
}

#[test]
fn a_create_first_replacement_that_left_something_keeps_both_for_the_next_run() {
    let o = run(
        vec![free_entry(entry("a", Status::Created, json!({ "size": 1 })))],
        plan(vec![free(planned("a", json!({ "name": "other" }), &[]))]),
        Fake::default()
            .answer("create", "x.a", Answer::Fail("timed out"))
            .answer("find", "x.a", Answer::Found),
        false,
    );
    assert_eq!(status(&o, "a"), Some(Status::Creating));
    assert_eq!(o.state.resources["x.a~old"].outputs["id"], "x.a-old");
    // The next run adopts what the create left, then deletes the old one.
    let second = run(
        o.state.resources.clone().into_iter().collect(),
        plan(vec![free(planned("a", json!({ "name": "other" }), &[]))]),
        Fake::default().answer("find", "x.a", Answer::Found),
        false,
    );
    assert!(second.report.failed.is_empty(), "{:?}", second.report.failed);
    assert_eq!(second.calls, vec![find("a"), delete("a")]);
    assert_eq!(second.state.resources.keys().collect::<Vec<_>>(), ["x.a"]);
    assert_eq!(second.state.resources["x.a"].outputs["id"], "found");
}

#[test]
fn a_rolled_back_replacement_gives_back_the_old_resource() {
    let o = run(
        vec![free_entry(entry("a", Status::Created, json!({ "size": 1 })))],
        plan(vec![
            free(planned("a", json!({ "name": "other" }), &[])),
            planned("c", json!({}), &["a"]),
        ]),
        Fake::default().answer("create", "x.c", Answer::Fail("quota")),
        true,
    );
    assert_eq!(o.report.failed.len(), 1, "{:?}", o.report.failed);
    assert_eq!(o.calls, vec![create("a"), create("c"), find("c"), delete("a")]);
    assert_eq!(o.state.resources.keys().collect::<Vec<_>>(), ["x.a"]);
    assert_eq!(o.state.resources["x.a"].outputs["id"], "x.a-old");
    assert_eq!(o.journal.last().map(String::as_str), Some("restored x.a"));
}

#[test]
fn the_preview_follows_replacements_to_their_users_and_refuses_to_delete_from_under_them() {
    use super::preview::{Action as Shown, preview_with};
    let fake = Fake::default();
    let shown = |state: &State, resources: Vec<PlannedResource>| {
        let p = preview_with(
            &plan(resources),
            state,
            |k, o, n| fake.in_place(k, o, n),
            |k| fake.unique(k),
        );
        let actions: Vec<(String, Shown)> = p.changes.iter().map(|(id, _, a)| (id.clone(), *a)).collect();
        (actions, p.refused)
    };
    // A type AWS names: create first; a user moves in place, a child is
    // replaced too, though their references still resolve from the state.
    let mut state = State::new("bp", "test");
    state.resources.extend([
        free_entry(entry("a", Status::Created, json!({}))),
        entry_referring("user", json!({}), "uses", "a"),
        entry_referring("child", json!({}), "parent", "a"),
    ]);
    let (actions, refused) = shown(
        &state,
        vec![
            free(planned("a", json!({ "name": "other" }), &[])),
            referring(planned("user", json!({}), &[]), "uses", "a"),
            referring(planned("child", json!({}), &[]), "parent", "a"),
        ],
    );
    assert_eq!(
        actions,
        [
            ("x.a".to_string(), Shown::Replace),
            ("x.user".to_string(), Shown::Update),
            ("x.child".to_string(), Shown::ReplaceDeleteFirst),
        ]
    );
    // The child deletes first (its `key` is kept) but nothing uses it.
    assert!(refused.is_empty(), "{refused:?}");

    // A type with a kept unique property that something uses: refused,
    // naming the resource, the property and the user.
    let mut state = State::new("bp", "test");
    state.resources.extend([
        entry("a", Status::Created, json!({ "key": "k1" })),
        entry_referring("user", json!({}), "uses", "a"),
    ]);
    let (actions, refused) = shown(
        &state,
        vec![
            planned("a", json!({ "key": "k1", "port": 2 }), &[]),
            referring(planned("user", json!({}), &[]), "uses", "a"),
        ],
    );
    assert_eq!(actions[0], ("x.a".to_string(), Shown::ReplaceDeleteFirst));
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].starts_with("x.a: AWS allows one at a time with `key` \"k1\"")
            && refused[0].contains("(changed: port)")
            && refused[0].contains("x.user still uses it"),
        "{}",
        refused[0]
    );
    // A new value for the unique property: create first, nothing refused.
    let (actions, refused) = shown(
        &state,
        vec![
            planned("a", json!({ "key": "k2", "port": 2 }), &[]),
            referring(planned("user", json!({}), &[]), "uses", "a"),
        ],
    );
    assert_eq!(actions[0], ("x.a".to_string(), Shown::Replace));
    assert!(refused.is_empty(), "{refused:?}");
}

#[test]
fn the_preview_keeps_old_resources_while_a_rollout_awaits_approval() {
    use super::preview::{Action as Shown, preview_with};
    use crate::state::{Rollout, RolloutStatus};
    let fake = Fake::default();
    let (_, old) = entry("a", Status::Created, json!({}));
    let mut state = State::new("bp", "test");
    state
        .resources
        .extend([entry("a", Status::Created, json!({})), ("x.a~old".to_string(), old)]);
    let mut with_rollout = plan(vec![planned("a", json!({}), &[])]);
    // The rollout of instance x, keyed by its first step.
    with_rollout.steps.push(crate::plan::PlannedStep {
        id: "x.begin".into(),
        instance: "x".into(),
        phase: crate::runtime::Phase::Rollout,
        action: "rollout.begin".into(),
        params: crate::value::Value::Null,
        after: Vec::new(),
        timeout_seconds: 60,
        depends_on: Vec::new(),
    });
    let deletes = |plan: &Plan, state: &State| {
        let p = preview_with(plan, state, |k, o, n| fake.in_place(k, o, n), |k| fake.unique(k));
        p.changes
            .iter()
            .filter(|(_, _, a)| *a == Shown::Delete)
            .map(|(id, _, _)| id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(deletes(&with_rollout, &state), ["x.a~old"]);
    let mut record = Rollout {
        instance: "x".into(),
        region: "us-east-1".into(),
        status: RolloutStatus::AwaitingApproval,
        next_step: "x.approve".into(),
        done: 1,
        total: 3,
        approved: false,
        started_at: String::new(),
        updated_at: String::new(),
        slots: None,
        format: crate::state::ROLLOUT_FORMAT,
        reason: None,
    };
    state.rollouts.insert("x.begin".into(), record.clone());
    assert!(
        deletes(&with_rollout, &state).is_empty(),
        "kept while the rollout waits"
    );
    // A rollout the plan no longer has does not run, and keeps nothing.
    let without = plan(vec![planned("a", json!({}), &[])]);
    assert_eq!(deletes(&without, &state), ["x.a~old"], "its service left the blueprint");
    record.approved = true;
    state.rollouts.insert("x.begin".into(), record);
    assert_eq!(
        deletes(&with_rollout, &state),
        ["x.a~old"],
        "promoted: this up finishes it"
    );
}

#[test]
fn a_create_that_returns_an_old_resource_makes_it_live_again_not_deleted() {
    // A name changed, then changed back before the old resource was
    // deleted: an idempotent create returns that old one (the fake's first
    // create answers `x.a-0`, which the deposed entry holds).
    let (_, mut parked) = free_entry(entry("a", Status::Created, json!({ "name": "first" })));
    parked.outputs.insert("id".into(), json!("x.a-0"));
    let o = run(
        vec![
            free_entry(entry("a", Status::Created, json!({ "name": "second" }))),
            ("x.a~old".to_string(), parked),
        ],
        plan(vec![free(planned("a", json!({ "name": "first" }), &[]))]),
        Fake::default(),
        false,
    );
    assert!(o.report.failed.is_empty(), "{:?}", o.report.failed);
    // Only the `second` one (deposed by this run) is deleted.
    assert_eq!(o.calls, vec![create("a"), delete("a")]);
    assert!(o.journal.contains(&"live-again x.a".to_string()), "{:?}", o.journal);
    assert_eq!(o.state.resources.keys().collect::<Vec<_>>(), ["x.a"]);
    assert_eq!(o.state.resources["x.a"].outputs["id"], "x.a-0");
}
