//! Multi-Paxos's checks. Agreement is judged on what the *acceptors* did: a monitor reads
//! every acceptor's journal of acceptances (its store's records) and keeps a global record,
//! per slot, of the value chosen (accepted by a majority in one ballot) over the whole run,
//! so a second value chosen in a slot is seen even if nobody learns it. Where the check
//! library has the property (learners agree slot by slot, a durable promise, progress after
//! the heal, converging replicas), Multi-Paxos gives it accessors.

use super::{Ballot, Command, MultiPaxos, Op, Proposal, Record, Role};
use crate::kit::quorum::majority;
use crate::protocol::library::{
    Advances, Agreement, Annotations, Convergence, Monotonic, map_difference, node_names, touched,
};
use crate::protocol::{
    ClientId, Failure, Metric, MetricDef, Monitor, NodeId, PropertyDef, RequestId, StoreTally,
    Trigger, Value, View, ratio,
};
use crate::protocols::paxos::BallotTally;
use std::collections::BTreeMap;
use std::fmt;

/// What the checks and unit tests read of a node (here, beside the checks: no step of the
/// protocol reads them, so the mutation routine leaves them alone).
impl MultiPaxos {
    /// Current role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The ballot this acceptor promised (zero before any).
    pub fn promised(&self) -> Ballot {
        self.promised
    }
    /// The ballot this node runs as candidate or leader.
    pub fn ballot(&self) -> Option<Ballot> {
        self.ballot
    }
    /// The ballot of the leader this node follows (its own when it leads).
    pub fn leader_ballot(&self) -> Ballot {
        self.leader_ballot
    }
    /// The leader this node knows of.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    /// The proposal this acceptor accepted at `slot`, if any.
    pub fn accepted_at(&self, slot: u64) -> Option<&Proposal> {
        self.accepted.get(&slot)
    }
    /// The chosen command this node knows at `slot` (`Some(None)`: a no-op).
    pub fn chosen_at(&self, slot: u64) -> Option<&Option<Command>> {
        self.chosen.get(&slot)
    }
    /// The chosen prefix: every slot up to it is known chosen here.
    pub fn chosen_prefix(&self) -> u64 {
        self.commit
    }
    /// The last slot applied to the state machine.
    pub fn applied_slot(&self) -> u64 {
        self.applied
    }
    /// The key-value map as applied so far.
    pub fn kv(&self) -> &BTreeMap<String, String> {
        self.service.data()
    }
    /// How many times this node was pre-empted since it started.
    pub fn preempted(&self) -> u64 {
        self.preempted
    }
}

/// What a node's annotation of `key` must say, from its state: its role, the leader it
/// knows (none after a restart, until it hears of one), and its chosen prefix once it has
/// one in this incarnation (it is volatile: a restarted node learns it again).
fn shown(m: &MultiPaxos, key: &'static str) -> Option<Value> {
    match key {
        "role" => Some(Value::Word(match m.role {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        })),
        "leader" => Some(Value::Node(m.leader)),
        "chosen" => (m.commit > 0).then(|| Value::from(m.commit)),
        _ => None,
    }
}

