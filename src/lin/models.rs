//! The built-in models: a register and a key-value map. Both keep their state as a small
//! number naming an interned value, so the search copies, compares and hashes integers.

use super::{Footprint, Model, Op, Outcome, Reading, Val};
use std::collections::BTreeMap;

/// Interned values: equal values get equal numbers.
struct Interner<T: Ord + Clone> {
    values: Vec<T>,
    ids: BTreeMap<T, u32>,
}

impl<T: Ord + Clone> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            values: Vec::new(),
            ids: BTreeMap::new(),
        }
    }
}

impl<T: Ord + Clone> Interner<T> {
    fn id(&mut self, v: &T) -> u32 {
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(v.clone());
        self.ids.insert(v.clone(), id);
        id
    }

    fn get(&self, id: u32) -> &T {
        &self.values[id as usize]
    }
}

/// A register holding one value (initially nil, or the value given to
/// [`Register::with_initial`]): `read`, `write v`, `cas [from to]`. A failed compare-and-set
/// ([`Outcome::Fail`]) is an observed result: the value was not `from` at that moment; one
/// that did not happen ([`Outcome::NotApplied`]) constrains nothing.
#[derive(Default)]
pub struct Register {
    initial: Option<Val>,
    values: Interner<Val>,
    /// Values some operation could have put there (written, or the target of a cas), plus nil.
    writable: Vec<bool>,
}

/// A register operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterInput {
    /// Read the value.
    Read,
    /// Overwrite it.
    Write(u32),
    /// If it is `.0`, make it `.1`.
    Cas(u32, u32),
}

/// What a register operation returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOutput {
    /// The value read.
    Value(u32),
    /// A write's acknowledgement.
    Done,
    /// Whether a compare-and-set matched.
    Swapped(bool),
}

impl Register {
    fn mark_writable(&mut self, id: u32) {
        if self.writable.len() <= id as usize {
            self.writable.resize(id as usize + 1, false);
        }
        self.writable[id as usize] = true;
    }
}

