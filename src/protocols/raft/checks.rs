//! The raft checks: the properties `properties()` offers to scenarios.

use super::*;

pub(super) fn touched(view: &View<'_, Raft>) -> std::ops::Range<u32> {
    match view.touched {
        Some(Endpoint::Node(n)) => n.0..n.0 + 1,
        Some(Endpoint::Client(_)) => 0..0,
        None => 0..view.cluster_size(),
    }
}

#[derive(Default)]
pub(super) struct ElectionSafety {
    leaders: BTreeMap<u64, NodeId>,
}

impl Property<Raft> for ElectionSafety {
    fn check(&mut self, view: &View<'_, Raft>, _: Option<&Trigger>) -> Result<(), Failure> {
        for n in touched(view).map(NodeId) {
            let Some(r) = view.node(n) else { continue };
            if r.role != Role::Leader {
                continue;
            }
            match self.leaders.get(&r.term) {
                Some(&other) if other != n => {
                    return Err(Failure::new(
                        format!("{other} and {n} were both leaders in term {}", r.term),
                        vec![other, n],
                    ));
                }
                Some(_) => {}
                None => {
                    self.leaders.insert(r.term, n);
                }
            }
        }
        Ok(())
    }
}

/// What a log-watching property checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum LogCheck {
    Matching,
    Completeness,
    Applied,
}

/// An entry's identity: its term and its command's (client, request id), or none for a no-op.
type EntryId = (u64, Option<(ClientId, RequestId)>);

/// An entry's command as a violation message names it: `c1 request 19`, or `a no-op`.
fn show(c: Option<(ClientId, RequestId)>) -> String {
    match c {
        Some((client, id)) => format!("{client} request {}", id.serial()),
        None => "a no-op".to_string(),
    }
}

fn id_of(e: &Entry) -> EntryId {
    (e.term, e.command.as_ref().map(|c| (c.client, c.id)))
}

/// Watches logs incrementally: a copy of each node's log as last seen, so each step looks
/// only at the suffix that changed (Raft only ever changes a log's suffix).
pub(super) struct Logs {
    what: LogCheck,
    seen: Vec<Vec<EntryId>>,
    /// For log matching: every (index, term) ever seen, with its entry and the term before it.
    index: BTreeMap<(u64, u64), (EntryId, u64)>,
    /// Entries known committed, by index.
    committed: Vec<EntryId>,
    /// Per committed index: the term in which it was first seen committed.
    committed_in: Vec<u64>,
    /// Per node: highest index checked as applied, and per index the entry applied there.
    applied_by: Vec<u64>,
    applied: Vec<EntryId>,
    /// Per node: the term in which it was last checked as a new leader.
    leader_checked: Vec<u64>,
}

impl Logs {
    pub(super) fn new(what: LogCheck) -> Self {
        Logs {
            what,
            seen: Vec::new(),
            index: BTreeMap::new(),
            committed: Vec::new(),
            committed_in: Vec::new(),
            applied_by: Vec::new(),
            applied: Vec::new(),
            leader_checked: Vec::new(),
        }
    }
}

