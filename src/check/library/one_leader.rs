//! One leader per epoch: at most one node leads in any epoch (term, ballot, view), ever.
//!
//! Used by Raft (`election_safety`, Figure 2's Election Safety: one leader per term). A
//! primary-backup protocol checks its primary per view the same way, two-phase commit its
//! coordinator per epoch.
//!
//! A monitor: it must remember every leader of every epoch it has seen, since the two leaders
//! of a broken epoch need not lead at the same time.

use super::touched;
use crate::base::types::NodeId;
use crate::check::{Failure, Monitor, Param, Trigger, View};
use crate::protocol::Protocol;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

/// How to read a node's epoch and whether it leads, and what the messages call them.
#[derive(Clone, Copy)]
struct Leadership<FE, FL> {
    leader: &'static str,
    epoch_word: &'static str,
    epoch: FE,
    leads: FL,
}

/// At most one leader per epoch (see the module docs). The accessors are functions or
/// closures without captures, called directly.
pub struct OneLeaderPerEpoch<P, E, FE, FL> {
    how: Param<Leadership<FE, FL>>,
    /// The first node seen leading each epoch.
    leaders: BTreeMap<E, NodeId>,
    protocol: PhantomData<fn(&P)>,
}

impl<P, E: Clone, FE: Copy, FL: Copy> Clone for OneLeaderPerEpoch<P, E, FE, FL> {
    fn clone(&self) -> Self {
        OneLeaderPerEpoch {
            how: self.how,
            leaders: self.leaders.clone(),
            protocol: PhantomData,
        }
    }
}

impl<P, E: Hash, FE, FL> Hash for OneLeaderPerEpoch<P, E, FE, FL> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.leaders.hash(state);
    }
}

impl<P, E, FE, FL> OneLeaderPerEpoch<P, E, FE, FL>
where
    P: Protocol,
    FE: Fn(&P) -> E,
    FL: Fn(&P) -> bool,
{
    /// `leader` and `epoch_word` are the protocol's words ("coordinator" and "epoch" make
    /// "n1 and n2 were both coordinators in epoch 3": the plural adds an s); `epoch` reads a
    /// node's epoch and `leads` says whether it leads now.
    pub fn new(
        leader: &'static str,
        epoch_word: &'static str,
        epoch: FE,
        leads: FL,
    ) -> OneLeaderPerEpoch<P, E, FE, FL> {
        OneLeaderPerEpoch {
            how: Param(Leadership {
                leader,
                epoch_word,
                epoch,
                leads,
            }),
            leaders: BTreeMap::new(),
            protocol: PhantomData,
        }
    }
}

/// The failure, built off the hot path.
#[cold]
#[inline(never)]
fn two_leaders(
    a: NodeId,
    b: NodeId,
    leader: &str,
    epoch_word: &str,
    epoch: &dyn Display,
) -> Failure {
    Failure::new(
        format!("{a} and {b} were both {leader}s in {epoch_word} {epoch}"),
        vec![a, b],
    )
}

impl<P, E, FE, FL> Monitor<P> for OneLeaderPerEpoch<P, E, FE, FL>
where
    P: Protocol,
    E: Ord + Clone + Hash + Display + 'static,
    FE: Fn(&P) -> E + Copy + 'static,
    FL: Fn(&P) -> bool + Copy + 'static,
{
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        for n in touched(view) {
            let Some(state) = view.node(n) else { continue };
            if !(self.how.leads)(state) {
                continue;
            }
            let epoch = (self.how.epoch)(state);
            match self.leaders.get(&epoch) {
                Some(&other) if other != n => {
                    return Err(two_leaders(
                        other,
                        n,
                        self.how.leader,
                        self.how.epoch_word,
                        &epoch,
                    ));
                }
                Some(_) => {}
                None => {
                    self.leaders.insert(epoch, n);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::toy::{Act, at, crash, expect_always, fails, passes, restart, run};
    use crate::base::types::NodeId;

    #[test]
    fn two_leaders_of_one_epoch_fail_even_years_apart() {
        // n1 leads view 2 and crashes; later n3 leads view 2 too.
        let r = run(
            3,
            &[
                at(100, 0, Act::Epoch(2)),
                at(110, 0, Act::Lead(true)),
                at(300, 2, Act::Epoch(2)),
                at(310, 2, Act::Lead(true)),
            ],
            &[crash(200, 0)],
            &[expect_always("one_coordinator")],
        );
        let f = fails(&r, "one_coordinator");
        assert_eq!(f.message, "n1 and n3 were both coordinators in epoch 2");
        assert_eq!(f.nodes, [NodeId(0), NodeId(2)]);
    }

    #[test]
    fn one_leader_per_epoch_holds_across_epochs_and_restarts() {
        // n1 leads view 1, crashes and comes back leading view 1 again (the same node may);
        // n2 leads view 2.
        let r = run(
            3,
            &[
                at(100, 0, Act::Epoch(1)),
                at(110, 0, Act::Lead(true)),
                at(400, 0, Act::Epoch(1)),
                at(410, 0, Act::Lead(true)),
                at(500, 1, Act::Epoch(2)),
                at(510, 1, Act::Lead(true)),
            ],
            &[crash(200, 0), restart(300, 0)],
            &[expect_always("one_coordinator")],
        );
        passes(&r);
    }
}
