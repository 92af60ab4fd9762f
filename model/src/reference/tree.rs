//! The data tree: nested nodes (each owns its children by name), plus the index of ephemerals by
//! owner. Only three mutations exist (insert a leaf, remove a leaf, set data); each returns the
//! [`Undo`] that reverses it exactly, which is how a failed multi rolls back without copying the tree.

use super::node::{NodeKind, ZNode};
use super::path;
use crate::types::{Data, SessionId, Stat, Zxid};
use std::collections::{BTreeMap, BTreeSet};

/// How to reverse one mutation. Holds only what the mutation changed (the parent's create
/// counter and pzxid, the removed node, the replaced data and its bookkeeping), never a copy of
/// unchanged data.
#[derive(Clone, Debug)]
pub enum Undo {
    Inserted { path: String, parent_creates: i32, parent_pzxid: Zxid },
    Removed { path: String, node: ZNode, parent_pzxid: Zxid },
    SetData { path: String, data: Data, version: i32, mzxid: Zxid, mtime: i64 },
}

/// The nodes of the tree, nested from the root (each node owns its children by name).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tree {
    root: ZNode,
    ephemerals: BTreeMap<SessionId, BTreeSet<String>>,
    /// True for a real server's tree, whose root is the server's own `/` (holding `/zookeeper`…):
    /// only there are the system paths special (under a chroot the server sees
    /// `/chroot/zookeeper`), and only there is `""` the server's alias of the root.
    system_nodes: bool,
}

/// The names along a stored path below the root (`"/a/b"` → `a`, `b`); `None` for a string that
/// names no node (no leading `/`). Empty names never match a child, so malformed paths (`/a//b`,
/// `/a/`) find nothing, exactly as they never matched a stored path.
/// (`str::split` would do, but its char searcher costs ~90 instructions a component; a byte
/// search finds the same `/`s, ASCII being a UTF-8 character of its own.)
fn names(p: &str) -> Option<impl Iterator<Item = &str>> {
    let mut rest = Some(p.strip_prefix('/')?);
    Some(std::iter::from_fn(move || {
        let r = rest?;
        match r.bytes().position(|b| b == b'/') {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    }))
}

#[cfg(test)]
#[test]
fn names_split_as_str_split_does() {
    for p in ["/", "/a", "/a/b", "/a//b", "/a/", "//", "/é/ü/x", "a/b", ""] {
        let want: Option<Vec<&str>> = p.strip_prefix('/').map(|r| r.split('/').collect());
        assert_eq!(names(p).map(|n| n.collect::<Vec<_>>()), want, "{p:?}");
    }
}

/// The node at `path` below `root` (`""` is the root), mutably.
fn walk_mut<'t>(root: &'t mut ZNode, path: &str) -> Option<&'t mut ZNode> {
    let p = path::key(path);
    let mut node = root;
    if p != "/" {
        for name in names(p)? {
            node = node.children.get_mut(name)?;
        }
    }
    Some(node)
}

impl Tree {
    /// A tree holding only the root, with an all-zero Stat.
    pub fn new() -> Tree {
        Tree {
            root: ZNode::new(Data::text(""), NodeKind::Persistent, Zxid::ZERO, 0),
            ephemerals: BTreeMap::new(),
            system_nodes: false,
        }
    }

    /// Marks the root as a real server's own `/` (see the `system_nodes` field).
    pub fn set_system_nodes(&mut self) {
        self.system_nodes = true;
    }

    /// True for a real server's tree (see the `system_nodes` field).
    pub fn is_real_root(&self) -> bool {
        self.system_nodes
    }

    /// Paths delete refuses outright (`ZKDatabase.isSpecialPath`, compared with the path the
    /// server sees): the root, and on a real server's root the system paths.
    pub fn is_reserved(&self, path: &str) -> bool {
        path == "/" || (self.system_nodes && path::is_reserved(path))
    }

    /// getAllChildrenNumber (`DataTree.getAllChildrenNumber`): `/` counts every node but the
    /// root's two keys (`""` and `/`); any other path counts the node keys starting with
    /// `path + "/"`. For `""` on a real server's root that prefix is `/`, which the root's own `/`
    /// key matches too: one more than the nodes below it. `None` when the node is missing.
    pub fn all_children_number(&self, path: &str) -> Option<usize> {
        self.get(path)?;
        let extra = usize::from(path.is_empty() && self.system_nodes);
        Some(self.descendants(path::key(path)) + extra)
    }

