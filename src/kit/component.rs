//! Components: how a protocol embeds a part that has its own messages, timers, durable cells
//! and events, without the part knowing its host.
//!
//! A [`Component`] is a sans-IO state machine like a protocol, with its own `Msg`, `Timer`,
//! `Record` and `Output` types. Its handlers get a [`CompCtx`]: the same powers as a node's
//! `Ctx` (send, broadcast, timers, the local clock, the node's random stream, annotations,
//! named store cells, sync), spoken in the component's own types, plus `output`, which hands
//! an event up to the host (a delivered message, a decision). The host keeps the component as
//! a field and describes once, in a [`Mount`], how the component's types sit inside its own:
//! a message wrap (`Msg::Reliable`), a timer wrap (`Timer::Retransmit`), and a record wrap and
//! unwrap. Every call into the component goes through the mount ([`Mount::message`],
//! [`Mount::timer`], [`Mount::start`], [`Mount::recover`], or [`Mount::run`] for the
//! component's own inputs such as "send this reliably"); the component's sends, timers,
//! annotations and store writes become the host's, in the order the component made them, and
//! the call returns the component's outputs for the host to act on. Incoming traffic needs no
//! unwrap function: the host matches its own `Msg::Reliable(w)` or `Timer::Retransmit(to)`
//! and passes the inside to the mount. For unit tests a component also runs on a
//! [`Detached`] context, which records what it asked for instead of doing it.
//!
//! fd embeds reliable delivery ([`crate::kit::reliable`]) this way, and the reliable layer
//! keeps its own session number in its own store cell.
//!
//! **Embedding a whole protocol.** Raft could become a component (say, to replicate a
//! coordinator's decisions, or membership on top of fd) by moving its node logic from
//! `Ctx<Raft>` to `CompCtx<RaftPart>` and keeping `impl Protocol for Raft` as a thin shell
//! that mounts it with identity wraps. What is missing for that, honestly:
//! - *A durable sub-store.* A component reads and writes named cells of its host's store
//!   (the host's record type wraps the component's), but not the host's record *log*: Raft's
//!   log would interleave with the host's own records and its indexes would shift. The store
//!   would need one log per component (or a log namespace), synced together with the host's.
//! - *Cell namespaces.* Cell keys are `&'static str` shared with the host; a host must not
//!   use its components' keys (each component documents them, as reliable does `"session"`).
//!   Two copies of one component in one host would need a key prefix.
//! - *Client traffic.* A component cannot receive client requests or reply to clients; Raft
//!   embedded would take commands from its host (as `run` inputs) and hand results back as
//!   outputs, which is what a replicated coordinator wants anyway.
//! - *Annotations.* A component's annotation keys land in the host's trace under the host's
//!   vocabulary; an embedded Raft's `role` and `term` would need the host to declare them or
//!   the component to use prefixed keys.
//!
//! Owns the mechanism only; no component lives here. Must not import anything but the protocol
//! API.

use crate::protocol::{Ctx, NodeId, Protocol, Rng, Time, Value};
use std::collections::BTreeMap;
use std::fmt::Debug;

/// A part a protocol embeds: a sans-IO state machine with its own messages, timers, store
/// cells and events for its host.
pub trait Component: Sized {
    /// Messages between the copies of this component on different nodes.
    type Msg: Clone + Debug;
    /// Timer names. Setting a timer that is already set re-arms it.
    type Timer: Clone + Debug + Ord;
    /// What it keeps in its named store cells ([`NoRecord`] if nothing).
    type Record: Clone + Debug;
    /// What it hands up to its host.
    type Output: Debug;

    /// The host's first boot. The default does nothing.
    fn on_start(&mut self, cx: &mut CompCtx<'_, Self>) {
        let _ = cx;
    }

    /// The host restarted after a crash: the cells hold only what was synced.
    fn on_recover(&mut self, cx: &mut CompCtx<'_, Self>) {
        self.on_start(cx);
    }

