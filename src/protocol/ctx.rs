//! What a node handler can see and do: [`Ctx`], and the [`Effect`]s it buffers for the
//! engine to apply after the handler returns.

use super::{ClientId, NodeId, Protocol, RequestId, Rng, Store, Time, Value};

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
