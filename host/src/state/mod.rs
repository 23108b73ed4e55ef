//! Deployment state: one file per blueprint and environment, written
//! atomically, guarded by an exclusive lock, with an append-only journal.
//!
//! Every mutating AWS call is recorded twice: the resource's status is set
//! to `creating`/`updating`/`deleting` (and journaled) before the call is
//! sent, and its outcome after. A run killed in between leaves that status
//! behind; the next run treats such a resource as uncertain and looks for it
//! by its tags or name before doing anything else, so nothing is duplicated
//! or orphaned.
//!
//! Architecture invariant: state holds ids, properties and outputs, never a
//! secret value (secrets live in Secrets Manager and are referenced by ARN).

mod lock;
pub mod remote;
pub mod s3;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

pub use lock::{Lock, LockError, LockInfo};
use remote::{Cond, ObjectStore, RemoteError, RemoteLock};

pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A create call may have been sent; the outcome is unknown.
    Creating,
    Created,
    /// An update call may have been sent.
    Updating,
    /// A delete call may have been sent.
    Deleting,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    #[serde(rename = "type")]
    pub kind: String,
    pub region: String,
    pub status: Status,
    /// The resolved properties last sent to AWS.
    pub properties: serde_json::Value,
    /// What AWS returned: ids, ARNs, names, endpoints.
    #[serde(default)]
    pub outputs: serde_json::Map<String, serde_json::Value>,
    /// Dependencies when it was applied, for deleting in reverse order.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// The run that created it (for `--rollback`).
    #[serde(default)]
    pub created_by: String,
    /// The idempotency token of its create call, reused when a run resumes
    /// an interrupted create so the call is not duplicated.
    #[serde(default)]
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub blueprint: String,
    pub environment: String,
    /// Bumped on every write.
    pub serial: u64,
    pub resources: BTreeMap<String, ResourceState>,
    /// Values of the instances' exports at the end of the last run.
    #[serde(default)]
    pub outputs: BTreeMap<String, serde_json::Value>,
    /// Rollouts not finished, by the id of their first step.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rollouts: BTreeMap<String, Rollout>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutStatus {
    /// Under way (or cut short by a killed process): the next run resumes it.
    InProgress,
    /// Stopped at an approval step until `promote` or `rollback`.
    AwaitingApproval,
    /// Rolled back; the next `up` tries again unless the blueprint changed.
    RolledBack,
}

/// A rollout that has started and not finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub instance: String,
    pub region: String,
    pub status: RolloutStatus,
    /// The step to run next (or the approval step it waits at).
    pub next_step: String,
    /// Steps done, of how many.
    pub done: usize,
    pub total: usize,
    /// Set by `promote`: the approval step passes.
    #[serde(default)]
    pub approved: bool,
    pub started_at: String,
    pub updated_at: String,
    /// What the rollout primitives are working on (task sets, target
    /// groups, listeners, weights); `None` until `rollout.begin` ran.
    #[serde(default)]
    pub slots: Option<crate::providers::rollout::Slots>,
    /// The record's format ([`ROLLOUT_FORMAT`]); a newer one is refused
    /// rather than misread.
    #[serde(default = "first_rollout_format")]
    pub format: u32,
    /// Why it was rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The format of [`Rollout`] records this version writes and reads.
pub const ROLLOUT_FORMAT: u32 = 1;

fn first_rollout_format() -> u32 {
    1
}

impl State {
    pub fn new(blueprint: &str, environment: &str) -> State {
        State {
            version: STATE_VERSION,
            blueprint: blueprint.into(),
            environment: environment.into(),
            serial: 0,
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
            rollouts: BTreeMap::new(),
        }
    }

    /// Where `depose` would keep the resource now at `id`: `<id>~old`, or
    /// `<id>~old2`, ... if an earlier one is still there.
    ///
    /// A deposed resource is the old one of a replacement that created the
    /// new one first: it stays in the state (so `down`, a resumed run and
    /// the end of this one delete it) under a key no plan can use, since
    /// planned ids never hold a `~`.
    pub fn deposed_key(&self, id: &str) -> String {
        (1..)
            .map(|n| {
                if n == 1 {
                    format!("{id}~old")
                } else {
                    format!("{id}~old{n}")
                }
            })
            .find(|k| !self.resources.contains_key(k))
            .expect("a free key")
    }