    /// A message from this component on another node.
    fn on_message(&mut self, cx: &mut CompCtx<'_, Self>, from: NodeId, msg: Self::Msg);

    /// A timer this component set fired.
    fn on_timer(&mut self, cx: &mut CompCtx<'_, Self>, timer: Self::Timer);
}

/// The record type of a component that keeps nothing in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoRecord {}

/// Where a component context's calls go: a host's `Ctx` through a mount, or a detached
/// recorder. Object-safe, so the component's handlers are not generic over their host.
trait Port<C: Component> {
    fn id(&self) -> NodeId;
    fn cluster_size(&self) -> u32;
    fn now(&self) -> Time;
    fn rng(&mut self) -> &mut Rng;
    fn send(&mut self, to: NodeId, msg: C::Msg);
    fn set_timer(&mut self, timer: C::Timer, after: Time);
    fn cancel_timer(&mut self, timer: C::Timer);
    fn annotate(&mut self, key: &'static str, value: Value);
    fn cell(&self, key: &str) -> Option<C::Record>;
    fn write_cell(&mut self, key: &'static str, record: C::Record);
    fn sync(&mut self);
}

/// What a component's handler can see and do: its node's powers, in its own types.
pub struct CompCtx<'a, C: Component> {
    port: &'a mut (dyn Port<C> + 'a),
    outputs: &'a mut Vec<C::Output>,
}

impl<C: Component> CompCtx<'_, C> {
    /// This node.
    pub fn id(&self) -> NodeId {
        self.port.id()
    }

    /// Cluster size.
    pub fn cluster_size(&self) -> u32 {
        self.port.cluster_size()
    }

    /// Every node of the cluster, in id order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + use<C> {
        (0..self.port.cluster_size()).map(NodeId)
    }

    /// Every other node, in id order.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + use<C> {
        let me = self.port.id();
        (0..self.port.cluster_size())
            .map(NodeId)
            .filter(move |&n| n != me)
    }

    /// The node's local clock.
    pub fn now(&self) -> Time {
        self.port.now()
    }

    /// The node's random stream (shared with the host: a draw here is a draw there).
    pub fn rng(&mut self) -> &mut Rng {
        self.port.rng()
    }

    /// Sends `msg` to this component on node `to`.
    pub fn send(&mut self, to: NodeId, msg: C::Msg) {
        self.port.send(to, msg);
    }

    /// Sends a copy of `msg` to every other node, in id order.
    pub fn broadcast(&mut self, msg: C::Msg) {
        for to in self.peers() {
            self.port.send(to, msg.clone());
        }
    }

    /// Arms `timer` to fire after `after` of local time (re-arms it if set).
    pub fn set_timer(&mut self, timer: C::Timer, after: Time) {
        self.port.set_timer(timer, after);
    }

    /// Disarms `timer` if it is set.
    pub fn cancel_timer(&mut self, timer: C::Timer) {
        self.port.cancel_timer(timer);
    }

    /// Records a state change worth showing (under the host's trace and vocabulary).
    pub fn annotate(&mut self, key: &'static str, value: impl Into<Value>) {
        self.port.annotate(key, value.into());
    }

    /// Reads one of the component's cells (what was written, synced or not).
    pub fn cell(&self, key: &str) -> Option<C::Record> {
        self.port.cell(key)
    }

    /// Writes one of the component's cells (pending until [`CompCtx::sync`]).
    pub fn write_cell(&mut self, key: &'static str, record: C::Record) {
        self.port.write_cell(key, record);
    }

    /// Makes every pending write of the node durable, the host's included.
    pub fn sync(&mut self) {
        self.port.sync();
    }

    /// Hands an event up to the host, which gets it when the call returns.
    pub fn output(&mut self, output: C::Output) {
        self.outputs.push(output);
    }
}

