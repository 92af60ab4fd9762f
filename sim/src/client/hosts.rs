//! The server list a client walks through, as ZooKeeper's StaticHostProvider does: shuffled
//! once (seeded), tried round-robin, with a spin delay after a whole fruitless cycle.

use crate::rng::SimRng;
use rand::seq::SliceRandom;
use zksim_model::ServerId;

/// Round-robin over a seeded shuffle of the servers.
pub(crate) struct HostProvider {
    servers: Vec<ServerId>,
    /// Index of the server returned last; `None` before the first call.
    current: Option<usize>,
    /// Attempts since the last successful connection: every `len` of them is a whole cycle.
    attempts_since_connected: usize,
}

impl HostProvider {
    pub(crate) fn new(mut servers: Vec<ServerId>, rng: &mut SimRng) -> HostProvider {
        assert!(!servers.is_empty(), "a host provider needs at least one server");
        servers.shuffle(rng);
        HostProvider { servers, current: None, attempts_since_connected: 0 }
    }

    /// The number of servers (ZooKeeper divides the session timeout by it for connect timeouts).
    pub(crate) fn len(&self) -> usize {
        self.servers.len()
    }

    /// The next server to try (always a different one than last time when there are several:
    /// after a disconnect ZooKeeper moves on), and whether the caller should first wait the spin
    /// delay because a whole cycle has failed since the last successful connection.
    pub(crate) fn next(&mut self) -> (ServerId, bool) {
        let i = match self.current {
            None => 0,
            Some(i) => (i + 1) % self.servers.len(),
        };
        self.current = Some(i);
        let spin =
            self.attempts_since_connected > 0 && self.attempts_since_connected.is_multiple_of(self.servers.len());
        self.attempts_since_connected += 1;
        (self.servers[i], spin)
    }

    /// Records a successful connection to the server returned last.
    pub(crate) fn on_connected(&mut self) {
        self.attempts_since_connected = 0;
    }
}
