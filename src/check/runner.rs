//! The runner: evaluates every property of a run according to its kind, and feeds the
//! protocol's metrics.

use super::builtin::builtin;
use super::{
    CheckEvent, CheckReport, ExpectKind, Expectation, Failure, FailureClass, Finding,
    Implementation, Invariant, Metric, MetricBound, Monitor, PropertyDef, Recovery, RecoveryReport,
    Trigger, TriggerKind, View, metric_value,
};
use crate::base::hash::StableHasher;
use crate::base::types::{Endpoint, NodeId, Time};
use crate::protocol::Protocol;
use crate::protocol::Value;
use std::rc::Rc;

/// What evaluates one check: a shared pure invariant, or this check's own monitor.
enum Judge<P: Protocol> {
    Invariant(Rc<dyn Invariant<P>>),
    Monitor(Box<dyn Monitor<P>>),
}

impl<P: Protocol> Judge<P> {
    #[inline]
    fn check(&mut self, view: &View<'_, P>, trigger: Option<&Trigger>) -> Result<(), Failure> {
        match self {
            Judge::Invariant(i) => i.check(view, trigger),
            Judge::Monitor(m) => m.check(view, trigger),
        }
    }

    fn on_trigger(&mut self, trigger: &Trigger) {
        if let Judge::Monitor(m) = self {
            m.on_trigger(trigger);
        }
    }

    fn observes_every_step(&self) -> bool {
        matches!(self, Judge::Monitor(m) if m.observes_every_step())
    }

    fn observe(&mut self, view: &View<'_, P>) {
        if let Judge::Monitor(m) = self {
            m.observe(view);
        }
    }

    fn sees_clients(&self) -> bool {
        match self {
            Judge::Invariant(i) => i.sees_clients(),
            Judge::Monitor(m) => m.sees_clients(),
        }
    }
}

struct Slot<P: Protocol> {
    name: String,
    kind: ExpectKind,
    judge: Judge<P>,
    satisfied_at: Option<Time>,
    deadline: Option<Time>,
    triggered: u64,
    /// The class an `always` failure of this check has: `safety`, except for a liveness
    /// property checked at every step (`ops_after_heal_complete`).
    always_class: FailureClass,
}

/// How reports name a `within` expectation's trigger: its kind, or the annotation it waits
/// for.
fn trigger_name(kind: &ExpectKind, t: &Trigger) -> String {
    match kind {
        ExpectKind::Within { note: Some(m), .. } => m.describe(),
        _ => t.kind.name().to_string(),
    }
}

/// Opens the obligation of slot `slot` for `trigger`; returns its deadline.
fn open(obligations: &mut Vec<Obligation>, slot: usize, trigger: Trigger, within: Time) -> Time {
    let deadline = trigger.at.add(within);
    obligations.push(Obligation {
        slot,
        trigger,
        deadline,
    });
    deadline
}

struct Obligation {
    slot: usize,
    trigger: Trigger,
    deadline: Time,
}

/// Runs every property of a simulation according to its kind, and its metrics.
pub struct Checks<P: Protocol> {
    slots: Vec<Slot<P>>,
    metrics: Vec<Box<dyn Metric<P>>>,
    /// The recovery metrics every protocol gets (none without metrics).
    recovery: Option<Recovery>,
    /// The scenario's bounds on metrics (metric name, bounds), judged at the end.
    bounds: Vec<(String, MetricBound)>,
    always: Vec<usize>,
    /// The always-checks a step that touched only a client can change (see
    /// [`Monitor::sees_clients`]): on such a step only these are evaluated.
    always_clients: Vec<usize>,
    /// Windowed always-checks and never-checks, judged after each step in their window.
    windowed: Vec<usize>,
    /// Slots (not always-checks) whose property observes every step.
    observers: Vec<usize>,
    waiting: Vec<usize>,
    /// Eventually-checks that held and must keep holding.
    stable: Vec<usize>,
    obligations: Vec<Obligation>,
    /// Some `within` expectation waits for annotations.
    note_slots: bool,
    evaluations: u64,
    liveness: bool,
    /// When the (last) heal happened.
    healed_at: Option<Time>,
    events: Vec<CheckEvent>,
}

