//! The ABD client: one operation at a time, each in two phases (query, then store); the
//! query phase waits for R answers and the store phase for W acknowledgements (a majority
//! each by default: `read_quorum`, `write_quorum`).

use super::{Abd, Config, Request, Response, Tag, Tagged};
use crate::kit::driver::{Generator, Verdict};
use crate::kit::quorum::Quorum;
use crate::protocol::{
    ClientCtx, ClientId, ClientLogic, NodeId, OpId, Outcome, RequestId, Time, WorkloadConfig,
};

const TIMER_THINK: u64 = 0;
const TIMER_RESEND: u64 = 1;
const TIMER_GIVE_UP: u64 = 2;

/// The operation a client is carrying out.
#[derive(Clone, Debug)]
struct Current {
    op: OpId,
    id: RequestId,
    request: Request,
    /// `None` in the query phase; the value being stored in the store phase.
    storing: Option<Tagged>,
    /// The nodes that answered the current phase.
    answered: Quorum,
    /// The newest value the query phase has seen.
    newest: Tagged,
}

/// A client: one operation at a time, reads or writes of unique values (see
/// [`Config::writers`]), with think time in between. It gives up on an operation (outcome unknown) after
/// `workload.timeout_ms` × (`retries` + 1).
#[derive(Clone, Debug)]
pub struct AbdClient {
    id: ClientId,
    nodes: u32,
    workload: WorkloadConfig,
    config: Config,
    /// What to ask next.
    registers: Registers,
    /// Operations issued so far; also the next operation's request serial.
    issued: u64,
    /// The highest tag counter this client has written under: its next write goes above
    /// it, so a write that gave up after storing its value on a few nodes cannot share
    /// its tag with a later write of another value.
    last_counter: u64,
    current: Option<Current>,
}

/// The workload: reads, and writes of unique values (see [`Config::writers`]). ABD's client
/// reads its answers itself, so only `next_request` is used.
#[derive(Clone, Debug)]
pub struct Registers {
    client: ClientId,
    writers: u32,
    /// Requests made so far.
    made: u64,
}

impl Generator<Abd> for Registers {
    fn new(client: ClientId, config: &Config) -> Self {
        Registers {
            client,
            writers: config.writers,
            made: 0,
        }
    }
    fn next_request(&mut self, ctx: &mut ClientCtx<'_, Abd>) -> Request {
        let writes = match self.writers {
            0 => ctx.rng().below(2) == 0,
            w => self.client.0 < w,
        };
        let made = self.made;
        self.made += 1;
        if writes {
            // Unique values: the client's index above, its count below.
            Request::Write(i64::from(self.client.0) * 1_000_000 + made as i64)
        } else {
            Request::Read
        }
    }
    fn classify(&mut self, _: &Request, _: &Response) -> Verdict {
        Verdict::Ok
    }
}

impl AbdClient {
    fn think(&mut self, ctx: &mut ClientCtx<'_, Abd>) {
        let w = &self.workload;
        let ms = ctx.rng().between(w.think_ms_min, w.think_ms_max);
        ctx.set_timer(TIMER_THINK, Time::from_ms(ms));
    }

    /// Sends the current phase's request to every node that has not answered it.
    fn send_phase(&self, ctx: &mut ClientCtx<'_, Abd>) {
        let Some(cur) = &self.current else { return };
        let request = match &cur.storing {
            None => Request::Query,
            Some(put) => Request::Store(put.clone()),
        };
        for n in cur.answered.missing() {
            ctx.send(n, cur.id, request.clone());
        }
        ctx.set_timer(TIMER_RESEND, Time::from_ms(self.config.resend_ms.max(1)));
    }

    /// Starts the store phase: `put` goes to every node, and W acknowledgements end it.
    fn store_phase(&mut self, ctx: &mut ClientCtx<'_, Abd>, put: Tagged) {
        if let Some(cur) = &mut self.current {
            cur.storing = Some(put);
            cur.answered = Quorum::of(self.nodes, self.config.write_quorum_of(self.nodes));
        }
        self.send_phase(ctx);
    }

