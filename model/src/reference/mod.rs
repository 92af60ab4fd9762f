//! The reference model of ZooKeeper 3.8: a deliberately simple, sequential specification of the
//! data tree, sessions (ephemeral ownership, close and expiry) and watches, written from the
//! documented semantics and the real-server probes (`testdata/zookeeper-3.8-probes.md`), not from
//! any server code. Checkers replay committed transactions through [`ZkModel::apply`] and evaluate
//! reads with [`ZkModel::read`].
//!
//! Cost: `apply` is O(path depth + children touched) (times a log factor): nothing scans the tree.
//! The one exception is [`ZkModel::reap_candidates`], a helper for drivers that emulate the
//! server's container/TTL reaper.

mod multi;
mod name;
mod node;
pub mod path;
#[cfg(test)]
mod prop_tests;
mod read;
mod session;
#[cfg(test)]
mod tests;
mod tree;
mod watches;
mod write;

pub use node::{Children, NodeKind};
pub use read::ReadView;
pub use watches::WatchRules;
pub use write::MAX_TTL_MS;

use crate::acl::{Acl, Perms};
use crate::history::{Txn, TxnRecord};
use crate::op::{Op, OpResult, Outcome};
use crate::types::{Data, ErrorCode, EventType, SessionId, Stat, WatchedEvent, Zxid};
use node::ZNode;
use std::collections::BTreeSet;
use tree::Tree;
use watches::Watches;
use write::TxnCtx;

/// The whole state of a ZooKeeper service as the reference model sees it. `Eq` and `Hash` are
/// structural and exact (no caches, no stale index entries), so equal states compare equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ZkModel {
    tree: Tree,
    watches: Watches,
    sessions: BTreeSet<SessionId>,
    last_zxid: Zxid,
}

/// What applying one committed transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The answer the issuing client must have seen (`Ok Done` for session and server txns).
    pub outcome: Outcome,
    /// What the transaction changed, independent of anyone's watches, in order. Empty when the
    /// transaction failed.
    pub triggers: Vec<Trigger>,
    /// The watch notifications it fires, per the model's own registrations, in delivery order
    /// (trigger by trigger; within a trigger by session id).
    pub events: Vec<(SessionId, WatchedEvent)>,
}

/// One change a transaction made that a watch could observe: NodeCreated / NodeDeleted /
/// NodeDataChanged on the node, NodeChildrenChanged on its parent.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Trigger {
    pub kind: EventType,
    pub path: String,
}

impl Default for ZkModel {
    fn default() -> Self {
        ZkModel::new()
    }
}

impl ZkModel {
    /// An empty tree: only "/" with an all-zero Stat and empty (not null) data, as a fresh
    /// chroot node looks. As under a chroot, `/zookeeper`… are ordinary paths here (the server
    /// sees `/chroot/zookeeper`); only `/` is undeletable.
    pub fn new() -> ZkModel {
        ZkModel { tree: Tree::new(), watches: Watches::default(), sessions: BTreeSet::new(), last_zxid: Zxid::ZERO }
    }

    /// A fresh real server: `/zookeeper`, `/zookeeper/config` and `/zookeeper/quota`, all zxids 0,
    /// with the odd stats 3.8.0 shows: `/` has visible cversion −1 and `/zookeeper` −2 (these
    /// nodes were inserted without counting as creates), `/zookeeper/config` has aversion −1 and
    /// a read-only ACL.
    pub fn fresh_server() -> ZkModel {
        let mut m = ZkModel::new();
        m.tree.set_system_nodes();
        for p in ["/zookeeper", "/zookeeper/config", "/zookeeper/quota"] {
            let node = ZNode::new(Data::text(""), NodeKind::Persistent, Zxid::ZERO, 0);
            let _ = m.tree.insert(p, node, Zxid::ZERO);
        }
        for p in ["/", "/zookeeper"] {
            m.tree.get_mut(p).expect("just built").meta.creates = 0;
        }
        // The server sets the config node's ACL at startup (ZOOKEEPER-2014): read-only, and
        // that setACL with version -1 leaves aversion -1.
        let config = &mut m.tree.get_mut("/zookeeper/config").expect("just built").meta;
        config.aversion = -1;
        config.acl = Acl::anyone(Perms::READ);
        m
    }

