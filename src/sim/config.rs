//! What a run needs, already validated: [`SimConfig`], built from a scenario (see
//! `scenario/`) or by hand in tests.

use crate::base::types::{Endpoint, NodeId, Time};
use crate::check::Expectation;
use crate::faults::{NemesisConfig, ScheduledFault};
use crate::lin;
use crate::network::{LinkModel, Order};
use crate::protocol::{Protocol, WorkloadConfig};
use crate::world::ClockInit;

/// Everything a run needs, already validated. Built from a scenario (see
/// `scenario/typed.rs`) or by hand in tests.
#[derive(Clone, Debug)]
pub struct SimConfig<P: Protocol> {
    /// The run's seed; every random stream is derived from it.
    pub seed: u64,
    /// Cluster size.
    pub nodes: u32,
    /// Protocol parameters.
    pub protocol: P::Config,
    /// Nodes that run with their own parameters (`protocol.params_by_node`); the checks,
    /// the clients and the liveness budgets use `protocol`.
    pub protocol_by_node: Vec<(NodeId, P::Config)>,
    /// How every link behaves unless overridden.
    pub link: LinkModel,
    /// Per-link overrides.
    pub links: Vec<(Endpoint, Endpoint, LinkModel)>,
    /// Clock offsets and drifts at time zero.
    pub clocks: Vec<ClockInit>,
    /// Client workload.
    pub workload: WorkloadConfig,
    /// Scheduled faults.
    pub faults: Vec<ScheduledFault>,
    /// Random faults.
    pub nemesis: Option<NemesisConfig>,
    /// Nodes that never start and that the heal leaves down.
    pub permanently_down: Vec<NodeId>,
    /// When to heal; `None`: after the last fault (or at time zero if there are none).
    pub heal_at: Option<Time>,
    /// The run ends normally here.
    pub time_limit: Time,
    /// Popping more events than this is a failure (a storm or a livelock).
    pub events_max: u64,
    /// More events pending at once than this (queued, or held by paused nodes) stops the
    /// run at a memory bound.
    pub pending_max: usize,
    /// More client operations than this stops the run at a memory bound.
    pub history_max: u64,
    /// More records plus unsynced writes in one node's store stops the run at a memory bound.
    pub records_max: u64,
    /// More faults scheduled during the run (nemesis draws and their undos, strikes,
    /// reactions) than this stops the run at a memory bound. The scenario's own list is
    /// held to it when the file is read.
    pub faults_max: u64,
    /// Eventually-checks must hold within this long after the heal.
    pub liveness_budget: Option<Time>,
    /// Checks beyond the protocol's default invariants.
    pub expectations: Vec<Expectation>,
    /// Run the checks (the default). Off only to measure what they cost: a run without
    /// checks proves nothing.
    pub checks: bool,
    /// Fold every record into the run's fingerprint (the default). Off only to measure what
    /// the fingerprint costs, and only without a trace: the report's fingerprint is then 0.
    pub fingerprint: bool,
    /// Search steps the linearizability check may take per key before it answers
    /// inconclusive.
    pub history_budget: u64,
    /// The delivery-order strategy (`network.order`); `Random` changes nothing.
    pub order: Order,
    /// Collect coverage over the vocabulary ([`Simulation::coverage`]); changes nothing in
    /// the run.
    ///
    /// [`Simulation::coverage`]: super::Simulation::coverage
    pub coverage: bool,
    /// A scripted run (`"driver": "script"`): these steps, in order, instead of the queue.
    pub steps: Option<Vec<crate::world::Step>>,
    /// The storage faults the protocol claims to survive (`atlas`); none without one.
    pub atlas: Option<crate::faults::Atlas>,
}

/// Default of `limits.faults_max`: entries in a scenario's `faults`, and faults scheduled
/// during one run.
pub const FAULTS_MAX_DEFAULT: u64 = 100_000;

impl<P: Protocol> SimConfig<P> {
    /// The world this configuration starts from: its nodes (none started yet), per-node
    /// parameters, clocks, clients and memory bounds. Every driver builds its world here.
    pub fn world(&self) -> crate::world::World<P> {
        let mut world = crate::world::World::new(
            self.seed,
            self.nodes,
            &self.protocol,
            &self.workload,
            &self.clocks,
            &self.permanently_down,
        );
        for (n, own) in &self.protocol_by_node {
            world.set_node_config(*n, own.clone());
        }
        world.set_bounds(crate::world::Bounds {
            history_max: self.history_max,
            records_max: self.records_max,
        });
        if let Some(atlas) = &self.atlas {
            world.set_atlas(atlas.clone(), self.seed);
        }
        world
    }

    /// A quiet cluster of `nodes` with default parameters, for tests and examples.
    pub fn new(nodes: u32, seed: u64) -> Self {
        SimConfig {
            seed,
            nodes,
            protocol: P::Config::default(),
            protocol_by_node: Vec::new(),
            link: LinkModel::default(),
            links: Vec::new(),
            clocks: Vec::new(),
            workload: WorkloadConfig::default(),
            faults: Vec::new(),
            nemesis: None,
            permanently_down: Vec::new(),
            heal_at: None,
            time_limit: Time::from_secs(10),
            events_max: 10_000_000,
            pending_max: 1_000_000,
            history_max: crate::world::HISTORY_MAX_DEFAULT,
            records_max: crate::world::RECORDS_MAX_DEFAULT,
            faults_max: FAULTS_MAX_DEFAULT,
            liveness_budget: None,
            expectations: Vec::new(),
            checks: true,
            fingerprint: true,
            history_budget: lin::DEFAULT_BUDGET,
            order: Order::Random,
            coverage: false,
            steps: None,
            atlas: None,
        }
    }

    /// The time of the heal this configuration implies.
    pub fn resolved_heal_at(&self) -> Time {
        if let Some(t) = self.heal_at {
            return t;
        }
        // A timed entry's last firing plus its duration; an `on` entry's watch start.
        let last_fault = self.faults.iter().map(|f| Time(f.last_us())).max();
        let nemesis_end = self.nemesis.as_ref().map(|n| Time::from_ms(n.until_ms));
        last_fault.max(nemesis_end).unwrap_or(Time::ZERO)
    }
}
