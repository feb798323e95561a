//! Linearizability: did a history of client operations behave like one correct copy?
//!
//! A history is a list of [`Op`]s, each with the time it was invoked and the time it returned
//! (or no return time when its outcome is unknown: it may have taken effect at any moment
//! after its invocation, or never). A [`Model`] is the sequential specification the history is
//! judged against. [`check`] answers [`LinVerdict::Linearizable`], or
//! [`LinVerdict::NotLinearizable`] with a counterexample, or [`LinVerdict::Inconclusive`] when
//! the search would take more than its budget of steps (never a guess, and never dependent on
//! the machine's speed).
//!
//! The search is Wing and Gong's, with Lowe's memoization (a cache of the set of operations
//! linearized so far together with the model state reached, so no configuration is explored
//! twice), run separately for every key (P-compositionality: a history of independent keys is
//! linearizable exactly when each key's sub-history is). See docs/linearizability.md.
//!
//! Pure: no files, no clock, no global state. Parsers for recorded histories are in
//! [`formats`].

pub mod formats;
pub mod generate;
mod models;
mod reduce;
mod search;

pub use models::{Kv, MultiRegister, Mutex, Queue, Register, Set};
use serde::Serialize;
use std::fmt;

/// A value in a history: what Jepsen, Porcupine and faultline histories carry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(untagged)]
pub enum Val {
    /// Nothing (`nil`, `null`).
    Nil,
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A tuple such as a compare-and-set's `[from to]`.
    List(Vec<Val>),
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Nil => f.write_str("nil"),
            Val::Int(i) => write!(f, "{i}"),
            Val::Str(s) => write!(f, "{s:?}"),
            Val::List(items) => {
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

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It happened, with this result (the value read; for writes usually the value written).
    Ok(Val),
    /// An observed failure. For a compare-and-set: the comparison did not match (a result
    /// the model must explain). For other operations: it definitely did not take effect.
    /// This is what etcd logs (as Porcupine reads them) and faultline's own histories mean
    /// by `fail`.
    Fail(Val),
    /// It did not take effect and says nothing about the state: Jepsen's `:fail` as its EDN
    /// histories mean it (a failed compare-and-set imposes no constraint). The checker leaves
    /// such an operation out, whatever the model.
    NotApplied(Val),
    /// Nobody knows: it may have taken effect at any time after its invocation, or never.
    Unknown,
}

/// One client operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Op {
    /// The process (client incarnation) that issued it.
    pub process: u64,
    /// The function: `read`, `write`, `cas`, `get`, `put`, `append`, ...
    pub f: String,
    /// The key, for models checked key by key.
    pub key: Option<String>,
    /// The argument given at invocation.
    pub value: Val,
    /// How it ended.
    pub outcome: Outcome,
    /// When it was invoked (virtual microseconds, or the position in a file).
    pub call: u64,
    /// When it returned; `None` when the outcome is unknown.
    pub ret: Option<u64>,
    /// The line of the file it was invoked on (0 when not from a file).
    pub line: usize,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "process {} {}", self.process, self.f)?;
        if let Some(k) = &self.key {
            write!(f, " key {k:?}")?;
        }
        if self.value != Val::Nil {
            write!(f, " {}", self.value)?;
        }
        match &self.outcome {
            Outcome::Ok(v) => write!(f, " -> ok {v}")?,
            Outcome::Fail(v) => write!(f, " -> fail {v}")?,
            Outcome::NotApplied(v) => write!(f, " -> fail {v} (did not happen)")?,
            Outcome::Unknown => f.write_str(" -> unknown")?,
        }
        if self.line > 0 {
            write!(f, " (line {})", self.line)?;
        } else {
            // From a simulation: virtual times in microseconds, shown in seconds.
            let secs = |us: u64| format!("{}.{:06}s", us / 1_000_000, us % 1_000_000);
            match self.ret {
                Some(r) => write!(f, " [{} .. {}]", secs(self.call), secs(r))?,
                None => write!(f, " [{} .. ]", secs(self.call))?,
            }
        }
        Ok(())
    }
}

