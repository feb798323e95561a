//! The test harness: check a protocol of your own from `#[test]` functions, over many seeds.
//!
//! A [`Harness`] loads a scenario for any `P: Protocol`, bundled or not, and runs it under a
//! list of seeds: the regression seeds it was given first, then 1, 2, 3 and so on. The first
//! seed in that order that does not pass is run once more with a trace file, saved under
//! `target/faultline/`, and the harness fails with one line that names the check, the seed,
//! the virtual time and the message, and says how to replay it:
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
//! Seeds run on several threads, but each simulation runs on one thread and depends only on
//! its seed, and the harness reports the first failing seed in list order, so the outcome
//! does not depend on the thread count. Besides the CLI, this is the one module that reads the
//! environment (the variables above) and writes files (the failing seed's trace). It never
//! prints.
//!
//! A scenario for a protocol that is not bundled is checked as carefully as a bundled one:
//! [`load_scenario`] validates everything the protocol does not decide the way
//! [`scenario::load`] does, and the protocol's parameters, check names and swarm knobs
//! against `P` itself.

use crate::check::Finding;
use crate::protocol::Protocol;
use crate::protocols::{PROTOCOLS, ProtocolVisitor, with_protocol};
use crate::run::sweep::SEEDS_MAX;
use crate::scenario::{self, InputError, Scenario, ScenarioFile};
use crate::sim::{RunReport, SimConfig, Simulation, Verdict, install_panic_capture};
use crate::trace::{TraceSink, fingerprint_hex};
use std::any::TypeId;
use std::cell::RefCell;
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Seeds a harness runs when neither the test nor the environment says otherwise.
pub const SEEDS_DEFAULT: u64 = 100;

/// How many numbered seeds to run (overrides [`Harness::seeds`]).
pub const ENV_SEEDS: &str = "FAULTLINE_SEEDS";
/// Run exactly this seed, and nothing else.
pub const ENV_SEED: &str = "FAULTLINE_SEED";
/// `1` runs every seed twice and compares the fingerprints.
pub const ENV_DETERMINISM: &str = "FAULTLINE_DETERMINISM";

/// What the environment asks of a harness run. [`Knobs::from_env`] reads it;
/// [`Harness::knobs`] sets it explicitly, so a test can ignore the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Knobs {
    /// `FAULTLINE_SEEDS`: how many numbered seeds, instead of the test's own count.
    pub seeds: Option<u64>,
    /// `FAULTLINE_SEED`: run exactly this seed (regression seeds and the count are ignored).
    pub seed: Option<u64>,
    /// `FAULTLINE_DETERMINISM`: run every seed twice and compare fingerprints.
    pub determinism: bool,
}

impl Knobs {
    /// Reads `FAULTLINE_SEEDS`, `FAULTLINE_SEED` and `FAULTLINE_DETERMINISM` from the process
    /// environment. An unset or empty variable means "not given".
    pub fn from_env() -> Result<Knobs, String> {
        Knobs::parse(|name| std::env::var_os(name))
    }

    /// Parses the three variables as `lookup` returns them. The error names the variable,
    /// its value and what was expected.
    pub fn parse(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Knobs, String> {
        let text = |name: &str| -> Result<Option<String>, String> {
            match lookup(name) {
                None => Ok(None),
                Some(v) => match v.into_string() {
                    Ok(s) if s.trim().is_empty() => Ok(None),
                    Ok(s) => Ok(Some(s.trim().to_string())),
                    Err(v) => Err(format!("{name}={v:?} is not valid text; expected a number")),
                },
            }
        };
        let seeds = match text(ENV_SEEDS)? {
            None => None,
            Some(s) => match s.parse::<u64>() {
                Ok(n) if (1..=SEEDS_MAX).contains(&n) => Some(n),
                _ => {
                    return Err(format!(
                        "{ENV_SEEDS}={s:?} is not a seed count; expected a whole number from 1 to {SEEDS_MAX}"
                    ));
                }
            },
        };
        let seed = match text(ENV_SEED)? {
            None => None,
            Some(s) => match s.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    return Err(format!(
                        "{ENV_SEED}={s:?} is not a seed; expected a whole number from 0 to {}",
                        u64::MAX
                    ));
                }
            },
        };
        let determinism = match text(ENV_DETERMINISM)?.as_deref() {
            None => false,
            Some(s) => match s.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(format!(
                        "{ENV_DETERMINISM}={s:?} is not a switch; expected 1 or 0 (or true/false, yes/no, on/off)"
                    ));
                }
            },
        };
        Ok(Knobs {
            seeds,
            seed,
            determinism,
        })
    }
}

/// The seeds to run, in order: `only` alone if given (`FAULTLINE_SEED`); otherwise the
/// regression seeds (each once, in the order given), then `1..=count` without the ones
/// already listed.
pub fn seed_list(regression: &[u64], count: u64, only: Option<u64>) -> Vec<u64> {
    if let Some(s) = only {
        return vec![s];
    }
    let mut seeds: Vec<u64> = Vec::new();
    for &s in regression {
        if !seeds.contains(&s) {
            seeds.push(s);
        }
    }
    let listed = seeds.clone();
    seeds.extend((1..=count).filter(|s| !listed.contains(s)));
    seeds
}

/// Whether `P` is the very type the bundled registry has under `P::NAME` (a protocol of your
/// own that happens to share a bundled name is not).
pub fn is_bundled<P: Protocol>() -> bool {
    struct Same<P>(PhantomData<fn() -> P>);
    impl<P: Protocol> ProtocolVisitor for Same<P> {
        type Output = bool;
        fn visit<Q: Protocol>(self) -> bool {
            TypeId::of::<Q>() == TypeId::of::<P>()
        }
    }
    with_protocol(P::NAME, Same::<P>(PhantomData)).unwrap_or(false)
}

/// Points an error at the user's text, where it put `field`; with overrides the document no
/// longer matches the text, and the error has no position (as [`scenario::load`] does).
fn relocate(mut e: InputError, text: &str, overrides: &[String]) -> InputError {
    let pos = e
        .field
        .as_deref()
        .filter(|_| overrides.is_empty())
        .and_then(|f| scenario::locate(text, f));
    e.line = pos.map(|p| p.0);
    e.column = pos.map(|p| p.1);
    e
}

fn input_error(
    source: &str,
    text: &str,
    overrides: &[String],
    field: &str,
    message: String,
) -> InputError {
    relocate(
        InputError {
            file: source.to_string(),
            line: None,
            column: None,
            field: (!field.is_empty()).then(|| field.to_string()),
            message,
        },
        text,
        overrides,
    )
}

