//! faultline: a deterministic distributed-systems simulator.
//!
//! A single-threaded discrete-event engine runs real protocol implementations (sans-IO
//! state machines, see [`protocol`]) on virtual nodes over a simulated network with injected
//! crashes, restarts, partitions, delays, drops, duplicates, pauses and clock faults. Checks
//! run after every step; the same scenario and seed always give the same run, and its
//! fingerprint proves it.
//!
//! Module map and import rules: docs/architecture.md.

pub mod base;
pub mod check;
#[cfg(feature = "cli")]
pub mod cli;
pub mod explore;
pub mod faults;
pub mod harness;
pub mod history;
pub mod isolation;
pub mod kit;
pub mod lin;
pub mod network;
pub mod protocol;
pub mod protocols;
pub mod run;
pub mod scenario;
pub mod script;
pub mod sim;
pub mod storage;
pub mod tools;
pub mod trace;
pub mod world;

/// The tool's version, written into trace headers.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit faultline was built from, if the build could tell.
pub const GIT_COMMIT: Option<&str> = option_env!("FAULTLINE_GIT_COMMIT");
