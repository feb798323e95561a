//! Network presets: named starting points for the network block (`perfect`, `lan`, `wan`,
//! `lossy`, `unreliable`, `lab`), resolved into the fields they stand for while a document
//! is read, so the effective JSON in a trace header needs no preset table to replay.

use super::error::{InputError, Where};
use super::format::ScenarioFile;
use crate::base::types::Ratio;
use crate::network::{Latency, LinkModel, LongDelay};

/// The named network presets.
pub const PRESETS: &[(&str, &str)] = &[
    ("perfect", "constant 1 ms, no loss, no duplicates"),
    ("lan", "uniform 0.2-1 ms, no loss"),
    ("wan", "Pareto from 20 ms (median 40 ms) capped at 2 s"),
    ("lossy", "uniform 1-10 ms, 5% loss, 2% duplicates"),
    (
        "unreliable",
        "Pareto from 5 ms capped at 5 s, 10% loss, 5% duplicates, 2% delayed 0.5-3 s",
    ),
    (
        "lab",
        "uniform 0-27 ms, 10% loss, 1% duplicates, 10% delayed 0.2-2 s (the Raft labs' network)",
    ),
];

fn preset(name: &str) -> Option<LinkModel> {
    let ppm = |p| Ratio { ppm: p };
    Some(match name {
        "perfect" => LinkModel {
            latency: Latency::Constant { us: 1_000 },
            loss: Ratio::ZERO,
            duplicate: Ratio::ZERO,
            long_delay: None,
        },
        "lan" => LinkModel {
            latency: Latency::Uniform {
                min_us: 200,
                max_us: 1_000,
            },
            loss: Ratio::ZERO,
            duplicate: Ratio::ZERO,
            long_delay: None,
        },
        "wan" => LinkModel {
            latency: Latency::Pareto {
                min_us: 20_000,
                max_us: 2_000_000,
            },
            loss: Ratio::ZERO,
            duplicate: Ratio::ZERO,
            long_delay: None,
        },
        "lossy" => LinkModel {
            latency: Latency::Uniform {
                min_us: 1_000,
                max_us: 10_000,
            },
            loss: ppm(50_000),
            duplicate: ppm(20_000),
            long_delay: None,
        },
        "unreliable" => LinkModel {
            latency: Latency::Pareto {
                min_us: 5_000,
                max_us: 5_000_000,
            },
            loss: ppm(100_000),
            duplicate: ppm(50_000),
            long_delay: Some(LongDelay {
                ratio: ppm(20_000),
                min_ms: 500,
                max_ms: 3_000,
            }),
        },
        "lab" => LinkModel {
            latency: Latency::Uniform {
                min_us: 0,
                max_us: 27_000,
            },
            loss: ppm(100_000),
            duplicate: ppm(10_000),
            long_delay: Some(LongDelay {
                ratio: ppm(100_000),
                min_ms: 200,
                max_ms: 2_000,
            }),
        },
        _ => return None,
    })
}

/// Replaces `network.preset` with the fields it stands for (explicit fields win), so the
/// effective JSON in a trace header needs no preset table to replay.
pub(crate) fn resolve_network(
    json: &mut serde_json::Value,
    file: &ScenarioFile,
    place: &Where<'_>,
) -> Result<(), InputError> {
    let Some(name) = &file.network.preset else {
        return Ok(());
    };
    let Some(base) = preset(name) else {
        let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
        return Err(place.error(
            "network.preset",
            format!(
                "unknown preset {name:?}; expected one of: {}",
                names.join(", ")
            ),
        ));
    };
    let net = json
        .get_mut("network")
        .and_then(|n| n.as_object_mut())
        .expect("network parsed as an object");
    net.remove("preset");
    let base = serde_json::to_value(&base).expect("link models serialize");
    for (k, v) in base.as_object().expect("a struct serializes as an object") {
        net.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Ok(())
}
