//! Exports of a trace for other tools: Perfetto (Chrome's Trace Event Format), ShiViz (a log
//! with vector clocks) and Jepsen (the client history as EDN). See docs/exports.md.
//!
//! Every export takes a [`TraceDoc`] and returns the whole file as a `String`; the CLI reads
//! the trace and writes the result. Nothing here depends on the protocol: messages, notes and
//! faults are read from their JSON, so a trace of any protocol exports the same way.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::trace::compact;
use crate::trace::doc::TraceDoc;

/// A format `faultline export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Chrome Trace Event Format JSON, for ui.perfetto.dev and chrome://tracing.
    Perfetto,
    /// A ShiViz log: each event followed by its host and vector clock.
    Shiviz,
    /// The client history as Jepsen EDN, one operation map per line.
    Jepsen,
}

impl Format {
    /// Names accepted by `--format`.
    pub const NAMES: &'static [&'static str] = &["perfetto", "shiviz", "jepsen"];

    /// Looks a format up by name (`chrome` is Perfetto's format, `edn` is Jepsen's).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "perfetto" | "chrome" => Some(Format::Perfetto),
            "shiviz" => Some(Format::Shiviz),
            "jepsen" | "edn" => Some(Format::Jepsen),
            _ => None,
        }
    }
}

/// A record the export cannot read: its index in [`TraceDoc::records`] and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    /// Index into `records` (0 is the line after the header).
    pub record: usize,
    /// What was expected.
    pub message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {}: {}", self.record, self.message)
    }
}

/// Exports `doc` in `format` with the default options.
pub fn export(doc: &TraceDoc, format: Format) -> Result<String, RecordError> {
    match format {
        Format::Perfetto => perfetto(doc, &["role"]),
        Format::Shiviz => shiviz(doc),
        Format::Jepsen => jepsen(doc),
    }
}

// ---- reading records ----

/// One record with its index, for field access that reports what is missing.
#[derive(Clone, Copy)]
pub(crate) struct Rec<'a> {
    pub i: usize,
    pub v: &'a Value,
}

impl<'a> Rec<'a> {
    pub fn all(doc: &'a TraceDoc) -> impl Iterator<Item = Rec<'a>> {
        doc.records.iter().enumerate().map(|(i, v)| Rec { i, v })
    }

    pub fn fail<T>(&self, message: impl Into<String>) -> Result<T, RecordError> {
        Err(RecordError {
            record: self.i,
            message: message.into(),
        })
    }

    pub fn ev(&self) -> &'a str {
        self.v["ev"].as_str().unwrap_or("")
    }

    pub fn t(&self) -> Result<u64, RecordError> {
        match self.v.get("t").and_then(Value::as_u64) {
            Some(t) => Ok(t),
            None => self.fail(format!(
                "{}: t must be a whole number of microseconds",
                self.ev()
            )),
        }
    }

    pub fn str(&self, key: &str) -> Result<&'a str, RecordError> {
        match self.v.get(key).and_then(Value::as_str) {
            Some(s) => Ok(s),
            None => self.fail(format!("{}: {key} must be a string", self.ev())),
        }
    }

    pub fn u64(&self, key: &str) -> Result<u64, RecordError> {
        match self.v.get(key).and_then(Value::as_u64) {
            Some(s) => Ok(s),
            None => self.fail(format!("{}: {key} must be a whole number", self.ev())),
        }
    }

    pub fn get(&self, key: &str) -> &'a Value {
        self.v.get(key).unwrap_or(&Value::Null)
    }
}

/// The run's nodes and clients, numbered nodes first: `n1` is 0, `c1` is the node count.
pub(crate) struct Hosts {
    pub nodes: usize,
    pub clients: usize,
}

impl Hosts {
    pub fn of(doc: &TraceDoc) -> Hosts {
        Hosts {
            nodes: doc.nodes() as usize,
            clients: doc.clients() as usize,
        }
    }

    pub fn len(&self) -> usize {
        self.nodes + self.clients
    }

    pub fn name(&self, i: usize) -> String {
        if i < self.nodes {
            format!("n{}", i + 1)
        } else {
            format!("c{}", i - self.nodes + 1)
        }
    }

    /// The index of `n3` or `c2`, if the run has it.
    pub fn index(&self, name: &str) -> Option<usize> {
        let (base, count, digits) = match name.as_bytes().first() {
            Some(b'n') => (0, self.nodes, &name[1..]),
            Some(b'c') => (self.nodes, self.clients, &name[1..]),
            _ => return None,
        };
        let k: usize = digits.parse().ok()?;
        (k >= 1 && k <= count).then(|| base + k - 1)
    }

    /// The index of field `key` of `r`, which must name one of the run's nodes or clients.
    pub fn field(&self, r: Rec<'_>, key: &str) -> Result<usize, RecordError> {
        let name = r.str(key)?;
        match self.index(name) {
            Some(i) => Ok(i),
            None => r.fail(format!(
                "{}: {key} {name:?} is not a node or client of this run ({} nodes, {} clients)",
                r.ev(),
                self.nodes,
                self.clients
            )),
        }
    }
}

