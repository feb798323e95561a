//! `faultline sweep` (a scenario under many seeds, sharded if asked), `faultline merge`
//! (shard reports back into one) and `faultline hunt` (every bug switch under its swarm),
//! with the shard index from batch-system variables and the progress line.

use super::Exit;
use super::io::{TypedCommand, bad, open_trace, typed};
use crate::protocol::Protocol;
use crate::protocols::{PROTOCOLS, ProtocolVisitor, with_protocol};
use crate::run::sweep::{self, SeedSet};
use crate::run::{feedback, hunt};
use crate::scenario::{self, InputError, Scenario, replay_line};
use crate::trace;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(super) struct SweepArgs {
    /// Scenario file or bundled name.
    scenario: String,
    /// Seeds, as A..B (both included) or one number.
    #[arg(long, default_value = "1..100")]
    seeds: String,
    /// Threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Stop once this many seeds have failed (the report covers every seed up to the last
    /// one counted, whatever --jobs is).
    #[arg(long)]
    max_failures: Option<u64>,
    /// Only the seeds congruent to K modulo N, as K/N.
    #[arg(long, conflicts_with = "shard_from_env")]
    shard: Option<String>,
    /// Take K from JOB_COMPLETION_INDEX (Kubernetes indexed Jobs) or SLURM_ARRAY_TASK_ID
    /// (minus SLURM_ARRAY_TASK_MIN), and N from --shard-count or SLURM_ARRAY_TASK_COUNT.
    #[arg(long)]
    shard_from_env: bool,
    /// N for --shard-from-env.
    #[arg(long, requires = "shard_from_env")]
    shard_count: Option<u64>,
    /// Override one scenario field, as for `run` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// One JSON line per failing seed, then a summary line (what `merge` reads).
    #[arg(long)]
    json: bool,
    /// Report the coverage the sweep reached over the protocol's vocabulary (roles, role
    /// changes, epoch changes and progress steps per node, sometimes-checks held).
    #[arg(long, conflicts_with_all = ["shard", "shard_from_env"])]
    coverage: bool,
    /// Steer the sweep towards new coverage: keep the inputs (seed and knobs) that reached
    /// new features and mutate them into about half of the inputs (implies --coverage).
    #[arg(long, conflicts_with_all = ["shard", "shard_from_env"])]
    feedback: bool,
    /// The feedback sweep's own seed: with the range, it fixes every input it makes.
    #[arg(long, default_value_t = 1, requires = "feedback")]
    feedback_seed: u64,
}

impl TypedCommand for SweepArgs {
    fn run<P: Protocol>(&self, scn: Scenario<P>, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
        sweep_typed(self, scn, out, err)
    }
}

/// `faultline sweep`: the scenario under a range of seeds, spread over threads.
pub(super) fn cmd_sweep(a: &SweepArgs, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    typed(&a.scenario, &a.set, a, out, err)
}

/// K and N from the batch engine's environment.
fn shard_from_env(count: Option<u64>) -> Result<(u64, u64), String> {
    shard_from_vars(|name| std::env::var(name).ok(), count)
}

fn shard_from_vars(
    lookup: impl Fn(&str) -> Option<String>,
    count: Option<u64>,
) -> Result<(u64, u64), String> {
    let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let number = |name: &str, v: String| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| format!("{name}={v:?} is not a number"))
    };
    let (k, n_env) = if let Some(v) = var("JOB_COMPLETION_INDEX") {
        (number("JOB_COMPLETION_INDEX", v)?, None)
    } else if let Some(v) = var("SLURM_ARRAY_TASK_ID") {
        let id = number("SLURM_ARRAY_TASK_ID", v)?;
        let min = match var("SLURM_ARRAY_TASK_MIN") {
            Some(m) => number("SLURM_ARRAY_TASK_MIN", m)?,
            None => 0,
        };
        let count = match var("SLURM_ARRAY_TASK_COUNT") {
            Some(c) => Some(number("SLURM_ARRAY_TASK_COUNT", c)?),
            None => None,
        };
        (
            id.checked_sub(min)
                .ok_or("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")?,
            count,
        )
    } else {
        return Err(
            "--shard-from-env: neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID is set".into(),
        );
    };
    let n = count.or(n_env).ok_or(
        "--shard-from-env: give the number of shards with --shard-count (Kubernetes sets no count)",
    )?;
    if k >= n {
        return Err(format!(
            "--shard-from-env: shard index {k} is not below the count {n}"
        ));
    }
    Ok((k, n))
}

