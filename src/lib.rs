//! faultline: a deterministic distributed-systems simulator.
//!
//! A single-threaded discrete-event engine runs real protocol implementations (sans-IO
//! state machines, see [`protocol`]) on virtual nodes over a simulated network with injected
//! crashes, restarts, partitions, delays, drops, duplicates, pauses and clock faults. Checks
//! run after every step; the same scenario and seed always give the same run, and its
//! fingerprint proves it.
//!
//! Module map and import rules: docs/architecture.md.

pub mod check;
#[cfg(feature = "cli")]
pub mod cli;
pub mod engine;
pub mod explain;
pub mod export;
pub mod fixed;
pub mod harness;
pub mod hash;
pub mod lin;
pub mod nemesis;
pub mod network;
pub mod protocol;
pub mod rng;
pub mod scenario;
pub mod shrink;
pub mod storage;
pub mod sweep;
pub mod trace;
pub mod tracedoc;
pub mod types;
pub mod view;
pub mod workload;

/// The tool's version, written into trace headers.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit faultline was built from, if the build could tell.
pub const GIT_COMMIT: Option<&str> = option_env!("FAULTLINE_GIT_COMMIT");
