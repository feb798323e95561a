//! Reductions of operations whose outcome is unknown, applied to one partition before the
//! search. An unknown operation stays open to the end of the history, so each one the search
//! carries multiplies the configurations it may meet; these take most of them out of the
//! search without changing the verdict. The arguments are in docs/linearizability.md
//! ("Unknown writes"); in short, for a partition whose every operation has a
//! [`Footprint`]:
//!
//! 1. **Deadline.** A value `v`, not the initial one, that exactly one operation `W` can set
//!    and that some completed operation observes (reads it, or swaps from it): in any
//!    linearization `W` took effect, before every observer, so before the earliest return
//!    `t` among them. `W` becomes an operation that must take effect, by `t` (its return
//!    becomes `min(return, t)`). An unknown write that is read is no longer open-ended.
//! 2. **Removal.** When no operation of the partition is a compare-and-set that failed or
//!    whose outcome is unknown ([`Footprint::Check`], [`Footprint::Maybe`]): an unknown
//!    write whose value no operation observes can be taken out. In a linearization that
//!    places it, nothing can come between it and the next write (anything else would
//!    observe its value), so removing it changes no other operation's state.

use super::search::Entry;
use super::{Footprint, Model};
use std::collections::{BTreeMap, BTreeSet};

/// What the reductions did to a partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Reduced {
    /// Unknown writes taken out (never observed).
    pub dropped: usize,
    /// Operations given an earlier return (an unknown one thereby became required).
    pub deadlines: usize,
    /// Operations whose written value was replaced by the one value that stands for every
    /// value nobody depends on.
    pub merged: usize,
    /// Unknown writes of that value, tried one at a time in call order.
    pub twins: usize,
    /// Unknown compare-and-sets that can no longer happen once the state has left the one
    /// value they expect.
    pub mortal: usize,
}

/// Applies the reductions to one partition, in place.
pub(super) fn reduce<M: Model>(
    model: &mut M,
    part: &mut Vec<Entry<M::Input, M::Output>>,
) -> Reduced {
    let mut done = Reduced::default();
    let init = model.init();
    let Some(initial) = model.state_value(&init) else {
        return done;
    };
    let mut prints = Vec::with_capacity(part.len());
    for e in part.iter() {
        match model.footprint(&e.input, e.output.as_ref()) {
            Some(f) => prints.push(f),
            None => return done,
        }
    }
    // Per value: the operations that can set it, and the earliest return of an operation
    // that observes it (every observer has a known outcome, so a return).
    let mut setters: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    let mut observed: BTreeMap<u64, u64> = BTreeMap::new();
    let mut conditional = false;
    // Values some operation's behaviour depends on (read, swapped from, compared with).
    let mut mentioned: BTreeSet<u64> = BTreeSet::new();
    mentioned.insert(initial);
    for (i, f) in prints.iter().enumerate() {
        let (sets, observes) = match *f {
            Footprint::Observe(v) => (None, Some(v)),
            Footprint::Set(v) => (Some(v), None),
            Footprint::Swap(from, to) => (Some(to), Some(from)),
            Footprint::Maybe(from, to) => {
                conditional = true;
                mentioned.insert(from);
                (Some(to), None)
            }
            Footprint::Check(from) => {
                conditional = true;
                mentioned.insert(from);
                (None, None)
            }
        };
        if let Some(v) = sets {
            setters.entry(v).or_default().push(i);
        }
        if let Some(v) = observes {
            mentioned.insert(v);
            // An observer of unknown outcome tells nothing of when: only completed ones.
            let by = part[i].ret.unwrap_or(u64::MAX);
            let slot = observed.entry(v).or_insert(u64::MAX);
            *slot = (*slot).min(by);
        }
    }
    // 1. Deadlines.
    for (v, &by) in &observed {
        if *v == initial || by == u64::MAX {
            continue;
        }
        let Some(ws) = setters.get(v) else { continue };
        let [w] = ws.as_slice() else { continue };
        let e = &mut part[*w];
        if e.ret.is_none_or(|r| r > by) {
            e.ret = Some(by);
            done.deadlines += 1;
        }
    }
    // 2. Removal.
    if !conditional {
        let before = part.len();
        let mut i = 0;
        part.retain(|e| {
            let keep = e.ret.is_some()
                || e.output.is_some()
                || !matches!(prints[i], Footprint::Set(v) if !observed.contains_key(&v));
            i += 1;
            keep
        });
        done.dropped = before - part.len();
        prints.clear();
        prints.extend(
            part.iter()
                .filter_map(|e| model.footprint(&e.input, e.output.as_ref())),
        );
        debug_assert_eq!(prints.len(), part.len());
    }
    // 3. One value for all the values nobody depends on.
    let mut bottom = None;
    for (e, f) in part.iter_mut().zip(&prints) {
        let target = match *f {
            Footprint::Set(v) | Footprint::Swap(_, v) | Footprint::Maybe(_, v) => v,
            Footprint::Observe(_) | Footprint::Check(_) => continue,
        };
        if mentioned.contains(&target) {
            continue;
        }
        let b = *bottom.get_or_insert(target);
        if b != target {
            let Some(input) = model.retarget(&e.input, b) else {
                continue;
            };
            // The counterexample replays what the history wrote, not the stand-in.
            e.written = Some(std::mem::replace(&mut e.input, input));
            done.merged += 1;
        }
        // 4. Unknown writes of it are interchangeable.
        if matches!(f, Footprint::Set(_)) && e.output.is_none() && e.ret.is_none() {
            e.twin = true;
            done.twins += 1;
        }
    }
    // 5. Mortal unknown compare-and-sets: from a value one required operation sets.
    let mut setter_of: BTreeMap<u64, Option<usize>> = BTreeMap::new();
    for (i, f) in prints.iter().enumerate() {
        if let Footprint::Set(v) | Footprint::Swap(_, v) | Footprint::Maybe(_, v) = *f {
            setter_of
                .entry(v)
                .and_modify(|w| *w = None)
                .or_insert(Some(i));
        }
    }
    for i in 0..part.len() {
        let Footprint::Maybe(x, _) = prints[i] else {
            continue;
        };
        if x == initial || part[i].ret.is_some() {
            continue;
        }
        if let Some(&Some(w)) = setter_of.get(&x) {
            if part[w].ret.is_some() && w != i {
                part[i].mortal = Some((w, x));
                done.mortal += 1;
            }
        }
    }
    done
}
