//! Swarm mode: every seed draws its own fault kinds, rates, strikes and protocol knobs.
//!
//! The draws are a fixed sequence from the seed's `Swarm` stream: what a protocol's
//! vocabulary says only decides which drawn strike rules are kept, never how many numbers
//! are drawn, so a seed draws the same faults for every protocol. Must not import the engine,
//! network model, storage or trace.

use super::nemesis::{DiskSpec, all_shapes};
use super::{
    ClockSpec, CrashSpec, NemesisConfig, PartitionSpec, PauseSpec, Shape, StrikeFault, StrikeSpec,
};
use crate::base::rng::{Rng, Stream};
use crate::base::types::Ratio;
use crate::protocol::{Knob, KnobValues, Vocabulary};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Swarm mode (`"nemesis": {"until_ms": ..., "swarm": {}}`): every seed draws its own set of
/// fault kinds and rates (in the spirit of swarm testing), so different seeds stress
/// different combinations. See [`swarm`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwarmSpec {
    /// The mean time between faults of one kind is drawn between these, milliseconds.
    pub interval_ms: [u64; 2],
    /// Longest outage, pause or partition drawn, milliseconds.
    pub duration_ms_max: u64,
    /// Also draw strikes (see [`StrikeSpec`]) aimed at the moments the protocol's vocabulary
    /// names: a node taking any leading or contending role, moving to a new epoch, or
    /// advancing any progress key (a protocol without those words gets no strikes).
    pub leader_bias: bool,
    /// Also draw network misbehaviour: loss, duplicates and long delays.
    pub network: bool,
    /// Protocol parameters to vary per seed, like FoundationDB's randomized knobs: each key
    /// names a `protocol.params` field and lists the values a seed picks from.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<serde_json::Value>>,
    /// Also vary every parameter the protocol declares safe to vary
    /// ([`Protocol::knobs`](crate::protocol::Protocol::knobs)), within its declared range,
    /// after the `params` above (which win for a parameter listed in both).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub knobs: bool,
    /// Add the checks the protocol owes after the heal
    /// ([`Protocol::liveness`](crate::protocol::Protocol::liveness)), as `eventually` checks
    /// with the budgets its formulas give for the parameters this seed drew. A check the
    /// scenario already expects keeps the scenario's own terms.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub liveness: bool,
    /// Draw crashes (the default). `false` keeps crashes out of every seed (a strike that
    /// would crash pauses instead) for a protocol that does not tolerate them, such as
    /// Lamport's mutual exclusion; the draws stay as they were, so the other faults do not
    /// move.
    #[serde(skip_serializing_if = "is_true")]
    pub crashes: bool,
    /// Also draw storage faults, of the kinds the scenario's atlas lists (it needs one), from
    /// their own random stream: no other draw moves.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disk: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Default for SwarmSpec {
    fn default() -> Self {
        SwarmSpec {
            interval_ms: [200, 3_000],
            duration_ms_max: 2_000,
            leader_bias: true,
            network: true,
            params: BTreeMap::new(),
            knobs: false,
            liveness: false,
            crashes: true,
            disk: false,
        }
    }
}

/// What a strike does, one draw.
fn strike_fault(rng: &mut Rng) -> StrikeFault {
    match rng.below(3) {
        0 => StrikeFault::Crash,
        1 => StrikeFault::Pause,
        _ => StrikeFault::Isolate,
    }
}

/// The kinds of moment a strike can aim at, in the vocabulary's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Moment {
    /// A node announces a leading role value.
    Leading,
    /// A node announces a contending role value.
    Contending,
    /// A node announces a new epoch.
    Epoch,
    /// A node advances a progress key.
    Progress,
}

impl Moment {
    /// One draw, each kind equally likely.
    fn draw(rng: &mut Rng) -> Moment {
        match rng.below(4) {
            0 => Moment::Leading,
            1 => Moment::Contending,
            2 => Moment::Epoch,
            _ => Moment::Progress,
        }
    }

