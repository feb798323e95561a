//! WAL: a single-node key-value store that survives disks that lie, with a write-ahead log,
//! two alternating checkpoints, and recovery that replays the log after the newest whole
//! checkpoint, and reports (never serves) what its disk destroyed.
//!
//! References: Mohan et al., "ARIES: a transaction recovery method...", TODS 17(1), 1992
//! (write-ahead logging, LSNs, idempotent redo, fuzzy checkpoints); Pillai et al., "All
//! File Systems Are Not Created Equal", OSDI 2014 (torn and reordered writes); Rebello et
//! al., "Can Applications Recover from fsync Failures?", ATC 2020 (a failed fsync forgets
//! the writes); Bairavasundaram et al., "An Analysis of Data Corruption in the Storage
//! Stack", FAST 2008, and "An Analysis of Latent Sector Errors", SIGMETRICS 2007; Alagappan
//! et al., "Protocol-Aware Recovery for Consensus-Based Storage", FAST 2018. docs/storage.md
//! goes from these to the code.
//!
//! **Writes.** A put or append gets the next log sequence number (LSN: the record's absolute
//! index in the log), is appended as a record sealed to its place ([`crate::kit::wal`]),
//! applied to memory, and waits: every `flush_ms` one sync makes the batch durable (group
//! commit), and only then are its clients answered. Reads are answered from memory when
//! nothing in memory is waiting for the disk, otherwise with the next batch.
//!
//! **Failed syncs.** A sync that fails lost its writes for good (the PostgreSQL lesson,
//! Rebello et al.): the store answers no one, cuts its log back to where the disk's ends,
//! writes the batch again from memory (and the checkpoint, if one was in it), and syncs again
//! at the next flush.
//!
//! **Checkpoints.** Every `checkpoint_ms`, when memory holds nothing undurable, the whole
//! state (data and the client sessions that make retries safe) goes into one of two cells,
//! `ckpt#1` or `ckpt#2`, never the one holding the newest durable checkpoint. Once it is
//! durable, the log's front is discarded up to the older of the two durable checkpoints,
//! so either copy alone, with the log after it, recovers everything.
//!
//! **Recovery.** Read both copies; take the whole one with the highest sequence number; replay
//! the log from its LSN: a whole record applies if its LSN is one the state lacks (so
//! replaying twice is replaying once), a torn record (short: it never reached the disk
//! whole, so it was never acknowledged) is skipped, a damaged record the state needs is a
//! loss. One node has no replica to repair from, so a loss is *reported* (the `lost`
//! annotation, the `degraded` role) and the store refuses every request from then on rather
//! than serve data it knows may be missing.
//!
//! Checks: `acked_writes_survive`, `recovered_state_matches`, `reads_return_written_values`
//! (always on) and linearizability of the history; `serves_again` for liveness.
//!
//! Bug switches (`protocol.params.bugs`), each with its source in docs/storage.md:
//! - `ack_before_sync`: writes are answered when appended, before the batch's sync.
//! - `no_checksums`: recovery believes whatever the bytes spell (torn, corrupt, zeroed).
//! - `truncate_before_checkpoint_durable`: the log's front is discarded up to the new
//!   checkpoint's LSN in the same batch as the checkpoint, before it.
//! - `retry_failed_sync`: a failed sync is retried, and the retry's success taken for the
//!   lost writes' (fsyncgate).
//! - `replay_not_idempotent`: replay applies every record in the log, those the checkpoint
//!   already holds too.
//! - `checksum_without_place`: a record sealed to another place is believed (a misdirected
//!   write goes unseen).

mod checks;
#[cfg(test)]
mod tests;

