//! The execution engine: carries out a plan against AWS through the
//! providers, in parallel along the dependency graph, journaling every
//! mutating call in the state before it is sent and after it returns.
//!
//! Architecture invariant: the engine knows the plan, the state and the
//! provider interface; it never names a resource type or calls an AWS SDK.

pub mod decide;
pub mod drift;
pub mod events;
pub mod preview;
pub mod provider;
pub mod resolve;
pub mod rollout;
pub mod schedule;
#[cfg(test)]
mod tests;
pub mod time;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

pub use decide::{Decision, Order};
pub use events::{Events, Silent};

use crate::plan::{Plan, PlannedResource, PlannedStep};
use crate::providers::{Outputs, Props, ProviderError, Request};
use crate::runtime::Phase;
use crate::state::{ResourceState, State, StateError, StateStore, Status, is_deposed};
pub use provider::Provider;

/// A node of the graph `up` runs: the index of a planned resource or step.
#[derive(Clone, Copy)]
enum Node {
    Resource(usize),
    Step(usize),
}

/// What one node of a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Created,
    Adopted,
    Updated,
    Replaced,
    Deleted,
    Unchanged,
    StepRan,
}

/// Why a resource or step failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    Aws(#[from] ProviderError),
    #[error("{0}")]
    Resolve(#[from] resolve::ResolveError),
    /// The state could not record the change: the report line carries the
    /// causes (a node's failure is one line).
    #[error("{}", with_causes(.0.as_ref()))]
    State(std::sync::Arc<StateError>),
    #[error("{0}")]
    Rollout(String),
}

impl From<StateError> for NodeError {
    fn from(e: StateError) -> NodeError {
        NodeError::State(std::sync::Arc::new(e))
    }
}

/// An error and its causes on one line, for a report line (a node's failure
/// is one line; the CLI prints other errors with a line per cause).
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    line
}

/// A failed node, with the plugin instance it came from.
#[derive(Debug, Clone)]
pub struct Failed {
    pub id: String,
    pub instance: String,
    pub error: NodeError,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (plugin instance `{}`): {}", self.id, self.instance, self.error)
    }
}

/// The result of `up` or `down`.
#[derive(Debug, Default)]
pub struct Report {
    pub changes: BTreeMap<String, Change>,
    pub failed: Vec<Failed>,
    pub skipped: Vec<String>,
    /// Resources removed by `--rollback` after a failure.
    pub rolled_back: Vec<String>,
    pub outputs: BTreeMap<String, Json>,
    /// How long each resource and apply step took.
    pub durations: BTreeMap<String, Duration>,
    /// How long each phase of the run took, in order: the graph of
    /// resources and apply steps, rollouts, verify steps, deletions.
    pub phases: Vec<(&'static str, Duration)>,
    /// Rollouts that finished or had nothing to do, a line each.
    pub rollouts: Vec<String>,
    /// Rollouts waiting at an approval step.
    pub paused: Vec<String>,
}

impl Report {
    pub fn count(&self, change: Change) -> usize {
        self.changes.values().filter(|c| **c == change).count()
    }
}

/// One run against one blueprint environment.
pub struct Run {
    /// The cloud: AWS, or a scripted fake in the engine's tests.
    pub provider: Arc<dyn Provider>,
    pub store: StateStore,
    pub state: Mutex<State>,
    pub run_id: String,
    /// Tags for every resource (blueprint and environment tags).
    pub tags: Vec<(String, String)>,
    /// Where progress goes (the CLI renders it).
    pub reporter: Arc<dyn Events>,
    changes: std::sync::Mutex<BTreeMap<String, Change>>,
    durations: std::sync::Mutex<BTreeMap<String, Duration>>,
    commits: Arc<Commits>,
}

/// The queue of a group commit (see [`Run::commit`]).
#[derive(Default)]
struct Commits {
    queue: std::sync::Mutex<Queue>,
    /// Signalled when a write finishes.
    written: tokio::sync::Notify,
}

#[derive(Default)]
struct Queue {
    /// Events not yet written, and the sequence number of the last one queued.
    events: Vec<Json>,
    queued: u64,
    /// Every event up to this one has been written (or failed to be).
    finished: u64,
    writing: bool,
    /// Writes that failed: the events they carried (first, last) and why.
    failures: Vec<(u64, u64, Arc<StateError>)>,
}

/// The lead of a group commit, given back when dropped however the leader
/// ends: before it took a batch, by letting another lead; after, by
/// finishing the batch with its result, an interruption unless the write
/// set one (so no committer waits on a write that panicked or never ran).
struct Lead {
    commits: Arc<Commits>,
    /// The last event of the batch taken, once taken.
    upto: Option<u64>,
    result: Result<(), Arc<StateError>>,
}

impl Drop for Lead {
    fn drop(&mut self) {
        match self.upto {
            Some(upto) => {
                let result = std::mem::replace(&mut self.result, Ok(()));
                self.commits.finish(upto, result);
            }
            None => {
                self.commits.queue.lock().expect("commit queue").writing = false;
                self.commits.written.notify_waiters();
            }
        }
    }
}

/// What a committer should do next.
enum Turn {
    Done(Result<(), Arc<StateError>>),
    Wait,
    Lead,
}

impl Commits {
    fn enqueue(&self, event: Json) -> u64 {
        let mut q = self.queue.lock().expect("commit queue");
        q.events.push(event);
        q.queued += 1;
        q.queued
    }

