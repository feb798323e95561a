//! The linearizability checker: every verdict on the shared Porcupine/Jepsen histories,
//! agreement with an independent brute-force checker on generated histories, the parsers and
//! their errors, counterexamples and the step budget.

use faultline::base::rng::{Rng, Stream};
use faultline::lin::formats::{Format, parse};
use faultline::lin::{
    DEFAULT_BUDGET, LinVerdict, ModelKind, Op, Outcome, Val, check, formats::to_jsonl,
};
use std::path::{Path, PathBuf};

fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/porcupine");
    if dir.join("EXPECTED.md").exists() {
        return Some(dir);
    }
    let banner = "=".repeat(72);
    eprintln!(
        "{banner}\nSHARED DATA MISSING: {} not found; the Porcupine/Jepsen verdict tests are SKIPPED\n{banner}",
        dir.display()
    );
    assert!(
        std::env::var_os("FAULTLINE_REQUIRE_SHARED_DATA").is_none(),
        "FAULTLINE_REQUIRE_SHARED_DATA is set and ../shared/data/porcupine is missing"
    );
    None
}

/// (file, linearizable?) from the tables of EXPECTED.md.
fn expected(dir: &Path) -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(dir.join("EXPECTED.md")).unwrap();
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            if cells.len() < 4 || !(cells[1].ends_with(".log") || cells[1].ends_with(".txt")) {
                return None;
            }
            match cells[3] {
                "linearizable" => Some((cells[1].to_string(), true)),
                "NOT linearizable" => Some((cells[1].to_string(), false)),
                _ => None,
            }
        })
        .collect()
}

fn verdict_of(ops: &[Op], model: ModelKind) -> LinVerdict {
    check(ops, model, DEFAULT_BUDGET).unwrap().0
}

#[test]
fn every_shared_history_gets_its_expected_verdict() {
    let Some(dir) = shared_data() else { return };
    let files = expected(&dir);
    assert_eq!(
        files.len(),
        108,
        "102 etcd logs with a verdict and 6 kv logs"
    );
    for (name, want) in files {
        let text = std::fs::read_to_string(dir.join(&name)).unwrap();
        let format = Format::detect(&text).unwrap_or_else(|| panic!("{name}: format"));
        let ops = parse(&text, format).unwrap_or_else(|e| panic!("{name}: {e}"));
        let model = if name.starts_with("kv/") {
            ModelKind::Kv
        } else {
            ModelKind::Register
        };
        assert_eq!(ModelKind::guess(&ops), Some(model), "{name}");
        let v = verdict_of(&ops, model);
        match (&v, want) {
            (LinVerdict::Linearizable, true) => {}
            (LinVerdict::NotLinearizable(c), false) => {
                assert!(!c.stuck.is_empty() || c.reason.is_some(), "{name}: {c:?}");
            }
            _ => panic!("{name}: expected linearizable={want}, got {v:?}"),
        }
    }
}

#[test]
fn the_empty_etcd_log_is_a_clear_error() {
    let Some(dir) = shared_data() else { return };
    let text = std::fs::read_to_string(dir.join("jepsen/etcd_095.log")).unwrap();
    assert!(text.is_empty());
    let e = parse(&text, Format::EtcdLog).unwrap_err();
    assert!(e.message.contains("empty"), "{e}");
}

// ---- an independent brute-force checker ----

/// The register and the kv map, written out plainly: state is a string, "" at first.
fn apply(f: &str, value: &Val, state: &str) -> (String, Outcome) {
    let text = |v: &Val| match v {
        Val::Nil => String::new(),
        Val::Int(i) => i.to_string(),
        Val::Str(s) => s.clone(),
        Val::List(_) => unreachable!(),
    };
    match f {
        "read" | "get" => (state.to_string(), Outcome::Ok(Val::Str(state.to_string()))),
        "write" | "put" => (text(value), Outcome::Ok(value.clone())),
        "append" => (
            format!("{state}{}", text(value)),
            Outcome::Ok(value.clone()),
        ),
        "cas" => {
            let Val::List(p) = value else { unreachable!() };
            if text(&p[0]) == state {
                (text(&p[1]), Outcome::Ok(value.clone()))
            } else {
                (state.to_string(), Outcome::Fail(value.clone()))
            }
        }
        _ => unreachable!(),
    }
}

