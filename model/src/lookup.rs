//! A hash map for lookups only: [`LookupMap`] has no way to walk it in hash order (only
//! [`LookupMap::sorted`], in key order), so that order can never reach a verdict, a report or a
//! model state's comparison; and it hashes with
//! [`FxHasher`], a fixed function (no per-process random seed), so even its cost is the same on
//! every run. Use it where a map is only ever searched by key (a path, a session and a path);
//! keep ordered maps wherever the order of entries matters.

// The one place the crate uses std's HashMap: never walked in hash order (see above).
#![allow(clippy::disallowed_types)]

use std::borrow::Borrow;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// The hash rustc uses for its own tables ("FxHash"): per word, rotate, xor in, multiply. Fast
/// on short keys and fixed (seedless), which is all a lookup table needs.
#[derive(Clone, Copy, Default)]
pub struct FxHasher(u64);

const K: u64 = 0x517c_c1b7_2722_0a95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    /// With a final mix: the table picks a bucket by the hash's low bits, and FxHash's low bits
    /// depend only on the inputs' low bits, so paths differing in their last digits
    /// (`/queue/item-0000000012`, `…13`) shared a few dozen buckets out of thousands.
    #[inline]
    fn finish(&self) -> u64 {
        let h = (self.0 ^ (self.0 >> 32)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^ (h >> 29)
    }
}

/// A hash map searched by key only (no iteration in hash order: see the module doc). Equality
/// is the maps' (order-free); `Debug` lists the entries in key order.
#[derive(Clone)]
pub struct LookupMap<K, V>(HashMap<K, V, BuildHasherDefault<FxHasher>>);

impl<K: Hash + Eq, V: PartialEq> PartialEq for LookupMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<K: Hash + Eq, V: Eq> Eq for LookupMap<K, V> {}

impl<K: Hash + Eq + Ord + std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for LookupMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.sorted()).finish()
    }
}

impl<K, V> Default for LookupMap<K, V> {
    fn default() -> Self {
        LookupMap(HashMap::default())
    }
}

impl<K: Hash + Eq, V> LookupMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    pub fn get<Q: Hash + Eq + ?Sized>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.0.get(k)
    }

    #[inline]
    pub fn get_mut<Q: Hash + Eq + ?Sized>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.0.get_mut(k)
    }

    #[inline]
    pub fn contains_key<Q: Hash + Eq + ?Sized>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.0.contains_key(k)
    }

    #[inline]
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        self.0.insert(k, v)
    }

    #[inline]
    pub fn remove<Q: Hash + Eq + ?Sized>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.0.remove(k)
    }

    #[inline]
    pub fn entry(&mut self, k: K) -> Entry<'_, K, V> {
        self.0.entry(k)
    }

    /// Every entry, sorted by key: the one way to walk the map, for checks and debugging (it
    /// sorts, so it is no hot path).
    pub fn sorted(&self) -> Vec<(&K, &V)>
    where
        K: Ord,
    {
        let mut all: Vec<(&K, &V)> = self.0.iter().collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all
    }

    /// Applies `f` to every value, in no particular order: `f` must not depend on the others
    /// or on the order.
    pub fn for_each_value_mut(&mut self, f: impl FnMut(&mut V)) {
        self.0.values_mut().for_each(f);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_put_and_hashes_the_same_every_time() {
        let mut m: LookupMap<String, usize> = LookupMap::new();
        let keys = ["", "/", "/a", "/a/b", "/queue/item-0000000001", &"x".repeat(40)];
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.insert(k.to_string(), i), None);
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.get(*k), Some(&i));
        }
        assert_eq!(m.remove("/a"), Some(2));
        assert!(!m.contains_key("/a"));
        assert_eq!(m.len(), keys.len() - 1);
        let h = |s: &str| {
            let mut h = FxHasher::default();
            s.hash(&mut h);
            h.finish()
        };
        // Fixed: no per-process seed.
        assert_eq!(h("/a/b"), h("/a/b"));
        assert_ne!(h("/a/b"), h("/a/c"));
    }

    /// Sequential children differ only in their last digits; their hashes must still differ in
    /// the low bits the table uses to pick a bucket.
    #[test]
    fn sequential_paths_spread_over_buckets() {
        let n = 4096u64;
        let hash = |s: &str| {
            let mut h = FxHasher::default();
            s.hash(&mut h);
            h.finish()
        };
        let buckets: std::collections::BTreeSet<u64> =
            (0..n).map(|i| hash(&format!("/queue/item-{i:010}")) % n).collect();
        // A uniform hash fills ~63% of n buckets with n keys; a clustered one far fewer.
        assert!(buckets.len() as u64 > n / 2, "{} of {n} buckets used", buckets.len());
    }
}
