//! Shrinking: from a failing seed to a small standalone scenario that fails the same check.
//! Generic over the protocol.
//!
//! While the nemesis is random, the fault generator itself is simplified first (a fault
//! kind, strike rule, node or client fewer, a rarer strike, less time), each change kept if
//! a nearby seed still fails the same check in no more events. Then the failing run is made
//! *explicit*: everything the random nemesis did becomes an
//! entry in `faults` at its exact microsecond, every strike becomes a one-shot `on` fault that
//! waits for the very annotation that set it off, and the nemesis block goes (only its
//! network degradation, which draws from the network's stream, stays). That scenario is run
//! and must fail the same check; from then on only explicit edits are tried, each one kept
//! only if the run still fails that check:
//!
//! 1. cut the run off just after the failure;
//! 2. drop faults: a fault together with its undo, then halves, quarters ... single entries
//!    (a pair or single entry is also tried under a few other seeds, since dropping a fault
//!    moves every later network draw anyway; the file keeps the seed that failed);
//! 3. fewer clients and fewer operations per client;
//! 4. fewer nodes (the highest-numbered one goes, with every fault that names it);
//! 5. a simpler network: no nemesis degradation, no loss, no duplicates, no long delays;
//! 6. shorter faults (their undo moves earlier) and later faults.
//!
//! The passes repeat until none helps or the run budget is spent. Every candidate goes
//! through the scenario loader, so what comes out is a valid scenario; the seed stays in it
//! (the network's own draws still use it), and nothing else random is left that matters.
//! Candidates are tried in a fixed order and the budget counts runs, so shrinking is itself
//! deterministic.
//!
//! A run stopped at a memory bound (class `memory_bound`) is not a failure here: a first run
//! that stops at one is refused ([`Error::MemoryBound`]), and a candidate that stops at one
//! counts as not failing. What shrinking keeps of a run's trace is the faults and, between
//! two faults, the last note of each node and key, so its memory follows the faults, not
//! the run's length.
//!
//! Must not touch files, the environment or stdout: the CLI does.

use crate::base::types::{Endpoint, NodeId};
use crate::faults::{Fault, ScheduledFault};
use crate::protocol::Protocol;
use crate::scenario::{Document, Scenario, load, ms_text};
use crate::sim::{RunReport, Verdict};
use crate::trace::TraceSink;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

/// How hard to try.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Most candidate runs.
    pub max_runs: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_runs: 10_000 }
    }
}

/// The sizes shrinking reduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Size {
    /// Entries in `faults` (the implied heal not counted).
    pub faults: usize,
    /// Client operations invoked.
    pub ops: u64,
    /// Nodes.
    pub nodes: u32,
    /// Events handled until the run stopped.
    pub events: u64,
    /// `limits.time_ms`.
    pub time_ms: u64,
}

/// What shrinking produced.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The failing check it kept failing.
    pub check: String,
    /// The check's message on the shrunk run.
    pub message: String,
    /// Before (the original run, random faults counted as they happened) and after.
    pub before: Size,
    /// After.
    pub after: Size,
    /// What each kept edit did, in order.
    pub steps: Vec<String>,
    /// Candidate runs made.
    pub runs: u32,
    /// The shrunk scenario, ready to write out.
    pub scenario: Value,
    /// Its run.
    pub report: RunReport,
}

/// Why shrinking could not start.
#[derive(Debug)]
pub enum Error {
    /// The scenario or a derived one is not valid.
    Input(crate::scenario::InputError),
    /// The run does not fail (`Pass`), or is inconclusive or aborted: nothing to shrink.
    NotFailing(String),
    /// The run stopped at a memory bound (class `memory_bound`): it says nothing about the
    /// protocol, so there is nothing to shrink; the message names the bound to raise.
    MemoryBound(String),
    /// The explicit form of the run did not fail the same way (it is attached, when there
    /// is one, for a look).
    NotExplicit(String, Option<Box<Value>>),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Input(e) => write!(f, "{e}"),
            Error::NotFailing(s) | Error::MemoryBound(s) | Error::NotExplicit(s, _) => {
                f.write_str(s)
            }
        }
    }
}

/// Keeps the trace's fault records, and of its note records only what
/// [`explicit`] reads: the last note of each (node, key) before each fault. A long run
/// annotates far more often than it faults, so memory stays proportional to the faults (which
/// `limits.faults_max` bounds), not to the run.
struct Keep(Rc<RefCell<Vec<Value>>>);

impl TraceSink for Keep {
    fn line(&mut self, line: &str) -> Result<(), String> {
        let fault = line.contains("\"ev\":\"fault\"");
        if !fault && !line.contains("\"ev\":\"note\"") {
            return Ok(());
        }
        let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let mut kept = self.0.borrow_mut();
        if !fault {
            // Notes since the last fault: a newer note of the same (node, key) replaces the
            // older one.
            let since = kept
                .iter()
                .rposition(|r| r["ev"] == "fault")
                .map_or(0, |i| i + 1);
            let same = |r: &Value| r["node"] == v["node"] && r["key"] == v["key"];
            if let Some(old) = kept[since..].iter_mut().find(|r| same(r)) {
                *old = v;
                return Ok(());
            }
        }
        kept.push(v);
        Ok(())
    }
}

