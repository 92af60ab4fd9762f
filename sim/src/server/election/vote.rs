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

/// ZooKeeper's `totalOrderPredicate`: true when `new` ranks strictly above `cur` in the total
/// order `(peer_epoch, zxid, leader id)`, compared lexicographically.
///
/// Every comparison of votes goes through this one function, so a bug that breaks the total
/// order (ZOOKEEPER-1419) can be planted in exactly one place.
pub fn total_order_predicate(new: &Vote, cur: &Vote) -> bool {
    (new.peer_epoch, new.zxid, new.leader) > (cur.peer_epoch, cur.zxid, cur.leader)
}

/// [`total_order_predicate`], or with planted bug ZOOKEEPER-1419 switched on, the broken order
/// that ignores the epochs and ranks by zxid counter and id alone (not total over real votes: a
/// long-gone server's old-epoch counter outranks the new epoch's history).
pub fn total_order_predicate_with(new: &Vote, cur: &Vote, bugs: zksim_model::BugSet) -> bool {
    if bugs.has(zksim_model::Bug::VoteOrderNotTotal) {
        (new.zxid.counter(), new.leader) > (cur.zxid.counter(), cur.leader)
    } else {
        total_order_predicate(new, cur)
    }
}

/// The order of votes as an [`Ordering`], derived from [`total_order_predicate`].
pub fn compare_votes(a: &Vote, b: &Vote) -> Ordering {
    if total_order_predicate(a, b) {
        Ordering::Greater
    } else if total_order_predicate(b, a) {
        Ordering::Less
    } else {
        Ordering::Equal
    }
}

impl Vote {
    /// [`Vote::supersedes`] with the planted bugs of `bugs` applied.
    pub fn supersedes_under(&self, other: &Vote, bugs: zksim_model::BugSet) -> bool {
        total_order_predicate_with(self, other, bugs)
    }

    /// True when `self` ranks strictly above `other`: a server proposing `other` switches to `self`.
    pub fn supersedes(&self, other: &Vote) -> bool {
        total_order_predicate(self, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every vote over a small grid, ties in each component included.
    fn grid() -> Vec<Vote> {
        let mut votes = Vec::new();
        for leader in 1..=3 {
            for zxid in [Zxid::new(1, 0), Zxid::new(1, 7), Zxid::new(2, 0)] {
                for peer_epoch in 1..=3 {
                    votes.push(Vote { leader: ServerId(leader), zxid, peer_epoch });
                }
            }
        }
        votes
    }

    #[test]
    fn votes_form_a_total_order() {
        let votes = grid();
        for a in &votes {
            assert!(!a.supersedes(a), "irreflexive: {a:?}");
            for b in &votes {
                let above = a.supersedes(b) as u8 + b.supersedes(a) as u8 + (a == b) as u8;
                assert_eq!(above, 1, "exactly one of a > b, b > a, a == b: {a:?} {b:?}");
                assert_eq!(compare_votes(a, b), compare_votes(b, a).reverse(), "antisymmetric: {a:?} {b:?}");
                for c in &votes {
                    if a.supersedes(b) && b.supersedes(c) {
                        assert!(a.supersedes(c), "transitive: {a:?} > {b:?} > {c:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn epoch_outranks_zxid_outranks_id() {
        let base = Vote { leader: ServerId(1), zxid: Zxid::new(1, 5), peer_epoch: 2 };
        let newer_epoch = Vote { leader: ServerId(1), zxid: Zxid::new(1, 0), peer_epoch: 3 };
        let longer_log = Vote { leader: ServerId(1), zxid: Zxid::new(1, 6), peer_epoch: 2 };
        let higher_id = Vote { leader: ServerId(9), zxid: Zxid::new(1, 5), peer_epoch: 2 };
        assert!(newer_epoch.supersedes(&Vote { leader: ServerId(9), zxid: Zxid::new(2, 9), peer_epoch: 2 }));
        assert!(newer_epoch.supersedes(&base), "a newer epoch beats a longer log");
        assert!(longer_log.supersedes(&higher_id), "a longer log beats a higher id");
        assert!(higher_id.supersedes(&base), "the id breaks ties");
        let mut sorted = vec![higher_id, newer_epoch, base, longer_log];
        sorted.sort_by(compare_votes);
        assert_eq!(sorted, vec![base, higher_id, longer_log, newer_epoch]);
    }
}
