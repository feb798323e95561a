//! ABD: one read/write register replicated on every node, linearizable while a majority of
//! the nodes is up and reachable, with no leader and no failover.
//!
//! Reference: Attiya, Bar-Noy and Dolev, "Sharing memory robustly in message-passing
//! systems", JACM 42(1), 1995; the multi-writer form follows Lynch and Shvartsman,
//! "Robust emulation of shared memory using dynamic quorum-acknowledged broadcasts", 1997.
//!
//! This file is a protocol of one's own, written outside the crate against the protocol API
//! only (`faultline::protocol`), and its tests show the test harness (`faultline::harness`)
//! end to end. `cargo run --example abd` runs a short demo; `cargo test --example abd` runs
//! the tests (plain `cargo test` runs them too).
//!
//! Every node holds a value with a *tag*: a counter, and the id of the write that chose it,
//! so no two writes share a tag. The nodes are passive: they answer what they hold, and keep
//! a value sent to them if its tag is higher than theirs, synced before they acknowledge it.
//! The clients do the work, each operation in two phases, each a round trip to a majority:
//!
//! - **Query.** Ask every node what it holds; wait for a majority; keep the highest tag.
//! - **Store.** A write sends its value under a new tag (highest counter + 1, its own id); a
//!   read sends back the value it is about to return, under the tag it had. When a majority
//!   has acknowledged, the operation is done.
//!
//! Any two majorities share a node, so once an operation has finished, every later query sees
//! its tag or a higher one. The read's second phase is the subtle part: without it, a read can
//! return a value that only a minority holds (a write still in flight, or one whose client
//! gave up), and a later read that asks another majority returns the older value. The history
//! then goes back in time, and only the linearizability check of the client history sees it.
//!
//! Why the clients, and not a node, run the phases: with a node coordinating, a client that
//! times out retries at another node, and the first node may still finish the old attempt
//! much later, with a fresh, higher tag, writing an old value over newer ones. (A first
//! version of this file did just that; the harness found it at seed 1.) A client runs one
//! operation at a time and resends the same phase, so no attempt outlives its operation.
//!
//! Bug switches (`protocol.params.bugs`):
//! - `skip_read_write_back`: a read returns after its query phase. Caught by the end-of-run
//!   linearizability check (`linearizable`).
//! - `skip_sync`: a node acknowledges a value without syncing it, so a crash loses it. Caught
//!   by `tag_never_goes_back`, the check library's durable monotonic counter over the tag.

use faultline::protocol::library::{Monotonic, touched};
use faultline::protocol::{
    ClientCtx, ClientId, ClientLogic, Ctx, Failure, HistoryCall, HistoryCheck, Linearizable,
    ModelKind, NodeId, OpId, Outcome, PropertyDef, Protocol, RequestId, Time, Trigger, Val, View,
    WorkloadConfig,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// Reads return after the query phase, without storing back what they return.
    pub skip_read_write_back: bool,
    /// Nodes acknowledge values without syncing them.
    pub skip_sync: bool,
}

/// ABD parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// A client sends a phase's request again, to the nodes that have not answered, after
    /// this long, milliseconds.
    pub resend_ms: u64,
    /// Workload: the first `writers` clients only write and the others only read; with 0,
    /// every client reads and writes, half and half.
    pub writers: u32,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            resend_ms: 40,
            writers: 0,
            bugs: Bugs::default(),
        }
    }
}

/// Orders the values a register has held: a counter, then the id of the write that chose it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Tag {
    /// One more than the highest counter the writer's query saw.
    pub counter: u64,
    /// The request id of the write (the initial empty value has tag 0/0).
    pub writer: u64,
}

/// `counter/writer`, as messages show a tag.
impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.counter, self.writer)
    }
}

/// A value under its tag; `None` is the initial empty register.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Tagged {
    /// The tag.
    pub tag: Tag,
    /// The value.
    pub value: Option<i64>,
}

