//! The protocol API: the only module a protocol implementation imports.
//!
//! A protocol is a sans-IO state machine. The engine calls its handlers (start, recover,
//! message, timer, client request) and the protocol acts only through the [`Ctx`] it is
//! given: it sends, sets and cancels timers, writes and syncs its node's [`Store`], reads its
//! node's *local* clock, draws from its node's own random stream, replies to clients and
//! annotates the trace. Sends, timers, replies and annotations are buffered and applied by
//! the engine after the handler returns, in the order they were issued; store writes take
//! effect at once, so anything synced in a handler is durable before any message that handler
//! sent can arrive.
//!
//! The client side of a protocol (the workload) is the same kind of state machine:
//! [`ClientLogic`] with a [`ClientCtx`]. Most protocols use the ready-made closed-loop driver
//! in [`crate::kit::driver`].
//!
//! Must not import the engine, the network or the trace.

mod client;
mod clock;
mod ctx;
mod explorable;
mod knobs;
mod shown;
mod value;
mod vocabulary;

pub use client::{ClientCtx, ClientEffect, ClientLogic, WorkloadConfig};
pub use clock::{Causal, HAPPENS_BEFORE, LogicalClocks, Stamp, VClock};
pub use ctx::{Ctx, Effect};
pub use explorable::Explorable;
pub use knobs::{Knob, KnobValues, LiveCheck, Liveness};
pub use shown::Shown;
pub use value::Value;
pub use vocabulary::{Serves, Vocabulary};

pub use crate::base::fixed;
pub use crate::base::hash::{StableHasher, stable_hash};
pub use crate::base::rng::Rng;
pub use crate::base::types::{ClientId, Endpoint, NodeId, Ratio, Time};
pub use crate::check::library;
pub use crate::check::{
    Failure, Invariant, Metric, MetricDef, Monitor, Param, PropertyDef, Status, StoreTally,
    Trigger, TriggerKind, View, ratio,
};
pub use crate::history::{Eventual, History, HistoryCheck, Linearizable, OpId, Outcome};
pub use crate::isolation::Isolation;
pub use crate::kit::driver::{Driver, Generator, Verdict as ClientVerdict};
pub use crate::kit::no_client::NoClient;
pub use crate::lin::{HistoryCall, ModelKind, Val};
pub use crate::storage::{Codec, Damage, Place, Store, Synced};

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::hash::Hash;

/// Identifies one client request across retries, so a server can apply a retried write once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RequestId(pub u64);

impl RequestId {
    /// Request number `serial` (below 2^40) of `client`, in the layout [`RequestId::serial`]
    /// reads: distinct for every (client, serial).
    pub fn of(client: ClientId, serial: u64) -> RequestId {
        RequestId((u64::from(client.0) << 40) | serial)
    }
    /// The request's number within its client: the built-in workload counts each client's
    /// requests in the low 40 bits and keeps the client's index above them.
    pub fn serial(self) -> u64 {
        self.0 & ((1 << 40) - 1)
    }
}

/// `config` with the settings of a `set` fault applied: each key a dotted path into the
/// parameters (`"bugs.commit_old_terms"`) that must name a boolean they already have.
/// Errors say which key is wrong and what the parameters offer there.
pub fn with_settings<C: Serialize + DeserializeOwned>(
    config: &C,
    settings: &std::collections::BTreeMap<String, bool>,
) -> Result<C, String> {
    let mut json = serde_json::to_value(config).map_err(|e| e.to_string())?;
    for (path, on) in settings {
        let (parent, name) = path.rsplit_once('.').unwrap_or(("", path.as_str()));
        let mut at = &mut json;
        for part in parent.split('.').filter(|p| !p.is_empty()) {
            at = match at.get_mut(part) {
                Some(next) if next.is_object() => next,
                _ => return Err(format!("`{path}`: the parameters have no `{part}` block")),
            };
        }
        match at.get_mut(name) {
            Some(slot @ serde_json::Value::Bool(_)) => *slot = serde_json::Value::Bool(*on),
            _ => {
                let offered: Vec<&str> = at
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .filter(|(_, v)| v.is_boolean())
                            .map(|(k, _)| k.as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                return Err(if offered.is_empty() {
                    format!("`{path}`: no switch there")
                } else {
                    format!(
                        "`{path}`: no switch `{name}` there; the switches are: {}",
                        offered.join(", ")
                    )
                });
            }
        }
    }
    serde_json::from_value(json).map_err(|e| e.to_string())
}

/// Parameters [`Protocol::check_config`] refused: the field under `protocol.params` (empty:
/// the scenario's `nodes`) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The field, as a path under the parameters (`read_quorum`).
    pub field: String,
    /// Why its value is refused.
    pub why: String,
}

