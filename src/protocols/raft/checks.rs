//! The raft checks: the properties `properties()` offers to scenarios and the metric
//! `metrics()` reports. Where the check library has the property (one leader per term,
//! agreement on applied entries, committed entries durable on a majority, monotonic
//! counters, convergence), Raft gives it accessors here; log matching and leader
//! completeness are Raft's own monitors.

use super::*;
use crate::protocol::library::{
    AckedSurvive, Advances, Agreement, Annotations, Convergence, Monotonic, OneLeaderPerEpoch,
    map_difference, node_names, touched,
};
use crate::protocol::{StoreTally, Value, ratio};
use std::fmt;
use std::hash::Hash;

// What the checks, the metrics and the tests read of a node: oracle code, kept here beside
// the checks rather than in the protocol (mod.rs), as fd's and Multi-Paxos's are. No step of
// the protocol calls them, and the mutation routine mutates the protocol, not its oracle.
impl Raft {
    /// Current term.
    pub fn term(&self) -> u64 {
        self.term
    }
    /// Current role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// Commit index.
    pub fn commit_index(&self) -> u64 {
        self.commit
    }
    /// Last applied index.
    pub fn applied_index(&self) -> u64 {
        self.applied
    }
    /// The key-value map as applied so far.
    pub fn kv(&self) -> &BTreeMap<String, String> {
        self.service.data()
    }
    /// The key-value state machine (data and client sessions) as applied so far.
    pub fn service(&self) -> &KvService {
        &self.service
    }
    /// votedFor: the node this one voted for in its current term, if any.
    pub fn voted_for(&self) -> Option<NodeId> {
        self.vote
    }
    /// The repair mark `(L, T)` of a node that found a damaged entry at recovery, until its
    /// log is `L` long again (docs/raft.md, "Raft on disks that lie").
    pub fn repair_mark(&self) -> Option<(u64, u64)> {
        self.repair
    }
    /// The leader this node knows of in its current term (itself when it leads).
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    /// A leader's nextIndex for `peer`: the index of the next entry it will send there.
    /// Meaningful only while this node leads (it is reset at each election).
    pub fn next_index(&self, peer: NodeId) -> u64 {
        self.next[peer.index()]
    }
    /// A leader's matchIndex for `peer`: the highest index known to be replicated there
    /// (its own last index for the leader itself). Meaningful only while this node leads.
    pub fn match_index(&self, peer: NodeId) -> u64 {
        self.matched[peer.index()]
    }
}

/// Figure 2's Election Safety: at most one leader per term.
pub(super) fn election_safety() -> impl Monitor<Raft> {
    OneLeaderPerEpoch::new("leader", "term", Raft::term, |r| r.role == Role::Leader)
}

/// What a node's trace says is its state: its role always, its term once above 0, the
/// leader it follows and its commit index only once it knows them in this incarnation (a
/// restarted node has neither, and its last annotations are its previous incarnation's),
/// and the term a pre-vote round asks for while one is open.
pub(super) fn annotations_match_state() -> impl Monitor<Raft> {
    Annotations::new(
        &["role", "term", "leader", "commit", "pre_vote"],
        |r: &Raft, key| match key {
            "role" => Some(Value::Word(match r.role {
                Role::Follower => "follower",
                Role::Candidate => "candidate",
                Role::Leader => "leader",
            })),
            "term" => (r.term > 0).then(|| Value::from(r.term)),
            "leader" => r.leader.map(|l| Value::Node(Some(l))),
            "commit" => (r.commit > 0).then(|| Value::from(r.commit)),
            // The term a pre-vote round asks for, while one is open.
            "pre_vote" => r.pre_votes.as_ref().map(|_| Value::from(r.term + 1)),
            _ => None,
        },
    )
}

/// Figure 2's State Machine Safety: the entries nodes apply, by index, agree.
pub(super) fn state_machine_safety() -> impl Monitor<Raft> {
    Agreement::new(
        "applied",
        "index",
        // The journal is the applied entries the log still holds: those a snapshot holds
        // were checked while they were in the log.
        |view, n, r: &Raft| {
            let store = view.store(n);
            (r.applied.saturating_sub(store.first_index()) as usize).min(whole_log(view, n).len())
        },
        |view, n, _, i| {
            let store = view.store(n);
            (
                store.first_index() + i as u64 + 1,
                EntryId::of(&store.records()[i]),
            )
        },
    )
}

/// Every committed entry is in the synced log of a majority, or, on disks that lie, held or
/// guarded by a majority: a node guards the entry at an index if its synced record there is
/// damaged (it will find that at recovery) or its synced hard state carries a repair mark
/// past that index (it votes only for logs at least as up to date as the one it lost).
pub(super) fn committed_never_lost() -> impl Monitor<Raft> {
    fn acked(view: &View<'_, Raft>, n: NodeId, r: &Raft) -> usize {
        (r.commit as usize).min(whole_log(view, n).len())
    }
    fn describe(e: &EntryId, index: u64) -> String {
        format!("the entry {e} committed at index {index}")
    }
    CommittedNeverLost {
        intact: AckedSurvive::new(
            acked as AckedFn,
            EntryId::of as IdFn,
            describe as DescribeFn,
        ),
        committed: Vec::new(),
        compacting: false,
    }
}

