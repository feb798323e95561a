//! Primary-backup replication of the kit's key-value service, with numbered views decided by
//! a view manager, leases, state transfer and fencing by epoch.
//!
//! References: Alsberg and Day, "A principle for resilient sharing of distributed resources"
//! (1976), the first primary-backup scheme; Budhiraja, Marzullo, Schneider and Toueg, "The
//! primary-backup approach" (1993), for what it guarantees; Oki and Liskov, "Viewstamped
//! Replication" (1988) and Liskov and Cowling, "Viewstamped Replication Revisited" (2012),
//! for numbered views; Gray and Cheriton, "Leases" (1989), for reads under a lease; the view
//! service of MIT 6.824's primary-backup lab, for a configuration service that waits for the
//! primary to acknowledge a view. docs/replication.md goes from these to this file.
//!
//! - **Roles.** n1 is the **view manager**, the configuration service; every other node is a
//!   **replica**. The view manager is one node, not replicated: a single point of failure by
//!   declaration. It keeps its view durable, so a crash stops failover while it is down and
//!   loses nothing (`pb/view-manager-down`); the swarm may crash it.
//! - **Views.** A view is an epoch, a primary and the backups. The view manager changes the
//!   view when the primary stops pinging (and its lease has run out on the view manager's
//!   clock), when a backup stops pinging, or when a replica that is not in the view pings.
//!   It moves on from a view only once the view's primary has confirmed it (state transfer
//!   done), unless a member of the view died. It promotes only a replica known to hold every
//!   acknowledged write: the members of the last confirmed view, narrowed by every
//!   unconfirmed view since (`sound`). Epochs are synced before anyone hears of them.
//! - **State transfer.** A new primary sends its whole state to every backup of its view and
//!   serves nothing until each has installed it; then it tells the view manager.
//! - **Writes.** The primary gives each write the next index and sends it to every backup;
//!   a backup applies writes in index order, syncs, and acknowledges. With
//!   `replication: "sync"` (the default) the primary applies and answers a write once every
//!   backup has it; with `"async"` it answers at once and ships the write afterwards, so a
//!   failover can lose acknowledged writes (`pb/async-loses-writes` fails
//!   `acked_writes_survive`).
//! - **Fencing.** Every replica keeps the highest epoch it adopted, synced. A backup refuses
//!   a write, a state transfer or a read confirmation from an older epoch and says so; the
//!   deposed primary steps down. So an old primary that wakes up or comes back from a
//!   partition cannot get a write acknowledged: the new primary, a backup of the old view,
//!   no longer acknowledges it.
//! - **Reads.** With `reads: "confirm"` (the default) the primary asks every backup to
//!   confirm its epoch before it answers a read, so a deposed primary never answers one. With
//!   `reads: "lease"` it answers from its state while its lease lasts: the view manager grants
//!   a lease of `lease_ms` with each ping reply to the primary of a confirmed view, and does
//!   not promote another primary until `lease_ms` of its own clock has passed since the last
//!   grant. The primary measures the lease from when it sent the ping, shortened by
//!   `drift_margin_ppm` for clocks that drift apart. Drift within the margin is survived
//!   (`pb/lease-drift-margin`); no margin is not (`pb/lease-drift-no-margin`), and no margin
//!   survives a clock stepped back (`pb/lease-clock-step`): nothing on the resource side
//!   fences a read.
//!
//! Durable state: the view manager's view, whether it was confirmed and the `sound` set
//! (cell `view`); a replica's epoch (cell `epoch`), the state it installed at its last
//! transfer (cell `snapshot`) and the writes applied since, as records.
//!
//! Bug switches (`protocol.params.bugs`): docs/replication.md says where each comes from and
//! which check catches it.

mod checks;
#[cfg(test)]
mod tests;

pub use crate::kit::kv::{Answer, Command, Op};

use crate::kit::kv::{self, KvGenerator, KvMix, KvService, KvWorkload, Seen};
use crate::protocol::{
    ClientId, ConfigError, Ctx, Driver, HistoryCall, HistoryCheck, Knob, Liveness, MetricDef,
    NodeId, PropertyDef, Protocol, RequestId, Shown, Store, Time, Val, Vocabulary,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The view manager's node.
pub const VIEW_MANAGER: NodeId = NodeId(0);

/// Most writes a primary keeps waiting for its backups; beyond it, new writes wait for the
/// client's retry (a bound, so a backup that is cut off cannot make the primary grow).
const PENDING_MAX: usize = 1024;

/// Most out-of-order writes a backup keeps until the gap before them fills.
const BUFFER_MAX: usize = 1024;

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// A backup that hears nothing from its primary for `dead_ms` makes itself primary in the
    /// same epoch, without asking the view manager.
    pub promote_without_epoch: bool,
    /// Backups accept writes and read confirmations from a primary of an older epoch.
    pub no_fencing: bool,
    /// The primary answers reads from its own state at once, confirming nothing and checking
    /// no lease.
    pub skip_read_confirm: bool,
    /// The view manager promotes the live replica with the lowest id, whether or not it is
    /// known to hold every acknowledged write.
    pub promote_stale_backup: bool,
    /// The view manager does not sync its view: a restart forgets it and numbers views from 1
    /// again.
    pub view_not_durable: bool,
}