impl<P: Protocol> Checks<P> {
    /// The protocol's checks that are on by default, the scenario's expectations and the
    /// protocol's metrics. Fails on an unknown check name.
    pub fn new(config: &P::Config, expectations: &[Expectation]) -> Result<Checks<P>, String> {
        let defs = P::properties();
        let mut slots = Vec::new();
        let make_slot = |def: &PropertyDef<P>, kind: ExpectKind| Slot {
            name: def.name.to_string(),
            kind,
            judge: match &def.implementation {
                Implementation::Invariant(i) => Judge::Invariant(Rc::clone(i)),
                Implementation::Monitor(m) => Judge::Monitor(m.clone()),
            },
            satisfied_at: None,
            deadline: None,
            triggered: 0,
            always_class: FailureClass::Safety,
        };
        for def in defs.iter().filter(|d| d.on_by_default) {
            slots.push(make_slot(def, ExpectKind::Always));
        }
        let mut bounds = Vec::new();
        for e in expectations {
            if let ExpectKind::Metric(b) = e.kind {
                bounds.push((e.check.clone(), b));
                continue;
            }
            if let Some((monitor, always_class)) = builtin::<P>(&e.check, e.at_least) {
                slots.push(Slot {
                    name: e.check.clone(),
                    kind: e.kind.clone(),
                    judge: Judge::Monitor(monitor),
                    satisfied_at: None,
                    deadline: None,
                    triggered: 0,
                    always_class,
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
            if def.on_by_default && e.kind == ExpectKind::Always {
                continue; // already on
            }
            slots.push(make_slot(def, e.kind.clone()));
        }
        let always: Vec<usize> = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == ExpectKind::Always)
            .map(|(i, _)| i)
            .collect();
        let always_clients = always
            .iter()
            .copied()
            .filter(|&i| slots[i].judge.sees_clients())
            .collect();
        let windowed = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.kind, ExpectKind::During { .. } | ExpectKind::Never { .. }))
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
            .filter(|(_, s)| s.kind != ExpectKind::Always && s.judge.observes_every_step())
            .map(|(i, _)| i)
            .collect();
        let metrics = P::metrics().iter().map(|m| (m.make)(config)).collect();
        // The recovery budget is the protocol's own liveness budget: the largest of the
        // budgets it owes after the heal, a formula of its timeouts.
        let budget = P::liveness(config)
            .checks
            .iter()
            .map(|c| c.budget)
            .max()
            .unwrap_or(Time::ZERO);
        let recovery = Some(Recovery::new(P::vocabulary().describe_serving(), budget));
        let note_slots = slots.iter().any(|s| {
            matches!(
                s.kind,
                ExpectKind::Within {
                    after: TriggerKind::Note,
                    ..
                }
            )
        });
        Ok(Checks {
            slots,
            metrics,
            recovery,
            bounds,
            always,
            always_clients,
            windowed,
            observers,
            waiting,
            stable: Vec::new(),
            obligations: Vec::new(),
            note_slots,
            evaluations: 0,
            liveness: false,
            healed_at: None,
            events: Vec::new(),
        })
    }

    /// No checks at all (for measuring what checks cost).
    pub fn none() -> Checks<P> {
        Checks {
            slots: Vec::new(),
            metrics: Vec::new(),
            recovery: None,
            bounds: Vec::new(),
            always: Vec::new(),
            always_clients: Vec::new(),
            windowed: Vec::new(),
            observers: Vec::new(),
            waiting: Vec::new(),
            stable: Vec::new(),
            obligations: Vec::new(),
            note_slots: false,
            evaluations: 0,
            liveness: false,
            healed_at: None,
            events: Vec::new(),
        }
    }