/// Whether the observed outcome is what the plain model gives.
fn matches(observed: &Outcome, f: &str, model: &Outcome) -> bool {
    let as_text = |v: &Val| match v {
        Val::Nil => String::new(),
        Val::Int(i) => i.to_string(),
        Val::Str(s) => s.clone(),
        Val::List(_) => String::from("list"),
    };
    match (observed, model) {
        (Outcome::Unknown, _) => true,
        (Outcome::Ok(a), Outcome::Ok(b)) if f == "read" || f == "get" => as_text(a) == as_text(b),
        (Outcome::Ok(_), Outcome::Ok(_)) => true,
        (Outcome::Fail(_), Outcome::Fail(_)) => f == "cas",
        _ => false,
    }
}

/// Tries every order: each operation is placed once (or, if its outcome is unknown, maybe
/// never), never before an operation that returned before it was invoked. Keys are not
/// separated: one register holds "key:value" pairs, so P-compositionality is checked too.
fn brute_force(ops: &[Op]) -> bool {
    fn go(ops: &[Op], placed: &mut Vec<bool>, states: &mut Vec<(Option<String>, String)>) -> bool {
        let left: Vec<usize> = (0..ops.len()).filter(|&i| !placed[i]).collect();
        if left.iter().all(|&i| ops[i].ret.is_none()) {
            return true; // what remains may never have happened
        }
        // The earliest return among the unplaced bounds which operation may come next.
        let deadline = left.iter().filter_map(|&i| ops[i].ret).min().unwrap();
        for &i in &left {
            if ops[i].call > deadline {
                continue;
            }
            let op = &ops[i];
            let slot = states.iter().position(|(k, _)| *k == op.key);
            let current = slot.map(|s| states[s].1.clone()).unwrap_or_default();
            let (next, outcome) = apply(&op.f, &op.value, &current);
            if !matches(&op.outcome, &op.f, &outcome) {
                continue;
            }
            placed[i] = true;
            let saved = states.clone();
            match slot {
                Some(s) => states[s].1 = next,
                None => states.push((op.key.clone(), next)),
            }
            let ok = go(ops, placed, states);
            *states = saved;
            placed[i] = false;
            if ok {
                return true;
            }
        }
        false
    }
    go(ops, &mut vec![false; ops.len()], &mut Vec::new())
}

