//! Each node's durable store: an append-oriented record log plus small named cells.
//!
//! Writes land in the *current* image at once (a node reads its own writes) and are queued as
//! pending operations; `sync` makes every pending operation durable. A crash throws the
//! pending operations away and the current image is rebuilt from the synced one, so a
//! protocol that forgets to sync loses exactly what a real disk would lose. Appends cost
//! O(record): nothing is ever rewritten whole.
//!
//! Storage faults (docs/fault-model.md, "Storage") act on the *disk*, the synced image, and
//! are seen by the node when it next reads the disk: after a crash, when its cache (the
//! current image) is rebuilt from the disk. They need bytes, so they apply only to stores
//! given a [`Codec`]: the disk encodes a record, damages the bytes, and the record the node
//! reads back is whatever the protocol's decoder makes of them. A decoder without a checksum
//! returns wrong data; one with a checksum over the bytes and the record's place says so.
//!
//! Must not import the engine, the network or the trace: the engine owns one `Store` per node.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;

/// One image of the store: the record log and the cells. `first` is the absolute index of
/// `records[0]`: a log whose front was discarded keeps its records' indices.
#[derive(Clone, Debug, Hash)]
struct Image<R> {
    first: u64,
    records: Vec<R>,
    cells: BTreeMap<&'static str, R>,
}

impl<R> Default for Image<R> {
    fn default() -> Self {
        Image {
            first: 0,
            records: Vec::new(),
            cells: BTreeMap::new(),
        }
    }
}

impl<R: Clone> Image<R> {
    fn apply(&mut self, op: &Op<R>) {
        match op {
            Op::Append(r) => self.records.push(r.clone()),
            Op::Truncate(end) => self
                .records
                .truncate(end.saturating_sub(self.first) as usize),
            Op::SetCell(key, r) => {
                self.cells.insert(key, r.clone());
            }
            Op::RemoveCell(key) => {
                self.cells.remove(key);
            }
            Op::Discard(upto) => self.discard(*upto),
        }
    }

    /// Drops the records before absolute index `upto`.
    fn discard(&mut self, upto: u64) {
        let n = upto
            .saturating_sub(self.first)
            .min(self.records.len() as u64) as usize;
        self.records.drain(..n);
        self.first += n as u64;
        if self.records.is_empty() {
            // Nothing left: the log starts again at `upto` (a replica that installed a
            // checkpoint newer than anything it logged, or restarts its log after an older
            // one: [`Store::restart_log_at`]).
            self.first = upto;
        }
    }

    /// The record or cell at `place`, mutably.
    fn slot(&mut self, place: &Place) -> Option<&mut R> {
        match place {
            Place::Record(i) => {
                let at = i.checked_sub(self.first)?;
                self.records.get_mut(usize::try_from(at).ok()?)
            }
            Place::Cell(key) => self.cells.get_mut(*key),
        }
    }
}

/// A write not yet synced. `Truncate` and `Discard` hold absolute indices.
#[derive(Clone, Debug, Hash)]
enum Op<R> {
    Append(R),
    Truncate(u64),
    SetCell(&'static str, R),
    RemoveCell(&'static str),
    Discard(u64),
}

/// Where a record lives on the disk: a log record by its absolute index, or a named cell.
/// Places name the same record on every replica of a protocol whose logs line up (Raft's log
/// index), which is how the fault atlas counts copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// The log record at this absolute index (from 0).
    Record(u64),
    /// The named cell.
    Cell(&'static str),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Record(i) => write!(f, "record {i}"),
            Place::Cell(k) => write!(f, "cell {k}"),
        }
    }
}

/// How the disk turns a protocol's records into bytes and back. `decode` is total: it is
/// handed the place it reads and the bytes there, or `None` when the disk reports a read
/// error, and returns the record the node will see. A protocol marks what it cannot read in
/// its own record type (a checksum that fails, a record at the wrong place); a decoder that
/// checks nothing returns whatever the bytes spell, which is what a naive store would do.
pub struct Codec<R> {
    /// Writes the record's bytes.
    pub encode: fn(&R, &mut Vec<u8>),
    /// Reads a record back from the bytes at a place (`None`: the read failed).
    pub decode: fn(Place, Option<&[u8]>) -> R,
}