impl Model for Register {
    type State = u32;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn name(&self) -> &'static str {
        "register"
    }

    fn read(&mut self, op: &Op) -> Result<Option<Reading<Self>>, String> {
        let first = self.initial.clone().unwrap_or(Val::Nil);
        let first = self.values.id(&first);
        self.mark_writable(first);
        match op.f.as_str() {
            "read" => match &op.outcome {
                Outcome::Ok(v) => {
                    let id = self.values.id(v);
                    Ok(Some((RegisterInput::Read, Some(RegisterOutput::Value(id)))))
                }
                // A read that failed or timed out tells nothing.
                Outcome::Fail(_) | Outcome::NotApplied(_) | Outcome::Unknown => Ok(None),
            },
            "write" => {
                let id = self.values.id(&op.value);
                self.mark_writable(id);
                match op.outcome {
                    Outcome::Ok(_) => {
                        Ok(Some((RegisterInput::Write(id), Some(RegisterOutput::Done))))
                    }
                    Outcome::Unknown => Ok(Some((RegisterInput::Write(id), None))),
                    Outcome::Fail(_) | Outcome::NotApplied(_) => Ok(None),
                }
            }
            "cas" => {
                let Val::List(pair) = &op.value else {
                    return Err(format!("a cas takes [from to], not {}", op.value));
                };
                let [from, to] = pair.as_slice() else {
                    return Err(format!("a cas takes [from to], not {}", op.value));
                };
                let (from, to) = (self.values.id(from), self.values.id(to));
                self.mark_writable(to);
                let input = RegisterInput::Cas(from, to);
                Ok(match op.outcome {
                    Outcome::Ok(_) => Some((input, Some(RegisterOutput::Swapped(true)))),
                    // An observed mismatch: the value was not `from` at that moment.
                    Outcome::Fail(_) => Some((input, Some(RegisterOutput::Swapped(false)))),
                    // Jepsen's meaning: it did not happen, and constrains nothing.
                    Outcome::NotApplied(_) => None,
                    Outcome::Unknown => Some((input, None)),
                })
            }
            other => Err(format!(
                "the register model knows read, write and cas, not {other:?}"
            )),
        }
    }

    fn partition<'a>(&self, _op: &'a Op) -> Option<&'a str> {
        None
    }

    fn init(&mut self) -> u32 {
        let first = self.initial.clone().unwrap_or(Val::Nil);
        self.values.id(&first)
    }

    fn step(&mut self, state: &u32, input: &RegisterInput) -> (u32, RegisterOutput) {
        match *input {
            RegisterInput::Read => (*state, RegisterOutput::Value(*state)),
            RegisterInput::Write(v) => (v, RegisterOutput::Done),
            RegisterInput::Cas(from, to) if from == *state => (to, RegisterOutput::Swapped(true)),
            RegisterInput::Cas(..) => (*state, RegisterOutput::Swapped(false)),
        }
    }

    fn hash_state(&self, state: &u32) -> u64 {
        u64::from(*state)
    }

    fn is_read_only(&self, input: &RegisterInput) -> bool {
        *input == RegisterInput::Read
    }

    fn footprint(
        &self,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Option<Footprint> {
        Some(match (*input, output) {
            (RegisterInput::Read, Some(RegisterOutput::Value(v))) => {
                Footprint::Observe(u64::from(*v))
            }
            // A read always has its output (unknown reads are left out); be safe if not.
            (RegisterInput::Read, _) => return None,
            (RegisterInput::Write(v), _) => Footprint::Set(v.into()),
            (RegisterInput::Cas(from, to), Some(RegisterOutput::Swapped(true))) => {
                Footprint::Swap(from.into(), to.into())
            }
            (RegisterInput::Cas(from, _), Some(_)) => Footprint::Check(from.into()),
            (RegisterInput::Cas(from, to), None) => Footprint::Maybe(from.into(), to.into()),
        })
    }

    fn retarget(&self, input: &RegisterInput, value: u64) -> Option<RegisterInput> {
        let v = u32::try_from(value).ok()?;
        match *input {
            RegisterInput::Read => None,
            RegisterInput::Write(_) => Some(RegisterInput::Write(v)),
            RegisterInput::Cas(from, _) => Some(RegisterInput::Cas(from, v)),
        }
    }

    fn state_value(&self, state: &u32) -> Option<u64> {
        Some((*state).into())
    }

    fn show_state(&self, state: &u32) -> String {
        format!("value {}", self.values.get(*state))
    }

    fn show_output(&self, output: &RegisterOutput) -> String {
        match output {
            RegisterOutput::Value(v) => format!("{}", self.values.get(*v)),
            RegisterOutput::Done => "ok".into(),
            RegisterOutput::Swapped(true) => "ok (swapped)".into(),
            RegisterOutput::Swapped(false) => "fail (no match)".into(),
        }
    }

    fn impossible(
        &self,
        ops: &[(RegisterInput, Option<RegisterOutput>)],
    ) -> Option<(usize, String)> {
        ops.iter()
            .position(|(_, out)| match out {
                Some(RegisterOutput::Value(v)) => {
                    !self.writable.get(*v as usize).copied().unwrap_or(false)
                }
                _ => false,
            })
            .map(|i| (i, "it read a value no operation ever wrote".to_string()))
    }
}

/// A map from keys to strings, checked key by key: `get` (a missing key reads as the empty
/// string), `put v`, `append v`.
#[derive(Default)]
pub struct Kv {
    texts: Texts,
}

/// Strings as the key-value model builds them: a value is a node, either a literal or a node
/// plus an appended piece. Nodes are canonical by content (equal strings, equal node numbers,
/// checked character by character when length and hash agree), so comparing and hashing
/// states is comparing numbers, and an append allocates nothing once seen.
#[derive(Default)]
struct Texts {
    pieces: Interner<String>,
    /// Per piece: its length, content hash and `BASE^length`.
    piece_info: Vec<(u64, u64, u64)>,
    /// Per piece: the node of that literal string, once made.
    literal: Vec<Option<u32>>,
    nodes: Vec<TextNode>,
    /// Appends already made, as lists per node: (piece, result, next edge of the same node).
    /// The search tries few pieces from any one state, so a short walk beats a big table.
    edges: Vec<(u32, u32, Option<u32>)>,
    /// Per node: its newest edge.
    first_edge: Vec<Option<u32>>,
    /// A mix of (length, content hash) -> the newest node with it (older ones via `same`).
    by_content: U64Map,
}

