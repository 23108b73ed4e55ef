//! Rollouts: the steps of the `rollout` phase, carried out in order.
//!
//! A plugin contributes a rollout as a chain of steps (each `after` the
//! previous one), for example `rollout.begin`, `traffic.shift` 10,
//! `rollout.bake` 300 s, `traffic.shift` 100, `rollout.finish`. The engine
//! knows no strategy: it runs the chain, saves where it is in the state
//! after every step, pauses at `rollout.approval` until `promote`, and on any
//! failure (a gate, a timeout, an AWS error) calls the rollback primitive and
//! records why. The next run resumes a rollout the state says is under way.
//!
//! Architecture invariant: a rollout's record is saved before the step that
//! follows it starts, so a killed process leaves the state pointing at the
//! step to resume, never at one already half done and forgotten.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use super::{Change, Failed, NodeError, Run, resolve};
use crate::plan::{Plan, PlannedStep};
use crate::providers::rollout::{self as prim, Begun, Slots};
use crate::providers::{Props, ProviderError};
use crate::runtime::Phase;
use crate::state::{Rollout, RolloutStatus};

/// The chain of rollout steps of one plugin instance in one region.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// The id of its first step; the state keys its record by it.
    pub id: String,
    pub instance: String,
    pub region: String,
    pub steps: Vec<PlannedStep>,
}

/// The region a step works in: that of the first resource it follows or refers to.
pub fn step_region(step: &PlannedStep, plan: &Plan) -> String {
    step.depends_on
        .iter()
        .chain(step.after.iter())
        .map(String::as_str)
        .chain(step.params.refs().into_iter().map(|r| r.resource.as_str()))
        .find_map(|d| plan.resource(d).map(|r| r.region.clone()))
        .unwrap_or_else(|| plan.regions[0].clone())
}

/// Group the plan's rollout steps into chains: a step that runs after a
/// rollout step continues that step's chain; any other starts one.
pub fn sequences(plan: &Plan) -> Vec<Sequence> {
    let mut seqs: Vec<Sequence> = Vec::new();
    let mut owner: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for s in plan.steps.iter().filter(|s| s.phase == Phase::Rollout) {
        let idx = match s.after.iter().find_map(|a| owner.get(a.as_str()).copied()) {
            Some(i) => i,
            None => {
                seqs.push(Sequence {
                    id: s.id.clone(),
                    instance: s.instance.clone(),
                    region: step_region(s, plan),
                    steps: Vec::new(),
                });
                seqs.len() - 1
            }
        };
        seqs[idx].steps.push(s.clone());
        owner.insert(&s.id, idx);
    }
    seqs
}

/// How the rollouts of a run ended.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Finished (or found nothing to do), with a line each.
    pub done: Vec<String>,
    /// Waiting for `promote` or `rollback`.
    pub paused: Vec<String>,
    pub failed: Vec<Failed>,
}

/// Where one rollout stands, as its state record keeps it: what the
/// primitives work on, whether `promote` approved it, and when it began.
#[derive(Debug, Clone)]
struct Progress {
    slots: Option<Slots>,
    approved: bool,
    started_at: String,
}

enum End {
    Done(String),
    Paused(String),
    Failed(Failed),
}

fn rollout_err(message: String) -> NodeError {
    NodeError::Rollout(message)
}

impl Run {
    async fn save_rollout(&self, id: &str, record: Option<Rollout>, event: &str) -> Result<(), NodeError> {
        let mut state = self.state.lock().await;
        let status = record.as_ref().map(|r| r.status);
        match record {
            Some(r) => {
                state.rollouts.insert(id.to_string(), r);
            }
            None => {
                state.rollouts.remove(id);
            }
        }
        self.commit(state, json!({ "event": event, "rollout": id, "status": status }))
            .await
    }