/// Runs `f` with a component context over `port` and returns its result and the outputs.
fn call<C: Component, R>(
    port: &mut dyn Port<C>,
    f: impl FnOnce(&mut CompCtx<'_, C>) -> R,
) -> (R, Vec<C::Output>) {
    let mut outputs = Vec::new();
    let result = f(&mut CompCtx {
        port,
        outputs: &mut outputs,
    });
    (result, outputs)
}

/// How a component's types sit inside a host protocol's: written once by the host, usually as
/// a `const`.
pub struct Mount<P: Protocol, C: Component> {
    /// Wraps the component's message in the host's (`Msg::Reliable`).
    pub msg: fn(C::Msg) -> P::Msg,
    /// Wraps the component's timer in the host's.
    pub timer: fn(C::Timer) -> P::Timer,
    /// Wraps the component's record in the host's.
    pub record: fn(C::Record) -> P::Record,
    /// Reads a host record back as the component's, if it is one.
    pub unrecord: fn(&P::Record) -> Option<C::Record>,
}

impl<P: Protocol, C: Component> Clone for Mount<P, C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P: Protocol, C: Component> Copy for Mount<P, C> {}

fn no_record<T>(record: NoRecord) -> T {
    match record {}
}

fn no_unrecord<R, T>(_: &R) -> Option<T> {
    None
}

impl<P: Protocol, C: Component<Record = NoRecord>> Mount<P, C> {
    /// The mount of a component that keeps nothing in the store.
    pub fn stateless(msg: fn(C::Msg) -> P::Msg, timer: fn(C::Timer) -> P::Timer) -> Self {
        Mount {
            msg,
            timer,
            record: no_record::<P::Record>,
            unrecord: no_unrecord::<P::Record, NoRecord>,
        }
    }
}

impl<P: Protocol, C: Component> Mount<P, C> {
    /// Runs `f` (a call of one of the component's own inputs) with the component's context
    /// over the host's `ctx`; returns what `f` returned and the component's outputs.
    pub fn run<R>(
        &self,
        ctx: &mut Ctx<'_, P>,
        f: impl FnOnce(&mut CompCtx<'_, C>) -> R,
    ) -> (R, Vec<C::Output>) {
        call(&mut Hosted { ctx, mount: *self }, f)
    }

    /// The host's first boot: starts the component.
    pub fn start(&self, ctx: &mut Ctx<'_, P>, component: &mut C) -> Vec<C::Output> {
        self.run(ctx, |cx| component.on_start(cx)).1
    }

    /// The host restarted: recovers the component from its synced cells.
    pub fn recover(&self, ctx: &mut Ctx<'_, P>, component: &mut C) -> Vec<C::Output> {
        self.run(ctx, |cx| component.on_recover(cx)).1
    }

    /// A message for the component arrived (the host unwrapped it).
    pub fn message(
        &self,
        ctx: &mut Ctx<'_, P>,
        component: &mut C,
        from: NodeId,
        msg: C::Msg,
    ) -> Vec<C::Output> {
        self.run(ctx, |cx| component.on_message(cx, from, msg)).1
    }

    /// A timer of the component fired (the host unwrapped it).
    pub fn timer(
        &self,
        ctx: &mut Ctx<'_, P>,
        component: &mut C,
        timer: C::Timer,
    ) -> Vec<C::Output> {
        self.run(ctx, |cx| component.on_timer(cx, timer)).1
    }
}

/// A component context over a host's `Ctx`.
struct Hosted<'m, 'c, P: Protocol, C: Component> {
    ctx: &'m mut Ctx<'c, P>,
    mount: Mount<P, C>,
}

impl<P: Protocol, C: Component> Port<C> for Hosted<'_, '_, P, C> {
    fn id(&self) -> NodeId {
        self.ctx.id()
    }
    fn cluster_size(&self) -> u32 {
        self.ctx.cluster_size()
    }
    fn now(&self) -> Time {
        self.ctx.now()
    }
    fn rng(&mut self) -> &mut Rng {
        self.ctx.rng()
    }
    fn send(&mut self, to: NodeId, msg: C::Msg) {
        self.ctx.send(to, (self.mount.msg)(msg));
    }
    fn set_timer(&mut self, timer: C::Timer, after: Time) {
        self.ctx.set_timer((self.mount.timer)(timer), after);
    }
    fn cancel_timer(&mut self, timer: C::Timer) {
        self.ctx.cancel_timer((self.mount.timer)(timer));
    }
    fn annotate(&mut self, key: &'static str, value: Value) {
        self.ctx.annotate(key, value);
    }
    fn cell(&self, key: &str) -> Option<C::Record> {
        self.ctx.store().cell(key).and_then(self.mount.unrecord)
    }
    fn write_cell(&mut self, key: &'static str, record: C::Record) {
        self.ctx.write_cell(key, (self.mount.record)(record));
    }
    fn sync(&mut self) {
        self.ctx.sync();
    }
}

/// What a component asked a [`Detached`] context for, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Act<M, T> {
    /// Send this message to that node.
    Send(NodeId, M),
    /// Arm this timer.
    SetTimer(T, Time),
    /// Disarm this timer.
    CancelTimer(T),
    /// Annotate.
    Annotate(&'static str, Value),
    /// Sync the store.
    Sync,
}

/// A component context outside any host, for unit tests: it records what the component asks
/// for ([`Detached::take`]), keeps its cells with a synced copy ([`Detached::crash`] drops
/// what was not synced), and has a clock the test sets.
#[derive(Clone, Debug)]
pub struct Detached<C: Component> {
    id: NodeId,
    nodes: u32,
    now: Time,
    rng: Option<Rng>,
    cells: BTreeMap<&'static str, C::Record>,
    synced: BTreeMap<&'static str, C::Record>,
    acts: Vec<Act<C::Msg, C::Timer>>,
}

impl<C: Component> Detached<C> {
    /// A context for node `id` of a cluster of `nodes`, at time zero, with empty cells and no
    /// random stream.
    pub fn new(id: NodeId, nodes: u32) -> Self {
        Detached {
            id,
            nodes,
            now: Time::ZERO,
            rng: None,
            cells: BTreeMap::new(),
            synced: BTreeMap::new(),
            acts: Vec::new(),
        }
    }

    /// Gives the context a random stream (a component that draws needs one).
    pub fn with_rng(mut self, rng: Rng) -> Self {
        self.rng = Some(rng);
        self
    }

    /// Sets the local clock.
    pub fn set_now(&mut self, now: Time) {
        self.now = now;
    }

    /// Runs `f` with a component context; returns what `f` returned and the outputs.
    pub fn run<R>(&mut self, f: impl FnOnce(&mut CompCtx<'_, C>) -> R) -> (R, Vec<C::Output>) {
        call(self, f)
    }

    /// Starts `component` (first boot).
    pub fn start(&mut self, component: &mut C) -> Vec<C::Output> {
        self.run(|cx| component.on_start(cx)).1
    }

    /// Recovers `component` from the synced cells.
    pub fn recover(&mut self, component: &mut C) -> Vec<C::Output> {
        self.run(|cx| component.on_recover(cx)).1
    }

    /// Hands `component` a message from `from`.
    pub fn message(&mut self, component: &mut C, from: NodeId, msg: C::Msg) -> Vec<C::Output> {
        self.run(|cx| component.on_message(cx, from, msg)).1
    }

    /// Fires `timer` on `component`.
    pub fn timer(&mut self, component: &mut C, timer: C::Timer) -> Vec<C::Output> {
        self.run(|cx| component.on_timer(cx, timer)).1
    }

    /// Takes what the component asked for since the last take, in order.
    pub fn take(&mut self) -> Vec<Act<C::Msg, C::Timer>> {
        std::mem::take(&mut self.acts)
    }

    /// A cell as written (synced or not).
    pub fn cell(&self, key: &str) -> Option<&C::Record> {
        self.cells.get(key)
    }

    /// Loses every write that was not synced, as a crash does; the recorded requests go too.
    pub fn crash(&mut self) {
        self.cells = self.synced.clone();
        self.acts.clear();
    }
}

impl<C: Component> Port<C> for Detached<C> {
    fn id(&self) -> NodeId {
        self.id
    }
    fn cluster_size(&self) -> u32 {
        self.nodes
    }
    fn now(&self) -> Time {
        self.now
    }
    fn rng(&mut self) -> &mut Rng {
        self.rng
            .as_mut()
            .expect("this Detached context has no random stream: build it with with_rng")
    }
    fn send(&mut self, to: NodeId, msg: C::Msg) {
        self.acts.push(Act::Send(to, msg));
    }
    fn set_timer(&mut self, timer: C::Timer, after: Time) {
        self.acts.push(Act::SetTimer(timer, after));
    }
    fn cancel_timer(&mut self, timer: C::Timer) {
        self.acts.push(Act::CancelTimer(timer));
    }
    fn annotate(&mut self, key: &'static str, value: Value) {
        self.acts.push(Act::Annotate(key, value));
    }
    fn cell(&self, key: &str) -> Option<C::Record> {
        self.cells.get(key).cloned()
    }
    fn write_cell(&mut self, key: &'static str, record: C::Record) {
        self.cells.insert(key, record);
    }
    fn sync(&mut self) {
        self.synced = self.cells.clone();
        self.acts.push(Act::Sync);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter every node keeps durably and gossips: it adopts the highest it hears, and
    /// tells its host when that changes.
    #[derive(Debug, Default)]
    struct Gossip {
        value: u64,
    }

    impl Component for Gossip {
        type Msg = u64;
        type Timer = ();
        type Record = u64;
        type Output = u64;

        fn on_start(&mut self, cx: &mut CompCtx<'_, Self>) {
            cx.set_timer((), Time::from_ms(10));
        }
        fn on_recover(&mut self, cx: &mut CompCtx<'_, Self>) {
            self.value = cx.cell("gossip").unwrap_or(0);
            self.on_start(cx);
        }
        fn on_message(&mut self, cx: &mut CompCtx<'_, Self>, _: NodeId, msg: u64) {
            if msg > self.value {
                self.value = msg;
                cx.write_cell("gossip", msg);
                cx.sync();
                cx.annotate("gossip", msg);
                cx.output(msg);
            }
        }
        fn on_timer(&mut self, cx: &mut CompCtx<'_, Self>, _: ()) {
            cx.broadcast(self.value);
            cx.set_timer((), Time::from_ms(10));
        }
    }

    #[test]
    fn a_detached_context_records_requests_in_order_and_keeps_synced_cells() {
        let mut d: Detached<Gossip> = Detached::new(NodeId(1), 3);
        let mut g = Gossip::default();
        assert!(d.start(&mut g).is_empty());
        assert_eq!(d.take(), vec![Act::SetTimer((), Time::from_ms(10))]);
        assert_eq!(d.message(&mut g, NodeId(0), 5), vec![5]);
        assert_eq!(
            d.message(&mut g, NodeId(2), 3),
            Vec::<u64>::new(),
            "not higher"
        );
        assert_eq!(
            d.take(),
            vec![Act::Sync, Act::Annotate("gossip", Value::Int(5))]
        );
        d.timer(&mut g, ());
        assert_eq!(
            d.take(),
            vec![
                Act::Send(NodeId(0), 5),
                Act::Send(NodeId(2), 5),
                Act::SetTimer((), Time::from_ms(10)),
            ],
            "a broadcast goes to every other node in id order"
        );
        d.crash();
        let mut g = Gossip::default();
        d.recover(&mut g);
        assert_eq!(g.value, 5, "the synced cell survived");
    }

    #[test]
    fn an_unsynced_cell_is_lost_in_a_crash() {
        let mut d: Detached<Gossip> = Detached::new(NodeId(0), 2);
        d.run(|cx| cx.write_cell("gossip", 9));
        assert_eq!(d.cell("gossip"), Some(&9));
        d.crash();
        assert_eq!(d.cell("gossip"), None);
        let ((id, peers), outputs) = d.run(|cx| (cx.id(), cx.peers().collect::<Vec<_>>()));
        assert_eq!((id, peers), (NodeId(0), vec![NodeId(1)]));
        assert!(outputs.is_empty());
    }
}
