//! One server's state machine driven directly, without replication or network: the data tree,
//! the watch manager and the container manager's periodic check on a manual clock. It is what
//! the conformance probes run against (it implements [`ProbeTarget`]) and a quick way to
//! exercise the service's semantics in tests.

use super::datatree::{Applied, DataTree};
use super::reaper::reap_candidates;
use super::watches::WatchManager;
use zksim_model::history::{CloseReason, Txn, TxnRecord};
use zksim_model::probe_target::ProbeTarget;
use zksim_model::{ErrorCode, Op, OpResult, Outcome, SessionId, WatchedEvent, Zxid};

/// ZooKeeper's `znode.container.checkIntervalMs` as the probes' timing runs set it.
pub const CHECK_INTERVAL_MS: i64 = 1000;

/// A lone server with a manual clock.
#[derive(Debug)]
pub struct SingleServer {
    tree: DataTree,
    watches: WatchManager,
    epoch: u32,
    counter: u32,
    now_ms: i64,
    next_check_ms: i64,
    next_session: u64,
    session_timeout_ms: u64,
    events: Vec<(SessionId, WatchedEvent)>,
}

impl SingleServer {
    /// A server whose state starts as `tree` (`DataTree::new()` for a fresh server,
    /// `DataTree::empty()` for a chroot), at time 0, epoch 1.
    pub fn new(tree: DataTree) -> SingleServer {
        let epoch = tree.last_zxid().epoch().max(1);
        SingleServer {
            tree,
            watches: WatchManager::new(),
            epoch,
            counter: 0,
            now_ms: 0,
            next_check_ms: CHECK_INTERVAL_MS,
            // Like ZooKeeper, the server id sits in the top byte of session ids.
            next_session: (1 << 56) + 1,
            session_timeout_ms: 30_000,
            events: Vec::new(),
        }
    }

    /// The server's tree.
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// The server's watches.
    pub fn watches(&self) -> &WatchManager {
        &self.watches
    }

    /// The manual clock.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Commits `txn` at the next zxid and fires its watches.
    pub fn commit(&mut self, txn: Txn) -> Applied {
        self.counter = self.counter.checked_add(1).expect("fewer than 2^32 txns per epoch");
        let rec = TxnRecord { zxid: Zxid::new(self.epoch, self.counter), time_ms: self.now_ms, txn };
        let applied = self.tree.apply(&rec);
        let events = self.watches.on_commit(&rec, &applied);
        self.events.extend(events);
        applied
    }

    /// Runs the container manager's check now.
    pub fn reap(&mut self) {
        for txn in reap_candidates(&self.tree, self.now_ms) {
            self.commit(txn);
        }
    }
}

impl ProbeTarget for SingleServer {
    fn open_session(&mut self) -> SessionId {
        let s = SessionId(self.next_session);
        self.next_session += 1;
        let applied = self.commit(Txn::CreateSession { session: s, timeout_ms: self.session_timeout_ms });
        assert!(applied.outcome.is_ok(), "a fresh session id {s} opens");
        s
    }

    fn close_session(&mut self, session: SessionId) {
        self.commit(Txn::CloseSession { session, reason: CloseReason::Closed });
    }

    fn expire_session(&mut self, session: SessionId) {
        self.commit(Txn::CloseSession { session, reason: CloseReason::Expired });
    }

    fn execute(&mut self, session: SessionId, op: &Op) -> Outcome {
        match op {
            // A multi holding a read is refused before it becomes a transaction.
            Op::Multi { .. } if !op.is_write() => Outcome::Err { code: ErrorCode::MarshallingError },
            Op::Create { .. } | Op::Delete { .. } | Op::SetData { .. } | Op::SetAcl { .. } | Op::Multi { .. } => {
                self.commit(Txn::Client { session, xid: 0, op: op.clone() }).outcome
            }
            Op::CloseSession => self.commit(Txn::CloseSession { session, reason: CloseReason::Closed }).outcome,
            Op::GetData { .. }
            | Op::Exists { .. }
            | Op::GetChildren { .. }
            | Op::Sync { .. }
            | Op::GetAllChildrenNumber { .. }
            | Op::GetAcl { .. } => {
                if !self.tree.session_open(session) {
                    return Outcome::Err { code: ErrorCode::SessionExpired };
                }
                let out = self.tree.read(op);
                self.watches.register_for_read(session, op, &out);
                out
            }
            Op::AddWatch { path, mode } => {
                self.watches.add_watch(session, path, *mode);
                Outcome::Ok { value: OpResult::Done }
            }
            Op::RemoveWatches { path, kind } => match self.watches.remove_watches(session, path, *kind) {
                Ok(()) => Outcome::Ok { value: OpResult::Done },
                Err(code) => Outcome::Err { code },
            },
            Op::GetEphemerals { prefix } => {
                if !self.tree.session_open(session) {
                    return Outcome::Err { code: ErrorCode::SessionExpired };
                }
                Outcome::Ok { value: OpResult::Ephemerals { paths: self.tree.ephemerals_under(session, prefix) } }
            }
        }
    }

    fn wait(&mut self, ms: u64) {
        let end = self.now_ms + i64::try_from(ms).expect("wait shorter than 2^63 ms");
        while self.next_check_ms <= end {
            self.now_ms = self.next_check_ms;
            self.reap();
            self.next_check_ms += CHECK_INTERVAL_MS;
        }
        self.now_ms = end;
    }

    fn take_events(&mut self) -> Vec<(SessionId, WatchedEvent)> {
        std::mem::take(&mut self.events)
    }

    /// getEphemerals: the caller's own ephemerals under the prefix (a plain string prefix, not
    /// a path: `/a` matches `/ab`); "/" or "" lists them all.
    fn get_ephemerals(&mut self, session: SessionId, prefix: &str) -> Option<Vec<String>> {
        Some(self.tree.ephemerals_under(session, prefix))
    }

    /// As the frontend answers it: through the read path, with its READ check.
    fn get_all_children_number(&mut self, session: SessionId, path: &str) -> Option<Result<u64, ErrorCode>> {
        Some(match self.execute(session, &Op::GetAllChildrenNumber { path: path.to_string() }) {
            Outcome::Ok { value: OpResult::ChildrenNumber { number } } => Ok(number),
            other => Err(other.error().unwrap_or(ErrorCode::SystemError)),
        })
    }
}
