//! The connection machinery of one session (ZooKeeper's ClientCnxn): the shared state of the
//! session (requests in flight and queued, watches, last zxid seen, connection state) and the
//! connection task that connects, pings, detects silence and reconnects.
//!
//! All state changes happen synchronously under one lock, in the client's own simulated process,
//! so the connection task may be aborted at any await point without leaving a request half-done.
//! Every request is completed exactly once, through [`Core::complete`], which records it.

use super::config::ClientConfig;
use super::error::ZkError;
use super::hosts::HostProvider;
use super::watch::{OneShotKind, WatchArm, WatchTable};
use crate::deadline::Deadline;
use crate::net::{self, ConnReceiver, ConnSender, CLIENT_PORT};
use crate::proto::{ClientMsg, Refusal, ServerMsg};
use crate::recorder::Recorder;
use crate::rng::SimRng;
use madsim::task::JoinHandle;
use madsim::time::{Duration, Instant};
use rand::Rng;
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, oneshot};
use zksim_model::{
    ClientId, ErrorCode, Event, Op, OpId, OpResult, Outcome, ServerId, SessionId, SessionState, WatchedEvent, Zxid,
};

/// The simulated clock.
pub(crate) fn now() -> Instant {
    madsim::time::TimeHandle::current_now_instant()
}

/// How a request ended, as the API layer turns it into a result.
pub(crate) struct Completion {
    pub(crate) outcome: Outcome,
    /// Set when the client itself failed the request and the API should report this error
    /// rather than the one derived from `outcome` (e.g. [`ZkError::Closed`]).
    pub(crate) local_error: Option<ZkError>,
}

/// A request between the application's call and its completion.
pub(crate) struct Pending {
    op_id: OpId,
    xid: u64,
    op: Op,
    arm: Option<WatchArm>,
    reply: oneshot::Sender<Completion>,
    /// When it gives up waiting for a connection (only while unsent).
    deadline: Instant,
}

/// Counters, for tests and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Connection attempts (TCP connect + Connect message), successful or not.
    pub connect_attempts: u64,
    /// Successful (re)connections, the first one included.
    pub connects: u64,
    pub disconnects: u64,
    pub pings_sent: u64,
    pub pongs: u64,
    /// Application calls.
    pub requests: u64,
    /// Watch notifications received from servers.
    pub watch_events: u64,
    /// Refusals by servers (Behind, NotServing) that sent the client on to another one.
    pub refusals: u64,
    /// Replies that came out of xid order or with nothing in flight (server bugs): each one
    /// dropped the connection, as ZooKeeper's client does.
    pub xid_violations: u64,
    /// Reply, pong or watch zxids lower than the last one seen (server bugs; the checker judges
    /// them from the history, the client keeps the maximum).
    pub zxid_regressions: u64,
    /// Other unexpected messages (a second Connected, a reconnect answered with another session).
    pub protocol_violations: u64,
}

enum Conn {
    /// Between connections (or before the first): requests queue in `unsent`.
    Connecting,
    Connected {
        server: ServerId,
        out: ConnSender<ClientMsg>,
    },
    /// Terminal: the service expired the session.
    Expired,
    /// Terminal: the application closed or abandoned the client.
    Closed,
}

/// The state of one session, shared by the application's handles and the connection task.
pub(crate) struct Core {
    pub(crate) cfg: ClientConfig,
    recorder: Recorder,
    pub(crate) session: SessionId,
    /// The negotiated session timeout.
    pub(crate) timeout_ms: u64,
    conn: Conn,
    /// Set once `close` has sent CloseSession: no new request is accepted.
    closing: bool,
    next_xid: u64,
    unsent: VecDeque<Pending>,
    inflight: VecDeque<Pending>,
    pub(crate) watches: WatchTable,
    pub(crate) last_zxid_seen: Zxid,
    last_send: Instant,
    listeners: Vec<mpsc::UnboundedSender<SessionState>>,
    pub(crate) stats: ClientStats,
    /// Numbers protected creates, to make each one's name prefix unique within the session.
    pub(crate) next_protected: u64,
}

