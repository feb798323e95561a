//! Failure detection and reliable delivery: how a node learns that another one is dead, and
//! how a message gets through a lossy network exactly once.
//!
//! Every node sends a heartbeat to every peer each `heartbeat_ms` of its local time, and
//! runs two detectors over the arrivals, side by side:
//! - **Fixed timeout**: suspect a peer not heard from for `timeout_ms`. Simple, and wrong in
//!   both directions when the network's delay varies: too short and it suspects live nodes,
//!   too long and it is slow to notice a crash.
//! - **Phi accrual** (Hayashibara et al., "The φ Accrual Failure Detector", SRDS 2004): keep
//!   a window of inter-arrival times, model them as a normal distribution, and compute
//!   `phi = -log10(P(a heartbeat arrives later than now))`; suspect above `phi_threshold`. It
//!   adapts to the jitter it sees, so a noisy link raises the bar instead of raising alarms.
//!   The arithmetic is fixed point ([`crate::fixed`]), so runs are identical everywhere.
//!
//! `detector` picks which one the checks judge; the trace and the metrics show both, so one
//! run compares them on the same heartbeats.
//!
//! On top, each node sends numbered application messages to random peers through the
//! [`Reliable`] layer (sequence numbers, acknowledgements, retransmission with backoff,
//! sessions that survive restarts). The application checks what arrives: nothing twice, and
//! in order per sender.
//!
//! Checks: `no_duplicates` and `fifo` (always), `completeness` (every crashed node is
//! suspected by every live node that could reach it, within T of the crash), `accuracy` (no
//! live, reachable, unpaused node is suspected: eventually, and then for good),
//! `all_delivered` (every message sent before the heal reaches its live receiver), and
//! `fd_metrics`, which measures detection times, false suspicions, retransmissions and
//! recovery.
//!
//! Bug switches (`bugs`): `short_timeout` (a fixed timeout shorter than the heartbeat period
//! plus delay), `never_trust_again` (a suspected node stays suspected), `dedup_seq_only` (the
//! delivery layer ignores sessions, so a restarted sender's messages are taken for duplicates).

use crate::protocol::fixed::phi_y_threshold;
use crate::protocol::reliable::{Action, Reliable, ReliableConfig, Wire};
use crate::protocol::{
    ClientCtx, ClientId, ClientLogic, Ctx, Endpoint, Failure, NodeId, Property, PropertyDef,
    Protocol, RequestId, Status, Time, Trigger, TriggerKind, View, WorkloadConfig,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Which detector the checks judge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// Fixed timeout.
    Fixed,
    /// Phi accrual.
    #[default]
    Phi,
}

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// The fixed detector's timeout becomes half the heartbeat period.
    pub short_timeout: bool,
    /// Once suspected, a node is never trusted again (both detectors).
    pub never_trust_again: bool,
    /// The delivery layer deduplicates on sequence numbers only, ignoring sessions.
    pub dedup_seq_only: bool,
}

/// Parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Local time between heartbeats, milliseconds.
    pub heartbeat_ms: u64,
    /// How often the detectors re-evaluate, milliseconds of local time.
    pub check_ms: u64,
    /// The detector the checks judge.
    pub detector: Detector,
    /// Fixed detector: suspect after this much silence, milliseconds.
    pub timeout_ms: u64,
    /// Phi detector: suspect above this phi.
    pub phi_threshold: u64,
    /// Phi detector: inter-arrival samples kept.
    pub phi_window: usize,
    /// Phi detector: floor on the standard deviation, milliseconds.
    pub phi_min_std_ms: u64,
    /// Phi detector: silence tolerated on top of the learned mean (a lost heartbeat or two),
    /// milliseconds.
    pub phi_acceptable_pause_ms: u64,
    /// Local time between application messages, milliseconds (0: none).
    pub app_interval_ms: u64,
    /// Stop sending application messages at this local time, milliseconds (0: never).
    pub app_stop_ms: u64,
    /// Delivery-layer parameters.
    pub reliable: ReliableConfig,
    /// A recovery counts as in time if it takes at most this long, milliseconds.
    pub recovery_budget_ms: u64,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            heartbeat_ms: 100,
            check_ms: 10,
            detector: Detector::Phi,
            timeout_ms: 300,
            phi_threshold: 8,
            phi_window: 100,
            phi_min_std_ms: 20,
            phi_acceptable_pause_ms: 100,
            app_interval_ms: 50,
            app_stop_ms: 0,
            reliable: ReliableConfig::default(),
            recovery_budget_ms: 2_000,
            bugs: Bugs::default(),
        }
    }
}

