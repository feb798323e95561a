//! A Dynamo-style key-value store: consistent hashing, sloppy quorums, vector-clock versions
//! with siblings, hinted handoff, read repair and anti-entropy, membership by gossip.
//!
//! Reference: DeCandia et al., "Dynamo: Amazon's Highly Available Key-value Store", SOSP
//! 2007 (sections 4.1 to 4.8). The tour from the paper to this code is docs/eventual.md.
//!
//! - **Placement.** Keys live on a consistent-hash ring with `vnodes` tokens per member
//!   ([`crate::kit::ring`]); a key's *preference list* is the first `replicas` (N) distinct
//!   nodes clockwise from its hash.
//! - **Coordination.** A node that gets a request for a key it does not replicate redirects
//!   the client to the first replica it does not suspect. Any replica coordinates a read.
//!   With `sloppy` off only the first replica coordinates a write (the others redirect to
//!   it, and a down first replica makes the key unavailable for writes); with `sloppy` on any
//!   unsuspected replica coordinates, and so does any node when all N are suspected.
//! - **Writes.** The coordinator mints the new version's clock from the client's context
//!   (the merged clock of what it read): the context, with the coordinator's own entry set
//!   above both the context's and any it used for this key before. It stores the version,
//!   synced, sends it to the other N - 1 targets and answers once W have stored it (itself
//!   included). Targets are the preference list; with `sloppy` on, a suspected replica is
//!   replaced by the next node on the ring, which keeps the version as a *hint* naming the
//!   replica it stands in for (synced, like the data) and hands it back when that replica is
//!   heard from again (hinted handoff).
//! - **Reads.** The coordinator asks the targets, merges the first R answers (dropping what
//!   is dominated, keeping concurrent versions as siblings) and answers with the siblings and
//!   their merged clock (the context of the client's next write). With `read_write_back` on
//!   it first stores the merged set on W targets. Answers that were stale, then or later, get
//!   the merged set (read repair).
//! - **Anti-entropy.** Every `ae_ms` a node sends a peer one digest per ring range both
//!   replicate (a hash of that range's keys and sibling sets); for each range whose digests
//!   differ the two exchange the range's entries. A flat digest per range, not a Merkle tree:
//!   a simulated store holds a handful of keys per range, so a tree's levels would each hold
//!   one hash, and one message carries every range's digest.
//! - **Membership and failure detection.** Every `gossip_ms` a node sends a heartbeat to every
//!   peer and its membership view (each node's entry: a version and whether it is in the
//!   ring) to one random peer, which merges it (higher version wins) and answers with its
//!   own if it knew more. A peer not heard from for `suspect_ms` is suspected (the fixed
//!   timeout of `src/protocols/fd`). A node joins or leaves at the time `join` or `leave`
//!   gives it (`{"leave": {"n5": 2500}}`, milliseconds of its clock): it bumps its own
//!   entry; the others learn
//!   it by gossip; a node that left pushes its keys to their new replicas.
//!
//! Checks: `one_value_per_clock` (always): no two nodes hold different values under one
//! clock; `ownership_agreement` (always): nodes with the same membership view compute the
//! same ring; `converged` (eventually): the up nodes share one membership view and every key's
//! up replicas hold the same sibling set; `no_acked_write_lost` (eventually): every
//! acknowledged write is held, or dominated, at every up replica of its key. With
//! `check_linearizable` on the client history is checked against the key-value model.
//!
//! Bug switches (`bugs`), with their sources in docs/eventual.md: `keep_last_arrival`,
//! `tick_wrong_entry`, `hints_in_memory`, `read_repair_overwrites`, `ack_before_sync`,
//! `ae_digest_keys_only`.

mod checks;
pub mod client;
#[cfg(test)]
mod tests;
pub mod version;

pub use client::DynamoClient;
pub use version::{Datum, Siblings, Version};

use crate::kit::ring::Ring;
use crate::protocol::{
    ClientId, ConfigError, Ctx, HistoryCall, HistoryCheck, Knob, Linearizable, Liveness, MetricDef,
    ModelKind, NodeId, PropertyDef, Protocol, RequestId, Shown, Store, Time, VClock, Val,
    Vocabulary,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Most keys the workload may use (each key is one store cell).
pub const KEYS_MAX: u32 = 16;
/// Store cell of each key `k0` … `k15`.
const KEY_CELLS: [&str; KEYS_MAX as usize] = [
    "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10", "k11", "k12", "k13", "k14",
    "k15",
];
/// Most operations a coordinator works on at once; past it, new ones are refused.
const PENDING_MAX: usize = 64;
/// Most virtual nodes per member the store accepts.
pub const VNODES_MAX: u32 = 64;

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// A replica keeps the version that arrived last instead of the causally latest ones.
    pub keep_last_arrival: bool,
    /// The coordinator ticks the entry of the key's first replica instead of its own.
    pub tick_wrong_entry: bool,
    /// Hints are kept in memory only: a fallback's crash loses them.
    pub hints_in_memory: bool,
    /// Read repair sends only the newest sibling and replicas replace their set with it.
    pub read_repair_overwrites: bool,
    /// Replicas acknowledge a write before it is synced.
    pub ack_before_sync: bool,
    /// Anti-entropy's range digest hashes the keys but not their versions.
    pub ae_digest_keys_only: bool,
}

/// Parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// N: replicas per key.
    pub replicas: u32,
    /// R: answers a read waits for.
    pub read_quorum: u32,
    /// W: stored copies a write waits for (the coordinator's own included).
    pub write_quorum: u32,
    /// Virtual nodes (tokens) per member.
    pub vnodes: u32,
    /// Sloppy quorums and hinted handoff: any unsuspected replica coordinates and a suspected
    /// replica is replaced by the next node on the ring. Off: only the first replica
    /// coordinates writes, and targets are the preference list, down or not.
    pub sloppy: bool,
    /// Repair stale replicas a read found.
    pub read_repair: bool,
    /// A read stores the merged siblings on W targets before it answers.
    pub read_write_back: bool,
    /// Workload: keys `k0` … `k{keys-1}`.
    pub keys: u32,
    /// Workload: percent of operations that are reads.
    pub read_percent: u32,
    /// Workload: client `c` writes only key `c mod keys` (one writer per key when there are
    /// no more clients than keys).
    pub one_writer_per_key: bool,
    /// Check the client history for linearizability against the key-value model (meant for
    /// the configurations that promise it: see docs/eventual.md).
    pub check_linearizable: bool,
    /// Heartbeat and gossip period, milliseconds.
    pub gossip_ms: u64,
    /// A peer not heard from for this long is suspected, milliseconds.
    pub suspect_ms: u64,
    /// Anti-entropy period, milliseconds.
    pub ae_ms: u64,
    /// Hinted-handoff period, milliseconds.
    pub handoff_ms: u64,
    /// A coordinator resends to targets that have not answered after this long, milliseconds.
    pub resend_ms: u64,
    /// A coordinator gives up on an operation after this long, milliseconds.
    pub op_timeout_ms: u64,
    /// Nodes that start outside the ring and join it at a time of their clock, milliseconds
    /// (`{"n5": 1500}`).
    pub join: BTreeMap<String, u64>,
    /// Nodes that leave the ring at a time of their clock, milliseconds (`{"n5": 2500}`).
    pub leave: BTreeMap<String, u64>,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            replicas: 3,
            read_quorum: 2,
            write_quorum: 2,
            vnodes: 8,
            sloppy: true,
            read_repair: true,
            read_write_back: false,
            keys: 4,
            read_percent: 50,
            one_writer_per_key: false,
            check_linearizable: false,
            gossip_ms: 20,
            suspect_ms: 100,
            ae_ms: 100,
            handoff_ms: 50,
            resend_ms: 30,
            op_timeout_ms: 150,
            join: BTreeMap::new(),
            leave: BTreeMap::new(),
            bugs: Bugs::default(),
        }
    }
}

/// `n5` → node 4.
fn parse_node(name: &str) -> Option<NodeId> {
    let n: u32 = name.strip_prefix('n')?.parse().ok()?;
    n.checked_sub(1).map(NodeId)
}

/// One node's entry in a membership view: a version only that node raises, and whether it
/// is in the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Member {
    /// Raised by the node itself at each join or leave.
    pub version: u64,
    /// In the ring.
    pub member: bool,
}

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Read a key.
    Get {
        /// The key.
        key: String,
        /// Whether the history check reads this operation.
        checked: bool,
    },
    /// Write a value under the context of what the client last saw of the key.
    Put {
        /// The key.
        key: String,
        /// The value (unique per write).
        value: i64,
        /// The merged clock of the versions the client saw.
        context: VClock,
        /// Whether the history check reads this operation.
        checked: bool,
    },
}

impl Request {
    /// The key.
    pub fn key(&self) -> &str {
        match self {
            Request::Get { key, .. } | Request::Put { key, .. } => key,
        }
    }
}

/// What a client is answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// A read's siblings and their merged clock (the next write's context).
    Got {
        /// The versions.
        siblings: Siblings,
    },
    /// A write was stored on W nodes under this clock.
    Stored {
        /// The new version's clock.
        clock: VClock,
    },
    /// Ask this node (a replica, or the first replica).
    Redirect(NodeId),
    /// Not enough targets answered in time: the outcome is unknown (a write may have been
    /// stored on fewer than W nodes).
    Unavailable,
}

/// Messages between nodes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Store these versions of `key` (as a hint for `hint` when set) and acknowledge.
    Write {
        /// Coordinator's operation number.
        op: u64,
        /// The key.
        key: String,
        /// The versions.
        versions: Siblings,
        /// The replica this node stands in for.
        hint: Option<NodeId>,
    },
    /// Stored durably.
    WriteAck {
        /// The operation.
        op: u64,
    },
    /// What do you hold of `key`?
    Read {
        /// The operation.
        op: u64,
        /// The key.
        key: String,
    },
    /// What I hold of the key.
    ReadAnswer {
        /// The operation.
        op: u64,
        /// The versions.
        versions: Siblings,
    },
    /// Read repair: add these versions.
    Repair {
        /// The key.
        key: String,
        /// The versions.
        versions: Siblings,
    },
    /// A hint handed back to its replica.
    Handoff {
        /// The key.
        key: String,
        /// The versions.
        versions: Siblings,
    },
    /// The replica stored the handed-off versions.
    HandoffAck {
        /// The key.
        key: String,
        /// The versions it stored.
        versions: Siblings,
    },
    /// Anti-entropy: one digest per shared range.
    Digest {
        /// The sender's membership fingerprint: digests are compared only on equal rings.
        ring: u64,
        /// (range, digest).
        ranges: Vec<(u32, u64)>,
    },
    /// Anti-entropy: the entries of ranges whose digests differed.
    Sync {
        /// The ranges.
        ranges: Vec<u32>,
        /// The sender's entries in them.
        entries: Vec<(String, Siblings)>,
        /// Answer with your own entries of these ranges.
        reply: bool,
    },
    /// Heartbeat.
    Alive,
    /// Membership gossip.
    Gossip {
        /// The sender's view.
        view: BTreeMap<NodeId, Member>,
        /// Answer with yours if it knows more.
        reply: bool,
    },
}

/// Timer names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Heartbeats and gossip.
    Gossip,
    /// Anti-entropy round.
    AntiEntropy,
    /// Hinted-handoff round.
    Handoff,
    /// Resend an operation's messages to the targets that have not answered.
    Resend(u64),
    /// Give up on an operation.
    Deadline(u64),
    /// This node's join or leave time has come.
    Membership,
}

