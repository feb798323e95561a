//! The random nemesis: for each enabled fault kind it draws the next time, a target and the
//! fault's undo; and strikes, faults aimed at the moments a node announces.

use super::{DiskFault, DiskKind, Fault, SwarmSpec};
use crate::base::rng::{Rng, Stream};
use crate::base::types::{Endpoint, NodeId, Ratio, Time};
use serde::{Deserialize, Serialize};

/// Random crashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrashSpec {
    /// Mean time between crashes, milliseconds.
    pub interval_ms_mean: u64,
    /// Shortest downtime before the nemesis restarts the node, milliseconds.
    pub down_ms_min: u64,
    /// Longest downtime, milliseconds.
    pub down_ms_max: u64,
    /// Most nodes down (crashed or paused) at once; default: a minority, `(n - 1) / 2`.
    #[serde(default)]
    pub max_down: Option<u32>,
}

/// Random storage faults, within the scenario's atlas (see [`crate::faults::Atlas`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskSpec {
    /// Mean time between storage faults, milliseconds.
    pub interval_ms_mean: u64,
    /// The kinds drawn, each equally likely; empty (the default) draws the atlas's kinds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<DiskKind>,
    /// Shortest downtime after a torn write's crash, milliseconds.
    pub down_ms_min: u64,
    /// Longest downtime after a torn write's crash, milliseconds.
    pub down_ms_max: u64,
}

/// Random pauses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseSpec {
    /// Mean time between pauses, milliseconds.
    pub interval_ms_mean: u64,
    /// Shortest pause, milliseconds.
    pub duration_ms_min: u64,
    /// Longest pause, milliseconds.
    pub duration_ms_max: u64,
}

/// Partition shapes the nemesis may draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Two groups, the smaller one a minority.
    Split,
    /// One node cut off.
    Isolate,
    /// One direction of one link cut.
    OneWay,
    /// Two groups and one node that sees both.
    Bridge,
}

/// Random partitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    /// Mean time between partitions, milliseconds.
    pub interval_ms_mean: u64,
    /// Shortest partition, milliseconds.
    pub duration_ms_min: u64,
    /// Longest partition, milliseconds.
    pub duration_ms_max: u64,
    /// Shapes to draw from (default: all).
    #[serde(default = "all_shapes")]
    pub shapes: Vec<Shape>,
}

pub(super) fn all_shapes() -> Vec<Shape> {
    vec![Shape::Split, Shape::Isolate, Shape::OneWay, Shape::Bridge]
}

/// Random clock faults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSpec {
    /// Mean time between clock faults, milliseconds.
    pub interval_ms_mean: u64,
    /// Largest step, either way, milliseconds.
    pub step_ms_max: u64,
    /// Largest drift, either way, ppm.
    pub drift_ppm_max: u32,
}

/// What a strike does to the node that announced the moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrikeFault {
    /// Crash it; the nemesis restarts it after the drawn downtime.
    Crash,
    /// Pause it; the nemesis resumes it after the drawn duration.
    Pause,
    /// Cut all its links; the nemesis heals links after the drawn duration.
    Isolate,
}

/// A fault aimed at a moment that matters, in the spirit of FoundationDB's BUGGIFY: every
/// time a node annotates `note` (with `value`, when given) before `until_ms`, the nemesis
/// strikes that node with chance `chance` and undoes the strike after a duration drawn
/// between the bounds. Unlike a scenario's one-shot `on` fault, a strike can fire again and
/// again, so chains such as "a new leader crashes, comes back, and wins again" happen.
/// Strikes draw from their own random stream and keep to the nemesis's down budget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrikeSpec {
    /// The annotation key (`role`, `commit`, ...).
    pub note: String,
    /// The value it must have; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// Chance of striking at each matching annotation (0.0 ..= 1.0).
    pub chance: Ratio,
    /// What the strike does.
    pub fault: StrikeFault,
    /// Shortest time before the strike is undone, milliseconds.
    pub duration_ms_min: u64,
    /// Longest time before the strike is undone, milliseconds.
    pub duration_ms_max: u64,
}

