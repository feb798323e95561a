//! Sweep throughput (`cargo bench --bench sweep`): seeds per second of wall time for a pinned
//! workload, with one job and with every core.
//!
//! The workload: Raft on 5 nodes, 10 s of virtual time, 50 ms heartbeats, clients issuing
//! about 50 operations per virtual second (3 closed-loop clients thinking 30-60 ms), and the
//! swarm nemesis (each seed its own fault mix) for the first 7 s. Every invariant runs on
//! every step and the history is checked for linearizability at the end, as in any sweep.
//! The measured client rate is printed so the pin can be checked. Seeds 1..=N; N = 400
//! (40 with `FAULTLINE_BENCH_QUICK=1`, a smoke test whose numbers mean little).

// Benchmarks measure real time by design; clippy.toml bans `Instant` for the simulator itself.
#![allow(clippy::disallowed_types)]

use faultline::protocols::raft::Raft;
use faultline::run::sweep::{SeedSet, sweep};
use faultline::scenario::load;
use std::time::Instant;

const SCENARIO: &str = r#"{
  "schema": 1,
  "description": "bench: pinned Raft sweep workload",
  "protocol": {"name": "raft", "params": {"heartbeat_ms": 50}},
  "nodes": 5,
  "seed": 1,
  "network": {"preset": "lan"},
  "workload": {"clients": 3, "think_ms_min": 30, "think_ms_max": 60, "timeout_ms": 300, "retries": 5},
  "nemesis": {"until_ms": 7000, "swarm": {}},
  "limits": {"time_ms": 10000},
  "liveness_budget_ms": 3000,
  "expect": [{"check": "leader_elected", "kind": "eventually"}]
}"#;

fn main() {
    let quick = std::env::var_os("FAULTLINE_BENCH_QUICK").is_some();
    let n: u64 = if quick { 40 } else { 400 };
    let scn = load::<Raft>("bench/raft-sweep", SCENARIO, &[]).expect("the pinned scenario loads");
    // The client rate the pin promises, measured on one run.
    let r = scn.run(1, None).expect("runs");
    let per_second = r.ops.invoked as f64 / (r.time_end.as_us() as f64 / 1e6);
    println!(
        "pinned workload: raft, 5 nodes, 10 s virtual, heartbeat 50 ms, swarm faults; seed 1: {} client ops ({per_second:.1} per virtual second), {} steps",
        r.ops.invoked, r.steps
    );
    let cores = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1);
    let mut one_job = 0.0;
    for jobs in [1, cores] {
        let seeds = SeedSet {
            from: 1,
            to: n,
            shard: (0, 1),
        };
        let t = Instant::now();
        let report = sweep(&scn, seeds, jobs, None, &mut |_| {}, &mut |_| {});
        let secs = t.elapsed().as_secs_f64();
        let rate = n as f64 / secs;
        if jobs == 1 {
            one_job = rate;
        }
        println!(
            "jobs {jobs}: {n} seeds in {secs:.2} s = {rate:.0} seeds/s ({:.0} per core{}); {} failed",
            rate / jobs as f64,
            if jobs > 1 {
                format!(", {:.2}x one job", rate / one_job)
            } else {
                String::new()
            },
            report.failures.len()
        );
        assert!(
            report.all_passed(),
            "a clean pinned sweep must pass: {:?}",
            report.groups
        );
        if jobs == cores {
            break;
        }
    }
}
