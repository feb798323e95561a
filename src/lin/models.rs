//! The built-in models: a register and a key-value map. Both keep their state as a small
//! number naming an interned value, so the search copies, compares and hashes integers.

use super::{Model, Op, Outcome, Reading, Val};
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

/// A register holding one value (initially nil): `read`, `write v`, `cas [from to]`.
/// A failed compare-and-set is an observed result: the value was not `from` at that moment.
#[derive(Default)]
pub struct Register {
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
        let nil = self.values.id(&Val::Nil);
        self.mark_writable(nil);
        match op.f.as_str() {
            "read" => match &op.outcome {
                Outcome::Ok(v) => {
                    let id = self.values.id(v);
                    Ok(Some((RegisterInput::Read, Some(RegisterOutput::Value(id)))))
                }
                // A read that failed or timed out tells nothing.
                Outcome::Fail(_) | Outcome::Unknown => Ok(None),
            },
            "write" => {
                let id = self.values.id(&op.value);
                self.mark_writable(id);
                match op.outcome {
                    Outcome::Ok(_) => {
                        Ok(Some((RegisterInput::Write(id), Some(RegisterOutput::Done))))
                    }
                    Outcome::Unknown => Ok(Some((RegisterInput::Write(id), None))),
                    Outcome::Fail(_) => Ok(None),
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
                Ok(Some(match op.outcome {
                    Outcome::Ok(_) => (input, Some(RegisterOutput::Swapped(true))),
                    Outcome::Fail(_) => (input, Some(RegisterOutput::Swapped(false))),
                    Outcome::Unknown => (input, None),
                }))
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
        self.values.id(&Val::Nil)
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
            Outcome::Fail(_) => return Ok(None), // it did not take effect
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
