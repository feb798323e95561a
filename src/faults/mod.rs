//! Faults: the one [`Fault`] type that scenarios schedule and the random nemesis draws, and
//! the nemesis itself.
//!
//! The nemesis draws from its own random stream, so turning it on never shifts the network's
//! or a node's draws. For each enabled fault kind it picks the next time uniformly in
//! `1 ..= 2 × interval_ms_mean` (integer maths, mean as configured), chooses a target among
//! the nodes it may hurt, and returns the fault together with the fault that undoes it later
//! (a restart, a resume, a heal of links). It never takes more nodes down than its budget
//! allows (by default a minority), so runs stay survivable.
//!
//! Must not import the engine, network, storage or trace.

mod aim;
mod disk;
mod nemesis;
mod swarm;

pub use aim::{AIMED, Aim, resolve, takes_several};
pub use disk::{Atlas, CellRule, DiskFault, DiskKind, DiskPlace};

pub use nemesis::{
    ClockSpec, CrashSpec, DiskSpec, Nemesis, NemesisConfig, NemesisKind, PartitionSpec, PauseSpec,
    Shape, StrikeFault, StrikeSpec, WorldState,
};
pub use swarm::{SwarmDraw, SwarmSpec, swarm};

use crate::base::types::{Endpoint, NodeId, Time};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A fault, scheduled by a scenario or drawn by the nemesis. The same values appear in the
/// trace, so a random run can be written out as an explicit schedule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Crash a node: its volatile state and unsynced writes are lost, its timers die.
    Crash(NodeId),
    /// Restart a crashed node as a new incarnation from its synced store.
    Restart(NodeId),
    /// Pause a node: it handles nothing; deliveries and timers wait until it resumes.
    Pause(NodeId),
    /// Resume a paused node; it handles what waited, in order.
    Resume(NodeId),
    /// Cut every link between different groups, both ways. Unlisted vertices keep their links.
    Partition(Vec<Vec<Endpoint>>),
    /// Split `groups` from each other while `via` keeps its links to both sides.
    Bridge {
        /// The sides.
        groups: Vec<Vec<Endpoint>>,
        /// The node that sees both sides.
        via: NodeId,
    },
    /// Cut every link to and from one vertex.
    Isolate(Endpoint),
    /// Cut one direction of one link.
    Cut {
        /// Sender side.
        from: Endpoint,
        /// Receiver side.
        to: Endpoint,
    },
    /// Restore one direction of one link.
    Repair {
        /// Sender side.
        from: Endpoint,
        /// Receiver side.
        to: Endpoint,
    },
    /// Restore every link.
    HealLinks,
    /// Jump a node's clock by `offset_ms` (negative goes back), like an NTP step.
    ClockStep {
        /// The node.
        node: NodeId,
        /// Jump in milliseconds.
        offset_ms: i64,
    },
    /// Set a node's clock drift, in parts per million (+100000 runs 10% fast).
    ClockDrift {
        /// The node.
        node: NodeId,
        /// Drift in ppm.
        ppm: i32,
    },
    /// Heal everything and start the liveness phase.
    Heal,
    /// Drop, delay or duplicate one chosen message: the `nth` message of its kind from one
    /// endpoint to another, counted at send. Applied where the message's fate is drawn,
    /// never queued as an event.
    Message(MessageFault),
    /// Set protocol parameters (bug switches, `"bugs.NAME"`) on every node from now on:
    /// running nodes through [`Protocol::reconfigure`](crate::protocol::Protocol), and
    /// nodes that boot later.
    Set(BTreeMap<String, bool>),
    /// A storage fault on one node's disk, within the scenario's atlas (see [`Atlas`]).
    Disk(DiskFault),
}

/// One chosen message and what happens to it (`{"message": {...}, "drop": true}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageFault {
    /// The message's kind, as [`crate::world::kind_of`] names it (`request` and `response`
    /// for client traffic).
    pub kind: String,
    /// Sender.
    pub from: Endpoint,
    /// Receiver.
    pub to: Endpoint,
    /// Which message of that kind from `from` to `to`, counted from 1 at send.
    pub nth: u32,
    /// What happens to it.
    pub twist: Twist,
}

/// What a message fault does to its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Twist {
    /// Lost at send.
    Drop,
    /// Every copy arrives this many microseconds later than the network decided.
    Delay(u64),
    /// A second copy arrives with the first.
    Duplicate,
}

