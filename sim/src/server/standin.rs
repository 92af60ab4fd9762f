//! TEMPORARY stand-ins for the APIs other branches are writing concurrently: `DataTree`,
//! `WatchManager` and `reaper` (branch `datatree`) and `Election` (branch `election`).
//!
//! They have the same shape as the agreed APIs so that swapping them for the real modules is a
//! change of `use` lines. The tree models only what the replication tests need (create, delete,
//! setData, reads, sessions and their ephemerals, the chain digest); the election is a simple
//! poll of the peers on the election port that only has to be live, since ZAB's discovery and
//! synchronization phases are what make leadership safe. Delete this file once `datatree` and
//! `election` are merged.

use crate::net::{self, ConnReceiver, ConnSender, Listener};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use zksim_model::history::chain_digest;
use zksim_model::{
    CreateMode, Data, ErrorCode, EventType, Op, OpResult, Outcome, ServerId, SessionId, Stat, Txn, TxnRecord,
    WatchedEvent, Zxid,
};

/// What applying a transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The result the client that sent the transaction gets.
    pub outcome: Outcome,
    /// The watch triggers the transaction fired.
    pub triggers: Vec<WatchedEvent>,
}

/// The replicated state: nodes, sessions and the digest of every applied transaction.
#[derive(Clone, Debug, Default)]
pub struct DataTree {
    nodes: BTreeMap<String, (Data, Stat)>,
    sessions: BTreeMap<SessionId, u64>,
    last_zxid: Zxid,
    digest: u64,
}

impl DataTree {
    /// The empty tree (with "/").
    pub fn new() -> DataTree {
        let mut t = DataTree::default();
        t.nodes.insert("/".into(), (Data::null(), Stat::default()));
        t
    }

    /// The zxid of the last applied transaction.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// The chain digest of every applied transaction.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Live sessions and their timeouts.
    pub fn sessions(&self) -> Vec<(SessionId, u64)> {
        self.sessions.iter().map(|(s, t)| (*s, *t)).collect()
    }

    /// True when `session` is live.
    pub fn session_open(&self, session: SessionId) -> bool {
        self.sessions.contains_key(&session)
    }

    /// The ephemeral nodes `session` owns.
    pub fn ephemerals(&self, session: SessionId) -> Vec<String> {
        self.nodes.iter().filter(|(_, (_, st))| st.ephemeral_owner == session).map(|(p, _)| p.clone()).collect()
    }

    fn parent(path: &str) -> String {
        match path.rfind('/') {
            Some(0) => "/".into(),
            Some(i) => path[..i].into(),
            None => "/".into(),
        }
    }