/// An operation as a model reads it: its input, and its output unless the outcome is unknown.
pub type Reading<M> = (<M as Model>::Input, Option<<M as Model>::Output>);

/// What a protocol says a client request is, for the history check: `get` of key `k1`, say.
/// Trace records carry it (`invoke` records, as `call`), so tools read operations the way
/// the history check does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryCall {
    /// The function (`get`, `put`, `append`, `read`, `write`, `cas`).
    pub f: &'static str,
    /// The key, for models checked key by key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The argument.
    pub value: Val,
}

/// A sequential specification: the behaviour of one correct copy.
///
/// Models are deterministic: an input applied to a state gives one next state and one output.
/// Implement this to check a protocol whose operations are not a register or a map.
pub trait Model {
    /// The state of the copy.
    type State: Clone + Eq + fmt::Debug;
    /// An operation as the model sees it.
    type Input: Clone + fmt::Debug;
    /// What an operation returns.
    type Output: Clone + Eq + fmt::Debug;

    /// The name used on the command line (`register`, `kv`).
    fn name(&self) -> &'static str;

    /// Reads one operation of a history: `Ok(None)` when it cannot affect the verdict (a read
    /// whose result is unknown, an operation that definitely did not take effect); the output
    /// is `None` when the outcome is unknown. `Err` says why the operation does not fit.
    fn read(&mut self, op: &Op) -> Result<Option<Reading<Self>>, String>;

    /// Operations are checked in independent groups: those with the same key here.
    fn partition<'a>(&self, op: &'a Op) -> Option<&'a str> {
        op.key.as_deref()
    }

    /// The state before any operation.
    fn init(&mut self) -> Self::State;

    /// Applies `input` to `state`.
    fn step(&mut self, state: &Self::State, input: &Self::Input) -> (Self::State, Self::Output);

    /// Whether an input never changes the state (a read). The search takes a read that fits
    /// without branching on it; a wrong `true` would make the checker unsound.
    fn is_read_only(&self, input: &Self::Input) -> bool {
        let _ = input;
        false
    }

    /// A hash of a state for the search's cache (equal states, equal hashes).
    fn hash_state(&self, state: &Self::State) -> u64;

    /// A state as a reader would like to see it.
    fn show_state(&self, state: &Self::State) -> String;

    /// An output as a reader would like to see it.
    fn show_output(&self, output: &Self::Output) -> String;

    /// What an operation does to the state, in the terms of [`Footprint`], for the
    /// reductions of operations whose outcome is unknown (docs/linearizability.md,
    /// "Unknown writes"). `None`, the default, means it cannot be said so simply, and turns
    /// the reductions off for the operation's partition; a wrong answer would make the
    /// checker unsound.
    fn footprint(&self, input: &Self::Input, output: Option<&Self::Output>) -> Option<Footprint> {
        let _ = (input, output);
        None
    }

    /// The input with the value it sets (a [`Footprint::Set`], or the target of a
    /// [`Footprint::Maybe`]) replaced by `value`, a number [`Model::state_value`] gave.
    /// `None` (the default) keeps the input as it is.
    fn retarget(&self, input: &Self::Input, value: u64) -> Option<Self::Input> {
        let _ = (input, value);
        None
    }

    /// The number naming a state, as [`Footprint`] names the values it reads and writes
    /// (equal numbers exactly for equal states); `None` turns the reductions off.
    fn state_value(&self, state: &Self::State) -> Option<u64> {
        let _ = state;
        None
    }

    /// A cheap, sound reason why no order of `ops` (one partition, in the form `read` gave)
    /// can work, if there is one: the index of the operation to blame and why.
    fn impossible(&self, _ops: &[Reading<Self>]) -> Option<(usize, String)> {
        None
    }
}

