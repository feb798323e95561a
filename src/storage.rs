//! Each node's durable store: an append-oriented record log plus small named cells.
//!
//! Writes land in the *current* image at once (a node reads its own writes) and are queued as
//! pending operations; `sync` makes every pending operation durable. A crash throws the
//! pending operations away and the current image is rebuilt from the synced one, so a
//! protocol that forgets to sync loses exactly what a real disk would lose. Appends cost
//! O(record): nothing is ever rewritten whole.
//!
//! Must not import the engine, the network or the trace: the engine owns one `Store` per node.

use serde::Serialize;
use std::collections::BTreeMap;
use std::hash::Hash;

/// One image of the store: the record log and the cells.
#[derive(Clone, Debug, Hash)]
struct Image<R> {
    records: Vec<R>,
    cells: BTreeMap<&'static str, R>,
}

impl<R> Default for Image<R> {
    fn default() -> Self {
        Image {
            records: Vec::new(),
            cells: BTreeMap::new(),
        }
    }
}

impl<R: Clone> Image<R> {
    fn apply(&mut self, op: &Op<R>) {
        match op {
            Op::Append(r) => self.records.push(r.clone()),
            Op::Truncate(len) => self.records.truncate(*len),
            Op::SetCell(key, r) => {
                self.cells.insert(key, r.clone());
            }
            Op::RemoveCell(key) => {
                self.cells.remove(key);
            }
        }
    }
}

/// A write not yet synced.
#[derive(Clone, Debug, Hash)]
enum Op<R> {
    Append(R),
    Truncate(usize),
    SetCell(&'static str, R),
    RemoveCell(&'static str),
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

    /// Drops every record at index `len` and after (pending until `sync`).
    pub fn truncate(&mut self, len: usize) {
        if len >= self.current.records.len() {
            return;
        }
        self.current.records.truncate(len);
        self.shrinks += 1;
        self.pending.push(Op::Truncate(len));
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

    /// Makes every pending write durable. Returns how many operations it made durable.
    pub fn sync(&mut self) -> usize {
        let n = self.pending.len();
        if n == 0 {
            self.stats.syncs_empty += 1;
            return 0;
        }
        for op in &self.pending {
            self.synced.apply(op);
        }
        self.pending.clear();
        self.stats.syncs += 1;
        self.stats.bytes_synced += self.pending_bytes;
        self.pending_bytes = 0;
        debug_assert_eq!(self.synced.records.len(), self.current.records.len());
        n
    }

    /// The crash: pending writes vanish and the store reads as its synced image.
    /// Returns how many writes were lost.
    pub fn crash(&mut self) -> usize {
        let lost = self.pending.len();
        self.pending.clear();
        self.pending_bytes = 0;
        self.stats.writes_lost += lost as u64;
        if lost > 0 {
            self.shrinks += 1;
        }
        self.current.records.clone_from(&self.synced.records);
        self.current.cells.clone_from(&self.synced.cells);
        lost
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
}
