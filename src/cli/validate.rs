//! `faultline validate` (a scenario checked without running it, protocol parts included)
//! and `faultline check-history` (a recorded history checked for linearizability).

use super::Exit;
use super::io::{HISTORY_BYTES_MAX, open_input, read_scenario};
use crate::lin;
use std::io::Write;
use std::path::Path;

pub(super) fn cmd_validate(
    name: &str,
    set: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    match read_scenario(name, set) {
        Ok(s) => {
            let f = &s.file;
            let _ = writeln!(
                out,
                "ok: {name}: protocol {}, {} nodes, {} clients, {} scheduled faults{}, {} expectations, {} ms",
                f.protocol.name,
                f.nodes,
                f.workload.clients,
                f.faults.len(),
                if f.nemesis.is_some() {
                    " and a nemesis"
                } else {
                    ""
                },
                f.expect.len(),
                f.limits.time_ms
            );
            Exit::Ok
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            Exit::BadInput
        }
    }
}

/// How `check-history` reads and checks a history: the command line's options.
#[derive(Clone, Copy)]
pub(super) struct HistoryOptions<'a> {
    /// `--format`: found from the content if absent.
    pub format: Option<&'a str>,
    /// `--model`: guessed from the operations if absent.
    pub model: Option<&'a str>,
    /// `--initial`: the value registers start with.
    pub initial: Option<&'a str>,
    /// `--budget`: search steps per partition.
    pub budget: u64,
    /// `--json`: the verdict as one JSON object.
    pub json: bool,
}

pub(super) fn cmd_check_history(
    file: &Path,
    options: &HistoryOptions<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let HistoryOptions {
        format,
        model,
        initial,
        budget,
        json,
    } = *options;
    use lin::formats::{Format, parse, parse_detected};
    let shown = file.display();
    let bad = |err: &mut dyn Write, msg: String| {
        let _ = writeln!(err, "error: {msg}");
        Exit::BadInput
    };
    let read = open_input(file).and_then(|f| f.read_whole(HISTORY_BYTES_MAX, "a history"));
    let text = match read {
        Ok(t) => t,
        Err(e) => return bad(err, e.to_string()),
    };
    // A bad --initial is reported before the history is parsed.
    let initial = match initial.map(lin::formats::parse_value) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => return bad(err, format!("--initial: {e}")),
    };
    let ops = match format {
        Some(name) => {
            let Some(format) = Format::from_name(name) else {
                return bad(
                    err,
                    format!(
                        "--format {name:?}: expected one of {}",
                        Format::NAMES.join(", ")
                    ),
                );
            };
            match parse(&text, format) {
                Ok(ops) => ops,
                Err(e) if e.line == 0 => return bad(err, format!("{shown}: {}", e.message)),
                Err(e) => return bad(err, format!("{shown}:{e}")),
            }
        }
        None => match parse_detected(&text) {
            Ok((_, ops)) => ops,
            Err(lin::formats::DetectError::Tried(tried)) if tried.len() == 1 => {
                let e = &tried[0].1;
                if e.line == 0 {
                    return bad(err, format!("{shown}: {}", e.message));
                }
                return bad(err, format!("{shown}:{e}"));
            }
            Err(e) => return bad(err, format!("{shown}: {e}")),
        },
    };
    let model = match model {
        Some(name) => match lin::ModelKind::from_name(name) {
            Some(m) => m,
            None => {
                return bad(
                    err,
                    format!(
                        "--model {name:?}: expected one of {}",
                        lin::ModelKind::NAMES.join(", ")
                    ),
                );
            }
        },
        None => match lin::ModelKind::guess(&ops) {
            Some(m) => m,
            // No operations: every model calls that linearizable.
            None if ops.is_empty() => lin::ModelKind::Register,
            None => {
                return bad(
                    err,
                    format!(
                        "{shown}: cannot tell the model from operation {:?}; give --model ({})",
                        ops[0].f,
                        lin::ModelKind::NAMES.join(", ")
                    ),
                );
            }
        },
    };
    if initial.is_some() && !model.has_initial() {
        return bad(
            err,
            format!(
                "--initial: the {} model takes no initial value (register and multi-register do)",
                model.name()
            ),
        );
    }
    let (verdict, stats) = match lin::check_from(&ops, model, initial.as_ref(), budget) {
        Ok(v) => v,
        Err(e) => return bad(err, format!("{shown}:{e}")),
    };
    let code = match &verdict {
        lin::LinVerdict::Linearizable => Exit::Ok,
        lin::LinVerdict::NotLinearizable(_) => Exit::CheckFailed,
        lin::LinVerdict::Inconclusive { .. } => Exit::Inconclusive,
    };
    if json {
        let v = serde_json::json!({"file": shown.to_string(), "verdict": verdict, "stats": stats});
        let _ = writeln!(out, "{v}");
        return code;
    }
    match &verdict {
        lin::LinVerdict::Linearizable => {
            let _ = writeln!(out, "linearizable");
        }
        lin::LinVerdict::NotLinearizable(c) => {
            let _ = writeln!(out, "not linearizable\n  {}", c.explain(&ops));
        }
        lin::LinVerdict::Inconclusive { key, steps } => {
            let key = key
                .as_ref()
                .map(|k| format!(" on key {k:?}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "inconclusive: the search{key} used its budget of {steps} steps; raise --budget"
            );
        }
    }
    let _ = writeln!(
        out,
        "  {} operations ({} ignored: unknown reads or definite failures), {} key(s), {} search steps",
        stats.ops, stats.ignored, stats.partitions, stats.steps
    );
    code
}
