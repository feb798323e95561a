//! Seed sweeps: one scenario run under many seeds, spread over threads, with the failures
//! grouped by the check that fired. Generic over the protocol.
//!
//! The seeds run on the seed [`pool`], so a sweep's results do not depend on how
//! many threads ran it: with a failure limit, the report covers exactly the seeds up to the
//! last failure counted, all of which ran, the same with one thread or many.
//!
//! Shards pick the seeds whose remainder modulo N is K, so N machines can share a range, and
//! [`merge`] checks that shard reports cover every seed once under one tool version and one
//! scenario. No files, no environment, no output here: the CLI does those.

use super::pool;
use crate::protocol::Protocol;
use crate::scenario::Scenario;
use crate::sim::{RecoveryAggregate, RecoveryReport, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which seeds: `from..=to`, and of those the ones with `seed % shard.1 == shard.0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedSet {
    /// First seed.
    pub from: u64,
    /// Last seed (inclusive).
    pub to: u64,
    /// (K, N): this shard takes the seeds congruent to K modulo N. (0, 1) is all of them.
    pub shard: (u64, u64),
}

impl SeedSet {
    /// The seeds, in increasing order.
    pub fn seeds(&self) -> impl Iterator<Item = u64> + '_ {
        let (k, n) = self.shard;
        (self.from..=self.to).filter(move |s| s % n == k)
    }

    /// How many seeds.
    pub fn len(&self) -> u64 {
        let (k, n) = self.shard;
        // Seeds s in from..=to with s % n == k: count those below to+1 minus those below from.
        let below = |x: u64| x / n + u64::from(x % n > k);
        below(self.to.saturating_add(1)) - below(self.from)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Most seeds one sweep takes (its results are kept in memory until it ends).
pub const SEEDS_MAX: u64 = 100_000_000;

/// Parses `A..B` (both ends included) or a single seed `A`.
pub fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("expected seeds as A..B (both included) or one number, found {text:?}");
    let (a, b) = match text.split_once("..") {
        Some((a, b)) => (a, b.strip_prefix('=').unwrap_or(b)),
        None => (text, text),
    };
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if b < a {
        return Err(format!("the range {text:?} is empty: {b} comes before {a}"));
    }
    if b - a >= SEEDS_MAX {
        return Err(format!(
            "the range {text:?} holds more than {SEEDS_MAX} seeds; split it into shards or smaller ranges"
        ));
    }
    Ok((a, b))
}

/// Parses `K/N` with `K < N`.
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("expected a shard as K/N with 0 <= K < N, found {text:?}");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let k: u64 = k.trim().parse().map_err(|_| bad())?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || k >= n {
        return Err(bad());
    }
    Ok((k, n))
}

/// One seed that did not pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedFailure {
    /// The seed.
    pub seed: u64,
    /// The group it belongs to: the check that fired, or `inconclusive` / `aborted`.
    pub check: String,
    /// Safety, liveness, vacuous, panic, event_budget, memory_bound, metric, inconclusive, aborted.
    pub class: String,
    /// What went wrong.
    pub message: String,
    /// Step and virtual time of the finding, when there is one.
    pub step: Option<u64>,
    /// Microseconds of virtual time.
    pub time_us: Option<u64>,
}

impl SeedFailure {
    /// Whether this seed found something wrong with the protocol (or the run could not be
    /// made): not when it was only inconclusive, or stopped at a memory bound
    /// (`memory_bound`), which say nothing about the protocol.
    pub fn is_bug(&self) -> bool {
        // `memory_bound` is `FailureClass::MemoryBound`'s name.
        self.class != "inconclusive" && self.class != "memory_bound"
    }
}

/// Failures of one kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The check (or `inconclusive`, `aborted`).
    pub check: String,
    /// Its class.
    pub class: String,
    /// How many seeds.
    pub count: u64,
    /// The smallest failing seed: the one to replay first.
    pub smallest_seed: u64,
}

/// A sweep's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// The seeds asked for.
    pub seeds: SeedSet,
    /// How many ran (fewer than asked only when a failure limit stopped the sweep).
    pub run: u64,
    /// With a failure limit reached: every seed of the set up to this one ran, none after.
    pub stopped_after: Option<u64>,
    /// Seeds that passed.
    pub passed: u64,
    /// Every seed that did not pass, in seed order.
    pub failures: Vec<SeedFailure>,
    /// The failures by group, most frequent first (ties: smallest seed first).
    pub groups: Vec<Group>,
    /// Each seed's recovery figures, in seed order (docs/metrics.md, "Recovery").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovery_by_seed: Vec<SeedRecovery>,
    /// The seeds' recovery figures folded: median of medians, maximum of maxima, the
    /// overall rate.
    #[serde(default)]
    pub recovery: RecoveryAggregate,
}

/// One seed's recovery figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedRecovery {
    /// The seed.
    pub seed: u64,
    /// Its figures (without the declaration, which is the sweep's).
    #[serde(flatten)]
    pub figures: RecoveryReport,
}

impl SweepReport {
    /// Whether every seed that ran passed.
    pub fn all_passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Whether some seed found something wrong with the protocol (see
    /// [`SeedFailure::is_bug`]).
    pub fn any_bug(&self) -> bool {
        self.failures.iter().any(SeedFailure::is_bug)
    }
}

/// Groups failures by (check, class).
pub fn group(failures: &[SeedFailure]) -> Vec<Group> {
    let mut by: BTreeMap<(String, String), Group> = BTreeMap::new();
    for f in failures {
        let g = by
            .entry((f.check.clone(), f.class.clone()))
            .or_insert_with(|| Group {
                check: f.check.clone(),
                class: f.class.clone(),
                count: 0,
                smallest_seed: f.seed,
            });
        g.count += 1;
        g.smallest_seed = g.smallest_seed.min(f.seed);
    }
    let mut groups: Vec<Group> = by.into_values().collect();
    groups.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.smallest_seed.cmp(&b.smallest_seed))
    });
    groups
}

pub(super) fn failure_of(seed: u64, verdict: &Verdict) -> Option<SeedFailure> {
    match verdict {
        Verdict::Pass => None,
        Verdict::Fail(f) => Some(SeedFailure {
            seed,
            check: f.check.clone(),
            class: f.class.name().to_string(),
            message: f.message.clone(),
            step: Some(f.step),
            time_us: Some(f.time.as_us()),
        }),
        Verdict::Inconclusive { reason } => Some(SeedFailure {
            seed,
            check: "inconclusive".into(),
            class: "inconclusive".into(),
            message: reason.clone(),
            step: None,
            time_us: None,
        }),
        Verdict::Aborted { reason } => Some(SeedFailure {
            seed,
            check: "aborted".into(),
            class: "aborted".into(),
            message: reason.clone(),
            step: None,
            time_us: None,
        }),
    }
}

/// Progress as the sweep goes: seeds finished so far and failures among them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Seeds finished.
    pub done: u64,
    /// Of those, not passed.
    pub failed: u64,
    /// Seeds in the set.
    pub total: u64,
}

/// Runs the scenario under every seed of `seeds` on `jobs` threads (through the seed
/// [`pool`]); stops handing out seeds once `max_failures` seeds have failed (if
/// given; inconclusive and memory-bound seeds are reported but do not count). `progress` is called from the calling thread as seeds finish; `on_failure` for each
/// failing seed as it is found (in the order found, which with several jobs is not seed
/// order).
pub fn sweep<P: Protocol>(
    scn: &Scenario<P>,
    seeds: SeedSet,
    jobs: usize,
    max_failures: Option<u64>,
    progress: &mut dyn FnMut(Progress),
    on_failure: &mut dyn FnMut(&SeedFailure),
) -> SweepReport {
    let list: Vec<u64> = seeds.seeds().collect();
    let mut p = Progress {
        total: list.len() as u64,
        ..Progress::default()
    };
    type Outcome = (Option<SeedFailure>, Option<SeedRecovery>);
    let job = |seed: u64| -> Outcome {
        match scn.run(seed, None) {
            Ok(report) => {
                let recovery = report.recovery.map(|mut figures| {
                    figures.serves = String::new();
                    SeedRecovery { seed, figures }
                });
                (failure_of(seed, &report.verdict), recovery)
            }
            Err(e) => (
                Some(SeedFailure {
                    seed,
                    check: "bad_input".into(),
                    class: "aborted".into(),
                    message: e.to_string(),
                    step: None,
                    time_us: None,
                }),
                None,
            ),
        }
    };
    let ran = pool::run(
        &list,
        jobs,
        max_failures,
        job,
        |o: &Outcome| o.0.as_ref().is_some_and(SeedFailure::is_bug),
        &mut |_, outcome: &Outcome| {
            p.done += 1;
            if let Some(f) = &outcome.0 {
                p.failed += 1;
                on_failure(f);
            }
            progress(p);
        },
    );
    let run = ran.results.len() as u64;
    let (failures, recovery_by_seed): (Vec<_>, Vec<_>) = ran.results.into_iter().unzip();
    let failures: Vec<SeedFailure> = failures.into_iter().flatten().collect();
    let recovery_by_seed: Vec<SeedRecovery> = recovery_by_seed.into_iter().flatten().collect();
    SweepReport {
        seeds,
        run,
        stopped_after: ran.stopped_after,
        passed: run - failures.len() as u64,
        groups: group(&failures),
        failures,
        recovery: RecoveryAggregate::of(recovery_by_seed.iter().map(|s| &s.figures)),
        recovery_by_seed,
    }
}

/// Merges the reports of the shards of one sweep; `Err` says why they cannot be merged.
pub fn merge(reports: &[SweepReport]) -> Result<SweepReport, String> {
    let first = reports.first().ok_or("nothing to merge")?;
    let (from, to, n) = (first.seeds.from, first.seeds.to, first.seeds.shard.1);
    let mut shards = std::collections::BTreeSet::new();
    for (i, r) in reports.iter().enumerate() {
        if (r.seeds.from, r.seeds.to) != (from, to) {
            return Err(format!(
                "report {} covers seeds {}..{}, the first covers {from}..{to}",
                i + 1,
                r.seeds.from,
                r.seeds.to
            ));
        }
        if r.seeds.shard.1 != n {
            return Err(format!(
                "report {} is shard {}/{}, the first is one of {n}",
                i + 1,
                r.seeds.shard.0,
                r.seeds.shard.1
            ));
        }
        let k = r.seeds.shard.0;
        if k >= n {
            return Err(format!("report {} names shard {k} of {n}", i + 1));
        }
        if let Some(s) = r.stopped_after {
            return Err(format!(
                "report {} stopped after seed {s} (--max-failures): it does not cover its shard",
                i + 1
            ));
        }
        if r.run != r.seeds.len() {
            return Err(format!(
                "report {} ran {} of its {} seeds",
                i + 1,
                r.run,
                r.seeds.len()
            ));
        }
        if !shards.insert(k) {
            return Err(format!("shard {k}/{n} appears twice"));
        }
    }
    // With every k below n and none twice, the first gap (if any) is at most reports.len().
    if let Some(k) = (0..n).find(|k| !shards.contains(k)) {
        return Err(format!("shard {k}/{n} is missing"));
    }
    let mut failures: Vec<SeedFailure> = reports
        .iter()
        .flat_map(|r| r.failures.iter().cloned())
        .collect();
    failures.sort_by_key(|f| f.seed);
    let mut recovery_by_seed: Vec<SeedRecovery> = reports
        .iter()
        .flat_map(|r| r.recovery_by_seed.iter().cloned())
        .collect();
    recovery_by_seed.sort_by_key(|s| s.seed);
    let run: u64 = reports.iter().map(|r| r.run).sum();
    Ok(SweepReport {
        seeds: SeedSet {
            from,
            to,
            shard: (0, 1),
        },
        run,
        stopped_after: None,
        passed: run - failures.len() as u64,
        groups: group(&failures),
        failures,
        recovery: RecoveryAggregate::of(recovery_by_seed.iter().map(|s| &s.figures)),
        recovery_by_seed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_set_counts_its_seeds_without_listing_them() {
        for (from, to) in [(1, 1), (1, 100), (7, 93), (0, 0), (5, 6)] {
            for n in 1..6 {
                for k in 0..n {
                    let s = SeedSet {
                        from,
                        to,
                        shard: (k, n),
                    };
                    assert_eq!(s.len(), s.seeds().count() as u64, "{s:?}");
                }
            }
        }
        assert!(parse_range("1..200000000").is_err());
        let bad = SweepReport {
            seeds: SeedSet {
                from: 1,
                to: 9,
                shard: (5, 3),
            },
            run: 1,
            stopped_after: None,
            passed: 1,
            failures: Vec::new(),
            groups: Vec::new(),
            recovery_by_seed: Vec::new(),
            recovery: RecoveryAggregate::default(),
        };
        let e = merge(&[bad]).unwrap_err();
        assert!(e.contains("names shard 5 of 3"), "{e}");
        assert_eq!(parse_range("3..=9"), Ok((3, 9)));
    }
}
