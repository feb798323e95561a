//! Reading trace records the way every tool needs them: a record's fields with errors that
//! name the record (`Rec`, [`RecordError`]), the run's nodes and clients (`Hosts`), faults
//! and messages in words, and the run's end. Shared by the exports and the narrative.
//!
//! Knows the trace's record shapes (docs/trace.md), never a protocol's types or words: a
//! message, a note or a request is read from its JSON. Must not import the engine.

use serde_json::Value;
use std::fmt;

use crate::trace::compact;
use crate::trace::doc::TraceDoc;

/// A record the export cannot read: its index (as [`TraceDoc::records`] counts) and what is
/// wrong.
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

/// One record with its index, for field access that reports what is missing.
#[derive(Clone, Copy)]
pub(crate) struct Rec<'a> {
    /// Index into [`TraceDoc::records`].
    pub i: usize,
    /// The record.
    pub v: &'a Value,
}

impl<'a> Rec<'a> {
    /// An error about this record.
    pub fn fail<T>(&self, message: impl Into<String>) -> Result<T, RecordError> {
        Err(RecordError {
            record: self.i,
            message: message.into(),
        })
    }

    /// The record's kind (`ev`), empty if it has none.
    pub fn ev(&self) -> &'a str {
        self.v["ev"].as_str().unwrap_or("")
    }

    /// The record's time in microseconds, which it must have.
    pub fn t(&self) -> Result<u64, RecordError> {
        match self.v.get("t").and_then(Value::as_u64) {
            Some(t) => Ok(t),
            None => self.fail(format!(
                "{}: t must be a whole number of microseconds",
                self.ev()
            )),
        }
    }

    /// String field `key`, which the record must have.
    pub fn str(&self, key: &str) -> Result<&'a str, RecordError> {
        match self.v.get(key).and_then(Value::as_str) {
            Some(s) => Ok(s),
            None => self.fail(format!("{}: {key} must be a string", self.ev())),
        }
    }

    /// Whole-number field `key`, which the record must have.
    pub fn u64(&self, key: &str) -> Result<u64, RecordError> {
        match self.v.get(key).and_then(Value::as_u64) {
            Some(s) => Ok(s),
            None => self.fail(format!("{}: {key} must be a whole number", self.ev())),
        }
    }

    /// Field `key`, or null.
    pub fn get(&self, key: &str) -> &'a Value {
        self.v.get(key).unwrap_or(&Value::Null)
    }
}

/// The run's nodes and clients, numbered nodes first: `n1` is 0, `c1` is the node count.
pub(crate) struct Hosts {
    /// Nodes of the run.
    pub nodes: usize,
    /// Clients of the run.
    pub clients: usize,
}

impl Hosts {
    /// The nodes and clients `doc`'s scenario declares.
    pub fn of(doc: &TraceDoc) -> Hosts {
        Hosts {
            nodes: doc.nodes() as usize,
            clients: doc.clients() as usize,
        }
    }

    /// Nodes and clients together.
    pub fn len(&self) -> usize {
        self.nodes + self.clients
    }

    /// The name of host `i`: `n3`, `c2`.
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
            if k != "offset_ms" && k != "ppm" && k != "kind" {
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
                "message" => {
                    let twist = ["drop", "duplicate", "delay_ms"]
                        .into_iter()
                        .find(|t| x.get(*t).is_some())
                        .unwrap_or("change");
                    let what = match twist {
                        "delay_ms" => format!("delay by {} ms", compact(&x["delay_ms"])),
                        other => other.to_string(),
                    };
                    format!(
                        "{what} {} #{} {} -> {}",
                        compact(&x["kind"]),
                        compact(&x["nth"]),
                        compact(&x["from"]),
                        compact(&x["to"])
                    )
                }
                "set" => match x.as_object() {
                    Some(s) => format!(
                        "set {}",
                        s.iter()
                            .map(|(k, v)| format!("{k} = {}", compact(v)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => format!("set {}", compact(x)),
                },
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
    let tag = variant;
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

/// The function of the client operation an `invoke` record starts: the `f` of its `call` (the
/// request as the history check reads it), or, in a trace without one (a protocol with no
/// history model, or a trace written before records carried calls), the request's variant:
/// `{"echo": 2}` is `echo`.
pub(crate) fn op_function(invoke: Rec<'_>) -> String {
    match invoke.get("call").get("f").and_then(Value::as_str) {
        Some(f) => f.to_string(),
        None => variant(invoke.get("request")),
    }
}

/// The client operation an `invoke` record starts, for labels: its function and key as the
/// history check reads them (`get k1`), else as [`op_function`] names it.
pub(crate) fn op_label(invoke: Rec<'_>) -> String {
    let f = op_function(invoke);
    match invoke.get("call").get("key") {
        Some(Value::String(k)) => format!("{f} {k}"),
        Some(k) if !k.is_null() => format!("{f} {}", compact(k)),
        _ => f,
    }
}

/// The variant of a JSON-encoded enum value: the key of a one-key object, the string itself.
fn variant(v: &Value) -> String {
    match v {
        Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
        Value::String(s) => s.clone(),
        other => compact(other),
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
    let last = doc.time_max().unwrap_or(0);
    doc.summary
        .as_ref()
        .and_then(|s| s["time_end"].as_u64())
        .unwrap_or(last)
        .max(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_are_named_by_their_call_else_by_their_request() {
        let named = |v: Value| {
            let r = Rec { i: 0, v: &v };
            (op_function(r), op_label(r))
        };
        let with_call =
            json!({"request": {"opaque": 1}, "call": {"f": "put", "key": "k2", "value": 1}});
        assert_eq!(named(with_call), ("put".into(), "put k2".into()));
        let keyless = json!({"request": "x", "call": {"f": "read", "value": null}});
        assert_eq!(named(keyless), ("read".into(), "read".into()));
        let bare = json!({"request": {"echo": 2}});
        assert_eq!(named(bare), ("echo".into(), "echo".into()));
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
