//! The write operations (create, delete, setData, check) with the server's checks in the
//! server's order, run inside one transaction's context so a multi can chain them and roll
//! them back.

use super::node::{NodeKind, ZNode};
use super::path;
use super::tree::{Tree, Undo};
use super::Trigger;
use crate::acl::{Acl, Perms};
use crate::types::{CreateMode, Data, ErrorCode, EventType, SessionId, Stat, Zxid};

/// The largest TTL the server accepts (it packs the TTL into 40 bits of the owner field).
pub const MAX_TTL_MS: i64 = (1 << 40) - 1;

/// One transaction in progress: what it changed so far, and how to undo it.
pub struct TxnCtx<'a> {
    pub tree: &'a mut Tree,
    pub zxid: Zxid,
    pub time_ms: i64,
    pub session: SessionId,
    pub undo: Vec<Undo>,
    pub triggers: Vec<Trigger>,
}

impl<'a> TxnCtx<'a> {
    /// Starts a transaction at `zxid` issued by `session` (0 for server-side ones).
    pub fn new(tree: &'a mut Tree, zxid: Zxid, time_ms: i64, session: SessionId) -> TxnCtx<'a> {
        TxnCtx { tree, zxid, time_ms, session, undo: Vec::new(), triggers: Vec::new() }
    }

    /// Reverses everything this transaction did, newest first.
    pub fn rollback(&mut self) {
        while let Some(u) = self.undo.pop() {
            self.tree.undo(u);
        }
        self.triggers.clear();
    }

    /// create, in PrepRequestProcessor's order: the mode (an unnamed one, or a TTL out of
    /// range, is BadArguments), a `/` in the path, the ACL (InvalidACL), the parent's existence,
    /// its CREATE permission, then the name's syntax (after the sequential suffix), NodeExists,
    /// NoChildrenForEphemerals.
    pub fn create(
        &mut self,
        path: &str,
        data: &Data,
        mode: CreateMode,
        acl: &Acl,
    ) -> Result<(String, Stat), ErrorCode> {
        if let CreateMode::Invalid { .. } = mode {
            return Err(ErrorCode::BadArguments);
        }
        if let Some(ttl) = mode.ttl_ms() {
            if !(1..=MAX_TTL_MS).contains(&ttl) {
                return Err(ErrorCode::BadArguments);
            }
        }
        let parent_path = path::write_parent(path).ok_or(ErrorCode::BadArguments)?;
        let acl = acl.fixup()?;
        let (session, zxid, time_ms) = (self.session, self.zxid, self.time_ms);
        let mut stat = None;
        // One walk: the parent's checks, then the insert under it.
        let (actual, undo) = self.tree.insert_under(parent_path, zxid, ErrorCode::NoNode, |parent| {
            if !parent.meta.acl.allows(Perms::CREATE) {
                return Err(ErrorCode::NoAuth);
            }
            let actual = if mode.is_sequential() {
                // Signed %010d of the stored create counter, as Java formats it.
                format!("{path}{:010}", parent.meta.creates)
            } else {
                path.to_string()
            };
            if !path::is_valid(&actual) {
                return Err(ErrorCode::BadArguments);
            }
            // The new name's last '/' is the one `parent_path` ends before (a sequence suffix
            // holds none), so the node exists iff the parent we hold has that name — except "/",
            // which has no name and always exists.
            if actual == "/" || parent.children.get(path::name(&actual)).is_some() {
                return Err(ErrorCode::NodeExists);
            }
            if parent.owner().is_some() {
                return Err(ErrorCode::NoChildrenForEphemerals);
            }
            let kind = match mode {
                CreateMode::Persistent | CreateMode::PersistentSequential => NodeKind::Persistent,
                CreateMode::Ephemeral | CreateMode::EphemeralSequential => NodeKind::Ephemeral(session),
                CreateMode::Container => NodeKind::Container,
                CreateMode::PersistentWithTtl { ttl_ms } | CreateMode::PersistentSequentialWithTtl { ttl_ms } => {
                    NodeKind::Ttl { ttl_ms }
                }
                CreateMode::Invalid { .. } => unreachable!("refused above"),
            };
            assert!(
                !matches!(kind, NodeKind::Ephemeral(s) if s == SessionId(0)),
                "an ephemeral needs an owning session"
            );
            let mut node = ZNode::new(data.clone(), kind, zxid, time_ms);
            node.meta.acl = acl;
            // Inserting a leaf changes nothing of its own Stat: take it now, saving a lookup.
            stat = Some(node.stat());
            Ok((actual, node))
        })?;
        self.undo.push(undo);
        self.triggers.push(Trigger { kind: EventType::NodeCreated, path: actual.clone() });
        self.triggers.push(Trigger { kind: EventType::NodeChildrenChanged, path: path::parent(&actual).to_string() });
        let stat = stat.expect("an inserted node had its Stat taken");
        Ok((actual, stat))
    }

    /// delete: no syntax check — only "has a `/`, no NUL, not reserved" (the root; the system
    /// paths only on a real server's root, see [`Tree::is_reserved`]) — then the parent and
    /// its DELETE permission (the node's own ACL does not matter), the node, the version (before
    /// emptiness: BadVersion wins over NotEmpty).
    pub fn delete(&mut self, path: &str, version: i32) -> Result<(), ErrorCode> {
        let parent_path = path::write_parent(path).ok_or(ErrorCode::BadArguments)?;
        if self.tree.is_reserved(path) {
            return Err(ErrorCode::BadArguments);
        }
        let parent = self.tree.get(parent_path).ok_or(ErrorCode::NoNode)?;
        if !parent.meta.acl.allows(Perms::DELETE) {
            return Err(ErrorCode::NoAuth);
        }
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        check_version(node, version)?;
        if !node.children.is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        self.remove(path);
        Ok(())
    }

    /// Removes an existing childless node (a checked delete, or a server-side cleanup).
    pub fn remove(&mut self, path: &str) {
        self.undo.push(self.tree.remove(path, self.zxid));
        self.triggers.push(Trigger { kind: EventType::NodeDeleted, path: path.to_string() });
        self.triggers.push(Trigger { kind: EventType::NodeChildrenChanged, path: path::parent(path).to_string() });
    }

    /// setData: syntax, existence, WRITE permission, version. Identical data still bumps the
    /// version.
    pub fn set_data(&mut self, path: &str, data: &Data, version: i32) -> Result<Stat, ErrorCode> {
        if !path::is_valid(path) {
            return Err(ErrorCode::BadArguments);
        }
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        if !node.meta.acl.allows(Perms::WRITE) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node, version)?;
        let (undo, stat) = self.tree.set_data(path, data.clone(), self.zxid, self.time_ms);
        self.undo.push(undo);
        self.triggers.push(Trigger { kind: EventType::NodeDataChanged, path: path.to_string() });
        Ok(stat)
    }

