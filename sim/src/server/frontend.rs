//! Client connections: sessions, per-session FIFO request queues, local reads, replies and
//! watch notifications.
//!
//! A session's requests complete in the order sent: writes (and syncs) are forwarded to the
//! leader as soon as nothing but writes precede them, a read waits until every earlier request
//! of its session has completed, and a committed transaction is applied (and its watches fired)
//! before the reply that reflects it is sent.

use crate::proto::{ClientMsg, Refusal, ServerMsg};
use crate::server::config::ServerConfig;
use crate::server::conn::{ConnId, Link};
use crate::server::datatree::DataTree;
use crate::server::watches::WatchManager;
use crate::server::zab::messages::Forward;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use zksim_model::{ErrorCode, Op, OpResult, Outcome, SessionId, Txn, TxnRecord, WatchedEvent, Zxid};

struct Pending {
    xid: u64,
    op: Op,
    forwarded: bool,
}

struct Client {
    link: Link<ServerMsg>,
    session: Option<SessionId>,
}

/// The client side of one server.
pub struct Frontend {
    cfg: ServerConfig,
    conns: BTreeMap<ConnId, Client>,
    by_session: BTreeMap<SessionId, ConnId>,
    queues: BTreeMap<SessionId, VecDeque<Pending>>,
    /// New-session requests forwarded to the leader, by token.
    creating: BTreeMap<u64, ConnId>,
    /// Sessions the leader numbered, waiting for their CreateSession commit.
    assigned: BTreeMap<SessionId, ConnId>,
    /// Reconnects waiting for the leader's revalidation, by token.
    revalidating: BTreeMap<u64, (ConnId, SessionId, u64)>,
    next_token: u64,
    touched: BTreeSet<SessionId>,
    /// Requests for the leader, drained by the role's loop.
    pub outbox: Vec<Forward>,
    pub watches: WatchManager,
}

impl Frontend {
    /// No clients yet.
    pub fn new(cfg: ServerConfig) -> Frontend {
        Frontend {
            cfg,
            conns: BTreeMap::new(),
            by_session: BTreeMap::new(),
            queues: BTreeMap::new(),
            creating: BTreeMap::new(),
            assigned: BTreeMap::new(),
            revalidating: BTreeMap::new(),
            next_token: 0,
            touched: BTreeSet::new(),
            outbox: Vec::new(),
            watches: WatchManager::new(),
        }
    }

    /// Adopts a new connection.
    pub fn accept(&mut self, link: Link<ServerMsg>) {
        self.conns.insert(link.id, Client { link, session: None });
    }

    /// Refuses `link` (not serving) and closes it.
    pub fn refuse(link: Link<ServerMsg>, why: Refusal) {
        link.send(ServerMsg::Refused(why));
        // Dropping the link closes it once the refusal is queued; the writer flushes first
        // only if it runs, so give the refusal its own task.
        madsim::task::spawn_local(async move {
            madsim::time::sleep(std::time::Duration::from_millis(50)).await;
            drop(link);
        });
    }

    /// Drops every connection (the server left the broadcast phase; clients move elsewhere).
    pub fn close_all(&mut self) {
        self.conns.clear();
        self.by_session.clear();
        self.queues.clear();
        self.creating.clear();
        self.assigned.clear();
        self.revalidating.clear();
        self.outbox.clear();
        self.touched.clear();
        self.watches = WatchManager::new();
    }

    /// Forgets a connection the client closed (its session lives on until it expires).
    pub fn gone(&mut self, conn: ConnId) {
        self.close(conn);
    }

    fn close(&mut self, conn: ConnId) {
        drop(self.detach(conn));
    }

    /// Forgets `conn` and everything waiting on it; returns its link (dropping it closes it).
    fn detach(&mut self, conn: ConnId) -> Option<Link<ServerMsg>> {
        let link = self.conns.remove(&conn).map(|c| {
            if let Some(s) = c.session {
                if self.by_session.get(&s) == Some(&conn) {
                    self.by_session.remove(&s);
                    self.queues.remove(&s);
                    self.watches.drop_session(s);
                }
            }
            c.link
        });
        self.creating.retain(|_, c| *c != conn);
        self.assigned.retain(|_, c| *c != conn);
        self.revalidating.retain(|_, (c, _, _)| *c != conn);
        link
    }

