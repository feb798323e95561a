//! The trace tells the truth: what a node's annotations say (its role, its epoch, its
//! progress, as `explain`, the viewer and the role aims read them) is what its state is.
//!
//! A protocol annotates by hand (`ctx.annotate(KEY, VALUE)`) wherever its state changes; a
//! forgotten or wrong annotation changes no decision of the protocol, so no safety check
//! sees it, but a student reading the trace sees a node in a role it is not in. The
//! protocol gives, for each annotation key it vouches for, the value its state implies
//! (`None`: no claim at this moment, e.g. a volatile counter not rebuilt yet after a
//! restart), and the monitor compares it with the node's last annotation of that key after
//! every step that touched the node. A key never annotated says nothing, except that a node
//! key (a leader) never annotated says "no node", as the viewer shows it. Paxos (`annotations_match_state`: role, ballot,
//! decided, chosen) and Multi-Paxos (role, leader, chosen prefix) use it.
//!
//! A monitor without memory: it looks only at the node a step touched, and only at nodes
//! that are up (a down node's last annotations stay as they were).

use super::touched;
use crate::check::{Failure, Monitor, Param, Trigger, View};
use crate::protocol::{Protocol, Value};
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

/// What a node's annotations must say (see the module docs). `F` gives, for a node's state
/// and one of `keys`, the value the last annotation of that key must have, or `None` for no
/// claim. `F` is called directly, not through a pointer.
pub struct Annotations<P, F> {
    keys: &'static [&'static str],
    expected: Param<F>,
    protocol: PhantomData<fn(&P)>,
}

impl<P, F: Copy> Clone for Annotations<P, F> {
    fn clone(&self) -> Self {
        Annotations {
            keys: self.keys,
            expected: Param(self.expected.0),
            protocol: PhantomData,
        }
    }
}

/// No memory: nothing to fingerprint.
impl<P, F> Hash for Annotations<P, F> {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

impl<P: Protocol, F: Fn(&P, &'static str) -> Option<Value>> Annotations<P, F> {
    /// The keys the protocol vouches for, and the value each must have.
    pub fn new(keys: &'static [&'static str], expected: F) -> Annotations<P, F> {
        Annotations {
            keys,
            expected: Param(expected),
            protocol: PhantomData,
        }
    }
}

/// How many keys [`Annotations`] matches in one pass over a node's annotations; keys after
/// these are looked up one by one.
const KEYS_MAX: usize = 16;

/// A value as the trace shows it.
fn shown(v: Option<&Value>) -> String {
    match v {
        None => "nothing".to_string(),
        Some(Value::Int(i)) => i.to_string(),
        Some(Value::Word(w)) => (*w).to_string(),
        Some(Value::Node(Some(n))) => n.to_string(),
        Some(Value::Node(None)) => "-".to_string(),
        Some(Value::Text(t)) => format!("{t:?}"),
    }
}

impl<P: Protocol, F> Monitor<P> for Annotations<P, F>
where
    F: Fn(&P, &'static str) -> Option<Value> + Copy + 'static,
{
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        for node in touched(view) {
            let Some(state) = view.node(node) else {
                continue;
            };
            if !view.is_up(node) {
                continue;
            }
            // One pass over what the node annotated, matching each entry to a key by the
            // key's identity (a protocol and its checks name a key with one literal): a
            // handful of pointer comparisons per step instead of a string search per key.
            // A key not matched that way is looked up by its text below.
            let mut said = [None; KEYS_MAX];
            let mut matched = 0u32;
            if self.keys.len() <= KEYS_MAX {
                for (k, v) in view.annotations(node) {
                    let same = |key: &&str| key.as_ptr() == k.as_ptr() && key.len() == k.len();
                    if let Some(i) = self.keys.iter().position(same) {
                        said[i] = Some(v);
                        matched |= 1 << i;
                    }
                }
            }
            for (i, &key) in self.keys.iter().enumerate() {
                let Some(want) = (self.expected)(state, key) else {
                    continue;
                };
                let said = if i < KEYS_MAX && matched & (1 << i) != 0 {
                    said[i]
                } else {
                    view.annotation_by_text(node, key)
                };
                // A node key never annotated reads as "no node", as the viewer shows it.
                let same = match said {
                    Some(v) => *v == want,
                    None => want == Value::Node(None),
                };
                if !same {
                    return Err(lies(node, key, said, &want));
                }
            }
        }
        Ok(())
    }
}

/// The failure, built off the hot path.
#[cold]
#[inline(never)]
fn lies(
    node: crate::base::types::NodeId,
    key: &str,
    said: Option<&Value>,
    want: &Value,
) -> Failure {
    Failure::new(
        format!(
            "{node}'s trace says {key} = {}, but its state says {key} = {}",
            shown(said),
            shown(Some(want))
        ),
        vec![node],
    )
}

#[cfg(test)]
mod tests {
    use super::super::toy::{Act, at, crash, expect_always, fails, passes, restart, run};

    #[test]
    fn an_annotation_must_say_what_the_state_is() {
        // Annotated at each change, across a restart (no claim while the count is 0 again).
        let honest = run(
            2,
            &[
                at(100, 0, Act::Count(5)),
                at(200, 0, Act::Count(7)),
                at(400, 0, Act::Count(2)),
            ],
            &[crash(250, 0), restart(300, 0)],
            &[expect_always("count_shown")],
        );
        passes(&honest);
        // A change the node does not annotate: the trace still says 5.
        let lying = run(
            2,
            &[at(100, 1, Act::Count(5)), at(200, 1, Act::Quiet(6))],
            &[],
            &[expect_always("count_shown")],
        );
        let f = fails(&lying, "count_shown");
        assert_eq!(
            f.message,
            "n2's trace says count = 5, but its state says count = 6"
        );
        assert_eq!(f.nodes, [crate::base::types::NodeId(1)]);
        assert_eq!(f.time, crate::base::types::Time::from_ms(200));
        // Never annotated at all.
        let silent = run(
            1,
            &[at(100, 0, Act::Quiet(3))],
            &[],
            &[expect_always("count_shown")],
        );
        let f = fails(&silent, "count_shown");
        assert_eq!(
            f.message,
            "n1's trace says count = nothing, but its state says count = 3"
        );
    }
}