/// The check a run failed. A run stopped at a memory bound did not fail: a candidate that
/// reaches one is not kept, and a first run that does is not shrunk.
fn failing_check(r: &RunReport) -> Option<(&str, &str)> {
    match &r.verdict {
        Verdict::Fail(f) if f.class.is_conclusive() => Some((f.check.as_str(), f.message.as_str())),
        _ => None,
    }
}

fn size(json: &Value, r: &RunReport) -> Size {
    Size {
        faults: json["faults"].as_array().map_or(0, Vec::len),
        ops: r.ops.invoked,
        nodes: json["nodes"].as_u64().unwrap_or(0) as u32,
        events: r.steps,
        time_ms: json["limits"]["time_ms"].as_u64().unwrap_or(0),
    }
}

/// The original run's size: random faults counted as they happened (ignored ones not).
fn size_before(scn: &Document, r: &RunReport, records: &[Value]) -> Size {
    let random = records
        .iter()
        .filter(|v| v["ev"] == "fault" && is_random(v) && !is_ignored(v))
        .count();
    let mut s = size(&scn.json, r);
    s.faults = scn.file.faults.len() + random;
    s
}

fn is_random(v: &Value) -> bool {
    v["origin"] == "nemesis" || v["origin"] == "strike"
}

fn is_ignored(v: &Value) -> bool {
    v["detail"]
        .as_str()
        .is_some_and(|d| d.starts_with("ignored"))
}

/// Shrinks the run of `scn` under `seed` (overrides already applied to `scn`).
pub fn shrink<P: Protocol>(
    scn: &Scenario<P>,
    seed: u64,
    options: Options,
) -> Result<Shrunk, Error> {
    let first_seed = seed;
    let resolved = scn.for_seed(seed).map_err(Error::Input)?;
    let records = Rc::new(RefCell::new(Vec::new()));
    let first = resolved
        .run(seed, Some(Box::new(Keep(records.clone()))))
        .map_err(Error::Input)?;
    if let Verdict::Fail(f) = &first.verdict {
        if !f.class.is_conclusive() {
            return Err(Error::MemoryBound(format!(
                "seed {seed} stopped at a memory bound, which says nothing about the protocol: nothing to shrink: {}",
                f.message
            )));
        }
    }
    let Some((check, _)) = failing_check(&first) else {
        return Err(Error::NotFailing(format!(
            "seed {seed} does not fail ({}): nothing to shrink",
            match &first.verdict {
                Verdict::Pass => "every check held".to_string(),
                Verdict::Inconclusive { reason } => format!("inconclusive: {reason}"),
                Verdict::Aborted { reason } => format!("aborted: {reason}"),
                Verdict::Fail(_) => unreachable!("a memory bound is answered above"),
            }
        )));
    };
    let check = check.to_string();
    let before = size_before(scn, &first, &records.borrow());
    let mut s = Shrinker::<P> {
        source: scn.source.clone(),
        seed,
        check,
        runs: 0,
        max_runs: options.max_runs,
        steps: Vec::new(),
        protocol: PhantomData,
    };
    // Phase 0: while faults are random, a simpler fault generator under another seed is
    // worth more than any edit of this one run (whose every later event hangs on the
    // network's draws so far).
    let (resolved, seed) = if resolved.file.nemesis.is_some() {
        let budget = options.max_runs / 4 * 3;
        let (json, seed) = s.simpler_generator(resolved.json.clone(), seed, first.steps, budget);
        let text = serde_json::to_string(&json).expect("JSON values print");
        (
            load::<P>(&scn.source, &text, &[]).map_err(Error::Input)?,
            seed,
        )
    } else {
        (resolved, seed)
    };
    // Written out explicitly, a run can differ when a fault lands on the very microsecond
    // of another event (the order of the two flips); then another failing seed of the same
    // generator is taken.
    let mut found = None;
    let mut last_explicit = None;
    for seed in seed..seed.saturating_add(GENERATOR_SEEDS) {
        let records = Rc::new(RefCell::new(Vec::new()));
        let r = resolved
            .run(seed, Some(Box::new(Keep(records.clone()))))
            .map_err(Error::Input)?;
        s.runs += 1;
        if failing_check(&r).is_none_or(|(c, _)| c != s.check) {
            continue;
        }
        s.seed = seed;
        let explicit = explicit(&resolved, seed, &records.borrow(), &s.check)?;
        if let Some(report) = s.test(&explicit) {
            found = Some((explicit, report));
            break;
        }
        last_explicit = Some(explicit);
        if resolved.file.nemesis.is_none() {
            break; // nothing random to write out: another seed is another network
        }
    }
    let Some((explicit, report)) = found else {
        return Err(Error::NotExplicit(
            format!(
                "the run written out with explicit faults no longer fails {}; shrinking needs that first step (please report it with the replay line)",
                s.check
            ),
            last_explicit.map(Box::new),
        ));
    };
    let (mut json, report) = s.minimize(explicit, report);
    json["description"] = json!(format!(
        "Shrunk by `faultline shrink` from {} seed {first_seed}: fails {}. Edit this text to say what the run shows.",
        scn.source, s.check
    ));
    let message = failing_check(&report)
        .map(|(_, m)| m.to_string())
        .unwrap_or_default();
    Ok(Shrunk {
        after: size(&json, &report),
        before,
        check: s.check,
        message,
        steps: s.steps,
        runs: s.runs,
        scenario: json,
        report,
    })
}

