//! Faults aimed when they fire: a node named by what it is then (the node that announces a
//! role, or nodes drawn at random) instead of by its name, and the fault that undoes a fault
//! after a duration.
//!
//! A scenario writes the aim where it would write a node: a crash of the node that
//! announces a role value (in a protocol whose leading role is `chief`, the chief), the
//! isolation of three drawn nodes, a partition that separates the chief from the others
//! (docs/scenarios.md has the syntax). The parser puts the placeholder [`AIMED`] in that place and keeps the [`Aim`] beside the
//! fault; the driver chooses the nodes when the fault fires and calls [`resolve`]. Choosing
//! needs the world (annotations, statuses) and a random stream, so it is the driver's; this
//! file only knows how a choice turns a written fault into the faults to apply.

use super::Fault;
use crate::base::types::{Endpoint, NodeId};
use serde::{Deserialize, Serialize};

/// The placeholder a parsed fault holds where its file wrote an aim. Never a real node: the
/// cluster has at most 1000 nodes, and validation skips it only in an aimed entry.
pub const AIMED: NodeId = NodeId(u32::MAX - 1);

/// How a fault entry names its node when the node is chosen at the moment it fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Aim {
    /// The node whose last annotation of the protocol's role key (its vocabulary's `role`)
    /// is this value, among nodes that are not down. If several are, the one with the
    /// highest epoch (the vocabulary's epoch key), then the lowest id; if none, the fault
    /// does not happen.
    Role(String),
    /// This many different nodes, drawn among the nodes that are up (not crashed, not
    /// paused, not permanently down) from the run's own `aim` stream. Fewer if fewer are up.
    Drawn(u32),
}

impl Aim {
    /// How many nodes this aim chooses at most.
    pub fn count(&self) -> u32 {
        match self {
            Aim::Role(_) => 1,
            Aim::Drawn(k) => *k,
        }
    }
}

/// Whether the fault holds the placeholder in a partition's groups (where it stands for
/// every chosen node) rather than in a one-node place (where the fault repeats per node).
fn aimed_in_groups(f: &Fault) -> bool {
    match f {
        Fault::Partition(g) => g.iter().flatten().any(|e| *e == Endpoint::Node(AIMED)),
        Fault::Bridge { groups, .. } => {
            groups.iter().flatten().any(|e| *e == Endpoint::Node(AIMED))
        }
        _ => false,
    }
}

/// Whether one aimed entry may choose several nodes: faults about one node (they repeat per
/// node) and partition groups (the nodes go into that group); not a cut, a repair, a
/// bridge's `via` or a clock fault, where several nodes would mean nothing.
pub fn takes_several(f: &Fault) -> bool {
    matches!(
        f,
        Fault::Crash(_)
            | Fault::Restart(_)
            | Fault::Pause(_)
            | Fault::Resume(_)
            | Fault::Isolate(_)
    ) || aimed_in_groups(f)
}

/// The faults to apply when `written` (which holds [`AIMED`]) fires with `chosen` as its
/// nodes. A chosen node takes the placeholder's place and leaves any other place the entry
/// lists it at (a partition group, a bridge's sides), so a partition of the role holder
/// against a group of every node separates it from the others, whoever it is. A cut or repair whose two
/// ends become one node, and a partition left with fewer than two groups, do nothing (no
/// fault). Empty `chosen`: no fault.
pub fn resolve(written: &Fault, chosen: &[NodeId]) -> Vec<Fault> {
    if chosen.is_empty() {
        return Vec::new();
    }
    let is_chosen = |e: &Endpoint| matches!(e, Endpoint::Node(n) if chosen.contains(n));
    // The groups with the placeholder expanded to the chosen nodes and the chosen nodes
    // taken out of every other place.
    let regroup = |groups: &[Vec<Endpoint>]| -> Vec<Vec<Endpoint>> {
        groups
            .iter()
            .map(|g| {
                let mut out = Vec::new();
                for e in g {
                    if *e == Endpoint::Node(AIMED) {
                        out.extend(chosen.iter().map(|&n| Endpoint::Node(n)));
                    } else if !is_chosen(e) {
                        out.push(*e);
                    }
                }
                out
            })
            .filter(|g| !g.is_empty())
            .collect()
    };
    if aimed_in_groups(written) {
        return match written {
            Fault::Partition(g) => {
                let g = regroup(g);
                if g.len() < 2 {
                    Vec::new()
                } else {
                    vec![Fault::Partition(g)]
                }
            }
            Fault::Bridge { groups, via } => {
                let g = regroup(groups);
                if g.len() < 2 || chosen.contains(via) {
                    Vec::new()
                } else {
                    vec![Fault::Bridge {
                        groups: g,
                        via: *via,
                    }]
                }
            }
            _ => Vec::new(),
        };
    }
    chosen
        .iter()
        .filter_map(|&n| {
            let f = written.map_nodes(|m| if m == AIMED { n } else { m });
            match f {
                Fault::Bridge { groups, via } => {
                    let g: Vec<Vec<Endpoint>> = groups
                        .iter()
                        .map(|s| {
                            s.iter()
                                .copied()
                                .filter(|e| *e != Endpoint::Node(via))
                                .collect::<Vec<_>>()
                        })
                        .filter(|s| !s.is_empty())
                        .collect();
                    (g.len() >= 2).then_some(Fault::Bridge { groups: g, via })
                }
                Fault::Cut { from, to } | Fault::Repair { from, to } if from == to => None,
                other => Some(other),
            }
        })
        .collect()
}

