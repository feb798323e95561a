//! Transactional isolation: which of Adya's anomalies does a history of transactions show,
//! and does that break the isolation level the store claims? (What Elle does for Jepsen.)
//!
//! A transaction is one [`Op`] with `f` `txn` whose value is a list of micro-ops
//! `[append k v]`, `[r k nil]` or `[w k v]` (EDN's keyword spellings `:append`, `:r`, `:w`
//! too); a committed transaction's result is the same list with the reads filled in. From
//! list-append histories the checker recovers each key's version order from the reads and
//! infers write-write (ww), write-read (wr) and read-write (rw, anti-dependency) edges; from
//! register histories (`w`/`r`), where no version order is recoverable, only wr edges. It
//! reports G0, G1a, G1b, G1c, G-single and G2 (Elle's G2-item), each with a short witness,
//! and [`Isolation`] turns that into a verdict for a level. See docs/isolation.md.
//!
//! Pure: no files, no clock, no printing; it knows no protocol. Deterministic: ordered maps
//! and vectors only, components and witnesses in a fixed order.

mod cycles;
mod generate;
mod infer;
mod read;

pub use generate::{Generation, generate};
pub use read::{InputError, is_txn};

use crate::history::{HistoryCheck, HistoryVerdict, Judgement};
use crate::lin::{Op, Val};
use infer::{Edge, Inferred, KeyKind};
use read::{Read, Status};
use serde::Serialize;
use std::fmt;

/// Witnesses kept per class; the rest are counted.
pub const WITNESSES_MAX: usize = 5;

/// An anomaly class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Class {
    /// A cycle of ww edges only (dirty write).
    G0,
    /// Aborted read: a committed transaction read a value an aborted one wrote.
    G1a,
    /// Intermediate read: a committed transaction read a value that was not its writer's
    /// last write to that key.
    G1b,
    /// A cycle of ww and wr edges with at least one wr edge (circular information flow).
    G1c,
    /// A cycle with exactly one rw edge (read skew, among others).
    #[serde(rename = "G-single")]
    GSingle,
    /// A cycle with two or more rw edges (write skew, among others): Elle's G2-item.
    G2,
    /// Two committed reads of a list key that are not prefixes of one another: the key's
    /// history is not one list (Elle's incompatible-order).
    #[serde(rename = "incompatible-order")]
    IncompatibleOrder,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 7] = [
        Class::G0,
        Class::G1a,
        Class::G1b,
        Class::G1c,
        Class::GSingle,
        Class::G2,
        Class::IncompatibleOrder,
    ];

    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            Class::G0 => "G0",
            Class::G1a => "G1a",
            Class::G1b => "G1b",
            Class::G1c => "G1c",
            Class::GSingle => "G-single",
            Class::G2 => "G2",
            Class::IncompatibleOrder => "incompatible-order",
        }
    }

    /// What it means, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Class::G0 => "dirty write: a cycle of ww edges",
            Class::G1a => "aborted read: a committed transaction read an aborted one's write",
            Class::G1b => "intermediate read: a read saw a value its writer later overwrote",
            Class::G1c => "circular information flow: a cycle of ww and wr edges",
            Class::GSingle => "a cycle with exactly one rw edge (read skew)",
            Class::G2 => "a cycle with two or more rw edges (write skew; Elle's G2-item)",
            Class::IncompatibleOrder => "two reads of a list that are not prefixes of each other",
        }
    }
}

/// An isolation level a store claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Proscribes G0, G1a, G1b, G1c.
    ReadCommitted,
    /// Proscribes those and G-single: an approximation (snapshot isolation also forbids
    /// some G2 cycles, and allows none that need real-time order; neither is checked).
    SnapshotIsolation,
    /// Proscribes every class.
    Serializable,
}

impl Level {
    /// The names `--isolation` accepts.
    pub const NAMES: [&'static str; 3] = ["read-committed", "snapshot-isolation", "serializable"];

    /// The level's name.
    pub fn name(self) -> &'static str {
        match self {
            Level::ReadCommitted => "read-committed",
            Level::SnapshotIsolation => "snapshot-isolation",
            Level::Serializable => "serializable",
        }
    }

