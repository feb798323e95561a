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

/// A complete trace of a short run, written by the CLI into `dir`.
fn a_trace(dir: &std::path::Path) -> std::path::PathBuf {
    let trace = dir.join("ok.jsonl");
    let (code, out, err) = cli(&[
        "run",
        "ping/basic",
        "--set",
        "limits.time_ms=200",
        "--trace",
        trace.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    trace
}

/// Every command that reads a file, with `input` as the file it reads.
fn every_reading_command(input: &str, dir: &std::path::Path) -> Vec<(&'static str, Vec<String>)> {
    let page = dir.join("page.html").to_str().unwrap().to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        ("run", s(&["run", input])),
        ("validate", s(&["validate", input])),
        ("check-history", s(&["check-history", input])),
        ("trace show", s(&["trace", "show", input])),
        ("replay", s(&["replay", input])),
        ("view", s(&["view", input, "-o", &page])),
        ("export", s(&["export", input, "--format", "jepsen"])),
        ("explain", s(&["explain", input])),
        ("merge", s(&["merge", input])),
    ]
}

/// `/dev/zero` and `/dev/urandom` never end: every command that reads a file stops by itself
/// (the read is capped while it happens) and says so, exit 2.
#[cfg(unix)]
#[test]
fn endless_devices_are_refused_by_every_command() {
    let dir = temp_dir("endless");
    for device in ["/dev/zero", "/dev/urandom"] {
        for (what, args) in every_reading_command(device, &dir) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, out, err) = cli(&args);
            assert_eq!(code, 2, "{what} {device}: exit {code}\n{out}{err}");
            let first = err.lines().next().unwrap_or_default();
            assert!(
                first.starts_with(&format!("error: {device}")),
                "{what} {device}: {err}"
            );
            // Random bytes may hold a newline early (one byte in 256), so a command that
            // reads line by line can stop at a short first line that does not parse: still
            // exit 2 naming the device, but not a message about the read itself. /dev/zero
            // has no such luck, so its message is always about the read.
            assert!(
                device == "/dev/urandom"
                    || first.contains("more than")
                    || first.contains("longer than")
                    || first.contains("not UTF-8"),
                "{what} {device}: the message says what stopped the read: {first}"
            );
        }
    }
    // A scenario from a device is refused at the 16 MiB cap, and the message says why.
    let (_, _, err) = cli(&["run", "/dev/zero"]);
    assert!(
        err.starts_with(
            "error: /dev/zero: more than 16777216 bytes: a scenario file holds at most 16777216 bytes; a device or pipe that never ends is refused"
        ),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// An endless pipe on standard input: the read stops at its cap and the process exits 2,
/// which closes the pipe and stops the writer.
#[cfg(unix)]
#[test]
fn an_endless_pipe_is_refused() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    for (args, byte) in [
        (&["run", "/dev/stdin"][..], b' '),
        (&["validate", "/dev/stdin"][..], b'{'),
        (&["check-history", "/dev/stdin"][..], b' '),
        (&["trace", "show", "/dev/stdin"][..], b'x'),
        (&["replay", "/dev/stdin"][..], b'\n'),
        (&["merge", "/dev/stdin"][..], b'x'),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // Writes until the reader goes away (a broken pipe ends the loop).
        let writer = std::thread::spawn(move || {
            let block = [byte; 1 << 16];
            while stdin.write_all(&block).is_ok() {}
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: /dev/stdin"), "{args:?}: {err}");
    }
}

/// A named pipe that no process writes to: a plain open would wait for a writer forever.
/// Every command that reads a file opens it without waiting, reads it as empty and says
/// what it expected (exit 2). The child is killed if it has not ended after a minute, so a
/// regression fails instead of hanging the suite.
#[cfg(unix)]
#[test]
fn a_named_pipe_with_no_writer_is_refused_not_waited_on() {
    use std::process::{Command, Stdio};
    let dir = temp_dir("fifo");
    let fifo = dir.join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for (what, args) in every_reading_command(fifo.to_str().unwrap(), &dir) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut waited = 0;
        while child.try_wait().unwrap().is_none() && waited < 600 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            waited += 1;
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("{what}: still waiting on a named pipe with no writer after a minute");
        }
        let output = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{what}: {err}");
        assert!(
            err.starts_with(&format!("error: {}", fifo.display())),
            "{what}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// `trace show` reads only traces: the first line must be a trace header and every line a
/// record, as for the other trace commands (exit 2, file:line and what was expected).
#[test]
fn trace_show_refuses_what_is_not_a_trace() {
    let dir = temp_dir("show");
    let trace = a_trace(&dir);
    let text = std::fs::read_to_string(&trace).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let record = lines.next().unwrap();
    let summary = text.lines().last().unwrap();
    let file = dir.join("t.jsonl");
    let shown = file.to_str().unwrap();
    for (content, expect) in [
        (
            String::new(),
            ":1:1: empty file: expected a faultline trace header",
        ),
        (
            "[1,2,3]\n".to_string(),
            ":1:1: the first line is not a faultline trace header",
        ),
        (
            "{\"a\":1}\n".to_string(),
            ":1:1: the first line is not a faultline trace header",
        ),
        (
            "{\"a\":1}\n{\"b\":2}\n".to_string(),
            ":1:1: the first line is not a faultline trace header",
        ),
        (
            "not json\n".to_string(),
            ":1:2: not a faultline trace header",
        ),
        (
            header.replace("\"schema\":1", "\"schema\":99") + "\n",
            ":1:1: schema: this faultline reads trace schema 1",
        ),
        (format!("{header}\n[1,2,3]\n"), ":2:1: ev: missing"),
        (format!("{header}\n{{\"a\":1}}\n"), ":2:1: ev: missing"),
        (
            format!("{header}\n{record}\nnot json\n"),
            ":3:2: not a JSON trace record",
        ),
        (format!("{header}\n{header}\n"), ":2:1: a second header"),
        (
            format!("{header}\n{summary}\n{record}\n"),
            ":3:1: a record after the summary line",
        ),
    ] {
        std::fs::write(&file, &content).unwrap();
        let (code, _, err) = cli(&["trace", "show", shown]);
        assert_eq!(code, 2, "{content:?}: {err}");
        assert!(
            err.starts_with(&format!("error: {shown}{expect}")),
            "{content:?}: expected {expect:?}, got {err}"
        );
        // The other trace commands refuse the same file too.
        let (code, _, err) = cli(&["explain", shown]);
        assert_eq!(code, 2, "explain {content:?}: {err}");
    }
    // A real trace still shows, header and summary included.
    let (code, out, err) = cli(&["trace", "show", trace.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .starts_with("# trace of ping/basic"),
        "{out}"
    );
    assert!(
        out.lines().last().unwrap().starts_with("# end: pass"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A directory given where a file is expected: every reading command says so, exit 2.
#[test]
fn a_directory_is_not_an_input_file() {
    let dir = temp_dir("directory");
    let input = dir.join("inputs");
    std::fs::create_dir_all(&input).unwrap();
    let shown = input.to_str().unwrap();
    for (what, args) in every_reading_command(shown, &dir) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = cli(&args);
        assert_eq!(code, 2, "{what}: exit {code}\n{out}{err}");
        assert!(
            err.starts_with(&format!("error: {shown}: is a directory; expected a file")),
            "{what}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A trace line longer than the line cap is refused with its line number, not read on.
#[test]
fn an_overlong_trace_line_is_refused_with_its_number() {
    let dir = temp_dir("longline");
    let trace = a_trace(&dir);
    let text = std::fs::read_to_string(&trace).unwrap();
    let header = text.lines().next().unwrap();
    let file = dir.join("long.jsonl");
    // A string of 65 MiB inside a record: over the 64 MiB line cap.
    let long = format!(
        "{header}\n{{\"step\":1,\"t\":0,\"ev\":\"note\",\"node\":\"n1\",\"key\":\"k\",\"value\":\"{}\"}}\n",
        "a".repeat(65 << 20)
    );
    std::fs::write(&file, long).unwrap();
    let shown = file.to_str().unwrap();
    for args in [
        vec!["trace", "show", shown],
        vec!["replay", shown],
        vec!["explain", shown],
    ] {
        let (code, _, err) = cli(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.starts_with(&format!(
                "error: {shown}:2: a line longer than 67108864 bytes"
            )),
            "{args:?}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
