//! Raft's Figure 2, rule by rule, on the scripted driver (Ongaro and Ousterhout, "In Search
//! of an Understandable Consensus Algorithm", extended version; § numbers refer to it).
//!
//! Each test sets a scene message by message (which copy arrives, which is lost, which timer
//! fires), then asserts the rule's effect on the nodes' state or on the messages they sent.
//! Every test fails under a named bug switch or a one-line change of the rule in
//! `src/protocols/raft/mod.rs`; docs/raft.md ("Figure 2, rule by rule") lists which. A rule
//! guarded by a switch also has a test that runs the same scene with the switch on and
//! asserts the wrong state or the check that catches it.
//!
//! Nodes are `n1`, `n2`, ... (`NodeId(0)`, `NodeId(1)`, ...). Election timeouts are fixed at
//! 200 ms so that a test can tell when a timer was re-armed; no timer fires unless a test
//! fires it, so the timeouts never decide anything else.

use faultline::base::types::{ClientId, Endpoint, NodeId, Time};
use faultline::protocol::RequestId;
use faultline::protocols::raft::{
    Answer, Bugs, Config, Entry, Hard, Msg, Op, Raft, Record, Role, Timer,
};
use faultline::script::{Envelope, Script, ScriptError};
use faultline::sim::SimConfig;
use faultline::trace::Payload;

const N1: NodeId = NodeId(0);
const N2: NodeId = NodeId(1);
const N3: NodeId = NodeId(2);
const N4: NodeId = NodeId(3);
const N5: NodeId = NodeId(4);
const C1: ClientId = ClientId(0);

/// The election timeout every test uses (min = max, so re-arming is visible).
const ELECTION_MS: u64 = 200;
/// The heartbeat period.
const HEARTBEAT_MS: u64 = 50;

// ---- setting the scene -------------------------------------------------------------------

/// Raft's default parameters with a fixed election timeout.
fn params() -> Config {
    Config {
        election_ms_min: ELECTION_MS,
        election_ms_max: ELECTION_MS,
        heartbeat_ms: HEARTBEAT_MS,
        ..Config::default()
    }
}

/// The default parameters with some bug switches on.
fn with_bugs(set: impl FnOnce(&mut Bugs)) -> Config {
    let mut p = params();
    set(&mut p.bugs);
    p
}

/// `nodes` started nodes with these parameters and one client (which never starts on its
/// own: requests come from [`put`] and [`get`]).
fn cluster_with(nodes: u32, params: Config) -> Script<Raft> {
    let mut config = SimConfig::<Raft>::new(nodes, 1);
    config.protocol = params;
    config.workload.clients = 1;
    let mut s = Script::from_config(config, None).expect("a valid configuration");
    s.start_all().expect("every node starts");
    s
}

/// `nodes` started nodes with [`params`].
fn cluster(nodes: u32) -> Script<Raft> {
    cluster_with(nodes, params())
}

/// `n` stands for election and every message is delivered until none is left: `n` leads,
/// every node stores its no-op, and `n` has committed it.
fn elect(s: &mut Script<Raft>, n: NodeId) {
    s.fire(n, &Timer::Election).unwrap();
    s.stabilize().unwrap();
    assert_eq!(raft(s, n).role(), Role::Leader, "{n} was elected");
}

/// A put from client c1 with request id `id`, delivered to `to` (what `to` sends in answer
/// stays in flight).
fn put(s: &mut Script<Raft>, to: NodeId, id: u64, key: &str, value: &str) {
    let op = Op::Put {
        key: key.into(),
        value: value.into(),
    };
    request(s, to, id, op);
}

/// An append from client c1, delivered to `to`.
fn append(s: &mut Script<Raft>, to: NodeId, id: u64, key: &str, value: &str) {
    let op = Op::Append {
        key: key.into(),
        value: value.into(),
    };
    request(s, to, id, op);
}

/// A get from client c1, delivered to `to`.
fn get(s: &mut Script<Raft>, to: NodeId, id: u64, key: &str) {
    request(s, to, id, Op::Get { key: key.into() });
}

fn request(s: &mut Script<Raft>, to: NodeId, id: u64, op: Op) {
    s.request(C1, to, RequestId(id), op).unwrap();
    let n = s
        .deliver_where(|e| e.from == Endpoint::Client(C1) && e.to == Endpoint::Node(to))
        .unwrap();
    assert_eq!(n, 1, "the request reached {to}");
}

fn link(e: &Envelope<'_, Raft>, from: NodeId, to: NodeId) -> bool {
    e.from == Endpoint::Node(from) && e.to == Endpoint::Node(to) && e.msg().is_some()
}

/// Delivers every message in flight from `from` to `to`; there must be at least one.
fn deliver(s: &mut Script<Raft>, from: NodeId, to: NodeId) {
    let n = s.deliver_where(|e| link(e, from, to)).unwrap();
    assert!(n > 0, "a message from {from} to {to} was in flight");
}

/// Delivers every message in flight from `from` to `to`, and returns what delivering them
/// did (a failed check is an error).
fn try_deliver(s: &mut Script<Raft>, from: NodeId, to: NodeId) -> Result<usize, ScriptError> {
    s.deliver_where(|e| link(e, from, to))
}

/// Loses every message in flight from `from` to `to`; there must be at least one.
fn lose(s: &mut Script<Raft>, from: NodeId, to: NodeId) {
    let n = s.drop_where(|e| link(e, from, to)).unwrap();
    assert!(n > 0, "a message from {from} to {to} was in flight");
}

/// Loses every message in flight to `to`.
fn lose_all_to(s: &mut Script<Raft>, to: NodeId) {
    s.drop_where(|e| e.to == Endpoint::Node(to)).unwrap();
}

/// Loses every message in flight from `from`.
fn lose_all_from(s: &mut Script<Raft>, from: NodeId) {
    s.drop_where(|e| e.from == Endpoint::Node(from)).unwrap();
}

// ---- reading the nodes -------------------------------------------------------------------

fn raft(s: &Script<Raft>, n: NodeId) -> &Raft {
    s.node(n).unwrap_or_else(|| panic!("{n} is up"))
}

fn entry(r: &Record) -> &Entry {
    match r {
        Record::Entry { entry: e, .. } => e,
        other => panic!("a log record that is not an entry: {other:?}"),
    }
}

/// The terms of `n`'s log entries, index 1 first, as the node sees them.
fn terms(s: &Script<Raft>, n: NodeId) -> Vec<u64> {
    let store = s.world().hosts()[n.index()].store();
    store.records().iter().map(|r| entry(r).term).collect()
}

/// The terms of `n`'s log entries that a crash would keep (synced).
fn synced_terms(s: &Script<Raft>, n: NodeId) -> Vec<u64> {
    let store = s.world().hosts()[n.index()].store();
    store
        .synced_records()
        .iter()
        .map(|r| entry(r).term)
        .collect()
}

/// The messages in flight from `from` to `to`, in the order they were sent.
fn sent(s: &Script<Raft>, from: NodeId, to: NodeId) -> Vec<Msg> {
    s.messages()
        .iter()
        .filter(|e| link(e, from, to))
        .filter_map(|e| e.msg().cloned())
        .collect()
}

/// The one message in flight from `from` to `to`.
fn only(s: &Script<Raft>, from: NodeId, to: NodeId) -> Msg {
    let mut msgs = sent(s, from, to);
    assert_eq!(msgs.len(), 1, "one message from {from} to {to}: {msgs:?}");
    msgs.remove(0)
}

/// The answers in flight from `from` to client c1, with their request ids.
fn answers(s: &Script<Raft>, from: NodeId) -> Vec<(u64, Answer)> {
    s.messages()
        .iter()
        .filter(|e| e.from == Endpoint::Node(from) && e.to == Endpoint::Client(C1))
        .filter_map(|e| match e.payload {
            Payload::Response { id, body } => Some((id.0, body.clone())),
            _ => None,
        })
        .collect()
}

