//! Leases under clock faults, and fencing: a lease server grants time-limited exclusive
//! leases to contending holders, who write to a storage service while they hold one; the
//! storage service fences out writes under old leases.
//!
//! References: Gray and Cheriton, "Leases: An Efficient Fault-Tolerant Mechanism for
//! Distributed File Cache Consistency" (SOSP 1989) for leases and their dependence on
//! bounded clock drift; Burrows, "The Chubby lock service for loosely-coupled distributed
//! systems" (OSDI 2006) for sequencers (a token the resource checks) and for the grace period
//! a restarted lock server waits before granting; Kleppmann, "How to do distributed locking"
//! (2016) for fencing tokens and the process paused in the middle of its work.
//! docs/lease.md goes from the papers to this file.
//!
//! Roles are fixed by node id (the scenario loader refuses fewer than three nodes):
//!
//! - **n1, the grantor** (the lease server; a single point of failure, with durable state).
//!   A holder asks (`acquire`, or `renew` while it holds); the grantor grants when no lease
//!   is outstanding, when the outstanding one has expired on the grantor's *own* clock, or
//!   when the asker is the current holder (a renewal keeps the token). A new grant takes the
//!   next token, written to the cell `counter` and synced before the grant leaves, and
//!   expires `lease_ms` of the grantor's clock after the request arrived. After a restart
//!   the grantor does not know what is outstanding: it grants nothing for `lease_ms` of its
//!   clock (Chubby's grace period).
//! - **n2, the resource** (a fenced storage service): it appends every write it accepts to
//!   its log, synced, and keeps the highest token it has seen in the cell `highest`, synced
//!   with it. It accepts a write whose token is at least that highest, and answers any other
//!   with `rejected`, naming the highest, so the stale holder knows it lost its lease.
//! - **n3 and up, the holders.** A holder remembers its local time `t0` when it asked (the
//!   request carries it and the grant echoes it, so a late or duplicated grant is timed by
//!   the request it answers), and holds the lease until `t0 + lease_ms × (1 − ρ)/(1 + ρ)` of
//!   its own clock, where ρ is `drift_margin_ppm`: the holder's clock may run slow by ρ while
//!   the grantor's runs fast by ρ (docs/lease.md does the arithmetic). With
//!   `drift_margin_ppm` 0 it holds for the whole `lease_ms`. It renews every half lease, and
//!   asks again every `retry_ms` while it holds nothing.
//!
//! The work loop is the check-then-act gap. A holder *checks* its lease (valid, with at least
//! `work_ms` left), starts a piece of work (a timer of `work_ms`), and when the timer fires
//! sends the write, tagged with its token, *without checking again*. In a real system the gap
//! is a garbage-collection pause or a slow disk between the check and the write; in a sans-IO
//! handler a check just before the send would be atomic with it, so the timer is what models
//! the gap honestly. A pause during the work, or a clock stepped back, makes a holder write
//! after its lease ended; drift beyond the margin makes it believe its lease lasts longer
//! than the grantor does. Only the resource's fencing keeps such a write out.
//!
//! Checks (checks.rs): `fenced_writes` (the check library's [`Fenced`] over the resource:
//! no write applied under a token older than one applied before), `one_holder_per_token`
//! and `token_never_goes_back` (the grantor's counter, durable), always on;
//! `lease_exclusive` (no holder writes under a token after a newer one was granted to
//! another node, in true time), off by default since clock faults and pauses break it by
//! design, and the resource's fencing is what must hold; `writes_advance` and `lease_held`,
//! the liveness owed after the heal.
//!
//! Bug switches (`protocol.params.bugs`):
//! - `no_fencing`: the resource applies a write whatever its token. Caught by
//!   `fenced_writes` when a paused or partitioned holder's late write lands.
//! - `token_not_durable`: the grantor writes its counter but does not sync it, so after a
//!   restart it hands out tokens again. Caught by `token_never_goes_back` (and
//!   `one_holder_per_token` when the reissued token goes to another holder).
//! - `resource_forgets_highest`: the resource keeps its highest token in memory only, so a
//!   restarted resource accepts a write older than one it applied before. Caught by
//!   `fenced_writes`.
//!
//! [`Fenced`]: crate::protocol::library::Fenced

