//! State-based CRDTs (convergent replicated data types): values that replicas update on
//! their own and reconcile by a merge that is commutative, associative and idempotent, so
//! that any order of deliveries, duplicates and losses ends in the same state everywhere once
//! every replica has (directly or transitively) merged every other's state.
//!
//! Reference: Shapiro, Preguiça, Baquero and Zawirski, "A comprehensive study of Convergent
//! and Commutative Replicated Data Types", INRIA RR-7506, 2011 (the G-Counter, PN-Counter,
//! G-Set, OR-Set and LWW-Register are its specifications 6, 7, 11, 15 and 8), and "Conflict-
//! free Replicated Data Types", SSS 2011; the OR-Set here is the optimized form of Bieniusa,
//! Zawirski, Preguiça, Shapiro, Baquero, Balegas and Duarte, "An optimized conflict-free
//! replicated set", 2012 (dots and a causal context instead of tombstones). docs/crdt.md goes
//! from the papers to this file.
//!
//! Every type is a join semilattice: [`Crdt::merge`] computes the least upper bound of two
//! states, and every update only moves a state up. The methods named `*_buggy` or taking a
//! bug flag are the wrong versions a protocol's bug switches use (the kit's
//! [`crate::kit::quorum::Quorum::add_unguarded`] is the precedent); they say what they break.
//!
//! [`expect`] turns a client history into what a converged value may be (counter bounds,
//! the elements a set must and may hold), for checks of any protocol that stores these types.

pub mod expect;
#[cfg(test)]
mod tests;

use crate::protocol::{NodeId, VClock};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::hash::Hash;

/// A state-based CRDT: a value with a merge that is the least upper bound of two states.
pub trait Crdt: Clone + Debug + PartialEq + Eq + Hash + Serialize {
    /// Folds `other` into `self`: commutative, associative and idempotent.
    fn merge(&mut self, other: &Self);
    /// A rough size of the state in bytes (8 per number kept), for gossip metrics.
    fn size_bytes(&self) -> u64;
}

/// A grow-only counter: one slot per node, each counting that node's increments; the value is
/// the sum and the merge takes the larger of each slot (Shapiro et al., specification 6).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct GCounter {
    slots: BTreeMap<NodeId, u64>,
}

impl GCounter {
    /// The zero counter.
    pub fn new() -> GCounter {
        GCounter::default()
    }
    /// `node` counts `by` more (saturating).
    pub fn increment(&mut self, node: NodeId, by: u64) {
        let slot = self.slots.entry(node).or_insert(0);
        *slot = slot.saturating_add(by);
    }
    /// The counter's value: the sum of the slots (saturating).
    pub fn value(&self) -> u64 {
        self.slots.values().fold(0u64, |a, &b| a.saturating_add(b))
    }
    /// What `node` has counted, as far as this replica knows.
    pub fn slot(&self, node: NodeId) -> u64 {
        self.slots.get(&node).copied().unwrap_or(0)
    }
    /// The slots.
    pub fn slots(&self) -> &BTreeMap<NodeId, u64> {
        &self.slots
    }
    /// Bug: merges by adding the slots instead of taking the larger. Not idempotent: a
    /// duplicated or repeated gossip counts the same increments twice.
    pub fn merge_adding(&mut self, other: &GCounter) {
        for (&n, &c) in &other.slots {
            let slot = self.slots.entry(n).or_insert(0);
            *slot = slot.saturating_add(c);
        }
    }
    /// Bug (a PN-Counter kept in one vector): takes `by` back from `node`'s own slot. The
    /// merge's maximum then brings the old, larger slot back from any replica that saw it.
    pub fn decrement_in_place(&mut self, node: NodeId, by: u64) {
        let slot = self.slots.entry(node).or_insert(0);
        *slot = slot.saturating_sub(by);
    }
}

impl Crdt for GCounter {
    fn merge(&mut self, other: &GCounter) {
        for (&n, &c) in &other.slots {
            let slot = self.slots.entry(n).or_insert(0);
            *slot = (*slot).max(c);
        }
    }
    fn size_bytes(&self) -> u64 {
        16 * self.slots.len() as u64
    }
}

/// A counter that goes up and down: two G-Counters, one of increments (`p`) and one of
/// decrements (`n`); the value is their difference (Shapiro et al., specification 7).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PnCounter {
    /// Increments.
    pub p: GCounter,
    /// Decrements.
    pub n: GCounter,
}

