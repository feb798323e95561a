//! Progress after the heal: a majority of the nodes moves a progress counter past the highest
//! value any up node held when the heal came.
//!
//! A cluster can be alive and useless: every node up, every message flowing, and nothing
//! decided, because it elects and deposes leaders for ever, or waits on a quorum it never
//! assembles. Safety checks pass such a run. This one does not: use it as an `eventually`
//! check with a budget (Raft's `commit_advances` over its commit index, ABD's `tag_advances`
//! over each node's tag). Counting a majority, not one node, means the progress was shared:
//! a leader that commits alone in its head does not count.
//!
//! A monitor: it takes the baseline at its first evaluation after a heal (a second heal takes
//! a new one). It is not meant as an `always` check: before any heal it does not hold.

use crate::base::types::Time;
use crate::check::{Failure, Monitor, Param, Trigger, View};
use crate::protocol::Protocol;
use std::fmt::Display;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

/// What the counter is called in messages and how to read it.
#[derive(Clone, Copy)]
struct Counter<F> {
    name: &'static str,
    value: F,
}

/// Progress after the heal (see the module docs). `F` reads the counter from a node's state.
pub struct Advances<P, V, F> {
    counter: Param<Counter<F>>,
    /// The heal the baseline belongs to, and the highest value an up node held then (`None`
    /// when no node was up).
    baseline: Option<(Time, Option<V>)>,
    protocol: PhantomData<fn(&P)>,
}

impl<P, V: Clone, F: Copy> Clone for Advances<P, V, F> {
    fn clone(&self) -> Self {
        Advances {
            counter: self.counter,
            baseline: self.baseline.clone(),
            protocol: PhantomData,
        }
    }
}

impl<P, V: Hash, F> Hash for Advances<P, V, F> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.baseline.hash(state);
    }
}

impl<P: Protocol, V, F: Fn(&P) -> V> Advances<P, V, F> {
    /// Progress of the counter `value` reads; `name` is how messages call it ("commit index").
    pub fn new(name: &'static str, value: F) -> Advances<P, V, F> {
        Advances {
            counter: Param(Counter { name, value }),
            baseline: None,
            protocol: PhantomData,
        }
    }
}

impl<P: Protocol, V, F> Monitor<P> for Advances<P, V, F>
where
    V: Ord + Clone + Hash + Display + 'static,
    F: Fn(&P) -> V + Copy + 'static,
{
    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        let Some(healed) = view.healed_at else {
            return Err(Failure::new(
                format!(
                    "no heal yet, so no progress of the {} to judge",
                    self.counter.name
                ),
                vec![],
            ));
        };
        let read = self.counter.value;
        if self.baseline.as_ref().is_none_or(|(at, _)| *at != healed) {
            let highest = view.nodes().filter_map(|n| view.node(n).map(read)).max();
            self.baseline = Some((healed, highest));
        }
        let Some((_, base)) = &self.baseline else {
            unreachable!("set above");
        };
        let majority = view.cluster_size() / 2 + 1;
        let past = view
            .nodes()
            .filter_map(|n| view.node(n).map(read))
            .filter(|v| base.as_ref().is_none_or(|b| v > b))
            .count() as u32;
        if past >= majority {
            return Ok(());
        }
        let behind: Vec<_> = view
            .nodes()
            .filter(|&n| {
                view.node(n)
                    .map(read)
                    .is_none_or(|v| base.as_ref().is_some_and(|b| v <= *b))
            })
            .collect();
        let base = base
            .as_ref()
            .map_or_else(|| "nothing".to_string(), ToString::to_string);
        Err(Failure::new(
            format!(
                "{past} of the {majority} nodes needed have moved their {} past {base}, the highest held at the heal ({healed})",
                self.counter.name
            ),
            behind,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::toy::{Act, at, expect_eventually, fails, passes, run};

    #[test]
    fn holds_once_a_majority_moves_past_the_highest_value_at_the_heal() {
        // Before the heal (at 1 s) n1 reaches 5 and n2 3; after it n2 and n3 reach 6.
        let before = [at(100, 0, Act::Count(5)), at(200, 1, Act::Count(3))];
        let mut moved = before.to_vec();
        moved.extend([at(1_200, 1, Act::Count(6)), at(1_300, 2, Act::Count(6))]);
        passes(&run(3, &moved, &[], &[expect_eventually("count_advances")]));
        // Only n1 moves on: one node is not a majority.
        let mut alone = before.to_vec();
        alone.push(at(1_200, 0, Act::Count(9)));
        let f = fails(
            &run(3, &alone, &[], &[expect_eventually("count_advances")]),
            "count_advances",
        );
        assert!(
            f.message
                .contains("1 of the 2 nodes needed have moved their count past 5"),
            "{}",
            f.message
        );
        assert_eq!(
            f.nodes,
            [crate::base::types::NodeId(1), crate::base::types::NodeId(2)]
        );
        // Catching up to the old highest value is not progress.
        let mut caught_up = before.to_vec();
        caught_up.extend([at(1_200, 1, Act::Count(5)), at(1_300, 2, Act::Count(5))]);
        fails(
            &run(3, &caught_up, &[], &[expect_eventually("count_advances")]),
            "count_advances",
        );
    }
}
