//! `platform down`: delete everything a blueprint environment created.

use std::path::PathBuf;
use std::sync::Arc;

use super::output::Reporter;
use super::up::{StateArgs, confirm, runtime};
use super::{Context, Failure};
use crate::blueprint::Blueprint;
use crate::engine::{Events, Run};
use crate::providers::{Aws, sweep};

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
        let store = self
            .state
            .store(&blueprint.name, &env, blueprint.backend_for(&env).as_deref())?;
        let lock = store.lock("down").map_err(anyhow::Error::from)?;
        let state = store.load().map_err(anyhow::Error::from)?;
        ctx.status(format!(
            "{} resources of {} {} will be deleted, then anything else tagged for it.",
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
        let (failed, left, leftovers) = rt.block_on(async {
            let aws = Arc::new(crate::providers::Aws::load().await.map_err(anyhow::Error::from)?);
            let run = Arc::new(Run::new(
                aws.clone(),
                store,
                state,
                resolved.tags.clone(),
                Arc::new(Reporter::new(ctx.quiet, ids.len())),
            ));
            let mut failed = run.delete_all(&ids, self.parallelism.into()).await;
            let leftovers = sweep(&aws, &run.reporter, &resolved.regions, &blueprint.name, &env).await?;
            if !failed.is_empty() {
                // A leftover may have been what blocked a deletion (a
                // security group the state lost, still in its VPC): try once more.
                let again: Vec<String> = run.state.lock().await.resources.keys().cloned().collect();
                failed = run.delete_all(&again, self.parallelism.into()).await;
            }
            run.reporter.done();
            let left = run.state.lock().await.resources.len();
            Ok::<_, anyhow::Error>((failed, left, leftovers))
        })?;
        drop(lock);
        if failed.is_empty() && leftovers.is_empty() {
            ctx.status(format!("Deleted {} resources.", ids.len()));
            return Ok(());
        }
        let mut message = if failed.is_empty() {
            format!(
                "down deleted the {} resources of its state, but these tagged resources remain:",
                ids.len()
            )
        } else {
            format!("down failed; {left} resources remain in the state:")
        };
        for f in &failed {
            message.push_str(&format!("\n  {f}"));
        }
        for (arn, why) in &leftovers {
            message.push_str(&format!("\n  {arn}: {why}"));
        }
        Err(anyhow::anyhow!(message).into())
    }
}

/// Delete what is still tagged for this environment but not in its state;
/// returns what could not be deleted, with why.
async fn sweep(
    aws: &Aws,
    reporter: &Arc<dyn Events>,
    regions: &[String],
    blueprint: &str,
    env: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut remaining = Vec::new();
    // Leftovers may depend on each other: a few passes let dependents go first.
    for _ in 0..4 {
        remaining.clear();
        let mut progress = false;
        for region in regions {
            for arn in sweep::tagged(aws, region, blueprint, env).await? {
                match sweep::from_arn(&arn) {
                    Some((kind, outputs)) => match aws.delete(kind, region, &outputs, &serde_json::Value::Null).await {
                        Ok(()) => {
                            progress = true;
                            reporter.line(&format!(
                                "- {arn} deleted (tagged for {blueprint} {env}, not in the state)"
                            ));
                        }
                        Err(e) => remaining.push((arn, e.to_string())),
                    },
                    None => remaining.push((arn, "platform cannot delete this type by ARN; delete it by hand".into())),
                }
            }
        }
        if remaining.is_empty() || !progress {
            break;
        }
    }
    Ok(remaining)
}
