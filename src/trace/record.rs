//! Trace records: one per thing that happens, borrowed from the world so that recording
//! allocates nothing, and how each folds into the run's fingerprint.

use super::recorder::SentJson;
use crate::base::hash::StableHasher;
use crate::base::types::{ClientId, Endpoint, NodeId, Time};
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
    /// A node timer was set (or set again: a reset). Display only: written to trace files
    /// for the viewer's countdowns, never folded into the fingerprint or counted.
    Armed {
        /// Node.
        node: NodeId,
        /// Timer.
        timer: &'a P::Timer,
        /// When it fires, in true time, unless set again or cancelled first.
        fires: Time,
    },
    /// A node timer was cancelled. Display only, like [`Record::Armed`].
    Disarmed {
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
        /// Operations made durable (or, when `failed`, lost).
        ops: usize,
        /// The sync failed (a storage fault): its operations never reach the disk. Written
        /// and folded only when true, so runs without storage faults are unchanged.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        failed: bool,
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
            Record::Sync { node, ops, failed } => {
                h.word(tag(9, u64::from(node.0) | ((*ops as u64) << 32)));
                if *failed {
                    h.word(tag(9, u64::MAX));
                }
            }
            // Display records are written, never folded (`Recorder::display`).
            Record::Armed { .. } | Record::Disarmed { .. } => {}

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

impl<P: Protocol> Record<'_, P> {
    /// Appends the record as one JSON object, `{"step":S,"t":T,"ev":...}`, to `out`: the
    /// bytes serde_json would write for it (a test compares the two for every kind of
    /// record), written by hand so that a record costs a few copies and integer formats.
    /// The protocol's own types (messages, timers, requests, responses), faults and
    /// annotation values go through their `Serialize` into [`json::Fast`], which writes
    /// what serde_json writes and leaves to serde_json what it does not handle itself.
    #[cfg(test)]
    pub(super) fn write_json(
        &self,
        step: u64,
        t: Time,
        out: &mut Vec<u8>,
    ) -> Result<(), serde_json::Error> {
        write_prefix(step, t, out);
        self.write_fields(out, &mut SentJson::default())
    }

    /// Appends what follows the line's prefix ([`write_prefix`]): `,"ev":...}`.
    ///
    /// `sent` keeps each message's JSON from its `send` for its deliveries (see
    /// [`SentJson`]): a delivered message costs one copy instead of a second formatting.
    pub(super) fn write_fields(
        &self,
        out: &mut Vec<u8>,
        sent: &mut SentJson,
    ) -> Result<(), serde_json::Error> {
        match self {
            Record::Start {
                node,
                incarnation,
                recover,
            } => {
                out.extend_from_slice(b",\"ev\":\"start\",\"node\":");
                json::node(out, *node);
                out.extend_from_slice(b",\"incarnation\":");
                json::uint(out, u64::from(*incarnation));
                out.extend_from_slice(match recover {
                    true => b",\"recover\":true}",
                    false => b",\"recover\":false}",
                });
                return Ok(());
            }
            Record::Send {
                id,
                from,
                to,
                copies,
                msg,
            } => {
                out.extend_from_slice(b",\"ev\":\"send\",\"id\":");
                json::uint(out, *id);
                json::link(out, from, to);
                out.extend_from_slice(b",\"copies\":");
                json::uint(out, u64::from(*copies));
                out.extend_from_slice(b",\"msg\":");
                let at = out.len();
                json::payload(out, msg)?;
                sent.keep(*id, *copies, &out[at..]);
            }
            Record::Deliver { id, from, to, msg } => {
                out.extend_from_slice(b",\"ev\":\"deliver\",\"id\":");
                json::uint(out, *id);
                json::link(out, from, to);
                out.extend_from_slice(b",\"msg\":");
                match sent.get(*id) {
                    Some(kept) => {
                        #[cfg(debug_assertions)]
                        {
                            let mut fresh = Vec::new();
                            json::payload(&mut fresh, msg)?;
                            assert_eq!(
                                String::from_utf8_lossy(kept),
                                String::from_utf8_lossy(&fresh),
                                "message {id} changed between its send and its delivery"
                            );
                        }
                        out.extend_from_slice(kept);
                    }
                    None => json::payload(out, msg)?,
                }
                sent.copy_done(*id);
            }
            Record::Lost {
                id,
                from,
                to,
                reason,
            } => {
                out.extend_from_slice(b",\"ev\":\"lost\",\"id\":");
                json::uint(out, *id);
                json::link(out, from, to);
                out.extend_from_slice(b",\"reason\":");
                json::string(out, reason.name())?;
                sent.copy_done(*id);
            }
            Record::Held { id, node } => {
                out.extend_from_slice(b",\"ev\":\"held\",\"id\":");
                json::uint(out, *id);
                out.extend_from_slice(b",\"node\":");
                json::node(out, *node);
            }
            Record::Timer { node, timer } => {
                out.extend_from_slice(b",\"ev\":\"timer\",\"node\":");
                json::node(out, *node);
                out.extend_from_slice(b",\"timer\":");
                json::value(out, timer)?;
            }
            Record::Armed { node, timer, fires } => {
                out.extend_from_slice(b",\"ev\":\"armed\",\"node\":");
                json::node(out, *node);
                out.extend_from_slice(b",\"timer\":");
                json::value(out, timer)?;
                out.extend_from_slice(b",\"fires\":");
                json::uint(out, fires.0);
            }
            Record::Disarmed { node, timer } => {
                out.extend_from_slice(b",\"ev\":\"disarmed\",\"node\":");
                json::node(out, *node);
                out.extend_from_slice(b",\"timer\":");
                json::value(out, timer)?;
            }
            Record::Fault {
                fault,
                origin,
                detail,
            } => {
                out.extend_from_slice(b",\"ev\":\"fault\",\"fault\":");
                json::value(out, fault)?;
                out.extend_from_slice(b",\"origin\":");
                json::value(out, origin)?;
                if let Some(detail) = detail {
                    out.extend_from_slice(b",\"detail\":");
                    json::string(out, detail)?;
                }
            }
            Record::Note { node, key, value } => {
                out.extend_from_slice(b",\"ev\":\"note\",\"node\":");
                json::node(out, *node);
                out.extend_from_slice(b",\"key\":");
                json::string(out, key)?;
                out.extend_from_slice(b",\"value\":");
                json::value(out, value)?;
            }
            Record::Sync { node, ops, failed } => {
                out.extend_from_slice(b",\"ev\":\"sync\",\"node\":");
                json::node(out, *node);
                out.extend_from_slice(b",\"ops\":");
                json::uint(out, *ops as u64);
                if *failed {
                    out.extend_from_slice(b",\"failed\":true");
                }
            }
            Record::Invoke {
                op,
                client,
                process,
                request,
                call,
            } => {
                out.extend_from_slice(b",\"ev\":\"invoke\",\"op\":");
                json::uint(out, u64::from(op.0));
                out.extend_from_slice(b",\"client\":\"c");
                json::uint(out, u64::from(client.0) + 1);
                out.extend_from_slice(b"\",\"process\":");
                json::uint(out, *process);
                out.extend_from_slice(b",\"request\":");
                json::value(out, request)?;
                if let Some(call) = call {
                    out.extend_from_slice(b",\"call\":");
                    json::value(out, call)?;
                }
            }
            Record::Complete {
                op,
                client,
                process,
                outcome,
                result,
            } => {
                out.extend_from_slice(b",\"ev\":\"complete\",\"op\":");
                json::uint(out, u64::from(op.0));
                out.extend_from_slice(b",\"client\":\"c");
                json::uint(out, u64::from(client.0) + 1);
                out.extend_from_slice(b"\",\"process\":");
                json::uint(out, *process);
                out.extend_from_slice(b",\"outcome\":");
                json::value(out, outcome)?;
                if let Some(result) = result {
                    out.extend_from_slice(b",\"result\":");
                    json::value(out, result)?;
                }
            }
            Record::Phase { phase } => {
                out.extend_from_slice(b",\"ev\":\"phase\",\"phase\":");
                json::string(out, phase)?;
            }
            Record::Check {
                check,
                kind,
                status,
            } => {
                out.extend_from_slice(b",\"ev\":\"check\",\"check\":");
                json::string(out, check)?;
                out.extend_from_slice(b",\"kind\":");
                json::string(out, kind)?;
                out.extend_from_slice(b",\"status\":");
                json::string(out, status)?;
            }
            Record::Violation {
                check,
                kind,
                class,
                nodes,
                message,
            } => {
                out.extend_from_slice(b",\"ev\":\"violation\",\"check\":");
                json::string(out, check)?;
                out.extend_from_slice(b",\"kind\":");
                json::string(out, kind)?;
                out.extend_from_slice(b",\"class\":");
                json::string(out, class)?;
                out.extend_from_slice(b",\"nodes\":[");
                for (i, node) in nodes.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json::node(out, *node);
                }
                out.extend_from_slice(b"],\"message\":");
                json::string(out, message)?;
            }
        }
        out.push(b'}');
        Ok(())
    }
}