/// A node's log as the checks read it: up to its first record that is not a whole entry.
/// Only a node that is not running is scanned for one (its store shows its disk, damage and
/// all). A running node's log holds only whole entries between steps: a damaged record
/// enters memory only when recovery reads the disk, and `recover_log` cuts the log at the
/// first one in that same step. The scan is O(log); doing it for every touched node on
/// every step cost Raft on disks most of its run. Debug builds (the tests') verify the rule.
fn whole_log<'a>(view: &View<'a, Raft>, n: NodeId) -> &'a [Record] {
    let log = view.store(n).records();
    if view.is_up(n) {
        debug_assert!(
            log.iter().all(|r| matches!(r, Record::Entry { .. })),
            "a damaged record stayed in running node {n}'s log after its step"
        );
        log
    } else {
        intact(log)
    }
}

/// The committed entries a node's log shows, learned into `committed` (by index − 1): an
/// index the log's front discarded before any check saw it is learned as
/// [`EntryId::UNKNOWN`].
fn learn_committed(committed: &mut Vec<EntryId>, view: &View<'_, Raft>, node: NodeId, commit: u64) {
    let base = view.store(node).first_index();
    let log = whole_log(view, node);
    let upto = commit.min(base + log.len() as u64);
    while (committed.len() as u64) < upto {
        let k = committed.len() as u64;
        committed.push(match k.checked_sub(base) {
            Some(p) => EntryId::of(&log[p as usize]),
            None => EntryId::UNKNOWN,
        });
    }
}

type AckedFn = for<'a> fn(&View<'a, Raft>, NodeId, &'a Raft) -> usize;
type IdFn = fn(&Record) -> EntryId;
type DescribeFn = fn(&EntryId, u64) -> String;

/// `committed_never_lost`: the library's incremental count of intact synced copies, and,
/// only for the entries that count finds short (a damaged copy), a count that includes the
/// guards.
#[derive(Clone, Hash)]
pub(super) struct CommittedNeverLost {
    intact: AckedSurvive<Raft, EntryId, AckedFn, IdFn, DescribeFn>,
    /// The committed entries, by position.
    committed: Vec<EntryId>,
    /// Snapshots are on (`snapshot_every` > 0): logs are compacted, so the count is by
    /// absolute index, and a whole synced snapshot copy holds every entry up to its index.
    compacting: bool,
}

impl Monitor<Raft> for CommittedNeverLost {
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, Raft>, _: Option<&Trigger>) -> Result<(), Failure> {
        for node in touched(view) {
            let Some(r) = view.node(node) else { continue };
            self.compacting |= r.config.snapshot_every > 0;
            learn_committed(&mut self.committed, view, node, r.commit);
        }
        if self.compacting {
            return self.check_compacted(view);
        }
        self.intact.update(view);
        if self.intact.short_positions().next().is_none() {
            return Ok(());
        }
        // Only the entries short of intact copies: does a majority hold or guard them?
        let n = view.cluster_size();
        let guards: Vec<(&[Record], u64)> = (0..n)
            .map(NodeId)
            .map(|x| {
                let store = view.store(x);
                (store.synced_records(), synced_mark(store))
            })
            .collect();
        for k in self.intact.short_positions() {
            let Some(c) = self.committed.get(k) else {
                continue;
            };
            let held = guards
                .iter()
                .filter(|(log, mark)| {
                    *mark > k as u64
                        || match log.get(k) {
                            Some(r @ Record::Entry { .. }) => EntryId::of(r) == *c,
                            Some(Record::Damaged { .. }) => true,
                            _ => false,
                        }
                })
                .count() as u32;
            if held < quorum::majority(n) {
                return Err(self.intact.failure(view, k));
            }
        }
        Ok(())
    }
}

