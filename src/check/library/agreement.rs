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

/// How many decisions a node has made in this incarnation.
pub type DecisionCount<P> = for<'a> fn(&View<'a, P>, NodeId, &'a P) -> usize;
/// A node's i-th decision: its slot and its value.
pub type Decision<P, V> = for<'a> fn(&View<'a, P>, NodeId, &'a P, usize) -> (u64, V);

struct Journal<P: Protocol, V> {
    verb: &'static str,
    slot_word: &'static str,
    count: DecisionCount<P>,
    get: Decision<P, V>,
}

impl<P: Protocol, V> Clone for Journal<P, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P: Protocol, V> Copy for Journal<P, V> {}

/// At most one value per slot (see the module docs).
pub struct Agreement<P: Protocol, V> {
    journal: Param<Journal<P, V>>,
    /// Per node: the incarnation and how many of its decisions have been checked.
    checked: Vec<(u32, usize)>,
    /// Per slot: the value decided there, and the first node seen deciding it.
    decided: Vec<Option<(V, NodeId)>>,
}

impl<P: Protocol, V: Clone> Clone for Agreement<P, V> {
    fn clone(&self) -> Self {
        Agreement {
            journal: self.journal,
            checked: self.checked.clone(),
            decided: self.decided.clone(),
        }
    }
}

impl<P: Protocol, V: Hash> Hash for Agreement<P, V> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.checked.hash(state);
        self.decided.hash(state);
    }
}

impl<P: Protocol, V> Agreement<P, V> {
    /// `verb` and `slot_word` are the protocol's words ("applied" and "index" make "n2
    /// applied X at index 5, but n1 applied Y there").
    pub fn new(
        verb: &'static str,
        slot_word: &'static str,
        count: DecisionCount<P>,
        get: Decision<P, V>,
    ) -> Agreement<P, V> {
        Agreement {
            journal: Param(Journal {
                verb,
                slot_word,
                count,
                get,
            }),
            checked: Vec::new(),
            decided: Vec::new(),
        }
    }
}

impl<P: Protocol, V> Monitor<P> for Agreement<P, V>
where
    V: Eq + Clone + Hash + Display + 'static,
{
    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.checked.len() != n {
            self.checked.resize(n, (0, 0));
        }
        let j = *self.journal;
        for node in touched(view) {
            let Some(state) = view.node(node) else {
                continue;
            };
            let incarnation = view.incarnation(node);
            let count = (j.count)(view, node, state);
            let (was_in, mut done) = self.checked[node.index()];
            if was_in != incarnation || count < done {
                done = 0; // restarted: it decides from the start of its journal again
            }
            for i in done..count {
                let (slot, value) = (j.get)(view, node, state, i);
                let s = slot as usize;
                if self.decided.len() <= s {
                    self.decided.resize(s + 1, None);
                }
                match &self.decided[s] {
                    Some((other_value, other)) if *other_value != value => {
                        return Err(Failure::new(
                            format!(
                                "{node} {verb} {value} at {} {slot}, but {other} {verb} {other_value} there",
                                j.slot_word,
                                verb = j.verb
                            ),
                            vec![node, *other],
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
