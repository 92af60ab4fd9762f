//! What a server is doing, as far as leader election is concerned.

/// ZooKeeper's `ServerState`, without observers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeerState {
    /// Running an election.
    Looking,
    /// Following the leader of its current vote.
    Following,
    /// Leading (or trying to establish itself as leader).
    Leading,
}