/// How writes reach the backups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replication {
    /// A write is answered once every backup has it.
    #[default]
    Sync,
    /// A write is answered at once and shipped afterwards (fast; a failover loses writes).
    Async,
}

/// How the primary makes sure it is still the primary before it answers a read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reads {
    /// Every backup confirms the primary's epoch first (fenced by the backups).
    #[default]
    Confirm,
    /// The primary's lease from the view manager is enough (trusts clocks).
    Lease,
}

/// Parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Replicas ping the view manager, and the primary its backups, this often, milliseconds.
    pub ping_ms: u64,
    /// A replica not heard from for this long is dead to the view manager (and, with
    /// `promote_without_epoch`, a primary to its backups), milliseconds.
    pub dead_ms: u64,
    /// The primary's lease, milliseconds of the view manager's clock.
    pub lease_ms: u64,
    /// The most two clocks may drift apart, parts per million: the primary trusts its lease
    /// for `lease_ms × (10^6 − m) / (10^6 + m)` of its own clock. 0: no margin.
    pub drift_margin_ppm: u64,
    /// Unanswered writes, transfers and confirmations are sent again this often, ms.
    pub resend_ms: u64,
    /// Synchronous or asynchronous replication.
    pub replication: Replication,
    /// How reads are served.
    pub reads: Reads,
    /// Keys the workload uses.
    pub keys: u32,
    /// Percentage of operations that are gets; absent, gets, puts and appends alike.
    pub read_percent: Option<u32>,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ping_ms: 50,
            dead_ms: 250,
            lease_ms: 400,
            drift_margin_ppm: 100_000,
            resend_ms: 40,
            replication: Replication::Sync,
            reads: Reads::Confirm,
            keys: 5,
            read_percent: None,
            bugs: Bugs::default(),
        }
    }
}

impl Config {
    /// How long the primary trusts a lease, of its own clock.
    fn lease_local(&self) -> Time {
        let m = u128::from(self.drift_margin_ppm.min(999_999));
        let us = u128::from(self.lease_ms) * 1000 * (1_000_000 - m) / (1_000_000 + m);
        Time::from_us(u64::try_from(us).unwrap_or(u64::MAX))
    }

    /// After the heal, how long a primary may take to serve and writes to flow again:
    /// 4 × dead_ms + 2 × lease_ms + 10 × resend_ms (saturating).
    pub fn liveness_budget(&self) -> Time {
        Time::from_ms(
            self.dead_ms
                .saturating_mul(4)
                .saturating_add(self.lease_ms.saturating_mul(2))
                .saturating_add(self.resend_ms.saturating_mul(10)),
        )
    }
}

impl KvWorkload for Config {
    fn kv_mix(&self) -> KvMix {
        KvMix {
            keys: self.keys,
            read_percent: self.read_percent,
        }
    }
}

/// A view: its epoch, its primary, its backups (in id order).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct View {
    /// The epoch (0: no view yet).
    pub epoch: u64,
    /// The primary.
    pub primary: Option<NodeId>,
    /// The backups.
    pub backups: Vec<NodeId>,
}

impl View {
    fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.primary.into_iter().chain(self.backups.iter().copied())
    }
}

/// A replica's whole state, as a transfer carries it and a snapshot keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct State {
    /// Writes applied (the index of the last one).
    pub applied: u64,
    /// The key-value map with its client sessions.
    pub service: KvService,
}

/// What the store holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// View manager (cell `view`): the view, whether its primary confirmed it, and the
    /// replicas known to hold every acknowledged write.
    Manager {
        /// The current view.
        view: View,
        /// Its primary confirmed it.
        confirmed: bool,
        /// The replicas known to hold every acknowledged write.
        sound: Vec<NodeId>,
    },
    /// Replica (cell `epoch`): the highest epoch adopted.
    Epoch(u64),
    /// Replica (cell `snapshot`): the state installed at the last transfer, and its epoch.
    Snapshot {
        /// The transfer's epoch.
        epoch: u64,
        /// The state.
        state: State,
    },
    /// Replica (a record after the snapshot): a write applied.
    Applied {
        /// The epoch of the primary that sent it.
        epoch: u64,
        /// Its index.
        index: u64,
        /// The write.
        command: Command,
    },
}

/// Messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Replica → view manager: alive, in this epoch; `member` when it holds a role in it
    /// (not after a restart); `confirmed` when it is the primary and its backups hold its
    /// state. `sent` is the replica's clock (echoed, for the lease).
    Ping {
        /// The replica's epoch.
        epoch: u64,
        /// It is the primary or a backup of `epoch`.
        member: bool,
        /// It is the primary of `epoch` and its transfer is done.
        confirmed: bool,
        /// Its clock when it sent this.
        sent: Time,
    },
    /// View manager → replica: the current view; `lease` when it grants the primary a lease
    /// measured from `sent`.
    ViewIs {
        /// The view.
        view: View,
        /// A lease is granted.
        lease: bool,
        /// The ping's `sent`, echoed.
        sent: Time,
    },
    /// Primary → backup: alive (for the backup's own watch).
    Heartbeat {
        /// The primary's epoch.
        epoch: u64,
    },
    /// Primary → backup: install this state.
    Transfer {
        /// The primary's epoch.
        epoch: u64,
        /// Its state.
        state: State,
    },
    /// Backup → primary: installed.
    Installed {
        /// The epoch of the transfer.
        epoch: u64,
    },
    /// Primary → backup: apply this write at this index.
    Replicate {
        /// The primary's epoch.
        epoch: u64,
        /// The write's index.
        index: u64,
        /// The write.
        command: Command,
    },
    /// Backup → primary: every write up to `index` applied and synced.
    Ack {
        /// The backup's epoch.
        epoch: u64,
        /// The last index applied.
        index: u64,
    },
    /// Primary → backup: still my epoch? (before answering read `read`)
    Confirm {
        /// The primary's epoch.
        epoch: u64,
        /// The read's number.
        read: u64,
    },
    /// Backup → primary: yes.
    Confirmed {
        /// The epoch confirmed.
        epoch: u64,
        /// The read's number.
        read: u64,
    },
    /// Backup → old primary: refused, I am in a newer epoch.
    Fenced {
        /// The backup's epoch.
        epoch: u64,
    },
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Ping the view manager (replica) or review the view (view manager).
    Tick,
    /// Primary: send unanswered writes, transfers and confirmations again.
    Resend,
}

