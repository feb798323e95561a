//! Properties: what a protocol offers to scenarios, the events that trigger "within" checks,
//! and the kinds a scenario may check a property as.

use super::View;
use crate::base::types::{NodeId, Time};
use crate::protocol::Protocol;
use serde::{Deserialize, Serialize};

/// What kind of event starts a "within T" obligation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
        }
    }
}

/// One occurrence of a triggering event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Trigger {
    /// What happened.
    pub kind: TriggerKind,
    /// To which node, if it concerned one.
    pub node: Option<NodeId>,
    /// When.
    pub at: Time,
}

/// Why a property does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What is wrong, in words, naming nodes, terms and indexes.
    pub message: String,
    /// The nodes involved.
    pub nodes: Vec<NodeId>,
}

impl Failure {
    /// A failure involving `nodes`.
    pub fn new(message: impl Into<String>, nodes: Vec<NodeId>) -> Failure {
        Failure {
            message: message.into(),
            nodes,
        }
    }
}

/// A property: evaluated with the current view and, for "within" checks, the triggering event.
pub trait Property<P: Protocol> {
    /// `Ok` if the property holds now.
    fn check(&mut self, view: &View<'_, P>, trigger: Option<&Trigger>) -> Result<(), Failure>;

    /// Told of every triggering event (crash, restart, heal, ...) as it happens, whatever the
    /// property's kind, so a property can also measure (detection times, recovery times).
    fn on_trigger(&mut self, trigger: &Trigger) {
        let _ = trigger;
    }

    /// Measurements for the run summary, as (name, value) pairs.
    fn metrics(&self) -> Vec<(String, serde_json::Value)> {
        Vec::new()
    }

    /// Whether [`Property::observe`] must see every step, even while the check itself is not
    /// yet evaluated (an eventually-check before the heal): for properties that accumulate
    /// what happened (deliveries to an incarnation that later crashed, say).
    fn observes_every_step(&self) -> bool {
        false
    }

    /// Sees one step without judging it (only if [`Property::observes_every_step`]).
    fn observe(&mut self, view: &View<'_, P>) {
        let _ = view;
    }
}

impl<P: Protocol, F> Property<P> for F
where
    F: FnMut(&View<'_, P>, Option<&Trigger>) -> Result<(), Failure>,
{
    fn check(&mut self, view: &View<'_, P>, trigger: Option<&Trigger>) -> Result<(), Failure> {
        self(view, trigger)
    }
}

/// A property a protocol offers, by name.
pub struct PropertyDef<P: Protocol> {
    /// Name used in scenarios.
    pub name: &'static str,
    /// One line on what it asserts.
    pub description: &'static str,
    /// On by default as an always-check (safety invariants).
    pub invariant: bool,
    /// Builds a fresh instance for one run.
    pub make: fn(&P::Config) -> Box<dyn Property<P>>,
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
    /// Within `within` after each event of kind `after` (on `node`, if given).
    Within {
        /// The triggering event kind.
        after: TriggerKind,
        /// Only events concerning this node.
        node: Option<NodeId>,
        /// The deadline after each trigger.
        within: Time,
    },
}

impl ExpectKind {
    /// The kind's name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            ExpectKind::Always => "always",
            ExpectKind::Eventually { .. } => "eventually",
            ExpectKind::Sometimes => "sometimes",
            ExpectKind::Within { .. } => "within",
        }
    }
}

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
