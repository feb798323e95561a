//! What a harness run reports: [`Passed`], or the first seed that did not pass as a
//! [`Failure`] with its one-line report (the check, seed, time and message, how to replay it,
//! and the trace written for it).
//!
//! Must not print: the line is returned, or is the test's panic message.

use super::Harness;
use super::files::{default_trace_dir, first_difference, traced_run};
use super::knobs::{ENV_DETERMINISM, ENV_SEED};
use super::seeds::SeedOutcome;
use super::{Source, bundled_type};
use crate::check::Finding;
use crate::protocol::Protocol;
use crate::scenario::{Scenario, replay_line, shell_quote};
use crate::sim::{RunReport, Verdict};
use crate::trace::fingerprint_hex;
use std::fmt;
use std::path::PathBuf;

/// Why a harness run did not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// A check failed, a handler panicked, or the event budget ran out: the engine's finding.
    Check(Box<Finding>),
    /// No check failed, but some could not be decided by the end of the run.
    Inconclusive {
        /// Which checks, and why.
        reason: String,
    },
    /// The run was stopped from outside (a trace line that could not be written).
    Aborted {
        /// Why.
        reason: String,
    },
    /// Two runs of the same seed differed: the protocol reads something besides its context
    /// (a global, a hash map's order, the clock).
    Nondeterministic {
        /// The two runs' fingerprints.
        fingerprints: [u64; 2],
        /// The first line (1-based) where the two traces differ, when both were written.
        first_difference: Option<u64>,
    },
    /// Code outside the protocol's handlers panicked (a client's constructor, a check's
    /// builder, or the engine itself).
    Panic {
        /// The panic's message.
        message: String,
    },
    /// The scenario, an argument of the builder or an environment variable is invalid.
    BadInput {
        /// What is wrong.
        message: String,
    },
}

/// A harness run that did not pass: what happened, and the one line that says so.
#[derive(Clone, Debug)]
pub struct Failure {
    /// What went wrong.
    pub kind: FailureKind,
    /// The seed, when one seed is to blame.
    pub seed: Option<u64>,
    /// The one-line report (what [`Harness::check`] panics with).
    pub line: String,
    /// The trace files written (two when two runs of one seed differed).
    pub traces: Vec<PathBuf>,
    /// The failing run's report, when there is one.
    pub report: Option<Box<RunReport>>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

impl std::error::Error for Failure {}

/// A harness run where every seed passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passed {
    /// The seeds run, in order.
    pub seeds: Vec<u64>,
    /// Whether every seed ran twice with equal fingerprints.
    pub determinism: bool,
    /// Seeds whose runs were inconclusive, when [`Harness::allow_inconclusive`] let them by.
    pub inconclusive: Vec<u64>,
}

impl<P: Protocol> Harness<P> {
    pub(super) fn bad_input(&self, message: String) -> Failure {
        Failure {
            line: format!("faultline: {}: {}", self.name, one_line(&message)),
            kind: FailureKind::BadInput { message },
            seed: None,
            traces: Vec::new(),
            report: None,
        }
    }

    /// `faultline run ...` when the binary runs this very protocol (see [`bundled_type`]) and
    /// the scenario came from a bundled name or a file; `None` otherwise (the command line
    /// could not run it, or would run another protocol).
    fn cli_line(&self, seed: u64) -> Option<String> {
        let source = match &self.source {
            Source::Bundled(name) => name.clone(),
            Source::File(path) => path.display().to_string(),
            Source::Default | Source::Text(_) => return None,
        };
        bundled_type::<P>().then(|| replay_line(&source, seed, &self.overrides))
    }

    fn cargo_line(&self, seed: u64, determinism: bool) -> String {
        let env = if determinism {
            format!(" {ENV_DETERMINISM}=1")
        } else {
            String::new()
        };
        format!(
            "{ENV_SEED}={seed}{env} cargo test {}",
            shell_quote(&self.name)
        )
    }

    /// The `reproduce` field of a trace's summary. For a bundled protocol it is the CLI's
    /// own line for the trace's source, so `faultline replay` finds the summary identical.
    fn summary_reproduce(&self, scn: &Scenario<P>, seed: u64, determinism: bool) -> String {
        if bundled_type::<P>() {
            replay_line(&scn.source, seed, &self.overrides)
        } else {
            self.cargo_line(seed, determinism)
        }
    }

    fn trace_path(&self, seed: u64, suffix: &str) -> PathBuf {
        let dir = self.trace_dir.clone().unwrap_or_else(default_trace_dir);
        let name: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        dir.join(format!("{name}-seed{seed}{suffix}.jsonl"))
    }

