//! The contract between a client and the engine: a client runs one operation at a time, and a
//! request id names one operation (retries of it may repeat the id; a new operation may not
//! reuse the previous one's). The engine reports a client that breaks either as
//! `protocol_error`, as it does a message to a node that does not exist. The protocol and its
//! client are written here from scratch.

use faultline::check::PropertyDef;
use faultline::history::{OpId, Outcome};
use faultline::protocol::{
    ClientCtx, ClientId, ClientLogic, Ctx, NodeId, Protocol, RequestId, Time, WorkloadConfig,
};
use faultline::sim::{RunReport, SimConfig, Simulation, Verdict};
use serde::{Deserialize, Serialize};

/// How the client misbehaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Mistake {
    /// None: each operation gets its own request id and ends before the next starts.
    #[default]
    None,
    /// The client ignores answers, and its second operation starts while the first is
    /// still open.
    Overlap,
    /// Every operation is sent under request id 1.
    ReuseId,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct EchoConfig {
    mistake: Mistake,
}

/// Each node answers a request with its id, but only from its second copy on: every
/// operation's first attempt goes unanswered, so every operation completes through a retry
/// under the same id (which the contract allows).
#[derive(Clone)]
struct Echo {
    seen: std::collections::BTreeSet<RequestId>,
}

/// A client that sends three operations, 10 ms apart, each retried once after 5 ms under
/// the same id (a retry may repeat an id), and completes each at its first answer.
#[derive(Clone)]
struct Client {
    mistake: Mistake,
    issued: u64,
    open: Option<(OpId, RequestId)>,
}

impl ClientLogic<Echo> for Client {
    fn new(_: ClientId, _: u32, _: &WorkloadConfig, config: &EchoConfig) -> Self {
        Client {
            mistake: config.mistake,
            issued: 0,
            open: None,
        }
    }
    fn on_start(&mut self, ctx: &mut ClientCtx<'_, Echo>) {
        ctx.set_timer(0, Time::from_ms(10));
    }
    fn on_response(&mut self, ctx: &mut ClientCtx<'_, Echo>, _: NodeId, id: RequestId, r: u64) {
        if self.mistake == Mistake::Overlap {
            return; // never completes: the next operation starts over the open one
        }
        if let Some((op, open)) = self.open
            && open == id
        {
            ctx.complete(op, Outcome::Ok(r));
            self.open = None;
        }
    }
    fn on_timer(&mut self, ctx: &mut ClientCtx<'_, Echo>, timer: u64) {
        if timer == 1 {
            if let Some((_, id)) = self.open {
                ctx.send(NodeId(0), id, ()); // the retry
            }
            return;
        }
        if self.issued == 3 {
            return;
        }
        ctx.set_timer(0, Time::from_ms(10));
        if self.open.is_some() && self.mistake != Mistake::Overlap {
            return;
        }
        self.issued += 1;
        let op = ctx.invoke(());
        let id = match self.mistake {
            Mistake::ReuseId => RequestId(1),
            _ => RequestId(self.issued),
        };
        self.open = Some((op, id));
        ctx.send(NodeId(0), id, ());
        ctx.set_timer(1, Time::from_ms(5));
    }
}

impl Protocol for Echo {
    const NAME: &'static str = "echo";
    type Config = EchoConfig;
    type Msg = ();
    type Timer = ();
    type Request = ();
    type Response = u64;
    type Record = ();
    type Client = Client;

    fn new(_: NodeId, _: u32, _: &EchoConfig) -> Self {
        Echo {
            seen: Default::default(),
        }
    }
    fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ()) {}
    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, client: ClientId, id: RequestId, _: ()) {
        if !self.seen.insert(id) {
            ctx.reply(client, id, id.0);
        }
    }
    fn properties() -> Vec<PropertyDef<Self>> {
        Vec::new()
    }
}

fn run(mistake: Mistake) -> RunReport {
    let mut c = SimConfig::<Echo>::new(1, 1);
    c.protocol.mistake = mistake;
    c.workload.clients = 1;
    c.time_limit = Time::from_ms(100);
    Simulation::new(c, None).unwrap().run()
}

#[test]
fn a_client_that_keeps_the_contract_passes() {
    let r = run(Mistake::None);
    assert_eq!(r.verdict, Verdict::Pass);
    // Every operation was answered only on its retry, under its first attempt's id.
    assert_eq!((r.ops.invoked, r.ops.ok), (3, 3), "{:?}", r.ops);
}

#[test]
fn a_client_that_starts_an_operation_while_one_is_open_is_a_protocol_error() {
    let Verdict::Fail(f) = run(Mistake::Overlap).verdict else {
        panic!("an overlapping client passed");
    };
    assert_eq!(f.check, "protocol_error");
    assert!(
        f.message
            .contains("c1 invoked operation 1 while its operation 0 was still open"),
        "{}",
        f.message
    );
}

#[test]
fn a_client_that_reuses_a_request_id_for_a_new_operation_is_a_protocol_error() {
    let Verdict::Fail(f) = run(Mistake::ReuseId).verdict else {
        panic!("a client reusing its request id passed");
    };
    assert_eq!(f.check, "protocol_error");
    assert!(
        f.message.contains(
            "c1 sent request id 1 for its operation 1, the id it had used for its operation 0"
        ),
        "{}",
        f.message
    );
}
