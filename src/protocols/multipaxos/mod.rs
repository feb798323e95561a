//! Multi-Paxos: a replicated key-value store built from a sequence of Paxos instances, one per
//! log slot, with a distinguished proposer (the leader) that runs phase 1 once for every
//! future slot and phase 2 once per slot.
//!
//! Reference: Lamport, "Paxos Made Simple" (2001), §3 "Implementing a State Machine"; van
//! Renesse and Altinbuken, "Paxos Made Moderately Complex" (2015) for the leader's
//! bookkeeping. docs/paxos.md (part two) goes from the paper to this file and lists every
//! choice the paper leaves open.
//!
//! - **Ballots.** The single-decree protocol's [`Ballot`] `(round, node)`, imported from
//!   `protocols::paxos`. A node that stands for leader takes a round above every round it
//!   used or saw, writes it to the cell `round` and syncs before its prepare leaves, so a
//!   restarted node never reuses a ballot.
//! - **Phase 1, once for all slots (§3).** `prepare(b, from)` asks every acceptor to promise
//!   `b` for every slot from `from` (one past the candidate's chosen prefix) on. An acceptor
//!   that promised nothing higher promises, syncs the cell `promised`, and answers with every
//!   proposal it accepted at those slots. With promises from a majority the candidate leads:
//!   for each slot up to the highest one reported it re-proposes the highest-ballot value
//!   reported (P2c, per slot), and fills a slot nobody reported with a no-op (§3: "a new
//!   leader ... fills the gaps with no-op commands").
//! - **Phase 2, per slot.** The leader gives each client command the next free slot and sends
//!   `accept(b, slot, command, chosen prefix)` to every acceptor. An acceptor that promised
//!   nothing higher accepts, appends the proposal to its journal (the store's record log),
//!   syncs, and answers the leader, which is the distinguished learner: a majority of answers
//!   and the slot is chosen.
//! - **Learning and catch-up.** Accept requests and heartbeats carry the leader's chosen
//!   prefix. A follower marks a slot below it chosen when the proposal it accepted there is of
//!   the leader's own ballot (the leader proposes one value per slot per ballot); for any
//!   slot still missing it asks the leader (`catch_up`), which sends the chosen commands. So
//!   a replica that was down or cut off catches up without any new ballot.
//! - **Leader election with backoff.** A follower that hears no heartbeat for a randomized
//!   election timeout stands. A candidate or leader that meets a higher ballot (a refusal,
//!   or a prepare or accept of a higher ballot at its own acceptor) steps back and, with
//!   `backoff` on, waits a heartbeat period plus a random time whose bound doubles with each
//!   pre-emption before it stands again, unless a leader's heartbeat comes first. `backoff` is
//!   a parameter, not a bug switch: with it off, election timeouts are fixed and a pre-empted
//!   node stands again at once; `multipaxos/duel-no-backoff` shows the livelock.
//! - **Clients.** A node that does not lead redirects (the kit's `NotLeader` with a hint).
//!   Every command carries its client's request id; the kit's `KvService` applies a retried
//!   command once and answers it again. Reads go through the log like writes.
//!
//! Durable state: the cells `round` and `promised`, and the journal of acceptances (one
//! record per accepted proposal; the latest record for a slot wins on recovery). Chosen
//! commands and the key-value map are volatile: a restarted node learns them again.
//!
//! Bug switches (`protocol.params.bugs`), each a classic Multi-Paxos mistake; docs/paxos.md
//! says which check catches each.

mod checks;
#[cfg(test)]
mod tests;

pub use crate::kit::kv::{Answer, Command, Op};
pub use crate::protocols::paxos::Ballot;