impl PnCounter {
    /// The zero counter.
    pub fn new() -> PnCounter {
        PnCounter::default()
    }
    /// `node` adds `by`.
    pub fn increment(&mut self, node: NodeId, by: u64) {
        self.p.increment(node, by);
    }
    /// `node` takes away `by`. With `one_vector` (a bug switch) the decrement comes off the
    /// increments' own slot instead, as if the counter were one vector of signed slots merged
    /// by maximum: merges then undo it.
    pub fn decrement(&mut self, node: NodeId, by: u64, one_vector: bool) {
        if one_vector {
            self.p.decrement_in_place(node, by);
        } else {
            self.n.increment(node, by);
        }
    }
    /// Increments minus decrements.
    pub fn value(&self) -> i64 {
        let (p, n) = (self.p.value(), self.n.value());
        (i128::from(p) - i128::from(n)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

impl Crdt for PnCounter {
    fn merge(&mut self, other: &PnCounter) {
        self.p.merge(&other.p);
        self.n.merge(&other.n);
    }
    fn size_bytes(&self) -> u64 {
        self.p.size_bytes() + self.n.size_bytes()
    }
}

/// A grow-only set: add only, merge by union (Shapiro et al., specification 11). The
/// "broadcast" exercise: every value any node was given reaches every node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct GSet<T: Ord> {
    items: BTreeSet<T>,
}

impl<T: Ord> Default for GSet<T> {
    fn default() -> Self {
        GSet {
            items: BTreeSet::new(),
        }
    }
}

impl<T: Ord + Clone + Debug + Hash + Serialize> GSet<T> {
    /// The empty set.
    pub fn new() -> GSet<T> {
        GSet::default()
    }
    /// Adds `item`.
    pub fn add(&mut self, item: T) {
        self.items.insert(item);
    }
    /// Whether `item` is in.
    pub fn contains(&self, item: &T) -> bool {
        self.items.contains(item)
    }
    /// The elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}

impl<T: Ord + Clone + Debug + Hash + Serialize> Crdt for GSet<T> {
    fn merge(&mut self, other: &GSet<T>) {
        for x in &other.items {
            if !self.items.contains(x) {
                self.items.insert(x.clone());
            }
        }
    }
    fn size_bytes(&self) -> u64 {
        8 * self.items.len() as u64
    }
}

/// One add's unique identity in an [`OrSet`]: the adding node and its own count of adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Dot {
    /// The node that made the add.
    pub node: NodeId,
    /// Its count of dots, from 1.
    pub counter: u64,
}

/// An observed-remove set, add-wins: every add makes a new [`Dot`]; a remove takes away the
/// dots its replica has seen for the element, and only those, so an add concurrent with a
/// remove survives it. The causal context (a version vector of every dot the replica has
/// seen) tells a dot removed here (seen, gone) from one not yet heard of (not seen): the
/// optimized OR-Set of Bieniusa et al. (2012), which needs no tombstones.
///
/// The context stays a version vector (every dot of a node up to its entry) because every
/// state a replica holds came from its own adds and whole-state merges.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct OrSet<T: Ord> {
    /// The live dots of each present element.
    entries: BTreeMap<T, BTreeSet<Dot>>,
    /// Every dot this replica has seen, live or removed.
    context: VClock,
    /// Bug switch `remove_wins`' state: elements removed for good (a 2P-Set's tombstones),
    /// which merges and later adds cannot bring back. Empty when the switch is off.
    removed: BTreeSet<T>,
}

impl<T: Ord> Default for OrSet<T> {
    fn default() -> Self {
        OrSet {
            entries: BTreeMap::new(),
            context: VClock::new(),
            removed: BTreeSet::new(),
        }
    }
}

impl<T: Ord + Clone + Debug + Hash + Serialize> OrSet<T> {
    /// The empty set.
    pub fn new() -> OrSet<T> {
        OrSet::default()
    }
    /// `node` adds `item` under a new dot; the element's older dots this replica knows are
    /// replaced (the new dot covers them).
    pub fn add(&mut self, node: NodeId, item: T) -> Dot {
        let counter = self.context.tick(node);
        let dot = Dot { node, counter };
        if !self.removed.contains(&item) {
            self.entries.insert(item, BTreeSet::from([dot]));
        }
        dot
    }
    /// Removes `item` as this replica sees it: the dots it has observed go; a concurrent add
    /// elsewhere keeps its own dot and wins. With `remove_wins` (a bug switch) the element is
    /// tombstoned for good instead: every add of it, concurrent or later, is lost.
    pub fn remove(&mut self, item: &T, remove_wins: bool) {
        self.entries.remove(item);
        if remove_wins {
            self.removed.insert(item.clone());
        }
    }
    /// Whether `item` is in.
    pub fn contains(&self, item: &T) -> bool {
        self.entries.contains_key(item)
    }
    /// The present elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &T> {
        self.entries.keys()
    }
    /// The live dots of each present element.
    pub fn entries(&self) -> &BTreeMap<T, BTreeSet<Dot>> {
        &self.entries
    }
    /// The causal context: every dot seen.
    pub fn context(&self) -> &VClock {
        &self.context
    }
    fn seen(context: &VClock, dot: &Dot) -> bool {
        context.get(dot.node) >= dot.counter
    }
}

