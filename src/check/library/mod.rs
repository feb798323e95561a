//! A library of reusable properties: the safety and liveness rules that many protocols share,
//! each parametrised by accessors the protocol gives (plain `fn` pointers: "this node's
//! epoch", "the value this node decided at slot i") and by the words its messages use ("a
//! leader in term 3", "a primary in view 3").
//!
//! | Property | Kind | What it asserts |
//! |---|---|---|
//! | [`OneLeaderPerEpoch`] | monitor | at most one node leads in any epoch |
//! | [`Agreement`] | monitor | at most one value is decided per slot, by any node, ever |
//! | [`AckedSurvive`] | monitor | every acknowledged entry of the record log is in the *synced* log of a majority |
//! | [`Monotonic`] | monitor | a counter never goes down: within an incarnation, or across restarts |
//! | [`MonotonicEach`] | monitor | the same, for a counter per peer (sequence numbers, deliveries) |
//! | [`Advances`] | monitor | after the heal, a majority moves a progress counter past its highest value at the heal (an eventually-check) |
//! | [`Convergence`] | invariant | all up replicas hold the same state (an eventually-check after the heal) |
//! | [`Fenced`] | monitor | no write with a token (epoch) older than one already applied is applied: fencing, on the resource side |
//! | [`AtMostOnce`] | invariant | no numbered item of a stream is applied (delivered) twice |
//! | [`Fenced`] | monitor | no write is applied under a token (epoch) older than one already applied |
//! | [`happens_before()`] | invariant | every node's logical clocks (the clock service) equal its true vector time at every clock event, and Lamport times grow along every message |
//! | [`Annotations`] | monitor | what a node's annotations say (role, epoch, progress) is what its state is: the trace tells the truth |
//!
//! Each file says which protocols use its property, and its tests run a scripted protocol
//! (`toy`) through the engine to show the property failing, and holding.
//!
//! They stay cheap: an always-check runs after every step, so the monitors look only at the
//! node the step touched ([`touched`]) and keep what they learned rather than recompute it.
//!
//! Must not know any protocol: protocol words come in as parameters.

mod acked;
mod advances;
mod agreement;
mod annotations;
mod at_most_once;
mod convergence;
mod fenced;
mod happens_before;
mod monotonic;
mod one_leader;
#[cfg(test)]
pub(crate) mod toy;

pub use acked::AckedSurvive;
pub use advances::Advances;
pub use agreement::Agreement;
pub use annotations::Annotations;
pub use at_most_once::{AtMostOnce, Tally};
pub use convergence::{Convergence, map_difference};
pub use fenced::Fenced;
pub use happens_before::happens_before;
pub use monotonic::{Monotonic, MonotonicEach};
pub use one_leader::OneLeaderPerEpoch;

use super::View;
use crate::base::types::{Endpoint, NodeId};
use crate::protocol::Protocol;

/// The nodes a step may have changed, as [`touched`] lists them, in id order.
#[derive(Clone, Debug)]
pub struct Touched(std::ops::Range<u32>);

impl Iterator for Touched {
    type Item = NodeId;
    #[inline]
    fn next(&mut self) -> Option<NodeId> {
        self.0.next().map(NodeId)
    }
}

/// The nodes the step behind `view` may have changed: the one node it touched, none for a
/// client's step, every node when it may have changed several (a heal, a partition).
#[inline]
pub fn touched<P: Protocol>(view: &View<'_, P>) -> Touched {
    Touched(match view.touched {
        Some(Endpoint::Node(n)) => n.0..n.0 + 1,
        Some(Endpoint::Client(_)) => 0..0,
        None => 0..view.cluster_size(),
    })
}

/// The nodes whose flag is set in `who` (indexed by node id), as a failure message names
/// them: `n1 n3`.
pub fn node_names(who: &[bool]) -> String {
    let v: Vec<String> = who
        .iter()
        .enumerate()
        .filter(|&(_, &w)| w)
        .map(|(i, _)| NodeId(i as u32).to_string())
        .collect();
    v.join(" ")
}