/// What clients ask. `Read` and `Write` are the operations a client invokes (what the
/// history records); `Query` and `Store` are what it sends to the nodes to carry them out.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Operation: read the register.
    Read,
    /// Operation: write a value.
    Write(i64),
    /// Query phase: "what do you hold?"
    Query,
    /// Store phase: "keep this if its tag is higher than yours".
    Store(Tagged),
}

/// What comes back. `Value` and `Written` end operations; nodes answer with the others.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// A read returned this.
    Value(Option<i64>),
    /// A write took effect.
    Written,
    /// A node holds this.
    Holding(Tagged),
    /// A node holds this tag or a higher one, durably.
    Stored(Tag),
}

/// One ABD node: a replica of the register.
#[derive(Clone, Debug)]
pub struct Abd {
    config: Config,
    held: Tagged,
}

impl Abd {
    /// What this node holds.
    pub fn held(&self) -> &Tagged {
        &self.held
    }
}

impl Protocol for Abd {
    const NAME: &'static str = "abd";
    type Config = Config;
    type Msg = ();
    type Timer = ();
    type Request = Request;
    type Response = Response;
    type Record = Tagged;
    type Client = AbdClient;

    fn new(_: NodeId, _: u32, config: &Config) -> Self {
        Abd {
            config: config.clone(),
            held: Tagged::default(),
        }
    }

    fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.held = ctx.store().cell("register").cloned().unwrap_or_default();
    }

    // Nodes never talk to each other, and set no timers.
    fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ()) {}

    fn on_request(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        client: ClientId,
        id: RequestId,
        request: Request,
    ) {
        match request {
            Request::Query => ctx.reply(client, id, Response::Holding(self.held.clone())),
            Request::Store(put) => {
                if put.tag > self.held.tag {
                    // Durable before the acknowledgement can leave.
                    ctx.write_cell("register", put.clone());
                    if !self.config.bugs.skip_sync {
                        ctx.sync();
                    }
                    ctx.annotate("tag", put.tag.counter);
                    self.held = put.clone();
                }
                ctx.reply(client, id, Response::Stored(put.tag));
            }
            Request::Read | Request::Write(_) => {} // operations, not messages
        }
    }

    fn history_check() -> Option<Box<dyn HistoryCheck>> {
        Some(Box::new(Linearizable(ModelKind::Register)))
    }

    fn history_call(request: &Request) -> Option<HistoryCall> {
        let (f, value) = match request {
            Request::Read => ("read", Val::Nil),
            Request::Write(v) => ("write", Val::Int(*v)),
            Request::Query | Request::Store(_) => return None,
        };
        Some(HistoryCall {
            f,
            key: None,
            value,
        })
    }

    fn history_value(response: &Response) -> Val {
        match response {
            Response::Value(Some(v)) => Val::Int(*v),
            _ => Val::Nil,
        }
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        vec![
            PropertyDef::monitor(
                "tag_never_goes_back",
                "a node never holds an older tag than it held before, across restarts too (what it acknowledged was synced)",
                Monotonic::durable("tag", |a: &Abd| a.held.tag),
            )
            .always(),
            PropertyDef::invariant(
                "one_value_per_tag",
                "no two nodes hold different values under the same tag",
                one_value_per_tag,
            )
            .always(),
        ]
    }

    fn record_bytes(_: &Tagged) -> u64 {
        24
    }
}

const TIMER_THINK: u64 = 0;
const TIMER_RESEND: u64 = 1;
const TIMER_GIVE_UP: u64 = 2;

/// The operation a client is carrying out.
#[derive(Clone, Debug)]
struct Current {
    op: OpId,
    id: RequestId,
    request: Request,
    /// `None` in the query phase; the value being stored in the store phase.
    storing: Option<Tagged>,
    /// The nodes that answered the current phase.
    answered: BTreeSet<NodeId>,
    /// The newest value the query phase has seen.
    newest: Tagged,
}

