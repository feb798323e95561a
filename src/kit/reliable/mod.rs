//! Reliable delivery: a layer any protocol can put under its messages to get each one to the
//! application exactly once, in FIFO order per channel, over a network that loses, delays,
//! duplicates and reorders.
//!
//! The classic recipe, with one lesson about restarts:
//! - **Sequence numbers per channel.** Each (sender, receiver) pair numbers its messages 1, 2, 3...
//! - **Retransmission with backoff.** Unacknowledged messages are sent again when the
//!   channel's retransmission timer fires; the timeout doubles after each silent round (up to
//!   a cap) and resets when an acknowledgement makes progress.
//! - **Cumulative acknowledgements.** The receiver acknowledges the highest sequence number
//!   below which it has delivered everything; out-of-order arrivals wait in a buffer.
//! - **Duplicate suppression** falls out of the above: anything at or below the delivered
//!   mark, or already buffered, is dropped (and acknowledged again, in case the ack was lost).
//! - **Sessions.** A sender numbers from 1 again after a restart, so sequence numbers alone
//!   cannot tell "old duplicate" from "new message". Each sender incarnation therefore has a
//!   session number that only grows (the layer keeps it in its store cell `"session"`, bumped
//!   and synced at every start, before anything is sent); the receiver
//!   resets a channel when a newer session appears and drops anything from older ones. The bug
//!   switch `dedup_seq_only` ignores sessions, and a restarted sender's first messages are
//!   taken for duplicates and silently dropped.
//!
//! Exactly-once holds per receiver incarnation: a receiver that crashes forgets what it
//! delivered, and its application state with it. Acknowledgements carry the receiver's own
//! session, so when a sender learns that its peer restarted it renumbers what is still
//! outstanding from 1 for the new incarnation (what the old one acknowledged is not resent);
//! without that, the new incarnation would wait forever for sequence numbers it never saw.
//! Data is delivered only when addressed to the receiver's current session: a copy sent
//! before the sender knew any session of ours could be a long-delayed one an earlier
//! incarnation already delivered (swarm testing found exactly that), so the first contact
//! costs one round trip in which the receiver only introduces itself.
//!
//! The layer is a [`Component`]: a host protocol keeps a [`Reliable`] as a field, wraps
//! [`Wire`] in one of its messages, [`Retransmit`] in one of its timers and [`Record`] in one
//! of its records (a [`Mount`](crate::kit::component::Mount)), calls [`Reliable::send`]
//! through the mount, and gets every message the layer delivers back as a [`Delivery`]
//! output. fd is the host today. Owns the channels and the session cell; must not know its
//! host.

use crate::kit::component::{CompCtx, Component};
use crate::protocol::{NodeId, Time};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

mod checks;

/// The store cell that holds the layer's session.
pub const SESSION_CELL: &str = "session";

/// What the layer puts on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Wire<M> {
    /// One application message.
    Data {
        /// The sender's session (incarnation) number.
        session: u64,
        /// The receiver's session as the sender last heard it (0: not heard yet).
        to_session: u64,
        /// Position in the channel, from 1.
        seq: u64,
        /// The application message.
        msg: M,
    },
    /// "I have delivered everything of your session up to `seq`."
    Ack {
        /// The session acknowledged.
        session: u64,
        /// The acknowledging receiver's own session.
        from_session: u64,
        /// Highest sequence number delivered in order.
        seq: u64,
    },
}

/// The layer's timer: retransmit on the channel to this peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Retransmit(pub NodeId);

/// What the layer keeps in its store cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// The session number, bumped and synced on every start (cell [`SESSION_CELL`]).
    Session(u64),
}

/// A message the layer hands to its host: from this peer, exactly once and in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery<M> {
    /// The sender.
    pub from: NodeId,
    /// The message.
    pub msg: M,
}

