//! The client library: one [`ZkClient`] is one session with the service, over the simulated
//! network, with ZooKeeper's client behaviour (ClientCnxn) and a typed API for recipes.
//!
//! # Connection management (as ZooKeeper's ClientCnxn)
//! - [`ZkClient::connect`] creates a NEW session: it tries the servers in a seeded-shuffled order
//!   (StaticHostProvider), each attempt bounded by `session_timeout / servers`, until one grants
//!   a session or `connect_deadline_ms` passes.
//! - Read timeout = 2/3 of the negotiated session timeout: that long without any message from
//!   the server ⇒ Disconnected, the connection is closed, and the client tries the next server.
//!   A ping goes out after 1/3 of the session timeout without sending (ZooKeeper: readTimeout/2).
//! - Reconnect: a random pause of up to `reconnect_jitter_ms` before each attempt, a
//!   `spin_delay_ms` pause after each whole fruitless cycle of the list, then
//!   `Connect { session: Some(id), last_zxid_seen }` and, once accepted, `SetWatches` with every
//!   watch still held, then the requests queued meanwhile. `Refused(Behind | NotServing)` ⇒ the
//!   next server; `Refused(Expired)` ⇒ Expired, terminal: the application makes a new client.
//!   The client never decides on its own that the session expired (ZooKeeper does not either):
//!   a partitioned client learns it when it reaches a server again.
//! - `last_zxid_seen` is the maximum zxid of every reply, pong and watch notification (stricter
//!   than ZooKeeper, which ignores pongs and notifications: a server may refuse a client as
//!   Behind a little more often, never less). A zxid lower than the maximum is a server bug: it
//!   is counted in [`ClientStats::zxid_regressions`] and left for the checker, which sees it in
//!   the history; the client keeps the maximum.
//! - Replies must come in xid order. One that does not (a server bug) drops the connection, as
//!   ZooKeeper's client does ("Xid out of order"), and is counted in
//!   [`ClientStats::xid_violations`]; the request the reply names completes with it (the
//!   history shows the overtaking, for the checker's per-session FIFO rule), the other requests
//!   in flight become indeterminate.
//!
//! # Requests and the history
//! Every call is numbered (xids from 1 per session, pipelined) and recorded: `Event::Invoke` when
//! the call is made (at or before sending), `Event::Complete` when its outcome is known:
//! - a reply ⇒ the server's outcome, reply zxid and server;
//! - the connection lost with the request in flight ⇒ `Indeterminate { ConnectionLoss }` (reads
//!   too: they had no effect either way);
//! - a call made while disconnected waits up to `request_wait_ms` for a connection, then
//!   `Err { ConnectionLoss }` (never sent: definitely no effect; the API says ConnectionLoss);
//! - a call on an expired session ⇒ `Err { SessionExpired }`; on a closed client
//!   `Err { SessionExpired }` too (ZooKeeper's code), the API says [`ZkError::Closed`].
//!
//! At the end of a run, [`ZkClient::abandon`] completes what is still pending, and
//! [`complete_unfinished`] closes, from the recorder, the operations of clients that cannot
//! (crashed client nodes).
//!
//! # Watches
//! One-shot watches are armed by `get_data_w`, `exists_w` (data watch on an existing node, exist
//! watch on a missing one), `get_children_w`, only when the request succeeds (a get or children
//! on a missing node arms nothing); persistent ones by [`ZkClient::add_watch`]. Every local waiter
//! on a path and kind fires from the server's one notification. Every notification received is
//! recorded as `Event::Watch`. Watches end with [`ZkError::SessionExpired`] / [`ZkError::Closed`].
//!
//! # Recipes
//! [`ZkError`] separates definite failures (`Api`, `Multi`: no effect) from `ConnectionLoss`
//! (maybe applied) and the end of the session (`SessionExpired`, `Closed`);
//! [`ZkClient::create_protected`] is Curator's protected create on top of that.
//! A `ZkClient` whose handles are all dropped keeps its session alive (pinging), as a leaked
//! ZooKeeper handle does: call `close` or `abandon`.
//!
//! # Session states
//! `Event::Session` records every change (SyncConnected with the server and negotiated timeout,
//! Disconnected with the server lost, Expired, Closed); [`ZkClient::session_events`] streams them
//! to recipes (Disconnected = Curator's SUSPENDED, Expired = LOST).

