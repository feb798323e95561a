//! State a protocol chooses to show: a small, structured picture of one node's bookkeeping
//! (a replicated log, a vote, the indexes a node keeps, the promise an acceptor made), written to
//! the trace as it changes so the viewer can draw a panel per node and a grid of logs.
//!
//! A protocol opts in with [`Protocol::show`](super::Protocol::show): it names each field and
//! each log it wants seen, every time it is asked. [`Shown`] remembers a digest of what it
//! was given last time and keeps only what changed: fields whose value differs, fields no
//! longer shown, and for a log, how many leading entries are unchanged and the entries after
//! them. Values are serialised only when they changed. Nothing here reaches the fingerprint or
//! the protocol's behaviour: it is asked only when a trace is written.

use crate::base::hash::StableHasher;
use crate::storage::Store;
use serde::Serialize;
use std::hash::{Hash, Hasher};

/// One node's shown state, as last shown, and the changes of the showing in progress.
#[derive(Clone, Debug, Default)]
pub struct Shown {
    /// Fields shown so far, in the order first shown.
    fields: Vec<Field>,
    /// Logs shown so far.
    logs: Vec<Log>,
    /// The current showing's number (fields and logs not touched in it are gone).
    round: u64,
    /// The next change is a whole snapshot (the node has just booted).
    full: bool,
    /// Changes of this showing, as JSON written straight away (no intermediate values):
    /// `"name":value` pairs, and `"name":{"keep":K,...}` per changed log, comma-separated.
    set: Vec<u8>,
    changed_logs: Vec<u8>,
    /// A log's new entries while they are written.
    added: Vec<u8>,
    /// The first serialisation error of this showing, if any.
    error: Option<String>,
}

#[derive(Clone, Debug)]
struct Field {
    name: &'static str,
    digest: u64,
    round: u64,
}

#[derive(Clone, Debug)]
struct Log {
    name: &'static str,
    /// One digest per entry (mark and entry).
    digests: Vec<u64>,
    /// The version the entries were read at.
    version: Option<u64>,
    /// The store's shrink count at that version (logs kept in a store).
    shrinks: u64,
    committed: u64,
    round: u64,
}

/// Writes `"name":` (the name escaped as a JSON string).
fn json_name(out: &mut Vec<u8>, name: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, name);
    out.push(b':');
}

fn digest<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = StableHasher::default();
    value.hash(&mut h);
    h.finish()
}

impl Shown {
    /// Shows `value` under `name`. A field shown once and then not shown in a later showing
    /// is reported gone (so a role's own bookkeeping disappears when the node leaves the role).
    pub fn field<T: Serialize + Hash + ?Sized>(&mut self, name: &'static str, value: &T) {
        let d = digest(value);
        let round = self.round;
        let known = self.fields.iter_mut().find(|f| f.name == name);
        let changed = match known {
            Some(f) => {
                f.round = round;
                let changed = f.digest != d;
                f.digest = d;
                changed
            }
            None => {
                self.fields.push(Field {
                    name,
                    digest: d,
                    round,
                });
                true
            }
        };
        if changed || self.full {
            self.put(name, value);
        }
    }

