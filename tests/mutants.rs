//! The test that cargo-mutants runs against each mutant (`tools/mutants.sh`, docs/scale.md):
//! a sweep of a protocol's bundled scenarios for a fixed seed budget, failing as soon as any
//! seed of any scenario does not pass. Unit tests never decide whether a mutant is killed;
//! only this sweep does.
//!
//! Every test here is ignored, so the default `cargo test` never runs them. One test per
//! target (`ping`, `fd`, `raft`, `abd`, `paxos`, `multipaxos`, `pb`, `lease`, `twopc`, `saga`, `paxoscommit`, `dynamo`, `gossip`, `lamport`, `wal`, and `every_protocol` for the
//! shared kit); the script
//! picks one by name:
//!
//! ```text
//! cargo test --profile mutants --test mutants -- --ignored --exact ping
//! ```
//!
//! The budget comes from the environment, so one build serves every budget:
//! `FAULTLINE_MUTANTS_SEEDS` (seeds per mutant over all the target's scenarios, default
//! 2000), `FAULTLINE_MUTANTS_SECONDS` (wall-clock cap per mutant, looked at between chunks of
//! seeds, default 120; reaching it ends the sweep as a pass, and the report says so) and
//! `FAULTLINE_MUTANTS_JOBS` (threads, default 1).
//!
//! Which scenarios: every bundled `PROTOCOL/...` scenario without an `outcome` (a scenario
//! with one is a teaching or regression case that must fail with its switch on, so it says
//! nothing about a mutant). The swarm scenario takes half the seeds and the others share the
//! rest, each at least 4. Seeds run from 1 upwards, so the same mutant always meets the
//! same runs. Before them, every bug case of the protocol (`PROTOCOL/bug-*`,
//! `regressions/PROTOCOL-*`) runs once at its own seed with its switches off, and must not
//! fail (inconclusive is allowed); a regression case that must pass runs as written. A bug
//! case is the exact schedule in which the rule its switch breaks matters, so a mutant of
//! that rule fails it with the switch off. No case is judged as written with its switch on
//! (see [`cases`]). A scenario that fails on some seed unmutated is left out ([`NOT_JUDGES`], with
//! the reason): the unmutated tree must pass the sweep.

mod common;

use common::switches_off;
use faultline::protocol::Protocol;
use faultline::protocols::abd::Abd;
use faultline::protocols::dynamo::Dynamo;
use faultline::protocols::fd::Fd;
use faultline::protocols::gossip::Gossip;
use faultline::protocols::lamport::Lamport;
use faultline::protocols::lease::Lease;
use faultline::protocols::multipaxos::MultiPaxos;
use faultline::protocols::paxos::Paxos;
use faultline::protocols::paxoscommit::PaxosCommit;
use faultline::protocols::pb::Pb;
use faultline::protocols::ping::Ping;
use faultline::protocols::raft::Raft;
use faultline::protocols::saga::Sagas;
use faultline::protocols::twopc::TwoPc;
use faultline::protocols::wal::Wal;
use faultline::run::sweep::{SeedSet, sweep};
use faultline::scenario::{ExpectedOutcome, Scenario, bundled_names};
use faultline::sim::{Verdict, install_panic_capture};

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?}: expected a whole number")),
        Err(_) => default,
    }
}

/// Bundled scenarios that fail on some seeds with no mutant at all, so they cannot judge one,
/// each with the reason.
const NOT_JUDGES: &[(&str, &str)] = &[(
    "fd/jitter-fixed-vs-phi",
    "a teaching case: its description says a run of stragglers fools phi too at seed 73",
)];

/// The scenarios a mutant of `protocol` is judged by, and the seeds each gets out of `total`.
fn plan<P: Protocol>(protocol: &str, total: u64) -> Vec<(String, Scenario<P>, u64)> {
    let prefix = format!("{protocol}/");
    let mut list: Vec<(String, Scenario<P>)> = bundled_names()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .map(|n| (n.to_string(), Scenario::<P>::bundled(n, &[]).unwrap()))
        .filter(|(n, s)| s.file.outcome.is_none() && !NOT_JUDGES.iter().any(|(j, _)| j == n))
        .collect();
    // Swarm first: it sees the most and is cheapest per finding.
    list.sort_by_key(|(n, _)| (!n.ends_with("/swarm"), n.clone()));
    assert!(!list.is_empty(), "no bundled scenario for {protocol}");
    let has_swarm = list[0].0.ends_with("/swarm");
    let others = list.len() as u64 - u64::from(has_swarm);
    let swarm_seeds = if has_swarm {
        if others == 0 { total } else { total / 2 }
    } else {
        0
    };
    let each = (total - swarm_seeds)
        .checked_div(others)
        .unwrap_or(0)
        .max(4);
    list.into_iter()
        .enumerate()
        .map(|(i, (n, s))| {
            let seeds = if i == 0 && has_swarm {
                swarm_seeds
            } else {
                each
            };
            (n, s, seeds.max(4))
        })
        .collect()
}

