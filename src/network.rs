//! The simulated network: per-link latency, loss, duplication and long delays, and the link
//! states that partitions cut.
//!
//! A send is handed to [`Network::transmit`], which decides with the network's own random
//! stream whether the message is lost or how many copies arrive and when. Whether a link is
//! cut is decided when a copy *arrives* (the engine asks [`Network::can_send`] then), so a
//! partition that starts while a message is in flight loses it. Link states live in a petgraph
//! `MatrixGraph` over every vertex (nodes first, then clients): an edge `a -> b` means the
//! directed link from `a` to `b` is up.
//!
//! Must not import the engine, storage or trace. Never prints.

use crate::base::hash::StableBuildHasher;
use crate::base::rng::{Rng, Stream};
use crate::base::types::{ClientId, Endpoint, NodeId, Ratio, Time};
use petgraph::algo::tarjan_scc;
use petgraph::graph::NodeIndex;
use petgraph::matrix_graph::MatrixGraph;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A latency distribution. All values are integer microseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    /// Every copy takes exactly `us`.
    Constant {
        /// Latency in microseconds.
        us: u64,
    },
    /// Uniform between `min_us` and `max_us` inclusive.
    Uniform {
        /// Smallest latency, microseconds.
        min_us: u64,
        /// Largest latency, microseconds.
        max_us: u64,
    },
    /// Heavy-tailed: a Pareto distribution of shape 1 starting at `min_us` (so the median is
    /// twice `min_us` and one copy in ten takes ten times `min_us`), cut off at `max_us`.
    /// Computed in integers: `min_us * 2^32 / u` with `u` uniform in `1..=2^32`.
    Pareto {
        /// Scale: the smallest latency, microseconds.
        min_us: u64,
        /// Cap on the tail, microseconds.
        max_us: u64,
    },
}

impl Latency {
    fn sample(&self, rng: &mut Rng) -> u64 {
        match *self {
            Latency::Constant { us } => us,
            Latency::Uniform { min_us, max_us } => rng.between(min_us, max_us),
            Latency::Pareto { min_us, max_us } => {
                let u = 1 + rng.below(1 << 32);
                let x = (u128::from(min_us) << 32) / u128::from(u);
                x.min(u128::from(max_us)) as u64
            }
        }
    }

    /// The bounds `(min, max)` this distribution can produce, for validation.
    pub fn bounds_us(&self) -> (u64, u64) {
        match *self {
            Latency::Constant { us } => (us, us),
            Latency::Uniform { min_us, max_us } | Latency::Pareto { min_us, max_us } => {
                (min_us, max_us)
            }
        }
    }
}

/// A share of messages held back much longer than the latency says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongDelay {
    /// Probability, per copy, of a long delay.
    pub ratio: Ratio,
    /// Extra delay range, milliseconds.
    pub min_ms: u64,
    /// Extra delay range, milliseconds.
    pub max_ms: u64,
}

/// How one directed link behaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkModel {
    /// One-way latency of each copy.
    pub latency: Latency,
    /// Probability, per message, that it is lost.
    #[serde(default)]
    pub loss: Ratio,
    /// Probability, per message, that it arrives twice (each copy has its own latency).
    #[serde(default)]
    pub duplicate: Ratio,
    /// Optional long delays for a share of copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_delay: Option<LongDelay>,
}

impl Default for LinkModel {
    fn default() -> Self {
        LinkModel {
            latency: Latency::Uniform {
                min_us: 500,
                max_us: 2_000,
            },
            loss: Ratio::ZERO,
            duplicate: Ratio::ZERO,
            long_delay: None,
        }
    }
}

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
}

impl LossReason {
    /// The name used in traces and summaries.
    pub fn name(self) -> &'static str {
        match self {
            LossReason::Loss => "loss",
            LossReason::Partition => "partition",
            LossReason::ReceiverDown => "receiver_down",
        }
    }
}

