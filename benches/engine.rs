//! Engine throughput and memory benchmark (`cargo bench --bench engine`).
//!
//! What it measures, all on the `ping` protocol with 5 nodes, built from the bundled scenario
//! `ping/basic` with the network preset switched to `lossy` (uniform 1-10 ms latency, 5% loss,
//! 2% duplicates) and its 2 echo clients on:
//!
//! 1. **Throughput**: events per second of wall time, where an event is one queue pop
//!    (`RunReport.steps`), with the trace off (no sink) and with the trace streamed to a file
//!    in a temporary directory (page cache, no fsync) by the writer `run --trace` uses
//!    (`trace::file::TraceFile`: JSON lines through a 64 KiB `BufWriter<File>`, a summary line,
//!    a rename). Each configuration runs 3 times, trace off and trace file taking turns; the
//!    table shows the best and the median, and the median on CPU time (`/proc/self/schedstat`:
//!    on a shared machine it leaves out the time other processes hold the CPU). The timed
//!    region is `Simulation::new` + `run` + drop, and for the file its summary, flush and
//!    rename. The same two rows follow for Raft (`raft/unreliable-churn`, about a million
//!    events), whose messages carry log entries.
//! 2. **Bare baseline**: a `std::collections::BinaryHeap` of 24-byte entries (time, seq, an
//!    8-byte event, ordered on (time, seq) reversed, like the engine's queue) holding the same
//!    number of pending events the simulation holds on average. Each iteration pops the
//!    earliest entry and pushes one at its time plus a xorshift latency of 1-10 ms. The
//!    average queue length is *measured*: a separate, untimed run advances in 100 µs steps of
//!    virtual time and computes pending = pushes - pops from public counters (see
//!    [`measure_queue`]); an engine-side probe of `limits.pending_max` confirms the maximum.
//!    `sim/bare` is the share of the bare heap's speed the whole engine keeps: 100% would
//!    mean the engine costs no more than its queue.
//! 3. **Memory**: a counting `#[global_allocator]` around `System` tracks live and peak heap
//!    bytes. For runs of N and 10N events (trace off and trace to file; with 2 clients and
//!    with none, because the client history grows with the run by design) it reports the
//!    peak live bytes above what was live before the run, the bytes still held when the run
//!    ends (before the simulation is dropped), and allocator calls per million events, both
//!    over the whole run (set-up included) and in the steady state (the second half of the
//!    run only: the hot path's own allocations).
//!
//! Sizes: about 3 million events per throughput run and N = 1 million for memory (10N = 10
//! million); the virtual time limit that gives them is calibrated on a 100 s run first. Every
//! run must pass its checks, or the bench panics (it would be measuring the wrong thing).
//!
//! How to read it: the throughput rows are the engine's speed on a small, busy cluster; the
//! memory rows should stay flat from N to 10N except for what the client history keeps (one
//! entry per operation, which the checker needs). `FAULTLINE_BENCH_QUICK=1` shrinks every
//! size tenfold for a smoke test; its numbers are not meaningful. `FAULTLINE_BENCH_ONLY=throughput`
//! stops after the throughput rows (for alternating runs of two builds, and for profiling the
//! trace writer: the `trace file/trace off` line is the share of its speed a run keeps when
//! its trace is streamed to a file). The last rows put Raft and Multi-Paxos side by side on
//! the same network, churn and workload, every check on; `FAULTLINE_BENCH_ONLY=consensus`
//! runs only those, `FAULTLINE_BENCH_ONLY=abd` only ABD's row, `FAULTLINE_BENCH_ONLY=txn` the
//! commit protocols' rows, `FAULTLINE_BENCH_ONLY=saga` the saga row,
//! `FAULTLINE_BENCH_ONLY=dynamo` the Dynamo-style store's row, `FAULTLINE_BENCH_ONLY=gossip`
//! the CRDT gossip row, `FAULTLINE_BENCH_ONLY=fd` the failure-detection row,
//! `FAULTLINE_BENCH_ONLY=raft` only Raft's consensus row, `FAULTLINE_BENCH_ONLY=clocks` the logical-clock service's row, `FAULTLINE_BENCH_ONLY=wal` the storage rows (the WAL store calm and under disk faults, Raft under disk faults), `FAULTLINE_BENCH_ONLY=snapshot` Raft with snapshots
//! (Lamport's mutual exclusion).

// Benchmarks measure real time by design; clippy.toml bans `Instant` for the simulator itself.
#![allow(clippy::disallowed_types)]

use faultline::base::types::Time;
use faultline::protocols::ping::Ping;
use faultline::scenario::{self, KindName, Scenario};
use faultline::sim::{RunReport, Simulation, Verdict};
use faultline::trace::TraceSink;
use faultline::trace::file::TraceFile;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::time::Instant;

// ---------------------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------------------

/// Live heap bytes.
static CURRENT: AtomicUsize = AtomicUsize::new(0);
/// Highest `CURRENT` since the last [`reset_peak`].
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Calls to `alloc` and `alloc_zeroed`.
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// Calls to `realloc` (a growing `Vec`, `String`, ...).
static REALLOCS: AtomicUsize = AtomicUsize::new(0);

/// `System`, counting bytes and calls. Relaxed atomics: the bench is single-threaded, and the
/// counters only need to be exact, not ordered with other memory.
struct Counting;

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, AtomicOrdering::Relaxed) + bytes;
    PEAK.fetch_max(now, AtomicOrdering::Relaxed);
}

