//! Recovery metrics, for every protocol: how long after a node goes out of service (a crash,
//! or a pause) it serves again, how long until the cluster serves again, and how many of
//! these outages ended in service within the protocol's liveness budget.
//!
//! What counts as serving is the protocol's declaration
//! ([`Serves`](crate::protocol::Serves), in its vocabulary); the world reports each service
//! event as it happens, and the fault triggers report the outages. [`Recovery`] folds the two
//! into per-outage figures as the run goes, keeping only the outages still waiting (at most
//! one per node and kind of wait) and one duration per outage (outages are faults, bounded by
//! `limits.faults_max`), and [`Recovery::report`] turns them into the summary's figures
//! (docs/metrics.md defines each one exactly).

use super::{Trigger, TriggerKind};
use crate::base::types::{NodeId, Time};
use serde::{Deserialize, Serialize};

/// One outage still waiting for service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Open {
    /// Its index among the run's outages.
    index: usize,
    /// The node.
    node: NodeId,
    /// When it began.
    at: Time,
}

/// What became of one outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Outage {
    node: NodeId,
    at: Time,
    /// Whether it was a crash (else a pause).
    crash: bool,
    /// Until the node served again.
    node_after: Option<Time>,
    /// Until any node served again.
    cluster_after: Option<Time>,
}

/// Folds outages and service events into recovery figures. Cheap when nothing waits: a
/// service event with no outage open costs two length checks.
#[derive(Clone, Debug)]
pub struct Recovery {
    /// How the protocol declared serving, for the report (`reply`, `progress of KEY`).
    serves: String,
    /// The budget within which an outage must end in service to count as recovered.
    budget: Time,
    outages: Vec<Outage>,
    /// Outages waiting for their own node to serve.
    node_open: Vec<Open>,
    /// Outages waiting for any node to serve.
    cluster_open: Vec<Open>,
    /// Nodes down now (crashed, not restarted), by index.
    down: Vec<bool>,
}

impl Recovery {
    /// A tracker for a run whose protocol declares serving as `serves` (described) and owes
    /// recovery within `budget`.
    pub fn new(serves: String, budget: Time) -> Recovery {
        Recovery {
            serves,
            budget,
            outages: Vec::new(),
            node_open: Vec::new(),
            cluster_open: Vec::new(),
            down: Vec::new(),
        }
    }

    /// A fault trigger: a crash or a pause opens an outage; a restart marks the node up.
    pub fn on_trigger(&mut self, t: &Trigger) {
        let Some(node) = t.node else { return };
        match t.kind {
            TriggerKind::Crash | TriggerKind::Pause => {
                let crash = t.kind == TriggerKind::Crash;
                if crash {
                    self.set_down(node, true);
                }
                let index = self.outages.len();
                self.outages.push(Outage {
                    node,
                    at: t.at,
                    crash,
                    node_after: None,
                    cluster_after: None,
                });
                let open = Open {
                    index,
                    node,
                    at: t.at,
                };
                self.node_open.push(open);
                self.cluster_open.push(open);
            }
            TriggerKind::Restart => self.set_down(node, false),
            _ => {}
        }
    }

    fn set_down(&mut self, node: NodeId, down: bool) {
        if self.down.len() <= node.index() {
            self.down.resize(node.index() + 1, false);
        }
        self.down[node.index()] = down;
    }

    /// Node `node` served at `at`: ends every outage of that node still waiting, and every
    /// outage waiting for the cluster.
    #[inline]
    pub fn on_served(&mut self, node: NodeId, at: Time) {
        if self.cluster_open.is_empty() && self.node_open.is_empty() {
            return;
        }
        for o in self.cluster_open.drain(..) {
            self.outages[o.index].cluster_after = Some(at.sub(o.at));
        }
        let outages = &mut self.outages;
        self.node_open.retain(|o| {
            if o.node != node {
                return true;
            }
            outages[o.index].node_after = Some(at.sub(o.at));
            false
        });
    }