    /// The level named `name`.
    pub fn from_name(name: &str) -> Option<Level> {
        match name {
            "read-committed" => Some(Level::ReadCommitted),
            "snapshot-isolation" => Some(Level::SnapshotIsolation),
            "serializable" => Some(Level::Serializable),
            _ => None,
        }
    }

    /// Whether this level forbids `class`. An incompatible order is forbidden at every level:
    /// no level lets one key hold two different lists.
    pub fn proscribes(self, class: Class) -> bool {
        match class {
            Class::G0 | Class::G1a | Class::G1b | Class::G1c | Class::IncompatibleOrder => true,
            Class::GSingle => self != Level::ReadCommitted,
            Class::G2 => self == Level::Serializable,
        }
    }
}

/// A dependency edge's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    /// Write-write: the target overwrote (appended right after) the source.
    Ww,
    /// Write-read: the target read what the source wrote.
    Wr,
    /// Read-write (anti-dependency): the source read a state the target then overwrote.
    Rw,
}

impl EdgeKind {
    fn name(self) -> &'static str {
        match self {
            EdgeKind::Ww => "ww",
            EdgeKind::Wr => "wr",
            EdgeKind::Rw => "rw",
        }
    }
}

/// A transaction in a witness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TxnRef {
    /// Its operation's index in the history.
    pub op: usize,
    /// The process that ran it.
    pub process: u64,
    /// The file line it was invoked on (0 when not from a file).
    pub line: usize,
    /// `ok`, `fail` or `info`.
    pub status: &'static str,
    /// Its micro-ops, reads as completed: `[[append 3 4] [r 5 [1 2]]]`.
    pub text: String,
}

/// One step of a witness: an edge between two of its transactions, and why it is there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Index into the witness's transactions (T1 is 0).
    pub from: usize,
    /// Index into the witness's transactions.
    pub to: usize,
    /// The edge's kind.
    pub kind: EdgeKind,
    /// The key that makes the edge.
    pub key: Val,
    /// The value that makes it (the element appended or read, the value written).
    pub value: Val,
    /// In words.
    pub text: String,
}

/// One anomaly found, with its witness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// Its class.
    pub class: Class,
    /// The transactions involved (a cycle's, in order around it).
    pub txns: Vec<TxnRef>,
    /// The edges, in order (a cycle's last step returns to T1).
    pub steps: Vec<Step>,
    /// For anomalies that are not cycles: what was seen, in words.
    pub detail: String,
}

/// How many of a class were found and how many are shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    /// The class.
    pub class: Class,
    /// Occurrences: cycle classes count strongly connected components showing the class
    /// (G0 and G1c: components of their own edge kinds); the others count reads.
    pub count: usize,
    /// Witnesses kept (at most [`WITNESSES_MAX`]).
    pub shown: usize,
}

/// What the analysis looked at.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Transactions in the history.
    pub txns: usize,
    /// Committed (`ok`).
    pub committed: usize,
    /// Aborted (`fail`).
    pub aborted: usize,
    /// Unknown outcome (`info`).
    pub unknown: usize,
    /// Unknown ones whose writes some committed read saw (so they committed).
    pub unknown_observed: usize,
    /// Keys in the history.
    pub keys: usize,
    /// Keys appended to.
    pub list_keys: usize,
    /// Keys written as registers.
    pub register_keys: usize,
    /// Transactions in the dependency graph.
    pub vertices: usize,
    /// ww edges (one per ordered pair of transactions).
    pub ww: usize,
    /// wr edges.
    pub wr: usize,
    /// rw edges.
    pub rw: usize,
    /// Cycle-search steps (edges looked at).
    pub steps: u64,
}

/// Everything the analysis found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Analysis {
    /// Per class found: its count.
    pub found: Vec<Found>,
    /// The witnesses, class by class.
    pub anomalies: Vec<Anomaly>,
    /// What was looked at.
    pub counts: Counts,
    /// What the reader should know: register keys' limits, repeated writes, values read that
    /// nobody wrote.
    pub notes: Vec<String>,
    /// Set when the cycle search used its budget: the cycle classes may be incomplete.
    pub inconclusive: Option<String>,
}

