//! Reading transactions out of history operations.
//!
//! A transaction is one [`Op`] with `f` `txn` and a list of micro-ops `[name key arg]` as its
//! value; the completion of a committed one carries the same micro-ops with the reads filled
//! in. Nothing is copied: micro-ops point into the operations.

use crate::lin::{Op, Outcome, Val};
use std::collections::BTreeMap;
use std::fmt;

/// What a micro-op does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MopKind {
    /// Appends its argument to the key's list.
    Append,
    /// Reads the key (a list, or a register's value).
    Read,
    /// Writes its argument to the key's register.
    Write,
}

impl MopKind {
    fn from_name(name: &str) -> Option<Self> {
        match name.strip_prefix(':').unwrap_or(name) {
            "append" => Some(MopKind::Append),
            "r" => Some(MopKind::Read),
            "w" => Some(MopKind::Write),
            _ => None,
        }
    }

    /// The name used in witnesses.
    pub(super) fn name(self) -> &'static str {
        match self {
            MopKind::Append => "append",
            MopKind::Read => "r",
            MopKind::Write => "w",
        }
    }
}

/// One micro-op: its kind, the key (interned) and the argument: the value appended or
/// written, or the value read (for a committed transaction's reads).
#[derive(Clone, Copy, Debug)]
pub(super) struct Mop<'a> {
    pub kind: MopKind,
    pub key: u32,
    pub arg: &'a Val,
}

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Status {
    /// It committed: its reads are known.
    Committed,
    /// It aborted: it took no effect.
    Aborted,
    /// It may or may not have committed; its reads are not known.
    Unknown,
}

/// One transaction.
#[derive(Clone, Debug)]
pub(super) struct Txn<'a> {
    /// Its operation's index in the history.
    pub op: usize,
    pub status: Status,
    pub mops: Vec<Mop<'a>>,
}

/// Why a history cannot be read as transactions: which operation, which side of it, which
/// micro-op, and what was expected. The command line turns the place into file:line:col.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The operation's index in the history.
    pub op: usize,
    /// True when the fault is in the completion's value, false for the invocation's.
    pub completion: bool,
    /// The micro-op's index in the transaction, when the fault is in one.
    pub mop: Option<usize>,
    /// What was wrong, and what was expected.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "operation {} ({})",
            self.op,
            if self.completion {
                "its completion"
            } else {
                "its invocation"
            }
        )?;
        if let Some(m) = self.mop {
            write!(f, ", micro-op {}", m + 1)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// True when `f` names a transaction (`txn`, or EDN's keyword spelling `:txn`).
pub fn is_txn(f: &str) -> bool {
    f.strip_prefix(':').unwrap_or(f) == "txn"
}

/// The transactions of a history and its interned keys.
pub(super) struct Read<'a> {
    pub txns: Vec<Txn<'a>>,
    pub keys: Vec<&'a Val>,
}

/// Reads every operation of `ops` as a transaction.
pub(super) fn read(ops: &[Op]) -> Result<Read<'_>, InputError> {
    let mut keys: Vec<&Val> = Vec::new();
    let mut index: BTreeMap<&Val, u32> = BTreeMap::new();
    let mut txns = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let fail = |completion: bool, mop: Option<usize>, message: String| InputError {
            op: i,
            completion,
            mop,
            message,
        };
        if !is_txn(&op.f) {
            return Err(fail(
                false,
                None,
                format!(
                    "`{}` is not a transaction: the isolation check reads only :txn operations",
                    op.f
                ),
            ));
        }
        let invoked = micro_ops(&op.value).map_err(|(m, msg)| fail(false, m, msg))?;
        let (status, completed) = match &op.outcome {
            Outcome::Ok(v) => {
                let done = micro_ops(v).map_err(|(m, msg)| fail(true, m, msg))?;
                if done.len() != invoked.len() {
                    return Err(fail(
                        true,
                        None,
                        format!(
                            "the completion has {} micro-ops but the invocation had {}",
                            done.len(),
                            invoked.len()
                        ),
                    ));
                }
                for (m, (a, b)) in invoked.iter().zip(&done).enumerate() {
                    if a.0 != b.0 || a.1 != b.1 {
                        return Err(fail(
                            true,
                            Some(m),
                            format!(
                                "expected [{} {} ...] as invoked, found [{} {} ...]",
                                a.0.name(),
                                show(a.1),
                                b.0.name(),
                                show(b.1)
                            ),
                        ));
                    }
                    if a.0 != MopKind::Read && a.2 != b.2 {
                        return Err(fail(
                            true,
                            Some(m),
                            format!(
                                "the completion {}s {} but the invocation said {}",
                                a.0.name(),
                                show(b.2),
                                show(a.2)
                            ),
                        ));
                    }
                }
                (Status::Committed, done)
            }
            Outcome::Fail(_) | Outcome::NotApplied(_) => (Status::Aborted, invoked),
            Outcome::Unknown => (Status::Unknown, invoked),
        };
        let mut mops = Vec::with_capacity(completed.len());
        for (m, (kind, key, arg)) in completed.into_iter().enumerate() {
            if status == Status::Committed && kind == MopKind::Read {
                read_value(arg).map_err(|msg| fail(true, Some(m), msg))?;
            }
            let next = keys.len() as u32;
            let k = *index.entry(key).or_insert(next);
            if k == next {
                keys.push(key);
            }
            mops.push(Mop { kind, key: k, arg });
        }
        txns.push(Txn {
            op: i,
            status,
            mops,
        });
    }
    Ok(Read { txns, keys })
}

