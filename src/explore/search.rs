//! The search itself: states, their successors, the table of fingerprints, and the path back
//! to a violation.

use super::{
    EXPLORE_NODES_MAX, ExploreSpec, Move, Semantics, Strategy, WATCH_EVERY, link_order, walk_rng,
};
use crate::base::hash::StableHasher;
use crate::base::types::{ClientId, Endpoint, NodeId, Time};
use crate::check::{Checks, ExpectKind, FailureClass, Finding, Monitor, Status};
use crate::faults::Fault;
use crate::history::{HistoryCheck, HistoryVerdict, checked_ops};
use crate::network::Fate;
use crate::protocol::{Explorable, Protocol};
use crate::sim::SimConfig;
use crate::trace::{Origin, Recorder};
use crate::world::{
    Action, Collect, Consequence, Driver, Env, Glimpse, Namer, Scratch, Step, Stopped, World,
    guarded,
};
use std::collections::VecDeque;
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for keys that are already fingerprints: passes the value through.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

/// The fingerprints seen. Only inserted into, never iterated, and its hasher has no random
/// seed: nothing about its order can reach a result.
#[allow(clippy::disallowed_types)]
type Seen = std::collections::HashSet<u64, BuildHasherDefault<Identity>>;

/// The explorer's driver: every send is one copy in flight at once; nothing to schedule
/// (the enabled actions are the queue).
struct Quiet;

impl<P: Protocol> Driver<P> for Quiet {
    fn fate(&mut self, _: u32, _: u32) -> Fate {
        Fate::once(Time::ZERO)
    }
    fn take(&mut self, _: Consequence, _: Glimpse<'_, P>) {}
}

/// What is left of a path's budgets: part of the state, since two equal worlds with
/// different budgets left do not have the same futures.
#[derive(Clone, Debug, Hash)]
struct Budget {
    crashes: u32,
    isolations: u32,
    duplicates: u32,
    /// Timer firings per node.
    fired: [u8; EXPLORE_NODES_MAX as usize],
    /// Timer firings per client.
    client_fired: [u8; EXPLORE_NODES_MAX as usize],
}

/// One state in the frontier.
struct Node<P: Protocol> {
    world: World<P>,
    monitors: Vec<Box<dyn Monitor<P>>>,
    budget: Budget,
    /// Its entry in the trail.
    trail: u32,
    depth: u32,
    /// Operations completed in its history (the history check runs when this grows).
    completed: usize,
}

/// Where the search is, for a [`Watch`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// States reached (each successor counted, seen before or not).
    pub states: u64,
    /// Unique states.
    pub unique: u64,
    /// States waiting to be expanded.
    pub frontier: usize,
    /// Deepest state so far.
    pub depth: u32,
}

/// Asked every [`WATCH_EVERY`] states whether to go on: `Some(reason)` stops the search
/// (a time or memory bound the caller keeps).
pub trait Watch {
    /// `None` to go on.
    fn check(&mut self, progress: &Progress) -> Option<String>;
}

impl<F: FnMut(&Progress) -> Option<String>> Watch for F {
    fn check(&mut self, progress: &Progress) -> Option<String> {
        self(progress)
    }
}

/// Why a search stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Every state within the bounds was explored.
    Exhausted,
    /// A check failed: [`Outcome::violation`] has the finding and its path.
    Violation,
    /// The unique-state bound was reached.
    StatesBound,
    /// The random walks are done (a walk proves nothing about the states it did not see).
    WalksDone,
    /// The caller's [`Watch`] stopped it (a time or memory bound), with its reason.
    Watched(String),
}

/// What an exploration found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Why it stopped.
    pub stop: Stop,
    /// States reached (successors generated, seen before or not).
    pub states: u64,
    /// Unique states (the initial one included).
    pub unique: u64,
    /// Deepest state reached.
    pub depth: u32,
    /// States with no enabled action within the bounds (every message delivered, every
    /// budget spent).
    pub terminal: u64,
    /// States not expanded because they were at the depth bound.
    pub at_depth_bound: u64,
    /// Actions not offered because a budget was spent (timer firings, crashes, isolations,
    /// duplicates): a non-zero count says the budgets cut the search.
    pub budget_cut: u64,
    /// The most states waiting at once.
    pub frontier_max: usize,
    /// The first violation: the finding, and the steps that lead to it from the initial
    /// world (starts included).
    pub violation: Option<(Finding, Vec<Step>)>,
    /// Every sometimes-check, and whether some explored state reached it.
    pub sometimes: Vec<(String, bool)>,
    /// Checks the explorer does not judge (eventually, within, windowed, metric bounds).
    pub not_judged: Vec<String>,
    /// Property evaluations.
    pub evaluations: u64,
}

