//! The exhaustive explorer: the same counts on every run, known bugs found at their minimal
//! depth with a path that `run` replays to the same failure, the correct protocol proved
//! within small bounds, and every strategy agreeing on the size of a bounded space.

use faultline::explore::{self, ExploreSpec, Outcome, Progress, Stop, Strategy};
use faultline::protocols::paxos::Paxos;
use faultline::scenario::Scenario;
use faultline::sim::{Step, Verdict};

fn scenario(name: &str, overrides: &[&str]) -> Scenario<Paxos> {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::<Paxos>::bundled(name, &o).unwrap()
}

fn explore(scn: &Scenario<Paxos>, spec: ExploreSpec) -> Outcome {
    explore::explore(scn, Some(spec), &mut |_: &Progress| None).unwrap()
}

/// The scenario's own `explore` block with changes.
fn spec(scn: &Scenario<Paxos>, f: impl FnOnce(&mut ExploreSpec)) -> ExploreSpec {
    let mut s = scn.file.explore.clone().unwrap();
    f(&mut s);
    s
}

/// One proposer, no crash: small enough to explore whole in a test.
fn one_proposer() -> Scenario<Paxos> {
    scenario("paxos/explore-crash", &["explore.crashes=0"])
}

fn counts(o: &Outcome) -> (u64, u64, u32, u64) {
    (o.states, o.unique, o.depth, o.terminal)
}

#[test]
fn the_correct_protocol_is_proved_within_the_bounds() {
    let scn = one_proposer();
    let o = explore(&scn, spec(&scn, |_| {}));
    assert_eq!(o.stop, Stop::Exhausted, "{o:?}");
    assert!(o.violation.is_none());
    assert_eq!(o.sometimes, vec![("value_chosen".to_string(), true)]);
    assert!(o.proves());
    assert!(o.terminal > 0, "some path ends with everything delivered");
    // Pinned: a change here is a change of what the explorer sees (or of the protocol).
    assert_eq!(counts(&o), (282_791, 59_195, 21, 36));
}

#[test]
fn exploration_is_deterministic_and_strategies_agree() {
    let scn = one_proposer();
    let bfs = explore(&scn, spec(&scn, |s| s.states = 20_000));
    let again = explore(&scn, spec(&scn, |s| s.states = 20_000));
    assert_eq!(counts(&bfs), counts(&again));
    assert_eq!(bfs.stop, Stop::StatesBound);
    // Exhausted, breadth- and depth-first reach the same states.
    let whole = explore(&scn, spec(&scn, |_| {}));
    let dfs = explore(&scn, spec(&scn, |s| s.strategy = Strategy::Depth));
    assert_eq!((dfs.unique, dfs.states), (whole.unique, whole.states));
    // Walks are seeded: the same walks every time.
    let walk = |_: ()| {
        explore(
            &scn,
            spec(&scn, |s| {
                s.strategy = Strategy::Walk;
                s.walks = 200;
            }),
        )
    };
    let (a, b) = (walk(()), walk(()));
    assert_eq!(counts(&a), counts(&b));
    assert_eq!(a.stop, Stop::WalksDone);
    assert!(!a.proves(), "a sample proves nothing");
}

#[test]
fn a_bug_is_found_at_its_minimal_depth_and_its_path_replays() {
    let scn = scenario(
        "paxos/explore-crash",
        &["protocol.params.bugs.promise_before_sync=true"],
    );
    let o = explore(&scn, spec(&scn, |_| {}));
    assert_eq!(o.stop, Stop::Violation);
    let (finding, steps) = o.violation.clone().unwrap();
    assert_eq!(finding.check, "promise_monotonic");
    // The shortest path: the starts (3 nodes, 1 client), the client's operation, its request,
    // one prepare that n1 answers before syncing, n1's crash and its restart.
    assert_eq!(steps.len(), 9, "{steps:?}");
    assert!(
        o.depth <= 5,
        "breadth-first: nothing deeper than the violation was reached"
    );
    assert!(matches!(steps[7], Step::Crash(_)) && matches!(steps[8], Step::Restart(_)));
    // A depth bound one short of it finds nothing, and says the bound cut the search.
    let short = explore(&scn, spec(&scn, |s| s.depth = 4));
    assert!(short.violation.is_none());
    assert!(short.at_depth_bound > 0 && !short.proves());

    // The counterexample is a scenario that `run` replays to the same failure.
    let json = explore::counterexample(&scn.json, &finding.check, &steps, "test");
    let text = serde_json::to_string(&json).unwrap();
    let cex = faultline::scenario::load::<Paxos>("cex.json", &text, &[]).unwrap();
    let report = cex.run(cex.file.seed, None).unwrap();
    match &report.verdict {
        Verdict::Fail(f) => {
            assert_eq!((f.check.as_str(), f.step), ("promise_monotonic", 9));
            assert_eq!(f.message, finding.message);
        }
        v => panic!("the path did not replay to the failure: {v:?}"),
    }
    // Twice the same trace.
    let again = cex.run(cex.file.seed, None).unwrap();
    assert_eq!(again.fingerprint, report.fingerprint);
}

