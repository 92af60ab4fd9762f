//! The wire protocol between clients and servers, and between the harness and servers.
//!
//! Messages travel as Rust values over [`crate::net`] connections (TCP-like). Server-to-server
//! (ZAB) messages are private to the server module.

use zksim_model::{Op, Outcome, ServerId, SessionId, WatchedEvent, Zxid};

/// Client → server.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientMsg {
    /// First message on a connection: a new session (`session: None`) or a reconnect of an
    /// existing one. `last_zxid_seen` lets the server refuse a client that is ahead of it.
    Connect { session: Option<SessionId>, last_zxid_seen: Zxid, timeout_ms: u64 },
    /// An operation. `xid` numbers the session's requests from 1; replies carry it back.
    Request { xid: u64, op: Op },
    /// Keep-alive, sent when the connection has been idle for a third of the session timeout.
    Ping,
    /// After a reconnect: the watches the client still holds, to be re-registered. The server
    /// fires at once those whose node changed after `last_zxid` (ZooKeeper's SetWatches).
    SetWatches { last_zxid: Zxid, watches: WatchSet },
}

/// The watches a client holds, by kind (ZooKeeper's SetWatches2 layout).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchSet {
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
    pub persistent: Vec<String>,
    pub persistent_recursive: Vec<String>,
}

/// Server → client.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMsg {
    /// Answer to `Connect`.
    Connected { session: SessionId, timeout_ms: u64, server: ServerId },
    /// The connection is refused; the client closes it and, unless `Expired`, tries another server.
    Refused(Refusal),
    /// Answer to a request. `zxid` is the transaction's zxid for writes, the server's last
    /// processed zxid for reads.
    Reply { xid: u64, zxid: Zxid, outcome: Outcome },
    /// A watch notification. Sent before any reply that reflects a later state.
    Watch(WatchedEvent),
    /// Answer to `Ping`, with the server's last processed zxid.
    Pong { zxid: Zxid },
}

/// Why a server refused a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The session does not exist any more.
    Expired,
    /// The server has applied less than the client has already seen; it would take the client
    /// back in time.
    Behind { server_zxid: Zxid, client_zxid: Zxid },
    /// The server is not serving (electing or syncing, or cut off from the quorum).
    NotServing,
}

/// Harness → server, on the control port. Not part of the service's API: this is how the
/// nemesis expires sessions and how the run reads final states.
#[derive(Clone, Debug, PartialEq)]
pub enum ControlMsg {
    /// Expire `session` now, as if its timeout had passed (the leader commits closeSession).
    ExpireSession(SessionId),
    /// Report the last applied zxid and the digest of the applied log.
    FinalState,
}

/// Server → harness, on the control port.
#[derive(Clone, Debug, PartialEq)]
pub enum ControlReply {
    /// The leader accepted the expiry (or forwarded it).
    Expiring,
    /// The server cannot act on the request now (not leading and no leader known).
    Unavailable,
    FinalState {
        last_zxid: Zxid,
        digest: u64,
    },
}