use crate::kit::kv::{self, Answer, KvGenerator, KvMix, KvWorkload, Op};
use crate::kit::wal::{self, Copies, Harm, Reader, Writer};
use crate::protocol::{
    ClientId, Codec, ConfigError, Ctx, Driver, HistoryCall, HistoryCheck, Knob, Liveness, NodeId,
    Place, PropertyDef, Protocol, RequestId, Shown, Store, Synced, Time, Val, Vocabulary,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bug switches, all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// Answer writes when they are appended, before the sync.
    pub ack_before_sync: bool,
    /// Believe whatever the bytes on the disk spell.
    pub no_checksums: bool,
    /// Discard the log's front up to the new checkpoint before the checkpoint is durable.
    pub truncate_before_checkpoint_durable: bool,
    /// After a failed sync, sync again and take its success for the lost writes'.
    pub retry_failed_sync: bool,
    /// Replay every record in the log, those the checkpoint holds too.
    pub replay_not_idempotent: bool,
    /// Believe a record sealed to another place than the one it was read at.
    pub checksum_without_place: bool,
}

/// WAL parameters (`protocol.params`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Group commit: the batch of writes waiting is synced this often, milliseconds.
    pub flush_ms: u64,
    /// A checkpoint is written this often, milliseconds.
    pub checkpoint_ms: u64,
    /// Workload: keys used.
    pub keys: u32,
    /// Workload: percentage of gets (none: gets, puts and appends equally likely).
    pub read_percent: Option<u32>,
    /// Bug switches.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            flush_ms: 3,
            checkpoint_ms: 40,
            keys: 3,
            read_percent: None,
            bugs: Bugs::default(),
        }
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

/// The store's state machine: the data, and per client the last write applied (its request
/// id and value), which makes a retried write apply once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct State {
    /// Key → value.
    pub data: BTreeMap<String, String>,
    /// Client → (request id, value) of its last write applied.
    pub writes: BTreeMap<ClientId, (RequestId, String)>,
}

/// A logged write.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Entry {
    /// Its log sequence number: the absolute log index it was written at.
    pub lsn: u64,
    /// Who asked.
    pub client: ClientId,
    /// Under which request id.
    pub id: RequestId,
    /// The put or append.
    pub op: Op,
}

impl State {
    /// Applies a write once: a request id at or below the client's last one is not applied
    /// again. Returns whether it applied.
    pub fn apply(&mut self, client: ClientId, id: RequestId, op: &Op) -> bool {
        if self
            .writes
            .get(&client)
            .is_some_and(|(last, _)| *last >= id)
        {
            return false;
        }
        self.apply_always(client, id, op);
        true
    }

    fn apply_always(&mut self, client: ClientId, id: RequestId, op: &Op) {
        let value = match op {
            Op::Put { key, value } => {
                self.data.insert(key.clone(), value.clone());
                value
            }
            Op::Append { key, value } => {
                self.data.entry(key.clone()).or_default().push_str(value);
                value
            }
            Op::Get { .. } => return,
        };
        self.writes.insert(client, (id, value.clone()));
    }
}

/// A checkpoint: the whole state as of an LSN, in one of the two copies.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Checkpoint {
    /// Sequence number (1, 2, ...): the higher, the newer.
    pub seq: u64,
    /// Which copy (0: `ckpt#1`, 1: `ckpt#2`); the frame is sealed to that cell.
    pub copy: u8,
    /// The state holds every record below this LSN.
    pub upto: u64,
    /// The state.
    pub state: State,
}

/// What the disk holds: log entries, checkpoints, and, when read back, what could not be.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// A logged write.
    Entry(Entry),
    /// A checkpoint copy.
    Checkpoint(Box<Checkpoint>),
    /// A record that did not read back whole.
    Damaged {
        /// Where it was read.
        place: Place,
        /// What is wrong.
        harm: Harm,
        /// The LSN of the whole record found there, sealed to that LSN's place: a write
        /// misdirected here.
        misplaced: Option<u64>,
        /// What the bytes spell, for a store that does not check.
        naive: Option<Box<Record>>,
    },
}

