//! `faultline export` (Perfetto, ShiViz, Jepsen) and `faultline explain` / `run --explain`:
//! each export checked against its format's documented rules, the Perfetto export read by a
//! Chrome trace reader that is not ours (the npm package @tracerbench/trace-model, through
//! `tests/browser/trace-model.mjs`; needs `node` and `npm ci --prefix tests/browser`, else the
//! test says SKIPPED, or fails under `FAULTLINE_REQUIRE_TRACE_CONSUMER=1` as in CI), the Jepsen
//! history read back by the crate's own reader, the narrative's key sentences, and bad traces.

mod common;

use common::{cli, in_other_words, temp_dir};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a scenario with a trace; returns the trace's path and its text.
fn traced(dir: &Path, scenario: &str, extra: &[&str]) -> (PathBuf, String) {
    let path = dir.join("run.jsonl");
    let mut args = vec!["run", scenario, "--trace", path.to_str().unwrap(), "-q"];
    args.extend_from_slice(extra);
    let (code, out, err) = cli(&args);
    assert!(code == 0 || code == 1, "{out}{err}");
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

fn export(trace: &Path, format: &str) -> String {
    let (code, out, err) = cli(&["export", trace.to_str().unwrap(), "--format", format]);
    assert_eq!(code, 0, "{err}");
    out
}

fn records(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["ev"] != "header" && v["ev"] != "summary")
        .collect()
}

// ---- Perfetto ----

