//! Gossip of a state-based CRDT: every node holds one replica of a data type (a grow-only
//! set, a G-Counter, a PN-Counter, an OR-Set or an LWW-Register: `data_type`), clients
//! update and read it at any node, which answers from its own replica at once, and nodes
//! spread their **whole state** to random peers every `gossip_ms`, merging what they receive.
//! These are the "broadcast" (a grow-only set: every value given to any node reaches every
//! node) and "counter" exercises of distributed-systems courses, on the kit's CRDTs
//! ([`crate::kit::crdt`]).
//!
//! Reference: Shapiro, Preguiça, Baquero and Zawirski, "Conflict-free Replicated Data
//! Types" (SSS 2011) and the technical report RR-7506 (2011), on which the kit's types are
//! built; Demers et al., "Epidemic algorithms for replicated database maintenance" (PODC
//! 1987), for anti-entropy by periodic gossip. docs/crdt.md goes from the papers to the code.
//!
//! - **Updates are local.** A node applies a client's update to its replica, syncs it (with
//!   the table of the last request of each client, so a duplicated request is applied once)
//!   and acknowledges. There is no coordination: any node takes any update, during a
//!   partition too. A client never retries an update at another node (an increment applied
//!   twice counts twice): an update whose answer is lost ends unknown.
//! - **Anti-entropy.** Every `gossip_ms` a node sends its whole replica to `fanout` peers
//!   drawn at random (full state, not deltas: simpler, idempotent, and a lost message is
//!   repaired by the next one; it costs the state's size per message). A receiver merges:
//!   the merge is commutative, associative and idempotent, so loss, duplication, reordering
//!   and partitions only delay convergence. Once the faults stop and the clients fall
//!   quiet, every replica ends in the same state within a few rounds.
//!
//! Checks: `never_overcounts` (always; counters: no node's view of a slot is above what the
//! slot's owner counted), `replicas_converge` (eventually, the check library's convergence)
//! and `value_matches_acks` (eventually: the replicas agree, and their value is what the
//! acknowledged updates allow, [`crate::kit::crdt::expect`]: a counter between the
//! acknowledged sum and everything that may have taken effect, a set holding every
//! acknowledged add no remove observed and nothing nobody added, a register holding a
//! written value). The client history is judged by [`crate::protocol::Eventual`]: reads show
//! nothing no update invoked before them could have made (eventual consistency, not
//! linearizability).
//!
//! Bug switches (`protocol.params.bugs`), each from the literature on CRDTs:
//! - `merge_adds`: the G-Counter (and PN-Counter) merge adds slots instead of taking the
//!   maximum: not idempotent, so a repeated or duplicated gossip counts increments twice.
//!   Shapiro et al. require the merge to be a least upper bound; this is the classic wrong
//!   first attempt at the counter exercise. Caught by `never_overcounts`.
//! - `remove_wins`: an OR-Set remove tombstones the element for good (a 2P-Set's semantics),
//!   so an add concurrent with it, or after it, is lost. Shapiro et al. (RR-7506, §3.3.5)
//!   contrast the 2P-Set, where a removed element never comes back, with the OR-Set, where
//!   an unobserved add wins. Caught by `value_matches_acks`.
//! - `lww_no_tiebreak`: the LWW-Register compares timestamps only and keeps its own value on
//!   a tie. Two writes in the same clock tick on two nodes then stay apart forever; the
//!   specification orders equal timestamps by replica id. Caught by `replicas_converge`.
//! - `pn_one_vector`: the PN-Counter keeps decrements in the increments' vector, taking them
//!   off the own slot; the merge's maximum brings the old slot back, and decrements vanish.
//!   Why a PN-Counter needs two G-Counters (Shapiro et al., specification 7). Caught by
//!   `never_overcounts` (a node's slot goes below what others saw) or `value_matches_acks`.
//! - `gossip_once`: no periodic anti-entropy; a node pushes its state to every peer once,
//!   when it takes an update. A lost push is repaired only by a later update's push, and
//!   after the last one never (the gap Demers et al.'s anti-entropy closes, which "rumor
//!   mongering" alone leaves). Caught by `replicas_converge`.

