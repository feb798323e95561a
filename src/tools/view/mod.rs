//! The trace viewer: one self-contained HTML page drawn from a [`TraceDoc`].
//!
//! The page holds the trace data, its script and its style, so it opens from disk in any
//! modern browser with no server and no network. The script and style are hand-written files
//! beside this module, embedded at build time; this module only encodes the data and fills the
//! page template. It takes text or a parsed trace and returns the page as a `String`: the CLI
//! writes the file. See docs/viewer.md. Neither this module nor the script knows a protocol's
//! words: the page colours and labels roles, epochs and progress through the vocabulary.
//!
//! The data is a compact JSON object in a `<script type="application/json">` block:
//!
//! - `vocabulary`: the protocol's vocabulary from the trace header (`{}` if it has none);
//! - `lanes`: endpoint names, nodes first (`n1..nN`), then clients (`c1..cM`), then any other
//!   endpoint a record names, in first-seen order;
//! - `strings`: interned JSON texts (the "rest" of records: message contents, note values,
//!   faults, outcomes), so the many copies of the same message or value are stored once;
//! - `records`: one array per record, `[step, t, ev, a, b, id, rest]`: `ev` indexes `evs`,
//!   `a` and `b` index `lanes` (-1 if absent; `a` is `node`, `from` or `client`, `b` is `to`),
//!   `id` is the message `id` or the operation `op` (-1 if absent), and `rest` indexes
//!   `strings` (the record's other fields as one JSON object, -1 if none).
//!
//! Every `<`, `>` and `&` in that JSON is written as a `\u` escape (they can only occur inside
//! JSON strings), so no text in a trace can close the script block or open a comment.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use crate::trace::doc::{TraceDoc, TraceDocError};

const TEMPLATE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("viewer.js");
const STYLE: &str = include_str!("viewer.css");

/// Fields encoded as lane indexes or ids rather than kept in the record's rest.
const STRUCTURAL: [&str; 9] = [
    "step", "t", "ev", "node", "from", "to", "client", "id", "op",
];

/// Parses a trace and returns its page.
pub fn page_from_text(text: &str) -> Result<String, TraceDocError> {
    TraceDoc::parse(text).map(|doc| page(&doc))
}

/// The whole HTML page for a parsed trace.
pub fn page(doc: &TraceDoc) -> String {
    let title = format!("{} seed {}", doc.source(), doc.seed());
    let data = script_safe_json(&encode(doc).to_string());
    let mut html = String::with_capacity(TEMPLATE.len() + SCRIPT.len() + data.len() + 4096);
    // The template has four slots, filled in this order; each appears once.
    let mut rest = TEMPLATE;
    for (slot, value) in [
        ("{{TITLE}}", escape_html(&title)),
        ("{{STYLE}}", STYLE.to_string()),
        ("{{DATA}}", data),
        ("{{SCRIPT}}", script_safe_text(SCRIPT)),
    ] {
        let (before, after) = rest
            .split_once(slot)
            .expect("the page template has every slot, in order");
        html.push_str(before);
        html.push_str(&value);
        rest = after;
    }
    html.push_str(rest);
    html
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Makes JSON text safe inside a `<script>` element: `<`, `>` and `&` (which JSON allows
/// only inside strings) become `\u` escapes, and so do U+2028 and U+2029.
pub fn script_safe_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            _ => out.push(c),
        }
    }
    out
}

/// The embedded script must not contain a closing script tag itself; it is written so that it
/// never does, and this check keeps it so.
fn script_safe_text(script: &str) -> String {
    assert!(
        !script.to_ascii_lowercase().contains("</script") && !script.contains("<!--"),
        "src/tools/view/viewer.js must not contain a closing script tag or a comment opener"
    );
    script.to_string()
}

