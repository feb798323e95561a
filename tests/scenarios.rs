//! Every bundled scenario ends the way its description says: the teaching scenarios pass,
//! and each bug-switch scenario fails on the check it names, and passes with its switch off.

mod common;

use faultline::check::FailureClass;
use faultline::scenario::{bundled, bundled_names, load};
use faultline::sim::{RunReport, Verdict};

fn run(name: &str, overrides: &[&str]) -> RunReport {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let scn = load(name, bundled(name).unwrap(), &overrides).unwrap();
    scn.run(scn.file.seed, None).unwrap()
}

/// Bug scenarios: (name, the switch, the check that must catch it, safety or liveness).
const BUGS: &[(&str, &str, &str, FailureClass)] = &[
    (
        "ping/bug-skip-boot-sync",
        "protocol.params.bugs.skip_boot_sync",
        "pong_matches_ping",
        FailureClass::Safety,
    ),
    (
        "fd/bug-short-timeout",
        "protocol.params.bugs.short_timeout",
        "accuracy",
        FailureClass::Safety,
    ),
    (
        "fd/bug-never-trust",
        "protocol.params.bugs.never_trust_again",
        "accuracy",
        FailureClass::Liveness,
    ),
    (
        "fd/bug-dedup-seq-only",
        "protocol.params.bugs.dedup_seq_only",
        "fifo",
        FailureClass::Safety,
    ),
];

#[test]
fn teaching_scenarios_pass() {
    // Regression cases carry their own expected outcome (tests/regressions.rs).
    for name in bundled_names()
        .into_iter()
        .filter(|n| !n.contains("/bug-") && !n.starts_with("regressions/"))
    {
        let r = run(name, &[]);
        assert_eq!(r.verdict, Verdict::Pass, "{name}");
    }
}

#[test]
fn every_bug_switch_is_caught_by_its_check_and_only_with_the_switch_on() {
    let listed: Vec<&str> = BUGS.iter().map(|b| b.0).collect();
    for name in bundled_names().into_iter().filter(|n| n.contains("/bug-")) {
        assert!(
            listed.contains(&name),
            "{name} is a bug scenario with no expected check in BUGS"
        );
    }
    for &(name, switch, check, class) in BUGS {
        let r = run(name, &[]);
        let Verdict::Fail(f) = &r.verdict else {
            panic!("{name} must fail, got {:?}", r.verdict)
        };
        assert_eq!(
            (f.check.as_str(), f.class),
            (check, class),
            "{name}: {}",
            f.message
        );
        let off = format!("{switch}=false");
        let r = run(name, &[&off]);
        assert_eq!(r.verdict, Verdict::Pass, "{name} with the switch off");
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
