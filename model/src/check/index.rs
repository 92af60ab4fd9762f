//! One pass over a history that gathers what every property needs (operations with their
//! completions, the committed log in zxid order, watch and session records, finals) and flags
//! malformed input (a completion without an invocation, a duplicated op id, time running
//! backwards) as `well-formed` violations instead of panicking.

use super::explain::{render_op, render_outcome, render_record, render_txn, OpRef, RecordRef, Violation};
use crate::history::{Event, History, TxnRecord};
use crate::op::{Op, Outcome};
use crate::types::{ClientId, OpId, ServerId, SessionId, SessionState, SimTime, WatchedEvent, Zxid};
use std::collections::BTreeMap;

/// A client operation: its invocation and, if it came, its completion.
#[derive(Clone, Debug)]
pub struct OpView<'h> {
    pub op_id: OpId,
    pub client: ClientId,
    pub session: SessionId,
    pub xid: u64,
    pub op: &'h Op,
    pub invoked: SimTime,
    pub complete: Option<Completed<'h>>,
}

/// How an operation completed.
#[derive(Clone, Copy, Debug)]
pub struct Completed<'h> {
    pub time: SimTime,
    pub rec: usize,
    pub outcome: &'h Outcome,
    pub zxid: Option<Zxid>,
    pub server: Option<ServerId>,
}

impl OpView<'_> {
    /// The outcome, if it completed with anything but Indeterminate.
    pub fn definite(&self) -> Option<&Outcome> {
        self.complete.map(|c| c.outcome).filter(|o| !o.is_indeterminate())
    }

    /// The reply zxid, if a reply came.
    pub fn reply_zxid(&self) -> Option<Zxid> {
        self.complete.and_then(|c| c.zxid)
    }
}

/// A committed transaction and where it was recorded.
#[derive(Clone, Copy, Debug)]
pub struct Committed<'h> {
    pub rec: usize,
    pub server: ServerId,
    pub txn: &'h TxnRecord,
}

