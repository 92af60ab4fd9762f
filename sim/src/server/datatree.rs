//! The data tree: the replicated state machine of the service (ZooKeeper's DataTree plus the
//! transaction-level checks of PrepRequestProcessor, applied deterministically at commit).

use crate::proto;
use std::collections::BTreeMap;
use zksim_model::history::TxnRecord;
use zksim_model::{EventType, Op, Outcome, SessionId, Stat, Zxid};

/// A change a committed transaction made, for the watch manager to turn into notifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub kind: EventType,
    pub path: String,
}

/// What applying a transaction produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// The answer the client that sent it receives (for session and server txns, their result).
    pub outcome: Outcome,
    /// The changes, in the order they happened (empty when the txn failed).
    pub triggers: Vec<Trigger>,
}

/// The tree of nodes plus the open sessions. `Clone` is a snapshot.
#[derive(Clone, Debug)]
pub struct DataTree {
    nodes: BTreeMap<String, ()>,
    last_zxid: Zxid,
    digest: u64,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// A fresh server's tree: `/`, `/zookeeper`, `/zookeeper/config`, `/zookeeper/quota`.
    pub fn new() -> DataTree {
        todo!()
    }

    /// Only `/`, with an all-zero stat (a chroot's view of an empty node).
    pub fn empty() -> DataTree {
        todo!()
    }

    /// Applies a committed transaction. Deterministic: every replica gets the same outcome.
    pub fn apply(&mut self, txn: &TxnRecord) -> Applied {
        let _ = txn;
        todo!()
    }

    /// Answers a read (GetData, Exists, GetChildren, Sync).
    pub fn read(&self, op: &Op) -> Outcome {
        let _ = op;
        todo!()
    }

    /// The zxid of the last applied transaction.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// `chain_digest` folded over every applied transaction, from 0.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// True when `s` was created and not yet closed or expired.
    pub fn session_open(&self, s: SessionId) -> bool {
        let _ = s;
        todo!()
    }

    /// Open sessions with their timeouts, in id order.
    pub fn sessions(&self) -> Vec<(SessionId, u64)> {
        todo!()
    }

    /// The paths of `s`'s ephemerals, sorted.
    pub fn ephemerals(&self, s: SessionId) -> Vec<String> {
        let _ = s;
        todo!()
    }

    /// The client-visible Stat of `path`.
    pub fn node_stat(&self, path: &str) -> Option<Stat> {
        let _ = path;
        todo!()
    }

    #[allow(dead_code)]
    fn unused(_: &proto::WatchSet) {}
}
