//! A grow-only counter replicated by gossip (a G-Counter, the simplest state-based CRDT),
//! written as a user of faultline would write a protocol of their own: outside the crate,
//! against the protocol API only (`faultline::protocol`), and tested with the test harness
//! (`faultline::harness`). `cargo run --example gcounter` runs a short demo; plain
//! `cargo test` runs its tests.
//!
//! Every node counts events of its own (here, one per tick of a timer) in its own slot of a
//! vector with one slot per node; the counter's value is the sum of the slots. Nodes gossip
//! their whole vector to a random peer now and then, and a node that receives one merges it
//! into its own, slot by slot, by taking the larger value. The merge is commutative,
//! associative and idempotent, so any order of deliveries, duplicates and losses ends in the
//! same vector on every node once gossip has gone around: the replicas converge without any
//! coordination. A node's own slot is synced before it gossips it, so a crash never takes a
//! count back that others have already seen.
//!
//! Checks:
//! - `never_overcounts` (always): no node's view of a slot is above what that slot's owner
//!   has counted (its synced own count), so no event is counted twice.
//! - `own_count_never_goes_back` (always): the check library's durable monotonic counter over
//!   each node's own slot.
//! - `replicas_converge` (eventually, after the heal): the check library's convergence
//!   property over the vectors.
//!
//! Bug switches (`protocol.params.bugs`):
//! - `merge_by_sum`: merge by adding the slots instead of taking the larger. A duplicated or
//!   repeated gossip counts the same events twice; `never_overcounts` catches it.
//! - `skip_sync`: count without syncing. A crash takes a node's own count back below what it
//!   already gossiped; `own_count_never_goes_back` or `never_overcounts` catches it.

use faultline::protocol::library::{Convergence, Monotonic};
use faultline::protocol::{
    Ctx, Failure, NoClient, NodeId, PropertyDef, Protocol, Time, Trigger, View, Vocabulary,
};
use serde::{Deserialize, Serialize};

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// Merge slots by adding them instead of taking the larger.
    pub merge_by_sum: bool,
    /// Count without syncing the own slot.
    pub skip_sync: bool,
}

/// Parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// A node counts one event each this many milliseconds of its local time.
    pub count_ms: u64,
    /// It stops counting at this local time, milliseconds (0: never), so the replicas can
    /// converge.
    pub count_until_ms: u64,
    /// It gossips its vector to one random peer each this many milliseconds.
    pub gossip_ms: u64,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            count_ms: 30,
            count_until_ms: 0,
            gossip_ms: 20,
            bugs: Bugs::default(),
        }
    }
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Count one event.
    Count,
    /// Gossip the vector.
    Gossip,
}

/// One replica of the counter.
#[derive(Clone, Debug)]
pub struct GCounter {
    id: NodeId,
    config: Config,
    /// One slot per node: how many events that node has counted, as far as this one knows.
    slots: Vec<u64>,
}

impl GCounter {
    /// The vector as this node knows it.
    pub fn slots(&self) -> &Vec<u64> {
        &self.slots
    }
    /// The counter's value as this node knows it.
    pub fn value(&self) -> u64 {
        self.slots.iter().sum()
    }
    fn own(&self) -> u64 {
        self.slots[self.id.0 as usize]
    }
}

impl Protocol for GCounter {
    const NAME: &'static str = "gcounter";
    type Config = Config;
    type Msg = Vec<u64>;
    type Timer = Timer;
    type Request = ();
    type Response = ();
    type Record = u64;
    type Client = NoClient;