/// Parses and validates scenario `text` for protocol `P`, with `overrides` (`--set` syntax)
/// applied. `protocol.name` must be `P::NAME`. Unlike [`scenario::load`], `P` need not be
/// bundled.
///
/// For a bundled `P` this is [`scenario::load`]. For any other, the scenario loader
/// validates a stand-in: the same document with the protocol block replaced by a bundled
/// protocol without parameters, the expectations' check names by a built-in check, and the
/// swarm's protocol knobs left out. That covers everything the protocol does not decide
/// (nodes, network, faults, nemesis, limits, expectation kinds), with the same messages.
/// The parts set aside are then put back and checked against `P`: its parameters, its
/// check names and every value a swarm knob may pick.
///
/// The result's [`Scenario::config`] works for `P`; its `run` and `with_protocol` work only
/// for bundled protocols (use [`sim_config`] and [`Simulation`]).
pub fn load_scenario<P: Protocol>(
    source: &str,
    text: &str,
    overrides: &[String],
) -> Result<Scenario, InputError> {
    let bad = |field: &str, message: String| input_error(source, text, overrides, field, message);
    if is_bundled::<P>() {
        let scn = scenario::load(source, text, overrides)?;
        if scn.file.protocol.name != P::NAME {
            return Err(bad(
                "protocol.name",
                format!(
                    "this scenario is for {}, not {}",
                    scn.file.protocol.name,
                    P::NAME
                ),
            ));
        }
        return Ok(scn);
    }
    let parsed = (text.len() <= scenario::FILE_BYTES_MAX)
        .then(|| serde_json::from_str::<serde_json::Value>(text).ok())
        .flatten();
    let mut json = match parsed {
        Some(v) if v.is_object() => v,
        // Too big, not JSON, or not an object: the loader says so in its own words.
        _ => {
            return Err(match scenario::load(source, text, overrides) {
                Err(e) => e,
                Ok(_) => bad("", "expected a scenario as a JSON object".to_string()),
            });
        }
    };
    for o in overrides {
        scenario::apply_override(&mut json, o)?;
    }
    let name = json
        .pointer("/protocol/name")
        .and_then(|n| n.as_str())
        .map(str::to_string);
    if let Some(name) = &name {
        if name != P::NAME {
            return Err(bad(
                "protocol.name",
                format!("this scenario is for {name}, not {}", P::NAME),
            ));
        }
    }
    let mut standin = json.clone();
    if name.is_some() {
        standin["protocol"] = serde_json::json!({ "name": PROTOCOLS[0] });
    }
    if let Some(expect) = standin.get_mut("expect").and_then(|e| e.as_array_mut()) {
        for e in expect.iter_mut().filter_map(|e| e.as_object_mut()) {
            if e.contains_key("check") {
                e.insert("check".into(), "client_ops_ok".into());
            }
        }
    }
    if let Some(swarm) = standin
        .pointer_mut("/nemesis/swarm")
        .and_then(|s| s.as_object_mut())
    {
        swarm.remove("params");
    }
    let standin_text = serde_json::to_string(&standin).expect("JSON values print");
    let loaded =
        scenario::load(source, &standin_text, &[]).map_err(|e| relocate(e, text, overrides))?;
    // Put back what the stand-in set aside; the network preset stays resolved.
    let mut effective = loaded.json;
    effective["protocol"] = json["protocol"].clone();
    if let Some(expect) = json.get("expect") {
        effective["expect"] = expect.clone();
    }
    if let Some(params) = json.pointer("/nemesis/swarm/params") {
        effective["nemesis"]["swarm"]["params"] = params.clone();
    }
    let file: ScenarioFile = serde_path_to_error::deserialize(&effective).map_err(|e| {
        let path = e.path().to_string();
        bad(if path == "." { "" } else { &path }, e.inner().to_string())
    })?;
    let scn = Scenario {
        source: source.to_string(),
        json: effective,
        file,
    };
    // The parameters and the check names, against P.
    scn.config::<P>(0)
        .map_err(|e| relocate(e, text, overrides))?;
    let knobs = scn.file.nemesis.as_ref().and_then(|n| n.swarm.as_ref());
    for (key, choices) in knobs.map(|s| &s.params).into_iter().flatten() {
        let field = format!("nemesis.swarm.params.{key}");
        if choices.is_empty() {
            return Err(bad(&field, "list at least one value".to_string()));
        }
        for (i, v) in choices.iter().enumerate() {
            let mut params = match &scn.file.protocol.params {
                serde_json::Value::Object(m) => m.clone(),
                _ => serde_json::Map::new(),
            };
            params.insert(key.clone(), v.clone());
            if let Err(e) = serde_json::from_value::<P::Config>(serde_json::Value::Object(params)) {
                return Err(bad(
                    &format!("{field}[{i}]"),
                    format!("not a valid protocol parameter here: {e}"),
                ));
            }
        }
    }
    Ok(scn)
}

/// The scenario as it runs under `seed` (a swarm nemesis replaced by what it draws, as
/// [`Scenario::for_seed`] does) and its typed configuration for `P`.
pub fn sim_config<P: Protocol>(
    scn: &Scenario,
    seed: u64,
) -> Result<(Scenario, SimConfig<P>), InputError> {
    let nemesis = scn.file.nemesis.as_ref();
    let swarm = nemesis.and_then(|n| n.swarm.as_ref().map(|s| (s, n.until_ms)));
    let resolved = match swarm {
        None => scn.clone(),
        Some(_) if is_bundled::<P>() => scn.for_seed(seed)?,
        Some((spec, until_ms)) => {
            let draw = crate::faults::swarm(spec, until_ms, seed, &P::vocabulary());
            let mut json = scn.json.clone();
            json["nemesis"] = serde_json::to_value(&draw.nemesis).expect("a nemesis serializes");
            if !draw.params.is_empty() {
                if !json["protocol"]["params"].is_object() {
                    json["protocol"]["params"] = serde_json::json!({});
                }
                for (k, v) in draw.params {
                    json["protocol"]["params"][k.as_str()] = v;
                }
            }
            let text = serde_json::to_string_pretty(&json).expect("JSON values print");
            load_scenario::<P>(&scn.source, &text, &[])?
        }
    };
    let config = resolved.config::<P>(seed)?;
    Ok((resolved, config))
}

/// Why a harness run did not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// A check failed, a handler panicked, or the event budget ran out: the engine's finding.
    Check(Box<Finding>),
    /// No check failed, but some could not be decided by the end of the run.
    Inconclusive {
        /// Which checks, and why.
        reason: String,
    },
    /// The run was stopped from outside (a trace line that could not be written).
    Aborted {
        /// Why.
        reason: String,
    },
    /// Two runs of the same seed differed: the protocol reads something besides its context
    /// (a global, a hash map's order, the clock).
    Nondeterministic {
        /// The two runs' fingerprints.
        fingerprints: [u64; 2],
        /// The first line (1-based) where the two traces differ, when both were written.
        first_difference: Option<u64>,
    },
    /// Code outside the protocol's handlers panicked (a client's constructor, a check's
    /// builder, or the engine itself).
    Panic {
        /// The panic's message.
        message: String,
    },
    /// The scenario, an argument of the builder or an environment variable is invalid.
    BadInput {
        /// What is wrong.
        message: String,
    },
}

