//! The configuration of one coordination server (ZooKeeper's zoo.cfg, the parts zksim models).

use zksim_model::{BugSet, ServerId};

/// How one server of the ensemble runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// This server (`myid`).
    pub id: ServerId,
    /// Every voting member, this server included, in ascending order.
    pub ensemble: Vec<ServerId>,
    /// The heartbeat unit: session timeouts, init and sync limits are counted in ticks.
    pub tick_ms: u64,
    /// Ticks a leader gives a quorum to connect and sync (ZooKeeper's initLimit).
    pub init_limit: u64,
    /// Ticks of silence after which a follower drops its leader, and a leader that hears from
    /// no quorum steps down (ZooKeeper's syncLimit).
    pub sync_limit: u64,
    /// Take a snapshot (and start a new log file) after this many applied transactions.
    pub snapshot_every: u64,
    /// The most proposals a follower writes before one fsync (group commit).
    pub fsync_batch: usize,
    /// How often the leader proposes the container/TTL reaper's candidates, in ticks.
    pub reap_every_ticks: u64,
    /// Planted bugs switched on (none by default: see `zksim_model::bugs`).
    pub bugs: BugSet,
    /// Start from `/` alone (a chroot's view, as the probes' chroot cases were recorded) instead
    /// of a fresh server's `/zookeeper`, `/zookeeper/config` and `/zookeeper/quota`.
    pub empty_root: bool,
}

impl ServerConfig {
    /// Defaults for server `id` of `ensemble`: 100 ms ticks, initLimit 10, syncLimit 5, a
    /// snapshot every 100 transactions.
    pub fn new(id: ServerId, ensemble: Vec<ServerId>) -> ServerConfig {
        let mut ensemble = ensemble;
        ensemble.sort();
        ensemble.dedup();
        assert!(ensemble.contains(&id), "{id} must be a member of its own ensemble {ensemble:?}");
        ServerConfig {
            id,
            ensemble,
            tick_ms: 100,
            init_limit: 10,
            sync_limit: 5,
            snapshot_every: 100,
            fsync_batch: 64,
            reap_every_ticks: 10,
            bugs: BugSet::NONE,
            empty_root: false,
        }
    }

    /// The smallest number of servers that forms a quorum (a strict majority).
    pub fn quorum(&self) -> usize {
        self.ensemble.len() / 2 + 1
    }

    /// True when `voters` (distinct servers of the ensemble) form a quorum.
    pub fn is_quorum<'a>(&self, voters: impl IntoIterator<Item = &'a ServerId>) -> bool {
        if self.ensemble.len() <= 128 {
            // The distinct members among `voters`, marked by their position in the ensemble:
            // no allocation (the leader asks once per proposal and ack).
            let mut seen = 0u128;
            for v in voters {
                if let Some(i) = self.ensemble.iter().position(|s| s == v) {
                    seen |= 1 << i;
                }
            }
            return seen.count_ones() as usize >= self.quorum();
        }
        let mut seen: Vec<ServerId> = voters.into_iter().filter(|s| self.ensemble.contains(s)).copied().collect();
        seen.sort();
        seen.dedup();
        seen.len() >= self.quorum()
    }

    /// The other members of the ensemble.
    pub fn peers(&self) -> Vec<ServerId> {
        self.ensemble.iter().copied().filter(|s| *s != self.id).collect()
    }

    /// The smallest session timeout the server grants (2 ticks).
    pub fn min_session_timeout_ms(&self) -> u64 {
        2 * self.tick_ms
    }

    /// The largest session timeout the server grants (20 ticks).
    pub fn max_session_timeout_ms(&self) -> u64 {
        20 * self.tick_ms
    }

    /// The negotiated session timeout for a client asking for `requested_ms`.
    pub fn negotiate_timeout(&self, requested_ms: u64) -> u64 {
        requested_ms.clamp(self.min_session_timeout_ms(), self.max_session_timeout_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_is_a_strict_majority() {
        let ids = |n: u32| (1..=n).map(ServerId).collect::<Vec<_>>();
        for (n, q) in [(1, 1), (3, 2), (5, 3), (7, 4)] {
            let c = ServerConfig::new(ServerId(1), ids(n));
            assert_eq!(c.quorum(), q, "quorum of {n}");
        }
        let c = ServerConfig::new(ServerId(1), ids(5));
        assert!(!c.is_quorum(&[ServerId(1), ServerId(2), ServerId(2)]), "duplicates must not count twice");
        assert!(c.is_quorum(&[ServerId(1), ServerId(2), ServerId(5)]));
        assert!(!c.is_quorum(&[ServerId(1), ServerId(2), ServerId(9)]), "non-members must not count");
    }

    #[test]
    fn timeouts_are_clamped_to_2_and_20_ticks() {
        let c = ServerConfig::new(ServerId(1), vec![ServerId(1)]);
        assert_eq!(c.negotiate_timeout(1), 200);
        assert_eq!(c.negotiate_timeout(1000), 1000);
        assert_eq!(c.negotiate_timeout(60_000), 2000);
    }
}
