//! `platform state`: operate on a blueprint environment's state: release a
//! dead holder's remote lock, list and restore versions, and move the state
//! between local files and a remote backend.

use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;

use super::up::{StateArgs, confirm};
use super::{Context, Failure};
use crate::blueprint::Blueprint;
use crate::state::remote::{self, Cond, ObjectStore};
use crate::state::s3::S3Objects;
use crate::state::{State, StateStore};

#[derive(Debug, clap::Args)]
pub struct Target {
    /// The blueprint file.
    pub blueprint: PathBuf,
    #[arg(long, short)]
    pub env: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Remove a remote lock whose holder is gone, once its lease has expired.
    Unlock {
        #[command(flatten)]
        target: Target,
        /// The lock id the error message of the refused command named.
        lock_id: String,
    },
    /// List the stored versions of a remote state (bucket versioning).
    History {
        #[command(flatten)]
        target: Target,
    },
    /// Make an earlier version of a remote state the current one.
    Restore {
        #[command(flatten)]
        target: Target,
        /// A version id from `platform state history`.
        version: String,
        /// Restore without asking.
        #[arg(long, short)]
        yes: bool,
    },
    /// Copy the local state (and journal) to a remote backend.
    Push {
        #[command(flatten)]
        target: Target,
        /// The remote backend, `s3://bucket/prefix`.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Replace a state the backend already has.
        #[arg(long)]
        force: bool,
    },
    /// Copy a remote state (and its journals) to local files.
    Pull {
        #[command(flatten)]
        target: Target,
        /// The remote backend, `s3://bucket/prefix`.
        #[arg(long, value_name = "URL")]
        from: String,
        /// Replace a local state that exists.
        #[arg(long)]
        force: bool,
    },
}

impl Target {
    fn names(&self) -> Result<(Blueprint, String), Failure> {
        let blueprint = Blueprint::load(&self.blueprint)?;
        let env = blueprint.choose_env(self.env.as_deref())?;
        Ok((blueprint, env))
    }

    fn store(&self) -> Result<StateStore, Failure> {
        let (blueprint, env) = self.names()?;
        self.state
            .store(&blueprint.name, &env, blueprint.backend_for(&env).as_deref())
    }
}

fn remote_of(store: &StateStore) -> Result<Arc<dyn ObjectStore>, Failure> {
    match &store.remote {
        Some(r) => Ok(r.objects.clone()),
        None => Err(anyhow::anyhow!(
            "{} is local state: this needs a remote backend (`backend` in the blueprint, --backend or $PLATFORM_BACKEND)",
            store.location()
        )
        .into()),
    }
}

/// A typed error as a failure, its sources kept for the "caused by" lines.
fn err(e: impl std::error::Error + Send + Sync + 'static) -> Failure {
    anyhow::Error::from(e).into()
}

