//! Client operations and their results, as recorded in a history and as replayed by the model.
//!
//! Paths are plain strings: an invalid path is a legal input that ZooKeeper answers with an
//! error, so it must be representable.

use crate::acl::Acl;
use crate::types::{AddWatchMode, CreateMode, Data, ErrorCode, Stat, WatcherKind};
use serde::{Deserialize, Serialize};

/// A client operation on the service.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Op {
    Create {
        path: String,
        data: Data,
        mode: CreateMode,
        /// The new node's ACL; histories leave out the open ACL every recipe uses.
        #[serde(default, skip_serializing_if = "Acl::is_open")]
        acl: Acl,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Data,
        version: i32,
    },
    GetData {
        path: String,
        watch: bool,
    },
    Exists {
        path: String,
        watch: bool,
    },
    /// getChildren2: the sorted children plus the node's Stat.
    GetChildren {
        path: String,
        watch: bool,
    },
    Sync {
        path: String,
    },
    Multi {
        ops: Vec<MultiOp>,
    },
    AddWatch {
        path: String,
        mode: AddWatchMode,
    },
    RemoveWatches {
        path: String,
        kind: WatcherKind,
    },
    /// Close this session (a transaction: its ephemerals go with it).
    CloseSession,
    /// getEphemerals: the paths of this session's ephemerals that start with `prefix`, sorted.
    GetEphemerals {
        prefix: String,
    },
    /// getAllChildrenNumber: how many nodes lie below `path` (all depths).
    GetAllChildrenNumber {
        path: String,
    },
    /// setACL: replaces the node's ACL if its aversion is `version` (−1 = any).
    SetAcl {
        path: String,
        acl: Acl,
        version: i32,
    },
    /// getACL: the node's ACL and Stat.
    GetAcl {
        path: String,
    },
}

impl Op {
    /// True for operations that are transactions (change state and get a zxid of their own).
    pub fn is_write(&self) -> bool {
        match self {
            // ZooKeeper 3.8 refuses a write multi holding a read before it becomes a
            // transaction (MarshallingError): it is answered like a read.
            Op::Multi { ops } => !ops.iter().any(MultiOp::is_read),
            op => matches!(
                op,
                Op::Create { .. } | Op::Delete { .. } | Op::SetData { .. } | Op::SetAcl { .. } | Op::CloseSession
            ),
        }
    }

    /// The path the operation addresses, if it has one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Op::Create { path, .. }
            | Op::Delete { path, .. }
            | Op::SetData { path, .. }
            | Op::GetData { path, .. }
            | Op::Exists { path, .. }
            | Op::GetChildren { path, .. }
            | Op::Sync { path }
            | Op::AddWatch { path, .. }
            | Op::RemoveWatches { path, .. }
            | Op::GetAllChildrenNumber { path }
            | Op::SetAcl { path, .. }
            | Op::GetAcl { path } => Some(path),
            Op::GetEphemerals { prefix } => Some(prefix),
            Op::Multi { .. } | Op::CloseSession => None,
        }
    }

    /// A short name for reports ("create", "get", ...).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Create { .. } => "create",
            Op::Delete { .. } => "delete",
            Op::SetData { .. } => "set",
            Op::GetData { .. } => "get",
            Op::Exists { .. } => "exists",
            Op::GetChildren { .. } => "children",
            Op::Sync { .. } => "sync",
            Op::Multi { .. } => "multi",
            Op::AddWatch { .. } => "add_watch",
            Op::RemoveWatches { .. } => "remove_watches",
            Op::CloseSession => "close_session",
            Op::GetEphemerals { .. } => "get_ephemerals",
            Op::GetAllChildrenNumber { .. } => "get_all_children_number",
            Op::SetAcl { .. } => "set_acl",
            Op::GetAcl { .. } => "get_acl",
        }
    }
}

