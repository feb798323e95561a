//! Consistent hashing with virtual nodes (Karger et al., STOC 1997; the virtual nodes and the
//! preference list as Dynamo uses them, DeCandia et al., SOSP 2007, sections 4.2 and 4.3).
//!
//! Every member node owns `vnodes` tokens: points on a ring of 2^64 positions, each the
//! hash of (node, token index). A key hashes to a point; walking clockwise from it, the first
//! `n` *distinct* nodes met are the key's **preference list** (tokens of a node already
//! listed are skipped, so a key is never replicated twice on one machine). The first is the
//! key's coordinator.
//!
//! The ring is a pure function of the membership (a sorted set of node ids) and the number of
//! virtual nodes: every node that holds the same membership computes the same ring, token
//! for token, because the hash is our own fixed function ([`point`]), not std's (which may
//! change between releases) and not seeded. A join adds the new node's tokens and a leave
//! removes them; no other token moves, so only the keys whose walk meets a token of the
//! node that came or went change their preference lists ([`Ring::moved`] counts them; the
//! ideal for one member among M is K/M of K keys).
//!
//! Must not import anything but the protocol API; knows no protocol.

use crate::protocol::NodeId;
use std::collections::BTreeSet;

/// The fixed 64-bit hash of a byte string: FNV-1a, then the SplitMix64 finalizer so that
/// nearby inputs land far apart on the ring. Pinned by a test: changing it moves every key.
pub fn point(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// The ring position of token `index` of `node`.
pub fn token_point(node: NodeId, index: u32) -> u64 {
    let mut bytes = [0u8; 9];
    bytes[0] = b'T';
    bytes[1..5].copy_from_slice(&node.0.to_le_bytes());
    bytes[5..9].copy_from_slice(&index.to_le_bytes());
    point(&bytes)
}

/// The ring position of a key.
pub fn key_point(key: &str) -> u64 {
    point(key.as_bytes())
}

/// Most virtual nodes per member a ring accepts.
pub const VNODES_MAX: u32 = 1024;

/// A consistent-hash ring: every member's tokens, sorted by position.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ring {
    vnodes: u32,
    members: BTreeSet<NodeId>,
    /// (position, owner), sorted; ties (vanishingly rare) broken by node id.
    tokens: Vec<(u64, NodeId)>,
}

impl Ring {
    /// The ring of `members`, each with `vnodes` tokens (clamped to 1..=[`VNODES_MAX`]).
    pub fn new(members: &BTreeSet<NodeId>, vnodes: u32) -> Ring {
        let vnodes = vnodes.clamp(1, VNODES_MAX);
        let mut ring = Ring {
            vnodes,
            members: BTreeSet::new(),
            tokens: Vec::new(),
        };
        for &m in members {
            ring.join(m);
        }
        ring
    }

    /// Adds `node`'s tokens (nothing if it is a member already).
    pub fn join(&mut self, node: NodeId) {
        if !self.members.insert(node) {
            return;
        }
        for i in 0..self.vnodes {
            let t = (token_point(node, i), node);
            let at = self.tokens.binary_search(&t).unwrap_or_else(|e| e);
            self.tokens.insert(at, t);
        }
    }

    /// Removes `node`'s tokens (nothing if it is not a member).
    pub fn leave(&mut self, node: NodeId) {
        if self.members.remove(&node) {
            self.tokens.retain(|&(_, n)| n != node);
        }
    }

    /// The members, in id order.
    pub fn members(&self) -> &BTreeSet<NodeId> {
        &self.members
    }

    /// Virtual nodes per member.
    pub fn vnodes(&self) -> u32 {
        self.vnodes
    }

    /// Every token, sorted by position.
    pub fn tokens(&self) -> &[(u64, NodeId)] {
        &self.tokens
    }

    /// The index of the first token at or after `at` (wrapping to 0).
    fn first_token_from(&self, at: u64) -> usize {
        let i = self.tokens.partition_point(|&(p, _)| p < at);
        if i == self.tokens.len() { 0 } else { i }
    }

    /// Walks the ring clockwise from position `at` and lists the distinct nodes met, at most
    /// `count` (fewer if the ring has fewer members).
    pub fn walk_from(&self, at: u64, count: usize) -> Vec<NodeId> {
        let want = count.min(self.members.len());
        let mut out = Vec::with_capacity(want);
        if want == 0 {
            return out;
        }
        let start = self.first_token_from(at);
        for k in 0..self.tokens.len() {
            let (_, n) = self.tokens[(start + k) % self.tokens.len()];
            if !out.contains(&n) {
                out.push(n);
                if out.len() == want {
                    break;
                }
            }
        }
        out
    }

