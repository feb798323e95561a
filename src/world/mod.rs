//! The world: everything a run's state is, and every way it can change.
//!
//! A [`World`] holds the nodes (protocol instance, store, clock, status, incarnation, armed
//! timers, held events, annotations), the clients (their logic and armed timers), the
//! messages in flight, the link states, the client history, virtual time and the phase. It
//! changes only through [`World::apply`]: one [`Action`] (deliver this copy, lose it,
//! duplicate it, fire this timer, a client's start or timer, a fault) is applied, the
//! handlers it calls run, and their effects are applied in the order they were issued. What
//! happened comes back to the caller, never through a field read later:
//! - every trace record goes to the [`Recorder`](crate::trace::Recorder) the caller passes
//!   in [`Env`];
//! - what a driver must schedule or react to (a copy now in flight and when it arrives, a
//!   timer armed and when it fires, a held event released, an annotation, a trigger for the
//!   checks, the heal) is handed, in order, to the [`Driver`] in [`Env`] as a
//!   [`Consequence`];
//! - the one node or client the action changed comes back in [`Applied`];
//! - a protocol failure (a handler panicked, sent to a node that does not exist, ...) or a
//!   trace sink that refused a record stops the action and comes back as a [`Stop`].
//!
//! Drivers sit on top. The discrete-event [`crate::sim::Simulation`] pops its time-ordered
//! queue and turns each event into an action; it decides each message's loss, duplication
//! and latency at send ([`Driver::fate`], answered by the seeded
//! [`RandomNetwork`](crate::network::RandomNetwork)), exactly as the engine always has. The
//! scripted driver ([`crate::script`]) applies the actions a test names, through [`Collect`].
//! The exhaustive explorer (a later issue) will clone a world, list its [`World::enabled`]
//! actions, and apply each to its own copy with a driver that, like [`Collect`], delivers
//! every copy at once and loses nothing, choosing loss and duplication as actions instead.
//!
//! Must not know about queues, wall time, files or printing; never draws network randomness
//! itself (the driver does).

mod action;
mod armed;
mod disk;
mod fault;
mod fingerprint;
mod flight;
mod guard;
mod handle;
mod host;
mod slab;
mod steps;

pub use action::{
    Action, Applied, ClientTimerSlot, ClockInit, Collect, Consequence, Driver, Env, Glimpse,
    MsgSlot, Stop, Stopped, TimerSlot,
};
pub use fingerprint::{LinkOrder, Scratch};
pub use flight::{InFlight, TimerEntry};
pub use guard::{guarded, install_panic_capture};
pub use host::{ClientHost, Clock, DRIFT_PPM_MAX, DRIFT_PPM_MIN, Held, NodeHost};
pub use slab::Slab;
pub use steps::{MsgRef, Namer, Step, TimerRef, kind_of};

use action::Flow;
use flight::ClientTimerEntry;

use crate::base::rng::{Rng, Stream};
use crate::base::types::{ClientId, Endpoint, NodeId, Time};
use crate::check::{FailureClass, Finding, Phase, Status, View};
use crate::history::History;
use crate::network::{LossReason, Network};
use crate::protocol::{
    ClientEffect, ClientLogic, Effect, HAPPENS_BEFORE, Protocol, Serves, WorkloadConfig,
};
use crate::trace::{Payload, Record};
use std::sync::Arc;

/// Default of `limits.history_max`: client operations one run may invoke.
pub const HISTORY_MAX_DEFAULT: u64 = 1_000_000;
/// Default of `limits.records_max`: records in one node's store plus its writes not yet
/// synced.
pub const RECORDS_MAX_DEFAULT: u64 = 100_000;

/// The world's memory bounds: what grows with a run and is kept in the world. Reaching one
/// stops the action with a finding of class
/// [`MemoryBound`](crate::check::FailureClass::MemoryBound). Each check is one compare where
/// the structure grows (an invocation, a node handler's return).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Client operations in the history (`limits.history_max`).
    pub history_max: u64,
    /// Records in one node's store plus its unsynced writes (`limits.records_max`).
    pub records_max: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            history_max: HISTORY_MAX_DEFAULT,
            records_max: RECORDS_MAX_DEFAULT,
        }
    }
}

