//! The Jepsen export: the client history as EDN, one operation map per line, for Jepsen's
//! checkers and Knossos (see docs/exports.md). Must not import the engine.

use serde_json::Value;
use std::collections::BTreeMap;

use crate::tools::read::{Rec, RecordError};
use crate::trace::doc::TraceDoc;

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
    use serde_json::json;

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
}
