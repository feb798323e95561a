//! Logical time as values: [`VClock`], a vector clock (also a version vector, when it is kept
//! per datum rather than per node), and how two of them compare ([`Causal`]).
//!
//! These are plain values a protocol keeps and sends as it likes (a Dynamo-style store keeps
//! one per version of a key). The clock *service* is built on them: [`LogicalClocks`], one
//! per node, kept by the world in the node's host and reached only through
//! [`Ctx`](super::Ctx) (`lamport`, `vclock`, `clock_event`, `stamp`, `observe`). Each call is
//! one clock event of the node. Beside the protocol's clocks the service keeps the node's
//! *true* vector time: its own events counted, and the truth of every stamped message merged
//! in when the message is delivered, whether or not the protocol observes it. After every
//! clock event the service compares the two (see [`LogicalClocks`]); the world stops the run
//! at the first difference with a finding of the check `happens_before`.

use super::NodeId;
use serde::Serialize;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// How two vector clocks compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Causal {
    /// The same clock.
    Equal,
    /// The first happened before the second (every entry ≤, one <).
    Before,
    /// The first happened after the second.
    After,
    /// Neither: concurrent.
    Concurrent,
}

/// A vector clock: a counter per node, zero where absent. Kept sparse and sorted by node, so
/// a clock that few nodes touched stays small and two equal clocks are equal as values.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VClock {
    entries: Vec<(NodeId, u64)>,
}

impl VClock {
    /// The zero clock.
    pub const fn new() -> VClock {
        VClock {
            entries: Vec::new(),
        }
    }

    /// `node`'s counter.
    pub fn get(&self, node: NodeId) -> u64 {
        match self.entries.binary_search_by_key(&node, |&(n, _)| n) {
            Ok(i) => self.entries[i].1,
            Err(_) => 0,
        }
    }

    /// Sets `node`'s counter (zero removes the entry).
    pub fn set(&mut self, node: NodeId, count: u64) {
        match self.entries.binary_search_by_key(&node, |&(n, _)| n) {
            Ok(i) if count == 0 => {
                self.entries.remove(i);
            }
            Ok(i) => self.entries[i].1 = count,
            Err(_) if count == 0 => {}
            Err(i) => self.entries.insert(i, (node, count)),
        }
    }

    /// Adds one to `node`'s counter (saturating) and returns the new count.
    pub fn tick(&mut self, node: NodeId) -> u64 {
        let next = self.get(node).saturating_add(1);
        self.set(node, next);
        next
    }

    /// Takes the larger counter of each node from `other`.
    pub fn merge(&mut self, other: &VClock) {
        for &(node, count) in &other.entries {
            if count > self.get(node) {
                self.set(node, count);
            }
        }
    }

    /// This clock joined with `other` (see [`VClock::merge`]).
    pub fn joined(&self, other: &VClock) -> VClock {
        let mut out = self.clone();
        out.merge(other);
        out
    }

    /// How this clock compares with `other`.
    pub fn compare(&self, other: &VClock) -> Causal {
        let (mut less, mut more) = (false, false);
        let (mut a, mut b) = (
            self.entries.iter().peekable(),
            other.entries.iter().peekable(),
        );
        loop {
            let (x, y) = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(&&(_, x)), None) => {
                    a.next();
                    (x, 0)
                }
                (None, Some(&&(_, y))) => {
                    b.next();
                    (0, y)
                }
                (Some(&&(na, x)), Some(&&(nb, y))) => match na.cmp(&nb) {
                    Ordering::Less => {
                        a.next();
                        (x, 0)
                    }
                    Ordering::Greater => {
                        b.next();
                        (0, y)
                    }
                    Ordering::Equal => {
                        a.next();
                        b.next();
                        (x, y)
                    }
                },
            };
            less |= x < y;
            more |= x > y;
        }
        match (less, more) {
            (false, false) => Causal::Equal,
            (true, false) => Causal::Before,
            (false, true) => Causal::After,
            (true, true) => Causal::Concurrent,
        }
    }

    /// Whether this clock is at or after `other` in every entry (`other` is dominated).
    pub fn dominates(&self, other: &VClock) -> bool {
        matches!(self.compare(other), Causal::Equal | Causal::After)
    }

    /// Whether the two clocks are concurrent.
    pub fn concurrent(&self, other: &VClock) -> bool {
        self.compare(other) == Causal::Concurrent
    }

    /// The non-zero entries, by node.
    pub fn entries(&self) -> &[(NodeId, u64)] {
        &self.entries
    }

    /// The sum of the counters (saturating): how many events the clock has seen.
    pub fn total(&self) -> u64 {
        self.entries
            .iter()
            .fold(0u64, |sum, &(_, c)| sum.saturating_add(c))
    }
}