/// What a node keeps durably.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// One key's sibling set.
    Key(Siblings),
    /// Hints held for other replicas: (replica, key) → versions.
    Hints(BTreeMap<(NodeId, String), Siblings>),
    /// The membership view.
    Members(BTreeMap<NodeId, Member>),
    /// Per key, the highest counter this node minted under its own entry.
    Minted(BTreeMap<String, u64>),
}

/// An operation a coordinator is working on.
#[derive(Clone, Debug)]
struct Pending {
    client: ClientId,
    id: RequestId,
    key: String,
    /// The version a write stores, or the merged set a read writes back.
    storing: Option<Siblings>,
    /// Whether this is a read (a write-back phase is still a read).
    read: bool,
    /// Targets and the replica each stands in for.
    targets: Vec<(NodeId, Option<NodeId>)>,
    /// Targets that stored (write phase).
    acks: BTreeSet<NodeId>,
    /// Targets' answers (read phase).
    answers: BTreeMap<NodeId, Siblings>,
    /// What the read merged so far.
    merged: Siblings,
    /// Answered the client.
    replied: bool,
}

/// One store node.
#[derive(Clone, Debug)]
pub struct Dynamo {
    id: NodeId,
    nodes: u32,
    config: Config,
    data: BTreeMap<String, Siblings>,
    hints: BTreeMap<(NodeId, String), Siblings>,
    view: BTreeMap<NodeId, Member>,
    ring: Ring,
    last_heard: BTreeMap<NodeId, Time>,
    pending: BTreeMap<u64, Pending>,
    next_op: u64,
    /// Per key, the highest counter minted under this node's entry (durable): the node may
    /// have handed its versions off, or lost its place among the key's replicas, and must
    /// still never mint a clock twice.
    minted: BTreeMap<String, u64>,
    /// Versions stored here (data, hints, repairs): the progress counter.
    stored: u64,
    /// Largest sibling set this node has held.
    siblings_max: usize,
}

impl Dynamo {
    fn n(&self) -> usize {
        self.config.replicas as usize
    }

    /// The initial view: every node in, but those listed in `join` still false.
    fn initial_view(nodes: u32, config: &Config) -> BTreeMap<NodeId, Member> {
        (0..nodes)
            .map(NodeId)
            .map(|n| {
                let out = config.join.keys().any(|name| parse_node(name) == Some(n));
                (
                    n,
                    Member {
                        version: 0,
                        member: !out,
                    },
                )
            })
            .collect()
    }

    fn rebuild_ring(&mut self) {
        let members: BTreeSet<NodeId> = self
            .view
            .iter()
            .filter(|(_, m)| m.member)
            .map(|(&n, _)| n)
            .collect();
        if &members != self.ring.members() {
            self.ring = Ring::new(&members, self.config.vnodes);
        }
    }

    fn is_member(&self) -> bool {
        self.view.get(&self.id).is_some_and(|m| m.member)
    }

    fn suspected(&self, ctx: &Ctx<'_, Self>, n: NodeId) -> bool {
        if n == self.id {
            return false;
        }
        let heard = self.last_heard.get(&n).copied().unwrap_or(Time::ZERO);
        ctx.now().sub(heard) > Time::from_ms(self.config.suspect_ms)
    }

    /// This node's own time in `times` (`join` or `leave`), if it has one.
    fn my_time(&self, times: &BTreeMap<String, u64>) -> Option<Time> {
        times
            .iter()
            .find(|(name, _)| parse_node(name) == Some(self.id))
            .map(|(_, &ms)| Time::from_ms(ms))
    }

    /// Applies this node's own join or leave, once its time has come, to its entry, and
    /// arms the timer for the next one still ahead.
    fn apply_membership(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        let (join, leave) = (
            self.my_time(&self.config.join),
            self.my_time(&self.config.leave),
        );
        let want = match (join, leave) {
            (_, Some(t)) if t <= now => Some(false),
            (Some(t), _) if t <= now => Some(true),
            _ => None,
        };
        if let Some(next) = [join, leave]
            .into_iter()
            .flatten()
            .filter(|&t| t > now)
            .min()
        {
            ctx.set_timer(Timer::Membership, next.sub(now));
        }
        let Some(member) = want else { return };
        let entry = self.view.entry(self.id).or_insert(Member {
            version: 0,
            member: !member,
        });
        if entry.member != member {
            entry.version = entry.version.saturating_add(1);
            entry.member = member;
            ctx.write_cell("members", Record::Members(self.view.clone()));
            ctx.sync();
            ctx.annotate("view", self.view_version());
            self.rebuild_ring();
        }
    }

    /// The sum of the view's versions: it grows with every join and leave seen.
    pub fn view_version(&self) -> u64 {
        self.view
            .values()
            .fold(0u64, |s, m| s.saturating_add(m.version))
    }

    /// What this node holds of `key`: its data and its hints together.
    fn holding(&self, key: &str) -> Siblings {
        let mut s = self.data.get(key).cloned().unwrap_or_default();
        for ((_, k), h) in &self.hints {
            if k == key {
                s.absorb(h);
            }
        }
        s
    }

    /// Adds versions to the key's data (the causal way, or by arrival under
    /// `keep_last_arrival`), writes the cell, and syncs unless `ack_before_sync`.
    fn store_data(&mut self, ctx: &mut Ctx<'_, Self>, key: &str, versions: &Siblings) -> bool {
        let Some(cell) = cell_of(key) else {
            return false;
        };
        let slot = self.data.entry(key.to_string()).or_default();
        let changed = if self.config.bugs.keep_last_arrival {
            slot.replace_with(versions)
        } else {
            slot.absorb(versions)
        };
        if changed {
            let len = slot.len();
            ctx.write_cell(cell, Record::Key(slot.clone()));
            if !self.config.bugs.ack_before_sync {
                ctx.sync();
            }
            self.stored = self.stored.saturating_add(1);
            self.siblings_max = self.siblings_max.max(len);
            ctx.annotate("stored", self.stored);
            ctx.annotate("siblings", len as u64);
        }
        changed
    }