mod checks;
#[cfg(test)]
mod tests;

use crate::kit::no_client::NoClient;
use crate::protocol::{
    ConfigError, Ctx, Knob, Liveness, MetricDef, NodeId, PropertyDef, Protocol, Shown, Store, Time,
    Vocabulary,
};
use serde::{Deserialize, Serialize};

/// The grantor's node.
pub const GRANTOR: NodeId = NodeId(0);
/// The resource's node.
pub const RESOURCE: NodeId = NodeId(1);

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// The resource applies every write, whatever its token.
    pub no_fencing: bool,
    /// The grantor writes its token counter without syncing it.
    pub token_not_durable: bool,
    /// The resource keeps the highest token it has seen in memory only.
    pub resource_forgets_highest: bool,
}

/// Parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// A lease's length on the grantor's clock, milliseconds (also its grace after a restart).
    pub lease_ms: u64,
    /// The clock drift, in parts per million, that holders allow for: a holder keeps its
    /// lease for `lease_ms × (10^6 − d)/(10^6 + d)` of its own clock. 0: no margin.
    pub drift_margin_ppm: u64,
    /// How long one piece of work takes between the lease check and its write, milliseconds.
    pub work_ms: u64,
    /// A holder without a lease asks again after this long; one whose renewal went
    /// unanswered renews again after this long, milliseconds.
    pub retry_ms: u64,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lease_ms: 1_000,
            drift_margin_ppm: 100_000,
            work_ms: 100,
            retry_ms: 150,
            bugs: Bugs::default(),
        }
    }
}

impl Config {
    /// How long a holder keeps a lease on its own clock, counted from when it asked:
    /// `lease_ms × (10^6 − d)/(10^6 + d)`, rounded down (docs/lease.md).
    pub fn hold(&self) -> Time {
        let d = u128::from(self.drift_margin_ppm.min(999_999));
        let lease = u128::from(self.lease_ms) * 1_000;
        Time::from_us((lease * (1_000_000 - d) / (1_000_000 + d)) as u64)
    }
}

/// What the store holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// The grantor's last token handed out (cell `counter`).
    Counter(u64),
    /// The highest token the resource has seen (cell `highest`).
    Highest(u64),
    /// A write the resource applied (its log).
    Write {
        /// The writer's token.
        token: u64,
        /// The writer.
        holder: NodeId,
        /// The writer's number for it.
        seq: u64,
    },
}

/// Messages between nodes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Holder to grantor: "may I have the lease?"; `sent` is the holder's clock when it asked.
    Acquire {
        /// The holder's local time at sending.
        sent: Time,
    },
    /// Holder to grantor: "extend my lease".
    Renew {
        /// The token it holds.
        token: u64,
        /// The holder's local time at sending.
        sent: Time,
    },
    /// Grantor to holder: the lease, under `token`, counted from the request sent at `sent`.
    Grant {
        /// The fencing token.
        token: u64,
        /// Echoed from the request.
        sent: Time,
    },
    /// Grantor to holder: not now (another node holds it, or the grantor is in its grace).
    Denied {
        /// The node the grantor believes holds the lease (none during its grace).
        holder: Option<NodeId>,
    },
    /// Holder to resource: a write under a token.
    Write {
        /// The writer's token.
        token: u64,
        /// The writer.
        holder: NodeId,
        /// The writer's number for it.
        seq: u64,
    },
    /// Resource to holder: applied.
    Applied {
        /// The token written under.
        token: u64,
        /// The writer's number for it.
        seq: u64,
    },
    /// Resource to holder: refused, a newer token has written.
    Rejected {
        /// The token refused.
        token: u64,
        /// The highest token the resource has seen.
        highest: u64,
    },
}

