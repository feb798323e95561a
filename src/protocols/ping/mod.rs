//! Ping: the demonstration protocol that exercises every part of the engine.
//!
//! Every node pings every other node each `interval_ms` (plus jitter from its own random
//! stream) and answers each ping with a pong. A node counts the pongs it gets from each
//! peer. Clients send `Echo(v)` to any node and expect `Echoed { value: v }` back.
//!
//! The lesson is about incarnations. A ping carries the sender's *boot number*, kept in the
//! durable store and bumped on every start. A pong for boot `b`, sequence `s` is only
//! plausible if this node, in boot `b`, has sent ping `s`. After a crash and restart the boot
//! number goes up, so pongs answering the previous incarnation's pings are recognised and
//! ignored. With the bug switch `skip_boot_sync` the node writes its boot number but never
//! syncs it: after a crash the number goes back, a late pong from the old incarnation looks
//! like an answer to a ping the new one never sent, and the `pong_matches_ping` invariant
//! catches it. That is the same mistake as a Raft node that forgets to sync its term.
//!
//! From the kit: the clients are the closed-loop driver with an echo generator, and the peers
//! heard from are counted with the quorum tally (`peers_heard` is its count).

mod checks;

use crate::kit::quorum::Quorum;
use crate::protocol::library::{Monotonic, MonotonicEach};
use crate::protocol::{
    ClientCtx, ClientId, ClientVerdict as Verdict, Ctx, Driver, Failure, Generator, Knob, Liveness,
    Monitor, NodeId, Outcome, PropertyDef, Protocol, RequestId, Shown, Store, Time, Trigger,
    TriggerKind, View, Vocabulary,
};
use checks::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// Write the boot number but never sync it, so a crash can roll it back.
    pub skip_boot_sync: bool,
}

/// Ping parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Local time between rounds of pings, milliseconds.
    pub interval_ms: u64,
    /// Extra random delay added to each round, up to this many milliseconds.
    pub jitter_ms: u64,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            interval_ms: 100,
            jitter_ms: 20,
            bugs: Bugs::default(),
        }
    }
}

/// Node-to-node messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// "Are you there?", from boot `boot`, round `seq`.
    Ping {
        /// Sender's boot number.
        boot: u64,
        /// Round number within that boot.
        seq: u64,
    },
    /// "Yes", echoing the ping's boot and round.
    Pong {
        /// The boot number of the ping answered.
        boot: u64,
        /// The round of the ping answered.
        seq: u64,
    },
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Time for the next round of pings.
    Round,
}

/// Client requests.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Send this value back.
    Echo(u64),
}

/// Node answers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// The value, and who echoed it.
    Echoed {
        /// The value sent.
        value: u64,
        /// The node that answered.
        by: NodeId,
    },
}

/// What the store holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// The boot number (cell `"boot"`).
    Boot(u64),
}

/// A pong that answers no ping this incarnation sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// Who sent the pong.
    pub from: NodeId,
    /// Its boot number.
    pub boot: u64,
    /// Its round.
    pub seq: u64,
    /// The last round this node had sent to that peer.
    pub sent: u64,
}

/// One ping node.
#[derive(Clone, Debug)]
pub struct Ping {
    id: NodeId,
    config: Config,
    boot: u64,
    round: u64,
    sent: Vec<u64>,
    pongs: Vec<u64>,
    /// The distinct peers this incarnation has had a pong from.
    heard: Quorum,
    anomalies: Vec<Anomaly>,
}

impl Ping {
    fn begin(&mut self, ctx: &mut Ctx<'_, Self>, boot: u64) {
        self.boot = boot;
        ctx.write_cell("boot", Record::Boot(boot));
        if !self.config.bugs.skip_boot_sync {
            ctx.sync();
        }
        ctx.annotate("boot", boot);
        let first = ctx.rng().between(0, self.config.interval_ms);
        ctx.set_timer(Timer::Round, Time::from_ms(first));
    }
}

impl Protocol for Ping {
    const NAME: &'static str = "ping";
    type Config = Config;
    type Msg = Msg;
    type Timer = Timer;
    type Request = Request;
    type Response = Response;
    type Record = Record;
    type Client = Driver<Ping, EchoGenerator>;

    fn new(id: NodeId, nodes: u32, config: &Config) -> Self {
        Ping {
            id,
            config: config.clone(),
            boot: 0,
            round: 0,
            sent: vec![0; nodes as usize],
            pongs: vec![0; nodes as usize],
            heard: Quorum::of(nodes, nodes),
            anomalies: Vec::new(),
        }
    }

