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

mod nemesis;
mod swarm;

pub use nemesis::{
    ClockSpec, CrashSpec, Nemesis, NemesisConfig, NemesisKind, PartitionSpec, PauseSpec, Shape,
    StrikeFault, StrikeSpec, WorldState,
};
pub use swarm::{SwarmDraw, SwarmSpec, swarm};

use crate::base::types::{Endpoint, NodeId, Time};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
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
}

impl Fault {
    /// The same fault about node `n` instead, for faults about one node.
    pub fn aimed_at(&self, n: NodeId) -> Fault {
        match self {
            Fault::Crash(_) => Fault::Crash(n),
            Fault::Restart(_) => Fault::Restart(n),
            Fault::Pause(_) => Fault::Pause(n),
            Fault::Resume(_) => Fault::Resume(n),
            Fault::Isolate(Endpoint::Node(_)) => Fault::Isolate(Endpoint::Node(n)),
            Fault::ClockStep { offset_ms, .. } => Fault::ClockStep {
                node: n,
                offset_ms: *offset_ms,
            },
            Fault::ClockDrift { ppm, .. } => Fault::ClockDrift { node: n, ppm: *ppm },
            other => other.clone(),
        }
    }

    /// The node this fault is about, if one.
    pub fn node(&self) -> Option<NodeId> {
        match self {
            Fault::Crash(n) | Fault::Restart(n) | Fault::Pause(n) | Fault::Resume(n) => Some(*n),
            Fault::ClockStep { node, .. } | Fault::ClockDrift { node, .. } => Some(*node),
            Fault::Isolate(Endpoint::Node(n)) => Some(*n),
            Fault::Bridge { via, .. } => Some(*via),
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
            Fault::HealLinks | Fault::Heal => vec![],
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
        }
    }
}

/// All scenario keys a fault entry may use besides `at_ms`.
pub const FAULT_KEYS: &[&str] = FAULT_KEYS_WITH_AT.split_at(2).1;

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
    /// What.
    pub fault: Fault,
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
    /// Aim the fault at the node that annotated instead of the node it names (for faults
    /// about one node: crash, restart, pause, resume, isolate, clock faults).
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
    /// for the faults that take no argument.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2 + usize::from(self.on.is_some())))?;
        if self.at_us % 1_000 == 0 {
            map.serialize_entry("at_ms", &(self.at_us / 1_000))?;
        } else {
            // Exact: a float prints the shortest text that parses back to it, and
            // `ms_to_us` rounds it back to the same microsecond.
            map.serialize_entry("at_ms", &(self.at_us as f64 / 1_000.0))?;
        }
        if let Some(on) = &self.on {
            map.serialize_entry("on", on)?;
        }
        let key = self.fault.key();
        match &self.fault {
            Fault::Crash(n) | Fault::Restart(n) | Fault::Pause(n) | Fault::Resume(n) => {
                map.serialize_entry(key, n)?
            }
            Fault::Partition(g) => map.serialize_entry(key, g)?,
            Fault::Bridge { groups, via } => {
                map.serialize_entry(key, &serde_json::json!({"groups": groups, "via": via}))?
            }
            Fault::Isolate(e) => map.serialize_entry(key, e)?,
            Fault::Cut { from, to } | Fault::Repair { from, to } => {
                map.serialize_entry(key, &serde_json::json!({"from": from, "to": to}))?
            }
            Fault::HealLinks | Fault::Heal => map.serialize_entry(key, &true)?,
            Fault::ClockStep { node, offset_ms } => map.serialize_entry(
                key,
                &serde_json::json!({"node": node, "offset_ms": offset_ms}),
            )?,
            Fault::ClockDrift { node, ppm } => {
                map.serialize_entry(key, &serde_json::json!({"node": node, "ppm": ppm}))?
            }
        }
        map.end()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkSpec {
    from: Endpoint,
    to: Endpoint,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BridgeSpec {
    groups: Vec<Vec<Endpoint>>,
    via: NodeId,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    node: NodeId,
    offset_ms: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DriftSpec {
    node: NodeId,
    ppm: i32,
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
                while let Some(key) = map.next_key::<String>()? {
                    if key == "on" {
                        if on.is_some() {
                            return Err(de::Error::duplicate_field("on"));
                        }
                        on = Some(map.next_value::<NoteTrigger>()?);
                        continue;
                    }
                    if key == "at_ms" {
                        if at_ms.is_some() {
                            return Err(de::Error::duplicate_field("at_ms"));
                        }
                        let n = map.next_value::<serde_json::Number>()?;
                        at_ms = Some(ms_to_us(&n).map_err(de::Error::custom)?);
                        continue;
                    }
                    if fault.is_some() {
                        return Err(de::Error::custom(format!(
                            "one fault per entry: `{key}` follows another fault key; split it into its own entry"
                        )));
                    }
                    fault = Some(match key.as_str() {
                        "crash" => Fault::Crash(map.next_value()?),
                        "restart" => Fault::Restart(map.next_value()?),
                        "pause" => Fault::Pause(map.next_value()?),
                        "resume" => Fault::Resume(map.next_value()?),
                        "partition" => Fault::Partition(map.next_value()?),
                        "isolate" => Fault::Isolate(map.next_value()?),
                        "bridge" => {
                            let b: BridgeSpec = map.next_value()?;
                            Fault::Bridge {
                                groups: b.groups,
                                via: b.via,
                            }
                        }
                        "cut" => {
                            let l: LinkSpec = map.next_value()?;
                            Fault::Cut {
                                from: l.from,
                                to: l.to,
                            }
                        }
                        "repair" => {
                            let l: LinkSpec = map.next_value()?;
                            Fault::Repair {
                                from: l.from,
                                to: l.to,
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
                                node: s.node,
                                offset_ms: s.offset_ms,
                            }
                        }
                        "clock_drift" => {
                            let s: DriftSpec = map.next_value()?;
                            Fault::ClockDrift {
                                node: s.node,
                                ppm: s.ppm,
                            }
                        }
                        other => {
                            return Err(de::Error::unknown_field(other, FAULT_KEYS_WITH_AT));
                        }
                    });
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
                Ok(ScheduledFault { at_us, on, fault })
            }
        }
        d.deserialize_map(V)
    }
}

const FAULT_KEYS_WITH_AT: &[&str] = &[
    "at_ms",
    "on",
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
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::types::Ratio;

    #[test]
    fn fault_entries_parse_and_reject_mistakes() {
        let f: ScheduledFault = serde_json::from_str(r#"{"at_ms": 5, "crash": "n2"}"#).unwrap();
        assert_eq!(
            f,
            ScheduledFault {
                at_us: 5_000,
                on: None,
                fault: Fault::Crash(NodeId(1))
            }
        );
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
