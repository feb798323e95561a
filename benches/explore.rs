//! Explorer throughput (`cargo bench --bench explore`): unique states per second and bytes of
//! resident memory per unique state, single-threaded, on the closest faultline equivalent of
//! stateright's own Paxos example (`paxos/explore-register`: 3 nodes, 2 clients that put then
//! get, unordered network without loss or duplication, no timers, no crashes,
//! linearizability on every state where an operation completed, `value_chosen` as a
//! sometimes-check), and on a space small enough to explore whole (`paxos/explore-crash`
//! without its crash: one proposer). `tools/stateright-peer.sh` runs stateright's example
//! for the same machine; `tools/explore-vs-stateright.sh` runs both back to back.
//!
//! The register's space is far larger than stateright's (docs/scale.md says why), so it is
//! explored to a bound on unique states: 2,000,000 depth-first and 300,000 breadth-first
//! (20,000 and 10,000 with `FAULTLINE_BENCH_QUICK=1`, a smoke test). Memory is the growth of
//! the process's resident size over the run (sampled every 4096 states), divided by the
//! unique states: it counts the table of fingerprints, the trail and the states waiting.

// Benchmarks measure real time and memory by design; clippy.toml bans `Instant` for the
// simulator itself.
#![allow(clippy::disallowed_types)]

use faultline::explore::{self, ExploreSpec, Progress, Strategy};
use faultline::protocols::paxos::Paxos;
use faultline::scenario::Scenario;
use std::time::Instant;

fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn measure(label: &str, scn: &Scenario<Paxos>, spec: ExploreSpec) {
    let base = rss();
    let mut peak = base;
    let t = Instant::now();
    let out = explore::explore(scn, Some(spec), &mut |_: &Progress| {
        peak = peak.max(rss());
        None
    })
    .expect("the scenario explores");
    let secs = t.elapsed().as_secs_f64();
    peak = peak.max(rss());
    let grown = peak.saturating_sub(base);
    println!(
        "faultline {label}: unique={} states={} depth={} seconds={secs:.3} unique_per_s={:.0} states_per_s={:.0} bytes_per_state={:.0} stop={:?}",
        out.unique,
        out.states,
        out.depth,
        out.unique as f64 / secs,
        out.states as f64 / secs,
        grown as f64 / out.unique as f64,
        out.stop,
    );
}

fn main() {
    let quick = std::env::var_os("FAULTLINE_BENCH_QUICK").is_some();
    let register = Scenario::<Paxos>::bundled("paxos/explore-register", &[]).expect("bundled");
    let base = register.file.explore.clone().expect("an explore block");
    let (dfs_states, bfs_states) = if quick {
        (20_000, 10_000)
    } else {
        (2_000_000, 300_000)
    };
    measure(
        "paxos/explore-register depth-first",
        &register,
        ExploreSpec {
            strategy: Strategy::Depth,
            states: dfs_states,
            ..base.clone()
        },
    );
    measure(
        "paxos/explore-register breadth-first",
        &register,
        ExploreSpec {
            strategy: Strategy::Breadth,
            states: bfs_states,
            ..base
        },
    );
    let one = Scenario::<Paxos>::bundled("paxos/explore-crash", &["explore.crashes=0".into()])
        .expect("bundled");
    let whole = one.file.explore.clone().expect("an explore block");
    for strategy in [Strategy::Depth, Strategy::Breadth] {
        measure(
            &format!("paxos/explore-crash (no crash, whole) {strategy:?}"),
            &one,
            ExploreSpec {
                strategy,
                ..whole.clone()
            },
        );
    }
}
