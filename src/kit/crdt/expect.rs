//! What a converged CRDT value may be, given the client history that updated it: the bounds
//! a protocol's checks hold replicas to once they agree. A protocol maps its own history
//! operations to [`Update`]s with their [`Fate`] and times, and asks.
//!
//! - A counter's converged value lies between the acknowledged increments minus every
//!   decrement that may have taken effect, and every increment that may have taken effect
//!   minus the acknowledged decrements ([`counter_range`]). Without unknown outcomes the two
//!   bounds meet: the value equals the sum of the acknowledged increments and decrements.
//! - An observed-remove set (add-wins) must hold every element with an acknowledged add that
//!   no remove can have observed: every remove of it (that may have taken effect) had
//!   returned before the add was invoked, so it cannot have seen the add's dot. It may hold
//!   only elements some add (that may have taken effect) put in ([`set_range`]). A grow-only
//!   set has no removes, so it must hold exactly its acknowledged adds, and may hold the
//!   unknown ones.
//! - A last-writer-wins register holds a value some write (that may have taken effect) wrote,
//!   and holds a value at all once any write was acknowledged ([`register_allowed`]).

use crate::protocol::Time;
use std::collections::{BTreeMap, BTreeSet};

/// An update a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// Add this much to a counter (negative: a decrement).
    Count(i64),
    /// Add an element to a set.
    Add(i64),
    /// Remove an element from a set.
    Remove(i64),
    /// Write a register.
    Write(i64),
}

/// How an update ended, as far as the client knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Acknowledged: it took effect.
    Acked,
    /// No answer: it may or may not have taken effect.
    Unknown,
    /// Refused: it did not take effect.
    Failed,
}

/// One update with its times: invoked at `call`, answered at `ret` (`None` when unknown; an
/// unknown update's `ret` is ignored, since its request may still arrive after the client
/// gave up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done {
    /// What it asked.
    pub update: Update,
    /// How it ended.
    pub fate: Fate,
    /// When it was invoked.
    pub call: Time,
    /// When it was answered.
    pub ret: Option<Time>,
}

/// The lowest and highest value a converged counter may hold after `updates`.
pub fn counter_range(updates: &[Done]) -> (i64, i64) {
    let (mut lo, mut hi) = (0i64, 0i64);
    for d in updates {
        let Update::Count(by) = d.update else {
            continue;
        };
        match (d.fate, by >= 0) {
            (Fate::Failed, _) => {}
            (Fate::Acked, _) => {
                lo = lo.saturating_add(by);
                hi = hi.saturating_add(by);
            }
            (Fate::Unknown, true) => hi = hi.saturating_add(by),
            (Fate::Unknown, false) => lo = lo.saturating_add(by),
        }
    }
    (lo, hi)
}

/// The elements a converged add-wins set must hold, and those it may hold, after `updates`.
pub fn set_range(updates: &[Done]) -> (BTreeSet<i64>, BTreeSet<i64>) {
    // Per element: the latest time by which every remove of it had surely returned (None:
    // one may still act at any time, being unknown).
    let mut removes_done: BTreeMap<i64, Option<Time>> = BTreeMap::new();
    for d in updates {
        if let (Update::Remove(x), f) = (d.update, d.fate) {
            if f == Fate::Failed {
                continue;
            }
            // An unknown remove may act at any time, however long ago it was given up.
            let ret = d.ret.filter(|_| f == Fate::Acked);
            let entry = removes_done.entry(x).or_insert(Some(Time::ZERO));
            *entry = match (*entry, ret) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
        }
    }
    let (mut must, mut may) = (BTreeSet::new(), BTreeSet::new());
    for d in updates {
        let Update::Add(x) = d.update else { continue };
        if d.fate == Fate::Failed {
            continue;
        }
        may.insert(x);
        let unobserved = match removes_done.get(&x) {
            None => true,
            Some(None) => false,
            Some(Some(done)) => *done < d.call,
        };
        if d.fate == Fate::Acked && unobserved {
            must.insert(x);
        }
    }
    (must, may)
}

/// Whether a converged register may hold `value` after `updates`: a value some write that
/// may have taken effect wrote, and not empty once a write was acknowledged.
pub fn register_allowed(updates: &[Done], value: Option<i64>) -> bool {
    let mut acked = false;
    let mut written = false;
    for d in updates {
        let Update::Write(x) = d.update else { continue };
        acked |= d.fate == Fate::Acked;
        written |= d.fate != Fate::Failed && Some(x) == value;
    }
    match value {
        None => !acked,
        Some(_) => written,
    }
}
