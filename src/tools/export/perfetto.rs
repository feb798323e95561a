//! The Perfetto export: a trace in Chrome's Trace Event Format, for ui.perfetto.dev and
//! chrome://tracing (see docs/exports.md).
//!
//! The annotation keys drawn as slices come from the protocol's vocabulary (its role and
//! epoch keys), never from a protocol's words written here. Must not import the engine.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

use super::WriteError;
use crate::protocol::Vocabulary;
use crate::tools::read::{
    Hosts, Rec, RecordError, fault_endpoints, fault_ignored, fault_text, msg_kind, op_label,
    time_end,
};
use crate::trace::compact;
use crate::trace::doc::TraceDoc;

/// The run's process (faults, phases, checks, the violation; all on its thread 1). Not 0: some
/// readers of the format drop every event of process 0 (see docs/exports.md).
const RUN: u64 = 1;
/// The category of every metadata event, as in Chrome's own traces: some readers need a `cat`
/// on every event.
const CAT_METADATA: &str = "__metadata";
/// Thread of a node process: up/down and pause periods.
const TID_STATUS: u64 = 1;
/// First thread of a node process for annotation spans (one per span key).
const TID_SPANS: u64 = 2;

/// The annotation keys worth a track of slices, from the protocol's vocabulary: its role, its
/// epoch and the node it believes leads, those it names, in that order. Progress keys change
/// too often to be slices; they stay instants on the `notes` track.
pub fn span_keys(vocabulary: &Vocabulary) -> Vec<&str> {
    let mut keys: Vec<&str> = Vec::new();
    for key in [&vocabulary.role, &vocabulary.epoch, &vocabulary.leader]
        .into_iter()
        .flatten()
    {
        if !keys.contains(&key.as_str()) {
            keys.push(key);
        }
    }
    keys
}

/// The trace in Chrome's Trace Event Format (JSON object form), one event per line.
///
/// Process 1 is the run (faults, phases, check results, the violation); each node and each
/// client is a process of its own, from 2 on, in the order of the trace's hosts. No process is
/// 0 and every event, metadata too, has a `cat`. A node has a `status` thread (down and paused
/// periods), a thread per annotation key in `span_keys` (a slice per value the key held; by
/// default the keys [`span_keys`] picks from the vocabulary), an `activity` thread (one 1 µs
/// slice per microsecond in which the node started, sent, received or ran a timer, the flow
/// arrows of messages bound to them) and a `notes` thread (instants for every annotation, fault
/// and loss). A client has an `activity` thread and one thread per process, whose slices are
/// its operations.
pub fn perfetto(doc: &TraceDoc, span_keys: &[&str]) -> Result<String, RecordError> {
    let mut text = String::new();
    let mut collect = |line: &str| {
        text.push_str(line);
        text.push('\n');
        Ok(())
    };
    match perfetto_lines(doc, span_keys, &mut collect) {
        Ok(()) => Ok(text),
        Err(WriteError::Record(e)) => Err(e),
        Err(WriteError::Output(e)) => unreachable!("collecting lines cannot fail: {e}"),
    }
}