use crate::kit::kv::{self, KvGenerator, KvMix, KvService, KvWorkload, Seen, Waiting};
use crate::kit::quorum::Quorum;
use crate::protocol::{
    ClientId, Ctx, Driver, HistoryCall, HistoryCheck, Knob, Liveness, MetricDef, NodeId,
    PropertyDef, Protocol, RequestId, Shown, Store, Time, Val, Vocabulary,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// A new leader proposes no-ops in every unchosen slot, ignoring the values its
    /// promises report there.
    pub noop_instead_of_reproposal: bool,
    /// A node that led before, standing again, skips phase 1 for its new ballot and goes
    /// straight to phase 2 with what it knows.
    pub skip_prepare_on_reelection: bool,
    /// The leader treats a slot as chosen (applies it and answers the client) as soon as its
    /// own acceptor has accepted it, before a majority has.
    pub apply_before_chosen: bool,
    /// A follower learns from the leader's chosen prefix whatever it accepted in a slot,
    /// without checking that it accepted it in the leader's ballot.
    pub learn_without_ballot_check: bool,
}

/// Parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Shortest election timeout, milliseconds of local time.
    pub election_ms_min: u64,
    /// Longest election timeout, milliseconds (with `backoff` off, every timeout is
    /// `election_ms_min`).
    pub election_ms_max: u64,
    /// Leader heartbeat period, milliseconds; unchosen proposals are sent again at each.
    pub heartbeat_ms: u64,
    /// Most chosen commands in one catch-up reply.
    pub batch_max: usize,
    /// Randomized exponential backoff after a pre-emption, and randomized election
    /// timeouts (on: progress; off: a pre-empted node stands again at once).
    pub backoff: bool,
    /// The first backoff bound, milliseconds; it doubles with each pre-emption in a row.
    pub backoff_ms: u64,
    /// The largest backoff bound, milliseconds.
    pub backoff_ms_max: u64,
    /// Keys the workload uses (`k0` .. `k{keys-1}`).
    pub keys: u32,
    /// Percentage of client operations that are gets; absent, gets, puts and appends are
    /// equally likely.
    pub read_percent: Option<u32>,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            election_ms_min: 150,
            election_ms_max: 300,
            heartbeat_ms: 50,
            batch_max: 64,
            backoff: true,
            backoff_ms: 50,
            backoff_ms_max: 800,
            keys: 5,
            read_percent: None,
            bugs: Bugs::default(),
        }
    }
}

impl KvWorkload for Config {
    fn kv_mix(&self) -> KvMix {
        KvMix {
            keys: self.keys,
            read_percent: self.read_percent,
        }
    }
}

/// A proposal an acceptor accepted in one slot: a ballot and its command (`None`: a no-op).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Proposal {
    /// The ballot it was accepted in.
    pub ballot: Ballot,
    /// The command; `None` for a leader's no-op.
    pub command: Option<Command>,
}

/// What the store holds: the journal of acceptances as records, round and promise as cells.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// The highest round this node used for a ballot of its own (cell `"round"`).
    Round(u64),
    /// The ballot this acceptor promised (cell `"promised"`).
    Promised(Ballot),
    /// The acceptor accepted `proposal` in `slot` (a journal record; the last one for a slot
    /// is the acceptor's state there).
    Accepted {
        /// The slot.
        slot: u64,
        /// What was accepted.
        proposal: Proposal,
    },
}

/// Messages between nodes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Phase 1a, for every slot from `from` on.
    Prepare {
        /// The candidate's ballot.
        ballot: Ballot,
        /// The first slot the candidate does not know chosen.
        from: u64,
    },
    /// Phase 1b: the promise, with what the acceptor accepted from `from` on.
    Promise {
        /// The ballot promised.
        ballot: Ballot,
        /// Per slot, the proposal accepted there.
        accepted: Vec<(u64, Proposal)>,
    },
    /// The acceptor refused `ballot`: it promised a higher one.
    Nack {
        /// The ballot refused.
        ballot: Ballot,
        /// What the acceptor promised.
        promised: Ballot,
    },
    /// Phase 2a for one slot.
    Accept {
        /// The leader's ballot.
        ballot: Ballot,
        /// The slot.
        slot: u64,
        /// The command (`None`: a no-op).
        command: Option<Command>,
        /// The leader's chosen prefix: every slot up to it is chosen.
        chosen: u64,
    },
    /// Phase 2b, to the leader.
    Accepted {
        /// The ballot accepted.
        ballot: Ballot,
        /// The slot.
        slot: u64,
    },
    /// The leader is alive; its chosen prefix.
    Heartbeat {
        /// The leader's ballot.
        ballot: Ballot,
        /// The leader's chosen prefix.
        chosen: u64,
    },
    /// A lagging replica asks for the chosen commands from slot `from` on.
    CatchUp {
        /// The first slot it lacks.
        from: u64,
    },
    /// Chosen commands, by slot (the answer to `catch_up`).
    Chosen {
        /// The commands.
        entries: Vec<(u64, Option<Command>)>,
    },
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// No word from a leader, a phase 1 that took too long, or a backoff that is over:
    /// stand for leader.
    Election,
    /// Leader: heartbeat, and re-send unchosen proposals.
    Heartbeat,
}

