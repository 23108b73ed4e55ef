//! Composition: run every plugin instance of a resolved blueprint, check
//! what each returns, and merge the contributions into one plan.
//!
//! Plugins are planned in the order their imports need: a plugin that asks
//! for the exports of an instance not yet planned answers `missing-imports`,
//! and is asked again once that instance is done. Instances that wait on
//! each other are a cycle, reported as such.
//!
//! Architecture invariant: composition knows the contract and the graph, not
//! any particular resource type or AWS.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::blueprint::{Diagnostic, Diagnostics, Instance, Resolved, valid_name};
use crate::graph::Graph;
use crate::plan::{Action, Plan, PlannedResource, PlannedStep, PluginUse};
use crate::properties::{PropertyError, printable};
use crate::runtime::{self, Contribution, LoadedPlugin, Phase, PlanError, PlanInput, PluginSource, Runtime};
use crate::value::{Ref, Value};

/// One instance while composing.
struct Unit<'a> {
    instance: &'a Instance,
    plugin: Arc<LoadedPlugin>,
    config_json: String,
    /// The other instances its configuration names (`network = "network"`,
    /// `services = ["api", ...]`): a plugin finds its peers there.
    named: BTreeSet<String>,
}

/// What one instance contributed, qualified.
struct Planned {
    resources: Vec<PlannedResource>,
    steps: Vec<PlannedStep>,
    exports: Vec<(String, Value, String)>,
}

/// Load the plugins of a resolved blueprint (each distinct source once).
pub fn load_plugins(
    runtime: &Runtime,
    resolved: &Resolved,
) -> Result<HashMap<PluginSource, Arc<LoadedPlugin>>, Diagnostics> {
    let mut loaded: HashMap<PluginSource, Arc<LoadedPlugin>> = HashMap::new();
    let mut diags = Vec::new();
    for inst in &resolved.instances {
        if loaded.contains_key(&inst.source) {
            continue;
        }
        match runtime.load(&inst.source) {
            Ok(p) => {
                loaded.insert(inst.source.clone(), Arc::new(p));
            }
            Err(e) => diags.push(Diagnostic::at(
                &resolved.source,
                &inst.source_span,
                format!("plugin instance `{}`: {e}", inst.name),
            )),
        }
    }
    if diags.is_empty() {
        check_pins(resolved, &loaded, &mut diags);
    }
    if diags.is_empty() {
        Ok(loaded)
    } else {
        Err(Diagnostics(diags))
    }
}

/// Plugins from files must match the `sha256` the blueprint gives them and
/// the lock file beside the blueprint, if there is one.
fn check_pins(resolved: &Resolved, loaded: &HashMap<PluginSource, Arc<LoadedPlugin>>, diags: &mut Vec<Diagnostic>) {
    let blueprint = &resolved.source.path;
    let lock = match crate::lockfile::read(blueprint) {
        Ok(lock) => lock,
        Err(e) => {
            diags.push(Diagnostic::in_file(blueprint, e));
            return;
        }
    };
    for inst in &resolved.instances {
        let PluginSource::Path(path) = &inst.source else {
            continue;
        };
        let actual = &loaded[&inst.source].sha256;
        if let Some((pinned, span)) = &inst.sha256
            && pinned != actual
        {
            diags.push(Diagnostic::at(
                &resolved.source,
                span,
                format!(
                    "plugin instance `{}`: {} has sha256 {actual}, but the blueprint pins {pinned}",
                    inst.name,
                    path.display()
                ),
            ));
        }
        if let Some(lock) = &lock {
            let key = crate::lockfile::key(blueprint, path);
            let relock = format!(
                "if the change is intended, run `platform plugin lock {}`",
                blueprint.display()
            );
            let message = match lock.plugins.get(&key) {
                Some(locked) if locked == actual => continue,
                Some(locked) => format!(
                    "{} has sha256 {actual}, but {} locks it to {locked}; {relock}",
                    path.display(),
                    lock.path.display()
                ),
                None => format!("`{key}` is not in {}; {relock}", lock.path.display()),
            };
            diags.push(Diagnostic::at(
                &resolved.source,
                &inst.source_span,
                format!("plugin instance `{}`: {message}", inst.name),
            ));
        }
    }
}