impl Property<Raft> for Logs {
    fn check(&mut self, view: &View<'_, Raft>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.seen.len() != n {
            self.seen = vec![Vec::new(); n];
            self.applied_by = vec![0; n];
            self.leader_checked = vec![0; n];
        }
        for node in touched(view).map(NodeId) {
            let i = node.index();
            let log = view.store(node).records();
            // The first index whose entry differs from what we saw last time.
            let old = &self.seen[i];
            let common = old.len().min(log.len());
            let mut from = common;
            while from > 0 && old[from - 1] != id_of(entry(&log[from - 1])) {
                from -= 1;
            }
            if from == log.len() && from == old.len() {
                // Unchanged log; fall through to the applied/leader checks.
            } else {
                let seen = &mut self.seen[i];
                seen.truncate(from);
                for (k, r) in log.iter().enumerate().skip(from) {
                    let e = entry(r);
                    let idx = k as u64 + 1;
                    let prev_term = if k == 0 { 0 } else { entry(&log[k - 1]).term };
                    let eid = id_of(e);
                    seen.push(eid);
                    if self.what == LogCheck::Matching {
                        match self.index.get(&(idx, e.term)) {
                            Some(&(other, other_prev))
                                if other != eid || other_prev != prev_term =>
                            {
                                return Err(Failure::new(
                                    format!(
                                        "{node} has at index {idx} term {} the entry ({}) after term {prev_term}, but another log has ({}) after term {other_prev} there",
                                        e.term,
                                        show(eid.1),
                                        show(other.1)
                                    ),
                                    vec![node],
                                ));
                            }
                            Some(_) => {}
                            None => {
                                self.index.insert((idx, e.term), (eid, prev_term));
                            }
                        }
                    }
                }
            }
            let Some(r) = view.node(node) else { continue };
            // Learn newly committed entries from this node's commit index.
            let upto = (r.commit as usize).min(log.len());
            while self.committed.len() < upto {
                let k = self.committed.len();
                self.committed.push(id_of(entry(&log[k])));
                // Usually the committing leader itself, in the step it commits; a follower
                // seen first can only be in the same term or later, which checks fewer
                // leaders, never more.
                self.committed_in.push(r.term);
            }
            match self.what {
                LogCheck::Applied => {
                    if r.applied < self.applied_by[i] {
                        self.applied_by[i] = 0; // restarted: it applies from the start again
                    }
                    let upto = (r.applied as usize).min(log.len());
                    for (k, rec) in log
                        .iter()
                        .enumerate()
                        .take(upto)
                        .skip(self.applied_by[i] as usize)
                    {
                        let eid = id_of(entry(rec));
                        match self.applied.get(k) {
                            Some(other) if *other != eid => {
                                return Err(Failure::new(
                                    format!(
                                        "{node} applied ({}) of term {} at index {}, another node applied ({}) of term {}",
                                        show(eid.1),
                                        eid.0,
                                        k + 1,
                                        show(other.1),
                                        other.0
                                    ),
                                    vec![node],
                                ));
                            }
                            Some(_) => {}
                            None => self.applied.push(eid),
                        }
                    }
                    self.applied_by[i] = r.applied;
                }
                LogCheck::Completeness
                    if r.role == Role::Leader && self.leader_checked[i] != r.term =>
                {
                    self.leader_checked[i] = r.term;
                    for (k, c) in self.committed.iter().enumerate() {
                        if self.committed_in[k] >= r.term {
                            // Committed in this term or a later one: a leader elected late
                            // (its votes were delayed) need not hold it (§5.4's "higher-
                            // numbered terms").
                            continue;
                        }
                        let has = log.get(k).map(|x| id_of(entry(x)));
                        if has != Some(*c) {
                            return Err(Failure::new(
                                format!(
                                    "{node} became leader of term {} without the entry ({}) of term {} committed at index {}",
                                    r.term,
                                    show(c.1),
                                    c.0,
                                    k + 1
                                ),
                                vec![node],
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Committed entries and, for each, how many nodes hold it in their *synced* log. Each step
/// updates only the touched node's changed suffix, and each newly committed index once.
#[derive(Default)]
pub(super) struct Durable {
    synced: Vec<Vec<EntryId>>,
    committed: Vec<EntryId>,
    holders: Vec<u32>,
    /// Committed indexes held by fewer than a majority.
    short: u64,
}

impl Durable {
    fn set(&mut self, k: usize, held: bool, majority: u32) {
        let before = self.holders[k] >= majority;
        if held {
            self.holders[k] += 1;
        } else {
            self.holders[k] -= 1;
        }
        let after = self.holders[k] >= majority;
        if before && !after {
            self.short += 1;
        } else if !before && after {
            self.short -= 1;
        }
    }
}

impl Property<Raft> for Durable {
    fn check(&mut self, view: &View<'_, Raft>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        let majority = view.cluster_size() / 2 + 1;
        if self.synced.len() != n {
            self.synced = vec![Vec::new(); n];
        }
        for node in touched(view).map(NodeId) {
            let i = node.index();
            let log = view.store(node).synced_records();
            let old = &self.synced[i];
            let common = old.len().min(log.len());
            let mut from = common;
            while from > 0 && old[from - 1] != id_of(entry(&log[from - 1])) {
                from -= 1;
            }
            // Entries from `from` on changed: withdraw the old ones, count the new ones.
            let old_tail: Vec<(usize, EntryId)> =
                old.iter().copied().enumerate().skip(from).collect();
            for (k, eid) in old_tail {
                if self.committed.get(k) == Some(&eid) {
                    self.set(k, false, majority);
                }
            }
            self.synced[i].truncate(from);
            for (k, r) in log.iter().enumerate().skip(from) {
                let eid = id_of(entry(r));
                self.synced[i].push(eid);
                if self.committed.get(k) == Some(&eid) {
                    self.set(k, true, majority);
                }
            }
            // Newly committed entries, learned from this node's commit index and log.
            if let Some(r) = view.node(node) {
                let current = view.store(node).records();
                let upto = (r.commit as usize).min(current.len());
                while self.committed.len() < upto {
                    let k = self.committed.len();
                    let eid = id_of(entry(&current[k]));
                    self.committed.push(eid);
                    let held = self
                        .synced
                        .iter()
                        .filter(|l| l.get(k) == Some(&eid))
                        .count() as u32;
                    self.holders.push(held);
                    if held < majority {
                        self.short += 1;
                    }
                }
            }
        }
        if self.short > 0 {
            let k = self.holders.iter().position(|&h| h < majority).unwrap_or(0);
            let (term, cmd) = self.committed[k];
            let holders: Vec<NodeId> = (0..n as u32)
                .map(NodeId)
                .filter(|x| self.synced[x.index()].get(k) == Some(&self.committed[k]))
                .collect();
            let names: Vec<String> = holders.iter().map(|h| h.to_string()).collect();
            return Err(Failure::new(
                format!(
                    "the entry ({}) of term {term} committed at index {} is in the synced log of only {} of {n} nodes ({}); a crash of the others would lose it",
                    show(cmd),
                    k + 1,
                    self.holders[k],
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
                holders,
            ));
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
    syncs: u64,
}

impl Property<Raft> for RaftMetrics {
    fn check(&mut self, view: &View<'_, Raft>, _: Option<&Trigger>) -> Result<(), Failure> {
        for n in touched(view).map(NodeId) {
            let Some(r) = view.node(n) else { continue };
            self.highest_term = self.highest_term.max(r.term);
            self.committed = self.committed.max(r.commit);
            if r.role == Role::Leader {
                self.leaders.entry(r.term).or_insert(n);
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
        self.syncs = view.nodes().map(|n| view.store(n).stats().syncs).sum();
        Ok(())
    }

    fn metrics(&self) -> Vec<(String, serde_json::Value)> {
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
        let per_commit = |x: u64| {
            if self.committed == 0 {
                serde_json::Value::Null
            } else {
                (x as f64 / self.committed as f64).into()
            }
        };
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
            ("raft.messages_per_commit".into(), per_commit(self.messages)),
            ("raft.syncs_per_commit".into(), per_commit(self.syncs)),
        ]
    }
}

pub(super) struct LeaderElected;

impl Property<Raft> for LeaderElected {
    fn check(&mut self, view: &View<'_, Raft>, _: Option<&Trigger>) -> Result<(), Failure> {
        let up: Vec<NodeId> = view.nodes().filter(|&n| view.is_up(n)).collect();
        let Some((leader, term)) = up.iter().find_map(|&n| {
            view.node(n)
                .filter(|r| r.role == Role::Leader)
                .map(|r| (n, r.term))
        }) else {
            return Err(Failure::new("no up node is leader", vec![]));
        };
        let following = up
            .iter()
            .filter(|&&n| view.node(n).is_some_and(|r| r.term == term))
            .count() as u32;
        if following * 2 > view.cluster_size() {
            Ok(())
        } else {
            Err(Failure::new(
                format!("{leader} leads term {term} but only {following} nodes are in that term"),
                vec![leader],
            ))
        }
    }
}
