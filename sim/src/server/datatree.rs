//! The data tree: the replicated state machine of the service.
//!
//! It plays the parts of ZooKeeper's `DataTree` (the nodes and their stats) and of the checks
//! `PrepRequestProcessor` makes, so that a committed [`TxnRecord`] carries the client's op and
//! every replica decides the same outcome when it applies it. Deciding at apply time (rather
//! than at proposal, as ZooKeeper does) removes ZooKeeper's pending-change bookkeeping: the
//! outcome is a pure function of the state and the txn.
//!
//! Stat bookkeeping follows ZooKeeper 3.8 exactly (probes md §1, §3): a node stores the number
//! of child *creates* (`creates`), which is also the next sequential suffix; clients see
//! `cversion = 2·creates − numChildren`.

use super::path;
use super::path_index::PathIndex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use zksim_model::history::{chain_digest, CloseReason, Txn, TxnRecord};
use zksim_model::{
    Acl, CreateMode, Data, ErrorCode, EventType, MultiOp, MultiSubResult, Op, OpResult, Outcome, Perms, SessionId,
    Stat, Zxid,
};

/// The largest TTL ZooKeeper accepts (it packs the TTL into 40 bits of ephemeralOwner).
pub const MAX_TTL_MS: i64 = (1 << 40) - 1;

/// Debug builds walk the whole tree after every txn while it is at most this big: small enough
/// that replicated simulation tests stay fast, big enough to cover every unit and probe test.
const FULL_CHECK_MAX_NODES: usize = 512;

/// A change a committed transaction made, for the watch manager to turn into notifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub kind: EventType,
    pub path: String,
}

/// What applying a transaction produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// The answer for the client that sent it (for session and server txns: their result).
    pub outcome: Outcome,
    /// The changes, in the order they happened (empty when the txn failed).
    pub triggers: Vec<Trigger>,
}

/// What kind of node it is; ZooKeeper encodes this in `ephemeralOwner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Persistent,
    Ephemeral(SessionId),
    /// Reaped by the leader once emptied (after having had a child).
    Container,
    /// Reaped by the leader once childless and unmodified for `ttl_ms`.
    Ttl {
        ttl_ms: i64,
    },
}

/// One znode.
#[derive(Clone, Debug)]
struct Node {
    data: Data,
    czxid: Zxid,
    mzxid: Zxid,
    pzxid: Zxid,
    ctime: i64,
    mtime: i64,
    version: i32,
    /// Stored cversion: the number of child creates (wrapping i32, as Java's int).
    creates: i32,
    aversion: i32,
    kind: NodeKind,
    /// Who may do what: READ for its data and children, WRITE for setData, ADMIN for setACL,
    /// CREATE and DELETE for its children.
    acl: Acl,
    /// Child names (not full paths), sorted. Shared strings: the first change of a node after a
    /// snapshot copies this set, which then costs a count increment per name, not an allocation.
    children: BTreeSet<Arc<str>>,
}

impl Node {
    fn new(data: Data, zxid: Zxid, time_ms: i64, kind: NodeKind) -> Node {
        Node {
            data,
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            creates: 0,
            aversion: 0,
            kind,
            acl: Acl::open(),
            children: BTreeSet::new(),
        }
    }

    /// The Stat a client sees (DataNode.copyStat): containers and TTL nodes show owner 0.
    fn stat(&self) -> Stat {
        let num_children = i32::try_from(self.children.len()).expect("fewer than 2^31 children");
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            pzxid: self.pzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.creates.wrapping_mul(2).wrapping_sub(num_children),
            aversion: self.aversion,
            ephemeral_owner: match self.kind {
                NodeKind::Ephemeral(s) => s,
                _ => SessionId(0),
            },
            data_length: i32::try_from(self.data.len()).expect("data shorter than 2 GiB"),
            num_children,
        }
    }
}

/// How to take back one change of a multi that failed later on.
#[derive(Debug)]
enum Undo {
    Created { path: String, parent: String, parent_creates: i32, parent_pzxid: Zxid },
    Deleted { path: String, parent: String, node: Node, parent_pzxid: Zxid },
    Set { path: String, data: Data, mzxid: Zxid, mtime: i64, version: i32 },
}

/// Where a multi records how to take back its changes. A single op (most transactions) records
/// nothing: building undo entries it never uses cost two path copies per write.
struct UndoLog(Option<Vec<Undo>>);

impl UndoLog {
    fn off() -> UndoLog {
        UndoLog(None)
    }

    fn recording() -> UndoLog {
        UndoLog(Some(Vec::new()))
    }

    /// Records the entry `u` builds, if recording.
    fn push(&mut self, u: impl FnOnce() -> Undo) {
        if let Some(log) = &mut self.0 {
            log.push(u());
        }
    }

    fn pop(&mut self) -> Option<Undo> {
        self.0.as_mut()?.pop()
    }
}