/// A node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// n1: decides views.
    ViewManager,
    /// Serves clients in its epoch.
    Primary,
    /// Holds a copy, applies the primary's writes.
    Backup,
    /// A replica in no view (or not yet told).
    Idle,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::ViewManager => "view_manager",
            Role::Primary => "primary",
            Role::Backup => "backup",
            Role::Idle => "idle",
        }
    }
}

/// A write the primary waits on.
#[derive(Clone, Debug, Hash)]
struct Pending {
    command: Command,
}

/// A read waiting for its confirmations.
#[derive(Clone, Debug, Hash)]
struct ReadWait {
    client: ClientId,
    id: RequestId,
    key: String,
    confirmed: Vec<NodeId>,
}

/// The view manager's state.
#[derive(Clone, Debug, Default, Hash)]
struct Manager {
    view: View,
    confirmed: bool,
    sound: Vec<NodeId>,
    /// Per node: its clock when its last ping arrived.
    heard: Vec<Option<Time>>,
    /// Per node: a member of the current view that restarted (it needs a new view).
    lost: Vec<bool>,
    /// No new primary before this (its clock): the last lease granted, or the grace after a
    /// restart.
    lease_until: Time,
}

/// One node: the view manager (n1) or a replica.
#[derive(Clone, Debug, Hash)]
pub struct Pb {
    id: NodeId,
    n: u32,
    config: Config,
    role: Role,
    manager: Manager,
    // Replica.
    /// Highest epoch adopted (durable).
    epoch: u64,
    /// The view of `epoch` as last heard.
    view: View,
    /// The epoch of the last state installed or sent in a transfer (writes of another epoch
    /// are not applied on top of it).
    synced_epoch: u64,
    state: State,
    /// Writes applied since start, and the epoch of the last one (the state installed at a
    /// transfer counts as one): what the fencing check reads.
    writes: (u64, u64),
    /// Backup: writes that arrived ahead of a gap.
    buffer: BTreeMap<u64, Command>,
    /// Backup: its clock when the primary was last heard.
    heard_primary: Time,
    // Primary.
    /// Its backups hold its state.
    confirmed: bool,
    /// Backups that installed the transfer.
    installed: Vec<NodeId>,
    /// Per backup: the last index it acknowledged.
    acked: BTreeMap<NodeId, u64>,
    /// Writes sent but not answered, by index.
    pending: BTreeMap<u64, Pending>,
    /// The last index given to a write.
    assigned: u64,
    /// The last index answered (acknowledged to its client).
    committed: u64,
    /// Reads waiting for confirmations, by number.
    reads: BTreeMap<u64, ReadWait>,
    read_seq: u64,
    /// The lease lasts until this (its clock).
    lease_until: Option<Time>,
}

impl Pb {
    fn set_role(&mut self, ctx: &mut Ctx<'_, Self>, role: Role) {
        if self.role != role {
            self.role = role;
            ctx.annotate("role", role.name());
        }
    }

    fn tick(&self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(Timer::Tick, Time::from_ms(self.config.ping_ms.max(1)));
    }

    fn resend_later(&self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(Timer::Resend, Time::from_ms(self.config.resend_ms.max(1)));
    }

    // ---- View manager ----

    fn persist_manager(&self, ctx: &mut Ctx<'_, Self>) {
        let m = &self.manager;
        ctx.write_cell(
            "view",
            Record::Manager {
                view: m.view.clone(),
                confirmed: m.confirmed,
                sound: m.sound.clone(),
            },
        );
        if !self.config.bugs.view_not_durable {
            ctx.sync();
        }
    }

    fn alive(&self, now: Time, node: NodeId) -> bool {
        let dead = Time::from_ms(self.config.dead_ms);
        self.manager.heard[node.index()].is_some_and(|t| now.sub(t) < dead)
    }

