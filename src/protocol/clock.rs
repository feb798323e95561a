//! Logical time as values: [`VClock`], a vector clock (also a version vector, when it is kept
//! per datum rather than per node), and how two of them compare ([`Causal`]).
//!
//! These are plain values a protocol keeps and sends as it likes (a Dynamo-style store keeps
//! one per version of a key). The clock *service* (ticks on send, merges on receive, checked
//! against the true happens-before relation) is built on them.

use super::NodeId;
use serde::Serialize;
use std::cmp::Ordering;
use std::fmt;

/// How two vector clocks compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Causal {
    /// The same clock.
    Equal,
    /// The first happened before the second (every entry ≤, one <).
    Before,
    /// The first happened after the second.
    After,
    /// Neither: concurrent.
    Concurrent,
}

/// A vector clock: a counter per node, zero where absent. Kept sparse and sorted by node, so
/// a clock that few nodes touched stays small and two equal clocks are equal as values.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VClock {
    entries: Vec<(NodeId, u64)>,
}

impl VClock {
    /// The zero clock.
    pub fn new() -> VClock {
        VClock::default()
    }

    /// `node`'s counter.
    pub fn get(&self, node: NodeId) -> u64 {
        match self.entries.binary_search_by_key(&node, |&(n, _)| n) {
            Ok(i) => self.entries[i].1,
            Err(_) => 0,
        }
    }

    /// Sets `node`'s counter (zero removes the entry).
    pub fn set(&mut self, node: NodeId, count: u64) {
        match self.entries.binary_search_by_key(&node, |&(n, _)| n) {
            Ok(i) if count == 0 => {
                self.entries.remove(i);
            }
            Ok(i) => self.entries[i].1 = count,
            Err(_) if count == 0 => {}
            Err(i) => self.entries.insert(i, (node, count)),
        }
    }

    /// Adds one to `node`'s counter (saturating) and returns the new count.
    pub fn tick(&mut self, node: NodeId) -> u64 {
        let next = self.get(node).saturating_add(1);
        self.set(node, next);
        next
    }

    /// Takes the larger counter of each node from `other`.
    pub fn merge(&mut self, other: &VClock) {
        for &(node, count) in &other.entries {
            if count > self.get(node) {
                self.set(node, count);
            }
        }
    }

    /// This clock joined with `other` (see [`VClock::merge`]).
    pub fn joined(&self, other: &VClock) -> VClock {
        let mut out = self.clone();
        out.merge(other);
        out
    }

    /// How this clock compares with `other`.
    pub fn compare(&self, other: &VClock) -> Causal {
        let (mut less, mut more) = (false, false);
        let (mut a, mut b) = (
            self.entries.iter().peekable(),
            other.entries.iter().peekable(),
        );
        loop {
            let (x, y) = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(&&(_, x)), None) => {
                    a.next();
                    (x, 0)
                }
                (None, Some(&&(_, y))) => {
                    b.next();
                    (0, y)
                }
                (Some(&&(na, x)), Some(&&(nb, y))) => match na.cmp(&nb) {
                    Ordering::Less => {
                        a.next();
                        (x, 0)
                    }
                    Ordering::Greater => {
                        b.next();
                        (0, y)
                    }
                    Ordering::Equal => {
                        a.next();
                        b.next();
                        (x, y)
                    }
                },
            };
            less |= x < y;
            more |= x > y;
        }
        match (less, more) {
            (false, false) => Causal::Equal,
            (true, false) => Causal::Before,
            (false, true) => Causal::After,
            (true, true) => Causal::Concurrent,
        }
    }

    /// Whether this clock is at or after `other` in every entry (`other` is dominated).
    pub fn dominates(&self, other: &VClock) -> bool {
        matches!(self.compare(other), Causal::Equal | Causal::After)
    }

    /// Whether the two clocks are concurrent.
    pub fn concurrent(&self, other: &VClock) -> bool {
        self.compare(other) == Causal::Concurrent
    }

    /// The non-zero entries, by node.
    pub fn entries(&self) -> &[(NodeId, u64)] {
        &self.entries
    }

    /// The sum of the counters (saturating): how many events the clock has seen.
    pub fn total(&self) -> u64 {
        self.entries
            .iter()
            .fold(0u64, |sum, &(_, c)| sum.saturating_add(c))
    }
}

/// `{n1:2,n3:1}`; the zero clock is `{}`.
impl fmt::Display for VClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (node, count)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{node}:{count}")?;
        }
        f.write_str("}")
    }
}

/// As a map from node name to counter: `{"n1": 2, "n3": 1}`.
impl Serialize for VClock {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.entries.len()))?;
        for (node, count) in &self.entries {
            map.serialize_entry(node, count)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vc(pairs: &[(u32, u64)]) -> VClock {
        let mut c = VClock::new();
        for &(n, k) in pairs {
            c.set(NodeId(n), k);
        }
        c
    }

    #[test]
    fn compare_covers_the_four_cases_and_missing_entries() {
        assert_eq!(vc(&[(0, 1)]).compare(&vc(&[(0, 1)])), Causal::Equal);
        assert_eq!(vc(&[]).compare(&vc(&[])), Causal::Equal);
        assert_eq!(
            vc(&[(0, 1)]).compare(&vc(&[(0, 1), (2, 1)])),
            Causal::Before
        );
        assert_eq!(vc(&[(0, 2), (1, 1)]).compare(&vc(&[(0, 1)])), Causal::After);
        assert_eq!(vc(&[(0, 2)]).compare(&vc(&[(1, 1)])), Causal::Concurrent);
        assert_eq!(vc(&[(1, 1)]).compare(&vc(&[(0, 2)])), Causal::Concurrent);
        assert!(vc(&[(0, 2), (1, 1)]).dominates(&vc(&[(0, 1)])));
        assert!(!vc(&[(0, 2)]).dominates(&vc(&[(1, 1)])));
        assert!(vc(&[(0, 2)]).concurrent(&vc(&[(1, 1)])));
    }

    #[test]
    fn merge_is_the_entrywise_maximum_and_zero_entries_vanish() {
        let mut a = vc(&[(0, 3), (2, 1)]);
        a.merge(&vc(&[(0, 1), (1, 4)]));
        assert_eq!(a, vc(&[(0, 3), (1, 4), (2, 1)]));
        assert_eq!(a.total(), 8);
        a.set(NodeId(1), 0);
        assert_eq!(a.entries(), &[(NodeId(0), 3), (NodeId(2), 1)]);
        assert_eq!(a.tick(NodeId(1)), 1);
        assert_eq!(a.to_string(), "{n1:3,n2:1,n3:1}");
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"n1":3,"n2":1,"n3":1}"#
        );
        assert_eq!(vc(&[(0, 1)]).joined(&vc(&[(1, 1)])), vc(&[(0, 1), (1, 1)]));
    }
}