/// A node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Accepts and learns; redirects clients.
    Follower,
    /// Runs phase 1 for its ballot.
    Candidate,
    /// Runs phase 2 for every slot.
    Leader,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// One Multi-Paxos node: proposer (leader or candidate when it stands), acceptor and learner.
/// Every field is hashable, ready for the explorer.
#[derive(Clone, Debug, Hash)]
pub struct MultiPaxos {
    id: NodeId,
    n: u32,
    config: Config,
    role: Role,
    // Proposer.
    /// The highest round used or seen (the used part is durable).
    round: u64,
    /// The ballot this node runs as candidate or leader.
    ballot: Option<Ballot>,
    /// The leader this node knows of (itself when it leads).
    leader: Option<NodeId>,
    /// The ballot of the leader this node follows (zero before any).
    leader_ballot: Ballot,
    /// Candidate: the acceptors that promised.
    promises: Quorum,
    /// Candidate: per slot, the highest-ballot proposal the promises reported.
    reported: BTreeMap<u64, Proposal>,
    /// Candidate: the first slot its prepare asked about.
    prepare_from: u64,
    /// Leader: the next free slot.
    next_slot: u64,
    /// Leader: proposals not chosen yet, with the acceptors that accepted them.
    proposals: BTreeMap<u64, (Option<Command>, Quorum)>,
    /// Leader: clients waiting for the slot their command is in.
    waiting: Waiting,
    /// Whether this node has led since it started (for `skip_prepare_on_reelection`).
    led: bool,
    /// Pre-emptions in a row (the backoff bound grows with them; reset by a leader's word).
    failures: u32,
    /// Pre-emptions since this node started (for the `competing_ballots` check).
    preempted: u64,
    // Acceptor.
    promised: Ballot,
    accepted: BTreeMap<u64, Proposal>,
    // Learner.
    /// The chosen commands this node knows, by slot.
    chosen: BTreeMap<u64, Option<Command>>,
    /// The chosen prefix: every slot up to it is in `chosen`.
    commit: u64,
    /// The slots applied to the state machine (always the chosen prefix, once applied).
    applied: u64,
    /// The key-value state machine with its client sessions.
    service: KvService,
}

impl MultiPaxos {
    fn set_role(&mut self, ctx: &mut Ctx<'_, Self>, role: Role) {
        if self.role != role {
            self.role = role;
            ctx.annotate("role", role.name());
        }
    }

    fn set_leader(&mut self, ctx: &mut Ctx<'_, Self>, leader: Option<NodeId>) {
        if self.leader != leader {
            self.leader = leader;
            ctx.annotate("leader", leader);
        }
    }

    fn election_timeout(&self, ctx: &mut Ctx<'_, Self>) -> Time {
        let c = &self.config;
        if !c.backoff {
            return Time::from_ms(c.election_ms_min.max(1));
        }
        Time::from_ms(
            ctx.rng()
                .between(c.election_ms_min, c.election_ms_max)
                .max(1),
        )
    }

    fn reset_election(&self, ctx: &mut Ctx<'_, Self>) {
        let t = self.election_timeout(ctx);
        ctx.set_timer(Timer::Election, t);
    }

    /// The highest slot this node knows anything about.
    fn last_known_slot(&self) -> u64 {
        let a = self.accepted.keys().next_back().copied().unwrap_or(0);
        let c = self.chosen.keys().next_back().copied().unwrap_or(0);
        a.max(c).max(self.commit)
    }