#[derive(Clone, Copy)]
struct TextNode {
    /// The node this one extends, or none for a literal.
    parent: Option<u32>,
    piece: u32,
    len: u64,
    hash: u64,
    /// The next older node under the same `by_content` key.
    same: Option<u32>,
}

/// A map from u64 to u32 by open addressing, for lookups only (never iterated).
struct U64Map {
    keys: Vec<u64>,
    values: Vec<u32>,
    used: Vec<bool>,
    len: usize,
}

impl Default for U64Map {
    fn default() -> Self {
        U64Map {
            keys: vec![0; 256],
            values: vec![0; 256],
            used: vec![false; 256],
            len: 0,
        }
    }
}

impl U64Map {
    fn slot(&self, key: u64) -> usize {
        let mask = self.keys.len() - 1;
        let mut i = super::search::mix(key) as usize & mask;
        while self.used[i] && self.keys[i] != key {
            i = (i + 1) & mask;
        }
        i
    }

    fn get(&self, key: u64) -> Option<u32> {
        let i = self.slot(key);
        self.used[i].then(|| self.values[i])
    }

    fn insert(&mut self, key: u64, value: u32) {
        let i = self.slot(key);
        if !self.used[i] {
            self.used[i] = true;
            self.keys[i] = key;
            self.len += 1;
        }
        self.values[i] = value;
        if self.len * 2 > self.keys.len() {
            let size = self.keys.len() * 2;
            let old = std::mem::replace(
                self,
                U64Map {
                    keys: vec![0; size],
                    values: vec![0; size],
                    used: vec![false; size],
                    len: 0,
                },
            );
            for j in 0..old.keys.len() {
                if old.used[j] {
                    self.insert(old.keys[j], old.values[j]);
                }
            }
        }
    }
}

const BASE: u64 = 0x100_0000_01B3;

impl Texts {
    fn piece(&mut self, s: &str) -> u32 {
        let id = self.pieces.id(&s.to_string());
        if self.piece_info.len() <= id as usize {
            let mut hash = 0u64;
            let mut pow = 1u64;
            for b in s.bytes() {
                hash = hash.wrapping_mul(BASE).wrapping_add(u64::from(b) + 1);
                pow = pow.wrapping_mul(BASE);
            }
            self.piece_info.push((s.len() as u64, hash, pow));
            self.literal.push(None);
        }
        id
    }

    fn literal(&mut self, piece: u32) -> u32 {
        if let Some(n) = self.literal[piece as usize] {
            return n;
        }
        let (len, hash, _) = self.piece_info[piece as usize];
        let n = self.canonical(TextNode {
            parent: None,
            piece,
            len,
            hash,
            same: None,
        });
        self.literal[piece as usize] = Some(n);
        n
    }

    fn append(&mut self, node: u32, piece: u32) -> u32 {
        let mut e = self.first_edge[node as usize];
        while let Some(i) = e {
            let (p, child, next) = self.edges[i as usize];
            if p == piece {
                return child;
            }
            e = next;
        }
        let base = self.nodes[node as usize];
        let (len, hash, pow) = self.piece_info[piece as usize];
        let n = self.canonical(TextNode {
            parent: Some(node),
            piece,
            len: base.len + len,
            hash: base.hash.wrapping_mul(pow).wrapping_add(hash),
            same: None,
        });
        self.edges.push((piece, n, self.first_edge[node as usize]));
        self.first_edge[node as usize] = Some(self.edges.len() as u32 - 1);
        n
    }

    /// The existing node with the same content, or this one added.
    fn canonical(&mut self, mut node: TextNode) -> u32 {
        let key = node.hash ^ node.len.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let newest = self.by_content.get(key);
        let mut candidate = newest;
        if candidate.is_some() {
            let mut mine = self.pieces.get(node.piece).clone();
            if let Some(p) = node.parent {
                mine.insert_str(0, &self.text(p));
            }
            while let Some(c) = candidate {
                let other = self.nodes[c as usize];
                if other.len == node.len && other.hash == node.hash && self.text(c) == mine {
                    return c;
                }
                candidate = other.same;
            }
        }
        let id = self.nodes.len() as u32;
        node.same = newest;
        self.nodes.push(node);
        self.first_edge.push(None);
        self.by_content.insert(key, id);
        id
    }