impl Outcome {
    /// Whether the search proves the checks hold within its bounds: it ran out of states
    /// with no violation, and every sometimes-check was reached.
    pub fn proves(&self) -> bool {
        self.stop == Stop::Exhausted && self.sometimes.iter().all(|(_, r)| *r)
    }
}

/// A violation found while making a successor.
struct Found(Finding);

/// One exploration of a protocol from a scenario's configuration.
pub struct Explorer<P: Protocol> {
    spec: ExploreSpec,
    config: SimConfig<P>,
    ex: Explorable<P>,
    checks: Checks<P>,
    history: Option<Box<dyn HistoryCheck>>,
    /// (parent entry, move): entry 0 is the initial state.
    trail: Vec<(u32, Move)>,
    seen: Seen,
    scratch: Scratch,
    recorder: Recorder,
    /// Actions the starts took (the path's first steps).
    starts: Vec<Action<P>>,
    moves: Vec<Move>,
    outcome: Outcome,
}

impl<P: Protocol> Explorer<P> {
    /// An explorer of `config`'s protocol, nodes, clients and checks under `spec`. Fails if
    /// the protocol cannot be fingerprinted, the cluster is too large, or a check is unknown.
    pub fn new(config: SimConfig<P>, spec: ExploreSpec) -> Result<Explorer<P>, String> {
        let ex = P::explorable().ok_or_else(|| {
            format!(
                "protocol {} cannot be explored: it does not make its state hashable (Protocol::explorable)",
                P::NAME
            )
        })?;
        if config.nodes > EXPLORE_NODES_MAX {
            return Err(format!(
                "the explorer takes at most {EXPLORE_NODES_MAX} nodes; this scenario has {}",
                config.nodes
            ));
        }
        if config.workload.clients > EXPLORE_NODES_MAX {
            return Err(format!(
                "the explorer takes at most {EXPLORE_NODES_MAX} clients; this scenario has {}",
                config.workload.clients
            ));
        }
        if config.workload.clients > 0 && config.workload.ops_per_client_max == 0 {
            return Err("the explorer needs workload.ops_per_client_max > 0: client operations are one of its bounds".to_string());
        }
        let expectations: Vec<_> = config.expectations.clone();
        let checks = Checks::new(&config.protocol, &expectations)?.without_metrics();
        let not_judged = checks.timed();
        let mut bounds_named: Vec<String> = expectations
            .iter()
            .filter(|e| matches!(e.kind, ExpectKind::Metric(_)))
            .map(|e| format!("metric {}", e.check))
            .collect();
        bounds_named.extend(not_judged);
        Ok(Explorer {
            spec,
            history: P::history_check(),
            checks,
            ex,
            trail: vec![(0, Move::HealLinks)],
            seen: Seen::default(),
            scratch: Scratch::default(),
            recorder: Recorder::silent(),
            starts: Vec::new(),
            moves: Vec::new(),
            outcome: Outcome {
                stop: Stop::Exhausted,
                states: 0,
                unique: 0,
                depth: 0,
                terminal: 0,
                at_depth_bound: 0,
                budget_cut: 0,
                frontier_max: 0,
                violation: None,
                sometimes: Vec::new(),
                not_judged: bounds_named,
                evaluations: 0,
            },
            config,
        })
    }

    /// A fresh world of the scenario, clocks frozen, nothing started.
    fn fresh_world(&self) -> World<P> {
        let mut world = self.config.world();
        world.freeze_clocks();
        world
    }