    /// Stands for leader: a new ballot, durable before the prepare leaves.
    fn start_election(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.round = self.round.max(self.promised.round) + 1;
        ctx.write_cell("round", Record::Round(self.round));
        ctx.sync();
        let ballot = Ballot {
            round: self.round,
            node: self.id.0,
        };
        self.ballot = Some(ballot);
        ctx.annotate("ballot", ballot.number(self.n));
        self.set_leader(ctx, None);
        if self.config.bugs.skip_prepare_on_reelection && self.led {
            self.lead_without_prepare(ctx);
            return;
        }
        self.set_role(ctx, Role::Candidate);
        self.promises = Quorum::majority(self.n);
        self.reported.clear();
        self.prepare_from = self.commit + 1;
        for to in ctx.nodes() {
            ctx.send(
                to,
                Msg::Prepare {
                    ballot,
                    from: self.prepare_from,
                },
            );
        }
        // Phase 1 that does not finish within an election timeout is tried again.
        self.reset_election(ctx);
    }

    /// The `skip_prepare_on_reelection` mistake: "I led before, so my log is complete": no
    /// phase 1, only what this node's own acceptor holds is re-proposed.
    fn lead_without_prepare(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.reported.clear();
        self.prepare_from = self.commit + 1;
        for (&slot, p) in self.accepted.range(self.prepare_from..) {
            self.reported.insert(slot, p.clone());
        }
        self.become_leader(ctx);
    }

    /// A higher ballot is out there: this node stops running its own and, with backoff,
    /// waits before it stands again (a leader's heartbeat cancels the wait).
    fn preempt(&mut self, ctx: &mut Ctx<'_, Self>, seen: Ballot) {
        self.round = self.round.max(seen.round);
        if self.role == Role::Follower {
            return;
        }
        if self.role == Role::Leader {
            ctx.annotate("stepped_down", "pre-empted by a higher ballot");
        }
        self.step_down(ctx);
        self.preempted += 1;
        self.failures = self.failures.saturating_add(1);
        if !self.config.backoff {
            self.start_election(ctx);
            return;
        }
        let shift = self.failures.saturating_sub(1).min(16);
        let bound = self
            .config
            .backoff_ms
            .saturating_mul(1 << shift)
            .min(self.config.backoff_ms_max)
            .max(1);
        let wait = self.config.heartbeat_ms + ctx.rng().between(1, bound);
        ctx.set_timer(Timer::Election, Time::from_ms(wait));
    }

    /// Back to follower: the leader's volatile bookkeeping goes (clients will retry).
    fn step_down(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.role == Role::Leader {
            ctx.cancel_timer(Timer::Heartbeat);
            self.proposals.clear();
            self.waiting.clear();
            if self.leader == Some(self.id) {
                self.set_leader(ctx, None);
            }
        }
        self.ballot = None;
        self.set_role(ctx, Role::Follower);
    }

    /// A leader of `ballot` (not this node) is alive: follow it.
    fn follow(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot) {
        self.round = self.round.max(ballot.round);
        if self.ballot.is_some_and(|b| b < ballot) {
            // Pre-empted too, by a leader whose accept or heartbeat came before its prepare
            // (which may have been lost): no backoff, since there is a leader to follow.
            self.preempted += 1;
            self.step_down(ctx);
        }
        if self.role != Role::Follower {
            return; // our own ballot is at least as high: we are not following this one
        }
        if ballot >= self.leader_ballot {
            self.leader_ballot = ballot;
            self.set_leader(ctx, Some(NodeId(ballot.node)));
        }
        self.failures = 0;
        self.reset_election(ctx);
    }