    /// Keeps versions as a hint for `owner`, durably unless `hints_in_memory`.
    fn store_hint(&mut self, ctx: &mut Ctx<'_, Self>, owner: NodeId, key: &str, v: &Siblings) {
        if cell_of(key).is_none() {
            return;
        }
        let slot = self.hints.entry((owner, key.to_string())).or_default();
        if slot.absorb(v) {
            self.stored = self.stored.saturating_add(1);
            ctx.annotate("stored", self.stored);
            self.persist_hints(ctx);
        }
    }

    fn persist_hints(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.config.bugs.hints_in_memory {
            ctx.write_cell("hints", Record::Hints(self.hints.clone()));
            ctx.sync();
        }
    }

    /// The targets of an operation on a key whose walk is `walk`: the preference list, and
    /// with `sloppy` on, each suspected replica replaced by the next unsuspected node.
    fn targets(&self, ctx: &Ctx<'_, Self>, walk: &[NodeId]) -> Vec<(NodeId, Option<NodeId>)> {
        let n = self.n().min(walk.len());
        if !self.config.sloppy {
            return walk[..n].iter().map(|&t| (t, None)).collect();
        }
        let skipped: Vec<NodeId> = walk[..n]
            .iter()
            .copied()
            .filter(|&t| self.suspected(ctx, t))
            .collect();
        let mut out = Vec::new();
        let mut hints = skipped.into_iter();
        for (i, &t) in walk.iter().enumerate() {
            if out.len() == n {
                break;
            }
            if self.suspected(ctx, t) {
                continue;
            }
            let hint = if i >= n { hints.next() } else { None };
            out.push((t, hint));
        }
        out
    }

    /// The clock of a new version of `key` written under `context`: the context with this
    /// node's entry one above the context's, the versions held here, and any counter this
    /// node minted for the key before (kept in the `minted` cell, written here and synced
    /// with the version).
    fn mint_clock(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        key: &str,
        context: &VClock,
        walk: &[NodeId],
    ) -> VClock {
        let entry = if self.config.bugs.tick_wrong_entry {
            walk.first().copied().unwrap_or(self.id)
        } else {
            self.id
        };
        let held = self
            .holding(key)
            .versions()
            .iter()
            .map(|v| v.clock.get(entry))
            .max()
            .unwrap_or(0);
        let before = if entry == self.id {
            self.minted.get(key).copied().unwrap_or(0)
        } else {
            0
        };
        let next = held.max(before).max(context.get(entry)).saturating_add(1);
        let mut clock = context.clone();
        clock.set(entry, next);
        if entry == self.id {
            self.minted.insert(key.to_string(), next);
            ctx.write_cell("minted", Record::Minted(self.minted.clone()));
        }
        clock
    }

    fn coordinate(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        client: ClientId,
        id: RequestId,
        request: Request,
        walk: &[NodeId],
    ) {
        if self.pending.len() >= PENDING_MAX {
            ctx.reply(client, id, Response::Unavailable);
            return;
        }
        let op = self.next_op;
        self.next_op = self.next_op.saturating_add(1);
        let key = request.key().to_string();
        let targets = self.targets(ctx, walk);
        let mut p = Pending {
            client,
            id,
            key: key.clone(),
            storing: None,
            read: true,
            targets,
            acks: BTreeSet::new(),
            answers: BTreeMap::new(),
            merged: Siblings::default(),
            replied: false,
        };
        if let Request::Put { value, context, .. } = &request {
            let clock = self.mint_clock(ctx, &key, context, walk);
            // The minted counter is durable before the version can leave.
            if !self.config.bugs.ack_before_sync {
                ctx.sync();
            }
            p.storing = Some(Siblings::one(Version {
                clock,
                datum: Datum::Plain(*value),
            }));
            p.read = false;
        }
        self.pending.insert(op, p);
        ctx.set_timer(
            Timer::Deadline(op),
            Time::from_ms(self.config.op_timeout_ms),
        );
        self.send_phase(ctx, op);
    }

    /// Sends the operation's current phase to every target that has not answered it, and
    /// handles this node's own share at once.
    fn send_phase(&mut self, ctx: &mut Ctx<'_, Self>, op: u64) {
        let Some(p) = self.pending.get(&op) else {
            return;
        };
        let (key, storing, targets) = (p.key.clone(), p.storing.clone(), p.targets.clone());
        let mut local = false;
        for &(t, hint) in &targets {
            let p = &self.pending[&op];
            let done = match &storing {
                Some(_) => p.acks.contains(&t),
                None => p.answers.contains_key(&t),
            };
            if done {
                continue;
            }
            if t == self.id {
                local = true;
                continue;
            }
            let msg = match &storing {
                Some(versions) => Msg::Write {
                    op,
                    key: key.clone(),
                    versions: versions.clone(),
                    hint,
                },
                None => Msg::Read {
                    op,
                    key: key.clone(),
                },
            };
            ctx.send(t, msg);
        }
        if local {
            let hint = targets
                .iter()
                .find(|(t, _)| *t == self.id)
                .and_then(|x| x.1);
            match &storing {
                Some(versions) => {
                    match hint {
                        Some(owner) => self.store_hint(ctx, owner, &key, versions),
                        None => {
                            self.store_data(ctx, &key, versions);
                        }
                    }
                    if let Some(p) = self.pending.get_mut(&op) {
                        p.acks.insert(self.id);
                    }
                }
                None => {
                    let held = self.holding(&key);
                    if let Some(p) = self.pending.get_mut(&op) {
                        p.answers.insert(self.id, held.clone());
                        p.merged.absorb(&held);
                    }
                }
            }
        }
        ctx.set_timer(
            Timer::Resend(op),
            Time::from_ms(self.config.resend_ms.max(1)),
        );
        self.advance(ctx, op);
    }

