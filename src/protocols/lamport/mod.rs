//! Lamport's mutual exclusion: the algorithm of "Time, Clocks, and the Ordering of Events in
//! a Distributed System" (CACM 21(7), 1978), on the simulator's logical-clock service.
//!
//! The paper's point is that a total order of events, built from logical clocks alone, is
//! enough to share a resource without a coordinator. Every node keeps a queue of requests
//! ordered by (Lamport timestamp, node id), the relation the paper writes `⇒`:
//!
//! 1. To ask for the resource, a node sends `request(T, i)` to every other node (one send
//!    event, stamped `T`) and puts it in its own queue.
//! 2. A node that receives `request(T, j)` puts it in its queue and sends a stamped
//!    acknowledgement back.
//! 3. To release, a node removes its request from its queue and sends a stamped `release` to
//!    every other node.
//! 4. A node that receives `release` from `j` removes `j`'s request from its queue.
//! 5. A node enters when (i) its own request heads its queue and (ii) it has received a
//!    message from every other node stamped later than its request.
//!
//! Rule 5(ii) relies on FIFO channels: once a message stamped after `T` has come from `j`,
//! every request `j` made before it is already queued. The paper assumes reliable FIFO
//! channels; this implementation builds them itself: every message on a channel carries a
//! sequence number, the receiver acknowledges the highest it has delivered in order (the
//! transport's acknowledgements are not the algorithm's, and carry no stamp), keeps early
//! arrivals in a buffer, and the sender resends what is unacknowledged every `resend_ms`.
//! Every copy of a stamped message that arrives is *observed* (a receive event for the clock
//! service) before the channel decides whether to deliver, buffer or drop it: the clock
//! service counts a message as received when it arrives at the node. The kit's reliable
//! delivery component would hide early and duplicate copies from the host, which then could
//! not observe them.
//!
//! Crashes are not tolerated, as in the paper: a node that crashes holding the resource
//! blocks everyone, and a restarted node has forgotten the queue (it could enter while
//! another node is inside). The swarm scenario therefore draws no crashes (`"crashes":
//! false`); pauses, partitions, loss, duplicates, long delays and clock faults stay in. The
//! logical clocks survive a crash anyway (the service keeps them).
//!
//! Clients: a client's `acquire` is answered `granted` when the node it asked enters the
//! critical section on its behalf; the node leaves `hold_ms` later, by itself. A node serves
//! one client at a time and keeps the others waiting in arrival order.
//!
//! Checks: `mutual_exclusion` (at most one node inside, always), the clock service's
//! `happens_before` (built in: every node's vector clock equals its true vector time at
//! every clock event, and Lamport times grow along every message), and `requests_granted`
//! (after the heal every node that was waiting enters: liveness, owed by the swarm).
//!
//! Bug switches (`protocol.params.bugs`):
//! - `skip_merge`: an acknowledgement is received without `observe` (the clocks do not
//!   merge it). Caught by `happens_before`.
//! - `no_tiebreak`: requests with equal timestamps are ordered by arrival, not by node id;
//!   two nodes that stamp the same time each put their own request first. Caught by
//!   `mutual_exclusion`.
//! - `enter_early`: a node enters as soon as its request heads its queue, without waiting
//!   for a later message from every other node (rule 5(ii)); a request still in flight is
//!   not yet in the queue. Caught by `mutual_exclusion`.

mod checks;
#[cfg(test)]
mod tests;

use crate::protocol::{
    ClientCtx, ClientId, ConfigError, Ctx, Driver, Generator, Knob, Liveness, NodeId, PropertyDef,
    Protocol, RequestId, Shown, Stamp, Store, Time, Vocabulary,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// Acknowledgements are received without `observe`.
    pub skip_merge: bool,
    /// Equal timestamps are ordered by arrival, not by node id.
    pub no_tiebreak: bool,
    /// Enter when the own request heads the queue, without a later message from every peer.
    pub enter_early: bool,
}

/// Parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How long a node stays in the critical section, milliseconds.
    pub hold_ms: u64,
    /// Unacknowledged channel messages are sent again this often, milliseconds.
    pub resend_ms: u64,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hold_ms: 10,
            resend_ms: 30,
            bugs: Bugs::default(),
        }
    }
}

/// Most client requests a node keeps waiting; more are dropped (the client retries).
pub const WAITING_MAX: usize = 64;

/// What the algorithm sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Rule 1: "may I?", stamped with the request's timestamp.
    Request,
    /// Rule 2: the acknowledgement of a request.
    Ack,
    /// Rule 3: "I am done".
    Release,
}

/// One algorithm message with its stamp.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Body {
    /// What it says.
    pub kind: Kind,
    /// The sender's clocks at the send.
    pub stamp: Stamp,
}

/// What goes on the wire: channel messages and the channel's acknowledgements.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// An algorithm message, number `seq` on its channel (from 1).
    Data {
        /// Position on the channel.
        seq: u64,
        /// The message.
        body: Body,
    },
    /// "I have delivered everything up to `seq` from you" (no stamp: not an event).
    Got {
        /// Highest position delivered in order.
        seq: u64,
    },
}