type Parsed<'a> = (MopKind, &'a Val, &'a Val);

/// A transaction's value as micro-ops; on error, which micro-op and why.
fn micro_ops(v: &Val) -> Result<Vec<Parsed<'_>>, (Option<usize>, String)> {
    let Val::List(items) = v else {
        return Err((
            None,
            format!(
                "expected a list of micro-ops like [[:append 1 2] [:r 3 nil]], found {}",
                show(v)
            ),
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (m, item) in items.iter().enumerate() {
        let bad = |msg: String| (Some(m), msg);
        let Val::List(parts) = item else {
            return Err(bad(format!(
                "expected a micro-op [name key value] (a 3-element vector), found {}",
                show(item)
            )));
        };
        if parts.len() != 3 {
            return Err(bad(format!(
                "expected a micro-op [name key value] (a 3-element vector), found {} element(s): {}",
                parts.len(),
                show(item)
            )));
        }
        let kind = match &parts[0] {
            Val::Str(s) => MopKind::from_name(s),
            _ => None,
        }
        .ok_or_else(|| {
            bad(format!(
                "expected a micro-op name :append, :r or :w, found {}",
                show(&parts[0])
            ))
        })?;
        let key = &parts[1];
        if !matches!(key, Val::Int(_) | Val::Str(_)) {
            return Err(bad(format!(
                "expected a key (a number or a string), found {}",
                show(key)
            )));
        }
        let arg = &parts[2];
        if kind == MopKind::Append && !matches!(arg, Val::Int(_) | Val::Str(_)) {
            return Err(bad(format!(
                "expected the appended value (a number or a string), found {}",
                show(arg)
            )));
        }
        out.push((kind, key, arg));
    }
    Ok(out)
}

/// Checks a committed read's value: nil, an atom, or a list of atoms.
fn read_value(v: &Val) -> Result<(), String> {
    let nested = match v {
        Val::List(items) => items.iter().any(|x| matches!(x, Val::List(_))),
        _ => false,
    };
    if nested {
        return Err(format!(
            "expected a read's value to be nil, a value or a list of values, found {}",
            show(v)
        ));
    }
    Ok(())
}

/// A micro-op as witnesses show it: `[append 3 4]`, `[r 5 [1 2]]`.
pub(super) fn show_mop(m: &Mop<'_>, keys: &[&Val]) -> String {
    format!(
        "[{} {} {}]",
        m.kind.name(),
        show(keys[m.key as usize]),
        show(m.arg)
    )
}

/// A transaction as witnesses show it: `[[append 3 4] [r 5 [1 2]]]`.
pub(super) fn show_txn(t: &Txn<'_>, keys: &[&Val]) -> String {
    let parts: Vec<String> = t.mops.iter().map(|m| show_mop(m, keys)).collect();
    format!("[{}]", parts.join(" "))
}

/// A value as witnesses show it: like [`Val`]'s own display, but EDN keywords (strings the
/// reader keeps as `:name`) bare rather than quoted.
pub(super) fn show(v: &Val) -> String {
    match v {
        Val::Str(s) if s.starts_with(':') && !s.contains(char::is_whitespace) => s.clone(),
        Val::List(items) => {
            let parts: Vec<String> = items.iter().map(show).collect();
            format!("[{}]", parts.join(" "))
        }
        other => other.to_string(),
    }
}
