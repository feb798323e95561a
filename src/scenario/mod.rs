//! Scenario files: parsing, presets, overrides, validation, and conversion to a typed
//! [`SimConfig`].
//!
//! Every error names the file, the line and column where known, the field (as a path like
//! `faults[2].crash`) and what was expected. Nothing here panics on bad input, and sizes are
//! bounded so a hostile file cannot make a run hang or eat memory. Along with the CLI, this
//! is the only module that may be handed file contents (it never opens files itself: the
//! caller passes the text).

use crate::base::types::{Endpoint, NodeId, Ratio, Time};
use crate::check::{ExpectKind, Expectation, TriggerKind};
use crate::faults::{Fault, NemesisConfig, ScheduledFault};
use crate::network::{Latency, LinkModel, LongDelay};
use crate::protocol::Protocol;
use crate::protocol::WorkloadConfig;
use crate::protocols::{PROTOCOLS, ProtocolVisitor, with_protocol};
use crate::sim::{ClockInit, DRIFT_PPM_MAX, DRIFT_PPM_MIN, RunReport, SimConfig, Simulation};
use crate::trace::TraceSink;
use serde::{Deserialize, Serialize};
use std::fmt;

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// The scenario schema version this build reads.
pub const SCHEMA: u32 = 1;
/// Most nodes in one simulation.
pub const NODES_MAX: u32 = 1_000;
/// Most clients in one simulation.
pub const CLIENTS_MAX: u32 = 1_000;
/// Longest run: one year of virtual time.
pub const TIME_MS_MAX: u64 = 365 * 24 * 3_600 * 1_000;
/// Largest event budget.
pub const EVENTS_MAX_LIMIT: u64 = 10_000_000_000;
/// Largest bound on pending events.
pub const PENDING_MAX_LIMIT: u64 = 100_000_000;
/// Longest latency or delay of one message: one hour.
pub const DELAY_US_MAX: u64 = 3_600 * 1_000_000;
/// Largest clock step: one day.
pub const CLOCK_STEP_MS_MAX: i64 = 24 * 3_600 * 1_000;
/// Largest scenario file.
pub const FILE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Which protocol, and its parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolSpec {
    /// A bundled protocol name (`faultline list` shows them).
    pub name: String,
    /// Protocol parameters; each protocol documents its own.
    #[serde(default)]
    pub params: serde_json::Value,
}

/// A per-link override.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkOverride {
    /// Sender.
    pub from: Endpoint,
    /// Receiver.
    pub to: Endpoint,
    /// Also apply to the reverse direction.
    #[serde(default)]
    pub both_ways: bool,
    /// Latency on this link.
    #[serde(default)]
    pub latency: Option<Latency>,
    /// Loss on this link.
    #[serde(default)]
    pub loss: Option<Ratio>,
    /// Duplication on this link.
    #[serde(default)]
    pub duplicate: Option<Ratio>,
    /// Long delays on this link.
    #[serde(default)]
    pub long_delay: Option<LongDelay>,
}

/// The network block.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// A named starting point: `perfect`, `lan`, `wan`, `lossy`, `unreliable`.
    #[serde(default)]
    pub preset: Option<String>,
    /// Latency of every link.
    #[serde(default)]
    pub latency: Option<Latency>,
    /// Loss probability per message.
    #[serde(default)]
    pub loss: Option<Ratio>,
    /// Duplication probability per message.
    #[serde(default)]
    pub duplicate: Option<Ratio>,
    /// Long delays for a share of messages.
    #[serde(default)]
    pub long_delay: Option<LongDelay>,
    /// Per-link overrides.
    #[serde(default)]
    pub links: Vec<LinkOverride>,
}

/// A node's clock at time zero.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSpec {
    /// The node.
    pub node: NodeId,
    /// Offset from true time, milliseconds.
    #[serde(default)]
    pub offset_ms: i64,
    /// Drift, parts per million.
    #[serde(default)]
    pub drift_ppm: i32,
}

/// Run limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The run ends here, normally.
    pub time_ms: u64,
    /// More events than this is a failure (default 10 million).
    #[serde(default)]
    pub events_max: Option<u64>,
    /// More pending events than this at once is a failure (default 1 million).
    #[serde(default)]
    pub pending_max: Option<u64>,
    /// Search steps the end-of-run linearizability check may take per key before it answers
    /// inconclusive (default 100 million).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_steps: Option<u64>,
}

/// Kinds as written in scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KindName {
    /// After every step.
    Always,
    /// After the heal, within the budget.
    Eventually,
    /// At least once.
    Sometimes,
    /// Within `within_ms` after each `after` event.
    Within,
}

/// One expectation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// A check the protocol offers.
    pub check: String,
    /// How it is checked.
    pub kind: KindName,
    /// For `within`: the deadline after each trigger, milliseconds.
    #[serde(default)]
    pub within_ms: Option<u64>,
    /// For `within`: the triggering event.
    #[serde(default)]
    pub after: Option<TriggerKind>,
    /// For `within`: only triggers about this node.
    #[serde(default)]
    pub node: Option<NodeId>,
    /// For `eventually`: its own budget after the heal, milliseconds.
    #[serde(default)]
    pub budget_ms: Option<u64>,
    /// For `eventually`: once true, it must stay true to the end of the run.
    #[serde(default)]
    pub stays: bool,
    /// For `client_ops_ok`: how many operations must complete ok.
    #[serde(default)]
    pub at_least: Option<u64>,
}

/// A scenario file, as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Schema version; must be 1.
    pub schema: u32,
    /// What the scenario shows, for people.
    pub description: String,
    /// Protocol and parameters.
    pub protocol: ProtocolSpec,
    /// Cluster size.
    pub nodes: u32,
    /// Default seed (`--seed` overrides it).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Network model.
    #[serde(default)]
    pub network: NetworkSpec,
    /// Clock offsets and drifts.
    #[serde(default)]
    pub clocks: Vec<ClockSpec>,
    /// Client workload.
    #[serde(default)]
    pub workload: WorkloadConfig,
    /// Scheduled faults, in time order.
    #[serde(default)]
    pub faults: Vec<ScheduledFault>,
    /// Random faults.
    #[serde(default)]
    pub nemesis: Option<NemesisConfig>,
    /// Nodes that never start.
    #[serde(default)]
    pub permanently_down: Vec<NodeId>,
    /// When to heal; default: after the last fault.
    #[serde(default)]
    pub heal_at_ms: Option<u64>,
    /// Eventually-checks must hold within this long after the heal.
    #[serde(default)]
    pub liveness_budget_ms: Option<u64>,
    /// Run limits.
    pub limits: Limits,
    /// Checks beyond the protocol's invariants.
    #[serde(default)]
    pub expect: Vec<ExpectSpec>,
    /// For regression cases: how a run of this scenario (with its own seed) must end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ExpectedOutcome>,
}

