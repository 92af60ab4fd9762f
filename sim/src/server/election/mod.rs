//! ZooKeeper's fast leader election (`FastLeaderElection` over `QuorumCnxManager`).
//!
//! Each server keeps an [`Election`] for its whole life: it listens on [`crate::net::ELECTION_PORT`],
//! keeps a connection to every peer (see `connections`), and answers peers' notifications at
//! all times, as ZooKeeper's `WorkerReceiver` does: while LOOKING it queues them for the running
//! election (and tells a LOOKING peer from an older round its current proposal); otherwise it
//! answers a LOOKING peer with the vote it settled on, so the peer learns the established leader.
//!
//! The server calls [`Election::look_for_leader`] whenever it is LOOKING; the call returns the
//! agreed vote and leaves the module answering as LEADING or FOLLOWING. The server reports
//! later changes through [`Election::update_election_vote`] (a new epoch) and
//! [`Election::set_state`] (back to LOOKING, or a different vote).
//!
//! How a server uses it (what `tests/election.rs` does with a stand-in for ZAB):
//!
//! ```text
//! let election = Election::start(ElectionConfig::new(me, ensemble)).await?;   // once per process
//! loop {
//!     let vote = election.look_for_leader(last_logged_zxid, current_epoch).await;  // now LEADING/FOLLOWING
//!     // lead (vote.leader == me) or follow vote.leader; once the new epoch e is established
//!     // (leader: a quorum acked NEWLEADER; follower: UPTODATE), both sides call
//!     election.update_election_vote(e);   // so late joiners see everyone agree on (leader, e)
//!     // ...until leading/following fails, then:
//!     election.set_state(PeerState::Looking, vote);   // optional: look_for_leader does it too
//! }
//! ```
//!
//! Until `look_for_leader` is called again the module keeps answering with the settled vote,
//! as ZooKeeper does, so a failed leader or follower should look again promptly.
//!
//! Votes are ranked by [`total_order_predicate`] alone. Differences from ZooKeeper: no observers, no
//! weights or hierarchical quorums, no dynamic reconfiguration; one connection per ordered pair
//! of servers instead of one per pair, with acknowledgements so that a connection stalled by a
//! partition is reopened instead of delivering late (see `connections`).

mod ballot;
mod config;
mod connections;
mod notification;
mod peer_state;
mod vote;

pub use config::ElectionConfig;
pub use notification::Notification;
pub use peer_state::PeerState;
pub use vote::{compare_votes, total_order_predicate, Vote};

use crate::deadline::Deadline;
use crate::net::{Listener, ELECTION_PORT};
use ballot::{Ballot, BallotBox};
use madsim::task::AbortHandle;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use zksim_model::{ServerId, Zxid};

/// One server's leader election module. Dropping it stops its tasks.
pub struct Election {
    inner: Arc<Inner>,
    /// Notifications for the running election, taken by one `look_for_leader` at a time.
    inbox: tokio::sync::Mutex<Inbox>,
    tasks: Vec<AbortHandle>,
}

/// What the module's tasks share with the election itself.
pub(crate) struct Inner {
    cfg: ElectionConfig,
    me_state: Mutex<MeState>,
    /// The newest message for each peer (ZooKeeper's send queues, capacity one).
    outboxes: BTreeMap<ServerId, watch::Sender<Option<Notification>>>,
    inbox_tx: mpsc::UnboundedSender<Notification>,
    /// The newest connection accepted from each peer; older ones are dropped.
    connections: Mutex<BTreeMap<ServerId, u64>>,
}

/// This server's side of the election, as peers are told it.
#[derive(Clone, Copy, Debug)]
struct MeState {
    state: PeerState,
    /// ZooKeeper's `logicalclock`: the round of the running (or last) election.
    logical_clock: u64,
    /// The vote proposed while LOOKING.
    proposal: Vote,
    /// The vote settled on while FOLLOWING or LEADING, and the round it was settled in.
    settled: Vote,
    settled_round: u64,
}

