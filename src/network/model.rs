//! How links behave: latency distributions, loss, duplication and long delays, and the
//! extra misbehaviour a nemesis adds until the heal. Plain data, read by the random network.

use crate::base::rng::Rng;
use crate::base::types::Ratio;
use serde::{Deserialize, Serialize};

/// A latency distribution. All values are integer microseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    /// Every copy takes exactly `us`.
    Constant {
        /// Latency in microseconds.
        us: u64,
    },
    /// Uniform between `min_us` and `max_us` inclusive.
    Uniform {
        /// Smallest latency, microseconds.
        min_us: u64,
        /// Largest latency, microseconds.
        max_us: u64,
    },
    /// Heavy-tailed: a Pareto distribution of shape 1 starting at `min_us` (so the median is
    /// twice `min_us` and one copy in ten takes ten times `min_us`), cut off at `max_us`.
    /// Computed in integers: `min_us * 2^32 / u` with `u` uniform in `1..=2^32`.
    Pareto {
        /// Scale: the smallest latency, microseconds.
        min_us: u64,
        /// Cap on the tail, microseconds.
        max_us: u64,
    },
}

impl Latency {
    #[inline]
    pub(super) fn sample(&self, rng: &mut Rng) -> u64 {
        match *self {
            Latency::Constant { us } => us,
            Latency::Uniform { min_us, max_us } => rng.between(min_us, max_us),
            Latency::Pareto { min_us, max_us } => {
                let u = 1 + rng.below(1 << 32);
                let x = (u128::from(min_us) << 32) / u128::from(u);
                x.min(u128::from(max_us)) as u64
            }
        }
    }

    /// The bounds `(min, max)` this distribution can produce, for validation.
    pub fn bounds_us(&self) -> (u64, u64) {
        match *self {
            Latency::Constant { us } => (us, us),
            Latency::Uniform { min_us, max_us } | Latency::Pareto { min_us, max_us } => {
                (min_us, max_us)
            }
        }
    }
}

/// A share of messages held back much longer than the latency says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongDelay {
    /// Probability, per copy, of a long delay.
    pub ratio: Ratio,
    /// Extra delay range, milliseconds.
    pub min_ms: u64,
    /// Extra delay range, milliseconds.
    pub max_ms: u64,
}

/// How one directed link behaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkModel {
    /// One-way latency of each copy.
    pub latency: Latency,
    /// Probability, per message, that it is lost.
    #[serde(default)]
    pub loss: Ratio,
    /// Probability, per message, that it arrives twice (each copy has its own latency).
    #[serde(default)]
    pub duplicate: Ratio,
    /// Optional long delays for a share of copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_delay: Option<LongDelay>,
}

impl Default for LinkModel {
    fn default() -> Self {
        LinkModel {
            latency: Latency::Uniform {
                min_us: 500,
                max_us: 2_000,
            },
            loss: Ratio::ZERO,
            duplicate: Ratio::ZERO,
            long_delay: None,
        }
    }
}

/// Misbehaviour added on top of every link's own model (by a nemesis, until the heal).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Degradation {
    /// A further chance that a copy is lost.
    pub loss: Ratio,
    /// A further chance that a message is duplicated.
    pub duplicate: Ratio,
    /// A further chance of a long delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_delay: Option<LongDelay>,
}