/// Every property Multi-Paxos offers, its safety checks on by default.
pub(super) fn properties() -> Vec<PropertyDef<MultiPaxos>> {
    vec![
        PropertyDef::monitor(
            "agreement",
            "per slot, at most one value is ever chosen (accepted by a majority of acceptors in one ballot), over the whole run; no two acceptors accept different values in one slot and ballot; a node learns (and so applies) only the value chosen in a slot",
            Chosen::default(),
        )
        .always(),
        PropertyDef::monitor(
            "annotations_match_state",
            "what a node's trace says (role, leader, chosen prefix: what explain and the viewer show) is its state",
            Annotations::new(&["role", "leader", "chosen"], shown),
        )
        .always(),
        PropertyDef::monitor(
            "learners_agree",
            "no two nodes apply different commands at the same slot, restarts included (the check library's agreement)",
            Agreement::new(
                "applied",
                "slot",
                |_, _, m: &MultiPaxos| m.applied as usize,
                |_, _, m: &MultiPaxos, i| {
                    let slot = i as u64 + 1;
                    (slot, CmdId::of(m.chosen.get(&slot).and_then(Option::as_ref)))
                },
            ),
        )
        .always(),
        PropertyDef::monitor(
            "validity",
            "every command accepted in a slot is one a client issued (a no-op is a leader's gap filler)",
            Validity::default(),
        )
        .always(),
        PropertyDef::monitor(
            "chosen_survive",
            "every slot a node has learned chosen is held, with its chosen value, in the synced journal of a majority of acceptors, so no crash of a minority can lose an acknowledged write",
            ChosenSurvive::default(),
        )
        .always(),
        PropertyDef::monitor(
            "promise_monotonic",
            "an acceptor's promised ballot never goes down, across restarts too: it is synced before the promise leaves",
            Monotonic::durable("promised ballot", MultiPaxos::promised),
        )
        .always(),
        PropertyDef::monitor(
            "leader_promised",
            "a node leads a ballot only once a majority of acceptors has promised that very ballot (phase 1 completed); a promise of a higher ballot does not count",
            Promised::default(),
        )
        .always(),
        PropertyDef::invariant(
            "no_stale_ballot",
            "a node that stands or leads runs a ballot at least as high as its own acceptor's promise: once it has promised a higher ballot it has stepped back",
            no_stale_ballot,
        )
        .always(),
        PropertyDef::invariant(
            "leader_elected",
            "some up node leads with a working majority: the up nodes that follow its ballot and are linked with it both ways, itself included, are more than half the cluster",
            leader_elected,
        ),
        PropertyDef::monitor(
            "chosen_advances",
            "after the heal a majority of nodes moves its chosen prefix past the highest one any up node had at the heal (use as `eventually`)",
            Advances::new("chosen prefix", MultiPaxos::chosen_prefix),
        ),
        PropertyDef::invariant(
            "replicas_converge",
            "every up node has applied the same key-value map (use as `eventually`: after the heal the replicas catch up)",
            Convergence::new("applied key-value maps", MultiPaxos::kv, map_difference),
        ),
        PropertyDef::invariant(
            "competing_ballots",
            "some candidate or leader was pre-empted by a higher ballot (use as `sometimes`: the run had duelling proposers)",
            competing_ballots,
        ),
    ]
}

/// A slot's value as the checks compare it: the command's (client, request id), or none for
/// a no-op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct CmdId(Option<(ClientId, RequestId)>);

impl CmdId {
    fn of(c: Option<&Command>) -> CmdId {
        CmdId(c.map(|c| (c.client, c.id)))
    }
}

/// `(c1 request 19)` or `(a no-op)`.
impl fmt::Display for CmdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((client, id)) => write!(f, "({client} request {})", id.serial()),
            None => write!(f, "(a no-op)"),
        }
    }
}

/// The acceptances a node's journal (its store's records, synced or not) added since `from`:
/// (slot, ballot, value).
fn acceptances(records: &[Record], from: usize) -> impl Iterator<Item = (u64, Ballot, CmdId)> {
    records[from..].iter().filter_map(|r| match r {
        Record::Accepted {
            slot,
            proposal: Proposal { ballot, command },
        } => Some((*slot, *ballot, CmdId::of(command.as_ref()))),
        _ => None,
    })
}

/// The global record: per (slot, ballot) the value accepted and by whom; per slot the value
/// chosen and the ballot it was first chosen in; per node, how much of its journal has been
/// read, up to which slot its learned prefix has been checked and how many slots it knew
/// then (with the incarnation they belong to). A node applies only its learned prefix, so
/// what it applies is checked too.
#[derive(Clone, Default, Hash)]
pub(super) struct Chosen {
    tallies: BTreeMap<(u64, Ballot), (CmdId, Vec<bool>)>,
    chosen: BTreeMap<u64, (CmdId, Ballot)>,
    read: Vec<usize>,
    learned: Vec<(u32, u64, usize)>,
}

