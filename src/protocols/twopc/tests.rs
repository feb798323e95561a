//! Two-phase commit, message by message, with the scripted driver: a commit across
//! participants, the block when the coordinator is gone, cooperative termination when one
//! participant has not voted, and recovery from the logs.

use super::{Config, Msg, Timer, TwoPc};
use crate::base::types::{ClientId, Endpoint, NodeId};
use crate::kit::txn::checks::TxnNode;
use crate::kit::txn::{Datum, Knows, Mop, Txn, TxnKind};
use crate::protocol::{Protocol, RequestId};
use crate::script::Script;
use crate::sim::SimConfig;

fn script(nodes: u32, config: Config) -> Script<TwoPc> {
    let mut c = SimConfig::<TwoPc>::new(nodes, 1);
    c.protocol = config;
    c.workload.clients = 1;
    let mut s = Script::from_config(c, None).unwrap();
    s.start_all().unwrap();
    s
}

/// Appends `a` to key 1 (owned by n2 of three) and `b` to key 2 (n3), then reads key 1.
fn txn(a: u64, b: u64) -> Txn {
    Txn {
        kind: TxnKind::ListAppend,
        mops: vec![
            Mop::Append { key: 1, value: a },
            Mop::Append { key: 2, value: b },
            Mop::R { key: 1 },
        ],
    }
}

/// Puts client c1's request in flight to its coordinator n1 and delivers it.
fn submit(s: &mut Script<TwoPc>, id: u64, t: Txn) {
    s.request(ClientId(0), NodeId(0), RequestId(id), t).unwrap();
    s.deliver_where(|e| e.msg().is_none() && e.to == Endpoint::Node(NodeId(0)))
        .unwrap();
}

fn is_prepare(m: &Option<&Msg>) -> bool {
    matches!(m, Some(Msg::Prepare { .. }))
}

fn to(e: &crate::script::Envelope<'_, TwoPc>, n: u32) -> bool {
    e.to == Endpoint::Node(NodeId(n))
}

#[test]
fn a_transaction_across_two_participants_commits_at_both_and_reads_its_own_append() {
    let mut s = script(3, Config::default());
    // Client c1 (id 0) is coordinated by n1; the keys live on n2 and n3.
    submit(&mut s, 1, txn(7, 8));
    s.stabilize().unwrap();
    let n2 = s.node(NodeId(1)).unwrap().participant();
    let n3 = s.node(NodeId(2)).unwrap().participant();
    assert_eq!(n2.get(1), &Datum::List(vec![7]));
    assert_eq!(n3.get(2), &Datum::List(vec![8]));
    assert!(n2.prepared().is_empty() && n3.prepared().is_empty());
    let coordinator = s.node(NodeId(0)).unwrap();
    assert_eq!(coordinator.decisions().len(), 1);
    assert!(coordinator.decisions()[0].1, "committed");
    // n1 owns none of the keys: it took part as coordinator only.
    assert!(coordinator.participant().data().is_empty());
}

#[test]
fn with_the_coordinator_down_prepared_participants_block_and_its_restart_presumes_abort() {
    let mut s = script(3, Config::default());
    submit(&mut s, 1, txn(7, 8));
    // The prepares reach n2 and n3, both vote yes; the coordinator crashes before the votes.
    s.deliver_where(|e| is_prepare(&e.msg())).unwrap();
    s.crash(NodeId(0)).unwrap();
    s.stabilize().unwrap();
    for n in [1, 2] {
        assert_eq!(s.node(NodeId(n)).unwrap().participant().prepared().len(), 1);
    }
    // Each asks the coordinator (down) and the other participant (prepared: as uncertain).
    s.advance(crate::protocol::Time::from_ms(250));
    s.fire(NodeId(1), &Timer::Tick).unwrap();
    s.fire(NodeId(2), &Timer::Tick).unwrap();
    s.stabilize().unwrap();
    for n in [1, 2] {
        let p = s.node(NodeId(n)).unwrap().participant();
        assert_eq!(p.prepared().len(), 1, "n{} stays in doubt: blocked", n + 1);
        assert!(p.get(1) == &Datum::Nil && p.get(2) == &Datum::Nil);
    }
    // The coordinator comes back with no decision in its log: asked, it presumes abort.
    s.restart(NodeId(0)).unwrap();
    s.advance(crate::protocol::Time::from_ms(250));
    s.fire(NodeId(1), &Timer::Tick).unwrap();
    s.stabilize().unwrap();
    s.fire(NodeId(2), &Timer::Tick).unwrap();
    s.stabilize().unwrap();
    for n in [1, 2] {
        let p = s.node(NodeId(n)).unwrap().participant();
        assert!(p.prepared().is_empty(), "n{} decided", n + 1);
        assert_eq!(
            p.knows(crate::kit::txn::TxnId {
                client: 0,
                serial: 1
            }),
            Some(Knows::Aborted)
        );
    }
}