/// Every node by full path, shared copy-on-write between a tree and its clones: a snapshot
/// (`DataTree::clone`, taken every `snapshot_every` txns on every server) copies only the
/// table, and a node is copied the first time it changes afterwards. Deep-copying every path,
/// data buffer and child set per snapshot was the biggest cost of a simulation.
#[derive(Clone, Default)]
struct Nodes(PathIndex<Arc<Node>>);

/// Prints as the plain map did (in path order), so that debug output does not change with the
/// representation.
impl std::fmt::Debug for Nodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Nodes {
    fn get(&self, path: &str) -> Option<&Node> {
        self.0.get(path).map(|n| &**n)
    }

    /// The node, copied first if a snapshot still shares it.
    fn get_mut(&mut self, path: &str) -> Option<&mut Node> {
        self.0.get_mut(path).map(Arc::make_mut)
    }

    fn contains_key(&self, path: &str) -> bool {
        self.0.contains_key(path)
    }

    fn insert(&mut self, path: &str, node: Node) -> Option<Node> {
        self.0.insert(path, Arc::new(node)).map(Arc::unwrap_or_clone)
    }

    fn remove(&mut self, path: &str) -> Option<Node> {
        self.0.remove(path).map(Arc::unwrap_or_clone)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    /// Every node, in path order.
    fn sorted(&self) -> Vec<(&str, &Node)> {
        self.0.sorted().into_iter().map(|(p, n)| (p, &**n)).collect()
    }

    fn for_each_mut(&mut self, mut f: impl FnMut(&mut Node)) {
        self.0.for_each_value_mut(|n| f(Arc::make_mut(n)));
    }
}

impl std::ops::Index<&str> for Nodes {
    type Output = Node;

    fn index(&self, path: &str) -> &Node {
        self.get(path).unwrap_or_else(|| panic!("node {path} exists"))
    }
}

/// The tree of nodes plus the open sessions. `Clone` is a snapshot.
#[derive(Clone, Debug)]
pub struct DataTree {
    /// Every node by full path; the root is `"/"`.
    nodes: Nodes,
    /// Open sessions and their negotiated timeouts.
    sessions: BTreeMap<SessionId, u64>,
    /// Each open session's ephemerals (ZooKeeper's `ephemerals` map).
    ephemerals: BTreeMap<SessionId, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    /// True when `/zookeeper` and its children exist and are reserved.
    system_nodes: bool,
    last_zxid: Zxid,
    digest: u64,
    /// The planted ZOOKEEPER-1208 bug: apply a closed session's requests as ZooKeeper 3.3's
    /// data tree did, leaving orphan ephemerals. Off everywhere but that bug's scenario.
    orphans_allowed: bool,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// A fresh server's tree: `/`, `/zookeeper`, `/zookeeper/config`, `/zookeeper/quota`, with
    /// ZooKeeper 3.8's odd stats (probes md §3): the system nodes are inserted without counting
    /// as creates, so `/` shows cversion −1 and `/zookeeper` −2; `/zookeeper/config` has aversion −1
    /// and a read-only ACL.
    pub fn new() -> DataTree {
        let mut tree = DataTree::empty();
        tree.system_nodes = true;
        for p in path::SYSTEM_PATHS {
            let parent = path::raw_parent(p).expect("system paths are absolute");
            let inserted = tree
                .nodes
                .get_mut(parent)
                .expect("system parents come first")
                .children
                .insert(Arc::from(path::name(p)));
            assert!(inserted, "system node {p} inserted twice");
            tree.nodes.insert(p, Node::new(Data::text(""), Zxid::ZERO, 0, NodeKind::Persistent));
        }
        // The config node is read-only (ZOOKEEPER-2014), set by a setACL with version -1 at
        // startup, which leaves its aversion -1.
        let config = tree.nodes.get_mut("/zookeeper/config").expect("just inserted");
        config.aversion = -1;
        config.acl = Acl::anyone(Perms::READ);
        tree.check_invariants();
        tree
    }

    /// Only `/`, with an all-zero stat (a chroot's view of an empty node).
    pub fn empty() -> DataTree {
        let mut nodes = Nodes::default();
        nodes.insert(path::ROOT, Node::new(Data::text(""), Zxid::ZERO, 0, NodeKind::Persistent));
        DataTree {
            nodes,
            sessions: BTreeMap::new(),
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            system_nodes: false,
            last_zxid: Zxid::ZERO,
            digest: 0,
            orphans_allowed: false,
        }
    }