    fn poll(&self, seq: u64) -> Turn {
        let mut q = self.queue.lock().expect("commit queue");
        if q.finished >= seq {
            return Turn::Done(
                match q
                    .failures
                    .iter()
                    .find(|(first, last, _)| (*first..=*last).contains(&seq))
                {
                    Some((_, _, e)) => Err(e.clone()),
                    None => Ok(()),
                },
            );
        }
        if q.writing {
            return Turn::Wait;
        }
        q.writing = true;
        Turn::Lead
    }

    /// The queued events, and the sequence number of the last.
    fn take(&self) -> (Vec<Json>, u64) {
        let mut q = self.queue.lock().expect("commit queue");
        (std::mem::take(&mut q.events), q.queued)
    }

    fn finish(&self, upto: u64, result: Result<(), Arc<StateError>>) {
        let mut q = self.queue.lock().expect("commit queue");
        if let Err(e) = result {
            let first = q.finished + 1;
            q.failures.push((first, upto, e));
        }
        q.finished = upto;
        q.writing = false;
        drop(q);
        self.written.notify_waiters();
    }
}

impl Run {
    pub fn new(
        provider: Arc<dyn Provider>,
        store: StateStore,
        state: State,
        tags: Vec<(String, String)>,
        reporter: Arc<dyn Events>,
    ) -> Run {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Run {
            provider,
            store,
            state: Mutex::new(state),
            run_id: format!("run-{secs}-{}", std::process::id()),
            tags,
            reporter,
            changes: std::sync::Mutex::new(BTreeMap::new()),
            durations: std::sync::Mutex::new(BTreeMap::new()),
            commits: Arc::default(),
        }
    }

    fn tags_for(&self, id: &str) -> Vec<(String, String)> {
        let mut tags = self.tags.clone();
        tags.push(("platform:blueprint".into(), self.store.blueprint.clone()));
        tags.push(("platform:environment".into(), self.store.environment.clone()));
        tags.push(("platform:id".into(), id.into()));
        tags
    }

