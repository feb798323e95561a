//! A scripted protocol for the library's tests: each node does what the script says, at the
//! local time it says, so a test can make a property fail on purpose and watch the check
//! catch it through the real engine and runner. It sends no messages and serves no clients.
//! Test code only: it drives the engine, which the checks themselves never import.

#![cfg(test)]

use super::{
    AckedSurvive, Advances, Agreement, Annotations, AtMostOnce, Convergence, Fenced, Monotonic,
    MonotonicEach, OneLeaderPerEpoch, Tally, map_difference,
};
use crate::base::types::{ClientId, Endpoint, NodeId, Time};
use crate::check::{ExpectKind, Expectation, Finding, PropertyDef};
use crate::faults::{Fault, ScheduledFault};
use crate::protocol::{ClientCtx, ClientLogic, Ctx, Protocol, RequestId, WorkloadConfig};
use crate::sim::{RunReport, SimConfig, Simulation, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One thing a node does.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Act {
    /// Enter this epoch.
    Epoch(u64),
    /// Lead (or stop leading) in the current epoch.
    Lead(bool),
    /// Set the volatile counter, and annotate it (`count`).
    Count(u64),
    /// Set the volatile counter without annotating it: the trace lies.
    Quiet(u64),
    /// Set the durable counter, written and synced.
    Durable(u64),
    /// Set the durable counter, written but not synced.
    Unsynced(u64),
    /// Decide a value in a slot (the decision journal is volatile).
    Decide(u64, u64),
    /// Append an entry to the record log (not synced).
    Append(u64),
    /// Cut the record log to this length.
    Truncate(usize),
    /// Sync the store.
    Sync,
    /// Acknowledge this many entries of the record log.
    Ack(usize),
    /// Set a key of the replicated state.
    Set(u64, u64),
    /// Apply a write under this token (the count of applied writes is volatile).
    Apply(u64),
    /// Be handed item `k` of `from`'s session `session`.
    Deliver {
        /// Sender (a node index).
        from: u32,
        /// Its session.
        session: u64,
        /// The item's number.
        k: u64,
    },
}

/// An act at a time (milliseconds) on a node (an index).
pub type Timed = (u64, u32, Act);

/// `act` on node index `node` at `ms`.
pub fn at(ms: u64, node: u32, act: Act) -> Timed {
    (ms, node, act)
}

/// The whole script.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Script(pub Vec<Timed>);

/// What the store holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Rec {
    /// A log entry.
    Entry(u64),
    /// The durable counter (a cell).
    Counter(u64),
}

/// One node.
#[derive(Clone, Debug)]
pub struct Toy {
    id: NodeId,
    script: Vec<Timed>,
    epoch: u64,
    leads: bool,
    count: u64,
    durable: u64,
    decisions: Vec<(u64, u64)>,
    acked: usize,
    state: BTreeMap<u64, u64>,
    tallies: BTreeMap<(u32, u64), (u64, u64)>,
    applied: (u64, u64),
}

impl Protocol for Toy {
    const NAME: &'static str = "toy";
    type Config = Script;
    type Msg = ();
    type Timer = usize;
    type Request = ();
    type Response = ();
    type Record = Rec;
    type Client = Idle;

