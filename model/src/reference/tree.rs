//! The data tree: nodes by full path, plus the index of ephemerals by owner. Only three
//! mutations exist (insert a leaf, remove a leaf, set data); each returns the [`Undo`] that
//! reverses it exactly, which is how a failed multi rolls back without copying the tree.

use super::node::{Meta, NodeKind, ZNode};
use super::path;
use crate::types::{Data, SessionId, Zxid};
use std::collections::{BTreeMap, BTreeSet};

/// How to reverse one mutation.
#[derive(Clone, Debug)]
pub enum Undo {
    Inserted { path: String, parent_meta: Meta },
    Removed { path: String, node: ZNode, parent_meta: Meta },
    SetData { path: String, meta: Meta },
}

/// The nodes of the tree.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tree {
    nodes: BTreeMap<String, ZNode>,
    ephemerals: BTreeMap<SessionId, BTreeSet<String>>,
}

impl Tree {
    /// A tree holding only the root, with an all-zero Stat.
    pub fn new() -> Tree {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), ZNode::new(Data::text(""), NodeKind::Persistent, Zxid::ZERO, 0));
        Tree { nodes, ephemerals: BTreeMap::new() }
    }

    /// The node at `path` (`""` is the root).
    pub fn get(&self, path: &str) -> Option<&ZNode> {
        self.nodes.get(path::key(path))
    }

    /// Mutable access for the few places that build special trees (the fresh server's).
    pub fn get_mut(&mut self, path: &str) -> Option<&mut ZNode> {
        self.nodes.get_mut(path::key(path))
    }

    /// All nodes, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &ZNode)> {
        self.nodes.iter()
    }

    /// How many nodes lie strictly below the stored path `p`.
    pub fn descendants(&self, p: &str) -> usize {
        if p == "/" {
            return self.nodes.len() - 1;
        }
        let prefix = format!("{p}/");
        self.nodes.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)).count()
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
        let parent = self.nodes.get_mut(path::parent(path)).expect("insert: the parent exists");
        assert!(parent.owner().is_none(), "insert: ephemeral {path:?}'s parent cannot have children");
        let parent_meta = parent.meta.clone();
        parent.meta.creates = parent.meta.creates.wrapping_add(1);
        parent.meta.pzxid = parent.meta.pzxid.max(zxid);
        let fresh = parent.children.insert(path::name(path).to_string());
        assert!(fresh, "insert: parent of {path:?} already lists it");
        let replaced = self.nodes.insert(path.to_string(), node);
        assert!(replaced.is_none(), "insert: {path:?} already exists");
        if let Some(s) = owner {
            self.ephemerals.entry(s).or_default().insert(path.to_string());
        }
        Undo::Inserted { path: path.to_string(), parent_meta }
    }

    /// Removes the existing childless, non-root node at `path`; the parent takes `zxid` as pzxid.
    pub fn remove(&mut self, path: &str, zxid: Zxid) -> Undo {
        assert!(path != "/", "remove: the root is never removed");
        let node = self.nodes.remove(path).expect("remove: the node exists");
        assert!(node.children.is_empty(), "remove: {path:?} must be childless");
        let parent = self.nodes.get_mut(path::parent(path)).expect("remove: the parent exists");
        let parent_meta = parent.meta.clone();
        parent.meta.pzxid = parent.meta.pzxid.max(zxid);
        let listed = parent.children.remove(path::name(path));
        assert!(listed, "remove: parent of {path:?} listed it");
        if let Some(s) = node.owner() {
            self.forget_ephemeral(s, path);
        }
        Undo::Removed { path: path.to_string(), node, parent_meta }
    }

    /// Replaces the data of the existing node at `path`, bumping its version (even for
    /// identical data) and mzxid/mtime.
    pub fn set_data(&mut self, path: &str, data: Data, zxid: Zxid, time_ms: i64) -> Undo {
        let node = self.nodes.get_mut(path::key(path)).expect("set_data: the node exists");
        let meta = node.meta.clone();
        node.meta.data = data;
        node.meta.version = node.meta.version.wrapping_add(1);
        node.meta.mzxid = zxid;
        node.meta.mtime = time_ms;
        Undo::SetData { path: path::key(path).to_string(), meta }
    }

    /// Reverses one mutation; undos must be applied newest first.
    pub fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::Inserted { path, parent_meta } => {
                let node = self.nodes.remove(&path).expect("undo insert: the node exists");
                assert!(node.children.is_empty(), "undo insert: {path:?} is still a leaf");
                let parent = self.nodes.get_mut(path::parent(&path)).expect("undo insert: parent exists");
                parent.meta = parent_meta;
                parent.children.remove(path::name(&path));
                if let Some(s) = node.owner() {
                    self.forget_ephemeral(s, &path);
                }
            }
            Undo::Removed { path, node, parent_meta } => {
                let parent = self.nodes.get_mut(path::parent(&path)).expect("undo remove: parent exists");
                parent.meta = parent_meta;
                parent.children.insert(path::name(&path).to_string());
                if let Some(s) = node.owner() {
                    self.ephemerals.entry(s).or_default().insert(path.clone());
                }
                self.nodes.insert(path, node);
            }
            Undo::SetData { path, meta } => {
                self.nodes.get_mut(&path).expect("undo set: node exists").meta = meta;
            }
        }
    }

    /// Checks the tree's structure: every node's parent exists, lists it and is not ephemeral;
    /// every listed child exists; the ephemeral index matches the nodes exactly. O(n).
    pub fn check_invariants(&self) -> Result<(), String> {
        if !self.nodes.contains_key("/") {
            return Err("the root is missing".into());
        }
        let mut ephemerals = 0;
        for (p, node) in &self.nodes {
            if p != "/" {
                let parent = self.nodes.get(path::parent(p)).ok_or_else(|| format!("{p}: parent missing"))?;
                if !parent.children.contains(path::name(p)) {
                    return Err(format!("{p}: parent does not list it"));
                }
                if parent.owner().is_some() {
                    return Err(format!("{p}: parent is ephemeral"));
                }
            }
            for c in &node.children {
                let child = if p == "/" { format!("/{c}") } else { format!("{p}/{c}") };
                if !self.nodes.contains_key(&child) {
                    return Err(format!("{p}: lists missing child {c}"));
                }
            }
            if let Some(s) = node.owner() {
                ephemerals += 1;
                if !self.ephemerals.get(&s).is_some_and(|set| set.contains(p)) {
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
