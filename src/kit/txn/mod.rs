//! Transactions across nodes: what a transactional client asks ([`Txn`], made of micro-operations
//! [`Mop`]), what it is answered ([`TxnAnswer`]), how a key space is split among participants
//! ([`owner`]), a participant's share of the work under strict two-phase locking
//! ([`Participant`]: locks, wait-die, durable prepared records, commit and abort), the
//! workloads that exercise it ([`TxnGenerator`]: list appends, registers, bank transfers) and
//! how a transaction reads in a history ([`history_call`], [`history_value`]).
//!
//! A commit protocol (two-phase commit, Paxos Commit) sets `type Request = Txn`,
//! `type Response = TxnAnswer` and `type Client = Driver<Self, TxnGenerator>`, keeps one
//! [`Participant`] per node, and decides, by its own rules, whether each transaction the
//! participants prepared commits or aborts. Everything a participant must do on its own
//! (locking, the prepared record synced before a yes vote, applying the writes once, refusing
//! a transaction it aborted) lives here, so the protocols differ only where they differ: in
//! how the decision is reached and who may reach it.
//!
//! Owns the transactional service's data types and rules; knows nothing of coordinators,
//! ballots or any one protocol. Must not import anything but the protocol API and the kit.

pub mod checks;
mod participant;
mod workload;

pub use participant::{Done, Held, Knows, Out, PRecord, Participant, ParticipantBugs, Vote};
pub use workload::{TxnGenerator, TxnMix, TxnWorkload, Workload};

use crate::protocol::{
    ClientId, ConfigError, HistoryCall, HistoryCheck, Isolation, NodeId, RequestId, Val,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A key of the transactional store (`0 .. keys`).
pub type Key = u32;

/// The participant that owns `key` among `nodes` nodes: keys are dealt round-robin.
pub fn owner(key: Key, nodes: u32) -> NodeId {
    NodeId(key % nodes.max(1))
}

/// One micro-operation of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mop {
    /// Read a key.
    R {
        /// Key.
        key: Key,
    },
    /// Overwrite a register.
    W {
        /// Key.
        key: Key,
        /// Value, unique per key in the workloads.
        value: u64,
    },
    /// Append to a list.
    Append {
        /// Key.
        key: Key,
        /// Element, unique per key in the workloads.
        value: u64,
    },
    /// Add to a balance; refused (the transaction votes no) if the balance would go below zero.
    Add {
        /// Account.
        key: Key,
        /// Amount, negative to take money out.
        delta: i64,
    },
}

impl Mop {
    /// The key it touches.
    pub fn key(&self) -> Key {
        match self {
            Mop::R { key }
            | Mop::W { key, .. }
            | Mop::Append { key, .. }
            | Mop::Add { key, .. } => *key,
        }
    }

    /// Whether it only reads.
    pub fn is_read(&self) -> bool {
        matches!(self, Mop::R { .. })
    }
}

impl fmt::Display for Mop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mop::R { key } => write!(f, "r {key}"),
            Mop::W { key, value } => write!(f, "w {key} {value}"),
            Mop::Append { key, value } => write!(f, "append {key} {value}"),
            Mop::Add { key, delta } => write!(f, "add {key} {delta}"),
        }
    }
}

/// What a key holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Datum {
    /// Nothing written yet.
    #[default]
    Nil,
    /// A register's value or an account's balance.
    Int(i64),
    /// A list's elements, oldest first.
    List(Vec<u64>),
}

impl fmt::Display for Datum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::Nil => f.write_str("nil"),
            Datum::Int(i) => write!(f, "{i}"),
            Datum::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Which workload a transaction belongs to: list-append and register transactions are judged
/// by the isolation checker; bank transactions by conservation of money.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnKind {
    /// Appends and reads of lists.
    ListAppend,
    /// Writes and reads of registers.
    Register,
    /// Transfers between accounts, and reads of every account.
    Bank,
}

/// A client's transaction: micro-operations run in order, all or nothing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Txn {
    /// The workload it comes from.
    pub kind: TxnKind,
    /// What it does, in order.
    pub mops: Vec<Mop>,
}

impl fmt::Display for Txn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, m) in self.mops.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "[{m}]")?;
        }
        f.write_str("]")
    }
}

/// Why a transaction aborted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbortWhy {
    /// A lock conflict with an older transaction (wait-die: the younger one dies).
    Conflict,
    /// A transfer would have taken a balance below zero.
    Refused,
    /// A participant did not vote in time (down, cut off, or waiting too long).
    Timeout,
    /// It had been aborted already (a retry of an aborted transaction, or a participant that
    /// aborted it on its own before it voted).
    Aborted,
}

/// The answer to a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnAnswer {
    /// It committed: its micro-operations, and the values its reads returned in order.
    Committed {
        /// The transaction's micro-operations (so the answer reads on its own in a history).
        mops: Vec<Mop>,
        /// One value per read micro-operation.
        reads: Vec<Datum>,
    },
    /// It aborted: none of its writes took effect.
    Aborted {
        /// Why.
        why: AbortWhy,
    },
    /// Ask another node: the one coordinating this client's transactions.
    NotCoordinator {
        /// The node to ask.
        hint: Option<NodeId>,
    },
}

impl TxnAnswer {
    /// Whether this answer is service (for the recovery metrics): an outcome, committed or
    /// aborted, not a redirect to the coordinator.
    pub fn is_service(&self) -> bool {
        !matches!(self, TxnAnswer::NotCoordinator { .. })
    }
}