/// How a regression case must end (`"outcome": "passes"` or
/// `"outcome": {"fails": "leader_completeness"}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ExpectedOutcome {
    /// Every check holds: a fixed bug stays fixed.
    Passes,
    /// This check fails: a bug switch or a teaching case is still caught. A run that passes
    /// instead has gone vacuous (the engine or its randomness moved under it).
    Fails(String),
}

impl ExpectedOutcome {
    /// Whether a run's verdict is this outcome; if not, why not, in words.
    pub fn judge(&self, verdict: &crate::sim::Verdict) -> Result<(), String> {
        use crate::sim::Verdict;
        match (self, verdict) {
            (ExpectedOutcome::Passes, Verdict::Pass) => Ok(()),
            (ExpectedOutcome::Fails(c), Verdict::Fail(f)) if f.check == *c => Ok(()),
            (ExpectedOutcome::Passes, Verdict::Fail(f)) => Err(format!(
                "expected every check to hold, but {} failed at {}: {} (a fixed bug is back?)",
                f.check, f.time, f.message
            )),
            (ExpectedOutcome::Fails(c), Verdict::Pass) => Err(format!(
                "expected {c} to fail, but every check held: this case has gone vacuous (did the engine, the protocol or its randomness change?); shrink a new one from a failing seed"
            )),
            (ExpectedOutcome::Fails(c), Verdict::Fail(f)) => Err(format!(
                "expected {c} to fail, but {} failed first at {}: {}",
                f.check, f.time, f.message
            )),
            (ExpectedOutcome::Fails(c), Verdict::Inconclusive { reason }) => Err(format!(
                "expected {c} to fail, but no check failed (inconclusive: {reason}): this case has gone vacuous (did the engine, the protocol or its randomness change?); shrink a new one from a failing seed"
            )),
            (_, Verdict::Inconclusive { reason }) => Err(format!(
                "expected {self}, but the run was inconclusive: {reason}"
            )),
            (_, Verdict::Aborted { reason }) => Err(format!(
                "expected {self}, but the run was aborted: {reason}"
            )),
        }
    }
}

impl fmt::Display for ExpectedOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedOutcome::Passes => f.write_str("passes"),
            ExpectedOutcome::Fails(c) => write!(f, "fails {c}"),
        }
    }
}

/// Names the engine itself fails runs under.
const ENGINE_CHECKS: [&str; 4] = [
    "linearizable",
    "protocol_panic",
    "protocol_error",
    "event_budget",
];

fn default_seed() -> u64 {
    1
}

/// A bad-input error: where, which field, what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The file (or bundled scenario name, or `--set`).
    pub file: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// 1-based column, where known.
    pub column: Option<usize>,
    /// The field path, where known.
    pub field: Option<String>,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for InputError {}

/// A loaded, validated scenario: its effective JSON (after presets are resolved and
/// overrides applied) and its parsed form.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Where it came from (path or bundled name).
    pub source: String,
    /// The effective JSON, written into trace headers.
    pub json: serde_json::Value,
    /// Parsed.
    pub file: ScenarioFile,
}

/// Quotes `s` for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The one line that replays a run.
pub fn replay_line(source: &str, seed: u64, overrides: &[String]) -> String {
    let mut line = format!("faultline run {} --seed {seed}", shell_quote(source));
    for o in overrides {
        line.push_str(&format!(" --set {}", shell_quote(o)));
    }
    line
}

/// Microseconds as milliseconds the way a scenario writes them (`1149` or `1149.337`).
pub fn ms_text(us: u64) -> String {
    if us % 1_000 == 0 {
        (us / 1_000).to_string()
    } else {
        format!("{}.{:03}", us / 1_000, us % 1_000)
            .trim_end_matches('0')
            .to_string()
    }
}

/// Looks up a bundled scenario by name (`ping/basic`).
pub fn bundled(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix(".json").unwrap_or(name);
    let name = name.strip_prefix("scenarios/").unwrap_or(name);
    BUNDLED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Names of every bundled scenario, sorted.
pub fn bundled_names() -> Vec<&'static str> {
    BUNDLED.iter().map(|(n, _)| *n).collect()
}

/// A path into a JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                segs.push(Seg::Key(rest[..i].to_string()));
            }
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(end) = stripped.find(']') else { break };
                if let Ok(n) = stripped[..end].parse() {
                    segs.push(Seg::Index(n));
                }
                rest = &stripped[end + 1..];
            }
        } else if !rest.is_empty() {
            segs.push(Seg::Key(rest.to_string()));
        }
    }
    segs
}

/// Finds the line and column of the value at `path` in JSON `text`, by a small scan that
/// follows the path. Returns `None` if the text is not well-formed there or the path is absent.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let segs = parse_path(path);
    let bytes = text.as_bytes();
    let mut pos = 0;
    for seg in &segs {
        skip_ws(bytes, &mut pos);
        match seg {
            Seg::Key(k) => {
                if bytes.get(pos) != Some(&b'{') {
                    return None;
                }
                pos += 1;
                loop {
                    skip_ws(bytes, &mut pos);
                    if bytes.get(pos) == Some(&b'}') {
                        return None;
                    }
                    let key = read_string(bytes, &mut pos)?;
                    skip_ws(bytes, &mut pos);
                    if bytes.get(pos) != Some(&b':') {
                        return None;
                    }
                    pos += 1;
                    skip_ws(bytes, &mut pos);
                    if key == *k {
                        break;
                    }
                    skip_value(bytes, &mut pos)?;
                    skip_ws(bytes, &mut pos);
                    if bytes.get(pos) == Some(&b',') {
                        pos += 1;
                    }
                }
            }
            Seg::Index(i) => {
                if bytes.get(pos) != Some(&b'[') {
                    return None;
                }
                pos += 1;
                for _ in 0..*i {
                    skip_ws(bytes, &mut pos);
                    skip_value(bytes, &mut pos)?;
                    skip_ws(bytes, &mut pos);
                    if bytes.get(pos) != Some(&b',') {
                        return None;
                    }
                    pos += 1;
                }
                skip_ws(bytes, &mut pos);
            }
        }
    }
    skip_ws(bytes, &mut pos);
    let before = &text[..pos.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    Some((line, column))
}

fn skip_ws(b: &[u8], pos: &mut usize) {
    while matches!(b.get(*pos), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        *pos += 1;
    }
}

fn read_string(b: &[u8], pos: &mut usize) -> Option<String> {
    if b.get(*pos) != Some(&b'"') {
        return None;
    }
    let start = *pos;
    *pos += 1;
    while let Some(&c) = b.get(*pos) {
        *pos += 1;
        match c {
            b'\\' => *pos += 1,
            b'"' => {
                let raw = std::str::from_utf8(&b[start..*pos]).ok()?;
                return serde_json::from_str(raw).ok();
            }
            _ => {}
        }
    }
    None
}

