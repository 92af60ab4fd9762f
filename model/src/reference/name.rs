//! A map key for names and paths that keeps short strings inside the key itself.
//!
//! The tree's child maps and the watch tables are searched on every transaction and read; with
//! `String` keys each comparison chases a pointer to a separate allocation, which on a large
//! model is a cache miss per step of the search. Names up to [`INLINE`] bytes (every name and
//! most paths in practice) are stored inline instead. Ordering and equality are those of the
//! bytes, exactly as for `String`, and the key borrows as `[u8]` so maps are searched with
//! `name.as_bytes()` without building a key.

use std::borrow::Borrow;
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
    pub fn to_string_lossless(&self) -> String {
        String::from_utf8(self.as_bytes().to_vec()).expect("a key is built from a str")
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_and_compares_as_the_string_does() {
        let words = ["", "a", "a!", "a/b", "a0", "b", "s-0000000001", "s-0000000010", "x".repeat(22).leak(), "x".repeat(23).leak(), "y"];
        for a in words {
            assert_eq!(Key::new(a).to_string_lossless(), a);
            for b in words {
                assert_eq!(Key::new(a).cmp(&Key::new(b)), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(Key::new(a) == Key::new(b), a == b);
                assert_eq!(Key::new(a).as_bytes().cmp(b.as_bytes()), a.cmp(b));
            }
        }
    }
}