/// The resolved scenario with the nemesis's doings written out as explicit faults.
fn explicit<P: Protocol>(
    resolved: &Scenario<P>,
    seed: u64,
    records: &[Value],
    check: &str,
) -> Result<Value, Error> {
    let mut json = resolved.json.clone();
    let f = &resolved.file;
    let strikes = f
        .nemesis
        .as_ref()
        .map(|n| n.strikes.clone())
        .unwrap_or_default();
    let heal_us = records
        .iter()
        .find(|v| v["ev"] == "fault" && v["origin"] == "heal" && v["fault"] == "heal")
        .and_then(|v| v["t"].as_u64());
    let mut faults: Vec<Value> = json["faults"].as_array().cloned().unwrap_or_default();
    // The last note of each (node, key), to find what set a strike off.
    let mut last_note: Vec<(String, String, u64, Value)> = Vec::new();
    for v in records {
        if v["ev"] == "note" {
            let (node, key) = (
                v["node"].as_str().unwrap_or(""),
                v["key"].as_str().unwrap_or(""),
            );
            let t = v["t"].as_u64().unwrap_or(0);
            match last_note
                .iter_mut()
                .find(|(n, k, _, _)| n == node && k == key)
            {
                Some(e) => (e.2, e.3) = (t, v["value"].clone()),
                None => last_note.push((node.into(), key.into(), t, v["value"].clone())),
            }
            continue;
        }
        if !is_random(v) || is_ignored(v) {
            continue;
        }
        let t = v["t"].as_u64().unwrap_or(0);
        if heal_us.is_some_and(|h| t >= h) {
            continue; // undoing something the heal already undid
        }
        // Faults without an argument are written as a bare word in traces.
        let mut entry = match &v["fault"] {
            Value::Object(m) => m.clone(),
            Value::String(word) => {
                let mut m = serde_json::Map::new();
                m.insert(word.clone(), json!(true));
                m
            }
            _ => continue,
        };
        // `at_ms` first, as scenarios are written.
        let mut timed = serde_json::Map::new();
        timed.insert("at_ms".into(), at_ms(t));
        timed.append(&mut entry);
        let mut entry = timed;
        if v["origin"] == "strike" {
            let node = entry
                .values()
                .find_map(|x| x.as_str().filter(|s| s.starts_with('n')))
                .unwrap_or("")
                .to_string();
            let on = strikes.iter().find_map(|s| {
                let (_, _, nt, value) = last_note
                    .iter()
                    .find(|(n, k, _, _)| *n == node && *k == s.note)?;
                let fits = *nt == t && s.value.as_ref().is_none_or(|want| want == value);
                fits.then(|| json!({"node": node, "note": s.note, "value": value}))
            });
            let Some(on) = on else {
                return Err(Error::NotExplicit(
                    format!(
                        "could not find the annotation behind the strike at {} on {node}",
                        ms_text(t)
                    ),
                    None,
                ));
            };
            let fault = std::mem::take(&mut entry);
            entry.insert("at_ms".into(), at_ms(t));
            entry.insert("on".into(), on);
            entry.extend(fault.into_iter().filter(|(k, _)| k != "at_ms"));
        }
        faults.push(Value::Object(entry));
    }
    // Time order for the timed entries (stable: same-time entries keep their order).
    faults.sort_by_key(|e| if e.get("on").is_some() { 0 } else { us_of(e) });
    let obj = json.as_object_mut().expect("a scenario is an object");
    let own_heal = f.faults.iter().any(|sf| sf.fault == Fault::Heal);
    if !own_heal && f.heal_at_ms.is_none() {
        // The heal the original implied (after its last fault and its nemesis), which the
        // written-out faults would otherwise move.
        let implied = f
            .faults
            .iter()
            .map(|sf| sf.last_us().div_ceil(1_000))
            .chain(f.nemesis.as_ref().map(|n| n.until_ms))
            .max()
            .unwrap_or(0);
        let h = heal_us.map_or(implied, |h| h.div_ceil(1_000));
        obj.insert("heal_at_ms".into(), json!(h));
    }
    match f.nemesis.as_ref().and_then(|n| n.network.clone()) {
        Some(net) => {
            let until = f.nemesis.as_ref().map_or(0, |n| n.until_ms);
            obj.insert("nemesis".into(), json!({"until_ms": until, "network": net}));
        }
        None => {
            obj.remove("nemesis");
        }
    }
    obj.insert("faults".into(), Value::Array(faults));
    obj.insert("seed".into(), json!(seed));
    obj.insert(
        "description".into(),
        json!(format!(
            "Shrunk by `faultline shrink` from {} (seed {seed}): fails {check}. Edit this text to say what the run shows.",
            resolved.source
        )),
    );
    Ok(json)
}

fn at_ms(us: u64) -> Value {
    if us % 1_000 == 0 {
        json!(us / 1_000)
    } else {
        json!(us as f64 / 1_000.0)
    }
}

