//! `platform up`: make AWS match the plan.

use anyhow::Context as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use super::output::Reporter;
use super::{Context, Failure};
use crate::blueprint::{Instance, Kind, Resolved, SValue};
use crate::compose::compose;
use crate::engine::preview::{Action, preview};
use crate::engine::{Change, Run, drift};
use crate::state::StateStore;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The blueprint file.
    pub blueprint: PathBuf,
    #[arg(long, short)]
    pub env: Option<String>,
    /// Apply without asking.
    #[arg(long, short)]
    pub yes: bool,
    /// How many resources to work on at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
    /// On failure, delete what this run created (default: the environment's `rollback`).
    #[arg(long)]
    pub rollback: bool,
    /// Keep what a failed run created even if the environment says `rollback = true`.
    #[arg(long, conflicts_with = "rollback")]
    pub no_rollback: bool,
    /// Do not read the live resources first (drift goes unnoticed).
    #[arg(long)]
    pub no_refresh: bool,
    /// Apply a plan saved by `plan --out FILE`, without asking; refused if the
    /// blueprint, its plugins, the state or AWS changed since.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Events as JSON on stdout, one object per line, for CI.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub up: Args,
    /// The image to roll out: `IMAGE` for the one service of the blueprint,
    /// `INSTANCE=IMAGE` to name it (repeatable).
    #[arg(long, required = true, value_name = "[INSTANCE=]IMAGE")]
    pub image: Vec<String>,
}

/// Replace the `image` of service instances for this run.
fn set_images(resolved: &mut Resolved, images: &[String]) -> Result<(), Failure> {
    for spec in images {
        let (target, image) = match spec.split_once('=') {
            Some((name, image)) => (Some(name), image),
            None => (None, spec.as_str()),
        };
        if image.trim().is_empty() {
            return Err(anyhow::anyhow!("--image {spec}: the image is empty").into());
        }
        let has_image =
            |i: &Instance| matches!(&i.config.kind, Kind::Table(t) if t.iter().any(|(k, _, _)| k == "image"));
        let chosen: Vec<usize> = resolved
            .instances
            .iter()
            .enumerate()
            .filter(|(_, i)| match target {
                Some(name) => i.name == name,
                None => has_image(i),
            })
            .map(|(n, _)| n)
            .collect();
        let with_image: Vec<&str> = resolved
            .instances
            .iter()
            .filter(|i| has_image(i))
            .map(|i| i.name.as_str())
            .collect();
        let index = match (chosen.as_slice(), target) {
            ([one], _) => *one,
            ([], Some(name)) => {
                return Err(anyhow::anyhow!(
                    "--image {spec}: this environment has no plugin instance `{name}` (instances with an image: {})",
                    with_image.join(", ")
                )
                .into());
            }
            ([], None) => return Err(anyhow::anyhow!("--image {spec}: no plugin instance has an `image`").into()),
            (_, _) => {
                return Err(anyhow::anyhow!(
                    "--image {spec}: several instances have an image ({}); name one: --image NAME={image}",
                    with_image.join(", ")
                )
                .into());
            }
        };
        let instance = &mut resolved.instances[index];
        let span = instance.span.clone();
        let Kind::Table(table) = &mut instance.config.kind else {
            return Err(anyhow::anyhow!(
                "--image {spec}: instance `{}` has no configuration table",
                instance.name
            )
            .into());
        };
        let value = SValue {
            span: span.clone(),
            kind: Kind::Str(image.to_string()),
        };
        match table.iter_mut().find(|(k, _, _)| k == "image") {
            Some(entry) => {
                entry.2 = SValue {
                    span: entry.2.span.clone(),
                    ..value
                }
            }
            None => table.push(("image".into(), span, value)),
        }
    }
    Ok(())
}