/// The state of one run of protocol `P`, and its transitions.
pub struct World<P: Protocol> {
    nodes: u32,
    config: Arc<P::Config>,
    /// Per-node parameters where a scenario gives some (`protocol.params_by_node`); empty
    /// when every node runs with `config`.
    node_configs: Vec<Option<Arc<P::Config>>>,
    /// Shared between copies of a world until an action changes one (then it is copied):
    /// the explorer copies worlds at every step, and most actions change one node.
    hosts: Vec<Arc<NodeHost<P>>>,
    clients: Vec<Arc<ClientHost<P>>>,
    network: Network,
    msgs: Slab<InFlight<P>>,
    timers: Slab<TimerEntry<P>>,
    client_timers: Slab<ClientTimerEntry>,
    history: History<P::Request, P::Response>,
    now: Time,
    step: u64,
    next_msg_id: u64,
    phase: Phase,
    healed_at: Option<Time>,
    faults_applied: u64,
    bounds: Bounds,
    /// Events held by paused nodes, all nodes together.
    held_total: usize,
    /// Node clocks read as at time zero whatever the true time (the explorer's time).
    clocks_frozen: bool,
    /// What counts as a node serving (the protocol's vocabulary), watched for the recovery
    /// metrics when the driver asks.
    serving: Arc<Serving>,
    /// Scratch space reused by every handler call (no allocation per step).
    effects: Vec<Effect<P>>,
    client_effects: Vec<ClientEffect<P>>,
    /// The fault atlas and its random stream, when the scenario declares an atlas.
    disk: Option<Box<disk::DiskWorld>>,
}

/// What counts as a node serving, as the world watches for it.
#[derive(Debug, Default)]
pub(crate) struct Serving {
    /// Replies that `Protocol::serves` counts.
    pub(crate) reply: bool,
    /// Growth of this annotation.
    pub(crate) progress: Option<String>,
    /// `Ctx::serving`.
    pub(crate) signal: bool,
}

impl Serving {
    fn of(declared: &[Serves]) -> Serving {
        let mut s = Serving::default();
        for d in declared {
            match d {
                Serves::Reply => s.reply = true,
                Serves::Progress(key) => s.progress = Some(key.clone()),
                Serves::Signal => s.signal = true,
            }
        }
        s
    }
}

/// A world is `Clone` when the protocol's state and its clients are: a driver may explore
/// actions from copies of one world.
impl<P: Protocol + Clone> Clone for World<P>
where
    P::Client: Clone,
{
    fn clone(&self) -> Self {
        World {
            nodes: self.nodes,
            config: self.config.clone(),
            node_configs: self.node_configs.clone(),
            hosts: self.hosts.clone(),
            clients: self.clients.clone(),
            network: self.network.clone(),
            msgs: self.msgs.clone(),
            timers: self.timers.clone(),
            client_timers: self.client_timers.clone(),
            history: self.history.clone(),
            now: self.now,
            step: self.step,
            next_msg_id: self.next_msg_id,
            phase: self.phase,
            healed_at: self.healed_at,
            faults_applied: self.faults_applied,
            bounds: self.bounds,
            held_total: self.held_total,
            clocks_frozen: self.clocks_frozen,
            serving: self.serving.clone(),
            effects: Vec::new(),
            client_effects: Vec::new(),
            disk: self.disk.clone(),
        }
    }
}

impl<P: Protocol> World<P> {
    /// Node `n` runs with `config` instead of the cluster's parameters, at every boot
    /// (`protocol.params_by_node`). Checks and clients keep the cluster's.
    pub fn set_node_config(&mut self, n: NodeId, config: P::Config) {
        if self.node_configs.len() != self.nodes as usize {
            self.node_configs = vec![None; self.nodes as usize];
        }
        if let Some(slot) = self.node_configs.get_mut(n.index()) {
            *slot = Some(Arc::new(config));
        }
    }