    /// Applies a committed transaction.
    pub fn apply(&mut self, rec: &TxnRecord) -> Applied {
        assert!(rec.zxid > self.last_zxid, "tree applies zxids in order: {} after {}", rec.zxid, self.last_zxid);
        self.last_zxid = rec.zxid;
        self.digest = chain_digest(self.digest, rec);
        let mut triggers = Vec::new();
        let ev = |kind, path: &str| WatchedEvent { kind, path: path.to_string(), zxid: rec.zxid };
        let outcome = match &rec.txn {
            Txn::CreateSession { session, timeout_ms } => {
                self.sessions.insert(*session, *timeout_ms);
                Outcome::Ok { value: OpResult::Done }
            }
            Txn::CloseSession { session, .. } => {
                self.sessions.remove(session);
                for p in self.ephemerals(*session) {
                    self.nodes.remove(&p);
                    triggers.push(ev(EventType::NodeDeleted, &p));
                }
                Outcome::Ok { value: OpResult::Done }
            }
            Txn::DeleteContainer { path } | Txn::DeleteTtl { path } => {
                self.nodes.remove(path);
                Outcome::Ok { value: OpResult::Done }
            }
            Txn::Client { session, op, .. } => match op {
                Op::Create { path, data, mode } => {
                    if self.nodes.contains_key(path) {
                        Outcome::Err { code: ErrorCode::NodeExists }
                    } else if !self.nodes.contains_key(&Self::parent(path)) {
                        Outcome::Err { code: ErrorCode::NoNode }
                    } else {
                        let owner = if matches!(mode, CreateMode::Ephemeral) { *session } else { SessionId(0) };
                        let stat = Stat {
                            czxid: rec.zxid,
                            mzxid: rec.zxid,
                            pzxid: rec.zxid,
                            ctime: rec.time_ms,
                            mtime: rec.time_ms,
                            ephemeral_owner: owner,
                            data_length: data.len() as i32,
                            ..Stat::default()
                        };
                        self.nodes.insert(path.clone(), (data.clone(), stat));
                        triggers.push(ev(EventType::NodeCreated, path));
                        Outcome::Ok { value: OpResult::Created { path: path.clone(), stat: None } }
                    }
                }
                Op::SetData { path, data, version } => match self.nodes.get_mut(path) {
                    None => Outcome::Err { code: ErrorCode::NoNode },
                    Some((_, st)) if *version != -1 && *version != st.version => {
                        Outcome::Err { code: ErrorCode::BadVersion }
                    }
                    Some((d, st)) => {
                        *d = data.clone();
                        st.version += 1;
                        st.mzxid = rec.zxid;
                        st.mtime = rec.time_ms;
                        st.data_length = data.len() as i32;
                        triggers.push(ev(EventType::NodeDataChanged, path));
                        Outcome::Ok { value: OpResult::Stat { stat: *st } }
                    }
                },
                Op::Delete { path, .. } => {
                    if self.nodes.remove(path).is_some() {
                        triggers.push(ev(EventType::NodeDeleted, path));
                        Outcome::Ok { value: OpResult::Done }
                    } else {
                        Outcome::Err { code: ErrorCode::NoNode }
                    }
                }
                _ => Outcome::Err { code: ErrorCode::Unimplemented },
            },
        };
        Applied { outcome, triggers }
    }

    /// Answers a read.
    pub fn read(&self, op: &Op) -> Outcome {
        match op {
            Op::GetData { path, .. } => match self.nodes.get(path) {
                Some((d, st)) => Outcome::Ok { value: OpResult::GetData { data: d.clone(), stat: *st } },
                None => Outcome::Err { code: ErrorCode::NoNode },
            },
            Op::Exists { path, .. } => {
                Outcome::Ok { value: OpResult::Exists { stat: self.nodes.get(path).map(|(_, s)| *s) } }
            }
            Op::GetChildren { path, .. } => match self.nodes.get(path) {
                Some((_, st)) => {
                    let prefix = if path == "/" { "/".to_string() } else { format!("{path}/") };
                    let children = self
                        .nodes
                        .keys()
                        .filter(|p| {
                            p.starts_with(&prefix) && p.len() > prefix.len() && !p[prefix.len()..].contains('/')
                        })
                        .map(|p| p[prefix.len()..].to_string())
                        .collect();
                    Outcome::Ok { value: OpResult::Children { children, stat: *st } }
                }
                None => Outcome::Err { code: ErrorCode::NoNode },
            },
            _ => Outcome::Ok { value: OpResult::Done },
        }
    }
}

/// Watches registered by the sessions connected to one server (stand-in: none fire).
#[derive(Debug, Default)]
pub struct WatchManager {}

impl WatchManager {
    /// No watches.
    pub fn new() -> WatchManager {
        WatchManager {}
    }

    /// The notifications `triggers` fire, per session.
    pub fn trigger(&mut self, _triggers: &[WatchedEvent], _zxid: Zxid) -> Vec<(SessionId, WatchedEvent)> {
        Vec::new()
    }

    /// Forgets a session's watches.
    pub fn drop_session(&mut self, _session: SessionId) {}
}

/// The container/TTL reaper (stand-in: no candidates).
pub fn reap_candidates(_tree: &DataTree, _now_ms: i64) -> Vec<Txn> {
    Vec::new()
}

/// A server's state, as election reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
}

/// Who a server believes should lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vote {
    pub leader: ServerId,
    pub zxid: Zxid,
    pub peer_epoch: u32,
}

/// Election settings.
#[derive(Clone, Debug)]
pub struct ElectionConfig {
    pub me: ServerId,
    pub ensemble: Vec<ServerId>,
    pub finalize_wait_ms: u64,
    pub max_notification_interval_ms: u64,
}

#[derive(Clone, Debug)]
enum ElectionMsg {
    Query,
    Answer { from: ServerId, state: PeerState, vote: Vote },
}