/// Timers (holders only).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Ask for the lease (again).
    Ask,
    /// Renew the lease held.
    Renew,
    /// The lease may have run out: look at the clock.
    Expire,
    /// The piece of work in progress is done: send its write.
    Work,
}

/// The lease the grantor believes is outstanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Outstanding {
    /// Its holder.
    pub holder: NodeId,
    /// Its token.
    pub token: u64,
    /// When it runs out, on the grantor's clock.
    pub expires: Time,
}

/// The grantor's state.
#[derive(Clone, Debug, Default)]
struct Grantor {
    /// The last token handed out.
    counter: u64,
    /// The lease outstanding, as far as the grantor knows.
    current: Option<Outstanding>,
    /// After a restart: no grant before this time of the grantor's clock.
    grace_until: Option<Time>,
}

/// The resource's state.
#[derive(Clone, Debug, Default)]
struct Resource {
    /// The highest token seen.
    highest: u64,
    /// Writes in the log.
    applied: u64,
    /// The token of the last write applied.
    last: u64,
    /// Writes refused since this incarnation started.
    rejected: u64,
}

/// A lease a holder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Held {
    /// Its token.
    pub token: u64,
    /// When it runs out, on the holder's clock.
    pub until: Time,
}

/// A piece of work in progress: its write, when it is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
struct Piece {
    token: u64,
    seq: u64,
}

/// A holder's state.
#[derive(Clone, Debug, Default)]
struct Holder {
    /// The lease held, if any.
    lease: Option<Held>,
    /// The highest token this holder has heard of (its own, or a rejection's).
    seen: u64,
    /// The piece of work in progress.
    work: Option<Piece>,
    /// Writes sent in this incarnation.
    sent: u64,
    /// The token of the last write sent.
    last_sent: u64,
    /// Writes the resource acknowledged in this incarnation.
    acked: u64,
}

/// What a node is.
#[derive(Clone, Debug)]
enum Part {
    Grantor(Grantor),
    Resource(Resource),
    Holder(Holder),
}

/// One node of the lease protocol.
#[derive(Clone, Debug)]
pub struct Lease {
    id: NodeId,
    config: Config,
    part: Part,
}

impl Lease {
    fn annotate_role(&self, ctx: &mut Ctx<'_, Self>) {
        let role = match &self.part {
            Part::Grantor(_) => "grantor",
            Part::Resource(_) => "resource",
            Part::Holder(h) if h.lease.is_some() => "holder",
            Part::Holder(_) => "seeking",
        };
        ctx.annotate("role", role);
    }

    // ----- grantor -----

    fn on_ask(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, sent: Time) {
        let lease = Time::from_ms(self.config.lease_ms);
        let not_durable = self.config.bugs.token_not_durable;
        let Part::Grantor(g) = &mut self.part else {
            return;
        };
        let now = ctx.now();
        if let Some(until) = g.grace_until {
            if now < until {
                ctx.send(from, Msg::Denied { holder: None });
                return;
            }
            g.grace_until = None;
        }
        // Past the grace period every ask is answered (a grant or a denial naming the
        // holder): the grantor serves.
        ctx.serving();
        match &mut g.current {
            Some(o) if o.holder == from => {
                // A renewal (or the holder asking again): same token, a fresh expiry.
                o.expires = now.add(lease);
                let token = o.token;
                ctx.send(from, Msg::Grant { token, sent });
            }
            Some(o) if now < o.expires => {
                let holder = Some(o.holder);
                ctx.send(from, Msg::Denied { holder });
            }
            _ => {
                // A new lease: the next token, durable before the grant can leave.
                g.counter += 1;
                let token = g.counter;
                ctx.write_cell("counter", Record::Counter(token));
                if !not_durable {
                    ctx.sync();
                }
                g.current = Some(Outstanding {
                    holder: from,
                    token,
                    expires: now.add(lease),
                });
                ctx.annotate("token", token);
                ctx.annotate("granted_to", from);
                ctx.send(from, Msg::Grant { token, sent });
            }
        }
    }

    // ----- resource -----

