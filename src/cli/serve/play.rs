//! What the playground does with a request, apart from HTTP: read a scenario (a bundled one
//! by name, or a file under the served directory), run it within the budgets, keep the run,
//! add a what-if fault to a kept run's scenario, and find where two runs depart.
//!
//! Every scenario the page asks for is built as JSON and loaded through the same path as a
//! scenario file (`Document::load`, then the protocol's own checks), so the page gets the
//! loader's message for anything a file would be refused for.

use crate::protocol::Protocol;
use crate::protocols::{ScenarioVisitor, with_scenario};
use crate::scenario::{self, Document, FILE_BYTES_MAX, InputError, Scenario, ms_text};
use crate::sim::Verdict;
use crate::trace::{self, TraceSink};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

/// The limits one run is held to, on top of its scenario's own `limits`.
#[derive(Clone, Debug)]
pub(super) struct Budget {
    /// Wall-clock seconds one run may take.
    pub(super) seconds: u64,
    /// Trace records one run may write.
    pub(super) records: u64,
    /// Bytes of trace one run may write (its viewer page is about as large).
    pub(super) bytes: u64,
}

/// A failure to answer a request, with the HTTP status it gets.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) status: u16,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn bad(message: impl Into<String>) -> Refusal {
        Refusal {
            status: 400,
            message: message.into(),
        }
    }
}

impl From<InputError> for Refusal {
    fn from(e: InputError) -> Refusal {
        Refusal::bad(e.to_string())
    }
}

/// One kept run.
pub(super) struct Run {
    pub(super) id: u64,
    /// The run this one is a what-if of.
    pub(super) parent: Option<u64>,
    /// What it is: the scenario's name, or the fault a what-if added.
    pub(super) label: String,
    pub(super) seed: u64,
    /// The scenario as it ran, with its seed: `faultline run` on it replays the run.
    pub(super) scenario: Value,
    /// When the run's heal came (µs): a what-if keeps it, so that it departs only at its fault.
    pub(super) heal_us: u64,
    /// Every line of the trace: header, records, summary.
    pub(super) trace: Arc<String>,
    /// What the page shows of the run (verdict, fingerprint, nodes, switches, ...).
    pub(super) info: Value,
    /// Where the what-if's scenario was saved, relative to the served directory.
    pub(super) saved: Option<String>,
}

/// The runs kept in memory, oldest first; the oldest go when there are too many or their
/// traces hold too many bytes together.
pub(super) struct Runs {
    next: u64,
    list: VecDeque<Arc<Run>>,
    bytes: u64,
    /// Most runs kept.
    count_max: usize,
    /// Most trace bytes kept (the newest run is kept whatever its size).
    bytes_max: u64,
}

impl Runs {
    pub(super) fn new(count_max: usize, bytes_max: u64) -> Runs {
        Runs {
            next: 1,
            list: VecDeque::new(),
            bytes: 0,
            count_max,
            bytes_max,
        }
    }

    /// A new run's id.
    pub(super) fn take_id(&mut self) -> u64 {
        let id = self.next;
        self.next += 1;
        id
    }

    pub(super) fn get(&self, id: u64) -> Result<Arc<Run>, Refusal> {
        self.list
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| Refusal {
                status: 404,
                message: format!(
                    "run {id} is not kept (the playground keeps the last {} runs); run it again",
                    self.count_max
                ),
            })
    }

    pub(super) fn add(&mut self, run: Run) -> Arc<Run> {
        let run = Arc::new(run);
        self.bytes += run.trace.len() as u64;
        self.list.push_back(run.clone());
        while self.list.len() > 1
            && (self.list.len() > self.count_max || self.bytes > self.bytes_max)
        {
            if let Some(old) = self.list.pop_front() {
                self.bytes -= old.trace.len() as u64;
            }
        }
        run
    }
}