/// The one timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Resend what is unacknowledged.
    Resend,
    /// Leave the critical section.
    Leave,
}

/// What clients ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Enter the critical section.
    Acquire,
}

/// What nodes answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Entered, with the request's timestamp.
    Granted {
        /// The Lamport timestamp of the request that was granted.
        at: u64,
    },
}

/// One direction of a channel to a peer.
#[derive(Clone, Debug, Default, Hash)]
struct Channel {
    /// Next position to send.
    next: u64,
    /// Sent and not acknowledged, by position.
    unacked: VecDeque<(u64, Body)>,
    /// Highest position delivered in order from the peer.
    delivered: u64,
    /// Arrived early from the peer, by position.
    early: BTreeMap<u64, Body>,
}

/// A queued request: its timestamp, then (with the tie-break) the node, or (without it) the
/// order it arrived in.
type Entry = (u64, u64, NodeId);

/// One node.
#[derive(Clone, Debug)]
pub struct Lamport {
    id: NodeId,
    config: Config,
    channels: Vec<Channel>,
    /// The request queue, ordered by `Entry`.
    queue: BTreeSet<Entry>,
    /// Arrivals counted, for the order without the tie-break.
    arrivals: u64,
    /// The highest stamp received from each node.
    latest: Vec<u64>,
    /// This node's own request while it has one: its queue entry.
    mine: Option<Entry>,
    /// The client served by `mine`.
    serving: Option<(ClientId, RequestId)>,
    /// Clients waiting for their turn.
    waiting: VecDeque<(ClientId, RequestId)>,
    inside: bool,
    grants: u64,
}

impl Lamport {
    fn entry(&self, ts: u64, node: NodeId) -> Entry {
        if self.config.bugs.no_tiebreak {
            (ts, self.arrivals, node)
        } else {
            (ts, u64::from(node.0), node)
        }
    }

    /// Sends `kind` to `to` on its channel, with `stamp`.
    fn send(&mut self, ctx: &mut Ctx<'_, Self>, to: NodeId, kind: Kind, stamp: &Stamp) {
        let ch = &mut self.channels[to.index()];
        ch.next += 1;
        let body = Body {
            kind,
            stamp: stamp.clone(),
        };
        ch.unacked.push_back((ch.next, body.clone()));
        ctx.send(to, Msg::Data { seq: ch.next, body });
    }

    fn start_next(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.mine.is_some() {
            return;
        }
        let Some(who) = self.waiting.pop_front() else {
            return;
        };
        self.serving = Some(who);
        // Rule 1: one send event, the same stamp to every peer.
        let stamp = ctx.stamp();
        self.arrivals += 1;
        let entry = self.entry(stamp.lamport, self.id);
        self.queue.insert(entry);
        self.mine = Some(entry);
        for to in ctx.peers() {
            self.send(ctx, to, Kind::Request, &stamp);
        }
        ctx.annotate("mutex", "wanting");
        ctx.annotate("request", stamp.lamport);
        self.try_enter(ctx);
    }

    /// Rule 5.
    fn try_enter(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(mine) = self.mine else { return };
        if self.inside || self.queue.first() != Some(&mine) {
            return;
        }
        let heard = ctx
            .peers()
            .all(|p| self.latest[p.index()] > mine.0 || self.config.bugs.enter_early);
        if !heard {
            return;
        }
        ctx.clock_event();
        self.inside = true;
        self.grants += 1;
        ctx.annotate("mutex", "holder");
        ctx.annotate("grants", self.grants);
        if let Some((client, id)) = self.serving {
            ctx.reply(client, id, Response::Granted { at: mine.0 });
        }
        ctx.set_timer(Timer::Leave, Time::from_ms(self.config.hold_ms));
    }

    /// Rule 3.
    fn leave(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.inside {
            return;
        }
        self.inside = false;
        if let Some(mine) = self.mine.take() {
            self.queue.remove(&mine);
        }
        self.serving = None;
        let stamp = ctx.stamp();
        for to in ctx.peers() {
            self.send(ctx, to, Kind::Release, &stamp);
        }
        ctx.annotate("mutex", "idle");
        self.start_next(ctx);
    }

    /// An algorithm message delivered in order from `from`.
    fn handle(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, body: Body) {
        let ts = body.stamp.lamport;
        let seen = &mut self.latest[from.index()];
        *seen = (*seen).max(ts);
        match body.kind {
            Kind::Request => {
                self.arrivals += 1;
                let entry = self.entry(ts, from);
                // A node has one request at a time: drop an older one still queued.
                self.queue.retain(|e| e.2 != from);
                self.queue.insert(entry);
                let stamp = ctx.stamp();
                self.send(ctx, from, Kind::Ack, &stamp);
            }
            Kind::Ack => {}
            Kind::Release => self.queue.retain(|e| e.2 != from),
        }
        self.try_enter(ctx);
    }
}

impl Protocol for Lamport {
    const NAME: &'static str = "lamport";
    type Config = Config;
    type Msg = Msg;
    type Timer = Timer;
    type Request = Request;
    type Response = Response;
    type Record = ();
    type Client = Driver<Lamport, Acquirer>;

