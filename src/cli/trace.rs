//! The commands that read a trace: `trace show` (one line per record, filtered by node and
//! time), `view` (the HTML page), `export` (for other tools) and `explain` (the story).

use super::Exit;
use super::io::{
    check_outputs, open_trace, read_trace_doc, read_trace_lines, record_error, write_whole,
};
use crate::tools::explain;
use crate::tools::export;
use crate::trace;
use crate::trace::file::PartialFile;
use clap::Subcommand;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub(super) enum TraceCommand {
    /// Print a trace as one fixed-column line per event.
    Show {
        /// A trace written by `run --trace`.
        trace: PathBuf,
        /// Only events about this node or client (n1, c2).
        #[arg(long)]
        node: Option<String>,
        /// Only events at or after this virtual time (1500ms, 1.5s, or microseconds).
        #[arg(long)]
        from: Option<String>,
        /// Only events at or before this virtual time.
        #[arg(long)]
        to: Option<String>,
    },
}

/// Parses `1500ms`, `1.5s`, `2s` or a bare number of microseconds.
pub fn parse_time(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Some(ms) = t.strip_suffix("ms") {
        return ms
            .trim()
            .parse::<u64>()
            .ok()
            .map(|v| v.saturating_mul(1_000));
    }
    if let Some(us) = t.strip_suffix("us") {
        return us.trim().parse().ok();
    }
    if let Some(s) = t.strip_suffix('s') {
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: u64 = whole.parse().ok()?;
        let frac_us: u64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<6}").parse().ok()?
        };
        return whole.checked_mul(1_000_000)?.checked_add(frac_us);
    }
    t.parse().ok()
}

/// `faultline view TRACE [-o PAGE]`: the trace as one self-contained HTML page.
pub(super) fn cmd_view(
    path: &Path,
    output: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let shown = path.display();
    let target = output.map_or_else(|| path.with_extension("html"), Path::to_path_buf);
    if target == path {
        let _ = writeln!(
            err,
            "error: {shown}: the page would overwrite the trace; name it with -o"
        );
        return Exit::BadInput;
    }
    // Checked before the trace is read, so a bad path fails at once.
    let flag = if output.is_some() { "-o" } else { "the page" };
    if let Err(e) = check_outputs(&[(flag, &target)]) {
        let _ = writeln!(err, "error: {e}");
        return Exit::BadInput;
    }
    // The page is built as the trace is read: each record is encoded and dropped.
    let mut builder = crate::tools::view::PageBuilder::new();
    if let Err(e) = read_trace_lines(path, |number, text| builder.line(number, text)) {
        let _ = writeln!(err, "error: {e}");
        return Exit::BadInput;
    }
    let page = match builder.finish() {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "error: {shown}:{e}");
            return Exit::BadInput;
        }
    };
    if let Err(e) = write_whole(&target, &page) {
        let _ = writeln!(err, "error: {e}");
        return Exit::BadInput;
    }
    let _ = writeln!(out, "wrote {} ({} bytes)", target.display(), page.len());
    Exit::Ok
}

