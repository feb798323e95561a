//! Convergence of replicas: all up replicas hold the same state. Meant as an eventually-check
//! after the heal (with faults over and the clients still working, the replicas must at
//! some point agree), as TigerBeetle's VOPR requires of its liveness phase.
//!
//! Used by Raft (`replicas_converge`: the applied key-value maps) and by the G-Counter
//! example (`examples/gcounter.rs`: the merged vectors). A Dynamo-style store checks its
//! replicas after anti-entropy the same way, a CRDT its merged states.
//!
//! An invariant: it compares the up nodes' states as they are now, and keeps nothing.

use crate::base::types::NodeId;
use crate::check::{Failure, Invariant, Trigger, View};
use crate::protocol::Protocol;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::marker::PhantomData;

/// All up replicas agree (see the module docs). `F` reads a node's state and `D` says where
/// two states differ; functions or closures without captures.
pub struct Convergence<P, S: ?Sized, F, D> {
    what: &'static str,
    state: F,
    difference: D,
    types: PhantomData<fn(&P) -> &S>,
}

impl<P, S, F, D> Convergence<P, S, F, D>
where
    P: Protocol,
    S: ?Sized,
    F: for<'a> Fn(&'a P) -> &'a S,
    D: Fn(&S, &S) -> String,
{
    /// `what` names the state in messages ("applied key-value maps"), `state` reads it, and
    /// `difference` says where two states differ (see [`map_difference`]).
    pub fn new(what: &'static str, state: F, difference: D) -> Convergence<P, S, F, D> {
        Convergence {
            what,
            state,
            difference,
            types: PhantomData,
        }
    }
}

impl<P, S, F, D> Invariant<P> for Convergence<P, S, F, D>
where
    P: Protocol,
    S: PartialEq + ?Sized,
    F: for<'a> Fn(&'a P) -> &'a S,
    D: Fn(&S, &S) -> String,
{
    fn check(&self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        let mut first: Option<(NodeId, &S)> = None;
        for n in view.nodes().filter(|&n| view.is_up(n)) {
            let Some(node) = view.node(n) else { continue };
            let s = (self.state)(node);
            match first {
                None => first = Some((n, s)),
                Some((a, sa)) if sa != s => {
                    return Err(Failure::new(
                        format!(
                            "{a} and {n} differ in their {}: {}",
                            self.what,
                            (self.difference)(sa, s)
                        ),
                        vec![a, n],
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// Longest value shown in a difference; longer ones are cut.
const SHOWN_MAX: usize = 60;

fn show(v: &impl Debug) -> String {
    let s = format!("{v:?}");
    match s.char_indices().nth(SHOWN_MAX) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s,
    }
}

/// The first key on which two maps differ, for [`Convergence`]'s messages: `key "k3": "a"
/// against "ab"`, `key "k3": absent against "a"`.
pub fn map_difference<K: Ord + Debug, V: PartialEq + Debug>(
    a: &BTreeMap<K, V>,
    b: &BTreeMap<K, V>,
) -> String {
    let keys = a.keys().chain(b.keys());
    for k in keys {
        let (x, y) = (a.get(k), b.get(k));
        if x != y {
            let side = |v: Option<&V>| v.map_or_else(|| "absent".to_string(), show);
            return format!("key {}: {} against {}", show(k), side(x), side(y));
        }
    }
    "no key differs".to_string()
}

#[cfg(test)]
mod tests {
    use super::super::toy::{Act, at, crash, expect_eventually, fails, passes, run, run_down};
    use super::map_difference;
    use crate::check::FailureClass;
    use std::collections::BTreeMap;

    #[test]
    fn replicas_that_never_agree_fail_after_the_heal() {
        // n3 holds a different value for key 1 from before the heal (at 1 s) to the end.
        let r = run(
            3,
            &[
                at(100, 0, Act::Set(1, 5)),
                at(100, 1, Act::Set(1, 5)),
                at(100, 2, Act::Set(1, 6)),
            ],
            &[],
            &[expect_eventually("converge")],
        );
        let f = fails(&r, "converge");
        assert_eq!(f.class, FailureClass::Liveness);
        assert!(
            f.message
                .ends_with("n1 and n3 differ in their state: key 1: 5 against 6"),
            "{}",
            f.message
        );
    }

    #[test]
    fn replicas_that_agree_at_some_point_after_the_heal_pass_and_down_ones_do_not_count() {
        // They differ at the heal; n2 catches up at 1.1 s and n3 at 1.3 s. n4 is down for
        // good with a state of its own.
        let r = run_down(
            4,
            &[
                at(100, 0, Act::Set(1, 5)),
                at(100, 1, Act::Set(1, 4)),
                at(100, 3, Act::Set(1, 9)),
                at(1100, 1, Act::Set(1, 5)),
                at(1300, 2, Act::Set(1, 5)),
            ],
            &[crash(200, 3)],
            &[expect_eventually("converge")],
            &[3],
        );
        passes(&r);
        let held = r.checks.iter().find(|c| c.check == "converge").unwrap();
        assert_eq!(held.status, "held at 1.300000s");
    }

    #[test]
    fn map_difference_names_the_first_key_and_cuts_long_values() {
        let a: BTreeMap<&str, String> = [("k1", "x".to_string()), ("k2", "y".repeat(100))].into();
        let mut b = a.clone();
        b.remove("k1");
        assert_eq!(map_difference(&a, &b), "key \"k1\": \"x\" against absent");
        b.insert("k1", "x".to_string());
        b.insert("k2", "z".to_string());
        let d = map_difference(&a, &b);
        assert!(
            d.starts_with("key \"k2\": \"yyyy") && d.ends_with("... against \"z\""),
            "{d}"
        );
        assert_eq!(map_difference(&a, &a), "no key differs");
    }
}