fn encode_payload(r: &Record, w: &mut Writer) {
    match r {
        Record::Entry(e) => {
            let (kind, key, value) = match &e.op {
                Op::Put { key, value } => (1, key, value),
                Op::Append { key, value } => (2, key, value),
                Op::Get { key } => (0, key, key),
            };
            w.u8(1)
                .u64(e.lsn)
                .u32(e.client.0)
                .u64(e.id.0)
                .u8(kind)
                .str(key)
                .str(value);
        }
        Record::Checkpoint(c) => {
            w.u8(2).u64(c.seq).u8(c.copy).u64(c.upto);
            w.u32(c.state.data.len() as u32);
            for (k, v) in &c.state.data {
                w.str(k).str(v);
            }
            w.u32(c.state.writes.len() as u32);
            for (client, (id, v)) in &c.state.writes {
                w.u32(client.0).u64(id.0).str(v);
            }
        }
        // What could not be read is written back as what its bytes spelled.
        Record::Damaged { naive, .. } => {
            if let Some(n) = naive {
                encode_payload(n, w);
            }
        }
    }
}

/// Entries a naive read of a checkpoint takes at most (a damaged count is not believed
/// beyond this).
const NAIVE_ITEMS_MAX: u32 = 1024;

fn decode_payload(bytes: &[u8]) -> Option<Record> {
    let mut r = Reader::new(bytes);
    match r.u8() {
        1 => {
            let lsn = r.u64();
            let client = ClientId(r.u32());
            let id = RequestId(r.u64());
            let kind = r.u8();
            let (key, value) = (r.str(), r.str());
            let op = match kind {
                1 => Op::Put { key, value },
                2 => Op::Append { key, value },
                _ => return None,
            };
            Some(Record::Entry(Entry {
                lsn,
                client,
                id,
                op,
            }))
        }
        2 => {
            let (seq, copy, upto) = (r.u64(), r.u8() & 1, r.u64());
            let mut state = State::default();
            for _ in 0..r.u32().min(NAIVE_ITEMS_MAX) {
                let (k, v) = (r.str(), r.str());
                state.data.insert(k, v);
            }
            for _ in 0..r.u32().min(NAIVE_ITEMS_MAX) {
                let (c, id, v) = (ClientId(r.u32()), RequestId(r.u64()), r.str());
                state.writes.insert(c, (id, v));
            }
            Some(Record::Checkpoint(Box::new(Checkpoint {
                seq,
                copy,
                upto,
                state,
            })))
        }
        _ => None,
    }
}

/// The place a record is sealed to: an entry's LSN, a checkpoint's copy.
fn home(r: &Record) -> Place {
    match r {
        Record::Entry(e) => Place::Record(e.lsn),
        Record::Checkpoint(c) => Place::Cell(Copies::CKPT.names[usize::from(c.copy & 1)]),
        Record::Damaged { place, .. } => *place,
    }
}

fn encode(r: &Record, out: &mut Vec<u8>) {
    let mut w = Writer::default();
    encode_payload(r, &mut w);
    let place = home(r);
    wal::seal(&w.bytes, place, out);
    // What was damaged stays damaged when the disk copies it (a tear over it, a misdirected
    // copy of it): its checksum is spoiled.
    if let (Record::Damaged { .. }, Some(last)) = (r, out.last_mut()) {
        *last ^= 0xFF;
    }
}

fn decode(place: Place, bytes: Option<&[u8]>) -> Record {
    let harm = match wal::read(bytes, place) {
        Ok(payload) => match decode_payload(payload) {
            Some(r) => return r,
            None => Harm::Corrupt,
        },
        Err(h) => h,
    };
    let naive = decode_payload(wal::payload_naive(bytes.unwrap_or(&[])));
    // A whole record sealed to another log place: a write that went astray.
    let misplaced = match (&naive, bytes) {
        (Some(Record::Entry(e)), Some(b)) if Place::Record(e.lsn) != place => {
            wal::unseal(b, Place::Record(e.lsn)).map(|_| e.lsn)
        }
        _ => None,
    };
    Record::Damaged {
        place,
        harm,
        misplaced,
        naive: naive.map(Box::new),
    }
}