fn skip_value(b: &[u8], pos: &mut usize) -> Option<()> {
    skip_ws(b, pos);
    match b.get(*pos)? {
        b'"' => read_string(b, pos).map(|_| ()),
        b'{' | b'[' => {
            let mut depth = 0usize;
            while let Some(&c) = b.get(*pos) {
                match c {
                    b'"' => {
                        read_string(b, pos)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            *pos += 1;
                            return Some(());
                        }
                    }
                    _ => {}
                }
                *pos += 1;
            }
            None
        }
        _ => {
            while let Some(&c) = b.get(*pos) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    break;
                }
                *pos += 1;
            }
            Some(())
        }
    }
}

/// The named network presets.
pub const PRESETS: &[(&str, &str)] = &[
    ("perfect", "constant 1 ms, no loss, no duplicates"),
    ("lan", "uniform 0.2-1 ms, no loss"),
    ("wan", "Pareto from 20 ms (median 40 ms) capped at 2 s"),
    ("lossy", "uniform 1-10 ms, 5% loss, 2% duplicates"),
    (
        "unreliable",
        "Pareto from 5 ms capped at 5 s, 10% loss, 5% duplicates, 2% delayed 0.5-3 s",
    ),
    (
        "lab",
        "uniform 0-27 ms, 10% loss, 1% duplicates, 10% delayed 0.2-2 s (the Raft labs' network)",
    ),
];

fn preset(name: &str) -> Option<LinkModel> {
    let ppm = |p| Ratio { ppm: p };
    Some(match name {
        "perfect" => LinkModel {
            latency: Latency::Constant { us: 1_000 },
            loss: Ratio::ZERO,
            duplicate: Ratio::ZERO,
            long_delay: None,
        },
        "lan" => LinkModel {
            latency: Latency::Uniform {
                min_us: 200,
                max_us: 1_000,
            },
            loss: Ratio::ZERO,
            duplicate: Ratio::ZERO,
            long_delay: None,
        },
        "wan" => LinkModel {
            latency: Latency::Pareto {
                min_us: 20_000,
                max_us: 2_000_000,
            },
            loss: Ratio::ZERO,
            duplicate: Ratio::ZERO,
            long_delay: None,
        },
        "lossy" => LinkModel {
            latency: Latency::Uniform {
                min_us: 1_000,
                max_us: 10_000,
            },
            loss: ppm(50_000),
            duplicate: ppm(20_000),
            long_delay: None,
        },
        "unreliable" => LinkModel {
            latency: Latency::Pareto {
                min_us: 5_000,
                max_us: 5_000_000,
            },
            loss: ppm(100_000),
            duplicate: ppm(50_000),
            long_delay: Some(LongDelay {
                ratio: ppm(20_000),
                min_ms: 500,
                max_ms: 3_000,
            }),
        },
        "lab" => LinkModel {
            latency: Latency::Uniform {
                min_us: 0,
                max_us: 27_000,
            },
            loss: ppm(100_000),
            duplicate: ppm(10_000),
            long_delay: Some(LongDelay {
                ratio: ppm(100_000),
                min_ms: 200,
                max_ms: 2_000,
            }),
        },
        _ => return None,
    })
}

/// Applies one `--set path=value` override to a scenario's JSON. The value is read as JSON
/// if it parses (`0.1`, `true`, `{"uniform": ...}`), else as a string (`n2`).
pub fn apply_override(json: &mut serde_json::Value, assignment: &str) -> Result<(), InputError> {
    let err = |m: String| InputError {
        file: "--set".into(),
        line: None,
        column: None,
        field: Some(assignment.to_string()),
        message: m,
    };
    let Some((path, raw)) = assignment.split_once('=') else {
        return Err(err("expected KEY=VALUE, e.g. --set network.loss=0.1".into()));
    };
    let value: serde_json::Value =
        serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.to_string()));
    let segs = parse_path(path);
    if segs.is_empty() {
        return Err(err("the key is empty".into()));
    }
    let mut cur = json;
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match seg {
            Seg::Key(k) => {
                let Some(obj) = cur.as_object_mut() else {
                    return Err(err(format!("`{k}` is not inside an object")));
                };
                if last {
                    obj.insert(k.clone(), value);
                    return Ok(());
                }
                cur = obj
                    .entry(k.clone())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
            }
            Seg::Index(n) => {
                let Some(arr) = cur.as_array_mut() else {
                    return Err(err(format!("[{n}] is not inside a list")));
                };
                let len = arr.len();
                let Some(slot) = arr.get_mut(*n) else {
                    return Err(err(format!(
                        "index {n} is out of range (the list has {len} entries)"
                    )));
                };
                if last {
                    *slot = value;
                    return Ok(());
                }
                cur = slot;
            }
        }
    }
    Ok(())
}

struct Ctx<'a> {
    source: &'a str,
    text: Option<&'a str>,
}

impl Ctx<'_> {
    fn error(&self, field: &str, message: impl Into<String>) -> InputError {
        let pos = self.text.and_then(|t| locate(t, field));
        InputError {
            file: self.source.to_string(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            field: (!field.is_empty()).then(|| field.to_string()),
            message: message.into(),
        }
    }
}