/// The checks that failed during a run of scripted steps, in order. A script goes on after a
/// failed check (the action was applied), so a bug's test can note every failure and still
/// assert the state the bug left; the bug's own consequence may come after a failure of
/// another check that the same bug also breaks.
#[derive(Debug, Default)]
struct Failures(Vec<String>);

impl Failures {
    /// Notes the check that `r` failed, if it failed one.
    fn note<T>(&mut self, r: Result<T, ScriptError>) {
        match r {
            Ok(_) => {}
            Err(ScriptError::Failed(f)) => self.0.push(f.check.clone()),
            Err(other) => panic!("the script could not go on: {other}"),
        }
    }
    /// Whether `check` failed.
    fn saw(&self, check: &str) -> bool {
        self.0.iter().any(|c| c == check)
    }
}

/// The check a scripted action failed, or a panic if it did not fail that way.
fn failed_check<T: std::fmt::Debug>(r: Result<T, ScriptError>) -> String {
    match r {
        Err(ScriptError::Failed(f)) => f.check.clone(),
        other => panic!("expected a failed check, got {other:?}"),
    }
}

fn vote(term: u64, granted: bool) -> Msg {
    Msg::Vote { term, granted }
}

/// (success, term, matched, conflict_index, conflict_term) of an AppendEntries reply.
fn append_reply(m: &Msg) -> (bool, u64, u64, u64, Option<u64>) {
    match m {
        Msg::AppendReply {
            term,
            success,
            matched,
            conflict_index,
            conflict_term,
            ..
        } => (*success, *term, *matched, *conflict_index, *conflict_term),
        other => panic!("expected an AppendEntries reply, got {other:?}"),
    }
}

/// (term, prev_index, prev_term, entry terms, leader commit) of an AppendEntries.
fn append_entries(m: &Msg) -> (u64, u64, u64, Vec<u64>, u64) {
    match m {
        Msg::Append {
            term,
            prev_index,
            prev_term,
            entries,
            commit,
            ..
        } => (
            *term,
            *prev_index,
            *prev_term,
            entries.iter().map(|e| e.term).collect(),
            *commit,
        ),
        other => panic!("expected an AppendEntries, got {other:?}"),
    }
}

// ---- scenes several rules share ----------------------------------------------------------

/// n1 leads term 1 with log [1, 1, 1, 1] (its no-op and three puts), committed through
/// index 4 with n2 (which has learned commit index 3 so far); n3 stores only the no-op:
/// everything n1 sent it since was lost. Batches hold one entry, so n3 catches up one
/// AppendEntries at a time.
fn lagging_follower() -> Script<Raft> {
    let mut s = cluster_with(
        3,
        Config {
            batch_max: 1,
            ..params()
        },
    );
    elect(&mut s, N1);
    for id in 1..=3 {
        put(&mut s, N1, id, "k", &format!("v{id}"));
        lose_all_to(&mut s, N3);
        deliver(&mut s, N1, N2);
        deliver(&mut s, N2, N1);
    }
    assert_eq!(terms(&s, N1), [1, 1, 1, 1]);
    assert_eq!(terms(&s, N3), [1]);
    assert_eq!(raft(&s, N1).commit_index(), 4);
    assert_eq!(raft(&s, N2).commit_index(), 3);
    assert_eq!(raft(&s, N1).next_index(N3), 2);
    s
}

/// A deposed leader's leftovers: n3 led term 1 and appended three puts nobody else got (log
/// [1, 1, 1, 1]); n1 then led term 2 with n2 and committed its no-op (log [1, 2] on both).
/// n3 has not heard of any term after 1.
fn leftovers() -> Script<Raft> {
    let mut s = cluster(3);
    elect(&mut s, N3);
    for id in 1..=3 {
        put(&mut s, N3, id, "k", &format!("old{id}"));
        lose_all_from(&mut s, N3);
    }
    assert_eq!(terms(&s, N3), [1, 1, 1, 1]);
    // n1 wins term 2 with n2's vote; n3 hears nothing of it.
    s.fire(N1, &Timer::Election).unwrap();
    lose(&mut s, N1, N3);
    deliver(&mut s, N1, N2);
    deliver(&mut s, N2, N1);
    lose(&mut s, N1, N3);
    deliver(&mut s, N1, N2);
    deliver(&mut s, N2, N1);
    assert_eq!(raft(&s, N1).commit_index(), 2);
    assert_eq!(terms(&s, N2), [1, 2]);
    s
}

/// [`leftovers`], then n2 wins term 3 with n1's vote: n2 leads with log [1, 2, 3], and its
/// first AppendEntries to n3, with prev_index 2, is in flight.
fn deposed_leaders_leftovers() -> Script<Raft> {
    let mut s = leftovers();
    // n2 wins term 3 with n1's vote.
    s.fire(N2, &Timer::Election).unwrap();
    lose(&mut s, N2, N3);
    deliver(&mut s, N2, N1);
    deliver(&mut s, N1, N2);
    assert_eq!(raft(&s, N2).role(), Role::Leader);
    assert_eq!(terms(&s, N2), [1, 2, 3]);
    assert_eq!(raft(&s, N3).term(), 1);
    s
}

// ---- State: persistent on all servers ----------------------------------------------------

/// n1 stands in term 1 and n2 grants it its vote; n3 hears nothing. With the vote reply
/// still in flight, n2 crashes and restarts.
fn vote_then_crash(params: Config, failures: &mut Failures) -> Script<Raft> {
    let mut s = cluster_with(3, params);
    s.fire(N1, &Timer::Election).unwrap();
    lose(&mut s, N1, N3);
    deliver(&mut s, N1, N2);
    assert_eq!(only(&s, N2, N1), vote(1, true));
    failures.note(s.crash(N2));
    failures.note(s.restart(N2));
    s
}

// Figure 2, "Persistent state on all servers: currentTerm, votedFor ... (updated on stable
// storage before responding to RPCs)"; §5.2: at most one vote per term, even across a crash.
#[test]
fn persistent_state_current_term_and_voted_for_survive_a_crash() {
    let mut failures = Failures::default();
    let mut s = vote_then_crash(params(), &mut failures);
    assert!(failures.0.is_empty(), "{failures:?}");
    assert_eq!(raft(&s, N2).term(), 1);
    assert_eq!(raft(&s, N2).voted_for(), Some(N1));
    // n3 stands in the same term: n2 has voted in it already.
    s.fire(N3, &Timer::Election).unwrap();
    deliver(&mut s, N3, N2);
    assert_eq!(only(&s, N2, N3), vote(1, false));
    s.stabilize().unwrap();
    assert_eq!(raft(&s, N1).role(), Role::Leader);
    assert_ne!(raft(&s, N3).role(), Role::Leader);
}

// The same scene with `reply_before_sync`: the vote was answered before it was durable, the
// crash lost it, and n2 votes again in term 1: two leaders of one term.
#[test]
fn persistent_state_current_term_and_voted_for_with_reply_before_sync() {
    let mut failures = Failures::default();
    let mut s = vote_then_crash(with_bugs(|b| b.reply_before_sync = true), &mut failures);
    assert_eq!(raft(&s, N2).term(), 0, "the unsynced term was lost");
    assert_eq!(raft(&s, N2).voted_for(), None, "the unsynced vote was lost");
    failures.note(s.fire(N3, &Timer::Election));
    failures.note(try_deliver(&mut s, N3, N2));
    assert_eq!(only(&s, N2, N3), vote(1, true));
    failures.note(s.stabilize());
    assert_eq!(
        (raft(&s, N1).role(), raft(&s, N1).term()),
        (Role::Leader, 1)
    );
    assert_eq!(
        (raft(&s, N3).role(), raft(&s, N3).term()),
        (Role::Leader, 1)
    );
    assert!(failures.saw("election_safety"), "{failures:?}");
}

