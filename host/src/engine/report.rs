//! Progress lines on stderr: timestamped, one per event, suitable for a
//! terminal and for logs alike. `--quiet` silences them.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value as Json};

#[derive(Debug, Clone, Copy)]
pub struct Reporter {
    pub quiet: bool,
}

/// `HH:MM:SS` (UTC).
pub fn timestamp() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{:02}:{:02}:{:02}", (secs / 3600) % 24, (secs / 60) % 60, secs % 60)
}

impl Reporter {
    pub fn line(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "[{}] {message}", timestamp());
        }
    }

    pub fn start(&self, id: &str, what: &str) {
        self.line(format!("  {id}: {what}..."));
    }

    /// A resource reached a state; shows its main id.
    pub fn resource(&self, id: &str, what: &str, outputs: &Map<String, Json>) {
        let main = ["id", "arn", "name", "identifier", "allocation_id"]
            .iter()
            .find_map(|k| outputs.get(*k).and_then(Json::as_str))
            .unwrap_or_default();
        let sign = match what {
            "created" | "adopted" => "+",
            "updated" => "~",
            _ => " ",
        };
        self.line(format!("{sign} {id} {what} {main}"));
    }
}