    fn new(id: NodeId, nodes: u32, config: &Config) -> Self {
        GCounter {
            id,
            config: config.clone(),
            slots: vec![0; nodes as usize],
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(Timer::Count, Time::from_ms(self.config.count_ms));
        ctx.set_timer(Timer::Gossip, Time::from_ms(self.config.gossip_ms));
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        // Only the own slot is kept; the others come back with the next gossip.
        self.slots[self.id.0 as usize] = ctx.store().cell("own").copied().unwrap_or(0);
        self.on_start(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _: NodeId, theirs: Vec<u64>) {
        let before = self.value();
        for (mine, their) in self.slots.iter_mut().zip(theirs) {
            *mine = if self.config.bugs.merge_by_sum {
                *mine + their
            } else {
                (*mine).max(their)
            };
        }
        if self.value() != before {
            ctx.annotate("value", self.value());
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Count => {
                let until = self.config.count_until_ms;
                if until != 0 && ctx.now() >= Time::from_ms(until) {
                    return;
                }
                self.slots[self.id.0 as usize] += 1;
                ctx.write_cell("own", self.own());
                if !self.config.bugs.skip_sync {
                    ctx.sync(); // durable before anyone hears of it
                }
                ctx.annotate("value", self.value());
                ctx.set_timer(Timer::Count, Time::from_ms(self.config.count_ms));
            }
            Timer::Gossip => {
                let peers = u64::from(ctx.cluster_size()) - 1;
                if peers > 0 {
                    let mut to = NodeId(ctx.rng().below(peers) as u32);
                    if to >= self.id {
                        to = NodeId(to.0 + 1);
                    }
                    ctx.send(to, self.slots.clone());
                }
                ctx.set_timer(Timer::Gossip, Time::from_ms(self.config.gossip_ms));
            }
        }
    }

    fn vocabulary() -> Vocabulary {
        Vocabulary::none().progress(&["value"])
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        vec![
            PropertyDef::invariant(
                "never_overcounts",
                "no node's view of a slot is above what the slot's owner has counted",
                never_overcounts,
            )
            .always(),
            PropertyDef::monitor(
                "own_count_never_goes_back",
                "a node's own count never goes down, across restarts too",
                Monotonic::durable("own count", |g: &GCounter| g.own()),
            )
            .always(),
            PropertyDef::invariant(
                "replicas_converge",
                "every up node holds the same vector (use as `eventually`)",
                Convergence::new("vectors", GCounter::slots, |a: &Vec<u64>, b: &Vec<u64>| {
                    format!("{a:?} and {b:?}")
                }),
            ),
        ]
    }
}

/// What `owner` has counted: its synced own slot, or more if it is up and counted since.
fn counted(view: &View<'_, GCounter>, owner: NodeId) -> u64 {
    let synced = view.store(owner).synced_cell("own").copied().unwrap_or(0);
    view.node(owner).map_or(synced, |g| g.own().max(synced))
}

fn never_overcounts(view: &View<'_, GCounter>, _: Option<&Trigger>) -> Result<(), Failure> {
    for a in view.nodes() {
        let Some(g) = view.node(a) else { continue };
        for owner in view.nodes() {
            let (seen, real) = (g.slots[owner.0 as usize], counted(view, owner));
            if seen > real {
                return Err(Failure::new(
                    format!("{a} counts {seen} events of {owner}, which has counted {real}"),
                    vec![a, owner],
                ));
            }
        }
    }
    Ok(())
}

/// Five nodes gossiping over a lossy network that also duplicates messages, while a random
/// nemesis crashes nodes and cuts links for 3 s; the nodes stop counting at 3 s, and after
/// the heal every up replica must hold the same vector within a second.
pub const SCENARIO: &str = r#"{
  "schema": 1,
  "description": "A G-Counter on five nodes: gossip over a lossy, duplicating network, crashes and partitions for 3 s, then a heal; the replicas must converge",
  "protocol": {"name": "gcounter", "params": {"count_until_ms": 3000}},
  "nodes": 5,
  "network": {"preset": "lossy", "duplicate": 0.05},
  "nemesis": {
    "until_ms": 3000,
    "crash": {"interval_ms_mean": 500, "down_ms_min": 50, "down_ms_max": 400},
    "partition": {"interval_ms_mean": 700, "duration_ms_min": 100, "duration_ms_max": 500}
  },
  "limits": {"time_ms": 5000},
  "liveness_budget_ms": 1000,
  "expect": [{"check": "replicas_converge", "kind": "eventually"}]
}"#;

fn main() {
    use faultline::harness::{Harness, Knobs};
    let only = Knobs::default(); // this demo ignores FAULTLINE_SEEDS and friends
    let passed = Harness::<GCounter>::new("gcounter_demo")
        .scenario(SCENARIO)
        .seeds(20)
        .knobs(only.clone())
        .check();
    println!("G-Counter passed {} seeds", passed.seeds.len());
    for bug in ["merge_by_sum", "skip_sync"] {
        let outcome = Harness::<GCounter>::new(&format!("gcounter_demo_{bug}"))
            .scenario(SCENARIO)
            .set(&format!("protocol.params.bugs.{bug}=true"))
            .seeds(50)
            .knobs(only.clone())
            .run();
        match outcome {
            Ok(passed) => println!("{bug}: not caught in {} seeds", passed.seeds.len()),
            Err(failure) => println!("{bug}:\n  {failure}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline::harness::{FailureKind, Harness, Knobs};

    #[test]
    fn the_replicas_converge_under_faults() {
        Harness::<GCounter>::new("the_replicas_converge_under_faults")
            .scenario(SCENARIO) // JSON, as in scenarios/*.json
            .regression_seeds([7]) // seeds that once failed run first
            .seeds(100) // then seeds 1..=100 (FAULTLINE_SEEDS=N changes the count)
            .check(); // panics with one line at the first seed that fails
    }

    #[test]
    fn merging_by_sum_is_caught() {
        let failure = Harness::<GCounter>::new("merging_by_sum_is_caught")
            .scenario(SCENARIO)
            .set("protocol.params.bugs.merge_by_sum=true")
            .knobs(Knobs::default()) // ignore FAULTLINE_SEED and friends: a claim about seed 1
            .run() // returns the failure instead of panicking
            .expect_err("never_overcounts catches it");
        let FailureKind::Check(finding) = &failure.kind else {
            panic!("{failure}")
        };
        assert_eq!(finding.check, "never_overcounts");
        assert_eq!(failure.seed, Some(1));
        assert!(
            failure.line.contains(
                " | replay: FAULTLINE_SEED=1 cargo test merging_by_sum_is_caught | trace: "
            ),
            "{failure}"
        );
        // The failing seed's trace, complete, under target/faultline/.
        let trace = std::fs::read_to_string(&failure.traces[0]).unwrap();
        assert!(trace.starts_with("{\"ev\":\"header\""));
        assert!(trace.trim_end().ends_with("\"ev\":\"summary\"}"));
    }

    #[test]
    fn counting_without_a_sync_is_caught() {
        let failure = Harness::<GCounter>::new("counting_without_a_sync_is_caught")
            .scenario(SCENARIO)
            .set("protocol.params.bugs.skip_sync=true")
            .seeds(50)
            .run()
            .expect_err("a crash takes an own count back");
        let FailureKind::Check(finding) = &failure.kind else {
            panic!("{failure}")
        };
        assert!(
            ["own_count_never_goes_back", "never_overcounts"].contains(&finding.check.as_str()),
            "{failure}"
        );
    }
}
