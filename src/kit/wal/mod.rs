//! The pieces of a checkpoint + write-ahead-log store that any protocol can reuse: a frame
//! that seals a record's bytes to its place on the disk, a byte writer and a reader that
//! reads anything, two alternating checkpoint copies, the rule for how much of the log may be
//! discarded, and the test that makes replay idempotent.
//!
//! **Frames.** A record is written as `[len u32][head u32][payload][sum u64]`: `head` is a
//! checksum of the length and the place, `sum` a checksum of the payload and the place
//! (both from the project's pinned hash), so a record read at another place than the one
//! it was written for fails (a misdirected write), as does one with a flipped bit or one
//! that reads as zeros. Because the length is covered by its own checksum, a frame that
//! ends before its length says is a *torn* append (power failed while it was written: it
//! never reached the disk whole, so it was never synced, so nothing acknowledged depends on
//! it), and a whole-length frame whose checksum fails is *corruption* of something that was
//! synced. [`read`] tells these apart; what to do about each is the store's business.
//!
//! **Checkpoints.** [`Copies`] names two cells written alternately (`ckpt#1`, `ckpt#2`),
//! each checkpoint with a sequence number: a new checkpoint always overwrites the copy that
//! does *not* hold the newest durable one, so a torn or damaged write leaves the other.
//! [`discard_point`] is the truncation rule: the log's front may go only up to the older of
//! the two durable checkpoints, so either copy alone, with the log after it, recovers
//! everything. [`replay_step`] is the replay rule: records carry their log sequence number
//! (LSN), and a record is applied only if it is the next one the state lacks.
//!
//! References: Mohan et al., "ARIES", TODS 17(1), 1992 (LSNs, idempotent redo); Pillai et
//! al., OSDI 2014 (torn and reordered appends); Bairavasundaram et al., FAST 2008 (silent
//! corruption, misdirected writes); see docs/storage.md.
//!
//! Must not import anything but the protocol API.

use crate::protocol::{Place, StableHasher};
use std::hash::Hasher;

/// Bytes a frame adds to its payload.
pub const FRAME_BYTES: usize = 16;

/// Largest payload a frame carries: a length above it is read as damage.
pub const PAYLOAD_MAX: usize = 1 << 20;

fn start(domain: u64, place: Place) -> StableHasher {
    let mut h = StableHasher::default();
    h.word(domain);
    match place {
        Place::Record(i) => {
            h.word(1);
            h.word(i);
        }
        Place::Cell(name) => {
            h.word(2);
            h.text(name);
        }
    }
    h
}

/// The checksum of `payload` written at `place`.
pub fn checksum(payload: &[u8], place: Place) -> u64 {
    let mut h = start(0x5EA1_0001, place);
    h.write(payload);
    h.finish()
}

fn head(len: u32, place: Place) -> u32 {
    let mut h = start(0x5EA1_0002, place);
    h.word(u64::from(len));
    h.finish() as u32
}

/// Writes `payload` as a frame sealed to `place` onto `out`.
pub fn seal(payload: &[u8], place: Place, out: &mut Vec<u8>) {
    debug_assert!(payload.len() <= PAYLOAD_MAX, "payload too large to seal");
    let len = payload.len().min(PAYLOAD_MAX) as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&head(len, place).to_le_bytes());
    out.extend_from_slice(&payload[..len as usize]);
    out.extend_from_slice(&checksum(&payload[..len as usize], place).to_le_bytes());
}

/// The payload of a frame if it is whole and was sealed to `place`.
pub fn unseal(bytes: &[u8], place: Place) -> Option<&[u8]> {
    read(Some(bytes), place).ok()
}

/// What is wrong with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Harm {
    /// The frame ends before its (checksummed) length says: a write torn by a crash, never
    /// synced whole.
    Torn,
    /// Whole length, wrong checksum: synced data that changed (a flipped bit, zeros, another
    /// record written over it).
    Corrupt,
    /// The disk reported a read error.
    Unreadable,
}

