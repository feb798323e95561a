//! Sagas: long-running transactions over several services, each step a local transaction,
//! undone by compensations instead of held under locks.
//!
//! Reference: Garcia-Molina and Salem, "Sagas", SIGMOD 1987. A saga is a sequence of local
//! transactions T1..Tn, each with a compensation C1..Cn; the system guarantees that either
//! T1..Tn all run, or T1..Tj and then Cj..C1 run, for some j. Nothing is locked across steps,
//! so a saga never blocks on a crashed participant the way two-phase commit does; the price
//! is isolation: other clients see every intermediate state. docs/sagas.md goes from the paper
//! to this file.
//!
//! - **Roles.** n1 is the **orchestrator**, with its own durable saga log; every other node is
//!   a **service** that owns bank accounts: account `a` lives on node `2 + a mod (N − 1)`
//!   (`n2` holds account 0), every account starting at `initial_balance`.
//! - **A saga** is a list of steps, each `(account, delta)`: a debit (`delta < 0`) fails at its
//!   service, as a local transaction, if the balance would go negative; a credit always
//!   succeeds. A transfer is a debit and a credit; longer sagas (up to `steps_max`) move money
//!   from some accounts to others. The deltas sum to zero, and every debit comes before every
//!   credit: debits are the steps that can fail, so they are the ones that may be compensated,
//!   and a compensation (crediting back what a debit took) can never fail. The last debit is
//!   the saga's pivot: once it is done the saga can only go forward, and the credits are
//!   retried until they are done. (The paper assumes every compensation succeeds; a
//!   compensating debit could find the money already spent, since nothing is isolated, so
//!   this order is what makes the assumption true here.)
//! - **The orchestrator** runs the steps in order, one at a time, retransmitting the current
//!   one every `resend_ms` until its service answers (at least once). A refused debit turns
//!   the saga around: the steps already done are compensated in reverse order. A debit not
//!   answered within `step_timeout_ms` is given up on: its outcome is unknown, so it is
//!   compensated too, with the steps before it. The saga finishes **committed** (every step
//!   done) or **compensated** (every executed step undone), and its client hears which.
//! - **The saga log.** Before it acts on a step the orchestrator syncs what it knows: the
//!   saga and its steps (`Started`), each step's result (`StepDone`), the turn to compensate
//!   (`Compensating`), each compensation done (`Undone`), the end (`Finished`). After a crash
//!   it reads the log back and resumes every unfinished saga where it was, forward or
//!   backward.
//! - **Idempotent services.** A step and its compensation carry the saga id (the client's
//!   request id) and the step's index. The service syncs a record of what it executed and
//!   its result, and answers a redelivered step from the record. A compensation for a step
//!   it never executed leaves a **tombstone**, so that the step, arriving late (it was
//!   delayed, the orchestrator gave up on it and compensated), is refused instead of applied
//!   with nobody left to undo it.
//! - **Reads.** A `Balances` request makes the orchestrator ask every service for its
//!   balances, one service at a time as their answers come, and answer with the sum. Nothing
//!   is locked, so the sum sees money in flight: debited from one account, not yet credited
//!   to another.
//!
//! What sagas claim: the outcome of a saga is atomic, eventually (all its steps, or all its
//! executed steps compensated); each step is atomic at its service, so no update is lost;
//! money is conserved only at rest (no saga in flight). They claim no isolation.
//!
//! Durable state: the orchestrator's saga log (records `Started` .. `Finished`); each
//! service's ledger of applied steps, refusals, compensations and tombstones (records
//! `Applied` .. `Tombstone`), from which its balances are rebuilt.
//!
//! Bug switches (`protocol.params.bugs`): docs/sagas.md says where each comes from and which
//! check catches it.

mod checks;
#[cfg(test)]
mod tests;

use crate::protocol::{
    ClientCtx, ClientId, ClientVerdict, ConfigError, Ctx, Driver, Generator, Knob, Liveness,
    MetricDef, NodeId, PropertyDef, Protocol, RequestId, Shown, Store, Time, Vocabulary,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The orchestrator's node.
pub const ORCHESTRATOR: NodeId = NodeId(0);

/// Most steps a saga may have (the workload asks for `steps_max` of them at most).
pub const STEPS_MAX: usize = 8;

/// Most balance reads the orchestrator keeps waiting; beyond it, a new read waits for the
/// client's retry.
const READS_MAX: usize = 256;

/// A saga's id: the request id of the client operation that asked for it, so a retry of the
/// request finds its saga.
pub type SagaId = u64;

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// A service applies a redelivered step again instead of answering it from its record.
    pub step_not_idempotent: bool,
    /// A compensation for a step the service never executed is answered and forgotten: no
    /// tombstone, so the step, arriving late, is applied.
    pub no_tombstone: bool,
    /// A service applies a compensation by the amount the message carries, without looking
    /// up whether it executed the step.
    pub blind_compensation: bool,
    /// The orchestrator never syncs its saga log (it keeps its sagas in memory): a crash
    /// forgets every saga, and the ones in flight are neither finished nor compensated.
    pub saga_log_in_memory: bool,
    /// A debit given up on (no answer within `step_timeout_ms`) is taken as never executed:
    /// compensation starts at the step before it.
    pub skip_unknown_step: bool,
}

/// Parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Accounts, spread over the services.
    pub accounts: u32,
    /// Every account's balance at the start.
    pub initial_balance: u64,
    /// Most a workload debit takes.
    pub amount_max: u64,
    /// Most steps in a saga the workload asks for (2 to 4: a transfer is 2).
    pub steps_max: u32,
    /// Percentage of sagas longer than a transfer.
    pub long_percent: u32,
    /// Percentage of operations that read every balance.
    pub read_percent: u32,
    /// The orchestrator sends its current step (or compensation) again this often, ms.
    pub resend_ms: u64,
    /// A debit unanswered for this long is given up on and compensated, ms.
    pub step_timeout_ms: u64,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            accounts: 6,
            initial_balance: 100,
            amount_max: 40,
            steps_max: 4,
            long_percent: 30,
            read_percent: 10,
            resend_ms: 40,
            step_timeout_ms: 400,
            bugs: Bugs::default(),
        }
    }
}

impl Config {
    /// The money in all accounts at the start (saturating).
    pub fn initial_total(&self) -> i64 {
        i64::try_from(u64::from(self.accounts).saturating_mul(self.initial_balance))
            .unwrap_or(i64::MAX)
    }

    /// How long a saga may stay in flight on the orchestrator's clock before it is late:
    /// 2 × steps_max × step_timeout_ms + 4 × resend_ms (saturating).
    pub fn in_flight_max(&self) -> Time {
        Time::from_ms(
            self.step_timeout_ms
                .saturating_mul(2)
                .saturating_mul(u64::from(self.steps_max))
                .saturating_add(self.resend_ms.saturating_mul(4)),
        )
    }

    /// After the heal, how long the orchestrator may take to finish every late saga:
    /// in_flight_max + 10 × resend_ms (saturating).
    pub fn liveness_budget(&self) -> Time {
        Time::from_ms(
            self.in_flight_max()
                .as_ms()
                .saturating_add(self.resend_ms.saturating_mul(10)),
        )
    }
}

/// The service that owns `account` in a cluster of `nodes`.
pub fn service_of(account: u32, nodes: u32) -> NodeId {
    NodeId(1 + account % nodes.saturating_sub(1).max(1))
}

/// One step of a saga: add `delta` to `account` (a debit when negative).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Step {
    /// The account.
    pub account: u32,
    /// What the step adds to it.
    pub delta: i64,
}

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Run a saga of these steps.
    Saga {
        /// The steps, in order.
        steps: Vec<Step>,
    },
    /// Read every account's balance (not atomically) and their sum.
    Balances,
}

/// What the nodes answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Every step ran.
    Committed,
    /// Step `failed` was refused or given up on, and every executed step was compensated.
    Compensated {
        /// The step that turned the saga around.
        failed: u32,
    },
    /// The balances, account by account, and their sum.
    Total {
        /// The sum.
        total: i64,
        /// Each account's balance as its service answered.
        balances: Vec<i64>,
    },
    /// Ask the orchestrator (n1).
    NotOrchestrator,
    /// The saga is malformed (see [`Request::Saga`]'s rules in the module docs).
    Rejected,
}

/// How a forward step ended, as the orchestrator logs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepResult {
    /// The service applied it.
    Applied,
    /// The service refused it (not enough money, or a tombstone).
    Refused,
    /// No answer within `step_timeout_ms`: unknown.
    GaveUp,
}

/// How a saga finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Every step ran.
    Committed,
    /// Every executed step was compensated; `failed` turned it around.
    Compensated {
        /// The step refused or given up on.
        failed: u32,
    },
}

/// What the stores hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// Orchestrator: a saga begins, with its client and steps.
    Started {
        /// The saga.
        saga: SagaId,
        /// The client to answer.
        client: ClientId,
        /// Its steps.
        steps: Vec<Step>,
    },
    /// Orchestrator: a forward step's result.
    StepDone {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: u32,
        /// Its result.
        result: StepResult,
    },
    /// Orchestrator: the saga turns to compensation, from step `from` down to step 0 (none:
    /// nothing to compensate), because step `failed` did not run.
    Compensating {
        /// The saga.
        saga: SagaId,
        /// The step that turned it around.
        failed: u32,
        /// The first step to compensate.
        from: Option<u32>,
    },
    /// Orchestrator: a step's compensation is done.
    Undone {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: u32,
    },
    /// Orchestrator: the saga finished.
    Finished {
        /// The saga.
        saga: SagaId,
        /// How.
        ending: Ending,
    },
    /// Service: a step applied to an account.
    Applied {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: u32,
        /// The account.
        account: u32,
        /// What was added.
        delta: i64,
    },
    /// Service: a debit refused for want of money.
    Refused {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: u32,
    },
    /// Service: a step's compensation applied (the account loses `delta` again).
    Compensated {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: u32,
        /// The account.
        account: u32,
        /// The step's delta, taken back.
        delta: i64,
    },
    /// Service: a compensation arrived for a step never executed; the step is refused if it
    /// ever arrives.
    Tombstone {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: u32,
    },
}

/// Messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Orchestrator → service: run this step.
    Do {
        /// The saga.
        saga: SagaId,
        /// The step's index.
        step: u32,
        /// The step.
        what: Step,
    },
    /// Orchestrator → service: compensate this step.
    Undo {
        /// The saga.
        saga: SagaId,
        /// The step's index.
        step: u32,
        /// The step being compensated.
        what: Step,
    },
    /// Service → orchestrator: the step ran (`ok`) or was refused.
    Done {
        /// The saga.
        saga: SagaId,
        /// The step's index.
        step: u32,
        /// Applied.
        ok: bool,
    },
    /// Service → orchestrator: the compensation is done (or there was nothing to undo).
    Undone {
        /// The saga.
        saga: SagaId,
        /// The step's index.
        step: u32,
    },
    /// Orchestrator → service: your balances, please (for read `read`).
    Read {
        /// The read's number.
        read: u64,
    },
    /// Service → orchestrator: my balances.
    Balances {
        /// The read's number.
        read: u64,
        /// (account, balance), in account order.
        balances: Vec<(u32, i64)>,
    },
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Orchestrator: send current steps, compensations and reads again; give up on late debits.
    Resend,
}

/// Where a saga is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Running step `next`.
    Forward(u32),
    /// Compensating step `next` (then the ones below it); `failed` turned it around.
    Backward {
        /// The step being compensated.
        next: u32,
        /// The step that turned it around.
        failed: u32,
    },
    /// Finished.
    Done(Ending),
}

/// One saga in the orchestrator's table.
#[derive(Clone, Debug, Hash, Serialize)]
pub struct Saga {
    /// The client to answer.
    pub client: ClientId,
    /// Its steps.
    pub steps: Vec<Step>,
    /// Where it is.
    pub phase: Phase,
    /// The orchestrator's clock when the current step was first sent.
    #[serde(skip)]
    since: Time,
    /// The orchestrator's clock when it took the saga up (started it, or read it back).
    #[serde(skip)]
    taken: Time,
}

/// A balance read waiting for the services.
#[derive(Clone, Debug, Hash)]
struct ReadWait {
    client: ClientId,
    id: RequestId,
    got: BTreeMap<u32, Vec<(u32, i64)>>,
}

/// What a service knows of one step it was sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Entry {
    /// The step's delta if it was applied; `Some(0)` never happens (a delta is not 0).
    pub applied: Option<i64>,
    /// It was refused.
    pub refused: bool,
    /// Its compensation was applied.
    pub compensated: bool,
    /// A compensation came first: the step is refused.
    pub tombstone: bool,
}

/// One node: the orchestrator (n1) or a service.
#[derive(Clone, Debug)]
pub struct Sagas {
    id: NodeId,
    n: u32,
    config: Config,
    // The orchestrator's state.
    sagas: BTreeMap<SagaId, Saga>,
    in_flight: BTreeSet<SagaId>,
    /// Sagas finished by this incarnation, in order (for the checks and metrics).
    finished: Vec<(SagaId, Ending, u32)>,
    committed: u64,
    compensated: u64,
    reads: BTreeMap<u64, ReadWait>,
    read_seq: u64,
    /// Reads answered, and how many of them saw a sum other than the initial total.
    reads_answered: u64,
    reads_off: u64,
    // A service's state.
    balances: BTreeMap<u32, i64>,
    entries: BTreeMap<(SagaId, u32), Entry>,
    executed: u64,
    /// What this service incarnation has seen: steps redelivered and answered from their
    /// record, tombstones left, late steps refused by a tombstone.
    seen: Seen,
}

/// A service's counts of idempotency at work (volatile: for the metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Seen {
    /// Steps and compensations redelivered, answered from the record.
    pub redelivered: u64,
    /// Compensations that came before their step (tombstones left).
    pub tombstones: u64,
    /// Steps that came after their compensation, refused.
    pub late_refused: u64,
}

impl Sagas {
    fn is_orchestrator(&self) -> bool {
        self.id == ORCHESTRATOR
    }

    fn service_of(&self, account: u32) -> NodeId {
        service_of(account, self.n)
    }

    /// Appends `record` to the saga log and syncs it.
    fn log(&self, ctx: &mut Ctx<'_, Self>, record: Record) {
        ctx.append(record);
        self.log_sync(ctx);
    }