    /// Applies a committed transaction. Deterministic: every replica that applies the same
    /// committed log gets the same outcomes and the same state. Failed transactions change
    /// nothing but `last_zxid` and the digest (ZooKeeper logs error txns too).
    pub fn apply(&mut self, txn: &TxnRecord) -> Applied {
        assert!(txn.zxid > self.last_zxid, "zxids applied in increasing order: {} after {}", txn.zxid, self.last_zxid);
        let (zxid, time) = (txn.zxid, txn.time_ms);
        let mut triggers = Vec::new();
        let outcome = match &txn.txn {
            Txn::CreateSession { session, timeout_ms } => {
                assert!(session.0 != 0, "session id 0 never names a session");
                // Re-creating an open session (a leader re-proposing it after a failover)
                // only renews its timeout, as ZooKeeper's session tracker does.
                self.sessions.insert(*session, *timeout_ms);
                done()
            }
            Txn::CloseSession { session, reason: _ } => self.close_session(*session, zxid, &mut triggers),
            Txn::Client { session, xid: _, op } => {
                if !self.sessions.contains_key(session) && !self.orphans_allowed {
                    // ZOOKEEPER-1208: a request that reaches the log after its session closed
                    // must not act (above all, must not create an orphan ephemeral).
                    err(ErrorCode::SessionExpired)
                } else {
                    self.apply_client(*session, op, zxid, time, &mut triggers)
                }
            }
            Txn::DeleteContainer { path } | Txn::DeleteTtl { path } => match self.check_reapable(path) {
                Ok(()) => self.delete_checked(path, zxid, &mut triggers),
                Err(code) => err(code),
            },
            // An error txn (SessionMoved) consumes its zxid and changes nothing else.
            Txn::Error { code, .. } => err(*code),
        };
        assert!(outcome.is_ok() || triggers.is_empty(), "a failed txn {zxid} fires no watches");
        self.last_zxid = zxid;
        self.digest = chain_digest(self.digest, txn);
        if cfg!(debug_assertions) && self.nodes.len() <= FULL_CHECK_MAX_NODES {
            self.check_invariants();
        }
        Applied { outcome, triggers }
    }

    /// Answers a read (GetData, Exists, GetChildren, Sync, GetAllChildrenNumber, GetAcl). Reads
    /// never check path syntax: a malformed path is simply a missing node, and `""` is the root
    /// (probes md §5). FinalRequestProcessor looks the node up, then checks READ (getACL: READ
    /// or ADMIN); exists and sync check nothing.
    pub fn read(&self, op: &Op) -> Outcome {
        let readable = |path: &str, needed: Perms| match self.nodes.get(path::lookup_key(path)) {
            None => Err(ErrorCode::NoNode),
            Some(n) if !n.acl.allows(needed) => Err(ErrorCode::NoAuth),
            Some(n) => Ok(n),
        };
        let result = match op {
            Op::GetData { path, .. } => {
                readable(path, Perms::READ).map(|n| OpResult::GetData { data: n.data.clone(), stat: n.stat() })
            }
            // exists alone refuses a NUL in the path (and then arms no watch).
            Op::Exists { path, .. } if path.contains('\0') => Err(ErrorCode::BadArguments),
            Op::Exists { path, .. } => Ok(OpResult::Exists { stat: self.node_stat(path) }),
            Op::GetChildren { path, .. } => readable(path, Perms::READ)
                .map(|n| OpResult::Children { children: n.children.iter().cloned().collect(), stat: n.stat() }),
            // sync succeeds on any path, even a missing one, and echoes it as sent.
            Op::Sync { path } => Ok(OpResult::Synced { path: path.clone() }),
            Op::GetAllChildrenNumber { path } => readable(path, Perms::READ).map(|_| OpResult::ChildrenNumber {
                number: self.descendant_count(path).expect("the node exists") as u64,
            }),
            Op::GetAcl { path } => readable(path, Perms::READ.union(Perms::ADMIN))
                .map(|n| OpResult::Acl { acl: n.acl.clone(), stat: n.stat() }),
            _ => Err(ErrorCode::MarshallingError),
        };
        match result {
            Ok(value) => ok(value),
            Err(code) => err(code),
        }
    }

    /// getACL as ZooKeeper answered it before ZOOKEEPER-1392: no permission check (for the
    /// planted bug of that name; [`Self::read`] is the real answer).
    pub fn acl_unchecked(&self, path: &str) -> Outcome {
        match self.nodes.get(path::lookup_key(path)) {
            Some(n) => ok(OpResult::Acl { acl: n.acl.clone(), stat: n.stat() }),
            None => err(ErrorCode::NoNode),
        }
    }

    /// The zxid of the last applied transaction.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// `chain_digest` folded over every applied transaction, from 0.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Plants ZOOKEEPER-1208 (see `orphans_allowed`).
    pub fn allow_orphans(&mut self, on: bool) {
        self.orphans_allowed = on;
    }

    /// True when `s` was created and not yet closed or expired.
    pub fn session_open(&self, s: SessionId) -> bool {
        self.sessions.contains_key(&s)
    }

    /// Open sessions with their timeouts, in id order.
    pub fn sessions(&self) -> Vec<(SessionId, u64)> {
        self.sessions.iter().map(|(s, t)| (*s, *t)).collect()
    }

