//! The simulation engine: a single-threaded discrete-event loop over one protocol.
//!
//! [`Simulation`] owns everything a run has: the event queue, the nodes, the clients, the
//! network, the history, the checks and the recorder. One step pops the earliest event
//! (by virtual time, then sequence number), handles it, applies the effects the handler
//! asked for, and runs the checks. The engine never prints, reads files or looks at the
//! wall clock: it returns a [`RunReport`] and feeds a [`Recorder`].
//!
//! Order of a run: nodes boot at time zero in id order, then clients start; scheduled faults
//! and the nemesis fire at their times; the heal (explicit, or after the last fault) starts
//! the liveness phase; the run ends at the time limit, when nothing is left to happen, at the
//! first failed check, or when the event budget runs out (a failure).

mod node_host;
mod queue;

pub use node_host::{Clock, DRIFT_PPM_MAX, DRIFT_PPM_MIN, NodeHost};
pub use queue::{EventQueue, Slab};

use crate::base::rng::{Rng, Stream};
use crate::base::types::{ClientId, Endpoint, NodeId, Time};
use crate::check::{
    Checks, Expectation, FailureClass, Finding, Phase, Status, Trigger, TriggerKind, View,
};
use crate::faults::{
    Fault, Nemesis, NemesisConfig, NemesisKind, NoteTrigger, ScheduledFault, WorldState,
};
use crate::history::{History, OpCounts, Outcome};
use crate::lin;
use crate::network::{Fate, LinkModel, LossReason, NetStats, Network};
use crate::protocol::WorkloadConfig;
use crate::protocol::{ClientCtx, ClientEffect, ClientLogic, Ctx, Effect, Protocol, Value};
use crate::storage::{Store, StoreStats};
use crate::trace::{Origin, Payload, Record, Recorder, TraceSink};
use node_host::HeldEvent;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A node's clock at time zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockInit {
    /// The node.
    pub node: NodeId,
    /// Reading at time zero, milliseconds (may be negative: behind true time).
    pub offset_ms: i64,
    /// Drift, parts per million.
    pub drift_ppm: i32,
}

/// Everything a run needs, already validated. Built from a scenario (see `scenario.rs`) or
/// by hand in tests.
#[derive(Clone, Debug)]
pub struct SimConfig<P: Protocol> {
    /// The run's seed; every random stream is derived from it.
    pub seed: u64,
    /// Cluster size.
    pub nodes: u32,
    /// Protocol parameters.
    pub protocol: P::Config,
    /// How every link behaves unless overridden.
    pub link: LinkModel,
    /// Per-link overrides.
    pub links: Vec<(Endpoint, Endpoint, LinkModel)>,
    /// Clock offsets and drifts at time zero.
    pub clocks: Vec<ClockInit>,
    /// Client workload.
    pub workload: WorkloadConfig,
    /// Scheduled faults.
    pub faults: Vec<ScheduledFault>,
    /// Random faults.
    pub nemesis: Option<NemesisConfig>,
    /// Nodes that never start and that the heal leaves down.
    pub permanently_down: Vec<NodeId>,
    /// When to heal; `None`: after the last fault (or at time zero if there are none).
    pub heal_at: Option<Time>,
    /// The run ends normally here.
    pub time_limit: Time,
    /// Popping more events than this is a failure (a storm or a livelock).
    pub events_max: u64,
    /// More pending events than this at once is a failure too (bounded memory).
    pub pending_max: usize,
    /// Eventually-checks must hold within this long after the heal.
    pub liveness_budget: Option<Time>,
    /// Checks beyond the protocol's default invariants.
    pub expectations: Vec<Expectation>,
    /// Run the checks (the default). Off only to measure what they cost: a run without
    /// checks proves nothing.
    pub checks: bool,
    /// Search steps the linearizability check may take per key before it answers
    /// inconclusive.
    pub history_budget: u64,
}

impl<P: Protocol> SimConfig<P> {
    /// A quiet cluster of `nodes` with default parameters, for tests and examples.
    pub fn new(nodes: u32, seed: u64) -> Self {
        SimConfig {
            seed,
            nodes,
            protocol: P::Config::default(),
            link: LinkModel::default(),
            links: Vec::new(),
            clocks: Vec::new(),
            workload: WorkloadConfig::default(),
            faults: Vec::new(),
            nemesis: None,
            permanently_down: Vec::new(),
            heal_at: None,
            time_limit: Time::from_secs(10),
            events_max: 10_000_000,
            pending_max: 1_000_000,
            liveness_budget: None,
            expectations: Vec::new(),
            checks: true,
            history_budget: lin::DEFAULT_BUDGET,
        }
    }

    /// The time of the heal this configuration implies.
    pub fn resolved_heal_at(&self) -> Time {
        if let Some(t) = self.heal_at {
            return t;
        }
        let last_fault = self.faults.iter().map(|f| f.at()).max();
        let nemesis_end = self.nemesis.as_ref().map(|n| Time::from_ms(n.until_ms));
        last_fault.max(nemesis_end).unwrap_or(Time::ZERO)
    }
}

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
    /// The end-of-run linearizability check, when the protocol has a history model and the
    /// run got that far.
    pub history_check: Option<HistoryCheck>,
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
    /// Measurements reported by the protocol's checks (detection times, recovery, ...).
    pub metrics: BTreeMap<String, serde_json::Value>,
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

#[derive(Clone, Copy, Debug)]
enum Ev {
    Start(u32),
    ClientStart(u32),
    Deliver(u32),
    Timer(u32),
    ClientTimer(u32),
    Fault(u32),
    Nemesis(NemesisKind),
    Deadline,
    End,
}

/// What the end-of-run linearizability check found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryCheck {
    /// `held`, `violated` or `inconclusive`.
    pub verdict: &'static str,
    /// Operations in the history.
    pub ops: usize,
    /// Operations that cannot matter (unknown reads, definite failures).
    pub ignored: usize,
    /// Keys searched independently.
    pub keys: usize,
    /// Search steps taken.
    pub steps: u64,
}

