//! Synchronization: how a leader brings one learner's log in line with its history.

use crate::server::storage::SharedTxn;
use zksim_model::Zxid;

/// The leader's decision for one learner, before the snapshot (if any) is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Append the committed txns after `from` (the learner's log is a prefix of ours).
    Diff { from: Zxid },
    /// Drop the learner's log after `to` (a divergent or uncommitted tail), then append ours.
    Trunc { to: Zxid },
    /// The learner is behind our retained history: send the whole tree.
    Snap,
}

/// Chooses how to sync a learner whose last logged zxid is `learner`, given the leader's
/// committed history (`history`, in zxid order, covering everything after `floor`) and last
/// committed zxid.
pub fn plan(learner: Zxid, floor: Zxid, history: &[SharedTxn], committed: Zxid) -> Plan {
    if learner < floor {
        return Plan::Snap;
    }
    let known = learner == floor || history.binary_search_by_key(&learner, |t| t.zxid).is_ok();
    if known && learner <= committed {
        return Plan::Diff { from: learner };
    }
    // The learner has something we do not (or have not committed): cut it back to the last
    // zxid we share with it, which is the last of ours at or below its last.
    let to = history.iter().map(|t| t.zxid).filter(|z| *z <= learner && *z <= committed).max().unwrap_or(floor);
    Plan::Trunc { to }
}

/// The committed txns after `from`.
pub fn txns_after(history: &[SharedTxn], from: Zxid, committed: Zxid) -> Vec<SharedTxn> {
    history.iter().filter(|t| t.zxid > from && t.zxid <= committed).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zksim_model::{SessionId, Txn, TxnRecord};

    fn h(zs: &[(u32, u32)]) -> Vec<SharedTxn> {
        zs.iter()
            .map(|(e, c)| {
                SharedTxn::new(TxnRecord {
                    zxid: Zxid::new(*e, *c),
                    time_ms: 0,
                    txn: Txn::CreateSession { session: SessionId(1), timeout_ms: 1 },
                })
            })
            .collect()
    }

    #[test]
    fn in_sync_and_behind_learners_get_a_diff() {
        let hist = h(&[(1, 1), (1, 2), (3, 1)]);
        assert_eq!(plan(Zxid::new(3, 1), Zxid::ZERO, &hist, Zxid::new(3, 1)), Plan::Diff { from: Zxid::new(3, 1) });
        assert_eq!(plan(Zxid::new(1, 2), Zxid::ZERO, &hist, Zxid::new(3, 1)), Plan::Diff { from: Zxid::new(1, 2) });
        assert_eq!(plan(Zxid::ZERO, Zxid::ZERO, &hist, Zxid::new(3, 1)), Plan::Diff { from: Zxid::ZERO });
        assert_eq!(txns_after(&hist, Zxid::new(1, 1), Zxid::new(3, 1)).len(), 2);
    }

    #[test]
    fn a_divergent_tail_is_truncated_to_the_shared_prefix() {
        let hist = h(&[(1, 1), (1, 2), (3, 1)]);
        // The learner logged 2.1 and 2.2 in an epoch whose leader never committed them.
        assert_eq!(plan(Zxid::new(2, 2), Zxid::ZERO, &hist, Zxid::new(3, 1)), Plan::Trunc { to: Zxid::new(1, 2) });
        // The learner is ahead of everything we committed.
        assert_eq!(plan(Zxid::new(3, 9), Zxid::ZERO, &hist, Zxid::new(3, 1)), Plan::Trunc { to: Zxid::new(3, 1) });
    }

    #[test]
    fn a_learner_behind_the_floor_gets_a_snapshot() {
        let hist = h(&[(1, 5), (1, 6)]);
        assert_eq!(plan(Zxid::new(1, 2), Zxid::new(1, 4), &hist, Zxid::new(1, 6)), Plan::Snap);
        assert_eq!(
            plan(Zxid::new(1, 4), Zxid::new(1, 4), &hist, Zxid::new(1, 6)),
            Plan::Diff { from: Zxid::new(1, 4) }
        );
    }
}
