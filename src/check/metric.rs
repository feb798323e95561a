//! Metrics: measurements a protocol reports in the run summary (`RunReport.metrics`). A
//! metric sees every step and every triggering event, and never fails by itself: it is not a
//! check. A scenario may bound one (`{"metric": "retransmissions", "at_most": 400}`), judged
//! once at the end of the run by the runner; [`metric_value`] finds the value a name means.

use super::{Trigger, View};
use crate::protocol::Protocol;

/// A measurement of one run.
pub trait Metric<P: Protocol> {
    /// Sees the world after one step.
    fn observe(&mut self, view: &View<'_, P>);

    /// Told of every triggering event (crash, restart, heal, ...) as it happens.
    fn on_trigger(&mut self, trigger: &Trigger) {
        let _ = trigger;
    }

    /// The measurements for the run summary, as (name, value) pairs.
    fn report(&self) -> Vec<(String, serde_json::Value)>;
}

/// A metric a protocol reports in every run with checks on.
pub struct MetricDef<P: Protocol> {
    /// Name, for documentation (the values carry their own names).
    pub name: &'static str,
    /// One line on what it measures.
    pub description: &'static str,
    /// Builds a fresh instance for one run.
    pub make: fn(&P::Config) -> Box<dyn Metric<P>>,
}

/// The number `name` means among a run's metrics: a reported name (`retransmissions`), or a
/// reported name and a path into its value (`fixed.detection.max_ms` is `max_ms` in what
/// `fixed.detection` reports); the longest reported name that fits wins. `Err` says why there
/// is no number: no such metric (with the names there are), or a value that is not a number
/// (null when the run had nothing to measure).
pub fn metric_value(
    metrics: &std::collections::BTreeMap<String, serde_json::Value>,
    name: &str,
) -> Result<f64, String> {
    let found = reported_name(metrics.keys().map(String::as_str), name)
        .and_then(|k| metrics.get_key_value(k));
    let Some((key, mut value)) = found else {
        let names: Vec<&str> = metrics.keys().map(String::as_str).collect();
        return Err(format!(
            "no metric named {name:?}; the protocol reports: {}",
            names.join(", ")
        ));
    };
    if name.len() > key.len() {
        for part in name[key.len() + 1..].split('.') {
            value = match value.get(part) {
                Some(v) => v,
                None => {
                    return Err(format!(
                        "metric {key:?} has no field {part:?} on the way to {name:?} (its value: {value})"
                    ));
                }
            };
        }
    }
    value
        .as_f64()
        .ok_or_else(|| format!("metric {name:?} is {value}, not a number, in this run"))
}

/// The reported name `name` starts with: `name` itself, or the longest reported name that
/// `name` continues with a `.` and a path into its value.
pub fn reported_name<'a>(reported: impl Iterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    reported
        .filter(|k| name == *k || (name.starts_with(k) && name[k.len()..].starts_with('.')))
        .max_by_key(|k| k.len())
}

/// `x / per` as a metric's value, or null when `per` is 0 (a rate with nothing to divide by:
/// no slot chosen, no operation invoked).
pub fn ratio(x: u64, per: u64) -> serde_json::Value {
    if per == 0 {
        serde_json::Value::Null
    } else {
        (x as f64 / per as f64).into()
    }
}

/// The stores' work over a run, for a protocol's metrics: each node's syncs and writes as
/// last seen (a store changes only in its node's own steps, so looking at the nodes a step
/// touched is enough), summed over the nodes.
#[derive(Clone, Debug, Default)]
pub struct StoreTally {
    syncs: Vec<u64>,
    writes: Vec<u64>,
}

impl StoreTally {
    /// Reads `node`'s store counters after a step that touched it.
    pub fn observe<P: Protocol>(&mut self, view: &View<'_, P>, node: crate::base::types::NodeId) {
        if self.syncs.len() <= node.index() {
            let n = view.cluster_size() as usize;
            self.syncs.resize(n, 0);
            self.writes.resize(n, 0);
        }
        let stats = view.store(node).stats();
        self.syncs[node.index()] = stats.syncs;
        self.writes[node.index()] = stats.writes;
    }
    /// Syncs that made something durable, every node, every incarnation.
    pub fn syncs(&self) -> u64 {
        self.syncs.iter().sum()
    }
    /// Cell writes and record appends, every node, every incarnation.
    pub fn writes(&self) -> u64 {
        self.writes.iter().sum()
    }
}
