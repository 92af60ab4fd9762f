//! Recipe properties: safety, liveness and herd-effect checks over the `Event::Recipe` records
//! that recipes write (what they believed and did) together with the committed log.

pub mod barrier;
pub mod config;
pub mod coord_log;
pub mod disturbed;
pub mod election;
pub mod host_monitor;
pub mod locks;
pub mod log_collector;
pub mod naming;
pub mod queue;
pub mod rwlock;
pub mod task_coord;
