//! Single-decree Paxos: the nodes agree on one value, proposed by clients, while any
//! minority of them may crash, restart, be cut off or lag behind.
//!
//! Reference: Lamport, "Paxos Made Simple", ACM SIGACT News 32(4), 2001. Section numbers
//! below refer to it; docs/paxos.md goes from the paper to this file rule by rule.
//!
//! Every node plays the three roles of §2.1: a *proposer* (it proposes the value a client
//! gave it), an *acceptor* (it promises and accepts) and a *learner* (it finds out what was
//! chosen). A value is *chosen* when a majority of acceptors have accepted it in the same
//! ballot.
//!
//! - **Ballots.** A ballot is a pair (round, proposer), ordered by round and then by node, so
//!   two proposers never share one. A proposer writes the round it is about to use to its
//!   store and syncs it before the prepare leaves, so a restarted proposer starts above every
//!   ballot it ever used (§2.2 "a proposer must remember the highest-numbered proposal it has
//!   tried to issue").
//! - **Phase 1 (prepare, promise).** The proposer sends `prepare(b)` to every acceptor. An
//!   acceptor whose promise is not higher than `b` promises `b` (never to accept anything
//!   lower), syncs the promise, and answers with the highest-ballot proposal it has accepted,
//!   if any; otherwise it refuses and says what it promised (a `nack`, an optimisation §2.2
//!   suggests).
//! - **Phase 2 (accept, accepted).** With promises from a majority the proposer picks the
//!   value of the highest-ballot proposal those promises report (P2c: it *must* adopt it), or
//!   its own client's value if none reports one, and sends `accept(b, v)`. An acceptor that has
//!   not promised a higher ballot accepts, syncs the accepted proposal, and tells every learner.
//! - **Learning (§2.3).** A learner that hears from a majority of acceptors that they
//!   accepted the same ballot has learned its value; it syncs it and answers its clients. An
//!   undecided node asks the others (`query`) every `query_ms`, and a node that has learned
//!   answers, so a node that was down when the value was chosen catches up without a ballot.
//! - **Progress (§2.4).** Two proposers can pre-empt each other forever: each prepare makes
//!   the other's accept fail. The paper answers with a distinguished proposer; single-decree
//!   Paxos here uses randomized exponential backoff instead: a pre-empted proposer waits a
//!   random time, growing with each failure, before it tries a higher ballot. `backoff` is a
//!   parameter, not a bug switch: with it off a pre-empted proposer retries at once, and
//!   `scenarios/paxos/duel-no-backoff.json` shows the livelock.
//!
//! Checks (docs/paxos.md has the table): `agreement` (a global record of every acceptance: at
//! most one value is ever chosen, and learners learn only that one), `one_value_per_ballot`,
//! `learners_agree` (the check library's agreement), `clients_agree`, `validity`,
//! `promise_monotonic` and `accepted_monotonic` (the check library's durable counters), all
//! on; `all_learned` for liveness after the heal; `competing_ballots` as a "sometimes".
//!
//! Bug switches (`protocol.params.bugs`), each a classic mistake:
//! - `promise_before_sync`: an acceptor answers a prepare before its promise is durable; a
//!   crash makes it forget the promise. Caught by `promise_monotonic`.
//! - `ignore_promised_values`: a proposer proposes its own value even when a promise reports
//!   an accepted one (breaks P2c). Caught by `agreement`.
//! - `accept_lower_ballot`: an acceptor accepts a proposal below its promise. Caught by
//!   `agreement`.
//! - `count_duplicate_promises`: a proposer counts every promise, so a duplicated message
//!   counts twice and a minority looks like a majority. Caught by `agreement`.
//! - `highest_value_not_ballot`: a proposer adopts the reported proposal with the highest
//!   value instead of the highest ballot. Caught by `agreement`.
//! - `learner_mixes_ballots`: a learner counts acceptances of different ballots towards one
//!   majority. Caught by `agreement` (a learner learned a value that was not chosen).

mod checks;
#[cfg(test)]
mod tests;

pub(crate) use checks::BallotTally;