/// Report what preflight found: skipped checks as notes; problems as
/// errors at the blueprint line that sets the property at fault (else the
/// plugin instance), all at once, with nothing changed.
pub fn preflight_verdict(
    ctx: &Context,
    resolved: &Resolved,
    outcome: &crate::providers::preflight::Outcome,
) -> Result<(), Failure> {
    use crate::blueprint::{Diagnostic, Diagnostics};
    for note in &outcome.skipped {
        ctx.status(format!("note: preflight: {note}"));
    }
    if outcome.problems.is_empty() {
        return Ok(());
    }
    let diagnostics = outcome
        .problems
        .iter()
        .map(|p| {
            let message = format!(
                "preflight: {} (plugin instance `{}`): {}",
                p.resource, p.instance, p.message
            );
            let Some(instance) = resolved.instances.iter().find(|i| i.name == p.instance) else {
                return Diagnostic::bare(message);
            };
            // The configuration key that sets the property: the same name,
            // or one ending in it (`replica_kms_key_id` for `kms_key_id`).
            let key_span = match (&instance.config.kind, &p.property) {
                (Kind::Table(table), Some(property)) => table
                    .iter()
                    .find(|(k, _, _)| k == property || k.ends_with(&format!("_{property}")))
                    .map(|(_, span, _)| span.clone()),
                _ => None,
            };
            Diagnostic::at(
                &resolved.source,
                &key_span.unwrap_or_else(|| instance.span.clone()),
                message,
            )
        })
        .chain(std::iter::once(Diagnostic::bare(
            "nothing was changed: AWS would refuse the above; fix them and run again",
        )))
        .collect();
    Err(Failure::Invalid(Diagnostics(diagnostics)))
}

/// Where state lives.
#[derive(Debug, clap::Args)]
pub struct StateArgs {
    /// Directory of state files (default: $PLATFORM_STATE_DIR, else ./.platform).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Remote state, `s3://bucket/prefix` (default: the blueprint's `backend`, else local files).
    #[arg(long, env = "PLATFORM_BACKEND", value_name = "URL")]
    pub backend: Option<String>,
}

impl StateArgs {
    /// The state store: `--backend` / `$PLATFORM_BACKEND`, else the
    /// blueprint environment's `backend`, else the local directory.
    pub fn store(&self, blueprint: &str, env: &str, configured: Option<&str>) -> Result<StateStore, Failure> {
        match self.backend.as_deref().or(configured) {
            Some(url) => {
                let objects = crate::state::s3::S3Objects::open(url).map_err(anyhow::Error::from)?;
                Ok(StateStore::remote(std::sync::Arc::new(objects), blueprint, env))
            }
            None => Ok(StateStore::new(self.state_dir.clone(), blueprint, env)),
        }
    }
}

/// Ask before changing anything, unless `--yes`; refuse off a terminal.
pub fn confirm(yes: bool, question: &str) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(anyhow::anyhow!("not on a terminal, so nothing was changed: pass --yes to {question}").into());
    }
    eprint!("Do you want to {question}? Only 'yes' is accepted: ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(anyhow::Error::from)?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(anyhow::anyhow!("cancelled; nothing was changed").into())
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?)
}

impl Args {
    pub fn execute(self, ctx: &Context) -> Result<(), Failure> {
        self.execute_with(ctx, &[])
    }

