//! The value trees of the plugin contract, decoded once, the same way, by
//! the host and by the plugin SDK.
//!
//! WIT types cannot be recursive, so a value crosses the boundary as a flat
//! list of `node`s whose children are indices into the list (see `node` in
//! `wit/plugin.wit`). The other side may be hostile or broken, so decoding
//! checks that the list is a tree: every child index points forward and
//! inside the list, every node is used exactly once (so a shared subtree
//! cannot blow up in size), nesting stays under [`MAX_DEPTH`], numbers are
//! finite and no object repeats a key.
//!
//! Each side's bindings generate their own `node` type; they implement
//! [`Node`] to show it here, and their value type implements [`Build`].

use std::collections::HashSet;
use std::fmt;

/// Deepest nesting accepted; deeper trees are refused.
pub const MAX_DEPTH: usize = 64;

/// One node, as the decoder sees it.
#[derive(Debug, Clone, Copy)]
pub enum View<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Text(&'a str),
    Array(&'a [u32]),
    Object(&'a [(String, u32)]),
    Ref { resource: &'a str, attribute: &'a str },
    Concat(&'a [u32]),
}

/// A bindings' `node` type.
pub trait Node {
    fn view(&self) -> View<'_>;
}

/// A value type the decoder builds.
pub trait Build: Sized {
    fn null() -> Self;
    fn bool(b: bool) -> Self;
    fn int(i: i64) -> Self;
    fn num(n: f64) -> Self;
    fn text(s: &str) -> Self;
    fn array(items: Vec<Self>) -> Self;
    fn object(entries: Vec<(String, Self)>) -> Self;
    fn reference(resource: &str, attribute: &str) -> Self;
    fn concat(parts: Vec<Self>) -> Self;
}

/// A list of nodes that is not a well-formed tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeError(String);

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TreeError {}

/// Decode a tree; an empty list is null.
pub fn decode<N: Node, V: Build>(nodes: &[N]) -> Result<V, TreeError> {
    if nodes.is_empty() {
        return Ok(V::null());
    }
    let mut used = vec![false; nodes.len()];
    used[0] = true;
    let value = decode_at(nodes, 0, &mut used, 0)?;
    if let Some(unused) = used.iter().position(|u| !u) {
        return Err(TreeError(format!(
            "malformed value tree: node {unused} is not reachable from the root"
        )));
    }
    Ok(value)
}

fn decode_at<N: Node, V: Build>(nodes: &[N], at: usize, used: &mut [bool], depth: usize) -> Result<V, TreeError> {
    if depth > MAX_DEPTH {
        return Err(TreeError(format!("value tree nested deeper than {MAX_DEPTH} levels")));
    }
    let mut child = |i: u32| -> Result<V, TreeError> {
        let i = i as usize;
        if i <= at || i >= nodes.len() {
            return Err(TreeError(format!(
                "malformed value tree: node {at} points at node {i} (of {})",
                nodes.len()
            )));
        }
        if std::mem::replace(&mut used[i], true) {
            return Err(TreeError(format!("malformed value tree: node {i} is used twice")));
        }
        decode_at(nodes, i, used, depth + 1)
    };
    Ok(match nodes[at].view() {
        View::Null => V::null(),
        View::Bool(b) => V::bool(b),
        View::Int(i) => V::int(i),
        View::Num(n) if n.is_finite() => V::num(n),
        View::Num(n) => return Err(TreeError(format!("value tree holds the non-finite number {n}"))),
        View::Text(s) => V::text(s),
        View::Array(items) => V::array(items.iter().map(|&i| child(i)).collect::<Result<_, _>>()?),
        View::Object(entries) => {
            let mut seen: HashSet<&str> = HashSet::with_capacity(entries.len());
            let mut out = Vec::with_capacity(entries.len());
            for (k, i) in entries {
                if !seen.insert(k.as_str()) {
                    return Err(TreeError(format!(
                        "malformed value tree: key `{}` appears twice in one object",
                        k.escape_default()
                    )));
                }
                out.push((k.clone(), child(*i)?));
            }
            V::object(out)
        }
        View::Ref { resource, attribute } => V::reference(resource, attribute),
        View::Concat(parts) => V::concat(parts.iter().map(|&i| child(i)).collect::<Result<_, _>>()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node type of its own, as a bindings' would be.
    enum N {
        Null,
        Int(i64),
        Num(f64),
        Text(String),
        Array(Vec<u32>),
        Object(Vec<(String, u32)>),
        Ref(String),
    }

    impl Node for N {
        fn view(&self) -> View<'_> {
            match self {
                N::Null => View::Null,
                N::Int(i) => View::Int(*i),
                N::Num(n) => View::Num(*n),
                N::Text(s) => View::Text(s),
                N::Array(items) => View::Array(items),
                N::Object(entries) => View::Object(entries),
                N::Ref(r) => View::Ref {
                    resource: r,
                    attribute: "id",
                },
            }
        }
    }

    /// A value type of its own: JSON-like text.
    #[derive(Debug, PartialEq)]
    struct T(String);

    impl Build for T {
        fn null() -> T {
            T("null".into())
        }
        fn bool(b: bool) -> T {
            T(b.to_string())
        }
        fn int(i: i64) -> T {
            T(i.to_string())
        }
        fn num(n: f64) -> T {
            T(n.to_string())
        }
        fn text(s: &str) -> T {
            T(format!("{s:?}"))
        }
        fn array(items: Vec<T>) -> T {
            T(format!(
                "[{}]",
                items.into_iter().map(|t| t.0).collect::<Vec<_>>().join(",")
            ))
        }
        fn object(entries: Vec<(String, T)>) -> T {
            let inner: Vec<String> = entries.into_iter().map(|(k, v)| format!("{k}:{}", v.0)).collect();
            T(format!("{{{}}}", inner.join(",")))
        }
        fn reference(resource: &str, attribute: &str) -> T {
            T(format!("${{{resource}.{attribute}}}"))
        }
        fn concat(parts: Vec<T>) -> T {
            T(parts.into_iter().map(|t| t.0).collect::<Vec<_>>().join("+"))
        }
    }

    fn check(nodes: &[N]) -> Result<String, String> {
        decode::<N, T>(nodes).map(|t| t.0).map_err(|e| e.to_string())
    }

    #[test]
    fn well_formed_trees_decode() {
        assert_eq!(check(&[]), Ok("null".into()));
        let nodes = [
            N::Object(vec![("a".into(), 1), ("b".into(), 2)]),
            N::Array(vec![3, 4]),
            N::Ref("vpc".into()),
            N::Int(1),
            N::Text("x".into()),
        ];
        assert_eq!(check(&nodes), Ok("{a:[1,\"x\"],b:${vpc.id}}".into()));
    }

    #[test]
    fn malformed_trees_are_refused_with_the_reason() {
        let err = |nodes: &[N]| check(nodes).unwrap_err();
        assert!(err(&[N::Array(vec![0])]).contains("node 0 points at node 0"));
        assert!(err(&[N::Array(vec![5])]).contains("points at node 5 (of 1)"));
        assert!(err(&[N::Array(vec![1, 1]), N::Null]).contains("node 1 is used twice"));
        assert!(err(&[N::Null, N::Null]).contains("node 1 is not reachable"));
        assert!(err(&[N::Num(f64::NAN)]).contains("non-finite"));
        assert!(
            err(&[N::Object(vec![("k".into(), 1), ("k".into(), 2)]), N::Null, N::Null])
                .contains("key `k` appears twice")
        );
        let deep: Vec<N> = (0..100)
            .map(|i| if i < 99 { N::Array(vec![i + 1]) } else { N::Null })
            .collect();
        assert!(err(&deep).contains("deeper than 64"));
    }
}