mod config;
mod error;
mod hosts;
mod session;
mod watch;

pub use config::ClientConfig;
pub use error::{ConnectError, ZkError};
pub use session::ClientStats;
pub use watch::{Watch, WatchResult, WatchStream};

use crate::deadline::Deadline;
use crate::recorder::Recorder;
use crate::rng::SimRng;
use hosts::HostProvider;
use session::{Completion, Core, Handshake, Shared};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use watch::WatchArm;
use zksim_model::{
    Acl, AddWatchMode, CreateMode, Data, ErrorCode, Event, MultiOp, MultiSubResult, Op, OpId, OpResult, Outcome,
    ServerId, SessionId, SessionState, Stat, WatcherKind, Zxid,
};

/// One session with the service. Clones share the session.
#[derive(Clone)]
pub struct ZkClient {
    shared: Arc<Shared>,
}

/// A stream of the session's state changes, from the moment it was asked for.
pub struct SessionEvents {
    rx: mpsc::UnboundedReceiver<SessionState>,
}

impl SessionEvents {
    /// The next state change; `None` after the terminal one (Expired or Closed).
    pub async fn next(&mut self) -> Option<SessionState> {
        self.rx.recv().await
    }
}

impl ZkClient {
    /// Establishes a new session. Randomness (server order, reconnect jitter) comes from `rng`.
    pub async fn connect(cfg: ClientConfig, recorder: Recorder, mut rng: SimRng) -> Result<ZkClient, ConnectError> {
        cfg.validate().map_err(ConnectError::Config)?;
        let mut hosts = HostProvider::new(cfg.servers.clone(), &mut rng);
        let limit = Duration::from_millis((cfg.session_timeout_ms / hosts.len() as u64).max(1));
        let deadline = session::now() + Duration::from_millis(cfg.connect_deadline_ms);
        let mut attempts = 0;
        let mut refusals = 0;
        let mut last_failure = String::from("no attempt");
        let est = loop {
            if session::now() >= deadline {
                return Err(ConnectError::Timeout { attempts, last_failure });
            }
            attempts += 1;
            let (server, spin) = hosts.next();
            if spin {
                madsim::time::sleep(Duration::from_millis(cfg.spin_delay_ms)).await;
            }
            let left = deadline.saturating_duration_since(session::now());
            match session::handshake(server, None, Zxid::ZERO, cfg.session_timeout_ms, limit.min(left)).await {
                Handshake::Connected(est) => break est,
                Handshake::Refused(r) => {
                    refusals += 1;
                    last_failure = format!("{server} refused: {r:?}");
                }
                Handshake::Failed(why) => last_failure = why,
            }
        };
        hosts.on_connected();
        let mut core = Core::new(cfg, recorder, est.session, est.timeout_ms.max(3));
        core.stats.connect_attempts = attempts as u64;
        core.stats.refusals = refusals;
        let shared = Shared::new(core);
        let attached = session::attach(&shared, est);
        let task = madsim::task::spawn(session::run(shared.clone(), attached, hosts, rng));
        shared.set_task(task);
        Ok(ZkClient { shared })
    }

    /// The session id.
    pub fn session_id(&self) -> SessionId {
        self.shared.lock().session
    }

    /// The negotiated session timeout.
    pub fn session_timeout_ms(&self) -> u64 {
        self.shared.lock().timeout_ms
    }

    /// The current state: SyncConnected, Disconnected (reconnecting), Expired or Closed.
    pub fn state(&self) -> SessionState {
        self.shared.lock().state()
    }

    /// The server the session is connected to now.
    pub fn server(&self) -> Option<ServerId> {
        self.shared.lock().server()
    }

    /// The highest zxid the client has seen (sent in Connect on reconnection).
    pub fn last_zxid_seen(&self) -> Zxid {
        self.shared.lock().last_zxid_seen
    }

    /// Counters of connection activity and server misbehaviour.
    pub fn stats(&self) -> ClientStats {
        self.shared.lock().stats
    }

    /// The client this session belongs to.
    pub fn client_id(&self) -> zksim_model::ClientId {
        self.shared.lock().cfg.client
    }

    /// The state changes from now on (for recipes: Disconnected = SUSPENDED, Expired = LOST).
    pub fn session_events(&self) -> SessionEvents {
        SessionEvents { rx: self.shared.lock().listen() }
    }