    /// The key's preference list: the first `n` distinct nodes clockwise from its point.
    pub fn preference_list(&self, key: &str, n: usize) -> Vec<NodeId> {
        self.walk_from(key_point(key), n)
    }

    /// Every distinct node on the ring, in walk order from the key's point: the preference
    /// list first, then the fallbacks a sloppy quorum takes in turn.
    pub fn walk(&self, key: &str) -> Vec<NodeId> {
        self.walk_from(key_point(key), self.members.len())
    }

    /// The key's coordinator: the first node of its preference list.
    pub fn coordinator(&self, key: &str) -> Option<NodeId> {
        self.preference_list(key, 1).first().copied()
    }

    /// The range a key position falls in: the index of the token that ends it (the first
    /// token at or after the point). Anti-entropy compares replicas range by range.
    pub fn range_of(&self, key: &str) -> usize {
        self.first_token_from(key_point(key))
    }

    /// How many of `keys` the ring places on each member as one of `n` replicas, in id order.
    pub fn load(&self, keys: &[String], n: usize) -> Vec<(NodeId, u64)> {
        let mut count: Vec<(NodeId, u64)> = self.members.iter().map(|&m| (m, 0)).collect();
        for k in keys {
            for owner in self.preference_list(k, n) {
                if let Ok(i) = count.binary_search_by_key(&owner, |&(m, _)| m) {
                    count[i].1 += 1;
                }
            }
        }
        count
    }

    /// How many of `keys` have a different preference list (as a set, of `n` replicas) on
    /// `self` and on `other`: the keys a membership change moves.
    pub fn moved(&self, other: &Ring, keys: &[String], n: usize) -> u64 {
        keys.iter()
            .filter(|k| {
                let mut a = self.preference_list(k, n);
                let mut b = other.preference_list(k, n);
                a.sort();
                b.sort();
                a != b
            })
            .count() as u64
    }
}

/// Ring metrics for one configuration: balance and the keys a join and a leave move.
#[derive(Clone, Debug, PartialEq)]
pub struct RingMetrics {
    /// Members.
    pub nodes: u32,
    /// Virtual nodes per member.
    pub vnodes: u32,
    /// Keys placed.
    pub keys: u64,
    /// Most keys any member is the coordinator of, divided by the mean (1.0 is perfect).
    pub balance: f64,
    /// Keys whose coordinator changes when one node joins.
    pub moved_join: u64,
    /// Keys whose coordinator changes when one node leaves.
    pub moved_leave: u64,
    /// The ideal for one member among `nodes + 1` (join) and `nodes` (leave): K / M.
    pub ideal_join: u64,
    /// The ideal for a leave: K / nodes.
    pub ideal_leave: u64,
}

/// The keys the metrics place: `key0` … `key{count-1}`.
pub fn metric_keys(count: u64) -> Vec<String> {
    (0..count).map(|i| format!("key{i}")).collect()
}

