//! Paxos Commit's checks and metrics, and what they read of a node.
//!
//! The kit's transactional checks (`crate::kit::txn::checks`): `atomicity` and
//! `money_conserved` in every run, `in_doubt_resolves` and `commits_after_heal` where a
//! scenario expects them (the swarm after the heal; `paxoscommit/coordinator-crash`, where
//! in-doubt transactions resolve although their coordinator stays down).
//!
//! Its own: `one_value_per_instance` (Paxos's agreement, per instance: at most one value is
//! ever chosen by a majority of acceptors in any ballot) and `acceptor_ballots_never_go_back`
//! (the library's `Monotonic::durable` over the highest ballot an acceptor promised).
//! Metrics: transactions committed and aborted by their leaders, and how many of those
//! decisions a recovery ballot took.

use super::PaxosCommit;
use super::consensus::{Accept, Ballot, Choice};
use crate::kit::txn::checks::{self as shared, TxnNode};
use crate::kit::txn::{Participant, TxnId, TxnParams};
use crate::protocol::library::{Monotonic, touched};
use crate::protocol::{
    Failure, Metric, MetricDef, Monitor, NodeId, PropertyDef, Time, Trigger, View,
};
use std::collections::{BTreeMap, VecDeque};

/// What the checks and metrics read of a node (kept beside them: the mutation routine leaves
/// this file alone, docs/scale.md).
impl PaxosCommit {
    /// Highest ballot the node's acceptor promised or accepted.
    pub fn max_ballot(&self) -> Ballot {
        self.consensus.max_ballot()
    }
    /// Accepts made in this incarnation, and the latest ones.
    pub fn accepts(&self) -> (u64, &VecDeque<Accept>) {
        self.consensus.accepts()
    }
    /// Decisions taken here as a leader in this incarnation: committed, aborted, and how
    /// many of them by a recovery ballot.
    pub fn decisions(&self) -> (u64, u64, u64) {
        self.decisions
    }
    /// The outcome this node logged for `txn`, if any.
    pub fn outcome(&self, txn: TxnId) -> Option<bool> {
        self.outcomes.get(&txn).map(|(c, _)| *c)
    }
}

impl TxnNode for PaxosCommit {
    fn participant(&self) -> &Participant {
        &self.participant
    }
    fn txn_params(&self) -> &TxnParams {
        &self.config.txn
    }
    fn in_doubt_bound(&self) -> Time {
        Time::from_ms(self.config.in_doubt_ms)
    }
}

pub(super) fn properties() -> Vec<PropertyDef<PaxosCommit>> {
    let mut all = shared::properties();
    all.extend([
        PropertyDef::monitor(
            "one_value_per_instance",
            "at most one value is chosen per instance (transaction, participant): no two ballots see a majority of acceptors accept different votes",
            OneValue::default(),
        )
        .always(),
        PropertyDef::monitor(
            "acceptor_ballots_never_go_back",
            "the highest ballot an acceptor promised never goes down, across restarts too",
            Monotonic::durable("acceptor ballot", PaxosCommit::max_ballot),
        )
        .always(),
    ]);
    all
}

/// One instance as the acceptors voted: per ballot, the value and who accepted it.
#[derive(Clone, Debug, Default, Hash)]
struct Instance {
    ballots: BTreeMap<Ballot, (Choice, Vec<NodeId>)>,
    chosen: Option<(Choice, Ballot)>,
}

/// At most one value chosen per instance (see `properties`). Reads each node's accepts as a
/// journal: per node, the incarnation and how many of its accepts were read.
#[derive(Clone, Debug, Default, Hash)]
pub(super) struct OneValue {
    read: Vec<(u32, u64)>,
    instances: BTreeMap<(TxnId, NodeId), Instance>,
}

#[cold]
#[inline(never)]
fn two_values(inst: (TxnId, NodeId), first: (Choice, Ballot), then: (Choice, Ballot)) -> Failure {
    let ((t, rm), (a, ab), (b, bb)) = (inst, first, then);
    Failure::new(
        format!(
            "instance {t}/{rm}: a majority of acceptors chose {a} in ballot {ab}, then another majority chose {b} in ballot {bb}"
        ),
        vec![rm],
    )
}

impl Monitor<PaxosCommit> for OneValue {
    fn check(&mut self, view: &View<'_, PaxosCommit>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        let need = n / 2 + 1;
        if self.read.len() != n {
            self.read.resize(n, (0, 0));
        }
        for node in touched(view) {
            let Some(p) = view.node(node) else {
                continue;
            };
            let inc = view.incarnation(node);
            let (count, recent) = p.accepts();
            let seen = &mut self.read[node.index()];
            if seen.0 != inc || count < seen.1 {
                *seen = (inc, 0);
            }
            let new = (count - seen.1).min(recent.len() as u64) as usize;
            seen.1 = count;
            for &(t, rm, ballot, choice) in recent.iter().skip(recent.len() - new) {
                let inst = self.instances.entry((t, rm)).or_default();
                let (c, by) = inst
                    .ballots
                    .entry(ballot)
                    .or_insert_with(|| (choice, Vec::new()));
                if *c != choice {
                    // Two values in one ballot: only a reused ballot does this.
                    return Err(two_values((t, rm), (*c, ballot), (choice, ballot)));
                }
                if !by.contains(&node) {
                    by.push(node);
                }
                if by.len() >= need {
                    match inst.chosen {
                        Some((was, at)) if was != choice => {
                            return Err(two_values((t, rm), (was, at), (choice, ballot)));
                        }
                        Some(_) => {}
                        None => inst.chosen = Some((choice, ballot)),
                    }
                }
            }
        }
        Ok(())
    }
}

pub(super) fn metrics() -> Vec<MetricDef<PaxosCommit>> {
    vec![MetricDef {
        name: "paxoscommit",
        description: "transactions committed and aborted by their leaders, and the decisions a recovery ballot took (a transaction two leaders decide counts twice)",
        make: |_| Box::new(Decisions::default()),
    }]
}

/// Decisions, summed over nodes and incarnations.
#[derive(Default)]
struct Decisions {
    /// Per node: its incarnation and its counts when last seen.
    last: Vec<(u32, (u64, u64, u64))>,
    total: (u64, u64, u64),
}

impl Metric<PaxosCommit> for Decisions {
    fn observe(&mut self, view: &View<'_, PaxosCommit>) {
        let n = view.cluster_size() as usize;
        if self.last.len() != n {
            self.last.resize(n, (0, (0, 0, 0)));
        }
        for node in touched(view) {
            let Some(p) = view.node(node) else { continue };
            let inc = view.incarnation(node);
            let now = p.decisions();
            let last = &mut self.last[node.index()];
            if last.0 != inc {
                *last = (inc, (0, 0, 0));
            }
            self.total.0 += now.0.saturating_sub(last.1.0);
            self.total.1 += now.1.saturating_sub(last.1.1);
            self.total.2 += now.2.saturating_sub(last.1.2);
            last.1 = now;
        }
    }

    fn report(&self) -> Vec<(String, serde_json::Value)> {
        vec![
            ("paxoscommit.committed".into(), self.total.0.into()),
            ("paxoscommit.aborted".into(), self.total.1.into()),
            ("paxoscommit.recovery_decisions".into(), self.total.2.into()),
        ]
    }
}
