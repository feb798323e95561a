//! Swarm mode: every seed draws its own fault kinds, rates, strikes and protocol knobs.

use super::nemesis::all_shapes;
use super::{
    ClockSpec, CrashSpec, NemesisConfig, PartitionSpec, PauseSpec, Shape, StrikeFault, StrikeSpec,
};
use crate::base::rng::{Rng, Stream};
use crate::base::types::Ratio;
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
    /// Also draw strikes (see [`StrikeSpec`]) aimed at the moment a node announces `role` =
    /// `leader` or a new `commit` index (for protocols that annotate them).
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
/// a seed draws the same swarm in every version that keeps this function.
pub fn swarm(spec: &SwarmSpec, until_ms: u64, seed: u64) -> SwarmDraw {
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
    if spec.leader_bias && !coin(&mut rng, 4) {
        // Strike at the moments that matter: a node that has just become leader (its first
        // entries exist only on itself), and a node that has just advanced its commit index
        // (what it committed may not have spread yet). Each rule fires again and again with
        // its own chance, so chains of such moments happen too.
        for _ in 0..rng.between(2, 4) {
            let fault = match rng.below(3) {
                0 => StrikeFault::Crash,
                1 => StrikeFault::Pause,
                _ => StrikeFault::Isolate,
            };
            let (note, value) = if coin(&mut rng, 2) {
                ("role", Some(serde_json::json!("leader")))
            } else {
                ("commit", None)
            };
            let chance = permille(&mut rng, 50, 800);
            let duration_ms_max = rng.between(20, dmax);
            strikes.push(StrikeSpec {
                note: note.into(),
                value,
                chance,
                fault,
                duration_ms_min: 10,
                duration_ms_max,
            });
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
