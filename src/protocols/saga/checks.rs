//! The saga protocol's checks and metrics, and what they read of a node.
//!
//! Always on: `step_applied_once` (no service's ledger holds a step, or a compensation, twice),
//! `no_compensation_without_step` (no ledger holds a compensation for a step it never
//! applied), `saga_settles` (a saga the orchestrator finished has, over every ledger, every
//! step applied once if it committed, or every applied step compensated if it was
//! compensated; judged when it finishes and again at every later ledger change) and
//! `money_conserved_at_rest` (no balance is ever negative; with the orchestrator up and no
//! saga in flight, and every service up, the balances add up to the initial total). Owed after
//! the heal: `sagas_finish` (the orchestrator is up and no saga has been in flight for more
//! than `in_flight_max` of its clock since it took it up). None is from the check library:
//! the library's `AtMostOnce` counts numbered items per incarnation, while a ledger's steps
//! are named by (saga, step) and must stay unique across restarts.

use super::{Config, Ending, ORCHESTRATOR, Record, SagaId, Sagas};
use crate::protocol::library::touched;
use crate::protocol::{Failure, Metric, MetricDef, Monitor, NodeId, PropertyDef, Trigger, View};
use std::collections::{BTreeMap, BTreeSet};

/// What the checks and metrics read of a node (kept beside them: the mutation routine leaves
/// this file alone, docs/scale.md).
impl Sagas {
    /// Sagas in flight on the orchestrator.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
    /// Ids of the sagas in flight.
    pub fn in_flight_ids(&self) -> impl Iterator<Item = SagaId> + '_ {
        self.in_flight.iter().copied()
    }
    /// The saga in the orchestrator's table.
    pub fn saga(&self, id: SagaId) -> Option<&super::Saga> {
        self.sagas.get(&id)
    }
    /// The orchestrator's clock when it took up its oldest saga in flight.
    pub fn oldest_taken(&self) -> Option<crate::protocol::Time> {
        self.in_flight.iter().map(|id| self.sagas[id].taken).min()
    }
    /// Sagas finished by this incarnation, in order: (id, ending, steps).
    pub fn finished_log(&self) -> &[(SagaId, Ending, u32)] {
        &self.finished
    }
    /// Sagas finished committed and compensated (read back from the log after a restart).
    pub fn counts(&self) -> (u64, u64) {
        (self.committed, self.compensated)
    }
    /// Reads answered by this incarnation, and how many saw a sum other than the initial.
    pub fn reads(&self) -> (u64, u64) {
        (self.reads_answered, self.reads_off)
    }
    /// A service's balances.
    pub fn balances(&self) -> &BTreeMap<u32, i64> {
        &self.balances
    }
    /// What a service knows of a step.
    pub fn entry(&self, saga: SagaId, step: u32) -> super::Entry {
        self.entries.get(&(saga, step)).copied().unwrap_or_default()
    }
    /// A service's counts of redeliveries, tombstones and late steps refused.
    pub fn seen(&self) -> super::Seen {
        self.seen
    }
    /// The parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// A saga id as people read it: the client and its operation's number.
pub fn saga_name(id: SagaId) -> String {
    format!("c{}#{}", (id >> 40) + 1, id & ((1 << 40) - 1))
}

pub(super) fn properties() -> Vec<PropertyDef<Sagas>> {
    vec![
        PropertyDef::monitor(
            "step_applied_once",
            "no service applies a step, or a step's compensation, twice: a redelivered step is answered from its record (idempotency)",
            Ledgers::new(Rule::Once),
        )
        .always(),
        PropertyDef::monitor(
            "no_compensation_without_step",
            "a service applies a compensation only for a step it applied: a compensation that comes first leaves a tombstone, not a credit",
            Ledgers::new(Rule::StepFirst),
        )
        .always(),
        PropertyDef::monitor(
            "saga_settles",
            "every saga the orchestrator finished has, over the services' ledgers, every step applied once (committed) or every applied step compensated (compensated), then and ever after",
            Settles::default(),
        )
        .always(),
        PropertyDef::invariant(
            "money_conserved_at_rest",
            "no balance is negative; and with the orchestrator up with no saga in flight and every service up, the balances add up to the initial total",
            at_rest,
        )
        .always(),
        PropertyDef::invariant(
            "sagas_finish",
            "the orchestrator is up and no saga has been in flight longer than in_flight_max of its clock since it took it up (use as `eventually`)",
            sagas_finish,
        ),
    ]
}

