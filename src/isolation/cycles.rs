//! Cycle search: strongly connected components (petgraph's Tarjan) limit where cycles can
//! be, then a breadth-first search finds a short witness cycle per class per component.
//!
//! Every cycle lies inside one strongly connected component, so components of one
//! transaction (a clean history has only these) cost nothing. Inside a component:
//!
//! - G0: each component of the ww edges alone that has two or more transactions holds a
//!   ww-only cycle; one ww edge a→b inside it and the shortest ww path b→a close it.
//! - G1c: likewise for the components of ww and wr edges, from a wr edge inside one.
//! - G-single: for each rw edge a→b, the shortest ww/wr path b→a (exactly one rw edge).
//! - G2: for each rw edge a→b, the shortest path b→a over all edges that crosses at least
//!   one more rw edge (a search over (transaction, rw seen yet) pairs). The shortest such
//!   walk may pass a transaction twice; it is then no simple cycle and the next rw edge is
//!   tried. Finding a simple cycle through two given edges is hard in general, so G2 is
//!   searched this way, soundly but not completely: a reported G2 is real, and a component
//!   with a G2 cycle whose every shortest walk repeats a transaction goes unreported.
//!
//! Each class is counted once per component it appears in (G0 and G1c per sub-component),
//! with at most `cap` witnesses kept per class. Every edge looked at is a step; past the
//! budget the search stops and says so.

use super::infer::{Edge, NONE};
use super::{Class, EdgeKind};
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

const WW: u8 = 1;
const WR: u8 = 2;
const RW: u8 = 4;

fn bit(k: EdgeKind) -> u8 {
    match k {
        EdgeKind::Ww => WW,
        EdgeKind::Wr => WR,
        EdgeKind::Rw => RW,
    }
}

/// What the search found: per class, how many components show it and up to `cap`
/// witness cycles (edge indices, in order around the cycle).
pub(super) struct Found {
    pub counts: Vec<(Class, usize)>,
    pub cycles: Vec<(Class, Vec<u32>)>,
    pub steps: u64,
    pub exhausted: bool,
}

struct Searcher<'e> {
    edges: &'e [Edge],
    /// Out-edges of vertex v: `edges[offsets[v]..offsets[v + 1]]`.
    offsets: Vec<u32>,
    comp: Vec<u32>,
    seen: Vec<u32>,
    parent: Vec<(u32, u32)>,
    stamp: u32,
    queue: Vec<u32>,
    steps: u64,
    budget: u64,
    exhausted: bool,
}

impl Searcher<'_> {
    /// The shortest path from `start` to `goal` inside component `c` over edges of the kinds
    /// in `mask`; with `need_rw`, one that crosses at least one rw edge. Edge indices, in
    /// path order.
    fn path(&mut self, start: u32, goal: u32, c: u32, mask: u8, need_rw: bool) -> Option<Vec<u32>> {
        self.stamp += 1;
        self.queue.clear();
        let s0 = start * 2;
        self.seen[s0 as usize] = self.stamp;
        self.queue.push(s0);
        let mut head = 0;
        while head < self.queue.len() {
            let s = self.queue[head];
            head += 1;
            let (v, flag) = (s / 2, s % 2);
            if v == goal && (flag == 1 || !need_rw) {
                let mut out = Vec::new();
                let mut at = s;
                while at != s0 {
                    let (e, prev) = self.parent[at as usize];
                    out.push(e);
                    at = prev;
                }
                out.reverse();
                // A walk that passes one transaction twice (once before an rw edge, once
                // after) is no simple cycle: it is dropped, and the caller tries the next
                // edge (so G2 may be missed, never invented).
                let mut vs: Vec<u32> = out.iter().map(|&e| self.edges[e as usize].to).collect();
                vs.sort_unstable();
                let n = vs.len();
                vs.dedup();
                return (vs.len() == n).then_some(out);
            }
            if v == goal {
                continue; // a path passes the goal only to end there
            }
            let (lo, hi) = (self.offsets[v as usize], self.offsets[v as usize + 1]);
            for ei in lo..hi {
                self.steps += 1;
                if self.steps > self.budget {
                    self.exhausted = true;
                    return None;
                }
                let e = &self.edges[ei as usize];
                if bit(e.kind) & mask == 0 || self.comp[e.to as usize] != c || e.to == start {
                    continue;
                }
                let nf = if need_rw && e.kind == EdgeKind::Rw {
                    1
                } else {
                    flag
                };
                let ns = e.to * 2 + nf;
                if self.seen[ns as usize] != self.stamp {
                    self.seen[ns as usize] = self.stamp;
                    self.parent[ns as usize] = (ei, s);
                    self.queue.push(ns);
                }
            }
        }
        None
    }
}

