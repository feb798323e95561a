//! What a check sees: a read-only [`View`] of the world after a step, and the statuses and
//! phases it speaks of.

use crate::base::types::{Endpoint, NodeId, Time};
use crate::history::History;
use crate::network::Network;
use crate::protocol::{LogicalClocks, Protocol, Value};
use crate::storage::Store;
use crate::world::NodeHost;
use serde::Serialize;

/// The run's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Faults may happen.
    Safety,
    /// After the heal: no new faults; eventually-checks must come true.
    Liveness,
}

/// A node's status as the engine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Running.
    Up,
    /// Paused: handles nothing until resumed; its clock runs on.
    Paused,
    /// Crashed (or never started because declared permanently down).
    Down,
}

/// What a check sees: every node's state, the network, the history. Read-only.
pub struct View<'a, P: Protocol> {
    pub(crate) hosts: &'a [std::sync::Arc<NodeHost<P>>],
    pub(crate) network: &'a Network,
    pub(crate) history: &'a History<P::Request, P::Response>,
    /// True virtual time of this step.
    pub time: Time,
    /// Step number.
    pub step: u64,
    /// Current phase.
    pub phase: Phase,
    /// When the heal happened, once it has.
    pub healed_at: Option<Time>,
    /// The one node or client this step changed, so an always-check may look only there.
    /// `None` when the step may have changed several nodes (a heal, a partition): look at all.
    pub touched: Option<Endpoint>,
}

impl<'a, P: Protocol> View<'a, P> {
    /// Every node id.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + use<'_, 'a, P> {
        (0..self.hosts.len() as u32).map(NodeId)
    }
    /// Cluster size.
    pub fn cluster_size(&self) -> u32 {
        self.hosts.len() as u32
    }
    /// The protocol state of a node that is up or paused; `None` if it is down.
    pub fn node(&self, id: NodeId) -> Option<&'a P> {
        self.hosts.get(id.index()).and_then(|h| h.proto.as_ref())
    }
    /// A node's status.
    pub fn status(&self, id: NodeId) -> Status {
        self.hosts[id.index()].status
    }
    /// Up (not crashed, not paused).
    pub fn is_up(&self, id: NodeId) -> bool {
        self.status(id) == Status::Up
    }
    /// How many times the node has been restarted.
    pub fn incarnation(&self, id: NodeId) -> u32 {
        self.hosts[id.index()].incarnation
    }
    /// The node's durable store.
    pub fn store(&self, id: NodeId) -> &'a Store<P::Record> {
        &self.hosts[id.index()].store
    }
    /// The node's local clock reading now.
    pub fn local_time(&self, id: NodeId) -> Time {
        self.hosts[id.index()].clock.local(self.time)
    }
    /// The last value the node annotated under `key`.
    ///
    /// Checked after every step (`annotations_match_state`), so it first looks for the very
    /// same key text (a protocol and its checks usually name a key with one literal): a few
    /// pointer comparisons instead of a search that compares strings. A key written out
    /// twice is still found, by its text.
    #[inline]
    pub fn annotation(&self, id: NodeId, key: &str) -> Option<&'a Value> {
        let notes = &self.hosts[id.index()].annotations;
        let same = |k: &&'static str| k.as_ptr() == key.as_ptr() && k.len() == key.len();
        match notes.iter().find(|(k, _)| same(k)) {
            Some((_, v)) => Some(v),
            None => notes.get(key),
        }
    }
    /// Every annotation the node has made, by key (each key's last value).
    pub fn annotations(&self, id: NodeId) -> impl Iterator<Item = (&'static str, &'a Value)> + 'a {
        self.hosts[id.index()]
            .annotations
            .iter()
            .map(|(k, v)| (*k, v))
    }
    /// The last value the node annotated under `key`, found by the key's text only.
    pub(crate) fn annotation_by_text(&self, id: NodeId, key: &str) -> Option<&'a Value> {
        self.hosts[id.index()].annotations.get(key)
    }
    /// The node's logical clocks, once it has used the clock service.
    pub fn clocks(&self, id: NodeId) -> Option<&'a LogicalClocks> {
        self.hosts[id.index()].clocks.as_deref()
    }
    /// The network (link states, reachability helpers).
    pub fn network(&self) -> &'a Network {
        self.network
    }
    /// Whether the direct link `from -> to` is up.
    pub fn can_send(&self, from: NodeId, to: NodeId) -> bool {
        self.network.can_send(from.0, to.0)
    }
    /// The client history so far.
    pub fn history(&self) -> &'a History<P::Request, P::Response> {
        self.history
    }
}
