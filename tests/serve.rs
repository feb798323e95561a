//! `faultline serve`, the playground, started as the binary on a free port and driven over
//! plain HTTP: the scenario list, a run, a what-if (a crash at a chosen time) and where it
//! departs, a what-if of a what-if, downloads that `faultline run` replays to the same
//! fingerprint, bad input refused with the loader's message, paths outside the served
//! directory refused, one run at a time (503), and the per-run budgets.

mod common;
#[path = "common/playground.rs"]
mod playground;

use common::{cli, temp_dir};
use playground::Playground;
use serde_json::{Value, json};

/// Replays a downloaded scenario with `faultline run FILE --seed N` and returns its
/// fingerprint.
fn replay(dir: &std::path::Path, name: &str, text: &str, seed: u64) -> String {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    let seed = seed.to_string();
    let (code, out, err) = cli(&["run", file.to_str().unwrap(), "--seed", &seed, "--json"]);
    assert!([0, 1].contains(&code), "exit {code}\n{out}{err}");
    let summary: Value = serde_json::from_str(out.trim()).unwrap();
    summary["fingerprint"].as_str().unwrap().to_string()
}

#[test]
fn a_what_if_departs_at_its_fault_and_every_download_replays() {
    let dir = temp_dir("serve-whatif");
    let pg = Playground::start(&dir, &[]);

    let page = pg.get("/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("faultline playground"));
    let list = pg.get("/api/scenarios").json();
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "raft/leader-crash")
        .expect("the bundled scenario is listed");
    assert_eq!(entry["protocol"], "raft");
    assert!(entry["description"].as_str().unwrap().len() > 20);

    let first = pg.post(
        "/api/run",
        &json!({"scenario": "raft/leader-crash", "seed": 1}),
    );
    assert_eq!(first.status, 200, "{}", first.body);
    let first = first.json();
    assert_eq!(first["held"], true, "{first}");
    let view = pg.get(first["view"].as_str().unwrap());
    assert_eq!(view.status, 200);
    assert!(view.body.starts_with("<!doctype html>") || view.body.starts_with("<!DOCTYPE html>"));

    // Crash n1 at 500 ms, before the scenario's own crash of n2 at 1 s.
    let what = pg.post(
        "/api/whatif",
        &json!({"base": first["id"], "fault": {"at_ms": 500, "crash": "n1"}}),
    );
    assert_eq!(what.status, 200, "{}", what.body);
    let what = what.json();
    assert_eq!(what["parent"], first["id"]);
    assert_eq!(what["before"]["verdict"], first["verdict"]);
    assert!(what["verdict"].as_str().is_some());
    let d = &what["departure"];
    assert_eq!(d["t"], 500_000, "{d}");
    assert_eq!(d["after"]["ev"], "fault", "{d}");
    assert_eq!(d["after"]["fault"]["crash"], "n1", "{d}");
    assert_eq!(d["step"], d["after"]["step"]);
    // Every record before the departure is the same in both traces.
    let (a, b) = (
        pg.get(first["trace"].as_str().unwrap()).body,
        pg.get(what["trace"].as_str().unwrap()).body,
    );
    let n = d["record"].as_u64().unwrap() as usize;
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    assert_eq!(a[1..n], b[1..n]);
    assert_ne!(a[n], b[n]);
    assert_eq!(
        serde_json::from_str::<Value>(b[n]).unwrap()["step"],
        d["step"]
    );

    // The download replays to the same fingerprint, and is what was saved under whatifs/.
    let download = pg.get(what["download"].as_str().unwrap());
    assert_eq!(download.status, 200);
    assert!(
        download
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    let saved = what["saved"].as_str().expect("the what-if was saved");
    assert!(saved.starts_with("whatifs/"), "{saved}");
    assert_eq!(
        std::fs::read_to_string(dir.join(saved)).unwrap(),
        download.body
    );
    assert_eq!(
        replay(&dir, "w1.json", &download.body, 1),
        what["fingerprint"].as_str().unwrap()
    );

    // A what-if of the what-if: pause n3 at 2 s for 300 ms.
    let chained = pg.post(
        "/api/whatif",
        &json!({"base": what["id"], "fault": {"at_ms": 2000, "pause": "n3", "duration_ms": 300}}),
    );
    assert_eq!(chained.status, 200, "{}", chained.body);
    let chained = chained.json();
    assert_eq!(chained["parent"], what["id"]);
    assert_eq!(chained["departure"]["t"], 2_000_000, "{chained}");
    let download = pg.get(chained["download"].as_str().unwrap()).body;
    let faults = serde_json::from_str::<Value>(&download).unwrap()["faults"].clone();
    // The pause and its resume, as two entries (a shaped entry would do nothing after the heal).
    assert_eq!(faults.as_array().unwrap().len(), 5, "{faults}");
    assert_eq!(faults[2], json!({"at_ms": 2000, "pause": "n3"}));
    assert_eq!(faults[3], json!({"at_ms": 2300, "resume": "n3"}));
    assert_eq!(
        replay(&dir, "w2.json", &download, 1),
        chained["fingerprint"].as_str().unwrap()
    );
    // The first run's own scenario replays too.
    let download = pg.get(first["download"].as_str().unwrap()).body;
    assert_eq!(
        replay(&dir, "r1.json", &download, 1),
        first["fingerprint"].as_str().unwrap()
    );
    // A saved what-if runs again from the served directory, to the same fingerprint.
    let again = pg.post("/api/run", &json!({"scenario": saved}));
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["fingerprint"], what["fingerprint"]);
}