use crate::kit::quorum::Quorum;
use crate::protocol::ClientVerdict;
use crate::protocol::{
    ClientCtx, ClientId, Ctx, Driver, Explorable, Generator, HistoryCall, HistoryCheck,
    Linearizable, Liveness, MetricDef, ModelKind, NodeId, PropertyDef, Protocol, RequestId, Shown,
    Store, Time, Val, Vocabulary,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// Acceptors answer a prepare before the promise is synced.
    pub promise_before_sync: bool,
    /// Proposers ignore the accepted proposals that promises report and propose their own.
    pub ignore_promised_values: bool,
    /// Acceptors accept proposals below the ballot they promised.
    pub accept_lower_ballot: bool,
    /// Proposers count every promise message, duplicates included.
    pub count_duplicate_promises: bool,
    /// Proposers adopt the reported proposal with the highest value, not the highest ballot.
    pub highest_value_not_ballot: bool,
    /// Learners count acceptances of different ballots towards one majority.
    pub learner_mixes_ballots: bool,
}

/// Parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// A proposer that has not finished a phase within this long tries a higher ballot,
    /// milliseconds.
    pub retry_ms: u64,
    /// An undecided node asks the others what was chosen this often, milliseconds.
    pub query_ms: u64,
    /// Randomized exponential backoff after a pre-emption (on: progress; off: a pre-empted
    /// proposer retries at once, and duelling proposers can livelock).
    pub backoff: bool,
    /// The first backoff is drawn from [1, `backoff_ms`]; each further pre-emption of this
    /// node (since it started) doubles the bound, up to `backoff_ms_max`. Milliseconds.
    pub backoff_ms: u64,
    /// The largest backoff bound, milliseconds.
    pub backoff_ms_max: u64,
    /// What the clients do: `propose` (each operation proposes a value and is answered
    /// with the value chosen) or `put_get` (the register of the explorer's comparison:
    /// operations alternate a put, which proposes, and a get, answered once the node has
    /// learned; both checked for linearizability against a register). Left out of the
    /// trace header when it is the default, so runs written before it existed read the same.
    #[serde(skip_serializing_if = "Workload::is_propose")]
    pub workload: Workload,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            retry_ms: 100,
            query_ms: 400,
            backoff: true,
            backoff_ms: 50,
            backoff_ms_max: 1600,
            workload: Workload::Propose,
            bugs: Bugs::default(),
        }
    }
}

/// What the clients ask (`protocol.params.workload`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// Each operation proposes a new value and reads back the value chosen.
    #[default]
    Propose,
    /// Operations alternate a put (a proposal, answered with the value chosen) and a get
    /// (answered with the value chosen once the node has learned one): a write-once
    /// register whose history is checked for linearizability.
    PutGet,
}

impl Workload {
    fn is_propose(&self) -> bool {
        *self == Workload::Propose
    }
}

/// A ballot (the paper's "proposal number"): a round, then the proposer that owns it, so no
/// two proposers share a ballot and ballots are totally ordered.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ballot {
    /// The round: one more than the highest round its proposer had used or seen.
    pub round: u64,
    /// The proposer.
    pub node: u32,
}

impl Ballot {
    /// The ballot as one number (`round × nodes + proposer`), as the trace's `ballot`
    /// annotation shows it: numbers of different proposers never collide and order as the
    /// ballots do.
    pub fn number(self, nodes: u32) -> u64 {
        self.round * u64::from(nodes) + u64::from(self.node)
    }
}

/// A proposal an acceptor accepted: a ballot and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Proposal {
    /// The ballot it was accepted in.
    pub ballot: Ballot,
    /// The value.
    pub value: i64,
}

/// What the store holds, all as cells.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// Proposer: the highest round it has used (cell `"round"`).
    Round(u64),
    /// Acceptor: the ballot it promised (cell `"promised"`).
    Promised(Ballot),
    /// Acceptor: the proposal it accepted (cell `"accepted"`).
    Accepted(Proposal),
    /// Learner: the value it learned (cell `"learned"`).
    Learned(i64),
}

