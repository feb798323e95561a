//! The world: everything a run's state is, and every way it can change.
//!
//! A [`World`] holds the nodes (protocol instance, store, clock, status, incarnation, armed
//! timers, held events, annotations), the clients (their logic and armed timers), the
//! messages in flight, the link states, the client history, virtual time and the phase. It
//! changes only through [`World::apply`]: one [`Action`] (deliver this copy, lose it,
//! duplicate it, fire this timer, a client's start or timer, a fault) is applied, the
//! handlers it calls run, and their effects are applied in the order they were issued. What
//! happened comes back to the caller, never through a field read later:
//! - every trace record goes to the [`Recorder`] the caller passes in [`Env`];
//! - what a driver must schedule or react to (a copy now in flight and when it arrives, a
//!   timer armed and when it fires, a held event released, an annotation, a trigger for the
//!   checks, the heal) is pushed, in order, onto [`Env::out`];
//! - the one node or client the action changed comes back in [`Applied`];
//! - a protocol failure (a handler panicked, sent to a node that does not exist, ...) or a
//!   trace sink that refused a record stops the action and comes back as a [`Stop`].
//!
//! Drivers sit on top. The discrete-event [`crate::sim::Simulation`] pops its time-ordered
//! queue and turns each event into an action; it decides each message's loss, duplication
//! and latency at send through its [`Transport`] (the seeded random network), exactly as the
//! engine always has. The scripted driver ([`crate::sim::script`]) applies the actions a test
//! names. The exhaustive explorer (a later issue) will clone a world, list its
//! [`World::enabled`] actions, and apply each to its own copy with a transport that delivers
//! every copy at once and loses nothing, choosing loss and duplication as actions instead.
//!
//! Must not know about queues, wall time, files or printing; never draws network randomness
//! itself (the transport does).

mod guard;
mod host;
mod slab;

pub use guard::{guarded, install_panic_capture};
pub use host::{ClientHost, Clock, DRIFT_PPM_MAX, DRIFT_PPM_MIN, Held, NodeHost};
pub use slab::Slab;

use crate::base::rng::{Rng, Stream};
use crate::base::types::{ClientId, Endpoint, NodeId, Time};
use crate::check::{FailureClass, Finding, Phase, Status, Trigger, TriggerKind, View};
use crate::faults::Fault;
use crate::history::History;
use crate::network::{Fate, LossReason, Network};
use crate::protocol::{
    ClientCtx, ClientEffect, ClientLogic, Ctx, Effect, Protocol, RequestId, Value, WorkloadConfig,
};
use crate::trace::{Origin, Payload, Record, Recorder};
use std::sync::Arc;

/// A copy of a message in flight, by its place in the world's slab of messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgSlot(pub u32);

/// An armed node timer, by its place in the world's slab of timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerSlot(pub u32);

/// An armed client timer, by its place in the world's slab of client timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientTimerSlot(pub u32);

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

/// One way the world can change.
pub enum Action<P: Protocol> {
    /// A node's first boot.
    Start(NodeId),
    /// A client's start.
    StartClient(ClientId),
    /// A copy in flight arrives: handled, held (receiver paused) or lost (receiver down, or
    /// the link cut when it arrives).
    Deliver(MsgSlot),
    /// A copy in flight is lost by the network (for drivers that choose loss).
    Drop(MsgSlot),
    /// A copy in flight gets a twin (for drivers that choose duplication).
    Duplicate(MsgSlot),
    /// An armed node timer fires (a stale one does nothing; a paused node holds it).
    Fire(TimerSlot),
    /// An armed client timer fires.
    FireClient(ClientTimerSlot),
    /// A fault, with who caused it.
    Fault(Fault, Origin),
    /// A client sends a request to a node, outside its own logic: for drivers that choose
    /// client operations themselves (a scripted test, the explorer's bounded operations).
    Request {
        /// The client it comes from.
        client: ClientId,
        /// The node it goes to.
        to: NodeId,
        /// Its id.
        id: RequestId,
        /// What it asks.
        request: P::Request,
    },
}