    /// The paths of `s`'s ephemerals, sorted.
    pub fn ephemerals(&self, s: SessionId) -> Vec<String> {
        self.ephemerals.get(&s).map(|set| set.iter().cloned().collect()).unwrap_or_default()
    }

    /// getEphemerals: `s`'s own ephemerals under `prefix` (a plain string prefix, not a path:
    /// `/a` matches `/ab`); "/" or "" lists them all.
    pub fn ephemerals_under(&self, s: SessionId, prefix: &str) -> Vec<String> {
        let all = self.ephemerals(s);
        // FinalRequestProcessor: a prefix that Java's trim() leaves empty or "/" lists them all;
        // any other is compared untrimmed. Under a chroot the server sees the chroot's path
        // prepended, so only a real root has the special case.
        let trimmed = prefix.trim_matches(|c: char| c <= ' ');
        if self.system_nodes && (trimmed.is_empty() || trimmed == "/") {
            all
        } else {
            all.into_iter().filter(|p| p.starts_with(prefix)).collect()
        }
    }

    /// The client-visible Stat of `path` (`""` is the root).
    pub fn node_stat(&self, path: &str) -> Option<Stat> {
        self.nodes.get(path::lookup_key(path)).map(Node::stat)
    }

    /// Every node's path, sorted (the root is `/`).
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.nodes.sorted().into_iter().map(|(p, _)| p)
    }

