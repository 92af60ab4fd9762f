//! One pass over a history that gathers what every property needs (operations with their
//! completions, the committed log in zxid order, watch and session records, finals) and flags
//! malformed input (a completion without an invocation, a duplicated op id, time running
//! backwards) as `well-formed` violations instead of panicking.

use super::explain::{render_op, render_outcome, render_record, render_txn, OpRef, RecordRef, Violation};
use crate::history::{Event, History, TxnRecord};
use crate::op::{Op, Outcome};
use crate::types::{ClientId, OpId, ServerId, SessionId, SessionState, SimTime, WatchedEvent, Zxid};
use std::collections::BTreeMap;

/// A client operation: its invocation and, if it came, its completion. Compact (48 bytes, one
/// per operation of a history of millions): what few passes need (the op id, client, invocation
/// and completion times, server) is read back from the records (`HistoryIndex::op_id_of`,
/// `invoked_of`, `op_ref`); the session is `HistoryIndex::session_of`.
#[derive(Clone, Debug)]
pub struct OpView<'h> {
    pub op: &'h Op,
    /// The completion's outcome; None until a completion came.
    outcome: Option<&'h Outcome>,
    pub xid: u64,
    /// The reply zxid (meaningful with `HAS_ZXID`).
    zxid: Zxid,
    /// Record index of the invocation.
    pub inv_rec: u32,
    /// Record index of the completion (meaningful once `outcome` is set).
    done_rec: u32,
    /// Dense index of the session (into `HistoryIndex::sessions_seen`).
    pub sidx: u32,
    flags: u8,
}

const HAS_ZXID: u8 = 1;
const HAS_SERVER: u8 = 2;
/// `op.is_write()`, and the completion's outcome is definite / Ok: kept as bits so the passes
/// over every operation need not reach into the records for them.
const IS_WRITE: u8 = 4;
const DEFINITE: u8 = 8;
const ACKED: u8 = 16;
/// The op is closeSession.
const CLOSES: u8 = 32;

/// How an operation completed.
#[derive(Clone, Copy, Debug)]
pub struct Completed<'h> {
    /// Record index of the completion.
    pub rec: usize,
    pub outcome: &'h Outcome,
    /// True when a server answered (the completion names one).
    pub replied: bool,
}

impl<'h> OpView<'h> {
    /// The completion, if it came.
    #[inline]
    pub fn complete(&self) -> Option<Completed<'h>> {
        self.outcome.map(|outcome| Completed {
            rec: self.done_rec as usize,
            outcome,
            replied: self.flags & HAS_SERVER != 0,
        })
    }

    /// The outcome, if it completed with anything but Indeterminate.
    #[inline]
    pub fn definite(&self) -> Option<&'h Outcome> {
        if self.flags & DEFINITE != 0 {
            self.outcome
        } else {
            None
        }
    }

    /// True when it completed definitely and Ok (an acknowledged write, for a write).
    #[inline]
    pub fn acked(&self) -> bool {
        self.flags & ACKED != 0
    }

    /// True for a closeSession op.
    #[inline]
    pub fn closes_session(&self) -> bool {
        self.flags & CLOSES != 0
    }

    /// `op.is_write()`.
    #[inline]
    pub fn is_write(&self) -> bool {
        self.flags & IS_WRITE != 0
    }

    /// The reply zxid, if a reply came.
    #[inline]
    pub fn reply_zxid(&self) -> Option<Zxid> {
        if self.outcome.is_some() && self.flags & HAS_ZXID != 0 {
            Some(self.zxid)
        } else {
            None
        }
    }
}

/// A committed transaction and where it was recorded.
#[derive(Clone, Copy, Debug)]
pub struct Committed<'h> {
    /// Record index.
    pub rec: u32,
    pub server: ServerId,
    pub txn: &'h TxnRecord,
    /// `txn.zxid`, kept here so sorting and searching the log need not reach into the records.
    pub zxid: Zxid,
}

/// Everything the properties read, indexed.
pub struct HistoryIndex<'h> {
    pub history: &'h History,
    /// In invocation order.
    pub ops: Vec<OpView<'h>>,
    /// The completed operations (op indices) in the order of their completion records.
    pub completions: Vec<u32>,
    /// (session, xid, op index), sorted: the first op of each (session, xid) whose xid is too
    /// large for the session's table in `xid_tables`.
    by_session_xid: Vec<(SessionId, u64, usize)>,
    /// Per session (dense index), when its xids are small: xid → op index + 1 (0: none).
    xid_tables: Vec<Vec<u32>>,
    /// Every session an op, watch or session record names, sorted; `OpView::sidx` indexes it.
    pub sessions_seen: Vec<SessionId>,
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
    /// True when time never runs backwards: record order is then time order (ops are in
    /// invocation-time order, `completions` in completion-time order).
    pub monotone: bool,
}

