//! Raft: a replicated key-value store (Ongaro and Ousterhout, "In Search of an Understandable
//! Consensus Algorithm", extended version, 2014). Section numbers below refer to that paper.
//!
//! Each node is a follower, a candidate or a leader (§5.1). A follower that hears nothing
//! from a leader for a randomized election timeout becomes a candidate, bumps its term and
//! asks for votes; a node grants at most one vote per term, and only to a candidate whose log
//! is at least as up to date as its own (§5.2, §5.4.1). A candidate with votes from a
//! majority becomes leader, appends a no-op entry of its term, and replicates its log with
//! AppendEntries: each carries the index and term of the entry before the new ones, and a
//! follower whose log does not match there refuses, telling the leader where its log
//! diverges so the leader can skip back a whole term at a time (§5.3, the "fast backtracking"
//! optimisation at the end of that section). The leader commits an entry of *its own term*
//! once a majority stores it, and with it everything before (§5.4.2: counting replicas of an
//! older term's entry is the Figure 8 mistake). Every node applies committed entries to the
//! key-value map in log order.
//!
//! Durable state is `currentTerm`, `votedFor` and the log, written to the node's store and
//! synced before any reply that depends on them leaves the node (§5, Figure 2 "Persistent
//! state"; a log append costs one record). After a crash a node recovers only what it synced.
//!
//! Clients send get, put and append to any node; a follower redirects them to the leader it
//! knows. Each request carries an id that is the same across retries, and the state machine
//! remembers the last request applied per client, so a retried write is applied once (§8).
//!
//! Bug switches re-introduce classic mistakes; docs/raft.md lists what each breaks and
//! which check catches it.

mod checks;
mod disk;

pub use crate::kit::kv::{Answer, Command, Op};

use crate::kit::kv::{self, KvGenerator, KvMix, KvService, KvWorkload, Seen, Waiting};
use crate::kit::quorum::{self, Quorum, quorum_value};
use crate::kit::wal::{self, Copies};
use crate::protocol::{
    ClientId, Codec, ConfigError, Ctx, Driver, Endpoint, Explorable, Failure, HistoryCall,
    HistoryCheck, Invariant, Knob, Liveness, Metric, MetricDef, Monitor, NodeId, Outcome, Place,
    PropertyDef, Protocol, RequestId, Shown, Store, Time, Trigger, Val, View, Vocabulary,
};
use checks::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// Grant votes without checking that the candidate's log is up to date (§5.4.1).
    pub skip_up_to_date_check: bool,
    /// Commit entries of earlier terms by counting replicas (the Figure 8 mistake, §5.4.2).
    pub commit_old_terms: bool,
    /// Answer RequestVote and AppendEntries before syncing term, vote and log.
    pub reply_before_sync: bool,
    /// On AppendEntries, truncate the log at the first new entry even if it matches.
    pub truncate_on_match: bool,
    /// Count every vote reply, so a duplicated message counts twice.
    pub count_duplicate_votes: bool,
    /// With `read_mode` `leader`: answer reads from the leader's state at once, without
    /// confirming it is still the leader (a deposed leader serves stale values).
    pub stale_leader_reads: bool,
    /// Read the disk as a store without checksums would: a damaged record is taken for
    /// whatever its bytes spell (a flipped bit in a term, a misdirected entry) and a torn
    /// hard-state copy for its mix of new and old bytes.
    pub no_checksums: bool,
    /// At recovery, cut the log at the first damaged entry and carry on as if that were
    /// all the node ever had, voting as usual: the unsafe fix of Alagappan et al. (FAST
    /// 2018, "Protocol-Aware Recovery for Consensus-Based Storage"): a committed entry held
    /// by a bare majority, one of them damaged, can be lost to an election.
    pub truncate_on_damage: bool,
    /// Take a failed sync for a good one: acknowledge (votes, AppendEntries, the leader's
    /// own count) writes the disk never got (the PostgreSQL fsync error, 2018).
    pub ignore_failed_sync: bool,
    /// Discard the log up to a new snapshot before the snapshot is written and synced, and
    /// up to it rather than to the older durable copy: a torn or damaged snapshot copy then
    /// leaves no way back to the entries it covered (the rule of ARIES-style checkpointing:
    /// truncate only what a durable checkpoint holds; Raft §7).
    pub compact_before_snapshot_durable: bool,
    /// Install every snapshot a leader sends by dropping the whole log, even when the log
    /// holds the snapshot's last included entry with its term (Figure 13, step 6, says keep
    /// the entries after it), and even a snapshot older than what the node has applied: the
    /// node loses entries it acknowledged, which the leader counted.
    pub install_snapshot_drops_log: bool,
}

/// How the leader serves reads (`protocol.params.read_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// A read is a log entry like a write: committed, then applied (§8's simple way).
    #[default]
    Log,
    /// The leader answers from its state machine without a log entry, once an entry of its
    /// term is committed, a majority has acknowledged a heartbeat sent after the read
    /// arrived (it is still the leader), and it has applied up to the commit index it saw
    /// when the read arrived (the read index of §6.4 of Ongaro's thesis).
    Leader,
}

/// Parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Shortest election timeout, milliseconds of local time.
    pub election_ms_min: u64,
    /// Longest election timeout, milliseconds.
    pub election_ms_max: u64,
    /// Leader heartbeat period, milliseconds.
    pub heartbeat_ms: u64,
    /// Most entries in one AppendEntries.
    pub batch_max: usize,
    /// Pre-vote (Ongaro's thesis §9.6): before bumping its term, a node asks whether it
    /// could win; peers that heard from a leader within the minimum election timeout say no.
    /// Stops a node that is cut off from the leader (but not from everyone) from disrupting
    /// the cluster with ever higher terms.
    pub pre_vote: bool,
    /// Check-quorum: a leader that has not heard from a majority within the maximum election
    /// timeout steps down, so a leader cut off from the majority stops accepting writes.
    pub check_quorum: bool,
    /// Keys the workload uses (`k0` .. `k{keys-1}`).
    pub keys: u32,
    /// How reads are served: `log` (default) or `leader`.
    pub read_mode: ReadMode,
    /// Percentage of client operations that are gets; absent, gets, puts and appends are
    /// equally likely.
    pub read_percent: Option<u32>,
    /// Snapshots (§7): after this many entries applied since its last snapshot a node
    /// writes one (the applied key-value map and sessions, with the last included index and
    /// term) and discards the log it no longer needs. 0: never (the log grows forever).
    pub snapshot_every: u64,
    /// Bug switches.
    pub bugs: Bugs,
}

impl KvWorkload for Config {
    fn kv_mix(&self) -> KvMix {
        KvMix {
            keys: self.keys,
            read_percent: self.read_percent,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            election_ms_min: 150,
            election_ms_max: 300,
            heartbeat_ms: 50,
            batch_max: 64,
            pre_vote: false,
            check_quorum: false,
            keys: 5,
            read_mode: ReadMode::Log,
            read_percent: None,
            snapshot_every: 0,
            bugs: Bugs::default(),
        }
    }
}

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Entry {
    /// The leader's term when it was created.
    pub term: u64,
    /// The command; `None` for the no-op a new leader appends.
    pub command: Option<Command>,
}

/// The hard state (Figure 2's persistent currentTerm and votedFor) and the repair mark a
/// node that found a damaged entry keeps until its log is repaired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Hard {
    /// currentTerm.
    pub term: u64,
    /// votedFor.
    pub vote: Option<NodeId>,
    /// After a damaged entry: the log's length as read (`L`) and a bound of its last term
    /// (`T`: the last entry's term if it reads whole, else the term at recovery). Until the log is at least `L` long again the node does
    /// not stand and votes only for a log at least as up to date as one ending at index `L`
    /// with term `T` (docs/raft.md, "Raft on disks that lie").
    pub repair: Option<(u64, u64)>,
}