    /// The sorted child names of the node at `path` (`""` is the root).
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.nodes.get(path::lookup_key(path)).map(|n| n.children.iter().map(|c| c.to_string()).collect())
    }

    /// The data of the node at `path` (`""` is the root).
    pub fn data(&self, path: &str) -> Option<&Data> {
        self.nodes.get(path::lookup_key(path)).map(|n| &n.data)
    }

    /// The kind of the node at `path`.
    pub fn node_kind(&self, path: &str) -> Option<NodeKind> {
        self.nodes.get(path::lookup_key(path)).map(|n| n.kind)
    }

    /// The number of nodes, the root and system nodes included.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// getAllChildrenNumber: the number of descendants of `path`, `None` if it is missing. On a
    /// real server's root `""` counts one more: 3.8.0's `DataTree.getAllChildrenNumber` counts
    /// the node keys starting with `path + "/"`, and for `""` the root's own `/` key matches.
    pub fn descendant_count(&self, path: &str) -> Option<usize> {
        let key = path::lookup_key(path);
        let mut stack = vec![(key.to_string(), self.nodes.get(key)?)];
        let mut count = usize::from(path.is_empty() && self.system_nodes);
        while let Some((p, node)) = stack.pop() {
            count += node.children.len();
            for c in &node.children {
                let child = path::join(&p, c);
                let n = self.nodes.get(&child).unwrap_or_else(|| panic!("child {child} listed by {p} exists"));
                stack.push((child, n));
            }
        }
        Some(count)
    }

    /// Containers and their stat, for the reaper.
    pub(super) fn containers(&self) -> impl Iterator<Item = (&str, Stat)> {
        self.containers.iter().map(|p| (p.as_str(), self.nodes[p].stat()))
    }

    /// The stored create counter of a node (the next sequential suffix).
    pub fn child_creates(&self, path: &str) -> Option<i32> {
        self.nodes.get(path::lookup_key(path)).map(|n| n.creates)
    }

    /// TTL nodes with their ttl and stat, for the reaper.
    pub(super) fn ttl_nodes(&self) -> impl Iterator<Item = (&str, i64, Stat)> {
        self.ttls.iter().map(|p| {
            let n = &self.nodes[p];
            let NodeKind::Ttl { ttl_ms } = n.kind else { panic!("ttl index holds {p}, which is not a TTL node") };
            (p.as_str(), ttl_ms, n.stat())
        })
    }

    /// Walks the whole tree and asserts every structural invariant. O(nodes): `apply` runs it
    /// in debug builds on small trees; tests call it directly.
    pub fn check_invariants(&self) {
        assert!(self.nodes.contains_key(path::ROOT), "the root always exists");
        let mut ephemeral_count = 0;
        for (p, n) in self.nodes.sorted() {
            for c in &n.children {
                let child = path::join(p, c);
                assert!(self.nodes.contains_key(&child), "child {child} listed by {p} exists");
            }
            assert!(n.mzxid >= n.czxid && n.pzxid >= n.czxid, "{p}: mzxid and pzxid not before czxid");
            assert!(n.mzxid <= self.last_zxid && n.pzxid <= self.last_zxid, "{p}: zxids not after last_zxid");
            if p != path::ROOT {
                let parent = path::raw_parent(p).expect("node paths are absolute");
                let pn = self.nodes.get(parent).unwrap_or_else(|| panic!("parent {parent} of {p} exists"));
                assert!(pn.children.contains(path::name(p)), "{parent} lists its child {p}");
                assert!(!matches!(pn.kind, NodeKind::Ephemeral(_)), "ephemeral {parent} has no child {p}");
                if !(self.system_nodes && path::SYSTEM_PATHS.contains(&p)) {
                    assert!(path::validate(p).is_ok(), "stored path {p:?} is valid");
                }
            }
            match n.kind {
                NodeKind::Ephemeral(s) => {
                    ephemeral_count += 1;
                    assert!(
                        self.orphans_allowed || self.sessions.contains_key(&s),
                        "owner {s} of ephemeral {p} is open"
                    );
                    assert!(self.ephemerals.get(&s).is_some_and(|e| e.contains(p)), "ephemeral {p} indexed under {s}");
                }
                NodeKind::Container => assert!(self.containers.contains(p), "container {p} indexed"),
                NodeKind::Ttl { ttl_ms } => {
                    assert!((1..=MAX_TTL_MS).contains(&ttl_ms), "{p}: ttl {ttl_ms} in range");
                    assert!(self.ttls.contains(p), "ttl node {p} indexed");
                }
                NodeKind::Persistent => {}
            }
        }
        let indexed: usize = self.ephemerals.values().map(BTreeSet::len).sum();
        assert_eq!(indexed, ephemeral_count, "ephemeral index matches the tree");
        for s in self.ephemerals.keys() {
            assert!(
                self.orphans_allowed || self.sessions.contains_key(s),
                "ephemeral index holds only open sessions ({s})"
            );
        }
        for p in &self.containers {
            assert!(self.nodes.get(p).is_some_and(|n| n.kind == NodeKind::Container), "indexed container {p} exists");
        }
        for p in &self.ttls {
            assert!(
                self.nodes.get(p).is_some_and(|n| matches!(n.kind, NodeKind::Ttl { .. })),
                "indexed ttl {p} exists"
            );
        }
    }

    fn close_session(&mut self, session: SessionId, zxid: Zxid, triggers: &mut Vec<Trigger>) -> Outcome {
        if self.sessions.remove(&session).is_none() {
            return err(ErrorCode::SessionExpired);
        }
        // One txn deletes every ephemeral: parents get pzxid = this zxid (probes md §9).
        for p in self.ephemerals.remove(&session).unwrap_or_default() {
            let node = self.nodes.get(&p).unwrap_or_else(|| panic!("indexed ephemeral {p} exists"));
            assert_eq!(node.kind, NodeKind::Ephemeral(session), "indexed ephemeral {p} is owned by {session}");
            assert!(node.children.is_empty(), "ephemeral {p} has no children");
            self.remove_node(&p, zxid, triggers);
        }
        done()
    }

    fn apply_client(
        &mut self,
        session: SessionId,
        op: &Op,
        zxid: Zxid,
        time: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Outcome {
        let mut undo = UndoLog::off();
        match op {
            Op::Create { path, data, mode, acl } => {
                match self.create(session, path, data, *mode, acl, zxid, time, triggers, &mut undo) {
                    Ok(created) => {
                        let stat = self.node_stat(&created);
                        ok(OpResult::Created { path: created, stat })
                    }
                    Err(code) => err(code),
                }
            }
            Op::Delete { path, version } => match self.delete(path, *version, zxid, triggers, &mut undo) {
                Ok(()) => done(),
                Err(code) => err(code),
            },
            Op::SetData { path, data, version } => {
                match self.set_data(path, data, *version, zxid, time, triggers, &mut undo) {
                    Ok(stat) => ok(OpResult::Stat { stat }),
                    Err(code) => err(code),
                }
            }
            Op::SetAcl { path, acl, version } => match self.set_acl(path, acl, *version) {
                Ok(stat) => ok(OpResult::Stat { stat }),
                Err(code) => err(code),
            },
            Op::Multi { ops } if op.is_write() => self.multi(session, ops, zxid, time, triggers),
            // A client close that reached the log as a client op: same as the session txn.
            Op::CloseSession => self.close_session(session, zxid, triggers),
            // Reads, sync and watch management are never transactions, nor is a multi holding
            // a read (ZooKeeper 3.8 refuses it whole).
            Op::GetData { .. }
            | Op::Exists { .. }
            | Op::GetChildren { .. }
            | Op::Sync { .. }
            | Op::AddWatch { .. }
            | Op::RemoveWatches { .. }
            | Op::GetEphemerals { .. }
            | Op::GetAllChildrenNumber { .. }
            | Op::GetAcl { .. }
            | Op::Multi { .. } => err(ErrorCode::MarshallingError),
        }
    }

    /// A multi: one zxid; each op sees the ones before it; on the first failure everything is
    /// undone and the per-op codes are Ok…, the error, RuntimeInconsistency….
    fn multi(
        &mut self,
        session: SessionId,
        ops: &[MultiOp],
        zxid: Zxid,
        time: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Outcome {
        let mut undo = UndoLog::recording();
        let mut results = Vec::with_capacity(ops.len());
        let mut multi_triggers = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let r = match op {
                MultiOp::Create { path, data, mode, acl } => {
                    self.create(session, path, data, *mode, acl, zxid, time, &mut multi_triggers, &mut undo).map(
                        |created| {
                            // create2 inside a multi is answered like create (no stat), except
                            // container and TTL creates, which use their own opcodes (probes md §6).
                            let stat = match mode {
                                CreateMode::Container
                                | CreateMode::PersistentWithTtl { .. }
                                | CreateMode::PersistentSequentialWithTtl { .. } => self.node_stat(&created),
                                _ => None,
                            };
                            MultiSubResult::Created { path: created, stat }
                        },
                    )
                }
                MultiOp::Delete { path, version } => {
                    self.delete(path, *version, zxid, &mut multi_triggers, &mut undo).map(|()| MultiSubResult::Deleted)
                }
                MultiOp::SetData { path, data, version } => self
                    .set_data(path, data, *version, zxid, time, &mut multi_triggers, &mut undo)
                    .map(|stat| MultiSubResult::SetData { stat }),
                MultiOp::Check { path, version } => self.check(path, *version).map(|()| MultiSubResult::Checked),
                // Refused whole before it gets here (see `apply_client`).
                MultiOp::GetData { .. } | MultiOp::GetChildren { .. } => Err(ErrorCode::MarshallingError),
            };
            match r {
                Ok(sub) => results.push(sub),
                Err(code) => {
                    while let Some(u) = undo.pop() {
                        self.undo(u);
                    }
                    let mut codes = vec![ErrorCode::Ok; i];
                    codes.push(code);
                    codes.resize(ops.len(), ErrorCode::RuntimeInconsistency);
                    return Outcome::MultiErr { code, results: codes };
                }
            }
        }
        triggers.append(&mut multi_triggers);
        ok(OpResult::Multi { results })
    }

    /// create (PrepRequestProcessor.pRequest2TxnCreate + DataTree.createNode). Returns the
    /// created path. Check order matters: it is what clients observe (probes md §5, §7).
    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        session: SessionId,
        path: &str,
        data: &Data,
        mode: CreateMode,
        acl: &Acl,
        zxid: Zxid,
        time: i64,
        triggers: &mut Vec<Trigger>,
        undo: &mut UndoLog,
    ) -> Result<String, ErrorCode> {
        // CreateMode.fromFlag and the TTL rule refuse a raw request no mode describes.
        if let CreateMode::Invalid { .. } = mode {
            return Err(ErrorCode::BadArguments);
        }
        if let Some(ttl) = mode.ttl_ms() {
            if !(1..=MAX_TTL_MS).contains(&ttl) {
                return Err(ErrorCode::BadArguments);
            }
        }
        // The parent is looked up before the path's syntax is checked: `/b/` with `/b`
        // missing is NoNode, not BadArguments.
        if path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let parent_key = path::raw_parent(path).ok_or(ErrorCode::BadArguments)?.to_string();
        // fixupACL runs before the parent is looked up: InvalidACL wins over NoNode.
        let acl = acl.fixup()?;
        let parent = self.nodes.get(&parent_key).ok_or(ErrorCode::NoNode)?;
        if !parent.acl.allows(Perms::CREATE) {
            return Err(ErrorCode::NoAuth);
        }
        let full = if mode.is_sequential() { format!("{path}{:010}", parent.creates) } else { path.to_string() };
        path::validate(&full).map_err(|_| ErrorCode::BadArguments)?;
        if self.nodes.contains_key(&full) {
            return Err(ErrorCode::NodeExists);
        }
        if matches!(parent.kind, NodeKind::Ephemeral(_)) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        // The validated `full` path's parent is the raw parent we looked up.
        assert_eq!(path::raw_parent(&full), Some(parent_key.as_str()), "created {full} lands under {parent_key}");
        let kind = match mode {
            CreateMode::Persistent | CreateMode::PersistentSequential => NodeKind::Persistent,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential => NodeKind::Ephemeral(session),
            CreateMode::Container => NodeKind::Container,
            CreateMode::PersistentWithTtl { ttl_ms } | CreateMode::PersistentSequentialWithTtl { ttl_ms } => {
                NodeKind::Ttl { ttl_ms }
            }
            CreateMode::Invalid { .. } => unreachable!("refused above"),
        };
        let parent = self.nodes.get_mut(&parent_key).expect("looked up above");
        let (parent_creates, parent_pzxid) = (parent.creates, parent.pzxid);
        undo.push(|| Undo::Created { path: full.clone(), parent: parent_key.clone(), parent_creates, parent_pzxid });
        let inserted = parent.children.insert(Arc::from(path::name(&full)));
        assert!(inserted, "{full} was not yet a child of {parent_key}");
        parent.creates = parent.creates.wrapping_add(1);
        parent.pzxid = zxid;
        let mut node = Node::new(data.clone(), zxid, time, kind);
        node.acl = acl;
        self.nodes.insert(&full, node);
        self.index_insert(&full, kind);
        triggers.push(Trigger { kind: EventType::NodeCreated, path: full.clone() });
        triggers.push(Trigger { kind: EventType::NodeChildrenChanged, path: parent_key });
        Ok(full)
    }

    /// delete: no syntax check beyond "has a slash, no NUL, not reserved" (probes md §5); then
    /// parent, node, version, emptiness — BadVersion before NotEmpty (§7).
    fn delete(
        &mut self,
        path: &str,
        version: i32,
        zxid: Zxid,
        triggers: &mut Vec<Trigger>,
        undo: &mut UndoLog,
    ) -> Result<(), ErrorCode> {
        if path.contains('\0') || self.is_reserved(path) {
            return Err(ErrorCode::BadArguments);
        }
        let parent_key = path::raw_parent(path).ok_or(ErrorCode::BadArguments)?;
        // DELETE is the parent's permission; the node's own ACL does not matter.
        match self.nodes.get(parent_key) {
            None => return Err(ErrorCode::NoNode),
            Some(parent) if !parent.acl.allows(Perms::DELETE) => return Err(ErrorCode::NoAuth),
            Some(_) => {}
        }
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        check_version(node.version, version)?;
        if !node.children.is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        let parent_key = parent_key.to_string();
        let parent_pzxid = self.nodes[&parent_key].pzxid;
        let node = self.remove_node(path, zxid, triggers);
        undo.push(|| Undo::Deleted { path: path.to_string(), parent: parent_key, node, parent_pzxid });
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn set_data(
        &mut self,
        path: &str,
        data: &Data,
        version: i32,
        zxid: Zxid,
        time: i64,
        triggers: &mut Vec<Trigger>,
        undo: &mut UndoLog,
    ) -> Result<Stat, ErrorCode> {
        path::validate(path).map_err(|_| ErrorCode::BadArguments)?;
        let node = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
        if !node.acl.allows(Perms::WRITE) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node.version, version)?;
        let old = std::mem::replace(&mut node.data, data.clone());
        let (mzxid, mtime, old_version) = (node.mzxid, node.mtime, node.version);
        undo.push(|| Undo::Set { path: path.to_string(), data: old, mzxid, mtime, version: old_version });
        node.mzxid = zxid;
        node.mtime = time;
        node.version = node.version.wrapping_add(1);
        triggers.push(Trigger { kind: EventType::NodeDataChanged, path: path.to_string() });
        Ok(node.stat())
    }

    fn check(&self, path: &str, version: i32) -> Result<(), ErrorCode> {
        path::validate(path).map_err(|_| ErrorCode::BadArguments)?;
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        if !node.acl.allows(Perms::READ) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node.version, version)
    }

    /// setACL (never inside a multi): syntax, the new ACL, the node, its ADMIN permission, the
    /// aversion. Only aversion and the ACL change: no mzxid, no watch.
    fn set_acl(&mut self, path: &str, acl: &Acl, version: i32) -> Result<Stat, ErrorCode> {
        path::validate(path).map_err(|_| ErrorCode::BadArguments)?;
        let acl = acl.fixup()?;
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        if !node.acl.allows(Perms::ADMIN) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node.aversion, version)?;
        let node = self.nodes.get_mut(path).expect("looked up above");
        node.aversion = node.aversion.wrapping_add(1);
        node.acl = acl;
        Ok(node.stat())
    }

    /// Whether a reaper deletion (ZooKeeper's deleteContainer, for containers and TTL nodes
    /// alike) goes ahead, by PrepRequestProcessor's checks: the node exists and is childless
    /// and not an ephemeral. Neither its kind nor a TTL node's expiry is checked again, so a
    /// TTL node set since it was picked is deleted all the same, as ZooKeeper does.
    fn check_reapable(&self, path: &str) -> Result<(), ErrorCode> {
        if path == path::ROOT {
            return Err(ErrorCode::NoNode);
        }
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        if !node.children.is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        if matches!(node.kind, NodeKind::Ephemeral(_)) {
            return Err(ErrorCode::BadVersion);
        }
        Ok(())
    }

    fn delete_checked(&mut self, path: &str, zxid: Zxid, triggers: &mut Vec<Trigger>) -> Outcome {
        self.remove_node(path, zxid, triggers);
        done()
    }

    /// Removes a childless node (DataTree.deleteNode) and returns it.
    fn remove_node(&mut self, path: &str, zxid: Zxid, triggers: &mut Vec<Trigger>) -> Node {
        let node = self.nodes.remove(path).unwrap_or_else(|| panic!("deleting {path}, which exists"));
        assert!(node.children.is_empty(), "deleting {path}, which has no children");
        let parent_key = path::raw_parent(path).expect("stored paths are absolute").to_string();
        let parent = self.nodes.get_mut(&parent_key).unwrap_or_else(|| panic!("parent {parent_key} of {path} exists"));
        let removed = parent.children.remove(path::name(path));
        assert!(removed, "{parent_key} listed {path}");
        parent.pzxid = zxid;
        self.index_remove(path, node.kind);
        triggers.push(Trigger { kind: EventType::NodeDeleted, path: path.to_string() });
        triggers.push(Trigger { kind: EventType::NodeChildrenChanged, path: parent_key });
        node
    }

    fn undo(&mut self, u: Undo) {
        match u {
            Undo::Created { path, parent, parent_creates, parent_pzxid } => {
                let node = self.nodes.remove(&path).unwrap_or_else(|| panic!("undo: created {path} still exists"));
                assert!(node.children.is_empty(), "undo: {path} got no children that outlive it");
                self.index_remove(&path, node.kind);
                let p = self.nodes.get_mut(&parent).unwrap_or_else(|| panic!("undo: parent {parent} exists"));
                assert!(p.children.remove(path::name(&path)), "undo: {parent} lists {path}");
                p.creates = parent_creates;
                p.pzxid = parent_pzxid;
            }
            Undo::Deleted { path, parent, node, parent_pzxid } => {
                let p = self.nodes.get_mut(&parent).unwrap_or_else(|| panic!("undo: parent {parent} exists"));
                assert!(p.children.insert(Arc::from(path::name(&path))), "undo: {path} was gone from {parent}");
                p.pzxid = parent_pzxid;
                self.index_insert(&path, node.kind);
                assert!(self.nodes.insert(&path, node).is_none(), "undo: {path} was gone");
            }
            Undo::Set { path, data, mzxid, mtime, version } => {
                let n = self.nodes.get_mut(&path).unwrap_or_else(|| panic!("undo: set {path} exists"));
                n.data = data;
                n.mzxid = mzxid;
                n.mtime = mtime;
                n.version = version;
            }
        }
    }

    fn index_insert(&mut self, path: &str, kind: NodeKind) {
        let fresh = match kind {
            NodeKind::Persistent => true,
            NodeKind::Ephemeral(s) => {
                assert!(
                    self.orphans_allowed || self.sessions.contains_key(&s),
                    "ephemeral {path} owned by open session {s}"
                );
                self.ephemerals.entry(s).or_default().insert(path.to_string())
            }
            NodeKind::Container => self.containers.insert(path.to_string()),
            NodeKind::Ttl { .. } => self.ttls.insert(path.to_string()),
        };
        assert!(fresh, "{path} indexed once");
    }

    fn index_remove(&mut self, path: &str, kind: NodeKind) {
        let found = match kind {
            NodeKind::Persistent => true,
            NodeKind::Ephemeral(s) => match self.ephemerals.get_mut(&s) {
                Some(set) => {
                    let found = set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                    found
                }
                // The session's index was already taken whole by close_session.
                None => !self.sessions.contains_key(&s),
            },
            NodeKind::Container => self.containers.remove(path),
            NodeKind::Ttl { .. } => self.ttls.remove(path),
        };
        assert!(found, "{path} was indexed");
    }

    /// Paths delete refuses outright (ZKDatabase.isSpecialPath).
    fn is_reserved(&self, p: &str) -> bool {
        p == path::ROOT || (self.system_nodes && path::SYSTEM_PATHS.contains(&p))
    }
}