/// n1 is elected in term 1; its first AppendEntries (the no-op) reaches n2 only, and n2's
/// reply is in flight.
fn append_then_reply(params: Config) -> Script<Raft> {
    let mut s = cluster_with(3, params);
    s.fire(N1, &Timer::Election).unwrap();
    deliver(&mut s, N1, N2);
    lose(&mut s, N1, N3);
    deliver(&mut s, N2, N1);
    assert_eq!(raft(&s, N1).role(), Role::Leader);
    lose(&mut s, N1, N3);
    deliver(&mut s, N1, N2);
    let (success, ..) = append_reply(&only(&s, N2, N1));
    assert!(success);
    s
}

// Figure 2, "Persistent state ... log[] (updated on stable storage before responding to
// RPCs)": an entry a follower acknowledged survives its crash, so the leader may count it.
#[test]
fn persistent_state_log_is_synced_before_the_reply() {
    let mut s = append_then_reply(params());
    assert_eq!(terms(&s, N2), [1]);
    assert_eq!(synced_terms(&s, N2), [1], "synced before the reply left");
    s.crash(N2).unwrap();
    s.restart(N2).unwrap();
    assert_eq!(terms(&s, N2), [1], "the entry survived the crash");
    // The leader counts the reply: n1 and n2 both hold index 1 durably.
    deliver(&mut s, N2, N1);
    assert_eq!(raft(&s, N1).commit_index(), 1);
}

// The same scene with `reply_before_sync`: n2 acknowledged an entry it had not synced; the
// crash loses it, and the leader commits an entry no majority holds.
#[test]
fn persistent_state_log_with_reply_before_sync() {
    let mut s = append_then_reply(with_bugs(|b| b.reply_before_sync = true));
    assert_eq!(terms(&s, N2), [1]);
    assert_eq!(
        synced_terms(&s, N2),
        Vec::<u64>::new(),
        "acknowledged unsynced"
    );
    let mut failures = Failures::default();
    failures.note(s.crash(N2));
    failures.note(s.restart(N2));
    assert_eq!(terms(&s, N2), Vec::<u64>::new(), "the crash lost the entry");
    failures.note(try_deliver(&mut s, N2, N1));
    assert_eq!(raft(&s, N1).commit_index(), 1, "committed on a lost ack");
    assert!(failures.saw("committed_never_lost"), "{failures:?}");
}

// ---- State: volatile on all servers ------------------------------------------------------

// Figure 2, "commitIndex: index of highest log entry known to be committed (initialized to
// 0, increases monotonically)": a late copy of an older AppendEntries, whose leader commit
// is above the follower's commit index but whose last new entry is below it, leaves the
// commit index where it is; a restart starts it again at 0 and the leader's next
// AppendEntries teaches it again.
#[test]
fn volatile_state_commit_index_starts_at_zero_and_never_goes_down() {
    let mut s = lagging_follower();
    assert_eq!(raft(&s, N3).commit_index(), 0);
    s.fire(N1, &Timer::Heartbeat).unwrap();
    let first = only(&s, N1, N3);
    assert_eq!(append_entries(&first), (1, 1, 1, vec![1], 4));
    s.duplicate_where(|e| link(e, N1, N3)).unwrap();
    // One copy: n3 stores index 2 and commits up to it.
    let slot = s.messages().iter().find(|e| link(e, N1, N3)).unwrap().slot;
    s.deliver(slot).unwrap();
    assert_eq!(raft(&s, N3).commit_index(), 2);
    // Its reply brings the next batch, which commits index 3.
    s.deliver_where(|e| link(e, N3, N1)).unwrap();
    let slot = s
        .messages()
        .iter()
        .find(|e| link(e, N1, N3) && matches!(e.msg(), Some(Msg::Append { prev_index: 2, .. })))
        .unwrap()
        .slot;
    s.deliver(slot).unwrap();
    assert_eq!(raft(&s, N3).commit_index(), 3);
    // The late copy of the first: leader commit 4, but its last new entry is index 2.
    deliver(&mut s, N1, N3);
    assert_eq!(
        raft(&s, N3).commit_index(),
        3,
        "the commit index never goes down"
    );
    // A restart forgets it; the next heartbeat teaches it again.
    s.crash(N3).unwrap();
    s.restart(N3).unwrap();
    assert_eq!(raft(&s, N3).commit_index(), 0);
    s.stabilize().unwrap();
    s.fire(N1, &Timer::Heartbeat).unwrap();
    s.stabilize().unwrap();
    assert_eq!(raft(&s, N3).commit_index(), 4);
}

// ---- State: volatile on leaders ----------------------------------------------------------

/// n1 leads term 1 (log [1], everywhere); n2 then stands in term 2 and wins with n1's vote,
/// and its first AppendEntries are in flight.
fn second_leader() -> Script<Raft> {
    let mut s = cluster(3);
    elect(&mut s, N1);
    s.fire(N2, &Timer::Election).unwrap();
    s.deliver_where(|e| matches!(e.msg(), Some(Msg::RequestVote { .. })))
        .unwrap();
    s.deliver_where(|e| matches!(e.msg(), Some(Msg::Vote { .. })))
        .unwrap();
    assert_eq!(raft(&s, N2).role(), Role::Leader);
    assert_eq!(terms(&s, N2), [1, 2], "n2's log with its no-op");
    s
}

// Figure 2, "nextIndex[]: for each server, index of the next log entry to send to that
// server (initialized to leader last log index + 1)", reinitialized after election (§5.3).
// Here the last index at election is 1 (the no-op of term 2 goes at 2).
#[test]
fn leader_state_next_index_starts_after_the_last_entry() {
    let s = second_leader();
    for peer in [N1, N3] {
        assert_eq!(raft(&s, N2).next_index(peer), 2, "next index for {peer}");
        assert_eq!(
            append_entries(&only(&s, N2, peer)),
            (2, 1, 1, vec![2], 0),
            "AppendEntries to {peer} start at index 2"
        );
    }
}

// Figure 2, "matchIndex[]: for each server, index of highest log entry known to be
// replicated on server (initialized to 0, increases monotonically)": a late duplicate of an
// older success does not lower it.
#[test]
fn leader_state_match_index_starts_at_zero_and_never_goes_down() {
    let mut s = second_leader();
    assert_eq!(raft(&s, N2).match_index(N1), 0);
    assert_eq!(raft(&s, N2).match_index(N3), 0);
    deliver(&mut s, N2, N1);
    s.duplicate_where(|e| link(e, N1, N2)).unwrap();
    let slot = s.messages().iter().find(|e| link(e, N1, N2)).unwrap().slot;
    s.deliver(slot).unwrap();
    assert_eq!(raft(&s, N2).match_index(N1), 2);
    // A put reaches index 3 on n1; then the late duplicate of the reply for index 2 comes.
    put(&mut s, N2, 1, "k", "v");
    s.deliver_where(|e| {
        link(e, N2, N1) && matches!(e.msg(), Some(Msg::Append { prev_index: 2, .. }))
    })
    .unwrap();
    s.deliver_where(|e| {
        link(e, N1, N2) && matches!(e.msg(), Some(Msg::AppendReply { matched: 3, .. }))
    })
    .unwrap();
    assert_eq!(raft(&s, N2).match_index(N1), 3);
    deliver(&mut s, N1, N2);
    assert_eq!(
        raft(&s, N2).match_index(N1),
        3,
        "match index never goes down"
    );
}

// ---- AppendEntries RPC, receiver implementation ------------------------------------------

