//! # zksim-model — the judge
//!
//! The types a run is recorded in ([`history`]), the vocabulary they use ([`types`], [`op`]),
//! and — independent of any simulator — the reference model of ZooKeeper and the checkers that
//! judge histories against it. This crate depends on neither madsim nor `zksim-sim`, so it can
//! check a history recorded anywhere, including from a real ZooKeeper.

pub mod acl;
pub mod bench;
pub mod bugs;
pub mod check;
pub mod history;
pub mod jsonl;
pub mod lookup;
pub mod model_target;
pub mod op;
pub mod probe_target;
pub mod probes;
pub mod recipes;
pub mod reference;
pub mod testkit;
pub mod trace;
pub mod types;
pub mod wgl;

pub use acl::{Acl, AclEntry, AclId, Perms};
pub use bugs::{Bug, BugSet};
pub use history::{Event, Fault, Header, History, Node, Record, Role, Txn, TxnRecord};
pub use op::{MultiOp, MultiSubResult, Op, OpResult, Outcome};
pub use reference::{Applied, Trigger, ZkModel};
pub use types::{
    AddWatchMode, ClientId, CreateMode, Data, ErrorCode, EventType, OpId, ServerId, SessionId, SessionState, SimTime,
    Stat, WatchedEvent, WatcherKind, Zxid,
};
