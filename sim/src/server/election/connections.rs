//! The connections between election modules (ZooKeeper's `QuorumCnxManager`).
//!
//! Each ordered pair of servers has its own connection: the sender opens it and only sends,
//! the receiver accepts it and only receives. This avoids ZooKeeper's "the higher id keeps the
//! connection" tie-break while keeping its two properties: per peer, only the newest message
//! waits to be sent (a send queue of capacity one), and a broken connection is reopened with
//! backoff and the newest message sent again. A crashed peer resets the connection (the next
//! send fails); a partition stalls it (messages wait in it and arrive after the heal) and makes
//! new connections fail until it heals.

use super::notification::Notification;
use super::Inner;
use crate::net::{self, ConnReceiver, Listener, ELECTION_PORT};
use std::net::SocketAddr;
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::watch;
use zksim_model::{Node, ServerId};

/// The first wait before reconnecting after a refused connection.
const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(20);
/// The longest wait between two connection attempts.
const RECONNECT_BACKOFF_MAX: Duration = Duration::from_millis(1_000);

/// Keeps a connection to `peer` open and sends it the newest message put in `outbox`.
/// Ends when the outbox's sending half (owned by the election module) is dropped.
pub(crate) async fn send_loop(me: ServerId, peer: ServerId, mut outbox: watch::Receiver<Option<Notification>>) {
    assert_ne!(me, peer, "a server keeps no election connection to itself");
    let addr = net::server_addr(peer, ELECTION_PORT);
    let mut backoff = RECONNECT_BACKOFF_MIN;
    loop {
        let (tx, _rx) = match net::connect::<Notification, ()>(addr).await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(%me, %peer, error = %e, "election connection refused; retrying");
                madsim::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RECONNECT_BACKOFF_MAX);
                if outbox.has_changed().is_err() {
                    return;
                }
                continue;
            }
        };
        backoff = RECONNECT_BACKOFF_MIN;
        // Resend the newest message: the previous connection may have lost it when it broke.
        let mut next = *outbox.borrow_and_update();
        loop {
            if let Some(msg) = next.take() {
                assert_eq!(msg.from, me, "{me} sends only its own notifications");
                if let Err(e) = tx.send(msg).await {
                    tracing::debug!(%me, %peer, error = %e, "election connection broke; reconnecting");
                    break;
                }
            }
            if outbox.changed().await.is_err() {
                return;
            }
            next = *outbox.borrow_and_update();
        }
    }
}

/// Accepts peers' connections and hands each to a receiving task. Ends when the module is gone.
pub(crate) async fn accept_loop(me: ServerId, listener: Listener<Notification, ()>, inner: Weak<Inner>) {
    loop {
        let (_tx, rx, from) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // madsim fails an accept only when the socket is gone: nothing more will come.
                tracing::debug!(%me, error = %e, "election listener closed");
                return;
            }
        };
        if inner.strong_count() == 0 {
            return;
        }
        madsim::task::spawn(receive_loop(me, rx, from, inner.clone()));
    }
}

/// Reads one peer's notifications until its connection breaks or it sends something malformed.
async fn receive_loop(me: ServerId, mut rx: ConnReceiver<Notification>, from: SocketAddr, inner: Weak<Inner>) {
    loop {
        let n = match rx.recv().await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%me, %from, error = %e, "election connection closed");
                return;
            }
        };
        let Some(inner) = inner.upgrade() else { return };
        if let Err(why) = inner.validate(&n, from) {
            // Malformed input closes the connection, like a bad frame in QuorumCnxManager.
            tracing::debug!(%me, %from, %why, "dropping election connection");
            return;
        }
        inner.on_notification(n);
    }
}

/// The address a server's connections come from.
pub(crate) fn server_ip(server: ServerId) -> std::net::IpAddr {
    net::node_ip(Node::Server(server))
}
