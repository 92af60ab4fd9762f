//! `durability`, `agreement` and `convergence`: what the servers committed and kept.
//!
//! - durability: every acknowledged (Ok) write is in the committed log. A failed write's error
//!   transaction changes no state, so a failed write missing from the log loses nothing; one that
//!   is in the log must have failed there too (linearizable-writes checks that).
//! - agreement: never two different transactions at one zxid; leaders commit in increasing zxid
//!   order; each server's final (last zxid, chain digest) equals the committed log's chain digest
//!   at that zxid, so its log is a prefix of the committed one. A server ending at a zxid that
//!   was never committed holds an uncommitted tail (legal while it is behind or down; a new
//!   leader truncates it) and cannot be compared.
//! - convergence (only with `CheckConfig::require_caught_up`): every server that is up at the end
//!   holds exactly the committed log.

use super::explain::Violation;
use super::index::HistoryIndex;
use super::replay::Replay;
use crate::history::{Event, Role};
use crate::types::{ServerId, Zxid};
use std::collections::BTreeMap;

/// Durability violations and how many acknowledged writes were checked.
pub fn durability(ix: &HistoryIndex<'_>, r: &Replay) -> (Vec<Violation>, u64) {
    let mut v = Vec::new();
    let mut checked = 0;
    for (n, o) in ix.ops.iter().enumerate() {
        if !o.is_write() {
            continue;
        }
        let acked = o.acked();
        if !acked {
            continue;
        }
        checked += 1;
        if r.write_zxid(ix, n).is_none() {
            let mut viol =
                Violation::new(format!("acknowledged write op {} is not in the committed log", ix.op_id_of(o).0))
                    .op(ix.op_ref(n))
                    .expected(format!("a committed transaction for session {} xid {}", ix.session_of(o), o.xid));
            if let Some(z) = o.reply_zxid() {
                viol = viol.at(z);
                match ix.log_position(z) {
                    Some(p) => {
                        viol = viol.record(ix.commit_ref(&ix.log[p])).observed(format!("another transaction holds {z}"))
                    }
                    None => viol = viol.observed(format!("nothing was committed at {z}")),
                }
            }
            v.push(viol);
        }
    }
    (v, checked)
}

/// Agreement violations, how many facts were checked, and a note on uncomparable servers.
pub fn agreement(ix: &HistoryIndex<'_>, r: &Replay) -> (Vec<Violation>, u64, Option<String>) {
    let mut v = Vec::new();
    for (first, second) in &ix.conflicts {
        v.push(
            Violation::new(format!("two different transactions were committed at zxid {}", first.txn.zxid))
                .at(first.txn.zxid)
                .record(ix.commit_ref(first))
                .record(ix.commit_ref(second)),
        );
    }
    for (c, prev) in &ix.out_of_order {
        v.push(
            Violation::new(format!(
                "{} committed zxid {} after zxid {prev} was already committed",
                c.server, c.txn.zxid
            ))
            .at(c.txn.zxid)
            .record(ix.commit_ref(c))
            .expected(format!("commits in increasing zxid order (> {prev})")),
        );
    }
    let mut uncomparable = Vec::new();
    for &(rec, server, last, digest) in &ix.finals {
        if last == Zxid::ZERO {
            if digest != 0 {
                v.push(
                    Violation::new(format!("{server} ends with an empty log but a non-zero digest"))
                        .record(ix.record_ref(rec))
                        .expected("digest 0"),
                );
            }
            continue;
        }
        match ix.log_position(last) {
            Some(p) if r.digests[p] == digest => {}
            Some(p) => v.push(
                Violation::new(format!(
                    "{server}'s log is not a prefix of the committed log: it diverges at or before zxid {last}"
                ))
                .at(last)
                .record(ix.record_ref(rec))
                .record(ix.commit_ref(&ix.log[p]))
                .expected(format!("digest {:#x} (the committed log's up to {last})", r.digests[p]))
                .observed(format!("{digest:#x}")),
            ),
            None => uncomparable.push(format!("{server} ends at uncommitted zxid {last}")),
        }
    }
    let checked = (ix.log.len() + ix.finals.len()) as u64;
    let note = if uncomparable.is_empty() { None } else { Some(uncomparable.join("; ")) };
    (v, checked, note)
}

/// The last role of each server that recorded one.
fn final_roles(ix: &HistoryIndex<'_>) -> BTreeMap<ServerId, Role> {
    let mut roles = BTreeMap::new();
    for r in &ix.history.records {
        if let Event::Role { server, role, .. } = &r.event {
            roles.insert(*server, *role);
        }
    }
    roles
}

/// Convergence violations: servers up at the end that do not hold exactly the committed log.
pub fn convergence(ix: &HistoryIndex<'_>, r: &Replay) -> (Vec<Violation>, u64) {
    let roles = final_roles(ix);
    let max = ix.max_committed();
    let want = r.digests.last().copied().unwrap_or(0);
    let mut v = Vec::new();
    let mut checked = 0;
    for &(rec, server, last, digest) in &ix.finals {
        if roles.get(&server) == Some(&Role::Down) {
            continue;
        }
        checked += 1;
        if last != max || digest != want {
            v.push(
                Violation::new(format!("{server} is up at the end but has not caught up with the committed log"))
                    .record(ix.record_ref(rec))
                    .expected(format!("last zxid {max}, digest {want:#x}"))
                    .observed(format!("last zxid {last}, digest {digest:#x}")),
            );
        }
    }
    (v, checked)
}