impl Twist {
    /// The scenario key: `drop`, `delay_ms` or `duplicate`.
    pub fn key(self) -> &'static str {
        match self {
            Twist::Drop => "drop",
            Twist::Delay(_) => "delay_ms",
            Twist::Duplicate => "duplicate",
        }
    }

    /// The key's value as a scenario writes it.
    fn value(self) -> serde_json::Value {
        match self {
            Twist::Delay(us) => ms_json(us),
            Twist::Drop | Twist::Duplicate => serde_json::json!(true),
        }
    }
}

impl MessageFault {
    /// Whether a message of kind `kind()` from `from` to `to` may be this one (the kind is
    /// asked only when the link matches: naming it costs a serialisation).
    #[inline]
    pub fn on_link(&self, from: Endpoint, to: Endpoint) -> bool {
        self.from == from && self.to == to
    }

    /// The message as a scenario names it, without the twist.
    pub fn message_json(&self) -> serde_json::Value {
        serde_json::json!({"kind": self.kind, "from": self.from, "to": self.to, "nth": self.nth})
    }
}

impl Serialize for MessageFault {
    /// In traces: `{"kind": K, "from": A, "to": B, "nth": i, "drop": true}`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = self.message_json();
        v[self.twist.key()] = self.twist.value();
        v.serialize(s)
    }
}

impl Fault {
    /// The same fault aimed at node `n` instead of its subject (see [`Fault::subject`]): `n`
    /// and the subject swap places wherever the fault names either, so a partition keeps its
    /// shape (`[["n1"], ["n2", "n3"]]` aimed at n3 is `[["n3"], ["n2", "n1"]]`) and a cut
    /// keeps its direction relative to the subject. A fault that names no node (a heal, a
    /// cut between clients) is returned unchanged; validation refuses to aim one.
    pub fn aimed_at(&self, n: NodeId) -> Fault {
        match self.subject() {
            Some(s) => self.swapped(s, n),
            None => self.clone(),
        }
    }

    /// The node a fault is written about, which `retarget` replaces: the one node of a crash,
    /// restart, pause, resume, node isolation or clock fault; the `via` of a bridge; the
    /// first node listed in a partition; the `from` of a cut or repair if it is a node, else
    /// its `to`. `None` for faults that name no node.
    pub fn subject(&self) -> Option<NodeId> {
        let node = |e: &Endpoint| match e {
            Endpoint::Node(n) => Some(*n),
            Endpoint::Client(_) => None,
        };
        match self {
            Fault::Partition(groups) => groups.iter().flatten().find_map(node),
            Fault::Cut { from, to } | Fault::Repair { from, to } => node(from).or(node(to)),
            other => other.node(),
        }
    }

    /// The same fault with nodes `a` and `b` exchanged wherever it names them.
    pub fn swapped(&self, a: NodeId, b: NodeId) -> Fault {
        self.map_nodes(|x| {
            if x == a {
                b
            } else if x == b {
                a
            } else {
                x
            }
        })
    }

    /// The same fault with every node it names passed through `n` (clients stay).
    pub fn map_nodes(&self, n: impl Fn(NodeId) -> NodeId) -> Fault {
        let e = |x: Endpoint| match x {
            Endpoint::Node(m) => Endpoint::Node(n(m)),
            c => c,
        };
        let groups = |g: &[Vec<Endpoint>]| -> Vec<Vec<Endpoint>> {
            g.iter()
                .map(|s| s.iter().map(|&x| e(x)).collect())
                .collect()
        };
        match self {
            Fault::Crash(m) => Fault::Crash(n(*m)),
            Fault::Restart(m) => Fault::Restart(n(*m)),
            Fault::Pause(m) => Fault::Pause(n(*m)),
            Fault::Resume(m) => Fault::Resume(n(*m)),
            Fault::Partition(g) => Fault::Partition(groups(g)),
            Fault::Bridge { groups: g, via } => Fault::Bridge {
                groups: groups(g),
                via: n(*via),
            },
            Fault::Isolate(x) => Fault::Isolate(e(*x)),
            Fault::Cut { from, to } => Fault::Cut {
                from: e(*from),
                to: e(*to),
            },
            Fault::Repair { from, to } => Fault::Repair {
                from: e(*from),
                to: e(*to),
            },
            Fault::ClockStep { node, offset_ms } => Fault::ClockStep {
                node: n(*node),
                offset_ms: *offset_ms,
            },
            Fault::ClockDrift { node, ppm } => Fault::ClockDrift {
                node: n(*node),
                ppm: *ppm,
            },
            Fault::HealLinks => Fault::HealLinks,
            Fault::Heal => Fault::Heal,
            Fault::Message(m) => Fault::Message(MessageFault {
                from: e(m.from),
                to: e(m.to),
                ..m.clone()
            }),
            Fault::Set(s) => Fault::Set(s.clone()),
            Fault::Disk(d) => Fault::Disk(DiskFault {
                node: n(d.node),
                ..d.clone()
            }),
        }
    }

