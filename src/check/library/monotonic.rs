//! Monotonic counters: a named value of each node never goes down.
//!
//! Two lifetimes:
//! - **volatile** ([`Monotonic::volatile`]): kept in memory, so it may start again from
//!   nothing after a restart, but within one incarnation it never goes down. Raft's commit
//!   and applied indexes (`commit_index_monotonic`, `applied_index_monotonic`).
//! - **durable** ([`Monotonic::durable`]): synced to the store before anything depends on it,
//!   so it never goes down, across restarts too; a drop after a restart means the node
//!   acted on a value it had not synced. Raft's term (`term_monotonic`), the ABD register's
//!   tag (`tag_never_goes_back` in `examples/abd.rs`).
//!
//! A monitor: it remembers each node's last value and incarnation, and looks only at the
//! node a step touched.

use super::touched;
use crate::check::{Failure, Monitor, Param, Trigger, View};
use crate::protocol::Protocol;
use std::fmt::Display;
use std::hash::{Hash, Hasher};

/// What the counter is and how to read it.
struct Counter<P, V> {
    name: &'static str,
    value: fn(&P) -> V,
    durable: bool,
}

impl<P, V> Clone for Counter<P, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P, V> Copy for Counter<P, V> {}

/// A counter that never goes down (see the module docs).
pub struct Monotonic<P, V> {
    counter: Param<Counter<P, V>>,
    /// Per node: the incarnation it was last seen in, and its value then.
    last: Vec<Option<(u32, V)>>,
}

impl<P, V: Clone> Clone for Monotonic<P, V> {
    fn clone(&self) -> Self {
        Monotonic {
            counter: self.counter,
            last: self.last.clone(),
        }
    }
}

impl<P, V: Hash> Hash for Monotonic<P, V> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.last.hash(state);
    }
}

impl<P: Protocol, V> Monotonic<P, V> {
    /// A counter that may start again after a restart but never goes down within one
    /// incarnation. `name` is how messages call it ("commit index").
    pub fn volatile(name: &'static str, value: fn(&P) -> V) -> Monotonic<P, V> {
        Monotonic {
            counter: Param(Counter {
                name,
                value,
                durable: false,
            }),
            last: Vec::new(),
        }
    }

    /// A counter that never goes down, across restarts too.
    pub fn durable(name: &'static str, value: fn(&P) -> V) -> Monotonic<P, V> {
        Monotonic {
            counter: Param(Counter {
                name,
                value,
                durable: true,
            }),
            last: Vec::new(),
        }
    }
}

impl<P: Protocol, V> Monitor<P> for Monotonic<P, V>
where
    V: Ord + Clone + Hash + Display + 'static,
{
    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.last.len() != n {
            self.last.resize(n, None);
        }
        let c = *self.counter;
        for node in touched(view) {
            let Some(state) = view.node(node) else {
                continue;
            };
            let now = (c.value)(state);
            let incarnation = view.incarnation(node);
            let last = &mut self.last[node.index()];
            if let Some((was_in, before)) = last.as_ref() {
                if (c.durable || *was_in == incarnation) && now < *before {
                    let when = if *was_in == incarnation {
                        format!("in incarnation {incarnation}")
                    } else {
                        format!(
                            "across its restart (incarnation {was_in} to {incarnation}): a value it had was not durable"
                        )
                    };
                    return Err(Failure::new(
                        format!(
                            "{node}'s {} went down from {before} to {now} {when}",
                            c.name
                        ),
                        vec![node],
                    ));
                }
            }
            *last = Some((incarnation, now));
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
}