    /// The figures at the end of a run that ended at `end`.
    pub fn report(&self, end: Time) -> RecoveryReport {
        let mut r = RecoveryReport {
            serves: self.serves.clone(),
            budget_ms: ms(self.budget),
            outages: self.outages.len() as u64,
            crashes: self.outages.iter().filter(|o| o.crash).count() as u64,
            ..RecoveryReport::default()
        };
        let mut node = Vec::new();
        let mut cluster = Vec::new();
        // Each node's latest outage.
        let mut last: Vec<Option<usize>> = Vec::new();
        for (i, o) in self.outages.iter().enumerate() {
            if last.len() <= o.node.index() {
                last.resize(o.node.index() + 1, None);
            }
            last[o.node.index()] = Some(i);
        }
        for (i, o) in self.outages.iter().enumerate() {
            if let Some(d) = o.node_after {
                node.push(d);
            }
            if let Some(d) = o.cluster_after {
                cluster.push(d);
            }
            let deadline = o.at.add(self.budget);
            match o.node_after {
                Some(d) if d <= self.budget => r.recovered += 1,
                // Served, but too late; or not yet, and the budget ran out before the end.
                Some(_) => r.not_recovered += 1,
                None if deadline <= end => r.not_recovered += 1,
                None => r.undecided += 1,
            }
            // Down at the end from this outage: a crash, no restart since, no later outage
            // of the same node (which would be the one it is down from).
            let latest = last.get(o.node.index()) == Some(&Some(i));
            if o.crash && latest && self.down.get(o.node.index()).copied().unwrap_or(false) {
                r.down_at_end += 1;
            }
        }
        let decided = r.recovered + r.not_recovered;
        r.rate = (decided > 0).then(|| r.recovered as f64 / decided as f64);
        r.node_ms_median = median_ms(&mut node);
        r.node_ms_max = node.iter().max().map(|&t| ms(t));
        r.cluster_ms_median = median_ms(&mut cluster);
        r.cluster_ms_max = cluster.iter().max().map(|&t| ms(t));
        r
    }
}

fn ms(t: Time) -> f64 {
    t.as_us() as f64 / 1_000.0
}

/// `v` to the microsecond, so that a mean of two middle values prints as a time does.
fn to_us(v: f64) -> f64 {
    (v * 1_000.0).round() / 1_000.0
}

/// The median in milliseconds (the mean of the two middle values for an even count), or
/// `None` for no values.
fn median_ms(values: &mut [Time]) -> Option<f64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(ms(values[n / 2])),
        _ => Some(to_us((ms(values[n / 2 - 1]) + ms(values[n / 2])) / 2.0)),
    }
}

/// The median of `values` (the mean of the two middle ones for an even count), or `None`.
pub fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some(to_us((values[n / 2 - 1] + values[n / 2]) / 2.0)),
    }
}

/// A run's recovery figures (docs/metrics.md, "Recovery"). Times are in milliseconds of
/// virtual time; `None` (JSON `null`, "n/a" in the summary) when there is nothing to
/// measure: no outage, or no service after any.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecoveryReport {
    /// What counts as serving, as the protocol declared it (left out of a sweep's per-seed
    /// figures, where it is the same for every seed).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub serves: String,
    /// The budget an outage must end within to count as recovered: the protocol's
    /// liveness budget (the largest of its `Protocol::liveness` budgets).
    pub budget_ms: f64,
    /// Outages: crashes and pauses (a crash of a node already down is no new outage).
    pub outages: u64,
    /// Of the outages, crashes.
    pub crashes: u64,
    /// Outages after which the node served again within the budget.
    pub recovered: u64,
    /// Outages after which the node did not serve within the budget (later, or never, with
    /// the budget over before the run ended).
    pub not_recovered: u64,
    /// Outages with no service yet whose budget reaches past the end of the run: neither.
    pub undecided: u64,
    /// Crashed nodes still down at the end (counted in `not_recovered` or `undecided`).
    pub down_at_end: u64,
    /// `recovered / (recovered + not_recovered)`.
    pub rate: Option<f64>,
    /// Outage → the node serves again: median over the outages after which it did.
    pub node_ms_median: Option<f64>,
    /// Outage → the node serves again: maximum.
    pub node_ms_max: Option<f64>,
    /// Outage → the first service by any node after it: median.
    pub cluster_ms_median: Option<f64>,
    /// Outage → the first service by any node after it: maximum.
    pub cluster_ms_max: Option<f64>,
}

impl RecoveryReport {
    /// The figures as metrics, each under `recovery.NAME`.
    pub fn metrics(&self) -> Vec<(String, serde_json::Value)> {
        let serde_json::Value::Object(fields) =
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        else {
            return Vec::new();
        };
        fields
            .into_iter()
            .map(|(k, v)| (format!("recovery.{k}"), v))
            .collect()
    }