/// A snapshot (§7, Figure 13): the state machine as applied through `index`, whose entry
/// had `term` (the last included index and term).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Snapshot {
    /// Last included index.
    pub index: u64,
    /// Its entry's term.
    pub term: u64,
    /// The key-value map and client sessions as applied through `index`.
    pub service: KvService,
}

/// The two cells that hold snapshots alternately (the kit's checkpoint copies).
const SNAP_COPIES: Copies = Copies {
    names: ["snap#1", "snap#2"],
};

/// Most snapshot-size checks: `snapshot_every` beyond it is refused.
const SNAPSHOT_EVERY_MAX: u64 = 1_000_000;

/// What the store holds: log entries as records, the hard state in two cells (`hard#1`,
/// `hard#2`, copies of one value), snapshots in two more (`snap#1`, `snap#2`, written
/// alternately). On the disk each is checksummed (module `disk`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// A log entry, with its absolute place in the log (index − 1), which its checksum
    /// covers, so an entry written to the wrong place reads as damaged.
    Entry {
        /// Absolute place (0 for index 1).
        at: u64,
        /// The entry.
        entry: Entry,
    },
    /// A copy of the hard state (cell `hard#1` or `hard#2`).
    Hard {
        /// Which copy (1 or 2).
        copy: u8,
        /// The hard state.
        state: Hard,
    },
    /// A snapshot (cell `snap#1` or `snap#2`).
    Snap {
        /// Which copy (1 or 2).
        copy: u8,
        /// The snapshot.
        snap: Box<Snapshot>,
    },
    /// What a read of a damaged place returns: the checksum failed, the record was at the
    /// wrong place, or the disk could not read it. `spelled` is what the bytes say, which
    /// only a store without checksums believes.
    Damaged {
        /// Where it was read.
        place: Place,
        /// What the bytes spell (a record of the place's kind).
        spelled: Option<Box<Record>>,
    },
}

/// Messages between nodes (§5, Figure 2).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// A candidate asks for a vote.
    RequestVote {
        /// Candidate's term.
        term: u64,
        /// Index of its last entry.
        last_index: u64,
        /// Term of its last entry.
        last_term: u64,
    },
    /// Pre-vote: "would you vote for me in `term`?" (the sender's term is not changed).
    PreVote {
        /// The term the sender would stand in.
        term: u64,
        /// Index of its last entry.
        last_index: u64,
        /// Term of its last entry.
        last_term: u64,
    },
    /// The answer to a pre-vote.
    PreVoteReply {
        /// The term asked about when granted; when refused, the voter's own term, so a node
        /// left behind in an old term learns the current one.
        term: u64,
        /// Whether the sender would vote so.
        granted: bool,
    },
    /// The answer.
    Vote {
        /// Voter's term.
        term: u64,
        /// Whether the vote is granted.
        granted: bool,
    },
    /// The leader replicates entries (none: a heartbeat).
    Append {
        /// Leader's term.
        term: u64,
        /// Index of the entry before the new ones.
        prev_index: u64,
        /// Its term.
        prev_term: u64,
        /// New entries.
        entries: Vec<Entry>,
        /// Leader's commit index.
        commit: u64,
        /// The leader's heartbeat round, echoed in the reply (confirms leadership for reads).
        round: u64,
    },
    /// The answer.
    AppendReply {
        /// Follower's term.
        term: u64,
        /// Whether the entries were accepted.
        success: bool,
        /// On success, the index up to which the follower's log now matches.
        matched: u64,
        /// On failure, where the leader should look next: the first index of the
        /// conflicting term, or one past the follower's last entry.
        conflict_index: u64,
        /// On failure, the term of the follower's entry at `prev_index`, if it has one.
        conflict_term: Option<u64>,
        /// The round of the AppendEntries this answers.
        round: u64,
    },
    /// InstallSnapshot (§7, Figure 13): the leader has discarded entries the follower
    /// needs and sends its newest snapshot instead; answered with an `AppendReply` whose
    /// `matched` is the snapshot's index.
    InstallSnapshot {
        /// Leader's term.
        term: u64,
        /// The snapshot.
        snap: Box<Snapshot>,
        /// The leader's heartbeat round, echoed in the reply.
        round: u64,
    },
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// No word from a leader: stand for election.
    Election,
    /// Leader: send AppendEntries to everyone.
    Heartbeat,
    /// Leader with check-quorum: have we heard from a majority lately?
    Quorum,
}

/// A node's role (§5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Follows a leader.
    Follower,
    /// Stands for election.
    Candidate,
    /// Leads its term.
    Leader,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// One Raft node. Every field is hashable, so the explorer can fingerprint a node.
#[derive(Clone, Debug, Hash)]
pub struct Raft {
    id: NodeId,
    n: u32,
    config: Config,
    term: u64,
    vote: Option<NodeId>,
    role: Role,
    leader: Option<NodeId>,
    /// Candidate: the votes granted in this term.
    votes: Quorum,
    next: Vec<u64>,
    matched: Vec<u64>,
    commit: u64,
    applied: u64,
    /// The key-value state machine with its client sessions, as applied so far.
    service: KvService,
    /// Leader: clients waiting for the entry at an index.
    waiting: Waiting,
    /// Durable state written but not yet synced (only with the reply_before_sync bug).
    unsynced: bool,
    /// Local time a leader was last heard from (pre-vote refuses while it is recent).
    heard_leader: Option<Time>,
    /// Pre-vote in progress: the pre-votes granted.
    pre_votes: Option<Quorum>,
    /// Leader with check-quorum: the nodes heard from since the last quorum check (itself
    /// included).
    active: Quorum,
    /// Leader: the heartbeat round (one per broadcast of AppendEntries).
    round: u64,
    /// Leader: per peer, the highest round it acknowledged in this term.
    acked: Vec<u64>,
    /// Leader, `read_mode` `leader`: reads waiting to be served.
    reads: Vec<PendingRead>,
    /// The repair mark (see [`Hard::repair`]): set at recovery from a damaged entry, kept
    /// in the hard state, cleared once the log is as long again.
    repair: Option<(u64, u64)>,
    /// The absolute log index up to which the log is known to be on the disk as the node
    /// reads it: what a failed sync forces the node to write again.
    durable: u64,
    /// Per snapshot copy (`snap#1`, `snap#2`): the last included index and term of the
    /// durable snapshot it holds, as far as this node knows (`None`: none, or being
    /// overwritten).
    snaps: [Option<(u64, u64)>; 2],
    /// The copy with the newest durable snapshot.
    newest: Option<usize>,
}

/// A read the leader will answer once it knows it is safe.
#[derive(Clone, Debug, Hash)]
struct PendingRead {
    client: ClientId,
    id: RequestId,
    key: String,
    /// The commit index when the read arrived.
    index: u64,
    /// A majority must acknowledge this round or a later one.
    round: u64,
}

/// What a damaged record in the log reads as to code that needs an entry (the checks, while
/// a node is down, see its disk before recovery rewrites it): no command, term 0.
static NO_ENTRY: Entry = Entry {
    term: 0,
    command: None,
};

fn entry(r: &Record) -> &Entry {
    match r {
        Record::Entry { entry, .. } => entry,
        _ => &NO_ENTRY,
    }
}

/// The log up to its first record that is not a whole entry.
fn intact(log: &[Record]) -> &[Record] {
    let end = log
        .iter()
        .position(|r| !matches!(r, Record::Entry { .. }))
        .unwrap_or(log.len());
    &log[..end]
}

impl Raft {
    /// Appends an entry at the end of the log (its absolute place goes into the record).
    fn append_entry(ctx: &mut Ctx<'_, Self>, entry: Entry) {
        let at = ctx.store().first_index() + ctx.store().len() as u64;
        ctx.append(Record::Entry { at, entry });
    }

    /// Drops the log from position `len` on (positions count from the first record kept).
    fn truncate_log(&mut self, ctx: &mut Ctx<'_, Self>, len: usize) {
        ctx.truncate(len);
        self.durable = self.durable.min(Self::base(ctx) + len as u64);
    }

