//! `sequential-reads` and `sync-reads`.
//!
//! Reads are served by whichever server a client is connected to, so they may be stale; what
//! ZooKeeper promises is ordered sequential consistency:
//! - each read's result equals the committed state at its reply zxid (checked by the replay);
//! - within a session the reply zxids the client sees never decrease, across reconnections too
//!   (a server behind the client's last seen zxid must refuse it) — which also makes every read
//!   at or after the session's own earlier writes.
//!
//! `sync-reads` (only with `CheckConfig::strict_sync_reads`): a read that follows a completed
//! `sync` on the same session must reflect every write that completed (anywhere) before the sync
//! was invoked, i.e. its reply zxid is at least the largest such write zxid. Real ZooKeeper does
//! not promise this (ZOOKEEPER-1675), so it is off by default.

use super::explain::Violation;
use super::index::HistoryIndex;
use super::replay::Replay;
use crate::op::Op;
use crate::types::{SessionId, Zxid};
use std::collections::BTreeMap;

/// Per-session monotonicity of reply zxids, in the order the client received the replies.
pub fn monotonic(ix: &HistoryIndex<'_>) -> (Vec<Violation>, u64) {
    let mut v = Vec::new();
    let mut checked = 0;
    // Completions in record order, as the index lists them.
    let mut seen: Vec<Option<(Zxid, usize)>> = vec![None; ix.sessions_seen.len()];
    for n in ix.completions.iter().map(|&n| n as usize) {
        let o = &ix.ops[n];
        let Some(z) = o.reply_zxid() else { continue };
        if o.definite().is_none() {
            continue;
        }
        checked += 1;
        match seen[o.sidx as usize] {
            Some((prev, m)) if z < prev => {
                let what = if o.is_write() { "write" } else { "read" };
                v.push(
                    Violation::new(format!(
                        "session {} went back in time: {what} op {} replied at zxid {z} after op {} replied at {prev}",
                        ix.session_of(o),
                        ix.op_id_of(o).0,
                        ix.op_id_of(&ix.ops[m]).0
                    ))
                    .at(z)
                    .op(ix.op_ref(m))
                    .op(ix.op_ref(n))
                    .expected(format!("a reply zxid ≥ {prev}"))
                    .observed(format!("{z}")),
                );
            }
            Some((prev, _)) if z == prev => {}
            _ => seen[o.sidx as usize] = Some((z, n)),
        }
    }
    (v, checked)
}

/// The strict sync rule, on each write's witness zxid (`writes::position`).
pub fn after_sync(ix: &HistoryIndex<'_>, r: &Replay) -> (Vec<Violation>, u64) {
    // Completed writes by completion time, with the running max zxid.
    let mut done: Vec<(u64, Zxid, usize)> = ix
        .ops
        .iter()
        .enumerate()
        .filter_map(|(n, o)| match (o.complete(), o.definite(), super::writes::position(ix, r, n)) {
            (Some(c), Some(_), Some(z)) => Some((ix.history.records[c.rec].time.0, z, n)),
            _ => None,
        })
        .collect();
    done.sort_unstable();
    let mut prefix_max: Vec<(Zxid, usize)> = Vec::with_capacity(done.len());
    for &(_, z, n) in &done {
        let best = match prefix_max.last() {
            Some(&(bz, bn)) if bz >= z => (bz, bn),
            _ => (z, n),
        };
        prefix_max.push(best);
    }
    // Each session's ops in invocation order.
    let mut by_session: BTreeMap<SessionId, Vec<usize>> = BTreeMap::new();
    for (n, o) in ix.ops.iter().enumerate() {
        by_session.entry(ix.session_of(o)).or_default().push(n);
    }
    let mut v = Vec::new();
    let mut checked = 0;
    for ops in by_session.values() {
        for (k, &s) in ops.iter().enumerate() {
            let so = &ix.ops[s];
            if !matches!(so.op, Op::Sync { .. }) || so.definite().is_none() {
                continue;
            }
            let sync_done = so.complete().map(|c| ix.history.records[c.rec].time).expect("definite implies complete");
            // Writes completed strictly before the sync was invoked.
            let cut = done.partition_point(|&(t, _, _)| t < ix.invoked_of(so).0);
            if cut == 0 {
                continue;
            }
            let (bound, w) = prefix_max[cut - 1];
            // The next read of the session invoked after the sync completed.
            let Some(&r) = ops[k + 1..].iter().find(|&&r| {
                let ro = &ix.ops[r];
                !ro.is_write()
                    && !matches!(ro.op, Op::Sync { .. })
                    && ix.invoked_of(ro) >= sync_done
                    && ro.definite().is_some()
            }) else {
                continue;
            };
            let Some(z) = ix.ops[r].reply_zxid() else { continue };
            checked += 1;
            if z < bound {
                v.push(
                    Violation::new(format!(
                        "op {} read at zxid {z} after sync op {}, missing write op {} (zxid {bound}) that completed before the sync began",
                        ix.op_id_of(&ix.ops[r]).0, ix.op_id_of(so).0, ix.op_id_of(&ix.ops[w]).0
                    ))
                    .at(z)
                    .op(ix.op_ref(r))
                    .op(ix.op_ref(s))
                    .op(ix.op_ref(w))
                    .expected(format!("a reply zxid ≥ {bound}"))
                    .observed(format!("{z}")),
                );
            }
        }
    }
    (v, checked)
}
