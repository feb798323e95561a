//! The event queue: events come out in (virtual time, scheduling order).
//!
//! Virtual time never goes back (nothing is scheduled before the event being handled), so the
//! queue is a *radix heap* on the 64-bit time: an entry waits in the bucket numbered by the
//! highest bit in which its time differs from the last time taken out (bucket 0: the same
//! time). Scheduling is a few instructions (an xor, a count of leading zeros, a push onto a
//! `Vec`), and taking the earliest event is one read while events due at the current time
//! are waiting, as they often are. When bucket 0 runs dry, the lowest non-empty bucket is
//! emptied: its earliest time becomes the current time and its entries move to lower buckets
//! (each entry moves at most 64 times in all, and in practice two or three).
//!
//! Order among equal times is scheduling order. Every bucket keeps its entries in the order
//! they were scheduled: a new entry is the latest of all, so it goes at the end; and a bucket
//! is only spread out when every lower bucket is empty, so the entries it hands down arrive,
//! in order, in empty buckets. Bucket 0 is read from the front.
//!
//! Nothing allocates once the run is warm: the buckets keep their capacity.

use crate::base::types::Time;

/// One bucket per highest differing bit (1..=64), and bucket 0 for the current time.
const BUCKETS: usize = 65;

/// A min-queue of events keyed by (time, scheduling order).
pub struct EventQueue<E> {
    buckets: [Vec<(Time, E)>; BUCKETS],
    /// Entries of bucket 0 already taken out (it is read from the front).
    head: usize,
    /// Bit `i` set when bucket `i` may hold entries (bucket 0: from `head` on).
    occupied: u128,
    /// The time every bucket's number is relative to: the last time taken out.
    last: Time,
    len: usize,
    seq: u64,
}

/// The bucket of an entry due at `t` when the current time is `last` (`t >= last`).
#[inline(always)]
fn bucket(t: Time, last: Time) -> usize {
    (64 - (t.0 ^ last.0).leading_zeros()) as usize
}

impl<E: Copy> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        EventQueue {
            buckets: std::array::from_fn(|_| Vec::new()),
            head: 0,
            occupied: 0,
            last: Time::ZERO,
            len: 0,
            seq: 0,
        }
    }

    /// Schedules `event` at `time`, which must not be before the last event taken out;
    /// returns its sequence number (the order among events due at the same time).
    #[inline]
    pub fn push(&mut self, time: Time, event: E) -> u64 {
        debug_assert!(time >= self.last, "an event was scheduled in the past");
        let i = bucket(time, self.last);
        self.buckets[i].push((time, event));
        self.occupied |= 1u128 << i;
        self.len += 1;
        self.seq += 1;
        self.seq
    }

    /// Makes bucket 0 hold the earliest entries, unless the queue is empty.
    #[inline]
    fn settle(&mut self) {
        if self.head < self.buckets[0].len() {
            return;
        }
        self.settle_slow();
    }

    /// Bucket 0 is used up: spread out the lowest non-empty bucket.
    #[cold]
    #[inline(never)]
    fn settle_slow(&mut self) {
        self.buckets[0].clear();
        self.head = 0;
        self.occupied &= !1;
        if self.occupied == 0 {
            return;
        }
        let i = self.occupied.trailing_zeros() as usize;
        self.occupied &= !(1u128 << i);
        let mut moving = std::mem::take(&mut self.buckets[i]);
        let last = moving
            .iter()
            .map(|e| e.0)
            .min()
            .expect("an occupied bucket holds an entry");
        self.last = last;
        // Every entry lands in a lower bucket (it shares with `last` every bit from i-1 up),
        // and the lower buckets are empty: pushing in order keeps scheduling order.
        for &(t, e) in &moving {
            let j = bucket(t, last);
            debug_assert!(j < i);
            self.buckets[j].push((t, e));
            self.occupied |= 1u128 << j;
        }
        moving.clear();
        self.buckets[i] = moving;
    }

    /// Takes the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(Time, E)> {
        self.settle();
        let e = *self.buckets[0].get(self.head)?;
        self.head += 1;
        self.len -= 1;
        Some(e)
    }

    /// The time of the earliest event (it may sort the next entries, hence `&mut`).
    #[inline]
    pub fn peek_time(&mut self) -> Option<Time> {
        self.settle();
        self.buckets[0].get(self.head).map(|e| e.0)
    }

    /// Pending events.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::rng::{Rng, Stream};
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    #[test]
    fn equal_times_come_out_in_scheduling_order() {
        let mut q = EventQueue::new();
        q.push(Time(5), 'a');
        q.push(Time(1), 'b');
        q.push(Time(5), 'c');
        q.push(Time(1), 'd');
        q.push(Time(3), 'e');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['b', 'd', 'e', 'a', 'c']);
        assert!(q.is_empty());
        assert_eq!(q.peek_time(), None);
    }

    /// Against a binary heap on (time, seq), the order the engine used before: random
    /// pushes (at the current time, a little later, much later, or at the very end of time)
    /// interleaved with pops and peeks must give exactly the same sequence.
    #[test]
    fn matches_a_binary_heap_on_time_then_scheduling_order() {
        for seed in 0..40 {
            let mut rng = Rng::new(seed, Stream::Workload);
            let mut q = EventQueue::new();
            let mut reference = BinaryHeap::new();
            let mut now = 0u64;
            let mut seq = 0u64;
            for _ in 0..5_000 {
                let pushes = rng.below(3);
                for _ in 0..pushes {
                    let at = match rng.below(5) {
                        0 => now,
                        1 => now.saturating_add(rng.below(4)),
                        2 => now.saturating_add(rng.below(10_000)),
                        3 => now.saturating_add(rng.below(1 << 40)),
                        _ => u64::MAX,
                    };
                    seq += 1;
                    assert_eq!(q.push(Time(at), seq), seq);
                    reference.push(Reverse((at, seq)));
                }
                if rng.below(4) == 0 {
                    assert_eq!(q.peek_time(), reference.peek().map(|r| Time(r.0.0)));
                }
                let got = q.pop();
                let want = reference.pop().map(|Reverse((t, s))| (Time(t), s));
                assert_eq!(got, want, "seed {seed}");
                if let Some((t, _)) = got {
                    now = t.0;
                }
                assert_eq!(q.len(), reference.len());
            }
        }
    }
}