    /// How many entries the log's front has discarded: the log's first record holds entry
    /// `base + 1` (a snapshot holds the ones before).
    fn base(ctx: &Ctx<'_, Self>) -> u64 {
        ctx.store().first_index()
    }

    /// The newest durable snapshot's last included index and term (`(0, 0)`: none).
    fn snap_meta(&self) -> (u64, u64) {
        self.newest.and_then(|i| self.snaps[i]).unwrap_or((0, 0))
    }

    /// The log's end as the up-to-date rule sees it: its last entry, or the newest
    /// snapshot's last included entry when the log holds nothing after it.
    fn log_end(&self, store: &Store<Record>) -> (u64, u64) {
        let base = store.first_index();
        let log = store.records();
        let snap = self.snap_meta();
        match log.last() {
            Some(r) if base + log.len() as u64 >= snap.0 => {
                (base + log.len() as u64, entry(r).term)
            }
            _ if snap.0 >= base => snap,
            _ => (base, self.front_term(base)),
        }
    }

    /// The term of the entry at `index`, which the log's front discarded: known when a
    /// snapshot copy ends there.
    fn front_term(&self, index: u64) -> u64 {
        self.snaps
            .iter()
            .flatten()
            .find(|s| s.0 == index)
            .map_or(0, |s| s.1)
    }

    /// Whether a candidate's last entry is at least as up to date as this node's (§5.4.1),
    /// and, while a repair is pending, as the stand-in for what the node lost: an entry at
    /// index `L` of term `T`.
    fn up_to_date(&self, ctx: &Ctx<'_, Self>, last_index: u64, last_term: u64) -> bool {
        let ok = |(i, t): (u64, u64)| last_term > t || (last_term == t && last_index >= i);
        ok(self.last(ctx)) && self.repair.is_none_or(ok)
    }

    fn last(&self, ctx: &Ctx<'_, Self>) -> (u64, u64) {
        self.log_end(ctx.store())
    }

    /// The term of the entry at `index`: from the log, or from a snapshot copy whose last
    /// included entry it is; `None` when the node holds neither (past the end, or
    /// discarded).
    fn term_at(&self, ctx: &Ctx<'_, Self>, index: u64) -> Option<u64> {
        if index == 0 {
            return Some(0);
        }
        let base = Self::base(ctx);
        if index > base {
            if let Some(r) = ctx.store().record((index - base - 1) as usize) {
                return Some(entry(r).term);
            }
        }
        self.snaps
            .iter()
            .flatten()
            .find(|s| s.0 == index)
            .map(|s| s.1)
    }

    fn majority(&self) -> u32 {
        quorum::majority(self.n)
    }

    fn election_timeout(&self, ctx: &mut Ctx<'_, Self>) -> Time {
        Time::from_ms(
            ctx.rng()
                .between(self.config.election_ms_min, self.config.election_ms_max),
        )
    }

    fn reset_election(&self, ctx: &mut Ctx<'_, Self>) {
        let t = self.election_timeout(ctx);
        ctx.set_timer(Timer::Election, t);
    }

    /// Writes both copies of the hard state (pending until a sync).
    fn write_hard(&self, ctx: &mut Ctx<'_, Self>) {
        let state = Hard {
            term: self.term,
            vote: self.vote,
            repair: self.repair,
        };
        for copy in [1, 2] {
            ctx.write_cell(disk::hard_cell(copy), Record::Hard { copy, state });
        }
    }

    /// Writes term and vote; syncs unless the bug says to answer first. Returns whether
    /// they are durable (what may be acknowledged).
    fn persist(&mut self, ctx: &mut Ctx<'_, Self>) -> bool {
        self.write_hard(ctx);
        self.flush(ctx)
    }

    /// Syncs unless the bug says to answer first; returns whether the writes are durable.
    fn flush(&mut self, ctx: &mut Ctx<'_, Self>) -> bool {
        if self.config.bugs.reply_before_sync {
            self.unsynced = true; // synced later, at the next timer
            true
        } else {
            self.sync(ctx)
        }
    }

    /// Syncs. A failed sync lost every write since the last good one, though the node
    /// still reads them: it writes the hard state and the log from the last prefix known
    /// to be on the disk again, and syncs once more. Returns whether all is durable.
    fn sync(&mut self, ctx: &mut Ctx<'_, Self>) -> bool {
        let base = Self::base(ctx);
        let len = base + ctx.store().len() as u64;
        if ctx.sync().is_done() || self.config.bugs.ignore_failed_sync {
            self.durable = len;
            return true;
        }
        self.write_hard(ctx);
        let keep = self.durable.min(len).saturating_sub(base) as usize;
        let tail: Vec<Record> = ctx.store().records()[keep..].to_vec();
        if let Some(last) = keep.checked_sub(1).filter(|_| tail.is_empty()) {
            // The lost writes may have held a truncation: rewrite the last entry, which
            // writes the truncation again.
            let r = ctx.store().records()[last].clone();
            ctx.truncate(last);
            ctx.append(r);
        } else if tail.is_empty() {
            Self::append_entry(ctx, NO_ENTRY.clone());
            ctx.truncate(0);
        } else {
            ctx.truncate(keep);
            for r in tail {
                ctx.append(r);
            }
        }
        let done = ctx.sync().is_done();
        if done {
            self.durable = len;
        }
        done
    }

    fn set_role(&mut self, ctx: &mut Ctx<'_, Self>, role: Role) {
        if self.role != role {
            self.role = role;
            ctx.annotate("role", role.name());
        }
    }

    /// Adopts a newer term as a follower (§5.1: any RPC with a higher term).
    fn become_follower(&mut self, ctx: &mut Ctx<'_, Self>, term: u64) {
        if term > self.term {
            self.term = term;
            self.vote = None;
            self.persist(ctx);
            ctx.annotate("term", term);
            if self.leader.is_some() {
                // Whoever led the old term does not lead this one.
                self.leader = None;
                ctx.annotate("leader", None::<NodeId>);
            }
        }
        if self.role == Role::Leader {
            ctx.cancel_timer(Timer::Heartbeat);
            self.waiting.clear(); // clients will retry with the new leader
            self.reads.clear();
            ctx.cancel_timer(Timer::Quorum);
            // A leader runs no election timer; a follower must, or a deposed leader that
            // hears from no new leader would never stand again.
            self.reset_election(ctx);
        }
        self.pre_votes = None;
        self.set_role(ctx, Role::Follower);
    }

    fn become_candidate(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.term += 1;
        self.vote = Some(self.id);
        self.leader = None;
        let durable = self.persist(ctx);
        ctx.annotate("term", self.term);
        self.set_role(ctx, Role::Candidate);
        if !durable {
            self.reset_election(ctx); // the vote for itself is not on the disk: stand later
            return;
        }
        self.votes = Quorum::majority(self.n);
        self.votes.add(self.id);
        let (last_index, last_term) = self.last(ctx);
        ctx.broadcast(Msg::RequestVote {
            term: self.term,
            last_index,
            last_term,
        });
        self.reset_election(ctx);
        if self.votes.reached() {
            self.become_leader(ctx);
        }
    }

    fn start_pre_vote(&mut self, ctx: &mut Ctx<'_, Self>) {
        let mut granted = Quorum::majority(self.n);
        granted.add(self.id);
        self.pre_votes = Some(granted);
        ctx.annotate("pre_vote", self.term + 1);
        let (last_index, last_term) = self.last(ctx);
        ctx.broadcast(Msg::PreVote {
            term: self.term + 1,
            last_index,
            last_term,
        });
        self.reset_election(ctx);
        self.count_pre_votes(ctx);
    }

    fn count_pre_votes(&mut self, ctx: &mut Ctx<'_, Self>) {
        let won = self.pre_votes.as_ref().is_some_and(Quorum::reached);
        if won {
            self.pre_votes = None;
            self.become_candidate(ctx);
        }
    }