    /// The keys of the resources deposed from `id`, oldest first.
    pub fn deposed(&self, id: &str) -> Vec<String> {
        let prefix = format!("{id}~old");
        let mut keys: Vec<(u32, String)> = self
            .resources
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| {
                let n = &k[prefix.len()..];
                let n = if n.is_empty() { Some(1) } else { n.parse().ok() };
                n.map(|n| (n, k.clone()))
            })
            .collect();
        keys.sort();
        keys.into_iter().map(|(_, k)| k).collect()
    }

    /// Move the resource at `id` aside as deposed (see [`State::deposed_key`]);
    /// its dependencies that were deposed before it (in this replacement)
    /// are added to its own, so deleting deposed resources goes in reverse
    /// dependency order among them too. Returns the key.
    pub fn depose(&mut self, id: &str) -> Option<String> {
        let mut entry = self.resources.remove(id)?;
        let key = self.deposed_key(id);
        let extra: Vec<String> = entry.depends_on.iter().filter_map(|d| self.deposed(d).pop()).collect();
        entry.depends_on.extend(extra);
        self.resources.insert(key.clone(), entry);
        Some(key)
    }
}

/// Whether a state key names a deposed resource (see [`State::deposed_key`]).
pub fn is_deposed(key: &str) -> bool {
    key.contains('~')
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    // The cause is the source, printed by whoever prints the chain.
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is corrupt: {message}; it was left untouched (restore it from {path}.bak if present)")]
    Corrupt { path: PathBuf, message: String },
    #[error("state file {path} has version {found}, this platform reads version {STATE_VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error(
        "state file {path} holds rollout `{rollout}` recorded in format {found} by a newer platform; this one reads format {ROLLOUT_FORMAT}: upgrade platform (the file was left untouched)"
    )]
    RolloutFormat { path: PathBuf, rollout: String, found: u32 },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("remote state {url}: {message}")]
    Remote { url: String, message: String },
    #[error(
        "the state at {url} was changed by another run since this one read it (this run's lock lease must have expired); nothing more was written: run the command again"
    )]
    Conflict { url: String },
    #[error(
        "this run lost its lock on {url} (its lease could not be renewed and another run took it); nothing more was written"
    )]
    LockLost { url: String },
    #[error("writing the state was interrupted (the writer panicked); the change may not be saved")]
    Interrupted,
}

/// Where the state of one blueprint and environment lives.
#[derive(Debug, Clone)]
pub struct StateStore {
    pub dir: PathBuf,
    pub blueprint: String,
    pub environment: String,
    /// Set when the state is remote (S3); `dir` is then unused.
    pub remote: Option<Arc<RemoteState>>,
}

/// A remote state's objects and what this process knows of them.
#[derive(Debug)]
pub struct RemoteState {
    pub objects: Arc<dyn ObjectStore>,
    /// ETag of the state object as this process last read or wrote it.
    etag: Mutex<Option<String>>,
    /// The number of this run's next journal part.
    parts: std::sync::atomic::AtomicU64,
    run: String,
    lost: Arc<AtomicBool>,
}

