//! A participant's share of a transaction: strict two-phase locking with wait-die, a
//! prepared record synced before a yes vote, the writes applied once at commit, and the
//! memory of every transaction it aborted, so a late or repeated prepare cannot bring one
//! back.
//!
//! **Locks.** A transaction's micro-operations for this participant arrive together, in one
//! prepare, so the participant takes every lock the transaction needs here at once: exclusive
//! on a key it writes, shared on a key it only reads. It holds them until the decision, then
//! releases them all (strict two-phase locking: the shrinking phase is the commit point).
//!
//! **Deadlocks: wait-die** (Rosenkrantz, Stearns and Lewis, 1978). A transaction carries its
//! age ([`Age`]: when its coordinator began it). On a conflict, a transaction older than every
//! holder of the locks it wants waits; a younger one dies (votes no). Waits only ever go from
//! older to younger, so no cycle of waits can form, across participants too. A transaction
//! that waits longer than `wait_ms` dies as well (its coordinator may be gone).
//!
//! **Durability.** The yes vote follows the synced `Prepared` record (its writes and the
//! values its reads returned); commit and abort records are synced before the participant
//! says it applied them. Recovery replays the records: committed writes in commit order,
//! prepared transactions back in doubt with their locks taken again, aborted ones refused.

use super::{AbortWhy, Age, Datum, Key, Mop, TxnId};
use crate::protocol::{NodeId, Time};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A participant's vote on a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vote {
    /// Prepared: it can commit; the values its reads returned here, in order.
    Yes {
        /// One value per read micro-operation sent to this participant.
        reads: Vec<Datum>,
    },
    /// It cannot commit.
    No {
        /// Why.
        why: AbortWhy,
    },
}

/// What a participant keeps in its log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PRecord {
    /// Prepared: the transaction may commit here; what it would write, what it read.
    Prepared {
        /// The transaction.
        txn: TxnId,
        /// Its age.
        age: Age,
        /// Who coordinates it.
        coordinator: NodeId,
        /// Every participant of it.
        participants: Vec<NodeId>,
        /// What its reads returned here.
        reads: Vec<Datum>,
        /// The value each key it writes here will hold.
        writes: Vec<(Key, Datum)>,
        /// The locks it holds here (key, exclusive): taken again at recovery, read locks
        /// included, so a transaction in doubt keeps what it read from changing.
        locks: Vec<(Key, bool)>,
    },
    /// Committed here.
    Committed {
        /// The transaction.
        txn: TxnId,
    },
    /// Aborted here (or refused before it was prepared): never to be prepared again.
    Aborted {
        /// The transaction.
        txn: TxnId,
    },
}

/// What a participant knows of a transaction, for another node's termination question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Knows {
    /// It committed here.
    Committed,
    /// It aborted here (or was refused).
    Aborted,
    /// Prepared here, undecided: as uncertain as the asker.
    Prepared,
}

/// A decision a participant carried out, as the checks read them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Done {
    /// It applied the writes.
    Committed,
    /// It dropped a prepared transaction.
    Aborted,
    /// It was told to commit a transaction it holds no record of: it could apply nothing.
    Lost,
}

#[derive(Clone, Debug, Default, Hash)]
struct Lock {
    shared: Vec<TxnId>,
    exclusive: Option<TxnId>,
}

#[derive(Clone, Debug, Hash)]
struct Request {
    age: Age,
    mops: Vec<Mop>,
    coordinator: NodeId,
    participants: Vec<NodeId>,
}

/// A transaction prepared here.
#[derive(Clone, Debug, Hash, Serialize)]
pub struct Held {
    /// Its age.
    pub age: Age,
    /// Who coordinates it.
    pub coordinator: NodeId,
    /// Every participant of it.
    pub participants: Vec<NodeId>,
    /// What its reads returned here.
    #[serde(skip)]
    pub reads: Vec<Datum>,
    /// What it would write here.
    pub writes: Vec<(Key, Datum)>,
    /// When it was prepared (this node's clock), or recovered.
    pub since: Time,
    /// Locks it holds: key, exclusive.
    #[serde(skip)]
    locks: Vec<(Key, bool)>,
}

