//! Running scenarios, generic over the protocol: one run ([`Scenario::run`]), seed sweeps,
//! the hunt for bug switches, and shrinking, all on one seed pool.
//!
//! Nothing here looks a protocol up by name (the command line does, through
//! `crate::protocols`), reads files, the environment or the clock, or prints.
//!
//! | Module | Owns |
//! |---|---|
//! | `single` | `Scenario::run` and `Scenario::run_with_history`: one seed, one simulation |
//! | `pool` | the seed pool: seeds over threads, results in seed order, a failure limit |
//! | `sweep` | seed sets and shards, sweeps, grouping failures by check, merging shards |
//! | `feedback` | coverage over the vocabulary, and the sweep that steers inputs towards new coverage |
//! | `hunt` | a protocol's bug switches, and one row of the hunt for them |
//! | `shrink` | a failing run made explicit and reduced while it fails the same check |
//!
//! [`Scenario::run`]: crate::scenario::Scenario::run

pub mod feedback;
pub mod hunt;
pub mod pool;
pub mod shrink;
mod single;
pub mod sweep;
