//! Two-phase commit across participants that each own part of a key space, with strict
//! two-phase locking at the participants, a durable decision log at the coordinator,
//! recovery on both sides, and cooperative termination among participants.
//!
//! References: Gray, "Notes on Data Base Operating Systems" (1978), where two-phase commit
//! is first written down; Lampson and Sturgis, "Crash Recovery in a Distributed Data Storage
//! System" (1976); Mohan, Lindsay and Obermarck, "Transaction Management in the R\*
//! Distributed Database Management System" (1986), for presumed abort; Bernstein, Hadzilacos
//! and Goodman, "Concurrency Control and Recovery in Database Systems" (1987), chapter 7, for
//! the cooperative termination protocol and why two-phase commit blocks. docs/transactions.md
//! goes from these to this file.
//!
//! - **Who does what.** Every node is a participant owning the keys `key % nodes` (the kit's
//!   [`crate::kit::txn::Participant`]: locks, wait-die, prepared records). Client `c`'s
//!   transactions are coordinated by node `c % nodes`; any other node sends the client there.
//! - **Phase one.** The coordinator splits the transaction by owner and sends each
//!   participant its micro-operations (`Prepare`, annotated `preparing`). A participant takes
//!   its locks (waiting or dying by wait-die), runs the micro-operations, syncs a prepared
//!   record and votes yes with what its reads returned; or votes no.
//! - **Phase two.** On every yes the coordinator syncs a commit decision in its log, then
//!   tells the participants and answers the client with the reads; on a no, or when a vote
//!   does not come within `vote_ms`, it syncs an abort decision and tells everyone. Every
//!   decision is logged before anyone hears of it, so a retry or a late copy of a request
//!   finds it, and the answer a client got is the outcome. A participant syncs its commit or
//!   abort, applies it, releases its locks and acknowledges; the coordinator resends the
//!   decision until every participant has.
//! - **Recovery.** A restarted coordinator reads its decisions back and resends those not
//!   acknowledged by everyone; a transaction it was still collecting votes for is forgotten
//!   and, when asked about, aborted (presumed abort: it cannot have been committed). A
//!   restarted participant replays its records: committed writes, and prepared transactions
//!   back in doubt with their locks.
//! - **Termination.** A participant in doubt for `ask_ms` asks the coordinator and every other
//!   participant of the transaction. One that knows the outcome tells it; one that has not
//!   voted aborts the transaction on the spot (it refuses it from then on) and says so; one
//!   that is prepared is as uncertain as the asker. If the coordinator is down and every
//!   participant that answers is prepared, the transaction is **blocked**: its locks stay
//!   taken until the coordinator comes back. `twopc/coordinator-crash-blocks` shows it, as a
//!   failing `in_doubt_resolves` expectation, never a safety violation; `paxoscommit` removes
//!   the block.
//!
//! Durable state: the participant's records and the coordinator's decisions, in the log.
//!
//! Bug switches (`protocol.params.bugs`): docs/transactions.md says where each comes from and
//! which check catches it.

mod checks;
#[cfg(test)]
mod tests;

pub use crate::kit::txn::{Mop, Txn, TxnAnswer};

use crate::kit::txn::{
    self, AbortWhy, Age, Datum, Knows, Out, PRecord, Participant, ParticipantBugs, TxnGenerator,
    TxnId, TxnMix, TxnParams, TxnWorkload, Vote, checks::TxnNode,
};
use crate::protocol::{
    ClientId, ConfigError, Ctx, Driver, HistoryCall, HistoryCheck, Knob, Liveness, MetricDef,
    NodeId, PropertyDef, Protocol, RequestId, Shown, Store, Time, Val, Vocabulary,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// A participant in doubt for `ask_ms` aborts on its own instead of asking (a "heuristic"
    /// decision).
    pub decide_on_timeout: bool,
    /// The coordinator does not sync its decision before telling anyone: a restart forgets a
    /// commit and presumes abort.
    pub decision_not_durable: bool,
    /// A participant votes yes before its prepared record is synced.
    pub prepared_not_durable: bool,
    /// Reads take no locks at the participants (read committed, not serializable).
    pub no_read_locks: bool,
}

/// Parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The workload and the store's shape.
    #[serde(flatten)]
    pub txn: TxnParams,
    /// The coordinator aborts a transaction whose votes are not all in after this long, ms.
    pub vote_ms: u64,
    /// A participant in doubt this long asks about the outcome (and again as often), ms.
    pub ask_ms: u64,
    /// Prepares without a vote and unacknowledged decisions are sent again this often; also
    /// the housekeeping period, ms.
    pub tick_ms: u64,
    /// `in_doubt_resolves` fails when a participant holds a transaction in doubt longer, ms.
    pub in_doubt_ms: u64,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            txn: TxnParams::default(),
            vote_ms: 300,
            ask_ms: 200,
            tick_ms: 50,
            in_doubt_ms: 1500,
            bugs: Bugs::default(),
        }
    }
}

impl Config {
    /// After the heal every transaction in doubt is decided within this: the coordinator's
    /// restart, a resend, a question and its answer, with room for loss on the way.
    pub fn liveness_budget(&self) -> Time {
        Time::from_ms(
            self.in_doubt_ms
                .saturating_add(self.vote_ms.saturating_mul(2))
                .saturating_add(self.ask_ms.saturating_mul(4))
                .saturating_add(self.tick_ms.saturating_mul(10)),
        )
    }
}

impl TxnWorkload for Config {
    fn txn_mix(&self) -> TxnMix {
        TxnMix {
            kind: self.txn.workload,
            keys: self.txn.keys,
            mops_max: self.txn.mops_max,
        }
    }
}

/// Messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Coordinator → participant: your part of `txn`; vote.
    Prepare {
        /// The transaction.
        txn: TxnId,
        /// Its age, for wait-die.
        age: Age,
        /// This participant's micro-operations.
        mops: Vec<Mop>,
        /// Every participant.
        participants: Vec<NodeId>,
    },
    /// Participant → coordinator.
    Vote {
        /// The transaction.
        txn: TxnId,
        /// The vote.
        vote: Vote,
    },
    /// Coordinator → participant: the outcome.
    Decide {
        /// The transaction.
        txn: TxnId,
        /// Commit (else abort).
        commit: bool,
    },
    /// Participant → coordinator: the outcome is applied here.
    Done {
        /// The transaction.
        txn: TxnId,
    },
    /// A participant in doubt → the coordinator and the other participants: what happened?
    Ask {
        /// The transaction.
        txn: TxnId,
    },
    /// The answer to `Ask`.
    Tell {
        /// The transaction.
        txn: TxnId,
        /// What the answering node knows.
        knows: Knows,
    },
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Housekeeping every `tick_ms`: vote timeouts, resends, questions, lock waits.
    Tick,
}

/// What a node keeps in its log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// The participant's records.
    Part(PRecord),
    /// A coordinator's decision.
    Decision {
        /// The transaction.
        txn: TxnId,
        /// Its participants.
        participants: Vec<NodeId>,
        /// The answer its client gets (commit with the reads, or abort).
        answer: TxnAnswer,
    },
    /// Every participant applied the decision.
    Ended {
        /// The transaction.
        txn: TxnId,
    },
}

/// A transaction the coordinator is collecting votes for.
#[derive(Clone, Debug, Hash)]
struct Active {
    client: ClientId,
    id: RequestId,
    mops: Vec<Mop>,
    /// Per participant: the positions of its micro-operations in `mops`.
    parts: BTreeMap<NodeId, Vec<usize>>,
    /// Per participant that voted yes: what its reads returned.
    yes: BTreeMap<NodeId, Vec<Datum>>,
    began: Time,
    age: Age,
}

/// A decision the coordinator took (or read back from its log).
#[derive(Clone, Debug, Hash, Serialize)]
struct Decided {
    participants: Vec<NodeId>,
    #[serde(skip)]
    answer: TxnAnswer,
    /// Participants that have not acknowledged yet.
    waiting: Vec<NodeId>,
    /// The client to answer when it retries (none after a restart: it retries).
    #[serde(skip)]
    client: Option<(ClientId, RequestId)>,
}

