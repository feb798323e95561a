//! Delivery orders beyond uniform random delays: strategies that bend each copy's latency at
//! send so that a run reaches orders random delays rarely produce. The network's own draws
//! (loss, duplication, latency) are made first and unchanged; a strategy only adds delay, so
//! it never makes a copy faster than its link allows.
//!
//! - `random`: no change (the default; draws nothing, so runs are as before).
//! - `oldest`: every receiver takes its messages in the order they were sent (a copy never
//!   overtakes one sent before it to the same receiver), so one long delay holds back what
//!   follows it, as on one ordered connection.
//! - `newest`: time is cut into windows of a drawn length; a copy sent later in a window gets
//!   less extra delay than one sent earlier, so the newest messages tend to overtake.
//! - `pct`: PCT-style priorities (Burckhardt et al., "A randomized scheduler with
//!   probabilistic guarantees of finding bugs", ASPLOS 2010). Every sender gets a random
//!   priority; a copy's extra delay grows with its sender's rank, so the messages of the
//!   highest-priority sender overtake the others. At `depth - 1` change points, drawn
//!   uniformly over the run's faulty phase (over the whole run when it has none), the sender
//!   that then holds the highest priority drops to the lowest.
//! - `swarm`: each seed draws one of the above (and its depth or window) from its own stream.
//!
//! PCT's guarantee: for a program of n threads and k steps, a bug of depth d (d ordering
//! constraints between events) is found by one run with probability at least 1/(n·k^(d-1)).
//! Here that bound is a motivation, not a promise: the scheduler does not choose the next
//! step, it delays copies by whole milliseconds, so a low-priority sender is slowed, not
//! starved; timers fire on their own clocks, loss, duplication and faults interleave, and
//! change points fall at times, not at step counts. The strategy reaches the orders PCT aims
//! at (one node's messages consistently late, the roles flipping a few times) without the
//! bound.
//!
//! Draws come from the seed's `Order` stream, which only a strategy other than `random`
//! creates, so scenarios that do not opt in draw exactly as before.

use crate::base::rng::{Rng, Stream};
use crate::base::types::Time;
use serde::{Deserialize, Serialize};

/// The delivery order a scenario asks for (`network.order`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Order {
    /// Uniform random delays only.
    #[default]
    Random,
    /// Each receiver takes its messages in send order.
    Oldest,
    /// Later messages overtake earlier ones within windows of a drawn length.
    Newest,
    /// Sender priorities with `depth - 1` change points.
    Pct {
        /// The bug depth aimed at: 1 to [`PCT_DEPTH_MAX`].
        depth: u32,
    },
    /// Each seed draws one of the others.
    Swarm,
}

/// Largest PCT depth a scenario may ask for.
pub const PCT_DEPTH_MAX: u32 = 8;

impl Order {
    /// The name used in reports and coverage (`pct` carries its depth: `pct3`).
    pub fn name(self) -> String {
        match self {
            Order::Random => "random".into(),
            Order::Oldest => "oldest".into(),
            Order::Newest => "newest".into(),
            Order::Pct { depth } => format!("pct{depth}"),
            Order::Swarm => "swarm".into(),
        }
    }

    /// Why this order is not valid, if it is not.
    pub fn invalid(self) -> Option<String> {
        match self {
            Order::Pct { depth } if depth == 0 || depth > PCT_DEPTH_MAX => Some(format!(
                "pct depth must be 1 to {PCT_DEPTH_MAX}, found {depth}"
            )),
            _ => None,
        }
    }
}

/// A strategy at work in one run: its draws and what it remembers.
#[derive(Clone, Debug)]
pub struct Orderer {
    /// The strategy this seed runs (never `Swarm`).
    order: Order,
    /// `oldest`: the latest arrival scheduled so far to each vertex.
    last_arrival: Vec<Time>,
    /// `newest`: window length.
    window: Time,
    /// `pct`: vertices from highest priority to lowest.
    ranks: Vec<u32>,
    /// `pct`: the change points still to come, earliest last.
    changes: Vec<Time>,
    /// `pct`: extra delay per rank.
    step: Time,
}

impl Orderer {
    /// The strategy for one run of `seed` over `vertices` senders and receivers; `horizon` is
    /// when the faulty phase ends (change points fall before it). `None` for `random` (and
    /// for `swarm` when the seed draws `random`), so such runs pay nothing.
    pub fn new(order: Order, vertices: u32, seed: u64, horizon: Time) -> Option<Orderer> {
        if order == Order::Random {
            return None;
        }
        let mut rng = Rng::new(seed, Stream::Order);
        let order = match order {
            Order::Swarm => match rng.below(6) {
                0 => Order::Random,
                1 => Order::Oldest,
                2 => Order::Newest,
                d => Order::Pct {
                    depth: d as u32 - 2,
                },
            },
            o => o,
        };
        if order == Order::Random {
            return None;
        }
        let mut o = Orderer {
            order,
            last_arrival: vec![Time::ZERO; vertices as usize],
            window: Time::ZERO,
            ranks: Vec::new(),
            changes: Vec::new(),
            step: Time::ZERO,
        };
        match order {
            Order::Newest => o.window = Time::from_ms(rng.between(2, 40)),
            Order::Pct { depth } => {
                o.ranks = (0..vertices).collect();
                rng.shuffle(&mut o.ranks);
                let span = horizon.as_us().max(1);
                o.changes = (1..depth).map(|_| Time(rng.below(span))).collect();
                o.changes.sort_by(|a, b| b.cmp(a));
                o.step = Time::from_ms(rng.between(1, 20));
            }
            _ => {}
        }
        Some(o)
    }