    /// Records a recipe's note in the history, stamped with this client and session.
    pub fn record_recipe(&self, note: zksim_model::history::RecipeNote) {
        self.shared.lock().record_recipe(note);
    }

    async fn call(&self, op: Op, arm: Option<WatchArm>) -> Completion {
        let (tx, mut rx) = oneshot::channel();
        let wait = {
            let mut core = self.shared.lock();
            core.submit(op, arm, tx);
            Duration::from_millis(core.cfg.request_wait_ms)
        };
        // One timer per wait, however often the calling task is polled (crate::deadline).
        let mut waited = Deadline::after(wait);
        loop {
            tokio::select! {
                // `biased`: fixed polling order, so the schedule depends on the seed alone.
                biased;
                c = &mut rx => return c.expect("every request is completed before it is dropped"),
                // A queued request gives up waiting for a connection here, even while the
                // connection task is busy in a long connection attempt.
                _ = &mut waited => {
                    self.shared.lock().expire_unsent(session::now());
                    waited.reset_after(wait);
                }
            }
        }
    }

    /// Runs any operation and returns its raw outcome (recorded like every call). Watches the
    /// op asks for are registered and tracked (re-set on reconnect) but have no local waiter.
    pub async fn execute(&self, op: Op) -> Outcome {
        let arm = match &op {
            Op::GetData { watch: true, .. } | Op::Exists { watch: true, .. } | Op::GetChildren { watch: true, .. } => {
                Some(WatchArm::OneShot(oneshot::channel().0))
            }
            Op::AddWatch { .. } => Some(WatchArm::Persistent(mpsc::unbounded_channel().0)),
            _ => None,
        };
        self.call(op, arm).await.outcome
    }

    async fn run(&self, op: Op, arm: Option<WatchArm>) -> Result<OpResult, ZkError> {
        let c = self.call(op, arm).await;
        if let Some(e) = c.local_error {
            return Err(e);
        }
        match c.outcome {
            Outcome::Ok { value } => Ok(value),
            Outcome::Err { code } => Err(ZkError::from_code(code)),
            Outcome::MultiErr { code, results } => Err(ZkError::Multi { code, results }),
            Outcome::Indeterminate { .. } => Err(ZkError::ConnectionLoss),
        }
    }

    fn one_shot() -> (Option<WatchArm>, Watch) {
        let (tx, rx) = oneshot::channel();
        (Some(WatchArm::OneShot(tx)), Watch::new(rx))
    }

    /// Creates a node; returns its actual path (with the sequence suffix for sequential modes).
    pub async fn create(&self, path: &str, data: Data, mode: CreateMode) -> Result<String, ZkError> {
        match self.run(Op::Create { path: path.to_string(), data, mode, acl: Acl::open() }, None).await? {
            OpResult::Created { path, .. } => Ok(path),
            other => Err(shape("create", &other)),
        }
    }

    /// Creates a node; returns its actual path and the Stat the service reported. The wire `Op`
    /// has no create2 flag, so the service answers like ZooKeeper 3.8's plain create: no Stat
    /// for plain modes, a Stat for container and TTL modes. Use `exists` when you need it.
    pub async fn create2(&self, path: &str, data: Data, mode: CreateMode) -> Result<(String, Option<Stat>), ZkError> {
        match self.run(Op::Create { path: path.to_string(), data, mode, acl: Acl::open() }, None).await? {
            OpResult::Created { path, stat } => Ok((path, stat)),
            other => Err(shape("create2", &other)),
        }
    }

    /// Curator's protected create: the node's name gets a prefix unique to this session and
    /// call (`_c_<session>-<n>-`), and after a ConnectionLoss the client lists the parent and
    /// adopts its own node (for ephemerals, only one this session owns: CURATOR-498) instead of
    /// creating a second one. Retries until a definite answer or the session is over.
    ///
    /// Known limit (as in Curator): a create still in the service's pipeline when the lookup
    /// runs may commit after it, so the retry can leave a duplicate behind.
    pub async fn create_protected(&self, path: &str, data: Data, mode: CreateMode) -> Result<String, ZkError> {
        self.create_protected_or_moved(path, data, mode, None).await
    }

