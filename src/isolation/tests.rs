use super::*;
use crate::lin::Outcome;

fn parse_val(text: &str) -> Val {
    crate::lin::formats::parse_value(text).expect("value")
}

/// A transaction from EDN-ish text: `ok` with the completed micro-ops, `fail`, or `info`.
fn txn(process: u64, status: &str, mops: &str) -> Op {
    let done = parse_val(mops);
    let Val::List(items) = &done else { panic!() };
    let invoked = Val::List(
        items
            .iter()
            .map(|m| match m {
                Val::List(p) if p[0] == Val::Str(":r".into()) || p[0] == Val::Str("r".into()) => {
                    Val::List(vec![p[0].clone(), p[1].clone(), Val::Nil])
                }
                other => other.clone(),
            })
            .collect(),
    );
    let outcome = match status {
        "ok" => Outcome::Ok(done),
        "fail" => Outcome::NotApplied(Val::Nil),
        "info" => Outcome::Unknown,
        _ => panic!("status"),
    };
    Op {
        process,
        f: "txn".into(),
        key: None,
        value: invoked,
        outcome,
        call: process,
        ret: None,
        line: 0,
    }
}

fn classes(ops: &[Op]) -> Vec<Class> {
    analyse(ops).expect("analysis").classes()
}

#[test]
fn a_serial_list_append_history_is_clean_and_counted() {
    let ops = vec![
        txn(0, "ok", "[[:append 1 1] [:r 2 nil]]"),
        txn(1, "ok", "[[:r 1 [1]] [:append 2 5]]"),
        txn(2, "ok", "[[:r 1 [1]] [:r 2 [5]] [:append 1 2]]"),
        txn(3, "ok", "[[:r 1 [1 2]]]"),
    ];
    let a = analyse(&ops).unwrap();
    assert_eq!(a.classes(), vec![], "{:?}", a.anomalies);
    assert_eq!(a.verdict(Level::Serializable), HistoryVerdict::Held);
    let c = &a.counts;
    assert_eq!(
        (c.txns, c.committed, c.keys, c.list_keys, c.vertices),
        (4, 4, 2, 2, 4)
    );
    // ww: T0 -> T2 on key 1; wr: T0 -> T1, T0 -> T2 (key 1), T1 -> T2 (key 2), T2 -> T3;
    // rw: T0 read key 2 empty -> T1 appended 5 first; T1 read [1] -> T2 appended 2.
    assert_eq!((c.ww, c.wr, c.rw), (1, 4, 2));
}

#[test]
fn read_skew_is_g_single_and_forbidden_by_snapshot_isolation_not_read_committed() {
    let ops = vec![
        txn(0, "ok", "[[:append :x 1] [:append :y 1]]"),
        txn(1, "ok", "[[:r :x nil] [:r :y [1]]]"),
        txn(2, "ok", "[[:r :x [1]] [:r :y [1]]]"),
    ];
    let a = analyse(&ops).unwrap();
    assert_eq!(a.classes(), vec![Class::GSingle]);
    let w = &a.anomalies[0];
    assert_eq!(w.txns.len(), 2);
    assert_eq!(w.txns[0].text, "[[r :x nil] [r :y [1]]]");
    assert_eq!(
        w.steps[0].text,
        "T1 -rw-> T2 on key :x: T1 read nothing, then T2 appended 1 as the first element"
    );
    assert_eq!(
        w.steps[1].text,
        "T2 -wr-> T1 on key :y: T1 read [1], ending with 1, which T2 appended"
    );
    assert!(matches!(
        a.verdict(Level::SnapshotIsolation),
        HistoryVerdict::Violated(_)
    ));
    assert_eq!(a.verdict(Level::ReadCommitted), HistoryVerdict::Held);
}

#[test]
fn write_skew_is_g2_and_only_serializability_forbids_it() {
    let ops = vec![
        txn(0, "ok", "[[r 1 nil] [append 2 1]]"),
        txn(1, "ok", "[[r 2 nil] [append 1 1]]"),
        txn(2, "ok", "[[r 1 [1]] [r 2 [1]]]"),
    ];
    let a = analyse(&ops).unwrap();
    assert_eq!(a.classes(), vec![Class::G2]);
    assert!(a.anomalies[0].steps.iter().all(|s| s.kind == EdgeKind::Rw));
    assert_eq!(a.verdict(Level::SnapshotIsolation), HistoryVerdict::Held);
    match a.verdict(Level::Serializable) {
        HistoryVerdict::Violated(why) => assert!(why.contains("G2"), "{why}"),
        v => panic!("{v:?}"),
    }
}

