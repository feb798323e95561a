//! `faultline shrink`: a failing seed reduced to a small standalone scenario that fails the
//! same check, written out (and saved as a regression case if asked).

use super::Exit;
use super::io::{TypedCommand, check_outputs, typed, write_whole};
use crate::protocol::Protocol;
use crate::run::shrink;
use crate::scenario::Scenario;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub(super) struct ShrinkArgs {
    /// Scenario file or bundled name.
    scenario: String,
    /// The failing seed (default: the scenario's own).
    #[arg(long)]
    seed: Option<u64>,
    /// Overrides, as for `run` (baked into the shrunk scenario).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Where to write the shrunk scenario (default: <name>-seed<N>-shrunk.json here).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Also save it as the regression case scenarios/regressions/NAME.json (must fail the
    /// same check forever after; `cargo test` replays it).
    #[arg(long, value_name = "NAME")]
    save_regression: Option<String>,
    /// Overwrite an existing regression case.
    #[arg(long)]
    force: bool,
    /// Most candidate runs to try.
    #[arg(long, default_value_t = 10000)]
    max_runs: u32,
}

impl TypedCommand for ShrinkArgs {
    fn run<P: Protocol>(&self, scn: Scenario<P>, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
        shrink_typed(self, scn, out, err)
    }
}

/// `faultline shrink`: a failing seed reduced to a small scenario that fails the same check.
pub(super) fn cmd_shrink(a: &ShrinkArgs, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    typed(&a.scenario, &a.set, a, out, err)
}

fn shrink_typed<P: Protocol>(
    a: &ShrinkArgs,
    scn: Scenario<P>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let regression = match &a.save_regression {
        None => None,
        Some(name) => {
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !ok {
                let _ = writeln!(
                    err,
                    "error: --save-regression {name:?}: use lower-case letters, digits, - and _"
                );
                return Exit::BadInput;
            }
            let path = Path::new("scenarios")
                .join("regressions")
                .join(format!("{name}.json"));
            if path.exists() && !a.force {
                let _ = writeln!(
                    err,
                    "error: {} exists; pick another name or pass --force",
                    path.display()
                );
                return Exit::BadInput;
            }
            Some((name.clone(), path))
        }
    };
    let seed = a.seed.unwrap_or(scn.file.seed);
    let output = a
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}-seed{seed}-shrunk.json", stem(a))));
    // Checked before the (long) shrink, so a bad path fails at once.
    if let Err(e) = check_outputs(&[("--output", &output)]) {
        let _ = writeln!(err, "error: {e}");
        return Exit::BadInput;
    }
    let _ = writeln!(
        out,
        "shrink {} seed {seed}{}",
        a.scenario,
        if a.set.is_empty() {
            String::new()
        } else {
            format!(" ({})", a.set.join(", "))
        }
    );
    let options = shrink::Options {
        max_runs: a.max_runs,
    };
    let shrunk = match shrink::shrink(&scn, seed, options) {
        Ok(s) => s,
        Err(shrink::Error::Input(e)) => {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
        Err(shrink::Error::MemoryBound(why)) => {
            let _ = writeln!(err, "inconclusive: {why}");
            return Exit::Inconclusive;
        }
        Err(shrink::Error::NotFailing(why)) => {
            let _ = writeln!(err, "error: {why}");
            return Exit::BadInput;
        }
        Err(shrink::Error::NotExplicit(why, explicit)) => {
            let _ = writeln!(err, "error: {why}");
            if let Some(json) = explicit {
                let path = PathBuf::from(format!("{}.explicit.json", a.scenario.replace('/', "-")));
                let text = serde_json::to_string_pretty(&json).expect("JSON values print");
                if write_whole(&path, &text).is_ok() {
                    let _ = writeln!(err, "the explicit scenario is in {}", path.display());
                }
            }
            return Exit::Inconclusive;
        }
    };
    for (i, step) in shrunk.steps.iter().enumerate() {
        let _ = writeln!(out, "  {:>3}. {step}", i + 1);
    }
    let row = |label: &str, s: &shrink::Size| {
        format!(
            "{label:<7}{:>5} faults {:>6} operations {:>3} nodes {:>8} events {:>7} ms",
            s.faults, s.ops, s.nodes, s.events, s.time_ms
        )
    };
    let _ = writeln!(out, "{}", row("before", &shrunk.before));
    let _ = writeln!(out, "{}", row("after", &shrunk.after));
    let _ = writeln!(
        out,
        "{} candidate runs; still fails {}: {}",
        shrunk.runs, shrunk.check, shrunk.message
    );
    let mut json = shrunk.scenario.clone();
    json["outcome"] = serde_json::json!({ "fails": shrunk.check });
    let text = serde_json::to_string_pretty(&json).expect("JSON values print") + "\n";
    let mut written = vec![output];
    if let Some((_, path)) = &regression {
        if let Some(dir) = path.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                let _ = writeln!(err, "error: cannot create {}: {e}", dir.display());
                return Exit::BadInput;
            }
        }
        written.push(path.clone());
    }
    for path in &written {
        if let Err(e) = write_whole(path, &text) {
            let _ = writeln!(err, "error: {e}");
            return Exit::BadInput;
        }
        let _ = writeln!(out, "wrote {}", path.display());
    }
    let _ = writeln!(out, "reproduce: faultline run {}", written[0].display());
    if let Some((name, _)) = &regression {
        let _ = writeln!(
            out,
            "regression case regressions/{name}: `cargo test --test regressions` replays it and fails if it stops failing {}",
            shrunk.check
        );
    }
    Exit::Ok
}

/// The scenario's file stem, for the default output name.
fn stem(a: &ShrinkArgs) -> String {
    Path::new(&a.scenario)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "scenario".into())
}