/// n1 leads term 1; n2 then stands in term 2 (its vote requests are lost), and n1, not
/// knowing, sends a heartbeat of term 1.
fn stale_heartbeat() -> Script<Raft> {
    let mut s = cluster(3);
    elect(&mut s, N1);
    s.fire(N2, &Timer::Election).unwrap();
    lose_all_from(&mut s, N2);
    s.fire(N1, &Timer::Heartbeat).unwrap();
    s
}

// Receiver rule 1: "Reply false if term < currentTerm (§5.1)".
#[test]
fn append_entries_rule_1_refuses_an_older_term() {
    let mut s = stale_heartbeat();
    deliver(&mut s, N1, N2);
    let (success, term, ..) = append_reply(&only(&s, N2, N1));
    assert!(!success);
    assert_eq!(term, 2, "the refusal carries the newer term");
    assert_eq!(raft(&s, N2).role(), Role::Candidate);
    assert_eq!(raft(&s, N2).leader(), None);
    assert_eq!(terms(&s, N2), [1]);
}

// Receiver rule 2: "Reply false if log doesn't contain an entry at prevLogIndex whose term
// matches prevLogTerm (§5.3)", here because the log is too short: the refusal tells the
// leader where the log ends.
#[test]
fn append_entries_rule_2_refuses_when_the_log_is_too_short() {
    let mut s = lagging_follower();
    // n2 takes over in term 2 (n1's vote); its first AppendEntries to n3 has prev_index 4.
    s.fire(N2, &Timer::Election).unwrap();
    lose(&mut s, N2, N3);
    deliver(&mut s, N2, N1);
    deliver(&mut s, N1, N2);
    assert_eq!(raft(&s, N2).role(), Role::Leader);
    assert_eq!(append_entries(&only(&s, N2, N3)), (2, 4, 1, vec![2], 3));
    deliver(&mut s, N2, N3);
    let (success, term, _, conflict_index, conflict_term) = append_reply(&only(&s, N3, N2));
    assert!(!success);
    assert_eq!(term, 2);
    assert_eq!(
        (conflict_index, conflict_term),
        (2, None),
        "n3's log ends at 1"
    );
    assert_eq!(terms(&s, N3), [1], "nothing appended");
    assert_eq!(raft(&s, N3).commit_index(), 0, "nothing committed");
}

// Receiver rule 2, when the entry at prevLogIndex has another term: refused, the log left
// alone (the leader will back up, see the leader rules).
#[test]
fn append_entries_rule_2_refuses_when_the_entry_at_prev_index_has_another_term() {
    let mut s = deposed_leaders_leftovers();
    assert_eq!(append_entries(&only(&s, N2, N3)), (3, 2, 2, vec![3], 0));
    deliver(&mut s, N2, N3);
    let (success, term, _, conflict_index, conflict_term) = append_reply(&only(&s, N3, N2));
    assert!(!success);
    assert_eq!(term, 3);
    // The whole of n3's term 1 is suspect: the leader may skip back over it at once.
    assert_eq!((conflict_index, conflict_term), (1, Some(1)));
    assert_eq!(
        terms(&s, N3),
        [1, 1, 1, 1],
        "nothing removed or appended yet"
    );
    assert_eq!(raft(&s, N3).role(), Role::Follower);
    assert_eq!(raft(&s, N3).leader(), Some(N2));
}

// Receiver rule 3: "If an existing entry conflicts with a new one (same index but different
// terms), delete the existing entry and all that follow it (§5.3)".
#[test]
fn append_entries_rule_3_deletes_a_conflicting_entry_and_all_that_follow() {
    let mut s = deposed_leaders_leftovers();
    deliver(&mut s, N2, N3);
    deliver(&mut s, N3, N2);
    // The retry starts after the last index both agree on (1).
    assert_eq!(append_entries(&only(&s, N2, N3)), (3, 1, 1, vec![2, 3], 0));
    deliver(&mut s, N2, N3);
    assert_eq!(
        terms(&s, N3),
        [1, 2, 3],
        "n3's entries 2..4 of term 1 are gone, the leader's are in"
    );
    assert_eq!(synced_terms(&s, N3), [1, 2, 3]);
}

/// n1 leads term 1; a put's AppendEntries to n2 is duplicated and one copy delivered; the
/// reply commits it (n3 hears nothing); then a second put reaches n2 and commits. The other
/// copy of the first AppendEntries is still in flight.
fn late_duplicate(params: Config) -> Script<Raft> {
    let mut s = cluster_with(3, params);
    elect(&mut s, N1);
    put(&mut s, N1, 1, "a", "1");
    lose_all_to(&mut s, N3);
    s.duplicate_where(|e| link(e, N1, N2)).unwrap();
    let slot = s.messages().iter().find(|e| link(e, N1, N2)).unwrap().slot;
    s.deliver(slot).unwrap();
    deliver(&mut s, N2, N1);
    put(&mut s, N1, 2, "b", "2");
    lose_all_to(&mut s, N3);
    s.deliver_where(|e| {
        link(e, N1, N2) && matches!(e.msg(), Some(Msg::Append { prev_index: 2, .. }))
    })
    .unwrap();
    assert_eq!(terms(&s, N2), [1, 1, 1]);
    s
}

// Receiver rule 3 read exactly: only a *conflicting* entry is deleted. A late duplicate of an
// older AppendEntries, whose entries all match, removes nothing (§5.5: the RPC is
// idempotent).
#[test]
fn append_entries_rule_3_keeps_entries_that_match() {
    let mut s = late_duplicate(params());
    deliver(&mut s, N2, N1);
    assert_eq!(raft(&s, N1).commit_index(), 3);
    // The late copy: prev_index 1, the entry at 2.
    assert_eq!(append_entries(&only(&s, N1, N2)), (1, 1, 1, vec![1], 1));
    deliver(&mut s, N1, N2);
    assert_eq!(terms(&s, N2), [1, 1, 1], "index 3 kept");
}

// The same scene with `truncate_on_match`: the late copy cuts n2's log back to index 2, and
// the committed entry at index 3 is left on n1 alone.
#[test]
fn append_entries_rule_3_with_truncate_on_match() {
    let mut s = late_duplicate(with_bugs(|b| b.truncate_on_match = true));
    deliver(&mut s, N2, N1);
    assert_eq!(raft(&s, N1).commit_index(), 3);
    assert_eq!(
        failed_check(try_deliver(&mut s, N1, N2)),
        "committed_never_lost"
    );
    assert_eq!(terms(&s, N2), [1, 1], "index 3 cut off");
}

// Receiver rule 4: "Append any new entries not already in the log". The AppendEntries holds
// an entry n2 has (its reply was lost) and a new one: the first is kept, the second appended.
#[test]
fn append_entries_rule_4_appends_the_new_entries() {
    let mut s = cluster(3);
    elect(&mut s, N1);
    put(&mut s, N1, 1, "a", "1");
    deliver(&mut s, N1, N2);
    lose(&mut s, N2, N1);
    put(&mut s, N1, 2, "b", "2");
    let second = sent(&s, N1, N2).pop().unwrap();
    assert_eq!(append_entries(&second), (1, 1, 1, vec![1, 1], 1));
    s.deliver_where(|e| link(e, N1, N2) && e.msg() == Some(&second))
        .unwrap();
    assert_eq!(terms(&s, N2), [1, 1, 1]);
    let replies = sent(&s, N2, N1);
    let (success, _, matched, ..) = append_reply(replies.last().unwrap());
    assert!(success);
    assert_eq!(matched, 3);
}