    fn token(&self, id: &str) -> String {
        let digest = Sha256::digest(format!(
            "{}/{}/{}/{id}",
            self.store.blueprint, self.store.environment, self.run_id
        ));
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    fn note(&self, id: &str, change: Change) {
        self.changes
            .lock()
            .expect("changes lock")
            .insert(id.to_string(), change);
    }

    /// Record a resource's new state (and journal it) before or after a
    /// call; returns once both are durable.
    async fn record(&self, id: &str, entry: Option<ResourceState>, event: &str) -> Result<(), NodeError> {
        let mut state = self.state.lock().await;
        let status = entry.as_ref().map(|e| e.status);
        match entry {
            Some(e) => {
                state.resources.insert(id.to_string(), e);
            }
            None => {
                state.resources.remove(id);
            }
        }
        self.commit(state, json!({ "event": event, "id": id, "status": status }))
            .await
    }

    /// Make the change just made to `state` durable with `event` journaled
    /// (with the run, serial and time): the state is saved, then the event
    /// appended, before this returns.
    ///
    /// Group commit: the state lock is not held while writing. Changes made
    /// while one write runs wait and go out together in the next: one state
    /// write and one journal append for all of them, so parallel resources
    /// do not queue on each other's fsyncs or PUTs.
    async fn commit(&self, state: tokio::sync::MutexGuard<'_, State>, mut event: Json) -> Result<(), NodeError> {
        if let Json::Object(map) = &mut event {
            map.insert("run".into(), self.run_id.clone().into());
            map.insert("at".into(), time::timestamp().into());
        }
        let seq = self.commits.enqueue(event);
        drop(state);
        loop {
            let written = self.commits.written.notified();
            tokio::pin!(written);
            written.as_mut().enable();
            match self.commits.poll(seq) {
                Turn::Done(result) => return result.map_err(NodeError::State),
                Turn::Wait => written.await,
                Turn::Lead => self.write_batch().await,
            }
        }
    }

    /// As the leader of a group commit: write the state as it is now with
    /// every event queued so far. The write finishes and is accounted for
    /// even if this future is dropped (a cancelled node), so the queue never
    /// waits on a leader that is gone.
    async fn write_batch(&self) {
        let mut lead = Lead {
            commits: self.commits.clone(),
            upto: None,
            result: Err(Arc::new(StateError::Interrupted)),
        };
        let mut state = self.state.lock().await;
        // Taken under the state lock, so the events are exactly the changes
        // the bytes hold. From here on the batch is finished whatever
        // happens: written, failed, or (should writing panic) failed.
        let (mut events, upto) = self.commits.take();
        lead.upto = Some(upto);
        let bytes = crate::state::encode(&mut state);
        for event in &mut events {
            if let Json::Object(map) = event {
                map.insert("serial".into(), state.serial.into());
            }
        }
        drop(state);
        let store = self.store.clone();
        let written = tokio::task::spawn_blocking(move || {
            let mut lead = lead;
            lead.result = store
                .write(&bytes)
                .and_then(|()| store.journal_all(&events))
                .map_err(Arc::new);
        })
        .await;
        if let Err(e) = written
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    /// Carry out `plan`: create, adopt, update or replace each resource, run
    /// apply steps whose inputs changed, delete resources no longer planned,
    /// then run verify steps if anything changed.
    pub async fn up(self: &Arc<Self>, plan: Arc<Plan>, parallelism: usize, rollback: bool) -> Report {
        let nodes: Vec<String> = plan.waves.iter().flatten().cloned().collect();
        let mut deps: HashMap<String, Vec<String>> = HashMap::new();
        for r in &plan.resources {
            deps.insert(r.id.clone(), r.depends_on.clone());
        }
        for s in plan.steps.iter().filter(|s| s.phase == Phase::Apply) {
            deps.insert(s.id.clone(), s.depends_on.clone());
        }
        // Nodes by id (a search of the plan per node is quadratic in an estate).
        let index: Arc<HashMap<String, Node>> = Arc::new(
            plan.resources
                .iter()
                .enumerate()
                .map(|(i, r)| (r.id.clone(), Node::Resource(i)))
                .chain(
                    plan.steps
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (s.id.clone(), Node::Step(i))),
                )
                .collect(),
        );
        let mut phase = std::time::Instant::now();
        let mut phases = Vec::new();
        let mut lap = |name: &'static str, phases: &mut Vec<(&'static str, Duration)>| {
            phases.push((name, phase.elapsed()));
            phase = std::time::Instant::now();
        };
        let outcome = schedule::run(&nodes, &deps, parallelism, |id| {
            let (run, plan, index) = (self.clone(), plan.clone(), index.clone());
            async move {
                let started = std::time::Instant::now();
                let result = match index.get(&id) {
                    Some(Node::Resource(i)) => run.apply_resource(&plan.resources[*i]).await,
                    Some(Node::Step(i)) => run.apply_step(&plan.steps[*i], &plan).await,
                    None => unreachable!("a node is a resource or a step"),
                };
                run.durations
                    .lock()
                    .expect("durations lock")
                    .insert(id.clone(), started.elapsed());
                result.map_err(|e| (id.clone(), e))
            }
        })
        .await;
        let mut report = Report::default();
        let instance_of = |id: &str| id.split('.').next().unwrap_or_default().to_string();
        report.failed = outcome
            .failed
            .into_iter()
            .map(|(id, (_, error))| Failed {
                instance: instance_of(&id),
                id,
                error,
            })
            .collect();
        report.skipped = outcome.skipped;
        lap("resources and steps", &mut phases);

        if report.failed.is_empty() {
            let outcome = self.rollouts(plan.clone(), |_| true).await;
            report.rollouts = outcome.done;
            report.paused = outcome.paused;
            report.failed.extend(outcome.failed);
            lap("rollouts", &mut phases);
        }
        let anything_changed = self
            .changes
            .lock()
            .expect("changes lock")
            .values()
            .any(|c| *c != Change::Unchanged);
        if report.failed.is_empty() && anything_changed {
            for step in plan.steps.iter().filter(|s| s.phase == Phase::Verify) {
                if let Err(error) = self.apply_step(step, &plan).await {
                    report.failed.push(Failed {
                        id: step.id.clone(),
                        instance: step.instance.clone(),
                        error,
                    });
                    break;
                }
            }
            lap("verify steps", &mut phases);
        }
        if report.failed.is_empty() {
            // Resources the plan no longer has, and the old resources of
            // create-first replacements, now that everything has moved to
            // the new ones and verify steps passed (a rollback until then
            // gives the old ones back): together, so each goes after what
            // uses it. Not
            // the old ones while a rollout is paused (its blue side may
            // still use an old target group).
            let planned: HashSet<&str> = plan.resources.iter().map(|r| r.id.as_str()).collect();
            let paused = !report.paused.is_empty();
            let gone: Vec<String> = {
                let state = self.state.lock().await;
                state
                    .resources
                    .keys()
                    .filter(|id| !planned.contains(id.as_str()))
                    .filter(|id| !paused || !is_deposed(id))
                    .cloned()
                    .collect()
            };
            if !gone.is_empty() {
                let failed = self.delete_all(&gone, parallelism).await;
                report.failed.extend(failed);
                lap("deletions", &mut phases);
            }
        }
        if report.failed.is_empty() {
            report.outputs = self.outputs(&plan).await;
        } else if rollback {
            let created: Vec<String> = {
                let state = self.state.lock().await;
                let changes = self.changes.lock().expect("changes lock");
                state
                    .resources
                    .iter()
                    .filter(|(_, e)| e.created_by == self.run_id)
                    // A replacement whose old resource is gone (deleted
                    // first) stays: rolling it back would leave nothing.
                    .filter(|(id, _)| changes.get(*id) != Some(&Change::Replaced) || !state.deposed(id).is_empty())
                    .map(|(id, _)| id.clone())
                    .collect()
            };
            self.reporter
                .line(&format!("rolling back {} resources created by this run", created.len()));
            let failed = self.delete_all(&created, parallelism).await;
            report.rolled_back = created
                .into_iter()
                .filter(|id| !failed.iter().any(|f| &f.id == id))
                .collect();
            report.failed.extend(failed);
            // What a rolled-back replacement deposed is the resource again.
            for id in &report.rolled_back {
                if let Err(error) = self.restore_deposed(id).await {
                    report.failed.push(Failed {
                        id: id.clone(),
                        instance: instance_of(id),
                        error,
                    });
                }
            }
        }
        report.changes = self.changes.lock().expect("changes lock").clone();
        report.durations = self.durations.lock().expect("durations lock").clone();
        report.phases = phases;
        self.reporter.done();
        report
    }