    fn new(id: NodeId, nodes: u32, config: &Config) -> Self {
        Lamport {
            id,
            config: config.clone(),
            channels: vec![Channel::default(); nodes as usize],
            queue: BTreeSet::new(),
            arrivals: 0,
            latest: vec![0; nodes as usize],
            mine: None,
            serving: None,
            waiting: VecDeque::new(),
            inside: false,
            grants: 0,
        }
    }

    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.config.bugs = config.bugs.clone();
        Ok(())
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.annotate("mutex", "idle");
        ctx.set_timer(Timer::Resend, Time::from_ms(self.config.resend_ms));
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Got { seq } => {
                let ch = &mut self.channels[from.index()];
                while ch.unacked.front().is_some_and(|(s, _)| *s <= seq) {
                    ch.unacked.pop_front();
                }
            }
            Msg::Data { seq, body } => {
                // Every copy that arrives is a receive event, delivered in order or not.
                if !(self.config.bugs.skip_merge && body.kind == Kind::Ack) {
                    ctx.observe(&body.stamp);
                }
                let ch = &mut self.channels[from.index()];
                if seq > ch.delivered {
                    ch.early.insert(seq, body);
                }
                let mut ready = Vec::new();
                while let Some(body) = ch.early.remove(&(ch.delivered + 1)) {
                    ch.delivered += 1;
                    ready.push(body);
                }
                let got = ch.delivered;
                ctx.send(from, Msg::Got { seq: got });
                for body in ready {
                    self.handle(ctx, from, body);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Resend => {
                for to in ctx.peers() {
                    for (seq, body) in &self.channels[to.index()].unacked {
                        let (seq, body) = (*seq, body.clone());
                        ctx.send(to, Msg::Data { seq, body });
                    }
                }
                ctx.set_timer(Timer::Resend, Time::from_ms(self.config.resend_ms));
            }
            Timer::Leave => self.leave(ctx),
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, client: ClientId, id: RequestId, _: Request) {
        let who = (client, id);
        if self.serving == Some(who) {
            if self.inside {
                let at = self.mine.map_or(0, |m| m.0);
                ctx.reply(client, id, Response::Granted { at });
            }
            return;
        }
        if self.waiting.contains(&who) || self.waiting.len() >= WAITING_MAX {
            return;
        }
        self.waiting.push_back(who);
        self.start_next(ctx);
    }

    fn check_config(config: &Config, _: u32) -> Result<(), ConfigError> {
        for (field, value) in [("hold_ms", config.hold_ms), ("resend_ms", config.resend_ms)] {
            if !(1..=60_000).contains(&value) {
                return Err(ConfigError::new(
                    field,
                    format!("{value} ms: give 1 to 60000"),
                ));
            }
        }
        Ok(())
    }

    fn stamp_of(msg: &Msg) -> Option<&Stamp> {
        match msg {
            Msg::Data { body, .. } => Some(&body.stamp),
            Msg::Got { .. } => None,
        }
    }

    /// The queue as `timestamp:node` in order, the own request, whether inside, and the
    /// highest stamp heard from each node (the clocks themselves are shown by the service).
    fn show(&self, _: &Store<()>, out: &mut Shown) {
        let queue: Vec<String> = self
            .queue
            .iter()
            .map(|(ts, _, n)| format!("{ts}:{n}"))
            .collect();
        out.field("queue", &queue);
        out.field("request", &self.mine.map(|m| m.0));
        out.field("inside", &self.inside);
        out.field("heard", &self.latest);
        out.field("waiting", &self.waiting.len());
    }

    fn vocabulary() -> Vocabulary {
        Vocabulary::none()
            .role("mutex", &["holder"], &["wanting"])
            .progress(&["grants"])
            .serves_replies()
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        checks::properties()
    }

    fn knobs() -> Vec<Knob> {
        vec![
            Knob::between("hold_ms", 1, 40),
            Knob::between("resend_ms", 10, 80),
        ]
    }

    /// After the heal every node that waits enters: one resend brings the channels up to
    /// date, and each node ahead of it holds for `hold_ms` and needs a few round trips.
    fn liveness(c: &Config) -> Liveness {
        let budget = c
            .resend_ms
            .saturating_mul(20)
            .saturating_add(c.hold_ms.saturating_mul(10))
            .saturating_add(500);
        Liveness::default().within(
            "requests_granted",
            false,
            Time::from_ms(budget),
            "20 × resend_ms + 10 × hold_ms + 500 ms",
        )
    }

    fn record_bytes(_: &()) -> u64 {
        0
    }
}

/// The workload: every operation is an `acquire`.
#[derive(Clone, Debug, Hash)]
pub struct Acquirer;

impl Generator<Lamport> for Acquirer {
    fn new(_: ClientId, _: &Config) -> Self {
        Acquirer
    }

    fn next_request(&mut self, _: &mut ClientCtx<'_, Lamport>) -> Request {
        Request::Acquire
    }

    fn classify(&mut self, _: &Request, _: &Response) -> crate::protocol::ClientVerdict {
        crate::protocol::ClientVerdict::Ok
    }

    fn sticky(&self) -> bool {
        false
    }
}