    /// A world of `nodes` nodes (none started yet) and the workload's clients, with every
    /// random stream derived from `seed`. `permanently_down` nodes never start.
    pub fn new(
        seed: u64,
        nodes: u32,
        config: &P::Config,
        workload: &WorkloadConfig,
        clocks: &[ClockInit],
        permanently_down: &[NodeId],
    ) -> World<P> {
        let hosts = (0..nodes)
            .map(|i| {
                let clock = clocks
                    .iter()
                    .rev()
                    .find(|c| c.node.0 == i)
                    .map(|c| Clock::new(c.offset_ms.saturating_mul(1_000), c.drift_ppm))
                    .unwrap_or_else(|| Clock::new(0, 0));
                let down = permanently_down.contains(&NodeId(i));
                Arc::new(NodeHost::new(Rng::new(seed, Stream::Node(i)), clock, down))
            })
            .collect();
        let clients = (0..workload.clients)
            .map(|i| {
                Arc::new(ClientHost::new(
                    P::Client::new(ClientId(i), nodes, workload, config),
                    Rng::new(seed, Stream::Client(i)),
                    u64::from(i),
                ))
            })
            .collect();
        World {
            nodes,
            config: Arc::new(config.clone()),
            node_configs: Vec::new(),
            hosts,
            clients,
            network: Network::new(nodes, workload.clients),
            msgs: Slab::new(),
            timers: Slab::new(),
            client_timers: Slab::new(),
            history: History::new(workload.clients),
            now: Time::ZERO,
            step: 0,
            next_msg_id: 0,
            phase: Phase::Safety,
            healed_at: None,
            faults_applied: 0,
            bounds: Bounds::default(),
            held_total: 0,
            clocks_frozen: false,
            serving: Arc::new(Serving::of(&P::vocabulary().serving())),
            effects: Vec::new(),
            client_effects: Vec::new(),
            disk: None,
        }
    }

    /// Stops every node's clock: from now on a node reads its clock as it read at time zero
    /// (its offset), however far true time moves, and timers fire only when a driver fires
    /// them. The explorer's time (docs/explore.md): true time still moves with the steps,
    /// for the trace and the client history, but no node can observe it.
    pub fn freeze_clocks(&mut self) {
        self.clocks_frozen = true;
    }

    /// The true time node clocks are read at: now, or time zero once frozen.
    #[inline(always)]
    pub(super) fn clock_time(&self) -> Time {
        if self.clocks_frozen {
            Time::ZERO
        } else {
            self.now
        }
    }

    /// Forgets the timer entries no firing can use any more (re-armed, cancelled, or armed
    /// by an earlier incarnation). A timed driver lets their queued events come and go; a
    /// driver without a queue calls this after each action so its copies stay small.
    pub fn sweep_stale_timers(&mut self) {
        let hosts = &self.hosts;
        self.timers.retain(|t| {
            let host = &hosts[t.node as usize];
            host.status != Status::Down
                && host.incarnation == t.incarnation
                && host.timers.get(&t.timer) == Some(&t.generation)
        });
        let clients = &self.clients;
        self.client_timers
            .retain(|t| clients[t.client as usize].timers.get(&t.timer) == Some(&t.generation));
    }

    /// Sets the memory bounds (the defaults until then).
    pub fn set_bounds(&mut self, bounds: Bounds) {
        self.bounds = bounds;
    }

    // ---- reading the world -----------------------------------------------------------