/// Messages between nodes (§2.2, §2.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Phase 1a: promise not to accept anything below this ballot.
    Prepare {
        /// The proposer's ballot.
        ballot: Ballot,
    },
    /// Phase 1b: the promise, with the highest-ballot proposal the acceptor accepted.
    Promise {
        /// The ballot promised.
        ballot: Ballot,
        /// What the acceptor has accepted, if anything.
        accepted: Option<Proposal>,
    },
    /// Phase 2a: accept this value in this ballot.
    Accept {
        /// The proposer's ballot.
        ballot: Ballot,
        /// The value.
        value: i64,
    },
    /// Phase 2b, to every learner: the acceptor accepted this proposal.
    Accepted {
        /// The proposal accepted.
        proposal: Proposal,
    },
    /// The acceptor refused `ballot` because it promised a higher one.
    Nack {
        /// The ballot refused.
        ballot: Ballot,
        /// What the acceptor promised.
        promised: Ballot,
    },
    /// An undecided node asks what was chosen.
    Query,
    /// A node that learned the chosen value tells it.
    Chosen {
        /// The value.
        value: i64,
    },
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Proposer: the phase took too long, or the backoff is over: try a higher ballot.
    Retry,
    /// Undecided node: ask the others what was chosen.
    Query,
}

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Propose this value; answer with the value chosen.
    Propose(i64),
    /// The register's write: propose this value; answer with the value chosen.
    Put(i64),
    /// The register's read: answer with the value chosen, once this node has learned it.
    Get,
}

/// What a node answers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// This value was chosen.
    Chosen(i64),
}

/// Where a node's proposer is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Not running a ballot.
    Idle,
    /// Phase 1: collecting promises for its ballot, and the highest-ballot proposal they
    /// report.
    Preparing {
        /// The acceptors that promised.
        promises: Quorum,
        /// The proposal to adopt, if any promise reported one.
        adopt: Option<Proposal>,
    },
    /// Phase 2: accept requests sent for this value.
    Accepting {
        /// The value proposed.
        value: i64,
    },
}

/// One node: proposer, acceptor and learner. Every field is hashable, so a whole node's
/// state can be fingerprinted by an explorer.
#[derive(Clone, Debug, Hash)]
pub struct Paxos {
    id: NodeId,
    n: u32,
    config: Config,
    // Proposer.
    /// The highest round used or seen in any ballot (the used part is durable).
    round: u64,
    /// The ballot being run, if any.
    ballot: Option<Ballot>,
    phase: Phase,
    /// The value a client gave this node to propose.
    own: Option<i64>,
    /// Clients waiting for the decision.
    waiting: Vec<(ClientId, RequestId)>,
    /// Pre-emptions since this node started (the backoff grows with them; a node stops
    /// proposing once it learns).
    failures: u32,
    /// Waiting out a backoff: a client's request does not start a ballot before it ends.
    backing_off: bool,
    /// Pre-emptions since this node started (for the `competing_ballots` check).
    preempted: u64,
    // Acceptor.
    promised: Ballot,
    accepted: Option<Proposal>,
    // Learner.
    /// Per ballot, the value accepted in it and the acceptors that reported accepting it.
    tallies: BTreeMap<Ballot, (i64, Quorum)>,
    /// With `learner_mixes_ballots`: every acceptor that accepted anything.
    mixed: Quorum,
    learned: Option<i64>,
}

impl Paxos {
    fn set_role(&self, ctx: &mut Ctx<'_, Self>, role: &'static str) {
        ctx.annotate("role", role);
    }

    /// Phase 1a: a new ballot above every round used or seen, durable before it leaves.
    fn start_ballot(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.round += 1;
        ctx.write_cell("round", Record::Round(self.round));
        ctx.sync();
        let ballot = Ballot {
            round: self.round,
            node: self.id.0,
        };
        self.ballot = Some(ballot);
        self.phase = Phase::Preparing {
            promises: Quorum::majority(self.n),
            adopt: None,
        };
        ctx.annotate("ballot", ballot.number(self.n));
        self.set_role(ctx, "preparing");
        for to in ctx.nodes() {
            ctx.send(to, Msg::Prepare { ballot });
        }
        ctx.set_timer(Timer::Retry, Time::from_ms(self.config.retry_ms.max(1)));
    }

    /// A higher ballot is out there: give up this one and try again later (or at once,
    /// without backoff).
    fn preempt(&mut self, ctx: &mut Ctx<'_, Self>, seen: Ballot) {
        self.round = self.round.max(seen.round);
        if self.phase == Phase::Idle {
            return;
        }
        self.phase = Phase::Idle;
        self.preempted += 1;
        self.failures = self.failures.saturating_add(1);
        self.set_role(ctx, "idle");
        if self.learned.is_some() || self.own.is_none() {
            return;
        }
        if !self.config.backoff {
            self.start_ballot(ctx);
            return;
        }
        let shift = self.failures.saturating_sub(1).min(16);
        let bound = self
            .config
            .backoff_ms
            .saturating_mul(1 << shift)
            .min(self.config.backoff_ms_max)
            .max(1);
        let wait = ctx.rng().between(1, bound);
        self.backing_off = true;
        ctx.set_timer(Timer::Retry, Time::from_ms(wait));
    }

