//! The client side of a protocol: [`ClientLogic`], a sans-IO actor with its [`ClientCtx`],
//! and the scenario's generic workload parameters ([`WorkloadConfig`]).

use super::{ClientId, History, NodeId, OpId, Outcome, Protocol, RequestId, Rng, Time};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The generic workload parameters of a scenario (`"workload": {...}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadConfig {
    /// Number of clients.
    pub clients: u32,
    /// Operations each client issues at most (0 = no limit but time).
    pub ops_per_client_max: u64,
    /// Pause between one operation's end and the next one's start, milliseconds (min).
    pub think_ms_min: u64,
    /// Pause between operations, milliseconds (max).
    pub think_ms_max: u64,
    /// How long a client waits for an answer before retrying, milliseconds.
    pub timeout_ms: u64,
    /// Retries (each to another node) before the outcome is declared unknown.
    pub retries: u32,
    /// No new operation starts after this virtual time, milliseconds (0 = the run's end).
    pub stop_ms: u64,
    /// Clients pinned to a node: such a client sends every attempt of every operation to
    /// that node (a redirect is not followed; the client waits for its timeout and tries the
    /// same node again).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub pinned: BTreeMap<ClientId, NodeId>,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            clients: 0,
            ops_per_client_max: 0,
            think_ms_min: 50,
            think_ms_max: 200,
            timeout_ms: 500,
            retries: 2,
            stop_ms: 0,
            pinned: BTreeMap::new(),
        }
    }
}

impl WorkloadConfig {
    /// Whether a client that has issued `issued` operations may start another at `now`:
    /// under `ops_per_client_max` (0: no cap) and before `stop_ms` (0: no stop).
    pub fn may_issue(&self, issued: u64, now: Time) -> bool {
        let under_max = self.ops_per_client_max == 0 || issued < self.ops_per_client_max;
        let in_time = self.stop_ms == 0 || now < Time::from_ms(self.stop_ms);
        under_max && in_time
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
///
/// The contract, which the engine enforces (a client that breaks it fails the run as
/// `protocol_error`): a client runs one operation at a time (it invokes the next only after
/// completing the last: its history is one process's), and a request id names one
/// operation (retries of an operation may repeat its id; the next operation may not reuse
/// it, since a service that de-duplicates by id would answer it with the old one's result).
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
    /// New parameters while running (a scenario's `set` fault; see
    /// [`Protocol::reconfigure`]). The default keeps what it was built with: the ready-made
    /// driver reads no parameters after it is built.
    fn reconfigure(&mut self, config: &P::Config) {
        let _ = config;
    }
    /// Whether this client logic honours `workload.pinned` (sends every attempt to the node
    /// it is pinned to). A scenario that pins the clients of a protocol whose clients do not
    /// is refused at load.
    fn honours_pinned() -> bool {
        false
    }
}