    fn on_pre_vote(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        term: u64,
        last_index: u64,
        last_term: u64,
    ) {
        let up_to_date = self.up_to_date(ctx, last_index, last_term);
        let now = ctx.now();
        let leader_recent = self.role == Role::Leader
            || self
                .heard_leader
                .is_some_and(|t| now.sub(t) < Time::from_ms(self.config.election_ms_min));
        let granted = term > self.term && up_to_date && !leader_recent;
        let term = if granted { term } else { self.term };
        ctx.send(from, Msg::PreVoteReply { term, granted });
    }

    fn on_pre_vote_reply(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        term: u64,
        granted: bool,
    ) {
        if !granted && term > self.term {
            // Without this a node that missed a term change would ask for the same stale
            // term forever and never be elected, even with the best log.
            self.become_follower(ctx, term);
            return;
        }
        if term != self.term + 1 || !granted || self.role == Role::Leader {
            return;
        }
        if let Some(g) = &mut self.pre_votes {
            g.add(from);
        }
        self.count_pre_votes(ctx);
    }

    fn become_leader(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.set_role(ctx, Role::Leader);
        self.leader = Some(self.id);
        ctx.annotate("leader", self.id);
        ctx.cancel_timer(Timer::Election);
        // A no-op of the new term lets earlier entries commit (§8, and §5.4.2).
        Self::append_entry(
            ctx,
            Entry {
                term: self.term,
                command: None,
            },
        );
        let durable = self.flush(ctx);
        let (last, _) = self.last(ctx);
        self.next = vec![last; self.n as usize];
        self.matched = vec![0; self.n as usize];
        self.acked = vec![0; self.n as usize];
        // The leader counts itself only for what is on its disk.
        self.matched[self.id.index()] = if durable { last } else { self.durable };
        self.broadcast_append(ctx);
        ctx.set_timer(Timer::Heartbeat, Time::from_ms(self.config.heartbeat_ms));
        if self.config.check_quorum {
            self.active.reset();
            self.active.add(self.id);
            ctx.set_timer(Timer::Quorum, Time::from_ms(self.config.election_ms_max));
        }
        self.advance_commit(ctx);
    }

    fn send_append(&self, ctx: &mut Ctx<'_, Self>, to: NodeId) {
        let (last, _) = self.last(ctx);
        let base = Self::base(ctx);
        let next = self.next[to.index()].clamp(1, last + 1);
        let mut prev_index = next - 1;
        let mut prev_term = self.term_at(ctx, prev_index);
        if prev_index < base || prev_term.is_none() {
            // The follower needs entries this log's front discarded: send the snapshot that
            // holds them (§7).
            if let Some(snap) = self.newest_snapshot(ctx) {
                ctx.send(
                    to,
                    Msg::InstallSnapshot {
                        term: self.term,
                        snap,
                        round: self.round,
                    },
                );
                return;
            }
            prev_index = prev_index.max(base);
            prev_term = self.term_at(ctx, prev_index);
        }
        let prev_term = prev_term.unwrap_or(0);
        let end = last.min(prev_index.saturating_add(self.config.batch_max as u64));
        let records = ctx.store().records();
        let from = (prev_index - base) as usize;
        let to_end = ((end.max(prev_index) - base) as usize).min(records.len());
        let entries: Vec<Entry> = records[from.min(to_end)..to_end]
            .iter()
            .map(|r| entry(r).clone())
            .collect();
        ctx.send(
            to,
            Msg::Append {
                term: self.term,
                prev_index,
                prev_term,
                entries,
                commit: self.commit,
                round: self.round,
            },
        );
    }

    fn broadcast_append(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.round += 1;
        for p in ctx.peers() {
            self.send_append(ctx, p);
        }
    }

    /// Answers the pending reads that are now safe (`read_mode` `leader`).
    fn serve_reads(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.reads.is_empty() || self.role != Role::Leader {
            return;
        }
        if self.term_at(ctx, self.commit) != Some(self.term) {
            return; // not yet sure what is committed: wait for the no-op of this term
        }
        // The latest round a majority has acknowledged, counting this leader as acknowledging
        // every round.
        let me = self.id.index();
        let acked = self.acked.iter().enumerate();
        let acked = acked.map(|(p, &a)| if p == me { u64::MAX } else { a });
        let confirmed = quorum_value(acked, self.majority());
        let mut i = 0;
        while i < self.reads.len() {
            let r = &self.reads[i];
            if confirmed >= r.round && self.applied >= r.index {
                let r = self.reads.swap_remove(i);
                ctx.reply(r.client, r.id, self.service.read(&r.key));
            } else {
                i += 1;
            }
        }
    }

    /// The leader's commit rule (§5.3, §5.4.2): the highest index a majority stores, if its
    /// entry is of this leader's term; otherwise the highest such index below it.
    fn advance_commit(&mut self, ctx: &mut Ctx<'_, Self>) {
        let (last, _) = self.last(ctx);
        let mut n = last.min(quorum_value(self.matched.iter().copied(), self.majority()));
        while n > self.commit {
            let own_term = self.term_at(ctx, n) == Some(self.term);
            if own_term || self.config.bugs.commit_old_terms {
                self.commit = n;
                ctx.annotate("commit", n);
                break;
            }
            n -= 1;
        }
        self.apply(ctx);
    }

    /// Applies committed entries in log order.
    fn apply(&mut self, ctx: &mut Ctx<'_, Self>) {
        while self.applied < self.commit {
            self.applied += 1;
            let base = Self::base(ctx);
            let Some(r) =
                (self.applied.checked_sub(base + 1)).and_then(|p| ctx.store().record(p as usize))
            else {
                break;
            };
            // Read in place: the entry stays in the log, so applying it copies nothing.
            let Some(cmd) = &entry(r).command else {
                continue;
            };
            // The service applies a retry or a late duplicate once (its client sessions).
            let answer = self.service.apply(cmd);
            let waiter = self.waiting.settle(self.applied, cmd);
            if let (Some((client, id)), Some(answer)) = (waiter, answer) {
                ctx.reply(client, id, answer);
            }
        }
        self.serve_reads(ctx);
        self.take_snapshot(ctx);
    }

    /// The newest durable snapshot, as its cell holds it.
    fn newest_snapshot(&self, ctx: &Ctx<'_, Self>) -> Option<Box<Snapshot>> {
        let i = self.newest?;
        match ctx.store().cell(SNAP_COPIES.names[i]) {
            Some(Record::Snap { snap, .. }) => Some(snap.clone()),
            _ => None,
        }
    }

    /// Writes a snapshot to copy `copy` and syncs it; on success the copy is durable and
    /// the newest. Returns whether it is durable. The copy overwritten holds no durable
    /// snapshot from the moment it is written.
    fn write_snapshot(&mut self, ctx: &mut Ctx<'_, Self>, copy: usize, snap: Snapshot) -> bool {
        let meta = (snap.index, snap.term);
        self.snaps[copy] = None;
        if self.newest == Some(copy) {
            self.newest = None;
        }
        ctx.write_cell(
            SNAP_COPIES.names[copy],
            Record::Snap {
                copy: copy as u8 + 1,
                snap: Box::new(snap),
            },
        );
        if !(ctx.sync().is_done() || self.config.bugs.ignore_failed_sync) {
            ctx.annotate("snapshot_failed", meta.0);
            return false;
        }
        self.snaps[copy] = Some(meta);
        if self
            .newest
            .is_none_or(|n| self.snaps[n].is_none_or(|s| s.0 <= meta.0))
        {
            self.newest = Some(copy);
        }
        true
    }

    /// Discards the log's front as far as the kit's rule allows: up to the older of the two
    /// durable snapshots, so either copy alone, with the log after it, holds everything.
    fn compact(&mut self, ctx: &mut Ctx<'_, Self>) {
        let upto = wal::discard_point(self.snaps.map(|s| s.map(|(index, _)| index)));
        if let Some(upto) = upto.filter(|&u| u > Self::base(ctx)) {
            ctx.discard_before(upto);
            // A failed sync loses only the discard: the disk keeps more than it needs.
            let _ = ctx.sync();
            ctx.annotate("log_from", upto + 1);
        }
    }

