//! The fd checks: the properties `properties()` offers to scenarios and the metric
//! `metrics()` reports. `no_duplicates` is the check library's at-most-once property over
//! what the reliable-delivery layer hands the application; the rest are fd's own.

use super::*;
use crate::kit::reliable::{Position, ReliableStats};
use crate::protocol::library::{AtMostOnce, Tally, touched};
use crate::protocol::{Value, ratio};

// What the checks and metrics read of a node, and the application's record of what arrived:
// oracle code, kept here beside the checks rather than in the protocol (mod.rs). The
// application's receive side exists only to be checked (nothing the node does depends on
// what it records), and the mutation routine (tools/mutants.sh) mutates the protocol, not
// its oracle: a sweep of a correct protocol cannot tell a weakened oracle from a sound one.

impl Fd {
    /// Whether this node suspects `peer` by the judged detector.
    pub fn suspects(&self, peer: NodeId) -> bool {
        match self.config.detector {
            Detector::Fixed => self.peers[peer.index()].suspect_fixed,
            Detector::Phi => self.peers[peer.index()].suspect_phi,
        }
    }
    /// This incarnation's session (the delivery layer's).
    pub fn session(&self) -> u64 {
        self.rd.session()
    }
    /// Application messages sent to `peer` in this session.
    pub fn sent_to(&self, peer: NodeId) -> u64 {
        self.peers[peer.index()].sent
    }
    /// The last application message delivered from `peer` in this incarnation.
    pub fn last_delivered(&self, peer: NodeId) -> Option<(u64, u64)> {
        self.peers[peer.index()].last_delivered
    }
    /// The delivery layer's channel to `peer`: its session there and the next number.
    pub fn sending(&self, peer: NodeId) -> Position {
        self.rd.sending(peer)
    }
    /// The delivery layer's channel from `peer`: its session and how much was delivered.
    pub fn receiving(&self, peer: NodeId) -> Position {
        self.rd.receiving(peer)
    }
    /// The lowest sequence number waiting in the delivery layer's reorder buffer for `peer`.
    pub fn lowest_buffered(&self, peer: NodeId) -> Option<u64> {
        self.rd.lowest_buffered(peer)
    }
    /// The delivery layer's counters for this incarnation.
    pub fn delivery_stats(&self) -> ReliableStats {
        self.rd.stats()
    }

    /// The application's record of one message the delivery layer handed up: the last
    /// (session, k) per sender, the count from that session, and every duplicate or
    /// out-of-order arrival (what `no_duplicates` and `fifo` judge).
    pub(super) fn deliver(&mut self, from: NodeId, app: App) {
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
            if before.is_none_or(|b| b.0 != got.0) {
                p.delivered = 0; // a new session of the sender: a new stream to count
            }
            p.last_delivered = Some(got);
        }
        if p.last_delivered.is_some_and(|(s, _)| s == got.0) {
            p.delivered += 1;
        }
    }
}

/// The reliable-delivery layer hands each message of a sender's session up at most once:
/// per sender, the messages delivered from its current session and the highest number among
/// them.
pub(super) fn no_duplicates() -> impl Invariant<Fd> {
    AtMostOnce::new("was handed", "message", |p: &Fd, each| {
        for (i, peer) in p.peers.iter().enumerate() {
            if let Some((session, highest)) = peer.last_delivered {
                each(Tally {
                    source: Endpoint::Node(NodeId(i as u32)),
                    session,
                    applied: peer.delivered,
                    highest,
                });
            }
        }
    })
}

/// Messages from one sender session arrive in order, without gaps: the application records
/// every arrival that breaks the order.
pub(super) fn fifo(view: &View<'_, Fd>, _: Option<&Trigger>) -> Result<(), Failure> {
    for n in touched(view) {
        let Some(p) = view.node(n) else { continue };
        if let Some(a) = p.anomalies.iter().find(|a| !a.duplicate) {
            let before = a
                .before
                .map(|(s, k)| format!("session {s} message {k}"))
                .unwrap_or_else(|| "nothing".into());
            return Err(Failure::new(
                format!(
                    "{n} was handed out of order: session {} message {} from {}, after {before}",
                    a.got.0, a.got.1, a.from
                ),
                vec![n, a.from],
            ));
        }
    }
    Ok(())
}