    /// Applies a committed transaction. The caller feeds transactions in zxid order; a failed
    /// client write (its `outcome` is an error) still consumed its zxid, as in the server.
    pub fn apply(&mut self, txn: &TxnRecord) -> Applied {
        self.last_zxid = txn.zxid;
        let (zxid, time_ms) = (txn.zxid, txn.time_ms);
        match &txn.txn {
            Txn::CreateSession { session, .. } => {
                if *session == SessionId(0) {
                    // Session id 0 never names a session.
                    return failed(ErrorCode::BadArguments);
                }
                self.sessions.insert(*session);
                done(Vec::new(), Vec::new())
            }
            Txn::CloseSession { session, reason } => self.close_session(*session, *reason, zxid, time_ms),
            Txn::Client { session, op, .. } => {
                if !self.sessions.contains(session) {
                    // ZOOKEEPER-1208: a request of a session that is gone changes nothing.
                    return failed(ErrorCode::SessionExpired);
                }
                self.client_write(*session, op, zxid, time_ms)
            }
            Txn::DeleteContainer { path } | Txn::DeleteTtl { path } => self.server_delete(path, zxid, time_ms),
            // An error txn only consumes its zxid.
            Txn::Error { code, .. } => failed(*code),
        }
    }

    fn client_write(&mut self, session: SessionId, op: &Op, zxid: Zxid, time_ms: i64) -> Applied {
        if *op == Op::CloseSession {
            return self.close_session(session, crate::history::CloseReason::Closed, zxid, time_ms);
        }
        let mut ctx = TxnCtx::new(&mut self.tree, zxid, time_ms, session);
        let outcome = match op {
            Op::Create { path, data, mode, acl } => ctx
                .create(path, data, *mode, acl)
                .map(|(path, stat)| OpResult::Created { path, stat: Some(stat) })
                .into(),
            Op::SetAcl { path, acl, version } => {
                ctx.set_acl(path, acl, *version).map(|stat| OpResult::Stat { stat }).into()
            }
            Op::Delete { path, version } => ctx.delete(path, *version).map(|()| OpResult::Done).into(),
            Op::SetData { path, data, version } => {
                ctx.set_data(path, data, *version).map(|stat| OpResult::Stat { stat }).into()
            }
            Op::Multi { ops } if op.is_write() => multi::run(&mut ctx, ops),
            // Reads (and a multi holding one) are not transactions; a log that holds one is malformed.
            _ => Outcome::Err { code: ErrorCode::MarshallingError },
        };
        let triggers = std::mem::take(&mut ctx.triggers);
        assert!(outcome.is_ok() || triggers.is_empty(), "a failed write changes nothing");
        let events = self.fire(&triggers, zxid);
        Applied { outcome, triggers, events }
    }

    /// The container manager's delete (opcode deleteContainer, for containers and TTL nodes
    /// alike), with ZooKeeper's PrepRequestProcessor checks: NoNode when missing, NotEmpty with
    /// children, BadVersion for an ephemeral; nothing else is re-checked, so a TTL node touched
    /// since it was picked (or a node re-created at the path) is deleted all the same.
    fn server_delete(&mut self, path: &str, zxid: Zxid, time_ms: i64) -> Applied {
        let Some(node) = self.tree.get(path).filter(|_| path != "/" && path::is_valid(path)) else {
            return failed(ErrorCode::NoNode);
        };
        if !node.children.is_empty() {
            return failed(ErrorCode::NotEmpty);
        }
        if matches!(node.meta.kind, NodeKind::Ephemeral(_)) {
            return failed(ErrorCode::BadVersion);
        }
        let mut ctx = TxnCtx::new(&mut self.tree, zxid, time_ms, SessionId(0));
        ctx.remove(path);
        let triggers = std::mem::take(&mut ctx.triggers);
        let events = self.fire(&triggers, zxid);
        done(triggers, events)
    }

    fn fire(&mut self, triggers: &[Trigger], zxid: Zxid) -> Vec<(SessionId, WatchedEvent)> {
        let mut events = Vec::new();
        for t in triggers {
            self.watches.fire(t, zxid, &mut events);
        }
        events
    }

    /// Evaluates a non-transaction op (GetData/Exists/GetChildren/Sync/AddWatch/RemoveWatches/
    /// GetAcl/...) for `session` at the current state, registering watches as the server does:
    /// exists arms a data watch even on a missing node; get/children on a missing node, or on one
    /// whose ACL refuses READ (NoAuth), arm nothing. exists, sync and the watch ops check no ACL;
    /// exists refuses a path holding a NUL (BadArguments). Paths are
    /// never syntax-checked; `""` reads as the root (watches register under the path as given).
    /// A session that is not open gets SessionExpired; a write op gets MarshallingError.
    pub fn read(&mut self, session: SessionId, op: &Op) -> Outcome {
        self.read_view(session, op).to_outcome()
    }

