//! Run a dependency graph with bounded parallelism: each node starts as soon
//! as its dependencies are done and a slot is free, the longest remaining
//! chain first; a node that only waits on AWS lends its slot out
//! (`platform_aws::slot`); after a failure nothing new starts, work in
//! flight finishes, and every outcome is reported.
//!
//! Architecture invariant: the scheduler knows ids and edges, never what a
//! node does.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::sync::Arc;

use platform_aws::slot::Slot;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How a run of the graph ended for each node.
#[derive(Debug)]
pub struct Outcome<E> {
    /// Finished nodes, in completion order.
    pub done: Vec<String>,
    /// Failed nodes with their errors.
    pub failed: Vec<(String, E)>,
    /// Nodes never started because something failed first.
    pub skipped: Vec<String>,
}

/// Run `work` on every node of `nodes` (with `deps[node]` finishing first),
/// at most `parallelism` working at a time (a node in `slot::pause` is not
/// working).
pub async fn run<E, F, Fut>(
    nodes: &[String],
    deps: &HashMap<String, Vec<String>>,
    parallelism: usize,
    work: F,
) -> Outcome<E>
where
    E: Send + 'static,
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
{
    let index: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let mut remaining = vec![0usize; nodes.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for d in deps.get(n).map(Vec::as_slice).unwrap_or_default() {
            if let Some(&di) = index.get(d.as_str()) {
                remaining[i] += 1;
                dependents[di].push(i);
            }
        }
    }
    // Of the nodes ready at once, start those with the longest chain of
    // dependents after them first (ties in the given order): with more
    // ready nodes than slots, the critical path must not queue behind
    // nodes nothing waits for.
    let height = chain_lengths(&remaining, &dependents);
    let mut ready: BinaryHeap<(usize, Reverse<usize>)> = (0..nodes.len())
        .filter(|&i| remaining[i] == 0)
        .map(|i| (height[i], Reverse(i)))
        .collect();
    let mut tasks: JoinSet<(usize, Result<(), E>)> = JoinSet::new();
    let mut outcome = Outcome {
        done: Vec::new(),
        failed: Vec::new(),
        skipped: Vec::new(),
    };
    let mut finished = vec![false; nodes.len()];
    let mut started = 0;
    // A node holds a slot while it works; a provider waiting on AWS lends
    // it out (`slot::pause`), and another ready node starts in it.
    let slots = Arc::new(Semaphore::new(parallelism.max(1)));
    let mut start = |i: usize, permit, tasks: &mut JoinSet<_>| {
        started += 1;
        let fut = Slot::new(slots.clone(), permit).scope(work(nodes[i].clone()));
        tasks.spawn(async move { (i, fut.await) });
    };
    loop {
        while outcome.failed.is_empty() && !ready.is_empty() {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break;
            };
            let Some((_, Reverse(i))) = ready.pop() else { break };
            start(i, permit, &mut tasks);
        }
        if tasks.is_empty() {
            break;
        }
        let more = outcome.failed.is_empty() && !ready.is_empty();
        let joined = tokio::select! {
            biased;
            joined = tasks.join_next() => joined,
            permit = slots.clone().acquire_owned(), if more => {
                let permit = permit.expect("the run's slots are never closed");
                let Some((_, Reverse(i))) = ready.pop() else { continue };
                start(i, permit, &mut tasks);
                continue;
            }
        };
        let Some(joined) = joined else { break };
        let (i, result) = joined.expect("scheduled work does not panic");
        finished[i] = true;
        match result {
            Ok(()) => {
                for &dependent in &dependents[i] {
                    remaining[dependent] -= 1;
                    if remaining[dependent] == 0 {
                        ready.push((height[dependent], Reverse(dependent)));
                    }
                }
                outcome.done.push(nodes[i].clone());
            }
            Err(e) => outcome.failed.push((nodes[i].clone(), e)),
        }
    }
    if started < nodes.len() {
        outcome.skipped = nodes
            .iter()
            .zip(&finished)
            .filter(|(_, f)| !**f)
            .map(|(n, _)| n.clone())
            .collect();
    }
    outcome
}

