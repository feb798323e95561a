//! Monotonic counters: a named value of each node never goes down.
//!
//! Two lifetimes:
//! - **volatile** ([`Monotonic::volatile`]): kept in memory, so it may start again from
//!   nothing after a restart, but within one incarnation it never goes down. Raft's commit
//!   and applied indexes (`commit_index_monotonic`, `applied_index_monotonic`).
//! - **durable** ([`Monotonic::durable`]): synced to the store before anything depends on it,
//!   so it never goes down, across restarts too; a drop after a restart means the node
//!   acted on a value it had not synced. Raft's term (`term_monotonic`), ABD's tag
//!   (`tag_never_goes_back`), and the G-Counter example's own count (`examples/gcounter.rs`).
//!
//! A monitor: it remembers each node's last value and incarnation, and looks only at the
//! node a step touched.

use super::touched;
use crate::base::types::NodeId;
use crate::check::{Failure, Monitor, Param, Trigger, View};
use crate::protocol::Protocol;
use std::fmt::Display;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

/// What the counter is and how to read it.
#[derive(Clone, Copy)]
struct Counter<F> {
    name: &'static str,
    value: F,
    durable: bool,
}

/// A counter that never goes down (see the module docs). `F` reads it from a node's state:
/// a function or a closure without captures, called directly (not through a pointer), so an
/// always-check of it costs a few instructions per step.
pub struct Monotonic<P, V, F> {
    counter: Param<Counter<F>>,
    /// Per node: the incarnation it was last seen in, and its value then.
    last: Vec<Option<(u32, V)>>,
    protocol: PhantomData<fn(&P)>,
}

impl<P, V: Clone, F: Copy> Clone for Monotonic<P, V, F> {
    fn clone(&self) -> Self {
        Monotonic {
            counter: self.counter,
            last: self.last.clone(),
            protocol: PhantomData,
        }
    }
}

impl<P, V: Hash, F> Hash for Monotonic<P, V, F> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.last.hash(state);
    }
}

impl<P: Protocol, V, F: Fn(&P) -> V> Monotonic<P, V, F> {
    /// A counter that may start again after a restart but never goes down within one
    /// incarnation. `name` is how messages call it ("commit index").
    pub fn volatile(name: &'static str, value: F) -> Monotonic<P, V, F> {
        Monotonic {
            counter: Param(Counter {
                name,
                value,
                durable: false,
            }),
            last: Vec::new(),
            protocol: PhantomData,
        }
    }

    /// A counter that never goes down, across restarts too.
    pub fn durable(name: &'static str, value: F) -> Monotonic<P, V, F> {
        Monotonic {
            counter: Param(Counter {
                name,
                value,
                durable: true,
            }),
            last: Vec::new(),
            protocol: PhantomData,
        }
    }
}

/// The failure, built off the hot path.
#[cold]
#[inline(never)]
fn went_down(
    node: NodeId,
    name: &str,
    before: &dyn Display,
    now: &dyn Display,
    was_in: u32,
    incarnation: u32,
) -> Failure {
    let when = if was_in == incarnation {
        format!("in incarnation {incarnation}")
    } else {
        format!(
            "across its restart (incarnation {was_in} to {incarnation}): a value it had was not durable"
        )
    };
    Failure::new(
        format!("{node}'s {name} went down from {before} to {now} {when}"),
        vec![node],
    )
}

impl<P: Protocol, V, F> Monitor<P> for Monotonic<P, V, F>
where
    V: Ord + Clone + Hash + Display + 'static,
    F: Fn(&P) -> V + Copy + 'static,
{
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.last.len() != n {
            self.last.resize(n, None);
        }
        let durable = self.counter.durable;
        for node in touched(view) {
            let Some(state) = view.node(node) else {
                continue;
            };
            let now = (self.counter.value)(state);
            let incarnation = view.incarnation(node);
            let last = &mut self.last[node.index()];
            if let Some((was_in, before)) = last.as_ref() {
                if now < *before && (durable || *was_in == incarnation) {
                    return Err(went_down(
                        node,
                        self.counter.name,
                        before,
                        &now,
                        *was_in,
                        incarnation,
                    ));
                }
            }
            *last = Some((incarnation, now));
        }
        Ok(())
    }
}

/// A counter per peer that never goes down (see the module docs): `F` reads this node's
/// counter about `peer` (a sequence number sent to it, what was delivered from it), and each
/// peer's counter is judged on its own. A vector compared as a whole would let one peer's
/// counter drop while another's rises.
pub struct MonotonicEach<P, V, F> {
    counter: Param<Counter<F>>,
    /// Per node: the incarnation it was last seen in, and its counter for each peer then.
    last: Vec<Option<(u32, Vec<V>)>>,
    protocol: PhantomData<fn(&P)>,
}

impl<P, V: Clone, F: Copy> Clone for MonotonicEach<P, V, F> {
    fn clone(&self) -> Self {
        MonotonicEach {
            counter: self.counter,
            last: self.last.clone(),
            protocol: PhantomData,
        }
    }
}

