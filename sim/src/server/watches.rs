//! The watch manager: per server, not replicated (ZooKeeper's WatchManager, with the fixes of
//! ZOOKEEPER-4466 and ZOOKEEPER-4471).

use super::datatree::{DataTree, Trigger};
use crate::proto;
use zksim_model::{AddWatchMode, ErrorCode, Op, Outcome, SessionId, WatchedEvent, WatcherKind, Zxid};

/// The kinds of watch a session can hold on a path.
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

/// The watches registered on one server.
#[derive(Clone, Debug, Default)]
pub struct WatchManager {}

impl WatchManager {
    /// No watches.
    pub fn new() -> Self {
        WatchManager::default()
    }

    /// After a read: registers the watch ZooKeeper would register for this op and outcome.
    pub fn register_for_read(&mut self, session: SessionId, op: &Op, outcome: &Outcome) {
        let _ = (session, op, outcome);
        todo!()
    }

    /// addWatch.
    pub fn add_watch(&mut self, session: SessionId, path: &str, mode: AddWatchMode) {
        let _ = (session, path, mode);
        todo!()
    }

    /// removeWatches: `Err(NoWatcher)` when the session holds no such watch on `path`.
    pub fn remove_watches(&mut self, session: SessionId, path: &str, kind: WatcherKind) -> Result<(), ErrorCode> {
        let _ = (session, path, kind);
        todo!()
    }

    /// The notifications a committed txn fires, per session, in delivery order.
    pub fn trigger(&mut self, triggers: &[Trigger], zxid: Zxid) -> Vec<(SessionId, WatchedEvent)> {
        let _ = (triggers, zxid);
        todo!()
    }

    /// Forgets every watch of `session`.
    pub fn drop_session(&mut self, session: SessionId) {
        let _ = session;
        todo!()
    }

    /// SetWatches on reconnect: re-registers and returns the events to fire at once.
    pub fn set_watches(
        &mut self,
        session: SessionId,
        last_zxid: Zxid,
        watches: &proto::WatchSet,
        tree: &DataTree,
    ) -> Vec<WatchedEvent> {
        let _ = (session, last_zxid, watches, tree);
        todo!()
    }
}