impl<'h> HistoryIndex<'h> {
    /// Indexes `history`. Never fails: malformed records become `problems` and are skipped.
    pub fn build(history: &'h History) -> HistoryIndex<'h> {
        let mut ix = HistoryIndex {
            history,
            ops: Vec::new(),
            completions: Vec::new(),
            by_session_xid: Vec::new(),
            xid_tables: Vec::new(),
            sessions_seen: Vec::new(),
            log: Vec::new(),
            conflicts: Vec::new(),
            out_of_order: Vec::new(),
            finals: Vec::new(),
            watches: Vec::new(),
            sessions: Vec::new(),
            problems: Vec::new(),
            monotone: true,
        };
        // Op ids are usually dense (a recorder counts them): a table, with a map for the rest.
        let dense_limit = history.records.len() as u64 * 2 + 16;
        // Room for every dense id up front (untouched capacity is free), so the table grows in
        // place instead of being copied a doubling at a time.
        let mut by_id_dense: Vec<u32> = Vec::with_capacity(dense_limit as usize);
        let mut by_id_sparse: BTreeMap<OpId, usize> = BTreeMap::new();
        const _: () = assert!(std::mem::size_of::<OpView<'static>>() <= 48);
        // Sized up front for the worst case (every record one of them): growing these tables a
        // doubling at a time copies them and touches fresh pages twice, and a counting pass
        // reads the whole history once more. Capacity never written is never touched, so it
        // costs address space, not memory.
        let n_records = history.records.len();
        ix.ops.reserve_exact(n_records);
        ix.completions.reserve_exact(n_records);
        let mut commits: Vec<Committed<'h>> = Vec::with_capacity(n_records);
        let mut max_committed = Zxid::ZERO;
        let mut last_time = SimTime(0);
        // A map, not a sorted list: millions of records name a few thousand sessions. Each gets
        // a provisional number in order of appearance (renumbered in session order at the end).
        // A small direct-mapped table of sessions already added skips the map's search for
        // nearly all.
        let mut session_ids: BTreeMap<SessionId, u32> = BTreeMap::new();
        let mut added: Vec<Option<(SessionId, u32)>> = vec![None; 4096];
        let mut note_session = |s: SessionId| -> u32 {
            let slot = (s.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52) as usize;
            match added[slot] {
                Some((t, id)) if t == s => id,
                _ => {
                    let next = u32::try_from(session_ids.len()).expect("fewer than 2^32 sessions");
                    let id = *session_ids.entry(s).or_insert(next);
                    added[slot] = Some((s, id));
                    id
                }
            }
        };
        for (i, r) in history.records.iter().enumerate() {
            if r.time < last_time {
                ix.monotone = false;
                ix.problems.push(
                    Violation::new(format!("record #{i} goes back in time, from {last_time} to {}", r.time))
                        .record(render_record(i, r)),
                );
            }
            last_time = last_time.max(r.time);
            match &r.event {
                Event::Invoke { op_id, session, xid, op, .. } => {
                    let n = ix.ops.len();
                    let fresh = if op_id.0 < dense_limit {
                        let k = op_id.0 as usize;
                        if by_id_dense.len() <= k {
                            by_id_dense.resize(k + 1, u32::MAX);
                        }
                        let fresh = by_id_dense[k] == u32::MAX;
                        if fresh {
                            by_id_dense[k] = u32::try_from(n).expect("fewer than 2^32 operations");
                        }
                        fresh
                    } else {
                        by_id_sparse.insert(*op_id, n).is_none()
                    };
                    if !fresh {
                        ix.problems.push(
                            Violation::new(format!("op id {} is invoked twice; the second is ignored", op_id.0))
                                .record(render_record(i, r)),
                        );
                        continue;
                    }
                    let sidx = note_session(*session);
                    ix.ops.push(OpView {
                        op,
                        outcome: None,
                        xid: *xid,
                        zxid: Zxid::ZERO,
                        inv_rec: u32::try_from(i).expect("fewer than 2^32 records"),
                        done_rec: 0,
                        sidx,
                        flags: if op.is_write() { IS_WRITE } else { 0 }
                            | if matches!(op, Op::CloseSession) { CLOSES } else { 0 },
                    });
                }
                Event::Complete { op_id, outcome, zxid, server } => {
                    let found = if op_id.0 < dense_limit {
                        by_id_dense.get(op_id.0 as usize).copied().filter(|&n| n != u32::MAX).map(|n| n as usize)
                    } else {
                        by_id_sparse.get(op_id).copied()
                    };
                    let Some(n) = found else {
                        ix.problems.push(
                            Violation::new(format!("op {} completes but was never invoked", op_id.0))
                                .record(render_record(i, r)),
                        );
                        continue;
                    };
                    let o = &mut ix.ops[n];
                    if o.outcome.is_some() {
                        ix.problems.push(
                            Violation::new(format!("op {} completes twice; the second is ignored", op_id.0))
                                .record(render_record(i, r)),
                        );
                        continue;
                    }
                    ix.completions.push(n as u32);
                    o.outcome = Some(outcome);
                    o.done_rec = u32::try_from(i).expect("fewer than 2^32 records");
                    o.zxid = zxid.unwrap_or(Zxid::ZERO);
                    o.flags |= if zxid.is_some() { HAS_ZXID } else { 0 }
                        | if server.is_some() { HAS_SERVER } else { 0 }
                        | if outcome.is_indeterminate() { 0 } else { DEFINITE }
                        | if matches!(outcome, Outcome::Ok { .. }) { ACKED } else { 0 };
                }
                Event::Commit { server, txn } => {
                    let c = Committed { rec: i as u32, server: *server, txn, zxid: txn.zxid };
                    if txn.zxid <= max_committed && txn.zxid != Zxid::ZERO {
                        // Re-recording the very same transaction is harmless; anything else at or
                        // below the highest commit so far is out of order.
                        let same = commits.iter().rev().take(64).any(|p| p.txn == txn);
                        if !same {
                            ix.out_of_order.push((c, max_committed));
                        }
                    }
                    max_committed = max_committed.max(txn.zxid);
                    commits.push(c);
                }
                Event::Final { server, last_zxid, digest } => ix.finals.push((i, *server, *last_zxid, *digest)),
                Event::Watch { client, session, event } => {
                    let _ = note_session(*session);
                    ix.watches.push((i, *client, *session, event))
                }
                Event::Session { client, session, state, timeout_ms, .. } => {
                    let _ = note_session(*session);
                    ix.sessions.push((i, *client, *session, *state, *timeout_ms))
                }
                Event::Fault { .. } | Event::Role { .. } | Event::Recipe { .. } => {}
            }
        }
        // The committed log: the first transaction recorded at each zxid (stable sort keeps
        // record order among equal zxids); a different one at the same zxid is a conflict.
        if !commits.is_sorted_by_key(|c| c.zxid) {
            commits.sort_by_key(|c| c.zxid);
        }
        let conflicts = &mut ix.conflicts;
        commits.dedup_by(|c, first| {
            let same_zxid = first.zxid == c.zxid;
            if same_zxid && first.txn != c.txn {
                conflicts.push((*first, *c));
            }
            same_zxid
        });
        ix.log = commits;
        // Sessions in order; provisional numbers → dense indexes.
        let mut renumber = vec![0u32; session_ids.len()];
        for (k, &id) in session_ids.values().enumerate() {
            renumber[id as usize] = k as u32;
        }
        ix.sessions_seen = session_ids.into_keys().collect();
        let mut per_session = vec![0usize; ix.sessions_seen.len()];
        for o in &mut ix.ops {
            o.sidx = renumber[o.sidx as usize];
            per_session[o.sidx as usize] += 1;
        }
        // (session, xid) → op: keep the first; a reused xid is malformed. Clients number their
        // requests 1, 2, 3…: a table per session makes the lookup O(1). Sessions with sparse
        // xids keep the rest in a sorted list (bounded memory).
        ix.xid_tables = vec![Vec::new(); ix.sessions_seen.len()];
        let mut reused: Vec<(SessionId, u64, usize, usize)> = Vec::new();
        for (n, o) in ix.ops.iter().enumerate() {
            let session = ix.sessions_seen[o.sidx as usize];
            if session.0 == 0 {
                continue;
            }
            let (k, x) = (o.sidx as usize, o.xid);
            if x as usize <= per_session[k] * 4 + 16 {
                let t = &mut ix.xid_tables[k];
                if t.is_empty() {
                    // Clients number their requests 1, 2, 3…: room for them all at once.
                    t.reserve_exact(per_session[k] + 1);
                }
                if t.len() <= x as usize {
                    t.resize(x as usize + 1, 0);
                }
                match t[x as usize] {
                    0 => t[x as usize] = n as u32 + 1,
                    first => reused.push((session, x, first as usize - 1, n)),
                }
            } else {
                ix.by_session_xid.push((session, x, n));
            }
        }
        ix.by_session_xid.sort_unstable();
        ix.by_session_xid.dedup_by(|e, first| {
            let same = (e.0, e.1) == (first.0, first.1);
            if same {
                reused.push((e.0, e.1, first.2, e.2));
            }
            same
        });
        reused.sort_unstable_by_key(|&(s, x, _, n)| (s, x, n));
        for (s, x, prev, n) in reused {
            let (p, o) = (&ix.ops[prev], &ix.ops[n]);
            ix.problems.push(Violation::new(format!(
                "session {s} uses xid {x} twice (ops {} and {}); the log cannot tell them apart",
                ix.op_id_of(p).0,
                ix.op_id_of(o).0
            )));
        }
        ix
    }

    /// The op that sent `xid` on `session` (the first, if it was reused).
    pub fn op_by_session_xid(&self, session: SessionId, xid: u64) -> Option<usize> {
        if let Some(k) = self.session_index(session) {
            if let Some(&n) = self.xid_tables[k].get(xid as usize) {
                if n != 0 {
                    return Some(n as usize - 1);
                }
            }
        }
        let k = self.by_session_xid.partition_point(|&(s, x, _)| (s, x) < (session, xid));
        self.by_session_xid.get(k).filter(|&&(s, x, _)| s == session && x == xid).map(|&(_, _, n)| n)
    }

    /// The id of an operation (from its Invoke record: only explanations need it).
    pub fn op_id_of(&self, o: &OpView<'_>) -> OpId {
        match &self.history.records[o.inv_rec as usize].event {
            Event::Invoke { op_id, .. } => *op_id,
            _ => unreachable!("an op is indexed from its Invoke record"),
        }
    }

    /// When an operation was invoked (the time of its Invoke record).
    #[inline]
    pub fn invoked_of(&self, o: &OpView<'_>) -> SimTime {
        self.history.records[o.inv_rec as usize].time
    }

    /// The session of an operation.
    #[inline]
    pub fn session_of(&self, o: &OpView<'_>) -> SessionId {
        self.sessions_seen[o.sidx as usize]
    }

    /// The dense index of `session`, if the history names it.
    pub fn session_index(&self, session: SessionId) -> Option<usize> {
        self.sessions_seen.binary_search(&session).ok()
    }

    /// An operation as a violation shows it.
    pub fn op_ref(&self, n: usize) -> OpRef {
        let o = &self.ops[n];
        let client = match &self.history.records[o.inv_rec as usize].event {
            Event::Invoke { client, .. } => *client,
            _ => unreachable!("an op is indexed from its Invoke record"),
        };
        let server = o.complete().and_then(|c| match &self.history.records[c.rec].event {
            Event::Complete { server, .. } => *server,
            _ => unreachable!("a completion is indexed from its Complete record"),
        });
        OpRef {
            op_id: self.op_id_of(o),
            client,
            session: self.session_of(o),
            xid: o.xid,
            op: render_op(o.op),
            invoked: self.invoked_of(o),
            completed: o.complete().map(|c| self.history.records[c.rec].time),
            server,
            zxid: o.reply_zxid(),
            outcome: o.complete().map_or("no completion".into(), |c| render_outcome(c.outcome)),
        }
    }

    /// A record by index, as a violation shows it.
    pub fn record_ref(&self, i: usize) -> RecordRef {
        render_record(i, &self.history.records[i])
    }

    /// A committed transaction as a violation shows it.
    pub fn commit_ref(&self, c: &Committed<'_>) -> RecordRef {
        RecordRef {
            index: c.rec as usize,
            time: self.history.records[c.rec as usize].time,
            what: format!("{} commits {}", c.server, render_txn(c.txn)),
        }
    }

    /// The position of `zxid` in the committed log.
    pub fn log_position(&self, zxid: Zxid) -> Option<usize> {
        self.log.binary_search_by_key(&zxid, |c| c.zxid).ok()
    }

    /// The highest committed zxid (zero for an empty log).
    pub fn max_committed(&self) -> Zxid {
        self.log.last().map_or(Zxid::ZERO, |c| c.zxid)
    }
}
