//! The trace: one record per thing that happens, the run's fingerprint, and the human view.
//!
//! Every record is folded into a 64-bit fingerprint with our own pinned hash, whether or not
//! a trace is written, so two runs can be compared by one number. When a sink is attached,
//! each record is also written as one JSON line (schema [`TRACE_SCHEMA`], see docs/trace.md).
//! The engine never touches files: a sink is any [`TraceSink`]; [`file`] writes trace
//! files, and the CLI provides the replay comparer.
//!
//! Must not import the engine; never prints.

pub mod doc;
pub mod file;

use crate::base::hash::StableHasher;
use crate::base::types::{ClientId, Endpoint, NodeId, Time};
use crate::faults::Fault;
use crate::history::{OpId, Outcome};
use crate::lin::{HistoryCall, Val};
use crate::network::LossReason;
use crate::protocol::{Protocol, RequestId, Value};
use serde::Serialize;
use std::hash::{Hash, Hasher};

/// Version of the JSON Lines trace format. Bump it when a record changes shape.
pub const TRACE_SCHEMA: u32 = 1;

/// A trace sink refused a line: why, in words. Boxed, so that recording, which nearly
/// always succeeds, returns one word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkError(pub Box<String>);

impl SinkError {
    /// The reason, in words.
    pub fn into_reason(self) -> String {
        *self.0
    }
}

/// Where a trace line goes. Returning `Err` stops the run (an I/O error, or a replay that
/// found the first diverging line).
pub trait TraceSink {
    /// Takes one JSON line (without the newline).
    fn line(&mut self, line: &str) -> Result<(), String>;
}

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
    fn absorb(&self, h: &mut StableHasher) {
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

#[derive(Serialize)]
#[serde(bound = "")]
struct Line<'a, 'b, P: Protocol> {
    step: u64,
    t: Time,
    #[serde(flatten)]
    record: &'a Record<'b, P>,
}

/// Folds records into the fingerprint and writes them to the sink, if any.
pub struct Recorder {
    fingerprint: StableHasher,
    /// The step whose number and time are already in the fingerprint.
    absorbed_step: Option<u64>,
    records: u64,
    sink: Option<Box<dyn TraceSink>>,
    buf: Vec<u8>,
}

impl Recorder {
    /// A recorder writing to `sink` (or only fingerprinting when `None`).
    pub fn new(sink: Option<Box<dyn TraceSink>>) -> Recorder {
        Recorder {
            fingerprint: StableHasher::default(),
            absorbed_step: None,
            records: 0,
            sink,
            buf: Vec::with_capacity(256),
        }
    }

    /// Records one event of step `step` at time `t`.
    ///
    /// Fails when the sink refuses the line (an I/O error, or a replay that found the first
    /// diverging record): the run must stop there. The record is in the fingerprint either
    /// way. Inlined, so each call site folds in only its own kind of record; writing to the
    /// sink is out of line.
    #[inline(always)]
    pub fn record<P: Protocol>(
        &mut self,
        step: u64,
        t: Time,
        record: &Record<'_, P>,
    ) -> Result<(), SinkError> {
        // Records of one step share its number and time: fold those in once per step.
        if self.absorbed_step != Some(step) {
            self.absorbed_step = Some(step);
            self.fingerprint.word(step);
            self.fingerprint.word(t.0);
        }
        record.absorb(&mut self.fingerprint);
        self.records += 1;
        if self.sink.is_some() {
            return self.write(step, t, record);
        }
        Ok(())
    }

    /// Writes one record to the sink as a JSON line.
    #[inline(never)]
    fn write<P: Protocol>(
        &mut self,
        step: u64,
        t: Time,
        record: &Record<'_, P>,
    ) -> Result<(), SinkError> {
        let Some(sink) = &mut self.sink else {
            return Ok(());
        };
        self.buf.clear();
        let line = Line { step, t, record };
        serde_json::to_writer(&mut self.buf, &line)
            .map_err(|e| SinkError(Box::new(format!("could not serialize a trace record: {e}"))))?;
        // serde_json writes valid UTF-8.
        sink.line(std::str::from_utf8(&self.buf).unwrap_or(""))
            .map_err(|e| SinkError(Box::new(e)))
    }

    /// The fingerprint of everything recorded so far.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint.finish()
    }

    /// Records so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Whether a sink is attached (callers skip building costly records otherwise).
    pub fn has_sink(&self) -> bool {
        self.sink.is_some()
    }

    /// Hands the sink back (for the caller to write the summary and close it).
    pub fn take_sink(&mut self) -> Option<Box<dyn TraceSink>> {
        self.sink.take()
    }
}

/// The trace's first line: what was run (tool, version, seed, the effective scenario and its
/// overrides) and what the protocol's annotations mean (its vocabulary). Written by every
/// trace writer, so every trace can be replayed and read by the tools.
pub fn header<P: Protocol>(
    source: &str,
    scenario: &serde_json::Value,
    seed: u64,
    overrides: &[String],
) -> String {
    serde_json::json!({
        "ev": "header",
        "schema": TRACE_SCHEMA,
        "tool": "faultline",
        "version": crate::VERSION,
        "git_commit": crate::GIT_COMMIT,
        "seed": seed,
        "source": source,
        "overrides": overrides,
        "scenario": scenario,
        "vocabulary": P::vocabulary(),
    })
    .to_string()
}

/// Formats a fingerprint the way summaries show it.
pub fn fingerprint_hex(fp: u64) -> String {
    format!("{fp:016x}")
}

fn field<'a>(v: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    v.get(key).unwrap_or(&serde_json::Value::Null)
}