    fn on_ping(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        epoch: u64,
        member: bool,
        confirmed: bool,
        sent: Time,
    ) {
        let now = ctx.now();
        self.manager.heard[from.index()] = Some(now);
        let m = &mut self.manager;
        if epoch == m.view.epoch && !member && m.view.members().any(|r| r == from) {
            // It restarted inside the current view and lost its place in it.
            m.lost[from.index()] = true;
        }
        let current = m.view.primary == Some(from) && epoch == m.view.epoch && m.view.epoch > 0;
        if current && confirmed && !m.confirmed {
            m.confirmed = true;
            m.sound = m.view.members().collect();
            m.sound.sort();
            self.persist_manager(ctx);
        }
        if self.manager.view.epoch > 0 {
            // The first view waits for the first review, so it can take every replica that
            // pinged by then, the lowest id as primary.
            self.review(ctx);
        }
        let m = &mut self.manager;
        let lease = current && confirmed && m.confirmed && m.view.primary == Some(from);
        if lease {
            let until = now.add(Time::from_ms(self.config.lease_ms));
            if until > m.lease_until {
                m.lease_until = until;
            }
        }
        let view = self.manager.view.clone();
        ctx.send(from, Msg::ViewIs { view, lease, sent });
    }

    /// Moves to a new view if the current one has lost a member, or can take a new one.
    fn review(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        let replicas: Vec<NodeId> = (1..self.n).map(NodeId).collect();
        let alive: Vec<NodeId> = replicas
            .iter()
            .copied()
            .filter(|&r| self.alive(now, r))
            .collect();
        let m = &self.manager;
        let view = m.view.clone();
        // Up and holding its place: alive, and not restarted inside the view.
        let ok = |r: &NodeId| alive.contains(r) && !m.lost[r.index()];
        let primary_ok = view.primary.is_some_and(|p| ok(&p));
        let member_lost = view.members().any(|r| !ok(&r));
        if view.epoch > 0 && !m.confirmed && !member_lost {
            return; // the primary is still transferring its state
        }
        let primary = if primary_ok {
            view.primary
        } else {
            // A primary that pings after a restart holds no lease any more.
            let restarted = view.primary.is_some_and(|p| alive.contains(&p));
            if view.epoch > 0 && now < m.lease_until && !restarted {
                return; // the old primary may still hold a lease
            }
            let sound: Vec<NodeId> = if view.epoch == 0 {
                m.sound.clone()
            } else {
                m.sound
                    .iter()
                    .copied()
                    .filter(|r| view.members().any(|x| x == *r))
                    .collect()
            };
            if self.config.bugs.promote_stale_backup {
                alive.first().copied()
            } else {
                alive.iter().copied().find(|r| sound.contains(r))
            }
        };
        let Some(primary) = primary else {
            return; // nobody can take over yet
        };
        let backups: Vec<NodeId> = if m.confirmed || view.epoch == 0 {
            alive.iter().copied().filter(|&r| r != primary).collect()
        } else {
            // An unconfirmed view only sheds its dead; newcomers wait for a confirmed one.
            view.backups
                .iter()
                .copied()
                .filter(|&r| r != primary && ok(&r))
                .collect()
        };
        if Some(primary) == view.primary && backups == view.backups && !member_lost {
            return;
        }
        let m = &mut self.manager;
        if view.epoch > 0 {
            m.sound.retain(|r| view.members().any(|x| x == *r));
        }
        m.view = View {
            epoch: view.epoch + 1,
            primary: Some(primary),
            backups,
        };
        m.confirmed = false;
        m.lost.iter_mut().for_each(|l| *l = false);
        self.persist_manager(ctx);
        ctx.annotate("epoch", self.manager.view.epoch);
        ctx.annotate("primary", Some(primary));
        // Tell the new view's members now rather than at their next ping.
        let view = self.manager.view.clone();
        for r in view.members() {
            ctx.send(
                r,
                Msg::ViewIs {
                    view: view.clone(),
                    lease: false,
                    sent: Time::ZERO,
                },
            );
        }
    }

    // ---- Replica ----

    fn adopt_epoch(&mut self, ctx: &mut Ctx<'_, Self>, epoch: u64) {
        self.epoch = epoch;
        ctx.write_cell("epoch", Record::Epoch(epoch));
        ctx.sync();
        ctx.annotate("epoch", epoch);
    }

    fn on_view(&mut self, ctx: &mut Ctx<'_, Self>, view: View, lease: bool, sent: Time) {
        if view.epoch < self.epoch {
            return;
        }
        if view.epoch == self.epoch {
            if lease && self.role == Role::Primary && self.confirmed {
                let until = sent.add(self.config.lease_local());
                if self.lease_until.is_none_or(|u| until > u) {
                    self.lease_until = Some(until);
                }
            }
            // Same view: nothing to do. A node that restarted inside this view stays idle
            // and says so in its pings; the view manager moves to a new view for it, so no
            // epoch ever has a primary or backup that lost its state halfway.
            self.view = view;
            return;
        }
        self.adopt_epoch(ctx, view.epoch);
        self.step_down();
        ctx.annotate("primary", view.primary);
        if view.primary == Some(self.id) {
            self.become_primary(ctx, view);
        } else {
            let role = if view.backups.contains(&self.id) {
                Role::Backup
            } else {
                Role::Idle
            };
            self.heard_primary = ctx.now();
            self.view = view;
            self.set_role(ctx, role);
        }
    }

    /// Forgets everything a primary keeps (clients waiting on it will retry).
    fn step_down(&mut self) {
        self.confirmed = false;
        self.installed.clear();
        self.acked.clear();
        self.pending.clear();
        self.reads.clear();
        self.lease_until = None;
        self.assigned = self.state.applied;
        self.committed = self.state.applied;
    }