    /// One line for a human summary.
    pub fn line(&self) -> String {
        let t = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.0}"));
        format!(
            "{} outages ({} crashes): {} recovered within {:.0} ms, {} not, {} undecided, {} down at the end; rate {}; node {}/{} ms, cluster {}/{} ms (median/max); serves = {}",
            self.outages,
            self.crashes,
            self.recovered,
            self.budget_ms,
            self.not_recovered,
            self.undecided,
            self.down_at_end,
            self.rate.map_or("n/a".to_string(), |r| format!("{r:.3}")),
            t(self.node_ms_median),
            t(self.node_ms_max),
            t(self.cluster_ms_median),
            t(self.cluster_ms_max),
            self.serves
        )
    }
}

/// Recovery over many runs (a sweep): per-seed figures folded into one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecoveryAggregate {
    /// Runs folded in.
    pub runs: u64,
    /// Runs with at least one outage.
    pub runs_with_outages: u64,
    /// Outages, all runs.
    pub outages: u64,
    /// Recovered, all runs.
    pub recovered: u64,
    /// Not recovered, all runs.
    pub not_recovered: u64,
    /// Undecided, all runs.
    pub undecided: u64,
    /// Down at the end, all runs.
    pub down_at_end: u64,
    /// Overall rate: all runs' recovered over all runs' recovered and not recovered.
    pub rate: Option<f64>,
    /// Median of the runs' node medians.
    pub node_ms_median: Option<f64>,
    /// Largest of the runs' node maxima.
    pub node_ms_max: Option<f64>,
    /// Median of the runs' cluster medians.
    pub cluster_ms_median: Option<f64>,
    /// Largest of the runs' cluster maxima.
    pub cluster_ms_max: Option<f64>,
}