impl Fault {
    /// The fault that undoes this one after a `duration_ms`: a restart after a crash, a
    /// resume after a pause, the repair of a cut link, and `heal_links` after an isolation,
    /// partition or bridge (as the random nemesis does: it restores every link). `None` for
    /// faults that are not undone (restarts, resumes, repairs, heals, clock faults).
    pub fn undo(&self) -> Option<Fault> {
        match self {
            Fault::Crash(n) => Some(Fault::Restart(*n)),
            Fault::Pause(n) => Some(Fault::Resume(*n)),
            Fault::Cut { from, to } => Some(Fault::Repair {
                from: *from,
                to: *to,
            }),
            Fault::Isolate(_) | Fault::Partition(_) | Fault::Bridge { .. } => {
                Some(Fault::HealLinks)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(i: u32) -> Endpoint {
        Endpoint::Node(NodeId(i))
    }

    #[test]
    fn a_chosen_node_takes_the_placeholder_and_leaves_its_other_places() {
        let written = Fault::Partition(vec![vec![n(AIMED.0)], vec![n(0), n(1), n(2)]]);
        assert_eq!(
            resolve(&written, &[NodeId(1)]),
            [Fault::Partition(vec![vec![n(1)], vec![n(0), n(2)]])]
        );
        assert_eq!(
            resolve(&written, &[NodeId(0), NodeId(2)]),
            [Fault::Partition(vec![vec![n(0), n(2)], vec![n(1)]])]
        );
        assert_eq!(resolve(&written, &[]), [] as [Fault; 0], "no one chosen");
        let one_group = Fault::Partition(vec![vec![n(AIMED.0)], vec![n(1)]]);
        assert_eq!(resolve(&one_group, &[NodeId(1)]), [] as [Fault; 0]);
        // A one-node fault repeats per chosen node.
        assert_eq!(
            resolve(&Fault::Isolate(n(AIMED.0)), &[NodeId(3), NodeId(0)]),
            [Fault::Isolate(n(3)), Fault::Isolate(n(0))]
        );
        let cut = Fault::Cut {
            from: n(AIMED.0),
            to: n(1),
        };
        assert_eq!(
            resolve(&cut, &[NodeId(2)]),
            [Fault::Cut {
                from: n(2),
                to: n(1)
            }]
        );
        assert_eq!(
            resolve(&cut, &[NodeId(1)]),
            [] as [Fault; 0],
            "a cut to itself"
        );
        let bridge = Fault::Bridge {
            groups: vec![vec![n(0), n(1)], vec![n(3), n(4)]],
            via: AIMED,
        };
        assert_eq!(
            resolve(&bridge, &[NodeId(1)]),
            [Fault::Bridge {
                groups: vec![vec![n(0)], vec![n(3), n(4)]],
                via: NodeId(1)
            }]
        );
    }

    #[test]
    fn undo_is_what_the_nemesis_would_do() {
        assert_eq!(
            Fault::Crash(NodeId(1)).undo(),
            Some(Fault::Restart(NodeId(1)))
        );
        assert_eq!(Fault::Isolate(n(1)).undo(), Some(Fault::HealLinks));
        assert_eq!(Fault::Restart(NodeId(1)).undo(), None);
        assert_eq!(Fault::HealLinks.undo(), None);
    }
}