impl std::fmt::Display for Harm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Harm::Torn => "torn",
            Harm::Corrupt => "corrupt",
            Harm::Unreadable => "unreadable",
        })
    }
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a frame at `place` (`None`: the disk's read error): its payload when it is whole and
/// sealed to `place`, or what is wrong with it.
pub fn read(bytes: Option<&[u8]>, place: Place) -> Result<&[u8], Harm> {
    let bytes = bytes.ok_or(Harm::Unreadable)?;
    let (Some(len), Some(h)) = (le_u32(bytes, 0), le_u32(bytes, 4)) else {
        return Err(Harm::Torn);
    };
    if h != head(len, place) || len as usize > PAYLOAD_MAX {
        return Err(Harm::Corrupt);
    }
    let end = 8 + len as usize;
    let Some(sum) = bytes.get(end..end + 8) else {
        return Err(Harm::Torn);
    };
    if bytes.len() != end + 8 {
        return Err(Harm::Corrupt);
    }
    let payload = &bytes[8..end];
    let mut s = [0u8; 8];
    s.copy_from_slice(sum);
    if u64::from_le_bytes(s) != checksum(payload, place) {
        return Err(Harm::Corrupt);
    }
    Ok(payload)
}

/// The payload as the bytes spell it, checking nothing (what a store without checksums
/// reads): the length field (zeros where the bytes end) clamped to the bytes there.
pub fn payload_naive(bytes: &[u8]) -> &[u8] {
    let len = le_u32(bytes, 0).unwrap_or(0) as usize;
    let from = bytes.len().min(8);
    let to = from.saturating_add(len).min(bytes.len());
    &bytes[from..to]
}

/// Appends fields to a payload.
#[derive(Debug, Default)]
pub struct Writer {
    /// The bytes so far.
    pub bytes: Vec<u8>,
}

impl Writer {
    /// One byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes.push(v);
        self
    }
    /// A 32-bit number, little-endian.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A 64-bit number, little-endian.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A string: its length (32 bits) and its bytes.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.u32(s.len() as u32);
        self.bytes.extend_from_slice(s.as_bytes());
        self
    }
}

/// Reads fields from a payload, total: past the end it reads zeros, a string's length is
/// clamped to the bytes left, and bytes that are not UTF-8 are replaced. Decoding damaged
/// bytes with it gives what a store that trusts its disk would believe.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// Reads `bytes` from the start.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, b) in out.iter_mut().enumerate() {
            *b = self.bytes.get(self.at + i).copied().unwrap_or(0);
        }
        self.at = self.at.saturating_add(N);
        out
    }
    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    /// A 32-bit number.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    /// A 64-bit number.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    /// A string.
    pub fn str(&mut self) -> String {
        let len = self.u32() as usize;
        let from = self.at.min(self.bytes.len());
        let to = from.saturating_add(len).min(self.bytes.len());
        self.at = self.at.saturating_add(len);
        String::from_utf8_lossy(&self.bytes[from..to]).into_owned()
    }
    /// Whether every byte was read and no read went past the end.
    pub fn exact(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// Two cells that hold a checkpoint alternately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copies {
    /// The two cells' names (`base#1`, `base#2`, so the fault atlas knows them as copies).
    pub names: [&'static str; 2],
}

/// One copy as recovery read it: its sequence number and what it holds, or nothing usable.
pub type CopyRead<T> = Option<(u64, T)>;

impl Copies {
    /// The copies `ckpt#1` and `ckpt#2`.
    pub const CKPT: Copies = Copies {
        names: ["ckpt#1", "ckpt#2"],
    };

    /// The copy the next checkpoint overwrites: the one that does not hold the newest durable
    /// checkpoint (`newest`, an index into `names`), so that one is never at risk.
    pub fn next(&self, newest: Option<usize>) -> usize {
        match newest {
            Some(i) => 1 - (i & 1),
            None => 0,
        }
    }

    /// The whole copy with the highest sequence number, by index.
    pub fn newest<T>(&self, copies: [CopyRead<T>; 2]) -> Option<(usize, u64, T)> {
        let [a, b] = copies;
        match (a, b) {
            (Some((sa, ta)), Some((sb, tb))) => {
                Some(if sb > sa { (1, sb, tb) } else { (0, sa, ta) })
            }
            (Some((s, t)), None) => Some((0, s, t)),
            (None, Some((s, t))) => Some((1, s, t)),
            (None, None) => None,
        }
    }
}

/// How far the log's front may be discarded, given the LSN each copy's *durable* checkpoint
/// covers up to (`None`: that copy holds none): only up to the older of the two, and only
/// once both copies hold one. Either copy alone then recovers everything with the log.
pub fn discard_point(durable_upto: [Option<u64>; 2]) -> Option<u64> {
    match durable_upto {
        [Some(a), Some(b)] => Some(a.min(b)),
        _ => None,
    }
}

/// What replay does with a record, given the LSN the state needs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The record is the next one: apply it.
    Apply,
    /// The state already holds it (a checkpoint did, or an earlier replay): skip it.
    Skip,
    /// Records between are missing: the state cannot reach this one.
    Gap,
}