impl<P: Protocol> Clone for Action<P> {
    fn clone(&self) -> Self {
        match self {
            Action::Start(n) => Action::Start(*n),
            Action::StartClient(c) => Action::StartClient(*c),
            Action::Deliver(s) => Action::Deliver(*s),
            Action::Drop(s) => Action::Drop(*s),
            Action::Duplicate(s) => Action::Duplicate(*s),
            Action::Fire(s) => Action::Fire(*s),
            Action::FireClient(s) => Action::FireClient(*s),
            Action::Fault(f, o) => Action::Fault(f.clone(), *o),
            Action::Request {
                client,
                to,
                id,
                request,
            } => Action::Request {
                client: *client,
                to: *to,
                id: *id,
                request: request.clone(),
            },
        }
    }
}

impl<P: Protocol> std::fmt::Debug for Action<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Start(n) => write!(f, "Start({n})"),
            Action::StartClient(c) => write!(f, "StartClient({c})"),
            Action::Deliver(s) => write!(f, "Deliver({})", s.0),
            Action::Drop(s) => write!(f, "Drop({})", s.0),
            Action::Duplicate(s) => write!(f, "Duplicate({})", s.0),
            Action::Fire(s) => write!(f, "Fire({})", s.0),
            Action::FireClient(s) => write!(f, "FireClient({})", s.0),
            Action::Fault(fault, o) => write!(f, "Fault({fault:?}, {o:?})"),
            Action::Request {
                client,
                to,
                id,
                request,
            } => write!(f, "Request({client} -> {to}, {}, {request:?})", id.0),
        }
    }
}

/// What a driver must schedule or react to after an action, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consequence {
    /// A copy is in flight and arrives after `after` (as the transport decided at send).
    InFlight {
        /// The copy.
        slot: MsgSlot,
        /// Its latency.
        after: Time,
    },
    /// A node timer was armed; it fires after `after` of true time.
    Armed {
        /// The timer.
        slot: TimerSlot,
        /// True time until it fires.
        after: Time,
    },
    /// A client timer was armed; it fires after `after`.
    ClientArmed {
        /// The timer.
        slot: ClientTimerSlot,
        /// Time until it fires.
        after: Time,
    },
    /// A resumed node's held event is due now.
    Released(Held),
    /// A node annotated a state change (only when the driver asked,
    /// [`Driver::wants_notes`]).
    Noted {
        /// The node.
        node: NodeId,
        /// What changed.
        key: &'static str,
        /// Its new value.
        value: Value,
    },
    /// Something "within" checks may be waiting for happened.
    Triggered(Trigger),
    /// The heal happened: the liveness phase starts now (eventually-checks begin).
    Healed,
}

/// The driver's side of an action: what the world asks of whoever moves it. The world
/// calls it synchronously, in the order things happen, so a driver can schedule each
/// consequence exactly where today's order puts it.
pub trait Driver<P: Protocol> {
    /// The fate of one message from dense vertex `from` to dense vertex `to`, decided at
    /// send: lost, or arriving once or twice after latencies the driver chooses. A driver
    /// that chooses loss and duplication as actions answers [`Fate::once`].
    fn fate(&mut self, from: u32, to: u32) -> Fate;
    /// Takes one consequence of the action, as it happens, with a glimpse of the world.
    fn take(&mut self, c: Consequence, world: Glimpse<'_, P>);
    /// Whether to report annotations ([`Consequence::Noted`]); a driver that does not react
    /// to them saves the copies.
    fn wants_notes(&self) -> bool {
        false
    }
}

/// What a driver may read of the world while it takes a consequence.
pub struct Glimpse<'a, P: Protocol> {
    /// Every node's host.
    pub hosts: &'a [NodeHost<P>],
    /// The link states.
    pub network: &'a Network,
    /// The phase.
    pub phase: Phase,
    /// Virtual time now.
    pub now: Time,
}

/// What an action needs: the driver, and the recorder every trace record goes to.
pub struct Env<'a, D> {
    /// The driver.
    pub driver: &'a mut D,
    /// Takes every trace record.
    pub recorder: &'a mut Recorder,
}

/// A driver that loses nothing, delivers every copy at once, and collects the consequences
/// in order: for drivers that choose every action themselves (the scripted driver, and the
/// explorer to come). Annotations are collected too.
#[derive(Debug, Default)]
pub struct Collect {
    /// The consequences, in order.
    pub out: Vec<Consequence>,
}

impl<P: Protocol> Driver<P> for Collect {
    fn fate(&mut self, _: u32, _: u32) -> Fate {
        Fate::once(Time::ZERO)
    }
    fn take(&mut self, c: Consequence, _: Glimpse<'_, P>) {
        self.out.push(c);
    }
    fn wants_notes(&self) -> bool {
        true
    }
}

