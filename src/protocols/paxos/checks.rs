//! Paxos's checks. Agreement is judged on what the *acceptors* did, not on what learners
//! say: a monitor keeps a global record of every acceptance of the run, so it knows every
//! value that was ever chosen (accepted by a majority in one ballot), even if the acceptors
//! later moved on, crashed or forgot. Where the check library has the property (learners
//! agree slot by slot, durable counters), Paxos gives it accessors.

use super::{Ballot, Paxos, Phase, Proposal, Request, Response};
use crate::kit::quorum::majority;
use crate::protocol::library::{Agreement, Annotations, Monotonic, node_names, touched};
use crate::protocol::{
    Endpoint, Failure, Metric, MetricDef, Monitor, NodeId, Outcome, PropertyDef, StoreTally,
    Trigger, Value, View,
};
use std::collections::BTreeMap;

/// What the checks and unit tests read of a node (here, beside the checks: no step of the
/// protocol reads them, so the mutation routine leaves them alone).
impl Paxos {
    /// The ballot this acceptor promised (zero before any).
    pub fn promised(&self) -> Ballot {
        self.promised
    }
    /// The proposal this acceptor accepted, if any.
    pub fn accepted(&self) -> Option<Proposal> {
        self.accepted
    }
    /// The value this learner learned, if any.
    pub fn learned(&self) -> Option<i64> {
        self.learned
    }
    /// The ballot this proposer runs, if any.
    pub fn ballot(&self) -> Option<Ballot> {
        self.ballot
    }
    /// Where this proposer is.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }
    /// How many times this proposer was pre-empted since it (re)started.
    pub fn preempted(&self) -> u64 {
        self.preempted
    }
}

/// Every property Paxos offers, its safety checks on by default.
pub(super) fn properties() -> Vec<PropertyDef<Paxos>> {
    vec![
        PropertyDef::monitor(
            "agreement",
            "at most one value is ever chosen (accepted by a majority of acceptors in one ballot), over the whole run, and a learner learns only the chosen value",
            Chosen::default(),
        )
        .always(),
        PropertyDef::monitor(
            "one_value_per_ballot",
            "no two acceptors ever accept different values in the same ballot (a ballot is one proposer's one proposal)",
            OneValuePerBallot::default(),
        )
        .always(),
        PropertyDef::monitor(
            "learners_agree",
            "no two learners learn different values, restarts included (the check library's agreement, one slot)",
            Agreement::new(
                "learned",
                "slot",
                |_, _, p: &Paxos| usize::from(p.learned.is_some()),
                |_, _, p: &Paxos, _| (1, p.learned.unwrap_or_default()),
            ),
        )
        .always(),
        PropertyDef::monitor(
            "clients_agree",
            "every client that is told a value is told the same one",
            ClientsAgree::default(),
        )
        .always(),
        PropertyDef::monitor(
            "validity",
            "every value accepted or learned was proposed by a client",
            Validity::default(),
        )
        .always(),
        PropertyDef::monitor(
            "promise_monotonic",
            "an acceptor's promised ballot never goes down, across restarts too: it is synced before the promise leaves",
            Monotonic::durable("promised ballot", Paxos::promised),
        )
        .always(),
        PropertyDef::monitor(
            "accepted_monotonic",
            "an acceptor's accepted ballot never goes down, across restarts too",
            Monotonic::durable("accepted ballot", |p: &Paxos| {
                p.accepted.map(|a| a.ballot).unwrap_or_default()
            }),
        )
        .always(),
        PropertyDef::monitor(
            "annotations_match_state",
            "what a node's trace says (role, ballot, decided, chosen: what explain and the viewer show) is its state",
            Annotations::new(&["role", "ballot", "decided", "chosen"], shown),
        )
        .always(),
        PropertyDef::invariant(
            "learned_rests",
            "a node that has learned the chosen value runs no ballot: its proposer is idle",
            learned_rests,
        )
        .always(),
        PropertyDef::invariant(
            "all_learned",
            "every up node has learned a value (use as `eventually`: after the heal a value is chosen and everyone learns it)",
            all_learned,
        ),
        PropertyDef::invariant(
            "value_chosen",
            "some node has learned a value (use as `sometimes`: the explorer's witness that a decision is reachable within its bounds)",
            value_chosen,
        ),
        PropertyDef::invariant(
            "competing_ballots",
            "some proposer was pre-empted by a higher ballot (use as `sometimes`: the run had duelling proposers)",
            competing_ballots,
        ),
    ]
}

