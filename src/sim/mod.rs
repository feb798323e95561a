//! The discrete-event driver: a [`World`] moved forward by a time-ordered queue.
//!
//! [`Simulation`] owns what a timed run adds to the world: the event queue (ordered by
//! virtual time, then by the order events were scheduled), the random network that decides
//! each message's loss, duplication and latency at send, the scheduled faults, the random
//! nemesis and its strikes, the reactions to annotations, the checks and the recorder. One
//! step pops the earliest event, turns it into an [`Action`] of the world (or into nothing:
//! a deadline, the end), schedules what the action's [`Consequence`]s ask for in the order
//! they happened, and runs the checks. The driver never prints, reads files or looks at the
//! wall clock: it returns a [`RunReport`] and feeds a [`Recorder`].
//!
//! Order of a run: nodes boot at time zero in id order, then clients start; scheduled faults
//! and the nemesis fire at their times; the heal (explicit, or after the last fault) starts
//! the liveness phase; the run ends at the time limit, when nothing is left to happen, at the
//! first failed check, or when the event budget runs out (a failure).

mod config;
mod coverage;
mod queue;
mod report;

pub use crate::check::{RecoveryAggregate, RecoveryReport};
pub use crate::network::Order;
pub use crate::world::{
    Bounds, ClockInit, DRIFT_PPM_MAX, DRIFT_PPM_MIN, HISTORY_MAX_DEFAULT, MsgRef,
    RECORDS_MAX_DEFAULT, Step, TimerRef, install_panic_capture,
};
pub use config::{FAULTS_MAX_DEFAULT, SimConfig};
pub use coverage::Coverage;
pub use queue::EventQueue;
pub use report::{HistoryReport, RunReport, Verdict};

use crate::base::rng::{Rng, Stream};
use crate::base::types::Endpoint;
use crate::base::types::{ClientId, NodeId, Time};
use crate::check::{Checks, FailureClass, Finding, Phase, Status};
use crate::faults::{
    Aim, Fault, MessageFault, Nemesis, NemesisKind, NoteTrigger, ScheduledFault, WorldState,
};
use crate::history::{History, HistoryVerdict, checked_ops};
use crate::network::{Fate, Network, Orderer, RandomNetwork, Transport};
use crate::protocol::{Protocol, Value};
use crate::storage::Store;
use crate::trace::{Origin, Record, Recorder, TraceSink};
use crate::world::{
    Action, Applied, ClientTimerSlot, Collect, Consequence, Driver, Env, Glimpse, Held, MsgSlot,
    Namer, NodeHost, Stop, Stopped, TimerSlot, World, guarded,
};

/// An event in the queue. Payloads live in the world (messages, timers) or in the driver
/// (faults), so entries stay small.
#[derive(Clone, Copy, Debug)]
enum Ev {
    Start(u32),
    ClientStart(u32),
    Deliver(MsgSlot),
    Timer(TimerSlot),
    ClientTimer(ClientTimerSlot),
    Fault(u32),
    /// A scheduled fault shaped by an aim, a duration or a repetition: resolved when it
    /// fires. Indexes `Sched::planned`.
    Planned(u32),
    Nemesis(NemesisKind),
    /// More faults were scheduled during the run than `limits.faults_max`: the run stops.
    FaultsBound,
    Deadline,
    End,
}

/// A scheduled fault that waits for a node's annotation.
struct Reaction {
    from: Time,
    on: NoteTrigger,
    fault: Fault,
    fired: bool,
    /// For an entry with an aim or a duration: its `Sched::planned` index.
    planned: Option<u32>,
}

/// A scheduled fault resolved when it fires: its nodes chosen by its aim, its undo
/// scheduled after its duration.
struct Planned {
    /// The fault as written ([`crate::faults::AIMED`] where an aim was written).
    written: Fault,
    aim: Option<Aim>,
    duration: Option<Time>,
    origin: Origin,
}

/// A fault on one chosen message, waiting for it: the messages of its kind on its link
/// seen so far.
struct Chosen {
    fault: MessageFault,
    seen: u32,
}

/// How one step ended.
enum StepEnd {
    /// The run goes on.
    Continue,
    /// The run is over: its end (normal, or a finding, or an abort) is decided.
    Over(End),
}

/// How a run ended, once it has.
#[derive(Clone, Debug)]
enum End {
    /// The time limit, or nothing left to happen: the end-of-run checks ran and held (the
    /// history check may have been inconclusive: why).
    Finished(Option<String>),
    /// A check failed, a protocol failed, or the event budget ran out.
    Failed(Finding),
    /// The trace sink refused a record.
    Aborted(String),
}

