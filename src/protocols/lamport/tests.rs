//! Lamport's mutual exclusion and the clock service, message by message, with the scripted
//! driver: the tie-break, the clocks against the truth, a forgotten merge, and a crash.

use super::{Bugs, Config, Lamport, Request};
use crate::base::types::{ClientId, NodeId};
use crate::protocol::{Causal, RequestId};
use crate::script::{Script, ScriptError};
use crate::sim::SimConfig;

fn script(bugs: Bugs) -> Script<Lamport> {
    let mut c = SimConfig::<Lamport>::new(3, 1);
    c.protocol = Config {
        bugs,
        ..Config::default()
    };
    c.workload.clients = 2;
    let mut s = Script::from_config(c, None).unwrap();
    s.start_all().unwrap();
    s
}

fn clocks(s: &Script<Lamport>, n: u32) -> crate::protocol::LogicalClocks {
    s.world().hosts()[n as usize].clocks().cloned().unwrap()
}

/// Both acquire at once: two requests stamped lamport 1, concurrent by their vectors.
fn both_ask(s: &mut Script<Lamport>) {
    s.request(ClientId(0), NodeId(0), RequestId(1), Request::Acquire)
        .unwrap();
    s.request(ClientId(1), NodeId(1), RequestId(2), Request::Acquire)
        .unwrap();
    s.deliver_where(|e| e.msg().is_none()).unwrap(); // the client requests only
}

#[test]
fn equal_timestamps_are_ordered_by_node_id_and_the_clocks_follow_the_truth() {
    let mut s = script(Bugs::default());
    both_ask(&mut s);
    let (a, b) = (clocks(&s, 0), clocks(&s, 1));
    assert_eq!((a.lamport(), b.lamport()), (1, 1));
    assert_eq!(a.vector().compare(b.vector()), Causal::Concurrent);
    s.stabilize().unwrap();
    let (n1, n2) = (s.node(NodeId(0)).unwrap(), s.node(NodeId(1)).unwrap());
    assert!(n1.inside() && !n2.inside(), "the tie goes to n1");
    for n in 0..3 {
        let c = clocks(&s, n);
        assert_eq!(c.vector(), c.truth(), "n{}", n + 1);
        assert!(c.failure().is_none());
    }
    // n3 never asked, yet its clock counts both requests it received.
    assert!(clocks(&s, 2).vector().get(NodeId(0)) >= 1);
}

#[test]
fn without_the_tie_break_both_enter() {
    let mut s = script(Bugs {
        no_tiebreak: true,
        ..Bugs::default()
    });
    both_ask(&mut s);
    match s.stabilize() {
        Err(ScriptError::Failed(f)) => assert_eq!(f.check, "mutual_exclusion", "{f:?}"),
        other => panic!("expected mutual_exclusion to fail, got {other:?}"),
    }
}

#[test]
fn a_receive_without_observe_fails_happens_before_naming_the_send() {
    let mut s = script(Bugs {
        skip_merge: true,
        ..Bugs::default()
    });
    s.request(ClientId(0), NodeId(0), RequestId(1), Request::Acquire)
        .unwrap();
    match s.stabilize() {
        Err(ScriptError::Failed(f)) => {
            assert_eq!(f.check, crate::protocol::HAPPENS_BEFORE);
            assert!(f.message.contains("n1's vector clock"), "{}", f.message);
            assert!(f.message.contains("it missed n"), "{}", f.message);
        }
        other => panic!("expected happens_before to fail, got {other:?}"),
    }
}

#[test]
fn the_clocks_survive_a_crash() {
    let mut s = script(Bugs::default());
    s.request(ClientId(0), NodeId(2), RequestId(1), Request::Acquire)
        .unwrap();
    s.stabilize().unwrap();
    let before = clocks(&s, 2);
    assert!(before.lamport() > 0);
    s.crash(NodeId(2)).unwrap();
    s.restart(NodeId(2)).unwrap();
    assert_eq!(clocks(&s, 2), before);
}