    /// After `snapshot_every` entries applied since the newest snapshot, snapshots the state
    /// machine as applied (only committed, applied entries: the snapshot's index is the
    /// applied index, which the node's own disk holds) into the copy that does not hold the
    /// newest snapshot, and once that is durable discards the log up to the older copy.
    fn take_snapshot(&mut self, ctx: &mut Ctx<'_, Self>) {
        let every = self.config.snapshot_every;
        let (snap_index, _) = self.snap_meta();
        let at = self.applied;
        if every == 0 || at < snap_index.saturating_add(every) || at > self.commit {
            return;
        }
        if self.unsynced || ctx.store().pending_writes() > 0 || at > self.durable {
            return; // only a state its own disk holds the log of: try again later
        }
        let Some(term) = self.term_at(ctx, at) else {
            return;
        };
        let copy = SNAP_COPIES.next(self.newest);
        if self.config.bugs.compact_before_snapshot_durable {
            ctx.discard_before(at);
        }
        let snap = Snapshot {
            index: at,
            term,
            service: self.service.clone(),
        };
        if self.write_snapshot(ctx, copy, snap) {
            ctx.annotate("snapshot", at);
            if !self.config.bugs.compact_before_snapshot_durable {
                self.compact(ctx);
            }
        }
    }

    fn on_request_vote(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        term: u64,
        last_index: u64,
        last_term: u64,
    ) {
        if term > self.term {
            self.become_follower(ctx, term);
        }
        let up_to_date = self.up_to_date(ctx, last_index, last_term);
        let free = self.vote.is_none() || self.vote == Some(from);
        let mut granted =
            term == self.term && free && (up_to_date || self.config.bugs.skip_up_to_date_check);
        if granted {
            self.vote = Some(from);
            granted = self.persist(ctx); // a vote the disk does not hold is not given
            self.reset_election(ctx);
        }
        ctx.send(
            from,
            Msg::Vote {
                term: self.term,
                granted,
            },
        );
    }

    fn on_vote(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, term: u64, granted: bool) {
        if term > self.term {
            self.become_follower(ctx, term);
            self.reset_election(ctx);
            return;
        }
        if self.role != Role::Candidate || term != self.term || !granted {
            return;
        }
        if self.config.bugs.count_duplicate_votes {
            self.votes.add_unguarded(from);
        } else {
            self.votes.add(from);
        }
        if self.votes.reached() {
            self.become_leader(ctx);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        term: u64,
        prev_index: u64,
        prev_term: u64,
        mut entries: Vec<Entry>,
        (commit, round): (u64, u64),
    ) {
        let refuse = |me: &Self,
                      ctx: &mut Ctx<'_, Self>,
                      conflict_index: u64,
                      conflict_term: Option<u64>| {
            ctx.send(
                from,
                Msg::AppendReply {
                    term: me.term,
                    success: false,
                    matched: 0,
                    conflict_index,
                    conflict_term,
                    round,
                },
            );
        };
        if term < self.term {
            refuse(self, ctx, 0, None);
            return;
        }
        self.follow(ctx, from, term);
        let (last, _) = self.last(ctx);
        if prev_index > last {
            refuse(self, ctx, last + 1, None);
            return;
        }
        let count = entries.len() as u64;
        let matched = prev_index + count;
        // Entries up to the newest snapshot are committed and applied here: the leader's
        // match them (§5.4), so skip them and compare where the snapshot ends.
        let (snap_index, _) = self.snap_meta();
        let (mut prev_index, mut prev_term) = (prev_index, prev_term);
        if prev_index < snap_index {
            let skip = ((snap_index - prev_index) as usize).min(entries.len());
            if skip > 0 {
                prev_term = entries[skip - 1].term;
            }
            prev_index += skip as u64;
            entries.drain(..skip);
        }
        let covered = prev_index < snap_index;
        let have = self.term_at(ctx, prev_index).unwrap_or(0);
        if !covered && have != prev_term {
            // Skip back over the whole conflicting term (§5.3).
            let mut first = prev_index;
            while first > 1 && self.term_at(ctx, first - 1) == Some(have) {
                first -= 1;
            }
            refuse(self, ctx, first, Some(have));
            return;
        }
        for (i, e) in entries.into_iter().enumerate() {
            let index = prev_index + 1 + i as u64;
            let base = Self::base(ctx);
            let len = base + ctx.store().len() as u64;
            if index <= base {
                continue; // discarded here, held by a snapshot
            }
            if index <= len {
                let matches = self.term_at(ctx, index) == Some(e.term);
                if matches && !self.config.bugs.truncate_on_match {
                    continue;
                }
                self.truncate_log(ctx, (index - base - 1) as usize);
            }
            Self::append_entry(ctx, e);
        }
        if !self.flush(ctx) {
            return; // nothing is acknowledged that the disk may not hold; the leader resends
        }
        let (last_index, last_term) = self.last(ctx);
        if self
            .repair
            .is_some_and(|(len, term)| last_index >= len || last_term > term)
        {
            // The log is as long as before the damage, and matches this term's leader's; or
            // it ends in an entry of a term after every term the lost log held, whose leader
            // held every entry committed before it (§5.4), and this log matches it up to
            // that entry (the Log Matching Property).
            self.repair = None;
            ctx.annotate("repaired", ctx.store().len() as u64);
            self.persist(ctx);
        }
        if commit > self.commit {
            let new_commit = commit.min(matched);
            if new_commit > self.commit {
                self.commit = new_commit;
                ctx.annotate("commit", new_commit);
            }
        }
        self.apply(ctx);
        ctx.send(
            from,
            Msg::AppendReply {
                term: self.term,
                success: true,
                matched,
                conflict_index: 0,
                conflict_term: None,
                round,
            },
        );
    }

    /// Follows the leader `from` of `term` (not below this node's term): as a follower that
    /// has just heard from it.
    fn follow(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, term: u64) {
        if term > self.term || self.role != Role::Follower {
            self.become_follower(ctx, term);
        }
        if self.leader != Some(from) {
            self.leader = Some(from);
            ctx.annotate("leader", from);
        }
        self.heard_leader = Some(ctx.now());
        self.pre_votes = None;
        self.reset_election(ctx);
    }

    /// InstallSnapshot (Figure 13). A snapshot through an index this node has applied
    /// tells it nothing: it answers that it matches there (committed entries match). Else
    /// it writes the snapshot to both copies, each synced (so either alone holds it, and
    /// the log before it may go; once the first is durable it goes on); keeps its log
    /// after the snapshot's last included entry if it holds that entry with the same term
    /// (step 6), or else drops the log (step 7); resets the state machine to the snapshot
    /// (step 8) and answers.
    fn on_install(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        term: u64,
        snap: Snapshot,
        round: u64,
    ) {
        let reply = |me: &Self, ctx: &mut Ctx<'_, Self>, success: bool, matched: u64| {
            ctx.send(
                from,
                Msg::AppendReply {
                    term: me.term,
                    success,
                    matched,
                    conflict_index: 0,
                    conflict_term: None,
                    round,
                },
            );
        };
        if term < self.term {
            reply(self, ctx, false, 0);
            return;
        }
        self.follow(ctx, from, term);
        let sloppy = self.config.bugs.install_snapshot_drops_log;
        if snap.index <= self.applied && !sloppy {
            reply(self, ctx, true, snap.index);
            return;
        }
        let keep = self.term_at(ctx, snap.index) == Some(snap.term) && !sloppy;
        let index = snap.index;
        let service = snap.service.clone();
        let first = SNAP_COPIES.next(self.newest);
        if !self.write_snapshot(ctx, first, snap.clone()) {
            return; // not durable: say nothing, the leader sends it again
        }
        // One copy is durable: install. Should the second write fail, that copy holds
        // nothing durable and the next snapshot overwrites it.
        let _ = self.write_snapshot(ctx, 1 - first, snap);
        if !keep {
            self.truncate_log(ctx, 0);
        }
        if index > Self::base(ctx) {
            ctx.discard_before(index);
        }
        self.durable = self.durable.max(index);
        self.sync(ctx);
        self.service = service;
        self.applied = index;
        if index > self.commit || sloppy {
            self.commit = index;
            ctx.annotate("commit", index);
        }
        ctx.annotate("installed", index);
        self.apply(ctx);
        reply(self, ctx, true, index);
    }

