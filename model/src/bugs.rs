//! The catalog of planted bugs: real-world ZooKeeper, Curator and kazoo bugs re-created behind
//! runtime switches, so the harness can prove it catches them.
//!
//! A scenario switches bugs on by name (`bugs = ["zk-3911-ack-before-fsync"]`); the service, the
//! client library and the recipes consult a [`BugSet`] at the one place each bug lives. With the
//! set empty (the default) every switch point takes the normal path. The set lives here, in the
//! crate without madsim, so the runner, the CLI and the simulator all share one vocabulary.
//!
//! Which scenario and property catch each bug, and within how many seeds, is the runner's
//! business (`src/bugs.rs`); this module only names the bugs and says where they come from.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a planted bug lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The replicated service (ZAB, election, sessions, the data tree).
    Service,
    /// The client library.
    Client,
    /// A recipe built on the client.
    Recipe,
}

macro_rules! bugs {
    ($( $(#[$doc:meta])* $variant:ident = ($name:literal, $layer:ident, $source:literal, $what:literal), )*) => {
        /// One planted bug. The discriminant is its bit in a [`BugSet`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum Bug {
            $( $(#[$doc])* $variant, )*
        }

        impl Bug {
            /// Every bug, in catalog order.
            pub const ALL: &'static [Bug] = &[$(Bug::$variant),*];

            /// The name scenarios use.
            pub fn name(self) -> &'static str {
                match self { $(Bug::$variant => $name,)* }
            }

            /// Where the bug lives.
            pub fn layer(self) -> Layer {
                match self { $(Bug::$variant => Layer::$layer,)* }
            }

            /// The real-world bug it re-creates (an issue key or a short citation).
            pub fn source(self) -> &'static str {
                match self { $(Bug::$variant => $source,)* }
            }

            /// What the planted code does wrong, in one sentence.
            pub fn description(self) -> &'static str {
                match self { $(Bug::$variant => $what,)* }
            }
        }
    };
}

