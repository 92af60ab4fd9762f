//! A map from full paths to values, looked up by hash: the data tree's node table.
//!
//! Every replica applies every txn, and each txn looks up a few paths; in an ordered map that
//! was ~25 string compares per lookup over paths that share long prefixes (`/queue/item-00000…`),
//! ~6% of a standard seed's instructions. Here a lookup hashes the path once.
//!
//! Determinism: the table is the model's [`LookupMap`] (a fixed hasher, not seeded), walked
//! only in path order ([`PathIndex::sorted`]) or by an order-independent mutation
//! ([`PathIndex::for_each_value_mut`]), so no behaviour or output can depend on hash order.

use std::sync::Arc;
use zksim_model::lookup::LookupMap;

/// Values by full path. `Clone` copies the table and bumps each key's and value's count: with
/// `Arc` values, a snapshot shares every node until it changes.
#[derive(Clone)]
pub struct PathIndex<V>(LookupMap<Arc<str>, V>);

impl<V> Default for PathIndex<V> {
    fn default() -> Self {
        PathIndex(LookupMap::default())
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
        self.0.sorted().into_iter().map(|(p, v)| (&**p, v)).collect()
    }

    /// Applies `f` to every value, in no particular order: `f` must not depend on the others.
    pub fn for_each_value_mut(&mut self, f: impl FnMut(&mut V)) {
        self.0.for_each_value_mut(f);
    }
}

/// Prints as a map in path order, so that debug output does not depend on hash order.
impl<V: std::fmt::Debug> std::fmt::Debug for PathIndex<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.sorted()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
