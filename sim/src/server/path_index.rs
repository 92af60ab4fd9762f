//! A map from full paths to values, looked up by hash: the data tree's node table.
//!
//! Every replica applies every txn, and each txn looks up a few paths; in an ordered map that
//! was ~25 string compares per lookup over paths that share long prefixes (`/queue/item-00000…`),
//! ~6% of a standard seed's instructions. Here a lookup hashes the path once.
//!
//! Determinism: the hasher is fixed (not seeded), and the map can be walked only in path order
//! ([`PathIndex::sorted`]) or by an order-independent mutation ([`PathIndex::for_each_value_mut`]),
//! so no behaviour or output can depend on hash order. That is why std's `HashMap`, which
//! clippy.toml bans elsewhere, is allowed inside this module only.

#![allow(clippy::disallowed_types)]

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// FxHash over 8-byte words, with a final mix: path keys differ in their last bytes, and the
/// table picks buckets by the hash's low bits.
#[derive(Default, Clone, Copy)]
pub struct PathHasher(u64);

impl PathHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for PathHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("chunks of 8")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let h = (self.0 ^ (self.0 >> 32)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^ (h >> 29)
    }
}

/// Values by full path. `Clone` copies the table and bumps each key's and value's count: with
/// `Arc` values, a snapshot shares every node until it changes.
#[derive(Clone)]
pub struct PathIndex<V>(HashMap<Arc<str>, V, BuildHasherDefault<PathHasher>>);

impl<V> Default for PathIndex<V> {
    fn default() -> Self {
        PathIndex(HashMap::default())
    }
}

impl<V> PathIndex<V> {
    #[inline]
    pub fn get(&self, path: &str) -> Option<&V> {
        self.0.get(path)
    }

    #[inline]
    pub fn get_mut(&mut self, path: &str) -> Option<&mut V> {
        self.0.get_mut(path)
    }

    #[inline]
    pub fn contains_key(&self, path: &str) -> bool {
        self.0.contains_key(path)
    }

    /// Inserts or replaces; returns the value replaced.
    pub fn insert(&mut self, path: &str, value: V) -> Option<V> {
        self.0.insert(Arc::from(path), value)
    }

    pub fn remove(&mut self, path: &str) -> Option<V> {
        self.0.remove(path)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every entry, in path order. O(n log n): for checks, tests and debug output.
    pub fn sorted(&self) -> Vec<(&str, &V)> {
        let mut all: Vec<(&str, &V)> = self.0.iter().map(|(p, v)| (p.borrow(), v)).collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all
    }

    /// Applies `f` to every value, in no particular order: `f` must not depend on the others.
    pub fn for_each_value_mut(&mut self, f: impl FnMut(&mut V)) {
        self.0.values_mut().for_each(f);
    }
}

/// Prints as a map in path order, so that debug output does not depend on hash order.
impl<V: std::fmt::Debug> std::fmt::Debug for PathIndex<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.sorted()).finish()
    }
}

/// The hash of a path as this index computes it (for tests of the hasher's spread).
#[cfg(test)]
fn hash_of(path: &str) -> u64 {
    use std::hash::Hash;
    let mut h = PathHasher::default();
    path.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn sorted_walks_in_path_order_whatever_the_insertion_order() {
        let mut a = PathIndex::default();
        let mut b = PathIndex::default();
        let paths = ["/", "/a", "/a/b", "/a-", "/b", "/queue/item-0000000010", "/queue/item-0000000002"];
        for (i, p) in paths.iter().enumerate() {
            a.insert(p, i);
        }
        for (i, p) in paths.iter().enumerate().rev() {
            b.insert(p, i);
        }
        let order: Vec<&str> = a.sorted().into_iter().map(|(p, _)| p).collect();
        let mut expected = paths.to_vec();
        expected.sort_unstable();
        assert_eq!(order, expected);
        assert_eq!(a.sorted(), b.sorted());
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn lookups_insert_replace_and_remove() {
        let mut m = PathIndex::default();
        assert_eq!(m.insert("/x", 1), None);
        assert_eq!(m.insert("/x", 2), Some(1));
        assert!(m.contains_key("/x") && !m.contains_key("/x/"));
        *m.get_mut("/x").expect("present") += 1;
        assert_eq!(m.get("/x"), Some(&3));
        assert_eq!(m.remove("/x"), Some(3));
        assert!(m.is_empty());
    }

    /// Sequential children differ only in their last digits; their hashes must still differ in
    /// the low bits the table uses to pick a bucket.
    #[test]
    fn sequential_paths_spread_over_buckets() {
        let n = 4096u64;
        let buckets: BTreeSet<u64> = (0..n).map(|i| hash_of(&format!("/queue/item-{i:010}")) % n).collect();
        // A uniform hash fills ~63% of n buckets with n keys; a clustered one far fewer.
        assert!(buckets.len() as u64 > n / 2, "{} of {n} buckets used", buckets.len());
    }
}