/// An application message: the sender's session and a per-receiver counter from 1.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct App {
    /// The sender's session when it sent this.
    pub session: u64,
    /// The sender's count of messages to this receiver in that session.
    pub k: u64,
}

/// Node-to-node messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// "I am alive."
    Heartbeat,
    /// The delivery layer.
    Reliable(Wire<App>),
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Send heartbeats.
    Beat,
    /// Re-evaluate the detectors.
    Check,
    /// Send an application message.
    App,
    /// Retransmit to this peer.
    Retransmit(NodeId),
}

/// What the store holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// The session number, bumped and synced on every start.
    Session(u64),
}

/// One peer as this node sees it.
#[derive(Clone, Debug, Default)]
struct Peer {
    last_heard: Option<Time>,
    intervals: VecDeque<u64>,
    sum: u128,
    sum_sq: u128,
    suspect_fixed: bool,
    suspect_phi: bool,
    /// Application: the last (session, k) delivered from this peer in this incarnation.
    last_delivered: Option<(u64, u64)>,
    /// Application: messages sent to this peer in this session.
    sent: u64,
}

/// Something the application saw that the delivery layer promised would not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// From which peer.
    pub from: NodeId,
    /// Duplicate (true) or out of order (false).
    pub duplicate: bool,
    /// What had been delivered before.
    pub before: Option<(u64, u64)>,
    /// What arrived.
    pub got: (u64, u64),
}

/// One node.
#[derive(Clone, Debug)]
pub struct Fd {
    id: NodeId,
    config: Config,
    /// Phi exceeds the threshold exactly when (silence - mean) / std exceeds this (Q32.32).
    phi_y: i128,
    session: u64,
    peers: Vec<Peer>,
    rd: Reliable<App>,
    anomalies: Vec<Anomaly>,
}

impl Fd {
    /// Whether this node suspects `peer` by the judged detector.
    pub fn suspects(&self, peer: NodeId) -> bool {
        match self.config.detector {
            Detector::Fixed => self.peers[peer.index()].suspect_fixed,
            Detector::Phi => self.peers[peer.index()].suspect_phi,
        }
    }
    /// Whether the given detector suspects `peer`.
    pub fn suspects_by(&self, detector: Detector, peer: NodeId) -> bool {
        match detector {
            Detector::Fixed => self.peers[peer.index()].suspect_fixed,
            Detector::Phi => self.peers[peer.index()].suspect_phi,
        }
    }
    /// This incarnation's session.
    pub fn session(&self) -> u64 {
        self.session
    }
    /// Application messages sent to `peer` in this session.
    pub fn sent_to(&self, peer: NodeId) -> u64 {
        self.peers[peer.index()].sent
    }
    /// The last application message delivered from `peer` in this incarnation.
    pub fn last_delivered(&self, peer: NodeId) -> Option<(u64, u64)> {
        self.peers[peer.index()].last_delivered
    }
    /// Retransmissions by this incarnation.
    pub fn retransmissions(&self) -> u64 {
        self.rd.stats().retransmitted
    }

    fn apply(&mut self, ctx: &mut Ctx<'_, Self>) {
        let actions: Vec<Action<App>> = self.rd.drain().collect();
        for a in actions {
            match a {
                Action::Send(to, w) => ctx.send(to, Msg::Reliable(w)),
                Action::ArmTimer(to, after) => ctx.set_timer(Timer::Retransmit(to), after),
                Action::DisarmTimer(to) => ctx.cancel_timer(Timer::Retransmit(to)),
                Action::Deliver(from, app) => self.deliver(from, app),
            }
        }
    }

    fn deliver(&mut self, from: NodeId, app: App) {
        let got = (app.session, app.k);
        let p = &mut self.peers[from.index()];
        let before = p.last_delivered;
        let anomaly = match before {
            Some((s, k)) if app.session == s && app.k <= k => Some(true),
            Some((s, k)) if app.session == s && app.k != k + 1 => Some(false),
            Some((s, _)) if app.session < s => Some(false),
            Some((s, _)) if app.session > s && app.k != 1 => Some(false),
            _ => None,
        };
        if let Some(duplicate) = anomaly {
            self.anomalies.push(Anomaly {
                from,
                duplicate,
                before,
                got,
            });
        }
        if before.is_none_or(|b| got > b) {
            p.last_delivered = Some(got);
        }
    }