    /// A well-formed saga: 1 to STEPS_MAX steps on known accounts, none zero, debits before
    /// credits, summing to zero.
    fn well_formed(&self, steps: &[Step]) -> bool {
        let mut credited = false;
        let mut sum: i64 = 0;
        for s in steps {
            if s.account >= self.config.accounts || s.delta == 0 {
                return false;
            }
            if s.delta > 0 {
                credited = true;
            } else if credited {
                return false;
            }
            sum = match sum.checked_add(s.delta) {
                Some(v) => v,
                None => return false,
            };
        }
        (1..=STEPS_MAX).contains(&steps.len()) && sum == 0
    }

    fn on_saga_request(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        client: ClientId,
        id: RequestId,
        steps: Vec<Step>,
    ) {
        let saga = id.0;
        if let Some(s) = self.sagas.get(&saga) {
            // A retry: answer if finished, else the answer comes when it finishes.
            if let Phase::Done(ending) = s.phase {
                ctx.reply(client, id, answer(ending));
            }
            return;
        }
        if !self.well_formed(&steps) {
            ctx.reply(client, id, Response::Rejected);
            return;
        }
        self.log(
            ctx,
            Record::Started {
                saga,
                client,
                steps: steps.clone(),
            },
        );
        let now = ctx.now();
        self.sagas.insert(
            saga,
            Saga {
                client,
                steps,
                phase: Phase::Forward(0),
                since: now,
                taken: now,
            },
        );
        self.in_flight.insert(saga);
        self.send_current(ctx, saga);
    }

    /// Sends the saga's current step or compensation.
    fn send_current(&self, ctx: &mut Ctx<'_, Self>, saga: SagaId) {
        let Some(s) = self.sagas.get(&saga) else {
            return;
        };
        match s.phase {
            Phase::Forward(i) => {
                if let Some(&what) = s.steps.get(i as usize) {
                    let to = self.service_of(what.account);
                    ctx.send(
                        to,
                        Msg::Do {
                            saga,
                            step: i,
                            what,
                        },
                    );
                }
            }
            Phase::Backward { next, .. } => {
                if let Some(&what) = s.steps.get(next as usize) {
                    let to = self.service_of(what.account);
                    ctx.send(
                        to,
                        Msg::Undo {
                            saga,
                            step: next,
                            what,
                        },
                    );
                }
            }
            Phase::Done(_) => {}
        }
    }

    fn on_done(&mut self, ctx: &mut Ctx<'_, Self>, saga: SagaId, step: u32, ok: bool) {
        let Some(s) = self.sagas.get(&saga) else {
            return;
        };
        if s.phase != Phase::Forward(step) {
            return; // a redelivered or late answer
        }
        let len = s.steps.len() as u32;
        let result = if ok {
            StepResult::Applied
        } else {
            StepResult::Refused
        };
        ctx.append(Record::StepDone { saga, step, result });
        if !ok {
            let from = step.checked_sub(1);
            self.turn_back(ctx, saga, step, from);
        } else if step + 1 < len {
            self.log_sync(ctx);
            self.advance(ctx, saga, Phase::Forward(step + 1));
        } else {
            self.finish(ctx, saga, Ending::Committed);
        }
    }

    /// Syncs what was appended to the saga log (not with `saga_log_in_memory`).
    fn log_sync(&self, ctx: &mut Ctx<'_, Self>) {
        if !self.config.bugs.saga_log_in_memory {
            ctx.sync();
        }
    }

    /// Moves the saga to `phase` and sends its next message.
    fn advance(&mut self, ctx: &mut Ctx<'_, Self>, saga: SagaId, phase: Phase) {
        let now = ctx.now();
        if let Some(s) = self.sagas.get_mut(&saga) {
            s.phase = phase;
            s.since = now;
        }
        self.send_current(ctx, saga);
    }

    /// Step `failed` did not run (or may not have): compensate from step `from` down.
    fn turn_back(&mut self, ctx: &mut Ctx<'_, Self>, saga: SagaId, failed: u32, from: Option<u32>) {
        ctx.append(Record::Compensating { saga, failed, from });
        match from {
            Some(next) => {
                self.log_sync(ctx);
                self.advance(ctx, saga, Phase::Backward { next, failed });
            }
            None => self.finish(ctx, saga, Ending::Compensated { failed }),
        }
    }

    fn on_undone(&mut self, ctx: &mut Ctx<'_, Self>, saga: SagaId, step: u32) {
        let Some(s) = self.sagas.get(&saga) else {
            return;
        };
        let Phase::Backward { next, failed } = s.phase else {
            return;
        };
        if next != step {
            return;
        }
        ctx.append(Record::Undone { saga, step });
        match step.checked_sub(1) {
            Some(below) => {
                self.log_sync(ctx);
                self.advance(
                    ctx,
                    saga,
                    Phase::Backward {
                        next: below,
                        failed,
                    },
                );
            }
            None => self.finish(ctx, saga, Ending::Compensated { failed }),
        }
    }

