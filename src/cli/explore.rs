//! `faultline explore`: every interleaving of a scenario within bounds; a violation is
//! written out as a scripted scenario that `run` replays.

use super::Exit;
use super::io::{TypedCommand, check_outputs, typed, write_whole};
use crate::explore::{self, ExploreSpec, Outcome, Progress, Semantics, Stop, Strategy};
use crate::protocol::Protocol;
use crate::scenario::Scenario;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub(super) struct ExploreArgs {
    /// Scenario file or bundled name.
    scenario: String,
    /// Overrides, as for `run` (`--set explore.depth=20` works too).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Longest path, in actions after the starts.
    #[arg(long)]
    depth: Option<u32>,
    /// Most unique states.
    #[arg(long)]
    states: Option<u64>,
    /// Most resident memory, in megabytes (0: no bound).
    #[arg(long)]
    memory_mb: Option<u64>,
    /// Crashes in one path.
    #[arg(long)]
    crashes: Option<u32>,
    /// Node isolations in one path.
    #[arg(long)]
    isolations: Option<u32>,
    /// Timer firings per node in one path.
    #[arg(long)]
    timers: Option<u32>,
    /// Client timer firings per client beyond one per operation (timeouts and retries).
    #[arg(long)]
    retries: Option<u32>,
    /// Duplications in one path (with --network duplicating).
    #[arg(long)]
    duplicates: Option<u32>,
    /// Let any copy be lost too.
    #[arg(long)]
    loss: bool,
    /// unordered, duplicating or ordered.
    #[arg(long)]
    network: Option<String>,
    /// breadth (shortest counterexample), depth or walk.
    #[arg(long)]
    strategy: Option<String>,
    /// Random walks, with --strategy walk.
    #[arg(long)]
    walks: Option<u64>,
    /// Where to write a counterexample (default: <name>-explored.json here).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

impl TypedCommand for ExploreArgs {
    fn run<P: Protocol>(&self, scn: Scenario<P>, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
        explore_typed(self, scn, out, err)
    }
}

/// `faultline explore`.
pub(super) fn cmd_explore(a: &ExploreArgs, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    typed(&a.scenario, &a.set, a, out, err)
}

fn spec_of<P: Protocol>(a: &ExploreArgs, scn: &Scenario<P>) -> Result<ExploreSpec, String> {
    let mut s = scn.file.explore.clone().unwrap_or_default();
    s.depth = a.depth.unwrap_or(s.depth);
    s.states = a.states.unwrap_or(s.states);
    s.memory_mb = a.memory_mb.unwrap_or(s.memory_mb);
    s.crashes = a.crashes.unwrap_or(s.crashes);
    s.isolations = a.isolations.unwrap_or(s.isolations);
    s.timers = a.timers.unwrap_or(s.timers);
    s.retries = a.retries.unwrap_or(s.retries);
    s.duplicates = a.duplicates.unwrap_or(s.duplicates);
    s.walks = a.walks.unwrap_or(s.walks);
    s.loss |= a.loss;
    if let Some(n) = &a.network {
        s.network = match n.as_str() {
            "unordered" => Semantics::Unordered,
            "duplicating" => Semantics::Duplicating,
            "ordered" => Semantics::Ordered,
            _ => {
                return Err(format!(
                    "--network {n:?}: expected unordered, duplicating or ordered"
                ));
            }
        };
    }
    if let Some(n) = &a.strategy {
        s.strategy = match n.as_str() {
            "breadth" | "bfs" => Strategy::Breadth,
            "depth" | "dfs" => Strategy::Depth,
            "walk" => Strategy::Walk,
            _ => return Err(format!("--strategy {n:?}: expected breadth, depth or walk")),
        };
    }
    // The explorer chooses every message's fate and every fault itself; a fault on one
    // chosen message or a switch set at a time has no place in its search.
    if let Some((i, key)) = scn.file.what_if_fault() {
        return Err(format!(
            "faults[{i}]: the explorer chooses each message's fate and the faults itself, so a `{key}` entry means nothing to it; run it with `faultline run`, or set the switch in protocol.params"
        ));
    }
    if s.depth == 0 || s.states == 0 || s.walks == 0 {
        return Err("--depth, --states and --walks must be at least 1".to_string());
    }
    if s.timers > 255 || s.retries > 255 {
        return Err("--timers and --retries must be at most 255".to_string());
    }
    Ok(s)
}

/// The process's resident memory now and at its peak, in bytes (Linux; zero elsewhere).
fn memory() -> (u64, u64) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn explore_typed<P: Protocol>(
    a: &ExploreArgs,
    scn: Scenario<P>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let spec = match spec_of(a, &scn) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    };
    let output = a.output.clone().unwrap_or_else(|| {
        let stem = Path::new(&a.scenario)
            .file_stem()
            .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().to_string());
        PathBuf::from(format!("{stem}-explored.json"))
    });
    if let Err(e) = check_outputs(&[("--output", &output)]) {
        let _ = writeln!(err, "error: {e}");
        return Exit::BadInput;
    }
    let memory_max = spec.memory_mb.saturating_mul(1024 * 1024);
    let bounds = spec.describe();
    #[allow(clippy::disallowed_types)] // the summary's time only; the search never sees it
    let start = std::time::Instant::now();
    let mut watch = |p: &Progress| {
        if memory_max > 0 {
            let (rss, _) = memory();
            if rss > memory_max {
                return Some(format!(
                    "the memory bound: {} MB resident with {} unique states and {} waiting (raise --memory-mb, or try --strategy depth)",
                    rss >> 20,
                    p.unique,
                    p.frontier
                ));
            }
        }
        None
    };
    let outcome = match explore::explore(&scn, Some(spec), &mut watch) {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let (_, peak) = memory();
    if a.json {
        let _ = writeln!(
            out,
            "{}",
            summary_json(&a.scenario, &bounds, &outcome, seconds, peak)
        );
    } else {
        print_summary(&a.scenario, &bounds, &outcome, seconds, peak, out);
    }
    let Some((finding, steps)) = &outcome.violation else {
        return exit_of(&outcome);
    };
    let json = explore::counterexample(&scn.json, &finding.check, steps, &bounds);
    let text = serde_json::to_string_pretty(&json).expect("JSON values print");
    if let Err(e) = write_whole(&output, &text) {
        let _ = writeln!(err, "error: cannot write {}: {e}", output.display());
        return Exit::BadInput;
    }
    if !a.json {
        let _ = writeln!(out, "path ({} steps):", steps.len());
        for (i, s) in steps.iter().enumerate() {
            let _ = writeln!(out, "  {:>3}. {s}", i + 1);
        }
        let _ = writeln!(out, "written to {}", output.display());
        let _ = writeln!(
            out,
            "replay: faultline run {}   (view: add --view FILE.html)",
            crate::scenario::shell_quote(&output.display().to_string())
        );
    }
    Exit::CheckFailed
}

