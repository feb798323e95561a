//! Quorum collection: counting distinct voters or acknowledgers in one round, and the
//! "highest value a quorum has reached" rule.
//!
//! Raft counts votes and pre-votes with [`Quorum`] and finds its commit point with
//! [`quorum_value`]; ABD's "a majority answered this phase" and Paxos's phase 1 and phase 2
//! are the same counting. The tally does not know what a round is: the caller calls
//! [`Quorum::reset`] when its term, ballot or phase changes, and drops answers of older rounds
//! before counting them (each protocol recognises its own stale answers).
//!
//! Owns no messages, no timers and no store: it only counts. Must not import anything but the
//! protocol API.

use crate::protocol::NodeId;

/// The size of a majority of `nodes`: the smallest number of nodes any two of which overlap.
pub fn majority(nodes: u32) -> u32 {
    nodes / 2 + 1
}

/// Distinct nodes that answered yes in one round, against the number needed.
///
/// [`Quorum::add`] counts each node once, so a duplicated message cannot count twice;
/// [`Quorum::add_unguarded`] counts every call, for bug switches that re-create that mistake.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Quorum {
    needed: u32,
    seen: Vec<bool>,
    count: u32,
}

impl Quorum {
    /// An empty tally over `nodes` nodes that needs a majority of them.
    pub fn majority(nodes: u32) -> Self {
        Quorum::of(nodes, majority(nodes))
    }

    /// An empty tally over `nodes` nodes that needs `needed` of them (at least one).
    pub fn of(nodes: u32, needed: u32) -> Self {
        Quorum {
            needed: needed.max(1),
            seen: vec![false; nodes as usize],
            count: 0,
        }
    }

    /// Counts `from` unless it was counted already; says whether the count grew. A node
    /// outside the cluster is ignored.
    pub fn add(&mut self, from: NodeId) -> bool {
        match self.seen.get_mut(from.index()) {
            Some(seen) if !*seen => {
                *seen = true;
                self.count += 1;
                true
            }
            _ => false,
        }
    }

    /// Counts `from` even if it was counted already: the duplicate-vote mistake, for bug
    /// switches only.
    pub fn add_unguarded(&mut self, from: NodeId) {
        if let Some(seen) = self.seen.get_mut(from.index()) {
            *seen = true;
        }
        self.count += 1;
    }

    /// Whether `node` has been counted.
    pub fn has(&self, node: NodeId) -> bool {
        self.seen.get(node.index()).copied().unwrap_or(false)
    }

    /// How many answers have been counted.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// How many answers the quorum needs.
    pub fn needed(&self) -> u32 {
        self.needed
    }

    /// Whether enough answers have been counted.
    pub fn reached(&self) -> bool {
        self.count >= self.needed
    }

    /// The nodes not counted yet, in id order (whom to ask again).
    pub fn missing(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.seen
            .iter()
            .enumerate()
            .filter(|&(_, &seen)| !seen)
            .map(|(i, _)| NodeId(i as u32))
    }

    /// Forgets every answer: a new round starts.
    pub fn reset(&mut self) {
        self.seen.fill(false);
        self.count = 0;
    }
}

/// The highest value that at least `needed` of `values` have reached: with one value per
/// node (a match index, an acknowledged round), the point a quorum has passed. Zero if there
/// are fewer than `needed` values.
///
/// Raft's leader commits up to this over its match indexes (if the entry there is of its own
/// term); it confirms a read once a quorum has acknowledged the read's round. Quadratic in the
/// number of values and allocation-free, which suits cluster sizes.
pub fn quorum_value<I>(values: I, needed: u32) -> u64
where
    I: IntoIterator<Item = u64>,
    I::IntoIter: Clone,
{
    let needed = needed.max(1) as usize;
    let values = values.into_iter();
    values
        .clone()
        .filter(|&v| values.clone().filter(|&w| w >= v).count() >= needed)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_is_the_smallest_overlapping_size() {
        assert_eq!(
            [1, 2, 3, 4, 5, 6, 7].map(majority),
            [1, 2, 2, 3, 3, 4, 4],
            "two majorities of the same cluster always share a node"
        );
    }

    #[test]
    fn a_node_counts_once_unless_unguarded() {
        let mut q = Quorum::majority(5);
        assert!(q.add(NodeId(0)));
        assert!(q.add(NodeId(3)));
        assert!(!q.add(NodeId(3)), "a duplicate does not count");
        assert_eq!(q.count(), 2);
        assert!(!q.reached());
        assert!(q.add(NodeId(4)));
        assert!(q.reached());
        assert_eq!(q.missing().collect::<Vec<_>>(), vec![NodeId(1), NodeId(2)]);

        let mut buggy = Quorum::majority(5);
        buggy.add_unguarded(NodeId(1));
        buggy.add_unguarded(NodeId(1));
        buggy.add_unguarded(NodeId(1));
        assert!(
            buggy.reached(),
            "one voter counted three times makes a false majority"
        );
        assert!(buggy.has(NodeId(1)) && !buggy.has(NodeId(0)));
    }

    #[test]
    fn reset_starts_a_new_round_and_strangers_are_ignored() {
        let mut q = Quorum::of(3, 3);
        assert!(q.add(NodeId(0)) && q.add(NodeId(1)));
        assert!(!q.add(NodeId(7)), "not a member of the cluster");
        q.reset();
        assert_eq!(q.count(), 0);
        assert!(!q.has(NodeId(0)));
        assert_eq!(
            Quorum::of(3, 0).needed(),
            1,
            "a quorum of nobody is never meant"
        );
    }

    #[test]
    fn quorum_value_is_what_a_quorum_has_reached() {
        // Match indexes of five nodes: three of them hold index 4 or more.
        let matched = [7, 4, 2, 4, 1];
        assert_eq!(quorum_value(matched, 3), 4);
        assert_eq!(quorum_value(matched, 1), 7);
        assert_eq!(quorum_value(matched, 5), 1);
        assert_eq!(quorum_value(matched, 0), 7, "a quorum is at least one");
        assert_eq!(quorum_value([7, 4], 3), 0, "too few values for a quorum");
        assert_eq!(quorum_value([], 1), 0);
    }
}