/// A harness run that did not pass: what happened, and the one line that says so.
#[derive(Clone, Debug)]
pub struct Failure {
    /// What went wrong.
    pub kind: FailureKind,
    /// The seed, when one seed is to blame.
    pub seed: Option<u64>,
    /// The one-line report (what [`Harness::check`] panics with).
    pub line: String,
    /// The trace files written (two when two runs of one seed differed).
    pub traces: Vec<PathBuf>,
    /// The failing run's report, when there is one.
    pub report: Option<Box<RunReport>>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

impl std::error::Error for Failure {}

/// A harness run where every seed passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passed {
    /// The seeds run, in order.
    pub seeds: Vec<u64>,
    /// Whether every seed ran twice with equal fingerprints.
    pub determinism: bool,
    /// Seeds whose runs were inconclusive, when [`Harness::allow_inconclusive`] let them by.
    pub inconclusive: Vec<u64>,
}

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
        let scn = load_scenario::<P>(&source, &text, &self.overrides)
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
        let outcomes = run_seeds::<P>(&scn, &seeds, twice, self.allow_inconclusive, threads);
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

    fn bad_input(&self, message: String) -> Failure {
        Failure {
            line: format!("faultline: {}: {}", self.name, one_line(&message)),
            kind: FailureKind::BadInput { message },
            seed: None,
            traces: Vec::new(),
            report: None,
        }
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
            Source::File(path) => std::fs::read_to_string(path)
                .map(|text| (path.display().to_string(), text))
                .map_err(|e| format!("cannot read the scenario {}: {e}", path.display())),
        }
    }

    /// `faultline run ...` for a bundled protocol whose scenario came from a bundled name or
    /// a file; `None` otherwise (the CLI could not run it).
    fn cli_line(&self, seed: u64) -> Option<String> {
        let source = match &self.source {
            Source::Bundled(name) => name.clone(),
            Source::File(path) => path.display().to_string(),
            Source::Default | Source::Text(_) => return None,
        };
        is_bundled::<P>().then(|| crate::scenario::replay_line(&source, seed, &self.overrides))
    }

    fn cargo_line(&self, seed: u64, determinism: bool) -> String {
        let env = if determinism {
            format!(" {ENV_DETERMINISM}=1")
        } else {
            String::new()
        };
        format!(
            "{ENV_SEED}={seed}{env} cargo test {}",
            crate::scenario::shell_quote(&self.name)
        )
    }

    /// The `reproduce` field of a trace's summary. For a bundled protocol it is the CLI's
    /// own line for the trace's source, so `faultline replay` finds the summary identical.
    fn summary_reproduce(&self, scn: &Scenario, seed: u64, determinism: bool) -> String {
        if is_bundled::<P>() {
            crate::scenario::replay_line(&scn.source, seed, &self.overrides)
        } else {
            self.cargo_line(seed, determinism)
        }
    }

    fn trace_path(&self, seed: u64, suffix: &str) -> PathBuf {
        let dir = self.trace_dir.clone().unwrap_or_else(default_trace_dir);
        let name: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        dir.join(format!("{name}-seed{seed}{suffix}.jsonl"))
    }

    /// Builds the report for the first seed that did not pass, writing its trace.
    fn failure(&self, scn: &Scenario, seed: u64, outcome: SeedOutcome, twice: bool) -> Failure {
        let name = &self.name;
        match outcome {
            SeedOutcome::Pass | SeedOutcome::AllowedInconclusive => {
                unreachable!("only seeds that did not pass are reported")
            }
            SeedOutcome::NotPassed(report) => {
                let path = self.trace_path(seed, "");
                let reproduce = self.summary_reproduce(scn, seed, false);
                let traced = traced_run::<P>(scn, seed, &path, &self.overrides, &reproduce);
                if let Ok(again) = &traced {
                    if again.fingerprint != report.fingerprint {
                        // The fingerprint does not depend on the sink: the runs differ.
                        let fingerprints = [report.fingerprint, again.fingerprint];
                        return self.nondeterministic(scn, seed, fingerprints);
                    }
                }
                let (trace, traces) = match traced {
                    Ok(_) => (path.display().to_string(), vec![path]),
                    Err(e) => (format!("not written ({})", one_line(&e)), Vec::new()),
                };
                let mut tail = format!("replay: {}", self.cargo_line(seed, false));
                if let Some(cli) = self.cli_line(seed) {
                    tail.push_str(&format!(" | cli: {cli}"));
                }
                tail.push_str(&format!(" | trace: {trace}"));
                let (kind, head) = match &report.verdict {
                    Verdict::Fail(f) => (
                        FailureKind::Check(Box::new(f.clone())),
                        format!(
                            "failed check {} ({}) at seed {seed}, t={}: {}",
                            f.check,
                            f.class.name(),
                            f.time,
                            one_line(&f.message)
                        ),
                    ),
                    Verdict::Inconclusive { reason } => (
                        FailureKind::Inconclusive {
                            reason: reason.clone(),
                        },
                        format!(
                            "was inconclusive at seed {seed}, t={}: {}",
                            report.time_end,
                            one_line(reason)
                        ),
                    ),
                    Verdict::Aborted { reason } => (
                        FailureKind::Aborted {
                            reason: reason.clone(),
                        },
                        format!("was aborted at seed {seed}: {}", one_line(reason)),
                    ),
                    Verdict::Pass => unreachable!("a passing run is not reported"),
                };
                Failure {
                    kind,
                    seed: Some(seed),
                    line: format!("faultline: {name} {head} | {tail}"),
                    traces,
                    report: Some(report),
                }
            }
            SeedOutcome::Nondeterministic(fingerprints) => {
                self.nondeterministic(scn, seed, fingerprints)
            }
            SeedOutcome::Error(kind) => {
                let what = match &kind {
                    FailureKind::Panic { message } => {
                        format!("panicked outside the protocol's handlers: {message}")
                    }
                    FailureKind::BadInput { message } => format!("bad scenario: {message}"),
                    other => format!("{other:?}"),
                };
                Failure {
                    line: format!(
                        "faultline: {name} failed at seed {seed}: {} | replay: {}",
                        one_line(&what),
                        self.cargo_line(seed, twice)
                    ),
                    kind,
                    seed: Some(seed),
                    traces: Vec::new(),
                    report: None,
                }
            }
        }
    }

    /// Two runs of `seed` differed: run it twice more with traces, so they can be compared.
    fn nondeterministic(&self, scn: &Scenario, seed: u64, fingerprints: [u64; 2]) -> Failure {
        let reproduce = self.cargo_line(seed, true);
        let summary_reproduce = self.summary_reproduce(scn, seed, true);
        let paths = [
            self.trace_path(seed, "-run1"),
            self.trace_path(seed, "-run2"),
        ];
        let mut written = Vec::new();
        let mut errors = Vec::new();
        for p in &paths {
            match traced_run::<P>(scn, seed, p, &self.overrides, &summary_reproduce) {
                Ok(_) => written.push(p.clone()),
                Err(e) => errors.push(one_line(&e)),
            }
        }
        let first_difference = match written.as_slice() {
            [a, b] => first_difference(a, b),
            _ => None,
        };
        let difference = match first_difference {
            Some(l) => format!("; traced again, the two traces first differ at line {l}"),
            None if written.len() == 2 => "; traced again, the two traces were equal".to_string(),
            None => String::new(),
        };
        let trace = if errors.is_empty() {
            written
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            format!("not written ({})", errors.join("; "))
        };
        Failure {
            line: format!(
                "faultline: {} is not deterministic at seed {seed}: two runs gave fingerprints {} and {}{difference} | replay: {reproduce} | trace: {trace}",
                self.name,
                fingerprint_hex(fingerprints[0]),
                fingerprint_hex(fingerprints[1]),
            ),
            kind: FailureKind::Nondeterministic {
                fingerprints,
                first_difference,
            },
            seed: Some(seed),
            traces: written,
            report: None,
        }
    }
}