    fn on_write(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, token: u64, seq: u64) {
        let bugs = self.config.bugs.clone();
        let Part::Resource(r) = &mut self.part else {
            return;
        };
        // Every write is answered, applied or fenced out: the resource serves.
        ctx.serving();
        if token < r.highest && !bugs.no_fencing {
            r.rejected += 1;
            let highest = r.highest;
            ctx.send(from, Msg::Rejected { token, highest });
            return;
        }
        if token > r.highest {
            r.highest = token;
            if !bugs.resource_forgets_highest {
                ctx.write_cell("highest", Record::Highest(token));
            }
            ctx.annotate("token", token);
        }
        ctx.append(Record::Write {
            token,
            holder: from,
            seq,
        });
        ctx.sync();
        r.applied += 1;
        r.last = token;
        ctx.annotate("writes", r.applied);
        ctx.send(from, Msg::Applied { token, seq });
    }

    // ----- holder -----

    fn holder(&mut self) -> &mut Holder {
        match &mut self.part {
            Part::Holder(h) => h,
            _ => unreachable!("only holders set timers and take grants"),
        }
    }

    fn on_grant(&mut self, ctx: &mut Ctx<'_, Self>, token: u64, sent: Time) {
        let hold = self.config.hold();
        let renew_after = Time::from_ms((self.config.lease_ms / 2).max(1));
        let now = ctx.now();
        let until = sent.add(hold);
        let h = self.holder();
        if token < h.seen || now >= until {
            return; // an old grant, or one that ran out on its way
        }
        match &mut h.lease {
            Some(l) if l.token == token => l.until = l.until.max(until),
            Some(l) if l.token > token => return,
            _ => {
                h.lease = Some(Held { token, until });
                h.seen = token;
                ctx.annotate("token", token);
                ctx.cancel_timer(Timer::Ask);
            }
        }
        let until = h.lease.map_or(until, |l| l.until);
        ctx.set_timer(Timer::Expire, until.sub(now));
        ctx.set_timer(Timer::Renew, renew_after);
        self.annotate_role(ctx);
        self.start_work(ctx);
    }

    /// The check of check-then-act: start a piece of work only under a lease that still has
    /// `work_ms` to run on this holder's clock.
    fn start_work(&mut self, ctx: &mut Ctx<'_, Self>) {
        let work = Time::from_ms(self.config.work_ms);
        let now = ctx.now();
        let h = self.holder();
        if h.work.is_some() {
            return;
        }
        let Some(l) = h.lease else { return };
        if now.add(work) > l.until {
            return; // too little lease left: the renewal will start it again
        }
        h.work = Some(Piece {
            token: l.token,
            seq: h.sent + 1,
        });
        ctx.set_timer(Timer::Work, work);
    }

    /// The act of check-then-act: the write leaves without a second look at the lease.
    fn finish_work(&mut self, ctx: &mut Ctx<'_, Self>) {
        let id = self.id;
        let h = self.holder();
        let Some(p) = h.work.take() else { return };
        h.sent += 1;
        h.last_sent = p.token;
        ctx.send(
            RESOURCE,
            Msg::Write {
                token: p.token,
                holder: id,
                seq: p.seq,
            },
        );
        self.start_work(ctx);
    }

    fn drop_lease(&mut self, ctx: &mut Ctx<'_, Self>, why: &'static str) {
        let h = self.holder();
        if h.lease.take().is_none() {
            return;
        }
        ctx.cancel_timer(Timer::Renew);
        ctx.cancel_timer(Timer::Expire);
        ctx.annotate("lease_lost", why);
        self.annotate_role(ctx);
        self.ask(ctx);
    }

    fn ask(&mut self, ctx: &mut Ctx<'_, Self>) {
        let retry = Time::from_ms(self.config.retry_ms.max(1));
        let sent = ctx.now();
        ctx.send(GRANTOR, Msg::Acquire { sent });
        ctx.set_timer(Timer::Ask, retry);
    }

