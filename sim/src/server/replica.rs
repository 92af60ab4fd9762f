//! The state one server process carries across roles: durable storage, the applied tree, the
//! committed history a leader syncs learners from, and the client frontend.

use crate::recorder::Recorder;
use crate::server::config::ServerConfig;
use crate::server::conn::{ConnId, Inbox, Input, Link};
use crate::server::datatree::DataTree;
use crate::server::election::Election;
use crate::server::frontend::Frontend;
use crate::server::storage::{SharedTxn, Storage};
use crate::server::zab::messages::ZabMsg;
use zksim_model::{Bug, Event, Role, TxnRecord, Zxid};

/// One server's state, owned by its event loop.
pub struct Replica {
    pub cfg: ServerConfig,
    pub recorder: Recorder,
    pub store: Storage,
    pub tree: DataTree,
    /// Committed transactions after `store.floor()`, in zxid order (what DIFF is made of).
    pub history: Vec<SharedTxn>,
    /// The highest zxid this incarnation knows to be committed: nothing at or below it may
    /// ever be truncated.
    pub known_committed: Zxid,
    pub front: Frontend,
    pub election: Election,
    applied_since_snapshot: u64,
    pub inputs: Inbox,
    next_conn: ConnId,
    /// Quorum connections accepted while not leading, handed to the next leader phase.
    pub parked_peers: Vec<Input>,
    last_role: Option<(Role, u32)>,
    /// The leader this incarnation synced with (or was) in each epoch.
    epoch_leaders: std::collections::BTreeMap<u32, zksim_model::ServerId>,
}

impl Replica {
    /// A replica over recovered storage.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: ServerConfig,
        recorder: Recorder,
        store: Storage,
        tree: DataTree,
        history: Vec<SharedTxn>,
        election: Election,
        inputs: Inbox,
    ) -> Replica {
        Replica {
            front: Frontend::new(cfg.clone()),
            cfg,
            recorder,
            store,
            tree,
            history,
            known_committed: Zxid::ZERO,
            election,
            applied_since_snapshot: 0,
            inputs,
            next_conn: 0,
            parked_peers: Vec::new(),
            last_role: None,
            epoch_leaders: std::collections::BTreeMap::new(),
        }
    }

    /// A fresh connection id.
    pub fn conn_id(&mut self) -> ConnId {
        self.next_conn += 1;
        self.next_conn
    }

    /// Adds a quorum connection to the inbox.
    pub fn link_peer(
        &mut self,
        sender: crate::net::ConnSender<ZabMsg>,
        receiver: crate::net::ConnReceiver<ZabMsg>,
    ) -> Link<ZabMsg> {
        let id = self.conn_id();
        self.inputs.link(id, sender, receiver, |conn, msg| Input::Peer { conn, msg }, |conn| Input::PeerGone { conn })
    }

    /// Adds a client connection to the inbox.
    pub fn link_client(
        &mut self,
        sender: crate::net::ConnSender<crate::proto::ServerMsg>,
        receiver: crate::net::ConnReceiver<crate::proto::ClientMsg>,
    ) -> Link<crate::proto::ServerMsg> {
        let id = self.conn_id();
        self.inputs.link(
            id,
            sender,
            receiver,
            |conn, msg| Input::Client { conn, msg },
            |conn| Input::ClientGone { conn },
        )
    }

    /// Notes that `leader` is the established leader of `epoch`, asserting ZAB's Leadership
    /// invariant as far as this server can see it: one leader per epoch.
    pub fn note_epoch_leader(&mut self, epoch: u32, leader: zksim_model::ServerId) {
        let seen = *self.epoch_leaders.entry(epoch).or_insert(leader);
        assert_eq!(seen, leader, "{}: epoch {epoch} has two established leaders: {seen} and {leader}", self.cfg.id);
    }

    /// Records a role change (once per change).
    pub fn set_role(&mut self, role: Role, epoch: u32) {
        if self.last_role != Some((role, epoch)) {
            self.last_role = Some((role, epoch));
            self.recorder.record(Event::Role { server: self.cfg.id, role, epoch });
        }
    }

    /// Rebuilds the tree and history from disk (before an election: the vote must reflect the
    /// whole log, and a learner must start sync from what is durable).
    pub async fn reload(&mut self) {
        let rec = self.store.reload().await.unwrap_or_else(|e| panic!("{}: storage is corrupt: {e}", self.cfg.id));
        self.tree = rec.tree;
        self.tree.allow_orphans(self.cfg.bugs.has(Bug::EphemeralAfterClose));
        if self.cfg.bugs.has(Bug::SeqCounterNotRestored) {
            // Planted bug ZOOKEEPER-1046: the recovered tree's sequential counters are not
            // restored, so this server hands out sequence numbers already used.
            self.tree.forget_child_creates();
        }
        self.history = rec.history;
        self.applied_since_snapshot = 0;
    }

    /// Applies a committed transaction: tree, watches, replies; a leader records the commit.
    pub async fn apply_committed(&mut self, txn: &SharedTxn, as_leader: bool) {
        assert!(
            txn.zxid > self.tree.last_zxid(),
            "{}: commits apply in zxid order: {} after {}",
            self.cfg.id,
            txn.zxid,
            self.tree.last_zxid()
        );
        if as_leader {
            self.recorder.commit(self.cfg.id, txn);
        }
        let skip_close = !as_leader
            && self.cfg.bugs.has(Bug::CloseNotAppliedOnFollower)
            && matches!(txn.txn, zksim_model::Txn::CloseSession { .. });
        let applied = if skip_close {
            // Planted bug ZOOKEEPER-2355: a follower does not apply a committed closeSession;
            // it advances past the zxid with a no-op (a reaper delete of `/`, which fails), so
            // the session's ephemerals linger here.
            let noop = TxnRecord {
                zxid: txn.zxid,
                time_ms: txn.time_ms,
                txn: zksim_model::Txn::DeleteTtl { path: "/".into() },
            };
            self.tree.apply(&noop)
        } else {
            self.tree.apply(txn)
        };
        self.known_committed = self.known_committed.max(txn.zxid);
        if self.history.last().is_none_or_lower(txn.zxid) {
            self.history.push(txn.clone());
        }
        let events = self.front.watches.on_commit(txn, &applied);
        let outcome = applied.outcome;
        if self.cfg.bugs.has(Bug::WatchAfterData) {
            // Planted bug: replies (which make the change readable) go out before the events.
            self.front.on_commit(txn, outcome, &self.tree, self.cfg.id);
            self.front.notify(events);
        } else {
            self.front.notify(events);
            self.front.on_commit(txn, outcome, &self.tree, self.cfg.id);
        }
        self.applied_since_snapshot += 1;
        if self.applied_since_snapshot >= self.cfg.snapshot_every {
            self.applied_since_snapshot = 0;
            self.store.snapshot(&self.tree).await;
            let floor = self.store.floor();
            self.history.retain(|t| t.zxid > floor);
        }
    }
}

trait LowerThan {
    fn is_none_or_lower(&self, z: Zxid) -> bool;
}

impl LowerThan for Option<&SharedTxn> {
    fn is_none_or_lower(&self, z: Zxid) -> bool {
        self.is_none_or(|t| t.zxid < z)
    }
}
