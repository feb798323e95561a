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

pub use crate::kit::kv::{Answer, Command, Op};

use crate::kit::kv::{self, KvGenerator, KvMix, KvService, KvWorkload, Seen, Waiting};
use crate::kit::quorum::{self, Quorum, quorum_value};
use crate::protocol::{
    ClientId, Ctx, Driver, Endpoint, Explorable, Failure, HistoryCall, HistoryCheck, Invariant,
    Knob, Liveness, Metric, MetricDef, Monitor, NodeId, Outcome, PropertyDef, Protocol, RequestId,
    Shown, Store, Time, Trigger, Val, View, Vocabulary,
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

/// What the store holds: log entries as records, term and vote as cells.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// A log entry.
    Entry(Entry),
    /// currentTerm (cell `"term"`).
    Term(u64),
    /// votedFor (cell `"vote"`).
    Vote(Option<NodeId>),
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

fn entry(r: &Record) -> &Entry {
    match r {
        Record::Entry(e) => e,
        _ => unreachable!("the record log holds only entries"),
    }
}

impl Raft {
    fn last(ctx: &Ctx<'_, Self>) -> (u64, u64) {
        let log = ctx.store().records();
        (
            log.len() as u64,
            log.last().map(|r| entry(r).term).unwrap_or(0),
        )
    }

    fn term_at(ctx: &Ctx<'_, Self>, index: u64) -> Option<u64> {
        if index == 0 {
            return Some(0);
        }
        ctx.store()
            .record(index as usize - 1)
            .map(|r| entry(r).term)
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

    /// Writes term and vote; syncs unless the bug says to answer first.
    fn persist(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.write_cell("term", Record::Term(self.term));
        ctx.write_cell("vote", Record::Vote(self.vote));
        self.flush(ctx);
    }

    fn flush(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.config.bugs.reply_before_sync {
            self.unsynced = true; // synced later, at the next timer
        } else {
            ctx.sync();
        }
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
        self.persist(ctx);
        ctx.annotate("term", self.term);
        self.set_role(ctx, Role::Candidate);
        self.votes = Quorum::majority(self.n);
        self.votes.add(self.id);
        let (last_index, last_term) = Self::last(ctx);
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
        let (last_index, last_term) = Self::last(ctx);
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
        let (my_index, my_term) = Self::last(ctx);
        let up_to_date = last_term > my_term || (last_term == my_term && last_index >= my_index);
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
        ctx.append(Record::Entry(Entry {
            term: self.term,
            command: None,
        }));
        self.flush(ctx);
        let (last, _) = Self::last(ctx);
        self.next = vec![last; self.n as usize];
        self.matched = vec![0; self.n as usize];
        self.acked = vec![0; self.n as usize];
        self.matched[self.id.index()] = last;
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
        let (last, _) = Self::last(ctx);
        let next = self.next[to.index()].clamp(1, last + 1);
        let prev_index = next - 1;
        let prev_term = Self::term_at(ctx, prev_index).unwrap_or(0);
        let end = last.min(prev_index + self.config.batch_max as u64);
        let entries: Vec<Entry> = ctx.store().records()[prev_index as usize..end as usize]
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
        if Self::term_at(ctx, self.commit) != Some(self.term) {
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
        let (last, _) = Self::last(ctx);
        let mut n = last.min(quorum_value(self.matched.iter().copied(), self.majority()));
        while n > self.commit {
            let own_term = Self::term_at(ctx, n) == Some(self.term);
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
            let Some(e) = ctx
                .store()
                .record(self.applied as usize - 1)
                .map(|r| entry(r).clone())
            else {
                break;
            };
            let Some(cmd) = e.command else { continue };
            // The service applies a retry or a late duplicate once (its client sessions).
            let answer = self.service.apply(&cmd);
            let waiter = self.waiting.settle(self.applied, &cmd);
            if let (Some((client, id)), Some(answer)) = (waiter, answer) {
                ctx.reply(client, id, answer);
            }
        }
        self.serve_reads(ctx);
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
        let (my_index, my_term) = Self::last(ctx);
        let up_to_date = last_term > my_term || (last_term == my_term && last_index >= my_index);
        let free = self.vote.is_none() || self.vote == Some(from);
        let granted =
            term == self.term && free && (up_to_date || self.config.bugs.skip_up_to_date_check);
        if granted {
            self.vote = Some(from);
            self.persist(ctx);
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
        entries: Vec<Entry>,
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
        let (last, _) = Self::last(ctx);
        if prev_index > last {
            refuse(self, ctx, last + 1, None);
            return;
        }
        let have = Self::term_at(ctx, prev_index).unwrap_or(0);
        if have != prev_term {
            // Skip back over the whole conflicting term (§5.3).
            let mut first = prev_index;
            while first > 1 && Self::term_at(ctx, first - 1) == Some(have) {
                first -= 1;
            }
            refuse(self, ctx, first, Some(have));
            return;
        }
        let count = entries.len() as u64;
        for (i, e) in entries.into_iter().enumerate() {
            let index = prev_index + 1 + i as u64;
            let len = ctx.store().len() as u64;
            if index <= len {
                let matches = Self::term_at(ctx, index) == Some(e.term);
                if matches && !self.config.bugs.truncate_on_match {
                    continue;
                }
                ctx.truncate(index as usize - 1);
            }
            ctx.append(Record::Entry(e));
        }
        self.flush(ctx);
        let matched = prev_index + count;
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
            let (last, _) = Self::last(ctx);
            if self.next[p] <= last {
                self.send_append(ctx, from);
            }
            return;
        }
        if conflict_index == 0 {
            return; // a refusal for an older term
        }
        // Fast backtracking: jump past the follower's conflicting term if we have it too.
        let (last, _) = Self::last(ctx);
        let mut next = conflict_index;
        if let Some(ct) = conflict_term {
            let mut i = last;
            while i > 0 && Self::term_at(ctx, i).is_some_and(|t| t > ct) {
                i -= 1;
            }
            if i > 0 && Self::term_at(ctx, i) == Some(ct) {
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
        }
    }

    /// Takes the new bug switches; the other parameters stay as built.
    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.config.bugs = config.bugs.clone();
        Ok(())
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.annotate("role", Role::Follower.name());
        self.reset_election(ctx);
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        // Only what was synced survived: term, vote and the log (§5, Figure 2).
        if let Some(Record::Term(t)) = ctx.store().cell("term") {
            self.term = *t;
        }
        if let Some(Record::Vote(v)) = ctx.store().cell("vote") {
            self.vote = *v;
        }
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
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        if self.unsynced {
            ctx.sync(); // the reply_before_sync bug syncs late, here
            self.unsynced = false;
        }
        match timer {
            Timer::Election => {
                if self.role != Role::Leader {
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
        ctx.append(Record::Entry(Entry {
            term: self.term,
            command: Some(Command { client, id, op }),
        }));
        self.flush(ctx);
        let (last, _) = Self::last(ctx);
        self.matched[self.id.index()] = last;
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
        let budget = Time::from_ms(10 * c.election_ms_max);
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
            Record::Entry(e) => match &e.command {
                None => 16,
                Some(c) => 32 + c.op.payload_bytes(),
            },
            Record::Term(_) | Record::Vote(_) => 8,
        }
    }
}
