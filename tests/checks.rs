//! The protocols' checks on the check library, end to end: Raft's replicas converge after the
//! heal in every Raft scenario and fail to when a lagging node has no time to catch up;
//! metrics are reported but are not checks; the new counter checks are on in every Raft run.

use faultline::base::types::Time;
use faultline::check::{Checks, ExpectKind, Expectation};
use faultline::protocols::{fd::Fd, raft::Raft};
use faultline::scenario::{ExpectedOutcome, Scenario, bundled_names};
use faultline::sim::{Simulation, Verdict};

fn eventually(check: &str, budget: Option<Time>) -> Expectation {
    Expectation {
        check: check.to_string(),
        kind: ExpectKind::Eventually {
            budget,
            stays: false,
        },
        at_least: None,
    }
}

/// Runs a bundled Raft scenario with its own seed and one more expectation.
fn raft_with(name: &str, extra: Expectation) -> faultline::sim::RunReport {
    let scn = Scenario::<Raft>::bundled(name, &[]).unwrap();
    let mut config = scn.config(scn.file.seed).unwrap();
    config.expectations.push(extra);
    Simulation::new(config, None).unwrap().run()
}

#[test]
fn raft_replicas_converge_after_the_heal_in_every_raft_scenario() {
    // A scenario that says it fails (a bug switch on, caught) is left out: its run must not pass.
    let names: Vec<&str> = bundled_names()
        .into_iter()
        .filter(|n| n.starts_with("raft/"))
        .filter(|n| {
            let scn = Scenario::<Raft>::bundled(n, &[]).unwrap();
            !matches!(scn.file.outcome, Some(ExpectedOutcome::Fails(_)))
        })
        .collect();
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        let r = raft_with(name, eventually("replicas_converge", None));
        assert_eq!(r.verdict, Verdict::Pass, "{name}");
        let c = r
            .checks
            .iter()
            .find(|c| c.check == "replicas_converge")
            .unwrap();
        assert!(c.status.starts_with("held at "), "{name}: {}", c.status);
    }
}

#[test]
fn raft_replicas_do_not_converge_when_a_lagging_node_has_no_time_to_catch_up() {
    // n5 is cut off from 0.5 s to 4 s while clients write: at the heal it is hundreds of
    // entries behind, and 1 ms is not enough to catch up (nor for the others to apply what
    // the leader has).
    let r = raft_with(
        "raft/follower-behind",
        eventually("replicas_converge", Some(Time::from_ms(1))),
    );
    let Verdict::Fail(f) = &r.verdict else {
        panic!("{:?}", r.verdict)
    };
    assert_eq!(f.check, "replicas_converge");
    assert!(
        f.message
            .starts_with("did not hold within the liveness budget (by 4.001000s): n1 and n"),
        "{}",
        f.message
    );
    assert!(
        f.message
            .contains(" differ in their applied key-value maps: key \"k"),
        "{}",
        f.message
    );
}

#[test]
fn the_counter_checks_are_on_in_every_raft_run_and_metrics_are_not_checks() {
    let scn = Scenario::<Raft>::bundled("raft/first-election", &[]).unwrap();
    let r = scn.run(scn.file.seed, None).unwrap();
    let checks: Vec<&str> = r.checks.iter().map(|c| c.check.as_str()).collect();
    for name in [
        "term_monotonic",
        "commit_index_monotonic",
        "applied_index_monotonic",
    ] {
        assert!(checks.contains(&name), "{name} in {checks:?}");
    }
    assert!(!checks.contains(&"raft_metrics"), "{checks:?}");
    assert!(r.metrics["raft.terms"].as_u64().unwrap() >= 1);
    // A metric cannot be expected: it is not a check.
    let Err(e) = Checks::<Raft>::new(&Default::default(), &[eventually("raft_metrics", None)])
    else {
        panic!("raft_metrics accepted as a check")
    };
    assert!(e.contains("no check named \"raft_metrics\""), "{e}");
    let Err(e) = Checks::<Fd>::new(&Default::default(), &[eventually("fd_metrics", None)]) else {
        panic!("fd_metrics accepted as a check")
    };
    assert!(e.contains("no check named \"fd_metrics\""), "{e}");
}