    fn text(&self, mut node: u32) -> String {
        let mut parts = Vec::new();
        loop {
            let n = self.nodes[node as usize];
            parts.push(self.pieces.get(n.piece).as_str());
            match n.parent {
                Some(p) => node = p,
                None => break,
            }
        }
        parts.reverse();
        parts.concat()
    }
}

/// A key-value operation on one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvInput {
    /// Read the value.
    Get,
    /// Overwrite it with a value (a text node).
    Put(u32),
    /// Append a piece to it.
    Append(u32),
}

/// What a key-value operation returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvOutput {
    /// The value read (a text node).
    Value(u32),
    /// A put's or append's acknowledgement.
    Done,
}

fn text(v: &Val) -> Result<String, String> {
    match v {
        Val::Nil => Ok(String::new()),
        Val::Str(s) => Ok(s.clone()),
        Val::Int(i) => Ok(i.to_string()),
        Val::List(_) => Err(format!("expected a string, not {v}")),
    }
}

impl Model for Kv {
    type State = u32;
    type Input = KvInput;
    type Output = KvOutput;

    fn name(&self) -> &'static str {
        "kv"
    }

    fn read(&mut self, op: &Op) -> Result<Option<Reading<Self>>, String> {
        if op.key.is_none() {
            return Err("a key-value operation needs a key".into());
        }
        let known = match &op.outcome {
            Outcome::Ok(_) => true,
            Outcome::Unknown => false,
            // It did not take effect.
            Outcome::Fail(_) | Outcome::NotApplied(_) => return Ok(None),
        };
        let input = match op.f.as_str() {
            "get" => {
                let Outcome::Ok(v) = &op.outcome else {
                    return Ok(None); // an unknown read tells nothing
                };
                let piece = self.texts.piece(&text(v)?);
                let node = self.texts.literal(piece);
                return Ok(Some((KvInput::Get, Some(KvOutput::Value(node)))));
            }
            "put" => {
                let piece = self.texts.piece(&text(&op.value)?);
                KvInput::Put(self.texts.literal(piece))
            }
            "append" => KvInput::Append(self.texts.piece(&text(&op.value)?)),
            other => {
                return Err(format!(
                    "the kv model knows get, put and append, not {other:?}"
                ));
            }
        };
        Ok(Some((input, known.then_some(KvOutput::Done))))
    }

    fn init(&mut self) -> u32 {
        let empty = self.texts.piece("");
        self.texts.literal(empty)
    }

    fn step(&mut self, state: &u32, input: &KvInput) -> (u32, KvOutput) {
        match *input {
            KvInput::Get => (*state, KvOutput::Value(*state)),
            KvInput::Put(v) => (v, KvOutput::Done),
            KvInput::Append(piece) => (self.texts.append(*state, piece), KvOutput::Done),
        }
    }

    fn hash_state(&self, state: &u32) -> u64 {
        u64::from(*state)
    }

    fn is_read_only(&self, input: &KvInput) -> bool {
        *input == KvInput::Get
    }

    fn footprint(&self, input: &KvInput, output: Option<&KvOutput>) -> Option<Footprint> {
        match (*input, output) {
            (KvInput::Get, Some(KvOutput::Value(v))) => Some(Footprint::Observe(u64::from(*v))),
            (KvInput::Put(v), _) => Some(Footprint::Set(v.into())),
            // An append makes values no single operation wrote: no reductions.
            _ => None,
        }
    }

    fn retarget(&self, input: &KvInput, value: u64) -> Option<KvInput> {
        match *input {
            KvInput::Put(_) => Some(KvInput::Put(u32::try_from(value).ok()?)),
            _ => None,
        }
    }

    fn state_value(&self, state: &u32) -> Option<u64> {
        Some((*state).into())
    }

    fn show_state(&self, state: &u32) -> String {
        format!("value {:?}", self.texts.text(*state))
    }

    fn show_output(&self, output: &KvOutput) -> String {
        match output {
            KvOutput::Value(v) => format!("{:?}", self.texts.text(*v)),
            KvOutput::Done => "ok".into(),
        }
    }
}

