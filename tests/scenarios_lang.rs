//! The scenario language's shaped faults, end to end: a fault aimed at whoever holds a role
//! when it fires, nodes drawn per seed, a duration after which the fault is undone (for timed
//! entries and for entries fired by `on`), repetition, and the errors that keep `validate`
//! from accepting what a run would not honour.

mod common;

use common::MemSink;
use faultline::protocols::ping::Ping;
use faultline::protocols::raft::Raft;
use faultline::scenario::{InputError, Scenario, load};
use faultline::sim::Verdict;
use serde_json::Value;

/// A five-node Raft cluster on a LAN with two clients and these fault entries, healed half
/// way through the run.
fn raft(faults: &str, time_ms: u64) -> String {
    format!(
        r#"{{
  "schema": 1,
  "description": "shaped faults",
  "protocol": {{"name": "raft"}},
  "nodes": 5,
  "network": {{"preset": "lan"}},
  "workload": {{"clients": 2, "timeout_ms": 300, "retries": 5}},
  "faults": [{faults}],
  "heal_at_ms": {heal},
  "limits": {{"time_ms": {time_ms}}},
  "liveness_budget_ms": 2000,
  "expect": [{{"check": "leader_elected", "kind": "eventually"}}]
}}"#,
        heal = time_ms / 2
    )
}

fn run_raft(text: &str, seed: u64) -> (Verdict, Vec<Value>) {
    let scn = load::<Raft>("t.json", text, &[]).unwrap();
    let sink = MemSink::default();
    let report = scn.run(seed, Some(Box::new(sink.clone()))).unwrap();
    (report.verdict, sink.records())
}