/// `{n1:2,n3:1}`; the zero clock is `{}`.
impl fmt::Display for VClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (node, count)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{node}:{count}")?;
        }
        f.write_str("}")
    }
}

/// As a map from node name to counter: `{"n1": 2, "n3": 1}`.
impl Serialize for VClock {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.entries.len()))?;
        for (node, count) in &self.entries {
            map.serialize_entry(node, count)?;
        }
        map.end()
    }
}

/// The check the clock service fails as: a node's logical clocks disagree with the true
/// happens-before relation (see [`LogicalClocks`]). The world stops the run under this name.
pub const HAPPENS_BEFORE: &str = "happens_before";

/// What a send event gives the protocol to put into its message: the sender's Lamport time
/// and vector clock after the send. [`Ctx::observe`](super::Ctx::observe) merges it on
/// receive. Two stamps are equal, hash and serialize by these two values only: the stamp also
/// carries, hidden, the sender's *true* vector time, which the world merges into the
/// receiver's truth at delivery (it is never serialized or hashed, so traces and fingerprints
/// of protocol content do not depend on it).
#[derive(Clone, Debug)]
pub struct Stamp {
    /// The sender's Lamport time at the send.
    pub lamport: u64,
    /// The sender's vector clock at the send.
    pub vector: VClock,
    truth: Option<Arc<Truth>>,
}

/// The hidden part of a stamp: who sent it, when (the sender's event number and the run's
/// step) and the sender's true vector time.
#[derive(Debug)]
pub(crate) struct Truth {
    from: NodeId,
    lamport: u64,
    step: u64,
    vector: VClock,
}

impl Stamp {
    /// A stamp made by hand (a test's, or one a protocol forges): it carries no truth, so
    /// delivering it teaches the receiver nothing about happens-before.
    pub fn new(lamport: u64, vector: VClock) -> Stamp {
        Stamp {
            lamport,
            vector,
            truth: None,
        }
    }

    pub(crate) fn truth(&self) -> Option<&Truth> {
        self.truth.as_deref()
    }
}

impl PartialEq for Stamp {
    fn eq(&self, other: &Stamp) -> bool {
        self.lamport == other.lamport && self.vector == other.vector
    }
}

impl Eq for Stamp {}

impl Hash for Stamp {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.lamport.hash(h);
        self.vector.hash(h);
    }
}

impl Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Stamp", 2)?;
        st.serialize_field("lamport", &self.lamport)?;
        st.serialize_field("vector", &self.vector)?;
        st.end()
    }
}

/// Where a node's truth learned an entry: the stamp that brought it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Source {
    from: NodeId,
    lamport: u64,
    step: u64,
}

/// One node's logical clocks, as the service keeps them: the protocol's Lamport clock and
/// vector clock (moved only by the protocol's calls), the node's true vector time (moved by
/// its clock events and by deliveries of stamped messages), and the first way the two
/// disagreed.
///
/// After each clock event the service checks two things:
/// - the protocol's vector clock **equals** the true vector time. Equality is stronger than
///   "orders events as happens-before does", and it is what the standard algorithm promises:
///   with a tick per event and a merge per receive, entry `k` of a node's clock counts exactly
///   the events of `k` that happened before (or are) the current event. Equality at every
///   event gives `V(a) < V(b) ⟺ a → b` for all events, both ways; a clock that is merely
///   consistent with happens-before (Lamport's, say) would pass a one-way check.
/// - for every send→receive edge the Lamport time grows: the receiver's next clock event after
///   a delivery has a Lamport time above the delivered stamp's.
///
/// Clocks survive a crash: the service keeps them outside the protocol instance, as if it
/// synced them, so a restarted node goes on counting where it stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LogicalClocks {
    lamport: u64,
    vector: VClock,
    events: u64,
    truth: VClock,
    /// Per node, the stamp that last raised the truth's entry (at most one per node).
    learned: Vec<(NodeId, Source)>,
    /// The highest stamp delivered since the last clock event.
    floor: Option<Source>,
    failure: Option<String>,
}