    fn on_promise(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        ballot: Ballot,
        accepted: Option<Proposal>,
    ) {
        if self.ballot != Some(ballot) {
            return; // a promise for an older ballot of ours
        }
        let bugs = &self.config.bugs;
        let Phase::Preparing { promises, adopt } = &mut self.phase else {
            return;
        };
        if bugs.count_duplicate_promises {
            promises.add_unguarded(from);
        } else if !promises.add(from) {
            return;
        }
        if let Some(p) = accepted {
            let better = match adopt {
                None => true,
                Some(a) if bugs.highest_value_not_ballot => Self::higher_value(&p, a),
                Some(a) => p.ballot > a.ballot,
            };
            if better {
                *adopt = Some(p);
            }
        }
        if !promises.reached() {
            return;
        }
        // P2c: the value of the highest-ballot proposal reported, else our own.
        let value = match (*adopt, self.own) {
            (Some(p), _) if !bugs.ignore_promised_values => p.value,
            (_, Some(v)) => v,
            (Some(p), None) => p.value,
            (None, None) => {
                // Nothing to propose (our client's value was chosen elsewhere and forgotten
                // across a restart): stop here.
                self.phase = Phase::Idle;
                return;
            }
        };
        self.phase = Phase::Accepting { value };
        self.set_role(ctx, "accepting");
        for to in ctx.nodes() {
            ctx.send(to, Msg::Accept { ballot, value });
        }
        ctx.set_timer(Timer::Retry, Time::from_ms(self.config.retry_ms.max(1)));
    }

    /// Refuses `ballot`: this acceptor has promised a higher one, which the sender learns.
    fn nack(&self, ctx: &mut Ctx<'_, Self>, to: NodeId, ballot: Ballot) {
        ctx.send(
            to,
            Msg::Nack {
                ballot,
                promised: self.promised,
            },
        );
    }

    fn on_prepare(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, ballot: Ballot) {
        if ballot < self.promised {
            self.nack(ctx, from, ballot);
            return;
        }
        if ballot > self.promised {
            self.promised = ballot;
            ctx.write_cell("promised", Record::Promised(ballot));
            if !self.config.bugs.promise_before_sync {
                ctx.sync();
            }
            ctx.annotate("promised", ballot.number(self.n));
        }
        // A proposer that sees a higher ballot than its own knows it is pre-empted.
        if self.ballot.is_some_and(|b| b < ballot) {
            self.preempt(ctx, ballot);
        }
        ctx.send(
            from,
            Msg::Promise {
                ballot,
                accepted: self.accepted,
            },
        );
    }

    fn on_accept(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, ballot: Ballot, value: i64) {
        if ballot < self.promised && !self.config.bugs.accept_lower_ballot {
            self.nack(ctx, from, ballot);
            return;
        }
        if ballot > self.promised {
            self.promised = ballot;
            ctx.write_cell("promised", Record::Promised(ballot));
        }
        let proposal = Proposal { ballot, value };
        self.accepted = Some(proposal);
        ctx.write_cell("accepted", Record::Accepted(proposal));
        ctx.sync();
        if self.ballot.is_some_and(|b| b < ballot) {
            self.preempt(ctx, ballot);
        }
        for to in ctx.nodes() {
            ctx.send(to, Msg::Accepted { proposal });
        }
    }

    fn on_accepted(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, proposal: Proposal) {
        if self.learned.is_some() {
            return;
        }
        let reached = if self.config.bugs.learner_mixes_ballots {
            self.mixed.add(from);
            self.mixed.reached()
        } else {
            let n = self.n;
            let (_, acceptors) = self
                .tallies
                .entry(proposal.ballot)
                .or_insert_with(|| (proposal.value, Quorum::majority(n)));
            acceptors.add(from);
            acceptors.reached()
        };
        if reached {
            self.learn(ctx, proposal.value);
        }
    }