#[test]
fn a_participant_that_has_not_voted_aborts_when_asked_and_unblocks_the_others() {
    let mut s = script(3, Config::default());
    submit(&mut s, 1, txn(7, 8));
    // Only n2 gets its prepare; n3's is still on its way when the coordinator crashes.
    s.deliver_where(|e| is_prepare(&e.msg()) && to(e, 1))
        .unwrap();
    s.crash(NodeId(0)).unwrap();
    s.deliver_where(|e| !is_prepare(&e.msg())).unwrap();
    s.advance(crate::protocol::Time::from_ms(250));
    s.fire(NodeId(1), &Timer::Tick).unwrap();
    // n2's question reaches n3 before n1's prepare does: n3 aborts on the spot.
    s.deliver_where(|e| matches!(e.msg(), Some(Msg::Ask { .. })) && to(e, 2))
        .unwrap();
    s.deliver_where(|e| matches!(e.msg(), Some(Msg::Tell { .. })))
        .unwrap();
    let tid = crate::kit::txn::TxnId {
        client: 0,
        serial: 1,
    };
    assert_eq!(
        s.node(NodeId(1)).unwrap().participant().knows(tid),
        Some(Knows::Aborted)
    );
    // The late prepare is refused: n3 will never vote yes for it.
    s.deliver_where(|e| is_prepare(&e.msg())).unwrap();
    assert_eq!(
        s.node(NodeId(2)).unwrap().participant().knows(tid),
        Some(Knows::Aborted)
    );
    assert!(
        s.node(NodeId(2))
            .unwrap()
            .participant()
            .prepared()
            .is_empty()
    );
}

#[test]
fn a_restarted_participant_is_in_doubt_again_with_its_locks_and_commits_when_told() {
    let mut s = script(3, Config::default());
    submit(&mut s, 1, txn(7, 8));
    s.deliver_where(|e| is_prepare(&e.msg())).unwrap();
    s.crash(NodeId(1)).unwrap();
    s.restart(NodeId(1)).unwrap();
    assert_eq!(
        s.node(NodeId(1)).unwrap().participant().prepared().len(),
        1,
        "the prepared record was synced before the vote"
    );
    // A younger transaction on the same key dies on the lock it holds again.
    submit(
        &mut s,
        2,
        Txn {
            kind: TxnKind::ListAppend,
            mops: vec![Mop::Append { key: 1, value: 9 }, Mop::R { key: 1 }],
        },
    );
    s.stabilize().unwrap();
    let n2 = s.node(NodeId(1)).unwrap().participant();
    assert_eq!(
        n2.get(1),
        &Datum::List(vec![7]),
        "the first committed, the second died"
    );
    let decisions = s.node(NodeId(0)).unwrap().decisions().to_vec();
    assert_eq!(decisions.len(), 2);
    assert!(decisions.iter().any(|(t, c)| t.serial == 1 && *c));
    assert!(decisions.iter().any(|(t, c)| t.serial == 2 && !*c));
}

#[test]
fn nonsense_parameters_are_refused_at_load() {
    let mut c = Config::default();
    c.txn.mops_max = 1;
    assert_eq!(TwoPc::check_config(&c, 3).unwrap_err().field, "mops_max");
    let mut c = Config::default();
    c.txn.keys = 0;
    assert_eq!(TwoPc::check_config(&c, 3).unwrap_err().field, "keys");
    assert!(TwoPc::check_config(&Config::default(), 3).is_ok());
}