/// Components of the graph over `members` restricted to edges in `mask` (inside component
/// `c`): each component of two or more vertices, as a list of vertices.
fn sub_components(
    s: &Searcher<'_>,
    members: &[u32],
    c: u32,
    mask: u8,
    local: &mut [u32],
) -> Vec<Vec<u32>> {
    for (i, &v) in members.iter().enumerate() {
        local[v as usize] = i as u32;
    }
    let mut g: DiGraph<(), ()> = DiGraph::with_capacity(members.len(), members.len() * 2);
    for _ in members {
        g.add_node(());
    }
    for &v in members {
        for e in &s.edges[s.offsets[v as usize] as usize..s.offsets[v as usize + 1] as usize] {
            if bit(e.kind) & mask != 0 && s.comp[e.to as usize] == c {
                g.add_edge(
                    NodeIndex::new(local[v as usize] as usize),
                    NodeIndex::new(local[e.to as usize] as usize),
                    (),
                );
            }
        }
    }
    tarjan_scc(&g)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| {
            let mut vs: Vec<u32> = c.iter().map(|n| members[n.index()]).collect();
            vs.sort_unstable();
            vs
        })
        .collect()
}

/// Searches the graph of `vertices` vertices and `edges` (sorted by `from`).
pub(super) fn search(vertices: usize, edges: &[Edge], budget: u64, cap: usize) -> Found {
    let mut offsets = vec![0u32; vertices + 1];
    for e in edges {
        offsets[e.from as usize + 1] += 1;
    }
    for v in 0..vertices {
        offsets[v + 1] += offsets[v];
    }
    let mut g: DiGraph<(), ()> = DiGraph::with_capacity(vertices, edges.len());
    for _ in 0..vertices {
        g.add_node(());
    }
    for e in edges {
        g.add_edge(
            NodeIndex::new(e.from as usize),
            NodeIndex::new(e.to as usize),
            (),
        );
    }
    let mut comp = vec![NONE; vertices];
    let mut components: Vec<Vec<u32>> = Vec::new();
    for c in tarjan_scc(&g) {
        if c.len() > 1 {
            let mut vs: Vec<u32> = c.iter().map(|n| n.index() as u32).collect();
            vs.sort_unstable();
            for &v in &vs {
                comp[v as usize] = components.len() as u32;
            }
            components.push(vs);
        }
    }
    drop(g);
    // Components in the order of their smallest vertex, so the report does not depend on
    // Tarjan's visiting order.
    components.sort_unstable_by_key(|c| c[0]);
    for (i, c) in components.iter().enumerate() {
        for &v in c {
            comp[v as usize] = i as u32;
        }
    }
    let mut s = Searcher {
        edges,
        offsets,
        comp,
        seen: vec![0; vertices * 2],
        parent: vec![(0, 0); vertices * 2],
        stamp: 0,
        queue: Vec::new(),
        steps: 0,
        budget,
        exhausted: false,
    };
    let classes = [Class::G0, Class::G1c, Class::GSingle, Class::G2];
    let mut counts: Vec<(Class, usize)> = classes.iter().map(|&c| (c, 0)).collect();
    let mut cycles: Vec<(Class, Vec<u32>)> = Vec::new();
    let mut local = vec![0u32; vertices];
    let mut record =
        |class: Class, first: u32, rest: Vec<u32>, counts: &mut Vec<(Class, usize)>| {
            let slot = counts.iter_mut().find(|(c, _)| *c == class).expect("class");
            slot.1 += 1;
            if slot.1 <= cap {
                let mut cycle = vec![first];
                cycle.extend(rest);
                cycles.push((class, cycle));
            }
        };
    'components: for (ci, members) in components.iter().enumerate() {
        let c = ci as u32;
        for (class, mask, closing) in [
            (Class::G0, WW, EdgeKind::Ww),
            (Class::G1c, WW | WR, EdgeKind::Wr),
        ] {
            for sub in sub_components(&s, members, c, mask, &mut local) {
                // An edge of the closing kind inside the sub-component: both ends in it.
                let inside = |e: &Edge| sub.binary_search(&e.to).is_ok();
                let mut start = None;
                for &v in &sub {
                    let (lo, hi) = (s.offsets[v as usize], s.offsets[v as usize + 1]);
                    start = (lo..hi).find(|&ei| {
                        let e = &edges[ei as usize];
                        e.kind == closing && inside(e)
                    });
                    if start.is_some() {
                        break;
                    }
                }
                let Some(ei) = start else { continue };
                let e = edges[ei as usize];
                match s.path(e.to, e.from, c, mask, false) {
                    Some(rest) => record(class, ei, rest, &mut counts),
                    None if s.exhausted => break 'components,
                    None => {}
                }
            }
        }
        for (class, mask, need_rw) in [
            (Class::GSingle, WW | WR, false),
            (Class::G2, WW | WR | RW, true),
        ] {
            'edges: for &v in members {
                let (lo, hi) = (s.offsets[v as usize], s.offsets[v as usize + 1]);
                for ei in lo..hi {
                    let e = edges[ei as usize];
                    if e.kind != EdgeKind::Rw || s.comp[e.to as usize] != c {
                        continue;
                    }
                    match s.path(e.to, e.from, c, mask, need_rw) {
                        Some(rest) => {
                            record(class, ei, rest, &mut counts);
                            break 'edges;
                        }
                        None if s.exhausted => break 'components,
                        None => {}
                    }
                }
            }
        }
    }
    Found {
        counts,
        cycles,
        steps: s.steps,
        exhausted: s.exhausted,
    }
}
