//! The simulated network as the world holds it: which directed links are up, and what
//! happened to the messages sent over them. How long a copy takes and whether it is lost or
//! duplicated at send is the driver's decision, through a [`Transport`]: the discrete-event
//! driver uses the seeded [`RandomNetwork`]; the explorer will use one of its own.
//!
//! Whether a link is cut is decided when a copy *arrives* (the world asks
//! [`Network::can_send`] then), so a partition that starts while a message is in flight loses
//! it. Link states live in a petgraph `MatrixGraph` over every vertex (nodes first, then
//! clients): an edge `a -> b` means the directed link from `a` to `b` is up.
//!
//! Must not import the engine, storage or trace. Never prints.

mod model;
mod order;
mod random;

pub use model::{Degradation, Latency, LinkModel, LongDelay};
pub use order::{Order, Orderer, PCT_DEPTH_MAX};
pub use random::RandomNetwork;

use crate::base::hash::StableBuildHasher;
use crate::base::types::{ClientId, Endpoint, NodeId, Time};
use petgraph::algo::tarjan_scc;
use petgraph::graph::NodeIndex;
use petgraph::matrix_graph::MatrixGraph;
use serde::Serialize;
use std::collections::BTreeSet;

/// Why a message copy never reached its receiver's handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LossReason {
    /// The network's random loss.
    Loss,
    /// The link was cut when the copy arrived.
    Partition,
    /// The receiver was crashed when the copy arrived (or crashed while holding it paused).
    ReceiverDown,
    /// A scenario's fault on this one message dropped it at send (`{"message": ...,
    /// "drop": true}`); counted with `loss` in the summary.
    Fault,
}

impl LossReason {
    /// The name used in traces and summaries.
    pub fn name(self) -> &'static str {
        match self {
            LossReason::Loss => "loss",
            LossReason::Partition => "partition",
            LossReason::ReceiverDown => "receiver_down",
            LossReason::Fault => "fault",
        }
    }
}

/// What the transport decided for one send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Lost at send (the network's random loss).
    Lost,
    /// One or two copies arrive after these latencies (the second only when duplicated).
    Arrives {
        /// Latency of the first copy.
        first: Time,
        /// Latency of the duplicate, if any.
        duplicate: Option<Time>,
        /// How many of the copies got a long delay (for the statistics).
        long_delays: u8,
    },
}

impl Fate {
    /// One copy, arriving after `after`, as a transport without randomness decides.
    pub fn once(after: Time) -> Fate {
        Fate::Arrives {
            first: after,
            duplicate: None,
            long_delays: 0,
        }
    }
}

/// Decides the fate of each message when it is sent: the driver's part of the network.
pub trait Transport {
    /// The fate of one message from dense vertex `from` to dense vertex `to`.
    fn fate(&mut self, from: u32, to: u32) -> Fate;
}

/// Counters for the run summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetStats {
    /// Messages handed to the network.
    pub sent: u64,
    /// Copies handed to a handler.
    pub delivered: u64,
    /// Extra copies created by duplication.
    pub duplicated: u64,
    /// Copies that got a long delay.
    pub long_delayed: u64,
    /// Messages lost to random loss.
    pub lost_loss: u64,
    /// Copies lost to a cut link.
    pub lost_partition: u64,
    /// Copies lost because the receiver was down.
    pub lost_receiver_down: u64,
}

/// The links between every node and client, and the message counters.
#[derive(Clone)]
pub struct Network {
    nodes: u32,
    clients: u32,
    /// Shared between copies of a world until one of them cuts or restores a link (a copy
    /// is then made): the explorer copies worlds far more often than links change.
    links: std::sync::Arc<MatrixGraph<Endpoint, (), StableBuildHasher>>,
    /// The links that are cut now, so healing and counting cost what is cut, not V².
    cut: BTreeSet<(u32, u32)>,
    stats: NetStats,
}