struct Shared {
    state: PeerState,
    vote: Vote,
}

/// Stand-in leader election: a looking server polls every peer; it follows a leader that a
/// quorum reports, else the best (epoch, zxid, id) among a quorum of looking servers.
pub struct Election {
    cfg: ElectionConfig,
    shared: Rc<RefCell<Shared>>,
    _responder: super::task::Task,
}

impl Election {
    /// Starts answering peers on the election port.
    pub fn start(cfg: ElectionConfig) -> Election {
        let shared = Rc::new(RefCell::new(Shared {
            state: PeerState::Looking,
            vote: Vote { leader: cfg.me, zxid: Zxid::ZERO, peer_epoch: 0 },
        }));
        let me = cfg.me;
        let sh = shared.clone();
        let responder = super::task::Task::spawn(async move {
            let Ok(listener) = Listener::<ElectionMsg, ElectionMsg>::bind(net::ELECTION_PORT).await else {
                return;
            };
            while let Ok((tx, mut rx, _)) = listener.accept().await {
                let sh = sh.clone();
                madsim::task::spawn_local(async move {
                    while let Ok(ElectionMsg::Query) = rx.recv().await {
                        let (state, vote) = {
                            let s = sh.borrow();
                            (s.state, s.vote)
                        };
                        if tx.send(ElectionMsg::Answer { from: me, state, vote }).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Election { cfg, shared, _responder: responder }
    }

    /// Records this server's state and the leader it follows or is.
    pub fn set_state(&mut self, state: PeerState, vote: Vote) {
        let mut s = self.shared.borrow_mut();
        s.state = state;
        s.vote = vote;
    }

    async fn ask(peer: ServerId) -> Option<(ServerId, PeerState, Vote)> {
        let addr = net::server_addr(peer, net::ELECTION_PORT);
        let q = async {
            let (tx, mut rx): (ConnSender<ElectionMsg>, ConnReceiver<ElectionMsg>) = net::connect(addr).await.ok()?;
            tx.send(ElectionMsg::Query).await.ok()?;
            match rx.recv().await.ok()? {
                ElectionMsg::Answer { from, state, vote } => Some((from, state, vote)),
                ElectionMsg::Query => None,
            }
        };
        madsim::time::timeout(Duration::from_millis(100), q).await.ok().flatten()
    }

    /// Runs until a leader is chosen.
    pub async fn look_for_leader(&mut self, last_zxid: Zxid, current_epoch: u32) -> Vote {
        let me = self.cfg.me;
        let mine = Vote { leader: me, zxid: last_zxid, peer_epoch: current_epoch };
        self.set_state(PeerState::Looking, mine);
        let quorum = self.cfg.ensemble.len() / 2 + 1;
        loop {
            let peers: Vec<ServerId> = self.cfg.ensemble.iter().copied().filter(|s| *s != me).collect();
            let answers: Vec<_> =
                futures::future::join_all(peers.into_iter().map(Self::ask)).await.into_iter().flatten().collect();
            let mut lookers = vec![mine];
            let mut backers: BTreeMap<ServerId, (usize, bool)> = BTreeMap::new();
            for (from, state, vote) in &answers {
                match state {
                    PeerState::Looking => lookers.push(Vote { leader: *from, ..*vote }),
                    PeerState::Following | PeerState::Leading => {
                        let e = backers.entry(vote.leader).or_insert((0, false));
                        e.0 += 1;
                        e.1 |= *state == PeerState::Leading && *from == vote.leader;
                    }
                }
            }
            // An established leader a quorum already backs: join it (we are one more voice).
            if let Some((leader, _)) = backers.iter().find(|(_, (n, leading))| *leading && n + 1 >= quorum) {
                let epoch = answers.iter().find(|(f, _, _)| f == leader).map_or(0, |(_, _, v)| v.peer_epoch);
                return Vote { leader: *leader, zxid: Zxid::ZERO, peer_epoch: epoch };
            }
            if lookers.len() >= quorum {
                let best =
                    *lookers.iter().max_by_key(|v| (v.peer_epoch, v.zxid, v.leader)).expect("lookers include me");
                return best;
            }
            madsim::time::sleep(Duration::from_millis(self.cfg.finalize_wait_ms.max(10))).await;
        }
    }
}