    /// Logs the end (synced), and answers the client.
    fn finish(&mut self, ctx: &mut Ctx<'_, Self>, saga: SagaId, ending: Ending) {
        self.log(ctx, Record::Finished { saga, ending });
        let Some(s) = self.sagas.get_mut(&saga) else {
            return;
        };
        s.phase = Phase::Done(ending);
        let (client, steps) = (s.client, s.steps.len() as u32);
        self.in_flight.remove(&saga);
        self.finished.push((saga, ending, steps));
        match ending {
            Ending::Committed => self.committed += 1,
            Ending::Compensated { .. } => self.compensated += 1,
        }
        ctx.annotate("finished", self.committed + self.compensated);
        ctx.reply(client, RequestId(saga), answer(ending));
    }

    fn on_resend(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        let timeout = Time::from_ms(self.config.step_timeout_ms);
        let late: Vec<SagaId> = self
            .in_flight
            .iter()
            .copied()
            .filter(|id| {
                let s = &self.sagas[id];
                match s.phase {
                    Phase::Forward(i) => {
                        let debit = s.steps.get(i as usize).is_some_and(|st| st.delta < 0);
                        debit && now.sub(s.since) >= timeout
                    }
                    _ => false,
                }
            })
            .collect();
        for saga in late {
            let Phase::Forward(i) = self.sagas[&saga].phase else {
                continue;
            };
            // The step's outcome is unknown: it may have run, so it is compensated too.
            ctx.append(Record::StepDone {
                saga,
                step: i,
                result: StepResult::GaveUp,
            });
            let from = if self.config.bugs.skip_unknown_step {
                i.checked_sub(1)
            } else {
                Some(i)
            };
            self.turn_back(ctx, saga, i, from);
        }
        let open: Vec<SagaId> = self.in_flight.iter().copied().collect();
        for saga in open {
            self.send_current(ctx, saga);
        }
        for (&read, r) in &self.reads {
            for s in 1..self.n {
                if !r.got.contains_key(&s) {
                    ctx.send(NodeId(s), Msg::Read { read });
                }
            }
        }
        ctx.set_timer(Timer::Resend, Time::from_ms(self.config.resend_ms));
    }

    fn on_read_request(&mut self, ctx: &mut Ctx<'_, Self>, client: ClientId, id: RequestId) {
        if self.reads.values().any(|r| r.id == id) || self.reads.len() >= READS_MAX {
            return;
        }
        self.read_seq += 1;
        let read = self.read_seq;
        self.reads.insert(
            read,
            ReadWait {
                client,
                id,
                got: BTreeMap::new(),
            },
        );
        for s in 1..self.n {
            ctx.send(NodeId(s), Msg::Read { read });
        }
    }

    fn on_balances(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        read: u64,
        balances: Vec<(u32, i64)>,
    ) {
        let Some(r) = self.reads.get_mut(&read) else {
            return;
        };
        r.got.insert(from.0, balances);
        if r.got.len() + 1 < self.n as usize {
            return;
        }
        let r = self.reads.remove(&read).expect("just found");
        let mut all = vec![0i64; self.config.accounts as usize];
        for (account, b) in r.got.into_values().flatten() {
            if let Some(slot) = all.get_mut(account as usize) {
                *slot = b;
            }
        }
        let total = all.iter().fold(0i64, |a, &b| a.saturating_add(b));
        self.reads_answered += 1;
        if total != self.config.initial_total() {
            self.reads_off += 1;
        }
        ctx.reply(
            r.client,
            r.id,
            Response::Total {
                total,
                balances: all,
            },
        );
    }

    /// Service: a forward step.
    fn on_do(&mut self, ctx: &mut Ctx<'_, Self>, saga: SagaId, step: u32, what: Step) {
        if self.service_of(what.account) != self.id {
            return;
        }
        let key = (saga, step);
        let e = self.entries.get(&key).copied().unwrap_or_default();
        let redo = self.config.bugs.step_not_idempotent && e.applied.is_some();
        let ok = if e.tombstone || e.compensated || e.refused {
            if e.tombstone && e.applied.is_none() {
                self.seen.late_refused += 1;
            } else {
                self.seen.redelivered += 1;
            }
            false // the step is dead: refused, or compensated already
        } else if e.applied.is_some() && !redo {
            self.seen.redelivered += 1;
            true // a redelivery: answered from the record
        } else {
            let balance = self.balances.get(&what.account).copied().unwrap_or(0);
            match balance.checked_add(what.delta) {
                Some(after) if after >= 0 => {
                    self.balances.insert(what.account, after);
                    self.entries.entry(key).or_default().applied = Some(what.delta);
                    self.executed += 1;
                    ctx.append(Record::Applied {
                        saga,
                        step,
                        account: what.account,
                        delta: what.delta,
                    });
                    true
                }
                _ => {
                    if e.applied.is_none() {
                        self.entries.entry(key).or_default().refused = true;
                        ctx.append(Record::Refused { saga, step });
                    }
                    e.applied.is_some()
                }
            }
        };
        ctx.sync();
        ctx.annotate("executed", self.executed);
        ctx.send(ORCHESTRATOR, Msg::Done { saga, step, ok });
    }