/// A random small history: operations at random overlapping intervals, each taking effect
/// at a random moment inside its interval (so the history starts out linearizable), then,
/// half the time, one result changed (which may or may not break it).
fn generate(rng: &mut Rng, kv: bool) -> Vec<Op> {
    let n = 2 + rng.below(6) as usize;
    let keys = if kv { 1 + rng.below(2) } else { 1 };
    let mut spans: Vec<(u64, u64, u64)> = (0..n)
        .map(|_| {
            let a = rng.below(40);
            let b = a + 1 + rng.below(20);
            (a, a + rng.below(b - a + 1), b) // (call, effect, return)
        })
        .collect();
    spans.sort();
    let mut effects: Vec<usize> = (0..n).collect();
    effects.sort_by_key(|&i| (spans[i].1, i));
    let mut ops: Vec<Op> = (0..n)
        .map(|i| {
            let key = kv.then(|| format!("k{}", rng.below(keys)));
            let (f, value) = match (kv, rng.below(3)) {
                (true, 0) => ("get", Val::Nil),
                (true, 1) => ("put", Val::Str(format!("p{}", rng.below(3)))),
                (true, _) => ("append", Val::Str(format!("a{i}"))),
                (false, 0) => ("read", Val::Nil),
                (false, 1) => ("write", Val::Int(rng.below(3) as i64)),
                (false, _) => (
                    "cas",
                    Val::List(vec![
                        Val::Int(rng.below(3) as i64),
                        Val::Int(rng.below(3) as i64),
                    ]),
                ),
            };
            Op {
                process: i as u64,
                f: f.to_string(),
                key,
                value,
                outcome: Outcome::Unknown,
                call: spans[i].0,
                ret: Some(spans[i].2),
                line: 0,
            }
        })
        .collect();
    // The register starts as nil, which the plain model writes as "".
    let mut states: Vec<(Option<String>, String)> = Vec::new();
    for &i in &effects {
        let slot = states.iter().position(|(k, _)| *k == ops[i].key);
        let current = slot.map(|s| states[s].1.clone()).unwrap_or_default();
        let (next, outcome) = apply(&ops[i].f, &ops[i].value, &current);
        ops[i].outcome = match outcome {
            Outcome::Ok(Val::Str(s)) if s.is_empty() && !kv => Outcome::Ok(Val::Nil),
            Outcome::Ok(Val::Str(s)) if !kv => Outcome::Ok(Val::Int(s.parse().unwrap())),
            o => o,
        };
        match slot {
            Some(s) => states[s].1 = next,
            None => states.push((ops[i].key.clone(), next)),
        }
    }
    if rng.below(2) == 0 {
        let i = rng.index(n);
        let reads = ["read", "get"];
        if reads.contains(&ops[i].f.as_str()) {
            ops[i].outcome = Outcome::Ok(if kv {
                Val::Str(format!("a{}", rng.below(n as u64)))
            } else {
                Val::Int(rng.below(3) as i64)
            });
        } else if ops[i].f == "cas" {
            ops[i].outcome = match &ops[i].outcome {
                Outcome::Ok(v) => Outcome::Fail(v.clone()),
                Outcome::Fail(v) => Outcome::Ok(v.clone()),
                Outcome::Unknown => Outcome::Unknown,
            };
        }
    }
    // Some operations end unknown: they may or may not have happened.
    for op in ops.iter_mut() {
        if rng.below(6) == 0 {
            op.outcome = Outcome::Unknown;
            op.ret = None;
        }
    }
    ops
}

#[test]
fn the_checker_agrees_with_brute_force_on_generated_histories() {
    let mut rng = Rng::new(7, Stream::Workload);
    let mut seen = [[0u32; 2]; 2];
    for round in 0..3000 {
        let kv = round % 2 == 1;
        let ops = generate(&mut rng, kv);
        let model = if kv {
            ModelKind::Kv
        } else {
            ModelKind::Register
        };
        let brute = brute_force(&ops);
        let fast = match verdict_of(&ops, model) {
            LinVerdict::Linearizable => true,
            LinVerdict::NotLinearizable(_) => false,
            LinVerdict::Inconclusive { .. } => panic!("tiny history inconclusive"),
        };
        assert_eq!(fast, brute, "round {round}: {ops:#?}");
        seen[usize::from(kv)][usize::from(brute)] += 1;
    }
    // Both verdicts, for both models, came up often enough to mean something.
    for (m, counts) in seen.iter().enumerate() {
        for (v, &c) in counts.iter().enumerate() {
            assert!(c >= 100, "model {m} verdict {v}: only {c} histories");
        }
    }
}

// ---- formats ----

