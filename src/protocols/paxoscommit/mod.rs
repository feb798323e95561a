//! Paxos Commit: atomic commit that does not block when the coordinator fails, by deciding
//! each participant's vote with its own Paxos instance.
//!
//! Reference: Gray and Lamport, "Consensus on Transaction Commit" (ACM TODS 31(1), 2006),
//! sections 3 (two-phase commit), 4 (Paxos Commit) and 5 (the cost comparison).
//! docs/paxoscommit.md goes from the paper to this file.
//!
//! - **Roles.** Every node is a participant (a resource manager, owning the keys
//!   `owner(key, nodes)` of the kit's transactional store) and an acceptor. Client `c`'s
//!   transactions are coordinated by node `c % nodes`, the **coordinator** (the paper's
//!   initial leader); other nodes answer `NotCoordinator` with a hint. Any node may become the
//!   **recovery leader** of a transaction it is in doubt about.
//! - **Fast path.** The coordinator sends each participant its micro-operations (`Prepare`,
//!   annotated `preparing`). The participant locks and decides its vote with
//!   [`Participant::prepare`] (a yes vote follows its synced prepared record), then sends the
//!   vote as a phase-2a message in ballot zero of its instance `(txn, rm)` straight to every
//!   acceptor. Each acceptor syncs the value and answers the coordinator (phase 2b). An
//!   instance is chosen once a majority of acceptors accepted it in one ballot. The
//!   coordinator commits iff every instance chose Prepared, aborts as soon as one chose
//!   Aborted, tells every node (`Decide`) and answers the client with the reads in mop order.
//! - **Recovery.** A coordinator whose votes do not all come within `vote_ms`, and a
//!   participant in doubt for `recover_ms` (annotated `in_doubt`), start a new ballot for every
//!   instance of the transaction (the participants are in the prepared record): phase 1, then
//!   each instance's highest accepted value, or Aborted where none was accepted, phase 2, and
//!   the decision to everyone. A coordinator crash after its prepares blocks nobody while a
//!   majority of nodes is up (`paxoscommit/coordinator-crash`).
//! - **Outcomes.** Every node logs each outcome it learns (`Record::Outcome`) and then lets
//!   its acceptor forget the transaction's instances; it answers any later phase-1a or 2a
//!   of that transaction with the outcome.
//!
//! Durable state: the participant's records ([`PRecord`], replayed by
//! [`Participant::recover`]) and the outcomes, in the log; the acceptor's undecided
//! instances and the node's last ballot round, in cells (see [`consensus`]).
//!
//! Bug switches (`protocol.params.bugs`): docs/paxoscommit.md says where each mistake occurs
//! in practice and which check catches it.

mod checks;
pub mod consensus;
#[cfg(test)]
mod tests;

use crate::kit::component::Mount;
use crate::kit::txn::{
    self, AbortWhy, Age, Datum, Mop, Out, PRecord, Participant, Txn, TxnAnswer, TxnGenerator,
    TxnId, TxnMix, TxnParams, TxnWorkload, Vote,
};
use crate::protocol::{
    ClientId, ConfigError, Ctx, Driver, HistoryCall, HistoryCheck, Knob, Liveness, MetricDef,
    NodeId, PropertyDef, Protocol, RequestId, Shown, Store, Time, Val, Vocabulary,
};
use consensus::{CMsg, CRecord, Choice, Chosen, Consensus, ConsensusBugs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// A recovery leader proposes Prepared for an instance none of its phase-1 acceptors
    /// accepted anything in (the participant may never have voted).
    pub free_instance_prepared: bool,
    /// Acceptors keep their promises and accepted values in memory only: a restarted
    /// acceptor forgets, and a majority can choose a second value.
    pub acceptor_not_durable: bool,
    /// The leader commits once a majority of the participants' instances chose Prepared.
    pub commit_on_majority: bool,
}