/// The register's starting value, as the command line gives it (`--initial`).
impl Register {
    /// A register that starts with `initial` instead of nil.
    pub fn with_initial(initial: &Val) -> Self {
        Register {
            initial: Some(initial.clone()),
            ..Register::default()
        }
    }
}

/// A 64-bit hash of a list of small numbers (for the search's cache).
fn hash_ids(ids: impl IntoIterator<Item = u32>) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3u64;
    for id in ids {
        h = super::search::mix(h ^ u64::from(id));
    }
    h
}

fn show_ids(values: &Interner<Val>, ids: &[u32]) -> String {
    let shown: Vec<String> = ids.iter().map(|&i| values.get(i).to_string()).collect();
    format!("[{}]", shown.join(" "))
}

/// Whether an operation's outcome is known (`Some(true)`), unknown (`Some(false)`), or it
/// did not take effect (`None`).
fn known(op: &Op) -> Option<bool> {
    match op.outcome {
        Outcome::Ok(_) => Some(true),
        Outcome::Unknown => Some(false),
        Outcome::Fail(_) | Outcome::NotApplied(_) => None,
    }
}

/// A lock: `acquire` succeeds only when it is free, `release` only when it is held (by
/// anyone: the model does not track owners, as Jepsen's does not). A failed acquire or
/// release did not take effect.
#[derive(Default)]
pub struct Mutex;

/// A lock operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MutexInput {
    /// Take the lock.
    Acquire,
    /// Give it back.
    Release,
}

impl Model for Mutex {
    /// Whether the lock is held.
    type State = bool;
    type Input = MutexInput;
    /// Whether the operation was allowed.
    type Output = bool;

    fn name(&self) -> &'static str {
        "mutex"
    }

    fn read(&mut self, op: &Op) -> Result<Option<Reading<Self>>, String> {
        let input = match op.f.as_str() {
            "acquire" => MutexInput::Acquire,
            "release" => MutexInput::Release,
            other => {
                return Err(format!(
                    "the mutex model knows acquire and release, not {other:?}"
                ));
            }
        };
        Ok(known(op).map(|k| (input, k.then_some(true))))
    }

    fn partition<'a>(&self, _op: &'a Op) -> Option<&'a str> {
        None
    }

    fn init(&mut self) -> bool {
        false
    }

    fn step(&mut self, held: &bool, input: &MutexInput) -> (bool, bool) {
        match (input, *held) {
            (MutexInput::Acquire, false) => (true, true),
            (MutexInput::Release, true) => (false, true),
            _ => (*held, false),
        }
    }

    fn hash_state(&self, held: &bool) -> u64 {
        u64::from(*held)
    }

    fn show_state(&self, held: &bool) -> String {
        if *held { "held" } else { "free" }.to_string()
    }

    fn show_output(&self, allowed: &bool) -> String {
        if *allowed { "ok" } else { "refused" }.to_string()
    }
}

/// A grow-only set: `add v`, and `read`, which returns the whole set (a list or an EDN set,
/// in any order). A failed add did not take effect.
#[derive(Default)]
pub struct Set {
    values: Interner<Val>,
}

/// A set operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetInput {
    /// Add an element.
    Add(u32),
    /// Read the whole set.
    Read,
}

/// What a set operation returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetOutput {
    /// An add's acknowledgement.
    Done,
    /// The elements read, sorted by number.
    Elements(Vec<u32>),
}

impl Model for Set {
    /// The elements, sorted by number.
    type State = Vec<u32>;
    type Input = SetInput;
    type Output = SetOutput;