/// A node: participant for its keys, coordinator for its clients' transactions.
#[derive(Clone, Debug)]
pub struct TwoPc {
    id: NodeId,
    n: u32,
    config: Config,
    part: Participant,
    active: BTreeMap<TxnId, Active>,
    decided: BTreeMap<TxnId, Decided>,
    /// When this node last asked about each transaction it holds in doubt.
    asked: BTreeMap<TxnId, Time>,
    /// Decisions taken here as coordinator, in this incarnation (replayed ones first).
    decisions: Vec<(TxnId, bool)>,
    /// Decisions taken here since start: commits and aborts.
    commits: u64,
    aborts: u64,
}

impl TwoPc {
    /// The node that coordinates `client`'s transactions.
    pub fn coordinator_of(client: u32, nodes: u32) -> NodeId {
        NodeId(client % nodes.max(1))
    }

    /// Carries out what the participant asked: records, sync, votes.
    fn carry(&mut self, ctx: &mut Ctx<'_, Self>, out: Out) {
        for r in out.records {
            ctx.append(Record::Part(r));
        }
        if out.sync {
            ctx.sync();
        }
        for (txn, coordinator, vote) in out.votes {
            ctx.send(coordinator, Msg::Vote { txn, vote });
        }
        ctx.annotate("in_doubt", self.part.prepared().len() as u64);
    }

    fn begin(&mut self, ctx: &mut Ctx<'_, Self>, client: ClientId, id: RequestId, txn: Txn) {
        let tid = TxnId::of(client, id);
        let mut parts: BTreeMap<NodeId, Vec<usize>> = BTreeMap::new();
        for (i, m) in txn.mops.iter().enumerate() {
            parts
                .entry(txn::owner(m.key(), self.n))
                .or_default()
                .push(i);
        }
        let participants: Vec<NodeId> = parts.keys().copied().collect();
        let age = Age(ctx.now().as_us(), tid);
        for (&p, idx) in &parts {
            let mops = idx.iter().map(|&i| txn.mops[i].clone()).collect();
            ctx.send(
                p,
                Msg::Prepare {
                    txn: tid,
                    age,
                    mops,
                    participants: participants.clone(),
                },
            );
        }
        ctx.annotate("preparing", tid.serial);
        self.active.insert(
            tid,
            Active {
                client,
                id,
                mops: txn.mops,
                parts,
                yes: BTreeMap::new(),
                began: ctx.now(),
                age,
            },
        );
    }

    /// Decides `txn`: the decision is logged (and synced) before anyone hears of it.
    fn decide(&mut self, ctx: &mut Ctx<'_, Self>, tid: TxnId, commit: bool, why: AbortWhy) {
        let Some(a) = self.active.remove(&tid) else {
            return;
        };
        let answer = if commit {
            let mut reads: Vec<Option<Datum>> = vec![None; a.mops.len()];
            for (p, idx) in &a.parts {
                let got = a.yes.get(p).cloned().unwrap_or_default();
                let mut got = got.into_iter();
                for &i in idx {
                    if a.mops[i].is_read() {
                        reads[i] = got.next();
                    }
                }
            }
            TxnAnswer::Committed {
                reads: reads.into_iter().flatten().collect(),
                mops: a.mops,
            }
        } else {
            TxnAnswer::Aborted { why }
        };
        let participants: Vec<NodeId> = a.parts.keys().copied().collect();
        self.log_decision(ctx, tid, participants.clone(), answer.clone());
        for &p in &participants {
            ctx.send(p, Msg::Decide { txn: tid, commit });
        }
        ctx.reply(a.client, a.id, answer.clone());
        self.decided.insert(
            tid,
            Decided {
                participants: participants.clone(),
                answer,
                waiting: participants,
                client: Some((a.client, a.id)),
            },
        );
    }

    fn log_decision(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        txn: TxnId,
        participants: Vec<NodeId>,
        answer: TxnAnswer,
    ) {
        let commit = matches!(answer, TxnAnswer::Committed { .. });
        if commit {
            self.commits += 1;
        } else {
            self.aborts += 1;
        }
        self.decisions.push((txn, commit));
        ctx.append(Record::Decision {
            txn,
            participants,
            answer,
        });
        if !self.config.bugs.decision_not_durable {
            ctx.sync();
        }
        ctx.annotate("decided", self.commits + self.aborts);
    }

