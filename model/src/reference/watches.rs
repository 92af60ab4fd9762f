//! Watch registrations, kept as the server keeps them: a data table (getData / exists watches,
//! persistent and persistent-recursive watches) and a child table (getChildren watches and the
//! child half of persistent watches), each `path → session → modes`.
//!
//! By default the model follows the FIXED behaviour of ZOOKEEPER-4466 / ZOOKEEPER-4471: a
//! one-shot watch and a persistent watch on the same path coexist (the one-shot is consumed when
//! it fires, the persistent stays), and `removeWatches(data|children)` removes only one-shot
//! watches while `removeWatches(any)` removes every watch the session has on the path. That is
//! what the service implements and what the checkers judge it by.
//!
//! [`WatchRules::Zk380`] re-creates 3.8.0's own behaviour instead, for comparing the model with
//! recordings of a real 3.8.0 server: its WatcherModeManager keeps ONE mode per (table, session,
//! path) and the later registration replaces the earlier one, and its removeWatches(data) or
//! (children) removes that table's entry whatever its mode.

use super::name::Key;
use super::path;
use super::Trigger;
use crate::lookup::LookupMap;
use crate::types::{AddWatchMode, EventType, SessionId, WatchedEvent, WatcherKind, Zxid};
use std::collections::{BTreeMap, BTreeSet};

/// The watch modes one session has on one path in one table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Modes {
    one_shot: bool,
    persistent: bool,
    /// Only ever set in the data table.
    recursive: bool,
}

impl Modes {
    fn is_empty(self) -> bool {
        !self.one_shot && !self.persistent && !self.recursive
    }
}

/// Keyed by path. Searched on every change and every watched read, never walked in an order that
/// matters (only `check_invariants` walks them, in key order): a hash map.
type Table = LookupMap<Key, BTreeMap<SessionId, Modes>>;

/// Which ZooKeeper's watch bookkeeping the model follows (see the module's documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WatchRules {
    /// ZOOKEEPER-4466 and -4471 fixed: modes coexist; typed removal takes only one-shot watches.
    #[default]
    Fixed,
    /// ZooKeeper 3.8.0 as released: one mode per (table, session, path), the last one set wins;
    /// typed removal takes the table's entry whatever its mode.
    Zk380,
}

/// Every session's watches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watches {
    rules: WatchRules,
    data: Table,
    child: Table,
    /// Exactly the paths where a session has an entry in either table, so a closing session's
    /// watches are dropped without scanning everyone's.
    by_session: BTreeMap<SessionId, BTreeSet<Key>>,
    /// How many data-table entries hold a recursive watch: while none do, a change skips the
    /// lookups of its ancestors.
    recursive: usize,
}

/// Hashes the per-session index and the recursive count: both are exact functions of the
/// tables (see `check_invariants`), so equal watches hash equal, as `Hash` requires.
impl std::hash::Hash for Watches {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.rules.hash(state);
        self.by_session.hash(state);
        self.recursive.hash(state);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Data,
    Child,
}

impl Watches {
    /// Empty tables following `rules`.
    pub fn new(rules: WatchRules) -> Watches {
        Watches { rules, ..Watches::default() }
    }

    /// getData / exists with `watch`: a one-shot data watch.
    pub fn add_data(&mut self, s: SessionId, p: &str) {
        let add = self.adder(Modes { one_shot: true, ..Modes::default() });
        self.update(Which::Data, s, p, add);
    }

    /// getChildren with `watch`: a one-shot child watch.
    pub fn add_child(&mut self, s: SessionId, p: &str) {
        let add = self.adder(Modes { one_shot: true, ..Modes::default() });
        self.update(Which::Child, s, p, add);
    }

    /// addWatch: persistent watches go in both tables, recursive ones only in the data table
    /// (which is why they never see NodeChildrenChanged).
    pub fn add_persistent(&mut self, s: SessionId, p: &str, mode: AddWatchMode) {
        match mode {
            AddWatchMode::Persistent => {
                let add = self.adder(Modes { persistent: true, ..Modes::default() });
                self.update(Which::Data, s, p, add);
                self.update(Which::Child, s, p, add);
            }
            AddWatchMode::PersistentRecursive => {
                let add = self.adder(Modes { recursive: true, ..Modes::default() });
                self.update(Which::Data, s, p, add);
            }
        }
    }