    /// The node this fault is about, if one.
    pub fn node(&self) -> Option<NodeId> {
        match self {
            Fault::Crash(n) | Fault::Restart(n) | Fault::Pause(n) | Fault::Resume(n) => Some(*n),
            Fault::ClockStep { node, .. } | Fault::ClockDrift { node, .. } => Some(*node),
            Fault::Isolate(Endpoint::Node(n)) => Some(*n),
            Fault::Bridge { via, .. } => Some(*via),
            Fault::Disk(d) => Some(d.node),
            _ => None,
        }
    }

    /// Every vertex this fault names, for validation.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        match self {
            Fault::Crash(n) | Fault::Restart(n) | Fault::Pause(n) | Fault::Resume(n) => {
                vec![Endpoint::Node(*n)]
            }
            Fault::ClockStep { node, .. } | Fault::ClockDrift { node, .. } => {
                vec![Endpoint::Node(*node)]
            }
            Fault::Partition(groups) => groups.iter().flatten().copied().collect(),
            Fault::Bridge { groups, via } => {
                let mut v: Vec<Endpoint> = groups.iter().flatten().copied().collect();
                v.push(Endpoint::Node(*via));
                v
            }
            Fault::Isolate(e) => vec![*e],
            Fault::Cut { from, to } | Fault::Repair { from, to } => vec![*from, *to],
            Fault::Message(m) => vec![m.from, m.to],
            Fault::Disk(d) => vec![Endpoint::Node(d.node)],
            Fault::HealLinks | Fault::Heal | Fault::Set(_) => vec![],
        }
    }

    /// The scenario key of this fault kind.
    pub fn key(&self) -> &'static str {
        match self {
            Fault::Crash(_) => "crash",
            Fault::Restart(_) => "restart",
            Fault::Pause(_) => "pause",
            Fault::Resume(_) => "resume",
            Fault::Partition(_) => "partition",
            Fault::Bridge { .. } => "bridge",
            Fault::Isolate(_) => "isolate",
            Fault::Cut { .. } => "cut",
            Fault::Repair { .. } => "repair",
            Fault::HealLinks => "heal_links",
            Fault::ClockStep { .. } => "clock_step",
            Fault::ClockDrift { .. } => "clock_drift",
            Fault::Heal => "heal",
            Fault::Message(_) => "message",
            Fault::Set(_) => "set",
            Fault::Disk(_) => "disk",
        }
    }
}

/// All scenario keys that name a fault (every entry has one).
pub const FAULT_KEYS: &[&str] = ENTRY_KEYS.split_at(8).1;

/// A fault at a virtual time: `{"at_ms": 1000, "crash": "n2"}`, or in reaction to a node's
/// trace annotation: `{"at_ms": 1500, "on": {"node": "n5", "note": "duty", "value": "chief"},
/// "isolate": "n5"}` isolates n5 the first time, from 1.5 s on, that it annotates `duty` =
/// `chief` (in a protocol whose vocabulary calls its leading role so: it leads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledFault {
    /// When, in microseconds of virtual time (scenarios write milliseconds, `at_ms`, with up
    /// to three decimals); with `on`, the time from which it watches.
    pub at_us: u64,
    /// Fire on an annotation instead of at `at_ms` (once, at the step that annotates).
    pub on: Option<NoteTrigger>,
    /// What. Holds [`AIMED`] where the file wrote an aim.
    pub fault: Fault,
    /// The node chosen when the fault fires (an [`Aim`]: by the role it announces, or drawn),
    /// written where the file would name a node; `fault` holds [`AIMED`] there.
    pub aim: Option<Aim>,
    /// `duration_ms`: undo the fault this long after it fires ([`Fault::undo`]).
    pub duration_us: Option<u64>,
    /// `every_ms`: fire again this long after each firing, `times` times in all.
    pub every_us: Option<u64>,
    /// `times`: how many times it fires (with `every_ms`); 1 when absent.
    pub times: Option<u32>,
}

impl ScheduledFault {
    /// A fault at `at_us` (or watching from it, with `on`), with none of the fields that
    /// shape it further (no aim, duration or repetition).
    pub fn new(at_us: u64, on: Option<NoteTrigger>, fault: Fault) -> ScheduledFault {
        ScheduledFault {
            at_us,
            on,
            fault,
            aim: None,
            duration_us: None,
            every_us: None,
            times: None,
        }
    }

