//! How a client connects: which servers, which session timeout, how it backs off.

use zksim_model::{ClientId, ServerId};

/// The configuration of one [`super::ZkClient`] (one session).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// The simulated client process this session belongs to (recorded in every event).
    pub client: ClientId,
    /// The ensemble's client ports are tried in a seeded-shuffled order of this list.
    pub servers: Vec<ServerId>,
    /// The session timeout asked for; the server negotiates (clamps) it.
    pub session_timeout_ms: u64,
    /// Upper bound of the random pause before each reconnect attempt (ZooKeeper: up to 1000 ms,
    /// so that a crashed server's clients do not all stampede the next one at once).
    pub reconnect_jitter_ms: u64,
    /// Pause after a whole cycle through the server list without connecting (ZooKeeper's
    /// StaticHostProvider spinDelay, 1000 ms).
    pub spin_delay_ms: u64,
    /// How long a request issued while disconnected waits for a connection before it fails with
    /// ConnectionLoss (never sent, so it definitely had no effect).
    pub request_wait_ms: u64,
    /// How long [`super::ZkClient::connect`] keeps trying to establish a new session.
    pub connect_deadline_ms: u64,
    /// Planted bugs switched on (none by default: see `zksim_model::bugs`).
    pub bugs: zksim_model::BugSet,
}

impl ClientConfig {
    /// ZooKeeper-like defaults: a 6 s session, 1 s jitter and spin delay, requests wait one
    /// session timeout for a connection, connect gives up after two session timeouts.
    pub fn new(client: ClientId, servers: Vec<ServerId>) -> ClientConfig {
        ClientConfig {
            client,
            servers,
            session_timeout_ms: 6_000,
            reconnect_jitter_ms: 1_000,
            spin_delay_ms: 1_000,
            request_wait_ms: 6_000,
            connect_deadline_ms: 12_000,
            bugs: zksim_model::BugSet::NONE,
        }
    }

    /// Sets the requested session timeout, and the request wait and connect deadline with it.
    pub fn with_session_timeout(mut self, ms: u64) -> ClientConfig {
        self.session_timeout_ms = ms;
        self.request_wait_ms = ms;
        self.connect_deadline_ms = 2 * ms;
        self
    }

    /// Checks the configuration; a bad one is an input error, not a panic.
    pub fn validate(&self) -> Result<(), String> {
        if self.servers.is_empty() {
            return Err("a client needs at least one server".into());
        }
        let mut sorted = self.servers.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != self.servers.len() {
            return Err(format!("server list has duplicates: {:?}", self.servers));
        }
        if self.session_timeout_ms < 3 {
            return Err(format!(
                "session timeout {} ms is too small to derive read and ping intervals",
                self.session_timeout_ms
            ));
        }
        Ok(())
    }
}
