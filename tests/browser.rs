//! The viewer in a real browser: `run --view` writes a page for every bundled scenario and for
//! a run of more than 100,000 records, and `tests/browser/check.mjs` drives them all in
//! headless Chromium (lanes, arrows, stepping, the jump to a violation, no script errors) and
//! saves a screenshot of each under `target/faultline/screenshots/`. Then the playground
//! (`faultline serve` on a free port): `tests/browser/playground.mjs` clicks through one
//! what-if and checks the departure point and both verdicts.
//!
//! It also checks the panels drawn from published state (`state`, `armed` and `disarmed`
//! records), the cluster view, the filters and play, one scenario per bundled protocol for a
//! non-empty state panel (once the engine publishes state), and the page inside an iframe
//! talking to its parent as the playground does. With `FAULTLINE_BROWSER_BIG=1` it also writes
//! a page of about a million records and prints its size and load time.
//!
//! Needs `/usr/bin/chromium` (or `FAULTLINE_CHROMIUM`), `node`, and `npm ci --prefix
//! tests/browser`. Without them the test is reported as ignored, with the reason, in the
//! runner's own summary (`test ... ignored, needs Chromium: ...` and `1 ignored`), never as
//! `ok`; with `FAULTLINE_REQUIRE_BROWSER=1` (as in CI) it fails instead.
//!
//! Whether the browser is there is only known when the test runs, and libtest decides
//! `#[ignore]` at build time, so this file has its own `main` (`harness = false` in
//! Cargo.toml): it probes, then runs the test or reports it ignored, in libtest's format.

mod common;
#[path = "common/playground.rs"]
mod playground;

use common::{cli, in_other_words};
use std::path::{Path, PathBuf};
use std::process::Command;

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Why the browser check cannot run here, if it cannot.
fn missing(root: &Path, chromium: &Path) -> Option<String> {
    if !chromium.exists() {
        return Some(format!(
            "{} not found (apt-get install chromium, or set FAULTLINE_CHROMIUM)",
            chromium.display()
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("node is not on the PATH".into());
    }
    if !root
        .join("tests/browser/node_modules/playwright-core")
        .exists()
    {
        return Some(
            "tests/browser/node_modules is missing (npm ci --prefix tests/browser)".into(),
        );
    }
    None
}

/// The one test in this file.
const NAME: &str = "every_bundled_scenario_and_a_100k_record_run_render_in_headless_chromium";

/// What the runner should do with the test.
#[derive(Debug, PartialEq)]
enum Plan {
    /// Run it.
    Run,
    /// Report it ignored, with this reason.
    Ignore(String),
    /// Fail it: the browser is required (CI) but missing.
    Fail(String),
    /// Leave it out: the command line's filter does not match it.
    FilteredOut,
}

/// The plan for the arguments libtest would get (filters, `--exact`, `--skip`, `--ignored`,
/// `--include-ignored`; other flags are accepted and do not matter for one test), why the
/// browser is missing if it is, and whether it is required.
fn plan(args: &[String], missing: Option<String>, required: bool) -> Plan {
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let (mut exact, mut only_ignored) = (false, false);
    let mut args = args.iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--exact" => exact = true,
            "--ignored" => only_ignored = true,
            "--skip" => skips.extend(args.next().cloned()),
            // Flags with a value.
            "--test-threads" | "--format" | "--color" | "--logfile" | "-Z" | "--report-time" => {
                let _ = args.next();
            }
            f if f.starts_with('-') => {}
            f => filters.push(f.to_string()),
        }
    }
    let matches = |f: &String| {
        if exact {
            NAME == f
        } else {
            NAME.contains(f.as_str())
        }
    };
    if (!filters.is_empty() && !filters.iter().any(matches))
        || skips.iter().any(|s| NAME.contains(s.as_str()))
    {
        return Plan::FilteredOut;
    }
    match missing {
        None if only_ignored => Plan::FilteredOut,
        None => Plan::Run,
        Some(why) if required => Plan::Fail(format!(
            "FAULTLINE_REQUIRE_BROWSER=1 but the browser check cannot run: {why}"
        )),
        Some(why) => Plan::Ignore(format!("needs Chromium: {why}")),
    }
}

