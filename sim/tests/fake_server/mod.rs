//! TEST-ONLY FAKE SERVER — scaffolding for the client library's tests, never used by the harness.
//!
//! It speaks `proto.rs` over `net` like a real server, but it is NOT the service: its "servers"
//! share one in-memory tree through an `Arc<Mutex<_>>` (no replication, no log, no disk, no
//! election), which is exactly what the house rules forbid for real processes. It implements
//! just enough ZooKeeper semantics for the client's tests: sessions (created, reconnected,
//! expired on silence or on demand, closed), create/delete/set/get/exists/children/sync, one-shot
//! data/exist/child watches, persistent watches, SetWatches catch-up, pings.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;
use zksim_model::{
    Acl, AddWatchMode, Data, ErrorCode, EventType, MultiOp, MultiSubResult, Op, OpResult, Outcome, ServerId, SessionId,
    Stat, WatchedEvent, WatcherKind, Zxid,
};
use zksim_sim::net::{ConnReceiver, ConnSender, Listener, CLIENT_PORT};
use zksim_sim::proto::{ClientMsg, Refusal, ServerMsg, WatchSet};

#[derive(Default)]
struct SessionInfo {
    timeout_ms: u64,
    over: bool,
    /// The connection currently serving the session: (connection id, outbox).
    conn: Option<(u64, mpsc::UnboundedSender<ServerMsg>)>,
    data_watches: BTreeSet<String>,
    child_watches: BTreeSet<String>,
    persistent: BTreeSet<String>,
    recursive: BTreeSet<String>,
}

#[derive(Default)]
struct Tree {
    zxid: u64,
    nodes: BTreeMap<String, (Data, Stat)>,
    sessions: BTreeMap<SessionId, SessionInfo>,
    next_session: u64,
    next_conn: u64,
    /// Test knobs.
    drop_replies_for: BTreeSet<String>,
    refusals: BTreeMap<ServerId, Refusal>,
    reorder_next_replies: bool,
    held_reply: Option<ServerMsg>,
}

/// The shared state of all fake servers of one test world.
#[derive(Clone)]
pub struct FakeEnsemble {
    tree: Arc<Mutex<Tree>>,
}

impl FakeEnsemble {
    pub fn new() -> FakeEnsemble {
        let mut tree = Tree::default();
        tree.nodes.insert("/".into(), (Data::null(), Stat::default()));
        FakeEnsemble { tree: Arc::new(Mutex::new(tree)) }
    }