// Receiver rule 5: "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index
// of last new entry)". n2 is up to date and commits all the leader has; n3 gets one entry in
// this batch and commits only up to it.
#[test]
fn append_entries_rule_5_commits_up_to_the_leader_but_not_past_the_last_new_entry() {
    let mut s = lagging_follower();
    assert_eq!(
        raft(&s, N2).commit_index(),
        3,
        "n2 learned 3 with the third put"
    );
    s.fire(N1, &Timer::Heartbeat).unwrap();
    assert_eq!(append_entries(&only(&s, N1, N2)), (1, 4, 1, vec![], 4));
    assert_eq!(append_entries(&only(&s, N1, N3)), (1, 1, 1, vec![1], 4));
    deliver(&mut s, N1, N2);
    deliver(&mut s, N1, N3);
    assert_eq!(raft(&s, N2).commit_index(), 4);
    assert_eq!(
        raft(&s, N3).commit_index(),
        2,
        "not past the last new entry"
    );
}

// ---- RequestVote RPC, receiver implementation --------------------------------------------

// Receiver rule 1: "Reply false if term < currentTerm (§5.1)". n1 stands twice; n2 grants
// term 2, then gets n1's request of term 1 late: refused, though it names the candidate n2
// voted for and an up-to-date log.
#[test]
fn request_vote_rule_1_refuses_an_older_term() {
    let mut s = cluster(3);
    s.fire(N1, &Timer::Election).unwrap();
    s.fire(N1, &Timer::Election).unwrap();
    let of_term = |t: u64| {
        move |e: &Envelope<'_, Raft>| {
            link(e, N1, N2) && matches!(e.msg(), Some(Msg::RequestVote { term, .. }) if *term == t)
        }
    };
    s.deliver_where(of_term(2)).unwrap();
    assert_eq!(only(&s, N2, N1), vote(2, true));
    s.drop_where(|e| link(e, N2, N1)).unwrap();
    s.deliver_where(of_term(1)).unwrap();
    assert_eq!(only(&s, N2, N1), vote(2, false));
    assert_eq!(raft(&s, N2).term(), 2);
}

// Receiver rule 2: "If votedFor is null or candidateId, and candidate's log is at least as
// up-to-date as receiver's log, grant vote (§5.2, §5.4)": first come, first served, one
// vote per term.
#[test]
fn request_vote_rule_2_grants_one_vote_per_term() {
    let mut s = cluster(3);
    s.fire(N1, &Timer::Election).unwrap();
    s.fire(N3, &Timer::Election).unwrap();
    deliver(&mut s, N1, N2);
    assert_eq!(only(&s, N2, N1), vote(1, true));
    deliver(&mut s, N3, N2);
    assert_eq!(only(&s, N2, N3), vote(1, false));
    assert_eq!(raft(&s, N2).voted_for(), Some(N1));
    s.stabilize().unwrap();
    assert_eq!(raft(&s, N1).role(), Role::Leader);
}

// Receiver rule 2, "votedFor is ... candidateId": a repeated request from the candidate n2
// already voted for is granted again (the first answer may have been lost).
#[test]
fn request_vote_rule_2_grants_again_to_the_same_candidate() {
    let mut s = cluster(3);
    s.fire(N1, &Timer::Election).unwrap();
    s.duplicate_where(|e| link(e, N1, N2)).unwrap();
    deliver(&mut s, N1, N2);
    assert_eq!(sent(&s, N2, N1), [vote(1, true), vote(1, true)]);
    assert_eq!(raft(&s, N2).voted_for(), Some(N1));
}

/// n1 leads term 1 and commits a put with n2 (log [1, 1] on both); n3 heard nothing after
/// the no-op (log [1]) and stands in term 2. Its requests are in flight.
fn candidate_behind(params: Config) -> Script<Raft> {
    let mut s = cluster_with(3, params);
    elect(&mut s, N1);
    put(&mut s, N1, 1, "a", "1");
    lose_all_to(&mut s, N3);
    deliver(&mut s, N1, N2);
    deliver(&mut s, N2, N1);
    assert_eq!(raft(&s, N1).commit_index(), 2);
    s.fire(N3, &Timer::Election).unwrap();
    s
}

// Receiver rule 2 and §5.4.1: "a vote is refused to a candidate whose log is less up to
// date". n3's last entry has the same term as n2's, but n3's log is shorter. Then the other
// comparison: a candidate whose last term is older is refused even with a longer log.
#[test]
fn request_vote_rule_2_refuses_a_candidate_whose_log_is_less_up_to_date() {
    let mut s = candidate_behind(params());
    deliver(&mut s, N3, N2);
    assert_eq!(only(&s, N2, N3), vote(2, false));
    assert_eq!(raft(&s, N2).voted_for(), None);
    assert_eq!(raft(&s, N2).term(), 2, "the term is adopted all the same");
    s.stabilize().unwrap();
    assert_ne!(raft(&s, N3).role(), Role::Leader);

    let mut s = deposed_leaders_leftovers();
    // n3 (log [1, 1, 1, 1]) learns term 3 from n2's AppendEntries and stands in term 4.
    deliver(&mut s, N2, N3);
    lose(&mut s, N3, N2);
    s.fire(N3, &Timer::Election).unwrap();
    deliver(&mut s, N3, N1);
    assert_eq!(
        only(&s, N1, N3),
        vote(4, false),
        "n1's log [1, 2] ends later"
    );
}

// The same first scene with `skip_up_to_date_check`: n2 votes for n3, which becomes leader
// without the committed entry at index 2.
#[test]
fn request_vote_rule_2_with_skip_up_to_date_check() {
    let mut s = candidate_behind(with_bugs(|b| b.skip_up_to_date_check = true));
    deliver(&mut s, N3, N2);
    assert_eq!(only(&s, N2, N3), vote(2, true));
    assert_eq!(
        failed_check(try_deliver(&mut s, N2, N3)),
        "leader_completeness"
    );
}

// §5.4.1: "If the logs have last entries with different terms, then the log with the later
// term is more up-to-date": n2's log [1, 2] is shorter than n3's [1, 1, 1, 1] but ends in a
// later term, so n3 grants it its vote.
#[test]
fn request_vote_rule_2_the_later_last_term_wins_over_the_longer_log() {
    let mut s = leftovers();
    s.fire(N2, &Timer::Election).unwrap();
    assert!(matches!(
        only(&s, N2, N3),
        Msg::RequestVote {
            term: 3,
            last_index: 2,
            last_term: 2
        }
    ));
    deliver(&mut s, N2, N3);
    assert_eq!(only(&s, N3, N2), vote(3, true));
    assert_eq!(raft(&s, N3).voted_for(), Some(N2));
}

// ---- Rules for Servers: all servers ------------------------------------------------------

// "If commitIndex > lastApplied: increment lastApplied, apply log[lastApplied] to state
// machine (§5.3)": every node applies every committed entry, in log order (put, then
// append); lastApplied is volatile, so a restarted node applies the log again from the
// start.
#[test]
fn all_servers_apply_committed_entries_in_log_order() {
    let mut s = cluster(3);
    elect(&mut s, N1);
    put(&mut s, N1, 1, "k", "x");
    append(&mut s, N1, 2, "k", "y");
    s.stabilize().unwrap();
    s.fire(N1, &Timer::Heartbeat).unwrap();
    s.stabilize().unwrap();
    for n in [N1, N2, N3] {
        assert_eq!(raft(&s, n).commit_index(), 3, "{n}");
        assert_eq!(raft(&s, n).applied_index(), 3, "{n}");
        assert_eq!(
            raft(&s, n).kv().get("k").map(String::as_str),
            Some("xy"),
            "{n}"
        );
    }
    s.crash(N2).unwrap();
    s.restart(N2).unwrap();
    assert_eq!(raft(&s, N2).applied_index(), 0);
    assert!(raft(&s, N2).kv().is_empty());
    s.fire(N1, &Timer::Heartbeat).unwrap();
    s.stabilize().unwrap();
    assert_eq!(raft(&s, N2).applied_index(), 3);
    assert_eq!(raft(&s, N2).kv().get("k").map(String::as_str), Some("xy"));
}