impl Core {
    pub(crate) fn new(cfg: ClientConfig, recorder: Recorder, session: SessionId, timeout_ms: u64) -> Core {
        assert!(session != SessionId(0), "session id 0 never names a session");
        Core {
            cfg,
            recorder,
            session,
            timeout_ms,
            conn: Conn::Connecting,
            closing: false,
            next_xid: 0,
            unsent: VecDeque::new(),
            inflight: VecDeque::new(),
            watches: WatchTable::default(),
            last_zxid_seen: Zxid::ZERO,
            last_send: now(),
            listeners: Vec::new(),
            stats: ClientStats::default(),
            next_protected: 0,
        }
    }

    fn client(&self) -> ClientId {
        self.cfg.client
    }

    /// ZooKeeper's readTimeout: two thirds of the negotiated session timeout.
    pub(crate) fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms * 2 / 3)
    }

    /// Ping after this much send-idleness: half the read timeout (a third of the session timeout).
    pub(crate) fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.timeout_ms / 3)
    }

    /// ZooKeeper's connectTimeout: the session timeout shared among the servers.
    pub(crate) fn connect_timeout(&self, servers: usize) -> Duration {
        Duration::from_millis((self.timeout_ms / servers.max(1) as u64).max(1))
    }

    /// The application's current view of the connection.
    pub(crate) fn state(&self) -> SessionState {
        match self.conn {
            Conn::Connecting => SessionState::Disconnected,
            Conn::Connected { .. } => SessionState::SyncConnected,
            Conn::Expired => SessionState::Expired,
            Conn::Closed => SessionState::Closed,
        }
    }

    /// The server the session is connected to now.
    pub(crate) fn server(&self) -> Option<ServerId> {
        match &self.conn {
            Conn::Connected { server, .. } => Some(*server),
            _ => None,
        }
    }

    /// True once the session is over (expired or closed): the connection task stops.
    pub(crate) fn is_over(&self) -> bool {
        matches!(self.conn, Conn::Expired | Conn::Closed)
    }

    /// A new listener for state changes.
    pub(crate) fn listen(&mut self) -> mpsc::UnboundedReceiver<SessionState> {
        let (tx, rx) = mpsc::unbounded_channel();
        if self.is_over() {
            let _ = tx.send(self.state());
        } else {
            self.listeners.push(tx);
        }
        rx
    }

    /// Records a recipe's note, stamped with this client and session.
    pub(crate) fn record_recipe(&mut self, note: zksim_model::history::RecipeNote) {
        self.recorder.record(Event::Recipe { client: self.client(), session: self.session, note });
    }

    fn record_state(&mut self, state: SessionState, server: Option<ServerId>) {
        let timeout_ms = (state == SessionState::SyncConnected).then_some(self.timeout_ms);
        self.recorder.record(Event::Session {
            client: self.client(),
            session: self.session,
            state,
            server,
            timeout_ms,
        });
        self.listeners.retain(|l| l.send(state).is_ok());
    }

    /// Takes an application call: numbers it, records its invocation, and sends it, queues it,
    /// or fails it at once when the session is over.
    pub(crate) fn submit(&mut self, op: Op, arm: Option<WatchArm>, reply: oneshot::Sender<Completion>) {
        self.next_xid += 1;
        let xid = self.next_xid;
        let op_id = self.recorder.next_op_id();
        self.stats.requests += 1;
        // Recorded when the call is made, which is at or before the moment it is sent: the
        // checker's invocation-to-completion interval can only grow, never exclude the effect.
        self.recorder.record(Event::Invoke {
            op_id,
            client: self.client(),
            session: self.session,
            xid,
            op: op.clone(),
        });
        let deadline = now() + Duration::from_millis(self.cfg.request_wait_ms);
        let is_close = op == Op::CloseSession;
        let p = Pending { op_id, xid, op, arm, reply, deadline };
        match &self.conn {
            Conn::Expired => {
                self.complete_unsent(p, ErrorCode::SessionExpired, ZkError::SessionExpired);
            }
            Conn::Closed => self.complete_unsent(p, ErrorCode::SessionExpired, ZkError::Closed),
            _ if self.closing => self.complete_unsent(p, ErrorCode::SessionExpired, ZkError::Closed),
            Conn::Connected { .. } => self.transmit(p),
            Conn::Connecting => self.unsent.push_back(p),
        }
        if is_close {
            // As ZooKeeper's queuePacket: once closeSession is queued the client is closing, and
            // the server dropping the connection after answering it is no Disconnected.
            self.closing = true;
        }
    }

    fn transmit(&mut self, mut p: Pending) {
        if let Some(last) = self.inflight.back() {
            assert!(last.xid < p.xid, "requests go out in xid order: {} then {}", last.xid, p.xid);
        }
        // After sending, [`Core::complete`] looks at the op only to arm a watch or to drop
        // removed watches; any other op moves into the message instead of being copied (a
        // create's data, a multi's sub-ops), leaving a data-less placeholder behind.
        let op = if p.arm.is_some() || matches!(p.op, Op::RemoveWatches { .. }) {
            p.op.clone()
        } else {
            std::mem::replace(&mut p.op, Op::CloseSession)
        };
        self.send(ClientMsg::Request { xid: p.xid, op });
        self.inflight.push_back(p);
    }

    /// Queues `msg` on the current connection (if any) and restarts the ping timer.
    pub(crate) fn send(&mut self, msg: ClientMsg) {
        if let Conn::Connected { out, .. } = &self.conn {
            // A failed send means the connection broke; the connection task's receive sees it
            // too, and the session completes what is in flight.
            let _ = out.send_now(msg);
            self.last_send = now();
        }
    }

    /// When the connection task should next ping.
    pub(crate) fn ping_due(&self) -> Instant {
        self.last_send + self.ping_interval()
    }

    /// Fails the queued requests whose wait for a connection is over. They were never sent, so
    /// they definitely had no effect; the application sees ConnectionLoss, as in ZooKeeper.
    pub(crate) fn expire_unsent(&mut self, at: Instant) {
        let mut keep = VecDeque::with_capacity(self.unsent.len());
        for p in std::mem::take(&mut self.unsent) {
            if p.deadline <= at {
                self.complete_unsent(p, ErrorCode::ConnectionLoss, ZkError::ConnectionLoss);
            } else {
                keep.push_back(p);
            }
        }
        self.unsent = keep;
    }

    fn complete_unsent(&mut self, p: Pending, code: ErrorCode, err: ZkError) {
        self.complete(p, Outcome::Err { code }, None, None, Some(err));
    }

    /// Records the completion, arms the watch the server confirmed, and wakes the caller.
    fn complete(
        &mut self,
        p: Pending,
        outcome: Outcome,
        zxid: Option<Zxid>,
        server: Option<ServerId>,
        local_error: Option<ZkError>,
    ) {
        self.recorder.record(Event::Complete { op_id: p.op_id, outcome: outcome.clone(), zxid, server });
        if let (Outcome::Ok { value }, Some(arm)) = (&outcome, p.arm) {
            self.arm(&p.op, value, arm);
        }
        if let (Outcome::Ok { .. }, Op::RemoveWatches { path, kind }) = (&outcome, &p.op) {
            self.watches.remove(path, *kind);
        }
        // The caller may have stopped waiting (dropped its future): the history has it anyway.
        let _ = p.reply.send(Completion { outcome, local_error });
    }

    /// Arms the local half of the watch a successful request registered on the server.
    fn arm(&mut self, op: &Op, value: &OpResult, arm: WatchArm) {
        match (op, value, arm) {
            (Op::GetData { path, watch: true }, _, WatchArm::OneShot(tx)) => {
                self.watches.add_one_shot(OneShotKind::Data, path, tx)
            }
            (Op::Exists { path, watch: true }, OpResult::Exists { stat }, WatchArm::OneShot(tx)) => {
                // exists on a missing node arms an exist watch (fires on NodeCreated).
                let kind = if stat.is_some() { OneShotKind::Data } else { OneShotKind::Exist };
                self.watches.add_one_shot(kind, path, tx)
            }
            (Op::GetChildren { path, watch: true }, _, WatchArm::OneShot(tx)) => {
                self.watches.add_one_shot(OneShotKind::Child, path, tx)
            }
            (Op::AddWatch { path, mode }, _, WatchArm::Persistent(tx)) => self.watches.add_persistent(*mode, path, tx),
            // The API layer pairs arms with ops; a mismatch (or a result of the wrong shape,
            // which the API reports as a protocol error) arms nothing.
            _ => {}
        }
    }

    fn see_zxid(&mut self, zxid: Zxid) {
        if zxid < self.last_zxid_seen {
            self.stats.zxid_regressions += 1;
            tracing::warn!(client = %self.client(), %zxid, seen = %self.last_zxid_seen, "zxid went backwards");
        } else {
            self.last_zxid_seen = zxid;
        }
    }

    /// The connection to `server` is established: flush what waited for it.
    pub(crate) fn on_connected(&mut self, server: ServerId, out: ConnSender<ClientMsg>) {
        assert!(matches!(self.conn, Conn::Connecting), "connected while not connecting");
        assert!(self.inflight.is_empty(), "requests in flight while disconnected");
        self.conn = Conn::Connected { server, out };
        self.stats.connects += 1;
        self.record_state(SessionState::SyncConnected, Some(server));
        // Watches first, as ZooKeeper's primeConnection does, so the server knows them before
        // it serves any queued request.
        if !self.watches.is_empty() {
            let watches = self.watches.to_set();
            self.send(ClientMsg::SetWatches { last_zxid: self.last_zxid_seen, watches });
        }
        for p in std::mem::take(&mut self.unsent) {
            self.transmit(p);
        }
        self.last_send = now();
    }

    /// A message from the connected server. An error means the connection must be dropped.
    pub(crate) fn on_message(&mut self, server: ServerId, msg: ServerMsg) -> Result<(), Hangup> {
        if self.is_over() {
            // Closed or abandoned under a connection task that has not been dropped yet.
            return Err(Hangup::Violation("the session is over".into()));
        }
        assert_eq!(self.server(), Some(server), "a message from a connection that is not the current one");
        match msg {
            ServerMsg::Reply { xid, zxid, outcome } => {
                let Some(front) = self.inflight.pop_front() else {
                    self.stats.xid_violations += 1;
                    return Err(Hangup::Violation(format!("reply for xid {xid} with nothing in flight")));
                };
                if front.xid != xid {
                    // ZooKeeper's client treats this as a broken connection ("Xid out of order").
                    let expected = front.xid;
                    self.inflight.push_front(front);
                    self.stats.xid_violations += 1;
                    // The server did answer that later request: record the answer, so the
                    // history shows the reply overtaking the earlier requests (which become
                    // indeterminate with the connection) and the checker can judge it.
                    if let Some(at) = self.inflight.iter().position(|p| p.xid == xid) {
                        let named = self.inflight.remove(at).expect("position is in range");
                        self.see_zxid(zxid);
                        self.complete(named, outcome, Some(zxid), Some(server), None);
                    }
                    return Err(Hangup::Violation(format!(
                        "reply for xid {xid} while xid {expected} was first in flight"
                    )));
                }
                if outcome == (Outcome::Err { code: ErrorCode::SessionMoved }) {
                    // A connection-level error, as ZooKeeper's server treats it: the session
                    // lives on another server now. Drop this connection; what was in flight on
                    // it (this request included) is indeterminate to the application.
                    self.inflight.push_front(front);
                    return Err(Hangup::SessionMoved(format!("session moved away from {server} (xid {xid} refused)")));
                }
                self.see_zxid(zxid);
                self.complete(front, outcome, Some(zxid), Some(server), None);
                Ok(())
            }
            ServerMsg::Watch(event) => {
                self.stats.watch_events += 1;
                self.see_zxid(event.zxid);
                self.deliver(event);
                Ok(())
            }
            ServerMsg::Pong { zxid } => {
                self.stats.pongs += 1;
                self.see_zxid(zxid);
                Ok(())
            }
            ServerMsg::Connected { .. } | ServerMsg::Refused(_) => {
                self.stats.protocol_violations += 1;
                Err(Hangup::Violation(format!("unexpected {msg:?} on an established connection")))
            }
        }
    }

    /// Records a notification and wakes its local waiters. Every notification the server sends
    /// is recorded, even one no local waiter is left for.
    fn deliver(&mut self, event: WatchedEvent) {
        // Waking the waiters records nothing (they run later), so the event is recorded after
        // it is fired, moved rather than copied.
        self.watches.fire(&event);
        self.recorder.record(Event::Watch { client: self.client(), session: self.session, event });
    }

    /// The connection broke or went silent: what was in flight may or may not have happened.
    pub(crate) fn on_disconnected(&mut self, why: &str) {
        let Conn::Connected { server, .. } = self.conn else {
            panic!("disconnected while not connected");
        };
        tracing::debug!(client = %self.client(), session = %self.session, %server, why, "disconnected");
        self.conn = Conn::Connecting;
        self.stats.disconnects += 1;
        self.record_state(SessionState::Disconnected, Some(server));
        self.fail_inflight();
    }

    /// The connection went away while closing: no reconnection, no Disconnected.
    pub(crate) fn on_lost_while_closing(&mut self) {
        assert!(self.closing, "only a closing client stops on connection loss");
        self.conn = Conn::Connecting;
        self.fail_inflight();
    }

    fn fail_inflight(&mut self) {
        for p in std::mem::take(&mut self.inflight) {
            self.complete(p, Outcome::Indeterminate { reason: ErrorCode::ConnectionLoss }, None, None, None);
        }
    }

    /// The service says the session is gone: terminal.
    pub(crate) fn on_expired(&mut self, server: ServerId) {
        self.end(Conn::Expired, Some(server), true);
    }

    /// The application closed the client (`record`: the session was closed, as opposed to the
    /// client abandoned at the end of a run, where the session lives on in the service).
    pub(crate) fn on_closed(&mut self, record: bool) {
        let server = self.server();
        self.end(Conn::Closed, server, record);
    }

    fn end(&mut self, to: Conn, server: Option<ServerId>, record: bool) {
        if self.is_over() {
            return;
        }
        if let Conn::Connected { server, .. } = self.conn {
            // The connection closes under in-flight requests.
            tracing::debug!(client = %self.client(), %server, "connection closed at session end");
            self.conn = Conn::Connecting;
            self.fail_inflight();
            if !record {
                // Abandoned: the session lives on in the service, without this client. The
                // history says the client is gone from its server, or a checker would take the
                // session's later expiry for one of a client that stayed connected.
                self.record_state(SessionState::Disconnected, Some(server));
            }
        }
        let (state, err, code) = match to {
            Conn::Expired => (SessionState::Expired, ZkError::SessionExpired, ErrorCode::SessionExpired),
            Conn::Closed => (SessionState::Closed, ZkError::Closed, ErrorCode::ConnectionLoss),
            _ => unreachable!("end() takes a terminal state"),
        };
        self.conn = to;
        if record {
            self.record_state(state, server);
        } else {
            self.listeners.retain(|l| l.send(state).is_ok());
        }
        self.listeners.clear();
        for p in std::mem::take(&mut self.unsent) {
            self.complete_unsent(p, code, err.clone());
        }
        self.watches.end_all(err);
    }
}