#[test]
fn g0_g1a_g1b_g1c_are_found_on_list_keys() {
    let g0 = vec![
        txn(0, "ok", "[[append 1 1] [append 2 2]]"),
        txn(1, "ok", "[[append 1 3] [append 2 4]]"),
        txn(2, "ok", "[[r 1 [1 3]] [r 2 [4 2]]]"),
    ];
    assert_eq!(classes(&g0), vec![Class::G0]);
    let g1a = vec![
        txn(0, "fail", "[[append 1 1]]"),
        txn(1, "ok", "[[r 1 [1]]]"),
    ];
    assert_eq!(classes(&g1a), vec![Class::G1a]);
    let g1b = vec![
        txn(0, "ok", "[[append 1 1] [append 1 2]]"),
        txn(1, "ok", "[[r 1 [1]]]"),
        txn(2, "ok", "[[r 1 [1 2]]]"),
    ];
    assert_eq!(classes(&g1b), vec![Class::G1b, Class::GSingle]);
    let g1c = vec![
        txn(0, "ok", "[[append 1 1] [r 2 [2]]]"),
        txn(1, "ok", "[[append 2 2] [r 1 [1]]]"),
    ];
    let a = analyse(&g1c).unwrap();
    assert_eq!(a.classes(), vec![Class::G1c]);
    assert!(a.anomalies[0].steps.iter().all(|s| s.kind == EdgeKind::Wr));
    assert!(matches!(
        a.verdict(Level::ReadCommitted),
        HistoryVerdict::Violated(_)
    ));
}

#[test]
fn incompatible_reads_are_reported_and_forbidden_everywhere() {
    let ops = vec![
        txn(0, "ok", "[[append 1 1]]"),
        txn(1, "ok", "[[append 1 2]]"),
        txn(2, "ok", "[[r 1 [1 2]]]"),
        txn(3, "ok", "[[r 1 [2 1]]]"),
    ];
    let a = analyse(&ops).unwrap();
    assert_eq!(a.classes(), vec![Class::IncompatibleOrder]);
    assert!(
        a.anomalies[0].detail.contains("[2 1]"),
        "{}",
        a.anomalies[0]
    );
    assert!(matches!(
        a.verdict(Level::ReadCommitted),
        HistoryVerdict::Violated(_)
    ));
}

#[test]
fn register_histories_show_wr_anomalies_only() {
    // T0 and T1 each read the other's write: a wr cycle.
    let g1c = vec![
        txn(0, "ok", "[[w 1 10] [r 2 20]]"),
        txn(1, "ok", "[[w 2 20] [r 1 10]]"),
    ];
    let a = analyse(&g1c).unwrap();
    assert_eq!(a.classes(), vec![Class::G1c]);
    assert!(
        a.notes
            .iter()
            .any(|n| n.contains("no recoverable version order"))
    );
    let g1a = vec![txn(0, "fail", "[[w 1 10]]"), txn(1, "ok", "[[r 1 10]]")];
    assert_eq!(classes(&g1a), vec![Class::G1a]);
    let g1b = vec![
        txn(0, "ok", "[[w 1 10] [w 1 11]]"),
        txn(1, "ok", "[[r 1 10]]"),
    ];
    assert_eq!(classes(&g1b), vec![Class::G1b]);
    // Write skew on registers cannot be seen: no rw edges without a version order.
    let skew = vec![
        txn(0, "ok", "[[r 1 nil] [w 2 1]]"),
        txn(1, "ok", "[[r 2 nil] [w 1 1]]"),
    ];
    assert_eq!(classes(&skew), vec![]);
}

#[test]
fn unknown_outcomes_never_make_a_false_alarm() {
    // Observed: T0's outcome is unknown but T1 saw its append, so it committed and takes
    // part; its own reads (unknown) give no edges.
    let observed = vec![
        txn(0, "info", "[[append 1 1] [r 2 nil]]"),
        txn(1, "ok", "[[r 1 [1]] [append 2 7]]"),
        txn(2, "ok", "[[r 1 [1]] [r 2 [7]]]"),
    ];
    let a = analyse(&observed).unwrap();
    assert_eq!(a.verdict(Level::Serializable), HistoryVerdict::Held);
    assert_eq!((a.counts.unknown, a.counts.unknown_observed), (1, 1));
    assert_eq!(a.counts.vertices, 3);
    // Not observed: nobody saw T0's append; it takes no part, and reads that miss it are fine.
    let unseen = vec![
        txn(0, "info", "[[append 1 1]]"),
        txn(1, "ok", "[[r 1 nil] [append 1 2]]"),
        txn(2, "ok", "[[r 1 [2]]]"),
    ];
    let a = analyse(&unseen).unwrap();
    assert_eq!(a.verdict(Level::Serializable), HistoryVerdict::Held);
    assert_eq!((a.counts.unknown_observed, a.counts.vertices), (0, 2));
    // An unknown register write that someone read is not an aborted read.
    let reg = vec![txn(0, "info", "[[w 1 5]]"), txn(1, "ok", "[[r 1 5]]")];
    assert_eq!(
        analyse(&reg).unwrap().verdict(Level::Serializable),
        HistoryVerdict::Held
    );
}