/// What recovery found it could not get back.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Loss {
    /// The first LSN missing.
    pub lsn: u64,
    /// Why: `corrupt` or `unreadable` (the disk destroyed a record the state needed), or
    /// `gap` (the log starts after what the checkpoint holds: records discarded too early).
    pub why: String,
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// Group commit: sync the batch waiting.
    Flush,
    /// Write a checkpoint.
    Checkpoint,
}

/// A client waiting for the batch to be durable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Waiter {
    client: ClientId,
    id: RequestId,
    /// The key of a get (answered from memory when the batch is durable); `None`: a write.
    read: Option<String>,
}

/// A checkpoint written and not yet durable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PendingCkpt {
    copy: usize,
    upto: u64,
    record: Record,
}

/// Waiters kept at most (clients run one operation at a time; more are dropped and retry).
const WAITERS_MAX: usize = 1024;

/// One WAL node.
#[derive(Clone, Debug)]
pub struct Wal {
    config: Config,
    state: State,
    /// Absolute log length known durable: every record below it is on the disk.
    durable: u64,
    /// Writes in memory not yet durable, in log order (what the checks replay).
    unsynced: Vec<Entry>,
    /// Clients waiting for the batch.
    waiting: Vec<Waiter>,
    /// The last sync failed: the batch must be written again.
    rewrite: bool,
    /// Per copy: the LSN its durable checkpoint holds up to.
    ckpt_upto: [Option<u64>; 2],
    /// The copy holding the newest durable checkpoint.
    ckpt_newest: Option<usize>,
    /// Sequence number of the last checkpoint written.
    ckpt_seq: u64,
    ckpt_pending: Option<PendingCkpt>,
    /// A checkpoint is due: written at the next moment memory holds nothing undurable.
    ckpt_due: bool,
    flush_armed: bool,
    /// What recovery could not get back; non-empty: the store refuses every request.
    lost: Vec<Loss>,
    /// Successful batches so far, for the checks (each one a durable state).
    batches: u64,
}

impl Wal {
    fn next_lsn(&self, store: &Store<Record>) -> u64 {
        store.first_index() + store.len() as u64
    }

    fn arm_flush(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.flush_armed {
            self.flush_armed = true;
            ctx.set_timer(Timer::Flush, Time::from_ms(self.config.flush_ms));
        }
    }

    fn answer(&self, ctx: &mut Ctx<'_, Self>, w: &Waiter) {
        let answer = match &w.read {
            Some(key) => Answer::Ok {
                value: self.state.data.get(key).cloned(),
            },
            None => Answer::Ok { value: None },
        };
        ctx.reply(w.client, w.id, answer);
    }

    fn refuse(ctx: &mut Ctx<'_, Self>, client: ClientId, id: RequestId) {
        ctx.reply(client, id, Answer::NotLeader { hint: None });
    }

    fn wait(&mut self, w: Waiter) {
        if self.waiting.len() < WAITERS_MAX {
            self.waiting.push(w);
        }
    }

    /// The batch is durable: answer everyone, note a checkpoint durable and discard the log
    /// the truncation rule allows.
    fn batch_durable(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.durable = self.next_lsn(ctx.store());
        self.unsynced.clear();
        self.rewrite = false;
        self.batches += 1;
        for w in std::mem::take(&mut self.waiting) {
            self.answer(ctx, &w);
        }
        ctx.annotate("durable", self.durable);
        if let Some(p) = self.ckpt_pending.take() {
            self.ckpt_upto[p.copy] = Some(p.upto);
            self.ckpt_newest = Some(p.copy);
            ctx.annotate("ckpt", self.ckpt_seq);
            if let Some(upto) = wal::discard_point(self.ckpt_upto) {
                if upto > ctx.store().first_index() {
                    ctx.discard_before(upto);
                    // A failed sync here loses only the discard; the next one covers it.
                    let _ = ctx.sync();
                }
            }
        }
        self.try_checkpoint(ctx);
    }