    /// Moves an operation on once its phase has its quorum.
    fn advance(&mut self, ctx: &mut Ctx<'_, Self>, op: u64) {
        let (r, w) = (
            self.config.read_quorum as usize,
            self.config.write_quorum as usize,
        );
        let Some(p) = self.pending.get_mut(&op) else {
            return;
        };
        if p.replied {
            return;
        }
        match &p.storing {
            None if p.answers.len() >= r => {
                if self.config.read_write_back {
                    p.storing = Some(p.merged.clone());
                    self.send_phase(ctx, op);
                } else {
                    let siblings = p.merged.clone();
                    self.reply(ctx, op, Response::Got { siblings });
                }
            }
            Some(s) if p.acks.len() >= w => {
                let response = if p.read {
                    Response::Got {
                        siblings: p.merged.clone(),
                    }
                } else {
                    Response::Stored { clock: s.context() }
                };
                self.reply(ctx, op, response);
            }
            _ => {}
        }
    }

    fn reply(&mut self, ctx: &mut Ctx<'_, Self>, op: u64, response: Response) {
        let Some(p) = self.pending.get_mut(&op) else {
            return;
        };
        p.replied = true;
        ctx.reply(p.client, p.id, response);
        ctx.cancel_timer(Timer::Resend(op));
        if p.read {
            let stale: Vec<(NodeId, Siblings)> =
                p.answers.iter().map(|(&n, s)| (n, s.clone())).collect();
            for (n, s) in stale {
                self.repair(ctx, op, n, &s);
            }
        }
        // A write is done once answered; a read stays until its deadline to repair late
        // answers.
        if !self.pending.get(&op).is_some_and(|p| p.read) {
            self.pending.remove(&op);
            ctx.cancel_timer(Timer::Deadline(op));
        }
    }

    /// Read repair: a replica that answered `answer` for a read whose merged set is newer
    /// gets the merged set.
    fn repair(&mut self, ctx: &mut Ctx<'_, Self>, op: u64, node: NodeId, answer: &Siblings) {
        if !self.config.read_repair {
            return;
        }
        let Some(p) = self.pending.get(&op) else {
            return;
        };
        // Only replicas are repaired; a fallback's hint goes home by handoff.
        if p.targets.iter().any(|&(t, h)| t == node && h.is_some()) {
            return;
        }
        let versions = if self.config.bugs.read_repair_overwrites {
            match p.merged.versions().iter().max_by_key(|v| v.clock.total()) {
                Some(v) => Siblings::one(v.clone()),
                None => return,
            }
        } else {
            p.merged.clone()
        };
        if answer == &versions || versions.is_empty() {
            return;
        }
        let key = p.key.clone();
        if node == self.id {
            self.absorb_repair(ctx, &key, &versions);
        } else {
            ctx.send(node, Msg::Repair { key, versions });
        }
    }

    fn absorb_repair(&mut self, ctx: &mut Ctx<'_, Self>, key: &str, versions: &Siblings) {
        if self.config.bugs.read_repair_overwrites {
            let Some(cell) = cell_of(key) else { return };
            let slot = self.data.entry(key.to_string()).or_default();
            if slot.replace_with(versions) {
                ctx.write_cell(cell, Record::Key(slot.clone()));
                ctx.sync();
            }
        } else {
            self.store_data(ctx, key, versions);
        }
    }

    fn on_resend(&mut self, ctx: &mut Ctx<'_, Self>, op: u64) {
        let Some(p) = self.pending.get(&op) else {
            return;
        };
        if p.replied {
            return;
        }
        // Sloppy: a target now suspected that has not answered is replaced by the next
        // unsuspected node on the ring, holding a hint for the replica.
        if self.config.sloppy {
            let walk = self.ring.walk(&p.key);
            let storing = p.storing.is_some();
            let mut targets = p.targets.clone();
            let answered = |n: NodeId| {
                if storing {
                    p.acks.contains(&n)
                } else {
                    p.answers.contains_key(&n)
                }
            };
            let lost: Vec<(NodeId, Option<NodeId>)> = targets
                .iter()
                .copied()
                .filter(|&(t, _)| !answered(t) && self.suspected(ctx, t))
                .collect();
            for (t, hint) in lost {
                let spare = walk
                    .iter()
                    .copied()
                    .find(|&c| !self.suspected(ctx, c) && !targets.iter().any(|x| x.0 == c));
                if let Some(c) = spare {
                    targets.retain(|x| x.0 != t);
                    targets.push((c, Some(hint.unwrap_or(t))));
                }
            }
            if let Some(p) = self.pending.get_mut(&op) {
                p.targets = targets;
            }
        }
        self.send_phase(ctx, op);
    }

    fn on_deadline(&mut self, ctx: &mut Ctx<'_, Self>, op: u64) {
        let Some(p) = self.pending.remove(&op) else {
            return;
        };
        ctx.cancel_timer(Timer::Resend(op));
        if !p.replied {
            ctx.reply(p.client, p.id, Response::Unavailable);
        }
    }

    /// The ranges (token indexes) this node and `peer` both replicate under this ring.
    fn shared_ranges(&self, peer: NodeId) -> Vec<u32> {
        let tokens = self.ring.tokens();
        (0..tokens.len())
            .filter(|&i| {
                let owners = self.ring.walk_from(tokens[i].0, self.n());
                owners.contains(&self.id) && owners.contains(&peer)
            })
            .map(|i| i as u32)
            .collect()
    }

    fn range_digest(&self, range: u32) -> u64 {
        let mut text = String::new();
        for (k, s) in &self.data {
            if self.ring.range_of(k) as u32 == range && !s.is_empty() {
                if self.config.bugs.ae_digest_keys_only {
                    text.push_str(&format!("{k};"));
                } else {
                    text.push_str(&format!("{k}={s:?};"));
                }
            }
        }
        if text.is_empty() {
            0
        } else {
            crate::kit::ring::point(text.as_bytes())
        }
    }