/// The nodes and clients a fault names, in the order they appear.
pub(crate) fn fault_endpoints(fault: &Value, out: &mut Vec<String>) {
    match fault {
        Value::String(s) if s != "heal" && s != "heal_links" && !out.contains(s) => {
            out.push(s.clone());
        }
        Value::Array(items) => items.iter().for_each(|x| fault_endpoints(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            if k != "offset_ms" && k != "ppm" {
                fault_endpoints(x, out)
            }
        }),
        _ => {}
    }
}

/// A fault for people: `crash n2`, `partition {n1 n2} | {n3 n4 n5}`, `cut n3 -> n4`.
pub(crate) fn fault_text(fault: &Value) -> String {
    let group = |g: &Value| match g {
        Value::Array(xs) => format!(
            "{{{}}}",
            xs.iter().map(compact).collect::<Vec<_>>().join(" ")
        ),
        other => compact(other),
    };
    let groups = |gs: &Value| match gs {
        Value::Array(xs) => xs.iter().map(group).collect::<Vec<_>>().join(" | "),
        other => compact(other),
    };
    match fault {
        Value::String(s) => s.replace('_', " "),
        Value::Object(o) if o.len() == 1 => {
            let (k, x) = o.iter().next().expect("one entry");
            match k.as_str() {
                "partition" => format!("partition {}", groups(x)),
                "bridge" => format!("bridge {} via {}", groups(&x["groups"]), compact(&x["via"])),
                "cut" | "repair" => {
                    format!("{k} {} -> {}", compact(&x["from"]), compact(&x["to"]))
                }
                "clock_step" => format!(
                    "clock step {} by {} ms",
                    compact(&x["node"]),
                    compact(&x["offset_ms"])
                ),
                "clock_drift" => format!(
                    "clock drift {} {} ppm",
                    compact(&x["node"]),
                    compact(&x["ppm"])
                ),
                _ => format!("{} {}", k.replace('_', " "), compact(x)),
            }
        }
        other => compact(other),
    }
}

/// The kind of a message, for labels: `append_entries`, `request get`, `response ok`.
pub(crate) fn msg_kind(msg: &Value) -> String {
    fn tag(v: &Value) -> String {
        match v {
            Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
            Value::String(s) => s.clone(),
            other => compact(other),
        }
    }
    match msg {
        Value::Object(o) if o.len() == 1 => {
            let (k, x) = o.iter().next().expect("one entry");
            match k.as_str() {
                "peer" => tag(x),
                "request" | "response" => format!("{k} {}", tag(&x["body"])),
                _ => k.clone(),
            }
        }
        other => tag(other),
    }
}

/// Whether a fault record did nothing (`detail` says `ignored: ...`).
pub(crate) fn fault_ignored(r: Rec<'_>) -> bool {
    r.get("detail")
        .as_str()
        .is_some_and(|d| d.starts_with("ignored"))
}

/// The run's end: the summary's `time_end`, else the last record's time.
pub(crate) fn time_end(doc: &TraceDoc) -> u64 {
    let last = doc
        .records
        .iter()
        .filter_map(|r| r["t"].as_u64())
        .max()
        .unwrap_or(0);
    doc.summary
        .as_ref()
        .and_then(|s| s["time_end"].as_u64())
        .unwrap_or(last)
        .max(last)
}

/// One line of text: JSON-compact, with no line breaks.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

// ---- Perfetto / Chrome Trace Event Format ----

/// Thread of a node process: up/down and pause periods.
const TID_STATUS: u64 = 1;
/// First thread of a node process for annotation spans (one per span key).
const TID_SPANS: u64 = 2;

