//! The component mechanism of the kit, end to end: a tiny host protocol embeds a tiny
//! component with its own messages, timer and durable cell, and runs in a `Simulation`. The
//! component's traffic travels inside the host's messages, its timer fires as the host's, its
//! cell survives a crash in the host's store, and what it hands up reaches the host.
//! A second test holds a host's `Ctx` by hand and reads the effects a stateless component's
//! calls turned into, in order.

mod common;

use common::MemSink;
use faultline::base::rng::{Rng, Stream};
use faultline::check::PropertyDef;
use faultline::faults::{Fault, ScheduledFault};
use faultline::kit::component::{CompCtx, Component, Mount, NoRecord};
use faultline::kit::no_client::NoClient;
use faultline::protocol::{Ctx, Effect, NodeId, Protocol, Time, Value};
use faultline::sim::{SimConfig, Simulation, Verdict};
use faultline::storage::Store;
use serde::{Deserialize, Serialize};

/// The component: every node keeps the highest number it has seen, durably, and gossips it.
#[derive(Clone, Debug, Default)]
struct MaxGossip {
    value: u64,
}

/// The component's timer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
struct Gossip;

impl MaxGossip {
    /// The component's own input: a number proposed by its host.
    fn propose(&mut self, cx: &mut CompCtx<'_, Self>, v: u64) {
        self.raise(cx, v);
    }

    fn raise(&mut self, cx: &mut CompCtx<'_, Self>, v: u64) {
        if v > self.value {
            self.value = v;
            cx.write_cell("max", v);
            cx.sync();
            cx.output(v);
        }
    }
}

impl Component for MaxGossip {
    type Msg = u64;
    type Timer = Gossip;
    type Record = u64;
    type Output = u64;

    fn on_start(&mut self, cx: &mut CompCtx<'_, Self>) {
        cx.set_timer(Gossip, Time::from_ms(50));
    }
    fn on_recover(&mut self, cx: &mut CompCtx<'_, Self>) {
        self.value = cx.cell("max").unwrap_or(0);
        self.on_start(cx);
    }
    fn on_message(&mut self, cx: &mut CompCtx<'_, Self>, _: NodeId, v: u64) {
        self.raise(cx, v);
    }
    fn on_timer(&mut self, cx: &mut CompCtx<'_, Self>, _: Gossip) {
        cx.broadcast(self.value);
        cx.set_timer(Gossip, Time::from_ms(50));
    }
}

/// The host's messages: its own, and the component's inside.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
enum Msg {
    Hello,
    Part(u64),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
enum Timer {
    Tick,
    Part(Gossip),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    Part(u64),
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Config {}

/// The host: proposes random numbers for half a second, says hello, and remembers what the
/// component handed up.
#[derive(Clone, Debug)]
struct Host {
    part: MaxGossip,
    proposed: Vec<u64>,
    raised: Vec<u64>,
    hellos: u64,
    recovered: Option<u64>,
}

const PART: Mount<Host, MaxGossip> = Mount {
    msg: Msg::Part,
    timer: Timer::Part,
    record: Record::Part,
    unrecord: |r| match r {
        Record::Part(v) => Some(*v),
    },
};

impl Host {
    fn handed_up(&mut self, ctx: &mut Ctx<'_, Self>, outputs: Vec<u64>) {
        for v in outputs {
            self.raised.push(v);
            ctx.annotate("max", v);
        }
    }
}

impl Protocol for Host {
    const NAME: &'static str = "host";
    type Config = Config;
    type Msg = Msg;
    type Timer = Timer;
    type Request = ();
    type Response = ();
    type Record = Record;
    type Client = NoClient;

    fn new(_: NodeId, _: u32, _: &Config) -> Self {
        Host {
            part: MaxGossip::default(),
            proposed: Vec::new(),
            raised: Vec::new(),
            hellos: 0,
            recovered: None,
        }
    }
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let out = PART.start(ctx, &mut self.part);
        self.handed_up(ctx, out);
        ctx.set_timer(Timer::Tick, Time::from_ms(10));
    }
    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        let out = PART.recover(ctx, &mut self.part);
        self.recovered = Some(self.part.value);
        self.handed_up(ctx, out);
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Hello => self.hellos += 1,
            Msg::Part(v) => {
                let out = PART.message(ctx, &mut self.part, from, v);
                self.handed_up(ctx, out);
            }
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Tick => {
                let v = 1 + ctx.rng().below(1_000_000);
                self.proposed.push(v);
                let part = &mut self.part;
                let ((), out) = PART.run(ctx, |cx| part.propose(cx, v));
                self.handed_up(ctx, out);
                ctx.broadcast(Msg::Hello);
                if ctx.now() < Time::from_ms(500) {
                    ctx.set_timer(Timer::Tick, Time::from_ms(100));
                }
            }
            Timer::Part(t) => {
                let out = PART.timer(ctx, &mut self.part, t);
                self.handed_up(ctx, out);
            }
        }
    }
    fn properties() -> Vec<PropertyDef<Self>> {
        Vec::new()
    }
    fn record_bytes(_: &Record) -> u64 {
        8
    }
}