    fn on_rejected(&mut self, ctx: &mut Ctx<'_, Self>, highest: u64) {
        let h = self.holder();
        h.seen = h.seen.max(highest);
        if h.work.is_some_and(|p| p.token < highest) {
            h.work = None;
            ctx.cancel_timer(Timer::Work);
        }
        if h.lease.is_some_and(|l| l.token < highest) {
            self.drop_lease(ctx, "fenced");
        }
    }
}

impl Protocol for Lease {
    const NAME: &'static str = "lease";
    type Config = Config;
    type Msg = Msg;
    type Timer = Timer;
    type Request = ();
    type Response = ();
    type Record = Record;
    type Client = NoClient;

    fn new(id: NodeId, _: u32, config: &Config) -> Self {
        let part = match id {
            GRANTOR => Part::Grantor(Grantor::default()),
            RESOURCE => Part::Resource(Resource::default()),
            _ => Part::Holder(Holder::default()),
        };
        Lease {
            id,
            config: config.clone(),
            part,
        }
    }

    fn check_config(config: &Config, nodes: u32) -> Result<(), ConfigError> {
        if nodes < 3 {
            return Err(ConfigError::nodes(format!(
                "the lease protocol needs at least 3 nodes (n1 grants leases, n2 is the fenced resource, n3 and up hold leases), not {nodes}"
            )));
        }
        if config.lease_ms == 0 {
            return Err(ConfigError::new("lease_ms", "must be above 0"));
        }
        if config.work_ms == 0 {
            return Err(ConfigError::new("work_ms", "must be above 0"));
        }
        if config.drift_margin_ppm >= 1_000_000 {
            return Err(ConfigError::new(
                "drift_margin_ppm",
                "must be below 1000000 (a margin of the whole lease leaves none)",
            ));
        }
        Ok(())
    }