/// The repair mark's length in a node's synced hard state (the larger of the two copies'),
/// 0 without one.
fn synced_mark(store: &Store<Record>) -> u64 {
    ["hard#1", "hard#2"]
        .iter()
        .filter_map(|c| match store.synced_cell(c) {
            Some(Record::Hard { state, .. }) => state.repair.map(|(len, _)| len),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

impl CommittedNeverLost {
    /// With compacted logs: a node holds a committed entry if a whole synced snapshot copy
    /// covers its index, its synced log has it there (or a damaged record: it will find the
    /// damage at recovery), or its synced repair mark is past it. Entries up to the index
    /// that a majority's snapshots cover are held; only those after are counted.
    fn check_compacted(&self, view: &View<'_, Raft>) -> Result<(), Failure> {
        let n = view.cluster_size();
        let disks: Vec<(u64, u64, &[Record], u64)> = (0..n)
            .map(NodeId)
            .map(|x| {
                let store = view.store(x);
                let cell = |c: &str| store.synced_cell(c);
                let snap = SNAP_COPIES
                    .names
                    .iter()
                    .filter_map(|c| match cell(c) {
                        Some(Record::Snap { snap, .. }) => Some(snap.index),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                let mark = synced_mark(store);
                (
                    snap,
                    mark,
                    store.synced_records(),
                    store.synced_first_index(),
                )
            })
            .collect();
        let majority = quorum::majority(n);
        let floor = quorum_value(disks.iter().map(|d| d.0), majority);
        for (k, c) in self.committed.iter().enumerate().skip(floor as usize) {
            let k = k as u64;
            let holds = |&(snap, mark, log, first): &(u64, u64, &[Record], u64)| {
                snap > k
                    || mark > k
                    || match k.checked_sub(first).and_then(|p| log.get(p as usize)) {
                        Some(r @ Record::Entry { .. }) => {
                            *c == EntryId::UNKNOWN || EntryId::of(r) == *c
                        }
                        Some(Record::Damaged { .. }) => true,
                        _ => false,
                    }
            };
            let held = disks.iter().filter(|d| holds(d)).count() as u32;
            if held < majority {
                let lacking: Vec<NodeId> = (0..n)
                    .map(NodeId)
                    .filter(|x| !holds(&disks[x.index()]))
                    .collect();
                return Err(Failure::new(
                    format!(
                        "the entry {c} committed at index {} is on the disks of only {held} of the {n} nodes (a synced log entry, a whole snapshot copy through it, or a repair mark past it): crashes can lose it",
                        k + 1
                    ),
                    lacking,
                ));
            }
        }
        Ok(())
    }
}

/// The term is synced before anything depends on it: it never goes down, restarts included.
pub(super) fn term_monotonic() -> impl Monitor<Raft> {
    Monotonic::durable("term", Raft::term)
}

/// The commit index is volatile (§5, Figure 2) but never goes down while a node is up.
pub(super) fn commit_index_monotonic() -> impl Monitor<Raft> {
    Monotonic::volatile("commit index", Raft::commit_index)
}

/// The applied index is volatile but never goes down while a node is up.
pub(super) fn applied_index_monotonic() -> impl Monitor<Raft> {
    Monotonic::volatile("applied index", Raft::applied_index)
}

/// After the heal a majority commits past the highest commit index of the heal.
pub(super) fn commit_advances() -> impl Monitor<Raft> {
    Advances::new("commit index", Raft::commit_index)
}

/// The up nodes' applied key-value maps are the same.
pub(super) fn replicas_converge() -> impl Invariant<Raft> {
    Convergence::new("applied key-value maps", Raft::kv, map_difference)
}

/// An entry's identity: its term and its command's (client, request id), or none for a no-op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct EntryId {
    term: u64,
    command: Option<(ClientId, RequestId)>,
}

impl EntryId {
    /// An entry a check could not read: the log's front had discarded it first.
    const UNKNOWN: EntryId = EntryId {
        term: u64::MAX - 1,
        command: None,
    };

    /// A damaged record is no entry: its id matches none (term `u64::MAX`).
    fn of(r: &Record) -> EntryId {
        match r {
            Record::Entry { entry: e, .. } => EntryId {
                term: e.term,
                command: e.command.as_ref().map(|c| (c.client, c.id)),
            },
            _ => EntryId {
                term: u64::MAX,
                command: None,
            },
        }
    }
}

/// An entry's command as a violation message names it: `c1 request 19`, or `a no-op`.
fn show(c: Option<(ClientId, RequestId)>) -> String {
    match c {
        Some((client, id)) => format!("{client} request {}", id.serial()),
        None => "a no-op".to_string(),
    }
}

/// `(c1 request 19) of term 3`, or `(a no-op) of term 3`.
impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}) of term {}", show(self.command), self.term)
    }
}

/// Figure 2's Log Matching, watched incrementally: a copy of each node's log as last seen
/// (as entry ids), so each step looks only at the suffix that changed (Raft only ever
/// changes a log's suffix), and every (index, term) ever seen with its entry and the term
/// before it.
#[derive(Clone, Default, Hash)]
pub(super) struct LogMatching {
    /// Per node: the log's first index minus one (its front discarded) and its entries.
    seen: Vec<(u64, Vec<EntryId>)>,
    /// Per (index, term): the entry and the term before it (`None`: the first entry after
    /// a discarded front, whose predecessor's term the log no longer shows).
    index: BTreeMap<(u64, u64), (EntryId, Option<u64>)>,
}