/// The outcome of one seed.
enum SeedOutcome {
    /// The run passed (twice, with equal fingerprints, when asked).
    Pass,
    /// The run was inconclusive, and the harness lets that by.
    AllowedInconclusive,
    /// The run failed, was inconclusive or was aborted.
    NotPassed(Box<RunReport>),
    /// Two runs gave these fingerprints.
    Nondeterministic([u64; 2]),
    /// The seed's scenario was invalid, or something panicked outside the handlers.
    Error(FailureKind),
}

/// Runs the seeds on `threads` threads, handed out in list order. Once a seed fails, no seed
/// after it is started; every seed before it was handed out earlier and runs to the end. So
/// the outcomes up to the first failure are complete, whatever the thread count.
fn run_seeds<P: Protocol>(
    scn: &Scenario,
    seeds: &[u64],
    twice: bool,
    allow_inconclusive: bool,
    threads: usize,
) -> Vec<SeedOutcome> {
    let next = AtomicUsize::new(0);
    let first_bad = AtomicUsize::new(usize::MAX);
    let results: Mutex<Vec<Option<SeedOutcome>>> = Mutex::new(seeds.iter().map(|_| None).collect());
    let threads = threads.clamp(1, seeds.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= seeds.len() || i > first_bad.load(Ordering::SeqCst) {
                        break;
                    }
                    let outcome = judge::<P>(scn, seeds[i], twice, allow_inconclusive);
                    if !outcome.passed() {
                        first_bad.fetch_min(i, Ordering::SeqCst);
                    }
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(outcome);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    // Everything up to the first failure ran; stop there.
    let mut outcomes = Vec::new();
    for r in results {
        let Some(outcome) = r else { break };
        let stop = !outcome.passed();
        outcomes.push(outcome);
        if stop {
            break;
        }
    }
    outcomes
}

impl SeedOutcome {
    fn passed(&self) -> bool {
        matches!(self, SeedOutcome::Pass | SeedOutcome::AllowedInconclusive)
    }
}

fn judge<P: Protocol>(
    scn: &Scenario,
    seed: u64,
    twice: bool,
    allow_inconclusive: bool,
) -> SeedOutcome {
    let first = match run_once::<P>(scn, seed) {
        Ok(r) => r,
        Err(kind) => return SeedOutcome::Error(kind),
    };
    if twice {
        match run_once::<P>(scn, seed) {
            Ok(again) if again.fingerprint != first.fingerprint => {
                return SeedOutcome::Nondeterministic([first.fingerprint, again.fingerprint]);
            }
            Ok(_) => {}
            Err(kind) => return SeedOutcome::Error(kind),
        }
    }
    match first.verdict {
        Verdict::Pass => SeedOutcome::Pass,
        Verdict::Inconclusive { .. } if allow_inconclusive => SeedOutcome::AllowedInconclusive,
        _ => SeedOutcome::NotPassed(Box::new(first)),
    }
}

fn run_once<P: Protocol>(scn: &Scenario, seed: u64) -> Result<RunReport, FailureKind> {
    let (_, config) = sim_config::<P>(scn, seed).map_err(|e| FailureKind::BadInput {
        message: e.to_string(),
    })?;
    simulate(config, None)
}

/// Builds and runs one simulation; a panic outside the handlers (which the engine reports
/// itself) becomes a [`FailureKind::Panic`].
fn simulate<P: Protocol>(
    config: SimConfig<P>,
    sink: Option<Box<dyn TraceSink>>,
) -> Result<RunReport, FailureKind> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        Simulation::new(config, sink).map(|mut sim| sim.run())
    }));
    match result {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(message)) => Err(FailureKind::BadInput { message }),
        Err(payload) => Err(FailureKind::Panic {
            message: panic_text(payload.as_ref()),
        }),
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}

/// Runs `seed` again with a trace written to `path` (header, records, summary), through a
/// temporary file renamed into place only when complete. Returns the run's report.
fn traced_run<P: Protocol>(
    scn: &Scenario,
    seed: u64,
    path: &Path,
    overrides: &[String],
    reproduce: &str,
) -> Result<RunReport, String> {
    let (resolved, config) = sim_config::<P>(scn, seed).map_err(|e| e.to_string())?;
    let mut file = TraceFile::create(path)?;
    let header = crate::trace::header::<P>(&resolved.source, &resolved.json, seed, overrides);
    file.line(&header)?;
    let shared = Rc::new(RefCell::new(file));
    let report = match simulate(config, Some(Box::new(SharedFile(shared.clone())))) {
        Ok(r) => r,
        Err(kind) => {
            shared.borrow().discard();
            return Err(match kind {
                FailureKind::Panic { message } => format!("the traced run panicked: {message}"),
                FailureKind::BadInput { message } => message,
                other => format!("{other:?}"),
            });
        }
    };
    let mut file = Rc::try_unwrap(shared)
        .map(RefCell::into_inner)
        .map_err(|_| "the trace sink outlived its simulation".to_string())?;
    if let Verdict::Aborted { reason } = &report.verdict {
        file.discard();
        return Err(reason.clone());
    }
    // The summary as the CLI writes it, so `faultline replay` compares it too.
    let mut summary = serde_json::to_value(&report).expect("reports serialize");
    let obj = summary
        .as_object_mut()
        .expect("a struct serializes as an object");
    obj.insert(
        "fingerprint".into(),
        fingerprint_hex(report.fingerprint).into(),
    );
    obj.insert("reproduce".into(), reproduce.into());
    obj.insert("ev".into(), "summary".into());
    file.line(&summary.to_string())?;
    file.finish()?;
    Ok(report)
}

