//! Generated histories with known verdicts, for the checker's tests and benchmark: a register
//! or a key-value map used by concurrent clients, with overlapping intervals and a share of
//! operations whose outcome is unknown.
//!
//! A valid history is linearizable by construction: every operation gets a linearization
//! point strictly inside its interval, the points are applied in order to one sequential
//! copy, and each operation's result is what the copy gave at its point. An unknown operation
//! either took effect at its point or never did (the history says neither). An invalid
//! history is a valid one with one read changed so that it provably cannot be explained (see
//! [`Spec::valid`]); the value it reads was written by some operation, so the checker's only
//! pre-check (a value nobody wrote) does not reject it.
//!
//! Seeded (ChaCha8, our own integer sampling): the same [`Spec`] always gives the same
//! history. Pure: writing the Porcupine file formats returns strings.

use super::{Op, Outcome, Val};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Which object the clients use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    /// One register: read, write, compare-and-set (etcd log format; starts nil).
    Register,
    /// A map of `keys` string registers: get, put (Jepsen EDN, Porcupine's kv format; a
    /// missing key reads as the empty string).
    Kv {
        /// How many keys.
        keys: usize,
    },
}

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The object.
    pub object: Object,
    /// Operations in the history.
    pub ops: usize,
    /// Clients issuing operations at once (each one a new process after an unknown outcome,
    /// as Jepsen does).
    pub clients: usize,
    /// Share of operations whose outcome is unknown, in percent. All of them are updates
    /// (write, cas, put); three in four of them took effect.
    pub unknown_percent: u64,
    /// The seed.
    pub seed: u64,
    /// `true`: linearizable by construction. `false`: one completed read is changed to return
    /// the value `a` of a write `W1` such that some write `W2` of the same key starts after
    /// `W1` is known to have happened and ends before the read starts. Values are unique per
    /// key, so in any order the read would have to come after `W1` with no write between,
    /// yet `W2` lies between them in real time: not linearizable. "`W1` is known to have
    /// happened" by a given time is either `W1`'s own return, or, for a write of unknown
    /// outcome, the return of a completed read that saw `a` (it had to follow `W1`): the
    /// generator prefers the second kind, so deciding it needs the reasoning about unknown
    /// writes that are read.
    pub valid: bool,
}

/// A generated history.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The operations, by invocation time.
    pub ops: Vec<Op>,
    /// Whether it is linearizable (by construction).
    pub linearizable: bool,
    /// For an invalid history: which read was changed and why it cannot be explained.
    pub note: String,
}

/// Our own sampling on a pinned generator (as `base::rng` does; `lin` imports nothing else
/// of the crate).
struct Draw(ChaCha8Rng);