fn us_of(entry: &Value) -> u64 {
    entry
        .get("at_ms")
        .and_then(|v| match v {
            Value::Number(n) => crate::faults::ms_to_us(n).ok(),
            _ => None,
        })
        .unwrap_or(0)
}

struct Shrinker<P> {
    source: String,
    seed: u64,
    check: String,
    runs: u32,
    max_runs: u32,
    steps: Vec<String>,
    protocol: PhantomData<fn() -> P>,
}

/// The scenario's `faults` list.
fn fault_list(cur: &Value) -> Vec<Value> {
    cur["faults"].as_array().cloned().unwrap_or_default()
}

/// The scenario with `faults` as its list.
fn with_fault_list(cur: &Value, faults: Vec<Value>) -> Value {
    let mut c = cur.clone();
    c["faults"] = Value::Array(faults);
    c
}

/// Seeds a simpler generator is tried under before it counts as not failing. Some failures
/// (a Figure 8 chain) turn up once in several hundred seeds.
const GENERATOR_SEEDS: u64 = 600;

/// Other seeds an explicit schedule with one fault (or pair) fewer is tried under.
const RESEEDS: u64 = 24;

impl<P: Protocol> Shrinker<P> {
    /// The first seed of `seed ..` (at most [`GENERATOR_SEEDS`]) under which `json` fails the
    /// target check in at most `steps_max` events, with the events it took.
    fn failing_seed(
        &mut self,
        json: &Value,
        seed: u64,
        steps_max: u64,
        budget_end: u32,
    ) -> Option<(u64, u64)> {
        // A run that goes past `steps_max` events cannot count: the event budget stops it
        // there instead of running it to its end.
        let mut bounded = json.clone();
        bounded["limits"]["events_max"] = json!(steps_max.max(1));
        let text = serde_json::to_string(&bounded).ok()?;
        let scn = load::<P>(&self.source, &text, &[]).ok()?;
        for s in seed..seed.saturating_add(GENERATOR_SEEDS) {
            if self.runs >= budget_end {
                return None;
            }
            self.runs += 1;
            let r = scn.run(s, None).ok()?;
            if r.steps <= steps_max && failing_check(&r).is_some_and(|(c, _)| c == self.check) {
                return Some((s, r.steps));
            }
        }
        None
    }

    /// Removes random fault kinds, strike rules, nodes, clients and time while some seed
    /// still fails the target check.
    fn simpler_generator(
        &mut self,
        mut cur: Value,
        mut seed: u64,
        mut steps: u64,
        budget: u32,
    ) -> (Value, u64) {
        let end = self.runs.saturating_add(budget);
        loop {
            let mut candidates: Vec<(String, Value)> = Vec::new();
            for kind in ["crash", "pause", "partition", "clock", "network"] {
                if !cur["nemesis"][kind].is_null() {
                    let mut c = cur.clone();
                    c["nemesis"].as_object_mut().expect("object").remove(kind);
                    candidates.push((format!("no random {kind} faults"), c));
                }
            }
            let rules = cur["nemesis"]["strikes"].as_array().map_or(0, Vec::len);
            for i in 0..rules {
                let mut c = cur.clone();
                let list = c["nemesis"]["strikes"].as_array_mut().expect("list");
                let rule = list.remove(i);
                let what = format!(
                    "no {} strikes on {}{}",
                    rule["fault"].as_str().unwrap_or("?"),
                    rule["note"].as_str().unwrap_or("?"),
                    if rule["value"].is_null() {
                        String::new()
                    } else {
                        format!(" = {}", rule["value"])
                    }
                );
                candidates.push((what.clone(), c));
                // Rarer strikes: fewer faults in the explicit run.
                let chance = cur["nemesis"]["strikes"][i]["chance"]
                    .as_f64()
                    .unwrap_or(0.0);
                if chance >= 0.02 {
                    let half = (chance * 500.0).round() / 1000.0;
                    let mut c = cur.clone();
                    c["nemesis"]["strikes"][i]["chance"] = json!(half);
                    let rule = what.trim_start_matches("no ");
                    candidates.push((format!("{rule}: chance {chance} -> {half}"), c));
                }
            }
            let n = cur["nodes"].as_u64().unwrap_or(0);
            if n > 1 {
                if let Some(c) = without_node(&cur, NodeId(n as u32 - 1)) {
                    candidates.push((format!("nodes {n} -> {}", n - 1), c));
                }
            }
            let clients = cur["workload"]["clients"].as_u64().unwrap_or(0);
            if clients > 1 {
                let mut c = cur.clone();
                c["workload"]["clients"] = json!(clients - 1);
                candidates.push((format!("clients {clients} -> {}", clients - 1), c));
            }
            let until = cur["nemesis"]["until_ms"].as_u64().unwrap_or(0);
            if until >= 200 {
                let mut c = cur.clone();
                c["nemesis"]["until_ms"] = json!(until / 2);
                candidates.push((
                    format!("random faults until {} ms, not {until}", until / 2),
                    c,
                ));
            }
            // Last, the same generator under other seeds, for a shorter failing run.
            candidates.push(("a shorter failing run".to_string(), cur.clone()));
            let mut changed = false;
            for (what, c) in candidates {
                if self.runs >= end {
                    return (cur, seed);
                }
                let same = c == cur;
                // A simpler generator may take as long; the same one must be quicker.
                let limit = if same { steps.saturating_sub(1) } else { steps };
                let from = if same { seed + 1 } else { seed };
                if let Some((s, st)) = self.failing_seed(&c, from, limit, end) {
                    steps = st;
                    self.steps.push(if s == seed {
                        what
                    } else {
                        format!("{what} (seed {s})")
                    });
                    cur = c;
                    seed = s;
                    changed = true;
                    break;
                }
            }
            if !changed {
                return (cur, seed);
            }
        }
    }