    fn new(id: NodeId, _: u32, config: &Script) -> Self {
        Toy {
            id,
            script: config.0.clone(),
            epoch: 0,
            leads: false,
            count: 0,
            durable: 0,
            decisions: Vec::new(),
            acked: 0,
            state: BTreeMap::new(),
            tallies: BTreeMap::new(),
            applied: (0, 0),
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        for (i, (ms, node, _)) in self.script.iter().enumerate() {
            let when = Time::from_ms(*ms);
            if *node == self.id.0 && when > now {
                ctx.set_timer(i, when.sub(now));
            }
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Some(Rec::Counter(v)) = ctx.store().cell("counter") {
            self.durable = *v;
        }
        self.on_start(ctx);
    }

    fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: usize) {
        match self.script[timer].2.clone() {
            Act::Epoch(e) => self.epoch = e,
            Act::Lead(l) => self.leads = l,
            Act::Count(c) => {
                self.count = c;
                ctx.annotate("count", c);
            }
            Act::Quiet(c) => self.count = c,
            Act::Durable(v) => {
                self.durable = v;
                ctx.write_cell("counter", Rec::Counter(v));
                ctx.sync();
            }
            Act::Unsynced(v) => {
                self.durable = v;
                ctx.write_cell("counter", Rec::Counter(v));
            }
            Act::Decide(slot, value) => self.decisions.push((slot, value)),
            Act::Append(v) => ctx.append(Rec::Entry(v)),
            Act::Truncate(len) => ctx.truncate(len),
            Act::Sync => {
                ctx.sync();
            }
            Act::Ack(n) => self.acked = n,
            Act::Set(k, v) => {
                self.state.insert(k, v);
            }
            Act::Apply(token) => self.applied = (self.applied.0 + 1, token),
            Act::Deliver { from, session, k } => {
                let t = self.tallies.entry((from, session)).or_insert((0, 0));
                t.0 += 1;
                t.1 = t.1.max(k);
            }
        }
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        vec![
            PropertyDef::monitor(
                "one_coordinator",
                "at most one coordinator per epoch",
                OneLeaderPerEpoch::new("coordinator", "epoch", |t: &Toy| t.epoch, |t| t.leads),
            ),
            PropertyDef::monitor(
                "agreement",
                "one value per slot",
                Agreement::new(
                    "decided",
                    "slot",
                    |_, _, t: &Toy| t.decisions.len(),
                    |_, _, t, i| t.decisions[i],
                ),
            ),
            PropertyDef::monitor(
                "acked_survive",
                "acknowledged entries are synced on a majority",
                AckedSurvive::new(
                    |_, _, t: &Toy| t.acked,
                    |r| match r {
                        Rec::Entry(v) | Rec::Counter(v) => *v,
                    },
                    |v, at| format!("entry {v} acknowledged at position {at}"),
                ),
            ),
            PropertyDef::monitor(
                "count_monotonic",
                "the volatile counter never goes down within an incarnation",
                Monotonic::volatile("count", |t: &Toy| t.count),
            ),
            PropertyDef::monitor(
                "count_advances",
                "after the heal a majority moves the volatile counter past its highest value then",
                Advances::new("count", |t: &Toy| t.count),
            ),
            PropertyDef::monitor(
                "each_monotonic",
                "per peer, the counters never go down within an incarnation: for n1 the volatile counter, for the others the durable one",
                MonotonicEach::volatile(
                    "counter",
                    |t: &Toy, peer: NodeId| {
                        if peer.0 == 0 { t.count } else { t.durable }
                    },
                ),
            ),
            PropertyDef::monitor(
                "count_shown",
                "the last `count` annotation is the volatile counter (once it is above 0)",
                Annotations::new(&["count"], |t: &Toy, _| {
                    (t.count > 0).then_some(crate::protocol::Value::from(t.count))
                }),
            ),
            PropertyDef::monitor(
                "durable_monotonic",
                "the durable counter never goes down",
                Monotonic::durable("durable", |t: &Toy| t.durable),
            ),
            PropertyDef::monitor(
                "fenced",
                "no write applied under a token older than one applied before",
                Fenced::new("token", |t: &Toy| t.applied),
            ),
            PropertyDef::invariant(
                "converge",
                "up replicas hold the same state",
                Convergence::new("state", |t: &Toy| &t.state, map_difference),
            ),
            PropertyDef::invariant(
                "at_most_once",
                "nothing delivered twice",
                AtMostOnce::new("delivered", "message", |t: &Toy, each| {
                    for (&(from, session), &(applied, highest)) in &t.tallies {
                        each(Tally {
                            source: Endpoint::Node(NodeId(from)),
                            session,
                            applied,
                            highest,
                        });
                    }
                }),
            ),
        ]
    }
}

/// No clients.
#[derive(Clone)]
pub struct Idle;

impl ClientLogic<Toy> for Idle {
    fn new(_: ClientId, _: u32, _: &WorkloadConfig, _: &Script) -> Self {
        Idle
    }
    fn on_start(&mut self, _: &mut ClientCtx<'_, Toy>) {}
    fn on_response(&mut self, _: &mut ClientCtx<'_, Toy>, _: NodeId, _: RequestId, _: ()) {}
    fn on_timer(&mut self, _: &mut ClientCtx<'_, Toy>, _: u64) {}
}

/// Node index `node` crashes at `ms`.
pub fn crash(ms: u64, node: u32) -> ScheduledFault {
    ScheduledFault::new(ms * 1000, None, Fault::Crash(NodeId(node)))
}

/// Node index `node` restarts at `ms`.
pub fn restart(ms: u64, node: u32) -> ScheduledFault {
    ScheduledFault::new(ms * 1000, None, Fault::Restart(NodeId(node)))
}

/// Check `name` after every step.
pub fn expect_always(name: &str) -> Expectation {
    Expectation {
        check: name.to_string(),
        kind: ExpectKind::Always,
        at_least: None,
    }
}

/// `name` must hold at some step after the heal.
pub fn expect_eventually(name: &str) -> Expectation {
    Expectation {
        check: name.to_string(),
        kind: ExpectKind::Eventually {
            budget: None,
            stays: false,
        },
        at_least: None,
    }
}

/// Runs the script on `nodes` nodes with these faults for 2 s, healing at 1 s.
pub fn run(
    nodes: u32,
    script: &[Timed],
    faults: &[ScheduledFault],
    expect: &[Expectation],
) -> RunReport {
    run_down(nodes, script, faults, expect, &[])
}

/// As [`run`], with the nodes `down` left down by the heal.
pub fn run_down(
    nodes: u32,
    script: &[Timed],
    faults: &[ScheduledFault],
    expect: &[Expectation],
    down: &[u32],
) -> RunReport {
    let mut c = SimConfig::<Toy>::new(nodes, 1);
    c.protocol = Script(script.to_vec());
    c.workload.clients = 0;
    c.faults = faults.to_vec();
    c.permanently_down = down.iter().map(|&n| NodeId(n)).collect();
    c.expectations = expect.to_vec();
    c.heal_at = Some(Time::from_secs(1));
    c.time_limit = Time::from_secs(2);
    Simulation::new(c, None).expect("the toy runs").run()
}

/// The run failed `check`: its finding.
pub fn fails(report: &RunReport, check: &str) -> Finding {
    match &report.verdict {
        Verdict::Fail(f) if f.check == check => f.clone(),
        other => panic!("expected {check} to fail, got {other:?}"),
    }
}

/// The run passed.
pub fn passes(report: &RunReport) {
    assert_eq!(report.verdict, Verdict::Pass, "{:?}", report.checks);
}