impl<R> Clone for Codec<R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R> Copy for Codec<R> {}
impl<R> std::fmt::Debug for Codec<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Codec")
    }
}

/// What a sync reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synced {
    /// Every pending write is on the disk (also when nothing was pending).
    Done,
    /// The sync failed: the pending writes did not reach the disk and never will (they are
    /// forgotten, though the node still reads them from its cache until it crashes); the
    /// next sync reports success for whatever is written after.
    Failed,
}

impl Synced {
    /// Whether the writes are durable.
    pub fn is_done(self) -> bool {
        self == Synced::Done
    }
}

/// Damage done to a record already on the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// Flip one bit (taken modulo the record's length in bits): the read returns other bytes.
    Corrupt {
        /// Which bit.
        bit: u64,
    },
    /// The sector cannot be read: the read reports an error until the record is rewritten.
    Latent,
}

/// What a storage fault did, for the trace and the atlas.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Struck {
    /// Places damaged on the disk.
    pub damaged: Vec<Place>,
    /// What happened, in words.
    pub detail: String,
}

/// Counters shown in the run summary, per node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Completed `sync` calls that had something to make durable.
    pub syncs: u64,
    /// `sync` calls with nothing pending (cheap, still counted apart).
    pub syncs_empty: u64,
    /// Record appends and cell writes issued.
    pub writes: u64,
    /// Bytes written (as sized by the protocol's `record_bytes`).
    pub bytes_written: u64,
    /// Bytes made durable by syncs.
    pub bytes_synced: u64,
    /// Pending writes thrown away by crashes.
    pub writes_lost: u64,
    /// Syncs that failed (a storage fault): their writes were lost.
    #[serde(skip_serializing_if = "is_zero")]
    pub syncs_failed: u64,
    /// Storage faults that damaged the disk (torn, corrupt, latent, misdirected).
    #[serde(skip_serializing_if = "is_zero")]
    pub damaged: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A node's durable store. `R` is the protocol's record type.
#[derive(Clone, Debug)]
pub struct Store<R> {
    current: Image<R>,
    synced: Image<R>,
    pending: Vec<Op<R>>,
    pending_bytes: u64,
    stats: StoreStats,
    /// Times the record log lost records (a truncation that removed some, a crash): while
    /// it stays the same, the log only grew, so a reader that saw a prefix still has it.
    shrinks: u64,
    /// How records become bytes; storage faults need it.
    codec: Option<Codec<R>>,
    /// Writes a failed sync lost: the node still reads them until it crashes.
    forgotten: usize,
    /// The next sync that has something to write fails.
    sync_fails: bool,
    /// Places on the disk damaged and not rewritten since.
    damaged: BTreeSet<Place>,
}

impl<R> Default for Store<R> {
    fn default() -> Self {
        Store {
            current: Image::default(),
            synced: Image::default(),
            pending: Vec::new(),
            pending_bytes: 0,
            stats: StoreStats::default(),
            shrinks: 0,
            codec: None,
            forgotten: 0,
            sync_fails: false,
            damaged: BTreeSet::new(),
        }
    }
}

impl<R: std::hash::Hash> Store<R> {
    /// Folds what the store holds into `h`: what a read sees now and the writes not yet
    /// synced (together they give the synced image), not the counters. Two stores that
    /// hash alike behave alike from here on, crashes included.
    pub fn hash_state<H: std::hash::Hasher>(&self, h: &mut H) {
        self.current.hash(h);
        self.pending.hash(h);
        // Only a store that met a storage fault has these: hashing them only then keeps
        // every other store's hash as it was.
        if self.forgotten > 0 || self.sync_fails || !self.damaged.is_empty() {
            self.synced.hash(h);
            self.sync_fails.hash(h);
            self.damaged.hash(h);
        }
    }
}

