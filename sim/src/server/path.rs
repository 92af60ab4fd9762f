//! ZooKeeper's path rules, as the server applies them (`PathUtils.validatePath` and the
//! `PrepRequestProcessor` helpers). Clients may send anything; the server answers with errors,
//! and each operation checks a different amount (probes md §5), so the helpers are separate.

/// The root's key in the tree.
pub const ROOT: &str = "/";

/// The nodes a fresh server has besides the root, which nobody may delete.
pub const SYSTEM_PATHS: [&str; 3] = ["/zookeeper", "/zookeeper/config", "/zookeeper/quota"];

/// Checks `path` the way ZooKeeper's `PathUtils.validatePath` does; `Err` names the reason.
///
/// Java looks at UTF-16 code units, so every character outside the BMP (a surrogate pair) is
/// rejected, as is the private-use block U+E000–U+F8FF.
pub fn validate(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("path length must be > 0");
    }
    if !path.starts_with('/') {
        return Err("path must start with / character");
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err("path must not end with / character");
    }
    // Printable ASCII (nearly every path) needs no character checks: only the components'.
    if path.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return validate_components(path);
    }
    for component in path[1..].split('/') {
        match component {
            "" => return Err("empty node name specified"),
            "." | ".." => return Err("relative paths not allowed"),
            _ => {}
        }
        for c in component.chars() {
            let u = c as u32;
            let invalid = u == 0
                || (0x01..=0x1f).contains(&u)
                || (0x7f..=0x9f).contains(&u)
                || (0xd800..=0xf8ff).contains(&u)
                || u >= 0xfff0;
            if invalid {
                return Err("invalid character");
            }
        }
    }
    Ok(())
}

/// `validate`'s component rules for a path of printable ASCII that starts with `/`, has more than
/// one character and does not end with `/`: no empty, `.` or `..` component. One pass over the
/// bytes (a `split` costs a searcher per component; this runs for every create on every replica).
fn validate_components(path: &str) -> Result<(), &'static str> {
    let bytes = path.as_bytes();
    let mut start = 1;
    for i in 1..=bytes.len() {
        if i < bytes.len() && bytes[i] != b'/' {
            continue;
        }
        match &bytes[start..i] {
            b"" => return Err("empty node name specified"),
            b"." | b".." => return Err("relative paths not allowed"),
            _ => {}
        }
        start = i + 1;
    }
    Ok(())
}

/// The key a read uses: ZooKeeper stores the root under both `""` and `"/"`, so `""` reads as
/// the root. Nothing else is normalised: `/a/` is simply a missing node.
pub fn lookup_key(path: &str) -> &str {
    if path.is_empty() {
        ROOT
    } else {
        path
    }
}

/// The raw parent of `path` as ZooKeeper's `path.substring(0, lastIndexOf('/'))`, mapped to the
/// root key when empty. `None` when the path has no slash at all.
pub fn raw_parent(path: &str) -> Option<&str> {
    let slash = path.rfind('/')?;
    Some(lookup_key(&path[..slash]))
}

/// The last component of a path (what the parent lists as its child).
pub fn name(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// `parent` + `/` + `name`, without doubling the root's slash.
pub fn join(parent: &str, name: &str) -> String {
    if parent == ROOT {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// The proper ancestors of a valid path, nearest first, ending with the root.
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut cur = if path == ROOT || path.is_empty() { None } else { Some(path) };
    std::iter::from_fn(move || {
        let p = cur?;
        let parent = raw_parent(p)?;
        cur = if parent == ROOT || parent == p { None } else { Some(parent) };
        Some(parent)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_follows_java_rules() {
        for ok in ["/", "/a", "/a/b", "/.a", "/a..b", "/...", "/a b", "/\u{d7ff}", "/zookeeper/x"] {
            assert_eq!(validate(ok), Ok(()), "{ok:?} must be valid");
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
            "/a\0b",
            "/a\u{1}",
            "/\u{7f}",
            "/\u{9f}",
            "/\u{fff0}",
            "/\u{e000}",
            "/\u{1f600}",
        ] {
            assert!(validate(bad).is_err(), "{bad:?} must be invalid");
        }
    }

    /// The one-pass component check agrees with the plain reading of the rules, on the paths it
    /// is called for (starting with `/`, longer than `/`, not ending with `/`).
    #[test]
    fn component_rules_agree_with_splitting() {
        fn by_split(path: &str) -> Result<(), &'static str> {
            for component in path[1..].split('/') {
                match component {
                    "" => return Err("empty node name specified"),
                    "." | ".." => return Err("relative paths not allowed"),
                    _ => {}
                }
            }
            Ok(())
        }
        proptest::proptest!(|(path in "/[a./]{0,7}[a.]")| {
            proptest::prop_assert_eq!(validate_components(&path), by_split(&path), "{:?}", path);
        });
    }

    #[test]
    fn parents_and_ancestors() {
        assert_eq!(raw_parent("/a"), Some("/"));
        assert_eq!(raw_parent("/a/b"), Some("/a"));
        assert_eq!(raw_parent("/a/"), Some("/a"));
        assert_eq!(raw_parent("//a"), Some("/"));
        assert_eq!(raw_parent("a"), None);
        assert_eq!(lookup_key(""), "/");
        assert_eq!(name("/a/b"), "b");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(ancestors("/a/b/c").collect::<Vec<_>>(), vec!["/a/b", "/a", "/"]);
        assert_eq!(ancestors("/").count(), 0);
    }
}