    /// The last sync failed: its writes never reach the disk. Cut the log back to the
    /// durable end and write the batch (and the checkpoint) again from memory.
    fn write_again(&mut self, ctx: &mut Ctx<'_, Self>) {
        let first = ctx.store().first_index();
        let keep = self.durable.saturating_sub(first) as usize;
        let again: Vec<Record> = ctx.store().records().get(keep..).unwrap_or(&[]).to_vec();
        ctx.truncate(keep);
        for r in again {
            ctx.append(r);
        }
        if let Some(p) = &self.ckpt_pending {
            ctx.write_cell(Copies::CKPT.names[p.copy], p.record.clone());
        }
    }

    fn flush(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.rewrite {
            self.write_again(ctx);
        }
        match ctx.sync() {
            Synced::Done => self.batch_durable(ctx),
            Synced::Failed if self.config.bugs.retry_failed_sync => {
                // fsyncgate: the retry has nothing to write, succeeds, and is believed.
                let _ = ctx.sync();
                self.batch_durable(ctx);
            }
            Synced::Failed => {
                self.rewrite = true;
                ctx.annotate("sync_failed", self.next_lsn(ctx.store()));
                self.arm_flush(ctx);
            }
        }
    }

    fn checkpoint(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(Timer::Checkpoint, Time::from_ms(self.config.checkpoint_ms));
        self.ckpt_due = true;
        self.try_checkpoint(ctx);
    }

    /// Writes the checkpoint due, if memory holds nothing undurable now (the checkpoint is
    /// then exactly a durable state).
    fn try_checkpoint(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.ckpt_due
            || !self.lost.is_empty()
            || self.ckpt_pending.is_some()
            || !self.unsynced.is_empty()
            || self.rewrite
        {
            return;
        }
        self.ckpt_due = false;
        let upto = self.next_lsn(ctx.store());
        if self
            .ckpt_newest
            .is_some_and(|i| self.ckpt_upto[i] == Some(upto))
        {
            return; // nothing new since the last one
        }
        let copy = Copies::CKPT.next(self.ckpt_newest);
        self.ckpt_seq += 1;
        let record = Record::Checkpoint(Box::new(Checkpoint {
            seq: self.ckpt_seq,
            copy: copy as u8,
            upto,
            state: self.state.clone(),
        }));
        if self.config.bugs.truncate_before_checkpoint_durable && upto > ctx.store().first_index() {
            ctx.discard_before(upto);
        }
        ctx.write_cell(Copies::CKPT.names[copy], record.clone());
        // The copy being overwritten no longer holds a durable checkpoint.
        self.ckpt_upto[copy] = None;
        self.ckpt_pending = Some(PendingCkpt { copy, upto, record });
        self.arm_flush(ctx);
    }

