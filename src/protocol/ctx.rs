//! What a node handler can see and do: [`Ctx`], and the [`Effect`]s it buffers for the
//! engine to apply after the handler returns.

use super::clock::{LogicalClocks, Stamp, VClock};
use super::{ClientId, NodeId, Protocol, RequestId, Rng, Store, Synced, Time, Value};

/// What `vclock` reads for a node that never used the clock service.
static ZERO_CLOCK: VClock = VClock::new();

/// An action a node handler asked for, applied by the engine after the handler returns.
#[derive(Debug)]
pub enum Effect<P: Protocol> {
    /// Send a message to a node.
    Send {
        /// Receiver.
        to: NodeId,
        /// Message.
        msg: P::Msg,
    },
    /// Arm (or re-arm) a timer `after` local time from now.
    SetTimer {
        /// Timer name.
        timer: P::Timer,
        /// Local duration.
        after: Time,
    },
    /// Disarm a timer.
    CancelTimer {
        /// Timer name.
        timer: P::Timer,
    },
    /// Answer a client request.
    Reply {
        /// The client.
        client: ClientId,
        /// The request answered.
        id: RequestId,
        /// The answer.
        response: P::Response,
    },
    /// A state change worth showing.
    Annotate {
        /// What changed (the key; the protocol's vocabulary says what its keys mean).
        key: &'static str,
        /// Its new value.
        value: Value,
    },
    /// The node served (for the recovery metrics, when the vocabulary declares
    /// [`Serves::Signal`](super::Serves::Signal)); not written to the trace.
    Serving,
    /// The store was synced (recorded for the trace).
    Synced {
        /// Operations made durable (lost, when `failed`).
        ops: usize,
        /// The sync failed (a storage fault).
        failed: bool,
    },
}

/// What a node handler can see and do.
pub struct Ctx<'a, P: Protocol> {
    id: NodeId,
    nodes: u32,
    now: Time,
    step: u64,
    rng: &'a mut Rng,
    store: &'a mut Store<P::Record>,
    clocks: &'a mut Option<Box<LogicalClocks>>,
    effects: &'a mut Vec<Effect<P>>,
}

