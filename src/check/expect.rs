//! Expectations: the kinds a scenario may check a property as, and the events that start a
//! "within" obligation. Data only: the runner gives them meaning.

use crate::base::types::{NodeId, Time};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of event starts a "within T" obligation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// A node crashed.
    Crash,
    /// A node restarted.
    Restart,
    /// A node was paused.
    Pause,
    /// A node was resumed.
    Resume,
    /// Links were cut (any partition shape).
    Partition,
    /// Links were restored.
    HealLinks,
    /// A clock was stepped or its drift changed.
    Clock,
    /// The heal that starts the liveness phase.
    Heal,
    /// A node's annotation (`"after": {"note": KEY, "value": V}`); which one is in the
    /// expectation ([`NoteMatch`]).
    Note,
}

impl TriggerKind {
    /// The name scenarios use (`crash`, `heal_links`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TriggerKind::Crash => "crash",
            TriggerKind::Restart => "restart",
            TriggerKind::Pause => "pause",
            TriggerKind::Resume => "resume",
            TriggerKind::Partition => "partition",
            TriggerKind::HealLinks => "heal_links",
            TriggerKind::Clock => "clock",
            TriggerKind::Heal => "heal",
            TriggerKind::Note => "note",
        }
    }
}

/// The annotations a `within` expectation is triggered by: every one under `key` (with
/// `value`, if given).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NoteMatch {
    /// The annotation key (`role`, `commit`, ...).
    pub key: String,
    /// The value it must have; any when absent.
    pub value: Option<serde_json::Value>,
}

impl NoteMatch {
    /// How reports name the trigger: `note role = leader`, or `note commit`.
    pub fn describe(&self) -> String {
        match &self.value {
            Some(serde_json::Value::String(s)) => format!("note {} = {s}", self.key),
            Some(v) => format!("note {} = {v}", self.key),
            None => format!("note {}", self.key),
        }
    }
}

/// One occurrence of a triggering event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Trigger {
    /// What happened.
    pub kind: TriggerKind,
    /// To which node, if it concerned one.
    pub node: Option<NodeId>,
    /// When.
    pub at: Time,
}

/// When a property must hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectKind {
    /// After every step.
    Always,
    /// At some step after the heal, within `budget` of it (or by the end of the run).
    Eventually {
        /// Liveness budget after the heal.
        budget: Option<Time>,
        /// Once true, it must stay true to the end of the run (eventual stability, as in
        /// "eventually no live node is suspected").
        stays: bool,
    },
    /// At least once in the run.
    Sometimes,
    /// After every step from `from` to `until` (either end open when absent): a windowed
    /// `always` (scenarios write `"kind": "always"` with `from_ms` or `until_ms`).
    During {
        /// The first moment it is judged.
        from: Option<Time>,
        /// The last moment it is judged.
        until: Option<Time>,
    },
    /// At no step from `from` to `until` (either end open when absent): the property names
    /// something that must not happen. Fails as safety at the first step where it holds.
    Never {
        /// The first moment it is judged.
        from: Option<Time>,
        /// The last moment it is judged.
        until: Option<Time>,
    },
    /// A bound on a measurement the protocol's metrics report, judged once at the end of a
    /// run that passed everything else (`check` names the metric).
    Metric(MetricBound),
    /// Within `within` after each event of kind `after` (on `node`, if given).
    Within {
        /// The triggering event kind.
        after: TriggerKind,
        /// For `TriggerKind::Note`: which annotations.
        note: Option<NoteMatch>,
        /// Only events concerning this node.
        node: Option<NodeId>,
        /// The deadline after each trigger.
        within: Time,
    },
}

impl ExpectKind {
    /// Whether `at` lies in the window of a `During` or `Never` check (always true for the
    /// other kinds).
    pub fn in_window(&self, at: Time) -> bool {
        match self {
            ExpectKind::During { from, until } | ExpectKind::Never { from, until } => {
                from.is_none_or(|f| at >= f) && until.is_none_or(|u| at <= u)
            }
            _ => true,
        }
    }

    /// The kind's name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            ExpectKind::Always => "always",
            ExpectKind::Eventually { .. } => "eventually",
            ExpectKind::Sometimes => "sometimes",
            ExpectKind::During { .. } => "always",
            ExpectKind::Never { .. } => "never",
            ExpectKind::Within { .. } => "within",
            ExpectKind::Metric(_) => "metric",
        }
    }
}

/// The bounds of a `metric` expectation: the value the protocol's metrics report at the end
/// of the run must lie in `at_least ..= at_most` (either end open when absent).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MetricBound {
    /// The smallest value that passes.
    pub at_least: Option<f64>,
    /// The largest value that passes.
    pub at_most: Option<f64>,
}

impl MetricBound {
    /// Whether `value` lies within the bounds.
    pub fn admits(&self, value: f64) -> bool {
        self.at_least.is_none_or(|lo| value >= lo) && self.at_most.is_none_or(|hi| value <= hi)
    }
}

impl fmt::Display for MetricBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.at_least, self.at_most) {
            (Some(lo), Some(hi)) => write!(f, "between {lo} and {hi}"),
            (Some(lo), None) => write!(f, "at least {lo}"),
            (None, Some(hi)) => write!(f, "at most {hi}"),
            (None, None) => write!(f, "any value"),
        }
    }
}

// Bounds are compared bit for bit: two expectations are the same only if they were written
// the same.
impl PartialEq for MetricBound {
    fn eq(&self, other: &Self) -> bool {
        self.at_least.map(f64::to_bits) == other.at_least.map(f64::to_bits)
            && self.at_most.map(f64::to_bits) == other.at_most.map(f64::to_bits)
    }
}

impl Eq for MetricBound {}

/// A property with the kind it is checked as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// Property name.
    pub check: String,
    /// How it is checked.
    pub kind: ExpectKind,
    /// A number the check takes (`at_least` for `client_ops_ok`).
    pub at_least: Option<u64>,
}
