//! The harness's own tests, with a toy protocol that is not bundled.

use super::*;
use crate::protocol::{
    ClientCtx, ClientId, ClientLogic, Ctx, Failure as PropFailure, Knob, Liveness, NodeId,
    PropertyDef, RequestId, Time, View, WorkloadConfig,
};
use crate::protocols::ping::Ping;
use crate::trace::fingerprint_hex;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// A test's own directory, `faultline-harness-PID-NAME` in the system's temporary
/// directory (not created).
fn temp_root(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("faultline-harness-{}-{name}", std::process::id()))
}

/// A fresh, empty directory for one test, removed when the guard is dropped at the end of
/// the test (kept if the test fails, to look at).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

fn temp(name: &str) -> TempDir {
    let dir = temp_root(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn no_env() -> Knobs {
    Knobs::default()
}

/// A toy protocol, not in the registry: nodes greet each other every 100 ms. Its
/// parameters make it fail on some seeds, panic, or leak state between runs.
#[derive(Clone, Debug)]
struct Toy {
    config: ToyConfig,
    draw: Option<u64>,
    heard: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ToyConfig {
    /// Each node draws below this at start; a 0 fails `no_jackpot` (0: no draw).
    jackpot_in: u64,
    /// Panic in the timer handler at or after this local time.
    panic_at_ms: Option<u64>,
    /// Take the first timer's delay from a process-wide counter: every run differs.
    leak: bool,
}

static LEAK: AtomicU64 = AtomicU64::new(0);

impl Protocol for Toy {
    const NAME: &'static str = "toy";
    type Config = ToyConfig;
    type Msg = ();
    type Timer = ();
    type Request = ();
    type Response = ();
    type Record = ();
    type Client = Quiet;

    fn new(_: NodeId, _: u32, config: &ToyConfig) -> Self {
        Toy {
            config: config.clone(),
            draw: None,
            heard: 0,
        }
    }
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.config.jackpot_in > 0 {
            self.draw = Some(ctx.rng().below(self.config.jackpot_in));
        }
        let mut first = 10;
        if self.config.leak {
            first += LEAK.fetch_add(1, Ordering::SeqCst) % 7;
        }
        ctx.set_timer((), Time::from_ms(first));
    }
    fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {
        self.heard += 1;
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _: ()) {
        if let Some(t) = self.config.panic_at_ms {
            assert!(ctx.now() < Time::from_ms(t), "boom");
        }
        ctx.broadcast(());
        ctx.set_timer((), Time::from_ms(100));
    }
    fn knobs() -> Vec<Knob> {
        vec![Knob::between("jackpot_in", 3, 6)]
    }
    fn liveness(c: &ToyConfig) -> Liveness {
        Liveness::default().within(
            "heard_a_lot",
            true,
            Time::from_ms(100 * c.jackpot_in),
            "100 × jackpot_in",
        )
    }
    fn properties() -> Vec<PropertyDef<Self>> {
        vec![
            PropertyDef::invariant(
                "no_jackpot",
                "no node drew 0",
                |v: &View<'_, Toy>, _: Option<&crate::check::Trigger>| {
                    for n in v.nodes() {
                        if v.node(n).and_then(|t| t.draw) == Some(0) {
                            return Err(PropFailure::new(
                                format!("{n} drew 0\nin its first draw"),
                                vec![n],
                            ));
                        }
                    }
                    Ok(())
                },
            )
            .always(),
            PropertyDef::invariant(
                "heard_a_lot",
                "every node heard 1000 greetings",
                |v: &View<'_, Toy>, _: Option<&crate::check::Trigger>| {
                    for n in v.nodes() {
                        if v.node(n).is_some_and(|t| t.heard < 1000) {
                            return Err(PropFailure::new("not yet", vec![n]));
                        }
                    }
                    Ok(())
                },
            ),
        ]
    }
}

#[derive(Clone)]
struct Quiet;

