//! Steps: actions named by what they do, not by where the world keeps things, so that a path
//! written by the explorer (or by hand) can be read, kept in a scenario file and replayed.
//!
//! A slot number or a message id depends on the path that led to a state; a step does not.
//! A message is named by its kind (the variant name its serialised form starts with, or
//! `request` and `response` for client traffic), its sender, its receiver, and which message
//! of that kind on that link it was, counted from 1 at send: `{"deliver": {"kind": "prepare",
//! "from": "n1", "to": "n2", "nth": 1}}`. A timer is named by its owner and its serialised
//! name: `{"fire": {"at": "n1", "timer": "retry"}}` (a client's timers are numbers). Faults
//! are the ones the explorer chooses: `{"crash": "n2"}`, `{"restart": "n2"}`,
//! `{"isolate": "n2"}`, `{"heal_links": true}`; `{"start": "n1"}` boots a node or starts a
//! client.
//!
//! A [`Namer`] follows one run action by action (call [`Namer::observe`] after each) and
//! turns actions into steps and steps back into actions.

use super::{Action, World};
use crate::base::types::{ClientId, Endpoint, NodeId};
use crate::faults::Fault;
use crate::protocol::Protocol;
use crate::trace::{Origin, Payload};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One action of a path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Boot a node, or start a client.
    Start(Endpoint),
    /// A copy in flight arrives.
    Deliver(MsgRef),
    /// A copy in flight is lost.
    Drop(MsgRef),
    /// A copy in flight gets a twin.
    Duplicate(MsgRef),
    /// An armed timer fires.
    Fire(TimerRef),
    /// A node crashes.
    Crash(NodeId),
    /// A crashed node restarts.
    Restart(NodeId),
    /// Every link to and from a node is cut.
    Isolate(NodeId),
    /// Every link is restored (write `true`).
    HealLinks(bool),
}

/// A message, by kind, link and rank on that link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsgRef {
    /// The message's kind.
    pub kind: String,
    /// Sender.
    pub from: Endpoint,
    /// Receiver.
    pub to: Endpoint,
    /// Which message of this kind from `from` to `to`, counted from 1 at send.
    pub nth: u32,
}

/// A timer, by owner and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimerRef {
    /// The node or client that armed it.
    pub at: Endpoint,
    /// Its name as the trace writes it (a client timer: its number).
    pub timer: serde_json::Value,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = |r: &MsgRef| format!("{} #{} {} -> {}", r.kind, r.nth, r.from, r.to);
        match self {
            Step::Start(e) => write!(f, "start {e}"),
            Step::Deliver(r) => write!(f, "deliver {}", m(r)),
            Step::Drop(r) => write!(f, "drop {}", m(r)),
            Step::Duplicate(r) => write!(f, "duplicate {}", m(r)),
            Step::Fire(t) => match t.timer.as_str() {
                Some(name) => write!(f, "fire {name} at {}", t.at),
                None => write!(f, "fire timer {} at {}", t.timer, t.at),
            },
            Step::Crash(n) => write!(f, "crash {n}"),
            Step::Restart(n) => write!(f, "restart {n}"),
            Step::Isolate(n) => write!(f, "isolate {n}"),
            Step::HealLinks(_) => write!(f, "heal links"),
        }
    }
}

/// The kind of a message as steps name it: a node message's variant name (the first key of
/// its serialised form, or the string a unit variant serialises to), `request` or
/// `response` for client traffic.
pub fn kind_of<P: Protocol>(payload: &Payload<P>) -> String {
    match payload {
        Payload::Peer(m) => match serde_json::to_value(m) {
            Ok(serde_json::Value::String(s)) => s,
            Ok(serde_json::Value::Object(o)) if o.len() == 1 => {
                o.keys().next().cloned().unwrap_or_default()
            }
            _ => "message".to_string(),
        },
        Payload::Request { .. } => "request".to_string(),
        Payload::Response { .. } => "response".to_string(),
    }
}

/// Names the messages of one run as they are sent, and translates between actions and
/// steps.
#[derive(Clone, Debug, Default)]
pub struct Namer {
    /// Message id → its name.
    names: BTreeMap<u64, MsgRef>,
    /// Messages sent so far per (kind, from, to).
    counts: BTreeMap<(String, Endpoint, Endpoint), u32>,
    /// Ids below this one have been looked at.
    next: u64,
}

impl Namer {
    /// A namer for a run that has sent nothing yet.
    pub fn new() -> Namer {
        Namer::default()
    }

