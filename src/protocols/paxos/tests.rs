//! Paxos's nodes, message by message, with the scripted driver: the rules of "Paxos Made
//! Simple" §2.2-2.3 one at a time, and what each bug switch breaks.

use super::{Ballot, Bugs, Config, Msg, Paxos, Phase, Proposal, Request, Response};
use crate::base::types::{ClientId, Endpoint, NodeId};
use crate::protocol::Outcome;
use crate::script::{Script, ScriptError};
use crate::sim::SimConfig;
use crate::trace::Payload;
use crate::world::Action;

const N1: NodeId = NodeId(0);
const N2: NodeId = NodeId(1);
const N3: NodeId = NodeId(2);

fn script(nodes: u32, bugs: Bugs) -> Script<Paxos> {
    let mut c = SimConfig::<Paxos>::new(nodes, 1);
    c.protocol = Config {
        bugs,
        ..Config::default()
    };
    c.workload.clients = 2;
    let mut s = Script::from_config(c, None).unwrap();
    s.start_all().unwrap();
    s
}

fn ballot(round: u64, node: NodeId) -> Ballot {
    Ballot {
        round,
        node: node.0,
    }
}

/// Client `client` invokes its next operation (so the history records the value it
/// proposes), and its request goes to `node`; returns the value.
fn propose(s: &mut Script<Paxos>, client: u32, node: NodeId) -> i64 {
    let c = ClientId(client);
    s.act(Action::StartClient(c)).unwrap();
    let think = s
        .world()
        .enabled()
        .into_iter()
        .rfind(|a| matches!(a, Action::FireClient(_)))
        .expect("the client's think timer");
    s.act(think).unwrap();
    // The client picked a node at random: its request goes to `node` instead.
    let (id, value) = s
        .messages()
        .iter()
        .find_map(|e| match (e.from, e.payload) {
            (Endpoint::Client(from), Payload::Request { id, body }) if from == c => {
                let (Request::Propose(v) | Request::Put(v)) = body else {
                    return None;
                };
                Some((*id, *v))
            }
            _ => None,
        })
        .expect("the client's request");
    s.drop_where(|e| e.from == Endpoint::Client(c)).unwrap();
    s.request(c, node, id, Request::Propose(value)).unwrap();
    s.deliver_where(|e| matches!(e.payload, Payload::Request { .. }))
        .unwrap();
    value
}

/// Delivers the node-to-node messages in flight that `pred` accepts.
fn deliver(
    s: &mut Script<Paxos>,
    pred: impl Fn(NodeId, NodeId, &Msg) -> bool,
) -> Result<usize, ScriptError> {
    s.deliver_where(|e| match (e.from, e.to, e.msg()) {
        (Endpoint::Node(f), Endpoint::Node(t), Some(m)) => pred(f, t, m),
        _ => false,
    })
}

#[test]
fn a_value_is_chosen_and_learned_in_two_phases() {
    let mut s = script(3, Bugs::default());
    let v = propose(&mut s, 0, N1);
    assert_eq!(s.node(N1).unwrap().ballot(), Some(ballot(1, N1)));
    // The round is durable before the prepare leaves.
    let synced = s.world().hosts()[0].store().synced_cell("round");
    assert_eq!(synced, Some(&super::Record::Round(1)));
    s.stabilize().unwrap();
    for n in [N1, N2, N3] {
        assert_eq!(s.node(n).unwrap().learned(), Some(v), "{n}");
    }
    // The client was answered with the value chosen.
    let op = &s.world().history().ops()[0];
    assert_eq!(op.outcome, Outcome::Ok(Response::Chosen(v)));
}

#[test]
fn an_acceptor_syncs_its_promise_before_it_answers_and_refuses_lower_ballots() {
    let mut s = script(3, Bugs::default());
    propose(&mut s, 0, N2);
    deliver(&mut s, |_, to, m| {
        to == N3 && matches!(m, Msg::Prepare { .. })
    })
    .unwrap();
    assert_eq!(s.node(N3).unwrap().promised(), ballot(1, N2));
    let synced = s.world().hosts()[2].store().synced_cell("promised");
    assert_eq!(synced, Some(&super::Record::Promised(ballot(1, N2))));
    // A prepare of a lower ballot (round 1 of n1 < round 1 of n2) is refused with a nack.
    propose(&mut s, 1, N1);
    deliver(&mut s, |from, to, m| {
        from == N1 && to == N3 && matches!(m, Msg::Prepare { .. })
    })
    .unwrap();
    let nacks = s
        .messages()
        .iter()
        .filter(
            |e| matches!(e.msg(), Some(Msg::Nack { promised, .. }) if *promised == ballot(1, N2)),
        )
        .count();
    assert_eq!(nacks, 1);
}