    fn lock(&self) -> MutexGuard<'_, Tree> {
        self.tree.lock().unwrap()
    }

    /// Expires `session` now: its ephemerals go, its connection is closed.
    pub fn expire(&self, session: SessionId) {
        let mut t = self.lock();
        end_session(&mut t, session);
    }

    /// Sessions created so far.
    pub fn sessions_created(&self) -> u64 {
        self.lock().next_session
    }

    /// Whether the session is still alive.
    pub fn session_alive(&self, session: SessionId) -> bool {
        self.lock().sessions.get(&session).is_some_and(|s| !s.over)
    }

    /// Requests on paths starting with `path` are applied but never answered (to hold a write
    /// in flight).
    pub fn drop_replies_for(&self, path: &str) {
        self.lock().drop_replies_for.insert(path.to_string());
    }

    /// `server` refuses every connection with `refusal` (None: accepts again).
    pub fn set_refusal(&self, server: ServerId, refusal: Option<Refusal>) {
        let mut t = self.lock();
        match refusal {
            Some(r) => t.refusals.insert(server, r),
            None => t.refusals.remove(&server),
        };
    }

    /// Requests on `path` stop being swallowed.
    pub fn answer_all(&self) {
        self.lock().drop_replies_for.clear();
    }

    /// The children of `path`, read directly.
    pub fn children(&self, path: &str) -> Vec<String> {
        children(&self.lock(), path)
    }

    /// The next two replies go out in swapped order (a server bug).
    pub fn reorder_next_replies(&self) {
        self.lock().reorder_next_replies = true;
    }

    /// The node's data, read directly.
    pub fn data(&self, path: &str) -> Option<Data> {
        self.lock().nodes.get(path).map(|(d, _)| d.clone())
    }

    /// The fake server process for `me`.
    pub async fn serve(self, me: ServerId) {
        let listener: Listener<ClientMsg, ServerMsg> = Listener::bind(CLIENT_PORT).await.expect("bind client port");
        loop {
            let Ok((tx, rx, _)) = listener.accept().await else { continue };
            let ens = self.clone();
            madsim::task::spawn_local(async move { ens.connection(me, tx, rx).await });
        }
    }

    async fn connection(self, me: ServerId, tx: ConnSender<ServerMsg>, mut rx: ConnReceiver<ClientMsg>) {
        let Ok(ClientMsg::Connect { session, timeout_ms, .. }) = rx.recv().await else { return };
        let (out, mut outbox) = mpsc::unbounded_channel::<ServerMsg>();
        let refusal = self.lock().refusals.get(&me).cloned();
        if let Some(r) = refusal {
            let _ = tx.send(ServerMsg::Refused(r)).await;
            return;
        }
        let accepted = {
            let mut t = self.lock();
            let session = match session {
                None => {
                    t.next_session += 1;
                    let id = SessionId(0x100 + t.next_session);
                    t.sessions.insert(id, SessionInfo { timeout_ms, ..Default::default() });
                    Some(id)
                }
                Some(s) if t.sessions.get(&s).is_some_and(|i| !i.over) => Some(s),
                Some(_) => None,
            };
            session.map(|session| {
                t.next_conn += 1;
                let conn_id = t.next_conn;
                let info = t.sessions.get_mut(&session).unwrap();
                info.conn = Some((conn_id, out.clone()));
                // Watches live with the connection, as in ZooKeeper: a reconnecting client
                // gets them back only through SetWatches.
                info.data_watches.clear();
                info.child_watches.clear();
                info.persistent.clear();
                info.recursive.clear();
                (session, conn_id, info.timeout_ms)
            })
        };
        let Some((session, conn_id, timeout_ms)) = accepted else {
            let _ = tx.send(ServerMsg::Refused(Refusal::Expired)).await;
            return;
        };
        let _ = out.send(ServerMsg::Connected { session, timeout_ms, server: me });
        drop(out);
        madsim::task::spawn_local(async move {
            while let Some(m) = outbox.recv().await {
                if tx.send(m).await.is_err() {
                    break;
                }
            }
        });
        loop {
            let msg = madsim::time::timeout(Duration::from_millis(timeout_ms), rx.recv()).await;
            let mut t = self.lock();
            let ours = t.sessions.get(&session).and_then(|i| i.conn.as_ref()).is_some_and(|(c, _)| *c == conn_id);
            if !ours {
                return; // the session moved to another connection, or ended
            }
            match msg {
                Err(_) => {
                    // Silence for the whole session timeout: the fake expires the session.
                    end_session(&mut t, session);
                    return;
                }
                Ok(Err(_)) => {
                    t.sessions.get_mut(&session).unwrap().conn = None;
                    return;
                }
                Ok(Ok(ClientMsg::Ping)) => {
                    let z = Zxid(t.zxid);
                    send_to(&t, session, ServerMsg::Pong { zxid: z });
                }
                Ok(Ok(ClientMsg::SetWatches { last_zxid, watches })) => {
                    set_watches(&mut t, session, last_zxid, watches)
                }
                Ok(Ok(ClientMsg::Request { xid, op })) => {
                    let path = op.path().map(str::to_string);
                    let close = op == Op::CloseSession;
                    let (zxid, outcome) = apply(&mut t, session, op);
                    let reply = ServerMsg::Reply { xid, zxid, outcome };
                    if path.as_ref().is_some_and(|p| t.drop_replies_for.iter().any(|d| p.starts_with(d.as_str()))) {
                        continue;
                    }
                    if t.reorder_next_replies {
                        t.reorder_next_replies = false;
                        t.held_reply = Some(reply);
                        continue;
                    }
                    send_to(&t, session, reply);
                    if let Some(held) = t.held_reply.take() {
                        send_to(&t, session, held);
                    }
                    if close {
                        end_session(&mut t, session);
                        return;
                    }
                }
                Ok(Ok(ClientMsg::Connect { .. })) => return,
            }
        }
    }
}