    /// [`Self::read`] as a view borrowing the node's data and child names, for comparing an
    /// answer in place; registers the same watches.
    pub fn read_view(&mut self, session: SessionId, op: &Op) -> ReadView<'_> {
        if !self.sessions.contains(&session) {
            return ReadView::Owned(Outcome::Err { code: ErrorCode::SessionExpired });
        }
        let value = match op {
            Op::GetData { path, watch } => {
                let node = match self.tree.get(path) {
                    None => return ReadView::Owned(Outcome::Err { code: ErrorCode::NoNode }),
                    Some(n) if !n.meta.acl.allows(Perms::READ) => {
                        return ReadView::Owned(Outcome::Err { code: ErrorCode::NoAuth })
                    }
                    Some(n) => n,
                };
                if *watch {
                    self.watches.add_data(session, path);
                }
                return ReadView::GetData { data: &node.meta.data, stat: node.stat() };
            }
            Op::Exists { path, watch } => {
                // The one path check a read makes (FinalRequestProcessor): a NUL is
                // BadArguments, and no watch is armed.
                if path.contains('\0') {
                    return ReadView::Owned(Outcome::Err { code: ErrorCode::BadArguments });
                }
                let stat = self.tree.get(path).map(ZNode::stat);
                if *watch {
                    self.watches.add_data(session, path);
                }
                OpResult::Exists { stat }
            }
            Op::GetChildren { path, watch } => {
                let node = match self.tree.get(path) {
                    None => return ReadView::Owned(Outcome::Err { code: ErrorCode::NoNode }),
                    Some(n) if !n.meta.acl.allows(Perms::READ) => {
                        return ReadView::Owned(Outcome::Err { code: ErrorCode::NoAuth })
                    }
                    Some(n) => n,
                };
                if *watch {
                    self.watches.add_child(session, path);
                }
                return ReadView::Children { children: &node.children, stat: node.stat() };
            }
            Op::Sync { path } => OpResult::Synced { path: path.clone() },
            Op::AddWatch { path, mode } => {
                self.watches.add_persistent(session, path, *mode);
                OpResult::Done
            }
            Op::RemoveWatches { path, kind } => {
                if !self.watches.remove(session, path, *kind) {
                    return ReadView::Owned(Outcome::Err { code: ErrorCode::NoWatcher });
                }
                OpResult::Done
            }
            Op::GetEphemerals { prefix } => {
                // A real server lists them all for a prefix Java's trim() leaves empty or "/";
                // under a chroot the server sees the chroot prepended, so none is special.
                let trimmed = prefix.trim_matches(|c: char| c <= ' ');
                let all = self.tree.is_real_root() && (trimmed.is_empty() || trimmed == "/");
                OpResult::Ephemerals {
                    paths: self
                        .ephemerals_of(session)
                        .into_iter()
                        .filter(|p| all || p.starts_with(prefix.as_str()))
                        .collect(),
                }
            }
            Op::GetAllChildrenNumber { path } => match self.tree.get(path) {
                None => return ReadView::Owned(Outcome::Err { code: ErrorCode::NoNode }),
                Some(n) if !n.meta.acl.allows(Perms::READ) => {
                    return ReadView::Owned(Outcome::Err { code: ErrorCode::NoAuth })
                }
                Some(_) => OpResult::ChildrenNumber {
                    number: self.tree.all_children_number(path).expect("the node exists") as u64,
                },
            },
            // READ or ADMIN will do (a client with ADMIN alone may read the ACL it may change).
            Op::GetAcl { path } => match self.tree.get(path) {
                None => return ReadView::Owned(Outcome::Err { code: ErrorCode::NoNode }),
                Some(n) if !n.meta.acl.allows(Perms::READ.union(Perms::ADMIN)) => {
                    return ReadView::Owned(Outcome::Err { code: ErrorCode::NoAuth })
                }
                Some(n) => OpResult::Acl { acl: n.meta.acl.clone(), stat: n.stat() },
            },
            // A write; or a multi holding a read, which ZooKeeper 3.8 refuses as a whole.
            Op::Create { .. }
            | Op::Delete { .. }
            | Op::SetData { .. }
            | Op::SetAcl { .. }
            | Op::Multi { .. }
            | Op::CloseSession => return ReadView::Owned(Outcome::Err { code: ErrorCode::MarshallingError }),
        };
        ReadView::Owned(Outcome::Ok { value })
    }

    /// The same model following `rules` for watch bookkeeping: [`WatchRules::Fixed`] (the
    /// default, what the service implements) or [`WatchRules::Zk380`] (3.8.0 as released, to
    /// compare with recordings of a real 3.8.0 server). Set it before any watch is registered.
    pub fn with_watch_rules(mut self, rules: WatchRules) -> ZkModel {
        assert!(self.watches.sessions().next().is_none(), "watch rules are chosen before any watch is set");
        self.watches = Watches::new(rules);
        self
    }

    /// The zxid of the last applied transaction.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// True while `s` is open (created and neither closed nor expired).
    pub fn session_open(&self, s: SessionId) -> bool {
        self.sessions.contains(&s)
    }

    /// The open sessions, ascending.
    pub fn sessions(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.iter().copied()
    }

    /// The paths of the ephemerals `s` owns, sorted.
    pub fn ephemerals_of(&self, s: SessionId) -> Vec<String> {
        self.tree.ephemerals_of(s)
    }

    /// The Stat of the node at `path` (`""` is the root), if it exists.
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.tree.get(path).map(ZNode::stat)
    }

    /// The data of the node at `path`, if it exists.
    pub fn data(&self, path: &str) -> Option<&Data> {
        self.tree.get(path).map(|n| &n.meta.data)
    }

    /// The data and Stat of the node at `path`, if it exists (one lookup for both).
    pub fn data_and_stat(&self, path: &str) -> Option<(&Data, Stat)> {
        self.tree.get(path).map(|n| (&n.meta.data, n.stat()))
    }

    /// The kind of the node at `path`, if it exists (containers and TTL nodes are told apart
    /// here, though their Stat shows owner 0).
    pub fn kind(&self, path: &str) -> Option<NodeKind> {
        self.tree.get(path).map(|n| n.meta.kind)
    }

    /// The sorted child names of the node at `path`, if it exists.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.tree.get(path).map(|n| n.children.iter().map(String::from).collect())
    }

    /// getAllChildrenNumber: how many nodes lie below `path`, if it exists (`""` is the root,
    /// and on a fresh server's root counts one more, as 3.8.0 does). Scans the subtree.
    pub fn descendant_count(&self, path: &str) -> Option<u64> {
        self.tree.all_children_number(path).map(|n| n as u64)
    }

    /// The first time (ms) at which some childless TTL node becomes a reap candidate, if any.
    /// Scans the whole tree.
    pub fn next_ttl_expiry_ms(&self) -> Option<i64> {
        self.tree
            .iter()
            .filter(|(_, n)| n.children.is_empty())
            .filter_map(|(_, n)| match n.meta.kind {
                NodeKind::Ttl { ttl_ms } => Some(n.meta.mtime.saturating_add(ttl_ms).saturating_add(1)),
                _ => None,
            })
            .min()
    }

    /// Checks the model's internal consistency (tree structure, ephemeral and watch indexes, and
    /// that no closed session owns ephemerals or watches). O(n): for tests and debugging.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.tree.check_invariants()?;
        self.watches.check_invariants()?;
        for (p, node) in self.tree.iter() {
            if let Some(s) = node.owner() {
                if !self.sessions.contains(&s) {
                    return Err(format!("{p}: owned by {s}, which is not open"));
                }
            }
        }
        if let Some(s) = self.watches.sessions().find(|s| !self.sessions.contains(s)) {
            return Err(format!("{s} holds watches but is not open"));
        }
        Ok(())
    }

    /// What the server's ContainerManager would delete in a check at `now_ms`, sorted by path:
    /// childless containers that ever had a child (never-used containers are kept), and childless
    /// TTL nodes whose mtime is more than their TTL ago. Scans the whole tree.
    pub fn reap_candidates(&self, now_ms: i64) -> Vec<Txn> {
        let mut out = Vec::new();
        for (p, node) in self.tree.iter() {
            if !node.children.is_empty() {
                continue;
            }
            match node.meta.kind {
                NodeKind::Container if node.meta.creates > 0 => out.push(Txn::DeleteContainer { path: p.clone() }),
                NodeKind::Ttl { ttl_ms } if now_ms - node.meta.mtime > ttl_ms => {
                    out.push(Txn::DeleteTtl { path: p.clone() })
                }
                _ => {}
            }
        }
        out
    }
}

impl From<Result<OpResult, ErrorCode>> for Outcome {
    fn from(r: Result<OpResult, ErrorCode>) -> Outcome {
        match r {
            Ok(value) => Outcome::Ok { value },
            Err(code) => Outcome::Err { code },
        }
    }
}

fn done(triggers: Vec<Trigger>, events: Vec<(SessionId, WatchedEvent)>) -> Applied {
    Applied { outcome: Outcome::Ok { value: OpResult::Done }, triggers, events }
}

fn failed(code: ErrorCode) -> Applied {
    Applied { outcome: Outcome::Err { code }, triggers: Vec::new(), events: Vec::new() }
}