impl Command {
    pub fn execute(self, ctx: &Context) -> Result<(), Failure> {
        match self {
            Command::Unlock { target, lock_id } => {
                let store = target.store()?;
                let objects = remote_of(&store)?;
                let holder = remote::unlock(objects.as_ref(), &store.object("lock"), &lock_id).map_err(err)?;
                ctx.status(format!(
                    "Removed lock {lock_id} of `{}` (pid {} on {}) from {}.",
                    holder.command,
                    holder.pid,
                    holder.host,
                    objects.url(&store.object("lock"))
                ));
                Ok(())
            }
            Command::History { target } => {
                let store = target.store()?;
                let objects = remote_of(&store)?;
                let name = store.object("state.json");
                let versions = objects.versions(&name).map_err(err)?;
                if versions.is_empty() {
                    return Err(anyhow::anyhow!(
                        "{} has no stored versions: turn on versioning for the bucket to keep a history",
                        objects.url(&name)
                    )
                    .into());
                }
                // Serials order the versions even when writes share a second.
                let mut rows: Vec<(u64, String, &remote::Version)> = versions
                    .iter()
                    .take(50)
                    .map(|v| {
                        let state = objects
                            .get_version(&name, &v.id)
                            .ok()
                            .and_then(|b| serde_json::from_slice::<State>(&b).ok());
                        let count = state
                            .as_ref()
                            .map_or("?".to_string(), |s| s.resources.len().to_string());
                        (state.map_or(0, |s| s.serial), count, v)
                    })
                    .collect();
                rows.sort_by(|a, b| b.0.cmp(&a.0).then(b.2.latest.cmp(&a.2.latest)));
                println!(
                    "{:<34} {:<26} {:>7} {:>10}",
                    "version", "written", "serial", "resources"
                );
                for (serial, count, v) in rows {
                    let current = if v.latest { "  (current)" } else { "" };
                    println!("{:<34} {:<26} {serial:>7} {count:>10}{current}", v.id, v.modified);
                }
                Ok(())
            }
            Command::Restore { target, version, yes } => {
                let store = target.store()?;
                let objects = remote_of(&store)?;
                let name = store.object("state.json");
                let bytes = objects.get_version(&name, &version).map_err(err)?;
                // The checks of any load: the state and rollout format versions.
                let mut restored: State =
                    crate::state::parse_state(&bytes, objects.url(&name).into()).with_context(|| {
                        format!(
                            "version {version} of {} is not a state this platform reads",
                            objects.url(&name)
                        )
                    })?;
                if restored.blueprint != store.blueprint || restored.environment != store.environment {
                    return Err(anyhow::anyhow!(
                        "version {version} is the state of {} {}, not of {} {}",
                        restored.blueprint,
                        restored.environment,
                        store.blueprint,
                        store.environment
                    )
                    .into());
                }
                let _lock = store.lock("state restore").map_err(err)?;
                let current = store.load().map_err(err)?;
                confirm(
                    yes,
                    &format!(
                        "replace the state of {} {} (serial {}, {} resources) with version {version} (serial {}, {} resources)",
                        store.blueprint,
                        store.environment,
                        current.serial,
                        current.resources.len(),
                        restored.serial,
                        restored.resources.len()
                    ),
                )?;
                // Serials only grow: saved plans made since see the change.
                let from = restored.serial;
                restored.serial = current.serial;
                store.save(&mut restored).map_err(err)?;
                store
                    .journal(&serde_json::json!({ "event": "restored", "version": version, "serial_of_version": from, "serial": restored.serial }))
                    .map_err(err)?;
                ctx.status(format!(
                    "Restored version {version} (serial {from}) as serial {}: {} resources. `platform plan` shows what `up` would now change.",
                    restored.serial,
                    restored.resources.len()
                ));
                Ok(())
            }
            Command::Push { target, to, force } => {
                let (blueprint, env) = target.names()?;
                let local = StateStore::new(target.state.state_dir.clone(), &blueprint.name, &env);
                let objects: Arc<dyn ObjectStore> = Arc::new(S3Objects::open(&to).map_err(err)?);
                let remote = StateStore::remote(objects.clone(), &blueprint.name, &env);
                let _l = local.lock("state push").map_err(err)?;
                let _r = remote.lock("state push").map_err(err)?;
                if !local.state_path().exists() {
                    return Err(anyhow::anyhow!("there is no local state at {}", local.location()).into());
                }
                let mut state = local.load().map_err(err)?;
                let existing = remote.load().map_err(err)?;
                if existing.serial > 0 && !force {
                    return Err(anyhow::anyhow!(
                        "{} already has a state (serial {}, {} resources); pass --force to replace it",
                        remote.location(),
                        existing.serial,
                        existing.resources.len()
                    )
                    .into());
                }
                state.serial = state.serial.max(existing.serial);
                remote.save(&mut state).map_err(err)?;
                if let Ok(journal) = std::fs::read(local.journal_path()) {
                    objects
                        .put(
                            &remote.object(&format!("journal/{}-pushed.jsonl", remote::now())),
                            journal,
                            Cond::Always,
                        )
                        .map_err(err)?;
                }
                ctx.status(format!(
                    "Pushed {} ({} resources, serial {}) and its journal to {}. Set `backend = \"{to}\"` in the blueprint (or use --backend) from now on.",
                    local.location(),
                    state.resources.len(),
                    state.serial,
                    remote.location()
                ));
                Ok(())
            }
            Command::Pull { target, from, force } => {
                let (blueprint, env) = target.names()?;
                let local = StateStore::new(target.state.state_dir.clone(), &blueprint.name, &env);
                let objects: Arc<dyn ObjectStore> = Arc::new(S3Objects::open(&from).map_err(err)?);
                let remote = StateStore::remote(objects.clone(), &blueprint.name, &env);
                let _r = remote.lock("state pull").map_err(err)?;
                let _l = local.lock("state pull").map_err(err)?;
                if local.state_path().exists() && !force {
                    return Err(anyhow::anyhow!("{} exists; pass --force to replace it", local.location()).into());
                }
                let mut state = remote.load().map_err(err)?;
                if state.serial == 0 {
                    return Err(anyhow::anyhow!("{} has no state", remote.location()).into());
                }
                state.serial -= 1; // save() counts it back up
                local.save(&mut state).map_err(err)?;
                let mut journal = Vec::new();
                for name in objects.list(&remote.object("journal/")).map_err(err)? {
                    if let Ok(Some((bytes, _))) = objects.get(&name) {
                        journal.extend(bytes);
                    }
                }
                std::fs::write(local.journal_path(), journal).map_err(err)?;
                ctx.status(format!(
                    "Pulled {} ({} resources, serial {}) and its journals to {}.",
                    remote.location(),
                    state.resources.len(),
                    state.serial,
                    local.location()
                ));
                Ok(())
            }
        }
    }
}
