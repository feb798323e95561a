//! A world's state as one 64-bit fingerprint, for the explorer's table of states seen.
//!
//! What is hashed is what decides what can happen next: per node its status, its protocol
//! state (through the protocol's [`Explorable`] hash), its store (current image and unsynced
//! writes), the names of its armed timers, its held events, its last annotations and the
//! position of its random stream; per client the same, with its open operation; the copies
//! in flight; the cut links; the client history. What is left out differs between equal
//! states reached by different paths and decides nothing: slot numbers, message ids, timer
//! generations, incarnation counters, statistics, the step number and true time (node
//! clocks are frozen under the explorer, so no handler reads it; the history keeps only the
//! real-time order of its operations, which is what the history check reads).

use super::{ClientHost, NodeHost, World};
use crate::base::hash::StableHasher;
use crate::check::Status;
use crate::protocol::{Explorable, Protocol};
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;

/// Whether the order of copies on one link is part of the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkOrder {
    /// Copies in flight are a multiset: any may arrive first.
    Unordered,
    /// Each link delivers in send order: the sequence per link is the state.
    PerLink,
}

/// Buffers a fingerprint reuses, so hashing a state allocates nothing once warm.
#[derive(Debug, Default)]
pub struct Scratch {
    copies: Vec<(u64, u64, u64)>,
}

fn status_code(s: Status) -> u8 {
    match s {
        Status::Up => 0,
        Status::Paused => 1,
        Status::Down => 2,
    }
}

/// A host's hash, computed once per version of the host (copies of a world share hosts an
/// action did not change, and with them this cache). Never 0, which means "unknown".
fn host_digest<P: Protocol>(host: &NodeHost<P>, ex: &Explorable<P>) -> u64 {
    let cached = host.digest.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    let mut h = StableHasher::default();
    h.write_u8(status_code(host.status));
    h.write_u8(u8::from(host.booted));
    if let Some(p) = &host.proto {
        (ex.node)(p, &mut h);
    }
    host.store.hash_state(&mut h);
    h.write_usize(host.timers.len());
    for timer in host.timers.keys() {
        timer.hash(&mut h);
    }
    host.held.hash(&mut h);
    if let Some(c) = &host.clocks {
        c.hash(&mut h); // only for nodes that use the clock service: other hashes stay put
    }
    h.write_usize(host.annotations.len());
    for (k, v) in &host.annotations {
        h.text(k);
        v.hash(&mut h);
    }
    h.write_u128(host.rng.position());
    let d = h.finish() | 1;
    host.digest.store(d, Ordering::Relaxed);
    d
}

/// A client's hash, cached like a host's.
fn client_digest<P: Protocol>(c: &ClientHost<P>, ex: &Explorable<P>) -> u64 {
    let cached = c.digest.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    let mut h = StableHasher::default();
    (ex.client)(&c.logic, &mut h);
    h.write_u128(c.rng.position());
    h.write_u64(c.process);
    h.write_usize(c.timers.len());
    for timer in c.timers.keys() {
        h.write_u64(*timer);
    }
    c.open.hash(&mut h);
    c.last_sent.hash(&mut h);
    let d = h.finish() | 1;
    c.digest.store(d, Ordering::Relaxed);
    d
}

impl<P: Protocol> World<P> {
    /// Folds this world's state into `h` (see the module's list of what counts).
    pub fn hash_state(
        &self,
        ex: &Explorable<P>,
        order: LinkOrder,
        scratch: &mut Scratch,
        h: &mut StableHasher,
    ) {
        for host in &self.hosts {
            h.write_u64(host_digest(host, ex));
        }
        for c in &self.clients {
            h.write_u64(client_digest(c, ex));
        }
        let copies = &mut scratch.copies;
        copies.clear();
        for (_, m) in self.msgs.iter() {
            let mut digest = m.digest.load(Ordering::Relaxed);
            if digest == 0 {
                let mut one = StableHasher::default();
                m.from.hash(&mut one);
                m.to.hash(&mut one);
                m.payload.hash(&mut one);
                digest = one.finish() | 1;
                m.digest.store(digest, Ordering::Relaxed);
            }
            // A copy held by a paused receiver is another state than one on the wire.
            let digest = if m.arrived {
                digest.rotate_left(1)
            } else {
                digest
            };
            let (link, id) = match order {
                LinkOrder::Unordered => (0, 0),
                LinkOrder::PerLink => {
                    let a = self.network.vertex(m.from);
                    let b = self.network.vertex(m.to);
                    ((u64::from(a) << 32) | u64::from(b), m.id)
                }
            };
            copies.push((link, id, digest));
        }
        match order {
            LinkOrder::Unordered => copies.sort_unstable_by_key(|c| c.2),
            LinkOrder::PerLink => copies.sort_unstable(),
        }
        h.write_usize(copies.len());
        for (link, _, copy) in copies.iter() {
            h.write_u64(*link);
            h.write_u64(*copy);
        }
        self.network.hash_links(h);
        self.hash_history(h);
    }

    /// The history as the history check reads it: each operation's client, process,
    /// request and outcome in invocation order, and for each completed one how many
    /// operations had been invoked before it completed (which gives the real-time order).
    fn hash_history(&self, h: &mut StableHasher) {
        let ops = self.history.ops();
        h.write_usize(ops.len());
        for op in ops {
            op.client.hash(h);
            h.write_u64(op.process);
            op.request.hash(h);
            op.outcome.hash(h);
            let before = op.completed_at.map_or(u64::MAX, |done| {
                ops.iter().filter(|o| o.invoked_at < done).count() as u64
            });
            h.write_u64(before);
        }
    }
}