/// [`perfetto`], handed to `sink` one line at a time as it is made (the export of a big trace
/// is never whole in memory). A sink error stops the export.
pub fn perfetto_lines(
    doc: &TraceDoc,
    span_keys: &[&str],
    sink: &mut dyn FnMut(&str) -> Result<(), String>,
) -> Result<(), WriteError> {
    let hosts = Hosts::of(doc);
    let end = time_end(doc);
    let k = span_keys.len() as u64;
    let tid_activity = TID_SPANS + k;
    let tid_notes = tid_activity + 1;
    let pid = |h: usize| h as u64 + 2;
    let mut ev = Events::new(sink)?;

    // Names and order of processes and threads.
    let meta = |ev: &mut Events, pid: u64, tid: u64, what: &str, name: &str| {
        ev.push(json!({"name": what, "cat": CAT_METADATA, "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}}));
    };
    meta(
        &mut ev,
        RUN,
        0,
        "process_name",
        &format!("run {}", doc.source()),
    );
    ev.push(json!({"name": "process_sort_index", "cat": CAT_METADATA, "ph": "M", "pid": RUN, "tid": 0, "args": {"sort_index": 0}}));
    meta(&mut ev, RUN, 1, "thread_name", "faults and checks");
    for h in 0..hosts.len() {
        let p = pid(h);
        meta(&mut ev, p, 0, "process_name", &hosts.name(h));
        ev.push(json!({"name": "process_sort_index", "cat": CAT_METADATA, "ph": "M", "pid": p, "tid": 0, "args": {"sort_index": h + 1}}));
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
    // Open operations: op number -> (client, process, invoke time, request, label).
    let mut ops: BTreeMap<u64, (usize, u64, u64, Value, String)> = BTreeMap::new();
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

    for (i, v) in doc.records() {
        let r = Rec { i, v: &v };
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
                instant(&mut ev, RUN, 1, "fault", text.clone(), t, "p", args.clone());
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
                let label = op_label(r);
                ops.insert(
                    r.u64("op")?,
                    (c, process, t, r.get("request").clone(), label),
                );
            }
            "complete" => {
                let op = r.u64("op")?;
                let Some((c, process, since, request, label)) = ops.remove(&op) else {
                    return r
                        .fail(format!("complete: op {op} was never invoked"))
                        .map_err(Into::into);
                };
                let outcome = r.get("outcome");
                let result = match outcome {
                    Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
                    other => compact(other),
                };
                let name = format!("{label} -> {result}");
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
                    RUN,
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
                instant(&mut ev, RUN, 1, "check", name, t, "p", r.v.clone());
            }
            "violation" => {
                let name = format!(
                    "VIOLATION {} ({})",
                    compact(r.get("check")),
                    compact(r.get("kind"))
                );
                instant(
                    &mut ev,
                    RUN,
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
    for (op, (c, process, since, request, label)) in ops {
        let name = format!("{label} (no outcome by the end)");
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
        "vocabulary": doc.vocabulary,
        "verdict": doc.summary.as_ref().map(|s| s["verdict"].clone()),
        "fingerprint": doc.summary.as_ref().map(|s| s["fingerprint"].clone()),
        "time_unit": "ts and dur are microseconds of virtual time",
    });
    ev.finish(&metadata)
}

/// The export's lines, handed to the sink as they are made: each event on a line of its own,
/// with the comma that separates it from the next (so each is held until the next comes).
struct Events<'s> {
    sink: &'s mut dyn FnMut(&str) -> Result<(), String>,
    /// The last event pushed, serialized.
    held: Option<String>,
    any: bool,
    /// The first error of the sink; nothing is written after it.
    error: Option<String>,
}

impl<'s> Events<'s> {
    fn new(sink: &'s mut dyn FnMut(&str) -> Result<(), String>) -> Result<Events<'s>, WriteError> {
        sink("{\"traceEvents\":[").map_err(WriteError::Output)?;
        Ok(Events {
            sink,
            held: None,
            any: false,
            error: None,
        })
    }

    fn write(&mut self, line: &str) {
        if self.error.is_none() {
            if let Err(e) = (self.sink)(line) {
                self.error = Some(e);
            }
        }
    }

    fn push(&mut self, event: Value) {
        if let Some(mut before) = self.held.take() {
            before.push(',');
            self.write(&before);
        }
        self.any = true;
        self.held = Some(event.to_string());
    }

    /// Writes the last event and the end of the file.
    fn finish(mut self, metadata: &Value) -> Result<(), WriteError> {
        let last = self.held.take().unwrap_or_default();
        self.write(&last);
        self.write("],");
        self.write("\"displayTimeUnit\":\"ms\",");
        self.write(&format!("\"metadata\":{metadata}}}"));
        match self.error {
            None => Ok(()),
            Some(e) => Err(WriteError::Output(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::export::{Format, export};

    /// A made-up protocol whose role key is `duty` (`chief` leads) and whose epoch is `era`.
    fn head(vocabulary: Option<Vocabulary>) -> String {
        let words = vocabulary
            .map(|v| format!(r#","vocabulary":{}"#, serde_json::to_string(&v).unwrap()))
            .unwrap_or_default();
        format!(
            r#"{{"ev":"header","schema":1,"seed":1,"source":"x","scenario":{{"nodes":2,"protocol":{{"name":"made_up"}}}}{words}}}"#
        )
    }

    fn words() -> Vocabulary {
        Vocabulary::none()
            .role("duty", &["chief"], &["hopeful"])
            .epoch("era")
            .leader("boss")
            .progress(&["settled"])
    }

    const RECORDS: &str = r#"{"step":1,"t":0,"ev":"start","node":"n1","incarnation":0,"recover":false}
{"step":2,"t":0,"ev":"start","node":"n2","incarnation":0,"recover":false}
{"step":3,"t":10,"ev":"note","node":"n1","key":"duty","value":"hopeful"}
{"step":3,"t":10,"ev":"note","node":"n1","key":"era","value":1}
{"step":4,"t":20,"ev":"note","node":"n1","key":"duty","value":"chief"}
{"step":4,"t":20,"ev":"note","node":"n1","key":"settled","value":3}
{"step":5,"t":50,"ev":"note","node":"n1","key":"settled","value":4}"#;

    fn events(text: &str) -> Vec<Value> {
        let v: Value = serde_json::from_str(text).unwrap();
        v["traceEvents"].as_array().unwrap().clone()
    }

    #[test]
    fn slices_follow_the_vocabulary_keys() {
        let doc = TraceDoc::parse(&format!("{}\n{RECORDS}\n", head(Some(words())))).unwrap();
        assert_eq!(span_keys(&doc.vocabulary), ["duty", "era", "boss"]);
        let ev = events(&export(&doc, Format::Perfetto).unwrap());
        let threads: Vec<&str> = ev
            .iter()
            .filter(|e| e["name"] == "thread_name" && e["pid"] == 2)
            .filter_map(|e| e["args"]["name"].as_str())
            .collect();
        assert_eq!(
            threads,
            ["status", "duty", "era", "boss", "notes", "activity"]
        );
        let slices: Vec<(String, u64, u64)> = ev
            .iter()
            .filter(|e| e["ph"] == "X" && e["cat"] == "state")
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["ts"].as_u64().unwrap(),
                    e["dur"].as_u64().unwrap(),
                )
            })
            .collect();
        // The run ends at its last record (50 µs): the role held hopeful then chief, the
        // epoch 1; the progress key is no slice.
        assert_eq!(
            slices,
            [
                ("hopeful".to_string(), 10, 10),
                ("chief".to_string(), 20, 30),
                ("1".to_string(), 10, 40),
            ]
        );
        let meta: Value = serde_json::from_str(&export(&doc, Format::Perfetto).unwrap()).unwrap();
        assert_eq!(
            meta["metadata"]["vocabulary"],
            serde_json::to_value(words()).unwrap()
        );
    }

    #[test]
    fn a_trace_without_a_vocabulary_gets_no_slice_tracks() {
        let doc = TraceDoc::parse(&format!("{}\n{RECORDS}\n", head(None))).unwrap();
        assert!(span_keys(&doc.vocabulary).is_empty());
        let ev = events(&export(&doc, Format::Perfetto).unwrap());
        assert!(!ev.iter().any(|e| e["cat"] == "state"));
        // Every note is still an instant on the notes track.
        let notes = ev.iter().filter(|e| e["cat"] == "note").count();
        assert_eq!(notes, 5);
    }
}
