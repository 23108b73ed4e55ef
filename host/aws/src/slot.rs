//! The slots of a run's parallelism, as the providers see them: a node of
//! the engine's graph holds a slot while it works and lends it out while it
//! only waits (between polls of a resource becoming ready, between retries
//! of a call AWS is not ready for), so that ten databases taking twenty
//! minutes each to become available do not stop every other resource from
//! starting. `--parallelism` bounds the work in flight against AWS, not the
//! resources in progress.
//!
//! The engine's scheduler hands each node a [`Slot`] and runs it inside
//! [`Slot::scope`]; providers wait with [`pause`], which is a plain sleep
//! outside a scope (the drift read, the tests of a provider).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

tokio::task_local! {
    static SLOT: Slot;
}

/// One slot of a run's parallelism, held by one node.
pub struct Slot {
    slots: Arc<Semaphore>,
    held: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Slot {
    /// A slot taken from `slots` (the permit is `held`).
    pub fn new(slots: Arc<Semaphore>, held: OwnedSemaphorePermit) -> Slot {
        Slot {
            slots,
            held: Mutex::new(Some(held)),
        }
    }

    /// Run `work` holding this slot; [`pause`] inside it lends the slot out.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        SLOT.scope(self, work).await
    }

    fn lend(&self) -> Option<OwnedSemaphorePermit> {
        self.held.lock().expect("slot lock").take()
    }
}

/// Wait `duration`. Inside a node's [`Slot::scope`] the slot is free for
/// other work meanwhile, and taken again (in turn with nodes waiting to
/// start) before this returns.
pub async fn pause(duration: Duration) {
    let lent = SLOT.try_with(|slot| slot.lend().map(|permit| (permit, slot.slots.clone())));
    let Ok(Some((permit, slots))) = lent else {
        tokio::time::sleep(duration).await;
        return;
    };
    drop(permit);
    tokio::time::sleep(duration).await;
    let permit = slots.acquire_owned().await.expect("the run's slots are never closed");
    let _ = SLOT.try_with(|slot| *slot.held.lock().expect("slot lock") = Some(permit));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pause_lends_the_slot_and_takes_it_back() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let slots = Arc::new(Semaphore::new(1));
        let permit = slots.clone().acquire_owned().await.unwrap();
        let other_done = Arc::new(AtomicBool::new(false));
        Slot::new(slots.clone(), permit)
            .scope({
                let (slots, other_done) = (slots.clone(), other_done.clone());
                async move {
                    assert_eq!(slots.available_permits(), 0, "held while working");
                    // Another node starts only with the slot this one lends.
                    let other = tokio::spawn({
                        let (slots, other_done) = (slots.clone(), other_done.clone());
                        async move {
                            let p = slots.acquire_owned().await.unwrap();
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            other_done.store(true, Ordering::SeqCst);
                            drop(p);
                        }
                    });
                    pause(Duration::from_millis(5)).await;
                    assert!(
                        other_done.load(Ordering::SeqCst),
                        "the pause waited for the slot to come back"
                    );
                    assert_eq!(slots.available_permits(), 0, "held again after the pause");
                    other.await.unwrap();
                }
            })
            .await;
        assert_eq!(slots.available_permits(), 1, "given back when the node ends");
    }

    #[tokio::test]
    async fn outside_a_scope_a_pause_is_a_sleep() {
        let started = tokio::time::Instant::now();
        pause(Duration::from_millis(10)).await;
        assert!(started.elapsed() >= Duration::from_millis(10));
    }
}