/// Why a message makes the client drop its connection.
#[derive(Debug)]
pub(crate) enum Hangup {
    /// The server broke the protocol (a bug the stats count).
    Violation(String),
    /// The server refused a request with SessionMoved: the session lives elsewhere now.
    SessionMoved(String),
}

/// A connection that completed its handshake.
pub(crate) struct Established {
    pub(crate) server: ServerId,
    pub(crate) session: SessionId,
    pub(crate) timeout_ms: u64,
    pub(crate) tx: ConnSender<ClientMsg>,
    pub(crate) rx: ConnReceiver<ServerMsg>,
}

/// How one connection attempt ended.
pub(crate) enum Handshake {
    Connected(Established),
    Refused(Refusal),
    Failed(String),
}

/// One connection attempt: TCP connect, Connect, and the answer, within `limit`.
pub(crate) async fn handshake(
    server: ServerId,
    session: Option<SessionId>,
    last_zxid_seen: Zxid,
    timeout_ms: u64,
    limit: Duration,
) -> Handshake {
    let attempt = async {
        let (tx, mut rx) = net::connect::<ClientMsg, ServerMsg>(net::server_addr(server, CLIENT_PORT)).await?;
        tx.send(ClientMsg::Connect { session, last_zxid_seen, timeout_ms }).await?;
        let answer = rx.recv().await?;
        Ok::<_, io::Error>((tx, rx, answer))
    };
    match madsim::time::timeout(limit, attempt).await {
        Err(_) => Handshake::Failed(format!("no answer from {server} within {limit:?}")),
        Ok(Err(e)) => Handshake::Failed(format!("connecting to {server}: {e}")),
        Ok(Ok((tx, rx, ServerMsg::Connected { session: s, timeout_ms, server: answered }))) => {
            if answered != server {
                tracing::warn!(%server, %answered, "server answered with another id");
            }
            if s == SessionId(0) {
                return Handshake::Failed(format!("{server} granted session id 0"));
            }
            Handshake::Connected(Established { server, session: s, timeout_ms, tx, rx })
        }
        Ok(Ok((_, _, ServerMsg::Refused(r)))) => Handshake::Refused(r),
        Ok(Ok((_, _, other))) => Handshake::Failed(format!("{server} answered Connect with {other:?}")),
    }
}

