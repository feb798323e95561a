//! Raft: every bundled scenario holds all invariants and expectations with its own seed and 50
//! others, and each bug switch that has a provoking scenario is caught by the check that
//! guards against it.

use faultline::engine::Verdict;
use faultline::scenario::{bundled, bundled_names, load};

fn verdict(name: &str, seed: Option<u64>, overrides: &[String]) -> Verdict {
    let scn = load(name, bundled(name).unwrap(), overrides).unwrap();
    scn.run(seed.unwrap_or(scn.file.seed), None)
        .unwrap()
        .verdict
}

#[test]
fn every_raft_scenario_passes_with_51_seeds() {
    let names: Vec<&str> = bundled_names()
        .into_iter()
        .filter(|n| n.starts_with("raft/"))
        .collect();
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        assert_eq!(
            verdict(name, None, &[]),
            Verdict::Pass,
            "{name} with its own seed"
        );
        for seed in 1..=50 {
            let v = verdict(name, Some(1000 + seed), &[]);
            assert_eq!(v, Verdict::Pass, "{name} --seed {}", 1000 + seed);
        }
    }
}

/// (bug switch, scenario that provokes it, seeds to search, the check that must catch it)
const CAUGHT: &[(&str, &str, u64, &str)] = &[
    (
        "reply_before_sync",
        "raft/first-election",
        1,
        "committed_never_lost",
    ),
    (
        "truncate_on_match",
        "raft/first-election",
        5,
        "committed_never_lost",
    ),
    (
        "skip_up_to_date_check",
        "raft/unreliable-churn",
        50,
        "leader_completeness",
    ),
    (
        "count_duplicate_votes",
        "raft/unreliable-churn",
        200,
        "committed_never_lost",
    ),
];

#[test]
fn bug_switches_are_caught_by_their_checks() {
    for &(bug, scenario, seeds, check) in CAUGHT {
        let on = vec![format!("protocol.params.bugs.{bug}=true")];
        let caught = (1..=seeds).find_map(|seed| match verdict(scenario, Some(seed), &on) {
            Verdict::Fail(f) => Some((seed, f)),
            _ => None,
        });
        let Some((seed, f)) = caught else {
            panic!("{bug}: no seed in 1..={seeds} of {scenario} caught it")
        };
        assert_eq!(
            f.check, check,
            "{bug} on {scenario} --seed {seed}: {}",
            f.message
        );
        // The same seed passes with the switch off: the check fires on the bug, not the run.
        assert_eq!(
            verdict(scenario, Some(seed), &[]),
            Verdict::Pass,
            "{bug}: seed {seed} without the bug"
        );
    }
}
