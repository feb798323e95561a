//! The store's checks and metrics: one value per clock and ownership agreement (always),
//! convergence and no acknowledged write lost (eventually, after the heal), and the run's
//! ring and sibling figures.

use super::{Dynamo, Request, Response, Siblings};
use crate::kit::ring::{Ring, ring_metrics};
use crate::protocol::library::touched;
use crate::protocol::{
    Failure, Metric, MetricDef, NodeId, Outcome, PropertyDef, StoreTally, Trigger, VClock, View,
    ratio,
};
use std::collections::{BTreeMap, BTreeSet};

// What the checks read of a node: oracle code, kept beside the checks.
impl Dynamo {
    /// The key's sibling set in this node's data (empty when it holds none).
    pub fn data_of(&self, key: &str) -> Siblings {
        self.data.get(key).cloned().unwrap_or_default()
    }

    /// Every key with data on this node.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.data.keys()
    }

    /// This node's ring (from its membership view).
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Replicas per key.
    pub fn replicas(&self) -> usize {
        self.config.replicas as usize
    }

    /// Hints held, by (replica, key).
    pub fn hints(&self) -> &BTreeMap<(NodeId, String), Siblings> {
        &self.hints
    }

    /// Every version this node holds, data and hints, as (key, clock, value).
    fn all_versions(&self) -> impl Iterator<Item = (&String, &VClock, i64)> {
        let data = self.data.iter().flat_map(|(k, s)| {
            s.versions()
                .iter()
                .map(move |v| (k, &v.clock, v.datum.plain()))
        });
        let hints = self.hints.iter().flat_map(|((_, k), s)| {
            s.versions()
                .iter()
                .map(move |v| (k, &v.clock, v.datum.plain()))
        });
        data.chain(hints)
    }
}

pub(super) fn properties() -> Vec<PropertyDef<Dynamo>> {
    vec![
        PropertyDef::invariant(
            "one_value_per_clock",
            "no two nodes hold different values of a key under the same vector clock (a coordinator never mints one clock twice)",
            one_value_per_clock,
        )
        .always(),
        PropertyDef::invariant(
            "ownership_agreement",
            "nodes with the same membership view compute the same ring, so the same preference lists",
            ownership_agreement,
        )
        .always(),
        PropertyDef::invariant(
            "converged",
            "the up nodes share one membership and every key's up replicas hold the same sibling set (use as `eventually`)",
            converged,
        ),
        PropertyDef::invariant(
            "no_acked_write_lost",
            "every acknowledged write is held, or dominated by a version held, at every up replica of its key (use as `eventually`)",
            no_acked_write_lost,
        ),
    ]
}

