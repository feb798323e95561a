//! Ring metrics (`cargo bench --bench ring`): for 8 nodes and 10,000 keys at 8, 64 and 256
//! virtual nodes per node, the load balance (most keys any node coordinates, over the mean)
//! and the keys whose coordinator changes when a ninth node joins or the eighth leaves,
//! against the ideal K/M. Deterministic (the ring's hash is fixed): the table is the same on
//! every machine, so it is printed, not timed, apart from one line on how long it took.

// Benchmarks measure real time by design; clippy.toml bans `Instant` for the simulator itself.
#![allow(clippy::disallowed_types)]

use faultline::kit::ring::ring_metrics;
use std::time::Instant;

fn main() {
    let t = Instant::now();
    println!(
        "| vnodes | balance (max/mean) | moved on join | ideal K/9 | moved on leave | ideal K/8 |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for vnodes in [8, 64, 256] {
        let m = ring_metrics(8, vnodes, 10_000);
        println!(
            "| {} | {:.3} | {} | {} | {} | {} |",
            m.vnodes, m.balance, m.moved_join, m.ideal_join, m.moved_leave, m.ideal_leave
        );
    }
    println!("(8 nodes, 10,000 keys; computed in {:?})", t.elapsed());
}
