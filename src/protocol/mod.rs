//! The protocol API: the only module a protocol implementation imports.
//!
//! A protocol is a sans-IO state machine. The engine calls its handlers (start, recover,
//! message, timer, client request) and the protocol acts only through the [`Ctx`] it is
//! given: it sends, sets and cancels timers, writes and syncs its node's [`Store`], reads its
//! node's *local* clock, draws from its node's own random stream, replies to clients and
//! annotates the trace. Sends, timers, replies and annotations are buffered and applied by
//! the engine after the handler returns, in the order they were issued; store writes take
//! effect at once, so anything synced in a handler is durable before any message that handler
//! sent can arrive.
//!
//! The client side of a protocol (the workload) is the same kind of state machine:
//! [`ClientLogic`] with a [`ClientCtx`]. Most protocols use the ready-made closed-loop driver
//! in [`crate::workload`].
//!
//! Must not import the engine, the network or the trace.

pub mod fd;
pub mod ping;
pub mod raft;
pub mod registry;
pub mod reliable;

pub use crate::check::{Failure, Property, PropertyDef, Status, Trigger, TriggerKind, View};
pub use crate::fixed;
pub use crate::lin::{HistoryCall, ModelKind, Val};
pub use crate::rng::Rng;
pub use crate::storage::Store;
pub use crate::types::{ClientId, Endpoint, NodeId, Ratio, Time};
pub use crate::workload::{
    Driver, Generator, History, OpId, Outcome, Verdict as ClientVerdict, WorkloadConfig,
};

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::hash::Hash;

/// Identifies one client request across retries, so a server can apply a retried write once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RequestId(pub u64);

impl RequestId {
    /// The request's number within its client: the built-in workload counts each client's
    /// requests in the low 40 bits and keeps the client's index above them.
    pub fn serial(self) -> u64 {
        self.0 & ((1 << 40) - 1)
    }
}

/// A distributed protocol that runs on every node of a simulation.
pub trait Protocol: Sized + 'static {
    /// The name scenarios use to pick this protocol (`"protocol": {"name": ...}`).
    const NAME: &'static str;
    /// Parameters from the scenario's `protocol.params` block (bug switches included).
    type Config: Clone + Debug + Default + Serialize + DeserializeOwned;
    /// Messages between nodes.
    type Msg: Clone + Debug + Hash + Serialize;
    /// Timer names. Setting a timer that is already set re-arms it.
    type Timer: Clone + Debug + Ord + Hash + Serialize;
    /// What clients ask.
    type Request: Clone + Debug + Hash + Serialize;
    /// What nodes answer.
    type Response: Clone + Debug + Hash + Serialize;
    /// What the node's durable store holds (log records and cells).
    type Record: Clone + Debug + Hash + Serialize;
    /// The workload actor that talks to this protocol.
    type Client: ClientLogic<Self>;

    /// Builds the volatile state of node `id`. Called on first boot and on every restart.
    fn new(id: NodeId, nodes: u32, config: &Self::Config) -> Self;

    /// First boot: the store is empty.
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>);

    /// Restart after a crash: the store holds only what was synced before the crash.
    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.on_start(ctx);
    }

    /// A message from another node.
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Self::Msg);

    /// A timer set earlier fired.
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Self::Timer);

    /// A client request. The default ignores it (the client will time out).
    fn on_request(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        client: ClientId,
        id: RequestId,
        request: Self::Request,
    ) {
        let _ = (ctx, client, id, request);
    }

    /// The linearizability model the run's client history is checked against when the run
    /// ends (see [`crate::lin`]); `None`, the default, skips that check.
    const HISTORY_MODEL: Option<ModelKind> = None;

    /// A request as the history model reads it: function, key and argument. `None` leaves
    /// the operation out of the check.
    fn history_call(request: &Self::Request) -> Option<HistoryCall> {
        let _ = request;
        None
    }

    /// A completed operation's result as the history model reads it (the value a read
    /// returned; `Val::Nil` when there is none).
    fn history_value(response: &Self::Response) -> Val {
        let _ = response;
        Val::Nil
    }

    /// Every property this protocol offers to scenarios, with the ones that are on by default
    /// (its safety invariants) marked so.
    fn properties() -> Vec<PropertyDef<Self>>;

    /// Size of a stored record in bytes, for the storage statistics.
    fn record_bytes(record: &Self::Record) -> u64 {
        let _ = record;
        std::mem::size_of::<Self::Record>() as u64
    }
}

/// A value attached to a trace annotation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// A number (term, index, count).
    Int(i64),
    /// A fixed word (role names).
    Word(&'static str),
    /// A node, or none.
    Node(Option<NodeId>),
    /// Anything else.
    Text(String),
}