fn shrank(bytes: usize) {
    CURRENT.fetch_sub(bytes, AtomicOrdering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; the counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            ALLOCS.fetch_add(1, AtomicOrdering::Relaxed);
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            ALLOCS.fetch_add(1, AtomicOrdering::Relaxed);
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            REALLOCS.fetch_add(1, AtomicOrdering::Relaxed);
            // Count the new block before releasing the old one: a moving realloc holds both.
            grew(new_size);
            shrank(layout.size());
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Makes the peak start from what is live now; returns that.
fn reset_peak() -> usize {
    let now = CURRENT.load(AtomicOrdering::Relaxed);
    PEAK.store(now, AtomicOrdering::Relaxed);
    now
}

/// Allocator calls so far: (alloc + alloc_zeroed, realloc).
fn alloc_calls() -> (usize, usize) {
    (
        ALLOCS.load(AtomicOrdering::Relaxed),
        REALLOCS.load(AtomicOrdering::Relaxed),
    )
}

// ---------------------------------------------------------------------------------------
// Workload
// ---------------------------------------------------------------------------------------

/// The bundled scenario every run starts from.
const SCENARIO: &str = "ping/basic";
/// Overrides applied to it in every run (besides the limits).
const BASE_OVERRIDES: &[&str] = &["network.preset=lossy"];
/// Repeats of each timed configuration.
const REPEATS: usize = 3;
/// The Raft scenario whose trace cost is measured besides ping's.
const RAFT_TRACE: &str = "raft/unreliable-churn";

/// One workload: the base scenario plus some overrides, with its measured event rate so runs
/// of a given number of events can be asked for by virtual time.
struct Workload {
    label: &'static str,
    overrides: Vec<String>,
    /// Events per millisecond of virtual time, from a calibration run.
    events_per_ms: f64,
    seed: u64,
}

impl Workload {
    fn new(label: &'static str, extra: &[&str]) -> Workload {
        let overrides: Vec<String> = BASE_OVERRIDES
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect();
        let mut w = Workload {
            label,
            overrides,
            events_per_ms: 1.0,
            seed: 0,
        };
        // Calibrate on 100 s of virtual time: long past the start-up transient.
        const CALIBRATION_MS: u64 = 100_000;
        let scn = w.scenario_ms(CALIBRATION_MS, None);
        w.seed = scn.file.seed;
        let report = run(&scn, w.seed, None);
        w.events_per_ms = report.steps as f64 / CALIBRATION_MS as f64;
        w
    }

    /// The scenario for a run of `time_ms` of virtual time, with extra `limits` overrides.
    fn scenario_ms(&self, time_ms: u64, pending_max: Option<u64>) -> Scenario<Ping> {
        let text = scenario::bundled(SCENARIO).expect("the bundled scenario exists");
        let mut overrides = self.overrides.clone();
        overrides.push(format!("limits.time_ms={time_ms}"));
        // Never the limit that ends a benchmark run: generous, and checked after each run.
        overrides.push(format!(
            "limits.events_max={}",
            (time_ms as f64 * self.events_per_ms * 4.0) as u64 + 100_000
        ));
        if let Some(p) = pending_max {
            overrides.push(format!("limits.pending_max={p}"));
        }
        scenario::load::<Ping>(SCENARIO, text, &overrides).expect("the benchmark scenario is valid")
    }

    /// The scenario for a run of about `events` events.
    fn scenario_events(&self, events: u64) -> Scenario<Ping> {
        let ms = (events as f64 / self.events_per_ms).ceil() as u64;
        self.scenario_ms(ms.max(1), None)
    }
}

/// Runs `scn` to its end (building and dropping the simulation).
fn run(scn: &Scenario<Ping>, seed: u64, sink: Option<Box<dyn TraceSink>>) -> RunReport {
    let config = scn.config(seed).expect("a ping scenario");
    let mut sim = Simulation::<Ping>::new(config, sink).expect("valid expectations");
    sim.run()
}

/// Panics unless a benchmark run passed: a failing run would measure the wrong thing.
fn expect_pass(r: &RunReport, what: &str) {
    match &r.verdict {
        Verdict::Pass => {}
        other => panic!("the {what} run did not pass: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Trace sinks
// ---------------------------------------------------------------------------------------

/// The trace file of one run: the CLI's own writer (`TraceFile`, what `run --trace` uses),
/// with a stand-in header and summary line. `None` when the trace is off.
struct Traced(Option<TraceFile>);

impl Traced {
    /// Closes the file: the summary line, the flush and the rename into place.
    fn finish(self) {
        if let Some(file) = self.0 {
            file.finish("{\"ev\":\"summary\"}")
                .expect("finish the trace file");
        }
    }
}

/// A private directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("faultline-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        TempDir(dir)
    }
    fn trace_path(&self) -> PathBuf {
        self.0.join("trace.jsonl")
    }
    /// Size of the trace file, then removes it.
    fn take_trace(&self) -> u64 {
        let path = self.trace_path();
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let _ = std::fs::remove_file(&path);
        size
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where a run's trace goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trace {
    Off,
    File,
}

impl Trace {
    fn label(self) -> &'static str {
        match self {
            Trace::Off => "off",
            Trace::File => "file",
        }
    }
    /// The engine's sink, and the file to finish after the run.
    fn sink(self, dir: &TempDir) -> (Option<Box<dyn TraceSink>>, Traced) {
        match self {
            Trace::Off => (None, Traced(None)),
            Trace::File => {
                let file = TraceFile::create(&dir.trace_path(), "{\"ev\":\"header\"}")
                    .expect("create the trace file");
                (Some(file.sink()), Traced(Some(file)))
            }
        }
    }
}

/// Counts the trace records the queue-length accounting needs (see [`measure_queue`]).
#[derive(Default)]
struct RecordCounts {
    /// Node boots (each arms one ping round timer).
    starts: u64,
    /// Node timers fired (each ping round re-arms one).
    timers: u64,
    /// Client operations completed (each arms one think timer).
    completes: u64,
    /// Messages sent by clients (each arms one timeout timer).
    client_sends: u64,
}

struct CountingSink(Rc<RefCell<RecordCounts>>);

impl TraceSink for CountingSink {
    fn line(&mut self, line: &str) -> Result<(), String> {
        let mut c = self.0.borrow_mut();
        if line.contains(r#""ev":"send""#) {
            if line.contains(r#""from":"c"#) {
                c.client_sends += 1;
            }
        } else if line.contains(r#""ev":"timer""#) {
            c.timers += 1;
        } else if line.contains(r#""ev":"complete""#) {
            c.completes += 1;
        } else if line.contains(r#""ev":"start""#) {
            c.starts += 1;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Queue length
// ---------------------------------------------------------------------------------------

/// What the queue holds, measured on an untimed run.
struct QueueStats {
    /// Average pending events weighted by the pops in each sample interval (the heap size the
    /// pops see).
    per_event: f64,
    /// Average over virtual time.
    per_time: f64,
    /// Largest sampled.
    max_sampled: u64,
    /// Largest queue length right after a pop, found by probing `limits.pending_max`.
    max_after_pop: u64,
}

/// Measures the pending-event count. The engine has no accessor for it, so it is rebuilt
/// exactly from public counters: pending = pushes - pops, with pops = `steps` and pushes =
///   nodes + clients (start events) + 1 (the heal) + 1 (the end) + one deadline per
///   eventually-expectation with a budget (all scheduled at time zero for this scenario,
///   which has no faults)
/// + node timers armed: one per boot and one per round fired (ping re-arms every round)
/// + client timers armed: one think timer per client start and per completed operation, one
///   timeout per message a client sends (a cancelled timeout stays queued until it fires)
/// + message copies queued: sent - lost to loss + duplicated (from the network counters).
///
/// This is ping- and driver-specific; it is checked against the engine's own bound check.
fn measure_queue(w: &Workload, virtual_ms: u64) -> QueueStats {
    let scn = w.scenario_ms(virtual_ms, None);
    let f = &scn.file;
    let deadlines = f
        .expect
        .iter()
        .filter(|e| {
            e.kind == Some(KindName::Eventually) && e.budget_ms.or(f.liveness_budget_ms).is_some()
        })
        .count() as u64;
    assert!(
        f.faults.is_empty() && f.nemesis.is_none(),
        "the queue accounting assumes no faults"
    );
    let fixed = u64::from(f.nodes) + 2 * u64::from(f.workload.clients) + 2 + deadlines;
    let counts = Rc::new(RefCell::new(RecordCounts::default()));
    let config = scn.config(w.seed).expect("a ping scenario");
    let mut sim = Simulation::<Ping>::new(config, Some(Box::new(CountingSink(counts.clone()))))
        .expect("valid expectations");
    const SAMPLE_US: u64 = 100;
    let (mut sum_time, mut samples) = (0u128, 0u64);
    let (mut sum_event, mut weight) = (0u128, 0u64);
    let mut max_sampled = 0u64;
    let mut last_steps = 0u64;
    let mut t = 0u64;
    loop {
        t += SAMPLE_US;
        let going = sim.run_until(Time(t));
        let steps = sim.report().steps;
        if !going {
            break;
        }
        let net = sim.network().stats();
        let c = counts.borrow();
        let pushes = fixed
            + c.starts
            + c.timers
            + c.completes
            + c.client_sends
            + (net.sent - net.lost_loss + net.duplicated);
        let pending = pushes
            .checked_sub(steps)
            .expect("the accounting missed a push");
        // Between steps, every node has its round timer queued and the end is queued.
        assert!(pending > u64::from(f.nodes), "the accounting missed a push");
        sum_time += u128::from(pending);
        samples += 1;
        let popped = steps - last_steps;
        sum_event += u128::from(pending) * u128::from(popped);
        weight += popped;
        max_sampled = max_sampled.max(pending);
        last_steps = steps;
    }
    expect_pass(&sim.report(), "queue-measurement");
    drop(sim);

    // The engine fails a run when the queue holds more than `pending_max` events right after
    // a pop: the smallest bound that passes is the true maximum, at every step.
    let probe_ms = virtual_ms.min(60_000);
    let passes = |p: u64| {
        let scn = w.scenario_ms(probe_ms, Some(p));
        matches!(run(&scn, w.seed, None).verdict, Verdict::Pass)
    };
    let (mut lo, mut hi) = (1u64, 4 * max_sampled + 64);
    assert!(passes(hi), "the probe's upper bound is too low");
    while lo < hi {
        let mid = (lo + hi) / 2;
        if passes(mid) { hi = mid } else { lo = mid + 1 }
    }
    QueueStats {
        per_event: sum_event as f64 / weight.max(1) as f64,
        per_time: sum_time as f64 / samples.max(1) as f64,
        max_sampled,
        max_after_pop: lo,
    }
}

// ---------------------------------------------------------------------------------------
// Bare baseline
// ---------------------------------------------------------------------------------------

/// An 8-byte event, like the engine's `Ev` (a tag and a u32 slot).
#[derive(Clone, Copy)]
#[allow(dead_code)] // the payloads are only carried, as in the engine's queue
enum BareEv {
    Deliver(u32),
    Timer(u32),
}

/// The engine's queue entry shape: (time, seq, event), 24 bytes.
#[derive(Clone, Copy)]
struct BareEntry {
    time: u64,
    seq: u64,
    ev: BareEv,
}

const _: () = assert!(std::mem::size_of::<BareEntry>() == 24);

impl PartialEq for BareEntry {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl Eq for BareEntry {}
impl PartialOrd for BareEntry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for BareEntry {
    /// Reversed, so the max-heap pops the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// xorshift64: a tiny generator, so the baseline measures the heap and not the draws.
fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// Pops `pops` events from a heap kept at `pending` entries; returns pops per second.
fn bare_heap(pending: usize, pops: u64) -> (f64, f64) {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut heap = BinaryHeap::with_capacity(1024);
    let mut seq = 0u64;
    for i in 0..pending {
        seq += 1;
        heap.push(BareEntry {
            time: 1_000 + xorshift(&mut rng) % 9_001,
            seq,
            ev: BareEv::Deliver(i as u32),
        });
    }
    let (start, cpu0) = (Instant::now(), cpu_ns());
    let mut check = 0u64;
    for _ in 0..pops {
        let e = heap.pop().expect("the heap is never empty");
        check = check.wrapping_add(e.time ^ e.seq);
        seq += 1;
        // 1-10 ms, like the lossy preset's latency (microseconds).
        let latency = 1_000 + xorshift(&mut rng) % 9_001;
        let ev = match e.ev {
            BareEv::Deliver(s) => BareEv::Timer(s),
            BareEv::Timer(s) => BareEv::Deliver(s),
        };
        heap.push(BareEntry {
            time: e.time + latency,
            seq,
            ev,
        });
    }
    black_box(check);
    black_box(&heap);
    rates(pops, start, cpu0)
}

/// Events per second of wall time and of CPU time (wall time again without a CPU clock)
/// since `start` and `cpu0`.
fn rates(events: u64, start: Instant, cpu0: Option<u64>) -> (f64, f64) {
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_ns()
        .zip(cpu0)
        .map(|(b, a)| b.saturating_sub(a) as f64 / 1e9)
        .filter(|c| *c > 0.0)
        .unwrap_or(wall);
    (events as f64 / wall, events as f64 / cpu)
}

/// The engine's own queue (`sim::EventQueue`) under the bare loop's pattern: the same
/// pending count, pops and 1-10 ms pushes. Its cost per event is the queue's share of an
/// engine step; the bare `BinaryHeap` above stays the reference the ratio is taken against.
fn engine_queue(pending: usize, pops: u64) -> (f64, f64) {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut queue = faultline::sim::EventQueue::new();
    for i in 0..pending {
        queue.push(
            Time(1_000 + xorshift(&mut rng) % 9_001),
            BareEv::Deliver(i as u32),
        );
    }
    let (start, cpu0) = (Instant::now(), cpu_ns());
    let mut check = 0u64;
    for _ in 0..pops {
        let (t, ev) = queue.pop().expect("the queue is never empty");
        check = check.wrapping_add(t.0);
        let latency = 1_000 + xorshift(&mut rng) % 9_001;
        let ev = match ev {
            BareEv::Deliver(s) => BareEv::Timer(s),
            BareEv::Timer(s) => BareEv::Deliver(s),
        };
        queue.push(Time(t.0 + latency), ev);
    }
    black_box(check);
    black_box(&queue);
    rates(pops, start, cpu0)
}

/// Where an event's time goes on the throughput workload (trace off), by taking parts away:
/// the same run with the checks off, then also with the fingerprint off (records are still
/// built, nothing folds them), beside the engine's queue alone. What is left after the queue,
/// the checks and the fingerprint is dispatch, sends with their random draws, and the
/// protocol's and the clients' handlers (split by a profile: docs/performance.md). Runs take
/// turns, so a change in the machine's load falls on all of them, and every figure is on CPU
/// time (time other processes hold the CPU is left out).
fn breakdown<P: faultline::protocol::Protocol>(scn: &Scenario<P>, seed: u64, queue_ns: f64) {
    let mut per_cpu: [Vec<f64>; 3] = Default::default();
    let mut steps = 0;
    for _ in 0..REPEATS {
        for (k, (checks, fingerprint)) in [(true, true), (false, true), (false, false)]
            .into_iter()
            .enumerate()
        {
            let mut config = scn.config(seed).expect("a benchmark scenario");
            config.checks = checks;
            config.fingerprint = fingerprint;
            let (start, cpu0) = (Instant::now(), cpu_ns());
            let mut sim = Simulation::<P>::new(config, None).expect("valid");
            let report = sim.run();
            drop(sim);
            per_cpu[k].push(rates(report.steps, start, cpu0).1);
            if checks {
                expect_pass(&report, "breakdown");
            }
            steps = report.steps;
        }
    }
    let ns: Vec<f64> = per_cpu
        .into_iter()
        .map(|r| 1e9 / best_median(r).1)
        .collect();
    let (all, no_checks, bare_engine) = (ns[0], ns[1], ns[2]);
    let rest = (bare_engine - queue_ns).max(0.0);
    println!(
        "BREAKDOWN, trace off, on CPU time ({} events per run, {REPEATS} runs each in turns, medians)",
        thousands(steps)
    );
    println!("{:<60} {:>10} {:>8}", "part", "ns/event", "share");
    let part = |name: &str, v: f64| {
        println!("{:<60} {:>10.1} {:>7.1}%", name, v, 100.0 * v / all);
    };
    part("queue (the engine's queue alone, same pattern)", queue_ns);
    part(
        "checks (every check on, less checks off)",
        (all - no_checks).max(0.0),
    );
    part(
        "fingerprint (checks off, less fingerprint off too)",
        (no_checks - bare_engine).max(0.0),
    );
    part("dispatch, sends and draws, handlers (the rest)", rest);
    part("whole step, every check on", all);
    println!();
}

// ---------------------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------------------

/// Best and median of some rates.
fn best_median(mut rates: Vec<f64>) -> (f64, f64) {
    rates.sort_by(|a, b| a.total_cmp(b));
    (rates[rates.len() - 1], rates[rates.len() / 2])
}

/// Time this process has spent on a CPU, in nanoseconds (Linux: the first field of
/// `/proc/self/schedstat`), or `None` where that is not available. The machine that runs
/// the bench may be shared: CPU time does not count the time other processes hold the CPU,
/// which wall time does. The bench is single-threaded, so the process's time is the run's.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The timed runs of one configuration.
#[derive(Default)]
struct Timed {
    /// Events per run (every run of a configuration has the same).
    steps: u64,
    /// Events per second of wall time, one per run.
    wall: Vec<f64>,
    /// Events per second of CPU time, one per run (empty without a CPU clock).
    cpu: Vec<f64>,
    /// Trace bytes per run.
    bytes: u64,
}

/// Times one run of `scn` with `trace` into `into`: `Simulation::new` + `run` + drop, and
/// for a trace file its summary, flush and rename (what `run --trace` does after the run).
fn timed_run<P: faultline::protocol::Protocol>(
    scn: &Scenario<P>,
    seed: u64,
    trace: Trace,
    dir: &TempDir,
    into: &mut Timed,
) {
    let (wall0, cpu0) = (Instant::now(), cpu_ns());
    let config = scn.config(seed).expect("a benchmark scenario");
    let (sink, file) = trace.sink(dir);
    let mut sim = Simulation::<P>::new(config, sink).expect("valid");
    let report = sim.run();
    drop(sim);
    file.finish();
    let secs = wall0.elapsed().as_secs_f64();
    let cpu = cpu_ns()
        .zip(cpu0)
        .map(|(b, a)| b.saturating_sub(a) as f64 / 1e9);
    expect_pass(&report, "throughput");
    into.steps = report.steps;
    into.wall.push(report.steps as f64 / secs);
    if let Some(cpu) = cpu.filter(|c| *c > 0.0) {
        into.cpu.push(report.steps as f64 / cpu);
    }
    into.bytes = dir.take_trace();
}

/// Times `REPEATS` runs with the trace off and `REPEATS` with it written to a file, taking
/// turns (off, file, off, file, ...) so that a change in the machine's load falls on both.
fn throughput<P: faultline::protocol::Protocol>(
    scn: &Scenario<P>,
    seed: u64,
    dir: &TempDir,
) -> (Timed, Timed) {
    let (mut off, mut file) = (Timed::default(), Timed::default());
    for _ in 0..REPEATS {
        timed_run(scn, seed, Trace::Off, dir, &mut off);
        timed_run(scn, seed, Trace::File, dir, &mut file);
    }
    (off, file)
}

/// Prints the trace-off and trace-file rows of one workload and the ratio of their speeds,
/// on wall time and on CPU time.
fn trace_rows(off: &Timed, file: &Timed) {
    println!(
        "{:<44} {:>12} {:>14} {:>14} {:>12} {:>16}",
        "configuration", "events/run", "best ev/s", "median ev/s", "ns/ev (med)", "median ev/CPU-s"
    );
    let row = |name: &str, t: &Timed| {
        let (best, med) = best_median(t.wall.clone());
        let cpu = match t.cpu.is_empty() {
            true => "-".to_string(),
            false => thousands(best_median(t.cpu.clone()).1 as u64),
        };
        println!(
            "{:<44} {:>12} {:>14} {:>14} {:>12.1} {:>16}",
            name,
            thousands(t.steps),
            thousands(best as u64),
            thousands(med as u64),
            1e9 / med,
            cpu
        );
    };
    row("sim, trace off", off);
    row("sim, trace -> file (run --trace's writer)", file);
    let (off_best, off_med) = best_median(off.wall.clone());
    let (file_best, file_med) = best_median(file.wall.clone());
    println!(
        "trace file/trace off: {:.1}% (best/best), {:.1}% (median/median)   [target >= 50%]",
        100.0 * file_best / off_best,
        100.0 * file_med / off_med
    );
    if !off.cpu.is_empty() && !file.cpu.is_empty() {
        let (_, off_cpu) = best_median(off.cpu.clone());
        let (_, file_cpu) = best_median(file.cpu.clone());
        println!(
            "trace file/trace off on CPU time: {:.1}% (median/median)",
            100.0 * file_cpu / off_cpu
        );
    }
    println!(
        "trace: {:.0} bytes/event, {} per run",
        file.bytes as f64 / file.steps.max(1) as f64,
        mib(file.bytes as usize)
    );
}

/// One memory measurement.
struct MemRow {
    steps: u64,
    /// Client operations invoked (each keeps one entry in the history).
    ops: u64,
    /// Peak live bytes above the live bytes before the run.
    peak: usize,
    /// Live bytes above the baseline when the run has ended, before the drop.
    retained: usize,
    /// Allocator calls (alloc + realloc) per event, over the whole run.
    calls_per_event: f64,
    /// Allocator calls per event over the second half of the run.
    steady_calls_per_event: f64,
    /// Of which reallocs, steady state.
    steady_reallocs_per_event: f64,
}

fn memory(w: &Workload, events: u64, trace: Trace, dir: &TempDir) -> MemRow {
    let scn = w.scenario_events(events);
    let half = Time::from_ms(scn.file.limits.time_ms / 2);
    let config = scn.config(w.seed).expect("a ping scenario");
    let base = reset_peak();
    let (a0, r0) = alloc_calls();
    let (sink, file) = trace.sink(dir);
    let mut sim = Simulation::<Ping>::new(config, sink).expect("valid");
    sim.run_until(half);
    // `report` allocates: read the counters after it here and before it below.
    let half_steps = sim.report().steps;
    let (a1, r1) = alloc_calls();
    sim.run_until(Time::MAX);
    let (a2, r2) = alloc_calls();
    let live_end = CURRENT.load(AtomicOrdering::Relaxed);
    let peak = PEAK.load(AtomicOrdering::Relaxed);
    let report = sim.report();
    drop(sim);
    file.finish();
    expect_pass(&report, "memory");
    dir.take_trace();
    let steady_steps = (report.steps - half_steps).max(1) as f64;
    MemRow {
        steps: report.steps,
        ops: report.ops.invoked,
        peak: peak - base,
        retained: live_end.saturating_sub(base),
        calls_per_event: ((a2 - a0) + (r2 - r0)) as f64 / report.steps.max(1) as f64,
        steady_calls_per_event: ((a2 - a1) + (r2 - r1)) as f64 / steady_steps,
        steady_reallocs_per_event: (r2 - r1) as f64 / steady_steps,
    }
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

/// 1234567 -> "1,234,567".
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(bytes: usize) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// How many on/off pairs a checks row times: `REPEATS`, or `FAULTLINE_BENCH_REPEATS` (the
/// consensus and fd runs last tens of milliseconds each, so a noisy machine needs more of them
/// for a steady median).
fn checks_repeats() -> usize {
    std::env::var("FAULTLINE_BENCH_REPEATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(REPEATS)
}

/// A protocol's scenario with every check on, and the share of wall time the checks take,
/// measured as the difference to the same runs (same seed, same events) with checks off.
/// Used for fd (issue 3) and Raft (issue 4).
fn checks_share<P: faultline::protocol::Protocol>(name: &str, title: &str, time_ms: u64) {
    use faultline::sim::{SimConfig, Simulation};
    let overrides = vec![
        format!("limits.time_ms={time_ms}"),
        "limits.events_max=100000000".to_string(),
    ];
    let scn = faultline::scenario::load::<P>(
        name,
        faultline::scenario::bundled(name).expect("bundled"),
        &overrides,
    )
    .expect("the fd scenario loads");
    let timed = |checks: bool| -> (u64, u64, f64) {
        let mut config: SimConfig<P> = scn.config(scn.file.seed).expect("typed config");
        config.checks = checks;
        let start = Instant::now();
        let mut sim = Simulation::new(config, None).expect("simulation");
        let r = sim.run();
        let secs = start.elapsed().as_secs_f64();
        if checks {
            expect_pass(&r, name);
        }
        (r.steps, r.checks_evaluated, secs)
    };
    let mut on = Vec::new();
    let mut off = Vec::new();
    let mut steps = (0, 0);
    let mut evaluations = 0;
    for _ in 0..checks_repeats() {
        let (s_on, e_on, t_on) = timed(true);
        let (s_off, _, t_off) = timed(false);
        steps = (s_on, s_off);
        evaluations = e_on;
        on.push(s_on as f64 / t_on);
        off.push(s_off as f64 / t_off);
    }
    let (on_best, on_med) = best_median(on);
    let (off_best, off_med) = best_median(off);
    println!();
    println!(
        "{title} ({name}, {} virtual s, every check on)",
        time_ms / 1000
    );
    println!(
        "{:<44} {:>12} {:>14} {:>14} {:>12}",
        "configuration", "events/run", "best ev/s", "median ev/s", "ns/ev (med)"
    );
    let row = |label: &str, n: u64, best: f64, med: f64| {
        println!(
            "{:<44} {:>12} {:>14} {:>14} {:>12.1}",
            label,
            thousands(n),
            thousands(best as u64),
            thousands(med as u64),
            1e9 / med
        );
    };
    row("every check on", steps.0, on_best, on_med);
    row(
        "checks off (same seed and events)",
        steps.1,
        off_best,
        off_med,
    );
    let ns_on = 1e9 / on_med;
    let ns_off = 1e9 / off_med;
    println!(
        "time in checks: {:.1}% of the run ({:.1} ns of {:.1} ns per event; {:.2} property evaluations per event)",
        100.0 * (ns_on - ns_off).max(0.0) / ns_on,
        (ns_on - ns_off).max(0.0),
        ns_on,
        evaluations as f64 / steps.0.max(1) as f64
    );
}

fn main() {
    let quick = std::env::var("FAULTLINE_BENCH_QUICK").is_ok_and(|v| v == "1");
    let scale = if quick { 10 } else { 1 };
    let throughput_events = 3_000_000 / scale;
    let memory_events = 1_000_000 / scale;
    if std::env::var("FAULTLINE_BENCH_ONLY").is_ok_and(|v| v == "consensus") {
        consensus_rows(if quick { 1 } else { 10 });
        return;
    }
    if std::env::var("FAULTLINE_BENCH_ONLY").is_ok_and(|v| v == "raft") {
        raft_row(if quick { 1 } else { 10 });
        return;
    }
    if std::env::var("FAULTLINE_BENCH_ONLY").is_ok_and(|v| v == "fd") {
        fd_row(if quick { 1 } else { 10 });
        return;
    }
    if std::env::var("FAULTLINE_BENCH_ONLY").is_ok_and(|v| v == "abd") {
        abd_rows(if quick { 1 } else { 10 });
        return;
    }
    if std::env::var("FAULTLINE_BENCH_ONLY").is_ok_and(|v| v == "txn") {
        txn_rows(if quick { 1 } else { 10 });
        return;
    }
    if std::env::var("FAULTLINE_BENCH_ONLY").is_ok_and(|v| v == "clocks") {
        clock_rows(if quick { 1 } else { 10 });
        return;
    }
    if std::env::var("FAULTLINE_BENCH_ONLY").is_ok_and(|v| v == "saga") {
        saga_rows(if quick { 1 } else { 10 });
        return;
    }
    if std::env::var("FAULTLINE_BENCH_ONLY").is_ok_and(|v| v == "dynamo") {
        dynamo_rows(if quick { 1 } else { 10 });
        return;
    }
    if std::env::var("FAULTLINE_BENCH_ONLY").is_ok_and(|v| v == "gossip") {
        gossip_rows(if quick { 1 } else { 10 });
        return;
    }
    if std::env::var("FAULTLINE_BENCH_ONLY").is_ok_and(|v| v == "wal") {
        wal_rows(if quick { 1 } else { 10 });
        return;
    }
    if std::env::var("FAULTLINE_BENCH_ONLY").is_ok_and(|v| v == "snapshot") {
        snapshot_rows(if quick { 1 } else { 10 });
        return;
    }
    let dir = TempDir::new();

    let with_clients = Workload::new("2 clients", &[]);
    let no_clients = Workload::new("0 clients", &["workload.clients=0"]);
    let f = &with_clients.scenario_ms(1, None).file;

    println!(
        "faultline engine bench{}",
        if quick { " (QUICK: sizes / 10)" } else { "" }
    );
    println!(
        "machine: {} CPUs available, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    println!(
        "workload: {SCENARIO} --set {} : protocol {}, {} nodes, {} clients, seed {}, ~{:.0} events per virtual second",
        BASE_OVERRIDES.join(" --set "),
        f.protocol.name,
        f.nodes,
        f.workload.clients,
        with_clients.seed,
        with_clients.events_per_ms * 1_000.0
    );

    // Queue length, for the baseline.
    let q = measure_queue(&with_clients, if quick { 10_000 } else { 120_000 });
    let pending = q.per_event.round().max(1.0) as usize;
    println!(
        "queue length (measured, see measure_queue): average {:.2} per pop, {:.2} over virtual time; max {} sampled, {} right after a pop (engine probe of limits.pending_max)",
        q.per_event, q.per_time, q.max_sampled, q.max_after_pop
    );
    println!();

    // 1 and 2: throughput against the bare heap.
    let (off, file) = throughput(
        &with_clients.scenario_events(throughput_events),
        with_clients.seed,
        &dir,
    );
    let (bare, bare_cpu): (Vec<f64>, Vec<f64>) =
        (0..REPEATS).map(|_| bare_heap(pending, off.steps)).unzip();
    let (off_best, off_med) = best_median(off.wall.clone());
    let (file_best, file_med) = best_median(file.wall.clone());
    let (bare_best, bare_med) = best_median(bare);
    let bare_cpu_med = best_median(bare_cpu).1;
    println!(
        "THROUGHPUT (events = queue pops; {REPEATS} runs each, trace off and trace file in turns; wall time of new + run + drop (+ the trace's summary, flush and rename); CPU time beside it)"
    );
    trace_rows(&off, &file);
    println!(
        "{:<44} {:>12} {:>14} {:>14} {:>12.1} {:>16}",
        format!("bare BinaryHeap, {pending} pending x 24 B"),
        thousands(off.steps),
        thousands(bare_best as u64),
        thousands(bare_med as u64),
        1e9 / bare_med,
        thousands(bare_cpu_med as u64)
    );
    let (queue, queue_cpu): (Vec<f64>, Vec<f64>) = (0..REPEATS)
        .map(|_| engine_queue(pending, off.steps))
        .unzip();
    let (queue_best, queue_med) = best_median(queue);
    let queue_cpu_med = best_median(queue_cpu).1;
    println!(
        "{:<44} {:>12} {:>14} {:>14} {:>12.1} {:>16}",
        format!("the engine's queue alone, {pending} pending"),
        thousands(off.steps),
        thousands(queue_best as u64),
        thousands(queue_med as u64),
        1e9 / queue_med,
        thousands(queue_cpu_med as u64)
    );
    println!(
        "sim/bare, trace off: {:.1}% (best/best), {:.1}% (median/median)   [target >= 35%]",
        100.0 * off_best / bare_best,
        100.0 * off_med / bare_med
    );
    if !off.cpu.is_empty() {
        println!(
            "sim/bare, trace off, on CPU time: {:.1}% (median/median)",
            100.0 * best_median(off.cpu.clone()).1 / bare_cpu_med
        );
    }
    println!(
        "sim/bare, trace file: {:.1}% (best/best), {:.1}% (median/median)",
        100.0 * file_best / bare_best,
        100.0 * file_med / bare_med,
    );
    println!();
    breakdown(
        &with_clients.scenario_events(throughput_events),
        with_clients.seed,
        1e9 / queue_cpu_med,
    );

    // The trace's cost on a second workload: Raft, whose messages carry log entries.
    let raft_ms = 2_800_000 / scale;
    let raft = Scenario::<faultline::protocols::raft::Raft>::bundled(
        RAFT_TRACE,
        &[format!("limits.time_ms={raft_ms}")],
    )
    .expect("the bundled raft scenario");
    println!(
        "TRACE COST, RAFT ({RAFT_TRACE} --set limits.time_ms={raft_ms}, seed {}; the run's end-of-run linearizability check included)",
        raft.file.seed
    );
    let (off, file) = throughput(&raft, raft.file.seed, &dir);
    trace_rows(&off, &file);
    println!();
    if std::env::var("FAULTLINE_BENCH_ONLY").is_ok_and(|v| v == "throughput") {
        return;
    }

    // 3: memory at N and 10N.
    println!(
        "MEMORY (counting global allocator; peak and retained are live heap bytes above the live bytes before the run)"
    );
    println!(
        "{:<10} {:<6} {:>12} {:>10} {:>12} {:>16} {:>14} {:>14} {:>16}",
        "workload",
        "trace",
        "events",
        "client ops",
        "peak",
        "retained at end",
        "calls/1M ev",
        "steady calls",
        "steady reallocs"
    );
    for w in [&with_clients, &no_clients] {
        for trace in [Trace::Off, Trace::File] {
            for n in [memory_events, 10 * memory_events] {
                let m = memory(w, n, trace, &dir);
                println!(
                    "{:<10} {:<6} {:>12} {:>10} {:>12} {:>16} {:>14.1} {:>14.1} {:>16.1}",
                    w.label,
                    trace.label(),
                    thousands(m.steps),
                    thousands(m.ops),
                    mib(m.peak),
                    mib(m.retained),
                    1e6 * m.calls_per_event,
                    1e6 * m.steady_calls_per_event,
                    1e6 * m.steady_reallocs_per_event
                );
            }
        }
    }
    println!(
        "(calls/1M ev: allocator calls (alloc + alloc_zeroed + realloc) per million events over the whole run, set-up included; steady: over the second half of the run only; steady reallocs: the reallocs among those)"
    );
    let scale = if quick { 1 } else { 10 };
    fd_row(scale);
    consensus_rows(scale);
    abd_rows(scale);
    txn_rows(scale);
    saga_rows(scale);
    dynamo_rows(scale);
    gossip_rows(scale);
    clock_rows(scale);
    wal_rows(scale);
}

/// Failure detection on lossy links, every check on. `FAULTLINE_BENCH_ONLY=fd` runs only this
/// row.
fn fd_row(scale: u64) {
    checks_share::<faultline::protocols::fd::Fd>(
        "fd/lossy-links",
        "FAILURE DETECTION",
        60_000 * scale,
    );
}

/// Raft on the lab network with churn, every check on: the first of the consensus rows.
/// `FAULTLINE_BENCH_ONLY=raft` runs only this row (for profiling Raft's checks alone).
fn raft_row(scale: u64) {
    checks_share::<faultline::protocols::raft::Raft>(
        "raft/unreliable-churn",
        "RAFT, 5 nodes, lab network and churn",
        14_000 * scale,
    );
}

/// The commit protocols, every check on (atomicity and conservation after every step, the
/// isolation check of the whole history at the end): two-phase commit on Raft's lab network
/// and churn with 5 nodes and list appends, Paxos Commit on 3 nodes with bank transfers and
/// no faults. `FAULTLINE_BENCH_ONLY=txn` runs only these rows.
fn txn_rows(scale: u64) {
    checks_share::<faultline::protocols::twopc::TwoPc>(
        "twopc/unreliable-churn",
        "TWO-PHASE COMMIT, 5 nodes, lab network and churn, list appends",
        14_000 * scale,
    );
    checks_share::<faultline::protocols::paxoscommit::PaxosCommit>(
        "paxoscommit/bank",
        "PAXOS COMMIT, 3 nodes, bank transfers, no faults",
        4_000 * scale,
    );
}

/// Lamport's mutual exclusion on the logical-clock service, three quiet nodes and three
/// clients (`lamport/calm`), every check on: mutual exclusion after every step and the
/// service's happens-before check at every clock event. `FAULTLINE_BENCH_ONLY=clocks` runs
/// only this row.
fn clock_rows(scale: u64) {
    checks_share::<faultline::protocols::lamport::Lamport>(
        "lamport/calm",
        "LAMPORT MUTUAL EXCLUSION, 3 nodes, clock service and its check on",
        30_000 * scale,
    );
}

/// The WAL store on one quiet node (`wal/calm`: four clients, three keys, group commit
/// every 3 ms, a checkpoint every 40 ms), every check on: acknowledged writes and the
/// recovered state at each recovery, reads against the values written after every step,
/// linearizability of the history at the end. The same store under `wal/swarm` (crashes and
/// every storage fault of its atlas until 4 s), and Raft under `raft/disk-swarm` (swarm
/// faults and storage faults until 8 s): the checksums, the recovery paths and the checks of
/// damaged copies. Each runs at least its scenario's own length, so the faults and the heal
/// happen. `FAULTLINE_BENCH_ONLY=wal` runs only these rows.
fn wal_rows(scale: u64) {
    checks_share::<faultline::protocols::wal::Wal>(
        "wal/calm",
        "WAL STORE, 1 node, group commit and checkpoints",
        2_000 * scale,
    );
    checks_share::<faultline::protocols::wal::Wal>(
        "wal/swarm",
        "WAL STORE, 1 node, crashes and the disk atlas's faults",
        7_000 * scale,
    );
    checks_share::<faultline::protocols::raft::Raft>(
        "raft/disk-swarm",
        "RAFT, 5 nodes, swarm faults and the disk atlas's faults",
        12_000 * scale,
    );
    snapshot_rows(scale);
}

/// Raft with snapshots on disks that lie (`raft/snapshot-swarm`, its own seed: the swarm's
/// faults, disk faults from the atlas, a snapshot every 8 applied entries and
/// InstallSnapshot), every check on. `FAULTLINE_BENCH_ONLY=snapshot` runs only this row.
fn snapshot_rows(scale: u64) {
    checks_share::<faultline::protocols::raft::Raft>(
        "raft/snapshot-swarm",
        "RAFT SNAPSHOTS, 5 nodes, swarm and disk faults, snapshot_every 8",
        12_000 * scale,
    );
}

/// Sagas with duplicates and loss (`saga/duplicate-delivery`: 4 nodes, three clients, a
/// third of the messages twice), every check on: the ledger monitors and the money invariant
/// after every step. `FAULTLINE_BENCH_ONLY=saga` runs only these rows.
fn saga_rows(scale: u64) {
    checks_share::<faultline::protocols::saga::Sagas>(
        "saga/duplicate-delivery",
        "SAGAS, orchestrator and 3 services, duplicates and loss",
        6_000 * scale,
    );
}

/// The Dynamo-style store under swarm faults (`dynamo/strict-linearizable`: 5 nodes, crashes
/// and partitions for 5 s, four clients on four keys, strict quorums with read write-back),
/// every check on: one value per clock and ownership agreement after every step, convergence
/// and no acknowledged write lost after the heal, linearizability of the history at the end.
/// The clients stop at 5 s, so longer runs add only gossip and anti-entropy.
/// `FAULTLINE_BENCH_ONLY=dynamo` runs only this row.
fn dynamo_rows(scale: u64) {
    checks_share::<faultline::protocols::dynamo::Dynamo>(
        "dynamo/strict-linearizable",
        "DYNAMO, 5 nodes, strict quorums, crashes and partitions",
        7_000 * scale,
    );
}

/// CRDT gossip, the broadcast exercise (`gossip/broadcast`: 5 nodes, a lossy and
/// duplicating network, a grow-only set gossiped whole every 40 ms), every check on: the
/// counter invariant after every step, convergence and the acknowledged-value check after the
/// heal, the eventual-consistency history check at the end. `FAULTLINE_BENCH_ONLY=gossip`
/// runs only this row.
fn gossip_rows(scale: u64) {
    checks_share::<faultline::protocols::gossip::Gossip>(
        "gossip/broadcast",
        "GOSSIP (CRDT), 5 nodes, grow-only set, lossy and duplicating network",
        4_000 * scale,
    );
}

/// ABD's far writer (5 nodes, a lossy network, crashes and partitions for 4 s, one far
/// writer and three readers), every check on: the register's two invariants after every
/// step and the linearizability check of the whole history at the end.
/// `FAULTLINE_BENCH_ONLY=abd` runs only these rows.
fn abd_rows(scale: u64) {
    checks_share::<faultline::protocols::abd::Abd>(
        "abd/far-writer",
        "ABD, 5 nodes, far writer, lossy network and churn",
        6_000 * scale,
    );
}

/// Raft, Multi-Paxos and primary-backup on the same 5 nodes, lab network, churn and key-value
/// workload (`raft/unreliable-churn`, `multipaxos/unreliable-churn` and `pb/unreliable-churn`
/// differ only in the protocol),
/// every check on, one after the other in one run. `FAULTLINE_BENCH_ONLY=consensus` runs
/// only these rows.
fn consensus_rows(scale: u64) {
    raft_row(scale);
    checks_share::<faultline::protocols::multipaxos::MultiPaxos>(
        "multipaxos/unreliable-churn",
        "MULTI-PAXOS, 5 nodes, the same network, churn and workload",
        14_000 * scale,
    );
    checks_share::<faultline::protocols::pb::Pb>(
        "pb/unreliable-churn",
        "PRIMARY-BACKUP, 5 nodes (view manager and 4 replicas), the same network, churn and workload",
        14_000 * scale,
    );
}
