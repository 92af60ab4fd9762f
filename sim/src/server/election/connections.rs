//! The connections between election modules (ZooKeeper's `QuorumCnxManager`).
//!
//! Each ordered pair of servers has its own connection: the sender opens it and sends
//! notifications, the receiver accepts it, and acknowledges each notification it hands to its
//! election module. This avoids ZooKeeper's "the higher id keeps the connection" tie-break
//! while keeping its properties: per peer, only the newest message waits to be sent (a send
//! queue of capacity one); a broken connection is reopened with backoff and the newest message
//! sent again; a newer connection from a peer replaces the older one.
//!
//! A crashed peer resets the connection (the send or the wait for acknowledgements fails). A
//! partition stalls it: the transport would deliver what waits in it long after the heal (its
//! retransmission backs off to 10 s), so a sender that waited `STALL_TIMEOUT` for an
//! acknowledgement gives the connection up and opens a new one, which fails until the
//! partition heals. What the abandoned connection still delivers is dropped by the receiver.

use super::notification::Notification;
use super::Inner;
use crate::deadline::Deadline;
use crate::net::{self, ConnReceiver, ConnSender, Listener, ELECTION_PORT};
use std::net::SocketAddr;
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::watch;
use zksim_model::{Node, ServerId};

/// The first wait before reconnecting after a refused connection.
const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(20);
/// The longest wait between two connection attempts.
const RECONNECT_BACKOFF_MAX: Duration = Duration::from_millis(1_000);
/// How long a sent notification may go unacknowledged before the connection counts as stalled.
const STALL_TIMEOUT: Duration = Duration::from_millis(1_000);

/// The receiver's word that it took a notification.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ack;

/// Keeps a connection to `peer` open and sends it the newest message put in `outbox`.
/// Ends when the outbox's sending half (owned by the election module) is dropped.
pub(crate) async fn send_loop(me: ServerId, peer: ServerId, mut outbox: watch::Receiver<Option<Notification>>) {
    assert_ne!(me, peer, "a server keeps no election connection to itself");
    let addr = net::server_addr(peer, ELECTION_PORT);
    let mut backoff = RECONNECT_BACKOFF_MIN;
    loop {
        let (tx, mut acks) = match net::connect::<Notification, Ack>(addr).await {
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
        let mut unacked: u64 = 0;
        // Since when unacknowledged notifications have waited without progress.
        let mut waiting_since: Option<madsim::time::Instant> = None;
        let mut stall = Deadline::never();
        loop {
            if let Some(msg) = next.take() {
                assert_eq!(msg.from, me, "{me} sends only its own notifications");
                if let Err(e) = tx.send(msg).await {
                    tracing::debug!(%me, %peer, error = %e, "election connection broke; reconnecting");
                    break;
                }
                unacked += 1;
                waiting_since.get_or_insert_with(madsim::time::TimeHandle::current_now_instant);
            }
            // Kept across iterations: one timer per stall deadline (crate::deadline).
            match waiting_since {
                Some(since) => stall.reset(since + STALL_TIMEOUT),
                None => stall.clear(),
            }
            // `biased`: poll in a fixed order, so the schedule depends on the seed alone.
            tokio::select! {
                biased;
                ack = acks.recv() => {
                    if let Err(e) = ack {
                        tracing::debug!(%me, %peer, error = %e, "election connection broke; reconnecting");
                        break;
                    }
                    assert!(unacked > 0, "{peer} acknowledged more notifications than {me} sent");
                    unacked -= 1;
                    waiting_since =
                        (unacked > 0).then(madsim::time::TimeHandle::current_now_instant);
                }
                changed = outbox.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    next = *outbox.borrow_and_update();
                }
                _ = &mut stall => {
                    tracing::debug!(%me, %peer, unacked, "election connection stalled; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Accepts peers' connections and hands each to a receiving task. Ends when the module is gone.
pub(crate) async fn accept_loop(me: ServerId, listener: Listener<Notification, Ack>, inner: Weak<Inner>) {
    loop {
        let (tx, rx, from) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // madsim fails an accept only when the socket is gone: nothing more will come.
                tracing::debug!(%me, error = %e, "election listener closed");
                return;
            }
        };
        let Some(strong) = inner.upgrade() else { return };
        let Some(peer) = strong.cfg.ensemble.iter().copied().find(|s| *s != me && server_ip(*s) == from.ip()) else {
            tracing::debug!(%me, %from, "refusing an election connection from outside the ensemble");
            continue;
        };
        let generation = strong.new_connection(peer);
        drop(strong);
        madsim::task::spawn(receive_loop(me, peer, generation, tx, rx, from, inner.clone()));
    }
}

/// Reads one peer's notifications until its connection breaks, is replaced by a newer one, or
/// carries something malformed.
async fn receive_loop(
    me: ServerId,
    peer: ServerId,
    generation: u64,
    tx: ConnSender<Ack>,
    mut rx: ConnReceiver<Notification>,
    from: SocketAddr,
    inner: Weak<Inner>,
) {
    loop {
        let n = match rx.recv().await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%me, %from, error = %e, "election connection closed");
                return;
            }
        };
        let Some(inner) = inner.upgrade() else { return };
        if !inner.is_current_connection(peer, generation) {
            tracing::debug!(%me, %peer, "dropping a replaced election connection");
            return;
        }
        if let Err(why) = inner.validate(&n, from) {
            // Malformed input closes the connection, like a bad frame in QuorumCnxManager.
            tracing::debug!(%me, %from, %why, "dropping election connection");
            return;
        }
        inner.on_notification(n);
        if tx.send(Ack).await.is_err() {
            return;
        }
    }
}

/// The address a server's connections come from.
pub(crate) fn server_ip(server: ServerId) -> std::net::IpAddr {
    net::node_ip(Node::Server(server))
}
