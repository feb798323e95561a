//! The second engine: every interleaving of a scenario's protocol, within bounds.
//!
//! [`Explorer`] starts from the scenario's initial world (every node booted and every client
//! started, in id order, as a simulation starts at time zero) and searches every sequence of
//! enabled actions: deliver any copy in flight, lose it or duplicate it (as the network
//! semantics allow), fire any armed timer, and within budgets crash, restart and isolate
//! nodes. States are deduplicated by fingerprint ([`World::hash_state`], the monitors'
//! states, and what is left of the budgets). After every action the scenario's always-checks
//! and monitors run as in a simulation, sometimes-checks are marked when reached, and the
//! protocol's history check runs on every state where an operation completed. The first
//! violation stops the search; breadth-first search makes its path a shortest one.
//!
//! Time (docs/explore.md): node clocks are frozen ([`World::freeze_clocks`]); true time
//! advances one millisecond per action, for the trace and the client history only; a timer
//! may fire whenever it is armed, whatever its duration, at most `timers` times per node.
//!
//! The driver is pure: no threads, no wall clock, no files. A caller that wants a time or
//! memory bound passes a [`Watch`], asked every [`WATCH_EVERY`] states.

mod search;

pub use search::{Explorer, Outcome, Progress, Stop, Watch};

pub use crate::scenario::{ExploreSpec, Semantics, Strategy};

use crate::base::rng::{Rng, Stream};
use crate::world::{ClientTimerSlot, LinkOrder, MsgSlot, TimerSlot};

/// How often (in states taken from the frontier) the search asks its [`Watch`].
pub const WATCH_EVERY: u64 = 4096;

/// Largest cluster the explorer takes (a budget counter per node is kept in every state).
pub const EXPLORE_NODES_MAX: u32 = 16;

/// One choice the explorer makes, compactly: the world's action it stands for is rebuilt
/// from the state it is taken in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Move {
    Deliver(MsgSlot),
    Drop(MsgSlot),
    Duplicate(MsgSlot),
    Fire(TimerSlot),
    FireClient(ClientTimerSlot),
    Crash(u32),
    Restart(u32),
    Isolate(u32),
    HealLinks,
}

/// The per-link order a fingerprint must keep under `semantics`.
pub(crate) fn link_order(semantics: Semantics) -> LinkOrder {
    match semantics {
        Semantics::Ordered => LinkOrder::PerLink,
        _ => LinkOrder::Unordered,
    }
}

/// The random stream of a random walk.
pub(crate) fn walk_rng(seed: u64) -> Rng {
    Rng::new(seed, Stream::Workload)
}

/// Explores scenario `scn` (its own seed, its `explore` block unless `spec` is given).
pub fn explore<P: crate::protocol::Protocol>(
    scn: &crate::scenario::Scenario<P>,
    spec: Option<ExploreSpec>,
    watch: &mut dyn Watch,
) -> Result<Outcome, crate::scenario::InputError> {
    let seed = scn.file.seed;
    let config = scn.config(seed)?;
    let spec = spec.unwrap_or_else(|| scn.file.explore.clone().unwrap_or_default());
    let explorer = Explorer::new(config, spec).map_err(|m| scn.error("explore", m))?;
    Ok(explorer.run(watch))
}

/// The scenario a counterexample is: `scenario` (as loaded, overrides applied) run by the
/// script driver through `steps`, which fail `check`. The schedule's faults and the nemesis
/// go: the steps are the whole run. Adding `"outcome": {"fails": CHECK}` makes it a
/// regression case.
pub fn counterexample(
    scenario: &serde_json::Value,
    check: &str,
    steps: &[crate::world::Step],
    bounds: &str,
) -> serde_json::Value {
    let mut json = scenario.clone();
    if let Some(obj) = json.as_object_mut() {
        let description = obj
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or_default()
            .to_string();
        obj.insert(
            "description".into(),
            serde_json::Value::from(format!(
                "Found by faultline explore ({bounds}): {} steps to a failure of {check}. The scenario explored: {description}",
                steps.len()
            )),
        );
        obj.remove("faults");
        obj.remove("nemesis");
        obj.remove("heal_at_ms");
        obj.insert("driver".into(), serde_json::Value::from("script"));
        obj.insert(
            "steps".into(),
            serde_json::to_value(steps).unwrap_or(serde_json::Value::Null),
        );
    }
    json
}
