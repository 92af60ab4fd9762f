//! The watch manager: per server, not replicated (ZooKeeper's `WatchManager`, one table for
//! data watches and one for child watches, with the fixed behaviour of ZOOKEEPER-4466 — a
//! one-shot and a persistent watch on the same path coexist — and ZOOKEEPER-4471 —
//! removeWatches(data/children) removes only one-shot watches, `any` removes everything).

use super::datatree::{close_reason, Applied, DataTree, Trigger};
use super::path;
use super::path_index::PathIndex;
use crate::proto;
use std::collections::{BTreeMap, BTreeSet};
use zksim_model::history::{CloseReason, TxnRecord};
use zksim_model::{
    AddWatchMode, ErrorCode, EventType, Op, OpResult, Outcome, SessionId, WatchedEvent, WatcherKind, Zxid,
};

/// The kinds of watch a session can hold on a path (the client-side bookkeeping of SetWatches).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WatchKind {
    /// One-shot, set by getData or exists on an existing node.
    Data,
    /// One-shot, set by exists on a missing node.
    Exist,
    /// One-shot, set by getChildren.
    Child,
    /// addWatch(PERSISTENT).
    Persistent,
    /// addWatch(PERSISTENT_RECURSIVE).
    PersistentRecursive,
}

/// The modes one session holds on one path in one table (ZooKeeper 3.9's WatchStats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Modes {
    standard: bool,
    persistent: bool,
    recursive: bool,
}

impl Modes {
    fn is_empty(self) -> bool {
        !(self.standard || self.persistent || self.recursive)
    }
}

/// One of ZooKeeper's two watch tables.
#[derive(Clone, Debug, Default)]
struct Table {
    by_path: PathIndex<BTreeMap<SessionId, Modes>>,
    by_session: BTreeMap<SessionId, BTreeSet<String>>,
    /// How many (session, path) entries hold a recursive mode: when 0, triggers need not
    /// walk the ancestors (ZooKeeper's `recursiveWatchQty` shortcut).
    recursive: usize,
}

impl Table {
    fn modes(&self, session: SessionId, path: &str) -> Modes {
        self.by_path.get(path).and_then(|m| m.get(&session)).copied().unwrap_or_default()
    }

    fn update(&mut self, session: SessionId, path: &str, f: impl FnOnce(&mut Modes)) {
        if !self.by_path.contains_key(path) {
            self.by_path.insert(path, BTreeMap::new());
        }
        let entry = self.by_path.get_mut(path).expect("inserted above");
        let modes = entry.entry(session).or_default();
        let was_recursive = modes.recursive;
        f(modes);
        let now = *modes;
        match (was_recursive, now.recursive) {
            (false, true) => self.recursive += 1,
            (true, false) => self.recursive -= 1,
            _ => {}
        }
        if now.is_empty() {
            entry.remove(&session);
            if entry.is_empty() {
                self.by_path.remove(path);
            }
            if let Some(paths) = self.by_session.get_mut(&session) {
                paths.remove(path);
                if paths.is_empty() {
                    self.by_session.remove(&session);
                }
            }
        } else {
            let paths = self.by_session.entry(session).or_default();
            if !paths.contains(path) {
                paths.insert(path.to_string());
            }
        }
    }

    /// WatchManager.triggerWatch: the sessions to notify of `kind` on `path`, one-shot modes
    /// consumed. A recursive watch fires for its path and every descendant, except for
    /// NodeChildrenChanged, which it never sends.
    fn fire(&mut self, path: &str, kind: EventType, out: &mut BTreeSet<SessionId>) {
        let mut hits: Vec<(SessionId, bool)> = Vec::new();
        if let Some(watchers) = self.by_path.get(path) {
            for (s, m) in watchers {
                if m.standard || m.persistent || (m.recursive && kind != EventType::NodeChildrenChanged) {
                    hits.push((*s, m.standard));
                }
            }
        }
        if self.recursive > 0 && kind != EventType::NodeChildrenChanged {
            for anc in path::ancestors(path) {
                if let Some(watchers) = self.by_path.get(anc) {
                    out.extend(watchers.iter().filter(|(_, m)| m.recursive).map(|(s, _)| *s));
                }
            }
        }
        for (s, one_shot) in hits {
            out.insert(s);
            if one_shot {
                self.update(s, path, |m| m.standard = false);
            }
        }
    }

