//! `faultline run`: one seed of a scenario, with its trace, history, page, story and the
//! scenario as the seed runs it written where asked, and the human (or JSON) summary.

use super::Exit;
use super::io::{TypedCommand, bad, check_outputs, typed, write_whole};
use crate::lin;
use crate::protocol::Protocol;
use crate::scenario::{Document, Scenario, replay_line};
use crate::sim::{RunReport, Verdict};
use crate::tools::explain;
use crate::trace::doc::TraceDoc;
use crate::trace::file::TraceFile;
use crate::trace::{self, TraceSink};
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

#[derive(clap::Args, Debug)]
pub(super) struct RunArgs {
    /// Scenario file or bundled name.
    scenario: String,
    /// Seed (default: the scenario's own).
    #[arg(long)]
    seed: Option<u64>,
    /// Write the JSON Lines trace here.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Write the client history here as JSON Lines (what `check-history` reads).
    #[arg(long)]
    history: Option<PathBuf>,
    /// Write the run as a self-contained HTML page to step through (see `faultline view`).
    #[arg(long, value_name = "FILE.html")]
    view: Option<PathBuf>,
    /// Write the scenario as this seed runs it (a swarm nemesis resolved into what it
    /// drew) to this file: running it with the same seed gives the same run.
    #[arg(long)]
    emit_scenario: Option<PathBuf>,
    /// Override one scenario field, e.g. --set network.loss=0.1 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Print only the verdict line (and the replay line on failure).
    #[arg(long, short)]
    quiet: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// After the run, tell its story in plain language (as `explain` does for a trace).
    #[arg(long, conflicts_with = "json")]
    explain: bool,
}

impl TypedCommand for RunArgs {
    fn run<P: Protocol>(&self, scn: Scenario<P>, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
        run_typed(self, scn, out, err)
    }
}

/// `faultline run`: one seed of a scenario, its summary, and the files asked for.
pub(super) fn cmd_run(a: &RunArgs, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    typed(&a.scenario, &a.set, a, out, err)
}