/// What an operation does to a state that is one value, as far as the reductions of unknown
/// operations need to know ([`Model::footprint`]). The values are numbers naming whole
/// states ([`Model::state_value`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Footprint {
    /// Reads this value (its output says so) and changes nothing.
    Observe(u64),
    /// Sets this value whatever the state was (a write).
    Set(u64),
    /// Requires the first value and sets the second (a compare-and-set that swapped).
    Swap(u64, u64),
    /// Sets the second value if the state is the first, else changes nothing (a
    /// compare-and-set of unknown outcome).
    Maybe(u64, u64),
    /// Changes nothing, and requires the state not to be this value (a compare-and-set that
    /// found another value).
    Check(u64),
}

/// Why a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Counterexample {
    /// The key whose operations cannot be ordered (none for an unkeyed model).
    pub key: Option<String>,
    /// The longest order of operations found that the model accepts (indexes into the
    /// history), ending in `state`.
    pub prefix: Vec<usize>,
    /// The model's state after the prefix.
    pub state: String,
    /// Operations that would have to come next, and why each cannot.
    pub stuck: Vec<(usize, String)>,
    /// A reason found before any search, when there is one.
    pub reason: Option<String>,
}

impl Counterexample {
    /// The counterexample in words, naming operations as the history does.
    pub fn explain(&self, ops: &[Op]) -> String {
        let mut s = String::new();
        if let Some(k) = &self.key {
            s.push_str(&format!("key {k:?}: "));
        }
        if let Some(r) = &self.reason {
            s.push_str(r);
            return s;
        }
        s.push_str(&format!(
            "the longest linearizable prefix has {} operation(s)",
            self.prefix.len()
        ));
        let shown = 12;
        if !self.prefix.is_empty() {
            s.push_str(if self.prefix.len() > shown {
                ", ending with:"
            } else {
                ":"
            });
            for &i in self
                .prefix
                .iter()
                .skip(self.prefix.len().saturating_sub(shown))
            {
                s.push_str(&format!("\n    {}", ops[i]));
            }
        }
        s.push_str(&format!(
            "\n  state after it: {}\n  none of these can come next:",
            self.state
        ));
        for (i, why) in &self.stuck {
            s.push_str(&format!("\n    {} : {why}", ops[*i]));
        }
        s
    }
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum LinVerdict {
    /// Some order of the operations, consistent with real time, the model accepts.
    Linearizable,
    /// No such order exists.
    NotLinearizable(Counterexample),
    /// The search ran out of steps (or time) before it could tell; what it learnt.
    Inconclusive(Unfinished),
}

/// Why a search ended without a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The step budget was used up.
    Budget,
    /// The caller's stop (the command line's `--timeout`) said so.
    Timeout,
}

/// What an inconclusive search learnt, for the key it could not finish (the first in key
/// order when several could not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unfinished {
    /// The key whose search did not finish (none for an unkeyed model).
    pub key: Option<String>,
    /// Why it stopped.
    pub reason: StopReason,
    /// Search steps it took on that key.
    pub steps: u64,
    /// The longest order of that key's operations the model accepted (indexes into the
    /// history): a linearizable prefix.
    pub prefix: Vec<usize>,
    /// The model's state after the prefix.
    pub state: String,
    /// The operations still open after the prefix: those that could come next (invoked
    /// before the earliest return among the operations left).
    pub open: Vec<usize>,
    /// How many of that key's operations the search had to place (after the reductions);
    /// the prefix may also hold operations of unknown outcome, which need not be placed.
    pub required: usize,
}

impl Unfinished {
    /// What was learnt, in words.
    pub fn explain(&self, ops: &[Op]) -> String {
        let mut s = String::new();
        if let Some(k) = &self.key {
            s.push_str(&format!("key {k:?}: "));
        }
        s.push_str(&format!(
            "after {} steps, the longest linearizable prefix found has {} operation(s) ({} \
             must be placed in all)",
            self.steps,
            self.prefix.len(),
            self.required
        ));
        if let Some(&last) = self.prefix.last() {
            s.push_str(&format!(", ending with\n    {}", ops[last]));
        }
        s.push_str(&format!(
            "\n  state after it: {}\n  operations still open there ({}):",
            self.state,
            self.open.len()
        ));
        let shown = 12;
        for &i in self.open.iter().take(shown) {
            s.push_str(&format!("\n    {}", ops[i]));
        }
        if self.open.len() > shown {
            s.push_str(&format!("\n    ... and {} more", self.open.len() - shown));
        }
        s
    }
}

