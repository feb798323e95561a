//! Versions and sibling sets: what a Dynamo replica keeps per key, and how two sets merge.
//!
//! A version is a value under a vector clock (a version vector: one counter per coordinator
//! that minted a version of this key). A replica keeps every version that no other version it
//! holds dominates: one when the writes were ordered, several (*siblings*) when they were
//! concurrent. Reconciling is syntactic: drop what is dominated, keep the rest; only a
//! client, which sees the siblings, decides what they mean, and its next write (carrying the
//! merged clock as its context) dominates them all.

use crate::protocol::{Causal, VClock};
use serde::Serialize;
use std::fmt;

/// Most versions one key keeps. Concurrent versions come from concurrent writers, so a set
/// stays as small as the number of clients that wrote without seeing each other; the bound
/// only keeps a runaway run finite (the oldest, by clock, are dropped past it).
pub const SIBLINGS_MAX: usize = 32;

/// A stored value. Plain values have no merge of their own: concurrent ones are kept side by
/// side. A value type with a merge (a CRDT's state) plugs in as another variant and answers
/// [`Datum::merge`], and then concurrent versions collapse into one instead of piling up.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(untagged)]
pub enum Datum {
    /// An opaque value written by a client (unique per write in the workload).
    Plain(i64),
}

impl Datum {
    /// The merge of two concurrent values, for types that have one; `None` keeps both as
    /// siblings.
    pub fn merge(&self, other: &Datum) -> Option<Datum> {
        match (self, other) {
            (Datum::Plain(_), Datum::Plain(_)) => None,
        }
    }

    /// The value as the client sees it.
    pub fn plain(&self) -> i64 {
        match self {
            Datum::Plain(v) => *v,
        }
    }
}

/// A value under the clock of the write that made it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Version {
    /// The version vector.
    pub clock: VClock,
    /// The value.
    pub datum: Datum,
}

/// `7 @ {n1:2,n3:1}`: the form the viewer and the trace show.
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.datum {
            Datum::Plain(v) => write!(f, "{v} @ {}", self.clock),
        }
    }
}

/// The versions of one key no other version dominates, sorted (so equal sets are equal
/// values, whatever order the versions arrived in).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Siblings(Vec<Version>);

impl Siblings {
    /// One version.
    pub fn one(v: Version) -> Siblings {
        Siblings(vec![v])
    }

    /// The versions, sorted by clock.
    pub fn versions(&self) -> &[Version] {
        &self.0
    }

    /// No version.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many versions.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The join of every version's clock: the context a client's next write carries.
    pub fn context(&self) -> VClock {
        let mut c = VClock::new();
        for v in &self.0 {
            c.merge(&v.clock);
        }
        c
    }

    /// Adds `incoming` the causal way: if a held version dominates or equals it, nothing
    /// changes; otherwise the held versions it dominates go and it joins the rest (merged
    /// with a concurrent one when the value type has a merge). Returns whether the set changed.
    pub fn add(&mut self, incoming: &Version) -> bool {
        if self.0.iter().any(|v| v.clock.dominates(&incoming.clock)) {
            return false;
        }
        self.0
            .retain(|v| incoming.clock.compare(&v.clock) != Causal::After);
        let mut new = incoming.clone();
        let mut i = 0;
        while i < self.0.len() {
            if let Some(m) = self.0[i].datum.merge(&new.datum) {
                let old = self.0.remove(i);
                new = Version {
                    clock: old.clock.joined(&new.clock),
                    datum: m,
                };
            } else {
                i += 1;
            }
        }
        let at = self.0.binary_search(&new).unwrap_or_else(|e| e);
        self.0.insert(at, new);
        if self.0.len() > SIBLINGS_MAX {
            self.0.remove(0);
        }
        true
    }

    /// Adds every version of `other` (see [`Siblings::add`]); returns whether this set changed.
    pub fn absorb(&mut self, other: &Siblings) -> bool {
        let mut changed = false;
        for v in &other.0 {
            changed |= self.add(v);
        }
        changed
    }

    /// Bug `keep_last_arrival`: the version that arrived last replaces the set, whatever
    /// its clock says (last writer wins, by arrival).
    pub fn replace_with(&mut self, other: &Siblings) -> bool {
        let changed = self != other;
        *self = other.clone();
        changed
    }

    /// Whether a version of value `value`, or one whose clock dominates `clock`, is held:
    /// the write is "not lost".
    pub fn covers(&self, clock: &VClock, value: i64) -> bool {
        self.0
            .iter()
            .any(|v| v.datum.plain() == value || v.clock.dominates(clock))
    }

    /// The distinct values, sorted.
    pub fn values(&self) -> Vec<i64> {
        let mut out: Vec<i64> = self.0.iter().map(|v| v.datum.plain()).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The versions as text, for the viewer.
    pub fn shown(&self) -> Vec<String> {
        self.0.iter().map(Version::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::NodeId;

    fn v(pairs: &[(u32, u64)], value: i64) -> Version {
        let mut clock = VClock::new();
        for &(n, k) in pairs {
            clock.set(NodeId(n), k);
        }
        Version {
            clock,
            datum: Datum::Plain(value),
        }
    }

    #[test]
    fn a_newer_version_replaces_what_it_dominates_and_concurrent_ones_stay() {
        let mut s = Siblings::one(v(&[(0, 1)], 1));
        assert!(s.add(&v(&[(0, 2)], 2)));
        assert_eq!(s.values(), [2]);
        assert!(!s.add(&v(&[(0, 1)], 1)), "an older version changes nothing");
        assert!(s.add(&v(&[(0, 1), (1, 1)], 3)), "concurrent: a sibling");
        assert_eq!(s.values(), [2, 3]);
        // A write whose context is the merged clock dominates both.
        let ctx = s.context();
        let mut c = ctx.clone();
        c.tick(NodeId(2));
        let mut next = Version {
            clock: c,
            datum: Datum::Plain(4),
        };
        assert!(s.add(&next));
        assert_eq!(s.values(), [4]);
        assert!(s.covers(&v(&[(0, 2)], 2).clock, 2));
        next.datum = Datum::Plain(5);
        assert!(!s.add(&next), "an equal clock is not added");
    }

    #[test]
    fn order_of_arrival_does_not_matter() {
        let a = v(&[(0, 1)], 1);
        let b = v(&[(1, 1)], 2);
        let c = v(&[(0, 1), (1, 1), (2, 1)], 3);
        let mut x = Siblings::default();
        let mut y = Siblings::default();
        for w in [&a, &b, &c] {
            x.add(w);
        }
        for w in [&c, &b, &a] {
            y.add(w);
        }
        assert_eq!(x, y);
        let mut z = Siblings::one(a.clone());
        z.add(&b);
        let mut w = Siblings::one(b);
        w.add(&a);
        assert_eq!(z, w);
        assert_eq!(z.len(), 2);
    }
}
