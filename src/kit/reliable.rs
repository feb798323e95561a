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
//!   session number that only grows (the protocol keeps it in its durable store); the receiver
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
//! The layer is sans-IO: its methods push [`Action`]s into a buffer the protocol drains and
//! turns into `ctx` calls (see [`Reliable::drain`]).

use crate::protocol::{NodeId, Time};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

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

/// What the protocol must do for the layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<M> {
    /// Put this on the wire to `to`.
    Send(NodeId, Wire<M>),
    /// (Re-)arm the retransmission timer of the channel to this peer.
    ArmTimer(NodeId, Time),
    /// Disarm it: nothing is outstanding.
    DisarmTimer(NodeId),
    /// Hand this message, from this peer, to the application.
    Deliver(NodeId, M),
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

/// The reliable-delivery state of one node.
#[derive(Clone, Debug)]
pub struct Reliable<M> {
    session: u64,
    config: ReliableConfig,
    out: Vec<Outgoing<M>>,
    inc: Vec<Incoming<M>>,
    actions: Vec<Action<M>>,
    stats: ReliableStats,
}

impl<M: Clone> Reliable<M> {
    /// The layer for a node in a cluster of `nodes`, in sender session `session` (which must
    /// be larger than any session this node used before).
    pub fn new(nodes: u32, session: u64, config: ReliableConfig) -> Self {
        let rto = config.rto_ms_min.max(1);
        Reliable {
            session,
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
            actions: Vec::new(),
            stats: ReliableStats::default(),
        }
    }

    /// This node's sender session.
    pub fn session(&self) -> u64 {
        self.session
    }

    /// Counters.
    pub fn stats(&self) -> ReliableStats {
        self.stats
    }

    /// Messages sent to `to` and not yet acknowledged.
    pub fn outstanding(&self, to: NodeId) -> usize {
        self.out[to.index()].unacked.len()
    }

    /// Sends `msg` reliably to `to`.
    pub fn send(&mut self, to: NodeId, msg: M) {
        let ch = &mut self.out[to.index()];
        let seq = ch.next_seq;
        ch.next_seq += 1;
        let first = ch.unacked.is_empty();
        ch.unacked.push_back((seq, msg.clone()));
        self.stats.sent += 1;
        let to_session = ch.peer_session;
        self.actions.push(Action::Send(
            to,
            Wire::Data {
                session: self.session,
                to_session,
                seq,
                msg,
            },
        ));
        if first {
            ch.rto_ms = self.config.rto_ms_min.max(1);
            self.actions
                .push(Action::ArmTimer(to, Time::from_ms(ch.rto_ms)));
        }
    }

    /// Handles what arrived from `from`.
    pub fn on_wire(&mut self, from: NodeId, wire: Wire<M>) {
        match wire {
            Wire::Data {
                session,
                to_session,
                seq,
                msg,
            } => self.on_data(from, session, to_session, seq, msg),
            Wire::Ack {
                session,
                from_session,
                seq,
            } => self.on_ack(from, session, from_session, seq),
        }
    }