    /// Run the plan's rollouts that `pick` selects (given the state's record
    /// of each), all at once; when one fails, the others stop and roll back.
    pub async fn rollouts(self: &Arc<Self>, plan: Arc<Plan>, pick: impl Fn(Option<&Rollout>) -> bool) -> Outcome {
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for seq in sequences(&plan) {
            let record = self.state.lock().await.rollouts.get(&seq.id).cloned();
            if !pick(record.as_ref()) {
                continue;
            }
            let (run, stop) = (self.clone(), stop.clone());
            handles.push(tokio::spawn(async move {
                let end = run.drive(&seq, record, &stop).await;
                if matches!(end, End::Failed(_)) {
                    stop.store(true, Ordering::SeqCst);
                }
                end
            }));
        }
        let mut outcome = Outcome::default();
        for h in handles {
            match h.await {
                Ok(End::Done(line)) => outcome.done.push(line),
                Ok(End::Paused(line)) => outcome.paused.push(line),
                Ok(End::Failed(f)) => outcome.failed.push(f),
                Err(e) => outcome.failed.push(Failed {
                    id: "rollout".into(),
                    instance: String::new(),
                    error: NodeError::Rollout(format!("a rollout task panicked: {e}")),
                }),
            }
        }
        outcome
    }

    async fn drive(&self, seq: &Sequence, record: Option<Rollout>, stop: &AtomicBool) -> End {
        let fail = |id: &str, error: NodeError| {
            End::Failed(Failed {
                id: id.to_string(),
                instance: seq.instance.clone(),
                error,
            })
        };
        let resuming = record.as_ref().filter(|r| r.status != RolloutStatus::RolledBack);
        let mut progress = Progress {
            slots: resuming.and_then(|r| r.slots.clone()),
            approved: resuming.is_some_and(|r| r.approved),
            started_at: resuming.map_or_else(super::time::timestamp, |r| r.started_at.clone()),
        };
        let resume_at = resuming
            .and_then(|r| seq.steps.iter().position(|s| s.id == r.next_step))
            .unwrap_or(0);

        let mut i = 0;
        while i < seq.steps.len() {
            let step = &seq.steps[i];
            if stop.load(Ordering::SeqCst) {
                return self
                    .abandon(seq, step, &progress, "another rollout of this run failed".into(), i)
                    .await;
            }
            let params = {
                let state = self.state.lock().await;
                match resolve::resolve(&step.params, &state) {
                    Ok(p) => p,
                    Err(e) => return fail(&step.id, NodeError::Resolve(e)),
                }
            };
            let p = Props::new(&params, &step.action);
            let timeout = Duration::from_secs(step.timeout_seconds.into());
            self.reporter.start(&step.id, &step.action);
            let started = std::time::Instant::now();
            let result: Result<String, ProviderError> = match step.action.as_str() {
                "rollout.begin" => {
                    let work = self.provider.rollout_begin(&seq.region, &p, progress.slots.clone());
                    match with_timeout(&step.action, timeout, work).await {
                        Ok(Begun::Done { detail, first }) => {
                            // Nothing to roll out, or the first version went
                            // straight to blue: either way, no rollout is left.
                            if first {
                                self.reporter.finish(&step.id, &format!("> {} ({detail})", step.id));
                                self.note(&step.id, Change::StepRan);
                            } else {
                                self.reporter.finish(&step.id, &format!("= {} ({detail})", seq.id));
                            }
                            if record.is_some()
                                && let Err(e) = self.save_rollout(&seq.id, None, "rollout-cleared").await
                            {
                                return fail(&step.id, e);
                            }
                            return End::Done(format!("{}: {detail}", seq.id));
                        }
                        Ok(Begun::Started(s, detail)) => {
                            let s = *s;
                            // Resuming the same rollout continues where it
                            // stopped; anything else starts at the top.
                            let same = progress
                                .slots
                                .as_ref()
                                .is_some_and(|old| old.green_task_set == s.green_task_set);
                            progress.slots = Some(s);
                            if same && resume_at > i {
                                self.reporter.finish(&step.id, &format!("> {} ({detail})", step.id));
                                i = resume_at;
                                if let Err(e) = self.checkpoint(seq, &seq.steps[i], &progress, i).await {
                                    return fail(&step.id, e);
                                }
                                continue;
                            }
                            Ok(detail)
                        }
                        Err(e) => Err(e),
                    }
                }
                "traffic.shift" => match progress.slots.as_mut() {
                    Some(s) => {
                        let green = p.opt_i64("green_percent").unwrap_or(100).clamp(0, 100) as u32;
                        let r = with_timeout(
                            &step.action,
                            timeout,
                            self.provider.rollout_shift(&seq.region, s, green),
                        )
                        .await;
                        if r.is_ok() {
                            s.green_percent = green;
                        }
                        r
                    }
                    None => Err(no_begin(&step.action)),
                },
                "rollout.bake" => match progress.slots.as_mut() {
                    Some(s) => {
                        let seconds = p.opt_i64("seconds").unwrap_or(0).max(0) as u64;
                        if i != resume_at {
                            s.bake_started = None;
                        }
                        let left = prim::bake_left(s, seconds);
                        prim::bake_start(s);
                        if let Err(e) = self.checkpoint(seq, step, &progress, i).await {
                            return fail(&step.id, e);
                        }
                        let s = progress.slots.as_ref().expect("begun: slots were just set");
                        let r = with_timeout(
                            &step.action,
                            timeout,
                            self.provider.rollout_bake(&seq.region, s, &p, left, stop),
                        )
                        .await;
                        if let Some(s) = progress.slots.as_mut() {
                            s.bake_started = None;
                        }
                        r
                    }
                    None => Err(no_begin(&step.action)),
                },
                "rollout.approval" => {
                    if progress.approved {
                        Ok("approved with `platform promote`".into())
                    } else {
                        let mut rec = self.record_for(
                            seq,
                            step,
                            &Progress {
                                approved: false,
                                ..progress.clone()
                            },
                            i,
                        );
                        rec.status = RolloutStatus::AwaitingApproval;
                        if let Err(e) = self.save_rollout(&seq.id, Some(rec), "rollout-awaiting-approval").await {
                            return fail(&step.id, e);
                        }
                        let message = p.opt_str("message").unwrap_or("waiting for approval");
                        self.reporter
                            .finish(&step.id, &format!("|| {} waits for approval", seq.id));
                        return End::Paused(format!("{} ({}): {message}", seq.id, seq.region));
                    }
                }
                "rollout.finish" => match progress.slots.as_ref() {
                    Some(s) => {
                        let drain = Duration::from_secs(p.opt_i64("drain_seconds").unwrap_or(0).max(0) as u64);
                        let deregister = p.bool("deregister_previous").unwrap_or(true);
                        with_timeout(
                            &step.action,
                            timeout,
                            self.provider.rollout_finish(&seq.region, s, drain, deregister),
                        )
                        .await
                    }
                    None => Err(no_begin(&step.action)),
                },
                other => self.provider.step(other, &seq.region, &params, timeout).await,
            };
            match result {
                Ok(detail) => {
                    self.reporter.finish(
                        &step.id,
                        &format!("> {} {} ({detail}, {:.1?})", step.id, step.action, started.elapsed()),
                    );
                    self.note(&step.id, Change::StepRan);
                    let saved = match seq.steps.get(i + 1) {
                        Some(next) => self.checkpoint(seq, next, &progress, i + 1).await,
                        None => self.save_rollout(&seq.id, None, "rollout-finished").await,
                    };
                    if let Err(e) = saved {
                        return fail(&step.id, e);
                    }
                }
                Err(e) => {
                    let when = super::time::timestamp();
                    return self.abandon(seq, step, &progress, format!("{e} (at {when})"), i).await;
                }
            }
            i += 1;
        }
        End::Done(format!("{}: rolled out", seq.id))
    }

