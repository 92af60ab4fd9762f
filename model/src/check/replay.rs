//! The one replay every model-based property shares: the committed log in zxid order through the
//! reference model, with each completed read evaluated at its reply zxid (reads with reply zxid
//! z are served after transaction z and before the next one). It matches each committed client
//! transaction to the operation that issued it (by session and xid; closeSession by session) and
//! compares results; it collects the watch events the model fires and the sessions it closes.

use super::explain::{render_outcome, Violation};
use super::index::HistoryIndex;
use crate::history::{chain_digest, CloseReason, Txn};
use crate::lookup::LookupMap;
use crate::op::{Op, OpResult, Outcome};
use crate::recipes::coord_log::CommittedLog;
use crate::reference::ZkModel;
use crate::types::{ErrorCode, SessionId, WatchedEvent, Zxid};
use std::collections::BTreeMap;

/// A watch notification the model says a session should get.
#[derive(Clone, Debug)]
pub struct ExpectedEvent {
    /// Position in the committed log of the transaction that fired it.
    pub log_pos: usize,
    pub session: SessionId,
    pub event: WatchedEvent,
}

/// What the replay found.
pub struct Replay {
    /// Per operation (index into `HistoryIndex::ops`): where in the committed log its
    /// transaction is — `NO_SLOT`, a log position, or a log position with `REFUSED` set for an
    /// error txn ([`Txn::Error`]) that refused it. Four bytes an operation, not two
    /// `Option<Zxid>` tables; read through [`Replay::write_zxid`] and [`Replay::refused_zxid`].
    slots: Vec<u32>,
    /// The operations given a `write_zxid`, in log order (so by ascending zxid).
    pub committed_ops: Vec<u32>,
    /// Results, ops or zxids that disagree with the log (linearizable-writes).
    pub write_violations: Vec<Violation>,
    pub writes_checked: u64,
    /// Reads whose result differs from the model at their reply zxid (sequential-reads).
    pub read_violations: Vec<Violation>,
    pub reads_checked: u64,
    /// In log order.
    pub expected_events: Vec<ExpectedEvent>,
    /// Session → (log position of its close, why).
    pub closes: BTreeMap<SessionId, (usize, CloseReason)>,
    /// The reference model's own cleanup findings (ephemerals left after a close).
    pub model_findings: Vec<Violation>,
    /// getChildren answers listing an ephemeral its session's close had deleted
    /// (ephemeral-cleanup: a listing shows no owner, so the log says whose it was).
    pub listed_after_close: Vec<Violation>,
    /// Path → (session, close zxid) of the ephemerals closes deleted, until a plain create of
    /// the path (sequential names are not reused, so those need no tracking).
    closed_ephemerals: LookupMap<String, (SessionId, Zxid)>,
    /// The chain digest after each log entry (empty when the history has no Final records).
    pub digests: Vec<u64>,
    /// The committed log's node changes and session closes for the recipe checkers, when asked
    /// for (see [`replay`]).
    pub committed: Option<CommittedLog>,
    /// True when some committed transaction names a path in the reserved `/zookeeper` subtree,
    /// the one place a fresh server's tree differs from an empty one.
    pub touches_reserved: bool,
}

const NO_SLOT: u32 = u32::MAX;
/// An entry of the replay's issuer table: no op sent this transaction.
const NO_ISSUER: u32 = u32::MAX;
/// Set in an issuer table entry when the issuer sent a different op.
const OTHER_OP: u32 = 1 << 31;
const REFUSED: u32 = 1 << 31;

impl Replay {
    /// The zxid operation `n`'s transaction committed at. An operation the leader refused with
    /// an error txn has none: it did not take effect, so it has no place in the write order.
    #[inline]
    pub fn write_zxid(&self, ix: &HistoryIndex<'_>, n: usize) -> Option<Zxid> {
        match self.slots[n] {
            NO_SLOT => None,
            p if p & REFUSED != 0 => None,
            p => Some(ix.log[p as usize].zxid),
        }
    }
}

/// A log position as a slot.
fn slot(pos: usize) -> u32 {
    u32::try_from(pos).ok().filter(|&p| p < REFUSED).expect("fewer than 2^31 committed transactions")
}

/// True when `observed` is what `expected` says, allowing a create's Stat to be absent on one
/// side (create vs create2 answer the same transaction with or without a Stat).
pub fn outcome_matches(expected: &Outcome, observed: &Outcome) -> bool {
    match (expected, observed) {
        (
            Outcome::Ok { value: OpResult::Created { path: p1, stat: s1 } },
            Outcome::Ok { value: OpResult::Created { path: p2, stat: s2 } },
        ) => p1 == p2 && (s1.is_none() || s2.is_none() || s1 == s2),
        _ => expected == observed,
    }
}

