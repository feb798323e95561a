//! The `explore` block of a scenario: the bounds and choices of `faultline explore`
//! (docs/explore.md). Flags on the command line override it field by field.

use serde::{Deserialize, Serialize};

/// Which network the explorer offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Semantics {
    /// Any copy in flight may arrive next; copies are never duplicated.
    #[default]
    Unordered,
    /// Like `unordered`, and any copy may also be duplicated (up to `duplicates` times in a
    /// path).
    Duplicating,
    /// Each link delivers in send order (a TCP-like stream per pair); only the oldest copy
    /// of each link may arrive next.
    Ordered,
}

/// The order states are explored in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Breadth-first: the first violation found has a shortest path.
    #[default]
    Breadth,
    /// Depth-first: memory grows with the depth, not the width; paths are not shortest.
    Depth,
    /// Random walks from the initial state, each to the depth bound or a dead end, with
    /// choices drawn from the seed (`walks` of them); states seen are still counted.
    Walk,
}

/// The bounds and choices of one exploration (`"explore"` in a scenario; flags override).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExploreSpec {
    /// Longest path, in actions after the starts.
    pub depth: u32,
    /// Most unique states; reaching it stops the search (inconclusive).
    pub states: u64,
    /// Most memory, in megabytes, as the caller measures it (the CLI reads the process's
    /// resident size); 0: no bound.
    pub memory_mb: u64,
    /// Crashes in one path.
    pub crashes: u32,
    /// Node isolations in one path (each cuts every link of one node; `heal_links` undoes
    /// them and is offered while any link is cut).
    pub isolations: u32,
    /// Timer firings per node in one path. Timers fire in any order, so without a bound a
    /// protocol whose timers start new rounds never runs out of states.
    pub timers: u32,
    /// Client timer firings per client beyond one per operation (`workload.ops_per_client_max`):
    /// each operation starts when a client timer fires; a timeout that makes the client
    /// retry is a firing too, so with 0 no client ever times out.
    pub retries: u32,
    /// Duplications in one path (with `network: duplicating`).
    pub duplicates: u32,
    /// Whether any copy may also be lost.
    pub loss: bool,
    /// The network semantics.
    pub network: Semantics,
    /// The search order.
    pub strategy: Strategy,
    /// Random walks (with `strategy: walk`).
    pub walks: u64,
}

impl Default for ExploreSpec {
    fn default() -> Self {
        ExploreSpec {
            depth: 40,
            states: 5_000_000,
            memory_mb: 0,
            crashes: 0,
            isolations: 0,
            timers: 1,
            retries: 0,
            duplicates: 0,
            loss: false,
            network: Semantics::Unordered,
            strategy: Strategy::Breadth,
            walks: 10_000,
        }
    }
}

impl ExploreSpec {
    /// The bounds in one line, as the summary and the notes print them.
    pub fn describe(&self) -> String {
        let strategy = match self.strategy {
            Strategy::Breadth => "breadth-first".to_string(),
            Strategy::Depth => "depth-first".to_string(),
            Strategy::Walk => format!("{} random walks", self.walks),
        };
        let network = match self.network {
            Semantics::Unordered => "unordered",
            Semantics::Duplicating => "duplicating",
            Semantics::Ordered => "ordered",
        };
        format!(
            "{strategy}, depth ≤ {}, {network} network{}{}, ≤ {} timer firings per node, ≤ {} client retries, ≤ {} crashes, ≤ {} isolations, ≤ {} states",
            self.depth,
            if self.loss { " with loss" } else { "" },
            if self.network == Semantics::Duplicating {
                format!(" (≤ {} duplicates)", self.duplicates)
            } else {
                String::new()
            },
            self.timers,
            self.retries,
            self.crashes,
            self.isolations,
            self.states,
        )
    }
}
