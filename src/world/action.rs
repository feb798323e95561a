//! The interface between a world and its drivers: the actions a driver may apply, the
//! consequences the world reports while it applies one, the [`Driver`] that takes them, and
//! what comes back ([`Applied`], or a [`Stop`]).

use super::{Held, NodeHost};
use crate::base::types::{ClientId, Endpoint, NodeId, Time};
use crate::check::{Finding, Phase, Trigger};
use crate::faults::{Fault, MessageFault};
use crate::network::{Fate, Network};
use crate::protocol::{Protocol, RequestId, Value};
use crate::trace::{Origin, Recorder};

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
    /// A node served, as its protocol declares serving (only when the driver asked,
    /// [`Driver::wants_serves`]).
    Served(NodeId),
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
    /// Whether to report service events ([`Consequence::Served`]), for the recovery metrics.
    #[inline(always)]
    fn wants_serves(&self) -> bool {
        false
    }
    /// Whether a fault waits for one chosen message ([`Driver::chosen`]): only then does
    /// the world name each message's kind at send, which costs a serialisation.
    #[inline(always)]
    fn watches_sends(&self) -> bool {
        false
    }
    /// The fault on this message, if it is the chosen one: asked at every send (after
    /// [`Driver::fate`], whose draws are taken as always) while [`Driver::watches_sends`].
    /// `kind` names the message ([`crate::world::kind_of`]); call it only when the link
    /// matches.
    fn chosen(
        &mut self,
        from: Endpoint,
        to: Endpoint,
        kind: &dyn Fn() -> String,
    ) -> Option<MessageFault> {
        let _ = (from, to, kind);
        None
    }
}

/// What a driver may read of the world while it takes a consequence.
pub struct Glimpse<'a, P: Protocol> {
    /// Every node's host.
    pub hosts: &'a [std::sync::Arc<NodeHost<P>>],
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
pub(super) type Flow<T = ()> = Result<T, Stop>;