    /// The learner learned `value`: durable, announced, and every waiting client answered.
    fn learn(&mut self, ctx: &mut Ctx<'_, Self>, value: i64) {
        if self.learned.is_some() {
            return;
        }
        self.learned = Some(value);
        self.tallies.clear();
        ctx.write_cell("learned", Record::Learned(value));
        ctx.sync();
        ctx.annotate("decided", 1u64);
        ctx.annotate("chosen", value);
        if self.phase != Phase::Idle {
            self.phase = Phase::Idle;
            self.set_role(ctx, "idle");
        }
        ctx.cancel_timer(Timer::Retry);
        ctx.cancel_timer(Timer::Query);
        for (client, id) in std::mem::take(&mut self.waiting) {
            ctx.reply(client, id, Response::Chosen(value));
        }
    }
}

impl Protocol for Paxos {
    const NAME: &'static str = "paxos";
    type Config = Config;
    type Msg = Msg;
    type Timer = Timer;
    type Request = Request;
    type Response = Response;
    type Record = Record;
    type Client = Driver<Paxos, Proposals>;

    fn new(id: NodeId, nodes: u32, config: &Config) -> Self {
        Paxos {
            id,
            n: nodes,
            config: config.clone(),
            round: 0,
            ballot: None,
            phase: Phase::Idle,
            own: None,
            waiting: Vec::new(),
            failures: 0,
            backing_off: false,
            preempted: 0,
            promised: Ballot::default(),
            accepted: None,
            tallies: BTreeMap::new(),
            mixed: Quorum::majority(nodes),
            learned: None,
        }
    }

    /// Takes the new bug switches; the other parameters stay as built.
    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.config.bugs = config.bugs.clone();
        Ok(())
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.set_role(ctx, "idle");
        ctx.set_timer(Timer::Query, Time::from_ms(self.config.query_ms.max(1)));
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        let store = ctx.store();
        if let Some(Record::Round(r)) = store.cell("round") {
            self.round = *r;
        }
        if let Some(Record::Promised(b)) = store.cell("promised") {
            self.promised = *b;
        }
        if let Some(Record::Accepted(p)) = store.cell("accepted") {
            self.accepted = Some(*p);
        }
        if let Some(Record::Learned(v)) = store.cell("learned") {
            self.learned = Some(*v);
        }
        self.set_role(ctx, "idle");
        if self.learned.is_none() {
            ctx.broadcast(Msg::Query);
            ctx.set_timer(Timer::Query, Time::from_ms(self.config.query_ms.max(1)));
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Prepare { ballot } => self.on_prepare(ctx, from, ballot),
            Msg::Promise { ballot, accepted } => self.on_promise(ctx, from, ballot, accepted),
            Msg::Accept { ballot, value } => self.on_accept(ctx, from, ballot, value),
            Msg::Accepted { proposal } => self.on_accepted(ctx, from, proposal),
            Msg::Nack { ballot, promised } => {
                if self.ballot == Some(ballot) {
                    self.preempt(ctx, promised);
                }
            }
            Msg::Query => {
                if let Some(value) = self.learned {
                    ctx.send(from, Msg::Chosen { value });
                }
            }
            Msg::Chosen { value } => self.learn(ctx, value),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        if self.learned.is_some() {
            return;
        }
        match timer {
            Timer::Retry => {
                self.backing_off = false;
                if self.own.is_some() {
                    self.start_ballot(ctx);
                }
            }
            Timer::Query => {
                ctx.broadcast(Msg::Query);
                ctx.set_timer(Timer::Query, Time::from_ms(self.config.query_ms.max(1)));
            }
        }
    }

    fn on_request(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        client: ClientId,
        id: RequestId,
        request: Request,
    ) {
        if let Some(chosen) = self.learned {
            ctx.reply(client, id, Response::Chosen(chosen));
            return;
        }
        // One entry per client: a retry replaces its earlier request.
        self.waiting.retain(|&(c, _)| c != client);
        self.waiting.push((client, id));
        let (Request::Propose(value) | Request::Put(value)) = request else {
            return; // a get waits for the decision
        };
        if self.own.is_none() {
            self.own = Some(value);
        }
        if self.phase == Phase::Idle && !self.backing_off {
            self.start_ballot(ctx);
        }
    }

