//! Checks: properties a protocol offers, the read-only [`View`] they look at, and the runner
//! that evaluates them by kind.
//!
//! A property is a predicate over the whole simulated world. What makes it a safety or a
//! liveness check is its *kind*, chosen by the protocol (its default invariants) or by the
//! scenario (`expect`):
//! - **always**: must hold after every step; the first step where it fails ends the run.
//! - **eventually**: must hold at some step after the heal (the liveness phase), within the
//!   scenario's liveness budget, or by the end of the run if there is no budget.
//! - **within T after an event**: each time the triggering event happens (a crash, a restart,
//!   a heal, ...), the property, told which event it was, must hold within T of it.
//! - **sometimes**: must hold at least once in the run, so that a run which never reached
//!   the interesting case cannot pass vacuously.
//!
//! Must not import the engine's internals beyond the read-only node host view; never prints.

use crate::base::types::{Endpoint, NodeId, Time};
use crate::history::History;
use crate::network::Network;
use crate::protocol::{Protocol, Value};
use crate::sim::NodeHost;
use crate::storage::Store;
use serde::{Deserialize, Serialize};

/// The run's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Faults may happen.
    Safety,
    /// After the heal: no new faults; eventually-checks must come true.
    Liveness,
}

/// A node's status as the engine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Running.
    Up,
    /// Paused: handles nothing until resumed; its clock runs on.
    Paused,
    /// Crashed (or never started because declared permanently down).
    Down,
}

/// What a check sees: every node's state, the network, the history. Read-only.
pub struct View<'a, P: Protocol> {
    pub(crate) hosts: &'a [NodeHost<P>],
    pub(crate) network: &'a Network,
    pub(crate) history: &'a History<P::Request, P::Response>,
    /// True virtual time of this step.
    pub time: Time,
    /// Step number.
    pub step: u64,
    /// Current phase.
    pub phase: Phase,
    /// When the heal happened, once it has.
    pub healed_at: Option<Time>,
    /// The one node or client this step changed, so an always-check may look only there.
    /// `None` when the step may have changed several nodes (a heal, a partition): look at all.
    pub touched: Option<Endpoint>,
}

impl<'a, P: Protocol> View<'a, P> {
    /// Every node id.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + use<'_, 'a, P> {
        (0..self.hosts.len() as u32).map(NodeId)
    }
    /// Cluster size.
    pub fn cluster_size(&self) -> u32 {
        self.hosts.len() as u32
    }
    /// The protocol state of a node that is up or paused; `None` if it is down.
    pub fn node(&self, id: NodeId) -> Option<&'a P> {
        self.hosts.get(id.index()).and_then(|h| h.proto.as_ref())
    }
    /// A node's status.
    pub fn status(&self, id: NodeId) -> Status {
        self.hosts[id.index()].status
    }
    /// Up (not crashed, not paused).
    pub fn is_up(&self, id: NodeId) -> bool {
        self.status(id) == Status::Up
    }
    /// How many times the node has been restarted.
    pub fn incarnation(&self, id: NodeId) -> u32 {
        self.hosts[id.index()].incarnation
    }
    /// The node's durable store.
    pub fn store(&self, id: NodeId) -> &'a Store<P::Record> {
        &self.hosts[id.index()].store
    }
    /// The node's local clock reading now.
    pub fn local_time(&self, id: NodeId) -> Time {
        self.hosts[id.index()].clock.local(self.time)
    }
    /// The last value the node annotated under `key`.
    pub fn annotation(&self, id: NodeId, key: &str) -> Option<&'a Value> {
        self.hosts[id.index()].annotations.get(key)
    }
    /// The network (link states, reachability helpers).
    pub fn network(&self) -> &'a Network {
        self.network
    }
    /// Whether the direct link `from -> to` is up.
    pub fn can_send(&self, from: NodeId, to: NodeId) -> bool {
        self.network.can_send(from.0, to.0)
    }
    /// The client history so far.
    pub fn history(&self) -> &'a History<P::Request, P::Response> {
        self.history
    }
}

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