/// Parameters (`protocol.params`): the kit's transactional fields, then Paxos Commit's own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The workload and the store's shape.
    #[serde(flatten)]
    pub txn: TxnParams,
    /// Participants check their waits and doubts, and coordinators their votes, this often,
    /// milliseconds.
    pub tick_ms: u64,
    /// A coordinator that has not heard every instance chosen this long after its prepares
    /// starts a recovery ballot itself, milliseconds.
    pub vote_ms: u64,
    /// A participant in doubt this long starts a recovery ballot; a recovery ballot that has
    /// not decided within this (plus up to as much again, drawn) starts over higher,
    /// milliseconds.
    pub recover_ms: u64,
    /// `in_doubt_resolves` fails when a participant holds a transaction in doubt longer, ms.
    pub in_doubt_ms: u64,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            txn: TxnParams::default(),
            tick_ms: 20,
            vote_ms: 300,
            recover_ms: 400,
            in_doubt_ms: 1500,
            bugs: Bugs::default(),
        }
    }
}

impl Config {
    /// After the heal every transaction in doubt is decided within this: the doubt's own
    /// bound, a coordinator's wait, two recovery rounds (each up to 2 × recover_ms) and a
    /// few ticks (saturating).
    pub fn liveness_budget(&self) -> Time {
        Time::from_ms(
            self.in_doubt_ms
                .saturating_add(self.vote_ms)
                .saturating_add(self.recover_ms.saturating_mul(4))
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

/// What the store holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// The participant's records (log).
    Participant(PRecord),
    /// A transaction's outcome, as this node learned it (log).
    Outcome {
        /// The transaction.
        txn: TxnId,
        /// Committed (else aborted).
        commit: bool,
        /// Its participants.
        participants: Vec<NodeId>,
    },
    /// The acceptor's and ballot leader's cells.
    Consensus(CRecord),
}

/// Messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Coordinator → participant: your micro-operations of `txn`.
    Prepare {
        /// The transaction.
        txn: TxnId,
        /// Its age, for wait-die.
        age: Age,
        /// This participant's micro-operations, in order.
        mops: Vec<Mop>,
        /// Every participant.
        participants: Vec<NodeId>,
    },
    /// Between the consensus components: phases 1 and 2 of the instances.
    Paxos(CMsg),
    /// Leader → every node, and any node to an acceptor's asker: the outcome.
    Decide {
        /// The transaction.
        txn: TxnId,
        /// Committed (else aborted).
        commit: bool,
        /// Its participants.
        participants: Vec<NodeId>,
    },
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Waits, doubts and late votes are checked.
    Tick,
}

fn wrap_msg(m: CMsg) -> Msg {
    Msg::Paxos(m)
}
fn wrap_timer(_: ()) -> Timer {
    Timer::Tick // the component sets no timer of its own
}
fn wrap_record(r: CRecord) -> Record {
    Record::Consensus(r)
}
fn unwrap_record(r: &Record) -> Option<CRecord> {
    match r {
        Record::Consensus(c) => Some(c.clone()),
        _ => None,
    }
}

/// How the consensus component sits in a node.
const MOUNT: Mount<PaxosCommit, Consensus> = Mount {
    msg: wrap_msg,
    timer: wrap_timer,
    record: wrap_record,
    unrecord: unwrap_record,
};

/// A transaction this node leads: as its coordinator, or as a recovery leader.
#[derive(Clone, Debug, Hash)]
struct Lead {
    /// The client to answer (coordinator only).
    client: Option<(ClientId, RequestId)>,
    /// The transaction's micro-operations (coordinator only), for the reads' order.
    mops: Vec<Mop>,
    participants: Vec<NodeId>,
    chosen: BTreeMap<NodeId, Choice>,
    /// Votes carried by ballot zero: the reads of yes votes, the reason of no votes.
    votes: BTreeMap<NodeId, Vote>,
    why: Option<AbortWhy>,
    /// A recovery ballot has run for it here.
    recovering: bool,
    /// When to start (or restart) a recovery ballot.
    deadline: Time,
}

/// A node's role, by what it leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Leads nothing: a participant and an acceptor.
    Participant,
    /// Coordinates transactions of its clients.
    Coordinator,
    /// Runs a recovery ballot for a transaction.
    RecoveryLeader,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Participant => "participant",
            Role::Coordinator => "coordinator",
            Role::RecoveryLeader => "recovery_leader",
        }
    }
}

/// One node: participant, acceptor, coordinator of its clients' transactions.
#[derive(Clone, Debug)]
pub struct PaxosCommit {
    id: NodeId,
    n: u32,
    config: Config,
    participant: Participant,
    consensus: Consensus,
    leading: BTreeMap<TxnId, Lead>,
    outcomes: BTreeMap<TxnId, (bool, Vec<NodeId>)>,
    /// Per client: the last transaction answered and its answer, for a retry.
    answers: BTreeMap<u32, (TxnId, TxnAnswer)>,
    /// Decisions taken here: committed, aborted, and how many by a recovery ballot.
    decisions: (u64, u64, u64),
    role: Role,
    in_doubt: usize,
}