    fn become_leader(&mut self, ctx: &mut Ctx<'_, Self>) {
        let ballot = self.ballot.expect("a candidate runs a ballot");
        self.set_role(ctx, Role::Leader);
        self.set_leader(ctx, Some(self.id));
        self.leader_ballot = ballot;
        self.led = true;
        self.failures = 0;
        ctx.cancel_timer(Timer::Election);
        self.proposals.clear();
        self.waiting.clear();
        // Every slot from the prepare on that anyone reported, or that this node knows
        // chosen, is settled in this ballot: re-propose what was reported (the highest
        // ballot's value, P2c per slot), and fill the gaps with no-ops.
        let reported_last = self.reported.keys().next_back().copied().unwrap_or(0);
        let last = reported_last.max(self.last_known_slot());
        let reported = std::mem::take(&mut self.reported);
        for slot in self.prepare_from..=last {
            if self.chosen.contains_key(&slot) {
                continue;
            }
            let command = match reported.get(&slot) {
                Some(p) if !self.config.bugs.noop_instead_of_reproposal => p.command.clone(),
                _ => None,
            };
            self.propose(ctx, slot, command);
        }
        self.next_slot = last.max(self.commit) + 1;
        self.heartbeat(ctx);
        ctx.set_timer(
            Timer::Heartbeat,
            Time::from_ms(self.config.heartbeat_ms.max(1)),
        );
    }

    fn propose(&mut self, ctx: &mut Ctx<'_, Self>, slot: u64, command: Option<Command>) {
        let ballot = self.ballot.expect("a leader runs a ballot");
        self.proposals
            .insert(slot, (command.clone(), Quorum::majority(self.n)));
        for to in ctx.nodes() {
            ctx.send(
                to,
                Msg::Accept {
                    ballot,
                    slot,
                    command: command.clone(),
                    chosen: self.commit,
                },
            );
        }
    }

    /// Leader: heartbeats to everyone, and every unchosen proposal again to the acceptors
    /// that have not accepted it. All of them, not a batch: a leader elected while cut off
    /// may have hundreds of re-proposals whose accept requests were lost, and the log is
    /// applied in order, so every client waits for the slowest of them (a batch of one per
    /// heartbeat kept the swarm's seed 1421 from choosing anything for the 4 s after the
    /// heal). The bound is the number of proposals in flight.
    fn heartbeat(&mut self, ctx: &mut Ctx<'_, Self>) {
        let ballot = self.ballot.expect("a leader runs a ballot");
        ctx.broadcast(Msg::Heartbeat {
            ballot,
            chosen: self.commit,
        });
        let resend: Vec<(u64, Option<Command>, Vec<NodeId>)> = self
            .proposals
            .iter()
            .map(|(&slot, (c, q))| (slot, c.clone(), q.missing().collect()))
            .collect();
        for (slot, command, missing) in resend {
            for to in missing {
                ctx.send(
                    to,
                    Msg::Accept {
                        ballot,
                        slot,
                        command: command.clone(),
                        chosen: self.commit,
                    },
                );
            }
        }
    }

    fn nack(&self, ctx: &mut Ctx<'_, Self>, to: NodeId, ballot: Ballot) {
        ctx.send(
            to,
            Msg::Nack {
                ballot,
                promised: self.promised,
            },
        );
    }

    /// Raises the promise to `ballot` (written; the caller syncs).
    fn raise_promise(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot) {
        if ballot > self.promised {
            self.promised = ballot;
            self.round = self.round.max(ballot.round);
            ctx.write_cell("promised", Record::Promised(ballot));
            ctx.annotate("ballot", ballot.number(self.n));
        }
    }

    fn on_prepare(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, ballot: Ballot, first: u64) {
        if ballot < self.promised {
            self.nack(ctx, from, ballot);
            return;
        }
        self.raise_promise(ctx, ballot);
        ctx.sync();
        if self.ballot.is_some_and(|b| b < ballot) {
            self.preempt(ctx, ballot);
        } else if from != self.id && self.role == Role::Follower {
            // Someone stands: give it an election timeout to win before standing too.
            self.reset_election(ctx);
        }
        let accepted = self
            .accepted
            .range(first..)
            .map(|(&s, p)| (s, p.clone()))
            .collect();
        ctx.send(from, Msg::Promise { ballot, accepted });
    }