/// A client: one operation at a time, reads or writes of unique values (see
/// [`Config::writers`]), with think time in between. It gives up on an operation (outcome unknown) after
/// `workload.timeout_ms` × (`retries` + 1).
#[derive(Clone, Debug)]
pub struct AbdClient {
    id: ClientId,
    nodes: u32,
    workload: WorkloadConfig,
    config: Config,
    issued: u64,
    current: Option<Current>,
}

impl AbdClient {
    fn think(&mut self, ctx: &mut ClientCtx<'_, Abd>) {
        let w = &self.workload;
        let ms = ctx.rng().between(w.think_ms_min, w.think_ms_max);
        ctx.set_timer(TIMER_THINK, Time::from_ms(ms));
    }

    /// Sends the current phase's request to every node that has not answered it.
    fn send_phase(&self, ctx: &mut ClientCtx<'_, Abd>) {
        let Some(cur) = &self.current else { return };
        let request = match &cur.storing {
            None => Request::Query,
            Some(put) => Request::Store(put.clone()),
        };
        for n in (0..self.nodes).map(NodeId) {
            if !cur.answered.contains(&n) {
                ctx.send(n, cur.id, request.clone());
            }
        }
        ctx.set_timer(TIMER_RESEND, Time::from_ms(self.config.resend_ms.max(1)));
    }

    fn store_phase(&mut self, ctx: &mut ClientCtx<'_, Abd>, put: Tagged) {
        if let Some(cur) = &mut self.current {
            cur.storing = Some(put);
            cur.answered.clear();
        }
        self.send_phase(ctx);
    }

    /// Moves the operation on once a majority has answered its current phase.
    fn advance(&mut self, ctx: &mut ClientCtx<'_, Abd>) {
        let Some(cur) = &self.current else { return };
        if cur.answered.len() <= self.nodes as usize / 2 {
            return;
        }
        match (&cur.storing, &cur.request) {
            (None, Request::Write(v)) => {
                let tag = Tag {
                    counter: cur.newest.tag.counter + 1,
                    writer: cur.id.0,
                };
                let put = Tagged {
                    tag,
                    value: Some(*v),
                };
                self.store_phase(ctx, put);
            }
            (None, _) if self.config.bugs.skip_read_write_back => {
                let value = cur.newest.value;
                self.finish(ctx, Outcome::Ok(Response::Value(value)));
            }
            (None, _) => {
                let put = cur.newest.clone();
                self.store_phase(ctx, put);
            }
            (Some(_), Request::Write(_)) => self.finish(ctx, Outcome::Ok(Response::Written)),
            (Some(put), _) => {
                let value = put.value;
                self.finish(ctx, Outcome::Ok(Response::Value(value)));
            }
        }
    }

    fn finish(&mut self, ctx: &mut ClientCtx<'_, Abd>, outcome: Outcome<Response>) {
        if let Some(cur) = self.current.take() {
            ctx.cancel_timer(TIMER_RESEND);
            ctx.cancel_timer(TIMER_GIVE_UP);
            ctx.complete(cur.op, outcome);
            self.think(ctx);
        }
    }

    fn may_issue(&self, now: Time) -> bool {
        let w = &self.workload;
        (w.ops_per_client_max == 0 || self.issued < w.ops_per_client_max)
            && (w.stop_ms == 0 || now < Time::from_ms(w.stop_ms))
    }
}

impl ClientLogic<Abd> for AbdClient {
    fn new(id: ClientId, nodes: u32, workload: &WorkloadConfig, config: &Config) -> Self {
        AbdClient {
            id,
            nodes,
            workload: workload.clone(),
            config: config.clone(),
            issued: 0,
            current: None,
        }
    }

    fn on_start(&mut self, ctx: &mut ClientCtx<'_, Abd>) {
        self.think(ctx);
    }

