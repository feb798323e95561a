//! Reading a whole trace back: the header, the records and the summary of a JSON Lines trace
//! written by `run --trace` (format: docs/trace.md).
//!
//! The viewer, the exports and the narrative all start from a [`TraceDoc`], and learn what
//! the protocol's annotations mean from its [`Vocabulary`], read from the header. A trace
//! written before headers carried a vocabulary reads as one with no words: no role, epoch or
//! progress keys, so the tools tell its annotations generically and say nothing wrong.
//!
//! This module takes text, never a path: the CLI reads the file and names it in errors. It
//! must not import the engine or the tools.

use serde_json::Value;
use std::fmt;

use crate::protocol::Vocabulary;
use crate::trace::TRACE_SCHEMA;

/// A trace read back into memory.
#[derive(Clone, Debug)]
pub struct TraceDoc {
    /// Line 1: what was run (`ev` = `header`).
    pub header: Value,
    /// Every record between the header and the summary, in file order.
    pub records: Vec<Value>,
    /// The last line (`ev` = `summary`), if the trace is complete.
    pub summary: Option<Value>,
    /// What the protocol's annotations mean, from the header's `vocabulary` (empty when the
    /// header has none).
    pub vocabulary: Vocabulary,
}

/// Why a text is not a readable trace: 1-based line and column, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceDocError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for TraceDocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

fn err(line: usize, column: usize, message: impl Into<String>) -> TraceDocError {
    TraceDocError {
        line,
        column,
        message: message.into(),
    }
}

impl TraceDoc {
    /// Parses a whole trace. The first line must be a header of this build's schema; every
    /// other non-empty line must be a JSON object with an `ev` field; a summary may only be
    /// the last record.
    pub fn parse(text: &str) -> Result<TraceDoc, TraceDocError> {
        let mut lines = text.lines().enumerate();
        let header = loop {
            match lines.next() {
                None => return Err(err(1, 1, "empty file: expected a faultline trace header")),
                Some((_, l)) if l.trim().is_empty() => continue,
                Some((i, l)) => {
                    let v: Value = serde_json::from_str(l).map_err(|e| {
                        err(
                            i + 1,
                            e.column(),
                            format!("not a faultline trace header: {e}"),
                        )
                    })?;
                    if v.get("ev").and_then(Value::as_str) != Some("header") {
                        return Err(err(
                            i + 1,
                            1,
                            "the first line is not a faultline trace header",
                        ));
                    }
                    if v.get("schema").and_then(Value::as_u64) != Some(u64::from(TRACE_SCHEMA)) {
                        return Err(err(
                            i + 1,
                            1,
                            format!(
                                "schema: this faultline reads trace schema {TRACE_SCHEMA}, the file has {}",
                                v.get("schema").unwrap_or(&Value::Null)
                            ),
                        ));
                    }
                    let vocabulary = match v.get("vocabulary") {
                        None | Some(Value::Null) => Vocabulary::none(),
                        Some(words) => serde_json::from_value(words.clone()).map_err(|e| {
                            err(
                                i + 1,
                                1,
                                format!(
                                    "vocabulary: expected the protocol's vocabulary (role, leading, contending, epoch, leader, progress, step_down): {e}"
                                ),
                            )
                        })?,
                    };
                    break (v, vocabulary);
                }
            }
        };
        let (header, vocabulary) = header;
        let mut records = Vec::new();
        let mut summary = None;
        for (i, l) in lines {
            if l.trim().is_empty() {
                continue;
            }
            if summary.is_some() {
                return Err(err(i + 1, 1, "a record after the summary line"));
            }
            let v: Value = serde_json::from_str(l)
                .map_err(|e| err(i + 1, e.column(), format!("not a JSON trace record: {e}")))?;
            match v.get("ev").and_then(Value::as_str) {
                Some("summary") => summary = Some(v),
                Some("header") => return Err(err(i + 1, 1, "a second header")),
                Some(_) => records.push(v),
                None => return Err(err(i + 1, 1, "ev: missing (expected a record type)")),
            }
        }
        Ok(TraceDoc {
            header,
            records,
            summary,
            vocabulary,
        })
    }

    /// Number of nodes, from the header's scenario.
    pub fn nodes(&self) -> u64 {
        self.header["scenario"]["nodes"].as_u64().unwrap_or(0)
    }