mod checks;
#[cfg(test)]
mod tests;

use crate::kit::crdt::{Crdt, GCounter, GSet, LwwRegister, OrSet, PnCounter};
use crate::protocol::{
    ClientCtx, ClientId, ClientLogic, ClientVerdict, ConfigError, Ctx, Driver, Eventual, Generator,
    HistoryCall, HistoryCheck, Knob, Liveness, MetricDef, NodeId, PropertyDef, Protocol, RequestId,
    Shown, Store, Time, Val, Vocabulary, WorkloadConfig,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which CRDT the nodes replicate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    /// A grow-only set of integers: the broadcast exercise.
    GSet,
    /// A grow-only counter: the counter exercise.
    #[default]
    GCounter,
    /// A counter with increments and decrements.
    PnCounter,
    /// An observed-remove (add-wins) set of integers.
    OrSet,
    /// A last-writer-wins register of an integer.
    Lww,
}

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// Counter merges add slots instead of taking the maximum.
    pub merge_adds: bool,
    /// An OR-Set remove tombstones the element for good (remove wins).
    pub remove_wins: bool,
    /// LWW merges compare timestamps only; a tie keeps the own value.
    pub lww_no_tiebreak: bool,
    /// A PN-Counter takes decrements off its increments' own slot.
    pub pn_one_vector: bool,
    /// No periodic gossip: each update is pushed once to every peer.
    pub gossip_once: bool,
}

/// Parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The data type every node replicates.
    pub data_type: DataType,
    /// A node gossips its state each this many milliseconds (1 to 10,000).
    pub gossip_ms: u64,
    /// To this many peers drawn at random each time (1 to 16).
    pub fanout: u32,
    /// Sets: clients add and remove elements `0..elements` (1 to 1,000; the grow-only set
    /// adds unique values instead).
    pub elements: u32,
    /// LWW timestamps are the node's clock in units of this many milliseconds (1 to 10,000):
    /// a coarse clock makes equal timestamps, which the node id must order.
    pub clock_ms: u64,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_type: DataType::GCounter,
            gossip_ms: 40,
            fanout: 1,
            elements: 8,
            clock_ms: 1,
            bugs: Bugs::default(),
        }
    }
}

/// One replica of whichever data type the run uses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Replica {
    /// A grow-only set.
    GSet(GSet<i64>),
    /// A G-Counter.
    GCounter(GCounter),
    /// A PN-Counter.
    PnCounter(PnCounter),
    /// An OR-Set.
    OrSet(OrSet<i64>),
    /// An LWW-Register.
    Lww(LwwRegister<i64>),
}

impl Replica {
    fn new(config: &Config) -> Replica {
        match config.data_type {
            DataType::GSet => Replica::GSet(GSet::new()),
            DataType::GCounter => Replica::GCounter(GCounter::new()),
            DataType::PnCounter => Replica::PnCounter(PnCounter::new()),
            DataType::OrSet => Replica::OrSet(OrSet::new()),
            DataType::Lww => Replica::Lww(LwwRegister::new(config.bugs.lww_no_tiebreak)),
        }
    }

    /// Merges `other` in (the wrong counter merge with `merge_adds`); a replica of another
    /// type is ignored.
    fn merge(&mut self, other: &Replica, merge_adds: bool) {
        match (self, other) {
            (Replica::GSet(a), Replica::GSet(b)) => a.merge(b),
            (Replica::GCounter(a), Replica::GCounter(b)) if merge_adds => a.merge_adding(b),
            (Replica::GCounter(a), Replica::GCounter(b)) => a.merge(b),
            (Replica::PnCounter(a), Replica::PnCounter(b)) if merge_adds => {
                a.p.merge_adding(&b.p);
                a.n.merge_adding(&b.n);
            }
            (Replica::PnCounter(a), Replica::PnCounter(b)) => a.merge(b),
            (Replica::OrSet(a), Replica::OrSet(b)) => a.merge(b),
            (Replica::Lww(a), Replica::Lww(b)) => a.merge(b),
            _ => {}
        }
    }

