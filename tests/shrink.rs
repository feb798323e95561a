//! `faultline shrink`: a failing swarm seed becomes a small explicit scenario that fails the
//! same check, deterministically.

mod common;

use common::{cli, temp_dir};

#[test]
fn a_failing_swarm_seed_shrinks_to_a_small_scenario_that_fails_the_same_check() {
    let dir = temp_dir("shrink");
    let out = dir.join("small.json");
    let o = out.to_str().unwrap();
    let set = "protocol.params.bugs.skip_up_to_date_check=true";
    let (code, text, err) = cli(&["shrink", "raft/swarm", "--seed", "3", "--set", set, "-o", o]);
    assert_eq!(code, 0, "{text}{err}");
    let sizes = |label: &str| -> Vec<u64> {
        let line = text.lines().find(|l| l.starts_with(label)).unwrap();
        line.split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect()
    };
    let (before, after) = (sizes("before"), sizes("after"));
    assert_eq!(before.len(), 5, "{text}");
    for (b, a) in before.iter().zip(&after) {
        assert!(a <= b, "nothing grows: {text}");
    }
    assert!(after[0] <= 3 && after[4] < before[4], "{text}");
    assert!(text.contains("still fails leader_completeness"), "{text}");
    // The file stands alone: no random faults left, the check in its outcome, and it fails.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(json["nemesis"]["swarm"].is_null() && json["nemesis"]["crash"].is_null());
    assert_eq!(json["outcome"]["fails"], "leader_completeness");
    let (code, run, _) = cli(&["run", o, "-q"]);
    assert_eq!(code, 1, "{run}");
    assert!(run.contains("check leader_completeness"), "{run}");
    assert!(run.contains("as the scenario expects"), "{run}");
    // Shrinking is deterministic.
    let out2 = dir.join("again.json");
    let (code, text2, _) = cli(&[
        "shrink",
        "raft/swarm",
        "--seed",
        "3",
        "--set",
        set,
        "-o",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(&out2).unwrap()
    );
    assert_eq!(
        text.lines()
            .filter(|l| !l.starts_with("wrote") && !l.starts_with("reproduce"))
            .collect::<Vec<_>>(),
        text2
            .lines()
            .filter(|l| !l.starts_with("wrote") && !l.starts_with("reproduce"))
            .collect::<Vec<_>>()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn random_faults_are_written_out_at_their_exact_microsecond() {
    // Seed 37 fails through random faults and strikes; the shrunk file must hold them as
    // explicit entries (sub-millisecond times and `on` entries included) and still fail.
    let dir = temp_dir("shrink-explicit");
    let out = dir.join("s.json");
    let o = out.to_str().unwrap();
    let set = "protocol.params.bugs.count_duplicate_votes=true";
    let (code, text, err) = cli(&[
        "shrink",
        "raft/swarm",
        "--seed",
        "37",
        "--set",
        set,
        "-o",
        o,
    ]);
    assert_eq!(code, 0, "{text}{err}");
    let (code, run, _) = cli(&["run", o, "-q"]);
    assert_eq!(code, 1, "{run}");
    assert!(run.contains("check leader_completeness"), "{run}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn shrink_refuses_what_it_cannot_do() {
    // An output path that cannot be written is refused before anything runs.
    let (code, _, err) = cli(&["shrink", "ping/basic", "-o", "/nonexistent/x.json"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent does not exist"), "{err}");
    // A passing seed: nothing to shrink, bad input, and nothing written.
    let target = std::env::temp_dir().join(format!("faultline-shrink-{}.json", std::process::id()));
    let (code, _, err) = cli(&["shrink", "ping/basic", "-o", target.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not fail"), "{err}");
    assert!(!target.exists(), "a refused shrink writes nothing");
    // A regression name that is not a plain word is refused before anything runs.
    let (code, _, err) = cli(&["shrink", "raft/swarm", "--save-regression", "../evil"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--save-regression"), "{err}");
}

#[test]
fn shrinking_drops_nodes_when_the_failure_does_not_need_them() {
    // truncate_on_match needs only a leader and one follower: five nodes must not survive.
    let dir = temp_dir("shrink-nodes");
    let out = dir.join("small.json");
    let set = "protocol.params.bugs.truncate_on_match=true";
    let (code, text, err) = cli(&[
        "shrink",
        "raft/swarm",
        "--seed",
        "1",
        "--set",
        set,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{text}{err}");
    assert!(text.contains("nodes 5 -> 4"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(json["nodes"].as_u64().unwrap() <= 3, "{text}");
    let (code, run, _) = cli(&["run", out.to_str().unwrap(), "-q"]);
    assert_eq!(code, 1, "{run}");
    assert!(run.contains("check committed_never_lost"), "{run}");
    let _ = std::fs::remove_dir_all(dir);
}
