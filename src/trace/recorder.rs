//! The recorder: every record folded into the fingerprint, and written as one JSON line when
//! a sink is attached; the trace's header line.

use super::{Record, TRACE_SCHEMA};
use crate::base::hash::StableHasher;
use crate::base::types::NodeId;
use crate::base::types::Time;
use crate::protocol::{Protocol, Shown};
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

    /// Takes one JSON line as the recorder wrote it: bytes, ending with its newline. A sink
    /// that stores bytes (a file) overrides this to take them as they are; by default the
    /// line is checked as UTF-8 and handed to [`TraceSink::line`] without its newline.
    ///
    /// The recorder writes only valid UTF-8: ASCII of its own around whole `str`s copied as
    /// they are, and serde_json's output where it formats a value (see `json` in
    /// `record.rs`), so a sink that skips the check loses nothing; the default keeps the
    /// check for sinks that read the line as text.
    fn line_bytes(&mut self, line: &[u8]) -> Result<(), String> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        match std::str::from_utf8(line) {
            Ok(text) => self.line(text),
            Err(e) => Err(format!("a trace line is not UTF-8: {e}")),
        }
    }
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

/// Why a node's state could not be shown.
#[derive(Debug)]
pub enum ShowError {
    /// The protocol's `show` panicked, or what it showed does not serialise.
    Protocol(String),
    /// The sink refused the line.
    Sink(SinkError),
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
    /// The JSON of the messages in flight, written at `send` and copied by `deliver`.
    sent: SentJson,
    /// Records are neither folded nor written (a driver that records nothing).
    silent: bool,
    /// What each node last showed of its state (only while a sink is attached).
    shown: Vec<Shown>,
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
            sent: SentJson::default(),
            silent: false,
            shown: Vec::new(),
        }
    }

    /// A recorder that takes every record and keeps nothing: no fingerprint, no sink (the
    /// explorer's, which fingerprints states, not runs).
    pub fn silent() -> Recorder {
        Recorder {
            silent: true,
            ..Recorder::new(None)
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
        if self.silent {
            return Ok(());
        }
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

    /// Whether display records (timers set and cancelled, published state) are wanted: a
    /// sink is attached. Callers build them only then.
    #[inline(always)]
    pub fn wants_display(&self) -> bool {
        self.sink.is_some()
    }

    /// Writes a display record: to the sink only, never folded into the fingerprint nor
    /// counted, so a run with a trace file and one without have the same fingerprint and
    /// record count.
    #[inline(never)]
    pub fn display<P: Protocol>(
        &mut self,
        step: u64,
        t: Time,
        record: &Record<'_, P>,
    ) -> Result<(), SinkError> {
        self.write(step, t, record)
    }

    /// The shown state of `node`, to be forgotten (it booted: the next showing is whole).
    pub fn forget_shown(&mut self, node: NodeId) {
        if self.sink.is_some() {
            self.shown_of(node).reset();
        }
    }

    fn shown_of(&mut self, node: NodeId) -> &mut Shown {
        let i = node.index();
        if self.shown.len() <= i {
            self.shown.resize_with(i + 1, || {
                let mut s = Shown::default();
                s.reset();
                s
            });
        }
        &mut self.shown[i]
    }

    /// Asks `node` to show its state (`show` calls the protocol's [`Protocol::show`]) and
    /// writes a `state` record with what changed, if anything did. `show` returns `Err` with
    /// a message when the protocol panicked; a value that does not serialise is an error too.
    pub fn show(
        &mut self,
        step: u64,
        t: Time,
        node: NodeId,
        show: impl FnOnce(&mut Shown) -> Result<(), String>,
    ) -> Result<(), ShowError> {
        if self.sink.is_none() {
            return Ok(());
        }
        let i = node.index();
        self.shown_of(node);
        let shown = &mut self.shown[i];
        shown.begin();
        show(shown).map_err(ShowError::Protocol)?;
        self.prefix_of = None;
        self.buf.clear();
        super::record::write_prefix(step, t, &mut self.buf);
        self.buf.extend_from_slice(b",\"ev\":\"state\",\"node\":\"");
        self.buf.extend_from_slice(node.to_string().as_bytes());
        self.buf.push(b'"');
        match shown.finish(&mut self.buf) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(ShowError::Protocol(e)),
        }
        self.buf.extend_from_slice(b"}\n");
        match &mut self.sink {
            Some(sink) => sink
                .line_bytes(&self.buf)
                .map_err(|e| ShowError::Sink(SinkError(Box::new(e)))),
            None => Ok(()),
        }
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
            .write_fields(&mut self.buf, &mut self.sent)
            .map_err(|e| SinkError(Box::new(format!("could not serialize a trace record: {e}"))))?;
        #[cfg(test)]
        assert_eq!(
            String::from_utf8_lossy(&self.buf),
            serde_json::to_string(&Line { step, t, record }).unwrap_or_default(),
            "the trace writer and serde disagree"
        );
        // The newline goes in with the line, so a file sink writes each line with one copy;
        // the bytes are never checked as UTF-8 again on their way to a file (see
        // `TraceSink::line_bytes` for why they need not be).
        self.buf.push(b'\n');
        sink.line_bytes(&self.buf)
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

/// The JSON of the messages in flight, so that a message is formatted once, at its `send`,
/// and each `deliver` of it copies those bytes instead of formatting it again.
///
/// A message cannot change in flight (the world delivers the payload it was sent with), so
/// its bytes at `send` are its bytes at every delivery; builds with debug assertions format
/// it again at each delivery and compare. Message ids count up from 0 in the order they are
/// sent, so the messages kept are a window of ids: one [`Span`] per id from `first` on,
/// pointing into one buffer. A span is dropped when its last copy is delivered or lost (the
/// `copies` of its `send`), and the oldest are dropped when the window reaches
/// [`SentJson::SPANS_MAX`] messages or [`SentJson::BYTES_MAX`] bytes (a message held long
/// by a paused node, or one whose copy vanishes with its receiver). A message not kept is
/// formatted again, so the bound changes no byte of the trace, only how fast it is written.
#[derive(Default)]
pub(super) struct SentJson {
    /// The id of the message that `spans[0]` stands for.
    first: u64,
    /// One per message from `first` on.
    spans: std::collections::VecDeque<Span>,
    /// The messages' JSON back to back; `bytes[0]` is byte `origin` of all ever kept.
    bytes: Vec<u8>,
    /// Bytes dropped from the front of `bytes` so far.
    origin: u64,
}

/// Where one message's JSON sits, and how many of its copies are still to come.
#[derive(Clone, Copy)]
struct Span {
    /// Offset counted from the first byte ever kept (so it survives compaction).
    start: u64,
    len: u32,
    /// Copies still due: 0 once every copy is delivered or lost (or nothing was kept).
    left: u8,
}

impl SentJson {
    /// The most messages kept at once.
    pub(super) const SPANS_MAX: usize = 1 << 16;
    /// The most bytes of JSON kept at once (besides those waiting to be compacted away).
    pub(super) const BYTES_MAX: usize = 8 << 20;

    /// Keeps `json`, the JSON of message `id`, for its `copies` deliveries.
    pub(super) fn keep(&mut self, id: u64, copies: u8, json: &[u8]) {
        let next = self.first + self.spans.len() as u64;
        if id != next {
            // Not the next id (another world's ids, or none kept yet): start afresh there.
            self.spans.clear();
            self.bytes.clear();
            self.origin = 0;
            self.first = id;
        }
        let kept = copies > 0 && json.len() <= u32::MAX as usize;
        let start = self.origin + self.bytes.len() as u64;
        if kept {
            self.bytes.extend_from_slice(json);
        }
        self.spans.push_back(Span {
            start,
            len: if kept { json.len() as u32 } else { 0 },
            left: if kept { copies } else { 0 },
        });
        while self.spans.len() > Self::SPANS_MAX
            || (self.live_bytes() > Self::BYTES_MAX && self.spans.len() > 1)
        {
            self.pop_front();
        }
        self.drop_done();
    }

    /// The JSON of message `id`, if it is kept.
    #[inline]
    pub(super) fn get(&self, id: u64) -> Option<&[u8]> {
        let span = self.span(id)?;
        if span.left == 0 {
            return None;
        }
        let at = (span.start - self.origin) as usize;
        self.bytes.get(at..at + span.len as usize)
    }

    /// One copy of message `id` was delivered or lost.
    #[inline]
    pub(super) fn copy_done(&mut self, id: u64) {
        let first = self.first;
        let Some(span) = id
            .checked_sub(first)
            .and_then(|i| self.spans.get_mut(usize::try_from(i).ok()?))
        else {
            return;
        };
        span.left = span.left.saturating_sub(1);
        if span.left == 0 && id == first {
            self.drop_done();
        }
    }

    fn span(&self, id: u64) -> Option<&Span> {
        let i = usize::try_from(id.checked_sub(self.first)?).ok()?;
        self.spans.get(i)
    }

    /// Bytes between the oldest span kept and the end.
    fn live_bytes(&self) -> usize {
        let front = self.spans.front().map_or(self.origin, |s| s.start);
        (self.origin + self.bytes.len() as u64 - front) as usize
    }

    fn pop_front(&mut self) {
        if self.spans.pop_front().is_some() {
            self.first += 1;
        }
    }

    /// Drops the spans at the front whose copies are all done, and compacts the buffer
    /// once more than half of it (and at least 64 KiB) is dead.
    fn drop_done(&mut self) {
        while self.spans.front().is_some_and(|s| s.left == 0) {
            self.pop_front();
        }
        let live_from = self
            .spans
            .front()
            .map_or(self.origin + self.bytes.len() as u64, |s| s.start);
        let dead = (live_from - self.origin) as usize;
        if dead >= (64 << 10) && dead * 2 >= self.bytes.len() {
            self.bytes.drain(..dead);
            self.origin += dead as u64;
        }
    }
}

#[cfg(test)]
mod sent_tests {
    use super::{SentJson, TraceSink};

    #[test]
    fn a_sink_that_reads_text_gets_each_line_checked_and_without_its_newline() {
        struct Text(Vec<String>);
        impl TraceSink for Text {
            fn line(&mut self, line: &str) -> Result<(), String> {
                self.0.push(line.to_string());
                Ok(())
            }
        }
        let mut sink = Text(Vec::new());
        sink.line_bytes(b"{\"ev\":\"a\"}\n").unwrap();
        sink.line_bytes("{\"v\":\"\u{e9}\"}\n".as_bytes()).unwrap();
        let e = sink.line_bytes(b"{\"v\":\"\xff\"}\n").unwrap_err();
        assert!(e.starts_with("a trace line is not UTF-8"), "{e}");
        assert_eq!(sink.0, vec!["{\"ev\":\"a\"}", "{\"v\":\"\u{e9}\"}"]);
    }

    #[test]
    fn a_message_is_kept_until_its_last_copy_and_the_window_is_bounded() {
        let mut s = SentJson::default();
        s.keep(0, 2, b"{\"a\":0}");
        s.keep(1, 0, b"lost at send");
        s.keep(2, 1, b"two");
        assert_eq!(s.get(0), Some(&b"{\"a\":0}"[..]));
        assert_eq!(s.get(1), None, "a message lost at send is not kept");
        s.copy_done(0);
        assert_eq!(s.get(0), Some(&b"{\"a\":0}"[..]), "one copy still due");
        s.copy_done(0);
        assert_eq!(s.get(0), None);
        assert_eq!(s.get(2), Some(&b"two"[..]));
        assert_eq!(s.spans.len(), 1, "the done front is dropped");
        // An id out of sequence starts afresh, and unknown ids are misses.
        s.keep(10, 1, b"ten");
        assert_eq!(
            (s.get(2), s.get(10), s.get(11)),
            (None, Some(&b"ten"[..]), None)
        );
        s.copy_done(99);
        // A message that is never delivered is dropped once the window is full, and the
        // buffer is compacted: what stays kept still reads back whole.
        let mut s = SentJson::default();
        let body = vec![b'x'; 100];
        for id in 0..(SentJson::SPANS_MAX as u64 + 5_000) {
            s.keep(id, 1, &body);
            if id > 0 {
                s.copy_done(id);
            }
        }
        assert!(s.spans.len() <= SentJson::SPANS_MAX);
        assert_eq!(s.get(0), None, "the oldest went first");
        assert!(s.bytes.len() < 2 * (100 * SentJson::SPANS_MAX + (64 << 10)));
        let last = SentJson::SPANS_MAX as u64 + 4_999;
        s.keep(last + 1, 2, b"end");
        assert_eq!(s.get(last + 1), Some(&b"end"[..]));
        // The byte bound.
        let mut s = SentJson::default();
        let big = vec![b'y'; 1 << 20];
        for id in 0..20 {
            s.keep(id, 1, &big);
        }
        assert!(s.live_bytes() <= SentJson::BYTES_MAX);
        assert_eq!(s.get(19).map(<[u8]>::len), Some(1 << 20));
        assert_eq!(s.get(0), None);
    }
}
