//! What the engine reports while it works. The engine emits these events;
//! the CLI renders them (`cli::output::Reporter`: lines, a live view on a
//! terminal, or JSON), so no terminal code lives in the engine.

use serde_json::{Map, Value as Json};

pub trait Events: Send + Sync {
    /// Work on `id` started (`what`: "creating", an action, ...).
    fn start(&self, id: &str, what: &str);
    /// Work on `id` ended, with a line saying how.
    fn finish(&self, id: &str, message: &str);
    /// A node needed no work.
    fn skip(&self);
    /// A resource reached a state (`created`, `adopted`, `updated`), with its outputs.
    fn resource(&self, id: &str, what: &str, outputs: &Map<String, Json>);
    /// A line of its own.
    fn line(&self, message: &str);
    /// The run is over.
    fn done(&self);
}

/// Events that go nowhere (benchmarks, tests).
pub struct Silent;

impl Events for Silent {
    fn start(&self, _: &str, _: &str) {}
    fn finish(&self, _: &str, _: &str) {}
    fn skip(&self) {}
    fn resource(&self, _: &str, _: &str, _: &Map<String, Json>) {}
    fn line(&self, _: &str) {}
    fn done(&self) {}
}