    fn on_data(&mut self, from: NodeId, session: u64, to_session: u64, seq: u64, msg: M) {
        let me = self.session;
        if to_session != me {
            // Numbered for an earlier incarnation of this node, or for nobody in particular
            // (the sender did not know our session yet: such a copy may be a long-delayed one
            // that an earlier incarnation already delivered, so it cannot be trusted either).
            // Tell the sender who we are now (delivered nothing yet); it numbers for us.
            self.stats.stale_dropped += 1;
            self.actions.push(Action::Send(
                from,
                Wire::Ack {
                    session,
                    from_session: me,
                    seq: 0,
                },
            ));
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
                self.actions.push(Action::Deliver(from, m));
            }
        }
        // Acknowledge what we have, echoing the session the sender used.
        let ack = Wire::Ack {
            session,
            from_session: me,
            seq: ch.delivered,
        };
        self.actions.push(Action::Send(from, ack));
    }

    fn on_ack(&mut self, from: NodeId, session: u64, from_session: u64, seq: u64) {
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
                self.actions.push(Action::ArmTimer(from, Time::ZERO));
            }
            if restarted {
                // The peer restarted: number what is outstanding afresh, from 1, and resend now.
                for (i, (s, _)) in ch.unacked.iter_mut().enumerate() {
                    *s = i as u64 + 1;
                }
                ch.next_seq = ch.unacked.len() as u64 + 1;
                ch.rto_ms = self.config.rto_ms_min.max(1);
                if !ch.unacked.is_empty() {
                    self.actions.push(Action::ArmTimer(from, Time::ZERO));
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
                self.actions.push(Action::DisarmTimer(from));
            } else {
                self.actions
                    .push(Action::ArmTimer(from, Time::from_ms(ch.rto_ms)));
            }
        }
    }

    /// The retransmission timer of the channel to `to` fired: resend the oldest outstanding
    /// messages and back off.
    pub fn on_timer(&mut self, to: NodeId) {
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
            self.actions.push(Action::Send(to, data));
        }
        ch.rto_ms = (ch.rto_ms * 2).min(self.config.rto_ms_max.max(1));
        self.actions
            .push(Action::ArmTimer(to, Time::from_ms(ch.rto_ms)));
    }

    /// Takes the actions produced since the last call, in order.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Action<M>> {
        self.actions.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a receiver's first answer does: the sender learns the receiver's session.
    fn introduce(a: &mut Reliable<u32>, bn: NodeId, b_session: u64) {
        a.on_wire(
            bn,
            Wire::Ack {
                session: 1,
                from_session: b_session,
                seq: 0,
            },
        );
        let _ = a.drain().count();
    }

    fn pump(
        a: &mut Reliable<u32>,
        b: &mut Reliable<u32>,
        an: NodeId,
        bn: NodeId,
        lose_data: bool,
    ) -> Vec<u32> {
        let mut delivered = Vec::new();
        let mut to_b: Vec<Wire<u32>> = Vec::new();
        for act in a.drain() {
            if let Action::Send(to, w) = act {
                assert_eq!(to, bn);
                if !(lose_data && matches!(w, Wire::Data { .. })) {
                    to_b.push(w);
                }
            }
        }
        for w in to_b {
            b.on_wire(an, w);
        }
        let mut to_a = Vec::new();
        for act in b.drain() {
            match act {
                Action::Deliver(_, m) => delivered.push(m),
                Action::Send(_, w) => to_a.push(w),
                _ => {}
            }
        }
        for w in to_a {
            a.on_wire(bn, w);
        }
        delivered
    }

    #[test]
    fn delivers_once_in_order_despite_loss_duplicates_and_reordering() {
        let (an, bn) = (NodeId(0), NodeId(1));
        let mut a = Reliable::new(2, 1, ReliableConfig::default());
        introduce(&mut a, NodeId(1), 1);
        let mut b: Reliable<u32> = Reliable::new(2, 1, ReliableConfig::default());
        a.send(bn, 10);
        a.send(bn, 11);
        assert!(pump(&mut a, &mut b, an, bn, true).is_empty(), "both lost");
        a.on_timer(bn);
        // Deliver the retransmissions reversed and twice.
        let wires: Vec<Wire<u32>> = a
            .drain()
            .filter_map(|x| {
                if let Action::Send(_, w) = x {
                    Some(w)
                } else {
                    None
                }
            })
            .collect();
        for w in wires.iter().rev().chain(wires.iter()) {
            b.on_wire(an, w.clone());
        }
        let got: Vec<u32> = b
            .drain()
            .filter_map(|x| {
                if let Action::Deliver(_, m) = x {
                    Some(m)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(got, vec![10, 11]);
        assert_eq!(b.stats().duplicates_dropped, 2);
        b.on_wire(
            an,
            Wire::Data {
                session: 1,
                to_session: 1,
                seq: 2,
                msg: 11,
            },
        );
        let acks: Vec<Action<u32>> = b.drain().collect();
        assert_eq!(
            acks,
            vec![Action::Send(
                an,
                Wire::Ack {
                    session: 1,
                    from_session: 1,
                    seq: 2
                }
            )]
        );
        a.on_wire(
            bn,
            Wire::Ack {
                session: 1,
                from_session: 1,
                seq: 2,
            },
        );
        assert_eq!(a.outstanding(bn), 0);
        assert!(a.drain().any(|x| x == Action::DisarmTimer(bn)));
    }

    #[test]
    fn a_restarted_sender_starts_a_new_session() {
        let an = NodeId(0);
        let mut b: Reliable<u32> = Reliable::new(2, 1, ReliableConfig::default());
        b.on_wire(
            an,
            Wire::Data {
                session: 1,
                to_session: 1,
                seq: 1,
                msg: 1,
            },
        );
        b.on_wire(
            an,
            Wire::Data {
                session: 2,
                to_session: 1,
                seq: 1,
                msg: 100,
            },
        );
        b.on_wire(
            an,
            Wire::Data {
                session: 1,
                to_session: 1,
                seq: 2,
                msg: 2,
            },
        );
        let got: Vec<u32> = b
            .drain()
            .filter_map(|x| {
                if let Action::Deliver(_, m) = x {
                    Some(m)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(
            got,
            vec![1, 100],
            "the old session's late message is dropped"
        );
        assert_eq!(b.stats().stale_dropped, 1);

        let buggy = ReliableConfig {
            dedup_seq_only: true,
            ..ReliableConfig::default()
        };
        let mut b: Reliable<u32> = Reliable::new(2, 1, buggy);
        b.on_wire(
            an,
            Wire::Data {
                session: 1,
                to_session: 1,
                seq: 1,
                msg: 1,
            },
        );
        b.on_wire(
            an,
            Wire::Data {
                session: 2,
                to_session: 1,
                seq: 1,
                msg: 100,
            },
        );
        let got: Vec<u32> = b
            .drain()
            .filter_map(|x| {
                if let Action::Deliver(_, m) = x {
                    Some(m)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(
            got,
            vec![1],
            "with the bug, the new incarnation's first message is taken for a duplicate"
        );
    }

    #[test]
    fn a_restarted_receiver_gets_the_outstanding_messages_renumbered() {
        let (an, bn) = (NodeId(0), NodeId(1));
        let mut a = Reliable::new(2, 1, ReliableConfig::default());
        introduce(&mut a, NodeId(1), 1);
        let mut b: Reliable<u32> = Reliable::new(2, 1, ReliableConfig::default());
        a.send(bn, 1);
        a.send(bn, 2);
        assert_eq!(pump(&mut a, &mut b, an, bn, false), vec![1, 2]);
        a.send(bn, 3);
        a.send(bn, 4);
        let _ = a.drain().count(); // lost in flight
        // b restarts as session 2 and knows nothing.
        let mut b: Reliable<u32> = Reliable::new(2, 2, ReliableConfig::default());
        a.on_timer(bn);
        assert!(
            pump(&mut a, &mut b, an, bn, false).is_empty(),
            "addressed to the old incarnation: refused"
        );
        let armed: Vec<Action<u32>> = a.drain().collect();
        assert_eq!(
            armed,
            vec![Action::ArmTimer(bn, Time::ZERO)],
            "renumbered and resent at once"
        );
        a.on_timer(bn);
        assert_eq!(
            pump(&mut a, &mut b, an, bn, false),
            vec![3, 4],
            "3 and 4 as seq 1 and 2 of the new channel"
        );
        assert_eq!(a.outstanding(bn), 0);
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
        let mut a = Reliable::new(2, 1, cfg);
        introduce(&mut a, NodeId(1), 1);
        a.send(bn, 1);
        a.send(bn, 2);
        let timers = |a: &mut Reliable<u32>| -> Vec<Time> {
            a.drain()
                .filter_map(|x| {
                    if let Action::ArmTimer(_, t) = x {
                        Some(t)
                    } else {
                        None
                    }
                })
                .collect()
        };
        assert_eq!(timers(&mut a), vec![Time::from_ms(10)]);
        a.on_timer(bn);
        assert_eq!(a.stats().retransmitted, 1, "a window of one");
        assert_eq!(timers(&mut a), vec![Time::from_ms(20)]);
        a.on_timer(bn);
        a.on_timer(bn);
        assert_eq!(timers(&mut a), vec![Time::from_ms(35), Time::from_ms(35)]);
        a.on_wire(
            bn,
            Wire::Ack {
                session: 1,
                from_session: 1,
                seq: 1,
            },
        );
        assert_eq!(timers(&mut a), vec![Time::from_ms(10)]);
    }

    #[test]
    fn unaddressed_data_is_refused_with_an_introduction_and_then_resent_addressed() {
        let (an, bn) = (NodeId(0), NodeId(1));
        let mut a = Reliable::new(2, 1, ReliableConfig::default());
        let mut b: Reliable<u32> = Reliable::new(2, 3, ReliableConfig::default());
        a.send(bn, 7);
        // The first copy carries to_session 0: b delivers nothing and introduces itself.
        assert!(pump(&mut a, &mut b, an, bn, false).is_empty());
        assert_eq!(b.stats().stale_dropped, 1);
        // a learned b's session and resends at once (a timer of zero), addressed.
        a.on_timer(bn);
        assert_eq!(pump(&mut a, &mut b, an, bn, false), vec![7]);
        // A long-delayed unaddressed copy of an old message is never delivered again.
        b.on_wire(
            an,
            Wire::Data {
                session: 1,
                to_session: 0,
                seq: 2,
                msg: 99,
            },
        );
        assert!(!b.drain().any(|x| matches!(x, Action::Deliver(..))));
    }
}