    /// Resolve the exports of every instance against the state, save and return them.
    async fn outputs(&self, plan: &Plan) -> BTreeMap<String, Json> {
        let mut state = self.state.lock().await;
        let mut outputs = BTreeMap::new();
        for (instance, exports) in &plan.exports {
            for (name, value) in exports {
                if let Ok(v) = resolve::resolve(value, &state) {
                    outputs.insert(format!("{instance}.{name}"), v);
                }
            }
        }
        state.outputs = outputs.clone();
        if let Err(e) = self.store.save(&mut state) {
            self.reporter
                .line(&format!("warning: could not save outputs: {}", with_causes(&e)));
        }
        outputs
    }

    async fn apply_resource(&self, r: &PlannedResource) -> Result<(), NodeError> {
        let props = {
            let state = self.state.lock().await;
            resolve::resolve(&r.properties, &state).map_err(NodeError::Resolve)?
        };
        self.provider.check(&r.kind, &r.id, &props)?;
        let (existing, exclude) = {
            let state = self.state.lock().await;
            let existing = state.resources.get(&r.id).cloned();
            // What a lookup by tag must pass over: the old resources of a
            // replacement, this one's present resource included (a
            // create-first replacement deposes it before creating).
            let mut exclude = old_ids(&state, &r.id);
            exclude.extend(existing.iter().flat_map(|e| identities(&e.outputs)));
            (existing, exclude)
        };
        let tags = self.tags_for(&r.id);
        let request = |token: String| Request {
            id: &r.id,
            kind: &r.kind,
            region: &r.region,
            props: Props::new(&props, &r.kind),
            tags: &tags,
            token,
            exclude: &exclude,
        };
        let Some(entry) = existing else {
            return self.create(r, &props, request(self.token(&r.id))).await;
        };
        match decide::decide(r, &props, Some(&entry), |k, o, n| self.provider.in_place(k, o, n)) {
            Decision::Create => unreachable!("decide says Create only when the state has no entry"),
            Decision::Unchanged => {
                self.reporter.skip();
                self.note(&r.id, Change::Unchanged);
                Ok(())
            }
            Decision::Update => {
                self.update(r, &props, &entry, request(entry_token(&entry, || self.token(&r.id))))
                    .await
            }
            Decision::Resume => {
                // The last run may or may not have created it: look first.
                let req = request(entry_token(&entry, || self.token(&r.id)));
                match self
                    .find_made(
                        &r.id,
                        &Request {
                            props: Props::new(&entry.properties, &r.kind),
                            ..req
                        },
                    )
                    .await?
                {
                    Some(outputs) => {
                        let adopted = ResourceState {
                            status: Status::Created,
                            outputs,
                            ..entry.clone()
                        };
                        self.record(&r.id, Some(adopted.clone()), "adopted").await?;
                        self.live_again(&r.id, &adopted.outputs).await?;
                        self.reporter.resource(&r.id, "adopted", &adopted.outputs);
                        self.note(&r.id, Change::Adopted);
                        if adopted.properties != props {
                            return Box::pin(self.apply_resource(r)).await;
                        }
                        Ok(())
                    }
                    None => {
                        self.create(r, &props, request(entry_token(&entry, || self.token(&r.id))))
                            .await
                    }
                }
            }
            Decision::Replace => {
                match decide::order(self.provider.unique(&r.kind), r, &props, &entry) {
                    // The old one stays (deposed) until the end of the run,
                    // so dependents move to the new one before it goes.
                    Order::CreateFirst => {
                        self.depose(&r.id).await?;
                        if let Err(e) = self.create(r, &props, request(self.token(&r.id))).await {
                            self.restore_deposed(&r.id).await?;
                            return Err(e);
                        }
                    }
                    Order::DeleteFirst { .. } => {
                        self.delete_one(&r.id, &entry).await?;
                        self.create(r, &props, request(self.token(&r.id))).await?;
                    }
                }
                self.note(&r.id, Change::Replaced);
                Ok(())
            }
        }
    }

