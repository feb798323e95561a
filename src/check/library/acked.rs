//! Acknowledged writes survive: every entry a node has acknowledged (committed) is in the
//! *synced* record log of a majority of the nodes, so no crash of a minority can lose it.
//!
//! Used by Raft (`committed_never_lost`: an entry is acknowledged once a node's commit index
//! covers it). Any protocol that keeps a log in its store's records and acknowledges a prefix
//! of it (Multi-Paxos's accepted log, a write-ahead log replicated to backups) can use it; a
//! register that keeps one value in a cell (ABD) checks its durability with a durable
//! [`super::Monotonic`] tag instead.
//!
//! Entries are identified by `id` (Raft: the entry's term and its command), so a log whose
//! entry at an index was replaced no longer counts as holding the old one. A monitor: it
//! keeps a copy of each node's synced log (as ids), the acknowledged entries and how many
//! synced logs hold each; a step updates only the touched node's changed suffix, and each
//! newly acknowledged entry once.

use super::touched;
use crate::base::types::NodeId;
use crate::check::{Failure, Monitor, Param, Trigger, View};
use crate::protocol::Protocol;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

#[derive(Clone, Copy)]
struct Log<A, I, D> {
    acked: A,
    id: I,
    describe: D,
}

/// Every acknowledged entry is durable on a majority (see the module docs). `A` says how
/// many entries of its record log a node has acknowledged, `I` identifies an entry and `D`
/// describes one for messages; functions or closures without captures, called directly.
pub struct AckedSurvive<P, V, A, I, D> {
    log: Param<Log<A, I, D>>,
    /// Per node: its synced log as last seen, as ids.
    synced: Vec<Vec<V>>,
    /// Acknowledged entries, by position.
    acked: Vec<V>,
    /// Per acknowledged position: how many synced logs hold it.
    holders: Vec<u32>,
    /// Acknowledged positions held by fewer than a majority.
    short: BTreeSet<usize>,
    protocol: PhantomData<fn(&P)>,
}

impl<P, V: Clone, A: Copy, I: Copy, D: Copy> Clone for AckedSurvive<P, V, A, I, D> {
    fn clone(&self) -> Self {
        AckedSurvive {
            log: self.log,
            synced: self.synced.clone(),
            acked: self.acked.clone(),
            holders: self.holders.clone(),
            short: self.short.clone(),
            protocol: PhantomData,
        }
    }
}

impl<P, V: Hash, A, I, D> Hash for AckedSurvive<P, V, A, I, D> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.synced.hash(state);
        self.acked.hash(state);
        self.holders.hash(state);
        self.short.hash(state);
    }
}

impl<P, V, A, I, D> AckedSurvive<P, V, A, I, D>
where
    P: Protocol,
    A: for<'a> Fn(&View<'a, P>, NodeId, &'a P) -> usize,
    I: Fn(&P::Record) -> V,
    D: Fn(&V, u64) -> String,
{
    /// `acked` says how many entries of its record log a node has acknowledged (it is capped
    /// at the log's length), `id` identifies an entry, and `describe` names an acknowledged
    /// entry and its position (from 1) for messages: "the entry (a no-op) of term 1
    /// committed at index 1".
    pub fn new(acked: A, id: I, describe: D) -> AckedSurvive<P, V, A, I, D> {
        AckedSurvive {
            log: Param(Log {
                acked,
                id,
                describe,
            }),
            synced: Vec::new(),
            acked: Vec::new(),
            holders: Vec::new(),
            short: BTreeSet::new(),
            protocol: PhantomData,
        }
    }
}

impl<P, V, A, I, D> AckedSurvive<P, V, A, I, D> {
    /// Counts one more (or one fewer) holder of acknowledged position `k`.
    fn set(&mut self, k: usize, held: bool, majority: u32) {
        let before = self.holders[k] >= majority;
        if held {
            self.holders[k] += 1;
        } else {
            self.holders[k] -= 1;
        }
        let after = self.holders[k] >= majority;
        if before && !after {
            self.short.insert(k);
        } else if !before && after {
            self.short.remove(&k);
        }
    }

    /// The acknowledged positions (from 0) held by fewer than a majority of synced logs, in
    /// order: what a protocol with other ways to keep an entry (a guard on a damaged copy)
    /// looks at again, and only those.
    pub fn short_positions(&self) -> impl Iterator<Item = usize> + '_ {
        self.short.iter().copied()
    }
}

impl<P, V, A, I, D> Monitor<P> for AckedSurvive<P, V, A, I, D>
where
    P: Protocol,
    V: Eq + Clone + Hash + 'static,
    A: for<'a> Fn(&View<'a, P>, NodeId, &'a P) -> usize + Copy + 'static,
    I: Fn(&P::Record) -> V + Copy + 'static,
    D: Fn(&V, u64) -> String + Copy + 'static,
{
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        self.update(view);
        match self.short.first() {
            Some(&k) => Err(self.failure(view, k)),
            None => Ok(()),
        }
    }
}

