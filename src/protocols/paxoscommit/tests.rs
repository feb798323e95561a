//! Paxos Commit, message by message, with the scripted driver: the fast path, a recovery
//! ballot after the coordinator's crash, the free-instance rule, and each bug switch caught.

use super::consensus::{Ballot, CMsg, Consensus};
use super::{Bugs, Config, Msg, PaxosCommit, Timer};
use crate::base::types::{ClientId, NodeId};
use crate::kit::component::Detached;
use crate::kit::txn::checks::TxnNode;
use crate::kit::txn::{Datum, Knows, Mop, Txn, TxnId, TxnKind};
use crate::protocol::{Protocol, RequestId, Time};
use crate::script::{Script, ScriptError};
use crate::sim::SimConfig;
use crate::trace::Payload;

const N1: NodeId = NodeId(0);
const N2: NodeId = NodeId(1);
const N3: NodeId = NodeId(2);

fn script(bugs: Bugs) -> Script<PaxosCommit> {
    let mut c = SimConfig::<PaxosCommit>::new(3, 1);
    c.protocol = Config {
        bugs,
        ..Config::default()
    };
    c.workload.clients = 1;
    let mut s = Script::from_config(c, None).unwrap();
    s.start_all().unwrap();
    s
}

/// Client c1 (coordinated by n1) appends `value` to each key of `keys` (key k lives on node
/// k mod 3); the request is delivered to n1, which sends its prepares.
fn begin(s: &mut Script<PaxosCommit>, keys: &[u32], value: u64) -> TxnId {
    let mops = keys.iter().map(|&key| Mop::Append { key, value }).collect();
    let txn = Txn {
        kind: TxnKind::ListAppend,
        mops,
    };
    let id = RequestId::of(ClientId(0), 1);
    s.request(ClientId(0), N1, id, txn).unwrap();
    s.deliver_where(|e| matches!(e.payload, Payload::Request { .. }))
        .unwrap();
    TxnId::of(ClientId(0), id)
}

fn is_prepare_to(e: &crate::script::Envelope<'_, PaxosCommit>, to: NodeId) -> bool {
    e.to == crate::protocol::Endpoint::Node(to) && matches!(e.msg(), Some(Msg::Prepare { .. }))
}

fn knows(s: &Script<PaxosCommit>, n: NodeId, t: TxnId) -> Option<Knows> {
    s.node(n).unwrap().participant().knows(t)
}

/// A participant in doubt for longer than recover_ms runs its recovery ballot to the end.
fn recover_at(s: &mut Script<PaxosCommit>, n: NodeId) -> Result<usize, ScriptError> {
    s.advance(Time::from_ms(Config::default().recover_ms + 1));
    s.fire(n, &Timer::Tick)?;
    s.stabilize()
}

#[test]
fn the_fast_path_commits_in_ballot_zero_without_phase_one() {
    let mut s = script(Bugs::default());
    let t = begin(&mut s, &[0, 1, 2], 7);
    s.stabilize().unwrap();
    for n in [N1, N2, N3] {
        let p = s.node(n).unwrap();
        assert_eq!(knows(&s, n, t), Some(Knows::Committed), "{n}");
        let key = n.0;
        assert_eq!(p.participant().get(key), &Datum::List(vec![7]), "{n}");
        assert_eq!(p.outcome(t), Some(true), "{n} logged the outcome");
        assert_eq!(p.max_ballot(), Ballot::ZERO, "{n}: no ballot above zero");
        assert!(p.consensus.slots().is_empty(), "{n} forgot the instances");
    }
    assert_eq!(s.node(N1).unwrap().decisions(), (1, 0, 0));
}

#[test]
fn a_coordinator_crash_after_its_prepares_does_not_block() {
    let mut s = script(Bugs::default());
    // Keys 1 and 2: participants n2 and n3; the coordinator n1 is not one.
    let t = begin(&mut s, &[1, 2], 9);
    s.deliver_where(|e| is_prepare_to(e, N2) || is_prepare_to(e, N3))
        .unwrap();
    s.crash(N1).unwrap();
    s.stabilize().unwrap();
    assert_eq!(knows(&s, N2, t), Some(Knows::Prepared), "in doubt");
    assert_eq!(knows(&s, N3, t), Some(Knows::Prepared), "in doubt");
    recover_at(&mut s, N2).unwrap();
    for n in [N2, N3] {
        assert_eq!(knows(&s, n, t), Some(Knows::Committed), "{n}");
    }
    let (committed, _, by_recovery) = s.node(N2).unwrap().decisions();
    assert_eq!(
        (committed, by_recovery),
        (1, 1),
        "n2 decided, as recovery leader"
    );
    assert!(s.node(N2).unwrap().max_ballot() > Ballot::ZERO);
}