/// One simulation of protocol `P`.
pub struct Simulation<P: Protocol> {
    config: SimConfig<P>,
    world: World<P>,
    /// The queue and everything that schedules onto it: the world's driver.
    sched: Sched<P>,
    recorder: Recorder,
    end: Option<End>,
    history_check: Option<HistoryReport>,
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
            RandomNetwork::new(n, config.workload.clients, config.link.clone(), config.seed);
        for (from, to, model) in &config.links {
            network.set_link_model(*from, *to, model.clone());
        }
        let world = config.world();
        let nemesis = config.nemesis.clone().map(|mut c| {
            // Random storage faults draw the atlas's kinds unless the nemesis names its own.
            if let (Some(d), Some(atlas)) = (c.disk.as_mut(), config.atlas.as_ref()) {
                if d.kinds.is_empty() {
                    d.kinds = atlas.faults.clone();
                }
            }
            Nemesis::new(c, n, config.seed)
        });
        let mut sim = Simulation {
            world,
            sched: Sched {
                queue: EventQueue::new(),
                network,
                faults: Vec::new(),
                reactions: Vec::new(),
                nemesis_on: nemesis.is_some(),
                nemesis,
                checks,
                faults_initial: 0,
                faults_max: config.faults_max,
                faults_bound_queued: false,
                planned: Vec::new(),
                chosen: Vec::new(),
                aim_rng: Rng::new(config.seed, Stream::Aim),
                // Change points fall in the faulty phase, or anywhere in a run without one.
                order: Orderer::new(
                    config.order,
                    n + config.workload.clients,
                    config.seed,
                    Some(config.resolved_heal_at())
                        .filter(|t| *t > Time::ZERO)
                        .unwrap_or(config.time_limit),
                ),
                now: Time::ZERO,
                coverage: config.coverage.then(|| Coverage::new(P::vocabulary(), n)),
            },
            recorder: match sink {
                None if !config.fingerprint => Recorder::silent(),
                sink => Recorder::new(sink),
            },
            end: None,
            history_check: None,
            config,
        };
        if sim.config.steps.is_some() {
            sim.world.freeze_clocks();
        } else {
            sim.schedule_initial();
        }
        Ok(sim)
    }

    fn schedule_initial(&mut self) {
        if let Some(d) = self.config.nemesis.as_ref().and_then(|n| n.network.clone()) {
            self.sched.network.degrade(Some(d));
        }
        for i in 0..self.config.nodes {
            if !self.config.permanently_down.contains(&NodeId(i)) {
                self.sched.queue.push(Time::ZERO, Ev::Start(i));
            }
        }
        for i in 0..self.config.workload.clients {
            self.sched.queue.push(Time::ZERO, Ev::ClientStart(i));
        }
        // Plain entries are faults as written; shaped ones (an aim, a duration, a
        // repetition) are resolved when they fire, once per repetition.
        let mut scheduled: Vec<(Time, Result<Fault, u32>)> = Vec::new();
        let mut reactions = Vec::new();
        for f in &self.config.faults {
            if let Fault::Message(m) = &f.fault {
                // Applied at send, whatever the phase: not an event.
                self.sched.chosen.push(Chosen {
                    fault: m.clone(),
                    seen: 0,
                });
                continue;
            }
            let planned = (!f.is_plain()).then(|| self.sched.plan(f));
            match (&f.on, planned) {
                (Some(on), planned) => reactions.push(Reaction {
                    from: f.at(),
                    on: on.clone(),
                    fault: f.fault.clone(),
                    fired: false,
                    planned,
                }),
                (None, None) => scheduled.push((f.at(), Ok(f.fault.clone()))),
                (None, Some(idx)) => {
                    let every = f.every_us.unwrap_or(0);
                    for k in 0..u64::from(f.repeats()) {
                        let t = Time(f.at_us.saturating_add(every.saturating_mul(k)));
                        if t > self.config.time_limit {
                            break;
                        }
                        scheduled.push((t, Err(idx)));
                    }
                }
            }
        }
        self.sched.reactions = reactions;
        // Stable: faults at the same time keep the scenario's order.
        scheduled.sort_by_key(|(t, _)| *t);
        let explicit_heal = scheduled.iter().any(|(_, f)| *f == Ok(Fault::Heal));
        for (t, f) in scheduled {
            match f {
                Ok(f) => self.schedule_fault(t, f, Origin::Schedule),
                Err(idx) => {
                    self.sched.queue.push(t, Ev::Planned(idx));
                }
            }
        }
        if let Some(nemesis) = &mut self.sched.nemesis {
            let until = nemesis.until();
            for kind in nemesis.kinds() {
                let t = nemesis.next_time(kind, Time::ZERO);
                if t < until {
                    self.sched.queue.push(t, Ev::Nemesis(kind));
                }
            }
        }
        if !explicit_heal {
            let heal = self.config.resolved_heal_at();
            self.schedule_fault(heal, Fault::Heal, Origin::Heal);
        }
        self.sched.queue.push(self.config.time_limit, Ev::End);
        self.sched.faults_initial = self.sched.faults.len();
    }

    fn schedule_fault(&mut self, at: Time, fault: Fault, origin: Origin) {
        self.sched.schedule_fault(at, fault, origin);
    }

    /// Runs to the end and reports.
    pub fn run(&mut self) -> RunReport {
        self.run_until(Time::MAX);
        self.report()
    }

    /// Handles every event due at or before `until` (or until the run ends). Returns whether
    /// the run is still going.
    pub fn run_until(&mut self, until: Time) -> bool {
        if let Some(steps) = self.config.steps.take() {
            if self.end.is_none() {
                let end = self.run_script(&steps);
                self.end = Some(end);
            }
            self.config.steps = Some(steps);
            return false;
        }
        while self.end.is_none() {
            let end = match self.sched.queue.peek_time() {
                Some(t) if t <= until => match self.step() {
                    StepEnd::Continue => continue,
                    StepEnd::Over(end) => end,
                },
                Some(_) => return true,
                None => self.finish(),
            };
            self.end = Some(end);
        }
        false
    }

    /// Pops and handles one event.
    fn step(&mut self) -> StepEnd {
        let Some((time, ev)) = self.sched.queue.pop() else {
            return StepEnd::Over(self.finish());
        };
        self.world.advance(time);
        self.sched.now = time;
        let (step, now) = (self.world.step(), self.world.now());
        if step > self.config.events_max {
            return StepEnd::Over(self.fail(self.engine_finding(format!(
                "more than {} events by {now} (a message storm or a livelock); raise limits.events_max if the run is meant to be this long",
                self.config.events_max
            ))));
        }
        if self.sched.queue.len() + self.world.held_total() > self.config.pending_max {
            let what = "the events pending at once (queued, or held by paused nodes)";
            return StepEnd::Over(self.bound_reached(
                "pending_max",
                self.config.pending_max as u64,
                what,
            ));
        }
        if let Ev::FaultsBound = ev {
            let what = "the faults scheduled during the run (nemesis draws and their undos, strikes, reactions)";
            return StepEnd::Over(self.bound_reached("faults_max", self.config.faults_max, what));
        }
        let applied = match self.dispatch(ev) {
            Ok(applied) => applied,
            Err(Stop(stopped)) => {
                return StepEnd::Over(match *stopped {
                    Stopped::Failed(f) => self.fail(f),
                    Stopped::Aborted(reason) => End::Aborted(reason),
                });
            }
        };
        if let Some(end) = self.after_action(applied) {
            return StepEnd::Over(end);
        }
        if matches!(ev, Ev::Deadline | Ev::End) {
            let view = self.world.view(applied.touched);
            let checks = &mut self.sched.checks;
            let verdict = guarded(|| checks.expire(&view).map(Box::new));
            if let Some(f) = self.check_verdict(verdict) {
                return StepEnd::Over(self.fail(f));
            }
        }
        if matches!(ev, Ev::End) {
            return StepEnd::Over(self.finish());
        }
        StepEnd::Continue
    }

    /// Runs the checks after an action that did something, and records the checks that came
    /// true; the end of the run if one failed.
    #[inline]
    fn after_action(&mut self, applied: Applied) -> Option<End> {
        if !applied.handled || self.sched.checks.is_idle() {
            return None;
        }
        let (step, now) = (self.world.step(), self.world.now());
        let view = self.world.view(applied.touched);
        let checks = &mut self.sched.checks;
        let verdict = guarded(|| checks.after_step(&view).map(Box::new));
        if let Some(f) = self.check_verdict(verdict) {
            return Some(self.fail(f));
        }
        for e in self.sched.checks.drain_events() {
            let record = Record::Check {
                check: &e.check,
                kind: e.kind,
                status: &e.status,
            };
            if let Err(e) = self.recorder.record::<P>(step, now, &record) {
                return Some(End::Aborted(e.into_reason()));
            }
        }
        None
    }

    /// A scripted run (`"driver": "script"`): each step named in the scenario, in order, one
    /// millisecond apart, with node clocks frozen and nothing happening on its own, exactly
    /// as the explorer moves a world; then the end-of-run checks.
    fn run_script(&mut self, steps: &[Step]) -> End {
        let mut namer = Namer::new();
        let mut collect = Collect::default();
        for (i, step) in steps.iter().enumerate() {
            let action = match namer.resolve(&self.world, step) {
                Ok(a) => a,
                Err(why) => {
                    return End::Aborted(format!(
                        "step {} of the script ({step}) cannot be taken: {why}",
                        i + 1
                    ));
                }
            };
            let next = Time::from_ms(self.world.step() + 1);
            self.world.advance(next);
            self.sched.now = next;
            collect.out.clear();
            let mut env = Env {
                driver: &mut collect,
                recorder: &mut self.recorder,
            };
            let applied = match self.world.apply(action, &mut env) {
                Ok(applied) => applied,
                Err(Stop(stopped)) => {
                    return match *stopped {
                        Stopped::Failed(f) => self.fail(f),
                        Stopped::Aborted(reason) => End::Aborted(reason),
                    };
                }
            };
            self.world.sweep_stale_timers();
            namer.observe(&self.world);
            if let Some(end) = self.after_action(applied) {
                return end;
            }
        }
        self.finish()
    }

    /// Turns one event into the world's action (or into nothing), applies it, and schedules
    /// its consequences.
    fn dispatch(&mut self, ev: Ev) -> Result<Applied, Stop> {
        let action = match ev {
            Ev::Start(i) => Action::Start(NodeId(i)),
            Ev::ClientStart(i) => Action::StartClient(ClientId(i)),
            Ev::Deliver(slot) => Action::Deliver(slot),
            Ev::Timer(slot) => Action::Fire(slot),
            Ev::ClientTimer(slot) => Action::FireClient(slot),
            Ev::Fault(idx) => {
                let (fault, origin) = self.sched.faults[idx as usize].clone();
                if fault == Fault::Heal {
                    // No new faults after the heal, and the network stops misbehaving before
                    // the restarted nodes send anything.
                    self.sched.nemesis_on = false;
                    self.sched.network.degrade(None);
                }
                Action::Fault(fault, origin)
            }
            Ev::Planned(idx) => match self.planned_fires(idx) {
                Some(action) => action,
                None => return Ok(Applied::nothing()),
            },
            Ev::Nemesis(kind) => match self.nemesis_tick(kind) {
                Some(action) => action,
                None => return Ok(Applied::nothing()),
            },
            Ev::Deadline | Ev::End | Ev::FaultsBound => return Ok(Applied::nothing()),
        };
        self.apply(action)
    }

    #[inline]
    fn apply(&mut self, action: Action<P>) -> Result<Applied, Stop> {
        self.world.apply(
            action,
            &mut Env {
                driver: &mut self.sched,
                recorder: &mut self.recorder,
            },
        )
    }

    /// The nemesis draws its next fault of `kind` (if any) and schedules its next tick and
    /// the fault's undo; returns the fault to apply now.
    fn nemesis_tick(&mut self, kind: NemesisKind) -> Option<Action<P>> {
        if !self.sched.nemesis_on {
            return None;
        }
        let now = self.world.now();
        let (up, off, links_cut) = nemesis_view(self.world.hosts(), self.world.network());
        let world = WorldState {
            up: &up,
            off_limits: &off,
            links_cut,
        };
        let nemesis = self.sched.nemesis.as_mut()?;
        let drawn = nemesis.draw(kind, now, &world);
        let next = nemesis.next_time(kind, now);
        if next < nemesis.until() {
            self.sched.queue.push(next, Ev::Nemesis(kind));
        }
        let (fault, undo) = drawn?;
        self.sched.faults.push((fault.clone(), Origin::Nemesis));
        if let Some((t, undo)) = undo {
            self.schedule_fault(t, undo, Origin::Nemesis);
        }
        self.sched.check_faults_bound(now);
        Some(Action::Fault(fault, Origin::Nemesis))
    }

    /// A shaped scheduled fault fires: its nodes are chosen now (by its aim), the faults
    /// they make are scheduled (the first is returned to apply now, the others follow at the
    /// same time), and so are their undos after its duration. Nothing fires after the heal,
    /// and a crash or pause of a node that is not up does nothing (and brings no undo).
    fn planned_fires(&mut self, idx: u32) -> Option<Action<P>> {
        if self.world.phase() == Phase::Liveness {
            return None;
        }
        let now = self.world.now();
        let hosts = self.world.hosts();
        let p = &self.sched.planned[idx as usize];
        let (written, aim, duration, origin) =
            (p.written.clone(), p.aim.clone(), p.duration, p.origin);
        let chosen: Vec<NodeId> = match &aim {
            None => Vec::new(),
            Some(Aim::Role(value)) => leading_role_holder(hosts, value).into_iter().collect(),
            Some(Aim::Drawn(k)) => {
                let mut up: Vec<NodeId> = hosts
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| h.status == Status::Up && !h.permanently_down)
                    .map(|(i, _)| NodeId(i as u32))
                    .collect();
                let k = (*k as usize).min(up.len());
                // A partial Fisher-Yates shuffle: the first k are the draw, in draw order.
                for i in 0..k {
                    let j = i + self.sched.aim_rng.index(up.len() - i);
                    up.swap(i, j);
                }
                up.truncate(k);
                up
            }
        };
        let faults: Vec<Fault> = match &aim {
            None => vec![written],
            Some(_) => crate::faults::resolve(&written, &chosen),
        };
        let faults: Vec<Fault> = faults
            .into_iter()
            .filter(|f| match f {
                Fault::Crash(n) | Fault::Pause(n) => hosts[n.index()].status == Status::Up,
                _ => true,
            })
            .collect();
        if let Some(d) = duration {
            // Each undo is planned too, so that one due after the heal (which has undone
            // everything already) does not happen.
            let mut undos: Vec<Fault> = Vec::new();
            for u in faults.iter().filter_map(Fault::undo) {
                if !undos.contains(&u) {
                    undos.push(u);
                }
            }
            for u in undos {
                self.sched.planned.push(Planned {
                    written: u,
                    aim: None,
                    duration: None,
                    origin,
                });
                let idx = (self.sched.planned.len() - 1) as u32;
                self.sched.queue.push(now.add(d), Ev::Planned(idx));
            }
        }
        let mut faults = faults.into_iter();
        let first = faults.next()?;
        for f in faults {
            self.schedule_fault(now, f, origin);
        }
        self.sched.faults.push((first.clone(), origin));
        self.sched.check_faults_bound(now);
        Some(Action::Fault(first, origin))
    }

    /// The end of a run that got there normally: the end-of-run checks, then the history
    /// check.
    fn finish(&mut self) -> End {
        let view = self.world.view(None);
        let checks = &mut self.sched.checks;
        let verdict = guarded(|| checks.finish(&view).map(Box::new));
        if let Some(f) = self.check_verdict(verdict) {
            return self.fail(f);
        }
        if !self.config.checks {
            return End::Finished(None);
        }
        self.check_history()
    }

    /// The client history as the protocol's history check reads it (empty when the protocol
    /// names none).
    pub fn history_ops(&self) -> Vec<crate::lin::Op> {
        checked_ops::<P>(self.world.history())
    }

    /// The end-of-run check of the client history, if the protocol names one.
    fn check_history(&mut self) -> End {
        let Some(check) = P::history_check() else {
            return End::Finished(None);
        };
        let ops = self.history_ops();
        if ops.is_empty() {
            return End::Finished(None);
        }
        let (step, now) = (self.world.step(), self.world.now());
        let judged = match check.judge(&ops, self.config.history_budget) {
            Ok(j) => j,
            Err(e) => {
                return self.fail(Finding {
                    check: check.name().to_string(),
                    kind: "engine".to_string(),
                    class: FailureClass::Panic,
                    step,
                    time: now,
                    nodes: vec![],
                    message: format!("the {} history does not fit its model: {e}", P::NAME),
                });
            }
        };
        let status = match &judged.verdict {
            HistoryVerdict::Held => "held",
            HistoryVerdict::Violated(_) => "violated",
            HistoryVerdict::Inconclusive(_) => "inconclusive",
        };
        self.history_check = Some(HistoryReport {
            check: check.name(),
            verdict: status,
            ops: judged.ops,
            ignored: judged.ignored,
            keys: judged.parts,
            steps: judged.steps,
        });
        let inconclusive = match judged.verdict {
            HistoryVerdict::Violated(message) => {
                return self.fail(Finding {
                    check: check.name().to_string(),
                    kind: "history".to_string(),
                    class: FailureClass::Safety,
                    step,
                    time: now,
                    nodes: vec![],
                    message,
                });
            }
            HistoryVerdict::Held => None,
            HistoryVerdict::Inconclusive(reason) => Some(reason),
        };
        let record = Record::Check {
            check: check.name(),
            kind: "history",
            status,
        };
        match self.recorder.record::<P>(step, now, &record) {
            Ok(()) => End::Finished(inconclusive),
            Err(e) => End::Aborted(e.into_reason()),
        }
    }

    /// A check that panicked is a finding too: checks are protocol code. The finding travels
    /// boxed: the common answer, "nothing", then moves one pointer.
    #[inline]
    fn check_verdict(&self, verdict: Result<Option<Box<Finding>>, String>) -> Option<Finding> {
        match verdict {
            Ok(None) => None,
            Ok(Some(f)) => Some(*f),
            Err(message) => Some(Finding {
                check: "check_panic".to_string(),
                kind: "engine".to_string(),
                class: FailureClass::Panic,
                step: self.world.step(),
                time: self.world.now(),
                nodes: vec![],
                message: format!("a {} check panicked: {message}", P::NAME),
            }),
        }
    }

    fn engine_finding(&self, message: String) -> Finding {
        Finding {
            check: "event_budget".to_string(),
            kind: "engine".to_string(),
            class: FailureClass::EventBudget,
            step: self.world.step(),
            time: self.world.now(),
            nodes: vec![],
            message,
        }
    }

    /// The run stops at the memory bound `limits.<limit>`.
    #[cold]
    fn bound_reached(&mut self, limit: &str, value: u64, what: &str) -> End {
        let (step, now) = (self.world.step(), self.world.now());
        self.fail(Finding::memory_bound(limit, value, what, step, now))
    }

    /// The run fails with `f`: its violation is the last record.
    fn fail(&mut self, f: Finding) -> End {
        let record = Record::Violation {
            check: &f.check,
            kind: &f.kind,
            class: f.class.name(),
            nodes: &f.nodes,
            message: &f.message,
        };
        match self
            .recorder
            .record::<P>(self.world.step(), self.world.now(), &record)
        {
            Ok(()) => End::Failed(f),
            Err(e) => End::Aborted(e.into_reason()),
        }
    }

    /// The report so far (complete once the run has ended).
    pub fn report(&self) -> RunReport {
        let now = self.world.now();
        let verdict = match &self.end {
            Some(End::Aborted(reason)) => Verdict::Aborted {
                reason: reason.clone(),
            },
            Some(End::Failed(f)) => Verdict::Fail(f.clone()),
            Some(End::Finished(Some(reason))) => Verdict::Inconclusive {
                reason: reason.clone(),
            },
            Some(End::Finished(None)) if !self.sched.checks.undecided(now).is_empty() => {
                Verdict::Inconclusive {
                    reason: format!(
                        "the run ended before these checks were due: {}; lengthen limits.time_ms",
                        self.sched.checks.undecided(now).join("; ")
                    ),
                }
            }
            _ => Verdict::Pass,
        };
        let failed = match &self.end {
            Some(End::Failed(f)) => Some(f),
            _ => None,
        };
        RunReport {
            protocol: P::NAME,
            seed: self.config.seed,
            verdict,
            steps: self.world.step(),
            time_end: now,
            faults_injected: self.world.faults_applied(),
            checks_evaluated: self.sched.checks.evaluations(),
            checks: self.sched.checks.report(failed, now),
            network: self.world.network().stats(),
            storage: self.world.hosts().iter().map(|h| h.store.stats()).collect(),
            incarnations: self.world.hosts().iter().map(|h| h.incarnation).collect(),
            ops: self.world.history().counts(),
            metrics: self.sched.checks.metrics_at(now),
            recovery: self.sched.checks.recovery(now),
            records: self.recorder.records(),
            fingerprint: self.recorder.fingerprint(),
            history_check: self.history_check.clone(),
        }
    }

    /// The coverage features reached so far, when the configuration asked for them.
    pub fn coverage(&self) -> Option<std::collections::BTreeSet<String>> {
        self.sched.coverage.as_ref().map(Coverage::features)
    }

    /// The delivery order this run follows (what a `swarm` order drew for its seed).
    pub fn order(&self) -> Order {
        self.sched
            .order
            .as_ref()
            .map_or(Order::Random, Orderer::order)
    }

    /// The world as it stands.
    pub fn world(&self) -> &World<P> {
        &self.world
    }
    /// Virtual time now.
    pub fn now(&self) -> Time {
        self.world.now()
    }
    /// A node's protocol state, if it is up or paused.
    pub fn node(&self, n: NodeId) -> Option<&P> {
        self.world.node(n)
    }
    /// A node's status.
    pub fn status(&self, n: NodeId) -> Status {
        self.world.status(n)
    }
    /// A node's store.
    pub fn store(&self, n: NodeId) -> &Store<P::Record> {
        &self.world.hosts()[n.index()].store
    }
    /// A node's local clock reading now.
    pub fn local_time(&self, n: NodeId) -> Time {
        self.world.hosts()[n.index()].clock.local(self.world.now())
    }
    /// The network's link states and counters.
    pub fn network(&self) -> &Network {
        self.world.network()
    }
    /// The client history.
    pub fn history(&self) -> &History<P::Request, P::Response> {
        self.world.history()
    }
    /// Every fault applied or scheduled so far, with its origin, in scheduling order.
    pub fn faults(&self) -> &[(Fault, Origin)] {
        &self.sched.faults
    }
    /// Hands the trace sink back once the run is over.
    pub fn take_sink(&mut self) -> Option<Box<dyn TraceSink>> {
        self.recorder.take_sink()
    }
}

