//! At most once: no numbered item of a stream is applied twice by one node incarnation.
//!
//! A stream is what one source numbers 1, 2, 3, ... in one of its sessions: the messages a
//! sender's session sends to one receiver over reliable delivery, the requests one client
//! numbers. Each node reports, per stream, a [`Tally`]: how many items it has applied (or
//! delivered) from it in this incarnation, and the highest number among them. Distinct items
//! have distinct numbers from 1, so `applied > highest` means some item came twice.
//!
//! Used by fd (`no_duplicates`: the application messages the reliable-delivery layer hands
//! up, per sender session). A key-value service with client sessions can use it for the
//! requests it applies, once it counts them per client.
//!
//! The tally catches a duplicate the moment it is applied when the stream is applied in
//! order without gaps (which a FIFO check enforces next to it); after a gap, a duplicate
//! shows once the count passes the highest number. An invariant: it reads the tallies as
//! they are now, and keeps nothing.

use super::touched;
use crate::base::types::{Endpoint, NodeId};
use crate::check::{Failure, Invariant, Trigger, View};
use crate::protocol::Protocol;
use std::marker::PhantomData;

/// What one node has applied from one stream, in this incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    /// Who numbers the stream.
    pub source: Endpoint,
    /// The source's session (its incarnation's number, for instance).
    pub session: u64,
    /// Items applied from the stream.
    pub applied: u64,
    /// The highest item number among them.
    pub highest: u64,
}

/// No item applied twice (see the module docs). `T` reports each stream's tally of one node
/// to the function it is given; a function or a closure without captures.
pub struct AtMostOnce<P, T> {
    verb: &'static str,
    noun: &'static str,
    tallies: T,
    protocol: PhantomData<fn(&P)>,
}

impl<P: Protocol, T: Fn(&P, &mut dyn FnMut(Tally))> AtMostOnce<P, T> {
    /// `verb` and `noun` are the protocol's words ("delivered" and "message" make "n3
    /// delivered 5 messages of n1's session 2, numbered 4 at most: one of them twice").
    pub fn new(verb: &'static str, noun: &'static str, tallies: T) -> AtMostOnce<P, T> {
        AtMostOnce {
            verb,
            noun,
            tallies,
            protocol: PhantomData,
        }
    }
}

/// The failure, built off the hot path.
#[cold]
#[inline(never)]
fn twice(n: NodeId, t: Tally, verb: &str, noun: &str) -> Failure {
    let mut nodes = vec![n];
    if let Endpoint::Node(s) = t.source {
        nodes.push(s);
    }
    Failure::new(
        format!(
            "{n} {verb} {} {noun}s of {}'s session {}, numbered {} at most: one of them twice",
            t.applied, t.source, t.session, t.highest,
        ),
        nodes,
    )
}

impl<P: Protocol, T: Fn(&P, &mut dyn FnMut(Tally))> Invariant<P> for AtMostOnce<P, T> {
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        for n in touched(view) {
            let Some(node) = view.node(n) else { continue };
            let mut first = None;
            (self.tallies)(node, &mut |t| {
                if t.applied > t.highest && first.is_none() {
                    first = Some(t);
                }
            });
            if let Some(t) = first {
                return Err(twice(n, t, self.verb, self.noun));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::toy::{Act, at, crash, expect_always, fails, passes, restart, run};
    use crate::base::types::NodeId;

    fn deliver(ms: u64, to: u32, from: u32, session: u64, k: u64) -> super::super::toy::Timed {
        at(ms, to, Act::Deliver { from, session, k })
    }

    #[test]
    fn an_item_delivered_twice_fails() {
        let r = run(
            2,
            &[
                deliver(100, 1, 0, 1, 1),
                deliver(110, 1, 0, 1, 2),
                deliver(120, 1, 0, 1, 2),
            ],
            &[],
            &[expect_always("at_most_once")],
        );
        let f = fails(&r, "at_most_once");
        assert_eq!(
            f.message,
            "n2 delivered 3 messages of n1's session 1, numbered 2 at most: one of them twice"
        );
        assert_eq!(f.nodes, [NodeId(1), NodeId(0)]);
    }

    #[test]
    fn each_session_and_each_incarnation_counts_apart() {
        // The same numbers from a new session of the sender, and again to a restarted
        // receiver: no duplicates.
        let r = run(
            2,
            &[
                deliver(100, 1, 0, 1, 1),
                deliver(110, 1, 0, 1, 2),
                deliver(120, 1, 0, 2, 1),
                deliver(130, 1, 0, 2, 2),
                deliver(400, 1, 0, 2, 1),
                deliver(410, 1, 0, 2, 2),
            ],
            &[crash(200, 1), restart(300, 1)],
            &[expect_always("at_most_once")],
        );
        passes(&r);
    }
}