    fn become_primary(&mut self, ctx: &mut Ctx<'_, Self>, view: View) {
        self.view = view;
        self.set_role(ctx, Role::Primary);
        self.synced_epoch = self.epoch;
        self.writes = (self.writes.0 + 1, self.epoch);
        self.buffer.clear();
        self.send_transfers(ctx);
        if self.view.backups.is_empty() {
            self.confirm(ctx);
        }
        self.resend_later(ctx);
    }

    fn send_transfers(&self, ctx: &mut Ctx<'_, Self>) {
        for &b in &self.view.backups {
            if !self.installed.contains(&b) {
                ctx.send(
                    b,
                    Msg::Transfer {
                        epoch: self.epoch,
                        state: self.state.clone(),
                    },
                );
            }
        }
    }

    /// Every backup holds this primary's state: it serves, and says so at once.
    fn confirm(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.confirmed = true;
        ctx.annotate("confirmed", self.epoch);
        for &b in &self.view.backups {
            self.acked.insert(b, self.state.applied);
        }
        self.ping(ctx);
    }

    fn ping(&self, ctx: &mut Ctx<'_, Self>) {
        ctx.send(
            VIEW_MANAGER,
            Msg::Ping {
                epoch: self.epoch,
                member: self.role != Role::Idle,
                confirmed: self.role == Role::Primary && self.confirmed,
                sent: ctx.now(),
            },
        );
    }

    fn on_transfer(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, epoch: u64, state: State) {
        if epoch < self.epoch {
            ctx.send(from, Msg::Fenced { epoch: self.epoch });
            return;
        }
        if epoch > self.epoch {
            // The view manager's word has not come yet; the transfer proves the view.
            self.adopt_epoch(ctx, epoch);
            self.step_down();
            self.view = View {
                epoch,
                primary: Some(from),
                backups: Vec::new(),
            };
            self.set_role(ctx, Role::Backup);
        }
        if self.role != Role::Backup {
            // A primary of this epoch takes no one's state; a node idle in it (restarted,
            // or left out of the view) waits for a newer view.
            return;
        }
        if self.synced_epoch != epoch {
            ctx.write_cell(
                "snapshot",
                Record::Snapshot {
                    epoch,
                    state: state.clone(),
                },
            );
            ctx.truncate(0);
            ctx.sync();
            self.state = state;
            self.synced_epoch = epoch;
            self.writes = (self.writes.0 + 1, epoch);
            self.buffer.clear();
            self.assigned = self.state.applied;
            self.committed = self.state.applied;
            ctx.annotate("applied", self.state.applied);
        }
        self.heard_primary = ctx.now();
        self.set_role(ctx, Role::Backup);
        ctx.send(from, Msg::Installed { epoch });
    }

    fn on_installed(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, epoch: u64) {
        if self.role != Role::Primary || epoch != self.epoch || self.confirmed {
            return;
        }
        if !self.installed.contains(&from) {
            self.installed.push(from);
        }
        if self.view.backups.iter().all(|b| self.installed.contains(b)) {
            self.confirm(ctx);
        }
    }

    /// Whether a message of `epoch` from a primary is to be refused.
    fn fences(&self, epoch: u64) -> bool {
        epoch < self.epoch && !self.config.bugs.no_fencing
    }

    fn on_replicate(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        epoch: u64,
        index: u64,
        command: Command,
    ) {
        if self.fences(epoch) {
            ctx.send(from, Msg::Fenced { epoch: self.epoch });
            return;
        }
        let ours = epoch == self.synced_epoch && epoch == self.epoch;
        if !(ours || (self.config.bugs.no_fencing && epoch < self.epoch)) {
            return; // not transferred into this epoch yet: the primary will send it again
        }
        if self.role == Role::Primary && !self.config.bugs.no_fencing {
            return;
        }
        self.heard_primary = ctx.now();
        if index > self.state.applied + 1 {
            if self.buffer.len() < BUFFER_MAX {
                self.buffer.insert(index, command);
            }
        } else if index == self.state.applied + 1 {
            self.apply_as_backup(ctx, epoch, index, command);
            while let Some(next) = self.buffer.remove(&(self.state.applied + 1)) {
                let i = self.state.applied + 1;
                self.apply_as_backup(ctx, epoch, i, next);
            }
            self.buffer.retain(|&i, _| i > self.state.applied);
            ctx.sync();
            ctx.annotate("applied", self.state.applied);
        }
        ctx.send(
            from,
            Msg::Ack {
                epoch,
                index: self.state.applied,
            },
        );
    }

    fn apply_as_backup(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        epoch: u64,
        index: u64,
        command: Command,
    ) {
        self.state.service.apply(&command);
        self.state.applied = index;
        self.writes = (self.writes.0 + 1, epoch);
        ctx.append(Record::Applied {
            epoch,
            index,
            command,
        });
    }

    fn on_ack(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, epoch: u64, index: u64) {
        if self.role != Role::Primary || epoch != self.epoch || !self.confirmed {
            return;
        }
        let a = self.acked.entry(from).or_insert(0);
        *a = (*a).max(index);
        if self.config.replication == Replication::Sync {
            self.commit(ctx);
        } else {
            self.pending.retain(|&i, _| {
                self.view
                    .backups
                    .iter()
                    .any(|b| self.acked.get(b).is_none_or(|&a| a < i))
            });
        }
    }