    /// Service: a compensation.
    fn on_undo(&mut self, ctx: &mut Ctx<'_, Self>, saga: SagaId, step: u32, what: Step) {
        if self.service_of(what.account) != self.id {
            return;
        }
        let key = (saga, step);
        let e = self.entries.get(&key).copied().unwrap_or_default();
        if !e.compensated && !e.tombstone {
            let executed = e.applied;
            let blind = self.config.bugs.blind_compensation && executed.is_none() && !e.refused;
            if let Some(delta) = executed.or(blind.then_some(what.delta)) {
                let balance = self.balances.get(&what.account).copied().unwrap_or(0);
                self.balances
                    .insert(what.account, balance.saturating_sub(delta));
                self.entries.entry(key).or_default().compensated = true;
                self.executed += 1;
                ctx.append(Record::Compensated {
                    saga,
                    step,
                    account: what.account,
                    delta,
                });
            } else if !e.refused && !self.config.bugs.no_tombstone {
                self.seen.tombstones += 1;
                self.entries.entry(key).or_default().tombstone = true;
                ctx.append(Record::Tombstone { saga, step });
            }
            ctx.sync();
            ctx.annotate("executed", self.executed);
        } else {
            self.seen.redelivered += 1;
        }
        ctx.send(ORCHESTRATOR, Msg::Undone { saga, step });
    }

    /// Service: rebuilds balances and records from the ledger.
    fn replay_ledger(&mut self, records: &[Record]) {
        for r in records {
            match *r {
                Record::Applied {
                    saga,
                    step,
                    account,
                    delta,
                } => {
                    let b = self.balances.entry(account).or_insert(0);
                    *b = b.saturating_add(delta);
                    self.entries.entry((saga, step)).or_default().applied = Some(delta);
                    self.executed += 1;
                }
                Record::Refused { saga, step } => {
                    self.entries.entry((saga, step)).or_default().refused = true;
                }
                Record::Compensated {
                    saga,
                    step,
                    account,
                    delta,
                } => {
                    let b = self.balances.entry(account).or_insert(0);
                    *b = b.saturating_sub(delta);
                    self.entries.entry((saga, step)).or_default().compensated = true;
                    self.executed += 1;
                }
                Record::Tombstone { saga, step } => {
                    self.entries.entry((saga, step)).or_default().tombstone = true;
                }
                _ => {}
            }
        }
    }