    /// Move the resource at `id` aside (see `State::depose`), journaled.
    async fn depose(&self, id: &str) -> Result<(), NodeError> {
        let mut state = self.state.lock().await;
        let key = state.depose(id);
        self.commit(state, json!({ "event": "deposed", "id": id, "as": key }))
            .await
    }

    /// After a create-first replacement's create failed and left nothing:
    /// the old resource, deposed for it, is the resource again.
    async fn restore_deposed(&self, id: &str) -> Result<(), NodeError> {
        let mut state = self.state.lock().await;
        if state.resources.contains_key(id) {
            // The create left something (its intent kept): the next run
            // adopts or deletes it; the old one stays deposed.
            return Ok(());
        }
        let Some(key) = state.deposed(id).pop() else {
            return Ok(());
        };
        let mut entry = state.resources.remove(&key).expect("a deposed key is in the state");
        entry.depends_on.retain(|d| !crate::state::is_deposed(d));
        state.resources.insert(id.to_string(), entry);
        self.commit(state, json!({ "event": "restored", "id": id, "from": key }))
            .await
    }

    /// A create that returned a resource kept as deposed (an idempotent
    /// create by name after the name was changed back, a put that
    /// overwrites): that one is the live resource again, never to be
    /// deleted as old.
    async fn live_again(&self, id: &str, outputs: &Outputs) -> Result<(), NodeError> {
        let mut state = self.state.lock().await;
        let same: Vec<String> = state
            .deposed(id)
            .into_iter()
            .filter(|k| same_resource(&state.resources[k].outputs, outputs))
            .collect();
        if same.is_empty() {
            return Ok(());
        }
        for k in &same {
            state.resources.remove(k);
        }
        self.commit(state, json!({ "event": "live-again", "id": id, "was": same }))
            .await
    }