#[test]
fn etcd_logs_pair_completions_with_the_last_invocation_and_keep_info_open() {
    let log = "INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
               INFO  jepsen.util - 1   :invoke   :read   nil\n\
               INFO  jepsen.util - 0\t:info\t:write\t:timed-out\n\
               INFO  jepsen.util - 1\t:ok\t:read\t1\n\
               INFO  jepsen.util - 2\t:invoke\t:read\tnil\n\
               INFO  jepsen.util - 2\t:fail\t:read\t:timed-out\n\
               INFO  jepsen.util - 3\t:invoke\t:cas\t[1 2]\n\
               INFO  jepsen.util - 3\t:fail\t:cas\t[1 2]\n";
    let ops = parse(log, Format::detect(log).unwrap()).unwrap();
    assert_eq!(ops.len(), 4);
    assert_eq!(ops[0].outcome, Outcome::Unknown);
    assert_eq!(ops[0].ret, None, "an :info write stays open to the end");
    assert_eq!(ops[1].outcome, Outcome::Ok(Val::Int(1)));
    assert_eq!(ops[3].value, Val::List(vec![Val::Int(1), Val::Int(2)]));
    // The read of 1 says the unknown write took effect before it; nothing changes the value
    // afterwards, so the cas [1 2] that began later must have matched. It failed: not
    // linearizable.
    let (v, stats) = check(&ops, ModelKind::Register, DEFAULT_BUDGET).unwrap();
    assert!(matches!(v, LinVerdict::NotLinearizable(_)), "{v:?}");
    assert_eq!(stats.ignored, 1, "the timed-out read tells nothing");
    // Without the cas the rest is fine: the unknown write took effect before the read.
    let (v, _) = check(&ops[..3], ModelKind::Register, DEFAULT_BUDGET).unwrap();
    assert_eq!(v, LinVerdict::Linearizable);
}

#[test]
fn edn_histories_read_one_map_per_line_or_a_vector_and_skip_the_nemesis() {
    let lines = "{:process 0, :type :invoke, :f :put, :key \"a\", :value \"x\"}\n\
                 {:process :nemesis, :type :info, :f :start, :value nil}\n\
                 {:process 0, :type :ok, :f :put, :key \"a\", :value \"x\"}\n\
                 {:process 1, :type :invoke, :f :get, :key \"a\", :value nil}\n\
                 {:process 1, :type :ok, :f :get, :key \"a\", :value \"x\"}\n";
    let ops = parse(lines, Format::Edn).unwrap();
    assert_eq!(ops.len(), 2);
    assert_eq!(ModelKind::guess(&ops), Some(ModelKind::Kv));
    assert_eq!(verdict_of(&ops, ModelKind::Kv), LinVerdict::Linearizable);
    let vector = format!("[{}]", lines.replace('\n', " "));
    let strip = |mut v: Vec<Op>| {
        v.iter_mut().for_each(|o| o.line = 0);
        v
    };
    assert_eq!(strip(parse(&vector, Format::Edn).unwrap()), strip(ops));
    // A read of a value nobody wrote, in Jepsen's register form.
    let bad = "[{:type :invoke, :f :write, :value 1, :process 0, :time 10, :index 0}\n\
                {:type :ok, :f :write, :value 1, :process 0, :time 20, :index 1}\n\
                {:type :invoke, :f :read, :value nil, :process 1, :time 30, :index 2}\n\
                {:type :ok, :f :read, :value 0, :process 1, :time 40, :index 3}]";
    let ops = parse(bad, Format::Edn).unwrap();
    let LinVerdict::NotLinearizable(c) = verdict_of(&ops, ModelKind::Register) else {
        panic!("a read of 0 after a completed write of 1")
    };
    assert!(c.explain(&ops).contains("no operation ever wrote"), "{c:?}");
}

#[test]
fn faultline_jsonl_round_trips() {
    let mut rng = Rng::new(11, Stream::Workload);
    for _ in 0..50 {
        let ops = generate(&mut rng, true);
        let text = to_jsonl(&ops);
        let back = parse(&text, Format::detect(&text).unwrap()).unwrap();
        assert_eq!(
            verdict_of(&back, ModelKind::Kv) == LinVerdict::Linearizable,
            verdict_of(&ops, ModelKind::Kv) == LinVerdict::Linearizable,
            "{text}"
        );
        assert_eq!(back.len(), ops.len());
    }
}

