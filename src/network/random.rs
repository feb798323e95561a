//! The random network of the discrete-event driver: it decides, at each send, with the
//! network's own random stream, whether a message is lost, whether it is duplicated, and how
//! long each copy takes. The exhaustive explorer does not use it: there, loss and duplication
//! are actions of their own and copies take no time.

use super::{Degradation, Fate, LinkModel, Transport};
use crate::base::rng::{Rng, Stream};
use crate::base::types::{Endpoint, Time};

/// Per-link models and the random stream that samples them.
#[derive(Clone, Debug)]
pub struct RandomNetwork {
    /// Nodes come first among the vertices, then clients.
    nodes: u32,
    vertices: u32,
    models: Vec<LinkModel>,
    /// For each ordered pair (dense, `from * vertices + to`), the index into `models`.
    link_model: Vec<u16>,
    rng: Rng,
    /// Extra misbehaviour of every link while a nemesis drives it (until the heal).
    degraded: Option<Degradation>,
}

impl RandomNetwork {
    /// Every link of `nodes` nodes and `clients` clients behaves like `default`, drawing from
    /// the `Network` stream of `seed`.
    pub fn new(nodes: u32, clients: u32, default: LinkModel, seed: u64) -> RandomNetwork {
        let vertices = nodes + clients;
        RandomNetwork {
            nodes,
            vertices,
            models: vec![default],
            link_model: vec![0; (vertices * vertices) as usize],
            rng: Rng::new(seed, Stream::Network),
            degraded: None,
        }
    }

    fn vertex(&self, e: Endpoint) -> u32 {
        match e {
            Endpoint::Node(n) => n.0,
            Endpoint::Client(c) => self.nodes + c.0,
        }
    }

    /// Gives the directed link `from -> to` its own behaviour.
    pub fn set_link_model(&mut self, from: Endpoint, to: Endpoint, model: LinkModel) {
        let index = match self.models.iter().position(|m| *m == model) {
            Some(i) => i,
            None => {
                self.models.push(model);
                self.models.len() - 1
            }
        };
        let (a, b) = (self.vertex(from), self.vertex(to));
        self.link_model[(a * self.vertices + b) as usize] = index as u16;
    }

    /// Adds misbehaviour to every link (`Some`) or takes it away (`None`, at the heal).
    pub fn degrade(&mut self, d: Option<Degradation>) {
        self.degraded = d;
    }

    #[inline]
    fn copy_latency(rng: &mut Rng, model: &LinkModel, long_delays: &mut u8) -> Time {
        let mut us = model.latency.sample(rng);
        if let Some(long) = &model.long_delay {
            if rng.chance(long.ratio) {
                *long_delays += 1;
                us = us.saturating_add(rng.between(long.min_ms, long.max_ms).saturating_mul(1_000));
            }
        }
        Time(us)
    }
}

impl Transport for RandomNetwork {
    /// Draw order is fixed: loss, then duplication, then each copy's latency and long delay.
    #[inline]
    fn fate(&mut self, from: u32, to: u32) -> Fate {
        let model = &self.models[self.link_model[(from * self.vertices + to) as usize] as usize];
        if self.rng.chance(model.loss) {
            return Fate::Lost;
        }
        let mut duplicated = self.rng.chance(model.duplicate);
        // Draws for the degradation happen only while there is one, so runs without it
        // draw exactly as before.
        if let Some(d) = &self.degraded {
            if self.rng.chance(d.loss) {
                return Fate::Lost;
            }
            duplicated |= self.rng.chance(d.duplicate);
        }
        let mut long_delays = 0u8;
        let degraded = &self.degraded;
        let mut copy = |rng: &mut Rng| {
            let mut t = Self::copy_latency(rng, model, &mut long_delays);
            if let Some(long) = degraded.as_ref().and_then(|d| d.long_delay.as_ref()) {
                if rng.chance(long.ratio) {
                    long_delays += 1;
                    t = Time(t.0.saturating_add(
                        rng.between(long.min_ms, long.max_ms).saturating_mul(1_000),
                    ));
                }
            }
            t
        };
        let first = copy(&mut self.rng);
        let duplicate = duplicated.then(|| copy(&mut self.rng));
        Fate::Arrives {
            first,
            duplicate,
            long_delays,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::types::Ratio;
    use crate::network::Latency;

    #[test]
    fn loss_duplication_and_latency_follow_the_model() {
        let model = LinkModel {
            latency: Latency::Uniform {
                min_us: 100,
                max_us: 200,
            },
            loss: Ratio { ppm: 200_000 },
            duplicate: Ratio { ppm: 100_000 },
            long_delay: None,
        };
        let mut net = RandomNetwork::new(2, 0, model, 3);
        let (mut lost, mut dup) = (0, 0);
        for _ in 0..10_000 {
            match net.fate(0, 1) {
                Fate::Lost => lost += 1,
                Fate::Arrives {
                    first, duplicate, ..
                } => {
                    assert!((100..=200).contains(&first.0));
                    if duplicate.is_some() {
                        dup += 1;
                    }
                }
            }
        }
        assert!((1_800..2_200).contains(&lost), "{lost}");
        assert!((600..1_000).contains(&dup), "{dup}");
    }

    #[test]
    fn pareto_is_heavy_tailed_and_capped() {
        let mut rng = Rng::new(5, Stream::Network);
        let lat = Latency::Pareto {
            min_us: 1_000,
            max_us: 1_000_000,
        };
        let mut samples: Vec<u64> = (0..20_000).map(|_| lat.sample(&mut rng)).collect();
        samples.sort();
        let median = samples[samples.len() / 2];
        assert!((1_800..2_200).contains(&median), "median {median}");
        let p90 = samples[samples.len() * 9 / 10];
        assert!((9_000..11_000).contains(&p90), "p90 {p90}");
        assert!(samples.iter().all(|&s| (1_000..=1_000_000).contains(&s)));
    }
}
