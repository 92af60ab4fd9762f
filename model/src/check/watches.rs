//! `watch-delivery`: the events the model fires (replaying reads, which register watches, and
//! transactions, which trigger them) against the Watch records.
//!
//! - No spurious events: each delivered event matches a model event for the same session, path,
//!   type and zxid that was not delivered yet — so each registration fires at most once, for the
//!   first triggering change after its reply zxid, and a closed session's dropped watches fire
//!   nothing.
//! - Ordering: an event for transaction z is delivered to the session before any reply with zxid
//!   ≥ z (the client sees the event before the data that triggered it).
//! - Reconnection: after a session was Disconnected, the server it reconnects to fires the
//!   re-sent watches at once (SetWatches catch-up), by what changed rather than by transaction,
//!   so an event after a disconnection may match any pending model event for the same session and
//!   path, and an event the disconnection made the client miss (a node created and deleted while
//!   away never fires an exists watch) is not required.
//! - A read with watch whose outcome is unknown may or may not have registered: events on its
//!   session and path that match nothing are not held against the service.

use super::explain::Violation;
use super::index::HistoryIndex;
use super::replay::Replay;
use crate::lookup::LookupMap;
use crate::op::Op;
use crate::types::{AddWatchMode, SessionId, SessionState, WatchedEvent, Zxid};
use std::collections::BTreeSet;

struct Pending<'a> {
    event: &'a WatchedEvent,
    commit_rec: usize,
    delivered: bool,
}

