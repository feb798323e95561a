//! Raft's records as bytes on a disk that lies: the codec (`Protocol::codec`) and its
//! checksum.
//!
//! Every record is written as its fields followed by an 8-byte checksum computed over the
//! record's *place* (its absolute log index, or its cell's name) and its bytes, so a record
//! that is torn, has a flipped bit, cannot be read, or was written to the wrong place (a
//! misdirected write carries the checksum of its own place) reads back as
//! [`Record::Damaged`]. The decoder also says what the bytes spell without the check
//! (`spelled`): a naive store, the `no_checksums` bug switch, takes that instead.
//!
//! Layout, little-endian: an entry is `term: u64`, then `0` (a no-op) or `1` followed by the
//! command (`client: u32`, `id: u64`, the op's kind `0` get / `1` put / `2` append, the key
//! and for put and append the value, each as `length: u32` and its bytes); the hard state is
//! `term: u64`, `vote` (`0`, or `1` and the node: u32), `repair` (`0`, or `1`, the log
//! length `u64` and the term bound `u64`); a snapshot (cells `snap#1`, `snap#2`) is the copy
//! `u8`, the last included index and its term (`u64` each), the count of commands applied
//! `u64`, the data as a count `u32` of key and value texts, and the sessions as a count `u32`
//! of (`client: u32`, `id: u64`, the answer: `0` and an optional value text, or `1` and an
//! optional node). Reading is total: a short read is padded with zeros, a length past the end
//! is cut to what is there, and a count is cut to the bytes left.

use super::{Answer, Command, Entry, Hard, Op, Record, Snapshot};
use crate::kit::kv::KvService;
use crate::protocol::{ClientId, Codec, NodeId, Place, RequestId};
use std::collections::BTreeMap;

/// Raft's codec: checksummed records.
pub(super) fn codec() -> Codec<Record> {
    Codec { encode, decode }
}

/// Size of the checksum that ends every record.
const SUM_BYTES: usize = 8;