    fn on_response(
        &mut self,
        ctx: &mut ClientCtx<'_, Abd>,
        from: NodeId,
        id: RequestId,
        response: Response,
    ) {
        let Some(cur) = &mut self.current else { return };
        if cur.id != id {
            return; // a late answer about an operation already finished or given up
        }
        match (&cur.storing, response) {
            (None, Response::Holding(held)) => {
                cur.answered.insert(from);
                if held.tag > cur.newest.tag {
                    cur.newest = held;
                }
            }
            (Some(put), Response::Stored(tag)) if put.tag == tag => {
                cur.answered.insert(from);
            }
            _ => return, // a late or duplicated answer from the other phase
        }
        self.advance(ctx);
    }

    fn on_timer(&mut self, ctx: &mut ClientCtx<'_, Abd>, timer: u64) {
        match timer {
            TIMER_THINK => {
                if self.current.is_some() || !self.may_issue(ctx.now()) {
                    return;
                }
                let writes = match self.config.writers {
                    0 => ctx.rng().below(2) == 0,
                    w => self.id.0 < w,
                };
                let request = if !writes {
                    Request::Read
                } else {
                    // Unique values: the client's index above, its count below.
                    Request::Write(i64::from(self.id.0) * 1_000_000 + self.issued as i64)
                };
                let op = ctx.invoke(request.clone());
                // Unique request ids, in the layout `RequestId::serial` documents.
                let id = RequestId((u64::from(self.id.0) << 40) | self.issued);
                self.issued += 1;
                self.current = Some(Current {
                    op,
                    id,
                    request,
                    storing: None,
                    answered: BTreeSet::new(),
                    newest: Tagged::default(),
                });
                let w = &self.workload;
                let give_up = w.timeout_ms.saturating_mul(u64::from(w.retries) + 1);
                ctx.set_timer(TIMER_GIVE_UP, Time::from_ms(give_up));
                self.send_phase(ctx);
            }
            TIMER_RESEND => self.send_phase(ctx),
            TIMER_GIVE_UP => self.finish(ctx, Outcome::Unknown),
            _ => {}
        }
    }
}

