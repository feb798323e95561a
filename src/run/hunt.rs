//! The hunt: a protocol's swarm scenario swept with one bug switch on (without telling the
//! sweep which), or with none on (to count false alarms), in growing chunks of seeds until
//! the first failure, the seed cap, or the caller's time budget. Generic over the protocol.
//!
//! The time budget is the caller's: `more_time` is asked before each chunk, so this module
//! never reads the clock. Must not read files or the environment, and must not print.

use super::sweep::{SeedFailure, SeedSet, sweep};
use crate::protocol::Protocol;
use crate::scenario::{InputError, Scenario};

/// The bug switches of protocol `P`: the keys of `bugs` in its default parameters, in
/// order.
pub fn bug_switches<P: Protocol>() -> Vec<String> {
    let params = serde_json::to_value(P::Config::default()).unwrap_or_default();
    params["bugs"]
        .as_object()
        .map(|b| b.keys().cloned().collect())
        .unwrap_or_default()
}

/// The override that turns bug switch `switch` on.
pub fn switch_on(switch: &str) -> String {
    format!("protocol.params.bugs.{switch}=true")
}

/// One row of the hunt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The switch that was on, or `None` for the row that counts false alarms.
    pub switch: Option<String>,
    /// The first failing seed found, in seed order of the chunk it was found in.
    pub first: Option<SeedFailure>,
    /// Failures counted (with a switch on, the sweep stops at the first). Inconclusive and
    /// memory-bound seeds are not failures: they say nothing about the protocol.
    pub failures: u64,
    /// Seeds that were inconclusive or stopped at a memory bound.
    pub inconclusive: u64,
    /// Seeds run.
    pub seeds_run: u64,
}

impl Row {
    /// With a switch on: whether a failure found it. Without: whether no seed failed.
    pub fn as_hoped(&self) -> bool {
        match self.switch {
            Some(_) => self.first.is_some(),
            None => self.failures == 0,
        }
    }
}

/// Sweeps `swarm` with `switch` on (or none) from seed 1 on `jobs` threads, in chunks of 50
/// seeds doubling up to 1000, until a failure (with a switch on), `seeds_max` seeds, or
/// `more_time` says no.
pub fn row<P: Protocol>(
    swarm: &Scenario<P>,
    switch: Option<&str>,
    seeds_max: u64,
    jobs: usize,
    more_time: &mut dyn FnMut() -> bool,
) -> Result<Row, InputError> {
    let scn = match switch {
        Some(s) => swarm.with(&[switch_on(s)])?,
        None => swarm.clone(),
    };
    let (mut next, mut chunk) = (1u64, 50u64);
    let mut first: Option<SeedFailure> = None;
    let (mut failures, mut inconclusive, mut seeds_run) = (0u64, 0u64, 0u64);
    while next <= seeds_max && more_time() {
        let to = (next + chunk - 1).min(seeds_max);
        let seeds = SeedSet {
            from: next,
            to,
            shard: (0, 1),
        };
        // With a switch on, stop at the first failure; with none, count them all.
        let limit = switch.is_some().then_some(1);
        let r = sweep(&scn, seeds, jobs, limit, &mut |_| {}, &mut |_| {});
        seeds_run += r.run;
        let bugs = r.failures.iter().filter(|f| f.is_bug()).count() as u64;
        failures += bugs;
        inconclusive += r.failures.len() as u64 - bugs;
        if first.is_none() {
            first = r.failures.iter().find(|f| f.is_bug()).cloned();
        }
        if switch.is_some() && first.is_some() {
            break;
        }
        next = to + 1;
        chunk = (chunk * 2).min(1000);
    }
    Ok(Row {
        switch: switch.map(str::to_string),
        first,
        failures,
        inconclusive,
        seeds_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::ping::Ping;

    #[test]
    fn switches_come_from_the_default_parameters() {
        assert_eq!(bug_switches::<Ping>(), vec!["skip_boot_sync".to_string()]);
    }

    #[test]
    fn a_switch_is_found_and_no_switch_raises_no_alarm() {
        let swarm = Scenario::<Ping>::bundled("ping/swarm", &[]).unwrap();
        let mut asked = 0;
        let found = row(&swarm, Some("skip_boot_sync"), 200, 2, &mut || {
            asked += 1;
            true
        })
        .unwrap();
        assert!(found.as_hoped(), "{found:?}");
        assert_eq!(found.failures, 1, "the sweep stops at the first failure");
        assert_eq!(asked, 1, "found in the first chunk of 50");
        let clean = row(&swarm, None, 60, 2, &mut || true).unwrap();
        assert_eq!((clean.seeds_run, clean.failures), (60, 0), "{clean:?}");
        assert!(clean.as_hoped());
        // Out of time before the first chunk: nothing runs, nothing is found.
        let none = row(&swarm, Some("skip_boot_sync"), 200, 2, &mut || false).unwrap();
        assert_eq!((none.seeds_run, none.first.is_none()), (0, true));
        assert!(!none.as_hoped());
    }

    #[test]
    fn a_memory_bound_is_neither_a_find_nor_a_false_alarm() {
        // Every seed stops at the history bound: the switch is not found by it, and the row
        // without a switch raises no alarm; the seeds are counted as inconclusive.
        let set = ["limits.history_max=3".to_string()];
        let swarm = Scenario::<Ping>::bundled("ping/swarm", &set).unwrap();
        let clean = row(&swarm, None, 20, 1, &mut || true).unwrap();
        assert_eq!(
            (clean.seeds_run, clean.failures, clean.inconclusive),
            (20, 0, 20),
            "{clean:?}"
        );
        assert!(clean.as_hoped() && clean.first.is_none());
        let on = row(&swarm, Some("skip_boot_sync"), 20, 1, &mut || true).unwrap();
        assert!(on.first.as_ref().is_none_or(|f| f.is_bug()), "{on:?}");
    }
}