// "If RPC request or response contains term T > currentTerm: set currentTerm = T, convert to
// follower (§5.1)", a request: the leader n1 gets n3's vote request of term 2, refuses it
// (n3's log is behind) and still steps down.
#[test]
fn all_servers_convert_to_follower_on_a_request_of_a_higher_term() {
    let mut s = candidate_behind(params());
    deliver(&mut s, N3, N1);
    assert_eq!(only(&s, N1, N3), vote(2, false));
    let n1 = raft(&s, N1);
    assert_eq!(
        (n1.term(), n1.role(), n1.voted_for()),
        (2, Role::Follower, None)
    );
    assert_eq!(
        s.armed(N1),
        [&Timer::Election],
        "no heartbeat; an election timer"
    );
}

// The same rule, a response: the leader n1 learns term 2 from n2's refusal of its heartbeat.
#[test]
fn all_servers_convert_to_follower_on_a_response_of_a_higher_term() {
    let mut s = stale_heartbeat();
    deliver(&mut s, N1, N2);
    deliver(&mut s, N2, N1);
    let n1 = raft(&s, N1);
    assert_eq!(
        (n1.term(), n1.role(), n1.voted_for()),
        (2, Role::Follower, None)
    );
    assert_eq!(n1.leader(), None);
}

// ---- Rules for Servers: followers (§5.2) -------------------------------------------------

// "Respond to RPCs from candidates and leaders": every RequestVote and AppendEntries gets
// exactly one answer, to its sender, granted or not, accepted or not.
#[test]
fn followers_respond_to_every_rpc() {
    let mut s = cluster(3);
    // A vote granted, a vote refused.
    s.fire(N1, &Timer::Election).unwrap();
    s.fire(N3, &Timer::Election).unwrap();
    deliver(&mut s, N1, N2);
    deliver(&mut s, N3, N2);
    assert_eq!(sent(&s, N2, N1), [vote(1, true)]);
    assert_eq!(sent(&s, N2, N3), [vote(1, false)]);
    deliver(&mut s, N2, N1);
    lose(&mut s, N2, N3);
    assert_eq!(raft(&s, N1).role(), Role::Leader);
    // An AppendEntries accepted.
    deliver(&mut s, N1, N2);
    assert!(append_reply(&only(&s, N2, N1)).0, "one answer, a success");
    lose(&mut s, N2, N1);
    // An AppendEntries of a stale leader refused: n2 has since heard of term 2.
    s.fire(N3, &Timer::Election).unwrap();
    deliver(&mut s, N3, N2);
    lose(&mut s, N2, N3);
    s.fire(N1, &Timer::Heartbeat).unwrap();
    deliver(&mut s, N1, N2);
    let (success, term, ..) = append_reply(&only(&s, N2, N1));
    assert!(!success);
    assert_eq!(term, 2);
}

// "If election timeout elapses without receiving AppendEntries RPC from current leader ...:
// convert to candidate": each AppendEntries from the leader re-arms a follower's election
// timer, and only when it runs out does the follower stand.
#[test]
fn followers_postpone_their_election_on_append_entries() {
    let mut s = cluster(3);
    elect(&mut s, N1);
    let due = s.due(N2, &Timer::Election).unwrap();
    assert_eq!(due, Time::from_ms(ELECTION_MS));
    s.advance(Time::from_ms(120));
    s.fire(N1, &Timer::Heartbeat).unwrap();
    deliver(&mut s, N1, N2);
    assert_eq!(
        s.due(N2, &Timer::Election),
        Some(Time::from_ms(120 + ELECTION_MS)),
        "the heartbeat postponed the election"
    );
    // No word from the leader for a whole timeout: n2 stands.
    s.advance(Time::from_ms(ELECTION_MS));
    s.fire(N2, &Timer::Election).unwrap();
    assert_eq!(raft(&s, N2).role(), Role::Candidate);
    assert_eq!(raft(&s, N2).term(), 2);
}

// "If election timeout elapses without ... granting vote to candidate: convert to candidate":
// granting a vote re-arms the timer; refusing one does not.
#[test]
fn followers_postpone_their_election_on_granting_a_vote() {
    let mut s = cluster(3);
    assert_eq!(
        s.due(N2, &Timer::Election),
        Some(Time::from_ms(ELECTION_MS))
    );
    s.advance(Time::from_ms(100));
    s.fire(N1, &Timer::Election).unwrap();
    deliver(&mut s, N1, N2);
    assert_eq!(only(&s, N2, N1), vote(1, true));
    assert_eq!(
        s.due(N2, &Timer::Election),
        Some(Time::from_ms(100 + ELECTION_MS)),
        "granting postponed the election"
    );
    s.advance(Time::from_ms(50));
    s.fire(N3, &Timer::Election).unwrap();
    deliver(&mut s, N3, N2);
    assert_eq!(only(&s, N2, N3), vote(1, false));
    assert_eq!(
        s.due(N2, &Timer::Election),
        Some(Time::from_ms(100 + ELECTION_MS)),
        "refusing did not"
    );
}

// ---- Rules for Servers: candidates (§5.2) ------------------------------------------------

// "On conversion to candidate, start election: increment currentTerm, vote for self, reset
// election timer, send RequestVote RPCs to all other servers." The term and vote are
// durable before the requests leave; each request names the candidate's last entry.
#[test]
fn candidates_start_an_election_on_conversion() {
    let mut s = cluster(3);
    elect(&mut s, N1);
    s.advance(Time::from_ms(70));
    s.fire(N2, &Timer::Election).unwrap();
    let n2 = raft(&s, N2);
    assert_eq!(
        (n2.role(), n2.term(), n2.voted_for()),
        (Role::Candidate, 2, Some(N2))
    );
    let store = s.world().hosts()[N2.index()].store();
    for (copy, cell) in [(1, "hard#1"), (2, "hard#2")] {
        let state = Hard {
            term: 2,
            vote: Some(N2),
            repair: None,
        };
        assert_eq!(store.synced_cell(cell), Some(&Record::Hard { copy, state }));
    }
    assert_eq!(
        s.due(N2, &Timer::Election),
        Some(Time::from_ms(70 + ELECTION_MS)),
        "the election timer is reset"
    );
    for peer in [N1, N3] {
        assert_eq!(
            only(&s, N2, peer),
            Msg::RequestVote {
                term: 2,
                last_index: 1,
                last_term: 1
            },
            "to {peer}"
        );
    }
}

/// Five nodes: n1 and n5 stand in term 1; n3 votes for n5 first. n1's requests reach n2, n3
/// and n4; n2's grant is duplicated. The votes for n1 are in flight.
fn five_node_election(params: Config) -> Script<Raft> {
    let mut s = cluster_with(5, params);
    s.fire(N1, &Timer::Election).unwrap();
    s.fire(N5, &Timer::Election).unwrap();
    deliver(&mut s, N5, N3);
    for peer in [N2, N3, N4] {
        deliver(&mut s, N1, peer);
    }
    lose(&mut s, N1, N5);
    assert_eq!(only(&s, N3, N1), vote(1, false));
    s.duplicate_where(|e| link(e, N2, N1)).unwrap();
    s
}

// "If votes received from majority of servers: become leader": n1 counts each voter once
// and no refusal; its own vote and n2's (twice) and a refusal make no majority of five, n4's
// grant does.
#[test]
fn candidates_become_leader_with_votes_from_a_majority() {
    let mut s = five_node_election(params());
    deliver(&mut s, N2, N1);
    assert_eq!(raft(&s, N1).role(), Role::Candidate, "n1 and n2: 2 of 5");
    deliver(&mut s, N3, N1);
    assert_eq!(raft(&s, N1).role(), Role::Candidate, "a refusal is no vote");
    deliver(&mut s, N4, N1);
    assert_eq!(raft(&s, N1).role(), Role::Leader, "n1, n2 and n4: 3 of 5");
}