    /// `up`, with the images of `deploy --image` put in first.
    pub fn execute_with(self, ctx: &Context, images: &[String]) -> Result<(), Failure> {
        let mut resolved = ctx.resolve(&self.blueprint, self.env.as_deref())?;
        set_images(&mut resolved, images)?;
        let plan = Arc::new(compose(
            &ctx.runtime(resolved.stack_bytes)?,
            &resolved,
            crate::providers::registry::registry(),
        )?);
        let saved = match &self.plan {
            Some(file) => Some(read_saved(file, &resolved, &plan)?),
            None => None,
        };
        let unsupported = crate::providers::unsupported_in(&plan);
        if !unsupported.is_empty() {
            return Err(anyhow::anyhow!(
                "nothing was changed: this plan needs what this platform cannot do:\n  {}",
                unsupported.join("\n  ")
            )
            .into());
        }
        let store = self
            .state
            .store(&resolved.blueprint, &resolved.env, resolved.backend.as_deref())?;
        let lock = store.lock("up").map_err(anyhow::Error::from)?;
        if let Some(note) = lock.replaced_note() {
            ctx.status(format!("note: {note}"));
        }
        let mut state = store.load().map_err(anyhow::Error::from)?;
        if let (Some(saved), Some(file)) = (&saved, &self.plan)
            && saved.state_serial != state.serial
        {
            return Err(anyhow::anyhow!(
                "the saved plan {} is stale: it was made against state serial {}, the state is now at serial {} (another run changed it); nothing was changed: make a new plan",
                file.display(),
                saved.state_serial,
                state.serial
            )
            .into());
        }
        let rt = runtime()?;
        let aws = Arc::new(
            rt.block_on(crate::providers::Aws::load())
                .map_err(anyhow::Error::from)?,
        );
        if !self.no_refresh && !state.resources.is_empty() {
            let found = rt.block_on(drift::detect(aws.clone(), &state, self.parallelism.into()));
            if !found.is_empty()
                && let (Some(saved), Some(file)) = (&saved, &self.plan)
                && !saved.drift
            {
                return Err(anyhow::anyhow!(
                    "the saved plan {} is stale: resources changed in AWS since it was made ({}); nothing was changed: make a new plan",
                    file.display(),
                    found.iter().map(|(id, d)| drift::describe(id, d)).collect::<Vec<_>>().join("; ")
                )
                .into());
            }
            if !found.is_empty() {
                ctx.status("Drift (changed outside platform):");
                for (id, d) in &found {
                    ctx.status(format!("  {}", drift::describe(id, d)));
                }
                drift::apply(&mut state, &found);
                store.save(&mut state).map_err(anyhow::Error::from)?;
            }
        }
        let preview = preview(&plan, &state);
        if !state.rollouts.is_empty() {
            ctx.status("Rollouts to resume or retry:");
            for (id, r) in &state.rollouts {
                ctx.status(format!("  {}", super::status::describe_rollout(id, r)));
            }
        }
        let reporter = if self.json {
            Reporter::json()
        } else {
            Reporter::new(ctx.quiet, plan.waves.iter().map(Vec::len).sum())
        };
        if preview.is_empty() && state.rollouts.is_empty() {
            ctx.status(format!(
                "No changes. {} resources of {} {} are up to date.",
                preview.unchanged, resolved.blueprint, resolved.env
            ));
            if !reporter.event(
                "summary",
                serde_json::json!({ "ok": true, "changes": {}, "outputs": state.outputs }),
            ) {
                print_outputs(&state.outputs);
            }
            return Ok(());
        }
        ctx.status(format!(
            "{} {} ({}):",
            resolved.blueprint,
            resolved.env,
            resolved.regions.join(", ")
        ));
        for line in preview.lines() {
            ctx.status(format!("  {line}"));
        }
        ctx.status(format!(
            "Plan: {} to create, {} to update, {} to replace, {} to delete, {} to resume; {} unchanged.",
            preview.count(Action::Create),
            preview.count(Action::Update) + preview.count(Action::MaybeUpdate),
            preview.replacements(),
            preview.count(Action::Delete),
            preview.count(Action::Resume),
            preview.unchanged
        ));
        if !preview.refused.is_empty() {
            return Err(anyhow::anyhow!(
                "nothing was changed: {} replacement{} would delete a resource that others still use:\n  {}",
                preview.refused.len(),
                if preview.refused.len() == 1 { "" } else { "s" },
                preview.refused.join("\n  ")
            )
            .into());
        }
        let creating = preview.creating();
        if !creating.is_empty() {
            let outcome = rt.block_on(crate::providers::preflight::check(aws.clone(), &plan, &creating));
            preflight_verdict(ctx, &resolved, &outcome)?;
        }
        // A saved plan was the approval.
        confirm(
            self.yes || saved.is_some(),
            &format!("apply these changes to {} {}", resolved.blueprint, resolved.env),
        )?;

        let rollback = self.rollback || (resolved.rollback && !self.no_rollback);
        let report = rt.block_on(async {
            let tags = resolved.tags.clone();
            let run = Arc::new(Run::new(aws, store, state, tags, Arc::new(reporter.clone())));
            Ok::<_, anyhow::Error>(run.up(plan.clone(), self.parallelism.into(), rollback).await)
        })?;
        drop(lock);
        ctx.status(format!(
            "{} created, {} adopted, {} updated, {} replaced, {} deleted, {} unchanged.",
            report.count(Change::Created),
            report.count(Change::Adopted),
            report.count(Change::Updated),
            report.count(Change::Replaced),
            report.count(Change::Deleted),
            report.count(Change::Unchanged)
        ));
        let counts: serde_json::Map<String, serde_json::Value> = [
            ("created", Change::Created),
            ("adopted", Change::Adopted),
            ("updated", Change::Updated),
            ("replaced", Change::Replaced),
            ("deleted", Change::Deleted),
            ("unchanged", Change::Unchanged),
        ]
        .iter()
        .map(|(k, c)| (k.to_string(), report.count(*c).into()))
        .collect();
        reporter.event(
            "summary",
            serde_json::json!({
                "ok": report.failed.is_empty(),
                "changes": counts,
                "failed": report.failed.iter().map(|f| serde_json::json!({ "id": f.id, "instance": f.instance, "error": f.error.to_string() })).collect::<Vec<_>>(),
                "rollouts": report.rollouts,
                "paused": report.paused,
                "outputs": report.outputs,
            }),
        );
        for line in &report.rollouts {
            ctx.status(format!("rollout {line}"));
        }
        for line in &report.paused {
            ctx.status(format!("rollout {line}"));
        }
        if report.failed.is_empty() {
            if !self.json {
                print_outputs(&report.outputs);
            }
            return Ok(());
        }
        let mut message = String::from("up failed:");
        for f in &report.failed {
            message.push_str(&format!("\n  {f}"));
        }
        if !report.skipped.is_empty() {
            message.push_str(&format!("\n  not started: {}", report.skipped.join(", ")));
        }
        if rollback {
            message.push_str(&format!(
                "\n  rolled back: {} resources created by this run",
                report.rolled_back.len()
            ));
        } else {
            message.push_str(
                "\n  what was created is recorded in the state; run `up` again to continue, or `down` to remove it",
            );
        }
        Err(anyhow::anyhow!(message).into())
    }
}