    fn timeout_ms(&self) -> u64 {
        if self.config.bugs.short_timeout {
            self.config.heartbeat_ms / 2
        } else {
            self.config.timeout_ms
        }
    }

    fn evaluate(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        let timeout = Time::from_ms(self.timeout_ms());
        let min_std = self.config.phi_min_std_ms.saturating_mul(1_000).max(1);
        let pause = self.config.phi_acceptable_pause_ms.saturating_mul(1_000);
        let never_trust = self.config.bugs.never_trust_again;
        let phi_y = self.phi_y;
        let mut changed = [false, false];
        for i in 0..self.peers.len() {
            if i == self.id.index() {
                continue;
            }
            let p = &mut self.peers[i];
            let Some(last) = p.last_heard else { continue };
            let silent = now.sub(last);
            let fixed = silent > timeout;
            let phi = {
                let n = p.intervals.len() as u128;
                let mean = p.sum / n;
                let var = (p.sum_sq / n).saturating_sub(mean * mean);
                let std = (var.isqrt() as u64).max(min_std);
                // phi > threshold  <=>  (silence - mean) / std > phi_y; compared without a division.
                let excess = i128::from(silent.as_us()) - (mean as i128 + i128::from(pause));
                (excess << 32) > phi_y * i128::from(std)
            };
            for (slot, new, flag) in [
                (0, fixed, &mut p.suspect_fixed),
                (1, phi, &mut p.suspect_phi),
            ] {
                if *flag != new && (new || !never_trust) {
                    *flag = new;
                    changed[slot] = true;
                }
            }
        }
        if changed[0] {
            let list = self.list(Detector::Fixed);
            ctx.annotate("suspects_fixed", list);
        }
        if changed[1] {
            let list = self.list(Detector::Phi);
            ctx.annotate("suspects_phi", list);
        }
    }

    fn list(&self, d: Detector) -> String {
        let names: Vec<String> = (0..self.peers.len() as u32)
            .map(NodeId)
            .filter(|&n| self.suspects_by(d, n))
            .map(|n| n.to_string())
            .collect();
        if names.is_empty() {
            "-".to_string()
        } else {
            names.join(",")
        }
    }

    fn heard(&mut self, from: NodeId, now: Time, ctx: &mut Ctx<'_, Self>) {
        let window = self.config.phi_window.max(2);
        let p = &mut self.peers[from.index()];
        if let Some(last) = p.last_heard {
            let gap = u128::from(now.sub(last).as_us());
            p.intervals.push_back(gap as u64);
            p.sum += gap;
            p.sum_sq += gap * gap;
            if p.intervals.len() > window {
                let old = u128::from(p.intervals.pop_front().unwrap_or(0));
                p.sum -= old;
                p.sum_sq -= old * old;
            }
        }
        p.last_heard = Some(now);
        // Trust again at once on a heartbeat, unless the bug says never.
        if !self.config.bugs.never_trust_again && (p.suspect_fixed || p.suspect_phi) {
            let (f, ph) = (p.suspect_fixed, p.suspect_phi);
            p.suspect_fixed = false;
            p.suspect_phi = false;
            if f {
                let list = self.list(Detector::Fixed);
                ctx.annotate("suspects_fixed", list);
            }
            if ph {
                let list = self.list(Detector::Phi);
                ctx.annotate("suspects_phi", list);
            }
        }
    }

    fn begin(&mut self, ctx: &mut Ctx<'_, Self>, session: u64) {
        self.session = session;
        ctx.write_cell("session", Record::Session(session));
        ctx.sync();
        ctx.annotate("session", session);
        let mut rc = self.config.reliable.clone();
        rc.dedup_seq_only |= self.config.bugs.dedup_seq_only;
        self.rd = Reliable::new(self.peers.len() as u32, session, rc);
        let now = ctx.now();
        // Before any heartbeat arrives, assume the heartbeat period with a quarter of it as
        // deviation (two samples, one each side), so the first stragglers do not look like
        // failures; real arrivals soon push these out of the window.
        let beat = self.config.heartbeat_ms.saturating_mul(1_000);
        let seed = [beat - beat / 4, beat + beat / 4];
        for p in &mut self.peers {
            p.last_heard = Some(now); // grace: a peer gets a full period before suspicion
            p.intervals = seed.iter().copied().collect();
            p.sum = seed.iter().map(|&x| u128::from(x)).sum();
            p.sum_sq = seed.iter().map(|&x| u128::from(x) * u128::from(x)).sum();
        }
        let first = ctx.rng().between(0, self.config.heartbeat_ms);
        ctx.set_timer(Timer::Beat, Time::from_ms(first));
        ctx.set_timer(Timer::Check, Time::from_ms(self.config.check_ms.max(1)));
        if self.config.app_interval_ms > 0 {
            let first = ctx.rng().between(1, self.config.app_interval_ms);
            ctx.set_timer(Timer::App, Time::from_ms(first));
        }
    }
}

