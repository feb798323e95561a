//! The seed pool: one job per seed, spread over threads, with results that do not depend on
//! the number of threads. The sweep and the test harness both run their seeds here.
//!
//! Each job runs on one thread and depends only on its seed. Seeds are handed out in list
//! order, and results are put back in list order. With a failure limit, no seed is handed
//! out once that many jobs have failed; the result is then the seeds up to the limit-th
//! failure in list order. Every seed before that one was handed out earlier and ran to the
//! end, so the cut is the same for one thread or many.
//!
//! No files, no environment, no clock, no output here.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// What a pool run gives back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ran<T> {
    /// One result per seed, in list order: every seed, or with a failure limit reached, the
    /// seeds up to and including the limit-th failure in list order.
    pub results: Vec<T>,
    /// With the failure limit reached before the last seed: the seed of the limit-th failure
    /// (every seed up to it ran, none after it counts).
    pub stopped_after: Option<u64>,
}

/// Runs `job` for every seed of `seeds` on up to `threads` threads. `failed` says which
/// results count towards `failures_max`; `each` is called on the calling thread as results
/// arrive (in the order they finish, which with several threads is not list order).
pub fn run<T: Send>(
    seeds: &[u64],
    threads: usize,
    failures_max: Option<u64>,
    job: impl Fn(u64) -> T + Sync,
    failed: impl Fn(&T) -> bool + Sync,
    each: &mut dyn FnMut(u64, &T),
) -> Ran<T> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failures = AtomicU64::new(0);
    let threads = threads.clamp(1, seeds.len().max(1));
    let mut results: Vec<Option<T>> = seeds.iter().map(|_| None).collect();
    let (tx, rx) = std::sync::mpsc::channel::<(usize, T)>();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop, failures, job, failed) = (&next, &stop, &failures, &job, &failed);
            s.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&seed) = seeds.get(i) else { break };
                    let result = job(seed);
                    if failed(&result) {
                        let n = failures.fetch_add(1, Ordering::SeqCst) + 1;
                        if failures_max.is_some_and(|m| n >= m) {
                            stop.store(true, Ordering::SeqCst);
                        }
                    }
                    if tx.send((i, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, result) in rx {
            each(seeds[i], &result);
            results[i] = Some(result);
        }
    });
    // Seeds were handed out in order, so everything before the first seed not run did run.
    // With a failure limit, keep the seeds up to the limit-th failure in list order: a
    // prefix every thread count produces.
    let mut kept = Vec::new();
    let mut counted = 0u64;
    let mut stopped_after = None;
    for (i, r) in results.into_iter().enumerate() {
        let Some(result) = r else { break };
        let failed_here = failed(&result);
        kept.push(result);
        if failed_here {
            counted += 1;
            if failures_max.is_some_and(|m| counted >= m) {
                if i + 1 < seeds.len() {
                    stopped_after = Some(seeds[i]);
                }
                break;
            }
        }
    }
    Ran {
        results: kept,
        stopped_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job whose cost varies by seed, so that threads finish out of order.
    fn slow_square(seed: u64) -> u64 {
        let mut x = seed;
        for _ in 0..(seed % 7) * 20_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        std::hint::black_box(x);
        seed * seed
    }

    #[test]
    fn results_come_back_in_seed_order_for_any_thread_count() {
        let seeds: Vec<u64> = (1..=40).collect();
        let want: Vec<u64> = seeds.iter().map(|s| s * s).collect();
        for threads in [1, 2, 3, 8] {
            let mut seen = Vec::new();
            let ran = run(
                &seeds,
                threads,
                None,
                slow_square,
                |_| false,
                &mut |s, _| seen.push(s),
            );
            assert_eq!(ran.results, want, "threads {threads}");
            assert_eq!(ran.stopped_after, None);
            seen.sort_unstable();
            assert_eq!(seen, seeds, "each result is seen once");
        }
    }

    #[test]
    fn a_failure_limit_cuts_at_the_same_seed_for_any_thread_count() {
        let seeds: Vec<u64> = (10..=60).collect();
        // Multiples of 4 fail: with a limit of 3, the cut is at the third (20), whatever ran
        // after it on other threads.
        let fails = |r: &u64| r % 16 == 0;
        for threads in [1, 2, 5] {
            let ran = run(&seeds, threads, Some(3), slow_square, fails, &mut |_, _| {});
            let kept: Vec<u64> = (10..=20).map(|s| s * s).collect();
            assert_eq!(ran.results, kept, "threads {threads}");
            assert_eq!(ran.stopped_after, Some(20), "threads {threads}");
        }
        // A limit reached on the very last seed stops nothing.
        let ran = run(&[4, 5, 8], 2, Some(2), slow_square, fails, &mut |_, _| {});
        assert_eq!((ran.results.len(), ran.stopped_after), (3, None));
        // A limit never reached keeps every seed.
        let ran = run(&seeds, 3, Some(100), slow_square, fails, &mut |_, _| {});
        assert_eq!((ran.results.len(), ran.stopped_after), (seeds.len(), None));
    }

    #[test]
    fn no_seeds_no_results() {
        let ran = run(&[], 4, Some(1), slow_square, |_| true, &mut |_, _| {});
        assert!(ran.results.is_empty() && ran.stopped_after.is_none());
    }
}