    /// The node at `path` (`""` is the root).
    pub fn get(&self, path: &str) -> Option<&ZNode> {
        let p = path::key(path);
        let mut node = &self.root;
        if p != "/" {
            for name in names(p)? {
                node = node.children.get(name)?;
            }
        }
        Some(node)
    }

    /// Mutable access for the few places that build special trees (the fresh server's).
    pub fn get_mut(&mut self, path: &str) -> Option<&mut ZNode> {
        walk_mut(&mut self.root, path)
    }

    /// All nodes with their paths, in path order. Builds every path: for scans, not hot paths.
    pub fn iter(&self) -> impl Iterator<Item = (String, &ZNode)> {
        let mut out = vec![("/".to_string(), &self.root)];
        let mut next = 0;
        while next < out.len() {
            let (p, node) = (out[next].0.clone(), out[next].1);
            for (name, child) in node.children.nodes() {
                let full = if p == "/" { format!("/{name}") } else { format!("{p}/{name}") };
                out.push((full, child));
            }
            next += 1;
        }
        // Byte order of whole paths, as a map keyed by path would give ("/a!" before "/a/b").
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out.into_iter()
    }

    /// How many nodes lie strictly below the stored path `p`.
    pub fn descendants(&self, p: &str) -> usize {
        fn below(n: &ZNode) -> usize {
            n.children.nodes().map(|(_, c)| 1 + below(c)).sum()
        }
        self.get(p).map_or(0, below)
    }

    /// The paths of the ephemerals `s` owns, sorted.
    pub fn ephemerals_of(&self, s: SessionId) -> Vec<String> {
        self.ephemerals.get(&s).map(|set| set.iter().cloned().collect()).unwrap_or_default()
    }

    /// Inserts a new leaf at the valid, absent `path` whose parent exists; the parent counts a
    /// child create (the sequential counter) and takes `zxid` as pzxid.
    pub fn insert(&mut self, path: &str, node: ZNode, zxid: Zxid) -> Undo {
        assert!(path != "/" && path::is_valid(path), "insert: {path:?} must be a valid non-root path");
        assert!(node.children.is_empty(), "insert: a new node has no children");
        let owner = node.owner();
        let parent = self.get_mut(path::parent(path)).expect("insert: the parent exists");
        assert!(parent.owner().is_none(), "insert: ephemeral {path:?}'s parent cannot have children");
        let (parent_creates, parent_pzxid) = (parent.meta.creates, parent.meta.pzxid);
        parent.meta.creates = parent.meta.creates.wrapping_add(1);
        parent.meta.pzxid = parent.meta.pzxid.max(zxid);
        let fresh = parent.children.insert(path::name(path), node);
        assert!(fresh, "insert: {path:?} already exists");
        if let Some(s) = owner {
            self.ephemerals.entry(s).or_default().insert(path.to_string());
        }
        Undo::Inserted { path: path.to_string(), parent_creates, parent_pzxid }
    }

    /// [`Self::insert`] in one walk for a caller that checks the parent first (create): finds
    /// the node at `parent_path` (`missing` when absent), lets `make` look at it and either refuse
    /// (its error is returned and nothing changes) or give the new leaf's full path (a child of
    /// that parent) and the leaf, then inserts it exactly as `insert` would.
    pub fn insert_under<E>(
        &mut self,
        parent_path: &str,
        zxid: Zxid,
        missing: E,
        make: impl FnOnce(&ZNode) -> Result<(String, ZNode), E>,
    ) -> Result<(String, Undo), E> {
        let parent = walk_mut(&mut self.root, parent_path).ok_or(missing)?;
        let (path, node) = make(parent)?;
        // `make` validated the path (create's syntax check): not checked twice in release builds.
        debug_assert!(path != "/" && path::is_valid(&path), "insert: {path:?} must be a valid non-root path");
        assert_eq!(path::parent(&path), path::key(parent_path), "insert: {path:?} is a child of {parent_path:?}");
        assert!(node.children.is_empty(), "insert: a new node has no children");
        assert!(parent.owner().is_none(), "insert: ephemeral {path:?}'s parent cannot have children");
        let owner = node.owner();
        let (parent_creates, parent_pzxid) = (parent.meta.creates, parent.meta.pzxid);
        parent.meta.creates = parent.meta.creates.wrapping_add(1);
        parent.meta.pzxid = parent.meta.pzxid.max(zxid);
        let fresh = parent.children.insert(path::name(&path), node);
        assert!(fresh, "insert: {path:?} already exists");
        if let Some(s) = owner {
            self.ephemerals.entry(s).or_default().insert(path.clone());
        }
        let undo = Undo::Inserted { path: path.clone(), parent_creates, parent_pzxid };
        Ok((path, undo))
    }