/// How long a check may search.
#[derive(Clone, Copy)]
pub struct Limits<'a> {
    /// Search steps allowed per partition.
    pub steps: u64,
    /// Asked every few thousand steps; `true` ends the check as inconclusive
    /// ([`StopReason::Timeout`]). The command line's `--timeout` passes a wall-clock test
    /// here; the library itself never looks at a clock.
    pub stop: Option<&'a dyn Fn() -> bool>,
}

impl Limits<'_> {
    /// A step budget and nothing else.
    pub fn steps(steps: u64) -> Self {
        Limits { steps, stop: None }
    }
}

/// What a check did, besides its verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinStats {
    /// Operations in the history.
    pub ops: usize,
    /// Operations the model ignored (unknown reads, definite failures).
    pub ignored: usize,
    /// Independent partitions searched.
    pub partitions: usize,
    /// Search steps taken (linearization attempts), over all partitions.
    pub steps: u64,
    /// Unknown writes left out before the search because no operation observed their value.
    pub unread_dropped: usize,
    /// Operations given an earlier return before the search, because a completed
    /// operation observed the value only they could have written.
    pub deadlines: usize,
    /// Operations whose written value nobody depends on, given one common value.
    pub merged: usize,
    /// Unknown writes of that common value, tried in call order only.
    pub twins: usize,
    /// Unknown compare-and-sets the search forgets once the value they expect is gone.
    pub mortal: usize,
}

/// The default search budget, in steps.
pub const DEFAULT_BUDGET: u64 = 100_000_000;

/// The models faultline knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// One register: read, write, compare-and-set.
    Register,
    /// A map of string registers, key by key: get, put, append.
    Kv,
    /// A lock: acquire, release.
    Mutex,
    /// A grow-only set: add, read (the whole set).
    Set,
    /// A queue handing out elements in any order: enqueue, dequeue.
    UnorderedQueue,
    /// A first-in first-out queue: enqueue, dequeue.
    FifoQueue,
    /// Registers by key, read and written in transactions: txn.
    MultiRegister,
}

impl ModelKind {
    /// Every name, for messages.
    pub const NAMES: &'static [&'static str] = &[
        "register",
        "kv",
        "mutex",
        "set",
        "unordered-queue",
        "fifo-queue",
        "multi-register",
    ];

    /// The model's name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::Kv => "kv",
            ModelKind::Mutex => "mutex",
            ModelKind::Set => "set",
            ModelKind::UnorderedQueue => "unordered-queue",
            ModelKind::FifoQueue => "fifo-queue",
            ModelKind::MultiRegister => "multi-register",
        }
    }

    /// Looks a model up by name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "register" => Some(ModelKind::Register),
            "kv" => Some(ModelKind::Kv),
            "mutex" => Some(ModelKind::Mutex),
            "set" => Some(ModelKind::Set),
            "unordered-queue" => Some(ModelKind::UnorderedQueue),
            "fifo-queue" => Some(ModelKind::FifoQueue),
            "multi-register" => Some(ModelKind::MultiRegister),
            _ => None,
        }
    }

    /// Whether the model takes an initial value (`--initial`).
    pub fn has_initial(self) -> bool {
        matches!(self, ModelKind::Register | ModelKind::MultiRegister)
    }

    /// The model a history's functions suggest: `read`/`write`/`cas` for a register,
    /// `get`/`put`/`append` for a key-value map, `acquire`/`release` for a mutex, `add` (with
    /// `read`) for a set, `txn` for a multi-register. Queues (`enqueue`/`dequeue`) come in
    /// two kinds and are never guessed.
    pub fn guess(ops: &[Op]) -> Option<Self> {
        let mut reads = false;
        for op in ops {
            match op.f.as_str() {
                "read" => reads = true,
                "write" | "cas" => return Some(ModelKind::Register),
                "get" | "put" | "append" => return Some(ModelKind::Kv),
                "acquire" | "release" => return Some(ModelKind::Mutex),
                "add" => return Some(ModelKind::Set),
                "txn" => return Some(ModelKind::MultiRegister),
                _ => return None,
            }
        }
        reads.then_some(ModelKind::Register)
    }
}

