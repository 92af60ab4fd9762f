//! Discovery: the leader learns a quorum's accepted epochs and proposes the next one.

use std::collections::BTreeMap;
use zksim_model::{ServerId, Zxid};

/// What one learner (or the leader itself) reported in FOLLOWERINFO / ACKEPOCH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerSummary {
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    pub last_zxid: Zxid,
}

/// The epoch a leader proposes once a quorum reported: one more than any accepted epoch seen.
pub fn new_epoch(accepted: &BTreeMap<ServerId, u32>) -> u32 {
    let max = accepted.values().copied().max().expect("discovery needs at least the leader's own epoch");
    max.checked_add(1).expect("epoch overflow")
}

/// True when a learner's history is more recent than the leader's: the leader must abdicate
/// rather than truncate it (ZAB's discovery picks the most recent history of the quorum; the
/// election should have made that the leader).
pub fn learner_is_ahead(leader: (u32, Zxid), learner: (u32, Zxid)) -> bool {
    learner > leader
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_epoch_is_one_past_the_highest_accepted() {
        let m: BTreeMap<ServerId, u32> = [(ServerId(1), 3), (ServerId(2), 5), (ServerId(3), 4)].into_iter().collect();
        assert_eq!(new_epoch(&m), 6);
    }

    #[test]
    fn ahead_compares_epoch_then_zxid() {
        assert!(learner_is_ahead((2, Zxid::new(2, 5)), (3, Zxid::new(2, 1))));
        assert!(learner_is_ahead((2, Zxid::new(2, 5)), (2, Zxid::new(2, 6))));
        assert!(!learner_is_ahead((2, Zxid::new(2, 5)), (2, Zxid::new(2, 5))));
    }
}