/// A 64-bit checksum of `bytes` written at `place`: FNV-1a over a tag for the kind of place,
/// the place and the bytes, finished with the SplitMix64 mixer so a one-bit change moves
/// every bit of the sum.
pub(super) fn checksum(place: Place, bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    match place {
        Place::Record(i) => {
            eat(1);
            i.to_le_bytes().into_iter().for_each(&mut eat);
        }
        Place::Cell(name) => {
            eat(2);
            name.bytes().for_each(&mut eat);
            eat(0);
        }
    }
    bytes.iter().copied().for_each(&mut eat);
    let mut z = h;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn put_text(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Writes the record's fields (no checksum).
fn fields(r: &Record, out: &mut Vec<u8>) {
    match r {
        Record::Entry { at, entry: e } => {
            out.extend_from_slice(&at.to_le_bytes());
            out.extend_from_slice(&e.term.to_le_bytes());
            match &e.command {
                None => out.push(0),
                Some(c) => {
                    out.push(1);
                    out.extend_from_slice(&c.client.0.to_le_bytes());
                    out.extend_from_slice(&c.id.0.to_le_bytes());
                    match &c.op {
                        Op::Get { key } => {
                            out.push(0);
                            put_text(key, out);
                        }
                        Op::Put { key, value } => {
                            out.push(1);
                            put_text(key, out);
                            put_text(value, out);
                        }
                        Op::Append { key, value } => {
                            out.push(2);
                            put_text(key, out);
                            put_text(value, out);
                        }
                    }
                }
            }
        }
        Record::Hard { copy, state: h } => {
            out.push(*copy);
            out.extend_from_slice(&h.term.to_le_bytes());
            match h.vote {
                None => out.push(0),
                Some(v) => {
                    out.push(1);
                    out.extend_from_slice(&v.0.to_le_bytes());
                }
            }
            match h.repair {
                None => out.push(0),
                Some((len, term)) => {
                    out.push(1);
                    out.extend_from_slice(&len.to_le_bytes());
                    out.extend_from_slice(&term.to_le_bytes());
                }
            }
        }
        Record::Snap { copy, snap } => {
            out.push(*copy);
            out.extend_from_slice(&snap.index.to_le_bytes());
            out.extend_from_slice(&snap.term.to_le_bytes());
            out.extend_from_slice(&snap.service.applied().to_le_bytes());
            let data = snap.service.data();
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            for (k, v) in data {
                put_text(k, out);
                put_text(v, out);
            }
            let sessions = snap.service.sessions();
            out.extend_from_slice(&(sessions.len() as u32).to_le_bytes());
            for (client, (id, answer)) in sessions {
                out.extend_from_slice(&client.0.to_le_bytes());
                out.extend_from_slice(&id.0.to_le_bytes());
                match answer {
                    Answer::Ok { value } => {
                        out.push(0);
                        match value {
                            None => out.push(0),
                            Some(v) => {
                                out.push(1);
                                put_text(v, out);
                            }
                        }
                    }
                    Answer::NotLeader { hint } => {
                        out.push(1);
                        match hint {
                            None => out.push(0),
                            Some(n) => {
                                out.push(1);
                                out.extend_from_slice(&n.0.to_le_bytes());
                            }
                        }
                    }
                }
            }
        }
        // A damaged record is never written: the protocol rewrites what it read before it
        // writes it back. Writing what it spells keeps encode total.
        Record::Damaged { spelled, .. } => {
            if let Some(r) = spelled {
                fields(r, out);
            }
        }
    }
}

/// The place a record is written at, as the record itself knows it.
fn own_place(r: &Record) -> Place {
    match r {
        Record::Entry { at, .. } => Place::Record(*at),
        Record::Hard { copy, .. } => Place::Cell(hard_cell(*copy)),
        Record::Snap { copy, .. } => Place::Cell(snap_cell(*copy)),
        Record::Damaged { place, .. } => *place,
    }
}

/// The cell that holds copy `copy` (1 or 2) of the hard state.
pub(super) fn hard_cell(copy: u8) -> &'static str {
    if copy <= 1 { "hard#1" } else { "hard#2" }
}

/// The cell that holds snapshot copy `copy` (1 or 2).
pub(super) fn snap_cell(copy: u8) -> &'static str {
    if copy <= 1 { "snap#1" } else { "snap#2" }
}

fn encode(r: &Record, out: &mut Vec<u8>) {
    let start = out.len();
    fields(r, out);
    let sum = checksum(own_place(r), &out[start..]);
    out.extend_from_slice(&sum.to_le_bytes());
}

/// A reader over bytes that pads with zeros past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at = self.at.saturating_add(1);
        b
    }
    fn u32(&mut self) -> u32 {
        let mut w = [0u8; 4];
        w.iter_mut().for_each(|x| *x = self.byte());
        u32::from_le_bytes(w)
    }
    fn u64(&mut self) -> u64 {
        let mut w = [0u8; 8];
        w.iter_mut().for_each(|x| *x = self.byte());
        u64::from_le_bytes(w)
    }
    fn text(&mut self) -> String {
        let len = self.u32() as usize;
        let from = self.at.min(self.bytes.len());
        let to = from.saturating_add(len).min(self.bytes.len());
        self.at = self.at.saturating_add(len);
        String::from_utf8_lossy(&self.bytes[from..to]).into_owned()
    }
    /// A count of items read next, each at least `min` bytes: cut to what the bytes left
    /// can hold, so a damaged count never loops long.
    fn count(&mut self, min: usize) -> usize {
        let n = self.u32() as usize;
        n.min(self.bytes.len().saturating_sub(self.at) / min.max(1))
    }
}