    /// Explores, asking `watch` every [`WATCH_EVERY`] states whether to go on.
    pub fn run(mut self, watch: &mut dyn Watch) -> Outcome {
        let root = match self.initial() {
            Ok(root) => root,
            Err(Found(f)) => {
                self.outcome.violation = Some((f, self.path(0, None)));
                self.outcome.stop = Stop::Violation;
                return self.finish();
            }
        };
        match self.spec.strategy {
            Strategy::Breadth | Strategy::Depth => self.search(root, watch),
            Strategy::Walk => self.walk(root, watch),
        }
        self.finish()
    }

    fn finish(mut self) -> Outcome {
        self.outcome.sometimes = self.checks.sometimes();
        self.outcome.evaluations = self.checks.evaluations();
        self.outcome
    }

    /// The initial state: every node (not permanently down) booted, then every client
    /// started, one step each, with the checks run after each as in a simulation.
    fn initial(&mut self) -> Result<Node<P>, Found> {
        let mut world = self.fresh_world();
        let mut actions: Vec<Action<P>> = (0..self.config.nodes)
            .filter(|i| !self.config.permanently_down.contains(&NodeId(*i)))
            .map(|i| Action::Start(NodeId(i)))
            .collect();
        actions.extend((0..self.config.workload.clients).map(|i| Action::StartClient(ClientId(i))));
        for a in &actions {
            let next = Time::from_ms(world.step() + 1);
            world.advance(next);
            self.starts.push(a.clone());
            let applied = self.apply(&mut world, a.clone())?;
            world.sweep_stale_timers();
            if applied {
                self.judge(&world, None, 0)?;
            }
        }
        let monitors = self.checks.monitors();
        let budget = Budget {
            crashes: 0,
            isolations: 0,
            duplicates: 0,
            fired: [0; EXPLORE_NODES_MAX as usize],
            client_fired: [0; EXPLORE_NODES_MAX as usize],
        };
        let completed = completed(&world);
        let root = Node {
            world,
            monitors,
            budget,
            trail: 0,
            depth: 0,
            completed,
        };
        let fp = self.fingerprint(&root);
        self.seen.insert(fp);
        self.outcome.unique = 1;
        Ok(root)
    }

    /// Applies one action; a protocol failure is a violation.
    fn apply(&mut self, world: &mut World<P>, action: Action<P>) -> Result<bool, Found> {
        let mut env = Env {
            driver: &mut Quiet,
            recorder: &mut self.recorder,
        };
        match world.apply(action, &mut env) {
            Ok(applied) => Ok(applied.handled),
            Err(stop) => match *stop.0 {
                Stopped::Failed(f) => Err(Found(f)),
                Stopped::Aborted(reason) => Err(Found(Finding {
                    check: "explorer".to_string(),
                    kind: "engine".to_string(),
                    class: FailureClass::Panic,
                    step: world.step(),
                    time: world.now(),
                    nodes: vec![],
                    message: reason,
                })),
            },
        }
    }

    /// Runs the checks on `world` (the always-checks and monitors; sometimes-checks are
    /// marked) and, when an operation completed since `completed_before`, the history check.
    fn judge(
        &mut self,
        world: &World<P>,
        touched: Option<Endpoint>,
        completed_before: usize,
    ) -> Result<(), Found> {
        let view = world.view(touched);
        let checks = &mut self.checks;
        match guarded(|| checks.after_step(&view)) {
            Ok(None) => {}
            Ok(Some(f)) => return Err(Found(f)),
            Err(message) => {
                return Err(Found(Finding {
                    check: "check_panic".to_string(),
                    kind: "engine".to_string(),
                    class: FailureClass::Panic,
                    step: world.step(),
                    time: world.now(),
                    nodes: vec![],
                    message: format!("a {} check panicked: {message}", P::NAME),
                }));
            }
        }
        let Some(check) = &self.history else {
            return Ok(());
        };
        if completed(world) <= completed_before {
            return Ok(());
        }
        let ops = checked_ops::<P>(world.history());
        if ops.is_empty() {
            return Ok(());
        }
        let finding = |message: String, class| Finding {
            check: check.name().to_string(),
            kind: "history".to_string(),
            class,
            step: world.step(),
            time: world.now(),
            nodes: vec![],
            message,
        };
        match check.judge(&ops, self.config.history_budget) {
            Ok(j) => match j.verdict {
                HistoryVerdict::Violated(m) => Err(Found(finding(m, FailureClass::Safety))),
                HistoryVerdict::Held | HistoryVerdict::Inconclusive(_) => Ok(()),
            },
            Err(e) => Err(Found(finding(
                format!("the {} history does not fit its model: {e}", P::NAME),
                FailureClass::Panic,
            ))),
        }
    }

