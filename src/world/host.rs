//! What the world keeps for each node and each client: a node's protocol instance while it
//! is up, its status, incarnation, store, clock, random stream, armed timers, held events
//! and annotations; a client's logic, random stream, process id and armed timers.
//!
//! A crash drops the instance and the armed timers; the store keeps only synced writes. A
//! restart builds a new instance, so volatile state cannot survive by accident.

use super::armed::Armed;
use super::{MsgSlot, TimerSlot};
use crate::base::rng::Rng;
use crate::base::types::Time;
use crate::check::Status;
use crate::history::OpId;
use crate::protocol::{LogicalClocks, Protocol, RequestId, Value};
use crate::storage::Store;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A node's local clock: `local = offset + elapsed × (1 + drift_ppm / 10^6)`, in integers.
///
/// Timers are relative: a timer asked for `d` of local time fires after `d` converted with
/// the node's drift at the moment it was set, so a fast clock fires early in true time.
/// Steps move what `now()` reads; they do not move timers already armed (timers behave like
/// a monotonic clock, reads like a wall clock).
#[derive(Clone, Debug)]
pub struct Clock {
    base_true: u64,
    base_local: i128,
    drift_ppm: i32,
}

/// Bounds on drift, so a clock never stops or runs backwards: -50% ..= +100%.
pub const DRIFT_PPM_MIN: i32 = -500_000;
/// See [`DRIFT_PPM_MIN`].
pub const DRIFT_PPM_MAX: i32 = 1_000_000;

impl Clock {
    /// A clock reading `offset_us` at true time zero, running with `drift_ppm`.
    pub fn new(offset_us: i64, drift_ppm: i32) -> Clock {
        Clock {
            base_true: 0,
            base_local: i128::from(offset_us),
            drift_ppm: drift_ppm.clamp(DRIFT_PPM_MIN, DRIFT_PPM_MAX),
        }
    }

    fn raw(&self, now: Time) -> i128 {
        let elapsed = i128::from(now.0.saturating_sub(self.base_true));
        if self.drift_ppm == 0 {
            return self.base_local + elapsed; // the common case: no 128-bit division
        }
        self.base_local + elapsed * i128::from(1_000_000 + self.drift_ppm) / 1_000_000
    }

    /// The local reading at true time `now` (never below zero).
    pub fn local(&self, now: Time) -> Time {
        Time(self.raw(now).clamp(0, i128::from(u64::MAX)) as u64)
    }

    /// Jumps the clock by `delta_us` at true time `now`.
    pub fn step(&mut self, now: Time, delta_us: i64) {
        self.base_local = self.raw(now) + i128::from(delta_us);
        self.base_true = now.0;
    }

    /// Changes the drift from true time `now` on.
    pub fn set_drift(&mut self, now: Time, drift_ppm: i32) {
        self.base_local = self.raw(now);
        self.base_true = now.0;
        self.drift_ppm = drift_ppm.clamp(DRIFT_PPM_MIN, DRIFT_PPM_MAX);
    }

    /// Current drift.
    pub fn drift_ppm(&self) -> i32 {
        self.drift_ppm
    }

    /// The true time it takes this clock to advance by `local` (rounded up).
    pub fn true_duration(&self, local: Time) -> Time {
        if self.drift_ppm == 0 {
            return local;
        }
        let rate = u128::from((1_000_000 + self.drift_ppm) as u32);
        let t = (u128::from(local.0) * 1_000_000).div_ceil(rate);
        Time(t.min(u128::from(u64::MAX)) as u64)
    }
}

/// A deferred event of a paused node: a copy that arrived, or a timer that fired, while it
/// was paused. Handled, in arrival order, when it resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Held {
    /// A copy waiting in the slab of messages in flight.
    Deliver(MsgSlot),
    /// A timer waiting in the slab of armed timers.
    Timer(TimerSlot),
}

/// The world's record of one node.
pub struct NodeHost<P: Protocol> {
    pub(crate) proto: Option<P>,
    pub(crate) status: Status,
    pub(crate) incarnation: u32,
    pub(crate) booted: bool,
    pub(crate) permanently_down: bool,
    pub(crate) store: Store<P::Record>,
    pub(crate) clock: Clock,
    pub(crate) rng: Rng,
    pub(crate) timers: Armed<P::Timer>,
    pub(crate) timer_gen: u64,
    pub(crate) held: VecDeque<Held>,
    pub(crate) annotations: BTreeMap<&'static str, Value>,
    /// The logical-clock service: `None` until the node's first clock event or the first
    /// delivery of a stamped message to it. Survives crashes (see [`LogicalClocks`]).
    pub(crate) clocks: Option<Box<LogicalClocks>>,
    /// The explorer's hash of this host, or 0 while unknown: computed once, shared by every
    /// copy of the world that shares the host, forgotten by [`edit_host`].
    pub(crate) digest: AtomicU64,
}

/// The host behind `h`, to change: copied first if another world shares it, and its cached
/// digest forgotten.
#[inline]
pub(crate) fn edit_host<P: Protocol>(h: &mut Arc<NodeHost<P>>) -> &mut NodeHost<P> {
    let host = Arc::make_mut(h);
    *host.digest.get_mut() = 0;
    host
}

