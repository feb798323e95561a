//! Trace records: one per thing that happens, borrowed from the world so that recording
//! allocates nothing, and how each folds into the run's fingerprint.

use crate::base::hash::StableHasher;
use crate::base::types::{ClientId, Endpoint, NodeId};
use crate::faults::Fault;
use crate::history::{OpId, Outcome};
use crate::lin::{HistoryCall, Val};
use crate::network::LossReason;
use crate::protocol::{Protocol, RequestId, Value};
use serde::Serialize;
use std::hash::{Hash, Hasher};

/// What travels in a message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case", bound = "")]
pub enum Payload<P: Protocol> {
    /// Node to node.
    Peer(P::Msg),
    /// Client to node.
    Request {
        /// Request id.
        id: RequestId,
        /// Body.
        body: P::Request,
    },
    /// Node to client.
    Response {
        /// Request id.
        id: RequestId,
        /// Body.
        body: P::Response,
    },
}

impl<P: Protocol> Clone for Payload<P> {
    fn clone(&self) -> Self {
        match self {
            Payload::Peer(m) => Payload::Peer(m.clone()),
            Payload::Request { id, body } => Payload::Request {
                id: *id,
                body: body.clone(),
            },
            Payload::Response { id, body } => Payload::Response {
                id: *id,
                body: body.clone(),
            },
        }
    }
}

impl<P: Protocol> Hash for Payload<P> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            Payload::Peer(m) => {
                h.write_u8(0);
                m.hash(h);
            }
            Payload::Request { id, body } => {
                h.write_u8(1);
                id.hash(h);
                body.hash(h);
            }
            Payload::Response { id, body } => {
                h.write_u8(2);
                id.hash(h);
                body.hash(h);
            }
        }
    }
}

/// Who caused a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The scenario's schedule.
    Schedule,
    /// The random nemesis.
    Nemesis,
    /// The heal at the start of the liveness phase.
    Heal,
    /// A scheduled fault that waited for a node's annotation (`on`).
    Reaction,
    /// A nemesis strike at a node's annotation (`nemesis.strikes`).
    Strike,
}

/// One trace record. Borrowed, so recording allocates nothing when no sink is attached.
#[derive(Serialize)]
#[serde(tag = "ev", rename_all = "snake_case", bound = "")]
pub enum Record<'a, P: Protocol> {
    /// A node booted (`recover` after a crash).
    Start {
        /// Node.
        node: NodeId,
        /// Incarnation (0 on first boot).
        incarnation: u32,
        /// Restarted from its store.
        recover: bool,
    },
    /// A message was handed to the network.
    Send {
        /// Message id.
        id: u64,
        /// Sender.
        from: Endpoint,
        /// Receiver.
        to: Endpoint,
        /// Copies that will arrive (0 lost, 2 duplicated).
        copies: u8,
        /// Contents.
        msg: &'a Payload<P>,
    },
    /// A copy reached its receiver's handler.
    Deliver {
        /// Message id.
        id: u64,
        /// Sender.
        from: Endpoint,
        /// Receiver.
        to: Endpoint,
        /// Contents.
        msg: &'a Payload<P>,
    },
    /// A message or copy was lost.
    Lost {
        /// Message id.
        id: u64,
        /// Sender.
        from: Endpoint,
        /// Receiver.
        to: Endpoint,
        /// Why.
        reason: LossReason,
    },
    /// A copy arrived at a paused node and waits for it to resume.
    Held {
        /// Message id.
        id: u64,
        /// The paused node.
        node: NodeId,
    },
    /// A node timer fired.
    Timer {
        /// Node.
        node: NodeId,
        /// Timer.
        timer: &'a P::Timer,
    },
    /// A fault was applied.
    Fault {
        /// What.
        fault: &'a Fault,
        /// Who caused it.
        origin: Origin,
        /// What it did, when that is worth saying (writes lost, ignored because ...).
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<&'a str>,
    },
    /// A protocol annotated a state change.
    Note {
        /// Node.
        node: NodeId,
        /// What changed.
        key: &'static str,
        /// New value.
        value: &'a Value,
    },
    /// A node synced its store.
    Sync {
        /// Node.
        node: NodeId,
        /// Operations made durable.
        ops: usize,
    },
    /// A client invoked an operation.
    Invoke {
        /// Operation.
        op: OpId,
        /// Client.
        client: ClientId,
        /// Process id.
        process: u64,
        /// Request.
        request: &'a P::Request,
        /// The request as the history check reads it (function, key, argument), when a sink
        /// is attached and the protocol maps its requests. Not part of the fingerprint.
        #[serde(skip_serializing_if = "Option::is_none")]
        call: Option<&'a HistoryCall>,
    },
    /// A client operation ended.
    Complete {
        /// Operation.
        op: OpId,
        /// Client.
        client: ClientId,
        /// Process id.
        process: u64,
        /// Outcome.
        outcome: &'a Outcome<P::Response>,
        /// The value the history check reads from an ok or failed outcome (a read's value),
        /// when a sink is attached. Not part of the fingerprint.
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<&'a Val>,
    },
    /// The liveness phase began.
    Phase {
        /// New phase.
        phase: &'static str,
    },
    /// A check came true (an eventually- or sometimes-check, or a within-obligation).
    Check {
        /// Check.
        check: &'a str,
        /// Kind.
        kind: &'a str,
        /// What happened.
        status: &'a str,
    },
    /// A check failed.
    Violation {
        /// Check.
        check: &'a str,
        /// Kind.
        kind: &'a str,
        /// Safety, liveness, ...
        class: &'a str,
        /// Nodes involved.
        nodes: &'a [NodeId],
        /// What broke.
        message: &'a str,
    },
}

