//! Primary-backup's checks and metrics, and what they read of a node.
//!
//! From the check library: `one_primary_per_epoch` (`OneLeaderPerEpoch`),
//! `epoch_never_goes_back` (`Monotonic::durable`), `fenced_writes` (`Fenced`: a backup
//! applies nothing from an older epoch than one it already took writes from) and
//! `applied_advances` (`Advances`). Its own: `acked_writes_survive` (a primary starts to serve
//! holding every write any primary acknowledged before) and `primary_serves` (after the heal,
//! the view manager's primary serves). The client history is checked against the key-value
//! model at the end of every run.

use super::{Config, Pb, Role, VIEW_MANAGER};
use crate::protocol::library::{Advances, Fenced, Monotonic, OneLeaderPerEpoch, touched};
use crate::protocol::{
    Failure, Metric, MetricDef, Monitor, NodeId, PropertyDef, Time, Trigger, TriggerKind, View,
};
use std::collections::BTreeMap;
use std::hash::Hash;

/// What the checks and metrics read of a node (kept beside them: the mutation routine leaves
/// this file alone, docs/scale.md).
impl Pb {
    /// Current role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The epoch: a replica's highest adopted, the view manager's current view's.
    pub fn epoch(&self) -> u64 {
        if self.id == VIEW_MANAGER {
            self.manager.view.epoch
        } else {
            self.epoch
        }
    }
    /// A primary whose backups hold its state: it serves.
    pub fn serving(&self) -> bool {
        self.role == Role::Primary && self.confirmed
    }
    /// Writes applied since start and the epoch of the last one (a transfer counts as one).
    pub fn writes(&self) -> (u64, u64) {
        self.writes
    }
    /// The index of the last write applied.
    pub fn applied(&self) -> u64 {
        self.state.applied
    }
    /// A primary's last index answered to its client.
    pub fn committed(&self) -> u64 {
        self.committed
    }
    /// The view manager's view: epoch and primary.
    pub fn managed_view(&self) -> (u64, Option<NodeId>) {
        (self.manager.view.epoch, self.manager.view.primary)
    }
    /// A replica holds its view's state: a serving primary, or a backup that installed the
    /// transfer of its epoch.
    pub fn in_sync(&self) -> bool {
        self.serving() || (self.role == Role::Backup && self.synced_epoch == self.epoch)
    }
}

pub(super) fn properties() -> Vec<PropertyDef<Pb>> {
    vec![
        PropertyDef::monitor(
            "one_primary_per_epoch",
            "at most one node is ever primary in any epoch",
            OneLeaderPerEpoch::new("primary", "epoch", Pb::epoch, |p: &Pb| {
                p.role == Role::Primary
            }),
        )
        .always(),
        PropertyDef::monitor(
            "epoch_never_goes_back",
            "a node's epoch (the view manager's view, a replica's adopted epoch) never goes down, across restarts too",
            Monotonic::durable("epoch", Pb::epoch),
        )
        .always(),
        PropertyDef::monitor(
            "fenced_writes",
            "a replica applies no write (and installs no state) from a primary of an older epoch than one it already took a write from: a deposed primary cannot act",
            Fenced::new("epoch", Pb::writes),
        )
        .always(),
        PropertyDef::monitor(
            "acked_writes_survive",
            "a primary starts to serve holding every write a primary of an older epoch acknowledged (failover loses no acknowledged write)",
            KeptAcks::default(),
        )
        .always(),
        PropertyDef::invariant(
            "primary_serves",
            "the view manager is up and the primary of its view is up, linked with it both ways, and serving in that view (use as `eventually`)",
            primary_serves,
        ),
        PropertyDef::monitor(
            "applied_advances",
            "after the heal a majority of nodes moves its applied index past the highest any up node had at the heal: writes flow (use as `eventually`)",
            Advances::new("applied index", Pb::applied),
        ),
    ]
}

