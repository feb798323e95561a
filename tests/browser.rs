//! The viewer in a real browser: `run --view` writes a page for every bundled scenario and for
//! a run of more than 100,000 records, and `tests/browser/check.mjs` drives them all in
//! headless Chromium (lanes, arrows, stepping, the jump to a violation, no script errors) and
//! saves a screenshot of each under `target/faultline/screenshots/`.
//!
//! Needs `/usr/bin/chromium` (or `FAULTLINE_CHROMIUM`), `node`, and `npm ci --prefix
//! tests/browser`. Without them the test says why and passes, unless
//! `FAULTLINE_REQUIRE_BROWSER=1` (as in CI), when it fails.

mod common;

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

#[test]
#[allow(clippy::disallowed_types)] // wall time of the browser check, printed for people only
fn every_bundled_scenario_and_a_100k_record_run_render_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = std::env::var_os("FAULTLINE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if let Some(why) = missing(root, &chromium) {
        if std::env::var("FAULTLINE_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("FAULTLINE_REQUIRE_BROWSER=1 but the browser check cannot run: {why}");
        }
        eprintln!("browser test skipped: {why}");
        return;
    }
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

    let started = std::time::Instant::now();
    let result = Command::new("node")
        .arg(root.join("tests/browser/check.mjs"))
        .arg("--chromium")
        .arg(&chromium)
        .arg("--screenshots")
        .arg(out.join("screenshots"))
        .args(&pages)
        .output()
        .expect("node runs");
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
}