    fn on_vote(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, tid: TxnId, vote: Vote) {
        let Some(a) = self.active.get_mut(&tid) else {
            return;
        };
        match vote {
            Vote::No { why } => self.decide(ctx, tid, false, why),
            Vote::Yes { reads } => {
                if !a.parts.contains_key(&from) {
                    return;
                }
                a.yes.insert(from, reads);
                if a.yes.len() == a.parts.len() {
                    self.decide(ctx, tid, true, AbortWhy::Aborted);
                }
            }
        }
    }

    fn on_done(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, tid: TxnId) {
        let Some(d) = self.decided.get_mut(&tid) else {
            return;
        };
        let was = d.waiting.len();
        d.waiting.retain(|&p| p != from);
        if was > 0 && d.waiting.is_empty() {
            ctx.append(Record::Ended { txn: tid });
        }
    }

    /// A question about `tid` from a participant in doubt.
    fn on_ask(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, tid: TxnId) {
        if Self::coordinator_of(tid.client, self.n) == self.id {
            if let Some(d) = self.decided.get(&tid) {
                let knows = if matches!(d.answer, TxnAnswer::Committed { .. }) {
                    Knows::Committed
                } else {
                    Knows::Aborted
                };
                ctx.send(from, Msg::Tell { txn: tid, knows });
                return;
            }
            if self.active.contains_key(&tid) {
                return; // still collecting votes: the decision will come
            }
            // Never decided here (or forgotten in a crash before the decision): presumed
            // abort, logged so that a retry or a late copy of the request cannot commit it.
            let answer = TxnAnswer::Aborted {
                why: AbortWhy::Aborted,
            };
            self.log_decision(ctx, tid, vec![from], answer.clone());
            self.decided.insert(
                tid,
                Decided {
                    participants: vec![from],
                    answer,
                    waiting: Vec::new(),
                    client: None,
                },
            );
            ctx.send(
                from,
                Msg::Tell {
                    txn: tid,
                    knows: Knows::Aborted,
                },
            );
            return;
        }
        let mut out = Out::default();
        let knows = self.part.answer(tid, &mut out);
        self.carry(ctx, out);
        ctx.send(from, Msg::Tell { txn: tid, knows });
    }

    fn on_tell(&mut self, ctx: &mut Ctx<'_, Self>, tid: TxnId, knows: Knows) {
        let commit = match knows {
            Knows::Committed => true,
            Knows::Aborted => false,
            Knows::Prepared => return,
        };
        if !self.part.prepared().contains_key(&tid) {
            return;
        }
        let mut out = Out::default();
        self.part.decide(tid, commit, ctx.now(), &mut out);
        self.carry(ctx, out);
        self.asked.remove(&tid);
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        // Coordinator: votes that did not come in time.
        let late: Vec<TxnId> = self
            .active
            .iter()
            .filter(|(_, a)| now.sub(a.began) >= Time::from_ms(self.config.vote_ms))
            .map(|(t, _)| *t)
            .collect();
        for tid in late {
            self.decide(ctx, tid, false, AbortWhy::Timeout);
        }
        // Coordinator: prepares (or votes) lost on the way are sent again; a participant
        // answers a repeated prepare with the vote it gave.
        for (&tid, a) in &self.active {
            let participants: Vec<NodeId> = a.parts.keys().copied().collect();
            for (&p, idx) in &a.parts {
                if a.yes.contains_key(&p) {
                    continue;
                }
                let mops = idx.iter().map(|&i| a.mops[i].clone()).collect();
                ctx.send(
                    p,
                    Msg::Prepare {
                        txn: tid,
                        age: a.age,
                        mops,
                        participants: participants.clone(),
                    },
                );
            }
        }
        // Coordinator: decisions not acknowledged by everyone yet.
        for (&tid, d) in &self.decided {
            let commit = matches!(d.answer, TxnAnswer::Committed { .. });
            for &p in &d.waiting {
                ctx.send(p, Msg::Decide { txn: tid, commit });
            }
        }
        // Participant: lock waits that went on too long.
        let mut out = Out::default();
        self.part
            .tick(now, Time::from_ms(self.config.txn.wait_ms), &mut out);
        // Participant: transactions in doubt for ask_ms.
        let ask = Time::from_ms(self.config.ask_ms);
        for (tid, coordinator, participants) in self.part.doubtful(now, ask) {
            if self.config.bugs.decide_on_timeout {
                self.part.decide(tid, false, now, &mut out);
                continue;
            }
            let last = self.asked.get(&tid).copied();
            if last.is_some_and(|t| now.sub(t) < ask) {
                continue;
            }
            self.asked.insert(tid, now);
            ctx.send(coordinator, Msg::Ask { txn: tid });
            for p in participants {
                if p != self.id && p != coordinator {
                    ctx.send(p, Msg::Ask { txn: tid });
                }
            }
        }
        self.asked
            .retain(|t, _| self.part.prepared().contains_key(t));
        self.carry(ctx, out);
        ctx.set_timer(Timer::Tick, Time::from_ms(self.config.tick_ms));
    }

