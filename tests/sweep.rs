//! Sweeps: results independent of the number of threads, a failure limit that cuts at the
//! same seed for any thread count, shards that merge back into the unsharded sweep, and
//! merges that refuse incomplete or mixed inputs.

mod common;

use common::{cli, temp_dir};
use faultline::protocols::raft::Raft;
use faultline::run::sweep::{SeedSet, SweepReport, merge, sweep};
use faultline::scenario::Scenario;

fn run(name: &str, set: &[&str], seeds: SeedSet, jobs: usize, max: Option<u64>) -> SweepReport {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    let scn = Scenario::<Raft>::bundled(name, &set).unwrap();
    sweep(&scn, seeds, jobs, max, &mut |_| {}, &mut |_| {})
}

const BUGGY: &[&str] = &["protocol.params.bugs.count_duplicate_votes=true"];

fn all(from: u64, to: u64) -> SeedSet {
    SeedSet {
        from,
        to,
        shard: (0, 1),
    }
}

#[test]
fn one_job_and_two_jobs_give_the_same_report() {
    let one = run("raft/unreliable-churn", BUGGY, all(1, 120), 1, None);
    let two = run("raft/unreliable-churn", BUGGY, all(1, 120), 2, None);
    assert_eq!(one, two);
    assert_eq!(one.run, 120);
    assert!(!one.failures.is_empty(), "some seed fails with this switch");
    assert_eq!(one.passed + one.failures.len() as u64, 120);
}

#[test]
fn a_failure_limit_cuts_at_the_same_seed_for_any_number_of_jobs() {
    let set = ["protocol.params.bugs.commit_old_terms=true"];
    for jobs in [1, 2, 3] {
        let r = run("raft/figure-8", &set, all(1, 40), jobs, Some(3));
        assert_eq!(r.failures.len(), 3, "jobs {jobs}");
        assert_eq!(r.stopped_after, Some(3), "jobs {jobs}: seeds 1-3 all fail");
        assert_eq!(r.run, 3);
    }
}

#[test]
fn shards_merge_into_the_unsharded_sweep() {
    let whole = run("raft/unreliable-churn", BUGGY, all(50, 199), 2, None);
    let shards: Vec<SweepReport> = (0..3)
        .map(|k| {
            let seeds = SeedSet {
                from: 50,
                to: 199,
                shard: (k, 3),
            };
            run("raft/unreliable-churn", BUGGY, seeds, 1, None)
        })
        .collect();
    assert_eq!(shards.iter().map(|s| s.run).sum::<u64>(), 150);
    let merged = merge(&shards).unwrap();
    assert_eq!(merged, whole);
    // Incomplete or repeated shards are refused.
    let e = merge(&shards[..2]).unwrap_err();
    assert!(e.contains("shard 2/3 is missing"), "{e}");
    let e = merge(&[shards[0].clone(), shards[0].clone(), shards[1].clone()]).unwrap_err();
    assert!(e.contains("appears twice"), "{e}");
}