/// No two nodes hold different values under the same tag: the node a step touched is
/// compared with every other.
fn one_value_per_tag(view: &View<'_, Abd>, _: Option<&Trigger>) -> Result<(), Failure> {
    for a in touched(view) {
        let Some(x) = view.node(a).map(Abd::held) else {
            continue;
        };
        for b in view.nodes().filter(|&b| b != a) {
            if let Some(y) = view.node(b).map(Abd::held) {
                if x.tag == y.tag && x.value != y.value {
                    return Err(Failure::new(
                        format!(
                            "{a} holds {:?} and {b} holds {:?} under the same tag {}",
                            x.value, y.value, x.tag
                        ),
                        vec![a, b],
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Five nodes over a lossy network. One client writes, from far away: it is close to n1
/// only, so each value it writes reaches n1 tens of milliseconds before the other nodes. Three
/// clients nearby read. For 4 s a random nemesis crashes nodes and cuts links (never more
/// than two nodes down at once); then everything heals and the clients must get their
/// operations through. (`protocol.params.writers=0` makes every client read and write.)
pub const SCENARIO: &str = r#"{
  "schema": 1,
  "description": "ABD on five lossy nodes: one far writer, three readers, crashes and partitions for 4 s, then a heal",
  "protocol": {"name": "abd", "params": {"writers": 1}},
  "nodes": 5,
  "network": {
    "preset": "lossy",
    "links": [
      {"from": "c1", "to": "n2", "both_ways": true, "latency": {"uniform": {"min_us": 40000, "max_us": 120000}}},
      {"from": "c1", "to": "n3", "both_ways": true, "latency": {"uniform": {"min_us": 40000, "max_us": 120000}}},
      {"from": "c1", "to": "n4", "both_ways": true, "latency": {"uniform": {"min_us": 40000, "max_us": 120000}}},
      {"from": "c1", "to": "n5", "both_ways": true, "latency": {"uniform": {"min_us": 40000, "max_us": 120000}}}
    ]
  },
  "workload": {"clients": 4, "think_ms_min": 0, "think_ms_max": 20, "timeout_ms": 300, "retries": 3},
  "nemesis": {
    "until_ms": 4000,
    "crash": {"interval_ms_mean": 700, "down_ms_min": 50, "down_ms_max": 600},
    "partition": {"interval_ms_mean": 900, "duration_ms_min": 100, "duration_ms_max": 700}
  },
  "limits": {"time_ms": 6000},
  "liveness_budget_ms": 1500,
  "expect": [{"check": "client_ops_ok", "kind": "eventually", "at_least": 50}]
}"#;

fn main() {
    use faultline::harness::{Harness, Knobs};
    let only = Knobs::default(); // this demo ignores FAULTLINE_SEEDS and friends
    let passed = Harness::<Abd>::new("abd_demo")
        .scenario(SCENARIO)
        .seeds(20)
        .knobs(only.clone())
        .check();
    println!("ABD passed {} seeds", passed.seeds.len());
    for bug in ["skip_read_write_back", "skip_sync"] {
        let outcome = Harness::<Abd>::new(&format!("abd_demo_{bug}"))
            .scenario(SCENARIO)
            .set(&format!("protocol.params.bugs.{bug}=true"))
            .seeds(200)
            .knobs(only.clone())
            .run();
        match outcome {
            Ok(passed) => println!("{bug}: not caught in {} seeds", passed.seeds.len()),
            Err(failure) => println!("{bug}:\n  {failure}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline::harness::{FailureKind, Harness, Knobs};

    #[test]
    fn abd_is_linearizable() {
        Harness::<Abd>::new("abd_is_linearizable")
            .scenario(SCENARIO) // JSON, as in scenarios/*.json
            .regression_seeds([7]) // seeds that once failed run first
            .seeds(100) // then seeds 1..=100 (FAULTLINE_SEEDS=N changes the count)
            .check(); // panics with one line at the first seed that fails
    }

    #[test]
    fn abd_without_read_write_back_is_caught() {
        let failure = Harness::<Abd>::new("abd_without_read_write_back_is_caught")
            .scenario(SCENARIO)
            .set("protocol.params.bugs.skip_read_write_back=true")
            .knobs(Knobs::default()) // ignore FAULTLINE_SEED and friends: a claim about seed 1
            .run() // returns the failure instead of panicking
            .expect_err("the linearizability check catches it");
        let FailureKind::Check(finding) = &failure.kind else {
            panic!("{failure}")
        };
        assert_eq!(finding.check, "linearizable");
        assert_eq!(failure.seed, Some(1));
        assert!(failure.line.starts_with(
            "faultline: abd_without_read_write_back_is_caught failed check linearizable (safety) at seed 1, t=6.000000s: \
             the client history is not linearizable (register model): "
        ));
        assert!(failure.line.contains(
            " | replay: FAULTLINE_SEED=1 cargo test abd_without_read_write_back_is_caught | trace: "
        ));
        // The failing seed's trace, complete, under target/faultline/.
        let trace = std::fs::read_to_string(&failure.traces[0]).unwrap();
        assert!(trace.starts_with("{\"ev\":\"header\""));
        assert!(trace.trim_end().ends_with("\"ev\":\"summary\"}"));
    }

    #[test]
    fn abd_is_linearizable_with_every_client_writing() {
        Harness::<Abd>::new("abd_is_linearizable_with_every_client_writing")
            .scenario(SCENARIO)
            .set("protocol.params.writers=0") // any field, as with `faultline run --set`
            .seeds(100)
            .check();
    }

    #[test]
    fn abd_without_sync_is_caught() {
        let failure = Harness::<Abd>::new("abd_without_sync_is_caught")
            .scenario(SCENARIO)
            .set("protocol.params.bugs.skip_sync=true")
            .knobs(Knobs::default())
            .run()
            .expect_err("tag_never_goes_back catches it");
        assert!(
            failure
                .line
                .contains(" failed check tag_never_goes_back (safety) at seed 1, "),
            "{failure}"
        );
    }
}