    /// What recovery believes a record read back is.
    fn believe<'r>(&self, r: &'r Record) -> Option<&'r Record> {
        match r {
            Record::Damaged { naive, .. } if self.config.bugs.no_checksums => naive.as_deref(),
            Record::Damaged {
                naive,
                misplaced: Some(_),
                ..
            } if self.config.bugs.checksum_without_place => naive.as_deref(),
            Record::Damaged { .. } => None,
            r => Some(r),
        }
    }

    fn recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        let store = ctx.store();
        // The newest whole checkpoint.
        let read = |i: usize| -> wal::CopyRead<Checkpoint> {
            match store
                .cell(Copies::CKPT.names[i])
                .and_then(|r| self.believe(r))
            {
                Some(Record::Checkpoint(c)) => Some((c.seq, (**c).clone())),
                _ => None,
            }
        };
        let copies = [read(0), read(1)];
        for (i, c) in copies.iter().enumerate() {
            self.ckpt_upto[i] = c.as_ref().map(|(_, c)| c.upto);
        }
        let (mut next, mut state) = (0, State::default());
        if let Some((i, seq, c)) = Copies::CKPT.newest(copies) {
            self.ckpt_newest = Some(i);
            self.ckpt_seq = seq;
            next = c.upto;
            state = c.state;
        }
        // Replay the log after it.
        let first = store.first_index();
        let mut lost = Vec::new();
        if first > next {
            lost.push(Loss {
                lsn: next,
                why: "gap".into(),
            });
        }
        for (pos, r) in store.records().iter().enumerate() {
            if !lost.is_empty() {
                break;
            }
            let at = first + pos as u64;
            match (self.believe(r), r) {
                (Some(Record::Entry(e)), _) => {
                    if self.config.bugs.replay_not_idempotent {
                        state.apply_always(e.client, e.id, &e.op);
                        next = next.max(e.lsn + 1);
                    } else if wal::replay_step(e.lsn, next) != wal::Step::Skip {
                        state.apply(e.client, e.id, &e.op);
                        next = e.lsn + 1;
                    }
                }
                // Never reached the disk whole: never acknowledged.
                (
                    _,
                    Record::Damaged {
                        harm: Harm::Torn, ..
                    },
                ) => next = next.max(at + 1),
                // Damaged, but the checkpoint already holds it.
                (_, Record::Damaged { .. }) if at < next => {}
                (_, Record::Damaged { harm, .. }) => lost.push(Loss {
                    lsn: at,
                    why: harm.to_string(),
                }),
                (_, _) => {}
            }
        }
        self.state = state;
        self.durable = self.next_lsn(store);
        if !lost.is_empty() {
            let text = lost
                .iter()
                .map(|l| format!("lsn {} ({})", l.lsn, l.why))
                .collect::<Vec<_>>()
                .join(", ");
            ctx.annotate("role", "degraded");
            ctx.annotate("lost", text);
        } else {
            ctx.annotate("role", "serving");
        }
        // The epoch beside the role, so a band names the checkpoint it stands on.
        ctx.annotate("ckpt", self.ckpt_seq);
        self.lost = lost;
        ctx.annotate("durable", self.durable);
    }
}

impl Protocol for Wal {
    const NAME: &'static str = "wal";
    type Config = Config;
    type Msg = ();
    type Timer = Timer;
    type Request = Op;
    type Response = Answer;
    type Record = Record;
    type Client = Driver<Wal, KvGenerator>;

    fn new(_: NodeId, _: u32, config: &Config) -> Self {
        Wal {
            config: config.clone(),
            state: State::default(),
            durable: 0,
            unsynced: Vec::new(),
            waiting: Vec::new(),
            rewrite: false,
            ckpt_upto: [None, None],
            ckpt_newest: None,
            ckpt_seq: 0,
            ckpt_pending: None,
            ckpt_due: false,
            flush_armed: false,
            lost: Vec::new(),
            batches: 0,
        }
    }

    fn reconfigure(&mut self, config: &Config) -> Result<(), String> {
        self.config.bugs = config.bugs.clone();
        Ok(())
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.annotate("role", "serving");
        ctx.annotate("ckpt", self.ckpt_seq);
        ctx.set_timer(Timer::Checkpoint, Time::from_ms(self.config.checkpoint_ms));
    }