/// The resource types a host can create, as planning sees them: by name,
/// with a check of their properties. Planning knows no type itself; the
/// providers' registry implements this.
pub trait Kinds: Sync {
    /// `None`: no such type on this host (`up` refuses it before starting);
    /// otherwise whether `props` fit the type, references standing for any
    /// value.
    fn check(&self, kind: &str, props: &Value) -> Option<Result<(), PropertyError>>;
}

/// Compose a resolved blueprint into a plan whose resources' properties fit
/// their types.
pub fn compose(runtime: &Runtime, resolved: &Resolved, kinds: &dyn Kinds) -> Result<Plan, Diagnostics> {
    let started = std::time::Instant::now();
    let loaded = load_plugins(runtime, resolved)?;
    tracing::debug!(target: "platform::timings", "loaded {} plugins in {:?}", loaded.len(), started.elapsed());
    let src = &resolved.source;
    let mut diags = Vec::new();

    // Check every configuration against its plugin's schema first, so all
    // configuration mistakes are reported together.
    let mut units = Vec::new();
    let names: std::collections::HashSet<&str> = resolved.instances.iter().map(|i| i.name.as_str()).collect();
    // Each plugin's schema is parsed and checked once, however many
    // instances it has.
    let mut schemas: HashMap<&PluginSource, ParsedSchema> = HashMap::new();
    for inst in &resolved.instances {
        let plugin = loaded[&inst.source].clone();
        let config = inst.config.to_json();
        let schema = schemas.entry(&inst.source).or_insert_with(|| {
            serde_json::from_str::<serde_json::Value>(&plugin.info.config_schema)
                .map(|schema| {
                    let checked = crate::schema::check_schema(&schema).map_err(|e| e.to_string());
                    (schema, checked)
                })
                .map_err(|e| e.to_string())
        });
        match schema {
            Ok((schema, checked)) => {
                if let Err(msg) = checked {
                    diags.push(Diagnostic::at(
                        src,
                        &inst.source_span,
                        format!("{}: {msg}", who(inst, &plugin)),
                    ));
                }
                for e in crate::schema::validate(schema, &config) {
                    diags.push(Diagnostic::at(
                        src,
                        &inst.config.span_at(&e.pointer),
                        format!("{}: {}", config_path(inst, &e.pointer), e.message),
                    ));
                }
            }
            Err(e) => diags.push(Diagnostic::at(
                src,
                &inst.source_span,
                format!(
                    "{}: its configuration schema is not valid JSON: {e}",
                    who(inst, &plugin)
                ),
            )),
        }
        let mut named = BTreeSet::new();
        let mut name = |s: &str| {
            if s != inst.name && names.contains(s) {
                named.insert(s.to_string());
            }
        };
        strings_in(&config, &mut name);
        // A top-level setting left to its default names what the default
        // names (`network = "network"`): given at once, the plugin need not
        // ask for it and be called again.
        if let Some(Ok((schema, _))) = schemas.get(&inst.source) {
            for (key, default) in string_defaults(schema) {
                if config.get(key).is_none() {
                    name(default);
                }
            }
        }
        units.push(Unit {
            instance: inst,
            config_json: config.to_string(),
            named,
            plugin,
        });
    }
    if !diags.is_empty() {
        return Err(Diagnostics(diags));
    }
    tracing::debug!(target: "platform::timings", "checked {} configurations at {:?}", units.len(), started.elapsed());

    let instance_names: Vec<&str> = resolved.instances.iter().map(|i| i.name.as_str()).collect();
    let instance_set: std::collections::HashSet<&str> = instance_names.iter().copied().collect();
    let environment = runtime::Environment {
        name: resolved.env.clone(),
        regions: resolved.regions.clone(),
        tags: resolved.tags.clone(),
    };

    // Plan in import order, in rounds. Each call gets the exports of the
    // planned instances its configuration names or it asked for, not of
    // every planned instance: handing each of N instances the exports of
    // all the others made planning quadratic in the estate. A round calls,
    // in blueprint order, every instance whose named and requested
    // instances are planned (or, when none is, because names point at each
    // other, every instance whose requests are met), so a plugin gets what
    // its configuration names on its first call. The calls of a round run
    // on every core (instances come from the runtime's pool: mapping and
    // unmapping each call's memory made two threads slower than one).
    let mut done: Vec<Option<Planned>> = units.iter().map(|_| None).collect();
    let mut waiting_on: Vec<Vec<String>> = vec![Vec::new(); units.len()];
    let mut imports: HashMap<String, runtime::InstanceExports> = HashMap::new();
    while done.iter().any(Option::is_none) {
        let planned = |name: &String| imports.contains_key(name);
        let open: Vec<usize> = (0..units.len())
            .filter(|&i| done[i].is_none() && waiting_on[i].iter().all(planned))
            .collect();
        let named_planned: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&i| units[i].named.iter().all(planned))
            .collect();
        let ready = if named_planned.is_empty() { open } else { named_planned };
        if ready.is_empty() {
            return Err(import_cycle(resolved, &units, &done, &waiting_on));
        }
        let inputs: Vec<PlanInput> = ready
            .iter()
            .map(|&i| PlanInput {
                blueprint: resolved.blueprint.clone(),
                instance: units[i].instance.name.clone(),
                environment: environment.clone(),
                config: units[i].config_json.clone(),
                imports: units[i]
                    .named
                    .iter()
                    .chain(waiting_on[i].iter())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .filter_map(|name| imports.get(name).cloned())
                    .collect(),
            })
            .collect();
        // The calls of a round, and the checks of what they return, on
        // every core; their answers are then taken in blueprint order, so
        // the first error reported is the same as one call at a time.
        let answers = in_parallel(ready.len(), |k| {
            let unit = &units[ready[k]];
            let call = std::time::Instant::now();
            let answer = runtime.plan(&unit.plugin, &inputs[k], unit.instance.limits);
            tracing::trace!(target: "platform::timings", "plan call of `{}` took {:?}", unit.instance.name, call.elapsed());
            answer.map(|a| a.map(|c| qualify(resolved, unit.instance, &unit.plugin, c, &instance_set)))
        });
        for ((&i, input), answer) in ready.iter().zip(&inputs).zip(answers) {
            let unit = &units[i];
            let inst = unit.instance;
            let here = |msg: String| Diagnostic::at(src, &inst.span, format!("{}: {msg}", who(inst, &unit.plugin)));
            match answer {
                Err(fault) => return Err(here(format!("plan failed: {fault}")).into()),
                Ok(Err(PlanError::Failed(msg))) => return Err(here(msg).into()),
                Ok(Err(PlanError::InvalidConfig(errors))) => {
                    return Err(Diagnostics(
                        errors
                            .iter()
                            .map(|e| {
                                Diagnostic::at(
                                    src,
                                    &inst.config.span_at(&e.path),
                                    format!("{}: {}", config_path(inst, &e.path), e.message),
                                )
                            })
                            .collect(),
                    ));
                }
                Ok(Err(PlanError::MissingImports(names))) => {
                    if names.is_empty() {
                        // Asked again with the same input, it would answer
                        // the same: the rounds would never end.
                        return Err(here("it answered missing-imports without naming an instance".into()).into());
                    }
                    for name in &names {
                        if name == &inst.name {
                            return Err(here("it asks for its own exports".into()).into());
                        }
                        if !instance_set.contains(name.as_str()) {
                            return Err(here(format!(
                                "it needs the exports of instance `{name}`, which environment `{}` does not have (enabled instances: {})",
                                resolved.env,
                                instance_names.join(", ")
                            ))
                            .into());
                        }
                        if input.imports.iter().any(|imp| &imp.instance == name) {
                            return Err(here(format!(
                                "it asked again for instance `{name}`, whose exports it was given"
                            ))
                            .into());
                        }
                    }
                    waiting_on[i].extend(names);
                }
                Ok(Ok(planned)) => {
                    let planned = planned?;
                    imports.insert(
                        inst.name.clone(),
                        runtime::InstanceExports {
                            instance: inst.name.clone(),
                            plugin: unit.plugin.info.name.clone(),
                            exports: planned
                                .exports
                                .iter()
                                .map(|(name, value, description)| runtime::Export {
                                    name: name.clone(),
                                    value: value.encode(),
                                    description: description.clone(),
                                })
                                .collect(),
                        },
                    );
                    done[i] = Some(planned);
                }
            }
        }
    }

    tracing::debug!(target: "platform::timings", "planned {} instances at {:?}", units.len(), started.elapsed());
    let planned: Vec<(&Unit, Planned)> = units
        .iter()
        .zip(done.into_iter().map(|p| p.expect("all planned")))
        .collect();
    let plan = assemble(resolved, planned, kinds);
    tracing::debug!(target: "platform::timings", "assembled at {:?}", started.elapsed());
    plan
}