/// A primary starts to serve holding every write a primary of an older epoch acknowledged (see
/// `properties`). A deposed primary that finishes its transfer late, in an epoch already
/// left behind, is not judged against the newer epochs: the backups fence it.
#[derive(Clone, Debug, Default, Hash)]
pub(super) struct KeptAcks {
    /// Per epoch: the highest index its primary answered, and who that was.
    acked: BTreeMap<u64, (u64, u32)>,
    /// Per node: the epoch it serves in, when it was last seen serving.
    serving: Vec<Option<u64>>,
}

#[cold]
#[inline(never)]
fn lost(node: NodeId, epoch: u64, applied: u64, acked: (u64, u32, u64)) -> Failure {
    let (index, by, in_epoch) = acked;
    let by = NodeId(by);
    Failure::new(
        format!(
            "{node} started to serve as primary of epoch {epoch} holding writes up to index {applied}, but {by} had acknowledged index {index} in epoch {in_epoch}: acknowledged writes were lost"
        ),
        vec![node, by],
    )
}

impl Monitor<Pb> for KeptAcks {
    fn check(&mut self, view: &View<'_, Pb>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.serving.len() != n {
            self.serving.resize(n, None);
        }
        for node in touched(view) {
            let Some(p) = view.node(node) else {
                self.serving[node.index()] = None;
                continue;
            };
            let now = p.serving().then_some(p.epoch);
            if now.is_some() && now != self.serving[node.index()] {
                let before = self
                    .acked
                    .range(..p.epoch)
                    .map(|(&e, &(index, by))| (index, by, e))
                    .max();
                if let Some(acked) = before.filter(|a| p.applied() < a.0) {
                    return Err(lost(node, p.epoch, p.applied(), acked));
                }
            }
            self.serving[node.index()] = now;
            if let Some(e) = now {
                let best = self.acked.entry(e).or_insert((0, node.0));
                if p.committed() > best.0 {
                    *best = (p.committed(), node.0);
                }
            }
        }
        Ok(())
    }
}

/// The view manager's primary serves in its view, reachable from the view manager.
fn primary_serves(view: &View<'_, Pb>, _: Option<&Trigger>) -> Result<(), Failure> {
    let Some(m) = view.node(VIEW_MANAGER).filter(|_| view.is_up(VIEW_MANAGER)) else {
        return Err(Failure::new("the view manager is down", vec![VIEW_MANAGER]));
    };
    let (epoch, primary) = m.managed_view();
    let Some(p) = primary else {
        return Err(Failure::new("the view manager has no view yet", vec![]));
    };
    let linked = view.can_send(p, VIEW_MANAGER) && view.can_send(VIEW_MANAGER, p);
    match view.node(p).filter(|_| view.is_up(p)) {
        Some(node) if linked && node.serving() && node.epoch == epoch => Ok(()),
        _ => Err(Failure::new(
            format!("{p}, the primary of epoch {epoch}, is not serving in it"),
            vec![p],
        )),
    }
}

pub(super) fn metrics() -> Vec<MetricDef<Pb>> {
    vec![MetricDef {
        name: "pb_failover",
        description: "failovers (the old primary crashed, paused or cut off from the view manager → the first write the new primary acknowledges): count, median and longest; recoveries (a replica's crash → it holds its view's state again): median, longest, and the share of restarts back within the liveness budget",
        make: |c| Box::new(PbMetrics::new(c)),
    }]
}

/// Failover and recovery times.
struct PbMetrics {
    budget: Time,
    /// The primary the view manager named last, and its epoch.
    primary: Option<(NodeId, u64)>,
    /// The old primary became unreachable or went down at this time: (when, who, epoch).
    lost_at: Option<(Time, NodeId, u64)>,
    /// Per node: the committed index when it started to serve, and the epoch.
    base: Vec<Option<(u64, u64)>>,
    failovers: Vec<u64>,
    /// Per node: when it crashed, and when it restarted, until it is back in sync.
    down: Vec<Option<(Time, Option<Time>)>>,
    recoveries: Vec<u64>,
    restarts: u64,
    within_budget: u64,
}

