//! From transactions to a dependency graph: each list key's version order recovered from
//! the reads, the ww, wr and rw edges it implies, register wr edges from unique values, and
//! the anomalies that need no cycle (G1a, G1b, incompatible orders).

use super::read::{MopKind, Read, Status, Txn};
use super::{Class, EdgeKind};
use crate::lin::Val;
use std::collections::BTreeMap;

/// No transaction (an element nobody appended, or one appended twice).
pub(super) const NONE: u32 = u32::MAX;

/// One dependency edge between two vertices (transactions in the graph).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Edge {
    pub from: u32,
    pub to: u32,
    pub kind: EdgeKind,
    pub key: u32,
    /// What makes the edge. List keys: ww, the position of `from`'s element in the version
    /// order (`to`'s is the next); wr, the position of the read's last element; rw, the
    /// read's length (the position of `to`'s element). Register keys (wr): an index into
    /// [`Inferred::reg_vals`].
    pub at: u32,
}

/// A single-edge anomaly (G1a, G1b, incompatible order), described by the transactions and
/// the key and value involved.
#[derive(Clone, Debug)]
pub(super) struct Flat<'a> {
    pub class: Class,
    /// Transaction indices: the writer (or the reader of the longest read) first, then the
    /// reader.
    pub txns: [u32; 2],
    pub key: u32,
    pub value: &'a Val,
    /// The read, for incompatible orders and list reads.
    pub read: Option<&'a Val>,
}

/// What a key holds, from the micro-ops that write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyKind {
    /// Only read.
    Unwritten,
    List,
    Register,
}

/// Who wrote a value of a key.
#[derive(Clone, Copy, Debug)]
struct Writer {
    txn: u32,
    /// The writer's last write to this key.
    last: bool,
    /// Written more than once: ambiguous, so no edge is drawn from it.
    dup: bool,
}

/// Everything inferred before cycles are searched.
pub(super) struct Inferred<'a> {
    pub kinds: Vec<KeyKind>,
    /// Each list key's version order: its longest committed read.
    pub orders: Vec<&'a [Val]>,
    pub reg_vals: Vec<&'a Val>,
    /// Per vertex: its transaction.
    pub txn_of: Vec<u32>,
    /// Sorted by (from, to, kind), one edge per (from, to, kind).
    pub edges: Vec<Edge>,
    pub flats: Vec<Flat<'a>>,
    pub unknown_observed: usize,
    pub notes: Vec<String>,
}

const EMPTY: &[Val] = &[];

fn as_list(v: &Val) -> &[Val] {
    match v {
        Val::List(items) => items,
        _ => EMPTY,
    }
}