    fn on_promise(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        ballot: Ballot,
        accepted: Vec<(u64, Proposal)>,
    ) {
        if self.role != Role::Candidate || self.ballot != Some(ballot) {
            return;
        }
        if !self.promises.add(from) {
            return; // a duplicate
        }
        for (slot, p) in accepted {
            let better = self.reported.get(&slot).is_none_or(|r| p.ballot > r.ballot);
            if better {
                self.reported.insert(slot, p);
            }
        }
        if self.promises.reached() {
            self.become_leader(ctx);
        }
    }

    fn on_accept(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        ballot: Ballot,
        slot: u64,
        command: Option<Command>,
        chosen: u64,
    ) {
        if ballot < self.promised {
            self.nack(ctx, from, ballot);
            return;
        }
        self.raise_promise(ctx, ballot);
        let proposal = Proposal { ballot, command };
        if self.accepted.get(&slot) != Some(&proposal) {
            ctx.append(Record::Accepted {
                slot,
                proposal: proposal.clone(),
            });
            self.accepted.insert(slot, proposal);
        }
        ctx.sync();
        if from != self.id {
            self.follow(ctx, ballot);
        }
        ctx.send(from, Msg::Accepted { ballot, slot });
        if from != self.id {
            self.learn_prefix(ctx, ballot, chosen);
        }
    }

    fn on_accepted(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, ballot: Ballot, slot: u64) {
        if self.role != Role::Leader || self.ballot != Some(ballot) {
            return;
        }
        let Some((command, acceptors)) = self.proposals.get_mut(&slot) else {
            return;
        };
        acceptors.add(from);
        let early = self.config.bugs.apply_before_chosen && acceptors.has(self.id);
        if acceptors.reached() || early {
            let command = command.clone();
            self.proposals.remove(&slot);
            self.learn(ctx, slot, command);
        }
    }

    fn on_heartbeat(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, ballot: Ballot, chosen: u64) {
        if ballot < self.promised {
            self.nack(ctx, from, ballot);
            return;
        }
        self.follow(ctx, ballot);
        self.learn_prefix(ctx, ballot, chosen);
        if self.commit < chosen {
            ctx.send(
                from,
                Msg::CatchUp {
                    from: self.commit + 1,
                },
            );
        }
    }

    /// The leader of `ballot` says every slot up to `upto` is chosen: a slot where this
    /// acceptor accepted that ballot's proposal holds the chosen command.
    fn learn_prefix(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot, upto: u64) {
        let mut learned = false;
        for slot in self.commit + 1..=upto {
            if self.chosen.contains_key(&slot) {
                continue;
            }
            let Some(p) = self.accepted.get(&slot) else {
                continue;
            };
            if p.ballot == ballot || self.config.bugs.learn_without_ballot_check {
                self.chosen.insert(slot, p.command.clone());
                learned = true;
            }
        }
        if learned {
            self.advance(ctx);
        }
    }

    /// `slot` is chosen with `command`.
    fn learn(&mut self, ctx: &mut Ctx<'_, Self>, slot: u64, command: Option<Command>) {
        if slot <= self.commit || self.chosen.contains_key(&slot) {
            return;
        }
        self.chosen.insert(slot, command);
        self.advance(ctx);
    }

    /// Moves the chosen prefix and applies it.
    fn advance(&mut self, ctx: &mut Ctx<'_, Self>) {
        let before = self.commit;
        while self.chosen.contains_key(&(self.commit + 1)) {
            self.commit += 1;
        }
        if self.commit == before {
            return;
        }
        ctx.annotate("chosen", self.commit);
        while self.applied < self.commit {
            self.applied += 1;
            let slot = self.applied;
            let Some(Some(command)) = self.chosen.get(&slot) else {
                continue; // a no-op
            };
            let answer = self.service.apply(command);
            if let (Some(answer), Some((client, id))) = (answer, self.waiting.settle(slot, command))
            {
                ctx.reply(client, id, answer);
            }
        }
    }

    fn on_catch_up(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, first: u64) {
        let entries: Vec<(u64, Option<Command>)> = self
            .chosen
            .range(first..)
            .take(self.config.batch_max.max(1))
            .map(|(&s, c)| (s, c.clone()))
            .collect();
        if !entries.is_empty() {
            ctx.send(from, Msg::Chosen { entries });
        }
    }

