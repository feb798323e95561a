//! One Paxos instance per (transaction, participant), as a kit component mounted in every
//! node: the acceptor's side (promise, accept, both durable before the answer) and the
//! ballot leader's side (tally the answers, run phase 1 and phase 2 of a recovery ballot,
//! announce each instance chosen).
//!
//! **Instances.** The instance `(t, rm)` decides participant `rm`'s vote on transaction `t`:
//! [`Choice::Prepared`] or [`Choice::Aborted`]. Ballot zero belongs to `rm` alone, which is
//! what makes the fast path one message delay long: `rm` skips phase 1 and sends its vote
//! straight to every acceptor as a phase-2a message ([`Consensus::propose_zero`]). Any node
//! may start a higher ballot for every instance of a transaction at once
//! ([`Consensus::recover`]); for an instance no acceptor of its phase-1 majority accepted
//! anything, it proposes [`Choice::Aborted`] (Gray and Lamport's rule: a participant that
//! may not have voted cannot be assumed prepared).
//!
//! **Ballots** are `(round, node)`: unique per node, ordered by round then node. A node
//! syncs the round of each ballot it starts (cell `round`) before it sends phase 1, so a
//! restart never reuses a ballot.
//!
//! **Durable state, kept bounded.** The acceptor keeps its instances in one store cell
//! (`acceptor`), rewritten and synced before every promise or accept leaves the node. A cell
//! rewritten whole costs what it holds, so it holds only undecided transactions: once its
//! node has logged a transaction's outcome, the host calls [`Consensus::forget`] and answers
//! every later phase-1a or 2a of that transaction with the outcome itself, on the
//! acceptor's behalf. A log of per-instance records would have made every accept O(1) but
//! would keep every instance of the run forever; the cell keeps the live ones, at most a few
//! per client. The highest ballot this acceptor ever promised is kept beside them, so it
//! never goes back, forgotten instances included.
//!
//! Cells used: `acceptor`, `round` (the host must not use them). Owns consensus on votes
//! only; knows nothing of locks, clients or what a transaction does.

use crate::kit::component::{CompCtx, Component};
use crate::kit::txn::{AbortWhy, TxnId, Vote};
use crate::protocol::NodeId;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// How many accepts a node remembers for the checks (more than any one step makes).
const RECENT_MAX: usize = 256;

/// A ballot: a round, then the node that owns it. `(0, 0)` is ballot zero, each
/// participant's own for its instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Ballot {
    /// The round.
    pub round: u64,
    /// Its owner (0 for ballot zero).
    pub node: u32,
}

impl Ballot {
    /// Ballot zero: the participant's own.
    pub const ZERO: Ballot = Ballot { round: 0, node: 0 };
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.round, self.node)
    }
}

/// The value an instance decides: the participant's vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// The participant prepared: it can commit.
    Prepared,
    /// The participant cannot commit (or may not have voted at all).
    Aborted,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Choice::Prepared => "prepared",
            Choice::Aborted => "aborted",
        })
    }
}

/// One instance at an acceptor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Slot {
    /// The highest ballot promised.
    pub promised: Ballot,
    /// The last value accepted, and its ballot.
    pub accepted: Option<(Ballot, Choice)>,
}

/// What the component keeps in its cells.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CRecord {
    /// Cell `acceptor`: the undecided instances, and the highest ballot ever promised.
    Acceptor {
        /// Per transaction and participant, in order.
        slots: Vec<(TxnId, NodeId, Slot)>,
        /// Highest ballot promised or accepted.
        max: Ballot,
    },
    /// Cell `round`: the round of the last ballot this node started.
    Round(u64),
}