impl Draw {
    /// Uniform in `0..n` (n > 0), by rejection.
    fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.0.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

/// One operation while it is being generated.
struct Draft {
    process: u64,
    key: usize,
    /// 0 read, 1 write, 2 cas.
    kind: u8,
    /// Value written (write), or the cas's target.
    value: u64,
    /// The cas's expected value (0 = nil / the empty string).
    from: u64,
    call: u64,
    point: u64,
    ret: u64,
    unknown: bool,
    /// Whether an unknown operation took effect.
    happened: bool,
    /// The value read (reads), or whether a cas swapped (1) or not (0).
    result: u64,
}

fn show(object: Object, v: u64) -> Val {
    match (object, v) {
        (Object::Register, 0) => Val::Nil,
        (Object::Register, v) => Val::Int(v as i64),
        (Object::Kv { .. }, 0) => Val::Str(String::new()),
        (Object::Kv { .. }, v) => Val::Str(format!("v{v}")),
    }
}

/// Generates the history `spec` describes.
pub fn generate(spec: &Spec) -> Generated {
    assert!(spec.clients > 0 && spec.clients < 1000 && spec.unknown_percent <= 100);
    let mut draw = Draw(ChaCha8Rng::seed_from_u64(spec.seed));
    let keys = match spec.object {
        Object::Register => 1,
        Object::Kv { keys } => keys.max(1),
    };
    // Durations around `MEAN` raw time units; clients pause briefly between operations, so
    // about `clients` operations overlap at any time.
    const MEAN: u64 = 1_000;
    let mut free_at: Vec<u64> = (0..spec.clients as u64).map(|c| c * 7).collect();
    let mut process: Vec<u64> = (0..spec.clients as u64).collect();
    let mut next_process = spec.clients as u64;
    let mut next_value = vec![1u64; keys];
    // The values written per key, most recent last (for a cas's expected value).
    let mut recent: Vec<Vec<u64>> = vec![Vec::new(); keys];
    let mut drafts: Vec<Draft> = Vec::with_capacity(spec.ops);
    for _ in 0..spec.ops {
        // The client free first (ties by number): calls come out in time order.
        let c = (0..spec.clients).min_by_key(|&c| (free_at[c], c)).unwrap();
        let call = free_at[c] + draw.below(MEAN / 4);
        let ret = call + draw.between(2, 2 * MEAN);
        let point = draw.between(call + 1, ret - 1);
        let key = draw.below(keys as u64) as usize;
        let unknown = draw.below(100) < spec.unknown_percent;
        let kind = match (spec.object, unknown, draw.below(20)) {
            (Object::Kv { .. }, true, _) => 1,
            (Object::Kv { .. }, false, r) => u8::from(r >= 10),
            (Object::Register, true, r) => 1 + u8::from(r >= 16),
            (Object::Register, false, r) if r < 10 => 0,
            (Object::Register, false, r) if r < 17 => 1,
            (Object::Register, false, _) => 2,
        };
        // A cas expects one of the last values written (never nil: Porcupine's etcd parser
        // reads only numbers there); with none yet, it is a write.
        let kind = if kind == 2 && recent[key].is_empty() {
            1
        } else {
            kind
        };
        let (mut value, mut from) = (0, 0);
        if kind > 0 {
            value = next_value[key];
            next_value[key] += 1;
        }
        if kind == 2 {
            let r = &recent[key];
            from = r[r.len() - 1 - draw.below(r.len().min(3) as u64) as usize];
        }
        if kind > 0 {
            recent[key].push(value);
            if recent[key].len() > 8 {
                recent[key].remove(0);
            }
        }
        let happened = !unknown || draw.below(4) > 0;
        drafts.push(Draft {
            process: process[c],
            key,
            kind,
            value,
            from,
            call,
            point,
            ret,
            unknown,
            happened,
            result: 0,
        });
        free_at[c] = ret + 1;
        if unknown {
            process[c] = next_process;
            next_process += 1;
        }
    }
    // The sequential execution, in the order of the linearization points.
    let mut order: Vec<usize> = (0..drafts.len()).collect();
    order.sort_by_key(|&i| (drafts[i].point, i));
    let mut state = vec![0u64; keys];
    for &i in &order {
        let d = &mut drafts[i];
        if !d.happened {
            continue;
        }
        match d.kind {
            0 => d.result = state[d.key],
            1 => state[d.key] = d.value,
            _ => {
                d.result = u64::from(state[d.key] == d.from);
                if d.result == 1 {
                    state[d.key] = d.value;
                }
            }
        }
    }
    let note = if spec.valid {
        String::new()
    } else {
        break_one_read(&mut drafts, &mut draw, spec.object)
    };
    let ops = drafts
        .iter()
        .map(|d| {
            let key = match spec.object {
                Object::Register => None,
                Object::Kv { .. } => Some(format!("k{}", d.key)),
            };
            let (f, value) = match (spec.object, d.kind) {
                (Object::Register, 0) => ("read", Val::Nil),
                (Object::Register, 1) => ("write", show(spec.object, d.value)),
                (Object::Register, _) => (
                    "cas",
                    Val::List(vec![show(spec.object, d.from), show(spec.object, d.value)]),
                ),
                (Object::Kv { .. }, 0) => ("get", Val::Nil),
                (Object::Kv { .. }, _) => ("put", show(spec.object, d.value)),
            };
            let outcome = match (d.unknown, d.kind) {
                (true, _) => Outcome::Unknown,
                (false, 0) => Outcome::Ok(show(spec.object, d.result)),
                (false, 1) => Outcome::Ok(value.clone()),
                (false, _) if d.result == 1 => Outcome::Ok(value.clone()),
                (false, _) => Outcome::Fail(value.clone()),
            };
            Op {
                process: d.process,
                f: f.to_string(),
                key,
                value,
                outcome,
                call: d.call,
                ret: (!d.unknown).then_some(d.ret),
                line: 0,
            }
        })
        .collect();
    Generated {
        ops,
        linearizable: spec.valid,
        note,
    }
}

/// Changes one completed read as [`Spec::valid`] describes and says which.
fn break_one_read(drafts: &mut [Draft], draw: &mut Draw, object: Object) -> String {
    let n = drafts.len();
    // Writers known to have happened by some time: (write, known by, how), unknown writes
    // that a completed read saw first, then completed writes.
    let mut known: Vec<(usize, u64, bool)> = Vec::new();
    for r in 0..n {
        let d = &drafts[r];
        if d.kind != 0 || d.unknown || d.result == 0 {
            continue;
        }
        if let Some(w) = (0..n).find(|&w| {
            drafts[w].key == d.key
                && drafts[w].kind > 0
                && drafts[w].unknown
                && drafts[w].value == d.result
        }) {
            known.push((w, d.ret, true));
        }
    }
    let unknown_read = known.len();
    for (w, d) in drafts.iter().enumerate().take(n) {
        if d.kind == 1 && !d.unknown {
            known.push((w, d.ret, false));
        }
    }
    assert!(!known.is_empty(), "a history with no write to break");
    // Start at a random candidate (an unknown write that was read if there is one) and take
    // the first that works.
    let start = if unknown_read > 0 {
        draw.below(unknown_read as u64) as usize
    } else {
        draw.below(known.len() as u64) as usize
    };
    for k in (start..known.len()).chain(0..start) {
        let (w1, by, seen) = known[k];
        let key = drafts[w1].key;
        let a = drafts[w1].value;
        // The first completed write of the key to start after `by`...
        let Some(w2) = (0..n)
            .filter(|&w| drafts[w].key == key && drafts[w].kind == 1 && !drafts[w].unknown)
            .filter(|&w| drafts[w].call > by)
            .min_by_key(|&w| (drafts[w].call, w))
        else {
            continue;
        };
        // ...and the first completed read of it to start after that write returned.
        let Some(r) = (0..n)
            .filter(|&r| drafts[r].key == key && drafts[r].kind == 0 && !drafts[r].unknown)
            .filter(|&r| drafts[r].call > drafts[w2].ret && drafts[r].result != a)
            .min_by_key(|&r| (drafts[r].call, r))
        else {
            continue;
        };
        let old = drafts[r].result;
        drafts[r].result = a;
        return format!(
            "read by process {} at {} changed from {} to {}: {} wrote it{}, and the write of {} \
             by process {} ran wholly between",
            drafts[r].process,
            drafts[r].call,
            show(object, old),
            show(object, a),
            if seen {
                "an unknown write"
            } else {
                "a completed write"
            },
            if seen {
                " (known to have happened once an earlier read saw it)"
            } else {
                ""
            },
            show(object, drafts[w2].value),
            drafts[w2].process,
        );
    }
    panic!("no read could be broken: generate more operations")
}

/// The events of a history in time order: (time, 0 invoke / 1 complete, operation). At
/// equal times invocations come first, as the checker reads them (touching intervals
/// overlap).
fn events(ops: &[Op]) -> Vec<(u64, u8, usize)> {
    let mut ev: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * ops.len());
    for (i, op) in ops.iter().enumerate() {
        ev.push((op.call, 0, i));
        if let Some(r) = op.ret {
            ev.push((r, 1, i));
        }
    }
    ev.sort_unstable();
    ev
}

