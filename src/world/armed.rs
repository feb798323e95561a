//! The timers a node or client has armed: name to generation, in name order.
//!
//! A host holds a handful at a time, and arms and disarms one on most events. A sorted `Vec`
//! keeps its capacity when the last timer fires, where a `BTreeMap` would free its node and
//! allocate a new one when the next is armed; lookups are a binary search over a few entries.

/// Armed timers: name to generation, sorted by name.
#[derive(Clone, Debug)]
pub(crate) struct Armed<K> {
    entries: Vec<(K, u64)>,
}

impl<K> Default for Armed<K> {
    fn default() -> Self {
        Armed {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord> Armed<K> {
    #[inline]
    fn find(&self, name: &K) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(name))
    }

    /// The generation `name` is armed with, if it is.
    #[inline]
    pub fn get(&self, name: &K) -> Option<&u64> {
        self.find(name).ok().map(|i| &self.entries[i].1)
    }

    /// Arms `name` with `generation` (re-arming replaces the old generation).
    #[inline]
    pub fn insert(&mut self, name: K, generation: u64) {
        match self.find(&name) {
            Ok(i) => self.entries[i].1 = generation,
            Err(i) => self.entries.insert(i, (name, generation)),
        }
    }

    /// Disarms `name`.
    #[inline]
    pub fn remove(&mut self, name: &K) {
        if let Ok(i) = self.find(name) {
            self.entries.remove(i);
        }
    }

    /// Disarms every timer.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Timers armed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Against a `BTreeMap`, the structure it replaces: the same answers and the same order.
    #[test]
    fn behaves_like_an_ordered_map() {
        let mut a = Armed::default();
        let mut b = BTreeMap::new();
        let mut x = 7u64;
        for step in 0..4_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let name = x % 11;
            match x % 5 {
                0 | 1 => {
                    a.insert(name, step);
                    b.insert(name, step);
                }
                2 => {
                    a.remove(&name);
                    b.remove(&name);
                }
                3 if step % 97 == 0 => {
                    a.clear();
                    b.clear();
                }
                _ => {}
            }
            assert_eq!(a.get(&name), b.get(&name));
            assert_eq!(a.len(), b.len());
            assert!(a.keys().eq(b.keys()));
        }
    }
}