impl<'a, P: Protocol> Ctx<'a, P> {
    /// Built by the engine for one handler call, at step `step`; `clocks` is the node's
    /// logical-clock service, allocated at its first use.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: NodeId,
        nodes: u32,
        now: Time,
        step: u64,
        rng: &'a mut Rng,
        store: &'a mut Store<P::Record>,
        clocks: &'a mut Option<Box<LogicalClocks>>,
        effects: &'a mut Vec<Effect<P>>,
    ) -> Self {
        Ctx {
            id,
            nodes,
            now,
            step,
            rng,
            store,
            clocks,
            effects,
        }
    }

    /// This node.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Every node of the cluster, in id order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + use<P> {
        (0..self.nodes).map(NodeId)
    }

    /// Every other node, in id order.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + use<P> {
        let me = self.id;
        (0..self.nodes).map(NodeId).filter(move |&n| n != me)
    }

    /// Cluster size.
    pub fn cluster_size(&self) -> u32 {
        self.nodes
    }

    /// This node's local clock (offset and drift applied). It may jump, even backwards.
    pub fn now(&self) -> Time {
        self.now
    }

    /// This node's own random stream.
    pub fn rng(&mut self) -> &mut Rng {
        self.rng
    }

    /// Sends `msg` to node `to`.
    pub fn send(&mut self, to: NodeId, msg: P::Msg) {
        self.effects.push(Effect::Send { to, msg });
    }

    /// Sends a copy of `msg` to every other node, in id order.
    pub fn broadcast(&mut self, msg: P::Msg) {
        for to in self.peers() {
            self.effects.push(Effect::Send {
                to,
                msg: msg.clone(),
            });
        }
    }

    /// Arms `timer` to fire after `after` of this node's local time (re-arms it if set).
    pub fn set_timer(&mut self, timer: P::Timer, after: Time) {
        self.effects.push(Effect::SetTimer { timer, after });
    }

    /// Disarms `timer` if it is set.
    pub fn cancel_timer(&mut self, timer: P::Timer) {
        self.effects.push(Effect::CancelTimer { timer });
    }

    /// Answers a client request.
    pub fn reply(&mut self, client: ClientId, id: RequestId, response: P::Response) {
        self.effects.push(Effect::Reply {
            client,
            id,
            response,
        });
    }

    /// Records a state change worth showing in the trace and the viewer.
    pub fn annotate(&mut self, key: &'static str, value: impl Into<Value>) {
        self.effects.push(Effect::Annotate {
            key,
            value: value.into(),
        });
    }

    /// Says that the node serves now, for the recovery metrics of a protocol whose
    /// vocabulary declares [`Serves::Signal`](super::Serves::Signal) (ignored otherwise).
    /// Nothing is written to the trace, so calling it changes no run.
    pub fn serving(&mut self) {
        self.effects.push(Effect::Serving);
    }

    /// Reads the node's store (what it wrote, synced or not).
    pub fn store(&self) -> &Store<P::Record> {
        self.store
    }

    /// Appends a record to the node's log (pending until [`Ctx::sync`]).
    pub fn append(&mut self, record: P::Record) {
        let bytes = P::record_bytes(&record);
        self.store.append(record, bytes);
    }

    /// Drops the log records at `len` and after (pending until [`Ctx::sync`]).
    pub fn truncate(&mut self, len: usize) {
        self.store.truncate(len);
    }

    /// Writes a named cell (pending until [`Ctx::sync`]).
    pub fn write_cell(&mut self, key: &'static str, record: P::Record) {
        let bytes = P::record_bytes(&record);
        self.store.set_cell(key, record, bytes);
    }

    /// Drops the log records before absolute index `upto` (pending until [`Ctx::sync`]):
    /// the front of a log that a durable checkpoint now covers.
    pub fn discard_before(&mut self, upto: u64) {
        self.store.discard_before(upto);
    }

    /// Empties the record log and starts it again at absolute index `first` (see
    /// [`Store::restart_log_at`]; pending until `sync`).
    pub fn restart_log_at(&mut self, first: u64) {
        self.store.restart_log_at(first);
    }

    /// Makes every pending write durable. Completes within this step. Under the storage
    /// fault `sync_fails` it can fail: the pending writes are then lost for good, though
    /// the node still reads them until it crashes, and the next sync reports success. A
    /// protocol that claims to survive that fault must not treat those writes as durable.
    pub fn sync(&mut self) -> Synced {
        let (outcome, ops) = self.store.sync_checked();
        if ops > 0 {
            self.effects.push(Effect::Synced {
                ops,
                failed: outcome == Synced::Failed,
            });
        }
        outcome
    }

    /// This node's Lamport time (0 before its first clock event). See
    /// [`LogicalClocks`](super::LogicalClocks): the clocks move only through
    /// [`Ctx::clock_event`], [`Ctx::stamp`] and [`Ctx::observe`], and survive crashes.
    pub fn lamport(&self) -> u64 {
        self.clocks.as_ref().map_or(0, |c| c.lamport())
    }

    /// This node's vector clock (the zero clock before its first clock event).
    pub fn vclock(&self) -> &VClock {
        match self.clocks.as_deref() {
            Some(c) => c.vector(),
            None => &ZERO_CLOCK,
        }
    }

    /// A local event: Lamport time + 1, own entry of the vector clock + 1.
    pub fn clock_event(&mut self) {
        let (id, step) = (self.id, self.step);
        self.clocks.get_or_insert_default().local(id, step);
    }

    /// A send event: ticks like [`Ctx::clock_event`] and returns the stamp to put into the
    /// message (declare where it sits with [`Protocol::stamp_of`]). A message re-sent carries
    /// the stamp of its first send.
    pub fn stamp(&mut self) -> Stamp {
        let (id, step) = (self.id, self.step);
        self.clocks.get_or_insert_default().send(id, step)
    }

    /// A receive event: Lamport time = max(own, stamp's) + 1; vector clock = the entrywise
    /// maximum with the stamp's, then own entry + 1. Call it for every stamped message
    /// delivered, even one the protocol then ignores: delivery is what happens-before counts.
    pub fn observe(&mut self, stamp: &Stamp) {
        let (id, step) = (self.id, self.step);
        self.clocks.get_or_insert_default().receive(id, step, stamp);
    }
}
