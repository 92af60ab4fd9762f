//! Client-side watch bookkeeping (ZooKeeper's ZKWatchManager): which watches the session holds,
//! the local waiters each one wakes, and the futures and streams the application awaits.
//!
//! The server holds one registration per (session, path, kind) and sends one notification;
//! every local waiter on that path and kind fires from it. One-shot watches leave the table when
//! they fire; persistent ones stay until removed or the session ends.

use super::error::ZkError;
use crate::proto::WatchSet;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot};
use zksim_model::{AddWatchMode, EventType, WatchedEvent, WatcherKind};

/// What a one-shot watch resolves to.
pub type WatchResult = Result<WatchedEvent, ZkError>;

/// A one-shot watch set by `get_data_w`, `exists_w` or `get_children_w`. Resolves to the event
/// that fired it, or to an error when the session expires or closes, or the watch is removed.
/// Dropping it does not unregister the watch on the server (as in ZooKeeper).
pub struct Watch {
    rx: oneshot::Receiver<WatchResult>,
}

impl Watch {
    pub(crate) fn new(rx: oneshot::Receiver<WatchResult>) -> Watch {
        Watch { rx }
    }
}

impl Future for Watch {
    type Output = WatchResult;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<WatchResult> {
        // The sender is only dropped unfired when the whole client is gone.
        Pin::new(&mut self.rx).poll(cx).map(|r| r.unwrap_or(Err(ZkError::Closed)))
    }
}

/// The events of a persistent (or persistent-recursive) watch set by `add_watch`. Yields every
/// event in order; after the session ends it yields the error once, then `None`.
pub struct WatchStream {
    rx: mpsc::UnboundedReceiver<WatchResult>,
}

impl WatchStream {
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<WatchResult>) -> WatchStream {
        WatchStream { rx }
    }

    /// The next event, or `None` once the watch is over.
    pub async fn next(&mut self) -> Option<WatchResult> {
        self.rx.recv().await
    }
}

/// The local half of a watch a request arms when the server confirms it.
pub(crate) enum WatchArm {
    OneShot(oneshot::Sender<WatchResult>),
    Persistent(mpsc::UnboundedSender<WatchResult>),
}

/// The kinds of one-shot watch, as ZooKeeper keeps them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OneShotKind {
    /// getData, or exists on an existing node.
    Data,
    /// exists on a missing node (fires on NodeCreated).
    Exist,
    /// getChildren.
    Child,
}

/// Every watch the session holds, with its local waiters.
#[derive(Default)]
pub(crate) struct WatchTable {
    data: BTreeMap<String, Vec<oneshot::Sender<WatchResult>>>,
    exist: BTreeMap<String, Vec<oneshot::Sender<WatchResult>>>,
    child: BTreeMap<String, Vec<oneshot::Sender<WatchResult>>>,
    persistent: BTreeMap<String, Vec<mpsc::UnboundedSender<WatchResult>>>,
    recursive: BTreeMap<String, Vec<mpsc::UnboundedSender<WatchResult>>>,
}

impl WatchTable {
    /// Arms a one-shot waiter the server confirmed.
    pub(crate) fn add_one_shot(&mut self, kind: OneShotKind, path: &str, tx: oneshot::Sender<WatchResult>) {
        let table = match kind {
            OneShotKind::Data => &mut self.data,
            OneShotKind::Exist => &mut self.exist,
            OneShotKind::Child => &mut self.child,
        };
        table.entry(path.to_string()).or_default().push(tx);
    }

    /// Arms a persistent waiter the server confirmed.
    pub(crate) fn add_persistent(&mut self, mode: AddWatchMode, path: &str, tx: mpsc::UnboundedSender<WatchResult>) {
        let table = match mode {
            AddWatchMode::Persistent => &mut self.persistent,
            AddWatchMode::PersistentRecursive => &mut self.recursive,
        };
        table.entry(path.to_string()).or_default().push(tx);
    }