/// Parses and validates scenario `text` from `source`, with `overrides` applied.
pub fn load(source: &str, text: &str, overrides: &[String]) -> Result<Scenario, InputError> {
    let whole = Ctx {
        source,
        text: Some(text),
    };
    if text.len() > FILE_BYTES_MAX {
        return Err(whole.error(
            "",
            format!(
                "the file is {} bytes; scenarios are at most {FILE_BYTES_MAX}",
                text.len()
            ),
        ));
    }
    let mut json: serde_json::Value = serde_json::from_str(text).map_err(|e| InputError {
        file: source.to_string(),
        line: Some(e.line()),
        column: Some(e.column()),
        field: None,
        message: format!("not valid JSON: {}", strip_position(&e.to_string())),
    })?;
    if !json.is_object() {
        return Err(whole.error("", "expected a JSON object at the top level"));
    }
    for o in overrides {
        apply_override(&mut json, o)?;
    }
    // With overrides, positions in the file no longer describe the document being read.
    let ctx = if overrides.is_empty() {
        whole
    } else {
        Ctx { source, text: None }
    };
    if let Some(schema) = json.get("schema") {
        if schema.as_u64() != Some(u64::from(SCHEMA)) {
            return Err(ctx.error(
                "schema",
                format!("unsupported schema version {schema}; this faultline reads {SCHEMA}"),
            ));
        }
    }
    let file: ScenarioFile = serde_path_to_error::deserialize(&json).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let message = strip_position(&e.inner().to_string());
        ctx.error(&field, message)
    })?;
    resolve_network(&mut json, &file, &ctx)?;
    let file: ScenarioFile = serde_path_to_error::deserialize(&json).map_err(|e| {
        ctx.error(
            &e.path().to_string(),
            strip_position(&e.inner().to_string()),
        )
    })?;
    validate(&file, &ctx)?;
    Ok(Scenario {
        source: source.to_string(),
        json,
        file,
    })
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Replaces `network.preset` with the fields it stands for (explicit fields win), so the
/// effective JSON in a trace header needs no preset table to replay.
fn resolve_network(
    json: &mut serde_json::Value,
    file: &ScenarioFile,
    ctx: &Ctx<'_>,
) -> Result<(), InputError> {
    let Some(name) = &file.network.preset else {
        return Ok(());
    };
    let Some(base) = preset(name) else {
        let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
        return Err(ctx.error(
            "network.preset",
            format!(
                "unknown preset {name:?}; expected one of: {}",
                names.join(", ")
            ),
        ));
    };
    let net = json
        .get_mut("network")
        .and_then(|n| n.as_object_mut())
        .expect("network parsed as an object");
    net.remove("preset");
    let base = serde_json::to_value(&base).expect("link models serialize");
    for (k, v) in base.as_object().expect("a struct serializes as an object") {
        net.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Ok(())
}

fn check_endpoint(
    ctx: &Ctx<'_>,
    field: &str,
    e: Endpoint,
    nodes: u32,
    clients: u32,
) -> Result<(), InputError> {
    match e {
        Endpoint::Node(n) if n.0 >= nodes => Err(ctx.error(
            field,
            format!("{n} does not exist: the cluster has {nodes} nodes (n1..n{nodes})"),
        )),
        Endpoint::Client(c) if c.0 >= clients => Err(ctx.error(
            field,
            if clients == 0 {
                format!("{c} does not exist: the workload has no clients")
            } else {
                format!("{c} does not exist: the workload has {clients} clients (c1..c{clients})")
            },
        )),
        _ => Ok(()),
    }
}

fn check_latency(ctx: &Ctx<'_>, field: &str, l: &Latency) -> Result<(), InputError> {
    let (lo, hi) = l.bounds_us();
    if lo > hi {
        return Err(ctx.error(
            field,
            format!("the minimum {lo} us is above the maximum {hi} us"),
        ));
    }
    if hi > DELAY_US_MAX {
        return Err(ctx.error(
            field,
            format!("{hi} us is longer than the {DELAY_US_MAX} us (one hour) a message may take"),
        ));
    }
    if matches!(l, Latency::Pareto { min_us: 0, .. }) {
        return Err(ctx.error(field, "a Pareto latency needs min_us of at least 1"));
    }
    Ok(())
}

fn check_long_delay(ctx: &Ctx<'_>, field: &str, d: &LongDelay) -> Result<(), InputError> {
    if d.min_ms > d.max_ms {
        return Err(ctx.error(
            field,
            format!("min_ms {} is above max_ms {}", d.min_ms, d.max_ms),
        ));
    }
    if d.max_ms.saturating_mul(1_000) > DELAY_US_MAX {
        return Err(ctx.error(field, "a long delay may be at most one hour (3600000 ms)"));
    }
    Ok(())
}

fn check_range(ctx: &Ctx<'_>, field: &str, lo: u64, hi: u64, what: &str) -> Result<(), InputError> {
    if lo > hi {
        return Err(ctx.error(
            field,
            format!("the {what} minimum {lo} is above its maximum {hi}"),
        ));
    }
    Ok(())
}

fn validate(f: &ScenarioFile, ctx: &Ctx<'_>) -> Result<(), InputError> {
    if f.schema != SCHEMA {
        return Err(ctx.error(
            "schema",
            format!(
                "unsupported schema version {}; this faultline reads {SCHEMA}",
                f.schema
            ),
        ));
    }
    if !PROTOCOLS.contains(&f.protocol.name.as_str()) {
        return Err(ctx.error(
            "protocol.name",
            format!(
                "unknown protocol {:?}; expected one of: {}",
                f.protocol.name,
                PROTOCOLS.join(", ")
            ),
        ));
    }
    if f.nodes == 0 || f.nodes > NODES_MAX {
        return Err(ctx.error(
            "nodes",
            format!(
                "{} nodes is out of range; expected 1 to {NODES_MAX}",
                f.nodes
            ),
        ));
    }
    let (nodes, clients) = (f.nodes, f.workload.clients);
    if clients > CLIENTS_MAX {
        return Err(ctx.error(
            "workload.clients",
            format!("{clients} clients is out of range; expected at most {CLIENTS_MAX}"),
        ));
    }
    let time_ms = f.limits.time_ms;
    if time_ms == 0 || time_ms > TIME_MS_MAX {
        return Err(ctx.error("limits.time_ms", format!("{time_ms} ms is out of range; expected 1 to {TIME_MS_MAX} (one year of virtual time)")));
    }
    if let Some(e) = f.limits.events_max {
        if e == 0 || e > EVENTS_MAX_LIMIT {
            return Err(ctx.error(
                "limits.events_max",
                format!("{e} is out of range; expected 1 to {EVENTS_MAX_LIMIT}"),
            ));
        }
    }
    if let Some(p) = f.limits.pending_max {
        if p == 0 || p > PENDING_MAX_LIMIT {
            return Err(ctx.error(
                "limits.pending_max",
                format!("{p} is out of range; expected 1 to {PENDING_MAX_LIMIT}"),
            ));
        }
    }
    if f.limits.history_steps == Some(0) {
        return Err(ctx.error(
            "limits.history_steps",
            "0 steps cannot decide anything; expected at least 1 (default 100000000)",
        ));
    }
    let w = &f.workload;
    check_range(
        ctx,
        "workload.think_ms_min",
        w.think_ms_min,
        w.think_ms_max,
        "think time",
    )?;
    if clients > 0 && w.timeout_ms == 0 {
        return Err(ctx.error(
            "workload.timeout_ms",
            "a client timeout of 0 ms would retry forever at one instant; expected at least 1",
        ));
    }
    if w.think_ms_max > TIME_MS_MAX || w.timeout_ms > TIME_MS_MAX {
        return Err(ctx.error(
            "workload",
            "think and timeout times may be at most one year",
        ));
    }
    let net = &f.network;
    if let Some(l) = &net.latency {
        check_latency(ctx, "network.latency", l)?;
    }
    if let Some(d) = &net.long_delay {
        check_long_delay(ctx, "network.long_delay", d)?;
    }
    for (i, l) in net.links.iter().enumerate() {
        check_endpoint(
            ctx,
            &format!("network.links[{i}].from"),
            l.from,
            nodes,
            clients,
        )?;
        check_endpoint(ctx, &format!("network.links[{i}].to"), l.to, nodes, clients)?;
        if let Some(lat) = &l.latency {
            check_latency(ctx, &format!("network.links[{i}].latency"), lat)?;
        }
        if let Some(d) = &l.long_delay {
            check_long_delay(ctx, &format!("network.links[{i}].long_delay"), d)?;
        }
    }
    if nodes.saturating_add(clients) > 2_000 && !net.links.is_empty() {
        return Err(ctx.error(
            "network.links",
            "per-link overrides are limited to clusters of at most 2000 vertices",
        ));
    }
    for (i, c) in f.clocks.iter().enumerate() {
        check_endpoint(
            ctx,
            &format!("clocks[{i}].node"),
            Endpoint::Node(c.node),
            nodes,
            clients,
        )?;
        if !(DRIFT_PPM_MIN..=DRIFT_PPM_MAX).contains(&c.drift_ppm) {
            return Err(ctx.error(
                &format!("clocks[{i}].drift_ppm"),
                format!(
                    "{} is out of range; expected {DRIFT_PPM_MIN} to {DRIFT_PPM_MAX}",
                    c.drift_ppm
                ),
            ));
        }
        if c.offset_ms.unsigned_abs() > CLOCK_STEP_MS_MAX as u64 {
            return Err(ctx.error(
                &format!("clocks[{i}].offset_ms"),
                "an offset may be at most one day either way",
            ));
        }
    }
    for (i, n) in f.permanently_down.iter().enumerate() {
        check_endpoint(
            ctx,
            &format!("permanently_down[{i}]"),
            Endpoint::Node(*n),
            nodes,
            clients,
        )?;
    }
    let mut previous = 0;
    for (i, sf) in f.faults.iter().enumerate() {
        let at = format!("faults[{i}].at_ms");
        if sf.on.is_some() && sf.fault == Fault::Heal {
            return Err(ctx.error(
                &format!("faults[{i}].heal"),
                "the heal cannot wait for an annotation; give it a time, or use heal_links",
            ));
        }
        // A fault with `on` fires when its annotation comes; its at_ms only says from when,
        // so it may sit anywhere in the list.
        if sf.on.is_none() && sf.at_us < previous {
            return Err(ctx.error(
                &at,
                format!(
                    "{} comes before the previous entry's {}; list faults in time order",
                    ms_text(sf.at_us),
                    ms_text(previous)
                ),
            ));
        }
        if sf.at_us > time_ms.saturating_mul(1_000) {
            return Err(ctx.error(
                &at,
                format!(
                    "{} is after the end of the run (limits.time_ms = {time_ms})",
                    ms_text(sf.at_us)
                ),
            ));
        }
        if sf.on.is_none() {
            previous = sf.at_us;
        }
        if let Some(node) = sf.on.as_ref().and_then(|on| on.node) {
            check_endpoint(
                ctx,
                &format!("faults[{i}].on.node"),
                Endpoint::Node(node),
                nodes,
                clients,
            )?;
        }
        let field = format!("faults[{i}].{}", sf.fault.key());
        for e in sf.fault.endpoints() {
            check_endpoint(ctx, &field, e, nodes, clients)?;
        }
        match &sf.fault {
            Fault::Partition(groups) | Fault::Bridge { groups, .. } => {
                if groups.len() < 2 {
                    return Err(ctx.error(&field, "a partition needs at least two groups"));
                }
                let mut seen: Vec<Endpoint> = Vec::new();
                for g in groups {
                    if g.is_empty() {
                        return Err(ctx.error(&field, "a partition group is empty"));
                    }
                    for e in g {
                        if seen.contains(e) {
                            return Err(ctx.error(
                                &field,
                                format!("{e} is in more than one group; groups must not overlap"),
                            ));
                        }
                        seen.push(*e);
                    }
                }
                if let Fault::Bridge { via, .. } = &sf.fault {
                    if seen.contains(&Endpoint::Node(*via)) {
                        return Err(ctx.error(&field, format!("the bridge {via} must not be in a group: it is the node that sees both")));
                    }
                }
            }
            Fault::Cut { from, to } | Fault::Repair { from, to } if from == to => {
                return Err(ctx.error(&field, "from and to are the same vertex"));
            }
            Fault::ClockStep { offset_ms, .. }
                if offset_ms.unsigned_abs() > CLOCK_STEP_MS_MAX as u64 =>
            {
                return Err(ctx.error(&field, "a clock step may be at most one day either way"));
            }
            Fault::ClockDrift { ppm, .. } if !(DRIFT_PPM_MIN..=DRIFT_PPM_MAX).contains(ppm) => {
                return Err(ctx.error(
                    &field,
                    format!(
                        "{ppm} ppm is out of range; expected {DRIFT_PPM_MIN} to {DRIFT_PPM_MAX}"
                    ),
                ));
            }
            Fault::Restart(n) if f.permanently_down.contains(n) => {
                return Err(ctx.error(
                    &field,
                    format!(
                        "{n} is declared permanently down; remove the restart or the declaration"
                    ),
                ));
            }
            _ => {}
        }
    }
    if let Some(nm) = &f.nemesis {
        if nm.until_ms > time_ms {
            return Err(ctx.error(
                "nemesis.until_ms",
                format!("{} is after the end of the run ({time_ms})", nm.until_ms),
            ));
        }
        let intervals = [
            (
                "crash",
                nm.crash
                    .as_ref()
                    .map(|c| (c.interval_ms_mean, c.down_ms_min, c.down_ms_max)),
            ),
            (
                "pause",
                nm.pause
                    .as_ref()
                    .map(|c| (c.interval_ms_mean, c.duration_ms_min, c.duration_ms_max)),
            ),
            (
                "partition",
                nm.partition
                    .as_ref()
                    .map(|c| (c.interval_ms_mean, c.duration_ms_min, c.duration_ms_max)),
            ),
            (
                "clock",
                nm.clock.as_ref().map(|c| (c.interval_ms_mean, 0, 0)),
            ),
        ];
        for (name, spec) in intervals {
            let Some((mean, lo, hi)) = spec else { continue };
            if mean == 0 || mean > TIME_MS_MAX {
                return Err(ctx.error(
                    &format!("nemesis.{name}.interval_ms_mean"),
                    "expected a mean interval of 1 ms to one year",
                ));
            }
            check_range(ctx, &format!("nemesis.{name}"), lo, hi, "duration")?;
            if hi > TIME_MS_MAX {
                return Err(ctx.error(
                    &format!("nemesis.{name}"),
                    "durations may be at most one year",
                ));
            }
        }
        if let Some(c) = &nm.clock {
            if c.drift_ppm_max > DRIFT_PPM_MIN.unsigned_abs() {
                return Err(ctx.error(
                    "nemesis.clock.drift_ppm_max",
                    format!("expected at most {}", DRIFT_PPM_MIN.unsigned_abs()),
                ));
            }
            if c.step_ms_max > CLOCK_STEP_MS_MAX as u64 {
                return Err(ctx.error(
                    "nemesis.clock.step_ms_max",
                    "a clock step may be at most one day",
                ));
            }
        }
        if let Some(p) = &nm.partition {
            if p.shapes.is_empty() {
                return Err(ctx.error(
                    "nemesis.partition.shapes",
                    "list at least one shape, or remove the partition block",
                ));
            }
        }
        if let Some(d) = nm.network.as_ref().and_then(|n| n.long_delay.as_ref()) {
            check_long_delay(ctx, "nemesis.network.long_delay", d)?;
        }
        for (i, st) in nm.strikes.iter().enumerate() {
            let base = format!("nemesis.strikes[{i}]");
            if st.note.is_empty() {
                return Err(ctx.error(&format!("{base}.note"), "name an annotation key"));
            }
            if st.duration_ms_min > st.duration_ms_max || st.duration_ms_max > TIME_MS_MAX {
                return Err(ctx.error(
                    &format!("{base}.duration_ms_max"),
                    format!(
                        "expected duration_ms_min <= duration_ms_max <= one year, found {} and {}",
                        st.duration_ms_min, st.duration_ms_max
                    ),
                ));
            }
        }
        if let Some(sw) = &nm.swarm {
            let [lo, hi] = sw.interval_ms;
            if lo == 0 || lo > hi || hi > TIME_MS_MAX {
                return Err(ctx.error(
                    "nemesis.swarm.interval_ms",
                    format!(
                        "expected [low, high] with 1 <= low <= high <= one year, found [{lo}, {hi}]"
                    ),
                ));
            }
            if sw.duration_ms_max > TIME_MS_MAX {
                return Err(ctx.error(
                    "nemesis.swarm.duration_ms_max",
                    "durations may be at most one year",
                ));
            }
        }
    }
    if f.heal_at_ms.is_some() && f.faults.iter().any(|sf| sf.fault == Fault::Heal) {
        return Err(ctx.error(
            "heal_at_ms",
            "the fault schedule has its own `heal` entry; keep one of the two",
        ));
    }
    if let Some(h) = f.heal_at_ms {
        if h > time_ms {
            return Err(ctx.error(
                "heal_at_ms",
                format!("{h} is after the end of the run ({time_ms})"),
            ));
        }
    }
    if f.liveness_budget_ms.is_some_and(|b| b > TIME_MS_MAX) {
        return Err(ctx.error("liveness_budget_ms", "expected at most one year"));
    }
    for (i, e) in f.expect.iter().enumerate() {
        let base = format!("expect[{i}]");
        let is_within = e.kind == KindName::Within;
        if is_within && (e.within_ms.is_none() || e.after.is_none()) {
            return Err(ctx.error(&base, "a `within` expectation needs `within_ms` and `after` (crash, restart, pause, resume, partition, heal_links, clock, heal)"));
        }
        if !is_within && (e.within_ms.is_some() || e.after.is_some() || e.node.is_some()) {
            return Err(ctx.error(
                &base,
                "`within_ms`, `after` and `node` belong to `within` expectations only",
            ));
        }
        if e.stays && e.kind != KindName::Eventually {
            return Err(ctx.error(
                &format!("{base}.stays"),
                "`stays` belongs to `eventually` expectations only",
            ));
        }
        if e.budget_ms.is_some() && e.kind != KindName::Eventually {
            return Err(ctx.error(
                &format!("{base}.budget_ms"),
                "`budget_ms` belongs to `eventually` expectations only",
            ));
        }
        if let Some(n) = e.node {
            check_endpoint(
                ctx,
                &format!("{base}.node"),
                Endpoint::Node(n),
                nodes,
                clients,
            )?;
        }
        if e.within_ms.is_some_and(|w| w > TIME_MS_MAX)
            || e.budget_ms.is_some_and(|w| w > TIME_MS_MAX)
        {
            return Err(ctx.error(&base, "expected at most one year"));
        }
    }
    // Protocol parameters and check names need the protocol's types.
    struct Typed<'a, 'b> {
        f: &'a ScenarioFile,
        ctx: &'a Ctx<'b>,
    }
    impl ProtocolVisitor for Typed<'_, '_> {
        type Output = Result<(), InputError>;
        fn visit<P: Protocol>(self) -> Self::Output {
            typed_config::<P>(self.f, 0, self.ctx)?;
            // Every knob value a swarm may pick must make valid parameters on its own.
            let knobs = self.f.nemesis.as_ref().and_then(|n| n.swarm.as_ref());
            for (key, choices) in knobs.map(|s| &s.params).into_iter().flatten() {
                let field = format!("nemesis.swarm.params.{key}");
                if choices.is_empty() {
                    return Err(self.ctx.error(&field, "list at least one value"));
                }
                for (i, v) in choices.iter().enumerate() {
                    let mut params = match &self.f.protocol.params {
                        serde_json::Value::Object(m) => m.clone(),
                        _ => serde_json::Map::new(),
                    };
                    params.insert(key.clone(), v.clone());
                    let parsed: Result<P::Config, _> =
                        serde_json::from_value(serde_json::Value::Object(params));
                    if let Err(e) = parsed {
                        return Err(self.ctx.error(
                            &format!("{field}[{i}]"),
                            format!(
                                "not a valid protocol parameter here: {}",
                                strip_position(&e.to_string())
                            ),
                        ));
                    }
                }
            }
            Ok(())
        }
    }
    with_protocol(&f.protocol.name, Typed { f, ctx }).unwrap_or(Ok(()))
}

fn protocol_config<P: Protocol>(f: &ScenarioFile, ctx: &Ctx<'_>) -> Result<P::Config, InputError> {
    if f.protocol.params.is_null() {
        return Ok(P::Config::default());
    }
    serde_path_to_error::deserialize(&f.protocol.params).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "protocol.params".to_string()
        } else {
            format!("protocol.params.{path}")
        };
        ctx.error(&field, strip_position(&e.inner().to_string()))
    })
}