    /// What an interrupted or failed create of `id` left, if anything. The
    /// old resources a create-first replacement keeps carry the same tags,
    /// so a lookup by tag may find one of them: that one is not it.
    async fn find_made(&self, id: &str, request: &Request<'_>) -> Result<Option<Outputs>, ProviderError> {
        let Some(found) = self.provider.find(request).await? else {
            return Ok(None);
        };
        let state = self.state.lock().await;
        let old = state
            .deposed(id)
            .iter()
            .any(|k| same_resource(&state.resources[k].outputs, &found));
        Ok((!old).then_some(found))
    }

    async fn create(&self, r: &PlannedResource, props: &Json, request: Request<'_>) -> Result<(), NodeError> {
        let mut entry = ResourceState {
            kind: r.kind.clone(),
            region: r.region.clone(),
            status: Status::Creating,
            properties: props.clone(),
            outputs: Outputs::new(),
            depends_on: r.depends_on.clone(),
            created_by: self.run_id.clone(),
            token: request.token.clone(),
        };
        self.record(&r.id, Some(entry.clone()), "create-intent").await?;
        self.reporter.start(&r.id, "creating");
        let outputs = match self.provider.create(&request).await {
            Ok(outputs) => outputs,
            Err(e) => {
                // If nothing of ours exists after the failure, withdraw the
                // intent; otherwise keep it, so the next run adopts or the
                // rollback deletes what a partial create left.
                if let Ok(None) = self.find_made(&r.id, &request).await {
                    self.record(&r.id, None, "create-failed").await?;
                }
                return Err(e.into());
            }
        };
        entry.status = Status::Created;
        entry.outputs = outputs;
        self.record(&r.id, Some(entry.clone()), "created").await?;
        self.live_again(&r.id, &entry.outputs).await?;
        self.reporter.resource(&r.id, "created", &entry.outputs);
        self.note(&r.id, Change::Created);
        Ok(())
    }

    async fn update(
        &self,
        r: &PlannedResource,
        props: &Json,
        old: &ResourceState,
        request: Request<'_>,
    ) -> Result<(), NodeError> {
        let intent = ResourceState {
            status: Status::Updating,
            ..old.clone()
        };
        self.record(&r.id, Some(intent), "update-intent").await?;
        self.reporter.start(&r.id, "updating");
        let outputs = self.provider.update(&request, &old.properties, &old.outputs).await?;
        let done = ResourceState {
            status: Status::Created,
            properties: props.clone(),
            outputs,
            depends_on: r.depends_on.clone(),
            ..old.clone()
        };
        self.record(&r.id, Some(done.clone()), "updated").await?;
        self.reporter.resource(&r.id, "updated", &done.outputs);
        self.note(&r.id, Change::Updated);
        Ok(())
    }

    async fn delete_one(&self, id: &str, entry: &ResourceState) -> Result<(), NodeError> {
        let mut outputs = entry.outputs.clone();
        if entry.status == Status::Creating {
            // It may exist without our knowing its ids: look for it.
            let tags = self.tags_for(id);
            let exclude = old_ids(&*self.state.lock().await, id);
            let request = Request {
                id,
                kind: &entry.kind,
                region: &entry.region,
                props: Props::new(&entry.properties, &entry.kind),
                tags: &tags,
                token: entry.token.clone(),
                exclude: &exclude,
            };
            match self.find_made(id, &request).await? {
                Some(found) => outputs = found,
                None => {
                    self.record(id, None, "forgotten").await?;
                    return Ok(());
                }
            }
        }
        self.record(
            id,
            Some(ResourceState {
                status: Status::Deleting,
                outputs: outputs.clone(),
                ..entry.clone()
            }),
            "delete-intent",
        )
        .await?;
        self.reporter.start(id, "deleting");
        self.provider
            .delete(&entry.kind, &entry.region, &Json::Object(outputs), &entry.properties)
            .await?;
        self.record(id, None, "deleted").await?;
        self.reporter.finish(id, &format!("- {id} deleted"));
        Ok(())
    }