/// Which ledger rule a [`Ledgers`] monitor enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Rule {
    /// No step applied twice, no compensation applied twice.
    Once,
    /// No compensation without its step applied before it.
    StepFirst,
}

/// Reads each service's ledger as it grows (only the new records of the nodes a step touched).
#[derive(Clone, Debug, Hash)]
struct Ledgers {
    rule: Rule,
    /// Per node: records read, and the store's shrink count then.
    read: Vec<(usize, u64)>,
    /// Per node: steps applied, and compensations applied.
    applied: Vec<BTreeSet<(SagaId, u32)>>,
    compensated: Vec<BTreeSet<(SagaId, u32)>>,
}

impl Ledgers {
    fn new(rule: Rule) -> Ledgers {
        Ledgers {
            rule,
            read: Vec::new(),
            applied: Vec::new(),
            compensated: Vec::new(),
        }
    }
}

#[cold]
#[inline(never)]
fn twice(node: NodeId, what: &str, saga: SagaId, step: u32) -> Failure {
    Failure::new(
        format!(
            "{node} applied {what} of step {step} of saga {} twice: a redelivery was applied again",
            saga_name(saga)
        ),
        vec![node, ORCHESTRATOR],
    )
}

#[cold]
#[inline(never)]
fn without_step(node: NodeId, saga: SagaId, step: u32) -> Failure {
    Failure::new(
        format!(
            "{node} applied a compensation for step {step} of saga {}, a step it never applied: money made from nothing",
            saga_name(saga)
        ),
        vec![node, ORCHESTRATOR],
    )
}

/// The records of service `node`'s ledger not read yet: from where, and whether the store
/// lost records since the last reading (then every record is read again, from 0).
fn unread(view: &View<'_, Sagas>, node: NodeId, read: &mut Vec<(usize, u64)>) -> (usize, bool) {
    let i = node.index();
    if read.len() <= i {
        read.resize(i + 1, (0, 0));
    }
    let store = view.store(node);
    let len = store.records().len();
    let (at, shrinks) = read[i];
    read[i] = (len, store.shrinks());
    if shrinks != store.shrinks() || at > len {
        (0, true)
    } else {
        (at, false)
    }
}