#[test]
fn bad_input_is_an_error_that_says_where() {
    let mut op = txn(0, "ok", "[[append 1 1]]");
    op.value = parse_val("[[append 1]]");
    let e = analyse_located(&[op], 10).unwrap_err();
    let Unreadable::Input(e) = e else { panic!() };
    assert_eq!((e.op, e.completion, e.mop), (0, false, Some(0)));
    assert!(e.message.contains("3-element"), "{}", e.message);
    let mut op = txn(0, "ok", "[[append 1 1] [cas 1 2]]");
    op.value = parse_val("[[append 1 1] [cas 1 2]]");
    let e = analyse(&[op]).unwrap_err();
    assert!(
        e.contains("micro-op 2") && e.contains(":append, :r or :w"),
        "{e}"
    );
    let mut read = txn(0, "ok", "[[r 1 nil]]");
    read.f = "read".into();
    assert!(analyse(&[read]).unwrap_err().contains("not a transaction"));
    let both = vec![txn(0, "ok", "[[append 1 1]]"), txn(1, "ok", "[[w 1 2]]")];
    assert!(analyse(&both).unwrap_err().contains("both appended"));
    let atom = vec![txn(0, "ok", "[[append 1 1]]"), txn(1, "ok", "[[r 1 1]]")];
    assert!(analyse(&atom).unwrap_err().contains("read it as 1"));
}

#[test]
fn repeated_values_are_noted_and_draw_no_edges() {
    let ops = vec![
        txn(0, "ok", "[[append 1 1]]"),
        txn(1, "ok", "[[append 1 1]]"),
        txn(2, "ok", "[[r 1 [1]]]"),
    ];
    let a = analyse(&ops).unwrap();
    assert_eq!(a.classes(), vec![]);
    assert_eq!(a.counts.wr, 0);
    assert!(a.notes[0].contains("repeat a value"), "{:?}", a.notes);
}

#[test]
fn the_budget_bounds_the_cycle_search() {
    let ops = vec![
        txn(0, "ok", "[[r 1 nil] [append 2 1]]"),
        txn(1, "ok", "[[r 2 nil] [append 1 1]]"),
        txn(2, "ok", "[[r 1 [1]] [r 2 [1]]]"),
    ];
    let j = Isolation::serializable().judge(&ops, 1).unwrap();
    assert!(
        matches!(j.verdict, HistoryVerdict::Inconclusive(_)),
        "{j:?}"
    );
    let j = Isolation::serializable().judge(&ops, 1_000).unwrap();
    assert!(matches!(j.verdict, HistoryVerdict::Violated(_)), "{j:?}");
    assert_eq!(Isolation::serializable().name(), "serializable");
    let j = Isolation::snapshot_isolation().judge(&ops, 1_000).unwrap();
    assert_eq!(j.verdict, HistoryVerdict::Held);
}

#[test]
fn generated_histories_are_clean_and_report_exactly_what_was_planted() {
    let g = Generation::new(5_000);
    let ops = generate(7, &g);
    assert_eq!(ops.len(), 5_000);
    assert_eq!(ops, generate(7, &g), "deterministic from the seed");
    let a = analyse(&ops).unwrap();
    assert_eq!(
        a.classes(),
        vec![],
        "{}",
        a.anomalies
            .first()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    let c = &a.counts;
    assert!(c.unknown > 150 && c.unknown < 350, "{c:?}");
    assert!(
        c.unknown_observed > 0 && c.unknown_observed < c.unknown,
        "{c:?}"
    );
    assert!(
        c.aborted > 10 && c.list_keys >= 100 && c.rw > 1_000,
        "{c:?}"
    );
    let processes: std::collections::BTreeSet<u64> = ops.iter().map(|o| o.process).collect();
    assert!(
        processes.len() > 10 + c.unknown / 2,
        "a new process after each unknown"
    );
    assert_eq!(
        Isolation::serializable()
            .judge(&ops, u64::MAX)
            .unwrap()
            .verdict,
        HistoryVerdict::Held
    );

    for plant in [
        vec![Class::GSingle, Class::G2],
        vec![
            Class::G0,
            Class::G1a,
            Class::G1b,
            Class::G1c,
            Class::IncompatibleOrder,
        ],
    ] {
        let g = Generation::new(5_000).planted(&plant);
        let a = analyse(&generate(7, &g)).unwrap();
        assert_eq!(a.classes(), g.expected(), "{:?}", a.anomalies);
        assert!(a.found.iter().all(|f| f.count == 1), "{:?}", a.found);
    }
}
