//! A deterministic generator of list-append histories, for tests and the benchmark.
//!
//! Concurrent clients run transactions against a simulated serializable store: each
//! transaction takes effect atomically at one moment between its invocation and its
//! completion (or never, when it aborts or is lost), so the history it records is valid at
//! every level. Keys come from a pool of active slots drawn with a skew towards the first
//! slots; a key retires once it has had its share of appends and a fresh key takes its slot
//! (so reads stay short, as in Jepsen's list-append workload). Anomalies can then be planted
//! on keys of their own: each planted class is one small group of transactions that shows
//! it.

use super::Class;
use crate::base::rng::{Rng, Stream};
use crate::base::types::Ratio;
use crate::lin::{Op, Outcome, Val};

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generation {
    /// Transactions simulated (planted ones come on top).
    pub txns: usize,
    /// Concurrent clients (at least 10 by default).
    pub clients: usize,
    /// Active key slots (the pool keys are drawn from).
    pub keys: usize,
    /// Appends a key receives before it retires.
    pub appends_per_key_max: u32,
    /// Transactions whose outcome is lost (`info`); half of them took effect.
    pub unknown: Ratio,
    /// Transactions that abort (`fail`).
    pub aborted: Ratio,
    /// Anomaly classes to plant, one group of transactions each.
    pub plant: Vec<Class>,
}

impl Generation {
    /// `txns` transactions from 10 clients over 100 key slots, 5% unknown, 1% aborted, 32
    /// appends per key, nothing planted.
    pub fn new(txns: usize) -> Self {
        Generation {
            txns,
            clients: 10,
            keys: 100,
            appends_per_key_max: 32,
            unknown: Ratio { ppm: 50_000 },
            aborted: Ratio { ppm: 10_000 },
            plant: Vec::new(),
        }
    }

    /// The same, with `classes` planted.
    pub fn planted(mut self, classes: &[Class]) -> Self {
        self.plant = classes.to_vec();
        self
    }

    /// The classes an analysis must report for this generation: the planted ones, plus
    /// G-single when G1b is planted (a list reader that sees a transaction's first append
    /// but not its second also read before that second append: one rw and one wr edge).
    pub fn expected(&self) -> Vec<Class> {
        let mut out = self.plant.clone();
        if out.contains(&Class::G1b) {
            out.push(Class::GSingle);
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn mop(name: &str, key: u64, arg: Val) -> Val {
    Val::List(vec![Val::Str(name.to_string()), Val::Int(key as i64), arg])
}

fn ints(xs: &[i64]) -> Val {
    Val::List(xs.iter().map(|&x| Val::Int(x)).collect())
}

/// What a client is doing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Idle until `at`, then invokes.
    Idle,
    /// Invoked; takes effect (or not) at `at`.
    Open,
    /// Took effect (or not); completes at `at`.
    Done,
}

/// The fate drawn for a transaction at invocation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Commit,
    Abort,
    LostApplied,
    LostNotApplied,
}

struct Client {
    process: u64,
    phase: Phase,
    at: u64,
    /// The open transaction: its operation's index and fate.
    op: usize,
    fate: Fate,
}

/// A list-append history from `seed` (ChaCha stream `Workload`): transactions in
/// invocation order, planted groups placed at drawn positions.
pub fn generate(seed: u64, g: &Generation) -> Vec<Op> {
    assert!(g.clients > 0 && g.keys > 0 && g.appends_per_key_max > 0);
    let mut rng = Rng::new(seed, Stream::Workload);
    let mut clients: Vec<Client> = (0..g.clients)
        .map(|i| Client {
            process: i as u64,
            phase: Phase::Idle,
            at: rng.below(20),
            op: 0,
            fate: Fate::Commit,
        })
        .collect();
    let mut next_process = g.clients as u64;
    // Key slots, and per key id: appends planned so far and the store's list.
    let mut slots: Vec<u64> = (0..g.keys as u64).collect();
    let mut planned: Vec<u32> = vec![0; g.keys];
    let mut store: Vec<Vec<i64>> = vec![Vec::new(); g.keys];
    let mut ops: Vec<Op> = Vec::with_capacity(g.txns);
    let mut started = 0;
    let mut open = 0;
    while started < g.txns || open > 0 {
        // The next event: earliest time, then lowest client.
        let (ci, _) = clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.phase != Phase::Idle || started < g.txns)
            .min_by_key(|(i, c)| (c.at, *i))
            .expect("a client has something to do");
        let now = clients[ci].at;
        let c = &mut clients[ci];
        match c.phase {
            Phase::Idle => {
                let n = rng.between(2, 8);
                let mut mops = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    // Skewed towards the first slots: a uniform draw below a uniform draw.
                    let bound = rng.below(slots.len() as u64) + 1;
                    let slot = rng.below(bound) as usize;
                    let key = slots[slot];
                    if rng.chance(Ratio { ppm: 500_000 }) {
                        planned[key as usize] += 1;
                        let v = i64::from(planned[key as usize]);
                        mops.push(mop("append", key, Val::Int(v)));
                        if planned[key as usize] >= g.appends_per_key_max {
                            slots[slot] = planned.len() as u64;
                            planned.push(0);
                            store.push(Vec::new());
                        }
                    } else {
                        mops.push(mop("r", key, Val::Nil));
                    }
                }
                c.fate = if rng.chance(g.aborted) {
                    Fate::Abort
                } else if rng.chance(g.unknown) {
                    if rng.chance(Ratio { ppm: 500_000 }) {
                        Fate::LostApplied
                    } else {
                        Fate::LostNotApplied
                    }
                } else {
                    Fate::Commit
                };
                c.op = ops.len();
                c.phase = Phase::Open;
                c.at = now + rng.between(1, 40);
                ops.push(Op {
                    process: c.process,
                    f: "txn".to_string(),
                    key: None,
                    value: Val::List(mops),
                    outcome: Outcome::Unknown,
                    call: now,
                    ret: None,
                    line: 0,
                });
                started += 1;
                open += 1;
            }
            Phase::Open => {
                let op = &mut ops[c.op];
                if matches!(c.fate, Fate::Commit | Fate::LostApplied) {
                    let Val::List(mops) = &op.value else {
                        unreachable!("generated above")
                    };
                    let mut done = Vec::with_capacity(mops.len());
                    for m in mops {
                        let Val::List(p) = m else { unreachable!() };
                        let (Val::Str(name), Val::Int(k)) = (&p[0], &p[1]) else {
                            unreachable!()
                        };
                        let list = &mut store[*k as usize];
                        if name == "append" {
                            let Val::Int(v) = p[2] else { unreachable!() };
                            list.push(v);
                            done.push(m.clone());
                        } else {
                            let read = if list.is_empty() {
                                Val::Nil
                            } else {
                                ints(list)
                            };
                            done.push(mop("r", *k as u64, read));
                        }
                    }
                    if c.fate == Fate::Commit {
                        op.outcome = Outcome::Ok(Val::List(done));
                    }
                }
                if c.fate == Fate::Abort {
                    op.outcome = Outcome::NotApplied(Val::Nil);
                }
                c.phase = Phase::Done;
                c.at = now + rng.between(1, 40);
            }
            Phase::Done => {
                let op = &mut ops[c.op];
                if matches!(c.fate, Fate::LostApplied | Fate::LostNotApplied) {
                    // The client cannot tell what happened: it takes a new process.
                    c.process = next_process;
                    next_process += 1;
                } else {
                    op.ret = Some(now);
                }
                open -= 1;
                c.phase = Phase::Idle;
                c.at = now + rng.below(20);
            }
        }
    }
    let mut fresh = planned.len() as u64;
    for &class in &g.plant {
        let group = plant(class, &mut fresh);
        let at = rng.below(ops.len() as u64 + 1) as usize;
        let call = ops.get(at).map_or(0, |o| o.call);
        for (i, (mops, outcome)) in group.into_iter().enumerate() {
            let invoked: Vec<Val> = mops
                .iter()
                .map(|m| match m {
                    Val::List(p) if p[0] == Val::Str("r".into()) => {
                        Val::List(vec![p[0].clone(), p[1].clone(), Val::Nil])
                    }
                    other => other.clone(),
                })
                .collect();
            let outcome = match outcome {
                true => Outcome::Ok(Val::List(mops)),
                false => Outcome::NotApplied(Val::Nil),
            };
            ops.insert(
                at + i,
                Op {
                    process: next_process,
                    f: "txn".to_string(),
                    key: None,
                    value: Val::List(invoked),
                    outcome,
                    call,
                    ret: Some(call + 1),
                    line: 0,
                },
            );
            next_process += 1;
        }
    }
    ops
}

