//! The scripted driver: a protocol tested message by message, the way the Raft paper's
//! rules are tested in etcd and raft-rs, on the same [`World`] the simulator runs.
//!
//! A [`Script`] moves only when a test says so: start a node, deliver the copies in flight
//! that match a predicate, fire a node's timer, crash, restart or pause a node, cut links,
//! send a client request, let time pass. Nothing is random in the network (every copy
//! arrives, once, when delivered; nothing is lost unless dropped), and no timer fires on its
//! own. After every action the protocol's default invariants run, exactly as in a simulated
//! run, and a violation comes back as the action's error; so does a protocol failure (a
//! panic in a handler). A check's failure does not undo the action: the world is left as the
//! action made it, so a test can look at the state that broke the rule, and go on. Tests read
//! the nodes' state directly ([`Script::node`]).
//!
//! ```
//! use faultline::protocols::raft::{Raft, Role, Timer};
//! use faultline::script::Script;
//! use faultline::base::types::NodeId;
//!
//! let mut s = Script::<Raft>::new(3);
//! s.start_all().unwrap();
//! s.fire(NodeId(0), &Timer::Election).unwrap(); // n1 stands for election
//! s.stabilize().unwrap(); // every message delivered, and every answer to them
//! assert_eq!(s.node(NodeId(0)).unwrap().role(), Role::Leader);
//! ```
//!
//! Only `always` checks make sense here (there is no run whose end or heal an `eventually`
//! check could wait for); a script's checks are the protocol's default invariants, plus any
//! `always` expectation its [`SimConfig`] names.

use crate::base::types::{ClientId, Endpoint, NodeId, Time};
use crate::check::{Checks, ExpectKind, Finding};
use crate::faults::Fault;
use crate::protocol::{Protocol, RequestId};
use crate::sim::SimConfig;
use crate::trace::{Origin, Payload, Recorder, TraceSink};
use crate::world::{
    Action, Applied, Collect, Consequence, Env, MsgSlot, Stopped, TimerSlot, World, guarded,
};
use std::collections::BTreeMap;
use std::fmt;

/// Most actions [`Script::stabilize`] takes before it gives up (a protocol that never goes
/// quiet, such as one whose messages always cause more).
pub const STABILIZE_STEPS_MAX: usize = 100_000;

/// Why a scripted action did not go through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptError {
    /// A check failed, or the protocol failed (a handler panicked, a send to a node that
    /// does not exist): the finding says which, where and when.
    Failed(Box<Finding>),
    /// The trace sink refused a record.
    Aborted(String),
    /// The action cannot be taken: no such timer armed, no such message, a node that is
    /// not up...; the message says what.
    Cannot(String),
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptError::Failed(x) => write!(
                f,
                "check {} failed ({}) at step {}, {}: {}",
                x.check,
                x.class.name(),
                x.step,
                x.time,
                x.message
            ),
            ScriptError::Aborted(r) => write!(f, "the trace sink refused a record: {r}"),
            ScriptError::Cannot(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ScriptError {}

/// A copy of a message in flight, as a test sees it.
pub struct Envelope<'a, P: Protocol> {
    /// Where it waits in the world.
    pub slot: MsgSlot,
    /// The message's id (a duplicate shares it).
    pub id: u64,
    /// Sender.
    pub from: Endpoint,
    /// Receiver.
    pub to: Endpoint,
    /// What it carries.
    pub payload: &'a Payload<P>,
}

impl<P: Protocol> Envelope<'_, P> {
    /// The message, if it goes from node to node.
    pub fn msg(&self) -> Option<&P::Msg> {
        match self.payload {
            Payload::Peer(m) => Some(m),
            _ => None,
        }
    }
}

/// A world moved one action at a time by a test.
pub struct Script<P: Protocol> {
    world: World<P>,
    driver: Collect,
    recorder: Recorder,
    checks: Checks<P>,
    /// When each timer armed so far is due (true time), by slot; a slot re-armed or reused
    /// overwrites its entry, and [`Script::due`] reads only live timers.
    due: BTreeMap<TimerSlot, Time>,
}

impl<P: Protocol> Script<P> {
    /// `nodes` nodes with the protocol's default parameters, no clients, seed 1. Nothing has
    /// started.
    pub fn new(nodes: u32) -> Script<P> {
        Script::from_config(SimConfig::new(nodes, 1), None)
            .expect("a default configuration names no unknown check")
    }

    /// `nodes` nodes with these protocol parameters.
    pub fn with_params(nodes: u32, params: P::Config) -> Script<P> {
        let mut config = SimConfig::new(nodes, 1);
        config.protocol = params;
        Script::from_config(config, None).expect("a default configuration names no unknown check")
    }