/// The fault records, as (time in µs, fault, origin).
fn faults(records: &[Value]) -> Vec<(u64, Value, String)> {
    records
        .iter()
        .filter(|r| r["ev"] == "fault")
        .map(|r| {
            (
                r["t"].as_u64().unwrap(),
                r["fault"].clone(),
                r["origin"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Every node's last `role` annotation before step `step`.
fn roles_before(records: &[Value], step: u64) -> Vec<(String, String)> {
    let mut last: Vec<(String, String)> = Vec::new();
    for r in records
        .iter()
        .filter(|r| r["ev"] == "note" && r["key"] == "role" && r["step"].as_u64() < Some(step))
    {
        let node = r["node"].as_str().unwrap().to_string();
        let value = r["value"].as_str().unwrap().to_string();
        last.retain(|(n, _)| *n != node);
        last.push((node, value));
    }
    last
}

fn step_of(records: &[Value], fault: &Value) -> u64 {
    records
        .iter()
        .find(|r| r["ev"] == "fault" && r["fault"] == *fault)
        .and_then(|r| r["step"].as_u64())
        .unwrap()
}

#[test]
fn a_crash_aimed_at_the_leader_hits_whoever_leads_then_and_is_undone_after_its_duration() {
    let text = raft(
        r#"{"at_ms": 1000, "crash": {"role": "leader"}, "duration_ms": 500}"#,
        4000,
    );
    for seed in 1..=5 {
        let (verdict, records) = run_raft(&text, seed);
        assert_eq!(verdict, Verdict::Pass, "seed {seed}");
        let f = faults(&records);
        let crash = f.iter().find(|(_, x, _)| x.get("crash").is_some()).unwrap();
        let victim = crash.1["crash"].as_str().unwrap().to_string();
        assert_eq!(crash.0, 1_000_000, "at its time");
        let leaders: Vec<String> = roles_before(&records, step_of(&records, &crash.1))
            .into_iter()
            .filter(|(_, v)| v == "leader")
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            leaders,
            std::slice::from_ref(&victim),
            "seed {seed}: the one leader then"
        );
        let restart = serde_json::json!({"restart": victim});
        assert!(
            f.iter()
                .any(|(t, x, o)| *t == 1_500_000 && *x == restart && o == "schedule"),
            "seed {seed}: undone 500 ms later: {f:?}"
        );
    }
}

#[test]
fn an_aim_that_finds_no_one_does_nothing() {
    let text = raft(
        r#"{"at_ms": 1000, "crash": {"role": "chief"}, "duration_ms": 500}"#,
        3000,
    );
    let (verdict, records) = run_raft(&text, 1);
    assert_eq!(verdict, Verdict::Pass);
    let f = faults(&records);
    assert!(
        f.iter()
            .all(|(_, x, _)| x.get("crash").is_none() && x.get("restart").is_none()),
        "{f:?}"
    );
}

#[test]
fn drawn_nodes_repeat_with_their_undo_and_are_a_function_of_the_seed() {
    let text = raft(
        r#"{"at_ms": 500, "isolate": {"drawn": 2}, "every_ms": 400, "times": 4, "duration_ms": 200}"#,
        5000,
    );
    let isolations = |seed| {
        let (verdict, records) = run_raft(&text, seed);
        assert_eq!(verdict, Verdict::Pass, "seed {seed}");
        let f = faults(&records);
        let heals: Vec<u64> = f
            .iter()
            .filter(|(_, x, o)| *x == "heal_links" && o == "schedule")
            .map(|(t, _, _)| *t)
            .collect();
        assert_eq!(heals, [700_000, 1_100_000, 1_500_000, 1_900_000], "{f:?}");
        let iso: Vec<(u64, String)> = f
            .iter()
            .filter(|(_, x, _)| x.get("isolate").is_some())
            .map(|(t, x, _)| (*t, x["isolate"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(iso.len(), 8, "two nodes each time: {iso:?}");
        for pair in iso.chunks(2) {
            assert_eq!(pair[0].0, pair[1].0, "{iso:?}");
            assert_ne!(pair[0].1, pair[1].1, "two different nodes: {iso:?}");
        }
        iso
    };
    let a = isolations(7);
    assert_eq!(a, isolations(7), "the same seed draws the same nodes");
    assert!(
        (8..12).any(|s| isolations(s) != a),
        "other seeds draw other nodes"
    );
}

#[test]
fn a_fault_fired_by_on_is_undone_after_its_duration() {
    let text = raft(
        r#"{"at_ms": 0, "on": {"note": "role", "value": "leader", "retarget": true}, "pause": "n1", "duration_ms": 300}"#,
        3000,
    );
    let (verdict, records) = run_raft(&text, 3);
    assert_eq!(verdict, Verdict::Pass);
    let first_leader = records
        .iter()
        .find(|r| r["ev"] == "note" && r["key"] == "role" && r["value"] == "leader")
        .unwrap();
    let node = first_leader["node"].as_str().unwrap();
    let t = first_leader["t"].as_u64().unwrap();
    let f = faults(&records);
    assert_eq!(
        f[..2],
        [
            (
                t,
                serde_json::json!({"pause": node}),
                "reaction".to_string()
            ),
            (
                t + 300_000,
                serde_json::json!({"resume": node}),
                "reaction".to_string()
            ),
        ],
        "{f:?}"
    );
}

#[test]
fn a_partition_group_aimed_at_the_leader_takes_it_out_of_the_other_group() {
    let text = raft(
        r#"{"at_ms": 1000, "partition": [[{"role": "leader"}], ["n1", "n2", "n3", "n4", "n5"]], "duration_ms": 400}"#,
        4000,
    );
    let (verdict, records) = run_raft(&text, 2);
    assert_eq!(verdict, Verdict::Pass);
    let f = faults(&records);
    let (_, p, _) = f
        .iter()
        .find(|(_, x, _)| x.get("partition").is_some())
        .unwrap();
    let groups = p["partition"].as_array().unwrap();
    let leader = groups[0][0].as_str().unwrap();
    assert_eq!(groups[0].as_array().unwrap().len(), 1);
    assert_eq!(groups[1].as_array().unwrap().len(), 4);
    assert!(!groups[1].as_array().unwrap().iter().any(|n| n == leader));
    assert!(
        f.iter()
            .any(|(t, x, _)| *t == 1_400_000 && *x == "heal_links")
    );
}

fn bad(text: &str) -> InputError {
    load::<Raft>("t.json", text, &[]).unwrap_err()
}

#[test]
fn shaped_fields_are_accepted_only_where_a_run_honours_them() {
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"{"at_ms": 10, "restart": "n1", "duration_ms": 5}"#,
            "faults[0].duration_ms",
            "has no undo",
        ),
        (
            r#"{"at_ms": 10, "crash": "n1", "every_ms": 5}"#,
            "faults[0]",
            "go together",
        ),
        (
            r#"{"at_ms": 10, "cut": {"from": {"drawn": 2}, "to": "n1"}}"#,
            "faults[0].cut",
            "takes one",
        ),
        (
            r#"{"on": {"note": "role"}, "crash": "n1", "every_ms": 5, "times": 2}"#,
            "faults[0].every_ms",
            "fires once",
        ),
        (
            r#"{"on": {"note": "role", "retarget": true}, "heal_links": true}"#,
            "faults[0].on.retarget",
            "names no node",
        ),
        (
            r#"{"at_ms": 10, "restart": {"role": "leader"}}"#,
            "faults[0].restart",
            "cannot affect",
        ),
        (
            r#"{"at_ms": 10, "crash": {"drawn": 9}}"#,
            "faults[0].crash",
            "more nodes",
        ),
        (
            r#"{"at_ms": 10, "crash": "n1", "every_ms": 100, "times": 3, "duration_ms": 150}"#,
            "faults[0].duration_ms",
            "at most every_ms",
        ),
        (
            r#"{"on": {"note": "role", "retarget": true}, "crash": {"drawn": 1}}"#,
            "faults[0].on.retarget",
            "not both",
        ),
    ];
    for (entry, field, says) in cases {
        let e = bad(&raft(entry, 1000));
        assert_eq!(e.field.as_deref(), Some(*field), "{entry}: {e}");
        assert!(e.message.contains(says), "{entry}: {e}");
        assert!(e.line.is_some(), "{entry}: {e}");
    }
    // More firings than limits.faults_max.
    let e = bad(&raft(
        r#"{"at_ms": 10, "crash": "n1", "every_ms": 1, "times": 200000}"#,
        1000,
    ));
    assert!(e.message.contains("firings"), "{e}");
    // ping declares no role: nothing announces one.
    let ping = r#"{"schema": 1, "description": "x", "protocol": {"name": "ping"}, "nodes": 3,
      "faults": [{"at_ms": 10, "crash": {"role": "leader"}}], "limits": {"time_ms": 100}}"#;
    let e = Scenario::<Ping>::from_document(
        faultline::scenario::Document::load("p.json", ping, &[]).unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("faults[0].crash"), "{e}");
    assert!(e.message.contains("declares no role"), "{e}");
}

/// A calm five-node Raft run with these expectations.
fn raft_expecting(expect: &str) -> String {
    format!(
        r#"{{"schema": 1, "description": "windows", "protocol": {{"name": "raft"}}, "nodes": 5,
  "network": {{"preset": "lan"}}, "limits": {{"time_ms": 3000}}, "expect": [{expect}]}}"#
    )
}

#[test]
fn never_and_windowed_always_are_judged_in_their_window() {
    let verdict = |expect: &str| run_raft(&raft_expecting(expect), 1).0;
    // No leader can exist before the first election timeout (150 ms at the least).
    assert_eq!(
        verdict(r#"{"check": "leader_elected", "kind": "never", "until_ms": 100}"#),
        Verdict::Pass
    );
    let Verdict::Fail(f) = verdict(r#"{"check": "leader_elected", "kind": "never"}"#) else {
        panic!("a leader is elected")
    };
    assert_eq!((f.kind.as_str(), f.class.name()), ("never", "safety"));
    assert!(f.message.contains("must never hold"), "{}", f.message);
    // A calm cluster has its leader from early on: from 2 s to 2.5 s it always holds, but
    // not from the start.
    assert_eq!(
        verdict(
            r#"{"check": "leader_elected", "kind": "always", "from_ms": 2000, "until_ms": 2500}"#
        ),
        Verdict::Pass
    );
    let Verdict::Fail(f) = verdict(r#"{"check": "leader_elected", "kind": "always"}"#) else {
        panic!("no leader at the start")
    };
    assert_eq!((f.kind.as_str(), f.class.name()), ("always", "safety"));
    for (expect, field) in [
        (
            r#"{"check": "leader_elected", "kind": "eventually", "from_ms": 5}"#,
            "expect[0].from_ms",
        ),
        (
            r#"{"check": "leader_elected", "kind": "never", "from_ms": 50, "until_ms": 10}"#,
            "expect[0].until_ms",
        ),
        (
            r#"{"check": "leader_elected", "kind": "always", "until_ms": 9000}"#,
            "expect[0].until_ms",
        ),
    ] {
        let e = bad(&raft_expecting(expect));
        assert_eq!(e.field.as_deref(), Some(field), "{expect}: {e}");
    }
}

#[test]
fn a_bound_on_a_metric_is_judged_at_the_end_and_named_when_it_fails() {
    let run = |expect: &str| {
        let scn = load::<Raft>("t.json", &raft_expecting(expect), &[]).unwrap();
        scn.run(1, None).unwrap()
    };
    // A calm cluster elects one leader in term 1 or 2 and commits nothing without clients.
    let r = run(r#"{"metric": "raft.terms", "at_least": 1, "at_most": 3}"#);
    assert_eq!(r.verdict, Verdict::Pass);
    let line = r.checks.iter().find(|c| c.kind == "metric").unwrap();
    assert_eq!(line.check, "raft.terms");
    assert!(
        line.status.contains("expected between 1 and 3"),
        "{}",
        line.status
    );
    let Verdict::Fail(f) = run(r#"{"metric": "raft.terms", "at_least": 5}"#).verdict else {
        panic!("one or two terms are not five")
    };
    assert_eq!(
        (f.check.as_str(), f.kind.as_str(), f.class.name()),
        ("raft.terms", "metric", "metric")
    );
    assert!(f.message.contains("expected at least 5"), "{}", f.message);
    // A path into a reported object; latency has no value without clients.
    let Verdict::Fail(f) = run(r#"{"metric": "raft.latency_ms.p99", "at_most": 100}"#).verdict
    else {
        panic!("no client, no latency")
    };
    assert!(f.message.contains("not a number"), "{}", f.message);
    // Load-time errors name the field.
    for (expect, field, words) in [
        (
            r#"{"metric": "raft.elections", "at_most": 3}"#,
            "expect[0].metric",
            "reports no metric named",
        ),
        (
            r#"{"metric": "raft.terms"}"#,
            "expect[0]",
            "needs `at_most`, `at_least` or both",
        ),
        (
            r#"{"metric": "raft.terms", "at_least": 4, "at_most": 3}"#,
            "expect[0].at_most",
            "no value could pass",
        ),
        (
            r#"{"metric": "raft.terms", "kind": "always", "at_most": 3}"#,
            "expect[0].kind",
            "takes only `at_most` and `at_least`",
        ),
        (
            r#"{"check": "leader_elected", "kind": "always", "at_most": 3}"#,
            "expect[0].at_most",
            "belongs to `metric` expectations only",
        ),
        (
            r#"{"check": "leader_elected"}"#,
            "expect[0].kind",
            "missing",
        ),
        (r#"{"kind": "always"}"#, "expect[0]", "expected a `check`"),
        (
            r#"{"check": "client_ops_ok", "kind": "eventually", "at_least": 1.5}"#,
            "expect[0].at_least",
            "not a whole number",
        ),
    ] {
        let e = bad(&raft_expecting(expect));
        assert_eq!(e.field.as_deref(), Some(field), "{expect}: {e}");
        assert!(e.message.contains(words), "{expect}: {e}");
    }
}

/// The shaped fields read and write back in the scenario's own shape.
#[test]
fn aims_durations_and_repetitions_parse_and_write_back() {
    let f: faultline::faults::ScheduledFault = serde_json::from_str(
        r#"{"at_ms": 5, "partition": [[{"role": "leader"}], ["n1", "n2"]], "duration_ms": 300}"#,
    )
    .unwrap();
    assert_eq!(f.aim, Some(faultline::faults::Aim::Role("leader".into())));
    assert_eq!(f.duration_us, Some(300_000));
    assert_eq!(
        f.fault,
        faultline::faults::Fault::Partition(vec![
            vec![faultline::base::types::Endpoint::Node(
                faultline::faults::AIMED
            )],
            vec![
                faultline::base::types::Endpoint::Node(faultline::base::types::NodeId(0)),
                faultline::base::types::Endpoint::Node(faultline::base::types::NodeId(1))
            ]
        ])
    );
    assert_eq!(
        serde_json::to_string(&f).unwrap(),
        r#"{"at_ms":5,"partition":[[{"role":"leader"}],["n1","n2"]],"duration_ms":300}"#
    );
    let f: faultline::faults::ScheduledFault = serde_json::from_str(
        r#"{"at_ms": 100, "isolate": {"drawn": 3}, "every_ms": 400, "times": 20, "duration_ms": 150}"#,
    )
    .unwrap();
    assert_eq!(
        (f.aim.clone(), f.every_us, f.times, f.last_us()),
        (
            Some(faultline::faults::Aim::Drawn(3)),
            Some(400_000),
            Some(20),
            100_000 + 19 * 400_000 + 150_000
        )
    );
    assert_eq!(
        serde_json::from_value::<faultline::faults::ScheduledFault>(
            serde_json::to_value(&f).unwrap()
        )
        .unwrap(),
        f
    );
    for (bad, says) in [
        (r#"{"at_ms": 5, "crash": {"role": 5}}"#, "aimed node"),
        (r#"{"at_ms": 5, "crash": {"leader": true}}"#, "aimed node"),
        (r#"{"at_ms": 5, "crash": {"drawn": 0}}"#, "at least 1"),
        (
            r#"{"at_ms": 5, "cut": {"from": {"drawn": 1}, "to": {"role": "x"}}}"#,
            "one aimed node",
        ),
        (
            r#"{"at_ms": 5, "crash": "n1", "times": -1}"#,
            "expected u32",
        ),
        (r#"{"at_ms": 5, "crash": "n1", "every": 5}"#, "every_ms"),
    ] {
        let e = serde_json::from_str::<faultline::faults::ScheduledFault>(bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

/// `workload.pinned`: a pinned client sends every attempt to its node, redirects included
/// (Raft's followers redirect to the leader); the others still follow redirects.
#[test]
fn a_pinned_client_sends_every_attempt_to_its_node() {
    let text = raft("", 2000).replace(
        r#""retries": 5}"#,
        r#""retries": 5, "pinned": {"c1": "n3"}}"#,
    );
    let (_, records) = run_raft(&text, 3);
    let targets = |client: &str| -> Vec<String> {
        records
            .iter()
            .filter(|r| r["ev"] == "send" && r["from"] == client)
            .map(|r| r["to"].as_str().unwrap().to_string())
            .collect()
    };
    let pinned = targets("c1");
    assert!(pinned.len() > 3, "c1 sent {pinned:?}");
    assert!(pinned.iter().all(|t| t == "n3"), "c1 sent to {pinned:?}");
    let free = targets("c2");
    assert!(
        free.iter().any(|t| t != "n3"),
        "c2 is not pinned, yet sent only to n3: {free:?}"
    );
    // n3 did redirect c1 (it does not lead throughout), and c1 stayed with it.
    let redirected = records.iter().any(|r| {
        r["ev"] == "deliver"
            && r["to"] == "c1"
            && r["msg"]["response"]["body"]["not_leader"].is_object()
    });
    assert!(
        redirected,
        "n3 never redirected c1 at this seed: pick another"
    );
}

#[test]
fn pins_name_a_client_and_a_node_of_the_scenario() {
    let pin = |pins: &str| {
        raft("", 1000).replace(
            r#""retries": 5}"#,
            &format!(r#""retries": 5, "pinned": {pins}}}"#),
        )
    };
    for (pins, field, says) in [
        (r#"{"c3": "n1"}"#, "workload.pinned.c3", "no client c3"),
        (r#"{"c1": "n6"}"#, "workload.pinned.c1", "no node n6"),
        (r#"{"x1": "n1"}"#, "workload.pinned.x1", "client name"),
        (r#"{"c1": "leader"}"#, "workload.pinned.c1", "node name"),
    ] {
        let e = bad(&pin(pins));
        assert_eq!(e.field.as_deref(), Some(field), "{pins}: {e}");
        assert!(e.message.contains(says), "{pins}: {e}");
        assert!(e.line.is_some(), "{pins}: {e}");
    }
    // ABD's quorum client talks to every node: it cannot be pinned.
    let abd = r#"{"schema": 1, "description": "x", "protocol": {"name": "abd"}, "nodes": 3,
      "workload": {"clients": 1, "pinned": {"c1": "n2"}}, "limits": {"time_ms": 100}}"#;
    let e = load::<faultline::protocols::abd::Abd>("a.json", abd, &[]).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("workload.pinned.c1"), "{e}");
    assert!(e.message.contains("cannot be pinned"), "{e}");
}

/// A five-node Raft cluster with no faults whose `protocol` object is `protocol`.
fn raft_with_protocol(protocol: &str) -> String {
    format!(
        r#"{{
  "schema": 1,
  "description": "per-node parameters",
  "protocol": {protocol},
  "nodes": 5,
  "network": {{"preset": "lan"}},
  "workload": {{"clients": 1}},
  "limits": {{"time_ms": 1000}},
  "expect": [{{"check": "leader_elected", "kind": "eventually"}}]
}}"#
    )
}

#[test]
fn a_node_with_its_own_short_election_timeout_wins_the_first_election_at_every_seed() {
    // n3 times out after 60-70 ms, the others after 150-300 ms (the default): n3 stands
    // first and, on a LAN, has its votes long before anyone else stands.
    let text = raft_with_protocol(
        r#"{"name": "raft", "params_by_node": {"n3": {"election_ms_min": 60, "election_ms_max": 70}}}"#,
    );
    let plain = raft_with_protocol(r#"{"name": "raft"}"#);
    let first_leader = |text: &str, seed: u64| {
        let (verdict, records) = run_raft(text, seed);
        assert_eq!(verdict, Verdict::Pass, "seed {seed}");
        records
            .iter()
            .find(|r| r["ev"] == "note" && r["key"] == "role" && r["value"] == "leader")
            .and_then(|r| r["node"].as_str())
            .unwrap()
            .to_string()
    };
    for seed in 1..=20 {
        assert_eq!(first_leader(&text, seed), "n3", "seed {seed}");
    }
    // Without the override the first leader varies with the seed (so the test above is
    // not passing by luck of the seeds).
    let others: Vec<String> = (1..=20).map(|s| first_leader(&plain, s)).collect();
    assert!(others.iter().any(|n| n != "n3"), "{others:?}");
}

#[test]
fn per_node_parameters_are_checked_as_the_protocol_s_own_with_the_node_in_the_field() {
    let e = bad(&raft_with_protocol(
        r#"{"name": "raft", "params_by_node": {"n9": {"election_ms_min": 60}}}"#,
    ));
    assert_eq!(
        e.field.as_deref(),
        Some("protocol.params_by_node.n9"),
        "{e}"
    );
    assert!(e.to_string().contains("no node n9"), "{e}");
    let e = bad(&raft_with_protocol(
        r#"{"name": "raft", "params_by_node": {"n3": {"election_ms_min": "soon"}}}"#,
    ));
    assert_eq!(
        e.field.as_deref(),
        Some("protocol.params_by_node.n3.election_ms_min"),
        "{e}"
    );
    let e = bad(&raft_with_protocol(
        r#"{"name": "raft", "params_by_node": {"n3": {"no_such_knob": 1}}}"#,
    ));
    assert!(
        e.field
            .as_deref()
            .is_some_and(|f| f.starts_with("protocol.params_by_node.n3")),
        "{e}"
    );
    let e = bad(&raft_with_protocol(
        r#"{"name": "raft", "params_by_node": {"n3": 5}}"#,
    ));
    assert_eq!(
        e.field.as_deref(),
        Some("protocol.params_by_node.n3"),
        "{e}"
    );
    let e = bad(&raft_with_protocol(
        r#"{"name": "raft", "params_by_node": {"x3": {}}}"#,
    ));
    assert!(e.to_string().contains("params_by_node"), "{e}");
}

/// A calm five-node Raft cluster (1 s, 5 ms links) with these expectations.
fn raft_calm(expect: &str) -> String {
    format!(
        r#"{{
  "schema": 1,
  "description": "annotation triggers",
  "protocol": {{"name": "raft"}},
  "nodes": 5,
  "network": {{"latency": {{"constant": {{"us": 5000}}}}}},
  "workload": {{"clients": 1}},
  "limits": {{"time_ms": 1000}},
  "expect": [{expect}]
}}"#
    )
}

#[test]
fn a_within_expectation_can_be_triggered_by_an_annotation() {
    // Every candidacy is followed by a leader within 500 ms on a calm LAN.
    let text = raft_calm(
        r#"{"check": "leader_elected", "kind": "within", "after": {"note": "role", "value": "candidate"}, "within_ms": 500}"#,
    );
    for seed in 1..=5 {
        let (verdict, _) = run_raft(&text, seed);
        assert_eq!(verdict, Verdict::Pass, "seed {seed}");
    }
    // No election is won within 1 ms of its candidacy (a vote takes a 10 ms round trip):
    // the trigger fires, and the failure names the annotation and the node that made it.
    let text = raft_calm(
        r#"{"check": "leader_elected", "kind": "within", "after": {"note": "role", "value": "candidate"}, "within_ms": 1}"#,
    );
    let (verdict, records) = run_raft(&text, 1);
    let Verdict::Fail(f) = verdict else {
        panic!("{verdict:?}")
    };
    let candidate = records
        .iter()
        .find(|r| r["ev"] == "note" && r["key"] == "role" && r["value"] == "candidate")
        .and_then(|r| r["node"].as_str())
        .unwrap()
        .to_string();
    assert_eq!(f.check, "leader_elected");
    assert!(
        f.message.starts_with(&format!(
            "did not hold within 0.001000s after the note role = candidate of {candidate} at "
        )),
        "{}",
        f.message
    );
    // A trigger on a value no node ever notes never opens an obligation.
    let text = raft_calm(
        r#"{"check": "leader_elected", "kind": "within", "after": {"note": "role", "value": "emperor"}, "within_ms": 1}"#,
    );
    assert_eq!(run_raft(&text, 1).0, Verdict::Pass);
}

#[test]
fn an_annotation_trigger_is_checked_when_the_file_is_read() {
    let within = |after: &str| {
        raft_calm(&format!(
            r#"{{"check": "leader_elected", "kind": "within", "after": {after}, "within_ms": 10}}"#
        ))
    };
    for (after, says) in [
        (r#""note""#, "expected one of crash"),
        (r#""sunrise""#, "unknown trigger \"sunrise\""),
        (r#"{"note": ""}"#, "needs `note`"),
        (r#"{"value": "leader"}"#, "needs `note`"),
        (r#"{"note": "role", "when": 1}"#, "unknown field \"when\""),
        ("3", "expected one of crash"),
    ] {
        let e = bad(&within(after));
        assert_eq!(e.field.as_deref(), Some("expect[0].after"), "{after}: {e}");
        assert!(e.to_string().contains(says), "{after}: {e}");
    }
}

// ---- What-if faults: one chosen message, a bug switch set at a time --------------------

/// The index of the first `send` record of `kind` (as `world::kind_of` names it) between
/// two nodes at or after record `from`.
fn first_send_of(records: &[Value], kind: &str, from: usize) -> usize {
    from + records[from..]
        .iter()
        .position(|r| {
            r["ev"] == "send"
                && r["msg"]["peer"].get(kind).is_some()
                && r["from"].as_str().unwrap().starts_with('n')
        })
        .unwrap_or_else(|| panic!("no {kind} sent"))
}

/// The `nth` a chosen-message fault needs for the send at `i`: sends of its kind on its link
/// up to and including it.
fn nth_of(records: &[Value], i: usize, kind: &str) -> usize {
    let (f, t) = (&records[i]["from"], &records[i]["to"]);
    records[..=i]
        .iter()
        .filter(|r| {
            r["ev"] == "send"
                && r["from"] == *f
                && r["to"] == *t
                && r["msg"]["peer"].get(kind).is_some()
        })
        .count()
}

/// The base run and the run with `fault` on the message sent at record `i` (kind `kind`).
fn with_chosen(kind: &str, twist: &str, pick: usize) -> (Vec<Value>, Vec<Value>, usize) {
    let (verdict, base) = run_raft(&raft("", 3000), 1);
    assert_eq!(verdict, Verdict::Pass);
    let mut i = first_send_of(&base, kind, 0);
    for _ in 0..pick {
        i = first_send_of(&base, kind, i + 1);
    }
    let fault = format!(
        r#"{{"message": {{"kind": "{kind}", "from": {}, "to": {}, "nth": {}}}, {twist}}}"#,
        base[i]["from"],
        base[i]["to"],
        nth_of(&base, i, kind)
    );
    let (_, changed) = run_raft(&raft(&fault, 3000), 1);
    (base, changed, i)
}

#[test]
fn a_chosen_message_dropped_changes_the_run_exactly_from_its_send_on() {
    // The third AppendEntries (`append`) between nodes: after the first election.
    let (base, changed, i) = with_chosen("append", r#""drop": true"#, 2);
    assert_eq!(base[..i], changed[..i], "identical up to the chosen send");
    let id = base[i]["id"].clone();
    assert_eq!(base[i]["copies"], 1);
    let mut sent = base[i].clone();
    sent["copies"] = 0.into();
    assert_eq!(changed[i], sent, "the same send, lost");
    assert_eq!(changed[i + 1]["ev"], "fault");
    assert_eq!(changed[i + 1]["origin"], "schedule");
    assert_eq!(changed[i + 1]["fault"]["message"]["drop"], true);
    assert_eq!(changed[i + 2]["ev"], "lost");
    assert_eq!(changed[i + 2]["id"], id);
    assert_eq!(changed[i + 2]["reason"], "fault");
    let delivered = |rs: &[Value]| rs.iter().any(|r| r["ev"] == "deliver" && r["id"] == id);
    assert!(delivered(&base) && !delivered(&changed));
}

#[test]
fn a_chosen_message_delayed_arrives_that_much_later() {
    let (base, changed, i) = with_chosen("request_vote", r#""delay_ms": 40"#, 0);
    assert_eq!(base[..i], changed[..i], "identical up to the chosen send");
    assert_eq!(changed[i], base[i], "the send itself is the same");
    assert_eq!(changed[i + 1]["fault"]["message"]["delay_ms"], 40);
    let id = &base[i]["id"];
    let arrival = |rs: &[Value]| {
        rs.iter()
            .find(|r| (r["ev"] == "deliver" || r["ev"] == "lost") && r["id"] == *id)
            .map(|r| r["t"].as_u64().unwrap())
            .unwrap()
    };
    assert_eq!(arrival(&changed), arrival(&base) + 40_000);
}

#[test]
fn a_chosen_message_duplicated_arrives_twice() {
    let (base, changed, i) = with_chosen("request_vote", r#""duplicate": true"#, 1);
    assert_eq!(base[..i], changed[..i], "identical up to the chosen send");
    assert_eq!(
        (&base[i]["copies"], &changed[i]["copies"]),
        (&1.into(), &2.into())
    );
    let id = &base[i]["id"];
    let copies = changed
        .iter()
        .filter(|r| (r["ev"] == "deliver" || r["ev"] == "lost") && r["id"] == *id)
        .count();
    assert_eq!(copies, 2);
}

#[test]
fn chosen_messages_are_checked_when_the_file_is_read() {
    let msg = |m: &str, rest: &str| raft(&format!(r#"{{"message": {m}{rest}}}"#,), 3000);
    let ok = r#"{"kind": "append_entries", "from": "n1", "to": "n2", "nth": 1}"#;
    for (text, field, says) in [
        (
            msg(
                r#"{"kind": "append_entries", "from": "n1", "to": "n2", "nth": 0}"#,
                r#", "drop": true"#,
            ),
            "faults[0].message.nth",
            "counts from 1",
        ),
        (
            msg(
                r#"{"kind": "append_entries", "from": "n1", "to": "n9", "nth": 1}"#,
                r#", "drop": true"#,
            ),
            "faults[0].message.to",
            "n9 does not exist",
        ),
        (
            msg(
                r#"{"kind": "request", "from": "n1", "to": "n2", "nth": 1}"#,
                r#", "drop": true"#,
            ),
            "faults[0].message.from",
            "requests go from a client",
        ),
        (msg(ok, ""), "faults[0]", "says what happens to it"),
        (
            msg(ok, r#", "delay_ms": 0"#),
            "faults[0].delay_ms",
            "more than 0 ms",
        ),
        (
            msg(ok, r#", "drop": true, "at_ms": 5"#),
            "faults[0]",
            "counted at send",
        ),
        (
            msg(ok, r#", "drop": true, "duplicate": true"#),
            "faults[0]",
            "one twist per message",
        ),
        (
            raft(r#"{"at_ms": 5, "drop": true}"#, 3000),
            "faults[0]",
            "name it with `message`",
        ),
        (
            raft(
                &format!(
                    r#"{{"message": {ok}, "drop": true}}, {{"message": {ok}, "duplicate": true}}"#
                ),
                3000,
            ),
            "faults[1].message",
            "faults[0] already chooses this message",
        ),
    ] {
        let e = bad(&text);
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
        assert!(e.line.is_some(), "{e}");
        assert!(e.to_string().contains(says), "{e}");
    }
}

#[test]
fn chosen_messages_and_settings_write_back_as_they_were_written() {
    let entries = [
        r#"{"message":{"kind":"request","from":"c1","to":"n2","nth":3},"drop":true}"#,
        r#"{"message":{"kind":"append","from":"n1","to":"n2","nth":1},"delay_ms":2.5}"#,
        r#"{"message":{"kind":"response","from":"n2","to":"c1","nth":1},"duplicate":true}"#,
        r#"{"at_ms":100,"set":{"bugs.commit_old_terms":true}}"#,
    ];
    for e in entries {
        let f: faultline::faults::ScheduledFault = serde_json::from_str(e).unwrap();
        assert_eq!(serde_json::to_string(&f).unwrap(), e);
    }
}

/// Paxos's `accept_lower_ballot` scenario with the switch off in its parameters, and these
/// fault entries.
fn paxos_accept_lower(faults: &str) -> Vec<String> {
    vec![
        "protocol.params.bugs.accept_lower_ballot=false".to_string(),
        format!("faults=[{faults}]"),
    ]
}

fn run_paxos(overrides: &[String]) -> (Verdict, Vec<Value>) {
    use faultline::protocols::paxos::Paxos;
    let scn = Scenario::<Paxos>::bundled("paxos/bug-accept-lower-ballot", overrides).unwrap();
    let sink = MemSink::default();
    let report = scn.run(1, Some(Box::new(sink.clone()))).unwrap();
    (report.verdict, sink.records())
}

#[test]
fn a_bug_switch_set_mid_run_takes_effect_and_the_run_is_the_same_before() {
    let (verdict, base) = run_paxos(&paxos_accept_lower(""));
    assert_eq!(verdict, Verdict::Pass, "switch off: passes");
    let set = r#"{"at_ms": 150, "set": {"bugs.accept_lower_ballot": true}}"#;
    let (verdict, changed) = run_paxos(&paxos_accept_lower(set));
    assert!(
        matches!(&verdict, Verdict::Fail(f) if f.check == "agreement"),
        "switched on at 150 ms, the run fails agreement: {verdict:?}"
    );
    let at = changed
        .iter()
        .position(|r| r["ev"] == "fault" && r["fault"].get("set").is_some())
        .unwrap();
    assert_eq!(changed[at]["t"], 150_000);
    assert_eq!(changed[at]["origin"], "schedule");
    assert_eq!(
        changed[at]["fault"]["set"]["bugs.accept_lower_ballot"],
        true
    );
    let before = |rs: &[Value]| -> Vec<Value> {
        rs.iter()
            .filter(|r| r["t"].as_u64() < Some(150_000))
            .cloned()
            .collect()
    };
    assert_eq!(
        before(&base),
        before(&changed),
        "identical before the switch"
    );
    assert_eq!(changed[..at], base[..at]);
}

#[test]
fn bug_switches_set_are_checked_against_the_protocol_when_the_file_is_read() {
    for (set, field, says) in [
        (
            r#"{"bugs.nope": true}"#,
            "faults[0].set",
            "raft has no bug switch `nope`; it has: skip_up_to_date_check",
        ),
        (
            r#"{"bugs.commit_old_terms": 1}"#,
            "faults[0].set.bugs.commit_old_terms",
            "expected a boolean",
        ),
        (
            r#"{"election_ms_min": true}"#,
            "faults[0].set",
            "expected a bug switch written `bugs.NAME`",
        ),
        ("{}", "faults[0].set", "name at least one switch"),
    ] {
        let e = bad(&raft(&format!(r#"{{"at_ms": 100, "set": {set}}}"#), 3000));
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
        assert!(e.to_string().contains(says), "{e}");
    }
    // Through the command line: exit 2, with the place and the field.
    let dir = common::temp_dir("set-bad");
    let path = dir.join("s.json");
    std::fs::write(
        &path,
        raft(r#"{"at_ms": 100, "set": {"bugs.nope": true}}"#, 3000),
    )
    .unwrap();
    let (code, _, err) = common::cli(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("s.json:") && err.contains("faults[0].set"),
        "{err}"
    );
}

/// Storage faults need a protocol that writes bytes (a codec) and an atlas that lists them;
/// the loader names the field and says why, and the nemesis's kinds stay inside the atlas.
#[test]
fn storage_faults_stay_inside_the_atlas_and_need_a_codec() {
    let ping = |extra: &str| {
        format!(
            r#"{{"schema": 1, "description": "x", "protocol": {{"name": "ping"}}, "nodes": 3,
              {extra} "limits": {{"time_ms": 100}}}}"#
        )
    };
    // An error may come from reading the document or from typing it: either is an answer.
    let load_ping = |text: &str| {
        faultline::scenario::Document::load("p.json", text, &[])
            .and_then(Scenario::<Ping>::from_document)
    };
    let e = load_ping(&ping(
        r#""atlas": {"faults": ["corrupt"]}, "faults": [{"at_ms": 10, "disk": {"node": "n1", "fault": "corrupt"}}],"#,
    ))
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("atlas"), "{e}");
    assert!(e.message.contains("declares no codec"), "{e}");
    // An atlas with nothing in it is harmless for any protocol.
    assert!(load_ping(&ping(r#""atlas": {"faults": []},"#)).is_ok());
    let e = load_ping(&ping(r#""atlas": {"faults": [], "max_copies": 4},"#)).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("atlas"), "{e}");
    // A disk fault names what it strikes sensibly.
    let e = load_ping(&ping(
        r#""faults": [{"at_ms": 10, "disk": {"node": "n1", "fault": "torn", "record": 2}}],"#,
    ))
    .unwrap_err();
    assert!(e.message.contains("takes no `record`"), "{e}");
}