    fn record_for(&self, seq: &Sequence, next: &PlannedStep, progress: &Progress, done: usize) -> Rollout {
        Rollout {
            instance: seq.instance.clone(),
            region: seq.region.clone(),
            status: RolloutStatus::InProgress,
            next_step: next.id.clone(),
            done,
            total: seq.steps.len(),
            approved: progress.approved,
            started_at: progress.started_at.clone(),
            updated_at: super::time::timestamp(),
            slots: progress.slots.clone(),
            format: crate::state::ROLLOUT_FORMAT,
            reason: None,
        }
    }

    async fn checkpoint(
        &self,
        seq: &Sequence,
        next: &PlannedStep,
        progress: &Progress,
        done: usize,
    ) -> Result<(), NodeError> {
        let record = self.record_for(seq, next, progress, done);
        self.save_rollout(&seq.id, Some(record), "rollout-step").await
    }

    /// Roll back after a failure at `step` and record why.
    async fn abandon(&self, seq: &Sequence, step: &PlannedStep, progress: &Progress, why: String, done: usize) -> End {
        self.reporter.finish(&step.id, &format!("! {} failed: {why}", step.id));
        let undone = match &progress.slots {
            Some(s) => match self.provider.rollout_rollback(&seq.region, s).await {
                Ok(detail) => format!("rolled back: {detail}"),
                Err(e) => {
                    format!("ROLLBACK FAILED: {e}; the state keeps the rollout, run `platform rollback` to retry")
                }
            },
            None => "nothing had started, nothing to roll back".into(),
        };
        self.reporter.line(&format!("{}: {undone}", seq.id));
        let mut record = self.record_for(
            seq,
            step,
            &Progress {
                approved: false,
                ..progress.clone()
            },
            done,
        );
        if !undone.starts_with("ROLLBACK FAILED") {
            record.status = RolloutStatus::RolledBack;
        }
        record.reason = Some(format!("{}: {why}", step.id));
        let _ = self.save_rollout(&seq.id, Some(record), "rollout-rolled-back").await;
        End::Failed(Failed {
            id: step.id.clone(),
            instance: seq.instance.clone(),
            error: rollout_err(format!("rollout failed at step `{}`: {why}; {undone}", step.action)),
        })
    }

