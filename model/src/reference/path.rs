//! Path rules, per operation, as the ZooKeeper 3.8 server applies them (not as the Java client
//! does: the client rejects bad paths itself before sending).
//!
//! - create: the parent is looked up *before* the full path is validated, so `/b/` with `/b`
//!   missing is NoNode, not BadArguments.
//! - delete: no syntax check at all, only "has a `/`, has no NUL, is not reserved".
//! - setData / check: full syntax check.
//! - reads: no check; `""` reads as the root.

/// The paths the server refuses to delete (they exist on every real server). Under a chroot the
/// server sees other paths, so only a real server's root has them (see `Tree::is_reserved`).
pub const RESERVED: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

/// True for a reserved path.
pub fn is_reserved(path: &str) -> bool {
    RESERVED.contains(&path)
}

/// ZooKeeper's `PathUtils.validatePath`: absolute, no empty or relative (`.`, `..`) components,
/// no trailing `/` (except the root itself), no NUL, no control or otherwise forbidden
/// characters. Checked on UTF-16 code units as Java does, so every character outside the
/// Basic Multilingual Plane (encoded as surrogates) is rejected.
pub fn is_valid(path: &str) -> bool {
    // An ASCII string's UTF-16 code units are its bytes: check those in place (no allocation,
    // the common case); anything else is encoded first.
    if path.is_ascii() {
        valid_units(path.as_bytes())
    } else {
        valid_units(&path.encode_utf16().collect::<Vec<u16>>())
    }
}

/// [`is_valid`] on the path's UTF-16 code units (`u8` for an ASCII path, whose bytes are its
/// code units).
fn valid_units<U: Copy + Into<u16>>(units: &[U]) -> bool {
    let unit = |i: usize| -> u16 { units[i].into() };
    if units.is_empty() || unit(0) != u16::from(b'/') {
        return false;
    }
    if units.len() == 1 {
        return true;
    }
    if unit(units.len() - 1) == u16::from(b'/') {
        return false;
    }
    let slash = u16::from(b'/');
    let dot = u16::from(b'.');
    for i in 1..units.len() {
        let c = unit(i);
        let last = unit(i - 1);
        let next_ends_component = i + 1 == units.len() || unit(i + 1) == slash;
        if c == 0 {
            return false;
        }
        if c == slash && last == slash {
            return false; // empty component
        }
        if c == dot && last == dot && i >= 2 && unit(i - 2) == slash && next_ends_component {
            return false; // ".."
        }
        if c == dot && last == slash && next_ends_component {
            return false; // "."
        }
        let forbidden = (0x0001..=0x001f).contains(&c)
            || (0x007f..=0x009f).contains(&c)
            || (0xd800..=0xf8ff).contains(&c)
            || (0xfff0..=0xffff).contains(&c);
        if forbidden {
            return false;
        }
    }
    true
}

/// The parent a create or delete addresses: everything before the last `/` (`""` for a child of
/// the root, which the tree stores as `/`). `None` when the server answers BadArguments outright:
/// no `/` at all, or a NUL anywhere.
pub fn write_parent(path: &str) -> Option<&str> {
    if path.bytes().any(|b| b == 0) {
        return None;
    }
    Some(&path[..last_slash(path)?])
}

/// The byte index of the last `/`. A plain byte loop (paths are short; `str::rfind` costs a
/// few hundred instructions a call here): `/` is ASCII, so no other character's UTF-8 holds its
/// byte and the index is a character boundary.
fn last_slash(path: &str) -> Option<usize> {
    path.bytes().rposition(|b| b == b'/')
}

/// The key the tree stores a path under: the server keeps the root under both `""` and `/`.
pub fn key(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

/// The last component of a valid, non-root path.
pub fn name(path: &str) -> &str {
    &path[last_slash(path).expect("a valid path has a '/'") + 1..]
}

/// The parent of a valid, non-root path, as stored in the tree.
pub fn parent(path: &str) -> &str {
    key(&path[..last_slash(path).expect("a valid path has a '/'")])
}

/// The proper ancestors of a valid path, nearest first, ending with `/` (empty for the root).
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = if path == "/" { None } else { Some(path) };
    std::iter::from_fn(move || {
        let p = rest?;
        let up = parent(p);
        rest = if up == "/" { None } else { Some(up) };
        Some(up)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_matches_the_probes() {
        for ok in ["/", "/a", "/.a", "/a..b", "/...", "/a b", "/a/b", "/\u{d7ff}"] {
            assert!(is_valid(ok), "{ok:?} should be valid");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//a",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/../b",
            "/a\0",
            "/\u{1}",
            "/\u{7f}",
            "/\u{9f}",
            "/\u{fff0}",
            "/\u{1f600}",
        ] {
            assert!(!is_valid(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn ascii_fast_path_agrees_with_utf16() {
        // Every ASCII string of length ≤ 4 over the characters that matter to the rules.
        let alphabet = [b'/', b'.', b'a', 0u8, 0x1f, 0x7f];
        let mut strings: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..4 {
            let longer: Vec<Vec<u8>> =
                strings.iter().flat_map(|s| alphabet.iter().map(move |&c| [s.clone(), vec![c]].concat())).collect();
            strings.extend(longer);
        }
        for bytes in strings {
            let s = std::str::from_utf8(&bytes).expect("ASCII");
            let units: Vec<u16> = s.encode_utf16().collect();
            assert_eq!(valid_units(s.as_bytes()), valid_units(&units), "{s:?}");
        }
    }

    #[test]
    fn byte_searches_agree_with_str_searches() {
        for p in ["/", "/a", "/a/b", "a", "", "/a\0/b", "/é/ü", "/a/", "//", "/x/\u{1f600}/y"] {
            let want = if p.contains('\0') { None } else { p.rfind('/').map(|i| &p[..i]) };
            assert_eq!(write_parent(p), want, "{p:?}");
            if let Some(i) = p.rfind('/') {
                assert_eq!(name(p), &p[i + 1..], "{p:?}");
                assert_eq!(parent(p), key(&p[..i]), "{p:?}");
            }
        }
    }

    #[test]
    fn ancestors_walk_to_the_root() {
        assert_eq!(ancestors("/a/b/c").collect::<Vec<_>>(), vec!["/a/b", "/a", "/"]);
        assert_eq!(ancestors("/a").collect::<Vec<_>>(), vec!["/"]);
        assert_eq!(ancestors("/").count(), 0);
        assert_eq!(write_parent("/a"), Some(""));
        assert_eq!(write_parent("a"), None);
        assert_eq!(parent("/a"), "/");
    }
}
