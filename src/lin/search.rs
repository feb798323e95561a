//! The search: Wing and Gong's backtracking over the history's call and return events, with
//! Lowe's cache of (operations linearized, state) configurations already explored.
//!
//! Events sit in a doubly linked list in time order (calls before returns at equal times, so
//! operations that touch in time count as concurrent, which can only make the answer more
//! forgiving, never wrong). Walking the list from the head, a call is an operation that may
//! take effect now: if the model accepts it and the configuration it leads to is new, the
//! operation is taken out of the list (its call and its return), pushed on a stack, and the
//! walk starts over. Reaching a return means that operation had to take effect before
//! anything later and none of the choices so far allowed it: undo the last choice and try
//! the next call after it. Operations with unknown outcome return at the very end, so
//! reaching one of their returns means every completed operation is placed: success (the
//! unknown ones left over simply never took effect).

use super::Model;

/// One operation of a partition, as the model reads it.
pub(super) struct Entry<I, O> {
    pub input: I,
    /// `None`: unknown outcome.
    pub output: Option<O>,
    pub call: u64,
    /// `None`: never returned (unknown outcome).
    pub ret: Option<u64>,
    /// Index into the whole history.
    pub index: usize,
    /// One of a class of interchangeable unknown writes (see `reduce`): the search places
    /// them in call order only.
    pub twin: bool,
    /// For an operation of unknown outcome that can only take effect when the state is one
    /// value `x` that exactly one operation `w` sets (a compare-and-set from `x`):
    /// `Some((w, x))`. Once `w` is placed and the state is no longer `x`, it can never take
    /// effect, and the search's cache counts it as placed.
    pub mortal: Option<(usize, u64)>,
    /// The input as the history wrote it, when the reductions gave the search a stand-in
    /// value instead: the counterexample replays this one, so it shows the history's values.
    pub written: Option<I>,
}

impl<I, O> Entry<I, O> {
    /// The input as the history wrote it.
    fn as_written(&self) -> &I {
        self.written.as_ref().unwrap_or(&self.input)
    }
}

pub(super) enum Found {
    Linearizable,
    Stuck {
        /// Partition indexes, in the order the model accepted them.
        prefix: Vec<usize>,
        state: String,
        stuck: Vec<(usize, String)>,
    },
}

/// A 64-bit mix (SplitMix64's finalizer): gives each operation a random-looking word whose
/// XOR over a set is that set's hash.
pub(super) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The set of configurations seen: open addressing on a hash of (set, state), each slot
/// holding the full hash (so most probes settle on one cache line) and the entry's number;
/// the sets are kept as bit words in one arena. Only membership is ever asked, so nothing
/// depends on the layout.
struct Seen<S> {
    words: usize,
    bits: Vec<u64>,
    states: Vec<S>,
    /// Per entry: the fewest twins placed it was reached with.
    twins: Vec<u32>,
    /// (the hash's high half, entry number + 1); 0 marks an empty slot. Eight bytes a slot:
    /// the probe is one cache miss into a table as small as it can be.
    table: Vec<(u32, u32)>,
    /// The full hash of each entry, for growing the table.
    hashes: Vec<u64>,
    len: usize,
}

impl<S: Eq + Clone> Seen<S> {
    fn new(words: usize) -> Self {
        Seen {
            words,
            bits: Vec::new(),
            states: Vec::new(),
            twins: Vec::new(),
            table: vec![(0, 0); 1 << 12],
            hashes: Vec::new(),
            len: 0,
        }
    }