    /// `platform rollback`: put every rollout under way back on blue.
    pub async fn rollback_rollouts(&self) -> Result<Vec<String>, Vec<String>> {
        let records: Vec<(String, Rollout)> = {
            let state = self.state.lock().await;
            state
                .rollouts
                .iter()
                .filter(|(_, r)| r.status != RolloutStatus::RolledBack)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let (mut done, mut failed) = (Vec::new(), Vec::new());
        for (id, mut record) in records {
            let result = match &record.slots {
                Some(s) => self.provider.rollout_rollback(&record.region, s).await,
                None => Ok("nothing had started".into()),
            };
            match result {
                Ok(detail) => {
                    record.status = RolloutStatus::RolledBack;
                    record.reason = Some("rolled back with `platform rollback`".into());
                    record.updated_at = super::time::timestamp();
                    match self.save_rollout(&id, Some(record), "rollout-rolled-back").await {
                        Ok(()) => done.push(format!("{id}: {detail}")),
                        Err(e) => failed.push(format!("{id}: {e}")),
                    }
                }
                Err(e) => failed.push(format!("{id}: {e}")),
            }
        }
        if failed.is_empty() { Ok(done) } else { Err(failed) }
    }
}

fn no_begin(action: &str) -> ProviderError {
    ProviderError::new(
        action,
        "no rollout has begun: a `rollout.begin` step must come first in the chain",
    )
}

async fn with_timeout<T>(
    action: &str,
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(prim::gate_failed(
            &format!("gate `timeout` of {action}"),
            format!("did not finish within {timeout:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn step(id: &str, after: &[&str]) -> PlannedStep {
        PlannedStep {
            id: id.into(),
            instance: id.split('.').next().unwrap().into(),
            phase: Phase::Rollout,
            action: "traffic.shift".into(),
            params: Value::Null,
            after: after.iter().map(|s| s.to_string()).collect(),
            timeout_seconds: 1,
            depends_on: Vec::new(),
        }
    }

    #[test]
    fn chains_follow_after_and_start_anew_without_it() {
        let plan = Plan {
            blueprint: "b".into(),
            env: "e".into(),
            regions: vec!["us-east-1".into()],
            tags: vec![],
            plugins: vec![],
            resources: vec![],
            steps: vec![
                step("a.begin-1", &[]),
                step("a.begin-2", &[]),
                step("a.shift-1", &["a.begin-1"]),
                step("a.shift-2", &["a.begin-2"]),
                step("a.finish-1", &["a.shift-1", "a.other"]),
            ],
            waves: vec![],
            critical_path: vec![],
            exports: vec![],
        };
        let seqs = sequences(&plan);
        let ids: Vec<Vec<&str>> = seqs
            .iter()
            .map(|s| s.steps.iter().map(|x| x.id.as_str()).collect())
            .collect();
        assert_eq!(
            ids,
            vec![
                vec!["a.begin-1", "a.shift-1", "a.finish-1"],
                vec!["a.begin-2", "a.shift-2"]
            ]
        );
        assert_eq!(seqs[1].id, "a.begin-2");
    }
}