    /// Sync replication: applies and answers every write all backups hold.
    fn commit(&mut self, ctx: &mut Ctx<'_, Self>) {
        let all = self
            .view
            .backups
            .iter()
            .map(|b| self.acked.get(b).copied().unwrap_or(0))
            .min()
            .unwrap_or(self.assigned);
        let before = self.committed;
        while self.committed < all.min(self.assigned) {
            let i = self.committed + 1;
            let Some(p) = self.pending.remove(&i) else {
                break;
            };
            self.apply_as_primary(ctx, i, p.command);
        }
        if self.committed > before {
            ctx.sync();
            ctx.annotate("applied", self.state.applied);
            ctx.annotate("committed", self.committed);
        }
    }

    fn apply_as_primary(&mut self, ctx: &mut Ctx<'_, Self>, index: u64, command: Command) {
        let answer = self.state.service.apply(&command);
        self.state.applied = index;
        self.committed = index;
        let (client, id) = (command.client, command.id);
        ctx.append(Record::Applied {
            epoch: self.epoch,
            index,
            command,
        });
        if let Some(answer) = answer {
            ctx.reply(client, id, answer);
        }
    }

    fn write(&mut self, ctx: &mut Ctx<'_, Self>, command: Command) {
        if self
            .pending
            .values()
            .any(|p| p.command.id == command.id && p.command.client == command.client)
        {
            return; // already on its way to the backups
        }
        if self.pending.len() >= PENDING_MAX {
            return;
        }
        self.assigned += 1;
        let index = self.assigned;
        for &b in &self.view.backups {
            ctx.send(
                b,
                Msg::Replicate {
                    epoch: self.epoch,
                    index,
                    command: command.clone(),
                },
            );
        }
        match self.config.replication {
            Replication::Sync => {
                self.pending.insert(index, Pending { command });
                if self.view.backups.is_empty() {
                    self.commit(ctx);
                }
            }
            Replication::Async => {
                if !self.view.backups.is_empty() {
                    self.pending.insert(
                        index,
                        Pending {
                            command: command.clone(),
                        },
                    );
                }
                self.apply_as_primary(ctx, index, command);
                ctx.sync();
                ctx.annotate("applied", self.state.applied);
                ctx.annotate("committed", self.committed);
            }
        }
    }

    fn read(&mut self, ctx: &mut Ctx<'_, Self>, client: ClientId, id: RequestId, key: String) {
        let at_once = self.config.bugs.skip_read_confirm || self.view.backups.is_empty();
        if at_once {
            self.serve_read(ctx, client, id, &key);
            return;
        }
        match self.config.reads {
            Reads::Lease => {
                if self.lease_until.is_some_and(|u| ctx.now() < u) {
                    self.serve_read(ctx, client, id, &key);
                }
            }
            Reads::Confirm => {
                if self
                    .reads
                    .values()
                    .any(|r| r.client == client && r.id == id)
                {
                    return;
                }
                if self.reads.len() >= PENDING_MAX {
                    return;
                }
                self.read_seq += 1;
                let read = self.read_seq;
                for &b in &self.view.backups {
                    ctx.send(
                        b,
                        Msg::Confirm {
                            epoch: self.epoch,
                            read,
                        },
                    );
                }
                self.reads.insert(
                    read,
                    ReadWait {
                        client,
                        id,
                        key,
                        confirmed: Vec::new(),
                    },
                );
            }
        }
    }

    fn serve_read(&mut self, ctx: &mut Ctx<'_, Self>, client: ClientId, id: RequestId, key: &str) {
        ctx.reply(client, id, self.state.service.read(key));
    }

    fn on_confirm(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, epoch: u64, read: u64) {
        if self.fences(epoch) {
            ctx.send(from, Msg::Fenced { epoch: self.epoch });
            return;
        }
        if epoch == self.epoch && self.role == Role::Backup
            || self.config.bugs.no_fencing && epoch < self.epoch
        {
            ctx.send(from, Msg::Confirmed { epoch, read });
        }
    }

    fn on_confirmed(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, epoch: u64, read: u64) {
        if self.role != Role::Primary || epoch != self.epoch {
            return;
        }
        let Some(r) = self.reads.get_mut(&read) else {
            return;
        };
        if !r.confirmed.contains(&from) {
            r.confirmed.push(from);
        }
        if self.view.backups.iter().all(|b| r.confirmed.contains(b)) {
            let r = self.reads.remove(&read).expect("just found");
            self.serve_read(ctx, r.client, r.id, &r.key);
        }
    }

    fn on_resend(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.role != Role::Primary {
            return;
        }
        if !self.confirmed {
            self.send_transfers(ctx);
        } else {
            for &b in &self.view.backups {
                let acked = self.acked.get(&b).copied().unwrap_or(0);
                for (&index, p) in self.pending.range(acked + 1..).take(64) {
                    ctx.send(
                        b,
                        Msg::Replicate {
                            epoch: self.epoch,
                            index,
                            command: p.command.clone(),
                        },
                    );
                }
            }
            for (&read, r) in &self.reads {
                for &b in &self.view.backups {
                    if !r.confirmed.contains(&b) {
                        ctx.send(
                            b,
                            Msg::Confirm {
                                epoch: self.epoch,
                                read,
                            },
                        );
                    }
                }
            }
        }
        self.resend_later(ctx);
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.tick(ctx);
        if self.id == VIEW_MANAGER {
            self.review(ctx);
            return;
        }
        self.ping(ctx);
        match self.role {
            Role::Primary => {
                for &b in &self.view.backups {
                    ctx.send(b, Msg::Heartbeat { epoch: self.epoch });
                }
            }
            Role::Backup if self.config.bugs.promote_without_epoch => {
                let silent = ctx.now().sub(self.heard_primary);
                if silent >= Time::from_ms(self.config.dead_ms) {
                    // The mistake: take over in the same epoch, telling no one.
                    let old = self.view.primary;
                    let backups = self
                        .view
                        .members()
                        .filter(|&r| r != self.id && Some(r) != old)
                        .collect();
                    let view = View {
                        epoch: self.epoch,
                        primary: Some(self.id),
                        backups,
                    };
                    self.step_down();
                    ctx.annotate("primary", Some(self.id));
                    self.become_primary(ctx, view);
                }
            }
            _ => {}
        }
    }