/// Largest node count for which [`Network::fully_connected_majority`] searches exactly.
pub const EXACT_CLIQUE_NODES_MAX: u32 = 128;

impl Network {
    /// Folds which links are cut into `h` (not the counters): the part of the network that
    /// decides what happens next.
    pub fn hash_links<H: std::hash::Hasher>(&self, h: &mut H) {
        use std::hash::Hash;
        self.cut.hash(h);
    }

    /// Directed links cut now.
    pub fn cut_count(&self) -> usize {
        self.cut.len()
    }

    /// A fully connected network of `nodes` nodes and `clients` clients.
    pub fn new(nodes: u32, clients: u32) -> Network {
        let vertices = (nodes + clients) as usize;
        let mut links =
            MatrixGraph::with_capacity_and_hasher(vertices, StableBuildHasher::default());
        for i in 0..nodes {
            links.add_node(Endpoint::Node(NodeId(i)));
        }
        for i in 0..clients {
            links.add_node(Endpoint::Client(ClientId(i)));
        }
        let mut net = Network {
            nodes,
            clients,
            links: std::sync::Arc::new(links),
            cut: BTreeSet::new(),
            stats: NetStats::default(),
        };
        for a in 0..vertices as u32 {
            for b in 0..vertices as u32 {
                if a != b {
                    std::sync::Arc::make_mut(&mut net.links).add_edge(Self::ix(a), Self::ix(b), ());
                }
            }
        }
        net
    }

    /// Number of vertices (nodes plus clients).
    pub fn vertices(&self) -> u32 {
        self.nodes + self.clients
    }

    /// The dense vertex index of an endpoint.
    #[inline]
    pub fn vertex(&self, e: Endpoint) -> u32 {
        match e {
            Endpoint::Node(n) => n.0,
            Endpoint::Client(c) => self.nodes + c.0,
        }
    }

    /// The endpoint of a dense vertex index.
    pub fn endpoint(&self, v: u32) -> Endpoint {
        if v < self.nodes {
            Endpoint::Node(NodeId(v))
        } else {
            Endpoint::Client(ClientId(v - self.nodes))
        }
    }

    fn ix(v: u32) -> NodeIndex<u16> {
        NodeIndex::new(v as usize)
    }

    /// Whether the direct link `from -> to` (dense vertex indexes) is up now.
    #[inline]
    pub fn can_send(&self, from: u32, to: u32) -> bool {
        from == to || self.links.has_edge(Self::ix(from), Self::ix(to))
    }

    /// Whether the direct link between two endpoints is up now.
    pub fn link_up(&self, from: Endpoint, to: Endpoint) -> bool {
        self.can_send(self.vertex(from), self.vertex(to))
    }

    /// Cuts the directed link `from -> to`.
    pub fn cut(&mut self, from: Endpoint, to: Endpoint) {
        let (a, b) = (self.vertex(from), self.vertex(to));
        if a != b && self.cut.insert((a, b)) {
            std::sync::Arc::make_mut(&mut self.links).remove_edge(Self::ix(a), Self::ix(b));
        }
    }

    /// Restores the directed link `from -> to`.
    pub fn repair(&mut self, from: Endpoint, to: Endpoint) {
        let (a, b) = (self.vertex(from), self.vertex(to));
        if self.cut.remove(&(a, b)) {
            std::sync::Arc::make_mut(&mut self.links).add_edge(Self::ix(a), Self::ix(b), ());
        }
    }

    /// Splits the given groups from each other, both ways. Vertices named in no group keep
    /// every link they have: that is how a bridge node is made.
    pub fn split(&mut self, groups: &[Vec<Endpoint>]) {
        for (gi, g) in groups.iter().enumerate() {
            for h in &groups[gi + 1..] {
                for &a in g {
                    for &b in h {
                        self.cut(a, b);
                        self.cut(b, a);
                    }
                }
            }
        }
    }

