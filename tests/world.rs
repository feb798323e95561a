//! The world as a value: a clone taken mid-run, given the same actions as the original,
//! ends in the same state and writes the same records; the enabled actions of a world are
//! what a driver may choose; and the discrete-event driver is one driver among others (the
//! scripted one drives the same world).

use faultline::base::rng::{Rng, Stream};
use faultline::base::types::{ClientId, NodeId, Time};
use faultline::faults::Fault;
use faultline::protocol::{Protocol, RequestId, WorkloadConfig};
use faultline::protocols::raft::{Op, Raft, Role, Timer};
use faultline::script::Script;
use faultline::trace::{Origin, Recorder};
use faultline::world::{Action, Collect, Env, World};

/// Picks the next action from what the world enables, with an occasional crash or restart,
/// deterministically from `rng`.
fn pick<P: Protocol>(world: &World<P>, rng: &mut Rng) -> Option<Action<P>> {
    let enabled = world.enabled();
    let roll = rng.below(100);
    if roll < 3 {
        let n = NodeId(rng.below(u64::from(world.nodes())) as u32);
        let fault = match world.status(n) {
            faultline::check::Status::Down => Fault::Restart(n),
            _ => Fault::Crash(n),
        };
        return Some(Action::Fault(fault, Origin::Schedule));
    }
    // Deliveries mostly, losses and duplicates now and then.
    let choices: Vec<&Action<P>> = enabled
        .iter()
        .filter(|a| match a {
            Action::Drop(_) | Action::Duplicate(_) => roll < 8,
            _ => true,
        })
        .collect();
    if choices.is_empty() {
        return None;
    }
    Some(choices[rng.index(choices.len())].clone())
}

fn apply<P: Protocol>(world: &mut World<P>, recorder: &mut Recorder, action: Action<P>) {
    let now = world.now();
    world.advance(now.add(Time::from_ms(1)));
    let mut driver = Collect::default();
    world
        .apply(
            action,
            &mut Env {
                driver: &mut driver,
                recorder,
            },
        )
        .expect("raft does not fail");
}

fn state(world: &World<Raft>) -> String {
    let mut s = String::new();
    for n in 0..world.nodes() {
        let n = NodeId(n);
        s.push_str(&format!(
            "{n}: {:?} {:?} store={:?}\n",
            world.status(n),
            world.node(n),
            world.hosts()[n.index()].store().records()
        ));
    }
    s.push_str(&format!("{:?}\n", world.network().stats()));
    s
}

#[test]
fn a_clone_given_the_same_actions_ends_the_same() {
    let workload = WorkloadConfig {
        clients: 1,
        ..WorkloadConfig::default()
    };
    let config = <Raft as Protocol>::Config::default();
    let mut world = World::<Raft>::new(7, 3, &config, &workload, &[], &[]);
    let mut recorder = Recorder::new(None);
    let mut rng = Rng::new(7, Stream::Workload);
    for i in 0..3 {
        apply(&mut world, &mut recorder, Action::Start(NodeId(i)));
    }
    // Elect a leader quickly, then let the actions wander.
    let mut steps = 0;
    while steps < 400 {
        let Some(a) = pick(&world, &mut rng) else {
            break;
        };
        apply(&mut world, &mut recorder, a);
        steps += 1;
    }
    let mut copy = world.clone();
    assert_eq!(state(&copy), state(&world), "a clone starts equal");
    let (mut r1, mut r2) = (Recorder::new(None), Recorder::new(None));
    let mut applied = 0;
    for i in 0..600u64 {
        let a = match pick(&world, &mut rng) {
            Some(a) => a,
            // Nothing in flight and no timer: send a client request to keep it moving.
            None => Action::Request {
                client: ClientId(0),
                to: NodeId((i % 3) as u32),
                id: RequestId(i),
                request: Op::Put {
                    key: "k".into(),
                    value: i.to_string(),
                },
            },
        };
        apply(&mut world, &mut r1, a.clone());
        apply(&mut copy, &mut r2, a);
        applied += 1;
    }
    assert_eq!(applied, 600);
    assert_eq!(state(&copy), state(&world));
    assert_eq!(r1.fingerprint(), r2.fingerprint());
    assert_eq!(r1.records(), r2.records());
    assert!(r1.records() > 600, "the actions did something");
    // And the two are not trivially equal: the original went on from where it was.
    assert_ne!(r1.fingerprint(), recorder.fingerprint());
}

#[test]
fn enabled_actions_follow_the_world() {
    let config = <Raft as Protocol>::Config::default();
    let workload = WorkloadConfig::default();
    let mut world = World::<Raft>::new(1, 3, &config, &workload, &[], &[NodeId(2)]);
    // Nodes not started (but the permanently down one) can start; nothing else yet.
    let enabled = world.enabled();
    assert_eq!(enabled.len(), 2, "{enabled:?}");
    assert!(
        enabled
            .iter()
            .all(|a| matches!(a, Action::Start(n) if n.0 < 2))
    );
    let mut recorder = Recorder::new(None);
    apply(&mut world, &mut recorder, Action::Start(NodeId(0)));
    // n1 armed its election timer; n2 can still start.
    let enabled = world.enabled();
    assert!(enabled.iter().any(|a| matches!(a, Action::Fire(_))));
    assert!(
        enabled
            .iter()
            .any(|a| matches!(a, Action::Start(NodeId(1))))
    );
    // Firing it makes n1 a candidate whose vote requests are in flight: each can be
    // delivered, lost or duplicated.
    let fire = enabled
        .into_iter()
        .find(|a| matches!(a, Action::Fire(_)))
        .unwrap();
    apply(&mut world, &mut recorder, fire);
    assert_eq!(world.node(NodeId(0)).unwrap().role(), Role::Candidate);
    let in_flight = world.in_flight().count();
    assert_eq!(in_flight, 2, "a vote request to each peer");
    let enabled = world.enabled();
    for kind in ["Deliver", "Drop", "Duplicate"] {
        assert_eq!(
            enabled
                .iter()
                .filter(|a| format!("{a:?}").starts_with(kind))
                .count(),
            2,
            "{kind}: {enabled:?}"
        );
    }
}

#[test]
fn the_scripted_driver_moves_the_same_world() {
    let mut s = Script::<Raft>::new(3);
    s.start_all().unwrap();
    assert_eq!(s.armed(NodeId(0)), vec![&Timer::Election]);
    s.fire(NodeId(1), &Timer::Election).unwrap();
    assert_eq!(s.messages().len(), 2, "two vote requests");
    s.stabilize().unwrap();
    assert_eq!(s.node(NodeId(1)).unwrap().role(), Role::Leader);
    assert!(s.messages().is_empty());
    // A timer that is not armed cannot fire.
    let err = s.fire(NodeId(1), &Timer::Election).unwrap_err();
    assert!(err.to_string().contains("no Election timer armed"), "{err}");
}