/// Messages between the copies on different nodes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CMsg {
    /// Phase 1a: promise `ballot` for the instances of `txn`'s participants `rms`.
    Prepare {
        /// The transaction.
        txn: TxnId,
        /// Its participants (one instance each).
        rms: Vec<NodeId>,
        /// The new ballot.
        ballot: Ballot,
    },
    /// Phase 1b: promised; what this acceptor accepted per instance.
    Promise {
        /// The transaction.
        txn: TxnId,
        /// The ballot promised.
        ballot: Ballot,
        /// Per participant: the last value accepted, if any.
        accepted: Vec<(NodeId, Option<(Ballot, Choice)>)>,
    },
    /// Phase 2a: accept `choice` for instance `(txn, rm)` in `ballot`, and tell `leader`.
    Accept {
        /// The transaction.
        txn: TxnId,
        /// The instance's participant.
        rm: NodeId,
        /// The ballot.
        ballot: Ballot,
        /// The value.
        choice: Choice,
        /// Who counts the answers (the coordinator in ballot zero, else the ballot's owner).
        leader: NodeId,
        /// Ballot zero only: the participant's vote (its reads, or why it said no), passed
        /// on to the leader and not stored.
        vote: Option<Vote>,
    },
    /// Phase 2b: accepted.
    Accepted {
        /// The transaction.
        txn: TxnId,
        /// The instance's participant.
        rm: NodeId,
        /// The ballot.
        ballot: Ballot,
        /// The value.
        choice: Choice,
        /// The vote passed on from ballot zero's 2a.
        vote: Option<Vote>,
    },
    /// Refused: this acceptor promised a higher ballot for an instance of `txn`.
    Reject {
        /// The transaction.
        txn: TxnId,
        /// The ballot refused.
        ballot: Ballot,
        /// The ballot it promised.
        promised: Ballot,
    },
}

impl CMsg {
    /// The transaction it is about.
    pub fn txn(&self) -> TxnId {
        match self {
            CMsg::Prepare { txn, .. }
            | CMsg::Promise { txn, .. }
            | CMsg::Accept { txn, .. }
            | CMsg::Accepted { txn, .. }
            | CMsg::Reject { txn, .. } => *txn,
        }
    }

    /// Whether an acceptor answers it (phase 1a or 2a), rather than a leader.
    pub fn to_acceptor(&self) -> bool {
        matches!(self, CMsg::Prepare { .. } | CMsg::Accept { .. })
    }
}

/// An instance chosen, told to the node that counted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    /// The transaction.
    pub txn: TxnId,
    /// The instance's participant.
    pub rm: NodeId,
    /// The value chosen.
    pub choice: Choice,
    /// In which ballot (above zero: by a recovery ballot).
    pub ballot: Ballot,
    /// The participant's vote, when ballot zero carried it.
    pub vote: Option<Vote>,
}

/// A leader's count for one transaction.
#[derive(Clone, Debug, Default, Hash)]
struct Tally {
    /// Per (instance, ballot): the value and the acceptors that accepted it.
    votes: BTreeMap<(NodeId, Ballot), (Choice, Vec<NodeId>)>,
    /// Instances chosen.
    chosen: BTreeMap<NodeId, Choice>,
    /// A recovery ballot this node runs: its ballot, the instances, and the promises.
    recovery: Option<Recovery>,
}

#[derive(Clone, Debug, Hash)]
struct Recovery {
    ballot: Ballot,
    rms: Vec<NodeId>,
    promises: BTreeMap<NodeId, Vec<(NodeId, Last)>>,
    phase2: bool,
}

/// What an acceptor last accepted for an instance: the ballot and the value, if anything.
pub type Last = Option<(Ballot, Choice)>;

/// An accept, as the checks read it: transaction, participant, ballot, value.
pub type Accept = (TxnId, NodeId, Ballot, Choice);

/// Bug switches the component honours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConsensusBugs {
    /// A recovery ballot proposes Prepared for an instance with no accepted value.
    pub free_instance_prepared: bool,
    /// The acceptor keeps promises and accepted values in memory only.
    pub acceptor_not_durable: bool,
}

/// The component (see the module docs).
#[derive(Clone, Debug, Default, Hash)]
pub struct Consensus {
    slots: BTreeMap<TxnId, BTreeMap<NodeId, Slot>>,
    max: Ballot,
    round: u64,
    tallies: BTreeMap<TxnId, Tally>,
    accepts: u64,
    recent: VecDeque<Accept>,
    /// Bug switches.
    pub bugs: ConsensusBugs,
}

fn majority(nodes: u32) -> usize {
    nodes as usize / 2 + 1
}

impl Consensus {
    /// Participant `rm`'s own vote on `txn`, in ballot zero, to every acceptor; `leader`
    /// counts the answers.
    pub fn propose_zero(
        &mut self,
        cx: &mut CompCtx<'_, Self>,
        txn: TxnId,
        leader: NodeId,
        vote: Vote,
    ) {
        let choice = match vote {
            Vote::Yes { .. } => Choice::Prepared,
            Vote::No { .. } => Choice::Aborted,
        };
        let msg = CMsg::Accept {
            txn,
            rm: cx.id(),
            ballot: Ballot::ZERO,
            choice,
            leader,
            vote: Some(vote),
        };
        for to in cx.nodes() {
            cx.send(to, msg.clone());
        }
    }