impl ClientLogic<Toy> for Quiet {
    fn new(_: ClientId, _: u32, _: &WorkloadConfig, _: &ToyConfig) -> Self {
        Quiet
    }
    fn on_start(&mut self, _: &mut ClientCtx<'_, Toy>) {}
    fn on_response(&mut self, _: &mut ClientCtx<'_, Toy>, _: NodeId, _: RequestId, _: ()) {}
    fn on_timer(&mut self, _: &mut ClientCtx<'_, Toy>, _: u64) {}
}

fn toy(name: &str, params: &str) -> Harness<Toy> {
    Harness::<Toy>::new(name)
        .set(&format!("protocol.params={params}"))
        .set("limits.time_ms=1000")
        .knobs(no_env())
        .trace_dir(temp_root(name))
}

#[test]
fn a_test_directory_goes_when_its_test_ends() {
    let path = {
        let dir = temp("guard");
        std::fs::write(dir.join("t.jsonl"), "x").unwrap();
        dir.to_path_buf()
    };
    assert!(!path.exists(), "{} is left behind", path.display());
    // No other test of this process leaves its folder once it is done: the toy harnesses
    // write into folders their tests hold (counted at the end of a run, by hand:
    // `ls -d $TMPDIR/faultline-harness-*` stays as it was).
}

#[test]
fn knobs_parse_the_environment() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(*v))
        }
    };
    assert_eq!(Knobs::parse(env(&[])), Ok(Knobs::default()));
    assert_eq!(
        Knobs::parse(env(&[
            ("FAULTLINE_SEEDS", "25"),
            ("FAULTLINE_SEED", " 17 "),
            ("FAULTLINE_DETERMINISM", "1"),
        ])),
        Ok(Knobs {
            seeds: Some(25),
            seed: Some(17),
            determinism: true
        })
    );
    for (value, on) in [("true", true), ("ON", true), ("0", false), ("no", false)] {
        let k = Knobs::parse(|n: &str| (n == ENV_DETERMINISM).then(|| value.into()));
        assert_eq!(k.map(|k| k.determinism), Ok(on), "{value}");
    }
    // Empty means unset, as in `FAULTLINE_SEED= cargo test`.
    assert_eq!(
        Knobs::parse(env(&[("FAULTLINE_SEED", ""), ("FAULTLINE_SEEDS", " ")])),
        Ok(Knobs::default())
    );
    let err = |pairs| Knobs::parse(env(pairs)).unwrap_err();
    assert_eq!(
        err(&[("FAULTLINE_SEEDS", "abc")]),
        "FAULTLINE_SEEDS=\"abc\" is not a seed count; expected a whole number from 1 to 100000000"
    );
    assert!(err(&[("FAULTLINE_SEEDS", "0")]).starts_with("FAULTLINE_SEEDS=\"0\""));
    assert!(err(&[("FAULTLINE_SEEDS", "-3")]).starts_with("FAULTLINE_SEEDS=\"-3\""));
    assert!(err(&[("FAULTLINE_SEED", "1.5")]).starts_with("FAULTLINE_SEED=\"1.5\" is not a seed"));
    assert!(
        err(&[("FAULTLINE_DETERMINISM", "maybe")])
            .starts_with("FAULTLINE_DETERMINISM=\"maybe\" is not a switch")
    );
}

#[test]
fn regression_seeds_come_first_once_each() {
    assert_eq!(
        seed_list(&[42, 3, 42, 7], 5, None),
        vec![42, 3, 7, 1, 2, 4, 5]
    );
    assert_eq!(seed_list(&[], 3, None), vec![1, 2, 3]);
    assert_eq!(seed_list(&[42, 7], 100, Some(17)), vec![17]);
}

