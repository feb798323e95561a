//! The test harness: check a protocol of your own from `#[test]` functions, over many seeds.
//!
//! A [`Harness`] loads a scenario for any `P: Protocol`, bundled or not, with the same typed
//! loader the command line uses ([`scenario::load`]), and runs it under a list of seeds: the
//! regression seeds it was given first, then 1, 2, 3 and so on. The first seed in that order
//! that does not pass is run once more with a trace file, saved under `target/faultline/`,
//! and the harness fails with one line that names the check, the seed, the virtual time and
//! the message, and says how to replay it:
//!
//! ```text
//! faultline: abd_bug failed check linearizable (safety) at seed 3, t=4.000000s: ... | replay: FAULTLINE_SEED=3 cargo test abd_bug | trace: target/faultline/abd_bug-seed3.jsonl
//! ```
//!
//! [`Harness::check`] panics with that line (for `#[test]`); [`Harness::run`] returns it as a
//! [`Failure`] for tests that expect a failure. Three environment variables steer a run
//! without editing the test (see [`Knobs`]): `FAULTLINE_SEEDS=N` runs N numbered seeds,
//! `FAULTLINE_SEED=S` runs seed S alone, and `FAULTLINE_DETERMINISM=1` runs every seed twice
//! and fails if the two runs' fingerprints differ.
//!
//! Seeds run on the crate's one seed pool (`crate::run::pool`): each simulation runs on one
//! thread and depends only on its seed, and the harness reports the first failing seed in
//! list order, so the outcome does not depend on the thread count. The failing seed's trace
//! is written by the crate's one trace writer (`crate::trace::file`).
//!
//! ## The `cli:` part of the failure line
//!
//! The harness sits below the protocol registry and does not consult it. It offers
//! `| cli: faultline run SOURCE --seed S ...` only when that command would rerun the very
//! same run: the scenario came from a bundled name or a file (which the command line can
//! read), and `P` is one of faultline's own bundled protocols. The second condition is
//! judged by `P`'s type path: every module under `faultline::protocols` is declared by the
//! registry's one list, so a `P` defined there is the type `faultline run` picks for
//! `P::NAME`. A protocol of your own gets no such line, even one that shares a bundled
//! protocol's name (the binary would run a different protocol under that name); its
//! trace's summary reproduces with the `cargo test` line instead. The path comes from
//! `std::any::type_name`, whose exact text std does not promise; a unit test pins the
//! answer for a bundled and an unbundled protocol, so a change would fail that test rather
//! than print a wrong line.
//!
//! Besides the CLI, this is the one module that reads the environment (the variables above,
//! in `knobs`) and writes files (the failing seed's trace, in `files`). It never prints.
//!
//! | Module | Owns |
//! |---|---|
//! | `mod.rs` | `Harness`: the builder, where the scenario comes from, the run |
//! | `knobs` | the `FAULTLINE_*` variables and the seed list |
//! | `seeds` | judging each seed (once or twice) on the seed pool |
//! | `report` | `Passed`, `Failure`, `FailureKind` and the one-line report |
//! | `files` | the failing seed's trace, the target directory, comparing two traces |

mod files;
mod knobs;
mod report;
mod seeds;
#[cfg(test)]
mod tests;

pub use files::{default_trace_dir, target_dir};
pub use knobs::{ENV_DETERMINISM, ENV_SEED, ENV_SEEDS, Knobs, seed_list};
pub use report::{Failure, FailureKind, Passed};

use crate::base::read::read_capped;
use crate::protocol::Protocol;
use crate::run::sweep::SEEDS_MAX;
use crate::scenario;
use crate::sim::install_panic_capture;
use seeds::{SeedOutcome, run_seeds};
use std::marker::PhantomData;
use std::path::PathBuf;

/// Seeds a harness runs when neither the test nor the environment says otherwise.
pub const SEEDS_DEFAULT: u64 = 100;

