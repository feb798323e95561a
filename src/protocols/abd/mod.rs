//! ABD: one read/write register replicated on every node, linearizable while a majority of
//! the nodes is up and reachable, with no leader and no failover.
//!
//! Reference: Attiya, Bar-Noy and Dolev, "Sharing memory robustly in message-passing
//! systems", JACM 42(1), 1995; the multi-writer form follows Lynch and Shvartsman,
//! "Robust emulation of shared memory using dynamic quorum-acknowledged broadcasts", 1997.
//!
//! Every node holds a value with a *tag*: a counter, and the id of the client that wrote it
//! (its writer). A writer never uses one counter twice, so no two writes share a tag. The
//! nodes are passive: they answer what they hold, and keep a value sent to them if its tag is
//! higher than theirs, synced before they acknowledge it. The clients ([`client`]) do the
//! work, each operation in two phases, each a round trip to a quorum (a majority unless
//! `read_quorum` and `write_quorum` say otherwise):
//!
//! - **Query.** Ask every node what it holds; wait for R answers; keep the highest tag.
//! - **Store.** A write sends its value under a new tag (a counter above both the highest
//!   its query saw and the last it used itself, and its own id); a read sends back the value
//!   it is about to return, under the tag it had. When W nodes have acknowledged, the
//!   operation is done.
//!
//! When R + W > N, every query quorum shares a node with every store quorum (Gifford's
//! voting, 1979), so once an operation has finished, every later query sees its tag or a
//! higher one. With R + W ≤ N that fails, and so does linearizability
//! (`scenarios/abd/small-quorums.json`). The read's second phase is the subtle part: without it, a read can
//! return a value that only a minority holds (a write still in flight, or one whose client
//! gave up), and a later read that asks another majority returns the older value. The history
//! then goes back in time, and only the linearizability check of the client history sees it
//! (`scenarios/abd/far-writer.json` sets up exactly that race).
//!
//! Why the clients, and not a node, run the phases: with a node coordinating, a client that
//! times out retries at another node, and the first node may still finish the old attempt
//! much later, with a fresh, higher tag, writing an old value over newer ones. A client runs
//! one operation at a time and resends the same phase, so no attempt outlives its operation.
//!
//! Checks: `tag_never_goes_back` (the check library's durable monotonic counter over each
//! node's tag: what a node acknowledged was synced) and `one_value_per_tag` (no two nodes
//! hold different values under one tag), always on; the client history is checked against
//! the register model at the end of every run.
//!
//! Bug switches (`protocol.params.bugs`):
//! - `skip_read_write_back`: a read returns after its query phase. Caught by the end-of-run
//!   linearizability check (`linearizable`).
//! - `skip_sync`: a node acknowledges a value without syncing it, so a crash loses it. Caught
//!   by `tag_never_goes_back`.
//! - `writer_reuses_tag`: a writer takes the highest counter its query saw plus one, and
//!   forgets the counter it used last; after a write that gave up having stored its value on
//!   a minority, the next write can reuse that tag with another value. Caught by
//!   `one_value_per_tag`.
//! - `tag_without_writer`: tags are counters alone, as in single-writer ABD; two clients
//!   writing at once can pick the same counter, so one tag carries two values. Caught by
//!   `one_value_per_tag`.

mod checks;
pub mod client;
#[cfg(test)]
mod tests;

pub use client::AbdClient;