    /// Whether the entry is a plain fault (no aim, duration or repetition): such entries run
    /// exactly as they always have, so existing scenarios' runs do not move.
    pub fn is_plain(&self) -> bool {
        self.aim.is_none()
            && self.duration_us.is_none()
            && self.every_us.is_none()
            && self.times.is_none()
    }

    /// How many times it fires.
    pub fn repeats(&self) -> u32 {
        self.times.unwrap_or(1)
    }

    /// The last moment this entry's own schedule reaches: its last firing plus its duration
    /// (for a timed entry; an `on` entry's moment is not known in advance).
    pub fn last_us(&self) -> u64 {
        let every = self.every_us.unwrap_or(0);
        let fires = u64::from(self.repeats().saturating_sub(1));
        self.at_us
            .saturating_add(every.saturating_mul(fires))
            .saturating_add(self.duration_us.unwrap_or(0))
    }
}

/// An annotation a reactive fault waits for: the first one at or after its `at_ms` from the
/// given node (any node if none) under `note`, with `value` if given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteTrigger {
    /// The annotating node; any node when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeId>,
    /// The annotation key (`role`, `term`, `commit`, ...).
    pub note: String,
    /// The value it must have (a number, a word, a node name, or null); any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// Aim the fault at the node that annotated instead of its subject, the node it is
    /// written about ([`Fault::subject`]; the two swap places). Any fault that names a node.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retarget: bool,
}

/// Milliseconds as a scenario writes them (a whole number, or a decimal with at most three
/// places for microseconds) to microseconds. Converted once, at load time.
pub fn ms_to_us(n: &serde_json::Number) -> Result<u64, String> {
    if let Some(ms) = n.as_u64() {
        return ms
            .checked_mul(1_000)
            .ok_or_else(|| format!("{ms} ms is out of range"));
    }
    let x = n.as_f64().unwrap_or(-1.0);
    if !(0.0..=1.0e15).contains(&x) {
        return Err(format!(
            "expected a time in milliseconds (0 or more), found {n}"
        ));
    }
    let us = (x * 1_000.0).round();
    if (x * 1_000.0 - us).abs() > 1e-6 {
        return Err(format!(
            "{n}: milliseconds take at most three decimals (whole microseconds)"
        ));
    }
    Ok(us as u64)
}

impl ScheduledFault {
    /// When, as a virtual time.
    pub fn at(&self) -> Time {
        Time(self.at_us)
    }
}

impl Serialize for ScheduledFault {
    /// Written back in the scenario's own shape: `{"at_ms": 5, "crash": "n2"}`, with `true`
    /// for the faults that take no argument, the aim back where it was written, and the
    /// duration and repetition fields only when given.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        if let Fault::Message(m) = &self.fault {
            // Counted at send, not timed: no `at_ms`.
            map.serialize_entry("message", &m.message_json())?;
            map.serialize_entry(m.twist.key(), &m.twist.value())?;
            return map.end();
        }
        map.serialize_entry("at_ms", &ms_json(self.at_us))?;
        if let Some(on) = &self.on {
            map.serialize_entry("on", on)?;
        }
        let key = self.fault.key();
        let mut value = match &self.fault {
            Fault::Crash(n) | Fault::Restart(n) | Fault::Pause(n) | Fault::Resume(n) => {
                serde_json::json!(n)
            }
            Fault::Partition(g) => serde_json::json!(g),
            Fault::Bridge { groups, via } => serde_json::json!({"groups": groups, "via": via}),
            Fault::Isolate(e) => serde_json::json!(e),
            Fault::Cut { from, to } | Fault::Repair { from, to } => {
                serde_json::json!({"from": from, "to": to})
            }
            Fault::HealLinks | Fault::Heal => serde_json::json!(true),
            Fault::ClockStep { node, offset_ms } => {
                serde_json::json!({"node": node, "offset_ms": offset_ms})
            }
            Fault::ClockDrift { node, ppm } => serde_json::json!({"node": node, "ppm": ppm}),
            Fault::Message(m) => m.message_json(),
            Fault::Set(s) => serde_json::json!(s),
            Fault::Disk(d) => serde_json::json!(d),
        };
        if let Some(aim) = &self.aim {
            let placeholder = serde_json::json!(AIMED);
            let aim = serde_json::to_value(aim).map_err(serde::ser::Error::custom)?;
            put_aim_back(&mut value, &placeholder, &aim);
        }
        map.serialize_entry(key, &value)?;
        if let Some(d) = self.duration_us {
            map.serialize_entry("duration_ms", &ms_json(d))?;
        }
        if let Some(e) = self.every_us {
            map.serialize_entry("every_ms", &ms_json(e))?;
        }
        if let Some(t) = self.times {
            map.serialize_entry("times", &t)?;
        }
        map.end()
    }
}

