//! The messages servers exchange on the quorum port (ZooKeeper's QuorumPacket types).

use crate::server::datatree::DataTree;
use crate::server::storage::SharedTxn;
use zksim_model::{ErrorCode, Op, ServerId, SessionId, Zxid};

/// How a leader brings a learner's log in line with its own history.
#[derive(Clone, Debug)]
pub enum SyncMode {
    /// The learner's log is a prefix of the leader's: append `txns` (maybe none).
    Diff { txns: Vec<SharedTxn> },
    /// The learner has a divergent tail: drop everything after `to`, then append `txns`.
    Trunc { to: Zxid, txns: Vec<SharedTxn> },
    /// The learner is too far behind: replace everything with the leader's tree at `zxid`.
    Snap { zxid: Zxid, tree: Box<DataTree> },
}

/// A request a learner forwards to its leader on behalf of one of its clients.
#[derive(Clone, Debug)]
pub enum Forward {
    /// A new session asked for on `origin`; `token` lets the origin match the answer.
    CreateSession { token: u64, timeout_ms: u64 },
    /// A client reconnected with an existing session on `origin`: is the session still live?
    /// The leader makes `origin` the session's owner (ZooKeeper's REVALIDATE), so a request
    /// of the session that a server it has left forwards later is refused with SessionMoved.
    Revalidate { token: u64, session: SessionId },
    /// A write (or close) of a session.
    Write { session: SessionId, xid: u64, op: Op },
    /// A `sync`: answered once everything committed before it has been sent to the origin.
    Sync { session: SessionId, xid: u64 },
    /// The harness asks for a session's expiry.
    Expire { session: SessionId },
    /// Sessions that showed activity on the learner since the last tick.
    Touch { sessions: Vec<SessionId> },
}

/// Quorum-port packets. Learner → leader and leader → learner share the type, as in ZooKeeper.
#[derive(Clone, Debug)]
pub enum ZabMsg {
    /// Learner → leader, first: who it is and what it has.
    FollowerInfo { from: ServerId, accepted_epoch: u32, last_zxid: Zxid },
    /// Leader → learner: the epoch it proposes.
    LeaderInfo { epoch: u32 },
    /// Learner → leader: the epoch is accepted; its current epoch and last zxid. `None` when
    /// the learner had already accepted this very epoch (from an earlier attempt): as in
    /// ZooKeeper (which sends -1), such an ack does not count toward the epoch quorum, so two
    /// candidates proposing the same epoch cannot both be established with its help.
    AckEpoch { current_epoch: Option<u32>, last_zxid: Zxid },
    /// Leader → learner: how to sync.
    Sync(SyncMode),
    /// Leader → learner: the learner has the leader's history; persist and ack.
    NewLeader { epoch: u32 },
    /// Learner → leader: NEWLEADER persisted (txns, then currentEpoch).
    AckNewLeader { epoch: u32 },
    /// Leader → learner: start serving clients.
    UpToDate,
    /// Leader → learner: log this transaction (shared, immutable: the leader's log, its
    /// history and every learner's copy are one allocation).
    Proposal(SharedTxn),
    /// Learner → leader: every proposal up to `zxid` is durable here.
    Ack { zxid: Zxid },
    /// Leader → learner: apply the proposal at `zxid`.
    Commit { zxid: Zxid },
    /// Leader → learner heartbeat; the learner answers with `Forward::Touch`.
    Ping,
    /// Learner → leader: a client request.
    Request(Forward),
    /// Leader → learner: the session number for a `CreateSession` token (the commit follows).
    SessionAssigned { token: u64, session: SessionId },
    /// Leader → learner: the answer to `Forward::Revalidate` (`valid`: the session is live
    /// and now owned by this learner).
    Revalidated { token: u64, valid: bool },
    /// Leader → learner: a forwarded request failed before becoming a transaction.
    Rejected { session: SessionId, xid: u64, code: ErrorCode },
    /// Leader → learner: a `sync` completes here once everything before this message is applied.
    Synced { session: SessionId, xid: u64 },
}
