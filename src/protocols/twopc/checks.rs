//! Two-phase commit's checks and metrics.
//!
//! The checks are the kit's transactional ones (`crate::kit::txn::checks`): `atomicity` and
//! `money_conserved` in every run, `in_doubt_resolves` where a scenario expects it (the swarm,
//! after the heal; `twopc/coordinator-crash-blocks`, where it fails). The client history of a
//! list-append or register workload is judged by the isolation checker at the end of the run.
//!
//! Metrics: `twopc.committed` and `twopc.aborted` (decisions the coordinators took, from
//! their logs), `twopc.in_doubt_at_end` (transactions participants still hold undecided when
//! the run ends) and `twopc.longest_in_doubt_ms` (the longest any transaction was seen in
//! doubt at an up participant: the price of blocking).

use super::{Config, TwoPc};
use crate::kit::txn::checks::{self as shared, TxnNode};
use crate::protocol::{Metric, MetricDef, PropertyDef, View};

pub(super) fn properties() -> Vec<PropertyDef<TwoPc>> {
    shared::properties()
}

pub(super) fn metrics() -> Vec<MetricDef<TwoPc>> {
    vec![MetricDef {
        name: "twopc",
        description: "decisions taken (committed, aborted), transactions still in doubt at the end, and the longest time a transaction was seen in doubt",
        make: |_: &Config| Box::new(TxnMetrics::default()),
    }]
}

#[derive(Default)]
struct TxnMetrics {
    committed: Vec<u64>,
    aborted: Vec<u64>,
    in_doubt: Vec<u64>,
    longest_us: u64,
}

impl Metric<TwoPc> for TxnMetrics {
    fn observe(&mut self, view: &View<'_, TwoPc>) {
        let n = view.cluster_size() as usize;
        if self.committed.len() != n {
            self.committed.resize(n, 0);
            self.aborted.resize(n, 0);
            self.in_doubt.resize(n, 0);
        }
        for node in crate::protocol::library::touched(view) {
            let Some(s) = view.node(node) else {
                continue;
            };
            let i = node.index();
            self.committed[i] = s.commits;
            self.aborted[i] = s.aborts;
            self.in_doubt[i] = s.participant().prepared().len() as u64;
            if let Some(since) = s.participant().oldest_in_doubt() {
                let d = view.local_time(node).sub(since).as_us();
                self.longest_us = self.longest_us.max(d);
            }
        }
    }

    fn report(&self) -> Vec<(String, serde_json::Value)> {
        vec![
            (
                "twopc.committed".into(),
                self.committed.iter().sum::<u64>().into(),
            ),
            (
                "twopc.aborted".into(),
                self.aborted.iter().sum::<u64>().into(),
            ),
            (
                "twopc.in_doubt_at_end".into(),
                self.in_doubt.iter().sum::<u64>().into(),
            ),
            (
                "twopc.longest_in_doubt_ms".into(),
                (self.longest_us / 1000).into(),
            ),
        ]
    }
}