fn scenario_hash(json: &serde_json::Value) -> String {
    trace::fingerprint_hex(crate::base::hash::stable_hash(&json.to_string()))
}

#[allow(clippy::disallowed_types)] // wall time for the progress line only; results never see it
fn sweep_typed<P: Protocol>(
    a: &SweepArgs,
    scn: Scenario<P>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    use std::io::IsTerminal;
    let (from, to) = match sweep::parse_range(&a.seeds) {
        Ok(r) => r,
        Err(e) => return bad(err, format!("--seeds: {e}")),
    };
    let shard = match (&a.shard, a.shard_from_env) {
        (Some(s), _) => match sweep::parse_shard(s) {
            Ok(s) => s,
            Err(e) => return bad(err, format!("--shard: {e}")),
        },
        (None, true) => match shard_from_env(a.shard_count) {
            Ok(s) => s,
            Err(e) => return bad(err, e),
        },
        (None, false) => (0, 1),
    };
    let seeds = SeedSet { from, to, shard };
    let jobs = a.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if jobs == 0 {
        return bad(err, "--jobs must be at least 1");
    }
    let hash = scenario_hash(&scn.json);
    if a.coverage || a.feedback {
        return covered_typed(a, &scn, seeds, jobs, &hash, out, err);
    }
    let show_progress = !a.json && std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut progress = |p: sweep::Progress| {
        if show_progress {
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            eprint!(
                "\r  seeds {}/{}  {:.0} seeds/s  failures {}   ",
                p.done,
                p.total,
                p.done as f64 / secs,
                p.failed
            );
        }
    };
    let mut failure_lines = Vec::new();
    let mut on_failure = |f: &sweep::SeedFailure| {
        if a.json {
            failure_lines.push(f.clone());
        }
    };
    let report = sweep::sweep(
        &scn,
        seeds,
        jobs,
        a.max_failures,
        &mut progress,
        &mut on_failure,
    );
    if show_progress {
        eprintln!();
    }
    if a.json {
        // Failure lines in seed order, then the summary, so the output is the same for any
        // number of jobs.
        for f in &report.failures {
            let line = serde_json::json!({
                "ev": "failure",
                "version": crate::VERSION,
                "scenario": scn.source,
                "scenario_hash": hash,
                "seed": f.seed,
                "check": f.check,
                "class": f.class,
                "message": f.message,
                "step": f.step,
                "time_us": f.time_us,
                "reproduce": replay_line(&a.scenario, f.seed, &a.set),
                "view": format!("{} --view seed{}.html", replay_line(&a.scenario, f.seed, &a.set), f.seed),
            });
            let _ = writeln!(out, "{line}");
        }
        let summary = serde_json::json!({
            "ev": "summary",
            "version": crate::VERSION,
            "scenario": scn.source,
            "scenario_hash": hash,
            "overrides": a.set,
            "report": report,
        });
        let _ = writeln!(out, "{summary}");
    } else {
        let (k, n) = shard;
        let shard_text = if n > 1 {
            format!(" (shard {k}/{n})")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "sweep {}: seeds {from}..{to}{shard_text}, {jobs} job(s), scenario {hash}",
            scn.source
        );
        print_sweep(&report, &a.scenario, &a.set, out);
    }
    sweep_exit(&report)
}