impl<P, V: Hash, F> Hash for MonotonicEach<P, V, F> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.last.hash(state);
    }
}

impl<P: Protocol, V, F: Fn(&P, NodeId) -> V> MonotonicEach<P, V, F> {
    /// Per-peer counters that may start again after a restart but never go down within one
    /// incarnation. `name` is how messages call one ("last delivered").
    pub fn volatile(name: &'static str, value: F) -> MonotonicEach<P, V, F> {
        MonotonicEach {
            counter: Param(Counter {
                name,
                value,
                durable: false,
            }),
            last: Vec::new(),
            protocol: PhantomData,
        }
    }

    /// Per-peer counters that never go down, across restarts too.
    pub fn durable(name: &'static str, value: F) -> MonotonicEach<P, V, F> {
        MonotonicEach {
            counter: Param(Counter {
                name,
                value,
                durable: true,
            }),
            last: Vec::new(),
            protocol: PhantomData,
        }
    }
}

impl<P: Protocol, V, F> Monitor<P> for MonotonicEach<P, V, F>
where
    V: Ord + Clone + Hash + Display + 'static,
    F: Fn(&P, NodeId) -> V + Copy + 'static,
{
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size();
        if self.last.len() != n as usize {
            self.last.resize(n as usize, None);
        }
        let durable = self.counter.durable;
        for node in touched(view) {
            let Some(state) = view.node(node) else {
                continue;
            };
            let incarnation = view.incarnation(node);
            let last = &mut self.last[node.index()];
            match last {
                // Compared in place, peer by peer: no allocation on the hot path.
                Some((was_in, before)) if durable || *was_in == incarnation => {
                    for (p, b) in before.iter_mut().enumerate() {
                        let now = (self.counter.value)(state, NodeId(p as u32));
                        if now < *b {
                            let name = format!("{} for {}", self.counter.name, NodeId(p as u32));
                            return Err(went_down(node, &name, b, &now, *was_in, incarnation));
                        }
                        *b = now;
                    }
                    *was_in = incarnation;
                }
                _ => {
                    let now = (0..n)
                        .map(|p| (self.counter.value)(state, NodeId(p)))
                        .collect();
                    *last = Some((incarnation, now));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::toy::{Act, at, crash, expect_always, fails, passes, restart, run};

    #[test]
    fn a_volatile_counter_may_restart_lower_but_never_drop_within_an_incarnation() {
        // n1 counts to 5, crashes, restarts from nothing and counts to 2: allowed.
        let restarted = run(
            2,
            &[at(100, 0, Act::Count(5)), at(400, 0, Act::Count(2))],
            &[crash(200, 0), restart(300, 0)],
            &[expect_always("count_monotonic")],
        );
        passes(&restarted);
        // Dropping from 5 to 3 without a restart is not.
        let dropped = run(
            2,
            &[at(100, 1, Act::Count(5)), at(200, 1, Act::Count(3))],
            &[],
            &[expect_always("count_monotonic")],
        );
        let f = fails(&dropped, "count_monotonic");
        assert_eq!(
            f.message,
            "n2's count went down from 5 to 3 in incarnation 0"
        );
        assert_eq!(f.nodes, [crate::base::types::NodeId(1)]);
    }

    #[test]
    fn a_durable_counter_must_survive_restarts() {
        // Synced to 4, then raised to 6 without a sync: the restart comes back with 4.
        let lost = run(
            1,
            &[at(100, 0, Act::Durable(4)), at(200, 0, Act::Unsynced(6))],
            &[crash(300, 0), restart(400, 0)],
            &[expect_always("durable_monotonic")],
        );
        let f = fails(&lost, "durable_monotonic");
        assert!(
            f.message
                .starts_with("n1's durable went down from 6 to 4 across its restart"),
            "{}",
            f.message
        );
        // Synced both times: the restart comes back with 6, and it holds.
        let kept = run(
            1,
            &[at(100, 0, Act::Durable(4)), at(200, 0, Act::Durable(6))],
            &[crash(300, 0), restart(400, 0)],
            &[expect_always("durable_monotonic")],
        );
        passes(&kept);
    }

    #[test]
    fn each_peer_counter_is_judged_on_its_own() {
        // The counter for n1 rises while the one for n2 drops: a drop, named by its peer.
        let dropped = run(
            2,
            &[
                at(100, 0, Act::Durable(4)),
                at(200, 0, Act::Count(7)),
                at(200, 0, Act::Durable(2)),
            ],
            &[],
            &[expect_always("each_monotonic")],
        );
        let f = fails(&dropped, "each_monotonic");
        assert_eq!(
            f.message,
            "n1's counter for n2 went down from 4 to 2 in incarnation 0"
        );
        // Both rise: it holds; a restart may start the volatile ones again.
        let rising = run(
            2,
            &[
                at(100, 0, Act::Durable(4)),
                at(200, 0, Act::Count(7)),
                at(300, 0, Act::Durable(6)),
                at(600, 0, Act::Count(1)),
            ],
            &[crash(400, 0), restart(500, 0)],
            &[expect_always("each_monotonic")],
        );
        passes(&rising);
    }
}