impl Analysis {
    /// The classes found.
    pub fn classes(&self) -> Vec<Class> {
        self.found.iter().map(|f| f.class).collect()
    }

    /// The classes found that `level` forbids.
    pub fn proscribed(&self, level: Level) -> Vec<Class> {
        self.classes()
            .into_iter()
            .filter(|&c| level.proscribes(c))
            .collect()
    }

    /// The verdict for `level`: violated when a class it forbids was found (a found anomaly
    /// is real even when the search ran out of budget), inconclusive when the search ran out
    /// before finding one, held otherwise.
    pub fn verdict(&self, level: Level) -> HistoryVerdict {
        let bad = self.proscribed(level);
        if !bad.is_empty() {
            let mut text = format!("the history is not {}: ", level.name());
            let names: Vec<&str> = bad.iter().map(|c| c.name()).collect();
            text.push_str(&names.join(", "));
            for a in self
                .anomalies
                .iter()
                .filter(|a| level.proscribes(a.class))
                .take(1)
            {
                text.push('\n');
                text.push_str(&a.to_string());
            }
            HistoryVerdict::Violated(text)
        } else if let Some(why) = &self.inconclusive {
            HistoryVerdict::Inconclusive(why.clone())
        } else {
            HistoryVerdict::Held
        }
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.class.name(), self.class.describe())?;
        for (i, t) in self.txns.iter().enumerate() {
            write!(f, "  T{} = op {}, process {}", i + 1, t.op, t.process)?;
            if t.line > 0 {
                write!(f, ", line {}", t.line)?;
            }
            if t.status != "ok" {
                write!(f, ", {}", t.status)?;
            }
            writeln!(f, ": {}", t.text)?;
        }
        for s in &self.steps {
            writeln!(f, "  {}", s.text)?;
        }
        if !self.detail.is_empty() {
            writeln!(f, "  {}", self.detail)?;
        }
        Ok(())
    }
}

/// Analyses a history of transactions with no bound on the cycle search. An error means an
/// operation is not a transaction this checker can read.
pub fn analyse(ops: &[Op]) -> Result<Analysis, String> {
    analyse_within(ops, u64::MAX)
}

/// [`analyse`] with at most `budget` cycle-search steps; an input error says where.
pub fn analyse_within(ops: &[Op], budget: u64) -> Result<Analysis, String> {
    analyse_located(ops, budget).map_err(|e| match e {
        Unreadable::Input(e) => e.to_string(),
        Unreadable::Other(s) => s,
    })
}

/// Why a history could not be analysed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// An operation that is not a readable transaction, and where.
    Input(InputError),
    /// Something about the history as a whole (a key both appended to and written).
    Other(String),
}