    fn on_chosen(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        entries: Vec<(u64, Option<Command>)>,
    ) {
        let full = entries.len() >= self.config.batch_max.max(1);
        let before = self.commit;
        for (slot, command) in entries {
            if slot > self.commit {
                self.chosen.entry(slot).or_insert(command);
            }
        }
        self.advance(ctx);
        // Ask for more only when this reply moved the prefix: a duplicated or late reply
        // that also asked would start a second stream of catch-ups, and duplicates of that
        // a third (a storm).
        if full && self.commit > before {
            ctx.send(
                from,
                Msg::CatchUp {
                    from: self.commit + 1,
                },
            );
        }
    }
}

impl Protocol for MultiPaxos {
    const NAME: &'static str = "multipaxos";
    type Config = Config;
    type Msg = Msg;
    type Timer = Timer;
    type Request = Op;
    type Response = Answer;
    type Record = Record;
    type Client = Driver<MultiPaxos, KvGenerator>;

    fn new(id: NodeId, nodes: u32, config: &Config) -> Self {
        MultiPaxos {
            id,
            n: nodes,
            config: config.clone(),
            role: Role::Follower,
            round: 0,
            ballot: None,
            leader: None,
            leader_ballot: Ballot::default(),
            promises: Quorum::majority(nodes),
            reported: BTreeMap::new(),
            prepare_from: 1,
            next_slot: 1,
            proposals: BTreeMap::new(),
            waiting: Waiting::new(),
            led: false,
            failures: 0,
            preempted: 0,
            promised: Ballot::default(),
            accepted: BTreeMap::new(),
            chosen: BTreeMap::new(),
            commit: 0,
            applied: 0,
            service: KvService::new(),
        }
    }