/// A trace being written to `PATH.<pid>.partial`, renamed to `PATH` once complete.
struct TraceFile {
    writer: BufWriter<File>,
    partial: PathBuf,
    path: PathBuf,
}

impl TraceFile {
    fn create(path: &Path) -> Result<TraceFile, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(format!(".{}.partial", std::process::id()));
        let partial = PathBuf::from(partial);
        let file = File::create(&partial)
            .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
        Ok(TraceFile {
            writer: BufWriter::with_capacity(1 << 16, file),
            partial,
            path: path.to_path_buf(),
        })
    }

    fn line(&mut self, line: &str) -> Result<(), String> {
        self.writer
            .write_all(line.as_bytes())
            .and_then(|_| self.writer.write_all(b"\n"))
            .map_err(|e| format!("cannot write {}: {e}", self.partial.display()))
    }

    /// Flushes and moves the complete file into place.
    fn finish(mut self) -> Result<(), String> {
        self.writer
            .flush()
            .map_err(|e| format!("cannot write {}: {e}", self.partial.display()))?;
        std::fs::rename(&self.partial, &self.path)
            .map_err(|e| format!("cannot rename to {}: {e}", self.path.display()))
    }

    /// Gives up on an unfinished trace (best effort: it is only a `.partial` file).
    fn discard(&self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}

/// The engine owns its sink; the harness keeps a handle to write the summary after it.
struct SharedFile(Rc<RefCell<TraceFile>>);

impl TraceSink for SharedFile {
    fn line(&mut self, line: &str) -> Result<(), String> {
        self.0.borrow_mut().line(line)
    }
}

/// The first line (1-based) where two files differ, if they do.
fn first_difference(a: &Path, b: &Path) -> Option<u64> {
    let open = |p: &Path| File::open(p).ok().map(|f| BufReader::new(f).lines());
    let (mut la, mut lb) = (open(a)?, open(b)?);
    let mut n = 0;
    loop {
        n += 1;
        match (la.next(), lb.next()) {
            (None, None) => return None,
            (Some(Ok(x)), Some(Ok(y))) if x == y => {}
            _ => return Some(n),
        }
    }
}

/// `faultline/` in the target directory (see [`target_dir`]).
pub fn default_trace_dir() -> PathBuf {
    target_dir(
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from),
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        std::env::current_exe().ok(),
        std::env::temp_dir(),
    )
    .join("faultline")
}

/// The build's target directory: `cargo_target_dir` (the `CARGO_TARGET_DIR` variable) if
/// set; else the first `target` directory found walking up from `manifest_dir` (cargo sets
/// `CARGO_MANIFEST_DIR` when it runs tests, and a workspace's `target` is above its
/// members); else, for a test binary run without cargo, the directory above `exe` that holds
/// cargo's `CACHEDIR.TAG`; else `temp`.
pub fn target_dir(
    cargo_target_dir: Option<PathBuf>,
    manifest_dir: Option<PathBuf>,
    exe: Option<PathBuf>,
    temp: PathBuf,
) -> PathBuf {
    if let Some(dir) = cargo_target_dir.filter(|d| !d.as_os_str().is_empty()) {
        return dir;
    }
    let from_manifest = manifest_dir
        .as_deref()
        .and_then(|m| m.ancestors().map(|a| a.join("target")).find(|t| t.is_dir()));
    let from_exe = || {
        exe.as_deref().and_then(|e| {
            e.ancestors()
                .skip(1)
                .find(|a| a.join("CACHEDIR.TAG").is_file())
                .map(Path::to_path_buf)
        })
    };
    from_manifest.or_else(from_exe).unwrap_or(temp)
}