impl PaxosCommit {
    fn coordinator_of(&self, client: ClientId) -> NodeId {
        NodeId(client.0 % self.n.max(1))
    }

    /// Carries out what the participant asked for: its records (synced if it said so), then
    /// its votes, each in ballot zero of its instance.
    ///
    /// Ballot zero must carry one value only, and the participant is its only proposer. A
    /// yes vote is already final (its prepared record is synced); a no vote is not, in the
    /// kit (a conflict or a lock wait that timed out leaves no record, so a duplicate prepare
    /// could be voted yes later). Here a no vote is made final before it leaves: the
    /// participant refuses the transaction durably. A vote on a transaction whose outcome this
    /// node already logged (a late prepare) is not sent at all.
    fn apply(&mut self, ctx: &mut Ctx<'_, Self>, mut out: Out) {
        let votes = std::mem::take(&mut out.votes);
        for (txn, _, vote) in &votes {
            if matches!(vote, Vote::No { .. }) && self.participant.knows(*txn).is_none() {
                let mut refusal = Out::default();
                self.participant.answer(*txn, &mut refusal);
                out.records.append(&mut refusal.records);
                out.sync |= refusal.sync;
            }
        }
        for r in out.records {
            ctx.append(Record::Participant(r));
        }
        if out.sync {
            ctx.sync();
        }
        for (txn, coordinator, vote) in votes {
            if self.outcomes.contains_key(&txn) {
                continue;
            }
            MOUNT.run(ctx, |cx| {
                self.consensus.propose_zero(cx, txn, coordinator, vote)
            });
        }
        self.note(ctx);
    }

    /// Annotates what changed of the node's role and doubts.
    fn note(&mut self, ctx: &mut Ctx<'_, Self>) {
        let in_doubt = self.participant.prepared().len();
        if in_doubt != self.in_doubt {
            self.in_doubt = in_doubt;
            ctx.annotate("in_doubt", in_doubt as u64);
        }
        let role = if self.leading.values().any(|l| l.recovering) {
            Role::RecoveryLeader
        } else if self.leading.values().any(|l| l.client.is_some()) {
            Role::Coordinator
        } else {
            Role::Participant
        };
        if role != self.role {
            self.role = role;
            ctx.annotate("role", role.name());
        }
    }

    fn begin(&mut self, ctx: &mut Ctx<'_, Self>, client: ClientId, id: RequestId, txn: Txn) {
        let t = TxnId::of(client, id);
        if txn.mops.is_empty() {
            let answer = TxnAnswer::Committed {
                mops: Vec::new(),
                reads: Vec::new(),
            };
            ctx.reply(client, id, answer);
            return;
        }
        let age = Age(ctx.now().as_us(), t);
        let mut parts: BTreeMap<NodeId, Vec<Mop>> = BTreeMap::new();
        for m in &txn.mops {
            parts
                .entry(txn::owner(m.key(), self.n))
                .or_default()
                .push(m.clone());
        }
        let participants: Vec<NodeId> = parts.keys().copied().collect();
        for (p, mops) in parts {
            ctx.send(
                p,
                Msg::Prepare {
                    txn: t,
                    age,
                    mops,
                    participants: participants.clone(),
                },
            );
        }
        self.leading.insert(
            t,
            Lead {
                client: Some((client, id)),
                mops: txn.mops,
                participants,
                chosen: BTreeMap::new(),
                votes: BTreeMap::new(),
                why: None,
                recovering: false,
                deadline: ctx.now().add(Time::from_ms(self.config.vote_ms)),
            },
        );
        ctx.annotate("preparing", self.leading.len() as u64);
        self.note(ctx);
    }

    fn on_paxos(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, m: CMsg) {
        let txn = m.txn();
        if let Some((commit, participants)) = self.outcomes.get(&txn) {
            // Decided here: the acceptor forgot the instances; the outcome answers for them.
            if m.to_acceptor() {
                let msg = Msg::Decide {
                    txn,
                    commit: *commit,
                    participants: participants.clone(),
                };
                ctx.send(from, msg);
            }
            return;
        }
        for chosen in MOUNT.message(ctx, &mut self.consensus, from, m) {
            self.on_chosen(ctx, chosen);
        }
    }

