//! The Jepsen export: the client history as EDN, one operation map per line, for Jepsen's
//! checkers and Knossos (see docs/exports.md). Must not import the engine.

use serde_json::Value;
use std::collections::BTreeMap;

use crate::tools::read::{Rec, RecordError};
use crate::trace::doc::TraceDoc;

/// A client operation as the history check reads it, from an `invoke` record's `call`: its
/// function, its key (for models checked key by key) and its argument.
struct Call {
    f: String,
    key: Option<Value>,
    value: Value,
}

impl Call {
    /// The `call` of an `invoke` record, which the export needs.
    fn of(r: Rec<'_>) -> Result<Call, RecordError> {
        let call = r.get("call");
        let Some(f) = call.get("f").and_then(Value::as_str) else {
            return r.fail(
                "invoke: call: missing (expected the operation as the history check reads it: \
                 {\"f\": ..., \"key\": ..., \"value\": ...}); the Jepsen export needs it, and a trace \
                 has it only when its protocol maps requests for a history check and the trace was \
                 written by a faultline that records it",
            );
        };
        Ok(Call {
            f: f.to_string(),
            key: call.get("key").filter(|k| !k.is_null()).cloned(),
            value: call.get("value").cloned().unwrap_or(Value::Null),
        })
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
/// The operations are read as the run's history check read them, from the records' own
/// fields, never guessed from the request's JSON: an `invoke` record's `call` (function, key,
/// argument) becomes `{:type :invoke, :f :F, :key K, :value V, :process P, :time NS, :index
/// I}` (`:key` only when the call has one); a `complete` record becomes the same map with
/// `:type :ok` or `:fail` and as `:value` its `result` (what the response returned), or
/// `:type :info` (an unknown outcome; `:value` repeats the invocation's). `:time` is the
/// virtual time in nanoseconds, `:index` the position in the file. Operations still open at
/// the end have no completion: Jepsen's checkers read them as unknown. A trace whose invokes
/// carry no `call` (a protocol without a history check, or an older trace) is an error.
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
    for (i, v) in doc.records() {
        let r = Rec { i, v: &v };
        match r.ev() {
            "invoke" => {
                let t = r.t()?;
                let call = Call::of(r)?;
                line(&mut out, "invoke", &call, &call.value, r.u64("process")?, t);
                open.insert(r.u64("op")?, call);
            }
            "complete" => {
                let t = r.t()?;
                let op = r.u64("op")?;
                let Some(call) = open.remove(&op) else {
                    return r.fail(format!("complete: op {op} was never invoked"));
                };
                let ty = match r.get("outcome") {
                    Value::Object(o) if o.contains_key("ok") => "ok",
                    Value::Object(o) if o.contains_key("fail") => "fail",
                    _ => "info",
                };
                let value = match (ty, r.v.get("result")) {
                    ("info", _) => call.value.clone(),
                    (_, Some(v)) => v.clone(),
                    (_, None) => {
                        return r.fail(format!(
                            "complete: result: missing (expected the value op {op} returned, as the history check reads it)"
                        ));
                    }
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
    use serde_json::json;

    fn doc(records: &[&str]) -> TraceDoc {
        let head = r#"{"ev":"header","schema":1,"seed":1,"scenario":{"nodes":1,"workload":{"clients":1}}}"#;
        TraceDoc::parse(&format!("{head}\n{}", records.join("\n"))).unwrap()
    }

    #[test]
    fn operations_come_from_the_records_calls_and_results() {
        // The request's own JSON is never read: the call says what the operation is.
        let d = doc(&[
            r#"{"step":1,"t":1,"ev":"invoke","op":0,"client":"c1","process":0,"request":{"opaque":[1]},"call":{"f":"cas","key":"k","value":[1,2]}}"#,
            r#"{"step":2,"t":2,"ev":"invoke","op":1,"client":"c1","process":1,"request":"x","call":{"f":"read","value":null}}"#,
            r#"{"step":3,"t":3,"ev":"complete","op":0,"client":"c1","process":0,"outcome":{"fail":"no"},"result":null}"#,
            r#"{"step":4,"t":4,"ev":"complete","op":1,"client":"c1","process":1,"outcome":{"ok":{"v":9}},"result":7}"#,
            r#"{"step":5,"t":5,"ev":"invoke","op":2,"client":"c1","process":2,"request":"y","call":{"f":"write","key":"k","value":"z"}}"#,
            r#"{"step":6,"t":6,"ev":"complete","op":2,"client":"c1","process":2,"outcome":"unknown"}"#,
        ]);
        let lines: Vec<String> = jepsen(&d).unwrap().lines().map(str::to_string).collect();
        assert_eq!(
            lines,
            [
                r#"{:type :invoke, :f :cas, :key "k", :value [1 2], :process 0, :time 1000, :index 0}"#,
                r#"{:type :invoke, :f :read, :value nil, :process 1, :time 2000, :index 1}"#,
                r#"{:type :fail, :f :cas, :key "k", :value nil, :process 0, :time 3000, :index 2}"#,
                r#"{:type :ok, :f :read, :value 7, :process 1, :time 4000, :index 3}"#,
                r#"{:type :invoke, :f :write, :key "k", :value "z", :process 2, :time 5000, :index 4}"#,
                r#"{:type :info, :f :write, :key "k", :value "z", :process 2, :time 6000, :index 5}"#,
            ]
        );
    }

    #[test]
    fn a_trace_without_calls_or_results_is_an_error() {
        let d = doc(&[
            r#"{"step":1,"t":1,"ev":"invoke","op":0,"client":"c1","process":0,"request":{"echo":2}}"#,
        ]);
        let e = jepsen(&d).unwrap_err();
        assert_eq!(e.record, 0);
        assert!(e.message.starts_with("invoke: call: missing"), "{e}");
        let d = doc(&[
            r#"{"step":1,"t":1,"ev":"invoke","op":0,"client":"c1","process":0,"request":"r","call":{"f":"read","value":null}}"#,
            r#"{"step":2,"t":2,"ev":"complete","op":0,"client":"c1","process":0,"outcome":{"ok":1}}"#,
        ]);
        let e = jepsen(&d).unwrap_err();
        assert_eq!(e.record, 1);
        assert!(e.message.starts_with("complete: result: missing"), "{e}");
    }

    #[test]
    fn edn_escapes_strings_and_writes_keywords() {
        assert_eq!(edn(&json!("a\"b\\c\nd")), r#""a\"b\\c\nd""#);
        assert_eq!(edn(&json!([1, null, "x"])), r#"[1 nil "x"]"#);
        assert_eq!(keyword("not leader"), "not-leader");
    }
}