fn typed_config<P: Protocol>(
    f: &ScenarioFile,
    seed: u64,
    ctx: &Ctx<'_>,
) -> Result<SimConfig<P>, InputError> {
    let protocol = protocol_config::<P>(f, ctx)?;
    let defs = P::properties();
    if let Some(ExpectedOutcome::Fails(check)) = &f.outcome {
        let known = defs.iter().any(|d| d.name == check)
            || crate::check::BUILTIN_CHECKS.iter().any(|b| b.0 == check)
            || ENGINE_CHECKS.contains(&check.as_str());
        if !known {
            let mut names: Vec<&str> = defs.iter().map(|d| d.name).collect();
            names.extend(crate::check::BUILTIN_CHECKS.iter().map(|b| b.0));
            names.extend(ENGINE_CHECKS);
            return Err(ctx.error(
                "outcome.fails",
                format!(
                    "protocol {} has no check named {check:?}; it has: {}",
                    P::NAME,
                    names.join(", ")
                ),
            ));
        }
    }
    let mut expectations = Vec::new();
    for (i, e) in f.expect.iter().enumerate() {
        if !defs.iter().any(|d| d.name == e.check)
            && !crate::check::BUILTIN_CHECKS.iter().any(|b| b.0 == e.check)
        {
            let mut names: Vec<&str> = defs.iter().map(|d| d.name).collect();
            names.extend(crate::check::BUILTIN_CHECKS.iter().map(|b| b.0));
            return Err(ctx.error(
                &format!("expect[{i}].check"),
                format!(
                    "protocol {} has no check named {:?}; it has: {}",
                    P::NAME,
                    e.check,
                    names.join(", ")
                ),
            ));
        }
        let kind = match e.kind {
            KindName::Always => ExpectKind::Always,
            KindName::Sometimes => ExpectKind::Sometimes,
            KindName::Eventually => ExpectKind::Eventually {
                budget: e.budget_ms.or(f.liveness_budget_ms).map(Time::from_ms),
                stays: e.stays,
            },
            KindName::Within => ExpectKind::Within {
                after: e.after.unwrap_or(TriggerKind::Crash),
                node: e.node,
                within: Time::from_ms(e.within_ms.unwrap_or(0)),
            },
        };
        if e.at_least.is_some() && e.check != "client_ops_ok" {
            return Err(ctx.error(
                &format!("expect[{i}].at_least"),
                "`at_least` belongs to the client_ops_ok check only",
            ));
        }
        expectations.push(Expectation {
            check: e.check.clone(),
            kind,
            at_least: e.at_least,
        });
    }
    let net = &f.network;
    let base = LinkModel::default();
    let link = LinkModel {
        latency: net.latency.clone().unwrap_or(base.latency),
        loss: net.loss.unwrap_or(base.loss),
        duplicate: net.duplicate.unwrap_or(base.duplicate),
        long_delay: net.long_delay.clone().or(base.long_delay),
    };
    let mut links = Vec::new();
    for l in &net.links {
        let model = LinkModel {
            latency: l.latency.clone().unwrap_or_else(|| link.latency.clone()),
            loss: l.loss.unwrap_or(link.loss),
            duplicate: l.duplicate.unwrap_or(link.duplicate),
            long_delay: l.long_delay.clone().or_else(|| link.long_delay.clone()),
        };
        links.push((l.from, l.to, model.clone()));
        if l.both_ways {
            links.push((l.to, l.from, model));
        }
    }
    Ok(SimConfig {
        seed,
        nodes: f.nodes,
        protocol,
        link,
        links,
        clocks: f
            .clocks
            .iter()
            .map(|c| ClockInit {
                node: c.node,
                offset_ms: c.offset_ms,
                drift_ppm: c.drift_ppm,
            })
            .collect(),
        workload: f.workload.clone(),
        faults: f.faults.clone(),
        nemesis: f.nemesis.clone(),
        permanently_down: f.permanently_down.clone(),
        heal_at: f.heal_at_ms.map(Time::from_ms),
        time_limit: Time::from_ms(f.limits.time_ms),
        events_max: f.limits.events_max.unwrap_or(10_000_000),
        pending_max: f.limits.pending_max.unwrap_or(1_000_000) as usize,
        liveness_budget: f.liveness_budget_ms.map(Time::from_ms),
        expectations,
        checks: true,
        history_budget: f.limits.history_steps.unwrap_or(crate::lin::DEFAULT_BUDGET),
    })
}

