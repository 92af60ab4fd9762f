//! How one server's election module is set up.

use zksim_model::ServerId;

/// The election settings of one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionConfig {
    /// This server.
    pub me: ServerId,
    /// Every voting server of the ensemble, `me` included.
    pub ensemble: Vec<ServerId>,
    /// How long a quorum's vote must stand unchallenged before it is final (ZooKeeper's
    /// `finalizeWait`, 200 ms).
    pub finalize_wait_ms: u64,
    /// The longest wait between two rounds of re-sent notifications (ZooKeeper's
    /// `maxNotificationInterval`, 60 s there; a few seconds suits simulations).
    pub max_notification_interval_ms: u64,
    /// Planted bugs (the election consults `zk-1419-vote-order`).
    pub bugs: zksim_model::BugSet,
}

impl ElectionConfig {
    /// The settings ZooKeeper would use, with a 2 s notification interval cap.
    pub fn new(me: ServerId, ensemble: Vec<ServerId>) -> ElectionConfig {
        ElectionConfig {
            me,
            ensemble,
            finalize_wait_ms: 200,
            max_notification_interval_ms: 2_000,
            bugs: zksim_model::BugSet::NONE,
        }
    }

    /// The number of servers that make a quorum (a strict majority).
    pub fn quorum(&self) -> usize {
        self.ensemble.len() / 2 + 1
    }
}
