//! The WAL store's checks: acknowledged writes survive every recovery, the recovered state is
//! the last durable one (plus, at most, a prefix of the writes not yet durable), reads return
//! only values clients wrote, and after the heal the store serves again or has said why not.
//! Linearizability of the history is the kit's key-value check.
//!
//! What the checks read of a node is oracle code, kept here beside them.

use super::{Entry, Record, State, Wal};
use crate::kit::kv::{Answer, Op};
use crate::protocol::{
    ClientId, Failure, Monitor, NodeId, Outcome, Place, PropertyDef, Store, Trigger, TriggerKind,
    View,
};
use std::collections::{BTreeMap, BTreeSet};

impl Wal {
    /// The store's state machine as it is in memory.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Writes in memory not yet durable, in log order.
    pub fn unsynced(&self) -> &[Entry] {
        &self.unsynced
    }

    /// What recovery reported lost.
    pub fn lost(&self) -> &[super::Loss] {
        &self.lost
    }

    /// Successful batches since this incarnation began.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// Whether every loss reported is one the disk caused: a record the state needed whose
    /// place the disk really damaged (the store's own record of its faults says so), not one
    /// the store made (a gap left by discarding the log too early, or a whole record it
    /// failed to read back).
    pub fn losses_from_disk(&self, disk: &Store<Record>) -> bool {
        !self.lost.is_empty()
            && self
                .lost
                .iter()
                .all(|l| l.why != "gap" && disk.damaged().contains(&Place::Record(l.lsn)))
    }
}