    fn on_append_reply(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        reply: (u64, bool, u64, u64, Option<u64>),
        round: u64,
    ) {
        let (term, success, matched, conflict_index, conflict_term) = reply;
        if term > self.term {
            self.become_follower(ctx, term);
            self.reset_election(ctx);
            return;
        }
        if self.role != Role::Leader || term != self.term {
            return;
        }
        let p = from.index();
        self.active.add(from);
        if round > self.acked[p] {
            self.acked[p] = round;
            self.serve_reads(ctx);
        }
        if success {
            // Only a reply that tells something new sends more: a duplicated or stale reply
            // that also sent would put a second stream of AppendEntries in flight, and
            // duplicates of that a third (a storm that swarm testing found). Heartbeats
            // cover lost replies.
            if matched <= self.matched[p] {
                return;
            }
            self.matched[p] = matched;
            self.next[p] = self.next[p].max(matched + 1);
            self.advance_commit(ctx);
            let (last, _) = self.last(ctx);
            if self.next[p] <= last {
                self.send_append(ctx, from);
            }
            return;
        }
        if conflict_index == 0 {
            return; // a refusal for an older term
        }
        // The follower holds less than we counted: a damaged entry cut its log (a disk that
        // lies), or the refusal is stale. Counting less is never unsafe, and the success
        // replies that repair it must count as news (above) or its log never grows again.
        self.matched[p] = self.matched[p].min(conflict_index.saturating_sub(1));
        // Fast backtracking: jump past the follower's conflicting term if we have it too.
        let (last, _) = self.last(ctx);
        let mut next = conflict_index;
        if let Some(ct) = conflict_term {
            let mut i = last;
            while i > 0 && self.term_at(ctx, i).is_some_and(|t| t > ct) {
                i -= 1;
            }
            if i > 0 && self.term_at(ctx, i) == Some(ct) {
                next = i + 1;
            }
        }
        let before = self.next[p];
        self.next[p] = next.clamp(1, last + 1).min(self.next[p].max(1));
        if self.next[p] < before && self.next[p] > self.matched[p] {
            self.send_append(ctx, from); // only when the refusal moved us back
        }
    }
}

/// Recovery from the disk as it reads after a crash (docs/raft.md, "Raft on disks that lie").
impl Raft {
    /// The hard state from its two copies. Both are written together and synced before
    /// anything depends on them, so copies that read whole differ only when a crash tore the
    /// second write (the newer value was never acknowledged): take the higher term, and in
    /// one term the vote that is set and the larger repair mark, which is never less safe.
    /// Copies that differ or are damaged are written again. With `no_checksums` the node
    /// believes the first copy, as a store with one copy and no checksum would.
    fn recover_hard(&mut self, ctx: &mut Ctx<'_, Self>) {
        let naive = self.config.bugs.no_checksums;
        let mut best: Option<Hard> = None;
        let mut present = false;
        let mut rewrite = false;
        for copy in [1, 2] {
            let cell = ctx.store().cell(disk::hard_cell(copy));
            present |= cell.is_some();
            let read = match cell {
                Some(Record::Hard { state, .. }) => Some(*state),
                Some(Record::Damaged {
                    spelled: Some(s), ..
                }) if naive => match **s {
                    Record::Hard { state, .. } => Some(state),
                    _ => None,
                },
                _ => None,
            };
            if naive && best.is_some() {
                break;
            }
            rewrite |= read.is_none() || best.is_some_and(|b| Some(b) != read);
            best = match (best, read) {
                (None, r) | (r, None) => r,
                (Some(a), Some(b)) if a.term != b.term => Some(if a.term > b.term { a } else { b }),
                (Some(a), Some(b)) => Some(Hard {
                    term: a.term,
                    vote: a.vote.or(b.vote),
                    repair: a.repair.max(b.repair),
                }),
            };
        }
        let hard = match best {
            Some(h) => h,
            // Never written: a first boot that crashed before its first sync.
            None if !present => Hard::default(),
            // No copy reads (the atlas promises one will): the term and vote are unknown,
            // so the node never votes or stands again.
            None => Hard {
                term: 0,
                vote: None,
                repair: Some((u64::MAX, u64::MAX)),
            },
        };
        self.term = hard.term;
        self.vote = hard.vote;
        self.repair = hard.repair;
        if rewrite && present {
            self.persist(ctx);
        }
    }

    /// The newest snapshot copy that reads whole (the other is the fall-back: the atlas
    /// keeps one), restored as the state machine, with commit and applied at its index.
    fn recover_snapshot(&mut self, ctx: &mut Ctx<'_, Self>) {
        let mut read: [Option<(u64, Box<Snapshot>)>; 2] = [None, None];
        for (i, name) in SNAP_COPIES.names.iter().enumerate() {
            if let Some(Record::Snap { snap, .. }) = ctx.store().cell(name) {
                self.snaps[i] = Some((snap.index, snap.term));
                read[i] = Some((snap.index, snap.clone()));
            }
        }
        let Some((i, index, snap)) = SNAP_COPIES.newest(read) else {
            return;
        };
        self.newest = Some(i);
        self.service = snap.service;
        self.applied = index;
        self.commit = index;
        ctx.annotate("commit", index);
        ctx.annotate("snapshot", index);
    }

    /// The log: a damaged entry (failed checksum, wrong place, unreadable) may be one that
    /// was committed, and the node cannot tell a torn last write (never acknowledged) from a
    /// corrupted one that was. It cuts its log before the first damaged entry, and keeps a
    /// repair mark `(L, T)`: the length it read and its term, an upper bound of every term in
    /// its log. Until the log is `L` long again it does not stand, and grants votes only to a
    /// log at least as up to date as one of length `L` ending in term `T`, which is at least
    /// as up to date as the log it lost: so every candidate it votes for holds what that log
    /// held of the committed entries (§5.4.1's argument, with the stand-in for the lost log).
    fn recover_log(&mut self, ctx: &mut Ctx<'_, Self>) {
        // Damage before the newest snapshot's end costs nothing: the snapshot holds those
        // entries, so the log's front goes up to it. (This passes the older copy, whose
        // way back through the log the damage already broke; should the newest copy be
        // damaged too, recovery finds the gap and keeps a repair mark, below.)
        let (snap_index, _) = self.snap_meta();
        let base = Self::base(ctx);
        if snap_index > base {
            let covered = ((snap_index - base) as usize).min(ctx.store().len());
            let log = ctx.store().records();
            if log[..covered]
                .iter()
                .any(|r| !matches!(r, Record::Entry { .. }))
            {
                ctx.discard_before(snap_index);
                let _ = ctx.sync();
            }
        }
        let base = Self::base(ctx);
        let log = ctx.store().records();
        let Some(bad) = log.iter().position(|r| !matches!(r, Record::Entry { .. })) else {
            if self
                .repair
                .is_some_and(|(len, _)| base + log.len() as u64 >= len)
            {
                self.repair = None;
                self.persist(ctx);
            }
            return;
        };
        let read = base + log.len() as u64;
        // T: terms never fall along a log, so a last entry that reads whole gives the lost
        // log's last term exactly; a damaged one is bounded by the node's term. The tighter T
        // lets a candidate whose log is as up to date as the lost one win.
        let last_term = match log.last() {
            Some(Record::Entry { entry, .. }) => entry.term,
            _ => self.term,
        };
        // What the bytes spell, which only a store without checksums believes.
        let spelled: Vec<Entry> = log[bad..]
            .iter()
            .map(|r| match r {
                Record::Entry { entry, .. } => entry.clone(),
                Record::Damaged {
                    spelled: Some(s), ..
                } => entry(s).clone(),
                _ => NO_ENTRY.clone(),
            })
            .collect();
        ctx.annotate("damaged_at", base + bad as u64 + 1);
        if self.config.bugs.no_checksums {
            self.truncate_log(ctx, bad);
            for e in spelled {
                Self::append_entry(ctx, e);
            }
        } else if self.config.bugs.truncate_on_damage {
            self.truncate_log(ctx, bad);
        } else {
            let mark = (read, last_term);
            self.repair = Some(
                self.repair
                    .map_or(mark, |(l, t)| (l.max(mark.0), t.max(mark.1))),
            );
            ctx.annotate("repair_to", read);
            self.write_hard(ctx);
            self.truncate_log(ctx, bad);
        }
        self.sync(ctx);
    }
}