/// The scenario text for `name`: a bundled scenario, or a file under `dir` (a relative path
/// with no `..`, which after following links is still under `dir`).
pub(super) fn scenario_text(dir: &Path, name: &str) -> Result<String, Refusal> {
    if let Some(text) = scenario::bundled(name) {
        return Ok(text.to_string());
    }
    let path = inside(dir, name)?;
    if !path.is_file() {
        return Err(Refusal::bad(format!(
            "{name}: no bundled scenario of that name and no such file under the served directory; bundled: {}",
            scenario::bundled_names().join(", ")
        )));
    }
    super::super::io::open_input(&path)
        .and_then(|input| input.read_whole(FILE_BYTES_MAX as u64, "a scenario file"))
        .map_err(|e| Refusal::bad(format!("{name}: {}", e.message)))
}

/// `rel` as a path under `dir` (which is canonical): refused if it is absolute, has a `..`
/// or a root, or leads outside `dir` through a link.
pub(super) fn inside(dir: &Path, rel: &str) -> Result<PathBuf, Refusal> {
    let outside = || Refusal {
        status: 403,
        message: format!("{rel}: outside the served directory; name a file under it"),
    };
    let path = Path::new(rel);
    if rel.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(outside());
    }
    let joined = dir.join(path);
    // A file that does not exist yet is judged by its folder.
    let real = match joined.canonicalize() {
        Ok(p) => p,
        Err(_) => match joined.parent().map(Path::canonicalize) {
            Some(Ok(parent)) => parent.join(joined.file_name().unwrap_or_default()),
            _ => return Ok(joined),
        },
    };
    if real.starts_with(dir) {
        Ok(real)
    } else {
        Err(outside())
    }
}

/// Loads scenario `text` (from `source`) with `overrides`, exactly as `faultline run` would.
pub(super) fn load(source: &str, text: &str, overrides: &[String]) -> Result<Document, Refusal> {
    Ok(Document::load(source, text, overrides)?)
}

/// The outcome of one run, before it is kept.
pub(super) struct Made {
    pub(super) seed: u64,
    pub(super) scenario: Value,
    pub(super) heal_us: u64,
    pub(super) trace: String,
    pub(super) info: Value,
}

/// Runs `doc` (loaded with `overrides`, which its trace header and replay line name) with
/// `seed` (its own when `None`) within `budget`.
pub(super) fn run(
    doc: Document,
    seed: Option<u64>,
    overrides: &[String],
    budget: &Budget,
) -> Result<Made, Refusal> {
    struct Visit<'a> {
        seed: Option<u64>,
        overrides: &'a [String],
        budget: &'a Budget,
    }
    impl ScenarioVisitor for Visit<'_> {
        type Output = Result<Made, Refusal>;
        fn visit<P: Protocol>(self, scn: Scenario<P>) -> Self::Output {
            run_typed(scn, self.seed, self.overrides, self.budget)
        }
    }
    with_scenario(
        doc,
        Visit {
            seed,
            overrides,
            budget,
        },
    )?
}