    /// Takes the new bug switches; the other parameters stay as built.
    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.config.bugs = config.bugs.clone();
        Ok(())
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.annotate("role", Role::Follower.name());
        self.reset_election(ctx);
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        // Only what was synced survived: round, promise and the journal of acceptances.
        let store = ctx.store();
        if let Some(Record::Round(r)) = store.cell("round") {
            self.round = *r;
        }
        if let Some(Record::Promised(b)) = store.cell("promised") {
            self.promised = *b;
            self.round = self.round.max(b.round);
        }
        for r in store.records() {
            if let Record::Accepted { slot, proposal } = r {
                self.accepted.insert(*slot, proposal.clone());
            }
        }
        ctx.annotate("ballot", self.promised.number(self.n));
        // The leader it knew before the crash is forgotten with the rest of its volatile
        // state: the trace says so, rather than keep showing it.
        ctx.annotate("leader", None::<NodeId>);
        self.on_start(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Prepare {
                ballot,
                from: first,
            } => self.on_prepare(ctx, from, ballot, first),
            Msg::Promise { ballot, accepted } => self.on_promise(ctx, from, ballot, accepted),
            Msg::Nack { ballot, promised } => {
                if self.ballot == Some(ballot) && promised > ballot {
                    self.preempt(ctx, promised);
                } else {
                    self.round = self.round.max(promised.round);
                }
            }
            Msg::Accept {
                ballot,
                slot,
                command,
                chosen,
            } => self.on_accept(ctx, from, ballot, slot, command, chosen),
            Msg::Accepted { ballot, slot } => self.on_accepted(ctx, from, ballot, slot),
            Msg::Heartbeat { ballot, chosen } => self.on_heartbeat(ctx, from, ballot, chosen),
            Msg::CatchUp { from: first } => self.on_catch_up(ctx, from, first),
            Msg::Chosen { entries } => self.on_chosen(ctx, from, entries),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Election => {
                if self.role != Role::Leader {
                    self.start_election(ctx);
                }
            }
            Timer::Heartbeat => {
                if self.role == Role::Leader {
                    self.heartbeat(ctx);
                    ctx.set_timer(
                        Timer::Heartbeat,
                        Time::from_ms(self.config.heartbeat_ms.max(1)),
                    );
                }
            }
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, client: ClientId, id: RequestId, op: Op) {
        if self.role != Role::Leader {
            ctx.reply(client, id, Answer::NotLeader { hint: self.leader });
            return;
        }
        match self.service.seen(client, id) {
            Seen::Applied(answer) => {
                ctx.reply(client, id, answer.clone()); // already applied: answer again
                return;
            }
            Seen::Stale => return, // a late copy of a request the client no longer waits for
            Seen::Fresh => {}
        }
        if self.waiting.contains(client, id) {
            return; // already proposed, waiting to be chosen
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        self.waiting.insert(slot, client, id);
        self.propose(ctx, slot, Some(Command { client, id, op }));
    }

    fn history_check() -> Option<Box<dyn HistoryCheck>> {
        Some(kv::history_check())
    }

    fn history_call(request: &Op) -> Option<HistoryCall> {
        kv::history_call(request)
    }

    fn history_value(response: &Answer) -> Val {
        kv::history_value(response)
    }

    /// A student's view of Multi-Paxos: role, ballot, the leader followed, the promise, the
    /// chosen prefix and what is applied, and the acceptor's slots as a log (each slot's
    /// accepted operation marked by its ballot's round; a no-op, and an empty slot below the
    /// highest, show as null, an empty slot with mark 0), its chosen prefix committed.
    fn show(&self, store: &Store<Record>, out: &mut Shown) {
        out.field("role", self.role.name());
        out.field("ballot", &self.ballot);
        out.field("leader", &self.leader);
        out.field("promised", &self.promised);
        out.field("chosen_prefix", &self.commit);
        out.field("applied", &self.applied);
        if self.role == Role::Leader {
            out.field("next_slot", &self.next_slot);
            out.field("open_slots", &self.proposals.len());
        }
        let last = self.accepted.keys().next_back().copied().unwrap_or(0);
        out.log(
            "slots",
            store.stats().writes,
            (1..=last).map(|s| match self.accepted.get(&s) {
                Some(p) => (p.ballot.round, p.command.as_ref().map(|c| &c.op)),
                None => (0, None),
            }),
            self.commit.min(last),
        );
    }

    fn vocabulary() -> Vocabulary {
        Vocabulary::none()
            .role("role", &["leader"], &["candidate"])
            .epoch("ballot")
            .leader("leader")
            .progress(&["chosen"])
            .step_down("stepped_down")
            .serves_replies()
            .serves_progress("chosen")
    }

    /// A result is service; "not the leader" is not.
    fn serves(answer: &Answer) -> bool {
        answer.is_service()
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        checks::properties()
    }

    fn metrics() -> Vec<MetricDef<Self>> {
        checks::metrics()
    }

    /// The batch size, the heartbeat, the election timeouts and the backoff bound: every
    /// value keeps Multi-Paxos correct (backoff itself stays on: off is the livelock
    /// lesson, not a safe knob). The ranges keep the heartbeat below the shortest election
    /// timeout and the shortest below the longest.
    fn knobs() -> Vec<Knob> {
        vec![
            Knob::one_of("batch_max", &[1.into(), 64.into()]),
            Knob::between("heartbeat_ms", 30, 70),
            Knob::between("election_ms_min", 150, 200),
            Knob::between("election_ms_max", 250, 400),
            Knob::between("backoff_ms", 20, 80),
        ]
    }

    /// After the heal a leader emerges and keeps leading, and a majority moves its chosen
    /// prefix past the highest one of the heal, each within ten of the longest election
    /// timeouts plus two of the largest backoffs.
    fn liveness(c: &Config) -> Liveness {
        let budget = Time::from_ms(
            c.election_ms_max
                .saturating_mul(10)
                .saturating_add(c.backoff_ms_max.saturating_mul(2)),
        );
        let formula = "10 × election_ms_max + 2 × backoff_ms_max";
        Liveness::default()
            .within("leader_elected", true, budget, formula)
            .within("chosen_advances", false, budget, formula)
    }

    fn record_bytes(r: &Record) -> u64 {
        match r {
            Record::Round(_) => 8,
            Record::Promised(_) => 12,
            Record::Accepted { proposal, .. } => match &proposal.command {
                None => 20,
                Some(c) => 36 + c.op.payload_bytes(),
            },
        }
    }
}