impl Protocol for Raft {
    const NAME: &'static str = "raft";
    type Config = Config;
    type Msg = Msg;
    type Timer = Timer;
    type Request = Op;
    type Response = Answer;
    type Record = Record;
    type Client = Driver<Raft, KvGenerator>;

    fn new(id: NodeId, nodes: u32, config: &Config) -> Self {
        Raft {
            id,
            n: nodes,
            config: config.clone(),
            term: 0,
            vote: None,
            role: Role::Follower,
            leader: None,
            votes: Quorum::majority(nodes),
            next: vec![1; nodes as usize],
            matched: vec![0; nodes as usize],
            commit: 0,
            applied: 0,
            service: KvService::new(),
            waiting: Waiting::new(),
            unsynced: false,
            heard_leader: None,
            pre_votes: None,
            active: Quorum::majority(nodes),
            round: 0,
            acked: vec![0; nodes as usize],
            reads: Vec::new(),
            repair: None,
            durable: 0,
            snaps: [None, None],
            newest: None,
        }
    }

    /// `snapshot_every` is at most a million (0: off).
    fn check_config(config: &Config, _nodes: u32) -> Result<(), ConfigError> {
        if config.snapshot_every > SNAPSHOT_EVERY_MAX {
            return Err(ConfigError::new(
                "snapshot_every",
                format!("give 0 (off) to {SNAPSHOT_EVERY_MAX}"),
            ));
        }
        Ok(())
    }