    fn on_recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.recover(ctx);
        ctx.set_timer(Timer::Checkpoint, Time::from_ms(self.config.checkpoint_ms));
    }

    fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Flush => {
                self.flush_armed = false;
                self.flush(ctx);
            }
            Timer::Checkpoint => self.checkpoint(ctx),
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, client: ClientId, id: RequestId, op: Op) {
        if !self.lost.is_empty() {
            return Self::refuse(ctx, client, id);
        }
        if let Op::Get { key } = &op {
            let w = Waiter {
                client,
                id,
                read: Some(key.clone()),
            };
            if self.unsynced.is_empty() && !self.rewrite {
                self.answer(ctx, &w);
            } else {
                self.wait(w);
                self.arm_flush(ctx);
            }
            return;
        }
        let w = Waiter {
            client,
            id,
            read: None,
        };
        match self.state.writes.get(&client) {
            // A retry of a write applied: answer once it is durable.
            Some((last, _)) if *last == id => {
                if self
                    .unsynced
                    .iter()
                    .any(|e| e.client == client && e.id == id)
                {
                    self.wait(w);
                    self.arm_flush(ctx);
                } else {
                    self.answer(ctx, &w);
                }
                return;
            }
            Some((last, _)) if *last > id => return, // a late copy nobody waits for
            _ => {}
        }
        let entry = Entry {
            lsn: self.next_lsn(ctx.store()),
            client,
            id,
            op,
        };
        ctx.append(Record::Entry(entry.clone()));
        self.state.apply(client, id, &entry.op);
        self.unsynced.push(entry);
        if self.config.bugs.ack_before_sync {
            self.answer(ctx, &w);
        } else {
            self.wait(w);
        }
        self.arm_flush(ctx);
    }

    /// One node (a store without replicas); positive periods with an upper bound.
    fn check_config(config: &Config, nodes: u32) -> Result<(), ConfigError> {
        if nodes != 1 {
            return Err(ConfigError::nodes(
                "wal is a single-node store: give \"nodes\": 1 (replication goes through raft)",
            ));
        }
        for (field, v, max) in [
            ("flush_ms", config.flush_ms, 1_000),
            ("checkpoint_ms", config.checkpoint_ms, 60_000),
        ] {
            if v == 0 || v > max {
                return Err(ConfigError::new(field, format!("give 1 to {max}")));
            }
        }
        if config.keys == 0 || config.keys > 1_000 {
            return Err(ConfigError::new("keys", "give 1 to 1000"));
        }
        if config.read_percent.is_some_and(|p| p > 100) {
            return Err(ConfigError::new("read_percent", "a percentage: 0 to 100"));
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

    fn codec() -> Option<Codec<Record>> {
        Some(Codec { encode, decode })
    }

    fn record_bytes(record: &Record) -> u64 {
        let mut w = Writer::default();
        encode_payload(record, &mut w);
        (w.bytes.len() + wal::FRAME_BYTES) as u64
    }

    /// The durable log end, the checkpoints, the batch waiting, what was lost, the data.
    fn show(&self, store: &Store<Record>, out: &mut Shown) {
        out.field("durable", &self.durable);
        out.field("checkpoint_seq", &self.ckpt_seq);
        out.field("checkpoint_upto", &self.ckpt_upto);
        out.field("first_lsn", &store.first_index());
        out.field("unsynced", &self.unsynced.len());
        out.field("waiting", &self.waiting.len());
        out.field("rewrite", &self.rewrite);
        out.field("lost", &self.lost);
        out.field("data", &self.state.data);
        out.store_log(
            "log",
            store,
            |r: &Record| match r {
                Record::Entry(e) => (e.lsn, format!("{:?}", e.op)),
                Record::Checkpoint(c) => (c.seq, format!("checkpoint {}", c.seq)),
                Record::Damaged { harm, .. } => (0, format!("{harm}")),
            },
            self.durable.saturating_sub(store.first_index()),
        );
    }

    fn vocabulary() -> Vocabulary {
        Vocabulary::none()
            .role("role", &["serving"], &[])
            .epoch("ckpt")
            .progress(&["durable"])
            .serves_replies()
    }

    /// A result is service; the refusal of a store that lost data is not.
    fn serves(answer: &Answer) -> bool {
        answer.is_service()
    }

    fn properties() -> Vec<PropertyDef<Self>> {
        checks::properties()
    }

    /// The group-commit and checkpoint periods.
    fn knobs() -> Vec<Knob> {
        vec![
            Knob::between("flush_ms", 1, 8),
            Knob::between("checkpoint_ms", 10, 120),
        ]
    }

    /// After the heal the store answers a client within 200 flush periods plus two
    /// checkpoint periods, or has reported a loss.
    fn liveness(c: &Config) -> Liveness {
        Liveness::default().within(
            "serves_again",
            false,
            Time::from_ms(
                c.flush_ms
                    .saturating_mul(200)
                    .saturating_add(c.checkpoint_ms.saturating_mul(2))
                    .saturating_add(500),
            ),
            "500 ms + 200 × flush_ms + 2 × checkpoint_ms",
        )
    }
}