impl Monitor<Sagas> for Ledgers {
    fn check(&mut self, view: &View<'_, Sagas>, _: Option<&Trigger>) -> Result<(), Failure> {
        for node in touched(view) {
            if node == ORCHESTRATOR {
                continue;
            }
            let i = node.index();
            if self.applied.len() <= i {
                self.applied.resize(i + 1, BTreeSet::new());
                self.compensated.resize(i + 1, BTreeSet::new());
            }
            let (from, reset) = unread(view, node, &mut self.read);
            if reset {
                self.applied[i].clear();
                self.compensated[i].clear();
            }
            for r in &view.store(node).records()[from..] {
                match *r {
                    Record::Applied { saga, step, .. } => {
                        let fresh = self.applied[i].insert((saga, step));
                        if !fresh && self.rule == Rule::Once {
                            return Err(twice(node, "the forward step", saga, step));
                        }
                    }
                    Record::Compensated { saga, step, .. } => {
                        if self.rule == Rule::StepFirst && !self.applied[i].contains(&(saga, step))
                        {
                            return Err(without_step(node, saga, step));
                        }
                        if !self.compensated[i].insert((saga, step)) && self.rule == Rule::Once {
                            return Err(twice(node, "the compensation", saga, step));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// Judges every finished saga against the ledgers, when it finishes and at every later
/// ledger change that touches it.
#[derive(Clone, Debug, Default, Hash)]
struct Settles {
    /// Per node: records read (services), and the store's shrink count then.
    read: Vec<(usize, u64)>,
    /// Over every ledger, per (saga, step): applications and compensations.
    net: BTreeMap<(SagaId, u32), (u32, u32)>,
    /// Sagas finished, with their ending and number of steps.
    finished: BTreeMap<SagaId, (Ending, u32)>,
    /// The orchestrator's incarnation and how much of its finished log was read.
    orchestrator: (u32, usize),
}

#[cold]
#[inline(never)]
fn unsettled(saga: SagaId, ending: Ending, step: u32, counts: (u32, u32)) -> Failure {
    let how = match ending {
        Ending::Committed => "committed".to_string(),
        Ending::Compensated { failed } => format!("compensated (step {failed} failed)"),
    };
    Failure::new(
        format!(
            "saga {} finished {how}, but its step {step} was applied {} time(s) and compensated {} time(s) over the ledgers",
            saga_name(saga),
            counts.0,
            counts.1
        ),
        vec![ORCHESTRATOR],
    )
}

impl Settles {
    fn judge(&self, saga: SagaId, only: Option<u32>) -> Result<(), Failure> {
        let Some(&(ending, steps)) = self.finished.get(&saga) else {
            return Ok(());
        };
        let range = match only {
            Some(s) => s..s + 1,
            None => 0..steps,
        };
        for step in range {
            let c = self.net.get(&(saga, step)).copied().unwrap_or((0, 0));
            let ok = match ending {
                Ending::Committed => c == (1, 0),
                Ending::Compensated { .. } => c.0 == c.1,
            };
            if !ok {
                return Err(unsettled(saga, ending, step, c));
            }
        }
        Ok(())
    }
}

impl Monitor<Sagas> for Settles {
    fn check(&mut self, view: &View<'_, Sagas>, _: Option<&Trigger>) -> Result<(), Failure> {
        for node in touched(view) {
            if node == ORCHESTRATOR {
                let Some(o) = view.node(node) else { continue };
                let inc = view.incarnation(node);
                if self.orchestrator.0 != inc {
                    self.orchestrator = (inc, 0);
                }
                let log = o.finished_log();
                let from = self.orchestrator.1.min(log.len());
                self.orchestrator.1 = log.len();
                for &(saga, ending, steps) in &log[from..] {
                    self.finished.insert(saga, (ending, steps));
                    self.judge(saga, None)?;
                }
                continue;
            }
            // (A service syncs every record before it answers, so its ledger never loses
            // one; were it to, the counts would be read again over it, too high.)
            let (from, _) = unread(view, node, &mut self.read);
            for r in &view.store(node).records()[from..] {
                let (saga, step, back) = match *r {
                    Record::Applied { saga, step, .. } => (saga, step, false),
                    Record::Compensated { saga, step, .. } => (saga, step, true),
                    _ => continue,
                };
                let c = self.net.entry((saga, step)).or_default();
                if back {
                    c.1 += 1;
                } else {
                    c.0 += 1;
                }
                self.judge(saga, Some(step))?;
            }
        }
        Ok(())
    }
}

#[cold]
#[inline(never)]
fn negative(node: NodeId, account: u32, balance: i64) -> Failure {
    Failure::new(
        format!("{node} holds account {account} at {balance}: a balance went negative"),
        vec![node],
    )
}

#[cold]
#[inline(never)]
fn not_conserved(total: i64, initial: i64) -> Failure {
    Failure::new(
        format!(
            "no saga is in flight and every service is up, but the balances add up to {total}, not {initial}: money was {} at rest",
            if total < initial { "lost" } else { "made" }
        ),
        vec![ORCHESTRATOR],
    )
}

/// No negative balance; at rest, the initial total (see `properties`).
fn at_rest(view: &View<'_, Sagas>, _: Option<&Trigger>) -> Result<(), Failure> {
    for node in touched(view) {
        if node == ORCHESTRATOR {
            continue;
        }
        let Some(s) = view.node(node) else { continue };
        if let Some((&a, &b)) = s.balances().iter().find(|&(_, &b)| b < 0) {
            return Err(negative(node, a, b));
        }
    }
    let Some(o) = view.node(ORCHESTRATOR) else {
        return Ok(());
    };
    if !view.is_up(ORCHESTRATOR) || o.in_flight() > 0 {
        return Ok(());
    }
    let mut total: i64 = 0;
    for node in view.nodes().filter(|&n| n != ORCHESTRATOR) {
        let Some(s) = view.node(node).filter(|_| view.is_up(node)) else {
            return Ok(());
        };
        total = s
            .balances()
            .values()
            .fold(total, |t, &b| t.saturating_add(b));
    }
    let initial = o.config().initial_total();
    if total != initial {
        return Err(not_conserved(total, initial));
    }
    Ok(())
}

/// The orchestrator is up and no saga is late (see `properties`).
fn sagas_finish(view: &View<'_, Sagas>, _: Option<&Trigger>) -> Result<(), Failure> {
    let Some(o) = view.node(ORCHESTRATOR).filter(|_| view.is_up(ORCHESTRATOR)) else {
        return Err(Failure::new(
            "the orchestrator is down: no saga moves",
            vec![ORCHESTRATOR],
        ));
    };
    let Some(oldest) = o.oldest_taken() else {
        return Ok(());
    };
    let age = view.local_time(ORCHESTRATOR).sub(oldest);
    if age > o.config().in_flight_max() {
        return Err(Failure::new(
            format!(
                "{} saga(s) in flight, the oldest for {} ms (in_flight_max is {} ms)",
                o.in_flight(),
                age.as_ms(),
                o.config().in_flight_max().as_ms()
            ),
            vec![ORCHESTRATOR],
        ));
    }
    Ok(())
}

pub(super) fn metrics() -> Vec<MetricDef<Sagas>> {
    vec![MetricDef {
        name: "saga_outcomes",
        description: "sagas committed and compensated, in flight at the end, their duration (first seen in flight on the orchestrator → finished: median and longest, ms), balance reads: answered, and how many saw money in flight (a sum other than the initial total); at the services, redeliveries answered from the record, tombstones left and late steps they refused",
        make: |_| Box::new(SagaMetrics::default()),
    }]
}

/// Outcomes and durations of sagas, and what reads saw.
#[derive(Default)]
struct SagaMetrics {
    first_seen: BTreeMap<SagaId, u64>,
    durations: Vec<u64>,
    committed: u64,
    compensated: u64,
    in_flight: u64,
    /// The orchestrator's incarnation, how much of its finished log was read, and its read
    /// counters then.
    at: (u32, usize, u64, u64),
    reads: u64,
    reads_off: u64,
    /// Per service: its incarnation and its counts then; and the sums.
    services: Vec<(u32, super::Seen)>,
    seen: super::Seen,
}

impl Metric<Sagas> for SagaMetrics {
    fn observe(&mut self, view: &View<'_, Sagas>) {
        for node in touched(view).filter(|&n| n != ORCHESTRATOR) {
            let Some(s) = view.node(node) else { continue };
            let i = node.index();
            if self.services.len() <= i {
                self.services.resize(i + 1, (0, super::Seen::default()));
            }
            let inc = view.incarnation(node);
            if self.services[i].0 != inc {
                self.services[i] = (inc, super::Seen::default());
            }
            let (now, was) = (s.seen(), self.services[i].1);
            self.seen.redelivered += now.redelivered.saturating_sub(was.redelivered);
            self.seen.tombstones += now.tombstones.saturating_sub(was.tombstones);
            self.seen.late_refused += now.late_refused.saturating_sub(was.late_refused);
            self.services[i].1 = now;
        }
        if !touched(view).any(|n| n == ORCHESTRATOR) {
            return;
        }
        let Some(o) = view.node(ORCHESTRATOR) else {
            return;
        };
        let now = view.time.as_ms();
        for id in o.in_flight_ids() {
            self.first_seen.entry(id).or_insert(now);
        }
        self.in_flight = o.in_flight() as u64;
        let inc = view.incarnation(ORCHESTRATOR);
        if self.at.0 != inc {
            self.at = (inc, 0, 0, 0);
        }
        let log = o.finished_log();
        for &(id, ending, _) in &log[self.at.1.min(log.len())..] {
            match ending {
                Ending::Committed => self.committed += 1,
                Ending::Compensated { .. } => self.compensated += 1,
            }
            if let Some(t) = self.first_seen.remove(&id) {
                self.durations.push(now.saturating_sub(t));
            }
        }
        let (answered, off) = o.reads();
        self.reads += answered.saturating_sub(self.at.2);
        self.reads_off += off.saturating_sub(self.at.3);
        self.at = (inc, log.len(), answered, off);
    }

    fn report(&self) -> Vec<(String, serde_json::Value)> {
        let mut d = self.durations.clone();
        d.sort_unstable();
        let (median, max) = if d.is_empty() {
            (serde_json::Value::Null, serde_json::Value::Null)
        } else {
            (d[d.len() / 2].into(), d[d.len() - 1].into())
        };
        vec![
            ("saga.committed".into(), self.committed.into()),
            ("saga.compensated".into(), self.compensated.into()),
            ("saga.in_flight_at_end".into(), self.in_flight.into()),
            ("saga.duration_ms_median".into(), median),
            ("saga.duration_ms_max".into(), max),
            ("saga.reads".into(), self.reads.into()),
            (
                "saga.reads_saw_money_in_flight".into(),
                self.reads_off.into(),
            ),
            (
                "saga.redeliveries_answered".into(),
                self.seen.redelivered.into(),
            ),
            ("saga.tombstones".into(), self.seen.tombstones.into()),
            (
                "saga.late_steps_refused".into(),
                self.seen.late_refused.into(),
            ),
        ]
    }
}