/// What an applied action changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Whether anything happened (a stale timer or a held one does nothing: checks need not
    /// look).
    pub handled: bool,
    /// The one node or client the action changed, so a check may look only there; `None`
    /// when it may have changed several (a heal, a partition).
    pub touched: Option<Endpoint>,
}

impl Applied {
    /// The action changed `touched`.
    pub fn at(touched: Endpoint) -> Applied {
        Applied {
            handled: true,
            touched: Some(touched),
        }
    }
    /// Nothing happened.
    pub fn nothing() -> Applied {
        Applied {
            handled: false,
            touched: None,
        }
    }
}

/// Why an action stopped before it was done: the run ends here. Boxed, so that the common
/// answer, "it did not stop", costs one word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop(pub Box<Stopped>);

/// What [`Stop`] holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// A protocol failed: a handler panicked, or asked for something that cannot be (a send
    /// to a node that does not exist). The finding says what, where and when.
    Failed(Finding),
    /// The trace sink refused a record (an I/O error, or a replay that diverged).
    Aborted(String),
}

/// A result of the world's inner steps: `?` carries a stop out of the action.
type Flow<T = ()> = Result<T, Stop>;

/// A copy of a message between two endpoints.
pub struct InFlight<P: Protocol> {
    id: u64,
    from: Endpoint,
    to: Endpoint,
    payload: Payload<P>,
    /// Already arrived at a paused receiver (the link no longer matters).
    arrived: bool,
}

impl<P: Protocol> InFlight<P> {
    /// The message's id (a duplicate shares it).
    pub fn id(&self) -> u64 {
        self.id
    }
    /// Sender.
    pub fn from(&self) -> Endpoint {
        self.from
    }
    /// Receiver.
    pub fn to(&self) -> Endpoint {
        self.to
    }
    /// What it carries.
    pub fn payload(&self) -> &Payload<P> {
        &self.payload
    }
    /// Whether it has already arrived at a paused receiver and waits there (held).
    pub fn arrived(&self) -> bool {
        self.arrived
    }
}

impl<P: Protocol> Clone for InFlight<P> {
    fn clone(&self) -> Self {
        InFlight {
            id: self.id,
            from: self.from,
            to: self.to,
            payload: self.payload.clone(),
            arrived: self.arrived,
        }
    }
}

/// An armed node timer.
pub struct TimerEntry<P: Protocol> {
    node: u32,
    incarnation: u32,
    generation: u64,
    timer: P::Timer,
}

impl<P: Protocol> TimerEntry<P> {
    /// The node that armed it.
    pub fn node(&self) -> NodeId {
        NodeId(self.node)
    }
    /// Which timer.
    pub fn timer(&self) -> &P::Timer {
        &self.timer
    }
}

impl<P: Protocol> Clone for TimerEntry<P> {
    fn clone(&self) -> Self {
        TimerEntry {
            node: self.node,
            incarnation: self.incarnation,
            generation: self.generation,
            timer: self.timer.clone(),
        }
    }
}

/// An armed client timer.
#[derive(Clone, Debug)]
struct ClientTimerEntry {
    client: u32,
    generation: u64,
    timer: u64,
}

/// The state of one run of protocol `P`, and its transitions.
pub struct World<P: Protocol> {
    nodes: u32,
    config: Arc<P::Config>,
    hosts: Vec<NodeHost<P>>,
    clients: Vec<ClientHost<P>>,
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
    /// Scratch space reused by every handler call (no allocation per step).
    effects: Vec<Effect<P>>,
    client_effects: Vec<ClientEffect<P>>,
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
            effects: Vec::new(),
            client_effects: Vec::new(),
        }
    }
}

