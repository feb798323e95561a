//! Agreement: at most one value is decided per slot, by any node, in any incarnation.
//!
//! Used by Raft (`state_machine_safety`, Figure 2's State Machine Safety: the entries a node
//! applies, by log index). Multi-Paxos checks its decided slots the same way, a replicated
//! state machine on primary-backup its executed operations.
//!
//! A node's decisions are read as a journal: `count` says how many it has made in this
//! incarnation, `get` gives the i-th as (slot, value). Slots are small dense numbers (log
//! indexes from 1, say). A monitor: it remembers the value of every decided slot and, per
//! node, how much of its journal it has checked, so each step checks only new decisions. A
//! node that restarts (a new incarnation, or a journal that shrank) is checked from the start
//! of its journal again.

use super::touched;
use crate::base::types::NodeId;
use crate::check::{Failure, Monitor, Param, Trigger, View};
use crate::protocol::Protocol;
use std::fmt::Display;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

#[derive(Clone, Copy)]
struct Journal<C, G> {
    verb: &'static str,
    slot_word: &'static str,
    count: C,
    get: G,
}

/// At most one value per slot (see the module docs). `C` says how many decisions a node has
/// made in this incarnation, `G` gives its i-th as (slot, value); both are functions or
/// closures without captures, called directly.
pub struct Agreement<P, V, C, G> {
    journal: Param<Journal<C, G>>,
    /// Per node: the incarnation and how many of its decisions have been checked.
    checked: Vec<(u32, usize)>,
    /// Per slot: the value decided there, and the first node seen deciding it.
    decided: Vec<Option<(V, NodeId)>>,
    protocol: PhantomData<fn(&P)>,
}

impl<P, V: Clone, C: Copy, G: Copy> Clone for Agreement<P, V, C, G> {
    fn clone(&self) -> Self {
        Agreement {
            journal: self.journal,
            checked: self.checked.clone(),
            decided: self.decided.clone(),
            protocol: PhantomData,
        }
    }
}

impl<P, V: Hash, C, G> Hash for Agreement<P, V, C, G> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.checked.hash(state);
        self.decided.hash(state);
    }
}

impl<P, V, C, G> Agreement<P, V, C, G>
where
    P: Protocol,
    C: for<'a> Fn(&View<'a, P>, NodeId, &'a P) -> usize,
    G: for<'a> Fn(&View<'a, P>, NodeId, &'a P, usize) -> (u64, V),
{
    /// `verb` and `slot_word` are the protocol's words ("applied" and "index" make "n2
    /// applied X at index 5, but n1 applied Y there").
    pub fn new(
        verb: &'static str,
        slot_word: &'static str,
        count: C,
        get: G,
    ) -> Agreement<P, V, C, G> {
        Agreement {
            journal: Param(Journal {
                verb,
                slot_word,
                count,
                get,
            }),
            checked: Vec::new(),
            decided: Vec::new(),
            protocol: PhantomData,
        }
    }
}

/// The failure, built off the hot path.
#[cold]
#[inline(never)]
fn disagree(
    node: NodeId,
    value: &dyn Display,
    other: NodeId,
    other_value: &dyn Display,
    slot: u64,
    verb: &str,
    slot_word: &str,
) -> Failure {
    Failure::new(
        format!(
            "{node} {verb} {value} at {slot_word} {slot}, but {other} {verb} {other_value} there"
        ),
        vec![node, other],
    )
}

impl<P, V, C, G> Monitor<P> for Agreement<P, V, C, G>
where
    P: Protocol,
    V: Eq + Clone + Hash + Display + 'static,
    C: for<'a> Fn(&View<'a, P>, NodeId, &'a P) -> usize + Copy + 'static,
    G: for<'a> Fn(&View<'a, P>, NodeId, &'a P, usize) -> (u64, V) + Copy + 'static,
{
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.checked.len() != n {
            self.checked.resize(n, (0, 0));
        }
        for node in touched(view) {
            let Some(state) = view.node(node) else {
                continue;
            };
            let incarnation = view.incarnation(node);
            let count = (self.journal.count)(view, node, state);
            let (was_in, mut done) = self.checked[node.index()];
            if was_in != incarnation || count < done {
                done = 0; // restarted: it decides from the start of its journal again
            }
            for i in done..count {
                let (slot, value) = (self.journal.get)(view, node, state, i);
                let s = slot as usize;
                if self.decided.len() <= s {
                    self.decided.resize(s + 1, None);
                }
                match &self.decided[s] {
                    Some((other_value, other)) if *other_value != value => {
                        let j = &self.journal;
                        return Err(disagree(
                            node,
                            &value,
                            *other,
                            other_value,
                            slot,
                            j.verb,
                            j.slot_word,
                        ));
                    }
                    Some(_) => {}
                    None => self.decided[s] = Some((value, node)),
                }
            }
            self.checked[node.index()] = (incarnation, count);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::toy::{Act, at, crash, expect_always, fails, passes, restart, run};
    use crate::base::types::NodeId;

    #[test]
    fn two_values_in_one_slot_fail() {
        let r = run(
            3,
            &[
                at(100, 0, Act::Decide(1, 10)),
                at(100, 1, Act::Decide(1, 10)),
                at(200, 0, Act::Decide(2, 20)),
                at(300, 2, Act::Decide(1, 10)),
                at(300, 2, Act::Decide(2, 21)),
            ],
            &[],
            &[expect_always("agreement")],
        );
        let f = fails(&r, "agreement");
        assert_eq!(
            f.message,
            "n3 decided 21 at slot 2, but n1 decided 20 there"
        );
        assert_eq!(f.nodes, [NodeId(2), NodeId(0)]);
    }

    #[test]
    fn a_restarted_node_is_checked_again_from_the_start() {
        // n2 decides slot 1 = 10 like n1, crashes, and after its restart decides 11 there.
        let r = run(
            2,
            &[
                at(100, 0, Act::Decide(1, 10)),
                at(100, 1, Act::Decide(1, 10)),
                at(400, 1, Act::Decide(1, 11)),
            ],
            &[crash(200, 1), restart(300, 1)],
            &[expect_always("agreement")],
        );
        let f = fails(&r, "agreement");
        assert_eq!(
            f.message,
            "n2 decided 11 at slot 1, but n1 decided 10 there"
        );
        // Deciding the same values again after the restart is fine.
        let r = run(
            2,
            &[
                at(100, 0, Act::Decide(1, 10)),
                at(100, 1, Act::Decide(1, 10)),
                at(400, 1, Act::Decide(1, 10)),
                at(500, 1, Act::Decide(2, 30)),
            ],
            &[crash(200, 1), restart(300, 1)],
            &[expect_always("agreement")],
        );
        passes(&r);
    }
}