#[test]
fn the_first_failing_seed_in_order_is_reported_whatever_the_threads() {
    let _dirs = [
        temp("toy_lottery_one"),
        temp("toy_lottery"),
        temp("toy_lottery_pass"),
    ];
    // Which of seeds 1..=30 fail, one at a time.
    let failing: Vec<u64> = (1..=30)
        .filter(|&s| {
            toy("toy_lottery_one", r#"{"jackpot_in": 12}"#)
                .knobs(Knobs {
                    seed: Some(s),
                    ..Knobs::default()
                })
                .run()
                .is_err()
        })
        .collect();
    assert!(
        failing.len() >= 2 && failing.len() < 30,
        "the lottery should fail some seeds, not all: {failing:?}"
    );
    let (first, last) = (failing[0], failing[failing.len() - 1]);
    let passing = (1..=30).find(|s| !failing.contains(s)).unwrap();
    let line = |threads: usize, regression: &[u64]| {
        let f = toy("toy_lottery", r#"{"jackpot_in": 12}"#)
            .seeds(30)
            .threads(threads)
            .regression_seeds(regression.iter().copied())
            .run()
            .unwrap_err();
        assert!(matches!(f.kind, FailureKind::Check(_)), "{f}");
        (f.seed.unwrap(), f.line)
    };
    let (seed, one) = line(1, &[]);
    assert_eq!(seed, first);
    assert_eq!(line(3, &[]), (first, one.clone()), "threads change nothing");
    assert_eq!(line(2, &[last]).0, last, "a regression seed runs first");
    assert_eq!(line(2, &[passing, last]).0, last);
    let passed = toy("toy_lottery_pass", r#"{"jackpot_in": 12}"#)
        .seeds(0)
        .regression_seeds([passing])
        .run()
        .unwrap();
    assert_eq!(passed.seeds, vec![passing]);
}

#[test]
fn the_failure_line_names_check_seed_time_replay_and_trace() {
    let dir = temp("ping_boot_bug");
    let f = Harness::<Ping>::new("ping_boot_bug")
        .bundled("ping/bug-skip-boot-sync")
        .seeds(3)
        .knobs(no_env())
        .trace_dir(&*dir)
        .run()
        .unwrap_err();
    let trace = dir.join("ping_boot_bug-seed1.jsonl");
    assert_eq!(
        f.line,
        format!(
            "faultline: ping_boot_bug failed check pong_matches_ping (safety) at seed 1, t=1.129985s: \
                 n1 (boot 1) accepted a pong from n2 for boot 1 round 33, but this incarnation had only sent round 4 to it: \
                 the pong answers an earlier incarnation whose boot number was reused \
                 | replay: FAULTLINE_SEED=1 cargo test ping_boot_bug \
                 | cli: faultline run ping/bug-skip-boot-sync --seed 1 | trace: {}",
            trace.display()
        )
    );
    assert!(!f.line.contains('\n'));
    assert_eq!(f.seed, Some(1));
    assert_eq!(f.traces, vec![trace.clone()]);
    // The trace is complete (header, records, summary) and nothing partial is left.
    assert_eq!(files(&dir), vec!["ping_boot_bug-seed1.jsonl"]);
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["ev"], "header");
    assert_eq!(lines[0]["seed"], 1);
    assert_eq!(lines[0]["source"], "ping/bug-skip-boot-sync");
    let summary = lines.last().unwrap();
    assert_eq!(summary["ev"], "summary");
    assert_eq!(summary["verdict"]["check"], "pong_matches_ping");
    assert_eq!(
        summary["reproduce"],
        "faultline run ping/bug-skip-boot-sync --seed 1"
    );
    let report = f.report.unwrap();
    assert_eq!(summary["fingerprint"], fingerprint_hex(report.fingerprint));
    // Every record is in the file; display records (timers set, published state) come on
    // top and are not counted.
    let display = text
        .lines()
        .filter(|l| crate::trace::is_display_line(l))
        .count();
    assert!(display > 0, "ping shows its state and sets timers");
    assert_eq!((lines.len() - display) as u64, report.records + 2);
}

#[test]
fn overrides_reach_the_scenario_and_the_cli_line() {
    let dir = temp("ping_overrides");
    let mut config = crate::protocols::ping::Config {
        interval_ms: 20,
        jitter_ms: 5,
        ..Default::default()
    };
    // The bundled bug scenario with its switch turned off by a typed override passes.
    let passed = Harness::<Ping>::new("ping_overrides_pass")
        .bundled("ping/bug-skip-boot-sync")
        .params(&config)
        .seeds(5)
        .knobs(no_env())
        .check();
    assert_eq!(passed.seeds, vec![1, 2, 3, 4, 5]);
    config.bugs.skip_boot_sync = true;
    let f = Harness::<Ping>::new("ping_overrides")
        .bundled("ping/bug-skip-boot-sync")
        .params(&config)
        .set("nodes=3")
        .seeds(5)
        .knobs(no_env())
        .trace_dir(&*dir)
        .run()
        .unwrap_err();
    assert!(
            f.line.contains(
                "| cli: faultline run ping/bug-skip-boot-sync --seed 1 --set 'protocol.params={\"interval_ms\":20,\"jitter_ms\":5,\"bugs\":{\"skip_boot_sync\":true}}' --set nodes=3 |"
            ),
            "{f}"
        );
    let text = std::fs::read_to_string(&f.traces[0]).unwrap();
    let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["overrides"].as_array().unwrap().len(), 2);
    assert_eq!(
        header["scenario"]["protocol"]["params"]["bugs"]["skip_boot_sync"],
        true
    );
}

#[test]
fn a_protocol_of_your_own_gets_no_cli_line_and_a_flat_message() {
    let _dir = temp("toy_always");
    let f = toy("toy_always", r#"{"jackpot_in": 1}"#)
        .seeds(5)
        .run()
        .unwrap_err();
    let trace = temp_path("toy_always", "toy_always-seed1.jsonl");
    assert_eq!(
        f.line,
        format!(
            "faultline: toy_always failed check no_jackpot (safety) at seed 1, t=0.000000s: n1 drew 0 in its first draw \
                 | replay: FAULTLINE_SEED=1 cargo test toy_always | trace: {}",
            trace.display()
        )
    );
    assert!(trace.exists());
}

fn temp_path(test: &str, file: &str) -> PathBuf {
    temp_root(test).join(file)
}

#[test]
fn a_handler_panic_is_a_failure_with_its_location() {
    let _dir = temp("toy_panic");
    let f = toy("toy_panic", r#"{"panic_at_ms": 300}"#)
        .seeds(2)
        .run()
        .unwrap_err();
    let FailureKind::Check(finding) = &f.kind else {
        panic!("{f}")
    };
    assert_eq!(finding.check, "protocol_panic");
    assert!(
            f.line.starts_with(
                "faultline: toy_panic failed check protocol_panic (panic) at seed 1, t=0.310000s: n1 panicked in a toy handler: boom (at src/harness/tests.rs:"
            ),
            "{f}"
        );
}

#[test]
fn inconclusive_runs_are_reported_apart_or_let_by() {
    let _dirs = [temp("toy_inconclusive"), temp("toy_inconclusive_allowed")];
    let expect =
        r#"[{"check": "heard_a_lot", "kind": "within", "after": "heal", "within_ms": 5000}]"#;
    let f = toy("toy_inconclusive", "{}")
        .set(&format!("expect={expect}"))
        .seeds(2)
        .run()
        .unwrap_err();
    assert!(matches!(f.kind, FailureKind::Inconclusive { .. }), "{f}");
    assert!(
        f.line
            .starts_with("faultline: toy_inconclusive was inconclusive at seed 1, t=1.000000s: "),
        "{f}"
    );
    assert!(
        f.line
            .contains(" | replay: FAULTLINE_SEED=1 cargo test toy_inconclusive | trace: ")
    );
    let passed = toy("toy_inconclusive_allowed", "{}")
        .set(&format!("expect={expect}"))
        .seeds(2)
        .allow_inconclusive(true)
        .run()
        .unwrap();
    assert_eq!(passed.inconclusive, vec![1, 2]);
}

#[test]
fn a_run_stopped_at_a_memory_bound_is_let_by_with_the_inconclusive_ones() {
    let _dirs = [temp("toy_bound"), temp("toy_bound_allowed")];
    let f = toy("toy_bound", "{}")
        .set("limits.pending_max=1")
        .seeds(2)
        .run()
        .unwrap_err();
    assert!(f.line.contains("memory_bound"), "{f}");
    let passed = toy("toy_bound_allowed", "{}")
        .set("limits.pending_max=1")
        .seeds(2)
        .allow_inconclusive(true)
        .run()
        .unwrap();
    assert_eq!(passed.inconclusive, vec![1, 2]);
}

#[test]
fn identical_runs_pass_the_determinism_check() {
    let _dir = temp("toy_twice");
    let passed = Harness::<Ping>::new("ping_twice")
        .bundled("ping/nemesis")
        .seeds(4)
        .determinism(true)
        .knobs(no_env())
        .check();
    assert!(passed.determinism);
    assert_eq!(passed.seeds.len(), 4);
    let passed = toy("toy_twice", "{}")
        .knobs(Knobs {
            seeds: Some(3),
            determinism: true,
            ..Knobs::default()
        })
        .check();
    assert!(passed.determinism);
    assert_eq!(passed.seeds, vec![1, 2, 3]);
}

#[test]
fn runs_that_differ_fail_the_determinism_check() {
    let dir = temp("toy_leak");
    let f = toy("toy_leak", r#"{"leak": true}"#)
        .trace_dir(&*dir)
        .seeds(3)
        .determinism(true)
        .run()
        .unwrap_err();
    let FailureKind::Nondeterministic {
        fingerprints,
        first_difference,
    } = f.kind
    else {
        panic!("{}", f.line)
    };
    assert_ne!(fingerprints[0], fingerprints[1]);
    // Line 1 is the header, which holds only inputs.
    assert!(first_difference.is_some_and(|l| l > 1), "{}", f.line);
    assert!(
        f.line.starts_with(
            "faultline: toy_leak is not deterministic at seed 1: two runs gave fingerprints "
        ),
        "{}",
        f.line
    );
    assert!(
        f.line.contains(
            " | replay: FAULTLINE_SEED=1 FAULTLINE_DETERMINISM=1 cargo test toy_leak | trace: "
        ),
        "{}",
        f.line
    );
    assert_eq!(
        files(&dir),
        vec!["toy_leak-seed1-run1.jsonl", "toy_leak-seed1-run2.jsonl"]
    );
}

#[test]
fn scenarios_for_a_protocol_of_your_own_are_validated_with_positions() {
    let good = r#"{
  "schema": 1,
  "description": "toy",
  "protocol": {"name": "toy", "params": {"jackpot_in": 5}},
  "nodes": 3,
  "network": {"preset": "lossy"},
  "limits": {"time_ms": 1000},
  "expect": [{"check": "heard_a_lot", "kind": "eventually"}]
}"#;
    let scn = scenario::load::<Toy>("t.json", good, &[]).unwrap();
    assert_eq!(scn.file.protocol.name, "toy");
    assert_eq!(scn.file.expect[0].check, "heard_a_lot");
    assert!(scn.json["network"].get("preset").is_none(), "resolved");
    let config = scn.for_seed(9).unwrap().config(9).unwrap();
    assert_eq!((config.seed, config.protocol.jackpot_in), (9, 5));

    let err = |text: String| scenario::load::<Toy>("t.json", &text, &[]).unwrap_err();
    let e = err(good.replace("\"nodes\": 3", "\"nodes\": 0"));
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(5), Some("nodes")),
        "{e}"
    );
    let e = err(good.replace("\"jackpot_in\": 5", "\"jackpot\": 5"));
    assert_eq!(e.field.as_deref(), Some("protocol.params.jackpot"), "{e}");
    assert_eq!((e.line, e.column), (Some(4), Some(53)), "{e}");
    assert!(e.message.contains("unknown field `jackpot`"), "{e}");
    let e = err(good.replace("\"heard_a_lot\"", "\"heard_little\""));
    assert_eq!(e.field.as_deref(), Some("expect[0].check"), "{e}");
    assert_eq!(e.line, Some(8), "{e}");
    assert!(
        e.message.contains(
            "protocol toy has no check named \"heard_little\"; it has: no_jackpot, heard_a_lot"
        ),
        "{e}"
    );
    let e = err(good.replace("\"name\": \"toy\"", "\"name\": \"raft\""));
    assert_eq!(e.message, "this scenario is for raft, not toy", "{e}");
    let e = err(good.replace("\"schema\": 1,", "\"schema\": 1, \"extra\": 2,"));
    assert!(e.message.contains("unknown field `extra`"), "{e}");
    let e = err(good.replace("{\"name\": \"toy\",", "{\"name\": \"toy\", \"x\": 1,"));
    assert!(e.message.contains("unknown field `x`"), "{e}");
    let e = err("[1, 2]".to_string());
    assert!(e.message.contains("JSON object"), "{e}");

    // With overrides, positions are not guessed.
    let e = scenario::load::<Toy>("t.json", good, &["nodes=0".into()]).unwrap_err();
    assert_eq!((e.line, e.field.as_deref()), (None, Some("nodes")), "{e}");

    // Swarm knobs are checked against the protocol, and drawn per seed.
    let swarm = good.replace(
        "\"limits\"",
        r#""nemesis": {"until_ms": 500, "swarm": {"params": {"jackpot_in": [7, 9]}}},
  "limits""#,
    );
    let scn = scenario::load::<Toy>("t.json", &swarm, &[]).unwrap();
    let drawn: Vec<u64> = (1..=20)
        .map(|s| {
            scn.for_seed(s)
                .unwrap()
                .config(s)
                .unwrap()
                .protocol
                .jackpot_in
        })
        .collect();
    assert!(drawn.contains(&7) && drawn.contains(&9), "{drawn:?}");
    let e = err(swarm.replace("[7, 9]", "[7, \"nine\"]"));
    assert_eq!(
        e.field.as_deref(),
        Some("nemesis.swarm.params.jackpot_in[1]"),
        "{e}"
    );

    // The protocol's own knobs and liveness duty, when the swarm asks for them: each seed
    // draws within the declared range, and the liveness check's budget follows the draw.
    let own = good
        .replace(
            "\"limits\"",
            r#""nemesis": {"until_ms": 500, "swarm": {"knobs": true, "liveness": true}},
  "limits""#,
        )
        .replace(
            r#""expect": [{"check": "heard_a_lot", "kind": "eventually"}]"#,
            r#""expect": []"#,
        );
    let scn = scenario::load::<Toy>("t.json", &own, &[]).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for s in 1..=40 {
        let resolved = scn.for_seed(s).unwrap();
        let config = resolved.config(s).unwrap();
        let jackpot = config.protocol.jackpot_in;
        assert!((3..=6).contains(&jackpot), "{jackpot}");
        seen.insert(jackpot);
        assert_eq!(config.expectations.len(), 1);
        let e = &config.expectations[0];
        assert_eq!(e.check, "heard_a_lot");
        assert_eq!(
            e.kind,
            crate::check::ExpectKind::Eventually {
                budget: Some(Time::from_ms(100 * jackpot)),
                stays: true
            }
        );
        // Resolved, it is an ordinary scenario: resolving again changes nothing.
        assert_eq!(resolved.for_seed(s).unwrap().json, resolved.json);
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    // A check the scenario expects itself keeps the scenario's terms.
    let listed = own.replace(
        r#""expect": []"#,
        r#""expect": [{"check": "heard_a_lot", "kind": "eventually", "budget_ms": 77}]"#,
    );
    let scn = scenario::load::<Toy>("t.json", &listed, &[]).unwrap();
    let config = scn.for_seed(3).unwrap().config(3).unwrap();
    assert_eq!(config.expectations.len(), 1);
    assert_eq!(
        config.expectations[0].kind,
        crate::check::ExpectKind::Eventually {
            budget: Some(Time::from_ms(77)),
            stays: false
        }
    );
}

#[test]
fn bad_input_fails_with_one_line() {
    let f = Harness::<Ping>::new("ping_missing")
        .bundled("ping/no-such-scenario")
        .knobs(no_env())
        .run()
        .unwrap_err();
    assert!(
            f.line
                .starts_with("faultline: ping_missing: no bundled scenario named \"ping/no-such-scenario\"; bundled: "),
            "{f}"
        );
    let f = Harness::<Ping>::new("ping_bad")
        .set("nodes=0")
        .knobs(no_env())
        .run()
        .unwrap_err();
    assert_eq!(
        f.line,
        "faultline: ping_bad: bad scenario: ping_bad: nodes: 0 nodes is out of range; expected 1 to 1000"
    );
    let f = Harness::<Ping>::new("ping_none")
        .seeds(0)
        .knobs(no_env())
        .run();
    assert_eq!(
        f.unwrap_err().line,
        "faultline: ping_none: no seeds to run: give a count above 0 or regression seeds"
    );
    let f = Harness::<Ping>::new("ping_file")
        .scenario_file("/no/such/file.json")
        .knobs(no_env())
        .run()
        .unwrap_err();
    assert!(matches!(f.kind, FailureKind::BadInput { .. }));
    assert!(
        f.line
            .starts_with("faultline: ping_file: cannot read the scenario /no/such/file.json: ")
    );
}

/// A scenario file that never ends is refused at the scenario cap, not read on.
#[cfg(unix)]
#[test]
fn an_endless_scenario_file_is_refused() {
    let f = Harness::<Ping>::new("ping_zero")
        .scenario_file("/dev/zero")
        .knobs(no_env())
        .run()
        .unwrap_err();
    assert!(matches!(f.kind, FailureKind::BadInput { .. }));
    assert_eq!(
        f.line,
        "faultline: ping_zero: cannot read the scenario /dev/zero: more than 16777216 bytes (the most this input may hold); a device or pipe that never ends is refused too"
    );
}

#[test]
fn the_default_scenario_runs_the_protocol_quietly() {
    let passed = Harness::<Ping>::new("ping_default")
        .knobs(Knobs {
            seed: Some(5),
            ..Knobs::default()
        })
        .regression_seeds([1, 2])
        .check();
    assert_eq!(passed.seeds, vec![5], "FAULTLINE_SEED runs that seed alone");
}

#[test]
fn the_target_dir_comes_from_the_variable_the_manifest_or_the_binary() {
    let tmp = PathBuf::from("/tmp/x");
    let root = temp("target_dir");
    std::fs::create_dir_all(root.join("target/debug/deps")).unwrap();
    std::fs::create_dir_all(root.join("crates/member")).unwrap();
    std::fs::create_dir_all(root.join("elsewhere/release/deps")).unwrap();
    std::fs::write(root.join("elsewhere/CACHEDIR.TAG"), "").unwrap();
    let exe = root.join("elsewhere/release/deps/t-0123");
    assert_eq!(
        target_dir(Some("/t".into()), Some("/m".into()), None, tmp.clone()),
        PathBuf::from("/t")
    );
    assert_eq!(
        target_dir(
            Some("".into()),
            Some(root.join("crates/member")),
            Some(exe.clone()),
            tmp.clone()
        ),
        root.join("target"),
        "a workspace's target is found above the member"
    );
    assert_eq!(
        target_dir(None, None, Some(exe.clone()), tmp.clone()),
        root.join("elsewhere")
    );
    assert_eq!(
        target_dir(None, Some(root.join("crates")), None, tmp.clone()),
        root.join("target")
    );
    assert_eq!(
        target_dir(None, None, Some("/bin/t".into()), tmp.clone()),
        tmp
    );
    assert_eq!(target_dir(None, None, None, tmp.clone()), tmp);
}

#[test]
fn bundled_means_a_type_of_the_crates_protocols() {
    assert!(bundled_type::<Ping>());
    assert!(bundled_type::<crate::protocols::raft::Raft>());
    assert!(!bundled_type::<Toy>(), "{}", std::any::type_name::<Toy>());
}
