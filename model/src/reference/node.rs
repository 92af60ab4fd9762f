//! One znode: its data, its bookkeeping, its kind and its children.

use super::name::{Key, KeyMap};
use crate::acl::Acl;
use crate::types::{Data, SessionId, Stat, Zxid};
use std::collections::BTreeMap;

/// What kind of node it is, which decides who may delete it and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeKind {
    Persistent,
    /// Deleted with its owner's session; cannot have children.
    Ephemeral(SessionId),
    /// Reaped by the server once its last child is gone (if it ever had one).
    Container,
    /// Reaped by the server when childless and untouched (mtime) for longer than `ttl_ms`.
    Ttl {
        ttl_ms: i64,
    },
}

/// Everything about a node except its children: small and cheap to copy, so a multi can save
/// and restore it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Meta {
    pub data: Data,
    pub kind: NodeKind,
    pub czxid: Zxid,
    pub mzxid: Zxid,
    pub pzxid: Zxid,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// The number of child creates ever (the server's stored cversion): the sequential suffix.
    /// Signed 32-bit and wrapping, as in the server.
    pub creates: i32,
    pub aversion: i32,
    /// Who may do what to the node (and, for create and delete, to its children).
    pub acl: Acl,
}

/// A node of the tree.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ZNode {
    pub meta: Meta,
    /// The children, by name (last path component).
    pub children: Children,
}

/// A node's children keyed by name. The tree is nested (each node owns its children) so a
/// lookup compares short names level by level instead of whole paths in one big map. Outside
/// the tree it reads as the sorted set of names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Children(BTreeMap<Key, ZNode>);

impl Children {
    /// The names, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(|k| std::str::from_utf8(k.as_bytes()).expect("a name is built from a str"))
    }

    /// The names, sorted, as a client receives them.
    pub fn names(&self) -> Vec<std::sync::Arc<str>> {
        self.iter().map(std::sync::Arc::from).collect()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when `names` is exactly the sorted names (compared as bytes, without re-validating
    /// each stored name as UTF-8 the way [`Self::iter`] does).
    pub fn same_names(&self, names: &[std::sync::Arc<str>]) -> bool {
        self.0.len() == names.len() && self.0.keys().zip(names).all(|(k, n)| k.as_bytes() == n.as_bytes())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (name, child), sorted by name.
    pub(super) fn nodes(&self) -> impl Iterator<Item = (&str, &ZNode)> {
        self.iter().zip(self.0.values())
    }

    pub(super) fn get(&self, name: &str) -> Option<&ZNode> {
        self.0.get_str(name)
    }

    pub(super) fn get_mut(&mut self, name: &str) -> Option<&mut ZNode> {
        self.0.get_str_mut(name)
    }

    /// Adds a child; false (and nothing changes) when the name is taken.
    pub(super) fn insert(&mut self, name: &str, node: ZNode) -> bool {
        match self.0.entry(Key::new(name)) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(node);
                true
            }
            std::collections::btree_map::Entry::Occupied(_) => false,
        }
    }

    pub(super) fn remove(&mut self, name: &str) -> Option<ZNode> {
        self.0.remove_str(name)
    }
}

impl ZNode {
    /// A new childless node created at `zxid`, `time_ms`.
    pub fn new(data: Data, kind: NodeKind, zxid: Zxid, time_ms: i64) -> ZNode {
        ZNode {
            meta: Meta {
                data,
                kind,
                czxid: zxid,
                mzxid: zxid,
                pzxid: zxid,
                ctime: time_ms,
                mtime: time_ms,
                version: 0,
                creates: 0,
                aversion: 0,
                acl: Acl::open(),
            },
            children: Children::default(),
        }
    }

    /// The session owning this node, for ephemerals.
    pub fn owner(&self) -> Option<SessionId> {
        match self.meta.kind {
            NodeKind::Ephemeral(s) => Some(s),
            _ => None,
        }
    }

    /// The Stat a client sees. cversion is `2·creates − numChildren` (ZooKeeper 3.8 stores the
    /// create count and translates on the way out); containers and TTL nodes show owner 0.
    pub fn stat(&self) -> Stat {
        let m = &self.meta;
        let num_children = i32::try_from(self.children.len()).expect("fewer than 2^31 children");
        Stat {
            czxid: m.czxid,
            mzxid: m.mzxid,
            pzxid: m.pzxid,
            ctime: m.ctime,
            mtime: m.mtime,
            version: m.version,
            cversion: m.creates.wrapping_mul(2).wrapping_sub(num_children),
            aversion: m.aversion,
            ephemeral_owner: self.owner().unwrap_or_default(),
            data_length: i32::try_from(m.data.len()).expect("data shorter than 2^31 bytes"),
            num_children,
        }
    }
}
