//! Broadcast bookkeeping on the leader: outstanding proposals, their acks, and the strictly
//! ordered commit point.

use crate::server::storage::SharedTxn;
use std::collections::{BTreeMap, BTreeSet};
use zksim_model::{ServerId, Zxid};

/// Proposals sent but not yet committed, in zxid order, with who has logged each durably.
#[derive(Debug, Default)]
pub struct Outstanding {
    proposals: BTreeMap<Zxid, (SharedTxn, BTreeSet<ServerId>)>,
    last_proposed: Zxid,
    last_committed: Zxid,
}

impl Outstanding {
    /// Starts after the history committed at establishment.
    pub fn new(committed: Zxid) -> Outstanding {
        Outstanding { proposals: BTreeMap::new(), last_proposed: committed, last_committed: committed }
    }

    /// The zxid of the last commit.
    pub fn last_committed(&self) -> Zxid {
        self.last_committed
    }

    /// The zxid of the last proposal.
    pub fn last_proposed(&self) -> Zxid {
        self.last_proposed
    }

    /// The proposals not yet committed, in order.
    pub fn pending(&self) -> impl Iterator<Item = &SharedTxn> {
        self.proposals.values().map(|(t, _)| t)
    }

    /// Registers a new proposal.
    pub fn propose(&mut self, txn: SharedTxn) {
        assert!(
            txn.zxid > self.last_proposed,
            "proposals must strictly increase: {} after {}",
            txn.zxid,
            self.last_proposed
        );
        assert_eq!(
            txn.zxid.epoch(),
            self.last_proposed.epoch().max(txn.zxid.epoch()),
            "epoch of a proposal never goes back"
        );
        self.last_proposed = txn.zxid;
        self.proposals.insert(txn.zxid, (txn, BTreeSet::new()));
    }

    /// `server` has durably logged every proposal up to `zxid`.
    pub fn ack(&mut self, server: ServerId, zxid: Zxid) {
        assert!(
            zxid <= self.last_proposed,
            "{server} acked {zxid}, which was never proposed (last proposed {})",
            self.last_proposed
        );
        for (_, (_, acks)) in self.proposals.range_mut(..=zxid) {
            acks.insert(server);
        }
    }

    /// Pops the proposals that are now committed (acked by a quorum), strictly in zxid order:
    /// a later proposal never commits before an earlier one.
    pub fn take_committable(&mut self, is_quorum: impl Fn(&BTreeSet<ServerId>) -> bool) -> Vec<SharedTxn> {
        let mut out = Vec::new();
        while let Some(entry) = self.proposals.first_entry() {
            if !is_quorum(&entry.get().1) {
                break;
            }
            let (txn, _) = entry.remove();
            assert!(
                txn.zxid > self.last_committed,
                "commits must strictly increase: {} after {}",
                txn.zxid,
                self.last_committed
            );
            self.last_committed = txn.zxid;
            out.push(txn);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zksim_model::{SessionId, Txn, TxnRecord};

    fn t(c: u32) -> SharedTxn {
        SharedTxn::new(TxnRecord {
            zxid: Zxid::new(1, c),
            time_ms: 0,
            txn: Txn::CreateSession { session: SessionId(1), timeout_ms: 1 },
        })
    }

    #[test]
    fn commits_wait_for_a_quorum_and_stay_in_order() {
        let mut o = Outstanding::new(Zxid::new(1, 0));
        o.propose(t(1));
        o.propose(t(2));
        let q = |s: &BTreeSet<ServerId>| s.len() >= 2;
        o.ack(ServerId(1), Zxid::new(1, 2));
        assert!(o.take_committable(q).is_empty(), "one ack of three is no quorum");
        o.ack(ServerId(2), Zxid::new(1, 2));
        let c: Vec<Zxid> = o.take_committable(q).iter().map(|t| t.zxid).collect();
        assert_eq!(c, vec![Zxid::new(1, 1), Zxid::new(1, 2)]);
        assert_eq!(o.last_committed(), Zxid::new(1, 2));
    }

    #[test]
    #[should_panic(expected = "never proposed")]
    fn acking_an_unproposed_zxid_is_an_invariant_violation() {
        let mut o = Outstanding::new(Zxid::new(1, 0));
        o.ack(ServerId(2), Zxid::new(1, 1));
    }
}