fn run_typed<P: Protocol>(
    a: &RunArgs,
    scn: Scenario<P>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    // Every file asked for is checked before the run, so a bad path fails at once, not
    // after the whole run.
    let outputs: Vec<(&str, &Path)> = [
        ("--trace", &a.trace),
        ("--history", &a.history),
        ("--view", &a.view),
        ("--emit-scenario", &a.emit_scenario),
    ]
    .into_iter()
    .filter_map(|(flag, p)| p.as_deref().map(|p| (flag, p)))
    .collect();
    if let Err(e) = check_outputs(&outputs) {
        return bad(err, e);
    }
    let seed = a.seed.unwrap_or(scn.file.seed);
    // A swarm nemesis is resolved for this seed here, so the trace header holds what it drew.
    let scn = match scn.for_seed(seed) {
        Ok(s) => s,
        Err(e) => return bad(err, e),
    };
    if let Some(path) = &a.emit_scenario {
        let mut json = scn.json.clone();
        json["seed"] = seed.into();
        let text = serde_json::to_string_pretty(&json).expect("JSON values print");
        if let Err(e) = write_whole(path, &text) {
            return bad(err, e);
        }
    }
    let replay = replay_line(&a.scenario, seed, &a.set);
    let header = trace::header::<P>(&scn.source, &scn.json, seed, &a.set);
    let file = match &a.trace {
        None => None,
        Some(path) => match TraceFile::create(path, &header) {
            Ok(f) => Some(f),
            Err(e) => return bad(err, e),
        },
    };
    let sink = file.as_ref().map(TraceFile::sink);
    // For --view and --explain, every line also goes to memory; the page and the story are
    // drawn from them at the end.
    let collected = Rc::new(RefCell::new(String::new()));
    let sink = match a.view.is_some() || a.explain {
        false => sink,
        true => {
            // The file already has its header; memory gets its own copy.
            collected.borrow_mut().push_str(&header);
            collected.borrow_mut().push('\n');
            Some(Box::new(Collect {
                text: collected.clone(),
                next: sink,
            }) as Box<dyn TraceSink>)
        }
    };
    let (report, ops) = match scn.run_with_history(seed, sink) {
        Ok(r) => r,
        Err(e) => return bad(err, e),
    };
    if let Some(path) = &a.history {
        if let Err(e) = write_whole(path, &lin::formats::to_jsonl(&ops)) {
            return bad(err, e);
        }
    }
    let summary_line = trace::file::summary_line(&report, report.fingerprint, &replay);
    if let Some(file) = file {
        // A run stopped by its trace sink (a write that failed) has no complete trace: its
        // partial file goes.
        let finished = match &report.verdict {
            Verdict::Aborted { .. } => {
                file.discard();
                Ok(())
            }
            _ => file.finish(&summary_line),
        };
        if let Err(e) = finished {
            return bad(err, e);
        }
    }
    let mut text = collected.take();
    if !text.is_empty() {
        text.push_str(&summary_line);
        text.push('\n');
    }
    if let Some(path) = &a.view {
        let written = crate::tools::view::page_from_text(&text)
            .map_err(|e| format!("the run's own trace did not read back: {e}"))
            .and_then(|page| write_whole(path, &page));
        if let Err(e) = written {
            return bad(err, e);
        }
    }
    if a.json {
        let mut summary = trace::file::summary(&report, report.fingerprint, &replay);
        summary
            .as_object_mut()
            .expect("object")
            .insert("version".into(), crate::VERSION.into());
        let _ = writeln!(out, "{summary}");
    } else {
        print_human(&scn, &report, &replay, a.trace.as_deref(), a.quiet, out);
        // The outcome speaks of the file's own run: its seed, no overrides.
        let own_run = a.set.is_empty() && a.seed.is_none_or(|s| s == scn.file.seed);
        if let Some(o) = scn.file.outcome.as_ref().filter(|_| own_run) {
            let _ = match o.judge(&report.verdict) {
                Ok(()) => writeln!(out, "outcome: {o}, as the scenario expects"),
                Err(why) => writeln!(out, "outcome: NOT as expected: {why}"),
            };
        }
        if a.explain {
            let story = TraceDoc::parse(&text)
                .map_err(|e| e.to_string())
                .and_then(|doc| {
                    let shown = a.trace.as_ref().map(|p| p.display().to_string());
                    explain::explain(&doc, shown.as_deref()).map_err(|e| e.to_string())
                });
            match story {
                Ok(lines) => {
                    let _ = writeln!(out);
                    for l in lines {
                        let _ = writeln!(out, "{l}");
                    }
                }
                Err(e) => return bad(err, format!("cannot explain the run: {e}")),
            }
        }
    }
    if let Verdict::Aborted { reason } = &report.verdict {
        let _ = writeln!(err, "error: the run was stopped: {reason}");
    }
    verdict_exit(&report.verdict)
}

