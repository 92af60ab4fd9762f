//! The coordination service's replicated state machine and its per-server companions.
//!
//! - [`path`]: ZooKeeper's path rules (validation, parent, reserved paths).
//! - [`datatree`]: the data tree every replica applies committed transactions to.
//! - [`watches`]: the per-server watch manager (not replicated).
//! - [`reaper`]: the leader's container/TTL reaping (ZooKeeper's ContainerManager).

pub mod datatree;
pub mod path;
pub mod reaper;
pub mod single;
pub mod watches;

pub use datatree::{Applied, DataTree, Trigger};
pub use reaper::reap_candidates;
pub use single::SingleServer;
pub use watches::{WatchKind, WatchManager};

#[cfg(test)]
mod datatree_tests;