    /// How registering the one mode in `mode` changes an entry: fixed rules add it to what is
    /// there; 3.8.0's replace what is there (setWatcherMode keeps one mode per entry).
    fn adder(&self, mode: Modes) -> impl Fn(&mut Modes) + Copy {
        let replace = self.rules == WatchRules::Zk380;
        move |m: &mut Modes| {
            if replace {
                *m = mode;
            } else {
                m.one_shot |= mode.one_shot;
                m.persistent |= mode.persistent;
                m.recursive |= mode.recursive;
            }
        }
    }

    /// removeWatches: true when something was removed (else the server answers NoWatcher).
    pub fn remove(&mut self, s: SessionId, p: &str, kind: WatcherKind) -> bool {
        // 3.8.0's WatchManager.removeWatcher drops the table's entry whatever its mode.
        let typed_takes_all = self.rules == WatchRules::Zk380;
        let mut removed = false;
        let mut clear = |w: &mut Self, which: Which, all: bool| {
            w.update(which, s, p, |m| {
                if all && !m.is_empty() {
                    *m = Modes::default();
                    removed = true;
                } else if m.one_shot {
                    m.one_shot = false;
                    removed = true;
                }
            });
        };
        match kind {
            WatcherKind::Data => clear(self, Which::Data, typed_takes_all),
            WatcherKind::Children => clear(self, Which::Child, typed_takes_all),
            WatcherKind::Any => {
                clear(self, Which::Data, true);
                clear(self, Which::Child, true);
            }
        }
        removed
    }

    /// Drops every watch of `s` (its session ended).
    pub fn drop_session(&mut self, s: SessionId) {
        for p in self.by_session.remove(&s).unwrap_or_default() {
            for table in [&mut self.data, &mut self.child] {
                if let Some(per_session) = table.get_mut(p.as_bytes()) {
                    if per_session.remove(&s).is_some_and(|m| m.recursive) {
                        self.recursive -= 1;
                    }
                    if per_session.is_empty() {
                        table.remove(p.as_bytes());
                    }
                }
            }
        }
    }

    /// The sessions holding any watch.
    pub fn sessions(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.by_session.keys().copied()
    }