/// Where the scenario text comes from.
#[derive(Clone, Debug)]
enum Source {
    /// A small scenario built from the harness name: three nodes, ten seconds, no faults.
    Default,
    /// JSON text given to the builder.
    Text(String),
    /// A bundled scenario by name (`ping/basic`).
    Bundled(String),
    /// A scenario file.
    File(PathBuf),
}

/// Checks protocol `P` over many seeds from a test. See the module documentation.
///
/// ```no_run
/// use faultline::harness::Harness;
/// use faultline::protocols::ping::Ping;
///
/// Harness::<Ping>::new("ping_survives_crashes")
///     .bundled("ping/crash-restart")
///     .set("network.preset=lossy")
///     .regression_seeds([42])
///     .seeds(20)
///     .check();
/// ```
pub struct Harness<P: Protocol> {
    name: String,
    source: Source,
    overrides: Vec<String>,
    seeds: u64,
    regression: Vec<u64>,
    determinism: bool,
    allow_inconclusive: bool,
    threads: Option<usize>,
    trace_dir: Option<PathBuf>,
    knobs: Option<Knobs>,
    protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> Harness<P> {
    /// A harness for the test `name`. Give the test function's name: the replay line is
    /// `cargo test NAME`, and the trace file is named after it. The scenario starts as three
    /// nodes of `P` with default parameters, no clients and no faults, run for ten seconds;
    /// change it with [`Harness::set`] or replace it with [`Harness::scenario`],
    /// [`Harness::bundled`] or [`Harness::scenario_file`].
    pub fn new(name: &str) -> Self {
        Harness {
            name: name.to_string(),
            source: Source::Default,
            overrides: Vec::new(),
            seeds: SEEDS_DEFAULT,
            regression: Vec::new(),
            determinism: false,
            allow_inconclusive: false,
            threads: None,
            trace_dir: None,
            knobs: None,
            protocol: PhantomData,
        }
    }

    /// The scenario as JSON text, in the format of `scenarios/*.json` (docs/scenarios.md).
    pub fn scenario(mut self, json: &str) -> Self {
        self.source = Source::Text(json.to_string());
        self
    }

    /// A bundled scenario by name (`ping/basic`; `faultline list` shows them).
    pub fn bundled(mut self, name: &str) -> Self {
        self.source = Source::Bundled(name.to_string());
        self
    }

    /// A scenario file, read when the harness runs (a relative path is relative to the
    /// test's working directory, the package root under `cargo test`).
    pub fn scenario_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.source = Source::File(path.into());
        self
    }

    /// Changes one field, as `faultline run --set` does: `"nodes=5"`,
    /// `"network.preset=lossy"`, `"protocol.params.bugs.skip_sync=true"`. Applied in order.
    pub fn set(mut self, assignment: &str) -> Self {
        self.overrides.push(assignment.to_string());
        self
    }

    /// Sets `protocol.params` to `config` (an override like any other, so it shows in the
    /// replay command of a bundled protocol).
    pub fn params(self, config: &P::Config) -> Self {
        let json = serde_json::to_string(config).expect("protocol parameters serialize");
        self.set(&format!("protocol.params={json}"))
    }

    /// How many numbered seeds to run (default [`SEEDS_DEFAULT`]; `FAULTLINE_SEEDS` wins).
    pub fn seeds(mut self, count: u64) -> Self {
        self.seeds = count;
        self
    }

    /// Seeds to run first, before the numbered ones, in this order: seeds that once failed.
    pub fn regression_seeds(mut self, seeds: impl IntoIterator<Item = u64>) -> Self {
        self.regression.extend(seeds);
        self
    }

    /// Runs every seed twice and fails if the fingerprints differ (also turned on by
    /// `FAULTLINE_DETERMINISM=1`).
    pub fn determinism(mut self, on: bool) -> Self {
        self.determinism = on;
        self
    }

    /// Lets inconclusive runs pass (they are listed in [`Passed::inconclusive`]). By default
    /// an inconclusive run fails the test, with its own line.
    pub fn allow_inconclusive(mut self, on: bool) -> Self {
        self.allow_inconclusive = on;
        self
    }