    /// A script over a full configuration (clients, clocks, seed for the nodes' own random
    /// streams, `always` expectations), writing its trace to `sink` if given. The
    /// configuration's network, faults, nemesis and time limit play no part: the test is the
    /// schedule. Fails if an expectation names a check the protocol lacks or is not an
    /// `always` check.
    pub fn from_config(
        config: SimConfig<P>,
        sink: Option<Box<dyn TraceSink>>,
    ) -> Result<Script<P>, String> {
        if let Some(e) = config
            .expectations
            .iter()
            .find(|e| e.kind != ExpectKind::Always)
        {
            return Err(format!(
                "a script checks only `always` properties; {} is {}",
                e.check,
                e.kind.name()
            ));
        }
        let checks = Checks::new(&config.protocol, &config.expectations)?;
        let world = config.world();
        Ok(Script {
            world,
            driver: Collect::default(),
            recorder: Recorder::new(sink),
            checks,
            due: BTreeMap::new(),
        })
    }

    // ---- reading ---------------------------------------------------------------------

    /// The world.
    pub fn world(&self) -> &World<P> {
        &self.world
    }
    /// A node's protocol state, if it is up or paused.
    pub fn node(&self, n: NodeId) -> Option<&P> {
        self.world.node(n)
    }
    /// Virtual time now.
    pub fn now(&self) -> Time {
        self.world.now()
    }
    /// The fingerprint of everything recorded so far.
    pub fn fingerprint(&self) -> u64 {
        self.recorder.fingerprint()
    }
    /// Every copy in flight that has not arrived, in the order it was sent.
    pub fn messages(&self) -> Vec<Envelope<'_, P>> {
        let mut out: Vec<Envelope<'_, P>> = self
            .world
            .in_flight()
            .filter(|(_, m)| !m.arrived())
            .map(|(slot, m)| Envelope {
                slot,
                id: m.id(),
                from: m.from(),
                to: m.to(),
                payload: m.payload(),
            })
            .collect();
        out.sort_by_key(|e| (e.id, e.slot));
        out
    }
    /// The timers armed on node `n`, in the order they were armed.
    pub fn armed(&self, n: NodeId) -> Vec<&P::Timer> {
        self.world
            .armed()
            .filter(|(_, t)| t.node() == n)
            .map(|(_, t)| t.timer())
            .collect()
    }
    /// When node `n`'s armed `timer` is due (true time), if it is armed: a test sees whether
    /// a handler re-armed a timer, and for how long, without firing it. (The script fires
    /// timers only when told; this is when the discrete-event driver would.)
    pub fn due(&self, n: NodeId, timer: &P::Timer) -> Option<Time> {
        self.world
            .armed()
            .find(|(_, t)| t.node() == n && t.timer() == timer)
            .and_then(|(slot, _)| self.due.get(&slot).copied())
    }

    // ---- acting ----------------------------------------------------------------------

    /// Lets `by` of virtual time pass (nodes' local clocks move with it); nothing fires.
    pub fn advance(&mut self, by: Time) {
        let to = self.world.now().add(by);
        self.world.advance(to);
    }

    /// Applies one action and runs the checks.
    pub fn act(&mut self, action: Action<P>) -> Result<Applied, ScriptError> {
        let now = self.world.now();
        self.world.advance(now);
        let applied = self.world.apply(
            action,
            &mut Env {
                driver: &mut self.driver,
                recorder: &mut self.recorder,
            },
        );
        // Triggers and the heal move the checks' bookkeeping; there are no deadlines here.
        for c in self.driver.out.drain(..) {
            match c {
                Consequence::Triggered(t) => {
                    self.checks.on_trigger(t);
                }
                Consequence::Healed => {
                    self.checks.on_heal(now);
                }
                Consequence::Armed { slot, after } => {
                    self.due.insert(slot, now.add(after));
                }
                _ => {}
            }
        }
        let applied = applied.map_err(|stop| match *stop.0 {
            Stopped::Failed(f) => ScriptError::Failed(Box::new(f)),
            Stopped::Aborted(r) => ScriptError::Aborted(r),
        })?;
        if applied.handled && !self.checks.is_idle() {
            let view = self.world.view(applied.touched);
            let checks = &mut self.checks;
            match guarded(|| checks.after_step(&view)) {
                Ok(None) => {}
                Ok(Some(f)) => return Err(ScriptError::Failed(Box::new(f))),
                Err(message) => {
                    return Err(ScriptError::Cannot(format!("a check panicked: {message}")));
                }
            }
            self.checks.drain_events().for_each(drop);
        }
        Ok(applied)
    }

    /// Starts node `n` for the first time.
    pub fn start(&mut self, n: NodeId) -> Result<(), ScriptError> {
        self.act(Action::Start(n)).map(drop)
    }

    /// Starts every node, in id order.
    pub fn start_all(&mut self) -> Result<(), ScriptError> {
        (0..self.world.nodes()).try_for_each(|i| self.start(NodeId(i)))
    }

    /// Delivers one copy in flight.
    pub fn deliver(&mut self, slot: MsgSlot) -> Result<(), ScriptError> {
        if self.world.message(slot).is_none() {
            return Err(ScriptError::Cannot(format!(
                "no message in flight at slot {}",
                slot.0
            )));
        }
        self.act(Action::Deliver(slot)).map(drop)
    }

    /// Delivers, in the order they were sent, every copy in flight now that `pred` accepts;
    /// returns how many. Copies their handlers send wait for a later call.
    pub fn deliver_where(
        &mut self,
        pred: impl Fn(&Envelope<'_, P>) -> bool,
    ) -> Result<usize, ScriptError> {
        self.each_where(pred, Action::Deliver)
    }

    /// Applies `action` to every copy in flight now that `pred` accepts, in the order they
    /// were sent; returns how many. The slots are chosen before the first action, so copies
    /// the actions cause wait for a later call.
    fn each_where(
        &mut self,
        pred: impl Fn(&Envelope<'_, P>) -> bool,
        action: fn(MsgSlot) -> Action<P>,
    ) -> Result<usize, ScriptError> {
        let slots: Vec<MsgSlot> = self
            .messages()
            .iter()
            .filter(|e| pred(e))
            .map(|e| e.slot)
            .collect();
        for &slot in &slots {
            self.act(action(slot))?;
        }
        Ok(slots.len())
    }

    /// Delivers every copy in flight now (one round); returns how many.
    pub fn deliver_all(&mut self) -> Result<usize, ScriptError> {
        self.deliver_where(|_| true)
    }

    /// Delivers rounds of messages until none is in flight (at most
    /// [`STABILIZE_STEPS_MAX`] deliveries); returns how many it delivered.
    pub fn stabilize(&mut self) -> Result<usize, ScriptError> {
        let mut total = 0;
        loop {
            let n = self.deliver_all()?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
            if total > STABILIZE_STEPS_MAX {
                return Err(ScriptError::Cannot(format!(
                    "still not quiet after {total} deliveries"
                )));
            }
        }
    }

    /// Loses every copy in flight now that `pred` accepts; returns how many.
    pub fn drop_where(
        &mut self,
        pred: impl Fn(&Envelope<'_, P>) -> bool,
    ) -> Result<usize, ScriptError> {
        self.each_where(pred, Action::Drop)
    }

    /// Gives every copy in flight now that `pred` accepts a twin; returns how many.
    pub fn duplicate_where(
        &mut self,
        pred: impl Fn(&Envelope<'_, P>) -> bool,
    ) -> Result<usize, ScriptError> {
        self.each_where(pred, Action::Duplicate)
    }

    /// Fires node `n`'s armed `timer` now, whatever its due time.
    pub fn fire(&mut self, n: NodeId, timer: &P::Timer) -> Result<(), ScriptError> {
        let slot = self
            .world
            .armed()
            .find(|(_, t)| t.node() == n && t.timer() == timer)
            .map(|(slot, _)| slot);
        match slot {
            Some(slot) => self.act(Action::Fire(slot)).map(drop),
            None => Err(ScriptError::Cannot(format!(
                "{n} has no {timer:?} timer armed (armed: {:?})",
                self.armed(n)
            ))),
        }
    }

    /// Applies a fault, as the scenario's schedule would.
    pub fn fault(&mut self, fault: Fault) -> Result<(), ScriptError> {
        self.act(Action::Fault(fault, Origin::Schedule)).map(drop)
    }
    /// Crashes `n`: its unsynced writes and its volatile state are lost.
    pub fn crash(&mut self, n: NodeId) -> Result<(), ScriptError> {
        self.fault(Fault::Crash(n))
    }
    /// Restarts `n` from what it synced.
    pub fn restart(&mut self, n: NodeId) -> Result<(), ScriptError> {
        self.fault(Fault::Restart(n))
    }
    /// Splits the nodes into groups that cannot reach each other.
    pub fn partition(&mut self, groups: &[&[NodeId]]) -> Result<(), ScriptError> {
        let groups = groups
            .iter()
            .map(|g| g.iter().map(|&n| Endpoint::Node(n)).collect())
            .collect();
        self.fault(Fault::Partition(groups))
    }
    /// Restores every link.
    pub fn heal_links(&mut self) -> Result<(), ScriptError> {
        self.fault(Fault::HealLinks)
    }

    /// A client request from client `client` (it must exist in the configuration's
    /// workload) to node `to`, put in flight.
    pub fn request(
        &mut self,
        client: ClientId,
        to: NodeId,
        id: RequestId,
        request: P::Request,
    ) -> Result<(), ScriptError> {
        self.act(Action::Request {
            client,
            to,
            id,
            request,
        })
        .map(drop)
    }
}
