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
