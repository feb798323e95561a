//! Fenced writes: a service that takes writes under fencing tokens never applies a write whose
//! token is older than one it has already applied.
//!
//! A lock or lease can be held by two processes at once from the holders' point of view: one
//! paused for longer than its lease (a garbage-collection pause, a stopped virtual machine), or
//! whose clock jumped, still believes it holds while a newer holder has been granted. Fencing
//! moves the safety rule to the service the holders write to: each grant carries a token that
//! only grows (an epoch, a view, a lease number), every write carries its holder's token, and
//! the service refuses a write whose token is below the highest it has seen. Burrows's Chubby
//! (OSDI 2006) calls the token a *sequencer*; Kleppmann's "How to do distributed locking"
//! (2016) calls it a *fencing token*. The property sits on the service's side, so it holds
//! whatever the holders believe.
//!
//! Used by the lease protocol (`fenced_writes`, over its resource node). A primary-backup
//! protocol checks its backups the same way, with the view as the token.
//!
//! A monitor. The accessor gives, for a node, how many writes it has applied so far and the
//! token of the last one. The count may start again from a smaller number after a crash (it
//! counts what the node recovered), so the monitor keeps, per node, the highest token applied
//! across incarnations, and judges each step in which the count went up: the last write's
//! token must not be below that highest. When one step applies several writes, only the last
//! one's token is seen.

use super::touched;
use crate::base::types::NodeId;
use crate::check::{Failure, Monitor, Param, Trigger, View};
use crate::protocol::Protocol;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

/// How to read a node's applied writes, and what the messages call a token.
#[derive(Clone, Copy)]
struct Reading<F> {
    token_word: &'static str,
    applied: F,
}

/// What the monitor knows of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Seen {
    /// The applied count at the node's last look.
    count: u64,
    /// The highest token the node has applied, in any incarnation (`None`: none yet).
    highest: Option<u64>,
}

/// No write applied under a token older than one already applied (see the module docs). `F`
/// reads `(writes applied so far, token of the last one)` from a node's state: a function or
/// a closure without captures, called directly.
pub struct Fenced<P, F> {
    how: Param<Reading<F>>,
    /// Per node, what was seen of it.
    seen: Vec<Option<Seen>>,
    protocol: PhantomData<fn(&P)>,
}

impl<P, F: Copy> Clone for Fenced<P, F> {
    fn clone(&self) -> Self {
        Fenced {
            how: self.how,
            seen: self.seen.clone(),
            protocol: PhantomData,
        }
    }
}

impl<P, F> Hash for Fenced<P, F> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.seen.hash(state);
    }
}

impl<P: Protocol, F: Fn(&P) -> (u64, u64)> Fenced<P, F> {
    /// `token_word` is how messages call a token ("token", "view"); `applied` reads a node's
    /// applied count and the token of its last applied write.
    pub fn new(token_word: &'static str, applied: F) -> Self {
        Fenced {
            how: Param(Reading {
                token_word,
                applied,
            }),
            seen: Vec::new(),
            protocol: PhantomData,
        }
    }
}

/// The failure, built off the hot path.
#[cold]
#[inline(never)]
fn unfenced(node: NodeId, word: &str, token: u64, highest: u64) -> Failure {
    Failure::new(
        format!("{node} applied a write with {word} {token} after one with {word} {highest}"),
        vec![node],
    )
}

impl<P, F> Monitor<P> for Fenced<P, F>
where
    P: Protocol,
    F: Fn(&P) -> (u64, u64) + Copy + 'static,
{
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.seen.len() != n {
            self.seen.resize(n, None);
        }
        for node in touched(view) {
            let Some(state) = view.node(node) else {
                continue;
            };
            let (count, token) = (self.how.applied)(state);
            let seen = &mut self.seen[node.index()];
            match seen {
                None => {
                    // The first look: whatever was applied before is the baseline.
                    *seen = Some(Seen {
                        count,
                        highest: (count > 0).then_some(token),
                    });
                }
                Some(s) if count > s.count => {
                    if let Some(h) = s.highest {
                        if token < h {
                            return Err(unfenced(node, self.how.token_word, token, h));
                        }
                    }
                    s.count = count;
                    s.highest = Some(s.highest.map_or(token, |h| h.max(token)));
                }
                // The same count, or fewer after a restart: nothing new was applied.
                Some(s) => s.count = count,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::toy::{Act, at, crash, expect_always, fails, passes, restart, run};
    use crate::base::types::NodeId;

    #[test]
    fn an_older_token_after_a_newer_one_fails_even_across_a_restart() {
        // n2 applies token 3, then 5; it crashes and comes back counting from nothing (the
        // toy keeps its applied writes in memory), then applies token 4: older than 5.
        let r = run(
            3,
            &[
                at(100, 1, Act::Apply(3)),
                at(150, 1, Act::Apply(5)),
                at(400, 1, Act::Apply(4)),
            ],
            &[crash(200, 1), restart(300, 1)],
            &[expect_always("fenced")],
        );
        let f = fails(&r, "fenced");
        assert_eq!(
            f.message,
            "n2 applied a write with token 4 after one with token 5"
        );
        assert_eq!(f.nodes, [NodeId(1)]);
        // Without the restart too: 5 then 4.
        let r = run(
            2,
            &[at(100, 0, Act::Apply(5)), at(200, 0, Act::Apply(4))],
            &[],
            &[expect_always("fenced")],
        );
        assert_eq!(
            fails(&r, "fenced").message,
            "n1 applied a write with token 4 after one with token 5"
        );
    }

    #[test]
    fn equal_and_rising_tokens_hold_and_nodes_are_judged_apart() {
        // n1 applies 2, 2, 7; n2 applies 3 after n1's 7 (each node has its own highest); a
        // restart that comes back with fewer writes is no write at all.
        let r = run(
            2,
            &[
                at(100, 0, Act::Apply(2)),
                at(110, 0, Act::Apply(2)),
                at(120, 0, Act::Apply(7)),
                at(130, 1, Act::Apply(3)),
                at(400, 0, Act::Apply(7)),
                at(410, 0, Act::Apply(8)),
            ],
            &[crash(200, 0), restart(300, 0)],
            &[expect_always("fenced")],
        );
        passes(&r);
    }
}