/// Runs the test, or reports it ignored, and prints what libtest prints: the runner's
/// summary counts an ignored test as ignored.
fn main() {
    plan_self_test();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        if plan(&args, None, false) != Plan::FilteredOut {
            println!("{NAME}: test");
        }
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = chromium();
    let required = std::env::var("FAULTLINE_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let plan = plan(&args, missing(root, &chromium), required);
    let count = usize::from(plan != Plan::FilteredOut);
    println!(
        "\nrunning {count} test{}",
        if count == 1 { "" } else { "s" }
    );
    let (passed, failed, ignored) = match plan {
        Plan::FilteredOut => (0, 0, 0),
        Plan::Ignore(why) => {
            println!("test {NAME} ... ignored, {why}");
            (0, 0, 1)
        }
        Plan::Fail(why) => {
            println!("test {NAME} ... FAILED");
            println!("\nfailures:\n\n---- {NAME} ----\n{why}\n");
            (0, 1, 0)
        }
        Plan::Run => match std::panic::catch_unwind(|| browser_check(root, &chromium)) {
            Ok(()) => {
                println!("test {NAME} ... ok");
                (1, 0, 0)
            }
            Err(_) => {
                // The panic message is already on stderr.
                println!("test {NAME} ... FAILED");
                (0, 1, 0)
            }
        },
    };
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; {ignored} ignored; 0 measured; {} filtered out\n",
        if failed == 0 { "ok" } else { "FAILED" },
        1 - count
    );
    if failed > 0 {
        std::process::exit(101);
    }
}

