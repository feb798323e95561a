//! The semilattice laws over many random states (the crate's own seeded `Rng`), and each
//! type's semantics; and the expected-value bounds of [`super::expect`].

use super::expect::{Done, Fate, Update, counter_range, register_allowed, set_range};
use super::{Crdt, GCounter, GSet, LwwRegister, OrSet, PnCounter};
use crate::base::rng::{Rng, Stream};
use crate::protocol::{NodeId, Time};
use std::collections::BTreeSet;

const NODES: u64 = 4;

/// Random replicas of one history: replica i is node i's; each applies random updates of
/// its own node and merges random other replicas, so every state is a reachable one.
fn states<C: Crdt>(
    seed: u64,
    fresh: impl Fn() -> C,
    update: impl Fn(&mut C, NodeId, &mut Rng),
) -> Vec<C> {
    let mut rng = Rng::new(seed, Stream::Workload);
    let mut all: Vec<C> = (0..NODES).map(|_| fresh()).collect();
    for _ in 0..rng.between(0, 40) {
        let i = rng.index(all.len());
        if rng.below(3) == 0 {
            let j = rng.index(all.len());
            let other = all[j].clone();
            all[i].merge(&other);
        } else {
            update(&mut all[i], NodeId(i as u32), &mut rng);
        }
    }
    all
}

/// Commutative, associative, idempotent, over 300 seeds of random states.
fn laws<C: Crdt>(fresh: impl Fn() -> C + Copy, update: impl Fn(&mut C, NodeId, &mut Rng) + Copy) {
    for seed in 1..=300 {
        let s = states(seed, fresh, update);
        let (a, b, c) = (&s[0], &s[1], &s[2]);
        let merged = |x: &C, y: &C| {
            let mut z = x.clone();
            z.merge(y);
            z
        };
        assert_eq!(merged(a, b), merged(b, a), "commutative, seed {seed}");
        assert_eq!(
            merged(&merged(a, b), c),
            merged(a, &merged(b, c)),
            "associative, seed {seed}"
        );
        assert_eq!(&merged(a, a), a, "idempotent, seed {seed}");
        assert_eq!(
            merged(&merged(a, b), b),
            merged(a, b),
            "idempotent, seed {seed}"
        );
    }
}

#[test]
fn g_counter_merge_is_a_join() {
    laws(GCounter::new, |c: &mut GCounter, n, rng| {
        c.increment(n, rng.between(1, 5))
    });
}

#[test]
fn pn_counter_merge_is_a_join() {
    laws(PnCounter::new, |c: &mut PnCounter, n, rng| {
        if rng.below(2) == 0 {
            c.increment(n, rng.between(1, 5));
        } else {
            c.decrement(n, rng.between(1, 5), false);
        }
    });
}

#[test]
fn g_set_merge_is_a_join() {
    laws(GSet::<i64>::new, |c: &mut GSet<i64>, _, rng| {
        c.add(rng.below(10) as i64)
    });
}

#[test]
fn lww_merge_is_a_join() {
    laws(
        || LwwRegister::<i64>::new(false),
        |c: &mut LwwRegister<i64>, n, rng| {
            let clock = rng.below(20);
            c.set(n, clock, rng.below(100) as i64);
        },
    );
}

#[test]
fn or_set_merge_is_a_join() {
    laws(OrSet::<i64>::new, |c: &mut OrSet<i64>, n, rng| {
        let x = rng.below(5) as i64;
        if rng.below(2) == 0 {
            c.add(n, x);
        } else {
            c.remove(&x, false);
        }
    });
}

#[test]
fn or_set_a_concurrent_add_wins_over_a_remove() {
    let (n1, n2) = (NodeId(0), NodeId(1));
    let mut a = OrSet::new();
    a.add(n1, 7);
    let mut b = a.clone(); // both see 7
    b.remove(&7, false); // n2 removes the add it saw
    a.add(n1, 7); // n1 adds 7 again, concurrently
    let mut ab = a.clone();
    ab.merge(&b);
    let mut ba = b.clone();
    ba.merge(&a);
    assert!(
        ab.contains(&7) && ba.contains(&7),
        "the unobserved add wins"
    );
    // A remove that saw every add wins.
    let mut c = ab.clone();
    c.remove(&7, false);
    ab.merge(&c);
    assert!(!ab.contains(&7));
    // With the bug switch, the remove drops the concurrent add too: the add is lost.
    let mut d = OrSet::new();
    d.add(n1, 3);
    let mut e = d.clone();
    e.remove(&3, true);
    d.add(n2, 3);
    d.merge(&e);
    assert!(!d.contains(&3), "remove_wins loses the concurrent add");
}