/// What the network decided for one send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Lost by random loss.
    Lost,
    /// One or two copies arrive after these latencies (the second only when duplicated).
    Arrives {
        /// Latency of the first copy.
        first: Time,
        /// Latency of the duplicate, if any.
        duplicate: Option<Time>,
    },
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

/// The network between every node and client.
pub struct Network {
    nodes: u32,
    clients: u32,
    models: Vec<LinkModel>,
    /// For each ordered pair (dense, `from * vertices + to`), the index into `models`.
    link_model: Vec<u16>,
    links: MatrixGraph<Endpoint, (), StableBuildHasher>,
    /// The links that are cut now, so healing and counting cost what is cut, not V².
    cut: BTreeSet<(u32, u32)>,
    rng: Rng,
    stats: NetStats,
    /// Extra misbehaviour of every link while a nemesis drives it (until the heal).
    degraded: Option<Degradation>,
}

/// Misbehaviour added on top of every link's own model (by a nemesis, until the heal).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Degradation {
    /// A further chance that a copy is lost.
    pub loss: Ratio,
    /// A further chance that a message is duplicated.
    pub duplicate: Ratio,
    /// A further chance of a long delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_delay: Option<LongDelay>,
}

/// Largest node count for which [`Network::fully_connected_majority`] searches exactly.
pub const EXACT_CLIQUE_NODES_MAX: u32 = 128;