    /// Shows a log: its entries in order, each with a mark (a small number the viewer labels
    /// with the protocol's epoch word and colours by, such as the epoch an entry was created
    /// in), and how many leading entries are committed (chosen, decided). Position `p`
    /// (1-based) is the entry's index.
    ///
    /// `version` is a number that changes whenever the entries may have changed (a store's
    /// write count, [`StoreStats::writes`](crate::storage::StoreStats), does for a log kept in
    /// the store): when it is the last showing's, the entries are not read at all, so a long
    /// log costs nothing on the many steps that do not touch it.
    pub fn log<T, I>(&mut self, name: &'static str, version: u64, entries: I, committed: u64)
    where
        T: Serialize + Hash,
        I: IntoIterator<Item = (u64, T)>,
    {
        self.log_from(name, version, 0, entries, committed);
    }

    /// [`Shown::log`] for `entries` that start at position `from` (0-based), the ones before
    /// being known unchanged since the last showing.
    fn log_from<T, I>(
        &mut self,
        name: &'static str,
        version: u64,
        from: usize,
        entries: I,
        committed: u64,
    ) where
        T: Serialize + Hash,
        I: IntoIterator<Item = (u64, T)>,
    {
        let round = self.round;
        let full = self.full;
        let at = match self.logs.iter().position(|l| l.name == name) {
            Some(i) => i,
            None => {
                self.logs.push(Log {
                    name,
                    digests: Vec::new(),
                    version: None,
                    shrinks: 0,
                    committed: u64::MAX,
                    round,
                });
                self.logs.len() - 1
            }
        };
        let log = &mut self.logs[at];
        log.round = round;
        if !full && log.version == Some(version) {
            if committed != log.committed {
                log.committed = committed;
                let keep = log.digests.len();
                self.log_change(name, keep, false, Some(committed));
            }
            return;
        }
        log.version = Some(version);
        // One pass: compare digests until the first difference, then write every entry after
        // it and keep its digest.
        let mut keep: Option<usize> = full.then_some(0);
        if full {
            log.digests.clear();
        }
        self.added.clear();
        let mut len = from;
        let mut error = None;
        for (i, (mark, entry)) in entries.into_iter().enumerate() {
            let i = from + i;
            len = i + 1;
            let d = digest(&(mark, &entry));
            if keep.is_none() && log.digests.get(i) == Some(&d) {
                continue;
            }
            if keep.is_none() {
                keep = Some(i);
                log.digests.truncate(i);
            }
            log.digests.push(d);
            if !self.added.is_empty() {
                self.added.push(b',');
            }
            self.added.push(b'[');
            self.added.extend_from_slice(mark.to_string().as_bytes());
            self.added.push(b',');
            if let Err(e) = serde_json::to_writer(&mut self.added, &entry) {
                error = Some(format!("log {name}: {e}"));
            }
            self.added.push(b']');
        }
        if keep.is_none() && len < log.digests.len() {
            keep = Some(len);
            log.digests.truncate(len);
        }
        let commit = (committed != log.committed || full).then(|| {
            log.committed = committed;
            committed
        });
        if keep.is_some() || commit.is_some() {
            self.log_change(name, keep.unwrap_or(len), keep.is_some(), commit);
        }
        if let Some(e) = error {
            self.error.get_or_insert(e);
        }
    }

    /// Writes one log's change: `"name":{"keep":K,"add":[...],"committed":C}` (`add` when
    /// `added`, from [`Shown::added`]; `committed` when it moved).
    fn log_change(&mut self, name: &str, keep: usize, added: bool, committed: Option<u64>) {
        let out = &mut self.changed_logs;
        if !out.is_empty() {
            out.push(b',');
        }
        json_name(out, name);
        out.extend_from_slice(b"{\"keep\":");
        out.extend_from_slice(keep.to_string().as_bytes());
        if added {
            out.extend_from_slice(b",\"add\":[");
            out.extend_from_slice(&self.added);
            out.push(b']');
        }
        if let Some(c) = committed {
            out.extend_from_slice(b",\"committed\":");
            out.extend_from_slice(c.to_string().as_bytes());
        }
        out.push(b'}');
    }

    /// Shows a log kept in a store's record log, one entry per record (`entry` gives its
    /// mark and what to show of it), as [`Shown::log`] does. Cheaper: the store says when its
    /// log only grew since the last showing, and then only the new records are read.
    pub fn store_log<'a, R, T>(
        &mut self,
        name: &'static str,
        store: &'a Store<R>,
        entry: impl Fn(&'a R) -> (u64, T),
        committed: u64,
    ) where
        R: Clone,
        T: Serialize + Hash,
    {
        let records = store.records();
        let grew_from = match self.logs.iter().find(|l| l.name == name) {
            Some(l) if !self.full && l.shrinks == store.shrinks() => {
                Some(l.digests.len().min(records.len()))
            }
            _ => None,
        };
        match grew_from {
            // Only appends since: compare nothing before what was shown.
            Some(from) => {
                let version = store.stats().writes;
                self.log_from(
                    name,
                    version,
                    from,
                    records[from..].iter().map(&entry),
                    committed,
                )
            }
            None => self.log(
                name,
                store.stats().writes,
                records.iter().map(&entry),
                committed,
            ),
        }
        if let Some(l) = self.logs.iter_mut().find(|l| l.name == name) {
            l.shrinks = store.shrinks();
        }
    }

    fn put<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) {
        let mark = self.set.len();
        if mark > 0 {
            self.set.push(b',');
        }
        json_name(&mut self.set, name);
        if let Err(e) = serde_json::to_writer(&mut self.set, value) {
            self.set.truncate(mark);
            self.error.get_or_insert(format!("field {name}: {e}"));
        }
    }

    /// Forgets everything shown: the next showing is a whole snapshot (a node that booted).
    pub(crate) fn reset(&mut self) {
        *self = Shown {
            full: true,
            ..Shown::default()
        };
    }

    /// Starts a showing.
    pub(crate) fn begin(&mut self) {
        self.round += 1;
        self.set.clear();
        self.changed_logs.clear();
        self.error = None;
    }