    fn on_chosen(&mut self, ctx: &mut Ctx<'_, Self>, c: Chosen) {
        let Some(l) = self.leading.get_mut(&c.txn) else {
            return;
        };
        if !l.participants.contains(&c.rm) {
            return;
        }
        l.chosen.insert(c.rm, c.choice);
        if let Some(v) = c.vote.clone() {
            l.votes.insert(c.rm, v);
        }
        if c.choice == Choice::Aborted {
            l.why = Some(consensus::abort_why(c.vote.as_ref()));
            self.decide(ctx, c.txn, false, c.ballot.round > 0);
            return;
        }
        let prepared = l
            .chosen
            .values()
            .filter(|&&v| v == Choice::Prepared)
            .count();
        let need = if self.config.bugs.commit_on_majority {
            l.participants.len() / 2 + 1 // the mistake: a majority is not everyone
        } else {
            l.participants.len()
        };
        if prepared >= need {
            let by_recovery = c.ballot.round > 0;
            self.decide(ctx, c.txn, true, by_recovery);
        }
    }

    /// This node reached the outcome of `txn` as its leader: everyone hears it.
    fn decide(&mut self, ctx: &mut Ctx<'_, Self>, txn: TxnId, commit: bool, by_recovery: bool) {
        let Some(l) = self.leading.get(&txn) else {
            return;
        };
        let participants = l.participants.clone();
        let recovered = by_recovery || l.recovering;
        if commit {
            self.decisions.0 += 1;
        } else {
            self.decisions.1 += 1;
        }
        if recovered {
            self.decisions.2 += 1;
        }
        ctx.annotate("decided", self.decisions.0 + self.decisions.1);
        let msg = Msg::Decide {
            txn,
            commit,
            participants: participants.clone(),
        };
        for to in ctx.peers().collect::<Vec<_>>() {
            ctx.send(to, msg.clone());
        }
        self.learn(ctx, txn, commit, participants);
    }

    /// The outcome of `txn`, decided here or elsewhere: logged, carried out by the
    /// participant, the instances forgotten, the client answered if this node coordinates it.
    fn learn(&mut self, ctx: &mut Ctx<'_, Self>, txn: TxnId, commit: bool, parts: Vec<NodeId>) {
        if self.outcomes.contains_key(&txn) {
            return;
        }
        ctx.append(Record::Outcome {
            txn,
            commit,
            participants: parts.clone(),
        });
        let mine = parts.contains(&self.id);
        self.outcomes.insert(txn, (commit, parts));
        MOUNT.run(ctx, |cx| self.consensus.forget(cx, txn));
        ctx.sync();
        if mine {
            let mut out = Out::default();
            self.participant.decide(txn, commit, ctx.now(), &mut out);
            self.apply(ctx, out);
        }
        if let Some(l) = self.leading.remove(&txn) {
            if let Some((client, id)) = l.client {
                if let Some(answer) = self.answer(&l, commit) {
                    self.answers.insert(client.0, (txn, answer.clone()));
                    ctx.reply(client, id, answer);
                }
            }
        }
        self.note(ctx);
    }

    /// The client's answer: the reads in mop order on a commit (none if a read's vote did
    /// not come through ballot zero), the reason on an abort.
    fn answer(&self, l: &Lead, commit: bool) -> Option<TxnAnswer> {
        if !commit {
            return Some(TxnAnswer::Aborted {
                why: l.why.unwrap_or(AbortWhy::Timeout),
            });
        }
        let mut reads_by: BTreeMap<NodeId, std::vec::IntoIter<Datum>> = BTreeMap::new();
        for (&rm, v) in &l.votes {
            if let Vote::Yes { reads } = v {
                reads_by.insert(rm, reads.clone().into_iter());
            }
        }
        let mut reads = Vec::new();
        for m in l.mops.iter().filter(|m| m.is_read()) {
            let rm = txn::owner(m.key(), self.n);
            reads.push(reads_by.get_mut(&rm)?.next()?);
        }
        Some(TxnAnswer::Committed {
            mops: l.mops.clone(),
            reads,
        })
    }

