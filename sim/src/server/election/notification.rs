//! The one message of fast leader election.

use super::{PeerState, Vote};
use zksim_model::ServerId;

/// "`from`, in state `state`, votes `vote` in election round `round`" (ZooKeeper's
/// `Notification` / `ToSend`). A LOOKING sender proposes `vote`; a FOLLOWING or LEADING sender
/// reports the vote it settled on and the round in which it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The sender.
    pub from: ServerId,
    pub vote: Vote,
    /// The sender's logical clock (ZooKeeper's `electionEpoch`).
    pub round: u64,
    pub state: PeerState,
}