/// The delivery layer buffers only messages above what it delivered from that sender: one
/// at or below could never be handed up, and would stay in the buffer for good.
pub(super) fn buffer_ahead(view: &View<'_, Fd>, _: Option<&Trigger>) -> Result<(), Failure> {
    for n in touched(view) {
        let Some(p) = view.node(n) else { continue };
        for from in view.nodes() {
            let at = p.receiving(from);
            if let Some(low) = p.lowest_buffered(from).filter(|&low| low <= at.seq) {
                return Err(Failure::new(
                    format!(
                        "{n} holds message {low} from {from} in its reorder buffer, though it delivered up to {at}"
                    ),
                    vec![n, from],
                ));
            }
        }
    }
    Ok(())
}

/// A node that hears from a peer trusts it again at once, by both detectors: after a step
/// in which it heard from a peer (its `last_heard` of that peer moved), it suspects that
/// peer by neither. A monitor, because "heard in this step" is a change: a node's clock
/// stepped back may read a time it already heard at, without hearing anything new.
#[derive(Clone, Default, Hash)]
pub(super) struct TrustsOnHearing {
    /// Per (observer, peer), observer-major: the observer's `last_heard` of the peer, as
    /// last seen.
    heard: Vec<Option<Time>>,
}

impl Monitor<Fd> for TrustsOnHearing {
    /// It reads only the nodes a step touched.
    fn sees_clients(&self) -> bool {
        false
    }