impl ConfigError {
    /// `field` is refused, for the reason `why`.
    pub fn new(field: &str, why: impl Into<String>) -> Self {
        ConfigError {
            field: field.to_string(),
            why: why.into(),
        }
    }

    /// The cluster's size is refused (a protocol with fixed roles by node id needs enough
    /// nodes for them): the loader reports it at the scenario's `nodes`, not under
    /// `protocol.params` (the field is left empty).
    pub fn nodes(why: impl Into<String>) -> Self {
        ConfigError {
            field: String::new(),
            why: why.into(),
        }
    }
}

/// A distributed protocol that runs on every node of a simulation.
pub trait Protocol: Sized + Clone + 'static {
    /// The name scenarios use to pick this protocol (`"protocol": {"name": ...}`).
    const NAME: &'static str;
    /// Parameters from the scenario's `protocol.params` block (bug switches included).
    type Config: Clone + Debug + Default + Serialize + DeserializeOwned;
    /// Messages between nodes.
    type Msg: Clone + Debug + Hash + Serialize;
    /// Timer names. Setting a timer that is already set re-arms it.
    type Timer: Clone + Debug + Ord + Hash + Serialize;
    /// What clients ask.
    type Request: Clone + Debug + Hash + Serialize;
    /// What nodes answer.
    type Response: Clone + Debug + Hash + Serialize;
    /// What the node's durable store holds (log records and cells).
    type Record: Clone + Debug + Hash + Serialize;
    /// The workload actor that talks to this protocol.
    type Client: ClientLogic<Self> + Clone;

    /// Builds the volatile state of node `id`. Called on first boot and on every restart.
    fn new(id: NodeId, nodes: u32, config: &Self::Config) -> Self;

    /// First boot: the store is empty.
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>);

    /// Restart after a crash: the store holds only what was synced before the crash.
    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.on_start(ctx);
    }

    /// A message from another node.
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Self::Msg);

    /// A timer set earlier fired.
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Self::Timer);

    /// A client request. The default ignores it (the client will time out).
    fn on_request(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        client: ClientId,
        id: RequestId,
        request: Self::Request,
    ) {
        let _ = (ctx, client, id, request);
    }

    /// New parameters while running: a scenario's `set` fault (`{"at_ms": T, "set":
    /// {"bugs.NAME": true}}`) hands every running node its parameters with the switches
    /// changed, and nodes built later get them through [`Protocol::new`]. A protocol takes
    /// the bug switches (`config.bugs`) and keeps the rest as it was built with. The default
    /// refuses; a scenario that sets switches for such a protocol is refused at load (the
    /// loader asks a freshly built node).
    fn reconfigure(&mut self, config: &Self::Config) -> Result<(), String> {
        let _ = config;
        Err(format!(
            "protocol {} does not take new parameters while running",
            Self::NAME
        ))
    }

    /// Checks parameters against what their types cannot say, such as a bound that depends
    /// on the cluster's size `nodes`. Called when a scenario is loaded, for `protocol.params`
    /// and for each node's `params_by_node`; an error names the field under the parameters
    /// (`"read_quorum"`) and says why, and the loader reports it as
    /// `protocol.params.FIELD` (exit 2). The default accepts everything.
    fn check_config(config: &Self::Config, nodes: u32) -> Result<(), ConfigError> {
        let _ = (config, nodes);
        Ok(())
    }

    /// The check of the whole client history when the run ends (linearizability against a
    /// register or a key-value map is [`Linearizable`]); `None`, the default, skips it.
    fn history_check() -> Option<Box<dyn HistoryCheck>> {
        None
    }

    /// A request as the history model reads it: function, key and argument. `None` leaves
    /// the operation out of the check.
    fn history_call(request: &Self::Request) -> Option<HistoryCall> {
        let _ = request;
        None
    }

    /// A completed operation's result as the history model reads it (the value a read
    /// returned; `Val::Nil` when there is none).
    fn history_value(response: &Self::Response) -> Val {
        let _ = response;
        Val::Nil
    }

    /// The stamp a message carries, if it carries one (made by [`Ctx::stamp`]). The world
    /// merges the stamp's hidden truth into the receiver's true vector time when the message
    /// is delivered, whether or not the protocol observes it: a protocol that uses the clock
    /// service must say here where its stamps sit, or its receives would not count. The
    /// default, for protocols that do not use the service, says none (and costs nothing).
    #[inline(always)]
    fn stamp_of(msg: &Self::Msg) -> Option<&Stamp> {
        let _ = msg;
        None
    }

    /// What this protocol's annotations mean (which key is its role, its epoch, its
    /// progress), for the tools and the swarm's strikes. The default declares nothing.
    fn vocabulary() -> Vocabulary {
        Vocabulary::none()
    }

    /// Whether `response` counts as the node serving, for the recovery metrics when the
    /// vocabulary declares [`Serves::Reply`]: a redirect, a "not the leader" or an
    /// "unavailable" answer does not. The default counts every reply.
    #[inline(always)]
    fn serves(response: &Self::Response) -> bool {
        let _ = response;
        true
    }

    /// The parameters a swarm may vary per seed (`"swarm": {"knobs": true}`), each with the
    /// range in which the protocol stays correct. The default declares none.
    fn knobs() -> Vec<Knob> {
        Vec::new()
    }

    /// The progress this protocol owes after the heal under `config`, with budgets computed
    /// from its timeouts (`"swarm": {"liveness": true}` adds these checks to the scenario).
    /// The default owes nothing.
    fn liveness(config: &Self::Config) -> Liveness {
        let _ = config;
        Liveness::default()
    }

    /// Every property this protocol offers to scenarios, with the ones that are on by default
    /// (its safety invariants) marked so.
    fn properties() -> Vec<PropertyDef<Self>>;

    /// What this protocol measures in every run with checks on, for the summary's metrics.
    /// Metrics never fail and are not checks. The default measures nothing.
    fn metrics() -> Vec<MetricDef<Self>> {
        Vec::new()
    }

    /// The state a student needs to see, shown field by field and log by log (see
    /// [`Shown`]), from the node's state and its store: called after every handler of this node while a trace is written, never
    /// otherwise, so it must not change anything. What is shown goes into the trace as
    /// `state` records (changes only) for the viewer's panels and log grid; it is not part of
    /// the fingerprint. The default shows nothing.
    fn show(&self, store: &Store<Self::Record>, out: &mut Shown) {
        let _ = (store, out);
    }

    /// Whether, and how, the exhaustive explorer may fingerprint this protocol's state
    /// (`faultline explore`). The default, `None`, keeps the protocol out of it.
    fn explorable() -> Option<Explorable<Self>> {
        None
    }

    /// How this protocol's records are written to the disk as bytes and read back
    /// ([`Codec`]). Storage faults (torn writes, corruption, latent read errors, misdirected
    /// writes) act on those bytes, so a scenario may give them only to a protocol with a
    /// codec; the default, `None`, keeps its records typed and its disk honest (unsynced
    /// writes still vanish at a crash, and failed syncs still apply).
    fn codec() -> Option<Codec<Self::Record>> {
        None
    }

    /// Size of a stored record in bytes, for the storage statistics.
    fn record_bytes(record: &Self::Record) -> u64 {
        let _ = record;
        std::mem::size_of::<Self::Record>() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::with_settings;
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Bugs {
        early: bool,
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct WithBugs {
        timeout_ms: u64,
        bugs: Bugs,
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct NoBugs {
        timeout_ms: u64,
    }

    fn set(key: &str) -> BTreeMap<String, bool> {
        BTreeMap::from([(key.to_string(), true)])
    }

    #[test]
    fn settings_change_only_the_switches_named_and_name_what_is_wrong() {
        let c = WithBugs {
            timeout_ms: 5,
            bugs: Bugs { early: false },
        };
        let changed = with_settings(&c, &set("bugs.early")).unwrap();
        assert_eq!(changed.bugs, Bugs { early: true });
        assert_eq!(changed.timeout_ms, 5);
        let e = with_settings(&c, &set("bugs.late")).unwrap_err();
        assert!(e.contains("no switch `late`") && e.contains("early"), "{e}");
        let e = with_settings(&c, &set("timeout_ms")).unwrap_err();
        assert!(e.contains("no switch"), "{e}");
        let e = with_settings(&NoBugs { timeout_ms: 5 }, &set("bugs.early")).unwrap_err();
        assert!(e.contains("no `bugs` block"), "{e}");
    }
}