fn send_to(t: &Tree, session: SessionId, msg: ServerMsg) {
    if let Some((_, out)) = t.sessions.get(&session).and_then(|i| i.conn.as_ref()) {
        let _ = out.send(msg);
    }
}

fn end_session(t: &mut Tree, session: SessionId) {
    let Some(info) = t.sessions.get_mut(&session) else { return };
    if info.over {
        return;
    }
    info.over = true;
    info.conn = None;
    let ephemerals: Vec<String> =
        t.nodes.iter().filter(|(_, (_, s))| s.ephemeral_owner == session).map(|(p, _)| p.clone()).collect();
    if !ephemerals.is_empty() {
        t.zxid += 1;
        let z = Zxid(t.zxid);
        for p in ephemerals {
            remove_node(t, &p, z);
        }
    }
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "/",
    }
}

fn name_of(path: &str) -> &str {
    &path[path.rfind('/').map_or(0, |i| i + 1)..]
}

fn children(t: &Tree, path: &str) -> Vec<String> {
    t.nodes.keys().filter(|p| p.as_str() != "/" && parent_of(p) == path).map(|p| name_of(p).to_string()).collect()
}

fn fire(t: &mut Tree, kind: EventType, path: &str, zxid: Zxid) {
    let event = WatchedEvent { kind, path: path.to_string(), zxid };
    let sessions: Vec<SessionId> = t.sessions.keys().copied().collect();
    for s in sessions {
        let info = t.sessions.get_mut(&s).unwrap();
        let mut hit = false;
        if matches!(kind, EventType::NodeCreated | EventType::NodeDeleted | EventType::NodeDataChanged) {
            hit |= info.data_watches.remove(path);
        }
        if matches!(kind, EventType::NodeChildrenChanged | EventType::NodeDeleted) {
            hit |= info.child_watches.remove(path);
        }
        hit |= info.persistent.contains(path);
        if kind != EventType::NodeChildrenChanged {
            hit |= info.recursive.iter().any(|r| path == r || r == "/" || path.starts_with(&format!("{r}/")));
        }
        if hit {
            send_to(t, s, ServerMsg::Watch(event.clone()));
        }
    }
}

fn remove_node(t: &mut Tree, path: &str, z: Zxid) {
    t.nodes.remove(path);
    let parent = parent_of(path).to_string();
    if let Some((_, ps)) = t.nodes.get_mut(&parent) {
        ps.num_children -= 1;
        ps.cversion += 1;
        ps.pzxid = z;
    }
    fire(t, EventType::NodeDeleted, path, z);
    fire(t, EventType::NodeChildrenChanged, &parent, z);
}

fn set_watches(t: &mut Tree, session: SessionId, last: Zxid, w: WatchSet) {
    let mut fire_now = Vec::new();
    for p in &w.data {
        match t.nodes.get(p) {
            None => fire_now.push((EventType::NodeDeleted, p.clone())),
            Some((_, s)) if s.mzxid > last => fire_now.push((EventType::NodeDataChanged, p.clone())),
            Some(_) => {
                t.sessions.get_mut(&session).unwrap().data_watches.insert(p.clone());
            }
        }
    }
    for p in &w.exist {
        if t.nodes.contains_key(p) {
            fire_now.push((EventType::NodeCreated, p.clone()));
        } else {
            t.sessions.get_mut(&session).unwrap().data_watches.insert(p.clone());
        }
    }
    for p in &w.child {
        match t.nodes.get(p) {
            None => fire_now.push((EventType::NodeDeleted, p.clone())),
            Some((_, s)) if s.pzxid > last => fire_now.push((EventType::NodeChildrenChanged, p.clone())),
            Some(_) => {
                t.sessions.get_mut(&session).unwrap().child_watches.insert(p.clone());
            }
        }
    }
    let info = t.sessions.get_mut(&session).unwrap();
    info.persistent.extend(w.persistent);
    info.recursive.extend(w.persistent_recursive);
    let z = Zxid(t.zxid);
    for (kind, path) in fire_now {
        send_to(t, session, ServerMsg::Watch(WatchedEvent { kind, path, zxid: z }));
    }
}

