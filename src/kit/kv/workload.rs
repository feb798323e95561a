//! The key-value workload: each client issues random gets, puts and appends over a few keys,
//! with values that name the client and its count (`c3.17`), so every written value is unique
//! and a history can tell who wrote what.

use super::{Answer, Op};
use crate::kit::driver::{Generator, Verdict};
use crate::protocol::{ClientCtx, ClientId, Protocol};

/// The workload's mix: how many keys, and how many of the operations are gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KvMix {
    /// Keys used (`k0` .. `k{keys-1}`); zero counts as one.
    pub keys: u32,
    /// Percentage of operations that are gets; `None`: gets, puts and appends are equally
    /// likely.
    pub read_percent: Option<u32>,
}

/// A protocol configuration that says how its key-value workload is mixed (the protocol
/// keeps the fields in its own `protocol.params`, so scenarios keep their names).
pub trait KvWorkload {
    /// The mix the workload uses.
    fn kv_mix(&self) -> KvMix;
}

/// Key-value workload: random gets, puts and appends over a few keys.
#[derive(Clone, Debug, Hash)]
pub struct KvGenerator {
    client: ClientId,
    keys: u32,
    read_percent: Option<u32>,
    count: u64,
}

impl<P> Generator<P> for KvGenerator
where
    P: Protocol<Request = Op, Response = Answer>,
    P::Config: KvWorkload,
{
    fn new(client: ClientId, config: &P::Config) -> Self {
        let mix = config.kv_mix();
        KvGenerator {
            client,
            keys: mix.keys.max(1),
            read_percent: mix.read_percent,
            count: 0,
        }
    }

    fn next_request(&mut self, ctx: &mut ClientCtx<'_, P>) -> Op {
        // The draws, in this order, are part of every key-value run's fingerprint: key first,
        // then the kind (one draw, or two when a read percentage is set and this is a write).
        self.count += 1;
        let key = format!("k{}", ctx.rng().below(u64::from(self.keys)));
        let value = format!("{}.{}", self.client, self.count);
        let kind = match self.read_percent {
            None => ctx.rng().below(3),
            Some(p) if ctx.rng().below(100) < u64::from(p) => 0,
            Some(_) => 1 + ctx.rng().below(2),
        };
        match kind {
            0 => Op::Get { key },
            1 => Op::Put { key, value },
            _ => Op::Append { key, value },
        }
    }

    fn classify(&mut self, _: &Op, answer: &Answer) -> Verdict {
        match answer {
            Answer::Ok { .. } => Verdict::Ok,
            Answer::NotLeader { hint } => Verdict::Redirect(*hint),
        }
    }
}
