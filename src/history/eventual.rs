//! The history check of eventually consistent data types (counters, sets, registers
//! replicated as CRDTs): **not** linearizability. Such a store answers from one replica,
//! which may not have heard of updates other replicas took, so a read may miss any update
//! and two reads may disagree in any order. What the history must still show, for every
//! read that returned, at its return time `r`:
//!
//! - **A counter** (updates `incr` with a signed amount; a read returns an integer): the
//!   value lies between the sum of the decrements and the sum of the increments invoked
//!   before `r` (failed ones left out). So no read ever shows an increment counted twice,
//!   an increment nobody asked for, or a decrement nobody asked for.
//! - **A set** (updates `add` and `remove` of an integer; a read returns a list): every
//!   element read was added by an add invoked before `r`.
//! - **A register** (updates `write`; a read returns an integer or nil): a value read was
//!   written by a write invoked before `r`; nil is always allowed.
//!
//! Operations are checked key by key; a key's kind is told by its updates (a key with only
//! reads is a counter at 0 or an empty set or register). What it does not check: that
//! replicas converge, and to which value; protocols check that on the replicas' states once
//! they agree (`kit::crdt::expect` gives the bounds), since a client history cannot tell
//! when the replicas have all heard of everything.

use super::check::{HistoryCheck, HistoryVerdict, Judgement};
use crate::lin::{Op, Outcome, Val};
use std::collections::{BTreeMap, BTreeSet};

/// Eventual consistency of counters, sets and registers, read as the module docs say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Eventual;

/// What may be visible to a read returning at a time: updates invoked before it.
#[derive(Default)]
struct Visible {
    lo: i64,
    hi: i64,
    counts: bool,
    added: BTreeSet<i64>,
    written: BTreeSet<i64>,
}

impl Visible {
    fn take(&mut self, op: &Op) {
        match (op.f.as_str(), &op.value) {
            ("incr", Val::Int(by)) => {
                self.counts = true;
                if *by < 0 {
                    self.lo = self.lo.saturating_add(*by);
                } else {
                    self.hi = self.hi.saturating_add(*by);
                }
            }
            ("add", Val::Int(x)) => {
                self.added.insert(*x);
            }
            ("write", Val::Int(x)) => {
                self.written.insert(*x);
            }
            _ => {}
        }
    }

    /// Why `value` cannot be read, if it cannot.
    fn refuse(&self, value: &Val, registers: bool) -> Option<String> {
        match value {
            Val::Nil => None,
            Val::Int(v) if registers => (!self.written.contains(v))
                .then(|| format!("it read {v}, which no write invoked before it wrote")),
            Val::Int(v) if *v < self.lo || *v > self.hi => Some(format!(
                "it read {v}, outside {}..={}: the decrements and increments invoked before it{}",
                self.lo,
                self.hi,
                if self.counts { "" } else { " (none)" }
            )),
            Val::Int(_) => None,
            Val::List(items) => items.iter().find_map(|x| match x {
                Val::Int(x) if self.added.contains(x) => None,
                other => Some(format!(
                    "it read element {other}, which no add invoked before it added"
                )),
            }),
            Val::Str(s) => Some(format!(
                "it read {s:?}, which is not a counter, set or register"
            )),
        }
    }
}

fn applies(op: &Op) -> bool {
    !matches!(op.outcome, Outcome::Fail(_) | Outcome::NotApplied(_))
}