fn short(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

fn collect_names(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s)
            if crate::base::types::parse_prefixed(s, 'n').is_some()
                || crate::base::types::parse_prefixed(s, 'c').is_some() =>
        {
            out.push(s.clone())
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_names(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_names(x, out)),
        _ => {}
    }
}

/// The nodes and clients a trace line is about, for `--node` filters (a fault counts for
/// every vertex it names).
pub fn line_endpoints(v: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = ["node", "from", "to", "client"]
        .iter()
        .map(|k| field(v, k))
        .filter_map(|x| x.as_str().map(String::from))
        .collect();
    for key in ["fault", "nodes"] {
        if let Some(f) = v.get(key) {
            collect_names(f, &mut names);
        }
    }
    names
}

/// Renders a JSON value compactly for people: `{"ping":{"boot":1,"seq":2}}` becomes
/// `ping boot=1 seq=2`, and the `peer` wrapper of node-to-node messages is dropped.
pub fn compact(v: &serde_json::Value) -> String {
    use serde_json::Value as V;
    match v {
        V::String(s) => s.clone(),
        V::Null => "-".to_string(),
        V::Object(o) if o.len() == 1 => {
            let (k, inner) = o.iter().next().expect("one entry");
            match (k.as_str(), inner) {
                ("peer", _) => compact(inner),
                (_, V::Object(fields)) => {
                    let parts: Vec<String> = fields
                        .iter()
                        .map(|(fk, fv)| format!("{fk}={}", compact(fv)))
                        .collect();
                    format!("{k} {}", parts.join(" "))
                }
                (_, V::Bool(true)) => k.clone(),
                _ => format!("{k} {}", compact(inner)),
            }
        }
        V::Object(o) => {
            let parts: Vec<String> = o
                .iter()
                .map(|(k, x)| format!("{k}={}", compact(x)))
                .collect();
            format!("{{{}}}", parts.join(" "))
        }
        V::Array(a) => format!("[{}]", a.iter().map(compact).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    }
}

/// One fixed-column line for people: `step  time  where  event  details`. `None` for the
/// header and summary lines.
pub fn format_line(v: &serde_json::Value) -> Option<String> {
    let ev = field(v, "ev").as_str()?;
    if ev == "header" || ev == "summary" {
        return None;
    }
    let step = field(v, "step").as_u64().unwrap_or(0);
    let t = Time(field(v, "t").as_u64().unwrap_or(0));
    let (place, what, detail) = match ev {
        "start" => (
            short(field(v, "node")),
            if field(v, "recover").as_bool() == Some(true) {
                "^ recover"
            } else {
                "^ start"
            },
            format!("incarnation {}", field(v, "incarnation")),
        ),
        "send" => {
            let copies = field(v, "copies").as_u64().unwrap_or(1);
            let mark = match copies {
                0 => "  (lost)",
                2 => "  (x2)",
                _ => "",
            };
            (
                short(field(v, "from")),
                "> send",
                format!(
                    "#{} -> {}  {}{}",
                    field(v, "id"),
                    short(field(v, "to")),
                    compact(field(v, "msg")),
                    mark
                ),
            )
        }
        "deliver" => (
            short(field(v, "to")),
            "< recv",
            format!(
                "#{} <- {}  {}",
                field(v, "id"),
                short(field(v, "from")),
                compact(field(v, "msg"))
            ),
        ),
        "lost" => (
            short(field(v, "to")),
            "x lost",
            format!(
                "#{} {} -> {}  ({})",
                field(v, "id"),
                short(field(v, "from")),
                short(field(v, "to")),
                short(field(v, "reason"))
            ),
        ),
        "held" => (
            short(field(v, "node")),
            "= held",
            format!("#{} waits for resume", field(v, "id")),
        ),
        "timer" => (
            short(field(v, "node")),
            "@ timer",
            compact(field(v, "timer")),
        ),
        "fault" => {
            let detail = field(v, "detail")
                .as_str()
                .map(|d| format!("  ({d})"))
                .unwrap_or_default();
            let mut names = Vec::new();
            collect_names(field(v, "fault"), &mut names);
            let place = if names.len() == 1 {
                names.remove(0)
            } else {
                "*".to_string()
            };
            (
                place,
                "! fault",
                format!(
                    "{} by {}{}",
                    compact(field(v, "fault")),
                    short(field(v, "origin")),
                    detail
                ),
            )
        }
        "note" => (
            short(field(v, "node")),
            "~ state",
            format!("{} = {}", short(field(v, "key")), short(field(v, "value"))),
        ),
        "sync" => (
            short(field(v, "node")),
            "# sync",
            format!("{} ops durable", field(v, "ops")),
        ),
        "invoke" => (
            short(field(v, "client")),
            "+ invoke",
            format!(
                "op {} p{}  {}",
                field(v, "op"),
                field(v, "process"),
                compact(field(v, "request"))
            ),
        ),
        "complete" => (
            short(field(v, "client")),
            "- return",
            format!(
                "op {} p{}  {}",
                field(v, "op"),
                field(v, "process"),
                compact(field(v, "outcome"))
            ),
        ),
        "phase" => ("*".to_string(), "| phase", short(field(v, "phase"))),
        "check" => (
            "*".to_string(),
            "v check",
            format!(
                "{} ({}): {}",
                short(field(v, "check")),
                short(field(v, "kind")),
                short(field(v, "status"))
            ),
        ),
        "violation" => (
            "*".to_string(),
            "!! FAIL",
            format!(
                "{} ({}, {}): {}",
                short(field(v, "check")),
                short(field(v, "kind")),
                short(field(v, "class")),
                short(field(v, "message"))
            ),
        ),
        other => ("?".to_string(), "?", format!("{other}: {v}")),
    };
    Some(format!("{step:>8} {t:>16} {place:<5} {what:<9} {detail}"))
}
