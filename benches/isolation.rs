//! Isolation checker benchmark (`cargo bench --bench isolation`).
//!
//! Generates a 100,000-transaction list-append history (10 clients, 100 key slots, 5%
//! unknown outcomes, 1% aborted) with a read skew (G-single) and a write skew (G2) planted,
//! and times `isolation::analyse` on it: the best of `REPS` runs, one thread, generation
//! excluded. The bench panics unless the analysis reports exactly the planted classes: a
//! fast wrong answer is not a result. It then prints the process's peak resident memory
//! (VmHWM from /proc/self/status, Linux only), which includes the generated history itself.
//! `FAULTLINE_BENCH_QUICK=1` runs the analysis once.

// Benchmarks measure real time by design; clippy.toml bans `Instant` for the simulator itself.
#![allow(clippy::disallowed_types)]

use faultline::isolation::{Class, Generation, analyse, generate};
use std::time::{Duration, Instant};

const TXNS: usize = 100_000;

fn peak_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let quick = std::env::var_os("FAULTLINE_BENCH_QUICK").is_some();
    let reps = if quick { 1 } else { 5 };
    let g = Generation::new(TXNS).planted(&[Class::GSingle, Class::G2]);
    let t = Instant::now();
    let ops = generate(1, &g);
    let generated = t.elapsed();
    let mops: usize = ops
        .iter()
        .map(|o| match &o.value {
            faultline::lin::Val::List(m) => m.len(),
            _ => 0,
        })
        .sum();
    let after_generation = peak_kib("VmRSS:");
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        let a = analyse(&ops).expect("analysis");
        best = best.min(t.elapsed());
        last = Some(a);
    }
    let a = last.expect("one run");
    assert_eq!(a.classes(), g.expected(), "{:?}", a.found);
    let c = &a.counts;
    println!(
        "isolation checker: {} transactions ({mops} micro-ops, {} committed, {} aborted, {} unknown of which {} observed), {} keys",
        c.txns, c.committed, c.aborted, c.unknown, c.unknown_observed, c.keys
    );
    println!(
        "  graph: {} transactions, {} ww, {} wr, {} rw edges; {} cycle-search steps",
        c.vertices, c.ww, c.wr, c.rw, c.steps
    );
    println!(
        "  analyse: best of {reps}: {:.1} ms (one thread; generation took {:.1} ms, excluded)",
        best.as_secs_f64() * 1e3,
        generated.as_secs_f64() * 1e3
    );
    for f in &a.found {
        println!("  found {} x{}", f.class.name(), f.count);
    }
    match (peak_kib("VmHWM:"), after_generation) {
        (Some(peak), Some(before)) => println!(
            "  peak resident memory (VmHWM): {:.1} MiB; resident after generating the history, before analysing: {:.1} MiB",
            peak as f64 / 1024.0,
            before as f64 / 1024.0
        ),
        _ => println!("  peak memory: /proc/self/status not available"),
    }
}