    /// Number of clients, from the header's scenario (0 without a workload).
    pub fn clients(&self) -> u64 {
        self.header["scenario"]["workload"]["clients"]
            .as_u64()
            .unwrap_or(0)
    }

    /// The protocol's name.
    pub fn protocol(&self) -> &str {
        self.header["scenario"]["protocol"]["name"]
            .as_str()
            .unwrap_or("?")
    }

    /// The scenario's description (empty if it has none).
    pub fn description(&self) -> &str {
        self.header["scenario"]["description"]
            .as_str()
            .unwrap_or("")
    }

    /// The bundled name or path the run came from.
    pub fn source(&self) -> &str {
        self.header["source"].as_str().unwrap_or("trace")
    }

    /// The seed of the run.
    pub fn seed(&self) -> u64 {
        self.header["seed"].as_u64().unwrap_or(0)
    }

    /// The `violation` record, if the run failed a check.
    pub fn violation(&self) -> Option<&Value> {
        self.records
            .iter()
            .rev()
            .find(|r| r["ev"].as_str() == Some("violation"))
    }

    /// The replay command from the summary, if the trace is complete.
    pub fn reproduce(&self) -> Option<&str> {
        self.summary.as_ref()?["reproduce"].as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = r#"{"ev":"header","schema":1,"seed":3,"source":"x","scenario":{"nodes":2,"protocol":{"name":"ping"}}}"#;

    #[test]
    fn reads_header_records_and_summary() {
        let text = format!(
            "{HEAD}\n{}\n{}\n",
            r#"{"step":1,"t":0,"ev":"start","node":"n1","incarnation":1,"recover":false}"#,
            r#"{"ev":"summary","reproduce":"faultline run x --seed 3"}"#
        );
        let d = TraceDoc::parse(&text).unwrap();
        assert_eq!(d.records.len(), 1);
        assert_eq!(d.nodes(), 2);
        assert_eq!(d.seed(), 3);
        assert_eq!(d.protocol(), "ping");
        assert_eq!(d.reproduce(), Some("faultline run x --seed 3"));
        // A header without a vocabulary (written before there was one) reads as no words.
        assert_eq!(d.vocabulary, Vocabulary::none());
    }

    #[test]
    fn reads_the_vocabulary_from_the_header_and_rejects_a_malformed_one() {
        // A made-up protocol's words, as a header writes them.
        let expected = Vocabulary::none()
            .role("duty", &["chief"], &["hopeful"])
            .epoch("era")
            .progress(&["settled"]);
        let head = format!(
            r#"{{"ev":"header","schema":1,"seed":3,"scenario":{{"nodes":2}},"vocabulary":{}}}"#,
            serde_json::to_string(&expected).unwrap()
        );
        let d = TraceDoc::parse(&head).unwrap();
        assert_eq!(d.vocabulary, expected);
        let e = TraceDoc::parse(r#"{"ev":"header","schema":1,"vocabulary":{"leading":"chief"}}"#)
            .unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.starts_with("vocabulary: "), "{e}");
        let e =
            TraceDoc::parse(r#"{"ev":"header","schema":1,"vocabulary":{"duty":"x"}}"#).unwrap_err();
        assert!(e.message.contains("duty"), "{e}");
    }

    #[test]
    fn errors_name_line_and_column() {
        assert_eq!(TraceDoc::parse("").unwrap_err().line, 1);
        let e = TraceDoc::parse(&format!("{HEAD}\n{{\"ev\": }}\n")).unwrap_err();
        assert_eq!((e.line, e.column > 1), (2, true), "{e}");
        let e = TraceDoc::parse(r#"{"ev":"header","schema":99}"#).unwrap_err();
        assert!(e.message.contains("schema"), "{e}");
        let e = TraceDoc::parse(&format!(
            "{HEAD}\n{{\"ev\":\"summary\"}}\n{{\"ev\":\"send\"}}"
        ))
        .unwrap_err();
        assert_eq!(e.line, 3);
        let e = TraceDoc::parse(&format!("{HEAD}\n{{\"t\":1}}")).unwrap_err();
        assert!(e.message.contains("ev"), "{e}");
    }
}