/// Checks a history against a named model with a budget of search steps per partition.
/// `Err` when an operation does not fit the model.
pub fn check(ops: &[Op], model: ModelKind, budget: u64) -> Result<(LinVerdict, LinStats), String> {
    check_from(ops, model, None, budget)
}

/// [`check`], with the value registers start with (nil when `None`; only the register and
/// the multi-register take one).
pub fn check_from(
    ops: &[Op],
    model: ModelKind,
    initial: Option<&Val>,
    budget: u64,
) -> Result<(LinVerdict, LinStats), String> {
    check_limited(ops, model, initial, Limits::steps(budget))
}

/// [`check_from`], with [`Limits`]: a step budget per partition and a way to stop early.
pub fn check_limited(
    ops: &[Op],
    model: ModelKind,
    initial: Option<&Val>,
    budget: Limits<'_>,
) -> Result<(LinVerdict, LinStats), String> {
    if initial.is_some() && !model.has_initial() {
        return Err(format!(
            "the {} model takes no initial value (register and multi-register do)",
            model.name()
        ));
    }
    match model {
        ModelKind::Register => match initial {
            Some(v) => check_with_limits(ops, Register::with_initial(v), budget),
            None => check_with_limits(ops, Register::default(), budget),
        },
        ModelKind::Kv => check_with_limits(ops, Kv::default(), budget),
        ModelKind::Mutex => check_with_limits(ops, Mutex, budget),
        ModelKind::Set => check_with_limits(ops, Set::default(), budget),
        ModelKind::UnorderedQueue => check_with_limits(ops, Queue::unordered(), budget),
        ModelKind::FifoQueue => check_with_limits(ops, Queue::fifo(), budget),
        ModelKind::MultiRegister => match initial {
            Some(v) => check_with_limits(ops, MultiRegister::with_initial(v), budget),
            None => check_with_limits(ops, MultiRegister::default(), budget),
        },
    }
}

/// Checks a history against any model.
pub fn check_with<M: Model>(
    ops: &[Op],
    model: M,
    budget: u64,
) -> Result<(LinVerdict, LinStats), String> {
    check_with_limits(ops, model, Limits::steps(budget))
}