impl<R: Clone> Store<R> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one record (pending until `sync`). `bytes` is its size for the statistics.
    pub fn append(&mut self, record: R, bytes: u64) {
        self.current.records.push(record.clone());
        self.pending.push(Op::Append(record));
        self.count_write(bytes);
    }

    /// Drops every record at position `len` and after (positions count from the first
    /// record kept, as [`Store::records`] does; pending until `sync`).
    pub fn truncate(&mut self, len: usize) {
        if len >= self.current.records.len() {
            return;
        }
        self.current.records.truncate(len);
        self.shrinks += 1;
        self.pending
            .push(Op::Truncate(self.current.first + len as u64));
        self.count_write(8);
    }

    /// Sets a named cell (pending until `sync`).
    pub fn set_cell(&mut self, key: &'static str, record: R, bytes: u64) {
        self.current.cells.insert(key, record.clone());
        self.pending.push(Op::SetCell(key, record));
        self.count_write(bytes);
    }

    /// Removes a named cell (pending until `sync`).
    pub fn remove_cell(&mut self, key: &'static str) {
        if self.current.cells.remove(key).is_some() {
            self.pending.push(Op::RemoveCell(key));
            self.count_write(8);
        }
    }

    fn count_write(&mut self, bytes: u64) {
        self.stats.writes += 1;
        self.stats.bytes_written += bytes;
        self.pending_bytes += bytes;
    }

    /// Drops the log records before absolute index `upto` (pending until `sync`): the log's
    /// front, once a checkpoint holds what they said. Indices of the records kept stay.
    pub fn discard_before(&mut self, upto: u64) {
        if upto <= self.current.first {
            return;
        }
        self.current.discard(upto);
        self.shrinks += 1;
        self.pending.push(Op::Discard(upto));
        self.count_write(8);
    }

    /// Empties the record log and starts it again at absolute index `first`, which may be
    /// before the front discarded so far (pending until `sync`): a replica whose only
    /// readable checkpoint is older than its log's front keeps nothing of the log.
    pub fn restart_log_at(&mut self, first: u64) {
        self.truncate(0);
        if self.current.first == first {
            return;
        }
        self.current.first = first;
        self.shrinks += 1;
        self.pending.push(Op::Discard(first));
        self.count_write(8);
    }

    /// Makes every pending write durable. Returns how many operations it made durable (0
    /// when nothing was pending, or when an armed fault made the sync fail: see
    /// [`Store::sync_checked`]).
    pub fn sync(&mut self) -> usize {
        match self.sync_checked() {
            (Synced::Done, n) => n,
            (Synced::Failed, _) => 0,
        }
    }

    /// Makes every pending write durable, or fails if [`Store::fail_next_sync`] armed it:
    /// returns the outcome and how many operations were pending.
    pub fn sync_checked(&mut self) -> (Synced, usize) {
        let n = self.pending.len();
        if n == 0 {
            self.stats.syncs_empty += 1;
            return (Synced::Done, 0);
        }
        if self.sync_fails {
            self.sync_fails = false;
            self.forgotten += n;
            self.pending.clear();
            self.pending_bytes = 0;
            self.stats.syncs_failed += 1;
            return (Synced::Failed, n);
        }
        for op in &self.pending {
            self.synced.apply(op);
            mend(&mut self.damaged, &self.synced, op);
        }
        self.pending.clear();
        self.stats.syncs += 1;
        self.stats.bytes_synced += self.pending_bytes;
        self.pending_bytes = 0;
        if self.forgotten == 0 && self.damaged.is_empty() {
            debug_assert_eq!(self.synced.records.len(), self.current.records.len());
        }
        (Synced::Done, n)
    }

    /// The places a misdirected write of the log's last record would damage, given `draw`:
    /// the record's own place (left reading as zeros) and the earlier one it lands on.
    /// `None` without a codec or with fewer than two records on the disk.
    pub fn misdirect_places(&self, draw: u64) -> Option<(Place, Place)> {
        self.codec?;
        let (first, n) = (self.synced.first, self.synced.records.len() as u64);
        if n < 2 {
            return None;
        }
        let intended = first + n - 1;
        Some((
            Place::Record(intended),
            Place::Record(first + draw % (n - 1)),
        ))
    }

    /// A misdirected write: the log's last record on the disk was written over an earlier
    /// record (chosen by `draw`, see [`Store::misdirect_places`]) and its own place reads as
    /// zeros. Applied when the fault is injected, which the node cannot tell from the write
    /// having gone astray when it was synced: it reads its disk only after a crash.
    pub fn misdirect(&mut self, draw: u64) -> Option<Struck> {
        let codec = self.codec?;
        let (intended, wrong) = self.misdirect_places(draw)?;
        let mut bytes = Vec::new();
        let rec = self.synced.slot(&intended)?;
        (codec.encode)(rec, &mut bytes);
        let zeros = vec![0u8; bytes.len()];
        *rec = (codec.decode)(intended, Some(&zeros));
        if let Some(victim) = self.synced.slot(&wrong) {
            *victim = (codec.decode)(wrong, Some(&bytes));
        }
        self.damaged.insert(intended);
        self.damaged.insert(wrong);
        self.stats.damaged += 1;
        Some(Struck {
            damaged: vec![intended, wrong],
            detail: format!("{intended} was written over {wrong}; {intended} reads as zeros"),
        })
    }

    /// The crash: pending writes vanish and the store reads as its synced image.
    /// Returns how many writes were lost.
    pub fn crash(&mut self) -> usize {
        let lost = self.pending.len() + self.forgotten;
        self.pending.clear();
        self.pending_bytes = 0;
        self.forgotten = 0;
        self.stats.writes_lost += lost as u64;
        if lost > 0 || !self.damaged.is_empty() {
            self.shrinks += 1;
        }
        self.current.clone_from(&self.synced);
        lost
    }

    /// A crash that tears a write: the pending writes reach the disk in order until power
    /// fails in the middle of write number `cut_op` (counted from 0, taken modulo the number
    /// pending), which leaves the first `cut_byte` bytes of its record (taken modulo its
    /// length, at least 1) and the rest of its place as it was; the writes after it are lost.
    /// Truncations and discards are atomic, and so is a cell write for which `tear_cell`
    /// says no (the fault atlas may spare cells): a cut that falls on one loses it whole.
    /// Needs a codec and something pending; otherwise a plain crash. Returns the writes lost
    /// and what the tear did.
    pub fn crash_torn(
        &mut self,
        cut_op: u64,
        cut_byte: u64,
        tear_cell: &dyn Fn(&'static str) -> bool,
    ) -> (usize, Struck) {
        let n = self.pending.len();
        let Some(codec) = self.codec.filter(|_| n > 0) else {
            let lost = self.crash();
            return (
                lost,
                Struck {
                    damaged: vec![],
                    detail: "nothing pending to tear".into(),
                },
            );
        };
        let k = (cut_op % n as u64) as usize;
        let pending = std::mem::take(&mut self.pending);
        for op in &pending[..k] {
            self.synced.apply(op);
            mend(&mut self.damaged, &self.synced, op);
        }
        let mut struck = Struck::default();
        let torn = match &pending[k] {
            Op::Append(r) => Some((
                Place::Record(self.synced.first + self.synced.records.len() as u64),
                r,
            )),
            Op::SetCell(key, r) if tear_cell(key) => Some((Place::Cell(key), r)),
            _ => None,
        };
        match torn {
            Some((place, r)) => {
                let mut bytes = Vec::new();
                (codec.encode)(r, &mut bytes);
                let keep = if bytes.len() <= 1 {
                    bytes.len()
                } else {
                    1 + (cut_byte % (bytes.len() as u64 - 1)) as usize
                };
                // What was at the place before shows through after the prefix.
                let mut old = Vec::new();
                if let Some(prev) = self.synced.slot(&place) {
                    (codec.encode)(prev, &mut old);
                }
                let mut on_disk = bytes[..keep].to_vec();
                if old.len() > keep {
                    on_disk.extend_from_slice(&old[keep..]);
                }
                let read = (codec.decode)(place, Some(&on_disk));
                match (place, self.synced.slot(&place)) {
                    (_, Some(slot)) => *slot = read,
                    (Place::Record(_), None) => self.synced.records.push(read),
                    (Place::Cell(key), None) => {
                        self.synced.cells.insert(key, read);
                    }
                }
                self.damaged.insert(place);
                self.stats.damaged += 1;
                struck.damaged.push(place);
                struck.detail = format!(
                    "{k} of {n} pending writes reached the disk whole; {place} kept {keep} of {} bytes",
                    bytes.len()
                );
            }
            None => {
                struck.detail = format!(
                    "{k} of {n} pending writes reached the disk whole; the cut fell on a write that cannot tear, lost whole"
                );
            }
        }
        // The cut write and those after it are lost (the torn one only partly).
        self.pending = pending;
        self.pending.drain(..k);
        let lost = self.crash();
        (lost, struck)
    }

    /// Damages the record at `place` on the disk. The node sees it once it reads the disk
    /// again, after a crash. `None` when there is no codec or nothing synced there.
    pub fn damage(&mut self, place: Place, how: Damage) -> Option<Struck> {
        let codec = self.codec?;
        let slot = self.synced.slot(&place)?;
        let mut bytes = Vec::new();
        (codec.encode)(slot, &mut bytes);
        let detail = match how {
            Damage::Corrupt { bit } if !bytes.is_empty() => {
                let bit = bit % (bytes.len() as u64 * 8);
                bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
                *slot = (codec.decode)(place, Some(&bytes));
                format!("{place}: bit {bit} of {} bytes flipped", bytes.len())
            }
            Damage::Corrupt { .. } => return None,
            Damage::Latent => {
                *slot = (codec.decode)(place, None);
                format!("{place}: unreadable")
            }
        };
        self.damaged.insert(place);
        self.stats.damaged += 1;
        Some(Struck {
            damaged: vec![place],
            detail,
        })
    }

    /// Makes the next sync that has something to write fail (see [`Synced::Failed`]).
    pub fn fail_next_sync(&mut self) {
        self.sync_fails = true;
    }

    /// Whether the next sync with something to write will fail.
    pub fn sync_will_fail(&self) -> bool {
        self.sync_fails
    }

    /// Gives the store its codec: storage faults become possible.
    pub fn set_codec(&mut self, codec: Codec<R>) {
        self.codec = Some(codec);
    }

    /// Whether storage faults can act on this store.
    pub fn has_codec(&self) -> bool {
        self.codec.is_some()
    }

    /// The names of the cells on the disk.
    pub fn synced_cell_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.synced.cells.keys().copied()
    }

    /// Places damaged on the disk and not rewritten since.
    pub fn damaged(&self) -> &BTreeSet<Place> {
        &self.damaged
    }

    /// Every place the disk holds, log records first (for drawing a fault's target).
    pub fn synced_places(&self) -> impl Iterator<Item = Place> + '_ {
        let first = self.synced.first;
        (first..first + self.synced.records.len() as u64)
            .map(Place::Record)
            .chain(self.synced.cells.keys().map(|k| Place::Cell(k)))
    }

    /// The absolute index of the first record kept (0 unless the front was discarded).
    pub fn first_index(&self) -> u64 {
        self.current.first
    }

    /// The absolute index of the first record a crash would leave.
    pub fn synced_first_index(&self) -> u64 {
        self.synced.first
    }

    /// How many times the record log has lost records (truncations that removed some, and
    /// crashes that lost writes). Between two readings that agree, the log only grew.
    pub fn shrinks(&self) -> u64 {
        self.shrinks
    }

    /// The record log as the node sees it now (synced and pending).
    pub fn records(&self) -> &[R] {
        &self.current.records
    }

    /// One record, if present.
    pub fn record(&self, index: usize) -> Option<&R> {
        self.current.records.get(index)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.current.records.len()
    }

    /// True when the log has no records.
    pub fn is_empty(&self) -> bool {
        self.current.records.is_empty()
    }

    /// A named cell as the node sees it now.
    pub fn cell(&self, key: &str) -> Option<&R> {
        self.current.cells.get(key)
    }

    /// The records that would survive a crash right now.
    pub fn synced_records(&self) -> &[R] {
        &self.synced.records
    }

    /// A cell as it would read after a crash right now.
    pub fn synced_cell(&self, key: &str) -> Option<&R> {
        self.synced.cells.get(key)
    }

    /// Number of writes waiting for a sync.
    pub fn pending_writes(&self) -> usize {
        self.pending.len()
    }

    /// Counters for the summary.
    pub fn stats(&self) -> StoreStats {
        self.stats
    }
}

