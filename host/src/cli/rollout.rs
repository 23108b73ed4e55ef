//! `platform promote` and `platform rollback`: act on rollouts the state
//! has under way (a blue/green rollout waiting for approval, or any other).

use std::path::PathBuf;
use std::sync::Arc;

use super::output::Reporter;
use super::up::{StateArgs, runtime};
use super::{Context, Failure};
use crate::compose::compose;
use crate::engine::Run;
use crate::state::RolloutStatus;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The blueprint file.
    pub blueprint: PathBuf,
    #[arg(long, short)]
    pub env: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}

impl Args {
    /// Approve the rollouts waiting at an approval step and carry them on.
    pub fn promote(self, ctx: &Context) -> Result<(), Failure> {
        let resolved = ctx.resolve(&self.blueprint, self.env.as_deref())?;
        let plan = Arc::new(compose(
            &ctx.runtime(resolved.stack_bytes)?,
            &resolved,
            crate::providers::registry::registry(),
        )?);
        let store = self
            .state
            .store(&resolved.blueprint, &resolved.env, resolved.backend.as_deref())?;
        let lock = store.lock("promote").map_err(anyhow::Error::from)?;
        let mut state = store.load().map_err(anyhow::Error::from)?;
        let waiting: Vec<String> = state
            .rollouts
            .iter()
            .filter(|(_, r)| r.status == RolloutStatus::AwaitingApproval)
            .map(|(id, _)| id.clone())
            .collect();
        if waiting.is_empty() {
            ctx.status(format!(
                "Nothing to promote: no rollout of {} {} waits for approval.",
                resolved.blueprint, resolved.env
            ));
            return Ok(());
        }
        for id in &waiting {
            if let Some(r) = state.rollouts.get_mut(id) {
                r.approved = true;
                r.status = RolloutStatus::InProgress;
            }
        }
        store.save(&mut state).map_err(anyhow::Error::from)?;
        ctx.status(format!("Promoting {}", waiting.join(", ")));
        let rt = runtime()?;
        let aws = Arc::new(
            rt.block_on(crate::providers::Aws::load())
                .map_err(anyhow::Error::from)?,
        );
        let run = Arc::new(Run::new(
            aws,
            store,
            state,
            resolved.tags.clone(),
            Arc::new(Reporter::new(ctx.quiet, 0)),
        ));
        let outcome = rt.block_on(run.rollouts(plan, |r| r.is_some_and(|r| r.approved)));
        run.reporter.done();
        drop(lock);
        for line in &outcome.done {
            ctx.status(line);
        }
        if outcome.failed.is_empty() {
            return Ok(());
        }
        let mut message = String::from("promote failed:");
        for f in &outcome.failed {
            message.push_str(&format!("\n  {f}"));
        }
        Err(anyhow::anyhow!(message).into())
    }

    /// Put every rollout under way back on blue.
    pub fn rollback(self, ctx: &Context) -> Result<(), Failure> {
        let resolved = ctx.resolve(&self.blueprint, self.env.as_deref())?;
        let store = self
            .state
            .store(&resolved.blueprint, &resolved.env, resolved.backend.as_deref())?;
        let lock = store.lock("rollback").map_err(anyhow::Error::from)?;
        let state = store.load().map_err(anyhow::Error::from)?;
        if state.rollouts.values().all(|r| r.status == RolloutStatus::RolledBack) {
            ctx.status(format!(
                "Nothing to roll back: no rollout of {} {} is under way.",
                resolved.blueprint, resolved.env
            ));
            return Ok(());
        }
        let rt = runtime()?;
        let aws = Arc::new(
            rt.block_on(crate::providers::Aws::load())
                .map_err(anyhow::Error::from)?,
        );
        let run = Run::new(
            aws,
            store,
            state,
            resolved.tags.clone(),
            Arc::new(Reporter::new(ctx.quiet, 0)),
        );
        let result = rt.block_on(run.rollback_rollouts());
        drop(lock);
        match result {
            Ok(lines) => {
                for line in lines {
                    ctx.status(line);
                }
                ctx.status("The next `up` tries these rollouts again unless the blueprint changes back.");
                Ok(())
            }
            Err(lines) => Err(anyhow::anyhow!("rollback failed:\n  {}", lines.join("\n  ")).into()),
        }
    }
}