bugs! {
    // --- the service ---------------------------------------------------------------------
    /// The leader commits a proposal on its own ack, without waiting for a quorum.
    CommitWithoutQuorum = ("commit-without-quorum", Service, "ZAB (Junqueira et al., DSN 2011)",
        "the leader commits a proposal as soon as it has logged it, without a quorum of acks"),
    /// A follower acks a proposal before the proposal is fsynced.
    AckBeforeFsync = ("zk-3911-ack-before-fsync", Service, "ZOOKEEPER-3911, ZOOKEEPER-4646",
        "a follower acks a proposal (and NEWLEADER) before it is durable on its disk"),
    /// currentEpoch is persisted before the txns synced from the new leader are.
    EpochBeforeSync = ("zk-4643-epoch-before-sync", Service, "ZOOKEEPER-4643",
        "a follower persists currentEpoch before the transactions synced from the new leader are durable"),
    /// The leader sends DIFF to a follower whose log has a divergent uncommitted tail.
    DiffInsteadOfTrunc = ("zk-1154-diff-instead-of-trunc", Service, "ZOOKEEPER-1154",
        "the leader sends DIFF instead of TRUNC to a follower holding a divergent uncommitted tail"),
    /// A restarted server keeps (and a new leader re-proposes) txns that were never committed.
    KeepUncommitted = ("zk-2845-keep-uncommitted", Service, "ZOOKEEPER-2845",
        "a restarted server applies logged-but-uncommitted transactions to its tree on recovery"),
    /// An ephemeral create racing a closeSession is applied after the close.
    EphemeralAfterClose = ("zk-1208-ephemeral-after-close", Service, "ZOOKEEPER-1208",
        "an ephemeral create of a closing session is applied after its closeSession, leaving an orphan"),
    /// Followers skip a committed closeSession: the session's ephemerals linger there.
    CloseNotAppliedOnFollower = ("zk-2355-close-not-applied-on-follower", Service, "ZOOKEEPER-2355",
        "followers do not apply a committed closeSession, so its ephemeral nodes linger on them"),
    /// The parent's cversion (the sequential counter) is not restored when replaying the log.
    SeqCounterNotRestored = ("zk-1046-seq-counter-not-restored", Service, "ZOOKEEPER-1046",
        "replaying the log on recovery does not restore parents' cversion, so sequence numbers repeat"),
    /// A session's replies are sent in completion order, not request order.
    RepliesOutOfOrder = ("zk-1863-out-of-order-replies", Service, "ZOOKEEPER-1863",
        "a server answers a session's local reads before its earlier pending writes"),
    /// A server accepts a reconnecting client that has seen a later zxid than the server has.
    AcceptClientAhead = ("accept-client-ahead", Service, "ZooKeeper guarantee (ZOOKEEPER-1049 class)",
        "a lagging server accepts a session whose client has already seen a later zxid"),
    /// A watch notification is sent after the reply that makes the new data readable.
    WatchAfterData = ("watch-after-data", Service, "ZooKeeper ordering guarantee",
        "a server lets a client read a change before delivering the watch event for it"),
    /// Election votes compared without the epoch: the order is not total over (epoch, zxid, id).
    VoteOrderNotTotal = ("zk-1419-vote-order", Service, "ZOOKEEPER-1419",
        "leader election compares votes by zxid counter and id only, ignoring the epoch"),
    /// The leader does not track which server owns a session: no SessionMoved.
    NoSessionMoved = ("no-session-moved", Service, "ZOOKEEPER-417 (SessionMoved)",
        "a request forwarded by a server the session has left is still committed"),
    /// getACL is answered without a permission check.
    GetAclUnchecked = ("zk-1392-getacl-unchecked", Service, "ZOOKEEPER-1392",
        "getACL answers without checking READ or ADMIN, disclosing the ACL of a node the client may not read"),

    // --- recipes ---------------------------------------------------------------------------
    /// Lock waiters watch the parent's children: every change wakes every waiter.
    LockWatchParent = ("lock-watch-parent", Recipe, "ZooKeeper recipes (herd effect)",
        "lock waiters watch the lock node's children, so every release wakes every waiter"),
    /// Lock waiters watch the first node instead of their predecessor.
    LockWatchFirst = ("lock-watch-first", Recipe, "ZooKeeper recipes (herd effect)",
        "lock waiters watch the lowest node instead of their predecessor"),
    /// A waiter takes "predecessor deleted" as "acquired" without listing the children again.
    LockNoRelist = ("lock-no-relist", Recipe, "ZooKeeper recipes",
        "a waiter whose predecessor's node is deleted takes the lock without listing again"),
    /// Create retried after ConnectionLoss without the protected prefix.
    UnprotectedCreate = ("curator-45-unprotected-create", Recipe, "CURATOR-45",
        "a sequential create is retried after ConnectionLoss without the protected prefix, orphaning a node"),
    /// A lock holder carries on after its session expired.
    IgnoreExpiry = ("curator-206-ignore-expiry", Recipe, "CURATOR-206",
        "a lock holder keeps acting as holder after its session expired"),
    /// A leader latch keeps leading on its old node after its session expired.
    LeaderOnOldNode = ("curator-696-leader-old-node", Recipe, "CURATOR-696",
        "a leader latch keeps leading on its old node after its session expired"),
    /// A protected lookup adopts a node whose owner is another (expired) session.
    AdoptExpiredNode = ("curator-498-adopt-expired-node", Recipe, "CURATOR-498",
        "a protected create's lookup adopts a matching node without checking its ephemeral owner"),
    /// A read lock also waits on writers that came after it.
    ReadWaitsLaterWriter = ("kazoo-649-read-waits-later-writer", Recipe, "kazoo #649",
        "a read-lock waiter considers every writer, including later ones"),
    /// A queue consumer deletes the head without checking it won it.
    QueueDeleteUnchecked = ("queue-delete-unchecked", Recipe, "ZooKeeper recipes (queue)",
        "a queue consumer processes an item before (and whether or not) its delete succeeds"),
    /// A double barrier lets members pass before all n have entered.
    BarrierEarlyPass = ("barrier-early-pass", Recipe, "ZooKeeper recipes (barrier)",
        "a double-barrier member passes when it sees n-1 members"),
    /// Log-collector assignments are kept under ephemeral collector nodes.
    LogAssignEphemeral = ("log-assign-ephemeral", Recipe, "log-collector use case",
        "task assignments live under ephemeral collector nodes, so a collector's death loses them"),
    /// A newcomer takes its share from the collectors in name order, not from the most loaded.
    LogRebalanceFromFirst = ("log-rebalance-from-first", Recipe, "log-collector use case (local reassignment)",
        "a newcomer takes its share of sources from the collectors in name order instead of from the most loaded"),
    /// A new RUNNING task instance resumes from its own stale progress, not its predecessor's.
    TaskResumeStale = ("task-resume-stale-progress", Recipe, "task coordination (replication-bus hot standby)",
        "a new RUNNING instance resumes from the progress it last knew itself instead of reading the committed progress"),
    /// A worker forgets the console commands it acted on when its session changes.
    TaskCommandReacted = ("task-command-reacted", Recipe, "task coordination (console scheduling)",
        "a worker keeps the commands it acted on per session, so after a new session it acts on old commands again"),
    /// Task instances ordered by full node name (protected prefix included), not by sequence.
    TaskSortByName = ("task-sort-by-name", Recipe, "Curator fixForSorting (protected-prefix ordering)",
        "a task's instances are ordered by their full names, protected prefix included, so RUNNING is not the smallest sequence"),
}