    /// [`Self::create_protected`] for a node another client may move away as soon as it
    /// exists: after a ConnectionLoss the lookup also lists `moved_to`, where a node keeps its
    /// name when moved (a queue's completion records: a consumer may take the item before the
    /// producer looks for it, and a lookup of the parent alone would enqueue it twice). A node
    /// found there is reported by its original path.
    pub async fn create_protected_or_moved(
        &self,
        path: &str,
        data: Data,
        mode: CreateMode,
        moved_to: Option<&str>,
    ) -> Result<String, ZkError> {
        let Some(slash) = path.rfind('/') else {
            return Err(ZkError::Api(ErrorCode::BadArguments));
        };
        let (parent, name) = (&path[..slash], &path[slash + 1..]);
        let (session, n) = {
            let mut core = self.shared.lock();
            core.next_protected += 1;
            (core.session, core.next_protected)
        };
        let prefix = format!("_c_{:x}-{n}-", session.0);
        let full = format!("{parent}/{prefix}{name}");
        let list_path = if parent.is_empty() { "/" } else { parent };
        loop {
            match self.create(&full, data.clone(), mode).await {
                Err(ZkError::ConnectionLoss) => {}
                other => return other,
            }
            // Did the lost create take effect? Look for our prefix, until a definite answer.
            // Sync first: the lookup may be served by a follower that has not yet applied our
            // create, and would then create a duplicate (found by the queue's no-duplicate check).
            let found = self.find_prefixed(list_path, &prefix).await?;
            if let (None, Some(moved)) = (&found, moved_to) {
                // Listed after the parent: a node moved between the two listings is found here
                // (moved nodes stay moved).
                if let Some(kid) = self.find_prefixed(moved, &prefix).await? {
                    return Ok(format!("{parent}/{kid}"));
                }
            }
            let Some(kid) = found else { continue };
            let candidate = format!("{parent}/{kid}");
            if !mode.is_ephemeral() {
                return Ok(candidate);
            }
            let owned = loop {
                match self.exists(&candidate).await {
                    Ok(stat) => break stat.is_some_and(|s| s.ephemeral_owner == session),
                    Err(ZkError::ConnectionLoss) => continue,
                    Err(e) => return Err(e),
                }
            };
            if owned {
                return Ok(candidate);
            }
            // Deleted meanwhile (or, against the odds, not ours): create again.
        }
    }