/// n1 coordinates a transaction on n2 and n3, but n3 never receives its prepare; n1 crashes.
fn n3_never_votes(bugs: Bugs) -> (Script<PaxosCommit>, TxnId) {
    let mut s = script(bugs);
    let t = begin(&mut s, &[1, 2], 5);
    s.drop_where(|e| is_prepare_to(e, N3)).unwrap();
    s.deliver_where(|e| is_prepare_to(e, N2)).unwrap();
    s.crash(N1).unwrap();
    s.stabilize().unwrap();
    assert_eq!(knows(&s, N2, t), Some(Knows::Prepared));
    assert_eq!(knows(&s, N3, t), None, "n3 never heard of it");
    (s, t)
}

#[test]
fn a_recovery_leader_aborts_an_instance_no_acceptor_accepted() {
    let (mut s, t) = n3_never_votes(Bugs::default());
    recover_at(&mut s, N2).unwrap();
    assert_eq!(knows(&s, N2, t), Some(Knows::Aborted));
    assert_eq!(
        knows(&s, N3, t),
        Some(Knows::Aborted),
        "n3 refuses it from now on"
    );
    assert_eq!(s.node(N2).unwrap().decisions(), (0, 1, 1));
}

#[test]
fn free_instance_prepared_commits_what_a_participant_never_prepared() {
    let bugs = Bugs {
        free_instance_prepared: true,
        ..Bugs::default()
    };
    let (mut s, _) = n3_never_votes(bugs);
    let Err(ScriptError::Failed(f)) = recover_at(&mut s, N2) else {
        panic!("atomicity should fail");
    };
    assert_eq!(f.check, "atomicity", "{f:?}");
}

#[test]
fn commit_on_majority_commits_without_a_participants_vote() {
    let schedule = |bugs: Bugs| {
        let mut s = script(bugs);
        let t = begin(&mut s, &[0, 1, 2], 4);
        s.drop_where(|e| is_prepare_to(e, N3)).unwrap();
        (s.stabilize(), s, t)
    };
    // Correct: two of three instances chosen, the third never voted: no decision yet.
    let (r, s, t) = schedule(Bugs::default());
    r.unwrap();
    assert_eq!(
        knows(&s, N1, t),
        Some(Knows::Prepared),
        "in doubt, not committed"
    );
    // The mistake: a majority of instances is taken for all of them, and n3 is told to
    // commit what it never prepared.
    let bugs = Bugs {
        commit_on_majority: true,
        ..Bugs::default()
    };
    let (r, _, _) = schedule(bugs);
    let Err(ScriptError::Failed(f)) = r else {
        panic!("atomicity should fail");
    };
    assert_eq!(f.check, "atomicity", "{f:?}");
}

#[test]
fn nonsense_parameters_are_refused_at_load() {
    let mut c = Config::default();
    c.txn.keys = 0;
    assert_eq!(PaxosCommit::check_config(&c, 3).unwrap_err().field, "keys");
    let mut c = Config::default();
    c.txn.mops_max = 1 << 20;
    assert_eq!(
        PaxosCommit::check_config(&c, 3).unwrap_err().field,
        "mops_max"
    );
    let c = Config {
        recover_ms: 0,
        ..Config::default()
    };
    assert_eq!(
        PaxosCommit::check_config(&c, 3).unwrap_err().field,
        "recover_ms"
    );
    assert!(PaxosCommit::check_config(&Config::default(), 3).is_ok());
}

#[test]
fn an_acceptor_that_does_not_sync_forgets_its_promise_in_a_crash() {
    let txn = TxnId {
        client: 0,
        serial: 1,
    };
    let ballot = Ballot { round: 1, node: 0 };
    for forgets in [false, true] {
        let mut d: Detached<Consensus> = Detached::new(N2, 3);
        let mut c = Consensus::default();
        c.bugs.acceptor_not_durable = forgets;
        let rms = vec![N1];
        d.message(&mut c, N1, CMsg::Prepare { txn, rms, ballot });
        assert_eq!(c.max_ballot(), ballot);
        d.crash();
        let mut back = Consensus::default();
        d.recover(&mut back);
        let expected = if forgets { Ballot::ZERO } else { ballot };
        assert_eq!(
            back.max_ballot(),
            expected,
            "acceptor_not_durable: {forgets}"
        );
    }
}