    fn on_fenced(&mut self, ctx: &mut Ctx<'_, Self>, epoch: u64) {
        if self.role == Role::Primary && epoch > self.epoch {
            ctx.annotate("stepped_down", "fenced by a backup in a newer epoch");
            self.step_down();
            self.set_role(ctx, Role::Idle);
            self.ping(ctx);
        }
    }
}

impl Protocol for Pb {
    const NAME: &'static str = "pb";
    type Config = Config;
    type Msg = Msg;
    type Timer = Timer;
    type Request = Op;
    type Response = Answer;
    type Record = Record;
    type Client = Driver<Pb, KvGenerator>;

    fn new(id: NodeId, nodes: u32, config: &Config) -> Self {
        Pb {
            id,
            n: nodes,
            config: config.clone(),
            role: if id == VIEW_MANAGER {
                Role::ViewManager
            } else {
                Role::Idle
            },
            manager: Manager {
                heard: vec![None; nodes as usize],
                lost: vec![false; nodes as usize],
                sound: (1..nodes).map(NodeId).collect(),
                ..Manager::default()
            },
            epoch: 0,
            view: View::default(),
            synced_epoch: 0,
            state: State {
                applied: 0,
                service: KvService::new(),
            },
            writes: (0, 0),
            buffer: BTreeMap::new(),
            heard_primary: Time::ZERO,
            confirmed: false,
            installed: Vec::new(),
            acked: BTreeMap::new(),
            pending: BTreeMap::new(),
            assigned: 0,
            committed: 0,
            reads: BTreeMap::new(),
            read_seq: 0,
            lease_until: None,
        }
    }

    /// Takes the new bug switches; the other parameters stay as built.
    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.config.bugs = config.bugs.clone();
        Ok(())
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.annotate("role", self.role.name());
        if self.id == VIEW_MANAGER {
            // After a restart an old primary may still hold a lease: wait it out.
            self.manager.lease_until = ctx.now().add(Time::from_ms(self.config.lease_ms));
        } else {
            self.heard_primary = ctx.now();
            self.ping(ctx);
        }
        self.tick(ctx);
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        let store = ctx.store();
        if let Some(Record::Manager {
            view,
            confirmed,
            sound,
        }) = store.cell("view")
        {
            self.manager.view = view.clone();
            self.manager.confirmed = *confirmed;
            self.manager.sound = sound.clone();
        }
        if let Some(Record::Epoch(e)) = store.cell("epoch") {
            self.epoch = *e;
        }
        if let Some(Record::Snapshot { epoch, state }) = store.cell("snapshot") {
            self.state = state.clone();
            self.synced_epoch = *epoch;
        }
        for r in store.records() {
            if let Record::Applied { index, command, .. } = r {
                if *index == self.state.applied + 1 {
                    self.state.service.apply(command);
                    self.state.applied = *index;
                }
            }
        }
        self.assigned = self.state.applied;
        self.committed = self.state.applied;
        // A restarted replica waits to be told its place; its old transfer is not trusted
        // for a new epoch.
        if self.id != VIEW_MANAGER {
            self.synced_epoch = 0;
        }
        self.on_start(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Ping {
                epoch,
                member,
                confirmed,
                sent,
            } => {
                if self.id == VIEW_MANAGER {
                    self.on_ping(ctx, from, epoch, member, confirmed, sent);
                }
            }
            Msg::ViewIs { view, lease, sent } => {
                if self.id != VIEW_MANAGER && from == VIEW_MANAGER {
                    self.on_view(ctx, view, lease, sent);
                }
            }
            Msg::Heartbeat { epoch } => {
                if epoch == self.epoch && self.view.primary == Some(from) {
                    self.heard_primary = ctx.now();
                } else if self.fences(epoch) {
                    ctx.send(from, Msg::Fenced { epoch: self.epoch });
                }
            }
            Msg::Transfer { epoch, state } => {
                if self.id != VIEW_MANAGER {
                    self.on_transfer(ctx, from, epoch, state);
                }
            }
            Msg::Installed { epoch } => self.on_installed(ctx, from, epoch),
            Msg::Replicate {
                epoch,
                index,
                command,
            } => {
                if self.id != VIEW_MANAGER {
                    self.on_replicate(ctx, from, epoch, index, command);
                }
            }
            Msg::Ack { epoch, index } => self.on_ack(ctx, from, epoch, index),
            Msg::Confirm { epoch, read } => self.on_confirm(ctx, from, epoch, read),
            Msg::Confirmed { epoch, read } => self.on_confirmed(ctx, from, epoch, read),
            Msg::Fenced { epoch } => self.on_fenced(ctx, epoch),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Tick => self.on_tick(ctx),
            Timer::Resend => self.on_resend(ctx),
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, client: ClientId, id: RequestId, op: Op) {
        if self.role != Role::Primary {
            let hint = if self.id == VIEW_MANAGER {
                self.manager.view.primary
            } else {
                self.view.primary.filter(|&p| p != self.id)
            };
            ctx.reply(client, id, Answer::NotLeader { hint });
            return;
        }
        if !self.confirmed {
            return; // still transferring: the client's retry will find it ready
        }
        match op {
            Op::Get { key } => self.read(ctx, client, id, key),
            op => match self.state.service.seen(client, id) {
                Seen::Applied(answer) => ctx.reply(client, id, answer.clone()),
                Seen::Stale => {}
                Seen::Fresh => self.write(ctx, Command { client, id, op }),
            },
        }
    }