    fn fingerprint(&mut self, node: &Node<P>) -> u64 {
        let mut h = StableHasher::default();
        let order = link_order(self.spec.network);
        node.world
            .hash_state(&self.ex, order, &mut self.scratch, &mut h);
        for m in &node.monitors {
            m.hash_state(&mut h);
        }
        std::hash::Hash::hash(&node.budget, &mut h);
        h.finish()
    }

    /// The moves enabled in `node` within the budgets, in a fixed order: deliveries (then
    /// losses and duplications) by slot, node timers by slot, client timers by slot, then
    /// crashes, restarts, isolations and the links' heal by node.
    fn successors(&mut self, node: &Node<P>) {
        let moves = &mut self.moves;
        moves.clear();
        let w = &node.world;
        let spec = &self.spec;
        let mut cut = 0u64;
        for (slot, m) in w.in_flight() {
            if m.arrived() {
                continue;
            }
            if spec.network == Semantics::Ordered
                && w.in_flight().any(|(_, o)| {
                    !o.arrived() && o.from() == m.from() && o.to() == m.to() && o.id() < m.id()
                })
            {
                continue;
            }
            moves.push(Move::Deliver(slot));
            if spec.loss {
                moves.push(Move::Drop(slot));
            }
            if spec.network == Semantics::Duplicating {
                if node.budget.duplicates < spec.duplicates {
                    moves.push(Move::Duplicate(slot));
                } else {
                    cut += 1;
                }
            }
        }
        for (slot, t) in w.armed() {
            let n = t.node().index();
            if w.status(t.node()) != Status::Up {
                continue;
            }
            if u32::from(node.budget.fired[n]) < spec.timers {
                moves.push(Move::Fire(slot));
            } else {
                cut += 1;
            }
        }
        let client_firings = self.config.workload.ops_per_client_max + u64::from(spec.retries);
        for (slot, c, _) in w.client_timers() {
            if u64::from(node.budget.client_fired[c.0 as usize]) < client_firings {
                moves.push(Move::FireClient(slot));
            } else {
                cut += 1;
            }
        }
        for (i, h) in w.hosts().iter().enumerate() {
            let i = i as u32;
            if h.permanently_down() {
                continue;
            }
            match h.status() {
                Status::Up if node.budget.crashes < spec.crashes => moves.push(Move::Crash(i)),
                Status::Up if spec.crashes > 0 => cut += 1,
                Status::Down => moves.push(Move::Restart(i)),
                _ => {}
            }
        }
        if spec.isolations > 0 {
            for i in 0..w.nodes() {
                if node.budget.isolations < spec.isolations {
                    moves.push(Move::Isolate(i));
                } else {
                    cut += 1;
                }
            }
            if w.network().cut_count() > 0 {
                moves.push(Move::HealLinks);
            }
        }
        self.outcome.budget_cut += cut;
    }

    /// The successor of `parent` by `mv`, or the violation it leads to.
    fn child(&mut self, parent: &Node<P>, mv: Move) -> Result<Node<P>, Found> {
        let mut world = parent.world.clone();
        let next = Time::from_ms(world.step() + 1);
        world.advance(next);
        let mut budget = parent.budget.clone();
        let action = to_action(mv);
        match mv {
            Move::Fire(slot) => {
                if let Some(t) = world.timer_entry(slot) {
                    let n = t.node().index();
                    budget.fired[n] = budget.fired[n].saturating_add(1);
                }
            }
            Move::FireClient(slot) => {
                if let Some((_, c, _)) = world.client_timers().find(|(s, _, _)| *s == slot) {
                    let c = c.0 as usize;
                    budget.client_fired[c] = budget.client_fired[c].saturating_add(1);
                }
            }
            Move::Crash(_) => budget.crashes += 1,
            Move::Isolate(_) => budget.isolations += 1,
            Move::Duplicate(_) => budget.duplicates += 1,
            _ => {}
        }
        let applied = self.apply(&mut world, action)?;
        world.sweep_stale_timers();
        let mut monitors = parent.monitors.clone();
        if applied {
            let t = world_touched(mv, parent);
            self.checks.swap_monitors(&mut monitors);
            let judged = self.judge(&world, t, parent.completed);
            self.checks.swap_monitors(&mut monitors);
            judged?;
        }
        let completed = completed(&world);
        Ok(Node {
            world,
            monitors,
            budget,
            trail: 0,
            depth: parent.depth + 1,
            completed,
        })
    }