/// The client behind `c`, to change (see [`edit_host`]).
#[inline]
pub(crate) fn edit_client<P: Protocol>(c: &mut Arc<ClientHost<P>>) -> &mut ClientHost<P> {
    let client = Arc::make_mut(c);
    *client.digest.get_mut() = 0;
    client
}

impl<P: Protocol> NodeHost<P> {
    /// The protocol instance, while the node is up or paused.
    pub fn proto(&self) -> Option<&P> {
        self.proto.as_ref()
    }
    /// Up, paused or down.
    pub fn status(&self) -> Status {
        self.status
    }
    /// Restarts so far.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }
    /// Never starts, and the heal leaves it down.
    pub fn permanently_down(&self) -> bool {
        self.permanently_down
    }
    /// The node's store.
    pub fn store(&self) -> &Store<P::Record> {
        &self.store
    }
    /// The node's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
    /// The last value the node annotated under `key`.
    pub fn annotation(&self, key: &str) -> Option<&Value> {
        self.annotations.get(key)
    }
    /// The node's logical clocks, once it has used the clock service.
    pub fn clocks(&self) -> Option<&LogicalClocks> {
        self.clocks.as_deref()
    }

    pub(crate) fn new(rng: Rng, clock: Clock, permanently_down: bool) -> Self {
        NodeHost {
            proto: None,
            status: Status::Down,
            incarnation: 0,
            booted: false,
            permanently_down,
            store: {
                let mut s = Store::new();
                if let Some(c) = P::codec() {
                    s.set_codec(c);
                }
                s
            },
            clock,
            rng,
            timers: Armed::default(),
            timer_gen: 0,
            held: VecDeque::new(),
            annotations: BTreeMap::new(),
            clocks: None,
            digest: AtomicU64::new(0),
        }
    }
}

impl<P: Protocol + Clone> Clone for NodeHost<P> {
    fn clone(&self) -> Self {
        NodeHost {
            proto: self.proto.clone(),
            status: self.status,
            incarnation: self.incarnation,
            booted: self.booted,
            permanently_down: self.permanently_down,
            store: self.store.clone(),
            clock: self.clock.clone(),
            rng: self.rng.clone(),
            timers: self.timers.clone(),
            timer_gen: self.timer_gen,
            held: self.held.clone(),
            annotations: self.annotations.clone(),
            clocks: self.clocks.clone(),
            digest: AtomicU64::new(self.digest.load(Ordering::Relaxed)),
        }
    }
}

/// The world's record of one client. Clients never crash.
pub struct ClientHost<P: Protocol> {
    pub(crate) logic: P::Client,
    pub(crate) rng: Rng,
    /// The process id the client's operations are recorded under (a new one after an
    /// operation with an unknown outcome).
    pub(crate) process: u64,
    /// Armed timers: timer number to generation.
    pub(crate) timers: Armed<u64>,
    pub(crate) timer_gen: u64,
    /// The operation invoked and not completed yet: a client runs one at a time.
    pub(crate) open: Option<OpId>,
    /// The last request sent, with the operation it was for: a request id names one
    /// operation, so a new operation may not reuse the previous one's.
    pub(crate) last_sent: Option<(OpId, RequestId)>,
    /// The explorer's hash of this client, or 0 while unknown (see [`NodeHost`]).
    pub(crate) digest: AtomicU64,
}

impl<P: Protocol> ClientHost<P> {
    pub(crate) fn new(logic: P::Client, rng: Rng, process: u64) -> Self {
        ClientHost {
            logic,
            rng,
            process,
            timers: Armed::default(),
            timer_gen: 0,
            open: None,
            last_sent: None,
            digest: AtomicU64::new(0),
        }
    }
}

impl<P: Protocol> Clone for ClientHost<P>
where
    P::Client: Clone,
{
    fn clone(&self) -> Self {
        ClientHost {
            logic: self.logic.clone(),
            rng: self.rng.clone(),
            process: self.process,
            timers: self.timers.clone(),
            timer_gen: self.timer_gen,
            open: self.open,
            last_sent: self.last_sent,
            digest: AtomicU64::new(self.digest.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_and_steps_in_integers() {
        let mut c = Clock::new(0, 100_000); // 10% fast
        assert_eq!(c.local(Time::from_secs(10)), Time::from_secs(11));
        assert_eq!(c.true_duration(Time::from_ms(1_100)), Time::from_ms(1_000));
        c.step(Time::from_secs(10), -2_000_000);
        assert_eq!(c.local(Time::from_secs(10)), Time::from_secs(9));
        c.set_drift(Time::from_secs(10), 0);
        assert_eq!(c.local(Time::from_secs(20)), Time::from_secs(19));
        let slow = Clock::new(-5_000_000, -500_000);
        assert_eq!(
            slow.local(Time::from_secs(2)),
            Time::ZERO,
            "never below zero"
        );
        assert_eq!(slow.true_duration(Time::from_ms(10)), Time::from_ms(20));
    }
}