/// What the nemesis may know of the world when it draws: who is up, who is off limits
/// (permanently down), and whether any link is cut.
fn nemesis_view<P: Protocol>(
    hosts: &[std::sync::Arc<NodeHost<P>>],
    network: &Network,
) -> (Vec<bool>, Vec<bool>, bool) {
    let up = hosts.iter().map(|h| h.status == Status::Up).collect();
    let off = hosts.iter().map(|h| h.permanently_down).collect();
    (up, off, network.links_cut() > 0)
}

/// The node that announces the leading role `value` now: among nodes that are not down and
/// whose last annotation of the protocol's role key is `value`, the one with the highest
/// epoch (the vocabulary's epoch key; none counts lowest), then the lowest id.
fn leading_role_holder<P: Protocol>(
    hosts: &[std::sync::Arc<NodeHost<P>>],
    value: &str,
) -> Option<NodeId> {
    let vocabulary = P::vocabulary();
    let role = vocabulary.role.as_deref()?;
    let want = serde_json::Value::String(value.to_string());
    let epoch = |h: &NodeHost<P>| match vocabulary.epoch.as_deref().and_then(|k| h.annotation(k)) {
        Some(Value::Int(e)) => Some(*e),
        _ => None,
    };
    let mut best: Option<(Option<i64>, NodeId)> = None;
    for (i, h) in hosts.iter().enumerate() {
        if h.status == Status::Down || !h.annotation(role).is_some_and(|v| v.matches_json(&want)) {
            continue;
        }
        let e = epoch(h);
        if best.is_none_or(|(b, _)| e > b) {
            best = Some((e, NodeId(i as u32)));
        }
    }
    best.map(|(_, n)| n)
}

