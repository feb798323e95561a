//! The store's workload: the kit's closed-loop driver with a generator that reads and
//! writes the keys `k0` … `k{keys-1}` and remembers, per key, the merged clock of what it
//! last saw (the *context*), which its next write of that key carries.

use super::{Config, Dynamo, Request, Response};
use crate::kit::driver::{Driver, Generator, Verdict};
use crate::protocol::{ClientCtx, ClientId, VClock};
use std::collections::BTreeMap;

/// A client of the store.
pub type DynamoClient = Driver<Dynamo, Workload>;

/// What a client asks next, and the context it keeps per key.
#[derive(Clone, Debug, Hash)]
pub struct Workload {
    client: ClientId,
    keys: u32,
    read_percent: u32,
    one_writer_per_key: bool,
    checked: bool,
    /// Writes made so far (the low part of each unique value).
    made: u64,
    /// Per key, the merged clock of the last siblings read or the last version written.
    contexts: BTreeMap<String, VClock>,
}

impl Generator<Dynamo> for Workload {
    fn new(client: ClientId, config: &Config) -> Self {
        Workload {
            client,
            keys: config.keys.max(1),
            read_percent: config.read_percent.min(100),
            one_writer_per_key: config.one_writer_per_key,
            checked: config.check_linearizable,
            made: 0,
            contexts: BTreeMap::new(),
        }
    }

    fn next_request(&mut self, ctx: &mut ClientCtx<'_, Dynamo>) -> Request {
        let read = ctx.rng().below(100) < u64::from(self.read_percent);
        let any = format!("k{}", ctx.rng().below(u64::from(self.keys)));
        if read {
            return Request::Get {
                key: any,
                checked: self.checked,
            };
        }
        let key = if self.one_writer_per_key {
            format!("k{}", self.client.0 % self.keys)
        } else {
            any
        };
        self.made += 1;
        Request::Put {
            context: self.contexts.get(&key).cloned().unwrap_or_default(),
            key,
            value: i64::from(self.client.0) * 1_000_000 + self.made as i64,
            checked: self.checked,
        }
    }

    fn classify(&mut self, request: &Request, response: &Response) -> Verdict {
        match response {
            Response::Got { siblings } => {
                self.contexts
                    .insert(request.key().to_string(), siblings.context());
                Verdict::Ok
            }
            Response::Stored { clock } => {
                let c = self.contexts.entry(request.key().to_string()).or_default();
                c.merge(clock);
                Verdict::Ok
            }
            Response::Redirect(n) => Verdict::Redirect(Some(*n)),
            // The outcome is unknown: try another node (the driver gives up, as unknown,
            // after its retries).
            Response::Unavailable => Verdict::Redirect(None),
        }
    }

    /// Each operation starts at a random node: a key's replicas differ from key to key.
    fn sticky(&self) -> bool {
        false
    }
}