    /// Starts a new ballot, higher than any this node saw, for every instance of `txn`
    /// (participants `rms`): phase 1 to every acceptor. Returns the ballot.
    pub fn recover(&mut self, cx: &mut CompCtx<'_, Self>, txn: TxnId, rms: Vec<NodeId>) -> Ballot {
        self.round = self.round.max(self.max.round).saturating_add(1);
        let ballot = Ballot {
            round: self.round,
            node: cx.id().0,
        };
        cx.write_cell("round", CRecord::Round(self.round));
        cx.sync();
        let tally = self.tallies.entry(txn).or_default();
        tally.recovery = Some(Recovery {
            ballot,
            rms: rms.clone(),
            promises: BTreeMap::new(),
            phase2: false,
        });
        let msg = CMsg::Prepare { txn, rms, ballot };
        for to in cx.nodes() {
            cx.send(to, msg.clone());
        }
        ballot
    }

    /// `txn` is decided and its outcome logged by the host: its instances and counts go.
    pub fn forget(&mut self, cx: &mut CompCtx<'_, Self>, txn: TxnId) {
        self.tallies.remove(&txn);
        if self.slots.remove(&txn).is_some() {
            self.persist(cx, false);
        }
    }

    /// Highest ballot this acceptor promised or accepted.
    pub fn max_ballot(&self) -> Ballot {
        self.max
    }

    /// Accepts made in this incarnation, and the latest ones (for the checks).
    pub fn accepts(&self) -> (u64, &VecDeque<Accept>) {
        (self.accepts, &self.recent)
    }

    /// The undecided instances this acceptor holds.
    pub fn slots(&self) -> &BTreeMap<TxnId, BTreeMap<NodeId, Slot>> {
        &self.slots
    }

    /// The ballot of the recovery this node runs for `txn`, if any.
    pub fn recovering(&self, txn: TxnId) -> Option<Ballot> {
        self.tallies
            .get(&txn)
            .and_then(|t| t.recovery.as_ref())
            .map(|r| r.ballot)
    }

    fn persist(&mut self, cx: &mut CompCtx<'_, Self>, sync: bool) {
        if self.bugs.acceptor_not_durable {
            return; // the mistake: promises and accepts live in memory only
        }
        cx.write_cell(
            "acceptor",
            CRecord::Acceptor {
                slots: self
                    .slots
                    .iter()
                    .flat_map(|(t, m)| m.iter().map(|(rm, s)| (*t, *rm, s.clone())))
                    .collect(),
                max: self.max,
            },
        );
        if sync {
            cx.sync();
        }
    }

