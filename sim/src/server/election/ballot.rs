//! Tallying notifications: which votes a quorum shares (ZooKeeper's `SyncedLearnerTracker` and
//! `Vote.equals`), and whether the agreed leader vouches for itself (`checkLeader`).

use super::{Notification, PeerState, Vote};
use std::collections::BTreeMap;
use zksim_model::ServerId;

/// A vote as received from one server, with the round and state it came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ballot {
    pub vote: Vote,
    pub round: u64,
    pub state: PeerState,
}

impl From<&Notification> for Ballot {
    fn from(n: &Notification) -> Ballot {
        Ballot { vote: n.vote, round: n.round, state: n.state }
    }
}

impl Ballot {
    /// ZooKeeper's `Vote.equals`: between LOOKING ballots everything must match (same round
    /// included); servers that settled only need the same leader and epoch, because their
    /// zxids and rounds drift after the election (the leader commits; a late joiner's round
    /// differs).
    pub fn agrees_with(&self, other: &Ballot) -> bool {
        if self.state == PeerState::Looking || other.state == PeerState::Looking {
            self.vote == other.vote && self.round == other.round
        } else {
            self.vote.leader == other.vote.leader && self.vote.peer_epoch == other.vote.peer_epoch
        }
    }
}

/// The latest ballot heard from each server.
#[derive(Clone, Debug, Default)]
pub(crate) struct BallotBox {
    ballots: BTreeMap<ServerId, Ballot>,
}

impl BallotBox {
    pub fn put(&mut self, from: ServerId, ballot: Ballot) {
        self.ballots.insert(from, ballot);
    }

    pub fn clear(&mut self) {
        self.ballots.clear();
    }

    /// How many servers cast a ballot that agrees with `target`.
    pub fn support(&self, target: &Ballot) -> usize {
        self.ballots.values().filter(|b| b.agrees_with(target)).count()
    }

    /// ZooKeeper's `checkLeader`: following another server needs that server's own word that
    /// it leads (so nobody follows a leader that crashed while its followers still report it);
    /// leading ourselves needs the agreement to be from our current round.
    pub fn leader_vouches(&self, me: ServerId, leader: ServerId, round: u64, logical_clock: u64) -> bool {
        if leader != me {
            self.ballots.get(&leader).is_some_and(|b| b.state == PeerState::Leading)
        } else {
            round == logical_clock
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zksim_model::Zxid;

    fn vote(leader: u32, counter: u32, peer_epoch: u32) -> Vote {
        Vote { leader: ServerId(leader), zxid: Zxid::new(1, counter), peer_epoch }
    }

    #[test]
    fn looking_ballots_agree_only_on_everything() {
        let a = Ballot { vote: vote(3, 4, 1), round: 2, state: PeerState::Looking };
        assert!(a.agrees_with(&a));
        assert!(!a.agrees_with(&Ballot { round: 3, ..a }), "another round is another election");
        assert!(!a.agrees_with(&Ballot { vote: vote(3, 5, 1), ..a }), "another zxid is another vote");
        let following = Ballot { state: PeerState::Following, round: 3, ..a };
        assert!(!a.agrees_with(&following), "LOOKING against a settled ballot compares the round too");
    }

    #[test]
    fn settled_ballots_agree_on_leader_and_epoch() {
        let leader = Ballot { vote: vote(3, 4, 1), round: 2, state: PeerState::Leading };
        let follower = Ballot { vote: vote(3, 9, 1), round: 5, state: PeerState::Following };
        assert!(leader.agrees_with(&follower), "zxids and rounds drift after the election");
        assert!(!leader.agrees_with(&Ballot { vote: vote(3, 4, 2), ..follower }), "another epoch is another leader");
        assert!(!leader.agrees_with(&Ballot { vote: vote(2, 4, 1), ..follower }));
    }

    #[test]
    fn a_leader_must_vouch_for_itself() {
        let me = ServerId(1);
        let mut bx = BallotBox::default();
        let follower = Ballot { vote: vote(3, 4, 1), round: 2, state: PeerState::Following };
        bx.put(ServerId(2), follower);
        bx.put(ServerId(4), follower);
        assert_eq!(bx.support(&follower), 2);
        assert!(
            !bx.leader_vouches(me, ServerId(3), 2, 7),
            "followers alone cannot vouch for a leader (it may be dead)"
        );
        bx.put(ServerId(3), Ballot { state: PeerState::Looking, ..follower });
        assert!(!bx.leader_vouches(me, ServerId(3), 2, 7), "a LOOKING leader does not lead");
        bx.put(ServerId(3), Ballot { state: PeerState::Leading, ..follower });
        assert!(bx.leader_vouches(me, ServerId(3), 2, 7));
        assert_eq!(bx.support(&follower), 3);
        assert!(bx.leader_vouches(me, me, 7, 7), "leading ourselves needs our own round");
        assert!(!bx.leader_vouches(me, me, 2, 7));
        bx.clear();
        assert_eq!(bx.support(&follower), 0);
    }
}
