//! A vote in fast leader election, and the one total order every server ranks votes by.

use std::cmp::Ordering;
use zksim_model::{ServerId, Zxid};

/// Who a server proposes (or agreed) to lead, with the leader's history as the proposer knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vote {
    /// The proposed leader.
    pub leader: ServerId,
    /// The proposed leader's last logged zxid.
    pub zxid: Zxid,
    /// The proposed leader's current (accepted) epoch.
    pub peer_epoch: u32,
}

/// The total order of votes: `(peer_epoch, zxid, leader id)`, lexicographically.
///
/// ZooKeeper's `totalOrderPredicate`. Every comparison of votes goes through this one function,
/// so a bug that breaks the total order (ZOOKEEPER-1419) can be planted in exactly one place.
pub fn compare_votes(a: &Vote, b: &Vote) -> Ordering {
    a.peer_epoch.cmp(&b.peer_epoch).then(a.zxid.cmp(&b.zxid)).then(a.leader.cmp(&b.leader))
}

impl Vote {
    /// True when `self` ranks strictly above `other`: a server proposing `other` switches to `self`.
    pub fn supersedes(&self, other: &Vote) -> bool {
        compare_votes(self, other) == Ordering::Greater
    }
}