fn stop_text(o: &Outcome) -> String {
    match &o.stop {
        Stop::Exhausted if o.at_depth_bound > 0 => format!(
            "exhausted within the depth bound: {} states at depth {} were not expanded (a proof for paths of at most that many actions only; raise --depth to go further)",
            o.at_depth_bound, o.depth
        ),
        Stop::Exhausted => "exhausted: every state within the bounds was explored".to_string(),
        Stop::Violation => "a check failed".to_string(),
        Stop::StatesBound => "the state bound was reached (raise --states)".to_string(),
        Stop::WalksDone => "the random walks are done (a sample, not a proof)".to_string(),
        Stop::Watched(why) => format!("stopped at {why}"),
    }
}

fn print_summary(
    name: &str,
    bounds: &str,
    o: &Outcome,
    seconds: f64,
    peak: u64,
    out: &mut dyn Write,
) {
    let _ = writeln!(out, "explore {name}: {bounds}");
    let _ = writeln!(
        out,
        "{} states, {} unique, depth {} reached, {:.2} s ({:.0} unique/s), {} MB peak, {} terminal, {} at the depth bound; {}",
        o.states,
        o.unique,
        o.depth,
        seconds,
        o.unique as f64 / seconds.max(1e-9),
        peak >> 20,
        o.terminal,
        o.at_depth_bound,
        stop_text(o)
    );
    if o.budget_cut > 0 {
        let _ = writeln!(
            out,
            "budgets cut {} actions (timer firings, client retries, crashes, isolations or duplicates spent)",
            o.budget_cut
        );
    }
    for (check, reached) in &o.sometimes {
        let _ = writeln!(
            out,
            "sometimes {check}: {}",
            if *reached {
                "reached"
            } else {
                "NOT reached within the bounds"
            }
        );
    }
    if !o.not_judged.is_empty() {
        let _ = writeln!(
            out,
            "not judged by the explorer (they need time, a heal or a whole run): {}",
            o.not_judged.join(", ")
        );
    }
    if let Some((f, steps)) = &o.violation {
        let _ = writeln!(
            out,
            "FAIL {}: check {} ({}) after {} steps: {}",
            f.class.name(),
            f.check,
            f.kind,
            steps.len(),
            f.message
        );
    }
}

fn summary_json(name: &str, bounds: &str, o: &Outcome, seconds: f64, peak: u64) -> String {
    let sometimes: serde_json::Map<String, serde_json::Value> = o
        .sometimes
        .iter()
        .map(|(c, r)| (c.clone(), serde_json::Value::from(*r)))
        .collect();
    serde_json::json!({
        "scenario": name,
        "bounds": bounds,
        "stop": stop_text(o),
        "states": o.states,
        "unique": o.unique,
        "depth": o.depth,
        "terminal": o.terminal,
        "at_depth_bound": o.at_depth_bound,
        "budget_cut": o.budget_cut,
        "frontier_max": o.frontier_max,
        "seconds": seconds,
        "peak_bytes": peak,
        "sometimes": sometimes,
        "not_judged": o.not_judged,
        "violation": o.violation.as_ref().map(|(f, steps)| serde_json::json!({
            "check": f.check, "kind": f.kind, "class": f.class.name(), "message": f.message,
            "steps": steps,
        })),
    })
    .to_string()
}

/// 0 when the bounded space was exhausted and every sometimes-check reached; 4 when a bound
/// cut the search short or a sometimes-check was never reached (never a silent pass).
fn exit_of(o: &Outcome) -> Exit {
    if o.proves() {
        Exit::Ok
    } else {
        Exit::Inconclusive
    }
}