    fn entries_of(&self, ranges: &[u32]) -> Vec<(String, Siblings)> {
        self.data
            .iter()
            .filter(|(k, s)| !s.is_empty() && ranges.contains(&(self.ring.range_of(k) as u32)))
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect()
    }

    fn ring_fingerprint(&self) -> u64 {
        let mut bytes = Vec::new();
        for m in self.ring.members() {
            bytes.extend_from_slice(&m.0.to_le_bytes());
        }
        crate::kit::ring::point(&bytes)
    }

    fn anti_entropy(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(Timer::AntiEntropy, Time::from_ms(self.config.ae_ms.max(1)));
        if !self.is_member() {
            // A node that left pushes what it holds to the keys' replicas.
            let entries: Vec<(String, Siblings)> = self
                .data
                .iter()
                .filter(|(_, s)| !s.is_empty())
                .map(|(k, s)| (k.clone(), s.clone()))
                .collect();
            for (k, s) in entries {
                for t in self.ring.preference_list(&k, self.n()) {
                    ctx.send(
                        t,
                        Msg::Sync {
                            ranges: Vec::new(),
                            entries: vec![(k.clone(), s.clone())],
                            reply: false,
                        },
                    );
                }
            }
            return;
        }
        let peers: Vec<NodeId> = self
            .ring
            .members()
            .iter()
            .copied()
            .filter(|&p| p != self.id && !self.suspected(ctx, p))
            .collect();
        if peers.is_empty() {
            return;
        }
        let peer = peers[ctx.rng().index(peers.len())];
        let shared = self.shared_ranges(peer);
        if shared.is_empty() {
            return;
        }
        let ranges = shared
            .into_iter()
            .map(|r| (r, self.range_digest(r)))
            .collect();
        let ring = self.ring_fingerprint();
        ctx.send(peer, Msg::Digest { ring, ranges });
    }

    fn absorb_entries(&mut self, ctx: &mut Ctx<'_, Self>, entries: &[(String, Siblings)]) {
        for (k, s) in entries {
            self.store_data(ctx, k, s);
        }
    }

    fn handoff(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(Timer::Handoff, Time::from_ms(self.config.handoff_ms.max(1)));
        let due: Vec<(NodeId, String, Siblings)> = self
            .hints
            .iter()
            .filter(|((owner, _), _)| !self.suspected(ctx, *owner))
            .map(|((o, k), s)| (*o, k.clone(), s.clone()))
            .collect();
        for (owner, key, versions) in due {
            if owner == self.id {
                self.store_data(ctx, &key, &versions);
                self.hints.remove(&(owner, key));
                self.persist_hints(ctx);
            } else {
                ctx.send(owner, Msg::Handoff { key, versions });
            }
        }
    }

    fn gossip(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(Timer::Gossip, Time::from_ms(self.config.gossip_ms.max(1)));
        ctx.broadcast(Msg::Alive);
        let peers: Vec<NodeId> = ctx.peers().collect();
        if !peers.is_empty() {
            let to = peers[ctx.rng().index(peers.len())];
            ctx.send(
                to,
                Msg::Gossip {
                    view: self.view.clone(),
                    reply: true,
                },
            );
        }
    }

    /// Merges a gossiped view: each entry's higher version wins. Returns (whether ours
    /// changed, whether theirs lacks something ours has).
    fn merge_view(&mut self, ctx: &mut Ctx<'_, Self>, view: &BTreeMap<NodeId, Member>) -> bool {
        let mut changed = false;
        let mut behind = false;
        for (&n, &m) in view {
            if n.0 >= self.nodes {
                continue;
            }
            match self.view.get(&n) {
                Some(mine) if mine.version >= m.version => behind |= mine.version > m.version,
                _ => {
                    self.view.insert(n, m);
                    changed = true;
                }
            }
        }
        behind |= self.view.keys().any(|n| !view.contains_key(n));
        if changed {
            ctx.write_cell("members", Record::Members(self.view.clone()));
            ctx.sync();
            ctx.annotate("view", self.view_version());
            self.rebuild_ring();
        }
        behind
    }

    fn start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        for p in ctx.peers() {
            self.last_heard.insert(p, now);
        }
        self.apply_membership(ctx);
        self.rebuild_ring();
        ctx.annotate("view", self.view_version());
        let jitter = ctx.rng().below(self.config.gossip_ms.max(1));
        ctx.set_timer(Timer::Gossip, Time::from_ms(jitter));
        let jitter = ctx.rng().below(self.config.ae_ms.max(1));
        ctx.set_timer(Timer::AntiEntropy, Time::from_ms(jitter));
        ctx.set_timer(Timer::Handoff, Time::from_ms(self.config.handoff_ms.max(1)));
    }
}

/// The store cell of `key`, if it is one of the workload's keys.
fn cell_of(key: &str) -> Option<&'static str> {
    KEY_CELLS.iter().copied().find(|&c| c == key)
}

impl Protocol for Dynamo {
    const NAME: &'static str = "dynamo";
    type Config = Config;
    type Msg = Msg;
    type Timer = Timer;
    type Request = Request;
    type Response = Response;
    type Record = Record;
    type Client = DynamoClient;

    fn new(id: NodeId, nodes: u32, config: &Config) -> Self {
        let view = Dynamo::initial_view(nodes, config);
        let members: BTreeSet<NodeId> = view
            .iter()
            .filter(|(_, m)| m.member)
            .map(|(&n, _)| n)
            .collect();
        Dynamo {
            id,
            nodes,
            config: config.clone(),
            data: BTreeMap::new(),
            hints: BTreeMap::new(),
            ring: Ring::new(&members, config.vnodes),
            view,
            last_heard: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_op: 0,
            minted: BTreeMap::new(),
            stored: 0,
            siblings_max: 0,
        }
    }

