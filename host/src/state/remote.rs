//! Remote state: the state file, the journal and the lock as objects in a
//! store with conditional writes (S3, through `state::s3`).
//!
//! - The lock is an object created only if absent (`If-None-Match: *`),
//!   holding who took it and until when its lease runs. The holder renews
//!   the lease (`If-Match` its own ETag) every third of it; a holder that
//!   dies stops renewing, and once the lease has expired the next run takes
//!   the lock over with `If-Match` on the stale object's ETag, so of two
//!   racing runs exactly one wins.
//! - The state is written with `If-Match` on the ETag this run last read or
//!   wrote (`If-None-Match: *` when there was none): a run that lost its lock
//!   cannot overwrite the state of the run that took it over.
//! - The journal is one object per run, rewritten whole on each event.
//! - With bucket versioning on, every state write is a version that
//!   `platform state history` lists and `platform state restore` brings back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::lock::{LockError, hostname};

/// The condition of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond<'a> {
    Always,
    /// Only if the object does not exist.
    IfAbsent,
    /// Only if the object's ETag is this one.
    IfMatch(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error("the condition of the write did not hold")]
    Precondition,
    #[error("{0}")]
    Other(String),
}

/// One stored version of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub id: String,
    /// RFC 3339.
    pub modified: String,
    pub size: i64,
    pub latest: bool,
}

/// Objects by name under one location (a bucket and prefix).
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Where `name` lives, for messages (`s3://bucket/prefix/name`).
    fn url(&self, name: &str) -> String;
    /// The object's bytes and ETag, or `None` if it does not exist.
    fn get(&self, name: &str) -> Result<Option<(Vec<u8>, String)>, RemoteError>;
    /// Write, if `cond` holds; returns the new ETag.
    fn put(&self, name: &str, bytes: Vec<u8>, cond: Cond<'_>) -> Result<String, RemoteError>;
    fn delete(&self, name: &str) -> Result<(), RemoteError>;
    /// Names of the objects whose names start with `prefix`, sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, RemoteError>;
    /// The object's versions, newest first (empty without versioning).
    fn versions(&self, name: &str) -> Result<Vec<Version>, RemoteError>;
    fn get_version(&self, name: &str, id: &str) -> Result<Vec<u8>, RemoteError>;
}

