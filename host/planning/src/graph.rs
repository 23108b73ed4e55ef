//! Dependency graphs: ordering into parallel waves and finding cycles.
//!
//! Architecture invariant: this module knows nodes and edges only, never a
//! resource type, a plugin or AWS.

/// A directed graph where an edge `a -> b` means "a needs b first".
#[derive(Debug, Clone, Default)]
pub struct Graph {
    names: Vec<String>,
    deps: Vec<Vec<usize>>,
}

/// A dependency cycle, as node names from a node back to itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle(pub Vec<String>);

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" -> "))
    }
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    pub fn add_node(&mut self, name: impl Into<String>) -> usize {
        self.names.push(name.into());
        self.deps.push(Vec::new());
        self.names.len() - 1
    }

    /// `node` needs `dep` first. Duplicate edges are ignored.
    pub fn add_edge(&mut self, node: usize, dep: usize) {
        if !self.deps[node].contains(&dep) {
            self.deps[node].push(dep);
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn name(&self, node: usize) -> &str {
        &self.names[node]
    }

    pub fn deps(&self, node: usize) -> &[usize] {
        &self.deps[node]
    }

    /// Group nodes into waves: every node's dependencies are in earlier
    /// waves, and each node sits in the earliest wave it can (its longest
    /// chain of dependencies). Nodes keep insertion order within a wave.
    pub fn waves(&self) -> Result<Vec<Vec<usize>>, Cycle> {
        let n = self.len();
        let mut remaining: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (node, deps) in self.deps.iter().enumerate() {
            for &d in deps {
                dependents[d].push(node);
            }
        }
        let mut level = vec![0usize; n];
        let mut current: Vec<usize> = (0..n).filter(|&i| remaining[i] == 0).collect();
        let mut waves = Vec::new();
        let mut placed = 0;
        while !current.is_empty() {
            placed += current.len();
            let mut next = Vec::new();
            for &node in &current {
                for &dependent in &dependents[node] {
                    level[dependent] = level[dependent].max(level[node] + 1);
                    remaining[dependent] -= 1;
                    if remaining[dependent] == 0 {
                        next.push(dependent);
                    }
                }
            }
            current.sort_unstable();
            waves.push(std::mem::take(&mut current));
            next.sort_unstable();
            current = next;
        }
        if placed < n {
            return Err(self.find_cycle(&remaining));
        }
        Ok(waves)
    }

    /// A cycle among the nodes left unplaced (`remaining > 0`).
    fn find_cycle(&self, remaining: &[usize]) -> Cycle {
        // Every unplaced node has an unplaced dependency, so walking unplaced
        // dependencies must revisit a node; the walk from there is the cycle.
        let start = remaining
            .iter()
            .position(|&r| r > 0)
            .expect("a cycle leaves nodes unplaced");
        let mut seen_at = vec![usize::MAX; self.len()];
        let mut path = Vec::new();
        let mut node = start;
        while seen_at[node] == usize::MAX {
            seen_at[node] = path.len();
            path.push(node);
            node = *self.deps[node]
                .iter()
                .filter(|&&d| remaining[d] > 0)
                .min()
                .expect("an unplaced node has an unplaced dependency");
        }
        let mut cycle: Vec<String> = path[seen_at[node]..].iter().map(|&i| self.names[i].clone()).collect();
        cycle.push(self.names[node].clone());
        Cycle(cycle)
    }

    /// The longest chain of dependencies, in nodes (the critical path).
    pub fn critical_path(&self, waves: &[Vec<usize>]) -> Vec<usize> {
        let n = self.len();
        let mut best = vec![(1usize, usize::MAX); n];
        for wave in waves {
            for &node in wave {
                for &d in &self.deps[node] {
                    if best[d].0 + 1 > best[node].0 {
                        best[node] = (best[d].0 + 1, d);
                    }
                }
            }
        }
        let Some(mut node) = (0..n).max_by_key(|&i| (best[i].0, std::cmp::Reverse(i))) else {
            return Vec::new();
        };
        let mut chain = vec![node];
        while best[node].1 != usize::MAX {
            node = best[node].1;
            chain.push(node);
        }
        chain.reverse();
        chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a graph from "a: b c" lines (a needs b and c) and show its waves
    /// or its cycle.
    fn check(spec: &str, expect: expect_test::Expect) {
        let mut g = Graph::new();
        let mut index = std::collections::HashMap::new();
        let mut id = |g: &mut Graph, name: &str| *index.entry(name.to_string()).or_insert_with(|| g.add_node(name));
        for line in spec.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (node, deps) = line.split_once(':').unwrap_or((line, ""));
            let n = id(&mut g, node.trim());
            for d in deps.split_whitespace() {
                let d = id(&mut g, d);
                g.add_edge(n, d);
            }
        }
        let out = match g.waves() {
            Ok(waves) => {
                let mut s: Vec<String> = waves
                    .iter()
                    .map(|w| w.iter().map(|&i| g.name(i)).collect::<Vec<_>>().join(" "))
                    .collect();
                let path: Vec<&str> = g.critical_path(&waves).iter().map(|&i| g.name(i)).collect();
                s.push(format!("critical: {}", path.join(" > ")));
                s.join("\n")
            }
            Err(cycle) => format!("cycle: {cycle}"),
        };
        expect.assert_eq(&out);
    }

    #[test]
    fn independent_nodes_share_one_wave() {
        check(
            "a\nb\nc",
            expect_test::expect![[r#"
            a b c
            critical: a"#]],
        );
    }

    #[test]
    fn chains_and_diamonds() {
        check(
            "vpc
             subnet: vpc
             sg: vpc
             alb: subnet sg
             service: alb subnet
             log",
            expect_test::expect![[r#"
                vpc log
                subnet sg
                alb
                service
                critical: vpc > subnet > alb > service"#]],
        );
    }

    #[test]
    fn a_node_waits_for_its_slowest_dependency() {
        check(
            "a\nb: a\nc: b\nd: a c",
            expect_test::expect![[r#"
            a
            b
            c
            d
            critical: a > b > c > d"#]],
        );
    }

    #[test]
    fn cycles_are_printed_as_a_loop() {
        check("a: b\nb: c\nc: a\nd", expect_test::expect!["cycle: a -> b -> c -> a"]);
        check("x\na: a", expect_test::expect!["cycle: a -> a"]);
        check("root: a\na: b\nb: a", expect_test::expect!["cycle: a -> b -> a"]);
    }

    #[test]
    fn empty_graph() {
        check("", expect_test::expect!["critical: "]);
    }
}