/// `3.n2`: round 3 of node n2, as the checks' messages name a ballot (here, beside them:
/// no step of the protocol prints one).
impl std::fmt::Display for Ballot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.round, NodeId(self.node))
    }
}

/// What a node's annotation of `key` must say, computed here from its state (not with the
/// protocol's own helpers, so a mistake in those shows): the role its proposer's phase is,
/// the ballot it runs as one number (round × nodes + proposer index), and once it learned,
/// `decided = 1` and the value. No claim about a ballot before this incarnation runs one.
fn shown(p: &Paxos, key: &'static str) -> Option<Value> {
    match key {
        "role" => Some(Value::Word(match p.phase {
            Phase::Idle => "idle",
            Phase::Preparing { .. } => "preparing",
            Phase::Accepting { .. } => "accepting",
        })),
        "ballot" => p
            .ballot
            .map(|b| Value::from(b.round * u64::from(p.n) + u64::from(b.node))),
        "decided" => p.learned.map(|_| Value::from(1u64)),
        "chosen" => p.learned.map(Value::from),
        _ => None,
    }
}

/// The global record of acceptances: per (ballot, value), which acceptors accepted it; the
/// value chosen, once a majority accepted one; per node, the last acceptance and the last
/// learned value checked.
#[derive(Clone, Default, Hash)]
pub(super) struct Chosen {
    acceptances: BTreeMap<(Ballot, i64), Vec<bool>>,
    chosen: Option<(i64, Ballot)>,
    last_accepted: Vec<Option<Proposal>>,
    last_learned: Vec<Option<i64>>,
}

