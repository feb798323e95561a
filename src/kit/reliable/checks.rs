//! What observers read of the delivery layer: its counters and where each channel stands,
//! for a host's checks and metrics and for the unit tests. No step of the layer reads them,
//! so they live here, beside the layer, and the mutation routine leaves them alone as it does
//! every protocol's `checks.rs` (docs/scale.md, "Mutation testing").

use super::{Position, Reliable, ReliableStats};
use crate::protocol::NodeId;

impl<M> Reliable<M> {
    /// Counters.
    pub fn stats(&self) -> ReliableStats {
        self.stats
    }

    /// Where the channel to `to` stands: the receiver's session this node knows, and the
    /// sequence number the next message gets. It never goes back within an incarnation (a
    /// restart of the receiver starts the numbers again under its higher session).
    pub fn sending(&self, to: NodeId) -> Position {
        let ch = &self.out[to.index()];
        Position {
            session: ch.peer_session,
            seq: ch.next_seq,
        }
    }

    /// Where the channel from `from` stands: the sender's session, and how many of its
    /// messages have been delivered in order. It never goes back within an incarnation.
    pub fn receiving(&self, from: NodeId) -> Position {
        let ch = &self.inc[from.index()];
        Position {
            session: ch.session,
            seq: ch.delivered,
        }
    }

    /// The lowest sequence number held in the reorder buffer of the channel from `from`
    /// (messages that arrived ahead of a gap), if any. A sound layer holds only messages
    /// above what it delivered: one at or below could never be handed up and would stay.
    pub fn lowest_buffered(&self, from: NodeId) -> Option<u64> {
        self.inc[from.index()].buffer.keys().next().copied()
    }

    /// Messages sent to `to` and not yet acknowledged.
    pub fn outstanding(&self, to: NodeId) -> usize {
        self.out[to.index()].unacked.len()
    }
}

/// `session/seq`, as the checks' messages show a position.
impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.session, self.seq)
    }
}