/// Everything the properties read, indexed.
pub struct HistoryIndex<'h> {
    pub history: &'h History,
    /// In invocation order.
    pub ops: Vec<OpView<'h>>,
    pub by_session_xid: BTreeMap<(SessionId, u64), usize>,
    /// The committed log: the first transaction recorded at each zxid, sorted by zxid.
    pub log: Vec<Committed<'h>>,
    /// Commit records at a zxid that already held a different transaction: (first, second).
    pub conflicts: Vec<(Committed<'h>, Committed<'h>)>,
    /// Commit records whose zxid was not above every zxid committed before them.
    pub out_of_order: Vec<(Committed<'h>, Zxid)>,
    /// (record, server, last zxid, digest).
    pub finals: Vec<(usize, ServerId, Zxid, u64)>,
    /// (record, client, session, event).
    pub watches: Vec<(usize, ClientId, SessionId, &'h WatchedEvent)>,
    /// (record, client, session, state, timeout).
    pub sessions: Vec<(usize, ClientId, SessionId, SessionState, Option<u64>)>,
    /// Malformed-input findings.
    pub problems: Vec<Violation>,
}

impl<'h> HistoryIndex<'h> {
    /// Indexes `history`. Never fails: malformed records become `problems` and are skipped.
    pub fn build(history: &'h History) -> HistoryIndex<'h> {
        let mut ix = HistoryIndex {
            history,
            ops: Vec::new(),
            by_session_xid: BTreeMap::new(),
            log: Vec::new(),
            conflicts: Vec::new(),
            out_of_order: Vec::new(),
            finals: Vec::new(),
            watches: Vec::new(),
            sessions: Vec::new(),
            problems: Vec::new(),
        };
        let mut by_id: BTreeMap<OpId, usize> = BTreeMap::new();
        let mut log: BTreeMap<Zxid, Committed<'h>> = BTreeMap::new();
        let mut max_committed = Zxid::ZERO;
        let mut last_time = SimTime(0);
        for (i, r) in history.records.iter().enumerate() {
            if r.time < last_time {
                ix.problems.push(
                    Violation::new(format!("record #{i} goes back in time, from {last_time} to {}", r.time))
                        .record(render_record(i, r)),
                );
            }
            last_time = last_time.max(r.time);
            match &r.event {
                Event::Invoke { op_id, client, session, xid, op } => {
                    if by_id.contains_key(op_id) {
                        ix.problems.push(
                            Violation::new(format!("op id {} is invoked twice; the second is ignored", op_id.0))
                                .record(render_record(i, r)),
                        );
                        continue;
                    }
                    let n = ix.ops.len();
                    by_id.insert(*op_id, n);
                    if session.0 != 0 {
                        if let Some(&prev) = ix.by_session_xid.get(&(*session, *xid)) {
                            let p = &ix.ops[prev];
                            ix.problems.push(
                                Violation::new(format!(
                                    "session {session} uses xid {xid} twice (ops {} and {}); the log cannot tell them apart",
                                    p.op_id.0, op_id.0
                                ))
                                .record(render_record(i, r)),
                            );
                        } else {
                            ix.by_session_xid.insert((*session, *xid), n);
                        }
                    }
                    ix.ops.push(OpView {
                        op_id: *op_id,
                        client: *client,
                        session: *session,
                        xid: *xid,
                        op,
                        invoked: r.time,
                        complete: None,
                    });
                }
                Event::Complete { op_id, outcome, zxid, server } => {
                    let Some(&n) = by_id.get(op_id) else {
                        ix.problems.push(
                            Violation::new(format!("op {} completes but was never invoked", op_id.0))
                                .record(render_record(i, r)),
                        );
                        continue;
                    };
                    if ix.ops[n].complete.is_some() {
                        ix.problems.push(
                            Violation::new(format!("op {} completes twice; the second is ignored", op_id.0))
                                .record(render_record(i, r)),
                        );
                        continue;
                    }
                    ix.ops[n].complete =
                        Some(Completed { time: r.time, rec: i, outcome, zxid: *zxid, server: *server });
                }
                Event::Commit { server, txn } => {
                    let c = Committed { rec: i, server: *server, txn };
                    if txn.zxid <= max_committed && txn.zxid != Zxid::ZERO {
                        match log.get(&txn.zxid) {
                            Some(first) if first.txn == txn => {}
                            _ => ix.out_of_order.push((c, max_committed)),
                        }
                    }
                    max_committed = max_committed.max(txn.zxid);
                    match log.get(&txn.zxid) {
                        None => {
                            log.insert(txn.zxid, c);
                        }
                        Some(first) if first.txn == txn => {}
                        Some(first) => ix.conflicts.push((*first, c)),
                    }
                }
                Event::Final { server, last_zxid, digest } => ix.finals.push((i, *server, *last_zxid, *digest)),
                Event::Watch { client, session, event } => ix.watches.push((i, *client, *session, event)),
                Event::Session { client, session, state, timeout_ms, .. } => {
                    ix.sessions.push((i, *client, *session, *state, *timeout_ms))
                }
                Event::Fault { .. } | Event::Role { .. } | Event::Recipe { .. } => {}
            }
        }
        ix.log = log.into_values().collect();
        ix
    }

    /// An operation as a violation shows it.
    pub fn op_ref(&self, n: usize) -> OpRef {
        let o = &self.ops[n];
        OpRef {
            op_id: o.op_id,
            client: o.client,
            session: o.session,
            xid: o.xid,
            op: render_op(o.op),
            invoked: o.invoked,
            completed: o.complete.map(|c| c.time),
            server: o.complete.and_then(|c| c.server),
            zxid: o.reply_zxid(),
            outcome: o.complete.map_or("no completion".into(), |c| render_outcome(c.outcome)),
        }
    }

    /// A record by index, as a violation shows it.
    pub fn record_ref(&self, i: usize) -> RecordRef {
        render_record(i, &self.history.records[i])
    }

    /// A committed transaction as a violation shows it.
    pub fn commit_ref(&self, c: &Committed<'_>) -> RecordRef {
        RecordRef {
            index: c.rec,
            time: self.history.records[c.rec].time,
            what: format!("{} commits {}", c.server, render_txn(c.txn)),
        }
    }

    /// The position of `zxid` in the committed log.
    pub fn log_position(&self, zxid: Zxid) -> Option<usize> {
        self.log.binary_search_by_key(&zxid, |c| c.txn.zxid).ok()
    }

    /// The highest committed zxid (zero for an empty log).
    pub fn max_committed(&self) -> Zxid {
        self.log.last().map_or(Zxid::ZERO, |c| c.txn.zxid)
    }
}