impl Monitor<MultiPaxos> for Chosen {
    fn check(&mut self, view: &View<'_, MultiPaxos>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.read.len() != n {
            self.read = vec![0; n];
            self.learned = vec![(0, 0, 0); n];
        }
        for node in touched(view) {
            let i = node.index();
            let records = view.store(node).records();
            if records.len() < self.read[i] {
                self.read[i] = records.len(); // a crash dropped unsynced records
            }
            for (slot, ballot, value) in acceptances(records, self.read[i]) {
                let (v, who) = self
                    .tallies
                    .entry((slot, ballot))
                    .or_insert_with(|| (value, vec![false; n]));
                if *v != value {
                    let (v, others) = (*v, node_names(who));
                    return Err(Failure::new(
                        format!(
                            "{node} accepted {value} at slot {slot} in ballot {ballot}, but {others} accepted {v} there in that ballot"
                        ),
                        vec![node],
                    ));
                }
                who[i] = true;
                if who.iter().filter(|&&w| w).count() as u32 >= majority(n as u32) {
                    match self.chosen.get(&slot) {
                        None => {
                            self.chosen.insert(slot, (value, ballot));
                        }
                        Some(&(c, b)) if c != value => {
                            return Err(Failure::new(
                                format!(
                                    "{value} was chosen at slot {slot} in ballot {ballot} (accepted by {}), but {c} had been chosen there in ballot {b}",
                                    node_names(who)
                                ),
                                vec![node],
                            ));
                        }
                        Some(_) => {}
                    }
                }
            }
            self.read[i] = records.len();
            // What the node holds as learned must be what was chosen, from the step it
            // learns it on (a leader that counted the wrong replies knows a slot "chosen" that
            // is not, before it applies it). Slots up to the chosen prefix checked at the last
            // step are not read again: what was chosen stays chosen.
            let Some(m) = view.node(node) else { continue };
            let incarnation = view.incarnation(node);
            let (was_in, mut done, known) = self.learned[i];
            if was_in != incarnation || m.commit < done {
                done = 0;
            } else if m.chosen.len() == known {
                continue; // nothing learned since the last look (a learned slot never changes)
            }
            for (&slot, command) in m.chosen.range(done + 1..) {
                let value = CmdId::of(command.as_ref());
                match self.chosen.get(&slot) {
                    Some(&(c, _)) if c == value => {}
                    Some(&(c, b)) => {
                        return Err(Failure::new(
                            format!(
                                "{node} learned {value} at slot {slot}, but {c} was chosen there (in ballot {b})"
                            ),
                            vec![node],
                        ));
                    }
                    None => {
                        return Err(Failure::new(
                            format!(
                                "{node} learned {value} at slot {slot}, but nothing has been chosen there: no majority accepted one ballot's proposal"
                            ),
                            vec![node],
                        ));
                    }
                }
            }
            self.learned[i] = (incarnation, m.commit, m.chosen.len());
        }
        Ok(())
    }
}

/// Per ballot, the acceptors that have promised exactly that ballot (their promise was it at
/// the end of one of their steps: a promise changes only in its node's own steps); per node,
/// the ballot it led at the last look. Grows by one entry per ballot promised.
#[derive(Clone, Default, Hash)]
pub(super) struct Promised {
    by: BTreeMap<Ballot, Vec<bool>>,
    /// Per node, the promise at the last look (recorded in `by` already).
    promise: Vec<Option<Ballot>>,
    led: Vec<Option<Ballot>>,
}

impl Monitor<MultiPaxos> for Promised {
    fn check(&mut self, view: &View<'_, MultiPaxos>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.led.len() != n {
            self.led = vec![None; n];
            self.promise = vec![None; n];
        }
        for node in touched(view) {
            let Some(m) = view.node(node) else { continue };
            let i = node.index();
            if self.promise[i] != Some(m.promised) {
                self.promise[i] = Some(m.promised);
                self.by.entry(m.promised).or_insert_with(|| vec![false; n])[i] = true;
            }
            let leads = if m.role == Role::Leader {
                m.ballot
            } else {
                None
            };
            if leads == self.led[i] {
                continue;
            }
            self.led[i] = leads;
            let Some(b) = leads else { continue };
            let who = self.by.get(&b).map(Vec::as_slice).unwrap_or(&[]);
            if (who.iter().filter(|&&w| w).count() as u32) < majority(n as u32) {
                let promised = if who.iter().any(|&w| w) {
                    format!("only {} ever promised it", node_names(who))
                } else {
                    "no acceptor ever promised it".to_string()
                };
                return Err(Failure::new(
                    format!(
                        "{node} leads ballot {b}, but {promised}: a leader needs the promises of a majority (phase 1)"
                    ),
                    vec![node],
                ));
            }
        }
        Ok(())
    }
}

/// Per client, the requests the history shows it issued (in order), how much of the history
/// has been read, and per node how much of its journal has been checked.
#[derive(Clone, Default, Hash)]
pub(super) struct Validity {
    issued: BTreeMap<ClientId, Vec<Op>>,
    ops_read: usize,
    read: Vec<usize>,
}

