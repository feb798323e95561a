//! Our own pinned 64-bit hash, used for run fingerprints and anywhere a stable hash is needed.
//!
//! std's `DefaultHasher` may change between Rust releases; this one may not. Integers are fed
//! as values (not native-endian bytes), so the result is the same on every platform. A test
//! pins the output for fixed inputs.

use std::hash::{BuildHasherDefault, Hasher};

/// A streaming 64-bit hasher. Each word is mixed with its position by one 64×64→128-bit
/// folded multiply (the halves xored, as in wyhash-style hashes) and the results are summed,
/// so consecutive words do not wait on each other; `finish` scrambles the sum with the
/// SplitMix64 finalizer. Order matters through the positions.
#[derive(Clone, Copy, Debug)]
pub struct StableHasher {
    state: u64,
    words: u64,
}

/// A `BuildHasher` for collections that must not depend on a random seed.
pub type StableBuildHasher = BuildHasherDefault<StableHasher>;

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher {
            state: 0x6A09_E667_F3BC_C908,
            words: 0,
        }
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const FOLD_XOR: u64 = 0xA076_1D64_78BD_642F;
const FOLD_MUL: u64 = 0xE703_7ED1_A0B4_28DB;

impl StableHasher {
    /// Folds one 64-bit word into the state.
    #[inline]
    pub fn word(&mut self, w: u64) {
        let position = self.words.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let m =
            u128::from(w ^ FOLD_XOR ^ position) * u128::from(FOLD_MUL ^ position.rotate_left(32));
        self.state = self.state.wrapping_add((m as u64) ^ ((m >> 64) as u64));
        self.words = self.words.wrapping_add(1);
    }

    /// Folds a string (its bytes and its length).
    pub fn text(&mut self, s: &str) {
        self.write(s.as_bytes());
    }
}

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        mix(self.state ^ self.words.rotate_left(17))
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        self.word(u64::from_le_bytes(w) ^ ((bytes.len() as u64) << 56));
    }

    fn write_u8(&mut self, i: u8) {
        self.word(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.word(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.word(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.word(i);
    }
    fn write_u128(&mut self, i: u128) {
        self.word(i as u64);
        self.word((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.word(i as u64);
    }
    fn write_i8(&mut self, i: i8) {
        self.word(i as u64);
    }
    fn write_i16(&mut self, i: i16) {
        self.word(i as u64);
    }
    fn write_i32(&mut self, i: i32) {
        self.word(i as u64);
    }
    fn write_i64(&mut self, i: i64) {
        self.word(i as u64);
    }
    fn write_i128(&mut self, i: i128) {
        self.write_u128(i as u128);
    }
    fn write_isize(&mut self, i: isize) {
        self.word(i as u64);
    }
}

/// Hashes one value with [`StableHasher`].
pub fn stable_hash<T: std::hash::Hash + ?Sized>(value: &T) -> u64 {
    let mut h = StableHasher::default();
    value.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the hash. Changing it silently would change every recorded fingerprint.
    #[test]
    fn hash_is_pinned() {
        assert_eq!(stable_hash(&0u64), PINNED_ZERO);
        assert_eq!(stable_hash("faultline"), PINNED_TEXT);
        assert_eq!(stable_hash(&(1u32, 2u8, "x")), PINNED_TUPLE);
    }

    const PINNED_ZERO: u64 = 16843855796719169178;
    const PINNED_TEXT: u64 = 2932704235938578439;
    const PINNED_TUPLE: u64 = 7815221670074253597;

    #[test]
    fn order_and_length_matter() {
        assert_ne!(stable_hash(&(1u64, 2u64)), stable_hash(&(2u64, 1u64)));
        assert_ne!(stable_hash(&[0u8; 3][..]), stable_hash(&[0u8; 4][..]));
        assert_ne!(stable_hash("ab"), stable_hash("a"));
    }
}