/// A rewrite of a damaged place repairs it.
fn mend<R>(damaged: &mut BTreeSet<Place>, synced: &Image<R>, op: &Op<R>) {
    if damaged.is_empty() {
        return;
    }
    match op {
        Op::Append(_) => {
            let at = synced.first + synced.records.len() as u64 - 1;
            damaged.remove(&Place::Record(at));
        }
        Op::Truncate(_) | Op::Discard(_) => {
            let (lo, hi) = (synced.first, synced.first + synced.records.len() as u64);
            damaged.retain(|p| !matches!(p, Place::Record(i) if *i < lo || *i >= hi));
        }
        Op::SetCell(k, _) | Op::RemoveCell(k) => {
            damaged.remove(&Place::Cell(k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynced_writes_vanish_on_crash() {
        let mut s: Store<u32> = Store::new();
        s.append(1, 4);
        s.set_cell("epoch", 7, 4);
        assert_eq!(s.sync(), 2);
        s.append(2, 4);
        s.set_cell("epoch", 8, 4);
        s.truncate(0);
        assert_eq!(s.records(), &[] as &[u32]);
        assert_eq!(s.cell("epoch"), Some(&8));
        assert_eq!(s.crash(), 3);
        assert_eq!(s.records(), &[1]);
        assert_eq!(s.cell("epoch"), Some(&7));
        assert_eq!(s.stats().writes_lost, 3);
        assert_eq!(s.stats().syncs, 1);
    }

    #[test]
    fn truncate_then_append_is_replayed_in_order() {
        let mut s: Store<u32> = Store::new();
        for i in 0..5 {
            s.append(i, 4);
        }
        s.sync();
        s.truncate(2);
        s.append(9, 4);
        s.sync();
        s.crash();
        assert_eq!(s.records(), &[0, 1, 9]);
        assert_eq!(s.synced_records(), &[0, 1, 9]);
        assert_eq!(s.stats().bytes_synced, 5 * 4 + 8 + 4);
    }

    #[test]
    fn empty_sync_is_counted_apart() {
        let mut s: Store<u32> = Store::new();
        assert_eq!(s.sync(), 0);
        assert_eq!(s.stats().syncs, 0);
        assert_eq!(s.stats().syncs_empty, 1);
        s.remove_cell("missing");
        assert_eq!(s.pending_writes(), 0);
    }

    /// A record as a naive store keeps it: four little-endian bytes, no checksum; short
    /// reads are padded with zeros and an unreadable sector reads as `u32::MAX`.
    fn naive() -> Codec<u32> {
        Codec {
            encode: |r, out| out.extend_from_slice(&r.to_le_bytes()),
            decode: |_, bytes| match bytes {
                None => u32::MAX,
                Some(b) => {
                    let mut w = [0u8; 4];
                    for (x, y) in w.iter_mut().zip(b) {
                        *x = *y;
                    }
                    u32::from_le_bytes(w)
                }
            },
        }
    }

    fn faulty_store(codec: Codec<u32>) -> Store<u32> {
        let mut s = Store::new();
        s.set_codec(codec);
        s
    }

    #[test]
    fn a_failed_sync_loses_its_writes_and_the_next_sync_succeeds() {
        let mut s = faulty_store(naive());
        s.append(1, 4);
        s.fail_next_sync();
        assert_eq!(s.sync_checked(), (Synced::Failed, 1));
        assert_eq!(s.records(), &[1], "the node still reads its cache");
        s.append(2, 4);
        assert_eq!(s.sync_checked(), (Synced::Done, 1));
        assert_eq!(s.crash(), 1, "the forgotten write is lost at the crash");
        assert_eq!(s.records(), &[2]);
        assert_eq!(s.stats().syncs_failed, 1);
    }

    #[test]
    fn a_torn_append_keeps_a_prefix_of_its_bytes() {
        let mut s = faulty_store(naive());
        s.append(7, 4);
        s.sync();
        s.append(0x0403_0201, 4);
        s.append(9, 4);
        // Power fails during the second pending write, after 2 of its 4 bytes.
        let (lost, struck) = s.crash_torn(1, 1, &|_| true);
        assert_eq!(lost, 1);
        assert_eq!(struck.damaged, vec![Place::Record(2)]);
        assert_eq!(s.records(), &[7, 0x0403_0201, 9 & 0xffff]);
        assert!(s.damaged().contains(&Place::Record(2)));
    }

    #[test]
    fn a_torn_cell_write_shows_the_old_value_past_the_prefix() {
        let mut s = faulty_store(naive());
        s.set_cell("meta", 0xAAAA_AAAA, 4);
        s.sync();
        s.set_cell("meta", 0x1111_1111, 4);
        let (_, struck) = s.crash_torn(0, 0, &|_| true);
        assert_eq!(struck.damaged, vec![Place::Cell("meta")]);
        assert_eq!(s.cell("meta"), Some(&0xAAAA_AA11));
    }

    #[test]
    fn corruption_is_seen_after_the_crash_and_a_rewrite_mends_it() {
        let mut s = faulty_store(naive());
        s.append(1, 4);
        s.append(2, 4);
        s.sync();
        let struck = s
            .damage(Place::Record(1), Damage::Corrupt { bit: 3 })
            .unwrap();
        assert_eq!(struck.damaged, vec![Place::Record(1)]);
        assert_eq!(
            s.records(),
            &[1, 2],
            "the cache still holds the good record"
        );
        s.crash();
        assert_eq!(
            s.records(),
            &[1, 2 ^ 8],
            "the naive store reads other bytes"
        );
        s.truncate(1);
        s.append(2, 4);
        s.sync();
        assert!(s.damaged().is_empty());
    }

    #[test]
    fn a_latent_error_reads_as_the_codecs_unreadable_record() {
        let mut s = faulty_store(naive());
        s.set_cell("meta", 5, 4);
        s.sync();
        assert!(s.damage(Place::Cell("meta"), Damage::Latent).is_some());
        assert!(s.damage(Place::Cell("other"), Damage::Latent).is_none());
        s.crash();
        assert_eq!(s.cell("meta"), Some(&u32::MAX));
    }

    #[test]
    fn a_misdirected_write_lands_on_an_earlier_record() {
        let mut s = faulty_store(naive());
        for r in [10, 11, 12, 13] {
            s.append(r, 4);
        }
        s.sync();
        let struck = s.misdirect(1).unwrap();
        assert_eq!(struck.damaged, vec![Place::Record(3), Place::Record(1)]);
        s.crash();
        assert_eq!(s.records(), &[10, 13, 12, 0]);
    }

    #[test]
    fn no_codec_no_storage_faults() {
        let mut s: Store<u32> = Store::new();
        s.append(1, 4);
        s.sync();
        assert!(s.damage(Place::Record(0), Damage::Latent).is_none());
        assert!(s.misdirect(0).is_none());
        s.append(2, 4);
        assert_eq!(s.crash_torn(0, 1, &|_| true).0, 1);
        assert_eq!(s.records(), &[1]);
    }

    #[test]
    fn a_discarded_front_keeps_indices_and_needs_a_sync() {
        let mut s = faulty_store(naive());
        for r in 0..5 {
            s.append(r, 4);
        }
        s.sync();
        s.discard_before(3);
        assert_eq!((s.first_index(), s.records()), (3, &[3, 4][..]));
        s.crash();
        assert_eq!(
            (s.first_index(), s.len()),
            (0, 5),
            "unsynced discard is lost"
        );
        s.discard_before(3);
        s.truncate(1);
        s.append(9, 4);
        s.sync();
        s.crash();
        assert_eq!((s.first_index(), s.records()), (3, &[3, 9][..]));
        assert!(s.damage(Place::Record(0), Damage::Latent).is_none());
        assert!(s.damage(Place::Record(4), Damage::Latent).is_some());
    }
}
