//! ZooKeeper writes as a WGL model, over the reference model: an independent cross-check of the
//! zxid-witness checker (`check::linearizable-writes`), which trusts no zxid order but the one it
//! verifies, while this searches every order.
//!
//! Only writes take part: ZooKeeper reads may be stale, so they are not linearizable by design.
//! Server transactions of the committed log (createSession, expiry, container and TTL deletes)
//! are included as instantaneous operations at the time they were committed. A write whose client
//! was told a definite error without a zxid did not happen and is left out; an indeterminate
//! write is optional. The search does not partition: creates and deletes touch their parent,
//! sequential names and session closes cross paths.
//!
//! Each write is applied with the zxid it committed at (from the log, else its reply), so the
//! Stats it produces are comparable; an indeterminate write missing from the log uses zxid 0.

use super::model::{Completion, Model, Operation};
use crate::check::{outcome_matches, render_op, render_outcome, render_txn};
use crate::history::{CloseReason, Event, History, Txn, TxnRecord};
use crate::op::{Op, OpResult, Outcome};
use crate::reference::ZkModel;
use crate::types::{OpId, SessionId, Zxid};
use std::collections::BTreeMap;

/// The model: ZooKeeper's committed state, starting from a fresh server (or an empty tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZkWrites {
    pub fresh_server: bool,
}

impl Default for ZkWrites {
    fn default() -> Self {
        ZkWrites { fresh_server: true }
    }
}

/// One transaction to place: a client's write or a server's own transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkInput {
    Client {
        op_id: OpId,
        session: SessionId,
        xid: u64,
        op: Op,
        zxid: Zxid,
        time_ms: i64,
    },
    /// Applied as committed; its outcome is not observed by anyone.
    Server(TxnRecord),
}

impl Model for ZkWrites {
    type State = ZkModel;
    type Input = ZkInput;
    type Output = Outcome;

    fn init(&self) -> ZkModel {
        if self.fresh_server {
            ZkModel::fresh_server()
        } else {
            ZkModel::new()
        }
    }

    fn step(&self, state: &ZkModel, input: &ZkInput, output: Option<&Outcome>) -> Vec<ZkModel> {
        let mut next = state.clone();
        match input {
            ZkInput::Server(rec) => {
                next.apply(rec);
                vec![next]
            }
            ZkInput::Client { session, xid, op, zxid, time_ms, .. } => {
                let txn = if *op == Op::CloseSession {
                    Txn::CloseSession { session: *session, reason: CloseReason::Closed }
                } else {
                    Txn::Client { session: *session, xid: *xid, op: op.clone() }
                };
                let applied = next.apply(&TxnRecord { zxid: *zxid, time_ms: *time_ms, txn });
                match output {
                    Some(seen) if !outcome_matches(&applied.outcome, seen) => vec![],
                    _ => vec![next],
                }
            }
        }
    }

    fn describe(&self, op: &Operation<ZkInput, Outcome>) -> String {
        let out = match &op.completion {
            Completion::Returned { output, .. } => render_outcome(output),
            Completion::Indeterminate => "?".into(),
        };
        match &op.input {
            ZkInput::Client { op_id, session, op: o, .. } => {
                format!("op {} session {session} {} -> {out}", op_id.0, render_op(o))
            }
            ZkInput::Server(rec) => render_txn(rec),
        }
    }
}

impl ZkWrites {
    /// The write operations of a history, ready for [`super::check_operations`]. Operation ids
    /// are the history's op ids; server transactions get ids above every op id. Times are the
    /// records' simulated nanoseconds.
    pub fn operations(h: &History) -> Vec<Operation<ZkInput, Outcome>> {
        let mut invokes: BTreeMap<OpId, (u64, SessionId, u64, &Op, u32)> = BTreeMap::new();
        let mut completes: BTreeMap<OpId, (u64, &Outcome, Option<Zxid>)> = BTreeMap::new();
        let mut log: BTreeMap<(SessionId, u64), (Zxid, i64)> = BTreeMap::new();
        let mut closes: BTreeMap<SessionId, (Zxid, i64)> = BTreeMap::new();
        let mut server_txns: Vec<(u64, &TxnRecord)> = Vec::new();
        let mut seen: BTreeMap<Zxid, ()> = BTreeMap::new();
        let mut max_id = 0;
        for r in &h.records {
            match &r.event {
                Event::Invoke { op_id, client, session, xid, op } if op.is_write() => {
                    invokes.entry(*op_id).or_insert((r.time.0, *session, *xid, op, client.0));
                    max_id = max_id.max(op_id.0);
                }
                Event::Invoke { op_id, .. } => max_id = max_id.max(op_id.0),
                Event::Complete { op_id, outcome, zxid, .. } => {
                    completes.entry(*op_id).or_insert((r.time.0, outcome, *zxid));
                }
                Event::Commit { txn, .. } => {
                    if seen.insert(txn.zxid, ()).is_some() {
                        continue;
                    }
                    match &txn.txn {
                        Txn::Client { session, xid, .. } => {
                            log.insert((*session, *xid), (txn.zxid, txn.time_ms));
                        }
                        Txn::CloseSession { session, reason: CloseReason::Closed } => {
                            closes.insert(*session, (txn.zxid, txn.time_ms));
                        }
                        _ => server_txns.push((r.time.0, txn)),
                    }
                }
                _ => {}
            }
        }
        let mut ops = Vec::new();
        for (op_id, (call, session, xid, op, client)) in invokes {
            let logged = log.get(&(session, xid)).or(if *op == Op::CloseSession { closes.get(&session) } else { None });
            let completion = match completes.get(&op_id) {
                Some(&(t, out, zxid)) if !out.is_indeterminate() => {
                    if zxid.is_none() && !out.is_ok() {
                        continue; // a definite error without a transaction: it did not happen
                    }
                    Completion::Returned { time: t, output: out.clone() }
                }
                _ => Completion::Indeterminate,
            };
            let reply_zxid = completes.get(&op_id).and_then(|c| c.2);
            let (zxid, time_ms) =
                logged.copied().unwrap_or((reply_zxid.unwrap_or(Zxid::ZERO), (call / 1_000_000) as i64));
            ops.push(Operation {
                id: op_id.0,
                client: client as u64,
                input: ZkInput::Client { op_id, session, xid, op: op.clone(), zxid, time_ms },
                call,
                completion,
            });
        }
        for (k, (t, txn)) in server_txns.into_iter().enumerate() {
            ops.push(Operation {
                id: max_id + 1 + k as u64,
                client: 0,
                input: ZkInput::Server(txn.clone()),
                call: t,
                completion: Completion::Returned { time: t, output: Outcome::Ok { value: OpResult::Done } },
            });
        }
        ops
    }
}