    /// Delete resources of the state in reverse dependency order.
    pub async fn delete_all(self: &Arc<Self>, ids: &[String], parallelism: usize) -> Vec<Failed> {
        // A resource waits for everything that depends on it.
        let mut dependents: HashMap<String, Vec<String>> = HashMap::new();
        {
            let state = self.state.lock().await;
            for id in ids {
                if let Some(e) = state.resources.get(id) {
                    for d in &e.depends_on {
                        dependents.entry(d.clone()).or_default().push(id.clone());
                        // What used `d` may still use its old resource.
                        for old in state.deposed(d) {
                            dependents.entry(old).or_default().push(id.clone());
                        }
                    }
                }
            }
        }
        let outcome = schedule::run(ids, &dependents, parallelism, |id| {
            let run = self.clone();
            async move {
                let entry = run.state.lock().await.resources.get(&id).cloned();
                match entry {
                    Some(e) => {
                        run.delete_one(&id, &e).await.map_err(|err| (id.clone(), err))?;
                        // The old one of a replacement counts as replaced.
                        if !is_deposed(&id) {
                            run.note(&id, Change::Deleted);
                        }
                        Ok(())
                    }
                    None => Ok(()),
                }
            }
        })
        .await;
        let instance_of = |id: &str| id.split('.').next().unwrap_or_default().to_string();
        outcome
            .failed
            .into_iter()
            .map(|(id, (_, error))| Failed {
                instance: instance_of(&id),
                id,
                error,
            })
            .collect()
    }

    /// An apply or verify step runs only when something it follows changed
    /// in this run (or, for verify, when anything changed).
    async fn apply_step(&self, step: &PlannedStep, plan: &Plan) -> Result<(), NodeError> {
        if step.phase == Phase::Apply {
            let changes = self.changes.lock().expect("changes lock").clone();
            let touched = step
                .depends_on
                .iter()
                .any(|d| changes.get(d).is_some_and(|c| !matches!(c, Change::Unchanged)));
            if !touched {
                self.reporter.skip();
                return Ok(());
            }
        }
        let params = {
            let state = self.state.lock().await;
            resolve::resolve(&step.params, &state).map_err(NodeError::Resolve)?
        };
        let region = rollout::step_region(step, plan);
        self.reporter.start(&step.id, &step.action);
        let started = std::time::Instant::now();
        let detail = self
            .provider
            .step(
                &step.action,
                &region,
                &params,
                Duration::from_secs(step.timeout_seconds.into()),
            )
            .await?;
        self.reporter.finish(
            &step.id,
            &format!("> {} {} ({detail}, {:.1?})", step.id, step.action, started.elapsed()),
        );
        self.note(&step.id, Change::StepRan);
        Ok(())
    }
}

/// The outputs that name an AWS resource: its id, ARN, identifier or allocation.
const IDENTITIES: [&str; 5] = ["id", "arn", "identifier", "allocation_id", "name"];

/// Whether two sets of outputs name the same AWS resource (by the first of
/// [`IDENTITIES`] that both have).
fn same_resource(a: &Outputs, b: &Outputs) -> bool {
    IDENTITIES
        .iter()
        .find_map(|k| Some((a.get(*k)?, b.get(*k)?)))
        .is_some_and(|(x, y)| x == y)
}

/// The identities (see [`IDENTITIES`]) in `outputs`.
fn identities(outputs: &Outputs) -> impl Iterator<Item = String> + '_ {
    IDENTITIES
        .iter()
        .filter_map(|k| outputs.get(*k)?.as_str().map(str::to_string))
}

/// The identities of the resources deposed from `id` (see `State::depose`).
fn old_ids(state: &State, id: &str) -> Vec<String> {
    state
        .deposed(id)
        .iter()
        .flat_map(|k| identities(&state.resources[k].outputs))
        .collect()
}

fn entry_token(entry: &ResourceState, fresh: impl FnOnce() -> String) -> String {
    if entry.token.is_empty() {
        fresh()
    } else {
        entry.token.clone()
    }
}
