//! Seed sweeps: one scenario run under many seeds, spread over threads, with the failures
//! grouped by the check that fired.
//!
//! Every simulation still runs on one thread and depends only on its seed, so a sweep's
//! results do not depend on how many threads ran it: seeds are handed out in increasing
//! order and the results are put back in seed order. With a failure limit, seeds are handed
//! out until the limit is reached and the report covers exactly the seeds up to the last
//! failure counted, all of which ran: the same with one thread or many.
//!
//! Shards pick the seeds whose remainder modulo N is K, so N machines can share a range, and
//! [`merge`] checks that shard reports cover every seed once under one tool version and one
//! scenario. No files, no environment, no output here: the CLI does those.

use crate::scenario::Scenario;
use crate::sim::Verdict;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
    /// Safety, liveness, vacuous, panic, event_budget, inconclusive, aborted.
    pub class: String,
    /// What went wrong.
    pub message: String,
    /// Step and virtual time of the finding, when there is one.
    pub step: Option<u64>,
    /// Microseconds of virtual time.
    pub time_us: Option<u64>,
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl SweepReport {
    /// Whether every seed that ran passed.
    pub fn all_passed(&self) -> bool {
        self.failures.is_empty()
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

fn failure_of(seed: u64, verdict: &Verdict) -> Option<SeedFailure> {
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

/// Runs the scenario under every seed of `seeds` on `jobs` threads; stops handing out seeds
/// once `max_failures` seeds have failed (if given). `progress` is called from the calling
/// thread as seeds finish; `on_failure` for each failing seed as it is found (in the order
/// found, which with several jobs is not seed order).
pub fn sweep(
    scn: &Scenario,
    seeds: SeedSet,
    jobs: usize,
    max_failures: Option<u64>,
    progress: &mut dyn FnMut(Progress),
    on_failure: &mut dyn FnMut(&SeedFailure),
) -> SweepReport {
    let list: Vec<u64> = seeds.seeds().collect();
    let total = list.len() as u64;
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let failed_count = AtomicU64::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Option<SeedFailure>)>();
    let jobs = jobs.max(1).min(list.len().max(1));
    let mut results: Vec<Option<Option<SeedFailure>>> = vec![None; list.len()];
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (list, next, stop, failed_count) = (&list, &next, &stop, &failed_count);
            let local = scn.clone(); // each worker owns its copy

            s.spawn(move || {
                loop {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                    let Some(&seed) = list.get(i) else { break };
                    let outcome = match local.run(seed, None) {
                        Ok(report) => failure_of(seed, &report.verdict),
                        Err(e) => Some(SeedFailure {
                            seed,
                            check: "bad_input".into(),
                            class: "aborted".into(),
                            message: e.to_string(),
                            step: None,
                            time_us: None,
                        }),
                    };
                    if outcome.is_some() {
                        let n = failed_count.fetch_add(1, Ordering::SeqCst) + 1;
                        if max_failures.is_some_and(|m| n >= m) {
                            stop.store(true, Ordering::SeqCst);
                        }
                    }
                    if tx.send((i, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut p = Progress {
            total,
            ..Progress::default()
        };
        for (i, outcome) in rx {
            p.done += 1;
            if let Some(f) = &outcome {
                p.failed += 1;
                on_failure(f);
            }
            results[i] = Some(outcome);
            progress(p);
        }
    });
    // Seeds were handed out in order, so everything before the first seed not run did run.
    // With a failure limit, keep the seeds up to the limit-th failure in seed order: a prefix
    // every thread count produces.
    let ran = results.iter().take_while(|r| r.is_some()).count();
    let mut failures = Vec::new();
    let mut kept = 0usize;
    let mut stopped_after = None;
    for (i, r) in results.iter().take(ran).enumerate() {
        kept = i + 1;
        if let Some(Some(f)) = r {
            failures.push(f.clone());
            if max_failures.is_some_and(|m| failures.len() as u64 >= m) {
                if kept < list.len() {
                    stopped_after = Some(list[i]);
                }
                break;
            }
        }
    }
    let run = kept as u64;
    SweepReport {
        seeds,
        run,
        stopped_after,
        passed: run - failures.len() as u64,
        groups: group(&failures),
        failures,
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
    })
}

/// The bug switches of a protocol: the keys of `bugs` in its default parameters, in order.
pub fn bug_switches(protocol: &str) -> Vec<String> {
    struct Switches;
    impl crate::protocols::ProtocolVisitor for Switches {
        type Output = Vec<String>;
        fn visit<P: crate::protocol::Protocol>(self) -> Vec<String> {
            let params = serde_json::to_value(P::Config::default()).unwrap_or_default();
            params["bugs"]
                .as_object()
                .map(|b| b.keys().cloned().collect())
                .unwrap_or_default()
        }
    }
    crate::protocols::with_protocol(protocol, Switches).unwrap_or_default()
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
        };
        let e = merge(&[bad]).unwrap_err();
        assert!(e.contains("names shard 5 of 3"), "{e}");
        assert_eq!(parse_range("3..=9"), Ok((3, 9)));
    }
}