impl LogicalClocks {
    /// The Lamport time.
    pub fn lamport(&self) -> u64 {
        self.lamport
    }
    /// The protocol's vector clock.
    pub fn vector(&self) -> &VClock {
        &self.vector
    }
    /// The node's true vector time (what its vector clock must equal).
    pub fn truth(&self) -> &VClock {
        &self.truth
    }
    /// Clock events so far.
    pub fn events(&self) -> u64 {
        self.events
    }
    /// The first disagreement found, if any.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// A local event.
    pub(crate) fn local(&mut self, me: NodeId, step: u64) {
        self.lamport = self.lamport.saturating_add(1);
        self.vector.tick(me);
        self.after_event(me, step);
    }

    /// A send event: ticks and returns the stamp to send.
    pub(crate) fn send(&mut self, me: NodeId, step: u64) -> Stamp {
        self.local(me, step);
        Stamp {
            lamport: self.lamport,
            vector: self.vector.clone(),
            truth: Some(Arc::new(Truth {
                from: me,
                lamport: self.lamport,
                step,
                vector: self.truth.clone(),
            })),
        }
    }

    /// A receive event of `stamp`.
    pub(crate) fn receive(&mut self, me: NodeId, step: u64, stamp: &Stamp) {
        self.lamport = self.lamport.max(stamp.lamport).saturating_add(1);
        self.vector.merge(&stamp.vector);
        self.vector.tick(me);
        self.after_event(me, step);
    }

    /// A stamped message was delivered to this node: its truth happened before whatever the
    /// node does next.
    pub(crate) fn delivered(&mut self, truth: &Truth) {
        let source = Source {
            from: truth.from,
            lamport: truth.lamport,
            step: truth.step,
        };
        for &(node, count) in truth.vector.entries() {
            if count > self.truth.get(node) {
                self.truth.set(node, count);
                match self.learned.binary_search_by_key(&node, |&(n, _)| n) {
                    Ok(i) => self.learned[i].1 = source,
                    Err(i) => self.learned.insert(i, (node, source)),
                }
            }
        }
        if self.floor.is_none_or(|f| f.lamport < source.lamport) {
            self.floor = Some(source);
        }
    }

    fn after_event(&mut self, me: NodeId, step: u64) {
        self.events = self.events.saturating_add(1);
        self.truth.set(me, self.events);
        let floor = self.floor.take();
        if self.failure.is_some() {
            return;
        }
        let behind = floor.filter(|f| self.lamport <= f.lamport);
        if behind.is_none() && self.vector == self.truth {
            return;
        }
        let at = format!("at its event {} (step {step})", self.events);
        let mut parts = Vec::new();
        if let Some(f) = behind {
            parts.push(format!(
                "{me}'s Lamport time {} {at} is not above the stamp it received: {}'s send of \
                 lamport {} (step {})",
                self.lamport, f.from, f.lamport, f.step
            ));
        }
        if self.vector != self.truth {
            parts.push(self.vector_failure(me, &at));
        }
        self.failure = Some(parts.join("; "));
    }