impl<P, V, A, I, D> AckedSurvive<P, V, A, I, D>
where
    P: Protocol,
    V: Eq + Clone + Hash + 'static,
    A: for<'a> Fn(&View<'a, P>, NodeId, &'a P) -> usize + Copy + 'static,
    I: Fn(&P::Record) -> V + Copy + 'static,
    D: Fn(&V, u64) -> String + Copy + 'static,
{
    /// Takes in what this step changed: the touched nodes' synced logs and acknowledgements.
    /// Costs what changed, never the whole log.
    pub fn update(&mut self, view: &View<'_, P>) {
        let n = view.cluster_size() as usize;
        let majority = view.cluster_size() / 2 + 1;
        if self.synced.len() != n {
            self.synced = vec![Vec::new(); n];
        }
        let log = *self.log;
        for node in touched(view) {
            let i = node.index();
            let synced = view.store(node).synced_records();
            let old = &self.synced[i];
            let mut from = old.len().min(synced.len());
            while from > 0 && old[from - 1] != (log.id)(&synced[from - 1]) {
                from -= 1;
            }
            // Entries from `from` on changed: withdraw the old ones, count the new ones.
            for k in from..self.synced[i].len() {
                if self.acked.get(k) == Some(&self.synced[i][k]) {
                    self.set(k, false, majority);
                }
            }
            self.synced[i].truncate(from);
            for (k, r) in synced.iter().enumerate().skip(from) {
                let id = (log.id)(r);
                if self.acked.get(k) == Some(&id) {
                    self.set(k, true, majority);
                }
                self.synced[i].push(id);
            }
            // Newly acknowledged entries, learned from this node's acknowledgements and log.
            if let Some(state) = view.node(node) {
                let current = view.store(node).records();
                let upto = (log.acked)(view, node, state).min(current.len());
                while self.acked.len() < upto {
                    let k = self.acked.len();
                    let id = (log.id)(&current[k]);
                    let held = self.synced.iter().filter(|l| l.get(k) == Some(&id)).count() as u32;
                    self.acked.push(id);
                    self.holders.push(held);
                    if held < majority {
                        self.short.insert(k);
                    }
                }
            }
        }
    }

    /// The failure for acknowledged position `k` (from 0): which synced logs hold it.
    pub fn failure(&self, view: &View<'_, P>, k: usize) -> Failure {
        let n = view.cluster_size() as usize;
        let log = *self.log;
        let holders: Vec<NodeId> = (0..n as u32)
            .map(NodeId)
            .filter(|x| self.synced[x.index()].get(k) == Some(&self.acked[k]))
            .collect();
        let names: Vec<String> = holders.iter().map(|h| h.to_string()).collect();
        Failure::new(
            format!(
                "{} is in the synced log of only {} of {n} nodes ({}); a crash of the others would lose it",
                (log.describe)(&self.acked[k], k as u64 + 1),
                self.holders[k],
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
            holders,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::toy::{Act, at, crash, expect_always, fails, passes, restart, run};
    use crate::base::types::NodeId;

    #[test]
    fn an_acknowledged_entry_synced_on_a_minority_fails() {
        // Three nodes append entry 7; only n1 syncs it, and n1 acknowledges it.
        let r = run(
            3,
            &[
                at(100, 0, Act::Append(7)),
                at(100, 1, Act::Append(7)),
                at(100, 2, Act::Append(7)),
                at(110, 0, Act::Sync),
                at(120, 0, Act::Ack(1)),
            ],
            &[],
            &[expect_always("acked_survive")],
        );
        let f = fails(&r, "acked_survive");
        assert_eq!(
            f.message,
            "entry 7 acknowledged at position 1 is in the synced log of only 1 of 3 nodes (n1); a crash of the others would lose it"
        );
        assert_eq!(f.nodes, [NodeId(0)]);
    }

    #[test]
    fn an_entry_is_durable_once_a_majority_synced_it_and_stops_being_when_replaced() {
        // A majority syncs entry 7 before n1 acknowledges it: it holds.
        let synced = [
            at(100, 0, Act::Append(7)),
            at(100, 1, Act::Append(7)),
            at(110, 0, Act::Sync),
            at(110, 1, Act::Sync),
            at(120, 0, Act::Ack(1)),
        ];
        passes(&run(3, &synced, &[], &[expect_always("acked_survive")]));
        // A crash of the one node that had not synced it changes nothing either.
        passes(&run(
            3,
            &synced,
            &[crash(200, 2), restart(300, 2)],
            &[expect_always("acked_survive")],
        ));
        // Then n2 replaces it with entry 8 and syncs: only n1 holds 7 any more.
        let mut replaced = synced.to_vec();
        replaced.extend([
            at(200, 1, Act::Truncate(0)),
            at(200, 1, Act::Append(8)),
            at(210, 1, Act::Sync),
        ]);
        let f = fails(
            &run(3, &replaced, &[], &[expect_always("acked_survive")]),
            "acked_survive",
        );
        assert!(
            f.message.contains("only 1 of 3 nodes (n1)"),
            "{}",
            f.message
        );
    }
}