impl PbMetrics {
    fn new(c: &Config) -> PbMetrics {
        PbMetrics {
            budget: c.liveness_budget(),
            primary: None,
            lost_at: None,
            base: Vec::new(),
            failovers: Vec::new(),
            down: Vec::new(),
            recoveries: Vec::new(),
            restarts: 0,
            within_budget: 0,
        }
    }
}

/// Median and maximum of `v`, milliseconds (null when empty).
fn spread(v: &[u64]) -> (serde_json::Value, serde_json::Value) {
    if v.is_empty() {
        return (serde_json::Value::Null, serde_json::Value::Null);
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    (s[s.len() / 2].into(), s[s.len() - 1].into())
}

impl Metric<Pb> for PbMetrics {
    fn observe(&mut self, view: &View<'_, Pb>) {
        let n = view.cluster_size() as usize;
        if self.base.len() != n {
            self.base.resize(n, None);
            self.down.resize(n, None);
        }
        if let Some(m) = view.node(VIEW_MANAGER) {
            if let (e, Some(p)) = m.managed_view() {
                self.primary = Some((p, e));
            }
        }
        if let (Some((p, e)), None) = (self.primary, self.lost_at) {
            let cut = !view.can_send(p, VIEW_MANAGER) || !view.can_send(VIEW_MANAGER, p);
            if !view.is_up(p) || cut {
                self.lost_at = Some((view.time, p, e));
            }
        }
        for node in touched(view) {
            let Some(p) = view.node(node) else {
                self.base[node.index()] = None;
                continue;
            };
            if p.serving() {
                let b = *self.base[node.index()].get_or_insert((p.committed(), p.epoch));
                if b.1 != p.epoch {
                    self.base[node.index()] = Some((p.committed(), p.epoch));
                } else if let Some((t, _, e)) = self.lost_at {
                    if p.committed() > b.0 && p.epoch > e {
                        self.failovers.push(view.time.sub(t).as_ms());
                        self.lost_at = None;
                    }
                }
            } else {
                self.base[node.index()] = None;
            }
            if let Some((crashed, Some(restarted))) = self.down[node.index()] {
                if p.in_sync() {
                    self.recoveries.push(view.time.sub(crashed).as_ms());
                    if view.time.sub(restarted) <= self.budget {
                        self.within_budget += 1;
                    }
                    self.down[node.index()] = None;
                }
            }
        }
        // A lost primary that came back before anyone took over was no failover.
        if let Some((_, old, e)) = self.lost_at {
            let linked = view.can_send(old, VIEW_MANAGER) && view.can_send(VIEW_MANAGER, old);
            if view.is_up(old)
                && linked
                && self.primary == Some((old, e))
                && view.node(old).is_some_and(|p| p.serving() && p.epoch == e)
            {
                self.lost_at = None;
            }
        }
    }

    fn on_trigger(&mut self, trigger: &Trigger) {
        let Some(node) = trigger.node.filter(|&n| n != VIEW_MANAGER) else {
            return;
        };
        if node.index() >= self.down.len() {
            self.down.resize(node.index() + 1, None);
        }
        match trigger.kind {
            TriggerKind::Crash => self.down[node.index()] = Some((trigger.at, None)),
            TriggerKind::Restart => {
                if let Some((crashed, _)) = self.down[node.index()] {
                    self.down[node.index()] = Some((crashed, Some(trigger.at)));
                    self.restarts += 1;
                }
            }
            _ => {}
        }
    }

    fn report(&self) -> Vec<(String, serde_json::Value)> {
        let (fm, fx) = spread(&self.failovers);
        let (rm, rx) = spread(&self.recoveries);
        let rate = if self.restarts == 0 {
            serde_json::Value::Null
        } else {
            crate::protocol::ratio(self.within_budget, self.restarts)
        };
        vec![
            ("pb.failovers".into(), (self.failovers.len() as u64).into()),
            ("pb.failover_ms_median".into(), fm),
            ("pb.failover_ms_max".into(), fx),
            ("pb.recovery_ms_median".into(), rm),
            ("pb.recovery_ms_max".into(), rx),
            ("pb.recovery_rate".into(), rate),
        ]
    }
}
