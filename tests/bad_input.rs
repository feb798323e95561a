//! Hostile input never panics: every prefix of every bundled scenario, and mutations of each
//! of its values, go through `validate` and `run`; each ends with exit 0, 1, 2 or 4.

mod common;

use common::{cli, temp_dir};
use faultline::scenario::{bundled, bundled_names};
use serde_json::Value;

fn mutations(v: &Value) -> Vec<Value> {
    let mut out = vec![Value::Null, serde_json::json!([]), serde_json::json!({})];
    match v {
        Value::Number(_) => {
            for n in [
                serde_json::json!(0),
                serde_json::json!(-1),
                serde_json::json!(1u64 << 63),
                serde_json::json!(1e300),
                serde_json::json!(0.5),
                serde_json::json!(3),
            ] {
                out.push(n);
            }
            out.push(Value::String("7".into()));
        }
        Value::String(s) => {
            for t in ["", "n0", "n999", "c1", "c99", "x", "unreliable", "restart"] {
                out.push(Value::String(t.into()));
            }
            out.push(Value::String(s.repeat(3)));
            out.push(serde_json::json!(1));
        }
        Value::Bool(b) => out.push(Value::Bool(!b)),
        Value::Array(a) => {
            if let Some(first) = a.first() {
                out.push(Value::Array(vec![first.clone(), first.clone()]));
                out.push(Value::Array(a.iter().rev().cloned().collect()));
            }
        }
        Value::Object(_) | Value::Null => {}
    }
    out
}

/// Every (path, value) leaf and inner node of a document.
fn paths(v: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    out.push((prefix.to_string(), v.clone()));
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                paths(x, &p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                paths(x, &format!("{prefix}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn set(doc: &mut Value, path: &str, value: Value) {
    faultline::scenario::apply_override(doc, &format!("{path}={value}")).unwrap();
}

fn check(file: &std::path::Path, what: &str) {
    let p = file.to_str().unwrap();
    let (code, out, err) = cli(&["validate", p]);
    assert!(
        code == 0 || code == 2,
        "validate {what}: exit {code}\n{out}{err}"
    );
    if code == 2 {
        assert!(
            err.starts_with("error: ") && err.contains(p),
            "validate {what}: the error names the file: {err}"
        );
        return;
    }
    // Keep the runs short: the point is that nothing panics or hangs.
    let (code, out, err) = cli(&[
        "run",
        p,
        "--quiet",
        "--set",
        "limits.events_max=3000",
        "--set",
        "limits.pending_max=5000",
    ]);
    assert!(
        [0, 1, 2, 4].contains(&code),
        "run {what}: exit {code}\n{out}{err}"
    );
}

#[test]
fn every_prefix_of_every_bundled_scenario_is_handled() {
    let dir = temp_dir("prefixes");
    let file = dir.join("s.json");
    let mut tried = 0;
    for name in bundled_names() {
        let text = bundled(name).unwrap();
        // Every proper prefix of the document (the complete text minus trailing space is valid).
        let complete = text.trim_end().len();
        for (cut, _) in text.char_indices().filter(|&(i, _)| i < complete) {
            std::fs::write(&file, &text[..cut]).unwrap();
            for cmd in ["validate", "run"] {
                let (code, out, err) = cli(&[cmd, file.to_str().unwrap()]);
                assert_eq!(
                    code, 2,
                    "{cmd}: {name} cut at byte {cut} must be rejected\n{out}{err}"
                );
                assert!(err.contains("s.json:"), "{err}");
            }
            tried += 1;
        }
    }
    assert!(tried > 3_000, "{tried}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mutated_values_never_panic() {
    let dir = temp_dir("mutations");
    let file = dir.join("s.json");
    let mut tried = 0;
    for name in bundled_names() {
        let doc: Value = serde_json::from_str(bundled(name).unwrap()).unwrap();
        let mut all = Vec::new();
        paths(&doc, "", &mut all);
        for (path, value) in all
            .iter()
            .filter(|(p, _)| !p.is_empty() && p != "description")
        {
            for m in mutations(value) {
                let mut d = doc.clone();
                set(&mut d, path, m.clone());
                std::fs::write(&file, serde_json::to_string_pretty(&d).unwrap()).unwrap();
                check(&file, &format!("{name} with {path} = {m}"));
                tried += 1;
            }
        }
    }
    assert!(tried > 1_000, "{tried}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn absurd_sizes_are_refused_quickly() {
    let dir = temp_dir("absurd");
    let file = dir.join("s.json");
    let base: Value = serde_json::from_str(bundled("ping/basic").unwrap()).unwrap();
    for (path, value, expect) in [
        ("nodes", serde_json::json!(1_000_000), "nodes"),
        (
            "limits.time_ms",
            serde_json::json!(100u64 * 365 * 24 * 3_600_000),
            "limits.time_ms",
        ),
        (
            "limits.events_max",
            serde_json::json!(0),
            "limits.events_max",
        ),
        (
            "workload.clients",
            serde_json::json!(5_000_000),
            "workload.clients",
        ),
        (
            "network.latency",
            serde_json::json!({"uniform": {"min_us": 10, "max_us": 1u64 << 60}}),
            "network.latency",
        ),
    ] {
        let mut d = base.clone();
        set(&mut d, path, value);
        std::fs::write(&file, serde_json::to_string_pretty(&d).unwrap()).unwrap();
        let (code, _, err) = cli(&["validate", file.to_str().unwrap()]);
        assert_eq!(code, 2, "{path}: {err}");
        assert!(err.contains(expect), "{path}: {err}");
    }
    // A century of virtual time is refused; a year with a tiny event budget ends as a clear failure.
    let mut d = base.clone();
    set(
        &mut d,
        "limits.time_ms",
        serde_json::json!(365u64 * 24 * 3_600_000),
    );
    set(&mut d, "limits.events_max", serde_json::json!(100));
    std::fs::write(&file, serde_json::to_string_pretty(&d).unwrap()).unwrap();
    let (code, out, _) = cli(&["run", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("event_budget"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}