/// What a participant's call asks its host to do: append these records, then sync them if
/// `sync`, then send these votes to the transactions' coordinators (or acceptors).
#[derive(Clone, Debug, Default)]
pub struct Out {
    /// Records to append, in order.
    pub records: Vec<PRecord>,
    /// Sync after appending.
    pub sync: bool,
    /// Votes to send: transaction, its coordinator, the vote.
    pub votes: Vec<(TxnId, NodeId, Vote)>,
}

/// Bug switches a participant honours (set by the host from its own switches).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ParticipantBugs {
    /// Reads take no locks (read committed): other transactions may write what it read
    /// before it commits.
    pub no_read_locks: bool,
    /// The prepared record is not synced before the yes vote.
    pub prepared_not_durable: bool,
}

/// One node's part of the transactional store (see the module docs).
#[derive(Clone, Debug, Hash)]
pub struct Participant {
    initial: Datum,
    data: BTreeMap<Key, Datum>,
    locks: BTreeMap<Key, Lock>,
    waiting: BTreeMap<TxnId, (Request, Time)>,
    prepared: BTreeMap<TxnId, Held>,
    committed: BTreeSet<TxnId>,
    aborted: BTreeSet<TxnId>,
    journal: Vec<(TxnId, Done)>,
    lost: BTreeSet<TxnId>,
    /// Bug switches.
    pub bugs: ParticipantBugs,
}

impl Participant {
    /// An empty participant whose keys start as `initial`.
    pub fn new(initial: Datum) -> Participant {
        Participant {
            initial,
            data: BTreeMap::new(),
            locks: BTreeMap::new(),
            waiting: BTreeMap::new(),
            prepared: BTreeMap::new(),
            committed: BTreeSet::new(),
            aborted: BTreeSet::new(),
            journal: Vec::new(),
            lost: BTreeSet::new(),
            bugs: ParticipantBugs::default(),
        }
    }

