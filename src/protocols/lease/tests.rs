//! The lease protocol step by step, with the scripted driver: a grant and a write, a stale
//! write fenced out (and let in without fencing), a restarted grantor's grace, and a token
//! counter that was not durable.

use super::{Bugs, Config, GRANTOR, Lease, RESOURCE, Timer};
use crate::base::types::{NodeId, Time};
use crate::script::{Script, ScriptError};

const N3: NodeId = NodeId(2);
const N4: NodeId = NodeId(3);

fn script(bugs: Bugs) -> Script<Lease> {
    let config = Config {
        bugs,
        ..Config::default()
    };
    let mut s = Script::with_params(4, config);
    s.start_all().unwrap();
    s
}

/// `holder` asks, and every message goes round until none is left.
fn acquire(s: &mut Script<Lease>, holder: NodeId) -> Result<(), ScriptError> {
    s.fire(holder, &Timer::Ask)?;
    s.stabilize().map(drop)
}

/// `holder`'s piece of work in progress ends, and its write goes to the resource.
fn write(s: &mut Script<Lease>, holder: NodeId) -> Result<(), ScriptError> {
    s.fire(holder, &Timer::Work)?;
    s.stabilize().map(drop)
}

fn token(s: &Script<Lease>, n: NodeId) -> Option<u64> {
    s.node(n).unwrap().held_token()
}

#[test]
fn the_margin_covers_opposite_drifts() {
    // 1000 ms × 0.9 / 1.1, rounded down to the microsecond.
    assert_eq!(Config::default().hold(), Time::from_us(818_181));
    let none = Config {
        drift_margin_ppm: 0,
        ..Config::default()
    };
    assert_eq!(none.hold(), Time::from_ms(1_000));
}

#[test]
fn a_holder_gets_a_token_and_its_writes_are_applied() {
    let mut s = script(Bugs::default());
    acquire(&mut s, N3).unwrap();
    assert_eq!(token(&s, N3), Some(1));
    assert_eq!(s.node(GRANTOR).unwrap().granted(), Some((N3, 1)));
    let synced = s.world().hosts()[0].store().synced_cell("counter");
    assert_eq!(
        synced,
        Some(&super::Record::Counter(1)),
        "durable before the grant"
    );
    // n4 is refused while n3's lease runs.
    acquire(&mut s, N4).unwrap();
    assert_eq!(token(&s, N4), None);
    write(&mut s, N3).unwrap();
    write(&mut s, N3).unwrap();
    assert_eq!(s.node(RESOURCE).unwrap().applied_writes(), (2, 1));
}

/// n3 holds token 1 and starts a piece of work; it stalls past its lease; n4 gets token 2 and
/// writes; then n3's write under token 1 arrives.
fn stale_write(bugs: Bugs) -> (Script<Lease>, Result<(), ScriptError>) {
    let mut s = script(bugs);
    acquire(&mut s, N3).unwrap();
    assert!(s.armed(N3).contains(&&Timer::Work), "work started");
    s.advance(Time::from_ms(1_100));
    acquire(&mut s, N4).unwrap();
    assert_eq!(token(&s, N4), Some(2));
    write(&mut s, N4).unwrap();
    let r = write(&mut s, N3);
    (s, r)
}

#[test]
fn the_resource_refuses_an_older_token_and_the_stale_holder_lets_go() {
    let (s, r) = stale_write(Bugs::default());
    r.unwrap();
    assert_eq!(s.node(RESOURCE).unwrap().applied_writes(), (1, 2));
    assert_eq!(s.node(RESOURCE).unwrap().rejected_writes(), 1);
    assert_eq!(token(&s, N3), None, "told of token 2, n3 dropped its lease");
}

#[test]
fn without_fencing_the_stale_write_is_applied_and_caught() {
    let (_, r) = stale_write(Bugs {
        no_fencing: true,
        ..Bugs::default()
    });
    let Err(ScriptError::Failed(f)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(f.check, "fenced_writes");
    assert_eq!(
        f.message,
        "n2 applied a write with token 1 after one with token 2"
    );
}

#[test]
fn a_restarted_grantor_waits_a_lease_before_granting() {
    let mut s = script(Bugs::default());
    acquire(&mut s, N3).unwrap();
    s.advance(Time::from_ms(600));
    s.crash(GRANTOR).unwrap();
    s.restart(GRANTOR).unwrap(); // grace until 1.6 s
    s.advance(Time::from_ms(500)); // n3's lease is over (818 ms); the grace is not
    acquire(&mut s, N4).unwrap();
    assert_eq!(token(&s, N4), None, "denied during the grace");
    s.advance(Time::from_ms(600));
    acquire(&mut s, N4).unwrap();
    assert_eq!(token(&s, N4), Some(2), "the counter survived the restart");
}

#[test]
fn a_counter_that_was_not_synced_goes_back_on_restart() {
    let mut s = script(Bugs {
        token_not_durable: true,
        ..Bugs::default()
    });
    acquire(&mut s, N3).unwrap();
    s.crash(GRANTOR).unwrap();
    let Err(ScriptError::Failed(f)) = s.restart(GRANTOR) else {
        panic!("the restart shows the counter back at 0")
    };
    assert_eq!(f.check, "token_never_goes_back");
}

#[test]
fn fewer_than_three_nodes_are_refused() {
    use crate::protocol::Protocol;
    let e = Lease::check_config(&Config::default(), 2).unwrap_err();
    assert!(
        e.field.is_empty(),
        "reported at the scenario's nodes: {e:?}"
    );
    assert!(e.why.contains("at least 3 nodes"), "{e:?}");
    assert!(Lease::check_config(&Config::default(), 3).is_ok());
}