impl StateStore {
    /// `--state-dir`, else `$PLATFORM_STATE_DIR`, else `.platform` in the
    /// current directory.
    pub fn new(dir: Option<PathBuf>, blueprint: &str, environment: &str) -> StateStore {
        let dir = dir
            .or_else(|| std::env::var_os("PLATFORM_STATE_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(".platform"));
        StateStore {
            dir,
            blueprint: blueprint.into(),
            environment: environment.into(),
            remote: None,
        }
    }

    /// State kept in `objects` (a bucket and prefix).
    pub fn remote(objects: Arc<dyn ObjectStore>, blueprint: &str, environment: &str) -> StateStore {
        let run = format!("{}-{}", remote::now(), std::process::id());
        StateStore {
            dir: PathBuf::new(),
            blueprint: blueprint.into(),
            environment: environment.into(),
            remote: Some(Arc::new(RemoteState {
                objects,
                etag: Mutex::new(None),
                parts: std::sync::atomic::AtomicU64::new(0),
                run,
                lost: Arc::new(AtomicBool::new(false)),
            })),
        }
    }

    /// Object names of a remote state.
    pub fn object(&self, suffix: &str) -> String {
        format!("{}.{}.{suffix}", self.blueprint, self.environment)
    }

    /// Where the state is, for messages.
    pub fn location(&self) -> String {
        match &self.remote {
            Some(r) => r.objects.url(&self.object("state.json")),
            None => self.state_path().display().to_string(),
        }
    }

    fn file(&self, suffix: &str) -> PathBuf {
        self.dir
            .join(format!("{}.{}.{suffix}", self.blueprint, self.environment))
    }

    pub fn state_path(&self) -> PathBuf {
        self.file("state.json")
    }

    pub fn journal_path(&self) -> PathBuf {
        self.file("journal.jsonl")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.file("lock")
    }

    /// Take the exclusive lock for `command`.
    pub fn lock(&self, command: &str) -> Result<Lock, StateError> {
        if let Some(r) = &self.remote {
            let lock = RemoteLock::acquire(r.objects.clone(), &self.object("lock"), command, r.lost.clone())?;
            return Ok(Lock::remote(lock));
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| StateError::Io {
            action: "create state directory",
            path: self.dir.clone(),
            source: e,
        })?;
        Ok(Lock::acquire(&self.lock_path(), command)?)
    }

    /// The state, or a new empty one when there is no file yet.
    pub fn load(&self) -> Result<State, StateError> {
        if let Some(r) = &self.remote {
            let name = self.object("state.json");
            let url = r.objects.url(&name);
            let got = r.objects.get(&name).map_err(|e| StateError::Remote {
                url: url.clone(),
                message: e.to_string(),
            })?;
            let Some((bytes, etag)) = got else {
                *r.etag.lock().expect("etag lock") = None;
                return Ok(State::new(&self.blueprint, &self.environment));
            };
            *r.etag.lock().expect("etag lock") = Some(etag);
            return parse_state(&bytes, PathBuf::from(url));
        }
        let path = self.state_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State::new(&self.blueprint, &self.environment));
            }
            Err(e) => {
                return Err(StateError::Io {
                    action: "read",
                    path,
                    source: e,
                });
            }
        };
        parse_state(text.as_bytes(), path)
    }

    /// Write the state atomically: temp file, fsync, rename, fsync the
    /// directory (or one conditional PUT for a remote state).
    pub fn save(&self, state: &mut State) -> Result<(), StateError> {
        let bytes = encode(state);
        self.write(&bytes)
    }

    /// Write state bytes made by [`encode`]; see [`StateStore::save`].
    pub fn write(&self, bytes: &[u8]) -> Result<(), StateError> {
        if let Some(r) = &self.remote {
            let name = self.object("state.json");
            let url = r.objects.url(&name);
            if r.lost.load(Ordering::SeqCst) {
                return Err(StateError::LockLost { url });
            }
            let mut etag = r.etag.lock().expect("etag lock");
            let cond = match etag.as_deref() {
                Some(e) => Cond::IfMatch(e),
                None => Cond::IfAbsent,
            };
            return match r.objects.put(&name, bytes.to_vec(), cond) {
                Ok(new) => {
                    *etag = Some(new);
                    Ok(())
                }
                Err(RemoteError::Precondition) => Err(StateError::Conflict { url }),
                Err(e) => Err(StateError::Remote {
                    url,
                    message: e.to_string(),
                }),
            };
        }
        write_atomic(&self.state_path(), bytes)
    }

    /// Append one event to the journal and fsync it.
    ///
    /// Failure injection for the crash tests (only in builds with the
    /// `test-hooks` feature): with
    /// `PLATFORM_CRASH_AFTER_JOURNAL=N` the process aborts (as a kill -9
    /// would stop it) right after the append that holds its N-th journal
    /// event (events written together are appended at once), that is
    /// between recording an intent and sending the call it announces.
    pub fn journal(&self, event: &serde_json::Value) -> Result<(), StateError> {
        self.journal_all(std::slice::from_ref(event))
    }

    /// Append events to the journal with one fsync (locally) or as one new
    /// part (remote: S3 cannot append, so each batch is an object of its
    /// own, `journal/<run>.<part>.jsonl`, and the journal is never
    /// rewritten). See [`StateStore::journal`] for the crash hook.
    pub fn journal_all(&self, events: &[serde_json::Value]) -> Result<(), StateError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut lines = Vec::new();
        for event in events {
            lines.extend(serde_json::to_vec(event).expect("event serializes"));
            lines.push(b'\n');
        }
        if let Some(r) = &self.remote {
            let part = r.parts.fetch_add(1, Ordering::SeqCst);
            let name = self.object(&format!("journal/{}.{part:09}.jsonl", r.run));
            r.objects
                .put(&name, lines, Cond::Always)
                .map_err(|e| StateError::Remote {
                    url: r.objects.url(&name),
                    message: e.to_string(),
                })?;
        } else {
            let path = self.journal_path();
            let io = |source| StateError::Io {
                action: "append to",
                path: path.clone(),
                source,
            };
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io)?;
            file.write_all(&lines).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        for _ in events {
            crash_point();
        }
        Ok(())
    }
}