/// A scenario without faults heals at 0, and a what-if keeps that heal: its crash, and the
/// restart after it, still happen (as plain entries: a shaped one would not fire after the
/// heal), and the runs depart at the crash.
#[test]
fn a_what_if_after_the_heal_still_happens() {
    let dir = temp_dir("serve-after-heal");
    let pg = Playground::start(&dir, &[]);
    let base = pg
        .post("/api/run", &json!({"scenario": "ping/basic"}))
        .json();
    let what = pg.post(
        "/api/whatif",
        &json!({"base": base["id"], "fault": {"at_ms": 300, "crash": "n1", "duration_ms": 400}}),
    );
    assert_eq!(what.status, 200, "{}", what.body);
    let what = what.json();
    let d = &what["departure"];
    assert_eq!(
        (d["t"].as_u64(), &d["after"]["fault"]),
        (Some(300_000), &json!({"crash": "n1"})),
        "{d}"
    );
    let trace = pg.get(what["trace"].as_str().unwrap()).body;
    assert!(
        trace
            .lines()
            .any(|l| l.contains("\"t\":700000,\"ev\":\"fault\",\"fault\":{\"restart\":\"n1\"}")),
        "no restart at 700 ms"
    );
}

/// The what-ifs on one message and on a bug switch (the scenario fields of
/// docs/scenarios.md, "Designed, not accepted yet"): a dropped or duplicated message departs
/// at its send, with its copies changed; a switch flipped at a time departs there.
///
/// Until the loader accepts those fields this build refuses them (400, unknown field), and
/// the test checks only that; once they land, the rest runs. (Lead: drop the early returns
/// after the merge.)
#[test]
fn message_and_switch_what_ifs_depart_where_they_apply() {
    let dir = temp_dir("serve-message");
    let pg = Playground::start(&dir, &[]);
    let base = pg
        .post("/api/run", &json!({"scenario": "raft/leader-crash"}))
        .json();
    let trace = pg.get(base["trace"].as_str().unwrap()).body;
    // The first message n2 sends n3 that is the second of its kind: its kind is the only
    // key of the `peer` payload (as `world::kind_of` names it).
    let kind = |r: &Value| {
        r["msg"]["peer"]
            .as_object()
            .and_then(|o| o.keys().next().cloned())
    };
    let mut seen: Vec<String> = Vec::new();
    let second = trace
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["ev"] == "send" && r["from"] == "n2" && r["to"] == "n3")
        .find(|r| {
            let k = kind(r).expect("a peer message");
            let again = seen.contains(&k);
            seen.push(k);
            again
        })
        .expect("n2 sends n3 two messages of a kind");
    let first = kind(&second).unwrap();
    let whatif =
        |fault: Value| pg.post("/api/whatif", &json!({"base": base["id"], "fault": fault}));
    let chosen = json!({"kind": first, "from": "n2", "to": "n3", "nth": 2});
    for (twist, copies) in [("drop", 0), ("duplicate", 2)] {
        let r = whatif(json!({"message": chosen, twist: true}));
        assert_eq!(r.status, 200, "{}", r.body);
        let d = r.json()["departure"].clone();
        assert_eq!(d["step"], second["step"], "{twist}: {d}");
        assert_eq!(d["after"]["id"], second["id"], "{twist}: {d}");
        assert_eq!(d["after"]["copies"], copies, "{twist}: {d}");
    }
    let r = whatif(json!({"at_ms": 400, "set": {"bugs.commit_old_terms": true}}));
    assert_eq!(r.status, 200, "{}", r.body);
    let d = r.json()["departure"].clone();
    assert_eq!(d["t"], 400_000, "{d}");
    assert_eq!(
        d["after"]["fault"]["set"],
        json!({"bugs.commit_old_terms": true}),
        "{d}"
    );
    let r = whatif(json!({"at_ms": 400, "set": {"bugs.no_such_switch": true}}));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("no_such_switch"), "{}", r.body);
}