    /// Runs a candidate; its report if it is valid and fails the target check.
    fn test(&mut self, json: &Value) -> Option<RunReport> {
        if self.runs >= self.max_runs {
            return None;
        }
        self.runs += 1;
        let text = serde_json::to_string(json).ok()?;
        let scn = load::<P>(&self.source, &text, &[]).ok()?;
        let report = scn.run(self.seed, None).ok()?;
        (failing_check(&report)?.0 == self.check).then_some(report)
    }

    /// Like [`Self::attempt`], but a candidate that no longer fails under the current seed
    /// is also tried under the next [`RESEEDS`] seeds. Dropping a fault moves every later
    /// network draw, so the same schedule under another seed is as close to the old run as
    /// the old seed is; reactive (`on`) faults follow the run wherever it goes.
    fn attempt_reseeding(
        &mut self,
        cur: &mut Value,
        report: &mut RunReport,
        candidate: Value,
        step: impl FnOnce() -> String,
    ) -> bool {
        self.attempt_seeds(cur, report, candidate, RESEEDS, step)
    }

    /// Tries `candidate` under the current seed and the `more` after it; keeps it (with the
    /// seed that failed, and says so) if one still fails the target check.
    fn attempt_seeds(
        &mut self,
        cur: &mut Value,
        report: &mut RunReport,
        candidate: Value,
        more: u64,
        step: impl FnOnce() -> String,
    ) -> bool {
        if candidate == *cur {
            return false;
        }
        if self.out_of_runs() {
            return false;
        }
        let Some(scn) = serde_json::to_string(&candidate)
            .ok()
            .and_then(|t| load::<P>(&self.source, &t, &[]).ok())
        else {
            self.runs += 1; // an invalid candidate costs a run, as if it had been tried
            return false;
        };
        for s in self.seed..=self.seed.saturating_add(more) {
            if self.out_of_runs() {
                return false;
            }
            self.runs += 1;
            let Ok(r) = scn.run(s, None) else {
                return false;
            };
            if failing_check(&r).is_some_and(|(c, _)| c == self.check) {
                let what = step();
                self.steps.push(if s == self.seed {
                    what
                } else {
                    format!("{what} (seed {s})")
                });
                self.seed = s;
                *cur = candidate;
                cur["seed"] = json!(s);
                *report = r;
                return true;
            }
        }
        false
    }

    fn out_of_runs(&self) -> bool {
        self.runs >= self.max_runs
    }

    /// Tries `candidate` under the current seed; keeps it (and says so) if it still fails.
    fn attempt(
        &mut self,
        cur: &mut Value,
        report: &mut RunReport,
        candidate: Value,
        step: impl FnOnce() -> String,
    ) -> bool {
        self.attempt_seeds(cur, report, candidate, 0, step)
    }

    fn minimize(&mut self, mut cur: Value, mut report: RunReport) -> (Value, RunReport) {
        loop {
            let mut changed = false;
            changed |= self.cut_time(&mut cur, &mut report);
            changed |= self.drop_steps(&mut cur, &mut report);
            changed |= self.drop_faults(&mut cur, &mut report);
            changed |= self.fewer_clients(&mut cur, &mut report);
            changed |= self.fewer_nodes(&mut cur, &mut report);
            changed |= self.simpler_network(&mut cur, &mut report);
            changed |= self.shorter_faults(&mut cur, &mut report);
            if !changed || self.out_of_runs() {
                return (cur, report);
            }
        }
    }

    /// Ends the run just after the failure (and drops what lies beyond).
    fn cut_time(&mut self, cur: &mut Value, report: &mut RunReport) -> bool {
        let Verdict::Fail(f) = &report.verdict else {
            return false;
        };
        let old = cur["limits"]["time_ms"].as_u64().unwrap_or(0);
        let mut end = f.time.0.div_ceil(1_000) + 1;
        if end >= old {
            // Found at the end of the run (a history or liveness check): try half as long.
            end = old / 2;
            if end == 0 {
                return false;
            }
        }
        let mut c = cur.clone();
        c["limits"]["time_ms"] = json!(end);
        if let Some(h) = c["heal_at_ms"].as_u64() {
            if h > end {
                c["heal_at_ms"] = json!(end);
            }
        }
        if let Some(u) = c["nemesis"]["until_ms"].as_u64() {
            if u > end {
                c["nemesis"]["until_ms"] = json!(end);
            }
        }
        if let Some(list) = c.get_mut("faults").and_then(Value::as_array_mut) {
            list.retain(|e| us_of(e) <= end * 1_000);
        }
        if c["workload"]["stop_ms"].as_u64().is_some_and(|s| s > end) {
            c["workload"]["stop_ms"] = json!(end);
        }
        self.attempt(cur, report, c, || format!("run length {old} -> {end} ms"))
    }

