//! Coverage and the feedback sweep: seeds steered towards protocol states not yet reached.
//!
//! Coverage is over an abstraction from the protocol's vocabulary ([`crate::sim::Coverage`]:
//! roles and role changes per node, epoch changes and progress steps per node in powers of
//! two, roles held after the heal) plus each sometimes-check that held. A plain sweep can
//! report the coverage it reached ([`covered_sweep`] with `feedback` off). With feedback on,
//! the sweep keeps a corpus of the inputs whose runs reached a feature no earlier run had,
//! and makes about half of its inputs by mutating a corpus entry:
//!
//! - an input is a seed and a set of knobs, each knob a `--set` override: the delivery order
//!   (`network.order`) and each protocol parameter the scenario's swarm varies (its own
//!   lists, and with `"knobs": true` the protocol's declared knobs: a listed value, or a
//!   range's ends and middle), pinned to one of its values (`nemesis.swarm.params.NAME=[V]`);
//! - a mutation either keeps the seed (so the same faults at the same times) and changes one
//!   knob, or keeps the knobs and takes the next fresh seed.
//!
//! Inputs are made in batches of [`BATCH`] from the corpus as it stood before the batch, with
//! the `Feedback` stream of the sweep's own seed; each batch runs on the seed pool and the
//! corpus is updated in input order. So the inputs, the results and the coverage depend only
//! on the sweep's seed and range, never on the number of threads. No files, no clock, no
//! output here.

use super::pool;
use super::sweep::{SeedFailure, SeedSet, group};
use crate::base::rng::{Rng, Stream};
use crate::protocol::{KnobValues, Protocol};
use crate::scenario::{InputError, Scenario};
use crate::sim::Verdict;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Inputs made and run together, from one state of the corpus.
pub const BATCH: usize = 50;

/// The values of `network.order` a mutation picks from.
pub const ORDERS: &[&str] = &[
    "random",
    "oldest",
    "newest",
    r#"{"pct":{"depth":1}}"#,
    r#"{"pct":{"depth":2}}"#,
    r#"{"pct":{"depth":3}}"#,
];

/// One knob a mutation may turn: a `--set` key and the values it may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Knob {
    /// The `--set` key.
    pub key: String,
    /// Its values, as `--set` reads them.
    pub values: Vec<String>,
}

/// The knobs of a scenario: the delivery order, and each parameter its swarm varies.
pub fn knobs<P: Protocol>(scn: &Scenario<P>) -> Vec<Knob> {
    let mut k = vec![Knob {
        key: "network.order".into(),
        values: ORDERS.iter().map(|s| s.to_string()).collect(),
    }];
    let swarm = &scn.json["nemesis"]["swarm"];
    let listed = swarm["params"].as_object();
    if let Some(params) = listed {
        for (name, values) in params {
            let Some(values) = values.as_array() else {
                continue;
            };
            k.push(Knob {
                key: format!("nemesis.swarm.params.{name}"),
                values: values.iter().map(|v| format!("[{v}]")).collect(),
            });
        }
    }
    // With `"knobs": true` the swarm also draws every parameter the protocol declares safe to
    // vary (a list the scenario gives wins, as in the swarm): each is a knob here too, pinned
    // to a listed value, or to the ends and the middle of a range.
    if swarm["knobs"] == serde_json::Value::Bool(true) {
        for knob in P::knobs() {
            if listed.is_some_and(|l| l.contains_key(knob.param)) {
                continue;
            }
            let values: Vec<serde_json::Value> = match &knob.values {
                KnobValues::OneOf(v) => v
                    .iter()
                    .enumerate()
                    .filter(|(i, x)| !v[..*i].contains(x))
                    .map(|(_, x)| x.clone())
                    .collect(),
                KnobValues::Between(lo, hi) => {
                    let mut v = vec![*lo, lo + (hi - lo) / 2, *hi];
                    v.dedup();
                    v.into_iter().map(serde_json::Value::from).collect()
                }
            };
            k.push(Knob {
                key: format!("nemesis.swarm.params.{}", knob.param),
                values: values.iter().map(|v| format!("[{v}]")).collect(),
            });
        }
    }
    k
}