    /// What a read returns.
    pub fn read(&self) -> Response {
        match self {
            Replica::GSet(s) => Response::Elements(s.elements().copied().collect()),
            Replica::OrSet(s) => Response::Elements(s.elements().copied().collect()),
            Replica::GCounter(c) => Response::Count(i64::try_from(c.value()).unwrap_or(i64::MAX)),
            Replica::PnCounter(c) => Response::Count(c.value()),
            Replica::Lww(r) => Response::Register(r.value().copied()),
        }
    }

    fn size_bytes(&self) -> u64 {
        match self {
            Replica::GSet(s) => s.size_bytes(),
            Replica::GCounter(c) => c.size_bytes(),
            Replica::PnCounter(c) => c.size_bytes(),
            Replica::OrSet(s) => s.size_bytes(),
            Replica::Lww(r) => r.size_bytes(),
        }
    }
}

/// What clients ask.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Add an element (sets).
    Add(i64),
    /// Remove an element (the OR-Set).
    Remove(i64),
    /// Add to the counter.
    Incr(u64),
    /// Take from the counter (the PN-Counter).
    Decr(u64),
    /// Write the register.
    Write(i64),
    /// Read the node's replica.
    Read,
}

/// What nodes answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// The update took effect here.
    Done,
    /// The update does not fit this data type.
    Refused,
    /// A counter's value.
    Count(i64),
    /// A set's elements, in order.
    Elements(Vec<i64>),
    /// A register's value.
    Register(Option<i64>),
}

/// What a node keeps durable: its replica and the last request of each client it applied.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Saved {
    /// The replica.
    pub replica: Replica,
    /// The highest request serial applied per client.
    pub last: BTreeMap<ClientId, u64>,
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Send the state to random peers.
    Gossip,
}

/// One node: a replica of the data type.
#[derive(Clone, Debug)]
pub struct Gossip {
    id: NodeId,
    config: Config,
    replica: Replica,
    last: BTreeMap<ClientId, u64>,
    /// Client updates this incarnation applied (annotated `updates`).
    applied: u64,
    /// Gossip messages and bytes this incarnation sent (for the metrics).
    sent: (u64, u64),
}

impl Gossip {
    fn push(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId) {
        self.sent.0 += 1;
        self.sent.1 = self.sent.1.saturating_add(self.replica.size_bytes());
        ctx.send(to, self.replica.clone());
    }

    /// Applies a client's update; false if it does not fit the data type.
    fn apply(&mut self, ctx: &mut Ctx<'_, Self>, request: &Request) -> bool {
        let (me, bugs) = (self.id, &self.config.bugs);
        match (&mut self.replica, request) {
            (Replica::GSet(s), Request::Add(x)) => s.add(*x),
            (Replica::OrSet(s), Request::Add(x)) => {
                s.add(me, *x);
            }
            (Replica::OrSet(s), Request::Remove(x)) => s.remove(x, bugs.remove_wins),
            (Replica::GCounter(c), Request::Incr(by)) => c.increment(me, *by),
            (Replica::PnCounter(c), Request::Incr(by)) => c.increment(me, *by),
            (Replica::PnCounter(c), Request::Decr(by)) => c.decrement(me, *by, bugs.pn_one_vector),
            (Replica::Lww(r), Request::Write(x)) => {
                let clock = ctx.now().as_ms() / self.config.clock_ms.max(1);
                r.set(me, clock, *x);
            }
            _ => return false,
        }
        true
    }
}

impl Protocol for Gossip {
    const NAME: &'static str = "gossip";
    type Config = Config;
    type Msg = Replica;
    type Timer = Timer;
    type Request = Request;
    type Response = Response;
    type Record = Saved;
    type Client = GossipClient;