    fn name(&self) -> &'static str {
        "set"
    }

    fn read(&mut self, op: &Op) -> Result<Option<Reading<Self>>, String> {
        match op.f.as_str() {
            "add" => {
                let id = self.values.id(&op.value);
                Ok(known(op).map(|k| (SetInput::Add(id), k.then_some(SetOutput::Done))))
            }
            "read" => {
                let Outcome::Ok(v) = &op.outcome else {
                    return Ok(None); // a read that failed or timed out tells nothing
                };
                let items = match v {
                    Val::List(items) => items,
                    Val::Nil => &Vec::new(),
                    other => return Err(format!("a set read returns a list, not {other}")),
                };
                let mut ids: Vec<u32> = items.iter().map(|x| self.values.id(x)).collect();
                ids.sort_unstable();
                ids.dedup();
                Ok(Some((SetInput::Read, Some(SetOutput::Elements(ids)))))
            }
            other => Err(format!("the set model knows add and read, not {other:?}")),
        }
    }

    fn partition<'a>(&self, _op: &'a Op) -> Option<&'a str> {
        None
    }

    fn init(&mut self) -> Vec<u32> {
        Vec::new()
    }

    fn step(&mut self, state: &Vec<u32>, input: &SetInput) -> (Vec<u32>, SetOutput) {
        match *input {
            SetInput::Read => (state.clone(), SetOutput::Elements(state.clone())),
            SetInput::Add(x) => {
                let mut next = state.clone();
                if let Err(at) = next.binary_search(&x) {
                    next.insert(at, x);
                }
                (next, SetOutput::Done)
            }
        }
    }

    fn is_read_only(&self, input: &SetInput) -> bool {
        *input == SetInput::Read
    }

    fn hash_state(&self, state: &Vec<u32>) -> u64 {
        hash_ids(state.iter().copied())
    }

    fn show_state(&self, state: &Vec<u32>) -> String {
        format!("set {}", show_ids(&self.values, state))
    }

    fn show_output(&self, output: &SetOutput) -> String {
        match output {
            SetOutput::Done => "ok".into(),
            SetOutput::Elements(ids) => show_ids(&self.values, ids),
        }
    }
}

/// A queue: `enqueue v`, and `dequeue`, whose completion carries the value taken (nil: the
/// queue was empty). FIFO takes the oldest element; unordered takes any one. A failed
/// enqueue or dequeue did not take effect.
pub struct Queue {
    fifo: bool,
    values: Interner<Val>,
}

impl Queue {
    /// A first-in first-out queue.
    pub fn fifo() -> Self {
        Queue {
            fifo: true,
            values: Interner::default(),
        }
    }

    /// A queue that may hand out its elements in any order (a multiset).
    pub fn unordered() -> Self {
        Queue {
            fifo: false,
            values: Interner::default(),
        }
    }
}

/// A queue operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueInput {
    /// Add an element.
    Enqueue(u32),
    /// FIFO: take the oldest element.
    Dequeue,
    /// Unordered: take this element (the value the dequeue returned; nil: find it empty).
    Take(u32),
}

/// What a queue operation returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueOutput {
    /// An enqueue's acknowledgement, or (unordered) a take that was possible.
    Done,
    /// (Unordered) a take of an element that is not there.
    Missing,
    /// (FIFO) the value taken, nil if the queue was empty.
    Value(u32),
}

impl Model for Queue {
    /// The elements: in order for FIFO, sorted by number (a multiset) for unordered.
    type State = Vec<u32>;
    type Input = QueueInput;
    type Output = QueueOutput;