    /// check (multi only): syntax, existence, READ permission, version.
    pub fn check(&mut self, path: &str, version: i32) -> Result<(), ErrorCode> {
        if !path::is_valid(path) {
            return Err(ErrorCode::BadArguments);
        }
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        if !node.meta.acl.allows(Perms::READ) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node, version)
    }

    /// setACL: syntax, the new ACL (InvalidACL), existence, ADMIN permission, then `version`
    /// against the aversion. Only the aversion moves: no mzxid, no watch fires. Never part of a
    /// multi, so nothing to undo.
    pub fn set_acl(&mut self, path: &str, acl: &Acl, version: i32) -> Result<Stat, ErrorCode> {
        if !path::is_valid(path) {
            return Err(ErrorCode::BadArguments);
        }
        let acl = acl.fixup()?;
        let node = self.tree.get_mut(path).ok_or(ErrorCode::NoNode)?;
        if !node.meta.acl.allows(Perms::ADMIN) {
            return Err(ErrorCode::NoAuth);
        }
        if version != -1 && version != node.meta.aversion {
            return Err(ErrorCode::BadVersion);
        }
        node.meta.aversion = node.meta.aversion.wrapping_add(1);
        node.meta.acl = acl;
        Ok(node.stat())
    }
}

/// Only −1 is the wildcard.
fn check_version(node: &ZNode, expected: i32) -> Result<(), ErrorCode> {
    if expected != -1 && expected != node.meta.version {
        return Err(ErrorCode::BadVersion);
    }
    Ok(())
}