    /// Orchestrator: rebuilds the saga table from the log.
    fn replay_log(&mut self, records: &[Record], now: Time) {
        for r in records {
            match r {
                Record::Started {
                    saga,
                    client,
                    steps,
                } => {
                    self.sagas.insert(
                        *saga,
                        Saga {
                            client: *client,
                            steps: steps.clone(),
                            phase: Phase::Forward(0),
                            since: now,
                            taken: now,
                        },
                    );
                    self.in_flight.insert(*saga);
                }
                Record::StepDone {
                    saga,
                    step,
                    result: StepResult::Applied,
                } => {
                    if let Some(s) = self.sagas.get_mut(saga) {
                        s.phase = Phase::Forward(step + 1);
                    }
                }
                Record::Compensating {
                    saga,
                    failed,
                    from: Some(next),
                } => {
                    if let Some(s) = self.sagas.get_mut(saga) {
                        s.phase = Phase::Backward {
                            next: *next,
                            failed: *failed,
                        };
                    }
                }
                Record::Undone { saga, step } => {
                    if let Some(s) = self.sagas.get_mut(saga) {
                        if let (Phase::Backward { failed, .. }, Some(below)) =
                            (s.phase, step.checked_sub(1))
                        {
                            s.phase = Phase::Backward {
                                next: below,
                                failed,
                            };
                        }
                    }
                }
                Record::Finished { saga, ending } => {
                    if let Some(s) = self.sagas.get_mut(saga) {
                        s.phase = Phase::Done(*ending);
                        self.in_flight.remove(saga);
                        match ending {
                            Ending::Committed => self.committed += 1,
                            Ending::Compensated { .. } => self.compensated += 1,
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// The client's answer for a saga that ended so.
fn answer(ending: Ending) -> Response {
    match ending {
        Ending::Committed => Response::Committed,
        Ending::Compensated { failed } => Response::Compensated { failed },
    }
}

impl Protocol for Sagas {
    const NAME: &'static str = "saga";
    type Config = Config;
    type Msg = Msg;
    type Timer = Timer;
    type Request = Request;
    type Response = Response;
    type Record = Record;
    type Client = Driver<Sagas, Workload>;

    fn new(id: NodeId, nodes: u32, config: &Config) -> Self {
        let mut balances = BTreeMap::new();
        if id != ORCHESTRATOR {
            for a in (0..config.accounts).filter(|&a| service_of(a, nodes) == id) {
                let b = i64::try_from(config.initial_balance).unwrap_or(i64::MAX);
                balances.insert(a, b);
            }
        }
        Sagas {
            id,
            n: nodes,
            config: config.clone(),
            sagas: BTreeMap::new(),
            in_flight: BTreeSet::new(),
            finished: Vec::new(),
            committed: 0,
            compensated: 0,
            reads: BTreeMap::new(),
            read_seq: 0,
            reads_answered: 0,
            reads_off: 0,
            balances,
            entries: BTreeMap::new(),
            executed: 0,
            seen: Seen::default(),
        }
    }

    /// Takes the new bug switches; the other parameters stay as built.
    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.config.bugs = config.bugs.clone();
        Ok(())
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.is_orchestrator() {
            ctx.annotate("role", "orchestrator");
            ctx.set_timer(Timer::Resend, Time::from_ms(self.config.resend_ms));
        } else {
            ctx.annotate("role", "service");
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        let records = ctx.store().records().to_vec();
        if self.is_orchestrator() {
            self.replay_log(&records, ctx.now());
            self.on_start(ctx);
            // Resume every unfinished saga where its log left it.
            let open: Vec<SagaId> = self.in_flight.iter().copied().collect();
            for saga in open {
                let s = &self.sagas[&saga];
                match s.phase {
                    Phase::Forward(i) if i as usize >= s.steps.len() => {
                        self.finish(ctx, saga, Ending::Committed)
                    }
                    _ => self.send_current(ctx, saga),
                }
            }
        } else {
            self.replay_ledger(&records);
            self.on_start(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let orchestrator = self.is_orchestrator();
        match msg {
            Msg::Do { saga, step, what } if !orchestrator && from == ORCHESTRATOR => {
                self.on_do(ctx, saga, step, what)
            }
            Msg::Undo { saga, step, what } if !orchestrator && from == ORCHESTRATOR => {
                self.on_undo(ctx, saga, step, what)
            }
            Msg::Read { read } if !orchestrator => {
                let balances = self.balances.iter().map(|(&a, &b)| (a, b)).collect();
                ctx.send(from, Msg::Balances { read, balances });
            }
            Msg::Done { saga, step, ok } if orchestrator => self.on_done(ctx, saga, step, ok),
            Msg::Undone { saga, step } if orchestrator => self.on_undone(ctx, saga, step),
            Msg::Balances { read, balances } if orchestrator => {
                self.on_balances(ctx, from, read, balances)
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Resend if self.is_orchestrator() => self.on_resend(ctx),
            Timer::Resend => {}
        }
    }

    fn on_request(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        client: ClientId,
        id: RequestId,
        request: Request,
    ) {
        if !self.is_orchestrator() {
            ctx.reply(client, id, Response::NotOrchestrator);
            return;
        }
        match request {
            Request::Saga { steps } => self.on_saga_request(ctx, client, id, steps),
            Request::Balances => self.on_read_request(ctx, client, id),
        }
    }

    /// Two nodes at least (the orchestrator and a service), accounts for every service, and
    /// sizes and periods that keep the arithmetic far from overflowing.
    fn check_config(c: &Config, nodes: u32) -> Result<(), ConfigError> {
        if nodes < 2 {
            return Err(ConfigError::nodes(
                "saga needs an orchestrator (n1) and at least one service: give 2 nodes or more",
            ));
        }
        let bounded: [(&str, u64, u64, u64); 7] = [
            ("accounts", u64::from(c.accounts), 2, 1024),
            ("initial_balance", c.initial_balance, 0, 1_000_000_000_000),
            ("amount_max", c.amount_max, 1, 1_000_000_000),
            ("steps_max", u64::from(c.steps_max), 2, 4),
            ("long_percent", u64::from(c.long_percent), 0, 100),
            ("read_percent", u64::from(c.read_percent), 0, 100),
            ("resend_ms", c.resend_ms, 1, 3_600_000),
        ];
        for (field, v, lo, hi) in bounded {
            if v < lo || v > hi {
                return Err(ConfigError::new(
                    field,
                    format!("{v} is out of range: give {lo} to {hi}"),
                ));
            }
        }
        if c.step_timeout_ms <= c.resend_ms || c.step_timeout_ms > 3_600_000 {
            return Err(ConfigError::new(
                "step_timeout_ms",
                format!(
                    "{} must be longer than resend_ms ({}) and at most an hour: a step is sent more than once before it is given up on",
                    c.step_timeout_ms, c.resend_ms
                ),
            ));
        }
        if c.steps_max > c.accounts {
            return Err(ConfigError::new(
                "steps_max",
                format!(
                    "{} steps need as many distinct accounts; there are {}",
                    c.steps_max, c.accounts
                ),
            ));
        }
        Ok(())
    }

    /// The orchestrator shows its sagas in flight (steps and phase), the last few finished,
    /// its counts and reads; a service its balances and the records of the steps it was sent.
    fn show(&self, store: &Store<Record>, out: &mut Shown) {
        if self.is_orchestrator() {
            out.field("role", "orchestrator");
            let open: Vec<(SagaId, &Saga)> = self
                .in_flight
                .iter()
                .map(|id| (*id, &self.sagas[id]))
                .collect();
            out.field("in_flight", &open);
            let recent: Vec<(SagaId, Ending)> = self
                .finished
                .iter()
                .rev()
                .take(8)
                .map(|&(id, e, _)| (id, e))
                .collect();
            out.field("recently_finished", &recent);
            out.field("committed", &self.committed);
            out.field("compensated", &self.compensated);
            out.field("reads_waiting", &self.reads.len());
            out.store_log("saga_log", store, |r| (0, r), 0);
            return;
        }
        out.field("role", "service");
        out.field("balances", &self.balances);
        out.field("executed", &self.executed);
        out.field("seen", &self.seen);
        out.store_log("ledger", store, |r| (0, r), 0);
    }

    fn vocabulary() -> Vocabulary {
        Vocabulary::none()
            .role("role", &["orchestrator"], &[])
            .progress(&["finished", "executed"])
            .serves_replies()
            .serves_progress("executed")
    }

    /// Every answer but "ask the orchestrator" is service.
    fn serves(response: &Response) -> bool {
        !matches!(response, Response::NotOrchestrator)
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        checks::properties()
    }

    fn metrics() -> Vec<MetricDef<Self>> {
        checks::metrics()
    }

    /// The resend period and the step timeout, within ranges that keep several resends in a
    /// timeout; sizes, amounts and the mix stay as configured.
    fn knobs() -> Vec<Knob> {
        vec![
            Knob::between("resend_ms", 20, 60),
            Knob::between("step_timeout_ms", 200, 800),
        ]
    }

    /// After the heal the orchestrator is up and finishes every saga within in_flight_max of
    /// taking it up, and keeps doing so.
    fn liveness(c: &Config) -> Liveness {
        Liveness::default().within(
            "sagas_finish",
            true,
            c.liveness_budget(),
            "2 × steps_max × step_timeout_ms + 14 × resend_ms",
        )
    }

    fn record_bytes(r: &Record) -> u64 {
        match r {
            Record::Started { steps, .. } => 16 + 12 * steps.len() as u64,
            _ => 24,
        }
    }
}

/// The workload: sagas that move money between distinct accounts, and reads of every
/// balance.
#[derive(Clone, Debug, Hash)]
pub struct Workload {
    accounts: u32,
    amount_max: u64,
    steps_max: u32,
    long_percent: u32,
    read_percent: u32,
}

impl Generator<Sagas> for Workload {
    fn new(_: ClientId, c: &Config) -> Self {
        Workload {
            accounts: c.accounts,
            amount_max: c.amount_max,
            steps_max: c.steps_max,
            long_percent: c.long_percent,
            read_percent: c.read_percent,
        }
    }

    fn next_request(&mut self, ctx: &mut ClientCtx<'_, Sagas>) -> Request {
        let rng = ctx.rng();
        if rng.below(100) < u64::from(self.read_percent) {
            return Request::Balances;
        }
        let long = rng.below(100) < u64::from(self.long_percent);
        let k = if long && self.steps_max >= 3 {
            rng.between(3, u64::from(self.steps_max.min(self.accounts))) as u32
        } else {
            2
        };
        let mut accounts: Vec<u32> = (0..self.accounts).collect();
        rng.shuffle(&mut accounts);
        accounts.truncate(k as usize);
        let debits = if k == 2 {
            1
        } else {
            rng.between(1, u64::from(k - 1)) as u32
        };
        let credits = u64::from(k - debits);
        let mut steps = Vec::with_capacity(k as usize);
        let mut total: u64 = 0;
        for &a in &accounts[..debits as usize] {
            let amount = rng.between(credits, self.amount_max.max(credits));
            total += amount;
            steps.push(Step {
                account: a,
                delta: -(amount as i64),
            });
        }
        let share = total / credits;
        for (i, &a) in accounts[debits as usize..].iter().enumerate() {
            let extra = if i == 0 { total % credits } else { 0 };
            steps.push(Step {
                account: a,
                delta: (share + extra) as i64,
            });
        }
        Request::Saga { steps }
    }

    fn classify(&mut self, _: &Request, response: &Response) -> ClientVerdict {
        match response {
            Response::Committed | Response::Total { .. } => ClientVerdict::Ok,
            Response::Compensated { .. } | Response::Rejected => ClientVerdict::Fail,
            Response::NotOrchestrator => ClientVerdict::Redirect(Some(ORCHESTRATOR)),
        }
    }
}