/// What the application's handles and the connection task share.
pub(crate) struct Shared {
    core: Mutex<Core>,
    /// The connection task, aborted by `close` and `abandon`.
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    pub(crate) fn new(core: Core) -> Arc<Shared> {
        Arc::new(Shared { core: Mutex::new(core), task: Mutex::new(None) })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_task(&self, task: JoinHandle<()>) {
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    /// Stops the connection task (and, through its guard, its reader and writer).
    pub(crate) fn stop_task(&self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
    }
}

/// A connection installed as the session's current one: the receiving half, served by the
/// connection task. The sending half is the session core's (`Conn::Connected`), dropped when
/// the core leaves that state; the server sees the connection go.
pub(crate) struct Attached {
    server: ServerId,
    rx: ConnReceiver<ServerMsg>,
}

/// Installs an established connection, then flushes watches and queued requests onto it
/// (synchronously, so `connect` returns a connected client).
pub(crate) fn attach(shared: &Arc<Shared>, est: Established) -> Attached {
    let Established { server, tx, rx, .. } = est;
    shared.lock().on_connected(server, tx);
    Attached { server, rx }
}

/// The connection task: serves the attached connection, then reconnects until the session is
/// over.
pub(crate) async fn run(shared: Arc<Shared>, first: Attached, mut hosts: HostProvider, mut rng: SimRng) {
    let mut next = Some(first);
    loop {
        let attached = match next.take() {
            Some(a) => a,
            None => match reconnect(&shared, &mut hosts, &mut rng).await {
                Some(e) => attach(&shared, e),
                None => return,
            },
        };
        let why = serve(&shared, attached).await;
        let mut core = shared.lock();
        if core.is_over() {
            return;
        }
        if core.closing {
            // `close` finishes the job; what was in flight (closeSession itself) is unknown.
            core.on_lost_while_closing();
            return;
        }
        core.on_disconnected(&why);
    }
}

/// Serves one connection until it breaks or goes silent; returns why.
async fn serve(shared: &Arc<Shared>, attached: Attached) -> String {
    let Attached { server, mut rx } = attached;
    let read_timeout = shared.lock().read_timeout();
    let mut last_recv = now();
    // Kept across iterations: one timer per deadline, not one per message (crate::deadline).
    let mut silent = Deadline::at(last_recv + read_timeout);
    let mut ping = Deadline::never();
    loop {
        silent.reset(last_recv + read_timeout);
        ping.reset(shared.lock().ping_due());
        tokio::select! {
            biased;
            // Cancel-safe: a message is taken off the connection only when it is returned.
            msg = rx.recv() => match msg {
                Ok(msg) => {
                    last_recv = now();
                    match shared.lock().on_message(server, msg) {
                        Ok(()) => {}
                        Err(Hangup::SessionMoved(why)) => return why,
                        Err(Hangup::Violation(why)) => {
                            tracing::error!(%server, why, "server protocol violation; dropping the connection");
                            return why;
                        }
                    }
                }
                Err(e) => return format!("connection to {server} broke: {e}"),
            },
            _ = &mut silent => {
                return format!("nothing from {server} for {read_timeout:?}");
            }
            _ = &mut ping => {
                let mut core = shared.lock();
                if now() >= core.ping_due() {
                    core.stats.pings_sent += 1;
                    core.send(ClientMsg::Ping);
                }
            }
        }
    }
}

/// Tries servers until one takes the session back; `None` when the session is over.
async fn reconnect(shared: &Arc<Shared>, hosts: &mut HostProvider, rng: &mut SimRng) -> Option<Established> {
    loop {
        let (session, last_zxid, timeout_ms, jitter, spin_delay, limit) = {
            let mut core = shared.lock();
            if core.is_over() {
                return None;
            }
            core.expire_unsent(now());
            core.stats.connect_attempts += 1;
            (
                core.session,
                core.last_zxid_seen,
                core.timeout_ms,
                core.cfg.reconnect_jitter_ms,
                core.cfg.spin_delay_ms,
                core.connect_timeout(hosts.len()),
            )
        };
        let (server, spin) = hosts.next();
        if spin {
            madsim::time::sleep(Duration::from_millis(spin_delay)).await;
        }
        // ZooKeeper pauses a random while before every reconnect, to spread a herd.
        madsim::time::sleep(Duration::from_millis(rng.gen_range(0..=jitter))).await;
        shared.lock().expire_unsent(now());
        match handshake(server, Some(session), last_zxid, timeout_ms, limit).await {
            Handshake::Connected(est) => {
                if est.session != session {
                    shared.lock().stats.protocol_violations += 1;
                    tracing::error!(%server, asked = %session, got = %est.session, "reconnect answered with another session");
                    continue;
                }
                hosts.on_connected();
                let mut core = shared.lock();
                if core.is_over() {
                    return None;
                }
                // The server's negotiated timeout applies from now on.
                core.timeout_ms = est.timeout_ms.max(3);
                return Some(est);
            }
            Handshake::Refused(Refusal::Expired) => {
                shared.lock().on_expired(server);
                return None;
            }
            Handshake::Refused(r) => {
                shared.lock().stats.refusals += 1;
                tracing::debug!(%server, refusal = ?r, "refused; trying the next server");
            }
            Handshake::Failed(why) => tracing::debug!(%server, why, "connection attempt failed"),
        }
    }
}