/// Appends the start of a record's line, `{"step":S,"t":T`, which every record of one step
/// shares: the recorder writes it once per step and keeps it at the start of its buffer.
pub(super) fn write_prefix(step: u64, t: Time, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"step\":");
    json::uint(out, step);
    out.extend_from_slice(b",\"t\":");
    json::uint(out, t.0);
}

/// The pieces of a record's JSON that the writer formats itself.
mod json {
    use super::Payload;
    use crate::base::types::{Endpoint, NodeId};
    use crate::protocol::Protocol;
    use serde::{Serialize, ser};
    use std::fmt;

    /// The two-digit decimal numbers 00 to 99, back to back.
    const PAIRS: [u8; 200] = {
        let mut t = [0u8; 200];
        let mut i = 0;
        while i < 100 {
            t[2 * i] = b'0' + (i / 10) as u8;
            t[2 * i + 1] = b'0' + (i % 10) as u8;
            i += 1;
        }
        t
    };

    /// Powers of ten, `POW10[d]` = 10^d, for counting digits.
    const POW10: [u64; 20] = {
        let mut t = [1u64; 20];
        let mut i = 1;
        while i < 20 {
            t[i] = t[i - 1] * 10;
            i += 1;
        }
        t
    };

    /// An unsigned integer in decimal, as serde_json writes it. The digits are counted
    /// first and written two at a time from the right into the front of a stack buffer,
    /// which is copied whole (a fixed-size copy, no call) and the line cut back to the
    /// digits written.
    #[inline]
    pub(super) fn uint(out: &mut Vec<u8>, n: u64) {
        if n < 10 {
            out.push(b'0' + n as u8);
            return;
        }
        // Digits: floor(log10(n)) + 1, from the bit length (1233/4096 ~ log10(2)).
        let bits = 64 - n.leading_zeros();
        let guess = ((bits * 1233) >> 12) as usize;
        let len = guess + usize::from(n >= POW10[guess]);
        let mut digits = [0u8; 20];
        let mut at = len;
        let mut n = n;
        while n > u64::from(u32::MAX) {
            let pair = (n % 100) as usize * 2;
            n /= 100;
            at -= 2;
            digits[at] = PAIRS[pair];
            digits[at + 1] = PAIRS[pair + 1];
        }
        // The rest in 32-bit arithmetic, which divides faster.
        let mut n = n as u32;
        while n >= 100 {
            let pair = (n % 100) as usize * 2;
            n /= 100;
            at -= 2;
            digits[at] = PAIRS[pair];
            digits[at + 1] = PAIRS[pair + 1];
        }
        if n >= 10 {
            let pair = n as usize * 2;
            digits[at - 2] = PAIRS[pair];
            digits[at - 1] = PAIRS[pair + 1];
        } else {
            digits[at - 1] = b'0' + n as u8;
        }
        let end = out.len() + len;
        out.extend_from_slice(&digits);
        out.truncate(end);
    }