/// Balance and movement of a ring of `nodes` members (ids 0..nodes) with `vnodes` tokens
/// each, over `keys` keys, counted by coordinator (one replica): the new member is id
/// `nodes`, the member that leaves is the last one.
pub fn ring_metrics(nodes: u32, vnodes: u32, keys: u64) -> RingMetrics {
    let nodes = nodes.max(1);
    let members: BTreeSet<NodeId> = (0..nodes).map(NodeId).collect();
    let ring = Ring::new(&members, vnodes);
    let names = metric_keys(keys);
    let load = ring.load(&names, 1);
    let max = load.iter().map(|&(_, c)| c).max().unwrap_or(0);
    let mean = keys as f64 / f64::from(nodes);
    let mut joined = ring.clone();
    joined.join(NodeId(nodes));
    let mut left = ring.clone();
    left.leave(NodeId(nodes - 1));
    RingMetrics {
        nodes,
        vnodes: ring.vnodes(),
        keys,
        balance: if mean > 0.0 { max as f64 / mean } else { 0.0 },
        moved_join: ring.moved(&joined, &names, 1),
        moved_leave: ring.moved(&left, &names, 1),
        ideal_join: keys / u64::from(nodes + 1),
        ideal_leave: keys / u64::from(nodes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(ids: &[u32]) -> BTreeSet<NodeId> {
        ids.iter().map(|&i| NodeId(i)).collect()
    }

    #[test]
    fn the_hash_is_pinned() {
        // Changing the hash moves every key of every stored run: say so in the change.
        assert_eq!(point(b""), 17_665_956_581_633_026_203);
        assert_eq!(key_point("k0"), key_point("k0"));
        assert_eq!(key_point("k1"), key_point("k1"));
        assert_ne!(key_point("k1"), key_point("k2"));
    }

    #[test]
    fn the_same_membership_gives_the_same_ring_whatever_the_order_of_joins() {
        let a = Ring::new(&members(&[0, 1, 2, 3, 4]), 16);
        let mut b = Ring::new(&members(&[4, 2]), 16);
        for n in [3, 0, 1, 7] {
            b.join(NodeId(n));
        }
        b.leave(NodeId(7));
        assert_eq!(a, b);
        for k in metric_keys(200) {
            assert_eq!(a.preference_list(&k, 3), b.preference_list(&k, 3));
        }
    }

    #[test]
    fn a_preference_list_holds_distinct_nodes_and_starts_with_the_coordinator() {
        let r = Ring::new(&members(&[0, 1, 2, 3, 4]), 8);
        for k in metric_keys(500) {
            let p = r.preference_list(&k, 3);
            assert_eq!(p.len(), 3);
            let set: BTreeSet<_> = p.iter().collect();
            assert_eq!(set.len(), 3, "{k}: {p:?}");
            assert_eq!(r.coordinator(&k), Some(p[0]));
            assert_eq!(&r.walk(&k)[..3], &p[..]);
        }
        // Fewer members than replicas: every member, once.
        let small = Ring::new(&members(&[5, 6]), 8);
        assert_eq!(small.preference_list("x", 3).len(), 2);
        assert!(
            Ring::new(&BTreeSet::new(), 8)
                .preference_list("x", 3)
                .is_empty()
        );
    }

    #[test]
    fn a_join_or_a_leave_moves_only_keys_that_involve_the_node() {
        let keys = metric_keys(2000);
        let before = Ring::new(&members(&[0, 1, 2, 3, 4, 5, 6, 7]), 64);
        let mut after = before.clone();
        after.join(NodeId(8));
        for k in &keys {
            let (a, b) = (before.preference_list(k, 3), after.preference_list(k, 3));
            if a != b {
                // The only change a join makes: the new node enters, the last one drops.
                assert!(b.contains(&NodeId(8)), "{k}: {a:?} -> {b:?}");
            }
        }
        let mut left = before.clone();
        left.leave(NodeId(3));
        for k in &keys {
            let (a, b) = (before.preference_list(k, 3), left.preference_list(k, 3));
            if a != b {
                assert!(a.contains(&NodeId(3)), "{k}: {a:?} -> {b:?}");
            }
        }
    }

    #[test]
    fn balance_improves_with_vnodes_and_movement_stays_near_the_ideal() {
        let m8 = ring_metrics(8, 8, 10_000);
        let m64 = ring_metrics(8, 64, 10_000);
        let m256 = ring_metrics(8, 256, 10_000);
        assert!(m8.balance > m64.balance, "{m8:?} {m64:?}");
        assert!(m64.balance > m256.balance, "{m64:?} {m256:?}");
        assert!(m256.balance < 1.25, "{m256:?}");
        for m in [&m8, &m64, &m256] {
            assert!(m.moved_join > 0 && m.moved_leave > 0, "{m:?}");
        }
        // Within 2x of K/M at 256 virtual nodes.
        assert!(m256.moved_join <= 2 * m256.ideal_join, "{m256:?}");
        assert!(m256.moved_join * 2 >= m256.ideal_join, "{m256:?}");
        assert!(m256.moved_leave <= 2 * m256.ideal_leave, "{m256:?}");
        assert!(m256.moved_leave * 2 >= m256.ideal_leave, "{m256:?}");
    }

    #[test]
    fn vnodes_are_clamped() {
        assert_eq!(Ring::new(&members(&[0]), 0).vnodes(), 1);
        assert_eq!(Ring::new(&members(&[0]), u32::MAX).vnodes(), VNODES_MAX);
    }
}