/// `f(0..n)` on up to one thread a core (at most 8, and at least 16 items
/// a thread), the results in order. Plugin calls made in `f` each hold one
/// of the runtime's pooled instances (32).
fn in_parallel<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .min(8)
        .min(n / 16)
        .max(1);
    if threads == 1 {
        return (0..n).map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, T)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if k >= n {
                            break mine;
                        }
                        mine.push((k, f(k)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    results.sort_unstable_by_key(|(k, _)| *k);
    results.into_iter().map(|(_, t)| t).collect()
}

/// A plugin's configuration schema with what `check_schema` said of it, or
/// why it is not JSON.
type ParsedSchema = Result<(serde_json::Value, Result<(), String>), String>;

/// The top-level properties of a configuration schema whose default is a
/// string, with that default.
fn string_defaults(schema: &serde_json::Value) -> impl Iterator<Item = (&str, &str)> {
    schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(key, property)| Some((key.as_str(), property.get("default")?.as_str()?)))
}

/// Call `f` with every string in a JSON value.
fn strings_in<'a>(value: &'a serde_json::Value, f: &mut impl FnMut(&'a str)) {
    match value {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings_in(v, f)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings_in(v, f)),
        _ => {}
    }
}

/// Merge the instances' contributions and order them.
fn assemble(resolved: &Resolved, planned: Vec<(&Unit, Planned)>, kinds: &dyn Kinds) -> Result<Plan, Diagnostics> {
    let src = &resolved.source;
    let mut diags = Vec::new();
    let mut graph = Graph::new();
    let mut node_of: HashMap<String, usize> = HashMap::new();
    let mut resources = Vec::new();
    let mut steps = Vec::new();
    let mut exports = Vec::new();
    let mut plugins = Vec::new();
    let mut owner: HashMap<String, usize> = HashMap::new();

    for (u, (unit, p)) in planned.into_iter().enumerate() {
        plugins.push(PluginUse {
            instance: unit.instance.name.clone(),
            plugin: unit.plugin.info.name.clone(),
            version: unit.plugin.info.version.clone(),
            source: unit.plugin.source.to_string(),
            sha256: unit.plugin.sha256.clone(),
        });
        for r in &p.resources {
            node_of.insert(r.id.clone(), graph.add_node(r.id.clone()));
            owner.insert(r.id.clone(), u);
        }
        for s in p.steps.iter().filter(|s| s.phase == Phase::Apply) {
            node_of.insert(s.id.clone(), graph.add_node(s.id.clone()));
            owner.insert(s.id.clone(), u);
        }
        for s in p.steps.iter().filter(|s| s.phase != Phase::Apply) {
            owner.insert(s.id.clone(), u);
        }
        resources.extend(p.resources);
        steps.extend(p.steps);
        exports.push((
            unit.instance.name.clone(),
            p.exports.into_iter().map(|(n, v, _)| (n, v)).collect::<Vec<_>>(),
        ));
    }
    let resource_ids: std::collections::HashSet<String> = resources.iter().map(|r| r.id.clone()).collect();
    let inst_span = |id: &str| {
        let u = owner.get(id).copied().unwrap_or(0);
        resolved
            .instances
            .get(u)
            .map(|i| (i.span.clone(), i.name.clone()))
            .unwrap_or((0..0, String::new()))
    };

    // Dangling references: every reference must name a resource of the plan.
    // Each missing target (resource and attribute) once per resource,
    // however often it is named.
    let check_refs = |owner_id: &str, what: &str, refs: &[&crate::value::Ref], diags: &mut Vec<Diagnostic>| {
        let mut named = BTreeSet::new();
        for r in refs {
            if !resource_ids.contains(r.resource.as_str()) && named.insert((r.resource.clone(), r.attribute.clone())) {
                let (span, inst) = inst_span(owner_id);
                diags.push(Diagnostic::at(
                    src,
                    &span,
                    format!("plugin instance `{inst}`: {what} `{owner_id}` refers to `{}.{}`, but there is no resource `{}`", r.resource, r.attribute, r.resource),
                ));
            }
        }
    };
    // Each resource's references are walked once (on every core), for the
    // checks and for its dependencies.
    let checked: Vec<(Vec<Diagnostic>, BTreeSet<String>)> = in_parallel(resources.len(), |k| {
        let r = &resources[k];
        let mut diags = Vec::new();
        let refs = r.properties.refs();
        check_refs(&r.id, "resource", &refs, &mut diags);
        if let Some(Err(e)) = kinds.check(&r.kind, &r.properties) {
            let (span, inst) = inst_span(&r.id);
            diags.push(Diagnostic::at(
                src,
                &span,
                format!(
                    "plugin instance `{inst}`: resource `{}` ({}): {} (`platform plugin kinds {}` lists its properties)",
                    printable(&r.id),
                    printable(&r.kind),
                    printable(&e.to_string()),
                    printable(&r.kind),
                ),
            ));
        }
        let mut deps: BTreeSet<String> = r.depends_on.iter().cloned().collect();
        deps.extend(refs.into_iter().map(|x| x.resource.clone()));
        deps.remove(&r.id);
        (diags, deps)
    });
    let mut resource_deps = Vec::with_capacity(checked.len());
    for (found, deps) in checked {
        diags.extend(found);
        resource_deps.push(deps);
    }
    for s in &steps {
        check_refs(&s.id, "step", &s.params.refs(), &mut diags);
    }
    for (inst, ex) in &exports {
        for (name, v) in ex {
            for r in v.refs() {
                if !resource_ids.contains(r.resource.as_str()) {
                    let span = resolved
                        .instances
                        .iter()
                        .find(|i| &i.name == inst)
                        .map_or(0..0, |i| i.span.clone());
                    diags.push(Diagnostic::at(src, &span, format!("plugin instance `{inst}`: export `{name}` refers to `{}.{}`, but there is no resource `{}`", r.resource, r.attribute, r.resource)));
                }
            }
        }
    }

    // Edges: explicit dependencies, references, and apply-step order.
    for (r, deps) in resources.iter_mut().zip(resource_deps) {
        let node = node_of[&r.id];
        for d in &deps {
            match node_of.get(d) {
                Some(&dn) => graph.add_edge(node, dn),
                None => {
                    if !resource_ids.contains(d.as_str()) && r.depends_on.contains(d) {
                        let (span, inst) = inst_span(&r.id);
                        let kind = if owner.contains_key(d) {
                            "a step outside the apply phase"
                        } else {
                            "nothing in the plan"
                        };
                        diags.push(Diagnostic::at(
                            src,
                            &span,
                            format!(
                                "plugin instance `{inst}`: resource `{}` depends on `{d}`, which is {kind}",
                                r.id
                            ),
                        ));
                    }
                }
            }
        }
        r.depends_on = deps.into_iter().collect();
    }
    let mut previous_apply: HashMap<String, String> = HashMap::new();
    for s in &mut steps {
        let mut deps: BTreeSet<String> = s.after.iter().cloned().collect();
        deps.extend(s.params.refs().into_iter().map(|x| x.resource.clone()));
        for d in &s.after {
            if !owner.contains_key(d) {
                let (span, inst) = inst_span(&s.id);
                diags.push(Diagnostic::at(
                    src,
                    &span,
                    format!(
                        "plugin instance `{inst}`: step `{}` runs after `{d}`, which is nothing in the plan",
                        s.id
                    ),
                ));
            }
        }
        if s.phase != Phase::Apply {
            continue;
        }
        if let Some(prev) = previous_apply.insert(s.instance.clone(), s.id.clone()) {
            deps.insert(prev);
        }
        let node = node_of[&s.id];
        deps.retain(|d| node_of.contains_key(d));
        for d in &deps {
            graph.add_edge(node, node_of[d]);
        }
        s.depends_on = deps.into_iter().collect();
    }
    if !diags.is_empty() {
        return Err(Diagnostics(diags));
    }

    let waves = graph.waves().map_err(|cycle| {
        let instances: BTreeSet<String> = cycle
            .0
            .iter()
            .filter_map(|id| id.split('.').next())
            .map(str::to_string)
            .collect();
        let (span, _) = inst_span(&cycle.0[0]);
        Diagnostics::from(Diagnostic::at(
            src,
            &span,
            format!(
                "dependency cycle between resources of plugin instance{} {}: {cycle}",
                if instances.len() > 1 { "s" } else { "" },
                instances
                    .iter()
                    .map(|i| format!("`{i}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    })?;
    let critical = graph.critical_path(&waves);
    Ok(Plan {
        blueprint: resolved.blueprint.clone(),
        env: resolved.env.clone(),
        regions: resolved.regions.clone(),
        tags: resolved.tags.clone(),
        plugins,
        resources,
        steps,
        waves: waves
            .iter()
            .map(|w| w.iter().map(|&n| graph.name(n).to_string()).collect())
            .collect(),
        critical_path: critical.iter().map(|&n| graph.name(n).to_string()).collect(),
        exports,
    })
}

/// Check one contribution and qualify its ids and references.
/// Whether the blueprint's grants allow something; without grants a
/// built-in may return what it declares and a plugin from a file nothing.
fn granted(inst: &Instance, allows: impl Fn(&crate::blueprint::Grants) -> bool) -> bool {
    match &inst.grants {
        Some(g) => allows(g),
        None => matches!(inst.source, PluginSource::Builtin(_)),
    }
}

fn qualify(
    resolved: &Resolved,
    inst: &Instance,
    plugin: &LoadedPlugin,
    c: Contribution,
    instances: &std::collections::HashSet<&str>,
) -> Result<Planned, Diagnostics> {
    let src = &resolved.source;
    let mut diags = Vec::new();
    let mut err = |msg: String| diags.push(Diagnostic::at(src, &inst.span, format!("{}: {msg}", who(inst, plugin))));
    let info = &plugin.info;
    let mut seen = BTreeSet::new();
    let q = |id: &str| -> Result<String, String> {
        match id.split_once('.') {
            None if valid_name(id) => Ok(format!("{}.{id}", inst.name)),
            Some((other, rest)) if instances.contains(other) && valid_name(rest) => Ok(id.to_string()),
            Some((other, _)) if !instances.contains(other) => Err(format!(
                "`{id}` names instance `{other}`, which is not in this environment"
            )),
            _ => Err(format!(
                "`{id}` is not a valid id (lowercase letters, digits and `-`, or `<instance>.<id>`)"
            )),
        }
    };
    let qualify_value = |v: &mut Value, err: &mut dyn FnMut(String)| {
        v.map_refs(&mut |r: &mut Ref| match q(&r.resource) {
            Ok(id) => r.resource = id,
            Err(e) => err(format!("reference to {e}")),
        });
        for r in v.refs() {
            if r.attribute.is_empty()
                || !r
                    .attribute
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                err(format!(
                    "reference `{}.{}` has an invalid attribute name (lowercase letters, digits and `_`)",
                    r.resource, r.attribute
                ));
            }
        }
    };

    let mut resources = Vec::new();
    for r in c.resources {
        if !valid_name(&r.id) {
            err(format!(
                "resource id `{}` is not valid: use lowercase letters, digits and `-`",
                r.id
            ));
            continue;
        }
        if !seen.insert(r.id.clone()) {
            err(format!("returned the id `{}` twice", r.id));
            continue;
        }
        if !info.resource_kinds.contains(&r.kind) {
            err(format!(
                "resource `{}` has type `{}`, which the plugin did not declare (it declared: {})",
                r.id,
                r.kind,
                list(&info.resource_kinds)
            ));
        } else if !granted(inst, |g| g.allows_resource(&r.kind)) {
            err(format!(
                "resource `{}` has type `{}`, which the blueprint does not grant this plugin; to allow it, add it to [plugins.{}.grants] resources",
                r.id, r.kind, inst.name
            ));
        }
        let region = r.region.clone().unwrap_or_else(|| resolved.regions[0].clone());
        if !resolved.regions.contains(&region) {
            err(format!(
                "resource `{}` is in region {region}, which is not a region of environment `{}` ({})",
                r.id,
                resolved.env,
                resolved.regions.join(", ")
            ));
        }
        let mut properties = match Value::decode(&r.properties) {
            Ok(v @ (Value::Object(_) | Value::Null)) => v,
            Ok(_) => {
                err(format!("resource `{}` has properties that are not an object", r.id));
                continue;
            }
            Err(e) => {
                err(format!("resource `{}`: {e}", r.id));
                continue;
            }
        };
        qualify_value(&mut properties, &mut err);
        let mut depends_on = Vec::new();
        for d in &r.depends_on {
            match q(d) {
                Ok(id) => depends_on.push(id),
                Err(e) => err(format!("resource `{}` depends on {e}", r.id)),
            }
        }
        resources.push(PlannedResource {
            id: format!("{}.{}", inst.name, r.id),
            instance: inst.name.clone(),
            kind: r.kind,
            region,
            action: Action::Create,
            properties,
            depends_on,
        });
    }
    let mut steps = Vec::new();
    for s in c.steps {
        if !valid_name(&s.id) {
            err(format!(
                "step id `{}` is not valid: use lowercase letters, digits and `-`",
                s.id
            ));
            continue;
        }
        if !seen.insert(s.id.clone()) {
            err(format!("returned the id `{}` twice", s.id));
            continue;
        }
        if !info.actions.contains(&s.action) {
            err(format!(
                "step `{}` uses action `{}`, which the plugin did not declare (it declared: {})",
                s.id,
                s.action,
                list(&info.actions)
            ));
        } else if !granted(inst, |g| g.allows_action(&s.action)) {
            err(format!(
                "step `{}` uses action `{}`, which the blueprint does not grant this plugin; to allow it, add it to [plugins.{}.grants] actions",
                s.id, s.action, inst.name
            ));
        }
        let mut params = match Value::decode(&s.params) {
            Ok(v) => v,
            Err(e) => {
                err(format!("step `{}`: {e}", s.id));
                continue;
            }
        };
        qualify_value(&mut params, &mut err);
        let mut after = Vec::new();
        for d in &s.after {
            match q(d) {
                Ok(id) => after.push(id),
                Err(e) => err(format!("step `{}` runs after {e}", s.id)),
            }
        }
        steps.push(PlannedStep {
            id: format!("{}.{}", inst.name, s.id),
            instance: inst.name.clone(),
            phase: s.phase,
            action: s.action,
            params,
            after,
            timeout_seconds: s.timeout_seconds,
            depends_on: Vec::new(),
        });
    }
    let mut exports = Vec::new();
    let mut export_names = BTreeSet::new();
    for e in c.exports {
        if !export_names.insert(e.name.clone()) {
            err(format!("exported `{}` twice", e.name));
            continue;
        }
        match Value::decode(&e.value) {
            Ok(mut v) => {
                qualify_value(&mut v, &mut err);
                exports.push((e.name, v, e.description));
            }
            Err(err_msg) => err(format!("export `{}`: {err_msg}", e.name)),
        }
    }
    if !diags.is_empty() {
        return Err(Diagnostics(diags));
    }
    Ok(Planned {
        resources,
        steps,
        exports,
    })
}

/// Instances that wait on each other's exports.
fn import_cycle(
    resolved: &Resolved,
    units: &[Unit],
    done: &[Option<Planned>],
    waiting_on: &[Vec<String>],
) -> Diagnostics {
    let mut g = Graph::new();
    let index: HashMap<&str, usize> = units
        .iter()
        .map(|u| (u.instance.name.as_str(), g.add_node(u.instance.name.clone())))
        .collect();
    for (i, w) in waiting_on.iter().enumerate() {
        if done[i].is_none() {
            for name in w {
                g.add_edge(i, index[name.as_str()]);
            }
        }
    }
    let message = match g.waves() {
        Err(cycle) => format!("plugin instances need each other's exports: {cycle}"),
        Ok(_) => "plugin instances could not be ordered by their imports".into(),
    };
    let first = done.iter().position(Option::is_none).unwrap_or(0);
    Diagnostic::at(&resolved.source, &units[first].instance.span, message).into()
}

/// "plugin instance `api` (service 0.1.0)"
fn who(inst: &Instance, plugin: &LoadedPlugin) -> String {
    format!(
        "plugin instance `{}` ({} {})",
        inst.name, plugin.info.name, plugin.info.version
    )
}

/// The TOML path of a configuration value: `plugins.api.config.autoscaling.max`.
fn config_path(inst: &Instance, pointer: &str) -> String {
    let mut path = format!("plugins.{}.config", inst.name);
    for token in pointer.split('/').skip(1) {
        path.push('.');
        path.push_str(&token.replace("~1", "/").replace("~0", "~"));
    }
    path
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_of_a_configuration_is_seen_once() {
        let config = serde_json::json!({
            "network": "network",
            "services": ["api", "auth"],
            "autoscaling": { "min": 1, "name": "worker" },
            "probe": true,
        });
        let mut seen = Vec::new();
        strings_in(&config, &mut |s| seen.push(s));
        seen.sort();
        assert_eq!(seen, ["api", "auth", "network", "worker"]);
    }

    #[test]
    fn parallel_results_come_back_in_order_each_once() {
        for n in [0, 1, 15, 16, 33, 1000] {
            let calls = std::sync::atomic::AtomicUsize::new(0);
            let out = in_parallel(n, |k| {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Uneven work, so threads finish out of order.
                std::thread::sleep(std::time::Duration::from_micros((k % 7) as u64 * 20));
                k * 2
            });
            assert_eq!(out, (0..n).map(|k| k * 2).collect::<Vec<_>>());
            assert_eq!(calls.into_inner(), n);
        }
    }
}