/// The discrete-event driver's side of the world: the queue and everything that schedules
/// onto it. It decides each send's fate with the random network and schedules each
/// consequence onto the queue the moment it happens, so the queue's order (and so the run)
/// is what the engine has always produced.
struct Sched<P: Protocol> {
    queue: EventQueue<Ev>,
    network: RandomNetwork,
    /// Every fault scheduled so far, with its origin; `Ev::Fault` indexes it.
    faults: Vec<(Fault, Origin)>,
    /// Scheduled faults waiting for an annotation (`on`); usually none.
    reactions: Vec<Reaction>,
    nemesis: Option<Nemesis>,
    /// The nemesis and its strikes act until the heal.
    nemesis_on: bool,
    checks: Checks<P>,
    /// Entries of `faults` scheduled before the first step (the scenario's and the heal);
    /// those beyond count against `faults_max`.
    faults_initial: usize,
    /// `limits.faults_max`.
    faults_max: u64,
    /// Whether the stop at `faults_max` is queued.
    faults_bound_queued: bool,
    /// Scheduled faults resolved when they fire (`Ev::Planned`); usually none.
    planned: Vec<Planned>,
    /// Faults on one chosen message each, not yet met; usually none (and then no send
    /// names its kind).
    chosen: Vec<Chosen>,
    /// The draws of `{"drawn": k}` aims: a stream of its own, so that no other stream moves.
    aim_rng: Rng,
    /// The delivery-order strategy, when the scenario asks for one other than `random`.
    order: Option<Orderer>,
    /// Time of the event being handled (the strategy bends latencies from it).
    now: Time,
    /// Coverage over the vocabulary, when asked for.
    coverage: Option<Coverage>,
}