impl RecoveryAggregate {
    /// Folds the runs' figures.
    pub fn of<'a>(runs: impl IntoIterator<Item = &'a RecoveryReport>) -> RecoveryAggregate {
        let mut a = RecoveryAggregate::default();
        let (mut node, mut cluster) = (Vec::new(), Vec::new());
        let max = |m: Option<f64>, v: Option<f64>| match (m, v) {
            (Some(m), Some(v)) => Some(m.max(v)),
            (m, v) => m.or(v),
        };
        for r in runs {
            a.runs += 1;
            a.runs_with_outages += u64::from(r.outages > 0);
            a.outages += r.outages;
            a.recovered += r.recovered;
            a.not_recovered += r.not_recovered;
            a.undecided += r.undecided;
            a.down_at_end += r.down_at_end;
            node.extend(r.node_ms_median);
            cluster.extend(r.cluster_ms_median);
            a.node_ms_max = max(a.node_ms_max, r.node_ms_max);
            a.cluster_ms_max = max(a.cluster_ms_max, r.cluster_ms_max);
        }
        let decided = a.recovered + a.not_recovered;
        a.rate = (decided > 0).then(|| a.recovered as f64 / decided as f64);
        a.node_ms_median = median(&mut node);
        a.cluster_ms_median = median(&mut cluster);
        a
    }

    /// One line for a human summary.
    pub fn line(&self) -> String {
        let t = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.0}"));
        format!(
            "{} outages in {} of {} runs: {} recovered, {} not, {} undecided, {} down at the end; rate {}; node {}/{} ms, cluster {}/{} ms (median of medians/max)",
            self.outages,
            self.runs_with_outages,
            self.runs,
            self.recovered,
            self.not_recovered,
            self.undecided,
            self.down_at_end,
            self.rate.map_or("n/a".to_string(), |r| format!("{r:.3}")),
            t(self.node_ms_median),
            t(self.node_ms_max),
            t(self.cluster_ms_median),
            t(self.cluster_ms_max),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(kind: TriggerKind, node: u32, ms: u64) -> Trigger {
        Trigger {
            kind,
            node: Some(NodeId(node)),
            at: Time::from_ms(ms),
        }
    }

    #[test]
    fn a_hand_made_timeline_gives_the_known_figures() {
        let mut r = Recovery::new("reply".into(), Time::from_ms(1_000));
        r.on_served(NodeId(0), Time::from_ms(5)); // nothing open: nothing happens
        // n2 crashes at 100; n1 serves at 150 (cluster: 50); n2 restarts at 400, serves at
        // 700 (node: 600, within the budget).
        r.on_trigger(&at(TriggerKind::Crash, 1, 100));
        r.on_served(NodeId(0), Time::from_ms(150));
        r.on_trigger(&at(TriggerKind::Restart, 1, 400));
        r.on_served(NodeId(1), Time::from_ms(700));
        // n3 pauses at 1_000; n1 serves at 1_010 (cluster: 10); resumed, n3 serves at 3_000
        // (node: 2_000, over the budget: not recovered).
        r.on_trigger(&at(TriggerKind::Pause, 2, 1_000));
        r.on_served(NodeId(0), Time::from_ms(1_010));
        r.on_trigger(&at(TriggerKind::Resume, 2, 2_900));
        r.on_served(NodeId(2), Time::from_ms(3_000));
        // n1 crashes at 4_000 and never restarts; n2 serves at 4_300 (cluster: 300).
        r.on_trigger(&at(TriggerKind::Crash, 0, 4_000));
        r.on_served(NodeId(1), Time::from_ms(4_300));
        // n2 crashes at 9_500, restarts, and the run ends at 10_000 before its budget.
        r.on_trigger(&at(TriggerKind::Crash, 1, 9_500));
        r.on_trigger(&at(TriggerKind::Restart, 1, 9_600));
        let rep = r.report(Time::from_ms(10_000));
        assert_eq!(rep.outages, 4);
        assert_eq!(rep.crashes, 3);
        assert_eq!(rep.recovered, 1);
        assert_eq!(
            rep.not_recovered, 2,
            "the late one and the one never restarted"
        );
        assert_eq!(rep.undecided, 1);
        assert_eq!(rep.down_at_end, 1);
        assert_eq!(rep.rate, Some(1.0 / 3.0));
        assert_eq!(rep.node_ms_median, Some(1_300.0)); // 600 and 2_000
        assert_eq!(rep.node_ms_max, Some(2_000.0));
        assert_eq!(rep.cluster_ms_median, Some(50.0)); // 10, 50, 300
        assert_eq!(rep.cluster_ms_max, Some(300.0));
        let m = rep.metrics();
        assert!(
            m.iter()
                .any(|(k, v)| k == "recovery.node_ms_max" && v == 2_000.0)
        );
        assert!(m.iter().all(|(k, _)| k.starts_with("recovery.")));
    }

    #[test]
    fn no_service_is_not_applicable_rather_than_zero() {
        let mut r = Recovery::new("reply".into(), Time::from_ms(100));
        let empty = r.report(Time::from_ms(1_000));
        assert_eq!(
            (empty.outages, empty.rate, empty.node_ms_median),
            (0, None, None)
        );
        r.on_trigger(&at(TriggerKind::Crash, 0, 10));
        r.on_trigger(&at(TriggerKind::Restart, 0, 20));
        let rep = r.report(Time::from_ms(1_000));
        assert_eq!(
            (rep.not_recovered, rep.down_at_end, rep.rate),
            (1, 0, Some(0.0))
        );
        assert_eq!((rep.node_ms_median, rep.cluster_ms_max), (None, None));
        assert!(rep.line().contains("node n/a/n/a ms"), "{}", rep.line());
    }

    #[test]
    fn the_aggregate_takes_medians_of_medians_maxima_of_maxima_and_the_overall_rate() {
        let run = |med: f64, max: f64, rec: u64, not: u64| RecoveryReport {
            outages: rec + not,
            recovered: rec,
            not_recovered: not,
            node_ms_median: Some(med),
            node_ms_max: Some(max),
            ..RecoveryReport::default()
        };
        let runs = [
            run(10.0, 20.0, 1, 0),
            run(30.0, 90.0, 2, 1),
            run(20.0, 25.0, 1, 0),
            RecoveryReport::default(),
        ];
        let a = RecoveryAggregate::of(&runs);
        assert_eq!((a.runs, a.runs_with_outages, a.outages), (4, 3, 5));
        assert_eq!(a.node_ms_median, Some(20.0));
        assert_eq!(a.node_ms_max, Some(90.0));
        assert_eq!(a.rate, Some(0.8));
        assert_eq!(a.cluster_ms_median, None);
    }
}
