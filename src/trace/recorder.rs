//! The recorder: every record folded into the fingerprint, and written as one JSON line when
//! a sink is attached; the trace's header line.

use super::{Record, TRACE_SCHEMA};
use crate::base::hash::StableHasher;
use crate::base::types::Time;
use crate::protocol::Protocol;
use std::hash::Hasher;

/// A trace sink refused a line: why, in words. Boxed, so that recording, which nearly
/// always succeeds, returns one word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkError(pub Box<String>);

impl SinkError {
    /// The reason, in words.
    pub fn into_reason(self) -> String {
        *self.0
    }
}

/// Where a trace line goes. Returning `Err` stops the run (an I/O error, or a replay that
/// found the first diverging line).
pub trait TraceSink {
    /// Takes one JSON line (without the newline).
    fn line(&mut self, line: &str) -> Result<(), String>;
}

/// A record line as serde writes it: what [`Record::write_json`] must match byte for byte.
#[cfg(test)]
#[derive(serde::Serialize)]
#[serde(bound = "")]
pub(super) struct Line<'a, 'b, P: Protocol> {
    pub(super) step: u64,
    pub(super) t: Time,
    #[serde(flatten)]
    pub(super) record: &'a Record<'b, P>,
}

/// Folds records into the fingerprint and writes them to the sink, if any.
pub struct Recorder {
    fingerprint: StableHasher,
    /// The step whose number and time are already in the fingerprint.
    absorbed_step: Option<u64>,
    records: u64,
    sink: Option<Box<dyn TraceSink>>,
    /// The line being written; it starts with the prefix of step `prefix_of`, which is
    /// `prefix_len` bytes long.
    buf: Vec<u8>,
    prefix_of: Option<(u64, Time)>,
    prefix_len: usize,
}

impl Recorder {
    /// A recorder writing to `sink` (or only fingerprinting when `None`).
    pub fn new(sink: Option<Box<dyn TraceSink>>) -> Recorder {
        Recorder {
            fingerprint: StableHasher::default(),
            absorbed_step: None,
            records: 0,
            sink,
            buf: Vec::with_capacity(256),
            prefix_of: None,
            prefix_len: 0,
        }
    }

    /// Records one event of step `step` at time `t`.
    ///
    /// Fails when the sink refuses the line (an I/O error, or a replay that found the first
    /// diverging record): the run must stop there. The record is in the fingerprint either
    /// way. Inlined, so each call site folds in only its own kind of record; writing to the
    /// sink is out of line.
    #[inline(always)]
    pub fn record<P: Protocol>(
        &mut self,
        step: u64,
        t: Time,
        record: &Record<'_, P>,
    ) -> Result<(), SinkError> {
        // Records of one step share its number and time: fold those in once per step.
        if self.absorbed_step != Some(step) {
            self.absorbed_step = Some(step);
            self.fingerprint.word(step);
            self.fingerprint.word(t.0);
        }
        record.absorb(&mut self.fingerprint);
        self.records += 1;
        if self.sink.is_some() {
            return self.write(step, t, record);
        }
        Ok(())
    }

    /// Writes one record to the sink as a JSON line.
    #[inline(never)]
    fn write<P: Protocol>(
        &mut self,
        step: u64,
        t: Time,
        record: &Record<'_, P>,
    ) -> Result<(), SinkError> {
        let Some(sink) = &mut self.sink else {
            return Ok(());
        };
        // Records of one step share the line's prefix: keep it and write only the fields.
        if self.prefix_of != Some((step, t)) {
            self.buf.clear();
            super::record::write_prefix(step, t, &mut self.buf);
            self.prefix_len = self.buf.len();
            self.prefix_of = Some((step, t));
        }
        self.buf.truncate(self.prefix_len);
        record
            .write_fields(&mut self.buf)
            .map_err(|e| SinkError(Box::new(format!("could not serialize a trace record: {e}"))))?;
        #[cfg(test)]
        assert_eq!(
            String::from_utf8_lossy(&self.buf),
            serde_json::to_string(&Line { step, t, record }).unwrap_or_default(),
            "the trace writer and serde disagree"
        );
        // The writer copies whole strings and writes ASCII around them: valid UTF-8.
        sink.line(std::str::from_utf8(&self.buf).unwrap_or(""))
            .map_err(|e| SinkError(Box::new(e)))
    }

    /// The fingerprint of everything recorded so far.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint.finish()
    }

    /// Records so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Whether a sink is attached (callers skip building costly records otherwise).
    pub fn has_sink(&self) -> bool {
        self.sink.is_some()
    }

    /// Hands the sink back (for the caller to write the summary and close it).
    pub fn take_sink(&mut self) -> Option<Box<dyn TraceSink>> {
        self.sink.take()
    }
}

/// The trace's first line: what was run (tool, version, seed, the effective scenario and its
/// overrides) and what the protocol's annotations mean (its vocabulary). Written by every
/// trace writer, so every trace can be replayed and read by the tools.
pub fn header<P: Protocol>(
    source: &str,
    scenario: &serde_json::Value,
    seed: u64,
    overrides: &[String],
) -> String {
    serde_json::json!({
        "ev": "header",
        "schema": TRACE_SCHEMA,
        "tool": "faultline",
        "version": crate::VERSION,
        "git_commit": crate::GIT_COMMIT,
        "seed": seed,
        "source": source,
        "overrides": overrides,
        "scenario": scenario,
        "vocabulary": P::vocabulary(),
    })
    .to_string()
}

/// Formats a fingerprint the way summaries show it.
pub fn fingerprint_hex(fp: u64) -> String {
    format!("{fp:016x}")
}
