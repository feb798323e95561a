//! The scenario file format as written: the structs serde reads a scenario into, with
//! units in the field names, and how times are written back (`ms_text`).
//!
//! Reading only: what a value may be is checked in `validate` (the generic part) and
//! `typed` (what the protocol decides). Must not read files.

use super::ExploreSpec;
use crate::base::types::{Endpoint, NodeId, Ratio};
use crate::check::TriggerKind;
use crate::faults::{NemesisConfig, ScheduledFault};
use crate::network::{Latency, LongDelay, Order};
use crate::protocol::WorkloadConfig;
use crate::sim::Step;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The scenario schema version this build reads.
pub const SCHEMA: u32 = 1;

/// What starts a `within` obligation: an event kind (`"crash"`, `"heal"`, ...) or a node's
/// annotation (`{"note": KEY, "value": V}`, the value optional).
#[derive(Clone, Debug, PartialEq)]
pub enum After {
    /// An engine event.
    Kind(TriggerKind),
    /// An annotation under `note`, with `value` if given.
    Note {
        /// The annotation key.
        note: String,
        /// The value it must have; any when absent.
        value: Option<serde_json::Value>,
    },
}

const AFTER_KINDS: &str = "crash, restart, pause, resume, partition, heal_links, clock, heal";

impl<'de> Deserialize<'de> for After {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::String(s) if s != "note" => {
                serde_json::from_value(serde_json::Value::String(s.clone()))
                    .map(After::Kind)
                    .map_err(|_| {
                        D::Error::custom(format!(
                            "unknown trigger {s:?}: expected one of {AFTER_KINDS}, or {{\"note\": KEY, \"value\": V}}"
                        ))
                    })
            }
            serde_json::Value::Object(mut m) => {
                let note = match m.remove("note") {
                    Some(serde_json::Value::String(k)) if !k.is_empty() => k,
                    _ => {
                        return Err(D::Error::custom(
                            "an annotation trigger needs `note`, a non-empty annotation key",
                        ));
                    }
                };
                let value = m.remove("value");
                if let Some(k) = m.keys().next() {
                    return Err(D::Error::custom(format!(
                        "unknown field {k:?} in an annotation trigger: expected `note` and `value`"
                    )));
                }
                Ok(After::Note { note, value })
            }
            _ => Err(D::Error::custom(format!(
                "expected one of {AFTER_KINDS}, or {{\"note\": KEY, \"value\": V}}"
            ))),
        }
    }
}

impl Serialize for After {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            After::Kind(k) => k.serialize(s),
            After::Note { note, value } => {
                let mut m = serde_json::Map::new();
                m.insert("note".into(), note.clone().into());
                if let Some(v) = value {
                    m.insert("value".into(), v.clone());
                }
                serde_json::Value::Object(m).serialize(s)
            }
        }
    }
}

/// Which protocol, and its parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolSpec {
    /// A bundled protocol name (`faultline list` shows them).
    pub name: String,
    /// Protocol parameters; each protocol documents its own.
    #[serde(default)]
    pub params: serde_json::Value,
    /// Per-node parameters: each node's object is merged over `params` (its fields replace
    /// those of `params`) and read as that node's parameters, at every boot.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub params_by_node: std::collections::BTreeMap<NodeId, serde_json::Value>,
}

/// A per-link override.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkOverride {
    /// Sender.
    pub from: Endpoint,
    /// Receiver.
    pub to: Endpoint,
    /// Also apply to the reverse direction.
    #[serde(default)]
    pub both_ways: bool,
    /// Latency on this link.
    #[serde(default)]
    pub latency: Option<Latency>,
    /// Loss on this link.
    #[serde(default)]
    pub loss: Option<Ratio>,
    /// Duplication on this link.
    #[serde(default)]
    pub duplicate: Option<Ratio>,
    /// Long delays on this link.
    #[serde(default)]
    pub long_delay: Option<LongDelay>,
}

/// The network block.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// A named starting point: `perfect`, `lan`, `wan`, `lossy`, `unreliable`.
    #[serde(default)]
    pub preset: Option<String>,
    /// Latency of every link.
    #[serde(default)]
    pub latency: Option<Latency>,
    /// Loss probability per message.
    #[serde(default)]
    pub loss: Option<Ratio>,
    /// Duplication probability per message.
    #[serde(default)]
    pub duplicate: Option<Ratio>,
    /// Long delays for a share of messages.
    #[serde(default)]
    pub long_delay: Option<LongDelay>,
    /// Per-link overrides.
    #[serde(default)]
    pub links: Vec<LinkOverride>,
    /// Delivery order beyond random delays: `random` (the default), `oldest`, `newest`,
    /// `{"pct": {"depth": D}}`, or `swarm` (each seed draws one); see docs/scale.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
}