    /// A scripted scenario (an explorer's counterexample, or one written by hand): drops
    /// steps, in chunks halving down to single steps, while the same check still fails (a
    /// script keeps at least one). A candidate whose later steps can no longer be taken stops
    /// with a reason and is refused like any run that does not fail.
    fn drop_steps(&mut self, cur: &mut Value, report: &mut RunReport) -> bool {
        if cur["driver"] != "script" {
            return false;
        }
        let steps = |v: &Value| v["steps"].as_array().cloned().unwrap_or_default();
        let with = |v: &Value, kept: Vec<Value>| {
            let mut c = v.clone();
            c["steps"] = Value::Array(kept);
            c
        };
        let what = |_: &[Value], start: usize, end: usize| {
            if end - start == 1 {
                format!("step {}", start + 1)
            } else {
                format!("steps {}..{}", start + 1, end)
            }
        };
        self.drop_chunks(cur, report, steps, with, what, 1, false)
    }

    /// Drops entries of the list `list` reads from the scenario (`with` writes one back), in
    /// chunks halving down to single entries, while the same check still fails; never below
    /// `keep` entries. `what` names a chunk for the steps printed; with `reseed`, a single
    /// entry's candidate may try other seeds.
    #[allow(clippy::too_many_arguments)]
    fn drop_chunks(
        &mut self,
        cur: &mut Value,
        report: &mut RunReport,
        list: impl Fn(&Value) -> Vec<Value>,
        with: impl Fn(&Value, Vec<Value>) -> Value,
        what: impl Fn(&[Value], usize, usize) -> String,
        keep: usize,
        reseed: bool,
    ) -> bool {
        let mut changed = false;
        let mut chunk = list(cur).len().div_ceil(2).max(1);
        loop {
            let mut start = 0;
            while start < list(cur).len() && !self.out_of_runs() {
                let entries = list(cur);
                let end = (start + chunk).min(entries.len());
                if entries.len() - (end - start) < keep {
                    break;
                }
                let kept: Vec<Value> = entries[..start]
                    .iter()
                    .chain(&entries[end..])
                    .cloned()
                    .collect();
                let what = format!("dropped {}", what(&entries, start, end));
                let c = with(cur, kept);
                let kept = if reseed && end - start == 1 {
                    self.attempt_reseeding(cur, report, c, || what)
                } else {
                    self.attempt(cur, report, c, || what)
                };
                if kept {
                    changed = true;
                } else {
                    start = end;
                }
            }
            if chunk == 1 || self.out_of_runs() {
                return changed;
            }
            chunk = chunk.div_ceil(2);
        }
    }

    fn drop_faults(&mut self, cur: &mut Value, report: &mut RunReport) -> bool {
        let mut changed = false;
        // A fault and its undo together first.
        let mut i = 0;
        while i < fault_list(cur).len() && !self.out_of_runs() {
            let list = fault_list(cur);
            if let Some(j) = undo_of(&list, i) {
                let kept: Vec<Value> = list
                    .iter()
                    .enumerate()
                    .filter(|&(k, _)| k != i && k != j)
                    .map(|(_, e)| e.clone())
                    .collect();
                let what = describe(&list[i]);
                let c = with_fault_list(cur, kept);
                if self.attempt_reseeding(cur, report, c, || format!("dropped {what} and its undo"))
                {
                    changed = true;
                    continue;
                }
            }
            i += 1;
        }
        // Then chunks, halving down to single entries.
        let what = |list: &[Value], start: usize, end: usize| {
            if end - start == 1 {
                describe(&list[start])
            } else {
                format!("{} faults", end - start)
            }
        };
        changed | self.drop_chunks(cur, report, fault_list, with_fault_list, what, 0, true)
    }

    fn fewer_clients(&mut self, cur: &mut Value, report: &mut RunReport) -> bool {
        let mut changed = false;
        let clients = cur["workload"]["clients"].as_u64().unwrap_or(0);
        for want in 0..clients {
            let mut c = cur.clone();
            c["workload"]["clients"] = json!(want);
            if self.attempt(cur, report, c, || format!("clients {clients} -> {want}")) {
                changed = true;
                break;
            }
        }
        // Fewer operations per client: at most what the busiest one started, then halves.
        let clients = cur["workload"]["clients"].as_u64().unwrap_or(0);
        if clients == 0 {
            return changed;
        }
        let mut most = report.ops.invoked;
        loop {
            let old = cur["workload"]["ops_per_client_max"].as_u64().unwrap_or(0);
            let mut tried = false;
            for want in [1, most / 2, most] {
                if want == 0 || (old != 0 && want >= old) {
                    continue;
                }
                tried = true;
                let mut c = cur.clone();
                c["workload"]["ops_per_client_max"] = json!(want);
                let from = if old == 0 {
                    "no limit".to_string()
                } else {
                    old.to_string()
                };
                if self.attempt(cur, report, c, || {
                    format!("operations per client {from} -> {want}")
                }) {
                    changed = true;
                    break;
                }
            }
            let now = cur["workload"]["ops_per_client_max"].as_u64().unwrap_or(0);
            if !tried || now == old || self.out_of_runs() {
                return changed;
            }
            most = now;
        }
    }

