//! The transactional workloads: list appends and reads (the isolation checker recovers every
//! key's version order from them), register writes and reads, and bank transfers with reads
//! of every account (conservation of money).
//!
//! Keys are drawn with a skew toward low numbers (the minimum of two uniform draws), so a few
//! keys are hot and transactions conflict. Appended and written values are unique per key:
//! `client × 10^6 + count`.

use super::{Mop, Txn, TxnAnswer, TxnKind};
use crate::kit::driver::{Generator, Verdict};
use crate::protocol::{ClientCtx, ClientId, Protocol};

/// The workload's shape, as a protocol's configuration gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxnMix {
    /// Which workload.
    pub kind: TxnKind,
    /// Keys (accounts); zero counts as one.
    pub keys: u32,
    /// Most micro-operations per transaction (list-append, register); at least 2.
    pub mops_max: u32,
}

/// A protocol configuration that says what its transactional workload is.
pub trait TxnWorkload {
    /// The mix.
    fn txn_mix(&self) -> TxnMix;
}

/// Which workload a configuration names (re-exported for protocols' parameters).
pub type Workload = TxnKind;

/// Transactional workload generator (see the module docs).
#[derive(Clone, Debug, Hash)]
pub struct TxnGenerator {
    client: ClientId,
    mix: TxnMix,
    count: u64,
}

impl TxnGenerator {
    fn key(&self, ctx_rng: &mut crate::protocol::Rng) -> u32 {
        let n = u64::from(self.mix.keys.max(1));
        ctx_rng.below(n).min(ctx_rng.below(n)) as u32
    }

    fn value(&mut self) -> u64 {
        self.count += 1;
        u64::from(self.client.0) * 1_000_000 + self.count
    }
}

impl<P> Generator<P> for TxnGenerator
where
    P: Protocol<Request = Txn, Response = TxnAnswer>,
    P::Config: TxnWorkload,
{
    fn new(client: ClientId, config: &P::Config) -> Self {
        TxnGenerator {
            client,
            mix: config.txn_mix(),
            count: 0,
        }
    }

    fn next_request(&mut self, ctx: &mut ClientCtx<'_, P>) -> Txn {
        let kind = self.mix.kind;
        let keys = self.mix.keys.max(1);
        let mops = match kind {
            TxnKind::Bank => {
                // One in five reads every account; the rest move 1 to 5 between two accounts.
                if keys < 2 || ctx.rng().below(5) == 0 {
                    (0..keys).map(|key| Mop::R { key }).collect()
                } else {
                    let from = ctx.rng().below(u64::from(keys)) as u32;
                    let to = (from + 1 + ctx.rng().below(u64::from(keys - 1)) as u32) % keys;
                    let amount = 1 + ctx.rng().below(5) as i64;
                    vec![
                        Mop::Add {
                            key: from,
                            delta: -amount,
                        },
                        Mop::Add {
                            key: to,
                            delta: amount,
                        },
                    ]
                }
            }
            TxnKind::ListAppend | TxnKind::Register => {
                let n = ctx.rng().between(2, u64::from(self.mix.mops_max.max(2)));
                let mut mops = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let key = self.key(ctx.rng());
                    if ctx.rng().below(2) == 0 {
                        mops.push(Mop::R { key });
                    } else if kind == TxnKind::ListAppend {
                        let value = self.value();
                        mops.push(Mop::Append { key, value });
                    } else {
                        let value = self.value();
                        mops.push(Mop::W { key, value });
                    }
                }
                mops
            }
        };
        Txn { kind, mops }
    }

    fn classify(&mut self, _: &Txn, answer: &TxnAnswer) -> Verdict {
        match answer {
            TxnAnswer::Committed { .. } => Verdict::Ok,
            TxnAnswer::Aborted { .. } => Verdict::Fail,
            TxnAnswer::NotCoordinator { hint } => Verdict::Redirect(*hint),
        }
    }
}