impl<T: Ord + Clone + Debug + Hash + Serialize> Crdt for OrSet<T> {
    /// Keeps a dot that both sides hold, or that one side holds and the other has never
    /// seen; drops a dot one side holds and the other has seen and removed.
    fn merge(&mut self, other: &OrSet<T>) {
        let keys: BTreeSet<T> = self
            .entries
            .keys()
            .chain(other.entries.keys())
            .cloned()
            .collect();
        let none = BTreeSet::new();
        for k in keys {
            let mine = self.entries.get(&k).unwrap_or(&none);
            let theirs = other.entries.get(&k).unwrap_or(&none);
            let kept: BTreeSet<Dot> = mine
                .iter()
                .filter(|d| theirs.contains(d) || !Self::seen(&other.context, d))
                .chain(
                    theirs
                        .iter()
                        .filter(|d| !mine.contains(d) && !Self::seen(&self.context, d)),
                )
                .copied()
                .collect();
            if kept.is_empty() {
                self.entries.remove(&k);
            } else {
                self.entries.insert(k, kept);
            }
        }
        self.context.merge(&other.context);
        for x in &other.removed {
            self.removed.insert(x.clone());
        }
        for x in &self.removed {
            self.entries.remove(x);
        }
    }
    fn size_bytes(&self) -> u64 {
        let dots: usize = self.entries.values().map(BTreeSet::len).sum();
        8 * (self.entries.len() + 2 * dots + self.removed.len()) as u64
            + 16 * self.context.entries().len() as u64
    }
}

/// A last-writer-wins register: a value with a timestamp and the writing node; the merge
/// keeps the larger (timestamp, node), so two writes with one timestamp are ordered by node
/// (Shapiro et al., specification 8). A write that loses is gone: LWW converges by
/// discarding concurrent writes, and with skewed clocks it may discard a later one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct LwwRegister<T> {
    value: Option<T>,
    stamp: u64,
    node: NodeId,
    /// Bug switch `lww_no_tiebreak`: compare timestamps only, and keep one's own value on a
    /// tie, so two writes with one timestamp stay on their sides forever.
    no_tiebreak: bool,
}

impl<T> Default for LwwRegister<T> {
    fn default() -> Self {
        LwwRegister {
            value: None,
            stamp: 0,
            node: NodeId(0),
            no_tiebreak: false,
        }
    }
}

impl<T: Clone + Debug + PartialEq + Eq + Hash + Serialize> LwwRegister<T> {
    /// The empty register; `no_tiebreak` is the bug switch (see the field).
    pub fn new(no_tiebreak: bool) -> LwwRegister<T> {
        LwwRegister {
            no_tiebreak,
            ..LwwRegister::default()
        }
    }
    /// `node` writes `value` at time `clock` (in any unit). The timestamp is the clock, or
    /// one above the highest this replica has seen if the clock is behind it, so a write
    /// always overrides what its own replica holds. Returns the timestamp used.
    pub fn set(&mut self, node: NodeId, clock: u64, value: T) -> u64 {
        let stamp = clock.max(self.stamp.saturating_add(1));
        self.value = Some(value);
        self.stamp = stamp;
        self.node = node;
        stamp
    }
    /// The value, if any write has been seen.
    pub fn value(&self) -> Option<&T> {
        self.value.as_ref()
    }
    /// The winning write's timestamp and node.
    pub fn stamp(&self) -> (u64, NodeId) {
        (self.stamp, self.node)
    }
}

impl<T: Clone + Debug + PartialEq + Eq + Hash + Serialize> Crdt for LwwRegister<T> {
    fn merge(&mut self, other: &LwwRegister<T>) {
        let newer = if self.no_tiebreak {
            other.stamp > self.stamp
        } else {
            (other.stamp, other.node) > (self.stamp, self.node)
        };
        if newer {
            self.value = other.value.clone();
            self.stamp = other.stamp;
            self.node = other.node;
        }
    }
    fn size_bytes(&self) -> u64 {
        24
    }
}