/// The random nemesis of a scenario (`"nemesis": {...}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NemesisConfig {
    /// No new faults after this time, milliseconds; the heal follows (unless `heal_at_ms`
    /// says otherwise).
    pub until_ms: u64,
    /// Swarm mode: the kinds and rates below are drawn per seed instead (any given here are
    /// replaced). Resolved before the run; traces and `--emit-scenario` hold what was drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<SwarmSpec>,
    /// Random crashes (and the restarts that follow them).
    #[serde(default)]
    pub crash: Option<CrashSpec>,
    /// Random pauses.
    #[serde(default)]
    pub pause: Option<PauseSpec>,
    /// Random partitions.
    #[serde(default)]
    pub partition: Option<PartitionSpec>,
    /// Random clock steps and drift changes.
    #[serde(default)]
    pub clock: Option<ClockSpec>,
    /// Loss, duplicates and long delays added to every link from the start until the heal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<crate::network::Degradation>,
    /// Faults aimed at the moments a node announces (see [`StrikeSpec`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strikes: Vec<StrikeSpec>,
    /// Random storage faults (the scenario needs an atlas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskSpec>,
}

/// One fault kind the nemesis drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NemesisKind {
    /// Crash and restart.
    Crash,
    /// Pause and resume.
    Pause,
    /// Partition and heal links.
    Partition,
    /// Clock step or drift.
    Clock,
    /// A storage fault.
    Disk,
}

/// What the nemesis may know about the world when it draws.
pub struct WorldState<'a> {
    /// Nodes that are up (not crashed, not paused).
    pub up: &'a [bool],
    /// Nodes the nemesis must leave alone (declared permanently down).
    pub off_limits: &'a [bool],
    /// Whether any link is cut now.
    pub links_cut: bool,
}

/// The random fault generator.
pub struct Nemesis {
    config: NemesisConfig,
    nodes: u32,
    rng: Rng,
    strike_rng: Rng,
    disk_rng: Rng,
}

impl Nemesis {
    /// A nemesis for `nodes` nodes drawing from the `Nemesis` stream of `seed` (and strikes
    /// from the `Strike` stream).
    pub fn new(config: NemesisConfig, nodes: u32, seed: u64) -> Nemesis {
        Nemesis {
            config,
            nodes,
            rng: Rng::new(seed, Stream::Nemesis),
            strike_rng: Rng::new(seed, Stream::Strike),
            disk_rng: Rng::new(seed, Stream::DiskNemesis),
        }
    }

    /// The strike rules.
    pub fn strikes(&self) -> &[StrikeSpec] {
        &self.config.strikes
    }

    /// Most nodes down (crashed or paused) at once.
    fn max_down(&self) -> u32 {
        self.config
            .crash
            .as_ref()
            .and_then(|c| c.max_down)
            .unwrap_or(self.nodes.saturating_sub(1) / 2)
    }

    /// Strike rule `i` matched an annotation: draws whether it strikes (one draw, whatever
    /// the world looks like, so the stream's use does not depend on it).
    pub fn strike_fires(&mut self, i: usize) -> bool {
        let chance = self.config.strikes.get(i).map_or(Ratio::ZERO, |s| s.chance);
        self.strike_rng.chance(chance)
    }

