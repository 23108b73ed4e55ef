//! The CLI's one output layer for runs: it renders the engine's events
//! ([`crate::engine::Events`]) as progress on stderr (one timestamped line
//! per event, suitable for logs; on a terminal also a live last line with
//! what is running and how much is done), or as JSON lines on stdout
//! (`--json`). `--quiet` silences the progress. Terminal codes live here
//! and nowhere in the engine.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value as Json};

use crate::engine::Events;
use crate::engine::time::{clock, timestamp};

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

impl Events for Reporter {
    fn start(&self, id: &str, what: &str) {
        Reporter::start(self, id, what);
    }

    fn finish(&self, id: &str, message: &str) {
        Reporter::finish(self, id, message);
    }

    fn skip(&self) {
        Reporter::skip(self);
    }

    fn resource(&self, id: &str, what: &str, outputs: &Map<String, Json>) {
        Reporter::resource(self, id, what, outputs);
    }

    fn line(&self, message: &str) {
        Reporter::line(self, message);
    }

    fn done(&self) {
        Reporter::done(self);
    }
}
