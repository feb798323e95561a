//! `faultline replay`: a trace's run again from its header, compared with the recorded
//! trace record by record and in its summary.

use super::Exit;
use super::io::{InputLines, ReadFailure, bad, open_trace};
use crate::protocols::AnyScenario;
use crate::scenario::{Document, replay_line};
use crate::sim::Verdict;
use crate::trace::file::summary_line;
use crate::trace::{self, TRACE_SCHEMA, TraceSink};
use std::cell::RefCell;
use std::io::Write;
use std::path::Path;
use std::rc::Rc;

/// Compares each replayed line with the next line of the recorded trace, read under the
/// trace caps. A line that cannot be read (too long, not UTF-8) is kept in `failure`: the
/// file is bad input, not a divergence.
struct CompareSink {
    lines: InputLines,
    compared: u64,
    failure: Option<ReadFailure>,
}

impl CompareSink {
    fn next_recorded(&mut self) -> Option<String> {
        self.next_recorded_is(None).map(|(l, _)| l)
    }

    /// The next recorded line, and whether it equals `replayed` (the line is copied only when
    /// it does not, or when there is nothing to compare with).
    fn next_recorded_is(&mut self, replayed: Option<&str>) -> Option<(String, bool)> {
        match self.lines.next_line() {
            Ok(Some((_, recorded))) if Some(recorded) == replayed => Some((String::new(), true)),
            Ok(Some((_, recorded))) => Some((recorded.to_string(), false)),
            Ok(None) => None,
            Err(f) => {
                self.failure = Some(f);
                None
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
        self.compared += 1;
        match self.next_recorded_is(Some(line)) {
            Some((_, true)) => Ok(()),
            Some((recorded, false)) => Err(format!(
                "diverged at record {} ({}):\n  recorded: {recorded}\n  replayed: {line}",
                self.compared,
                step_of(&recorded)
            )),
            None if self.failure.is_some() => Err("the recorded trace cannot be read".to_string()),
            None => Err(format!(
                "diverged at record {} ({}): the recorded trace ends here but the replay goes on:\n  replayed: {line}",
                self.compared,
                step_of(line)
            )),
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
    let mut lines = match open_trace(path) {
        Ok(l) => l,
        Err(e) => return bad(err, e),
    };
    let head: serde_json::Value = match lines.next_line() {
        Err(e) => return bad(err, e),
        Ok(Some((_, l))) => match serde_json::from_str(l) {
            Ok(v) => v,
            Err(_) => serde_json::Value::Null,
        },
        Ok(None) => serde_json::Value::Null,
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
        failure: None,
    })));
    let report = match scn.run(seed, Some(Box::new(Shared(compare.clone())))) {
        Ok(r) => r,
        Err(e) => return bad(err, e),
    };
    let failure = compare.borrow_mut().as_mut().and_then(|s| s.failure.take());
    if let Some(f) = failure {
        return bad(err, f);
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
    let mut sink = compare
        .borrow_mut()
        .take()
        .expect("the sink is back after the run");
    let compared = sink.line(&summary);
    if let Some(f) = sink.failure.take() {
        return bad(err, f);
    }
    if let Err(e) = compared {
        let _ = writeln!(out, "DIVERGED in the summary: {e}");
        return Exit::Diverged;
    }
    let extra = sink.next_recorded();
    if let Some(f) = sink.failure.take() {
        return bad(err, f);
    }
    if let Some(extra) = extra {
        let _ = writeln!(
            out,
            "DIVERGED: the recorded trace has more lines after the summary: {extra}"
        );
        return Exit::Diverged;
    }
    let verdict = match &report.verdict {
        Verdict::Pass => "PASS".to_string(),
        Verdict::Fail(f) if !f.class.is_conclusive() => {
            format!(
                "INCONCLUSIVE ({} {} at step {})",
                f.class.name(),
                f.check,
                f.step
            )
        }
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