/// The workload's values are `c{client}.{count}`: the count.
fn count_of(value: &str) -> u64 {
    value
        .rsplit('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub(super) fn properties() -> Vec<PropertyDef<Wal>> {
    vec![
        PropertyDef::monitor(
            "acked_writes_survive",
            "after every recovery the store holds every write it acknowledged, unless it reported the loss of records its disk destroyed (each at a place the disk damaged)",
            AckedSurvive::default(),
        )
        .always(),
        PropertyDef::monitor(
            "recovered_state_matches",
            "the state a store recovers is the state after its last durable batch, plus at most a prefix of the writes that were not yet durable",
            RecoveredState::default(),
        )
        .always(),
        PropertyDef::monitor(
            "reads_return_written_values",
            "every value a read returns is made of values clients wrote to that key (no torn, corrupt or misplaced data is served)",
            ReadsWritten::default(),
        )
        .always(),
        PropertyDef::monitor(
            "serves_again",
            "a client operation completes after the heal, or the store has reported a loss and refuses to serve (use as `eventually`)",
            ServesAgain::default(),
        ),
    ]
}

/// Each node's incarnation as last seen: a change is a recovery.
fn recovered(seen: &mut Vec<u32>, view: &View<'_, Wal>, n: NodeId) -> bool {
    if seen.len() <= n.index() {
        seen.resize(n.index() + 1, 0);
    }
    let inc = view.incarnation(n);
    let changed = seen[n.index()] != inc;
    seen[n.index()] = inc;
    changed
}

/// Acknowledged writes survive recoveries (see [`properties`]).
#[derive(Clone, Debug, Default, Hash)]
pub(super) struct AckedSurvive {
    incarnation: Vec<u32>,
}

impl Monitor<Wal> for AckedSurvive {
    fn check(&mut self, view: &View<'_, Wal>, _: Option<&Trigger>) -> Result<(), Failure> {
        for n in view.nodes() {
            let Some(wal) = view.node(n).filter(|_| view.is_up(n)) else {
                continue;
            };
            if !recovered(&mut self.incarnation, view, n) || wal.losses_from_disk(view.store(n)) {
                continue;
            }
            // Each client's last acknowledged write (a client runs one operation at a time,
            // so its counts only grow).
            let mut last: BTreeMap<ClientId, &str> = BTreeMap::new();
            for op in view.history().ops() {
                if let (Op::Put { value, .. } | Op::Append { value, .. }, Outcome::Ok(_)) =
                    (&op.request, &op.outcome)
                {
                    last.insert(op.client, value);
                }
            }
            for (client, value) in last {
                let held = wal.state().writes.get(&client).map(|(_, v)| v.as_str());
                if held.map(count_of).unwrap_or(0) < count_of(value) {
                    let why = if wal.lost().is_empty() {
                        "and reported no loss".to_string()
                    } else {
                        format!("and reported only {:?}", wal.lost())
                    };
                    return Err(Failure::new(
                        format!(
                            "{n} recovered without {client}'s acknowledged write {value} (its last write held: {held:?}) {why}"
                        ),
                        vec![n],
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Per node: the state after its last durable batch, and the writes after it not yet durable.
#[derive(Clone, Debug, Default, Hash)]
struct Durable {
    base: State,
    tail: Vec<Entry>,
    batches: u64,
}

/// The recovered state is the last durable one plus a prefix of the tail (see [`properties`]).
#[derive(Clone, Debug, Default, Hash)]
pub(super) struct RecoveredState {
    incarnation: Vec<u32>,
    nodes: Vec<Durable>,
}

impl Monitor<Wal> for RecoveredState {
    fn check(&mut self, view: &View<'_, Wal>, _: Option<&Trigger>) -> Result<(), Failure> {
        for n in view.nodes() {
            let Some(wal) = view.node(n).filter(|_| view.is_up(n)) else {
                continue;
            };
            if self.nodes.len() <= n.index() {
                self.nodes.resize(n.index() + 1, Durable::default());
            }
            let d = &mut self.nodes[n.index()];
            if recovered(&mut self.incarnation, view, n) {
                if wal.lost().is_empty() {
                    let mut s = d.base.clone();
                    let mut ok = s == *wal.state();
                    for e in &d.tail {
                        if ok {
                            break;
                        }
                        s.apply(e.client, e.id, &e.op);
                        ok = s == *wal.state();
                    }
                    if !ok {
                        return Err(Failure::new(
                            format!(
                                "{n} recovered {:?}, not the state after its last durable batch {:?} nor that with a prefix of the {} writes after it",
                                wal.state().data,
                                d.base.data,
                                d.tail.len()
                            ),
                            vec![n],
                        ));
                    }
                }
                *d = Durable {
                    base: wal.state().clone(),
                    tail: Vec::new(),
                    batches: wal.batches(),
                };
            } else if d.batches != wal.batches() {
                d.base = wal.state().clone();
                d.batches = wal.batches();
                d.tail = wal.unsynced().to_vec();
            } else if d.tail.len() != wal.unsynced().len() {
                d.tail = wal.unsynced().to_vec();
            }
        }
        Ok(())
    }
}

/// Reads return values clients wrote (see [`properties`]).
#[derive(Clone, Debug, Default, Hash)]
pub(super) struct ReadsWritten {
    /// History operations looked at so far.
    seen: usize,
    /// Per key, the values written to it by operations invoked so far.
    written: BTreeMap<String, BTreeSet<String>>,
    /// Reads invoked and not yet completed, by position in the history.
    open: Vec<usize>,
}

/// Whether `value` is a concatenation of values written to the key (a put's, then appends).
fn made_of_written(value: &str, written: Option<&BTreeSet<String>>) -> bool {
    let Some(written) = written else {
        return false;
    };
    let mut rest = value;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        // Values look like `c3.17`: the next piece ends where the next `c` starts.
        let end = rest[1..].find('c').map_or(rest.len(), |i| i + 1);
        if !written.contains(&rest[..end]) {
            return false;
        }
        rest = &rest[end..];
    }
    true
}

impl Monitor<Wal> for ReadsWritten {
    fn check(&mut self, view: &View<'_, Wal>, _: Option<&Trigger>) -> Result<(), Failure> {
        let ops = view.history().ops();
        for (i, op) in ops.iter().enumerate().skip(self.seen) {
            match &op.request {
                Op::Get { .. } => self.open.push(i),
                Op::Put { key, value } | Op::Append { key, value } => {
                    self.written
                        .entry(key.clone())
                        .or_default()
                        .insert(value.clone());
                }
            }
        }
        self.seen = ops.len();
        let mut bad = None;
        self.open.retain(|&i| {
            let op = &ops[i];
            match (&op.request, &op.outcome) {
                (_, Outcome::Pending) => true,
                (Op::Get { key }, Outcome::Ok(Answer::Ok { value: Some(v) })) => {
                    if !made_of_written(v, self.written.get(key)) && bad.is_none() {
                        bad = Some((op.client, key.clone(), v.clone()));
                    }
                    false
                }
                _ => false,
            }
        });
        match bad {
            Some((client, key, v)) => Err(Failure::new(
                format!(
                    "{client} read {key} = {v:?}, which is not made of values written to {key}"
                ),
                view.nodes().collect(),
            )),
            None => Ok(()),
        }
    }
}

/// After the heal, an operation completes or every store has reported a loss.
#[derive(Clone, Debug, Default, Hash)]
pub(super) struct ServesAgain {
    ok_at_heal: Option<u64>,
}

impl Monitor<Wal> for ServesAgain {
    fn on_trigger(&mut self, trigger: &Trigger) {
        if trigger.kind == TriggerKind::Heal {
            self.ok_at_heal = None;
        }
    }

    fn check(&mut self, view: &View<'_, Wal>, _: Option<&Trigger>) -> Result<(), Failure> {
        let ok = view.history().counts().ok;
        let at_heal = *self.ok_at_heal.get_or_insert(ok);
        let reported = view
            .nodes()
            .all(|n| view.node(n).is_some_and(|w| !w.lost().is_empty()));
        if ok > at_heal || reported {
            Ok(())
        } else {
            Err(Failure::new(
                "no client operation has completed since the heal and no store reported a loss",
                view.nodes().collect(),
            ))
        }
    }
}