impl<P: Protocol> Driver<P> for Sched<P> {
    #[inline]
    fn fate(&mut self, from: u32, to: u32) -> Fate {
        let fate = self.network.fate(from, to);
        match (&mut self.order, fate) {
            (
                Some(o),
                Fate::Arrives {
                    first,
                    duplicate,
                    long_delays,
                },
            ) => Fate::Arrives {
                first: o.bend(self.now, from, to, first),
                duplicate: duplicate.map(|d| o.bend(self.now, from, to, d)),
                long_delays,
            },
            _ => fate,
        }
    }

    #[inline(always)]
    fn take(&mut self, c: Consequence, world: Glimpse<'_, P>) {
        let now = world.now;
        let (at, ev) = match c {
            Consequence::InFlight { slot, after } => (now.add(after), Ev::Deliver(slot)),
            Consequence::Armed { slot, after } => (now.add(after), Ev::Timer(slot)),
            Consequence::ClientArmed { slot, after } => (now.add(after), Ev::ClientTimer(slot)),
            Consequence::Released(Held::Deliver(slot)) => (now, Ev::Deliver(slot)),
            Consequence::Released(Held::Timer(slot)) => (now, Ev::Timer(slot)),
            Consequence::Noted { node, key, value } => {
                if let Some(c) = &mut self.coverage {
                    c.note(node, key, &value, world.phase != Phase::Safety);
                }
                if self.checks.wants_notes() {
                    for d in self.checks.on_note(node, key, &value, now) {
                        self.queue.push(d, Ev::Deadline);
                    }
                }
                // After the heal nothing strikes any more, reactions included.
                if world.phase == Phase::Safety {
                    if !self.reactions.is_empty() {
                        self.react(now, node, key, &value);
                    }
                    if self.nemesis_on {
                        self.strike(&world, node, key, &value);
                    }
                }
                return;
            }
            Consequence::Triggered(trigger) => {
                for d in self.checks.on_trigger(trigger) {
                    self.queue.push(d, Ev::Deadline);
                }
                return;
            }
            Consequence::Healed => {
                for d in self.checks.on_heal(now) {
                    self.queue.push(d, Ev::Deadline);
                }
                return;
            }
            Consequence::Served(node) => {
                self.checks.on_served(node, now);
                return;
            }
        };
        self.queue.push(at, ev);
    }

