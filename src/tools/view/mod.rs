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
//!   `id` is the message `id`, the operation `op` or, for an `armed` timer, its `fires` time
//!   (-1 if absent), and `rest` indexes `strings` (the record's other fields as one JSON
//!   object, -1 if none). Keeping `fires` out of the rest lets every arming of the same timer
//!   share one string. Published state (`state` records) is carried as its rest, unchanged.
//!
//! Every `<`, `>` and `&` in that JSON is written as a `\u` escape (they can only occur inside
//! JSON strings), so no text in a trace can close the script block or open a comment.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use crate::trace::doc::{TraceDoc, TraceDocBuilder, TraceDocError};

const TEMPLATE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("viewer.js");
const STYLE: &str = include_str!("viewer.css");

/// Fields encoded as lane indexes or ids rather than kept in the record's rest.
const STRUCTURAL: [&str; 9] = [
    "step", "t", "ev", "node", "from", "to", "client", "id", "op",
];

/// Parses a trace and returns its page. The records are encoded as they are read and not
/// kept (see [`PageBuilder`]).
pub fn page_from_text(text: &str) -> Result<String, TraceDocError> {
    let mut b = PageBuilder::new();
    for (i, l) in text.lines().enumerate() {
        b.line(i + 1, l)?;
    }
    b.finish()
}

/// The whole HTML page for a parsed trace.
pub fn page(doc: &TraceDoc) -> String {
    let mut data = Encoder::new(doc.nodes(), doc.clients());
    for (_, r) in doc.records() {
        data.push(&r);
    }
    fill(doc, &data)
}

/// A page built from a trace's lines fed one at a time (a file read with a bounded line
/// reader): each record is checked, encoded and dropped, so the page's data is all that is
/// held, never the trace.
pub struct PageBuilder {
    reader: TraceDocBuilder,
    data: Option<Encoder>,
}

impl Default for PageBuilder {
    fn default() -> Self {
        PageBuilder::new()
    }
}

impl PageBuilder {
    /// A page with no lines read yet.
    pub fn new() -> PageBuilder {
        PageBuilder {
            reader: TraceDocBuilder::streaming(),
            data: None,
        }
    }

    /// Reads line `number` (1-based), which must follow the line fed before.
    pub fn line(&mut self, number: usize, text: &str) -> Result<(), TraceDocError> {
        if let Some(r) = self.reader.line(number, text)? {
            let header = self
                .reader
                .header()
                .expect("a record comes after the header");
            self.data
                .get_or_insert_with(|| Encoder::new(nodes_of(header), clients_of(header)))
                .push(&r);
        }
        Ok(())
    }

    /// The page, once every line has been fed.
    pub fn finish(self) -> Result<String, TraceDocError> {
        let doc = self.reader.finish()?;
        let data = match self.data {
            Some(d) => d,
            None => Encoder::new(doc.nodes(), doc.clients()),
        };
        Ok(fill(&doc, &data))
    }
}

fn nodes_of(header: &Value) -> u64 {
    header["scenario"]["nodes"].as_u64().unwrap_or(0)
}

fn clients_of(header: &Value) -> u64 {
    header["scenario"]["workload"]["clients"]
        .as_u64()
        .unwrap_or(0)
}