    fn fewer_nodes(&mut self, cur: &mut Value, report: &mut RunReport) -> bool {
        let mut changed = false;
        loop {
            let n = cur["nodes"].as_u64().unwrap_or(0) as u32;
            if n <= 1 || self.out_of_runs() {
                return changed;
            }
            let Some(c) = without_node(cur, NodeId(n - 1)) else {
                return changed;
            };
            if !self.attempt(cur, report, c, || format!("nodes {n} -> {}", n - 1)) {
                return changed;
            }
            changed = true;
        }
    }

    fn simpler_network(&mut self, cur: &mut Value, report: &mut RunReport) -> bool {
        let mut changed = false;
        if cur.get("nemesis").is_some() {
            let mut c = cur.clone();
            c.as_object_mut().expect("object").remove("nemesis");
            changed |= self.attempt(cur, report, c, || {
                "no nemesis loss, duplicates or delays".to_string()
            });
        }
        for key in ["loss", "duplicate", "long_delay"] {
            let present =
                |v: &Value| !v["network"][key].is_null() && v["network"][key] != json!(0.0);
            if present(cur) {
                let mut c = cur.clone();
                if let Some(o) = c["network"].as_object_mut() {
                    o.remove(key);
                }
                changed |= self.attempt(cur, report, c, || format!("network: no {key}"));
            }
            if cur["nemesis"]["network"][key].is_object()
                || cur["nemesis"]["network"][key]
                    .as_f64()
                    .is_some_and(|x| x > 0.0)
            {
                let mut c = cur.clone();
                if let Some(o) = c["nemesis"]["network"].as_object_mut() {
                    o.remove(key);
                }
                changed |= self.attempt(cur, report, c, || format!("nemesis network: no {key}"));
            }
        }
        changed
    }

    /// Moves each undo earlier (shorter faults), then each timed fault later.
    fn shorter_faults(&mut self, cur: &mut Value, report: &mut RunReport) -> bool {
        let mut changed = false;
        let mut i = 0;
        while i < fault_list(cur).len() && !self.out_of_runs() {
            let list = fault_list(cur);
            if list[i].get("on").is_none() {
                if let Some(j) = undo_of(&list, i) {
                    let (a, b) = (us_of(&list[i]), us_of(&list[j]));
                    // Shorter: the undo halfway closer; later: the fault halfway closer.
                    let mid = a + (b - a) / 2;
                    let mid_ms = mid.div_ceil(1_000) * 1_000;
                    if mid_ms < b && mid_ms > a {
                        let mut l = list.clone();
                        l[j]["at_ms"] = json!(mid_ms / 1_000);
                        let what = describe(&list[i]);
                        let c = with_fault_list(cur, sorted(l));
                        if self.attempt(cur, report, c, || {
                            format!(
                                "{what} lasts {} ms instead of {}",
                                ms_text(mid_ms - a),
                                ms_text(b - a)
                            )
                        }) {
                            changed = true;
                            continue;
                        }
                    }
                    let later = (a + (b - a) / 2) / 1_000 * 1_000;
                    if later > a && later < b {
                        let mut l = list.clone();
                        l[i]["at_ms"] = json!(later / 1_000);
                        let what = describe(&list[i]);
                        let c = with_fault_list(cur, sorted(l));
                        if self.attempt(cur, report, c, || {
                            format!(
                                "{what} starts at {} ms instead of {}",
                                ms_text(later),
                                ms_text(a)
                            )
                        }) {
                            changed = true;
                            continue;
                        }
                    }
                }
            }
            i += 1;
        }
        changed
    }
}

fn sorted(mut list: Vec<Value>) -> Vec<Value> {
    list.sort_by_key(|e| if e.get("on").is_some() { 0 } else { us_of(e) });
    list
}

fn parse(entry: &Value) -> Option<ScheduledFault> {
    serde_json::from_value(entry.clone()).ok()
}