    /// Takes the new bug switches; the other parameters stay as built.
    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.config.bugs = config.bugs.clone();
        Ok(())
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.annotate_role(ctx);
        if let Part::Holder(_) = self.part {
            // Holders start at different moments, so their first requests do not all meet.
            let first = ctx.rng().between(1, self.config.retry_ms.max(1));
            ctx.set_timer(Timer::Ask, Time::from_ms(first));
        }
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        let lease = Time::from_ms(self.config.lease_ms);
        let now = ctx.now();
        let store = ctx.store();
        match &mut self.part {
            Part::Grantor(g) => {
                if let Some(Record::Counter(c)) = store.cell("counter") {
                    g.counter = *c;
                }
                // Some holder may still hold a lease this grantor granted and forgot: wait
                // out the longest one before granting anything.
                g.grace_until = Some(now.add(lease));
                let token = g.counter;
                ctx.annotate("token", token);
            }
            Part::Resource(r) => {
                if let Some(Record::Highest(t)) = store.cell("highest") {
                    r.highest = *t;
                }
                for rec in store.records() {
                    if let Record::Write { token, .. } = rec {
                        r.applied += 1;
                        r.last = *token;
                    }
                }
                let (highest, applied) = (r.highest, r.applied);
                ctx.annotate("token", highest);
                ctx.annotate("writes", applied);
            }
            Part::Holder(_) => {}
        }
        self.on_start(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match (&self.part, msg) {
            (Part::Grantor(_), Msg::Acquire { sent } | Msg::Renew { sent, .. }) => {
                self.on_ask(ctx, from, sent)
            }
            (Part::Resource(_), Msg::Write { token, seq, .. }) => {
                self.on_write(ctx, from, token, seq)
            }
            (Part::Holder(_), Msg::Grant { token, sent }) if from == GRANTOR => {
                self.on_grant(ctx, token, sent)
            }
            (Part::Holder(_), Msg::Applied { .. }) => {
                // A write of this holder's took effect: the holder serves.
                ctx.serving();
                self.holder().acked += 1
            }
            (Part::Holder(_), Msg::Rejected { highest, .. }) => self.on_rejected(ctx, highest),
            // A denial changes nothing: a holder keeps what it holds until its own deadline,
            // and one without a lease asks again on its timer.
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        if !matches!(self.part, Part::Holder(_)) {
            return;
        }
        let retry = Time::from_ms(self.config.retry_ms.max(1));
        match timer {
            Timer::Ask => {
                if self.holder().lease.is_none() {
                    self.ask(ctx);
                }
            }
            Timer::Renew => {
                if let Some(l) = self.holder().lease {
                    let sent = ctx.now();
                    ctx.send(
                        GRANTOR,
                        Msg::Renew {
                            token: l.token,
                            sent,
                        },
                    );
                    ctx.set_timer(Timer::Renew, retry);
                }
            }
            Timer::Expire => {
                let now = ctx.now();
                if let Some(l) = self.holder().lease {
                    if now >= l.until {
                        self.drop_lease(ctx, "expired");
                    } else {
                        // The clock was stepped back since the timer was armed.
                        ctx.set_timer(Timer::Expire, l.until.sub(now));
                    }
                }
            }
            Timer::Work => self.finish_work(ctx),
        }
    }

    /// Per node: the grantor's counter and the lease it believes outstanding, the resource's
    /// highest token and its log of applied writes (each marked by its token), a holder's
    /// lease and the work in progress.
    fn show(&self, store: &Store<Record>, out: &mut Shown) {
        match &self.part {
            Part::Grantor(g) => {
                out.field("counter", &g.counter);
                out.field("holder", &g.current.map(|o| o.holder));
                out.field("token", &g.current.map(|o| o.token));
                out.field("expires", &g.current.map(|o| o.expires));
                out.field("grace_until", &g.grace_until);
            }
            Part::Resource(r) => {
                out.field("highest", &r.highest);
                out.field("applied", &r.applied);
                out.field("rejected", &r.rejected);
                let writes = store.records().iter().filter_map(|rec| match rec {
                    Record::Write { token, holder, seq } => {
                        Some((*token, format!("{holder} #{seq}")))
                    }
                    _ => None,
                });
                out.log("log", store.stats().writes, writes, r.applied);
            }
            Part::Holder(h) => {
                out.field("token", &h.lease.map(|l| l.token));
                out.field("until", &h.lease.map(|l| l.until));
                out.field("working_under", &h.work.map(|p| p.token));
                out.field("writes_sent", &h.sent);
                out.field("writes_acked", &h.acked);
            }
        }
    }

    fn vocabulary() -> Vocabulary {
        Vocabulary::none()
            .role("role", &["holder"], &["seeking"])
            .epoch("token")
            .leader("granted_to")
            .progress(&["writes"])
            .step_down("lease_lost")
            // No clients: the grantor serves when it answers past its grace period, the
            // resource when it answers a write, a holder when its write took effect.
            .serves_signal()
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        checks::properties()
    }

    fn metrics() -> Vec<MetricDef<Self>> {
        checks::metrics()
    }

    /// The lease length, the work time and the retry period, within ranges where a piece of
    /// work fits several times into a lease; the margin stays at its default, which covers
    /// the swarm's largest drift (100 000 ppm).
    fn knobs() -> Vec<Knob> {
        vec![
            Knob::between("lease_ms", 600, 1_500),
            Knob::between("work_ms", 20, 150),
            Knob::between("retry_ms", 50, 200),
        ]
    }

    /// After the heal some holder holds a lease, and the resource applies a write past its
    /// count at the heal, within ten leases and four retries: a restarted grantor's grace
    /// and an outstanding lease run out on clocks up to 10% slow and stepped back, then a
    /// holder asks and works.
    fn liveness(c: &Config) -> Liveness {
        let budget = Time::from_ms(
            c.lease_ms
                .saturating_mul(10)
                .saturating_add(c.retry_ms.saturating_mul(4)),
        );
        let formula = "10 × lease_ms + 4 × retry_ms";
        Liveness::default()
            .within("lease_held", false, budget, formula)
            .within("writes_advance", false, budget, formula)
    }

    fn record_bytes(r: &Record) -> u64 {
        match r {
            Record::Counter(_) | Record::Highest(_) => 8,
            Record::Write { .. } => 20,
        }
    }
}