/// Retransmission parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReliableConfig {
    /// First retransmission timeout, milliseconds.
    pub rto_ms_min: u64,
    /// Cap on the doubled timeout, milliseconds.
    pub rto_ms_max: u64,
    /// Most messages resent per channel per timeout (a window, so a long outage does not
    /// end in a burst of thousands).
    pub resend_max: usize,
    /// Bug switch: deduplicate on sequence numbers only, ignoring sessions.
    pub dedup_seq_only: bool,
}

impl Default for ReliableConfig {
    fn default() -> Self {
        ReliableConfig {
            rto_ms_min: 50,
            rto_ms_max: 1_600,
            resend_max: 32,
            dedup_seq_only: false,
        }
    }
}

#[derive(Clone, Debug)]
struct Outgoing<M> {
    /// The receiver's session, learned from its acknowledgements (0: not yet).
    peer_session: u64,
    next_seq: u64,
    unacked: VecDeque<(u64, M)>,
    rto_ms: u64,
}

#[derive(Clone, Debug)]
struct Incoming<M> {
    session: u64,
    delivered: u64,
    buffer: BTreeMap<u64, M>,
}

/// A point in one channel's numbering: a session, then a sequence number within it (ordered
/// so, and shown `session/seq`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position {
    /// The session.
    pub session: u64,
    /// The sequence number.
    pub seq: u64,
}

/// Counters, per node incarnation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReliableStats {
    /// Data messages sent for the first time.
    pub sent: u64,
    /// Data messages sent again.
    pub retransmitted: u64,
    /// Arrivals dropped as duplicates.
    pub duplicates_dropped: u64,
    /// Arrivals from an older session, dropped.
    pub stale_dropped: u64,
    /// Messages handed to the application.
    pub delivered: u64,
}

/// The reliable-delivery state of one node incarnation.
#[derive(Clone, Debug)]
pub struct Reliable<M> {
    session: u64,
    config: ReliableConfig,
    out: Vec<Outgoing<M>>,
    inc: Vec<Incoming<M>>,
    stats: ReliableStats,
}

impl<M: Clone + std::fmt::Debug> Component for Reliable<M> {
    type Msg = Wire<M>;
    type Timer = Retransmit;
    type Record = Record;
    type Output = Delivery<M>;

    /// First boot: session 1.
    fn on_start(&mut self, cx: &mut CompCtx<'_, Self>) {
        self.begin(cx, 1);
    }

    /// After a crash: one more than the last synced session.
    fn on_recover(&mut self, cx: &mut CompCtx<'_, Self>) {
        let last = match cx.cell(SESSION_CELL) {
            Some(Record::Session(s)) => s,
            None => 0,
        };
        self.begin(cx, last + 1);
    }

    /// Handles what arrived from `from`.
    fn on_message(&mut self, cx: &mut CompCtx<'_, Self>, from: NodeId, wire: Wire<M>) {
        match wire {
            Wire::Data {
                session,
                to_session,
                seq,
                msg,
            } => self.on_data(cx, from, (session, to_session, seq), msg),
            Wire::Ack {
                session,
                from_session,
                seq,
            } => self.on_ack(cx, from, session, from_session, seq),
        }
    }

    /// The retransmission timer of the channel to a peer fired: resend the oldest
    /// outstanding messages and back off.
    fn on_timer(&mut self, cx: &mut CompCtx<'_, Self>, Retransmit(to): Retransmit) {
        let ch = &mut self.out[to.index()];
        if ch.unacked.is_empty() {
            return;
        }
        for (seq, msg) in ch.unacked.iter().take(self.config.resend_max) {
            self.stats.retransmitted += 1;
            let data = Wire::Data {
                session: self.session,
                to_session: ch.peer_session,
                seq: *seq,
                msg: msg.clone(),
            };
            cx.send(to, data);
        }
        ch.rto_ms = (ch.rto_ms * 2).min(self.config.rto_ms_max.max(1));
        cx.set_timer(Retransmit(to), Time::from_ms(ch.rto_ms));
    }
}