    /// Rule `i` fired on `node` at `now`: the fault and its undo with the undo's time, if it
    /// may strike (the node is up and not off limits, the down budget allows a crash or
    /// pause, no links are cut for an isolation).
    pub fn strike(
        &mut self,
        i: usize,
        node: NodeId,
        now: Time,
        world: &WorldState<'_>,
    ) -> Option<(Fault, (Time, Fault))> {
        let spec = self.config.strikes.get(i)?;
        let (fault, lo, hi) = (spec.fault, spec.duration_ms_min, spec.duration_ms_max);
        let k = node.index();
        if !world.up[k] || world.off_limits[k] {
            return None;
        }
        let down_now = world.up.iter().filter(|&&u| !u).count() as u32;
        let (hit, undo) = match fault {
            StrikeFault::Crash | StrikeFault::Pause if down_now >= self.max_down() => return None,
            StrikeFault::Isolate if world.links_cut => return None,
            StrikeFault::Crash => (Fault::Crash(node), Fault::Restart(node)),
            StrikeFault::Pause => (Fault::Pause(node), Fault::Resume(node)),
            StrikeFault::Isolate => (Fault::Isolate(Endpoint::Node(node)), Fault::HealLinks),
        };
        let d = self.strike_rng.between(lo, hi.max(lo));
        Some((hit, (now.add(Time::from_ms(d)), undo)))
    }

    /// The time after which no new fault is drawn.
    pub fn until(&self) -> Time {
        Time::from_ms(self.config.until_ms)
    }

    /// Enabled kinds, in a fixed order.
    pub fn kinds(&self) -> Vec<NemesisKind> {
        let mut k = Vec::new();
        if self.config.crash.is_some() {
            k.push(NemesisKind::Crash);
        }
        if self.config.pause.is_some() {
            k.push(NemesisKind::Pause);
        }
        if self.config.partition.is_some() {
            k.push(NemesisKind::Partition);
        }
        if self.config.clock.is_some() {
            k.push(NemesisKind::Clock);
        }
        if self.config.disk.is_some() {
            k.push(NemesisKind::Disk);
        }
        k
    }

    /// The next time a fault of `kind` is drawn, after `now`.
    pub fn next_time(&mut self, kind: NemesisKind, now: Time) -> Time {
        let mean = match kind {
            NemesisKind::Crash => self.config.crash.as_ref().map(|c| c.interval_ms_mean),
            NemesisKind::Pause => self.config.pause.as_ref().map(|c| c.interval_ms_mean),
            NemesisKind::Partition => self.config.partition.as_ref().map(|c| c.interval_ms_mean),
            NemesisKind::Clock => self.config.clock.as_ref().map(|c| c.interval_ms_mean),
            NemesisKind::Disk => self.config.disk.as_ref().map(|c| c.interval_ms_mean),
        }
        .unwrap_or(0)
        .max(1);
        let rng = match kind {
            NemesisKind::Disk => &mut self.disk_rng,
            _ => &mut self.rng,
        };
        let us = rng.between(1, mean.saturating_mul(2_000));
        now.add(Time(us))
    }

    fn pick(&mut self, candidates: &[NodeId]) -> Option<NodeId> {
        (!candidates.is_empty()).then(|| candidates[self.rng.index(candidates.len())])
    }