/// A transaction's identity: the client and its request id, the same across retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TxnId {
    /// The client.
    pub client: u32,
    /// Its request number.
    pub serial: u64,
}

impl TxnId {
    /// The transaction of request `id` from `client`.
    pub fn of(client: ClientId, id: RequestId) -> TxnId {
        TxnId {
            client: client.0,
            serial: id.serial(),
        }
    }
}

impl fmt::Display for TxnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}.{}", self.client, self.serial)
    }
}

/// A transaction's age for wait-die: the time its coordinator first began it (microseconds of
/// the coordinator's clock), then its id to break ties. Smaller is older.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Age(pub u64, pub TxnId);

fn mop_val(m: &Mop, read: Option<&Datum>) -> Val {
    let (f, key, arg) = match m {
        Mop::R { key } => ("r", *key, read.map_or(Val::Nil, datum_val)),
        Mop::W { key, value } => ("w", *key, Val::Int(*value as i64)),
        Mop::Append { key, value } => ("append", *key, Val::Int(*value as i64)),
        Mop::Add { key, delta } => ("add", *key, Val::Int(*delta)),
    };
    Val::List(vec![Val::Str(f.to_string()), Val::Int(i64::from(key)), arg])
}

fn datum_val(d: &Datum) -> Val {
    match d {
        Datum::Nil => Val::Nil,
        Datum::Int(i) => Val::Int(*i),
        Datum::List(items) => Val::List(items.iter().map(|&v| Val::Int(v as i64)).collect()),
    }
}

/// A transaction as the isolation checker reads it: `txn` with its micro-operations as
/// `[name key arg]` lists (`r`, `w`, `append`). Bank transactions are not read by it (money
/// is judged by conservation), so they map to nothing.
pub fn history_call(txn: &Txn) -> Option<HistoryCall> {
    if txn.kind == TxnKind::Bank {
        return None;
    }
    Some(HistoryCall {
        f: "txn",
        key: None,
        value: Val::List(txn.mops.iter().map(|m| mop_val(m, None)).collect()),
    })
}

/// The check of a transactional run's client history: the isolation checker, for the level
/// the commit protocols on this kit claim, serializable (strict two-phase locking at the
/// participants). Bank histories map to nothing and are judged by `money_conserved` instead.
pub fn history_check() -> Box<dyn HistoryCheck> {
    Box::new(Isolation::serializable())
}

/// A completed transaction as the isolation checker reads it: its micro-operations with the
/// values its reads returned (`Nil` for an answer that is not a commit).
pub fn history_value(answer: &TxnAnswer) -> Val {
    let TxnAnswer::Committed { mops, reads } = answer else {
        return Val::Nil;
    };
    let mut reads = reads.iter();
    Val::List(
        mops.iter()
            .map(|m| {
                if m.is_read() {
                    mop_val(m, reads.next())
                } else {
                    mop_val(m, None)
                }
            })
            .collect(),
    )
}

/// The parameters every transactional protocol shares (`protocol.params`, flattened into the
/// protocol's own).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TxnParams {
    /// The workload: `list_append`, `register` or `bank`.
    pub workload: TxnKind,
    /// Keys (accounts, for bank) the workload uses.
    pub keys: u32,
    /// Most micro-operations per transaction (at least 2; list-append and register).
    pub mops_max: u32,
    /// Every account's opening balance (bank).
    pub balance: i64,
    /// A transaction waiting for a lock longer than this votes no, milliseconds.
    pub wait_ms: u64,
}

impl Default for TxnParams {
    fn default() -> Self {
        TxnParams {
            workload: TxnKind::ListAppend,
            keys: 8,
            mops_max: 4,
            balance: 100,
            wait_ms: 200,
        }
    }
}

impl TxnParams {
    /// The opening value of every key: the balance for bank, nothing otherwise.
    pub fn initial(&self) -> Datum {
        match self.workload {
            TxnKind::Bank => Datum::Int(self.balance),
            _ => Datum::Nil,
        }
    }

    /// Most keys a workload may use.
    pub const KEYS_MAX: u32 = 1024;
    /// Most micro-operations a transaction may have.
    pub const MOPS_MAX: u32 = 64;

    /// The workload's fields make sense: 1 to [`Self::KEYS_MAX`] keys, 2 to
    /// [`Self::MOPS_MAX`] micro-operations, no negative balance. Every commit protocol's
    /// `check_config` starts here.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.keys == 0 || self.keys > Self::KEYS_MAX {
            return Err(ConfigError::new(
                "keys",
                format!("{} keys: give 1 to {}", self.keys, Self::KEYS_MAX),
            ));
        }
        if !(2..=Self::MOPS_MAX).contains(&self.mops_max) {
            return Err(ConfigError::new(
                "mops_max",
                format!(
                    "{} micro-operations per transaction: give 2 to {}",
                    self.mops_max,
                    Self::MOPS_MAX
                ),
            ));
        }
        if self.balance < 0 {
            return Err(ConfigError::new(
                "balance",
                format!("{}: an opening balance cannot be negative", self.balance),
            ));
        }
        Ok(())
    }

    /// The money in the bank at the start: keys × balance (saturating).
    pub fn total(&self) -> i64 {
        self.balance.saturating_mul(i64::from(self.keys))
    }
}