impl Monitor<Raft> for LogMatching {
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, Raft>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.seen.len() != n {
            self.seen = vec![(0, Vec::new()); n];
        }
        for node in touched(view) {
            let store = view.store(node);
            let base = store.first_index();
            let log = whole_log(view, node);
            if self.seen[node.index()].0 != base {
                self.seen[node.index()] = (base, Vec::new()); // the front moved: look again
            }
            // The first index whose entry differs from what we saw last time.
            let old = &self.seen[node.index()].1;
            let mut from = old.len().min(log.len());
            while from > 0 && old[from - 1] != EntryId::of(&log[from - 1]) {
                from -= 1;
            }
            if from == log.len() && from == old.len() {
                continue; // unchanged
            }
            let seen = &mut self.seen[node.index()].1;
            seen.truncate(from);
            for (k, r) in log.iter().enumerate().skip(from) {
                let idx = base + k as u64 + 1;
                let prev_term = match k {
                    0 if base > 0 => None,
                    0 => Some(0),
                    _ => Some(entry(&log[k - 1]).term),
                };
                let eid = EntryId::of(r);
                seen.push(eid);
                let differ = |a: Option<u64>, b: Option<u64>| a.zip(b).is_some_and(|(a, b)| a != b);
                match self.index.get(&(idx, eid.term)) {
                    Some(&(other, other_prev)) if other != eid || differ(other_prev, prev_term) => {
                        let (prev_term, other_prev) =
                            (prev_term.unwrap_or(0), other_prev.unwrap_or(0));
                        return Err(Failure::new(
                            format!(
                                "{node} has at index {idx} term {} the entry ({}) after term {prev_term}, but another log has ({}) after term {other_prev} there",
                                eid.term,
                                show(eid.command),
                                show(other.command)
                            ),
                            vec![node],
                        ));
                    }
                    Some(&(_, None)) if prev_term.is_some() => {
                        self.index.insert((idx, eid.term), (eid, prev_term));
                    }
                    Some(_) => {}
                    None => {
                        self.index.insert((idx, eid.term), (eid, prev_term));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Figure 2's Leader Completeness: the entries known committed (learned from each node's
/// commit index and log, by index) and, per node, the term in which it was last checked as
/// a new leader, so each leader is checked once per term.
#[derive(Clone, Default, Hash)]
pub(super) struct LeaderCompleteness {
    committed: Vec<EntryId>,
    /// Per committed index: the term in which it was first seen committed.
    committed_in: Vec<u64>,
    leader_checked: Vec<u64>,
}

impl Monitor<Raft> for LeaderCompleteness {
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, Raft>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.leader_checked.len() != n {
            self.leader_checked = vec![0; n];
        }
        for node in touched(view) {
            let Some(r) = view.node(node) else { continue };
            let store = view.store(node);
            let base = store.first_index() as usize;
            let log = whole_log(view, node);
            // Learn newly committed entries from this node's commit index.
            let before = self.committed.len();
            learn_committed(&mut self.committed, view, node, r.commit);
            for _ in before..self.committed.len() {
                // Usually the committing leader itself, in the step it commits; a follower
                // seen first can only be in the same term or later, which checks fewer
                // leaders, never more.
                self.committed_in.push(r.term);
            }
            let i = node.index();
            if r.role != Role::Leader || self.leader_checked[i] == r.term {
                continue;
            }
            self.leader_checked[i] = r.term;
            for (k, c) in self.committed.iter().enumerate() {
                if self.committed_in[k] >= r.term {
                    // Committed in this term or a later one: a leader elected late (its
                    // votes were delayed) need not hold it (§5.4's "higher-numbered terms").
                    continue;
                }
                if k < base || *c == EntryId::UNKNOWN {
                    continue; // its snapshot holds it (snapshots hold committed entries)
                }
                let has = log.get(k - base).map(EntryId::of);
                if has != Some(*c) {
                    return Err(Failure::new(
                        format!(
                            "{node} became leader of term {} without the entry ({}) of term {} committed at index {}",
                            r.term,
                            show(c.command),
                            c.term,
                            k + 1
                        ),
                        vec![node],
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Figure 2's votedFor: a node votes at most once per term, so once it has voted in a term
/// it keeps that vote, across restarts too (term and vote are synced before the vote is
/// sent), until its term changes.
#[derive(Clone, Default, Hash)]
pub(super) struct VoteKept {
    /// Per node: its term and vote when last seen.
    seen: Vec<(u64, Option<NodeId>)>,
}

impl Monitor<Raft> for VoteKept {
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, Raft>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.seen.len() != n {
            self.seen = vec![(0, None); n];
        }
        for node in touched(view) {
            let Some(r) = view.node(node) else { continue };
            let (term, vote) = std::mem::replace(&mut self.seen[node.index()], (r.term, r.vote));
            if let Some(v) = vote.filter(|_| term == r.term && r.vote != vote) {
                let now = r.vote.map_or("none".to_string(), |w| w.to_string());
                return Err(Failure::new(
                    format!(
                        "{node} voted for {v} in term {term}, and its vote in that term is now {now}"
                    ),
                    vec![node],
                ));
            }
        }
        Ok(())
    }
}

/// Figure 2's rule for followers and candidates: a node that accepts AppendEntries from the
/// leader of its term (it then notes the time it heard a leader) follows it: after that step
/// it is a follower and knows who leads (the redirect it gives clients, the `leader` its
/// trace shows).
#[derive(Clone, Default, Hash)]
pub(super) struct FollowsWhoItHears {
    /// Per node: when it last heard from a leader, as last seen.
    heard: Vec<Option<Time>>,
}

impl Monitor<Raft> for FollowsWhoItHears {
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, Raft>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.heard.len() != n {
            self.heard = vec![None; n];
        }
        for node in touched(view) {
            let Some(r) = view.node(node) else { continue };
            let before = std::mem::replace(&mut self.heard[node.index()], r.heard_leader);
            if r.heard_leader.is_some()
                && r.heard_leader != before
                && (r.role != Role::Follower || r.leader.is_none())
            {
                let leader = r.leader.map_or("nobody".to_string(), |l| l.to_string());
                return Err(Failure::new(
                    format!(
                        "{node} accepted an append from the leader of term {} but is {} and takes {leader} for its leader",
                        r.term,
                        r.role.name()
                    ),
                    vec![node],
                ));
            }
        }
        Ok(())
    }
}

/// Thesis §6.4, reads without the log: a leader answers a read only after a majority has
/// acknowledged a heartbeat round sent *after* the read arrived (an earlier round proves
/// nothing about leadership at the time of the read), and holds each read once. Checked on
/// the leader's bookkeeping: a read that appears among its pending reads waits for a round
/// later than every round it had sent before that step, and no read is pending twice.
#[derive(Clone, Default, Hash)]
pub(super) struct ReadsAfterArrival {
    /// Per node: its incarnation, the last round it had sent, and the reads it held, as
    /// last seen.
    seen: Vec<ReadsSeen>,
}

/// One node's incarnation, the last round it had sent, and the reads it held.
type ReadsSeen = (u32, u64, Vec<(ClientId, RequestId)>);

impl Monitor<Raft> for ReadsAfterArrival {
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, Raft>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.seen.len() != n {
            self.seen = vec![(0, 0, Vec::new()); n];
        }
        for node in touched(view) {
            let seen = &mut self.seen[node.index()];
            let Some(r) = view.node(node) else {
                *seen = (view.incarnation(node), 0, Vec::new());
                continue;
            };
            if seen.0 != view.incarnation(node) {
                *seen = (view.incarnation(node), 0, Vec::new());
            }
            if r.reads.is_empty() && seen.2.is_empty() {
                seen.1 = r.round;
                continue;
            }
            for (i, read) in r.reads.iter().enumerate() {
                let key = (read.client, read.id);
                if r.reads[..i].iter().any(|o| (o.client, o.id) == key) {
                    return Err(Failure::new(
                        format!(
                            "{node} holds read {} of {} twice",
                            read.id.serial(),
                            read.client
                        ),
                        vec![node],
                    ));
                }
                if !seen.2.contains(&key) && read.round <= seen.1 {
                    return Err(Failure::new(
                        format!(
                            "{node} took read {} of {} to be confirmed by round {}, but it had already sent round {} when the read arrived",
                            read.id.serial(),
                            read.client,
                            read.round,
                            seen.1
                        ),
                        vec![node],
                    ));
                }
            }
            seen.1 = r.round;
            seen.2.clear();
            seen.2.extend(r.reads.iter().map(|o| (o.client, o.id)));
        }
        Ok(())
    }
}

/// With check-quorum on, a leader that no longer hears from a majority steps down (thesis
/// §6.2). As a state check: every up leader is linked both ways with a majority of the
/// cluster, counting itself and the up nodes in its term. Use as `always` in a window that
/// starts two `election_ms_max` after a leader is cut off (its quorum timer fires once a
/// period: the first firing after the cut may still count replies from before it).
pub(super) fn leaders_linked(view: &View<'_, Raft>, _: Option<&Trigger>) -> Result<(), Failure> {
    for n in view.nodes() {
        let Some(r) = view.node(n).filter(|r| r.role == Role::Leader) else {
            continue;
        };
        if !view.is_up(n) {
            continue;
        }
        let with = linked_in_term(view, n, r.term);
        if with * 2 <= view.cluster_size() {
            return Err(Failure::new(
                format!(
                    "{n} still leads term {} but only {with} of the {} nodes are up, in that term and linked with it both ways",
                    r.term,
                    view.cluster_size()
                ),
                vec![n],
            ));
        }
    }
    Ok(())
}

/// How many nodes are up, in `term`, and linked both ways with `leader` (itself included).
fn linked_in_term(view: &View<'_, Raft>, leader: NodeId, term: u64) -> u32 {
    view.nodes()
        .filter(|&n| {
            view.is_up(n)
                && view.node(n).is_some_and(|r| r.term == term)
                && (n == leader || (view.can_send(leader, n) && view.can_send(n, leader)))
        })
        .count() as u32
}

/// Only a leader holds client requests: a node that does not lead answers a client at once
/// (a redirect), and a leader that steps down forgets the commands and reads it was holding
/// (the clients retry with the new leader), so no answer comes from a node that is not
/// leading.
pub(super) fn requests_only_at_leader(
    view: &View<'_, Raft>,
    _: Option<&Trigger>,
) -> Result<(), Failure> {
    for node in touched(view) {
        let Some(r) = view.node(node) else { continue };
        if r.role != Role::Leader && (!r.waiting.is_empty() || !r.reads.is_empty()) {
            return Err(Failure::new(
                format!(
                    "{node} is {} in term {} and still holds {} command(s) and {} read(s) of clients from when it led",
                    r.role.name(),
                    r.term,
                    r.waiting.len(),
                    r.reads.len()
                ),
                vec![node],
            ));
        }
    }
    Ok(())
}

/// A log's last entry as the up-to-date rule compares them (§5.4.1): (last term, last index).
fn log_position(r: &Raft, store: &Store<Record>) -> (u64, u64) {
    let (index, term) = r.log_end(store);
    (term, index)
}

/// Pre-vote (Ongaro's thesis, §9.6): a node stands (raises its term as a candidate) only
/// after a majority, itself included, granted its pre-vote, and a node grants one only if it
/// is not a leader, has not heard from a leader for the shortest election timeout, has a
/// lower term than the one asked for and a log no more up to date than the asker's. The
/// grants are not visible, so the monitor keeps, for each node asking in its current term,
/// which nodes it has seen (since the first ask of that term, across restarts) in a state in
/// which they could have granted: a grant is given in a step of the granter's, after the ask,
/// in exactly such a state, so every real grant is counted, and a stand backed by fewer than
/// a majority of possible granters is a wrong grant or a wrong count. The most up-to-date
/// log the asker has asked with is the one compared. Off when pre-vote is off.
#[derive(Clone, Default, Hash)]
pub(super) struct PreVoteMajority {
    /// Per node: the term it was last seen in.
    terms: Vec<u64>,
    /// Per node: the pre-vote asks of its current term, if it has asked.
    asks: Vec<Option<Ask>>,
}

#[derive(Clone, Hash)]
struct Ask {
    /// The asker's term (it asks for the next one).
    term: u64,
    /// The most up-to-date log position it has asked with.
    log: (u64, u64),
    /// Per node: seen since the first ask in a state that could grant it.
    could_grant: Vec<bool>,
}

impl Monitor<Raft> for PreVoteMajority {
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, Raft>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if n == 1 {
            return Ok(());
        }
        if self.terms.len() != n {
            self.terms = vec![0; n];
            self.asks = vec![None; n];
        }
        for node in touched(view) {
            let Some(r) = view.node(node) else { continue };
            if !r.config.pre_vote {
                return Ok(());
            }
            let i = node.index();
            let before = self.terms[i];
            self.terms[i] = r.term;
            if r.term > before && r.role == Role::Candidate {
                let ask = self.asks[i].as_ref().filter(|a| a.term + 1 == r.term);
                let could: Vec<bool> = match ask {
                    Some(a) => (0..n).map(|g| g == i || a.could_grant[g]).collect(),
                    None => (0..n).map(|g| g == i).collect(),
                };
                let count = could.iter().filter(|&&c| c).count();
                if count * 2 <= n {
                    return Err(Failure::new(
                        format!(
                            "{node} stood for term {} though only {} of the {n} nodes ({}) could have granted its pre-vote: the others were leaders, had heard from a leader within election_ms_min, had a term of at least {} or a more up-to-date log whenever they were seen since it asked",
                            r.term,
                            count,
                            node_names(&could),
                            r.term
                        ),
                        vec![node],
                    ));
                }
            }
            if r.pre_votes.is_some() {
                let log = log_position(r, view.store(node));
                match &mut self.asks[i] {
                    Some(a) if a.term == r.term => a.log = a.log.max(log),
                    slot => {
                        *slot = Some(Ask {
                            term: r.term,
                            log,
                            could_grant: vec![false; n],
                        })
                    }
                }
            } else if self.asks[i].as_ref().is_some_and(|a| a.term != r.term) {
                self.asks[i] = None;
            }
        }
        for node in touched(view) {
            let Some(g) = view.node(node) else { continue };
            let now = view.local_time(node);
            let min = Time::from_ms(g.config.election_ms_min);
            let free = g.role != Role::Leader && g.heard_leader.is_none_or(|t| now.sub(t) >= min);
            if !free {
                continue;
            }
            let log = log_position(g, view.store(node));
            for ask in self.asks.iter_mut().flatten() {
                let gi = node.index();
                if !ask.could_grant[gi] && g.term <= ask.term && log <= ask.log {
                    ask.could_grant[gi] = true;
                }
            }
        }
        Ok(())
    }
}

/// Run statistics for the summary.
#[derive(Default)]
pub(super) struct RaftMetrics {
    leaders: BTreeMap<u64, NodeId>,
    highest_term: u64,
    committed: u64,
    /// Latencies of completed client operations (ok), microseconds; and how many were seen.
    latencies: Vec<u64>,
    ops_seen: usize,
    messages: u64,
    stores: StoreTally,
    /// Per node: the term it was seen become leader in and when, until it first commits
    /// in that term.
    new_leader: Vec<Option<(u64, Time)>>,
    /// The longest a new leader took to commit its first entry (its no-op), microseconds.
    first_commit_us: Option<u64>,
    /// Per node while it leads: how it has been bringing each follower up to date.
    catch_up: Vec<Option<CatchUp>>,
    /// The most times one leader moved `next` back for one follower in one term.
    moves_back_max: u32,
    /// The most entries a move back went below the first entry the follower lacked (it
    /// would resend entries the follower already holds); 0 if none ever did.
    overshoot_max: u64,
    /// The longest catch-up, microseconds: from a leader's first move back for a follower
    /// in its term until the follower holds everything the leader held at that moment.
    catch_up_us_max: Option<u64>,
}

/// A leader's catch-up bookkeeping for one term, per follower.
#[derive(Debug, Clone)]
struct CatchUp {
    term: u64,
    next: Vec<u64>,
    moves_back: Vec<u32>,
    /// (since, the leader's last index then) while a catch-up is under way.
    open: Vec<Option<(Time, u64)>>,
}

/// The length of the longest prefix two logs share, comparing terms (Log Matching: the
/// same term at an index means the same entry there and before).
fn common_prefix(a: &[Record], b: &[Record]) -> u64 {
    a.iter()
        .zip(b)
        .take_while(|(x, y)| entry(x).term == entry(y).term)
        .count() as u64
}

impl RaftMetrics {
    /// Follows `next` and `matched` of leader `n`: a move back of `next` (a refusal
    /// handled) is counted, measured against the follower's real log, and starts the clock
    /// of a catch-up that ends when the follower is known to hold the leader's log of then.
    fn observe_catch_up(&mut self, view: &View<'_, Raft>, n: NodeId, r: &Raft) {
        let size = view.cluster_size() as usize;
        if self.catch_up.len() != size {
            self.catch_up = vec![None; size];
        }
        let slot = &mut self.catch_up[n.index()];
        if r.role != Role::Leader || r.next.len() != size {
            *slot = None;
            return;
        }
        let c = match slot {
            Some(c) if c.term == r.term => c,
            _ => slot.insert(CatchUp {
                term: r.term,
                next: r.next.clone(),
                moves_back: vec![0; size],
                open: vec![None; size],
            }),
        };
        let last = view.store(n).len() as u64;
        for p in 0..size {
            if r.next[p] < c.next[p] {
                c.moves_back[p] += 1;
                self.moves_back_max = self.moves_back_max.max(c.moves_back[p]);
                let follower = view.store(NodeId(p as u32)).records();
                let lacks_from = common_prefix(view.store(n).records(), follower) + 1;
                self.overshoot_max = self.overshoot_max.max(lacks_from.saturating_sub(r.next[p]));
                if c.open[p].is_none() {
                    c.open[p] = Some((view.time, last));
                }
            }
            c.next[p] = r.next[p];
            if let Some((since, target)) = c.open[p]
                && r.matched[p] >= target
            {
                let us = view.time.sub(since).as_us();
                self.catch_up_us_max = Some(self.catch_up_us_max.map_or(us, |m| m.max(us)));
                c.open[p] = None;
            }
        }
    }
}

impl Metric<Raft> for RaftMetrics {
    fn observe(&mut self, view: &View<'_, Raft>) {
        for n in touched(view) {
            self.stores.observe(view, n);
            let Some(r) = view.node(n) else {
                if let Some(slot) = self.catch_up.get_mut(n.index()) {
                    *slot = None;
                }
                continue;
            };
            self.highest_term = self.highest_term.max(r.term);
            self.committed = self.committed.max(r.commit);
            self.observe_catch_up(view, n, r);
            if self.new_leader.len() != view.cluster_size() as usize {
                self.new_leader = vec![None; view.cluster_size() as usize];
            }
            let slot = &mut self.new_leader[n.index()];
            if r.role == Role::Leader {
                if let std::collections::btree_map::Entry::Vacant(e) = self.leaders.entry(r.term) {
                    e.insert(n);
                    *slot = Some((r.term, view.time));
                }
                // Its first commit in its term: the no-op (or a later entry, which commits
                // it too) stored on a majority.
                if let Some((term, since)) = *slot {
                    let store = view.store(n);
                    let log = store.records();
                    let at_commit = (r.commit.checked_sub(store.first_index() + 1))
                        .and_then(|i| log.get(i as usize));
                    if term == r.term && at_commit.is_some_and(|e| entry(e).term == term) {
                        let us = view.time.sub(since).as_us();
                        self.first_commit_us = Some(self.first_commit_us.map_or(us, |m| m.max(us)));
                        *slot = None;
                    }
                }
            } else {
                *slot = None;
            }
        }
        if matches!(view.touched, Some(Endpoint::Client(_)) | None) {
            let ops = view.history().ops();
            // Operations complete out of order: rescan the few still open at the tail.
            while self.ops_seen < ops.len()
                && !matches!(ops[self.ops_seen].outcome, Outcome::Pending)
            {
                let op = &ops[self.ops_seen];
                if let (Outcome::Ok(_), Some(done)) = (&op.outcome, op.completed_at) {
                    self.latencies.push(done.sub(op.invoked_at).as_us());
                }
                self.ops_seen += 1;
            }
        }
        self.messages = view.network().stats().sent;
    }

    fn report(&self) -> Vec<(String, serde_json::Value)> {
        let mut lat = self.latencies.clone();
        lat.sort_unstable();
        let pct = |p: usize| {
            lat.get((lat.len().saturating_sub(1)) * p / 100)
                .map(|&us| us as f64 / 1000.0)
        };
        let leaders: serde_json::Map<String, serde_json::Value> = self
            .leaders
            .iter()
            .map(|(t, n)| (t.to_string(), n.to_string().into()))
            .collect();
        let per_commit = |x: u64| ratio(x, self.committed);
        vec![
            ("raft.leaders_by_term".into(), leaders.into()),
            ("raft.terms".into(), self.highest_term.into()),
            (
                "raft.terms_with_leader".into(),
                (self.leaders.len() as u64).into(),
            ),
            ("raft.committed_entries".into(), self.committed.into()),
            (
                "raft.client_ops_ok".into(),
                (self.latencies.len() as u64).into(),
            ),
            (
                "raft.latency_ms".into(),
                serde_json::json!({"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": lat.last().map(|&us| us as f64 / 1000.0)}),
            ),
            (
                "raft.new_leader_first_commit_ms".into(),
                self.first_commit_us.map(|us| us as f64 / 1000.0).into(),
            ),
            (
                "raft.catch_up".into(),
                serde_json::json!({
                    "moves_back_max": self.moves_back_max,
                    "overshoot_max": self.overshoot_max,
                    "ms_max": self.catch_up_us_max.map(|us| us as f64 / 1000.0),
                }),
            ),
            ("raft.messages_per_commit".into(), per_commit(self.messages)),
            (
                "raft.syncs_per_commit".into(),
                per_commit(self.stores.syncs()),
            ),
        ]
    }
}

/// Some up node leads with a working majority: the up nodes in its term that it is linked
/// with both ways, itself included, are more than half of the whole cluster. Every up leader
/// is tried, so a stale leader cut off from the others neither satisfies the check (it has
/// no majority around it) nor hides the real leader (whatever its id). Two leaders cannot
/// both pass: two majorities share a node, and a node is in one term.
pub(super) fn leader_elected(view: &View<'_, Raft>, _: Option<&Trigger>) -> Result<(), Failure> {
    let up: Vec<NodeId> = view.nodes().filter(|&n| view.is_up(n)).collect();
    let leaders: Vec<(NodeId, u64)> = up
        .iter()
        .filter_map(|&n| {
            view.node(n)
                .filter(|r| r.role == Role::Leader)
                .map(|r| (n, r.term))
        })
        .collect();
    if leaders.is_empty() {
        return Err(Failure::new("no up node is leader", vec![]));
    }
    let mut best: Option<(NodeId, u64, u32)> = None;
    for &(leader, term) in &leaders {
        let with = linked_in_term(view, leader, term);
        if with * 2 > view.cluster_size() {
            return Ok(());
        }
        if best.is_none_or(|(_, _, b)| with > b) {
            best = Some((leader, term, with));
        }
    }
    let (leader, term, with) = best.expect("at least one leader");
    let others = if leaders.len() > 1 {
        format!(
            " (and no other of the {} up leaders does better)",
            leaders.len()
        )
    } else {
        String::new()
    };
    Err(Failure::new(
        format!(
            "{leader} leads term {term} but only {with} of the {} nodes are up, in that term and linked with it both ways{others}",
            view.cluster_size()
        ),
        leaders.iter().map(|&(n, _)| n).collect(),
    ))
}