/// Checks every protocol with clients gets, besides its own.
pub const BUILTIN_CHECKS: &[(&str, &str)] = &[
    (
        "client_ops_ok",
        "at least `at_least` (default 1) client operations completed ok",
    ),
    (
        "ops_after_heal_complete",
        "every client operation invoked after the heal ends ok: a give-up (unknown) or a failure fails it",
    ),
];

fn builtin<P: Protocol>(name: &str, at_least: Option<u64>) -> Option<Box<dyn Property<P>>> {
    match name {
        "client_ops_ok" => Some(Box::new(ClientOpsOk {
            want: at_least.unwrap_or(1),
            settled: 0,
            ok: 0,
        })),
        "ops_after_heal_complete" => Some(Box::new(OpsAfterHeal { settled: 0 })),
        _ => None,
    }
}

/// Counts operations that ended ok, walking the settled prefix of the history.
struct ClientOpsOk {
    want: u64,
    settled: usize,
    ok: u64,
}

impl<P: Protocol> Property<P> for ClientOpsOk {
    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        let ops = view.history().ops();
        while let Some(op) = ops.get(self.settled) {
            match op.outcome {
                crate::history::Outcome::Pending => break,
                crate::history::Outcome::Ok(_) => self.ok += 1,
                _ => {}
            }
            self.settled += 1;
        }
        if self.ok >= self.want {
            Ok(())
        } else {
            Err(Failure::new(
                format!(
                    "{} of the {} client operations needed have completed ok",
                    self.ok, self.want
                ),
                vec![],
            ))
        }
    }
}

/// No operation invoked after the heal may end unknown or failed.
struct OpsAfterHeal {
    settled: usize,
}

impl<P: Protocol> Property<P> for OpsAfterHeal {
    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        if matches!(view.touched, Some(Endpoint::Node(_))) {
            return Ok(()); // only client steps end operations
        }
        let Some(healed) = view.healed_at else {
            return Ok(());
        };
        let ops = view.history().ops();
        while let Some(op) = ops.get(self.settled) {
            match &op.outcome {
                crate::history::Outcome::Pending => break,
                crate::history::Outcome::Ok(_) => {}
                other if op.invoked_at >= healed => {
                    let what = if matches!(other, crate::history::Outcome::Unknown) {
                        "was given up (unknown)"
                    } else {
                        "failed"
                    };
                    return Err(Failure::new(
                        format!(
                            "{} invoked operation {} at {}, after the heal at {healed}, and it {what}",
                            op.client, self.settled, op.invoked_at
                        ),
                        vec![],
                    ));
                }
                _ => {}
            }
            self.settled += 1;
        }
        Ok(())
    }
}

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
        }
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

struct Slot<P: Protocol> {
    name: String,
    kind: ExpectKind,
    property: Box<dyn Property<P>>,
    satisfied_at: Option<Time>,
    deadline: Option<Time>,
    triggered: u64,
}

struct Obligation {
    slot: usize,
    trigger: Trigger,
    deadline: Time,
}

/// Runs every property of a simulation according to its kind.
pub struct Checks<P: Protocol> {
    slots: Vec<Slot<P>>,
    always: Vec<usize>,
    /// Slots (not always-checks) whose property observes every step.
    observers: Vec<usize>,
    waiting: Vec<usize>,
    /// Eventually-checks that held and must keep holding.
    stable: Vec<usize>,
    obligations: Vec<Obligation>,
    evaluations: u64,
    liveness: bool,
    events: Vec<CheckEvent>,
}