    /// Closes `link` once what was queued on it had a chance to go out.
    fn hang_up(link: Link<ServerMsg>) {
        madsim::task::spawn_local(async move {
            madsim::time::sleep(std::time::Duration::from_millis(50)).await;
            drop(link);
        });
    }

    /// Sessions with activity since the last call (the leader renews their deadlines).
    pub fn take_touched(&mut self) -> Vec<SessionId> {
        std::mem::take(&mut self.touched).into_iter().collect()
    }

    /// Handles one client message. `serving` is false while electing or syncing.
    pub fn on_message(&mut self, conn: ConnId, msg: ClientMsg, serving: bool, tree: &DataTree) {
        let Some(client) = self.conns.get(&conn) else { return };
        match (client.session, msg) {
            (None, ClientMsg::Connect { session, last_zxid_seen, timeout_ms }) => {
                let refusal = if !serving {
                    Some(Refusal::NotServing)
                } else if tree.last_zxid() < last_zxid_seen && !self.cfg.bugs.has(zksim_model::Bug::AcceptClientAhead) {
                    // (Planted bug accept-client-ahead skips this check: a lagging server takes
                    // the session and serves it reads older than what the client has seen.)
                    Some(Refusal::Behind { server_zxid: tree.last_zxid(), client_zxid: last_zxid_seen })
                } else if session.is_some_and(|s| !tree.session_open(s)) {
                    Some(Refusal::Expired)
                } else {
                    None
                };
                if let Some(why) = refusal {
                    if let Some(c) = self.conns.remove(&conn) {
                        Frontend::refuse(c.link, why);
                    }
                    return;
                }
                match session {
                    None => {
                        self.next_token += 1;
                        self.creating.insert(self.next_token, conn);
                        self.outbox.push(Forward::CreateSession {
                            token: self.next_token,
                            timeout_ms: self.cfg.negotiate_timeout(timeout_ms),
                        });
                    }
                    Some(s) => {
                        // The leader decides whether the session lives on and makes this
                        // server its owner (ZooKeeper's revalidateSession); the client is
                        // answered when it does.
                        self.next_token += 1;
                        self.revalidating.insert(self.next_token, (conn, s, timeout_ms));
                        self.outbox.push(Forward::Revalidate { token: self.next_token, session: s });
                        if self.cfg.bugs.has(zksim_model::Bug::AcceptClientAhead) {
                            // The planted bug also answers at once from the local session table,
                            // as ZooKeeper's follower effectively does while its CommitProcessor
                            // lags behind what it has received: the client is served before
                            // this server has caught up with what the client has seen. (Without
                            // that, the leader's answer — queued behind every commit on the
                            // in-order link — would hide the missing check.)
                            let me = self.cfg.id;
                            self.revalidated(self.next_token, true, tree, me);
                        }
                    }
                }
            }
            (Some(s), ClientMsg::Ping) => {
                self.touched.insert(s);
                client.link.send(ServerMsg::Pong { zxid: tree.last_zxid() });
            }
            (Some(s), ClientMsg::Request { xid, op }) => {
                self.touched.insert(s);
                let q = self.queues.entry(s).or_default();
                if q.back().is_some_and(|last| xid <= last.xid) {
                    // A client that does not number its requests in order breaks the protocol
                    // (replies are matched by xid): drop the connection.
                    tracing::debug!("session {s} sent xid {xid} out of order; closing its connection");
                    self.close(conn);
                    return;
                }
                q.push_back(Pending { xid, op, forwarded: false });
                self.drain(s, tree);
            }
            (Some(s), ClientMsg::SetWatches { last_zxid, watches }) => {
                self.touched.insert(s);
                for ev in self.watches.set_watches(s, last_zxid, &watches, tree) {
                    client.link.send(ServerMsg::Watch(ev));
                }
            }
            (_, _) => {
                // A protocol violation by the client: drop the connection.
                self.close(conn);
            }
        }
    }