/// Who holds a remote lock, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Names this holding, for `platform state unlock`.
    pub id: String,
    pub pid: u32,
    pub host: String,
    pub command: String,
    /// Unix seconds.
    pub since: u64,
    /// Unix seconds; renewed while the holder runs.
    pub expires: u64,
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The lease length: `PLATFORM_LOCK_LEASE_SECS`, default 60 s.
pub fn lease_length() -> Duration {
    Duration::from_secs(
        std::env::var("PLATFORM_LOCK_LEASE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|s: &u64| *s > 0)
            .unwrap_or(60),
    )
}

/// A held remote lock: renewed by a thread until dropped, then deleted.
#[derive(Debug)]
pub struct RemoteLock {
    pub lease: Lease,
    /// The holder this run took the lock over from (its lease had expired).
    pub replaced: Option<Lease>,
    stop: Arc<AtomicBool>,
    renewer: Option<std::thread::JoinHandle<()>>,
    etag: Arc<Mutex<String>>,
    objects: Arc<dyn ObjectStore>,
    name: String,
    lost: Arc<AtomicBool>,
}

impl RemoteLock {
    /// Take the lock object `name` for `command`.
    pub fn acquire(
        objects: Arc<dyn ObjectStore>,
        name: &str,
        command: &str,
        lost: Arc<AtomicBool>,
    ) -> Result<RemoteLock, LockError> {
        let length = lease_length();
        let since = now();
        let lease = Lease {
            id: format!("{:x}-{:x}", since, std::process::id() as u64 ^ (since << 20)),
            pid: std::process::id(),
            host: hostname(),
            command: command.into(),
            since,
            expires: since + length.as_secs(),
        };
        let body = serde_json::to_vec(&lease).expect("lease serializes");
        let remote = |e: RemoteError| LockError::Remote {
            url: objects.url(name),
            message: e.to_string(),
        };
        let mut replaced = None;
        let etag = match objects.put(name, body.clone(), Cond::IfAbsent) {
            Ok(etag) => etag,
            Err(RemoteError::Precondition) => {
                let Some((bytes, held_etag)) = objects.get(name).map_err(remote)? else {
                    // Released in between: try once more.
                    return RemoteLock::acquire(objects.clone(), name, command, lost);
                };
                let holder: Lease = serde_json::from_slice(&bytes).map_err(|e| LockError::Remote {
                    url: objects.url(name),
                    message: format!("the lock object is not a platform lock: {e}"),
                })?;
                if holder.expires > now() {
                    return Err(LockError::Leased {
                        url: objects.url(name),
                        left: holder.expires - now(),
                        holder: Box::new(holder),
                    });
                }
                // Expired: take it over, unless another run just did.
                match objects.put(name, body, Cond::IfMatch(&held_etag)) {
                    Ok(etag) => {
                        replaced = Some(holder);
                        etag
                    }
                    Err(RemoteError::Precondition) => {
                        let holder = objects
                            .get(name)
                            .ok()
                            .flatten()
                            .and_then(|(b, _)| serde_json::from_slice::<Lease>(&b).ok())
                            .unwrap_or(holder);
                        return Err(LockError::Leased {
                            url: objects.url(name),
                            left: holder.expires.saturating_sub(now()),
                            holder: Box::new(holder),
                        });
                    }
                    Err(e) => return Err(remote(e)),
                }
            }
            Err(e) => return Err(remote(e)),
        };
        // Test hook (only with the `test-hooks` feature): hold the fresh
        // lock a while, so races can be staged.
        #[cfg(feature = "test-hooks")]
        if let Some(ms) = std::env::var("PLATFORM_LOCK_HOLD_MS").ok().and_then(|v| v.parse().ok()) {
            std::thread::sleep(Duration::from_millis(ms));
        }
        let etag = Arc::new(Mutex::new(etag));
        let stop = Arc::new(AtomicBool::new(false));
        let renewer = {
            let (objects, name, etag, stop, lost, mut lease) = (
                objects.clone(),
                name.to_string(),
                etag.clone(),
                stop.clone(),
                lost.clone(),
                lease.clone(),
            );
            std::thread::spawn(move || {
                let every = (length / 3).max(Duration::from_millis(200));
                loop {
                    let mut waited = Duration::ZERO;
                    while waited < every {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                        waited += Duration::from_millis(50);
                    }
                    lease.expires = now() + length.as_secs();
                    let body = serde_json::to_vec(&lease).expect("lease serializes");
                    let current = etag.lock().expect("etag lock").clone();
                    match objects.put(&name, body, Cond::IfMatch(&current)) {
                        Ok(new) => *etag.lock().expect("etag lock") = new,
                        Err(RemoteError::Precondition) => {
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        // A transient error: the lease still has two thirds left.
                        Err(RemoteError::Other(_)) => {}
                    }
                }
            })
        };
        Ok(RemoteLock {
            lease,
            replaced,
            stop,
            renewer: Some(renewer),
            etag,
            objects,
            name: name.to_string(),
            lost,
        })
    }
}

impl Drop for RemoteLock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.renewer.take() {
            let _ = t.join();
        }
        if self.lost.load(Ordering::SeqCst) {
            return;
        }
        // Delete it only if it is still ours.
        let ours = self.etag.lock().map(|e| e.clone()).unwrap_or_default();
        if let Ok(Some((_, etag))) = self.objects.get(&self.name)
            && etag == ours
        {
            let _ = self.objects.delete(&self.name);
        }
    }
}

/// Why `platform state unlock` removed nothing.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    #[error(transparent)]
    Store(#[from] RemoteError),
    #[error("{url} is not locked")]
    NotLocked { url: String },
    #[error("the lock object is not a platform lock")]
    NotALock(#[source] serde_json::Error),
    #[error("the lock at {url} has id {found}, not {asked}; nothing was removed")]
    OtherHolder { url: String, found: String, asked: String },
    #[error(
        "refusing: the lease of lock {} (`{}`, pid {} on {}) is live for {seconds} more seconds and is renewed while its holder runs; if the holder is gone, run this again once the lease has expired",
        holder.id, holder.command, holder.pid, holder.host
    )]
    Live { holder: Lease, seconds: u64 },
}