/// `sweep --coverage` and `sweep --feedback`: the coverage a sweep reached, and the inputs
/// (seed and knobs) that reached it first.
fn covered_typed<P: Protocol>(
    a: &SweepArgs,
    scn: &Scenario<P>,
    seeds: SeedSet,
    jobs: usize,
    hash: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let report = match feedback::covered_sweep(
        scn,
        seeds,
        a.feedback,
        a.feedback_seed,
        jobs,
        a.max_failures,
        &mut |_, _| {},
    ) {
        Ok(r) => r,
        Err(e) => return bad(err, e.to_string()),
    };
    let line = |input: &feedback::Input| {
        let mut set = a.set.clone();
        set.extend(input.set.iter().cloned());
        replay_line(&a.scenario, input.seed, &set)
    };
    if a.json {
        for (input, f) in &report.failures {
            let v = serde_json::json!({
                "ev": "failure",
                "version": crate::VERSION,
                "scenario": scn.source,
                "scenario_hash": hash,
                "seed": f.seed,
                "set": input.set,
                "check": f.check,
                "class": f.class,
                "message": f.message,
                "reproduce": line(input),
            });
            let _ = writeln!(out, "{v}");
        }
        let v = serde_json::json!({
            "ev": "coverage_summary",
            "version": crate::VERSION,
            "scenario": scn.source,
            "scenario_hash": hash,
            "overrides": a.set,
            "seeds": seeds,
            "feedback_seed": a.feedback.then_some(a.feedback_seed),
            "report": report,
        });
        let _ = writeln!(out, "{v}");
    } else {
        let how = if a.feedback {
            format!("feedback on (sweep seed {})", a.feedback_seed)
        } else {
            "feedback off".to_string()
        };
        let _ = writeln!(
            out,
            "sweep {}: {} inputs from seeds {}..{}, {how}, {jobs} job(s), scenario {hash}",
            scn.source,
            seeds.len(),
            seeds.from,
            seeds.to
        );
        let bugs = report.failures.iter().filter(|(_, f)| f.is_bug()).count();
        let _ = writeln!(
            out,
            "  {} runs: {} passed, {} failed",
            report.runs,
            report.passed,
            report.failures.len()
        );
        let curve: Vec<String> = report.curve.iter().map(|c| c.to_string()).collect();
        let _ = writeln!(
            out,
            "  coverage: {} features; after each {} runs: {}",
            report.features.len(),
            feedback::BATCH,
            curve.join(" ")
        );
        let orders: Vec<String> = report
            .orders
            .iter()
            .map(|(o, n)| format!("{o} {n}"))
            .collect();
        let _ = writeln!(out, "  delivery orders: {}", orders.join(", "));
        let mutated = report
            .corpus
            .iter()
            .filter(|e| !e.input.set.is_empty())
            .count();
        let _ = writeln!(
            out,
            "  corpus: {} inputs reached new features ({mutated} of them mutations)",
            report.corpus.len()
        );
        for g in &report.groups {
            let first = report
                .failures
                .iter()
                .find(|(_, f)| f.check == g.check && f.class == g.class)
                .map(|(i, _)| i)
                .expect("a group has a failure");
            let _ = writeln!(
                out,
                "  {} ({}): {} input(s)\n    reproduce: {}",
                g.check,
                g.class,
                g.count,
                line(first)
            );
        }
        let verdict = if report.failures.is_empty() {
            "PASS"
        } else if bugs > 0 {
            "FAIL"
        } else {
            "INCONCLUSIVE"
        };
        let _ = writeln!(out, "{verdict}");
    }
    if report.failures.iter().any(|(_, f)| f.is_bug()) {
        Exit::CheckFailed
    } else if report.failures.is_empty() {
        Exit::Ok
    } else {
        Exit::Inconclusive
    }
}

fn print_sweep(report: &sweep::SweepReport, source: &str, set: &[String], out: &mut dyn Write) {
    let _ = writeln!(
        out,
        "  {} seeds run: {} passed, {} failed{}",
        report.run,
        report.passed,
        report.failures.len(),
        match report.stopped_after {
            Some(s) => format!(" (stopped after seed {s}: --max-failures reached)"),
            None => String::new(),
        }
    );
    if report.recovery.runs > 0 {
        let _ = writeln!(out, "  recovery: {}", report.recovery.line());
    }
    for g in &report.groups {
        let _ = writeln!(
            out,
            "  {} ({}): {} seed(s), smallest {}\n    reproduce: {}\n    view: {} --view seed{}.html",
            g.check,
            g.class,
            g.count,
            g.smallest_seed,
            replay_line(source, g.smallest_seed, set),
            replay_line(source, g.smallest_seed, set),
            g.smallest_seed
        );
    }
    let verdict = if report.all_passed() {
        "PASS"
    } else if report.any_bug() {
        "FAIL"
    } else {
        "INCONCLUSIVE"
    };
    let _ = writeln!(out, "{verdict}");
}

fn sweep_exit(report: &sweep::SweepReport) -> Exit {
    if report.any_bug() {
        Exit::CheckFailed
    } else if report.failures.is_empty() {
        Exit::Ok
    } else {
        Exit::Inconclusive
    }
}