    fn name(&self) -> &'static str {
        if self.fifo {
            "fifo-queue"
        } else {
            "unordered-queue"
        }
    }

    fn read(&mut self, op: &Op) -> Result<Option<Reading<Self>>, String> {
        match op.f.as_str() {
            "enqueue" => {
                if op.value == Val::Nil {
                    return Err("an enqueue needs a value (nil stands for an empty queue)".into());
                }
                let id = self.values.id(&op.value);
                Ok(known(op).map(|k| (QueueInput::Enqueue(id), k.then_some(QueueOutput::Done))))
            }
            "dequeue" => match (&op.outcome, self.fifo) {
                (Outcome::Ok(v), true) => {
                    let id = self.values.id(v);
                    Ok(Some((QueueInput::Dequeue, Some(QueueOutput::Value(id)))))
                }
                (Outcome::Ok(v), false) => {
                    let id = self.values.id(v);
                    Ok(Some((QueueInput::Take(id), Some(QueueOutput::Done))))
                }
                // FIFO is deterministic: an unknown dequeue took the head, if it happened.
                (Outcome::Unknown, true) => Ok(Some((QueueInput::Dequeue, None))),
                // Which element an unknown unordered dequeue took cannot be known, and
                // leaving it out could blame a correct history (a later dequeue finding
                // the queue empty): refuse rather than guess.
                (Outcome::Unknown, false) => Err(
                    "the unordered-queue model cannot check a dequeue whose outcome is unknown \
                     (it may have taken any element); the fifo-queue model can"
                        .into(),
                ),
                (Outcome::Fail(_) | Outcome::NotApplied(_), _) => Ok(None),
            },
            other => Err(format!(
                "the {} model knows enqueue and dequeue, not {other:?}",
                self.name()
            )),
        }
    }

    fn partition<'a>(&self, _op: &'a Op) -> Option<&'a str> {
        None
    }

    fn init(&mut self) -> Vec<u32> {
        Vec::new()
    }

    fn step(&mut self, state: &Vec<u32>, input: &QueueInput) -> (Vec<u32>, QueueOutput) {
        let nil = self.values.id(&Val::Nil);
        match *input {
            QueueInput::Enqueue(x) => {
                let mut next = state.clone();
                if self.fifo {
                    next.push(x);
                } else {
                    let at = next.partition_point(|&y| y <= x);
                    next.insert(at, x);
                }
                (next, QueueOutput::Done)
            }
            QueueInput::Dequeue => match state.first() {
                Some(&head) => (state[1..].to_vec(), QueueOutput::Value(head)),
                None => (Vec::new(), QueueOutput::Value(nil)),
            },
            QueueInput::Take(x) if x == nil => {
                let out = if state.is_empty() {
                    QueueOutput::Done
                } else {
                    QueueOutput::Missing
                };
                (state.clone(), out)
            }
            QueueInput::Take(x) => match state.binary_search(&x) {
                Ok(at) => {
                    let mut next = state.clone();
                    next.remove(at);
                    (next, QueueOutput::Done)
                }
                Err(_) => (state.clone(), QueueOutput::Missing),
            },
        }
    }

    fn is_read_only(&self, input: &QueueInput) -> bool {
        // Only a take of nil (finding the queue empty) never changes the state.
        matches!(*input, QueueInput::Take(x) if self.values.values.get(x as usize) == Some(&Val::Nil))
    }

    fn hash_state(&self, state: &Vec<u32>) -> u64 {
        hash_ids(state.iter().copied())
    }

    fn show_state(&self, state: &Vec<u32>) -> String {
        format!("queue {}", show_ids(&self.values, state))
    }

    fn show_output(&self, output: &QueueOutput) -> String {
        match output {
            QueueOutput::Done => "ok".into(),
            QueueOutput::Missing => "not in the queue".into(),
            QueueOutput::Value(v) => self.values.get(*v).to_string(),
        }
    }
}

/// Registers by key, read and written in transactions (Jepsen's multi-register): `txn` with
/// the value `[[:r k nil] [:w k v] ...]` at invocation and the values read filled in at
/// completion (`[[:r k 3] [:w k v]]`). Every key starts at the initial value (nil unless
/// given). A failed transaction did not take effect.
#[derive(Default)]
pub struct MultiRegister {
    values: Interner<Val>,
    keys: Interner<Val>,
    initial: Option<Val>,
    /// The initial value's number, set by `init`.
    initial_id: u32,
}

impl MultiRegister {
    /// Registers that start with `initial` instead of nil.
    pub fn with_initial(initial: &Val) -> Self {
        MultiRegister {
            initial: Some(initial.clone()),
            ..MultiRegister::default()
        }
    }
}

/// One step of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Micro {
    /// Read a key.
    Read(u32),
    /// Write a value to a key.
    Write(u32, u32),
}