    #[inline(always)]
    fn watches_sends(&self) -> bool {
        !self.chosen.is_empty()
    }

    #[inline(always)]
    fn wants_serves(&self) -> bool {
        self.checks.wants_serves()
    }

    fn chosen(
        &mut self,
        from: Endpoint,
        to: Endpoint,
        kind: &dyn Fn() -> String,
    ) -> Option<MessageFault> {
        let mut named: Option<String> = None;
        let mut hit = None;
        for c in &mut self.chosen {
            if !c.fault.on_link(from, to) {
                continue;
            }
            if *named.get_or_insert_with(kind) != c.fault.kind {
                continue;
            }
            c.seen += 1;
            if c.seen == c.fault.nth && hit.is_none() {
                hit = Some(c.fault.clone());
            }
        }
        if hit.is_some() {
            self.chosen.retain(|c| c.seen < c.fault.nth);
        }
        hit
    }

    fn wants_notes(&self) -> bool {
        !self.reactions.is_empty()
            || self.nemesis_on
            || self.coverage.is_some()
            || self.checks.wants_notes()
    }
}

impl<P: Protocol> Sched<P> {
    /// Called where faults are scheduled during the run (the nemesis, strikes, reactions):
    /// past `faults_max`, the run stops right after this step. Checked where the list grows,
    /// not on every step.
    fn check_faults_bound(&mut self, now: Time) {
        let during = (self.faults.len() - self.faults_initial) as u64;
        if during > self.faults_max && !self.faults_bound_queued {
            self.faults_bound_queued = true;
            self.queue.push(now, Ev::FaultsBound);
        }
    }

