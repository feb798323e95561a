//! What is in flight between steps: copies of messages, and armed node and client timers.

use crate::base::types::{Endpoint, NodeId};
use crate::protocol::Protocol;
use crate::trace::Payload;
use std::sync::atomic::{AtomicU64, Ordering};

/// A copy of a message between two endpoints.
pub struct InFlight<P: Protocol> {
    pub(super) id: u64,
    pub(super) from: Endpoint,
    pub(super) to: Endpoint,
    pub(super) payload: Payload<P>,
    /// Already arrived at a paused receiver (the link no longer matters).
    pub(super) arrived: bool,
    /// The explorer's hash of sender, receiver and payload, or 0 while unknown: computed
    /// once per copy, then copied with the world.
    pub(super) digest: AtomicU64,
}

impl<P: Protocol> InFlight<P> {
    /// The message's id (a duplicate shares it).
    pub fn id(&self) -> u64 {
        self.id
    }
    /// Sender.
    pub fn from(&self) -> Endpoint {
        self.from
    }
    /// Receiver.
    pub fn to(&self) -> Endpoint {
        self.to
    }
    /// What it carries.
    pub fn payload(&self) -> &Payload<P> {
        &self.payload
    }
    /// Whether it has already arrived at a paused receiver and waits there (held).
    pub fn arrived(&self) -> bool {
        self.arrived
    }
}

impl<P: Protocol> Clone for InFlight<P> {
    fn clone(&self) -> Self {
        InFlight {
            id: self.id,
            from: self.from,
            to: self.to,
            payload: self.payload.clone(),
            arrived: self.arrived,
            digest: AtomicU64::new(self.digest.load(Ordering::Relaxed)),
        }
    }
}

/// An armed node timer.
pub struct TimerEntry<P: Protocol> {
    pub(super) node: u32,
    pub(super) incarnation: u32,
    pub(super) generation: u64,
    pub(super) timer: P::Timer,
}

impl<P: Protocol> TimerEntry<P> {
    /// The node that armed it.
    pub fn node(&self) -> NodeId {
        NodeId(self.node)
    }
    /// Which timer.
    pub fn timer(&self) -> &P::Timer {
        &self.timer
    }
}

impl<P: Protocol> Clone for TimerEntry<P> {
    fn clone(&self) -> Self {
        TimerEntry {
            node: self.node,
            incarnation: self.incarnation,
            generation: self.generation,
            timer: self.timer.clone(),
        }
    }
}

/// An armed client timer.
#[derive(Clone, Debug)]
pub(super) struct ClientTimerEntry {
    pub(super) client: u32,
    pub(super) generation: u64,
    pub(super) timer: u64,
}