    /// Removes the existing childless, non-root node at `path`; the parent takes `zxid` as pzxid.
    pub fn remove(&mut self, path: &str, zxid: Zxid) -> Undo {
        assert!(path != "/", "remove: the root is never removed");
        let parent = self.get_mut(path::parent(path)).expect("remove: the parent exists");
        let node = parent.children.remove(path::name(path)).expect("remove: the node exists");
        assert!(node.children.is_empty(), "remove: {path:?} must be childless");
        let parent_pzxid = parent.meta.pzxid;
        parent.meta.pzxid = parent.meta.pzxid.max(zxid);
        if let Some(s) = node.owner() {
            self.forget_ephemeral(s, path);
        }
        Undo::Removed { path: path.to_string(), node, parent_pzxid }
    }

    /// Replaces the data of the existing node at `path`, bumping its version (even for
    /// identical data) and mzxid/mtime. Also returns the node's new Stat (saving the caller a
    /// second walk to it).
    pub fn set_data(&mut self, path: &str, data: Data, zxid: Zxid, time_ms: i64) -> (Undo, Stat) {
        let node = self.get_mut(path).expect("set_data: the node exists");
        let m = &mut node.meta;
        let undo = Undo::SetData {
            path: path::key(path).to_string(),
            data: std::mem::replace(&mut m.data, data),
            version: m.version,
            mzxid: m.mzxid,
            mtime: m.mtime,
        };
        m.version = m.version.wrapping_add(1);
        m.mzxid = zxid;
        m.mtime = time_ms;
        (undo, node.stat())
    }

    /// Reverses one mutation; undos must be applied newest first.
    pub fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::Inserted { path, parent_creates, parent_pzxid } => {
                let parent = self.get_mut(path::parent(&path)).expect("undo insert: parent exists");
                parent.meta.creates = parent_creates;
                parent.meta.pzxid = parent_pzxid;
                let node = parent.children.remove(path::name(&path)).expect("undo insert: the node exists");
                assert!(node.children.is_empty(), "undo insert: {path:?} is still a leaf");
                if let Some(s) = node.owner() {
                    self.forget_ephemeral(s, &path);
                }
            }
            Undo::Removed { path, node, parent_pzxid } => {
                let owner = node.owner();
                let parent = self.get_mut(path::parent(&path)).expect("undo remove: parent exists");
                parent.meta.pzxid = parent_pzxid;
                let fresh = parent.children.insert(path::name(&path), node);
                assert!(fresh, "undo remove: {path:?} is absent");
                if let Some(s) = owner {
                    self.ephemerals.entry(s).or_default().insert(path);
                }
            }
            Undo::SetData { path, data, version, mzxid, mtime } => {
                let m = &mut self.get_mut(&path).expect("undo set: node exists").meta;
                (m.data, m.version, m.mzxid, m.mtime) = (data, version, mzxid, mtime);
            }
        }
    }

    /// Checks the tree's structure: every child name is a valid path component, no ephemeral
    /// has children, and the ephemeral index matches the nodes exactly. O(n).
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut ephemerals = 0;
        for (p, node) in self.iter() {
            if node.owner().is_some() && !node.children.is_empty() {
                return Err(format!("{p}: ephemeral with children"));
            }
            for c in node.children.iter() {
                let child = if p == "/" { format!("/{c}") } else { format!("{p}/{c}") };
                if c.is_empty() || c.contains('/') || !path::is_valid(&child) {
                    return Err(format!("{p}: child name {c:?} is not a path component"));
                }
            }
            if let Some(s) = node.owner() {
                ephemerals += 1;
                if !self.ephemerals.get(&s).is_some_and(|set| set.contains(&p)) {
                    return Err(format!("{p}: ephemeral of {s} not indexed"));
                }
            }
        }
        let indexed: usize = self.ephemerals.values().map(BTreeSet::len).sum();
        if indexed != ephemerals || self.ephemerals.values().any(BTreeSet::is_empty) {
            return Err(format!("ephemeral index holds {indexed} paths for {ephemerals} ephemerals"));
        }
        Ok(())
    }

    fn forget_ephemeral(&mut self, s: SessionId, path: &str) {
        let set = self.ephemerals.get_mut(&s).expect("an ephemeral is indexed under its owner");
        assert!(set.remove(path), "ephemeral {path:?} is indexed under its owner");
        if set.is_empty() {
            self.ephemerals.remove(&s);
        }
    }
}