    #[cold]
    fn vector_failure(&self, me: NodeId, at: &str) -> String {
        let (v, t) = (&self.vector, &self.truth);
        let head = format!("{me}'s vector clock {v} {at}");
        let behind = t.entries().iter().find(|&&(n, c)| v.get(n) < c);
        if let Some(&(node, count)) = behind {
            let cause = match self.learned.binary_search_by_key(&node, |&(n, _)| n) {
                Ok(i) => {
                    let s = self.learned[i].1;
                    format!(
                        ": it missed {}'s send of lamport {} (step {}), which carried {node}:{count}",
                        s.from, s.lamport, s.step
                    )
                }
                Err(_) => format!(": it counts {node}:{} of {count}", v.get(node)),
            };
            return format!("{head} is not happens-before {t}{cause}");
        }
        let ahead = v.entries().iter().find(|&&(n, c)| t.get(n) < c);
        let (node, count) = ahead.copied().unwrap_or((me, 0));
        format!(
            "{head} is not happens-before {t}: it counts {node}:{count}, but only {} of {node}'s \
             events happened before",
            t.get(node)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vc(pairs: &[(u32, u64)]) -> VClock {
        let mut c = VClock::new();
        for &(n, k) in pairs {
            c.set(NodeId(n), k);
        }
        c
    }

    #[test]
    fn compare_covers_the_four_cases_and_missing_entries() {
        assert_eq!(vc(&[(0, 1)]).compare(&vc(&[(0, 1)])), Causal::Equal);
        assert_eq!(vc(&[]).compare(&vc(&[])), Causal::Equal);
        assert_eq!(
            vc(&[(0, 1)]).compare(&vc(&[(0, 1), (2, 1)])),
            Causal::Before
        );
        assert_eq!(vc(&[(0, 2), (1, 1)]).compare(&vc(&[(0, 1)])), Causal::After);
        assert_eq!(vc(&[(0, 2)]).compare(&vc(&[(1, 1)])), Causal::Concurrent);
        assert_eq!(vc(&[(1, 1)]).compare(&vc(&[(0, 2)])), Causal::Concurrent);
        assert!(vc(&[(0, 2), (1, 1)]).dominates(&vc(&[(0, 1)])));
        assert!(!vc(&[(0, 2)]).dominates(&vc(&[(1, 1)])));
        assert!(vc(&[(0, 2)]).concurrent(&vc(&[(1, 1)])));
    }

    #[test]
    fn merge_is_the_entrywise_maximum_and_zero_entries_vanish() {
        let mut a = vc(&[(0, 3), (2, 1)]);
        a.merge(&vc(&[(0, 1), (1, 4)]));
        assert_eq!(a, vc(&[(0, 3), (1, 4), (2, 1)]));
        assert_eq!(a.total(), 8);
        a.set(NodeId(1), 0);
        assert_eq!(a.entries(), &[(NodeId(0), 3), (NodeId(2), 1)]);
        assert_eq!(a.tick(NodeId(1)), 1);
        assert_eq!(a.to_string(), "{n1:3,n2:1,n3:1}");
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"n1":3,"n2":1,"n3":1}"#
        );
        assert_eq!(vc(&[(0, 1)]).joined(&vc(&[(1, 1)])), vc(&[(0, 1), (1, 1)]));
    }

    #[test]
    fn the_service_follows_the_truth_and_names_a_missed_merge() {
        let (a, b) = (NodeId(0), NodeId(1));
        let (mut ca, mut cb) = (LogicalClocks::default(), LogicalClocks::default());
        ca.local(a, 1);
        let s = ca.send(a, 2);
        assert_eq!((s.lamport, s.vector.to_string()), (2, "{n1:2}".to_string()));
        cb.delivered(s.truth().unwrap());
        cb.receive(b, 3, &s);
        assert_eq!(cb.lamport(), 3);
        assert_eq!(cb.vector(), cb.truth());
        assert!(cb.failure().is_none() && ca.failure().is_none());
        // A stamp equal in value but without truth is equal, and hashes the same.
        assert_eq!(Stamp::new(2, s.vector.clone()), s);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"lamport":2,"vector":{"n1":2}}"#
        );
        // A delivery not observed: the next event is caught.
        let s2 = ca.send(a, 4);
        cb.delivered(s2.truth().unwrap());
        cb.local(b, 5);
        let f = cb.failure().unwrap();
        assert!(
            f.contains("n2's vector clock {n1:2,n2:2} at its event 2 (step 5) is not happens-before {n1:3,n2:2}: it missed n1's send of lamport 3 (step 4)"),
            "{f}"
        );
        let mut cc = LogicalClocks::default();
        for step in 0..5 {
            cc.local(b, step);
        }
        cc.delivered(s2.truth().unwrap());
        cc.send(b, 6);
        let f = cc.failure().unwrap().to_string();
        assert!(f.contains("missed n1's send of lamport 3 (step 4)"), "{f}");
    }
}