impl Protocol for Fd {
    const NAME: &'static str = "fd";
    type Config = Config;
    type Msg = Msg;
    type Timer = Timer;
    type Request = ();
    type Response = ();
    type Record = Record;
    type Client = NoClient;

    fn new(id: NodeId, nodes: u32, config: &Config) -> Self {
        Fd {
            id,
            config: config.clone(),
            phi_y: phi_y_threshold(config.phi_threshold.saturating_mul(1_000)),
            session: 0,
            peers: vec![Peer::default(); nodes as usize],
            rd: Reliable::new(nodes, 0, config.reliable.clone()),
            anomalies: Vec::new(),
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.begin(ctx, 1);
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        let last = match ctx.store().cell("session") {
            Some(Record::Session(s)) => *s,
            None => 0,
        };
        self.begin(ctx, last + 1);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let now = ctx.now();
        self.heard(from, now, ctx);
        if let Msg::Reliable(w) = msg {
            self.rd.on_wire(from, w);
            self.apply(ctx);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Beat => {
                ctx.broadcast(Msg::Heartbeat);
                ctx.set_timer(Timer::Beat, Time::from_ms(self.config.heartbeat_ms));
            }
            Timer::Check => {
                self.evaluate(ctx);
                ctx.set_timer(Timer::Check, Time::from_ms(self.config.check_ms.max(1)));
            }
            Timer::App => {
                let stop = self.config.app_stop_ms;
                if stop == 0 || ctx.now() < Time::from_ms(stop) {
                    let n = self.peers.len() as u64;
                    if n > 1 {
                        let mut to = NodeId(ctx.rng().below(n - 1) as u32);
                        if to >= self.id {
                            to = NodeId(to.0 + 1);
                        }
                        let p = &mut self.peers[to.index()];
                        p.sent += 1;
                        let app = App {
                            session: self.session,
                            k: p.sent,
                        };
                        self.rd.send(to, app);
                        self.apply(ctx);
                    }
                    ctx.set_timer(Timer::App, Time::from_ms(self.config.app_interval_ms));
                }
            }
            Timer::Retransmit(to) => {
                self.rd.on_timer(to);
                self.apply(ctx);
            }
        }
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        vec![
            PropertyDef {
                name: "no_duplicates",
                description: "no application message is delivered twice to the same receiver incarnation",
                invariant: true,
                make: |_| Box::new(AppOrder { duplicate: true }),
            },
            PropertyDef {
                name: "fifo",
                description: "application messages from one sender session arrive in the order sent, without gaps",
                invariant: true,
                make: |_| Box::new(AppOrder { duplicate: false }),
            },
            PropertyDef {
                name: "completeness",
                description: "a crashed node is suspected by every live node that can still send to it (use as `within` after `crash`)",
                invariant: false,
                make: |_| Box::new(Completeness),
            },
            PropertyDef {
                name: "accuracy",
                description: "no live node suspects a live, unpaused node it is linked with both ways (use as `eventually` with `stays`)",
                invariant: false,
                make: |_| Box::new(Accuracy),
            },
            PropertyDef {
                name: "all_delivered",
                description: "every application message sent before the heal between two live nodes has been delivered",
                invariant: false,
                make: |_| Box::new(AllDelivered::default()),
            },
            PropertyDef {
                name: "fd_metrics",
                description: "measures detection times, false suspicions, retransmissions and recovery; never fails",
                invariant: true,
                make: |c| Box::new(Metrics::new(c)),
            },
        ]
    }

    fn record_bytes(_: &Record) -> u64 {
        8
    }
}

/// The fd protocol has no clients.
pub struct NoClient;

impl ClientLogic<Fd> for NoClient {
    fn new(_: ClientId, _: u32, _: &WorkloadConfig, _: &Config) -> Self {
        NoClient
    }
    fn on_start(&mut self, _: &mut ClientCtx<'_, Fd>) {}
    fn on_response(&mut self, _: &mut ClientCtx<'_, Fd>, _: NodeId, _: RequestId, _: ()) {}
    fn on_timer(&mut self, _: &mut ClientCtx<'_, Fd>, _: u64) {}
}

fn touched_nodes(view: &View<'_, Fd>) -> std::ops::Range<u32> {
    match view.touched {
        Some(Endpoint::Node(n)) => n.0..n.0 + 1,
        Some(Endpoint::Client(_)) => 0..0,
        None => 0..view.cluster_size(),
    }
}

struct AppOrder {
    duplicate: bool,
}

impl Property<Fd> for AppOrder {
    fn check(&mut self, view: &View<'_, Fd>, _: Option<&Trigger>) -> Result<(), Failure> {
        for n in touched_nodes(view).map(NodeId) {
            let Some(p) = view.node(n) else { continue };
            if let Some(a) = p.anomalies.iter().find(|a| a.duplicate == self.duplicate) {
                let before = a
                    .before
                    .map(|(s, k)| format!("session {s} message {k}"))
                    .unwrap_or_else(|| "nothing".into());
                let what = if a.duplicate {
                    "a duplicate"
                } else {
                    "out of order"
                };
                return Err(Failure::new(
                    format!(
                        "{n} was handed {what}: session {} message {} from {}, after {before}",
                        a.got.0, a.got.1, a.from
                    ),
                    vec![n, a.from],
                ));
            }
        }
        Ok(())
    }
}

struct Completeness;

impl Property<Fd> for Completeness {
    fn check(&mut self, view: &View<'_, Fd>, trigger: Option<&Trigger>) -> Result<(), Failure> {
        let targets: Vec<NodeId> = match trigger.and_then(|t| t.node) {
            Some(x) => vec![x],
            None => view
                .nodes()
                .filter(|&x| view.status(x) == Status::Down)
                .collect(),
        };
        for x in targets {
            if view.status(x) != Status::Down {
                continue; // it came back: nothing left to detect
            }
            for a in view
                .nodes()
                .filter(|&a| a != x && view.is_up(a) && view.can_send(a, x))
            {
                if !view.node(a).is_some_and(|p| p.suspects(x)) {
                    return Err(Failure::new(
                        format!("{a} does not suspect {x}, which is down"),
                        vec![a, x],
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A live node `a` wrongly suspects live node `b`, which it is linked with both ways.
fn false_suspicion(view: &View<'_, Fd>) -> Option<(NodeId, NodeId)> {
    for a in view.nodes().filter(|&a| view.is_up(a)) {
        let Some(p) = view.node(a) else { continue };
        for b in view.nodes().filter(|&b| b != a && view.is_up(b)) {
            if p.suspects(b) && view.can_send(a, b) && view.can_send(b, a) {
                return Some((a, b));
            }
        }
    }
    None
}

struct Accuracy;

impl Property<Fd> for Accuracy {
    fn check(&mut self, view: &View<'_, Fd>, _: Option<&Trigger>) -> Result<(), Failure> {
        match false_suspicion(view) {
            Some((a, b)) => Err(Failure::new(
                format!("{a} suspects {b}, which is up and reachable"),
                vec![a, b],
            )),
            None => Ok(()),
        }
    }
}

#[derive(Default)]
struct AllDelivered {
    /// Highest message delivered, per (sender, receiver, sender session), over every
    /// receiver incarnation.
    delivered: BTreeMap<(NodeId, NodeId, u64), u64>,
    /// What had to be delivered: taken at the first look after the heal.
    owed: Option<Vec<(NodeId, NodeId, u64, u64)>>,
}

impl AllDelivered {
    fn record(&mut self, view: &View<'_, Fd>) {
        for b in touched_nodes(view).map(NodeId) {
            let Some(p) = view.node(b) else { continue };
            for a in view.nodes() {
                if let Some((s, k)) = p.last_delivered(a) {
                    let e = self.delivered.entry((a, b, s)).or_insert(0);
                    *e = (*e).max(k);
                }
            }
        }
    }
}

impl Property<Fd> for AllDelivered {
    fn observes_every_step(&self) -> bool {
        true // a delivery to an incarnation that later crashes still counts
    }

    fn observe(&mut self, view: &View<'_, Fd>) {
        self.record(view);
    }

    fn check(&mut self, view: &View<'_, Fd>, _: Option<&Trigger>) -> Result<(), Failure> {
        self.record(view);
        if self.owed.is_none() {
            let mut owed = Vec::new();
            for a in view.nodes() {
                let Some(p) = view.node(a) else { continue };
                for b in view.nodes().filter(|&b| b != a) {
                    if p.sent_to(b) > 0 {
                        owed.push((a, b, p.session(), p.sent_to(b)));
                    }
                }
            }
            self.owed = Some(owed);
        }
        for &(a, b, session, k) in self.owed.as_deref().unwrap_or(&[]) {
            let sender_alive = view.node(a).is_some_and(|p| p.session() == session);
            if !sender_alive || !view.is_up(b) {
                continue; // the sender's incarnation is gone, or the receiver is down
            }
            let got = self.delivered.get(&(a, b, session)).copied().unwrap_or(0);
            if got < k {
                return Err(Failure::new(
                    format!("{b} has {got} of the {k} messages {a} sent it in session {session}"),
                    vec![a, b],
                ));
            }
        }
        Ok(())
    }
}

/// Measures both detectors and the delivery layer.
struct Metrics {
    budget: Time,
    /// Cluster size, once known (the tables below are `n × n`, observer-major).
    n: usize,
    /// Per detector: suspicion state per (observer, target), as last seen.
    state: [Vec<bool>; 2],
    /// Per detector: when each open false suspicion began.
    open: [Vec<Option<Time>>; 2],
    false_count: [u64; 2],
    false_us: [u64; 2],
    /// Per detector: detection times of crashes, microseconds.
    detections: [Vec<u64>; 2],
    /// Crashed nodes: crash time and the observers that had not yet suspected them.
    crashes: BTreeMap<NodeId, (Time, [Vec<NodeId>; 2])>,
    missed: [u64; 2],
    /// Retransmissions of earlier incarnations, and the last value seen per node.
    retransmissions_done: u64,
    retransmissions_seen: Vec<(u32, u64)>,
    /// Recoveries still open (started at), and finished ones.
    recovering: Vec<Time>,
    recoveries: Vec<u64>,
    unrecovered: u64,
}

const DETECTORS: [Detector; 2] = [Detector::Fixed, Detector::Phi];

impl Metrics {
    fn new(c: &Config) -> Self {
        Metrics {
            budget: Time::from_ms(c.recovery_budget_ms),
            n: 0,
            state: Default::default(),
            open: Default::default(),
            false_count: [0; 2],
            false_us: [0; 2],
            detections: Default::default(),
            crashes: BTreeMap::new(),
            missed: [0; 2],
            retransmissions_done: 0,
            retransmissions_seen: Vec::new(),
            recovering: Vec::new(),
            recoveries: Vec::new(),
            unrecovered: 0,
        }
    }

    fn close_observer(&mut self, a: NodeId, now: Time) {
        let row = a.index() * self.n..(a.index() + 1) * self.n;
        for d in 0..2 {
            for slot in &mut self.open[d][row.clone()] {
                if let Some(since) = slot.take() {
                    self.false_us[d] += now.sub(since).as_us();
                }
            }
            self.state[d][row.clone()].fill(false);
        }
    }
}

fn stats(v: &[u64]) -> serde_json::Value {
    if v.is_empty() {
        return serde_json::json!({"count": 0});
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    serde_json::json!({"count": s.len(), "min_ms": ms(s[0]), "median_ms": ms(s[s.len() / 2]), "max_ms": ms(s[s.len() - 1])})
}

impl Property<Fd> for Metrics {
    fn on_trigger(&mut self, t: &Trigger) {
        match t.kind {
            TriggerKind::Crash => {
                if let Some(x) = t.node {
                    self.crashes.insert(x, (t.at, [Vec::new(), Vec::new()]));
                }
            }
            TriggerKind::Restart
            | TriggerKind::Resume
            | TriggerKind::HealLinks
            | TriggerKind::Heal => {
                self.recovering.push(t.at);
            }
            _ => {}
        }
    }

    fn check(&mut self, view: &View<'_, Fd>, _: Option<&Trigger>) -> Result<(), Failure> {
        let now = view.time;
        if self.n == 0 {
            self.n = view.cluster_size() as usize;
            self.state = [vec![false; self.n * self.n], vec![false; self.n * self.n]];
            self.open = [vec![None; self.n * self.n], vec![None; self.n * self.n]];
            self.retransmissions_seen = vec![(0, 0); self.n];
        }
        let n = self.n;
        // Crashes: fill in the observers once, at the first look after the crash.
        for (x, (at, pending)) in self.crashes.iter_mut() {
            if *at == now && pending[0].is_empty() && pending[1].is_empty() {
                let obs: Vec<NodeId> = view.nodes().filter(|&a| a != *x && view.is_up(a)).collect();
                *pending = [obs.clone(), obs];
            }
        }
        let nodes = touched_nodes(view);
        for a in nodes.clone().map(NodeId) {
            let Some(p) = view.node(a) else {
                self.close_observer(a, now);
                continue;
            };
            let inc = view.incarnation(a);
            let seen = &mut self.retransmissions_seen[a.index()];
            if seen.0 != inc {
                self.retransmissions_done += seen.1;
                *seen = (inc, 0);
            }
            seen.1 = p.retransmissions();
            for (d, det) in DETECTORS.iter().enumerate() {
                for b in view.nodes().filter(|&b| b != a) {
                    let now_suspects = p.suspects_by(*det, b);
                    let cell = a.index() * n + b.index();
                    let was = std::mem::replace(&mut self.state[d][cell], now_suspects);
                    if now_suspects == was {
                        continue;
                    }
                    if now_suspects {
                        if view.status(b) == Status::Down {
                            if let Some((at, pending)) = self.crashes.get_mut(&b) {
                                if let Some(i) = pending[d].iter().position(|&o| o == a) {
                                    pending[d].remove(i);
                                    self.detections[d].push(now.sub(*at).as_us());
                                }
                            }
                        } else {
                            self.false_count[d] += 1;
                            self.open[d][cell] = Some(now);
                        }
                    } else if let Some(since) = self.open[d][cell].take() {
                        self.false_us[d] += now.sub(since).as_us();
                    }
                }
            }
        }
        // A crashed node that came back ends its detection window.
        let back: Vec<NodeId> = self
            .crashes
            .keys()
            .copied()
            .filter(|&x| view.status(x) != Status::Down)
            .collect();
        for x in back {
            if let Some((_, pending)) = self.crashes.remove(&x) {
                self.missed[0] += pending[0].len() as u64;
                self.missed[1] += pending[1].len() as u64;
            }
        }
        if !self.recovering.is_empty() && false_suspicion(view).is_none() {
            for at in self.recovering.drain(..) {
                self.recoveries.push(now.sub(at).as_us());
            }
        }
        let budget = self.budget;
        let before = self.recovering.len();
        self.recovering.retain(|&at| now.sub(at) <= budget);
        self.unrecovered += (before - self.recovering.len()) as u64;
        Ok(())
    }

    fn metrics(&self) -> Vec<(String, serde_json::Value)> {
        let mut m = Vec::new();
        for (d, name) in ["fixed", "phi"].iter().enumerate() {
            let open_count = self.open[d].iter().filter(|o| o.is_some()).count() as u64;
            m.push((format!("{name}.detection"), stats(&self.detections[d])));
            m.push((format!("{name}.crashes_missed"), self.missed[d].into()));
            m.push((
                format!("{name}.false_suspicions"),
                (self.false_count[d]).into(),
            ));
            m.push((
                format!("{name}.false_suspicion_ms"),
                (self.false_us[d] as f64 / 1000.0).into(),
            ));
            m.push((
                format!("{name}.false_suspicions_open_at_end"),
                open_count.into(),
            ));
        }
        let retrans = self.retransmissions_done
            + self
                .retransmissions_seen
                .iter()
                .map(|(_, r)| r)
                .sum::<u64>();
        m.push(("retransmissions".into(), retrans.into()));
        let in_time = self
            .recoveries
            .iter()
            .filter(|&&r| r <= self.budget.as_us())
            .count() as u64;
        let total = self.recoveries.len() as u64 + self.unrecovered + self.recovering.len() as u64;
        m.push(("recovery".into(), stats(&self.recoveries)));
        let rate = if total == 0 {
            serde_json::Value::Null
        } else {
            (in_time as f64 / total as f64).into()
        };
        m.push(("recovery_rate".into(), rate));
        m.push((
            "recoveries_within_budget".into(),
            format!("{in_time}/{total}").into(),
        ));
        m
    }
}