/// One scenario's share: chunks of 25 seeds, the clock looked at between chunks. `Err`
/// names the first failing seed.
#[allow(clippy::disallowed_types)] // the wall-clock cap of the mutation routine, never a result
fn sweep_one<P: Protocol>(
    name: &str,
    scn: &Scenario<P>,
    seeds: u64,
    jobs: usize,
    deadline: std::time::Instant,
) -> Result<u64, String> {
    let mut next = 1u64;
    while next <= seeds {
        if std::time::Instant::now() >= deadline {
            break;
        }
        let to = (next + 24).min(seeds);
        let set = SeedSet {
            from: next,
            to,
            shard: (0, 1),
        };
        let r = sweep(scn, set, jobs, Some(1), &mut |_| {}, &mut |_| {});
        if let Some(f) = r.failures.first() {
            return Err(format!(
                "{name} seed {}: {} ({}): {}\n  reproduce: faultline run {name} --seed {}",
                f.seed, f.check, f.class, f.message, f.seed
            ));
        }
        next = to + 1;
    }
    Ok(next - 1)
}

/// Sweeps the scenarios of every protocol in `targets` with the budget from the environment,
/// split equally between them, and panics at the first seed that does not pass.
#[allow(clippy::disallowed_types)] // the wall-clock cap of the mutation routine, never a result
fn judge(targets: &[&str]) {
    install_panic_capture();
    let total = env_u64("FAULTLINE_MUTANTS_SEEDS", 2000);
    let seconds = env_u64("FAULTLINE_MUTANTS_SECONDS", 120);
    let jobs = env_u64("FAULTLINE_MUTANTS_JOBS", 1) as usize;
    let start = std::time::Instant::now();
    let deadline = start + std::time::Duration::from_secs(seconds);
    let share = (total / targets.len() as u64).max(4);
    let mut ran = Vec::new();
    for t in targets {
        let result = match *t {
            "ping" => run_all::<Ping>(t, share, jobs, deadline, &mut ran),
            "fd" => run_all::<Fd>(t, share, jobs, deadline, &mut ran),
            "raft" => run_all::<Raft>(t, share, jobs, deadline, &mut ran),
            "abd" => run_all::<Abd>(t, share, jobs, deadline, &mut ran),
            "paxos" => run_all::<Paxos>(t, share, jobs, deadline, &mut ran),
            "multipaxos" => run_all::<MultiPaxos>(t, share, jobs, deadline, &mut ran),
            "pb" => run_all::<Pb>(t, share, jobs, deadline, &mut ran),
            "lease" => run_all::<Lease>(t, share, jobs, deadline, &mut ran),
            "twopc" => run_all::<TwoPc>(t, share, jobs, deadline, &mut ran),
            "saga" => run_all::<Sagas>(t, share, jobs, deadline, &mut ran),
            "paxoscommit" => run_all::<PaxosCommit>(t, share, jobs, deadline, &mut ran),
            "dynamo" => run_all::<Dynamo>(t, share, jobs, deadline, &mut ran),
            "gossip" => run_all::<Gossip>(t, share, jobs, deadline, &mut ran),
            "lamport" => run_all::<Lamport>(t, share, jobs, deadline, &mut ran),
            "wal" => run_all::<Wal>(t, share, jobs, deadline, &mut ran),
            other => panic!("no mutation target {other:?}"),
        };
        if let Err(why) = result {
            panic!("KILLED by the sweep: {why}");
        }
    }
    let seeds: u64 = ran.iter().map(|(_, n)| n).sum();
    let capped = std::time::Instant::now() >= deadline;
    // Printed with --nocapture (and kept in cargo-mutants' logs): how much this mutant met.
    println!(
        "mutants sweep passed: {seeds} of {total} seeds{} in {:.1} s",
        if capped { " (time cap reached)" } else { "" },
        start.elapsed().as_secs_f64()
    );
    for (n, k) in &ran {
        println!("  {n}: {k} seeds");
    }
}

/// A case the protocol must pass: a bug case (`PROTOCOL/bug-*`, `regressions/PROTOCOL-*`)
/// with every switch it turns on turned off, or a regression case that must pass as written.
struct Case<P: Protocol> {
    name: String,
    scenario: Scenario<P>,
    /// The overrides that turned its switches off (empty for a passing case).
    off: Vec<String>,
}