impl<P: Protocol> Record<'_, P> {
    /// Folds the record into the fingerprint. The frequent records pack their small fields
    /// into as few words as they fit in; the rare ones hash field by field.
    #[inline(always)]
    pub(super) fn absorb(&self, h: &mut StableHasher) {
        // A tag in the low byte, small fields above it, so each frequent record costs one or
        // two words plus its message.
        let tag = |t: u64, rest: u64| t | (rest << 8);
        match self {
            Record::Start {
                node,
                incarnation,
                recover,
            } => h.word(tag(
                1,
                u64::from(*recover) | (u64::from(node.0) << 1) | (u64::from(*incarnation) << 33),
            )),
            Record::Send {
                id,
                from,
                to,
                copies,
                msg,
            } => {
                h.word(tag(2, u64::from(*copies) | (id << 8)));
                h.word(link(from, to));
                msg.hash(h);
            }
            Record::Deliver { id, from, to, .. } => {
                h.word(tag(3, *id));
                h.word(link(from, to));
            }
            Record::Lost {
                id,
                from,
                to,
                reason,
            } => {
                h.word(tag(4, (*reason as u64) | (id << 8)));
                h.word(link(from, to));
            }
            Record::Held { id, node } => {
                h.word(tag(5, *id));
                h.word(u64::from(node.0));
            }
            Record::Timer { node, timer } => {
                h.word(tag(6, u64::from(node.0)));
                timer.hash(h);
            }
            Record::Sync { node, ops } => h.word(tag(9, u64::from(node.0) | ((*ops as u64) << 32))),
            Record::Fault {
                fault,
                origin,
                detail,
            } => (7u8, fault, origin, detail).hash(h),
            Record::Note { node, key, value } => (8u8, node, key, value).hash(h),
            Record::Invoke {
                op,
                client,
                process,
                request,
                call: _,
            } => (10u8, op, client, process, request).hash(h),
            Record::Complete {
                op,
                client,
                process,
                outcome,
                result: _,
            } => (11u8, op, client, process, outcome).hash(h),
            Record::Phase { phase } => (12u8, phase).hash(h),
            Record::Violation {
                check,
                kind,
                class,
                nodes,
                message,
            } => (13u8, check, kind, class, nodes, message).hash(h),
            Record::Check {
                check,
                kind,
                status,
            } => (14u8, check, kind, status).hash(h),
        }
    }
}

/// Both ends of a message in one word: 32 bits each, clients marked by the top bit.
fn link(from: &Endpoint, to: &Endpoint) -> u64 {
    let v = |e: &Endpoint| match e {
        Endpoint::Node(n) => u64::from(n.0),
        Endpoint::Client(c) => u64::from(c.0) | (1 << 31),
    };
    (v(from) << 32) | v(to)
}