    /// Names the messages sent since the last call (in send order).
    pub fn observe<P: Protocol>(&mut self, world: &World<P>) {
        let mut fresh: Vec<(u64, Endpoint, Endpoint, String)> = world
            .in_flight()
            .filter(|(_, m)| m.id() >= self.next && !self.names.contains_key(&m.id()))
            .map(|(_, m)| (m.id(), m.from(), m.to(), kind_of(m.payload())))
            .collect();
        fresh.sort_by_key(|f| f.0);
        fresh.dedup_by_key(|f| f.0);
        for (id, from, to, kind) in fresh {
            let count = self.counts.entry((kind.clone(), from, to)).or_insert(0);
            *count += 1;
            let nth = *count;
            self.names.insert(
                id,
                MsgRef {
                    kind,
                    from,
                    to,
                    nth,
                },
            );
        }
        self.next = world.next_msg_id;
    }

    /// The step that names `action` in `world` (before it is applied); `None` for an action
    /// steps cannot name (a client request put in flight from outside, or a fault outside
    /// the explorer's set).
    pub fn name<P: Protocol>(&self, world: &World<P>, action: &Action<P>) -> Option<Step> {
        let msg = |slot: &super::MsgSlot| {
            world
                .message(*slot)
                .and_then(|m| self.names.get(&m.id()))
                .cloned()
        };
        Some(match action {
            Action::Start(n) => Step::Start(Endpoint::Node(*n)),
            Action::StartClient(c) => Step::Start(Endpoint::Client(*c)),
            Action::Deliver(s) => Step::Deliver(msg(s)?),
            Action::Drop(s) => Step::Drop(msg(s)?),
            Action::Duplicate(s) => Step::Duplicate(msg(s)?),
            Action::Fire(s) => {
                let t = world.timers.get(s.0)?;
                Step::Fire(TimerRef {
                    at: Endpoint::Node(t.node()),
                    timer: serde_json::to_value(t.timer()).ok()?,
                })
            }
            Action::FireClient(s) => {
                let t = world.client_timers.get(s.0)?;
                Step::Fire(TimerRef {
                    at: Endpoint::Client(ClientId(t.client)),
                    timer: serde_json::Value::from(t.timer),
                })
            }
            Action::Fault(Fault::Crash(n), _) => Step::Crash(*n),
            Action::Fault(Fault::Restart(n), _) => Step::Restart(*n),
            Action::Fault(Fault::Isolate(Endpoint::Node(n)), _) => Step::Isolate(*n),
            Action::Fault(Fault::HealLinks, _) => Step::HealLinks(true),
            Action::Fault(..) | Action::Request { .. } => return None,
        })
    }

    /// The action `step` names in `world`, or why there is none (no such message in flight,
    /// no such timer armed).
    pub fn resolve<P: Protocol>(&self, world: &World<P>, step: &Step) -> Result<Action<P>, String> {
        let msg = |r: &MsgRef| {
            world
                .in_flight()
                .find(|(_, m)| !m.arrived() && self.names.get(&m.id()) == Some(r))
                .map(|(slot, _)| slot)
                .ok_or_else(|| {
                    format!(
                        "no message {} #{} from {} to {} is in flight",
                        r.kind, r.nth, r.from, r.to
                    )
                })
        };
        let fault = |f: Fault| Action::Fault(f, Origin::Schedule);
        Ok(match step {
            Step::Start(Endpoint::Node(n)) => Action::Start(*n),
            Step::Start(Endpoint::Client(c)) => Action::StartClient(*c),
            Step::Deliver(r) => Action::Deliver(msg(r)?),
            Step::Drop(r) => Action::Drop(msg(r)?),
            Step::Duplicate(r) => Action::Duplicate(msg(r)?),
            Step::Fire(TimerRef {
                at: Endpoint::Node(n),
                timer,
            }) => world
                .armed()
                .find(|(_, t)| {
                    t.node() == *n && serde_json::to_value(t.timer()).ok().as_ref() == Some(timer)
                })
                .map(|(slot, _)| Action::Fire(slot))
                .ok_or_else(|| format!("{n} has no timer {timer} armed"))?,
            Step::Fire(TimerRef {
                at: Endpoint::Client(c),
                timer,
            }) => world
                .client_timers()
                .find(|(_, who, number)| who == c && timer.as_u64() == Some(*number))
                .map(|(slot, _, _)| Action::FireClient(slot))
                .ok_or_else(|| format!("{c} has no timer {timer} armed"))?,
            Step::Crash(n) => fault(Fault::Crash(*n)),
            Step::Restart(n) => fault(Fault::Restart(*n)),
            Step::Isolate(n) => fault(Fault::Isolate(Endpoint::Node(*n))),
            Step::HealLinks(_) => fault(Fault::HealLinks),
        })
    }
}