    /// Number of property evaluations so far (metrics' observations not counted).
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// Whether any check has work to do after a step.
    pub fn is_idle(&self) -> bool {
        self.always.is_empty()
            && self.windowed.is_empty()
            && self.metrics.is_empty()
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
        self.healed_at = Some(at);
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
                    trigger_name(&self.slots[o.slot].kind, &o.trigger),
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
        if let Some(r) = &mut self.recovery {
            r.on_trigger(&trigger);
        }
        for metric in &mut self.metrics {
            metric.on_trigger(&trigger);
        }
        for (i, slot) in self.slots.iter_mut().enumerate() {
            slot.judge.on_trigger(&trigger);
            if let ExpectKind::Within {
                after,
                node,
                within,
                ..
            } = slot.kind
            {
                if after == trigger.kind && (node.is_none() || node == trigger.node) {
                    slot.triggered += 1;
                    deadlines.push(open(&mut self.obligations, i, trigger, within));
                }
            }
        }
        deadlines
    }

    /// Whether the recovery metrics want to hear of service events (the world then reports
    /// them).
    pub fn wants_serves(&self) -> bool {
        self.recovery.is_some()
    }

    /// Node `node` served at `at` (as its protocol declares serving).
    #[inline]
    pub fn on_served(&mut self, node: NodeId, at: Time) {
        if let Some(r) = &mut self.recovery {
            r.on_served(node, at);
        }
    }

    /// The recovery figures of a run that ended at `end` (none when the checks measure
    /// nothing).
    pub fn recovery(&self, end: Time) -> Option<RecoveryReport> {
        self.recovery.as_ref().map(|r| r.report(end))
    }

    /// Whether some `within` expectation is triggered by annotations (the engine reports
    /// annotations only when someone asks).
    pub fn wants_notes(&self) -> bool {
        self.note_slots
    }