/// Microseconds as the milliseconds a scenario writes: a whole number, or a decimal that
/// `ms_to_us` reads back to the same microsecond (a float prints the shortest text that
/// parses back to it).
fn ms_json(us: u64) -> serde_json::Value {
    if us % 1_000 == 0 {
        serde_json::json!(us / 1_000)
    } else {
        serde_json::json!(us as f64 / 1_000.0)
    }
}

/// Replaces the placeholder node in a written fault value by the aim it stands for.
fn put_aim_back(
    v: &mut serde_json::Value,
    placeholder: &serde_json::Value,
    aim: &serde_json::Value,
) {
    if v == placeholder {
        *v = aim.clone();
        return;
    }
    match v {
        serde_json::Value::Array(items) => {
            for x in items {
                put_aim_back(x, placeholder, aim);
            }
        }
        serde_json::Value::Object(fields) => {
            for (_, x) in fields.iter_mut() {
                put_aim_back(x, placeholder, aim);
            }
        }
        _ => {}
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageSpec {
    kind: String,
    from: serde_json::Value,
    to: serde_json::Value,
    nth: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkSpec {
    from: serde_json::Value,
    to: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BridgeSpec {
    groups: Vec<Vec<serde_json::Value>>,
    via: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    node: serde_json::Value,
    offset_ms: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DriftSpec {
    node: serde_json::Value,
    ppm: i32,
}

/// Reads the places of a fault entry where a node may be named or aimed, and remembers the
/// one aim an entry may have.
#[derive(Default)]
struct Places {
    aim: Option<Aim>,
}

impl Places {
    fn aim_from(&mut self, v: serde_json::Value) -> Result<(), String> {
        let aim: Aim = serde_json::from_value(v).map_err(|e| {
            format!("an aimed node is {{\"role\": VALUE}} or {{\"drawn\": COUNT}}: {e}")
        })?;
        if self.aim.is_some() {
            return Err("one aimed node per fault entry; split it into entries".into());
        }
        if aim == Aim::Drawn(0) {
            return Err("`drawn` takes a count of at least 1".into());
        }
        self.aim = Some(aim);
        Ok(())
    }

    fn node(&mut self, v: serde_json::Value) -> Result<NodeId, String> {
        if v.is_object() {
            self.aim_from(v)?;
            return Ok(AIMED);
        }
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    fn endpoint(&mut self, v: serde_json::Value) -> Result<Endpoint, String> {
        if v.is_object() {
            self.aim_from(v)?;
            return Ok(Endpoint::Node(AIMED));
        }
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    fn groups(&mut self, g: Vec<Vec<serde_json::Value>>) -> Result<Vec<Vec<Endpoint>>, String> {
        g.into_iter()
            .map(|s| s.into_iter().map(|e| self.endpoint(e)).collect())
            .collect()
    }
}

/// `true` is the only value accepted for keys that take no argument.
struct Flag;

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match bool::deserialize(d)? {
            true => Ok(Flag),
            false => Err(de::Error::custom(
                "expected `true` (remove the entry instead of setting it false)",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for ScheduledFault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ScheduledFault;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a fault like {\"at_ms\": 1000, \"crash\": \"n2\"}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ScheduledFault, A::Error> {
                let mut at_ms = None;
                let mut on = None;
                let mut fault = None;
                let mut duration_us = None;
                let mut every_us = None;
                let mut times = None;
                let mut message: Option<MessageSpec> = None;
                let mut twist: Option<Twist> = None;
                let mut places = Places::default();
                let custom = de::Error::custom;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "drop" | "duplicate" | "delay_ms" => {
                            if let Some(t) = twist {
                                return Err(de::Error::custom(format!(
                                    "one twist per message: `{key}` follows `{}`; split it into its own entry",
                                    t.key()
                                )));
                            }
                            twist = Some(match key.as_str() {
                                "drop" => {
                                    map.next_value::<Flag>()?;
                                    Twist::Drop
                                }
                                "duplicate" => {
                                    map.next_value::<Flag>()?;
                                    Twist::Duplicate
                                }
                                _ => {
                                    let n = map.next_value::<serde_json::Number>()?;
                                    Twist::Delay(ms_to_us(&n).map_err(custom)?)
                                }
                            });
                            continue;
                        }
                        "on" => {
                            if on.is_some() {
                                return Err(de::Error::duplicate_field("on"));
                            }
                            on = Some(map.next_value::<NoteTrigger>()?);
                            continue;
                        }
                        "at_ms" | "duration_ms" | "every_ms" => {
                            let slot = match key.as_str() {
                                "at_ms" => &mut at_ms,
                                "duration_ms" => &mut duration_us,
                                _ => &mut every_us,
                            };
                            if slot.is_some() {
                                return Err(de::Error::custom(format!("duplicate field `{key}`")));
                            }
                            let n = map.next_value::<serde_json::Number>()?;
                            *slot = Some(ms_to_us(&n).map_err(custom)?);
                            continue;
                        }
                        "times" => {
                            if times.is_some() {
                                return Err(de::Error::duplicate_field("times"));
                            }
                            times = Some(map.next_value::<u32>()?);
                            continue;
                        }
                        _ => {}
                    }
                    if !FAULT_KEYS.contains(&key.as_str()) {
                        return Err(de::Error::unknown_field(&key, ENTRY_KEYS));
                    }
                    if fault.is_some() {
                        return Err(de::Error::custom(format!(
                            "one fault per entry: `{key}` follows another fault key; split it into its own entry"
                        )));
                    }
                    let p = &mut places;
                    fault = Some(match key.as_str() {
                        "crash" => Fault::Crash(p.node(map.next_value()?).map_err(custom)?),
                        "restart" => Fault::Restart(p.node(map.next_value()?).map_err(custom)?),
                        "pause" => Fault::Pause(p.node(map.next_value()?).map_err(custom)?),
                        "resume" => Fault::Resume(p.node(map.next_value()?).map_err(custom)?),
                        "partition" => {
                            Fault::Partition(p.groups(map.next_value()?).map_err(custom)?)
                        }
                        "isolate" => Fault::Isolate(p.endpoint(map.next_value()?).map_err(custom)?),
                        "bridge" => {
                            let b: BridgeSpec = map.next_value()?;
                            Fault::Bridge {
                                groups: p.groups(b.groups).map_err(custom)?,
                                via: p.node(b.via).map_err(custom)?,
                            }
                        }
                        "cut" | "repair" => {
                            let l: LinkSpec = map.next_value()?;
                            let from = p.endpoint(l.from).map_err(custom)?;
                            let to = p.endpoint(l.to).map_err(custom)?;
                            if key == "cut" {
                                Fault::Cut { from, to }
                            } else {
                                Fault::Repair { from, to }
                            }
                        }
                        "heal_links" => {
                            map.next_value::<Flag>()?;
                            Fault::HealLinks
                        }
                        "heal" => {
                            map.next_value::<Flag>()?;
                            Fault::Heal
                        }
                        "clock_step" => {
                            let s: StepSpec = map.next_value()?;
                            Fault::ClockStep {
                                node: p.node(s.node).map_err(custom)?,
                                offset_ms: s.offset_ms,
                            }
                        }
                        "clock_drift" => {
                            let s: DriftSpec = map.next_value()?;
                            Fault::ClockDrift {
                                node: p.node(s.node).map_err(custom)?,
                                ppm: s.ppm,
                            }
                        }
                        "message" => {
                            message = Some(map.next_value()?);
                            // Completed with its twist below.
                            Fault::HealLinks
                        }
                        "set" => Fault::Set(map.next_value()?),
                        "disk" => {
                            let mut v: serde_json::Value = map.next_value()?;
                            let node = v
                                .as_object_mut()
                                .and_then(|o| o.remove("node"))
                                .ok_or_else(|| {
                                    de::Error::custom("a `disk` fault names its `node`")
                                })?;
                            let node = p.node(node).map_err(custom)?;
                            v["node"] = serde_json::json!(NodeId(0));
                            let mut d: DiskFault =
                                serde_json::from_value(v).map_err(de::Error::custom)?;
                            d.node = node;
                            d.validate().map_err(custom)?;
                            Fault::Disk(d)
                        }
                        other => {
                            return Err(de::Error::unknown_field(other, ENTRY_KEYS));
                        }
                    });
                }
                if let Some(m) = message {
                    let Some(twist) = twist else {
                        return Err(de::Error::custom(
                            "a `message` entry says what happens to it: `\"drop\": true`, `\"delay_ms\": D` or `\"duplicate\": true`",
                        ));
                    };
                    if at_ms.is_some()
                        || on.is_some()
                        || duration_us.is_some()
                        || every_us.is_some()
                        || times.is_some()
                    {
                        return Err(de::Error::custom(
                            "a `message` entry is counted at send, not timed: it takes no at_ms, on, duration_ms, every_ms or times",
                        ));
                    }
                    let endpoint = |v| {
                        serde_json::from_value::<Endpoint>(v).map_err(|e| custom(e.to_string()))
                    };
                    let (from, to) = (endpoint(m.from)?, endpoint(m.to)?);
                    return Ok(ScheduledFault::new(
                        0,
                        None,
                        Fault::Message(MessageFault {
                            kind: m.kind,
                            from,
                            to,
                            nth: m.nth,
                            twist,
                        }),
                    ));
                }
                if let Some(t) = twist {
                    return Err(de::Error::custom(format!(
                        "`{}` says what happens to a chosen message; name it with `message`: {{\"kind\": K, \"from\": A, \"to\": B, \"nth\": I}}",
                        t.key()
                    )));
                }
                let at_us = match (at_ms, &on) {
                    (Some(t), _) => t,
                    (None, Some(_)) => 0,
                    (None, None) => return Err(de::Error::missing_field("at_ms")),
                };
                let fault = fault.ok_or_else(|| {
                    de::Error::custom(format!(
                        "a fault entry needs one of: {}",
                        FAULT_KEYS.join(", ")
                    ))
                })?;
                Ok(ScheduledFault {
                    at_us,
                    on,
                    fault,
                    aim: places.aim,
                    duration_us,
                    every_us,
                    times,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// Every field a fault entry may have: when, how it is shaped, and the fault keys.
const ENTRY_KEYS: &[&str] = &[
    "at_ms",
    "on",
    "duration_ms",
    "every_ms",
    "times",
    "drop",
    "delay_ms",
    "duplicate",
    "crash",
    "restart",
    "pause",
    "resume",
    "partition",
    "bridge",
    "isolate",
    "cut",
    "repair",
    "heal_links",
    "clock_step",
    "clock_drift",
    "heal",
    "message",
    "set",
    "disk",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::types::Ratio;

    #[test]
    fn fault_entries_parse_and_reject_mistakes() {
        let f: ScheduledFault = serde_json::from_str(r#"{"at_ms": 5, "crash": "n2"}"#).unwrap();
        assert_eq!(f, ScheduledFault::new(5_000, None, Fault::Crash(NodeId(1))));
        let f: ScheduledFault = serde_json::from_str(
            r#"{"on": {"node": "n5", "note": "duty", "value": "chief"}, "isolate": "n5"}"#,
        )
        .unwrap();
        assert_eq!(f.at_us, 0, "with `on`, at_ms defaults to the start");
        let on = f.on.clone().unwrap();
        assert_eq!((on.node, on.note.as_str()), (Some(NodeId(4)), "duty"));
        let back = serde_json::to_value(&f).unwrap();
        assert_eq!(back["on"]["value"], "chief");
        assert_eq!(serde_json::from_value::<ScheduledFault>(back).unwrap(), f);
        let f: ScheduledFault =
            serde_json::from_str(r#"{"heal_links": true, "at_ms": 7}"#).unwrap();
        assert_eq!(f.fault, Fault::HealLinks);
        let e = serde_json::from_str::<ScheduledFault>(r#"{"at_ms": 5, "crsh": "n2"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown field `crsh`") && e.contains("crash"),
            "{e}"
        );
        let e =
            serde_json::from_str::<ScheduledFault>(r#"{"at_ms": 5, "crash": "n2", "pause": "n1"}"#)
                .unwrap_err()
                .to_string();
        assert!(e.contains("one fault per entry"), "{e}");
        let e = serde_json::from_str::<ScheduledFault>(r#"{"crash": "n2"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("at_ms"), "{e}");
        let e = serde_json::from_str::<ScheduledFault>(r#"{"at_ms": 1, "crash": "x2"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("node name"), "{e}");
    }

    #[test]
    fn at_ms_takes_microseconds_as_three_decimals_and_writes_them_back() {
        let f: ScheduledFault =
            serde_json::from_str(r#"{"at_ms": 1149.337, "crash": "n2"}"#).unwrap();
        assert_eq!(f.at_us, 1_149_337);
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"at_ms":1149.337,"crash":"n2"}"#
        );
        let whole: ScheduledFault = serde_json::from_str(r#"{"at_ms": 7, "crash": "n2"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&whole).unwrap(),
            r#"{"at_ms":7,"crash":"n2"}"#
        );
        for bad in ["1.0001", "-1", "-0.5"] {
            let text = format!(r#"{{"at_ms": {bad}, "crash": "n2"}}"#);
            assert!(
                serde_json::from_str::<ScheduledFault>(&text).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn nemesis_respects_its_budget_and_is_seeded() {
        let config = NemesisConfig {
            until_ms: 10_000,
            swarm: None,
            network: None,
            crash: Some(CrashSpec {
                interval_ms_mean: 100,
                down_ms_min: 10,
                down_ms_max: 20,
                max_down: None,
            }),
            pause: None,
            partition: None,
            clock: None,
            strikes: Vec::new(),
            disk: None,
        };
        let up = [true, false, true, true, true];
        let off = [false; 5];
        let world = WorldState {
            up: &up,
            off_limits: &off,
            links_cut: false,
        };
        let mut a = Nemesis::new(config.clone(), 5, 3);
        let mut b = Nemesis::new(config, 5, 3);
        let (fa, undo) = a.draw(NemesisKind::Crash, Time::ZERO, &world).unwrap();
        assert_eq!(
            Some((fa.clone(), undo.clone())),
            b.draw(NemesisKind::Crash, Time::ZERO, &world)
        );
        assert_ne!(
            fa,
            Fault::Crash(NodeId(1)),
            "must not pick a node that is already down"
        );
        assert!(matches!(undo, Some((_, Fault::Restart(_)))));
        let up = [true, false, false, true, true];
        let world = WorldState {
            up: &up,
            off_limits: &off,
            links_cut: false,
        };
        assert_eq!(
            a.draw(NemesisKind::Crash, Time::ZERO, &world),
            None,
            "two of five down is the budget"
        );
    }

    #[test]
    fn strikes_fire_by_chance_keep_the_budget_and_come_with_their_undo() {
        let strike = |fault, chance| StrikeSpec {
            note: "duty".into(),
            value: None,
            chance,
            fault,
            duration_ms_min: 10,
            duration_ms_max: 30,
        };
        let config = |strikes| NemesisConfig {
            until_ms: 10_000,
            swarm: None,
            network: None,
            crash: None,
            pause: None,
            partition: None,
            clock: None,
            strikes,
            disk: None,
        };
        let up = [true; 5];
        let off = [false; 5];
        let world = |up, links_cut| WorldState {
            up,
            off_limits: &off,
            links_cut,
        };
        let now = Time::from_ms(100);
        let fire = |nm: &mut Nemesis, i: usize, n: NodeId, w: &WorldState<'_>| {
            if nm.strike_fires(i) {
                nm.strike(i, n, now, w)
            } else {
                None
            }
        };
        let mut nm = Nemesis::new(
            config(vec![
                strike(StrikeFault::Crash, Ratio::ONE),
                strike(StrikeFault::Pause, Ratio::ONE),
                strike(StrikeFault::Isolate, Ratio::ONE),
                strike(StrikeFault::Crash, Ratio::ZERO),
            ]),
            5,
            1,
        );
        let (f, (t, undo)) = fire(&mut nm, 0, NodeId(2), &world(&up, false)).unwrap();
        assert_eq!(
            (f, undo),
            (Fault::Crash(NodeId(2)), Fault::Restart(NodeId(2)))
        );
        assert!(t >= Time::from_ms(110) && t <= Time::from_ms(130), "{t:?}");
        let (f, (_, undo)) = fire(&mut nm, 1, NodeId(3), &world(&up, false)).unwrap();
        assert_eq!(
            (f, undo),
            (Fault::Pause(NodeId(3)), Fault::Resume(NodeId(3)))
        );
        let (f, (_, undo)) = fire(&mut nm, 2, NodeId(4), &world(&up, false)).unwrap();
        assert_eq!(
            (f, undo),
            (Fault::Isolate(Endpoint::Node(NodeId(4))), Fault::HealLinks)
        );
        assert_eq!(fire(&mut nm, 3, NodeId(2), &world(&up, false)), None);
        assert_eq!(
            fire(&mut nm, 2, NodeId(4), &world(&up, true)),
            None,
            "links are cut"
        );
        let two_down = [true, false, false, true, true];
        assert_eq!(
            fire(&mut nm, 0, NodeId(0), &world(&two_down, false)),
            None,
            "two of five down is the budget"
        );
        assert_eq!(
            nm.strike(
                1,
                NodeId(1),
                now,
                &world(&[true, false, true, true, true], false)
            ),
            None,
            "a node that is down is not struck"
        );
        // A middling chance strikes sometimes, and the same seed strikes the same way.
        let half = || {
            Nemesis::new(
                config(vec![strike(StrikeFault::Crash, Ratio { ppm: 500_000 })]),
                5,
                7,
            )
        };
        let (mut a, mut b) = (half(), half());
        let run = |nm: &mut Nemesis| {
            (0..200)
                .map(|_| fire(nm, 0, NodeId(0), &world(&up, false)).is_some())
                .collect::<Vec<_>>()
        };
        let fired = run(&mut a);
        assert_eq!(fired, run(&mut b));
        let hits = fired.iter().filter(|&&x| x).count();
        assert!((60..140).contains(&hits), "{hits} of 200");
    }
}
