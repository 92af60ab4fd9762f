//! ZAB: discovery, synchronization and broadcast, as leader and as follower.

pub mod broadcast;
pub mod discovery;
pub mod follower;
pub mod leader;
pub mod messages;
pub mod sync;
