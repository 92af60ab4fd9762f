//! Test support: a builder for hand-made histories, so checker tests read like the scenario
//! they describe. It keeps a reference model of the "leader" so writes get their real results
//! and zxids, and a snapshot per zxid so a read can be answered from any past state (a lagging
//! follower). Meant for small histories (it clones the model on every commit).

pub mod synthetic;

use crate::history::{CloseReason, Event, Fault, Header, History, Record, Role, Txn, TxnRecord, HISTORY_FORMAT};
use crate::op::{Op, Outcome};
use crate::reference::ZkModel;
use crate::types::{ClientId, ErrorCode, OpId, ServerId, SessionId, SessionState, SimTime, WatchedEvent, Zxid};
use std::collections::BTreeMap;

/// Builds a [`History`] record by record, at a settable simulated time.
pub struct HistoryBuilder {
    records: Vec<Record>,
    now_ms: u64,
    next_op: u64,
    next_counter: u32,
    epoch: u32,
    xids: BTreeMap<SessionId, u64>,
    model: ZkModel,
    snapshots: BTreeMap<Zxid, ZkModel>,
    /// The server that commits (and answers, unless told otherwise).
    pub leader: ServerId,
    pending: BTreeMap<OpId, (ClientId, SessionId, u64, Op)>,
}

impl Default for HistoryBuilder {
    fn default() -> Self {
        HistoryBuilder::new()
    }
}

impl HistoryBuilder {
    /// An empty history at time 0, epoch 1, leader s1, model from a fresh server.
    pub fn new() -> HistoryBuilder {
        let model = ZkModel::fresh_server();
        let mut snapshots = BTreeMap::new();
        snapshots.insert(Zxid::ZERO, model.clone());
        HistoryBuilder {
            records: Vec::new(),
            now_ms: 0,
            next_op: 0,
            next_counter: 1,
            epoch: 1,
            xids: BTreeMap::new(),
            model,
            snapshots,
            leader: ServerId(1),
            pending: BTreeMap::new(),
        }
    }

    /// Sets the simulated time (milliseconds; never moves backwards).
    pub fn at(&mut self, ms: u64) -> &mut Self {
        assert!(ms >= self.now_ms, "fixture time runs forward");
        self.now_ms = ms;
        self
    }

    /// Advances the time by `ms`.
    pub fn tick(&mut self, ms: u64) -> &mut Self {
        self.now_ms += ms;
        self
    }

    /// Appends a raw event at the current time.
    pub fn push(&mut self, event: Event) -> &mut Self {
        self.records.push(Record { time: SimTime::from_millis(self.now_ms), event });
        self
    }

    /// The zxid the next commit will get.
    pub fn next_zxid(&self) -> Zxid {
        Zxid::new(self.epoch, self.next_counter)
    }

    /// The last committed zxid.
    pub fn last_zxid(&self) -> Zxid {
        self.model.last_zxid()
    }

    /// Starts a new epoch: later commits get zxids (epoch, 1), (epoch, 2), ...
    pub fn new_epoch(&mut self, leader: ServerId) -> &mut Self {
        self.epoch += 1;
        self.next_counter = 1;
        self.leader = leader;
        let epoch = self.epoch;
        self.push(Event::Role { server: leader, role: Role::Leading, epoch })
    }

    /// Commits `txn` at the next zxid through the model; returns its zxid and the model's outcome.
    pub fn commit(&mut self, txn: Txn) -> (Zxid, Outcome) {
        let rec = TxnRecord { zxid: self.next_zxid(), time_ms: self.now_ms as i64, txn };
        self.next_counter += 1;
        let applied = self.model.apply(&rec);
        self.snapshots.insert(rec.zxid, self.model.clone());
        let zxid = rec.zxid;
        let server = self.leader;
        self.push(Event::Commit { server, txn: rec });
        (zxid, applied.outcome)
    }