    /// Threads to run seeds on (default: the machine's parallelism). The outcome is the same
    /// for every thread count.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.max(1));
        self
    }

    /// Where to write failing traces (default: `faultline/` in the target directory).
    pub fn trace_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.trace_dir = Some(dir.into());
        self
    }

    /// Uses these knobs instead of reading the environment.
    pub fn knobs(mut self, knobs: Knobs) -> Self {
        self.knobs = Some(knobs);
        self
    }

    /// Runs every seed; panics with the one-line report at the first that does not pass.
    pub fn check(&self) -> Passed {
        match self.run() {
            Ok(passed) => passed,
            Err(failure) => panic!("{}", failure.line),
        }
    }

    /// Runs every seed and returns the first failure in seed order, if any, without
    /// panicking.
    pub fn run(&self) -> Result<Passed, Failure> {
        install_panic_capture();
        let knobs = match &self.knobs {
            Some(k) => k.clone(),
            None => Knobs::from_env().map_err(|m| self.bad_input(m))?,
        };
        let (source, text) = self.text().map_err(|m| self.bad_input(m))?;
        let scn = scenario::load::<P>(&source, &text, &self.overrides)
            .map_err(|e| self.bad_input(format!("bad scenario: {e}")))?;
        let count = knobs.seeds.unwrap_or(self.seeds);
        if count > SEEDS_MAX {
            return Err(self.bad_input(format!(
                "{count} seeds is more than the {SEEDS_MAX} one run takes"
            )));
        }
        let seeds = seed_list(&self.regression, count, knobs.seed);
        if seeds.is_empty() {
            return Err(self.bad_input(
                "no seeds to run: give a count above 0 or regression seeds".to_string(),
            ));
        }
        let twice = self.determinism || knobs.determinism;
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let outcomes = run_seeds(&scn, &seeds, twice, self.allow_inconclusive, threads);
        let mut inconclusive = Vec::new();
        for (&seed, outcome) in seeds.iter().zip(outcomes) {
            match outcome {
                SeedOutcome::Pass => {}
                SeedOutcome::AllowedInconclusive => inconclusive.push(seed),
                other => return Err(self.failure(&scn, seed, other, twice)),
            }
        }
        Ok(Passed {
            seeds,
            determinism: twice,
            inconclusive,
        })
    }

    /// The source name and the scenario text.
    fn text(&self) -> Result<(String, String), String> {
        match &self.source {
            Source::Default => {
                let json = serde_json::json!({
                    "schema": scenario::SCHEMA,
                    "description": format!("{}: the faultline harness's default scenario", self.name),
                    "protocol": {"name": P::NAME},
                    "nodes": 3,
                    "limits": {"time_ms": 10_000},
                });
                Ok((
                    self.name.clone(),
                    serde_json::to_string_pretty(&json).expect("JSON values print"),
                ))
            }
            Source::Text(text) => Ok((self.name.clone(), text.clone())),
            Source::Bundled(name) => match scenario::bundled(name) {
                Some(text) => Ok((name.clone(), text.to_string())),
                None => Err(format!(
                    "no bundled scenario named {name:?}; bundled: {}",
                    scenario::bundled_names().join(", ")
                )),
            },
            // Read under the scenario cap while reading, so a device or pipe that never
            // ends is refused instead of filling memory.
            Source::File(path) => {
                let shown = path.display().to_string();
                let file = std::fs::File::open(path)
                    .map_err(|e| format!("cannot read the scenario {shown}: {e}"))?;
                let max = scenario::FILE_BYTES_MAX as u64;
                read_capped(file, max)
                    .map(|text| (shown.clone(), text))
                    .map_err(|e| format!("cannot read the scenario {shown}: {e}"))
            }
        }
    }
}

/// Whether `P` is one of faultline's bundled protocols, the type `faultline run` uses for
/// `P::NAME`: a type declared under this crate's `protocols` module (see the module
/// documentation for why the path decides it).
fn bundled_type<P: Protocol>() -> bool {
    let krate = module_path!().split("::").next().unwrap_or_default();
    std::any::type_name::<P>().starts_with(&format!("{krate}::protocols::"))
}