    /// Adds the configuration; false if it was there already with no more twins placed
    /// (`twins`: it is dominated, see `Search::advance`).
    fn insert(&mut self, hash: u64, set: &[u64], state: &S, twins: u32) -> bool {
        let mask = self.table.len() - 1;
        let mut slot = (hash as usize) & mask;
        let tag = (hash >> 32) as u32;
        loop {
            let (t, e) = self.table[slot];
            if e == 0 {
                break;
            }
            if t == tag {
                let i = (e - 1) as usize;
                let stored = &self.bits[i * self.words..(i + 1) * self.words];
                if self.states[i] == *state && stored.iter().zip(set).all(|(a, b)| a == b) {
                    if self.twins[i] <= twins {
                        return false;
                    }
                    self.twins[i] = twins;
                    return true;
                }
            }
            slot = (slot + 1) & mask;
        }
        self.states.push(state.clone());
        self.twins.push(twins);
        self.bits.extend_from_slice(set);
        self.hashes.push(hash);
        self.len += 1;
        self.table[slot] = (tag, self.len as u32);
        if self.len * 2 > self.table.len() {
            self.grow();
        }
        true
    }

    fn grow(&mut self) {
        let size = self.table.len() * 2;
        let mask = size - 1;
        let mut table = vec![(0u32, 0u32); size];
        for (i, &h) in self.hashes.iter().enumerate() {
            let mut slot = (h as usize) & mask;
            while table[slot].1 != 0 {
                slot = (slot + 1) & mask;
            }
            table[slot] = ((h >> 32) as u32, i as u32 + 1);
        }
        self.table = table;
    }
}

/// A search in progress over one partition; [`Search::advance`] runs it for a number of
/// steps and can be called again to go on where it stopped.
pub(super) struct Search<'a, M: Model> {
    ops: &'a [Entry<M::Input, M::Output>],
    end: usize,
    next: Vec<usize>,
    prev: Vec<usize>,
    op_of: Vec<usize>,
    is_call: Vec<bool>,
    call_node: Vec<usize>,
    ret_node: Vec<usize>,
    set: Vec<u64>,
    set_hash: u64,
    keys: Vec<u64>,
    seen: Seen<M::State>,
    state: M::State,
    /// (operation, state before it, taken without a choice)
    stack: Vec<(usize, M::State, bool)>,
    /// Per operation: a read with a known result. When such a read fits the current state
    /// while it may come next (it was invoked before any unplaced operation returned), taking
    /// it at once loses nothing: in any order that places it later, it can move up to here,
    /// since it changes no state and nothing unplaced had to precede it. So it is taken
    /// without branching, and only its configuration needs remembering.
    read_only: Vec<bool>,
    best: Vec<usize>,
    cur: usize,
    /// Steps taken so far.
    pub steps: u64,
    /// Per operation: its rank among the twins by call order (`u32::MAX` if not a twin).
    twin_rank: Vec<u32>,
    /// Twins placed: always the first ones by rank.
    twins_placed: u32,
    /// (operation, the one operation that can set the value it needs, that value) for the
    /// mortal operations (see `Entry::mortal`).
    mortals: Vec<(usize, usize, u64)>,
    /// A copy of `set` to mark mortal operations in.
    scratch: Vec<u64>,
    /// Whether `stop` ended the last `advance`.
    pub stopped: bool,
    done: Option<bool>,
}

/// How often (in steps) the search asks its caller whether to stop: rarely enough to cost
/// nothing, often enough (well under a millisecond) to stop on time.
pub(super) const STOP_EVERY: u64 = 1 << 14;