    /// Keeps a shaped entry for `Ev::Planned`; returns its index.
    fn plan(&mut self, f: &ScheduledFault) -> u32 {
        self.planned.push(Planned {
            written: f.fault.clone(),
            aim: f.aim.clone(),
            duration: f.duration_us.map(Time),
            origin: if f.on.is_some() {
                Origin::Reaction
            } else {
                Origin::Schedule
            },
        });
        (self.planned.len() - 1) as u32
    }

    fn schedule_fault(&mut self, at: Time, fault: Fault, origin: Origin) {
        let idx = self.faults.len() as u32;
        self.faults.push((fault, origin));
        self.queue.push(at, Ev::Fault(idx));
    }

    /// Schedules, for right after this step, every waiting fault this annotation fires.
    fn react(&mut self, now: Time, n: NodeId, key: &str, value: &Value) {
        for i in 0..self.reactions.len() {
            let r = &mut self.reactions[i];
            let hit = !r.fired
                && now >= r.from
                && r.on.node.is_none_or(|m| m == n)
                && r.on.note == key
                && r.on.value.as_ref().is_none_or(|v| value.matches_json(v));
            if hit {
                r.fired = true;
                if let Some(idx) = r.planned {
                    // Resolved when it fires, right after this step (a reaction fires once,
                    // so its entry can be aimed at the annotating node for good).
                    if r.on.retarget {
                        let p = &mut self.planned[idx as usize];
                        p.written = p.written.aimed_at(n);
                    }
                    self.queue.push(now, Ev::Planned(idx));
                    continue;
                }
                let fault = if r.on.retarget {
                    r.fault.aimed_at(n)
                } else {
                    r.fault.clone()
                };
                self.schedule_fault(now, fault, Origin::Reaction);
                self.check_faults_bound(now);
            }
        }
    }

    /// Lets the nemesis strike the annotating node (`nemesis.strikes`): at most one strike
    /// per annotation, scheduled for right after this step, with its undo.
    fn strike(&mut self, world: &Glimpse<'_, P>, n: NodeId, key: &str, value: &Value) {
        let now = world.now;
        let Some(nemesis) = self.nemesis.as_mut() else {
            return;
        };
        if nemesis.strikes().is_empty() || now >= nemesis.until() {
            return;
        }
        for i in 0..nemesis.strikes().len() {
            let s = &nemesis.strikes()[i];
            if s.note != key || !s.value.as_ref().is_none_or(|v| value.matches_json(v)) {
                continue;
            }
            if !nemesis.strike_fires(i) {
                continue;
            }
            // Only a strike that fires needs to look at the world.
            let (up, off, links_cut) = nemesis_view(world.hosts, world.network);
            let state = WorldState {
                up: &up,
                off_limits: &off,
                links_cut,
            };
            if let Some((fault, (t, undo))) = nemesis.strike(i, n, now, &state) {
                self.schedule_fault(now, fault, Origin::Strike);
                self.schedule_fault(t, undo, Origin::Nemesis);
                self.check_faults_bound(now);
                return;
            }
        }
    }
}