/// One operation inside a `multi`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum MultiOp {
    Create {
        path: String,
        data: Data,
        mode: CreateMode,
        /// The new node's ACL; histories leave out the open ACL every recipe uses.
        #[serde(default, skip_serializing_if = "Acl::is_open")]
        acl: Acl,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Data,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    /// A read inside a multi. Reads belong in a read-only multi (multiRead); a write multi
    /// holding one is refused as a whole with MarshallingError, as ZooKeeper 3.8 does.
    GetData {
        path: String,
    },
    GetChildren {
        path: String,
    },
}

impl MultiOp {
    /// The path the sub-operation addresses.
    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create { path, .. }
            | MultiOp::Delete { path, .. }
            | MultiOp::SetData { path, .. }
            | MultiOp::Check { path, .. }
            | MultiOp::GetData { path }
            | MultiOp::GetChildren { path } => path,
        }
    }

    /// True for the read sub-operations (getData, getChildren).
    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetData { .. } | MultiOp::GetChildren { .. })
    }
}

/// The value of a successful operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum OpResult {
    /// create: the actual path (with the sequence suffix) and, for create2, the new node's Stat.
    Created {
        path: String,
        stat: Option<Stat>,
    },
    /// setData and setACL: the node's new Stat.
    Stat {
        stat: Stat,
    },
    GetData {
        data: Data,
        stat: Stat,
    },
    /// exists: `None` when the node is missing (not an error).
    Exists {
        stat: Option<Stat>,
    },
    /// The names are shared (`Arc<str>`): a server answers from the names its tree holds, and
    /// the history keeps the answer the client got, without a copy of each name for either.
    Children {
        children: Vec<std::sync::Arc<str>>,
        stat: Stat,
    },
    Synced {
        path: String,
    },
    /// A successful multi: one entry per sub-operation.
    Multi {
        results: Vec<MultiSubResult>,
    },
    /// delete, addWatch, removeWatches, closeSession.
    Done,
    /// getEphemerals: sorted paths.
    Ephemerals {
        paths: Vec<String>,
    },
    /// getAllChildrenNumber: the number of descendants.
    ChildrenNumber {
        number: u64,
    },
    /// getACL: the node's ACL and Stat.
    Acl {
        acl: Acl,
        stat: Stat,
    },
}

/// The result of one sub-operation of a successful multi.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum MultiSubResult {
    /// A create inside a multi. `stat` is `None` for plain creates (answered like opcode 1),
    /// `Some` for container and TTL creates, as ZooKeeper 3.8 does.
    Created {
        path: String,
        stat: Option<Stat>,
    },
    Deleted,
    SetData {
        stat: Stat,
    },
    Checked,
}

/// How an operation ended, from the client's point of view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    Ok {
        value: OpResult,
    },
    /// A definite error: the operation did not take effect.
    Err {
        code: ErrorCode,
    },
    /// A failed multi: nothing took effect. `results` gives, per sub-op, `Ok` (would have
    /// succeeded, rolled back), the real error of the failing op, then `RuntimeInconsistency`.
    MultiErr {
        code: ErrorCode,
        results: Vec<ErrorCode>,
    },
    /// The client cannot know whether the operation took effect (ConnectionLoss, timeout,
    /// the session expired with the request in flight). The committed log decides.
    Indeterminate {
        reason: ErrorCode,
    },
}

impl Outcome {
    /// True when the client knows the operation took effect.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok { .. })
    }

    /// True when the client cannot know whether it took effect.
    pub fn is_indeterminate(&self) -> bool {
        matches!(self, Outcome::Indeterminate { .. })
    }

    /// The error code, if it failed or is indeterminate.
    pub fn error(&self) -> Option<ErrorCode> {
        match self {
            Outcome::Ok { .. } => None,
            Outcome::Err { code } | Outcome::MultiErr { code, .. } => Some(*code),
            Outcome::Indeterminate { reason } => Some(*reason),
        }
    }
}