/// The record kinds, in the order their codes are assigned.
const EVS: [&str; 14] = [
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

/// Encodes the trace as the page's data object (see the module docs).
pub fn encode(doc: &TraceDoc) -> Value {
    let nodes = doc.nodes();
    let clients = doc.clients();
    let mut lanes: Vec<String> = (1..=nodes).map(|i| format!("n{i}")).collect();
    lanes.extend((1..=clients).map(|i| format!("c{i}")));
    let mut lane_of: BTreeMap<String, usize> = lanes
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), i))
        .collect();
    let mut evs: Vec<String> = EVS.iter().map(|s| s.to_string()).collect();
    let mut strings: Vec<String> = Vec::new();
    let mut string_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut records = Vec::with_capacity(doc.records.len());
    for r in &doc.records {
        let Some(obj) = r.as_object() else { continue };
        let ev = obj.get("ev").and_then(Value::as_str).unwrap_or("?");
        let ev_code = match evs.iter().position(|e| e == ev) {
            Some(i) => i,
            None => {
                evs.push(ev.to_string());
                evs.len() - 1
            }
        };
        let mut lane = |key: &str| -> i64 {
            match obj.get(key).and_then(Value::as_str) {
                None => -1,
                Some(name) => {
                    let next = lanes.len();
                    let i = *lane_of.entry(name.to_string()).or_insert(next);
                    if i == next {
                        lanes.push(name.to_string());
                    }
                    i as i64
                }
            }
        };
        let a = ["node", "from", "client"]
            .iter()
            .map(|k| lane(k))
            .find(|&i| i >= 0)
            .unwrap_or(-1);
        let b = lane("to");
        let id = obj
            .get("id")
            .or_else(|| obj.get("op"))
            .and_then(Value::as_i64)
            .unwrap_or(-1);
        let rest: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| !STRUCTURAL.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let rest = if rest.is_empty() {
            -1
        } else {
            let text = Value::Object(rest).to_string();
            let next = strings.len();
            let i = *string_of.entry(text.clone()).or_insert(next);
            if i == next {
                strings.push(text);
            }
            i as i64
        };
        records.push(json!([
            obj.get("step").cloned().unwrap_or(Value::Null),
            obj.get("t").cloned().unwrap_or(Value::Null),
            ev_code,
            a,
            b,
            id,
            rest
        ]));
    }
    let summary = doc.summary.clone().unwrap_or(Value::Null);
    json!({
        "source": doc.source(),
        "seed": doc.seed(),
        "protocol": doc.protocol(),
        "description": doc.description(),
        "nodes": nodes,
        "clients": clients,
        "header": doc.header,
        "vocabulary": doc.vocabulary,
        "summary": summary,
        "reproduce": reproduce(doc),
        "lanes": lanes,
        "evs": evs,
        "strings": strings,
        "records": records,
    })
}