/// The transactions that plant `class` on fresh keys: (completed micro-ops, committed?).
fn plant(class: Class, fresh: &mut u64) -> Vec<(Vec<Val>, bool)> {
    let (x, y) = (*fresh, *fresh + 1);
    *fresh += 2;
    let app = |k: u64, v: i64| mop("append", k, Val::Int(v));
    let r = |k: u64, vs: &[i64]| mop("r", k, if vs.is_empty() { Val::Nil } else { ints(vs) });
    match class {
        // T1 and T2 append to x in one order and to y in the other.
        Class::G0 => vec![
            (vec![app(x, 1), app(y, 2)], true),
            (vec![app(x, 3), app(y, 4)], true),
            (vec![r(x, &[1, 3]), r(y, &[4, 2])], true),
        ],
        Class::G1a => vec![(vec![app(x, 1)], false), (vec![r(x, &[1])], true)],
        Class::G1b => vec![
            (vec![app(x, 1), app(x, 2)], true),
            (vec![r(x, &[1])], true),
            (vec![r(x, &[1, 2])], true),
        ],
        // Each reads the other's append.
        Class::G1c => vec![
            (vec![app(x, 1), r(y, &[2])], true),
            (vec![app(y, 2), r(x, &[1])], true),
        ],
        // Read skew: T2 sees T1's append to y but not its append to x.
        Class::GSingle => vec![
            (vec![app(x, 1), app(y, 1)], true),
            (vec![r(x, &[]), r(y, &[1])], true),
            (vec![r(x, &[1]), r(y, &[1])], true),
        ],
        // Write skew: each reads the key the other appends to, and sees nothing.
        Class::G2 => vec![
            (vec![r(x, &[]), app(y, 1)], true),
            (vec![r(y, &[]), app(x, 1)], true),
            (vec![r(x, &[1]), r(y, &[1])], true),
        ],
        Class::IncompatibleOrder => vec![
            (vec![app(x, 1)], true),
            (vec![app(x, 2)], true),
            (vec![r(x, &[1, 2])], true),
            (vec![r(x, &[2, 1])], true),
        ],
    }
}