    /// Records a commit without applying it to the builder's model (for divergent logs).
    pub fn commit_raw(&mut self, server: ServerId, rec: TxnRecord) -> &mut Self {
        self.push(Event::Commit { server, txn: rec })
    }

    /// Opens `session` for `client` (createSession committed, then SyncConnected to `server`).
    pub fn open_session(&mut self, client: u32, session: u64, server: u32, timeout_ms: u64) -> SessionId {
        let s = SessionId(session);
        self.commit(Txn::CreateSession { session: s, timeout_ms });
        self.session_state(client, session, SessionState::SyncConnected, Some(server));
        s
    }

    /// Records a connection-state change.
    pub fn session_state(&mut self, client: u32, session: u64, state: SessionState, server: Option<u32>) -> &mut Self {
        let timeout_ms = self.timeout_of(SessionId(session));
        self.push(Event::Session {
            client: ClientId(client),
            session: SessionId(session),
            state,
            server: server.map(ServerId),
            timeout_ms,
        })
    }

    fn timeout_of(&self, s: SessionId) -> Option<u64> {
        self.records.iter().find_map(|r| match &r.event {
            Event::Commit { txn: TxnRecord { txn: Txn::CreateSession { session, timeout_ms }, .. }, .. }
                if *session == s =>
            {
                Some(*timeout_ms)
            }
            _ => None,
        })
    }

    /// Records an invocation; returns its op id.
    pub fn invoke(&mut self, client: u32, session: u64, op: Op) -> OpId {
        self.next_op += 1;
        let op_id = OpId(self.next_op);
        let s = SessionId(session);
        let xid = self.xids.entry(s).or_insert(0);
        *xid += 1;
        let xid = *xid;
        self.pending.insert(op_id, (ClientId(client), s, xid, op.clone()));
        self.push(Event::Invoke { op_id, client: ClientId(client), session: s, xid, op });
        op_id
    }

    /// Commits the pending write `op_id` (as its client sent it) and returns the zxid and the
    /// model's outcome, without completing it.
    pub fn commit_op(&mut self, op_id: OpId) -> (Zxid, Outcome) {
        let (_, session, xid, op) = self.pending.get(&op_id).cloned().expect("fixture: commit_op of an invoked op");
        let txn = if op == Op::CloseSession {
            Txn::CloseSession { session, reason: CloseReason::Closed }
        } else {
            Txn::Client { session, xid, op }
        };
        self.commit(txn)
    }

    /// Records a completion.
    pub fn complete(&mut self, op_id: OpId, outcome: Outcome, zxid: Option<Zxid>, server: Option<u32>) -> &mut Self {
        self.push(Event::Complete { op_id, outcome, zxid, server: server.map(ServerId) })
    }

    /// Completes `op_id` as lost (ConnectionLoss, no reply).
    pub fn lose(&mut self, op_id: OpId) -> &mut Self {
        self.complete(op_id, Outcome::Indeterminate { reason: ErrorCode::ConnectionLoss }, None, None)
    }

    /// A whole write: invoke, commit, complete with the model's result from the leader.
    pub fn write(&mut self, client: u32, session: u64, op: Op) -> (OpId, Zxid, Outcome) {
        let id = self.invoke(client, session, op);
        self.tick(1);
        let (z, out) = self.commit_op(id);
        self.tick(1);
        let leader = self.leader.0;
        self.complete(id, out.clone(), Some(z), Some(leader));
        (id, z, out)
    }

    /// What `op` answers for `session` at the state after `zxid` (a server at that zxid).
    pub fn answer(&self, session: u64, op: &Op, zxid: Zxid) -> Outcome {
        let (_, m) = self.snapshots.range(..=zxid).next_back().expect("zxid 0 is always there");
        m.clone().read(SessionId(session), op)
    }

