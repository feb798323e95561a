//! The commands that read a trace: `trace show` (one line per record, filtered by node and
//! time), `view` (the HTML page), `export` (for other tools) and `explain` (the story).

use super::Exit;
use super::io::{check_outputs, read_trace_doc, record_error, write_whole};
use crate::tools::explain;
use crate::tools::export;
use crate::trace;
use clap::Subcommand;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
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
    let text = match std::fs::read(path) {
        Ok(b) => match String::from_utf8(b) {
            Ok(t) => t,
            Err(_) => {
                let _ = writeln!(err, "error: {shown}: not UTF-8 text");
                return Exit::BadInput;
            }
        },
        Err(e) => {
            let _ = writeln!(err, "error: {shown}: cannot read: {e}");
            return Exit::BadInput;
        }
    };
    let page = match crate::tools::view::page_from_text(&text) {
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
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "error: {shown}: cannot open: {e}");
            return Exit::BadInput;
        }
    };
    let _ = writeln!(
        out,
        "{:>8} {:>16} {:<5} {:<9} details",
        "step", "time", "where", "event"
    );
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let Ok(line) = line else {
            let _ = writeln!(err, "error: {shown}:{}: cannot read the line", i + 1);
            return Exit::BadInput;
        };
        let v: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                let _ = writeln!(
                    err,
                    "error: {shown}:{}:{}: not a JSON trace record: {e}",
                    i + 1,
                    e.column()
                );
                return Exit::BadInput;
            }
        };
        match v.get("ev").and_then(|e| e.as_str()) {
            Some("header") => {
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
    Exit::Ok
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
    let Some((text, doc)) = read_trace_doc(path, err) else {
        return Exit::BadInput;
    };
    let result = match export::export(&doc, format) {
        Ok(r) => r,
        Err(e) => {
            record_error(path, &text, &e, err);
            return Exit::BadInput;
        }
    };
    if format == export::Format::Jepsen && result.is_empty() {
        let _ = writeln!(
            err,
            "note: {}: the run has no client operations; the history is empty",
            path.display()
        );
    }
    let written = match output {
        Some(o) => write_whole(o, &result),
        None => out.write_all(result.as_bytes()).map_err(|e| e.to_string()),
    };
    match written {
        Ok(()) => Exit::Ok,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            Exit::BadInput
        }
    }
}

pub(super) fn cmd_explain(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let Some((text, doc)) = read_trace_doc(path, err) else {
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
            record_error(path, &text, &e, err);
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
