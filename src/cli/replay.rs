//! `faultline replay`: a trace's run again from its header, compared with the recorded
//! trace record by record and in its summary.

use super::Exit;
use super::io::{InputLines, ReadFailure, bad, open_trace};
use crate::protocols::AnyScenario;
use crate::scenario::{Document, replay_line};
use crate::sim::Verdict;
use crate::trace::file::{partial_path, summary_line};
use crate::trace::{self, TRACE_SCHEMA, TraceSink};
use std::cell::RefCell;
use std::io::Write;
use std::path::Path;
use std::rc::Rc;

/// Why the comparison stopped before the replayed run ended.
enum Stop {
    /// A recorded line differs from the replayed one (the message says where).
    Diverged(String),
    /// The recorded trace ends before the replay does: the file was cut (or is a
    /// `.partial` file whose run did not finish).
    Ended,
    /// The recorded trace could not be read on (too long a line, not UTF-8, an I/O error).
    Unreadable(ReadFailure),
}

/// Compares each replayed line with the next line of the recorded trace.
struct CompareSink {
    lines: InputLines,
    /// Lines compared, the one being compared included.
    compared: u64,
    /// The last recorded line that matched (for "how far it matched").
    last_matched: String,
    /// Whether the file's last line was cut short and matched the replay as far as it goes.
    cut_line_matched: bool,
    stop: Option<Stop>,
    /// The recorded line being compared.
    recorded: String,
}

impl CompareSink {
    /// The next recorded line, or `None` at the end of the file (or after a read error,
    /// which is kept in `stop`).
    fn next_recorded(&mut self) -> Option<&str> {
        loop {
            match self.lines.next_line() {
                // Display records are not compared (the replay skips its own too); the
                // file's last line cut short inside one matches as far as it goes.
                Ok(Some((_, text))) if trace::is_display_line(text) => {
                    if !self.lines.ended_with_newline() {
                        self.cut_line_matched = true;
                        return None;
                    }
                    continue;
                }
                Ok(Some((_, text))) => {
                    self.recorded.clear();
                    self.recorded.push_str(text);
                    return Some(&self.recorded);
                }
                Ok(None) => return None,
                Err(e) => {
                    self.stop = Some(Stop::Unreadable(e));
                    return None;
                }
            }
        }
    }

    /// The line the comparison reached (the header is line 1).
    fn line(&self) -> usize {
        self.lines.line()
    }

    /// Whether the file ended without a newline after its last line.
    fn ended_mid_line(&self) -> bool {
        !self.lines.ended_with_newline()
    }

    /// "the N records before it (through step S)": how far the recorded trace matched.
    fn matched(&self) -> String {
        let n = self.compared.saturating_sub(1);
        match n {
            0 => "no record (the trace ends right after its header)".to_string(),
            _ => format!(
                "{n} record{} (through {})",
                if n == 1 { "" } else { "s" },
                step_of(&self.last_matched)
            ),
        }
    }

    /// Compares `line` with the next recorded line; on any difference, says why in `stop`.
    fn compare(&mut self, line: &str) -> bool {
        if trace::is_display_line(line) {
            return true;
        }
        self.compared += 1;
        let compared = self.compared;
        let got = self.next_recorded().is_some();
        let cut = self.ended_mid_line();
        let verdict = match got.then_some(self.recorded.as_str()) {
            Some(recorded) if recorded == line => Ok(()),
            // The file's last line, cut short: as far as it goes, it matches (or it is the
            // start of a display record, which is not compared).
            Some(recorded)
                if line.starts_with(recorded)
                    || (cut && trace::may_begin_display_line(recorded)) =>
            {
                Err(None)
            }
            Some(recorded) => Err(Some(Stop::Diverged(format!(
                "diverged at record {compared} ({}):\n  recorded: {recorded}\n  replayed: {line}",
                step_of(recorded)
            )))),
            None => Err(Some(Stop::Ended)),
        };
        match verdict {
            Ok(()) => {
                self.last_matched.clear();
                self.last_matched.push_str(line);
                true
            }
            Err(None)
                if self.lines.next_line().is_ok_and(|l| l.is_none()) && self.ended_mid_line() =>
            {
                self.cut_line_matched = true;
                self.stop = Some(Stop::Ended);
                false
            }
            Err(None) => {
                // A shorter line that is not the file's cut last line: a real difference.
                self.stop = Some(Stop::Diverged(format!(
                    "diverged at record {compared} ({}): the recorded line stops short of the replayed one:\n  replayed: {line}",
                    step_of(line)
                )));
                false
            }
            Err(Some(stop)) => {
                if self.stop.is_none() {
                    self.stop = Some(stop);
                }
                false
            }
        }
    }
}