struct Inbox {
    rx: mpsc::UnboundedReceiver<Notification>,
    /// Notifications taken out of `rx` and put back (the finalize wait's "a better vote came").
    put_back: VecDeque<Notification>,
    /// The wait of `next` (created on first use, inside the simulation): kept across calls, so
    /// the `select!` polling the election on every server input registers no timer per poll.
    wait: Option<Deadline>,
}

impl Drop for Election {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Election {
    /// Starts the module: binds the election port and starts connecting to every peer.
    pub async fn start(cfg: ElectionConfig) -> std::io::Result<Election> {
        let distinct: BTreeSet<ServerId> = cfg.ensemble.iter().copied().collect();
        if distinct.len() != cfg.ensemble.len() || !distinct.contains(&cfg.me) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("ensemble {:?} must list distinct servers including {}", cfg.ensemble, cfg.me),
            ));
        }
        if cfg.finalize_wait_ms == 0 || cfg.max_notification_interval_ms < cfg.finalize_wait_ms {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "need 0 < finalize_wait_ms ({}) <= max_notification_interval_ms ({})",
                    cfg.finalize_wait_ms, cfg.max_notification_interval_ms
                ),
            ));
        }
        let listener = Listener::<Notification, connections::Ack>::bind(ELECTION_PORT).await?;
        let me = cfg.me;
        let initial = Vote { leader: me, zxid: Zxid::ZERO, peer_epoch: 0 };
        let (inbox_tx, inbox_rx) = mpsc::unbounded_channel();
        let mut outboxes = BTreeMap::new();
        let mut receivers = Vec::new();
        for &peer in cfg.ensemble.iter().filter(|p| **p != me) {
            let (tx, rx) = watch::channel(None);
            outboxes.insert(peer, tx);
            receivers.push((peer, rx));
        }
        let inner = Arc::new(Inner {
            cfg,
            me_state: Mutex::new(MeState {
                state: PeerState::Looking,
                logical_clock: 0,
                proposal: initial,
                settled: initial,
                settled_round: 0,
            }),
            outboxes,
            inbox_tx,
            connections: Mutex::new(BTreeMap::new()),
        });
        let mut tasks = Vec::new();
        tasks.push(madsim::task::spawn(connections::accept_loop(me, listener, Arc::downgrade(&inner))).abort_handle());
        for (peer, rx) in receivers {
            tasks.push(madsim::task::spawn(connections::send_loop(me, peer, rx)).abort_handle());
        }
        Ok(Election {
            inner,
            inbox: tokio::sync::Mutex::new(Inbox { rx: inbox_rx, put_back: VecDeque::new(), wait: None }),
            tasks,
        })
    }

    /// This server's configuration.
    pub fn config(&self) -> &ElectionConfig {
        &self.inner.cfg
    }

    /// What peers are told this server is doing.
    pub fn state(&self) -> PeerState {
        self.inner.lock().state
    }

    /// Runs one election (logical clock + 1) with this server's last zxid and current epoch and
    /// returns the agreed vote once a quorum agrees and no better vote arrived within
    /// `finalize_wait`. Never returns without a quorum. On return the module already answers
    /// peers as LEADING (the vote names this server) or FOLLOWING.
    ///
    /// # Panics
    /// When called while another call is running (one server runs one election at a time).
    pub async fn look_for_leader(&self, last_zxid: Zxid, current_epoch: u32) -> Vote {
        let mut inbox = self.inbox.try_lock().expect("look_for_leader runs one election at a time per server");
        let inner = &self.inner;
        let me = inner.cfg.me;
        let quorum = inner.cfg.quorum();
        let finalize_wait = Duration::from_millis(inner.cfg.finalize_wait_ms);
        let max_interval = Duration::from_millis(inner.cfg.max_notification_interval_ms);
        let init = Vote { leader: me, zxid: last_zxid, peer_epoch: current_epoch };

        let mut proposal = init;
        let mut clock = {
            let mut st = inner.lock();
            st.logical_clock += 1;
            st.state = PeerState::Looking;
            st.proposal = init;
            st.logical_clock
        };
        tracing::debug!(%me, round = clock, ?init, "looking for a leader");
        inner.send_notifications(proposal, clock);

        // Ballots of the current round, and of servers that already settled (any round).
        let mut recv_set = BallotBox::default();
        let mut out_of_election = BallotBox::default();
        let mut not_timeout = finalize_wait;
        loop {
            let Some(n) = inbox.next(not_timeout).await else {
                // Nothing heard for a while: say it again, waiting longer each time.
                inner.send_notifications(proposal, clock);
                not_timeout = (not_timeout * 2).min(max_interval);
                continue;
            };
            assert!(inner.cfg.ensemble.contains(&n.from), "{me} queued a notification from a non-voter {}", n.from);
            assert!(
                inner.cfg.ensemble.contains(&n.vote.leader),
                "{me} queued a vote for a non-voter {}",
                n.vote.leader
            );
            match n.state {
                PeerState::Looking => {
                    if n.round > clock {
                        // A newer round: join it, starting again from our own vote or theirs.
                        clock = n.round;
                        recv_set.clear();
                        proposal = if n.vote.supersedes_under(&init, inner.cfg.bugs) { n.vote } else { init };
                        inner.update_proposal(proposal, clock);
                        inner.send_notifications(proposal, clock);
                    } else if n.round < clock {
                        continue;
                    } else if n.vote.supersedes_under(&proposal, inner.cfg.bugs) {
                        proposal = n.vote;
                        inner.update_proposal(proposal, clock);
                        inner.send_notifications(proposal, clock);
                    }
                    recv_set.put(n.from, Ballot::from(&n));
                    let target = Ballot { vote: proposal, round: clock, state: PeerState::Looking };
                    if recv_set.support(&target) < quorum {
                        continue;
                    }
                    // A quorum agrees: wait finalize_wait for a better vote before settling.
                    let mut challenged = false;
                    while let Some(m) = inbox.next(finalize_wait).await {
                        if m.vote.supersedes_under(&proposal, inner.cfg.bugs) {
                            inbox.put_back.push_front(m);
                            challenged = true;
                            break;
                        }
                    }
                    if !challenged {
                        assert!(
                            recv_set.support(&target) >= quorum,
                            "{me} settles on {proposal:?} only with a quorum of round {clock}"
                        );
                        return inbox.leave(inner.settle(proposal, clock));
                    }
                }
                PeerState::Following | PeerState::Leading => {
                    let ballot = Ballot::from(&n);
                    if n.round == clock {
                        recv_set.put(n.from, ballot);
                        if recv_set.support(&ballot) >= quorum
                            && recv_set.leader_vouches(me, n.vote.leader, n.round, clock)
                        {
                            return inbox.leave(inner.settle(n.vote, clock));
                        }
                    }
                    // A server that restarted (or lagged) joins the leader an established
                    // quorum follows, whatever round that quorum settled in.
                    out_of_election.put(n.from, ballot);
                    if out_of_election.support(&ballot) >= quorum
                        && out_of_election.leader_vouches(me, n.vote.leader, n.round, clock)
                    {
                        return inbox.leave(inner.settle(n.vote, n.round));
                    }
                }
            }
        }
    }

    /// Tells the module what this server now does, so it answers LOOKING peers correctly:
    /// `Leading`/`Following` with the vote it acts on (for example after the new epoch is
    /// established: the leader and its followers should report the same `peer_epoch`), or
    /// `Looking` before the next [`Election::look_for_leader`].
    ///
    /// # Panics
    /// When `Leading` names another leader or `Following` names this server.
    pub fn set_state(&self, state: PeerState, vote: Vote) {
        let me = self.inner.cfg.me;
        assert!(self.inner.cfg.ensemble.contains(&vote.leader), "{me} acts on a vote for a non-voter {}", vote.leader);
        match state {
            PeerState::Leading => assert_eq!(vote.leader, me, "{me} can lead only with a vote for itself"),
            PeerState::Following => assert_ne!(vote.leader, me, "{me} cannot follow itself"),
            PeerState::Looking => {}
        }
        let mut st = self.inner.lock();
        st.state = state;
        match state {
            PeerState::Looking => st.proposal = vote,
            PeerState::Following | PeerState::Leading => st.settled = vote,
        }
        tracing::debug!(%me, ?state, ?vote, "election state set");
    }
}

