//! `platform plan`: compose the blueprint for one environment and show it;
//! when the environment has a state, also what `up` would change and what
//! drifted in AWS (if AWS can be reached).

use anyhow::Context as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::up::{StateArgs, runtime};
use super::{Context, Failure};
use crate::compose::compose;
use crate::engine::drift::{self, Drift};
use crate::engine::preview::{Action, preview};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The blueprint file.
    pub blueprint: PathBuf,
    /// The environment (default: the blueprint's `default_env`, or its only one).
    #[arg(long, short)]
    pub env: Option<String>,
    /// Print the plan as JSON (format documented in the README) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Leave out resource properties from the human output.
    #[arg(long)]
    pub compact: bool,
    /// Do not contact AWS to look for drift (nor for preflight problems).
    #[arg(long)]
    pub no_refresh: bool,
    /// Ask AWS whether what would be created can be (engine versions, zones,
    /// quotas, KMS keys, hosted zones), as `up` does before changing
    /// anything; on by default when the environment has a state.
    #[arg(long, conflicts_with = "no_refresh")]
    pub preflight: bool,
    /// For CI: exit 0 when `up` would change nothing, 2 when it would, 1 on any error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Save the plan to FILE; `up --plan FILE` applies it only if nothing changed since.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub state: StateArgs,
}

/// How long `plan` gives AWS to answer before reporting drift as unchecked.
const REFRESH_BUDGET: Duration = Duration::from_secs(30);

impl Args {
    pub fn execute(self, ctx: &Context) -> Result<(), Failure> {
        let detailed = self.detailed_exitcode;
        match self.run(ctx) {
            Ok(true) if detailed => Err(Failure::Changes),
            Ok(_) => Ok(()),
            // Everything that is not "changes" is 1 for CI.
            Err(Failure::Invalid(d)) if detailed => Err(anyhow::anyhow!("{d}").into()),
            Err(e) => Err(e),
        }
    }

