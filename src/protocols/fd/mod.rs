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
//!   The arithmetic is fixed point ([`crate::base::fixed`]), so runs are identical everywhere.
//!
//! `detector` picks which one the checks judge; the trace and the metrics show both, so one
//! run compares them on the same heartbeats.
//!
//! On top, each node sends numbered application messages to random peers through the
//! [`Reliable`] layer (sequence numbers, acknowledgements, retransmission with backoff,
//! sessions that survive restarts). The layer is a kit component embedded through the
//! `RELIABLE` mount: its wire travels as `Msg::Reliable`, its timer fires as
//! `Timer::Retransmit`, its session cell is `Record::Session`, and what it delivers comes back
//! from each mount call. The application checks what arrives: nothing twice, and in order per
//! sender.
//!
//! Checks: `no_duplicates` and `fifo` (always), `completeness` (every crashed node is
//! suspected by every live node that could reach it, within T of the crash), `accuracy` (no
//! live, reachable, unpaused node is suspected: eventually, and then for good),
//! `all_delivered` (every message sent before the heal reaches its live receiver). The
//! metric `fd_metrics` (not a check) measures detection times, false suspicions,
//! retransmissions and recovery for the summary.
//!
//! Bug switches (`bugs`): `short_timeout` (a fixed timeout shorter than the heartbeat period
//! plus delay), `never_trust_again` (a suspected node stays suspected), `dedup_seq_only` (the
//! delivery layer ignores sessions, so a restarted sender's messages are taken for duplicates).

mod checks;

use crate::kit::component::Mount;
use crate::kit::no_client::NoClient;
use crate::kit::reliable::{self, Delivery, Reliable, ReliableConfig, Retransmit, Wire};
use crate::protocol::fixed::phi_y_threshold;
use crate::protocol::library::{Annotations, Monotonic, MonotonicEach};
use crate::protocol::{
    Ctx, Endpoint, Failure, Invariant, Knob, Liveness, Metric, MetricDef, Monitor, NodeId,
    PropertyDef, Protocol, Shown, Status, Store, Time, Trigger, TriggerKind, View, Vocabulary,
};
use checks::*;
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

/// What the store holds: only the delivery layer's cell.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// The delivery layer's session number, bumped and synced on every start.
    Session(u64),
}

/// How the delivery layer sits inside fd: its wire in `Msg::Reliable`, its timer as
/// `Timer::Retransmit`, its session cell as `Record::Session`.
const RELIABLE: Mount<Fd, Reliable<App>> = Mount {
    msg: Msg::Reliable,
    timer: |Retransmit(to)| Timer::Retransmit(to),
    record: |reliable::Record::Session(s)| Record::Session(s),
    unrecord: |r| match r {
        Record::Session(s) => Some(reliable::Record::Session(*s)),
    },
};

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
    /// Application: messages delivered from the session of `last_delivered`, duplicates
    /// included (what the `no_duplicates` check counts).
    delivered: u64,
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
    peers: Vec<Peer>,
    rd: Reliable<App>,
    anomalies: Vec<Anomaly>,
}

impl Fd {
    /// Whether the given detector suspects `peer`.
    pub fn suspects_by(&self, detector: Detector, peer: NodeId) -> bool {
        match detector {
            Detector::Fixed => self.peers[peer.index()].suspect_fixed,
            Detector::Phi => self.peers[peer.index()].suspect_phi,
        }
    }