    /// A whole read served by `server` at `zxid` (defaults to the latest).
    pub fn read(&mut self, client: u32, session: u64, op: Op, server: u32, zxid: Option<Zxid>) -> (OpId, Outcome) {
        let z = zxid.unwrap_or(self.last_zxid());
        let out = self.answer(session, &op, z);
        let id = self.invoke(client, session, op);
        self.tick(1);
        self.complete(id, out.clone(), Some(z), Some(server));
        (id, out)
    }

    /// Records a delivered watch event.
    pub fn watch(&mut self, client: u32, session: u64, event: WatchedEvent) -> &mut Self {
        self.push(Event::Watch { client: ClientId(client), session: SessionId(session), event })
    }

    /// Records a fault.
    pub fn fault(&mut self, fault: Fault) -> &mut Self {
        self.push(Event::Fault { fault })
    }

    /// Records a server's final state as the committed log's prefix up to `zxid`.
    pub fn final_at(&mut self, server: u32, zxid: Zxid) -> &mut Self {
        let mut digest = 0;
        for r in &self.records {
            if let Event::Commit { txn, .. } = &r.event {
                if txn.zxid <= zxid {
                    digest = crate::history::chain_digest(digest, txn);
                }
            }
        }
        self.push(Event::Final { server: ServerId(server), last_zxid: zxid, digest })
    }

    /// The history, with a header naming `scenario`.
    pub fn build(&self, scenario: &str) -> History {
        let mut clients: Vec<ClientId> = self.pending.values().map(|p| p.0).collect();
        clients.sort();
        clients.dedup();
        History {
            header: Header {
                format: HISTORY_FORMAT,
                scenario: scenario.to_string(),
                seed: 0,
                config_hash: String::new(),
                servers: vec![ServerId(1), ServerId(2), ServerId(3)],
                clients,
                tick_ms: 100,
            },
            records: self.records.clone(),
        }
    }
}

/// Short constructors for operations, for fixtures.
pub mod ops {
    use crate::op::Op;
    use crate::types::{CreateMode, Data};

    pub fn create(path: &str, data: &str) -> Op {
        Op::Create {
            path: path.into(),
            data: Data::text(data),
            mode: CreateMode::Persistent,
            acl: crate::acl::Acl::open(),
        }
    }
    pub fn create_ephemeral(path: &str, data: &str) -> Op {
        Op::Create {
            path: path.into(),
            data: Data::text(data),
            mode: CreateMode::Ephemeral,
            acl: crate::acl::Acl::open(),
        }
    }
    pub fn create_sequential(path: &str, data: &str) -> Op {
        Op::Create {
            path: path.into(),
            data: Data::text(data),
            mode: CreateMode::PersistentSequential,
            acl: crate::acl::Acl::open(),
        }
    }
    pub fn set(path: &str, data: &str) -> Op {
        Op::SetData { path: path.into(), data: Data::text(data), version: -1 }
    }
    pub fn delete(path: &str) -> Op {
        Op::Delete { path: path.into(), version: -1 }
    }
    pub fn get(path: &str, watch: bool) -> Op {
        Op::GetData { path: path.into(), watch }
    }
    pub fn exists(path: &str, watch: bool) -> Op {
        Op::Exists { path: path.into(), watch }
    }
    pub fn children(path: &str, watch: bool) -> Op {
        Op::GetChildren { path: path.into(), watch }
    }
    pub fn sync(path: &str) -> Op {
        Op::Sync { path: path.into() }
    }
}

/// A one-server history of hand-made `records` for the recipe checkers' unit tests (tick 100 ms,
/// the given clients): the header those tests shared, written once.
pub fn recipe_history(clients: &[u32], records: Vec<Record>) -> History {
    History {
        header: Header {
            format: HISTORY_FORMAT,
            scenario: "t".into(),
            seed: 0,
            config_hash: String::new(),
            servers: vec![ServerId(1)],
            clients: clients.iter().map(|&c| ClientId(c)).collect(),
            tick_ms: 100,
        },
        records,
    }
}