/// A snapshot as its bytes spell it.
fn spell_snap(r: &mut Reader<'_>) -> Record {
    let copy = r.byte();
    let index = r.u64();
    let term = r.u64();
    let applied = r.u64();
    let mut data = BTreeMap::new();
    for _ in 0..r.count(8) {
        let k = r.text();
        let v = r.text();
        data.insert(k, v);
    }
    let mut sessions = BTreeMap::new();
    for _ in 0..r.count(14) {
        let client = ClientId(r.u32());
        let id = RequestId(r.u64());
        let answer = match r.byte() {
            0 => Answer::Ok {
                value: match r.byte() {
                    0 => None,
                    _ => Some(r.text()),
                },
            },
            _ => Answer::NotLeader {
                hint: match r.byte() {
                    0 => None,
                    _ => Some(NodeId(r.u32())),
                },
            },
        };
        sessions.insert(client, (id, answer));
    }
    Record::Snap {
        copy,
        snap: Box::new(Snapshot {
            index,
            term,
            service: KvService::from_parts(data, sessions, applied),
        }),
    }
}

/// What the bytes spell as a record of the place's kind, checking nothing.
fn spell(place: Place, bytes: &[u8]) -> Record {
    let mut r = Reader { bytes, at: 0 };
    match place {
        Place::Record(_) => {
            let at = r.u64();
            let term = r.u64();
            let command = match r.byte() {
                0 => None,
                _ => {
                    let client = ClientId(r.u32());
                    let id = RequestId(r.u64());
                    let op = match r.byte() {
                        0 => Op::Get { key: r.text() },
                        1 => Op::Put {
                            key: r.text(),
                            value: r.text(),
                        },
                        _ => Op::Append {
                            key: r.text(),
                            value: r.text(),
                        },
                    };
                    Some(Command { client, id, op })
                }
            };
            Record::Entry {
                at,
                entry: Entry { term, command },
            }
        }
        Place::Cell(name) if name.starts_with("snap") => spell_snap(&mut r),
        Place::Cell(_) => {
            let copy = r.byte();
            let term = r.u64();
            let vote = match r.byte() {
                0 => None,
                _ => Some(NodeId(r.u32())),
            };
            let repair = match r.byte() {
                0 => None,
                _ => Some((r.u64(), r.u64())),
            };
            Record::Hard {
                copy,
                state: Hard { term, vote, repair },
            }
        }
    }
}