    /// Cuts every link to and from `e`.
    pub fn isolate(&mut self, e: Endpoint) {
        for v in 0..self.vertices() {
            let other = self.endpoint(v);
            self.cut(e, other);
            self.cut(other, e);
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        for (a, b) in std::mem::take(&mut self.cut) {
            std::sync::Arc::make_mut(&mut self.links).add_edge(Self::ix(a), Self::ix(b), ());
        }
    }

    /// Number of directed links between distinct vertices that are cut now.
    pub fn links_cut(&self) -> u64 {
        debug_assert!(
            self.cut
                .iter()
                .all(|&(a, b)| !self.links.has_edge(Self::ix(a), Self::ix(b)))
        );
        self.cut.len() as u64
    }

    /// Groups of nodes (clients left out) in which every node can reach every other one,
    /// possibly through others; from petgraph's Tarjan SCC over the up links. Sorted by
    /// first member.
    pub fn reachability_groups(&self) -> Vec<Vec<NodeId>> {
        let mut groups: Vec<Vec<NodeId>> = tarjan_scc(&*self.links)
            .into_iter()
            .map(|g| {
                let mut nodes: Vec<NodeId> = g
                    .into_iter()
                    .map(|ix| ix.index() as u32)
                    .filter(|&v| v < self.nodes)
                    .map(NodeId)
                    .collect();
                nodes.sort();
                nodes
            })
            .filter(|g| !g.is_empty())
            .collect();
        groups.sort();
        groups
    }

    /// The largest set of nodes among `candidates` in which every pair is linked directly
    /// both ways, if it is a strict majority of all nodes. Ties go to the set with the
    /// smallest ids. Exact up to [`EXACT_CLIQUE_NODES_MAX`] nodes, greedy beyond.
    pub fn fully_connected_majority(&self, candidates: &[NodeId]) -> Option<Vec<NodeId>> {
        let best = if self.nodes <= EXACT_CLIQUE_NODES_MAX {
            self.max_clique_exact(candidates)
        } else {
            self.clique_greedy(candidates)
        };
        (best.len() as u32 * 2 > self.nodes).then_some(best)
    }

    fn both_ways(&self, a: NodeId, b: NodeId) -> bool {
        self.can_send(a.0, b.0) && self.can_send(b.0, a.0)
    }

    fn max_clique_exact(&self, candidates: &[NodeId]) -> Vec<NodeId> {
        let mut adj = vec![0u128; self.nodes as usize];
        let mut pool = 0u128;
        for &a in candidates {
            pool |= 1 << a.0;
            for &b in candidates {
                if a != b && self.both_ways(a, b) {
                    adj[a.index()] |= 1 << b.0;
                }
            }
        }
        let mut best = 0u128;
        bron_kerbosch(&adj, 0, pool, 0, &mut best);
        (0..self.nodes)
            .filter(|i| best & (1 << i) != 0)
            .map(NodeId)
            .collect()
    }

    fn clique_greedy(&self, candidates: &[NodeId]) -> Vec<NodeId> {
        let mut clique: Vec<NodeId> = Vec::new();
        for &c in candidates {
            if clique.iter().all(|&m| self.both_ways(m, c)) {
                clique.push(c);
            }
        }
        clique
    }

    /// Counters for the summary.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Counts one message handed to the network and what the transport decided for it.
    #[inline]
    pub fn count_sent(&mut self, fate: &Fate) {
        self.stats.sent += 1;
        match fate {
            Fate::Lost => self.stats.lost_loss += 1,
            Fate::Arrives {
                duplicate,
                long_delays,
                ..
            } => {
                self.stats.duplicated += u64::from(duplicate.is_some());
                self.stats.long_delayed += u64::from(*long_delays);
            }
        }
    }

    /// Counts one extra copy a driver made (a duplicate chosen as an action).
    pub fn count_duplicated(&mut self) {
        self.stats.duplicated += 1;
    }

    /// Counts one copy handed to a handler.
    pub fn count_delivered(&mut self) {
        self.stats.delivered += 1;
    }

    /// Counts one copy lost.
    pub fn count_lost(&mut self, reason: LossReason) {
        match reason {
            LossReason::Loss | LossReason::Fault => self.stats.lost_loss += 1,
            LossReason::Partition => self.stats.lost_partition += 1,
            LossReason::ReceiverDown => self.stats.lost_receiver_down += 1,
        }
    }
}

/// Bron-Kerbosch with pivoting over 128-bit sets. Keeps the largest clique, preferring the
/// one with the smallest member ids on ties (candidates are tried lowest id first).
fn bron_kerbosch(adj: &[u128], r: u128, mut p: u128, mut x: u128, best: &mut u128) {
    if p == 0 && x == 0 {
        let better = r.count_ones() > best.count_ones()
            || (r.count_ones() == best.count_ones() && r.trailing_zeros() < best.trailing_zeros());
        if better {
            *best = r;
        }
        return;
    }
    if (r | p).count_ones() <= best.count_ones()
        && best.count_ones() > 0
        && (r | p).count_ones() < best.count_ones()
    {
        return;
    }
    let pivot = (p | x).trailing_zeros() as usize;
    let mut todo = p & !adj[pivot];
    while todo != 0 {
        let v = todo.trailing_zeros() as usize;
        let bit = 1u128 << v;
        bron_kerbosch(adj, r | bit, p & adj[v], x & adj[v], best);
        p &= !bit;
        x |= bit;
        todo &= !bit;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(i: u32) -> Endpoint {
        Endpoint::Node(NodeId(i))
    }

    #[test]
    fn one_way_cut_blocks_one_direction_only() {
        let mut net = Network::new(3, 0);
        net.cut(n(0), n(1));
        assert!(!net.link_up(n(0), n(1)));
        assert!(net.link_up(n(1), n(0)));
        net.repair(n(0), n(1));
        assert!(net.link_up(n(0), n(1)));
    }

    #[test]
    fn bridge_node_reaches_both_sides() {
        let mut net = Network::new(5, 1);
        net.split(&[vec![n(0), n(1)], vec![n(3), n(4)]]);
        for i in [0, 1, 3, 4] {
            assert!(net.link_up(n(2), n(i)) && net.link_up(n(i), n(2)));
        }
        assert!(!net.link_up(n(0), n(3)));
        assert!(!net.link_up(n(4), n(1)));
        assert!(net.link_up(n(0), n(1)));
        // Reachability through the bridge joins everyone; direct majorities are the two halves.
        assert_eq!(net.reachability_groups().len(), 1);
        let all: Vec<NodeId> = (0..5).map(NodeId).collect();
        assert_eq!(
            net.fully_connected_majority(&all),
            Some(vec![NodeId(0), NodeId(1), NodeId(2)])
        );
    }

    #[test]
    fn isolation_and_heal() {
        let mut net = Network::new(3, 2);
        net.isolate(n(1));
        assert!(!net.link_up(n(1), Endpoint::Client(ClientId(0))));
        assert_eq!(net.links_cut(), 2 * 4);
        let all: Vec<NodeId> = (0..3).map(NodeId).collect();
        assert_eq!(
            net.fully_connected_majority(&all),
            Some(vec![NodeId(0), NodeId(2)])
        );
        assert_eq!(
            net.reachability_groups(),
            vec![vec![NodeId(0), NodeId(2)], vec![NodeId(1)]]
        );
        net.heal();
        assert_eq!(net.links_cut(), 0);
    }

    #[test]
    fn no_majority_in_an_even_split() {
        let mut net = Network::new(4, 0);
        net.split(&[vec![n(0), n(1)], vec![n(2), n(3)]]);
        let all: Vec<NodeId> = (0..4).map(NodeId).collect();
        assert_eq!(net.fully_connected_majority(&all), None);
    }
}