/// Runs the replay. `fresh_server` picks the model's initial tree. With `changes`, it also
/// records the committed log's node changes and session closes ([`CommittedLog`]) as it goes,
/// so the recipe checkers need not replay the log a second time.
pub fn replay(ix: &HistoryIndex<'_>, fresh_server: bool, changes: bool) -> Replay {
    // Digests only matter when some server reported its final digest.
    let want_digests = !ix.finals.is_empty();
    let mut model = if fresh_server { ZkModel::fresh_server() } else { ZkModel::new() };
    let mut out = Replay {
        slots: vec![NO_SLOT; ix.ops.len()],
        committed_ops: Vec::with_capacity(ix.log.len()),
        write_violations: Vec::new(),
        writes_checked: 0,
        read_violations: Vec::new(),
        reads_checked: 0,
        expected_events: Vec::new(),
        closes: BTreeMap::new(),
        model_findings: Vec::new(),
        listed_after_close: Vec::new(),
        closed_ephemerals: LookupMap::new(),
        digests: Vec::with_capacity(ix.log.len()),
        committed: changes.then(|| CommittedLog::empty(ix.log.len() as u64)),
        touches_reserved: false,
    };
    // The closeSession op each session invoked (the last one, if it retried).
    let mut close_ops: BTreeMap<SessionId, usize> = BTreeMap::new();
    for (n, o) in ix.ops.iter().enumerate() {
        if o.closes_session() {
            close_ops.insert(ix.session_of(o), n);
        }
    }
    // Listed in completion order (the flags of each op are read there; the sort below orders
    // them by (zxid, op) whatever the input order). Room for every op (untouched capacity is
    // free): no copies while it grows.
    let mut reads: Vec<(Zxid, usize)> = Vec::with_capacity(ix.ops.len());
    for n in ix.completions.iter().map(|&n| n as usize) {
        let o = &ix.ops[n];
        if o.is_write() {
            continue;
        }
        if let (Some(_), Some(z)) = (o.definite(), o.reply_zxid()) {
            reads.push((z, n));
        }
    }
    reads.sort_unstable();
    // The op that issued each client or error transaction (by session and xid), and whether it
    // sent that very op, looked up in one tight pass ahead of the replay: the lookups are
    // independent of each other, so their cache misses (xid table, op, the op in the records)
    // overlap here instead of stalling the replay one at a time.
    let issuers: Vec<u32> = ix
        .log
        .iter()
        .map(|c| {
            let (session, xid, sent) = match &c.txn.txn {
                Txn::Client { session, xid, op } => (*session, *xid, Some(op)),
                Txn::Error { session, xid, .. } => (*session, *xid, None),
                _ => return NO_ISSUER,
            };
            match ix.op_by_session_xid(session, xid) {
                None => NO_ISSUER,
                Some(n) => {
                    let k = u32::try_from(n).ok().filter(|&k| k < OTHER_OP).expect("fewer than 2^31 operations");
                    if sent.is_some_and(|op| ix.ops[n].op != op) {
                        k | OTHER_OP
                    } else {
                        k
                    }
                }
            }
        })
        .collect();
    let max = ix.max_committed();
    let mut next_read = 0;
    let mut digest = 0u64;
    for (pos, c) in ix.log.iter().enumerate() {
        let z = c.txn.zxid;
        while next_read < reads.len() && reads[next_read].0 < z {
            serve_read(ix, &mut model, reads[next_read].1, &mut out);
            next_read += 1;
        }
        if want_digests {
            digest = chain_digest(digest, c.txn);
            out.digests.push(digest);
        }
        if let Txn::CreateSession { session: SessionId(0), .. } = c.txn.txn {
            // The model refuses session 0 (it names no session); say so instead of applying it.
            out.write_violations.push(
                Violation::new("a createSession transaction names session 0, which is no session")
                    .at(z)
                    .record(ix.commit_ref(c)),
            );
            continue;
        }
        let closing = match &c.txn.txn {
            Txn::CloseSession { session, .. } => Some(*session),
            Txn::Client { session, op: Op::CloseSession, .. } => Some(*session),
            _ => None,
        };
        let doomed = closing.map(|s| model.ephemerals_of(s)).unwrap_or_default();
        let mut applied = model.apply(c.txn);
        if let Some(log) = &mut out.committed {
            log.record(ix.history, &model, c.rec as usize, c.txn, std::mem::take(&mut applied.triggers));
            out.touches_reserved |= touches_reserved(&c.txn.txn);
        }
        if let Some(s) = closing {
            for p in doomed {
                out.closed_ephemerals.insert(p, (s, z));
            }
        }
        if let Txn::Client { op, .. } = &c.txn.txn {
            forget_recreated(op, &mut out.closed_ephemerals);
        }
        for (session, event) in applied.events {
            out.expected_events.push(ExpectedEvent { log_pos: pos, session, event });
        }
        let issuer = match &c.txn.txn {
            Txn::Client { session, xid, op } => {
                if *op == Op::CloseSession {
                    out.closes.entry(*session).or_insert((pos, CloseReason::Closed));
                }
                match issuers[pos] {
                    NO_ISSUER => {
                        out.write_violations.push(
                            Violation::new(format!(
                                "a transaction for session {session} xid {xid} committed, but no client invoked it"
                            ))
                            .at(z)
                            .record(ix.commit_ref(c)),
                        );
                        None
                    }
                    k => {
                        let n = (k & !OTHER_OP) as usize;
                        if k & OTHER_OP != 0 {
                            out.write_violations.push(
                            Violation::new(format!(
                                "the transaction committed for session {session} xid {xid} is not the operation the client sent"
                            ))
                            .at(z)
                            .op(ix.op_ref(n))
                            .record(ix.commit_ref(c))
                            .expected(super::explain::render_op(ix.ops[n].op))
                            .observed(super::explain::render_op(op)),
                        );
                            None
                        } else {
                            Some(n)
                        }
                    }
                }
            }
            Txn::CloseSession { session, reason } => {
                out.closes.entry(*session).or_insert((pos, *reason));
                let left = model.ephemerals_of(*session);
                if !left.is_empty() {
                    out.model_findings.push(
                        Violation::new(format!(
                            "the reference model kept ephemerals of session {session} after closing it"
                        ))
                        .at(z)
                        .record(ix.commit_ref(c))
                        .observed(left.join(", ")),
                    );
                }
                match reason {
                    CloseReason::Closed => close_ops.get(session).copied(),
                    CloseReason::Expired => None,
                }
            }
            Txn::Error { session, xid, code } => {
                let issuer = Some(issuers[pos]).filter(|&k| k != NO_ISSUER).map(|k| (k & !OTHER_OP) as usize);
                refused(ix, pos, issuer, *session, *xid, *code, &mut out);
                None
            }
            _ => None,
        };
        if let Some(n) = issuer {
            let o = &ix.ops[n];
            if out.slots[n] != NO_SLOT {
                out.write_violations.push(
                    Violation::new(format!("op {} committed twice", ix.op_id_of(o).0))
                        .at(z)
                        .op(ix.op_ref(n))
                        .record(ix.commit_ref(c)),
                );
                continue;
            }
            out.slots[n] = slot(pos);
            out.committed_ops.push(u32::try_from(n).expect("fewer than 2^32 operations"));
            out.writes_checked += 1;
            if let Some(observed) = o.definite() {
                if !outcome_matches(&applied.outcome, observed) {
                    out.write_violations.push(
                        Violation::new(format!(
                            "op {} got a result that replaying the committed log in zxid order does not give",
                            ix.op_id_of(o).0
                        ))
                        .at(z)
                        .op(ix.op_ref(n))
                        .record(ix.commit_ref(c))
                        .expected(render_outcome(&applied.outcome))
                        .observed(render_outcome(observed)),
                    );
                }
            }
        }
    }
    while next_read < reads.len() {
        let (z, n) = reads[next_read];
        if z > max {
            out.read_violations.push(
                Violation::new(format!(
                    "op {} was answered at zxid {z}, beyond anything ever committed",
                    ix.op_id_of(&ix.ops[n]).0
                ))
                .at(z)
                .op(ix.op_ref(n))
                .expected(format!("a reply zxid ≤ {max}, the last committed")),
            );
        } else {
            serve_read(ix, &mut model, n, &mut out);
        }
        next_read += 1;
    }
    out
}

