//! Linearizability checker benchmark (`cargo bench --bench lin`).
//!
//! Checks every history of ../shared/data/porcupine (the Jepsen etcd logs against the
//! register model, the key-value logs against the kv model) and reports, per set, the total
//! checking time and the median per history, parsing excluded (as Porcupine's figures in
//! EXPECTED.md are). Each history is checked `REPS` times and its median taken; the totals
//! are sums of medians. The checker is single-threaded, so these are one-thread figures.
//! Every verdict is compared with EXPECTED.md and the bench panics on a mismatch: a fast wrong
//! answer is not a result. `FAULTLINE_BENCH_QUICK=1` runs each history once.

// Benchmarks measure real time by design; clippy.toml bans `Instant` for the simulator itself.
#![allow(clippy::disallowed_types)]

use faultline::lin::formats::{Format, parse};
use faultline::lin::{DEFAULT_BUDGET, LinVerdict, ModelKind, check};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn data_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/porcupine");
    dir.join("EXPECTED.md").exists().then_some(dir)
}

/// (file relative to the data folder, linearizable?) from EXPECTED.md's tables.
fn expected(dir: &Path) -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(dir.join("EXPECTED.md")).expect("EXPECTED.md");
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            if cells.len() < 4 || !(cells[1].ends_with(".log") || cells[1].ends_with(".txt")) {
                return None;
            }
            let verdict = match cells[3] {
                "linearizable" => true,
                "NOT linearizable" => false,
                _ => return None,
            };
            Some((cells[1].to_string(), verdict))
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let Some(dir) = data_dir() else {
        eprintln!("../shared/data/porcupine is missing: nothing to measure");
        return;
    };
    let quick = std::env::var_os("FAULTLINE_BENCH_QUICK").is_some();
    let reps = if quick { 1 } else { 15 };
    let files = expected(&dir);
    assert!(
        files.len() >= 100,
        "EXPECTED.md lists {} files",
        files.len()
    );
    println!("linearizability checker, {reps} repetitions per history, parsing excluded\n");
    for (set, model) in [("jepsen/", ModelKind::Register), ("kv/", ModelKind::Kv)] {
        let mut per: Vec<(String, Duration, u64)> = Vec::new();
        for (name, want) in files.iter().filter(|(n, _)| n.starts_with(set)) {
            let text = std::fs::read_to_string(dir.join(name)).expect("read");
            let ops = parse(&text, Format::detect(&text).expect("format")).expect("parse");
            let mut times = Vec::new();
            let mut steps = 0;
            for _ in 0..reps {
                let t = Instant::now();
                let (verdict, stats) = check(&ops, model, DEFAULT_BUDGET).expect("check");
                times.push(t.elapsed());
                let got = match verdict {
                    LinVerdict::Linearizable => true,
                    LinVerdict::NotLinearizable(_) => false,
                    LinVerdict::Inconclusive { .. } => panic!("{name}: inconclusive"),
                };
                assert_eq!(got, *want, "{name}: wrong verdict");
                steps = stats.steps;
            }
            per.push((name.clone(), median(times), steps));
        }
        let total: Duration = per.iter().map(|p| p.1).sum();
        let med = median(per.iter().map(|p| p.1).collect());
        per.sort_by_key(|p| std::cmp::Reverse(p.1));
        println!(
            "{set:8} {} histories: total {:.1} ms, median per history {:.3} ms",
            per.len(),
            total.as_secs_f64() * 1e3,
            med.as_secs_f64() * 1e3
        );
        for (name, t, steps) in per.iter().take(3) {
            println!(
                "    slowest: {name:24} {:8.2} ms  {steps} steps",
                t.as_secs_f64() * 1e3
            );
        }
    }
}
