//! Reading a whole trace back: the header, the records and the summary of a JSON Lines trace
//! written by `run --trace` (format: docs/trace.md).
//!
//! The viewer, the exports and the narrative all start from a [`TraceDoc`], and learn what
//! the protocol's annotations mean from its [`Vocabulary`], read from the header. A trace
//! written before headers carried a vocabulary reads as one with no words: no role, epoch or
//! progress keys, so the tools tell its annotations generically and say nothing wrong.
//!
//! A trace of any size must be readable, so the records are kept as text and parsed one at a
//! time as a tool walks them, and [`TraceDocBuilder`] takes the lines one at a time from a
//! bounded reader. This module takes text, never a path: the CLI reads the file and names it
//! in errors. It must not import the engine or the tools.

use serde_json::Value;
use std::fmt;

use crate::protocol::Vocabulary;
use crate::trace::TRACE_SCHEMA;

/// A trace read back into memory.
///
/// The records are kept as their JSON text, one buffer for all of them, and parsed again each
/// time a tool walks them ([`TraceDoc::records`]): a record parsed into a `serde_json::Value`
/// takes about 25 times its text, which made a million-record trace unreadable. Reading
/// checks every record once, so walking them again cannot fail.
#[derive(Clone, Debug)]
pub struct TraceDoc {
    /// Line 1: what was run (`ev` = `header`).
    pub header: Value,
    /// The last line (`ev` = `summary`), if the trace is complete.
    pub summary: Option<Value>,
    /// What the protocol's annotations mean, from the header's `vocabulary` (empty when the
    /// header has none).
    pub vocabulary: Vocabulary,
    /// Every record between the header and the summary, in file order, as text.
    records: RecordTexts,
    /// The last `violation` record, if the run failed a check.
    violation: Option<Value>,
    /// The latest `t` of any record.
    time_max: Option<u64>,
    /// Display records (`armed`, `disarmed`, `state`) among the records.
    display: usize,
}

/// Record texts side by side in one buffer.
#[derive(Clone, Debug, Default)]
struct RecordTexts {
    /// Every record's line, one after the other, without line endings.
    text: String,
    /// Where each record's text ends in `text`.
    ends: Vec<usize>,
    /// (record, line) wherever a record is not on the line after the previous one's (the
    /// first record, and any after a blank line), so a record's line is known without a
    /// number per record.
    jumps: Vec<(usize, usize)>,
}

impl RecordTexts {
    fn push(&mut self, line: usize, text: &str) {
        let i = self.ends.len();
        let follows = match self.jumps.last() {
            Some(&(r, l)) => l + (i - r) == line,
            None => false,
        };
        if !follows {
            self.jumps.push((i, line));
        }
        self.text.push_str(text);
        self.ends.push(self.text.len());
    }

    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    fn line(&self, i: usize) -> usize {
        let k = self.jumps.partition_point(|&(r, _)| r <= i);
        match k.checked_sub(1).map(|k| self.jumps[k]) {
            Some((r, l)) => l + (i - r),
            None => 0,
        }
    }
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

/// Reads the header line.
fn read_header(line: usize, text: &str) -> Result<(Value, Vocabulary), TraceDocError> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        err(
            line,
            e.column(),
            format!("not a faultline trace header: {e}"),
        )
    })?;
    if v.get("ev").and_then(Value::as_str) != Some("header") {
        return Err(err(
            line,
            1,
            "the first line is not a faultline trace header",
        ));
    }
    if v.get("schema").and_then(Value::as_u64) != Some(u64::from(TRACE_SCHEMA)) {
        return Err(err(
            line,
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
                line,
                1,
                format!(
                    "vocabulary: expected the protocol's vocabulary (role, leading, contending, epoch, leader, progress, step_down): {e}"
                ),
            )
        })?,
    };
    Ok((v, vocabulary))
}

/// Builds a [`TraceDoc`] from lines fed one at a time (a file read with a bounded line
/// reader), checking each line as [`TraceDoc::parse`] does. It keeps the records as text, or,
/// for a tool that needs each record only once (the viewer), hands each one over parsed and
/// keeps nothing of it ([`TraceDocBuilder::streaming`]).
#[derive(Debug)]
pub struct TraceDocBuilder {
    /// The header and its vocabulary, once read.
    header: Option<(Value, Vocabulary)>,
    summary: Option<Value>,
    /// Whether records are kept.
    keep: bool,
    records: RecordTexts,
    violation: Option<Value>,
    time_max: Option<u64>,
    /// Display records (`armed`, `disarmed`, `state`) among the records.
    display: usize,
}

impl TraceDocBuilder {
    /// A builder that keeps the records, with room for about `bytes` of record text (the
    /// file's size, if known).
    pub fn with_capacity(bytes: usize) -> TraceDocBuilder {
        let mut b = TraceDocBuilder::streaming();
        b.keep = true;
        b.records.text.reserve(bytes);
        b
    }

    /// A builder that checks the records and hands them over, but keeps none: the trace it
    /// finishes has only its header and summary.
    pub fn streaming() -> TraceDocBuilder {
        TraceDocBuilder {
            header: None,
            summary: None,
            keep: false,
            records: RecordTexts::default(),
            violation: None,
            time_max: None,
            display: 0,
        }
    }

    /// The header, once line 1 has been read.
    pub fn header(&self) -> Option<&Value> {
        self.header.as_ref().map(|(h, _)| h)
    }