    /// The annotation (key, and the value it must have, if any) this moment names in
    /// `vocabulary`, choosing among several values or keys by `pick`; `None` when the
    /// vocabulary has no such words.
    fn aim(
        self,
        vocabulary: &Vocabulary,
        pick: usize,
    ) -> Option<(String, Option<serde_json::Value>)> {
        let one = |list: &[String]| (!list.is_empty()).then(|| list[pick % list.len()].clone());
        match self {
            Moment::Leading => {
                let key = vocabulary.role.clone()?;
                one(&vocabulary.leading).map(|v| (key, Some(serde_json::json!(v))))
            }
            Moment::Contending => {
                let key = vocabulary.role.clone()?;
                one(&vocabulary.contending).map(|v| (key, Some(serde_json::json!(v))))
            }
            Moment::Epoch => vocabulary.epoch.clone().map(|key| (key, None)),
            Moment::Progress => one(&vocabulary.progress).map(|key| (key, None)),
        }
    }
}

/// What a swarm drew for one seed: a plain nemesis (network misbehaviour and strikes
/// included) and the protocol parameters it picked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmDraw {
    /// The nemesis to run.
    pub nemesis: NemesisConfig,
    /// `protocol.params` fields to set, from [`SwarmSpec::params`].
    pub params: BTreeMap<String, serde_json::Value>,
}

