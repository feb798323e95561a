//! Regression cases: every scenario under scenarios/regressions/ must end the way its
//! `outcome` says. A case that should fail a check and now passes has gone vacuous (the engine,
//! the protocol or its randomness moved under it), and this test says so.

mod common;

use common::switches_off;
use faultline::protocols::AnyScenario;
use faultline::scenario::{ExpectedOutcome, bundled, bundled_names};
use faultline::sim::install_panic_capture;

fn cases() -> Vec<&'static str> {
    bundled_names()
        .into_iter()
        .filter(|n| n.starts_with("regressions/"))
        .collect()
}

#[test]
fn every_regression_case_ends_as_it_must() {
    install_panic_capture();
    let names = cases();
    assert!(names.len() >= 7, "regression cases: {names:?}");
    let mut wrong = Vec::new();
    for name in &names {
        let scn = AnyScenario::bundled(name, &[]).unwrap();
        let outcome = scn
            .file
            .outcome
            .clone()
            .unwrap_or_else(|| panic!("{name}: a regression case needs an `outcome`"));
        let report = scn.run(scn.file.seed, None).unwrap();
        if let Err(why) = outcome.judge(&report.verdict) {
            wrong.push(format!(
                "{name}: {why}\n  replay: faultline run scenarios/{name}.json"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A case that must fail does not fail with its bug switches off: the check fires on the
/// bug, not on the run. (A shrunk case may be too short to decide its liveness checks with
/// the switch off; inconclusive is fine, a failure is not.)
#[test]
fn a_failing_case_does_not_fail_with_its_switches_off() {
    install_panic_capture();
    let mut checked = 0;
    for name in cases() {
        let scn = AnyScenario::bundled(name, &[]).unwrap();
        if !matches!(scn.file.outcome, Some(ExpectedOutcome::Fails(_))) {
            continue;
        }
        let off = switches_off(&scn);
        assert!(!off.is_empty(), "{name} fails without a bug switch on");
        let fixed = AnyScenario::bundled(name, &off).unwrap();
        let report = fixed.run(fixed.file.seed, None).unwrap();
        assert!(
            !matches!(report.verdict, faultline::sim::Verdict::Fail(_)),
            "{name} with {off:?}: {:?}",
            report.verdict
        );
        checked += 1;
    }
    assert!(checked >= 6, "{checked} failing cases");
}

#[test]
fn both_kinds_of_case_are_kept() {
    let outcomes: Vec<ExpectedOutcome> = cases()
        .into_iter()
        .filter_map(|n| AnyScenario::bundled(n, &[]).unwrap().file.outcome.clone())
        .collect();
    assert!(outcomes.contains(&ExpectedOutcome::Passes));
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, ExpectedOutcome::Fails(c) if c == "leader_completeness"))
    );
}

#[test]
fn a_failing_case_that_starts_passing_is_reported_as_vacuous() {
    install_panic_capture();
    // The same case with its bug switch off stands for an engine change that made it pass.
    let name = "regressions/raft-skip-up-to-date-check";
    let scn = AnyScenario::bundled(
        name,
        &["protocol.params.bugs.skip_up_to_date_check=false".into()],
    )
    .unwrap();
    let report = scn.run(scn.file.seed, None).unwrap();
    let why = scn
        .file
        .outcome
        .as_ref()
        .unwrap()
        .judge(&report.verdict)
        .unwrap_err();
    assert!(why.contains("gone vacuous"), "{why}");
    // And a fixed bug that comes back is named.
    let name = "regressions/raft-duplicate-votes-counted-once";
    let scn = AnyScenario::bundled(
        name,
        &["protocol.params.bugs.count_duplicate_votes=true".into()],
    )
    .unwrap();
    let report = scn.run(scn.file.seed, None).unwrap();
    let why = ExpectedOutcome::Passes.judge(&report.verdict).unwrap_err();
    assert!(why.contains("leader_completeness failed"), "{why}");
}

#[test]
fn outcome_names_a_real_check() {
    let text = bundled("regressions/raft-reply-before-sync")
        .unwrap()
        .replace("committed_never_lost", "committed_nevr_lost");
    let e = AnyScenario::load("x.json", &text, &[]).err().unwrap();
    assert_eq!(e.field.as_deref(), Some("outcome.fails"), "{e}");
}