    fn new(id: NodeId, _: u32, config: &Config) -> Self {
        Gossip {
            id,
            config: config.clone(),
            replica: Replica::new(config),
            last: BTreeMap::new(),
            applied: 0,
            sent: (0, 0),
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.config.bugs.gossip_once {
            ctx.set_timer(Timer::Gossip, Time::from_ms(self.config.gossip_ms.max(1)));
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Some(saved) = ctx.store().cell("state") {
            self.replica = saved.replica.clone();
            self.last = saved.last.clone();
        }
        self.on_start(ctx);
    }

    fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, theirs: Replica) {
        // Merged state is not synced: a restarted node gets it back from the next gossip.
        self.replica.merge(&theirs, self.config.bugs.merge_adds);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _: Timer) {
        let peers = u64::from(ctx.cluster_size()).saturating_sub(1);
        if peers > 0 {
            for _ in 0..self.config.fanout.max(1) {
                let mut to = NodeId(ctx.rng().below(peers) as u32);
                if to >= self.id {
                    to = NodeId(to.0 + 1);
                }
                self.push(ctx, to);
            }
        }
        ctx.set_timer(Timer::Gossip, Time::from_ms(self.config.gossip_ms.max(1)));
    }

    fn on_request(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        client: ClientId,
        id: RequestId,
        request: Request,
    ) {
        if self.last.get(&client).is_some_and(|&s| id.serial() <= s) {
            return; // a duplicate, or an operation the client has given up on
        }
        self.last.insert(client, id.serial());
        if request == Request::Read {
            ctx.reply(client, id, self.replica.read());
            return;
        }
        if !self.apply(ctx, &request) {
            ctx.reply(client, id, Response::Refused);
            return;
        }
        // Durable before the acknowledgement and before any gossip carries it.
        let saved = Saved {
            replica: self.replica.clone(),
            last: self.last.clone(),
        };
        ctx.write_cell("state", saved);
        ctx.sync();
        self.applied += 1;
        ctx.annotate("updates", self.applied);
        ctx.reply(client, id, Response::Done);
        if self.config.bugs.gossip_once {
            let peers: Vec<NodeId> = ctx.peers().collect();
            for p in peers {
                self.push(ctx, p);
            }
        }
    }

    fn check_config(config: &Config, _: u32) -> Result<(), ConfigError> {
        let bounds: [(&str, u64, u64, u64); 4] = [
            ("gossip_ms", config.gossip_ms, 1, 10_000),
            ("fanout", u64::from(config.fanout), 1, 16),
            ("elements", u64::from(config.elements), 1, 1_000),
            ("clock_ms", config.clock_ms, 1, 10_000),
        ];
        for (field, v, lo, hi) in bounds {
            if v < lo || v > hi {
                return Err(ConfigError::new(
                    field,
                    format!("{v} is outside {lo} to {hi}"),
                ));
            }
        }
        Ok(())
    }

    fn history_check() -> Option<Box<dyn HistoryCheck>> {
        Some(Box::new(Eventual))
    }

    fn history_call(request: &Request) -> Option<HistoryCall> {
        let clamp = |by: u64| i64::try_from(by).unwrap_or(i64::MAX);
        let (f, value) = match request {
            Request::Add(x) => ("add", Val::Int(*x)),
            Request::Remove(x) => ("remove", Val::Int(*x)),
            Request::Incr(by) => ("incr", Val::Int(clamp(*by))),
            Request::Decr(by) => ("incr", Val::Int(-clamp(*by))),
            Request::Write(x) => ("write", Val::Int(*x)),
            Request::Read => ("read", Val::Nil),
        };
        Some(HistoryCall {
            f,
            key: None,
            value,
        })
    }

    fn history_value(response: &Response) -> Val {
        match response {
            Response::Count(v) => Val::Int(*v),
            Response::Elements(xs) => Val::List(xs.iter().map(|&x| Val::Int(x)).collect()),
            Response::Register(Some(v)) => Val::Int(*v),
            Response::Register(None) | Response::Done | Response::Refused => Val::Nil,
        }
    }

    /// The replica as a student reads it: its value, and the CRDT's state (slots, dots and
    /// causal context, or timestamp and writer).
    fn show(&self, _: &Store<Saved>, out: &mut Shown) {
        out.field("value", &self.replica.read());
        out.field("state", &self.replica);
        out.field("last_request", &self.last);
    }

    fn vocabulary() -> Vocabulary {
        // No roles, no epochs: the updates a node has taken are its progress.
        Vocabulary::none().progress(&["updates"]).serves_replies()
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        checks::properties()
    }

    fn metrics() -> Vec<MetricDef<Self>> {
        checks::metrics()
    }

    /// The data type, the gossip period and fanout, and the LWW clock's tick.
    fn knobs() -> Vec<Knob> {
        vec![
            Knob::one_of(
                "data_type",
                &[
                    "g_set".into(),
                    "g_counter".into(),
                    "pn_counter".into(),
                    "or_set".into(),
                    "lww".into(),
                ],
            ),
            Knob::between("gossip_ms", 20, 60),
            Knob::between("fanout", 1, 2),
            Knob::one_of("clock_ms", &[1.into(), 100.into(), 1000.into()]),
        ]
    }

    /// After the heal the replicas agree, on a value the acknowledged updates allow, within
    /// 40 gossip periods (a random peer per period reaches everyone in a few; the rest is
    /// margin for loss and restarts).
    fn liveness(c: &Config) -> Liveness {
        let budget = Time::from_ms(40 * c.gossip_ms.clamp(1, 10_000));
        Liveness::default()
            .within("replicas_converge", false, budget, "40 × gossip_ms")
            .within("value_matches_acks", false, budget, "40 × gossip_ms")
    }

    fn record_bytes(saved: &Saved) -> u64 {
        saved.replica.size_bytes() + 16 * saved.last.len() as u64
    }
}

/// The workload: updates that fit the data type, and reads, at a random node each.
#[derive(Clone, Debug, Hash)]
pub struct Updates {
    client: ClientId,
    data_type: DataType,
    elements: u32,
    made: u64,
}

impl Generator<Gossip> for Updates {
    fn new(client: ClientId, config: &Config) -> Self {
        Updates {
            client,
            data_type: config.data_type,
            elements: config.elements.max(1),
            made: 0,
        }
    }

