//! Swarm mode: every seed draws its own fault kinds, rates, strikes and protocol knobs.
//!
//! The draws are a fixed sequence from the seed's `Swarm` stream: what a protocol's
//! vocabulary says only decides which drawn strike rules are kept, never how many numbers
//! are drawn, so a seed draws the same faults for every protocol. Must not import the engine,
//! network model, storage or trace.

use super::nemesis::all_shapes;
use super::{
    ClockSpec, CrashSpec, NemesisConfig, PartitionSpec, PauseSpec, Shape, StrikeFault, StrikeSpec,
};
use crate::base::rng::{Rng, Stream};
use crate::base::types::Ratio;
use crate::protocol::Vocabulary;
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
    /// Also draw strikes (see [`StrikeSpec`]) aimed at the moment a node announces a leading
    /// role or advances its main progress key, as the protocol's vocabulary names them (a
    /// protocol without those words gets no strikes).
    pub leader_bias: bool,
    /// Also draw network misbehaviour: loss, duplicates and long delays.
    pub network: bool,
    /// Protocol parameters to vary per seed, like FoundationDB's randomized knobs: each key
    /// names a `protocol.params` field and lists the values a seed picks from.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<serde_json::Value>>,
}

impl Default for SwarmSpec {
    fn default() -> Self {
        SwarmSpec {
            interval_ms: [200, 3_000],
            duration_ms_max: 2_000,
            leader_bias: true,
            network: true,
            params: BTreeMap::new(),
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
/// faults, loss, duplicates, long delays, leader-aimed faults) is in with a fixed chance,
/// with its own rates. Raw draws from the seed's `Swarm` stream, mapped by our own code, so
/// a seed draws the same swarm in every version that keeps this function. The strikes aim
/// at the moments `vocabulary` names (see [`SwarmSpec::leader_bias`]).
pub fn swarm(spec: &SwarmSpec, until_ms: u64, seed: u64, vocabulary: &Vocabulary) -> SwarmDraw {
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
    // The two moments a strike can aim at, in the protocol's own words: a node announcing a
    // leading role (its role key with its first leading value), and a node advancing its main
    // progress key (any new value).
    let leading = vocabulary
        .role
        .as_ref()
        .zip(vocabulary.leading.first())
        .map(|(key, value)| (key.clone(), Some(serde_json::json!(value))));
    let progress = vocabulary.progress.first().map(|key| (key.clone(), None));
    if spec.leader_bias && !coin(&mut rng, 4) {
        // Strike at the moments that matter: a node that has just become leader (its first
        // entries exist only on itself), and a node that has just advanced its progress (what
        // it decided may not have spread yet). Each rule fires again and again with its own
        // chance, so chains of such moments happen too.
        for _ in 0..rng.between(2, 4) {
            let fault = match rng.below(3) {
                0 => StrikeFault::Crash,
                1 => StrikeFault::Pause,
                _ => StrikeFault::Isolate,
            };
            let aim = if coin(&mut rng, 2) {
                leading.clone()
            } else {
                progress.clone()
            };
            // Every rule draws its chance and duration, kept or not, so that the draws after
            // it (and so every seed's swarm) do not depend on the protocol's vocabulary.
            let chance = permille(&mut rng, 50, 800);
            let duration_ms_max = rng.between(20, dmax);
            if let Some((note, value)) = aim {
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
    // Knobs last, in key order, so adding one never changes the fault draws above.
    let params = spec
        .params
        .iter()
        .filter(|(_, choices)| !choices.is_empty())
        .map(|(k, choices)| (k.clone(), choices[rng.index(choices.len())].clone()))
        .collect();
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
    fn a_swarm_is_a_function_of_its_seed_and_seeds_differ() {
        let spec = SwarmSpec::default();
        let v = words();
        assert_eq!(swarm(&spec, 8_000, 5, &v), swarm(&spec, 8_000, 5, &v));
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
            .map(|s| format!("{:?}", kinds(&swarm(&spec, 8_000, s, &v))))
            .collect();
        assert!(mixes.len() > 50, "only {} mixes in 200 seeds", mixes.len());
        let quiet = SwarmSpec {
            network: false,
            leader_bias: false,
            ..SwarmSpec::default()
        };
        for s in 0..50 {
            let d = swarm(&quiet, 8_000, s, &v);
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
                let d = swarm(&spec, 8_000, s, &v);
                assert_eq!(d.params.len(), 1);
                d.params["batch_max"].to_string()
            })
            .collect();
        assert_eq!(
            picks.into_iter().collect::<Vec<_>>(),
            vec!["1".to_string(), "64".to_string()]
        );
        // Knobs are drawn last: adding one leaves the fault draws as they were.
        let plain = swarm(&SwarmSpec::default(), 8_000, 9, &v);
        assert_eq!(swarm(&spec, 8_000, 9, &v).nemesis, plain.nemesis);
    }

    #[test]
    fn strikes_aim_at_the_vocabularys_leading_role_and_main_progress_key() {
        let v = words();
        let mut aims = std::collections::BTreeSet::new();
        for s in 0..200 {
            for strike in swarm(&SwarmSpec::default(), 8_000, s, &v).nemesis.strikes {
                aims.insert((strike.note, strike.value.map(|v| v.to_string())));
            }
        }
        // Only the first leading value and the first progress key are aimed at.
        let expected: std::collections::BTreeSet<(String, Option<String>)> = [
            ("duty".to_string(), Some("\"chief\"".to_string())),
            ("settled".to_string(), None),
        ]
        .into_iter()
        .collect();
        assert_eq!(aims, expected);
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
        let role_only = Vocabulary::none().role("duty", &["chief"], &[]);
        let progress_only = Vocabulary::none().progress(&["settled"]);
        let mut dropped = 0;
        for s in 0..200 {
            let all = swarm(&spec, 8_000, s, &full);
            for (v, keep) in [
                (&role_only, "duty"),
                (&progress_only, "settled"),
                (&Vocabulary::none(), ""),
            ] {
                let d = swarm(&spec, 8_000, s, v);
                assert_eq!(d.params, all.params, "seed {s}");
                let expected: Vec<StrikeSpec> = all
                    .nemesis
                    .strikes
                    .iter()
                    .filter(|x| x.note == keep)
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
}