    /// The margin is a fraction of the lease, and a replica must be able to ping more than
    /// once before it is taken for dead.
    fn check_config(c: &Config, _: u32) -> Result<(), ConfigError> {
        if c.drift_margin_ppm >= 1_000_000 {
            return Err(ConfigError::new(
                "drift_margin_ppm",
                format!(
                    "{} would leave no lease at all: give 0 (no margin) to 999999",
                    c.drift_margin_ppm
                ),
            ));
        }
        if c.ping_ms == 0 || c.dead_ms <= c.ping_ms {
            return Err(ConfigError::new(
                "dead_ms",
                format!(
                    "{} must be longer than ping_ms ({}), itself at least 1: a replica pings more than once before it is taken for dead",
                    c.dead_ms, c.ping_ms
                ),
            ));
        }
        Ok(())
    }

    fn history_check() -> Option<Box<dyn HistoryCheck>> {
        Some(kv::history_check())
    }

    fn history_call(request: &Op) -> Option<HistoryCall> {
        kv::history_call(request)
    }

    fn history_value(response: &Answer) -> Val {
        kv::history_value(response)
    }

    /// The view manager shows its view, whether it is confirmed and the sound replicas; a
    /// replica its role, epoch, the primary it knows, writes applied, and as primary what it
    /// has answered, what waits, and its lease.
    fn show(&self, _: &Store<Record>, out: &mut Shown) {
        out.field("role", self.role.name());
        if self.id == VIEW_MANAGER {
            let m = &self.manager;
            out.field("epoch", &m.view.epoch);
            out.field("primary", &m.view.primary);
            out.field("backups", &m.view.backups);
            out.field("confirmed", &m.confirmed);
            out.field("sound", &m.sound);
            out.field("no_new_primary_before_ms", &m.lease_until.as_ms());
            return;
        }
        out.field("epoch", &self.epoch);
        out.field("primary", &self.view.primary);
        out.field("applied", &self.state.applied);
        out.field("data", self.state.service.data());
        if self.role == Role::Primary {
            out.field("backups", &self.view.backups);
            out.field("confirmed", &self.confirmed);
            out.field("committed", &self.committed);
            out.field("waiting_writes", &self.pending.len());
            out.field("waiting_reads", &self.reads.len());
            out.field("lease_until_ms", &self.lease_until.map(Time::as_ms));
        }
    }

    fn vocabulary() -> Vocabulary {
        Vocabulary::none()
            .role("role", &["primary"], &[])
            .epoch("epoch")
            .leader("primary")
            .progress(&["applied"])
            .step_down("stepped_down")
            .serves_replies()
            .serves_progress("applied")
    }

    /// A result is service; "not the leader" is not.
    fn serves(answer: &Answer) -> bool {
        answer.is_service()
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        checks::properties()
    }

    fn metrics() -> Vec<MetricDef<Self>> {
        checks::metrics()
    }

    /// Ping period, failure timeout, lease and resend period, within ranges that keep the
    /// ping well below the timeout; replication, reads and the margin stay as configured
    /// (async replication and lease reads without fencing are lessons, not safe knobs).
    fn knobs() -> Vec<Knob> {
        vec![
            Knob::between("ping_ms", 20, 60),
            Knob::between("dead_ms", 200, 400),
            Knob::between("lease_ms", 200, 600),
            Knob::between("resend_ms", 20, 80),
        ]
    }

    /// After the heal a confirmed primary serves within a few failure timeouts and leases
    /// (the old primary's lease, a view change, a transfer), and every replica's applied
    /// index moves on.
    fn liveness(c: &Config) -> Liveness {
        let budget = c.liveness_budget();
        let formula = "4 × dead_ms + 2 × lease_ms + 10 × resend_ms";
        Liveness::default()
            .within("primary_serves", true, budget, formula)
            .within("applied_advances", false, budget, formula)
    }

    fn record_bytes(r: &Record) -> u64 {
        match r {
            Record::Manager { view, sound, .. } => {
                16 + 4 * (view.backups.len() + sound.len()) as u64
            }
            Record::Epoch(_) => 8,
            Record::Snapshot { state, .. } => {
                16 + state
                    .service
                    .data()
                    .iter()
                    .map(|(k, v)| (k.len() + v.len()) as u64)
                    .sum::<u64>()
            }
            Record::Applied { command, .. } => 32 + command.op.payload_bytes(),
        }
    }
}