/// A register history as a Jepsen etcd log (what Porcupine's tests and our `etcd` format
/// read): an operation of unknown outcome has no completion line.
pub fn to_etcd_log(ops: &[Op]) -> String {
    let mut s = String::new();
    for (_, kind, i) in events(ops) {
        let op = &ops[i];
        let (word, value) = match (kind, &op.outcome) {
            (0, _) => ("invoke", &op.value),
            (_, Outcome::Ok(v)) if op.f == "read" => ("ok", v),
            (_, Outcome::Ok(_)) => ("ok", &op.value),
            (_, _) => ("fail", &op.value),
        };
        s.push_str(&format!(
            "INFO  jepsen.util - {}\t:{word}\t:{}\t{value}\n",
            op.process, op.f
        ));
    }
    s
}

/// A key-value history as Jepsen EDN, one map a line, the way Porcupine's kv tests write
/// them: an operation of unknown outcome completes with `:info`.
pub fn to_kv_edn(ops: &[Op]) -> String {
    let mut s = String::new();
    for (_, kind, i) in events(ops) {
        let op = &ops[i];
        let key = op.key.as_deref().unwrap_or("");
        let (word, value) = match (kind, &op.outcome) {
            (0, _) => ("invoke", edn_text(&op.value)),
            (_, Outcome::Ok(v)) => ("ok", edn_text(v)),
            (_, _) => ("info", edn_text(&op.value)),
        };
        s.push_str(&format!(
            "{{:process {}, :type :{word}, :f :{}, :key \"{key}\", :value {value}}}\n",
            op.process, op.f
        ));
    }
    // Unknown outcomes: an `:info` completion after everything else.
    for op in ops.iter().filter(|o| o.ret.is_none()) {
        s.push_str(&format!(
            "{{:process {}, :type :info, :f :{}, :key \"{}\", :value {}}}\n",
            op.process,
            op.f,
            op.key.as_deref().unwrap_or(""),
            edn_text(&op.value)
        ));
    }
    s
}

