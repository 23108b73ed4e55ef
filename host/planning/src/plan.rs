//! The plan: every resource and step of one deployment, ordered into waves,
//! and its two renderings (human text and the stable `--json` schema).

use serde_json::json;

use crate::runtime::Phase;
use crate::value::Value;

/// The `format_version` of `plan --json`; bumped on any incompatible change.
pub const JSON_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone)]
pub struct Plan {
    pub blueprint: String,
    pub env: String,
    pub regions: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub plugins: Vec<PluginUse>,
    pub resources: Vec<PlannedResource>,
    pub steps: Vec<PlannedStep>,
    /// Resource and apply-step ids; each wave can run in parallel once the
    /// previous waves are done.
    pub waves: Vec<Vec<String>>,
    /// The longest chain of dependent resources and apply steps.
    pub critical_path: Vec<String>,
    /// Per instance, its exports (references qualified).
    pub exports: Vec<(String, Vec<(String, Value)>)>,
}

#[derive(Debug, Clone)]
pub struct PluginUse {
    pub instance: String,
    pub plugin: String,
    pub version: String,
    pub source: String,
    pub sha256: String,
}

/// What `up` will do to a resource. Without state every resource is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
}

#[derive(Debug, Clone)]
pub struct PlannedResource {
    /// `<instance>.<id>`
    pub id: String,
    pub instance: String,
    pub kind: String,
    pub region: String,
    pub action: Action,
    pub properties: Value,
    /// Explicit and inferred dependencies (resources and apply steps), sorted.
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub id: String,
    pub instance: String,
    pub phase: Phase,
    pub action: String,
    pub params: Value,
    pub after: Vec<String>,
    pub timeout_seconds: u32,
    /// For apply steps: everything it waits for (explicit, referenced, and
    /// the previous apply step of its instance), sorted.
    pub depends_on: Vec<String>,
}

impl Plan {
    /// sha256 of the plan's JSON: equal digests, equal plans.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let bytes = serde_json::to_vec(&self.to_json()).expect("plan serializes");
        Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What `plan --out` writes and `up --plan` applies.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SavedPlan {
    pub format_version: u32,
    pub blueprint: String,
    pub environment: String,
    /// The state serial the plan was made against (0: no state).
    pub state_serial: u64,
    /// Whether the live resources were found to differ from the state.
    pub drift: bool,
    /// [`Plan::digest`].
    pub plan_sha256: String,
    /// What `up` would change, as `plan` showed it.
    pub changes: Vec<serde_json::Value>,
    pub plan: serde_json::Value,
}

pub fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Apply => "apply",
        Phase::Verify => "verify",
        Phase::Rollout => "rollout",
        Phase::Teardown => "teardown",
    }
}

impl Plan {
    pub fn resource(&self, id: &str) -> Option<&PlannedResource> {
        self.resources.iter().find(|r| r.id == id)
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "format_version": JSON_FORMAT_VERSION,
            "blueprint": self.blueprint,
            "environment": self.env,
            "regions": self.regions,
            "tags": self.tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "plugins": self.plugins.iter().map(|p| json!({
                "instance": p.instance, "plugin": p.plugin, "version": p.version, "source": p.source, "sha256": p.sha256,
            })).collect::<Vec<_>>(),
            "summary": {
                "create": self.resources.iter().filter(|r| r.action == Action::Create).count(),
                "update": 0, "replace": 0, "delete": 0,
                "steps": self.steps.len(),
                "waves": self.waves.len(),
            },
            "waves": self.waves,
            "critical_path": self.critical_path,
            "resources": self.resources.iter().map(|r| json!({
                "id": r.id, "instance": r.instance, "type": r.kind, "region": r.region,
                "action": "create", "depends_on": r.depends_on, "properties": r.properties.to_json(),
            })).collect::<Vec<_>>(),
            "steps": self.steps.iter().map(|s| json!({
                "id": s.id, "instance": s.instance, "phase": phase_name(s.phase), "action": s.action,
                "after": s.after, "timeout_seconds": s.timeout_seconds, "params": s.params.to_json(),
            })).collect::<Vec<_>>(),
            "exports": self.exports.iter().map(|(inst, ex)| (inst.clone(), ex.iter().map(|(k, v)| (k.clone(), v.to_json())).collect::<serde_json::Map<_, _>>().into())).collect::<serde_json::Map<String, serde_json::Value>>(),
        })
    }

    /// The human plan, in the spirit of `terraform plan`.
    pub fn render(&self, with_properties: bool) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "Blueprint {}, environment {} ({})\n",
            self.blueprint,
            self.env,
            self.regions.join(", ")
        ));
        out.push_str("Plugins:\n");
        for p in &self.plugins {
            out.push_str(&format!(
                "  {:<16} {} {} ({})\n",
                p.instance, p.plugin, p.version, p.source
            ));
        }
        for (w, wave) in self.waves.iter().enumerate() {
            out.push_str(&format!("\nWave {} ({} in parallel)\n", w + 1, wave.len()));
            for id in wave {
                if let Some(r) = self.resource(id) {
                    out.push_str(&format!("  + {}  {}  [{}]\n", r.id, r.kind, r.region));
                    if with_properties {
                        for (k, v) in r.properties.entries() {
                            let mut s = String::new();
                            v.render(&mut s, 3);
                            out.push_str(&format!("      {k} = {s}\n"));
                        }
                    }
                } else if let Some(s) = self.steps.iter().find(|s| &s.id == id) {
                    out.push_str(&format!(
                        "  > {}  step {} (timeout {}s)\n",
                        s.id, s.action, s.timeout_seconds
                    ));
                }
            }
        }
        for phase in [Phase::Verify, Phase::Rollout, Phase::Teardown] {
            let steps: Vec<&PlannedStep> = self.steps.iter().filter(|s| s.phase == phase).collect();
            if steps.is_empty() {
                continue;
            }
            out.push_str(&format!("\nSteps, {} phase\n", phase_name(phase)));
            for s in steps {
                out.push_str(&format!(
                    "  > {}  {} (timeout {}s)\n",
                    s.id, s.action, s.timeout_seconds
                ));
            }
        }
        out.push_str(&format!(
            "\nPlan: {} to create, 0 to change, 0 to destroy; {} steps; {} waves, critical path {}.\n",
            self.resources.len(),
            self.steps.len(),
            self.waves.len(),
            self.critical_path.len()
        ));
        out
    }
}