#[test]
fn the_cli_sweeps_shards_and_merges_with_exit_codes() {
    let dir = temp_dir("sweep-cli");
    let range = "1..40";
    // The unsharded sweep: its report, without the header line, is what the merge must say.
    let (code, whole, err) = cli(&[
        "sweep",
        "raft/unreliable-churn",
        "--seeds",
        range,
        "--set",
        BUGGY[0],
    ]);
    assert_eq!(code, 1, "some seed in {range} fails: {whole}{err}");
    assert!(whole.contains("40 seeds run:"), "{whole}");
    let body = |text: &str| text.lines().skip(1).map(String::from).collect::<Vec<_>>();
    let mut files = Vec::new();
    for k in 0..2 {
        let path = dir.join(format!("shard{k}.jsonl"));
        let shard = format!("{k}/2");
        let (code, out, err) = cli(&[
            "sweep",
            "raft/unreliable-churn",
            "--seeds",
            range,
            "--shard",
            &shard,
            "--set",
            BUGGY[0],
            "--json",
            "--jobs",
            "2",
        ]);
        assert!(code <= 1, "{out}{err}");
        std::fs::write(&path, &out).unwrap();
        files.push(path.to_str().unwrap().to_string());
    }
    let mut args = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    let (code, merged, err) = cli(&args);
    assert_eq!(code, 1, "{merged}{err}");
    assert_eq!(
        body(&merged),
        body(&whole),
        "merge:\n{merged}\nunsharded:\n{whole}"
    );
    assert!(
        merged.contains("reproduce: faultline run raft/unreliable-churn --seed "),
        "{merged}"
    );
    // A shard of another scenario does not merge.
    let other = dir.join("other.jsonl");
    let (_, out, _) = cli(&[
        "sweep",
        "raft/first-election",
        "--seeds",
        range,
        "--shard",
        "1/2",
        "--json",
    ]);
    std::fs::write(&other, out).unwrap();
    let (code, _, err) = cli(&["merge", &files[0], other.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("scenario"), "{err}");
    // Bad arguments.
    let (code, _, err) = cli(&["sweep", "ping/basic", "--seeds", "9..3"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = cli(&["sweep", "ping/basic", "--shard", "2/2"]);
    assert_eq!(code, 2, "{err}");
    let (code, out, _) = cli(&["sweep", "ping/basic", "--seeds", "1..20"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("20 seeds run: 20 passed, 0 failed"), "{out}");
}

#[test]
fn a_swarm_seed_emits_a_plain_scenario_that_replays_the_same_run() {
    let dir = temp_dir("swarm-emit");
    let mut drawn = std::collections::BTreeSet::new();
    let mut strikes = 0;
    for seed in [3u64, 7, 11, 19] {
        let path = dir.join(format!("s{seed}.json"));
        let p = path.to_str().unwrap();
        let s = seed.to_string();
        let (code, out, err) = cli(&[
            "run",
            "raft/swarm",
            "--seed",
            &s,
            "--emit-scenario",
            p,
            "--json",
        ]);
        assert_eq!(code, 0, "{out}{err}");
        let a: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let emitted: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(
            emitted["nemesis"].get("swarm").is_none(),
            "resolved: {emitted}"
        );
        assert_eq!(emitted["seed"], seed);
        // The knob a seed picked is written into the protocol's parameters.
        let batch = &emitted["protocol"]["params"]["batch_max"];
        assert!(batch == 1 || batch == 64, "{batch}");
        strikes += emitted["nemesis"]["strikes"]
            .as_array()
            .map_or(0, |a| a.len());
        drawn.insert(emitted["nemesis"].to_string() + &emitted["network"].to_string());
        // The emitted file, run as a plain scenario, is the same run.
        let (code, out, _) = cli(&["run", p, "--json"]);
        assert_eq!(code, 0);
        let b: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(a["fingerprint"], b["fingerprint"], "seed {seed}");
        assert_eq!(a["steps"], b["steps"]);
    }
    assert_eq!(drawn.len(), 4, "each seed draws its own faults and network");
    assert!(
        strikes > 0,
        "some of these seeds strike at announced moments"
    );
}

#[test]
fn the_swarm_finds_raft_bug_switches_without_being_told_which() {
    // A sweep of the swarm scenario, the same for every switch: the checks alone find them.
    for (bug, seeds) in [
        ("skip_up_to_date_check", 20),
        ("count_duplicate_votes", 100),
        ("reply_before_sync", 5),
        ("truncate_on_match", 5),
        ("stale_leader_reads", 100),
        // Needs a Figure 8 chain: strikes on new leaders and on commits, and a seed whose
        // knobs pick batch_max 1 (first found at seed 557; about 1 seed in 800 finds it).
        ("commit_old_terms", 600),
    ] {
        let set = format!("protocol.params.bugs.{bug}=true");
        let r = run("raft/swarm", &[set.as_str()], all(1, seeds), 2, Some(1));
        assert_eq!(r.failures.len(), 1, "{bug}: nothing in seeds 1..={seeds}");
    }
    let clean = run("raft/swarm", &[], all(1, 200), 2, None);
    assert!(
        clean.all_passed(),
        "no switch, no alarm: {:?}",
        clean.groups
    );
}

#[test]
fn delivery_orders_and_the_feedback_sweep_from_the_command_line() {
    // `random` is the default: asking for it changes nothing; another order changes the run.
    let fingerprint = |set: &[&str]| {
        let mut args = vec!["run", "raft/swarm", "--seed", "3", "--json"];
        for s in set {
            args.extend(["--set", s]);
        }
        let (code, out, err) = cli(&args);
        assert_eq!(code, 0, "{out}{err}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        v["fingerprint"].clone()
    };
    let plain = fingerprint(&[]);
    assert_eq!(fingerprint(&["network.order=random"]), plain);
    for order in ["oldest", "newest", r#"{"pct":{"depth":3}}"#] {
        let set = format!("network.order={order}");
        assert_ne!(fingerprint(&[set.as_str()]), plain, "{order}");
    }
    // A bad depth is bad input, named by its field.
    let (code, _, err) = cli(&[
        "run",
        "raft/swarm",
        "--set",
        r#"network.order={"pct":{"depth":0}}"#,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("network.order") && err.contains("depth"),
        "{err}"
    );
    // The feedback sweep: the same report for one job and two, a corpus with mutations, and
    // the coverage it reached.
    let sweep = |jobs: &str| {
        let (code, out, err) = cli(&[
            "sweep",
            "raft/swarm",
            "--seeds",
            "1..200",
            "--feedback",
            "--jobs",
            jobs,
        ]);
        assert_eq!(code, 0, "{out}{err}");
        out.lines().skip(1).map(String::from).collect::<Vec<_>>()
    };
    let one = sweep("1");
    assert_eq!(one, sweep("2"));
    let text = one.join("\n");
    assert!(text.contains("200 runs: 200 passed"), "{text}");
    assert!(text.contains("coverage: "), "{text}");
    assert!(!text.contains("(0 of them mutations)"), "{text}");
    // Feedback does not shard.
    let (code, _, err) = cli(&["sweep", "ping/basic", "--feedback", "--shard", "0/2"]);
    assert_eq!(code, 2, "{err}");
}