fn config() -> SimConfig<Host> {
    let mut c = SimConfig::new(3, 7);
    c.time_limit = Time::from_secs(3);
    c.faults = [
        (1_000, Fault::Crash(NodeId(2))),
        (1_400, Fault::Restart(NodeId(2))),
    ]
    .into_iter()
    .map(|(ms, fault)| ScheduledFault::new(ms * 1_000, None, fault))
    .collect();
    c
}

#[test]
fn a_host_runs_an_embedded_component_through_its_mount() {
    let sink = MemSink::default();
    let mut sim = Simulation::new(config(), Some(Box::new(sink.clone()))).expect("valid config");
    sim.run_until(Time::from_ms(990));
    let before_crash = sim.node(NodeId(2)).expect("up").part.value;
    let report = sim.run();
    assert!(
        matches!(report.verdict, Verdict::Pass),
        "{:?}",
        report.verdict
    );

    let nodes: Vec<&Host> = (0..3)
        .map(|i| sim.node(NodeId(i)).expect("every node is up at the end"))
        .collect();
    // The proposals of the incarnation that crashed are gone with it; the survivors' and the
    // restarted node's own are enough to know the maximum is at least theirs.
    let highest = nodes
        .iter()
        .flat_map(|h| h.proposed.iter().copied())
        .max()
        .expect("proposals");
    for (i, h) in nodes.iter().enumerate() {
        assert!(
            h.part.value >= highest && h.part.value == nodes[0].part.value,
            "node {i} holds {} (node 0 holds {}, highest proposal {highest})",
            h.part.value,
            nodes[0].part.value
        );
        // (Node 2 restarted after the others stopped saying hello.)
        assert!(
            i == 2 || h.hellos > 0,
            "the host's own messages flow beside the component's"
        );
        // The host's store holds the component's cell, wrapped in the host's record.
        assert_eq!(
            sim.store(NodeId(i as u32)).cell("max"),
            Some(&Record::Part(h.part.value))
        );
    }
    // What the component handed up reached the host, in increasing order.
    assert!(nodes[0].raised.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(nodes[0].raised.last(), Some(&nodes[0].part.value));
    // The restarted node read its synced cell back before hearing from anyone.
    assert_eq!(nodes[2].recovered, Some(before_crash));
    assert!(before_crash > 0);

    let records = sink.records();
    let of = |ev: &'static str| records.iter().filter(move |r| r["ev"] == ev);
    assert!(
        of("send").any(|r| r["msg"]["peer"]["part"].is_u64()),
        "the component's messages travel wrapped in the host's"
    );
    assert!(of("send").any(|r| r["msg"]["peer"] == "hello"));
    assert!(
        of("timer").any(|r| r["timer"]["part"].is_null() && r["timer"].get("part").is_some()),
        "the component's timer fires as the host's"
    );
    assert!(of("note").any(|r| r["key"] == "max"));
}

/// A component that keeps nothing durable: it beacons a count and reports who beaconed.
#[derive(Debug, Default)]
struct Beacon {
    count: u64,
}

impl Component for Beacon {
    type Msg = u64;
    type Timer = Gossip;
    type Record = NoRecord;
    type Output = (NodeId, u64);

    fn on_message(&mut self, cx: &mut CompCtx<'_, Self>, from: NodeId, n: u64) {
        assert!(
            cx.cell("anything").is_none(),
            "a stateless mount reads no cells"
        );
        cx.annotate("beacon", n);
        cx.output((from, n));
    }
    fn on_timer(&mut self, cx: &mut CompCtx<'_, Self>, _: Gossip) {
        self.count += 1;
        cx.broadcast(self.count);
        cx.set_timer(Gossip, Time::from_ms(50));
    }
}

/// A host's effect, as this test compares it.
#[derive(Debug, PartialEq)]
enum Seen {
    Send(NodeId, Msg),
    Set(Timer, Time),
    Note(&'static str, Value),
    Other,
}

#[test]
fn a_mount_turns_a_components_requests_into_the_hosts_effects_in_order() {
    let mut rng = Rng::new(1, Stream::Node(0));
    let mut store = Store::new();
    let mut effects = Vec::new();
    let mut clocks = None;
    let mut ctx = Ctx::<Host>::new(
        NodeId(0),
        3,
        Time::from_ms(5),
        0,
        &mut rng,
        &mut store,
        &mut clocks,
        &mut effects,
    );
    let mount = Mount::<Host, Beacon>::stateless(Msg::Part, Timer::Part);
    let mut beacon = Beacon::default();
    assert!(mount.timer(&mut ctx, &mut beacon, Gossip).is_empty());
    let out = mount.message(&mut ctx, &mut beacon, NodeId(2), 9);
    assert_eq!(
        out,
        vec![(NodeId(2), 9)],
        "the output comes back to the host"
    );
    let seen: Vec<Seen> = effects
        .into_iter()
        .map(|e| match e {
            Effect::Send { to, msg } => Seen::Send(to, msg),
            Effect::SetTimer { timer, after } => Seen::Set(timer, after),
            Effect::Annotate { key, value } => Seen::Note(key, value),
            _ => Seen::Other,
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            Seen::Send(NodeId(1), Msg::Part(1)),
            Seen::Send(NodeId(2), Msg::Part(1)),
            Seen::Set(Timer::Part(Gossip), Time::from_ms(50)),
            Seen::Note("beacon", Value::Int(9)),
        ]
    );
    assert!(store.is_empty() && store.cell("anything").is_none());
}
