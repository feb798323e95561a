//! End-of-run checks of a whole client history, and the one every protocol with a register
//! or a key-value map uses: linearizability.
//!
//! A protocol names its history check ([`crate::protocol::Protocol::history_check`]) and
//! says how each of its requests and answers reads as an operation
//! ([`crate::protocol::Protocol::history_call`], [`crate::protocol::Protocol::history_value`]).
//! The engine maps the run's client history to [`Op`]s and hands them to the check once,
//! when the run ends normally. Other checks (transactional isolation, convergence of
//! replicated data types, set and counter semantics) implement [`HistoryCheck`] in their own
//! module; the engine and `lin/` need not change for them.

use super::{History, Outcome};
use crate::base::types::Time;
use crate::lin::{self, LinVerdict, ModelKind, Op};
use crate::protocol::Protocol;

/// What a history check concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryVerdict {
    /// The history is allowed.
    Held,
    /// It is not: why, in words (a counterexample).
    Violated(String),
    /// The check ran out of its budget before it could tell: why, in words.
    Inconclusive(String),
}

/// A history check's verdict and what it looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// The verdict.
    pub verdict: HistoryVerdict,
    /// Operations in the history.
    pub ops: usize,
    /// Operations that cannot matter (unknown reads, definite failures).
    pub ignored: usize,
    /// Parts checked independently (keys).
    pub parts: usize,
    /// Work done (search steps), counted so that a budget means the same on every machine.
    pub steps: u64,
}

/// An end-of-run check of a whole history.
pub trait HistoryCheck {
    /// The name findings and reports use (`linearizable`).
    fn name(&self) -> &'static str;
    /// Judges `ops`, spending at most `budget` steps per independent part. An error means
    /// the history does not fit the check at all (an operation it cannot read): a protocol
    /// bug, reported as such.
    fn judge(&self, ops: &[Op], budget: u64) -> Result<Judgement, String>;
}

/// Linearizability against a sequential model (a register, or a key-value map checked key
/// by key): Wing and Gong's search with Lowe's cache, from `lin/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linearizable(pub ModelKind);

impl HistoryCheck for Linearizable {
    fn name(&self) -> &'static str {
        "linearizable"
    }

    fn judge(&self, ops: &[Op], budget: u64) -> Result<Judgement, String> {
        let (verdict, stats) = lin::check(ops, self.0, budget)?;
        let verdict = match verdict {
            LinVerdict::Linearizable => HistoryVerdict::Held,
            LinVerdict::NotLinearizable(c) => HistoryVerdict::Violated(format!(
                "the client history is not linearizable ({} model): {}",
                self.0.name(),
                c.explain(ops)
            )),
            LinVerdict::Inconclusive(_) => HistoryVerdict::Inconclusive(format!(
                "the linearizability search used its budget of {budget} steps; raise limits.history_steps"
            )),
        };
        Ok(Judgement {
            verdict,
            ops: stats.ops,
            ignored: stats.ignored,
            parts: stats.partitions,
            steps: stats.steps,
        })
    }
}

/// The client history as `P`'s history check reads it: each operation `P` maps, with its
/// process, call and return times, and outcome (an operation still pending or given up is
/// unknown). Empty when `P` names no history check.
pub fn checked_ops<P: Protocol>(history: &History<P::Request, P::Response>) -> Vec<Op> {
    if P::history_check().is_none() {
        return Vec::new();
    }
    history
        .ops()
        .iter()
        .filter_map(|o| {
            let call = P::history_call(&o.request)?;
            let (outcome, ret) = match (&o.outcome, o.completed_at) {
                (Outcome::Ok(r), Some(t)) => (lin::Outcome::Ok(P::history_value(r)), Some(t)),
                (Outcome::Fail(r), Some(t)) => (lin::Outcome::Fail(P::history_value(r)), Some(t)),
                _ => (lin::Outcome::Unknown, None),
            };
            Some(Op {
                process: o.process,
                f: call.f.to_string(),
                key: call.key,
                value: call.value,
                outcome,
                call: o.invoked_at.as_us(),
                ret: ret.map(Time::as_us),
                line: 0,
            })
        })
        .collect()
}
