//! The reference model as a [`ProbeTarget`]: a small driver that plays the leader around
//! [`ZkModel`] — it numbers transactions, keeps a clock, hands out session ids, and emulates the
//! server's periodic ContainerManager while time passes.

use crate::history::{CloseReason, Txn, TxnRecord};
use crate::op::{Op, OpResult, Outcome};
use crate::probe_target::ProbeTarget;
use crate::reference::ZkModel;
use crate::types::{ErrorCode, SessionId, WatchedEvent, Zxid};

/// How often the emulated ContainerManager checks (the probes' server ran with
/// `znode.container.checkIntervalMs=1000`).
pub const REAPER_INTERVAL_MS: i64 = 1000;

/// Every operation takes this long on the model's clock, so ctime/mtime differ between ops.
pub const OP_MS: i64 = 1;

/// The first session id handed out; later ones count up from it.
pub const FIRST_SESSION: u64 = 0x100;

/// [`ZkModel`] driven as one ZooKeeper server.
#[derive(Clone, Debug)]
pub struct ModelTarget {
    model: ZkModel,
    now_ms: i64,
    next_session: u64,
    events: Vec<(SessionId, WatchedEvent)>,
}

impl ModelTarget {
    /// Drives `model` (usually [`ZkModel::new`] or [`ZkModel::fresh_server`]) from time 0.
    pub fn new(model: ZkModel) -> ModelTarget {
        ModelTarget { model, now_ms: 0, next_session: FIRST_SESSION, events: Vec::new() }
    }

    /// The model's current state.
    pub fn model(&self) -> &ZkModel {
        &self.model
    }

    /// The clock, in milliseconds since the start.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Commits `txn` at the next zxid and the current time, keeping its notifications.
    fn commit(&mut self, txn: Txn) -> Outcome {
        let zxid = Zxid(self.model.last_zxid().0 + 1);
        let applied = self.model.apply(&TxnRecord { zxid, time_ms: self.now_ms, txn });
        self.events.extend(applied.events);
        applied.outcome
    }

    /// One ContainerManager check: candidates are chosen first, then deleted one transaction
    /// each, so a container emptied by this check's deletes waits for the next check. Returns
    /// how many nodes it deleted.
    fn reaper_check(&mut self) -> usize {
        let candidates = self.model.reap_candidates(self.now_ms);
        for txn in &candidates {
            let outcome = self.commit(txn.clone());
            assert!(outcome.is_ok(), "a reap candidate chosen at this check is deletable: {txn:?}");
        }
        candidates.len()
    }
}

impl ProbeTarget for ModelTarget {
    fn open_session(&mut self) -> SessionId {
        self.now_ms += OP_MS;
        let session = SessionId(self.next_session);
        self.next_session += 1;
        let outcome = self.commit(Txn::CreateSession { session, timeout_ms: 30_000 });
        assert!(outcome.is_ok(), "a fresh session id opens");
        session
    }

    fn close_session(&mut self, session: SessionId) {
        self.now_ms += OP_MS;
        let _ = self.commit(Txn::CloseSession { session, reason: CloseReason::Closed });
    }

    fn expire_session(&mut self, session: SessionId) {
        self.now_ms += OP_MS;
        let _ = self.commit(Txn::CloseSession { session, reason: CloseReason::Expired });
    }

    fn execute(&mut self, session: SessionId, op: &Op) -> Outcome {
        self.now_ms += OP_MS;
        if op.is_write() {
            self.commit(Txn::Client { session, xid: 0, op: op.clone() })
        } else {
            self.model.read(session, op)
        }
    }

    fn wait(&mut self, ms: u64) {
        let end = self.now_ms.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX));
        // Checks run at every multiple of the interval on the clock.
        let round_up = |t: i64| t.div_euclid(REAPER_INTERVAL_MS).saturating_add(1).saturating_mul(REAPER_INTERVAL_MS);
        let mut next_check = round_up(self.now_ms);
        while next_check <= end {
            self.now_ms = next_check;
            let deleted = self.reaper_check();
            next_check = next_check.saturating_add(REAPER_INTERVAL_MS);
            if deleted == 0 {
                // Nothing can change before a TTL node expires (no client writes during a
                // wait), so skip the idle checks: a long wait stays cheap.
                match self.model.next_ttl_expiry_ms() {
                    Some(t) => next_check = next_check.max(round_up(t - 1)),
                    None => break,
                }
            }
        }
        self.now_ms = end;
    }

    fn take_events(&mut self) -> Vec<(SessionId, WatchedEvent)> {
        std::mem::take(&mut self.events)
    }

    // Both go through `ZkModel::read`, so they answer as the server's FinalRequestProcessor
    // does (getEphemerals' trimmed "" / "/" special case, getAllChildrenNumber's READ check, a
    // session that is not open).
    fn get_ephemerals(&mut self, session: SessionId, prefix: &str) -> Option<Vec<String>> {
        self.now_ms += OP_MS;
        match self.model.read(session, &Op::GetEphemerals { prefix: prefix.to_string() }) {
            Outcome::Ok { value: OpResult::Ephemerals { paths } } => Some(paths),
            _ => Some(Vec::new()),
        }
    }

    fn get_all_children_number(&mut self, session: SessionId, path: &str) -> Option<Result<u64, ErrorCode>> {
        self.now_ms += OP_MS;
        Some(match self.model.read(session, &Op::GetAllChildrenNumber { path: path.to_string() }) {
            Outcome::Ok { value: OpResult::ChildrenNumber { number } } => Ok(number),
            other => Err(other.error().unwrap_or(ErrorCode::SystemError)),
        })
    }
}