impl Network {
    /// A fully connected network of `nodes` nodes and `clients` clients where every link
    /// behaves like `default`, drawing from the `Network` stream of `seed`.
    pub fn new(nodes: u32, clients: u32, default: LinkModel, seed: u64) -> Network {
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
            models: vec![default],
            link_model: vec![0; vertices * vertices],
            links,
            cut: BTreeSet::new(),
            rng: Rng::new(seed, Stream::Network),
            stats: NetStats::default(),
            degraded: None,
        };
        for a in 0..vertices as u32 {
            for b in 0..vertices as u32 {
                if a != b {
                    net.links.add_edge(Self::ix(a), Self::ix(b), ());
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

    /// Gives the directed link `from -> to` its own behaviour.
    pub fn set_link_model(&mut self, from: Endpoint, to: Endpoint, model: LinkModel) {
        let index = match self.models.iter().position(|m| *m == model) {
            Some(i) => i,
            None => {
                self.models.push(model);
                self.models.len() - 1
            }
        };
        let (a, b) = (self.vertex(from), self.vertex(to));
        let n = self.vertices();
        self.link_model[(a * n + b) as usize] = index as u16;
    }

    /// Decides the fate of one message from vertex `from` to vertex `to`. Draw order is fixed:
    /// loss, then duplication, then each copy's latency and long delay.
    pub fn transmit(&mut self, from: u32, to: u32) -> Fate {
        self.stats.sent += 1;
        let n = self.vertices();
        let model = &self.models[self.link_model[(from * n + to) as usize] as usize];
        if self.rng.chance(model.loss) {
            self.stats.lost_loss += 1;
            return Fate::Lost;
        }
        let mut duplicated = self.rng.chance(model.duplicate);
        // Draws for the degradation happen only while there is one, so runs without it
        // draw exactly as before.
        if let Some(d) = &self.degraded {
            if self.rng.chance(d.loss) {
                self.stats.lost_loss += 1;
                return Fate::Lost;
            }
            duplicated |= self.rng.chance(d.duplicate);
        }
        let copy = |rng: &mut Rng, stats: &mut NetStats| {
            let mut t = Self::copy_latency(rng, model, stats);
            if let Some(long) = self.degraded.as_ref().and_then(|d| d.long_delay.as_ref()) {
                if rng.chance(long.ratio) {
                    stats.long_delayed += 1;
                    t = Time(t.0.saturating_add(
                        rng.between(long.min_ms, long.max_ms).saturating_mul(1_000),
                    ));
                }
            }
            t
        };
        let first = copy(&mut self.rng, &mut self.stats);
        let duplicate = if duplicated {
            self.stats.duplicated += 1;
            Some(copy(&mut self.rng, &mut self.stats))
        } else {
            None
        };
        Fate::Arrives { first, duplicate }
    }

    /// Adds misbehaviour to every link (`Some`) or takes it away (`None`, at the heal).
    pub fn degrade(&mut self, d: Option<Degradation>) {
        self.degraded = d;
    }

    fn copy_latency(rng: &mut Rng, model: &LinkModel, stats: &mut NetStats) -> Time {
        let mut us = model.latency.sample(rng);
        if let Some(long) = &model.long_delay {
            if rng.chance(long.ratio) {
                stats.long_delayed += 1;
                us = us.saturating_add(rng.between(long.min_ms, long.max_ms).saturating_mul(1_000));
            }
        }
        Time(us)
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
            self.links.remove_edge(Self::ix(a), Self::ix(b));
        }
    }

    /// Restores the directed link `from -> to`.
    pub fn repair(&mut self, from: Endpoint, to: Endpoint) {
        let (a, b) = (self.vertex(from), self.vertex(to));
        if self.cut.remove(&(a, b)) {
            self.links.add_edge(Self::ix(a), Self::ix(b), ());
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
            self.links.add_edge(Self::ix(a), Self::ix(b), ());
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
        let mut groups: Vec<Vec<NodeId>> = tarjan_scc(&self.links)
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

    /// Counts one copy handed to a handler.
    pub fn count_delivered(&mut self) {
        self.stats.delivered += 1;
    }

    /// Counts one copy lost on arrival.
    pub fn count_lost(&mut self, reason: LossReason) {
        match reason {
            LossReason::Loss => self.stats.lost_loss += 1,
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
        let mut net = Network::new(3, 0, LinkModel::default(), 1);
        net.cut(n(0), n(1));
        assert!(!net.link_up(n(0), n(1)));
        assert!(net.link_up(n(1), n(0)));
        net.repair(n(0), n(1));
        assert!(net.link_up(n(0), n(1)));
    }

    #[test]
    fn bridge_node_reaches_both_sides() {
        let mut net = Network::new(5, 1, LinkModel::default(), 1);
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
        let mut net = Network::new(3, 2, LinkModel::default(), 1);
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
        let mut net = Network::new(4, 0, LinkModel::default(), 1);
        net.split(&[vec![n(0), n(1)], vec![n(2), n(3)]]);
        let all: Vec<NodeId> = (0..4).map(NodeId).collect();
        assert_eq!(net.fully_connected_majority(&all), None);
    }

    #[test]
    fn loss_duplication_and_latency_follow_the_model() {
        let model = LinkModel {
            latency: Latency::Uniform {
                min_us: 100,
                max_us: 200,
            },
            loss: Ratio { ppm: 200_000 },
            duplicate: Ratio { ppm: 100_000 },
            long_delay: None,
        };
        let mut net = Network::new(2, 0, model, 3);
        let (mut lost, mut dup) = (0, 0);
        for _ in 0..10_000 {
            match net.transmit(0, 1) {
                Fate::Lost => lost += 1,
                Fate::Arrives { first, duplicate } => {
                    assert!((100..=200).contains(&first.0));
                    if duplicate.is_some() {
                        dup += 1;
                    }
                }
            }
        }
        assert!((1_800..2_200).contains(&lost), "{lost}");
        assert!((600..1_000).contains(&dup), "{dup}");
    }

    #[test]
    fn pareto_is_heavy_tailed_and_capped() {
        let mut rng = Rng::new(5, Stream::Network);
        let lat = Latency::Pareto {
            min_us: 1_000,
            max_us: 1_000_000,
        };
        let mut samples: Vec<u64> = (0..20_000).map(|_| lat.sample(&mut rng)).collect();
        samples.sort();
        let median = samples[samples.len() / 2];
        assert!((1_800..2_200).contains(&median), "median {median}");
        let p90 = samples[samples.len() * 9 / 10];
        assert!((9_000..11_000).contains(&p90), "p90 {p90}");
        assert!(samples.iter().all(|&s| (1_000..=1_000_000).contains(&s)));
    }
}