    /// Breadth- or depth-first search over the whole bounded space.
    fn search(&mut self, root: Node<P>, watch: &mut dyn Watch) {
        let depth_first = self.spec.strategy == Strategy::Depth;
        let mut frontier: VecDeque<Node<P>> = VecDeque::new();
        frontier.push_back(root);
        let mut taken = 0u64;
        while let Some(node) = if depth_first {
            frontier.pop_back()
        } else {
            frontier.pop_front()
        } {
            taken += 1;
            if taken % WATCH_EVERY == 0 {
                let progress = Progress {
                    states: self.outcome.states,
                    unique: self.outcome.unique,
                    frontier: frontier.len(),
                    depth: self.outcome.depth,
                };
                if let Some(reason) = watch.check(&progress) {
                    self.outcome.stop = Stop::Watched(reason);
                    return;
                }
            }
            if node.depth >= self.spec.depth {
                self.outcome.at_depth_bound += 1;
                continue;
            }
            self.successors(&node);
            if self.moves.is_empty() {
                self.outcome.terminal += 1;
                continue;
            }
            let moves = std::mem::take(&mut self.moves);
            for &mv in &moves {
                self.outcome.states += 1;
                let mut child = match self.child(&node, mv) {
                    Ok(c) => c,
                    Err(Found(f)) => return self.violation(f, &node, mv),
                };
                let fp = self.fingerprint(&child);
                if !self.seen.insert(fp) {
                    continue;
                }
                self.outcome.unique += 1;
                self.outcome.depth = self.outcome.depth.max(child.depth);
                self.trail.push((node.trail, mv));
                child.trail = (self.trail.len() - 1) as u32;
                frontier.push_back(child);
                if self.outcome.unique >= self.spec.states {
                    self.outcome.stop = Stop::StatesBound;
                    return;
                }
            }
            self.moves = moves;
            self.outcome.frontier_max = self.outcome.frontier_max.max(frontier.len());
        }
        self.outcome.stop = Stop::Exhausted;
    }

    /// Stops the search at a violation found by taking `mv` from `node`.
    fn violation(&mut self, finding: Finding, node: &Node<P>, mv: Move) {
        let path = self.path(node.trail, Some((mv, node)));
        self.outcome.violation = Some((finding, path));
        self.outcome.stop = Stop::Violation;
    }

    /// Random walks: from the initial state, a move drawn at each step, to the depth bound
    /// or a state with none.
    fn walk(&mut self, root: Node<P>, watch: &mut dyn Watch) {
        let mut rng = walk_rng(self.config.seed);
        for w in 0..self.spec.walks {
            if (w + 1) % 64 == 0 {
                let progress = Progress {
                    states: self.outcome.states,
                    unique: self.outcome.unique,
                    frontier: 0,
                    depth: self.outcome.depth,
                };
                if let Some(reason) = watch.check(&progress) {
                    self.outcome.stop = Stop::Watched(reason);
                    return;
                }
            }
            // The walk's own trail entries are kept only while it runs.
            let trail_len = self.trail.len();
            let mut node = Node {
                world: root.world.clone(),
                monitors: root.monitors.clone(),
                budget: root.budget.clone(),
                trail: 0,
                depth: 0,
                completed: root.completed,
            };
            loop {
                if node.depth >= self.spec.depth {
                    self.outcome.at_depth_bound += 1;
                    break;
                }
                self.successors(&node);
                if self.moves.is_empty() {
                    self.outcome.terminal += 1;
                    break;
                }
                let mv = self.moves[rng.index(self.moves.len())];
                self.outcome.states += 1;
                let mut child = match self.child(&node, mv) {
                    Ok(c) => c,
                    Err(Found(f)) => return self.violation(f, &node, mv),
                };
                let fp = self.fingerprint(&child);
                if self.seen.insert(fp) {
                    self.outcome.unique += 1;
                }
                self.outcome.depth = self.outcome.depth.max(child.depth);
                self.trail.push((node.trail, mv));
                child.trail = (self.trail.len() - 1) as u32;
                node = child;
            }
            self.trail.truncate(trail_len);
            if self.outcome.unique >= self.spec.states {
                self.outcome.stop = Stop::StatesBound;
                return;
            }
        }
        self.outcome.stop = Stop::WalksDone;
    }