#[test]
fn lww_equal_timestamps_are_broken_by_node_and_diverge_without_it() {
    let (n1, n2) = (NodeId(0), NodeId(1));
    for no_tiebreak in [false, true] {
        let mut a = LwwRegister::new(no_tiebreak);
        let mut b = LwwRegister::new(no_tiebreak);
        a.set(n1, 10, 1);
        b.set(n2, 10, 2);
        let (a0, b0) = (a.clone(), b.clone());
        a.merge(&b0);
        b.merge(&a0);
        if no_tiebreak {
            assert_ne!(a.value(), b.value(), "each keeps its own forever");
        } else {
            assert_eq!(a.value(), Some(&2), "n2 wins the tie");
            assert_eq!(a, b);
        }
    }
    // A write behind the replica's clock still overrides what the replica holds.
    let mut r = LwwRegister::new(false);
    r.set(n2, 50, 1);
    assert_eq!(r.set(n1, 20, 2), 51);
    assert_eq!(r.value(), Some(&2));
}

#[test]
fn pn_decrements_survive_merges_and_one_vector_loses_them() {
    let (n1, n2) = (NodeId(0), NodeId(1));
    let mut a = PnCounter::new();
    a.increment(n1, 5);
    let mut b = a.clone();
    b.decrement(n2, 2, false);
    a.decrement(n1, 1, false);
    a.merge(&b);
    b.merge(&a);
    assert_eq!((a.value(), b.value()), (2, 2));
    // One vector: n1's decrement comes off its own slot, and the merge's max undoes it.
    let mut c = PnCounter::new();
    c.increment(n1, 5);
    let d = c.clone();
    c.decrement(n1, 3, true);
    c.merge(&d);
    assert_eq!(c.value(), 5, "the decrement is lost");
}

#[test]
fn g_counter_merge_adding_double_counts_a_duplicate() {
    let mut a = GCounter::new();
    a.increment(NodeId(0), 2);
    let b = a.clone();
    a.merge(&b);
    assert_eq!(a.value(), 2);
    a.merge_adding(&b);
    assert_eq!(a.value(), 4, "the same increments counted twice");
}

fn done(update: Update, fate: Fate, call: u64, ret: Option<u64>) -> Done {
    Done {
        update,
        fate,
        call: Time::from_ms(call),
        ret: ret.map(Time::from_ms),
    }
}

#[test]
fn expected_values_follow_the_history() {
    let h = [
        done(Update::Count(3), Fate::Acked, 0, Some(5)),
        done(Update::Count(2), Fate::Unknown, 1, None),
        done(Update::Count(-1), Fate::Acked, 2, Some(6)),
        done(Update::Count(-4), Fate::Unknown, 3, None),
        done(Update::Count(9), Fate::Failed, 3, Some(4)),
    ];
    assert_eq!(counter_range(&h), (3 - 1 - 4, 3 + 2 - 1));
    let s = [
        done(Update::Add(1), Fate::Acked, 0, Some(1)),
        done(Update::Remove(1), Fate::Acked, 2, Some(3)),
        done(Update::Add(1), Fate::Acked, 4, Some(5)), // after the remove returned: must
        done(Update::Add(2), Fate::Acked, 0, Some(1)),
        done(Update::Remove(2), Fate::Unknown, 2, None), // may have removed it
        done(Update::Add(3), Fate::Unknown, 0, None),
        done(Update::Add(4), Fate::Acked, 0, Some(9)),
        done(Update::Remove(4), Fate::Acked, 1, Some(2)), // concurrent: may have observed it
        done(Update::Remove(5), Fate::Unknown, 2, Some(3)), // given up at 3, may arrive later
        done(Update::Add(5), Fate::Acked, 10, Some(11)),
    ];
    let (must, may) = set_range(&s);
    assert_eq!(must, BTreeSet::from([1]));
    assert_eq!(may, BTreeSet::from([1, 2, 3, 4, 5]));
    let w = [
        done(Update::Write(5), Fate::Acked, 0, Some(1)),
        done(Update::Write(6), Fate::Failed, 0, Some(1)),
    ];
    assert!(register_allowed(&w, Some(5)));
    assert!(!register_allowed(&w, Some(6)));
    assert!(!register_allowed(&w, None));
    assert!(register_allowed(&[], None));
}
