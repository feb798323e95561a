//! The command line: exit codes, summaries, traces, validation and listing.

mod common;

use common::{cli, temp_dir};

#[test]
fn run_passes_with_exit_0_and_prints_seed_and_fingerprint() {
    let (code, out, err) = cli(&["run", "ping/basic"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("seed 1"), "{out}");
    assert!(out.contains("fingerprint "), "{out}");
    assert!(out.contains("syncs"), "{out}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("PASS seed 1 fingerprint "),
        "{out}"
    );
}

#[test]
fn a_failing_check_exits_1_with_the_check_step_time_nodes_and_a_replay_line() {
    let (code, out, _) = cli(&["run", "ping/bug-skip-boot-sync"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL safety: check pong_matches_ping (always) at step "),
        "{out}"
    );
    assert!(out.contains("nodes n1"), "{out}");
    assert!(
        out.contains("reproduce: faultline run ping/bug-skip-boot-sync --seed 1"),
        "{out}"
    );
    // The bug scenario says which check must catch it, and the run says it did.
    assert!(
        out.ends_with("outcome: fails pong_matches_ping, as the scenario expects\n"),
        "{out}"
    );
    // The replay line does replay it.
    let (code2, out2, _) = cli(&["run", "ping/bug-skip-boot-sync", "--seed", "1"]);
    assert_eq!((code2, out2), (1, out));
    // And with the bug switch off the same run passes; the file's outcome speaks of its own
    // run, not of this one, so it is not judged.
    let (code, out, _) = cli(&[
        "run",
        "ping/bug-skip-boot-sync",
        "--set",
        "protocol.params.bugs.skip_boot_sync=false",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("outcome"), "{out}");
}

#[test]
fn json_summary_is_one_object_with_the_counters() {
    let (code, out, _) = cli(&["run", "ping/crash-restart", "--json", "--seed", "3"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["seed"], 3);
    assert_eq!(v["verdict"]["verdict"], "pass");
    assert!(v["steps"].as_u64().unwrap() > 1000);
    assert_eq!(v["fingerprint"].as_str().unwrap().len(), 16);
    assert!(v["network"]["lost_receiver_down"].as_u64().unwrap() > 0);
    assert_eq!(v["incarnations"][1], 1);
    assert_eq!(v["reproduce"], "faultline run ping/crash-restart --seed 3");
}

#[test]
fn bad_input_exits_2_with_file_line_column_and_field() {
    let dir = temp_dir("badinput");
    let path = dir.join("bad.json");
    let text = faultline::scenario::bundled("ping/crash-restart")
        .unwrap()
        .replace("\"crash\": \"n2\"", "\"crash\": \"n7\"");
    std::fs::write(&path, text).unwrap();
    let p = path.to_str().unwrap();
    for cmd in ["run", "validate"] {
        let (code, out, err) = cli(&[cmd, p]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains(&format!("{p}:")) && err.contains("faults[0].crash: n7 does not exist"),
            "{err}"
        );
        let loc = err.split(':').nth(2).unwrap();
        assert!(
            loc.trim().parse::<usize>().is_ok(),
            "a line number follows the file name: {err}"
        );
    }
    let (code, _, err) = cli(&["run", "no/such/scenario"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("ping/basic"),
        "lists the bundled scenarios: {err}"
    );
    let (code, _, err) = cli(&["run", "ping/basic", "--set", "network.loss=2"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("network.loss") && err.contains("between 0 and 1"),
        "{err}"
    );
    let (code, _, _) = cli(&["run"]);
    assert_eq!(code, 2, "missing arguments are bad input");
    let (code, _, err) = cli(&["replay", p]);
    assert_eq!(code, 2, "a scenario is not a trace: {err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn trace_files_are_complete_or_marked_partial() {
    let dir = temp_dir("tracefile");
    let path = dir.join("t.jsonl");
    let (code, _, _) = cli(&[
        "run",
        "ping/partition-heal",
        "--trace",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&path).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["ev"], "header");
    assert_eq!(first["schema"], 1);
    assert_eq!(first["seed"], 3);
    assert_eq!(first["scenario"]["nodes"], 5);
    assert!(
        first["scenario"]["network"].get("preset").is_none(),
        "presets are resolved in the header"
    );
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["ev"], "summary");
    let kinds: std::collections::BTreeSet<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["ev"].as_str().map(String::from))
        .collect();
    for k in [
        "send", "deliver", "lost", "timer", "fault", "note", "sync", "invoke", "complete", "phase",
        "start",
    ] {
        assert!(kinds.contains(k), "the trace has {k} records: {kinds:?}");
    }
    assert!(!dir.join("t.jsonl.partial").exists());
    // A trace that cannot be written is an error, not a silent success.
    let (code, _, err) = cli(&[
        "run",
        "ping/basic",
        "--trace",
        dir.join("missing/dir/t.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn trace_show_filters_by_node_and_time() {
    let dir = temp_dir("show");
    let path = dir.join("t.jsonl");
    cli(&[
        "run",
        "ping/crash-restart",
        "--trace",
        path.to_str().unwrap(),
    ]);
    let (code, out, _) = cli(&[
        "trace",
        "show",
        path.to_str().unwrap(),
        "--node",
        "n2",
        "--from",
        "999ms",
        "--to",
        "1.2s",
    ]);
    assert_eq!(code, 0);
    let body: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim_start().starts_with("step"))
        .collect();
    assert!(
        body.iter()
            .any(|l| l.contains("! fault") && l.contains("crash n2")),
        "{out}"
    );
    assert!(
        body.iter()
            .any(|l| l.contains("x lost") && l.contains("receiver_down")),
        "{out}"
    );
    assert!(body.iter().all(|l| l.contains("n2")), "{out}");
    let (code, _, err) = cli(&["trace", "show", path.to_str().unwrap(), "--from", "soon"]);
    assert_eq!(code, 2, "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn list_and_validate_cover_every_bundled_scenario() {
    let (code, out, _) = cli(&["list"]);
    assert_eq!(code, 0);
    for name in faultline::scenario::bundled_names() {
        assert!(out.contains(name), "{name} listed");
        let (code, v, e) = cli(&["validate", name]);
        assert_eq!(code, 0, "{name}: {v}{e}");
    }
    assert!(out.contains("unreliable"), "presets listed");
}

#[test]
fn a_run_that_ends_before_its_checks_are_due_is_inconclusive() {
    let (code, out, _) = cli(&["run", "ping/crash-restart", "--set", "limits.time_ms=2520"]);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("INCONCLUSIVE seed 7")
            && out.contains("all_connected (within, after the restart of n2"),
        "{out}"
    );
    assert!(
        out.contains(
            "reproduce: faultline run ping/crash-restart --seed 7 --set limits.time_ms=2520"
        ),
        "{out}"
    );
}

#[test]
fn the_summary_marks_the_failed_check_and_trace_show_keeps_the_failure_for_its_nodes() {
    let (_, out, _) = cli(&["run", "ping/bug-skip-boot-sync"]);
    assert!(
        out.lines()
            .any(|l| l.contains("check pong_matches_ping") && l.contains("FAILED at step")),
        "{out}"
    );
    let dir = temp_dir("failshow");
    let path = dir.join("t.jsonl");
    cli(&[
        "run",
        "ping/bug-skip-boot-sync",
        "--trace",
        path.to_str().unwrap(),
    ]);
    let (_, shown, _) = cli(&[
        "trace",
        "show",
        path.to_str().unwrap(),
        "--node",
        "n2",
        "--from",
        "1.12s",
    ]);
    assert!(
        shown.contains("!! FAIL") && shown.contains("pong_matches_ping"),
        "{shown}"
    );
    // The summary line carries no tool version, so a replay by a later build compares events only.
    let text = std::fs::read_to_string(&path).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert!(last.get("version").is_none() && last["ev"] == "summary");
    let (_, json, _) = cli(&["run", "ping/basic", "--json"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["version"], faultline::VERSION);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn check_history_answers_with_exit_codes_0_1_2_and_4() {
    let dir = temp_dir("check-history");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let good = write(
        "good.log",
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 1\t:invoke\t:read\tnil\n\
         INFO  jepsen.util - 0\t:ok\t:write\t1\nINFO  jepsen.util - 1\t:ok\t:read\t1\n",
    );
    let (code, out, _) = cli(&["check-history", &good]);
    assert_eq!(
        (code, out.lines().next()),
        (0, Some("linearizable")),
        "{out}"
    );

    let bad = write(
        "bad.edn",
        "{:process 0, :type :invoke, :f :put, :key \"k\", :value \"x\"}\n\
         {:process 0, :type :ok, :f :put, :key \"k\", :value \"x\"}\n\
         {:process 1, :type :invoke, :f :get, :key \"k\", :value nil}\n\
         {:process 1, :type :ok, :f :get, :key \"k\", :value \"\"}\n",
    );
    let (code, out, _) = cli(&["check-history", &bad]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("not linearizable"), "{out}");
    assert!(out.contains("key \"k\""), "{out}");
    let (code, out, _) = cli(&["check-history", &bad, "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["verdict"]["verdict"], "not_linearizable", "{out}");

    let empty = write("empty.log", "");
    let (code, _, err) = cli(&["check-history", &empty]);
    assert_eq!(code, 2);
    assert!(err.contains("empty"), "{err}");
    let broken = write(
        "broken.log",
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\n",
    );
    let (code, _, err) = cli(&["check-history", &broken]);
    assert_eq!(code, 2);
    assert!(err.contains("broken.log:2"), "{err}");
    let (code, _, err) = cli(&["check-history", &good, "--format", "xml"]);
    assert_eq!(code, 2);
    assert!(err.contains("etcd-log"), "{err}");
    let (code, _, err) = cli(&["check-history", &good, "--model", "queue"]);
    assert_eq!(code, 2);
    assert!(err.contains("register"), "{err}");

    let (code, out, _) = cli(&["check-history", &good, "--budget", "1"]);
    assert_eq!(code, 4, "{out}");
    assert!(out.starts_with("inconclusive"), "{out}");
}

#[test]
fn a_run_exports_its_history_and_check_history_reaches_the_same_verdict() {
    let dir = temp_dir("history-export");
    for (bug, want) in [("false", 0), ("true", 1)] {
        let path = dir.join(format!("h-{bug}.jsonl"));
        let p = path.to_str().unwrap();
        let set = format!("protocol.params.bugs.stale_leader_reads={bug}");
        let (code, out, err) = cli(&[
            "run",
            "raft/leader-reads",
            "--set",
            &set,
            "--history",
            p,
            "-q",
        ]);
        assert_eq!(code, want, "{out}{err}");
        assert!(!dir.join(format!("h-{bug}.jsonl.partial")).exists());
        let (code, out, err) = cli(&["check-history", p]);
        assert_eq!(code, want, "the file gives the run's verdict: {out}{err}");
    }
}

#[test]
fn view_writes_one_self_contained_page_beside_the_trace() {
    let dir = temp_dir("view");
    let trace = dir.join("run.jsonl");
    let (code, out, err) = cli(&[
        "run",
        "ping/partition-heal",
        "-q",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = cli(&["view", trace.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let page = dir.join("run.html");
    assert!(
        out.starts_with(&format!("wrote {}", page.display())),
        "{out}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("faultline: ping/partition-heal seed 3"));
    assert!(html.contains("id=\"current-step\""));
    // -o names the page; the same page comes from run --view directly.
    let other = dir.join("other.html");
    let (code, _, _) = cli(&[
        "view",
        trace.to_str().unwrap(),
        "-o",
        other.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let direct = dir.join("direct.html");
    let (code, out, err) = cli(&[
        "run",
        "ping/partition-heal",
        "-q",
        "--view",
        direct.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let direct = std::fs::read_to_string(&direct).unwrap();
    // The header's git commit is the same build's, so the pages are equal.
    assert_eq!(direct, html);
    // --trace and --view together: the same trace file, and the same page.
    let (both_trace, both_page) = (dir.join("both.jsonl"), dir.join("both.html"));
    let (code, out, err) = cli(&[
        "run",
        "ping/partition-heal",
        "-q",
        "--trace",
        both_trace.to_str().unwrap(),
        "--view",
        both_page.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(&both_trace).unwrap(),
        std::fs::read_to_string(&trace).unwrap()
    );
    assert_eq!(std::fs::read_to_string(&both_page).unwrap(), html);
    assert_eq!(std::fs::read_to_string(&other).unwrap(), html);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn view_of_a_bad_trace_names_file_line_and_column_and_exits_2() {
    let dir = temp_dir("view-bad");
    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"ev\":\"header\",\"schema\":1,\"seed\":1}\n{\"ev\": }\n",
    )
    .unwrap();
    let (code, out, err) = cli(&["view", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.starts_with(&format!("error: {}:2:8: ", bad.display())),
        "{err}"
    );
    assert!(!dir.join("bad.html").exists());
    let (code, _, err) = cli(&["view", dir.join("none.jsonl").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot open: "), "{err}");
    // The page never overwrites its own trace.
    let html = dir.join("x.html");
    std::fs::write(&html, "{\"ev\":\"header\",\"schema\":1,\"seed\":1}\n").unwrap();
    let (code, _, err) = cli(&["view", html.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_sweep_failure_says_how_to_view_the_seed() {
    let (code, out, err) = cli(&[
        "sweep",
        "ping/bug-skip-boot-sync",
        "--seeds",
        "1..2",
        "--jobs",
        "1",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("view: faultline run ping/bug-skip-boot-sync --seed 1 --view seed1.html"),
        "{out}"
    );
}

/// The `ev` of a trace line written for the viewer only (not compared by `replay`).
fn is_display(line: &str) -> bool {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    matches!(v["ev"].as_str(), Some("state" | "armed" | "disarmed"))
}

/// A complete trace of `ping/basic` (with one override) in `dir`, as lines, without its
/// display records (the cut and partial tests count records; display records have their
/// own test below).
fn ping_trace(dir: &std::path::Path) -> Vec<String> {
    ping_trace_as_written(dir)
        .into_iter()
        .filter(|l| !is_display(l))
        .collect()
}

#[test]
fn display_records_are_written_but_neither_counted_nor_compared() {
    let dir = temp_dir("replay-display");
    let lines = ping_trace_as_written(&dir);
    let display = lines.iter().filter(|l| is_display(l)).count();
    assert!(display > 20, "{display} display records");
    // Each node's first state record after its start is whole.
    let first: serde_json::Value = serde_json::from_str(
        lines
            .iter()
            .find(|l| l.contains(r#""ev":"state""#))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["full"], true, "{first}");
    // `replay` counts the lines it compared: every record and the summary.
    let records = lines.len() - display - 1;
    let replay = |name: &str, lines: &[String]| {
        let path = dir.join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        cli(&["replay", path.to_str().unwrap()])
    };
    // As written, and without display records (a trace written before they existed):
    // identical, with the same record count.
    let (code, out, err) = replay("as-written.jsonl", &lines);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!("IDENTICAL: {records} records replayed")),
        "{out}"
    );
    let plain: Vec<String> = lines.iter().filter(|l| !is_display(l)).cloned().collect();
    let (code, out, err) = replay("plain.jsonl", &plain);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!("IDENTICAL: {records} records replayed")),
        "{out}"
    );
    // A file cut inside a display record is cut, not diverged.
    let at = lines.iter().rposition(|l| is_display(l)).unwrap();
    let path = dir.join("cut.jsonl");
    let cut = lines[at].len() / 2;
    std::fs::write(&path, lines[..at].join("\n") + "\n" + &lines[at][..cut]).unwrap();
    let (code, out, err) = cli(&["replay", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("the trace is cut: it ends in the middle of line"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A complete trace of `ping/basic` (with one override) in `dir`, as lines, as written.
fn ping_trace_as_written(dir: &std::path::Path) -> Vec<String> {
    let path = dir.join("full.jsonl");
    let (code, out, err) = cli(&[
        "run",
        "ping/basic",
        "--set",
        "limits.time_ms=1500",
        "-q",
        "--trace",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines().map(String::from).collect()
}

#[test]
fn a_cut_trace_is_bad_input_not_a_divergence_and_says_how_far_it_matched() {
    let dir = temp_dir("replay-cut");
    let lines = ping_trace(&dir);
    let n = lines.len();
    assert!(n > 20, "{n} lines");

    // Cut in the middle of line 11 (record 10): exit 2, not 3.
    let mid = dir.join("mid.jsonl");
    let cut = lines[10].len() / 2;
    std::fs::write(&mid, lines[..10].join("\n") + "\n" + &lines[10][..cut]).unwrap();
    let (code, out, err) = cli(&["replay", mid.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    let first = err.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "error: {}:11: the trace is cut: it ends in the middle of line 11;",
            mid.display()
        )),
        "{err}"
    );
    let step =
        |i: usize| serde_json::from_str::<serde_json::Value>(&lines[i]).unwrap()["step"].clone();
    assert!(
        first.contains(&format!(
            "the replay matched 9 records (through step {})",
            step(9)
        )),
        "{err}"
    );
    assert!(!out.contains("DIVERGED"), "{out}");

    // Cut at a line boundary before the summary: exit 2, names the last line.
    let boundary = dir.join("boundary.jsonl");
    std::fs::write(&boundary, lines[..n - 1].join("\n") + "\n").unwrap();
    let (code, out, err) = cli(&["replay", boundary.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.starts_with(&format!(
            "error: {}:{}: the trace is cut: it ends after line {}, before its summary line; the replay matched {} records",
            boundary.display(),
            n - 1,
            n - 1,
            n - 2
        )),
        "{err}"
    );

    // Cut inside the summary line: exit 2, and it says so.
    let summary = dir.join("summary.jsonl");
    std::fs::write(
        &summary,
        lines[..n - 1].join("\n") + "\n" + &lines[n - 1][..20],
    )
    .unwrap();
    let (code, out, err) = cli(&["replay", summary.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!("in the middle of line {n} (its summary line)")),
        "{err}"
    );

    // A cut line that differs where it is present still diverges (exit 3).
    let differs = dir.join("differs.jsonl");
    let changed = lines[10][..cut].replacen("\"step\":", "\"step\":9", 1);
    std::fs::write(&differs, lines[..10].join("\n") + "\n" + &changed).unwrap();
    let (code, out, _) = cli(&["replay", differs.to_str().unwrap()]);
    assert_eq!(code, 3, "{out}");

    // Only a header: nothing matched.
    let header = dir.join("header.jsonl");
    std::fs::write(&header, lines[0].clone() + "\n").unwrap();
    let (code, _, err) = cli(&["replay", header.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the replay matched no record"), "{err}");

    // A header cut short.
    let head_cut = dir.join("headcut.jsonl");
    std::fs::write(&head_cut, &lines[0][..40]).unwrap();
    let (code, _, err) = cli(&["replay", head_cut.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(":1: the trace is cut inside its header line"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_partial_trace_replays_as_incomplete_with_exit_4_and_a_missing_trace_names_its_partial() {
    let dir = temp_dir("replay-partial");
    let lines = ping_trace(&dir);
    // What a killed run leaves: TRACE.partial, cut mid-record, and no TRACE.
    let trace = dir.join("killed.jsonl");
    let partial = dir.join("killed.jsonl.partial");
    let cut = lines[20].len() / 3;
    std::fs::write(&partial, lines[..20].join("\n") + "\n" + &lines[20][..cut]).unwrap();
    let (code, out, err) = cli(&["replay", partial.to_str().unwrap()]);
    assert_eq!(code, 4, "{out}{err}");
    let step = serde_json::from_str::<serde_json::Value>(&lines[19]).unwrap()["step"].clone();
    assert!(
        out.starts_with(&format!(
            "INCOMPLETE: {} is a .partial trace (the run that wrote it did not finish: no summary line); the replay matched 19 records (through step {step}), and its last line 21, cut mid-record, as far as it was written, and nothing diverged",
            partial.display()
        )),
        "{out}"
    );
    // Cut at a line boundary.
    std::fs::write(&partial, lines[..20].join("\n") + "\n").unwrap();
    let (code, out, err) = cli(&["replay", partial.to_str().unwrap()]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        out.contains(&format!(
            "the replay matched 19 records (through step {step}), and nothing diverged"
        )),
        "{out}"
    );
    // A .partial that differs where it is present diverged (exit 3).
    let mut changed = lines[..20].to_vec();
    changed[5] = changed[5].replacen("\"t\":", "\"t\":1", 1);
    std::fs::write(&partial, changed.join("\n") + "\n").unwrap();
    let (code, out, _) = cli(&["replay", partial.to_str().unwrap()]);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("DIVERGED: diverged at record 5"), "{out}");

    // TRACE is missing but TRACE.partial is there: the error says so.
    let (code, _, err) = cli(&["replay", trace.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: {}: no such file, but {} is there: the run that wrote it did not finish",
            trace.display(),
            partial.display()
        )),
        "{err}"
    );
    // Every other trace reader says the same.
    let page = dir.join("page.html");
    for args in [
        vec!["trace", "show", trace.to_str().unwrap()],
        vec![
            "view",
            trace.to_str().unwrap(),
            "-o",
            page.to_str().unwrap(),
        ],
        vec!["export", trace.to_str().unwrap(), "--format", "jepsen"],
        vec!["explain", trace.to_str().unwrap()],
    ] {
        let (code, _, err) = cli(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.starts_with(&format!(
                "error: {}: no such file, but {} is there: the run that wrote it did not finish",
                trace.display(),
                partial.display()
            )),
            "{args:?}: {err}"
        );
    }
    std::fs::remove_file(&partial).unwrap();
    let (code, _, err) = cli(&["replay", trace.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot open"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_output_path_is_checked_before_the_run_and_nothing_partial_is_left() {
    let dir = temp_dir("outputs");
    let ok = dir.join("ok.jsonl");
    let ok = ok.to_str().unwrap();
    let names = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    // --trace onto an existing directory.
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let (code, out, err) = cli(&["run", "ping/basic", "-q", "--trace", sub.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        err.lines().next().unwrap(),
        format!("error: --trace {}: is a directory", sub.display())
    );
    assert!(out.is_empty(), "nothing ran: {out}");
    // --view into a directory that does not exist, with a good --trace: the run does not
    // start, so the trace is not written either.
    let page = dir.join("no/such/page.html");
    let (code, out, err) = cli(&[
        "run",
        "ping/basic",
        "-q",
        "--trace",
        ok,
        "--view",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        err.lines().next().unwrap(),
        format!(
            "error: --view {}: the directory {} does not exist",
            page.display(),
            dir.join("no/such").display()
        )
    );
    assert!(out.is_empty(), "nothing ran: {out}");
    // --history under a file, --emit-scenario the same file as --trace.
    let under_file = format!("{ok}/h.jsonl");
    std::fs::write(ok, "x").unwrap();
    let (code, _, err) = cli(&["run", "ping/basic", "-q", "--history", &under_file]);
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("error: --history "), "{err}");
    assert!(err.contains("is not a directory"), "{err}");
    let (code, _, err) = cli(&[
        "run",
        "ping/basic",
        "-q",
        "--trace",
        ok,
        "--emit-scenario",
        ok,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--trace writes the same file"), "{err}");
    assert_eq!(
        std::fs::read_to_string(ok).unwrap(),
        "x",
        "nothing was written"
    );
    // The commands that read a trace check -o before reading it: a missing trace is not
    // even opened.
    let (code, _, err) = cli(&["view", "missing.jsonl", "-o", sub.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with(&format!("error: -o {}: is a directory", sub.display())),
        "{err}"
    );
    let (code, _, err) = cli(&[
        "export",
        "missing.jsonl",
        "--format",
        "perfetto",
        "-o",
        sub.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with(&format!("error: -o {}: is a directory", sub.display())),
        "{err}"
    );
    // shrink -o too, before it shrinks.
    let (code, out, err) = cli(&[
        "shrink",
        "ping/bug-skip-boot-sync",
        "-o",
        sub.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.starts_with(&format!(
            "error: --output {}: is a directory",
            sub.display()
        )),
        "{err}"
    );
    assert!(out.is_empty(), "the shrink did not start: {out}");
    // Not a .partial file anywhere.
    assert_eq!(names(&dir), vec!["ok.jsonl", "sub"]);
    assert!(names(&sub).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

/// A directory that even this user cannot write to (root writes anywhere: then `None`).
#[cfg(unix)]
fn read_only_dir(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let ro = dir.join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    match std::fs::write(ro.join("probe"), "") {
        Ok(()) => {
            let _ = std::fs::remove_file(ro.join("probe"));
            None
        }
        Err(_) => Some(ro),
    }
}

#[cfg(unix)]
#[test]
fn a_view_into_a_read_only_directory_fails_before_the_run_and_a_device_is_refused() {
    let dir = temp_dir("outputs-ro");
    if let Some(ro) = read_only_dir(&dir) {
        let page = ro.join("p.html");
        let (code, out, err) = cli(&["run", "ping/basic", "-q", "--view", page.to_str().unwrap()]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.starts_with(&format!(
                "error: --view {}: cannot write in {}",
                page.display(),
                ro.display()
            )),
            "{err}"
        );
        assert!(out.is_empty(), "nothing ran: {out}");
    }
    // A device is not replaced by a trace (the rename would swap it for a file).
    let (code, out, err) = cli(&["run", "ping/basic", "-q", "--trace", "/dev/null"]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(
        err.lines().next().unwrap(),
        "error: --trace /dev/null: exists and is not a regular file (a device, pipe or socket)"
    );
    assert!(!std::path::Path::new("/dev/null.partial").exists());
    let _ = std::fs::remove_dir_all(dir);
}

/// A transactional EDN fixture under tests/golden/isolation.
fn txn_fixture(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/isolation")
        .join(name);
    p.to_str().unwrap().to_string()
}

#[test]
fn check_history_reads_transactions_and_reports_isolation_anomalies() {
    // Clean, with an unknown transaction whose append was seen and an aborted one nobody saw.
    let (code, out, err) = cli(&["check-history", &txn_fixture("clean.edn")]);
    assert_eq!(
        (code, out.lines().next()),
        (0, Some("serializable")),
        "{out}{err}"
    );
    assert!(
        out.contains(
            "5 transactions (3 committed, 1 aborted, 1 unknown of which 1 seen to commit)"
        ),
        "{out}"
    );
    // Each class, with its witness.
    for (file, class, witness) in [
        (
            "g0.edn",
            "G0",
            "T1 -ww-> T2 on key 1: T1 appended 1, T2 appended 3 right after it",
        ),
        ("g1a.edn", "G1a", "T1 aborted, yet T2 read [1]"),
        ("g1b.edn", "G1b", "T2 read 10, which T1 overwrote later"),
        (
            "g1c.edn",
            "G1c",
            "T1 -wr-> T2 on key :a: T2 read 1, which T1 wrote",
        ),
        (
            "g-single.edn",
            "G-single",
            "T1 -rw-> T2 on key :x: T1 read nothing, then T2 appended 1 as the first element",
        ),
        ("g2.edn", "G2", "T2 -rw-> T1 on key 2: T2 read nothing"),
    ] {
        let (code, out, err) = cli(&["check-history", &txn_fixture(file)]);
        assert_eq!(code, 1, "{file}: {out}{err}");
        assert_eq!(
            out.lines().next(),
            Some(format!("not serializable: {class}").as_str()),
            "{file}: {out}"
        );
        assert!(out.contains(witness), "{file}: {out}");
    }
    // The level decides: write skew is allowed under snapshot isolation, read skew is not;
    // read committed allows both.
    let g2 = txn_fixture("g2.edn");
    let (code, out, _) = cli(&["check-history", &g2, "--isolation", "snapshot-isolation"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("snapshot-isolation\n") && out.contains("allowed by"),
        "{out}"
    );
    let skew = txn_fixture("g-single.edn");
    let (code, _, _) = cli(&["check-history", &skew, "--isolation", "snapshot-isolation"]);
    assert_eq!(code, 1);
    let (code, _, _) = cli(&["check-history", &skew, "--isolation", "read-committed"]);
    assert_eq!(code, 0);
    // Register histories say what they cannot show.
    let (_, out, _) = cli(&["check-history", &txn_fixture("g1c.edn")]);
    assert!(out.contains("no recoverable version order"), "{out}");
    // --json: one object.
    let (code, out, _) = cli(&["check-history", &g2, "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["verdict"], "violated");
    assert_eq!(v["proscribed"][0], "G2");
    assert_eq!(v["analysis"]["anomalies"][0]["steps"][0]["kind"], "rw");
    assert_eq!(v["analysis"]["counts"]["rw"], 2);
    // --model forces the reading, and must fit the history.
    let (code, _, _) = cli(&["check-history", &g2, "--model", "list-append"]);
    assert_eq!(code, 1);
    let (code, _, err) = cli(&["check-history", &g2, "--model", "rw-register"]);
    assert_eq!(code, 2);
    assert!(err.contains("appends to lists"), "{err}");
    // A budget too small for the cycle search: inconclusive.
    let (code, out, _) = cli(&["check-history", &g2, "--budget", "1"]);
    assert_eq!(code, 4, "{out}");
    assert!(out.starts_with("inconclusive"), "{out}");
}

#[test]
fn check_history_locates_bad_transactions() {
    let (code, out, err) = cli(&["check-history", &txn_fixture("bad-mop.edn")]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("bad-mop.edn:3:48: "), "{err}");
    assert!(
        err.contains("expected a micro-op [name key value] (a 3-element vector)"),
        "{err}"
    );
    let (code, _, err) = cli(&["check-history", &txn_fixture("bad-name.edn")]);
    assert_eq!(code, 2);
    assert!(err.contains("bad-name.edn:3:45: "), "{err}");
    assert!(
        err.contains("expected a micro-op name :append, :r or :w, found :cas"),
        "{err}"
    );
    let (code, _, err) = cli(&[
        "check-history",
        &txn_fixture("clean.edn"),
        "--isolation",
        "strict",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("snapshot-isolation"), "{err}");
    // A completion whose micro-op differs from the invocation's: the completion's line.
    let dir = temp_dir("txn-bad-completion");
    let p = dir.join("h.edn");
    std::fs::write(
        &p,
        "{:type :invoke, :f :txn, :value [[:append 1 1]], :process 0}\n\
         {:type :invoke, :f :txn, :value [[:r 1 nil]], :process 1}\n\
         {:type :ok, :f :txn, :value [[:append 1 1]], :process 0}\n\
         {:type :ok, :f :txn, :value [[:r 2 [1]]], :process 1}\n",
    )
    .unwrap();
    let (code, _, err) = cli(&["check-history", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("h.edn:4:30: "), "{err}");
    assert!(
        err.contains("expected [r 1 ...] as invoked, found [r 2 ...]"),
        "{err}"
    );
    // A linearizability history given --isolation: said, not ignored.
    let reg = dir.join("reg.edn");
    std::fs::write(
        &reg,
        "{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :ok, :f :write, :value 1}\n",
    )
    .unwrap();
    let (code, _, err) = cli(&[
        "check-history",
        reg.to_str().unwrap(),
        "--isolation",
        "serializable",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no :txn operations"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