/// Matches an error txn to the operation it refused. The operation did not take effect: its
/// client may have seen the error or an indeterminate outcome, never a success.
fn refused(
    ix: &HistoryIndex<'_>,
    pos: usize,
    issuer: Option<usize>,
    session: SessionId,
    xid: u64,
    code: ErrorCode,
    out: &mut Replay,
) {
    let c = &ix.log[pos];
    let z = c.txn.zxid;
    let Some(n) = issuer else {
        out.write_violations.push(
            Violation::new(format!(
                "an error transaction for session {session} xid {xid} committed, but no client invoked it"
            ))
            .at(z)
            .record(ix.commit_ref(c)),
        );
        return;
    };
    let o = &ix.ops[n];
    if !o.is_write() {
        out.write_violations.push(
            Violation::new(format!("an error transaction refused op {}, which is not a write", ix.op_id_of(o).0))
                .at(z)
                .op(ix.op_ref(n))
                .record(ix.commit_ref(c)),
        );
        return;
    }
    if out.slots[n] != NO_SLOT {
        out.write_violations.push(
            Violation::new(format!("op {} committed twice", ix.op_id_of(o).0))
                .at(z)
                .op(ix.op_ref(n))
                .record(ix.commit_ref(c)),
        );
        return;
    }
    out.slots[n] = slot(pos) | REFUSED;
    out.writes_checked += 1;
    let expected = Outcome::Err { code };
    if let Some(observed) = o.definite() {
        if *observed != expected {
            out.write_violations.push(
                Violation::new(format!(
                    "op {} got a result, but the leader refused it with an error transaction",
                    ix.op_id_of(o).0
                ))
                .at(z)
                .op(ix.op_ref(n))
                .record(ix.commit_ref(c))
                .expected(render_outcome(&expected))
                .observed(render_outcome(observed)),
            );
        }
    }
}

