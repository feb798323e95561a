//! Fencing, judged where it matters: on the resource side. No write carrying a token older
//! than one the node has already applied is applied. The token is whatever the protocol
//! fences with: a lease's fencing token, a primary's epoch, a view number.
//!
//! Used by primary-backup (`fenced_writes`: a backup applies nothing from a primary of an
//! older epoch than one it already took writes from, the state it installed at a view
//! change counting as a write of that view) and by the lease service's resource.
//!
//! A monitor: per node it keeps how many writes it saw applied in the node's current
//! incarnation and the highest token among them, across restarts too (a fenced resource must
//! remember the highest token durably, or a restart lets an old writer back in). It looks
//! only at the node a step touched. When several writes are applied in one step, only the
//! last one's token is read: a protocol that applies a batch reports the batch's last token.

use super::touched;
use crate::base::types::NodeId;
use crate::check::{Failure, Monitor, Param, Trigger, View};
use crate::protocol::Protocol;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

/// What the protocol calls its token, and how to read a node's applied writes.
#[derive(Clone, Copy)]
struct Reading<F> {
    token_word: &'static str,
    applied: F,
}

/// No write with a token older than one already applied is applied (see the module docs).
pub struct Fenced<P, F> {
    how: Param<Reading<F>>,
    /// Per node: (incarnation, writes applied in it when last seen, highest token applied
    /// in any incarnation).
    last: Vec<Option<(u32, u64, u64)>>,
    protocol: PhantomData<fn(&P)>,
}

impl<P, F: Copy> Clone for Fenced<P, F> {
    fn clone(&self) -> Self {
        Fenced {
            how: self.how,
            last: self.last.clone(),
            protocol: PhantomData,
        }
    }
}

impl<P, F> Hash for Fenced<P, F> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.last.hash(state);
    }
}

impl<P: Protocol, F: Fn(&P) -> (u64, u64)> Fenced<P, F> {
    /// `token_word` is how messages name the token ("epoch", "token"); `applied` reads a
    /// node's writes applied so far in this incarnation (a count that only grows while the
    /// node is up) and the token of the last one.
    pub fn new(token_word: &'static str, applied: F) -> Fenced<P, F> {
        Fenced {
            how: Param(Reading {
                token_word,
                applied,
            }),
            last: Vec::new(),
            protocol: PhantomData,
        }
    }
}

/// The failure, built off the hot path.
#[cold]
#[inline(never)]
fn unfenced(node: NodeId, word: &str, token: u64, highest: u64) -> Failure {
    Failure::new(
        format!(
            "{node} applied a write with {word} {token} after applying one with {word} {highest}: a write from a deposed writer got through"
        ),
        vec![node],
    )
}

impl<P: Protocol, F> Monitor<P> for Fenced<P, F>
where
    F: Fn(&P) -> (u64, u64) + Copy + 'static,
{
    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.last.len() != n {
            self.last.resize(n, None);
        }
        for node in touched(view) {
            let Some(state) = view.node(node) else {
                continue;
            };
            let (count, token) = (self.how.applied)(state);
            let incarnation = view.incarnation(node);
            let slot = &mut self.last[node.index()];
            let (seen, highest) = match *slot {
                Some((inc, seen, highest)) if inc == incarnation => (seen, highest),
                Some((_, _, highest)) => (0, highest),
                None => (0, 0),
            };
            if count > seen {
                if token < highest {
                    return Err(unfenced(node, self.how.token_word, token, highest));
                }
                *slot = Some((incarnation, count, highest.max(token)));
            } else {
                *slot = Some((incarnation, count, highest));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::toy::{Act, at, crash, expect_always, fails, passes, restart, run};

    // The toy's `fenced` check reads its volatile counter as the writes applied and its
    // durable counter as the last write's token.

    #[test]
    fn a_write_with_an_older_token_fails_and_equal_or_newer_ones_pass() {
        let stale = run(
            2,
            &[
                at(100, 1, Act::Durable(5)),
                at(110, 1, Act::Count(1)),
                at(200, 1, Act::Durable(4)),
                at(210, 1, Act::Count(2)),
            ],
            &[],
            &[expect_always("fenced")],
        );
        let f = fails(&stale, "fenced");
        assert_eq!(
            f.message,
            "n2 applied a write with token 4 after applying one with token 5: a write from a deposed writer got through"
        );
        assert_eq!(f.nodes, [crate::base::types::NodeId(1)]);
        let fresh = run(
            2,
            &[
                at(100, 1, Act::Durable(5)),
                at(110, 1, Act::Count(1)),
                at(210, 1, Act::Count(2)),
                at(300, 1, Act::Durable(7)),
                at(310, 1, Act::Count(3)),
            ],
            &[],
            &[expect_always("fenced")],
        );
        passes(&fresh);
    }

    #[test]
    fn the_highest_token_outlives_a_restart() {
        // Token 5 applied, a restart (the count starts again), then a write with token 3.
        let after = run(
            1,
            &[
                at(100, 0, Act::Durable(5)),
                at(110, 0, Act::Count(1)),
                at(400, 0, Act::Unsynced(3)),
                at(410, 0, Act::Count(1)),
            ],
            &[crash(200, 0), restart(300, 0)],
            &[expect_always("fenced")],
        );
        let f = fails(&after, "fenced");
        assert!(
            f.message
                .contains("token 3 after applying one with token 5"),
            "{}",
            f.message
        );
    }
}