impl<M: Clone + std::fmt::Debug> Reliable<M> {
    /// The layer for a node in a cluster of `nodes`, built with its host on every boot. It
    /// has no session until [`Component::on_start`] or [`Component::on_recover`] gives it one.
    pub fn new(nodes: u32, config: ReliableConfig) -> Self {
        let rto = config.rto_ms_min.max(1);
        Reliable {
            session: 0,
            out: (0..nodes)
                .map(|_| Outgoing {
                    peer_session: 0,
                    next_seq: 1,
                    unacked: VecDeque::new(),
                    rto_ms: rto,
                })
                .collect(),
            inc: (0..nodes)
                .map(|_| Incoming {
                    session: 0,
                    delivered: 0,
                    buffer: BTreeMap::new(),
                })
                .collect(),
            config,
            stats: ReliableStats::default(),
        }
    }

    /// Takes session `session` and makes it durable before anything is sent under it.
    fn begin(&mut self, cx: &mut CompCtx<'_, Self>, session: u64) {
        self.session = session;
        cx.write_cell(SESSION_CELL, Record::Session(session));
        cx.sync();
    }

    /// Turns the `dedup_seq_only` mistake on or off from now on (a protocol taking new bug
    /// switches while running).
    pub fn set_dedup_seq_only(&mut self, on: bool) {
        self.config.dedup_seq_only = on;
    }

    /// This node's sender session (0 before the layer started).
    pub fn session(&self) -> u64 {
        self.session
    }

    /// Sends `msg` reliably to `to`.
    pub fn send(&mut self, cx: &mut CompCtx<'_, Self>, to: NodeId, msg: M) {
        let ch = &mut self.out[to.index()];
        let seq = ch.next_seq;
        ch.next_seq += 1;
        let first = ch.unacked.is_empty();
        ch.unacked.push_back((seq, msg.clone()));
        self.stats.sent += 1;
        let to_session = ch.peer_session;
        cx.send(
            to,
            Wire::Data {
                session: self.session,
                to_session,
                seq,
                msg,
            },
        );
        if first {
            ch.rto_ms = self.config.rto_ms_min.max(1);
            cx.set_timer(Retransmit(to), Time::from_ms(ch.rto_ms));
        }
    }

    fn on_data(
        &mut self,
        cx: &mut CompCtx<'_, Self>,
        from: NodeId,
        (session, to_session, seq): (u64, u64, u64),
        msg: M,
    ) {
        let me = self.session;
        if to_session != me {
            // Numbered for an earlier incarnation of this node, or for nobody in particular
            // (the sender did not know our session yet: such a copy may be a long-delayed one
            // that an earlier incarnation already delivered, so it cannot be trusted either).
            // Tell the sender who we are now (delivered nothing yet); it numbers for us.
            self.stats.stale_dropped += 1;
            cx.send(
                from,
                Wire::Ack {
                    session,
                    from_session: me,
                    seq: 0,
                },
            );
            return;
        }
        let ch = &mut self.inc[from.index()];
        if !self.config.dedup_seq_only {
            if session < ch.session {
                self.stats.stale_dropped += 1;
                return; // from an incarnation the sender has left behind
            }
            if session > ch.session {
                ch.session = session;
                ch.delivered = 0;
                ch.buffer.clear();
            }
        } else if ch.session == 0 {
            ch.session = session;
        }
        if seq <= ch.delivered || ch.buffer.contains_key(&seq) {
            self.stats.duplicates_dropped += 1;
        } else {
            ch.buffer.insert(seq, msg);
            while let Some(m) = ch.buffer.remove(&(ch.delivered + 1)) {
                ch.delivered += 1;
                self.stats.delivered += 1;
                cx.output(Delivery { from, msg: m });
            }
        }
        // Acknowledge what we have, echoing the session the sender used.
        let ack = Wire::Ack {
            session,
            from_session: me,
            seq: ch.delivered,
        };
        cx.send(from, ack);
    }