    /// Builds the report for the first seed that did not pass, writing its trace.
    pub(super) fn failure(
        &self,
        scn: &Scenario<P>,
        seed: u64,
        outcome: SeedOutcome,
        twice: bool,
    ) -> Failure {
        let name = &self.name;
        match outcome {
            SeedOutcome::Pass | SeedOutcome::AllowedInconclusive => {
                unreachable!("only seeds that did not pass are reported")
            }
            SeedOutcome::NotPassed(report) => {
                let path = self.trace_path(seed, "");
                let reproduce = self.summary_reproduce(scn, seed, false);
                let traced = traced_run(scn, seed, &path, &self.overrides, &reproduce);
                if let Ok(again) = &traced {
                    if again.fingerprint != report.fingerprint {
                        // The fingerprint does not depend on the sink: the runs differ.
                        let fingerprints = [report.fingerprint, again.fingerprint];
                        return self.nondeterministic(scn, seed, fingerprints);
                    }
                }
                let (trace, traces) = match traced {
                    Ok(_) => (path.display().to_string(), vec![path]),
                    Err(e) => (format!("not written ({})", one_line(&e)), Vec::new()),
                };
                let mut tail = format!("replay: {}", self.cargo_line(seed, false));
                if let Some(cli) = self.cli_line(seed) {
                    tail.push_str(&format!(" | cli: {cli}"));
                }
                tail.push_str(&format!(" | trace: {trace}"));
                let (kind, head) = match &report.verdict {
                    Verdict::Fail(f) => (
                        FailureKind::Check(Box::new(f.clone())),
                        format!(
                            "failed check {} ({}) at seed {seed}, t={}: {}",
                            f.check,
                            f.class.name(),
                            f.time,
                            one_line(&f.message)
                        ),
                    ),
                    Verdict::Inconclusive { reason } => (
                        FailureKind::Inconclusive {
                            reason: reason.clone(),
                        },
                        format!(
                            "was inconclusive at seed {seed}, t={}: {}",
                            report.time_end,
                            one_line(reason)
                        ),
                    ),
                    Verdict::Aborted { reason } => (
                        FailureKind::Aborted {
                            reason: reason.clone(),
                        },
                        format!("was aborted at seed {seed}: {}", one_line(reason)),
                    ),
                    Verdict::Pass => unreachable!("a passing run is not reported"),
                };
                Failure {
                    kind,
                    seed: Some(seed),
                    line: format!("faultline: {name} {head} | {tail}"),
                    traces,
                    report: Some(report),
                }
            }
            SeedOutcome::Nondeterministic(fingerprints) => {
                self.nondeterministic(scn, seed, fingerprints)
            }
            SeedOutcome::Error(kind) => {
                let what = match &kind {
                    FailureKind::Panic { message } => {
                        format!("panicked outside the protocol's handlers: {message}")
                    }
                    FailureKind::BadInput { message } => format!("bad scenario: {message}"),
                    other => format!("{other:?}"),
                };
                Failure {
                    line: format!(
                        "faultline: {name} failed at seed {seed}: {} | replay: {}",
                        one_line(&what),
                        self.cargo_line(seed, twice)
                    ),
                    kind,
                    seed: Some(seed),
                    traces: Vec::new(),
                    report: None,
                }
            }
        }
    }

    /// Two runs of `seed` differed: run it twice more with traces, so they can be compared.
    fn nondeterministic(&self, scn: &Scenario<P>, seed: u64, fingerprints: [u64; 2]) -> Failure {
        let reproduce = self.cargo_line(seed, true);
        let summary_reproduce = self.summary_reproduce(scn, seed, true);
        let paths = [
            self.trace_path(seed, "-run1"),
            self.trace_path(seed, "-run2"),
        ];
        let mut written = Vec::new();
        let mut errors = Vec::new();
        for p in &paths {
            match traced_run(scn, seed, p, &self.overrides, &summary_reproduce) {
                Ok(_) => written.push(p.clone()),
                Err(e) => errors.push(one_line(&e)),
            }
        }
        let first_difference = match written.as_slice() {
            [a, b] => first_difference(a, b),
            _ => None,
        };
        let difference = match first_difference {
            Some(l) => format!("; traced again, the two traces first differ at line {l}"),
            None if written.len() == 2 => "; traced again, the two traces were equal".to_string(),
            None => String::new(),
        };
        let trace = if errors.is_empty() {
            written
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            format!("not written ({})", errors.join("; "))
        };
        Failure {
            line: format!(
                "faultline: {} is not deterministic at seed {seed}: two runs gave fingerprints {} and {}{difference} | replay: {reproduce} | trace: {trace}",
                self.name,
                fingerprint_hex(fingerprints[0]),
                fingerprint_hex(fingerprints[1]),
            ),
            kind: FailureKind::Nondeterministic {
                fingerprints,
                first_difference,
            },
            seed: Some(seed),
            traces: written,
            report: None,
        }
    }
}

/// `text` on one line: line breaks become spaces.
pub(super) fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