#[test]
fn without_the_sync_a_crash_takes_a_promise_back() {
    let bugs = Bugs {
        promise_before_sync: true,
        ..Bugs::default()
    };
    let mut s = script(3, bugs);
    propose(&mut s, 0, N1);
    deliver(&mut s, |_, to, m| {
        to == N3 && matches!(m, Msg::Prepare { .. })
    })
    .unwrap();
    assert_eq!(s.node(N3).unwrap().promised(), ballot(1, N1), "promised");
    s.crash(N3).unwrap();
    let err = s.restart(N3).unwrap_err();
    let ScriptError::Failed(f) = err else {
        panic!("{err}")
    };
    assert_eq!(f.check, "promise_monotonic");
}

/// n1's value is accepted by n1 and n2 (a majority of three, so chosen), but no learner
/// hears of it; n3 then runs a higher ballot with n2 and n3 and must adopt n1's value.
fn chosen_then_a_later_ballot(bugs: Bugs) -> Result<(), ScriptError> {
    let mut s = script(3, bugs);
    let first = propose(&mut s, 0, N1);
    deliver(&mut s, |_, to, m| {
        to != N3 && matches!(m, Msg::Prepare { .. })
    })?;
    deliver(&mut s, |_, _, m| matches!(m, Msg::Promise { .. }))?;
    assert_eq!(
        s.node(N1).unwrap().phase(),
        &Phase::Accepting { value: first }
    );
    deliver(&mut s, |_, to, m| {
        to != N3 && matches!(m, Msg::Accept { .. })
    })?;
    assert_eq!(
        s.node(N2).unwrap().accepted(),
        Some(Proposal {
            ballot: ballot(1, N1),
            value: first
        })
    );
    // Every message still in flight is lost: the acceptances never reach a learner.
    s.drop_where(|_| true)?;
    // n3 has seen nothing; its first ballot (1.n3) is above 1.n1.
    let second = propose(&mut s, 1, N3);
    assert_ne!(first, second);
    deliver(&mut s, |_, to, m| {
        to != N1 && matches!(m, Msg::Prepare { .. })
    })?;
    deliver(&mut s, |_, _, m| matches!(m, Msg::Promise { .. }))?;
    deliver(&mut s, |_, to, m| {
        to != N1 && matches!(m, Msg::Accept { .. })
    })?;
    s.stabilize()?;
    for n in [N1, N2, N3] {
        assert_eq!(s.node(n).unwrap().learned(), Some(first), "{n}");
    }
    Ok(())
}

#[test]
fn a_proposer_adopts_the_value_its_promises_report() {
    chosen_then_a_later_ballot(Bugs::default()).unwrap();
}

#[test]
fn ignoring_the_reported_value_chooses_a_second_one() {
    let bugs = Bugs {
        ignore_promised_values: true,
        ..Bugs::default()
    };
    let err = chosen_then_a_later_ballot(bugs).unwrap_err();
    let ScriptError::Failed(f) = err else {
        panic!("{err}")
    };
    assert_eq!(f.check, "agreement");
    assert!(
        f.message.contains("2000001 was chosen in ballot 1.n3"),
        "{}",
        f.message
    );
}

#[test]
fn a_duplicated_promise_counts_once() {
    let mut s = script(5, Bugs::default());
    propose(&mut s, 0, N1);
    deliver(&mut s, |_, to, m| {
        to == N2 && matches!(m, Msg::Prepare { .. })
    })
    .unwrap();
    s.duplicate_where(|e| matches!(e.msg(), Some(Msg::Promise { .. })))
        .unwrap();
    deliver(&mut s, |_, _, m| matches!(m, Msg::Promise { .. })).unwrap();
    assert!(matches!(
        s.node(N1).unwrap().phase(),
        Phase::Preparing { .. }
    ));
    let mut s = script(
        5,
        Bugs {
            count_duplicate_promises: true,
            ..Bugs::default()
        },
    );
    propose(&mut s, 0, N1);
    deliver(&mut s, |_, to, m| {
        to == N1 && matches!(m, Msg::Prepare { .. })
    })
    .unwrap();
    deliver(&mut s, |_, to, m| {
        to == N2 && matches!(m, Msg::Prepare { .. })
    })
    .unwrap();
    s.duplicate_where(|e| matches!(e.msg(), Some(Msg::Promise { .. })))
        .unwrap();
    deliver(&mut s, |_, _, m| matches!(m, Msg::Promise { .. })).unwrap();
    assert!(
        matches!(s.node(N1).unwrap().phase(), Phase::Accepting { .. }),
        "two acceptors counted as three of five"
    );
}

#[test]
fn a_restarted_proposer_starts_above_every_round_it_used() {
    let mut s = script(3, Bugs::default());
    propose(&mut s, 0, N1);
    s.drop_where(|_| true).unwrap();
    s.crash(N1).unwrap();
    s.restart(N1).unwrap();
    propose(&mut s, 1, N1);
    assert_eq!(s.node(N1).unwrap().ballot(), Some(ballot(2, N1)));
}