    /// The child of `dir` whose name starts with `prefix`, retrying over ConnectionLoss. Syncs
    /// first: the lookup may be served by a follower that has not yet applied our create, and
    /// would then create a duplicate (found by the queue's no-duplicate check).
    async fn find_prefixed(&self, dir: &str, prefix: &str) -> Result<Option<String>, ZkError> {
        loop {
            if let Err(ZkError::ConnectionLoss) = self.sync(dir).await {
                continue;
            }
            match self.get_children(dir).await {
                Ok((kids, _)) => return Ok(kids.into_iter().find(|k| k.starts_with(prefix))),
                Err(ZkError::ConnectionLoss) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Deletes a node at `version` (-1: any).
    pub async fn delete(&self, path: &str, version: i32) -> Result<(), ZkError> {
        match self.run(Op::Delete { path: path.to_string(), version }, None).await? {
            OpResult::Done => Ok(()),
            other => Err(shape("delete", &other)),
        }
    }

    /// Sets a node's data at `version` (-1: any); returns the new Stat.
    pub async fn set_data(&self, path: &str, data: Data, version: i32) -> Result<Stat, ZkError> {
        match self.run(Op::SetData { path: path.to_string(), data, version }, None).await? {
            OpResult::Stat { stat } => Ok(stat),
            other => Err(shape("set_data", &other)),
        }
    }

    /// Reads a node's data and Stat.
    pub async fn get_data(&self, path: &str) -> Result<(Data, Stat), ZkError> {
        match self.run(Op::GetData { path: path.to_string(), watch: false }, None).await? {
            OpResult::GetData { data, stat } => Ok((data, stat)),
            other => Err(shape("get_data", &other)),
        }
    }

    /// Reads a node's data and Stat and sets a data watch (fires on change or delete).
    pub async fn get_data_w(&self, path: &str) -> Result<(Data, Stat, Watch), ZkError> {
        let (arm, w) = Self::one_shot();
        match self.run(Op::GetData { path: path.to_string(), watch: true }, arm).await? {
            OpResult::GetData { data, stat } => Ok((data, stat, w)),
            other => Err(shape("get_data", &other)),
        }
    }

    /// The node's Stat, or `None` when it does not exist.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>, ZkError> {
        match self.run(Op::Exists { path: path.to_string(), watch: false }, None).await? {
            OpResult::Exists { stat } => Ok(stat),
            other => Err(shape("exists", &other)),
        }
    }

    /// Like [`ZkClient::exists`], and sets a watch either way: a data watch on an existing node,
    /// an exist watch (fires on NodeCreated) on a missing one.
    pub async fn exists_w(&self, path: &str) -> Result<(Option<Stat>, Watch), ZkError> {
        let (arm, w) = Self::one_shot();
        match self.run(Op::Exists { path: path.to_string(), watch: true }, arm).await? {
            OpResult::Exists { stat } => Ok((stat, w)),
            other => Err(shape("exists", &other)),
        }
    }

    /// The node's children (sorted, as the server sends them) and its Stat.
    pub async fn get_children(&self, path: &str) -> Result<(Vec<String>, Stat), ZkError> {
        match self.run(Op::GetChildren { path: path.to_string(), watch: false }, None).await? {
            OpResult::Children { children, stat } => Ok((owned_names(&children), stat)),
            other => Err(shape("get_children", &other)),
        }
    }

    /// getEphemerals: this session's own ephemerals whose path starts with `prefix` ("/" or
    /// "": all of them), sorted.
    pub async fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>, ZkError> {
        match self.run(Op::GetEphemerals { prefix: prefix.to_string() }, None).await? {
            OpResult::Ephemerals { paths } => Ok(paths),
            other => Err(shape("get_ephemerals", &other)),
        }
    }

    /// Creates a node with `acl` (ZooKeeper's `create(path, data, acl, mode)`); the other
    /// create calls use the open ACL.
    pub async fn create_with_acl(&self, path: &str, data: Data, mode: CreateMode, acl: Acl) -> Result<String, ZkError> {
        match self.run(Op::Create { path: path.to_string(), data, mode, acl }, None).await? {
            OpResult::Created { path, .. } => Ok(path),
            other => Err(shape("create", &other)),
        }
    }

    /// setACL: replaces the node's ACL if its aversion is `version` (−1: any); the new Stat.
    pub async fn set_acl(&self, path: &str, acl: Acl, version: i32) -> Result<Stat, ZkError> {
        match self.run(Op::SetAcl { path: path.to_string(), acl, version }, None).await? {
            OpResult::Stat { stat } => Ok(stat),
            other => Err(shape("set_acl", &other)),
        }
    }

    /// getACL: the node's ACL and Stat.
    pub async fn get_acl(&self, path: &str) -> Result<(Acl, Stat), ZkError> {
        match self.run(Op::GetAcl { path: path.to_string() }, None).await? {
            OpResult::Acl { acl, stat } => Ok((acl, stat)),
            other => Err(shape("get_acl", &other)),
        }
    }

    /// getAllChildrenNumber: how many nodes lie below `path`, at all depths.
    pub async fn get_all_children_number(&self, path: &str) -> Result<u64, ZkError> {
        match self.run(Op::GetAllChildrenNumber { path: path.to_string() }, None).await? {
            OpResult::ChildrenNumber { number } => Ok(number),
            other => Err(shape("get_all_children_number", &other)),
        }
    }

    /// Like [`ZkClient::get_children`], and sets a child watch.
    pub async fn get_children_w(&self, path: &str) -> Result<(Vec<String>, Stat, Watch), ZkError> {
        let (arm, w) = Self::one_shot();
        match self.run(Op::GetChildren { path: path.to_string(), watch: true }, arm).await? {
            OpResult::Children { children, stat } => Ok((owned_names(&children), stat, w)),
            other => Err(shape("get_children", &other)),
        }
    }

    /// Brings the connected server up to date with the leader (as of the call) for `path`.
    pub async fn sync(&self, path: &str) -> Result<(), ZkError> {
        match self.run(Op::Sync { path: path.to_string() }, None).await? {
            OpResult::Synced { .. } => Ok(()),
            other => Err(shape("sync", &other)),
        }
    }

    /// Runs `ops` as one transaction; a failure is [`ZkError::Multi`] with per-op codes.
    pub async fn multi(&self, ops: Vec<MultiOp>) -> Result<Vec<MultiSubResult>, ZkError> {
        match self.run(Op::Multi { ops }, None).await? {
            OpResult::Multi { results } => Ok(results),
            other => Err(shape("multi", &other)),
        }
    }

    /// Adds a persistent (or persistent-recursive) watch; its events come on the stream.
    pub async fn add_watch(&self, path: &str, mode: AddWatchMode) -> Result<WatchStream, ZkError> {
        let (tx, rx) = mpsc::unbounded_channel();
        match self.run(Op::AddWatch { path: path.to_string(), mode }, Some(WatchArm::Persistent(tx))).await? {
            OpResult::Done => Ok(WatchStream::new(rx)),
            other => Err(shape("add_watch", &other)),
        }
    }

    /// Removes this session's watches of `kind` on `path`, on the server and locally (local
    /// waiters resolve to [`ZkError::WatchRemoved`]).
    pub async fn remove_watches(&self, path: &str, kind: WatcherKind) -> Result<(), ZkError> {
        match self.run(Op::RemoveWatches { path: path.to_string(), kind }, None).await? {
            OpResult::Done => Ok(()),
            other => Err(shape("remove_watches", &other)),
        }
    }

    /// Closes the session (a transaction: its ephemerals go with it), then the client. Whatever
    /// the answer (ConnectionLoss included: the session then expires on its own), the client is
    /// closed afterwards and `Event::Session { Closed }` is recorded.
    pub async fn close(&self) -> Result<(), ZkError> {
        if self.shared.lock().is_over() {
            return Err(ZkError::Closed);
        }
        let result = self.run(Op::CloseSession, None).await;
        self.shared.stop_task();
        self.shared.lock().on_closed(true);
        match result {
            Ok(OpResult::Done) => Ok(()),
            Ok(other) => Err(shape("close", &other)),
            Err(e) => Err(e),
        }
    }

    /// Stops the client without closing the session (the end of a run, or a client process
    /// that simply goes away): requests in flight complete as indeterminate, queued ones as
    /// never sent, and the history has a completion for every invocation of this client.
    pub fn abandon(&self) {
        self.shared.stop_task();
        self.shared.lock().on_closed(false);
    }
}

/// Child names as the recipes use them. The reply shares its names with the server's tree and
/// the history; the caller gets its own.
fn owned_names(names: &[Arc<str>]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn shape(what: &str, got: &OpResult) -> ZkError {
    ZkError::Protocol(format!("{what} answered with {got:?}"))
}

/// Completes, as `Indeterminate { ConnectionLoss }` with no reply, every invocation in the
/// recorder that has no completion (operations of crashed client processes, or of clients not
/// abandoned when the run ended), so the checker sees none dangling. Returns how many. Call it
/// from the driver before it returns (it stamps simulated time).
pub fn complete_unfinished(recorder: &Recorder) -> usize {
    let open = recorder.inspect(|records| {
        // Op ids are the recorder's dense counter (1, 2, ...), each recorded by its Invoke, so
        // none exceeds the number of records: a flag per id instead of a set.
        let mut open = vec![false; records.len() + 1];
        for r in records {
            match r.event {
                Event::Invoke { op_id, .. } | Event::Complete { op_id, .. } => {
                    let slot = usize::try_from(op_id.0).ok().and_then(|i| open.get_mut(i));
                    let slot = slot.unwrap_or_else(|| panic!("op id {op_id:?} was not issued by this recorder"));
                    let invoke = matches!(r.event, Event::Invoke { .. });
                    assert!(
                        *slot != invoke,
                        "op id {op_id:?} {}",
                        if invoke { "invoked twice" } else { "completed without an open invocation" }
                    );
                    *slot = invoke;
                }
                _ => {}
            }
        }
        open.iter().enumerate().filter(|(_, o)| **o).map(|(i, _)| OpId(i as u64)).collect::<Vec<_>>()
    });
    for op_id in &open {
        recorder.record(Event::Complete {
            op_id: *op_id,
            outcome: Outcome::Indeterminate { reason: ErrorCode::ConnectionLoss },
            zxid: None,
            server: None,
        });
    }
    open.len()
}