/// The trace in Chrome's Trace Event Format (JSON object form), one event per line.
///
/// Process 0 is the run (faults, phases, check results, the violation); each node and each
/// client is a process of its own. A node has a `status` thread (down and paused periods), a
/// thread per annotation key in `span_keys` (a slice per value the key held: Raft's `role`
/// by default), an `activity` thread (one 1 µs slice per microsecond in which the node
/// started, sent, received or ran a timer, the flow arrows of messages bound to them) and a
/// `notes` thread (instants for every annotation, fault and loss). A client has an `activity`
/// thread and one thread per process, whose slices are its operations.
pub fn perfetto(doc: &TraceDoc, span_keys: &[&str]) -> Result<String, RecordError> {
    let hosts = Hosts::of(doc);
    let end = time_end(doc);
    let k = span_keys.len() as u64;
    let tid_activity = TID_SPANS + k;
    let tid_notes = tid_activity + 1;
    let pid = |h: usize| h as u64 + 1;
    let mut ev = Events(Vec::new());

    // Names and order of processes and threads.
    let meta = |ev: &mut Events, pid: u64, tid: u64, what: &str, name: &str| {
        ev.push(json!({"name": what, "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}}));
    };
    meta(
        &mut ev,
        0,
        0,
        "process_name",
        &format!("run {}", doc.source()),
    );
    ev.push(json!({"name": "process_sort_index", "ph": "M", "pid": 0, "tid": 0, "args": {"sort_index": 0}}));
    meta(&mut ev, 0, 1, "thread_name", "faults and checks");
    for h in 0..hosts.len() {
        let p = pid(h);
        meta(&mut ev, p, 0, "process_name", &hosts.name(h));
        ev.push(json!({"name": "process_sort_index", "ph": "M", "pid": p, "tid": 0, "args": {"sort_index": p}}));
        if h < hosts.nodes {
            meta(&mut ev, p, TID_STATUS, "thread_name", "status");
            for (j, key) in span_keys.iter().enumerate() {
                meta(&mut ev, p, TID_SPANS + j as u64, "thread_name", key);
            }
            meta(&mut ev, p, tid_notes, "thread_name", "notes");
        }
        meta(&mut ev, p, tid_activity, "thread_name", "activity");
    }

    // Activity slices, one per host and microsecond: what happened, and the flows bound to it.
    let mut activity: BTreeMap<(usize, u64), Vec<String>> = BTreeMap::new();
    // Message id -> (sender, send time, kind).
    let mut sent: BTreeMap<u64, (usize, u64, String)> = BTreeMap::new();
    let mut flow_id = 0u64;
    // Open spans: (node, key index) -> (value, since).
    let mut spans: BTreeMap<(usize, usize), (Value, u64)> = BTreeMap::new();
    // Down and paused periods: node -> since.
    let mut down: BTreeMap<usize, u64> = BTreeMap::new();
    let mut paused: BTreeMap<usize, u64> = BTreeMap::new();
    let mut started = vec![false; hosts.nodes];
    // Open operations: op number -> (client, process, invoke time, request).
    let mut ops: BTreeMap<u64, (usize, u64, u64, Value)> = BTreeMap::new();
    let mut processes: BTreeSet<(usize, u64)> = BTreeSet::new();

    let x = |ev: &mut Events,
             pid: u64,
             tid: u64,
             cat: &str,
             name: String,
             ts: u64,
             dur: u64,
             args: Value| {
        ev.push(json!({"name": name, "cat": cat, "ph": "X", "pid": pid, "tid": tid, "ts": ts, "dur": dur, "args": args}));
    };
    // A node's down or paused period, from `since` until `until`, on its status track.
    let status_span = |ev: &mut Events, node: usize, what: &str, since: u64, until: u64| {
        x(
            ev,
            pid(node),
            TID_STATUS,
            "status",
            what.into(),
            since,
            until.saturating_sub(since),
            json!({}),
        );
    };
    let instant = |ev: &mut Events,
                   pid: u64,
                   tid: u64,
                   cat: &str,
                   name: String,
                   ts: u64,
                   scope: &str,
                   args: Value| {
        ev.push(json!({"name": name, "cat": cat, "ph": "i", "s": scope, "pid": pid, "tid": tid, "ts": ts, "args": args}));
    };
    let close_spans = |ev: &mut Events,
                       spans: &mut BTreeMap<(usize, usize), (Value, u64)>,
                       node: usize,
                       t: u64| {
        for (j, key) in span_keys.iter().enumerate() {
            if let Some((value, since)) = spans.remove(&(node, j)) {
                let name = compact(&value);
                x(
                    ev,
                    pid(node),
                    TID_SPANS + j as u64,
                    "state",
                    name,
                    since,
                    t.saturating_sub(since),
                    json!({ *key: value }),
                );
            }
        }
    };

    for r in Rec::all(doc) {
        let t = r.t()?;
        match r.ev() {
            "start" => {
                let n = hosts.field(r, "node")?;
                if n < hosts.nodes {
                    started[n] = true;
                    if let Some(since) = down.remove(&n) {
                        status_span(&mut ev, n, "down", since, t);
                    }
                }
                let word = if r.get("recover").as_bool() == Some(true) {
                    "recover"
                } else {
                    "start"
                };
                activity.entry((n, t)).or_default().push(format!(
                    "{word} (incarnation {})",
                    compact(r.get("incarnation"))
                ));
            }
            "send" => {
                let from = hosts.field(r, "from")?;
                let to = hosts.field(r, "to")?;
                let kind = msg_kind(r.get("msg"));
                let lost = if r.get("copies").as_u64() == Some(0) {
                    " (lost)"
                } else {
                    ""
                };
                activity.entry((from, t)).or_default().push(format!(
                    "send #{} {kind} -> {}{lost}",
                    r.u64("id")?,
                    hosts.name(to)
                ));
                sent.insert(r.u64("id")?, (from, t, kind));
            }
            "deliver" => {
                let to = hosts.field(r, "to")?;
                let from = hosts.field(r, "from")?;
                let id = r.u64("id")?;
                let kind = msg_kind(r.get("msg"));
                activity
                    .entry((to, t))
                    .or_default()
                    .push(format!("recv #{id} {kind} <- {}", hosts.name(from)));
                if let Some((sender, ts, _)) = sent.get(&id) {
                    // One flow per delivered copy: a duplicate gets its own arrow.
                    let name = format!("#{id} {kind}");
                    let args = json!({"id": id, "msg": r.get("msg")});
                    ev.push(json!({"name": name, "cat": "message", "ph": "s", "id": flow_id, "pid": pid(*sender), "tid": tid_activity, "ts": *ts as f64 + 0.5, "args": args}));
                    ev.push(json!({"name": name, "cat": "message", "ph": "f", "bp": "e", "id": flow_id, "pid": pid(to), "tid": tid_activity, "ts": t as f64 + 0.5}));
                    flow_id += 1;
                }
            }
            "lost" => {
                let to = hosts.field(r, "to")?;
                let id = r.u64("id")?;
                let reason = compact(r.get("reason"));
                if to < hosts.nodes {
                    instant(
                        &mut ev,
                        pid(to),
                        tid_notes,
                        "message",
                        format!("lost #{id} ({reason})"),
                        t,
                        "t",
                        json!({"id": id, "from": r.get("from"), "reason": reason}),
                    );
                }
            }
            "timer" => {
                let n = hosts.field(r, "node")?;
                activity
                    .entry((n, t))
                    .or_default()
                    .push(format!("timer {}", compact(r.get("timer"))));
            }
            "note" => {
                let n = hosts.field(r, "node")?;
                let key = r.str("key")?;
                let value = r.get("value");
                if n < hosts.nodes {
                    instant(
                        &mut ev,
                        pid(n),
                        tid_notes,
                        "note",
                        format!("{key} = {}", compact(value)),
                        t,
                        "t",
                        json!({ key: value }),
                    );
                    if let Some(j) = span_keys.iter().position(|k| *k == key) {
                        let same = spans.get(&(n, j)).is_some_and(|(v, _)| v == value);
                        if !same {
                            if let Some((old, since)) = spans.remove(&(n, j)) {
                                x(
                                    &mut ev,
                                    pid(n),
                                    TID_SPANS + j as u64,
                                    "state",
                                    compact(&old),
                                    since,
                                    t.saturating_sub(since),
                                    json!({ key: old }),
                                );
                            }
                            spans.insert((n, j), (value.clone(), t));
                        }
                    }
                }
            }
            "fault" => {
                let fault = r.get("fault");
                let text = fault_text(fault);
                let args =
                    json!({"fault": fault, "origin": r.get("origin"), "detail": r.get("detail")});
                instant(&mut ev, 0, 1, "fault", text.clone(), t, "p", args.clone());
                let mut named = Vec::new();
                fault_endpoints(fault, &mut named);
                for name in &named {
                    if let Some(h) = hosts.index(name).filter(|h| *h < hosts.nodes) {
                        instant(
                            &mut ev,
                            pid(h),
                            tid_notes,
                            "fault",
                            text.clone(),
                            t,
                            "t",
                            args.clone(),
                        );
                    }
                }
                if fault_ignored(r) {
                    continue;
                }
                let target = match fault {
                    Value::Object(o) if o.len() == 1 => o.iter().next().and_then(|(kind, v)| {
                        let h = hosts.index(v.as_str()?)?;
                        (h < hosts.nodes).then_some((kind.as_str(), h))
                    }),
                    _ => None,
                };
                match target {
                    Some(("crash", n)) => {
                        close_spans(&mut ev, &mut spans, n, t);
                        if let Some(since) = paused.remove(&n) {
                            status_span(&mut ev, n, "paused", since, t);
                        }
                        down.entry(n).or_insert(t);
                    }
                    Some(("pause", n)) => {
                        paused.entry(n).or_insert(t);
                    }
                    Some(("resume", n)) => {
                        if let Some(since) = paused.remove(&n) {
                            status_span(&mut ev, n, "paused", since, t);
                        }
                    }
                    _ => {}
                }
            }
            "invoke" => {
                let c = hosts.field(r, "client")?;
                let process = r.u64("process")?;
                processes.insert((c, process));
                ops.insert(r.u64("op")?, (c, process, t, r.get("request").clone()));
            }
            "complete" => {
                let op = r.u64("op")?;
                let Some((c, process, since, request)) = ops.remove(&op) else {
                    return r.fail(format!("complete: op {op} was never invoked"));
                };
                let outcome = r.get("outcome");
                let result = match outcome {
                    Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
                    other => compact(other),
                };
                let name = format!("{} -> {result}", call_label(&request));
                x(
                    &mut ev,
                    pid(c),
                    (tid_activity + 1).saturating_add(process),
                    "op",
                    name,
                    since,
                    t.saturating_sub(since),
                    json!({"op": op, "request": request, "outcome": outcome}),
                );
            }
            "phase" => {
                instant(
                    &mut ev,
                    0,
                    1,
                    "phase",
                    format!("phase {}", compact(r.get("phase"))),
                    t,
                    "p",
                    json!({}),
                );
            }
            "check" => {
                let name = format!(
                    "{} ({}): {}",
                    compact(r.get("check")),
                    compact(r.get("kind")),
                    compact(r.get("status"))
                );
                instant(&mut ev, 0, 1, "check", name, t, "p", r.v.clone());
            }
            "violation" => {
                let name = format!(
                    "VIOLATION {} ({})",
                    compact(r.get("check")),
                    compact(r.get("kind"))
                );
                instant(
                    &mut ev,
                    0,
                    1,
                    "violation",
                    name.clone(),
                    t,
                    "g",
                    r.v.clone(),
                );
                if let Some(nodes) = r.get("nodes").as_array() {
                    for h in nodes.iter().filter_map(|n| hosts.index(n.as_str()?)) {
                        if h < hosts.nodes {
                            instant(
                                &mut ev,
                                pid(h),
                                tid_notes,
                                "violation",
                                name.clone(),
                                t,
                                "t",
                                r.v.clone(),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }

    // What is still open ends with the run.
    for (n, was_started) in started.iter().enumerate() {
        close_spans(&mut ev, &mut spans, n, end);
        if let Some(since) = paused.remove(&n) {
            status_span(&mut ev, n, "paused", since, end);
        }
        if let Some(since) = down.remove(&n) {
            status_span(&mut ev, n, "down", since, end);
        } else if !was_started {
            x(
                &mut ev,
                pid(n),
                TID_STATUS,
                "status",
                "never started".into(),
                0,
                end,
                json!({}),
            );
        }
    }
    for (op, (c, process, since, request)) in ops {
        let name = format!("{} (no outcome by the end)", call_label(&request));
        x(
            &mut ev,
            pid(c),
            (tid_activity + 1).saturating_add(process),
            "op",
            name,
            since,
            end.saturating_sub(since),
            json!({"op": op, "request": request}),
        );
    }
    for ((h, t), items) in activity {
        let name = match items.len() {
            1 => items[0].clone(),
            n => format!("{} (+{})", items[0], n - 1),
        };
        x(
            &mut ev,
            pid(h),
            tid_activity,
            "activity",
            name,
            t,
            1,
            json!({ "events": items }),
        );
    }
    for (c, process) in &processes {
        meta(
            &mut ev,
            pid(*c),
            (tid_activity + 1).saturating_add(*process),
            "thread_name",
            &format!("process {process}"),
        );
    }

    let metadata = json!({
        "tool": "faultline",
        "source": doc.source(),
        "seed": doc.seed(),
        "protocol": doc.protocol(),
        "description": doc.description(),
        "verdict": doc.summary.as_ref().map(|s| s["verdict"].clone()),
        "fingerprint": doc.summary.as_ref().map(|s| s["fingerprint"].clone()),
        "time_unit": "ts and dur are microseconds of virtual time",
    });
    let mut out = String::from("{\"traceEvents\":[\n");
    out.push_str(&ev.0.join(",\n"));
    out.push_str("\n],\n\"displayTimeUnit\":\"ms\",\n\"metadata\":");
    out.push_str(&metadata.to_string());
    out.push_str("}\n");
    Ok(out)
}

/// Trace events, each already serialized (a `Value` per event would take several times the
/// memory of the text).
struct Events(Vec<String>);

impl Events {
    fn push(&mut self, event: Value) {
        self.0.push(event.to_string());
    }
}

/// A request for labels: its function and key, `get k1`, `echo`.
fn call_label(request: &Value) -> String {
    let c = history_call(request);
    match c.key {
        Some(k) => format!("{} {}", c.f, edn_plain(&k)),
        None => c.f,
    }
}

fn edn_plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => compact(other),
    }
}

// ---- ShiViz ----

/// ShiViz's parser expression, the first line of the file: an event line, then a line with
/// the host and its vector clock.
pub const SHIVIZ_REGEX: &str = r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})";

/// The trace as a ShiViz log with vector clocks.
///
/// Line 1 is the parser expression ([`SHIVIZ_REGEX`]), line 2 the (empty) delimiter of
/// multiple executions, then two lines per event: what happened (with its virtual time), and
/// the host with its vector clock. Hosts are the nodes and clients. A send ticks the sender's
/// clock and the message carries the result; a delivery takes the entry-wise maximum with the
/// message's clock, then ticks the receiver. Starts, timers, notes, faults, invocations and
/// completions tick their host's clock; a fault ticks every node it names (every node for a
/// heal). Losses, holds and syncs are not events here.
pub fn shiviz(doc: &TraceDoc) -> Result<String, RecordError> {
    let hosts = Hosts::of(doc);
    let mut clocks: Vec<Vec<u64>> = vec![vec![0; hosts.len()]; hosts.len()];
    let mut carried: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut out = String::new();
    out.push_str(SHIVIZ_REGEX);
    out.push_str("\n\n");
    let event = |out: &mut String, clocks: &mut Vec<Vec<u64>>, h: usize, t: u64, text: String| {
        clocks[h][h] += 1;
        let entries: Vec<String> = clocks[h]
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(j, c)| format!("\"{}\":{c}", hosts.name(j)))
            .collect();
        out.push_str(&format!(
            "{} {}\n{} {{{}}}\n",
            crate::base::types::Time(t),
            one_line(&text),
            hosts.name(h),
            entries.join(",")
        ));
    };
    for r in Rec::all(doc) {
        let t = r.t()?;
        match r.ev() {
            "start" => {
                let n = hosts.field(r, "node")?;
                let word = if r.get("recover").as_bool() == Some(true) {
                    "recover"
                } else {
                    "start"
                };
                event(
                    &mut out,
                    &mut clocks,
                    n,
                    t,
                    format!("{word} incarnation {}", compact(r.get("incarnation"))),
                );
            }
            "send" => {
                let from = hosts.field(r, "from")?;
                let to = hosts.field(r, "to")?;
                let id = r.u64("id")?;
                let lost = if r.get("copies").as_u64() == Some(0) {
                    " (lost)"
                } else {
                    ""
                };
                let text = format!(
                    "send #{id} {} to {}{lost}: {}",
                    msg_kind(r.get("msg")),
                    hosts.name(to),
                    compact(r.get("msg"))
                );
                event(&mut out, &mut clocks, from, t, text);
                carried.insert(id, clocks[from].clone());
            }
            "deliver" => {
                let to = hosts.field(r, "to")?;
                let from = hosts.field(r, "from")?;
                let id = r.u64("id")?;
                let Some(theirs) = carried.get(&id) else {
                    return r.fail(format!("deliver: message #{id} was never sent"));
                };
                for (mine, their) in clocks[to].iter_mut().zip(theirs) {
                    *mine = (*mine).max(*their);
                }
                let text = format!(
                    "recv #{id} {} from {}: {}",
                    msg_kind(r.get("msg")),
                    hosts.name(from),
                    compact(r.get("msg"))
                );
                event(&mut out, &mut clocks, to, t, text);
            }
            "timer" => {
                let n = hosts.field(r, "node")?;
                event(
                    &mut out,
                    &mut clocks,
                    n,
                    t,
                    format!("timer {}", compact(r.get("timer"))),
                );
            }
            "note" => {
                let n = hosts.field(r, "node")?;
                event(
                    &mut out,
                    &mut clocks,
                    n,
                    t,
                    format!("{} = {}", r.str("key")?, compact(r.get("value"))),
                );
            }
            "fault" => {
                let fault = r.get("fault");
                let mut named = Vec::new();
                fault_endpoints(fault, &mut named);
                let mut targets: Vec<usize> = named.iter().filter_map(|n| hosts.index(n)).collect();
                if named.is_empty() {
                    targets = (0..hosts.nodes).collect();
                }
                let detail = match r.get("detail").as_str() {
                    Some(d) => format!(" ({d})"),
                    None => String::new(),
                };
                let text = format!(
                    "fault {} by {}{detail}",
                    fault_text(fault),
                    compact(r.get("origin"))
                );
                for h in targets {
                    event(&mut out, &mut clocks, h, t, text.clone());
                }
            }
            "invoke" | "complete" => {
                let c = hosts.field(r, "client")?;
                let ev = r.ev();
                let what = if ev == "invoke" { "request" } else { "outcome" };
                let text = format!(
                    "{ev} op {} process {}: {}",
                    r.u64("op")?,
                    r.u64("process")?,
                    compact(r.get(what))
                );
                event(&mut out, &mut clocks, c, t, text);
            }
            "violation" => {
                let text = format!(
                    "VIOLATION {} ({}): {}",
                    compact(r.get("check")),
                    compact(r.get("kind")),
                    compact(r.get("message"))
                );
                let named: Vec<usize> = r
                    .get("nodes")
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| hosts.index(n.as_str()?))
                    .collect();
                let targets = if named.is_empty() {
                    (0..hosts.nodes).collect()
                } else {
                    named
                };
                for h in targets {
                    event(&mut out, &mut clocks, h, t, text.clone());
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

// ---- Jepsen EDN ----

/// A request as a history function, read from its JSON without knowing the protocol: a
/// one-key object `{"get": {"key": "k1"}}` is the function `get` with its `key`; the
/// argument is the `value` field, or else the other fields (one: itself, several: a vector in
/// their order); a bare value `{"echo": 2}` is the argument itself; a string is a function
/// with no argument.
pub(crate) struct Call {
    pub f: String,
    pub key: Option<Value>,
    pub value: Value,
}

pub(crate) fn history_call(request: &Value) -> Call {
    match request {
        Value::String(s) => Call {
            f: s.clone(),
            key: None,
            value: Value::Null,
        },
        Value::Object(o) if o.len() == 1 => {
            let (f, args) = o.iter().next().expect("one entry");
            let (key, value) = match args {
                Value::Object(fields) => {
                    let key = fields.get("key").cloned();
                    let value = match fields.get("value") {
                        Some(v) => v.clone(),
                        None => {
                            let rest: Vec<Value> = fields
                                .iter()
                                .filter(|(k, _)| *k != "key")
                                .map(|(_, v)| v.clone())
                                .collect();
                            match rest.len() {
                                0 => Value::Null,
                                1 => rest[0].clone(),
                                _ => Value::Array(rest),
                            }
                        }
                    };
                    (key, value)
                }
                other => (None, other.clone()),
            };
            Call {
                f: f.clone(),
                key,
                value,
            }
        }
        other => Call {
            f: "op".into(),
            key: None,
            value: other.clone(),
        },
    }
}

/// A response as the value an operation returned: the `value` field of a one-key object
/// (`{"ok": {"value": "x"}}` is `"x"`), else the object's single value, else nothing.
pub(crate) fn history_value(response: &Value) -> Value {
    match response {
        Value::Object(o) if o.len() == 1 => {
            let inner = o.values().next().expect("one entry");
            match inner {
                Value::Object(fields) => fields.get("value").cloned().unwrap_or(Value::Null),
                other => other.clone(),
            }
        }
        Value::Object(o) => o.get("value").cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// A keyword name from a function name: letters, digits, `-`, `_`, `.`, `?`, `!`; anything
/// else becomes `-`.
fn keyword(name: &str) -> String {
    let k: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.?!*".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if k.is_empty() { "op".into() } else { k }
}

/// A JSON value as EDN: strings quoted with escapes, arrays as vectors, null as nil, objects
/// as maps with keyword keys.
pub fn edn(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        Value::Array(items) => format!("[{}]", items.iter().map(edn).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, x)| format!(":{} {}", keyword(k), edn(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The client history as Jepsen EDN: one operation map per line, in the order of the trace.
///
/// An `invoke` record becomes `{:type :invoke, :f :F, :key K, :value V, :process P, :time
/// NS, :index I}` (`:key` only when the request has one); a `complete` record becomes the
/// same map with `:type :ok` (`:value` is what the response returned), `:fail` (likewise) or
/// `:info` (an unknown outcome; `:value` repeats the invocation's). `:time` is the virtual
/// time in nanoseconds, `:index` the position in the file. Operations still open at the end
/// have no completion: Jepsen's checkers read them as unknown.
pub fn jepsen(doc: &TraceDoc) -> Result<String, RecordError> {
    let mut open: BTreeMap<u64, Call> = BTreeMap::new();
    let mut out = String::new();
    let mut index = 0u64;
    let mut line = |out: &mut String,
                    ty: &str,
                    call: &Call,
                    value: &Value,
                    process: u64,
                    t: u64| {
        let key = match &call.key {
            Some(k) => format!(", :key {}", edn(k)),
            None => String::new(),
        };
        out.push_str(&format!(
            "{{:type :{ty}, :f :{}{key}, :value {}, :process {process}, :time {}, :index {index}}}\n",
            keyword(&call.f),
            edn(value),
            t.saturating_mul(1000)
        ));
        index += 1;
    };
    for r in Rec::all(doc) {
        match r.ev() {
            "invoke" => {
                let t = r.t()?;
                let call = history_call(r.get("request"));
                line(&mut out, "invoke", &call, &call.value, r.u64("process")?, t);
                open.insert(r.u64("op")?, call);
            }
            "complete" => {
                let t = r.t()?;
                let op = r.u64("op")?;
                let Some(call) = open.remove(&op) else {
                    return r.fail(format!("complete: op {op} was never invoked"));
                };
                let outcome = r.get("outcome");
                let (ty, value) = match outcome {
                    Value::Object(o) if o.contains_key("ok") => ("ok", history_value(&o["ok"])),
                    Value::Object(o) if o.contains_key("fail") => {
                        ("fail", history_value(&o["fail"]))
                    }
                    _ => ("info", call.value.clone()),
                };
                line(&mut out, ty, &call, &value, r.u64("process")?, t);
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_map_to_history_calls() {
        let c = history_call(&json!({"put": {"key": "k1", "value": "x"}}));
        assert_eq!(
            (c.f.as_str(), c.key, c.value),
            ("put", Some(json!("k1")), json!("x"))
        );
        let c = history_call(&json!({"cas": {"key": "k", "from": 1, "to": 2}}));
        assert_eq!(c.value, json!([1, 2]));
        let c = history_call(&json!({"echo": 2}));
        assert_eq!((c.f.as_str(), c.key, c.value), ("echo", None, json!(2)));
        assert_eq!(history_value(&json!({"ok": {"value": "v"}})), json!("v"));
        assert_eq!(
            history_value(&json!({"echoed": {"value": 2, "by": "n1"}})),
            json!(2)
        );
        assert_eq!(history_value(&json!({"ok": {"value": null}})), Value::Null);
    }

    #[test]
    fn edn_escapes_strings_and_writes_keywords() {
        assert_eq!(edn(&json!("a\"b\\c\nd")), r#""a\"b\\c\nd""#);
        assert_eq!(edn(&json!([1, null, "x"])), r#"[1 nil "x"]"#);
        assert_eq!(keyword("not leader"), "not-leader");
    }

    #[test]
    fn faults_read_like_the_scenario() {
        let p = json!({"partition": [["n1", "n2"], ["n3", "n4", "n5"]]});
        assert_eq!(fault_text(&p), "partition {n1 n2} | {n3 n4 n5}");
        assert_eq!(fault_text(&json!({"crash": "n2"})), "crash n2");
        assert_eq!(fault_text(&json!("heal_links")), "heal links");
        assert_eq!(
            fault_text(&json!({"cut": {"from": "n3", "to": "n4"}})),
            "cut n3 -> n4"
        );
        let mut names = Vec::new();
        fault_endpoints(
            &json!({"bridge": {"groups": [["n2"], ["n3"]], "via": "n1"}}),
            &mut names,
        );
        assert_eq!(names, ["n2", "n3", "n1"]);
        let mut names = Vec::new();
        fault_endpoints(
            &json!({"clock_step": {"node": "n4", "offset_ms": -500}}),
            &mut names,
        );
        assert_eq!(names, ["n4"]);
    }

    #[test]
    fn hosts_number_nodes_then_clients() {
        let h = Hosts {
            nodes: 3,
            clients: 2,
        };
        assert_eq!(h.index("n3"), Some(2));
        assert_eq!(h.index("c1"), Some(3));
        assert_eq!(h.index("n4"), None);
        assert_eq!(h.index("n0"), None);
        assert_eq!(h.index("x1"), None);
        assert_eq!(h.name(4), "c2");
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    const HEAD: &str = r#"{"ev":"header","schema":1,"seed":1,"source":"x","scenario":{"nodes":2,"protocol":{"name":"raft"},"workload":{"clients":1}}}"#;

    /// Traces that parse but make no sense: every export and the narrative answer with an
    /// error or with text, never a panic.
    #[test]
    fn strange_records_give_errors_or_text_never_a_panic() {
        let records = [
            r#"{"step":1,"t":9,"ev":"fault","fault":{"crash":"n1"},"origin":"schedule"}"#,
            r#"{"step":2,"t":3,"ev":"start","node":"n1","incarnation":1,"recover":true}"#,
            r#"{"step":3,"t":1,"ev":"note","node":"n2","key":"role","value":"leader"}"#,
            r#"{"step":4,"t":0,"ev":"note","node":"n2","key":"role","value":"follower"}"#,
            r#"{"step":5,"t":0,"ev":"invoke","op":1,"client":"c1","process":18446744073709551615,"request":{"get":{"key":[1]}}}"#,
            r#"{"step":6,"t":0,"ev":"fault","fault":{"partition":"nonsense"},"origin":7}"#,
            r#"{"step":7,"t":0,"ev":"note","node":"n1","key":"commit","value":"x"}"#,
            r#"{"step":8,"t":0,"ev":"violation","check":"c","kind":"always","nodes":["n7",3],"message":null}"#,
            r#"{"step":9,"t":0,"ev":"complete","op":1,"client":"c1","process":0,"outcome":[]}"#,
            r#"{"step":10,"t":5,"ev":"send","id":1,"from":"n1","to":"c1","copies":0,"msg":7}"#,
            r#"{"step":11,"t":2,"ev":"deliver","id":1,"from":"n1","to":"c1","msg":null}"#,
            r#"{"step":12,"t":2,"ev":"deliver","id":2,"from":"n1","to":"n2","msg":null}"#,
            r#"{"step":13,"ev":"timer","node":"n1"}"#,
        ];
        for n in 0..=records.len() {
            let text = format!("{HEAD}\n{}", records[..n].join("\n"));
            let doc = TraceDoc::parse(&text).unwrap();
            for format in [Format::Perfetto, Format::Shiviz, Format::Jepsen] {
                let _ = export(&doc, format);
            }
            let _ = crate::tools::explain::explain(&doc, Some("t.jsonl"));
        }
        let doc = TraceDoc::parse(&format!("{HEAD}\n{}", records.join("\n"))).unwrap();
        let e = shiviz(&doc).unwrap_err();
        assert_eq!(e.record, 11, "{e}");
        assert!(e.message.contains("never sent"), "{e}");
    }
}