pub(super) fn cmd_trace_show(
    path: &Path,
    node: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let shown = path.display().to_string();
    let parse = |s: Option<&str>, what: &str, default: u64| -> Result<u64, String> {
        match s {
            None => Ok(default),
            Some(s) => parse_time(s).ok_or_else(|| {
                format!(
                    "--{what} {s:?}: expected a time like 1500ms, 1.5s or 1500000 (microseconds)"
                )
            }),
        }
    };
    let (from, to) = match (parse(from, "from", 0), parse(to, "to", u64::MAX)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    };
    let mut lines = match open_trace(path) {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    };
    let mut seen_header = false;
    let mut seen_summary = false;
    loop {
        let (n, line) = match lines.next_line() {
            Ok(Some(l)) => l,
            Ok(None) if seen_header => return Exit::Ok,
            Ok(None) => {
                let _ = writeln!(
                    err,
                    "error: {shown}:1:1: empty file: expected a faultline trace header"
                );
                return Exit::BadInput;
            }
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                return Exit::BadInput;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let v = match show_line(line, seen_header, seen_summary) {
            Ok(v) => v,
            Err((column, message)) => {
                let _ = writeln!(err, "error: {shown}:{n}:{column}: {message}");
                return Exit::BadInput;
            }
        };
        match v.get("ev").and_then(|e| e.as_str()) {
            Some("header") => {
                seen_header = true;
                let _ = writeln!(
                    out,
                    "{:>8} {:>16} {:<5} {:<9} details",
                    "step", "time", "where", "event"
                );
                let _ = writeln!(
                    out,
                    "# trace of {} seed {} (faultline {})",
                    v["source"].as_str().unwrap_or("?"),
                    v["seed"],
                    v["version"].as_str().unwrap_or("?")
                );
                continue;
            }
            Some("summary") => {
                seen_summary = true;
                let verdict = v["verdict"]["verdict"].as_str().unwrap_or("?");
                let _ = writeln!(
                    out,
                    "# end: {verdict}, {} steps, fingerprint {}",
                    v["steps"],
                    v["fingerprint"].as_str().unwrap_or("?")
                );
                continue;
            }
            _ => {}
        }
        let t = v.get("t").and_then(|t| t.as_u64()).unwrap_or(0);
        if t < from || t > to {
            continue;
        }
        if let Some(n) = node {
            // Lines about no particular node (phase, check results) stay: they are context.
            let about = trace::line_endpoints(&v);
            if !about.is_empty() && !about.iter().any(|e| e == n) {
                continue;
            }
        }
        if let Some(text) = trace::format_line(&v) {
            if writeln!(out, "{text}").is_err() {
                return Exit::Ok; // stdout closed (e.g. piped into head)
            }
        }
    }
}

/// One non-blank line of a trace for `trace show`, checked as the other trace commands check
/// it (`trace::doc::TraceDoc::parse`): the first must be a header of this build's schema,
/// every other a JSON object with an `ev`, a summary only last. An error is a 1-based column
/// and what was expected.
fn show_line(
    line: &str,
    seen_header: bool,
    seen_summary: bool,
) -> Result<serde_json::Value, (usize, String)> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
        let what = if seen_header {
            "not a JSON trace record"
        } else {
            "not a faultline trace header"
        };
        (e.column(), format!("{what}: {e}"))
    })?;
    let ev = v.get("ev").and_then(|e| e.as_str());
    if !seen_header {
        if ev != Some("header") {
            return Err((1, "the first line is not a faultline trace header".into()));
        }
        let schema = v.get("schema").and_then(|s| s.as_u64());
        if schema != Some(u64::from(trace::TRACE_SCHEMA)) {
            return Err((
                1,
                format!(
                    "schema: this faultline reads trace schema {}, the file has {}",
                    trace::TRACE_SCHEMA,
                    v.get("schema").unwrap_or(&serde_json::Value::Null)
                ),
            ));
        }
        return Ok(v);
    }
    if seen_summary {
        return Err((1, "a record after the summary line".into()));
    }
    match ev {
        Some("header") => Err((1, "a second header".into())),
        Some(_) => Ok(v),
        None => Err((1, "ev: missing (expected a record type)".into())),
    }
}

pub(super) fn cmd_export(
    path: &Path,
    format: &str,
    output: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let Some(format) = export::Format::from_name(format) else {
        let _ = writeln!(
            err,
            "error: --format {format:?}: expected one of {}",
            export::Format::NAMES.join(", ")
        );
        return Exit::BadInput;
    };
    // Checked before the trace is read, so a bad path fails at once.
    if let Some(o) = output {
        if let Err(e) = check_outputs(&[("-o", o)]) {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    }
    let Some(doc) = read_trace_doc(path, err) else {
        return Exit::BadInput;
    };
    // The export goes out line by line as it is made: into `FILE.partial`, moved into place
    // when whole; or to standard output after a first pass that makes sure no record stops
    // it (so a bad trace prints nothing but its error).
    let mut lines = 0u64;
    let written = match output {
        Some(o) => {
            let mut file = match PartialFile::create(o) {
                Ok(f) => f,
                Err(e) => {
                    let _ = writeln!(err, "error: {e}");
                    return Exit::BadInput;
                }
            };
            let made = export::export_lines(&doc, format, &mut |l| {
                lines += 1;
                file.line(l)
            });
            match made {
                Ok(()) => file.finish().map_err(export::WriteError::Output),
                Err(e) => {
                    file.discard();
                    Err(e)
                }
            }
        }
        None => export::export_lines(&doc, format, &mut |_| Ok(())).and_then(|()| {
            export::export_lines(&doc, format, &mut |l| {
                lines += 1;
                writeln!(out, "{l}").map_err(|e| e.to_string())
            })
        }),
    };
    match written {
        Ok(()) => {}
        Err(export::WriteError::Record(e)) => {
            record_error(path, &doc, &e, err);
            return Exit::BadInput;
        }
        Err(export::WriteError::Output(e)) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    }
    if format == export::Format::Jepsen && lines == 0 {
        let _ = writeln!(
            err,
            "note: {}: the run has no client operations; the history is empty",
            path.display()
        );
    }
    Exit::Ok
}

pub(super) fn cmd_explain(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let Some(doc) = read_trace_doc(path, err) else {
        return Exit::BadInput;
    };
    match explain::explain(&doc, Some(&path.display().to_string())) {
        Ok(lines) => {
            for l in lines {
                if writeln!(out, "{l}").is_err() {
                    break; // stdout closed
                }
            }
            Exit::Ok
        }
        Err(e) => {
            record_error(path, &doc, &e, err);
            Exit::BadInput
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1500ms"), Some(1_500_000));
        assert_eq!(parse_time("1.5s"), Some(1_500_000));
        assert_eq!(parse_time("2s"), Some(2_000_000));
        assert_eq!(parse_time("17"), Some(17));
        assert_eq!(parse_time("1.1234567s"), None);
        assert_eq!(parse_time("abc"), None);
    }
}