impl Value {
    /// Whether this value is the one a scenario wrote as JSON: a number for `Int`, a string
    /// for a word, text or node name, `null` for no node.
    pub fn matches_json(&self, want: &serde_json::Value) -> bool {
        match (self, want) {
            (Value::Int(i), serde_json::Value::Number(n)) => n.as_i64() == Some(*i),
            (Value::Word(w), serde_json::Value::String(s)) => w == s,
            (Value::Text(t), serde_json::Value::String(s)) => t == s,
            (Value::Node(Some(n)), serde_json::Value::String(s)) => n.to_string() == *s,
            (Value::Node(None), serde_json::Value::Null) => true,
            _ => false,
        }
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v as i64)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<&'static str> for Value {
    fn from(v: &'static str) -> Self {
        Value::Word(v)
    }
}
impl From<Option<NodeId>> for Value {
    fn from(v: Option<NodeId>) -> Self {
        Value::Node(v)
    }
}
impl From<NodeId> for Value {
    fn from(v: NodeId) -> Self {
        Value::Node(Some(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

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
        /// What changed (`"role"`, `"term"`).
        key: &'static str,
        /// Its new value.
        value: Value,
    },
    /// The store was synced (recorded for the trace).
    Synced {
        /// Operations made durable.
        ops: usize,
    },
}

/// What a node handler can see and do.
pub struct Ctx<'a, P: Protocol> {
    id: NodeId,
    nodes: u32,
    now: Time,
    rng: &'a mut Rng,
    store: &'a mut Store<P::Record>,
    effects: &'a mut Vec<Effect<P>>,
}

impl<'a, P: Protocol> Ctx<'a, P> {
    /// Built by the engine for one handler call.
    pub fn new(
        id: NodeId,
        nodes: u32,
        now: Time,
        rng: &'a mut Rng,
        store: &'a mut Store<P::Record>,
        effects: &'a mut Vec<Effect<P>>,
    ) -> Self {
        Ctx {
            id,
            nodes,
            now,
            rng,
            store,
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

    /// Makes every pending write durable. Completes within this step.
    pub fn sync(&mut self) {
        let ops = self.store.sync();
        if ops > 0 {
            self.effects.push(Effect::Synced { ops });
        }
    }
}

/// An action a client asked for.
#[derive(Debug)]
pub enum ClientEffect<P: Protocol> {
    /// Send a request to a node.
    Send {
        /// Receiver.
        to: NodeId,
        /// Request id (stable across retries).
        id: RequestId,
        /// The request.
        request: P::Request,
    },
    /// Arm a client timer.
    SetTimer {
        /// Timer number.
        timer: u64,
        /// True-time duration (clients have perfect clocks).
        after: Time,
    },
    /// Disarm a client timer.
    CancelTimer {
        /// Timer number.
        timer: u64,
    },
    /// An operation was invoked (recorded for the trace).
    Invoked(OpId),
    /// An operation completed (recorded for the trace).
    Completed(OpId),
}

/// What a client can see and do. Clients keep true time; they never crash.
pub struct ClientCtx<'a, P: Protocol> {
    id: ClientId,
    nodes: u32,
    now: Time,
    rng: &'a mut Rng,
    history: &'a mut History<P::Request, P::Response>,
    process: &'a mut u64,
    effects: &'a mut Vec<ClientEffect<P>>,
}

impl<'a, P: Protocol> ClientCtx<'a, P> {
    /// Built by the engine for one client handler call.
    pub fn new(
        id: ClientId,
        nodes: u32,
        now: Time,
        rng: &'a mut Rng,
        history: &'a mut History<P::Request, P::Response>,
        process: &'a mut u64,
        effects: &'a mut Vec<ClientEffect<P>>,
    ) -> Self {
        ClientCtx {
            id,
            nodes,
            now,
            rng,
            history,
            process,
            effects,
        }
    }

    /// This client.
    pub fn id(&self) -> ClientId {
        self.id
    }
    /// Cluster size.
    pub fn cluster_size(&self) -> u32 {
        self.nodes
    }
    /// True virtual time.
    pub fn now(&self) -> Time {
        self.now
    }
    /// This client's random stream.
    pub fn rng(&mut self) -> &mut Rng {
        self.rng
    }
    /// The client's current process id (changes after an operation with an unknown outcome).
    pub fn process(&self) -> u64 {
        *self.process
    }
    /// Sends a request to a node.
    pub fn send(&mut self, to: NodeId, id: RequestId, request: P::Request) {
        self.effects.push(ClientEffect::Send { to, id, request });
    }
    /// Arms a client timer.
    pub fn set_timer(&mut self, timer: u64, after: Time) {
        self.effects.push(ClientEffect::SetTimer { timer, after });
    }
    /// Disarms a client timer.
    pub fn cancel_timer(&mut self, timer: u64) {
        self.effects.push(ClientEffect::CancelTimer { timer });
    }
    /// Records the invocation of an operation in the history.
    pub fn invoke(&mut self, request: P::Request) -> OpId {
        let op = self
            .history
            .invoke(self.id, *self.process, request, self.now);
        self.effects.push(ClientEffect::Invoked(op));
        op
    }
    /// Records the completion of an operation. After [`Outcome::Unknown`] the client goes
    /// on under a new process id, as Jepsen clients do.
    pub fn complete(&mut self, op: OpId, outcome: Outcome<P::Response>) {
        let unknown = matches!(outcome, Outcome::Unknown);
        self.history.complete(op, outcome, self.now);
        self.effects.push(ClientEffect::Completed(op));
        if unknown {
            *self.process = self.history.fresh_process();
        }
    }
}

/// The client side of a protocol: a sans-IO actor that issues requests and reads answers.
pub trait ClientLogic<P: Protocol>: Sized {
    /// Builds client `id`.
    fn new(id: ClientId, nodes: u32, workload: &WorkloadConfig, config: &P::Config) -> Self;
    /// Called once at time zero.
    fn on_start(&mut self, ctx: &mut ClientCtx<'_, P>);
    /// An answer arrived from node `from`.
    fn on_response(
        &mut self,
        ctx: &mut ClientCtx<'_, P>,
        from: NodeId,
        id: RequestId,
        response: P::Response,
    );
    /// A client timer fired.
    fn on_timer(&mut self, ctx: &mut ClientCtx<'_, P>, timer: u64);
}