// The same scene with `count_duplicate_votes`: n2's vote counted twice makes n1 leader with
// two voters of five; n5, with n3's vote counted twice, then leads the same term.
#[test]
fn candidates_become_leader_with_count_duplicate_votes() {
    let mut s = five_node_election(with_bugs(|b| b.count_duplicate_votes = true));
    deliver(&mut s, N2, N1);
    assert_eq!(raft(&s, N1).role(), Role::Leader, "n2 counted twice");
    s.duplicate_where(|e| link(e, N3, N5)).unwrap();
    assert_eq!(failed_check(try_deliver(&mut s, N3, N5)), "election_safety");
}

// "If AppendEntries RPC received from new leader: convert to follower": n3, a candidate of
// term 1, hears from n1, which won term 1.
#[test]
fn candidates_become_followers_on_append_entries_from_the_new_leader() {
    let mut s = cluster(3);
    s.fire(N1, &Timer::Election).unwrap();
    s.fire(N3, &Timer::Election).unwrap();
    deliver(&mut s, N1, N2);
    deliver(&mut s, N2, N1);
    lose_all_to(&mut s, N1);
    lose_all_to(&mut s, N2);
    assert_eq!(raft(&s, N1).role(), Role::Leader);
    assert_eq!(raft(&s, N3).role(), Role::Candidate);
    deliver(&mut s, N1, N3);
    let n3 = raft(&s, N3);
    assert_eq!(
        (n3.role(), n3.term(), n3.leader()),
        (Role::Follower, 1, Some(N1))
    );
    assert_eq!(terms(&s, N3), [1], "and it takes the leader's entries");
}

// "If election timeout elapses: start new election": n1 heard no answer in term 1 and
// stands again in term 2.
#[test]
fn candidates_start_a_new_election_when_the_timeout_elapses() {
    let mut s = cluster(3);
    s.fire(N1, &Timer::Election).unwrap();
    lose_all_from(&mut s, N1);
    assert_eq!(
        s.due(N1, &Timer::Election),
        Some(Time::from_ms(ELECTION_MS))
    );
    s.advance(Time::from_ms(ELECTION_MS));
    s.fire(N1, &Timer::Election).unwrap();
    let n1 = raft(&s, N1);
    assert_eq!(
        (n1.role(), n1.term(), n1.voted_for()),
        (Role::Candidate, 2, Some(N1))
    );
    for peer in [N2, N3] {
        assert!(
            matches!(only(&s, N1, peer), Msg::RequestVote { term: 2, .. }),
            "a new request to {peer}"
        );
    }
}

// ---- Rules for Servers: leaders ----------------------------------------------------------

// "Upon election: send initial empty AppendEntries RPCs (heartbeat) to each server; repeat
// during idle periods to prevent election timeouts (§5.2)". Here the first AppendEntries
// carries the leader's no-op (§8); the heartbeats after it are empty when the follower is
// up to date, and the heartbeat timer re-arms itself.
#[test]
fn leaders_send_append_entries_on_election_and_at_every_heartbeat() {
    let mut s = cluster(3);
    s.fire(N1, &Timer::Election).unwrap();
    s.deliver_where(|e| matches!(e.msg(), Some(Msg::RequestVote { .. })))
        .unwrap();
    s.deliver_where(|e| matches!(e.msg(), Some(Msg::Vote { .. })))
        .unwrap();
    assert_eq!(raft(&s, N1).role(), Role::Leader);
    for peer in [N2, N3] {
        assert_eq!(append_entries(&only(&s, N1, peer)), (1, 0, 0, vec![1], 0));
    }
    assert_eq!(
        s.due(N1, &Timer::Heartbeat),
        Some(Time::from_ms(HEARTBEAT_MS))
    );
    assert_eq!(s.due(N1, &Timer::Election), None, "a leader does not stand");
    s.stabilize().unwrap();
    for round in 1..=3u64 {
        s.advance(Time::from_ms(HEARTBEAT_MS));
        s.fire(N1, &Timer::Heartbeat).unwrap();
        for peer in [N2, N3] {
            assert_eq!(append_entries(&only(&s, N1, peer)), (1, 1, 1, vec![], 1));
        }
        assert_eq!(
            s.due(N1, &Timer::Heartbeat),
            Some(Time::from_ms((round + 1) * HEARTBEAT_MS)),
            "the heartbeat repeats"
        );
        s.stabilize().unwrap();
    }
}

// "If command received from client: append entry to local log, respond after entry applied
// to state machine (§5.3)". A follower redirects the client to the leader.
#[test]
fn leaders_append_client_commands_and_answer_after_applying() {
    let mut s = cluster(3);
    elect(&mut s, N1);
    put(&mut s, N2, 1, "k", "v");
    assert_eq!(answers(&s, N2), [(1, Answer::NotLeader { hint: Some(N1) })]);
    put(&mut s, N1, 1, "k", "v");
    assert_eq!(terms(&s, N1), [1, 1], "appended to the leader's log");
    assert_eq!(synced_terms(&s, N1), [1, 1]);
    assert!(
        answers(&s, N1).is_empty(),
        "no answer before it is committed"
    );
    deliver(&mut s, N1, N2);
    assert!(answers(&s, N1).is_empty());
    deliver(&mut s, N2, N1);
    assert_eq!(raft(&s, N1).commit_index(), 2);
    assert_eq!(raft(&s, N1).applied_index(), 2);
    assert_eq!(raft(&s, N1).kv().get("k").map(String::as_str), Some("v"));
    assert_eq!(answers(&s, N1), [(1, Answer::Ok { value: None })]);
}

// "If last log index >= nextIndex for a follower: send AppendEntries RPC with log entries
// starting at nextIndex. If successful: update nextIndex and matchIndex for follower (§5.3)".
// With one entry per batch, each success moves both on and brings the next batch at once.
#[test]
fn leaders_send_from_next_index_and_advance_next_and_match_on_success() {
    let mut s = lagging_follower();
    assert_eq!(raft(&s, N1).match_index(N3), 1);
    s.fire(N1, &Timer::Heartbeat).unwrap();
    lose(&mut s, N1, N2);
    for index in 2..=4 {
        assert_eq!(
            append_entries(&only(&s, N1, N3)),
            (1, index - 1, 1, vec![1], 4),
            "the entry at next index {index}"
        );
        deliver(&mut s, N1, N3);
        deliver(&mut s, N3, N1);
        assert_eq!(raft(&s, N1).match_index(N3), index);
        assert_eq!(raft(&s, N1).next_index(N3), index + 1);
    }
    assert!(sent(&s, N1, N3).is_empty(), "nothing more to send");
    assert_eq!(terms(&s, N3), [1, 1, 1, 1]);
}

// "If AppendEntries fails because of log inconsistency: decrement nextIndex and retry (§5.3)".
// The leader retries at once, and further back: past the follower's conflicting term in one
// step (the optimisation at the end of §5.3), here from nextIndex 3 to 2.
#[test]
fn leaders_back_up_next_index_and_retry_when_a_follower_refuses() {
    let mut s = deposed_leaders_leftovers();
    assert_eq!(raft(&s, N2).next_index(N3), 3);
    deliver(&mut s, N2, N3);
    deliver(&mut s, N3, N2);
    assert_eq!(raft(&s, N2).next_index(N3), 2);
    assert_eq!(append_entries(&only(&s, N2, N3)), (3, 1, 1, vec![2, 3], 0));
    deliver(&mut s, N2, N3);
    deliver(&mut s, N3, N2);
    assert_eq!(raft(&s, N2).match_index(N3), 3);
    assert_eq!(raft(&s, N2).next_index(N3), 4);
    assert_eq!(terms(&s, N3), terms(&s, N2));
}