/// The next serial of `state` and its bytes as [`StateStore::write`] stores them.
pub fn encode(state: &mut State) -> Vec<u8> {
    state.serial += 1;
    serde_json::to_vec_pretty(state).expect("state serializes")
}

/// Read a state file's bytes, refusing a version this platform does not read.
pub fn parse_state(bytes: &[u8], path: PathBuf) -> Result<State, StateError> {
    let state: State = serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if state.version != STATE_VERSION {
        return Err(StateError::Version {
            path,
            found: state.version,
        });
    }
    if let Some((id, r)) = state.rollouts.iter().find(|(_, r)| r.format > ROLLOUT_FORMAT) {
        return Err(StateError::RolloutFormat {
            path,
            rollout: id.clone(),
            found: r.format,
        });
    }
    Ok(state)
}

/// Release builds: nothing. The `test-hooks` feature (enabled only for the
/// test suite, through the dev-dependency on this crate) adds the crash hook.
#[cfg(not(feature = "test-hooks"))]
fn crash_point() {}

#[cfg(feature = "test-hooks")]
fn crash_point() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static EVENTS: AtomicU64 = AtomicU64::new(0);
    static LIMIT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    let limit = LIMIT.get_or_init(|| {
        std::env::var("PLATFORM_CRASH_AFTER_JOURNAL")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    if let Some(limit) = limit
        && EVENTS.fetch_add(1, Ordering::SeqCst) + 1 >= *limit
    {
        std::process::abort();
    }
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    let io = |action, source| StateError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::create(&tmp).map_err(|e| io("create a temporary file for", e))?;
    file.write_all(bytes).map_err(|e| io("write", e))?;
    file.sync_all().map_err(|e| io("fsync", e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| io("rename into", e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str) -> StateStore {
        let dir = std::env::temp_dir().join(format!("platform-state-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        StateStore::new(Some(dir), "bp", "dev")
    }

    #[test]
    fn round_trip_and_serial() {
        let s = store("round-trip");
        std::fs::create_dir_all(&s.dir).unwrap();
        let mut state = s.load().unwrap();
        assert_eq!(state.serial, 0);
        state.resources.insert(
            "network.vpc".into(),
            ResourceState {
                kind: "aws.ec2.vpc".into(),
                region: "us-east-1".into(),
                status: Status::Creating,
                properties: serde_json::json!({ "cidr_block": "10.0.0.0/16" }),
                outputs: Default::default(),
                depends_on: vec![],
                created_by: "run-1".into(),
                token: "t".into(),
            },
        );
        s.save(&mut state).unwrap();
        s.save(&mut state).unwrap();
        let loaded = s.load().unwrap();
        assert_eq!(loaded, state);
        assert_eq!(loaded.serial, 2);
        let text = std::fs::read_to_string(s.state_path()).unwrap();
        assert!(text.contains("\"status\": \"creating\""), "{text}");
    }

    #[test]
    fn corrupt_state_is_refused_not_overwritten() {
        let s = store("corrupt");
        std::fs::create_dir_all(&s.dir).unwrap();
        std::fs::write(s.state_path(), "{ not json").unwrap();
        let err = s.load().unwrap_err().to_string();
        assert!(err.contains("is corrupt"), "{err}");
        assert_eq!(std::fs::read_to_string(s.state_path()).unwrap(), "{ not json");
    }

    #[test]
    fn rollout_records_are_typed_and_a_newer_format_is_refused() {
        let s = store("rollout-format");
        std::fs::create_dir_all(&s.dir).unwrap();
        let record = |extra: &str| {
            format!(
                r#"{{"version":1,"blueprint":"bp","environment":"dev","serial":3,"resources":{{}},
                "rollouts":{{"api.begin":{{"instance":"api","region":"us-east-1","status":"in-progress",
                "next_step":"api.bake","done":2,"total":5,"started_at":"10:00:00","updated_at":"10:01:00",
                "slots":{{"cluster":"c","service":"s","task_definition":"td:2","previous_task_definition":"td:1",
                "blue_target_group":"b","green_target_group":"g","production_listeners":["l"],
                "blue_task_set":"ts-1","green_task_set":"ts-2","green_percent":10}}{extra}}}}}}}"#
            )
        };
        // A record written before the format field: format 1, slots typed.
        std::fs::write(s.state_path(), record("")).unwrap();
        let state = s.load().unwrap();
        let r = &state.rollouts["api.begin"];
        assert_eq!(r.format, ROLLOUT_FORMAT);
        assert_eq!(r.slots.as_ref().unwrap().green_percent, 10);
        assert_eq!(r.slots.as_ref().unwrap().green_task_set, "ts-2");
        // A newer platform's record is refused, and left as it is.
        let newer = record(r#","format":2"#);
        std::fs::write(s.state_path(), &newer).unwrap();
        let err = s.load().unwrap_err().to_string();
        assert!(err.contains("recorded in format 2 by a newer platform"), "{err}");
        assert!(!err.contains(".bak"), "restoring a backup is not the remedy: {err}");
        assert_eq!(std::fs::read_to_string(s.state_path()).unwrap(), newer);
    }

    #[test]
    fn remote_state_writes_are_conditional_on_what_this_run_read() {
        let objects: Arc<dyn ObjectStore> = Arc::new(remote::fake::Memory::default());
        let a = StateStore::remote(objects.clone(), "bp", "dev");
        let b = StateStore::remote(objects.clone(), "bp", "dev");
        let mut sa = a.load().unwrap();
        let mut sb = b.load().unwrap();
        a.save(&mut sa).unwrap();
        // b read before a wrote: its write is refused, not lost over a's.
        let err = b.save(&mut sb).unwrap_err().to_string();
        assert!(err.contains("was changed by another run"), "{err}");
        let mut sb = b.load().unwrap();
        assert_eq!(sb.serial, 1);
        b.save(&mut sb).unwrap();
        a.journal(&serde_json::json!({ "n": 1 })).unwrap();
        a.journal(&serde_json::json!({ "n": 2 })).unwrap();
        let r = a.remote.as_ref().unwrap();
        a.journal_all(&[serde_json::json!({ "n": 3 }), serde_json::json!({ "n": 4 })])
            .unwrap();
        // One part per write, never a rewrite; parts sort in write order.
        let parts = objects.list(&a.object("journal/")).unwrap();
        assert_eq!(parts.len(), 3, "{parts:?}");
        let mut journal = Vec::new();
        for (i, name) in parts.iter().enumerate() {
            assert!(name.ends_with(&format!("journal/{}.{i:09}.jsonl", r.run)), "{name}");
            journal.extend(objects.get(name).unwrap().unwrap().0);
        }
        assert_eq!(journal, b"{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n");
    }

    #[test]
    fn journal_appends_lines() {
        let s = store("journal");
        std::fs::create_dir_all(&s.dir).unwrap();
        s.journal(&serde_json::json!({ "n": 1 })).unwrap();
        s.journal(&serde_json::json!({ "n": 2 })).unwrap();
        let text = std::fs::read_to_string(s.journal_path()).unwrap();
        assert_eq!(text, "{\"n\":1}\n{\"n\":2}\n");
    }
}