impl Monitor<MultiPaxos> for Validity {
    fn check(&mut self, view: &View<'_, MultiPaxos>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.read.len() != n {
            self.read = vec![0; n];
        }
        let ops = view.history().ops();
        for op in &ops[self.ops_read..] {
            self.issued
                .entry(op.client)
                .or_default()
                .push(op.request.clone());
        }
        self.ops_read = ops.len();
        for node in touched(view) {
            let i = node.index();
            let records = view.store(node).records();
            if records.len() < self.read[i] {
                self.read[i] = records.len();
            }
            for r in &records[self.read[i]..] {
                let Record::Accepted { slot, proposal } = r else {
                    continue;
                };
                let Some(c) = &proposal.command else { continue };
                // The newest requests are the likely ones: search from the end.
                let issued = self
                    .issued
                    .get(&c.client)
                    .is_some_and(|ops| ops.iter().rev().any(|o| *o == c.op));
                if !issued {
                    return Err(Failure::new(
                        format!(
                            "{node} accepted at slot {slot} {:?} from {}, which that client never issued",
                            c.op, c.client
                        ),
                        vec![node],
                    ));
                }
            }
            self.read[i] = records.len();
        }
        Ok(())
    }
}

/// Per node, the value of each slot in its *synced* journal (the latest record wins) and how
/// much of it has been read; the slots some node learned chosen, with their value; and per
/// such slot, how many synced journals hold that value.
#[derive(Clone, Default, Hash)]
pub(super) struct ChosenSurvive {
    synced: Vec<BTreeMap<u64, CmdId>>,
    read: Vec<usize>,
    learned: BTreeMap<u64, (CmdId, u32)>,
    /// Per node, the applied slots already looked at (with their incarnation).
    applied: Vec<(u32, u64)>,
}

impl Monitor<MultiPaxos> for ChosenSurvive {
    fn check(&mut self, view: &View<'_, MultiPaxos>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.read.len() != n {
            self.synced = vec![BTreeMap::new(); n];
            self.read = vec![0; n];
            self.applied = vec![(0, 0); n];
        }
        let need = majority(n as u32);
        for node in touched(view) {
            let i = node.index();
            let records = view.store(node).synced_records();
            for (slot, _, value) in acceptances(records, self.read[i].min(records.len())) {
                let old = self.synced[i].insert(slot, value);
                if let Some((v, holders)) = self.learned.get_mut(&slot) {
                    if old == Some(*v) {
                        *holders -= 1;
                    }
                    if value == *v {
                        *holders += 1;
                    }
                    if *holders < need {
                        let v = *v;
                        return Err(Failure::new(
                            format!(
                                "{node} accepted {value} at slot {slot}, where {v} was learned chosen: now only {holders} synced journals hold {v}, fewer than a majority"
                            ),
                            vec![node],
                        ));
                    }
                }
            }
            self.read[i] = records.len();
            let Some(m) = view.node(node) else { continue };
            let incarnation = view.incarnation(node);
            let (was_in, mut done) = self.applied[i];
            if was_in != incarnation || m.applied < done {
                done = 0;
            }
            for slot in done + 1..=m.applied {
                if self.learned.contains_key(&slot) {
                    continue;
                }
                let value = CmdId::of(m.chosen.get(&slot).and_then(Option::as_ref));
                let holders = self
                    .synced
                    .iter()
                    .filter(|s| s.get(&slot) == Some(&value))
                    .count() as u32;
                self.learned.insert(slot, (value, holders));
                if holders < need {
                    return Err(Failure::new(
                        format!(
                            "{node} learned {value} chosen at slot {slot}, but only {holders} synced journals hold it, fewer than a majority: a crash can lose it"
                        ),
                        vec![node],
                    ));
                }
            }
            self.applied[i] = (incarnation, m.applied);
        }
        Ok(())
    }
}

