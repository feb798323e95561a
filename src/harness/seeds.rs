//! Running a harness's seeds: each seed judged (run once, or twice to compare fingerprints),
//! on the crate's one seed pool (`crate::run::pool`), stopping at the first seed that does
//! not pass.
//!
//! Must not print, read the environment or write files.

use super::report::FailureKind;
use crate::protocol::Protocol;
use crate::run::pool;
use crate::scenario::Scenario;
use crate::sim::{RunReport, Verdict};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The outcome of one seed.
pub(super) enum SeedOutcome {
    /// The run passed (twice, with equal fingerprints, when asked).
    Pass,
    /// The run was inconclusive, and the harness lets that by.
    AllowedInconclusive,
    /// The run failed, was inconclusive or was aborted.
    NotPassed(Box<RunReport>),
    /// Two runs gave these fingerprints.
    Nondeterministic([u64; 2]),
    /// The seed's scenario was invalid, or something panicked outside the handlers.
    Error(FailureKind),
}

impl SeedOutcome {
    /// Whether the seed passed (an inconclusive run the harness lets by counts as passed).
    pub(super) fn passed(&self) -> bool {
        matches!(self, SeedOutcome::Pass | SeedOutcome::AllowedInconclusive)
    }
}

/// Judges the seeds on `threads` threads, in list order, and stops at the first that does
/// not pass: the outcomes of every seed up to it, whatever the thread count (the pool's
/// failure limit of one).
pub(super) fn run_seeds<P: Protocol>(
    scn: &Scenario<P>,
    seeds: &[u64],
    twice: bool,
    allow_inconclusive: bool,
    threads: usize,
) -> Vec<SeedOutcome> {
    pool::run(
        seeds,
        threads,
        Some(1),
        |seed| judge(scn, seed, twice, allow_inconclusive),
        |outcome: &SeedOutcome| !outcome.passed(),
        &mut |_, _| {},
    )
    .results
}

fn judge<P: Protocol>(
    scn: &Scenario<P>,
    seed: u64,
    twice: bool,
    allow_inconclusive: bool,
) -> SeedOutcome {
    let first = match run_once(scn, seed) {
        Ok(r) => r,
        Err(kind) => return SeedOutcome::Error(kind),
    };
    if twice {
        match run_once(scn, seed) {
            Ok(again) if again.fingerprint != first.fingerprint => {
                return SeedOutcome::Nondeterministic([first.fingerprint, again.fingerprint]);
            }
            Ok(_) => {}
            Err(kind) => return SeedOutcome::Error(kind),
        }
    }
    match first.verdict {
        Verdict::Pass => SeedOutcome::Pass,
        Verdict::Inconclusive { .. } if allow_inconclusive => SeedOutcome::AllowedInconclusive,
        // A run stopped at a memory bound is inconclusive too (exit 4): it says nothing
        // about the protocol.
        Verdict::Fail(ref f) if allow_inconclusive && !f.class.is_conclusive() => {
            SeedOutcome::AllowedInconclusive
        }
        _ => SeedOutcome::NotPassed(Box::new(first)),
    }
}

/// Runs one seed without a trace; see [`simulate`].
fn run_once<P: Protocol>(scn: &Scenario<P>, seed: u64) -> Result<RunReport, FailureKind> {
    simulate(|| scn.run(seed, None))
}

/// Runs `run`; a panic outside the protocol's handlers (which the engine reports itself)
/// becomes a [`FailureKind::Panic`], a scenario the engine refuses a
/// [`FailureKind::BadInput`].
pub(super) fn simulate(
    run: impl FnOnce() -> Result<RunReport, crate::scenario::InputError>,
) -> Result<RunReport, FailureKind> {
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(e)) => Err(FailureKind::BadInput {
            message: e.to_string(),
        }),
        Err(payload) => Err(FailureKind::Panic {
            message: panic_text(payload.as_ref()),
        }),
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}