    /// Show the plan; true if `up` would change something.
    fn run(self, ctx: &Context) -> Result<bool, Failure> {
        let started = std::time::Instant::now();
        let resolved = ctx.resolve(&self.blueprint, self.env.as_deref())?;
        tracing::debug!(target: "platform::timings", "resolved the blueprint in {:?}", started.elapsed());
        let runtime_wasm = ctx.runtime(resolved.stack_bytes)?;
        let plan = compose(&runtime_wasm, &resolved, crate::providers::registry::registry())?;
        let store = self
            .state
            .store(&resolved.blueprint, &resolved.env, resolved.backend.as_deref())?;
        let mut state = store.load().map_err(anyhow::Error::from)?;
        let against_state = if state.resources.is_empty() {
            None
        } else {
            let (found, note) = if self.no_refresh {
                (Vec::new(), Some("not checked (--no-refresh)".to_string()))
            } else {
                let rt = runtime()?;
                let state_ref = &state;
                let outcome = rt.block_on(async {
                    tokio::time::timeout(REFRESH_BUDGET, async {
                        let aws = Arc::new(crate::providers::Aws::load().await?);
                        Ok::<_, crate::providers::ProviderError>(drift::detect(aws, state_ref, 10).await)
                    })
                    .await
                });
                match outcome {
                    Ok(Ok(found)) => (found, None),
                    Ok(Err(e)) => (Vec::new(), Some(format!("not checked: {e}"))),
                    Err(_) => (
                        Vec::new(),
                        Some(format!("not checked: AWS did not answer within {REFRESH_BUDGET:?}")),
                    ),
                }
            };
            drift::apply(&mut state, &found);
            Some((found, note, preview(&plan, &state)))
        };
        if self.preflight || (!self.no_refresh && against_state.is_some()) {
            let creating: std::collections::BTreeSet<String> = match &against_state {
                None => plan.resources.iter().map(|r| r.id.clone()).collect(),
                Some((_, _, p)) => p.creating(),
            };
            if !creating.is_empty() {
                let rt = runtime()?;
                let outcome = rt.block_on(async {
                    tokio::time::timeout(REFRESH_BUDGET, async {
                        let aws = Arc::new(crate::providers::Aws::load().await?);
                        Ok::<_, crate::providers::ProviderError>(
                            crate::providers::preflight::check(aws, &plan, &creating).await,
                        )
                    })
                    .await
                });
                match outcome {
                    Ok(Ok(outcome)) => super::up::preflight_verdict(ctx, &resolved, &outcome)?,
                    Ok(Err(e)) => ctx.status(format!("note: preflight not run: {e}")),
                    Err(_) => ctx.status(format!(
                        "note: preflight not run: AWS did not answer within {REFRESH_BUDGET:?}"
                    )),
                }
            }
        }
        let changes: Vec<serde_json::Value> = match &against_state {
            None => plan
                .resources
                .iter()
                .map(|r| json!({ "id": r.id, "type": r.kind, "action": "create" }))
                .collect(),
            Some((_, _, p)) => p
                .changes
                .iter()
                .map(|(id, kind, a)| json!({ "id": id, "type": kind, "action": a.word() }))
                .collect(),
        };
        let drifted = against_state.as_ref().is_some_and(|(found, _, _)| !found.is_empty());
        let has_changes = !changes.is_empty() || drifted || !state.rollouts.is_empty();
        if let Some(out) = &self.out {
            let saved = crate::plan::SavedPlan {
                format_version: crate::plan::JSON_FORMAT_VERSION,
                blueprint: resolved.blueprint.clone(),
                environment: resolved.env.clone(),
                state_serial: state.serial,
                drift: drifted,
                plan_sha256: plan.digest(),
                changes: changes.clone(),
                plan: plan.to_json(),
            };
            let bytes = serde_json::to_vec_pretty(&saved).map_err(anyhow::Error::from)?;
            std::fs::write(out, bytes).with_context(|| format!("cannot write {}", out.display()))?;
            ctx.status(format!(
                "Saved the plan to {} ({} changes, state serial {}); apply it with `platform up {} --env {} --plan {}`.",
                out.display(),
                changes.len(),
                state.serial,
                self.blueprint.display(),
                resolved.env,
                out.display()
            ));
        }

        let gaps = coverage(&plan);
        if self.json {
            let mut extra = vec![(
                "not_covered",
                gaps.iter()
                    .map(|g| json!({ "what": g.what, "type": g.kind, "resources": g.count, "reason": g.reason }))
                    .collect(),
            )];
            if let Some((found, note, p)) = &against_state {
                extra.push(("against_state", json!({
                    "state_serial": state.serial,
                    "drift_checked": note.is_none(),
                    "drift_note": note,
                    "drift": found.iter().map(|(id, d)| match d {
                        Drift::Gone => json!({ "id": id, "kind": "gone" }),
                        Drift::Changed(diff) => json!({ "id": id, "kind": "changed", "properties": diff.iter().map(|(k, r, l)| json!({ "name": k, "state": r, "live": l })).collect::<Vec<_>>() }),
                        Drift::Unreadable(e) => json!({ "id": id, "kind": "unreadable", "error": e }),
                    }).collect::<Vec<_>>(),
                    "changes": p.changes.iter().map(|(id, kind, a)| json!({ "id": id, "type": kind, "action": a.word(), "note": p.notes.get(id) })).collect::<Vec<_>>(),
                    "refused": p.refused,
                    "unchanged": p.unchanged,
                })));
            }
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            serde_json::to_writer_pretty(&mut out, &plan.json(extra)).map_err(anyhow::Error::from)?;
            writeln!(out).and_then(|()| out.flush()).map_err(anyhow::Error::from)?;
            tracing::debug!(target: "platform::timings", "wrote the plan at {:?}", started.elapsed());
            // The process ends next: freeing a large plan allocation by
            // allocation would only delay the exit.
            std::mem::forget(plan);
            return Ok(has_changes);
        }
        let text = plan.render(!self.compact);
        // The summary line stays last, as in `terraform plan`.
        let (body, summary) = text.trim_end().rsplit_once('\n').unwrap_or(("", text.trim_end()));
        println!("{body}");
        if !gaps.is_empty() {
            println!("Not covered by this host:");
            for g in &gaps {
                println!("  {} {}: {} resource(s); {}", g.kind, g.what, g.count, g.reason);
            }
            println!();
        }
        println!("{summary}");
        if let Some((found, note, p)) = against_state {
            println!("\nAgainst the state ({}, serial {}):", store.location(), state.serial);
            match note {
                Some(n) => println!("  drift {n}"),
                None if found.is_empty() => println!("  no drift"),
                None => {
                    for (id, d) in &found {
                        println!("  drift: {}", drift::describe(id, d));
                    }
                }
            }
            for line in p.lines() {
                println!("  {line}");
            }
            println!(
                "  up would: {} create, {} update, {} replace, {} delete; {} unchanged.",
                p.count(Action::Create) + p.count(Action::Resume),
                p.count(Action::Update) + p.count(Action::MaybeUpdate),
                p.replacements(),
                p.count(Action::Delete),
                p.unchanged
            );
            for refused in &p.refused {
                println!("  up would refuse: {refused}");
            }
        }
        Ok(has_changes)
    }
}

/// What this host cannot do for some planned resources (read their drift,
/// sweep them as leftovers), by type: the plan says so rather than
/// pretending.
struct Gap {
    what: &'static str,
    kind: String,
    count: usize,
    reason: &'static str,
}

fn coverage(plan: &crate::plan::Plan) -> Vec<Gap> {
    use crate::providers::registry::{Support, registry};
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for r in &plan.resources {
        *counts.entry(r.kind.as_str()).or_default() += 1;
    }
    let mut gaps = Vec::new();
    for (kind, count) in counts {
        let Some(k) = registry().get(kind) else { continue };
        for (what, support) in [
            ("drift not read", k.drift()),
            ("not swept by `down` without state", k.sweep()),
        ] {
            if let Support::No(reason) = support {
                gaps.push(Gap {
                    what,
                    kind: kind.to_string(),
                    count,
                    reason,
                });
            }
        }
    }
    gaps
}