impl<P: Protocol> World<P> {
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
                NodeHost::new(Rng::new(seed, Stream::Node(i)), clock, down)
            })
            .collect();
        let clients = (0..workload.clients)
            .map(|i| {
                ClientHost::new(
                    P::Client::new(ClientId(i), nodes, workload, config),
                    Rng::new(seed, Stream::Client(i)),
                    u64::from(i),
                )
            })
            .collect();
        World {
            nodes,
            config: Arc::new(config.clone()),
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
            effects: Vec::new(),
            client_effects: Vec::new(),
        }
    }

    // ---- reading the world -----------------------------------------------------------

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
    pub fn hosts(&self) -> &[NodeHost<P>] {
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

    fn glimpse(&self) -> Glimpse<'_, P> {
        Glimpse {
            hosts: &self.hosts,
            network: &self.network,
            phase: self.phase,
            now: self.now,
        }
    }

    #[inline(always)]
    fn tell<D: Driver<P>>(&self, env: &mut Env<'_, D>, c: Consequence) {
        env.driver.take(c, self.glimpse());
    }

    fn timer_live(&self, t: &TimerEntry<P>) -> bool {
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
    fn record<D: Driver<P>>(&self, env: &mut Env<'_, D>, record: &Record<'_, P>) -> Flow {
        env.recorder
            .record::<P>(self.step, self.now, record)
            .map_err(|e| Stop(Box::new(Stopped::Aborted(e.into_reason()))))
    }

    fn failed(&self, check: &str, nodes: Vec<NodeId>, message: String) -> Stop {
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

    fn boot<D: Driver<P>>(&mut self, n: NodeId, env: &mut Env<'_, D>) -> Flow {
        let host = &mut self.hosts[n.index()];
        if host.status != Status::Down {
            return Ok(());
        }
        let recover = host.booted;
        if recover {
            host.incarnation += 1;
        }
        host.booted = true;
        host.status = Status::Up;
        let (nodes, config) = (self.nodes, &*self.config);
        match guarded(|| P::new(n, nodes, config)) {
            Ok(p) => host.proto = Some(p),
            Err(message) => {
                host.status = Status::Down;
                return Err(self.failed(
                    "protocol_panic",
                    vec![n],
                    format!("{n} panicked while being built: {message}"),
                ));
            }
        }
        let incarnation = self.hosts[n.index()].incarnation;
        self.record(
            env,
            &Record::Start {
                node: n,
                incarnation,
                recover,
            },
        )?;
        if recover {
            self.call_node(n, env, |p, ctx| p.on_recover(ctx))
        } else {
            self.call_node(n, env, |p, ctx| p.on_start(ctx))
        }
    }

    fn call_node<D: Driver<P>>(
        &mut self,
        n: NodeId,
        env: &mut Env<'_, D>,
        f: impl FnOnce(&mut P, &mut Ctx<'_, P>),
    ) -> Flow {
        let host = &mut self.hosts[n.index()];
        let local = host.clock.local(self.now);
        let Some(proto) = host.proto.as_mut() else {
            debug_assert!(false, "a handler call for a node that is down");
            return Ok(());
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
                self.nodes,
                local,
                &mut host.rng,
                &mut host.store,
                &mut effects,
            );
            guarded(|| f(proto, &mut ctx))
        };
        let flow = match result {
            Ok(()) => self.apply_effects(n, &mut effects, env),
            Err(message) => Err(self.failed(
                "protocol_panic",
                vec![n],
                format!("{} panicked in a {} handler: {message}", n, P::NAME),
            )),
        };
        effects.clear();
        self.effects = effects;
        flow
    }

    fn apply_effects<D: Driver<P>>(
        &mut self,
        n: NodeId,
        effects: &mut Vec<Effect<P>>,
        env: &mut Env<'_, D>,
    ) -> Flow {
        for effect in effects.drain(..) {
            match effect {
                Effect::Send { to, msg } => {
                    if to.0 >= self.nodes {
                        return Err(self.failed(
                            "protocol_error",
                            vec![n],
                            format!(
                                "{n} sent a message to {to}, which does not exist (cluster of {})",
                                self.nodes
                            ),
                        ));
                    }
                    self.send(
                        Endpoint::Node(n),
                        Endpoint::Node(to),
                        Payload::Peer(msg),
                        env,
                    )?;
                }
                Effect::SetTimer { timer, after } => {
                    let host = &mut self.hosts[n.index()];
                    host.timer_gen += 1;
                    let generation = host.timer_gen;
                    let after = host.clock.true_duration(after);
                    host.timers.insert(timer.clone(), generation);
                    let slot = TimerSlot(self.timers.insert(TimerEntry {
                        node: n.0,
                        incarnation: host.incarnation,
                        generation,
                        timer,
                    }));
                    self.tell(env, Consequence::Armed { slot, after });
                }
                Effect::CancelTimer { timer } => {
                    self.hosts[n.index()].timers.remove(&timer);
                }
                Effect::Reply {
                    client,
                    id,
                    response,
                } => {
                    if client.0 >= self.clients.len() as u32 {
                        return Err(self.failed(
                            "protocol_error",
                            vec![n],
                            format!("{n} replied to {client}, which does not exist"),
                        ));
                    }
                    self.send(
                        Endpoint::Node(n),
                        Endpoint::Client(client),
                        Payload::Response { id, body: response },
                        env,
                    )?;
                }
                Effect::Annotate { key, value } => {
                    self.record(
                        env,
                        &Record::Note {
                            node: n,
                            key,
                            value: &value,
                        },
                    )?;
                    if env.driver.wants_notes() {
                        let c = Consequence::Noted {
                            node: n,
                            key,
                            value: value.clone(),
                        };
                        self.tell(env, c);
                    }
                    self.hosts[n.index()].annotations.insert(key, value);
                }
                Effect::Synced { ops } => {
                    self.record(env, &Record::Sync { node: n, ops })?;
                }
            }
        }
        Ok(())
    }

    fn send<D: Driver<P>>(
        &mut self,
        from: Endpoint,
        to: Endpoint,
        payload: Payload<P>,
        env: &mut Env<'_, D>,
    ) -> Flow {
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        let (vf, vt) = (self.network.vertex(from), self.network.vertex(to));
        let fate = env.driver.fate(vf, vt);
        self.network.count_sent(&fate);
        let copies = match fate {
            Fate::Lost => 0,
            Fate::Arrives {
                duplicate: None, ..
            } => 1,
            Fate::Arrives {
                duplicate: Some(_), ..
            } => 2,
        };
        self.record(
            env,
            &Record::Send {
                id,
                from,
                to,
                copies,
                msg: &payload,
            },
        )?;
        match fate {
            Fate::Lost => self.record(
                env,
                &Record::Lost {
                    id,
                    from,
                    to,
                    reason: LossReason::Loss,
                },
            ),
            Fate::Arrives {
                first, duplicate, ..
            } => {
                if let Some(second) = duplicate {
                    let copy = InFlight {
                        id,
                        from,
                        to,
                        payload: payload.clone(),
                        arrived: false,
                    };
                    let slot = MsgSlot(self.msgs.insert(copy));
                    self.tell(
                        env,
                        Consequence::InFlight {
                            slot,
                            after: second,
                        },
                    );
                }
                let slot = MsgSlot(self.msgs.insert(InFlight {
                    id,
                    from,
                    to,
                    payload,
                    arrived: false,
                }));
                self.tell(env, Consequence::InFlight { slot, after: first });
                Ok(())
            }
        }
    }

    fn lose<D: Driver<P>>(
        &mut self,
        m: &InFlight<P>,
        reason: LossReason,
        env: &mut Env<'_, D>,
    ) -> Flow {
        self.network.count_lost(reason);
        self.record(
            env,
            &Record::Lost {
                id: m.id,
                from: m.from,
                to: m.to,
                reason,
            },
        )
    }

    fn deliver<D: Driver<P>>(&mut self, slot: MsgSlot, env: &mut Env<'_, D>) -> Flow<Applied> {
        let Some(m) = self.msgs.get(slot.0) else {
            return Ok(Applied::nothing());
        };
        let (from, to, arrived) = (m.from, m.to, m.arrived);
        let link_up = arrived
            || self
                .network
                .can_send(self.network.vertex(from), self.network.vertex(to));
        match to {
            Endpoint::Node(n) => {
                let status = self.hosts[n.index()].status;
                if status == Status::Down {
                    let m = self.msgs.remove(slot.0).expect("slot checked above");
                    self.lose(&m, LossReason::ReceiverDown, env)?;
                    return Ok(Applied::at(to));
                }
                if !link_up {
                    let m = self.msgs.remove(slot.0).expect("slot checked above");
                    self.lose(&m, LossReason::Partition, env)?;
                    return Ok(Applied::at(to));
                }
                if status == Status::Paused {
                    let m = self.msgs.get_mut(slot.0).expect("slot checked above");
                    m.arrived = true;
                    let id = m.id;
                    self.hosts[n.index()].held.push_back(Held::Deliver(slot));
                    self.record(env, &Record::Held { id, node: n })?;
                    return Ok(Applied::at(to));
                }
                let m = self.msgs.remove(slot.0).expect("slot checked above");
                self.record_delivery(&m, env)?;
                match (from, m.payload) {
                    (Endpoint::Node(src), Payload::Peer(msg)) => {
                        self.call_node(n, env, |p, ctx| p.on_message(ctx, src, msg))?
                    }
                    (Endpoint::Client(c), Payload::Request { id, body }) => {
                        self.call_node(n, env, |p, ctx| p.on_request(ctx, c, id, body))?
                    }
                    _ => debug_assert!(false, "a payload of the wrong kind for its endpoints"),
                }
                Ok(Applied::at(to))
            }
            Endpoint::Client(c) => {
                let m = self.msgs.remove(slot.0).expect("slot checked above");
                if !link_up {
                    self.lose(&m, LossReason::Partition, env)?;
                    return Ok(Applied::at(to));
                }
                self.record_delivery(&m, env)?;
                if let (Endpoint::Node(src), Payload::Response { id, body }) = (from, m.payload) {
                    self.call_client(c.0, env, |cl, ctx| cl.on_response(ctx, src, id, body))?;
                }
                Ok(Applied::at(to))
            }
        }
    }

    fn record_delivery<D: Driver<P>>(&mut self, m: &InFlight<P>, env: &mut Env<'_, D>) -> Flow {
        self.network.count_delivered();
        let (id, from, to, msg) = (m.id, m.from, m.to, &m.payload);
        self.record(env, &Record::Deliver { id, from, to, msg })
    }

    fn fire_timer<D: Driver<P>>(&mut self, slot: TimerSlot, env: &mut Env<'_, D>) -> Flow<Applied> {
        let Some(t) = self.timers.get(slot.0) else {
            return Ok(Applied::nothing());
        };
        if !self.timer_live(t) {
            self.timers.remove(slot.0);
            return Ok(Applied::nothing());
        }
        let n = NodeId(t.node);
        if self.hosts[n.index()].status == Status::Paused {
            self.hosts[n.index()].held.push_back(Held::Timer(slot));
            return Ok(Applied::nothing());
        }
        let t = self.timers.remove(slot.0).expect("slot checked above");
        self.hosts[n.index()].timers.remove(&t.timer);
        self.record(
            env,
            &Record::Timer {
                node: n,
                timer: &t.timer,
            },
        )?;
        self.call_node(n, env, |p, ctx| p.on_timer(ctx, t.timer))?;
        Ok(Applied::at(Endpoint::Node(n)))
    }

    fn call_client<D: Driver<P>>(
        &mut self,
        c: u32,
        env: &mut Env<'_, D>,
        f: impl FnOnce(&mut P::Client, &mut ClientCtx<'_, P>),
    ) -> Flow {
        let mut effects = std::mem::take(&mut self.client_effects);
        let host = &mut self.clients[c as usize];
        let result = {
            let mut ctx = ClientCtx::new(
                ClientId(c),
                self.nodes,
                self.now,
                &mut host.rng,
                &mut self.history,
                &mut host.process,
                &mut effects,
            );
            guarded(|| f(&mut host.logic, &mut ctx))
        };
        let flow = match result {
            Ok(()) => effects
                .drain(..)
                .try_for_each(|e| self.apply_client_effect(c, e, env)),
            Err(message) => Err(self.failed(
                "protocol_panic",
                vec![],
                format!("client c{} panicked: {message}", c + 1),
            )),
        };
        effects.clear();
        self.client_effects = effects;
        flow
    }

    fn apply_client_effect<D: Driver<P>>(
        &mut self,
        c: u32,
        e: ClientEffect<P>,
        env: &mut Env<'_, D>,
    ) -> Flow {
        match e {
            ClientEffect::Send { to, id, request } => {
                if to.0 >= self.nodes {
                    return Err(self.failed(
                        "protocol_error",
                        vec![],
                        format!(
                            "client c{} sent a request to {to}, which does not exist (cluster of {})",
                            c + 1,
                            self.nodes
                        ),
                    ));
                }
                self.send(
                    Endpoint::Client(ClientId(c)),
                    Endpoint::Node(to),
                    Payload::Request { id, body: request },
                    env,
                )
            }
            ClientEffect::SetTimer { timer, after } => {
                let host = &mut self.clients[c as usize];
                host.timer_gen += 1;
                let generation = host.timer_gen;
                host.timers.insert(timer, generation);
                let slot = ClientTimerSlot(self.client_timers.insert(ClientTimerEntry {
                    client: c,
                    generation,
                    timer,
                }));
                self.tell(env, Consequence::ClientArmed { slot, after });
                Ok(())
            }
            ClientEffect::CancelTimer { timer } => {
                self.clients[c as usize].timers.remove(&timer);
                Ok(())
            }
            ClientEffect::Invoked(op) => {
                let o = self.history.op(op);
                // The history check's reading of the request, for tools; only when a trace
                // is written (it is not part of the fingerprint).
                let call = if env.recorder.has_sink() {
                    P::history_call(&o.request)
                } else {
                    None
                };
                self.record(
                    env,
                    &Record::Invoke {
                        op,
                        client: o.client,
                        process: o.process,
                        request: &o.request,
                        call: call.as_ref(),
                    },
                )
            }
            ClientEffect::Completed(op) => {
                let o = self.history.op(op);
                let result = match &o.outcome {
                    crate::history::Outcome::Ok(r) | crate::history::Outcome::Fail(r)
                        if env.recorder.has_sink() =>
                    {
                        Some(P::history_value(r))
                    }
                    _ => None,
                };
                self.record(
                    env,
                    &Record::Complete {
                        op,
                        client: o.client,
                        process: o.process,
                        outcome: &o.outcome,
                        result: result.as_ref(),
                    },
                )
            }
        }
    }

    fn fire_client_timer<D: Driver<P>>(
        &mut self,
        slot: ClientTimerSlot,
        env: &mut Env<'_, D>,
    ) -> Flow<Applied> {
        let Some(t) = self.client_timers.remove(slot.0) else {
            return Ok(Applied::nothing());
        };
        let host = &mut self.clients[t.client as usize];
        if host.timers.get(&t.timer) != Some(&t.generation) {
            return Ok(Applied::nothing());
        }
        host.timers.remove(&t.timer);
        self.call_client(t.client, env, |cl, ctx| cl.on_timer(ctx, t.timer))?;
        Ok(Applied::at(Endpoint::Client(ClientId(t.client))))
    }

    fn record_fault<D: Driver<P>>(
        &self,
        env: &mut Env<'_, D>,
        fault: &Fault,
        origin: Origin,
        detail: Option<&str>,
    ) -> Flow {
        self.record(
            env,
            &Record::Fault {
                fault,
                origin,
                detail,
            },
        )
    }

    fn trigger<D: Driver<P>>(&self, env: &mut Env<'_, D>, kind: TriggerKind, node: Option<NodeId>) {
        let at = self.now;
        self.tell(env, Consequence::Triggered(Trigger { kind, node, at }));
    }

    fn apply_fault<D: Driver<P>>(
        &mut self,
        fault: &Fault,
        origin: Origin,
        env: &mut Env<'_, D>,
    ) -> Flow<Applied> {
        self.faults_applied += 1;
        // Link faults change many nodes' reachability at once: checks must look everywhere.
        let link_fault = matches!(
            fault,
            Fault::Partition(_)
                | Fault::Bridge { .. }
                | Fault::Isolate(_)
                | Fault::Cut { .. }
                | Fault::Repair { .. }
                | Fault::HealLinks
                | Fault::Heal
        );
        let applied = Applied {
            handled: true,
            touched: if link_fault {
                None
            } else {
                fault.node().map(Endpoint::Node)
            },
        };
        match fault {
            Fault::Crash(n) => {
                if self.hosts[n.index()].status == Status::Down {
                    self.record_fault(env, fault, origin, Some("ignored: already down"))?;
                    return Ok(applied);
                }
                let lost = self.crash(*n);
                let detail = format!("{lost} unsynced writes lost");
                self.record_fault(env, fault, origin, Some(&detail))?;
                self.drop_held(*n, env)?;
                self.trigger(env, TriggerKind::Crash, Some(*n));
            }
            Fault::Restart(n) => {
                let host = &self.hosts[n.index()];
                if host.status != Status::Down {
                    self.record_fault(env, fault, origin, Some("ignored: not down"))?;
                    return Ok(applied);
                }
                if host.permanently_down && origin != Origin::Schedule {
                    self.record_fault(env, fault, origin, Some("ignored: permanently down"))?;
                    return Ok(applied);
                }
                self.record_fault(env, fault, origin, None)?;
                self.boot(*n, env)?;
                self.trigger(env, TriggerKind::Restart, Some(*n));
            }
            Fault::Pause(n) => {
                if self.hosts[n.index()].status != Status::Up {
                    self.record_fault(env, fault, origin, Some("ignored: not up"))?;
                    return Ok(applied);
                }
                self.hosts[n.index()].status = Status::Paused;
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::Pause, Some(*n));
            }
            Fault::Resume(n) => {
                if self.hosts[n.index()].status != Status::Paused {
                    self.record_fault(env, fault, origin, Some("ignored: not paused"))?;
                    return Ok(applied);
                }
                let held = self.hosts[n.index()].held.len();
                let detail = format!("{held} held events handled now");
                self.record_fault(env, fault, origin, Some(&detail))?;
                let host = &mut self.hosts[n.index()];
                host.status = Status::Up;
                let mut held = std::mem::take(&mut host.held);
                for h in held.drain(..) {
                    self.tell(env, Consequence::Released(h));
                }
                self.hosts[n.index()].held = held; // keeps its capacity
                self.trigger(env, TriggerKind::Resume, Some(*n));
            }
            Fault::Partition(groups) | Fault::Bridge { groups, .. } => {
                self.network.split(groups);
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::Partition, fault.node());
            }
            Fault::Isolate(e) => {
                self.network.isolate(*e);
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::Partition, fault.node());
            }
            Fault::Cut { from, to } => {
                self.network.cut(*from, *to);
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::Partition, None);
            }
            Fault::Repair { from, to } => {
                self.network.repair(*from, *to);
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::HealLinks, None);
            }
            Fault::HealLinks => {
                self.network.heal();
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::HealLinks, None);
            }
            Fault::ClockStep { node, offset_ms } => {
                let now = self.now;
                self.hosts[node.index()]
                    .clock
                    .step(now, offset_ms.saturating_mul(1_000));
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::Clock, Some(*node));
            }
            Fault::ClockDrift { node, ppm } => {
                let now = self.now;
                self.hosts[node.index()].clock.set_drift(now, *ppm);
                self.record_fault(env, fault, origin, None)?;
                self.trigger(env, TriggerKind::Clock, Some(*node));
            }
            Fault::Heal => self.heal(origin, env)?,
        }
        Ok(applied)
    }

    /// Drops the instance and its timers; the store keeps only synced writes. Returns the
    /// number of unsynced writes lost.
    fn crash(&mut self, n: NodeId) -> usize {
        let host = &mut self.hosts[n.index()];
        host.proto = None;
        host.status = Status::Down;
        host.timers.clear();
        host.store.crash()
    }

    fn drop_held<D: Driver<P>>(&mut self, n: NodeId, env: &mut Env<'_, D>) -> Flow {
        while let Some(h) = self.hosts[n.index()].held.pop_front() {
            match h {
                Held::Deliver(slot) => {
                    if let Some(m) = self.msgs.remove(slot.0) {
                        self.lose(&m, LossReason::ReceiverDown, env)?;
                    }
                }
                Held::Timer(slot) => {
                    self.timers.remove(slot.0);
                }
            }
        }
        Ok(())
    }

    /// The heal: links are restored, paused nodes resume and crashed ones (but those
    /// declared permanently down) restart, and the liveness phase begins. A driver that
    /// degrades the network or runs a nemesis stops them before applying the heal.
    fn heal<D: Driver<P>>(&mut self, origin: Origin, env: &mut Env<'_, D>) -> Flow {
        self.phase = Phase::Liveness;
        self.healed_at = Some(self.now);
        self.network.heal();
        self.record_fault(env, &Fault::Heal, origin, None)?;
        self.record(env, &Record::Phase { phase: "liveness" })?;
        for i in 0..self.nodes {
            let n = NodeId(i);
            match self.hosts[n.index()].status {
                Status::Paused => {
                    self.apply_fault(&Fault::Resume(n), Origin::Heal, env)?;
                }
                Status::Down if !self.hosts[n.index()].permanently_down => {
                    self.apply_fault(&Fault::Restart(n), Origin::Heal, env)?;
                }
                _ => {}
            }
        }
        self.tell(env, Consequence::Healed);
        self.trigger(env, TriggerKind::Heal, None);
        Ok(())
    }
}
