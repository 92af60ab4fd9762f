//! The replicated coordination server: ZAB replication over the simulated network, durable
//! storage on the simulated disk, sessions, and the client and control ports.
//!
//! Entry points: [`server_process`] (what a server node runs), [`ServerConfig`],
//! [`control::ControlClient`] (expirer, final states) for the harness, and
//! [`testkit`] to build a world with an ensemble.
//!
//! - [`path`]: ZooKeeper's path rules (validation, parent, reserved paths).
//! - [`path_index`]: the node table: paths to nodes by hash, walked only in path order.
//! - [`election`]: fast leader election (ZooKeeper's FastLeaderElection).
//! - [`datatree`]: the data tree every replica applies committed transactions to.
//! - [`watches`]: the per-server watch manager (not replicated).
//! - [`reaper`]: the leader's container/TTL reaping (ZooKeeper's ContainerManager).
//! - [`single`]: one server driven directly on a manual clock (the probes' target).
//!
//! How a replica uses them, for every committed txn in zxid order:
//!
//! ```ignore
//! let applied = tree.apply(&rec);                    // same outcome on every replica
//! let events = watches.on_commit(&rec, &applied);    // this server's notifications
//! // send `events` to their sessions, then the reply `applied.outcome` to the issuer
//! ```
//!
//! Reads: `let out = tree.read(&op); watches.register_for_read(session, &op, &out);`.
//! addWatch / removeWatches go to the watch manager only. The leader proposes
//! `reap_candidates(&tree, now_ms)` at every container-manager check (ZooKeeper's default
//! interval is 60 s; the probes used 1 s); the tree re-checks them at apply time.

pub mod config;
pub mod conn;
pub mod control;
pub mod election;
pub mod frontend;
pub mod process;
pub mod replica;
pub mod session_tracker;
pub mod storage;
pub mod task;
pub mod testkit;
#[cfg(test)]
mod tests;
pub mod zab;

pub use config::ServerConfig;
pub use process::server_process;

pub mod datatree;
pub mod path;
pub mod path_index;
pub mod reaper;
pub mod single;
pub mod watches;

pub use datatree::{Applied, DataTree, Trigger};
pub use reaper::reap_candidates;
pub use single::SingleServer;
pub use watches::{WatchKind, WatchManager};

#[cfg(test)]
mod datatree_tests;