#[test]
fn bad_input_gets_400_with_the_loaders_message() {
    let dir = temp_dir("serve-bad");
    let pg = Playground::start(&dir, &[]);
    let run = |body: Value| pg.post("/api/run", &body);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"scenario": "raft/no-such"}), "no bundled scenario"),
        (
            json!({"scenario": "raft/leader-crash", "set": ["nodes=0"]}),
            "nodes: 0 nodes is out of range",
        ),
        (
            json!({"scenario": "raft/leader-crash", "set": ["nodez=3"]}),
            "nodez",
        ),
        (
            json!({"scenario": "raft/leader-crash", "seed": "one"}),
            "seed: expected an integer",
        ),
        (
            json!({"scenario": "raft/leader-crash", "set": "nodes=3"}),
            "set: expected a list",
        ),
        (
            json!({"scenario": "raft/leader-crash", "x": 1}),
            "unknown field \"x\"",
        ),
        (
            json!({"scenario": "raft/leader-crash", "set": ["protocol.params.bugs.no_such_switch=true"]}),
            "no_such_switch",
        ),
        (json!([1, 2]), "must be a JSON object"),
    ];
    for (body, message) in cases {
        let r = run(body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains(message), "{body}: {error}");
    }
    let r = pg.request("POST", "/api/run", Some("{not json"));
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("not JSON"));

    let base = run(json!({"scenario": "ping/basic"})).json();
    let whatif =
        |fault: Value| pg.post("/api/whatif", &json!({"base": base["id"], "fault": fault}));
    let r = whatif(json!({"at_ms": 100, "crash": "n9"}));
    assert_eq!(r.status, 400, "{}", r.body);
    let error = r.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.starts_with("the what-if's scenario: faults[0].crash: n9 does not exist"),
        "{error}"
    );
    let r = whatif(json!({"at_ms": 100, "explode": "n1"}));
    assert_eq!(r.status, 400, "{}", r.body);
    let r = whatif(json!("crash n1"));
    assert_eq!(r.status, 400, "{}", r.body);
    let r = pg.post("/api/whatif", &json!({"base": 999, "fault": {}}));
    assert_eq!(r.status, 404, "{}", r.body);

    // Not JSON, too large, too long, wrong method, unknown path, foreign Host.
    let r = pg.raw(
        format!(
            "POST /api/run HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
            pg.addr
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 415, "{}", r.body);
    let big = format!("{{\"scenario\": \"{}\"}}", "x".repeat(100_000));
    assert_eq!(pg.request("POST", "/api/run", Some(&big)).status, 413);
    assert_eq!(pg.get(&format!("/?{}", "q".repeat(10_000))).status, 414);
    let r = pg.get("/api/run");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    assert_eq!(pg.request("DELETE", "/", None).status, 405);
    assert_eq!(pg.get("/etc/passwd").status, 404);
    assert_eq!(pg.get("/view/999").status, 404);
    let r = pg.raw(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 403);
    // Still serving.
    assert_eq!(pg.get("/api/scenarios").status, 200);
}