impl<P: Protocol> Checks<P> {
    /// The protocol's invariants plus the scenario's expectations. Fails on an unknown name.
    pub fn new(config: &P::Config, expectations: &[Expectation]) -> Result<Checks<P>, String> {
        let defs = P::properties();
        let mut slots = Vec::new();
        let make_slot = |def: &PropertyDef<P>, kind: ExpectKind| Slot {
            name: def.name.to_string(),
            kind,
            property: (def.make)(config),
            satisfied_at: None,
            deadline: None,
            triggered: 0,
        };
        for def in defs.iter().filter(|d| d.invariant) {
            slots.push(make_slot(def, ExpectKind::Always));
        }
        for e in expectations {
            if let Some(property) = builtin::<P>(&e.check, e.at_least) {
                slots.push(Slot {
                    name: e.check.clone(),
                    kind: e.kind.clone(),
                    property,
                    satisfied_at: None,
                    deadline: None,
                    triggered: 0,
                });
                continue;
            }
            let Some(def) = defs.iter().find(|d| d.name == e.check) else {
                let names: Vec<&str> = defs.iter().map(|d| d.name).collect();
                return Err(format!(
                    "protocol {} has no check named {:?}; it has: {}",
                    P::NAME,
                    e.check,
                    names.join(", ")
                ));
            };
            if def.invariant && e.kind == ExpectKind::Always {
                continue; // already on
            }
            slots.push(make_slot(def, e.kind.clone()));
        }
        let always = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == ExpectKind::Always)
            .map(|(i, _)| i)
            .collect();
        let waiting = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.kind, ExpectKind::Sometimes))
            .map(|(i, _)| i)
            .collect();
        let observers = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind != ExpectKind::Always && s.property.observes_every_step())
            .map(|(i, _)| i)
            .collect();
        Ok(Checks {
            slots,
            always,
            observers,
            waiting,
            stable: Vec::new(),
            obligations: Vec::new(),
            evaluations: 0,
            liveness: false,
            events: Vec::new(),
        })
    }

    /// No checks at all (for measuring what checks cost).
    pub fn none() -> Checks<P> {
        Checks {
            slots: Vec::new(),
            always: Vec::new(),
            observers: Vec::new(),
            waiting: Vec::new(),
            stable: Vec::new(),
            obligations: Vec::new(),
            evaluations: 0,
            liveness: false,
            events: Vec::new(),
        }
    }

    /// Number of property evaluations so far.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// Whether any check has work to do after a step.
    pub fn is_idle(&self) -> bool {
        self.always.is_empty()
            && self.observers.is_empty()
            && self.waiting.is_empty()
            && self.stable.is_empty()
            && self.obligations.is_empty()
    }

    /// The liveness phase begins: eventually-checks start being evaluated. Returns the
    /// deadlines the engine must wake up at.
    /// A later heal (a scenario may heal more than once) starts the window again.
    pub fn on_heal(&mut self, at: Time) -> Vec<Time> {
        self.liveness = true;
        let mut deadlines = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if let ExpectKind::Eventually { budget, .. } = slot.kind {
                slot.deadline = budget.map(|b| at.add(b));
                slot.satisfied_at = None;
                deadlines.extend(slot.deadline);
                self.waiting.retain(|&w| w != i);
                self.stable.retain(|&w| w != i);
                self.waiting.push(i);
            }
        }
        deadlines
    }

    /// Checks the run could not decide: within-obligations and eventually-checks whose
    /// deadline lies beyond `now` (the end of the run) and which had not held yet.
    pub fn undecided(&self, now: Time) -> Vec<String> {
        let mut out: Vec<String> = self
            .obligations
            .iter()
            .map(|o| {
                let who = o
                    .trigger
                    .node
                    .map(|n| format!(" of {n}"))
                    .unwrap_or_default();
                format!(
                    "{} (within, after the {}{who} at {}, due {})",
                    self.slots[o.slot].name,
                    o.trigger.kind.name(),
                    o.trigger.at,
                    o.deadline
                )
            })
            .collect();
        for &i in &self.waiting {
            let slot = &self.slots[i];
            if let (ExpectKind::Eventually { .. }, Some(d)) = (&slot.kind, slot.deadline) {
                if d > now {
                    out.push(format!("{} (eventually, due {d})", slot.name));
                }
            }
        }
        out
    }

    /// A triggering event happened: opens an obligation for each matching within-check.
    /// Returns the deadlines the engine must wake up at.
    pub fn on_trigger(&mut self, trigger: Trigger) -> Vec<Time> {
        let mut deadlines = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            slot.property.on_trigger(&trigger);
            if let ExpectKind::Within {
                after,
                node,
                within,
            } = slot.kind
            {
                if after == trigger.kind && (node.is_none() || node == trigger.node) {
                    slot.triggered += 1;
                    let deadline = trigger.at.add(within);
                    self.obligations.push(Obligation {
                        slot: i,
                        trigger,
                        deadline,
                    });
                    deadlines.push(deadline);
                }
            }
        }
        deadlines
    }

    /// Evaluates what is due after one step. Returns the first failure.
    pub fn after_step(&mut self, view: &View<'_, P>) -> Option<Finding> {
        for &i in &self.observers {
            self.slots[i].property.observe(view);
        }
        for &i in &self.always {
            let slot = &mut self.slots[i];
            self.evaluations += 1;
            if let Err(f) = slot.property.check(view, None) {
                return Some(finding(slot, FailureClass::Safety, view, f));
            }
        }
        // Eventually-and-stays: a break before the deadline sends the check back to waiting
        // (it must come true again, for good, by the deadline); a break after it fails.
        let mut i = 0;
        while i < self.stable.len() {
            let slot = &mut self.slots[self.stable[i]];
            self.evaluations += 1;
            match slot.property.check(view, None) {
                Ok(()) => i += 1,
                Err(f) => {
                    let since = slot.satisfied_at.unwrap_or_default();
                    if slot.deadline.is_none_or(|d| view.time < d) {
                        slot.satisfied_at = None;
                        self.events.push(CheckEvent {
                            check: slot.name.clone(),
                            kind: "eventually",
                            status: format!("stopped holding (held since {since}): {}", f.message),
                        });
                        let idx = self.stable.swap_remove(i);
                        self.waiting.push(idx);
                        continue;
                    }
                    let message = format!(
                        "held since {since} but stopped holding after the deadline: {}",
                        f.message
                    );
                    return Some(finding(
                        slot,
                        FailureClass::Liveness,
                        view,
                        Failure {
                            message,
                            nodes: f.nodes,
                        },
                    ));
                }
            }
        }
        let slots = &mut self.slots;
        let stable = &mut self.stable;
        let evaluations = &mut self.evaluations;
        let events = &mut self.events;
        self.waiting.retain(|&i| {
            let slot = &mut slots[i];
            *evaluations += 1;
            if slot.property.check(view, None).is_ok() {
                slot.satisfied_at = Some(view.time);
                if let ExpectKind::Eventually { stays: true, .. } = slot.kind {
                    stable.push(i);
                }
                events.push(CheckEvent {
                    check: slot.name.clone(),
                    kind: slot.kind.name(),
                    status: "held".to_string(),
                });
                false
            } else {
                true
            }
        });
        self.obligations.retain(|o| {
            let slot = &mut slots[o.slot];
            *evaluations += 1;
            let open = slot.property.check(view, Some(&o.trigger)).is_err();
            if !open {
                let who = o
                    .trigger
                    .node
                    .map(|n| format!(" of {n}"))
                    .unwrap_or_default();
                let status = format!(
                    "held {} after the {}{who}",
                    Time(view.time.0 - o.trigger.at.0),
                    o.trigger.kind.name()
                );
                events.push(CheckEvent {
                    check: slot.name.clone(),
                    kind: "within",
                    status,
                });
            }
            open
        });
        None
    }

    /// Takes the checks that came true since the last call, for the trace.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, CheckEvent> {
        self.events.drain(..)
    }

    /// Fails the first eventually- or within-check whose deadline has passed at `now`
    /// without it holding.
    pub fn expire(&mut self, view: &View<'_, P>) -> Option<Finding> {
        let now = view.time;
        if let Some(o) = self.obligations.iter().find(|o| o.deadline <= now) {
            let slot = &mut self.slots[o.slot];
            let trigger = o.trigger;
            let why = slot
                .property
                .check(view, Some(&trigger))
                .err()
                .map(|f| f.message)
                .unwrap_or_default();
            let who = trigger.node.map(|n| format!(" of {n}")).unwrap_or_default();
            let nodes = trigger.node.into_iter().collect();
            let message = format!(
                "did not hold within {} after the {}{} at {}: {}",
                Time(o.deadline.0 - trigger.at.0),
                trigger.kind.name(),
                who,
                trigger.at,
                why
            );
            return Some(finding(
                slot,
                FailureClass::Liveness,
                view,
                Failure { message, nodes },
            ));
        }
        for &i in &self.waiting {
            let slot = &mut self.slots[i];
            if let (ExpectKind::Eventually { .. }, Some(deadline)) = (&slot.kind, slot.deadline) {
                if deadline <= now {
                    let f = slot
                        .property
                        .check(view, None)
                        .err()
                        .unwrap_or_else(|| Failure::new("", vec![]));
                    let message = format!(
                        "did not hold within the liveness budget (by {deadline}): {}",
                        f.message
                    );
                    return Some(finding(
                        slot,
                        FailureClass::Liveness,
                        view,
                        Failure {
                            message,
                            nodes: f.nodes,
                        },
                    ));
                }
            }
        }
        None
    }

    /// End of run: eventually-checks that never held fail as liveness, sometimes-checks that
    /// never held fail as vacuous.
    pub fn finish(&mut self, view: &View<'_, P>) -> Option<Finding> {
        for &i in &self.waiting {
            let slot = &mut self.slots[i];
            let class = match slot.kind {
                // Due after the end: undecided, reported by `undecided`, not failed.
                ExpectKind::Eventually { .. } if slot.deadline.is_some_and(|d| d > view.time) => {
                    continue;
                }
                ExpectKind::Eventually { .. } => FailureClass::Liveness,
                ExpectKind::Sometimes => FailureClass::Vacuous,
                _ => continue,
            };
            let f = slot
                .property
                .check(view, None)
                .err()
                .unwrap_or_else(|| Failure::new("", vec![]));
            let message = match class {
                FailureClass::Vacuous => format!(
                    "never held in the whole run, so the run did not exercise it: {}",
                    f.message
                ),
                _ => format!("had not held by the end of the run: {}", f.message),
            };
            return Some(finding(
                slot,
                class,
                view,
                Failure {
                    message,
                    nodes: f.nodes,
                },
            ));
        }
        if !self.liveness {
            for slot in &self.slots {
                if let ExpectKind::Eventually { .. } = slot.kind {
                    let message =
                        "the run ended before the heal, so the liveness phase never started"
                            .to_string();
                    return Some(Finding {
                        check: slot.name.clone(),
                        kind: slot.kind.name().to_string(),
                        class: FailureClass::Liveness,
                        step: view.step,
                        time: view.time,
                        nodes: vec![],
                        message,
                    });
                }
            }
        }
        None
    }

    /// Every measurement the checks report, by name (the first check to report a name wins).
    pub fn metrics(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        let mut all = std::collections::BTreeMap::new();
        for slot in &self.slots {
            for (k, v) in slot.property.metrics() {
                all.entry(k).or_insert(v);
            }
        }
        all
    }

    /// Each check's standing, for the summary.
    pub fn report(&self, failed: Option<&Finding>) -> Vec<CheckReport> {
        let open: Vec<usize> = self.obligations.iter().map(|o| o.slot).collect();
        let failed_slot = failed.and_then(|f| {
            self.slots
                .iter()
                .position(|s| s.name == f.check && s.kind.name() == f.kind)
        });
        self.slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let status = match &s.kind {
                    _ if failed_slot == Some(i) => {
                        let f = failed.expect("a failed slot comes with its finding");
                        format!("FAILED at step {}, {}", f.step, f.time)
                    }
                    ExpectKind::Always => "held".to_string(),
                    ExpectKind::Eventually { .. } | ExpectKind::Sometimes => match s.satisfied_at {
                        Some(t) => format!("held at {t}"),
                        None => "not held".to_string(),
                    },
                    ExpectKind::Within { .. } => {
                        let pending = open.iter().filter(|&&o| o == i).count();
                        format!("{} triggered, {} open at the end", s.triggered, pending)
                    }
                };
                CheckReport {
                    check: s.name.clone(),
                    kind: s.kind.name(),
                    status,
                }
            })
            .collect()
    }
}

fn finding<P: Protocol>(
    slot: &Slot<P>,
    class: FailureClass,
    view: &View<'_, P>,
    f: Failure,
) -> Finding {
    Finding {
        check: slot.name.clone(),
        kind: slot.kind.name().to_string(),
        class,
        step: view.step,
        time: view.time,
        nodes: f.nodes,
        message: f.message,
    }
}