fn chromium() -> PathBuf {
    std::env::var_os("FAULTLINE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

#[allow(clippy::disallowed_types)] // wall time of the browser check, printed for people only
fn browser_check(root: &Path, chromium: &Path) {
    let out = target_dir(root).join("faultline");
    let pages_dir = out.join("pages");
    let _ = std::fs::remove_dir_all(&pages_dir);
    std::fs::create_dir_all(&pages_dir).unwrap();
    let mut pages = Vec::new();
    for name in faultline::scenario::bundled_names() {
        let page = pages_dir.join(format!("{}.html", name.replace('/', "-")));
        let shown = page.to_str().unwrap();
        let (code, o, e) = cli(&["run", name, "-q", "--view", shown]);
        assert!([0, 1, 4].contains(&code), "{name}: exit {code}\n{o}{e}");
        assert!(page.exists(), "{name}: no page written\n{o}{e}");
        pages.push(page);
    }
    // A long Raft run: more than 100,000 records in one page.
    let big = pages_dir.join("raft-leader-crash-100k.html");
    let (code, o, e) = cli(&[
        "run",
        "raft/leader-crash",
        "--set",
        "limits.time_ms=30000",
        "--json",
        "--view",
        big.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{o}{e}");
    let summary: serde_json::Value = serde_json::from_str(o.trim()).unwrap();
    let records = summary["records"].as_u64().unwrap();
    assert!(records >= 100_000, "only {records} records");
    pages.push(big.clone());
    eprintln!(
        "100k page: {records} records, {} bytes",
        std::fs::metadata(&big).unwrap().len()
    );

    // A trace whose texts try to break out of the data block: the page must still render
    // without errors (check.mjs fails on any script error).
    let trace = pages_dir.join("hostile.jsonl");
    let (code, o, e) = cli(&[
        "run",
        "ping/partition-heal",
        "-q",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{o}{e}");
    let hostile = "</script><script>throw new Error('escaped')</script><!-- \u{2028} & <b>";
    let text = std::fs::read_to_string(&trace).unwrap();
    let mut lines: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if i == 0 {
            v["scenario"]["description"] = hostile.into();
        } else if v["ev"] == "note" {
            v["value"] = hostile.into();
        }
        lines.push(v.to_string());
    }
    std::fs::write(&trace, lines.join("\n") + "\n").unwrap();
    let (code, o, e) = cli(&["view", trace.to_str().unwrap()]);
    assert_eq!(code, 0, "{o}{e}");
    pages.push(pages_dir.join("hostile.html"));

    // A Raft run told in a made-up protocol's words: the page must colour and label its role
    // bands from the vocabulary alone (check.mjs checks the bands, labels and legend).
    let raft = pages_dir.join("raft.jsonl");
    let (code, o, e) = cli(&[
        "run",
        "raft/leader-crash",
        "-q",
        "--trace",
        raft.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{o}{e}");
    let renamed = pages_dir.join("renamed-words.jsonl");
    std::fs::write(
        &renamed,
        in_other_words(&std::fs::read_to_string(&raft).unwrap()),
    )
    .unwrap();
    let (code, o, e) = cli(&["view", renamed.to_str().unwrap()]);
    assert_eq!(code, 0, "{o}{e}");
    let renamed_page = pages_dir.join("renamed-words.html");
    let html = std::fs::read_to_string(&renamed_page).unwrap();
    assert!(!html.contains(r#""key":"role""#) && html.contains(r#""role":"duty""#));
    pages.push(renamed_page);

    // The same run with published state and timers added from its notes and timer records:
    // the state panel, the log grid and the timer bars have something to draw whatever the
    // engine publishes.
    let published = pages_dir.join("published-state.jsonl");
    std::fs::write(
        &published,
        with_published_state(&std::fs::read_to_string(&raft).unwrap()),
    )
    .unwrap();
    let (code, o, e) = cli(&["view", published.to_str().unwrap()]);
    assert_eq!(code, 0, "{o}{e}");
    let published_page = pages_dir.join("published-state.html");
    pages.push(published_page.clone());

    // One scenario per bundled protocol must show a non-empty state panel, once the engine
    // writes `state` records (the raft run above tells whether it does).
    let engine_publishes = std::fs::read_to_string(&raft)
        .unwrap()
        .contains(r#""ev":"state""#);
    let mut needs_state = vec![published_page.clone()];
    if engine_publishes {
        let mut protocols: Vec<&str> = faultline::scenario::bundled_names()
            .into_iter()
            .filter_map(|n| n.split_once('/').map(|(p, _)| p))
            .filter(|p| *p != "regressions")
            .collect();
        protocols.dedup();
        for protocol in protocols {
            let first = pages
                .iter()
                .find(|p| {
                    p.file_name()
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .starts_with(&format!("{protocol}-"))
                })
                .unwrap_or_else(|| panic!("no bundled scenario of {protocol}"));
            needs_state.push(first.clone());
        }
    } else {
        eprintln!("the engine writes no state records yet: the per-protocol state check waits");
    }

    // About a million records, on request: its size and load time are printed, not asserted.
    if std::env::var("FAULTLINE_BROWSER_BIG").is_ok_and(|v| v == "1") {
        let huge = pages_dir.join("raft-leader-crash-1m.html");
        let (code, o, e) = cli(&[
            "run",
            "raft/leader-crash",
            "--set",
            "limits.time_ms=300000",
            "--json",
            "--view",
            huge.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{o}{e}");
        let summary: serde_json::Value = serde_json::from_str(o.trim()).unwrap();
        eprintln!(
            "1M page: {} records, {} bytes",
            summary["records"],
            std::fs::metadata(&huge).unwrap().len()
        );
        pages.push(huge);
    }

    let mut node = Command::new("node");
    node.arg(root.join("tests/browser/check.mjs"))
        .arg("--chromium")
        .arg(chromium)
        .arg("--screenshots")
        .arg(out.join("screenshots"))
        .arg("--embed")
        .arg(&published_page);
    for p in &needs_state {
        node.arg("--needs-state").arg(p);
    }
    let started = std::time::Instant::now();
    let result = node.args(&pages).output().expect("node runs");
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    eprintln!(
        "{stdout}{stderr}browser check took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(result.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("{} page(s) checked", pages.len())),
        "{stdout}"
    );
    let renamed_line = stdout
        .lines()
        .find(|l| l.contains("renamed-words.html"))
        .unwrap();
    assert!(
        renamed_line.contains("leading band(s) drawn"),
        "{renamed_line}"
    );
    playground_check(root, chromium, &out);
}

/// The playground (`faultline serve` on a free port): `tests/browser/playground.mjs` runs
/// raft/leader-crash, crashes its first leading node through the viewer's pick message, and
/// checks the departure point and both verdicts on the page.
fn playground_check(root: &Path, chromium: &Path, out: &Path) {
    let dir = out.join("playground");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let server = playground::Playground::start(&dir, &[]);
    let result = Command::new("node")
        .arg(root.join("tests/browser/playground.mjs"))
        .arg("--url")
        .arg(server.url())
        .arg("--chromium")
        .arg(chromium)
        .arg("--screenshots")
        .arg(out.join("screenshots"))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(result.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("departure step"), "{stdout}");
}

/// A trace with published state added, for the page's state panel, log grid and timers: each
/// note becomes a `state` record setting that key, each node's log grows to its noted progress
/// (entries marked with the epoch noted then, committed up to it), a start publishes a `full`
/// snapshot, and each firing of a timer gets an `armed` record, due when it fired, right after
/// the node's previous event of that timer (or its start).
fn with_published_state(trace: &str) -> String {
    use serde_json::{Value, json};
    use std::collections::BTreeMap;
    let lines: Vec<Value> = trace
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let vocabulary = lines[0]["vocabulary"].clone();
    // Records to write after line i.
    let mut after: BTreeMap<usize, Vec<Value>> = BTreeMap::new();
    let mut epoch: BTreeMap<String, u64> = BTreeMap::new();
    let mut log_len: BTreeMap<String, u64> = BTreeMap::new();
    let mut started: BTreeMap<String, usize> = BTreeMap::new();
    let mut last_timer: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (i, v) in lines.iter().enumerate().skip(1) {
        let (step, t) = (v["step"].clone(), v["t"].clone());
        let node = v["node"].as_str().unwrap_or("").to_string();
        match v["ev"].as_str().unwrap_or("") {
            "start" => {
                log_len.insert(node.clone(), 0);
                started.insert(node.clone(), i);
                after
                    .entry(i)
                    .or_default()
                    .push(json!({"step": step, "t": t, "ev": "state",
                    "node": node, "full": true, "set": {"incarnation": v["incarnation"]},
                    "logs": {"log": {"keep": 0, "add": [], "committed": 0}}}));
            }
            "note" => {
                let key = v["key"].as_str().unwrap();
                let mut r = json!({"step": step, "t": t, "ev": "state", "node": node,
                    "set": {key: v["value"]}});
                if Some(key) == vocabulary["epoch"].as_str() {
                    epoch.insert(node.clone(), v["value"].as_u64().unwrap_or(0));
                }
                if Some(key) == vocabulary["progress"][0].as_str() {
                    let upto = v["value"].as_u64().unwrap_or(0);
                    let len = log_len.entry(node.clone()).or_insert(0);
                    let mark = epoch.get(&node).copied().unwrap_or(0);
                    let add: Vec<Value> = (*len..upto)
                        .map(|p| json!([mark, {"put": ["k", p + 1]}]))
                        .collect();
                    r["logs"] = json!({"log": {"keep": *len, "add": add, "committed": upto}});
                    *len = (*len).max(upto);
                }
                after.entry(i).or_default().push(r);
            }
            "timer" => {
                let key = (node.clone(), v["timer"].to_string());
                let from = last_timer
                    .insert(key, i)
                    .or_else(|| started.get(&node).copied());
                if let Some(j) = from {
                    let at = &lines[j];
                    after
                        .entry(j)
                        .or_default()
                        .push(json!({"step": at["step"], "t": at["t"],
                        "ev": "armed", "node": node, "timer": v["timer"], "fires": t}));
                }
            }
            _ => {}
        }
    }
    let mut out = String::new();
    for (i, v) in lines.iter().enumerate() {
        out.push_str(&v.to_string());
        out.push('\n');
        for r in after.get(&i).into_iter().flatten() {
            out.push_str(&r.to_string());
            out.push('\n');
        }
    }
    out
}

/// The plan, checked without a browser (`main` runs this first, every time): an unmet need is
/// `ignored` with its reason, or a failure when required; filters work as libtest's.
fn plan_self_test() {
    let none: [String; 0] = [];
    let why = || Some("/usr/bin/chromium not found".to_string());
    assert_eq!(plan(&none, None, false), Plan::Run);
    assert_eq!(
        plan(&none, why(), false),
        Plan::Ignore("needs Chromium: /usr/bin/chromium not found".into())
    );
    assert!(
        matches!(plan(&none, why(), true), Plan::Fail(w) if w.starts_with("FAULTLINE_REQUIRE_BROWSER=1"))
    );
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(plan(&args(&["render"]), None, false), Plan::Run);
    assert_eq!(plan(&args(&["other_test"]), why(), true), Plan::FilteredOut);
    assert_eq!(
        plan(&args(&["--exact", "render"]), None, false),
        Plan::FilteredOut
    );
    assert_eq!(
        plan(&args(&["--skip", "chromium"]), None, false),
        Plan::FilteredOut
    );
    assert_eq!(
        plan(&args(&["--test-threads", "1", "-q"]), why(), false),
        Plan::Ignore("needs Chromium: /usr/bin/chromium not found".into())
    );
    assert_eq!(plan(&args(&["--ignored"]), None, false), Plan::FilteredOut);
}