    fn on_ack(
        &mut self,
        cx: &mut CompCtx<'_, Self>,
        from: NodeId,
        session: u64,
        from_session: u64,
        seq: u64,
    ) {
        if session != self.session {
            return; // for an earlier incarnation of this node
        }
        let ch = &mut self.out[from.index()];
        if from_session < ch.peer_session {
            return; // from an earlier incarnation of the peer
        }
        if from_session > ch.peer_session {
            let restarted = ch.peer_session != 0;
            ch.peer_session = from_session;
            if !restarted && !ch.unacked.is_empty() {
                // First contact: nothing was delivered (unaddressed data is refused), so send
                // what is outstanding again, now addressed, without waiting for the timer.
                ch.rto_ms = self.config.rto_ms_min.max(1);
                cx.set_timer(Retransmit(from), Time::ZERO);
            }
            if restarted {
                // The peer restarted: number what is outstanding afresh, from 1, and resend now.
                for (i, (s, _)) in ch.unacked.iter_mut().enumerate() {
                    *s = i as u64 + 1;
                }
                ch.next_seq = ch.unacked.len() as u64 + 1;
                ch.rto_ms = self.config.rto_ms_min.max(1);
                if !ch.unacked.is_empty() {
                    cx.set_timer(Retransmit(from), Time::ZERO);
                }
                return;
            }
        }
        let before = ch.unacked.len();
        while ch.unacked.front().is_some_and(|(s, _)| *s <= seq) {
            ch.unacked.pop_front();
        }
        if ch.unacked.len() < before {
            ch.rto_ms = self.config.rto_ms_min.max(1);
            if ch.unacked.is_empty() {
                cx.cancel_timer(Retransmit(from));
            } else {
                cx.set_timer(Retransmit(from), Time::from_ms(ch.rto_ms));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::component::{Act, Detached};

    type A = Act<Wire<u32>, Retransmit>;

    /// One node's layer on a detached context, as a test drives it.
    struct Node {
        r: Reliable<u32>,
        d: Detached<Reliable<u32>>,
    }

    impl Node {
        /// Node `id` of two, in session `session` (recovered from session - 1).
        fn new(id: u32, session: u64, config: ReliableConfig) -> Node {
            let mut d = Detached::new(NodeId(id), 2);
            d.run(|cx| {
                cx.write_cell(SESSION_CELL, Record::Session(session - 1));
                cx.sync();
            });
            let mut r = Reliable::new(2, config);
            d.recover(&mut r);
            d.take();
            assert_eq!(r.session(), session);
            Node { r, d }
        }
        fn send(&mut self, to: NodeId, msg: u32) {
            let r = &mut self.r;
            self.d.run(|cx| r.send(cx, to, msg));
        }
        fn wire(&mut self, from: NodeId, w: Wire<u32>) -> Vec<u32> {
            let out = self.d.message(&mut self.r, from, w);
            out.into_iter().map(|d| d.msg).collect()
        }
        fn timer(&mut self, to: NodeId) {
            self.d.timer(&mut self.r, Retransmit(to));
        }
        fn take(&mut self) -> Vec<A> {
            self.d.take()
        }
        fn sent(&mut self) -> Vec<Wire<u32>> {
            self.take()
                .into_iter()
                .filter_map(|a| match a {
                    Act::Send(_, w) => Some(w),
                    _ => None,
                })
                .collect()
        }
        fn timers(&mut self) -> Vec<Time> {
            self.take()
                .into_iter()
                .filter_map(|a| match a {
                    Act::SetTimer(_, t) => Some(t),
                    _ => None,
                })
                .collect()
        }
    }

    /// What a receiver's first answer does: the sender learns the receiver's session.
    fn introduce(a: &mut Node, bn: NodeId, b_session: u64) {
        a.wire(
            bn,
            Wire::Ack {
                session: 1,
                from_session: b_session,
                seq: 0,
            },
        );
        a.take();
    }

    /// Carries a's sends to b (losing data if told to) and b's answers back; returns what b
    /// delivered.
    fn pump(a: &mut Node, b: &mut Node, an: NodeId, lose_data: bool) -> Vec<u32> {
        let mut delivered = Vec::new();
        for w in a.sent() {
            if !(lose_data && matches!(w, Wire::Data { .. })) {
                delivered.extend(b.wire(an, w));
            }
        }
        let bn = b.d.run(|cx| cx.id()).0;
        for w in b.sent() {
            a.wire(bn, w);
        }
        delivered
    }

    #[test]
    fn the_session_is_bumped_and_synced_at_every_start() {
        let mut d = Detached::new(NodeId(0), 2);
        let mut r: Reliable<u32> = Reliable::new(2, ReliableConfig::default());
        d.start(&mut r);
        assert_eq!(r.session(), 1);
        assert_eq!(d.take(), vec![A::Sync], "synced before anything is sent");
        d.crash();
        let mut r: Reliable<u32> = Reliable::new(2, ReliableConfig::default());
        d.recover(&mut r);
        assert_eq!(r.session(), 2);
        assert_eq!(d.cell(SESSION_CELL), Some(&Record::Session(2)));
    }

    #[test]
    fn delivers_once_in_order_despite_loss_duplicates_and_reordering() {
        let (an, bn) = (NodeId(0), NodeId(1));
        let mut a = Node::new(0, 1, ReliableConfig::default());
        introduce(&mut a, bn, 1);
        let mut b = Node::new(1, 1, ReliableConfig::default());
        a.send(bn, 10);
        a.send(bn, 11);
        assert!(pump(&mut a, &mut b, an, true).is_empty(), "both lost");
        a.timer(bn);
        // Deliver the retransmissions reversed and twice.
        let wires = a.sent();
        let mut got = Vec::new();
        for w in wires.iter().rev().chain(wires.iter()) {
            got.extend(b.wire(an, w.clone()));
        }
        assert_eq!(got, vec![10, 11]);
        assert_eq!(b.r.stats().duplicates_dropped, 2);
        b.take();
        let late = Wire::Data {
            session: 1,
            to_session: 1,
            seq: 2,
            msg: 11,
        };
        assert!(b.wire(an, late).is_empty());
        let ack = Wire::Ack {
            session: 1,
            from_session: 1,
            seq: 2,
        };
        assert_eq!(b.take(), vec![A::Send(an, ack.clone())]);
        a.wire(bn, ack);
        assert_eq!(a.r.outstanding(bn), 0);
        assert!(a.take().contains(&A::CancelTimer(Retransmit(bn))));
    }

    /// Data from session `session` of node 0, addressed to session 1 of its receiver.
    fn data(session: u64, seq: u64, msg: u32) -> Wire<u32> {
        Wire::Data {
            session,
            to_session: 1,
            seq,
            msg,
        }
    }

    #[test]
    fn a_restarted_sender_starts_a_new_session() {
        let an = NodeId(0);
        let mut b = Node::new(1, 1, ReliableConfig::default());
        let mut got = b.wire(an, data(1, 1, 1));
        got.extend(b.wire(an, data(2, 1, 100)));
        got.extend(b.wire(an, data(1, 2, 2)));
        assert_eq!(
            got,
            vec![1, 100],
            "the old session's late message is dropped"
        );
        assert_eq!(b.r.stats().stale_dropped, 1);

        let buggy = ReliableConfig {
            dedup_seq_only: true,
            ..ReliableConfig::default()
        };
        let mut b = Node::new(1, 1, buggy);
        let mut got = b.wire(an, data(1, 1, 1));
        got.extend(b.wire(an, data(2, 1, 100)));
        assert_eq!(
            got,
            vec![1],
            "with the bug, the new incarnation's first message is taken for a duplicate"
        );
    }

    #[test]
    fn a_restarted_receiver_gets_the_outstanding_messages_renumbered() {
        let (an, bn) = (NodeId(0), NodeId(1));
        let mut a = Node::new(0, 1, ReliableConfig::default());
        introduce(&mut a, bn, 1);
        let mut b = Node::new(1, 1, ReliableConfig::default());
        a.send(bn, 1);
        a.send(bn, 2);
        assert_eq!(pump(&mut a, &mut b, an, false), vec![1, 2]);
        a.send(bn, 3);
        a.send(bn, 4);
        a.take(); // lost in flight
        // b restarts as session 2 and knows nothing.
        let mut b = Node::new(1, 2, ReliableConfig::default());
        a.timer(bn);
        assert!(
            pump(&mut a, &mut b, an, false).is_empty(),
            "addressed to the old incarnation: refused"
        );
        assert_eq!(
            a.take(),
            vec![A::SetTimer(Retransmit(bn), Time::ZERO)],
            "renumbered and resent at once"
        );
        a.timer(bn);
        assert_eq!(
            pump(&mut a, &mut b, an, false),
            vec![3, 4],
            "3 and 4 as seq 1 and 2 of the new channel"
        );
        assert_eq!(a.r.outstanding(bn), 0);
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_on_progress() {
        let bn = NodeId(1);
        let cfg = ReliableConfig {
            rto_ms_min: 10,
            rto_ms_max: 35,
            resend_max: 1,
            dedup_seq_only: false,
        };
        let mut a = Node::new(0, 1, cfg);
        introduce(&mut a, bn, 1);
        a.send(bn, 1);
        a.send(bn, 2);
        assert_eq!(a.timers(), vec![Time::from_ms(10)]);
        a.timer(bn);
        assert_eq!(a.r.stats().retransmitted, 1, "a window of one");
        assert_eq!(a.timers(), vec![Time::from_ms(20)]);
        a.timer(bn);
        a.timer(bn);
        assert_eq!(a.timers(), vec![Time::from_ms(35), Time::from_ms(35)]);
        a.wire(
            bn,
            Wire::Ack {
                session: 1,
                from_session: 1,
                seq: 1,
            },
        );
        assert_eq!(a.timers(), vec![Time::from_ms(10)]);
    }

    #[test]
    fn unaddressed_data_is_refused_with_an_introduction_and_then_resent_addressed() {
        let an = NodeId(0);
        let bn = NodeId(1);
        let mut a = Node::new(0, 1, ReliableConfig::default());
        let mut b = Node::new(1, 3, ReliableConfig::default());
        a.send(bn, 7);
        // The first copy carries to_session 0: b delivers nothing and introduces itself.
        assert!(pump(&mut a, &mut b, an, false).is_empty());
        assert_eq!(b.r.stats().stale_dropped, 1);
        // a learned b's session and resends at once (a timer of zero), addressed.
        a.timer(bn);
        assert_eq!(pump(&mut a, &mut b, an, false), vec![7]);
        // A long-delayed unaddressed copy of an old message is never delivered again.
        let old = Wire::Data {
            session: 1,
            to_session: 0,
            seq: 2,
            msg: 99,
        };
        assert!(b.wire(an, old).is_empty());
    }

    #[test]
    fn the_reorder_buffer_holds_only_what_is_ahead_of_delivery() {
        let an = NodeId(0);
        let mut b = Node::new(1, 1, ReliableConfig::default());
        assert_eq!(b.r.lowest_buffered(an), None);
        assert!(b.wire(an, data(1, 2, 20)).is_empty(), "2 waits for 1");
        assert_eq!(b.r.lowest_buffered(an), Some(2));
        assert_eq!(b.wire(an, data(1, 1, 10)), vec![10, 20]);
        assert_eq!(b.r.lowest_buffered(an), None, "both handed up");
        assert!(b.wire(an, data(1, 1, 10)).is_empty(), "a late copy of 1");
        assert_eq!(b.r.lowest_buffered(an), None, "not kept");
        assert_eq!(b.r.receiving(an).seq, 2);
    }
}
