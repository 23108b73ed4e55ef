//! `platform plan`: compose the blueprint for one environment and show it.

use std::path::PathBuf;

use super::{Context, Failure};
use crate::compose::compose;

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
}

impl Args {
    pub fn execute(self, ctx: &Context) -> Result<(), Failure> {
        let resolved = ctx.resolve(&self.blueprint, self.env.as_deref())?;
        let runtime = ctx.runtime(resolved.stack_bytes)?;
        let plan = compose(&runtime, &resolved)?;
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan.to_json()).map_err(anyhow::Error::from)?
            );
        } else {
            print!("{}", plan.render(!self.compact));
        }
        Ok(())
    }
}