/// The page for `doc`'s header and summary and the records encoded in `data`.
fn fill(doc: &TraceDoc, data: &Encoder) -> String {
    let title = format!("{} seed {}", doc.source(), doc.seed());
    let mut html = String::with_capacity(TEMPLATE.len() + SCRIPT.len() + data.len() + 4096);
    // The template has four slots, filled in this order; each appears once.
    let mut rest = TEMPLATE;
    for slot in ["{{TITLE}}", "{{STYLE}}", "{{DATA}}", "{{SCRIPT}}"] {
        let (before, after) = rest
            .split_once(slot)
            .expect("the page template has every slot, in order");
        html.push_str(before);
        match slot {
            "{{TITLE}}" => html.push_str(&escape_html(&title)),
            "{{STYLE}}" => html.push_str(STYLE),
            "{{DATA}}" => data.write(doc, &mut html),
            _ => html.push_str(&script_safe_text(SCRIPT)),
        }
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
    push_script_safe(&mut out, json);
    out
}

/// Appends `json` to `out` as [`script_safe_json`] writes it.
fn push_script_safe(out: &mut String, json: &str) {
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
const EVS: [&str; 17] = [
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
    "state",
    "armed",
    "disarmed",
];

/// Encodes the trace as the page's data object (see the module docs).
pub fn encode(doc: &TraceDoc) -> Value {
    let mut data = Encoder::new(doc.nodes(), doc.clients());
    for (_, r) in doc.records() {
        data.push(&r);
    }
    let mut text = String::new();
    data.write_json(doc, &mut |piece: &str| text.push_str(piece));
    serde_json::from_str(&text).expect("the page's data is JSON")
}

/// The page's data, built one record at a time: lanes, record kinds and interned rests as
/// they are met, and each record as its array, already written as JSON text (a `Value` per
/// record would take several times the memory of the text).
struct Encoder {
    lanes: Vec<String>,
    lane_of: BTreeMap<String, usize>,
    evs: Vec<String>,
    /// Interned rests, each with its index in `strings`.
    strings: BTreeMap<String, usize>,
    /// The records' arrays, comma-separated.
    records: String,
}

impl Encoder {
    fn new(nodes: u64, clients: u64) -> Encoder {
        let mut lanes: Vec<String> = (1..=nodes).map(|i| format!("n{i}")).collect();
        lanes.extend((1..=clients).map(|i| format!("c{i}")));
        let lane_of = lanes
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), i))
            .collect();
        Encoder {
            lanes,
            lane_of,
            evs: EVS.iter().map(|s| s.to_string()).collect(),
            strings: BTreeMap::new(),
            records: String::new(),
        }
    }

    /// Bytes of data held, about.
    fn len(&self) -> usize {
        self.records.len() + self.strings.keys().map(String::len).sum::<usize>()
    }

    /// Encodes one record (a record that is not a JSON object is left out).
    fn push(&mut self, r: &Value) {
        let Some(obj) = r.as_object() else { return };
        let ev = obj.get("ev").and_then(Value::as_str).unwrap_or("?");
        let ev_code = match self.evs.iter().position(|e| e == ev) {
            Some(i) => i,
            None => {
                self.evs.push(ev.to_string());
                self.evs.len() - 1
            }
        };
        let (lanes, lane_of) = (&mut self.lanes, &mut self.lane_of);
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
        // An armed timer's firing time takes the id's place (it has no id).
        let armed = ev == "armed" && !obj.contains_key("id");
        let id = if armed {
            obj.get("fires").and_then(Value::as_i64).unwrap_or(-1)
        } else {
            obj.get("id")
                .or_else(|| obj.get("op"))
                .and_then(Value::as_i64)
                .unwrap_or(-1)
        };
        let rest: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| !STRUCTURAL.contains(&k.as_str()))
            .filter(|(k, _)| !(armed && id >= 0 && k.as_str() == "fires"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let rest = if rest.is_empty() {
            -1
        } else {
            let text = Value::Object(rest).to_string();
            let next = self.strings.len();
            *self.strings.entry(text).or_insert(next) as i64
        };
        let number = |key: &str| obj.get(key).map_or("null".to_string(), Value::to_string);
        if !self.records.is_empty() {
            self.records.push(',');
        }
        self.records.push_str(&format!(
            "[{},{},{ev_code},{a},{b},{id},{rest}]",
            number("step"),
            number("t")
        ));
    }

    /// Appends the data object to the page, script-safe.
    fn write(&self, doc: &TraceDoc, html: &mut String) {
        self.write_json(doc, &mut |piece: &str| push_script_safe(html, piece));
    }

    /// Hands the data object's JSON text over piece by piece, in the order of the module
    /// docs.
    fn write_json(&self, doc: &TraceDoc, out: &mut dyn FnMut(&str)) {
        let json = |v: &str| Value::from(v).to_string();
        out("{\"source\":");
        out(&json(doc.source()));
        out(",\"seed\":");
        out(&doc.seed().to_string());
        out(",\"protocol\":");
        out(&json(doc.protocol()));
        out(",\"description\":");
        out(&json(doc.description()));
        out(",\"nodes\":");
        out(&doc.nodes().to_string());
        out(",\"clients\":");
        out(&doc.clients().to_string());
        out(",\"header\":");
        out(&doc.header.to_string());
        out(",\"vocabulary\":");
        out(&json!(doc.vocabulary).to_string());
        out(",\"summary\":");
        out(&doc.summary.as_ref().unwrap_or(&Value::Null).to_string());
        out(",\"reproduce\":");
        out(&json(&reproduce(doc)));
        out(",\"lanes\":");
        out(&json!(self.lanes).to_string());
        out(",\"evs\":");
        out(&json!(self.evs).to_string());
        out(",\"strings\":[");
        let mut by_index: Vec<&str> = vec![""; self.strings.len()];
        for (text, &i) in &self.strings {
            by_index[i] = text;
        }
        for (i, text) in by_index.iter().enumerate() {
            if i > 0 {
                out(",");
            }
            out(&Value::from(*text).to_string());
        }
        out("],\"records\":[");
        out(&self.records);
        out("]}");
    }
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
            r#"{{"ev":"header","schema":1,"seed":3,"source":"toy/x","scenario":{{"nodes":2,"description":"d </script> <!-- x","protocol":{{"name":"toy"}},"workload":{{"clients":1}}}},"vocabulary":{}}}"#,
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
            r#""source":"toy/x","#,
            r#""source":"toy/x","overrides":["network.loss=0.1","limits.time_ms=500"],"#,
            1,
        );
        let d = encode(&TraceDoc::parse(&text).unwrap());
        assert_eq!(
            d["reproduce"],
            json!("faultline run toy/x --seed 3 --set network.loss=0.1 --set limits.time_ms=500")
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
        assert!(html.contains("<title>faultline: toy/x seed 3</title>"));
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
            r#"{"step":6,"t":9,"ev":"armed","node":"n1","timer":"tick","fires":40}"#,
            r#"{"step":7,"t":12,"ev":"armed","node":"n1","timer":"tick","fires":52}"#,
            r#"{"step":8,"t":12,"ev":"state","node":"n1","full":true,"set":{"k":1}}"#,
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
        assert_eq!(r[5], json!([5, 9, 17, -1, -1, -1, -1]));
        assert_eq!(d["evs"][17], json!("custom"));
        // An armed timer's firing time is its id, so both armings share one rest.
        assert_eq!(r[6], json!([6, 9, 15, 0, -1, 40, 5]));
        assert_eq!(r[7], json!([7, 12, 15, 0, -1, 52, 5]));
        assert_eq!(d["strings"][5], json!(r#"{"timer":"tick"}"#));
        // Published state is kept whole in its rest.
        assert_eq!(r[8], json!([8, 12, 14, 0, -1, -1, 6]));
        assert_eq!(d["strings"][6], json!(r#"{"full":true,"set":{"k":1}}"#));
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
