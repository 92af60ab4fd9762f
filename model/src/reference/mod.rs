//! The reference model of ZooKeeper 3.8: a deliberately simple, sequential specification of the
//! data tree, sessions (ephemeral ownership, close and expiry) and watches, written from the
//! documented semantics and the real-server probes (`testdata/zookeeper-3.8-probes.md`), not from
//! any server code. Checkers replay committed transactions through [`ZkModel::apply`] and evaluate
//! reads with [`ZkModel::read`].

use crate::history::TxnRecord;
use crate::op::{Op, Outcome};
use crate::types::{EventType, SessionId, WatchedEvent, Zxid};
use std::collections::{BTreeMap, BTreeSet};

/// The whole state of a ZooKeeper service as the reference model sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ZkModel {
    last_zxid: Zxid,
    sessions: BTreeSet<SessionId>,
    _todo: BTreeMap<String, ()>,
}

/// What applying one committed transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The answer the issuing client must have seen.
    pub outcome: Outcome,
    /// What the transaction changed, independent of anyone's watches, in order.
    pub triggers: Vec<Trigger>,
    /// The watch notifications it fires, per the model's own registrations, in delivery order.
    pub events: Vec<(SessionId, WatchedEvent)>,
}

/// One change a transaction made that a watch could observe.
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
    /// An empty tree: only "/" with an all-zero Stat.
    pub fn new() -> ZkModel {
        ZkModel { last_zxid: Zxid::ZERO, sessions: BTreeSet::new(), _todo: BTreeMap::new() }
    }

    /// A fresh real server: `/zookeeper`, `/zookeeper/config`, `/zookeeper/quota` with their odd stats.
    pub fn fresh_server() -> ZkModel {
        ZkModel::new()
    }

    /// Applies a committed transaction.
    pub fn apply(&mut self, txn: &TxnRecord) -> Applied {
        self.last_zxid = txn.zxid;
        Applied {
            outcome: Outcome::Err { code: crate::types::ErrorCode::Unimplemented },
            triggers: vec![],
            events: vec![],
        }
    }

    /// Evaluates a non-transaction op for `session` at the current state, registering watches.
    pub fn read(&mut self, _session: SessionId, _op: &Op) -> Outcome {
        Outcome::Err { code: crate::types::ErrorCode::Unimplemented }
    }

    /// The zxid of the last applied transaction.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// True while `s` is open (created and neither closed nor expired).
    pub fn session_open(&self, s: SessionId) -> bool {
        self.sessions.contains(&s)
    }

    /// The paths of the ephemerals `s` owns, sorted.
    pub fn ephemerals_of(&self, _s: SessionId) -> Vec<String> {
        vec![]
    }
}