impl Bug {
    /// The bug with this catalog name.
    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.iter().copied().find(|b| b.name() == name)
    }

    fn bit(self) -> u64 {
        1u64 << (self as u8)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// The set is a bitmask: every switch point asks `contains` on a hot path, and it must be Copy.
const _: () = assert!(Bug::ALL.len() <= 64);

/// The bugs switched on for a run. Empty by default: the normal code paths.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BugSet(u64);

impl BugSet {
    /// No bugs.
    pub const NONE: BugSet = BugSet(0);

    /// The set of these bugs.
    pub fn of(bugs: &[Bug]) -> BugSet {
        BugSet(bugs.iter().fold(0, |acc, b| acc | b.bit()))
    }

    /// Parses catalog names; an unknown name is an error naming it and the known ones.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<BugSet, String> {
        let mut set = BugSet::NONE;
        for n in names {
            let n = n.as_ref();
            match Bug::from_name(n) {
                Some(b) => set.insert(b),
                None => {
                    let known: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
                    return Err(format!("unknown bug {n:?}; known bugs: {}", known.join(", ")));
                }
            }
        }
        Ok(set)
    }

    pub fn insert(&mut self, bug: Bug) {
        self.0 |= bug.bit();
    }

    /// True when `bug` is switched on.
    #[inline]
    pub fn has(self, bug: Bug) -> bool {
        self.0 & bug.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The bugs in the set, in catalog order.
    pub fn iter(self) -> impl Iterator<Item = Bug> {
        Bug::ALL.iter().copied().filter(move |b| self.has(*b))
    }
}

impl fmt::Debug for BugSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(|b| b.name())).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for b in Bug::ALL {
            assert_eq!(Bug::from_name(b.name()), Some(*b));
            assert_eq!(Bug::ALL.iter().filter(|o| o.name() == b.name()).count(), 1, "{b} named twice");
        }
        assert!(Bug::ALL.len() >= 20, "the catalog must hold at least 20 bugs");
    }

    #[test]
    fn parse_rejects_unknown_names_and_sets_known_ones() {
        let set = BugSet::parse(&["zk-3911-ack-before-fsync", "lock-watch-parent"]).unwrap();
        assert!(set.has(Bug::AckBeforeFsync) && set.has(Bug::LockWatchParent));
        assert!(!set.has(Bug::CommitWithoutQuorum));
        let err = BugSet::parse(&["zk-9999"]).unwrap_err();
        assert!(err.contains("\"zk-9999\"") && err.contains("commit-without-quorum"), "{err}");
        assert!(BugSet::default().is_empty());
    }
}