    /// Takes the new bug switches; the other parameters stay as built.
    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.config.bugs = config.bugs.clone();
        Ok(())
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.begin(ctx, 1);
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        let last = match ctx.store().cell("boot") {
            Some(Record::Boot(b)) => *b,
            None => 0,
        };
        self.begin(ctx, last + 1);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Ping { boot, seq } => ctx.send(from, Msg::Pong { boot, seq }),
            Msg::Pong { boot, seq } => {
                if boot != self.boot {
                    return; // answers a ping of an earlier incarnation
                }
                let sent = self.sent[from.index()];
                if seq > sent || seq == 0 {
                    self.anomalies.push(Anomaly {
                        from,
                        boot,
                        seq,
                        sent,
                    });
                    return;
                }
                self.pongs[from.index()] += 1;
                if self.heard.add(from) {
                    ctx.annotate("peers_heard", self.heard.count());
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Round => {
                self.round += 1;
                for peer in ctx.peers() {
                    self.sent[peer.index()] = self.round;
                    ctx.send(
                        peer,
                        Msg::Ping {
                            boot: self.boot,
                            seq: self.round,
                        },
                    );
                }
                let jitter = ctx.rng().between(0, self.config.jitter_ms);
                ctx.set_timer(
                    Timer::Round,
                    Time::from_ms(self.config.interval_ms + jitter),
                );
            }
        }
    }

    fn on_request(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        client: ClientId,
        id: RequestId,
        request: Request,
    ) {
        match request {
            Request::Echo(value) => ctx.reply(client, id, Response::Echoed { value, by: self.id }),
        }
    }

    fn vocabulary() -> Vocabulary {
        // Every echo is service.
        Vocabulary::none().serves_replies()
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        vec![
            PropertyDef::invariant(
                "pong_matches_ping",
                "every pong a node accepts answers a ping it sent in this incarnation",
                pong_matches_ping,
            )
            .always(),
            PropertyDef::monitor(
                "echo_correct",
                "every echo that completed ok returned the value that was sent",
                EchoCorrect::default(),
            )
            .always(),
            PropertyDef::monitor(
                "all_connected",
                "every up node has had a pong from every other up node it can reach both ways, since the heal (or the trigger)",
                AllConnected::default(),
            ),
            PropertyDef::invariant("pong_received", "some node received a pong", pong_received),
            PropertyDef::monitor(
                "boot_never_goes_back",
                "a node's boot number never goes down, across restarts too (it is synced at boot); not on by default, since `pong_matches_ping` is the lesson of `skip_boot_sync`",
                Monotonic::durable("boot number", Ping::boot),
            ),
            PropertyDef::monitor(
                "round_never_goes_back",
                "a node's ping round never goes down within an incarnation",
                Monotonic::volatile("round", Ping::round),
            )
            .always(),
            PropertyDef::monitor(
                "pongs_never_go_back",
                "per peer, the pongs a node has counted never go down within an incarnation",
                MonotonicEach::volatile("pong count", Ping::pongs_from),
            )
            .always(),
        ]
    }

    /// The ping period and its jitter, anywhere a LAN round trip fits many times over.
    /// The node's boot count (durable), its round, and the peers it heard a pong from in
    /// this incarnation.
    fn show(&self, _: &Store<Record>, out: &mut Shown) {
        out.field("boot", &self.boot);
        out.field("round", &self.round);
        let heard: Vec<NodeId> = (0..self.sent.len() as u32)
            .map(NodeId)
            .filter(|&p| self.heard.has(p))
            .collect();
        out.field("heard_from", &heard);
    }

    fn knobs() -> Vec<Knob> {
        vec![
            Knob::between("interval_ms", 50, 150),
            Knob::between("jitter_ms", 0, 40),
        ]
    }

    /// After the heal every up node hears a pong from every other within ten of its longest
    /// rounds (a restarted node starts its first round within one), and every echo a client
    /// asks for from then on is answered: a node that pings but never echoes is alive but
    /// useless.
    fn liveness(c: &Config) -> Liveness {
        let rounds = Time::from_ms(c.interval_ms.saturating_add(c.jitter_ms).saturating_mul(10));
        Liveness::default()
            .within(
                "all_connected",
                false,
                rounds,
                "10 × (interval_ms + jitter_ms)",
            )
            .within(
                "ops_after_heal_complete",
                true,
                rounds,
                "10 × (interval_ms + jitter_ms)",
            )
    }

    fn record_bytes(_: &Record) -> u64 {
        8
    }
}

/// Echo workload: client `c` sends increasing values from `c × 1,000,000`, in random steps.
#[derive(Clone, Debug)]
pub struct EchoGenerator {
    next: u64,
}

impl Generator<Ping> for EchoGenerator {
    fn new(client: ClientId, _: &Config) -> Self {
        EchoGenerator {
            next: u64::from(client.0) * 1_000_000,
        }
    }
    fn next_request(&mut self, ctx: &mut ClientCtx<'_, Ping>) -> Request {
        self.next += 1 + ctx.rng().below(10);
        Request::Echo(self.next)
    }
    fn classify(&mut self, _: &Request, _: &Response) -> Verdict {
        Verdict::Ok
    }
    fn sticky(&self) -> bool {
        false // any node can echo: spread the load
    }
}