    /// Reads line `number` (1-based), which must follow the line fed before; returns the
    /// record it holds, if it is one (not blank, not the header or the summary).
    pub fn line(&mut self, number: usize, text: &str) -> Result<Option<Value>, TraceDocError> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        if self.header.is_none() {
            self.header = Some(read_header(number, text)?);
            return Ok(None);
        }
        if self.summary.is_some() {
            return Err(err(number, 1, "a record after the summary line"));
        }
        let v: Value = serde_json::from_str(text)
            .map_err(|e| err(number, e.column(), format!("not a JSON trace record: {e}")))?;
        match v.get("ev").and_then(Value::as_str) {
            Some("summary") => {
                self.summary = Some(v);
                return Ok(None);
            }
            Some("header") => return Err(err(number, 1, "a second header")),
            Some(_) => {}
            None => return Err(err(number, 1, "ev: missing (expected a record type)")),
        }
        if let Some(t) = v.get("t").and_then(Value::as_u64) {
            self.time_max = Some(self.time_max.map_or(t, |m| m.max(t)));
        }
        match v.get("ev").and_then(Value::as_str) {
            Some("violation") => self.violation = Some(v.clone()),
            Some(ev) if super::DISPLAY_EVS.contains(&ev) => self.display += 1,
            _ => {}
        }
        if self.keep {
            self.records.push(number, text);
        }
        Ok(Some(v))
    }

    /// The trace, once every line has been fed.
    pub fn finish(self) -> Result<TraceDoc, TraceDocError> {
        let Some((header, vocabulary)) = self.header else {
            return Err(err(1, 1, "empty file: expected a faultline trace header"));
        };
        let mut records = self.records;
        records.text.shrink_to_fit();
        records.ends.shrink_to_fit();
        Ok(TraceDoc {
            header,
            summary: self.summary,
            vocabulary,
            records,
            violation: self.violation,
            time_max: self.time_max,
            display: self.display,
        })
    }
}

impl TraceDoc {
    /// Parses a whole trace. The first line must be a header of this build's schema; every
    /// other non-empty line must be a JSON object with an `ev` field; a summary may only be
    /// the last record.
    pub fn parse(text: &str) -> Result<TraceDoc, TraceDocError> {
        let mut b = TraceDocBuilder::with_capacity(text.len());
        for (i, l) in text.lines().enumerate() {
            b.line(i + 1, l)?;
        }
        b.finish()
    }

    /// The number of records between the header and the summary.
    pub fn len(&self) -> usize {
        self.records.ends.len()
    }

    /// The records that are not display records (the run's records, as its summary counts
    /// them; see [`super::DISPLAY_EVS`]).
    pub fn run_records(&self) -> usize {
        self.len() - self.display
    }

    /// Whether the trace has no records.
    pub fn is_empty(&self) -> bool {
        self.records.ends.is_empty()
    }

    /// Every record with its index (0 is the record after the header), in file order, each
    /// parsed as it is reached and dropped after.
    pub fn records(&self) -> impl Iterator<Item = (usize, Value)> + '_ {
        (0..self.len()).map(|i| (i, self.record(i)))
    }

    /// Record `i` (0 is the record after the header), parsed.
    pub fn record(&self, i: usize) -> Value {
        serde_json::from_str(self.records.get(i))
            .expect("every record was parsed once when the trace was read")
    }

    /// The 1-based line of record `i` in the text the trace was read from.
    pub fn line_of(&self, i: usize) -> usize {
        self.records.line(i)
    }

    /// The latest time of any record, if any has one.
    pub fn time_max(&self) -> Option<u64> {
        self.time_max
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
        self.violation.as_ref()
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
        assert_eq!(d.len(), 1);
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
    fn records_are_kept_as_text_and_walked_parsed_with_their_lines() {
        let text = format!(
            "{HEAD}\n{}\n\n\n{}\n{}\n  \n{}\n",
            r#"{"step":1,"t":5,"ev":"start","node":"n1"}"#,
            r#"{"step":2,"t":9,"ev":"violation","check":"c"}"#,
            r#"{"step":3,"t":7,"ev":"note","node":"n2","key":"k","value":[1,{"b":2,"a":1}]}"#,
            r#"{"ev":"summary","time_end":12}"#
        );
        let d = TraceDoc::parse(&text).unwrap();
        assert_eq!(d.len(), 3);
        let walked: Vec<(usize, Value)> = d.records().collect();
        assert_eq!(walked[2].0, 2);
        // A record reads back as it was written, keys in file order.
        assert_eq!(
            walked[2].1.to_string(),
            r#"{"step":3,"t":7,"ev":"note","node":"n2","key":"k","value":[1,{"b":2,"a":1}]}"#
        );
        assert_eq!(d.record(0)["node"], "n1");
        // Lines count blank lines: records are on lines 2, 5 and 6.
        assert_eq!([d.line_of(0), d.line_of(1), d.line_of(2)], [2, 5, 6]);
        assert_eq!(d.time_max(), Some(9));
        assert_eq!(d.violation().unwrap()["check"], "c");
        assert_eq!(d.summary.as_ref().unwrap()["time_end"], 12);
        // The streaming builder checks the same lines and keeps no records.
        let mut b = TraceDocBuilder::streaming();
        let mut handed = 0;
        for (i, l) in text.lines().enumerate() {
            handed += usize::from(b.line(i + 1, l).unwrap().is_some());
        }
        let d = b.finish().unwrap();
        assert_eq!((handed, d.len(), d.time_max()), (3, 0, Some(9)));
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