    fn bind(&mut self, conn: ConnId, s: SessionId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = Some(s);
            self.by_session.insert(s, conn);
            self.touched.insert(s);
        }
    }

    /// Answers the reads at the front of `s`'s queue and forwards the writes that only writes
    /// precede.
    fn drain(&mut self, s: SessionId, tree: &DataTree) {
        let Some(conn) = self.by_session.get(&s).copied() else { return };
        let Some(q) = self.queues.get_mut(&s) else { return };
        let mut i = 0;
        while i < q.len() {
            let p = &mut q[i];
            let is_write = p.op.is_write() || matches!(p.op, Op::Sync { .. });
            if is_write {
                if !p.forwarded {
                    p.forwarded = true;
                    self.outbox.push(match &p.op {
                        Op::Sync { .. } => Forward::Sync { session: s, xid: p.xid },
                        op => Forward::Write { session: s, xid: p.xid, op: op.clone() },
                    });
                }
                i += 1;
            } else if i == 0 || self.cfg.bugs.has(zksim_model::Bug::RepliesOutOfOrder) {
                // (Planted bug zk-1863-out-of-order-replies answers a read queued behind
                // forwarded writes at once: its reply overtakes theirs.)
                let p = q.remove(i).expect("read at i exists");
                let outcome = match &p.op {
                    Op::AddWatch { path, mode } => {
                        self.watches.add_watch(s, path, *mode);
                        Outcome::Ok { value: OpResult::Done }
                    }
                    Op::RemoveWatches { path, kind } => match self.watches.remove_watches(s, path, *kind) {
                        Ok(()) => Outcome::Ok { value: OpResult::Done },
                        Err(code) => Outcome::Err { code },
                    },
                    Op::GetEphemerals { prefix } => {
                        Outcome::Ok { value: OpResult::Ephemerals { paths: tree.ephemerals_under(s, prefix) } }
                    }
                    // (Planted bug zk-1392-getacl-unchecked answers getACL unchecked.)
                    Op::GetAcl { path } if self.cfg.bugs.has(zksim_model::Bug::GetAclUnchecked) => {
                        tree.acl_unchecked(path)
                    }
                    op => {
                        let outcome = tree.read(op);
                        self.watches.register_for_read(s, op, &outcome);
                        outcome
                    }
                };
                if let Some(c) = self.conns.get(&conn) {
                    c.link.send(ServerMsg::Reply { xid: p.xid, zxid: tree.last_zxid(), outcome });
                }
            } else {
                break;
            }
        }
    }

    /// Completes the front request of `s`, which must be `xid` (FIFO per session).
    fn complete(&mut self, s: SessionId, xid: Option<u64>, zxid: Zxid, outcome: Outcome, tree: &DataTree) {
        let Some(q) = self.queues.get_mut(&s) else { return };
        let Some(front) = q.front() else { return };
        let matches = match xid {
            Some(x) => front.xid == x,
            None => front.op == Op::CloseSession,
        };
        if !matches {
            assert!(
                xid.is_none_or_absent(q),
                "session {s}: request {xid:?} completed before earlier request {} (FIFO violated)",
                front.xid
            );
            return;
        }
        let p = q.pop_front().expect("front exists");
        if let Some(c) = self.by_session.get(&s).and_then(|c| self.conns.get(c)) {
            c.link.send(ServerMsg::Reply { xid: p.xid, zxid, outcome });
        }
        self.drain(s, tree);
    }

    /// The leader numbered our new-session request `token`.
    pub fn assigned(&mut self, token: u64, session: SessionId) {
        if let Some(conn) = self.creating.remove(&token) {
            self.assigned.insert(session, conn);
        }
    }

    /// The leader answered our revalidation `token`: bind the reconnecting client to its
    /// session (this server now owns it) or tell it the session has expired.
    pub fn revalidated(&mut self, token: u64, valid: bool, tree: &DataTree, me: zksim_model::ServerId) {
        let Some((conn, s, asked_ms)) = self.revalidating.remove(&token) else { return };
        if !valid {
            if let Some(c) = self.conns.remove(&conn) {
                Frontend::refuse(c.link, Refusal::Expired);
            }
            return;
        }
        if let Some(old) = self.by_session.get(&s).copied() {
            if old != conn {
                self.close(old);
            }
        }
        if !self.conns.contains_key(&conn) {
            return;
        }
        let timeout_ms = tree.sessions().iter().find(|(x, _)| *x == s).map_or(asked_ms, |(_, t)| *t);
        self.bind(conn, s);
        if let Some(c) = self.conns.get(&conn) {
            c.link.send(ServerMsg::Connected { session: s, timeout_ms, server: me });
        }
    }

    /// A forwarded request failed at the leader.
    pub fn rejected(&mut self, session: SessionId, xid: u64, code: ErrorCode, tree: &DataTree) {
        self.complete(session, Some(xid), tree.last_zxid(), Outcome::Err { code }, tree);
    }

    /// A forwarded `sync` is complete: everything the leader had committed is applied here.
    pub fn synced(&mut self, session: SessionId, xid: u64, tree: &DataTree) {
        let path = self
            .queues
            .get(&session)
            .and_then(|q| q.front())
            .and_then(|p| match &p.op {
                Op::Sync { path } => Some(path.clone()),
                _ => None,
            })
            .unwrap_or_default();
        self.complete(session, Some(xid), tree.last_zxid(), Outcome::Ok { value: OpResult::Synced { path } }, tree);
    }

    /// Sends watch notifications (before any reply that reflects the txn that fired them).
    pub fn notify(&mut self, events: Vec<(SessionId, WatchedEvent)>) {
        for (s, ev) in events {
            if let Some(c) = self.by_session.get(&s).and_then(|c| self.conns.get(c)) {
                c.link.send(ServerMsg::Watch(ev));
            }
        }
    }

    /// A transaction was applied here: answer whoever is waiting for it.
    pub fn on_commit(&mut self, txn: &TxnRecord, outcome: Outcome, tree: &DataTree, me: zksim_model::ServerId) {
        match &txn.txn {
            Txn::CreateSession { session, timeout_ms } => {
                if let Some(conn) = self.assigned.remove(session) {
                    self.bind(conn, *session);
                    if let Some(c) = self.conns.get(&conn) {
                        c.link.send(ServerMsg::Connected { session: *session, timeout_ms: *timeout_ms, server: me });
                    }
                }
            }
            Txn::Client { session, xid, .. } => self.complete(*session, Some(*xid), txn.zxid, outcome, tree),
            Txn::CloseSession { session, .. } => {
                self.complete(*session, None, txn.zxid, outcome, tree);
                // The session is over: whatever is still queued fails with it, and the
                // connection closes (a client learns of an expiry when it reconnects).
                if let Some(conn) = self.by_session.get(session).copied() {
                    if let Some(q) = self.queues.remove(session) {
                        if let Some(c) = self.conns.get(&conn) {
                            for p in q {
                                let outcome = Outcome::Err { code: ErrorCode::SessionExpired };
                                c.link.send(ServerMsg::Reply { xid: p.xid, zxid: txn.zxid, outcome });
                            }
                        }
                    }
                    if let Some(c) = self.conns.remove(&conn) {
                        Frontend::refuse(c.link, Refusal::Expired);
                    }
                    self.by_session.remove(session);
                    self.watches.drop_session(*session);
                }
            }
            Txn::Error { session, xid, code } => {
                self.complete(*session, Some(*xid), txn.zxid, outcome, tree);
                if *code == ErrorCode::SessionMoved {
                    // A connection-level error, as in ZooKeeper's FinalRequestProcessor: the
                    // session lives on another server now, so this connection is torn down.
                    if let Some(link) = self.by_session.get(session).copied().and_then(|c| self.detach(c)) {
                        Frontend::hang_up(link);
                    }
                }
            }
            Txn::DeleteContainer { .. } | Txn::DeleteTtl { .. } => {}
        }
    }
}

trait AbsentIn {
    fn is_none_or_absent(&self, q: &VecDeque<Pending>) -> bool;
}

impl AbsentIn for Option<u64> {
    /// True when a completion that is not at the front is harmless: it is for a request this
    /// queue does not hold (sent on an earlier connection).
    fn is_none_or_absent(&self, q: &VecDeque<Pending>) -> bool {
        match self {
            None => true,
            Some(x) => !q.iter().any(|p| p.xid == *x),
        }
    }
}