// The wall clock only times the run against its budget; nothing in the run reads it.
#[allow(clippy::disallowed_types)]
fn run_typed<P: Protocol>(
    scn: Scenario<P>,
    seed: Option<u64>,
    overrides: &[String],
    budget: &Budget,
) -> Result<Made, Refusal> {
    let seed = seed.unwrap_or(scn.file.seed);
    // As `run --emit-scenario` writes it: a swarm resolved for the seed, the seed in the file.
    let scn = scn.for_seed(seed)?;
    let heal_us = scn.config(seed)?.resolved_heal_at().0;
    let mut scenario = scn.json.clone();
    scenario["seed"] = seed.into();
    let header = trace::header::<P>(&scn.source, &scn.json, seed, overrides);
    let kept = Rc::new(RefCell::new(Kept {
        text: header + "\n",
        records: 0,
        stopped: None,
    }));
    let sink = Budgeted {
        kept: kept.clone(),
        budget: budget.clone(),
        started: std::time::Instant::now(),
    };
    let report = scn.run(seed, Some(Box::new(sink)))?;
    let mut kept = kept.take();
    if let Some(why) = kept.stopped {
        return Err(Refusal {
            status: 422,
            message: format!("the run was stopped: {why}"),
        });
    }
    if let Verdict::Aborted { reason } = &report.verdict {
        return Err(Refusal {
            status: 500,
            message: format!("the run was stopped: {reason}"),
        });
    }
    let replay = scenario::replay_line(&scn.source, seed, overrides);
    kept.text.push_str(&trace::file::summary_line(
        &report,
        report.fingerprint,
        &replay,
    ));
    kept.text.push('\n');
    let bugs = serde_json::to_value(P::Config::default())
        .ok()
        .and_then(|c| c.get("bugs").and_then(Value::as_object).cloned())
        .map(|b| b.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    let info = json!({
        "seed": seed,
        "protocol": P::NAME,
        "nodes": scn.file.nodes,
        "bugs": bugs,
        "time_ms_end": report.time_end.0 / 1000,
        "steps": report.steps,
        "records": report.records,
        "fingerprint": trace::fingerprint_hex(report.fingerprint),
        "verdict": verdict(&report.verdict),
        "held": matches!(report.verdict, Verdict::Pass),
    });
    Ok(Made {
        seed,
        scenario,
        heal_us,
        trace: kept.text,
        info,
    })
}

/// The verdict in one line, as the page shows it.
fn verdict(v: &Verdict) -> String {
    match v {
        Verdict::Pass => "held: every check held".to_string(),
        Verdict::Fail(f) if !f.class.is_conclusive() => format!(
            "inconclusive ({}): check {} at step {}, t={}: {}",
            f.class.name(),
            f.check,
            f.step,
            f.time,
            f.message
        ),
        Verdict::Fail(f) => format!(
            "failed: check {} ({}) at step {}, t={}: {}",
            f.check, f.kind, f.step, f.time, f.message
        ),
        Verdict::Inconclusive { reason } => format!("inconclusive: {reason}"),
        Verdict::Aborted { reason } => format!("stopped: {reason}"),
    }
}

/// What the budgeted sink kept.
#[derive(Default)]
struct Kept {
    text: String,
    records: u64,
    /// Why the sink stopped the run, if it did.
    stopped: Option<String>,
}

/// Keeps every trace line in memory, and stops the run (by refusing a line) when it passes
/// the playground's record, byte or wall-clock budget. The engine cannot be interrupted
/// between records, but every step writes at least one, so the clock is read often enough.
#[allow(clippy::disallowed_types)] // the wall-clock budget, as in `run_typed`
struct Budgeted {
    kept: Rc<RefCell<Kept>>,
    budget: Budget,
    started: std::time::Instant,
}

impl TraceSink for Budgeted {
    fn line(&mut self, line: &str) -> Result<(), String> {
        let mut kept = self.kept.borrow_mut();
        kept.records += 1;
        let b = &self.budget;
        let over = if kept.records > b.records {
            Some(format!(
                "it wrote more than {} trace records, the playground's budget for one run (serve --records-max); shorten limits.time_ms",
                b.records
            ))
        } else if (kept.text.len() + line.len()) as u64 > b.bytes {
            Some(format!(
                "its trace passed {} bytes, the playground's budget for one run (serve --trace-mb); shorten limits.time_ms",
                b.bytes
            ))
        } else if kept.records % 1024 == 0 && self.started.elapsed().as_secs() >= b.seconds {
            Some(format!(
                "it took more than {} s of wall-clock time, the playground's budget for one run (serve --run-seconds); shorten limits.time_ms",
                b.seconds
            ))
        } else {
            None
        };
        if let Some(why) = over {
            kept.stopped = Some(why.clone());
            return Err(why);
        }
        kept.text.push_str(line);
        kept.text.push('\n');
        Ok(())
    }
}

/// `base` (a scenario as it ran) with `fault` added to its `faults`, in time order, and its
/// heal kept where it was (`heal_us`): the implied heal follows the last fault, so a fault
/// added after it would move it and the runs would depart at the old heal, not at the fault.
pub(super) fn with_fault(base: &Value, fault: &Value, heal_us: u64) -> Result<Value, Refusal> {
    let Some(entry) = fault.as_object() else {
        return Err(Refusal::bad(
            "fault: expected an object, a scenario's faults entry",
        ));
    };
    let mut scn = base.clone();
    let Some(obj) = scn.as_object_mut() else {
        return Err(Refusal::bad("the base scenario is not an object"));
    };
    let faults = obj
        .entry("faults")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(list) = faults.as_array_mut() else {
        return Err(Refusal::bad("the base scenario's faults is not a list"));
    };
    let has_heal = list.iter().any(|f| f.get("heal").is_some());
    let at = |f: &Value| -> Option<f64> {
        let at = f.get("at_ms")?;
        at.as_f64()
            .or_else(|| at.as_str().and_then(|s| s.parse().ok()))
    };
    let timed = |f: &Value| f.get("on").is_none() && f.get("at_ms").is_some();
    let insert = |list: &mut Vec<Value>, f: Value| {
        // Timed entries are in time order; an entry without a time (a message's fault) goes
        // first, where a time of 0 would.
        let pos = match at(&f).filter(|_| timed(&f)) {
            None => 0,
            Some(t) => list
                .iter()
                .position(|g| timed(g) && at(g).is_some_and(|u| u > t))
                .unwrap_or(list.len()),
        };
        list.insert(pos, f);
    };
    for f in with_undo(entry) {
        insert(list, f);
    }
    if !has_heal && obj.get("heal_at_ms").is_none() {
        if heal_us % 1000 == 0 {
            obj.insert("heal_at_ms".into(), (heal_us / 1000).into());
        } else {
            // The time as a scenario writes it, to the microsecond (`3000.5`).
            let at: Value = serde_json::from_str(&ms_text(heal_us)).unwrap_or(Value::Null);
            let heal = json!({"at_ms": at, "heal": true});
            if let Some(list) = obj.get_mut("faults").and_then(Value::as_array_mut) {
                insert(list, heal);
            }
        }
    }
    Ok(scn)
}

/// A timed entry with a `duration_ms` as two plain entries: the fault at its time and its
/// undo (a restart after a crash, a resume after a pause, the repair of a cut link,
/// `heal_links` after an isolation, partition or bridge) `duration_ms` later. A shaped entry
/// does nothing after the heal (docs/fault-model.md), and a what-if's heal is kept where the
/// previous run had it, often before the fault (at 0 in a scenario without faults); plain
/// entries fire in the liveness phase too. Anything else is left as it is, for the loader
/// to judge.
fn with_undo(entry: &serde_json::Map<String, Value>) -> Vec<Value> {
    let keep = || vec![Value::Object(entry.clone())];
    if ["on", "every_ms", "times"]
        .iter()
        .any(|k| entry.contains_key(*k))
    {
        return keep();
    }
    let (Some(at), Some(d)) = (
        entry.get("at_ms").and_then(Value::as_f64),
        entry.get("duration_ms").and_then(Value::as_u64),
    ) else {
        return keep();
    };
    let plain = |k: &str| entry.get(k).filter(|v| v.is_string()).cloned();
    let undo = if let Some(n) = plain("crash") {
        json!({"restart": n})
    } else if let Some(n) = plain("pause") {
        json!({"resume": n})
    } else if let Some(link) = entry.get("cut") {
        json!({"repair": link})
    } else if plain("isolate").is_some()
        || entry.contains_key("partition")
        || entry.contains_key("bridge")
    {
        json!({"heal_links": true})
    } else {
        return keep();
    };
    if !(0.0..=1e15).contains(&at) || d == 0 {
        return keep();
    }
    let at_us = (at * 1000.0).round() as u64;
    let Ok(undo_at) =
        serde_json::from_str::<Value>(&ms_text(at_us.saturating_add(d.saturating_mul(1000))))
    else {
        return keep();
    };
    let mut fault = entry.clone();
    fault.remove("duration_ms");
    let mut undo = undo;
    undo["at_ms"] = undo_at;
    let mut undo_entry = serde_json::Map::new();
    // `at_ms` first, as scenario files write it.
    undo_entry.insert("at_ms".into(), undo["at_ms"].take());
    for (k, v) in undo.as_object().into_iter().flatten() {
        if k != "at_ms" {
            undo_entry.insert(k.clone(), v.clone());
        }
    }
    vec![Value::Object(fault), Value::Object(undo_entry)]
}

/// Where two traces first differ: the step and time of the first record line that is not
/// the same in both (header and summary lines aside), and the two records there.
pub(super) fn departure(before: &str, after: &str) -> Value {
    // The first line is the header, the last the summary (the playground's traces are whole).
    fn records(text: &str) -> Vec<&str> {
        let mut lines: Vec<&str> = text.lines().skip(1).collect();
        lines.pop();
        lines
    }
    let (a, b) = (records(before), records(after));
    let Some(i) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) else {
        return Value::Null;
    };
    let parse = |l: Option<&&str>| {
        l.and_then(|l| serde_json::from_str::<Value>(l).ok())
            .unwrap_or(Value::Null)
    };
    let (ra, rb) = (parse(a.get(i)), parse(b.get(i)));
    let at = if rb.is_null() { &ra } else { &rb };
    json!({
        "step": at.get("step").cloned().unwrap_or(Value::Null),
        "t": at.get("t").cloned().unwrap_or(Value::Null),
        "record": i + 1,
        "before": ra,
        "after": rb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_goes_in_time_order_and_the_heal_stays() {
        let base =
            json!({"faults": [{"at_ms": 1000, "crash": "n2"}, {"at_ms": 3000, "restart": "n2"}]});
        let s = with_fault(&base, &json!({"at_ms": 2000, "pause": "n1"}), 3_000_000).unwrap();
        let at: Vec<_> = s["faults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["at_ms"].as_u64().unwrap())
            .collect();
        assert_eq!(at, [1000, 2000, 3000]);
        assert_eq!(s["heal_at_ms"], 3000);
        let s = with_fault(&base, &json!({"message": {}, "drop": true}), 3_000_500).unwrap();
        assert!(s["faults"][0].get("message").is_some());
        assert_eq!(s["faults"][3]["heal"], true);
        assert_eq!(s["faults"][3]["at_ms"], 3000.5);
        assert!(with_fault(&base, &json!([1]), 0).is_err());
    }

    #[test]
    fn a_fault_with_a_duration_becomes_the_fault_and_its_undo() {
        let base = json!({"faults": [{"at_ms": 1000, "crash": "n2"}]});
        let s = with_fault(
            &base,
            &json!({"at_ms": 250.5, "pause": "n1", "duration_ms": 500}),
            0,
        )
        .unwrap();
        assert_eq!(
            s["faults"],
            json!([{"at_ms": 250.5, "pause": "n1"}, {"at_ms": 750.5, "resume": "n1"}, {"at_ms": 1000, "crash": "n2"}])
        );
        assert_eq!(s["heal_at_ms"], 0);
        let undo = |f: Value| with_fault(&json!({}), &f, 0).unwrap()["faults"][1].clone();
        assert_eq!(
            undo(json!({"at_ms": 1, "crash": "n3", "duration_ms": 2}))["restart"],
            "n3"
        );
        assert_eq!(
            undo(json!({"at_ms": 1, "isolate": "n3", "duration_ms": 2}))["heal_links"],
            true
        );
        let p = json!({"at_ms": 1, "partition": [["n1"], ["n2"]], "duration_ms": 2});
        assert_eq!(undo(p)["heal_links"], true);
        // Shapes the page never sends are left to the loader.
        let aimed = json!({"at_ms": 1, "crash": {"drawn": 1}, "duration_ms": 2});
        assert_eq!(
            with_fault(&json!({}), &aimed, 0).unwrap()["faults"],
            json!([aimed])
        );
    }

    #[test]
    fn departure_is_the_first_differing_record() {
        let a = "{\"ev\":\"header\"}\n{\"step\":1,\"t\":0}\n{\"step\":2,\"t\":5}\n{\"ev\":\"summary\",\"x\":1}\n";
        let b = "{\"ev\":\"header\",\"y\":2}\n{\"step\":1,\"t\":0}\n{\"step\":2,\"t\":4}\n{\"ev\":\"summary\",\"x\":2}\n";
        let d = departure(a, b);
        assert_eq!((d["step"].as_u64(), d["t"].as_u64()), (Some(2), Some(4)));
        assert_eq!(d["before"]["t"], 5);
        assert_eq!(departure(a, a), Value::Null);
    }

    #[test]
    fn paths_outside_the_directory_are_refused() {
        let dir = std::env::temp_dir().canonicalize().unwrap();
        for rel in ["../x.json", "/etc/passwd", "a/../../x", ""] {
            assert_eq!(inside(&dir, rel).unwrap_err().status, 403, "{rel}");
        }
        assert!(inside(&dir, "whatifs/x.json").is_ok());
    }
}
