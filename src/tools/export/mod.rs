//! Exports of a trace for other tools: Perfetto (Chrome's Trace Event Format), ShiViz (a log
//! with vector clocks) and Jepsen (the client history as EDN). See docs/exports.md.
//!
//! Every export takes a [`TraceDoc`] and returns the whole file as a `String`, or hands it
//! over line by line ([`export_lines`]; Perfetto's is made that way and never held whole); the
//! CLI reads the trace and writes the result. Nothing here depends on the protocol: messages, notes and
//! faults are read from their JSON, and what annotations mean from the trace's vocabulary, so
//! a trace of any protocol exports the same way. Must not read or write files or import the
//! engine.

mod jepsen;
mod perfetto;
mod shiviz;

pub use crate::tools::read::RecordError;
pub use jepsen::{edn, jepsen};
pub use perfetto::{perfetto, perfetto_lines, span_keys};
pub use shiviz::{SHIVIZ_REGEX, shiviz};

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

/// Exports `doc` in `format` with the default options (Perfetto: slices for the keys
/// [`span_keys`] picks from the trace's vocabulary).
pub fn export(doc: &TraceDoc, format: Format) -> Result<String, RecordError> {
    match format {
        Format::Perfetto => perfetto(doc, &span_keys(&doc.vocabulary)),
        Format::Shiviz => shiviz(doc),
        Format::Jepsen => jepsen(doc),
    }
}

/// Why an export written line by line stopped.
#[derive(Debug)]
pub enum WriteError {
    /// A record the export cannot read.
    Record(RecordError),
    /// The output failed.
    Output(String),
}

impl From<RecordError> for WriteError {
    fn from(e: RecordError) -> Self {
        WriteError::Record(e)
    }
}

/// The export in `format`, handed to `sink` one line at a time (without line endings). The
/// Perfetto export is made line by line and never held whole; the others are made whole,
/// then handed over.
pub fn export_lines(
    doc: &TraceDoc,
    format: Format,
    sink: &mut dyn FnMut(&str) -> Result<(), String>,
) -> Result<(), WriteError> {
    let text = match format {
        Format::Perfetto => return perfetto_lines(doc, &span_keys(&doc.vocabulary), sink),
        Format::Shiviz => shiviz(doc)?,
        Format::Jepsen => jepsen(doc)?,
    };
    text.lines().try_for_each(sink).map_err(WriteError::Output)
}

#[cfg(test)]
mod robustness {
    use super::*;

    /// A made-up protocol whose role key is `duty` (`chief` leads) and whose progress key is
    /// `settled`, so the records below reach the vocabulary's paths of every tool.
    fn head() -> String {
        let words = crate::protocol::Vocabulary::none()
            .role("duty", &["chief"], &[])
            .epoch("era")
            .progress(&["settled"]);
        format!(
            r#"{{"ev":"header","schema":1,"seed":1,"source":"x","scenario":{{"nodes":2,"protocol":{{"name":"made_up"}},"workload":{{"clients":1}}}},"vocabulary":{}}}"#,
            serde_json::to_string(&words).unwrap()
        )
    }

    /// Traces that parse but make no sense: every export and the narrative answer with an
    /// error or with text, never a panic.
    #[test]
    fn strange_records_give_errors_or_text_never_a_panic() {
        let records = [
            r#"{"step":1,"t":9,"ev":"fault","fault":{"crash":"n1"},"origin":"schedule"}"#,
            r#"{"step":2,"t":3,"ev":"start","node":"n1","incarnation":1,"recover":true}"#,
            r#"{"step":3,"t":1,"ev":"note","node":"n2","key":"duty","value":"chief"}"#,
            r#"{"step":4,"t":0,"ev":"note","node":"n2","key":"duty","value":"backup"}"#,
            r#"{"step":5,"t":0,"ev":"invoke","op":1,"client":"c1","process":18446744073709551615,"request":{"get":{"key":[1]}}}"#,
            r#"{"step":6,"t":0,"ev":"fault","fault":{"partition":"nonsense"},"origin":7}"#,
            r#"{"step":7,"t":0,"ev":"note","node":"n1","key":"settled","value":"x"}"#,
            r#"{"step":8,"t":0,"ev":"violation","check":"c","kind":"always","nodes":["n7",3],"message":null}"#,
            r#"{"step":9,"t":0,"ev":"complete","op":1,"client":"c1","process":0,"outcome":[]}"#,
            r#"{"step":10,"t":5,"ev":"send","id":1,"from":"n1","to":"c1","copies":0,"msg":7}"#,
            r#"{"step":11,"t":2,"ev":"deliver","id":1,"from":"n1","to":"c1","msg":null}"#,
            r#"{"step":12,"t":2,"ev":"deliver","id":2,"from":"n1","to":"n2","msg":null}"#,
            r#"{"step":13,"ev":"timer","node":"n1"}"#,
        ];
        for n in 0..=records.len() {
            let text = format!("{}\n{}", head(), records[..n].join("\n"));
            let doc = TraceDoc::parse(&text).unwrap();
            for format in [Format::Perfetto, Format::Shiviz, Format::Jepsen] {
                let _ = export(&doc, format);
            }
            let _ = crate::tools::explain::explain(&doc, Some("t.jsonl"));
        }
        let doc = TraceDoc::parse(&format!("{}\n{}", head(), records.join("\n"))).unwrap();
        let e = shiviz(&doc).unwrap_err();
        assert_eq!(e.record, 11, "{e}");
        assert!(e.message.contains("never sent"), "{e}");
    }
}