    /// The three roles' state: the proposer's phase and ballot, the acceptor's promise and
    /// accepted proposal (drawn as a one-slot log marked by its ballot's round, committed once
    /// this node learned that very value: an acceptor may hold an older value than the one
    /// chosen, or none), the learner's value.
    fn show(&self, store: &Store<Record>, out: &mut Shown) {
        let phase = match &self.phase {
            Phase::Idle => "idle",
            Phase::Preparing { .. } => "preparing",
            Phase::Accepting { .. } => "accepting",
        };
        out.field("phase", phase);
        out.field("ballot", &self.ballot);
        if let Phase::Preparing { promises, .. } = &self.phase {
            out.field("promises", &promises.count());
        }
        out.field("promised", &self.promised);
        out.field("accepted", &self.accepted);
        out.field("learned", &self.learned);
        out.log(
            "accepted",
            store.stats().writes,
            self.accepted.iter().map(|a| (a.ballot.round, a.value)),
            u64::from(self.accepted.is_some_and(|a| self.learned == Some(a.value))),
        );
    }

    fn vocabulary() -> Vocabulary {
        Vocabulary::none()
            .role("role", &["accepting"], &["preparing"])
            .epoch("ballot")
            .progress(&["decided"])
            .serves_replies()
    }

    /// After the heal every node learns the chosen value within the longest backoff plus one
    /// query period: a proposer that was pre-empted waits at most `backoff_ms_max` before its
    /// next ballot, and an undecided node asks what was chosen every `query_ms`.
    fn liveness(c: &Config) -> Liveness {
        Liveness::default().within(
            "all_learned",
            false,
            Time::from_ms(c.backoff_ms_max + c.query_ms),
            "backoff_ms_max + query_ms",
        )
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        checks::properties()
    }

    fn metrics() -> Vec<MetricDef<Self>> {
        checks::metrics()
    }

    fn history_check() -> Option<Box<dyn HistoryCheck>> {
        // Only the put/get workload's operations are read (proposals map to nothing), so a
        // run of proposals has no history to check.
        Some(Box::new(Linearizable(ModelKind::Register)))
    }

    fn history_call(request: &Request) -> Option<HistoryCall> {
        let (f, value) = match request {
            Request::Propose(_) => return None,
            Request::Put(v) => ("write", Val::Int(*v)),
            Request::Get => ("read", Val::Nil),
        };
        Some(HistoryCall {
            f,
            key: None,
            value,
        })
    }

    fn history_value(response: &Response) -> Val {
        let Response::Chosen(v) = response;
        Val::Int(*v)
    }

    fn explorable() -> Option<Explorable<Self>> {
        Some(Explorable::hashed())
    }

    fn record_bytes(r: &Record) -> u64 {
        match r {
            Record::Round(_) | Record::Learned(_) => 8,
            Record::Promised(_) => 12,
            Record::Accepted(_) => 20,
        }
    }
}

/// The clients' workload: each operation proposes a new value (client index × 1,000,000 +
/// its count, so every value is unique and names its client) and reads back the value
/// chosen. Each operation goes to a random node, so several proposers run at once.
#[derive(Clone, Debug, Hash)]
pub struct Proposals {
    client: ClientId,
    count: i64,
    put_get: bool,
}

impl Generator<Paxos> for Proposals {
    fn new(client: ClientId, config: &Config) -> Self {
        Proposals {
            client,
            count: 0,
            put_get: config.workload == Workload::PutGet,
        }
    }

    fn next_request(&mut self, _: &mut ClientCtx<'_, Paxos>) -> Request {
        self.count += 1;
        let value = i64::from(self.client.0 + 1) * 1_000_000 + self.count;
        match (self.put_get, self.count % 2) {
            (false, _) => Request::Propose(value),
            (true, 1) => Request::Put(value),
            (true, _) => Request::Get,
        }
    }

    fn classify(&mut self, _: &Request, _: &Response) -> ClientVerdict {
        ClientVerdict::Ok
    }

    fn sticky(&self) -> bool {
        false
    }
}

impl Paxos {
    /// The `highest_value_not_ballot` switch's rule (the mistake): the report with the
    /// higher value wins, whatever its ballot. Used only with the switch on.
    fn higher_value(p: &Proposal, than: &Proposal) -> bool {
        p.value > than.value
    }
}