    fn start_recovery(&mut self, ctx: &mut Ctx<'_, Self>, txn: TxnId) {
        let Some(parts) = self.leading.get(&txn).map(|l| l.participants.clone()) else {
            return;
        };
        MOUNT.run(ctx, |cx| self.consensus.recover(cx, txn, parts));
        let jitter = ctx.rng().below(self.config.recover_ms.max(1));
        let deadline = ctx
            .now()
            .add(Time::from_ms(self.config.recover_ms.saturating_add(jitter)));
        if let Some(l) = self.leading.get_mut(&txn) {
            l.recovering = true;
            l.deadline = deadline;
        }
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        let mut out = Out::default();
        self.participant
            .tick(now, Time::from_ms(self.config.txn.wait_ms), &mut out);
        self.apply(ctx, out);
        for (txn, _, participants) in self
            .participant
            .doubtful(now, Time::from_ms(self.config.recover_ms))
        {
            self.leading.entry(txn).or_insert_with(|| Lead {
                client: None,
                mops: Vec::new(),
                participants,
                chosen: BTreeMap::new(),
                votes: BTreeMap::new(),
                why: None,
                recovering: false,
                deadline: now,
            });
        }
        let late: Vec<TxnId> = self
            .leading
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for txn in late {
            self.start_recovery(ctx, txn);
        }
        self.note(ctx);
        ctx.set_timer(Timer::Tick, Time::from_ms(self.config.tick_ms));
    }
}

impl Protocol for PaxosCommit {
    const NAME: &'static str = "paxoscommit";
    type Config = Config;
    type Msg = Msg;
    type Timer = Timer;
    type Request = Txn;
    type Response = TxnAnswer;
    type Record = Record;
    type Client = Driver<PaxosCommit, TxnGenerator>;

    fn new(id: NodeId, nodes: u32, config: &Config) -> Self {
        let mut node = PaxosCommit {
            id,
            n: nodes,
            config: config.clone(),
            participant: Participant::new(config.txn.initial()),
            consensus: Consensus::default(),
            leading: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            answers: BTreeMap::new(),
            decisions: (0, 0, 0),
            role: Role::Participant,
            in_doubt: 0,
        };
        node.take_bugs(&config.bugs);
        node
    }

