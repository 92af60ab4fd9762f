//! `linearizable-writes`: the service's zxids are a witness order for its writes; this checks the
//! witness instead of trusting it.
//!
//! A write's position is the zxid its transaction committed at (matched in the log by session and
//! xid), or, for an Ok write missing from the log (a `durability` violation), the zxid its reply
//! carried. A failed write's reply zxid is not trusted as a position when the log does not hold
//! it: a server may answer an error with its last processed zxid. The rules, each O(n log n):
//! 1. one write per zxid (two replies claiming one zxid, or a reply zxid that is not where the
//!    write's transaction committed);
//! 2. real time: a write that completed before another was invoked has the smaller zxid;
//! 3. per-session FIFO: within a session, xid order is zxid order, and no reply (to a read or
//!    a write) comes before every earlier request of the session has completed;
//! 4. results: replaying the committed log in zxid order through the model reproduces every
//!    definite result (error, created name, Stat) — done by the shared replay;
//! 5. the log holds what was sent (same op for the session and xid), nothing nobody sent, and no
//!    write whose client was told a definite error without a zxid (those did not take effect).
//!
//! Indeterminate writes are decided by the log: present means it took effect with the model's
//! result, absent means it did not. Acknowledged writes missing from the log are `durability`.

use super::explain::Violation;
use super::index::HistoryIndex;
use super::replay::Replay;
use crate::op::Outcome;
use crate::types::Zxid;

/// The witness position of a write (by op index), once the log has been matched. Computed when
/// asked rather than tabled: a table of a million `Option<Zxid>` costs more in fresh pages than
/// the few lookups it saves.
#[inline]
pub fn position(ix: &HistoryIndex<'_>, r: &Replay, n: usize) -> Option<Zxid> {
    let o = &ix.ops[n];
    if !o.is_write() {
        return None;
    }
    let acked = o.acked();
    r.write_zxid(ix, n).or_else(|| if acked { o.reply_zxid() } else { None })
}