/// A scheduled fault that waits for a node's annotation.
struct Reaction {
    from: Time,
    on: NoteTrigger,
    fault: Fault,
    fired: bool,
}

struct InFlight<P: Protocol> {
    id: u64,
    from: Endpoint,
    to: Endpoint,
    payload: Payload<P>,
    arrived: bool,
}

struct TimerEntry<P: Protocol> {
    node: u32,
    incarnation: u32,
    generation: u64,
    timer: P::Timer,
}

struct ClientTimerEntry {
    client: u32,
    generation: u64,
    timer: u64,
}

struct ClientHost<P: Protocol> {
    logic: P::Client,
    rng: Rng,
    process: u64,
    timers: BTreeMap<u64, u64>,
    timer_gen: u64,
}

thread_local! {
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
    static PANIC_WHERE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs a panic hook that stays silent for panics inside protocol handlers (the engine
/// reports those as findings, with the panic's location) and defers to the previous hook for
/// every other panic. Call once from a binary or a test harness; harmless to call twice.
pub fn install_panic_capture() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_HANDLER.with(Cell::get) {
                let place = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_WHERE.with(|p| *p.borrow_mut() = place);
            } else {
                previous(info);
            }
        }));
    });
}

fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    // PANIC_WHERE needs no reset here: it is only read, and taken, right after a panic.
    let outer = IN_HANDLER.with(|h| h.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_HANDLER.with(|h| h.set(outer));
    result.map_err(|payload| {
        let text = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic with a non-text payload".to_string()
        };
        match PANIC_WHERE.with(|p| p.borrow_mut().take()) {
            Some(place) => format!("{text} (at {place})"),
            None => text,
        }
    })
}

/// A read-only view built from disjoint fields, so the checks can be borrowed mutably beside it.
macro_rules! view {
    ($s:expr) => {
        View {
            hosts: &$s.hosts,
            network: &$s.network,
            history: &$s.history,
            time: $s.now,
            step: $s.step,
            phase: $s.phase,
            healed_at: $s.healed_at,
            touched: $s.touched,
        }
    };
}

/// One simulation of protocol `P`.
pub struct Simulation<P: Protocol> {
    config: SimConfig<P>,
    queue: EventQueue<Ev>,
    hosts: Vec<NodeHost<P>>,
    clients: Vec<ClientHost<P>>,
    network: Network,
    msgs: Slab<InFlight<P>>,
    timers: Slab<TimerEntry<P>>,
    client_timers: Slab<ClientTimerEntry>,
    faults: Vec<(Fault, Origin)>,
    /// Scheduled faults waiting for an annotation (`on`); usually none.
    reactions: Vec<Reaction>,
    nemesis: Option<Nemesis>,
    nemesis_on: bool,
    history: History<P::Request, P::Response>,
    checks: Checks<P>,
    recorder: Recorder,
    effects: Vec<Effect<P>>,
    client_effects: Vec<ClientEffect<P>>,
    now: Time,
    step: u64,
    next_msg_id: u64,
    phase: Phase,
    healed_at: Option<Time>,
    faults_injected: u64,
    touched: Option<Endpoint>,
    finding: Option<Finding>,
    finished: bool,
    history_check: Option<HistoryCheck>,
}

impl<P: Protocol> Simulation<P> {
    /// Builds a simulation. Fails only if an expectation names a check the protocol lacks.
    pub fn new(config: SimConfig<P>, sink: Option<Box<dyn TraceSink>>) -> Result<Self, String> {
        let checks = if config.checks {
            Checks::new(&config.protocol, &config.expectations)?
        } else {
            Checks::none()
        };
        let n = config.nodes;
        let mut network =
            Network::new(n, config.workload.clients, config.link.clone(), config.seed);
        for (from, to, model) in &config.links {
            network.set_link_model(*from, *to, model.clone());
        }
        let hosts = (0..n)
            .map(|i| {
                let clock = config
                    .clocks
                    .iter()
                    .rev()
                    .find(|c| c.node.0 == i)
                    .map(|c| Clock::new(c.offset_ms.saturating_mul(1_000), c.drift_ppm))
                    .unwrap_or_else(|| Clock::new(0, 0));
                let down = config.permanently_down.contains(&NodeId(i));
                NodeHost::new(Rng::new(config.seed, Stream::Node(i)), clock, down)
            })
            .collect();
        let clients = (0..config.workload.clients)
            .map(|i| ClientHost {
                logic: P::Client::new(ClientId(i), n, &config.workload, &config.protocol),
                rng: Rng::new(config.seed, Stream::Client(i)),
                process: u64::from(i),
                timers: BTreeMap::new(),
                timer_gen: 0,
            })
            .collect();
        let nemesis = config
            .nemesis
            .clone()
            .map(|c| Nemesis::new(c, n, config.seed));
        let mut sim = Simulation {
            queue: EventQueue::new(),
            hosts,
            clients,
            network,
            msgs: Slab::new(),
            timers: Slab::<TimerEntry<P>>::new(),
            client_timers: Slab::new(),
            faults: Vec::new(),
            reactions: Vec::new(),
            nemesis_on: nemesis.is_some(),
            nemesis,
            history: History::new(config.workload.clients),
            checks,
            recorder: Recorder::new(sink),
            effects: Vec::new(),
            client_effects: Vec::new(),
            now: Time::ZERO,
            step: 0,
            next_msg_id: 0,
            phase: Phase::Safety,
            healed_at: None,
            faults_injected: 0,
            touched: None,
            finding: None,
            finished: false,
            history_check: None,
            config,
        };
        sim.schedule_initial();
        Ok(sim)
    }

