//! What the engine needs from a cloud: the one interface between the
//! resource state machine and the calls that change things. [`Aws`]
//! implements it through the registry of resource types; the engine's unit
//! tests implement it with a scripted fake, so every decision and failure
//! point is tested in milliseconds without an emulator.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde_json::Value as Json;

use crate::providers::read::Live;
use crate::providers::rollout::{self as prim, Begun, Slots};
use crate::providers::{Aws, Outputs, Props, ProviderError, Request, actions, read};

pub type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T, ProviderError>> + Send + 'a>>;

pub trait Provider: Send + Sync {
    /// Whether the change from `old` to `new` properties of a `kind` is made
    /// in place (otherwise the resource is replaced).
    fn in_place(&self, kind: &str, old: &Json, new: &Json) -> bool;
    /// The properties of a `kind` that AWS requires unique: a replacement
    /// that keeps them deletes first (see `ResourceType::UNIQUE`).
    fn unique(&self, kind: &str) -> &'static [&'static str];
    /// Check resolved properties against the type before any intent is
    /// recorded or anything deleted (a reference that resolved to the wrong
    /// kind of value fails here, not after a replacement's delete).
    fn check(&self, kind: &str, id: &str, props: &Json) -> Result<(), ProviderError>;
    fn create<'a>(&'a self, r: &'a Request<'a>) -> Fut<'a, Outputs>;
    /// Find what an interrupted create may have left; `None`: nothing.
    fn find<'a>(&'a self, r: &'a Request<'a>) -> Fut<'a, Option<Outputs>>;
    fn update<'a>(&'a self, r: &'a Request<'a>, old: &'a Json, outputs: &'a Outputs) -> Fut<'a, Outputs>;
    /// Delete; already gone counts as deleted.
    fn delete<'a>(&'a self, kind: &'a str, region: &'a str, outputs: &'a Json, props: &'a Json) -> Fut<'a, ()>;
    /// Read a resource back for drift.
    fn read<'a>(&'a self, kind: &'a str, region: &'a str, outputs: &'a Json) -> Fut<'a, Live>;
    /// Run an apply or verify step's action; a line saying what it did.
    fn step<'a>(&'a self, action: &'a str, region: &'a str, params: &'a Json, timeout: Duration) -> Fut<'a, String>;

    // Rollouts: the blue/green primitives (see providers::rollout).
    fn rollout_begin<'a>(&'a self, region: &'a str, params: &'a Props<'a>, resume: Option<Slots>) -> Fut<'a, Begun>;
    fn rollout_shift<'a>(&'a self, region: &'a str, slots: &'a Slots, green_percent: u32) -> Fut<'a, String>;
    fn rollout_bake<'a>(
        &'a self,
        region: &'a str,
        slots: &'a Slots,
        params: &'a Props<'a>,
        seconds: u64,
        stop: &'a AtomicBool,
    ) -> Fut<'a, String>;
    fn rollout_finish<'a>(
        &'a self,
        region: &'a str,
        slots: &'a Slots,
        drain: Duration,
        deregister: bool,
    ) -> Fut<'a, String>;
    fn rollout_rollback<'a>(&'a self, region: &'a str, slots: &'a Slots) -> Fut<'a, String>;
}

impl Provider for Aws {
    fn in_place(&self, kind: &str, old: &Json, new: &Json) -> bool {
        Aws::updates_in_place(kind, old, new)
    }

    fn unique(&self, kind: &str) -> &'static [&'static str] {
        Aws::unique(kind)
    }

    fn check(&self, kind: &str, id: &str, props: &Json) -> Result<(), ProviderError> {
        match crate::providers::registry::registry().get(kind) {
            Some(k) => k
                .check_json(props)
                .map_err(|e| ProviderError::property(kind, format!("{kind} of {id}: {e}"))),
            None => Ok(()),
        }
    }

    fn create<'a>(&'a self, r: &'a Request<'a>) -> Fut<'a, Outputs> {
        Box::pin(Aws::create(self, r))
    }

    fn find<'a>(&'a self, r: &'a Request<'a>) -> Fut<'a, Option<Outputs>> {
        Box::pin(Aws::find(self, r))
    }

    fn update<'a>(&'a self, r: &'a Request<'a>, old: &'a Json, outputs: &'a Outputs) -> Fut<'a, Outputs> {
        Box::pin(Aws::update(self, r, old, outputs))
    }

    fn delete<'a>(&'a self, kind: &'a str, region: &'a str, outputs: &'a Json, props: &'a Json) -> Fut<'a, ()> {
        Box::pin(Aws::delete(self, kind, region, outputs, props))
    }

    fn read<'a>(&'a self, kind: &'a str, region: &'a str, outputs: &'a Json) -> Fut<'a, Live> {
        Box::pin(read::read(self, kind, region, outputs))
    }

    fn step<'a>(&'a self, action: &'a str, region: &'a str, params: &'a Json, timeout: Duration) -> Fut<'a, String> {
        Box::pin(actions::run(self, action, region, params, timeout))
    }

    fn rollout_begin<'a>(&'a self, region: &'a str, params: &'a Props<'a>, resume: Option<Slots>) -> Fut<'a, Begun> {
        Box::pin(prim::begin(self, region, params, resume))
    }

    fn rollout_shift<'a>(&'a self, region: &'a str, slots: &'a Slots, green_percent: u32) -> Fut<'a, String> {
        Box::pin(prim::shift(self, region, slots, green_percent))
    }

    fn rollout_bake<'a>(
        &'a self,
        region: &'a str,
        slots: &'a Slots,
        params: &'a Props<'a>,
        seconds: u64,
        stop: &'a AtomicBool,
    ) -> Fut<'a, String> {
        Box::pin(prim::bake(self, region, slots, params, seconds, stop))
    }

    fn rollout_finish<'a>(
        &'a self,
        region: &'a str,
        slots: &'a Slots,
        drain: Duration,
        deregister: bool,
    ) -> Fut<'a, String> {
        Box::pin(prim::finish(self, region, slots, drain, deregister))
    }

    fn rollout_rollback<'a>(&'a self, region: &'a str, slots: &'a Slots) -> Fut<'a, String> {
        Box::pin(prim::rollback(self, region, slots))
    }
}