/// `text` on one line: line breaks become spaces.
fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{
        ClientCtx, ClientId, ClientLogic, Ctx, Failure as PropFailure, NodeId, PropertyDef,
        RequestId, Time, View, WorkloadConfig,
    };
    use crate::protocols::ping::Ping;
    use serde::{Deserialize, Serialize};
    use std::sync::atomic::AtomicU64;

    /// A fresh, empty directory for one test.
    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("faultline-harness-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn no_env() -> Knobs {
        Knobs::default()
    }

    /// A toy protocol, not in the registry: nodes greet each other every 100 ms. Its
    /// parameters make it fail on some seeds, panic, or leak state between runs.
    #[derive(Clone, Debug)]
    struct Toy {
        config: ToyConfig,
        draw: Option<u64>,
        heard: u64,
    }

    #[derive(Clone, Debug, Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct ToyConfig {
        /// Each node draws below this at start; a 0 fails `no_jackpot` (0: no draw).
        jackpot_in: u64,
        /// Panic in the timer handler at or after this local time.
        panic_at_ms: Option<u64>,
        /// Take the first timer's delay from a process-wide counter: every run differs.
        leak: bool,
    }

    static LEAK: AtomicU64 = AtomicU64::new(0);

    impl Protocol for Toy {
        const NAME: &'static str = "toy";
        type Config = ToyConfig;
        type Msg = ();
        type Timer = ();
        type Request = ();
        type Response = ();
        type Record = ();
        type Client = Quiet;

        fn new(_: NodeId, _: u32, config: &ToyConfig) -> Self {
            Toy {
                config: config.clone(),
                draw: None,
                heard: 0,
            }
        }
        fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
            if self.config.jackpot_in > 0 {
                self.draw = Some(ctx.rng().below(self.config.jackpot_in));
            }
            let mut first = 10;
            if self.config.leak {
                first += LEAK.fetch_add(1, Ordering::SeqCst) % 7;
            }
            ctx.set_timer((), Time::from_ms(first));
        }
        fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {
            self.heard += 1;
        }
        fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _: ()) {
            if let Some(t) = self.config.panic_at_ms {
                assert!(ctx.now() < Time::from_ms(t), "boom");
            }
            ctx.broadcast(());
            ctx.set_timer((), Time::from_ms(100));
        }
        fn properties() -> Vec<PropertyDef<Self>> {
            vec![
                PropertyDef {
                    name: "no_jackpot",
                    description: "no node drew 0",
                    invariant: true,
                    make: |_| {
                        Box::new(|v: &View<'_, Toy>, _: Option<&crate::check::Trigger>| {
                            for n in v.nodes() {
                                if v.node(n).and_then(|t| t.draw) == Some(0) {
                                    return Err(PropFailure::new(
                                        format!("{n} drew 0\nin its first draw"),
                                        vec![n],
                                    ));
                                }
                            }
                            Ok(())
                        })
                    },
                },
                PropertyDef {
                    name: "heard_a_lot",
                    description: "every node heard 1000 greetings",
                    invariant: false,
                    make: |_| {
                        Box::new(|v: &View<'_, Toy>, _: Option<&crate::check::Trigger>| {
                            for n in v.nodes() {
                                if v.node(n).is_some_and(|t| t.heard < 1000) {
                                    return Err(PropFailure::new("not yet", vec![n]));
                                }
                            }
                            Ok(())
                        })
                    },
                },
            ]
        }
    }

    struct Quiet;

    impl ClientLogic<Toy> for Quiet {
        fn new(_: ClientId, _: u32, _: &WorkloadConfig, _: &ToyConfig) -> Self {
            Quiet
        }
        fn on_start(&mut self, _: &mut ClientCtx<'_, Toy>) {}
        fn on_response(&mut self, _: &mut ClientCtx<'_, Toy>, _: NodeId, _: RequestId, _: ()) {}
        fn on_timer(&mut self, _: &mut ClientCtx<'_, Toy>, _: u64) {}
    }

    fn toy(name: &str, params: &str) -> Harness<Toy> {
        Harness::<Toy>::new(name)
            .set(&format!("protocol.params={params}"))
            .set("limits.time_ms=1000")
            .knobs(no_env())
            .trace_dir(temp(name))
    }

    #[test]
    fn knobs_parse_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(*v))
            }
        };
        assert_eq!(Knobs::parse(env(&[])), Ok(Knobs::default()));
        assert_eq!(
            Knobs::parse(env(&[
                ("FAULTLINE_SEEDS", "25"),
                ("FAULTLINE_SEED", " 17 "),
                ("FAULTLINE_DETERMINISM", "1"),
            ])),
            Ok(Knobs {
                seeds: Some(25),
                seed: Some(17),
                determinism: true
            })
        );
        for (value, on) in [("true", true), ("ON", true), ("0", false), ("no", false)] {
            let k = Knobs::parse(|n: &str| (n == ENV_DETERMINISM).then(|| value.into()));
            assert_eq!(k.map(|k| k.determinism), Ok(on), "{value}");
        }
        // Empty means unset, as in `FAULTLINE_SEED= cargo test`.
        assert_eq!(
            Knobs::parse(env(&[("FAULTLINE_SEED", ""), ("FAULTLINE_SEEDS", " ")])),
            Ok(Knobs::default())
        );
        let err = |pairs| Knobs::parse(env(pairs)).unwrap_err();
        assert_eq!(
            err(&[("FAULTLINE_SEEDS", "abc")]),
            "FAULTLINE_SEEDS=\"abc\" is not a seed count; expected a whole number from 1 to 100000000"
        );
        assert!(err(&[("FAULTLINE_SEEDS", "0")]).starts_with("FAULTLINE_SEEDS=\"0\""));
        assert!(err(&[("FAULTLINE_SEEDS", "-3")]).starts_with("FAULTLINE_SEEDS=\"-3\""));
        assert!(
            err(&[("FAULTLINE_SEED", "1.5")]).starts_with("FAULTLINE_SEED=\"1.5\" is not a seed")
        );
        assert!(
            err(&[("FAULTLINE_DETERMINISM", "maybe")])
                .starts_with("FAULTLINE_DETERMINISM=\"maybe\" is not a switch")
        );
    }

    #[test]
    fn regression_seeds_come_first_once_each() {
        assert_eq!(
            seed_list(&[42, 3, 42, 7], 5, None),
            vec![42, 3, 7, 1, 2, 4, 5]
        );
        assert_eq!(seed_list(&[], 3, None), vec![1, 2, 3]);
        assert_eq!(seed_list(&[42, 7], 100, Some(17)), vec![17]);
    }

    #[test]
    fn the_first_failing_seed_in_order_is_reported_whatever_the_threads() {
        // Which of seeds 1..=30 fail, one at a time.
        let failing: Vec<u64> = (1..=30)
            .filter(|&s| {
                toy("toy_lottery_one", r#"{"jackpot_in": 12}"#)
                    .knobs(Knobs {
                        seed: Some(s),
                        ..Knobs::default()
                    })
                    .run()
                    .is_err()
            })
            .collect();
        assert!(
            failing.len() >= 2 && failing.len() < 30,
            "the lottery should fail some seeds, not all: {failing:?}"
        );
        let (first, last) = (failing[0], failing[failing.len() - 1]);
        let passing = (1..=30).find(|s| !failing.contains(s)).unwrap();
        let line = |threads: usize, regression: &[u64]| {
            let f = toy("toy_lottery", r#"{"jackpot_in": 12}"#)
                .seeds(30)
                .threads(threads)
                .regression_seeds(regression.iter().copied())
                .run()
                .unwrap_err();
            assert!(matches!(f.kind, FailureKind::Check(_)), "{f}");
            (f.seed.unwrap(), f.line)
        };
        let (seed, one) = line(1, &[]);
        assert_eq!(seed, first);
        assert_eq!(line(3, &[]), (first, one.clone()), "threads change nothing");
        assert_eq!(line(2, &[last]).0, last, "a regression seed runs first");
        assert_eq!(line(2, &[passing, last]).0, last);
        let passed = toy("toy_lottery_pass", r#"{"jackpot_in": 12}"#)
            .seeds(0)
            .regression_seeds([passing])
            .run()
            .unwrap();
        assert_eq!(passed.seeds, vec![passing]);
    }

    #[test]
    fn the_failure_line_names_check_seed_time_replay_and_trace() {
        let dir = temp("ping_boot_bug");
        let f = Harness::<Ping>::new("ping_boot_bug")
            .bundled("ping/bug-skip-boot-sync")
            .seeds(3)
            .knobs(no_env())
            .trace_dir(&dir)
            .run()
            .unwrap_err();
        let trace = dir.join("ping_boot_bug-seed1.jsonl");
        assert_eq!(
            f.line,
            format!(
                "faultline: ping_boot_bug failed check pong_matches_ping (safety) at seed 1, t=1.129985s: \
                 n1 (boot 1) accepted a pong from n2 for boot 1 round 33, but this incarnation had only sent round 4 to it: \
                 the pong answers an earlier incarnation whose boot number was reused \
                 | replay: FAULTLINE_SEED=1 cargo test ping_boot_bug \
                 | cli: faultline run ping/bug-skip-boot-sync --seed 1 | trace: {}",
                trace.display()
            )
        );
        assert!(!f.line.contains('\n'));
        assert_eq!(f.seed, Some(1));
        assert_eq!(f.traces, vec![trace.clone()]);
        // The trace is complete (header, records, summary) and nothing partial is left.
        assert_eq!(files(&dir), vec!["ping_boot_bug-seed1.jsonl"]);
        let text = std::fs::read_to_string(&trace).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["ev"], "header");
        assert_eq!(lines[0]["seed"], 1);
        assert_eq!(lines[0]["source"], "ping/bug-skip-boot-sync");
        let summary = lines.last().unwrap();
        assert_eq!(summary["ev"], "summary");
        assert_eq!(summary["verdict"]["check"], "pong_matches_ping");
        assert_eq!(
            summary["reproduce"],
            "faultline run ping/bug-skip-boot-sync --seed 1"
        );
        let report = f.report.unwrap();
        assert_eq!(summary["fingerprint"], fingerprint_hex(report.fingerprint));
        assert_eq!(lines.len() as u64, report.records + 2);
    }

    #[test]
    fn overrides_reach_the_scenario_and_the_cli_line() {
        let dir = temp("ping_overrides");
        let mut config = crate::protocols::ping::Config {
            interval_ms: 20,
            jitter_ms: 5,
            ..Default::default()
        };
        // The bundled bug scenario with its switch turned off by a typed override passes.
        let passed = Harness::<Ping>::new("ping_overrides_pass")
            .bundled("ping/bug-skip-boot-sync")
            .params(&config)
            .seeds(5)
            .knobs(no_env())
            .check();
        assert_eq!(passed.seeds, vec![1, 2, 3, 4, 5]);
        config.bugs.skip_boot_sync = true;
        let f = Harness::<Ping>::new("ping_overrides")
            .bundled("ping/bug-skip-boot-sync")
            .params(&config)
            .set("nodes=3")
            .seeds(5)
            .knobs(no_env())
            .trace_dir(&dir)
            .run()
            .unwrap_err();
        assert!(
            f.line.contains(
                "| cli: faultline run ping/bug-skip-boot-sync --seed 1 --set 'protocol.params={\"interval_ms\":20,\"jitter_ms\":5,\"bugs\":{\"skip_boot_sync\":true}}' --set nodes=3 |"
            ),
            "{f}"
        );
        let text = std::fs::read_to_string(&f.traces[0]).unwrap();
        let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(header["overrides"].as_array().unwrap().len(), 2);
        assert_eq!(
            header["scenario"]["protocol"]["params"]["bugs"]["skip_boot_sync"],
            true
        );
    }

    #[test]
    fn a_protocol_of_your_own_gets_no_cli_line_and_a_flat_message() {
        let f = toy("toy_always", r#"{"jackpot_in": 1}"#)
            .seeds(5)
            .run()
            .unwrap_err();
        let trace = temp_path("toy_always", "toy_always-seed1.jsonl");
        assert_eq!(
            f.line,
            format!(
                "faultline: toy_always failed check no_jackpot (safety) at seed 1, t=0.000000s: n1 drew 0 in its first draw \
                 | replay: FAULTLINE_SEED=1 cargo test toy_always | trace: {}",
                trace.display()
            )
        );
        assert!(trace.exists());
    }

    fn temp_path(test: &str, file: &str) -> PathBuf {
        std::env::temp_dir()
            .join(format!("faultline-harness-{}-{test}", std::process::id()))
            .join(file)
    }

    #[test]
    fn a_handler_panic_is_a_failure_with_its_location() {
        let f = toy("toy_panic", r#"{"panic_at_ms": 300}"#)
            .seeds(2)
            .run()
            .unwrap_err();
        let FailureKind::Check(finding) = &f.kind else {
            panic!("{f}")
        };
        assert_eq!(finding.check, "protocol_panic");
        assert!(
            f.line.starts_with(
                "faultline: toy_panic failed check protocol_panic (panic) at seed 1, t=0.310000s: n1 panicked in a toy handler: boom (at src/harness/mod.rs:"
            ),
            "{f}"
        );
    }

    #[test]
    fn inconclusive_runs_are_reported_apart_or_let_by() {
        let expect =
            r#"[{"check": "heard_a_lot", "kind": "within", "after": "heal", "within_ms": 5000}]"#;
        let f = toy("toy_inconclusive", "{}")
            .set(&format!("expect={expect}"))
            .seeds(2)
            .run()
            .unwrap_err();
        assert!(matches!(f.kind, FailureKind::Inconclusive { .. }), "{f}");
        assert!(
            f.line.starts_with(
                "faultline: toy_inconclusive was inconclusive at seed 1, t=1.000000s: "
            ),
            "{f}"
        );
        assert!(
            f.line
                .contains(" | replay: FAULTLINE_SEED=1 cargo test toy_inconclusive | trace: ")
        );
        let passed = toy("toy_inconclusive_allowed", "{}")
            .set(&format!("expect={expect}"))
            .seeds(2)
            .allow_inconclusive(true)
            .run()
            .unwrap();
        assert_eq!(passed.inconclusive, vec![1, 2]);
    }

    #[test]
    fn identical_runs_pass_the_determinism_check() {
        let passed = Harness::<Ping>::new("ping_twice")
            .bundled("ping/nemesis")
            .seeds(4)
            .determinism(true)
            .knobs(no_env())
            .check();
        assert!(passed.determinism);
        assert_eq!(passed.seeds.len(), 4);
        let passed = toy("toy_twice", "{}")
            .knobs(Knobs {
                seeds: Some(3),
                determinism: true,
                ..Knobs::default()
            })
            .check();
        assert!(passed.determinism);
        assert_eq!(passed.seeds, vec![1, 2, 3]);
    }

    #[test]
    fn runs_that_differ_fail_the_determinism_check() {
        let dir = temp("toy_leak");
        let f = toy("toy_leak", r#"{"leak": true}"#)
            .trace_dir(&dir)
            .seeds(3)
            .determinism(true)
            .run()
            .unwrap_err();
        let FailureKind::Nondeterministic {
            fingerprints,
            first_difference,
        } = f.kind
        else {
            panic!("{}", f.line)
        };
        assert_ne!(fingerprints[0], fingerprints[1]);
        // Line 1 is the header, which holds only inputs.
        assert!(first_difference.is_some_and(|l| l > 1), "{}", f.line);
        assert!(
            f.line.starts_with(
                "faultline: toy_leak is not deterministic at seed 1: two runs gave fingerprints "
            ),
            "{}",
            f.line
        );
        assert!(
            f.line.contains(
                " | replay: FAULTLINE_SEED=1 FAULTLINE_DETERMINISM=1 cargo test toy_leak | trace: "
            ),
            "{}",
            f.line
        );
        assert_eq!(
            files(&dir),
            vec!["toy_leak-seed1-run1.jsonl", "toy_leak-seed1-run2.jsonl"]
        );
    }

    #[test]
    fn scenarios_for_a_protocol_of_your_own_are_validated_with_positions() {
        let good = r#"{
  "schema": 1,
  "description": "toy",
  "protocol": {"name": "toy", "params": {"jackpot_in": 5}},
  "nodes": 3,
  "network": {"preset": "lossy"},
  "limits": {"time_ms": 1000},
  "expect": [{"check": "heard_a_lot", "kind": "eventually"}]
}"#;
        let scn = load_scenario::<Toy>("t.json", good, &[]).unwrap();
        assert_eq!(scn.file.protocol.name, "toy");
        assert_eq!(scn.file.expect[0].check, "heard_a_lot");
        assert!(scn.json["network"].get("preset").is_none(), "resolved");
        let (_, config) = sim_config::<Toy>(&scn, 9).unwrap();
        assert_eq!((config.seed, config.protocol.jackpot_in), (9, 5));

        let err = |text: String| load_scenario::<Toy>("t.json", &text, &[]).unwrap_err();
        let e = err(good.replace("\"nodes\": 3", "\"nodes\": 0"));
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(5), Some("nodes")),
            "{e}"
        );
        let e = err(good.replace("\"jackpot_in\": 5", "\"jackpot\": 5"));
        assert_eq!(e.field.as_deref(), Some("protocol.params.jackpot"), "{e}");
        assert_eq!((e.line, e.column), (Some(4), Some(53)), "{e}");
        assert!(e.message.contains("unknown field `jackpot`"), "{e}");
        let e = err(good.replace("\"heard_a_lot\"", "\"heard_little\""));
        assert_eq!(e.field.as_deref(), Some("expect[0].check"), "{e}");
        assert_eq!(e.line, Some(8), "{e}");
        assert!(
            e.message.contains(
                "protocol toy has no check named \"heard_little\"; it has: no_jackpot, heard_a_lot"
            ),
            "{e}"
        );
        let e = err(good.replace("\"name\": \"toy\"", "\"name\": \"raft\""));
        assert_eq!(e.message, "this scenario is for raft, not toy", "{e}");
        let e = err(good.replace("\"schema\": 1,", "\"schema\": 1, \"extra\": 2,"));
        assert!(e.message.contains("unknown field `extra`"), "{e}");
        let e = err(good.replace("{\"name\": \"toy\",", "{\"name\": \"toy\", \"x\": 1,"));
        assert!(e.message.contains("unknown field `x`"), "{e}");
        let e = err("[1, 2]".to_string());
        assert!(e.message.contains("JSON object"), "{e}");

        // With overrides, positions are not guessed.
        let e = load_scenario::<Toy>("t.json", good, &["nodes=0".into()]).unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (None, Some("nodes")), "{e}");

        // Swarm knobs are checked against the protocol, and drawn per seed.
        let swarm = good.replace(
            "\"limits\"",
            r#""nemesis": {"until_ms": 500, "swarm": {"params": {"jackpot_in": [7, 9]}}},
  "limits""#,
        );
        let scn = load_scenario::<Toy>("t.json", &swarm, &[]).unwrap();
        let drawn: Vec<u64> = (1..=20)
            .map(|s| sim_config::<Toy>(&scn, s).unwrap().1.protocol.jackpot_in)
            .collect();
        assert!(drawn.contains(&7) && drawn.contains(&9), "{drawn:?}");
        let e = err(swarm.replace("[7, 9]", "[7, \"nine\"]"));
        assert_eq!(
            e.field.as_deref(),
            Some("nemesis.swarm.params.jackpot_in[1]"),
            "{e}"
        );
    }

    #[test]
    fn bad_input_fails_with_one_line() {
        let f = Harness::<Ping>::new("ping_missing")
            .bundled("ping/no-such-scenario")
            .knobs(no_env())
            .run()
            .unwrap_err();
        assert!(
            f.line
                .starts_with("faultline: ping_missing: no bundled scenario named \"ping/no-such-scenario\"; bundled: "),
            "{f}"
        );
        let f = Harness::<Ping>::new("ping_bad")
            .set("nodes=0")
            .knobs(no_env())
            .run()
            .unwrap_err();
        assert_eq!(
            f.line,
            "faultline: ping_bad: bad scenario: ping_bad: nodes: 0 nodes is out of range; expected 1 to 1000"
        );
        let f = Harness::<Ping>::new("ping_none")
            .seeds(0)
            .knobs(no_env())
            .run();
        assert_eq!(
            f.unwrap_err().line,
            "faultline: ping_none: no seeds to run: give a count above 0 or regression seeds"
        );
        let f = Harness::<Ping>::new("ping_file")
            .scenario_file("/no/such/file.json")
            .knobs(no_env())
            .run()
            .unwrap_err();
        assert!(matches!(f.kind, FailureKind::BadInput { .. }));
        assert!(
            f.line
                .starts_with("faultline: ping_file: cannot read the scenario /no/such/file.json: ")
        );
    }

    #[test]
    fn the_default_scenario_runs_the_protocol_quietly() {
        let passed = Harness::<Ping>::new("ping_default")
            .knobs(Knobs {
                seed: Some(5),
                ..Knobs::default()
            })
            .regression_seeds([1, 2])
            .check();
        assert_eq!(passed.seeds, vec![5], "FAULTLINE_SEED runs that seed alone");
    }

    #[test]
    fn the_target_dir_comes_from_the_variable_the_manifest_or_the_binary() {
        let tmp = PathBuf::from("/tmp/x");
        let root = temp("target_dir");
        std::fs::create_dir_all(root.join("target/debug/deps")).unwrap();
        std::fs::create_dir_all(root.join("crates/member")).unwrap();
        std::fs::create_dir_all(root.join("elsewhere/release/deps")).unwrap();
        std::fs::write(root.join("elsewhere/CACHEDIR.TAG"), "").unwrap();
        let exe = root.join("elsewhere/release/deps/t-0123");
        assert_eq!(
            target_dir(Some("/t".into()), Some("/m".into()), None, tmp.clone()),
            PathBuf::from("/t")
        );
        assert_eq!(
            target_dir(
                Some("".into()),
                Some(root.join("crates/member")),
                Some(exe.clone()),
                tmp.clone()
            ),
            root.join("target"),
            "a workspace's target is found above the member"
        );
        assert_eq!(
            target_dir(None, None, Some(exe.clone()), tmp.clone()),
            root.join("elsewhere")
        );
        assert_eq!(
            target_dir(None, Some(root.join("crates")), None, tmp.clone()),
            root.join("target")
        );
        assert_eq!(
            target_dir(None, None, Some("/bin/t".into()), tmp.clone()),
            tmp
        );
        assert_eq!(target_dir(None, None, None, tmp.clone()), tmp);
    }

    #[test]
    fn bundled_means_the_very_type() {
        assert!(is_bundled::<Ping>());
        assert!(!is_bundled::<Toy>());
    }
}