impl Election {
    /// ZooKeeper's `updateElectionVote` (ZOOKEEPER-1732): once the new epoch is established
    /// (the leader after a quorum acked NEWLEADER, a follower after UPTODATE), report it in the
    /// vote peers are told, so a server that starts up later sees the leader and its followers
    /// agree on `(leader, new_epoch)` and joins them.
    ///
    /// # Panics
    /// While LOOKING (there is no settled vote), or if the epoch would go back.
    pub fn update_election_vote(&self, new_epoch: u32) {
        let me = self.inner.cfg.me;
        let mut st = self.inner.lock();
        assert_ne!(st.state, PeerState::Looking, "{me} updates its election vote only once it follows or leads");
        assert!(
            new_epoch >= st.settled.peer_epoch,
            "{me}'s election vote epoch goes back from {} to {new_epoch}",
            st.settled.peer_epoch
        );
        st.settled.peer_epoch = new_epoch;
    }
}

impl Inbox {
    /// ZooKeeper's `leaveInstance`: what is still queued belongs to the election just ended.
    fn leave(&mut self, vote: Vote) -> Vote {
        self.put_back.clear();
        while self.rx.try_recv().is_ok() {}
        vote
    }

    /// The next notification, or `None` after `wait` without one.
    async fn next(&mut self, wait: Duration) -> Option<Notification> {
        if let Some(n) = self.put_back.pop_front() {
            return Some(n);
        }
        let deadline = self.wait.get_or_insert_with(Deadline::never);
        deadline.reset_after(wait);
        tokio::select! {
            // `biased`: a notification first, as `madsim::time::timeout` polled it.
            biased;
            n = self.rx.recv() => match n {
                Some(n) => Some(n),
                // The sending half lives in `Inner`, which the `Election` being polled keeps alive.
                None => unreachable!("the election inbox closed while its election runs"),
            },
            _ = deadline => None,
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, MeState> {
        self.me_state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection from `peer`, replacing any older one; returns its generation.
    pub(crate) fn new_connection(&self, peer: ServerId) -> u64 {
        let mut conns = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        let generation = conns.entry(peer).or_insert(0);
        *generation += 1;
        *generation
    }

    /// True while the connection of `generation` is `peer`'s newest.
    pub(crate) fn is_current_connection(&self, peer: ServerId, generation: u64) -> bool {
        let conns = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        conns.get(&peer) == Some(&generation)
    }

    /// Checks a peer's notification before anything acts on it.
    pub(crate) fn validate(&self, n: &Notification, from: SocketAddr) -> Result<(), String> {
        let me = self.cfg.me;
        if n.from == me || !self.cfg.ensemble.contains(&n.from) {
            return Err(format!("notification claims to come from {}, not a peer of {me}", n.from));
        }
        if from.ip() != connections::server_ip(n.from) {
            return Err(format!("notification claims to come from {} but came from {from}", n.from));
        }
        if !self.cfg.ensemble.contains(&n.vote.leader) {
            return Err(format!("{} votes for {}, not a voter", n.from, n.vote.leader));
        }
        Ok(())
    }

    /// ZooKeeper's `WorkerReceiver`: queue for the running election, and answer LOOKING peers.
    pub(crate) fn on_notification(&self, n: Notification) {
        let me = self.cfg.me;
        let reply = {
            let st = self.lock();
            if st.state == PeerState::Looking {
                // Fails only if the election is being dropped; nothing is waiting then.
                let _ = self.inbox_tx.send(n);
                (n.state == PeerState::Looking && n.round < st.logical_clock).then_some(Notification {
                    from: me,
                    vote: st.proposal,
                    round: st.logical_clock,
                    state: PeerState::Looking,
                })
            } else {
                (n.state == PeerState::Looking).then_some(Notification {
                    from: me,
                    vote: st.settled,
                    round: st.settled_round,
                    state: st.state,
                })
            }
        };
        if let Some(reply) = reply {
            self.send_to(n.from, reply);
        }
    }

    fn send_to(&self, peer: ServerId, msg: Notification) {
        let outbox = self.outboxes.get(&peer).unwrap_or_else(|| panic!("{} has no outbox for {peer}", self.cfg.me));
        outbox.send_replace(Some(msg));
    }

    /// Sends `vote` to every peer and to ourselves (our own vote counts like anyone's).
    fn send_notifications(&self, vote: Vote, round: u64) {
        let me = self.cfg.me;
        let msg = Notification { from: me, vote, round, state: PeerState::Looking };
        for &peer in self.outboxes.keys() {
            self.send_to(peer, msg);
        }
        // Fails only if the election is being dropped.
        let _ = self.inbox_tx.send(msg);
    }

    fn update_proposal(&self, vote: Vote, round: u64) {
        let mut st = self.lock();
        assert_eq!(st.state, PeerState::Looking, "{} changes its proposal only while LOOKING", self.cfg.me);
        assert!(
            round >= st.logical_clock,
            "{}'s logical clock went back from {} to {round}",
            self.cfg.me,
            st.logical_clock
        );
        st.logical_clock = round;
        st.proposal = vote;
    }

    /// Ends the election on `vote`, settled in `round`.
    fn settle(&self, vote: Vote, round: u64) -> Vote {
        let me = self.cfg.me;
        let mut st = self.lock();
        assert_eq!(st.state, PeerState::Looking, "{me} settles an election only while LOOKING");
        st.logical_clock = round;
        st.state = if vote.leader == me { PeerState::Leading } else { PeerState::Following };
        st.settled = vote;
        st.settled_round = round;
        tracing::debug!(%me, round, ?vote, state = ?st.state, "election settled");
        vote
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send_sync<T: Send + Sync>(_: &T) {}
    fn is_send<T: Send>(_: &T) {}

    /// The server may share the module between tasks and spawn its election on madsim.
    #[allow(dead_code)]
    fn election_is_shareable(election: &Election) {
        is_send_sync(election);
        is_send(&election.look_for_leader(Zxid::ZERO, 0));
    }

    #[test]
    fn malformed_configs_are_errors() {
        let bad = [
            ElectionConfig::new(ServerId(4), vec![ServerId(1), ServerId(2), ServerId(3)]),
            ElectionConfig::new(ServerId(1), vec![ServerId(1), ServerId(2), ServerId(2)]),
            ElectionConfig { finalize_wait_ms: 0, ..ElectionConfig::new(ServerId(1), vec![ServerId(1)]) },
            ElectionConfig { max_notification_interval_ms: 10, ..ElectionConfig::new(ServerId(1), vec![ServerId(1)]) },
        ];
        let rt = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
        for cfg in bad {
            let got = rt.block_on(Election::start(cfg.clone()));
            let err = got.err().unwrap_or_else(|| panic!("{cfg:?} must be rejected"));
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{cfg:?}");
        }
    }

    #[test]
    fn config_quorum_is_a_strict_majority() {
        let cfg = |n: u32| ElectionConfig::new(ServerId(1), (1..=n).map(ServerId).collect());
        assert_eq!([1, 2, 3, 4, 5, 7].map(|n| cfg(n).quorum()), [1, 2, 2, 3, 3, 4]);
    }
}