#[test]
fn a_step_that_cannot_be_taken_stops_the_script_with_a_reason() {
    let text = r#"{
      "schema": 1, "description": "t", "protocol": {"name": "paxos"}, "nodes": 3,
      "workload": {"clients": 1, "ops_per_client_max": 1},
      "limits": {"time_ms": 100},
      "driver": "script",
      "steps": [{"start": "n1"}, {"deliver": {"kind": "prepare", "from": "n1", "to": "n2", "nth": 1}}]
    }"#;
    let scn = faultline::scenario::load::<Paxos>("s.json", text, &[]).unwrap();
    let report = scn.run(1, None).unwrap();
    match report.verdict {
        Verdict::Aborted { reason } => {
            assert!(reason.contains("step 2"), "{reason}");
            assert!(
                reason.contains("no message prepare #1 from n1 to n2"),
                "{reason}"
            );
        }
        v => panic!("{v:?}"),
    }
    // Bad steps are bad input at load, with the field.
    let bad = text.replace("\"to\": \"n2\"", "\"to\": \"n9\"");
    let e = faultline::scenario::load::<Paxos>("s.json", &bad, &[]).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("steps[1].deliver.to"), "{e}");
    let e = faultline::scenario::load::<Paxos>(
        "s.json",
        &text.replace("\"script\"", "\"simulation\""),
        &[],
    )
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("steps"), "{e}");
}

#[test]
fn a_protocol_that_cannot_be_fingerprinted_is_refused() {
    let scn = faultline::scenario::Scenario::<faultline::protocols::ping::Ping>::bundled(
        "ping/basic",
        &[],
    )
    .unwrap();
    let e = explore::explore(&scn, None, &mut |_: &Progress| None).unwrap_err();
    assert!(e.message.contains("cannot be explored"), "{e}");
}

#[test]
fn a_walk_finds_a_switch_and_the_shrinker_shortens_its_path() {
    let scn = scenario(
        "paxos/explore-duel",
        &["protocol.params.bugs.ignore_promised_values=true"],
    );
    let o = explore(
        &scn,
        spec(&scn, |s| {
            s.strategy = Strategy::Walk;
            s.walks = 100_000;
        }),
    );
    let (finding, steps) = o.violation.expect("the walks find the switch");
    assert_eq!(finding.check, "agreement");
    let json = explore::counterexample(&scn.json, &finding.check, &steps, "test");
    let text = serde_json::to_string(&json).unwrap();
    let cex = faultline::scenario::load::<Paxos>("cex.json", &text, &[]).unwrap();
    let shrunk = faultline::run::shrink::shrink(&cex, cex.file.seed, Default::default())
        .expect("the counterexample fails, so it shrinks");
    assert_eq!(shrunk.check, "agreement");
    let after = shrunk.scenario["steps"].as_array().unwrap().len();
    assert!(
        after < steps.len(),
        "{after} steps after shrinking, {} before",
        steps.len()
    );
    assert_eq!(shrunk.after.events, after as u64);
}

/// `faultline explore` in-process: its exit codes, and the counterexample file it writes.
#[test]
fn the_command_exits_as_documented() {
    let dir = std::env::temp_dir().join(format!("faultline-explore-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_file = dir.join("cex.json");
    let run = |args: &[&str]| {
        let mut argv: Vec<std::ffi::OsString> = vec!["faultline".into(), "explore".into()];
        argv.extend(args.iter().map(|a| a.into()));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = faultline::cli::main(argv, &mut out, &mut err);
        (
            code,
            String::from_utf8_lossy(&out).to_string() + &String::from_utf8_lossy(&err),
        )
    };
    let cex = out_file.to_str().unwrap();
    let (code, text) = run(&[
        "paxos/explore-crash",
        "--set",
        "protocol.params.bugs.promise_before_sync=true",
        "-o",
        cex,
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("path (9 steps):"), "{text}");
    // The file written replays to the same failure through `run`.
    let mut out = Vec::new();
    let code = faultline::cli::main(
        ["faultline", "run", cex].map(std::ffi::OsString::from),
        &mut out,
        &mut Vec::new(),
    );
    assert_eq!(code, 1);
    assert!(String::from_utf8_lossy(&out).contains("FAIL safety: check promise_monotonic"));
    // Proved within the bounds: 0. A bound that stops it: 4. Bad input: 2.
    let (code, text) = run(&["paxos/explore-crash", "--crashes", "0", "--depth", "10"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("exhausted within the depth bound"), "{text}");
    // Too shallow to reach a decision: never a silent pass.
    let (code, text) = run(&["paxos/explore-crash", "--crashes", "0", "--depth", "8"]);
    assert_eq!(code, 4, "{text}");
    assert!(
        text.contains("sometimes value_chosen: NOT reached"),
        "{text}"
    );
    let (code, text) = run(&["paxos/explore-crash", "--states", "100"]);
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("the state bound was reached"), "{text}");
    let (code, _) = run(&["ping/basic"]);
    assert_eq!(code, 2);
    let (code, _) = run(&["paxos/explore-crash", "--strategy", "sideways"]);
    assert_eq!(code, 2);
    let _ = std::fs::remove_dir_all(&dir);
}