/// A minimal multi: checks every sub-op against the current tree (sub-ops on distinct paths),
/// then applies them one by one. Enough to exercise the client's result mapping.
fn multi(t: &mut Tree, session: SessionId, ops: Vec<MultiOp>) -> (Zxid, Outcome) {
    let check = |t: &Tree, op: &MultiOp| -> ErrorCode {
        let node = t.nodes.get(op.path());
        let version_ok = |v: i32| node.is_some_and(|(_, s)| v == -1 || v == s.version);
        match op {
            MultiOp::Create { path, .. } if node.is_some() && !path.ends_with('-') => ErrorCode::NodeExists,
            MultiOp::Create { path, .. } if !t.nodes.contains_key(parent_of(path)) => ErrorCode::NoNode,
            MultiOp::Create { .. } => ErrorCode::Ok,
            MultiOp::GetData { .. } | MultiOp::GetChildren { .. } => ErrorCode::MarshallingError,
            MultiOp::Delete { version, .. } | MultiOp::SetData { version, .. } | MultiOp::Check { version, .. } => {
                if node.is_none() {
                    ErrorCode::NoNode
                } else if !version_ok(*version) {
                    ErrorCode::BadVersion
                } else {
                    ErrorCode::Ok
                }
            }
        }
    };
    if let Some(i) = ops.iter().position(|op| check(t, op) != ErrorCode::Ok) {
        let code = check(t, &ops[i]);
        let results = (0..ops.len())
            .map(|j| match j.cmp(&i) {
                std::cmp::Ordering::Less => ErrorCode::Ok,
                std::cmp::Ordering::Equal => code,
                std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
            })
            .collect();
        return (Zxid(t.zxid), Outcome::MultiErr { code, results });
    }
    let mut results = Vec::new();
    for op in ops {
        let (single, sub) = match op {
            MultiOp::Create { path, data, mode, .. } => (Op::Create { path, data, mode, acl: Acl::open() }, None),
            MultiOp::Delete { path, version } => (Op::Delete { path, version }, Some(MultiSubResult::Deleted)),
            MultiOp::SetData { path, data, version } => (Op::SetData { path, data, version }, None),
            MultiOp::Check { .. } => {
                results.push(MultiSubResult::Checked);
                continue;
            }
            MultiOp::GetData { .. } | MultiOp::GetChildren { .. } => {
                unreachable!("a multi holding a read is refused whole")
            }
        };
        let (_, outcome) = apply(t, session, single);
        results.push(match (outcome, sub) {
            (_, Some(r)) => r,
            (Outcome::Ok { value: OpResult::Created { path, .. } }, None) => {
                MultiSubResult::Created { path, stat: None }
            }
            (Outcome::Ok { value: OpResult::Stat { stat } }, None) => MultiSubResult::SetData { stat },
            (other, _) => panic!("fake multi: a checked sub-op failed: {other:?}"),
        });
    }
    (Zxid(t.zxid), Outcome::Ok { value: OpResult::Multi { results } })
}

fn err(t: &Tree, code: ErrorCode) -> (Zxid, Outcome) {
    (Zxid(t.zxid), Outcome::Err { code })
}