/// [`check_with`], with [`Limits`].
pub fn check_with_limits<M: Model>(
    ops: &[Op],
    mut model: M,
    limits: Limits<'_>,
) -> Result<(LinVerdict, LinStats), String> {
    let budget = limits.steps;
    let never = || false;
    let stop: &dyn Fn() -> bool = limits.stop.unwrap_or(&never);
    let mut stats = LinStats {
        ops: ops.len(),
        ..LinStats::default()
    };
    // Partition by key, keeping the history's order within each part. BTreeMap: the order
    // partitions are searched in (and so which failing key is reported) is the keys' order.
    let mut parts: std::collections::BTreeMap<Option<&str>, Vec<usize>> = Default::default();
    for (i, op) in ops.iter().enumerate() {
        parts.entry(model.partition(op)).or_default().push(i);
    }
    stats.partitions = parts.len();
    // Read every partition first (a malformed operation is an error whatever the verdict).
    let mut prepared = Vec::with_capacity(parts.len());
    for (key, members) in parts {
        let mut part = Vec::with_capacity(members.len());
        for i in members {
            let op = &ops[i];
            let read = model.read(op).map_err(|e| {
                if op.line > 0 {
                    format!("{}: {e}", op.line)
                } else {
                    format!("operation {i} ({op}): {e}")
                }
            })?;
            match read {
                // Read (so a malformed operation is still an error), then left out: it did
                // not happen.
                Some(_) if matches!(op.outcome, Outcome::NotApplied(_)) => stats.ignored += 1,
                Some((input, output)) => {
                    let ret = output.as_ref().map(|_| op.ret.unwrap_or(op.call));
                    part.push(search::Entry {
                        input,
                        output,
                        call: op.call,
                        ret,
                        index: i,
                        twin: false,
                        mortal: None,
                        written: None,
                    });
                }
                None => stats.ignored += 1,
            }
        }
        prepared.push((key.map(str::to_string), part));
    }
    for (key, part) in &prepared {
        let pairs: Vec<_> = part
            .iter()
            .map(|e| (e.input.clone(), e.output.clone()))
            .collect();
        if let Some((blame, why)) = model.impossible(&pairs) {
            let init = model.init();
            return Ok((
                LinVerdict::NotLinearizable(Counterexample {
                    key: key.clone(),
                    prefix: Vec::new(),
                    state: model.show_state(&init),
                    stuck: vec![(part[blame].index, why.clone())],
                    reason: Some(format!("{} : {why}", ops[part[blame].index])),
                }),
                stats,
            ));
        }
    }
    // The reductions of unknown operations (after the pre-check, which sees every
    // operation as the history gave it).
    for (_, part) in &mut prepared {
        let done = reduce::reduce(&mut model, part);
        stats.unread_dropped += done.dropped;
        stats.deadlines += done.deadlines;
        stats.merged += done.merged;
        stats.twins += done.twins;
        stats.mortal += done.mortal;
    }
    // Search the partitions side by side, in slices of steps that double each round, so one
    // hard key cannot hide an easy violation on another. The slices depend on step counts
    // only: the same history always gives the same answer.
    let mut searches: Vec<Option<search::Search<'_, M>>> = prepared
        .iter()
        .map(|(_, part)| Some(search::Search::new(&mut model, part)))
        .collect();
    let mut slice = 10_000u64;
    let mut inconclusive = None;
    while searches.iter().any(Option::is_some) {
        for (k, slot) in searches.iter_mut().enumerate() {
            let Some(s) = slot else { continue };
            let room = budget.saturating_sub(s.steps).min(slice);
            let found = s.advance(&mut model, room, stop);
            let steps = s.steps;
            match found {
                Some(search::Found::Linearizable) => {
                    stats.steps += steps;
                    *slot = None;
                }
                Some(search::Found::Stuck {
                    prefix,
                    state,
                    stuck,
                }) => {
                    stats.steps += steps;
                    let part = &prepared[k].1;
                    return Ok((
                        LinVerdict::NotLinearizable(Counterexample {
                            key: prepared[k].0.clone(),
                            prefix: prefix.iter().map(|&p| part[p].index).collect(),
                            state,
                            stuck: stuck
                                .into_iter()
                                .map(|(p, why)| (part[p].index, why))
                                .collect(),
                            reason: None,
                        }),
                        stats,
                    ));
                }
                None if s.stopped || steps >= budget => {
                    let reason = if s.stopped {
                        StopReason::Timeout
                    } else {
                        StopReason::Budget
                    };
                    stats.steps += steps;
                    let (prefix, state, open) = s.learnt(&mut model);
                    let part = &prepared[k].1;
                    let found = Unfinished {
                        key: prepared[k].0.clone(),
                        reason,
                        steps,
                        prefix: prefix.iter().map(|&p| part[p].index).collect(),
                        state,
                        open: open.iter().map(|&p| part[p].index).collect(),
                        required: part.iter().filter(|e| e.ret.is_some()).count(),
                    };
                    *slot = None;
                    if reason == StopReason::Timeout {
                        // Out of time: every other search stops here too.
                        stats.steps += searches.iter().flatten().map(|s| s.steps).sum::<u64>();
                        return Ok((LinVerdict::Inconclusive(found), stats));
                    }
                    inconclusive.get_or_insert(found);
                }
                None => {}
            }
        }
        slice = slice.saturating_mul(2);
    }
    Ok(match inconclusive {
        Some(found) => (LinVerdict::Inconclusive(found), stats),
        None => (LinVerdict::Linearizable, stats),
    })
}
