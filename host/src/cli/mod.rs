//! The command line: one module per subcommand, each with an `execute()`.
//! Arguments are resolved into a configuration before any work starts.

mod down;
mod graph;
pub mod output;
mod plan;
mod plugin;
mod rollout;
mod state;
mod status;
mod up;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::blueprint::{Blueprint, Diagnostics, Resolved};
use crate::runtime::{Runtime, RuntimeOptions};

/// Deploy applications to AWS from a TOML blueprint, composed from sandboxed
/// WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "platform", version, about, max_term_width = 100)]
pub struct Cli {
    /// Print nothing but errors and requested output.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Directory for compiled plugins (default: $XDG_CACHE_HOME/platform or ~/.cache/platform).
    #[arg(long, global = true, env = "PLATFORM_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not read or write the compiled-plugin cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a blueprint and every environment's plan, offline.
    Validate(validate::Args),
    /// Show what a deployment consists of, in dependency waves.
    Plan(plan::Args),
    /// Print the dependency graph (Graphviz dot or Mermaid).
    Graph(graph::Args),
    /// Create or update everything the plan describes, in AWS.
    Up(up::Args),
    /// `up` with a new container image: rolls it out as the service's strategy says.
    Deploy(up::DeployArgs),
    /// Approve a rollout waiting for approval (blue/green) and finish it.
    Promote(rollout::Args),
    /// Roll back the rollouts under way: production traffic to blue, green stopped.
    Rollback(rollout::Args),
    /// Delete everything a blueprint environment created.
    Down(down::Args),
    /// Show the resources in the state and the outputs.
    Status(status::Args),
    /// List and inspect plugins.
    #[command(subcommand)]
    Plugin(plugin::Command),
    /// Remote state: unlock, history, restore; move state between backends.
    #[command(subcommand)]
    State(state::Command),
}

/// Why a command failed; each kind has its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The input is wrong (blueprint, configuration, plugin output): exit 3.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// Anything else: exit 1.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
    /// `plan --detailed-exitcode` found changes: exit 2, nothing printed.
    #[error("the plan has changes")]
    Changes,
}

impl From<Diagnostics> for Failure {
    fn from(d: Diagnostics) -> Failure {
        Failure::Invalid(d)
    }
}

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Invalid(_) => ExitCode::from(3),
            Failure::Other(_) => ExitCode::from(1),
            Failure::Changes => ExitCode::from(2),
        }
    }
}

impl Cli {
    pub fn execute(self) -> Result<(), Failure> {
        let ctx = Context {
            quiet: self.quiet,
            cache_dir: if self.no_cache {
                None
            } else {
                self.cache_dir.clone().or_else(crate::runtime::Cache::default_dir)
            },
        };
        match self.command {
            Command::Validate(args) => args.execute(&ctx),
            Command::Plan(args) => args.execute(&ctx),
            Command::Graph(args) => args.execute(&ctx),
            Command::Up(args) => args.execute(&ctx),
            Command::Deploy(args) => args.up.execute_with(&ctx, &args.image),
            Command::Promote(args) => args.promote(&ctx),
            Command::Rollback(args) => args.rollback(&ctx),
            Command::Down(args) => args.execute(&ctx),
            Command::Status(args) => args.execute(&ctx),
            Command::Plugin(cmd) => cmd.execute(&ctx),
            Command::State(cmd) => cmd.execute(&ctx),
        }
    }
}

/// What every subcommand shares.
pub struct Context {
    pub quiet: bool,
    pub cache_dir: Option<PathBuf>,
}

impl Context {
    pub fn runtime(&self, stack_bytes: usize) -> Result<Runtime, Failure> {
        Ok(Runtime::new(RuntimeOptions {
            max_stack_bytes: stack_bytes,
            cache_dir: self.cache_dir.clone(),
        })?)
    }

    /// Status for people, on stderr, unless `--quiet`.
    pub fn status(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// Load a blueprint and resolve one environment.
    pub fn resolve(&self, path: &std::path::Path, env: Option<&str>) -> Result<Resolved, Failure> {
        let blueprint = Blueprint::load(path)?;
        let env = blueprint.choose_env(env)?;
        Ok(blueprint.resolve(&env)?)
    }
}
