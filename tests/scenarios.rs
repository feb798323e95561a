//! Every bundled scenario ends the way its file says: a scenario with an `outcome` ends as
//! that says, every other one passes. A bug-switch scenario (`*/bug-*`) must say in its
//! `outcome` which check catches it, and passes with its switches off; no table here lists
//! them, so adding one is adding its file.

mod common;

use faultline::protocols::AnyScenario;
use faultline::scenario::{Document, ExpectedOutcome, bundled_names};
use faultline::sim::{RunReport, Verdict};

fn run(name: &str, overrides: &[&str]) -> RunReport {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let scn = AnyScenario::bundled(name, &overrides).unwrap();
    scn.run(scn.file.seed, None).unwrap()
}

/// The bug switches a scenario turns on: the keys of `protocol.params.bugs` set to true.
fn switches_on(doc: &Document) -> Vec<String> {
    doc.file.protocol.params["bugs"]
        .as_object()
        .map(|bugs| {
            bugs.iter()
                .filter(|(_, on)| on.as_bool() == Some(true))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn bug_scenarios() -> Vec<&'static str> {
    bundled_names()
        .into_iter()
        .filter(|n| n.contains("/bug-"))
        .collect()
}

#[test]
fn every_bundled_scenario_ends_as_its_file_says() {
    // Regression cases carry their own expected outcome too; tests/regressions.rs runs them.
    for name in bundled_names()
        .into_iter()
        .filter(|n| !n.starts_with("regressions/"))
    {
        let scn = AnyScenario::bundled(name, &[]).unwrap();
        let outcome = match &scn.file.outcome {
            Some(o) => o.clone(),
            None if name.contains("/bug-") => panic!(
                "{name} is a bug scenario without an `outcome`: say which check must catch it, as {{\"fails\": CHECK}}"
            ),
            None => ExpectedOutcome::Passes,
        };
        let r = scn.run(scn.file.seed, None).unwrap();
        if let Err(why) = outcome.judge(&r.verdict) {
            panic!("{name}: {why}");
        }
    }
}

#[test]
fn every_bug_switch_is_caught_only_with_the_switch_on() {
    let bugs = bug_scenarios();
    assert!(bugs.len() >= 4, "{bugs:?}");
    for name in bugs {
        let scn = AnyScenario::bundled(name, &[]).unwrap();
        assert!(
            matches!(scn.file.outcome, Some(ExpectedOutcome::Fails(_))),
            "{name}: a bug scenario must name the check that fails, not {:?}",
            scn.file.outcome
        );
        let switches = switches_on(&scn);
        assert!(!switches.is_empty(), "{name} turns no bug switch on");
        let off: Vec<String> = switches
            .iter()
            .map(|s| format!("protocol.params.bugs.{s}=false"))
            .collect();
        let fixed = AnyScenario::bundled(name, &off).unwrap();
        let r = fixed.run(fixed.file.seed, None).unwrap();
        assert_eq!(r.verdict, Verdict::Pass, "{name} with {off:?}");
    }
}

#[test]
fn fd_metrics_measure_what_happened() {
    let r = run("fd/crash-restart", &[]);
    let m = &r.metrics;
    for d in ["fixed", "phi"] {
        let det = &m[&format!("{d}.detection")];
        assert_eq!(
            det["count"], 4,
            "{d}: each of the four live nodes detected the crash: {det}"
        );
        let median = det["median_ms"].as_f64().unwrap();
        assert!((100.0..1000.0).contains(&median), "{d}: {median}");
        assert_eq!(m[&format!("{d}.false_suspicions")], 0);
        assert_eq!(m[&format!("{d}.crashes_missed")], 0);
    }
    // The fixed detector suspects after its 300 ms timeout, checked every 10 ms.
    let fixed = m["fixed.detection"]["min_ms"].as_f64().unwrap();
    assert!((300.0..=320.0).contains(&fixed), "{fixed}");
    assert!(
        m["retransmissions"].as_u64().unwrap() > 0,
        "messages to the crashed node were retransmitted"
    );
    assert_eq!(m["recovery_rate"], 1.0);

    let r = run("fd/jitter-fixed-vs-phi", &[]);
    let (fixed, phi) = (
        r.metrics["fixed.false_suspicions"].as_u64().unwrap(),
        r.metrics["phi.false_suspicions"].as_u64().unwrap(),
    );
    assert!(
        fixed >= 10 && phi == 0,
        "jitter fools the fixed timeout ({fixed}) and not phi ({phi})"
    );

    let r = run("fd/partition-heal", &[]);
    assert!(
        r.metrics["fixed.false_suspicions"].as_u64().unwrap() >= 12,
        "each side suspects the other: 2x3x2 pairs"
    );
    assert_eq!(
        r.metrics["phi.false_suspicions_open_at_end"], 0,
        "all withdrawn after the heal"
    );
}

#[test]
fn judging_the_fixed_detector_under_jitter_fails_accuracy() {
    // With the fixed timeout as the judged detector, accuracy fails under jitter: the
    // scenario's own suggestion, checked.
    let r = run(
        "fd/jitter-fixed-vs-phi",
        &["protocol.params.detector=fixed"],
    );
    let Verdict::Fail(f) = r.verdict else {
        panic!("the fixed detector is fooled by jitter")
    };
    assert_eq!(f.check, "accuracy");
}
