//! `platform validate`: parse the blueprint and plan every environment
//! (or one), reporting every problem with its place.

use std::path::PathBuf;

use super::{Context, Failure};
use crate::blueprint::{Blueprint, Diagnostics};
use crate::compose::compose;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The blueprint file.
    pub blueprint: PathBuf,
    /// Check only this environment.
    #[arg(long, short)]
    pub env: Option<String>,
}

impl Args {
    pub fn execute(self, ctx: &Context) -> Result<(), Failure> {
        let blueprint = Blueprint::load(&self.blueprint)?;
        let envs: Vec<String> = match &self.env {
            Some(e) => vec![blueprint.choose_env(Some(e))?],
            None if blueprint.envs.is_empty() => vec!["default".into()],
            None => blueprint.env_names().iter().map(|s| s.to_string()).collect(),
        };
        let runtime = ctx.runtime((blueprint.sandbox.stack_kib.unwrap_or(512) as usize) << 10)?;
        let mut problems = Vec::new();
        for env in &envs {
            match blueprint
                .resolve(env)
                .and_then(|r| compose(&runtime, &r, crate::providers::registry::registry()))
            {
                Ok(plan) => ctx.status(format!(
                    "ok: {} environment {env}: {} resources, {} steps, {} waves",
                    blueprint.name,
                    plan.resources.len(),
                    plan.steps.len(),
                    plan.waves.len()
                )),
                Err(d) => {
                    for diag in d.0 {
                        if !problems.contains(&diag) {
                            problems.push(diag);
                        }
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Diagnostics(problems).into())
        }
    }
}