/// The replay rule: apply record `lsn` only if it is `next`, the one the state lacks.
/// Applying a log twice is then the same as applying it once.
pub fn replay_step(lsn: u64, next: u64) -> Step {
    match lsn.cmp(&next) {
        std::cmp::Ordering::Equal => Step::Apply,
        std::cmp::Ordering::Less => Step::Skip,
        std::cmp::Ordering::Greater => Step::Gap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8], place: Place) -> Vec<u8> {
        let mut out = Vec::new();
        seal(payload, place, &mut out);
        out
    }

    #[test]
    fn a_whole_frame_reads_back_at_its_own_place_only() {
        let f = frame(b"hello", Place::Record(3));
        assert_eq!(f.len(), 5 + FRAME_BYTES);
        assert_eq!(unseal(&f, Place::Record(3)), Some(&b"hello"[..]));
        assert_eq!(read(Some(&f), Place::Record(4)), Err(Harm::Corrupt));
        assert_eq!(read(Some(&f), Place::Cell("ckpt#1")), Err(Harm::Corrupt));
        let c = frame(b"x", Place::Cell("ckpt#1"));
        assert_eq!(read(Some(&c), Place::Cell("ckpt#2")), Err(Harm::Corrupt));
        assert!(unseal(&c, Place::Cell("ckpt#1")).is_some());
    }

    #[test]
    fn torn_corrupt_zeroed_and_unreadable_frames_are_told_apart() {
        let place = Place::Record(7);
        let f = frame(b"some payload", place);
        for keep in 1..f.len() {
            assert_eq!(
                read(Some(&f[..keep]), place),
                Err(Harm::Torn),
                "prefix {keep}"
            );
        }
        for bit in 0..f.len() * 8 {
            let mut g = f.clone();
            g[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(read(Some(&g), place), Err(Harm::Corrupt), "bit {bit}");
        }
        assert_eq!(read(Some(&vec![0; f.len()]), place), Err(Harm::Corrupt));
        assert_eq!(read(None, place), Err(Harm::Unreadable));
    }

    #[test]
    fn naive_reads_spell_what_the_bytes_say() {
        let f = frame(b"abcdef", Place::Record(0));
        assert_eq!(payload_naive(&f), b"abcdef");
        assert_eq!(payload_naive(&f[..11]), b"abc");
        assert_eq!(payload_naive(&[]), b"");
        let mut w = Writer::default();
        w.u8(1).u64(42).str("k0").u32(9);
        let mut r = Reader::new(&w.bytes);
        assert_eq!((r.u8(), r.u64(), r.str(), r.u32()), (1, 42, "k0".into(), 9));
        assert!(r.exact());
        let mut short = Reader::new(&w.bytes[..14]);
        assert_eq!((short.u8(), short.u64(), short.str()), (1, 42, "k".into()));
        assert!(!short.exact());
    }

    #[test]
    fn checkpoints_alternate_and_the_log_keeps_what_either_copy_needs() {
        let c = Copies::CKPT;
        assert_eq!(c.next(None), 0);
        assert_eq!(c.next(Some(0)), 1);
        assert_eq!(c.next(Some(1)), 0);
        assert_eq!(
            c.newest([Some((4, 'a')), Some((5, 'b'))]),
            Some((1, 5, 'b'))
        );
        assert_eq!(c.newest([Some((6, 'a')), None]), Some((0, 6, 'a')));
        assert_eq!(c.newest::<char>([None, None]), None);
        assert_eq!(discard_point([Some(10), None]), None);
        assert_eq!(discard_point([Some(10), Some(25)]), Some(10));
        assert_eq!(replay_step(3, 3), Step::Apply);
        assert_eq!(replay_step(2, 3), Step::Skip);
        assert_eq!(replay_step(5, 3), Step::Gap);
    }
}
