//! An exclusive lock file that says who holds it, since when, for what, and
//! that a later run can recognise as stale when its holder died.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub pid: u32,
    pub host: String,
    /// Unix seconds.
    pub since: u64,
    pub command: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the state is locked by `{}` (pid {} on {}) since {} ({} ago); wait for it to finish, or if that process is gone from another machine, remove {}",
        .info.command, .info.pid, .info.host, .info.since, age(.info.since), .path.display()
    )]
    Held { path: PathBuf, info: LockInfo },
    #[error("cannot take the lock {path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "the state at {url} is locked by `{}` (lock id {}, pid {} on {}) since {} ago; its lease runs {left} more seconds and is renewed while the holder runs: wait for it to finish, or if the holder is gone, run `platform state unlock` with that lock id once the lease has expired",
        .holder.command, .holder.id, .holder.pid, .holder.host, age(.holder.since)
    )]
    Leased {
        url: String,
        holder: Box<super::remote::Lease>,
        left: u64,
    },
    #[error("cannot take the lock {url}: {message}")]
    Remote { url: String, message: String },
}

/// Held until dropped.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    /// A stale lock this one replaced, for the caller to report.
    pub replaced: Option<LockInfo>,
    /// The remote lock, when the state is remote.
    pub remote: Option<super::remote::RemoteLock>,
}

impl Lock {
    pub fn remote(lock: super::remote::RemoteLock) -> Lock {
        Lock {
            path: PathBuf::new(),
            replaced: None,
            remote: Some(lock),
        }
    }

    /// What this lock replaced, for a note to the user.
    pub fn replaced_note(&self) -> Option<String> {
        if let Some(stale) = &self.replaced {
            return Some(format!(
                "removed a stale lock of `{}` (pid {} is gone)",
                stale.command, stale.pid
            ));
        }
        let r = self.remote.as_ref()?.replaced.as_ref()?;
        Some(format!(
            "took over lock {} of `{}` (pid {} on {}), whose lease expired {} ago",
            r.id,
            r.command,
            r.pid,
            r.host,
            age(r.expires)
        ))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if self.remote.is_none() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn age(since: u64) -> String {
    let s = now().saturating_sub(since);
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// Whether a process with this pid exists on this machine.
fn alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

impl Lock {
    pub fn acquire(path: &Path, command: &str) -> Result<Lock, LockError> {
        let info = LockInfo {
            pid: std::process::id(),
            host: hostname(),
            since: now(),
            command: command.into(),
        };
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut replaced = None;
        for _ in 0..3 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut file) => {
                    file.write_all(&serde_json::to_vec(&info).expect("lock info serializes"))
                        .map_err(io)?;
                    file.sync_all().map_err(io)?;
                    return Ok(Lock {
                        path: path.to_path_buf(),
                        replaced,
                        remote: None,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(path).unwrap_or_default();
                    let Ok(holder) = serde_json::from_str::<LockInfo>(&text) else {
                        // A holder killed between create and write leaves an
                        // empty file; give a live writer a moment first.
                        std::thread::sleep(std::time::Duration::from_millis(200));
                        if std::fs::read_to_string(path).unwrap_or_default() == text {
                            let _ = std::fs::remove_file(path);
                        }
                        continue;
                    };
                    if holder.host == info.host && !alive(holder.pid) {
                        // Its process is gone: the lock is stale.
                        let _ = std::fs::remove_file(path);
                        replaced = Some(holder);
                        continue;
                    }
                    return Err(LockError::Held {
                        path: path.to_path_buf(),
                        info: holder,
                    });
                }
                Err(e) => return Err(io(e)),
            }
        }
        Err(io(std::io::Error::other("the lock file keeps reappearing")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("platform-lock-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn second_holder_is_refused_with_who_and_since() {
        let p = path("held");
        let first = Lock::acquire(&p, "up").unwrap();
        let err = Lock::acquire(&p, "down").unwrap_err().to_string();
        assert!(err.starts_with("the state is locked by `up` (pid "), "{err}");
        assert!(
            err.contains(&format!("pid {} on {}", std::process::id(), hostname())),
            "{err}"
        );
        drop(first);
        assert!(!p.exists(), "dropping the lock removes it");
        let _again = Lock::acquire(&p, "down").unwrap();
    }

    #[test]
    fn stale_lock_of_a_dead_process_is_replaced() {
        let p = path("stale");
        // pid 0 never names a user process under /proc.
        let dead = LockInfo {
            pid: u32::MAX - 1,
            host: hostname(),
            since: 1,
            command: "up".into(),
        };
        std::fs::write(&p, serde_json::to_vec(&dead).unwrap()).unwrap();
        let lock = Lock::acquire(&p, "up").unwrap();
        assert_eq!(lock.replaced, Some(dead));
    }

    #[test]
    fn lock_from_another_host_is_respected() {
        let p = path("remote");
        let other = LockInfo {
            pid: u32::MAX - 1,
            host: "elsewhere".into(),
            since: now(),
            command: "up".into(),
        };
        std::fs::write(&p, serde_json::to_vec(&other).unwrap()).unwrap();
        assert!(matches!(Lock::acquire(&p, "up"), Err(LockError::Held { .. })));
    }
}