impl<'a, M: Model> Search<'a, M> {
    pub(super) fn new(model: &mut M, ops: &'a [Entry<M::Input, M::Output>]) -> Self {
        let n = ops.len();
        // Events 1..=2n in time order; 0 is the head, 2n+1 the end.
        let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * n);
        for (i, op) in ops.iter().enumerate() {
            events.push((op.call, 0, i));
            events.push((op.ret.unwrap_or(u64::MAX), 1, i));
        }
        events.sort_unstable(); // a total order on (time, kind, op): deterministic
        let end = 2 * n + 1;
        let mut next: Vec<usize> = (1..=end + 1).collect();
        let prev: Vec<usize> = (0..=end).map(|i| i.saturating_sub(1)).collect();
        next[end] = end;
        let mut op_of = vec![0usize; end + 1];
        let mut is_call = vec![false; end + 1];
        let mut call_node = vec![0usize; n];
        let mut ret_node = vec![0usize; n];
        for (k, &(_, kind, i)) in events.iter().enumerate() {
            let node = k + 1;
            op_of[node] = i;
            is_call[node] = kind == 0;
            if kind == 0 {
                call_node[i] = node;
            } else {
                ret_node[i] = node;
            }
        }
        let words = n.div_ceil(64).max(1);
        // Twins ranked in the order their calls appear in the event list.
        let mut twin_rank = vec![u32::MAX; n];
        let mut rank = 0;
        for &(_, kind, i) in &events {
            if kind == 0 && ops[i].twin {
                twin_rank[i] = rank;
                rank += 1;
            }
        }
        Search {
            ops,
            end,
            cur: next[0],
            next,
            prev,
            op_of,
            is_call,
            call_node,
            ret_node,
            set: vec![0; words],
            set_hash: 0,
            keys: (0..n as u64).map(mix).collect(),
            seen: Seen::new(words),
            state: model.init(),
            stack: Vec::new(),
            read_only: ops
                .iter()
                .map(|e| e.output.is_some() && model.is_read_only(&e.input))
                .collect(),
            best: Vec::new(),
            steps: 0,
            twin_rank,
            twins_placed: 0,
            mortals: ops
                .iter()
                .enumerate()
                .filter_map(|(i, e)| e.mortal.map(|(w, x)| (i, w, x)))
                .collect(),
            scratch: Vec::with_capacity(words),
            stopped: false,
            done: None,
        }
    }

    fn unlink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn relink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = x;
        self.prev[n] = x;
    }

    /// What the search has learnt so far: the longest order of operations the model
    /// accepted (partition indexes), the state after it, and the operations that would have
    /// to come next.
    pub(super) fn learnt(&self, model: &mut M) -> (Vec<usize>, String, Vec<usize>) {
        match stuck(model, self.ops, &self.best) {
            Found::Stuck {
                prefix,
                state,
                stuck,
            } => (prefix, state, stuck.into_iter().map(|(i, _)| i).collect()),
            Found::Linearizable => unreachable!("stuck always describes a prefix"),
        }
    }

    /// Runs until the answer is known (`Some`), `budget` more steps are spent, or `stop`
    /// says so (`None`). `stop` is asked every [`STOP_EVERY`] steps.
    pub(super) fn advance(
        &mut self,
        model: &mut M,
        budget: u64,
        stop: &dyn Fn() -> bool,
    ) -> Option<Found> {
        if let Some(ok) = self.done {
            return Some(if ok {
                Found::Linearizable
            } else {
                stuck(model, self.ops, &self.best)
            });
        }
        let limit = self.steps.saturating_add(budget);
        let ops = self.ops;
        loop {
            let cur = self.cur;
            if cur == self.end {
                // Every operation placed.
                self.done = Some(true);
                return Some(Found::Linearizable);
            }
            let i = self.op_of[cur];
            if self.is_call[cur] {
                if self.steps >= limit {
                    return None;
                }
                self.steps += 1;
                if self.steps % STOP_EVERY == 0 && stop() {
                    self.stopped = true;
                    return None;
                }
                let (after, out) = model.step(&self.state, &ops[i].input);
                let fits = ops[i].output.as_ref().is_none_or(|want| *want == out);
                // An operation that may never have happened, placed where it changes
                // nothing, explains nothing that leaving it out would not: skip it. So is a
                // twin (see `Entry::twin`) that is not the next of its class.
                let idle = ops[i].ret.is_none() && after == self.state;
                let queued = ops[i].twin && self.twin_rank[i] != self.twins_placed;
                if !fits || idle || queued {
                    self.cur = self.next[cur];
                    continue;
                }
                // Twins are left out of the set: a configuration is the set of the other
                // operations placed and the state, and one reached with fewer twins placed
                // (more of them left, since they are placed in rank order) dominates it.
                let twins = self.twins_placed + u32::from(ops[i].twin);
                let h = if ops[i].twin {
                    self.set_hash
                } else {
                    self.set[i / 64] |= 1 << (i % 64);
                    self.set_hash ^ self.keys[i]
                };
                // Mortal operations (see `Entry::mortal`) that can no longer happen count as
                // placed: whether they were makes no difference from here on.
                let mut probe_hash = h;
                let probe: &[u64] = if self.mortals.is_empty() {
                    &self.set
                } else {
                    self.scratch.clear();
                    self.scratch.extend_from_slice(&self.set);
                    let value = model.state_value(&after);
                    for &(c, w, x) in &self.mortals {
                        let bit = |set: &[u64], k: usize| set[k / 64] >> (k % 64) & 1 == 1;
                        if !bit(&self.scratch, c) && bit(&self.scratch, w) && value != Some(x) {
                            self.scratch[c / 64] |= 1 << (c % 64);
                            probe_hash ^= self.keys[c];
                        }
                    }
                    &self.scratch
                };
                if self.seen.insert(
                    probe_hash ^ mix(model.hash_state(&after)),
                    probe,
                    &after,
                    twins,
                ) {
                    self.set_hash = h;
                    let before = std::mem::replace(&mut self.state, after);
                    if ops[i].twin {
                        self.twins_placed += 1;
                    }
                    self.stack.push((i, before, self.read_only[i]));
                    self.unlink(self.call_node[i]);
                    self.unlink(self.ret_node[i]);
                    if self.stack.len() > self.best.len() {
                        self.best.clear();
                        self.best.extend(self.stack.iter().map(|&(op, _, _)| op));
                    }
                    self.cur = self.next[0];
                    continue;
                }
                if !ops[i].twin {
                    self.set[i / 64] &= !(1 << (i % 64));
                }
                if !self.read_only[i] {
                    self.cur = self.next[cur];
                    continue;
                }
                // A read that fits here could just as well come first (see `read_only`):
                // its configuration failed before, so this one fails too.
            } else if ops[i].ret.is_none() {
                // Only unknown outcomes are left unplaced: they never took effect.
                self.done = Some(true);
                return Some(Found::Linearizable);
            }
            // Backtrack: undo the last choice and try the next call after it. A read taken
            // because it fit was no choice: undoing it means the choice before it failed.
            loop {
                let Some((j, before, forced)) = self.stack.pop() else {
                    self.done = Some(false);
                    return Some(stuck(model, ops, &self.best));
                };
                self.relink(self.ret_node[j]);
                self.relink(self.call_node[j]);
                self.state = before;
                if ops[j].twin {
                    self.twins_placed -= 1;
                } else {
                    self.set[j / 64] &= !(1 << (j % 64));
                    self.set_hash ^= self.keys[j];
                }
                if !forced {
                    self.cur = self.next[self.call_node[j]];
                    break;
                }
            }
        }
    }
}