/// Only −1 is a wildcard; −2 is just a version that never matches (probes md §7).
fn check_version(current: i32, expected: i32) -> Result<(), ErrorCode> {
    if expected != -1 && expected != current {
        Err(ErrorCode::BadVersion)
    } else {
        Ok(())
    }
}

fn ok(value: OpResult) -> Outcome {
    Outcome::Ok { value }
}

fn done() -> Outcome {
    ok(OpResult::Done)
}

fn err(code: ErrorCode) -> Outcome {
    Outcome::Err { code }
}

/// Why a close happened matters to watches (the closer hears its own ephemerals go, an
/// expired session hears nothing), not to the tree.
pub fn close_reason(txn: &Txn) -> Option<(SessionId, CloseReason)> {
    match txn {
        Txn::CloseSession { session, reason } => Some((*session, *reason)),
        Txn::Client { session, op: Op::CloseSession, .. } => Some((*session, CloseReason::Closed)),
        _ => None,
    }
}

impl DataTree {
    /// Planted bug ZOOKEEPER-1046: forgets every node's create counter (the cversion and the
    /// next sequential suffix), keeping only what the children present imply, as a recovery
    /// that does not restore cversion does.
    pub fn forget_child_creates(&mut self) {
        self.nodes.for_each_mut(|n| n.creates = n.children.len() as i32);
    }
}

#[cfg(test)]
impl DataTree {
    /// Forces a node's stored create counter, to reach the i32 wrap without 2^31 creates.
    pub(crate) fn set_child_creates_for_test(&mut self, path: &str, creates: i32) {
        self.nodes.get_mut(path).expect("node exists").creates = creates;
    }
}