    /// The tag of a new write whose query phase saw `seen` at most: a counter above both
    /// that and the last this client used, and the client itself as the writer.
    fn next_tag(&mut self, seen: u64) -> Tag {
        let counter = if self.config.bugs.writer_reuses_tag {
            seen + 1
        } else {
            seen.max(self.last_counter) + 1
        };
        self.last_counter = counter;
        let writer = if self.config.bugs.tag_without_writer {
            0
        } else {
            u64::from(self.id.0) + 1
        };
        Tag { counter, writer }
    }

    /// Moves the operation on once its current phase has its quorum.
    fn advance(&mut self, ctx: &mut ClientCtx<'_, Abd>) {
        let Some(cur) = &self.current else { return };
        if !cur.answered.reached() {
            return;
        }
        match (&cur.storing, &cur.request) {
            (None, Request::Write(v)) => {
                let (value, seen) = (Some(*v), cur.newest.tag.counter);
                let tag = self.next_tag(seen);
                self.store_phase(ctx, Tagged { tag, value });
            }
            (None, _) if self.config.bugs.skip_read_write_back => {
                let value = cur.newest.value;
                self.finish(ctx, Outcome::Ok(Response::Value(value)));
            }
            (None, _) => {
                let put = cur.newest.clone();
                self.store_phase(ctx, put);
            }
            (Some(_), Request::Write(_)) => self.finish(ctx, Outcome::Ok(Response::Written)),
            (Some(put), _) => {
                let value = put.value;
                self.finish(ctx, Outcome::Ok(Response::Value(value)));
            }
        }
    }

    fn finish(&mut self, ctx: &mut ClientCtx<'_, Abd>, outcome: Outcome<Response>) {
        if let Some(cur) = self.current.take() {
            ctx.cancel_timer(TIMER_RESEND);
            ctx.cancel_timer(TIMER_GIVE_UP);
            ctx.complete(cur.op, outcome);
            self.think(ctx);
        }
    }
}

impl ClientLogic<Abd> for AbdClient {
    fn new(id: ClientId, nodes: u32, workload: &WorkloadConfig, config: &Config) -> Self {
        AbdClient {
            id,
            nodes,
            workload: workload.clone(),
            config: config.clone(),
            registers: Registers::new(id, config),
            issued: 0,
            last_counter: 0,
            current: None,
        }
    }

    /// `skip_read_write_back`, `writer_reuses_tag` and `tag_without_writer` are a client's
    /// switches: it takes the new bug switches.
    fn reconfigure(&mut self, config: &Config) {
        self.config.bugs = config.bugs.clone();
    }

    fn on_start(&mut self, ctx: &mut ClientCtx<'_, Abd>) {
        self.think(ctx);
    }

    fn on_response(
        &mut self,
        ctx: &mut ClientCtx<'_, Abd>,
        from: NodeId,
        id: RequestId,
        response: Response,
    ) {
        let Some(cur) = &mut self.current else { return };
        if cur.id != id {
            return; // a late answer about an operation already finished or given up
        }
        match (&cur.storing, response) {
            (None, Response::Holding(held)) => {
                cur.answered.add(from);
                if held.tag > cur.newest.tag {
                    cur.newest = held;
                }
            }
            (Some(put), Response::Stored(tag)) if put.tag == tag => {
                cur.answered.add(from);
            }
            _ => return, // a late or duplicated answer from the other phase
        }
        self.advance(ctx);
    }

    fn on_timer(&mut self, ctx: &mut ClientCtx<'_, Abd>, timer: u64) {
        match timer {
            TIMER_THINK => {
                if self.current.is_some() || !self.workload.may_issue(self.issued, ctx.now()) {
                    return;
                }
                let request = self.registers.next_request(ctx);
                let op = ctx.invoke(request.clone());
                let id = RequestId::of(self.id, self.issued);
                self.issued += 1;
                self.current = Some(Current {
                    op,
                    id,
                    request,
                    storing: None,
                    answered: Quorum::of(self.nodes, self.config.read_quorum_of(self.nodes)),
                    newest: Tagged::default(),
                });
                let w = &self.workload;
                let give_up = w.timeout_ms.saturating_mul(u64::from(w.retries) + 1);
                ctx.set_timer(TIMER_GIVE_UP, Time::from_ms(give_up));
                self.send_phase(ctx);
            }
            TIMER_RESEND => self.send_phase(ctx),
            TIMER_GIVE_UP => self.finish(ctx, Outcome::Unknown),
            _ => {}
        }
    }
}
