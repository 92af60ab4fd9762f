//! A spawned task that is aborted when its handle is dropped, so a server that leaves a role
//! (follower → looking) cannot leave a connection's reader or writer running behind it.

use madsim::task::JoinHandle;
use std::future::Future;

/// Owns a task of this node; dropping it aborts the task.
pub struct Task(JoinHandle<()>);

impl Task {
    /// Spawns `fut` on the current node.
    pub fn spawn(fut: impl Future<Output = ()> + 'static) -> Task {
        Task(madsim::task::spawn_local(fut))
    }

    /// True once the task has returned.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The simulated clock's current instant (never the wall clock).
pub fn now() -> std::time::Instant {
    madsim::time::TimeHandle::current_now_instant()
}