    fn schedule_initial(&mut self) {
        if let Some(d) = self.config.nemesis.as_ref().and_then(|n| n.network.clone()) {
            self.network.degrade(Some(d));
        }
        for i in 0..self.config.nodes {
            if !self.hosts[i as usize].permanently_down {
                self.queue.push(Time::ZERO, Ev::Start(i));
            }
        }
        for i in 0..self.config.workload.clients {
            self.queue.push(Time::ZERO, Ev::ClientStart(i));
        }
        let mut scheduled: Vec<(Time, Fault)> = self
            .config
            .faults
            .iter()
            .filter(|f| f.on.is_none())
            .map(|f| (f.at(), f.fault.clone()))
            .collect();
        self.reactions = self
            .config
            .faults
            .iter()
            .filter_map(|f| {
                let on = f.on.clone()?;
                Some(Reaction {
                    from: f.at(),
                    on,
                    fault: f.fault.clone(),
                    fired: false,
                })
            })
            .collect();
        // Stable: faults at the same time keep the scenario's order.
        scheduled.sort_by_key(|(t, _)| *t);
        let explicit_heal = scheduled.iter().any(|(_, f)| *f == Fault::Heal);
        for (t, f) in scheduled {
            self.schedule_fault(t, f, Origin::Schedule);
        }
        if let Some(nemesis) = &mut self.nemesis {
            let until = nemesis.until();
            for kind in nemesis.kinds() {
                let t = nemesis.next_time(kind, Time::ZERO);
                if t < until {
                    self.queue.push(t, Ev::Nemesis(kind));
                }
            }
        }
        if !explicit_heal {
            let heal = self.config.resolved_heal_at();
            self.schedule_fault(heal, Fault::Heal, Origin::Heal);
        }
        self.queue.push(self.config.time_limit, Ev::End);
    }

    /// Schedules, for right after this step, every waiting fault this annotation fires.
    fn react(&mut self, n: NodeId, key: &str, value: &Value) {
        for i in 0..self.reactions.len() {
            let r = &self.reactions[i];
            let hit = !r.fired
                && self.now >= r.from
                && r.on.node.is_none_or(|m| m == n)
                && r.on.note == key
                && r.on.value.as_ref().is_none_or(|v| value.matches_json(v));
            if hit {
                self.reactions[i].fired = true;
                let r = &self.reactions[i];
                let fault = if r.on.retarget {
                    r.fault.aimed_at(n)
                } else {
                    r.fault.clone()
                };
                self.schedule_fault(self.now, fault, Origin::Reaction);
            }
        }
    }

    /// Lets the nemesis strike the annotating node (`nemesis.strikes`): at most one strike
    /// per annotation, scheduled for right after this step, with its undo.
    fn strike(&mut self, n: NodeId, key: &str, value: &Value) {
        let Some(nemesis) = &self.nemesis else {
            return;
        };
        if nemesis.strikes().is_empty() || self.now >= nemesis.until() {
            return;
        }
        for i in 0..nemesis.strikes().len() {
            let Some(nemesis) = &self.nemesis else {
                return;
            };
            let s = &nemesis.strikes()[i];
            if s.note != key || !s.value.as_ref().is_none_or(|v| value.matches_json(v)) {
                continue;
            }
            if !self.nemesis.as_mut().is_some_and(|nm| nm.strike_fires(i)) {
                continue;
            }
            // Only a strike that fires needs to look at the world.
            let up: Vec<bool> = self.hosts.iter().map(|h| h.status == Status::Up).collect();
            let off: Vec<bool> = self.hosts.iter().map(|h| h.permanently_down).collect();
            let world = WorldState {
                up: &up,
                off_limits: &off,
                links_cut: self.network.links_cut() > 0,
            };
            let now = self.now;
            let drawn = self
                .nemesis
                .as_mut()
                .and_then(|nm| nm.strike(i, n, now, &world));
            if let Some((fault, (t, undo))) = drawn {
                self.schedule_fault(now, fault, Origin::Strike);
                self.schedule_fault(t, undo, Origin::Nemesis);
                return;
            }
        }
    }

    fn schedule_fault(&mut self, at: Time, fault: Fault, origin: Origin) {
        let idx = self.faults.len() as u32;
        self.faults.push((fault, origin));
        self.queue.push(at, Ev::Fault(idx));
    }

    /// Runs to the end and reports.
    pub fn run(&mut self) -> RunReport {
        self.run_until(Time::MAX);
        self.report()
    }

    /// Handles every event due at or before `until` (or until the run ends). Returns whether
    /// the run is still going.
    pub fn run_until(&mut self, until: Time) -> bool {
        while !self.finished {
            match self.queue.peek_time() {
                Some(t) if t <= until => {}
                Some(_) => return true,
                None => {
                    self.finish();
                    break;
                }
            }
            self.step_once();
        }
        false
    }

    fn step_once(&mut self) {
        let Some((time, ev)) = self.queue.pop() else {
            self.finish();
            return;
        };
        debug_assert!(time >= self.now, "virtual time went backwards");
        self.now = time;
        self.step += 1;
        self.touched = None;
        if self.step > self.config.events_max {
            self.fail_engine(
                "event_budget",
                FailureClass::EventBudget,
                format!(
                    "more than {} events by {} (a message storm or a livelock); raise limits.events_max if the run is meant to be this long",
                    self.config.events_max, self.now
                ),
            );
            return;
        }
        if self.queue.len() > self.config.pending_max {
            self.fail_engine(
                "event_budget",
                FailureClass::EventBudget,
                format!(
                    "more than {} events pending at once at {}",
                    self.config.pending_max, self.now
                ),
            );
            return;
        }
        self.touched = None;
        let handled = self.dispatch(ev);
        if let Some(err) = self.recorder.error() {
            let _ = err;
            self.finished = true;
            return;
        }
        if self.finding.is_some() {
            self.finished = true;
            return;
        }
        if handled && !self.checks.is_idle() {
            let view = view!(self);
            let checks = &mut self.checks;
            let verdict = guarded(|| checks.after_step(&view).map(Box::new));
            if let Some(f) = self.check_verdict(verdict) {
                self.fail(f);
                return;
            }
            for e in self.checks.drain_events() {
                self.recorder.record::<P>(
                    self.step,
                    self.now,
                    &Record::Check {
                        check: &e.check,
                        kind: e.kind,
                        status: &e.status,
                    },
                );
            }
        }
        if matches!(ev, Ev::Deadline | Ev::End) {
            let view = view!(self);
            let checks = &mut self.checks;
            let verdict = guarded(|| checks.expire(&view).map(Box::new));
            if let Some(f) = self.check_verdict(verdict) {
                self.fail(f);
                return;
            }
        }
        if matches!(ev, Ev::End) {
            self.finish();
        }
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        if self.finding.is_none() {
            let view = view!(self);
            let checks = &mut self.checks;
            let verdict = guarded(|| checks.finish(&view).map(Box::new));
            if let Some(f) = self.check_verdict(verdict) {
                self.fail(f);
            }
        }
        if self.finding.is_none() && self.config.checks {
            self.check_history();
        }
    }