fn step_of(line: &str) -> String {
    let v = serde_json::from_str::<serde_json::Value>(line).ok();
    match v
        .as_ref()
        .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
    {
        Some(s) => format!("step {s}"),
        None if v
            .as_ref()
            .and_then(|v| v.get("ev"))
            .and_then(|e| e.as_str())
            == Some("summary") =>
        {
            "the summary".to_string()
        }
        None => "no step".to_string(),
    }
}

impl TraceSink for CompareSink {
    fn line(&mut self, line: &str) -> Result<(), String> {
        match self.compare(line) {
            true => Ok(()),
            // The engine stops the run; the command reads `stop` to say why.
            false => Err("the replay stopped comparing".to_string()),
        }
    }
}

/// Shares the comparer between the engine (which owns a `Box<dyn TraceSink>`) and the
/// command, which compares the summary after the run.
struct Shared<S>(Rc<RefCell<Option<S>>>);

impl<S: TraceSink> TraceSink for Shared<S> {
    fn line(&mut self, line: &str) -> Result<(), String> {
        match self.0.borrow_mut().as_mut() {
            Some(s) => s.line(line),
            None => Err("the trace was already closed".to_string()),
        }
    }
}

pub(super) fn cmd_replay(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let shown = path.display().to_string();
    let partial = partial_path(path);
    if !path.exists() && partial.is_file() {
        let _ = writeln!(
            err,
            "error: {shown}: no such file, but {} is there: the run that wrote it did not finish (killed, or its trace could not be written); `faultline replay {}` compares what it holds",
            partial.display(),
            partial.display()
        );
        return Exit::BadInput;
    }
    let mut lines = match open_trace(path) {
        Ok(l) => l,
        Err(e) => return bad(err, e),
    };
    let head: serde_json::Value = match lines.next_line() {
        Ok(Some((_, l))) => match serde_json::from_str(l) {
            Ok(v) => v,
            Err(_) if !lines.ended_with_newline() => {
                let _ = writeln!(
                    err,
                    "error: {shown}:1: the trace is cut inside its header line (nothing to replay)"
                );
                return Exit::BadInput;
            }
            Err(_) => serde_json::Value::Null,
        },
        Ok(None) => serde_json::Value::Null,
        Err(e) => return bad(err, e),
    };
    if head.get("ev").and_then(|e| e.as_str()) != Some("header") {
        let _ = writeln!(
            err,
            "error: {shown}:1: the first line is not a faultline trace header"
        );
        return Exit::BadInput;
    }
    if head.get("schema").and_then(|s| s.as_u64()) != Some(u64::from(TRACE_SCHEMA)) {
        let _ = writeln!(
            err,
            "error: {shown}:1: schema: this faultline reads trace schema {TRACE_SCHEMA}, the file has {}",
            head["schema"]
        );
        return Exit::BadInput;
    }
    let Some(seed) = head.get("seed").and_then(|s| s.as_u64()) else {
        let _ = writeln!(err, "error: {shown}:1: seed: missing from the header");
        return Exit::BadInput;
    };
    let version = head.get("version").and_then(|v| v.as_str()).unwrap_or("?");
    if version != crate::VERSION {
        let _ = writeln!(
            err,
            "warning: the trace was written by faultline {version}; this is {}",
            crate::VERSION
        );
    }
    let text = head
        .get("scenario")
        .map(|s| s.to_string())
        .unwrap_or_default();
    let source = head
        .get("source")
        .and_then(|s| s.as_str())
        .unwrap_or("trace")
        .to_string();
    let loaded =
        Document::load(&format!("{shown} (header scenario)"), &text, &[]).and_then(|mut doc| {
            doc.source = source.clone();
            AnyScenario::from_document(doc)
        });
    let scn = match loaded {
        Ok(s) => s,
        Err(e) => return bad(err, e),
    };
    let compare = Rc::new(RefCell::new(Some(CompareSink {
        lines,
        compared: 0,
        last_matched: String::new(),
        cut_line_matched: false,
        stop: None,
        recorded: String::new(),
    })));
    let report = match scn.run(seed, Some(Box::new(Shared(compare.clone())))) {
        Ok(r) => r,
        Err(e) => return bad(err, e),
    };
    let mut sink = compare
        .borrow_mut()
        .take()
        .expect("the sink is back after the run");
    let ending = Ending {
        shown: &shown,
        partial: path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".partial")),
    };
    if sink.stop.is_some() {
        return ending.stopped(sink, false, out, err);
    }
    if let Verdict::Aborted { reason } = &report.verdict {
        let _ = writeln!(out, "DIVERGED: {reason}");
        return Exit::Diverged;
    }
    let overrides: Vec<String> = head
        .get("overrides")
        .and_then(|o| o.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let summary = summary_line(
        &report,
        report.fingerprint,
        &replay_line(&source, seed, &overrides),
    );
    if !sink.compare(&summary) {
        return ending.stopped(sink, true, out, err);
    }
    if let Some(extra) = sink.next_recorded() {
        let _ = writeln!(
            out,
            "DIVERGED: the recorded trace has more lines after the summary: {extra}"
        );
        return Exit::Diverged;
    }
    if let Some(Stop::Unreadable(e)) = &sink.stop {
        let _ = writeln!(err, "error: {e}");
        return Exit::BadInput;
    }
    let verdict = match &report.verdict {
        Verdict::Pass => "PASS".to_string(),
        Verdict::Fail(f) => format!("FAIL {} at step {}", f.check, f.step),
        Verdict::Inconclusive { reason } => format!("INCONCLUSIVE ({reason})"),
        Verdict::Aborted { reason } => reason.clone(),
    };
    let _ = writeln!(
        out,
        "IDENTICAL: {} records replayed, fingerprint {}, the run ends {verdict} as recorded",
        sink.compared,
        trace::fingerprint_hex(report.fingerprint)
    );
    Exit::Ok
}