#[test]
fn malformed_histories_say_where_and_what_was_expected() {
    let cases: &[(&str, Format, usize, &str)] = &[
        (
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - x\t:ok\t:read\t1\n",
            Format::EtcdLog,
            2,
            "process number",
        ),
        (
            "INFO  jepsen.util - 0\t:begin\t:read\tnil\n",
            Format::EtcdLog,
            1,
            ":invoke, :ok, :fail or :info",
        ),
        (
            "INFO  jepsen.util - 0\t:ok\t:read\t1\n",
            Format::EtcdLog,
            1,
            "no open invocation",
        ),
        (
            "{:process 0, :type :invoke, :f :get, :key \"a\" :value nil}\n{:process 0 :type :ok}\n",
            Format::Edn,
            2,
            ":f",
        ),
        (
            "{:process 0, :type :invoke, :f :get, :value \"unclosed}\n",
            Format::Edn,
            1,
            "string",
        ),
        (
            "{\"process\": 0, \"type\": \"invoke\", \"f\": \"get\"}\n{\"process\": 0, \"type\": \"done\", \"f\": \"get\"}\n",
            Format::Jsonl,
            2,
            "\"type\"",
        ),
        (
            "{\"process\": 0, \"type\": \"invoke\", \"f\": \"get\"\n",
            Format::Jsonl,
            1,
            "not JSON",
        ),
    ];
    for &(text, format, line, what) in cases {
        let e = parse(text, format).unwrap_err();
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.message.contains(what), "{text:?}: {e}");
    }
    // A history that parses but does not fit the model.
    let ops = parse(
        "INFO  jepsen.util - 0\t:invoke\t:cas\t5\nINFO  jepsen.util - 0\t:ok\t:cas\t5\n",
        Format::EtcdLog,
    )
    .unwrap();
    let e = check(&ops, ModelKind::Register, DEFAULT_BUDGET).unwrap_err();
    assert!(e.starts_with("1: ") && e.contains("[from to]"), "{e}");
}

#[test]
fn a_counterexample_names_the_prefix_and_the_operation_that_cannot_follow() {
    // write 1 completes; then a read returns nil: it cannot come after the write, and
    // it cannot come before it either, since it began after the write ended.
    let log = "INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
               INFO  jepsen.util - 0\t:ok\t:write\t1\n\
               INFO  jepsen.util - 1\t:invoke\t:read\tnil\n\
               INFO  jepsen.util - 1\t:ok\t:read\tnil\n";
    let ops = parse(log, Format::EtcdLog).unwrap();
    let LinVerdict::NotLinearizable(c) = verdict_of(&ops, ModelKind::Register) else {
        panic!("not linearizable")
    };
    assert_eq!(
        c.prefix,
        vec![0],
        "the write is the longest linearizable prefix"
    );
    assert_eq!(c.stuck.len(), 1);
    assert_eq!(c.stuck[0].0, 1);
    let words = c.explain(&ops);
    assert!(words.contains("here it would return 1, not nil"), "{words}");
    assert!(words.contains("(line 3)"), "{words}");
}

#[test]
fn a_search_past_its_budget_is_inconclusive_never_a_guess() {
    let Some(dir) = shared_data() else { return };
    let text = std::fs::read_to_string(dir.join("jepsen/etcd_002.log")).unwrap();
    let ops = parse(&text, Format::EtcdLog).unwrap();
    let (v, stats) = check(&ops, ModelKind::Register, 1000).unwrap();
    assert_eq!(
        v,
        LinVerdict::Inconclusive {
            key: None,
            steps: 1000
        }
    );
    assert_eq!(stats.steps, 1000);
    // The same budget always gives the same answer: it counts steps, not time.
    assert_eq!(check(&ops, ModelKind::Register, 1000).unwrap().0, v);
    assert_eq!(
        verdict_of(&ops, ModelKind::Register),
        LinVerdict::Linearizable
    );
}
