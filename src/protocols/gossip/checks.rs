//! Gossip's checks and metrics.
//!
//! - `never_overcounts` (always, counters): no node's view of a slot (increments, and the
//!   PN-Counter's decrements) is above what the slot's owner has counted: its own slot, or
//!   its synced one if it is down. A merge that adds breaks it at the first repeated gossip.
//! - `replicas_converge` (eventually): the check library's `Convergence` over the replicas.
//! - `value_matches_acks` (eventually): the up replicas agree and their value is one the
//!   client history allows (`kit::crdt::expect`): counters between the acknowledged sum and
//!   everything that may have taken effect (exactly the acknowledged sum when no update ended
//!   unknown), sets holding every acknowledged add no remove can have observed and only
//!   elements some add put in, registers a written value.
//!
//! Metrics: `gossip.messages` and `gossip.bytes` (whole states sent, 8 bytes per number),
//! `gossip.rounds_to_converge` (how many gossip rounds, counted as messages sent over up
//! nodes × fanout, passed from the last client operation's invocation until the up replicas
//! first agreed: once the clients stop, what anti-entropy costs; absent if they never agreed
//! after it) and `gossip.converged_at_end` (1 if the up replicas agree when
//! the run ends).

use super::{Config, Gossip, Replica, Request, Response};
use crate::kit::crdt::GCounter;
use crate::kit::crdt::expect::{Done, Fate, Update, counter_range, register_allowed, set_range};
use crate::protocol::library::{Convergence, touched};
use crate::protocol::{Failure, Metric, MetricDef, NodeId, Outcome, PropertyDef, Trigger, View};

// What the checks read of a node: oracle code, kept beside the checks.
impl Gossip {
    /// The node's replica.
    pub fn replica(&self) -> &Replica {
        &self.replica
    }
    /// Gossip messages and bytes this incarnation has sent.
    pub fn sent(&self) -> (u64, u64) {
        self.sent
    }
}

pub(super) fn properties() -> Vec<PropertyDef<Gossip>> {
    vec![
        PropertyDef::invariant(
            "never_overcounts",
            "no node's view of a counter slot is above what the slot's owner has counted",
            never_overcounts,
        )
        .always(),
        PropertyDef::invariant(
            "replicas_converge",
            "every up node holds the same replica (use as `eventually`)",
            Convergence::new("replicas", Gossip::replica, |a: &Replica, b: &Replica| {
                format!("{:?} against {:?}", a.read(), b.read())
            }),
        ),
        PropertyDef::invariant(
            "value_matches_acks",
            "the up replicas agree on a value the acknowledged updates allow: a counter's sum, a set's adds minus observed removes, a written register (use as `eventually`)",
            value_matches_acks,
        ),
    ]
}

/// The counter vectors of a replica: increments, and decrements if any.
fn vectors(r: &Replica) -> [Option<&GCounter>; 2] {
    match r {
        Replica::GCounter(c) => [Some(c), None],
        Replica::PnCounter(c) => [Some(&c.p), Some(&c.n)],
        _ => [None, None],
    }
}

/// What `owner` has counted in vector `which`: its own slot now, or its synced one.
fn counted(view: &View<'_, Gossip>, owner: NodeId, which: usize) -> u64 {
    let own = |r: &Replica| vectors(r)[which].map_or(0, |v| v.slot(owner));
    let synced = view
        .store(owner)
        .synced_cell("state")
        .map_or(0, |s| own(&s.replica));
    view.node(owner)
        .map_or(synced, |g| own(&g.replica).max(synced))
}