/// True when `txn` names a path in (or beside: any path starting `/zookeeper`) the reserved
/// subtree, where a fresh server's tree and an empty one differ.
fn touches_reserved(txn: &Txn) -> bool {
    let reserved = |p: &str| p.starts_with("/zookeeper");
    match txn {
        Txn::Client { op: Op::Multi { ops }, .. } => ops.iter().any(|m| reserved(m.path())),
        Txn::Client { op, .. } => op.path().is_some_and(reserved),
        Txn::DeleteContainer { path } | Txn::DeleteTtl { path } => reserved(path),
        Txn::CreateSession { .. } | Txn::CloseSession { .. } | Txn::Error { .. } => false,
    }
}

/// Drops the closed-ephemeral entries a plain create in `op` makes current again.
fn forget_recreated(op: &Op, closed: &mut LookupMap<String, (SessionId, Zxid)>) {
    if closed.is_empty() {
        return;
    }
    match op {
        Op::Create { path, mode, .. } if !mode.is_sequential() => {
            closed.remove(path);
        }
        Op::Multi { ops } => {
            for m in ops {
                if let crate::op::MultiOp::Create { path, mode, .. } = m {
                    if !mode.is_sequential() {
                        closed.remove(path);
                    }
                }
            }
        }
        _ => {}
    }
}

fn serve_read(ix: &HistoryIndex<'_>, model: &mut ZkModel, n: usize, out: &mut Replay) {
    let o = &ix.ops[n];
    let Some(observed) = o.definite() else { return };
    let view = model.read_view(ix.session_of(o), o.op);
    out.reads_checked += 1;
    if !view.matches(observed) {
        let expected = view.to_outcome();
        let z = o.reply_zxid().unwrap_or(Zxid::ZERO);
        if let (Op::GetChildren { path, .. }, Outcome::Ok { value: OpResult::Children { children, .. } }) =
            (o.op, observed)
        {
            let held: &[std::sync::Arc<str>] = match &expected {
                Outcome::Ok { value: OpResult::Children { children, .. } } => children,
                _ => &[],
            };
            for kid in children.iter().filter(|k| !held.contains(k)) {
                let full = if path == "/" { format!("/{kid}") } else { format!("{path}/{kid}") };
                if let Some(&(s, cz)) = out.closed_ephemerals.get(&full).filter(|(_, cz)| *cz <= z) {
                    out.listed_after_close.push(
                        Violation::new(format!(
                            "op {} listed {full}, an ephemeral of session {s}, at zxid {z}, after the session closed at {cz}",
                            ix.op_id_of(o).0
                        ))
                        .at(z)
                        .op(ix.op_ref(n))
                        .expected("the ephemeral deleted by the close transaction"),
                    );
                }
            }
        }
        out.read_violations.push(
            Violation::new(format!(
                "op {} read something the committed state at its reply zxid {z} does not hold",
                ix.op_id_of(o).0
            ))
            .at(z)
            .op(ix.op_ref(n))
            .expected(render_outcome(&expected))
            .observed(render_outcome(observed)),
        );
    }
}