/// One input: a seed, and the knobs set for it (`--set` overrides, in knob order).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Input {
    /// The seed.
    pub seed: u64,
    /// `KEY=VALUE` overrides; empty for a fresh seed.
    pub set: Vec<String>,
}

/// A corpus entry: an input that reached new features, and how many.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The input.
    pub input: Input,
    /// Features it reached first.
    pub new_features: usize,
}

/// What a covered sweep found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageReport {
    /// Whether the feedback loop made inputs (or every input was a fresh seed).
    pub feedback: bool,
    /// Runs made.
    pub runs: u64,
    /// Runs that passed.
    pub passed: u64,
    /// Every feature reached, sorted.
    pub features: Vec<String>,
    /// Features reached after each batch (the growth curve).
    pub curve: Vec<usize>,
    /// Runs per delivery order followed (what `swarm` drew, or what a knob set).
    pub orders: BTreeMap<String, u64>,
    /// The corpus: inputs that reached new features, in the order found.
    pub corpus: Vec<Entry>,
    /// Every input that did not pass, in run order, with the overrides that reproduce it.
    pub failures: Vec<(Input, SeedFailure)>,
    /// The failures by group.
    pub groups: Vec<super::sweep::Group>,
}

/// Runs `seeds.len()` inputs of `scn`: with `feedback` off, the seeds of `seeds` in order;
/// with it on, fresh seeds from `seeds` in order and mutations of the corpus, drawn with the
/// `Feedback` stream of `sweep_seed`. Stops after the batch in which `max_failures` inputs
/// failed, if given.
pub fn covered_sweep<P: Protocol>(
    scn: &Scenario<P>,
    seeds: SeedSet,
    feedback: bool,
    sweep_seed: u64,
    jobs: usize,
    max_failures: Option<u64>,
    progress: &mut dyn FnMut(u64, usize),
) -> Result<CoverageReport, InputError> {
    let knobs = knobs(scn);
    let budget = seeds.len();
    let mut fresh = seeds.seeds();
    let mut rng = Rng::new(sweep_seed, Stream::Feedback);
    let mut tried: BTreeSet<Input> = BTreeSet::new();
    let mut variants: BTreeMap<Vec<String>, Scenario<P>> = BTreeMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut report = CoverageReport {
        feedback,
        runs: 0,
        passed: 0,
        features: Vec::new(),
        curve: Vec::new(),
        orders: BTreeMap::new(),
        corpus: Vec::new(),
        failures: Vec::new(),
        groups: Vec::new(),
    };
    let mut failed = 0u64;
    while report.runs < budget && max_failures.is_none_or(|m| failed < m) {
        // Make a batch from the corpus as it stands.
        let want = (budget - report.runs).min(BATCH as u64) as usize;
        let mut batch: Vec<Input> = Vec::with_capacity(want);
        let mut attempts = 0;
        while batch.len() < want && attempts < 20 * BATCH {
            attempts += 1;
            let input = if !feedback || report.corpus.is_empty() || rng.below(2) == 0 {
                match fresh.next() {
                    Some(seed) => Input {
                        seed,
                        set: Vec::new(),
                    },
                    None => continue,
                }
            } else {
                let parent = &report.corpus[rng.index(report.corpus.len())].input;
                mutate(parent, &knobs, &mut rng, &mut fresh)
            };
            if tried.insert(input.clone()) {
                batch.push(input);
            }
        }
        if batch.is_empty() {
            break;
        }
        for input in &batch {
            if !variants.contains_key(&input.set) {
                variants.insert(input.set.clone(), scn.with(&input.set)?);
            }
        }
        let ids: Vec<u64> = (0..batch.len() as u64).collect();
        let job = |i: u64| {
            let input = &batch[i as usize];
            variants[&input.set].run_covered(input.seed)
        };
        let ran = pool::run(&ids, jobs, None, job, |_| false, &mut |_, _| {});
        for (input, outcome) in batch.iter().zip(ran.results) {
            let (r, features, order) = outcome?;
            report.runs += 1;
            *report.orders.entry(order.name()).or_default() += 1;
            let new: Vec<String> = features.into_iter().filter(|f| !seen.contains(f)).collect();
            if !new.is_empty() {
                report.corpus.push(Entry {
                    input: input.clone(),
                    new_features: new.len(),
                });
                seen.extend(new);
            }
            match failure_of(input.seed, &r.verdict) {
                None => report.passed += 1,
                Some(f) => {
                    if f.is_bug() {
                        failed += 1;
                    }
                    report.failures.push((input.clone(), f));
                }
            }
        }
        report.curve.push(seen.len());
        progress(report.runs, seen.len());
    }
    report.features = seen.into_iter().collect();
    let fails: Vec<SeedFailure> = report.failures.iter().map(|(_, f)| f.clone()).collect();
    report.groups = group(&fails);
    Ok(report)
}