    fn participant_bugs(config: &Config) -> ParticipantBugs {
        ParticipantBugs {
            no_read_locks: config.bugs.no_read_locks,
            prepared_not_durable: config.bugs.prepared_not_durable,
        }
    }
}

impl TxnNode for TwoPc {
    fn participant(&self) -> &Participant {
        &self.part
    }
    fn txn_params(&self) -> &TxnParams {
        &self.config.txn
    }
    fn in_doubt_bound(&self) -> Time {
        Time::from_ms(self.config.in_doubt_ms)
    }
    fn decisions(&self) -> &[(TxnId, bool)] {
        &self.decisions
    }
}

impl Protocol for TwoPc {
    const NAME: &'static str = "twopc";
    type Config = Config;
    type Msg = Msg;
    type Timer = Timer;
    type Request = Txn;
    type Response = TxnAnswer;
    type Record = Record;
    type Client = Driver<TwoPc, TxnGenerator>;

    fn new(id: NodeId, nodes: u32, config: &Config) -> Self {
        let mut part = Participant::new(config.txn.initial());
        part.bugs = Self::participant_bugs(config);
        TwoPc {
            id,
            n: nodes,
            config: config.clone(),
            part,
            active: BTreeMap::new(),
            decided: BTreeMap::new(),
            asked: BTreeMap::new(),
            decisions: Vec::new(),
            commits: 0,
            aborts: 0,
        }
    }

    /// Takes the new bug switches; the other parameters stay as built.
    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.config.bugs = config.bugs.clone();
        self.part.bugs = Self::participant_bugs(config);
        Ok(())
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(Timer::Tick, Time::from_ms(self.config.tick_ms));
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        let store = ctx.store();
        let parts: Vec<&PRecord> = store
            .records()
            .iter()
            .filter_map(|r| match r {
                Record::Part(p) => Some(p),
                _ => None,
            })
            .collect();
        self.part.recover(parts, now);
        for r in store.records() {
            match r {
                Record::Decision {
                    txn,
                    participants,
                    answer,
                } => {
                    let commit = matches!(answer, TxnAnswer::Committed { .. });
                    if commit {
                        self.commits += 1;
                    } else {
                        self.aborts += 1;
                    }
                    self.decisions.push((*txn, commit));
                    self.decided.insert(
                        *txn,
                        Decided {
                            participants: participants.clone(),
                            answer: answer.clone(),
                            waiting: participants.clone(),
                            client: None,
                        },
                    );
                }
                Record::Ended { txn } => {
                    if let Some(d) = self.decided.get_mut(txn) {
                        d.waiting.clear();
                    }
                }
                Record::Part(_) => {}
            }
        }
        ctx.annotate("in_doubt", self.part.prepared().len() as u64);
        self.on_start(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Prepare {
                txn,
                age,
                mops,
                participants,
            } => {
                let mut out = Out::default();
                self.part
                    .prepare(txn, age, mops, from, participants, ctx.now(), &mut out);
                self.carry(ctx, out);
            }
            Msg::Vote { txn, vote } => self.on_vote(ctx, from, txn, vote),
            Msg::Decide { txn, commit } => {
                let mut out = Out::default();
                self.part.decide(txn, commit, ctx.now(), &mut out);
                self.carry(ctx, out);
                self.asked.remove(&txn);
                ctx.send(from, Msg::Done { txn });
            }
            Msg::Done { txn } => self.on_done(ctx, from, txn),
            Msg::Ask { txn } => self.on_ask(ctx, from, txn),
            Msg::Tell { txn, knows } => self.on_tell(ctx, txn, knows),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Tick => self.on_tick(ctx),
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, client: ClientId, id: RequestId, txn: Txn) {
        let coordinator = Self::coordinator_of(client.0, self.n);
        if coordinator != self.id {
            ctx.reply(
                client,
                id,
                TxnAnswer::NotCoordinator {
                    hint: Some(coordinator),
                },
            );
            return;
        }
        let tid = TxnId::of(client, id);
        if let Some(d) = self.decided.get_mut(&tid) {
            d.client = Some((client, id));
            ctx.reply(client, id, d.answer.clone());
            return;
        }
        if self.active.contains_key(&tid) || txn.mops.is_empty() {
            return;
        }
        self.begin(ctx, client, id, txn);
    }

