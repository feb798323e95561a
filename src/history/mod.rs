//! The client history: every operation the clients invoked, when, and how it ended.
//!
//! [`History`] is the record every client operation leaves: who invoked what, when, and how
//! it ended (ok, failed, or unknown when the client gave up). Clients write it through
//! their context; checks read it during the run, and the protocol's [`HistoryCheck`]
//! judges it when the run ends.
//!
//! Must not import the engine, network, storage or trace.

mod check;
mod eventual;

pub use check::{HistoryCheck, HistoryVerdict, Judgement, Linearizable, checked_ops};
pub use eventual::Eventual;

use crate::base::types::{ClientId, Time};
use serde::Serialize;

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