    /// A node as its name, `"n3"` (one-based).
    #[inline]
    pub(super) fn node(out: &mut Vec<u8>, node: NodeId) {
        out.extend_from_slice(b"\"n");
        uint(out, u64::from(node.0) + 1);
        out.push(b'"');
    }

    /// A node's or a client's name.
    #[inline]
    fn endpoint(out: &mut Vec<u8>, e: &Endpoint) {
        match e {
            Endpoint::Node(n) => node(out, *n),
            Endpoint::Client(c) => {
                out.extend_from_slice(b"\"c");
                uint(out, u64::from(c.0) + 1);
                out.push(b'"');
            }
        }
    }

    /// `,"from":...,"to":...`.
    #[inline]
    pub(super) fn link(out: &mut Vec<u8>, from: &Endpoint, to: &Endpoint) {
        out.extend_from_slice(b",\"from\":");
        endpoint(out, from);
        out.extend_from_slice(b",\"to\":");
        endpoint(out, to);
    }

    /// A string: copied between quotes when nothing in it needs an escape, else escaped by
    /// serde_json, so the bytes are serde's either way.
    #[inline]
    pub(super) fn string(out: &mut Vec<u8>, s: &str) -> Result<(), serde_json::Error> {
        if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
            return serde_json::to_writer(&mut *out, s);
        }
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    }

    /// A message: `{"peer":MSG}`, `{"request":{"id":N,"body":REQ}}` or
    /// `{"response":{"id":N,"body":RESP}}`, the protocol's own types through serde.
    #[inline]
    pub(super) fn payload<P: Protocol>(
        out: &mut Vec<u8>,
        msg: &Payload<P>,
    ) -> Result<(), serde_json::Error> {
        match msg {
            Payload::Peer(m) => {
                out.extend_from_slice(b"{\"peer\":");
                value(out, m)?;
                out.push(b'}');
            }
            Payload::Request { id, body } => {
                out.extend_from_slice(b"{\"request\":{\"id\":");
                uint(out, id.0);
                out.extend_from_slice(b",\"body\":");
                value(out, body)?;
                out.extend_from_slice(b"}}");
            }
            Payload::Response { id, body } => {
                out.extend_from_slice(b"{\"response\":{\"id\":");
                uint(out, id.0);
                out.extend_from_slice(b",\"body\":");
                value(out, body)?;
                out.extend_from_slice(b"}}");
            }
        }
        Ok(())
    }

    /// Any serializable value: written by [`Fast`], or by serde_json when `Fast` meets
    /// something it leaves to it (a map key that is not a string or an integer, a 128-bit
    /// integer, an error raised by the value itself). Either way the bytes are serde_json's.
    #[inline]
    pub(super) fn value<T: Serialize + ?Sized>(
        out: &mut Vec<u8>,
        v: &T,
    ) -> Result<(), serde_json::Error> {
        let start = out.len();
        if v.serialize(Fast(&mut *out)).is_err() {
            out.truncate(start);
            return serde_json::to_writer(&mut *out, v);
        }
        Ok(())
    }

    /// Whether a string needs any escape in JSON (a quote, a backslash, a control
    /// character). serde_json escapes these and nothing else.
    #[inline]
    fn needs_escape(bytes: &[u8]) -> bool {
        bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
    }

    /// Why [`Fast`] stopped: the caller starts the value again with serde_json.
    #[derive(Debug)]
    pub(super) struct Fallback;

    impl fmt::Display for Fallback {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("left to serde_json")
        }
    }

    impl std::error::Error for Fallback {}

    impl ser::Error for Fallback {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Fallback
        }
    }

    /// A serializer writing compact JSON the way serde_json does, for the protocol's types
    /// inside a record, without serde_json's per-byte escaping of every key and name.
    pub(super) struct Fast<'a>(pub(super) &'a mut Vec<u8>);

    /// Appends `Display` output to the buffer.
    struct Append<'a>(&'a mut Vec<u8>);

    impl fmt::Write for Append<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }

    /// An array or object being written: whether an element has been written yet, and
    /// what closes it.
    pub(super) struct Compound<'a> {
        out: &'a mut Vec<u8>,
        first: bool,
        close: &'static [u8],
    }

    impl<'a> Compound<'a> {
        fn open(out: &'a mut Vec<u8>, open: &[u8], close: &'static [u8]) -> Self {
            out.extend_from_slice(open);
            Compound {
                out,
                first: true,
                close,
            }
        }

        fn comma(&mut self) {
            if !self.first {
                self.out.push(b',');
            }
            self.first = false;
        }

        fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Fallback> {
            self.comma();
            v.serialize(Fast(&mut *self.out))
        }

        fn field<T: Serialize + ?Sized>(&mut self, key: &str, v: &T) -> Result<(), Fallback> {
            self.comma();
            string_fast(self.out, key)?;
            self.out.push(b':');
            v.serialize(Fast(&mut *self.out))
        }

        fn close(self) -> Result<(), Fallback> {
            self.out.extend_from_slice(self.close);
            Ok(())
        }
    }

    /// A string that needs no escape, between quotes; else [`Fallback`].
    #[inline]
    fn string_fast(out: &mut Vec<u8>, s: &str) -> Result<(), Fallback> {
        if needs_escape(s.as_bytes()) {
            return Err(Fallback);
        }
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    }

    /// `{"variant":` for the variants that wrap their contents.
    fn variant_open<'a>(
        out: &'a mut Vec<u8>,
        variant: &str,
        open: &[u8],
        close: &'static [u8],
    ) -> Result<Compound<'a>, Fallback> {
        out.push(b'{');
        string_fast(out, variant)?;
        out.push(b':');
        Ok(Compound::open(out, open, close))
    }

    /// A signed integer in decimal.
    fn int(out: &mut Vec<u8>, n: i64) {
        if n < 0 {
            out.push(b'-');
        }
        uint(out, n.unsigned_abs());
    }

    /// A float, formatted by serde_json (shortest round-trip digits; `null` if not finite).
    fn float<T: Serialize>(out: &mut Vec<u8>, v: T) -> Result<(), Fallback> {
        serde_json::to_writer(&mut *out, &v).map_err(|_| Fallback)
    }

    impl<'a> ser::Serializer for Fast<'a> {
        type Ok = ();
        type Error = Fallback;
        type SerializeSeq = Compound<'a>;
        type SerializeTuple = Compound<'a>;
        type SerializeTupleStruct = Compound<'a>;
        type SerializeTupleVariant = Compound<'a>;
        type SerializeMap = Compound<'a>;
        type SerializeStruct = Compound<'a>;
        type SerializeStructVariant = Compound<'a>;

        fn serialize_bool(self, v: bool) -> Result<(), Fallback> {
            self.0.extend_from_slice(if v { b"true" } else { b"false" });
            Ok(())
        }
        fn serialize_i8(self, v: i8) -> Result<(), Fallback> {
            int(self.0, i64::from(v));
            Ok(())
        }
        fn serialize_i16(self, v: i16) -> Result<(), Fallback> {
            int(self.0, i64::from(v));
            Ok(())
        }
        fn serialize_i32(self, v: i32) -> Result<(), Fallback> {
            int(self.0, i64::from(v));
            Ok(())
        }
        fn serialize_i64(self, v: i64) -> Result<(), Fallback> {
            int(self.0, v);
            Ok(())
        }
        fn serialize_u8(self, v: u8) -> Result<(), Fallback> {
            uint(self.0, u64::from(v));
            Ok(())
        }
        fn serialize_u16(self, v: u16) -> Result<(), Fallback> {
            uint(self.0, u64::from(v));
            Ok(())
        }
        fn serialize_u32(self, v: u32) -> Result<(), Fallback> {
            uint(self.0, u64::from(v));
            Ok(())
        }
        fn serialize_u64(self, v: u64) -> Result<(), Fallback> {
            uint(self.0, v);
            Ok(())
        }
        fn serialize_f32(self, v: f32) -> Result<(), Fallback> {
            float(self.0, v)
        }
        fn serialize_f64(self, v: f64) -> Result<(), Fallback> {
            float(self.0, v)
        }
        fn serialize_char(self, v: char) -> Result<(), Fallback> {
            self.serialize_str(v.encode_utf8(&mut [0; 4]))
        }
        fn serialize_str(self, v: &str) -> Result<(), Fallback> {
            string(self.0, v).map_err(|_| Fallback)
        }
        fn serialize_bytes(self, v: &[u8]) -> Result<(), Fallback> {
            let mut seq = Compound::open(self.0, b"[", b"]");
            for b in v {
                seq.element(b)?;
            }
            seq.close()
        }
        fn serialize_none(self) -> Result<(), Fallback> {
            self.0.extend_from_slice(b"null");
            Ok(())
        }
        fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Fallback> {
            v.serialize(self)
        }
        fn serialize_unit(self) -> Result<(), Fallback> {
            self.serialize_none()
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<(), Fallback> {
            self.serialize_none()
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
        ) -> Result<(), Fallback> {
            self.serialize_str(variant)
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            v: &T,
        ) -> Result<(), Fallback> {
            v.serialize(self)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
            v: &T,
        ) -> Result<(), Fallback> {
            self.0.push(b'{');
            string_fast(self.0, variant)?;
            self.0.push(b':');
            v.serialize(Fast(&mut *self.0))?;
            self.0.push(b'}');
            Ok(())
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Fallback> {
            Ok(Compound::open(self.0, b"[", b"]"))
        }
        fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Fallback> {
            Ok(Compound::open(self.0, b"[", b"]"))
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Compound<'a>, Fallback> {
            Ok(Compound::open(self.0, b"[", b"]"))
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
            _: usize,
        ) -> Result<Compound<'a>, Fallback> {
            variant_open(self.0, variant, b"[", b"]}")
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Fallback> {
            Ok(Compound::open(self.0, b"{", b"}"))
        }
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Fallback> {
            Ok(Compound::open(self.0, b"{", b"}"))
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
            _: usize,
        ) -> Result<Compound<'a>, Fallback> {
            variant_open(self.0, variant, b"{", b"}}")
        }
        fn collect_str<T: fmt::Display + ?Sized>(self, v: &T) -> Result<(), Fallback> {
            let start = self.0.len();
            self.0.push(b'"');
            fmt::write(&mut Append(&mut *self.0), format_args!("{v}")).map_err(|_| Fallback)?;
            if needs_escape(&self.0[start + 1..]) {
                return Err(Fallback);
            }
            self.0.push(b'"');
            Ok(())
        }
    }

    impl ser::SerializeSeq for Compound<'_> {
        type Ok = ();
        type Error = Fallback;
        fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Fallback> {
            self.element(v)
        }
        fn end(self) -> Result<(), Fallback> {
            self.close()
        }
    }

    impl ser::SerializeTuple for Compound<'_> {
        type Ok = ();
        type Error = Fallback;
        fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Fallback> {
            self.element(v)
        }
        fn end(self) -> Result<(), Fallback> {
            self.close()
        }
    }

    impl ser::SerializeTupleStruct for Compound<'_> {
        type Ok = ();
        type Error = Fallback;
        fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Fallback> {
            self.element(v)
        }
        fn end(self) -> Result<(), Fallback> {
            self.close()
        }
    }

    impl ser::SerializeTupleVariant for Compound<'_> {
        type Ok = ();
        type Error = Fallback;
        fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Fallback> {
            self.element(v)
        }
        fn end(self) -> Result<(), Fallback> {
            self.close()
        }
    }

    impl ser::SerializeMap for Compound<'_> {
        type Ok = ();
        type Error = Fallback;
        fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Fallback> {
            self.comma();
            key.serialize(Key(&mut *self.out))
        }
        fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Fallback> {
            self.out.push(b':');
            v.serialize(Fast(&mut *self.out))
        }
        fn end(self) -> Result<(), Fallback> {
            self.close()
        }
    }

    impl ser::SerializeStruct for Compound<'_> {
        type Ok = ();
        type Error = Fallback;
        fn serialize_field<T: Serialize + ?Sized>(
            &mut self,
            key: &'static str,
            v: &T,
        ) -> Result<(), Fallback> {
            self.field(key, v)
        }
        fn end(self) -> Result<(), Fallback> {
            self.close()
        }
    }

    impl ser::SerializeStructVariant for Compound<'_> {
        type Ok = ();
        type Error = Fallback;
        fn serialize_field<T: Serialize + ?Sized>(
            &mut self,
            key: &'static str,
            v: &T,
        ) -> Result<(), Fallback> {
            self.field(key, v)
        }
        fn end(self) -> Result<(), Fallback> {
            self.close()
        }
    }

    /// A map key: a string that needs no escape, or an integer in quotes, as serde_json
    /// writes them; any other key is left to serde_json.
    struct Key<'a>(&'a mut Vec<u8>);

    impl Key<'_> {
        fn quoted(self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), Fallback> {
            self.0.push(b'"');
            write(&mut *self.0);
            self.0.push(b'"');
            Ok(())
        }
    }

    impl ser::Serializer for Key<'_> {
        type Ok = ();
        type Error = Fallback;
        type SerializeSeq = ser::Impossible<(), Fallback>;
        type SerializeTuple = ser::Impossible<(), Fallback>;
        type SerializeTupleStruct = ser::Impossible<(), Fallback>;
        type SerializeTupleVariant = ser::Impossible<(), Fallback>;
        type SerializeMap = ser::Impossible<(), Fallback>;
        type SerializeStruct = ser::Impossible<(), Fallback>;
        type SerializeStructVariant = ser::Impossible<(), Fallback>;

        fn serialize_str(self, v: &str) -> Result<(), Fallback> {
            string_fast(self.0, v)
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
        ) -> Result<(), Fallback> {
            string_fast(self.0, variant)
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            v: &T,
        ) -> Result<(), Fallback> {
            v.serialize(self)
        }
        fn serialize_i8(self, v: i8) -> Result<(), Fallback> {
            self.quoted(|out| int(out, i64::from(v)))
        }
        fn serialize_i16(self, v: i16) -> Result<(), Fallback> {
            self.quoted(|out| int(out, i64::from(v)))
        }
        fn serialize_i32(self, v: i32) -> Result<(), Fallback> {
            self.quoted(|out| int(out, i64::from(v)))
        }
        fn serialize_i64(self, v: i64) -> Result<(), Fallback> {
            self.quoted(|out| int(out, v))
        }
        fn serialize_u8(self, v: u8) -> Result<(), Fallback> {
            self.quoted(|out| uint(out, u64::from(v)))
        }
        fn serialize_u16(self, v: u16) -> Result<(), Fallback> {
            self.quoted(|out| uint(out, u64::from(v)))
        }
        fn serialize_u32(self, v: u32) -> Result<(), Fallback> {
            self.quoted(|out| uint(out, u64::from(v)))
        }
        fn serialize_u64(self, v: u64) -> Result<(), Fallback> {
            self.quoted(|out| uint(out, v))
        }
        fn serialize_bool(self, _: bool) -> Result<(), Fallback> {
            Err(Fallback)
        }
        fn serialize_f32(self, _: f32) -> Result<(), Fallback> {
            Err(Fallback)
        }
        fn serialize_f64(self, _: f64) -> Result<(), Fallback> {
            Err(Fallback)
        }
        fn serialize_char(self, _: char) -> Result<(), Fallback> {
            Err(Fallback)
        }
        fn serialize_bytes(self, _: &[u8]) -> Result<(), Fallback> {
            Err(Fallback)
        }
        fn serialize_none(self) -> Result<(), Fallback> {
            Err(Fallback)
        }
        fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Fallback> {
            Err(Fallback)
        }
        fn serialize_unit(self) -> Result<(), Fallback> {
            Err(Fallback)
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<(), Fallback> {
            Err(Fallback)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<(), Fallback> {
            Err(Fallback)
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Fallback> {
            Err(Fallback)
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Fallback> {
            Err(Fallback)
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, Fallback> {
            Err(Fallback)
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, Fallback> {
            Err(Fallback)
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Fallback> {
            Err(Fallback)
        }
        fn serialize_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStruct, Fallback> {
            Err(Fallback)
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, Fallback> {
            Err(Fallback)
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

#[cfg(test)]
mod tests {
    use super::super::recorder::Line;
    use super::*;
    use crate::lin::Val;
    use crate::protocol::{ClientCtx, ClientLogic, Ctx, PropertyDef, WorkloadConfig};
    use std::collections::BTreeMap;

    /// A float that can sit in a hashed message.
    #[derive(Clone, Copy, Debug)]
    struct F(f64);

    impl Hash for F {
        fn hash<H: Hasher>(&self, h: &mut H) {
            h.write_u64(self.0.to_bits());
        }
    }

    impl Serialize for F {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_f64(self.0)
        }
    }

    #[derive(Clone, Debug, Hash, Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Msg {
        Text { s: String, n: u64, i: i64 },
        Float(F),
        Pair(u8, Option<String>),
        Empty,
        Rich(Box<Rich>),
    }

    #[derive(Clone, Debug, Serialize)]
    struct Unit;

    #[derive(Clone, Debug, Serialize)]
    struct Wrapped(i32);

    #[derive(Clone, Debug, Serialize)]
    struct Two(i8, u16);

    #[derive(Clone, Debug, Serialize)]
    struct Inner {
        depth: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        maybe: Option<bool>,
    }

    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
    enum Side {
        Left,
        #[serde(rename = "ri\"ght")]
        Right,
    }

    /// Every shape serde has, for the serializer behind the protocol's types: maps with
    /// string, integer, escaped and non-string keys (the last two left to serde_json),
    /// 128-bit integers (left to serde_json), chars, units, tuples and flattened fields.
    #[derive(Clone, Debug, Serialize)]
    struct Rich {
        by_name: BTreeMap<String, Vec<u64>>,
        by_number: BTreeMap<i64, Option<String>>,
        by_side: BTreeMap<Side, u8>,
        by_char: BTreeMap<char, u8>,
        wide: i128,
        letters: Vec<char>,
        unit: Unit,
        nothing: (),
        wrapped: Wrapped,
        two: Two,
        tuple: (bool, f32, F),
        small: (i8, i16, i32, u8, u16, u32),
        side: Side,
        #[serde(flatten)]
        inner: Inner,
        #[serde(rename = "with \"quote\"")]
        quoted: u8,
    }

    impl Hash for Rich {
        fn hash<H: Hasher>(&self, h: &mut H) {
            self.wide.hash(h);
        }
    }

    /// A value whose serialization fails.
    struct Refuses;

    impl Serialize for Refuses {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refused"))
        }
    }

    fn rich(k: usize) -> Rich {
        let s = |i: usize| AWKWARD[(k + i) % AWKWARD.len()].to_string();
        Rich {
            by_name: [
                (s(0), vec![1, u64::MAX]),
                (s(1), vec![]),
                ("plain".into(), vec![0]),
            ]
            .into_iter()
            .collect(),
            by_number: [(i64::MIN, Some(s(2))), (-1, None), (0, Some(String::new()))]
                .into_iter()
                .collect(),
            by_side: match k % 3 {
                0 => BTreeMap::new(),
                1 => [(Side::Left, 1)].into_iter().collect(),
                _ => [(Side::Left, 1), (Side::Right, 2)].into_iter().collect(),
            },
            by_char: match k % 2 {
                0 => BTreeMap::new(),
                _ => [('x', 3), ('"', 4)].into_iter().collect(),
            },
            wide: [0, i128::MIN, i128::MAX][k % 3],
            letters: vec!['a', '"', '\\', '\n', 'é', '\u{0}'],
            unit: Unit,
            nothing: (),
            wrapped: Wrapped(i32::MIN),
            two: Two(i8::MIN, u16::MAX),
            tuple: (k % 2 == 0, [0.1f32, f32::NAN, -3.4e38][k % 3], F(1e-310)),
            small: (i8::MAX, i16::MIN, -7, u8::MAX, 0, u32::MAX),
            side: [Side::Left, Side::Right][k % 2].clone(),
            inner: Inner {
                depth: k as u32,
                maybe: [None, Some(true), Some(false)][k % 3],
            },
            quoted: 9,
        }
    }

    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
    struct Tick {
        name: String,
        round: u64,
    }

    /// A protocol that never runs: it only gives records awkward types to carry.
    #[derive(Clone, Debug)]
    struct Odd;

    #[derive(Clone)]
    struct Idle;

    impl Protocol for Odd {
        const NAME: &'static str = "odd";
        type Config = ();
        type Msg = Msg;
        type Timer = Tick;
        type Request = Msg;
        type Response = Vec<F>;
        type Record = ();
        type Client = Idle;

        fn new(_: NodeId, _: u32, _: &()) -> Self {
            Odd
        }
        fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
        fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Msg) {}
        fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: Tick) {}
        fn properties() -> Vec<PropertyDef<Self>> {
            Vec::new()
        }
    }

    impl ClientLogic<Odd> for Idle {
        fn new(_: ClientId, _: u32, _: &WorkloadConfig, _: &()) -> Self {
            Idle
        }
        fn on_start(&mut self, _: &mut ClientCtx<'_, Odd>) {}
        fn on_response(&mut self, _: &mut ClientCtx<'_, Odd>, _: NodeId, _: RequestId, _: Vec<F>) {}
        fn on_timer(&mut self, _: &mut ClientCtx<'_, Odd>, _: u64) {}
    }

    /// Strings that need every kind of escape, and some that need none.
    const AWKWARD: &[&str] = &[
        "",
        "plain",
        "quote \" backslash \\ slash /",
        "newline \n tab \t return \r nul \u{0} unit separator \u{1f} delete \u{7f}",
        "non-ASCII: é ✓ 𝄞",
        "\\",
        "\"",
    ];

    /// The writer's line and serde's for one record: the same bytes, and the same value
    /// when parsed.
    fn same(step: u64, t: u64, record: &Record<'_, Odd>) -> String {
        let serde = serde_json::to_string(&Line {
            step,
            t: Time(t),
            record,
        })
        .unwrap();
        let mut ours = Vec::new();
        record.write_json(step, Time(t), &mut ours).unwrap();
        let ours = String::from_utf8(ours).expect("UTF-8");
        assert_eq!(ours, serde);
        // A 128-bit integer does not fit serde_json's `Value`: compare those as text only.
        if let Ok(parsed) = serde_json::from_str::<serde_json::Value>(&ours) {
            assert_eq!(
                parsed,
                serde_json::from_str::<serde_json::Value>(&serde).unwrap()
            );
        }
        serde
    }

    /// Keeps the lines a recorder writes.
    struct Lines(std::rc::Rc<std::cell::RefCell<Vec<String>>>);

    impl super::super::TraceSink for Lines {
        fn line(&mut self, line: &str) -> Result<(), String> {
            self.0.borrow_mut().push(line.to_string());
            Ok(())
        }
    }

    #[test]
    fn the_recorder_writes_each_line_whole_when_steps_share_or_change_their_prefix() {
        let lines = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut recorder = super::super::Recorder::new(Some(Box::new(Lines(lines.clone()))));
        let msg = Payload::<Odd>::Peer(Msg::Pair(1, Some(AWKWARD[2].to_string())));
        let (n1, c1) = (Endpoint::Node(NodeId(0)), Endpoint::Client(ClientId(0)));
        let records = [
            Record::Held {
                id: 5,
                node: NodeId(1),
            },
            Record::Send {
                id: 123_456_789,
                from: n1,
                to: c1,
                copies: 1,
                msg: &msg,
            },
            Record::Phase { phase: "liveness" },
            Record::Sync {
                node: NodeId(3),
                ops: 2,
                failed: false,
            },
            Record::Sync {
                node: NodeId(3),
                ops: 2,
                failed: true,
            },
        ];
        // Steps that repeat, change, and come back with another time.
        let steps = [
            (1, 0),
            (1, 0),
            (1, 0),
            (2, 5),
            (10, 5),
            (10, 5),
            (10, 99),
            (12_345_678_901, u64::MAX),
        ];
        let mut expected = Vec::new();
        for (k, &(step, t)) in steps.iter().enumerate() {
            let r = &records[k % records.len()];
            recorder.record(step, Time(t), r).unwrap();
            expected.push(same(step, t, r));
        }
        assert_eq!(*lines.borrow(), expected);
    }

    #[test]
    fn a_delivery_copies_its_send_and_writes_the_same_line_as_serde() {
        let lines = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut recorder = super::super::Recorder::new(Some(Box::new(Lines(lines.clone()))));
        let msgs: Vec<Payload<Odd>> = vec![
            Payload::Peer(Msg::Pair(1, Some(AWKWARD[2].to_string()))),
            Payload::Peer(Msg::Empty),
            Payload::Request {
                id: RequestId(7),
                body: Msg::Text {
                    s: AWKWARD[4].to_string(),
                    n: u64::MAX,
                    i: -1,
                },
            },
            Payload::Response {
                id: RequestId(7),
                body: vec![F(0.5)],
            },
        ];
        let (a, b) = (Endpoint::Node(NodeId(0)), Endpoint::Client(ClientId(1)));
        let send = |id: u64, copies: u8| Record::Send {
            id,
            from: a,
            to: b,
            copies,
            msg: &msgs[id as usize % msgs.len()],
        };
        let deliver = |id: u64| Record::Deliver {
            id,
            from: a,
            to: b,
            msg: &msgs[id as usize % msgs.len()],
        };
        let lost = |id: u64, reason| Record::Lost {
            id,
            from: a,
            to: b,
            reason,
        };
        let records = [
            // Two copies delivered; one lost at send; one lost on the way after a held copy.
            send(0, 2),
            send(1, 0),
            lost(1, LossReason::Loss),
            deliver(0),
            send(2, 1),
            Record::Held {
                id: 2,
                node: NodeId(1),
            },
            deliver(0),
            send(3, 2),
            lost(2, LossReason::ReceiverDown),
            deliver(3),
            lost(3, LossReason::Partition),
            // A delivery whose send this recorder never saw, and one after its copies.
            deliver(9),
            deliver(3),
            send(4, 1),
            deliver(4),
        ];
        let mut expected = Vec::new();
        for (k, r) in records.iter().enumerate() {
            recorder.record(k as u64, Time(k as u64 * 10), r).unwrap();
            expected.push(same(k as u64, k as u64 * 10, r));
        }
        assert_eq!(*lines.borrow(), expected);
    }

    #[test]
    fn the_writer_matches_serde_byte_for_byte_for_every_kind_of_record() {
        let big = [
            0,
            1,
            9,
            10,
            99,
            100,
            12_345,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ];
        let ends = [
            Endpoint::Node(NodeId(0)),
            Endpoint::Node(NodeId(u32::MAX - 1)),
            Endpoint::Client(ClientId(0)),
            Endpoint::Client(ClientId(41)),
        ];
        let mut msgs: Vec<Msg> = vec![Msg::Empty, Msg::Pair(255, None)];
        for (k, s) in AWKWARD.iter().enumerate() {
            msgs.push(Msg::Text {
                s: s.to_string(),
                n: big[k % big.len()],
                i: [i64::MIN, -1, 0, i64::MAX][k % 4],
            });
            msgs.push(Msg::Pair(k as u8, Some(s.to_string())));
        }
        for k in 0..AWKWARD.len() {
            msgs.push(Msg::Rich(Box::new(rich(k))));
        }
        for f in [
            0.0,
            -0.0,
            1.5,
            -2.25e-300,
            1e300,
            0.1,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
        ] {
            msgs.push(Msg::Float(F(f)));
        }
        let mut payloads: Vec<Payload<Odd>> = Vec::new();
        for (k, m) in msgs.iter().enumerate() {
            payloads.push(Payload::Peer(m.clone()));
            payloads.push(Payload::Request {
                id: RequestId(big[k % big.len()]),
                body: m.clone(),
            });
        }
        payloads.push(Payload::Response {
            id: RequestId(u64::MAX),
            body: vec![F(0.5), F(-1e-7), F(f64::NAN)],
        });
        payloads.push(Payload::Response {
            id: RequestId(0),
            body: Vec::new(),
        });
        let mut kinds = std::collections::BTreeSet::new();
        let mut check = |step: u64, t: u64, r: Record<'_, Odd>| {
            let line = same(step, t, &r);
            let ev = line
                .split("\"ev\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next());
            kinds.insert(ev.unwrap_or_default().to_string());
        };
        for (k, &n) in big.iter().enumerate() {
            let node = NodeId([0, 4, u32::MAX - 1][k % 3]);
            check(
                n,
                big[big.len() - 1 - k],
                Record::Start {
                    node,
                    incarnation: [0, 7, u32::MAX][k % 3],
                    recover: k % 2 == 0,
                },
            );
            check(n, n, Record::Held { id: n, node });
            check(
                n,
                n,
                Record::Sync {
                    node,
                    ops: [0, 3, usize::MAX][k % 3],
                    failed: k % 2 == 1,
                },
            );
        }
        for (k, msg) in payloads.iter().enumerate() {
            let (from, to) = (ends[k % ends.len()], ends[(k + 1) % ends.len()]);
            let id = big[k % big.len()];
            check(
                id,
                k as u64,
                Record::Send {
                    id,
                    from,
                    to,
                    copies: [0, 1, 2, u8::MAX][k % 4],
                    msg,
                },
            );
            check(id, k as u64, Record::Deliver { id, from, to, msg });
        }
        for (k, reason) in [
            LossReason::Loss,
            LossReason::Partition,
            LossReason::ReceiverDown,
        ]
        .into_iter()
        .enumerate()
        {
            check(
                3,
                4,
                Record::Lost {
                    id: big[k],
                    from: ends[k],
                    to: ends[k + 1],
                    reason,
                },
            );
        }
        for s in AWKWARD {
            let timer = Tick {
                name: s.to_string(),
                round: u64::MAX,
            };
            check(
                5,
                6,
                Record::Timer {
                    node: NodeId(2),
                    timer: &timer,
                },
            );
        }
        let faults = [
            Fault::Crash(NodeId(1)),
            Fault::Partition(vec![vec![ends[0], ends[2]], vec![ends[1]]]),
            Fault::Bridge {
                groups: vec![vec![ends[0]], vec![ends[1]]],
                via: NodeId(2),
            },
            Fault::Isolate(ends[3]),
            Fault::Cut {
                from: ends[0],
                to: ends[3],
            },
            Fault::HealLinks,
            Fault::ClockStep {
                node: NodeId(3),
                offset_ms: i64::MIN,
            },
            Fault::ClockDrift {
                node: NodeId(3),
                ppm: i32::MAX,
            },
            Fault::Heal,
        ];
        let origins = [
            Origin::Schedule,
            Origin::Nemesis,
            Origin::Heal,
            Origin::Reaction,
            Origin::Strike,
        ];
        for (k, fault) in faults.iter().enumerate() {
            let detail = [None, Some(AWKWARD[k % AWKWARD.len()])][k % 2];
            check(
                7,
                8,
                Record::Fault {
                    fault,
                    origin: origins[k % origins.len()],
                    detail,
                },
            );
        }
        let values = [
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::Word("up"),
            Value::Node(None),
            Value::Node(Some(NodeId(9))),
            Value::Text(AWKWARD[3].to_string()),
        ];
        for (k, value) in values.iter().enumerate() {
            let key = ["state", "with \"quote\"", "count"][k % 3];
            check(
                9,
                10,
                Record::Note {
                    node: NodeId(k as u32),
                    key,
                    value,
                },
            );
        }
        let calls = [
            HistoryCall {
                f: "cas",
                key: Some(AWKWARD[2].to_string()),
                value: Val::List(vec![
                    Val::Int(i64::MIN),
                    Val::Str(AWKWARD[3].to_string()),
                    Val::Nil,
                ]),
            },
            HistoryCall {
                f: "read",
                key: None,
                value: Val::Nil,
            },
        ];
        let outcomes = [
            Outcome::Pending,
            Outcome::Ok(vec![F(1.25), F(-0.0)]),
            Outcome::Fail(vec![F(f64::MAX)]),
            Outcome::Unknown,
        ];
        let results = [
            Val::Int(i64::MAX),
            Val::Str(AWKWARD[4].to_string()),
            Val::Nil,
        ];
        for (k, request) in msgs.iter().enumerate() {
            let (op, client, process) = (OpId(k as u32), ClientId(k as u32), big[k % big.len()]);
            let call = [None, Some(&calls[0]), Some(&calls[1])][k % 3];
            check(
                11,
                12,
                Record::Invoke {
                    op,
                    client,
                    process,
                    request,
                    call,
                },
            );
            let result = [
                None,
                Some(&results[0]),
                Some(&results[1]),
                Some(&results[2]),
            ][k % 4];
            let outcome = &outcomes[k % outcomes.len()];
            check(
                13,
                14,
                Record::Complete {
                    op,
                    client,
                    process,
                    outcome,
                    result,
                },
            );
        }
        check(15, 16, Record::Phase { phase: "liveness" });
        for (k, s) in AWKWARD.iter().enumerate() {
            check(
                17,
                18,
                Record::Check {
                    check: s,
                    kind: "eventually",
                    status: AWKWARD[(k + 1) % AWKWARD.len()],
                },
            );
            let nodes: Vec<NodeId> = (0..k as u32).map(NodeId).collect();
            check(
                19,
                20,
                Record::Violation {
                    check: "agreement",
                    kind: s,
                    class: "safety",
                    nodes: &nodes,
                    message: AWKWARD[(k + 2) % AWKWARD.len()],
                },
            );
        }
        let refused = Refuses;
        let mut out = Vec::new();
        assert!(serde_json::to_string(&refused).is_err());
        assert!(
            json::value(&mut out, &refused).is_err(),
            "an error stays an error"
        );
        let pairs: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
        assert!(serde_json::to_string(&pairs).is_err());
        assert!(
            json::value(&mut out, &pairs).is_err(),
            "a key serde refuses"
        );
        let all = [
            "start",
            "send",
            "deliver",
            "lost",
            "held",
            "timer",
            "fault",
            "note",
            "sync",
            "invoke",
            "complete",
            "phase",
            "check",
            "violation",
        ];
        assert_eq!(kinds.len(), all.len(), "{kinds:?}");
        for ev in all {
            assert!(kinds.contains(ev), "{ev} not covered");
        }
    }
}