    /// Takes the new bug switches; the other parameters stay as built.
    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.take_bugs(&config.bugs);
        Ok(())
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.annotate("role", self.role.name());
        MOUNT.start(ctx, &mut self.consensus);
        ctx.set_timer(Timer::Tick, Time::from_ms(self.config.tick_ms));
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        let store = ctx.store();
        let mut prs = Vec::new();
        for r in store.records() {
            match r {
                Record::Participant(p) => prs.push(p.clone()),
                Record::Outcome {
                    txn,
                    commit,
                    participants,
                } => {
                    self.outcomes.insert(*txn, (*commit, participants.clone()));
                }
                Record::Consensus(_) => {}
            }
        }
        self.participant.recover(prs.iter(), now);
        MOUNT.recover(ctx, &mut self.consensus);
        ctx.annotate("role", self.role.name());
        self.note(ctx);
        ctx.set_timer(Timer::Tick, Time::from_ms(self.config.tick_ms));
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
                let now = ctx.now();
                self.participant
                    .prepare(txn, age, mops, from, participants, now, &mut out);
                self.apply(ctx, out);
            }
            Msg::Paxos(m) => self.on_paxos(ctx, from, m),
            Msg::Decide {
                txn,
                commit,
                participants,
            } => self.learn(ctx, txn, commit, participants),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Tick => self.on_tick(ctx),
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, client: ClientId, id: RequestId, txn: Txn) {
        let coordinator = self.coordinator_of(client);
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
        let t = TxnId::of(client, id);
        if let Some((done, answer)) = self.answers.get(&client.0) {
            if *done == t {
                ctx.reply(client, id, answer.clone());
                return;
            }
        }
        match self.outcomes.get(&t) {
            Some((false, _)) => {
                let why = AbortWhy::Aborted;
                ctx.reply(client, id, TxnAnswer::Aborted { why });
            }
            // Committed before this node restarted: the reads are gone with its memory, so
            // the client is left to time out (its outcome unknown, never wrong).
            Some((true, _)) => {}
            None => match self.leading.get_mut(&t) {
                Some(l) if l.client.is_some() => l.client = Some((client, id)),
                _ => self.begin(ctx, client, id, txn),
            },
        }
    }

    /// Keys within 1 to 1024 and micro-operations within 2 to 64 (bank transactions read
    /// every account; a transaction's size is drawn up to `mops_max`), a balance that is not
    /// negative, and timers of at least a millisecond.
    fn check_config(c: &Config, _: u32) -> Result<(), ConfigError> {
        c.txn.check()?;
        for (field, ms) in [
            ("tick_ms", c.tick_ms),
            ("vote_ms", c.vote_ms),
            ("recover_ms", c.recover_ms),
            ("in_doubt_ms", c.in_doubt_ms),
        ] {
            if ms == 0 {
                return Err(ConfigError::new(field, "0: give at least 1 millisecond"));
            }
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

    /// Per node: its role, the transactions it leads, the ones in doubt here, the
    /// acceptor's undecided instances with their ballots and values, and the data.
    fn show(&self, _: &Store<Record>, out: &mut Shown) {
        out.field("role", self.role.name());
        let leading: Vec<String> = self
            .leading
            .iter()
            .map(|(t, l)| {
                let chosen: Vec<String> =
                    l.chosen.iter().map(|(rm, c)| format!("{rm} {c}")).collect();
                let how = if l.recovering {
                    "recovering"
                } else {
                    "coordinating"
                };
                format!("{t} {how}: chosen [{}]", chosen.join(", "))
            })
            .collect();
        out.field("leading", &leading);
        let in_doubt: Vec<String> = self
            .participant
            .prepared()
            .iter()
            .map(|(t, h)| format!("{t} (coordinator {})", h.coordinator))
            .collect();
        out.field("in_doubt", &in_doubt);
        let instances: Vec<String> = self
            .consensus
            .slots()
            .iter()
            .flat_map(|(t, m)| {
                m.iter().map(move |(rm, s)| match s.accepted {
                    Some((b, c)) => {
                        format!("{t}/{rm}: promised {}, accepted {c} in {b}", s.promised)
                    }
                    None => format!("{t}/{rm}: promised {}", s.promised),
                })
            })
            .collect();
        out.field("instances", &instances);
        out.field("max_ballot", &self.consensus.max_ballot().to_string());
        let data: BTreeMap<u32, String> = self
            .participant
            .data()
            .iter()
            .map(|(k, v)| (*k, v.to_string()))
            .collect();
        out.field("data", &data);
        out.field("decided", &(self.decisions.0 + self.decisions.1));
    }

    fn vocabulary() -> Vocabulary {
        Vocabulary::none()
            .role("role", &["coordinator", "recovery_leader"], &[])
            .progress(&["decided"])
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

    /// The periods and timeouts, within ranges where a coordinator's wait stays shorter
    /// than a participant's doubt.
    fn knobs() -> Vec<Knob> {
        vec![
            Knob::between("tick_ms", 10, 40),
            Knob::between("vote_ms", 150, 400),
            Knob::between("recover_ms", 300, 600),
            Knob::between("wait_ms", 100, 300),
        ]
    }

    /// After the heal every transaction in doubt is decided, and a new one commits, within
    /// in_doubt_ms + vote_ms + 4 × recover_ms + 10 × tick_ms.
    fn liveness(c: &Config) -> Liveness {
        let formula = "in_doubt_ms + vote_ms + 4 × recover_ms + 10 × tick_ms";
        Liveness::default()
            .within("in_doubt_resolves", true, c.liveness_budget(), formula)
            .within("commits_after_heal", false, c.liveness_budget(), formula)
    }

    fn record_bytes(r: &Record) -> u64 {
        match r {
            Record::Participant(PRecord::Prepared { reads, writes, .. }) => {
                48 + 16 * (reads.len() + writes.len()) as u64
            }
            Record::Participant(_) => 16,
            Record::Outcome { participants, .. } => 24 + 4 * participants.len() as u64,
            Record::Consensus(CRecord::Acceptor { slots, .. }) => 16 + 40 * slots.len() as u64,
            Record::Consensus(CRecord::Round(_)) => 8,
        }
    }
}

impl PaxosCommit {
    fn take_bugs(&mut self, bugs: &Bugs) {
        self.config.bugs = bugs.clone();
        self.consensus.bugs = ConsensusBugs {
            free_instance_prepared: bugs.free_instance_prepared,
            acceptor_not_durable: bugs.acceptor_not_durable,
        };
    }
}