/// The micro-operations `[[:r k v] [:w k v]]` of a transaction value: (is a write, key,
/// value).
fn micro_ops(v: &Val) -> Result<Vec<(bool, &Val, &Val)>, String> {
    let shape = || format!("a txn takes [[:r k v] [:w k v] ...], not {v}");
    let Val::List(items) = v else {
        return Err(shape());
    };
    items
        .iter()
        .map(|m| match m {
            Val::List(p) if p.len() == 3 => match &p[0] {
                Val::Str(f) if f == ":r" || f == "r" => Ok((false, &p[1], &p[2])),
                Val::Str(f) if f == ":w" || f == "w" => Ok((true, &p[1], &p[2])),
                _ => Err(shape()),
            },
            _ => Err(shape()),
        })
        .collect()
}

impl Model for MultiRegister {
    /// (key, value) for every key whose value is not the initial one, sorted by key.
    type State = Vec<(u32, u32)>;
    type Input = Vec<Micro>;
    /// The values read, in order.
    type Output = Vec<u32>;

    fn name(&self) -> &'static str {
        "multi-register"
    }

    fn read(&mut self, op: &Op) -> Result<Option<Reading<Self>>, String> {
        if op.f != "txn" {
            return Err(format!(
                "the multi-register model knows txn, not {:?}",
                op.f
            ));
        }
        let called = micro_ops(&op.value)?;
        let mut input = Vec::with_capacity(called.len());
        for &(write, k, v) in &called {
            let key = self.keys.id(k);
            input.push(if write {
                Micro::Write(key, self.values.id(v))
            } else {
                Micro::Read(key)
            });
        }
        let output = match &op.outcome {
            Outcome::Ok(done) => {
                let done = micro_ops(done)?;
                if done.len() != called.len()
                    || done
                        .iter()
                        .zip(&called)
                        .any(|(a, b)| a.0 != b.0 || a.1 != b.1)
                {
                    return Err(format!(
                        "the completion {} does not match the invocation's reads and writes {}",
                        match &op.outcome {
                            Outcome::Ok(v) => v.to_string(),
                            _ => String::new(),
                        },
                        op.value
                    ));
                }
                let reads: Vec<u32> = done
                    .iter()
                    .filter(|m| !m.0)
                    .map(|m| self.values.id(m.2))
                    .collect();
                Some(reads)
            }
            Outcome::Unknown => None,
            Outcome::Fail(_) | Outcome::NotApplied(_) => return Ok(None),
        };
        Ok(Some((input, output)))
    }

    fn partition<'a>(&self, _op: &'a Op) -> Option<&'a str> {
        None
    }

    fn init(&mut self) -> Vec<(u32, u32)> {
        // Interned first so `step` can name the initial value.
        let initial = self.initial.clone().unwrap_or(Val::Nil);
        self.initial_id = self.values.id(&initial);
        Vec::new()
    }

    fn step(&mut self, state: &Vec<(u32, u32)>, input: &Vec<Micro>) -> (Vec<(u32, u32)>, Vec<u32>) {
        let initial = self.initial_id;
        let mut next = state.clone();
        let mut reads = Vec::new();
        for m in input {
            match *m {
                Micro::Read(k) => reads.push(match next.binary_search_by_key(&k, |e| e.0) {
                    Ok(at) => next[at].1,
                    Err(_) => initial,
                }),
                Micro::Write(k, v) => match next.binary_search_by_key(&k, |e| e.0) {
                    Ok(at) if v == initial => {
                        next.remove(at);
                    }
                    Ok(at) => next[at].1 = v,
                    Err(_) if v == initial => {}
                    Err(at) => next.insert(at, (k, v)),
                },
            }
        }
        (next, reads)
    }

    fn is_read_only(&self, input: &Vec<Micro>) -> bool {
        input.iter().all(|m| matches!(m, Micro::Read(_)))
    }

    fn hash_state(&self, state: &Vec<(u32, u32)>) -> u64 {
        hash_ids(state.iter().flat_map(|&(k, v)| [k, v]))
    }

    fn show_state(&self, state: &Vec<(u32, u32)>) -> String {
        let shown: Vec<String> = state
            .iter()
            .map(|&(k, v)| format!("{} {}", self.keys.get(k), self.values.get(v)))
            .collect();
        format!("{{{}}} (other keys initial)", shown.join(", "))
    }

    fn show_output(&self, output: &Vec<u32>) -> String {
        format!("reads {}", show_ids(&self.values, output))
    }
}