    /// Draws one fault of `kind` at `now`; returns it and its undo with the undo's time.
    /// `None` when no fault of that kind can be injected safely now.
    pub fn draw(
        &mut self,
        kind: NemesisKind,
        now: Time,
        world: &WorldState<'_>,
    ) -> Option<(Fault, Option<(Time, Fault)>)> {
        let n = self.nodes;
        let eligible: Vec<NodeId> = (0..n)
            .map(NodeId)
            .filter(|id| world.up[id.index()] && !world.off_limits[id.index()])
            .collect();
        let down_now = (0..n as usize).filter(|&i| !world.up[i]).count() as u32;
        match kind {
            NemesisKind::Crash => {
                let spec = self.config.crash.clone()?;
                let max_down = spec.max_down.unwrap_or((n.saturating_sub(1)) / 2);
                if down_now >= max_down {
                    return None;
                }
                let node = self.pick(&eligible)?;
                let down = self.rng.between(spec.down_ms_min, spec.down_ms_max);
                Some((
                    Fault::Crash(node),
                    Some((now.add(Time::from_ms(down)), Fault::Restart(node))),
                ))
            }
            NemesisKind::Pause => {
                let spec = self.config.pause.clone()?;
                if down_now >= self.max_down() {
                    return None;
                }
                let node = self.pick(&eligible)?;
                let d = self.rng.between(spec.duration_ms_min, spec.duration_ms_max);
                Some((
                    Fault::Pause(node),
                    Some((now.add(Time::from_ms(d)), Fault::Resume(node))),
                ))
            }
            NemesisKind::Partition => {
                let spec = self.config.partition.clone()?;
                if world.links_cut || n < 2 || spec.shapes.is_empty() {
                    return None;
                }
                let shape = spec.shapes[self.rng.index(spec.shapes.len())];
                let mut order: Vec<NodeId> = (0..n).map(NodeId).collect();
                self.rng.shuffle(&mut order);
                let ep = |v: &[NodeId]| v.iter().map(|&x| Endpoint::Node(x)).collect::<Vec<_>>();
                let fault = match shape {
                    Shape::Split => {
                        let minority = 1 + self.rng.below(u64::from(n / 2).max(1)) as usize;
                        Fault::Partition(vec![ep(&order[..minority]), ep(&order[minority..])])
                    }
                    Shape::Isolate => Fault::Isolate(Endpoint::Node(order[0])),
                    Shape::OneWay => Fault::Cut {
                        from: Endpoint::Node(order[0]),
                        to: Endpoint::Node(order[1]),
                    },
                    Shape::Bridge if n >= 3 => {
                        let rest = &order[1..];
                        let half = rest.len() / 2;
                        Fault::Bridge {
                            groups: vec![ep(&rest[..half]), ep(&rest[half..])],
                            via: order[0],
                        }
                    }
                    Shape::Bridge => Fault::Isolate(Endpoint::Node(order[0])),
                };
                let d = self.rng.between(spec.duration_ms_min, spec.duration_ms_max);
                Some((fault, Some((now.add(Time::from_ms(d)), Fault::HealLinks))))
            }
            NemesisKind::Clock => {
                let spec = self.config.clock.clone()?;
                let node = self.pick(
                    &(0..n)
                        .map(NodeId)
                        .filter(|id| !world.off_limits[id.index()])
                        .collect::<Vec<_>>(),
                )?;
                let fault = if self.rng.below(2) == 0 {
                    let magnitude = self.rng.between(1, spec.step_ms_max.max(1)) as i64;
                    let offset_ms = if self.rng.below(2) == 0 {
                        magnitude
                    } else {
                        -magnitude
                    };
                    Fault::ClockStep { node, offset_ms }
                } else {
                    let m = u64::from(spec.drift_ppm_max);
                    let ppm = self.rng.between(0, 2 * m) as i64 - m as i64;
                    Fault::ClockDrift {
                        node,
                        ppm: ppm as i32,
                    }
                };
                Some((fault, None))
            }
            NemesisKind::Disk => {
                let spec = self.config.disk.clone()?;
                let kinds = if spec.kinds.is_empty() {
                    DiskKind::ALL.to_vec()
                } else {
                    spec.kinds
                };
                let max_down = self.max_down();
                let rng = &mut self.disk_rng;
                let kind = kinds[rng.index(kinds.len())];
                let candidates: Vec<NodeId> = (0..n)
                    .map(NodeId)
                    .filter(|id| !world.off_limits[id.index()])
                    .filter(|id| kind != DiskKind::Torn || world.up[id.index()])
                    .collect();
                if candidates.is_empty() || (kind == DiskKind::Torn && down_now >= max_down) {
                    return None;
                }
                let node = candidates[rng.index(candidates.len())];
                let fault = Fault::Disk(DiskFault {
                    node,
                    fault: kind,
                    record: None,
                    cell: None,
                });
                let undo = (kind == DiskKind::Torn).then(|| {
                    let d = rng.between(spec.down_ms_min, spec.down_ms_max.max(spec.down_ms_min));
                    (now.add(Time::from_ms(d)), Fault::Restart(node))
                });
                Some((fault, undo))
            }
        }
    }
}