/// Reads a record: whole and at its own place, or `Damaged` with what the bytes spell.
fn decode(place: Place, bytes: Option<&[u8]>) -> Record {
    let Some(bytes) = bytes else {
        return Record::Damaged {
            place,
            spelled: Some(Box::new(spell(place, &[]))),
        };
    };
    let spelled = spell(place, bytes);
    let mut again = Vec::new();
    fields(&spelled, &mut again);
    let n = again.len();
    let whole = bytes.len() == n + SUM_BYTES
        && bytes[..n] == again[..]
        && bytes[n..] == checksum(place, &again).to_le_bytes();
    if whole {
        spelled
    } else {
        Record::Damaged {
            place,
            spelled: Some(Box::new(spelled)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Damage, Store};

    fn put(at: u64, term: u64) -> Record {
        Record::Entry {
            at,
            entry: Entry {
                term,
                command: Some(Command {
                    client: ClientId(1),
                    id: RequestId(7 + at),
                    op: Op::Put {
                        key: "k1".into(),
                        value: format!("v{at}"),
                    },
                }),
            },
        }
    }

    fn hard(copy: u8, term: u64) -> Record {
        Record::Hard {
            copy,
            state: Hard {
                term,
                vote: Some(NodeId(2)),
                repair: Some((4, 3)),
            },
        }
    }

    fn store_with(n: u64) -> Store<Record> {
        let mut s = Store::new();
        s.set_codec(codec());
        for i in 0..n {
            s.append(put(i, 1 + i / 2), 32);
        }
        s.set_cell("hard#1", hard(1, 3), 32);
        s.set_cell("hard#2", hard(2, 3), 32);
        s.sync();
        s
    }

    #[test]
    fn every_record_reads_back_whole_at_its_place() {
        for r in [
            put(3, 2),
            hard(1, 9),
            hard(2, 0),
            Record::Entry {
                at: 0,
                entry: Entry {
                    term: 1,
                    command: None,
                },
            },
        ] {
            let mut bytes = Vec::new();
            encode(&r, &mut bytes);
            let place = own_place(&r);
            assert_eq!(decode(place, Some(&bytes)), r);
        }
    }

    #[test]
    fn a_snapshot_reads_back_whole_and_a_flipped_bit_is_damage() {
        let mut service = KvService::new();
        for (i, op) in [
            Op::Put {
                key: "k1".into(),
                value: "a".into(),
            },
            Op::Append {
                key: "k2".into(),
                value: "bc".into(),
            },
            Op::Get { key: "k1".into() },
        ]
        .into_iter()
        .enumerate()
        {
            service.apply(&Command {
                client: ClientId(i as u32 % 2),
                id: RequestId(3 + i as u64),
                op,
            });
        }
        let r = Record::Snap {
            copy: 2,
            snap: Box::new(Snapshot {
                index: 17,
                term: 4,
                service,
            }),
        };
        let mut bytes = Vec::new();
        encode(&r, &mut bytes);
        assert_eq!(decode(Place::Cell("snap#2"), Some(&bytes)), r);
        assert!(matches!(
            decode(Place::Cell("snap#1"), Some(&bytes)),
            Record::Damaged { .. }
        ));
        for bit in (0..bytes.len() * 8).step_by(7) {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(matches!(
                decode(Place::Cell("snap#2"), Some(&b)),
                Record::Damaged { .. }
            ));
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_reads_as_damaged_but_spells_something() {
        let r = put(2, 5);
        let mut bytes = Vec::new();
        encode(&r, &mut bytes);
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            match decode(Place::Record(2), Some(&b)) {
                Record::Damaged { place, spelled } => {
                    assert_eq!(place, Place::Record(2));
                    assert!(spelled.is_some());
                }
                other => panic!("bit {bit}: read {other:?} as whole"),
            }
        }
    }

    #[test]
    fn the_store_faults_read_as_damaged() {
        // Corruption, a latent error and a misdirected write, each seen after the crash.
        let mut s = store_with(5);
        s.damage(Place::Record(1), Damage::Corrupt { bit: 70 })
            .unwrap();
        s.damage(Place::Cell("hard#2"), Damage::Latent).unwrap();
        s.crash();
        let damaged =
            |s: &Store<Record>, i: usize| matches!(s.records()[i], Record::Damaged { .. });
        assert!(damaged(&s, 1));
        assert!(!damaged(&s, 0) && !damaged(&s, 2));
        assert!(matches!(s.cell("hard#2"), Some(Record::Damaged { .. })));
        assert_eq!(s.cell("hard#1"), Some(&hard(1, 3)));

        let mut s = store_with(5);
        s.misdirect(0).unwrap();
        s.crash();
        // Record 4 landed on record 0: whole bytes, but its checksum names place 4.
        assert!(damaged(&s, 0) && damaged(&s, 4));
        match &s.records()[0] {
            Record::Damaged {
                spelled: Some(r), ..
            } => assert_eq!(**r, put(4, 3)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_torn_append_and_a_torn_hard_state_copy_read_as_damaged() {
        let mut s = store_with(3);
        s.set_cell("hard#1", hard(1, 4), 32);
        s.set_cell("hard#2", hard(2, 4), 32);
        s.append(put(3, 4), 32);
        // Power fails in the first hard-state copy: the second is lost, the old value stays.
        s.crash_torn(0, 5, &|_| true);
        assert!(matches!(s.cell("hard#1"), Some(Record::Damaged { .. })));
        assert_eq!(s.cell("hard#2"), Some(&hard(2, 3)));
        assert_eq!(s.len(), 3);
        // Power fails in the append: the hard state is whole, the entry torn.
        s.set_cell("hard#1", hard(1, 4), 32);
        s.set_cell("hard#2", hard(2, 4), 32);
        s.append(put(3, 4), 32);
        s.crash_torn(2, 9, &|_| true);
        assert_eq!(s.cell("hard#1"), Some(&hard(1, 4)));
        assert!(matches!(s.records()[3], Record::Damaged { .. }));
    }
}