impl Monitor<Paxos> for Chosen {
    fn check(&mut self, view: &View<'_, Paxos>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.last_accepted.len() != n {
            self.last_accepted = vec![None; n];
            self.last_learned = vec![None; n];
        }
        for node in touched(view) {
            let Some(state) = view.node(node) else {
                continue;
            };
            let i = node.index();
            if let Some(p) = state.accepted {
                if self.last_accepted[i] != Some(p) {
                    self.last_accepted[i] = Some(p);
                    let who = self
                        .acceptances
                        .entry((p.ballot, p.value))
                        .or_insert_with(|| vec![false; n]);
                    who[i] = true;
                    let count = who.iter().filter(|&&w| w).count() as u32;
                    if count >= majority(n as u32) {
                        match self.chosen {
                            None => self.chosen = Some((p.value, p.ballot)),
                            Some((v, b)) if v != p.value => {
                                return Err(Failure::new(
                                    format!(
                                        "{} was chosen in ballot {} (accepted by {}), but {v} had been chosen in ballot {b}",
                                        p.value,
                                        p.ballot,
                                        node_names(who)
                                    ),
                                    vec![node],
                                ));
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
            if state.learned != self.last_learned[i] {
                self.last_learned[i] = state.learned;
                if let Some(v) = state.learned {
                    match self.chosen {
                        Some((c, _)) if c == v => {}
                        Some((c, b)) => {
                            return Err(Failure::new(
                                format!("{node} learned {v}, but {c} was chosen (in ballot {b})"),
                                vec![node],
                            ));
                        }
                        None => {
                            return Err(Failure::new(
                                format!(
                                    "{node} learned {v}, but no value has been chosen: no majority accepted one ballot"
                                ),
                                vec![node],
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Per ballot, the value first accepted in it and by whom.
#[derive(Clone, Default, Hash)]
pub(super) struct OneValuePerBallot {
    values: BTreeMap<Ballot, (i64, NodeId)>,
}

impl Monitor<Paxos> for OneValuePerBallot {
    fn check(&mut self, view: &View<'_, Paxos>, _: Option<&Trigger>) -> Result<(), Failure> {
        for node in touched(view) {
            let Some(p) = view.node(node).and_then(Paxos::accepted) else {
                continue;
            };
            match self.values.get(&p.ballot) {
                None => {
                    self.values.insert(p.ballot, (p.value, node));
                }
                Some(&(v, other)) if v != p.value => {
                    return Err(Failure::new(
                        format!(
                            "{node} accepted {} in ballot {}, but {other} accepted {v} in that ballot",
                            p.value, p.ballot
                        ),
                        vec![node, other],
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// The first value a client was told, and how far the history has been read: everything
/// before `settled` has ended; later operations are looked at again until they end.
#[derive(Clone, Default, Hash)]
pub(super) struct ClientsAgree {
    settled: usize,
    first: Option<i64>,
}

impl Monitor<Paxos> for ClientsAgree {
    fn check(&mut self, view: &View<'_, Paxos>, _: Option<&Trigger>) -> Result<(), Failure> {
        if matches!(view.touched, Some(Endpoint::Node(_))) {
            return Ok(()); // only a client's step completes an operation
        }
        let ops = view.history().ops();
        let mut prefix = true;
        for op in &ops[self.settled..] {
            let value = match &op.outcome {
                Outcome::Pending => {
                    prefix = false;
                    continue;
                }
                Outcome::Ok(Response::Chosen(v)) => Some(*v),
                _ => None,
            };
            if prefix {
                self.settled += 1;
            }
            let Some(v) = value else { continue };
            match self.first {
                None => self.first = Some(v),
                Some(f) if f != v => {
                    return Err(Failure::new(
                        format!(
                            "{} was told {v} was chosen, but another client was told {f}",
                            op.client
                        ),
                        Vec::new(),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// Per node, the accepted and learned values already checked.
#[derive(Clone, Default, Hash)]
pub(super) struct Validity {
    checked: Vec<(Option<i64>, Option<i64>)>,
}

fn proposed(view: &View<'_, Paxos>, value: i64) -> bool {
    view.history()
        .ops()
        .iter()
        .any(|op| matches!(op.request, Request::Propose(v) | Request::Put(v) if v == value))
}

impl Monitor<Paxos> for Validity {
    fn check(&mut self, view: &View<'_, Paxos>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.checked.len() != n {
            self.checked = vec![(None, None); n];
        }
        for node in touched(view) {
            let Some(state) = view.node(node) else {
                continue;
            };
            let now = (state.accepted.map(|p| p.value), state.learned);
            let (accepted, learned) = self.checked[node.index()];
            for (what, value, before) in
                [("accepted", now.0, accepted), ("learned", now.1, learned)]
            {
                if let Some(v) = value.filter(|&v| Some(v) != before) {
                    if !proposed(view, v) {
                        return Err(Failure::new(
                            format!("{node} {what} {v}, which no client proposed"),
                            vec![node],
                        ));
                    }
                }
            }
            self.checked[node.index()] = now;
        }
        Ok(())
    }
}

/// Every up node has learned a value.
fn value_chosen(view: &View<'_, Paxos>, _: Option<&Trigger>) -> Result<(), Failure> {
    if view
        .nodes()
        .any(|n| view.node(n).is_some_and(|p| p.learned.is_some()))
    {
        return Ok(());
    }
    Err(Failure::new(
        "no node has learned a value".to_string(),
        vec![],
    ))
}

fn all_learned(view: &View<'_, Paxos>, _: Option<&Trigger>) -> Result<(), Failure> {
    let missing: Vec<NodeId> = view
        .nodes()
        .filter(|&n| view.node(n).is_some_and(|p| p.learned.is_none()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing.iter().map(NodeId::to_string).collect();
    Err(Failure::new(
        format!("{} learned no value yet", list.join(" ")),
        missing,
    ))
}

/// A node that learned runs no ballot (a proposer that goes on preparing or accepting after
/// the decision only sends messages that can change nothing).
fn learned_rests(view: &View<'_, Paxos>, _: Option<&Trigger>) -> Result<(), Failure> {
    for n in touched(view) {
        if let Some(p) = view.node(n).filter(|p| p.learned.is_some()) {
            if p.phase != Phase::Idle {
                return Err(Failure::new(
                    format!(
                        "{n} learned {} but its proposer is still {}",
                        p.learned.unwrap_or_default(),
                        match p.phase {
                            Phase::Preparing { .. } => "preparing",
                            _ => "accepting",
                        }
                    ),
                    vec![n],
                ));
            }
        }
    }
    Ok(())
}

/// Some proposer was pre-empted by a higher ballot.
fn competing_ballots(view: &View<'_, Paxos>, _: Option<&Trigger>) -> Result<(), Failure> {
    if view
        .nodes()
        .any(|n| view.node(n).is_some_and(|p| p.preempted > 0))
    {
        Ok(())
    } else {
        Err(Failure::new("no proposer has been pre-empted", Vec::new()))
    }
}

/// Paxos's metrics (they never fail; scenarios bound them).
pub(super) fn metrics() -> Vec<MetricDef<Paxos>> {
    vec![MetricDef {
        name: "paxos_metrics",
        description: "ballots started, pre-emptions, store syncs and writes, and when the first and the last node learned",
        make: |_| Box::new(PaxosMetrics::default()),
    }]
}

/// Run statistics for the summary: how much work the decision took.
#[derive(Default)]
struct PaxosMetrics {
    ballots: BallotTally,
    stores: StoreTally,
    /// Microseconds: the first node to learn, and the step at which every node had.
    first_learned: Option<u64>,
    all_learned: Option<u64>,
}

impl Metric<Paxos> for PaxosMetrics {
    fn observe(&mut self, view: &View<'_, Paxos>) {
        for node in touched(view) {
            self.stores.observe(view, node);
            let Some(p) = view.node(node) else { continue };
            self.ballots.observe(view, node, p.ballot, p.preempted);
            if p.learned.is_some() && self.first_learned.is_none() {
                self.first_learned = Some(view.time.as_us());
            }
        }
        if self.all_learned.is_none()
            && view
                .nodes()
                .all(|m| view.node(m).is_some_and(|p| p.learned.is_some()))
        {
            self.all_learned = Some(view.time.as_us());
        }
    }

    fn report(&self) -> Vec<(String, serde_json::Value)> {
        let ms = |us: Option<u64>| us.map(|us| us as f64 / 1000.0);
        vec![
            ("paxos.ballots".into(), self.ballots.ballots.into()),
            ("paxos.preemptions".into(), self.ballots.preemptions.into()),
            ("paxos.syncs".into(), self.stores.syncs().into()),
            ("paxos.writes".into(), self.stores.writes().into()),
            (
                "paxos.first_learned_ms".into(),
                ms(self.first_learned).into(),
            ),
            ("paxos.all_learned_ms".into(), ms(self.all_learned).into()),
        ]
    }
}

/// Ballots started and pre-emptions over a run, for the Paxos and Multi-Paxos metrics: per
/// node, the ballot it ran when last seen and its pre-emption count then (which starts again
/// at a restart, as the node's own counter does).
#[derive(Default)]
pub(crate) struct BallotTally {
    seen: Vec<(Option<Ballot>, u32, u64)>,
    /// Ballots started, every node and incarnation.
    pub(crate) ballots: u64,
    /// Pre-emptions, every node and incarnation.
    pub(crate) preemptions: u64,
}

impl BallotTally {
    /// `node` now runs `ballot` and has been pre-empted `preempted` times in this incarnation.
    pub(crate) fn observe<P: crate::protocol::Protocol>(
        &mut self,
        view: &View<'_, P>,
        node: NodeId,
        ballot: Option<Ballot>,
        preempted: u64,
    ) {
        if self.seen.len() <= node.index() {
            self.seen.resize(view.cluster_size() as usize, (None, 0, 0));
        }
        let incarnation = view.incarnation(node);
        let (last, was_in, before) = &mut self.seen[node.index()];
        if *was_in != incarnation {
            (*was_in, *before, *last) = (incarnation, 0, None);
        }
        if ballot.is_some() && ballot != *last {
            self.ballots += 1;
        }
        *last = ballot;
        self.preemptions += preempted.saturating_sub(*before);
        *before = preempted;
    }
}