    /// Rebuilds the participant from its synced records after a restart at `now`: committed
    /// writes applied in order, prepared transactions in doubt again with their locks taken.
    pub fn recover<'a>(&mut self, records: impl IntoIterator<Item = &'a PRecord>, now: Time) {
        for r in records {
            match r {
                PRecord::Prepared {
                    txn,
                    age,
                    coordinator,
                    participants,
                    reads,
                    writes,
                    locks,
                } => {
                    if self.committed.contains(txn) || self.aborted.contains(txn) {
                        continue;
                    }
                    let request = Request {
                        age: *age,
                        mops: Vec::new(),
                        coordinator: *coordinator,
                        participants: participants.clone(),
                    };
                    self.hold(
                        *txn,
                        &request,
                        locks.clone(),
                        reads.clone(),
                        writes.clone(),
                        now,
                    );
                }
                PRecord::Committed { txn } => self.finish(*txn, true),
                PRecord::Aborted { txn } => self.finish(*txn, false),
            }
        }
    }

    /// The value `key` holds (committed).
    pub fn get(&self, key: Key) -> &Datum {
        self.data.get(&key).unwrap_or(&self.initial)
    }

    /// Every key written so far and its committed value.
    pub fn data(&self) -> &BTreeMap<Key, Datum> {
        &self.data
    }

    /// The transactions prepared here and not yet decided (in doubt).
    pub fn prepared(&self) -> &BTreeMap<TxnId, Held> {
        &self.prepared
    }

    /// Transactions waiting here for locks.
    pub fn waiting(&self) -> impl Iterator<Item = TxnId> + '_ {
        self.waiting.keys().copied()
    }

    /// Decisions carried out in this incarnation (replayed ones included), in order.
    pub fn journal(&self) -> &[(TxnId, Done)] {
        &self.journal
    }

    /// The oldest time a transaction still in doubt here was prepared.
    pub fn oldest_in_doubt(&self) -> Option<Time> {
        self.prepared.values().map(|h| h.since).min()
    }

    /// What this participant knows of `txn`, if anything.
    pub fn knows(&self, txn: TxnId) -> Option<Knows> {
        if self.committed.contains(&txn) {
            Some(Knows::Committed)
        } else if self.aborted.contains(&txn) {
            Some(Knows::Aborted)
        } else if self.prepared.contains_key(&txn) {
            Some(Knows::Prepared)
        } else {
            None
        }
    }

    /// Another node asks about `txn` to end its doubt. If this participant has not voted yes
    /// it aborts the transaction on the spot (durably: it will refuse it from now on), which
    /// is always safe: nobody can have committed it without this vote.
    pub fn answer(&mut self, txn: TxnId, out: &mut Out) -> Knows {
        if let Some(k) = self.knows(txn) {
            return k;
        }
        if let Some((req, _)) = self.waiting.remove(&txn) {
            out.votes.push((
                txn,
                req.coordinator,
                Vote::No {
                    why: AbortWhy::Aborted,
                },
            ));
        }
        self.refuse(txn, out);
        Knows::Aborted
    }

    /// A prepare: this participant's micro-operations of `txn`. Votes at once (yes after the
    /// synced record, or no), or waits for locks (wait-die). A repeated prepare gets the same
    /// yes vote; a prepare of a transaction aborted here gets no.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare(
        &mut self,
        txn: TxnId,
        age: Age,
        mops: Vec<Mop>,
        coordinator: NodeId,
        participants: Vec<NodeId>,
        now: Time,
        out: &mut Out,
    ) {
        if self.committed.contains(&txn) || self.waiting.contains_key(&txn) {
            return; // decided and applied, or already waiting: nothing new to say
        }
        if self.aborted.contains(&txn) {
            out.votes.push((
                txn,
                coordinator,
                Vote::No {
                    why: AbortWhy::Aborted,
                },
            ));
            return;
        }
        if let Some(h) = self.prepared.get(&txn) {
            let reads = h.reads.clone();
            out.votes.push((txn, coordinator, Vote::Yes { reads }));
            return;
        }
        let request = Request {
            age,
            mops,
            coordinator,
            participants,
        };
        self.attempt(txn, request, now, out);
    }

    /// Tries to take the locks of `request`: prepares it, makes it wait, or makes it die.
    fn attempt(&mut self, txn: TxnId, request: Request, now: Time, out: &mut Out) {
        let needs = self.needs(&request.mops);
        let mut oldest_holder: Option<Age> = None;
        for &(key, exclusive) in &needs {
            if let Some(lock) = self.locks.get(&key) {
                let holders = lock
                    .exclusive
                    .iter()
                    .chain(lock.shared.iter().filter(|_| exclusive))
                    .filter(|&&h| h != txn);
                for h in holders {
                    let age = self.prepared.get(h).map_or(request.age, |p| p.age);
                    oldest_holder = Some(oldest_holder.map_or(age, |o| o.min(age)));
                }
            }
        }
        if let Some(holder) = oldest_holder {
            if request.age < holder {
                self.waiting.insert(txn, (request, now));
            } else {
                out.votes.push((
                    txn,
                    request.coordinator,
                    Vote::No {
                        why: AbortWhy::Conflict,
                    },
                ));
            }
            return;
        }
        // Run the micro-operations against the committed state, each seeing the ones before.
        let mut overlay: BTreeMap<Key, Datum> = BTreeMap::new();
        let mut reads = Vec::new();
        for m in &request.mops {
            let current = overlay
                .get(&m.key())
                .unwrap_or_else(|| self.get(m.key()))
                .clone();
            match m {
                Mop::R { .. } => reads.push(current),
                Mop::W { key, value } => {
                    overlay.insert(*key, Datum::Int(*value as i64));
                }
                Mop::Append { key, value } => {
                    let mut list = match current {
                        Datum::List(l) => l,
                        _ => Vec::new(),
                    };
                    list.push(*value);
                    overlay.insert(*key, Datum::List(list));
                }
                Mop::Add { key, delta } => {
                    let balance = match current {
                        Datum::Int(i) => i,
                        _ => 0,
                    };
                    match balance.checked_add(*delta).filter(|b| *b >= 0) {
                        Some(b) => {
                            overlay.insert(*key, Datum::Int(b));
                        }
                        None => {
                            out.votes.push((
                                txn,
                                request.coordinator,
                                Vote::No {
                                    why: AbortWhy::Refused,
                                },
                            ));
                            return;
                        }
                    }
                }
            }
        }
        let writes: Vec<(Key, Datum)> = overlay.into_iter().collect();
        out.records.push(PRecord::Prepared {
            txn,
            age: request.age,
            coordinator: request.coordinator,
            participants: request.participants.clone(),
            reads: reads.clone(),
            writes: writes.clone(),
            locks: needs.clone(),
        });
        out.sync |= !self.bugs.prepared_not_durable;
        out.votes.push((
            txn,
            request.coordinator,
            Vote::Yes {
                reads: reads.clone(),
            },
        ));
        self.hold(txn, &request, needs, reads, writes, now);
    }

    /// The locks `mops` need: exclusive on written keys, shared on keys only read (none with
    /// the `no_read_locks` bug), one entry per key in key order.
    fn needs(&self, mops: &[Mop]) -> Vec<(Key, bool)> {
        let mut needs: BTreeMap<Key, bool> = BTreeMap::new();
        for m in mops {
            let e = needs.entry(m.key()).or_insert(false);
            *e |= !m.is_read();
        }
        needs
            .into_iter()
            .filter(|&(_, exclusive)| exclusive || !self.bugs.no_read_locks)
            .collect()
    }

    fn hold(
        &mut self,
        txn: TxnId,
        request: &Request,
        locks: Vec<(Key, bool)>,
        reads: Vec<Datum>,
        writes: Vec<(Key, Datum)>,
        now: Time,
    ) {
        for &(key, exclusive) in &locks {
            let lock = self.locks.entry(key).or_default();
            if exclusive {
                lock.exclusive = Some(txn);
            } else {
                lock.shared.push(txn);
            }
        }
        self.prepared.insert(
            txn,
            Held {
                age: request.age,
                coordinator: request.coordinator,
                participants: request.participants.clone(),
                reads,
                writes,
                since: now,
                locks,
            },
        );
    }

    /// Applies or drops a prepared transaction and forgets its locks (no records written).
    fn finish(&mut self, txn: TxnId, commit: bool) {
        if let Some(held) = self.prepared.remove(&txn) {
            for &(key, _) in &held.locks {
                if let Some(lock) = self.locks.get_mut(&key) {
                    if lock.exclusive == Some(txn) {
                        lock.exclusive = None;
                    }
                    lock.shared.retain(|&t| t != txn);
                    if lock.exclusive.is_none() && lock.shared.is_empty() {
                        self.locks.remove(&key);
                    }
                }
            }
            if commit {
                for (key, value) in held.writes {
                    self.data.insert(key, value);
                }
            }
            self.journal.push((
                txn,
                if commit {
                    Done::Committed
                } else {
                    Done::Aborted
                },
            ));
        }
        self.waiting.remove(&txn);
        if commit {
            self.committed.insert(txn);
        } else {
            self.aborted.insert(txn);
        }
    }

    fn refuse(&mut self, txn: TxnId, out: &mut Out) {
        self.aborted.insert(txn);
        out.records.push(PRecord::Aborted { txn });
        out.sync = true;
    }

    /// The decision on `txn`: commit applies its writes, abort drops it; either way its locks
    /// go, the record is synced, and transactions waiting here get another try.
    pub fn decide(&mut self, txn: TxnId, commit: bool, now: Time, out: &mut Out) {
        if self.committed.contains(&txn) || (self.aborted.contains(&txn) && !commit) {
            return; // a repeated decision
        }
        if commit && self.aborted.contains(&txn) {
            // Committed elsewhere, aborted here: the journal already says so, and the
            // atomicity check compares it with the participants that committed.
            return;
        }
        if commit && !self.prepared.contains_key(&txn) {
            // Told to commit what it holds no record of: a prepared record was lost (or the
            // decision is wrong). It can apply nothing; the checks hear of it, once.
            if self.lost.insert(txn) {
                self.journal.push((txn, Done::Lost));
            }
            return;
        }
        out.records.push(if commit {
            PRecord::Committed { txn }
        } else {
            PRecord::Aborted { txn }
        });
        out.sync = true;
        self.finish(txn, commit);
        self.retry_waiting(now, out);
    }

    /// Gives every waiting transaction, oldest first, another try at its locks.
    fn retry_waiting(&mut self, now: Time, out: &mut Out) {
        if self.waiting.is_empty() {
            return;
        }
        let mut queue: Vec<(TxnId, Request, Time)> = std::mem::take(&mut self.waiting)
            .into_iter()
            .map(|(t, (r, since))| (t, r, since))
            .collect();
        queue.sort_by_key(|(_, r, _)| r.age);
        for (txn, request, since) in queue {
            self.attempt(txn, request, now, out);
            if let Some(w) = self.waiting.get_mut(&txn) {
                w.1 = since; // still waiting: since it first did
            }
        }
    }

    /// Time passes: a transaction that has waited `wait` or longer for its locks dies.
    pub fn tick(&mut self, now: Time, wait: Time, out: &mut Out) {
        let late: Vec<TxnId> = self
            .waiting
            .iter()
            .filter(|(_, (_, since))| now.sub(*since) >= wait)
            .map(|(t, _)| *t)
            .collect();
        for txn in late {
            if let Some((req, _)) = self.waiting.remove(&txn) {
                out.votes.push((
                    txn,
                    req.coordinator,
                    Vote::No {
                        why: AbortWhy::Timeout,
                    },
                ));
            }
        }
    }

    /// Transactions in doubt here for `after` or longer at `now`: (transaction, coordinator,
    /// participants).
    pub fn doubtful(&self, now: Time, after: Time) -> Vec<(TxnId, NodeId, Vec<NodeId>)> {
        self.prepared
            .iter()
            .filter(|(_, h)| now.sub(h.since) >= after)
            .map(|(t, h)| (*t, h.coordinator, h.participants.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(serial: u64) -> TxnId {
        TxnId { client: 0, serial }
    }

    fn prepare(p: &mut Participant, serial: u64, age: u64, mops: Vec<Mop>) -> Out {
        let mut out = Out::default();
        p.prepare(
            id(serial),
            Age(age, id(serial)),
            mops,
            NodeId(0),
            vec![NodeId(1)],
            Time::from_ms(age),
            &mut out,
        );
        out
    }

    fn vote(out: &Out) -> Option<&Vote> {
        out.votes.last().map(|(_, _, v)| v)
    }

    #[test]
    fn wait_die_makes_the_younger_die_and_the_older_wait_then_prepare() {
        let mut p = Participant::new(Datum::Nil);
        let w = |k| {
            vec![Mop::Append {
                key: k,
                value: k as u64 + 100,
            }]
        };
        // t1 (age 10) holds key 1.
        let out = prepare(&mut p, 1, 10, w(1));
        assert!(matches!(vote(&out), Some(Vote::Yes { .. })));
        assert!(out.sync, "the yes vote follows a synced record");
        // t2 is younger (age 20): it dies.
        let out = prepare(&mut p, 2, 20, w(1));
        assert_eq!(
            vote(&out),
            Some(&Vote::No {
                why: AbortWhy::Conflict
            })
        );
        // t0 is older (age 5): it waits, and prepares once t1 commits.
        let out = prepare(&mut p, 0, 5, w(1));
        assert!(out.votes.is_empty());
        assert_eq!(p.waiting().collect::<Vec<_>>(), vec![id(0)]);
        let mut out = Out::default();
        p.decide(id(1), true, Time::from_ms(30), &mut out);
        assert!(matches!(vote(&out), Some(Vote::Yes { .. })), "{out:?}");
        assert_eq!(p.get(1), &Datum::List(vec![101]));
        assert!(p.prepared().contains_key(&id(0)));
    }

    #[test]
    fn shared_locks_coexist_and_an_exclusive_one_waits_for_both() {
        let mut p = Participant::new(Datum::Nil);
        let r = vec![Mop::R { key: 3 }];
        assert!(matches!(
            vote(&prepare(&mut p, 1, 10, r.clone())),
            Some(Vote::Yes { .. })
        ));
        assert!(matches!(
            vote(&prepare(&mut p, 2, 20, r)),
            Some(Vote::Yes { .. })
        ));
        // An older writer waits for both readers.
        let out = prepare(&mut p, 0, 5, vec![Mop::W { key: 3, value: 1 }]);
        assert!(out.votes.is_empty());
        let mut out = Out::default();
        p.decide(id(1), true, Time::from_ms(30), &mut out);
        assert!(out.votes.is_empty(), "t2 still reads key 3");
        p.decide(id(2), false, Time::from_ms(31), &mut out);
        assert!(matches!(vote(&out), Some(Vote::Yes { .. })));
    }

    #[test]
    fn a_transfer_that_overdraws_votes_no_and_takes_no_lock() {
        let mut p = Participant::new(Datum::Int(5));
        let out = prepare(&mut p, 1, 10, vec![Mop::Add { key: 0, delta: -6 }]);
        assert_eq!(
            vote(&out),
            Some(&Vote::No {
                why: AbortWhy::Refused
            })
        );
        let out = prepare(
            &mut p,
            2,
            20,
            vec![Mop::Add { key: 0, delta: -5 }, Mop::R { key: 0 }],
        );
        assert_eq!(
            vote(&out),
            Some(&Vote::Yes {
                reads: vec![Datum::Int(0)]
            })
        );
    }

    #[test]
    fn recovery_replays_commits_in_order_and_puts_prepared_ones_back_in_doubt() {
        let mut p = Participant::new(Datum::Nil);
        let mut log = Vec::new();
        for (serial, value) in [(1, 1), (2, 2)] {
            let out = prepare(
                &mut p,
                serial,
                serial * 10,
                vec![Mop::Append { key: 4, value }],
            );
            log.extend(out.records);
            let mut out = Out::default();
            if serial == 1 {
                p.decide(id(1), true, Time::from_ms(15), &mut out);
            }
            log.extend(out.records);
        }
        let mut q = Participant::new(Datum::Nil);
        q.recover(&log, Time::from_ms(100));
        assert_eq!(q.get(4), &Datum::List(vec![1]));
        assert_eq!(q.knows(id(2)), Some(Knows::Prepared));
        // Its lock is held again: a younger writer of key 4 dies.
        let out = prepare(&mut q, 3, 300, vec![Mop::Append { key: 4, value: 3 }]);
        assert_eq!(
            vote(&out),
            Some(&Vote::No {
                why: AbortWhy::Conflict
            })
        );
        // A decision to commit applies the prepared writes.
        let mut out = Out::default();
        q.decide(id(2), true, Time::from_ms(110), &mut out);
        assert_eq!(q.get(4), &Datum::List(vec![1, 2]));
        assert_eq!(q.journal().last(), Some(&(id(2), Done::Committed)));
    }

    #[test]
    fn a_participant_asked_before_it_voted_aborts_and_refuses_the_late_prepare() {
        let mut p = Participant::new(Datum::Nil);
        let mut out = Out::default();
        assert_eq!(p.answer(id(1), &mut out), Knows::Aborted);
        assert!(out.sync, "the refusal is durable");
        let out = prepare(&mut p, 1, 10, vec![Mop::R { key: 0 }]);
        assert_eq!(
            vote(&out),
            Some(&Vote::No {
                why: AbortWhy::Aborted
            })
        );
        // Told to commit what it never prepared: it says so in its journal.
        let mut q = Participant::new(Datum::Nil);
        q.decide(id(9), true, Time::ZERO, &mut Out::default());
        assert_eq!(q.journal(), &[(id(9), Done::Lost)]);
    }
}