fn edn_text(v: &Val) -> String {
    match v {
        Val::Nil => "nil".into(),
        Val::Str(t) => format!("{t:?}"),
        other => other.to_string(),
    }
}

/// The generated suite the benchmark checks (and writes out for Porcupine): single-register
/// histories (etcd log format) of 1,000 to 5,000 operations with 5-15% unknown outcomes,
/// most of their unknown writes read by someone, and key-value histories (Porcupine's kv EDN
/// format, 8 keys), each valid and invalid. Names say what each is.
pub fn suite() -> Vec<(String, Spec)> {
    let mut all = Vec::new();
    let register = [
        (1000, 5),
        (1000, 15),
        (2000, 10),
        (3000, 15),
        (5000, 5),
        (5000, 15),
    ];
    let kv = [(1000, 10), (5000, 15)];
    let shapes = register
        .iter()
        .map(|&(n, u)| (Object::Register, 10, n, u))
        .chain(kv.iter().map(|&(n, u)| (Object::Kv { keys: 8 }, 20, n, u)));
    for (k, (object, clients, ops, unknown_percent)) in shapes.enumerate() {
        for valid in [true, false] {
            let name = format!(
                "{}-n{ops}-u{unknown_percent}-{}",
                match object {
                    Object::Register => "register",
                    Object::Kv { .. } => "kv",
                },
                if valid { "ok" } else { "bad" }
            );
            let spec = Spec {
                object,
                ops,
                clients,
                unknown_percent,
                seed: 24_000 + k as u64,
                valid,
            };
            all.push((name, spec));
        }
    }
    all
}