pub(super) fn cmd_merge(
    files: &[PathBuf],
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let mut reports = Vec::new();
    let mut identity: Option<(String, String, String, Vec<String>)> = None;
    for path in files {
        let shown = path.display();
        // A report is read line by line under the trace caps; only its summary is kept.
        let mut lines = match open_trace(path) {
            Ok(l) => l,
            Err(e) => return bad(err, e),
        };
        let mut summary = None;
        loop {
            let (n, line) = match lines.next_line() {
                Ok(Some(l)) => l,
                Ok(None) => break,
                Err(e) => return bad(err, e),
            };
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    return bad(err, format!("{shown}:{n}:{}: not JSON: {e}", e.column()));
                }
            };
            if v["ev"] == "summary" {
                summary = Some((n, v));
            }
        }
        let Some((line, v)) = summary else {
            return bad(
                err,
                format!("{shown}: no summary line: not a complete `sweep --json` output"),
            );
        };
        let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let overrides: Vec<String> = v["overrides"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let id = (
            field("version"),
            field("scenario_hash"),
            field("scenario"),
            overrides,
        );
        match &identity {
            None => identity = Some(id),
            Some(first) if first.0 != id.0 => {
                return bad(
                    err,
                    format!(
                        "{shown}: made by faultline {}, the first file by {}",
                        id.0, first.0
                    ),
                );
            }
            Some(first) if first.1 != id.1 => {
                return bad(
                    err,
                    format!(
                        "{shown}: scenario {} differs from the first file's {}",
                        id.1, first.1
                    ),
                );
            }
            Some(_) => {}
        }
        match serde_json::from_value::<sweep::SweepReport>(v["report"].clone()) {
            Ok(r) => reports.push(r),
            Err(e) => {
                return bad(
                    err,
                    format!("{shown}:{line}: the summary's report is malformed: {e}"),
                );
            }
        }
    }
    let merged = match sweep::merge(&reports) {
        Ok(m) => m,
        Err(e) => return bad(err, e),
    };
    let (version, hash, source, overrides) = identity.expect("at least one file");
    if json {
        let v = serde_json::json!({
            "ev": "summary",
            "version": version,
            "scenario": source,
            "scenario_hash": hash,
            "overrides": overrides,
            "report": merged,
        });
        let _ = writeln!(out, "{v}");
    } else {
        let _ = writeln!(
            out,
            "merge of {} shard(s) of {source}: seeds {}..{}, scenario {hash}",
            files.len(),
            merged.seeds.from,
            merged.seeds.to
        );
        print_sweep(&merged, &source, &overrides, out);
    }
    sweep_exit(&merged)
}

/// `faultline hunt`: every bug switch of every protocol (or of one) hunted under its swarm
/// scenario, plus each protocol with none on (false alarms), as a table.
pub(super) struct Hunt<'a> {
    /// Wall-clock seconds each row may sweep for.
    pub(super) budget_seconds: u64,
    /// Most seeds a row sweeps.
    pub(super) seeds_max: u64,
    /// Threads (default: all cores).
    pub(super) jobs: Option<usize>,
    /// Only this protocol.
    pub(super) only: Option<&'a str>,
    /// JSON lines instead of the table.
    pub(super) json: bool,
}

/// Runs the hunt; exit 1 if a switch was missed or a protocol raised a false alarm.
pub(super) fn cmd_hunt(h: &Hunt<'_>, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let jobs = h.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let protocols: Vec<&str> = PROTOCOLS
        .iter()
        .copied()
        .filter(|p| h.only.is_none_or(|o| o == *p))
        .collect();
    if protocols.is_empty() {
        return bad(
            err,
            format!("--protocol: expected one of {}", PROTOCOLS.join(", ")),
        );
    }
    if !h.json {
        let _ = writeln!(
            out,
            "hunt: each row sweeps <protocol>/swarm from seed 1 for up to {} s or {} seeds on {jobs} job(s); the sweep is not told which switch is on\n",
            h.budget_seconds, h.seeds_max
        );
        let _ = writeln!(
            out,
            "{:<6} {:<24} {:<6} {:>8} {:>9}  check (or false alarms)",
            "proto", "switch", "found", "seeds", "seconds"
        );
    }
    let mut missed_or_false = false;
    for proto in protocols {
        let name = format!("{proto}/swarm");
        if scenario::bundled(&name).is_none() {
            let _ = writeln!(err, "note: no {name} scenario: {proto} skipped");
            continue;
        }
        let rows = HuntRows {
            hunt: h,
            name: &name,
            jobs,
            out: &mut *out,
        };
        match with_protocol(proto, rows).expect("the name is in PROTOCOLS") {
            Ok(all_as_hoped) => missed_or_false |= !all_as_hoped,
            Err(e) => return bad(err, e),
        }
    }
    if missed_or_false {
        Exit::CheckFailed
    } else {
        Exit::Ok
    }
}