    /// Delivers a server notification to every local waiter it concerns (ZooKeeper's
    /// `materialize`); returns how many waiters it reached.
    pub(crate) fn fire(&mut self, event: &WatchedEvent) -> usize {
        let mut one_shot = Vec::new();
        let path = event.path.as_str();
        match event.kind {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                one_shot.extend(self.data.remove(path).unwrap_or_default());
                one_shot.extend(self.exist.remove(path).unwrap_or_default());
            }
            EventType::NodeChildrenChanged => {
                one_shot.extend(self.child.remove(path).unwrap_or_default());
            }
            EventType::NodeDeleted => {
                // ZooKeeper fires exist watches on delete too ("shouldn't happen", but harmless).
                one_shot.extend(self.data.remove(path).unwrap_or_default());
                one_shot.extend(self.exist.remove(path).unwrap_or_default());
                one_shot.extend(self.child.remove(path).unwrap_or_default());
            }
        }
        let mut reached = one_shot.len();
        for tx in one_shot {
            // A dropped Watch is an application that stopped caring: fine.
            let _ = tx.send(Ok(event.clone()));
        }
        if let Some(streams) = self.persistent.get(path) {
            reached += streams.len();
            for tx in streams {
                let _ = tx.send(Ok(event.clone()));
            }
        }
        // Recursive watches see every event at or below their path, except child events.
        if event.kind != EventType::NodeChildrenChanged {
            for (root, streams) in &self.recursive {
                if is_at_or_below(path, root) {
                    reached += streams.len();
                    for tx in streams {
                        let _ = tx.send(Ok(event.clone()));
                    }
                }
            }
        }
        reached
    }

    /// Drops the local waiters `remove_watches(path, kind)` removed on the server, waking them
    /// with [`ZkError::WatchRemoved`]. Data covers data and exist watches, Children child ones,
    /// Any every kind, persistent included (ZooKeeper 3.6+).
    pub(crate) fn remove(&mut self, path: &str, kind: WatcherKind) -> usize {
        let mut one_shot = Vec::new();
        let mut streams = Vec::new();
        if matches!(kind, WatcherKind::Data | WatcherKind::Any) {
            one_shot.extend(self.data.remove(path).unwrap_or_default());
            one_shot.extend(self.exist.remove(path).unwrap_or_default());
        }
        if matches!(kind, WatcherKind::Children | WatcherKind::Any) {
            one_shot.extend(self.child.remove(path).unwrap_or_default());
        }
        streams.extend(self.persistent.remove(path).unwrap_or_default());
        streams.extend(self.recursive.remove(path).unwrap_or_default());
        let n = one_shot.len() + streams.len();
        for tx in one_shot {
            let _ = tx.send(Err(ZkError::WatchRemoved));
        }
        for tx in streams {
            let _ = tx.send(Err(ZkError::WatchRemoved));
        }
        n
    }

    /// Ends every watch with `err` (session expired or closed): they are gone on the server.
    pub(crate) fn end_all(&mut self, err: ZkError) {
        for table in [&mut self.data, &mut self.exist, &mut self.child] {
            for (_, txs) in std::mem::take(table) {
                for tx in txs {
                    let _ = tx.send(Err(err.clone()));
                }
            }
        }
        for table in [&mut self.persistent, &mut self.recursive] {
            for (_, txs) in std::mem::take(table) {
                for tx in txs {
                    let _ = tx.send(Err(err.clone()));
                }
            }
        }
    }

    /// The watches to re-register after a reconnect (sorted paths: deterministic).
    pub(crate) fn to_set(&self) -> WatchSet {
        let keys = |m: &BTreeMap<String, _>| m.keys().cloned().collect::<Vec<String>>();
        WatchSet {
            data: keys_of(&self.data),
            exist: keys_of(&self.exist),
            child: keys_of(&self.child),
            persistent: keys(&self.persistent),
            persistent_recursive: keys(&self.recursive),
        }
    }

    /// True when the session holds no watch.
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }
}

fn keys_of<V>(m: &BTreeMap<String, V>) -> Vec<String> {
    m.keys().cloned().collect()
}

/// True when `path` is `root` or a descendant of it.
fn is_at_or_below(path: &str, root: &str) -> bool {
    if root == "/" {
        return path.starts_with('/');
    }
    path == root || (path.starts_with(root) && path.as_bytes().get(root.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zksim_model::Zxid;

    fn ev(kind: EventType, path: &str) -> WatchedEvent {
        WatchedEvent { kind, path: path.to_string(), zxid: Zxid(7) }
    }

    #[test]
    fn recursive_matching_respects_path_boundaries() {
        assert!(is_at_or_below("/a/b", "/a"));
        assert!(is_at_or_below("/a", "/a"));
        assert!(!is_at_or_below("/ab", "/a"), "/ab is a sibling of /a, not below it");
        assert!(is_at_or_below("/x", "/"));
    }

    #[test]
    fn one_shot_fires_every_local_waiter_once_and_leaves_the_table() {
        let mut t = WatchTable::default();
        let (a, mut ra) = oneshot::channel();
        let (b, mut rb) = oneshot::channel();
        let (c, mut rc) = oneshot::channel();
        t.add_one_shot(OneShotKind::Data, "/n", a);
        t.add_one_shot(OneShotKind::Exist, "/n", b);
        t.add_one_shot(OneShotKind::Child, "/n", c);
        assert_eq!(t.fire(&ev(EventType::NodeDataChanged, "/n")), 2, "data change wakes data and exist waiters");
        assert_eq!(ra.try_recv().unwrap(), Ok(ev(EventType::NodeDataChanged, "/n")));
        assert!(rb.try_recv().is_ok());
        assert!(rc.try_recv().is_err(), "a child watch does not fire on a data change");
        assert_eq!(t.to_set().child, vec!["/n".to_string()]);
        assert!(t.to_set().data.is_empty(), "fired one-shot watches are not re-registered");
        assert_eq!(t.fire(&ev(EventType::NodeDataChanged, "/n")), 0, "one-shot watches fire once");
    }

    #[test]
    fn recursive_watches_skip_child_events_and_persist() {
        let mut t = WatchTable::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        t.add_persistent(AddWatchMode::PersistentRecursive, "/a", tx);
        assert_eq!(t.fire(&ev(EventType::NodeChildrenChanged, "/a")), 0);
        assert_eq!(t.fire(&ev(EventType::NodeCreated, "/a/b/c")), 1);
        assert_eq!(t.fire(&ev(EventType::NodeDeleted, "/a/b/c")), 1);
        assert_eq!(rx.try_recv().unwrap().unwrap().kind, EventType::NodeCreated);
        assert_eq!(rx.try_recv().unwrap().unwrap().kind, EventType::NodeDeleted);
        t.end_all(ZkError::SessionExpired);
        assert_eq!(rx.try_recv().unwrap(), Err(ZkError::SessionExpired));
        assert!(t.is_empty());
    }
}