/// A node's clock at time zero.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSpec {
    /// The node.
    pub node: NodeId,
    /// Offset from true time, milliseconds.
    #[serde(default)]
    pub offset_ms: i64,
    /// Drift, parts per million.
    #[serde(default)]
    pub drift_ppm: i32,
}

/// Run limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The run ends here, normally.
    pub time_ms: u64,
    /// More events than this is a failure (default 10 million).
    #[serde(default)]
    pub events_max: Option<u64>,
    /// More events pending at once than this stops the run at a memory bound (default 1
    /// million).
    #[serde(default)]
    pub pending_max: Option<u64>,
    /// More client operations than this stops the run at a memory bound (default 1 million).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_max: Option<u64>,
    /// More records plus unsynced writes in one node's store than this stops the run at a
    /// memory bound (default 1 million).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_max: Option<u64>,
    /// Most entries in `faults`, and most faults scheduled during a run (default 100 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults_max: Option<u64>,
    /// Search steps the end-of-run linearizability check may take per key before it answers
    /// inconclusive (default 100 million).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_steps: Option<u64>,
}

/// Kinds as written in scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KindName {
    /// After every step.
    Always,
    /// After the heal, within the budget.
    Eventually,
    /// At least once.
    Sometimes,
    /// Within `within_ms` after each `after` event.
    Within,
    /// At no step (in the window `from_ms` .. `until_ms`, if given).
    Never,
}

/// One expectation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// A check the protocol offers (absent for a bound on a metric).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub check: String,
    /// How it is checked (absent for a bound on a metric, which is judged at the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<KindName>,
    /// A measurement of the protocol's metrics (`retransmissions`, `raft.terms`, a path into
    /// one such as `fixed.detection.max_ms`), bounded by `at_most` and/or `at_least` and
    /// judged at the end of the run. Instead of `check` and `kind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// For `metric`: the largest value that passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<serde_json::Number>,
    /// For `within`: the deadline after each trigger, milliseconds.
    #[serde(default)]
    pub within_ms: Option<u64>,
    /// For `within`: the triggering event, or the annotation.
    #[serde(default)]
    pub after: Option<After>,
    /// For `within`: only triggers about this node.
    #[serde(default)]
    pub node: Option<NodeId>,
    /// For `eventually`: its own budget after the heal, milliseconds.
    #[serde(default)]
    pub budget_ms: Option<u64>,
    /// For `eventually`: once true, it must stay true to the end of the run.
    #[serde(default)]
    pub stays: bool,
    /// For `client_ops_ok`: how many operations must complete ok (a whole number); for
    /// `metric`: the smallest value that passes.
    #[serde(default)]
    pub at_least: Option<serde_json::Number>,
    /// For `always` and `never`: judged from this time on, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ms: Option<u64>,
    /// For `always` and `never`: judged up to this time, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
}

/// A scenario file, as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Schema version; must be 1.
    pub schema: u32,
    /// What the scenario shows, for people.
    pub description: String,
    /// Protocol and parameters.
    pub protocol: ProtocolSpec,
    /// Cluster size.
    pub nodes: u32,
    /// Default seed (`--seed` overrides it).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Network model.
    #[serde(default)]
    pub network: NetworkSpec,
    /// Clock offsets and drifts.
    #[serde(default)]
    pub clocks: Vec<ClockSpec>,
    /// Client workload.
    #[serde(default)]
    pub workload: WorkloadConfig,
    /// Scheduled faults, in time order.
    #[serde(default)]
    pub faults: Vec<ScheduledFault>,
    /// Random faults.
    #[serde(default)]
    pub nemesis: Option<NemesisConfig>,
    /// Nodes that never start.
    #[serde(default)]
    pub permanently_down: Vec<NodeId>,
    /// The storage faults the protocol claims to survive (see [`Atlas`]); without one, a
    /// scenario has no storage faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atlas: Option<crate::faults::Atlas>,
    /// When to heal; default: after the last fault.
    #[serde(default)]
    pub heal_at_ms: Option<u64>,
    /// Eventually-checks must hold within this long after the heal.
    #[serde(default)]
    pub liveness_budget_ms: Option<u64>,
    /// Run limits.
    pub limits: Limits,
    /// Checks beyond the protocol's invariants.
    #[serde(default)]
    pub expect: Vec<ExpectSpec>,
    /// How the scenario runs: `simulation` (the default: time, latencies, faults and the
    /// nemesis) or `script` (exactly the `steps`, in order, and nothing else).
    #[serde(default, skip_serializing_if = "DriverKind::is_simulation")]
    pub driver: DriverKind,
    /// With `"driver": "script"`: the actions, in order (the explorer's counterexamples are
    /// written this way).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// The bounds of `faultline explore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explore: Option<ExploreSpec>,
    /// For regression cases: how a run of this scenario (with its own seed) must end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ExpectedOutcome>,
}