    /// The memory bounds in force.
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }
    /// Events held by paused nodes now, all nodes together (a driver counts them with its
    /// own pending events).
    pub fn held_total(&self) -> usize {
        self.held_total
    }

    /// Cluster size.
    pub fn nodes(&self) -> u32 {
        self.nodes
    }
    /// Number of clients.
    pub fn clients(&self) -> u32 {
        self.clients.len() as u32
    }
    /// Virtual time now.
    pub fn now(&self) -> Time {
        self.now
    }
    /// Steps taken (one per [`World::advance`]).
    pub fn step(&self) -> u64 {
        self.step
    }
    /// The run's phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }
    /// When the heal happened, once it has.
    pub fn healed_at(&self) -> Option<Time> {
        self.healed_at
    }
    /// Faults applied so far (those ignored as impossible included).
    pub fn faults_applied(&self) -> u64 {
        self.faults_applied
    }
    /// The hosts of every node, in id order.
    pub fn hosts(&self) -> &[Arc<NodeHost<P>>] {
        &self.hosts
    }
    /// A node's protocol state, if it is up or paused.
    pub fn node(&self, n: NodeId) -> Option<&P> {
        self.hosts.get(n.index()).and_then(|h| h.proto.as_ref())
    }
    /// A node's status.
    pub fn status(&self, n: NodeId) -> Status {
        self.hosts[n.index()].status
    }
    /// The link states and message counters.
    pub fn network(&self) -> &Network {
        &self.network
    }
    /// The client history.
    pub fn history(&self) -> &History<P::Request, P::Response> {
        &self.history
    }
    /// Every copy in flight (held ones included), in slot order.
    pub fn in_flight(&self) -> impl Iterator<Item = (MsgSlot, &InFlight<P>)> {
        self.msgs.iter().map(|(i, m)| (MsgSlot(i), m))
    }
    /// One copy in flight.
    pub fn message(&self, slot: MsgSlot) -> Option<&InFlight<P>> {
        self.msgs.get(slot.0)
    }
    /// One armed timer entry (live or stale).
    pub fn timer_entry(&self, slot: TimerSlot) -> Option<&TimerEntry<P>> {
        self.timers.get(slot.0)
    }
    /// Every node timer that would fire if its event came now: armed in the node's current
    /// incarnation and not re-armed or cancelled since, in slot order.
    pub fn armed(&self) -> impl Iterator<Item = (TimerSlot, &TimerEntry<P>)> {
        self.timers
            .iter()
            .filter(|(_, t)| self.timer_live(t))
            .map(|(i, t)| (TimerSlot(i), t))
    }
    /// Every live client timer: (slot, client, timer number), in slot order.
    pub fn client_timers(&self) -> impl Iterator<Item = (ClientTimerSlot, ClientId, u64)> + '_ {
        self.client_timers
            .iter()
            .filter(|(_, t)| {
                self.clients[t.client as usize].timers.get(&t.timer) == Some(&t.generation)
            })
            .map(|(i, t)| (ClientTimerSlot(i), ClientId(t.client), t.timer))
    }

    /// The actions a driver may choose now: start what has not started, deliver or lose or
    /// duplicate any copy in flight that has not arrived, fire any live timer. Faults are
    /// the driver's to choose within its budgets, so they are not listed.
    pub fn enabled(&self) -> Vec<Action<P>> {
        let mut out = Vec::new();
        for (i, h) in self.hosts.iter().enumerate() {
            if !h.booted && !h.permanently_down {
                out.push(Action::Start(NodeId(i as u32)));
            }
        }
        for (slot, m) in self.in_flight() {
            if !m.arrived {
                out.push(Action::Deliver(slot));
                out.push(Action::Drop(slot));
                out.push(Action::Duplicate(slot));
            }
        }
        for (slot, t) in self.armed() {
            if self.hosts[t.node as usize].status == Status::Up {
                out.push(Action::Fire(slot));
            }
        }
        for (slot, _, _) in self.client_timers() {
            out.push(Action::FireClient(slot));
        }
        out
    }

    /// A read-only view for the checks, with what the last action touched.
    pub fn view(&self, touched: Option<Endpoint>) -> View<'_, P> {
        View {
            hosts: &self.hosts,
            network: &self.network,
            history: &self.history,
            time: self.now,
            step: self.step,
            phase: self.phase,
            healed_at: self.healed_at,
            touched,
        }
    }

    pub(super) fn glimpse(&self) -> Glimpse<'_, P> {
        Glimpse {
            hosts: &self.hosts,
            network: &self.network,
            phase: self.phase,
            now: self.now,
        }
    }

    #[inline(always)]
    pub(super) fn tell<D: Driver<P>>(&self, env: &mut Env<'_, D>, c: Consequence) {
        env.driver.take(c, self.glimpse());
    }

    pub(super) fn timer_live(&self, t: &TimerEntry<P>) -> bool {
        let host = &self.hosts[t.node as usize];
        host.status != Status::Down
            && host.incarnation == t.incarnation
            && host.timers.get(&t.timer) == Some(&t.generation)
    }

    // ---- changing the world ----------------------------------------------------------

    /// Starts the next step at true time `to` (never earlier than now).
    pub fn advance(&mut self, to: Time) {
        debug_assert!(to >= self.now, "virtual time went backwards");
        self.now = to;
        self.step += 1;
    }

    /// Applies one action at the current time and step.
    #[inline]
    pub fn apply<D: Driver<P>>(
        &mut self,
        action: Action<P>,
        env: &mut Env<'_, D>,
    ) -> Flow<Applied> {
        match action {
            Action::Start(n) => {
                self.boot(n, env)?;
                Ok(Applied::at(Endpoint::Node(n)))
            }
            Action::StartClient(c) => {
                self.call_client(c.0, env, |cl, ctx| cl.on_start(ctx))?;
                Ok(Applied::at(Endpoint::Client(c)))
            }
            Action::Deliver(slot) => self.deliver(slot, env),
            Action::Drop(slot) => {
                let Some(m) = self.msgs.remove(slot.0) else {
                    return Ok(Applied::nothing());
                };
                self.lose(&m, LossReason::Loss, env)?;
                Ok(Applied::at(m.to))
            }
            Action::Duplicate(slot) => {
                let Some(m) = self.msgs.get(slot.0) else {
                    return Ok(Applied::nothing());
                };
                let twin = m.clone();
                let to = twin.to;
                let slot = MsgSlot(self.msgs.insert(twin));
                self.network.count_duplicated();
                self.tell(
                    env,
                    Consequence::InFlight {
                        slot,
                        after: Time::ZERO,
                    },
                );
                Ok(Applied::at(to))
            }
            Action::Fire(slot) => self.fire_timer(slot, env),
            Action::FireClient(slot) => self.fire_client_timer(slot, env),
            Action::Fault(fault, origin) => self.apply_fault(&fault, origin, env),
            Action::Request {
                client,
                to,
                id,
                request,
            } => {
                if client.0 >= self.clients() || to.0 >= self.nodes {
                    return Err(self.failed(
                        "protocol_error",
                        vec![],
                        format!("a request from {client} to {to}: no such client or node"),
                    ));
                }
                let from = Endpoint::Client(client);
                let body = Payload::Request { id, body: request };
                self.send(from, Endpoint::Node(to), body, env)?;
                Ok(Applied::at(from))
            }
        }
    }

    #[inline(always)]
    pub(super) fn record<D: Driver<P>>(
        &self,
        env: &mut Env<'_, D>,
        record: &Record<'_, P>,
    ) -> Flow {
        env.recorder
            .record::<P>(self.step, self.now, record)
            .map_err(|e| Stop(Box::new(Stopped::Aborted(e.into_reason()))))
    }

    /// Writes a display record (a timer set or cancelled) when a trace is written.
    pub(super) fn display<D: Driver<P>>(
        &self,
        env: &mut Env<'_, D>,
        record: &Record<'_, P>,
    ) -> Flow {
        env.recorder
            .display::<P>(self.step, self.now, record)
            .map_err(|e| Stop(Box::new(Stopped::Aborted(e.into_reason()))))
    }

    /// The stop of a run that reached the memory bound `limits.<limit>`.
    #[cold]
    pub(super) fn bound_reached(&self, limit: &str, value: u64, what: &str) -> Stop {
        let f = Finding::memory_bound(limit, value, what, self.step, self.now);
        Stop(Box::new(Stopped::Failed(f)))
    }

    /// Whether node `n`'s logical clocks disagree with the truth.
    #[cold]
    pub(super) fn clock_failed(&self, n: NodeId) -> bool {
        self.hosts[n.index()]
            .clocks
            .as_deref()
            .is_some_and(|c| c.failure().is_some())
    }

    /// The stop of a run whose protocol's logical clocks disagree with happens-before.
    #[cold]
    pub(super) fn clock_failure(&self, n: NodeId, message: String) -> Stop {
        Stop(Box::new(Stopped::Failed(Finding {
            check: HAPPENS_BEFORE.to_string(),
            kind: "always".to_string(),
            class: FailureClass::Safety,
            step: self.step,
            time: self.now,
            nodes: vec![n],
            message,
        })))
    }

    pub(super) fn failed(&self, check: &str, nodes: Vec<NodeId>, message: String) -> Stop {
        Stop(Box::new(Stopped::Failed(Finding {
            check: check.to_string(),
            kind: "engine".to_string(),
            class: FailureClass::Panic,
            step: self.step,
            time: self.now,
            nodes,
            message,
        })))
    }
}