    fn drop_session(&mut self, session: SessionId) {
        for p in self.by_session.get(&session).cloned().unwrap_or_default() {
            self.update(session, &p, |m| *m = Modes::default());
        }
        assert!(!self.by_session.contains_key(&session), "every watch of {session} dropped");
    }

    fn check_invariants(&self) {
        let mut recursive = 0;
        for (p, watchers) in self.by_path.sorted() {
            assert!(!watchers.is_empty(), "no empty watcher set kept for {p}");
            for (s, m) in watchers {
                assert!(!m.is_empty(), "no empty mode kept for {s} on {p}");
                assert!(self.by_session.get(s).is_some_and(|ps| ps.contains(p)), "{s} on {p} indexed by session");
                recursive += usize::from(m.recursive);
            }
        }
        for (s, ps) in &self.by_session {
            for p in ps {
                assert!(!self.modes(*s, p).is_empty(), "session index of {s} on {p} matches a watch");
            }
        }
        assert_eq!(recursive, self.recursive, "recursive watch count matches");
    }
}

/// The watches registered on one server.
#[derive(Clone, Debug, Default)]
pub struct WatchManager {
    data: Table,
    child: Table,
}

impl WatchManager {
    /// No watches.
    pub fn new() -> Self {
        WatchManager::default()
    }

    /// After a read: registers the watch ZooKeeper would register for this op and outcome.
    /// getData and getChildren leave a watch only on success; exists leaves one either way
    /// (a missing node's exists watch waits for NodeCreated). The watch goes on the path as
    /// sent, like ZooKeeper.
    pub fn register_for_read(&mut self, session: SessionId, op: &Op, outcome: &Outcome) {
        match (op, outcome) {
            (Op::GetData { path, watch: true }, Outcome::Ok { value: OpResult::GetData { .. } })
            | (Op::Exists { path, watch: true }, Outcome::Ok { value: OpResult::Exists { .. } }) => {
                self.data.update(session, path, |m| m.standard = true)
            }
            (Op::GetChildren { path, watch: true }, Outcome::Ok { value: OpResult::Children { .. } }) => {
                self.child.update(session, path, |m| m.standard = true)
            }
            _ => {}
        }
    }

    /// addWatch: persistent watches go in both tables (so they hear NodeChildrenChanged too),
    /// recursive ones only in the data table. Never fails, even on a missing node.
    pub fn add_watch(&mut self, session: SessionId, path: &str, mode: AddWatchMode) {
        match mode {
            AddWatchMode::Persistent => {
                self.data.update(session, path, |m| m.persistent = true);
                self.child.update(session, path, |m| m.persistent = true);
            }
            AddWatchMode::PersistentRecursive => self.data.update(session, path, |m| m.recursive = true),
        }
    }

    /// removeWatches: `Err(NoWatcher)` when the session holds no such watch on `path`. Only
    /// the session's own watches are ever considered.
    pub fn remove_watches(&mut self, session: SessionId, path: &str, kind: WatcherKind) -> Result<(), ErrorCode> {
        let (d, c) = (self.data.modes(session, path), self.child.modes(session, path));
        match kind {
            WatcherKind::Data if d.standard => self.data.update(session, path, |m| m.standard = false),
            WatcherKind::Children if c.standard => self.child.update(session, path, |m| m.standard = false),
            WatcherKind::Any if !(d.is_empty() && c.is_empty()) => {
                self.data.update(session, path, |m| *m = Modes::default());
                self.child.update(session, path, |m| *m = Modes::default());
            }
            _ => return Err(ErrorCode::NoWatcher),
        }
        Ok(())
    }

    /// The notifications a committed txn fires, per session, in delivery order; one-shot
    /// watches are consumed. Each trigger notifies a session at most once, however many of
    /// its watches match (probes md §8); a deleted node's child watchers hear NodeDeleted.
    pub fn trigger(&mut self, triggers: &[Trigger], zxid: Zxid) -> Vec<(SessionId, WatchedEvent)> {
        let mut out = Vec::new();
        for t in triggers {
            let mut sessions = BTreeSet::new();
            match t.kind {
                EventType::NodeCreated | EventType::NodeDataChanged => self.data.fire(&t.path, t.kind, &mut sessions),
                EventType::NodeDeleted => {
                    self.data.fire(&t.path, t.kind, &mut sessions);
                    self.child.fire(&t.path, t.kind, &mut sessions);
                }
                EventType::NodeChildrenChanged => self.child.fire(&t.path, t.kind, &mut sessions),
            }
            out.extend(sessions.into_iter().map(|s| (s, WatchedEvent { kind: t.kind, path: t.path.clone(), zxid })));
        }
        out
    }