    fn on_prepare(
        &mut self,
        cx: &mut CompCtx<'_, Self>,
        from: NodeId,
        txn: TxnId,
        rms: Vec<NodeId>,
        ballot: Ballot,
    ) {
        let slots = self.slots.entry(txn).or_default();
        let promised = rms
            .iter()
            .filter_map(|rm| slots.get(rm))
            .map(|s| s.promised)
            .max()
            .unwrap_or_default();
        if promised > ballot {
            cx.send(
                from,
                CMsg::Reject {
                    txn,
                    ballot,
                    promised,
                },
            );
            return;
        }
        let mut accepted = Vec::with_capacity(rms.len());
        for &rm in &rms {
            let slot = slots.entry(rm).or_default();
            slot.promised = ballot;
            accepted.push((rm, slot.accepted));
        }
        self.max = self.max.max(ballot);
        self.persist(cx, true);
        cx.send(
            from,
            CMsg::Promise {
                txn,
                ballot,
                accepted,
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn on_accept(
        &mut self,
        cx: &mut CompCtx<'_, Self>,
        from: NodeId,
        txn: TxnId,
        rm: NodeId,
        ballot: Ballot,
        choice: Choice,
        leader: NodeId,
        vote: Option<Vote>,
    ) {
        let slot = self.slots.entry(txn).or_default().entry(rm).or_default();
        if slot.promised > ballot {
            let promised = slot.promised;
            cx.send(
                from,
                CMsg::Reject {
                    txn,
                    ballot,
                    promised,
                },
            );
            return;
        }
        slot.promised = ballot;
        slot.accepted = Some((ballot, choice));
        self.max = self.max.max(ballot);
        self.accepts += 1;
        if self.recent.len() == RECENT_MAX {
            self.recent.pop_front();
        }
        self.recent.push_back((txn, rm, ballot, choice));
        self.persist(cx, true);
        cx.send(
            leader,
            CMsg::Accepted {
                txn,
                rm,
                ballot,
                choice,
                vote,
            },
        );
    }

    fn on_promise(
        &mut self,
        cx: &mut CompCtx<'_, Self>,
        from: NodeId,
        txn: TxnId,
        ballot: Ballot,
        accepted: Vec<(NodeId, Option<(Ballot, Choice)>)>,
    ) {
        let nodes = cx.cluster_size();
        let Some(r) = self
            .tallies
            .get_mut(&txn)
            .and_then(|t| t.recovery.as_mut())
            .filter(|r| r.ballot == ballot && !r.phase2)
        else {
            return;
        };
        r.promises.insert(from, accepted);
        if r.promises.len() < majority(nodes) {
            return;
        }
        r.phase2 = true;
        let free = if self.bugs.free_instance_prepared {
            Choice::Prepared // the mistake: a participant that may never have voted
        } else {
            Choice::Aborted
        };
        let mut proposals = Vec::with_capacity(r.rms.len());
        for &rm in &r.rms {
            let highest = r
                .promises
                .values()
                .flat_map(|a| a.iter())
                .filter(|(m, _)| *m == rm)
                .filter_map(|(_, acc)| *acc)
                .max_by_key(|(b, _)| *b);
            proposals.push((rm, highest.map_or(free, |(_, c)| c)));
        }
        let leader = cx.id();
        for (rm, choice) in proposals {
            let msg = CMsg::Accept {
                txn,
                rm,
                ballot,
                choice,
                leader,
                vote: None,
            };
            for to in cx.nodes() {
                cx.send(to, msg.clone());
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_accepted(
        &mut self,
        cx: &mut CompCtx<'_, Self>,
        from: NodeId,
        txn: TxnId,
        rm: NodeId,
        ballot: Ballot,
        choice: Choice,
        vote: Option<Vote>,
    ) {
        let need = majority(cx.cluster_size());
        let tally = self.tallies.entry(txn).or_default();
        if let Some(&was) = tally.chosen.get(&rm) {
            // Told again: the host may not have been leading the transaction the first time
            // (a coordinator that restarted before its client's retry came back).
            cx.output(Chosen {
                txn,
                rm,
                choice: was,
                ballot,
                vote,
            });
            return;
        }
        let (c, by) = tally
            .votes
            .entry((rm, ballot))
            .or_insert_with(|| (choice, Vec::new()));
        debug_assert_eq!(*c, choice, "one value per ballot");
        if !by.contains(&from) {
            by.push(from);
        }
        if by.len() >= need {
            tally.chosen.insert(rm, choice);
            tally.votes.retain(|(m, _), _| *m != rm);
            cx.output(Chosen {
                txn,
                rm,
                choice,
                ballot,
                vote,
            });
        }
    }
}

impl Component for Consensus {
    type Msg = CMsg;
    type Timer = ();
    type Record = CRecord;
    type Output = Chosen;

    fn on_recover(&mut self, cx: &mut CompCtx<'_, Self>) {
        if let Some(CRecord::Acceptor { slots, max }) = cx.cell("acceptor") {
            for (t, rm, slot) in slots {
                self.slots.entry(t).or_default().insert(rm, slot);
            }
            self.max = max;
        }
        if let Some(CRecord::Round(r)) = cx.cell("round") {
            self.round = r;
        }
    }

    fn on_message(&mut self, cx: &mut CompCtx<'_, Self>, from: NodeId, msg: CMsg) {
        match msg {
            CMsg::Prepare { txn, rms, ballot } => self.on_prepare(cx, from, txn, rms, ballot),
            CMsg::Promise {
                txn,
                ballot,
                accepted,
            } => self.on_promise(cx, from, txn, ballot, accepted),
            CMsg::Accept {
                txn,
                rm,
                ballot,
                choice,
                leader,
                vote,
            } => self.on_accept(cx, from, txn, rm, ballot, choice, leader, vote),
            CMsg::Accepted {
                txn,
                rm,
                ballot,
                choice,
                vote,
            } => self.on_accepted(cx, from, txn, rm, ballot, choice, vote),
            CMsg::Reject { promised, .. } => {
                // The next recovery of this transaction starts above it.
                self.round = self.round.max(promised.round);
            }
        }
    }

    fn on_timer(&mut self, _: &mut CompCtx<'_, Self>, _: ()) {}
}

/// Why a transaction aborted, from the instance that chose Aborted.
pub fn abort_why(vote: Option<&Vote>) -> AbortWhy {
    match vote {
        Some(Vote::No { why }) => *why,
        _ => AbortWhy::Timeout,
    }
}
