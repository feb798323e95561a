//! Client workloads and the history they record.
//!
//! [`History`] is the record every client operation leaves: who invoked what, when, and how
//! it ended (ok, failed, or unknown when the client gave up). [`Driver`] is a ready-made
//! closed-loop client any protocol can use: think, invoke, send to a node, follow redirects,
//! time out, retry with the same request id, and give up with an unknown outcome. A protocol
//! supplies only a [`Generator`]: what to ask and how to read an answer.
//!
//! Must not import the engine, network, storage or trace.

use crate::protocol::{ClientCtx, ClientLogic, Protocol, RequestId};
use crate::types::{ClientId, NodeId, Time};
use serde::{Deserialize, Serialize};

/// The generic workload parameters of a scenario (`"workload": {...}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadConfig {
    /// Number of clients.
    pub clients: u32,
    /// Operations each client issues at most (0 = no limit but time).
    pub ops_per_client_max: u64,
    /// Pause between one operation's end and the next one's start, milliseconds (min).
    pub think_ms_min: u64,
    /// Pause between operations, milliseconds (max).
    pub think_ms_max: u64,
    /// How long a client waits for an answer before retrying, milliseconds.
    pub timeout_ms: u64,
    /// Retries (each to another node) before the outcome is declared unknown.
    pub retries: u32,
    /// No new operation starts after this virtual time, milliseconds (0 = the run's end).
    pub stop_ms: u64,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            clients: 0,
            ops_per_client_max: 0,
            think_ms_min: 50,
            think_ms_max: 200,
            timeout_ms: 500,
            retries: 2,
            stop_ms: 0,
        }
    }
}

/// Index of an operation in the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct OpId(pub u32);

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome<S> {
    /// Not finished yet (or the run ended first).
    Pending,
    /// Succeeded with this answer.
    Ok(S),
    /// Definitely did not take effect; the answer says why.
    Fail(S),
    /// The client gave up: it may or may not have taken effect.
    Unknown,
}

/// One client operation.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryOp<Q, S> {
    /// The client that issued it.
    pub client: ClientId,
    /// The process id (a client takes a new one after an unknown outcome).
    pub process: u64,
    /// What was asked.
    pub request: Q,
    /// When it was invoked.
    pub invoked_at: Time,
    /// How it ended.
    pub outcome: Outcome<S>,
    /// When it ended.
    pub completed_at: Option<Time>,
}

/// Every client operation of a run, in invocation order.
#[derive(Clone, Debug)]
pub struct History<Q, S> {
    ops: Vec<HistoryOp<Q, S>>,
    next_process: u64,
}

/// Counts of operations by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OpCounts {
    /// Operations invoked.
    pub invoked: u64,
    /// Ended ok.
    pub ok: u64,
    /// Ended failed.
    pub fail: u64,
    /// Ended unknown.
    pub unknown: u64,
    /// Still pending at the end.
    pub pending: u64,
}

impl<Q, S> History<Q, S> {
    /// An empty history for `clients` clients (process ids `0..clients` are taken first).
    pub fn new(clients: u32) -> Self {
        History {
            ops: Vec::new(),
            next_process: u64::from(clients),
        }
    }

    /// Records an invocation.
    pub fn invoke(&mut self, client: ClientId, process: u64, request: Q, now: Time) -> OpId {
        let id = OpId(self.ops.len() as u32);
        self.ops.push(HistoryOp {
            client,
            process,
            request,
            invoked_at: now,
            outcome: Outcome::Pending,
            completed_at: None,
        });
        id
    }

    /// Records a completion. Completing an operation twice is a client bug and is ignored in
    /// release builds.
    pub fn complete(&mut self, op: OpId, outcome: Outcome<S>, now: Time) {
        let entry = &mut self.ops[op.0 as usize];
        debug_assert!(
            matches!(entry.outcome, Outcome::Pending),
            "operation {op:?} completed twice"
        );
        if matches!(entry.outcome, Outcome::Pending) {
            entry.outcome = outcome;
            entry.completed_at = Some(now);
        }
    }

    /// A process id never used before.
    pub fn fresh_process(&mut self) -> u64 {
        let p = self.next_process;
        self.next_process += 1;
        p
    }

    /// All operations.
    pub fn ops(&self) -> &[HistoryOp<Q, S>] {
        &self.ops
    }

    /// One operation.
    pub fn op(&self, id: OpId) -> &HistoryOp<Q, S> {
        &self.ops[id.0 as usize]
    }

    /// Counts by outcome.
    pub fn counts(&self) -> OpCounts {
        let mut c = OpCounts {
            invoked: self.ops.len() as u64,
            ..OpCounts::default()
        };
        for op in &self.ops {
            match op.outcome {
                Outcome::Pending => c.pending += 1,
                Outcome::Ok(_) => c.ok += 1,
                Outcome::Fail(_) => c.fail += 1,
                Outcome::Unknown => c.unknown += 1,
            }
        }
        c
    }
}

/// How a [`Driver`] reads one answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The operation is done and took effect (or read what it read).
    Ok,
    /// The operation is done and definitely did not take effect.
    Fail,
    /// Ask this node instead (a redirect to the leader), or another one if `None`.
    Redirect(Option<NodeId>),
}