/// The rows of one protocol: none on, then each of its bug switches.
struct HuntRows<'a> {
    hunt: &'a Hunt<'a>,
    name: &'a str,
    jobs: usize,
    out: &'a mut dyn Write,
}

impl ProtocolVisitor for HuntRows<'_> {
    /// Whether every row went as hoped (each switch found, no false alarm).
    type Output = Result<bool, InputError>;

    #[allow(clippy::disallowed_types)] // the time budget is the point of `hunt`; results are per seed
    fn visit<P: Protocol>(self) -> Self::Output {
        let HuntRows {
            hunt: h,
            name,
            jobs,
            out,
        } = self;
        let swarm = Scenario::<P>::bundled(name, &[])?;
        let mut rows: Vec<Option<String>> = vec![None];
        rows.extend(hunt::bug_switches::<P>().into_iter().map(Some));
        let mut all_as_hoped = true;
        for switch in rows {
            let started = std::time::Instant::now();
            let mut more_time = || started.elapsed().as_secs() < h.budget_seconds;
            let row = hunt::row(&swarm, switch.as_deref(), h.seeds_max, jobs, &mut more_time)?;
            let secs = started.elapsed().as_secs_f64();
            let first = &row.first;
            let (found, detail) = match (&switch, first) {
                (Some(_), Some(f)) => ("yes", format!("{} ({})", f.check, f.class)),
                (Some(_), None) => ("no", "-".to_string()),
                (None, _) => (
                    if row.failures == 0 { "-" } else { "ALARM" },
                    format!(
                        "{} false alarm(s) in {} seeds{}",
                        row.failures,
                        row.seeds_run,
                        first
                            .as_ref()
                            .map(|f| format!(", first seed {} {}", f.seed, f.check))
                            .unwrap_or_default()
                    ),
                ),
            };
            all_as_hoped &= row.as_hoped();
            let seeds_to = match (&switch, first) {
                (Some(_), Some(f)) => f.seed,
                _ => row.seeds_run,
            };
            let set: Vec<String> = switch.iter().map(|s| hunt::switch_on(s)).collect();
            let proto = P::NAME;
            let label = switch.clone().unwrap_or_else(|| "(none)".into());
            if h.json {
                let line = serde_json::json!({
                    "protocol": proto,
                    "switch": switch,
                    "found": found,
                    "seeds": seeds_to,
                    "seconds": (secs * 100.0).round() / 100.0,
                    "check": first.as_ref().map(|f| f.check.clone()),
                    "failures": row.failures,
                    "inconclusive": row.inconclusive,
                    "seeds_run": row.seeds_run,
                    "reproduce": first.as_ref().map(|f| replay_line(name, f.seed, &set)),
                    "view": first.as_ref().map(|f| format!("{} --view seed{}.html", replay_line(name, f.seed, &set), f.seed)),
                });
                let _ = writeln!(out, "{line}");
            } else {
                let _ = writeln!(
                    out,
                    "{proto:<6} {label:<24} {found:<6} {seeds_to:>8} {secs:>9.2}  {detail}"
                );
            }
        }
        Ok(all_as_hoped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_come_from_kubernetes_or_slurm_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let k8s = vars(&[("JOB_COMPLETION_INDEX", "3")]);
        assert_eq!(shard_from_vars(k8s, Some(8)), Ok((3, 8)));
        assert!(
            shard_from_vars(k8s, None)
                .unwrap_err()
                .contains("--shard-count")
        );
        assert!(shard_from_vars(k8s, Some(3)).is_err(), "index 3 of 3");
        let slurm = vars(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
        ]);
        assert_eq!(shard_from_vars(slurm, None), Ok((4, 8)));
        assert!(
            shard_from_vars(vars(&[]), Some(2))
                .unwrap_err()
                .contains("neither")
        );
        let junk = vars(&[("JOB_COMPLETION_INDEX", "x")]);
        assert!(
            shard_from_vars(junk, Some(2))
                .unwrap_err()
                .contains("not a number")
        );
    }
}