impl Scenario {
    /// The typed configuration for protocol `P` with `seed`.
    pub fn config<P: Protocol>(&self, seed: u64) -> Result<SimConfig<P>, InputError> {
        let ctx = Ctx {
            source: &self.source,
            text: None,
        };
        if self.file.protocol.name != P::NAME {
            return Err(ctx.error(
                "protocol.name",
                format!(
                    "this scenario is for {}, not {}",
                    self.file.protocol.name,
                    P::NAME
                ),
            ));
        }
        typed_config::<P>(&self.file, seed, &ctx)
    }

    /// Runs this scenario with `seed`, streaming the trace to `sink` if given.
    /// This scenario as it runs under `seed`: a swarm nemesis replaced by what it draws for
    /// that seed (the kinds, rates, network settings, strikes and protocol knobs), so the result
    /// is an ordinary scenario that runs the same. Without a swarm, the scenario itself.
    pub fn for_seed(&self, seed: u64) -> Result<Scenario, InputError> {
        let Some(n) = &self.file.nemesis else {
            return Ok(self.clone());
        };
        let Some(spec) = &n.swarm else {
            return Ok(self.clone());
        };
        struct VocabularyOf;
        impl ProtocolVisitor for VocabularyOf {
            type Output = crate::protocol::Vocabulary;
            fn visit<P: Protocol>(self) -> Self::Output {
                P::vocabulary()
            }
        }
        let vocabulary = self.with_protocol(VocabularyOf);
        let draw = crate::faults::swarm(spec, n.until_ms, seed, &vocabulary);
        let mut json = self.json.clone();
        let obj = json.as_object_mut().expect("a scenario is an object");
        obj.insert("nemesis".into(), jv(&draw.nemesis));
        if !draw.params.is_empty() {
            let protocol = obj
                .get_mut("protocol")
                .and_then(|p| p.as_object_mut())
                .expect("a loaded scenario names its protocol in an object");
            let params = protocol
                .entry("params")
                .or_insert_with(|| serde_json::json!({}));
            if !params.is_object() {
                *params = serde_json::json!({}); // `null` parses as no params
            }
            let params = params.as_object_mut().expect("made an object above");
            for (k, v) in draw.params {
                params.insert(k, v);
            }
        }
        let text = serde_json::to_string_pretty(&json).expect("JSON values print");
        load(&self.source, &text, &[])
    }