// "If there exists an N such that N > commitIndex, a majority of matchIndex[i] >= N, and
// log[N].term == currentTerm: set commitIndex = N (§5.3, §5.4)": in five nodes, one follower
// storing the entry is not a majority, two are.
#[test]
fn leaders_commit_once_a_majority_stores_an_entry() {
    let mut s = cluster(5);
    elect(&mut s, N1);
    put(&mut s, N1, 1, "k", "v");
    deliver(&mut s, N1, N2);
    deliver(&mut s, N2, N1);
    assert_eq!(raft(&s, N1).commit_index(), 1, "n1 and n2: 2 of 5");
    deliver(&mut s, N1, N3);
    deliver(&mut s, N3, N1);
    assert_eq!(raft(&s, N1).commit_index(), 2, "n1, n2 and n3: 3 of 5");
}

/// Figure 8 in three nodes, up to (c): n1 led term 1 and stored [1] alone; n3 led term 2 and
/// stored [2] alone; n1, restarted, leads term 3 with [1, 3] and has just copied index 1
/// (term 1) to n2, whose reply is in flight. One entry per batch.
fn figure_8(params: Config) -> Script<Raft> {
    let mut s = cluster_with(
        3,
        Config {
            batch_max: 1,
            ..params
        },
    );
    // (a) n1 leads term 1; its entry reaches no one.
    s.fire(N1, &Timer::Election).unwrap();
    lose(&mut s, N1, N3);
    deliver(&mut s, N1, N2);
    deliver(&mut s, N2, N1);
    lose_all_from(&mut s, N1);
    s.crash(N1).unwrap();
    // (b) n3 leads term 2 (n2 voted in term 1 already, so n3 stands twice); its entry
    // reaches no one.
    s.fire(N3, &Timer::Election).unwrap();
    s.fire(N3, &Timer::Election).unwrap();
    s.drop_where(|e| matches!(e.msg(), Some(Msg::RequestVote { term: 1, .. })))
        .unwrap();
    deliver(&mut s, N3, N2);
    deliver(&mut s, N2, N3);
    assert_eq!(raft(&s, N3).role(), Role::Leader);
    lose_all_from(&mut s, N3);
    s.crash(N3).unwrap();
    // (c) n1 restarts and leads term 3 (twice again: n2 voted in term 2).
    s.restart(N1).unwrap();
    s.fire(N1, &Timer::Election).unwrap();
    s.fire(N1, &Timer::Election).unwrap();
    s.drop_where(|e| matches!(e.msg(), Some(Msg::RequestVote { term: 2, .. })))
        .unwrap();
    lose_all_to(&mut s, N3);
    deliver(&mut s, N1, N2);
    deliver(&mut s, N2, N1);
    assert_eq!(raft(&s, N1).role(), Role::Leader);
    assert_eq!(terms(&s, N1), [1, 3]);
    lose_all_to(&mut s, N3);
    // n2's log is empty: it refuses, and n1 backs up to index 1.
    deliver(&mut s, N1, N2);
    deliver(&mut s, N2, N1);
    assert_eq!(append_entries(&only(&s, N1, N2)), (3, 0, 0, vec![1], 0));
    deliver(&mut s, N1, N2);
    assert_eq!(terms(&s, N2), [1]);
    s
}

// The commit rule's "log[N].term == currentTerm" (§5.4.2, Figure 8): index 1 (term 1) on a
// majority does not commit; it commits with the first entry of n1's own term.
#[test]
fn leaders_commit_entries_of_earlier_terms_only_through_one_of_their_own() {
    let mut s = figure_8(params());
    deliver(&mut s, N2, N1);
    assert_eq!(raft(&s, N1).match_index(N2), 1);
    assert_eq!(
        raft(&s, N1).commit_index(),
        0,
        "index 1 is of term 1, not 3"
    );
    deliver(&mut s, N1, N2);
    deliver(&mut s, N2, N1);
    assert_eq!(
        raft(&s, N1).commit_index(),
        2,
        "index 2, of term 3, and 1 with it"
    );
}

// The same scene with `commit_old_terms`: n1 commits index 1 by counting replicas. Then
// Figure 8 (d): n1 crashes, n3 restarts and wins term 4 with n2's vote (its last term, 2,
// beats n2's 1), a leader without the committed entry.
#[test]
fn leaders_commit_rule_with_commit_old_terms() {
    let mut s = figure_8(with_bugs(|b| b.commit_old_terms = true));
    deliver(&mut s, N2, N1);
    assert_eq!(raft(&s, N1).commit_index(), 1, "committed by counting");
    s.crash(N1).unwrap();
    s.restart(N3).unwrap();
    s.fire(N3, &Timer::Election).unwrap();
    s.fire(N3, &Timer::Election).unwrap();
    s.drop_where(|e| matches!(e.msg(), Some(Msg::RequestVote { term: 3, .. })))
        .unwrap();
    deliver(&mut s, N3, N2);
    assert_eq!(only(&s, N2, N3), vote(4, true));
    assert_eq!(
        failed_check(try_deliver(&mut s, N2, N3)),
        "leader_completeness"
    );
}

// ---- Beyond Figure 2: reads served by the leader (§8) ------------------------------------

/// Leader reads: n1 leads term 1; n2 then wins term 2 with n3 and commits a put of k = v,
/// answered; n1, cut off by lost messages, still believes it leads and gets a read of k.
fn deposed_leader_read(params: Config) -> Script<Raft> {
    let mut s = cluster_with(
        3,
        Config {
            read_mode: faultline::protocols::raft::ReadMode::Leader,
            ..params
        },
    );
    elect(&mut s, N1);
    s.fire(N2, &Timer::Election).unwrap();
    lose(&mut s, N2, N1);
    deliver(&mut s, N2, N3);
    deliver(&mut s, N3, N2);
    lose(&mut s, N2, N1);
    deliver(&mut s, N2, N3);
    deliver(&mut s, N3, N2);
    put(&mut s, N2, 1, "k", "v");
    lose(&mut s, N2, N1);
    deliver(&mut s, N2, N3);
    deliver(&mut s, N3, N2);
    assert_eq!(answers(&s, N2), [(1, Answer::Ok { value: None })]);
    assert_eq!(raft(&s, N1).role(), Role::Leader, "n1 has not heard");
    get(&mut s, N1, 2, "k");
    s
}

// §8: "a leader must check whether it has been deposed before processing a read-only
// request": n1 answers only after a majority acknowledges a heartbeat sent after the read
// arrived; here the heartbeat is refused, n1 steps down, and the stale value never leaves.
#[test]
fn leader_reads_wait_for_a_majority_to_confirm_leadership() {
    let mut s = deposed_leader_read(params());
    assert!(answers(&s, N1).is_empty(), "no answer yet");
    deliver(&mut s, N1, N2);
    deliver(&mut s, N1, N3);
    s.deliver_where(|e| e.to == Endpoint::Node(N1)).unwrap();
    assert_eq!(raft(&s, N1).role(), Role::Follower);
    assert!(answers(&s, N1).is_empty(), "no stale answer");
}

// The same scene with `stale_leader_reads`: n1 answers at once with what it has applied, the
// value before the acknowledged put.
#[test]
fn leader_reads_with_stale_leader_reads() {
    let s = deposed_leader_read(with_bugs(|b| b.stale_leader_reads = true));
    assert_eq!(answers(&s, N1), [(2, Answer::Ok { value: None })]);
}