/// A new input near `parent`: the same seed with one knob turned, or the same knobs with the
/// next fresh seed (when the range has seeds left).
fn mutate(
    parent: &Input,
    knobs: &[Knob],
    rng: &mut Rng,
    fresh: &mut dyn Iterator<Item = u64>,
) -> Input {
    let mut set: BTreeMap<String, String> = parent
        .set
        .iter()
        .filter_map(|s| s.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if rng.below(2) == 0 {
        if let Some(seed) = fresh.next() {
            return Input {
                seed,
                set: parent.set.clone(),
            };
        }
    }
    let knob = &knobs[rng.index(knobs.len())];
    let value = &knob.values[rng.index(knob.values.len())];
    set.insert(knob.key.clone(), value.clone());
    // Knob order, so equal sets are equal inputs.
    let ordered = knobs
        .iter()
        .filter_map(|k| set.get(&k.key).map(|v| format!("{}={v}", k.key)))
        .collect();
    Input {
        seed: parent.seed,
        set: ordered,
    }
}

fn failure_of(seed: u64, verdict: &Verdict) -> Option<SeedFailure> {
    super::sweep::failure_of(seed, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::raft::Raft;

    fn seeds(from: u64, to: u64) -> SeedSet {
        SeedSet {
            from,
            to,
            shard: (0, 1),
        }
    }

    #[test]
    fn knobs_come_from_the_order_and_the_swarm_params() {
        let scn = Scenario::<Raft>::bundled("raft/swarm", &[]).unwrap();
        let k = knobs(&scn);
        assert_eq!(k[0].key, "network.order");
        assert!(
            k.iter()
                .any(|k| k.key == "nemesis.swarm.params.batch_max" && k.values.len() >= 2),
            "{k:?}"
        );
        // Every knob value is a valid scenario.
        for knob in &k {
            for v in &knob.values {
                scn.with(&[format!("{}={v}", knob.key)]).unwrap();
            }
        }
    }

    #[test]
    fn a_feedback_sweep_is_the_same_for_any_number_of_jobs_and_keeps_a_corpus() {
        let scn = Scenario::<Raft>::bundled("raft/swarm", &[]).unwrap();
        let one = covered_sweep(&scn, seeds(1, 60), true, 9, 1, None, &mut |_, _| {}).unwrap();
        let two = covered_sweep(&scn, seeds(1, 60), true, 9, 2, None, &mut |_, _| {}).unwrap();
        assert_eq!(one, two);
        assert_eq!(one.runs, 60);
        assert!(!one.corpus.is_empty());
        assert!(
            one.corpus.iter().any(|e| !e.input.set.is_empty()),
            "some input is a mutation"
        );
        assert_eq!(one.curve.len(), 2);
        assert_eq!(*one.curve.last().unwrap(), one.features.len());
        let plain = covered_sweep(&scn, seeds(1, 60), false, 9, 2, None, &mut |_, _| {}).unwrap();
        assert!(plain.corpus.iter().all(|e| e.input.set.is_empty()));
        assert!(
            plain.features.iter().any(|f| f.starts_with("role n")),
            "{:?}",
            plain.features
        );
    }
}