/// `platform state unlock`: remove the lock `id` once its lease has expired.
pub fn unlock(objects: &dyn ObjectStore, name: &str, id: &str) -> Result<Lease, UnlockError> {
    let Some((bytes, _)) = objects.get(name)? else {
        return Err(UnlockError::NotLocked { url: objects.url(name) });
    };
    let holder: Lease = serde_json::from_slice(&bytes).map_err(UnlockError::NotALock)?;
    if holder.id != id {
        return Err(UnlockError::OtherHolder {
            url: objects.url(name),
            found: holder.id,
            asked: id.to_string(),
        });
    }
    let now = now();
    if holder.expires > now {
        let seconds = holder.expires - now;
        return Err(UnlockError::Live { holder, seconds });
    }
    objects.delete(name)?;
    Ok(holder)
}

#[cfg(test)]
pub mod fake {
    //! An in-memory object store with S3's conditional-write semantics.
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Default)]
    pub struct Memory {
        objects: Mutex<BTreeMap<String, (Vec<u8>, String)>>,
        counter: std::sync::atomic::AtomicU64,
    }

    impl ObjectStore for Memory {
        fn url(&self, name: &str) -> String {
            format!("mem://{name}")
        }
        fn get(&self, name: &str) -> Result<Option<(Vec<u8>, String)>, RemoteError> {
            Ok(self.objects.lock().unwrap().get(name).cloned())
        }
        fn put(&self, name: &str, bytes: Vec<u8>, cond: Cond<'_>) -> Result<String, RemoteError> {
            let mut objects = self.objects.lock().unwrap();
            let current = objects.get(name).map(|(_, e)| e.clone());
            let ok = match cond {
                Cond::Always => true,
                Cond::IfAbsent => current.is_none(),
                Cond::IfMatch(e) => current.as_deref() == Some(e),
            };
            if !ok {
                return Err(RemoteError::Precondition);
            }
            let etag = format!("e{}", self.counter.fetch_add(1, Ordering::SeqCst));
            objects.insert(name.into(), (bytes, etag.clone()));
            Ok(etag)
        }
        fn delete(&self, name: &str) -> Result<(), RemoteError> {
            self.objects.lock().unwrap().remove(name);
            Ok(())
        }
        fn list(&self, prefix: &str) -> Result<Vec<String>, RemoteError> {
            Ok(self
                .objects
                .lock()
                .unwrap()
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect())
        }
        fn versions(&self, _: &str) -> Result<Vec<Version>, RemoteError> {
            Ok(Vec::new())
        }
        fn get_version(&self, _: &str, _: &str) -> Result<Vec<u8>, RemoteError> {
            Err(RemoteError::Other("no versions".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::Memory;
    use super::*;

    fn lost() -> Arc<AtomicBool> {
        Arc::new(AtomicBool::new(false))
    }

    #[test]
    fn one_holder_at_a_time_and_release_on_drop() {
        let store: Arc<dyn ObjectStore> = Arc::new(Memory::default());
        let first = RemoteLock::acquire(store.clone(), "x.lock", "up", lost()).unwrap();
        match RemoteLock::acquire(store.clone(), "x.lock", "down", lost()) {
            Err(LockError::Leased { holder, left, .. }) => {
                assert_eq!(holder.id, first.lease.id);
                assert_eq!(holder.command, "up");
                assert!(left > 0);
            }
            other => panic!("expected a held lease, got {other:?}"),
        }
        let err = unlock(store.as_ref(), "x.lock", &first.lease.id)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is live for"), "{err}");
        drop(first);
        assert_eq!(store.get("x.lock").unwrap(), None);
        RemoteLock::acquire(store.clone(), "x.lock", "down", lost()).unwrap();
    }

    #[test]
    fn an_expired_lease_is_taken_over_once() {
        let store: Arc<dyn ObjectStore> = Arc::new(Memory::default());
        let dead = Lease {
            id: "dead".into(),
            pid: 1,
            host: "gone".into(),
            command: "up".into(),
            since: 1,
            expires: 2,
        };
        let etag = store
            .put("x.lock", serde_json::to_vec(&dead).unwrap(), Cond::IfAbsent)
            .unwrap();
        let err = unlock(store.as_ref(), "x.lock", "other").unwrap_err().to_string();
        assert!(err.contains("has id dead"), "{err}");
        let taker = RemoteLock::acquire(store.clone(), "x.lock", "up", lost()).unwrap();
        assert_eq!(taker.replaced.as_ref().map(|l| l.id.as_str()), Some("dead"));
        // A second taker that read the same stale object loses the race.
        assert_eq!(
            store.put("x.lock", b"{}".to_vec(), Cond::IfMatch(&etag)),
            Err(RemoteError::Precondition)
        );
    }
}