/// Infers the version orders, edges and single-edge anomalies of `r`.
pub(super) fn infer<'a>(r: &Read<'a>) -> Result<Inferred<'a>, String> {
    let nkeys = r.keys.len();
    let txns = &r.txns;
    let mut kinds = vec![KeyKind::Unwritten; nkeys];
    for t in txns {
        for m in &t.mops {
            let k = &mut kinds[m.key as usize];
            let want = match m.kind {
                MopKind::Append => KeyKind::List,
                MopKind::Write => KeyKind::Register,
                MopKind::Read => continue,
            };
            if *k != KeyKind::Unwritten && *k != want {
                return Err(format!(
                    "key {} is both appended to and written as a register (operation {}); \
                     a key must be one or the other",
                    r.keys[m.key as usize], t.op
                ));
            }
            *k = want;
        }
    }

    // Who wrote each value, and whether it was the writer's last write to the key.
    let mut writers: Vec<BTreeMap<&'a Val, Writer>> = vec![BTreeMap::new(); nkeys];
    let mut dups: usize = 0;
    let mut dup_shown: Vec<String> = Vec::new();
    let mut seen: Vec<u32> = Vec::new();
    for (ti, t) in txns.iter().enumerate() {
        seen.clear();
        for m in t.mops.iter().rev() {
            if m.kind == MopKind::Read {
                continue;
            }
            let last = !seen.contains(&m.key);
            if last {
                seen.push(m.key);
            }
            let w = Writer {
                txn: ti as u32,
                last,
                dup: false,
            };
            match writers[m.key as usize].entry(m.arg) {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(w);
                }
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    let first = e.get().txn;
                    e.get_mut().dup = true;
                    dups += 1;
                    if dup_shown.len() < 3 {
                        dup_shown.push(format!(
                            "{} {} on key {} (operations {} and {})",
                            m.kind.name(),
                            m.arg,
                            r.keys[m.key as usize],
                            txns[first as usize].op,
                            t.op
                        ));
                    }
                }
            }
        }
    }
    let mut notes = Vec::new();
    if dups > 0 {
        notes.push(format!(
            "{dups} write(s) repeat a value already written to the same key, so that value's \
             writer is ambiguous and no edge or anomaly is drawn from it: {}",
            dup_shown.join("; ")
        ));
    }

    // Version orders: the longest committed read of each list key.
    let mut orders: Vec<&'a [Val]> = vec![EMPTY; nkeys];
    let mut longest_reader: Vec<u32> = vec![NONE; nkeys];
    for (ti, t) in committed(txns) {
        for m in &t.mops {
            if m.kind == MopKind::Read && kinds[m.key as usize] == KeyKind::List {
                if !matches!(m.arg, Val::List(_) | Val::Nil) {
                    return Err(format!(
                        "key {} is a list (appended to) but operation {} read it as {}, \
                         not a list or nil",
                        super::read::show(r.keys[m.key as usize]),
                        t.op,
                        super::read::show(m.arg)
                    ));
                }
                let l = as_list(m.arg);
                if l.len() > orders[m.key as usize].len() {
                    orders[m.key as usize] = l;
                    longest_reader[m.key as usize] = ti;
                }
            }
        }
    }
    let writer_of = |key: u32, v: &Val| -> u32 {
        match writers[key as usize].get(v) {
            Some(w) if !w.dup => w.txn,
            _ => NONE,
        }
    };
    let mut order_writers: Vec<Vec<u32>> = vec![Vec::new(); nkeys];
    let mut observed = vec![false; txns.len()];
    let mut garbage = 0usize;
    for k in 0..nkeys {
        if kinds[k] != KeyKind::List {
            continue;
        }
        let ws: Vec<u32> = orders[k]
            .iter()
            .map(|v| {
                let w = writer_of(k as u32, v);
                if w == NONE && !writers[k].contains_key(v) {
                    garbage += 1;
                }
                if w != NONE {
                    observed[w as usize] = true;
                }
                w
            })
            .collect();
        order_writers[k] = ws;
    }
    let mut reg_vals: Vec<&'a Val> = Vec::new();
    for (_, t) in committed(txns) {
        for m in &t.mops {
            if m.kind == MopKind::Read && kinds[m.key as usize] == KeyKind::Register {
                let w = writer_of(m.key, m.arg);
                if w != NONE {
                    observed[w as usize] = true;
                } else if *m.arg != Val::Nil && !writers[m.key as usize].contains_key(m.arg) {
                    garbage += 1;
                }
            }
        }
    }
    if garbage > 0 {
        notes.push(format!(
            "{garbage} value(s) were read that no transaction in the history wrote; \
             they make no edge"
        ));
    }

    // Vertices: committed transactions, and unknown ones whose writes were observed.
    let mut vertex = vec![NONE; txns.len()];
    let mut txn_of = Vec::new();
    let mut unknown_observed = 0;
    for (ti, t) in txns.iter().enumerate() {
        let takes_part = match t.status {
            Status::Committed => true,
            Status::Unknown => observed[ti],
            Status::Aborted => false,
        };
        if t.status == Status::Unknown && observed[ti] {
            unknown_observed += 1;
        }
        if takes_part {
            vertex[ti] = txn_of.len() as u32;
            txn_of.push(ti as u32);
        }
    }

    let mut edges = Vec::new();
    let mut flats = Vec::new();
    // ww: consecutive elements of each version order.
    for (k, ws) in order_writers.iter().enumerate() {
        for (i, pair) in ws.windows(2).enumerate() {
            let (a, b) = (pair[0], pair[1]);
            if a == NONE || b == NONE || a == b {
                continue;
            }
            let (va, vb) = (vertex[a as usize], vertex[b as usize]);
            if va != NONE && vb != NONE {
                edges.push(Edge {
                    from: va,
                    to: vb,
                    kind: EdgeKind::Ww,
                    key: k as u32,
                    at: i as u32,
                });
            }
        }
    }
    // Aborted elements: the first position of each order written by an aborted transaction.
    let first_aborted: Vec<usize> = order_writers
        .iter()
        .map(|ws| {
            ws.iter()
                .position(|&w| w != NONE && txns[w as usize].status == Status::Aborted)
                .unwrap_or(usize::MAX)
        })
        .collect();

    for (ti, t) in committed(txns) {
        let me = vertex[ti as usize];
        for m in &t.mops {
            if m.kind != MopKind::Read {
                continue;
            }
            let k = m.key as usize;
            match kinds[k] {
                KeyKind::Unwritten => {}
                KeyKind::List => {
                    let read = as_list(m.arg);
                    let order = orders[k];
                    if order[..read.len()] != *read {
                        flats.push(Flat {
                            class: Class::IncompatibleOrder,
                            txns: [longest_reader[k], ti],
                            key: m.key,
                            value: m.arg,
                            read: Some(m.arg),
                        });
                        continue;
                    }
                    let ws = &order_writers[k];
                    if first_aborted[k] < read.len() {
                        let p = first_aborted[k];
                        flats.push(Flat {
                            class: Class::G1a,
                            txns: [ws[p], ti],
                            key: m.key,
                            value: &read[p],
                            read: Some(m.arg),
                        });
                    }
                    if let Some(p) = read.len().checked_sub(1) {
                        let w = ws[p];
                        if w != NONE && w != ti {
                            let wl = writers[k][&read[p]].last;
                            if !wl && txns[w as usize].status != Status::Aborted {
                                flats.push(Flat {
                                    class: Class::G1b,
                                    txns: [w, ti],
                                    key: m.key,
                                    value: &read[p],
                                    read: Some(m.arg),
                                });
                            }
                            let vw = vertex[w as usize];
                            if vw != NONE {
                                edges.push(Edge {
                                    from: vw,
                                    to: me,
                                    kind: EdgeKind::Wr,
                                    key: m.key,
                                    at: p as u32,
                                });
                            }
                        }
                    }
                    if read.len() < order.len() {
                        let w = ws[read.len()];
                        if w != NONE && w != ti && vertex[w as usize] != NONE {
                            edges.push(Edge {
                                from: me,
                                to: vertex[w as usize],
                                kind: EdgeKind::Rw,
                                key: m.key,
                                at: read.len() as u32,
                            });
                        }
                    }
                }
                KeyKind::Register => {
                    let Some(w) = writers[k].get(m.arg).filter(|w| !w.dup) else {
                        continue;
                    };
                    if w.txn == ti {
                        continue;
                    }
                    let wt = &txns[w.txn as usize];
                    if wt.status == Status::Aborted {
                        flats.push(Flat {
                            class: Class::G1a,
                            txns: [w.txn, ti],
                            key: m.key,
                            value: m.arg,
                            read: None,
                        });
                        continue;
                    }
                    if !w.last {
                        flats.push(Flat {
                            class: Class::G1b,
                            txns: [w.txn, ti],
                            key: m.key,
                            value: m.arg,
                            read: None,
                        });
                    }
                    edges.push(Edge {
                        from: vertex[w.txn as usize],
                        to: me,
                        kind: EdgeKind::Wr,
                        key: m.key,
                        at: reg_vals.len() as u32,
                    });
                    reg_vals.push(m.arg);
                }
            }
        }
    }
    // One edge per (from, to, kind): the first found explains it.
    edges.sort_by_key(|e| (e.from, e.to, e.kind));
    edges.dedup_by_key(|e| (e.from, e.to, e.kind));
    Ok(Inferred {
        kinds,
        orders,
        reg_vals,
        txn_of,
        edges,
        flats,
        unknown_observed,
        notes,
    })
}

/// The committed transactions with their indices.
fn committed<'t, 'a>(txns: &'t [Txn<'a>]) -> impl Iterator<Item = (u32, &'t Txn<'a>)> {
    txns.iter()
        .enumerate()
        .filter(|(_, t)| t.status == Status::Committed)
        .map(|(i, t)| (i as u32, t))
}