    /// Checks that no empty entry is kept and that `by_session` is exact. O(watches).
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut expected: BTreeMap<SessionId, BTreeSet<Key>> = BTreeMap::new();
        for table in [&self.data, &self.child] {
            for (p, per_session) in table.sorted() {
                if per_session.is_empty() {
                    return Err(format!("empty watch entry for {p}"));
                }
                for (s, m) in per_session {
                    if m.is_empty() {
                        return Err(format!("empty modes for {s} on {p}"));
                    }
                    expected.entry(*s).or_default().insert(p.clone());
                }
            }
        }
        if self.child.sorted().into_iter().flat_map(|(_, m)| m.values()).any(|m| m.recursive) {
            return Err("a recursive watch in the child table".into());
        }
        if expected != self.by_session {
            return Err("the per-session watch index is not exact".into());
        }
        let recursive = self.data.sorted().into_iter().flat_map(|(_, m)| m.values()).filter(|m| m.recursive).count();
        if recursive != self.recursive {
            return Err(format!("{} recursive watches counted, {recursive} held", self.recursive));
        }
        Ok(())
    }

    /// The notifications one change fires, consuming one-shot watches: at most one per session,
    /// in session order, appended to `out`.
    pub fn fire(&mut self, trigger: &Trigger, zxid: Zxid, out: &mut Vec<(SessionId, WatchedEvent)>) {
        let p = trigger.path.as_str();
        // Each source lists its sessions in order, once each; sorted and deduplicated below.
        let mut to: Vec<SessionId> = match trigger.kind {
            EventType::NodeCreated | EventType::NodeDataChanged | EventType::NodeDeleted => {
                let mut to = self.consume(Which::Data, p);
                if self.recursive > 0 {
                    for up in path::ancestors(p) {
                        if let Some(per_session) = self.data.get(up.as_bytes()) {
                            to.extend(per_session.iter().filter(|(_, m)| m.recursive).map(|(s, _)| *s));
                        }
                    }
                }
                if trigger.kind == EventType::NodeDeleted {
                    // A child watch on a deleted node fires NodeDeleted (once per session).
                    to.extend(self.consume(Which::Child, p));
                }
                to
            }
            EventType::NodeChildrenChanged => self.consume(Which::Child, p),
        };
        to.sort_unstable();
        to.dedup();
        out.extend(to.into_iter().map(|s| (s, WatchedEvent { kind: trigger.kind, path: trigger.path.clone(), zxid })));
    }

    /// The sessions with any watch on `p` in `which`, consuming their one-shot watches. One
    /// search of the table: the entry's modes are changed in place.
    fn consume(&mut self, which: Which, p: &str) -> Vec<SessionId> {
        let (table, other) = match which {
            Which::Data => (&mut self.data, &self.child),
            Which::Child => (&mut self.child, &self.data),
        };
        // The entry is taken out whole and what stays (persistent watches; usually nothing) put
        // back, rather than removing the one-shots one at a time.
        let Some(per_session) = table.remove(p.as_bytes()) else {
            return Vec::new();
        };
        let mut sessions = Vec::with_capacity(per_session.len());
        // Clearing a one-shot leaves recursive watches as they were; an entry left empty held
        // no recursive watch, so the count stands.
        let mut kept = BTreeMap::new();
        let mut emptied = Vec::new();
        for (s, mut m) in per_session {
            sessions.push(s);
            m.one_shot = false;
            if m.is_empty() {
                emptied.push(s);
            } else {
                kept.insert(s, m);
            }
        }
        if !kept.is_empty() {
            table.insert(Key::new(p), kept);
        }
        if emptied.is_empty() {
            return sessions;
        }
        let in_other = other.get(p.as_bytes());
        for s in emptied {
            if in_other.is_some_and(|m| m.contains_key(&s)) {
                continue;
            }
            if let Some(paths) = self.by_session.get_mut(&s) {
                paths.remove(p.as_bytes());
                if paths.is_empty() {
                    self.by_session.remove(&s);
                }
            }
        }
        sessions
    }

    /// Changes one entry, keeping the tables free of empty entries and `by_session` exact.
    /// Allocates a path string only when an entry is created.
    fn update(&mut self, which: Which, s: SessionId, p: &str, f: impl FnOnce(&mut Modes)) {
        let (table, other) = match which {
            Which::Data => (&mut self.data, &self.child),
            Which::Child => (&mut self.child, &self.data),
        };
        let mut recursive = (false, false);
        let here = match table.get_mut(p.as_bytes()) {
            Some(per_session) => {
                let modes = per_session.entry(s).or_default();
                recursive.0 = modes.recursive;
                f(modes);
                recursive.1 = modes.recursive;
                if modes.is_empty() {
                    per_session.remove(&s);
                    if per_session.is_empty() {
                        table.remove(p.as_bytes());
                    }
                    false
                } else {
                    true
                }
            }
            None => {
                let mut modes = Modes::default();
                f(&mut modes);
                recursive.1 = modes.recursive;
                if !modes.is_empty() {
                    table.insert(Key::new(p), BTreeMap::from([(s, modes)]));
                }
                !modes.is_empty()
            }
        };
        match recursive {
            (false, true) => self.recursive += 1,
            (true, false) => self.recursive -= 1,
            _ => {}
        }
        // The other table is searched only when this one holds nothing for `s` on `p`.
        if here || other.get(p.as_bytes()).is_some_and(|m| m.contains_key(&s)) {
            let paths = self.by_session.entry(s).or_default();
            if !paths.contains(p.as_bytes()) {
                paths.insert(Key::new(p));
            }
        } else if let Some(paths) = self.by_session.get_mut(&s) {
            paths.remove(p.as_bytes());
            if paths.is_empty() {
                self.by_session.remove(&s);
            }
        }
    }
}