/// [`analyse_within`], with a located error for the command line.
pub fn analyse_located(ops: &[Op], budget: u64) -> Result<Analysis, Unreadable> {
    let r = read::read(ops).map_err(Unreadable::Input)?;
    let inf = infer::infer(&r).map_err(Unreadable::Other)?;
    let found = cycles::search(inf.txn_of.len(), &inf.edges, budget, WITNESSES_MAX);
    let w = Witnesser {
        ops,
        r: &r,
        inf: &inf,
    };

    let mut counts = Counts {
        txns: r.txns.len(),
        keys: r.keys.len(),
        vertices: inf.txn_of.len(),
        unknown_observed: inf.unknown_observed,
        steps: found.steps,
        ..Counts::default()
    };
    for t in &r.txns {
        match t.status {
            Status::Committed => counts.committed += 1,
            Status::Aborted => counts.aborted += 1,
            Status::Unknown => counts.unknown += 1,
        }
    }
    for k in &inf.kinds {
        match k {
            KeyKind::List => counts.list_keys += 1,
            KeyKind::Register => counts.register_keys += 1,
            KeyKind::Unwritten => {}
        }
    }
    for e in &inf.edges {
        match e.kind {
            EdgeKind::Ww => counts.ww += 1,
            EdgeKind::Wr => counts.wr += 1,
            EdgeKind::Rw => counts.rw += 1,
        }
    }

    let mut by_class: Vec<(Class, usize, Vec<Anomaly>)> = Vec::new();
    for flat in &inf.flats {
        let slot = match by_class.iter().position(|s| s.0 == flat.class) {
            Some(i) => i,
            None => {
                by_class.push((flat.class, 0, Vec::new()));
                by_class.len() - 1
            }
        };
        by_class[slot].1 += 1;
        if by_class[slot].2.len() < WITNESSES_MAX {
            by_class[slot].2.push(w.flat(flat));
        }
    }
    for (class, n) in &found.counts {
        if *n > 0 {
            let shown: Vec<Anomaly> = found
                .cycles
                .iter()
                .filter(|(c, _)| c == class)
                .map(|(c, path)| w.cycle(*c, path))
                .collect();
            by_class.push((*class, *n, shown));
        }
    }
    by_class.sort_by_key(|s| s.0);
    let mut notes = inf.notes.clone();
    if counts.register_keys > 0 {
        notes.push(
            "register keys (w/r) have no recoverable version order: only wr edges are inferred \
             on them (from unique values), so they can show G1a, G1b and wr cycles (G1c) but \
             not G0, G-single or G2; process and real-time order are not assumed"
                .to_string(),
        );
    }
    let inconclusive = found.exhausted.then(|| {
        format!(
            "the cycle search used its budget of {budget} steps; cycles may be missing \
             (raise the budget)"
        )
    });
    Ok(Analysis {
        found: by_class
            .iter()
            .map(|(c, n, shown)| Found {
                class: *c,
                count: *n,
                shown: shown.len(),
            })
            .collect(),
        anomalies: by_class.into_iter().flat_map(|s| s.2).collect(),
        counts,
        notes,
        inconclusive,
    })
}

/// Builds witnesses from inferred edges and single-edge anomalies.
struct Witnesser<'w, 'a> {
    ops: &'w [Op],
    r: &'w Read<'a>,
    inf: &'w Inferred<'a>,
}

/// A read as witnesses show it: its elements, or "nothing".
fn show_read(items: &[Val]) -> String {
    if items.is_empty() {
        "nothing".to_string()
    } else {
        read::show(&Val::List(items.to_vec()))
    }
}

impl Witnesser<'_, '_> {
    fn txn(&self, t: u32) -> TxnRef {
        let txn = &self.r.txns[t as usize];
        let op = &self.ops[txn.op];
        TxnRef {
            op: txn.op,
            process: op.process,
            line: op.line,
            status: match txn.status {
                Status::Committed => "ok",
                Status::Aborted => "fail",
                Status::Unknown => "info",
            },
            text: read::show_txn(txn, &self.r.keys),
        }
    }

    fn key(&self, k: u32) -> &Val {
        self.r.keys[k as usize]
    }

    /// The step for edge `e` between witness transactions `from` and `to`.
    fn step(&self, e: &Edge, from: usize, to: usize) -> Step {
        let (a, b) = (format!("T{}", from + 1), format!("T{}", to + 1));
        let key = self.key(e.key).clone();
        let order = self.inf.orders[e.key as usize];
        let at = e.at as usize;
        let kind = e.kind.name();
        let (value, why) = match (e.kind, self.inf.kinds[e.key as usize]) {
            (EdgeKind::Ww, _) => (
                order[at + 1].clone(),
                format!(
                    "{a} appended {}, {b} appended {} right after it",
                    read::show(&order[at]),
                    read::show(&order[at + 1])
                ),
            ),
            (EdgeKind::Wr, KeyKind::Register) => {
                let v = self.inf.reg_vals[at];
                (
                    v.clone(),
                    format!("{b} read {}, which {a} wrote", read::show(v)),
                )
            }
            (EdgeKind::Wr, _) => (
                order[at].clone(),
                format!(
                    "{b} read {}, ending with {}, which {a} appended",
                    show_read(&order[..=at]),
                    read::show(&order[at])
                ),
            ),
            (EdgeKind::Rw, _) => {
                let after = match at.checked_sub(1) {
                    Some(p) => format!("right after {}", read::show(&order[p])),
                    None => "as the first element".to_string(),
                };
                (
                    order[at].clone(),
                    format!(
                        "{a} read {}, then {b} appended {} {after}",
                        show_read(&order[..at]),
                        read::show(&order[at])
                    ),
                )
            }
        };
        Step {
            from,
            to,
            kind: e.kind,
            text: format!("{a} -{kind}-> {b} on key {}: {why}", read::show(&key)),
            key,
            value,
        }
    }