/// The protocol's cases, each one precise schedule: a bug case is the one in which the rule
/// its switch breaks matters, so a mutant that breaks the same rule without the switch fails
/// it with the switch off, where a sweep of random seeds may never arrive. A case is never
/// judged as written with its switch on: "it no longer fails as it did" would kill any
/// mutant that moves its schedule, as a golden test would, whether or not a check caught a
/// mistake.
fn cases<P: Protocol>(protocol: &str) -> Vec<Case<P>> {
    let (bug, regression) = (
        format!("{protocol}/bug-"),
        format!("regressions/{protocol}-"),
    );
    bundled_names()
        .into_iter()
        .filter(|n| n.starts_with(&bug) || n.starts_with(&regression))
        .filter_map(|n| {
            let written = Scenario::<P>::bundled(n, &[]).unwrap();
            let off = switches_off(&written);
            let passes = matches!(written.file.outcome, Some(ExpectedOutcome::Passes));
            if off.is_empty() && !passes {
                return None;
            }
            Some(Case {
                name: n.to_string(),
                scenario: Scenario::<P>::bundled(n, &off).unwrap(),
                off,
            })
        })
        .collect()
}

/// One case at its own seed: a failure kills the mutant; an inconclusive run does not (a
/// shrunk case may end before its liveness checks can be decided, as tests/regressions.rs
/// allows).
fn run_case<P: Protocol>(case: &Case<P>) -> Result<(), String> {
    let name = &case.name;
    let seed = case.scenario.file.seed;
    let report = case
        .scenario
        .run(seed, None)
        .map_err(|e| format!("{name}: {e}"))?;
    match report.verdict {
        Verdict::Fail(f) => Err(format!(
            "{name}{} seed {seed}: {} ({}): {}\n  reproduce: faultline run {name}{}",
            if case.off.is_empty() {
                ""
            } else {
                " (switches off)"
            },
            f.check,
            f.class.name(),
            f.message,
            case.off
                .iter()
                .map(|o| format!(" --set {o}"))
                .collect::<String>()
        )),
        _ => Ok(()),
    }
}

#[allow(clippy::disallowed_types)] // the deadline only
fn run_all<P: Protocol>(
    protocol: &str,
    total: u64,
    jobs: usize,
    deadline: std::time::Instant,
    ran: &mut Vec<(String, u64)>,
) -> Result<(), String> {
    // The cases first: one run each, and the likeliest to kill a mutant of a subtle rule.
    for case in cases::<P>(protocol) {
        run_case(&case)?;
        ran.push((format!("{} (its own seed)", case.name), 1));
    }
    for (name, scn, seeds) in plan::<P>(protocol, total) {
        let done = sweep_one(&name, &scn, seeds, jobs, deadline)?;
        ran.push((name, done));
    }
    Ok(())
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn ping() {
    judge(&["ping"]);
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn fd() {
    judge(&["fd"]);
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn raft() {
    judge(&["raft"]);
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn abd() {
    judge(&["abd"]);
}

/// For the shared kit (src/kit): every protocol's scenarios, the budget split between them.
#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn every_protocol() {
    judge(&[
        "ping",
        "fd",
        "raft",
        "abd",
        "paxos",
        "multipaxos",
        "pb",
        "lease",
        "twopc",
        "saga",
        "paxoscommit",
        "dynamo",
        "gossip",
        "lamport",
        "wal",
    ]);
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn paxos() {
    judge(&["paxos"]);
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn multipaxos() {
    judge(&["multipaxos"]);
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn pb() {
    judge(&["pb"]);
}

/// The plan itself, in the default test run: every protocol has scenarios to judge by, the
/// swarm comes first with half the seeds, and no scenario that must fail is among them.
#[test]
fn the_plan_covers_each_protocol_with_its_swarm_first() {
    let p = plan::<Raft>("raft", 2000);
    assert_eq!(p[0].0, "raft/swarm");
    assert_eq!(p[0].2, 1000);
    assert!(
        p.len() > 3,
        "{:?}",
        p.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
    assert!(p.iter().all(|(_, s, _)| s.file.outcome.is_none()));
    let total: u64 = p.iter().map(|x| x.2).sum();
    assert!((1900..=2000).contains(&total), "{total}");
    let ping = plan::<Ping>("ping", 2000);
    assert!(!ping.iter().any(|(n, _, _)| n.contains("bug-")));
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn lease() {
    judge(&["lease"]);
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn twopc() {
    judge(&["twopc"]);
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn wal() {
    judge(&["wal"]);
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn saga() {
    judge(&["saga"]);
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn paxoscommit() {
    judge(&["paxoscommit"]);
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn dynamo() {
    judge(&["dynamo"]);
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn gossip() {
    judge(&["gossip"]);
}

#[test]
#[ignore = "the mutation routine's sweep: tools/mutants.sh runs it per mutant"]
fn lamport() {
    judge(&["lamport"]);
}
