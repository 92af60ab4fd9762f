//! Synthetic valid histories: clients with one request in flight each, run against the
//! reference model as a perfectly behaved single-server service. Writes commit in the order the
//! "server" picks them, some replies are lost (indeterminate, yet committed) and some requests
//! are lost before reaching the server (indeterminate, not committed); reads are answered at the
//! latest state; watch events are delivered at commit, before any later reply. Used by the
//! checker cross-check property tests and by the benchmarks.

use crate::acl::Acl;
use crate::history::{Event, Header, History, Record, Txn, TxnRecord, HISTORY_FORMAT};
use crate::op::{Op, OpResult, Outcome};
use crate::reference::ZkModel;
use crate::types::{ClientId, CreateMode, Data, ErrorCode, OpId, ServerId, SessionId, SessionState, SimTime, Zxid};

/// Shape of a synthetic history.
#[derive(Clone, Debug)]
pub struct Params {
    pub sessions: u32,
    pub ops: u64,
    /// Distinct top-level nodes `/n0`…
    pub paths: u32,
    /// Per mille of operations that are reads.
    pub reads_per_mille: u32,
    /// Per mille of writes whose request is lost before the server (indeterminate, not applied).
    pub dropped_per_mille: u32,
    /// Per mille of writes whose reply is lost (indeterminate, applied).
    pub lost_reply_per_mille: u32,
    /// Per mille of reads that set a watch.
    pub watch_per_mille: u32,
    pub seed: u64,
}

impl Params {
    /// A small history for property tests.
    pub fn small(seed: u64) -> Params {
        Params {
            sessions: 3,
            ops: 14,
            paths: 2,
            reads_per_mille: 300,
            dropped_per_mille: 100,
            lost_reply_per_mille: 100,
            watch_per_mille: 300,
            seed,
        }
    }

    /// A large history for benchmarks: many sessions, mixed reads and writes.
    pub fn bench(ops: u64, seed: u64) -> Params {
        Params {
            sessions: 1000,
            ops,
            paths: 4096,
            reads_per_mille: 500,
            dropped_per_mille: 5,
            lost_reply_per_mille: 5,
            watch_per_mille: 100,
            seed,
        }
    }
}

/// SplitMix64: tiny, seedable, deterministic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no values");
        self.next_u64() % n
    }

    /// True with probability `per_mille`/1000.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < per_mille as u64
    }
}

enum Flight {
    Idle,
    Invoked { id: OpId, xid: u64, op: Op },
    Committed { id: OpId, zxid: Zxid, outcome: Outcome },
}

fn random_op(rng: &mut Rng, p: &Params) -> Op {
    let n = rng.below(p.paths as u64);
    let path = format!("/n{n}");
    let data = Data::text(&format!("{}", rng.below(100)));
    if rng.chance(p.reads_per_mille) {
        let watch = rng.chance(p.watch_per_mille);
        return match rng.below(3) {
            0 => Op::GetData { path, watch },
            1 => Op::Exists { path, watch },
            _ => Op::GetChildren { path, watch },
        };
    }
    match rng.below(6) {
        0 | 1 => Op::Create { path, data, mode: CreateMode::Persistent, acl: Acl::open() },
        2 => Op::Create { path: format!("{path}/e"), data, mode: CreateMode::Ephemeral, acl: Acl::open() },
        3 => Op::Create { path: format!("{path}/s-"), data, mode: CreateMode::PersistentSequential, acl: Acl::open() },
        4 => Op::SetData { path, data, version: -1 },
        _ => {
            let child = rng.chance(500);
            Op::Delete { path: if child { format!("{path}/e") } else { path }, version: -1 }
        }
    }
}