    fn cycle(&self, class: Class, path: &[u32]) -> Anomaly {
        let edges: Vec<&Edge> = path.iter().map(|&i| &self.inf.edges[i as usize]).collect();
        let txns: Vec<TxnRef> = edges
            .iter()
            .map(|e| self.txn(self.inf.txn_of[e.from as usize]))
            .collect();
        let n = edges.len();
        let steps = edges
            .iter()
            .enumerate()
            .map(|(i, e)| self.step(e, i, (i + 1) % n))
            .collect();
        Anomaly {
            class,
            txns,
            steps,
            detail: String::new(),
        }
    }

    fn flat(&self, f: &infer::Flat<'_>) -> Anomaly {
        let key = self.key(f.key).clone();
        let k = read::show(&key);
        let v = read::show(f.value);
        let txns = vec![self.txn(f.txns[0]), self.txn(f.txns[1])];
        let why = match (f.class, f.read) {
            (Class::IncompatibleOrder, _) => {
                let longest = show_read(self.inf.orders[f.key as usize]);
                let read = f.read.map(read::show).unwrap_or_default();
                return Anomaly {
                    class: f.class,
                    txns,
                    steps: Vec::new(),
                    detail: format!(
                        "on key {k}, T1 read {longest} but T2 read {read}, and neither is a \
                         prefix of the other"
                    ),
                };
            }
            (Class::G1a, Some(r)) => format!(
                "T1 aborted, yet T2 read {} with T1's append of {v} in it",
                read::show(r)
            ),
            (Class::G1a, None) => format!("T1 aborted, yet T2 read {v}, which T1 wrote"),
            (_, Some(r)) => format!(
                "T2 read {}, ending with {v}, and T1 appended more to the key after {v}",
                read::show(r)
            ),
            (_, None) => format!("T2 read {v}, which T1 overwrote later in the same transaction"),
        };
        Anomaly {
            class: f.class,
            txns,
            steps: vec![Step {
                from: 0,
                to: 1,
                kind: EdgeKind::Wr,
                key,
                value: f.value.clone(),
                text: format!("T1 -wr-> T2 on key {k}: {why}"),
            }],
            detail: String::new(),
        }
    }
}

/// The isolation check of a transactional history against a level. Its name (in findings
/// and reports) is the level's name: `serializable`, `snapshot-isolation`,
/// `read-committed`. The budget bounds the cycle search (edges looked at, over the whole
/// history).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Isolation {
    /// The level the store claims.
    pub level: Level,
}

impl Isolation {
    /// Serializability: every class is forbidden.
    pub fn serializable() -> Self {
        Isolation {
            level: Level::Serializable,
        }
    }

    /// Snapshot isolation (approximated: G0, G1 and G-single forbidden).
    pub fn snapshot_isolation() -> Self {
        Isolation {
            level: Level::SnapshotIsolation,
        }
    }

    /// Read committed: G0 and G1 forbidden.
    pub fn read_committed() -> Self {
        Isolation {
            level: Level::ReadCommitted,
        }
    }
}

impl HistoryCheck for Isolation {
    fn name(&self) -> &'static str {
        self.level.name()
    }

    fn judge(&self, ops: &[Op], budget: u64) -> Result<Judgement, String> {
        let a = analyse_within(ops, budget)?;
        let c = &a.counts;
        Ok(Judgement {
            verdict: a.verdict(self.level),
            ops: c.txns,
            ignored: c.aborted + c.unknown - c.unknown_observed,
            parts: c.keys,
            steps: c.steps,
        })
    }
}

#[cfg(test)]
mod tests;