    fn check_config(c: &Config, _: u32) -> Result<(), ConfigError> {
        c.txn.check()?;
        if c.tick_ms == 0 {
            return Err(ConfigError::new("tick_ms", "must be at least 1"));
        }
        Ok(())
    }

    fn history_check() -> Option<Box<dyn HistoryCheck>> {
        Some(txn::history_check())
    }

    fn history_call(request: &Txn) -> Option<HistoryCall> {
        txn::history_call(request)
    }

    fn history_value(response: &TxnAnswer) -> Val {
        txn::history_value(response)
    }

    /// The participant's data, what it holds in doubt and what waits for locks; the
    /// coordinator's transactions collecting votes and decisions not yet acknowledged.
    fn show(&self, _: &Store<Record>, out: &mut Shown) {
        let data: BTreeMap<String, String> = self
            .part
            .data()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        out.field("data", &data);
        let doubt: BTreeMap<String, String> = self
            .part
            .prepared()
            .iter()
            .map(|(t, h)| (t.to_string(), format!("coordinator {}", h.coordinator)))
            .collect();
        out.field("in_doubt", &doubt);
        let waiting: Vec<String> = self.part.waiting().map(|t| t.to_string()).collect();
        out.field("waiting_for_locks", &waiting);
        let voting: BTreeMap<String, String> = self
            .active
            .iter()
            .map(|(t, a)| {
                (
                    t.to_string(),
                    format!("{}/{} yes", a.yes.len(), a.parts.len()),
                )
            })
            .collect();
        out.field("collecting_votes", &voting);
        let unacked: Vec<String> = self
            .decided
            .iter()
            .filter(|(_, d)| !d.waiting.is_empty())
            .map(|(t, _)| t.to_string())
            .collect();
        out.field("decisions_unacknowledged", &unacked);
        out.field("committed", &self.commits);
        out.field("aborted", &self.aborts);
    }

    fn vocabulary() -> Vocabulary {
        Vocabulary::none()
            .progress(&["decided", "in_doubt"])
            .serves_replies()
            .serves_progress("decided")
    }

    /// An outcome (committed or aborted) is service; "ask the coordinator" is not.
    fn serves(answer: &TxnAnswer) -> bool {
        answer.is_service()
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        checks::properties()
    }

    fn metrics() -> Vec<MetricDef<Self>> {
        checks::metrics()
    }

    fn knobs() -> Vec<Knob> {
        vec![
            Knob::between("vote_ms", 150, 400),
            Knob::between("ask_ms", 100, 300),
            Knob::between("tick_ms", 20, 80),
            Knob::between("wait_ms", 50, 300),
        ]
    }

    /// After the heal every transaction in doubt is decided: the coordinator is back, resends
    /// its decisions, and answers questions.
    fn liveness(c: &Config) -> Liveness {
        let formula = "in_doubt_ms + 2 × vote_ms + 4 × ask_ms + 10 × tick_ms";
        Liveness::default()
            .within("in_doubt_resolves", true, c.liveness_budget(), formula)
            .within("commits_after_heal", false, c.liveness_budget(), formula)
    }

    fn record_bytes(r: &Record) -> u64 {
        match r {
            Record::Part(PRecord::Prepared { writes, reads, .. }) => {
                32 + 16 * (writes.len() + reads.len()) as u64
            }
            Record::Part(_) | Record::Ended { .. } => 16,
            Record::Decision { participants, .. } => 24 + 4 * participants.len() as u64,
        }
    }
}
