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
        let bytes = serde_json::to_vec(&self.json(Vec::new())).expect("plan serializes");
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

    /// The `--json` document as a `serde_json::Value` (for embedding in a
    /// saved plan); [`Plan::json`] writes the same without building it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.json(Vec::new())).expect("plan serializes")
    }

    /// The `--json` document, serialized as it is written, with `extra`
    /// members after the plan's own. A 20,000-resource plan never exists as
    /// a tree of JSON values.
    pub fn json(&self, extra: Vec<(&'static str, serde_json::Value)>) -> PlanJson<'_> {
        PlanJson { plan: self, extra }
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
        let resources: std::collections::HashMap<&str, &PlannedResource> =
            self.resources.iter().map(|r| (r.id.as_str(), r)).collect();
        let steps: std::collections::HashMap<&str, &PlannedStep> =
            self.steps.iter().map(|s| (s.id.as_str(), s)).collect();
        for (w, wave) in self.waves.iter().enumerate() {
            out.push_str(&format!("\nWave {} ({} in parallel)\n", w + 1, wave.len()));
            for id in wave {
                if let Some(r) = resources.get(id.as_str()) {
                    out.push_str(&format!("  + {}  {}  [{}]\n", r.id, r.kind, r.region));
                    if with_properties {
                        for (k, v) in r.properties.entries() {
                            let mut s = String::new();
                            v.render(&mut s, 3);
                            out.push_str(&format!("      {k} = {s}\n"));
                        }
                    }
                } else if let Some(s) = steps.get(id.as_str()) {
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

/// See [`Plan::json`].
pub struct PlanJson<'a> {
    plan: &'a Plan,
    extra: Vec<(&'static str, serde_json::Value)>,
}

impl serde::Serialize for PlanJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Seq<I>(std::cell::Cell<Option<I>>);
        impl<I: Iterator<Item = T>, T: serde::Serialize> serde::Serialize for Seq<I> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.take().expect("serialized once"))
            }
        }
        fn seq<I: Iterator<Item = T>, T: serde::Serialize>(items: I) -> Seq<I> {
            Seq(std::cell::Cell::new(Some(items)))
        }
        #[derive(serde::Serialize)]
        struct Resource<'a> {
            id: &'a str,
            instance: &'a str,
            #[serde(rename = "type")]
            kind: &'a str,
            region: &'a str,
            action: &'static str,
            depends_on: &'a [String],
            properties: &'a Value,
        }
        #[derive(serde::Serialize)]
        struct Step<'a> {
            id: &'a str,
            instance: &'a str,
            phase: &'static str,
            action: &'a str,
            after: &'a [String],
            timeout_seconds: u32,
            params: &'a Value,
        }
        /// Pairs as a JSON object (keys are unique where they come from).
        struct Pairs<'a, V>(&'a [(String, V)]);
        impl<V: serde::Serialize> serde::Serialize for Pairs<'_, V> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
            }
        }
        struct Exports<'a>(&'a [(String, Vec<(String, Value)>)]);
        impl serde::Serialize for Exports<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|(k, v)| (k, Pairs(v))))
            }
        }

        let p = self.plan;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("format_version", &JSON_FORMAT_VERSION)?;
        m.serialize_entry("blueprint", &p.blueprint)?;
        m.serialize_entry("environment", &p.env)?;
        m.serialize_entry("regions", &p.regions)?;
        m.serialize_entry("tags", &Pairs(&p.tags))?;
        m.serialize_entry(
            "plugins",
            &seq(p.plugins.iter().map(|p| {
                json!({
                    "instance": p.instance, "plugin": p.plugin, "version": p.version, "source": p.source, "sha256": p.sha256,
                })
            })),
        )?;
        m.serialize_entry(
            "summary",
            &json!({
                "create": p.resources.iter().filter(|r| r.action == Action::Create).count(),
                "update": 0, "replace": 0, "delete": 0,
                "steps": p.steps.len(),
                "waves": p.waves.len(),
            }),
        )?;
        m.serialize_entry("waves", &p.waves)?;
        m.serialize_entry("critical_path", &p.critical_path)?;
        m.serialize_entry(
            "resources",
            &seq(p.resources.iter().map(|r| Resource {
                id: &r.id,
                instance: &r.instance,
                kind: &r.kind,
                region: &r.region,
                action: "create",
                depends_on: &r.depends_on,
                properties: &r.properties,
            })),
        )?;
        m.serialize_entry(
            "steps",
            &seq(p.steps.iter().map(|s| Step {
                id: &s.id,
                instance: &s.instance,
                phase: phase_name(s.phase),
                action: &s.action,
                after: &s.after,
                timeout_seconds: s.timeout_seconds,
                params: &s.params,
            })),
        )?;
        m.serialize_entry("exports", &Exports(&p.exports))?;
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}