    /// Node `node` annotated `key` = `value`: opens an obligation for each `within`
    /// expectation that waits for that annotation. Returns the deadlines to wake up at.
    pub fn on_note(&mut self, node: NodeId, key: &str, value: &Value, at: Time) -> Vec<Time> {
        let mut deadlines = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let ExpectKind::Within {
                after: TriggerKind::Note,
                node: want,
                within,
                note: Some(m),
            } = &slot.kind
            else {
                continue;
            };
            let hit = want.is_none_or(|w| w == node)
                && m.key == key
                && m.value.as_ref().is_none_or(|v| value.matches_json(v));
            if hit {
                let trigger = Trigger {
                    kind: TriggerKind::Note,
                    node: Some(node),
                    at,
                };
                slot.judge.on_trigger(&trigger);
                slot.triggered += 1;
                deadlines.push(open(&mut self.obligations, i, trigger, *within));
            }
        }
        deadlines
    }

    /// Evaluates what is due after one step. Returns the first failure.
    pub fn after_step(&mut self, view: &View<'_, P>) -> Option<Finding> {
        for metric in &mut self.metrics {
            metric.observe(view);
        }
        for &i in &self.observers {
            self.slots[i].judge.observe(view);
        }
        // A client's step changes no node: the checks that look only at nodes skip it.
        let always = match view.touched {
            Some(Endpoint::Client(_)) => &self.always_clients,
            _ => &self.always,
        };
        for &i in always {
            let slot = &mut self.slots[i];
            self.evaluations += 1;
            if let Err(f) = slot.judge.check(view, None) {
                return Some(finding(slot, slot.always_class, view, f));
            }
        }
        for &i in &self.windowed {
            let slot = &mut self.slots[i];
            if !slot.kind.in_window(view.time) {
                continue;
            }
            self.evaluations += 1;
            match (&slot.kind, slot.judge.check(view, None)) {
                (ExpectKind::During { .. }, Err(f)) => {
                    return Some(finding(slot, slot.always_class, view, f));
                }
                (ExpectKind::Never { .. }, Ok(())) => {
                    let f = Failure::new(
                        format!(
                            "held at {}, and it must never hold{}",
                            view.time,
                            window_text(&slot.kind)
                        ),
                        vec![],
                    );
                    return Some(finding(slot, FailureClass::Safety, view, f));
                }
                _ => {}
            }
        }
        // Eventually-and-stays: a break before the deadline sends the check back to waiting
        // (it must come true again, for good, by the deadline); a break after it fails.
        let mut i = 0;
        while i < self.stable.len() {
            let slot = &mut self.slots[self.stable[i]];
            self.evaluations += 1;
            match slot.judge.check(view, None) {
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
            if slot.judge.check(view, None).is_ok() {
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
            let open = slot.judge.check(view, Some(&o.trigger)).is_err();
            if !open {
                let who = o
                    .trigger
                    .node
                    .map(|n| format!(" of {n}"))
                    .unwrap_or_default();
                let status = format!(
                    "held {} after the {}{who}",
                    Time(view.time.0 - o.trigger.at.0),
                    trigger_name(&slot.kind, &o.trigger)
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
                .judge
                .check(view, Some(&trigger))
                .err()
                .map(|f| f.message)
                .unwrap_or_default();
            let who = trigger.node.map(|n| format!(" of {n}")).unwrap_or_default();
            let nodes = trigger.node.into_iter().collect();
            let message = format!(
                "did not hold within {} after the {}{} at {}: {}",
                Time(o.deadline.0 - trigger.at.0),
                trigger_name(&slot.kind, &trigger),
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
                        .judge
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
                .judge
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
        if self.bounds.is_empty() {
            return None;
        }
        let metrics = self.metrics_at(view.time);
        self.bounds.iter().find_map(|(name, bound)| {
            let message = match metric_value(&metrics, name) {
                Ok(v) if bound.admits(v) => return None,
                Ok(v) => format!("measured {v} at the end of the run; expected {bound}"),
                Err(why) => format!("{why}; expected a number {bound}"),
            };
            Some(Finding {
                check: name.clone(),
                kind: "metric".to_string(),
                class: FailureClass::Metric,
                step: view.step,
                time: view.time,
                nodes: vec![],
                message,
            })
        })
    }

    /// Every measurement the metrics report, by name (the first metric to report a name
    /// wins).
    pub fn metrics(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        let mut all = std::collections::BTreeMap::new();
        for metric in &self.metrics {
            for (k, v) in metric.report() {
                all.entry(k).or_insert(v);
            }
        }
        all
    }

    /// Every measurement, the recovery figures of a run that ended at `end` included (under
    /// `recovery.`; a protocol's own metric of the same name wins).
    pub fn metrics_at(&self, end: Time) -> std::collections::BTreeMap<String, serde_json::Value> {
        let mut all = self.metrics();
        if let Some(r) = self.recovery(end) {
            for (k, v) in r.metrics() {
                all.entry(k).or_insert(v);
            }
        }
        all
    }

    /// The checks without their metrics (the explorer measures nothing: a metric's
    /// extremes over interleavings mean nothing).
    pub fn without_metrics(mut self) -> Checks<P> {
        self.metrics.clear();
        self.recovery = None;
        self
    }

    /// A copy of every monitor's state, check by check (invariants have none): with
    /// [`Checks::set_monitors`], a driver that explores interleavings gives each explored
    /// state its own monitors while the rest of the checks (which sometimes-checks have been
    /// reached) is shared.
    pub fn monitors(&self) -> Vec<Box<dyn Monitor<P>>> {
        self.slots
            .iter()
            .filter_map(|s| match &s.judge {
                Judge::Monitor(m) => Some(m.clone()),
                Judge::Invariant(_) => None,
            })
            .collect()
    }

    /// Exchanges the monitors' states with `monitors` (taken with [`Checks::monitors`] from
    /// these same checks): the checks then judge with the given states, and `monitors`
    /// holds the ones they had. Swapping back after a step moves no state.
    pub fn swap_monitors(&mut self, monitors: &mut [Box<dyn Monitor<P>>]) {
        let mut given = monitors.iter_mut();
        for slot in &mut self.slots {
            if let Judge::Monitor(m) = &mut slot.judge {
                if let Some(state) = given.next() {
                    std::mem::swap(m, state);
                }
            }
        }
    }

    /// Each sometimes-check by name, and whether it has held yet.
    pub fn sometimes(&self) -> Vec<(String, bool)> {
        self.slots
            .iter()
            .filter(|s| s.kind == ExpectKind::Sometimes)
            .map(|s| (s.name.clone(), s.satisfied_at.is_some()))
            .collect()
    }

    /// The checks that are neither always- nor sometimes-checks (each with its kind): they
    /// wait for a heal, a deadline or a time window, which a timeless exploration has not.
    pub fn timed(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter(|s| !matches!(s.kind, ExpectKind::Always | ExpectKind::Sometimes))
            .map(|s| format!("{} {}", s.kind.name(), s.name))
            .collect()
    }

    /// Folds the state of every monitor into `hasher`, check by check (invariants have
    /// none): with the world's own fingerprint, it tells a driver that explores
    /// interleavings whether it has been in this state before.
    pub fn hash_monitors(&self, hasher: &mut StableHasher) {
        for slot in &self.slots {
            if let Judge::Monitor(m) = &slot.judge {
                m.hash_state(hasher);
            }
        }
    }

    /// Each check's standing, for the summary.
    /// `end` is when the run ended (for the recovery figures a bound may name).
    pub fn report(&self, failed: Option<&Finding>, end: Time) -> Vec<CheckReport> {
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
                    ExpectKind::Always | ExpectKind::During { .. } => {
                        format!("held{}", window_text(&s.kind))
                    }
                    ExpectKind::Never { .. } => format!("never held{}", window_text(&s.kind)),
                    // An eventually-check is judged from the heal on: one that held at the
                    // heal's own step may have held long before, so say so rather than
                    // pass the heal's time off as the moment it came true.
                    ExpectKind::Eventually { .. } if s.satisfied_at.is_some_and(|t| Some(t) == self.healed_at) => {
                        format!(
                            "held at the heal, {} (already true then; it is judged from the heal on)",
                            s.satisfied_at.unwrap_or_default()
                        )
                    }
                    ExpectKind::Eventually { .. } | ExpectKind::Sometimes => match s.satisfied_at {
                        Some(t) => format!("held at {t}"),
                        None => "not held".to_string(),
                    },
                    // Bounds on metrics have no slot (see bound_reports).
                    ExpectKind::Metric(_) => String::new(),
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
            .chain(self.bound_reports(failed, end))
            .collect()
    }

    /// The report lines of the bounds on metrics: the value measured, or why there is none.
    fn bound_reports(&self, failed: Option<&Finding>, end: Time) -> Vec<CheckReport> {
        if self.bounds.is_empty() {
            return Vec::new();
        }
        let metrics = self.metrics_at(end);
        self.bounds
            .iter()
            .map(|(name, bound)| {
                let failed_here = failed.is_some_and(|f| f.kind == "metric" && f.check == *name);
                let status = match metric_value(&metrics, name) {
                    Ok(v) if failed_here => format!("FAILED: {v}, expected {bound}"),
                    Ok(v) => format!("{v} (expected {bound})"),
                    Err(why) => format!("no value: {why}"),
                };
                CheckReport {
                    check: name.clone(),
                    kind: "metric",
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

/// A window in words, for a `During` or `Never` check: ` from 1.000000s to 3.000000s`, or
/// nothing when it has none.
fn window_text(kind: &ExpectKind) -> String {
    let (ExpectKind::During { from, until } | ExpectKind::Never { from, until }) = kind else {
        return String::new();
    };
    let mut out = String::new();
    if let Some(f) = from {
        out.push_str(&format!(" from {f}"));
    }
    if let Some(u) = until {
        out.push_str(&format!(" to {u}"));
    }
    out
}