/// Read a saved plan and check it is this blueprint environment's current plan.
fn read_saved(
    file: &std::path::Path,
    resolved: &Resolved,
    plan: &crate::plan::Plan,
) -> Result<crate::plan::SavedPlan, Failure> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read the saved plan {}", file.display()))?;
    let saved: crate::plan::SavedPlan = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a plan saved by `platform plan --out`", file.display()))?;
    if saved.blueprint != resolved.blueprint || saved.environment != resolved.env {
        return Err(anyhow::anyhow!(
            "{} is a plan of {} {}, not of {} {}",
            file.display(),
            saved.blueprint,
            saved.environment,
            resolved.blueprint,
            resolved.env
        )
        .into());
    }
    if saved.plan_sha256 != plan.digest() {
        return Err(anyhow::anyhow!(
            "the saved plan {} is stale: the blueprint, its plugins or their configuration changed since it was made; nothing was changed: make a new plan",
            file.display()
        )
        .into());
    }
    Ok(saved)
}

pub fn print_outputs(outputs: &std::collections::BTreeMap<String, serde_json::Value>) {
    if outputs.is_empty() {
        return;
    }
    // Scalars only: structured exports are for plugins (`status --json` has them).
    println!("Outputs:");
    for (k, v) in outputs {
        match v {
            serde_json::Value::String(s) => println!("  {k} = {s}"),
            serde_json::Value::Number(n) => println!("  {k} = {n}"),
            serde_json::Value::Bool(b) => println!("  {k} = {b}"),
            _ => {}
        }
    }
}