    fn next_request(&mut self, ctx: &mut ClientCtx<'_, Gossip>) -> Request {
        self.made += 1;
        let unique = i64::from(self.client.0) * 1_000_000 + self.made as i64;
        let rng = ctx.rng();
        if rng.below(3) == 0 {
            return Request::Read;
        }
        let element = rng.below(u64::from(self.elements)) as i64;
        let by = rng.between(1, 3);
        let heads = rng.below(2) == 0;
        match (self.data_type, heads) {
            (DataType::GSet, _) => Request::Add(unique),
            (DataType::GCounter, _) | (DataType::PnCounter, true) => Request::Incr(by),
            (DataType::PnCounter, false) => Request::Decr(by),
            (DataType::OrSet, true) => Request::Add(element),
            (DataType::OrSet, false) => Request::Remove(element),
            (DataType::Lww, _) => Request::Write(unique),
        }
    }

    fn classify(&mut self, _: &Request, response: &Response) -> ClientVerdict {
        match response {
            Response::Refused => ClientVerdict::Fail,
            _ => ClientVerdict::Ok,
        }
    }

    /// A random node for each operation: reads see whichever replica they reach.
    fn sticky(&self) -> bool {
        false
    }
}

/// The kit's closed-loop client with retries off: an update retried at another node would
/// take effect twice, so an update whose answer does not come ends unknown.
#[derive(Clone, Debug)]
pub struct GossipClient(Driver<Gossip, Updates>);

impl ClientLogic<Gossip> for GossipClient {
    fn new(id: ClientId, nodes: u32, workload: &WorkloadConfig, config: &Config) -> Self {
        let once = WorkloadConfig {
            retries: 0,
            ..workload.clone()
        };
        GossipClient(Driver::new(id, nodes, &once, config))
    }
    fn on_start(&mut self, ctx: &mut ClientCtx<'_, Gossip>) {
        self.0.on_start(ctx);
    }
    fn on_response(
        &mut self,
        ctx: &mut ClientCtx<'_, Gossip>,
        from: NodeId,
        id: RequestId,
        response: Response,
    ) {
        self.0.on_response(ctx, from, id, response);
    }
    fn on_timer(&mut self, ctx: &mut ClientCtx<'_, Gossip>, timer: u64) {
        self.0.on_timer(ctx, timer);
    }
    fn honours_pinned() -> bool {
        true
    }
}