use crate::protocol::library::{Advances, Monotonic};
use crate::protocol::{
    ClientId, ConfigError, Ctx, HistoryCall, HistoryCheck, Knob, Linearizable, Liveness, MetricDef,
    ModelKind, NodeId, PropertyDef, Protocol, RequestId, Shown, Store, Time, Val, Vocabulary,
};
use serde::{Deserialize, Serialize};

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// Reads return after the query phase, without storing back what they return.
    pub skip_read_write_back: bool,
    /// Nodes acknowledge values without syncing them.
    pub skip_sync: bool,
    /// A writer's new counter is one above the highest its query saw, not also above the
    /// last one it used itself.
    pub writer_reuses_tag: bool,
    /// Tags carry no writer id (every write's writer is 0), as in the single-writer register:
    /// two writers that pick the same counter make the same tag.
    pub tag_without_writer: bool,
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
    /// Answers the query phase of a read or a write waits for (R); 0 means a majority.
    pub read_quorum: u32,
    /// Acknowledgements the store phase of a write, and a read's write-back, wait for (W); 0
    /// means a majority. Linearizable only when R + W > N: see docs/abd.md.
    pub write_quorum: u32,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            resend_ms: 40,
            writers: 0,
            read_quorum: 0,
            write_quorum: 0,
            bugs: Bugs::default(),
        }
    }
}

impl Config {
    /// The query phase's quorum size (R) in a cluster of `nodes`.
    pub fn read_quorum_of(&self, nodes: u32) -> u32 {
        match self.read_quorum {
            0 => crate::kit::quorum::majority(nodes),
            r => r,
        }
    }

    /// The store phase's quorum size (W) in a cluster of `nodes`.
    pub fn write_quorum_of(&self, nodes: u32) -> u32 {
        match self.write_quorum {
            0 => crate::kit::quorum::majority(nodes),
            w => w,
        }
    }
}

/// Orders the values a register has held: a counter, then the writer, which breaks ties
/// between writers that chose the same counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Tag {
    /// Above the highest counter the writer's query saw and above the last it used.
    pub counter: u64,
    /// The writing client, numbered as its name (`c3` is 3); the initial empty value has
    /// tag 0/0.
    pub writer: u64,
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

    /// Takes the new bug switches (the clients take theirs too); the other parameters stay
    /// as built.
    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.config.bugs = config.bugs.clone();
        Ok(())
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

    /// Each quorum size is 0 (a majority) or between 1 and the number of nodes. R + W ≤ N
    /// is accepted: it is how `abd/small-quorums` shows what the overlap is for.
    fn check_config(config: &Config, nodes: u32) -> Result<(), ConfigError> {
        for (field, size) in [
            ("read_quorum", config.read_quorum),
            ("write_quorum", config.write_quorum),
        ] {
            if size > nodes {
                return Err(ConfigError::new(
                    field,
                    format!(
                        "{size} nodes cannot answer in a cluster of {nodes}: give 1 to {nodes}, or 0 for a majority"
                    ),
                ));
            }
        }
        Ok(())
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

    /// The register replica: the tag (counter and writer) and the value it holds.
    fn show(&self, _: &Store<Tagged>, out: &mut Shown) {
        out.field("tag", &self.held.tag);
        out.field("value", &self.held.value);
    }

    fn vocabulary() -> Vocabulary {
        // No roles, no epochs: each node's tag counter is its progress.
        Vocabulary::none().progress(&["tag"]).serves_replies()
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
                checks::one_value_per_tag,
            )
            .always(),
            PropertyDef::monitor(
                "tag_advances",
                "after the heal a majority of nodes holds a tag above the highest any up node held at the heal: writes complete (use as `eventually`)",
                Advances::new("tag", |a: &Abd| a.held.tag),
            ),
        ]
    }

    fn metrics() -> Vec<MetricDef<Self>> {
        checks::metrics()
    }

    /// The clients' resend period, and whether one client writes and the others read or
    /// every client does both.
    fn knobs() -> Vec<Knob> {
        vec![
            Knob::between("resend_ms", 20, 80),
            Knob::one_of("writers", &[0.into(), 1.into()]),
        ]
    }

    /// After the heal a write completes on a majority within 25 resend periods (a client
    /// waiting out a timeout retries, then both phases go through a healed majority).
    fn liveness(c: &Config) -> Liveness {
        Liveness::default().within(
            "tag_advances",
            false,
            Time::from_ms(c.resend_ms.saturating_mul(25)),
            "25 × resend_ms",
        )
    }

    fn record_bytes(_: &Tagged) -> u64 {
        24
    }
}