fn describe(entry: &Value) -> String {
    let Some(sf) = parse(entry) else {
        return "a fault".to_string();
    };
    let what = match &sf.fault {
        Fault::Crash(n) => format!("crash {n}"),
        Fault::Restart(n) => format!("restart {n}"),
        Fault::Pause(n) => format!("pause {n}"),
        Fault::Resume(n) => format!("resume {n}"),
        Fault::Isolate(e) => format!("isolate {e}"),
        Fault::Partition(_) => "a partition".to_string(),
        Fault::Bridge { via, .. } => format!("a bridge via {via}"),
        Fault::Cut { from, to } => format!("cut {from}->{to}"),
        Fault::Repair { from, to } => format!("repair {from}->{to}"),
        Fault::HealLinks => "heal_links".to_string(),
        Fault::ClockStep { node, .. } => format!("a clock step on {node}"),
        Fault::ClockDrift { node, .. } => format!("a clock drift on {node}"),
        Fault::Heal => "the heal".to_string(),
        Fault::Message(m) => format!(
            "{} of {} #{} {}->{}",
            m.twist.key(),
            m.kind,
            m.nth,
            m.from,
            m.to
        ),
        Fault::Disk(d) => format!("disk {} on {}", d.fault.word(), d.node),
        Fault::Set(s) => format!(
            "set {}",
            s.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    };
    if matches!(sf.fault, Fault::Message(_)) {
        return what;
    }
    if sf.on.is_some() {
        format!("{what} (on a note)")
    } else {
        format!("{what} at {} ms", ms_text(sf.at_us))
    }
}

/// The entry that undoes entry `i`: the next restart (resume) of a crashed (paused) node, the
/// next `heal_links` after a link fault.
fn undo_of(list: &[Value], i: usize) -> Option<usize> {
    let f = parse(&list[i])?.fault;
    let undoes = |g: &Fault| match (&f, g) {
        (Fault::Crash(a), Fault::Restart(b)) | (Fault::Pause(a), Fault::Resume(b)) => a == b,
        (
            Fault::Partition(_) | Fault::Bridge { .. } | Fault::Isolate(_) | Fault::Cut { .. },
            Fault::HealLinks,
        ) => true,
        (Fault::Cut { from, to }, Fault::Repair { from: f2, to: t2 }) => from == f2 && to == t2,
        _ => false,
    };
    (i + 1..list.len()).find(|&j| {
        list[j].get("on").is_none() && parse(&list[j]).is_some_and(|sf| undoes(&sf.fault))
    })
}

/// The scenario without node `gone` (the highest-numbered one): faults about it dropped, it
/// removed from partitions, links, clocks and expectations. `None` if it cannot be removed.
fn without_node(cur: &Value, gone: NodeId) -> Option<Value> {
    let mut c = cur.clone();
    c["nodes"] = json!(gone.0);
    let name = gone.to_string();
    let strip = |groups: &[Vec<Endpoint>]| -> Vec<Vec<Endpoint>> {
        groups
            .iter()
            .map(|g| {
                g.iter()
                    .copied()
                    .filter(|e| *e != Endpoint::Node(gone))
                    .collect::<Vec<_>>()
            })
            .filter(|g| !g.is_empty())
            .collect()
    };
    let mut faults = Vec::new();
    for e in fault_list(&c) {
        let sf = parse(&e)?;
        if sf.on.as_ref().and_then(|o| o.node) == Some(gone) {
            continue;
        }
        let fault = match sf.fault {
            Fault::Partition(groups) => {
                let g = strip(&groups);
                if g.len() < 2 {
                    continue;
                }
                Fault::Partition(g)
            }
            Fault::Bridge { groups, via } if via != gone => {
                let g = strip(&groups);
                if g.len() < 2 {
                    continue;
                }
                Fault::Bridge { groups: g, via }
            }
            Fault::Cut { from, to } | Fault::Repair { from, to }
                if from == Endpoint::Node(gone) || to == Endpoint::Node(gone) =>
            {
                continue;
            }
            f if f.node() == Some(gone) => continue,
            f => f,
        };
        let mut out = serde_json::to_value(ScheduledFault { fault, ..sf }).ok()?;
        if let Some(at) = e.get("at_ms") {
            out["at_ms"] = at.clone(); // keep the exact text of the time
        }
        faults.push(out);
    }
    c["faults"] = Value::Array(faults);
    let mentions = |v: &Value| v.to_string().contains(&format!("\"{name}\""));
    // `get_mut`, not `c[key]`: indexing a missing key for writing would insert a null,
    // which the loader rejects (that once kept every candidate with fewer nodes invalid).
    for key in ["clocks", "permanently_down", "expect"] {
        if let Some(list) = c.get_mut(key).and_then(Value::as_array_mut) {
            list.retain(|v| !mentions(v));
        }
    }
    if let Some(list) = c
        .get_mut("network")
        .and_then(|n| n.get_mut("links"))
        .and_then(Value::as_array_mut)
    {
        list.retain(|v| !mentions(v));
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinking_keeps_the_faults_and_only_the_last_note_before_each() {
        let kept = Rc::new(RefCell::new(Vec::new()));
        let mut keep = Keep(kept.clone());
        let note = |node: &str, key: &str, v: u64| {
            format!(r#"{{"ev":"note","t":{v},"node":"{node}","key":"{key}","value":{v}}}"#)
        };
        for v in 0..1_000 {
            keep.line(&note("n1", "mood", v)).unwrap();
            keep.line(&note("n2", "mood", v)).unwrap();
            keep.line(r#"{"ev":"send","t":1}"#).unwrap();
        }
        keep.line(r#"{"ev":"fault","t":1000,"origin":"strike","fault":{"crash":"n1"}}"#)
            .unwrap();
        keep.line(&note("n1", "mood", 2_000)).unwrap();
        let kept = kept.borrow();
        let shown: Vec<(String, u64)> = kept
            .iter()
            .map(|v| {
                (
                    v["ev"].as_str().unwrap().to_string(),
                    v["t"].as_u64().unwrap(),
                )
            })
            .collect();
        let want = [
            ("note", 999),
            ("note", 999),
            ("fault", 1000),
            ("note", 2000),
        ];
        let want: Vec<(String, u64)> = want.iter().map(|(e, t)| (e.to_string(), *t)).collect();
        assert_eq!(shown, want);
        assert_eq!(
            (kept[0]["node"].as_str(), kept[1]["node"].as_str()),
            (Some("n1"), Some("n2"))
        );
    }
}