/// The protocol-specific part of a closed-loop client.
pub trait Generator<P: Protocol>: Sized {
    /// Builds the generator for one client.
    fn new(client: ClientId, config: &P::Config) -> Self;
    /// The next operation to issue.
    fn next_request(&mut self, ctx: &mut ClientCtx<'_, P>) -> P::Request;
    /// How to read an answer to `request`.
    fn classify(&mut self, request: &P::Request, response: &P::Response) -> Verdict;
    /// Keep sending to the node that answered last (a leader), instead of a random node for
    /// each new operation.
    fn sticky(&self) -> bool {
        true
    }
}

const TIMER_THINK: u64 = 0;
const TIMER_TIMEOUT: u64 = 1;

/// The operation a driver is working on.
#[derive(Clone, Debug)]
struct InFlight<Q> {
    op: OpId,
    id: RequestId,
    request: Q,
    attempts: u32,
    target: NodeId,
}

/// A closed-loop client: one operation at a time, with think time, timeouts, redirects,
/// retries under the same request id, and give-up as an unknown outcome.
#[derive(Clone, Debug)]
pub struct Driver<P: Protocol, G> {
    id: ClientId,
    nodes: u32,
    config: WorkloadConfig,
    generator: G,
    issued: u64,
    next_request: u64,
    current: Option<InFlight<P::Request>>,
    preferred: Option<NodeId>,
}

impl<P: Protocol, G: Generator<P>> Driver<P, G> {
    fn think(&mut self, ctx: &mut ClientCtx<'_, P>) {
        let ms = ctx
            .rng()
            .between(self.config.think_ms_min, self.config.think_ms_max);
        ctx.set_timer(TIMER_THINK, Time::from_ms(ms));
    }

    fn pick_target(&mut self, ctx: &mut ClientCtx<'_, P>, avoid: Option<NodeId>) -> NodeId {
        if let Some(p) = self.preferred.filter(|&p| Some(p) != avoid) {
            return p;
        }
        if self.nodes <= 1 {
            return NodeId(0);
        }
        loop {
            let n = NodeId(ctx.rng().below(u64::from(self.nodes)) as u32);
            if Some(n) != avoid {
                return n;
            }
        }
    }

    fn transmit(&mut self, ctx: &mut ClientCtx<'_, P>) {
        let Some(cur) = &self.current else { return };
        ctx.send(cur.target, cur.id, cur.request.clone());
        ctx.set_timer(TIMER_TIMEOUT, Time::from_ms(self.config.timeout_ms));
    }

    fn finish(&mut self, ctx: &mut ClientCtx<'_, P>, outcome: Outcome<P::Response>) {
        if let Some(cur) = self.current.take() {
            ctx.cancel_timer(TIMER_TIMEOUT);
            ctx.complete(cur.op, outcome);
            self.think(ctx);
        }
    }

    fn may_issue(&self, now: Time) -> bool {
        let under_max =
            self.config.ops_per_client_max == 0 || self.issued < self.config.ops_per_client_max;
        let in_time = self.config.stop_ms == 0 || now < Time::from_ms(self.config.stop_ms);
        under_max && in_time
    }
}

impl<P: Protocol, G: Generator<P>> ClientLogic<P> for Driver<P, G> {
    fn new(id: ClientId, nodes: u32, workload: &WorkloadConfig, config: &P::Config) -> Self {
        Driver {
            id,
            nodes,
            config: workload.clone(),
            generator: G::new(id, config),
            issued: 0,
            next_request: 0,
            current: None,
            preferred: None,
        }
    }

    fn on_start(&mut self, ctx: &mut ClientCtx<'_, P>) {
        self.think(ctx);
    }

    fn on_response(
        &mut self,
        ctx: &mut ClientCtx<'_, P>,
        from: NodeId,
        id: RequestId,
        response: P::Response,
    ) {
        let Some(cur) = &self.current else { return };
        if cur.id != id {
            return; // a late answer to an earlier attempt of a finished operation
        }
        match self.generator.classify(&cur.request, &response) {
            Verdict::Ok => {
                self.preferred = self.generator.sticky().then_some(from);
                self.finish(ctx, Outcome::Ok(response));
            }
            Verdict::Fail => self.finish(ctx, Outcome::Fail(response)),
            Verdict::Redirect(hint) => {
                if from != cur.target {
                    // A duplicate or late redirect from a node already left behind: following
                    // it would put a second copy of the request in flight, and duplicates of
                    // that copy a third, and so on.
                    return;
                }
                let target = match hint {
                    Some(n) if n.0 < self.nodes => n,
                    _ => self.pick_target(ctx, Some(from)),
                };
                self.preferred = hint;
                if let Some(cur) = &mut self.current {
                    cur.target = target;
                }
                self.transmit(ctx);
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut ClientCtx<'_, P>, timer: u64) {
        match timer {
            TIMER_THINK => {
                if self.current.is_some() || !self.may_issue(ctx.now()) {
                    return;
                }
                let request = self.generator.next_request(ctx);
                let op = ctx.invoke(request.clone());
                // The layout `RequestId::serial` documents.
                let id = RequestId((u64::from(self.id.0) << 40) | self.next_request);
                self.next_request += 1;
                self.issued += 1;
                let target = self.pick_target(ctx, None);
                self.current = Some(InFlight {
                    op,
                    id,
                    request,
                    attempts: 0,
                    target,
                });
                self.transmit(ctx);
            }
            TIMER_TIMEOUT => {
                let Some(cur) = &mut self.current else { return };
                cur.attempts += 1;
                if cur.attempts > self.config.retries {
                    self.preferred = None;
                    self.finish(ctx, Outcome::Unknown);
                    return;
                }
                let previous = cur.target;
                self.preferred = None;
                let target = self.pick_target(ctx, Some(previous));
                if let Some(cur) = &mut self.current {
                    cur.target = target;
                }
                self.transmit(ctx);
            }
            _ => {}
        }
    }
}