impl ScenarioFile {
    /// The first what-if entry of `faults` (a fault on one chosen message, or a `set`), by
    /// index and key: drivers that choose fates and faults themselves (the explorer) refuse
    /// them.
    pub fn what_if_fault(&self) -> Option<(usize, &'static str)> {
        self.faults.iter().enumerate().find_map(|(i, sf)| {
            matches!(
                sf.fault,
                crate::faults::Fault::Message(_) | crate::faults::Fault::Set(_)
            )
            .then(|| (i, sf.fault.key()))
        })
    }
}

/// How a scenario runs (`"driver"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriverKind {
    /// The discrete-event simulation.
    #[default]
    Simulation,
    /// The steps, in order: no latencies, no timers firing on their own, node clocks
    /// frozen, one millisecond per step.
    Script,
}

impl DriverKind {
    fn is_simulation(&self) -> bool {
        *self == DriverKind::Simulation
    }
}

/// How a regression case must end (`"outcome": "passes"` or
/// `"outcome": {"fails": "leader_completeness"}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ExpectedOutcome {
    /// Every check holds: a fixed bug stays fixed.
    Passes,
    /// This check fails: a bug switch or a teaching case is still caught. A run that passes
    /// instead has gone vacuous (the engine or its randomness moved under it).
    Fails(String),
}

impl ExpectedOutcome {
    /// Whether a run's verdict is this outcome; if not, why not, in words.
    pub fn judge(&self, verdict: &crate::sim::Verdict) -> Result<(), String> {
        use crate::sim::Verdict;
        match (self, verdict) {
            (ExpectedOutcome::Passes, Verdict::Pass) => Ok(()),
            (_, Verdict::Fail(f)) if !f.class.is_conclusive() => Err(format!(
                "expected {self}, but the run stopped at a memory bound: {}",
                f.message
            )),
            (ExpectedOutcome::Fails(c), Verdict::Fail(f)) if f.check == *c => Ok(()),
            (ExpectedOutcome::Passes, Verdict::Fail(f)) => Err(format!(
                "expected every check to hold, but {} failed at {}: {} (a fixed bug is back?)",
                f.check, f.time, f.message
            )),
            (ExpectedOutcome::Fails(c), Verdict::Pass) => Err(format!(
                "expected {c} to fail, but every check held: this case has gone vacuous (did the engine, the protocol or its randomness change?); shrink a new one from a failing seed"
            )),
            (ExpectedOutcome::Fails(c), Verdict::Fail(f)) => Err(format!(
                "expected {c} to fail, but {} failed first at {}: {}",
                f.check, f.time, f.message
            )),
            (ExpectedOutcome::Fails(c), Verdict::Inconclusive { reason }) => Err(format!(
                "expected {c} to fail, but no check failed (inconclusive: {reason}): this case has gone vacuous (did the engine, the protocol or its randomness change?); shrink a new one from a failing seed"
            )),
            (_, Verdict::Inconclusive { reason }) => Err(format!(
                "expected {self}, but the run was inconclusive: {reason}"
            )),
            (_, Verdict::Aborted { reason }) => Err(format!(
                "expected {self}, but the run was aborted: {reason}"
            )),
        }
    }
}

impl fmt::Display for ExpectedOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedOutcome::Passes => f.write_str("passes"),
            ExpectedOutcome::Fails(c) => write!(f, "fails {c}"),
        }
    }
}

fn default_seed() -> u64 {
    1
}

/// Microseconds as milliseconds the way a scenario writes them (`1149` or `1149.337`).
pub fn ms_text(us: u64) -> String {
    if us % 1_000 == 0 {
        (us / 1_000).to_string()
    } else {
        format!("{}.{:03}", us / 1_000, us % 1_000)
            .trim_end_matches('0')
            .to_string()
    }
}