fn print_human(
    scn: &Document,
    r: &RunReport,
    replay: &str,
    trace: Option<&Path>,
    quiet: bool,
    out: &mut dyn Write,
) {
    let fp = trace::fingerprint_hex(r.fingerprint);
    if !quiet {
        let f = &scn.file;
        let _ = writeln!(
            out,
            "faultline {}  scenario {}  seed {}",
            crate::VERSION,
            scn.source,
            r.seed
        );
        let _ = writeln!(
            out,
            "  protocol {}, {} nodes, {} clients",
            r.protocol, f.nodes, f.workload.clients
        );
        let _ = writeln!(
            out,
            "  steps {}  virtual time {}  faults {}  checks evaluated {}",
            r.steps, r.time_end, r.faults_injected, r.checks_evaluated
        );
        let n = &r.network;
        let _ = writeln!(
            out,
            "  messages: {} sent, {} delivered, {} duplicated, {} long-delayed; lost: {} to loss, {} to partitions, {} to down receivers",
            n.sent,
            n.delivered,
            n.duplicated,
            n.long_delayed,
            n.lost_loss,
            n.lost_partition,
            n.lost_receiver_down
        );
        let restarts: u32 = r.incarnations.iter().sum();
        let lost: u64 = r.storage.iter().map(|s| s.writes_lost).sum();
        let _ = writeln!(
            out,
            "  storage: {} syncs, {} bytes synced, {} unsynced writes lost; {} restarts",
            r.syncs(),
            r.bytes_synced(),
            lost,
            restarts
        );
        let per_node: Vec<String> = r
            .storage
            .iter()
            .enumerate()
            .map(|(i, s)| format!("n{} {}/{}B", i + 1, s.syncs, s.bytes_synced))
            .collect();
        let _ = writeln!(out, "  syncs/bytes per node: {}", per_node.join("  "));
        if r.ops.invoked > 0 {
            let o = &r.ops;
            let _ = writeln!(
                out,
                "  client ops: {} invoked, {} ok, {} failed, {} unknown, {} pending at the end",
                o.invoked, o.ok, o.fail, o.unknown, o.pending
            );
        }
        for c in &r.checks {
            let _ = writeln!(out, "  check {:<22} {:<10} {}", c.check, c.kind, c.status);
        }
        if let Some(h) = &r.history_check {
            let _ = writeln!(
                out,
                "  check {:<22} {:<10} {} ({} ops, {} ignored, {} keys, {} search steps)",
                h.check, "history", h.verdict, h.ops, h.ignored, h.keys, h.steps
            );
        }
        for (name, value) in &r.metrics {
            // The recovery figures get one line of their own, below.
            if name.starts_with("recovery.") && r.recovery.is_some() {
                continue;
            }
            let _ = writeln!(out, "  metric {name:<30} {value}");
        }
        if let Some(rec) = &r.recovery {
            let _ = writeln!(out, "  recovery: {}", rec.line());
        }
        let _ = writeln!(out, "  fingerprint {fp}");
        if let Some(t) = trace {
            let _ = writeln!(out, "  trace {}", t.display());
        }
    }
    match &r.verdict {
        Verdict::Pass => {
            let _ = writeln!(out, "PASS seed {} fingerprint {fp}", r.seed);
        }
        Verdict::Fail(f) if !f.class.is_conclusive() => {
            let _ = writeln!(
                out,
                "INCONCLUSIVE {}: check {} ({}) at step {}, t={}",
                f.class.name(),
                f.check,
                f.kind,
                f.step,
                f.time
            );
            let _ = writeln!(out, "  {}", f.message);
            let _ = writeln!(out, "reproduce: {replay}");
        }
        Verdict::Fail(f) => {
            let nodes: Vec<String> = f.nodes.iter().map(|n| n.to_string()).collect();
            let class = f.class.name();
            let _ = writeln!(
                out,
                "FAIL {class}: check {} ({}) at step {}, t={}{}",
                f.check,
                f.kind,
                f.step,
                f.time,
                if nodes.is_empty() {
                    String::new()
                } else {
                    format!(", nodes {}", nodes.join(" "))
                }
            );
            let _ = writeln!(out, "  {}", f.message);
            let _ = writeln!(out, "reproduce: {replay}");
        }
        Verdict::Inconclusive { reason } => {
            let _ = writeln!(out, "INCONCLUSIVE seed {}: {reason}", r.seed);
            let _ = writeln!(out, "reproduce: {replay}");
        }
        Verdict::Aborted { reason } => {
            let _ = writeln!(out, "ABORTED: {reason}");
        }
    }
}

/// Keeps every trace line in memory (for `run --view` and `run --explain`) and passes it on to `next`, if any.
struct Collect {
    text: Rc<RefCell<String>>,
    next: Option<Box<dyn TraceSink>>,
}

impl TraceSink for Collect {
    fn line(&mut self, line: &str) -> Result<(), String> {
        {
            let mut t = self.text.borrow_mut();
            t.push_str(line);
            t.push('\n');
        }
        match &mut self.next {
            Some(n) => n.line(line),
            None => Ok(()),
        }
    }
}

pub(super) fn verdict_exit(v: &Verdict) -> Exit {
    match v {
        Verdict::Pass => Exit::Ok,
        // A memory bound says nothing about the protocol.
        Verdict::Fail(f) if !f.class.is_conclusive() => Exit::Inconclusive,
        Verdict::Fail(_) => Exit::CheckFailed,
        Verdict::Inconclusive { .. } => Exit::Inconclusive,
        Verdict::Aborted { .. } => Exit::BadInput,
    }
}