/// Draws one seed's swarm: each fault kind (crashes, pauses, each partition shape, clock
/// faults, loss, duplicates, long delays, strikes) is in with a fixed chance, with its own
/// rates. Raw draws from the seed's `Swarm` stream, mapped by our own code, so a seed draws
/// the same swarm in every version that keeps this function. The strikes aim at the moments
/// `vocabulary` names (see [`SwarmSpec::leader_bias`]); with [`SwarmSpec::knobs`], `knobs`
/// (the protocol's) are drawn too.
pub fn swarm(
    spec: &SwarmSpec,
    until_ms: u64,
    seed: u64,
    vocabulary: &Vocabulary,
    knobs: &[Knob],
) -> SwarmDraw {
    let mut rng = Rng::new(seed, Stream::Swarm);
    let [lo, hi] = spec.interval_ms;
    let (lo, hi) = (lo.max(1), hi.max(lo.max(1)));
    let dmax = spec.duration_ms_max.max(20);
    let interval = |rng: &mut Rng| rng.between(lo, hi);
    let coin = |rng: &mut Rng, in_n: u64| rng.below(in_n) == 0;
    let crash = coin(&mut rng, 2).then(|| CrashSpec {
        interval_ms_mean: interval(&mut rng),
        down_ms_min: 10,
        down_ms_max: rng.between(20, dmax),
        max_down: None,
    });
    let crash = crash.filter(|_| spec.crashes);
    let tame = |fault: StrikeFault| match fault {
        StrikeFault::Crash if !spec.crashes => StrikeFault::Pause,
        other => other,
    };
    let pause = coin(&mut rng, 2).then(|| PauseSpec {
        interval_ms_mean: interval(&mut rng),
        duration_ms_min: 10,
        duration_ms_max: rng.between(20, dmax),
    });
    let shapes: Vec<Shape> = all_shapes()
        .into_iter()
        .filter(|_| coin(&mut rng, 2))
        .collect();
    let partition = (!shapes.is_empty()).then(|| PartitionSpec {
        interval_ms_mean: interval(&mut rng),
        duration_ms_min: 20,
        duration_ms_max: rng.between(40, dmax),
        shapes,
    });
    let clock = coin(&mut rng, 3).then(|| ClockSpec {
        interval_ms_mean: interval(&mut rng),
        step_ms_max: rng.between(1, 1_000),
        drift_ppm_max: rng.between(100, 100_000) as u32,
    });
    let permille = |rng: &mut Rng, lo: u64, hi: u64| Ratio {
        ppm: (rng.between(lo, hi) * 1_000) as u32,
    };
    let mut network = None;
    if spec.network {
        let loss = coin(&mut rng, 2).then(|| permille(&mut rng, 5, 150));
        let duplicate = coin(&mut rng, 3).then(|| permille(&mut rng, 5, 80));
        let long_delay = coin(&mut rng, 3).then(|| {
            let min_ms = rng.between(50, 500);
            crate::network::LongDelay {
                ratio: permille(&mut rng, 5, 80),
                min_ms,
                max_ms: min_ms + rng.between(0, 2_000),
            }
        });
        if loss.is_some() || duplicate.is_some() || long_delay.is_some() {
            network = Some(crate::network::Degradation {
                loss: loss.unwrap_or(Ratio::ZERO),
                duplicate: duplicate.unwrap_or(Ratio::ZERO),
                long_delay,
            });
        }
    }
    let mut strikes = Vec::new();
    if spec.leader_bias && !coin(&mut rng, 4) {
        // Strike at the moments that matter most: a node that has just taken the leading
        // role (its first entries exist only on itself), and a node that has just advanced
        // its main progress key (what it decided may not have spread yet). Each rule fires
        // again and again with its own chance, so chains of such moments happen too.
        for _ in 0..rng.between(2, 4) {
            let fault = tame(strike_fault(&mut rng));
            let moment = if coin(&mut rng, 2) {
                Moment::Leading
            } else {
                Moment::Progress
            };
            // Every rule draws its chance and duration, kept or not, so that the draws after
            // it (and so every seed's swarm) do not depend on the protocol's vocabulary.
            let chance = permille(&mut rng, 50, 800);
            let duration_ms_max = rng.between(20, dmax);
            if let Some((note, value)) = moment.aim(vocabulary, 0) {
                strikes.push(StrikeSpec {
                    note,
                    value,
                    chance,
                    fault,
                    duration_ms_min: 10,
                    duration_ms_max,
                });
            }
        }
        // Then up to two rules aimed at any other moment the vocabulary names: any leading
        // or contending role, an epoch change, any progress key, so that faults also land
        // in the middle of an election. Drawn after the rules above, so those stay as they
        // were; their chances are lower, since an epoch changes on every node at once.
        for _ in 0..rng.below(3) {
            let fault = tame(strike_fault(&mut rng));
            let moment = Moment::draw(&mut rng);
            let pick = rng.below(1 << 16) as usize;
            let chance = permille(&mut rng, 20, 400);
            let duration_ms_max = rng.between(20, dmax);
            if let Some((note, value)) = moment.aim(vocabulary, pick) {
                strikes.push(StrikeSpec {
                    note,
                    value,
                    chance,
                    fault,
                    duration_ms_min: 10,
                    duration_ms_max,
                });
            }
        }
    }
    // Knobs last, in key order, so adding one never changes the fault draws above; then the
    // protocol's own knobs (with `knobs`), in the order it declares them. A knob the scenario
    // lists itself is still drawn (so the draws after it stay put) but the scenario's list
    // decides.
    let mut params: BTreeMap<String, serde_json::Value> = spec
        .params
        .iter()
        .filter(|(_, choices)| !choices.is_empty())
        .map(|(k, choices)| (k.clone(), choices[rng.index(choices.len())].clone()))
        .collect();
    if spec.knobs {
        for knob in knobs {
            let value = match &knob.values {
                KnobValues::OneOf(v) if v.is_empty() => continue,
                KnobValues::OneOf(v) => v[rng.index(v.len())].clone(),
                KnobValues::Between(lo, hi) => rng.between(*lo, (*hi).max(*lo)).into(),
            };
            params.entry(knob.param.to_string()).or_insert(value);
        }
    }
    // Storage faults from their own stream, so that turning them on moves no draw above.
    let disk = spec.disk.then(|| {
        let mut rng = Rng::new(seed, Stream::DiskNemesis);
        DiskSpec {
            interval_ms_mean: rng.between(lo, hi),
            kinds: Vec::new(),
            down_ms_min: 10,
            down_ms_max: rng.between(20, dmax),
        }
    });
    SwarmDraw {
        nemesis: NemesisConfig {
            until_ms,
            crash,
            pause,
            partition,
            clock,
            network,
            strikes,
            swarm: None,
            disk,
        },
        params,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up protocol's words: its leader is a `chief` on the `duty` key, its progress is
    /// `settled` (then `filed`).
    fn words() -> Vocabulary {
        Vocabulary::none()
            .role("duty", &["chief", "deputy"], &["hopeful"])
            .epoch("era")
            .progress(&["settled", "filed"])
    }

    #[test]
    fn a_swarm_without_crashes_keeps_every_other_draw() {
        let spec = SwarmSpec::default();
        let calm = SwarmSpec {
            crashes: false,
            ..SwarmSpec::default()
        };
        let mut crashes = 0;
        for seed in 1..40 {
            let (a, b) = (
                swarm(&spec, 8_000, seed, &words(), &[]),
                swarm(&calm, 8_000, seed, &words(), &[]),
            );
            crashes += usize::from(a.nemesis.crash.is_some());
            assert!(b.nemesis.crash.is_none());
            assert!(
                b.nemesis
                    .strikes
                    .iter()
                    .all(|s| s.fault != StrikeFault::Crash)
            );
            assert_eq!(a.nemesis.pause, b.nemesis.pause);
            assert_eq!(a.nemesis.strikes.len(), b.nemesis.strikes.len());
        }
        assert!(crashes > 0);
    }

    #[test]
    fn a_swarm_is_a_function_of_its_seed_and_seeds_differ() {
        let spec = SwarmSpec::default();
        let v = words();
        assert_eq!(
            swarm(&spec, 8_000, 5, &v, &[]),
            swarm(&spec, 8_000, 5, &v, &[])
        );
        let kinds = |d: &SwarmDraw| {
            (
                d.nemesis.crash.is_some(),
                d.nemesis.pause.is_some(),
                d.nemesis.partition.as_ref().map(|p| p.shapes.clone()),
                d.nemesis.clock.is_some(),
                d.nemesis.network.clone(),
                d.nemesis.strikes.len(),
            )
        };
        let mixes: std::collections::BTreeSet<String> = (0..200)
            .map(|s| format!("{:?}", kinds(&swarm(&spec, 8_000, s, &v, &[]))))
            .collect();
        assert!(mixes.len() > 50, "only {} mixes in 200 seeds", mixes.len());
        let quiet = SwarmSpec {
            network: false,
            leader_bias: false,
            ..SwarmSpec::default()
        };
        for s in 0..50 {
            let d = swarm(&quiet, 8_000, s, &v, &[]);
            assert!(d.nemesis.network.is_none() && d.nemesis.strikes.is_empty());
            assert!(d.params.is_empty());
        }
    }

    #[test]
    fn swarm_knobs_pick_from_their_lists_and_vary() {
        let mut spec = SwarmSpec::default();
        spec.params.insert(
            "batch_max".into(),
            vec![serde_json::json!(1), serde_json::json!(64)],
        );
        let v = words();
        let picks: std::collections::BTreeSet<String> = (0..100)
            .map(|s| {
                let d = swarm(&spec, 8_000, s, &v, &[]);
                assert_eq!(d.params.len(), 1);
                d.params["batch_max"].to_string()
            })
            .collect();
        assert_eq!(
            picks.into_iter().collect::<Vec<_>>(),
            vec!["1".to_string(), "64".to_string()]
        );
        // Knobs are drawn last: adding one leaves the fault draws as they were.
        let plain = swarm(&SwarmSpec::default(), 8_000, 9, &v, &[]);
        assert_eq!(swarm(&spec, 8_000, 9, &v, &[]).nemesis, plain.nemesis);
    }

    #[test]
    fn strikes_aim_at_every_role_epoch_and_progress_moment_of_the_vocabulary() {
        let v = words();
        let mut aims = std::collections::BTreeMap::new();
        for s in 0..400 {
            for strike in swarm(&SwarmSpec::default(), 8_000, s, &v, &[])
                .nemesis
                .strikes
            {
                *aims
                    .entry((strike.note, strike.value.map(|v| v.to_string())))
                    .or_insert(0u32) += 1;
            }
        }
        // Every leading and contending role value, the epoch and every progress key.
        let seen: Vec<(String, Option<String>)> = aims.keys().cloned().collect();
        let q = |s: &str| Some(format!("\"{s}\""));
        assert_eq!(
            seen,
            vec![
                ("duty".to_string(), q("chief")),
                ("duty".to_string(), q("deputy")),
                ("duty".to_string(), q("hopeful")),
                ("era".to_string(), None),
                ("filed".to_string(), None),
                ("settled".to_string(), None),
            ]
        );
        // Each moment is aimed at often enough to matter.
        assert!(aims.values().all(|&n| n >= 20), "{aims:?}");
    }

    #[test]
    fn the_vocabulary_keeps_or_drops_strikes_but_never_moves_a_draw() {
        // A protocol with a role but no progress key, one with progress but no role, and one
        // without words: each gets exactly the full vocabulary's strikes that it can use,
        // and every other draw (faults, rates, knobs) is the same.
        let mut spec = SwarmSpec::default();
        spec.params.insert(
            "batch_max".into(),
            vec![serde_json::json!(1), serde_json::json!(64)],
        );
        let full = words();
        let role_only = Vocabulary::none().role("duty", &["chief", "deputy"], &["hopeful"]);
        let progress_only = Vocabulary::none().progress(&["settled", "filed"]);
        let mut dropped = 0;
        for s in 0..200 {
            let all = swarm(&spec, 8_000, s, &full, &[]);
            for (v, keep) in [
                (&role_only, &["duty"][..]),
                (&progress_only, &["settled", "filed"][..]),
                (&Vocabulary::none(), &[][..]),
            ] {
                let d = swarm(&spec, 8_000, s, v, &[]);
                assert_eq!(d.params, all.params, "seed {s}");
                let expected: Vec<StrikeSpec> = all
                    .nemesis
                    .strikes
                    .iter()
                    .filter(|x| keep.contains(&x.note.as_str()))
                    .cloned()
                    .collect();
                dropped += all.nemesis.strikes.len() - expected.len();
                assert_eq!(d.nemesis.strikes, expected, "seed {s}");
                let mut same = all.nemesis.clone();
                same.strikes = expected;
                assert_eq!(d.nemesis, same, "seed {s}");
            }
        }
        assert!(
            dropped > 100,
            "only {dropped} strikes dropped: the test proves little"
        );
    }

    #[test]
    fn protocol_knobs_are_drawn_only_when_asked_within_their_ranges_and_last() {
        let knobs = vec![
            Knob::switch("fast"),
            Knob::between("period_ms", 10, 20),
            Knob::one_of("mode", &["a".into()]),
        ];
        let v = words();
        let off = SwarmSpec::default();
        let on = SwarmSpec {
            knobs: true,
            ..SwarmSpec::default()
        };
        let mut seen = std::collections::BTreeSet::new();
        for s in 0..200 {
            let plain = swarm(&off, 8_000, s, &v, &knobs);
            assert!(plain.params.is_empty(), "seed {s}: knobs drawn while off");
            let d = swarm(&on, 8_000, s, &v, &knobs);
            // Drawn after everything else: the faults are those drawn without them.
            assert_eq!(d.nemesis, plain.nemesis, "seed {s}");
            let period = d.params["period_ms"].as_u64().unwrap();
            assert!((10..=20).contains(&period), "{period}");
            assert_eq!(d.params["mode"], "a");
            seen.insert((d.params["fast"].to_string(), period));
        }
        assert_eq!(seen.len(), 22, "every pair of values is drawn: {seen:?}");
        // A knob the scenario lists itself: its list decides.
        let mut listed = on.clone();
        listed
            .params
            .insert("period_ms".into(), vec![serde_json::json!(99)]);
        for s in 0..20 {
            assert_eq!(swarm(&listed, 8_000, s, &v, &knobs).params["period_ms"], 99);
        }
    }
}