fn never_overcounts(view: &View<'_, Gossip>, _: Option<&Trigger>) -> Result<(), Failure> {
    for a in touched(view) {
        let Some(g) = view.node(a) else { continue };
        for (which, v) in vectors(&g.replica).into_iter().enumerate() {
            let Some(v) = v else { continue };
            for (&owner, &seen) in v.slots() {
                let real = counted(view, owner, which);
                if seen > real {
                    let what = ["increments", "decrements"][which];
                    return Err(Failure::new(
                        format!("{a} counts {seen} {what} of {owner}, which has counted {real}"),
                        vec![a, owner],
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The client history as updates with their fates.
fn updates(view: &View<'_, Gossip>) -> Vec<Done> {
    let clamp = |by: u64| i64::try_from(by).unwrap_or(i64::MAX);
    view.history()
        .ops()
        .iter()
        .filter_map(|o| {
            let update = match o.request {
                Request::Add(x) => Update::Add(x),
                Request::Remove(x) => Update::Remove(x),
                Request::Incr(by) => Update::Count(clamp(by)),
                Request::Decr(by) => Update::Count(-clamp(by)),
                Request::Write(x) => Update::Write(x),
                Request::Read => return None,
            };
            let fate = match &o.outcome {
                Outcome::Ok(Response::Refused) | Outcome::Fail(_) => Fate::Failed,
                Outcome::Ok(_) => Fate::Acked,
                Outcome::Pending | Outcome::Unknown => Fate::Unknown,
            };
            Some(Done {
                update,
                fate,
                call: o.invoked_at,
                ret: o.completed_at.filter(|_| fate != Fate::Unknown),
            })
        })
        .collect()
}

fn value_matches_acks(view: &View<'_, Gossip>, _: Option<&Trigger>) -> Result<(), Failure> {
    let mut up = view.nodes().filter(|&n| view.is_up(n));
    let Some(first) = up.next() else {
        return Ok(());
    };
    let Some(r) = view.node(first).map(Gossip::replica) else {
        return Ok(());
    };
    if let Some(n) = up.find(|&n| view.node(n).is_some_and(|g| g.replica() != r)) {
        return Err(Failure::new(
            format!("{first} and {n} do not agree yet"),
            vec![first, n],
        ));
    }
    let history = updates(view);
    let wrong = match r.read() {
        Response::Count(v) => {
            let (lo, hi) = counter_range(&history);
            (v < lo || v > hi).then(|| {
                format!("the counter is {v}; the acknowledged updates allow {lo} to {hi}")
            })
        }
        Response::Elements(xs) => {
            let (must, may) = set_range(&history);
            let missing = must.iter().find(|x| !xs.contains(x));
            let extra = xs.iter().find(|x| !may.contains(x));
            match (missing, extra) {
                (Some(x), _) => Some(format!(
                    "the set {xs:?} lacks {x}, added (acknowledged) after every remove of it had returned"
                )),
                (_, Some(x)) => Some(format!("the set {xs:?} holds {x}, which no add added")),
                _ => None,
            }
        }
        Response::Register(v) => (!register_allowed(&history, v))
            .then(|| format!("the register holds {v:?}, which no write wrote (or is empty after an acknowledged write)")),
        Response::Done | Response::Refused => None,
    };
    match wrong {
        Some(why) => Err(Failure::new(
            format!("the replicas agree, but {why}"),
            vec![first],
        )),
        None => Ok(()),
    }
}

pub(super) fn metrics() -> Vec<MetricDef<Gossip>> {
    vec![MetricDef {
        name: "gossip",
        description: "gossip messages and bytes sent, the rounds the last divergence took to close, whether the replicas agree at the end",
        make: |c: &Config| {
            Box::new(GossipMetrics {
                fanout: u64::from(c.fanout.max(1)),
                ..GossipMetrics::default()
            })
        },
    }]
}

#[derive(Default)]
struct GossipMetrics {
    fanout: u64,
    /// Per node: the incarnation and what it had sent when last seen.
    last: Vec<(u32, (u64, u64))>,
    messages: u64,
    bytes: u64,
    /// Client operations invoked so far, and messages sent when the last was invoked.
    ops: usize,
    last_op_at: u64,
    rounds: Option<u64>,
    agree: bool,
}

impl Metric<Gossip> for GossipMetrics {
    fn observe(&mut self, view: &View<'_, Gossip>) {
        let n = view.cluster_size() as usize;
        if self.last.len() != n {
            self.last = vec![(0, (0, 0)); n];
        }
        for node in touched(view) {
            let Some(g) = view.node(node) else { continue };
            let inc = view.incarnation(node);
            let (was_inc, (m0, b0)) = self.last[node.0 as usize];
            let (m, b) = g.sent();
            let (dm, db) = if was_inc == inc {
                (m.saturating_sub(m0), b.saturating_sub(b0))
            } else {
                (m, b)
            };
            self.messages += dm;
            self.bytes = self.bytes.saturating_add(db);
            self.last[node.0 as usize] = (inc, (m, b));
        }
        let up: Vec<&Gossip> = view
            .nodes()
            .filter_map(|x| view.node(x).filter(|_| view.is_up(x)))
            .collect();
        let ups = up.len() as u64;
        let agree = up.windows(2).all(|w| w[0].replica() == w[1].replica());
        let ops = view.history().ops().len();
        if ops != self.ops {
            self.ops = ops;
            self.last_op_at = self.messages;
            self.rounds = None;
        }
        if agree && !self.agree && self.rounds.is_none() {
            let since = self.messages - self.last_op_at;
            self.rounds = Some(since / (ups * self.fanout).max(1));
        }
        self.agree = agree;
    }

    fn report(&self) -> Vec<(String, serde_json::Value)> {
        vec![
            ("gossip.messages".into(), self.messages.into()),
            ("gossip.bytes".into(), self.bytes.into()),
            (
                "gossip.rounds_to_converge".into(),
                self.rounds.map_or(serde_json::Value::Null, Into::into),
            ),
            (
                "gossip.converged_at_end".into(),
                u64::from(self.agree).into(),
            ),
        ]
    }
}
