//! Determinism: every bundled scenario runs twice to the same fingerprint, each one's
//! fingerprint is pinned (tests/golden/fingerprints.txt; rewrite with UPDATE_GOLDEN=1 only
//! when you understand why runs changed), different seeds differ, and a replay of a tampered
//! trace names the step and exits 3.

mod common;

use common::{MemSink, cli, temp_dir};
use faultline::protocols::AnyScenario;
use faultline::scenario::bundled_names;
use std::collections::BTreeMap;

fn fingerprint(name: &str, seed: Option<u64>) -> (u64, u64) {
    let scn = AnyScenario::bundled(name, &[]).unwrap();
    let seed = seed.unwrap_or(scn.file.seed);
    let r = scn.run(seed, None).unwrap();
    (r.fingerprint, r.steps)
}

#[test]
fn every_bundled_scenario_runs_twice_to_the_same_fingerprint() {
    for name in bundled_names() {
        let a = fingerprint(name, None);
        let b = fingerprint(name, None);
        assert_eq!(a, b, "{name} is not deterministic");
        // Shrunk regression cases are meant to be tiny (a one-node case fails at step 3), and
        // tests/regressions.rs proves each one still ends as it must; the explorer's
        // scenarios are small too; the rest should do real work.
        let min = if name.starts_with("regressions/") {
            2
        } else if name.contains("/explore-") {
            // Built for the explorer: a few operations, small on purpose (docs/explore.md).
            20
        } else {
            50
        };
        assert!(a.1 > min, "{name} ran only {} steps", a.1);
    }
}

#[test]
fn the_trace_does_not_change_the_fingerprint() {
    for name in bundled_names() {
        let scn = AnyScenario::bundled(name, &[]).unwrap();
        let sink = MemSink::default();
        let with = scn
            .run(scn.file.seed, Some(Box::new(sink.clone())))
            .unwrap();
        let without = scn.run(scn.file.seed, None).unwrap();
        assert_eq!(with.fingerprint, without.fingerprint, "{name}");
        // One line per record, plus display records (timers, published state), which are
        // neither folded nor counted.
        let lines = sink.0.borrow();
        let display = lines
            .iter()
            .filter(|l| faultline::trace::is_display_line(l))
            .count();
        assert_eq!(
            with.records as usize,
            lines.len() - display,
            "{name}: one line per record"
        );
    }
}

#[test]
fn different_seeds_give_different_runs() {
    for name in bundled_names() {
        let a = fingerprint(name, Some(1));
        let b = fingerprint(name, Some(2));
        assert_ne!(a.0, b.0, "{name}: seeds 1 and 2 gave the same run");
    }
}

#[test]
fn fingerprints_are_pinned() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/fingerprints.txt");
    let got: BTreeMap<String, String> = bundled_names()
        .into_iter()
        .map(|n| {
            let (fp, steps) = fingerprint(n, None);
            (n.to_string(), format!("{fp:016x} {steps}"))
        })
        .collect();
    let text: String = got.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .expect("tests/golden/fingerprints.txt (create it with UPDATE_GOLDEN=1)");
    let want: BTreeMap<String, String> = want
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    for (name, fp) in &got {
        match want.get(name) {
            Some(w) => assert_eq!(
                w, fp,
                "{name}: the run changed (fingerprint and step count). If that is intended, rerun with UPDATE_GOLDEN=1 and explain the change in the commit"
            ),
            None => panic!("{name} has no pinned fingerprint; rerun with UPDATE_GOLDEN=1"),
        }
    }
    assert_eq!(want.len(), got.len(), "a pinned scenario no longer exists");
}

#[test]
fn replay_matches_and_tampering_is_caught_at_its_step() {
    let dir = temp_dir("replay");
    let trace = dir.join("run.jsonl");
    let t = trace.to_str().unwrap();
    let (code, out, _) = cli(&["run", "ping/crash-restart", "--trace", t]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !dir.join("run.jsonl.partial").exists(),
        "the partial file is renamed once complete"
    );
    let (code, out, err) = cli(&["replay", t]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("IDENTICAL"), "{out}");

    let text = std::fs::read_to_string(&trace).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let i = lines
        .iter()
        .position(|l| l.contains("\"ev\":\"deliver\"") && l.contains("\"step\":500"))
        .or_else(|| lines.iter().position(|l| l.contains("\"ev\":\"deliver\"")))
        .unwrap();
    let step = serde_json::from_str::<serde_json::Value>(&lines[i]).unwrap()["step"]
        .as_u64()
        .unwrap();
    lines[i] = lines[i].replacen("\"to\":\"n", "\"to\":\"c", 1);
    let tampered = dir.join("tampered.jsonl");
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let (code, out, _) = cli(&["replay", tampered.to_str().unwrap()]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains(&format!("(step {step})")),
        "names the step: {out}"
    );
    assert!(
        out.contains("recorded:") && out.contains("replayed:"),
        "shows both versions: {out}"
    );

    // A truncated trace (no summary) is not a divergence: what it holds matched, and the
    // file is short, which is bad input that says how far it matched.
    let cut: Vec<String> = text
        .lines()
        .filter(|l| !faultline::trace::is_display_line(l))
        .take(50)
        .map(String::from)
        .collect();
    let truncated = dir.join("truncated.jsonl");
    std::fs::write(&truncated, cut.join("\n") + "\n").unwrap();
    let (code, out, err) = cli(&["replay", truncated.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("the trace is cut") && err.contains("matched 49 records"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