impl HistoryCheck for Eventual {
    fn name(&self) -> &'static str {
        "eventually_consistent"
    }

    fn judge(&self, ops: &[Op], _budget: u64) -> Result<Judgement, String> {
        let mut keys: BTreeMap<Option<&str>, Vec<&Op>> = BTreeMap::new();
        for op in ops {
            keys.entry(op.key.as_deref()).or_default().push(op);
        }
        let mut steps = 0u64;
        let mut ignored = 0usize;
        for (key, ops) in &keys {
            let registers = ops.iter().any(|o| o.f == "write");
            let mut updates: Vec<&Op> = Vec::new();
            let mut reads: Vec<(&Op, u64, &Val)> = Vec::new();
            for op in ops {
                match (op.f.as_str(), &op.outcome, op.ret) {
                    ("read", Outcome::Ok(v), Some(r)) => reads.push((op, r, v)),
                    ("read", _, _) => ignored += 1,
                    ("incr" | "add" | "remove" | "write", _, _) if applies(op) => updates.push(op),
                    ("incr" | "add" | "remove" | "write", _, _) => ignored += 1,
                    (f, _, _) => {
                        return Err(format!(
                            "operation {f:?} is not a counter, set or register operation"
                        ));
                    }
                }
            }
            updates.sort_by_key(|o| o.call);
            reads.sort_by_key(|&(_, r, _)| r);
            let mut visible = Visible::default();
            let mut next = 0;
            for (op, r, value) in reads {
                while next < updates.len() && updates[next].call < r {
                    visible.take(updates[next]);
                    next += 1;
                    steps += 1;
                }
                steps += 1;
                if let Some(why) = visible.refuse(value, registers) {
                    let key = key.map_or(String::new(), |k| format!(" of key {k:?}"));
                    return Ok(Judgement {
                        verdict: HistoryVerdict::Violated(format!(
                            "a read{key} shows what no update could have made ({op}): {why}"
                        )),
                        ops: ops.len(),
                        ignored,
                        parts: keys.len(),
                        steps,
                    });
                }
            }
        }
        Ok(Judgement {
            verdict: HistoryVerdict::Held,
            ops: ops.len(),
            ignored,
            parts: keys.len(),
            steps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(f: &str, value: Val, outcome: Outcome, call: u64, ret: Option<u64>) -> Op {
        Op {
            process: 0,
            f: f.into(),
            key: None,
            value,
            outcome,
            call,
            ret,
            line: 0,
        }
    }

    fn verdict(ops: &[Op]) -> HistoryVerdict {
        Eventual.judge(ops, 1000).unwrap().verdict
    }

    #[test]
    fn counter_reads_lie_between_the_decrements_and_increments_invoked_before() {
        let base = vec![
            op("incr", Val::Int(3), Outcome::Ok(Val::Nil), 0, Some(10)),
            op("incr", Val::Int(-1), Outcome::Unknown, 5, None),
            op("incr", Val::Int(50), Outcome::Fail(Val::Nil), 6, Some(7)),
        ];
        let read = |v, ret| {
            op(
                "read",
                Val::Nil,
                Outcome::Ok(Val::Int(v)),
                ret - 1,
                Some(ret),
            )
        };
        for (v, ret, ok) in [
            (0, 3, true),
            (3, 3, true),
            (-1, 8, true),
            (4, 8, false),
            (-1, 4, false),
        ] {
            let mut h = base.clone();
            h.push(read(v, ret));
            assert_eq!(verdict(&h) == HistoryVerdict::Held, ok, "read {v} at {ret}");
        }
    }

    #[test]
    fn set_and_register_reads_show_only_what_was_written_before() {
        let set = |items: Vec<i64>| {
            vec![
                op("add", Val::Int(1), Outcome::Ok(Val::Nil), 0, Some(2)),
                op("remove", Val::Int(1), Outcome::Ok(Val::Nil), 3, Some(4)),
                op(
                    "read",
                    Val::Nil,
                    Outcome::Ok(Val::List(items.into_iter().map(Val::Int).collect())),
                    5,
                    Some(6),
                ),
            ]
        };
        assert_eq!(
            verdict(&set(vec![1])),
            HistoryVerdict::Held,
            "eventual: a remove may not be seen yet"
        );
        assert!(matches!(
            verdict(&set(vec![1, 2])),
            HistoryVerdict::Violated(_)
        ));
        let reg = |v: Val| {
            vec![
                op("write", Val::Int(7), Outcome::Unknown, 0, None),
                op("read", Val::Nil, Outcome::Ok(v), 1, Some(2)),
            ]
        };
        assert_eq!(verdict(&reg(Val::Int(7))), HistoryVerdict::Held);
        assert_eq!(verdict(&reg(Val::Nil)), HistoryVerdict::Held);
        assert!(matches!(
            verdict(&reg(Val::Int(8))),
            HistoryVerdict::Violated(_)
        ));
    }
}