fn apply(t: &mut Tree, session: SessionId, op: Op) -> (Zxid, Outcome) {
    let ok = |z: u64, value: OpResult| (Zxid(z), Outcome::Ok { value });
    match op {
        Op::Create { path, data, mode, .. } => {
            let parent = parent_of(&path).to_string();
            let Some((_, ps)) = t.nodes.get(&parent) else { return err(t, ErrorCode::NoNode) };
            let path = if mode.is_sequential() { format!("{path}{:010}", ps.cversion) } else { path };
            if t.nodes.contains_key(&path) {
                return err(t, ErrorCode::NodeExists);
            }
            t.zxid += 1;
            let z = Zxid(t.zxid);
            let stat = Stat {
                czxid: z,
                mzxid: z,
                pzxid: z,
                version: 0,
                ephemeral_owner: if mode.is_ephemeral() { session } else { SessionId(0) },
                data_length: data.len() as i32,
                ..Stat::default()
            };
            t.nodes.insert(path.clone(), (data, stat));
            let ps = &mut t.nodes.get_mut(&parent).unwrap().1;
            ps.num_children += 1;
            ps.cversion += 1;
            ps.pzxid = z;
            fire(t, EventType::NodeCreated, &path, z);
            fire(t, EventType::NodeChildrenChanged, &parent, z);
            ok(t.zxid, OpResult::Created { path, stat: Some(stat) })
        }
        Op::Delete { path, version } => {
            let Some((_, s)) = t.nodes.get(&path) else { return err(t, ErrorCode::NoNode) };
            if version != -1 && version != s.version {
                return err(t, ErrorCode::BadVersion);
            }
            if s.num_children > 0 {
                return err(t, ErrorCode::NotEmpty);
            }
            t.zxid += 1;
            remove_node(t, &path, Zxid(t.zxid));
            ok(t.zxid, OpResult::Done)
        }
        Op::SetData { path, data, version } => {
            let Some((_, s)) = t.nodes.get(&path) else { return err(t, ErrorCode::NoNode) };
            if version != -1 && version != s.version {
                return err(t, ErrorCode::BadVersion);
            }
            t.zxid += 1;
            let z = Zxid(t.zxid);
            let (d, s) = t.nodes.get_mut(&path).unwrap();
            s.version += 1;
            s.mzxid = z;
            s.data_length = data.len() as i32;
            *d = data;
            let stat = *s;
            fire(t, EventType::NodeDataChanged, &path, z);
            ok(t.zxid, OpResult::Stat { stat })
        }
        Op::GetData { path, watch } => {
            let Some((data, stat)) = t.nodes.get(&path).cloned() else { return err(t, ErrorCode::NoNode) };
            if watch {
                t.sessions.get_mut(&session).unwrap().data_watches.insert(path);
            }
            ok(t.zxid, OpResult::GetData { data, stat })
        }
        Op::Exists { path, watch } => {
            let stat = t.nodes.get(&path).map(|(_, s)| *s);
            if watch {
                t.sessions.get_mut(&session).unwrap().data_watches.insert(path);
            }
            ok(t.zxid, OpResult::Exists { stat })
        }
        Op::GetChildren { path, watch } => {
            let Some((_, stat)) = t.nodes.get(&path).cloned() else { return err(t, ErrorCode::NoNode) };
            if watch {
                t.sessions.get_mut(&session).unwrap().child_watches.insert(path.clone());
            }
            ok(t.zxid, OpResult::Children { children: children(t, &path).into_iter().map(Into::into).collect(), stat })
        }
        Op::Sync { path } => ok(t.zxid, OpResult::Synced { path }),
        Op::AddWatch { path, mode } => {
            let info = t.sessions.get_mut(&session).unwrap();
            match mode {
                AddWatchMode::Persistent => info.persistent.insert(path),
                AddWatchMode::PersistentRecursive => info.recursive.insert(path),
            };
            ok(t.zxid, OpResult::Done)
        }
        Op::RemoveWatches { path, kind } => {
            let info = t.sessions.get_mut(&session).unwrap();
            let mut removed = false;
            if matches!(kind, WatcherKind::Data | WatcherKind::Any) {
                removed |= info.data_watches.remove(&path);
            }
            if matches!(kind, WatcherKind::Children | WatcherKind::Any) {
                removed |= info.child_watches.remove(&path);
            }
            removed |= info.persistent.remove(&path);
            removed |= info.recursive.remove(&path);
            if removed {
                ok(t.zxid, OpResult::Done)
            } else {
                err(t, ErrorCode::NoWatcher)
            }
        }
        Op::Multi { ops } if ops.iter().any(MultiOp::is_read) => err(t, ErrorCode::MarshallingError),
        Op::Multi { ops } => multi(t, session, ops),
        // Not needed by the client tests that use this fake.
        Op::GetEphemerals { .. } | Op::GetAllChildrenNumber { .. } | Op::SetAcl { .. } | Op::GetAcl { .. } => {
            err(t, ErrorCode::Unimplemented)
        }
        Op::CloseSession => {
            t.zxid += 1;
            ok(t.zxid, OpResult::Done)
        }
    }
}