    /// The client history as the linearizability checker reads it (empty when the protocol
    /// names no history model).
    pub fn history_ops(&self) -> Vec<lin::Op> {
        if P::HISTORY_MODEL.is_none() {
            return Vec::new();
        }
        self.history
            .ops()
            .iter()
            .filter_map(|o| {
                let call = P::history_call(&o.request)?;
                let (outcome, ret) = match (&o.outcome, o.completed_at) {
                    (Outcome::Ok(r), Some(t)) => (lin::Outcome::Ok(P::history_value(r)), Some(t)),
                    (Outcome::Fail(r), Some(t)) => {
                        (lin::Outcome::Fail(P::history_value(r)), Some(t))
                    }
                    _ => (lin::Outcome::Unknown, None),
                };
                Some(lin::Op {
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

    /// The end-of-run check that the client history is linearizable.
    fn check_history(&mut self) {
        let Some(model) = P::HISTORY_MODEL else {
            return;
        };
        let ops = self.history_ops();
        if ops.is_empty() {
            return;
        }
        let (verdict, stats) = match lin::check(&ops, model, self.config.history_budget) {
            Ok(v) => v,
            Err(e) => {
                return self.fail_engine(
                    "linearizable",
                    FailureClass::Panic,
                    format!("the {} history does not fit its model: {e}", P::NAME),
                );
            }
        };
        let status = match &verdict {
            lin::LinVerdict::Linearizable => "held",
            lin::LinVerdict::NotLinearizable(_) => "violated",
            lin::LinVerdict::Inconclusive { .. } => "inconclusive",
        };
        self.history_check = Some(HistoryCheck {
            verdict: status,
            ops: stats.ops,
            ignored: stats.ignored,
            keys: stats.partitions,
            steps: stats.steps,
        });
        match verdict {
            lin::LinVerdict::NotLinearizable(c) => {
                let f = Finding {
                    check: "linearizable".to_string(),
                    kind: "history".to_string(),
                    class: FailureClass::Safety,
                    step: self.step,
                    time: self.now,
                    nodes: vec![],
                    message: format!(
                        "the client history is not linearizable ({} model): {}",
                        model.name(),
                        c.explain(&ops)
                    ),
                };
                self.fail(f);
            }
            _ => self.recorder.record::<P>(
                self.step,
                self.now,
                &Record::Check {
                    check: "linearizable",
                    kind: "history",
                    status,
                },
            ),
        }
    }

    /// A check that panicked is a finding too: checks are protocol code.
    /// The finding travels boxed: the common answer, "nothing", then moves one pointer.
    #[inline]
    fn check_verdict(&self, verdict: Result<Option<Box<Finding>>, String>) -> Option<Finding> {
        match verdict {
            Ok(None) => None,
            Ok(Some(f)) => Some(*f),
            Err(message) => Some(Finding {
                check: "check_panic".to_string(),
                kind: "engine".to_string(),
                class: FailureClass::Panic,
                step: self.step,
                time: self.now,
                nodes: vec![],
                message: format!("a {} check panicked: {message}", P::NAME),
            }),
        }
    }

    fn fail(&mut self, f: Finding) {
        if self.finding.is_some() {
            return; // the first failure is the one that counts; nothing after it is recorded
        }
        let class = f.class.name();
        self.recorder.record::<P>(
            self.step,
            self.now,
            &Record::Violation {
                check: &f.check,
                kind: &f.kind,
                class,
                nodes: &f.nodes,
                message: &f.message,
            },
        );
        self.finding = Some(f);
        self.finished = true;
    }

    fn fail_engine(&mut self, check: &str, class: FailureClass, message: String) {
        let nodes = match self.touched {
            Some(Endpoint::Node(n)) => vec![n],
            _ => vec![],
        };
        let f = Finding {
            check: check.to_string(),
            kind: "engine".to_string(),
            class,
            step: self.step,
            time: self.now,
            nodes,
            message,
        };
        self.fail(f);
    }

    /// Handles one event; returns whether anything happened (stale timers do nothing).
    fn dispatch(&mut self, ev: Ev) -> bool {
        match ev {
            Ev::Start(i) => {
                self.boot(NodeId(i));
                true
            }
            Ev::ClientStart(i) => {
                self.call_client(i, |c, ctx| c.on_start(ctx));
                true
            }
            Ev::Deliver(slot) => self.deliver(slot),
            Ev::Timer(slot) => self.fire_timer(slot),
            Ev::ClientTimer(slot) => self.fire_client_timer(slot),
            Ev::Fault(idx) => {
                let (fault, origin) = self.faults[idx as usize].clone();
                self.apply_fault(&fault, origin);
                true
            }
            Ev::Nemesis(kind) => self.nemesis_tick(kind),
            Ev::Deadline | Ev::End => false,
        }
    }

    fn boot(&mut self, n: NodeId) {
        let host = &mut self.hosts[n.index()];
        if host.status != Status::Down {
            return;
        }
        let recover = host.booted;
        if recover {
            host.incarnation += 1;
        }
        host.booted = true;
        host.status = Status::Up;
        let (nodes, config) = (self.config.nodes, &self.config.protocol);
        match guarded(|| P::new(n, nodes, config)) {
            Ok(p) => host.proto = Some(p),
            Err(message) => {
                host.status = Status::Down;
                self.touched = Some(Endpoint::Node(n));
                self.fail_engine(
                    "protocol_panic",
                    FailureClass::Panic,
                    format!("{n} panicked while being built: {message}"),
                );
                return;
            }
        }
        let host = &self.hosts[n.index()];
        let incarnation = host.incarnation;
        self.touched = Some(Endpoint::Node(n));
        self.recorder.record::<P>(
            self.step,
            self.now,
            &Record::Start {
                node: n,
                incarnation,
                recover,
            },
        );
        if recover {
            self.call_node(n, |p, ctx| p.on_recover(ctx));
        } else {
            self.call_node(n, |p, ctx| p.on_start(ctx));
        }
    }

    fn call_node(&mut self, n: NodeId, f: impl FnOnce(&mut P, &mut Ctx<'_, P>)) {
        self.touched = Some(Endpoint::Node(n));
        let host = &mut self.hosts[n.index()];
        let local = host.clock.local(self.now);
        let Some(proto) = host.proto.as_mut() else {
            debug_assert!(false, "a handler call for a node that is down");
            return;
        };
        debug_assert_eq!(
            host.status,
            Status::Up,
            "a handler call for a node that is not up"
        );
        let mut effects = std::mem::take(&mut self.effects);
        let result = {
            let mut ctx = Ctx::new(
                n,
                self.config.nodes,
                local,
                &mut host.rng,
                &mut host.store,
                &mut effects,
            );
            guarded(|| f(proto, &mut ctx))
        };
        match result {
            Ok(()) => self.apply_effects(n, &mut effects),
            Err(message) => {
                effects.clear();
                self.fail_engine(
                    "protocol_panic",
                    FailureClass::Panic,
                    format!("{} panicked in a {} handler: {message}", n, P::NAME),
                );
            }
        }
        self.effects = effects;
    }

    fn apply_effects(&mut self, n: NodeId, effects: &mut Vec<Effect<P>>) {
        for effect in effects.drain(..) {
            match effect {
                Effect::Send { to, msg } => {
                    if to.0 >= self.config.nodes {
                        self.fail_engine(
                            "protocol_error",
                            FailureClass::Panic,
                            format!(
                                "{n} sent a message to {to}, which does not exist (cluster of {})",
                                self.config.nodes
                            ),
                        );
                        return;
                    }
                    self.send(Endpoint::Node(n), Endpoint::Node(to), Payload::Peer(msg));
                }
                Effect::SetTimer { timer, after } => {
                    let host = &mut self.hosts[n.index()];
                    host.timer_gen += 1;
                    let generation = host.timer_gen;
                    let at = self.now.add(host.clock.true_duration(after));
                    host.timers.insert(timer.clone(), generation);
                    let slot = self.timers.insert(TimerEntry {
                        node: n.0,
                        incarnation: host.incarnation,
                        generation,
                        timer,
                    });
                    self.queue.push(at, Ev::Timer(slot));
                }
                Effect::CancelTimer { timer } => {
                    self.hosts[n.index()].timers.remove(&timer);
                }
                Effect::Reply {
                    client,
                    id,
                    response,
                } => {
                    if client.0 >= self.config.workload.clients {
                        self.fail_engine(
                            "protocol_error",
                            FailureClass::Panic,
                            format!("{n} replied to {client}, which does not exist"),
                        );
                        return;
                    }
                    self.send(
                        Endpoint::Node(n),
                        Endpoint::Client(client),
                        Payload::Response { id, body: response },
                    );
                }
                Effect::Annotate { key, value } => {
                    self.recorder.record::<P>(
                        self.step,
                        self.now,
                        &Record::Note {
                            node: n,
                            key,
                            value: &value,
                        },
                    );
                    // After the heal nothing strikes any more, reactions included.
                    if self.phase == Phase::Safety {
                        if !self.reactions.is_empty() {
                            self.react(n, key, &value);
                        }
                        if self.nemesis_on {
                            self.strike(n, key, &value);
                        }
                    }
                    self.hosts[n.index()].annotations.insert(key, value);
                }
                Effect::Synced { ops } => {
                    self.recorder
                        .record::<P>(self.step, self.now, &Record::Sync { node: n, ops });
                }
            }
        }
    }

    fn send(&mut self, from: Endpoint, to: Endpoint, payload: Payload<P>) {
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        let (vf, vt) = (self.network.vertex(from), self.network.vertex(to));
        let fate = self.network.transmit(vf, vt);
        let copies = match fate {
            Fate::Lost => 0,
            Fate::Arrives {
                duplicate: None, ..
            } => 1,
            Fate::Arrives {
                duplicate: Some(_), ..
            } => 2,
        };
        self.recorder.record::<P>(
            self.step,
            self.now,
            &Record::Send {
                id,
                from,
                to,
                copies,
                msg: &payload,
            },
        );
        match fate {
            Fate::Lost => {
                self.recorder.record::<P>(
                    self.step,
                    self.now,
                    &Record::Lost {
                        id,
                        from,
                        to,
                        reason: LossReason::Loss,
                    },
                );
            }
            Fate::Arrives { first, duplicate } => {
                if let Some(second) = duplicate {
                    let copy = InFlight {
                        id,
                        from,
                        to,
                        payload: payload.clone(),
                        arrived: false,
                    };
                    let slot = self.msgs.insert(copy);
                    self.queue.push(self.now.add(second), Ev::Deliver(slot));
                }
                let slot = self.msgs.insert(InFlight {
                    id,
                    from,
                    to,
                    payload,
                    arrived: false,
                });
                self.queue.push(self.now.add(first), Ev::Deliver(slot));
            }
        }
    }

    fn record_delivery(&mut self, m: &InFlight<P>) {
        self.network.count_delivered();
        let (id, from, to, msg) = (m.id, m.from, m.to, &m.payload);
        self.recorder
            .record::<P>(self.step, self.now, &Record::Deliver { id, from, to, msg });
    }

    fn lose(&mut self, m: &InFlight<P>, reason: LossReason) {
        self.network.count_lost(reason);
        self.recorder.record::<P>(
            self.step,
            self.now,
            &Record::Lost {
                id: m.id,
                from: m.from,
                to: m.to,
                reason,
            },
        );
    }

    fn deliver(&mut self, slot: u32) -> bool {
        let Some(m) = self.msgs.get(slot) else {
            return false;
        };
        let (from, to, arrived) = (m.from, m.to, m.arrived);
        let link_up = arrived
            || self
                .network
                .can_send(self.network.vertex(from), self.network.vertex(to));
        match to {
            Endpoint::Node(n) => {
                let status = self.hosts[n.index()].status;
                self.touched = Some(to);
                if status == Status::Down {
                    let m = self.msgs.remove(slot).expect("slot checked above");
                    self.lose(&m, LossReason::ReceiverDown);
                    return true;
                }
                if !link_up {
                    let m = self.msgs.remove(slot).expect("slot checked above");
                    self.lose(&m, LossReason::Partition);
                    return true;
                }
                if status == Status::Paused {
                    let m = self.msgs.get_mut(slot).expect("slot checked above");
                    m.arrived = true;
                    let id = m.id;
                    self.hosts[n.index()]
                        .held
                        .push_back(HeldEvent::Deliver(slot));
                    self.recorder
                        .record::<P>(self.step, self.now, &Record::Held { id, node: n });
                    return true;
                }
                let m = self.msgs.remove(slot).expect("slot checked above");
                self.record_delivery(&m);
                match (from, m.payload) {
                    (Endpoint::Node(src), Payload::Peer(msg)) => {
                        self.call_node(n, |p, ctx| p.on_message(ctx, src, msg))
                    }
                    (Endpoint::Client(c), Payload::Request { id, body }) => {
                        self.call_node(n, |p, ctx| p.on_request(ctx, c, id, body))
                    }
                    _ => debug_assert!(false, "a payload of the wrong kind for its endpoints"),
                }
                true
            }
            Endpoint::Client(c) => {
                let m = self.msgs.remove(slot).expect("slot checked above");
                self.touched = Some(to);
                if !link_up {
                    self.lose(&m, LossReason::Partition);
                    return true;
                }
                self.record_delivery(&m);
                if let (Endpoint::Node(src), Payload::Response { id, body }) = (from, m.payload) {
                    self.call_client(c.0, |cl, ctx| cl.on_response(ctx, src, id, body));
                }
                true
            }
        }
    }

    fn fire_timer(&mut self, slot: u32) -> bool {
        let Some(t) = self.timers.get(slot) else {
            return false;
        };
        let host = &self.hosts[t.node as usize];
        let live = host.status != Status::Down
            && host.incarnation == t.incarnation
            && host.timers.get(&t.timer) == Some(&t.generation);
        if !live {
            self.timers.remove(slot);
            return false;
        }
        let n = NodeId(t.node);
        if host.status == Status::Paused {
            self.hosts[n.index()].held.push_back(HeldEvent::Timer(slot));
            return false;
        }
        let t = self.timers.remove(slot).expect("slot checked above");
        self.hosts[n.index()].timers.remove(&t.timer);
        self.touched = Some(Endpoint::Node(n));
        self.recorder.record::<P>(
            self.step,
            self.now,
            &Record::Timer {
                node: n,
                timer: &t.timer,
            },
        );
        self.call_node(n, |p, ctx| p.on_timer(ctx, t.timer));
        true
    }

    fn call_client(&mut self, c: u32, f: impl FnOnce(&mut P::Client, &mut ClientCtx<'_, P>)) {
        self.touched = Some(Endpoint::Client(ClientId(c)));
        let mut effects = std::mem::take(&mut self.client_effects);
        let host = &mut self.clients[c as usize];
        let result = {
            let mut ctx = ClientCtx::new(
                ClientId(c),
                self.config.nodes,
                self.now,
                &mut host.rng,
                &mut self.history,
                &mut host.process,
                &mut effects,
            );
            guarded(|| f(&mut host.logic, &mut ctx))
        };
        match result {
            Ok(()) => {
                for e in effects.drain(..) {
                    self.apply_client_effect(c, e);
                }
            }
            Err(message) => {
                effects.clear();
                self.fail_engine(
                    "protocol_panic",
                    FailureClass::Panic,
                    format!("client c{} panicked: {message}", c + 1),
                );
            }
        }
        self.client_effects = effects;
    }

    fn apply_client_effect(&mut self, c: u32, e: ClientEffect<P>) {
        match e {
            ClientEffect::Send { to, id, request } => {
                if to.0 >= self.config.nodes {
                    self.fail_engine(
                        "protocol_error",
                        FailureClass::Panic,
                        format!("client c{} sent a request to {to}, which does not exist (cluster of {})", c + 1, self.config.nodes),
                    );
                } else {
                    self.send(
                        Endpoint::Client(ClientId(c)),
                        Endpoint::Node(to),
                        Payload::Request { id, body: request },
                    );
                }
            }
            ClientEffect::SetTimer { timer, after } => {
                let host = &mut self.clients[c as usize];
                host.timer_gen += 1;
                let generation = host.timer_gen;
                host.timers.insert(timer, generation);
                let slot = self.client_timers.insert(ClientTimerEntry {
                    client: c,
                    generation,
                    timer,
                });
                self.queue.push(self.now.add(after), Ev::ClientTimer(slot));
            }
            ClientEffect::CancelTimer { timer } => {
                self.clients[c as usize].timers.remove(&timer);
            }
            ClientEffect::Invoked(op) => {
                let o = self.history.op(op);
                self.recorder.record::<P>(
                    self.step,
                    self.now,
                    &Record::Invoke {
                        op,
                        client: o.client,
                        process: o.process,
                        request: &o.request,
                    },
                );
            }
            ClientEffect::Completed(op) => {
                let o = self.history.op(op);
                self.recorder.record::<P>(
                    self.step,
                    self.now,
                    &Record::Complete {
                        op,
                        client: o.client,
                        process: o.process,
                        outcome: &o.outcome,
                    },
                );
            }
        }
    }

    fn fire_client_timer(&mut self, slot: u32) -> bool {
        let Some(t) = self.client_timers.remove(slot) else {
            return false;
        };
        let host = &mut self.clients[t.client as usize];
        if host.timers.get(&t.timer) != Some(&t.generation) {
            return false;
        }
        host.timers.remove(&t.timer);
        self.call_client(t.client, |cl, ctx| cl.on_timer(ctx, t.timer));
        true
    }

    fn nemesis_tick(&mut self, kind: NemesisKind) -> bool {
        if !self.nemesis_on {
            return false;
        }
        let up: Vec<bool> = self.hosts.iter().map(|h| h.status == Status::Up).collect();
        let off: Vec<bool> = self.hosts.iter().map(|h| h.permanently_down).collect();
        let links_cut = self.network.links_cut() > 0;
        let world = WorldState {
            up: &up,
            off_limits: &off,
            links_cut,
        };
        let Some(nemesis) = &mut self.nemesis else {
            return false;
        };
        let drawn = nemesis.draw(kind, self.now, &world);
        let next = nemesis.next_time(kind, self.now);
        let until = nemesis.until();
        if next < until {
            self.queue.push(next, Ev::Nemesis(kind));
        }
        let Some((fault, undo)) = drawn else {
            return false;
        };
        self.faults.push((fault.clone(), Origin::Nemesis));
        if let Some((t, undo)) = undo {
            self.schedule_fault(t, undo, Origin::Nemesis);
        }
        self.apply_fault(&fault, Origin::Nemesis);
        true
    }

    fn trigger(&mut self, kind: TriggerKind, node: Option<NodeId>) {
        let deadlines = self.checks.on_trigger(Trigger {
            kind,
            node,
            at: self.now,
        });
        for d in deadlines {
            self.queue.push(d, Ev::Deadline);
        }
    }

    fn record_fault(&mut self, fault: &Fault, origin: Origin, detail: Option<&str>) {
        self.recorder.record::<P>(
            self.step,
            self.now,
            &Record::Fault {
                fault,
                origin,
                detail,
            },
        );
    }

    fn apply_fault(&mut self, fault: &Fault, origin: Origin) {
        self.faults_injected += 1;
        // Link faults change many nodes' reachability at once: checks must look everywhere.
        let link_fault = matches!(
            fault,
            Fault::Partition(_)
                | Fault::Bridge { .. }
                | Fault::Isolate(_)
                | Fault::Cut { .. }
                | Fault::Repair { .. }
                | Fault::HealLinks
        );
        self.touched = if link_fault {
            None
        } else {
            fault.node().map(Endpoint::Node)
        };
        match fault {
            Fault::Crash(n) => {
                if self.hosts[n.index()].status == Status::Down {
                    self.record_fault(fault, origin, Some("ignored: already down"));
                    return;
                }
                let lost = self.crash(*n);
                let detail = format!("{lost} unsynced writes lost");
                self.record_fault(fault, origin, Some(&detail));
                self.drop_held(*n);
                self.trigger(TriggerKind::Crash, Some(*n));
            }
            Fault::Restart(n) => {
                let host = &self.hosts[n.index()];
                if host.status != Status::Down {
                    self.record_fault(fault, origin, Some("ignored: not down"));
                    return;
                }
                if host.permanently_down && origin != Origin::Schedule {
                    self.record_fault(fault, origin, Some("ignored: permanently down"));
                    return;
                }
                self.record_fault(fault, origin, None);
                self.boot(*n);
                self.trigger(TriggerKind::Restart, Some(*n));
            }
            Fault::Pause(n) => {
                let host = &mut self.hosts[n.index()];
                if host.status != Status::Up {
                    self.record_fault(fault, origin, Some("ignored: not up"));
                    return;
                }
                host.status = Status::Paused;
                self.record_fault(fault, origin, None);
                self.trigger(TriggerKind::Pause, Some(*n));
            }
            Fault::Resume(n) => {
                if self.hosts[n.index()].status != Status::Paused {
                    self.record_fault(fault, origin, Some("ignored: not paused"));
                    return;
                }
                let held = self.hosts[n.index()].held.len();
                let detail = format!("{held} held events handled now");
                self.record_fault(fault, origin, Some(&detail));
                self.resume(*n);
                self.trigger(TriggerKind::Resume, Some(*n));
            }
            Fault::Partition(groups) | Fault::Bridge { groups, .. } => {
                self.network.split(groups);
                self.record_fault(fault, origin, None);
                self.trigger(TriggerKind::Partition, fault.node());
            }
            Fault::Isolate(e) => {
                self.network.isolate(*e);
                self.record_fault(fault, origin, None);
                self.trigger(TriggerKind::Partition, fault.node());
            }
            Fault::Cut { from, to } => {
                self.network.cut(*from, *to);
                self.record_fault(fault, origin, None);
                self.trigger(TriggerKind::Partition, None);
            }
            Fault::Repair { from, to } => {
                self.network.repair(*from, *to);
                self.record_fault(fault, origin, None);
                self.trigger(TriggerKind::HealLinks, None);
            }
            Fault::HealLinks => {
                self.network.heal();
                self.record_fault(fault, origin, None);
                self.trigger(TriggerKind::HealLinks, None);
            }
            Fault::ClockStep { node, offset_ms } => {
                self.hosts[node.index()]
                    .clock
                    .step(self.now, offset_ms.saturating_mul(1_000));
                self.record_fault(fault, origin, None);
                self.trigger(TriggerKind::Clock, Some(*node));
            }
            Fault::ClockDrift { node, ppm } => {
                self.hosts[node.index()].clock.set_drift(self.now, *ppm);
                self.record_fault(fault, origin, None);
                self.trigger(TriggerKind::Clock, Some(*node));
            }
            Fault::Heal => self.heal(origin),
        }
    }

    /// Drops the instance and its timers; the store keeps only synced writes.
    fn crash(&mut self, n: NodeId) -> usize {
        let host = &mut self.hosts[n.index()];
        host.proto = None;
        host.status = Status::Down;
        host.timers.clear();
        host.store.crash()
    }

    fn drop_held(&mut self, n: NodeId) {
        while let Some(h) = self.hosts[n.index()].held.pop_front() {
            match h {
                HeldEvent::Deliver(slot) => {
                    if let Some(m) = self.msgs.remove(slot) {
                        self.lose(&m, LossReason::ReceiverDown);
                    }
                }
                HeldEvent::Timer(slot) => {
                    self.timers.remove(slot);
                }
            }
        }
    }

    fn resume(&mut self, n: NodeId) {
        let host = &mut self.hosts[n.index()];
        host.status = Status::Up;
        let held: Vec<HeldEvent> = host.held.drain(..).collect();
        for h in held {
            let ev = match h {
                HeldEvent::Deliver(slot) => Ev::Deliver(slot),
                HeldEvent::Timer(slot) => Ev::Timer(slot),
            };
            self.queue.push(self.now, ev);
        }
    }

    fn heal(&mut self, origin: Origin) {
        self.nemesis_on = false;
        self.network.degrade(None);
        self.phase = Phase::Liveness;
        self.healed_at = Some(self.now);
        self.network.heal();
        self.record_fault(&Fault::Heal, origin, None);
        self.recorder
            .record::<P>(self.step, self.now, &Record::Phase { phase: "liveness" });
        for i in 0..self.config.nodes {
            if self.finding.is_some() {
                return; // a restart or resume failed: the run ends here
            }
            let n = NodeId(i);
            match self.hosts[n.index()].status {
                Status::Paused => self.apply_fault(&Fault::Resume(n), Origin::Heal),
                Status::Down if !self.hosts[n.index()].permanently_down => {
                    self.apply_fault(&Fault::Restart(n), Origin::Heal)
                }
                _ => {}
            }
        }
        for d in self.checks.on_heal(self.now) {
            self.queue.push(d, Ev::Deadline);
        }
        self.trigger(TriggerKind::Heal, None);
        // The heal touched many nodes in one step: checks must look at all of them.
        self.touched = None;
    }

    /// The report so far (complete once the run has ended).
    pub fn report(&self) -> RunReport {
        let verdict = match (&self.finding, self.recorder.error()) {
            (_, Some(e)) => Verdict::Aborted {
                reason: e.to_string(),
            },
            (Some(f), None) => Verdict::Fail(f.clone()),
            (None, None)
                if self
                    .history_check
                    .as_ref()
                    .is_some_and(|h| h.verdict == "inconclusive") =>
            {
                Verdict::Inconclusive {
                    reason: format!(
                        "the linearizability search used its budget of {} steps; raise limits.history_steps",
                        self.config.history_budget
                    ),
                }
            }
            (None, None) if self.finished && !self.checks.undecided(self.now).is_empty() => {
                Verdict::Inconclusive {
                    reason: format!(
                        "the run ended before these checks were due: {}; lengthen limits.time_ms",
                        self.checks.undecided(self.now).join("; ")
                    ),
                }
            }
            (None, None) => Verdict::Pass,
        };
        RunReport {
            protocol: P::NAME,
            seed: self.config.seed,
            verdict,
            steps: self.step,
            time_end: self.now,
            faults_injected: self.faults_injected,
            checks_evaluated: self.checks.evaluations(),
            checks: self.checks.report(self.finding.as_ref()),
            network: self.network.stats(),
            storage: self.hosts.iter().map(|h| h.store.stats()).collect(),
            incarnations: self.hosts.iter().map(|h| h.incarnation).collect(),
            ops: self.history.counts(),
            metrics: self.checks.metrics(),
            records: self.recorder.records(),
            fingerprint: self.recorder.fingerprint(),
            history_check: self.history_check.clone(),
        }
    }

    /// Virtual time now.
    pub fn now(&self) -> Time {
        self.now
    }
    /// A node's protocol state, if it is up or paused.
    pub fn node(&self, n: NodeId) -> Option<&P> {
        self.hosts[n.index()].proto.as_ref()
    }
    /// A node's status.
    pub fn status(&self, n: NodeId) -> Status {
        self.hosts[n.index()].status
    }
    /// A node's store.
    pub fn store(&self, n: NodeId) -> &Store<P::Record> {
        &self.hosts[n.index()].store
    }
    /// A node's local clock reading now.
    pub fn local_time(&self, n: NodeId) -> Time {
        self.hosts[n.index()].clock.local(self.now)
    }
    /// The network.
    pub fn network(&self) -> &Network {
        &self.network
    }
    /// The client history.
    pub fn history(&self) -> &History<P::Request, P::Response> {
        &self.history
    }
    /// Every fault applied or scheduled so far, with its origin, in scheduling order.
    pub fn faults(&self) -> &[(Fault, Origin)] {
        &self.faults
    }
    /// Hands the trace sink back once the run is over.
    pub fn take_sink(&mut self) -> Option<Box<dyn TraceSink>> {
        self.recorder.take_sink()
    }
}