/// The line that reruns the run: the summary's, or for a trace without one (its run was
/// killed) the same line built from the header's source, seed and `--set` overrides.
fn reproduce(doc: &TraceDoc) -> String {
    if let Some(line) = doc.reproduce() {
        return line.to_string();
    }
    let overrides: Vec<String> = doc.header["overrides"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    crate::base::replay::replay_line(doc.source(), doc.seed(), &overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up protocol's words: role key `duty`, `chief` leading, epoch `era`.
    fn words() -> crate::protocol::Vocabulary {
        crate::protocol::Vocabulary::none()
            .role("duty", &["chief"], &[])
            .epoch("era")
    }

    fn trace(records: &[&str]) -> String {
        let mut t = format!(
            r#"{{"ev":"header","schema":1,"seed":3,"source":"ping/x","scenario":{{"nodes":2,"description":"d </script> <!-- x","protocol":{{"name":"ping"}},"workload":{{"clients":1}}}},"vocabulary":{}}}"#,
            serde_json::to_string(&words()).unwrap()
        );
        t.push('\n');
        for r in records {
            t.push_str(r);
            t.push('\n');
        }
        t
    }

    #[test]
    fn the_replay_line_of_a_trace_without_summary_keeps_its_overrides() {
        // A killed run's trace: the header has the `--set` overrides, there is no summary.
        let text = trace(&[]).replacen(
            r#""source":"ping/x","#,
            r#""source":"ping/x","overrides":["network.loss=0.1","limits.time_ms=500"],"#,
            1,
        );
        let d = encode(&TraceDoc::parse(&text).unwrap());
        assert_eq!(
            d["reproduce"],
            json!("faultline run ping/x --seed 3 --set network.loss=0.1 --set limits.time_ms=500")
        );
        // With a summary, its line is the one shown.
        let done = format!(
            "{text}{}\n",
            r#"{"ev":"summary","reproduce":"faultline run y --seed 9"}"#
        );
        let d = encode(&TraceDoc::parse(&done).unwrap());
        assert_eq!(d["reproduce"], json!("faultline run y --seed 9"));
    }

    #[test]
    fn html_escaping_covers_the_five_specials() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn script_json_cannot_close_the_block_and_still_parses() {
        let v = json!({"msg": "</script><!-- \u{2028} & <b>"});
        let safe = script_safe_json(&v.to_string());
        assert!(!safe.contains('<') && !safe.contains('>') && !safe.contains('&'));
        let back: Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn a_hostile_message_cannot_break_the_page() {
        let text = trace(&[
            r#"{"step":1,"t":0,"ev":"send","id":0,"from":"n1","to":"n2","copies":1,"msg":{"peer":"</script><script>alert(1)</script><!--"}}"#,
        ]);
        let html = page_from_text(&text).unwrap();
        // Exactly the two script blocks of the template close, and nothing opens a comment.
        assert_eq!(html.matches("</script>").count(), 2, "{html}");
        assert!(!html.contains("<!--"));
        // The title is escaped.
        assert!(html.contains("<title>faultline: ping/x seed 3</title>"));
    }

    #[test]
    fn records_are_encoded_compactly_with_interned_rests() {
        let text = trace(&[
            r#"{"step":1,"t":0,"ev":"send","id":7,"from":"n1","to":"c1","copies":1,"msg":{"peer":1}}"#,
            r#"{"step":2,"t":5,"ev":"deliver","id":7,"from":"n1","to":"c1","msg":{"peer":1}}"#,
            r#"{"step":2,"t":5,"ev":"note","node":"n2","key":"duty","value":"chief"}"#,
            r#"{"step":3,"t":6,"ev":"invoke","op":4,"client":"c1","process":0,"request":{"get":1}}"#,
            r#"{"step":4,"t":9,"ev":"lost","id":8,"from":"n9","to":"n2","reason":"loss"}"#,
            r#"{"step":5,"t":9,"ev":"custom"}"#,
        ]);
        let doc = TraceDoc::parse(&text).unwrap();
        let d = encode(&doc);
        // The page learns the protocol's words from the data block.
        assert_eq!(d["vocabulary"], serde_json::to_value(words()).unwrap());
        assert_eq!(d["vocabulary"]["leading"], json!(["chief"]));
        assert_eq!(d["lanes"], json!(["n1", "n2", "c1", "n9"]));
        let r = d["records"].as_array().unwrap();
        assert_eq!(r[0], json!([1, 0, 1, 0, 2, 7, 0]));
        assert_eq!(d["strings"][0], json!(r#"{"copies":1,"msg":{"peer":1}}"#));
        // The deliver's message is a new rest (no copies), the note's value another.
        assert_eq!(r[1], json!([2, 5, 2, 0, 2, 7, 1]));
        assert_eq!(r[2], json!([2, 5, 7, 1, -1, -1, 2]));
        assert_eq!(r[3], json!([3, 6, 9, 2, -1, 4, 3]));
        assert_eq!(r[4], json!([4, 9, 3, 3, 1, 8, 4]));
        // An unknown record kind gets a new code and no rest.
        assert_eq!(r[5], json!([5, 9, 14, -1, -1, -1, -1]));
        assert_eq!(d["evs"][14], json!("custom"));
        // The same rest twice is stored once.
        let text2 = trace(&[
            r#"{"step":1,"t":0,"ev":"note","node":"n1","key":"duty","value":"chief"}"#,
            r#"{"step":2,"t":1,"ev":"note","node":"n2","key":"duty","value":"chief"}"#,
        ]);
        let d2 = encode(&TraceDoc::parse(&text2).unwrap());
        assert_eq!(d2["strings"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn the_page_embeds_script_style_and_data() {
        let html = page_from_text(&trace(&[])).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains(r#"<script type="application/json" id="faultline-data">"#));
        assert!(html.contains("faultlineViewer"));
        for slot in ["{{TITLE}}", "{{STYLE}}", "{{DATA}}", "{{SCRIPT}}"] {
            assert!(!html.contains(slot), "{slot} is filled");
        }
        // Nothing is fetched from elsewhere: no external scripts, styles, fonts or images.
        for fetch in ["src=\"http", "href=\"http", "@import", "url(http"] {
            assert!(!html.contains(fetch), "{fetch}");
        }
    }
}
