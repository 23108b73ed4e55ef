//! `platform graph`: the dependency graph of one environment's plan.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::{Context, Failure};
use crate::compose::compose;
use crate::plan::Plan;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Dot,
    Mermaid,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The blueprint file.
    pub blueprint: PathBuf,
    #[arg(long, short)]
    pub env: Option<String>,
    #[arg(long, value_enum, default_value = "dot")]
    pub format: Format,
}

impl Args {
    pub fn execute(self, ctx: &Context) -> Result<(), Failure> {
        let resolved = ctx.resolve(&self.blueprint, self.env.as_deref())?;
        let runtime = ctx.runtime(resolved.stack_bytes)?;
        let plan = compose(&runtime, &resolved, crate::providers::registry::registry())?;
        print!("{}", render(&plan, self.format));
        Ok(())
    }
}

/// Nodes are resources and apply steps; an edge points from a dependency to
/// what needs it, the order in which they are carried out.
pub fn render(plan: &Plan, format: Format) -> String {
    let mut out = String::new();
    let label = |id: &str| match plan.resource(id) {
        Some(r) => format!("{id}\\n{}", r.kind),
        None => format!("{id}\\n(step)"),
    };
    let edges: Vec<(&str, &str)> = plan
        .resources
        .iter()
        .flat_map(|r| r.depends_on.iter().map(move |d| (d.as_str(), r.id.as_str())))
        .chain(
            plan.steps
                .iter()
                .filter(|s| plan.waves.iter().flatten().any(|w| w == &s.id))
                .flat_map(|s| {
                    let mut deps: Vec<&str> = s.after.iter().map(String::as_str).collect();
                    deps.extend(s.params.refs().into_iter().map(|r| r.resource.as_str()));
                    deps.into_iter().map(move |d| (d, s.id.as_str()))
                }),
        )
        .collect();
    match format {
        Format::Dot => {
            writeln!(
                out,
                "digraph \"{}-{}\" {{\n  rankdir=LR;\n  node [shape=box, fontsize=10];",
                plan.blueprint, plan.env
            )
            .unwrap();
            for id in plan.waves.iter().flatten() {
                writeln!(out, "  \"{id}\" [label=\"{}\"];", label(id)).unwrap();
            }
            for (from, to) in &edges {
                writeln!(out, "  \"{from}\" -> \"{to}\";").unwrap();
            }
            out.push_str("}\n");
        }
        Format::Mermaid => {
            out.push_str("flowchart LR\n");
            let key = |id: &str| id.replace(['.', '-'], "_");
            for id in plan.waves.iter().flatten() {
                writeln!(out, "  {}[\"{}\"]", key(id), label(id).replace("\\n", "<br/>")).unwrap();
            }
            for (from, to) in &edges {
                writeln!(out, "  {} --> {}", key(from), key(to)).unwrap();
            }
        }
    }
    out
}
