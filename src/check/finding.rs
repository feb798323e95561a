//! Findings: a failed check, what class of failure it is, and each check's standing for the
//! summary.

use crate::base::types::{NodeId, Time};
use serde::Serialize;

/// Whether a finding is about safety or liveness, or something else that stopped the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// Something bad happened (an always-check failed).
    Safety,
    /// Something good did not happen in time (eventually or within).
    Liveness,
    /// A sometimes-check never held: the run did not exercise what it should.
    Vacuous,
    /// A protocol handler panicked.
    Panic,
    /// The event budget ran out (a message storm or a livelock).
    EventBudget,
    /// A measurement of the run (one of the protocol's metrics) ended outside the bounds a
    /// `metric` expectation set: too many retransmissions, too few recoveries.
    Metric,
    /// The run reached one of the memory bounds in `limits` (client history, store, pending
    /// events, faults): it stopped before it could say anything about the protocol, so it
    /// is inconclusive (exit 4), never a protocol bug.
    MemoryBound,
}

impl FailureClass {
    /// The name used in reports and traces.
    pub fn name(self) -> &'static str {
        match self {
            FailureClass::Safety => "safety",
            FailureClass::Liveness => "liveness",
            FailureClass::Vacuous => "vacuous",
            FailureClass::Panic => "panic",
            FailureClass::EventBudget => "event_budget",
            FailureClass::MemoryBound => "memory_bound",
            FailureClass::Metric => "metric",
        }
    }

    /// Whether a finding of this class says something about the protocol. A memory bound
    /// does not: the run was stopped to keep memory bounded, and sweep, hunt and shrink
    /// count it with the inconclusive runs.
    pub fn is_conclusive(self) -> bool {
        self != FailureClass::MemoryBound
    }
}

/// A failed check: what, where, when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Check name.
    pub check: String,
    /// Kind name (always, eventually, within, sometimes, or the engine's own).
    pub kind: String,
    /// Safety, liveness, ...
    pub class: FailureClass,
    /// Step at which it was found.
    pub step: u64,
    /// Virtual time at which it was found.
    pub time: Time,
    /// Nodes involved.
    pub nodes: Vec<NodeId>,
    /// What is wrong.
    pub message: String,
}

impl Finding {
    /// The finding of a run that reached the memory bound `limits.<limit>` (whose value is
    /// `value`) at `step`, `time`: `what` says what filled up. The message names the bound,
    /// its value and the override that raises it; the reproduce line is the caller's.
    pub fn memory_bound(limit: &str, value: u64, what: &str, step: u64, time: Time) -> Finding {
        Finding {
            check: limit.to_string(),
            kind: "engine".to_string(),
            class: FailureClass::MemoryBound,
            step,
            time,
            nodes: vec![],
            message: format!(
                "{what} went past limits.{limit} = {value} at {time}; the run stopped there to keep its memory bounded, which says nothing about the protocol; raise the bound with --set limits.{limit}=N"
            ),
        }
    }
}

/// A check's standing at the end of a run, for the summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// Check name.
    pub check: String,
    /// Kind name.
    pub kind: &'static str,
    /// `held`, `failed`, `satisfied at <time>`, `open` ...
    pub status: String,
}

/// A check that came true, for the trace: an eventually- or sometimes-check reached, or a
/// within-obligation met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckEvent {
    /// Check name.
    pub check: String,
    /// Kind name.
    pub kind: &'static str,
    /// What happened, in words.
    pub status: String,
}