/// Violations of rules 1, 2, 3 and 5 (rule 4 comes from the replay).
pub fn check(ix: &HistoryIndex<'_>, r: &Replay) -> Vec<Violation> {
    let pos = |n: usize| position(ix, r, n);
    let mut v = Vec::new();
    // Rule 1 and 5.
    // Writes positioned by a reply zxid the log does not hold (acknowledged, yet missing).
    let mut claimed_by_reply: Vec<(Zxid, usize)> = Vec::new();
    for (n, o) in ix.ops.iter().enumerate() {
        if !o.is_write() {
            continue;
        }
        let reply = o.reply_zxid();
        let committed = r.write_zxid(ix, n);
        if let (Some(z), Some(c)) = (reply, committed) {
            if z != c && o.definite().is_some() {
                // The reply of a write whose transaction is in the log names that transaction.
                v.push(
                    Violation::new(format!(
                        "op {} was told zxid {z} but its transaction committed at {c}",
                        ix.op_id_of(o).0
                    ))
                    .at(c)
                    .op(ix.op_ref(n)),
                );
            }
        }
        let acked = o.acked();
        let position = committed.or(if acked { reply } else { None });
        if let (Some(z), Some(_), None) = (position, o.definite(), committed) {
            claimed_by_reply.push((z, n));
        }
        let told_no = reply.is_none() && matches!(o.definite(), Some(Outcome::Err { .. } | Outcome::MultiErr { .. }));
        if let (true, Some(c)) = (told_no, committed) {
            v.push(
                Violation::new(format!(
                    "op {} failed definitely without a transaction, yet its transaction committed at {c}",
                    ix.op_id_of(o).0
                ))
                .at(c)
                .op(ix.op_ref(n))
                .expected("a definite error with no zxid means the write did not take effect"),
            );
        }
    }
    // Every positioned write with a definite outcome, by (zxid, op): the replay lists those
    // positioned by the log in zxid order already; merge in the few positioned by their reply.
    claimed_by_reply.sort_unstable();
    let by_log =
        r.committed_ops.iter().map(|&n| n as usize).filter(|&n| ix.ops[n].is_write() && ix.ops[n].definite().is_some());
    // Merged as they stream (no table of a million claims); each compared with the one before.
    let mut by_reply = claimed_by_reply.into_iter().peekable();
    let mut by_log = by_log.map(|n| (r.write_zxid(ix, n).expect("committed ops have a zxid"), n)).peekable();
    let claimed = std::iter::from_fn(|| match (by_log.peek(), by_reply.peek()) {
        (Some(&e), Some(&b)) if b < e => by_reply.next(),
        (Some(_), _) => by_log.next(),
        (None, _) => by_reply.next(),
    });
    let mut prev: Option<(Zxid, usize)> = None;
    for (zb, n) in claimed {
        let Some((za, m)) = prev.replace((zb, n)) else { continue };
        if za == zb {
            v.push(
                Violation::new(format!("two writes were both told zxid {za}"))
                    .at(za)
                    .op(ix.op_ref(m))
                    .op(ix.op_ref(n))
                    .expected("one transaction per zxid"),
            );
        }
    }
    // Rule 2: sweep invocations in time order against completions in time order, keeping the
    // largest zxid among writes completed strictly before the current invocation.
    // Both as (time, op) in time order. When time never runs backwards (the usual case) the ops
    // are already in invocation order and the completion list in completion order: no tables,
    // no sorts.
    let time_of = |rec: usize| ix.history.records[rec].time.0;
    let done_time = |n: usize| ix.ops[n].complete().filter(|_| ix.ops[n].definite().is_some()).map(|c| time_of(c.rec));
    type Sweep<'a> = Box<dyn Iterator<Item = (u64, usize)> + 'a>;
    let (started, done): (Sweep<'_>, Sweep<'_>) = if ix.monotone {
        (
            Box::new((0..ix.ops.len()).filter(|&n| pos(n).is_some()).map(|n| (ix.invoked_of(&ix.ops[n]).0, n))),
            Box::new(
                ix.completions
                    .iter()
                    .map(|&n| n as usize)
                    .filter(|&n| pos(n).is_some())
                    .filter_map(|n| done_time(n).map(|t| (t, n))),
            ),
        )
    } else {
        let mut started: Vec<(u64, usize)> = Vec::new();
        let mut done: Vec<(u64, usize)> = Vec::new();
        for (n, o) in ix.ops.iter().enumerate() {
            if pos(n).is_none() {
                continue;
            }
            started.push((ix.invoked_of(o).0, n));
            if let Some(t) = done_time(n) {
                done.push((t, n));
            }
        }
        done.sort_unstable();
        started.sort_unstable();
        (Box::new(started.into_iter()), Box::new(done.into_iter()))
    };
    let mut done = done.peekable();
    // The largest zxid so far, and among equals the first in (time, op) order — whatever order
    // equal times arrive in.
    let mut best: Option<(Zxid, u64, usize)> = None;
    for (t, n) in started {
        while let Some((dt, m)) = done.next_if(|&(dt, _)| dt < t) {
            let z = pos(m).expect("only positioned writes are swept");
            let better = match best {
                None => true,
                Some((bz, bt, bm)) => z > bz || (z == bz && (dt, m) < (bt, bm)),
            };
            if better {
                best = Some((z, dt, m));
            }
        }
        let z = pos(n).expect("only positioned writes are swept");
        if let Some((bz, _, m)) = best {
            if bz > z {
                v.push(
                    Violation::new(format!(
                        "op {} completed before op {} was invoked, yet has the larger zxid ({bz} > {z})",
                        ix.op_id_of(&ix.ops[m]).0,
                        ix.op_id_of(&ix.ops[n]).0
                    ))
                    .at(z)
                    .op(ix.op_ref(m))
                    .op(ix.op_ref(n))
                    .expected(format!(
                        "op {} ordered after op {} (zxid > {bz})",
                        ix.op_id_of(&ix.ops[n]).0,
                        ix.op_id_of(&ix.ops[m]).0
                    )),
                );
            }
        }
    }
    // Rule 3, replies: per session in xid order, the latest completion record so far must
    // precede every later reply.
    let order = session_xid_order(ix);
    let mut latest: Option<(u32, usize, usize)> = None;
    for &n in &order {
        let n = n as usize;
        let sidx = ix.ops[n].sidx;
        let Some(c) = ix.ops[n].complete() else {
            continue;
        };
        if let Some((s, rec, m)) = latest.filter(|l| l.0 == sidx) {
            if c.replied && c.rec < rec {
                let (a, b) = (&ix.ops[m], &ix.ops[n]);
                v.push(
                    Violation::new(format!(
                        "session {} got the reply to op {} (xid {}) before op {} (xid {}), sent earlier, completed",
                        ix.session_of(b),
                        ix.op_id_of(b).0,
                        b.xid,
                        ix.op_id_of(a).0,
                        a.xid
                    ))
                    .op(ix.op_ref(m))
                    .op(ix.op_ref(n))
                    .expected(format!(
                        "op {} answered after op {}",
                        ix.op_id_of(b).0,
                        ix.op_id_of(a).0
                    )),
                );
            }
            if c.rec > rec {
                latest = Some((s, c.rec, n));
            }
        } else {
            latest = Some((sidx, c.rec, n));
        }
    }
    // Rule 3, commits: consecutive positioned writes of a session, in xid order.
    let mut prev: Option<usize> = None;
    for &b in &order {
        let b = b as usize;
        if pos(b).is_none() {
            continue;
        }
        let a = match prev.replace(b) {
            Some(a) if ix.ops[a].sidx == ix.ops[b].sidx => a,
            _ => continue,
        };
        let session = ix.session_of(&ix.ops[a]);
        let (za, zb) = (pos(a).expect("positioned"), pos(b).expect("positioned"));
        if za >= zb {
            v.push(
                Violation::new(format!(
                    "session {session} sent op {} (xid {}) before op {} (xid {}), but they committed in the other order",
                    ix.op_id_of(&ix.ops[a]).0, ix.ops[a].xid, ix.op_id_of(&ix.ops[b]).0, ix.ops[b].xid
                ))
                .at(zb)
                .op(ix.op_ref(a))
                .op(ix.op_ref(b))
                .expected(format!("zxid of op {} > {za}", ix.op_id_of(&ix.ops[b]).0))
                .observed(format!("{zb}")),
            );
        }
    }
    v
}

/// The op indices in (session, xid, op index) order — what sorting `(sidx, xid, n)` gives — by
/// a counting pass over the sessions: ops are in invocation order and a session's xids rise with
/// it, so only a session whose xids do not is sorted.
fn session_xid_order(ix: &HistoryIndex<'_>) -> Vec<u32> {
    let mut start = vec![0usize; ix.sessions_seen.len() + 1];
    for o in &ix.ops {
        start[o.sidx as usize + 1] += 1;
    }
    for k in 1..start.len() {
        start[k] += start[k - 1];
    }
    let mut next = start.clone();
    let mut order = vec![0u32; ix.ops.len()];
    for (n, o) in ix.ops.iter().enumerate() {
        let slot = &mut next[o.sidx as usize];
        order[*slot] = u32::try_from(n).expect("fewer than 2^32 operations");
        *slot += 1;
    }
    for k in 0..ix.sessions_seen.len() {
        let group = &mut order[start[k]..start[k + 1]];
        if !group.is_sorted_by_key(|&n| ix.ops[n as usize].xid) {
            group.sort_unstable_by_key(|&n| (ix.ops[n as usize].xid, n));
        }
    }
    order
}