    pub fn run(
        &self,
        seed: u64,
        sink: Option<Box<dyn TraceSink>>,
    ) -> Result<RunReport, InputError> {
        Ok(self.run_keeping(seed, sink, false)?.0)
    }

    /// Like [`Scenario::run`], and also returns the client history as the linearizability
    /// checker reads it (empty for protocols without a history model).
    pub fn run_with_history(
        &self,
        seed: u64,
        sink: Option<Box<dyn TraceSink>>,
    ) -> Result<(RunReport, Vec<crate::lin::Op>), InputError> {
        self.run_keeping(seed, sink, true)
    }

    fn run_keeping(
        &self,
        seed: u64,
        sink: Option<Box<dyn TraceSink>>,
        history: bool,
    ) -> Result<(RunReport, Vec<crate::lin::Op>), InputError> {
        struct RunTyped<'a> {
            scn: &'a Scenario,
            seed: u64,
            sink: Option<Box<dyn TraceSink>>,
            history: bool,
        }
        impl ProtocolVisitor for RunTyped<'_> {
            type Output = Result<(RunReport, Vec<crate::lin::Op>), InputError>;
            fn visit<P: Protocol>(self) -> Self::Output {
                let resolved = self.scn.for_seed(self.seed)?;
                let config = resolved.config::<P>(self.seed)?;
                let mut sim =
                    Simulation::<P>::new(config, self.sink).map_err(|message| InputError {
                        file: self.scn.source.clone(),
                        line: None,
                        column: None,
                        field: Some("expect".to_string()),
                        message,
                    })?;
                let report = sim.run();
                let ops = if self.history {
                    sim.history_ops()
                } else {
                    Vec::new()
                };
                Ok((report, ops))
            }
        }
        self.with_protocol(RunTyped {
            scn: self,
            seed,
            sink,
            history,
        })
    }

    /// Calls `visitor` with this scenario's protocol type.
    pub fn with_protocol<V: ProtocolVisitor>(&self, visitor: V) -> V::Output {
        with_protocol(&self.file.protocol.name, visitor).expect("validated: the protocol exists")
    }
}