/// Checks the Trace Event Format's rules that the viewers rely on. Returns the events.
fn check_trace_event_format(text: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(text).expect("the export is one JSON object");
    let events = doc["traceEvents"]
        .as_array()
        .expect("traceEvents is an array");
    assert!(
        ["ms", "ns"].contains(&doc["displayTimeUnit"].as_str().unwrap()),
        "displayTimeUnit"
    );
    let mut named_processes = BTreeSet::new();
    let mut named_threads = BTreeSet::new();
    let mut used_threads = BTreeSet::new();
    // Per thread: complete slices (ts, dur) and B/E events in file order.
    let mut slices: BTreeMap<(u64, u64), Vec<(f64, f64)>> = BTreeMap::new();
    let mut begins: BTreeMap<(u64, u64), Vec<f64>> = BTreeMap::new();
    let mut last_be: BTreeMap<(u64, u64), f64> = BTreeMap::new();
    let mut flows: BTreeMap<(String, u64), Vec<&Value>> = BTreeMap::new();
    for e in events {
        let ph = e["ph"].as_str().expect("every event has ph");
        assert!(e["name"].is_string(), "every event has a name: {e}");
        let pid = e["pid"].as_u64().expect("pid");
        let tid = e["tid"].as_u64().expect("tid");
        // Readers differ where the format's documentation is loose: some need a category on
        // metadata too, and some drop the events of process 0.
        assert!(e["cat"].is_string(), "every event has a cat: {e}");
        assert!(pid > 0, "no event in process 0: {e}");
        if ph == "M" {
            assert!(
                e["args"]["name"].is_string() || e["args"]["sort_index"].is_u64(),
                "{e}"
            );
            match e["name"].as_str().unwrap() {
                "process_name" => {
                    named_processes.insert(pid);
                }
                "thread_name" => {
                    named_threads.insert((pid, tid));
                }
                "process_sort_index" => {}
                other => panic!("unexpected metadata event {other}"),
            }
            continue;
        }
        let ts = e["ts"].as_f64().expect("every non-metadata event has ts");
        assert!(ts >= 0.0, "{e}");
        used_threads.insert((pid, tid));
        match ph {
            "X" => {
                let dur = e["dur"].as_f64().expect("a complete event has dur");
                assert!(dur >= 0.0, "{e}");
                slices.entry((pid, tid)).or_default().push((ts, dur));
            }
            "B" | "E" => {
                let last = last_be.entry((pid, tid)).or_insert(0.0);
                assert!(ts >= *last, "B/E timestamps go back on a thread: {e}");
                *last = ts;
                let stack = begins.entry((pid, tid)).or_default();
                if ph == "B" {
                    stack.push(ts);
                } else {
                    assert!(stack.pop().is_some(), "an E without its B: {e}");
                }
            }
            "i" | "I" => {
                assert!(["g", "p", "t"].contains(&e["s"].as_str().unwrap()), "{e}");
            }
            "s" | "f" => {
                let id = e["id"].as_u64().expect("a flow event has an id");
                if ph == "f" {
                    assert_eq!(e["bp"], "e", "flow ends bind to their enclosing slice: {e}");
                }
                flows
                    .entry((e["cat"].as_str().unwrap().to_string(), id))
                    .or_default()
                    .push(e);
            }
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    assert!(begins.values().all(Vec::is_empty), "every B has its E");
    for (pid, tid) in &used_threads {
        assert!(named_processes.contains(pid), "process {pid} has a name");
        assert!(
            named_threads.contains(&(*pid, *tid)) || *tid == 0,
            "thread {pid}/{tid} has a name"
        );
    }
    // Complete slices on one thread nest or follow each other; they never partly overlap.
    for (thread, list) in &mut slices {
        list.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        let mut open: Vec<f64> = Vec::new();
        for &(ts, dur) in list.iter() {
            while open.last().is_some_and(|end| *end <= ts) {
                open.pop();
            }
            if let Some(end) = open.last() {
                assert!(
                    ts + dur <= *end,
                    "slices overlap on thread {thread:?} at {ts}"
                );
            }
            open.push(ts + dur);
        }
    }
    // Every flow has one start and one end, in time order, each inside a slice of its thread.
    let inside = |e: &Value| {
        let key = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
        let ts = e["ts"].as_f64().unwrap();
        slices
            .get(&key)
            .is_some_and(|l| l.iter().any(|(s, d)| *s <= ts && ts <= s + d))
    };
    for (id, list) in &flows {
        let phases: Vec<&str> = list.iter().map(|e| e["ph"].as_str().unwrap()).collect();
        assert_eq!(phases, ["s", "f"], "flow {id:?}");
        assert_eq!(list[0]["name"], list[1]["name"], "flow {id:?}");
        assert!(
            list[0]["ts"].as_f64() <= list[1]["ts"].as_f64(),
            "flow {id:?}"
        );
        assert!(
            inside(list[0]) && inside(list[1]),
            "flow {id:?} binds to a slice"
        );
    }
    events.clone()
}

#[test]
fn perfetto_export_follows_the_trace_event_format_and_shows_roles_downtime_and_messages() {
    let dir = temp_dir("export-perfetto");
    let (path, text) = traced(&dir, "raft/leader-crash", &[]);
    let out = dir.join("lc.perfetto.json");
    let (code, stdout, err) = cli(&[
        "export",
        path.to_str().unwrap(),
        "--format",
        "perfetto",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!((code, stdout.as_str()), (0, ""), "{err}");
    assert!(!dir.join("lc.perfetto.json.partial").exists());
    let json = std::fs::read_to_string(&out).unwrap();
    assert_eq!(json, export(&path, "perfetto"), "the file and stdout agree");
    let events = check_trace_event_format(&json);

    let recs = records(&text);
    let delivered = recs.iter().filter(|r| r["ev"] == "deliver").count();
    let flow_starts = events.iter().filter(|e| e["ph"] == "s").count();
    assert_eq!(flow_starts, delivered, "one arrow per delivered copy");
    // n2 (pid 3) leads term 1 until its crash at 1 s, is down until 3 s, then follows.
    let n2_slices: Vec<(&str, u64, u64)> = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["pid"] == 3 && e["cat"] != "activity")
        .map(|e| {
            let ts = e["ts"].as_u64().unwrap();
            (
                e["name"].as_str().unwrap(),
                ts,
                ts + e["dur"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        n2_slices
            .iter()
            .any(|&(n, s, e)| n == "leader" && s < 1_000_000 && e == 1_000_000),
        "{n2_slices:?}"
    );
    assert!(
        n2_slices.contains(&("down", 1_000_000, 3_000_000)),
        "{n2_slices:?}"
    );
    // Client operations are slices on the clients' own processes (pid 7 and up).
    let ops = events
        .iter()
        .filter(|e| e["cat"] == "op" && e["pid"].as_u64().unwrap() > 6)
        .count();
    assert_eq!(ops, recs.iter().filter(|r| r["ev"] == "invoke").count());
    // The crash is an instant on the run's track and on n2's.
    let crash: Vec<u64> = events
        .iter()
        .filter(|e| e["ph"] == "i" && e["name"] == "crash n2")
        .map(|e| e["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(crash, [1, 3]);
}

#[test]
fn perfetto_export_of_a_paused_node_and_a_violation() {
    let dir = temp_dir("export-perfetto-pause");
    let (path, _) = traced(&dir, "ping/pause-and-skew", &[]);
    let events = check_trace_event_format(&export(&path, "perfetto"));
    assert!(
        events
            .iter()
            .any(|e| e["name"] == "paused" && e["ph"] == "X")
    );
    let (path, _) = traced(&dir, "ping/bug-skip-boot-sync", &["--seed", "1"]);
    let events = check_trace_event_format(&export(&path, "perfetto"));
    assert!(
        events
            .iter()
            .any(|e| e["cat"] == "violation" && e["s"] == "g")
    );
}

// ---- Perfetto, read by a real consumer of the format ----

/// The environment variable that makes a missing consumer a failure instead of a skip (CI
/// sets it).
const REQUIRE_CONSUMER: &str = "FAULTLINE_REQUIRE_TRACE_CONSUMER";

/// Why `tests/browser/trace-model.mjs` cannot run here, if it cannot.
fn consumer_missing(root: &Path) -> Option<String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("node is not on the PATH".into());
    }
    if !root
        .join("tests/browser/node_modules/@tracerbench/trace-model")
        .exists()
    {
        return Some(
            "tests/browser/node_modules/@tracerbench/trace-model is missing \
             (npm ci --prefix tests/browser)"
                .into(),
        );
    }
    None
}

/// Says a check was skipped, where the test runner shows it: libtest hides what a passing test
/// prints with `eprintln!`, not what it writes to the standard error stream itself. With
/// `FAULTLINE_REQUIRE_TRACE_CONSUMER=1` (as in CI) the skip is a failure.
fn skip_visibly(test: &str, why: &str) {
    if std::env::var(REQUIRE_CONSUMER).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_CONSUMER}=1 but the check cannot run: {why}");
    }
    let line =
        format!("\nSKIPPED {test}: {why} (set {REQUIRE_CONSUMER}=1 to make this a failure)\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// What the consumer made of an export, as `trace-model.mjs` prints it.
#[derive(serde::Deserialize, Debug)]
struct Model {
    consumer: String,
    events: u64,
    processes: Vec<ModelProcess>,
}

#[derive(serde::Deserialize, Debug)]
struct ModelProcess {
    pid: u64,
    name: String,
    events: u64,
    threads: Vec<ModelThread>,
}

#[derive(serde::Deserialize, Debug)]
struct ModelThread {
    tid: u64,
    name: String,
    events: u64,
    categories: BTreeMap<String, u64>,
}

/// Loads `file` with @tracerbench/trace-model; panics with what it said if it rejects it.
fn consumer_reads(root: &Path, file: &Path) -> Model {
    let out = Command::new("node")
        .arg(root.join("tests/browser/trace-model.mjs"))
        .arg(file)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// A Chrome trace reader that is not ours (the npm package @tracerbench/trace-model) loads the
/// Perfetto export of Raft with crashes and partitions, ABD, the failure detector and a ping
/// run with a violation, and keeps all of it: every process and thread under its name, in
/// the export's order, with as many events as the export gave it; the run's lane holds one
/// event per fault, phase, check and violation of the trace; the clients' operation threads
/// one slice per invocation.
#[test]
fn perfetto_export_is_read_whole_by_a_real_consumer_of_the_format() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(why) = consumer_missing(root) {
        skip_visibly(
            "perfetto_export_is_read_whole_by_a_real_consumer_of_the_format",
            &why,
        );
        return;
    }
    let dir = temp_dir("export-perfetto-consumer");
    let runs: [(&str, &[&str]); 4] = [
        ("raft/figure-8", &[]),
        ("abd/partition", &[]),
        ("fd/crash-restart", &[]),
        ("ping/bug-skip-boot-sync", &["--seed", "1"]),
    ];
    for (scenario, extra) in runs {
        let (path, text) = traced(&dir, scenario, extra);
        let file = dir.join(format!("{}.json", scenario.replace('/', "-")));
        std::fs::write(&file, export(&path, "perfetto")).unwrap();
        let model = consumer_reads(root, &file);
        let events = check_trace_event_format(&std::fs::read_to_string(&file).unwrap());
        let context = format!("{scenario}, read by {}", model.consumer);

        // What the export holds: processes in order, named threads, events per thread.
        let mut processes: Vec<(u64, String)> = Vec::new();
        let mut threads: BTreeMap<(u64, u64), String> = BTreeMap::new();
        let mut per_thread: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        for e in &events {
            let key = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
            let name = e["args"]["name"].as_str().unwrap_or_default().to_string();
            match (e["ph"].as_str().unwrap(), e["name"].as_str().unwrap()) {
                ("M", "process_name") => processes.push((key.0, name)),
                ("M", "thread_name") => {
                    threads.insert(key, name);
                }
                ("M", _) => {}
                _ => *per_thread.entry(key).or_default() += 1,
            }
        }
        let total: u64 = per_thread.values().sum();
        assert_eq!(model.events, total, "{context}");
        let kept: u64 = model.processes.iter().map(|p| p.events).sum();
        assert_eq!(kept, total, "{context}: events of a process were dropped");

        // Every lane, faults and checks included, in the export's order and under its name.
        let read: Vec<(u64, String)> = model
            .processes
            .iter()
            .map(|p| (p.pid, p.name.clone()))
            .collect();
        assert_eq!(read, processes, "{context}");
        assert!(read[0].1.starts_with("run "), "{context}: {read:?}");
        let mut read_threads = BTreeMap::new();
        for p in &model.processes {
            for t in &p.threads {
                read_threads.insert((p.pid, t.tid), t);
            }
        }
        for (key, name) in &threads {
            let t = read_threads
                .get(key)
                .unwrap_or_else(|| panic!("{context}: thread {key:?} {name} is missing"));
            assert_eq!(&t.name, name, "{context}: thread {key:?}");
            let want = per_thread.get(key).copied().unwrap_or(0);
            assert_eq!(t.events, want, "{context}: events on {name} {key:?}");
        }
        assert_eq!(
            read_threads.len(),
            threads.len(),
            "{context}: no unnamed threads"
        );

        // The run's lane, against the trace itself.
        let recs = records(&text);
        let count = |ev: &str| recs.iter().filter(|r| r["ev"] == ev).count() as u64;
        let run = &model.processes[0].threads;
        assert_eq!(run.len(), 1, "{context}: {run:?}");
        assert_eq!(run[0].name, "faults and checks", "{context}");
        for (cat, ev) in [
            ("fault", "fault"),
            ("phase", "phase"),
            ("check", "check"),
            ("violation", "violation"),
        ] {
            let got = run[0].categories.get(cat).copied().unwrap_or(0);
            assert_eq!(got, count(ev), "{context}: {cat} on the run's lane");
        }
        // Each run has faults, and check results or a violation: none of these lanes is empty.
        assert!(count("fault") > 0, "{context}");
        assert!(count("check") + count("violation") > 0, "{context}");
        // The clients' operations: a slice per invocation.
        let ops: u64 = read_threads
            .values()
            .filter(|t| t.name.starts_with("process "))
            .map(|t| t.categories.get("op").copied().unwrap_or(0))
            .sum();
        assert_eq!(ops, count("invoke"), "{context}: operations");
        eprintln!(
            "{context}: {} processes, {} threads, {total} events",
            model.processes.len(),
            read_threads.len()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- ShiViz ----

/// One ShiViz event: what, which host, its vector clock.
struct ShivizEvent {
    event: String,
    host: String,
    clock: BTreeMap<String, u64>,
}

/// Reads a ShiViz log the way its default expression `(?<event>.*)\n(?<host>\S*)
/// (?<clock>{.*})` does: an event line, then the host up to the first space and a JSON clock.
fn parse_shiviz(text: &str) -> Vec<ShivizEvent> {
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})")
    );
    assert_eq!(lines.next(), Some(""), "no multiple-executions delimiter");
    let mut out = Vec::new();
    while let Some(event) = lines.next() {
        let second = lines.next().expect("every event line has a host line");
        let (host, clock) = second.split_once(' ').expect("host, space, clock");
        assert!(!host.is_empty() && !host.contains(char::is_whitespace));
        assert!(clock.starts_with('{') && clock.ends_with('}'), "{second}");
        let clock: BTreeMap<String, u64> = serde_json::from_str(clock).expect("a JSON clock");
        out.push(ShivizEvent {
            event: event.to_string(),
            host: host.to_string(),
            clock,
        });
    }
    out
}

#[test]
fn shiviz_export_has_vector_clocks_that_satisfy_shiviz() {
    let dir = temp_dir("export-shiviz");
    let (path, _) = traced(&dir, "raft/leader-crash", &[]);
    let events = parse_shiviz(&export(&path, "shiviz"));
    assert!(events.len() > 10_000);
    let hosts: BTreeSet<&str> = events.iter().map(|e| e.host.as_str()).collect();
    assert_eq!(hosts.len(), 8, "5 nodes and 3 clients: {hosts:?}");
    let mut last: BTreeMap<&str, &BTreeMap<String, u64>> = BTreeMap::new();
    let mut sends: BTreeMap<String, &BTreeMap<String, u64>> = BTreeMap::new();
    let mut receives = 0;
    for e in &events {
        for h in e.clock.keys() {
            assert!(hosts.contains(h.as_str()), "clock names unknown host {h}");
        }
        let own = e.clock[&e.host];
        let empty = BTreeMap::new();
        let before = last.get(e.host.as_str()).copied().unwrap_or(&empty);
        assert_eq!(
            own,
            before.get(&e.host).copied().unwrap_or(0) + 1,
            "{}",
            e.event
        );
        for (h, c) in before {
            assert!(
                e.clock.get(h).copied().unwrap_or(0) >= *c,
                "clocks only grow"
            );
        }
        last.insert(&e.host, &e.clock);
        let word = |w: &str| {
            let rest = e.event.split_once(' ')?.1;
            let rest = rest.strip_prefix(w)?;
            Some(rest.split(' ').next()?.to_string())
        };
        if let Some(id) = word("send ") {
            sends.insert(id, &e.clock);
        }
        if let Some(id) = word("recv ") {
            let sent = sends[&id];
            for (h, c) in sent {
                assert!(
                    e.clock.get(h).copied().unwrap_or(0) >= *c,
                    "a receive dominates its send"
                );
            }
            assert_ne!(&e.clock, sent);
            receives += 1;
        }
    }
    assert!(receives > 5000);
}

// ---- Jepsen ----

#[test]
fn jepsen_export_reads_back_with_the_same_linearizability_verdict() {
    use faultline::lin::{self, LinVerdict, ModelKind, formats};
    let dir = temp_dir("export-jepsen");
    for scenario in [
        "raft/leader-crash",
        "scenarios/regressions/raft-stale-leader-reads.json",
    ] {
        let (path, text) = traced(&dir, scenario, &[]);
        let summary: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        let edn = export(&path, "jepsen");
        // One map per line, with the keys Jepsen's checkers need; index counts lines, time
        // (ns) never goes back.
        let mut last_time = 0;
        for (i, line) in edn.lines().enumerate() {
            assert!(
                line.starts_with("{:type :") && line.ends_with('}'),
                "{line}"
            );
            for key in [":f :", ":value ", ":process ", ":time ", ":index "] {
                assert!(line.contains(key), "{key} in {line}");
            }
            assert!(line.ends_with(&format!(":index {i}}}")), "{line}");
            let time: u64 = line
                .split(":time ")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(time >= last_time && time % 1000 == 0);
            last_time = time;
        }
        let ops = formats::parse(&edn, formats::Format::Edn).expect("the crate's reader reads it");
        let invokes = records(&text)
            .iter()
            .filter(|r| r["ev"] == "invoke")
            .count();
        assert_eq!(ops.len(), invokes);
        let (verdict, _) = lin::check(&ops, ModelKind::Kv, lin::DEFAULT_BUDGET).unwrap();
        let name = match verdict {
            LinVerdict::Linearizable => "held",
            LinVerdict::NotLinearizable(_) => "violated",
            LinVerdict::Inconclusive { .. } => "inconclusive",
        };
        assert_eq!(name, summary["history_check"]["verdict"], "{scenario}");
    }
}

#[test]
fn jepsen_export_maps_requests_as_the_protocol_does() {
    use faultline::lin::{Outcome, formats};
    let dir = temp_dir("export-jepsen-ops");
    let (path, _) = traced(&dir, "raft/leader-reads", &[]);
    let exported = formats::parse(&export(&path, "jepsen"), formats::Format::Edn).unwrap();
    let scn = faultline::cli::read_scenario("raft/leader-reads", &[]).unwrap();
    let (_, ops) = scn.run_with_history(scn.file.seed, None).unwrap();
    assert_eq!(exported.len(), ops.len());
    // The engine's history is in invocation order, as the export is.
    for (a, b) in exported.iter().zip(&ops) {
        assert_eq!(
            (&a.f, &a.key, &a.value, a.process),
            (&b.f, &b.key, &b.value, b.process)
        );
        match (&a.outcome, &b.outcome) {
            (Outcome::Ok(x), Outcome::Ok(y)) | (Outcome::Fail(x), Outcome::Fail(y)) => {
                assert_eq!(x, y)
            }
            (x, y) => assert_eq!(x, y),
        }
    }
}

#[test]
fn jepsen_export_needs_the_history_calls_the_trace_records() {
    // ping has no history check, so its invokes carry no call: the export says so and where.
    let dir = temp_dir("export-jepsen-no-calls");
    let (path, text) = traced(&dir, "ping/basic", &[]);
    let (code, out, err) = cli(&["export", path.to_str().unwrap(), "--format", "jepsen"]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    let first = text
        .lines()
        .position(|l| l.contains(r#""ev":"invoke""#))
        .unwrap();
    assert!(
        err.starts_with(&format!(
            "error: {}:{}:1: invoke: call: missing",
            path.display(),
            first + 1
        )),
        "{err}"
    );
}

// ---- explain ----

fn explain(trace: &Path) -> String {
    let (code, out, err) = cli(&["explain", trace.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    out
}

#[test]
fn explain_tells_elections_crashes_and_the_verdict() {
    let dir = temp_dir("explain-leader-crash");
    let (path, _) = traced(&dir, "raft/leader-crash", &[]);
    let story = explain(&path);
    for needle in [
        "raft/leader-crash, seed 1: raft on 5 nodes with 3 clients",
        "0s  n1 n2 n3 n4 n5 start",
        "n2 becomes leader of term 1",
        "1s  fault: crash n2 (the leader of term 1)",
        "n1 becomes leader of term 2",
        "3s  faults: restart n2; heal [by heal]; the liveness phase begins",
        "n1 reaches commit 514",
        "Clients: 513 operations",
        "Verdict: PASS. Every check held. The client history check says held",
    ] {
        assert!(story.contains(needle), "{needle:?} in\n{story}");
    }
    assert!(story.lines().count() < 40, "{story}");
    // run --explain tells the same story, after the verdict line.
    let (code, out, _) = cli(&["run", "raft/leader-crash", "-q", "--explain"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("PASS seed 1"), "{out}");
    let told = out.split_once("\n\n").unwrap().1;
    assert_eq!(told, story);
}

#[test]
fn explain_shows_the_violation_and_how_to_replay_it() {
    let dir = temp_dir("explain-violation");
    let (path, _) = traced(
        &dir,
        "scenarios/regressions/raft-stale-leader-reads.json",
        &[],
    );
    let story = explain(&path);
    for needle in [
        "VIOLATION of linearizable (history)",
        "The violation: check linearizable (history, safety) failed at 12s",
        "the client history is not linearizable",
        "Replay: faultline run scenarios/regressions/raft-stale-leader-reads.json --seed 295",
        "Look closer: faultline trace show",
        "Verdict: FAIL (safety): linearizable (history) at 12s.",
    ] {
        assert!(story.contains(needle), "{needle:?} in\n{story}");
    }
    assert!(story.lines().count() < 60, "{story}");
}

#[test]
fn explain_summarises_a_long_run() {
    let dir = temp_dir("explain-long");
    let (path, text) = traced(&dir, "raft/crash-churn", &["--set", "limits.time_ms=60000"]);
    assert!(text.lines().count() > 10_000);
    let story = explain(&path);
    let n = story.lines().count();
    assert!((15..=70).contains(&n), "{n} lines:\n{story}");
}

// ---- another protocol's words ----

#[test]
fn explain_and_perfetto_speak_the_words_of_the_traces_vocabulary() {
    let dir = temp_dir("export-other-words");
    let (path, text) = traced(
        &dir,
        "raft/partial-partition",
        &["--set", "protocol.params.pre_vote=false"],
    );
    let renamed = dir.join("renamed.jsonl");
    std::fs::write(&renamed, in_other_words(&text)).unwrap();
    let raft = explain(&path);
    let story = explain(&renamed);
    for needle in [
        "n2 becomes chief of era 1 (0.000887s after its candidacy)",
        "n2 reaches settled 99",
        "n2 steps down from chief to deputy",
        "n1 becomes chief of era 4 (since 1.198002s: n1 n5 stand for election in eras 2-4)",
        "Progress: n1 reached settled 527 by 5.980068s",
    ] {
        assert!(story.contains(needle), "{needle:?} in\n{story}");
    }
    // The same story, line for line, in the other words: only the words changed.
    assert_eq!(story.lines().count(), raft.lines().count(), "{story}");
    for (a, b) in raft.lines().zip(story.lines()) {
        let translated = a
            .replace("leader of term", "chief of era")
            .replace("from leader to follower", "from chief to deputy")
            .replace("in terms", "in eras")
            .replace("reaches commit", "reaches settled")
            .replace("reached commit", "reached settled");
        assert_eq!(translated, b);
    }
    for raft_word in ["leader of", "term", "commit "] {
        let told: Vec<&str> = story
            .lines()
            .skip(2) // the scenario's own description
            .filter(|l| l.contains(raft_word) && !l.contains("check "))
            .collect();
        assert!(told.is_empty(), "{raft_word:?}: {told:?}");
    }

    // Perfetto: a thread per vocabulary key, and n2's chief slice until it steps down.
    let events = check_trace_event_format(&export(&renamed, "perfetto"));
    let threads: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name" && e["pid"] == 3)
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    assert_eq!(
        threads,
        ["status", "duty", "era", "boss", "notes", "activity"]
    );
    assert!(events.iter().any(|e| e["ph"] == "X"
        && e["pid"] == 3
        && e["name"] == "chief"
        && e["ts"].as_u64().unwrap() + e["dur"].as_u64().unwrap() == 1_200_051));
}

/// The tools (viewer, explain, exports, the record readers), the trace reader and the swarm
/// speak of roles, epochs and progress only through the vocabulary: none of their files,
/// unit tests, script, style or page template holds one of Raft's annotation words as a
/// string literal, and the viewer's assets do not hold Raft's role values at all.
#[test]
fn the_tools_name_no_protocols_words() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![
        root.join("src/trace/doc.rs"),
        root.join("src/faults/swarm.rs"),
    ];
    let mut dirs = vec![root.join("src/tools")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    let words = ["role", "term", "commit", "leader", "candidate", "follower"];
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let asset = file.extension().is_none_or(|e| e != "rs");
        for (i, line) in text.lines().enumerate() {
            for w in words {
                let quoted = [format!("\"{w}\""), format!("'{w}'")];
                let bare = asset
                    && ["leader", "candidate", "follower"].contains(&w)
                    && line
                        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                        .any(|token| token == w);
                if quoted.iter().any(|q| line.contains(q.as_str())) || bare {
                    found.push(format!("{}:{}: {w}", file.display(), i + 1));
                }
            }
        }
    }
    assert!(files.len() >= 10, "{files:?}");
    assert!(found.is_empty(), "{found:#?}");
}

// ---- bad input ----

#[test]
fn bad_traces_are_errors_with_file_line_and_column() {
    let dir = temp_dir("export-bad");
    let (path, text) = traced(&dir, "ping/basic", &[]);
    let broken = dir.join("broken.jsonl");
    let mut lines: Vec<&str> = text.lines().collect();
    lines[3] = "{\"step\": 3, \"t\": ";
    std::fs::write(&broken, lines.join("\n")).unwrap();
    let shown = broken.display().to_string();
    for args in [
        vec!["explain", shown.as_str()],
        vec!["export", shown.as_str(), "--format", "shiviz"],
    ] {
        let (code, out, err) = cli(&args);
        assert_eq!(code, 2, "{out}{err}");
        assert!(err.starts_with(&format!("error: {shown}:4:")), "{err}");
    }
    // A record of the right shape that names a node the run does not have.
    let mut lines: Vec<&str> = text.lines().collect();
    let send = lines
        .iter()
        .position(|l| l.contains("\"ev\":\"send\""))
        .unwrap();
    let bad = lines[send].replacen("\"from\":\"n", "\"from\":\"n9", 1);
    lines[send] = &bad;
    std::fs::write(&broken, lines.join("\n")).unwrap();
    for format in ["perfetto", "shiviz"] {
        let (code, _, err) = cli(&["export", &shown, "--format", format]);
        assert_eq!(code, 2);
        assert!(
            err.starts_with(&format!("error: {shown}:{}:1: send: from \"n9", send + 1)),
            "{err}"
        );
    }
    let (code, _, err) = cli(&["explain", "/nonexistent/trace.jsonl"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot open"), "{err}");
    std::fs::write(&broken, "").unwrap();
    let (code, _, err) = cli(&["explain", &shown]);
    assert_eq!(code, 2);
    assert!(err.starts_with(&format!("error: {shown}:1:1:")), "{err}");
    let (code, _, err) = cli(&["export", path.to_str().unwrap(), "--format", "svg"]);
    assert_eq!(code, 2);
    assert!(err.contains("perfetto, shiviz, jepsen"), "{err}");
}
