//! How a run ended and what it counted: [`RunReport`] and its [`Verdict`].

use crate::base::types::Time;
use crate::check::{Finding, RecoveryReport};
use crate::history::OpCounts;
use crate::network::NetStats;
use crate::storage::StoreStats;
use serde::Serialize;
use std::collections::BTreeMap;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// Every check held.
    Pass,
    /// A check failed, a protocol panicked, or the event budget ran out.
    Fail(Finding),
    /// No check failed, but some could not be decided: a within- or eventually-check whose
    /// deadline lies beyond the end of the run had not held yet.
    Inconclusive {
        /// Which checks, and why.
        reason: String,
    },
    /// The run was stopped from outside (the trace sink refused a line: an I/O error, or a
    /// replay that diverged).
    Aborted {
        /// Why.
        reason: String,
    },
}

/// The outcome and the counters of one run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The end-of-run history check, when the protocol names one and the run got that far.
    pub history_check: Option<HistoryReport>,
    /// Protocol name.
    pub protocol: &'static str,
    /// Seed.
    pub seed: u64,
    /// How it ended.
    pub verdict: Verdict,
    /// Events popped from the queue.
    pub steps: u64,
    /// Virtual time at the end.
    pub time_end: Time,
    /// Faults applied (scheduled, random and the heal's own).
    pub faults_injected: u64,
    /// Property evaluations.
    pub checks_evaluated: u64,
    /// Each check's standing.
    pub checks: Vec<crate::check::CheckReport>,
    /// Network counters.
    pub network: NetStats,
    /// Storage counters, per node.
    pub storage: Vec<StoreStats>,
    /// Restarts, per node.
    pub incarnations: Vec<u32>,
    /// Client operations by outcome.
    pub ops: OpCounts,
    /// Measurements reported by the protocol's checks (detection times, ...) and the
    /// recovery figures every protocol gets (under `recovery.`).
    pub metrics: BTreeMap<String, serde_json::Value>,
    /// The recovery figures (also among `metrics`), when the run measured anything.
    #[serde(skip)]
    pub recovery: Option<RecoveryReport>,
    /// Trace records produced.
    pub records: u64,
    /// The run's fingerprint (hex in summaries).
    pub fingerprint: u64,
}

impl RunReport {
    /// Total syncs over all nodes.
    pub fn syncs(&self) -> u64 {
        self.storage.iter().map(|s| s.syncs).sum()
    }
    /// Total bytes synced over all nodes.
    pub fn bytes_synced(&self) -> u64 {
        self.storage.iter().map(|s| s.bytes_synced).sum()
    }
}

/// What the end-of-run history check found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryReport {
    /// The check (`linearizable`).
    pub check: &'static str,
    /// `held`, `violated` or `inconclusive`.
    pub verdict: &'static str,
    /// Operations in the history.
    pub ops: usize,
    /// Operations that cannot matter (unknown reads, definite failures).
    pub ignored: usize,
    /// Parts (keys) searched independently.
    pub keys: usize,
    /// Search steps taken.
    pub steps: u64,
}