#[test]
fn paths_outside_the_served_directory_are_refused() {
    let dir = temp_dir("serve-paths");
    let outside = temp_dir("serve-paths-outside");
    let text = faultline::scenario::bundled("ping/basic").unwrap();
    std::fs::write(outside.join("secret.json"), text).unwrap();
    std::fs::create_dir_all(dir.join("mine")).unwrap();
    std::fs::write(dir.join("mine/basic.json"), text).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.join("secret.json"), dir.join("link.json")).unwrap();
        std::os::unix::fs::symlink(&*outside, dir.join("away")).unwrap();
    }
    let pg = Playground::start(&dir, &[]);
    let secret = outside.join("secret.json");
    let relative = format!(
        "../{}/secret.json",
        outside.file_name().unwrap().to_str().unwrap()
    );
    let mut refused = vec![
        secret.to_str().unwrap().to_string(),
        relative,
        "mine/../../x.json".into(),
    ];
    if cfg!(unix) {
        refused.extend(["link.json".to_string(), "away/secret.json".to_string()]);
    }
    for name in refused {
        let r = pg.post("/api/run", &json!({"scenario": name}));
        assert_eq!(r.status, 403, "{name}: {}", r.body);
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap()
                .contains("outside the served directory"),
            "{}",
            r.body
        );
    }
    let r = pg.post("/api/run", &json!({"scenario": "mine/basic.json"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["held"], true);
}

#[test]
fn one_run_at_a_time_and_each_within_its_budget() {
    let dir = temp_dir("serve-busy");
    // Record and byte budgets far away, so that the wall clock stops the run on any machine.
    let pg = Playground::start(
        &dir,
        &[
            "--run-seconds",
            "1",
            "--records-max",
            "1000000000",
            "--trace-mb",
            "4096",
        ],
    );
    // A run far longer than its wall-clock budget.
    let long = std::thread::scope(|s| {
        let long = s.spawn(|| {
            pg.post(
                "/api/run",
                &json!({"scenario": "raft/leader-crash", "set": ["limits.time_ms=100000000", "limits.events_max=1000000000", "limits.records_max=100000000"]}),
            )
        });
        // Until the long run is under way, a run request may get in first: wait for a 503.
        let mut busy = None;
        for _ in 0..40 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let r = pg.post("/api/run", &json!({"scenario": "ping/basic"}));
            if r.status == 503 {
                busy = Some(r);
                break;
            }
        }
        let busy = busy.expect("a second run while one is going on gets 503");
        assert_eq!(busy.header("retry-after"), Some("1"));
        assert!(
            busy.json()["error"]
                .as_str()
                .unwrap()
                .contains("one at a time")
        );
        // Pages are still served meanwhile.
        assert_eq!(pg.get("/api/scenarios").status, 200);
        long.join().unwrap()
    });
    assert_eq!(long.status, 422, "{}", long.body);
    assert!(long.body.contains("wall-clock"), "{}", long.body);
    // And the simulator is free again.
    assert_eq!(
        pg.post("/api/run", &json!({"scenario": "ping/basic"}))
            .status,
        200
    );

    let pg = Playground::start(&dir, &["--records-max", "1000"]);
    let r = pg.post("/api/run", &json!({"scenario": "raft/leader-crash"}));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("more than 1000 trace records"),
        "{}",
        r.body
    );
}
