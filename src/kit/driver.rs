//! A ready-made closed-loop client any protocol can use: think, invoke, send to a node,
//! follow redirects, time out, retry with the same request id, and give up with an unknown
//! outcome. A protocol supplies only a [`Generator`]: what to ask and how to read an answer.

use crate::protocol::{
    ClientCtx, ClientId, ClientLogic, NodeId, OpId, Outcome, Protocol, RequestId, Time,
    WorkloadConfig,
};

/// How a [`Driver`] reads one answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The operation is done and took effect (or read what it read).
    Ok,
    /// The operation is done and definitely did not take effect.
    Fail,
    /// Ask this node instead (a redirect to the leader), or another one if `None`.
    Redirect(Option<NodeId>),
}

/// The protocol-specific part of a closed-loop client.
pub trait Generator<P: Protocol>: Sized {
    /// Builds the generator for one client.
    fn new(client: ClientId, config: &P::Config) -> Self;
    /// The next operation to issue.
    fn next_request(&mut self, ctx: &mut ClientCtx<'_, P>) -> P::Request;
    /// How to read an answer to `request`.
    fn classify(&mut self, request: &P::Request, response: &P::Response) -> Verdict;
    /// Keep sending to the node that answered last (a leader), instead of a random node for
    /// each new operation.
    fn sticky(&self) -> bool {
        true
    }
}

const TIMER_THINK: u64 = 0;
const TIMER_TIMEOUT: u64 = 1;

/// The operation a driver is working on.
#[derive(Clone, Debug, Hash)]
struct InFlight<Q> {
    op: OpId,
    id: RequestId,
    request: Q,
    attempts: u32,
    target: NodeId,
}

/// A closed-loop client: one operation at a time, with think time, timeouts, redirects,
/// retries under the same request id, and give-up as an unknown outcome.
#[derive(Clone, Debug)]
pub struct Driver<P: Protocol, G> {
    id: ClientId,
    nodes: u32,
    config: WorkloadConfig,
    generator: G,
    /// Operations issued so far; also the next operation's request serial.
    issued: u64,
    current: Option<InFlight<P::Request>>,
    preferred: Option<NodeId>,
    /// The node the scenario pins this client to (`workload.pinned`), if any.
    pinned: Option<NodeId>,
}

/// Everything that changes as the client runs (its id, cluster size and workload are fixed
/// for a run), so the explorer can fingerprint a client.
impl<P: Protocol, G: std::hash::Hash> std::hash::Hash for Driver<P, G> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.generator.hash(h);
        self.issued.hash(h);
        self.current.hash(h);
        self.preferred.hash(h);
    }
}

impl<P: Protocol, G: Generator<P>> Driver<P, G> {
    fn think(&mut self, ctx: &mut ClientCtx<'_, P>) {
        let ms = ctx
            .rng()
            .between(self.config.think_ms_min, self.config.think_ms_max);
        ctx.set_timer(TIMER_THINK, Time::from_ms(ms));
    }

    fn pick_target(&mut self, ctx: &mut ClientCtx<'_, P>, avoid: Option<NodeId>) -> NodeId {
        if let Some(p) = self.pinned {
            return p;
        }
        if let Some(p) = self.preferred.filter(|&p| Some(p) != avoid) {
            return p;
        }
        if self.nodes <= 1 {
            return NodeId(0);
        }
        loop {
            let n = NodeId(ctx.rng().below(u64::from(self.nodes)) as u32);
            if Some(n) != avoid {
                return n;
            }
        }
    }

    fn transmit(&mut self, ctx: &mut ClientCtx<'_, P>) {
        let Some(cur) = &self.current else { return };
        ctx.send(cur.target, cur.id, cur.request.clone());
        ctx.set_timer(TIMER_TIMEOUT, Time::from_ms(self.config.timeout_ms));
    }

    fn finish(&mut self, ctx: &mut ClientCtx<'_, P>, outcome: Outcome<P::Response>) {
        if let Some(cur) = self.current.take() {
            ctx.cancel_timer(TIMER_TIMEOUT);
            ctx.complete(cur.op, outcome);
            self.think(ctx);
        }
    }
}

impl<P: Protocol, G: Generator<P>> ClientLogic<P> for Driver<P, G> {
    fn new(id: ClientId, nodes: u32, workload: &WorkloadConfig, config: &P::Config) -> Self {
        Driver {
            id,
            nodes,
            config: workload.clone(),
            generator: G::new(id, config),
            issued: 0,
            current: None,
            preferred: None,
            pinned: workload.pinned.get(&id).copied(),
        }
    }

    fn on_start(&mut self, ctx: &mut ClientCtx<'_, P>) {
        self.think(ctx);
    }

    fn on_response(
        &mut self,
        ctx: &mut ClientCtx<'_, P>,
        from: NodeId,
        id: RequestId,
        response: P::Response,
    ) {
        let Some(cur) = &self.current else { return };
        if cur.id != id {
            return; // a late answer to an earlier attempt of a finished operation
        }
        match self.generator.classify(&cur.request, &response) {
            Verdict::Ok => {
                self.preferred = self.generator.sticky().then_some(from);
                self.finish(ctx, Outcome::Ok(response));
            }
            Verdict::Fail => self.finish(ctx, Outcome::Fail(response)),
            Verdict::Redirect(hint) => {
                if from != cur.target || self.pinned.is_some() {
                    // A duplicate or late redirect from a node already left behind: following
                    // it would put a second copy of the request in flight, and duplicates of
                    // that copy a third, and so on. A pinned client follows no redirect: its
                    // timeout sends the request to the same node again.
                    return;
                }
                let target = match hint {
                    Some(n) if n.0 < self.nodes => n,
                    _ => self.pick_target(ctx, Some(from)),
                };
                self.preferred = hint;
                if let Some(cur) = &mut self.current {
                    cur.target = target;
                }
                self.transmit(ctx);
            }
        }
    }

    fn honours_pinned() -> bool {
        true
    }

    fn on_timer(&mut self, ctx: &mut ClientCtx<'_, P>, timer: u64) {
        match timer {
            TIMER_THINK => {
                if self.current.is_some() || !self.config.may_issue(self.issued, ctx.now()) {
                    return;
                }
                let request = self.generator.next_request(ctx);
                let op = ctx.invoke(request.clone());
                let id = RequestId::of(self.id, self.issued);
                self.issued += 1;
                let target = self.pick_target(ctx, None);
                self.current = Some(InFlight {
                    op,
                    id,
                    request,
                    attempts: 0,
                    target,
                });
                self.transmit(ctx);
            }
            TIMER_TIMEOUT => {
                let Some(cur) = &mut self.current else { return };
                cur.attempts += 1;
                if cur.attempts > self.config.retries {
                    self.preferred = None;
                    self.finish(ctx, Outcome::Unknown);
                    return;
                }
                let previous = cur.target;
                self.preferred = None;
                let target = self.pick_target(ctx, Some(previous));
                if let Some(cur) = &mut self.current {
                    cur.target = target;
                }
                self.transmit(ctx);
            }
            _ => {}
        }
    }
}