/// A scenario part as JSON.
fn jv<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("scenario parts serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
  "schema": 1,
  "description": "test",
  "protocol": {"name": "ping"},
  "nodes": 3,
  "faults": [
    {"at_ms": 10, "crash": "n2"},
    {"at_ms": 20, "partition": [["n1"], ["n2", "n3"]]}
  ],
  "limits": {"time_ms": 1000}
}"#;

    #[test]
    fn locate_finds_nested_fields() {
        assert_eq!(locate(GOOD, "nodes"), Some((5, 12)));
        assert_eq!(locate(GOOD, "faults[1].partition"), Some((8, 32)));
        assert_eq!(locate(GOOD, "limits.time_ms"), Some((10, 25)));
        assert_eq!(locate(GOOD, "missing"), None);
    }

    #[test]
    fn good_scenario_loads() {
        let s = load("t.json", GOOD, &[]).unwrap();
        assert_eq!(s.file.nodes, 3);
        assert_eq!(s.file.faults.len(), 2);
    }

    fn err(text: &str) -> InputError {
        load("t.json", text, &[]).unwrap_err()
    }

    #[test]
    fn errors_name_line_column_and_field() {
        let e = err(&GOOD.replace("\"n2\"}", "\"n9\"}"));
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(7), Some("faults[0].crash")),
            "{e}"
        );
        assert!(e.message.contains("n9 does not exist"), "{e}");

        let e = err(&GOOD.replace("\"nodes\": 3", "\"nodes\": \"three\""));
        assert_eq!(e.field.as_deref(), Some("nodes"), "{e}");
        assert_eq!(e.line, Some(5), "{e}");

        let e = err(&GOOD.replace("\"nodes\"", "\"nodez\""));
        assert!(e.message.contains("unknown field `nodez`"), "{e}");

        let e = err(&GOOD.replace("[\"n2\", \"n3\"]", "[\"n1\", \"n3\"]"));
        assert!(e.message.contains("more than one group"), "{e}");

        let e = err(&GOOD.replace("\"at_ms\": 20", "\"at_ms\": 5"));
        assert!(e.message.contains("time order"), "{e}");

        let e = err(&GOOD.replace("\"ping\"", "\"pong\""));
        assert_eq!(e.field.as_deref(), Some("protocol.name"));

        let e = err(&GOOD.replace("\"nodes\": 3", "\"nodes\": 1000000"));
        assert!(e.message.contains("out of range"), "{e}");

        let e = err(&GOOD.replace("\"time_ms\": 1000", "\"time_ms\": 9000000000000"));
        assert!(e.message.contains("one year"), "{e}");

        let e = err(&GOOD
            .replace("\"limits\"", "\"heal_at_ms\": 50, \"limits\"")
            .replace(
                "{\"at_ms\": 10, \"crash\": \"n2\"}",
                "{\"at_ms\": 10, \"heal\": true}",
            ));
        assert!(e.message.contains("own `heal` entry"), "{e}");

        let e = err("{\"schema\": 1,");
        assert!(
            e.line.is_some() && e.message.contains("not valid JSON"),
            "{e}"
        );
    }

    #[test]
    fn strikes_and_swarm_knobs_are_validated() {
        let with = |nemesis: &str| {
            GOOD.replace(
                "\"limits\"",
                &format!("\"nemesis\": {nemesis},\n  \"limits\""),
            )
        };
        let strike = |min: u64, max: u64| {
            with(&format!(
                r#"{{"until_ms": 500, "strikes": [{{"note": "duty", "chance": 0.5, "fault": "crash", "duration_ms_min": {min}, "duration_ms_max": {max}}}]}}"#
            ))
        };
        load("t.json", &strike(10, 20), &[]).unwrap();
        let e = err(&strike(30, 20));
        assert_eq!(
            e.field.as_deref(),
            Some("nemesis.strikes[0].duration_ms_max"),
            "{e}"
        );
        let e = err(&strike(10, 20).replace("0.5", "1.5"));
        assert!(e.field.as_deref().unwrap_or("").contains("strikes"), "{e}");
        let e = err(&strike(10, 20).replace("\"fault\": \"crash\"", "\"fault\": \"explode\""));
        assert!(e.message.contains("unknown variant"), "{e}");
        // A knob must name a real parameter with a valid value, for every choice.
        let knobs = |params: &str| {
            with(&format!(
                r#"{{"until_ms": 500, "swarm": {{"params": {params}}}}}"#
            ))
        };
        load("t.json", &knobs(r#"{"interval_ms": [50, 100]}"#), &[]).unwrap();
        let e = err(&knobs(r#"{"interval_ms": [50, "fast"]}"#));
        assert_eq!(
            e.field.as_deref(),
            Some("nemesis.swarm.params.interval_ms[1]"),
            "{e}"
        );
        let e = err(&knobs(r#"{"no_such_knob": [1]}"#));
        assert!(e.message.contains("no_such_knob"), "{e}");
        let e = err(&knobs(r#"{"interval_ms": []}"#));
        assert!(e.message.contains("at least one"), "{e}");
    }

    #[test]
    fn overrides_and_presets() {
        let s = load(
            "t.json",
            GOOD,
            &[
                "network.preset=lossy".into(),
                "network.loss=0.25".into(),
                "nodes=4".into(),
            ],
        )
        .unwrap();
        assert_eq!(s.file.nodes, 4);
        assert_eq!(s.file.network.loss, Some(Ratio { ppm: 250_000 }));
        assert_eq!(
            s.file.network.duplicate,
            Some(Ratio { ppm: 20_000 }),
            "from the preset"
        );
        assert!(
            s.json["network"].get("preset").is_none(),
            "presets are resolved in the effective JSON"
        );
        let e = load("t.json", GOOD, &["network.preset=fast".into()]).unwrap_err();
        assert!(e.message.contains("unknown preset"), "{e}");
        let e = load("t.json", GOOD, &["nodes".into()]).unwrap_err();
        assert!(e.message.contains("KEY=VALUE"), "{e}");
    }
}