    /// Takes what the delivery layer delivered (its sends and timers are already the node's).
    fn delivered(&mut self, deliveries: Vec<Delivery<App>>) {
        for d in deliveries {
            self.deliver(d.from, d.msg);
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
        // A detector serves when it hears a peer: its verdicts rest on fresh evidence.
        ctx.serving();
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

    /// Runs after the delivery layer took its session (synced).
    fn begin(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.annotate("session", self.rd.session());
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
        let mut rc = config.reliable.clone();
        rc.dedup_seq_only |= config.bugs.dedup_seq_only;
        Fd {
            id,
            config: config.clone(),
            phi_y: phi_y_threshold(config.phi_threshold.saturating_mul(1_000)),
            peers: vec![Peer::default(); nodes as usize],
            rd: Reliable::new(nodes, rc),
            anomalies: Vec::new(),
        }
    }

    /// Takes the new bug switches (`dedup_seq_only` reaches the reliable layer); the other
    /// parameters stay as built.
    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.config.bugs = config.bugs.clone();
        self.rd
            .set_dedup_seq_only(self.config.reliable.dedup_seq_only || config.bugs.dedup_seq_only);
        Ok(())
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let out = RELIABLE.start(ctx, &mut self.rd);
        self.delivered(out);
        self.begin(ctx);
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        let out = RELIABLE.recover(ctx, &mut self.rd);
        self.delivered(out);
        self.begin(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let now = ctx.now();
        self.heard(from, now, ctx);
        if let Msg::Reliable(w) = msg {
            let out = RELIABLE.message(ctx, &mut self.rd, from, w);
            self.delivered(out);
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
                            session: self.rd.session(),
                            k: p.sent,
                        };
                        let rd = &mut self.rd;
                        let ((), out) = RELIABLE.run(ctx, |cx| rd.send(cx, to, app));
                        self.delivered(out);
                    }
                    ctx.set_timer(Timer::App, Time::from_ms(self.config.app_interval_ms));
                }
            }
            Timer::Retransmit(to) => {
                let out = RELIABLE.timer(ctx, &mut self.rd, Retransmit(to));
                self.delivered(out);
            }
        }
    }

    fn vocabulary() -> Vocabulary {
        // No clients and no growing number: a detector serves when it hears a peer
        // (`ctx.serving()` in `heard`).
        Vocabulary::none().serves_signal()
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        vec![
            PropertyDef::invariant(
                "no_duplicates",
                "no application message is delivered twice to the same receiver incarnation",
                no_duplicates(),
            )
            .always(),
            PropertyDef::invariant(
                "fifo",
                "application messages from one sender session arrive in the order sent, without gaps",
                fifo,
            )
            .always(),
            PropertyDef::invariant(
                "buffer_ahead",
                "the delivery layer's reorder buffer holds only messages above what it delivered from that sender",
                buffer_ahead,
            )
            .always(),
            PropertyDef::monitor(
                "trusts_on_hearing",
                "a node that hears from a peer stops suspecting it at once, by both detectors",
                TrustsOnHearing::default(),
            )
            .always(),
            PropertyDef::invariant(
                "sends_to_peers",
                "a node sends application messages only to its peers, never to itself",
                sends_to_peers,
            )
            .always(),
            PropertyDef::monitor(
                "annotations_match_state",
                "what a node's trace says it suspects (suspects_fixed, suspects_phi: what explain and the viewer show) is what it suspects",
                Annotations::new(&["suspects_fixed", "suspects_phi"], suspects_shown),
            )
            .always(),
            PropertyDef::invariant(
                "completeness",
                "a crashed node is suspected by every live node that can still send to it (use as `within` after `crash`)",
                completeness,
            ),
            PropertyDef::invariant(
                "accuracy",
                "no live node suspects a live, unpaused node it is linked with both ways (use as `eventually` with `stays`)",
                accuracy,
            ),
            PropertyDef::monitor(
                "all_delivered",
                "every application message sent before the heal between two live nodes has been delivered",
                AllDelivered::default(),
            ),
            PropertyDef::monitor(
                "session_never_goes_back",
                "a node's delivery session never goes down, across restarts too (it is synced before the node sends)",
                Monotonic::durable("session", Fd::session),
            )
            .always(),
            PropertyDef::monitor(
                "send_numbers_never_go_back",
                "per receiver, the delivery layer's (receiver session, next sequence number) never goes down within an incarnation",
                MonotonicEach::volatile("next send number", Fd::sending),
            )
            .always(),
            PropertyDef::monitor(
                "delivered_never_goes_back",
                "per sender, the delivery layer's (sender session, messages delivered) never goes down within an incarnation",
                MonotonicEach::volatile("delivered position", Fd::receiving),
            )
            .always(),
        ]
    }

    /// The timing parameters, each within a range where a correct detector over a LAN
    /// never suspects a live peer for long: the detector the checks judge (so sweeps judge
    /// phi accrual too), the heartbeat and evaluation periods, the fixed timeout (above two
    /// heartbeats) and phi accrual's threshold, window, deviation floor and tolerated pause.
    /// What the detector thinks: the peers the judged detector suspects, and those the other
    /// one would (when each peer was last heard is left out: it changes with every
    /// heartbeat, and the diagram shows the heartbeats themselves).
    fn show(&self, _: &Store<Record>, out: &mut Shown) {
        let others = || {
            self.peers
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != self.id.index())
                .map(|(i, p)| (NodeId(i as u32), p))
        };
        let suspects = |d: Detector| -> Vec<NodeId> {
            others()
                .filter(|(n, _)| self.suspects_by(d, *n))
                .map(|(n, _)| n)
                .collect()
        };
        out.field("suspects", &suspects(self.config.detector));
        let other = match self.config.detector {
            Detector::Fixed => Detector::Phi,
            Detector::Phi => Detector::Fixed,
        };
        out.field("would_suspect_with_the_other_detector", &suspects(other));
    }

    fn knobs() -> Vec<Knob> {
        vec![
            Knob::one_of("detector", &["fixed".into(), "phi".into()]),
            Knob::between("heartbeat_ms", 60, 120),
            Knob::between("check_ms", 5, 20),
            Knob::between("timeout_ms", 260, 500),
            Knob::between("phi_threshold", 8, 12),
            Knob::between("phi_window", 20, 100),
            Knob::between("phi_min_std_ms", 20, 40),
            Knob::between("phi_acceptable_pause_ms", 100, 200),
        ]
    }

    /// After the heal every live node is trusted again by the judged detector, for good,
    /// within ten heartbeat periods (a restarted peer's first heartbeat comes within one, a
    /// silent peer's suspicion is judged every `check_ms`); and every message sent before it
    /// arrives within two capped retransmission timeouts plus eight heartbeat periods (the
    /// backoff may just have doubled to its cap when the links came back).
    fn liveness(c: &Config) -> Liveness {
        Liveness::default()
            .within(
                "accuracy",
                true,
                Time::from_ms(c.heartbeat_ms.saturating_mul(10)),
                "10 × heartbeat_ms",
            )
            .within(
                "all_delivered",
                false,
                Time::from_ms(
                    c.reliable
                        .rto_ms_max
                        .saturating_mul(2)
                        .saturating_add(c.heartbeat_ms.saturating_mul(8)),
                ),
                "2 × reliable.rto_ms_max + 8 × heartbeat_ms",
            )
    }

    fn metrics() -> Vec<MetricDef<Self>> {
        vec![MetricDef {
            name: "fd_metrics",
            description: "detection times, false suspicions, retransmissions and recovery",
            make: |c| Box::new(Metrics::new(c)),
        }]
    }

    fn record_bytes(_: &Record) -> u64 {
        8
    }
}