    /// The steps from the initial world to the state at trail entry `entry`, then `last`
    /// (a move taken from that state), replayed on a fresh world and named.
    fn path(&self, entry: u32, last: Option<(Move, &Node<P>)>) -> Vec<Step> {
        let mut moves = Vec::new();
        let mut e = entry;
        while e != 0 {
            let (parent, mv) = self.trail[e as usize];
            moves.push(mv);
            e = parent;
        }
        moves.reverse();
        if let Some((mv, _)) = last {
            moves.push(mv);
        }
        let mut world = self.fresh_world();
        let mut namer = Namer::new();
        let mut recorder = Recorder::new(None);
        let mut collect = Collect::default();
        let mut steps = Vec::new();
        let mut take = |world: &mut World<P>, action: Action<P>, steps: &mut Vec<Step>| {
            if let Some(step) = namer.name(world, &action) {
                steps.push(step);
            }
            let next = Time::from_ms(world.step() + 1);
            world.advance(next);
            let mut env = Env {
                driver: &mut collect,
                recorder: &mut recorder,
            };
            // The last action may stop with the violation itself (a handler's panic): the
            // path is named up to it either way.
            let _ = world.apply(action, &mut env);
            world.sweep_stale_timers();
            namer.observe(world);
        };
        for a in &self.starts {
            take(&mut world, a.clone(), &mut steps);
        }
        for mv in moves {
            let action = to_action(mv);
            take(&mut world, action, &mut steps);
        }
        steps
    }
}

/// The node or client an action changed, for the checks that look only there.
fn world_touched<P: Protocol>(mv: Move, parent: &Node<P>) -> Option<Endpoint> {
    match mv {
        Move::Deliver(slot) | Move::Drop(slot) | Move::Duplicate(slot) => {
            parent.world.message(slot).map(|m| m.to())
        }
        Move::Fire(slot) => parent
            .world
            .timer_entry(slot)
            .map(|t| Endpoint::Node(t.node())),
        Move::FireClient(slot) => parent
            .world
            .client_timers()
            .find(|(s, _, _)| *s == slot)
            .map(|(_, c, _)| Endpoint::Client(c)),
        Move::Crash(n) | Move::Restart(n) => Some(Endpoint::Node(NodeId(n))),
        Move::Isolate(_) | Move::HealLinks => None,
    }
}

/// Operations completed in a world's history.
fn completed<P: Protocol>(world: &World<P>) -> usize {
    let c = world.history().counts();
    (c.ok + c.fail + c.unknown) as usize
}

/// The world's action for `mv`.
fn to_action<P: Protocol>(mv: Move) -> Action<P> {
    let fault = |f: Fault| Action::Fault(f, Origin::Schedule);
    match mv {
        Move::Deliver(s) => Action::Deliver(s),
        Move::Drop(s) => Action::Drop(s),
        Move::Duplicate(s) => Action::Duplicate(s),
        Move::Fire(s) => Action::Fire(s),
        Move::FireClient(s) => Action::FireClient(s),
        Move::Crash(n) => fault(Fault::Crash(NodeId(n))),
        Move::Restart(n) => fault(Fault::Restart(NodeId(n))),
        Move::Isolate(n) => fault(Fault::Isolate(Endpoint::Node(NodeId(n)))),
        Move::HealLinks => fault(Fault::HealLinks),
    }
}