/// For each node, the number of nodes on the longest chain that starts at
/// it and follows dependents (1 for a node nothing waits for). Nodes on a
/// cycle (which a plan never has) count 1.
fn chain_lengths(remaining: &[usize], dependents: &[Vec<usize>]) -> Vec<usize> {
    let mut left = remaining.to_vec();
    let mut order: Vec<usize> = (0..left.len()).filter(|&i| left[i] == 0).collect();
    let mut k = 0;
    while k < order.len() {
        for &d in &dependents[order[k]] {
            left[d] -= 1;
            if left[d] == 0 {
                order.push(d);
            }
        }
        k += 1;
    }
    let mut height = vec![1usize; left.len()];
    for &i in order.iter().rev() {
        height[i] = 1 + dependents[i].iter().map(|&d| height[d]).max().unwrap_or(0);
    }
    height
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    fn graph(spec: &[(&str, &[&str])]) -> (Vec<String>, HashMap<String, Vec<String>>) {
        let nodes = spec.iter().map(|(n, _)| n.to_string()).collect();
        let deps = spec
            .iter()
            .map(|(n, d)| (n.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect();
        (nodes, deps)
    }

    #[tokio::test]
    async fn dependencies_finish_first_and_parallelism_is_bounded() {
        let (nodes, deps) = graph(&[
            ("vpc", &[]),
            ("a", &["vpc"]),
            ("b", &["vpc"]),
            ("c", &["vpc"]),
            ("d", &["a", "b", "c"]),
        ]);
        let log = Arc::new(Mutex::new(Vec::new()));
        let live = Arc::new(Mutex::new((0usize, 0usize)));
        let outcome = run::<(), _, _>(&nodes, &deps, 2, |id| {
            let (log, live) = (log.clone(), live.clone());
            async move {
                {
                    let mut l = live.lock().unwrap();
                    l.0 += 1;
                    l.1 = l.1.max(l.0);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                live.lock().unwrap().0 -= 1;
                log.lock().unwrap().push(id);
                Ok(())
            }
        })
        .await;
        assert_eq!(outcome.done.len(), 5);
        let log = log.lock().unwrap();
        assert_eq!(log.first().map(String::as_str), Some("vpc"));
        assert_eq!(log.last().map(String::as_str), Some("d"));
        assert_eq!(
            live.lock().unwrap().1,
            2,
            "at most two at once, and two did run together"
        );
    }

    #[tokio::test]
    async fn a_failure_stops_new_work_but_lets_running_work_finish() {
        let (nodes, deps) = graph(&[
            ("bad", &[]),
            ("slow", &[]),
            ("after-bad", &["bad"]),
            ("after-slow", &["slow"]),
        ]);
        let outcome = run(&nodes, &deps, 4, |id| async move {
            match id.as_str() {
                "bad" => Err("boom"),
                "slow" => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(())
                }
                _ => Ok(()),
            }
        })
        .await;
        assert_eq!(outcome.failed, vec![("bad".to_string(), "boom")]);
        assert_eq!(outcome.done, vec!["slow".to_string()]);
        let mut skipped = outcome.skipped.clone();
        skipped.sort();
        assert_eq!(skipped, vec!["after-bad".to_string(), "after-slow".to_string()]);
    }

    #[tokio::test]
    async fn a_node_waiting_on_aws_lends_its_slot_to_the_next_ready_node() {
        let (nodes, deps) = graph(&[("slow-db", &[]), ("bucket", &[]), ("after-db", &["slow-db"])]);
        let log = Arc::new(Mutex::new(Vec::new()));
        let outcome = run::<(), _, _>(&nodes, &deps, 1, |id| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(format!("start {id}"));
                if id == "slow-db" {
                    platform_aws::slot::pause(Duration::from_millis(50)).await;
                }
                log.lock().unwrap().push(format!("end {id}"));
                Ok(())
            }
        })
        .await;
        assert_eq!(outcome.done.len(), 3);
        assert_eq!(
            *log.lock().unwrap(),
            [
                "start slow-db",
                "start bucket",
                "end bucket",
                "end slow-db",
                "start after-db",
                "end after-db"
            ],
            "the bucket ran while the database waited, with one slot"
        );
    }

    #[tokio::test]
    async fn with_more_ready_nodes_than_slots_the_longest_chain_starts_first() {
        // Three leaves nothing waits for come first in the given order; the
        // chain a -> b -> c must not wait behind them.
        let (nodes, deps) = graph(&[
            ("leaf-1", &[]),
            ("leaf-2", &[]),
            ("leaf-3", &[]),
            ("a", &[]),
            ("b", &["a"]),
            ("c", &["b"]),
        ]);
        let log = Arc::new(Mutex::new(Vec::new()));
        let outcome = run::<(), _, _>(&nodes, &deps, 1, |id| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(id);
                Ok(())
            }
        })
        .await;
        assert_eq!(outcome.done.len(), 6);
        // Once b is done, c is a chain of one like the leaves: the given order.
        assert_eq!(*log.lock().unwrap(), ["a", "b", "leaf-1", "leaf-2", "leaf-3", "c"]);
        assert_eq!(
            chain_lengths(&[0, 0, 0, 0, 1, 1], &[vec![], vec![], vec![], vec![4], vec![5], vec![]]),
            [1, 1, 1, 3, 2, 1]
        );
    }
}
