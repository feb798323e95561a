//! `faultline validate` (a scenario checked without running it, protocol parts included)
//! and `faultline check-history` (a recorded history checked for linearizability, or a
//! transactional one for isolation anomalies).

use super::Exit;
use super::io::{HISTORY_BYTES_MAX, open_input, read_scenario};
use crate::isolation::{self, Level, Unreadable};
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
    /// `--model`: guessed from the operations if absent; `list-append` or `rw-register`
    /// read the history as transactions.
    pub model: Option<&'a str>,
    /// `--isolation`: the level a transactional history is judged against.
    pub isolation: Option<&'a str>,
    /// `--initial`: the value registers start with.
    pub initial: Option<&'a str>,
    /// `--budget`: search steps per partition.
    pub budget: u64,
    /// `--timeout`: wall-clock seconds for the linearizability search.
    pub timeout: Option<f64>,
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
        isolation,
        initial,
        budget,
        timeout,
        json,
    } = *options;
    let timeout = match timeout {
        None => None,
        Some(t) if t.is_finite() && t > 0.0 => Some(std::time::Duration::from_secs_f64(t)),
        Some(t) => {
            let _ = writeln!(
                err,
                "error: --timeout {t}: expected a positive number of seconds"
            );
            return Exit::BadInput;
        }
    };
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
    let txn_model = matches!(model, Some("list-append" | "rw-register"));
    if txn_model || (model.is_none() && ops.iter().any(|o| isolation::is_txn(&o.f))) {
        if initial.is_some() {
            return bad(
                err,
                "--initial: transactional histories take no initial value".to_string(),
            );
        }
        let level = match isolation.map(|n| (n, Level::from_name(n))) {
            None => Level::Serializable,
            Some((_, Some(l))) => l,
            Some((n, None)) => {
                return bad(
                    err,
                    format!(
                        "--isolation {n:?}: expected one of {}",
                        Level::NAMES.join(", ")
                    ),
                );
            }
        };
        let txns = TxnHistory {
            file,
            text: &text,
            ops: &ops,
            model,
            level,
            budget,
            json,
        };
        return check_transactions(&txns, out, err);
    }
    if let Some(n) = isolation {
        return bad(
            err,
            format!(
                "--isolation {n:?}: the history has no :txn operations to judge for isolation \
                 (give --model list-append or rw-register to read it as transactions)"
            ),
        );
    }
    let model = match model {
        Some(name) => match lin::ModelKind::from_name(name) {
            Some(m) => m,
            None => {
                return bad(
                    err,
                    format!(
                        "--model {name:?}: expected one of {}, list-append, rw-register",
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
    // The only clock the check sees: asked every few thousand search steps, it turns the
    // answer into "inconclusive" once the time is up, never into a verdict.
    #[allow(clippy::disallowed_types)]
    let started = std::time::Instant::now();
    let out_of_time = || timeout.is_some_and(|t| started.elapsed() >= t);
    let limits = lin::Limits {
        steps: budget,
        stop: timeout
            .is_some()
            .then_some(&out_of_time as &dyn Fn() -> bool),
    };
    let (verdict, stats) = match lin::check_limited(&ops, model, initial.as_ref(), limits) {
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
        lin::LinVerdict::Inconclusive(u) => {
            let key = u
                .key
                .as_ref()
                .map(|k| format!(" on key {k:?}"))
                .unwrap_or_default();
            let why = match u.reason {
                lin::StopReason::Budget => {
                    format!("used its budget of {budget} steps; raise --budget")
                }
                lin::StopReason::Timeout => format!(
                    "ran out of its {} s (--timeout)",
                    timeout.map(|t| t.as_secs_f64()).unwrap_or_default()
                ),
            };
            let _ = writeln!(
                out,
                "inconclusive: the search{key} {why}\n  {}",
                u.explain(&ops)
            );
        }
    }
    let _ = writeln!(
        out,
        "  {} operations ({} ignored: unknown reads or definite failures), {} key(s), {} search steps",
        stats.ops, stats.ignored, stats.partitions, stats.steps
    );
    if stats.unread_dropped + stats.deadlines > 0 {
        let _ = writeln!(
            out,
            "  unknown outcomes: {} write(s) nobody read left out, {} operation(s) given the \
             return of the first read of their value",
            stats.unread_dropped, stats.deadlines
        );
    }
    code
}

/// A transactional history and how to judge it.
struct TxnHistory<'a> {
    file: &'a Path,
    text: &'a str,
    ops: &'a [lin::Op],
    /// `list-append` or `rw-register` when forced.
    model: Option<&'a str>,
    level: Level,
    budget: u64,
    json: bool,
}

/// `check-history` on transactions: the isolation analysis, its verdict for the level, the
/// anomalies with their witnesses and the counts. Exit 0 (held), 1 (a proscribed anomaly),
/// 2 (bad input), 4 (the cycle search ran out of budget before finding one).
fn check_transactions(h: &TxnHistory<'_>, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let shown = h.file.display();
    let a = match isolation::analyse_located(h.ops, h.budget) {
        Ok(a) => a,
        Err(Unreadable::Input(e)) => {
            let (line, col) = locate(h.text, &h.ops[e.op], e.completion, e.mop);
            let _ = writeln!(err, "error: {shown}:{line}:{col}: {e}");
            return Exit::BadInput;
        }
        Err(Unreadable::Other(e)) => {
            let _ = writeln!(err, "error: {shown}: {e}");
            return Exit::BadInput;
        }
    };
    let c = &a.counts;
    let wrong_kind = match h.model {
        Some("list-append") if c.register_keys > 0 => Some("writes registers (:w)"),
        Some("rw-register") if c.list_keys > 0 => Some("appends to lists (:append)"),
        _ => None,
    };
    if let (Some(what), Some(model)) = (wrong_kind, h.model) {
        let _ = writeln!(
            err,
            "error: {shown}: --model {model}: the history {what}; give the other model or none"
        );
        return Exit::BadInput;
    }
    let level = h.level;
    let proscribed: Vec<&str> = a.proscribed(level).iter().map(|c| c.name()).collect();
    // As `Analysis::verdict`: a forbidden anomaly found is real even when the search ran
    // out of budget.
    let code = match (proscribed.is_empty(), &a.inconclusive) {
        (false, _) => Exit::CheckFailed,
        (true, Some(_)) => Exit::Inconclusive,
        (true, None) => Exit::Ok,
    };
    if h.json {
        let v = serde_json::json!({
            "file": shown.to_string(),
            "level": level,
            "verdict": match code {
                Exit::Ok => "held",
                Exit::CheckFailed => "violated",
                _ => "inconclusive",
            },
            "proscribed": proscribed,
            "analysis": a,
        });
        let _ = writeln!(out, "{v}");
        return code;
    }
    match (code, &a.inconclusive) {
        (Exit::CheckFailed, _) => {
            let _ = writeln!(out, "not {}: {}", level.name(), proscribed.join(", "));
        }
        (_, Some(why)) => {
            let _ = writeln!(out, "inconclusive: {why}; raise --budget");
        }
        _ => {
            let _ = writeln!(out, "{}", level.name());
        }
    }
    for f in &a.found {
        let allowed = if level.proscribes(f.class) {
            String::new()
        } else {
            format!(", allowed by {}", level.name())
        };
        let _ = writeln!(
            out,
            "  {} found {} time(s){allowed}; {} shown",
            f.class.name(),
            f.count,
            f.shown
        );
        for w in a.anomalies.iter().filter(|w| w.class == f.class) {
            for l in w.to_string().lines() {
                let _ = writeln!(out, "    {l}");
            }
        }
    }
    let _ = writeln!(
        out,
        "  {} transactions ({} committed, {} aborted, {} unknown of which {} seen to commit), \
         {} key(s) ({} list, {} register); graph: {} transactions, {} ww, {} wr, {} rw edges; \
         {} search steps",
        c.txns,
        c.committed,
        c.aborted,
        c.unknown,
        c.unknown_observed,
        c.keys,
        c.list_keys,
        c.register_keys,
        c.vertices,
        c.ww,
        c.wr,
        c.rw,
        c.steps
    );
    for n in &a.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    code
}

/// The line and column of a transaction's fault in an EDN history: the operation's
/// invocation line (or the first later line completing the same process), and in it the
/// column of the `:value`'s micro-op `mop` (or of the value, or 1).
fn locate(text: &str, op: &lin::Op, completion: bool, mop: Option<usize>) -> (usize, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let mut line = op.line;
    if completion {
        let process = format!(":process {}", op.process);
        let completes = |l: &str| {
            l.match_indices(&process)
                .any(|(i, m)| !l[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
                && [":ok", ":fail", ":info"]
                    .iter()
                    .any(|t| l.contains(&format!(":type {t}")))
        };
        if let Some(i) = (op.line..lines.len()).find(|&i| completes(lines[i])) {
            line = i + 1;
        }
    }
    let Some(l) = line.checked_sub(1).and_then(|i| lines.get(i)) else {
        return (line, 1);
    };
    let Some(at) = l.find(":value") else {
        return (line, 1);
    };
    let start = at + ":value".len();
    let Some(open) = l[start..].find('[').map(|i| start + i) else {
        return (line, at + 1);
    };
    let Some(m) = mop else {
        return (line, open + 1);
    };
    // The m-th element at depth one inside the value's vector.
    let mut depth = 0usize;
    let mut seen = 0usize;
    let mut in_str = false;
    let bytes = l.as_bytes();
    let mut i = open;
    while i < bytes.len() {
        let b = bytes[i];
        if in_str {
            match b {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_str = true,
                b'[' | b'(' => {
                    depth += 1;
                    if depth == 2 {
                        if seen == m {
                            return (line, i + 1);
                        }
                        seen += 1;
                    }
                }
                b']' | b')' => {
                    if depth <= 1 {
                        break;
                    }
                    depth -= 1;
                }
                _ => {
                    if depth == 1 && !b.is_ascii_whitespace() && b != b',' {
                        // An element that is not a vector: it counts as a micro-op too.
                        if seen == m {
                            return (line, i + 1);
                        }
                        seen += 1;
                        while i + 1 < bytes.len()
                            && !matches!(bytes[i + 1], b' ' | b',' | b']' | b')' | b'[' | b'(')
                        {
                            i += 1;
                        }
                    }
                }
            }
        }
        i += 1;
    }
    (line, open + 1)
}