/// Watch-delivery violations and the number of events checked.
pub fn check(ix: &HistoryIndex<'_>, r: &Replay) -> (Vec<Violation>, u64) {
    let ns = ix.sessions_seen.len();
    // Per session (dense index): the model's events in log order. Events for sessions the
    // history never names cannot be delivered or be late, so they are left out.
    let mut expected: Vec<Vec<Pending<'_>>> = (0..ns).map(|_| Vec::new()).collect();
    for e in &r.expected_events {
        if let Some(k) = ix.session_index(e.session) {
            expected[k].push(Pending { event: &e.event, commit_rec: ix.log[e.log_pos].rec as usize, delivered: false });
        }
    }
    // Searched by (session, path) only, never walked: a hash map.
    let mut by_path: LookupMap<(usize, &str), Vec<usize>> = LookupMap::new();
    for (s, list) in expected.iter().enumerate() {
        for (k, p) in list.iter().enumerate() {
            by_path.entry((s, p.event.path.as_str())).or_default().push(k);
        }
    }
    // Watch registrations whose fate is unknown: (session, path, recursive).
    let mut unsure: BTreeSet<(SessionId, &str, bool)> = BTreeSet::new();
    for o in &ix.ops {
        // The outcome first: only the few ops without a definite reply are read from the records.
        if o.definite().is_some() && o.reply_zxid().is_some() {
            continue;
        }
        let (path, recursive) = match o.op {
            Op::GetData { path, watch: true }
            | Op::Exists { path, watch: true }
            | Op::GetChildren { path, watch: true } => (path, false),
            Op::AddWatch { path, mode } => (path, *mode == AddWatchMode::PersistentRecursive),
            _ => continue,
        };
        unsure.insert((ix.session_of(o), path.as_str(), recursive));
    }
    let excused = |s: SessionId, path: &str| {
        unsure.contains(&(s, path, false))
            || unsure.range((s, "", false)..).take_while(|&&(us, _, _)| us == s).any(|&(_, up, rec)| {
                rec && (up == path || up == "/" || path.strip_prefix(up).is_some_and(|rest| rest.starts_with('/')))
            })
    };
    const NONE: usize = usize::MAX;
    let mut ptr = vec![0usize; ns];
    let mut last_reply = vec![NONE; ns];
    let mut last_disconnect = vec![NONE; ns];
    let mut v = Vec::new();
    let mut checked = 0;
    // The Session, Watch and Complete records in record order: the index's three lists merged
    // (each is in record order), rather than a walk over every record of the history.
    let (mut a, mut b, mut c) = (0, 0, 0);
    loop {
        let ra = ix.sessions.get(a).map_or(NONE, |e| e.0);
        let rb = ix.watches.get(b).map_or(NONE, |e| e.0);
        let rc = ix.completions.get(c).and_then(|&n| ix.ops[n as usize].complete()).map_or(NONE, |d| d.rec);
        let i = ra.min(rb).min(rc);
        if i == NONE {
            break;
        }
        if i == ra {
            a += 1;
            let (_, _, session, state, _) = ix.sessions[a - 1];
            if state != SessionState::SyncConnected {
                if let Some(k) = ix.session_index(session) {
                    last_disconnect[k] = i;
                }
            }
        } else if i == rb {
            b += 1;
            let (_, _, session, event) = ix.watches[b - 1];
            {
                checked += 1;
                let s = session;
                let k = ix.session_index(s).expect("watch records' sessions are indexed");
                let list = &mut expected[k];
                let Some(cands) = by_path.get(&(k, event.path.as_str())) else {
                    if !excused(s, &event.path) {
                        v.push(spurious(ix, i, s, event, "the model fires no event on this path for this session"));
                    }
                    continue;
                };
                // The candidates are in log order, so by zxid: only those at the event's zxid
                // can match, and the first undelivered one of the right type is taken.
                let from = cands.partition_point(|&j| list[j].event.zxid < event.zxid);
                if let Some(&j) = cands[from..].iter().take_while(|&&j| list[j].event.zxid == event.zxid).find(|&&j| {
                    let p = &list[j];
                    !p.delivered && p.event.kind == event.kind
                }) {
                    list[j].delivered = true;
                    continue;
                }
                if last_disconnect[k] != NONE {
                    if let Some(&j) = cands.iter().find(|&&j| !list[j].delivered && list[j].commit_rec < i) {
                        list[j].delivered = true;
                        continue;
                    }
                }
                if excused(s, &event.path) {
                    continue;
                }
                let twice = cands.iter().any(|&j| list[j].delivered && list[j].event == event);
                let why =
                    if twice { "this event was already delivered once" } else { "no pending registration matches it" };
                v.push(spurious(ix, i, s, event, why));
            }
        } else {
            c += 1;
            let n = ix.completions[c - 1] as usize;
            {
                let o = &ix.ops[n];
                // Only replies that carry a zxid.
                if o.definite().is_none() || o.reply_zxid().is_none() {
                    continue;
                }
                let k = o.sidx as usize;
                let z = o.reply_zxid().expect("replies have zxids");
                // Disconnected since the session's previous reply: catch-up rules apply.
                let moved = last_disconnect[k] != NONE && (last_reply[k] == NONE || last_disconnect[k] > last_reply[k]);
                last_reply[k] = i;
                let list = &expected[k];
                let p = &mut ptr[k];
                while *p < list.len() && list[*p].event.zxid <= z {
                    let pend = &list[*p];
                    if !pend.delivered && !moved && pend.commit_rec < i {
                        v.push(late(ix, n, i, pend.event, z));
                    }
                    *p += 1;
                }
            }
        }
    }
    (v, checked)
}

fn spurious(ix: &HistoryIndex<'_>, i: usize, s: SessionId, e: &WatchedEvent, why: &str) -> Violation {
    Violation::new(format!(
        "session {s} received {:?} on {} for zxid {} that no watch explains: {why}",
        e.kind, e.path, e.zxid
    ))
    .at(e.zxid)
    .record(ix.record_ref(i))
    .expected("only events of registered watches, each at most once")
}

fn late(ix: &HistoryIndex<'_>, n: usize, i: usize, e: &WatchedEvent, z: Zxid) -> Violation {
    Violation::new(format!(
        "session {} got a reply at zxid {z} before the {:?} event on {} for zxid {} its watch should have delivered first",
        ix.session_of(&ix.ops[n]), e.kind, e.path, e.zxid
    ))
    .at(e.zxid)
    .op(ix.op_ref(n))
    .record(ix.record_ref(i))
    .expected(format!("{:?} {} (zxid {}) delivered before any reply with zxid ≥ {}", e.kind, e.path, e.zxid, e.zxid))
    .observed("the reply came first (or the event never came)")
}
