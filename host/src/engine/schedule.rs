//! Run a dependency graph with bounded parallelism: each node starts as soon
//! as its dependencies are done; after a failure nothing new starts, work in
//! flight finishes, and every outcome is reported.
//!
//! Architecture invariant: the scheduler knows ids and edges, never what a
//! node does.

use std::collections::{HashMap, VecDeque};
use std::future::Future;

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
/// at most `parallelism` at a time.
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
    let mut remaining: HashMap<&str, usize> = HashMap::new();
    let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
    for n in nodes {
        let ds: Vec<&String> = deps
            .get(n)
            .map(|d| d.iter().filter(|d| nodes.contains(d)).collect())
            .unwrap_or_default();
        remaining.insert(n, ds.len());
        for d in ds {
            dependents.entry(d.as_str()).or_default().push(n);
        }
    }
    let mut ready: VecDeque<&str> = nodes.iter().map(String::as_str).filter(|n| remaining[n] == 0).collect();
    let mut tasks: JoinSet<(String, Result<(), E>)> = JoinSet::new();
    let mut outcome = Outcome {
        done: Vec::new(),
        failed: Vec::new(),
        skipped: Vec::new(),
    };
    let mut started = 0;
    loop {
        while outcome.failed.is_empty() && tasks.len() < parallelism.max(1) {
            let Some(node) = ready.pop_front() else { break };
            started += 1;
            let id = node.to_string();
            let fut = work(id.clone());
            tasks.spawn(async move { (id, fut.await) });
        }
        let Some(joined) = tasks.join_next().await else { break };
        let (id, result) = joined.expect("scheduled work does not panic");
        match result {
            Ok(()) => {
                for &dependent in dependents.get(id.as_str()).map(Vec::as_slice).unwrap_or_default() {
                    let r = remaining.get_mut(dependent).expect("known node");
                    *r -= 1;
                    if *r == 0 {
                        ready.push_back(dependent);
                    }
                }
                outcome.done.push(id);
            }
            Err(e) => outcome.failed.push((id, e)),
        }
    }
    if started < nodes.len() {
        let finished: Vec<&String> = outcome
            .done
            .iter()
            .chain(outcome.failed.iter().map(|(id, _)| id))
            .collect();
        outcome.skipped = nodes.iter().filter(|n| !finished.contains(n)).cloned().collect();
    }
    outcome
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
}
