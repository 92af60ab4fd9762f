//! The interface every implementation under conformance test offers to the probes runner
//! (`zookeeper-3.8-probes.json`, recorded from a real ZooKeeper 3.8.0): the reference model,
//! the service's data tree, and the whole replicated service.

use crate::op::{Op, Outcome};
use crate::types::{ErrorCode, SessionId, WatchedEvent};

/// A ZooKeeper-like system a probe case can be run against, one operation at a time.
pub trait ProbeTarget {
    /// Opens a new session and returns its id.
    fn open_session(&mut self) -> SessionId;

    /// Closes `session` as the client would (its ephemerals go, in one transaction).
    fn close_session(&mut self, session: SessionId);

    /// Expires `session` as the leader would after its timeout.
    fn expire_session(&mut self, session: SessionId);

    /// Executes `op` on `session` and returns the server's answer.
    fn execute(&mut self, session: SessionId, op: &Op) -> Outcome;

    /// Lets `ms` milliseconds pass (the server's periodic tasks — container and TTL reaping,
    /// session expiry — run meanwhile).
    fn wait(&mut self, ms: u64);

    /// The watch notifications delivered since the last call, per session, in delivery order.
    fn take_events(&mut self) -> Vec<(SessionId, WatchedEvent)>;

    /// getEphemerals(prefix): the caller's ephemerals whose path starts with `prefix`, sorted
    /// (`[]` when none). `None` when the target does not support the call (the runner then
    /// reports the case as unsupported).
    fn get_ephemerals(&mut self, session: SessionId, prefix: &str) -> Option<Vec<String>> {
        let _ = (session, prefix);
        None
    }

    /// getAllChildrenNumber(path): the number of descendants of `path` (NoNode when missing).
    /// `None` when the target does not support the call.
    fn get_all_children_number(&mut self, session: SessionId, path: &str) -> Option<Result<u64, ErrorCode>> {
        let _ = (session, path);
        None
    }
}