    /// Ends a showing: appends what changed since the last one to `out`, as the fields of a
    /// `state` record each preceded by a comma (`,"full":true`, `,"set":{...}`,
    /// `,"gone":[...]`, `,"logs":{...}`), and says whether anything did. A value that could not
    /// be serialised is an error (the protocol's types serialise everything else they send).
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<bool, String> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let round = self.round;
        let mut gone: Vec<&'static str> = Vec::new();
        self.fields.retain(|f| {
            let keep = f.round == round;
            if !keep {
                gone.push(f.name);
            }
            keep
        });
        self.logs.retain(|l| {
            let keep = l.round == round;
            if !keep {
                gone.push(l.name);
            }
            keep
        });
        let full = std::mem::take(&mut self.full);
        if !full && self.set.is_empty() && self.changed_logs.is_empty() && gone.is_empty() {
            return Ok(false);
        }
        if full {
            out.extend_from_slice(b",\"full\":true");
        }
        if !self.set.is_empty() {
            out.extend_from_slice(b",\"set\":{");
            out.extend_from_slice(&self.set);
            out.push(b'}');
        }
        if !gone.is_empty() {
            out.extend_from_slice(b",\"gone\":[");
            for (i, g) in gone.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, g);
            }
            out.push(b']');
        }
        if !self.changed_logs.is_empty() {
            out.extend_from_slice(b",\"logs\":{");
            out.extend_from_slice(&self.changed_logs);
            out.push(b'}');
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn show(s: &mut Shown, f: impl FnOnce(&mut Shown)) -> Option<serde_json::Value> {
        s.begin();
        f(s);
        let mut out = Vec::new();
        s.finish(&mut out).unwrap().then(|| {
            // The fields as a record carries them, each after a comma.
            let text = format!("{{{}}}", String::from_utf8(out[1..].to_vec()).unwrap());
            serde_json::from_str(&text).unwrap()
        })
    }

    #[test]
    fn fields_report_changes_and_departures_only() {
        let mut s = Shown::default();
        s.reset();
        let first = show(&mut s, |o| {
            o.field("era", &3u64);
            o.field("chosen", &Some(2u32));
        });
        assert_eq!(
            first,
            Some(json!({"full": true, "set": {"era": 3, "chosen": 2}}))
        );
        assert_eq!(
            show(&mut s, |o| {
                o.field("era", &3u64);
                o.field("chosen", &Some(2u32));
            }),
            None
        );
        assert_eq!(
            show(&mut s, |o| o.field("era", &4u64)),
            Some(json!({"set": {"era": 4}, "gone": ["chosen"]}))
        );
        // A field that comes back is shown again, whatever its value.
        assert_eq!(
            show(&mut s, |o| {
                o.field("era", &4u64);
                o.field("chosen", &Some(2u32));
            }),
            Some(json!({"set": {"chosen": 2}}))
        );
    }

    #[test]
    fn logs_report_the_kept_prefix_and_the_new_suffix() {
        let mut s = Shown::default();
        s.reset();
        let log = |entries: &[(u64, &'static str)]| entries.to_vec();
        let a = log(&[(1, "x"), (1, "y"), (2, "z")]);
        assert_eq!(
            show(&mut s, |o| o.log("log", 1, a.iter().copied(), 1)),
            Some(json!({"full": true, "logs": {"log": {
                "keep": 0, "add": [[1, "x"], [1, "y"], [2, "z"]], "committed": 1}}}))
        );
        // Unchanged (read again at a new version): nothing.
        assert_eq!(
            show(&mut s, |o| o.log("log", 2, a.iter().copied(), 1)),
            None
        );
        // An append and a commit.
        let b = log(&[(1, "x"), (1, "y"), (2, "z"), (2, "w")]);
        assert_eq!(
            show(&mut s, |o| o.log("log", 3, b.iter().copied(), 3)),
            Some(json!({"logs": {"log": {"keep": 3, "add": [[2, "w"]], "committed": 3}}}))
        );
        // A conflicting suffix replaced at the same length.
        let c = log(&[(1, "x"), (1, "y"), (3, "v"), (3, "u")]);
        assert_eq!(
            show(&mut s, |o| o.log("log", 4, c.iter().copied(), 3)),
            Some(json!({"logs": {"log": {"keep": 2, "add": [[3, "v"], [3, "u"]]}}}))
        );
        // A truncation with nothing added; then only the commit count moves, at the same
        // version (the entries are not read).
        assert_eq!(
            show(&mut s, |o| o.log("log", 5, c[..1].iter().copied(), 3)),
            Some(json!({"logs": {"log": {"keep": 1, "add": []}}}))
        );
        assert_eq!(
            show(&mut s, |o| o.log("log", 5, c[..1].iter().copied(), 1)),
            Some(json!({"logs": {"log": {"keep": 1, "committed": 1}}}))
        );
        // A reset makes the next showing whole again, whatever the version.
        s.reset();
        assert_eq!(
            show(&mut s, |o| o.log("log", 5, c[..1].iter().copied(), 1)),
            Some(
                json!({"full": true, "logs": {"log": {"keep": 0, "add": [[1, "x"]], "committed": 1}}})
            )
        );
    }
}