    /// Takes the bug switches; the rest stays as built.
    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.config.bugs = config.bugs.clone();
        Ok(())
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.start(ctx);
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        for cell in KEY_CELLS {
            if let Some(Record::Key(s)) = ctx.store().cell(cell) {
                self.data.insert(cell.to_string(), s.clone());
            }
        }
        if let Some(Record::Hints(h)) = ctx.store().cell("hints") {
            self.hints = h.clone();
        }
        if let Some(Record::Members(v)) = ctx.store().cell("members") {
            self.view = v.clone();
        }
        if let Some(Record::Minted(m)) = ctx.store().cell("minted") {
            self.minted = m.clone();
        }
        self.start(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let now = ctx.now();
        self.last_heard.insert(from, now);
        match msg {
            Msg::Alive => {}
            Msg::Gossip { view, reply } => {
                let behind = self.merge_view(ctx, &view);
                if reply && behind {
                    ctx.send(
                        from,
                        Msg::Gossip {
                            view: self.view.clone(),
                            reply: false,
                        },
                    );
                }
            }
            Msg::Write {
                op,
                key,
                versions,
                hint,
            } => {
                if cell_of(&key).is_none() {
                    return;
                }
                match hint {
                    Some(owner) if owner != self.id => self.store_hint(ctx, owner, &key, &versions),
                    _ => {
                        self.store_data(ctx, &key, &versions);
                    }
                }
                ctx.send(from, Msg::WriteAck { op });
            }
            Msg::WriteAck { op } => {
                if let Some(p) = self.pending.get_mut(&op) {
                    if p.storing.is_some() && p.targets.iter().any(|t| t.0 == from) {
                        p.acks.insert(from);
                    }
                }
                self.advance(ctx, op);
            }
            Msg::Read { op, key } => {
                let versions = self.holding(&key);
                ctx.send(from, Msg::ReadAnswer { op, versions });
            }
            Msg::ReadAnswer { op, versions } => {
                let Some(p) = self.pending.get_mut(&op) else {
                    return;
                };
                if !p.targets.iter().any(|t| t.0 == from) || p.answers.contains_key(&from) {
                    return;
                }
                p.answers.insert(from, versions.clone());
                if p.replied {
                    self.repair(ctx, op, from, &versions);
                } else if p.storing.is_none() {
                    p.merged.absorb(&versions);
                    self.advance(ctx, op);
                }
            }
            Msg::Repair { key, versions } => self.absorb_repair(ctx, &key, &versions),
            Msg::Handoff { key, versions } => {
                if cell_of(&key).is_none() {
                    return;
                }
                self.store_data(ctx, &key, &versions);
                if !self.config.bugs.ack_before_sync {
                    ctx.sync();
                }
                ctx.send(from, Msg::HandoffAck { key, versions });
            }
            Msg::HandoffAck { key, versions } => {
                let slot = (from, key);
                if self.hints.get(&slot) == Some(&versions) {
                    self.hints.remove(&slot);
                    self.persist_hints(ctx);
                }
            }
            Msg::Digest { ring, ranges } => {
                if ring != self.ring_fingerprint() || !self.is_member() {
                    return;
                }
                let differ: Vec<u32> = ranges
                    .iter()
                    .filter(|&&(r, d)| {
                        (r as usize) < self.ring.tokens().len() && self.range_digest(r) != d
                    })
                    .map(|&(r, _)| r)
                    .collect();
                if !differ.is_empty() {
                    let entries = self.entries_of(&differ);
                    ctx.send(
                        from,
                        Msg::Sync {
                            ranges: differ,
                            entries,
                            reply: true,
                        },
                    );
                }
            }
            Msg::Sync {
                ranges,
                entries,
                reply,
            } => {
                self.absorb_entries(ctx, &entries);
                if reply {
                    let mine = self.entries_of(&ranges);
                    ctx.send(
                        from,
                        Msg::Sync {
                            ranges,
                            entries: mine,
                            reply: false,
                        },
                    );
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Gossip => self.gossip(ctx),
            Timer::AntiEntropy => self.anti_entropy(ctx),
            Timer::Handoff => self.handoff(ctx),
            Timer::Resend(op) => self.on_resend(ctx, op),
            Timer::Deadline(op) => self.on_deadline(ctx, op),
            Timer::Membership => self.apply_membership(ctx),
        }
    }

    fn on_request(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        client: ClientId,
        id: RequestId,
        request: Request,
    ) {
        if cell_of(request.key()).is_none() {
            ctx.reply(client, id, Response::Unavailable);
            return;
        }
        let walk = self.ring.walk(request.key());
        let n = self.n().min(walk.len());
        let top = &walk[..n];
        // Any replica coordinates a read; with sloppy quorums off only the first replica
        // coordinates a write, so one node mints every version of a key, in order.
        let coordinates = if self.config.sloppy {
            top.contains(&self.id)
                || (self.is_member() && top.iter().all(|&t| self.suspected(ctx, t)))
        } else if matches!(request, Request::Get { .. }) {
            top.contains(&self.id)
        } else {
            top.first() == Some(&self.id)
        };
        if coordinates {
            self.coordinate(ctx, client, id, request, &walk);
            return;
        }
        let to = if self.config.sloppy {
            top.iter().copied().find(|&t| !self.suspected(ctx, t))
        } else {
            top.first().copied()
        };
        match to {
            Some(t) => ctx.reply(client, id, Response::Redirect(t)),
            None => ctx.reply(client, id, Response::Unavailable),
        }
    }

    fn check_config(config: &Config, nodes: u32) -> Result<(), ConfigError> {
        let n = config.replicas;
        if n == 0 || n > nodes {
            return Err(ConfigError::new(
                "replicas",
                format!("give 1 to {nodes} (the cluster's size)"),
            ));
        }
        for (field, q) in [
            ("read_quorum", config.read_quorum),
            ("write_quorum", config.write_quorum),
        ] {
            if q == 0 || q > n {
                return Err(ConfigError::new(
                    field,
                    format!("give 1 to {n} (the replicas, N)"),
                ));
            }
        }
        if config.vnodes == 0 || config.vnodes > VNODES_MAX {
            return Err(ConfigError::new(
                "vnodes",
                format!("give 1 to {VNODES_MAX}"),
            ));
        }
        if config.keys == 0 || config.keys > KEYS_MAX {
            return Err(ConfigError::new("keys", format!("give 1 to {KEYS_MAX}")));
        }
        if config.read_percent > 100 {
            return Err(ConfigError::new("read_percent", "give 0 to 100"));
        }
        for (field, ms) in [
            ("gossip_ms", config.gossip_ms),
            ("suspect_ms", config.suspect_ms),
            ("ae_ms", config.ae_ms),
            ("handoff_ms", config.handoff_ms),
            ("resend_ms", config.resend_ms),
            ("op_timeout_ms", config.op_timeout_ms),
        ] {
            if ms == 0 || ms > 60_000 {
                return Err(ConfigError::new(field, "give 1 to 60000 milliseconds"));
            }
        }
        for (field, map) in [("join", &config.join), ("leave", &config.leave)] {
            for (name, &at_ms) in map {
                if at_ms > 1_000_000_000 {
                    return Err(ConfigError::new(
                        field,
                        format!("{name}: give 0 to 1000000000 milliseconds"),
                    ));
                }
                if parse_node(name).is_none_or(|n| n.0 >= nodes) {
                    return Err(ConfigError::new(
                        field,
                        format!("{name:?} is not a node of this cluster (n1 to n{nodes})"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn history_check() -> Option<Box<dyn HistoryCheck>> {
        Some(Box::new(Linearizable(ModelKind::Kv)))
    }

    fn history_call(request: &Request) -> Option<HistoryCall> {
        match request {
            Request::Get { key, checked: true } => Some(HistoryCall {
                f: "get",
                key: Some(key.clone()),
                value: Val::Nil,
            }),
            Request::Put {
                key,
                value,
                checked: true,
                ..
            } => Some(HistoryCall {
                f: "put",
                key: Some(key.clone()),
                value: Val::Str(value.to_string()),
            }),
            _ => None,
        }
    }

    /// A read of one value (or of siblings that all hold it) returns it; siblings with
    /// different values read as all of them joined by `|`, a value no write wrote, so a
    /// history with siblings is never linearizable.
    fn history_value(response: &Response) -> Val {
        match response {
            Response::Got { siblings } => {
                let values = siblings.values();
                if values.is_empty() {
                    Val::Nil
                } else {
                    let text: Vec<String> = values.iter().map(i64::to_string).collect();
                    Val::Str(text.join("|"))
                }
            }
            _ => Val::Nil,
        }
    }

    /// Each key's siblings with their vector clocks, the hints held for other replicas, the
    /// membership view and the peers suspected.
    fn show(&self, _: &Store<Record>, out: &mut Shown) {
        let data: BTreeMap<&String, Vec<String>> =
            self.data.iter().map(|(k, s)| (k, s.shown())).collect();
        out.field("data", &data);
        let hints: BTreeMap<String, Vec<String>> = self
            .hints
            .iter()
            .map(|((o, k), s)| (format!("{k} for {o}"), s.shown()))
            .collect();
        out.field("hints", &hints);
        let members: Vec<NodeId> = self.ring.members().iter().copied().collect();
        out.field("members", &members);
        out.field("view_version", &self.view_version());
        let pending: Vec<&String> = self.pending.values().map(|p| &p.key).collect();
        out.field("coordinating", &pending);
    }

    fn vocabulary() -> Vocabulary {
        Vocabulary::none()
            .epoch("view")
            .progress(&["stored"])
            .serves_replies()
            .serves_progress("stored")
    }

    /// A read's or a write's result is service; a redirect or "unavailable" is not.
    fn serves(response: &Response) -> bool {
        matches!(response, Response::Got { .. } | Response::Stored { .. })
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        checks::properties()
    }

    fn metrics() -> Vec<MetricDef<Self>> {
        checks::metrics()
    }

    /// The periods, the repair switch and the quorum sizes vary per seed; each value keeps
    /// the store eventually consistent (read repair off leaves convergence to anti-entropy
    /// alone; R or W of 1 gives up the overlap, not the convergence or the durability of an
    /// acknowledged write).
    fn knobs() -> Vec<Knob> {
        vec![
            Knob::between("ae_ms", 50, 200),
            Knob::between("gossip_ms", 10, 40),
            Knob::switch("read_repair"),
            Knob::one_of("read_quorum", &[1.into(), 2.into()]),
            Knob::one_of("write_quorum", &[1.into(), 2.into()]),
        ]
    }

    /// After the heal: membership settles and every key's replicas agree within a few
    /// suspicion timeouts and anti-entropy rounds; no acknowledged write is missing then.
    fn liveness(c: &Config) -> Liveness {
        let budget = Time::from_ms(
            c.suspect_ms
                .saturating_mul(4)
                .saturating_add(c.ae_ms.saturating_mul(20))
                .saturating_add(c.handoff_ms.saturating_mul(4)),
        );
        let formula = "4 × suspect_ms + 20 × ae_ms + 4 × handoff_ms";
        Liveness::default()
            .within("converged", false, budget, formula)
            .within("no_acked_write_lost", false, budget, formula)
    }

    fn record_bytes(record: &Record) -> u64 {
        match record {
            Record::Key(s) => 16 + 24 * s.len() as u64,
            Record::Hints(h) => 16 + 40 * h.len() as u64,
            Record::Members(m) => 16 * m.len() as u64,
            Record::Minted(m) => 16 * m.len() as u64,
        }
    }
}
