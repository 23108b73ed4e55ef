//! Progress on stderr: one timestamped line per event, suitable for logs;
//! on a terminal also a live last line with what is running and how much is
//! done. `--quiet` silences both.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value as Json};

#[derive(Debug, Clone)]
pub struct Reporter {
    quiet: bool,
    /// Present on a terminal.
    live: Option<Arc<Mutex<Live>>>,
    /// One JSON object per event on stdout instead (`up --json`).
    json: bool,
}

#[derive(Debug, Default)]
struct Live {
    running: BTreeSet<String>,
    done: usize,
    total: usize,
}

/// `HH:MM:SS` (UTC), for progress lines.
pub fn clock() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{:02}:{:02}:{:02}", (secs / 3600) % 24, (secs / 60) % 60, secs % 60)
}

/// Now as RFC 3339 in UTC (`2026-11-22T23:15:02Z`): what the journal, JSON
/// events and rollout records carry, so a record read days later says when.
pub fn timestamp() -> String {
    rfc3339(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// Seconds since the Unix epoch as RFC 3339 in UTC (civil date from the day
/// count, proleptic Gregorian calendar).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days since 0000-03-01, in 400-year eras of 146,097 days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

impl Reporter {
    /// `total`: how many resources and steps the run may touch.
    pub fn new(quiet: bool, total: usize) -> Reporter {
        let live = (!quiet && std::io::stderr().is_terminal()).then(|| {
            Arc::new(Mutex::new(Live {
                total,
                ..Live::default()
            }))
        });
        Reporter {
            quiet,
            live,
            json: false,
        }
    }

    pub fn quiet() -> Reporter {
        Reporter {
            quiet: true,
            live: None,
            json: false,
        }
    }

    /// Events as JSON lines on stdout: `{"at", "event", ...}`.
    pub fn json() -> Reporter {
        Reporter {
            quiet: false,
            live: None,
            json: true,
        }
    }

    /// Emit one JSON event (only in JSON mode); true if it did.
    pub fn event(&self, event: &str, mut fields: Json) -> bool {
        if !self.json {
            return false;
        }
        if let Json::Object(map) = &mut fields {
            map.insert("event".into(), event.into());
            map.insert("at".into(), timestamp().into());
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{fields}");
        let _ = out.flush();
        true
    }

    fn print(&self, line: Option<String>, update: impl FnOnce(&mut Live)) {
        if self.quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        match &self.live {
            None => {
                if let Some(line) = line {
                    let _ = writeln!(err, "[{}] {line}", clock());
                }
            }
            Some(live) => {
                let mut live = live.lock().expect("live view lock");
                update(&mut live);
                // Clear the status line, print the event, redraw the status.
                let _ = write!(err, "\r\x1b[2K");
                if let Some(line) = line {
                    let _ = writeln!(err, "[{}] {line}", clock());
                }
                let names: Vec<&str> = live.running.iter().take(3).map(String::as_str).collect();
                let more = live.running.len().saturating_sub(names.len());
                let _ = write!(
                    err,
                    "{}/{} done, {} running: {}{}",
                    live.done,
                    live.total,
                    live.running.len(),
                    names.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                );
                let _ = err.flush();
            }
        }
    }

    /// A line of its own.
    pub fn line(&self, message: impl std::fmt::Display) {
        if self.event("message", serde_json::json!({ "message": message.to_string() })) {
            return;
        }
        self.print(Some(message.to_string()), |_| {});
    }

    /// Work on `id` started.
    pub fn start(&self, id: &str, what: &str) {
        if self.event("start", serde_json::json!({ "id": id, "action": what })) {
            return;
        }
        let line = if self.live.is_some() {
            None
        } else {
            Some(format!("  {id}: {what}..."))
        };
        self.print(line, |l| {
            l.running.insert(id.to_string());
        });
    }

    /// Work on `id` ended with `message`.
    pub fn finish(&self, id: &str, message: impl std::fmt::Display) {
        if self.event(
            "finish",
            serde_json::json!({ "id": id, "message": message.to_string() }),
        ) {
            return;
        }
        self.print(Some(message.to_string()), |l| {
            if l.running.remove(id) {
                l.done += 1;
            }
        });
    }

    /// `id` needed no work: counts as done, prints nothing.
    pub fn skip(&self) {
        if self.live.is_some() {
            self.print(None, |l| l.done += 1);
        }
    }

    /// A resource reached a state; shows its main id.
    pub fn resource(&self, id: &str, what: &str, outputs: &Map<String, Json>) {
        if self.event(
            "resource",
            serde_json::json!({ "id": id, "change": what, "outputs": outputs }),
        ) {
            return;
        }
        let main = ["id", "arn", "name", "identifier", "allocation_id"]
            .iter()
            .find_map(|k| outputs.get(*k).and_then(Json::as_str))
            .unwrap_or_default();
        let sign = match what {
            "created" | "adopted" => "+",
            "updated" => "~",
            _ => " ",
        };
        self.finish(id, format!("{sign} {id} {what} {main}"));
    }

    /// Clear the live line at the end of a run.
    pub fn done(&self) {
        if let Some(_live) = &self.live {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn timestamps_carry_the_date() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_389_302), "2026-11-22T23:15:02Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
    }
}