    /// The strategy this run follows (what `swarm` drew, for reports).
    pub fn order(&self) -> Order {
        self.order
    }

    /// The latency of one copy from `from` to `to` sent at `now`, given the latency the
    /// network drew for it: never less than that.
    pub fn bend(&mut self, now: Time, from: u32, to: u32, latency: Time) -> Time {
        match self.order {
            Order::Oldest => {
                let last = &mut self.last_arrival[to as usize];
                let arrival = Time(now.0.saturating_add(latency.0)).max(Time(last.0 + 1));
                *last = arrival;
                Time(arrival.0 - now.0)
            }
            Order::Newest => {
                let w = self.window.0.max(1);
                let window_end = (now.0 / w + 1) * w;
                Time(latency.0.saturating_add(2 * (window_end - now.0)))
            }
            Order::Pct { .. } => {
                while self.changes.last().is_some_and(|&c| c <= now) {
                    self.changes.pop();
                    // The sender on top drops to the bottom.
                    let top = self.ranks.remove(0);
                    self.ranks.push(top);
                }
                let rank = self.ranks.iter().position(|&v| v == from).unwrap_or(0) as u64;
                Time(latency.0.saturating_add(rank.saturating_mul(self.step.0)))
            }
            Order::Random | Order::Swarm => latency,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_draws_nothing_and_swarm_is_fixed_per_seed() {
        assert!(Orderer::new(Order::Random, 5, 1, Time::from_secs(8)).is_none());
        let drawn: Vec<Option<Order>> = (1..40)
            .map(|s| Orderer::new(Order::Swarm, 5, s, Time::from_secs(8)).map(|o| o.order()))
            .collect();
        let again: Vec<Option<Order>> = (1..40)
            .map(|s| Orderer::new(Order::Swarm, 5, s, Time::from_secs(8)).map(|o| o.order()))
            .collect();
        assert_eq!(drawn, again);
        // Every strategy turns up among a few dozen seeds.
        for want in [
            None,
            Some(Order::Oldest),
            Some(Order::Newest),
            Some(Order::Pct { depth: 1 }),
            Some(Order::Pct { depth: 3 }),
        ] {
            assert!(drawn.contains(&want), "{want:?} in {drawn:?}");
        }
    }

    #[test]
    fn oldest_keeps_send_order_per_receiver() {
        let mut o = Orderer::new(Order::Oldest, 3, 1, Time::from_secs(1)).unwrap();
        let a = o.bend(Time(100), 0, 2, Time(5_000)); // arrives at 5_100
        let b = o.bend(Time(200), 1, 2, Time(10)); // would arrive at 210: held back
        assert_eq!(a, Time(5_000));
        assert_eq!(Time(200 + b.0), Time(5_101));
        // Another receiver is not held back.
        assert_eq!(o.bend(Time(200), 1, 0, Time(10)), Time(10));
    }

    #[test]
    fn newest_lets_later_sends_overtake_within_a_window() {
        let mut o = Orderer::new(Order::Newest, 3, 1, Time::from_secs(1)).unwrap();
        let w = o.window.0;
        let early = o.bend(Time(0), 0, 1, Time(100));
        let late = o.bend(Time(w - 10), 0, 1, Time(100));
        assert!(w - 10 + late.0 < early.0, "w {w}: {early:?} then {late:?}");
    }

    #[test]
    fn pct_delays_by_rank_and_demotes_the_top_at_change_points() {
        let mut o = Orderer::new(Order::Pct { depth: 2 }, 4, 7, Time::from_secs(8)).unwrap();
        assert_eq!(o.changes.len(), 1);
        let top = o.ranks[0];
        assert_eq!(o.bend(Time::ZERO, top, 1, Time(50)), Time(50));
        let bottom = o.ranks[3];
        assert_eq!(o.bend(Time::ZERO, bottom, 1, Time(50)).0, 50 + 3 * o.step.0);
        let after = Time(o.changes[0].0 + 1);
        assert_eq!(o.bend(after, top, 1, Time(50)).0, 50 + 3 * o.step.0);
        assert_eq!(o.ranks[3], top);
        assert!(Order::Pct { depth: 0 }.invalid().is_some());
        assert!(Order::Pct { depth: 3 }.invalid().is_none());
    }
}