    /// Takes the new bug switches; the other parameters stay as built.
    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.config.bugs = config.bugs.clone();
        Ok(())
    }

    fn codec() -> Option<Codec<Record>> {
        Some(disk::codec())
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.annotate("role", Role::Follower.name());
        self.reset_election(ctx);
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        // Only what was synced survived: term, vote and the log (§5, Figure 2), as the disk
        // reads now (docs/raft.md, "Raft on disks that lie").
        self.recover_hard(ctx);
        self.recover_snapshot(ctx);
        self.recover_log(ctx);
        let (snap_index, _) = self.snap_meta();
        let base = Self::base(ctx);
        let end = base + ctx.store().len() as u64;
        if base > snap_index {
            // The log's front is past the newest snapshot that reads whole (the newer copy
            // is damaged and the log was discarded up to it): the entries between are lost
            // here, as a damaged entry's are. Keep a repair mark for them and start the log
            // again after the snapshot.
            let last_term = self.last(ctx).1.max(self.term);
            let mark = (end, last_term);
            self.repair = Some(
                self.repair
                    .map_or(mark, |(l, t)| (l.max(mark.0), t.max(mark.1))),
            );
            ctx.annotate("repair_to", end);
            self.write_hard(ctx);
            ctx.restart_log_at(snap_index);
            self.sync(ctx);
        } else if end < snap_index {
            // The log ends before the snapshot (a damaged entry cut it): it starts again
            // after the snapshot.
            ctx.restart_log_at(snap_index);
            self.sync(ctx);
        }
        self.durable = Self::base(ctx) + ctx.store().len() as u64;
        ctx.annotate("term", self.term);
        self.on_start(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::RequestVote {
                term,
                last_index,
                last_term,
            } => self.on_request_vote(ctx, from, term, last_index, last_term),
            Msg::Vote { term, granted } => self.on_vote(ctx, from, term, granted),
            Msg::PreVote {
                term,
                last_index,
                last_term,
            } => self.on_pre_vote(ctx, from, term, last_index, last_term),
            Msg::PreVoteReply { term, granted } => self.on_pre_vote_reply(ctx, from, term, granted),
            Msg::Append {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
                round,
            } => self.on_append(
                ctx,
                from,
                term,
                prev_index,
                prev_term,
                entries,
                (commit, round),
            ),
            Msg::AppendReply {
                term,
                success,
                matched,
                conflict_index,
                conflict_term,
                round,
            } => self.on_append_reply(
                ctx,
                from,
                (term, success, matched, conflict_index, conflict_term),
                round,
            ),
            Msg::InstallSnapshot { term, snap, round } => {
                self.on_install(ctx, from, term, *snap, round)
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        if self.unsynced {
            self.sync(ctx); // the reply_before_sync bug syncs late, here
            self.unsynced = false;
        }
        match timer {
            Timer::Election => {
                if self.repair.is_some() {
                    // A node whose log lost entries to damage does not stand until it is
                    // repaired: it could lack a committed entry.
                    self.reset_election(ctx);
                } else if self.role != Role::Leader {
                    if self.config.pre_vote {
                        self.start_pre_vote(ctx);
                    } else {
                        self.become_candidate(ctx);
                    }
                }
            }
            Timer::Quorum => {
                if self.role == Role::Leader {
                    if !self.active.reached() {
                        ctx.annotate("stepped_down", "no quorum");
                        self.leader = None;
                        self.become_follower(ctx, self.term);
                        self.reset_election(ctx);
                    } else {
                        self.active.reset();
                        self.active.add(self.id);
                        ctx.set_timer(Timer::Quorum, Time::from_ms(self.config.election_ms_max));
                    }
                }
            }
            Timer::Heartbeat => {
                if self.role == Role::Leader {
                    self.broadcast_append(ctx);
                    ctx.set_timer(Timer::Heartbeat, Time::from_ms(self.config.heartbeat_ms));
                }
            }
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, client: ClientId, id: RequestId, op: Op) {
        if self.role != Role::Leader {
            ctx.reply(client, id, Answer::NotLeader { hint: self.leader });
            return;
        }
        match self.service.seen(client, id) {
            Seen::Applied(answer) => {
                ctx.reply(client, id, answer.clone()); // already applied: answer again
                return;
            }
            Seen::Stale => return, // a late copy of a request the client no longer waits for
            Seen::Fresh => {}
        }
        if self.waiting.contains(client, id) {
            return; // already in the log, waiting to commit
        }
        if let (ReadMode::Leader, Op::Get { key }) = (self.config.read_mode, &op) {
            if self.config.bugs.stale_leader_reads {
                ctx.reply(client, id, self.service.read(key));
                return;
            }
            if !self.reads.iter().any(|r| r.client == client && r.id == id) {
                self.reads.push(PendingRead {
                    client,
                    id,
                    key: key.clone(),
                    index: self.commit,
                    round: self.round + 1,
                });
            }
            self.broadcast_append(ctx); // the round that confirms leadership
            self.serve_reads(ctx);
            return;
        }
        Self::append_entry(
            ctx,
            Entry {
                term: self.term,
                command: Some(Command { client, id, op }),
            },
        );
        let durable = self.flush(ctx);
        let (last, _) = self.last(ctx);
        if durable {
            self.matched[self.id.index()] = last;
        }
        self.waiting.insert(last, client, id);
        self.broadcast_append(ctx);
        self.advance_commit(ctx);
    }

    fn history_check() -> Option<Box<dyn HistoryCheck>> {
        Some(kv::history_check())
    }

    fn history_call(request: &Op) -> Option<HistoryCall> {
        kv::history_call(request)
    }

    fn history_value(response: &Answer) -> Val {
        kv::history_value(response)
    }

    fn vocabulary() -> Vocabulary {
        Vocabulary::none()
            .role("role", &["leader"], &["candidate"])
            .epoch("term")
            .leader("leader")
            .progress(&["commit"])
            .step_down("stepped_down")
            .serves_replies()
            .serves_progress("commit")
    }

    /// A result is service; "not the leader" is not.
    fn serves(answer: &Answer) -> bool {
        answer.is_service()
    }

    fn explorable() -> Option<Explorable<Self>> {
        Some(Explorable::hashed())
    }

    /// Figure 2's state, as a student reads it: the log (each entry's term and command) with
    /// its committed prefix (a no-op shows as null), the persistent term and vote, the volatile indexes, and a
    /// leader's nextIndex and matchIndex per peer (a candidate's votes instead).
    fn show(&self, store: &Store<Record>, out: &mut Shown) {
        out.field("role", self.role.name());
        out.field("term", &self.term);
        out.field("voted_for", &self.vote);
        out.field("leader", &self.leader);
        out.field("commit_index", &self.commit);
        out.field("last_applied", &self.applied);
        if self.config.snapshot_every > 0 {
            // §7: the newest snapshot's last included index and term, and where the log
            // now starts (the entries before are in the snapshots).
            let (index, term) = self.snap_meta();
            out.field("snapshot_index", &index);
            out.field("snapshot_term", &term);
            out.field("log_first_index", &(store.first_index() + 1));
        }
        let peers = || (0..self.n).map(NodeId).filter(|&p| p != self.id);
        match self.role {
            Role::Leader => {
                let per_peer = |v: &[u64]| -> BTreeMap<NodeId, u64> {
                    peers().map(|p| (p, v[p.index()])).collect()
                };
                out.field("next_index", &per_peer(&self.next));
                out.field("match_index", &per_peer(&self.matched));
            }
            Role::Candidate => {
                let votes: Vec<NodeId> = (0..self.n)
                    .map(NodeId)
                    .filter(|&p| self.votes.has(p))
                    .collect();
                out.field("votes", &votes);
            }
            Role::Follower => {}
        }
        out.store_log(
            "log",
            store,
            |r| {
                let e = entry(r);
                (e.term, e.command.as_ref().map(|c| &c.op))
            },
            self.commit,
        );
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        vec![
            PropertyDef::monitor(
                "election_safety",
                "at most one leader per term (§5.2)",
                election_safety(),
            )
            .always(),
            PropertyDef::monitor(
                "annotations_match_state",
                "what a node's trace says (role, term, leader, commit index: what explain and the viewer show) is its state",
                annotations_match_state(),
            )
            .always(),
            PropertyDef::monitor(
                "pre_vote_majority",
                "with pre-vote on, a node stands for a term only with a majority that could have granted its pre-vote (not leading, no leader heard within election_ms_min, a lower term, a log no more up to date) (thesis §9.6)",
                PreVoteMajority::default(),
            )
            .always(),
            PropertyDef::monitor(
                "vote_kept",
                "a node keeps its vote until its term changes, across restarts too: one vote per term (Figure 2's votedFor)",
                VoteKept::default(),
            )
            .always(),
            PropertyDef::monitor(
                "follows_who_it_hears",
                "a node that accepts an append from the leader of its term is a follower and knows that leader (Figure 2, rules for candidates)",
                FollowsWhoItHears::default(),
            )
            .always(),
            PropertyDef::invariant(
                "requests_only_at_leader",
                "a node that does not lead holds no client command or read: it redirects clients at once, and forgets what it held when it steps down",
                requests_only_at_leader,
            )
            .always(),
            PropertyDef::monitor(
                "reads_after_arrival",
                "a read served without the log waits for a heartbeat round sent after it arrived, and is held once (thesis §6.4)",
                ReadsAfterArrival::default(),
            )
            .always(),
            PropertyDef::monitor(
                "log_matching",
                "two logs with an entry of the same index and term agree on it and on everything before it (§5.3)",
                LogMatching::default(),
            )
            .always(),
            PropertyDef::monitor(
                "leader_completeness",
                "a leader's log holds every entry committed before its term (§5.4)",
                LeaderCompleteness::default(),
            )
            .always(),
            PropertyDef::monitor(
                "state_machine_safety",
                "no two nodes apply different commands at the same index (§5.4.3)",
                state_machine_safety(),
            )
            .always(),
            PropertyDef::monitor(
                "committed_never_lost",
                "every committed entry is in the synced log of a majority of nodes, so no crash can lose it",
                committed_never_lost(),
            )
            .always(),
            PropertyDef::monitor(
                "term_monotonic",
                "a node's term never goes down, across restarts too: it is synced before anything depends on it (Figure 2)",
                term_monotonic(),
            )
            .always(),
            PropertyDef::monitor(
                "commit_index_monotonic",
                "a node's commit index never goes down while it is up (it is volatile: a restart starts it again)",
                commit_index_monotonic(),
            )
            .always(),
            PropertyDef::monitor(
                "applied_index_monotonic",
                "a node's applied index never goes down while it is up (volatile, like the commit index)",
                applied_index_monotonic(),
            )
            .always(),
            PropertyDef::invariant(
                "leaders_linked",
                "every up leader is linked both ways with a majority of up nodes in its term (with check_quorum on, use as `always` from two election_ms_max after a cut: a cut-off leader steps down)",
                leaders_linked,
            ),
            PropertyDef::invariant(
                "leader_elected",
                "some up node is leader and a majority of up nodes follow its term",
                leader_elected,
            ),
            PropertyDef::monitor(
                "commit_advances",
                "after the heal a majority of nodes commits past the highest commit index any up node had at the heal (use as `eventually`)",
                commit_advances(),
            ),
            PropertyDef::invariant(
                "replicas_converge",
                "every up node has applied the same key-value map (use as `eventually`: after the heal the replicas must catch up)",
                replicas_converge(),
            ),
        ]
    }

    /// Pre-vote, check-quorum, the batch size and the timeouts: every value keeps Raft
    /// correct. The ranges do not overlap, so the heartbeat stays below the shortest election
    /// timeout and the shortest below the longest. Pre-vote and check-quorum are each drawn
    /// one time in four: pre-vote makes elections rarer, and with them the chances to catch
    /// the voting mistakes; check-quorum makes a cut-off leader step down, which hides the
    /// stale-read mistake.
    fn knobs() -> Vec<Knob> {
        vec![
            Knob::one_of("batch_max", &[1.into(), 64.into()]),
            Knob::one_of(
                "pre_vote",
                &[false.into(), false.into(), false.into(), true.into()],
            ),
            Knob::one_of(
                "check_quorum",
                &[false.into(), false.into(), false.into(), true.into()],
            ),
            Knob::between("heartbeat_ms", 30, 70),
            Knob::between("election_ms_min", 150, 200),
            Knob::between("election_ms_max", 250, 400),
        ]
    }

    /// After the heal a leader is elected and keeps leading, and a majority commits past the
    /// highest commit index of the heal, each within ten of the longest election timeouts
    /// (split votes repeat, each round within one timeout, and losing several in a row is
    /// rare).
    fn liveness(c: &Config) -> Liveness {
        let budget = Time::from_ms(c.election_ms_max.saturating_mul(10));
        Liveness::default()
            .within("leader_elected", true, budget, "10 × election_ms_max")
            .within("commit_advances", false, budget, "10 × election_ms_max")
    }

    fn metrics() -> Vec<MetricDef<Self>> {
        vec![MetricDef {
            name: "raft_metrics",
            description: "leaders by term, elections, commits, client latency, messages and syncs per commit",
            make: |_| Box::new(RaftMetrics::default()),
        }]
    }

    fn record_bytes(r: &Record) -> u64 {
        match r {
            Record::Entry { entry: e, .. } => match &e.command {
                None => 16,
                Some(c) => 32 + c.op.payload_bytes(),
            },
            Record::Hard { .. } => 32,
            Record::Snap { snap, .. } => {
                let data: u64 = (snap.service.data().iter())
                    .map(|(k, v)| 8 + (k.len() + v.len()) as u64)
                    .sum();
                32 + data + 24 * snap.service.sessions().len() as u64
            }
            Record::Damaged { .. } => 8,
        }
    }
}