    /// Fires the watches of a committed txn the way ZooKeeper orders them around a session's
    /// end: a session that closed itself hears its own ephemerals go before its watches are
    /// dropped; an expired one was disconnected already and hears nothing.
    pub fn on_commit(&mut self, txn: &TxnRecord, applied: &Applied) -> Vec<(SessionId, WatchedEvent)> {
        match close_reason(&txn.txn) {
            Some((s, CloseReason::Expired)) => {
                self.drop_session(s);
                self.trigger(&applied.triggers, txn.zxid)
            }
            Some((s, CloseReason::Closed)) => {
                let events = self.trigger(&applied.triggers, txn.zxid);
                self.drop_session(s);
                events
            }
            None => self.trigger(&applied.triggers, txn.zxid),
        }
    }

    /// Forgets every watch of `session`.
    pub fn drop_session(&mut self, session: SessionId) {
        self.data.drop_session(session);
        self.child.drop_session(session);
    }

    /// SetWatches on reconnect (DataTree.setWatches): re-registers and returns the events to
    /// fire at once. Data watch: node gone → NodeDeleted, changed after `last_zxid` →
    /// NodeDataChanged. Exist watch: node exists → NodeCreated. Child watch: gone →
    /// NodeDeleted, children changed after `last_zxid` → NodeChildrenChanged. A watch that
    /// fires is not re-registered. Persistent watches are re-added with no catch-up events.
    pub fn set_watches(
        &mut self,
        session: SessionId,
        last_zxid: Zxid,
        watches: &proto::WatchSet,
        tree: &DataTree,
    ) -> Vec<WatchedEvent> {
        let zxid = tree.last_zxid();
        let ev = |kind, path: &String| WatchedEvent { kind, path: path.clone(), zxid };
        let mut out = Vec::new();
        for p in &watches.data {
            match tree.node_stat(p) {
                None => out.push(ev(EventType::NodeDeleted, p)),
                Some(st) if st.mzxid > last_zxid => out.push(ev(EventType::NodeDataChanged, p)),
                Some(_) => self.data.update(session, p, |m| m.standard = true),
            }
        }
        for p in &watches.exist {
            match tree.node_stat(p) {
                Some(_) => out.push(ev(EventType::NodeCreated, p)),
                None => self.data.update(session, p, |m| m.standard = true),
            }
        }
        for p in &watches.child {
            match tree.node_stat(p) {
                None => out.push(ev(EventType::NodeDeleted, p)),
                Some(st) if st.pzxid > last_zxid => out.push(ev(EventType::NodeChildrenChanged, p)),
                Some(_) => self.child.update(session, p, |m| m.standard = true),
            }
        }
        for p in &watches.persistent {
            self.add_watch(session, p, AddWatchMode::Persistent);
        }
        for p in &watches.persistent_recursive {
            self.add_watch(session, p, AddWatchMode::PersistentRecursive);
        }
        out
    }

    /// The watches `session` holds, by path and kind (one-shot data watches are reported as
    /// `Data`: the server cannot tell a getData watch from an exists watch).
    pub fn watches_of(&self, session: SessionId) -> Vec<(String, WatchKind)> {
        let mut out = BTreeSet::new();
        for p in self.data.by_session.get(&session).into_iter().flatten() {
            let m = self.data.modes(session, p);
            if m.standard {
                out.insert((p.clone(), WatchKind::Data));
            }
            if m.persistent {
                out.insert((p.clone(), WatchKind::Persistent));
            }
            if m.recursive {
                out.insert((p.clone(), WatchKind::PersistentRecursive));
            }
        }
        for p in self.child.by_session.get(&session).into_iter().flatten() {
            if self.child.modes(session, p).standard {
                out.insert((p.clone(), WatchKind::Child));
            }
        }
        out.into_iter().collect()
    }

    /// Asserts the tables' indexes agree (tests and debug checks).
    pub fn check_invariants(&self) {
        self.data.check_invariants();
        self.child.check_invariants();
        assert_eq!(self.child.recursive, 0, "recursive watches live only in the data table");
    }
}