/// No two nodes hold different values under one clock: the node a step touched against
/// every other up node.
fn one_value_per_clock(view: &View<'_, Dynamo>, _: Option<&Trigger>) -> Result<(), Failure> {
    for a in touched(view) {
        let Some(x) = view.node(a) else { continue };
        let mine: BTreeMap<(&String, &VClock), i64> =
            x.all_versions().map(|(k, c, v)| ((k, c), v)).collect();
        for b in view.nodes() {
            let Some(y) = view.node(b) else { continue };
            for (k, c, v) in y.all_versions() {
                if let Some(&w) = mine.get(&(k, c)) {
                    if w != v {
                        return Err(Failure::new(
                            format!(
                                "{a} holds {k} = {w} and {b} holds {k} = {v} under the same clock {c}"
                            ),
                            vec![a, b],
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Nodes that agree on the members agree on the ring.
fn ownership_agreement(view: &View<'_, Dynamo>, _: Option<&Trigger>) -> Result<(), Failure> {
    for a in touched(view) {
        let Some(x) = view.node(a) else { continue };
        for b in view.nodes().filter(|&b| b != a) {
            let Some(y) = view.node(b) else { continue };
            if x.ring.members() == y.ring.members() && x.ring != y.ring {
                return Err(Failure::new(
                    format!("{a} and {b} have the same members but different rings"),
                    vec![a, b],
                ));
            }
        }
    }
    Ok(())
}

/// The up nodes, and the ring they all hold, or a failure naming two that differ.
fn common_ring<'a>(view: &View<'a, Dynamo>) -> Result<Option<&'a Dynamo>, Failure> {
    let mut first: Option<(NodeId, &Dynamo)> = None;
    for n in view.nodes().filter(|&n| view.is_up(n)) {
        let Some(x) = view.node(n) else { continue };
        match first {
            None => first = Some((n, x)),
            Some((a, y)) if y.ring.members() != x.ring.members() => {
                return Err(Failure::new(
                    format!(
                        "{a} and {n} have different members: {:?} against {:?}",
                        y.ring.members(),
                        x.ring.members()
                    ),
                    vec![a, n],
                ));
            }
            Some(_) => {}
        }
    }
    Ok(first.map(|(_, x)| x))
}

fn converged(view: &View<'_, Dynamo>, _: Option<&Trigger>) -> Result<(), Failure> {
    let Some(any) = common_ring(view)? else {
        return Ok(());
    };
    let mut keys: BTreeSet<&String> = BTreeSet::new();
    for n in view.nodes().filter(|&n| view.is_up(n)) {
        if let Some(x) = view.node(n) {
            keys.extend(x.keys());
        }
    }
    for key in keys {
        let mut first: Option<(NodeId, Siblings)> = None;
        for r in any.ring.preference_list(key, any.replicas()) {
            if !view.is_up(r) {
                continue;
            }
            let Some(x) = view.node(r) else { continue };
            let s = x.data_of(key);
            match &first {
                None => first = Some((r, s)),
                Some((a, t)) if *t != s => {
                    return Err(Failure::new(
                        format!(
                            "replicas {a} and {r} of {key} differ: {:?} against {:?}",
                            t.shown(),
                            s.shown()
                        ),
                        vec![*a, r],
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

fn no_acked_write_lost(view: &View<'_, Dynamo>, _: Option<&Trigger>) -> Result<(), Failure> {
    let Some(any) = common_ring(view)? else {
        return Ok(());
    };
    for op in view.history().ops() {
        let (Request::Put { key, value, .. }, Outcome::Ok(Response::Stored { clock })) =
            (&op.request, &op.outcome)
        else {
            continue;
        };
        for r in any.ring.preference_list(key, any.replicas()) {
            if !view.is_up(r) {
                continue;
            }
            let Some(x) = view.node(r) else { continue };
            if !x.data_of(key).covers(clock, *value) {
                return Err(Failure::new(
                    format!(
                        "the acknowledged write {key} = {value} @ {clock} is missing at replica {r}, which holds {:?}",
                        x.data_of(key).shown()
                    ),
                    vec![r],
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn metrics() -> Vec<MetricDef<Dynamo>> {
    vec![MetricDef {
        name: "dynamo_metrics",
        description: "largest sibling set, store writes per operation, and the ring's balance and keys moved per join and leave (this run's nodes and vnodes, 10,000 keys, against the ideal K/(n+1) and K/n)",
        make: |_| Box::new(DynamoMetrics::default()),
    }]
}

/// Run statistics for the summary.
#[derive(Default)]
struct DynamoMetrics {
    stores: StoreTally,
    ops: u64,
    siblings_max: usize,
    vnodes: u32,
    nodes: u32,
}

impl Metric<Dynamo> for DynamoMetrics {
    fn observe(&mut self, view: &View<'_, Dynamo>) {
        for node in touched(view) {
            self.stores.observe(view, node);
            if let Some(x) = view.node(node) {
                self.siblings_max = self.siblings_max.max(x.siblings_max);
                self.vnodes = x.ring.vnodes();
                self.nodes = view.cluster_size();
            }
        }
        self.ops = view.history().ops().len() as u64;
    }

    fn report(&self) -> Vec<(String, serde_json::Value)> {
        // The ring of this run's cluster and virtual nodes over 10,000 keys: its balance, and
        // the keys one more node, or one fewer, would move (against the ideal K/(n+1), K/n).
        let m = ring_metrics(self.nodes.max(1), self.vnodes.max(1), 10_000);
        vec![
            (
                "dynamo.siblings_max".into(),
                (self.siblings_max as u64).into(),
            ),
            (
                "dynamo.writes_per_op".into(),
                ratio(self.stores.writes(), self.ops),
            ),
            (
                "dynamo.ring_balance".into(),
                ((m.balance * 1000.0).round() / 1000.0).into(),
            ),
            ("dynamo.ring_moved_join".into(), m.moved_join.into()),
            ("dynamo.ring_moved_leave".into(), m.moved_leave.into()),
            ("dynamo.ring_ideal_join".into(), m.ideal_join.into()),
            ("dynamo.ring_ideal_leave".into(), m.ideal_leave.into()),
        ]
    }
}
