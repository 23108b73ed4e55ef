//! `platform down`: delete everything a blueprint environment created.

use std::path::PathBuf;
use std::sync::Arc;

use super::up::{StateArgs, confirm, runtime};
use super::{Context, Failure};
use crate::blueprint::Blueprint;
use crate::engine::{Reporter, Run};
use crate::state::StateStore;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The blueprint file.
    pub blueprint: PathBuf,
    #[arg(long, short)]
    pub env: Option<String>,
    /// Delete without asking.
    #[arg(long, short)]
    pub yes: bool,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
    #[command(flatten)]
    pub state: StateArgs,
}

impl Args {
    pub fn execute(self, ctx: &Context) -> Result<(), Failure> {
        let blueprint = Blueprint::load(&self.blueprint)?;
        let env = blueprint.choose_env(self.env.as_deref())?;
        let resolved = blueprint.resolve(&env)?;
        let store = StateStore::new(self.state.state_dir.clone(), &blueprint.name, &env);
        let lock = store.lock("down").map_err(anyhow::Error::from)?;
        let state = store.load().map_err(anyhow::Error::from)?;
        if state.resources.is_empty() {
            ctx.status(format!(
                "Nothing to delete: {} {} has no resources in its state.",
                blueprint.name, env
            ));
            return Ok(());
        }
        ctx.status(format!(
            "{} resources of {} {} will be deleted.",
            state.resources.len(),
            blueprint.name,
            env
        ));
        confirm(
            self.yes,
            &format!("delete every resource of {} {}", blueprint.name, env),
        )?;
        let ids: Vec<String> = state.resources.keys().cloned().collect();
        let rt = runtime()?;
        let (failed, left) = rt.block_on(async {
            let aws = Arc::new(crate::providers::Aws::load().await.map_err(anyhow::Error::from)?);
            let run = Arc::new(Run::new(
                aws,
                store,
                state,
                resolved.tags.clone(),
                Reporter { quiet: ctx.quiet },
            ));
            let failed = run.delete_all(&ids, self.parallelism.into()).await;
            let left = run.state.lock().await.resources.len();
            Ok::<_, anyhow::Error>((failed, left))
        })?;
        drop(lock);
        if failed.is_empty() {
            ctx.status(format!("Deleted {} resources.", ids.len()));
            return Ok(());
        }
        let mut message = format!("down failed; {left} resources remain in the state:");
        for f in &failed {
            message.push_str(&format!("\n  {f}"));
        }
        Err(anyhow::anyhow!(message).into())
    }
}
