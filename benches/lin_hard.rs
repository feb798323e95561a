//! The linearizability checker on generated hard histories (`cargo bench --bench lin_hard`).
//!
//! Generates the suite of `faultline::lin::generate::suite` (registers and key-value maps,
//! 1,000-5,000 operations, 5-15% unknown outcomes, valid and invalid with verdicts known by
//! construction), checks each history `REPS` times and prints the median time, the peak heap
//! the check took (a counting global allocator, as benches/engine.rs has), its steps and
//! what the reductions of unknown outcomes did. A wrong or missing verdict panics: a fast
//! wrong answer is not a result. The histories are written as files, in the formats
//! Porcupine's tests read (etcd logs for registers, EDN for key-value maps), to
//! `target/lin-hard/` (or `$FAULTLINE_LIN_HARD_DIR`), with an `EXPECTED.txt` of verdicts, so
//! tools/porcupine-compare.sh can check the same files. `FAULTLINE_BENCH_QUICK=1` checks
//! each history once.
//!
//! A separate bench from `lin`: the counting allocator costs a little on every allocation,
//! and the `lin` bench's figures must stay comparable with earlier builds.

// Benchmarks measure real time by design; clippy.toml bans `Instant` for the simulator itself.
#![allow(clippy::disallowed_types)]

use faultline::lin::generate::{Object, generate, suite, to_etcd_log, to_kv_edn};
use faultline::lin::{DEFAULT_BUDGET, Limits, LinVerdict, ModelKind, check_limited};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Live heap bytes.
static CURRENT: AtomicUsize = AtomicUsize::new(0);
/// Highest `CURRENT` since the last [`reset_peak`].
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// `System`, counting live bytes (relaxed: the bench is single-threaded).
struct Counting;

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; counting changes nothing
// about the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // The new block is counted before the old one goes: a moving realloc holds both.
            grew(new_size);
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Makes the peak start from what is live now; returns that.
fn reset_peak() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

fn main() {
    let quick = std::env::var_os("FAULTLINE_BENCH_QUICK").is_some();
    let reps = if quick { 1 } else { 3 };
    let dir = std::env::var_os("FAULTLINE_LIN_HARD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/lin-hard"));
    std::fs::create_dir_all(&dir).expect("create the output folder");
    let mut expected = String::new();
    println!(
        "linearizability on generated hard histories, median of {reps}, files in {}\n",
        dir.display()
    );
    println!(
        "{:28} {:>6} {:>7} {:>14} {:>9} {:>11} {:>10} {:>4} {:>4} {:>4} {:>4} {:>4}",
        "history",
        "ops",
        "unknown",
        "verdict",
        "time ms",
        "peak MiB",
        "steps",
        "drop",
        "due",
        "⊥",
        "twin",
        "mort"
    );
    for (name, spec) in suite() {
        let g = generate(&spec);
        let (file, text, model) = match spec.object {
            Object::Register => (
                format!("{name}.log"),
                to_etcd_log(&g.ops),
                ModelKind::Register,
            ),
            Object::Kv { .. } => (format!("{name}.edn"), to_kv_edn(&g.ops), ModelKind::Kv),
        };
        std::fs::write(dir.join(&file), text).expect("write the history");
        expected.push_str(&format!(
            "{file} {}\n",
            if g.linearizable {
                "linearizable"
            } else {
                "not-linearizable"
            }
        ));
        let unknown = g.ops.iter().filter(|o| o.ret.is_none()).count();
        let mut times: Vec<Duration> = Vec::new();
        let mut peak = 0usize;
        let mut last = None;
        for _ in 0..reps {
            let base = reset_peak();
            let t = Instant::now();
            // The target: every history decided within 5 s (and 1 GB).
            let out_of_time = || t.elapsed() >= Duration::from_secs(5);
            let limits = Limits {
                steps: DEFAULT_BUDGET,
                stop: Some(&out_of_time),
            };
            let (verdict, stats) = check_limited(&g.ops, model, None, limits).expect("check");
            times.push(t.elapsed());
            peak = peak.max(PEAK.load(Ordering::Relaxed) - base);
            let got = match &verdict {
                LinVerdict::Linearizable => Some(true),
                LinVerdict::NotLinearizable(_) => Some(false),
                // Reported, not hidden: the row says so.
                LinVerdict::Inconclusive(_) => None,
            };
            if let Some(got) = got {
                assert_eq!(got, g.linearizable, "{name}: wrong verdict ({})", g.note);
            }
            last = Some((stats, got));
        }
        times.sort();
        let (stats, got) = last.expect("at least one repetition");
        println!(
            "{:28} {:>6} {:>6.1}% {:>14} {:>9.2} {:>11.2} {:>10} {:>4} {:>4} {:>4} {:>4} {:>4}",
            name,
            g.ops.len(),
            100.0 * unknown as f64 / g.ops.len() as f64,
            match got {
                Some(true) => "linearizable",
                Some(false) => "NOT",
                None => "INCONCLUSIVE",
            },
            times[times.len() / 2].as_secs_f64() * 1e3,
            peak as f64 / (1024.0 * 1024.0),
            stats.steps,
            stats.unread_dropped,
            stats.deadlines,
            stats.merged,
            stats.twins,
            stats.mortal,
        );
    }
    std::fs::write(dir.join("EXPECTED.txt"), expected).expect("write EXPECTED.txt");
    println!(
        "\ndrop: unknown writes nobody read, left out; due: operations given the return of the \
         first read of their value; ⊥: writes of values nobody depends on, given one value; \
         twin: unknown writes of that value, tried in call order; mort: unknown cas \
         forgotten once the value they expect is gone"
    );
}