/// Some up node leads with a working majority (as Raft's `leader_elected`, with ballots for
/// terms): the up nodes that follow its ballot and are linked with it both ways, itself
/// included, are more than half the cluster.
pub(super) fn leader_elected(
    view: &View<'_, MultiPaxos>,
    _: Option<&Trigger>,
) -> Result<(), Failure> {
    let up: Vec<NodeId> = view.nodes().filter(|&n| view.is_up(n)).collect();
    let leaders: Vec<(NodeId, Ballot)> = up
        .iter()
        .filter_map(|&n| {
            view.node(n)
                .filter(|m| m.role == Role::Leader)
                .and_then(|m| m.ballot.map(|b| (n, b)))
        })
        .collect();
    if leaders.is_empty() {
        return Err(Failure::new("no up node is leader", vec![]));
    }
    let mut best: Option<(NodeId, Ballot, u32)> = None;
    for &(leader, ballot) in &leaders {
        let with = up
            .iter()
            .filter(|&&n| {
                n == leader
                    || (view.node(n).is_some_and(|m| m.leader_ballot == ballot)
                        && view.can_send(leader, n)
                        && view.can_send(n, leader))
            })
            .count() as u32;
        if with * 2 > view.cluster_size() {
            return Ok(());
        }
        if best.is_none_or(|(_, _, b)| with > b) {
            best = Some((leader, ballot, with));
        }
    }
    let (leader, ballot, with) = best.expect("at least one leader");
    Err(Failure::new(
        format!(
            "{leader} leads ballot {ballot} but only {with} of the {} nodes are up, follow it and are linked with it both ways",
            view.cluster_size()
        ),
        leaders.iter().map(|&(n, _)| n).collect(),
    ))
}

/// Some candidate or leader was pre-empted by a higher ballot.
/// A candidate or leader has not promised a higher ballot than its own: the step that raised
/// the promise (a prepare or accept of a higher ballot at its own acceptor) stepped it back.
fn no_stale_ballot(view: &View<'_, MultiPaxos>, _: Option<&Trigger>) -> Result<(), Failure> {
    for n in touched(view) {
        let Some(m) = view.node(n) else { continue };
        if let Some(b) = m.ballot.filter(|&b| b < m.promised) {
            return Err(Failure::new(
                format!(
                    "{n} is still {} in ballot {b}, though its acceptor promised the higher ballot {}",
                    match m.role {
                        Role::Leader => "leader",
                        Role::Candidate => "candidate",
                        Role::Follower => "follower",
                    },
                    m.promised
                ),
                vec![n],
            ));
        }
    }
    Ok(())
}

fn competing_ballots(view: &View<'_, MultiPaxos>, _: Option<&Trigger>) -> Result<(), Failure> {
    if view
        .nodes()
        .any(|n| view.node(n).is_some_and(|m| m.preempted > 0))
    {
        Ok(())
    } else {
        Err(Failure::new(
            "no candidate or leader has been pre-empted",
            Vec::new(),
        ))
    }
}

/// Multi-Paxos's metrics (they never fail; scenarios bound them).
pub(super) fn metrics() -> Vec<MetricDef<MultiPaxos>> {
    vec![MetricDef {
        name: "multipaxos_metrics",
        description: "ballots stood for, pre-emptions, slots chosen, and messages, syncs and store writes per chosen slot",
        make: |_| Box::new(MultiPaxosMetrics::default()),
    }]
}

/// Run statistics for the summary.
#[derive(Default)]
struct MultiPaxosMetrics {
    ballots: BallotTally,
    /// The highest chosen prefix any node reached.
    chosen: u64,
    stores: StoreTally,
    messages: u64,
}

impl Metric<MultiPaxos> for MultiPaxosMetrics {
    fn observe(&mut self, view: &View<'_, MultiPaxos>) {
        for node in touched(view) {
            self.stores.observe(view, node);
            let Some(m) = view.node(node) else { continue };
            self.ballots.observe(view, node, m.ballot, m.preempted);
            self.chosen = self.chosen.max(m.commit);
        }
        self.messages = view.network().stats().sent;
    }

    fn report(&self) -> Vec<(String, serde_json::Value)> {
        let per_slot = |x: u64| ratio(x, self.chosen);
        vec![
            ("multipaxos.ballots".into(), self.ballots.ballots.into()),
            (
                "multipaxos.preemptions".into(),
                self.ballots.preemptions.into(),
            ),
            ("multipaxos.chosen_slots".into(), self.chosen.into()),
            (
                "multipaxos.messages_per_slot".into(),
                per_slot(self.messages),
            ),
            (
                "multipaxos.syncs_per_slot".into(),
                per_slot(self.stores.syncs()),
            ),
            (
                "multipaxos.writes_per_slot".into(),
                per_slot(self.stores.writes()),
            ),
        ]
    }
}