/// Generates a valid history.
pub fn generate(p: &Params) -> History {
    let mut rng = Rng::new(p.seed);
    let mut model = ZkModel::fresh_server();
    let mut records: Vec<Record> = Vec::with_capacity(p.ops as usize * 3);
    let mut now = 0u64;
    let mut counter = 0u32;
    let leader = ServerId(1);
    let sid = |c: u32| SessionId(0x1000 + c as u64);
    let mut commit = |model: &mut ZkModel, records: &mut Vec<Record>, now: u64, txn: Txn| {
        counter += 1;
        let rec = TxnRecord { zxid: Zxid::new(1, counter), time_ms: (now / 1_000_000) as i64, txn };
        let applied = model.apply(&rec);
        let zxid = rec.zxid;
        records.push(Record { time: SimTime(now), event: Event::Commit { server: leader, txn: rec } });
        for (session, event) in applied.events {
            let client = ClientId((session.0 - 0x1000) as u32);
            records.push(Record { time: SimTime(now), event: Event::Watch { client, session, event } });
        }
        (zxid, applied.outcome)
    };
    for c in 1..=p.sessions {
        now += 1000;
        commit(&mut model, &mut records, now, Txn::CreateSession { session: sid(c), timeout_ms: 6000 });
        records.push(Record {
            time: SimTime(now),
            event: Event::Session {
                client: ClientId(c),
                session: sid(c),
                state: SessionState::SyncConnected,
                server: Some(leader),
                timeout_ms: Some(6000),
            },
        });
    }
    let mut flights: Vec<Flight> = (0..p.sessions).map(|_| Flight::Idle).collect();
    let mut xids = vec![0u64; p.sessions as usize];
    let mut invoked = 0u64;
    let mut next_id = 0u64;
    let mut in_flight = 0u64;
    while invoked < p.ops || in_flight > 0 {
        now += 1000;
        let k = rng.below(p.sessions as u64) as usize;
        let c = k as u32 + 1;
        let s = sid(c);
        let flight = std::mem::replace(&mut flights[k], Flight::Idle);
        flights[k] = match flight {
            Flight::Idle if invoked < p.ops => {
                next_id += 1;
                invoked += 1;
                in_flight += 1;
                xids[k] += 1;
                let op = random_op(&mut rng, p);
                let id = OpId(next_id);
                records.push(Record {
                    time: SimTime(now),
                    event: Event::Invoke { op_id: id, client: ClientId(c), session: s, xid: xids[k], op: op.clone() },
                });
                Flight::Invoked { id, xid: xids[k], op }
            }
            Flight::Idle => Flight::Idle,
            Flight::Invoked { id, op, .. } if !op.is_write() => {
                let outcome = model.read(s, &op);
                let zxid = model.last_zxid();
                records.push(Record {
                    time: SimTime(now),
                    event: Event::Complete { op_id: id, outcome, zxid: Some(zxid), server: Some(leader) },
                });
                in_flight -= 1;
                Flight::Idle
            }
            Flight::Invoked { id, xid, op } => {
                if rng.chance(p.dropped_per_mille) {
                    let outcome = Outcome::Indeterminate { reason: ErrorCode::ConnectionLoss };
                    records.push(Record {
                        time: SimTime(now),
                        event: Event::Complete { op_id: id, outcome, zxid: None, server: None },
                    });
                    in_flight -= 1;
                    Flight::Idle
                } else {
                    let (zxid, outcome) = commit(&mut model, &mut records, now, Txn::Client { session: s, xid, op });
                    Flight::Committed { id, zxid, outcome }
                }
            }
            Flight::Committed { id, zxid, outcome } => {
                let event = if rng.chance(p.lost_reply_per_mille) {
                    Event::Complete {
                        op_id: id,
                        outcome: Outcome::Indeterminate { reason: ErrorCode::ConnectionLoss },
                        zxid: None,
                        server: None,
                    }
                } else {
                    Event::Complete { op_id: id, outcome, zxid: Some(zxid), server: Some(leader) }
                };
                records.push(Record { time: SimTime(now), event });
                in_flight -= 1;
                Flight::Idle
            }
        };
    }
    History {
        header: Header {
            format: HISTORY_FORMAT,
            scenario: "synthetic".into(),
            seed: p.seed,
            config_hash: String::new(),
            servers: vec![leader],
            clients: (1..=p.sessions).map(ClientId).collect(),
            tick_ms: 100,
        },
        records,
    }
}

/// Changes one definite client result (the `pick`-th candidate, modulo their number) so that it
/// no longer matches the model; returns the op id changed, or None when there is no candidate.
/// `writes_only` restricts it to writes.
pub fn perturb(h: &mut History, pick: u64, writes_only: bool) -> Option<OpId> {
    let writes: std::collections::BTreeSet<OpId> = h
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Invoke { op_id, op, .. } if op.is_write() => Some(*op_id),
            _ => None,
        })
        .collect();
    let candidates: Vec<usize> = h
        .records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.event {
            Event::Complete { op_id, outcome, .. }
                if !outcome.is_indeterminate() && (!writes_only || writes.contains(op_id)) =>
            {
                Some(i)
            }
            _ => None,
        })
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let i = candidates[(pick % candidates.len() as u64) as usize];
    let Event::Complete { op_id, outcome, .. } = &mut h.records[i].event else {
        unreachable!("candidates are completions")
    };
    *outcome = match outcome.clone() {
        Outcome::Ok { value: OpResult::Created { path, stat } } => {
            Outcome::Ok { value: OpResult::Created { path: format!("{path}x"), stat } }
        }
        Outcome::Ok { value: OpResult::Stat { mut stat } } => {
            stat.version += 1;
            Outcome::Ok { value: OpResult::Stat { stat } }
        }
        Outcome::Ok { value: OpResult::GetData { data, mut stat } } => {
            stat.version += 1;
            Outcome::Ok { value: OpResult::GetData { data, stat } }
        }
        Outcome::Ok { value: OpResult::Exists { stat: Some(_) } } => {
            Outcome::Ok { value: OpResult::Exists { stat: None } }
        }
        Outcome::Ok { value: OpResult::Exists { stat: None } } => Outcome::Err { code: ErrorCode::NoNode },
        Outcome::Ok { value: OpResult::Children { mut children, stat } } => {
            children.push("phantom".into());
            Outcome::Ok { value: OpResult::Children { children, stat } }
        }
        Outcome::Ok { .. } => Outcome::Err { code: ErrorCode::NoNode },
        Outcome::Err { code: ErrorCode::NoNode } => Outcome::Err { code: ErrorCode::NodeExists },
        Outcome::Err { .. } | Outcome::MultiErr { .. } => Outcome::Err { code: ErrorCode::NoNode },
        Outcome::Indeterminate { .. } => unreachable!("candidates are definite"),
    };
    Some(*op_id)
}
