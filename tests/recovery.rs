//! Recovery metrics end to end: a Raft leader that crashes and restarts serves again within
//! the budget; one that never restarts is counted not recovered and down at the end; the
//! figures reach the run's metrics and a sweep's report (per seed and folded), and a metric
//! bound may name them.

use faultline::protocols::raft::Raft;
use faultline::run::sweep::{SeedSet, sweep};
use faultline::scenario::{Scenario, load};

fn leader_crash(faults: &str, expect_extra: &str) -> String {
    format!(
        r#"{{
  "schema": 1,
  "description": "A Raft leader crash, for the recovery metrics.",
  "protocol": {{"name": "raft"}},
  "nodes": 5,
  "seed": 1,
  "network": {{"preset": "lan"}},
  "workload": {{"clients": 3, "think_ms_min": 10, "think_ms_max": 50, "timeout_ms": 300, "retries": 5}},
  "faults": [{faults}],
  "limits": {{"time_ms": 8000}},
  "expect": [{{"check": "client_ops_ok", "kind": "eventually", "at_least": 10}}{expect_extra}]
}}"#
    )
}

#[test]
fn a_crashed_node_that_restarts_serves_again_within_the_budget() {
    let text = leader_crash(
        r#"{"at_ms": 1000, "crash": "n2"}, {"at_ms": 3000, "restart": "n2"}"#,
        "",
    );
    let scn = load::<Raft>("test", &text, &[]).unwrap();
    let r = scn.run(1, None).unwrap();
    let rec = r.recovery.expect("every run with checks measures recovery");
    assert_eq!((rec.outages, rec.crashes), (1, 1));
    assert_eq!(
        (rec.recovered, rec.not_recovered, rec.down_at_end),
        (1, 0, 0)
    );
    assert_eq!(rec.rate, Some(1.0));
    // Down for 2 s, so it serves again no sooner than that.
    let node = rec.node_ms_median.unwrap();
    assert!((2_000.0..3_000.0).contains(&node), "{node}");
    assert_eq!(rec.node_ms_max, Some(node));
    // The other four carry on: the cluster serves again long before n2 is back.
    assert!(rec.cluster_ms_max.unwrap() < 2_000.0, "{rec:?}");
    assert_eq!(rec.serves, "reply or progress of commit");
    assert_eq!(r.metrics["recovery.rate"], 1.0);
    assert_eq!(r.metrics["recovery.node_ms_median"], node);
}

#[test]
fn a_node_that_never_restarts_is_not_recovered() {
    // The heal restarts every node down at its time (by default, just after the last fault),
    // so the crash comes after an early heal: nothing restarts n2.
    let text = leader_crash(
        r#"{"at_ms": 500, "heal": true}, {"at_ms": 1000, "crash": "n2"}"#,
        "",
    );
    let scn = load::<Raft>("test", &text, &[]).unwrap();
    let rec = scn.run(1, None).unwrap().recovery.unwrap();
    assert_eq!((rec.outages, rec.recovered), (1, 0));
    assert_eq!((rec.not_recovered, rec.down_at_end), (1, 1));
    assert_eq!(rec.rate, Some(0.0));
    assert_eq!(rec.node_ms_median, None, "never served: n/a, not 0");
    assert!(rec.cluster_ms_median.is_some());
}

#[test]
fn a_scenario_may_bound_a_recovery_figure() {
    let faults = r#"{"at_ms": 1000, "crash": "n2"}, {"at_ms": 3000, "restart": "n2"}"#;
    let held = leader_crash(
        faults,
        r#", {"metric": "recovery.node_ms_max", "at_most": 3000}"#,
    );
    let r = load::<Raft>("test", &held, &[])
        .unwrap()
        .run(1, None)
        .unwrap();
    assert_eq!(r.verdict, faultline::sim::Verdict::Pass, "{:?}", r.verdict);
    let broken = leader_crash(
        faults,
        r#", {"metric": "recovery.node_ms_max", "at_most": 1000}"#,
    );
    let r = load::<Raft>("test", &broken, &[])
        .unwrap()
        .run(1, None)
        .unwrap();
    assert!(
        matches!(&r.verdict, faultline::sim::Verdict::Fail(f) if f.check == "recovery.node_ms_max"),
        "{:?}",
        r.verdict
    );
}

#[test]
fn a_sweep_reports_recovery_per_seed_and_folded() {
    let scn = Scenario::<Raft>::bundled("raft/swarm", &[]).unwrap();
    let seeds = SeedSet {
        from: 1,
        to: 6,
        shard: (0, 1),
    };
    let report = sweep(&scn, seeds, 2, None, &mut |_| {}, &mut |_| {});
    assert_eq!(report.recovery_by_seed.len(), 6);
    let order: Vec<u64> = report.recovery_by_seed.iter().map(|s| s.seed).collect();
    assert_eq!(order, [1, 2, 3, 4, 5, 6]);
    let a = &report.recovery;
    assert_eq!(a.runs, 6);
    let outages: u64 = report
        .recovery_by_seed
        .iter()
        .map(|s| s.figures.outages)
        .sum();
    assert_eq!(a.outages, outages);
    assert!(outages > 0, "the swarm takes nodes out of service");
    let max = report
        .recovery_by_seed
        .iter()
        .filter_map(|s| s.figures.node_ms_max)
        .fold(0.0, f64::max);
    assert_eq!(a.node_ms_max, Some(max));
    let json = serde_json::to_value(&report).unwrap();
    for field in [
        "rate",
        "node_ms_median",
        "node_ms_max",
        "cluster_ms_median",
        "cluster_ms_max",
    ] {
        assert!(json["recovery"].get(field).is_some(), "{field}");
        assert!(json["recovery_by_seed"][0].get(field).is_some(), "{field}");
    }
    assert_eq!(json["recovery_by_seed"][0]["seed"], 1);
}

#[test]
fn every_bundled_protocol_declares_what_serving_is() {
    use faultline::protocol::Protocol;
    use faultline::protocols::{PROTOCOLS, ProtocolVisitor, with_protocol};
    struct Declared;
    impl ProtocolVisitor for Declared {
        type Output = bool;
        fn visit<P: Protocol>(self) -> bool {
            !P::vocabulary().serves.is_empty()
        }
    }
    for name in PROTOCOLS {
        assert!(
            with_protocol(name, Declared).unwrap(),
            "{name} does not declare `serves` in its vocabulary"
        );
    }
}