    fn check(&mut self, view: &View<'_, Fd>, _: Option<&Trigger>) -> Result<(), Failure> {
        let n = view.cluster_size() as usize;
        if self.heard.len() != n * n {
            self.heard = vec![None; n * n];
        }
        for a in touched(view) {
            let Some(p) = view.node(a) else { continue };
            for (i, q) in p.peers.iter().enumerate() {
                let cell = &mut self.heard[a.index() * n + i];
                if *cell == q.last_heard {
                    continue;
                }
                *cell = q.last_heard;
                if q.suspect_fixed || q.suspect_phi {
                    let from = NodeId(i as u32);
                    let by = if q.suspect_fixed { "fixed" } else { "phi" };
                    return Err(Failure::new(
                        format!(
                            "{a} heard from {from} just now, and still suspects it ({by} detector)"
                        ),
                        vec![a, from],
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A node sends application messages only to its peers, never to itself.
pub(super) fn sends_to_peers(view: &View<'_, Fd>, _: Option<&Trigger>) -> Result<(), Failure> {
    for n in touched(view) {
        let Some(p) = view.node(n) else { continue };
        let to_self = p.sent_to(n);
        if to_self > 0 {
            return Err(Failure::new(
                format!("{n} sent {to_self} application messages to itself"),
                vec![n],
            ));
        }
    }
    Ok(())
}

/// What a node's `suspects_fixed` and `suspects_phi` annotations must say, by its state: the
/// suspected peers, `n1,n3`. No claim while it suspects nobody (a node that never suspected
/// anyone never annotated, and a restarted node starts trusting everyone).
pub(super) fn suspects_shown(fd: &Fd, key: &'static str) -> Option<Value> {
    let detector = match key {
        "suspects_fixed" => Detector::Fixed,
        _ => Detector::Phi,
    };
    let suspected = |n: &NodeId| match detector {
        Detector::Fixed => fd.peers[n.index()].suspect_fixed,
        Detector::Phi => fd.peers[n.index()].suspect_phi,
    };
    let mut names = (0..fd.peers.len() as u32).map(NodeId).filter(suspected);
    // Checked after every step: build the text only when someone is suspected.
    let first = names.next()?;
    let mut text = first.to_string();
    for n in names {
        text.push(',');
        text.push_str(&n.to_string());
    }
    Some(Value::Text(text))
}

/// A crashed node is suspected by every live node that can still send to it (the trigger's
/// node for a within-check, every down node otherwise).
pub(super) fn completeness(view: &View<'_, Fd>, trigger: Option<&Trigger>) -> Result<(), Failure> {
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

/// A live node `a` wrongly suspects live node `b`, which it is linked with both ways.
pub(super) fn false_suspicion(view: &View<'_, Fd>) -> Option<(NodeId, NodeId)> {
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

/// No live node suspects a live node it is linked with both ways.
pub(super) fn accuracy(view: &View<'_, Fd>, _: Option<&Trigger>) -> Result<(), Failure> {
    match false_suspicion(view) {
        Some((a, b)) => Err(Failure::new(
            format!("{a} suspects {b}, which is up and reachable"),
            vec![a, b],
        )),
        None => Ok(()),
    }
}

/// Every message sent before the heal reaches its live receiver: a monitor that records
/// every delivery, to any incarnation, from the first step on.
#[derive(Clone, Default, Hash)]
pub(super) struct AllDelivered {
    /// Highest message delivered, per (sender, receiver, sender session), over every
    /// receiver incarnation.
    delivered: BTreeMap<(NodeId, NodeId, u64), u64>,
    /// Per (receiver, sender), receiver-major: the last delivery as last seen, so a step
    /// that delivered nothing costs no map update.
    seen: Vec<Option<(u64, u64)>>,
    /// What had to be delivered: taken at the first look after the heal.
    owed: Option<Vec<(NodeId, NodeId, u64, u64)>>,
}

impl AllDelivered {
    fn record(&mut self, view: &View<'_, Fd>) {
        let n = view.cluster_size() as usize;
        if self.seen.len() != n * n {
            self.seen = vec![None; n * n];
        }
        for b in touched(view) {
            let Some(p) = view.node(b) else { continue };
            for a in view.nodes() {
                let last = p.last_delivered(a);
                let cell = &mut self.seen[b.index() * n + a.index()];
                if *cell == last {
                    continue;
                }
                *cell = last;
                if let Some((s, k)) = last {
                    let e = self.delivered.entry((a, b, s)).or_insert(0);
                    *e = (*e).max(k);
                }
            }
        }
    }
}

impl Monitor<Fd> for AllDelivered {
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
pub(super) struct Metrics {
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
    /// Per detector: at each detection of a crash, how long the observer had not heard from
    /// the crashed node, on its own clock, microseconds (the silence the detector tolerated:
    /// unlike the detection time, it does not depend on where in its heartbeat period the
    /// node crashed).
    silences: [Vec<u64>; 2],
    /// Crashed nodes: crash time and the observers that had not yet suspected them.
    crashes: BTreeMap<NodeId, (Time, [Vec<NodeId>; 2])>,
    missed: [u64; 2],
    /// The delivery layer's counters of earlier incarnations, summed, and the last ones seen
    /// per node (with the incarnation they belong to).
    delivery_done: ReliableStats,
    delivery_seen: Vec<(u32, ReliableStats)>,
    /// Recoveries still open (started at), and finished ones.
    recovering: Vec<Time>,
    recoveries: Vec<u64>,
    unrecovered: u64,
    /// Per (sender, receiver), sender-major: application messages sent and not yet seen
    /// delivered, oldest first, as (sender session, number, sent at); at most
    /// `IN_FLIGHT_MAX` each (the oldest are forgotten beyond).
    in_flight: Vec<VecDeque<(u64, u64, Time)>>,
    /// Per (sender, receiver): the sender's session and count of messages sent, as last seen.
    sent_seen: Vec<(u64, u64)>,
    /// Delivery latency of application messages, from the send to the hand-up: how many,
    /// their sum and the largest, microseconds.
    latency: (u64, u64, u64),
}

/// How many undelivered messages per channel the latency metric remembers.
const IN_FLIGHT_MAX: usize = 4096;

impl Metrics {
    pub(super) fn new(c: &Config) -> Self {
        Metrics {
            budget: Time::from_ms(c.recovery_budget_ms),
            n: 0,
            state: Default::default(),
            open: Default::default(),
            false_count: [0; 2],
            false_us: [0; 2],
            detections: Default::default(),
            silences: Default::default(),
            crashes: BTreeMap::new(),
            missed: [0; 2],
            delivery_done: ReliableStats::default(),
            delivery_seen: Vec::new(),
            recovering: Vec::new(),
            recoveries: Vec::new(),
            unrecovered: 0,
            in_flight: Vec::new(),
            sent_seen: Vec::new(),
            latency: (0, 0, 0),
        }
    }

    /// Application messages node `a` (state `p`) sent or was handed since the last look.
    fn track_latency(&mut self, a: NodeId, p: &Fd, now: Time) {
        let n = self.n;
        let session = p.session();
        for (bi, peer) in p.peers.iter().enumerate().take(n) {
            if bi == a.index() {
                continue;
            }
            let out = a.index() * n + bi;
            let count = peer.sent;
            let seen = &mut self.sent_seen[out];
            if *seen != (session, count) {
                let from = if seen.0 == session { seen.1 } else { 0 };
                for k in from + 1..=count {
                    let q = &mut self.in_flight[out];
                    if q.len() == IN_FLIGHT_MAX {
                        q.pop_front();
                    }
                    q.push_back((session, k, now));
                }
                *seen = (session, count);
            }
            let Some(got) = peer.last_delivered else {
                continue;
            };
            let b = NodeId(bi as u32);
            let q = &mut self.in_flight[b.index() * n + a.index()];
            while let Some(&(s, _, at)) = q.front().filter(|&&(s, k, _)| (s, k) <= got) {
                q.pop_front();
                if s == got.0 {
                    let us = now.sub(at).as_us();
                    self.latency.0 += 1;
                    self.latency.1 += us;
                    self.latency.2 = self.latency.2.max(us);
                }
            }
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

/// Adds the delivery layer's counters `b` to `a`.
fn add(a: &mut ReliableStats, b: &ReliableStats) {
    a.sent += b.sent;
    a.retransmitted += b.retransmitted;
    a.duplicates_dropped += b.duplicates_dropped;
    a.stale_dropped += b.stale_dropped;
    a.delivered += b.delivered;
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

impl Metric<Fd> for Metrics {
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

    fn observe(&mut self, view: &View<'_, Fd>) {
        let now = view.time;
        if self.n == 0 {
            self.n = view.cluster_size() as usize;
            self.state = [vec![false; self.n * self.n], vec![false; self.n * self.n]];
            self.open = [vec![None; self.n * self.n], vec![None; self.n * self.n]];
            self.delivery_seen = vec![(0, ReliableStats::default()); self.n];
            self.in_flight = vec![VecDeque::new(); self.n * self.n];
            self.sent_seen = vec![(0, 0); self.n * self.n];
        }
        let n = self.n;
        // Crashes: fill in the observers once, at the first look after the crash.
        for (x, (at, pending)) in self.crashes.iter_mut() {
            if *at == now && pending[0].is_empty() && pending[1].is_empty() {
                let obs: Vec<NodeId> = view.nodes().filter(|&a| a != *x && view.is_up(a)).collect();
                *pending = [obs.clone(), obs];
            }
        }
        for a in touched(view) {
            let Some(p) = view.node(a) else {
                self.close_observer(a, now);
                continue;
            };
            let inc = view.incarnation(a);
            let seen = &mut self.delivery_seen[a.index()];
            if seen.0 != inc {
                add(&mut self.delivery_done, &seen.1);
                *seen = (inc, ReliableStats::default());
            }
            seen.1 = p.delivery_stats();
            self.track_latency(a, p, now);
            // Peer by peer, both detectors at once, straight from the peer table: a step
            // that changed no suspicion (nearly every one) costs one comparison per cell.
            for (bi, q) in p.peers.iter().enumerate().take(n) {
                if bi == a.index() {
                    continue;
                }
                let b = NodeId(bi as u32);
                let cell = a.index() * n + bi;
                for (d, now_suspects) in [q.suspect_fixed, q.suspect_phi].into_iter().enumerate() {
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
                                    if let Some(last) = p.peers[b.index()].last_heard {
                                        let silence = view.local_time(a).sub(last);
                                        self.silences[d].push(silence.as_us());
                                    }
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
        if !self.crashes.is_empty() {
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
    }

    fn report(&self) -> Vec<(String, serde_json::Value)> {
        let mut m = Vec::new();
        for (d, name) in ["fixed", "phi"].iter().enumerate() {
            let open_count = self.open[d].iter().filter(|o| o.is_some()).count() as u64;
            m.push((format!("{name}.detection"), stats(&self.detections[d])));
            m.push((
                format!("{name}.detection_silence"),
                stats(&self.silences[d]),
            ));
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
        let mut delivery = self.delivery_done;
        for (_, s) in &self.delivery_seen {
            add(&mut delivery, s);
        }
        m.push(("retransmissions".into(), delivery.retransmitted.into()));
        let (count, sum, max) = self.latency;
        let ms = |us: u64| us as f64 / 1000.0;
        m.push((
            "delivery.latency".into(),
            if count == 0 {
                serde_json::json!({"count": 0})
            } else {
                serde_json::json!({"count": count, "mean_ms": ms(sum / count), "max_ms": ms(max)})
            },
        ));
        m.push(("delivery.sent".into(), delivery.sent.into()));
        m.push(("delivery.delivered".into(), delivery.delivered.into()));
        m.push((
            "delivery.duplicates_dropped".into(),
            delivery.duplicates_dropped.into(),
        ));
        m.push((
            "delivery.stale_dropped".into(),
            delivery.stale_dropped.into(),
        ));
        let in_time = self
            .recoveries
            .iter()
            .filter(|&&r| r <= self.budget.as_us())
            .count() as u64;
        let total = self.recoveries.len() as u64 + self.unrecovered + self.recovering.len() as u64;
        m.push(("recovery".into(), stats(&self.recoveries)));
        m.push(("recovery_rate".into(), ratio(in_time, total)));
        m.push((
            "recoveries_within_budget".into(),
            format!("{in_time}/{total}").into(),
        ));
        m
    }
}