/// Builds the counterexample from the longest accepted prefix: the operations that would
/// have to come next (every one invoked before the earliest return among those left) and
/// what the model says of each. It replays the operations as the history wrote them: the
/// values the reductions merged are read by nobody, so the prefix is accepted the same way,
/// and the state it shows is the one the history's own values give.
fn stuck<M: Model>(model: &mut M, ops: &[Entry<M::Input, M::Output>], best: &[usize]) -> Found {
    let mut state = model.init();
    let mut placed = vec![false; ops.len()];
    for &i in best {
        state = model.step(&state, ops[i].as_written()).0;
        placed[i] = true;
    }
    let deadline = (0..ops.len())
        .filter(|&i| !placed[i])
        .filter_map(|i| ops[i].ret)
        .min()
        .unwrap_or(u64::MAX);
    let mut why = Vec::new();
    for i in (0..ops.len()).filter(|&i| !placed[i] && ops[i].call <= deadline) {
        let (_, out) = model.step(&state, ops[i].as_written());
        let text = match &ops[i].output {
            Some(want) if *want != out => format!(
                "here it would return {}, not {}",
                model.show_output(&out),
                model.show_output(want)
            ),
            _ => "the model accepts it here, but nothing can follow it".to_string(),
        };
        why.push((i, text));
    }
    Found::Stuck {
        prefix: best.to_vec(),
        state: model.show_state(&state),
        stuck: why,
    }
}
