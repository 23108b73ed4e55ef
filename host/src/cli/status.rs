//! `platform status`: what the state says exists, and the outputs.

use std::path::PathBuf;

use super::up::{StateArgs, print_outputs};
use super::{Context, Failure};
use crate::blueprint::Blueprint;
use crate::state::RolloutStatus;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The blueprint file.
    pub blueprint: PathBuf,
    #[arg(long, short)]
    pub env: Option<String>,
    /// JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

impl Args {
    pub fn execute(self, _ctx: &Context) -> Result<(), Failure> {
        let blueprint = Blueprint::load(&self.blueprint)?;
        let env = blueprint.choose_env(self.env.as_deref())?;
        let store = self
            .state
            .store(&blueprint.name, &env, blueprint.backend_for(&env).as_deref())?;
        let state = store.load().map_err(anyhow::Error::from)?;
        if self.json {
            let resources: Vec<serde_json::Value> = state
                .resources
                .iter()
                .map(|(id, r)| {
                    serde_json::json!({
                        "id": id, "type": r.kind, "region": r.region, "status": r.status, "outputs": r.outputs,
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "blueprint": blueprint.name, "environment": env, "serial": state.serial,
                "resources": resources, "outputs": state.outputs, "rollouts": state.rollouts,
            });
            println!("{}", serde_json::to_string_pretty(&doc).map_err(anyhow::Error::from)?);
            return Ok(());
        }
        println!(
            "{} {}: {} resources (state serial {})",
            blueprint.name,
            env,
            state.resources.len(),
            state.serial
        );
        for (id, r) in &state.resources {
            let main = ["id", "arn", "name", "identifier", "allocation_id"]
                .iter()
                .find_map(|k| r.outputs.get(*k).and_then(|v| v.as_str()))
                .unwrap_or("-");
            let status = serde_json::to_value(r.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            println!("  {id:<44} {:<42} {:<10} {:<9} {main}", r.kind, r.region, status);
        }
        if !state.rollouts.is_empty() {
            println!("Rollouts:");
            for (id, r) in &state.rollouts {
                println!("  {}", describe_rollout(id, r));
            }
        }
        print_outputs(&state.outputs);
        Ok(())
    }
}

/// One line about a rollout: its stage and the production weights.
pub fn describe_rollout(id: &str, r: &crate::state::Rollout) -> String {
    let green = r.slots.as_ref().map_or(0, |s| s.green_percent);
    let status = match r.status {
        RolloutStatus::InProgress => format!("in progress, next step {} ({}/{} done)", r.next_step, r.done, r.total),
        RolloutStatus::AwaitingApproval => format!(
            "awaiting approval at {} (platform promote | platform rollback)",
            r.next_step
        ),
        RolloutStatus::RolledBack => format!(
            "rolled back: {}; the next `up` tries again",
            r.reason.as_deref().unwrap_or("no reason recorded")
        ),
    };
    let weights = if r.status == RolloutStatus::RolledBack {
        "blue 100 / green 0".to_string()
    } else {
        format!("blue {} / green {green}", 100 - green.min(100))
    };
    format!(
        "{id} [{}]: {status}; weights {weights}; started {}, updated {}",
        r.region, r.started_at, r.updated_at
    )
}
