//! A map key for names and paths that keeps short strings inside the key itself.
//!
//! The tree's child maps are searched on every transaction and read; with
//! `String` keys each comparison chases a pointer to a separate allocation, which on a large
//! model is a cache miss per step of the search. Names up to [`INLINE`] bytes (every name and
//! most paths in practice) are stored inline instead, and two inline keys compare as three
//! machine words rather than through `memcmp`. Ordering and equality are those of the bytes,
//! exactly as for `String`. Maps are searched with a `Key::new(name)` built on the stack (no
//! allocation for inline names).

use std::cmp::Ordering;

/// The longest string kept inline (the key is 24 bytes, as a `String` is).
pub const INLINE: usize = 22;

#[derive(Clone, Debug)]
pub enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Key {
    pub fn new(s: &str) -> Key {
        let b = s.as_bytes();
        if b.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..b.len()].copy_from_slice(b);
            Key::Inline { len: b.len() as u8, bytes }
        } else {
            Key::Heap(b.into())
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..*len as usize],
            Key::Heap(b) => b,
        }
    }

    /// The string it was made from (always valid UTF-8: built from a `&str`).
    #[cfg(test)]
    pub fn to_string_lossless(&self) -> String {
        String::from_utf8(self.as_bytes().to_vec()).expect("a key is built from a str")
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    #[inline]
    fn cmp(&self, other: &Key) -> Ordering {
        match (self, other) {
            // Zero-padded big-endian words order as the bytes do; on a tie the shorter string
            // is a prefix of the other (padding only ever meets padding or NUL), so it is less.
            (Key::Inline { len: la, bytes: a }, Key::Inline { len: lb, bytes: b }) => {
                words(a).cmp(&words(b)).then(la.cmp(lb))
            }
            _ => self.as_bytes().cmp(other.as_bytes()),
        }
    }
}

/// A key borrows as its bytes: its order, equality and hash are the bytes' (see `Ord` above),
/// so a map keyed by [`Key`] can be searched with a byte string (see [`KeyMap`]).
impl std::borrow::Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// Searches a map keyed by [`Key`] with a `&str`, allocating nothing: a short string is looked
/// up as an inline key built on the stack (compared word by word), a longer one by its bytes
/// (building its key would allocate a copy just to compare it).
pub trait KeyMap<V> {
    fn get_str(&self, s: &str) -> Option<&V>;
    fn get_str_mut(&mut self, s: &str) -> Option<&mut V>;
    fn remove_str(&mut self, s: &str) -> Option<V>;
}

impl<V> KeyMap<V> for std::collections::BTreeMap<Key, V> {
    #[inline]
    fn get_str(&self, s: &str) -> Option<&V> {
        if s.len() <= INLINE {
            self.get(&Key::new(s))
        } else {
            self.get(s.as_bytes())
        }
    }

    #[inline]
    fn get_str_mut(&mut self, s: &str) -> Option<&mut V> {
        if s.len() <= INLINE {
            self.get_mut(&Key::new(s))
        } else {
            self.get_mut(s.as_bytes())
        }
    }

    #[inline]
    fn remove_str(&mut self, s: &str) -> Option<V> {
        if s.len() <= INLINE {
            self.remove(&Key::new(s))
        } else {
            self.remove(s.as_bytes())
        }
    }
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

/// An inline key's bytes as big-endian words, zero-padded.
#[inline]
fn words(b: &[u8; INLINE]) -> [u64; 3] {
    let mut padded = [0u8; 24];
    padded[..INLINE].copy_from_slice(b);
    let w = |i: usize| u64::from_be_bytes(padded[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    [w(0), w(1), w(2)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_lookups_find_what_key_lookups_find() {
        let names = ["a", "b", &"x".repeat(22), &"x".repeat(23), &"y".repeat(40), "s-0000000001"];
        let mut m: std::collections::BTreeMap<Key, usize> =
            names.iter().enumerate().map(|(i, n)| (Key::new(n), i)).collect();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(m.get_str(n), Some(&i));
            assert_eq!(m.get_str_mut(n).map(|v| *v), Some(i));
        }
        for absent in ["", "c", &"x".repeat(24), &"y".repeat(39)] {
            assert_eq!(m.get_str(absent), None);
        }
        assert_eq!(m.remove_str(&"y".repeat(40)), Some(4));
        assert_eq!(m.remove_str("a"), Some(0));
        assert_eq!(m.len(), names.len() - 2);
    }

    #[test]
    fn orders_and_compares_as_the_string_does() {
        let long = ["x".repeat(21), "x".repeat(22), "x".repeat(23), format!("{}a", "x".repeat(22))];
        let mut strings = vec!["", "a", "a\0", "a\0b", "a!", "a/b", "a0", "b", "s-0000000001", "s-0000000010", "y"];
        strings.extend(long.iter().map(String::as_str));
        for a in &strings {
            assert_eq!(Key::new(a).to_string_lossless(), *a);
            for b in &strings {
                assert_eq!(Key::new(a).cmp(&Key::new(b)), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(Key::new(a) == Key::new(b), a == b, "{a:?} vs {b:?}");
            }
        }
    }
}