/// How a comparison that stopped early is reported.
struct Ending<'a> {
    shown: &'a str,
    /// Whether the file is a `.partial` trace (its run did not finish writing it).
    partial: bool,
}

impl Ending<'_> {
    /// Reports why `sink` stopped: a divergence (exit 3), an unreadable line (exit 2), or a
    /// trace that ends early: cut (exit 2), or incomplete for a `.partial` file (exit 4).
    fn stopped(
        &self,
        sink: CompareSink,
        in_summary: bool,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Exit {
        let shown = self.shown;
        let stop = sink.stop.as_ref().expect("the comparison stopped");
        match stop {
            Stop::Diverged(why) => {
                let place = if in_summary { " in the summary" } else { "" };
                let _ = writeln!(out, "DIVERGED{place}: {why}");
                Exit::Diverged
            }
            Stop::Unreadable(e) => {
                let _ = writeln!(err, "error: {e}");
                Exit::BadInput
            }
            Stop::Ended => {
                let line = sink.line();
                let matched = sink.matched();
                let what = if in_summary {
                    " (its summary line)"
                } else {
                    ""
                };
                if self.partial {
                    let cut = if sink.cut_line_matched {
                        format!(
                            ", and its last line {line}{what}, cut mid-record, as far as it was written"
                        )
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        out,
                        "INCOMPLETE: {shown} is a .partial trace (the run that wrote it did not finish: no summary line); the replay matched {matched}{cut}, and nothing diverged"
                    );
                    return Exit::Inconclusive;
                }
                let _ = if sink.cut_line_matched {
                    writeln!(
                        err,
                        "error: {shown}:{line}: the trace is cut: it ends in the middle of line {line}{what}; the replay matched {matched}, and line {line} as far as it goes"
                    )
                } else {
                    writeln!(
                        err,
                        "error: {shown}:{line}: the trace is cut: it ends after line {line}, before its summary line; the replay matched {matched}"
                    )
                };
                Exit::BadInput
            }
        }
    }
}
